# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One ACME stream as a LogStream: from its cursor, in ACME's order, a page at a time, each log submitted once.

`records(cursor=...)` is the tutorial's: it yields LogRecords for the base package's `send_log`, and the last record
of each page carries the cursor, so that the base writes it once per page, after the page's logs. Where no record
can carry it (a window without logs, a page of skipped logs, a stale cursor moved to the 18 hours line), the stream
writes it itself, in the same format and under the same key. A failure of this stream ends its visit only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

from datadog_checks.base.checks.logs.crawler.stream import LogRecord, LogStream

from .agent_log_file import STOP, TOO_LARGE, OutOfBytes
from .client import INSTANCE_FAILURES, AcmeApiError, PageTokenExpired, StartInTheFuture, StreamUnavailable
from .cursors import InvalidCursor, Position
from .log_format import CRAWLER_FIELDS, UnencodableLog, encode, fit_line, log_shaper, make_encodable
from .metrics import STREAM_TAG
from .timing import INTAKE_MAX_AGE, RunOver, parse_rfc3339, seconds_to_nanos, stale_line

if TYPE_CHECKING:
    from logging import LoggerAdapter

    from datadog_checks.base import AgentCheck

    from .agent_log_file import AgentLogFile
    from .client import AcmeClient
    from .metrics import CrawlMetrics
    from .timing import Clock, RunTime, Windows

# ACME honours a page token for 5 minutes after issuing it; keep a margin for the time the next visit takes.
PAGE_TOKEN_LIFETIME = 4 * 60
# A stream whose visit failed is retried after 15 s, then 30, 60, 120, 240, then every 5 minutes (or after the
# Retry-After of its 503, up to 5 minutes), so that it does not spend the token's requests the others need.
RETRY_FIRST, RETRY_CAP = 15.0, 300.0
# Reasons a log is skipped (the `reason` tag of acme.logs.skipped), and how many ids a warning names per reason.
MALFORMED = 'malformed'  # no usable id, timestamp or message, or not an object at all
UNENCODABLE = 'unencodable'  # cannot be written as a line the Agent takes
TOO_LARGE_FOR_AGENT = 'too_large'  # longer than the Agent's integration log file may be
STALE = 'stale'  # older than the intake accepts
NAMED_IDS = 5


@dataclass
class Crawl:
    """What every stream of an instance shares, for the life of the check instance."""

    client: AcmeClient
    windows: Windows
    run_time: RunTime
    log_file: AgentLogFile
    metrics: CrawlMetrics
    clock: Clock
    log: LoggerAdapter
    warn: Callable[..., None]
    page_size: int
    service: str | None
    others_waiting: Callable[[], bool] = lambda: False  # set by the scheduler


class OpenQuery(NamedTuple):
    """A query a visit stopped in the middle of, continued by the next visit with its page token.

    Restarting from the cursor instead would re-read every log sharing the cursor's timestamp.
    """

    page_token: str
    end: int  # the query's exclusive upper bound, in nanoseconds
    resumes: Position  # where the token continues from
    issued_at: float  # Unix seconds


@dataclass
class Skipped:
    count: int = 0
    ids: list[str] = field(default_factory=list)
    first_problem: str = ''


@dataclass
class Visit:
    """What one visit did: how far it got and what it skipped; the hot loop updates it a page at a time."""

    position: Position
    bytes_before: int  # what the run had handed the Agent when the visit began
    skipped: dict[str, Skipped] = field(default_factory=dict)
    pages: int = 0
    submitted: int = 0
    truncated: int = 0
    out_of_bytes: bool = False  # the Agent's log file cannot take more this run: stopped before a log not submitted
    reached_end: bool = False  # everything before the query's end was read
    carried: Position | None = None  # the cursor the last record handed out carries (the base writes it)

    def skip(self, reason: str, raw: Any, problem: object = None) -> None:
        skipped = self.skipped.setdefault(reason, Skipped())
        skipped.count += 1
        if len(skipped.ids) < NAMED_IDS:
            log_id = raw.get('id') if isinstance(raw, dict) else None
            skipped.ids.append(repr(log_id)[:100] if log_id is not None else '(no id)')
        if problem is not None and not skipped.first_problem:
            skipped.first_problem = f'{type(problem).__name__}: {problem}'[:300]


class AcmeLogStream(LogStream):
    """Stream of logs from ACME. `name` names its cursor (see cursors.py); `stream_id` is ACME's id."""

    def __init__(
        self,
        *,
        check: AgentCheck,
        name: str,
        stream_id: str,
        created_ns: int | None,
        crawl: Crawl,
        save_cursor: Callable[[dict], None],
    ) -> None:
        super().__init__(check=check, name=name)
        self.stream_id = stream_id
        self.created_ns = created_ns
        self._crawl = crawl
        self._save_cursor = save_cursor
        self._shape = log_shaper(self.construct_tags([f'{STREAM_TAG}:{stream_id}']), crawl.service)
        self._query: OpenQuery | None = None
        self._saved: Position | None = None
        # For the scheduler: when it was last visited, whether it has a backlog, and its failures.
        self.last_visit: float | None = None
        self.caught_up = False
        self.unavailable = False  # ACME answered 403/404: not crawled until a listing shows it again
        self.failures = 0  # consecutive failed visits
        self.retry_at = float('-inf')
        self.problem: str | None = None

    def records(self, *, cursor: dict[str, Any] | None = None) -> Iterator[LogRecord]:
        """The logs after `cursor` that are final and young enough for the intake, for one visit.

        A visit ends when the stream is caught up, when another stream has waited longer (after a page), when this
        stream fails, or when the run's time or bytes are spent (OutOfTime, OutOfBytes: the run ends).
        """
        crawl = self._crawl
        now = crawl.clock.time()
        visit = Visit(self._start(cursor, now), crawl.log_file.sent)
        query, self.caught_up = self._query, False
        if query and query.resumes == visit.position and now - query.issued_at < PAGE_TOKEN_LIFETIME:
            return self._visit(visit, query.end, query.page_token)
        self._query, end = None, crawl.windows.end()
        if visit.position.nanos < end:
            return self._visit(visit, end, None)
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
        if position is None:
            position = Position.before(self._crawl.windows.first_start(now))
        if position.nanos < stale_line(now):
            if position.nanos < seconds_to_nanos(now - INTAKE_MAX_AGE):
                self._crawl.warn(
                    'Stream `%s` is %.1f hours behind; logs older than 18 hours are not accepted by Datadog and '
                    'are skipped',
                    self.stream_id,
                    (now - position.nanos / 1e9) / 3600,
                )
            position = Position.before(stale_line(now))
        return position

    def _visit(self, visit: Visit, end: int, page_token: str | None) -> Iterator[LogRecord]:
        crawl = self._crawl
        client, windows, run_time, clock = crawl.client, crawl.windows, crawl.run_time, crawl.clock
        rereading = self._start_rereading(visit, page_token)
        failure: BaseException | None = None
        try:
            while True:
                new_query = page_token is None
                try:
                    pages = client.log_pages(
                        self.stream_id,
                        start=visit.position.nanos,
                        end=end,
                        limit=crawl.page_size,
                        page_token=page_token,
                    )
                    for page in pages:
                        if new_query and page.acme_time is not None:
                            # ACME's clock has the last word: what its answer says is final, even if the estimate
                            # of its clock was off when the query was planned (before ACME answered, after a step).
                            end = min(end, windows.final_before(page.acme_time))
                        new_query, visit.pages = False, visit.pages + 1
                        yield from self._read_page(page.logs, last=not page.next_token, end=end, visit=visit)
                        if rereading and visit.position > rereading:
                            run_time.resume()
                            rereading = None
                        self._checkpoint(visit)
                        if visit.out_of_bytes:  # stopped within the page: the query starts again from the cursor
                            self._query = None
                            raise OutOfBytes('the bytes this run may hand to the Agent are spent')
                        if visit.reached_end:
                            self._query, self.caught_up = None, True
                            return
                        # Kept until a later page replaces it: the next visit, this run's or a later run's (even
                        # if this run ends before its next request), continues the query instead of re-reading.
                        assert page.next_token is not None  # not the last page
                        self._query = OpenQuery(page.next_token, end, visit.position, clock.time())
                        if not rereading and crawl.others_waiting():
                            return
                    return
                except PageTokenExpired:
                    # Start the query again from the last log this visit went past: logs at or before it are
                    # skipped, so that is free of loss and duplicates.
                    crawl.log.info('Page token of stream `%s` expired; restarting the query', self.stream_id)
                    self._query, page_token = None, None
                    rereading = rereading or self._start_rereading(visit, None)
        except StartInTheFuture as e:
            crawl.log.debug('Nothing to read yet, %s', e.describe())
            self.caught_up = True
        except (*INSTANCE_FAILURES, RunOver):
            raise  # the whole instance's, or the run's: not this stream's
        except StreamUnavailable as e:
            crawl.warn('Skipping %s', e.describe())
            self.unavailable = True
        except Exception as e:  # this stream's trouble (5xx, timeouts, bad pages, a bug) stays its own
            failure = e
            if not isinstance(e, AcmeApiError):
                crawl.log.exception('Unexpected error crawling stream `%s`', self.stream_id)
        finally:
            if rereading:
                run_time.resume()
            self._end_visit(visit, failure)

    def _start_rereading(self, visit: Visit, page_token: str | None) -> Position | None:
        """A new query from inside an instant re-reads it up to the cursor, for free (RunTime): until what position."""
        if page_token is None and visit.position.id:
            self._crawl.run_time.pause()
            return visit.position
        return None

    def _read_page(self, logs: list[Any], *, last: bool, end: int, visit: Visit) -> Iterator[LogRecord]:
        """Yield a record per new log of `logs`, past `visit.position` and before `end`; move `visit.position`.

        The crawler's hot loop, hence locals and plain comparisons rather than helpers per log. One record is held
        back so that the last one carries the cursor of the whole page, past the logs skipped after it, and past the
        window's end on the `last` page.
        """
        last_nanos, last_id = visit.position
        held: LogRecord | None = None
        stale, submitted = 0, 0
        log_file, shape, new_record = self._crawl.log_file, self._shape, LogRecord.__new__
        line_limit, stale_before = log_file.line_limit, stale_line(self._crawl.clock.time())
        # Lines that fit in `room` go without a call each; what they took is counted once, however the page ends.
        room = allowed = log_file.room()
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
                if nanos <= last_nanos and (nanos < last_nanos or log_id <= last_id):
                    continue  # already handled: a restarted query, or the tie at the cursor
                if nanos >= end:
                    visit.reached_end = True
                    break
                if nanos < stale_before:
                    last_nanos, last_id = nanos, log_id
                    stale += 1
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
                except UnencodableLog as e:
                    last_nanos, last_id = nanos, log_id
                    visit.skip(UNENCODABLE, raw, e)
                    continue
                except Exception as e:
                    last_nanos, last_id = nanos, log_id
                    visit.skip(MALFORMED, raw, e)
                    continue
                room -= len(line) + 1  # the Agent adds a newline
                if room < 0:
                    room += len(line) + 1
                    log_file.take(allowed - room)
                    verdict = log_file.admit(len(line) + 1)
                    if verdict == STOP:  # before this log: the cursor must not pass it
                        room = allowed = 0
                        visit.out_of_bytes = True
                        visit.truncated -= 'truncated' in data.get(CRAWLER_FIELDS, ())  # the next run counts it
                        break
                    room = allowed = log_file.room()
                    if verdict == TOO_LARGE:
                        last_nanos, last_id = nanos, log_id
                        visit.skip(TOO_LARGE_FOR_AGENT, raw)
                        continue
                last_nanos, last_id = nanos, log_id
                data['timestamp'] = (data['timestamp'] + 0.5) / 1000  # log_format.to_send_log_timestamp, inlined
                if held is not None:
                    yield held
                    submitted += 1
                # LogRecord(data, cursor=None), without its Python-level __init__: a tenth of a microsecond a log.
                held = new_record(LogRecord)
                held.data, held.cursor = data, None  # type: ignore[misc]  # LogRecord's slots, which mypy misses
        finally:
            log_file.take(allowed - room)
            visit.submitted += submitted

        if stale:
            visit.skipped.setdefault(STALE, Skipped()).count += stale
        visit.position = Position(last_nanos, last_id)
        if (last or visit.reached_end) and not visit.out_of_bytes:
            # Everything before `end` is final, read and done: quiet streams move on too.
            visit.reached_end = True
            visit.position = max(visit.position, Position.before(end))
        if held is not None:
            held.cursor = visit.position.to_cursor()  # type: ignore[misc]  # a LogRecord slot mypy misses
            visit.carried = visit.position
            yield held
            visit.submitted += 1

    def _checkpoint(self, visit: Visit) -> None:
        """Store the position if no record carried it there (the base package stores the cursors records carry)."""
        position = visit.position
        if position != self._saved and position != visit.carried:
            self._save_cursor(position.to_cursor())
        self._saved = position

    def _end_visit(self, visit: Visit, failure: BaseException | None) -> None:
        crawl, now = self._crawl, self._crawl.clock.time()
        if visit.pages or failure or self.caught_up:  # not a run that ended before this stream got its turn
            self.last_visit = now
        if failure is None and (visit.pages or self.caught_up):  # ACME answered for this stream
            self.failures, self.problem = 0, None
        elif failure is not None:
            self.failures += 1
            delay = min(RETRY_CAP, RETRY_FIRST * 2 ** (self.failures - 1))
            retry_after = getattr(failure, 'retry_after', None)
            self.retry_at = now + max(delay, min(retry_after or 0.0, RETRY_CAP))
            self.problem = (
                failure.describe()
                if isinstance(failure, AcmeApiError)
                else crawl.client.scrub(f'{type(failure).__name__}: {failure}')
            )
            crawl.warn(
                'Stream `%s` failed (%d in a row): %s; the other streams go on, it is retried in %.0f s',
                self.stream_id,
                self.failures,
                self.problem,
                self.retry_at - now,
            )
        crawl.metrics.visited(self.stream_id, visit, sent_bytes=crawl.log_file.sent - visit.bytes_before, now=now)
        for reason, skipped in visit.skipped.items():
            if reason != STALE:
                crawl.warn(
                    'Skipped %d %s logs in stream `%s` (ids: %s); first: %s',
                    skipped.count,
                    reason.replace('_', ' '),
                    self.stream_id,
                    ', '.join(skipped.ids),
                    skipped.first_problem or 'longer than the Agent\'s integration log file may be',
                )
