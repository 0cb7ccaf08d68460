# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Where a stream's next query starts and ends: the window of logs that are final and that the intake still takes.

Two clocks matter. ACME's decides when a log is final: one whose timestamp is older than ACME's now minus its
ingestion delay never changes. The Agent's stands in for the intake's, which refuses logs older than 18 hours.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .cursor import Position
from .timestamps import seconds_to_nanos

if TYPE_CHECKING:
    from .acme_clock import AcmeClock

# The intake rejects logs older than 18 h; the margin covers the Agent's own delay in shipping them.
INTAKE_MAX_AGE = 18 * 3600
SHIPPING_MARGIN = 5 * 60


class WindowPlanner:
    def __init__(self, *, acme_clock: AcmeClock, ingestion_delay: float, initial_lookback: float) -> None:
        self._acme_clock = acme_clock
        self._ingestion_delay = ingestion_delay
        self._initial_lookback = initial_lookback

    def end(self) -> int:
        """The exclusive end of a query made now: final on ACME's clock, and never in the future of either clock.

        A whole second, as ACME's `Date` is: then the answer's own `Date` (see final_before) never cuts the query
        short unless the estimate of ACME's clock was wrong.
        """
        return seconds_to_nanos(math.floor(self._acme_clock.earliest_now()) - self._ingestion_delay)

    def final_before(self, acme_time: float) -> int:
        """What was final when ACME answered at `acme_time` (its `Date`), by ACME's own clock."""
        return seconds_to_nanos(acme_time - self._ingestion_delay)

    def stale_line(self, now: float) -> int:
        """Logs before this instant reach the intake too late to be accepted."""
        return seconds_to_nanos(now - INTAKE_MAX_AGE + SHIPPING_MARGIN)

    def first_position(self, now: float) -> Position:
        """Where a stream without a cursor starts: `initial_lookback` ago, but never before the 18 h line."""
        start = min(now, self._acme_clock.earliest_now()) - self._initial_lookback
        return Position.before(max(seconds_to_nanos(start), self.stale_line(now)))

    def is_past_intake(self, position: Position, now: float) -> bool:
        """Whether `position` is older than the intake's own limit (not only than the shipping margin)."""
        return position.nanos < seconds_to_nanos(now - INTAKE_MAX_AGE)
