# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The Agent's two files an integration's data goes through, written and read the way the Agent does it.

- PersistentCacheDir: `write_persistent_cache` / `read_persistent_cache` (datadog-agent, pkg/persistentcache).
- IntegrationLogFile and Tailer: the file `send_log` lines go to (pkg/logs/launchers/integration/launcher.go) and
  the file tailer that ships it (pkg/logs/tailers/file, pkg/logs/launchers/file).
- Intake and LogsAgent: the logs side of a whole Agent process on one run path, on a fake clock: launcher, tailers,
  sender, auditor (pkg/logs/auditor) and its registry.json, up to Datadog's logs intake; restarts and pod replacements.
- agent_settings and record_sent_logs: the Agent's settings and what the check hands `send_log`, through the public
  methods of the base package's stub (`datadog_checks.base.stubs.datadog_agent`), not its private attributes.

What a crash can leave behind is what matters here, so every write is a plain open/write/close, as the Agent's are:
no temporary file, no rename, no fsync.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .clock import FakeClock

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


MB = 1024 * 1024
LOST_CAUSES = ('recreation', 'restart', 'replacement')


@dataclass(frozen=True)
class Received:
    line: str
    arrived: float  # fake time


class Intake:
    """Datadog's logs intake: it takes a batch of lines while `up`, each stamped with when it arrived.

    `received` is only ever appended to, so a FakeDatadog serving it from another thread reads it safely.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.up = True
        self.received: list[Received] = []

    def accept(self, lines: list[str]) -> bool:
        """Whether the batch was taken: all of it, or nothing while the intake is down."""
        if not self.up:
            return False
        now = self.clock()
        self.received.extend(Received(line, now) for line in lines)
        return True


@dataclass
class _Written:
    """A file's current content as the lines written to it, and how many of them have met their fate (read or lost).

    Kept across Agent restarts (the file stays) so that a line is accounted for once, whichever process read it.
    """

    spans: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end after the newline, line)
    settled: int = 0


class LogsAgent:
    """The logs side of one Agent process on `run_path`, a second at a time on a shared fake clock.

    `schedule` and `send_log` are the integrations launcher: it creates a check's file, empty, when the check's
    `logs:` entry is scheduled (`createFile`; a file already there is kept, as after `scanInitialFiles`), and
    appends to it (an IntegrationLogFile per check id); one
    Tailer per file ships it to `intake`; the auditor keeps, per file, the offset after the last line the intake
    accepted and writes `<run_path>/registry.json` every second, in place, through `write_file` (a test replaces
    it to tear the write, as PersistentCacheDir's). `persistent_cache` lives on the run path too.

    A tick (`tick`, or `advance` second by second) runs in this order: the file launcher's scan, every
    `scan_period` seconds (a tailer notices a truncation); then, only while the intake is up, each tailer reads its
    complete lines, the intake takes them, and the auditor records the new offset (while it is down the pipeline is
    backed up: nothing is read or acked); last the auditor writes registry.json. The check runs between ticks.

    Lines that never reach the intake intact are in `lost`, by cause: 'recreation' (the launcher re-created the file
    before they were read, or the tailer read on from a stale offset over them, delivering at most a fragment),
    'restart' (a process started without a registry offset for a file tails it from its end, the default tailing
    mode, which skips what was unread), 'replacement' (a replaced pod starts on an empty run path).
    """

    def __init__(
        self,
        run_path: Path | str,
        *,
        clock: FakeClock,
        intake: Intake,
        cap_mb: float = 10.0,
        scan_period: float = 10.0,
        write_file: Callable[[Path, bytes], None] = write_file,
    ) -> None:
        self.run_path = Path(run_path).absolute()
        self.clock = clock
        self.intake = intake
        self.cap_mb = cap_mb
        self.scan_period = scan_period
        self.write_file = write_file
        self.registry_path = self.run_path / 'registry.json'
        self.persistent_cache = PersistentCacheDir(self.run_path)
        self.lost: dict[str, list[str]] = {cause: [] for cause in LOST_CAUSES}
        self.truncations = 0
        self.restarts = 0
        self.replacements = 0
        self._written: dict[Path, _Written] = {}
        self._start()

    def _start(self) -> None:
        """A process starting: registry reloaded from registry.json, a tailer per existing file at its offset."""
        self.run_path.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, IntegrationLogFile] = {}  # by check id; each reads its size from disk when created
        self.tailers: dict[Path, Tailer] = {}
        self.registry = self._load_registry()  # 'file:<path>' -> (offset, LastUpdated)
        self._since_scan = 0
        directory = self.run_path / 'integrations'
        for path in sorted(directory.glob('*.log')) if directory.is_dir() else ():
            self._tail(path)

    def _tail(self, path: Path) -> None:
        tailer = self.tailers[path] = Tailer(path)
        entry = self.registry.get(f'file:{path}')
        if entry is not None:
            tailer.offset = entry[0]
            return
        tailer.offset = path.stat().st_size if path.exists() else 0
        self._settle(path, tailer.offset, tailer.offset, 'restart')

    # The Agent

    def schedule(self, check_id: str) -> IntegrationLogFile:
        """The launcher's `createFile`, when a check with a `logs:` entry of `type: integration` is scheduled."""
        log_file = self.files.get(check_id)
        if log_file is None:
            path = integration_log_path(self.run_path, check_id)
            log_file = self.files[check_id] = IntegrationLogFile(path, int(self.cap_mb * MB))
            log_file.path.touch()
            if path not in self.tailers:
                self._tail(path)
        return log_file

    def send_log(self, line: str, check_id: str) -> None:
        """The launcher's append of a check's line (re-creating the file first if the line would pass the cap)."""
        log_file = self.schedule(check_id)
        truncations = log_file.truncations
        log_file.append(line)
        if log_file.truncations != truncations:
            self.truncations += 1
            self._drop(log_file.path, 'recreation')
        written = self._written.setdefault(log_file.path, _Written())
        written.spans.append((log_file.size - len(line.encode('utf-8')) - 1, log_file.size, line))

    def tick(self) -> None:
        """One second of the Agent (see the class docstring for the order)."""
        self._since_scan += 1
        if self._since_scan >= self.scan_period:
            self._since_scan = 0
            for path, tailer in self.tailers.items():
                tailer.scan()
                # The file is now at least as long as the offset: no later scan rewinds over what lies before it.
                self._settle(path, tailer.offset, tailer.offset, 'recreation')
        if self.intake.up:
            for path, tailer in self.tailers.items():
                start = tailer.offset
                lines = tailer.read()
                if tailer.offset > start:  # else the offset may be past the end, waiting for the scan to rewind it
                    self._settle(path, start, tailer.offset, 'recreation')
                if lines and self.intake.accept(lines):
                    self.registry[f'file:{path}'] = (tailer.offset, _rfc3339(self.clock.time()))
        self._flush_registry()

    def advance(self, seconds: int) -> None:
        """Let the world run: the clock moves a second, then the Agent ticks, `seconds` times."""
        for _ in range(seconds):
            self.clock.advance(1.0)
            self.tick()

    def restart(self) -> None:
        """The Agent process restarts on the same run path."""
        self.restarts += 1
        self._start()

    def replace_pod(self) -> None:
        """The pod is replaced: a new one starts with an empty run path (an emptyDir), then its Agent starts."""
        for path in list(self._written):
            self._drop(path, 'replacement')
        for child in self.run_path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        self.replacements += 1
        self._start()

    def install(self, monkeypatch: Any, datadog_agent: Any) -> LogsAgent:
        """Route the base package's stub (the `datadog_agent` fixture) to this Agent; the `send_log` it had still runs,
        so what recorded the check's logs before (record_sent_logs) keeps recording."""
        original_send_log, original_get_config = datadog_agent.send_log, datadog_agent.get_config

        def send_log(line: str, check_id: str) -> None:
            self.send_log(line, check_id)
            original_send_log(line, check_id)

        def get_config(key: str) -> Any:
            settings = {
                'logs_config.run_path': str(self.run_path),
                'logs_config.integrations_logs_files_max_size': self.cap_mb,
                'logs_config.file_scan_period': self.scan_period,
            }
            return settings[key] if key in settings else original_get_config(key)

        monkeypatch.setattr(datadog_agent, 'send_log', send_log)
        monkeypatch.setattr(datadog_agent, 'get_config', get_config)
        monkeypatch.setattr(datadog_agent, 'read_persistent_cache', self.persistent_cache.read)
        monkeypatch.setattr(datadog_agent, 'write_persistent_cache', self.persistent_cache.write)
        return self

    # Views

    def delivered_lines(self) -> list[str]:
        """What the intake received, in order (fragments included)."""
        return [received.line for received in self.intake.received]

    def log_path(self, check_id: str) -> Path:
        return integration_log_path(self.run_path, check_id)

    def unread_lines(self) -> list[str]:
        """Lines in the files that no tailer has read yet: shipped later, or lost."""
        return [line for written in self._written.values() for _, _, line in written.spans[written.settled :]]

    # The auditor, and the fate of written lines

    def _flush_registry(self) -> None:
        entries = {key: {'LastUpdated': at, 'Offset': str(offset)} for key, (offset, at) in self.registry.items()}
        data = json.dumps({'Version': 2, 'Registry': entries}, separators=(',', ':'))  # as Go's json.Marshal
        self.write_file(self.registry_path, data.encode())

    def _load_registry(self) -> dict[str, tuple[int, str]]:
        """The registry as the auditor recovers it: nothing if registry.json is missing or does not parse."""
        try:
            entries = json.loads(self.registry_path.read_bytes())['Registry']
            return {key: (int(entry['Offset']), entry['LastUpdated']) for key, entry in entries.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def _settle(self, path: Path, start: int, end: int, cause: str) -> None:
        """The tailer moved from `start` to `end`: lines within were read; lines starting before `start` it passed
        over without reading them whole (stale offset, or a start at the end of the file) are lost to `cause`."""
        written = self._written.get(path) or _Written()
        while written.settled < len(written.spans) and written.spans[written.settled][0] < end:
            line_start, _, line = written.spans[written.settled]
            if line_start < start:
                self.lost[cause].append(line)
            written.settled += 1

    def _drop(self, path: Path, cause: str) -> None:
        """The file's content is gone (re-created, or wiped with the pod): what was unread is lost to `cause`."""
        written = self._written.pop(path, None)
        if written is not None:
            self.lost[cause].extend(line for _, _, line in written.spans[written.settled :])


def agent_settings(
    datadog_agent: Any, settings: dict[str, Any], setattr: Callable[[Any, str, Any], None] = setattr
) -> dict[str, Any]:
    """The Agent's settings (datadog.yaml) as the check reads them: the stub's `get_config` answers from `settings`
    first, and as before for other keys. `settings` stays live: change it and the check reads the change. In a test,
    pass `monkeypatch.setattr` as `setattr`, so that the stub is itself again afterwards."""
    get_config = datadog_agent.get_config
    setattr(datadog_agent, 'get_config', lambda key: settings[key] if key in settings else get_config(key))
    return settings


def record_sent_logs(
    datadog_agent: Any, setattr: Callable[[Any, str, Any], None] = setattr
) -> defaultdict[str, list[dict[str, Any]]]:
    """Every line the check hands the stub's `send_log` from now on, decoded (with orjson, as the stub does), by check
    id; the `send_log` the stub had still runs. Clear it to start over."""
    from orjson import loads

    sent: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    send_log = datadog_agent.send_log

    def record(line: str, check_id: str) -> None:
        send_log(line, check_id)
        sent[check_id].append(loads(line))

    setattr(datadog_agent, 'send_log', record)
    return sent


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace('+00:00', 'Z')
