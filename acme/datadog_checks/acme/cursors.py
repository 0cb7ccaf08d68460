# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Cursors: where a stream's crawl stands, whose cursor it is, and how it survives a crash while being written.

Whose cursor: ACME's contract gives no account id, and one public URL serves every customer. What it gives is each
stream's `created_at` in the listing: two accounts' `prod-web` streams were not created at the same instant, and a
rotated token still lists the same stream with the same `created_at`. So a cursor belongs to the endpoint (the
persistent-cache id, a digest of the normalized `url`), the stream id and the stream's creation instant (in the
stream's name, hence in the base package's key `log_cursor_<name>`). The token is not part of it. A listing that
stops showing `created_at`, or shows it in another form, keeps the cursor; only another creation instant (a stream
deleted and created again, or another account's stream) starts a new one.

Crash safety: the Agent writes a persistent-cache entry by truncating its file and writing the new value, without
a rename or fsync, and ignores errors, so a crash can leave an entry empty or half written. Each cursor key is
therefore stored in two slots, written in turn, each with a sequence number and a checksum: a torn write damages
only the slot being written, and the newest valid slot wins on reading.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any, Callable, NamedTuple
from urllib.parse import urlsplit

from .compat import json
from .timing import format_rfc3339, parse_rfc3339

CURSOR_PREFIX = 'log_cursor_'  # the base package's: `send_log` writes `log_cursor_<stream>`
SLOTS = ('_0', '_1')
# Bumped if what a stream name's digest covers ever changes, so old and new cursors can never be confused.
_SCHEME_VERSION = 'acme-cursors-v2'
_DEFAULT_PORTS = {'http': 80, 'https': 443}
# Creation instants remembered per stream id and endpoint (see StreamIdentities).
_REMEMBERED_INSTANTS = 8


class InvalidCursor(ValueError):
    """A stored cursor that this version cannot read."""


class Position(NamedTuple):
    """A point in ACME's order `(timestamp instant, id)`; tuple comparison is that order.

    ACME compares ids byte by byte; Python compares `str` by code point, which for UTF-8 is the same order.
    `Position(t, '')` lies before every log at instant `t`: "everything before `t` is done".
    """

    nanos: int
    id: str

    @classmethod
    def before(cls, nanos: int) -> Position:
        return cls(nanos, '')

    def to_cursor(self) -> dict[str, str]:
        return {'timestamp': format_rfc3339(self.nanos), 'id': self.id}

    @classmethod
    def from_cursor(cls, cursor: Any) -> Position:
        """Read a cursor written by `to_cursor`; InvalidCursor for anything else."""
        try:
            timestamp, log_id = cursor['timestamp'], cursor['id']
            if not isinstance(log_id, str):
                raise TypeError(f'id is {type(log_id).__name__}')
            return cls(parse_rfc3339(timestamp), log_id)
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidCursor(f'unreadable cursor {cursor!r}: {e}') from None


def normalized_url(url: str) -> str:
    """`url` without what does not change the endpoint: case of scheme and host, default port, trailing slash."""
    parts = urlsplit(url.strip())
    scheme, host, port = parts.scheme.lower(), (parts.hostname or '').lower(), parts.port
    host = f'[{host}]' if ':' in host else host  # an IPv6 literal
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f'{host}:{port}'
    return f'{scheme}://{netloc}{parts.path.rstrip("/")}'


def endpoint_digest(url: str) -> str:
    """The persistent-cache id of an instance: a digest of its ACME endpoint, stable across processes."""
    return _digest(normalized_url(url))


def stream_name(stream_id: str, created_ns: int | None) -> str:
    """The name of a crawled stream, hence of its cursor: `<stream id>_<digest of the id and creation instant>`.

    Only `[a-zA-Z0-9_-]` survive in the Agent's cache file names; stream ids are made of those, and the digest has
    a fixed length, so no two (stream, creation) pairs share a name.
    """
    return f'{stream_id}_{_digest(stream_id, "" if created_ns is None else str(created_ns))[:12]}'


def _digest(*parts: str) -> str:
    return hashlib.sha256('\0'.join((_SCHEME_VERSION, *parts)).encode()).hexdigest()[:16]


class CursorCache:
    """The check's persistent-cache entries: two checksummed slots per cursor key, one plain entry per other key.

    Values are kept in memory too: a stream's cursor is read once per instance, then served from here. When not
    `durable` (a one-shot `agent check`, whose logs are never shipped), writes stay in memory.
    """

    def __init__(self, *, read: Callable[[str], str], write: Callable[[str, str], None]) -> None:
        self._read = read
        self._write = write
        self.durable = True
        self.damaged: set[str] = set()  # cursor keys found with no readable slot, but something written
        self._values: dict[str, str] = {}
        self._slots: dict[str, tuple[int, int]] = {}  # cursor key -> (slot holding the newest value, its sequence)

    def read(self, key: str) -> str:
        if key not in self._values:
            self._values[key] = self._read_slots(key) if key.startswith(CURSOR_PREFIX) else self._read(key)
        return self._values[key]

    def write(self, key: str, value: str) -> None:
        if not key.startswith(CURSOR_PREFIX):
            if self.durable:
                self._write(key, value)
        else:
            self.read(key)  # learns which slot holds the newest value, so the write goes to the other one
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


class StreamIdentities:
    """Which cursor a listed stream continues: the name its cursor is kept under.

    The creation instants seen for each stream id at this endpoint are remembered in the persistent cache (under
    `acme_created_<id>`), so that a listing without `created_at` keeps using the last one, and a new instant is
    told from a form change. With two accounts on one URL, a stream id without `created_at` cannot be told apart:
    it continues the instant last seen for that id.
    """

    def __init__(self, *, cache: CursorCache, warn: Callable[..., None]) -> None:
        self._cache = cache
        self._warn = warn
        self._instants: dict[str, list[int]] = {}

    def resolve(self, stream_id: str, created_ns: int | None) -> tuple[str, int | None]:
        """The name of the listed stream's cursor, and the creation instant it stands for."""
        seen = self._seen(stream_id)
        if created_ns is None:
            created_ns = seen[-1] if seen else None
            return stream_name(stream_id, created_ns), created_ns
        name = stream_name(stream_id, created_ns)
        if created_ns in seen:
            return name, created_ns
        if not self._cache.read(CURSOR_PREFIX + name):
            unknown_creation = self._cache.read(CURSOR_PREFIX + stream_name(stream_id, None))
            if unknown_creation and not seen:
                # `created_at` appeared in the listing: the stream goes on from where it was.
                self._cache.write(CURSOR_PREFIX + name, unknown_creation)
            elif seen:
                self._warn(
                    'Stream `%s` was created at %s, not at %s as when its cursor was stored at this `url`: it was '
                    'deleted and created again, or belongs to another ACME account; it is crawled as a new stream, '
                    'from `initial_lookback` ago',
                    stream_id,
                    format_rfc3339(created_ns),
                    format_rfc3339(seen[-1]),
                )
        self._instants[stream_id] = seen = [*seen, created_ns][-_REMEMBERED_INSTANTS:]
        self._cache.write(f'acme_created_{stream_id}', json.encode(seen))
        return name, created_ns

    def _seen(self, stream_id: str) -> list[int]:
        if stream_id not in self._instants:
            try:
                seen = json.decode(self._cache.read(f'acme_created_{stream_id}'))
                self._instants[stream_id] = [int(instant) for instant in seen]
            except (ValueError, TypeError):  # nothing stored, or a torn write: nothing remembered
                self._instants[stream_id] = []
        return self._instants[stream_id]
