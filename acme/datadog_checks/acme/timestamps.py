# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""RFC 3339 timestamps as integer nanoseconds since the Unix epoch, in UTC.

ACME renders one instant with any UTC offset and 0 to 9 fractional digits, and orders logs by that
instant down to the nanosecond: floats and `datetime` (microseconds) would merge distinct instants.
"""

from __future__ import annotations

import re
from datetime import date

NANOS_PER_SECOND = 1_000_000_000

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_HOUR = re.compile(r'(\d{4})-(\d{2})-(\d{2})[Tt ]([01]\d|2[0-3])\Z')
_REST = re.compile(r':([0-5]\d):([0-5]\d)(?:\.(\d{1,9}))?(?:[Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))\Z')
# Scale of a fraction by its number of digits: '5' is 500_000_000 ns, '000000005' is 5 ns.
_FRACTION_SCALE = [10 ** (9 - digits) for digits in range(10)]
# Logs come in time order, so consecutive ones share their hour: parsing the date is the costly part.
_hours: dict[str, int] = {}
_MAX_CACHED_HOURS = 4096


def parse_rfc3339(text: str) -> int:
    """Return the instant `text` names, in nanoseconds since the epoch; raise ValueError if it is not RFC 3339."""
    if not isinstance(text, str):
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')
    hour = text[:13]
    seconds = _hours.get(hour)
    if seconds is None:
        seconds = _hours[hour] = _parse_hour(text)
    rest = _REST.match(text, 13)
    if rest is None:
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')

    minute, second, fraction, sign, offset_hours, offset_minutes = rest.groups()
    seconds += int(minute) * 60 + int(second)
    if sign:
        offset = int(offset_hours) * 3600 + int(offset_minutes) * 60
        seconds -= offset if sign == '+' else -offset
    nanos = int(fraction) * _FRACTION_SCALE[len(fraction)] if fraction else 0
    return seconds * NANOS_PER_SECOND + nanos


def _parse_hour(text: str) -> int:
    """Seconds from the epoch to the start of the hour `text` begins with, read as UTC."""
    match = _HOUR.match(text[:13])
    if match is None:
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')
    if len(_hours) >= _MAX_CACHED_HOURS:
        _hours.clear()
    year, month, day, hour = map(int, match.groups())
    try:
        # `date` validates the calendar (month lengths, leap years) for us.
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ValueError(f'not a calendar date: {text!r}') from None
    return days * 86400 + hour * 3600


def format_rfc3339(nanos: int) -> str:
    """Render an instant as RFC 3339 in UTC with all nine fractional digits, so it round-trips exactly."""
    seconds, fraction = divmod(nanos, NANOS_PER_SECOND)
    days, second_of_day = divmod(seconds, 86400)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    return f'{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}.{fraction:09d}Z'


def seconds_to_nanos(seconds: float) -> int:
    # A float of Unix seconds holds about microseconds; finer digits would be noise in cursors.
    return round(seconds * 1_000_000) * 1000


def nanos_to_seconds(nanos: int) -> float:
    return nanos / NANOS_PER_SECOND
