# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One ACME stream crawled as a LogStream: from the stored cursor, in ACME's order, a page at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from datadog_checks.base.checks.logs.crawler.stream import LogRecord, LogStream

from .cursor import InvalidCursor, Position
from .errors import PageTokenExpired
from .log_format import to_datadog_log
from .metrics import STREAM_TAG
from .timestamps import parse_rfc3339, seconds_to_nanos

if TYPE_CHECKING:
    from .check import AcmeCheck
    from .client import AcmeClient

# The intake rejects logs older than 18 h; the margin covers the Agent's own delay in shipping them.
INTAKE_MAX_AGE = 18 * 3600
SHIPPING_MARGIN = 5 * 60


class AcmeLogStream(LogStream):
    """Stream of logs from ACME. Its name is the ACME stream id, which also keys its cursor."""

    def __init__(self, *, check: AcmeCheck, name: str, client: AcmeClient) -> None:
        super().__init__(check=check, name=name)
        self._client = client
        self._ddtags = self.construct_tags([f'{STREAM_TAG}:{name}'])
        self._saved: Position | None = None
        # How far this run got; the check reports the crawl lag from it.
        self.position: Position | None = None

    def records(self, *, cursor: dict[str, Any] | None = None) -> Iterator[LogRecord]:
        """Yield every log after `cursor` that is old enough to be final, and young enough for the intake.

        The last record of each page carries the cursor, so the Agent writes it once per page, only after
        the whole page was submitted.
        """
        config = self.check.config
        now = self.check.clock.time()
        end = seconds_to_nanos(now - config.ingestion_delay)
        stale_line = self._stale_line(now)
        self.position = self._saved = self._stored_position(cursor)

        if self.position is None:
            start = max(seconds_to_nanos(now - config.initial_lookback), stale_line)
            self.position = Position.before(start)
        elif self.position.nanos < stale_line:
            self.check.warning(
                'Stream `%s` is %.1f hours behind; logs older than 18 hours are not accepted by Datadog '
                'and are skipped',
                self.name,
                (now - self.position.nanos / 1e9) / 3600,
            )
            self.position = Position.before(stale_line)

        if self.position.nanos >= end:
            self._save_if_moved()  # a first run pins its starting line even when there is nothing to read yet
            return
        yield from self._crawl(end)

    def _crawl(self, end: int) -> Iterator[LogRecord]:
        start = self.position.nanos
        while True:
            try:
                for page in self._client.log_pages(self.name, start=start, end=end, limit=self.check.config.page_size):
                    batch = self._records_of(page.logs)
                    if page.last:
                        # Everything before `end` is final, read and done: quiet streams move on too.
                        self.position = max(self.position, Position.before(end))
                    if batch:
                        batch[-1].cursor = self.position.to_cursor()
                        self._saved = self.position
                        yield from batch
                    elif page.last:
                        self._save_if_moved()
                return
            except PageTokenExpired:
                # Start the query again just after the last log this run went past; the old tie-breaking
                # rule (`<= position` is skipped) keeps that free of loss and duplicates.
                self.check.log.info('Page token of stream `%s` expired; restarting the query', self.name)
                start = self.position.nanos

    def _records_of(self, logs: list[Any]) -> list[LogRecord]:
        check = self.check
        stale_line = self._stale_line(check.clock.time())
        service = check.config.service
        records = []
        malformed = stale = 0
        first_problem = ''
        for raw in logs:
            try:
                position = Position(parse_rfc3339(raw['timestamp']), raw['id'])
                if not isinstance(position.id, str) or not position.id or not isinstance(raw['message'], str):
                    raise ValueError('`id` and `message` must be non-empty strings')
            except (KeyError, TypeError, ValueError) as e:
                malformed += 1
                first_problem = first_problem or f'{type(e).__name__}: {e}'
                continue
            if position <= self.position:
                continue  # already handled: a restarted query or the tie at the cursor
            self.position = position
            if position.nanos < stale_line:
                stale += 1
                continue
            records.append(
                LogRecord(
                    to_datadog_log(raw, position.nanos, stream=self.name, ddtags=self._ddtags, service=service),
                    cursor=None,
                )
            )

        if malformed:
            check.metrics.skipped(self.name, 'malformed', malformed)
            check.warning('Skipped %d malformed logs in stream `%s`; first: %s', malformed, self.name, first_problem)
        if stale:
            check.metrics.skipped(self.name, 'stale', stale)
        return records

    def _stored_position(self, cursor: dict[str, Any] | None) -> Position | None:
        if cursor is None:
            return None
        try:
            return Position.from_cursor(cursor)
        except InvalidCursor as e:
            self.check.warning('Stream `%s`: %s; starting over as on a first run', self.name, e)
            return None

    def _save_if_moved(self) -> None:
        if self.position != self._saved:
            self.check.save_log_cursor(self.name, self.position.to_cursor())
            self._saved = self.position

    @staticmethod
    def _stale_line(now: float) -> int:
        return seconds_to_nanos(now - INTAKE_MAX_AGE + SHIPPING_MARGIN)
