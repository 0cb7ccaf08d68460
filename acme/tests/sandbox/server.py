# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The ACME Logs API over a real socket: the HTTP handler and the AcmeSandbox class.

Requests are answered in this order, each step able to end the exchange:
rate limit -> transport faults (a proxy in front of ACME) -> authentication -> a stream's own
outage (fail_stream, logs requests only) -> the endpoint.

"Now" is always ACME's now, `clock() + clock_offset`: the contract makes ACME's clock the one
that counts, and the offset lets a test put it ahead of (or behind) the check's clock.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from .accounts import Account, Accounts, Stream
from .data import SEVERITIES, LogSpec
from .faults import FaultInjector, Faults, StreamFailure
from .limits import RateLimiter
from .paging import PageTokens
from .stats import RequestRecord, SandboxStats, StatsRecorder
from .store import StoredLog, StreamLogs
from .timefmt import iso_utc, parse_rfc3339, render_variant, seconds_to_ns, to_ns

STREAM_ID = re.compile(r'[a-z0-9][a-z0-9_-]{0,62}', re.ASCII)
_LOGS_PATH = re.compile(r'/api/v1/streams/([^/]+)/logs')
_STREAMS_PATH = '/api/v1/streams'

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
RETENTION_SECONDS = 7 * 86400.0
MAX_MESSAGE_BYTES = 1024 * 1024


class _Omit(enum.Enum):
    OMIT = 'OMIT'

    def __repr__(self) -> str:
        return 'OMIT'


# For set_listed_created_at: the listing entry has no `created_at` key at all.
OMIT: Final = _Omit.OMIT


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def _invalid(name: str, problem: str) -> ApiError:
    return ApiError(400, 'invalid_parameter', f'{name}: {problem}')


@dataclass
class Response:
    status: int
    body: bytes = b''
    content_type: str | None = 'application/json'
    headers: dict[str, str] = field(default_factory=dict)
    # Close the socket instead of answering.
    disconnect: bool = False
    # Real seconds to sleep before answering.
    delay: float = 0.0

    @classmethod
    def error(cls, error: ApiError) -> Response:
        body = json.dumps({'error': {'code': error.code, 'message': error.message}}).encode()
        return cls(error.status, body, headers=dict(error.headers))


@dataclass
class _Exchange:
    """What one request did, filled in as it is handled, then recorded in stats."""

    path: str
    now: float
    stream: str | None = None
    account: str | None = None
    start_time_ns: int | None = None
    end_time_ns: int | None = None
    limit: int | None = None
    page_token: bool = False
    served: int = 0
    min_served_ts_ns: int | None = None
    max_served_ts_ns: int | None = None
    violation: bool = False
    fault: str | None = None


class Served:
    """What serves itself on a LocalServer: start and stop, also as `with`, and its address once started."""

    host: str
    _port: int
    _server: LocalServer | None = None

    def _serve(self) -> LocalServer:
        raise NotImplementedError

    def start(self: _S) -> _S:
        if self._server is not None:
            raise RuntimeError(f'{type(self).__name__} already started')
        self._server = self._serve()
        self._server.serve_in_background(type(self).__name__)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f'{type(self).__name__} not started')
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f'http://{self.host}:{self.port}'


_S = TypeVar('_S', bound=Served)


class AcmeSandbox(Served):
    """An ACME Logs API server for tests, the dev environment and benchmarks.

    Everything time-based reads `now()`, that is `clock` (zero-arg, Unix seconds) plus
    `clock_offset`, so tests can drive time and skew ACME's clock against the check's.

    `token` opens the default account, which every data method addresses unless given the
    token of another account (see add_account).
    """

    # So tests need no second import: sandbox.set_listed_created_at(stream, sandbox.OMIT).
    OMIT: Final = OMIT

    def __init__(
        self,
        *,
        token: str = 'sandbox-token',
        clock: Callable[[], float] = time.time,
        clock_offset: float = 0.0,
        faults: Faults | None = None,
        seed: int = 0,
        rate_limits: bool = True,
        per_second: int = 10,
        per_minute: int = 300,
        token_ttl: float = 300.0,
        ingestion_delay: float = 60.0,
        retention: float = RETENTION_SECONDS,
        render_offsets: bool = True,
        tokens_without_scope: Iterable[str] = (),
        violation_penalty: float = 1.0,
        max_records: int | None = 100_000,
        host: str = '127.0.0.1',
        port: int = 0,
    ) -> None:
        self.tokens_without_scope = frozenset(tokens_without_scope)
        self.clock = clock
        # Seconds ACME's clock is ahead of `clock` (negative: behind). Mutable while serving.
        self.clock_offset = clock_offset
        self.seed = seed
        self.token_ttl = token_ttl
        self.ingestion_delay = ingestion_delay
        self.retention = retention
        self.render_offsets = render_offsets
        self.host = host
        self._port = port
        self._listing_page_limit: int | None = None
        self._injector = FaultInjector(faults if faults is not None else Faults(), seed=seed)
        # Retry-After of injected 503s, by (credential, stream or None for the listing): until when it binds.
        self._fault_deadlines: dict[tuple[str, str | None], float] = {}
        self._limiter = RateLimiter(
            enabled=rate_limits, per_second=per_second, per_minute=per_minute, violation_penalty=violation_penalty
        )
        self._tokens = PageTokens(secret=hashlib.sha256(f'page-token:{seed}'.encode()).digest())
        self._render_key = hashlib.sha256(f'render:{seed}'.encode()).digest()
        self._stats = StatsRecorder(max_records=max_records)
        # Guards _accounts and their streams; held only briefly so live feeding never stalls serving.
        self._lock = threading.RLock()
        self._token = token
        self._accounts = Accounts(token)

    # Lifecycle (start, stop, `with`, port and url: Served)

    def _serve(self) -> LocalServer:
        return _Server((self.host, self._port), self)

    def drop_connections(self) -> None:
        """Close every open connection, as a load balancer does with idle keep-alive connections."""
        if self._server is not None:
            self._server.close_connections()

    # Knobs

    @property
    def faults(self) -> Faults:
        return self._injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._injector.faults = faults

    @property
    def rate_limits(self) -> bool:
        return self._limiter.enabled

    @rate_limits.setter
    def rate_limits(self, enabled: bool) -> None:
        self._limiter.enabled = enabled

    @property
    def listing_page_limit(self) -> int | None:
        """At most this many streams per listing page, whatever `limit` asks; None: as many as `limit`.

        The contract lets pages be short, so a client that reads the listing as "one page is all"
        or that stops at a page shorter than its limit is wrong; this makes that easy to show.
        """
        return self._listing_page_limit

    @listing_page_limit.setter
    def listing_page_limit(self, limit: int | None) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f'listing_page_limit must be a positive integer or None, got {limit!r}')
        self._listing_page_limit = limit

    def now(self) -> float:
        """ACME's now: what every time-based behaviour and the Date header go by."""
        return self.clock() + self.clock_offset

    # Accounts

    @property
    def token(self) -> str:
        """The default account's token, as given to the constructor."""
        return self._token

    def add_account(self, token: str) -> None:
        """Create a new, empty account that `token` opens: another ACME customer on the same URL."""
        with self._lock:
            self._accounts.add(token)

    def add_token(self, token: str, *, same_account_as: str) -> None:
        """Give an account a second valid token (a rotation): both work until revoked."""
        with self._lock:
            self._accounts.add_token(token, same_account_as=same_account_as)

    def revoke_token(self, token: str) -> None:
        """Make `token` answer 401 from now on; it still names its account in the data methods."""
        with self._lock:
            self._accounts.revoke(token)

    # Data: `token=None` means the default account.

    def add_stream(
        self,
        stream_id: str,
        *,
        name: str | None = None,
        created_at: str | float | datetime | None = None,
        token: str | None = None,
    ) -> None:
        """Create a stream; `created_at` is RFC 3339, epoch seconds or an aware datetime (default: now)."""
        if not STREAM_ID.fullmatch(stream_id):
            raise ValueError(f'stream ids match {STREAM_ID.pattern}: {stream_id!r}')
        if isinstance(created_at, str):
            created_ns = parse_rfc3339(created_at)
        elif isinstance(created_at, datetime):
            created_ns = to_ns(created_at)
        else:
            created_ns = seconds_to_ns(self.now() if created_at is None else created_at)
        entry = {'id': stream_id, 'name': name or stream_id, 'created_at': self._render(created_ns, stream_id)}
        with self._lock:
            account = self._accounts.named_by(token)
            if stream_id in account.streams:
                raise ValueError(f'stream {stream_id!r} already exists')
            account.streams[stream_id] = Stream(stream_id, _encode(entry), StreamLogs(), entry)

    def set_listed_created_at(self, stream_id: str, value: Any, *, token: str | None = None) -> None:
        """Change what the listing says of a stream's `created_at`, and nothing else.

        A str is served as that JSON string, verbatim (another offset or precision of the same
        instant, another instant, or no timestamp at all); any other value is served as its JSON
        (None is null, a number an epoch); OMIT drops the key. The stream's logs, order and
        identity in the sandbox stay as they were: only the listing's words change.
        """
        stream = self._stream(stream_id, token)
        entry = {k: v for k, v in stream.entry.items() if k != 'created_at' or value is not OMIT}
        if value is not OMIT:
            entry['created_at'] = value
        # Encoded now, so a value JSON cannot carry (NaN, a lone surrogate) fails here, not mid-request.
        blob = _encode(entry)
        with self._lock:
            stream.blob = blob

    def reset_listed_created_at(self, stream_id: str, *, token: str | None = None) -> None:
        """Undo set_listed_created_at: the listing shows `created_at` as add_stream rendered it."""
        stream = self._stream(stream_id, token)
        with self._lock:
            stream.blob = _encode(stream.entry)

    def remove_stream(self, stream_id: str, *, token: str | None = None) -> None:
        """Delete a stream and its logs: it leaves the listing and answers 404; its id may be used again."""
        with self._lock:
            del self._accounts.named_by(token).streams[stream_id]

    def add_logs(self, stream_id: str, logs: Iterable[LogSpec], *, token: str | None = None) -> int:
        """Store logs (API dicts, optionally with `visible_at`); returns how many were added."""
        stream = self._stream(stream_id, token)
        # Encoding is the expensive part and needs no lock.
        stored = [self._store_form(log) for log in logs]
        with self._lock:
            stream.logs.add(stored)
        return len(stored)

    def add_broken_log(
        self, stream_id: str, *, at: str, sort_id: str, body: dict[str, Any], token: str | None = None
    ) -> None:
        """Serve `body` verbatim among the logs at instant `at`: a log that breaks the contract, for tests of bad data.

        `at` and `sort_id` only place it in the order; the body may lack an id or carry a malformed timestamp.
        """
        self.add_raw_log(stream_id, at=at, sort_id=sort_id, raw=_encode(body), token=token)

    def add_raw_log(self, stream_id: str, *, at: str, sort_id: str, raw: bytes, token: str | None = None) -> None:
        """Serve `raw` byte for byte as one element of `data`, placed in the order by `at` and `sort_id`.

        For logs that are valid JSON but hostile to parsers (`1e400`, integers past 64 bits, nesting
        deeper than a recursive parser goes): the sandbox's own JSON encoder could not produce them.
        """
        if not isinstance(raw, bytes):
            raise TypeError(f'raw must be bytes, not {type(raw).__name__}')
        stream = self._stream(stream_id, token)
        ts_ns = parse_rfc3339(at)
        with self._lock:
            stream.logs.add([StoredLog((ts_ns, sort_id), ts_ns, raw)])

    def forbid_stream(self, stream_id: str, *, status: int = 403, token: str | None = None) -> None:
        """Make a stream unreadable: 403 `forbidden`, or 404 `not_found` as if it did not exist."""
        if status not in (403, 404):
            raise ValueError('status must be 403 or 404')
        with self._lock:
            self._accounts.named_by(token).forbidden[stream_id] = status

    def allow_stream(self, stream_id: str, *, token: str | None = None) -> None:
        """Undo `forbid_stream`: the stream is readable and listed again."""
        with self._lock:
            self._accounts.named_by(token).forbidden.pop(stream_id, None)

    def fail_stream(
        self, stream_id: str, *, status: int = 503, retry_after: int | None = None, token: str | None = None
    ) -> None:
        """One stream's outage: every logs request for it answers `status` (5xx) until heal_stream.

        The answer is ACME's JSON error, with `Retry-After: retry_after` when given. The listing and
        other streams are untouched, and a Retry-After here binds this stream only: a request for it
        that comes back sooner is recorded as a violation, but not punished on the token. Failed
        requests are still counted by the rate limits and recorded in stats (fault 'stream_failure').
        """
        if not STREAM_ID.fullmatch(stream_id):
            raise ValueError(f'stream ids match {STREAM_ID.pattern}: {stream_id!r}')
        failure = StreamFailure(status, retry_after)
        with self._lock:
            self._accounts.named_by(token).failing[stream_id] = failure

    def fail_listing(self, *, status: int = 503, retry_after: int | None = None, token: str | None = None) -> None:
        """The listing's outage, as `fail_stream` is a stream's; `heal_stream('')` ends it."""
        with self._lock:
            self._accounts.named_by(token).failing[''] = StreamFailure(status, retry_after)

    def heal_stream(self, stream_id: str, *, token: str | None = None) -> None:
        """Undo `fail_stream`: the stream's logs are served again (a no-op if it was not failing)."""
        with self._lock:
            self._accounts.named_by(token).failing.pop(stream_id, None)

    def prune(self) -> int:
        """Drop logs past retention (memory only: serving already hides them)."""
        floor_ns = seconds_to_ns(self.now() - self.retention)
        with self._lock:
            return sum(stream.logs.prune(floor_ns) for account in self._accounts for stream in account.streams.values())

    def log_count(self, stream_id: str, *, token: str | None = None) -> int:
        stream = self._stream(stream_id, token)
        with self._lock:
            return len(stream.logs)

    def _stream(self, stream_id: str, token: str | None) -> Stream:
        with self._lock:
            stream = self._accounts.named_by(token).streams.get(stream_id)
        if stream is None:
            raise KeyError(f'no stream {stream_id!r}; call add_stream first')
        return stream

    # Observation

    @property
    def stats(self) -> SandboxStats:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    # Encoding

    def _store_form(self, log: LogSpec) -> StoredLog:
        if not isinstance(log, Mapping):
            raise TypeError(f'a log is a mapping, not {type(log).__name__}')
        fields: dict[str, Any] = dict(log)
        visible_at = fields.pop('visible_at', None)
        log_id, message, timestamp = fields.get('id'), fields.get('message'), fields.get('timestamp')
        if not isinstance(log_id, str) or not log_id:
            raise ValueError(f'id must be a non-empty string: {log!r}')
        if not isinstance(message, str):
            raise ValueError(f'message must be a string: {log_id}')
        if len(message) * 4 > MAX_MESSAGE_BYTES and len(message.encode()) > MAX_MESSAGE_BYTES:
            raise ValueError(f'message over 1 MiB: {log_id}')
        if isinstance(timestamp, str):
            ts_ns = parse_rfc3339(timestamp)
        elif isinstance(timestamp, int) and not isinstance(timestamp, bool):
            ts_ns = timestamp
        else:
            raise ValueError(f'timestamp must be RFC 3339 or int nanoseconds: {log_id}')
        if 'severity' in fields and fields['severity'] not in SEVERITIES:
            raise ValueError(f'severity must be one of {SEVERITIES} or absent: {log_id}')
        for name in ('service', 'host'):
            if name in fields and not isinstance(fields[name], str):
                raise ValueError(f'{name} must be a string or absent: {log_id}')
        if 'attributes' in fields and not isinstance(fields['attributes'], dict):
            raise ValueError(f'attributes must be an object or absent: {log_id}')
        visible_ns = ts_ns if visible_at is None else seconds_to_ns(visible_at)
        # The contract promises readability within the ingestion delay; anything later is a
        # test bug, not a scenario (1 ms of slack for float seconds).
        if visible_ns - ts_ns > seconds_to_ns(self.ingestion_delay) + 1_000_000:
            raise ValueError(f'visible_at is more than {self.ingestion_delay} s after the timestamp: {log_id}')
        fields['timestamp'] = self._render(ts_ns, log_id)
        return StoredLog((ts_ns, log_id), visible_ns, _encode(fields))

    def _render(self, ts_ns: int, log_id: str) -> str:
        if not self.render_offsets:
            return iso_utc(ts_ns)
        # Keyed on the id, so a log looks the same on every page and every retry.
        digest = hashlib.blake2b(log_id.encode(), digest_size=8, key=self._render_key).digest()
        return render_variant(ts_ns, int.from_bytes(digest, 'big'))

    # Request handling

    def handle(self, method: str, target: str, authorization: str | None) -> Response:
        """Answer one request (no I/O); the HTTP handler writes what this returns."""
        now = self.now()
        split = urlsplit(target)
        exchange = _Exchange(path=split.path, now=now)
        # Known up front so that refused and faulted requests still count against their stream.
        logs_path = _LOGS_PATH.fullmatch(split.path)
        if logs_path is not None:
            exchange.stream = unquote(logs_path[1])
        credential = _bearer(authorization) or authorization or ''
        decision = self._limiter.check(credential, now)
        exchange.violation = decision.violation or now < self._fault_deadlines.get((credential, exchange.stream), now)
        if not decision.allowed:
            response = Response.error(
                ApiError(429, 'rate_limited', f'too many requests; retry after {decision.retry_after} s')
            )
        else:
            response = self._answer(method, split.path, split.query, credential, authorization, exchange)
        # A 503's own Retry-After survives: an admitted request's decision carries none.
        response.headers.update(decision.headers())
        if not response.disconnect:
            # The same instant every other decision above was made at.
            response.headers['Date'] = http_date(now)
        self._stats.record(
            RequestRecord(
                path=exchange.path,
                stream=exchange.stream,
                status=0 if response.disconnect else response.status,
                start_time_ns=exchange.start_time_ns,
                end_time_ns=exchange.end_time_ns,
                served=exchange.served,
                min_served_ts_ns=exchange.min_served_ts_ns,
                max_served_ts_ns=exchange.max_served_ts_ns,
                clock=now,
                account=exchange.account,
                page_token=exchange.page_token,
                limit=exchange.limit,
                violation=exchange.violation,
                fault=exchange.fault,
                error_code=_error_code(response),
            )
        )
        return response

    def _answer(
        self, method: str, path: str, query: str, credential: str, authorization: str | None, exchange: _Exchange
    ) -> Response:
        # Transport faults come from "a proxy in front of ACME": they precede auth and routing.
        if self._injector.disconnect():
            exchange.fault = 'disconnect'
            return Response(0, disconnect=True)
        canned = self._injector.error()
        if canned is not None:
            exchange.fault = 'error'
            response = Response(canned.status, canned.body, canned.content_type)
            if canned.retry_after is not None:
                # Binds what was asked (this stream, or the listing), as a per-stream outage's does: a request
                # for it before then is recorded as a violation. A 429 is what holds the whole token.
                self._fault_deadlines[(credential, exchange.stream)] = exchange.now + canned.retry_after
                response.headers['Retry-After'] = str(canned.retry_after)
            return response
        canned = self._injector.non_json()
        if canned is not None:
            exchange.fault = 'non_json'
            return Response(canned.status, canned.body, canned.content_type)
        delay = self._injector.delay()
        if delay:
            exchange.fault = 'slow'
        try:
            body = self._route(method, path, query, authorization, exchange)
            response = Response(200, body)
        except ApiError as error:
            response = Response.error(error)
        except Exception:
            # A sandbox bug: say so loudly rather than let a client test pass or fail for it.
            traceback.print_exc(file=sys.stderr)
            response = Response.error(ApiError(500, 'internal_error', 'sandbox bug; see stderr'))
        if response.status == 401:
            response.headers['WWW-Authenticate'] = 'Bearer'
        response.delay = delay
        return response

    def _route(self, method: str, path: str, query: str, authorization: str | None, exchange: _Exchange) -> bytes:
        if method not in ('GET', 'HEAD'):
            raise ApiError(405, 'method_not_allowed', f'{method} is not supported')
        token = _bearer(authorization)
        with self._lock:
            account = self._accounts.authenticate(token)
        if account is None:
            if token in self.tokens_without_scope:
                raise ApiError(403, 'forbidden', 'the token lacks the logs:read scope')
            raise ApiError(401, 'unauthorized', 'missing or invalid API token')
        exchange.account = account.id
        params = _Params(query)
        if path == _STREAMS_PATH:
            return self._list_streams(account, params, exchange)
        if exchange.stream is not None:
            self._check_outage(account, exchange.stream, exchange)
            return self._list_logs(account, exchange.stream, params, exchange)
        raise ApiError(404, 'not_found', f'no such path: {path}')

    def _list_streams(self, account: Account, params: _Params, exchange: _Exchange) -> bytes:
        self._check_outage(account, '', exchange)
        raw_token = params.get('page_token')
        if raw_token is not None:
            state = self._read_page_token(raw_token, 'streams', exchange)
            after, limit = state['p'], state['l']
        else:
            after, limit = None, params.limit()
        exchange.limit = limit
        take = self._take(limit, exchange)
        # Read once: a test may change the knob while this request is being served.
        page_limit = self._listing_page_limit
        serve = take if page_limit is None else min(take, page_limit)
        with self._lock:
            readable = sorted(sid for sid in account.streams if sid not in account.forbidden)
            first = bisect_right(readable, after) if after is not None else 0
            chosen = readable[first : first + serve]
            blobs = [account.streams[sid].blob for sid in chosen]
        # A page cut by listing_page_limit has a next page only while streams remain; the short-page
        # fault, as on logs, always hands out a token.
        more = first + len(chosen) < len(readable) or take < limit
        last = chosen[-1] if chosen else after
        next_token = self._issue({'k': 'streams', 'p': last, 'l': limit}, exchange) if more else None
        return _page_body(blobs, next_token)

    def _list_logs(self, account: Account, stream_id: str, params: _Params, exchange: _Exchange) -> bytes:
        stream = self._readable_stream(account, stream_id)
        now_ns = seconds_to_ns(exchange.now)
        retention_floor_ns = now_ns - seconds_to_ns(self.retention)
        raw_token = params.get('page_token')
        after: tuple[int, str] | None
        if raw_token is not None:
            state = self._read_page_token(raw_token, 'logs', exchange)
            if state['s'] != stream_id:
                raise _invalid('page_token', f'belongs to a query on another stream, not {stream_id!r}')
            start_ns, end_ns, limit = state['a'], state['e'], state['l']
            after = (state['p'][0], state['p'][1]) if state['p'] is not None else None
        else:
            start_ns = params.timestamp('start_time')
            if start_ns is None:
                raise _invalid('start_time', 'is required (unless page_token is given)')
            end_ns = params.timestamp('end_time')
            limit = params.limit()
            exchange.start_time_ns, exchange.end_time_ns = start_ns, end_ns
            if start_ns < retention_floor_ns or start_ns > now_ns:
                days = f'{self.retention / 86400:g}'
                raise ApiError(
                    400,
                    'start_time_out_of_range',
                    f'start_time is older than the {days}-day retention or in the future',
                )
            if end_ns is None:
                end_ns = now_ns
            elif end_ns < start_ns:
                raise _invalid('end_time', 'must not be before start_time')
            after = None
        exchange.start_time_ns, exchange.end_time_ns, exchange.limit = start_ns, end_ns, limit
        take = self._take(limit, exchange)
        with self._lock:
            page = stream.logs.page(
                start_ns=max(start_ns, retention_floor_ns), end_ns=end_ns, after=after, now_ns=now_ns, take=take
            )
        exchange.served = len(page.blobs)
        exchange.min_served_ts_ns, exchange.max_served_ts_ns = page.min_ts_ns, page.max_ts_ns
        next_token = None
        # A short page always hands out a token, even when nothing is left: the next page is
        # then empty and final, which the contract allows and clients must survive.
        if page.more or take < limit:
            next_token = self._issue(
                {
                    'k': 'logs',
                    's': stream_id,
                    'a': start_ns,
                    'e': end_ns,
                    'l': limit,
                    'p': list(page.last_key) if page.last_key is not None else None,
                },
                exchange,
            )
        return _page_body(page.blobs, next_token)

    def _check_outage(self, account: Account, stream_id: str, exchange: _Exchange) -> None:
        """Raise the stream's own 5xx if it is failing: before parameters, tokens or permissions are read,
        as a shard that is down answers nothing else."""
        with self._lock:
            failure = account.failing.get(stream_id)
            if failure is None:
                return
            # Early for this stream's Retry-After: flagged for tests, yet not penalised on the
            # token, since the other streams are not down.
            exchange.violation = exchange.violation or exchange.now < failure.deadline
            headers: dict[str, str] = {}
            if failure.retry_after is not None:
                failure.deadline = exchange.now + failure.retry_after
                headers['Retry-After'] = str(failure.retry_after)
        exchange.fault = 'stream_failure'
        code, message = failure.describe(stream_id)
        raise ApiError(failure.status, code, message, headers)

    def _readable_stream(self, account: Account, stream_id: str) -> Stream:
        with self._lock:
            forbidden = account.forbidden.get(stream_id)
            stream = account.streams.get(stream_id)
        if forbidden == 403:
            raise ApiError(403, 'forbidden', f'this token may not read stream {stream_id!r}')
        if stream is None or forbidden == 404 or not STREAM_ID.fullmatch(stream_id):
            raise ApiError(404, 'not_found', f'no such stream: {stream_id!r}')
        return stream

    def _take(self, limit: int, exchange: _Exchange) -> int:
        short = self._injector.short_take(limit)
        if short is None:
            return limit
        exchange.fault = exchange.fault or 'short_page'
        return short

    def _issue(self, state: dict[str, Any], exchange: _Exchange) -> str:
        # Bound to the account: another customer's token must not page through this query.
        return self._tokens.issue({**state, 'c': exchange.account, 'i': exchange.now})

    def _read_page_token(self, raw: str, kind: str, exchange: _Exchange) -> dict[str, Any]:
        exchange.page_token = True
        try:
            state = self._tokens.read(raw)
        except ValueError as error:
            raise _invalid('page_token', str(error)) from None
        if state.get('k') != kind:
            raise _invalid('page_token', f'not a token for this endpoint ({kind})')
        if state.get('c') != exchange.account:
            raise _invalid('page_token', 'was issued to another account')
        if kind == 'logs':
            exchange.start_time_ns, exchange.end_time_ns = state['a'], state['e']
        if exchange.now - state['i'] > self.token_ttl:
            raise ApiError(400, 'page_token_expired', 'the page_token is older than 5 minutes; start the query again')
        if self._injector.expire_token():
            exchange.fault = exchange.fault or 'token_expiry'
            raise ApiError(400, 'page_token_expired', 'the page_token has expired; start the query again')
        return state


class _Params:
    """Query parameters, validated the way ACME reports problems: invalid_parameter naming the field."""

    def __init__(self, query: str) -> None:
        self._values = parse_qs(query, keep_blank_values=True)

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        if values is None:
            return None
        if len(values) > 1:
            raise _invalid(name, 'given more than once')
        return values[0]

    def timestamp(self, name: str) -> int | None:
        text = self.get(name)
        if text is None:
            return None
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise _invalid(name, f'not an RFC 3339 timestamp: {text!r}') from None

    def limit(self) -> int:
        text = self.get('limit')
        if text is None:
            return DEFAULT_LIMIT
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise _invalid('limit', f'must be an integer from 1 to {MAX_LIMIT}, got {text!r}')
        return int(text)


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(' ')
    # The auth scheme is case-insensitive (RFC 9110 section 11.1); the token is not.
    if scheme.lower() != 'bearer' or not token.strip():
        return None
    return token.strip()


# Built once: json.dumps with non-default options builds a new encoder per call.
# ensure_ascii=False: real APIs send UTF-8, and clients must decode it as such.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(',', ':'), allow_nan=False)


def _encode(value: Any) -> bytes:
    return _JSON.encode(value).encode()


def http_date(seconds: float) -> str:
    """RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`; floored, as a Date never runs ahead."""
    return formatdate(math.floor(seconds), usegmt=True)


def _page_body(blobs: list[bytes], next_token: str | None) -> bytes:
    return b'{"data":[' + b','.join(blobs) + b'],"next_page_token":' + json.dumps(next_token).encode() + b'}'


def _error_code(response: Response) -> str | None:
    if response.status < 400 or response.content_type != 'application/json' or not response.body:
        return None
    try:
        return str(json.loads(response.body)['error']['code'])
    except (ValueError, KeyError, TypeError):
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'AcmeSandbox/1.0'
    # Headers and body go out in two writes; without this, Nagle plus delayed ACKs add 40 ms
    # to every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)
        response = self.server.sandbox.handle(self.command, self.path, self.headers.get('Authorization'))
        if response.delay:
            time.sleep(response.delay)
        if response.disconnect:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # Not send_response: it adds a second Date, from the host's clock; ours is in the headers.
        self.send_response_only(response.status)
        self.send_header('Server', self.version_string())
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.content_type is not None:
            self.send_header('Content-Type', response.content_type)
        self.send_header('Content-Length', str(len(response.body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        # Answers http.server writes itself (send_error: a malformed request, an unknown method)
        # must also carry ACME's clock.
        return http_date(self.server.sandbox.now() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer(ThreadingHTTPServer):
    """An HTTP server for tests on a local port, which can cut its keep-alive connections (a stopped server is silent).
    The fake Datadog API (tests/fake_datadog.py) is one too."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, handler)

    def serve_in_background(self, name: str) -> LocalServer:
        # `stop` waits for the loop to see it, up to a poll interval: a test's teardown, for every test with a server.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={'poll_interval': 0.005}, name=name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.close_connections()  # keep-alive connections outlive serve_forever: cut, so that the server is silent
        self.server_close()
        if self._thread is not None:
            self._thread.join()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds without DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-answer are part of the game, not server errors.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server(LocalServer):
    def __init__(self, address: tuple[str, int], sandbox: AcmeSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.sandbox._stats.connection()
        super().process_request(request, client_address)
