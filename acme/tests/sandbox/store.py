# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Log storage for one stream, kept in the contract's order: (timestamp instant, id).

Benchmarks crawl up to a million logs and compare the client against raw fetching, so the
server must never be the bottleneck: every log is JSON-encoded once, when it is added, and a
page is a slice of pre-encoded bytes joined with commas.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

# Python compares str by code point, and UTF-8 preserves code point order, so tuple order on
# (int, str) is exactly the contract's "instant, then id byte by byte".
LogKey = tuple[int, str]

# Below this many logs per batch, inserting one by one beats re-sorting the whole stream;
# the live feed adds a handful per second to streams that can hold millions.
_INSORT_MAX = 256


class StoredLog(NamedTuple):
    key: LogKey
    visible_ns: int
    blob: bytes


@dataclass(frozen=True)
class Page:
    blobs: list[bytes]
    # Where the next page resumes: the last log served, or the caller's own position if none was.
    last_key: LogKey | None
    more: bool
    min_ts_ns: int | None
    max_ts_ns: int | None


class StreamLogs:
    """Sorted logs of one stream. Not thread-safe: the sandbox serialises access."""

    def __init__(self) -> None:
        # Parallel lists rather than one list of objects: bisect works on plain tuples at C
        # speed, and a million small objects would double the memory.
        self._keys: list[LogKey] = []
        self._visible: list[int] = []
        self._blobs: list[bytes] = []
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, logs: list[StoredLog]) -> None:
        batch_ids = {log.key[1] for log in logs}
        if len(batch_ids) != len(logs):
            raise ValueError('duplicate ids within one batch: ids are unique within a stream')
        reused = batch_ids & self._ids
        if reused:
            raise ValueError(f'ids are never reused within a stream: {sorted(reused)[:5]}')
        self._ids |= batch_ids
        if len(logs) <= _INSORT_MAX:
            for log in logs:
                index = bisect_left(self._keys, log.key)
                self._keys.insert(index, log.key)
                self._visible.insert(index, log.visible_ns)
                self._blobs.insert(index, log.blob)
            return
        # Timsort is linear on the usual input (an old sorted run plus a sorted new run).
        merged = sorted([*zip(self._keys, self._visible, self._blobs), *logs], key=itemgetter(0))
        self._keys = [row[0] for row in merged]
        self._visible = [row[1] for row in merged]
        self._blobs = [row[2] for row in merged]

    def prune(self, before_ns: int) -> int:
        """Forget logs older than `before_ns` (retention); returns how many went."""
        cut = bisect_left(self._keys, (before_ns, ''))
        for key in self._keys[:cut]:
            self._ids.discard(key[1])
        del self._keys[:cut], self._visible[:cut], self._blobs[:cut]
        return cut

    def page(
        self,
        *,
        start_ns: int,
        end_ns: int,
        after: LogKey | None,
        now_ns: int,
        take: int,
    ) -> Page:
        """Up to `take` logs readable at `now_ns` with start_ns <= ts < end_ns, strictly after `after`."""
        keys, visible, blobs = self._keys, self._visible, self._blobs
        index = bisect_left(keys, (start_ns, ''))
        if after is not None:
            index = max(index, bisect_right(keys, after))
        served: list[bytes] = []
        last_key = after
        first_ts: int | None = None
        count = len(keys)
        while index < count and len(served) < take:
            key = keys[index]
            if key[0] >= end_ns:
                break
            # A late log not yet readable is skipped, not waited for: the contract lets a query
            # whose range is within the ingestion delay miss it.
            if visible[index] <= now_ns:
                served.append(blobs[index])
                last_key = key
                if first_ts is None:
                    first_ts = key[0]
            index += 1
        more = False
        while index < count and keys[index][0] < end_ns:
            if visible[index] <= now_ns:
                more = True
                break
            index += 1
        return Page(
            blobs=served,
            last_key=last_key,
            more=more,
            min_ts_ns=first_ts,
            max_ts_ns=last_key[0] if served and last_key is not None else None,
        )
