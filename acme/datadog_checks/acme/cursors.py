# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Cursors: where a stream's crawl stands, whose cursor it is, and how it survives a crash while it is written.

Whose: one URL may serve several ACME accounts, but each stream's `created_at` tells two accounts' `prod-web` apart and
stays when a token is rotated. `log_cursor_<stream id>` holds the first creation instant seen at this URL (in the
cursor); another (a stream created again, another account's) has its own, `log_cursor_<id>_<digest of the instant>`.
Crash: the Agent writes an entry by truncating its file, without rename or fsync; so two slots, written in turn, each
with a sequence number and a checksum: a torn write spoils only the one it wrote.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any, Callable, NamedTuple

from .timing import format_rfc3339, instant_or_none, parse_rfc3339

CURSOR_PREFIX = 'log_cursor_'  # the base package's: `send_log` writes `log_cursor_<stream name>`
SLOTS = ('_0', '_1')


class InvalidCursor(ValueError): ...  # a stored cursor this version cannot read


def order_id(log_id: str) -> str:
    """`log_id` as text whose code point order is ACME's byte order. The two agree for UTF-8, but an id of bytes that
    are not UTF-8 is decoded with lone surrogates, which sort elsewhere: an id not ASCII is compared as its bytes."""
    if log_id.isascii():
        return log_id
    try:
        data = log_id.encode('utf-8', 'surrogateescape')  # bytes that were not UTF-8, as ACME sent them
    except UnicodeEncodeError:
        data = log_id.encode('utf-8', 'surrogatepass')  # a lone surrogate escaped in the JSON itself
    return data.decode('latin-1')


class Position(NamedTuple):
    """A point in ACME's order: tuple order, the id in `order_id` form. `Position(t, '')` precedes every log at `t`."""

    nanos: int
    id: str

    @classmethod
    def before(cls, nanos: int) -> Position:
        return cls(nanos, '')

    def to_cursor(self, created_ns: int | None = None) -> dict[str, str]:
        created = {} if created_ns is None else {'created_at': format_rfc3339(created_ns)}
        return {'timestamp': format_rfc3339(self.nanos), 'id': self.id, **created}

    @classmethod
    def from_cursor(cls, cursor: Any) -> Position:
        try:
            if not isinstance(cursor['id'], str):
                raise TypeError(f'id is {type(cursor["id"]).__name__}')
            return cls(parse_rfc3339(cursor['timestamp']), cursor['id'])
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidCursor(f'unreadable cursor {cursor!r}: {e}') from None


def endpoint_digest(url: str) -> str:
    """The persistent-cache id: a digest of `url` (its case and a trailing `/` aside), whatever the other options."""
    return _digest(url.strip().rstrip('/').lower())


def cursor_name(stream_id: str, listed_ns: int | None, stored: Any) -> tuple[str, int | None]:
    """The name of a listed stream's cursor and its creation instant, from the listing's and the cursor stored."""
    stored_ns = instant_or_none(stored.get('created_at')) if isinstance(stored, dict) else None
    if listed_ns is None or stored_ns is None or listed_ns == stored_ns:
        return stream_id, stored_ns if listed_ns is None else listed_ns
    # Only `[a-zA-Z0-9_-]` survive in the Agent's cache file names; stream ids are made of those.
    return f'{stream_id}_{_digest(stream_id, str(listed_ns))[:12]}', listed_ns


def cursor_tag(endpoint: str, name: str) -> str:
    """The `acme_cursor` tag of a stream's logs: cursor recovery (recovery.py) finds them, only them, in Datadog."""
    return _digest(endpoint, name)[:12]


def _digest(*parts: str) -> str:
    return hashlib.sha256('\0'.join(('acme-cursors-v3', *parts)).encode()).hexdigest()[:16]


class CursorCache:
    """The check's cursors in the persistent cache, in two checksummed slots each; kept in memory too, where alone
    writes go when not `durable` (a one-shot `agent check`, whose logs are dropped)."""

    def __init__(self, *, read: Callable[[str], str], write: Callable[[str, str], None]) -> None:
        self._read, self._write = read, write
        self.durable = True
        self.damaged: set[str] = set()  # cursor keys with something written but no readable slot
        self._values: dict[str, str] = {}
        self._slots: dict[str, tuple[int, int]] = {}  # cursor key -> (slot holding the newest value, its sequence)

    def read(self, key: str) -> str:
        if key not in self._values:
            self._values[key] = self._read_slots(key)
        return self._values[key]

    def write(self, key: str, value: str) -> None:
        self.read(key)  # learns which slot holds the newest value: the write goes to the other one
        slot, sequence = self._slots.get(key, (1, -1))
        slot, sequence = 1 - slot, sequence + 1
        if self.durable:
            self._write(key + SLOTS[slot], encode_slot(sequence, value))
        # Only once the write returned: after a failed one, the next write goes to the same slot again.
        self._slots[key] = (slot, sequence)
        self._values[key] = value

    def _read_slots(self, key: str) -> str:
        newest: tuple[int, int, str] | None = None
        for slot, suffix in enumerate(SLOTS):
            text = self._read(key + suffix)
            if not text:
                continue
            try:
                sequence, value = decode_slot(text)
            except InvalidCursor:
                self.damaged.add(key)
                continue
            if newest is None or sequence > newest[1]:
                newest = (slot, sequence, value)
        if newest is None:
            return ''
        self.damaged.discard(key)
        self._slots[key] = newest[:2]
        return newest[2]


def encode_slot(sequence: int, value: str) -> str:
    """One slot's text: `<sequence> <crc32 of both, hex> <value>`."""
    return f'{sequence} {_checksum(sequence, value):08x} {value}'


def decode_slot(text: str) -> tuple[int, str]:
    """The sequence number and value of one slot's text; InvalidCursor if it is damaged (empty, torn, garbled)."""
    sequence, crc, value = (text.split(' ', 2) + ['', ''])[:3]
    if not (sequence.isdigit() and sequence.isascii()) or crc != f'{_checksum(int(sequence), value):08x}':
        raise InvalidCursor('damaged cursor slot')
    return int(sequence), value


def _checksum(sequence: int, value: str) -> int:
    return zlib.crc32(f'{sequence} {value}'.encode('utf-8', 'surrogatepass'))
