# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
from __future__ import annotations

import random
from collections import deque
from typing import Iterator

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.logs.crawler.base import LogCrawlerCheck

from .acme_clock import AcmeClock
from .agent_log_file import AgentLogFile, LogFileSettings
from .client import AcmeClient, StreamInfo
from .clock import Clock, SystemClock
from .compat import datadog_agent
from .config_models import ConfigMixin
from .cursor import OpenQuery, Position
from .cursor_store import CursorStore
from .directory import StreamDirectory
from .errors import AcmeApiError, AuthenticationError, RunOver, StartInTheFuture, StreamUnavailable, TransientApiError
from .identity import cursor_key, endpoint_digest
from .metrics import CrawlMetrics
from .page import STALE
from .ratelimit import RateLimiter
from .run_time import RunTime
from .stream import AcmeLogStream
from .visit_order import VisitOrder
from .window import WindowPlanner

# Between the Agent's clock and ACME's, beyond this many seconds: warn. ACME promises logs within 60 s of their
# timestamp on its own clock, so past 60 s a crawler on the host's clock would lose logs (this one follows ACME's
# clock and does not); Date's one-second precision and NTP's milliseconds stay far below it.
CLOCK_SKEW_WARNING = 60.0
# While a listing pass is in progress, at most one listing page per this many stream visits.
VISITS_PER_LISTING_PAGE = 4


class AcmeCheck(LogCrawlerCheck, ConfigMixin):
    """Crawls ACME's Logs API and submits every log once, through the Agent."""

    __NAMESPACE__ = 'acme'
    SERVICE_CHECK_CONNECT = 'can_connect'
    # A run requests page after page from one host: reuse the connection instead of a TLS handshake per page.
    HTTP_CONFIG_REMAPPER = {'persist_connections': {'name': 'persist_connections', 'default': True}}

    clock: Clock = SystemClock()
    rng = random.Random()

    def __init__(self, name, init_config, instances):
        super().__init__(name, init_config, instances)
        self.metrics = CrawlMetrics(self)
        self.visit_order = VisitOrder()
        # Queries a visit stopped in the middle of, by cursor key; only this instance may continue them.
        self.open_queries: dict[str, OpenQuery] = {}
        self._streams: dict[str, AcmeLogStream] = {}  # by cursor key: the streams whose cursor is in hand
        self._due: deque[AcmeLogStream] = deque()
        # Built by the first run, once the configuration is validated (and a test may have set `clock`).
        self.acme_clock: AcmeClock
        self.run_time: RunTime
        self._client: AcmeClient
        self.directory: StreamDirectory
        self.windows: WindowPlanner
        self.cursors: CursorStore
        self.log_file: AgentLogFile
        self.check_initializations.append(self._set_up)

    def _set_up(self) -> None:
        config = self.config
        self.register_secret(config.api_token)
        self.acme_clock = AcmeClock(clock=self.clock)
        self._client = AcmeClient(
            http=self.http,
            url=config.url,
            api_token=config.api_token,
            clock=self.clock,
            acme_clock=self.acme_clock,
            limiter=RateLimiter(clock=self.clock, acme_clock=self.acme_clock),
            metrics=self.metrics,
            log=self.log,
            rng=self.rng,
        )
        configured = tuple(dict.fromkeys(config.streams)) if config.streams else None
        if config.streams and len(configured or ()) < len(config.streams):
            twice = sorted({stream for stream in config.streams if config.streams.count(stream) > 1})
            self.warning('`streams` lists %s more than once; each stream is crawled once', ', '.join(twice))
        self.directory = StreamDirectory(
            client=self._client, clock=self.clock, configured=configured, warn=self.warning
        )
        # Every optional option has a default (config_models/defaults.py), hence the `type: ignore`s.
        self.windows = WindowPlanner(
            acme_clock=self.acme_clock,
            ingestion_delay=config.ingestion_delay,  # type: ignore[arg-type]
            initial_lookback=config.initial_lookback,  # type: ignore[arg-type]
        )
        self.cursors = CursorStore(read=self.read_persistent_cache, write=self.write_persistent_cache)
        settings = LogFileSettings(datadog_agent.get_config)
        self.log_file = AgentLogFile(settings=settings, check_id=self.check_id, clock=self.clock)
        self._run_bytes = settings.run_budget(
            interval=config.min_collection_interval,  # type: ignore[arg-type]
            limit=config.max_bytes_per_run,
        )

    def persistent_cache_id(self) -> str:
        """The cursors belong to the ACME endpoint, not to the token or the rest of the configuration."""
        return endpoint_digest(self.config.url)

    # The keys the base package uses since 37.20.0 (`<check name>:<persistent_cache_id>_<key>`), built here so that
    # every base version uses them: older ones key the cache by the check id, a digest of the whole configuration
    # (a new tag or token would lose the cursors), and 37.20.0 to 37.21.0 hash the id with Python's per-process
    # `hash()` (every Agent restart would lose them).
    def read_persistent_cache(self, key: str) -> str:
        return datadog_agent.read_persistent_cache(self._persistent_cache_prefix() + key)

    def write_persistent_cache(self, key: str, value: str) -> None:
        datadog_agent.write_persistent_cache(self._persistent_cache_prefix() + key, value)

    def _persistent_cache_prefix(self) -> str:
        namespace = ':'.join(self.check_id.split(':')[:-1])
        return f'{namespace}:{self.persistent_cache_id()}_'

    def save_cursor(self, stream: AcmeLogStream, position: Position) -> None:
        self.cursors.save(stream.key, position)

    def others_waiting(self) -> bool:
        """Whether a stream visited less recently than the current one waits for its turn in this run."""
        return bool(self._due)

    def get_log_streams(self) -> Iterator[AcmeLogStream]:
        """The known streams, least recently visited first; streams seen for the first time get their cursor."""
        for info in self.directory.streams.values():
            key = cursor_key(info.id, info.created_ns)
            if key not in self._streams:
                self._streams[key] = self._adopt(info, key)
        known = {cursor_key(info.id, info.created_ns) for info in self.directory.streams.values()}
        for key in [key for key in self._streams if key not in known]:
            del self._streams[key]  # gone from the listing; its cursor stays, should it come back
            self.open_queries.pop(key, None)
        for key in self.visit_order.order(self._streams):
            yield self._streams[key]

    def check(self, _) -> None:
        if not self.logs_enabled:
            self.warning(
                'Log collection is disabled in the Agent (`logs_enabled: false` in datadog.yaml): '
                'ACME logs are not fetched and the cursors do not move'
            )
            return

        self.run_time = RunTime(clock=self.clock, seconds=self.config.max_run_time)  # type: ignore[arg-type]
        self._client.begin_run(self.run_time)
        self.log_file.begin_run(self._run_bytes)
        try:
            self.process_streams()
        except AuthenticationError as e:
            self._report_connection(AgentCheck.CRITICAL, e.describe())
            raise
        except RunOver as e:
            self.log.debug('Run stopped early: %s; the next run resumes from the cursors', e)
        except AcmeApiError as e:
            # Everything submitted so far is checkpointed; the next run resumes from the cursors.
            self.warning('ACME did not answer usefully, %s; retrying next run', e.describe())
            self._report_connection(AgentCheck.CRITICAL, e.describe())
            return
        finally:
            self.log_file.end_run()
            self._report_clock()
        self._report_connection(AgentCheck.OK)

    def process_streams(self) -> None:
        """Visit the streams least recently visited first, a page each while others wait; list streams when due."""
        self._due = deque(self.get_log_streams())
        visits_since_listing = VISITS_PER_LISTING_PAGE
        try:
            while True:
                if self.directory.listing_due() and (not self._due or visits_since_listing >= VISITS_PER_LISTING_PAGE):
                    self._list_streams()
                    visits_since_listing = 0
                    continue
                if not self._due:
                    return
                stream = self._due.popleft()
                if stream.key not in self._streams:
                    continue  # gone from the listing meanwhile
                self._visit(stream)
                visits_since_listing += 1
                self.visit_order.visited(stream.key, self.clock.time())
                if not stream.caught_up and stream.key in self._streams:
                    self._due.append(stream)  # a backlog: its next page after the streams waiting longer
        finally:
            self._due.clear()

    def _list_streams(self) -> None:
        try:
            self.directory.list_page()
        except TransientApiError as e:
            if not self._streams:
                raise
            # Known streams are crawled meanwhile; the listing goes on at the next run.
            self.warning('Could not list ACME streams, %s; crawling the known streams', e.describe())
            self.directory.postpone()
        known = {stream.key for stream in self._due}
        self._due.extend(stream for stream in self.get_log_streams() if stream.key not in known)

    def _adopt(self, info: StreamInfo, key: str) -> AcmeLogStream:
        """Read a stream's cursor, or pin its starting line now, before any of its logs is read.

        Pinned at once and durably: if that waited for the stream's first page, a run that ends before it, or a
        lost write, would move the starting line on and lose the logs in between.
        """
        now = self.clock.time()
        stored = self.cursors.load(key)
        if stored.position is None:
            if stored.damaged:
                self.warning('Stream `%s`: the stored cursor is damaged; starting over as on a first run', info.id)
            self.cursors.save(key, self.windows.first_position(now))
            self.visit_order.visited(key, now)
        else:
            # After a restart the visit times are gone; a cursor tells roughly when its stream was last caught up.
            self.visit_order.visited(key, stored.position.nanos / 1e9)
        return AcmeLogStream(check=self, name=info.id, key=key, client=self._client)

    def _visit(self, stream: AcmeLogStream) -> None:
        submitted = 0
        sent_before = self.log_file.sent
        send, check_id, cursors = datadog_agent.send_log, self.check_id, self.cursors
        position = cursors.current(stream.key)
        try:
            for record in stream.records(cursor=position.to_cursor() if position else None):
                send(record.line.decode(), check_id)
                submitted += 1
                if record.cursor is not None:
                    cursors.save(stream.key, Position.from_cursor(record.cursor))
        except StreamUnavailable as e:
            self.warning('Skipping %s', e.describe())
            self.directory.drop(stream.name)
            del self._streams[stream.key]
        except StartInTheFuture as e:
            self.log.debug('Nothing to read yet, %s', e.describe())
            stream.caught_up = True
        finally:
            self._report_visit(stream, submitted, self.log_file.sent - sent_before)

    def _report_visit(self, stream: AcmeLogStream, submitted: int, sent_bytes: int) -> None:
        self.metrics.submitted(stream.name, submitted, sent_bytes)
        for reason, skipped in stream.outcome.skipped.items():
            self.metrics.skipped(stream.name, reason, skipped.count)
            if reason != STALE:
                self.warning(
                    'Skipped %d %s logs in stream `%s` (ids: %s); first: %s',
                    skipped.count,
                    reason.replace('_', ' '),
                    stream.name,
                    ', '.join(skipped.ids),
                    skipped.first_problem or 'longer than the Agent\'s integration log file may be',
                )
        self.metrics.lag(stream.name, self.clock.time() - stream.position.nanos / 1e9)

    def _report_clock(self) -> None:
        skew = self.acme_clock.skew
        if skew is None:
            return
        self.metrics.clock_skew(skew)
        if abs(skew) > CLOCK_SKEW_WARNING:
            self.warning(
                'ACME\'s clock is %.0f s %s the Agent\'s: the check follows ACME\'s clock, but check NTP on this host',
                abs(skew),
                'ahead of' if skew > 0 else 'behind',
            )

    def _report_connection(self, status: int, message: str | None = None) -> None:
        self.service_check(self.SERVICE_CHECK_CONNECT, status, tags=self.config.tags or [], message=message)
