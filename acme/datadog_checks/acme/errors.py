# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What can go wrong talking to ACME, sorted by what the crawler does about it."""

from __future__ import annotations


class AcmeApiError(Exception):
    """ACME (or a proxy in front of it) did not give a usable answer."""

    def __init__(self, reason: str, *, stream: str | None = None, status: int | None = None, code: str | None = None):
        self.reason = reason
        self.stream = stream
        self.status = status
        self.code = code
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f'stream `{self.stream}`' if self.stream else 'the stream listing'
        details = ', '.join(part for part in (f'HTTP {self.status}' if self.status else '', self.code or '') if part)
        return f'{where}: {self.reason}' + (f' ({details})' if details else '')


class TransientApiError(AcmeApiError):
    """Worth retrying later: network failures, timeouts, 5xx, bodies that are not ACME's JSON."""


class AuthenticationError(AcmeApiError):
    """The token was rejected (401) or lacks the `logs:read` scope (403): no stream can be read."""


class StreamUnavailable(AcmeApiError):
    """This stream cannot be read (403 or 404); other streams can."""


class RequestRejected(AcmeApiError):
    """ACME refused the query itself (400): retrying the same request cannot help."""


class StartInTheFuture(RequestRejected):
    """`start_time` was after ACME's now when it answered: nothing can be read yet (the Agent's clock is ahead)."""


class PageTokenExpired(AcmeApiError):
    """The page token outlived its 5 minutes; the query must start again."""


class RunOver(Exception):
    """The run has spent what it may; everything submitted is checkpointed and the next run resumes."""


class OutOfTime(RunOver):
    """The run's `max_run_time` is spent, or ACME asked us to wait beyond it."""


class OutOfBytes(RunOver):
    """The run handed the Agent all the bytes its integration log file can take now."""
