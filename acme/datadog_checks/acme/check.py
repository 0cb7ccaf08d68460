# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The Agent check, on the base package's loop: `process_streams` asks `get_log_streams()` for the next stream, hands
`records(cursor=get_log_cursor(stream.name))` to `send_log(record.data, cursor=record.cursor, stream=stream.name)`,
and `send_log` writes the cursor under `log_cursor_<stream name>`. What the check adds sits in the hooks: which
stream goes next (directory.py), what a stream yields (stream.py), and how a cursor is kept (cursors.py)."""

from __future__ import annotations

import os
import random
from typing import Iterator

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.logs.crawler.base import LogCrawlerCheck

from .agent_log_file import AgentLogFile, LogFileSettings
from .client import AcmeApiError, AcmeClient, AuthenticationError, RateLimited, StreamInfo, secret_forms
from .compat import KEYS_BY_PERSISTENT_CACHE_ID, datadog_agent, json
from .config_models import ConfigMixin
from .cursors import CURSOR_PREFIX, CursorCache, InvalidCursor, Position, StreamIdentities, endpoint_digest
from .directory import StreamDirectory
from .metrics import CrawlMetrics
from .stream import AcmeLogStream, Crawl
from .timing import AcmeClock, Clock, RunOver, RunTime, SystemClock, Windows

# Between the Agent's clock and ACME's, beyond this many seconds: warn. ACME promises logs within 60 s of their
# timestamp on its own clock, so past 60 s a crawler on the host's clock would lose logs (this one follows ACME's
# clock and does not); Date's one-second precision and NTP's milliseconds stay far below it.
CLOCK_SKEW_WARNING = 60.0


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
        self.cursors = CursorCache(read=self._read_entry, write=self._write_entry)
        # Built by the first run, once the configuration is validated (and a test may have set `clock`).
        self.one_shot = False
        self.client: AcmeClient
        self.crawl: Crawl
        self.directory: StreamDirectory
        self.check_initializations.append(self._set_up)

    def _set_up(self) -> None:
        config = self.config
        for secret in secret_forms(config.api_token):
            self.register_secret(secret)  # the base package scrubs them from logs, service checks and run errors
        self.one_shot = in_agent_check_command()
        self.cursors.durable = not self.one_shot
        self.acme_clock = AcmeClock(clock=self.clock)
        run_time = RunTime(clock=self.clock)
        self.client = AcmeClient(
            http=self.http,
            url=config.url,
            api_token=config.api_token,
            clock=self.clock,
            acme_clock=self.acme_clock,
            run_time=run_time,
            metrics=self.metrics,
            log=self.log,
            rng=self.rng,
        )
        settings = LogFileSettings(datadog_agent.get_config)
        # Every optional option has a default (config_models/defaults.py), hence the `type: ignore`s.
        self._run_bytes = settings.run_budget(interval=config.min_collection_interval, limit=config.max_bytes_per_run)
        self.crawl = Crawl(
            client=self.client,
            windows=Windows(
                acme_clock=self.acme_clock,
                ingestion_delay=config.ingestion_delay,  # type: ignore[arg-type]
                initial_lookback=config.initial_lookback,  # type: ignore[arg-type]
            ),
            run_time=run_time,
            log_file=AgentLogFile(settings=settings, check_id=self.check_id, clock=self.clock),
            metrics=self.metrics,
            clock=self.clock,
            log=self.log,
            warn=self.warning,
            page_size=config.page_size,  # type: ignore[arg-type]
            service=config.service,
        )
        self._identities = StreamIdentities(cache=self.cursors, warn=self.warning)
        configured = tuple(dict.fromkeys(config.streams)) if config.streams else None
        if config.streams and len(configured or ()) < len(config.streams):
            twice = sorted({stream for stream in config.streams if config.streams.count(stream) > 1})
            self.warning('`streams` lists %s more than once; each stream is crawled once', ', '.join(twice))
        self.directory = StreamDirectory(
            client=self.client, clock=self.clock, configured=configured, adopt=self._adopt, warn=self.warning
        )
        self.crawl.others_waiting = self.directory.others_waiting

    def get_log_streams(self) -> Iterator[AcmeLogStream]:
        """The scheduler: the least recently visited stream first (never read ones before all), a stream with a
        backlog again after the others, streams in backoff left out; the listing read when due (directory.py)."""
        return self.directory.visits()

    def check(self, _) -> None:
        if not self.logs_enabled:
            self.warning(
                'Log collection is disabled in the Agent (`logs_enabled: false` in datadog.yaml): '
                'ACME logs are not fetched and the cursors do not move'
            )
            return
        self.crawl.run_time.begin(self.config.max_run_time)  # type: ignore[arg-type]
        self.crawl.log_file.begin_run(self._run_bytes)
        try:
            super().check(_)  # the base package's loop, as it is
        except AuthenticationError as e:
            self._report_connection(AgentCheck.CRITICAL, e.describe())
            raise
        except RunOver as e:
            self.log.debug('Run stopped early: %s; the next run resumes from the cursors', e)
        except AcmeApiError as e:
            # Everything submitted so far is checkpointed; the next run resumes from the cursors.
            self.warning('ACME did not answer usefully, %s; retrying next run', e.describe())
            limited = isinstance(e, RateLimited)
            self._report_connection(AgentCheck.WARNING if limited else AgentCheck.CRITICAL, e.describe())
            return
        finally:
            self.crawl.log_file.end_run()
            self._report_clock()
            if self.one_shot:
                self.warning(
                    'This run is a one-shot `agent check`: the Agent does not ship logs it submits, so the stream '
                    'cursors were left as they are; the running Agent collects these logs'
                )
        failing = self.directory.failing()
        if failing:
            problems = '; '.join(stream.problem or '' for stream in failing)
            total = len(self.directory.streams)
            self._report_connection(AgentCheck.WARNING, f'{len(failing)} of {total} streams failing: {problems}')
        else:
            self._report_connection(AgentCheck.OK)

    def persistent_cache_id(self) -> str:
        """The cursors belong to the ACME endpoint, not to the token or the rest of the configuration."""
        return endpoint_digest(self.config.url)

    def read_persistent_cache(self, key: str) -> str:
        """The base package's, through CursorCache: a cursor key (`log_cursor_...`) reads the newest valid slot."""
        return self.cursors.read(key)

    def write_persistent_cache(self, key: str, value: str) -> None:
        """The base package's, through CursorCache: a cursor key is written to its older slot."""
        self.cursors.write(key, value)

    def _read_entry(self, key: str) -> str:
        if KEYS_BY_PERSISTENT_CACHE_ID:
            return super().read_persistent_cache(key)
        return datadog_agent.read_persistent_cache(self._own_key_prefix() + key)

    def _write_entry(self, key: str, value: str) -> None:
        if KEYS_BY_PERSISTENT_CACHE_ID:
            super().write_persistent_cache(key, value)
        else:
            datadog_agent.write_persistent_cache(self._own_key_prefix() + key, value)

    def _own_key_prefix(self) -> str:
        """The layout of base 37.20.0 and up, `<check name>:<persistent_cache_id>_`, for older bases."""
        return f'{":".join(self.check_id.split(":")[:-1])}:{self.persistent_cache_id()}_'

    def warning(self, warning_message, *args, **kwargs) -> None:
        # The base package scrubs secrets from its logs, but not from the warnings the Agent's status page shows.
        super().warning(self.sanitize(warning_message % args if args else warning_message))

    def _adopt(self, info: StreamInfo) -> AcmeLogStream:
        """A stream found in the listing: its cursor read, or its starting line pinned now, before any of its logs
        is read. Pinned at once and durably: if that waited for the first page, a run ending before it, or a lost
        write, would move the starting line on and lose the logs in between."""
        name, created_ns = self._identities.resolve(info.id, info.created_ns)
        key = CURSOR_PREFIX + name

        def save_cursor(cursor: dict) -> None:
            self.write_persistent_cache(key, json.encode(cursor))  # what `send_log` writes, the same way

        stream = AcmeLogStream(
            check=self, name=name, stream_id=info.id, created_ns=created_ns, crawl=self.crawl, save_cursor=save_cursor
        )
        cursor = self.get_log_cursor(name)
        if cursor is not None:
            try:
                # After a restart the visit times are gone; a cursor tells roughly when its stream was last caught up.
                stream.last_visit = Position.from_cursor(cursor).nanos / 1e9
                return stream
            except InvalidCursor as e:
                self.warning('Stream `%s`: %s; starting over as on a first run', info.id, e)
        elif key in self.cursors.damaged:
            self.warning('Stream `%s`: the stored cursor is damaged; starting over as on a first run', info.id)
        save_cursor(Position.before(self.crawl.windows.first_start(self.clock.time())).to_cursor())
        return stream

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


def in_agent_check_command() -> bool:
    """Whether the check runs in `datadog-agent check` (also what `ddev env agent ... check` runs): a one-shot process
    without a logs component, so what it submits is dropped, while it shares the running Agent's persistent cache.

    That command calls `disableCmdPort()`, `os.Setenv("DD_CMD_PORT", "0")`, before Python starts
    (DataDog/datadog-agent, pkg/cli/subcommands/check/command.go); a running Agent has a real `cmd_port` (5001 by
    default). An Agent too old to do so runs the check as a normal run.
    """
    return os.environ.get('DD_CMD_PORT') == '0' or str(datadog_agent.get_config('cmd_port')) == '0'
