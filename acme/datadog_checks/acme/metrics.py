# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The crawler's own telemetry: how much it sends and skips, how ACME answers, and how far behind it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datadog_checks.base import AgentCheck

    from .stream import Visit

STREAM_TAG = 'acme_stream'
LISTING = 'none'  # the `acme_stream` tag of requests that list streams


class CrawlMetrics:
    """Names and tags every metric in one place; values are submitted through the check."""

    def __init__(self, check: AgentCheck) -> None:
        self._check = check

    def _tags(self, stream: str | None, *extra: str) -> list[str]:
        return [f'{STREAM_TAG}:{stream or LISTING}', *extra, *(self._check.config.tags or ())]

    def visited(self, stream: str, visit: Visit, *, sent_bytes: int, now: float) -> None:
        """What one visit of a stream did, and how far behind now it left the stream."""
        tags = self._tags(stream)
        self._check.count('logs.submitted', visit.submitted, tags=tags)
        self._check.count('logs.bytes_submitted', sent_bytes, tags=tags)
        self._check.count('logs.truncated', visit.truncated, tags=tags)
        for reason, skipped in visit.skipped.items():
            self._check.count('logs.skipped', skipped.count, tags=self._tags(stream, f'reason:{reason}'))
        self._check.gauge('crawl.lag', now - visit.position.nanos / 1e9, tags=tags)

    def request(self, stream: str | None, status: int | None, seconds: float) -> None:
        status_class = f'{status // 100}xx' if status else 'error'
        tags = self._tags(stream, f'status_class:{status_class}')
        self._check.count('api.requests', 1, tags=tags)
        self._check.gauge('api.request.duration', seconds, tags=tags)

    def rate_limit_wait(self, stream: str | None, seconds: float) -> None:
        self._check.count('api.rate_limit.waits', 1, tags=self._tags(stream))
        self._check.count('api.rate_limit.wait_time', seconds, tags=self._tags(stream))

    def clock_skew(self, seconds: float) -> None:
        self._check.gauge('clock.skew', seconds, tags=list(self._check.config.tags or ()))
