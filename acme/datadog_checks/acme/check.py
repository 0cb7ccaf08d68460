# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
from __future__ import annotations

import random
from typing import Iterator

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.logs.crawler.base import LogCrawlerCheck
from datadog_checks.base.utils.format import json
from datadog_checks.base.utils.persistent_cache import config_set_persistent_cache_id

from .client import AcmeClient
from .clock import Clock, SystemClock
from .config_models import ConfigMixin
from .cursor import OpenQuery
from .errors import AcmeApiError, AuthenticationError, OutOfTime, StreamUnavailable
from .metrics import CrawlMetrics
from .ratelimit import RateLimiter
from .stream import AcmeLogStream

# Only these options change what a cursor points into; editing tags, timeouts or the token keeps the cursors.
CURSOR_IDENTITY_OPTIONS = ('url',)


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
        # Built by the first run, once the configuration is validated.
        self._client: AcmeClient
        self._runs = 0
        # Queries a run stopped in the middle of, by stream; only this instance may continue them.
        self.open_queries: dict[str, OpenQuery] = {}
        self.check_initializations.append(self._set_up)

    def _set_up(self) -> None:
        self.register_secret(self.config.api_token)
        self._client = AcmeClient(
            http=self.http,
            url=self.config.url,
            api_token=self.config.api_token,
            clock=self.clock,
            limiter=RateLimiter(clock=self.clock),
            metrics=self.metrics,
            log=self.log,
            rng=self.rng,
        )

    def persistent_cache_id(self) -> str:
        return config_set_persistent_cache_id(self, instance_config_options=CURSOR_IDENTITY_OPTIONS)

    def save_log_cursor(self, stream: str, cursor: dict[str, str]) -> None:
        """Store a cursor without a log: the counterpart of `get_log_cursor`, for progress over empty windows."""
        self.write_persistent_cache(f'log_cursor_{stream}', json.encode(cursor))

    def get_log_streams(self) -> Iterator[AcmeLogStream]:
        # Every optional option has a default (config_models/defaults.py), hence the `type: ignore`s.
        stream_ids = self.config.streams or list(self._client.streams(page_size=self.config.page_size))  # type: ignore[arg-type]
        # Start each run at another stream, so one with a large backlog cannot starve the rest.
        offset = self._runs % len(stream_ids) if stream_ids else 0
        for stream_id in [*stream_ids[offset:], *stream_ids[:offset]]:
            yield AcmeLogStream(check=self, name=stream_id, client=self._client)

    def check(self, _) -> None:
        if not self.logs_enabled:
            self.warning(
                'Log collection is disabled in the Agent (`logs_enabled: false` in datadog.yaml): '
                'ACME logs are not fetched and the cursors do not move'
            )
            return

        self._client.begin_run(self.config.max_run_time)  # type: ignore[arg-type]
        self._runs += 1
        try:
            self.process_streams()
        except AuthenticationError as e:
            self._report_connection(AgentCheck.CRITICAL, e.describe())
            raise
        except OutOfTime as e:
            self.log.debug('Run stopped early: %s; the next run resumes from the cursors', e)
        except AcmeApiError as e:
            # Everything submitted so far is checkpointed; the next run resumes from the cursors.
            self.warning('ACME did not answer usefully, %s; retrying next run', e.describe())
            self._report_connection(AgentCheck.CRITICAL, e.describe())
            return
        self._report_connection(AgentCheck.OK)

    def process_streams(self) -> None:
        """The base class's loop, plus per-stream failures, counting, lag, and the starting line of new streams."""
        streams = list(self.get_log_streams())
        now = self.clock.time()
        cursors = {stream.name: self._stored_cursor(stream.name) for stream in streams}
        # Where each new stream starts is fixed now, even for streams this run does not reach in time.
        pins = {stream.name: stream.first_position(now).to_cursor() for stream in streams if not cursors[stream.name]}
        try:
            for stream in streams:
                self._process_stream(stream, cursors[stream.name] or pins[stream.name])
        finally:
            for stream in streams:
                if stream.name in pins and not stream.checkpointed:
                    self.save_log_cursor(stream.name, pins[stream.name])

    def _process_stream(self, stream: AcmeLogStream, cursor: dict[str, str]) -> None:
        submitted = 0
        try:
            for record in stream.records(cursor=cursor):
                self.send_log(record.data, cursor=record.cursor, stream=stream.name)
                submitted += 1
        except StreamUnavailable as e:
            self.warning('Skipping %s', e.describe())
        finally:
            self.metrics.submitted(stream.name, submitted)
            if stream.position is not None:
                self.metrics.lag(stream.name, self.clock.time() - stream.position.nanos / 1e9)

    def _stored_cursor(self, stream: str) -> dict | None:
        try:
            return self.get_log_cursor(stream)
        except ValueError:
            self.warning('Stream `%s`: the stored cursor is not JSON; starting over as on a first run', stream)
            return None

    def _report_connection(self, status: int, message: str | None = None) -> None:
        self.service_check(self.SERVICE_CHECK_CONNECT, status, tags=self.config.tags or [], message=message)
