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
_RFC3339 = re.compile(
    r'(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z'
)


def parse_rfc3339(text: str) -> int:
    """Return the instant `text` names, in nanoseconds since the epoch; raise ValueError if it is not RFC 3339."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')

    year, month, day, hour, minute, second, fraction, zulu, sign, offset_hours, offset_minutes = match.groups()
    hour, minute, second = int(hour), int(minute), int(second)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f'time of day out of range: {text!r}')
    # `date` validates the calendar (month lengths, leap years) for us.
    days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL

    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    if not zulu:
        offset = int(offset_hours) * 3600 + int(offset_minutes) * 60
        seconds -= offset if sign == '+' else -offset

    nanos = int(fraction.ljust(9, '0')) if fraction else 0
    return seconds * NANOS_PER_SECOND + nanos


def format_rfc3339(nanos: int) -> str:
    """Render an instant as RFC 3339 in UTC with all nine fractional digits, so it round-trips exactly."""
    seconds, fraction = divmod(nanos, NANOS_PER_SECOND)
    days, second_of_day = divmod(seconds, 86400)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    return f'{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}.{fraction:09d}Z'


def seconds_to_nanos(seconds: float) -> int:
    return int(seconds * NANOS_PER_SECOND)


def nanos_to_seconds(nanos: int) -> float:
    return nanos / NANOS_PER_SECOND
