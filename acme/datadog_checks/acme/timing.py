# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Time: RFC 3339 instants, in integer nanoseconds (ACME orders logs to the nanosecond, which floats and `datetime`
would merge); ACME's clock, which decides what is final; query windows; the run's time."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

NANOS = 1_000_000_000
INTAKE_MAX_AGE, SHIPPING_MARGIN = 18 * 3600, 5 * 60  # the intake's limit, less the Agent's delay in shipping
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FIRST, _LAST = -62135596800 * NANOS, 253402300800 * NANOS - 1  # years 1 to 9999, which can be written back


class Clock(Protocol):
    """Where the integration reads time or waits (the `time` module), so that tests step through hours at once."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


# Parsing is much of the crawler's own work per log, and logs come in time order: a timestamp's hour and offset were
# almost always seen before. Each is read by `fromisoformat` the first time (validated), then looked up, as are minute
# and second (second 60, a leap second, is the next minute's start, as Go reads it). The hours learned are bounded.
_HOURS: dict[str, int] = {}  # 'YYYY-MM-DDTHH' -> seconds since the epoch, as if UTC
_ZONES: dict[str, int] = {'Z': 0, 'z': 0}  # '+HH:MM' -> seconds east of UTC
_MINUTE_SECONDS = {f':{minute:02d}:{second:02d}': minute * 60 + second for minute in range(60) for second in range(61)}


def parse_rfc3339(text: str, _hours=_HOURS, _minute_seconds=_MINUTE_SECONDS, _zones=_ZONES) -> int:
    """The instant `text` names, in nanoseconds; ValueError unless RFC 3339 in years 1 to 9999. (The tables are
    default arguments: local to the function, quicker to reach than globals.)"""
    try:
        zone = 1 if text[-1] in 'Zz' else 6
        nanos = (_hours[text[:13]] + _minute_seconds[text[13:19]] - _zones[text[-zone:]]) * NANOS
        if text[19] == '.':
            fraction = text[20 : len(text) - zone]
            if not (0 < len(fraction) <= 9 and fraction.isdigit() and fraction.isascii()):
                raise ValueError
            nanos += int(fraction) * 10 ** (9 - len(fraction))
        elif len(text) != 19 + zone:
            raise ValueError
    except KeyError:
        return _learn(text)
    except (ValueError, TypeError, IndexError):
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}') from None
    if not _FIRST <= nanos <= _LAST:
        raise ValueError(f'not within years 1 to 9999: {text!r}')
    return nanos


def _learn(text: str) -> int:
    """Read a timestamp's hour and offset with `fromisoformat`, learn them, and parse it again."""
    try:
        zone = text[-1] if text[-1] in 'Zz' else text[-6:]
        moment = datetime.fromisoformat(text[:13].upper() + ':00:00' + ('+00:00' if zone in 'Zz' else zone))
        if text[13:19] not in _MINUTE_SECONDS:
            raise ValueError
    except (ValueError, TypeError, LookupError, AttributeError):
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}') from None
    if len(_HOURS) >= 4096:
        _HOURS.clear()
    elapsed = moment.replace(tzinfo=timezone.utc) - _EPOCH
    _HOURS[text[:13]] = elapsed.days * 86400 + elapsed.seconds
    _ZONES[zone] = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
    return parse_rfc3339(text)


def instant_or_none(text: Any) -> int | None:
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def format_rfc3339(nanos: int) -> str:
    """An instant in RFC 3339, UTC, with nine fractional digits: it round-trips, and sorts as the instant."""
    seconds, fraction = divmod(nanos, NANOS)
    return f'{(_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()}.{fraction:09d}Z'


def seconds_to_nanos(seconds: float) -> int:
    # A float of Unix seconds holds about microseconds; finer digits would be noise in cursors.
    return round(seconds * 1_000_000) * 1000


class AcmeClock:
    """ACME's clock, from the `Date` of its latest answer (its time cut to the second, stamped between request and
    answer: `Date - received` never passes the offset, so what derives from it is never early); and the windows of
    logs final on it and young enough for the intake."""

    def __init__(self, *, clock: Clock, ingestion_delay: float = 60, lookback: float = 3600) -> None:
        self._clock = clock
        self._ingestion_delay, self._initial_lookback = ingestion_delay, lookback
        self.offset = 0.0  # ACME's clock minus the Agent's, never more than the truth
        self.skew: float | None = None  # the best estimate, for operators: `Date + 1 - sent` is never less

    def observe(self, date_header: str | None, *, sent_at: float, received_at: float) -> float | None:
        """Learn from one of ACME's answers; return the time its `Date` states (None if it has none readable)."""
        try:
            acme_time = parsedate_to_datetime(date_header).timestamp()  # type: ignore[arg-type]
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        self.offset = acme_time - received_at
        self.skew = (self.offset + acme_time + 1 - sent_at) / 2
        return acme_time

    def earliest_now(self) -> float:
        """The earlier of the Agent's clock and ACME's: promises about "now" hold on both."""
        return self._clock.time() + min(0.0, self.offset)

    def to_local(self, acme_time: float) -> float:
        """The Agent's time at which ACME's clock shows `acme_time`, or later."""
        return acme_time - self.offset

    def end(self) -> int:
        """The end of a query made now, on a whole second as `Date` is: only a wrong estimate of ACME's clock lets an
        answer's `Date` (final_before) cut the query short."""
        return seconds_to_nanos(math.floor(self.earliest_now()) - self._ingestion_delay)

    def final_before(self, acme_time: float) -> int:
        """What was final when ACME answered at `acme_time` (its `Date`), by ACME's own clock."""
        return seconds_to_nanos(acme_time - self._ingestion_delay)

    def first_start(self, now: float) -> int:
        """Where a stream without a cursor starts: `initial_lookback` ago, never before the 18 hour line."""
        return max(seconds_to_nanos(min(now, self.earliest_now()) - self._initial_lookback), stale_line(now))


def stale_line(now: float) -> int:
    """Logs before this instant (17 h 55 min ago) would reach the intake older than the 18 hours it accepts."""
    return seconds_to_nanos(now - INTAKE_MAX_AGE + SHIPPING_MARGIN)


class RunOver(Exception):
    """The run spent its time, or the Agent's file cannot take more: the next run resumes from the cursors."""
