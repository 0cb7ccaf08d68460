# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's rate limits, obeyed for a whole instance: every stream waits when one is told to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from .errors import OutOfTime

if TYPE_CHECKING:
    from .acme_clock import AcmeClock
    from .clock import Clock
    from .run_time import RunTime

# Stop when this share of a window's budget is left, so other clients of the same token keep some.
HEADROOM = 0.1
# A 429 always carries Retry-After; if a proxy strips it, wait this long rather than not at all.
DEFAULT_RETRY_AFTER = 1.0
# `X-RateLimit-Reset` further away than this is not a window ACME documents (it has 1 s and 60 s ones).
MAX_RESET_WAIT = 60.0


class RateLimiter:
    """Remembers until when ACME asked us to hold off, and waits it out before the next request.

    `X-RateLimit-Reset` is a time on ACME's clock, converted to the Agent's; `Retry-After` is a duration.
    """

    def __init__(self, *, clock: Clock, acme_clock: AcmeClock) -> None:
        self._clock = clock
        self._acme_clock = acme_clock
        self.resume_at = 0.0  # Unix seconds; kept on the check instance, so it also holds across runs.

    def wait(self, run_time: RunTime) -> float:
        """Sleep until requests may resume; raise OutOfTime if that is beyond the run's time."""
        delay = self.resume_at - self._clock.time()
        if delay <= 0:
            return 0.0
        if not run_time.allows_wait(delay):
            raise OutOfTime(f'ACME asked to wait {delay:.1f} s, beyond this run\'s `max_run_time`')
        self._clock.sleep(delay)
        return delay

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer's status and rate-limit headers when the next request may go."""
        now = self._clock.time()
        if status in (429, 503):
            retry_after = _number(headers.get('Retry-After'))
            if retry_after is None and status == 429:
                retry_after = DEFAULT_RETRY_AFTER
            if retry_after is not None:
                self._hold_until(now + retry_after)

        limit = _number(headers.get('X-RateLimit-Limit'))
        remaining = _number(headers.get('X-RateLimit-Remaining'))
        reset = _number(headers.get('X-RateLimit-Reset'))
        if limit and remaining is not None and reset is not None and remaining <= max(1.0, limit * HEADROOM):
            self._hold_until(min(self._acme_clock.to_local(reset), now + MAX_RESET_WAIT))

    def _hold_until(self, moment: float) -> None:
        self.resume_at = max(self.resume_at, moment)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
