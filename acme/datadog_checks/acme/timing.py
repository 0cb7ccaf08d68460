# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Time, as the crawler needs it: RFC 3339 instants, ACME's clock, query windows and the run's time budget.

Instants are integer nanoseconds since the epoch: ACME orders logs by instant down to the nanosecond, and floats or
`datetime` (microseconds) would merge distinct instants. Two clocks matter. ACME's decides when a log is final
(one older than ACME's now minus its ingestion delay never changes); the Agent's stands in for the intake's, which
refuses logs older than 18 hours. A customer's host clock can be minutes off ACME's.
"""

from __future__ import annotations

import math
import re
import time as _time
from collections import deque
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Protocol

NANOS_PER_SECOND = 1_000_000_000
# The intake rejects logs older than 18 h; the margin covers the Agent's own delay in shipping them.
INTAKE_MAX_AGE = 18 * 3600
SHIPPING_MARGIN = 5 * 60
# `Date` answers remembered; older ones age out, so a clock stepped by NTP is followed within this many requests.
CLOCK_SAMPLES = 16


class Clock(Protocol):
    """The one place the integration reads time or waits, so tests can step through hours in microseconds."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)
    sleep = staticmethod(_time.sleep)


# --- RFC 3339 -------------------------------------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_RFC3339 = re.compile(
    r'(\d{4}-\d{2}-\d{2}[Tt ](?:[01]\d|2[0-3]))(:[0-5]\d:[0-5]\d)(?:\.(\d{1,9}))?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z'
)
_FRACTION_SCALE = [10 ** (9 - digits) for digits in range(10)]  # '5' is 500_000_000 ns, '000000005' is 5 ns
# Parsing is much of the crawler's own work per log. Logs come in time order, so a timestamp's date and hour, and
# its offset, were almost always seen before: each is validated once, then looked up, as are minute and second
# (all 3,600 of them, up front). Only valid parts are learned; the hours are forgotten when too many pile up, so the
# tables stay small whatever offsets ACME renders its timestamps in.
_hours: dict[str, int] = {}  # 'YYYY-MM-DDTHH' -> seconds since the epoch
_MINUTE_SECONDS = {f':{minute:02d}:{second:02d}': minute * 60 + second for minute in range(60) for second in range(60)}
_offsets: dict[str, int] = {}  # '+HH:MM' -> seconds east of UTC
_MAX_HOURS = 4096


def parse_rfc3339(text: str, _hours=_hours, _minute_seconds=_MINUTE_SECONDS, _offsets=_offsets) -> int:
    """The instant `text` names, in nanoseconds since the epoch; ValueError if it is not RFC 3339.

    (The tables are default arguments, local to the function: faster to reach, once per log, than globals.)
    """
    try:
        seconds = _hours[text[:13]] + _minute_seconds[text[13:19]]
        if text[-1] == 'Z':
            offset, digits = 0, text[20:-1]
        else:
            offset, digits = _offsets[text[-6:]], text[20:-6]
        separator = text[19]
    except (KeyError, IndexError, TypeError):
        return _parse_and_learn(text)
    if separator == '.' and 0 < len(digits) <= 9 and digits.isdigit() and digits.isascii():
        return (seconds - offset) * NANOS_PER_SECOND + int(digits) * _FRACTION_SCALE[len(digits)]
    if not digits and len(text) in (20, 25) and separator != '.':  # no fraction: 'Z' or '+HH:MM' right after
        return (seconds - offset) * NANOS_PER_SECOND
    return _parse_and_learn(text)  # the regex tells what is wrong


def _parse_and_learn(text: str) -> int:
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')
    hour, minute_second, digits, zone = match.groups()
    try:
        day = date(int(hour[:4]), int(hour[5:7]), int(hour[8:10]))  # validates month lengths and leap years
    except ValueError:
        raise ValueError(f'not a calendar date: {text!r}') from None
    if len(_hours) >= _MAX_HOURS:
        _hours.clear()
    _hours[hour] = (day.toordinal() - _EPOCH_ORDINAL) * 86400 + int(hour[11:13]) * 3600
    offset = 0
    if zone not in ('Z', 'z'):
        offset = _offsets[zone] = (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (1 if zone[0] == '+' else -1)
    fraction = int(digits) * _FRACTION_SCALE[len(digits)] if digits else 0
    return (_hours[hour] + _MINUTE_SECONDS[minute_second] - offset) * NANOS_PER_SECOND + fraction


def format_rfc3339(nanos: int) -> str:
    """An instant as RFC 3339 in UTC with all nine fractional digits: it round-trips, and sorts as the instant."""
    seconds, fraction = divmod(nanos, NANOS_PER_SECOND)
    days, second_of_day = divmod(seconds, 86400)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    day = date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
    return f'{day}T{hour:02d}:{minute:02d}:{second:02d}.{fraction:09d}Z'


def seconds_to_nanos(seconds: float) -> int:
    # A float of Unix seconds holds about microseconds; finer digits would be noise in cursors.
    return round(seconds * 1_000_000) * 1000


# --- ACME's clock ---------------------------------------------------------------------------------------------------


class AcmeClock:
    """ACME's clock, estimated from the `Date` header of its answers (Unix seconds).

    `Date` is ACME's time truncated to the second, stamped between the moment a request left and the moment its
    answer came back, so each answer bounds the offset: `Date - received <= offset <= Date + 1 - sent`.
    """

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._lows: deque[float] = deque(maxlen=CLOCK_SAMPLES)
        self._highs: deque[float] = deque(maxlen=CLOCK_SAMPLES)

    def observe(self, date_header: str | None, *, sent_at: float, received_at: float) -> float | None:
        """Learn from one answer's `Date`; return ACME's time it states (None if it has no readable `Date`)."""
        try:
            acme_time = parsedate_to_datetime(date_header).timestamp() if date_header else None
        except (TypeError, ValueError, IndexError, OverflowError):
            acme_time = None
        if acme_time is not None:
            self._lows.append(acme_time - received_at)
            self._highs.append(acme_time + 1 - sent_at)
        return acme_time

    @property
    def offset(self) -> float:
        """ACME's clock minus the Agent's, never more than the truth, so times derived from it are never early.

        The second-largest lower bound, not the largest: one odd answer (a proxy's `Date`, a clock step) cannot
        pull it up. 0 until ACME has answered.
        """
        return _second_extreme(self._lows, largest=True) if self._lows else 0.0

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


def _second_extreme(values: deque[float], *, largest: bool) -> float:
    return values[0] if len(values) == 1 else sorted(values, reverse=largest)[1]


# --- Windows --------------------------------------------------------------------------------------------------------


class Windows:
    """Where a stream's queries start and end: logs that are final on ACME's clock and young enough for the intake."""

    def __init__(self, *, acme_clock: AcmeClock, ingestion_delay: float, initial_lookback: float) -> None:
        self._acme_clock = acme_clock
        self._ingestion_delay = ingestion_delay
        self._initial_lookback = initial_lookback

    def end(self) -> int:
        """The exclusive end of a query made now: final on ACME's clock, and never in the future of either clock.

        A whole second, as ACME's `Date` is: then an answer's own `Date` (see final_before) never cuts the query
        short unless the estimate of ACME's clock was wrong.
        """
        return seconds_to_nanos(math.floor(self._acme_clock.earliest_now()) - self._ingestion_delay)

    def final_before(self, acme_time: float) -> int:
        """What was final when ACME answered at `acme_time` (its `Date`), by ACME's own clock."""
        return seconds_to_nanos(acme_time - self._ingestion_delay)

    def first_start(self, now: float) -> int:
        """Where a stream without a cursor starts: `initial_lookback` ago, but never before the 18 h line."""
        start = min(now, self._acme_clock.earliest_now()) - self._initial_lookback
        return max(seconds_to_nanos(start), stale_line(now))


def stale_line(now: float) -> int:
    """Logs before this instant reach the intake too late to be accepted."""
    return seconds_to_nanos(now - INTAKE_MAX_AGE + SHIPPING_MARGIN)


# --- The run's time -------------------------------------------------------------------------------------------------


class RunOver(Exception):
    """The run has spent what it may (time or bytes); everything submitted is checkpointed, the next run resumes."""


class OutOfTime(RunOver):
    """The run's `max_run_time` is spent, or ACME asked to wait beyond it."""


class RunTime:
    """`max_run_time` for all streams, requests, retries and waits of a run, on the monotonic clock; pausable.

    ACME has no query that starts after an id, so a query restarted inside a group of logs sharing one timestamp
    re-reads the group up to the cursor. If that re-read counted, a group larger than one run can page through would
    be re-read by every run and never passed: so it is free (paused), and each run gets a full budget past it.
    """

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._deadline = float('-inf')
        self._paused_with: float | None = None

    def begin(self, seconds: float) -> None:
        self._deadline = self._clock.monotonic() + seconds
        self._paused_with = None

    def left(self) -> float:
        return float('inf') if self._paused_with is not None else self._deadline - self._clock.monotonic()

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
