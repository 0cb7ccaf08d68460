# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's rate limits, obeyed for a whole instance: the check paces itself, and every stream waits when told to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from .errors import OutOfTime

if TYPE_CHECKING:
    from .acme_clock import AcmeClock
    from .clock import Clock
    from .run_time import RunTime

# ACME's limits per token, and the share of them the check takes, so that other clients of the token keep some.
PER_SECOND = 10
PER_MINUTE = 300
SHARE = 0.9
# Pacing: at most 9 requests in any second (one per 1/9 s), and 270 a minute on average. Runs leave pauses; a run
# may spend at once what a pause saved, up to BURST, so that no 60 seconds ever hold more than 270 + BURST.
SPACING = 1 / (PER_SECOND * SHARE)
RATE = PER_MINUTE * SHARE / 60
BURST = PER_MINUTE * (1 - SHARE) * 0.75
# When the rate-limit headers say this share of a window is left, wait for the window to reset: the headers count
# every client of the token, which pacing alone cannot see.
HEADROOM = 1 - SHARE
# A 429 always carries Retry-After; if a proxy strips it, wait this long rather than not at all.
DEFAULT_RETRY_AFTER = 1.0
# `X-RateLimit-Reset` further away than this is not a window ACME documents (it has 1 s and 60 s ones).
MAX_RESET_WAIT = 60.0


class RateLimiter:
    """Paces requests within ACME's limits, remembers until when ACME asked to hold off, and waits before a request.

    `X-RateLimit-Reset` is a time on ACME's clock, converted to the Agent's; `Retry-After` is a duration.
    Kept on the check instance, so pacing and holds carry over from one run to the next.
    """

    def __init__(self, *, clock: Clock, acme_clock: AcmeClock) -> None:
        self._clock = clock
        self._acme_clock = acme_clock
        self.resume_at = 0.0  # Unix seconds: ACME's holds
        # Pacing, on the monotonic clock: a token bucket refilled at RATE up to BURST, and the last request.
        self._tokens = BURST
        self._tokens_at = clock.monotonic()
        self._last_request = float('-inf')

    def wait(self, run_time: RunTime) -> float:
        """Sleep until the next request may go, then count it; raise OutOfTime if that is beyond the run's time.

        Returns how long ACME's own signals (429, Retry-After, a spent window) made it wait; pacing is not counted.
        """
        now = self._clock.monotonic()
        held = max(0.0, self.resume_at - self._clock.time())
        paced = max(self._last_request + SPACING - now, (1 - self._refilled(now)) / RATE, 0.0)
        delay = max(held, paced)
        if delay > 0:
            if not run_time.allows_wait(delay):
                raise OutOfTime(f'waiting {delay:.1f} s for ACME\'s rate limits would pass this run\'s `max_run_time`')
            self._clock.sleep(delay)
            now = self._clock.monotonic()
        self._tokens = self._refilled(now) - 1
        self._tokens_at = self._last_request = now
        return held

    def _refilled(self, now: float) -> float:
        return min(BURST, self._tokens + (now - self._tokens_at) * RATE)

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
