# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Fault knobs: the transient failures the contract allows, injected at seeded random.

A faulted request never changes state the contract does not allow: it does not consume a page
token (tokens are stateless) and does not advance anything but the rate-limit counters, which
count every request ACME answers.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass, fields


@dataclass
class Faults:
    """Probabilities (0..1) per request. Mutable: a test may change them while the server runs."""

    # 500/502/503/504; a 503 sometimes carries Retry-After; bodies are JSON, HTML or empty.
    error_rate: float = 0.0
    # 200 whose body is an HTML page (a proxy that answered first).
    non_json_rate: float = 0.0
    # Close the connection without answering.
    disconnect_rate: float = 0.0
    # Sleep slow_seconds of real time before answering, to trigger client timeouts.
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    # Reject a page_token as expired before its time.
    token_expiry_rate: float = 0.0
    # Serve fewer logs than `limit`, sometimes none, and still hand out a next page token.
    short_page_rate: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name != 'slow_seconds' and not 0.0 <= value <= 1.0:
                raise ValueError(f'{field.name} must lie in [0, 1], got {value}')

    @classmethod
    def mixed(cls, rate: float) -> Faults:
        """One knob for demos and the CLI: every fault, at rates that still let a crawl progress."""
        return cls(
            error_rate=rate,
            non_json_rate=rate / 4,
            disconnect_rate=rate / 4,
            slow_rate=rate / 10,
            slow_seconds=2.0,
            token_expiry_rate=rate / 4,
            short_page_rate=rate,
        )


@dataclass(frozen=True)
class CannedResponse:
    status: int
    body: bytes
    content_type: str | None
    retry_after: int | None = None


_PROXY_PAGE = (
    '<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n'
    '<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'
)
_MAINTENANCE_PAGE = (
    '<!DOCTYPE html>\n<html><head><title>ACME is down for maintenance</title></head>\n'
    '<body><h1>We&rsquo;ll be right back</h1><p>Please try again in a few minutes.</p></body></html>\n'
)
_ERRORS = {
    500: ('Internal Server Error', 'internal_error'),
    502: ('Bad Gateway', 'bad_gateway'),
    503: ('Service Temporarily Unavailable', 'unavailable'),
    504: ('Gateway Time-out', 'gateway_timeout'),
}


@dataclass
class StreamFailure:
    """One stream's own outage (a shard down): ACME answers its logs requests with `status` until healed.

    Unlike the injected errors above, this is ACME itself answering, so the body is always ACME's
    JSON error, and a Retry-After binds requests for this stream only, not the token.
    """

    status: int
    retry_after: int | None = None
    # ACME's now before which a request for this stream ignores the Retry-After last given for it.
    deadline: float = -math.inf

    def __post_init__(self) -> None:
        if (
            isinstance(self.status, bool)
            or not isinstance(self.status, int)
            or not (self.status == 429 or self.status // 100 == 5)
        ):
            raise ValueError(f'status must be 429 or a 5xx integer, got {self.status!r}')
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int) or self.retry_after < 0
        ):
            # The contract's Retry-After is whole seconds.
            raise ValueError(f'retry_after must be a non-negative integer or None, got {self.retry_after!r}')

    def describe(self, stream_id: str) -> tuple[str, str]:
        """The error `code` and `message` ACME answers with."""
        reason, code = {**_ERRORS, 429: ('Too Many Requests', 'rate_limited')}.get(
            self.status, ('Server Error', 'internal_error')
        )
        return code, f'{reason}: stream {stream_id!r} is temporarily unavailable'


class FaultInjector:
    """Draws fault decisions from one seeded generator, so a single-threaded run is reproducible."""

    def __init__(self, faults: Faults, *, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f'faults:{seed}')
        self._lock = threading.Lock()

    def _hit(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def disconnect(self) -> bool:
        return self._hit(self.faults.disconnect_rate)

    def delay(self) -> float:
        return self.faults.slow_seconds if self._hit(self.faults.slow_rate) else 0.0

    def error(self) -> CannedResponse | None:
        if not self._hit(self.faults.error_rate):
            return None
        with self._lock:
            status = self._rng.choice(tuple(_ERRORS))
            style = self._rng.choice(('json', 'html', 'empty'))
            retry_after = self._rng.randint(1, 5) if status == 503 and self._rng.random() < 0.5 else None
        reason, code = _ERRORS[status]
        if style == 'json':
            body = json.dumps({'error': {'code': code, 'message': f'{reason} (injected)'}}).encode()
            return CannedResponse(status, body, 'application/json', retry_after)
        if style == 'html':
            return CannedResponse(
                status, _PROXY_PAGE.format(status=status, reason=reason).encode(), 'text/html', retry_after
            )
        return CannedResponse(status, b'', None, retry_after)

    def non_json(self) -> CannedResponse | None:
        if not self._hit(self.faults.non_json_rate):
            return None
        return CannedResponse(200, _MAINTENANCE_PAGE.encode(), 'text/html; charset=utf-8')

    def expire_token(self) -> bool:
        return self._hit(self.faults.token_expiry_rate)

    def short_take(self, limit: int) -> int | None:
        """A smaller page size to serve instead of `limit`, or None to serve normally."""
        if not self._hit(self.faults.short_page_rate):
            return None
        with self._lock:
            # Empty pages are the case naive clients treat as "done"; make them common.
            return 0 if self._rng.random() < 0.4 else self._rng.randrange(0, limit)
