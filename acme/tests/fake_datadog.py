# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""A fake Datadog API on a real socket, so that tools which read logs back from Datadog, or upload an integration's
assets to it, can be tested without an organization. Standard library only; time is `clock` (a FakeClock's).

Logs: every line an `Intake` (agent_emulation.py) received becomes an event, searchable `index_delay` seconds after
it arrived, converted as Datadog's JSON preprocessing does as far as this check's lines need: `message`,
`timestamp` (epoch ms), `status` (default 'info'), `service`, `hostname` -> host, `ddsource` -> tag `source:<x>`,
`ddtags` -> tags; every other key goes to the custom `attributes`. A line that is not a JSON object (a fragment)
becomes an event with just that message, at its arrival time.

Search (POST /api/v2/logs/events/search, GET /api/v2/logs/events), choices where Datadog does not document one:
- query: space-separated terms, all must match; `*`, an empty query and `AND` match all; `key:value` matches a tag
  `key:value` (`service:`, `host:`, `status:` match those attributes; `source:` is a tag); `key:(a OR b)` any of
  them; `@path.to.attr:value` a custom attribute (an array: any element); a leading `-` negates a term; a bare word
  is a case-insensitive substring of the message. Values compare as strings (`true`, `12`), case-sensitive; a
  trailing `*` makes a prefix. Anything else (top-level OR, quotes, unbalanced parentheses) is a 400.
- from/to: ISO 8601 (Z or offset, any fraction; naive = UTC), epoch ms (number or digits), `now`, `now-<n>[smhd]`;
  defaults now-15m and now. Both bounds are inclusive, to the millisecond: a client walking consecutive windows
  must not reuse a bound. `filter.indexes` is accepted and ignored.
- sort: `timestamp` or `-timestamp` (the default, newest first as in the Log Explorer); ties by event id, and
  `-timestamp` is the exact reverse of `timestamp`.
- page: limit 1..1000, default 10; the cursor carries the whole query (query, resolved from/to, sort, last
  position), so the next page continues it whatever else the request says; `meta.page.after` and `links.next` are
  there only when more events match now.
- 403 unless DD-API-KEY and DD-APPLICATION-KEY carry the keys (before anything else, so without rate-limit headers);
  each answered search or list counts against `rate_limit` per fixed window of `rate_period` seconds (aligned on
  the epoch), with Datadog's X-RateLimit-* headers; past it, 429.

Assets: pipelines, dashboards, monitors, each a small CRUD store in `assets[kind]` (by id), validated as far as a
wrong upload must fail. Every request is recorded in `requests` (header names lowercased).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .sandbox.server import LocalServer, Served

if TYPE_CHECKING:
    from .agent_emulation import Intake

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DEFAULT_LIMIT, MAX_LIMIT = 10, 1000
SORTS = ('timestamp', '-timestamp')
_RESERVED_KEYS = ('message', 'timestamp', 'status', 'service', 'hostname', 'ddsource', 'ddtags')
_RELATIVE = re.compile(r'now(?:-(\d+)([smhd]))?')
_UNIT_MS = {'s': 1_000, 'm': 60_000, 'h': 3_600_000, 'd': 86_400_000}
_TOKEN = re.compile(r'-?[^\s()]*\([^()]*\)|\S+')
_ASSET_PATH = re.compile(r'(/api/v1/logs/config/pipelines|/api/v1/dashboard|/api/v1/monitor)(?:/([^/]+))?')
_KINDS = {
    '/api/v1/logs/config/pipelines': 'pipelines',
    '/api/v1/dashboard': 'dashboards',
    '/api/v1/monitor': 'monitors',
}
_LOGS_PATHS = {('POST', '/api/v2/logs/events/search'), ('GET', '/api/v2/logs/events')}


class ApiError(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(*errors)
        self.status = status
        self.errors = list(errors)


@dataclass
class Event:
    id: str
    arrived: float
    timestamp: int  # epoch ms
    message: str
    status: str
    service: str | None
    host: str | None
    tags: list[str]
    attributes: dict[str, Any]

    @classmethod
    def from_line(cls, event_id: str, line: str, arrived: float) -> Event:
        try:
            log = json.loads(line)
        except ValueError:
            log = None
        if not isinstance(log, dict):
            return cls(event_id, arrived, math.floor(arrived * 1000), line, 'info', None, None, [], {})
        tags = [tag.strip() for tag in str(log.get('ddtags') or '').split(',') if tag.strip()]
        if log.get('ddsource'):
            tags.append(f'source:{log["ddsource"]}')
        timestamp = log.get('timestamp')
        if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
            timestamp = math.floor(arrived * 1000)
        return cls(
            event_id,
            arrived,
            int(timestamp),
            str(log.get('message', '')),
            str(log.get('status') or 'info').lower(),
            _text_or_none(log.get('service')),
            _text_or_none(log.get('hostname')),
            tags,
            {key: value for key, value in log.items() if key not in _RESERVED_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {'timestamp': iso_ms(self.timestamp), 'message': self.message}
        if self.service is not None:
            attributes['service'] = self.service
        if self.host is not None:
            attributes['host'] = self.host
        attributes.update(status=self.status, tags=list(self.tags), attributes=self.attributes)
        return {'id': self.id, 'type': 'log', 'attributes': attributes}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names lowercased
    body: Any  # the JSON sent, its text if not JSON, None if empty
    status: int


class FakeDatadog(Served):
    """The Datadog API endpoints described in the module docstring, served on `host:port` (0: any free port)."""

    def __init__(
        self,
        *,
        intake: Intake,
        clock: Callable[[], float],
        api_key: str = 'fake-api-key',
        app_key: str = 'fake-application-key',
        index_delay: float = 10.0,
        rate_limit: int = 300,
        rate_period: int = 3600,
        host: str = '127.0.0.1',
        port: int = 0,
    ) -> None:
        self.intake, self.clock = intake, clock
        self.api_key, self.app_key = api_key, app_key
        self.index_delay = index_delay
        self.rate_limit, self.rate_period = rate_limit, rate_period
        self.host, self._port = host, port
        self.events: list[Event] = []
        self.requests: list[Request] = []
        self.assets: dict[str, dict[Any, dict[str, Any]]] = {kind: {} for kind in _KINDS.values()}
        self._window, self._used, self._ids = -1, 0, 0
        self._lock = threading.RLock()

    # Lifecycle (start, stop, `with`, port and url: Served)

    def _serve(self) -> LocalServer:
        return _Server((self.host, self._port), self)

    # Requests

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """One request: (status, headers, JSON body); recorded."""
        split = urlsplit(target)
        params = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode('utf-8', errors='replace')
        with self._lock:
            status, answer_headers, answer = self._answer(method, split.path, params, headers, raw, body)
            names = {name.lower(): value for name, value in headers.items()}
            self.requests.append(Request(method, split.path, params, names, body, status))
        return status, answer_headers, answer

    def _answer(
        self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str], raw: bytes, body: Any
    ) -> tuple[int, dict[str, str], Any]:
        if headers.get('DD-API-KEY') != self.api_key or headers.get('DD-APPLICATION-KEY') != self.app_key:
            return 403, {}, {'errors': ['Forbidden']}
        rate_headers: dict[str, str] = {}
        logs = (method, path) in _LOGS_PATHS
        try:
            if logs:
                rate_headers, allowed = self._count_request()
                if not allowed:
                    raise ApiError(429, 'Too many requests')
            if raw and isinstance(body, str):
                raise ApiError(400, 'Invalid JSON')
            if logs:
                if method == 'GET':
                    return 200, rate_headers, self._search_get(params)
                return 200, rate_headers, self._search_post(body if body is not None else {})
            match = _ASSET_PATH.fullmatch(path)
            if match is None:
                raise ApiError(404, 'Not found')
            return 200, {}, self._asset(method, _KINDS[match[1]], match[2], params, body)
        except ApiError as e:
            return e.status, rate_headers, {'errors': e.errors}

    def _count_request(self) -> tuple[dict[str, str], bool]:
        """The rate-limit headers for this request, and whether it is allowed."""
        now = self.clock()
        window = math.floor(now / self.rate_period)
        if window != self._window:
            self._window, self._used = window, 0
        allowed = self._used < self.rate_limit
        if allowed:
            self._used += 1
        headers = {
            'X-RateLimit-Limit': str(self.rate_limit),
            'X-RateLimit-Period': str(self.rate_period),
            'X-RateLimit-Remaining': str(self.rate_limit - self._used),
            'X-RateLimit-Reset': str(max(1, math.ceil((window + 1) * self.rate_period - now))),
            'X-RateLimit-Name': 'logs_list',
        }
        return headers, allowed

    # Logs search

    def _search_get(self, params: dict[str, str]) -> dict[str, Any]:
        limit = params.get('page[limit]', str(DEFAULT_LIMIT))
        if not limit.isdigit():
            raise ApiError(400, f'page[limit] must be an integer, got {limit!r}')
        return self._search(
            params.get('filter[query]', '*'),
            params.get('filter[from]', 'now-15m'),
            params.get('filter[to]', 'now'),
            params.get('sort', '-timestamp'),
            int(limit),
            params.get('page[cursor]'),
        )

    def _search_post(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, 'The body must be a JSON object')
        where, page = body.get('filter') or {}, body.get('page') or {}
        if not isinstance(where, dict) or not isinstance(page, dict):
            raise ApiError(400, '`filter` and `page` must be objects')
        query, limit = where.get('query', '*'), page.get('limit', DEFAULT_LIMIT)
        if not isinstance(query, str) or not isinstance(limit, int) or isinstance(limit, bool):
            raise ApiError(400, '`filter.query` must be a string and `page.limit` an integer')
        sort, cursor = body.get('sort', '-timestamp'), page.get('cursor')
        return self._search(query, where.get('from', 'now-15m'), where.get('to', 'now'), sort, limit, cursor)

    def _search(self, query: str, start: Any, end: Any, sort: Any, limit: int, cursor: Any) -> dict[str, Any]:
        now = self.clock()
        after: tuple[int, str] | None = None
        if cursor is not None:
            query, low, high, sort, after = _decode_cursor(cursor)
        else:
            low, high = parse_time(start, now), parse_time(end, now)
        if sort not in SORTS:
            raise ApiError(400, f'sort must be one of {list(SORTS)}, got {sort!r}')
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f'page.limit must be between 1 and {MAX_LIMIT}, got {limit}')
        matches = parse_query(query)
        self._index()
        descending = sort == '-timestamp'
        found = [e for e in self.events if e.arrived + self.index_delay <= now and low <= e.timestamp <= high]
        found = sorted(filter(matches, found), key=lambda e: (e.timestamp, e.id), reverse=descending)
        if after is not None:
            found = [e for e in found if ((e.timestamp, e.id) < after if descending else (e.timestamp, e.id) > after)]
        page = found[:limit]
        meta: dict[str, Any] = {'elapsed': 1, 'request_id': f'fake-{len(self.requests) + 1}', 'status': 'done'}
        answer: dict[str, Any] = {'data': [e.to_json() for e in page], 'meta': meta}
        if len(found) > limit:
            last = [page[-1].timestamp, page[-1].id]
            position = {'query': query, 'from': low, 'to': high, 'sort': sort, 'after': last}
            token = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip('=')
            meta['page'] = {'after': token}
            next_params = {'filter[query]': query, 'filter[from]': iso_ms(low), 'filter[to]': iso_ms(high)}
            next_params.update({'sort': sort, 'page[limit]': str(limit), 'page[cursor]': token})
            answer['links'] = {'next': f'{self.url}/api/v2/logs/events?{urlencode(next_params)}'}
        return answer

    def _index(self) -> None:
        """Turn what the intake received since the last request into events (searchable or not yet)."""
        for item in self.intake.received[len(self.events) :]:
            self.events.append(Event.from_line(f'AQAAAZ{len(self.events) + 1:016d}', item.line, item.arrived))

    # Assets

    def _asset(self, method: str, kind: str, item_id: str | None, params: dict[str, str], body: Any) -> Any:
        store = self.assets[kind]
        if item_id is None and method == 'GET':
            if kind == 'dashboards':
                fields = ('id', 'title', 'description', 'layout_type', 'url')
                return {'dashboards': [{key: item.get(key) for key in fields} for item in store.values()]}
            name = params.get('name', '').lower()
            return [item for item in store.values() if kind != 'monitors' or name in item['name'].lower()]
        if item_id is None and method == 'POST':
            self._ids += 1
            ids = {'pipelines': f'fake-pipeline-{self._ids}', 'dashboards': f'fak-{self._ids:03d}-dsh'}
            return self._store(kind, ids.get(kind, self._ids), body)
        key = int(item_id) if kind == 'monitors' and item_id and item_id.isdigit() else item_id
        if key not in store:
            raise ApiError(404, f'{kind[:-1]} {item_id} not found')
        if method == 'GET':
            return store[key]
        if method == 'PUT':
            return self._store(kind, key, body)
        raise ApiError(405, 'Method not allowed')

    def _store(self, kind: str, key: Any, body: Any) -> dict[str, Any]:
        errors = asset_errors(kind, body)
        if errors:
            raise ApiError(400, *errors)
        item = self.assets[kind][key] = {**body, 'id': key}
        if kind == 'dashboards':
            item['url'] = f'/dashboard/{key}'
        return item


def asset_errors(kind: str, body: Any) -> list[str]:
    """What Datadog would refuse in an uploaded pipeline, dashboard or monitor, as far as checked here."""
    if not isinstance(body, dict):
        return ['The body must be a JSON object']
    required = {'pipelines': ('name',), 'dashboards': ('title',), 'monitors': ('name', 'type', 'query', 'message')}
    errors = [f'`{name}` is required (a non-empty string)' for name in required[kind] if not _text(body.get(name))]
    if kind == 'pipelines':
        if not (isinstance(body.get('filter'), dict) and isinstance(body['filter'].get('query'), str)):
            errors.append('`filter.query` is required (a string)')
        if not isinstance(body.get('processors'), list):
            errors.append('`processors` is required (a list)')
    if kind == 'dashboards':
        if body.get('layout_type') not in ('ordered', 'free'):
            errors.append("`layout_type` must be 'ordered' or 'free'")
        if not isinstance(body.get('widgets'), list):
            errors.append('`widgets` is required (a list)')
    return errors


# Query and time grammar


def parse_query(query: str) -> Callable[[Event], bool]:
    """The search query as a predicate (grammar in the module docstring); ApiError 400 for what it does not take."""
    terms: list[tuple[bool, Callable[[Event], bool]]] = []
    for token in _TOKEN.findall(query):
        if token in ('*', 'AND'):
            continue
        negate = token.startswith('-') and len(token) > 1
        terms.append((negate, _term(token[1:] if negate else token)))
    return lambda event: all(test(event) != negate for negate, test in terms)


def _term(term: str) -> Callable[[Event], bool]:
    key, colon, value = term.partition(':')
    if value.startswith('(') and value.endswith(')'):
        parts = value[1:-1].split()
        values = parts[::2]
        if not values or any(part != 'OR' for part in parts[1::2]):
            raise ApiError(400, f'unsupported query term {term!r}: only `key:(a OR b ...)`')
    else:
        values = [value if colon else key]
    if term == 'OR' or not key or '"' in term or any(char in v for v in values for char in '()'):
        raise ApiError(400, f'unsupported query term {term!r}')
    if not colon:
        word = key.rstrip('*').lower()
        return lambda event: word in event.message.lower()
    if key.startswith('@'):
        path = key[1:].split('.')
        return lambda event: any(_like(v, text) for text in _attribute_texts(event.attributes, path) for v in values)
    if key in ('service', 'host', 'status'):
        return lambda event: (text := getattr(event, key)) is not None and any(_like(v, text) for v in values)
    return lambda event: any(
        name == key and any(_like(v, tag_value) for v in values)
        for name, _, tag_value in (tag.partition(':') for tag in event.tags)
    )


def _like(pattern: str, text: str) -> bool:
    return text.startswith(pattern[:-1]) if pattern.endswith('*') else text == pattern


def _attribute_texts(attributes: dict[str, Any], path: list[str]) -> list[str]:
    value: Any = attributes
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else json.dumps(item) for item in items if not isinstance(item, (dict, list))]


def parse_time(value: Any, now: float) -> int:
    """A `from`/`to` bound in epoch ms; `now` is the clock's, in seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = value.strip() if isinstance(value, str) else ''
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = relative.groups()
        return math.floor(now * 1000) - (int(amount) * _UNIT_MS[unit] if amount else 0)
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f'invalid time {value!r}') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def iso_ms(millis: int) -> str:
    """Datadog's timestamp form: ISO 8601 in UTC, milliseconds, Z."""
    return (EPOCH + timedelta(milliseconds=millis)).strftime('%Y-%m-%dT%H:%M:%S.') + f'{millis % 1000:03d}Z'


def _decode_cursor(cursor: Any) -> tuple[str, int, int, str, tuple[int, str]]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + '=' * (-len(cursor) % 4)))
        ts, event_id = state['after']
        fields = (state['query'], state['from'], state['to'], state['sort'], (ts, event_id))
        if not (isinstance(fields[0], str) and all(isinstance(v, int) for v in (fields[1], fields[2], ts))):
            raise TypeError
        if not isinstance(event_id, str) or fields[3] not in SORTS:
            raise TypeError
        return fields
    except (ValueError, TypeError, KeyError):
        raise ApiError(400, f'invalid page cursor {cursor!r}') from None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True  # headers and body go in two writes
    server: _Server

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        status, headers, answer = self.server.fake.handle(self.command, self.path, self.headers, raw)
        body = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.server.fake.clock() if timestamp is None else timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(LocalServer):
    def __init__(self, address: tuple[str, int], fake: FakeDatadog) -> None:
        self.fake = fake
        super().__init__(address, _Handler)
