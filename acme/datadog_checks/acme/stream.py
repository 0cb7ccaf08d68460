# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One ACME stream as a LogStream: `records(cursor)` yields, from the cursor in ACME's order a page at a time, the
LogRecords the base package's `send_log` submits; the last record of a page carries the cursor, so the base writes it
after the page's logs. A cursor no record carries (a window without logs, skipped logs) the stream writes likewise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple

from datadog_checks.base.checks.logs.crawler.stream import LogRecord, LogStream

from .client import INSTANCE_FAILURES, MAX_ATTEMPTS, RETRY_CAP, AcmeApiError, PageTokenExpired, StreamUnavailable
from .compat import json
from .cursors import CURSOR_PREFIX, InvalidCursor, Position, order_id
from .log_format import CRAWLER_FIELDS, UnencodableLog, encode, fit_line, log_shaper, make_encodable
from .timing import INTAKE_MAX_AGE, RunOver, parse_rfc3339, seconds_to_nanos, stale_line

if TYPE_CHECKING:
    from datadog_checks.base import AgentCheck

    from .check import Crawl

STREAM_TAG, CURSOR_TAG, LISTING = 'acme_stream', 'acme_cursor', 'none'  # tags; `none`: the listing's requests
MAX_PAGE_SIZE, PAGE_TOKEN_LIFETIME = 1000, 4 * 60  # ACME's (logs, the listing); a token lives 5 minutes, less a visit
# A failed stream is retried after 15 s, 30, 60, 120, 240, then every 5 minutes (or after its 503's Retry-After, up
# to 5 minutes), so that it does not spend the token's requests the others need.
RETRY_FIRST = 15.0
MALFORMED, UNENCODABLE, STALE = 'malformed', 'unencodable', 'stale'  # why logs are skipped
NAMED_IDS = 5  # per reason, in a warning
# A query a visit stopped in: the next visit continues it with its token, rather than re-read the cursor's instant.
OpenQuery = NamedTuple('OpenQuery', [('page_token', str), ('end', int), ('resumes', Position), ('issued_at', float)])
# What Datadog already holds after a recovered stream's cursor (recovery.py): these ids, up to `until`.
Delivered = NamedTuple('Delivered', [('ids', frozenset), ('until', Position)])


@dataclass
class Skipped:
    count: int = 0
    ids: list[str] = field(default_factory=list)
    problem: str = ''


@dataclass
class Visit:
    """What one visit did; the hot loop updates it a page at a time."""

    position: Position
    bytes_before: int  # what the run had handed the Agent when the visit began
    skipped: dict[str, Skipped] = field(default_factory=dict)
    pages: int = 0
    submitted: int = 0
    truncated: int = 0
    held: bool = False  # the Agent's file cannot take more now: stopped before a log not submitted
    reached_end: bool = False  # everything before the query's end was read
    carried: Position | None = None  # the cursor the last record handed out carries (the base writes it)

    def skip(self, reason: str, raw: Any, problem: Exception) -> None:
        skipped = self.skipped.setdefault(reason, Skipped())
        skipped.count += 1
        if len(skipped.ids) < NAMED_IDS:
            skipped.ids.append(repr(raw['id'])[:100] if isinstance(raw, dict) and 'id' in raw else '(no id)')
        skipped.problem = skipped.problem or f'{type(problem).__name__}: {problem}'[:300]


class AcmeLogStream(LogStream):
    """Stream of logs from ACME. `name` names its cursor (cursors.py); `stream_id` is ACME's id."""

    def __init__(
        self, check: AgentCheck, *, name: str, stream_id: str, created_ns: int | None, tag: str, crawl: Crawl
    ) -> None:
        super().__init__(check=check, name=name)
        self.stream_id, self.created_ns, self.cursor_tag = stream_id, created_ns, tag
        self._crawl = crawl
        self._shape = log_shaper(
            self.construct_tags([f'{STREAM_TAG}:{stream_id}', f'{CURSOR_TAG}:{tag}']), crawl.service
        )
        self._query: OpenQuery | None = None
        self._saved: Position | None = None
        self.delivered: Delivered | None = None
        # For the scheduler (directory.py) and cursor recovery (recovery.py).
        self.last_visit = float('-inf')  # never visited: first
        self.caught_up = False
        self.unavailable = False  # ACME answered 403/404: not crawled until a listing shows it again
        self.recovering = False  # not crawled until recovery says where it starts
        self.start = Position.before(0)  # where a recovering stream starts if Datadog has none of its logs
        self.failures = 0  # consecutive failed visits
        self.retry_at = float('-inf')
        self.problem: str | None = None

    def pin(self, position: Position) -> None:
        """Store a cursor no record carries, as `send_log` does (a new stream's start, before any log is read)."""
        self.check.write_persistent_cache(CURSOR_PREFIX + self.name, json.encode(position.to_cursor(self.created_ns)))

    def records(self, *, cursor: dict[str, Any] | None = None) -> Iterator[LogRecord]:
        """The logs after `cursor`, final and young enough for the intake, until the stream is caught up, another
        waits (after a page), this one fails, or the run's time is spent or the Agent's file is full (RunOver)."""
        crawl = self._crawl
        now = crawl.clock.time()
        visit = Visit(self._start(cursor, now), crawl.log_file.sent)
        query, self.caught_up = self._query, False
        if query and query.resumes == visit.position and now - query.issued_at < PAGE_TOKEN_LIFETIME:
            return self._visit(visit, query.end, query.page_token)
        self._query, end = None, crawl.acme_clock.end()
        if visit.position.nanos < end:
            # Inside an instant (ACME starts queries at an instant, not an id): a query of that instant alone,
            # re-read up to the cursor in pages as large as ACME gives, so that a run passes a large tie.
            return self._visit(visit, visit.position.nanos + 1 if visit.position.id else end, None)
        self.caught_up = True
        self._checkpoint(visit)  # a stale cursor moved to the 18 h line
        self._end_visit(visit, None)
        return iter(())

    def _start(self, cursor: dict[str, Any] | None, now: float) -> Position:
        position = None
        if cursor is not None:
            try:
                position = Position.from_cursor(cursor)
            except InvalidCursor as e:
                self._crawl.warn('Stream `%s`: %s; starting over as on a first run', self.stream_id, e)
        self._saved = position
        position = position or Position.before(self._crawl.acme_clock.first_start(now))
        if position.nanos < seconds_to_nanos(now - INTAKE_MAX_AGE):
            hours = (now - position.nanos / 1e9) / 3600
            self._crawl.warn('Stream `%s` is %.1f hours behind: logs over 17 h 55 min skipped', self.stream_id, hours)
        return max(position, Position.before(stale_line(now)))

    def _visit(self, visit: Visit, end: int, page_token: str | None) -> Iterator[LogRecord]:
        crawl = self._crawl
        failure: BaseException | None = None
        instant = end == visit.position.nanos + 1  # a query of the cursor's instant alone
        try:
            while True:
                new_query = page_token is None
                try:
                    pages = crawl.client.log_pages(
                        self.stream_id,
                        start=visit.position.nanos,
                        end=end,
                        limit=MAX_PAGE_SIZE if instant else crawl.page_size,
                        page_token=page_token,
                        attempts=1 if self.failures else MAX_ATTEMPTS,  # a failing stream retries by its backoff
                    )
                    for logs, next_token, acme_time in pages:
                        if new_query and acme_time is not None:  # ACME's clock has the last word on what is final
                            end = min(end, crawl.acme_clock.final_before(acme_time))
                        new_query, visit.pages = False, visit.pages + 1
                        yield from self._read_page(logs, last=not next_token, end=end, visit=visit)
                        self._checkpoint(visit)
                        if visit.held:  # stopped within the page: the query starts again from the cursor
                            self._query = None
                            raise RunOver('the Agent\'s file of this check\'s logs is full of lines not shipped')
                        if visit.reached_end:
                            self._query, self.caught_up = None, not instant
                            return
                        # Kept, even if this run ends now: the next visit continues the query, not re-reading.
                        assert next_token is not None  # not the last page
                        self._query = OpenQuery(next_token, end, visit.position, crawl.clock.time())
                        if crawl.others_waiting():
                            return
                    return
                except PageTokenExpired:
                    # Again from the last log this visit went past: logs at or before it are skipped.
                    crawl.log.info('Page token of stream `%s` expired; restarting the query', self.stream_id)
                    self._query, page_token = None, None
        except (*INSTANCE_FAILURES, RunOver):
            raise  # the whole instance's, or the run's: not this stream's
        except StreamUnavailable as e:
            crawl.warn('Skipping %s', e)
            self.unavailable = True
        except Exception as e:  # this stream's trouble (5xx, timeouts, bad pages, a bug) stays its own
            failure = e
            if not isinstance(e, AcmeApiError):
                crawl.log.exception('Unexpected error crawling stream `%s`', self.stream_id)
        finally:
            self._end_visit(visit, failure)

    def _read_page(self, logs: list[Any], *, last: bool, end: int, visit: Visit) -> Iterator[LogRecord]:
        """A record per new log of `logs`, past `visit.position` and before `end`; the hot loop, hence locals. One
        record is held back, so that the page's last carries its cursor: past the logs skipped after it, and past the
        window's end on the `last` page."""
        last_nanos, last_id = visit.position
        held: LogRecord | None = None
        stale, submitted, every = 0, 0, self._crawl.page_size
        delivered = self.delivered
        log_file, shape, new_record = self._crawl.log_file, self._shape, LogRecord.__new__
        admit, line_limit, stale_before = log_file.admit, log_file.line_limit, stale_line(self._crawl.clock.time())
        try:
            for raw in logs:
                try:
                    nanos = parse_rfc3339(raw['timestamp'])
                    log_id = raw['id']
                    if log_id.__class__ is not str or not log_id:
                        raise ValueError('`id` must be a non-empty string')
                except Exception as e:  # anything ACME sends, any shape: skipped, rather than stopping the stream
                    visit.skip(MALFORMED, raw, e)
                    continue
                if not log_id.isascii():
                    log_id = order_id(log_id)
                if nanos <= last_nanos and (nanos < last_nanos or log_id <= last_id):
                    continue  # already handled: a restarted query, or the tie at the cursor
                if nanos >= end:
                    visit.reached_end = True
                    break
                if nanos < stale_before or (delivered is not None and log_id in delivered.ids):
                    last_nanos, last_id = nanos, log_id
                    stale += nanos < stale_before  # the others Datadog holds already (recovery.py)
                    continue
                try:
                    data = shape(raw, nanos)  # raises for a log without a string `message`
                    try:
                        line = encode(data)
                    except (TypeError, ValueError):  # what orjson cannot write (the base package encodes with it)
                        line = make_encodable(data)
                    if len(line) >= line_limit:
                        line = fit_line(data, line, line_limit)
                        visit.truncated += 1
                except Exception as e:
                    last_nanos, last_id = nanos, log_id
                    visit.skip(UNENCODABLE if isinstance(e, UnencodableLog) else MALFORMED, raw, e)
                    continue
                if not admit(len(line) + 1):  # the Agent adds a newline; before this log, the cursor stops
                    visit.held = True
                    visit.truncated -= 'truncated' in data.get(CRAWLER_FIELDS, ())  # the next run counts it
                    break
                data['timestamp'] = (data['timestamp'] + 0.5) / 1000  # log_format.to_send_log_timestamp, inlined
                if held is not None:
                    submitted += 1
                    if submitted % every == 0:  # a cursor every `page_size` logs, however large ACME's page
                        held.cursor = Position(last_nanos, last_id).to_cursor(self.created_ns)  # type: ignore[misc]
                    yield held
                last_nanos, last_id = nanos, log_id
                # LogRecord(data, cursor=None), without its Python-level __init__: a tenth of a microsecond a log.
                held = new_record(LogRecord)
                held.data, held.cursor = data, None  # type: ignore[misc]  # LogRecord's slots, which mypy misses
        finally:
            visit.submitted += submitted

        if stale:
            visit.skipped.setdefault(STALE, Skipped()).count += stale
        visit.position = Position(last_nanos, last_id)
        if (last or visit.reached_end) and not visit.held:
            # Everything before `end` is final, read and done: quiet streams move on too.
            visit.reached_end = True
            visit.position = max(visit.position, Position.before(end))
        if delivered is not None and visit.position >= delivered.until:
            self.delivered = None
        if held is not None:
            held.cursor = visit.position.to_cursor(self.created_ns)  # type: ignore[misc]  # a LogRecord slot
            visit.carried = visit.position
            yield held
            visit.submitted += 1

    def _checkpoint(self, visit: Visit) -> None:
        """Store the position if no record carried it there (the base package stores the cursors records carry)."""
        if visit.position != self._saved and visit.position != visit.carried:
            self.pin(visit.position)
        self._saved = visit.position

    def _end_visit(self, visit: Visit, failure: BaseException | None) -> None:
        crawl, now = self._crawl, self._crawl.clock.time()
        if visit.pages or failure or self.caught_up:  # not a run that ended before this stream got its turn
            self.last_visit = now
        if failure is None and (visit.pages or self.caught_up):  # ACME answered for this stream
            self.failures, self.problem = 0, None
        elif failure is not None:
            self.failures += 1
            retry_after = getattr(failure, 'retry_after', None) or 0.0  # capped by the client
            self.retry_at = now + max(min(RETRY_CAP, RETRY_FIRST * 2 ** min(self.failures - 1, 5)), retry_after)
            problem = str(failure) if isinstance(failure, AcmeApiError) else f'{type(failure).__name__}: {failure}'
            self.problem = crawl.scrub(problem)
            message = 'Stream `%s` failed (%d in a row): %s; the other streams go on, it is retried in %.0f s'
            crawl.warn(message, self.stream_id, self.failures, self.problem, self.retry_at - now)
        crawl.metrics.visited(self.stream_id, visit, sent_bytes=crawl.log_file.sent - visit.bytes_before, now=now)
        for reason, skip in visit.skipped.items():
            if reason != STALE:
                message = 'Skipped %d %s logs in stream `%s` (ids: %s); first: %s'
                crawl.warn(message, skip.count, reason, self.stream_id, ', '.join(skip.ids), skip.problem)
