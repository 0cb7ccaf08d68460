# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Cursors that survive a crash in the middle of writing one.

The Agent writes a persistent-cache entry by truncating its file and writing the new value, without a rename or
fsync, and ignores errors: a crash can leave an entry empty or half written. So each cursor has two entries
(slots), written in turn, each holding a sequence number and a checksum. A torn write can only damage the slot
being written; the other still holds the previous cursor, and the newest valid slot wins on reading.
"""

from __future__ import annotations

import zlib
from typing import Callable, NamedTuple

from .compat import json
from .cursor import InvalidCursor, Position

SLOTS = ('_0', '_1')


class Stored(NamedTuple):
    position: Position | None
    # Something was stored, but no slot could be read: a damaged entry, or one written by an unknown version.
    damaged: bool = False


class _Slot(NamedTuple):
    slot: int  # an index into SLOTS
    sequence: int


class CursorStore:
    """Reads and writes stream cursors through the persistent cache (`read`/`write` of a key), two slots each."""

    def __init__(self, *, read: Callable[[str], str], write: Callable[[str, str], None]) -> None:
        self._read = read
        self._write = write
        # Per key: the slot holding the newest cursor, so the next write goes to the other one; and that cursor.
        self._newest: dict[str, _Slot] = {}
        self._positions: dict[str, Position] = {}

    def current(self, key: str) -> Position | None:
        """The newest cursor loaded or saved by this store (no read)."""
        return self._positions.get(key)

    def load(self, key: str) -> Stored:
        newest: tuple[_Slot, Position] | None = None
        damaged = False
        for index, suffix in enumerate(SLOTS):
            text = self._read(key + suffix)
            if not text:
                continue
            try:
                sequence, position = decode_entry(text)
            except InvalidCursor:
                damaged = True
                continue
            if newest is None or sequence > newest[0].sequence:
                newest = (_Slot(index, sequence), position)
        if newest is None:
            self._newest.pop(key, None)
            self._positions.pop(key, None)
            return Stored(None, damaged=damaged)
        self._newest[key], self._positions[key] = newest
        return Stored(newest[1])

    def save(self, key: str, position: Position) -> None:
        """Write `position` into the slot that does not hold the newest cursor; call `load(key)` first."""
        current = self._newest.get(key)
        slot = _Slot(0, 0) if current is None else _Slot(1 - current.slot, current.sequence + 1)
        self._write(key + SLOTS[slot.slot], encode_entry(slot.sequence, position))
        # Only once the write returned: after a failed one, the next write goes to the same slot again.
        self._newest[key] = slot
        self._positions[key] = position


def encode_entry(sequence: int, position: Position) -> str:
    """The text of one slot: a cursor, its sequence number and their checksum."""
    cursor = position.to_cursor()
    return json.encode({'seq': sequence, 'cursor': cursor, 'crc': _checksum(sequence, cursor)})


def decode_entry(text: str) -> tuple[int, Position]:
    """The sequence number and cursor of one slot's text; InvalidCursor if it is damaged."""
    try:
        value = json.decode(text)
        sequence, cursor, crc = value['seq'], value['cursor'], value['crc']
        valid = type(sequence) is int and sequence >= 0 and crc == _checksum(sequence, cursor)
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        raise InvalidCursor('damaged cursor entry')
    return sequence, Position.from_cursor(cursor)


def _checksum(sequence: int, cursor: dict) -> int:
    # Guards against what is valid JSON yet not what was written (a file system that zero-fills a torn block
    # could, in theory, leave such a thing).
    return zlib.crc32(f'{sequence}\0{cursor.get("timestamp")}\0{cursor.get("id")}'.encode())
