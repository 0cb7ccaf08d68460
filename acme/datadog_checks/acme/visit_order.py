# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Which stream a run visits next: the one that has waited longest since its last visit.

ACME allows a token about 5 requests a second, so with N streams none can be visited more often than every N / 5
seconds. Visiting least recently visited first, a page per visit while others wait, comes closest: every stream
waits at most one round of the others, and a stream with a backlog takes more than its share only when no other
stream is waiting longer (after all the others were visited in the run).
"""

from __future__ import annotations

from typing import Iterable


class VisitOrder:
    """When each stream (by cursor key) was last visited, kept for the life of the check instance."""

    def __init__(self) -> None:
        self._last_visit: dict[str, float] = {}

    def order(self, keys: Iterable[str]) -> list[str]:
        """`keys` least recently visited first; ties, and keys without a visit (last), keep their given order."""
        keys = list(keys)
        position = {key: index for index, key in enumerate(keys)}
        return sorted(keys, key=lambda key: (self._last_visit.get(key, float('inf')), position[key]))

    def visited(self, key: str, at: float) -> None:
        self._last_visit[key] = at

    def forget(self, key: str) -> None:
        self._last_visit.pop(key, None)
