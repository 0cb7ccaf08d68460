# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's clock, as the `Date` header of its answers shows it.

Every promise of ACME's contract (late arrival, token expiry, rate-limit windows, start_time validation) is kept
on ACME's clock, and a customer's host clock can be off by minutes. Each answer bounds the offset between the two:
`Date` is ACME's time truncated to the second, stamped between the moment the request left and the moment the
answer came back, so `Date - received <= offset <= Date + 1 - sent`.
"""

from __future__ import annotations

from collections import deque
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .clock import Clock

# Answers remembered; older ones age out, so a clock stepped by NTP is followed within this many requests.
SAMPLES = 16


class AcmeClock:
    """Estimates ACME's clock from its answers; all times are Unix seconds."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._lows: deque[float] = deque(maxlen=SAMPLES)
        self._highs: deque[float] = deque(maxlen=SAMPLES)

    def observe(self, date_header: str | None, *, sent_at: float, received_at: float) -> float | None:
        """Learn from one answer's `Date`; return ACME's time it states (None if it has no readable `Date`)."""
        acme_time = parse_http_date(date_header)
        if acme_time is not None:
            self._lows.append(acme_time - received_at)
            self._highs.append(acme_time + 1 - sent_at)
        return acme_time

    @property
    def known(self) -> bool:
        return bool(self._lows)

    @property
    def offset(self) -> float:
        """ACME's clock minus the Agent's, never more than the truth, so times derived from it are never early.

        The second-largest lower bound, not the largest: one odd answer (a proxy's `Date`, a clock step) cannot
        pull it up. 0 until ACME has answered.
        """
        if not self._lows:
            return 0.0
        return _second_extreme(self._lows, largest=True)

    @property
    def skew(self) -> float | None:
        """The best estimate of the offset, for operators: the middle of the tightest robust bounds."""
        if not self._lows:
            return None
        low, high = self.offset, _second_extreme(self._highs, largest=False)
        return (low + high) / 2 if high >= low else low

    def earliest_now(self) -> float:
        """The earlier of the Agent's clock and ACME's: promises about "now" hold on both."""
        return self._clock.time() + min(0.0, self.offset)

    def to_local(self, acme_time: float) -> float:
        """The Agent's time at which ACME's clock shows `acme_time`, or later."""
        return acme_time - self.offset


def parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _second_extreme(values: deque[float], *, largest: bool) -> float:
    if len(values) == 1:
        return values[0]
    ordered = sorted(values, reverse=largest)
    return ordered[1]
