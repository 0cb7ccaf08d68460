# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What the sandbox saw, so tests can assert on the client's behaviour and not only its output."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestRecord:
    path: str
    # The stream a logs request addressed (None for the streams listing and unknown paths).
    stream: str | None
    status: int
    # The query's bounds: from the parameters, or from the page token on later pages.
    start_time_ns: int | None
    end_time_ns: int | None
    # Number of logs in the answer, and the extremes of their timestamps.
    served: int
    min_served_ts_ns: int | None
    max_served_ts_ns: int | None
    # ACME's now (the sandbox's clock() + clock_offset) when the request arrived.
    clock: float
    page_token: bool = False
    limit: int | None = None
    # Arrived before the Retry-After deadline this token had been given (or, for a failing stream,
    # that this stream had been given).
    violation: bool = False
    # Name of the injected fault, if any ('disconnect', 'error', 'non_json', 'slow', 'token_expiry', 'short_page',
    # or 'stream_failure' for a logs request answered by fail_stream's outage).
    fault: str | None = None
    error_code: str | None = None
    # The account the token opened (its label, never the token); None when authentication failed.
    account: str | None = None


@dataclass(frozen=True)
class SandboxStats:
    """A consistent snapshot; reading sandbox.stats again gives a fresh one."""

    requests: int = 0
    # TCP connections accepted: with keep-alive, fewer than requests.
    connections: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    violations: int = 0
    by_stream: dict[str, int] = field(default_factory=dict)
    logs_served: int = 0
    records: list[RequestRecord] = field(default_factory=list)


class StatsRecorder:
    def __init__(self, *, max_records: int | None = 100_000) -> None:
        # Bounded so a long-running dev environment does not grow without end.
        self._max_records = max_records
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._connections = 0
            self._violations = 0
            self._logs_served = 0
            self._by_status: Counter[int] = Counter()
            self._by_stream: Counter[str] = Counter()
            self._records: deque[RequestRecord] = deque(maxlen=self._max_records)

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests += 1
            self._by_status[record.status] += 1
            self._violations += record.violation
            if record.stream is not None:
                self._by_stream[record.stream] += 1
            self._logs_served += record.served
            self._records.append(record)

    def connection(self) -> None:
        with self._lock:
            self._connections += 1

    def snapshot(self) -> SandboxStats:
        with self._lock:
            return SandboxStats(
                requests=self._requests,
                connections=self._connections,
                by_status=dict(self._by_status),
                violations=self._violations,
                by_stream=dict(self._by_stream),
                logs_served=self._logs_served,
                records=list(self._records),
            )
