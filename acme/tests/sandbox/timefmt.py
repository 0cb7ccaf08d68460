# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""RFC 3339 rendering and parsing at nanosecond precision.

The sandbox keeps instants as integer nanoseconds since the Unix epoch: floats cannot hold
nanoseconds at today's epoch values, and the contract's ordering is exact to the last digit.
These helpers are for the sandbox itself; the integration must bring its own parser, or the
tests would only prove that the client agrees with the server's bugs.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

NS_PER_SECOND = 1_000_000_000

_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# RFC 3339 section 5.6; 'T' and 'Z' may be lower case (section 5.6, NOTE). More than nine
# fractional digits is legal RFC 3339 but not something the contract promises to accept.
_RFC3339 = re.compile(
    r'(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))',
    re.ASCII,
)

# Offsets a response may use. Z is listed several times because it is what most real servers
# send; the odd ones (-00:00, +05:45, +14:00, -09:30) are where hand-written parsers break.
RENDER_OFFSETS: tuple[tuple[str, int], ...] = (
    ('Z', 0),
    ('Z', 0),
    ('Z', 0),
    ('+00:00', 0),
    ('-00:00', 0),
    ('+01:00', 60),
    ('+02:00', 120),
    ('-05:00', -300),
    ('-08:00', -480),
    ('+05:30', 330),
    ('+05:45', 345),
    ('-03:30', -210),
    ('-09:30', -570),
    ('+09:00', 540),
    ('+12:45', 765),
    ('+14:00', 840),
    ('-12:00', -720),
)


def parse_rfc3339(text: str) -> int:
    """Return the instant `text` denotes, in nanoseconds since the epoch; ValueError if malformed."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f'not an RFC 3339 timestamp: {text!r}')
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, sign, off_hours, off_minutes = match.group(7, 8, 9, 10)
    # Leap seconds (:60) are valid RFC 3339, but ACME never renders them and the epoch
    # arithmetic below cannot represent them, so they are refused like any other bad value.
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f'time of day out of range: {text!r}')
    try:
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ValueError(f'no such date: {text!r}') from None
    offset_seconds = 0
    if sign is not None:
        if int(off_hours) > 23 or int(off_minutes) > 59:
            raise ValueError(f'UTC offset out of range: {text!r}')
        offset_seconds = (int(off_hours) * 3600 + int(off_minutes) * 60) * (1 if sign == '+' else -1)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds
    nanos = int(fraction.ljust(9, '0')) if fraction else 0
    return seconds * NS_PER_SECOND + nanos


def exact_digits(ts_ns: int) -> int:
    """Fewest fractional digits that still render `ts_ns` exactly."""
    return len(f'{ts_ns % NS_PER_SECOND:09d}'.rstrip('0'))


def render(ts_ns: int, *, digits: int, offset: str = 'Z', offset_minutes: int = 0) -> str:
    """Render `ts_ns` in local time at `offset`; `digits` must be at least exact_digits(ts_ns)."""
    seconds, fraction = divmod(ts_ns, NS_PER_SECOND)
    fraction_text = f'{fraction:09d}'
    if not len(fraction_text.rstrip('0')) <= digits <= 9:
        raise ValueError(f'{digits} fractional digits cannot render {ts_ns} exactly')
    text = _civil(seconds + offset_minutes * 60)
    if digits:
        text += '.' + fraction_text[:digits]
    return text + offset


@lru_cache(maxsize=4096)
def _civil(local_seconds: int) -> str:
    # Cached: bulk loads render many logs within the same second, and datetime is the slow part.
    local = _EPOCH + timedelta(seconds=local_seconds)
    return f'{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:{local.second:02d}'


def render_variant(ts_ns: int, choice: int) -> str:
    """Render `ts_ns` with an offset and precision picked by the integer `choice` (e.g. a hash)."""
    offset, offset_minutes = RENDER_OFFSETS[choice % len(RENDER_OFFSETS)]
    least = exact_digits(ts_ns)
    digits = least + (choice // len(RENDER_OFFSETS)) % (10 - least)
    return render(ts_ns, digits=digits, offset=offset, offset_minutes=offset_minutes)


def iso_utc(value: int | float | datetime) -> str:
    """Canonical UTC rendering ('...Z', 0/3/6/9 digits) of int nanoseconds, float seconds or an aware datetime."""
    ts_ns = to_ns(value)
    digits = -(-exact_digits(ts_ns) // 3) * 3
    return render(ts_ns, digits=digits)


def to_ns(value: int | float | datetime) -> int:
    """Nanoseconds since the epoch from int nanoseconds, float seconds or an aware datetime.

    Floats are rounded to the microsecond: they cannot carry nanoseconds at current epoch values.
    """
    if isinstance(value, bool):
        raise TypeError('a bool is not an instant')
    if isinstance(value, int):
        # Catch the easy mistake of passing int seconds where nanoseconds are expected.
        if -(10**12) < value < 10**12 and value != 0:
            raise ValueError(f'{value} looks like seconds; pass float seconds or int nanoseconds')
        return value
    if isinstance(value, float):
        return round(seconds_to_ns(value), -3)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError('naive datetimes are ambiguous; attach a timezone')
        delta = value.astimezone(timezone.utc).replace(tzinfo=None) - _EPOCH
        return (delta.days * 86400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000
    raise TypeError(f'cannot convert {type(value).__name__} to an instant')


def seconds_to_ns(seconds: float) -> int:
    """Epoch seconds (int exact, float to the nearest nanosecond of its binary value) to nanoseconds."""
    if isinstance(seconds, int):
        return seconds * NS_PER_SECOND
    whole = math.floor(seconds)
    # Splitting first keeps the fraction's precision; seconds * 1e9 would lose ~200 ns.
    return whole * NS_PER_SECOND + round((seconds - whole) * NS_PER_SECOND)
