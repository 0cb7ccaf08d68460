# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One ACME stream crawled as a LogStream: from its cursor, in ACME's order, a page at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from datadog_checks.base.checks.logs.crawler.stream import LogRecord, LogStream

from .cursor import InvalidCursor, OpenQuery, Position
from .errors import OutOfBytes, PageTokenExpired
from .log_format import log_shaper
from .metrics import STREAM_TAG
from .page import PageOutcome, read_page

if TYPE_CHECKING:
    from .check import AcmeCheck
    from .client import AcmeClient

# ACME honours a page token for 5 minutes after issuing it; keep a margin for the time the next visit takes.
PAGE_TOKEN_LIFETIME = 4 * 60


class AcmeLogStream(LogStream):
    """Stream of logs from ACME. Its name is the ACME stream id; `key` names its cursor (see identity.py)."""

    check: AcmeCheck

    def __init__(self, *, check: AcmeCheck, name: str, key: str, client: AcmeClient) -> None:
        super().__init__(check=check, name=name)
        self.key = key
        self._client = client
        self._shape_log = log_shaper(self.construct_tags([f'{STREAM_TAG}:{name}']), check.config.service)
        self._saved: Position | None = None
        # What the last visit did: how far it got, what it skipped, whether it caught up with the window's end.
        self.outcome = PageOutcome(Position.before(0))
        self.caught_up = False

    @property
    def position(self) -> Position:
        return self.outcome.position

    def records(self, *, cursor: dict[str, Any] | None = None) -> Iterator[LogRecord]:
        """The logs after `cursor` that are final and young enough for the intake, for one visit.

        A visit ends when the stream is caught up, when another stream has waited longer (after a page), or when
        the run's time or bytes are spent. Each page's last record carries the cursor; where no record can (a
        window without logs, a page of skipped logs, a run stopped mid-page), the stream writes it itself.
        """
        check = self.check
        now = check.clock.time()
        self._saved = position = self._stored_position(cursor)
        if position is None:
            position = check.windows.first_position(now)
        elif position.nanos < check.windows.stale_line(now):
            if check.windows.is_past_intake(position, now):
                check.warning(
                    'Stream `%s` is %.1f hours behind; logs older than 18 hours are not accepted by Datadog '
                    'and are skipped',
                    self.name,
                    (now - position.nanos / 1e9) / 3600,
                )
            position = Position.before(check.windows.stale_line(now))
        self.outcome = PageOutcome(position)
        self.caught_up = False

        # The page loop itself is what is returned, one generator less per log than `yield from` would take.
        query = check.open_queries.pop(self.key, None)
        if query and query.resumes == position and now - query.issued_at < PAGE_TOKEN_LIFETIME:
            return self._crawl(query.end, page_token=query.page_token)
        end = check.windows.end()
        if position.nanos >= end:
            self.caught_up = True
            self._checkpoint()  # a stale cursor moved to the 18 h line
            return iter(())
        return self._crawl(end)

    def _crawl(self, end: int, *, page_token: str | None = None) -> Iterator[LogRecord]:
        check, outcome = self.check, self.outcome
        rereading = self._start_rereading(page_token)
        while True:
            new_query = page_token is None
            try:
                pages = self._client.log_pages(
                    self.name,
                    start=outcome.position.nanos,
                    end=end,
                    limit=check.config.page_size,  # type: ignore[arg-type]
                    page_token=page_token,
                )
                for page in pages:
                    if new_query and page.acme_time is not None:
                        # ACME's clock has the last word: what its answer says is final, even if the estimate of
                        # its clock was off when the query was planned (before ACME first answered, or after a step).
                        end = min(end, check.windows.final_before(page.acme_time))
                    new_query = False
                    yield from read_page(
                        page.logs,
                        last=page.last,
                        end=end,
                        stale_line=check.windows.stale_line(check.clock.time()),
                        shape=self._shape_log,
                        log_file=check.log_file,
                        outcome=outcome,
                    )
                    if rereading and outcome.position > rereading:
                        check.run_time.resume()
                        rereading = None
                    if outcome.out_of_bytes:
                        self._checkpoint()
                        raise OutOfBytes('the bytes this run may hand to the Agent are spent')
                    if outcome.reached_end:
                        self._checkpoint()
                        self.caught_up = True
                        return
                    self._checkpoint()
                    # Left to the next visit, which continues the query instead of re-reading ties.
                    assert page.next_token is not None  # not the last page
                    check.open_queries[self.key] = OpenQuery(page.next_token, end, self._saved, check.clock.time())
                    if not rereading and check.others_waiting():
                        return
                return
            except PageTokenExpired:
                # Start the query again from the last log this visit went past; logs at or before it are skipped,
                # so that is free of loss and duplicates.
                check.log.info('Page token of stream `%s` expired; restarting the query', self.name)
                check.open_queries.pop(self.key, None)
                page_token = None
                rereading = rereading or self._start_rereading(None)

    def _start_rereading(self, page_token: str | None) -> Position | None:
        """A new query from inside an instant re-reads that instant's logs up to the cursor: make that free.

        Returns the position the visit must pass before the run's time counts again.
        """
        if page_token is None and self.outcome.position.id:
            self.check.run_time.pause()
            return self.outcome.position
        return None

    def _checkpoint(self) -> None:
        """Store the position if no record carried it there (the check stores the cursors that records carry)."""
        position = self.outcome.position
        if position != self._saved and position != self.outcome.carried:
            self.check.save_cursor(self, position)
        self._saved = position

    def _stored_position(self, cursor: dict[str, Any] | None) -> Position | None:
        if cursor is None:
            return None
        try:
            return Position.from_cursor(cursor)
        except InvalidCursor as e:
            self.check.warning('Stream `%s`: %s; starting over as on a first run', self.name, e)
            return None
