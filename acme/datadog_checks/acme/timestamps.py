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
    r'(\d{4}-\d{2}-\d{2}[Tt ][01]\d|\d{4}-\d{2}-\d{2}[Tt ]2[0-3])'  # the hour
    r'(:[0-5]\d:[0-5]\d)'  # minute and second
    r'(?:\.(\d{1,9}))?'
    r'([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z'
)
# Scale of a fraction by its number of digits: '5' is 500_000_000 ns, '000000005' is 5 ns.
_FRACTION_SCALE = [10 ** (9 - digits) for digits in range(10)]

# Parsing is a large part of the crawler's own work per log. Logs come in time order, so the date, hour, minute and
# second of a timestamp, and its offset, were almost always seen before: each is validated once, then looked up.
# Only valid parts are learned, so the tables stay small (the seconds are forgotten when too many pile up).
_seconds: dict[str, int] = {}  # 'YYYY-MM-DDTHH:MM:SS' -> seconds since the epoch
_offsets: dict[str, int] = {}  # '+HH:MM' -> seconds east of UTC, at most 2880
_MAX_SECONDS = 100_000


def parse_rfc3339(text: str) -> int:
    """Return the instant `text` names, in nanoseconds since the epoch; raise ValueError if it is not RFC 3339."""
    try:
        seconds = _seconds[text[:19]]
        if text[-1] in 'Zz':
            offset, fraction = 0, text[19:-1]
        else:
            offset, fraction = _offsets[text[-6:]], text[19:-6]
    except (KeyError, IndexError, TypeError):
        return _parse_and_learn(text)
    if not fraction:
        return (seconds - offset) * NANOS_PER_SECOND
    digits = fraction[1:]
    if fraction[0] != '.' or not 0 < len(digits) <= 9 or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')
    return (seconds - offset) * NANOS_PER_SECOND + int(digits) * _FRACTION_SCALE[len(digits)]


def _parse_and_learn(text: str) -> int:
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')
    hour, clock_time, fraction, zone = match.groups()
    try:
        # `date` validates the calendar (month lengths, leap years).
        day = date(int(hour[:4]), int(hour[5:7]), int(hour[8:10]))
    except ValueError:
        raise ValueError(f'not a calendar date: {text!r}') from None

    if len(_seconds) >= _MAX_SECONDS:
        _seconds.clear()
    _seconds[hour + clock_time] = (
        (day.toordinal() - _EPOCH_ORDINAL) * 86400
        + int(hour[11:13]) * 3600
        + int(clock_time[1:3]) * 60
        + int(clock_time[4:6])
    )
    if zone not in ('Z', 'z'):
        _offsets[zone] = (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (1 if zone[0] == '+' else -1)
    return parse_rfc3339(text)


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
