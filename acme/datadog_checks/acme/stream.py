# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One ACME stream crawled as a LogStream: from the stored cursor, in ACME's order, a page at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from datadog_checks.base.checks.logs.crawler.stream import LogRecord, LogStream

from .cursor import InvalidCursor, OpenQuery, Position
from .errors import PageTokenExpired
from .log_format import to_datadog_log
from .metrics import STREAM_TAG
from .timestamps import parse_rfc3339, seconds_to_nanos

if TYPE_CHECKING:
    from .check import AcmeCheck
    from .client import AcmeClient, LogPage

# The intake rejects logs older than 18 h; the margin covers the Agent's own delay in shipping them.
INTAKE_MAX_AGE = 18 * 3600
SHIPPING_MARGIN = 5 * 60
# ACME honours a page token for 5 minutes after issuing it; keep a margin for the time the next run takes.
PAGE_TOKEN_LIFETIME = 4 * 60


class AcmeLogStream(LogStream):
    """Stream of logs from ACME. Its name is the ACME stream id, which also keys its cursor."""

    def __init__(self, *, check: AcmeCheck, name: str, client: AcmeClient) -> None:
        super().__init__(check=check, name=name)
        self._client = client
        self._ddtags = self.construct_tags([f'{STREAM_TAG}:{name}'])
        self._saved: Position | None = None
        # Whether this run stored a cursor, or handed the Agent a log that carries one.
        self.checkpointed = False
        # How far this run got; the check reports the crawl lag from it.
        self.position: Position | None = None

    def records(self, *, cursor: dict[str, Any] | None = None) -> Iterator[LogRecord]:
        """Yield every log after `cursor` that is old enough to be final, and young enough for the intake.

        The last record of each page carries the cursor, so the Agent writes it once per page, only after
        the whole page was submitted.
        """
        now = self.check.clock.time()
        stale_line = self._stale_line(now)
        self.position = self._saved = self._stored_position(cursor)
        if self.position is None:
            self.position = self.first_position(now)
        elif self.position.nanos < stale_line:
            # Only a cursor past the intake's own limit is news; within the shipping margin it is normal, e.g. a
            # new stream pinned at the line when the run started, that this run reaches a few seconds later.
            if self.position.nanos < seconds_to_nanos(now - INTAKE_MAX_AGE):
                self.check.warning(
                    'Stream `%s` is %.1f hours behind; logs older than 18 hours are not accepted by Datadog '
                    'and are skipped',
                    self.name,
                    (now - self.position.nanos / 1e9) / 3600,
                )
            self.position = Position.before(stale_line)

        query = self.check.open_queries.pop(self.name, None)
        if query and query.resumes == self.position and now - query.issued_at < PAGE_TOKEN_LIFETIME:
            yield from self._crawl(query.end, page_token=query.page_token)
            return

        end = seconds_to_nanos(now - self.check.config.ingestion_delay)
        if self.position.nanos >= end:
            self._save_if_moved()  # a first run pins its starting line even when there is nothing to read yet
            return
        yield from self._crawl(end)

    def first_position(self, now: float) -> Position:
        """Where a stream without a cursor starts: `initial_lookback` ago, but never before the 18 h line."""
        return Position.before(max(seconds_to_nanos(now - self.check.config.initial_lookback), self._stale_line(now)))

    def _crawl(self, end: int, *, page_token: str | None = None) -> Iterator[LogRecord]:
        assert self.position is not None  # set by records()
        client, page_size = self._client, self.check.config.page_size
        start = self.position.nanos
        while True:
            try:
                for page in client.log_pages(self.name, start=start, end=end, limit=page_size, page_token=page_token):
                    yield from self._page_records(page, end)
                    if page.next_token:
                        # Reached only once the page is submitted; a run that stops before the next page
                        # leaves the token to the next run.
                        self.check.open_queries[self.name] = OpenQuery(
                            page.next_token, end, self._saved, self.check.clock.time()
                        )
                self.check.open_queries.pop(self.name, None)
                return
            except PageTokenExpired:
                # Start the query again from the last log this run went past; logs at or before it
                # (`<= position`) are skipped, so that is free of loss and duplicates.
                self.check.log.info('Page token of stream `%s` expired; restarting the query', self.name)
                start, page_token = self.position.nanos, None

    def _page_records(self, page: LogPage, end: int) -> Iterator[LogRecord]:
        """Yield the new logs of `page`, one at a time; the last one carries the cursor for the whole page.

        Only one record is held back, to tell the last one apart: a page never becomes a list of submitted
        logs, so each is freed as soon as the Agent has it (little work for the garbage collector, constant memory).
        """
        check = self.check
        stale_line = self._stale_line(check.clock.time())
        name, ddtags, service = self.name, self._ddtags, check.config.service
        assert self.position is not None  # set by records()
        last_nanos, last_id = self.position
        held: LogRecord | None = None
        malformed = stale = 0
        first_problem = ''
        # The hot path: locals only, no tuple per log; a Position is made once per page.
        for raw in page.logs:
            try:
                nanos, log_id, message = parse_rfc3339(raw['timestamp']), raw['id'], raw['message']
                if not isinstance(log_id, str) or not log_id or not isinstance(message, str):
                    raise ValueError('`id` and `message` must be non-empty strings')
            except (KeyError, TypeError, ValueError) as e:
                malformed += 1
                first_problem = first_problem or f'{type(e).__name__}: {e}'
                continue
            if nanos <= last_nanos and (nanos < last_nanos or log_id <= last_id):
                continue  # already handled: a restarted query or the tie at the cursor
            last_nanos, last_id = nanos, log_id
            if nanos < stale_line:
                stale += 1
                continue
            if held is not None:
                yield held
            held = LogRecord(to_datadog_log(raw, nanos, name, ddtags, service), cursor=None)

        self.position = Position(last_nanos, last_id)
        if page.last:
            # Everything before `end` is final, read and done: quiet streams move on too.
            self.position = max(self.position, Position.before(end))
        if malformed:
            check.metrics.skipped(name, 'malformed', malformed)
            check.warning('Skipped %d malformed logs in stream `%s`; first: %s', malformed, name, first_problem)
        if stale:
            check.metrics.skipped(name, 'stale', stale)
        if held is not None:
            held.cursor = self.position.to_cursor()
            self._saved = self.position
            self.checkpointed = True
            yield held
        elif page.last:
            self._save_if_moved()

    def _stored_position(self, cursor: dict[str, Any] | None) -> Position | None:
        if cursor is None:
            return None
        try:
            return Position.from_cursor(cursor)
        except InvalidCursor as e:
            self.check.warning('Stream `%s`: %s; starting over as on a first run', self.name, e)
            return None

    def _save_if_moved(self) -> None:
        if self.position is not None and self.position != self._saved:
            self.check.save_log_cursor(self.name, self.position.to_cursor())
            self._saved = self.position
            self.checkpointed = True

    @staticmethod
    def _stale_line(now: float) -> int:
        return seconds_to_nanos(now - INTAKE_MAX_AGE + SHIPPING_MARGIN)
