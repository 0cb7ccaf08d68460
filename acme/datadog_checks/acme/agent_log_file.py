# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What a run may hand the Agent's file of this check's logs, so that no line is lost before it reaches Datadog.

The Agent appends each `send_log` line to `<logs_config.run_path>/integrations/<check id, ':' -> '_'>.log`; before a
line that would take the file past `logs_config.integrations_logs_files_max_size` it re-creates the file, read or not
(DataDog/datadog-agent, pkg/logs/launchers/integration/launcher.go). The tailer stops reading while the intake cannot
be reached, and notices a re-created file at its next scan only. The auditor writes `<run_path>/registry.json` every
second: per `file:<path>`, the offset up to which the intake accepted the lines (pkg/logs/auditor). So a line goes
only if it does not make the Agent re-create the file, or nothing in the file is unacknowledged (all of it is when
the registry cannot be read, or its offset is past the file's end: re-created, not rescanned yet); and after a
re-creation the file stays below the old offset until the rescan, or the tailer would take new lines for read ones.
Without the registry (no `run_path`, or no file of this check there), the earlier rule: a run hands over a quarter of
the cap, and only its first line may make the Agent re-create the file, 5 s after the check last wrote.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from .compat import json

if TYPE_CHECKING:
    from logging import LoggerAdapter

    from .timing import Clock

MB = 1024 * 1024
# When the Agent's settings cannot be read: the file cap of Agents before 7.7x (100 MB later), the total all
# integrations share, the tailer's scan period, and the Agent's line size (the intake takes at most 1 MB).
DEFAULT_FILE_MAX_SIZE_MB, DEFAULT_TOTAL_USAGE_MB, DEFAULT_SCAN_PERIOD = 10.0, 100.0, 10.0
DEFAULT_MAX_MESSAGE_SIZE, INTAKE_MAX_BYTES = 256_000, 1_000_000
DEFAULT_INTERVAL = 15.0  # the Agent's schedule when `min_collection_interval` is not a positive number
SHARE_OF_TOTAL = 0.5  # of `integrations_logs_total_usage`, past which the Agent deletes the least recent file
SHARE_OF_CAP, SETTLED_AFTER = 0.25, 5.0  # the rule without a registry
ADMIT, HOLD, TOO_LARGE = range(3)


class AgentLogFile:
    """The check's integration log file, as far as the check can tell, and what the current run may add to it."""

    def __init__(
        self, get_config: Callable[[str], Any], check_id: str, interval: float | None, clock: Clock, log: LoggerAdapter
    ) -> None:
        file_max = _positive(get_config('logs_config.integrations_logs_files_max_size'), DEFAULT_FILE_MAX_SIZE_MB)
        total = _positive(get_config('logs_config.integrations_logs_total_usage'), DEFAULT_TOTAL_USAGE_MB)
        self.cap = int(min(file_max, total * SHARE_OF_TOTAL) * MB)
        max_message = _positive(get_config('logs_config.max_message_size_bytes'), DEFAULT_MAX_MESSAGE_SIZE)
        self.line_limit = int(min(max_message, INTAKE_MAX_BYTES))  # bytes, the newline included
        scan_period = _positive(get_config('logs_config.file_scan_period'), DEFAULT_SCAN_PERIOD)
        interval = interval if interval and interval > 0 else DEFAULT_INTERVAL
        self.budget = int(self.cap * SHARE_OF_CAP * min(1.0, interval / scan_period))  # without a registry
        run_path = get_config('logs_config.run_path')
        self._run_path = run_path if isinstance(run_path, str) and run_path else None
        self._name = check_id.replace(':', '_') + '.log'
        self._clock, self._log = clock, log
        self.registry = False  # whether this run follows the Agent's registry
        self.size, self.sent = 0, 0  # the file's, and what this run handed over (bytes)
        self.acked: int | None = None  # the registry's offset for the file
        self.held = False
        self._last_write = float('-inf')
        self._said = False

    def begin_run(self) -> None:
        self.sent, self.held = 0, False
        path = os.path.join(self._run_path, 'integrations', self._name) if self._run_path else None
        try:
            self.size, self.registry = os.path.getsize(path), True  # type: ignore[arg-type]
        except (OSError, TypeError):
            self.registry = False
            if not self._said:
                self._said = True
                self._log.info(
                    'The Agent\'s file of this check\'s logs is not at %s: without its registry, a run hands over at '
                    'most %d bytes',
                    path or '<logs_config.run_path>/integrations/',
                    self.budget,
                )
        self.acked = self._read_registry()

    def unshipped(self) -> int | None:
        """Bytes of the file the intake has not accepted, if the registry tells."""
        if not self.registry:
            return None
        return self.size - self.acked if self.acked is not None and self.acked <= self.size else self.size

    def room(self) -> int:
        """Bytes that may go without asking `admit` line by line (`take` them)."""
        limit = self.cap
        if not self.registry:
            limit = min(limit, self.size - self.sent + self.budget)
        elif self.acked is not None and self.acked > self.size:  # re-created, not rescanned: stay below the offset
            limit = min(limit, self.acked - 1)
        return max(0, limit - self.size)

    def take(self, size: int) -> None:
        """Count `size` bytes that went within `room()`."""
        self.size += size
        self.sent += size

    def admit(self, size: int) -> int:
        """Whether a line of `size` bytes (newline included) may go now: ADMIT, HOLD (end the run, the cursor before
        it) or TOO_LARGE (larger than the file may be)."""
        if size > self.cap:
            return TOO_LARGE
        if self.size + size > self.cap:  # the Agent would re-create the file first
            if not self._all_shipped():
                self.held = True
                return HOLD
            self.size = 0
        elif size > self.room() and (self.registry or self.sent):  # without a registry, a run's first line goes
            self.held = True
            return HOLD
        self.take(size)
        return ADMIT

    def end_run(self) -> None:
        if self.sent:
            self._last_write = self._clock.monotonic()

    def _all_shipped(self) -> bool:
        if not self.registry:
            return not self.sent and self._clock.monotonic() - self._last_write >= SETTLED_AFTER
        self.acked = self._read_registry()  # once per crossing of the cap, not per line
        return self.acked == self.size

    def _read_registry(self) -> int | None:
        """The registry's offset for this check's file: None if the registry is missing, torn, or has no entry."""
        if not self.registry:
            return None
        try:
            with open(os.path.join(self._run_path, 'registry.json'), 'rb') as file:  # type: ignore[arg-type]
                entries = json.decode(file.read())['Registry']
            for identifier, entry in entries.items():  # `file:<path>`: matched by the file's name, wherever it is
                if identifier.startswith('file:') and os.path.basename(identifier) == self._name:
                    return int(entry['Offset'])
        except (OSError, ValueError, LookupError, TypeError, AttributeError):
            pass
        return None


def _positive(value: Any, default: float) -> float:
    try:  # settings from environment variables reach Python as strings
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
