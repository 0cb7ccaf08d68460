# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME Logs API v1 over the Agent's HTTP wrapper: paging, retries, rate limits and error sorting."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple
from urllib.parse import quote

from requests.exceptions import RequestException

from .acme_json import decode_page
from .compat import json
from .errors import (
    AcmeApiError,
    AuthenticationError,
    OutOfTime,
    PageTokenExpired,
    RequestRejected,
    StartInTheFuture,
    StreamUnavailable,
    TransientApiError,
)
from .timestamps import format_rfc3339, parse_rfc3339

if TYPE_CHECKING:
    from logging import LoggerAdapter

    from datadog_checks.base.utils.http import RequestsWrapper

    from .acme_clock import AcmeClock
    from .clock import Clock
    from .metrics import CrawlMetrics
    from .ratelimit import RateLimiter
    from .run_time import RunTime

MAX_ATTEMPTS = 5
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0


class LogPage(NamedTuple):
    logs: list[Any]
    next_token: str | None
    acme_time: float | None  # ACME's clock when it answered (its `Date`)

    @property
    def last(self) -> bool:
        return not self.next_token


class StreamInfo(NamedTuple):
    """A stream of the listing: its id, and its creation instant (nanoseconds; None if unreadable)."""

    id: str
    created_ns: int | None


class ListingPage(NamedTuple):
    streams: list[StreamInfo]
    next_token: str | None


class _Answer(NamedTuple):
    body: dict[str, Any]
    acme_time: float | None


class AcmeClient:
    """Talks to one ACME endpoint with one token; every request goes through the check's `self.http`."""

    def __init__(
        self,
        *,
        http: RequestsWrapper,
        url: str,
        api_token: str,
        clock: Clock,
        acme_clock: AcmeClock,
        limiter: RateLimiter,
        metrics: CrawlMetrics,
        log: LoggerAdapter,
        rng: random.Random,
    ) -> None:
        self._http = http
        self._base_url = url.rstrip('/')
        self._auth_header = {'Authorization': f'Bearer {api_token}'}
        self._clock = clock
        self._acme_clock = acme_clock
        self._limiter = limiter
        self._metrics = metrics
        self._log = log
        self._rng = rng  # jitter, so that many Agents do not retry in step
        self._run_time: RunTime | None = None

    def begin_run(self, run_time: RunTime) -> None:
        """The time budget that bounds requests, retries and waits in this run."""
        self._run_time = run_time

    def streams_page(self, *, limit: int, page_token: str | None = None) -> ListingPage:
        """One page of the streams the token may read; entries without a valid id are left out."""
        params: dict[str, Any] = {'page_token': page_token} if page_token else {'limit': limit}
        body = self._get('/api/v1/streams', params, stream=None).body
        streams = [
            StreamInfo(entry['id'], _instant(entry.get('created_at')))
            for entry in body['data']
            if isinstance(entry, dict) and isinstance(entry.get('id'), str)
        ]
        return ListingPage(streams, body.get('next_page_token'))

    def log_pages(
        self, stream: str, *, start: int, end: int, limit: int, page_token: str | None = None
    ) -> Iterator[LogPage]:
        """Yield the pages of logs of `stream` with timestamps in `[start, end)` (nanoseconds), in ACME's order.

        With `page_token`, continue that earlier query instead (ACME then ignores the other parameters).
        """
        path = f'/api/v1/streams/{quote(stream, safe="")}/logs'
        params: dict[str, Any] = {'start_time': format_rfc3339(start), 'end_time': format_rfc3339(end), 'limit': limit}
        if page_token:
            params = {'page_token': page_token}
        while True:
            answer = self._get(path, params, stream=stream)
            token = answer.body.get('next_page_token')
            yield LogPage(answer.body['data'], token, answer.acme_time)
            if not token:
                return
            params = {'page_token': token}

    def _get(self, path: str, params: dict[str, Any], *, stream: str | None) -> _Answer:
        """One logical request: retried with backoff and jitter while failures are transient and time is left."""
        assert self._run_time is not None, 'begin_run() first'
        failure: TransientApiError | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                waited = self._limiter.wait(self._run_time)
            except OutOfTime:
                if failure:
                    raise failure from None  # the failure, not the wait it caused, is what the operator needs
                raise
            if waited:
                self._metrics.rate_limit_wait(stream, waited)
            try:
                return self._get_once(path, params, stream=stream)
            except TransientApiError as e:
                failure = e
                if attempt == MAX_ATTEMPTS:
                    raise
                if e.status == 429:
                    continue  # the limiter already holds the next attempt for Retry-After
                backoff = self._rng.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                if not self._run_time.allows_wait(backoff):
                    raise
                self._log.debug('Retrying in %.2f s after: %s', backoff, e)
                self._clock.sleep(backoff)
        raise AssertionError('unreachable')  # pragma: no cover

    def _get_once(self, path: str, params: dict[str, Any], *, stream: str | None) -> _Answer:
        assert self._run_time is not None
        self._run_time.check()
        started, sent_at = self._clock.monotonic(), self._clock.time()
        try:
            response = self._http.get(self._base_url + path, params=params, extra_headers=self._auth_header)
        except RequestException as e:
            self._metrics.request(stream, None, self._clock.monotonic() - started)
            # The exception text can carry the URL and proxy details, never the headers, so it is safe to show.
            raise TransientApiError(f'request failed: {type(e).__name__}: {e}', stream=stream) from None

        status = response.status_code
        self._metrics.request(stream, status, self._clock.monotonic() - started)
        acme_time = self._acme_clock.observe(
            response.headers.get('Date'), sent_at=sent_at, received_at=self._clock.time()
        )
        self._limiter.observe(status, response.headers)
        if 200 <= status < 300:
            return _Answer(_decode_success(response.content, stream=stream, status=status), acme_time)
        failure = _classify_failure(status, response.content, stream=stream)
        if failure.code == 'start_time_out_of_range' and _starts_after(params, acme_time):
            raise StartInTheFuture(failure.reason, stream=stream, status=status, code=failure.code)
        raise failure


def _starts_after(params: dict[str, Any], acme_time: float | None) -> bool:
    """Whether the request's `start_time` lay in ACME's future when ACME answered."""
    try:
        return acme_time is not None and parse_rfc3339(params['start_time']) > acme_time * 1e9
    except (KeyError, ValueError):
        return False


def _instant(value: Any) -> int | None:
    try:
        return parse_rfc3339(value)
    except (TypeError, ValueError):
        return None


def _decode_success(content: bytes, *, stream: str | None, status: int) -> dict[str, Any]:
    try:
        body = decode_page(content)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get('data'), list):
        # A proxy or load balancer answered instead of ACME (HTML or empty body).
        raise TransientApiError('answer is not ACME JSON with a `data` list', stream=stream, status=status)
    token = body.get('next_page_token')
    if token is not None and not isinstance(token, str):
        raise TransientApiError('`next_page_token` is neither a string nor null', stream=stream, status=status)
    return body


def _classify_failure(status: int, content: bytes, *, stream: str | None) -> AcmeApiError:
    code, message = _acme_error(content)
    reason = message or 'no error details in the answer'
    if status == 429 or status >= 500:
        return TransientApiError(reason, stream=stream, status=status, code=code)
    if status == 401:
        return AuthenticationError('ACME rejected the API token (`api_token`)', stream=stream, status=status, code=code)
    if status == 403 and stream is None:
        return AuthenticationError('the API token lacks the `logs:read` scope', stream=stream, status=status, code=code)
    if status in (403, 404) and stream is not None:
        return StreamUnavailable(
            'the stream does not exist or the token may not read it', stream=stream, status=status, code=code
        )
    if code == 'page_token_expired':
        return PageTokenExpired(reason, stream=stream, status=status, code=code)
    if status == 404:
        reason = 'not found: is `url` the base URL of ACME\'s API?'
    return RequestRejected(reason, stream=stream, status=status, code=code)


def _acme_error(content: bytes) -> tuple[str | None, str | None]:
    """ACME's `{"error": {"code", "message"}}`, or nothing when a proxy answered with HTML or an empty body."""
    try:
        error = json.decode(content)['error']
        return str(error.get('code')), str(error.get('message'))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, None
