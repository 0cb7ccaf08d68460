# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What a run may hand the Agent's file of this check's logs, so that no line is lost before Datadog has it.

The Agent appends `send_log` lines to `<logs_config.run_path>/integrations/<check id>.log`, re-creates it (read or not)
before a line that would pass `integrations_logs_files_max_size`, stops tailing it while the intake is unreachable,
and writes the offset the intake accepted to `<run_path>/registry.json` every second (pkg/logs/launchers/integration,
pkg/logs/auditor). So a line that makes the Agent re-create the file waits until the intake accepted all of it (all is
unaccepted if the registry is unreadable), and a re-created file stays below the old offset until the tailer rescans.
Without the registry, the rule of earlier versions: a quarter of the cap a run, re-created 5 s after the last write.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from .compat import json
from .timing import INTAKE_MAX_AGE

if TYPE_CHECKING:
    from logging import LoggerAdapter

    from .timing import Clock

MB = 1024 * 1024
# The Agent's defaults (its settings win): the file cap, the total all integrations share (half counts for one:
# past it the Agent deletes the least recent file), the tailer's scan period, the line size (1 MB at the intake), the
# interval when `min_collection_interval` is not positive; then the rule without a registry.
DEFAULT_FILE_MAX_SIZE_MB, DEFAULT_TOTAL_USAGE_MB, SHARE_OF_TOTAL, DEFAULT_SCAN_PERIOD = 10.0, 100.0, 0.5, 10.0
DEFAULT_MAX_MESSAGE_SIZE, INTAKE_MAX_BYTES, DEFAULT_INTERVAL = 256_000, 1_000_000, 15.0
SHARE_OF_CAP, SETTLED_AFTER = 0.25, 5.0


class AgentLogFile:
    """The check's integration log file, as far as the check can tell, and what the current run may add to it."""

    def __init__(
        self, get_config: Callable[[str], Any], check_id: str, interval: float | None, clock: Clock, log: LoggerAdapter
    ) -> None:
        file_max = _positive(get_config('logs_config.integrations_logs_files_max_size'), DEFAULT_FILE_MAX_SIZE_MB)
        total = _positive(get_config('logs_config.integrations_logs_total_usage'), DEFAULT_TOTAL_USAGE_MB)
        self.cap = int(min(file_max, total * SHARE_OF_TOTAL) * MB)
        max_message = _positive(get_config('logs_config.max_message_size_bytes'), DEFAULT_MAX_MESSAGE_SIZE)
        self.line_limit = int(min(max_message, INTAKE_MAX_BYTES, self.cap))  # bytes, the newline included
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
        self.held_since: float | None = None  # since when (Unix s) the file is unshipped, and no line could go
        self.limit = 0  # how large the file may grow as it is (see _limit)
        self._last_write, self._said = float('-inf'), False  # said: that the file is not where it should be

    def begin_run(self) -> None:
        self.sent, self.held = 0, False
        path = os.path.join(self._run_path, 'integrations', self._name) if self._run_path else None
        try:
            self.size, self.registry = os.path.getsize(path), True  # type: ignore[arg-type]
        except (OSError, TypeError):
            self.registry = False
            if not self._said:
                self._said = True
                message = 'The Agent\'s file of this check\'s logs is not at %s: a run hands over %d bytes'
                self._log.info(message, path, self.budget)
        self.acked = self._read_registry()
        self.limit = self._limit()

    def unshipped(self) -> int | None:
        """Bytes of the file the intake has not accepted, if the registry tells."""
        acked = self.acked if self.acked is not None and self.acked <= self.size else 0
        return self.size - acked if self.registry else None

    def admit(self, size: int) -> bool:
        """Whether a line of `size` bytes (newline included, at most `line_limit`) may go now, counted if so; if not,
        the run ends, the cursor before it. Once per log: the common case first."""
        if self.size + size > self.limit:
            if self.size + size > self.cap:  # the Agent would re-create the file first
                if not self._all_shipped():
                    self.held = True
                    return False
                self.size = 0
            elif self.registry or self.sent:  # past what may go: a stale offset, a run's share (a first line goes)
                self.held = True
                return False
        self.size += size
        self.sent += size
        self.limit = self._limit()
        return True

    def _limit(self) -> int:
        """How large the file may grow: below a re-created file's old offset until rescanned; else by a run's share."""
        if not self.registry:
            return min(self.cap, self.size - self.sent + self.budget)
        return min(self.cap, self.acked - 1) if self.acked is not None and self.acked > self.size else self.cap

    def end_run(self) -> None:
        if self.sent:
            self._last_write = self._clock.monotonic()
        if self.sent or not self.registry or self.acked == self.size:
            self.held_since = None
        elif self.held and self.held_since is None:
            self.held_since = self._clock.time()

    def _all_shipped(self) -> bool:
        if not self.registry:
            return not self.sent and self._clock.monotonic() - self._last_write >= SETTLED_AFTER
        self.acked = self._read_registry()  # once per crossing of the cap, not per line
        if self._clock.time() - (self.held_since or float('inf')) >= INTAKE_MAX_AGE:
            # Held 18 h, every line of the file is older than the intake takes: re-creating it loses none it would take,
            # and ends a wait on a registry that cannot tell. The tailer is at the offset, or the end: stay below it.
            self.acked = self.size if self.acked is None else self.acked
            return True
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
