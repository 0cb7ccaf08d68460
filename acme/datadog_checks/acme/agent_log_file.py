# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""How many bytes a run may hand to the Agent, so that its integration log file never loses a log.

The Agent appends every line `send_log` gives it to `<logs run_path>/integrations/<check id>.log`, truncates that
file in place, read or not, before a line that would take it past `logs_config.integrations_logs_files_max_size`,
and ships it with a file tailer that notices a truncation only at its next scan (`logs_config.file_scan_period`)
(DataDog/datadog-agent, pkg/logs/launchers/integration/launcher.go). So a run hands the Agent at most a quarter of
that cap, and only a run's first line may make the Agent truncate the file, seconds after the check last wrote, when
the tailer has read it all: a run that would cross the cap later stops before it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from .timing import RunOver

if TYPE_CHECKING:
    from .timing import Clock

MB = 1024 * 1024
# Defaults of the Agent settings when they cannot be read: Agents before 7.7x default the file cap to 10 MB (newer
# ones to 100 MB); the total to 100 MB; the tailer's scan to 10 s.
DEFAULT_FILE_MAX_SIZE_MB = 10.0
DEFAULT_TOTAL_USAGE_MB = 100.0
DEFAULT_SCAN_PERIOD = 10.0
# A run's share of the cap. Between a truncation and the scan that notices it, writes must stay under the cap;
# a quarter leaves room for several runs and for other integrations' lines in the shared total.
SHARE_OF_CAP = 0.25
# This check's file may use at most this share of the total all integrations share.
SHARE_OF_TOTAL = 0.5
# Seconds since the check's last write after which the tailer has surely read the file: it sleeps 1 s at the end
# of the file, then reads as fast as the logs pipeline takes lines.
SETTLED_AFTER = 5.0

# The Agent cuts a line longer than `logs_config.max_message_size_bytes` into pieces that are no longer JSON; the
# intake takes a log of up to 1 MB, whatever that setting says.
DEFAULT_MAX_MESSAGE_SIZE = 256_000
INTAKE_MAX_BYTES = 1_000_000
# The Agent's schedule when `min_collection_interval` is not a positive number of seconds.
DEFAULT_INTERVAL = 15.0

ADMIT, STOP, TOO_LARGE = range(3)


class OutOfBytes(RunOver):
    """The run handed the Agent all the bytes its integration log file can take now."""


class LogFileSettings:
    """The Agent's settings for integration log files, read once from its configuration."""

    def __init__(self, get_config: Callable[[str], Any]) -> None:
        file_max = _positive(get_config('logs_config.integrations_logs_files_max_size'), DEFAULT_FILE_MAX_SIZE_MB)
        total = _positive(get_config('logs_config.integrations_logs_total_usage'), DEFAULT_TOTAL_USAGE_MB)
        self.cap = int(min(file_max, total * SHARE_OF_TOTAL) * MB)
        self.scan_period = _positive(get_config('logs_config.file_scan_period'), DEFAULT_SCAN_PERIOD)
        max_message = _positive(get_config('logs_config.max_message_size_bytes'), DEFAULT_MAX_MESSAGE_SIZE)
        self.line_limit = int(min(max_message, INTAKE_MAX_BYTES))  # bytes, the newline included
        run_path = get_config('logs_config.run_path')
        self.directory = os.path.join(run_path, 'integrations') if isinstance(run_path, str) and run_path else None

    def run_budget(self, *, interval: float | None, limit: int | None) -> int:
        """Bytes one run may hand to the Agent: a share of the cap, per tailer scan when runs come faster."""
        interval = interval if interval and interval > 0 else DEFAULT_INTERVAL
        share = SHARE_OF_CAP * min(1.0, interval / self.scan_period)
        budget = int(self.cap * share)
        return min(budget, limit) if limit else budget


class AgentLogFile:
    """The check's integration log file, as far as the check can tell, and what the current run may add to it."""

    def __init__(self, *, settings: LogFileSettings, check_id: str, clock: Clock) -> None:
        self.cap = settings.cap
        self.line_limit = settings.line_limit
        self._clock = clock
        # The Agent names the file after the check id, ':' replaced by '_'. Where that file is not found (another
        # layout, another host), the size is what this check wrote since it started.
        self._path = (
            os.path.join(settings.directory, check_id.replace(':', '_') + '.log') if settings.directory else None
        )
        self.size = 0
        self._last_write = float('-inf')
        self.sent = 0
        self.budget = 0

    def begin_run(self, budget: int) -> None:
        self.sent = 0
        self.budget = budget
        if self._path is not None:
            try:
                self.size = os.path.getsize(self._path)
            except OSError:
                pass

    def admit(self, size: int) -> int:
        """Whether a line of `size` bytes (its newline included) may go now: ADMIT, STOP (end the run), TOO_LARGE."""
        if size > self.cap:
            return TOO_LARGE  # the Agent would drop it
        if self.size + size > self.cap:
            if self.sent or self._clock.monotonic() - self._last_write < SETTLED_AFTER:
                return STOP
            self.size = 0  # the Agent truncates the file before this line; the tailer has read it all
        elif self.sent and self.sent + size > self.budget:
            return STOP
        self.size += size
        self.sent += size
        return ADMIT

    def room(self) -> int:
        """Bytes that can go without asking `admit` line by line (`take` them); 0 before a run's first line."""
        if not self.sent:
            return 0
        return max(0, min(self.budget - self.sent, self.cap - self.size))

    def take(self, size: int) -> None:
        """Count `size` bytes that went within `room()`."""
        self.size += size
        self.sent += size

    def end_run(self) -> None:
        if self.sent:
            self._last_write = self._clock.monotonic()


def _positive(value: Any, default: float) -> float:
    # Settings from environment variables reach Python as strings.
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
