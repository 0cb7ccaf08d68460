# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Cursors recovered from Datadog for streams that start without one (a replaced pod whose run path was an emptyDir, a
cluster check moved to another runner): the Logs search API tells what the intake received of each `acme_cursor` tag,
with ACME's `id` and `timestamp`. A stream resumes OVERLAP before the newest, skipping the ids Datadog holds. Datadog
allows a few hundred searches an hour: streams go a BATCH per query, narrowed as they are found; a log is searchable
seconds after it arrived: nothing is looked up in the instance's first RECOVERY_DELAY. Logs excluded from indexes (or
only in Flex Logs, archives) are invisible, and sent again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from requests.exceptions import RequestException

from .client import number
from .compat import json
from .cursors import Position, order_id
from .stream import CURSOR_TAG, Delivered
from .timing import INTAKE_MAX_AGE, parse_rfc3339

if TYPE_CHECKING:
    from datadog_checks.base.utils.http import RequestsWrapper

    from .check import Crawl
    from .stream import AcmeLogStream

RECOVERY_DELAY = 60.0  # seconds the instance runs before a lookup: what the Agent before it shipped is searchable
OVERLAP_MS = 1000  # before the newest log Datadog holds: its ids are looked up there (ties to the ms, reordering)
BATCH, PAGE_LIMIT = 50, 1000
GIVE_UP_AFTER = 15 * 60  # seconds of failed lookups, after which the streams start at `initial_lookback`
DEFAULT_RESET = 60.0
KEYS = '`datadog_api_key` and `datadog_app_key` must be valid, the latter with the `logs_read_data` scope'


class RecoveryFailed(Exception):
    def __init__(self, reason: str, *, lasting: bool) -> None:
        super().__init__(reason)
        self.lasting = lasting  # the keys or the request are wrong: retrying cannot help


class Recovery:
    """Looks streams without a cursor up in Datadog, and pins where each starts; one per check instance."""

    def __init__(self, crawl: Crawl, *, http: RequestsWrapper, api_url: str, api_key: str, app_key: str) -> None:
        self._crawl, self._http = crawl, http
        self._url = api_url.rstrip('/') + '/api/v2/logs/events/search'
        self._headers = {'DD-API-KEY': api_key, 'DD-APPLICATION-KEY': app_key}  # per request: never to ACME
        self._not_before = crawl.clock.monotonic() + RECOVERY_DELAY
        self._failing_since: float | None = None

    def resolve(self, streams: list[AcmeLogStream]) -> None:
        """Look `streams` up and pin where each starts; those left for a later run stay `recovering`."""
        now = self._crawl.clock.monotonic()
        if now < self._not_before:
            return
        try:
            for start in range(0, len(streams), BATCH):
                batch = {stream.cursor_tag: stream for stream in streams[start : start + BATCH]}
                for tag, found in self._lookup(list(batch)).items():
                    self._start(batch[tag], found, 'resumed' if found else 'none')
            self._failing_since = None
        except RecoveryFailed as e:
            self._failing_since = self._failing_since or now
            if not e.lasting and now - self._failing_since < GIVE_UP_AFTER:
                self._crawl.warn('Cursor recovery from Datadog failed, %s; retrying next run', e)
                return
            self._crawl.warn('Cursor recovery from Datadog gave up, %s; streams start at `initial_lookback`', e)
            for stream in streams:
                if stream.recovering:
                    self._start(stream, None, 'failed')

    def _start(self, stream: AcmeLogStream, found: tuple[Position, Delivered] | None, outcome: str) -> None:
        stream.pin(found[0] if found else stream.start)
        if found:
            stream.delivered = found[1]
            self._crawl.log.info('Stream `%s` resumes where the logs Datadog holds end: %s', stream.stream_id, found)
        stream.recovering = False
        self._crawl.metrics.recovered(stream.stream_id, outcome)

    def _lookup(self, tags: list[str]) -> dict[str, tuple[Position, Delivered] | None]:
        """Where each `acme_cursor` tag's logs end in Datadog: newest first, across the batch; a stream whose overlap
        was read leaves the query, which starts again for the others before the oldest log read."""
        now_ms = int(self._crawl.clock.time() * 1000)
        since, until, cursor = now_ms - INTAKE_MAX_AGE * 1000, now_ms, None
        newest: dict[str, int] = {}
        held: dict[str, set[Position]] = {tag: set() for tag in tags}
        pending = set(tags)
        while pending:
            body = self._search(f'source:acme {CURSOR_TAG}:({" OR ".join(sorted(pending))})', since, until, cursor)
            oldest = until
            for event in body['data']:
                tag, millis, position = _read_event(event)
                oldest = min(oldest, millis)
                if tag in pending and millis >= newest.setdefault(tag, millis) - OVERLAP_MS:
                    held[tag].add(position)
            cursor = (body.get('meta') or {}).get('page', {}).get('after')
            settled = {tag for tag in pending if tag in newest and oldest < newest[tag] - OVERLAP_MS}
            if not cursor:
                break
            if settled:  # a new, narrower query: fewer streams, before the oldest log read (its ties included)
                pending -= settled
                until, cursor = oldest + 1, None
        found: dict[str, tuple[Position, Delivered] | None] = dict.fromkeys(tags)
        for tag, millis in newest.items():
            start = Position.before((millis - OVERLAP_MS) * 1_000_000)
            kept = [position for position in held[tag] if position >= start]
            found[tag] = start, Delivered(frozenset(p.id for p in kept), max(kept, default=start))
        return found

    def _search(self, query: str, since: int, until: int, cursor: str | None) -> dict[str, Any]:
        page: dict[str, Any] = {'limit': PAGE_LIMIT, **({'cursor': cursor} if cursor else {})}
        body = {'filter': {'query': query, 'from': str(since), 'to': str(until)}, 'sort': '-timestamp', 'page': page}
        self._crawl.time_left(spent='no cursor recovery')
        wait = self._not_before - self._crawl.clock.monotonic()
        if wait > 0:
            raise RecoveryFailed(f'Datadog\'s search API rate limit (next request in {wait:.0f} s)', lasting=False)
        try:
            response = self._http.post(self._url, json=body, extra_headers=self._headers)
        except RequestException as e:
            raise RecoveryFailed(f'could not reach {self._url} ({type(e).__name__})', lasting=False) from None
        status = response.status_code
        if status == 429 or response.headers.get('X-RateLimit-Remaining') == '0':
            reset = max(1.0, number(response.headers.get('X-RateLimit-Reset')) or DEFAULT_RESET)
            self._not_before = self._crawl.clock.monotonic() + reset
            if status == 429:
                raise RecoveryFailed(f'Datadog\'s search API rate limit (next request in {reset:.0f} s)', lasting=False)
        if status in (401, 403):
            raise RecoveryFailed(f'Datadog refused the keys (HTTP {status}): {KEYS}', lasting=True)
        try:
            decoded = json.decode(response.content)
            if status != 200 or not isinstance(decoded.get('data'), list):
                raise ValueError
        except (ValueError, AttributeError):
            raise RecoveryFailed(f'HTTP {status} from {self._url}', lasting=400 <= status < 500) from None
        return decoded


def _read_event(event: Any) -> tuple[str | None, int, Position]:
    """An event's `acme_cursor` tag, its time in milliseconds, and its place in ACME's order."""
    try:
        attributes = event['attributes']
        millis = parse_rfc3339(attributes['timestamp']) // 1_000_000
        tag = next((tag[len(CURSOR_TAG) + 1 :] for tag in attributes['tags'] if tag.startswith(CURSOR_TAG + ':')), None)
        acme = attributes['attributes']['acme']
        return tag, millis, Position(parse_rfc3339(acme['timestamp']), order_id(acme['id']))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, 2**63, Position.before(0)  # not one of ours, or not readable: ignored
