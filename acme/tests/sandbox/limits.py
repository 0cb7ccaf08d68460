# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Per-token rate limiting: fixed one-second and one-minute windows on the sandbox clock.

Besides the windows, the limiter remembers the deadline it gave each token (Retry-After on a
429) so tests can count clients that ignore it: "clients that keep sending while limited may be
limited for longer".
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

# What the headers say when limits are off: large enough that no client throttles itself.
_UNLIMITED = 1_000_000


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int | None
    # The request arrived before a deadline this token had been told to wait for.
    violation: bool

    def headers(self) -> dict[str, str]:
        headers = {
            'X-RateLimit-Limit': str(self.limit),
            'X-RateLimit-Remaining': str(self.remaining),
            'X-RateLimit-Reset': str(self.reset),
        }
        if self.retry_after is not None:
            headers['Retry-After'] = str(self.retry_after)
        return headers


@dataclass
class _Bucket:
    second_start: int = -1
    second_count: int = 0
    minute_start: int = -1
    minute_count: int = 0
    deadline: float = -math.inf


class RateLimiter:
    def __init__(
        self,
        *,
        enabled: bool,
        per_second: int,
        per_minute: int,
        violation_penalty: float = 1.0,
    ) -> None:
        if per_second < 1 or per_minute < 1:
            raise ValueError('rate limits must allow at least one request per window')
        self.enabled = enabled
        self.per_second = per_second
        self.per_minute = per_minute
        self.violation_penalty = violation_penalty
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, now: float) -> RateDecision:
        """Admit (and count) one request from `key` at `now`, or refuse it."""
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket())
            second, minute = math.floor(now), math.floor(now / 60) * 60
            if bucket.second_start != second:
                bucket.second_start, bucket.second_count = second, 0
            if bucket.minute_start != minute:
                bucket.minute_start, bucket.minute_count = minute, 0
            violation = now < bucket.deadline
            if not self.enabled:
                return RateDecision(True, _UNLIMITED, _UNLIMITED, minute + 60, None, violation)
            if violation:
                bucket.deadline += self.violation_penalty
                return self._refuse(bucket, now, bucket.deadline, violation=True)
            full = [
                reset
                for count, limit, reset in (
                    (bucket.second_count, self.per_second, second + 1),
                    (bucket.minute_count, self.per_minute, minute + 60),
                )
                if count >= limit
            ]
            if full:
                bucket.deadline = now + _whole_seconds(max(full) - now)
                return self._refuse(bucket, now, bucket.deadline, violation=False)
            bucket.second_count += 1
            bucket.minute_count += 1
            # Report the window closest to refusing; on a tie the later reset is the honest one.
            remaining, reset, limit = min(
                (self.per_second - bucket.second_count, -(second + 1), self.per_second),
                (self.per_minute - bucket.minute_count, -(minute + 60), self.per_minute),
            )
            return RateDecision(True, limit, remaining, -reset, None, violation=False)

    def _refuse(self, bucket: _Bucket, now: float, deadline: float, *, violation: bool) -> RateDecision:
        minute_full = bucket.minute_count >= self.per_minute
        limit = self.per_minute if minute_full else self.per_second
        window_reset = bucket.minute_start + 60 if minute_full else bucket.second_start + 1
        return RateDecision(
            allowed=False,
            limit=limit,
            remaining=0,
            reset=max(window_reset, math.ceil(deadline)),
            retry_after=_whole_seconds(deadline - now),
            violation=violation,
        )

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


def _whole_seconds(seconds: float) -> int:
    # Retry-After is an integer; rounding up means a client that obeys it is never early.
    return max(1, math.ceil(seconds))
