# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME Logs API v1 over the base package's HTTP wrapper: paging, retries, rate limits, and errors sorted by whom
they concern (one stream, or the whole instance)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Iterator, Mapping, NamedTuple
from urllib.parse import quote

from requests.exceptions import RequestException

from .compat import json
from .log_format import decode_page
from .timing import OutOfTime, format_rfc3339, parse_rfc3339

if TYPE_CHECKING:
    from logging import LoggerAdapter

    from datadog_checks.base.utils.http import RequestsWrapper

    from .metrics import CrawlMetrics
    from .timing import AcmeClock, Clock, RunTime

MAX_ATTEMPTS = 4
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
# ACME's limits per token, and the share the check takes, so that other clients of the token keep some. Pacing: at
# most 9 requests in any second, and 270 a minute on average; runs leave pauses, and a run may spend at once what a
# pause saved, up to BURST, so that no 60 seconds ever hold more than 270 + BURST.
PER_SECOND, PER_MINUTE, SHARE = 10, 300, 0.9
SPACING = 1 / (PER_SECOND * SHARE)
RATE = PER_MINUTE * SHARE / 60
BURST = PER_MINUTE * (1 - SHARE) * 0.75
# When the rate-limit headers say this share of a window is left, wait for it to reset: they count every client
# of the token, which pacing alone cannot see.
HEADROOM = 1 - SHARE
DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After (a proxy stripped it): wait this long rather than not at all
MAX_RESET_WAIT = 60.0  # ACME's windows are 1 s and 60 s: a reset further away is not one


class AcmeApiError(Exception):
    """ACME (or a proxy in front of it) did not give a usable answer."""

    def __init__(self, reason: str, *, stream: str | None = None, status: int | None = None, code: str | None = None):
        self.reason, self.stream, self.status, self.code = reason, stream, status, code
        self.retry_after: float | None = None
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f'stream `{self.stream}`' if self.stream else 'the stream listing'
        details = ', '.join(part for part in (f'HTTP {self.status}' if self.status else '', self.code or '') if part)
        return f'{where}: {self.reason}' + (f' ({details})' if details else '')


class TransientApiError(AcmeApiError):
    """Worth retrying later: network failures, timeouts, 5xx, bodies that are not ACME's JSON."""


class RateLimited(TransientApiError):
    """ACME kept answering 429: the token, hence every stream, must wait."""


class AuthenticationError(AcmeApiError):
    """The token was rejected (401) or lacks the `logs:read` scope (403 to the listing): no stream can be read."""


class StreamUnavailable(AcmeApiError):
    """This stream cannot be read (403 or 404); other streams can."""


class RequestRejected(AcmeApiError):
    """ACME refused the query itself (400): retrying the same request cannot help."""


class StartInTheFuture(RequestRejected):
    """`start_time` was after ACME's now when it answered: nothing can be read yet (the Agent's clock is ahead)."""


class PageTokenExpired(AcmeApiError):
    """The page token outlived its 5 minutes; the query must start again."""


# What concerns every stream of the instance, not the one that met it: they end the run.
INSTANCE_FAILURES = (AuthenticationError, RateLimited)


class LogPage(NamedTuple):
    logs: list[Any]
    next_token: str | None
    acme_time: float | None  # ACME's clock when it answered (its `Date`)


class StreamInfo(NamedTuple):
    """A stream of the listing: its id, and its creation instant (nanoseconds; None if absent or unreadable)."""

    id: str
    created_ns: int | None


def secret_forms(secret: str) -> set[str]:
    """`secret` as error texts may quote it: as is, escaped as in a Python or JSON string, or URL-encoded."""
    forms = {secret, repr(secret)[1:-1], json.encode(secret)[1:-1], quote(secret, safe=''), quote(secret)}
    return {form for form in forms if len(form) >= 4}


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
        run_time: RunTime,
        metrics: CrawlMetrics,
        log: LoggerAdapter,
        rng: random.Random,
    ) -> None:
        self._http = http
        self._base_url = url.rstrip('/')
        self._auth_header = {'Authorization': f'Bearer {api_token}'}
        self._secrets = sorted(secret_forms(api_token), key=len, reverse=True)
        self._clock = clock
        self._acme_clock = acme_clock
        self._run_time = run_time
        self._metrics = metrics
        self._log = log
        self._rng = rng  # jitter, so that many Agents do not retry in step
        self.limiter = RateLimiter(clock=clock, acme_clock=acme_clock)

    def streams_page(self, *, limit: int, page_token: str | None = None) -> tuple[list[StreamInfo], str | None]:
        """One page of the streams the token may read, and the next page's token; entries without an id are left out."""
        params: dict[str, Any] = {'page_token': page_token} if page_token else {'limit': limit}
        body = self._get('/api/v1/streams', params, stream=None)[0]
        streams = [
            StreamInfo(entry['id'], _instant(entry.get('created_at')))
            for entry in body['data']
            if isinstance(entry, dict) and isinstance(entry.get('id'), str)
        ]
        return streams, body.get('next_page_token')

    def log_pages(
        self, stream: str, *, start: int, end: int, limit: int, page_token: str | None = None
    ) -> Iterator[LogPage]:
        """The pages of logs of `stream` with timestamps in `[start, end)` (nanoseconds), in ACME's order.

        With `page_token`, continue that earlier query instead (ACME then ignores the other parameters).
        """
        path = f'/api/v1/streams/{quote(stream, safe="")}/logs'
        params: dict[str, Any] = {'start_time': format_rfc3339(start), 'end_time': format_rfc3339(end), 'limit': limit}
        if page_token:
            params = {'page_token': page_token}
        while True:
            body, acme_time = self._get(path, params, stream=stream)
            token = body.get('next_page_token')
            yield LogPage(body['data'], token, acme_time)
            if not token:
                return
            params = {'page_token': token}

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, '********')
        return text

    def _get(self, path: str, params: dict[str, Any], *, stream: str | None) -> tuple[dict[str, Any], float | None]:
        """One logical request: retried with backoff and jitter while failures are transient and time is left."""
        failure: TransientApiError | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                waited = self.limiter.wait(self._run_time)
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
                if attempt == MAX_ATTEMPTS or e.retry_after:  # ACME said when: the stream waits that long
                    raise
                if e.status == 429:
                    continue  # the limiter holds the next attempt for Retry-After
                backoff = self._rng.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                if not self._run_time.allows_wait(backoff):
                    raise
                self._log.debug('Retrying in %.2f s after: %s', backoff, e)
                self._clock.sleep(backoff)
        raise AssertionError('unreachable')  # pragma: no cover

    def _get_once(
        self, path: str, params: dict[str, Any], *, stream: str | None
    ) -> tuple[dict[str, Any], float | None]:
        self._run_time.check()
        started, sent_at = self._clock.monotonic(), self._clock.time()
        try:
            response = self._http.get(self._base_url + path, params=params, extra_headers=self._auth_header)
        except RequestException as e:
            self._metrics.request(stream, None, self._clock.monotonic() - started)
            # The text may quote the URL, a proxy, or a header: scrubbed of the token in every form.
            raise TransientApiError(self.scrub(f'request failed: {type(e).__name__}: {e}'), stream=stream) from None

        status = response.status_code
        self._metrics.request(stream, status, self._clock.monotonic() - started)
        acme_time = self._acme_clock.observe(
            response.headers.get('Date'), sent_at=sent_at, received_at=self._clock.time()
        )
        retry_after = self.limiter.observe(status, response.headers)
        if 200 <= status < 300:
            return _decode_success(response.content, stream=stream, status=status), acme_time
        failure = self._classify_failure(status, response.content, stream=stream)
        failure.retry_after = retry_after if status == 503 else None
        if failure.code == 'start_time_out_of_range' and _starts_after(params, acme_time):
            raise StartInTheFuture(failure.reason, stream=stream, status=status, code=failure.code)
        raise failure

    def _classify_failure(self, status: int, content: bytes, *, stream: str | None) -> AcmeApiError:
        code, message = _acme_error(content)
        reason = self.scrub(message) if message else 'no error details in the answer'
        kind: type[AcmeApiError] = RequestRejected
        if status == 429:
            kind = RateLimited
        elif status >= 500:
            kind = TransientApiError
        elif status == 401:
            kind, reason = AuthenticationError, 'ACME rejected the API token (`api_token`)'
        elif status == 403 and stream is None:
            kind, reason = AuthenticationError, 'the API token lacks the `logs:read` scope'
        elif status in (403, 404) and stream is not None:
            kind, reason = StreamUnavailable, 'the stream does not exist or the token may not read it'
        elif code == 'page_token_expired':
            kind = PageTokenExpired
        elif status == 404:
            reason = 'not found: is `url` the base URL of ACME\'s API?'
        return kind(reason, stream=stream, status=status, code=code)


class RateLimiter:
    """Paces requests within ACME's limits, remembers until when ACME asked the token to hold off, and waits.

    `X-RateLimit-Reset` is a time on ACME's clock, converted to the Agent's; `Retry-After` is a duration. Kept for
    the life of the check instance, so pacing and holds carry over from one run to the next.
    """

    def __init__(self, *, clock: Clock, acme_clock: AcmeClock) -> None:
        self._clock = clock
        self._acme_clock = acme_clock
        self.resume_at = 0.0  # Unix seconds: ACME's holds on the token
        # Pacing, on the monotonic clock: a token bucket refilled at RATE up to BURST, and the last request.
        self._tokens = BURST
        self._tokens_at = clock.monotonic()
        self._last_request = float('-inf')

    def wait(self, run_time: RunTime) -> float:
        """Sleep until the next request may go, then count it; OutOfTime if that is beyond the run's time.

        Returns how long ACME's own signals (429, a spent window) made it wait; pacing is not counted.
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

    def observe(self, status: int, headers: Mapping[str, str]) -> float | None:
        """Learn from an answer when the next request may go; return its Retry-After, if any.

        A 429's Retry-After holds the whole token. A 503's holds only what was asked (one stream, or the listing;
        its caller backs that off), so that one shard's outage does not stop the others.
        """
        now = self._clock.time()
        retry_after = _number(headers.get('Retry-After')) if status in (429, 503) else None
        if status == 429:
            retry_after = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
            self._hold_until(now + retry_after)
        limit = _number(headers.get('X-RateLimit-Limit'))
        remaining = _number(headers.get('X-RateLimit-Remaining'))
        reset = _number(headers.get('X-RateLimit-Reset'))
        if limit and remaining is not None and reset is not None and remaining <= max(1.0, limit * HEADROOM):
            self._hold_until(min(self._acme_clock.to_local(reset), now + MAX_RESET_WAIT))
        return retry_after

    def _hold_until(self, moment: float) -> None:
        self.resume_at = max(self.resume_at, moment)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _starts_after(params: dict[str, Any], acme_time: float | None) -> bool:
    """Whether the request's `start_time` lay in ACME's future when it answered."""
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


def _acme_error(content: bytes) -> tuple[str | None, str | None]:
    """ACME's `{"error": {"code", "message"}}`, or nothing when a proxy answered with HTML or an empty body."""
    try:
        error = json.decode(content)['error']
        return str(error.get('code')), str(error.get('message'))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, None
