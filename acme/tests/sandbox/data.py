# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Log generators: adversarial data for correctness tests, lean data for benchmarks.

generate_logs aims at the ways a crawler goes wrong: cursors on timestamp alone (ties, even to
the nanosecond), ids assumed to follow time, microsecond truncation, missing optional fields,
unknown new fields, awkward text, and logs that turn up late.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, Required, TypedDict

from .timefmt import NS_PER_SECOND, iso_utc, parse_rfc3339, seconds_to_ns

__all__ = ['LogSpec', 'SEVERITIES', 'generate_bulk', 'generate_logs', 'iso_utc', 'parse_rfc3339']

SEVERITIES = ('DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL')


class LogSpec(TypedDict, total=False):
    """A log as the API serves it, plus the sandbox-only `visible_at`.

    `timestamp` is any RFC 3339 string (the sandbox re-renders it) or int nanoseconds.
    `visible_at` (epoch seconds) is when the log becomes readable; it is never served and
    defaults to the timestamp itself.
    """

    id: Required[str]
    timestamp: Required[str | int]
    message: Required[str]
    severity: str
    service: str
    host: str
    attributes: dict[str, Any]
    visible_at: float


_CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

# Seconds, milliseconds, microseconds, nanoseconds: the quantum a fresh timestamp is cut to.
_PRECISIONS = (NS_PER_SECOND, 1_000_000, 1_000, 1)
_PRECISION_WEIGHTS = (15, 15, 40, 30)

_SERVICES = ('auth', 'web', 'billing', 'search', 'api-gateway', 'worker', 'Ünïcode-svc')
_HOSTS = ('web-1', 'web-2', 'web-3', 'db-primary', 'ip-10-0-3-17.ec2.internal', 'worker-7')
_WORDS = tuple(
    'user alice bob signed in out request completed failed retry cache miss hit timeout GET POST '
    '/api/v2/orders status 200 503 latency_ms=12 queue drained token refreshed connection reset by peer'.split()
)
# Text that breaks line-based, ASCII-only or naive-JSON handling.
_AWKWARD = (
    'multi\nline\nmessage',
    'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nKeyError: \'id\'',
    'windows line\r\nending',
    'tab\tseparated\tfields',
    'naïve café, Ωmega, Straße',
    '日本語のログメッセージ',
    'emoji 🔥🚀 and a family 👩‍👩‍👧 and a flag 🇫🇷',
    'right-to-left: مرحبا بالعالم',
    'quotes "double" \'single\' and back\\slash',
    '{"looks": "like json", "but": "is a message"}',
    '   leading and trailing spaces   ',
    'line\u2028separator and paragraph\u2029separator',
    'control \x1b[31mcolour\x1b[0m codes',
    '',
)
_EXTRA_FIELDS = (
    ('trace_id', lambda rng: f'{rng.getrandbits(128):032x}'),
    ('labels', lambda rng: rng.sample(['blue', 'canary', 'eu', 'us', 'beta'], k=rng.randint(0, 3))),
    ('schema_version', lambda rng: rng.randint(1, 3)),
    ('source', lambda rng: {'kind': 'agent', 'version': [1, rng.randint(0, 9), 0]}),
    ('ingested_by', lambda rng: None),
)


def generate_logs(
    *,
    seed: int | str,
    start: float,
    end: float,
    count: int,
    tie_rate: float = 0.3,
    near_tie_rate: float = 0.05,
    late_rate: float = 0.3,
    max_late: float = 60.0,
    optional_rate: float = 0.7,
    awkward_rate: float = 0.2,
    extra_field_rate: float = 0.05,
    big_message_rate: float = 0.0,
    big_message_bytes: int = 64 * 1024,
) -> list[LogSpec]:
    """`count` logs with timestamps in [start, end) (epoch seconds), in the contract's order.

    tie_rate: share of logs copying an earlier log's timestamp exactly.
    near_tie_rate: share a few nanoseconds from an earlier log (defeats microsecond truncation).
    late_rate: share readable only after a uniform(0, max_late) seconds delay.
    Timestamps are rendered as canonical UTC; the sandbox re-renders them when serving.
    """
    rng = random.Random(f'generate_logs:{seed}')
    start_ns, end_ns = seconds_to_ns(start), seconds_to_ns(end)
    if end_ns <= start_ns and count:
        raise ValueError('end must be after start')
    ids: set[str] = set()
    rows: list[tuple[int, str, LogSpec]] = []
    for _ in range(count):
        ts_ns = _pick_timestamp(rng, rows, start_ns, end_ns, tie_rate=tie_rate, near_tie_rate=near_tie_rate)
        log_id = _ulid_like(rng, ids)
        log: LogSpec = {'id': log_id, 'timestamp': iso_utc(ts_ns), 'message': _message(rng, awkward_rate)}
        if rng.random() < big_message_rate:
            log['message'] = _big_message(rng, big_message_bytes)
        if rng.random() < optional_rate:
            log['severity'] = rng.choice(SEVERITIES)
        if rng.random() < optional_rate:
            log['service'] = rng.choice(_SERVICES)
        if rng.random() < optional_rate:
            log['host'] = rng.choice(_HOSTS)
        if rng.random() < optional_rate:
            log['attributes'] = _attributes(rng, depth=0)
        if rng.random() < extra_field_rate:
            name, make = rng.choice(_EXTRA_FIELDS)
            log[name] = make(rng)  # type: ignore[literal-required]
        if rng.random() < late_rate:
            log['visible_at'] = ts_ns / NS_PER_SECOND + rng.uniform(0.0, max_late)
        rows.append((ts_ns, log_id, log))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in rows]


def generate_bulk(
    *,
    seed: int | str,
    start: float,
    end: float,
    count: int,
    message_bytes: int = 200,
    tie_rate: float = 0.1,
) -> Iterator[LogSpec]:
    """`count` plain logs evenly spread over [start, end), in order, yielded lazily.

    For benchmarks: a million of these must load in seconds and not sit in memory as dicts.
    Still keeps what matters to a crawler: ties, ids out of time order, microsecond timestamps.
    """
    rng = random.Random(f'generate_bulk:{seed}')
    start_ns, end_ns = seconds_to_ns(start), seconds_to_ns(end)
    step = max(1, (end_ns - start_ns) // max(count, 1))
    pool = ' '.join(rng.choice(_WORDS) for _ in range(40_000))
    room = len(pool) - message_bytes
    severities = SEVERITIES[:5]
    ts_ns = start_ns
    for index in range(count):
        if index == 0 or rng.random() >= tie_rate:
            ts_ns = start_ns + index * step
            ts_ns -= ts_ns % 1000
        offset = rng.randrange(room)
        yield {
            # Hex rather than base32: base64.b32encode is pure Python and would dominate.
            'id': f'{rng.getrandbits(104):026X}',
            'timestamp': ts_ns,
            'severity': severities[index % 5],
            'message': pool[offset : offset + message_bytes],
            'service': _SERVICES[index % 6],
            'host': _HOSTS[index % 6],
        }


def _pick_timestamp(
    rng: random.Random,
    rows: list[tuple[int, str, LogSpec]],
    start_ns: int,
    end_ns: int,
    *,
    tie_rate: float,
    near_tie_rate: float,
) -> int:
    roll = rng.random()
    if rows and roll < tie_rate:
        return rng.choice(rows)[0]
    if rows and roll < tie_rate + near_tie_rate:
        near = rng.choice(rows)[0] + rng.choice((-1, 1)) * rng.randint(1, 999)
        if start_ns <= near < end_ns:
            return near
    ts_ns = rng.randrange(start_ns, end_ns)
    quantum = rng.choices(_PRECISIONS, weights=_PRECISION_WEIGHTS)[0]
    rounded = ts_ns - ts_ns % quantum
    return rounded if rounded >= start_ns else ts_ns


def _ulid_like(rng: random.Random, taken: set[str]) -> str:
    # Uniformly random rather than time-prefixed like a real ULID: the contract says ids are not
    # in time order, and a crawler that assumes they are must fail here.
    while True:
        bits = rng.getrandbits(130)
        log_id = ''.join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in range(26))
        if log_id not in taken:
            taken.add(log_id)
            return log_id


def _message(rng: random.Random, awkward_rate: float) -> str:
    if rng.random() < awkward_rate:
        return rng.choice(_AWKWARD)
    return ' '.join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12)))


def _big_message(rng: random.Random, size: int) -> str:
    line = ' '.join(rng.choice(_WORDS) for _ in range(20)) + ' é🔥\n'
    text = line * (size // len(line) + 1)
    # Cut on bytes, not characters: the contract's bound (1 MiB) is in UTF-8 bytes.
    return text.encode()[:size].decode(errors='ignore')


def _attributes(rng: random.Random, *, depth: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(('user', 'client_ip', 'http', 'duration_ms', 'retries', 'ok', 'tags', 'ключ', 'big', 'ratio'))
        kind = rng.random()
        if kind < 0.2 and depth < 3:
            attributes[key] = _attributes(rng, depth=depth + 1)
        elif kind < 0.35:
            attributes[key] = rng.randint(-(2**40), 2**40)
        elif kind < 0.45:
            attributes[key] = rng.choice((True, False, None))
        elif kind < 0.55:
            attributes[key] = rng.random() * 1000
        elif kind < 0.65:
            attributes[key] = [rng.randint(0, 9), 'x', {'deep': [None]}]
        elif kind < 0.7:
            attributes[key] = 18446744073709551617  # beyond uint64
        else:
            attributes[key] = rng.choice(_WORDS + _AWKWARD[:6])
    return attributes
