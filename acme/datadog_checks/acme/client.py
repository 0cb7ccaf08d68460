# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME Logs API v1 over the check's `self.http`: paging, retries, rate limits, and errors sorted by whom they
concern (one stream, or the whole instance)."""

from __future__ import annotations

import json as stdlib_json
import random
import re
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple
from urllib.parse import quote

from requests.exceptions import ProxyError, RequestException, SSLError, Timeout

from .compat import json
from .log_format import decode_page
from .timing import RunOver, format_rfc3339, instant_or_none

if TYPE_CHECKING:
    from datadog_checks.base.utils.http import RequestsWrapper

    from .check import Crawl

MAX_ATTEMPTS = 3
BACKOFF_BASE, BACKOFF_CAP = 0.5, 2.0
# Pacing at ACME's sustained rate, 300 requests a minute, with a burst of what a pause between runs saves (a third
# of the Agent's 15 s): requests spread over runs, and each stream's turn comes evenly. The rate-limit headers, which
# count every client of the token, stop it where a window is spent; they also keep bursts within 10 a second.
RATE, BURST = 5.0, 25.0
DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After (a proxy stripped it): wait this long rather than not at all
MAX_RESET_WAIT = 60.0  # ACME's windows are 1 s and 60 s: a reset further away is not one
RETRY_CAP = 300.0  # the longest Retry-After obeyed: an hour's, or `inf`, would look like a dead check


class AcmeApiError(Exception):
    """ACME (or a proxy in front of it) did not give a usable answer."""

    def __init__(self, reason: str, *, stream: str | None = None, status: int | None = None, code: str | None = None):
        self.reason, self.stream, self.status, self.code = reason, stream, status, code
        self.retry_after: float | None = None
        where = f'stream `{stream}`' if stream else 'the stream listing'
        details = ', '.join(part for part in (f'HTTP {status}' if status else '', code or '') if part)
        super().__init__(f'{where}: {reason}' + (f' ({details})' if details else ''))


class TransientApiError(AcmeApiError): ...  # worth retrying later: network failures, timeouts, 5xx, non-JSON bodies


class RateLimited(TransientApiError): ...  # ACME kept answering 429: the token, hence every stream, must wait


class AuthenticationError(AcmeApiError): ...  # the token rejected (401), or without `logs:read` (403 to the listing)


class StreamUnavailable(AcmeApiError): ...  # this stream cannot be read (403, 404); the others can


class PageTokenExpired(AcmeApiError): ...  # the page token outlived its 5 minutes: the query must start again


INSTANCE_FAILURES = (AuthenticationError, RateLimited)  # they concern every stream: they end the run


StreamInfo = NamedTuple('StreamInfo', [('id', str), ('created_ns', 'int | None')])  # `created_at`, if readable


def secret_forms(secret: str) -> set[str]:
    """`secret` as error texts may quote it: as is, escaped as in a Python or JSON string (`\\uXXXX` in either case),
    or URL-encoded (`%XX` in either case)."""
    forms = {secret, repr(secret)[1:-1], quote(secret, safe=''), quote(secret)}
    forms |= {stdlib_json.dumps(secret)[1:-1], stdlib_json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= {re.sub(r'%([0-9A-F]{2})', lambda m: '%' + m[1].lower(), form) for form in forms}
    forms |= {re.sub(r'\\u([0-9a-f]{4})', lambda m: '\\u' + m[1].upper(), form) for form in forms}
    return {form for form in forms if len(form) >= 4}


class AcmeClient:
    """One ACME endpoint and token; every request goes through the check's `self.http`."""

    def __init__(self, crawl: Crawl, *, http: RequestsWrapper, url: str, api_token: str, rng: random.Random) -> None:
        self._crawl, self._http = crawl, http
        self._base_url = url.rstrip('/')
        self._auth_header = {'Authorization': f'Bearer {api_token}'}  # per request: never on another host's
        self._rng = rng  # jitter, so that many Agents do not retry in step
        self.resume_at = 0.0  # Unix seconds: when ACME lets the token send again (a 429, a spent window)
        self._tokens, self._tokens_at = BURST, crawl.clock.monotonic()  # pacing

    def streams_page(self, *, limit: int, page_token: str | None = None) -> tuple[list[StreamInfo], str | None]:
        """One page of the streams the token may read, and the next page's token; entries without an id are left out."""
        params: dict[str, Any] = {'page_token': page_token} if page_token else {'limit': limit}
        body = self._get('/api/v1/streams', params, stream=None)[0]
        streams = [
            StreamInfo(entry['id'], instant_or_none(entry.get('created_at')))
            for entry in body['data']
            if isinstance(entry, dict) and isinstance(entry.get('id'), str)
        ]
        return streams, body.get('next_page_token')

    def log_pages(
        self, stream: str, *, start: int, end: int, limit: int, page_token: str | None, attempts: int = MAX_ATTEMPTS
    ) -> Iterator[tuple[list[Any], str | None, float | None]]:
        """The pages of logs of `stream` with timestamps in `[start, end)` (nanoseconds), in ACME's order, with the next
        page's token and ACME's time (its `Date`); with `page_token`, that query continued (the rest ignored)."""
        path = f'/api/v1/streams/{quote(stream, safe="")}/logs'
        params: dict[str, Any] = {'start_time': format_rfc3339(start), 'end_time': format_rfc3339(end), 'limit': limit}
        if page_token:
            params = {'page_token': page_token}
        while True:
            body, acme_time = self._get(path, params, stream=stream, attempts=attempts)
            token = body.get('next_page_token')
            yield body['data'], token, acme_time
            if not token:
                return
            params = {'page_token': token}

    def _get(
        self, path: str, params: dict[str, Any], *, stream: str | None, attempts: int = MAX_ATTEMPTS
    ) -> tuple[dict[str, Any], float | None]:
        """One request: paced, and retried with backoff and jitter while failures are transient and time is left."""
        crawl, failure = self._crawl, None
        for attempt in range(1, attempts + 1):
            now = crawl.clock.monotonic()
            tokens = min(BURST, self._tokens + (now - self._tokens_at) * RATE)
            held = max(0.0, self.resume_at - crawl.clock.time())
            wait = max(held, (1 - tokens) / RATE)
            if wait > 0:
                if wait >= crawl.time_left():
                    if failure:
                        raise failure  # the failure, not the wait it caused, is what the operator needs
                    raise RunOver(f'waiting {wait:.1f} s for ACME\'s rate limits would pass `max_run_time`')
                if held:
                    crawl.metrics.rate_limit_wait(stream, held)
                crawl.clock.sleep(wait)
            self._tokens, self._tokens_at = min(BURST, tokens + wait * RATE) - 1, now + wait
            try:
                return self._get_once(path, params, stream=stream)
            except TransientApiError as e:
                failure = e
                if attempt == attempts or e.retry_after:  # ACME said when: the stream waits that long
                    raise
                if e.status == 429:
                    continue  # the wait above holds it for its Retry-After
                backoff = self._rng.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                if backoff >= crawl.time_left():
                    raise
                crawl.log.debug('Retrying in %.2f s after: %s', backoff, e)
                crawl.clock.sleep(backoff)
        raise AssertionError('unreachable')  # pragma: no cover

    def _get_once(
        self, path: str, params: dict[str, Any], *, stream: str | None
    ) -> tuple[dict[str, Any], float | None]:
        crawl = self._crawl
        crawl.time_left(spent='no request to ACME')
        sent_at = crawl.clock.time()
        try:
            response = self._http.get(self._base_url + path, params=params, extra_headers=self._auth_header)
        except RequestException as e:
            crawl.metrics.request(stream, None)
            crawl.log.debug('Request to ACME failed: %s', crawl.scrub(f'{type(e).__name__}: {e}'))
            raise TransientApiError(self._unreachable(e), stream=stream) from None
        status, headers, now = response.status_code, response.headers, crawl.clock.time()
        crawl.metrics.request(stream, status)
        # A 5xx may come from a proxy, with a clock of its own; ACME's own answers carry ACME's.
        acme_time = (
            crawl.acme_clock.observe(headers.get('Date'), sent_at=sent_at, received_at=now) if status < 500 else None
        )
        retry_after = number(headers.get('Retry-After')) if status in (429, 503) else None
        retry_after = None if retry_after is None else min(retry_after, RETRY_CAP)
        if status == 429:  # a 429's Retry-After holds the token; a 503's only what was asked (the caller's backoff)
            self.resume_at = max(self.resume_at, now + (DEFAULT_RETRY_AFTER if retry_after is None else retry_after))
        remaining, reset = number(headers.get('X-RateLimit-Remaining')), number(headers.get('X-RateLimit-Reset'))
        if remaining is not None and remaining <= 0 and reset is not None:  # a window spent, until it resets
            self.resume_at = max(self.resume_at, min(crawl.acme_clock.to_local(reset), now + MAX_RESET_WAIT))
        if 200 <= status < 300:
            try:
                body = decode_page(response.content)
            except (ValueError, RecursionError):
                body = None
            if not isinstance(body, dict) or not isinstance(body.get('data'), list):  # a proxy's HTML, an empty body
                raise TransientApiError('answer is not ACME JSON with a `data` list', stream=stream, status=status)
            if not isinstance(body.get('next_page_token'), (str, type(None))):
                raise TransientApiError('`next_page_token` is neither a string nor null', stream=stream, status=status)
            return body, acme_time
        failure = self._classify_failure(status, response.content, stream=stream)
        failure.retry_after = retry_after if status == 503 else None
        raise failure

    def _unreachable(self, error: RequestException) -> str:
        text = str(error)
        if isinstance(error, SSLError):
            why = 'the TLS handshake failed: check `tls_verify` and `tls_ca_cert`'
        elif isinstance(error, ProxyError):
            why = 'the proxy failed: check the proxy settings'
        elif isinstance(error, Timeout):
            why = 'no answer within `timeout`'
        elif any(sign in text for sign in ('NameResolution', 'resolve', 'getaddrinfo', 'nodename nor servname')):
            why = 'its host name does not resolve (DNS)'
        elif 'refused' in text:
            why = 'the connection was refused'
        else:
            why = self._crawl.scrub(f'{type(error).__name__}: {text}')[:300]
        url = self._crawl.scrub(self._base_url)
        return f'could not reach ACME at `url` {url}: {why}; check `url` and the proxy settings'

    def _classify_failure(self, status: int, content: bytes, *, stream: str | None) -> AcmeApiError:
        try:  # ACME's `{"error": {"code", "message"}}`, or nothing when a proxy answered with HTML or an empty body
            error = json.decode(content)['error']
            code, reason = str(error.get('code')), self._crawl.scrub(str(error.get('message')))
        except (ValueError, TypeError, KeyError, AttributeError):
            code, reason = None, 'no error details in the answer'
        kind: type[AcmeApiError] = AcmeApiError  # a 400: the same request cannot succeed
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


def number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
