# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The time a run may take (`max_run_time`), all streams, requests, retries and rate-limit waits together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import OutOfTime

if TYPE_CHECKING:
    from .clock import Clock


class RunTime:
    """A deadline on the monotonic clock that can be paused: re-reading what a run already passed is free.

    ACME has no query that starts after an id, so a query restarted inside a group of logs sharing one timestamp
    re-reads the group up to the cursor. If that re-read counted against `max_run_time`, a group larger than one
    run can page through would be re-read by every run, and never passed.
    """

    def __init__(self, *, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._deadline = clock.monotonic() + seconds
        self._paused_with: float | None = None

    def left(self) -> float:
        if self._paused_with is not None:
            return float('inf')
        return self._deadline - self._clock.monotonic()

    def check(self) -> None:
        if self.left() <= 0:
            raise OutOfTime('`max_run_time` reached')

    def allows_wait(self, seconds: float) -> bool:
        return seconds < self.left()

    def pause(self) -> None:
        if self._paused_with is None:
            self._paused_with = self._deadline - self._clock.monotonic()

    def resume(self) -> None:
        if self._paused_with is not None:
            self._deadline = self._clock.monotonic() + max(0.0, self._paused_with)
            self._paused_with = None
