# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The Agent's two files an integration's data goes through, written and read the way the Agent does it.

- PersistentCacheDir: `write_persistent_cache` / `read_persistent_cache` (datadog-agent, pkg/persistentcache).
- IntegrationLogFile and Tailer: the file `send_log` lines go to (pkg/logs/launchers/integration/launcher.go) and
  the file tailer that ships it (pkg/logs/tailers/file, pkg/logs/launchers/file).

What a crash can leave behind is what matters here, so every write is a plain open/write/close, as the Agent's are:
no temporary file, no rename, no fsync.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

# The Agent keeps only these characters of a cache key's directory and file name.
_OUTSIDE_FILE_NAME_CHARS = re.compile(r'[^a-zA-Z0-9_-]')


def write_file(path: Path, data: bytes) -> None:
    """Go's os.WriteFile: open (create, truncate), write, close."""
    _write(path, data, os.O_TRUNC, 0o600)


def write_torn(path: Path, data: bytes, length: int) -> None:
    """What `write_file` leaves when the process dies after writing `length` bytes: truncated, then a prefix."""
    write_file(path, data[:length])


def append_bytes(path: Path, data: bytes) -> None:
    """Open with O_APPEND, write, close: once the write returned, a killed writer cannot take the data back."""
    _write(path, data, os.O_APPEND, 0o644)


def _write(path: Path, data: bytes, mode: int, permissions: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, permissions)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class PersistentCacheDir:
    """The Agent's persistent cache under `root` (its `run_path`): one file per key, overwritten in place.

    The key is split on its first ':': the part before names a directory under `root`, the rest the file in it
    (a key without ':' names a file directly under `root`); both lose every character outside [a-zA-Z0-9_-].
    Write errors are ignored, and reading a missing file gives ''.

    Every write goes through `write_file(path, data)`, which a crash test replaces to tear writes (see write_torn).
    """

    def __init__(self, root: Path | str, *, write_file: Callable[[Path, bytes], None] = write_file) -> None:
        self.root = Path(root)
        self.write_file = write_file

    def path(self, key: str) -> Path:
        directory, colon, name = key.partition(':')
        if not colon:
            return self.root / _file_name(directory)
        return self.root / _file_name(directory) / _file_name(name)

    def read(self, key: str) -> str:
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return ''
        # Cursor values are ASCII; how the Agent's binding would treat a torn multi-byte character is not modelled.
        return data.decode('utf-8', errors='replace')

    def write(self, key: str, value: str) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.write_file(path, value.encode('utf-8'))
        except OSError:
            pass  # the Agent logs nothing and tells the check nothing


def _file_name(part: str) -> str:
    return _OUTSIDE_FILE_NAME_CHARS.sub('', part)


def integration_log_path(run_path: Path | str, check_id: str) -> Path:
    """Where the Agent writes a check's `send_log` lines: `<logs run_path>/integrations/<check id, ':' -> '_'>.log`."""
    return Path(run_path) / 'integrations' / (check_id.replace(':', '_') + '.log')


class IntegrationLogFile:
    """A check's integration log file, appended to as the Agent's launcher does for each `send_log` line.

    Before a line that would take the file past `cap_bytes`, the launcher truncates the file in place, whether or
    not the tailer has read it. It tracks the size in memory, starting from the file's size when it starts.
    The launcher writes the line and its newline in two writes; here it is one, so that a killed writer never
    leaves a line without its newline (no test here kills the launcher).
    `cap_bytes=None`: no cap (`logs_config.integrations_logs_files_max_size` is in MB, and 0 is not allowed).
    The total over all integrations (`integrations_logs_total_usage`) is not modelled: one integration here.
    """

    def __init__(self, path: Path | str, cap_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.cap = cap_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = self.path.stat().st_size if self.path.exists() else 0
        self.lines_written = 0
        self.truncations = 0

    def append(self, line: str) -> None:
        data = line.encode('utf-8') + b'\n'
        if self.cap is not None and self.size + len(data) > self.cap:
            self.path.open('wb').close()  # os.Create: truncate in place
            self.size = 0
            self.truncations += 1
        append_bytes(self.path, data)
        self.size += len(data)
        self.lines_written += 1


class Tailer:
    """The Agent's tailer of one file, reduced to what decides whether a line is shipped.

    `read()` ships the complete lines after its offset (as the tailer does whenever it is awake); `scan()` is the
    file launcher's periodic scan, the only moment a truncation is noticed: the file is shorter than the offset,
    and reading restarts at 0. Between a truncation and that scan, `read()` goes on from the stale offset: lines
    written over the start of the file are lost, and reading may resume in the middle of a line (a fragment).
    A test decides when the tailer reads and scans, e.g. "only between two runs of the check".
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.offset = 0
        self.lines_read = 0
        self.restarts = 0

    def scan(self) -> bool:
        """Notice a truncation and restart at 0; whether it did."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size >= self.offset:
            return False
        self.offset = 0
        self.restarts += 1
        return True

    def read(self) -> list[str]:
        """The complete lines after the offset, without their newlines; a partial last line waits for the next read."""
        if not self.path.exists():
            return []
        with self.path.open('rb') as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b'\n') + 1]
        self.offset += len(complete)
        lines = [line.decode('utf-8', errors='replace') for line in complete.split(b'\n')[:-1]]
        self.lines_read += len(lines)
        return lines

    def unterminated(self) -> int:
        """Bytes after the offset; after a `read()`, those of a line without its newline (being written, or cut)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        return max(0, size - self.offset)
