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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from datadog_checks.base import AgentCheck
from datadog_checks.base.checks.logs.crawler.base import LogCrawlerCheck
from datadog_checks.base.utils.http import RequestsWrapper

from .agent_log_file import AgentLogFile
from .client import AcmeApiError, AcmeClient, AuthenticationError, RateLimited, StreamInfo, secret_forms
from .compat import KEYS_BY_PERSISTENT_CACHE_ID, datadog_agent
from .config_models import ConfigMixin
from .cursors import CURSOR_PREFIX, CursorCache, InvalidCursor, Position, cursor_name, cursor_tag, endpoint_digest
from .directory import StreamDirectory
from .recovery import Recovery
from .stream import LISTING, STREAM_TAG, AcmeLogStream, Visit
from .timing import AcmeClock, Clock, RunOver, format_rfc3339

if TYPE_CHECKING:
    from logging import LoggerAdapter

# ACME promises logs within 60 s of their timestamp on its clock: past 60 s of skew, a crawler on the host's clock
# would lose logs (this one follows ACME's), and NTP deserves a look.
CLOCK_SKEW_WARNING = 60.0
HELD_WARNING = 5 * 60  # seconds of logs held back for the Agent before a warning
PROC_CMDLINE = '/proc/self/cmdline'  # the check's own process's command line (Linux)
AGENT_BINARIES = ('agent', 'datadog-agent', 'agent.exe')
CREATED_AGAIN = (
    'Stream `%s` was created at %s, not at %s as when its cursor was stored at this `url`: it was deleted and created '
    'again, or belongs to another ACME account; it is crawled as a new stream'
)
NO_CURSOR = (
    'Stream `%s` starts without a cursor, %d s back (`initial_lookback`): if another Agent crawled it before (a '
    'replaced pod, a moved cluster check), logs are sent twice or missed. Set `datadog_app_key` (an application key '
    'with `logs_read_data`) to resume where the logs Datadog holds end'
)
HELD = (
    'For %.0f minutes the Agent has not shipped the %d bytes of this check\'s log file, so the check holds logs back '
    '(more would make the Agent re-create the file and lose them). The Agent likely cannot reach Datadog\'s logs '
    'intake: see `agent status`, Logs Agent section'
)
ONE_SHOT = (
    'This run is a one-shot `agent check`: the Agent does not ship logs it submits, so the stream cursors were left as '
    'they are; the running Agent collects these logs'
)


@dataclass
class Crawl:
    """What the parts of a check instance share, built by its first run once the configuration is valid."""

    clock: Clock
    acme_clock: AcmeClock  # and the windows of logs to read
    log_file: AgentLogFile
    metrics: CrawlMetrics
    log: LoggerAdapter
    warn: Callable[..., None]
    scrub: Callable[[str], str]  # of every form of the secrets (the base does not scrub warnings)
    page_size: int
    service: str | None
    client: AcmeClient = field(init=False)
    others_waiting: Callable[[], bool] = lambda: False  # set by the scheduler (directory.py)
    deadline: float = 0.0  # of the run, by `max_run_time`, for all it does and waits for (monotonic clock)

    def time_left(self, *, spent: str = '') -> float:
        """The run's time left; with `spent`, RunOver if there is none, saying so."""
        left = self.deadline - self.clock.monotonic()
        if spent and left <= 0:
            raise RunOver(f'{spent}: `max_run_time` reached')
        return left


class CrawlMetrics:
    """The crawler's own telemetry, named and tagged in one place (metadata.csv declares it)."""

    def __init__(self, check: AgentCheck) -> None:
        self._check = check

    def _tags(self, stream: str | None, *extra: str) -> list[str]:
        return [f'{STREAM_TAG}:{stream or LISTING}', *extra, *(self._check.config.tags or ())]

    def visited(self, stream: str, visit: Visit, *, sent_bytes: int, now: float) -> None:
        tags = self._tags(stream)
        self._check.count('logs.submitted', visit.submitted, tags=tags)
        self._check.count('logs.bytes_submitted', sent_bytes, tags=tags)
        self._check.count('logs.truncated', visit.truncated, tags=tags)
        for reason, skipped in visit.skipped.items():
            self._check.count('logs.skipped', skipped.count, tags=self._tags(stream, f'reason:{reason}'))
        self._check.gauge('crawl.lag', now - visit.position.nanos / 1e9, tags=tags)

    def request(self, stream: str | None, status: int | None) -> None:
        status_class = f'{status // 100}xx' if status else 'error'
        self._check.count('api.requests', 1, tags=self._tags(stream, f'status_class:{status_class}'))

    def rate_limit_wait(self, stream: str | None, seconds: float) -> None:
        self._check.count('api.rate_limit.waits', 1, tags=(tags := self._tags(stream)))
        self._check.count('api.rate_limit.wait_time', seconds, tags=tags)

    def recovered(self, stream: str, outcome: str) -> None:
        self._check.count('recovery.streams', 1, tags=self._tags(stream, f'outcome:{outcome}'))

    def instance(self, *, unshipped: int | None, held: bool, skew: float | None) -> None:
        tags = list(self._check.config.tags or ())
        if unshipped is not None:
            self._check.gauge('agent.unshipped_bytes', unshipped, tags=tags)
        self._check.count('agent.held_runs', int(held), tags=tags)
        if skew is not None:
            self._check.gauge('clock.skew', skew, tags=tags)


class AcmeCheck(LogCrawlerCheck, ConfigMixin):
    """Crawls ACME's Logs API and submits every log once, through the Agent."""

    __NAMESPACE__ = 'acme'
    SERVICE_CHECK_CONNECT = 'can_connect'
    # A run requests page after page from one host: reuse the connection instead of a TLS handshake per page.
    HTTP_CONFIG_REMAPPER = {'persist_connections': {'name': 'persist_connections', 'default': True}}

    clock: Clock = time  # type: ignore[assignment]  # a module of the protocol's functions
    rng = random.Random()

    def __init__(self, name, init_config, instances):
        super().__init__(name, init_config, instances)
        self.cursors = CursorCache(read=self._read_entry, write=self._write_entry)
        self.check_initializations.append(self._set_up)

    def _set_up(self) -> None:
        """The instance's parts, built by the first run once the configuration is valid (and a test set `clock`)."""
        config = self.config
        app_key = config.datadog_app_key or datadog_agent.get_config('app_key') or None
        api_key = config.datadog_api_key or datadog_agent.get_config('api_key') or ''
        for secret in (config.api_token, app_key or '', api_key):
            for form in secret_forms(secret):
                self.register_secret(form)  # the base scrubs them from its logs, service checks and run errors
        self.one_shot = in_agent_check_command()
        self.cursors.durable = not self.one_shot
        # Every optional option has a default (config_models/defaults.py), hence the `type: ignore`s.
        delay, lookback = config.ingestion_delay, config.initial_lookback
        self.crawl = crawl = Crawl(
            clock=self.clock,
            acme_clock=AcmeClock(clock=self.clock, ingestion_delay=delay, lookback=lookback),  # type: ignore[arg-type]
            log_file=AgentLogFile(
                datadog_agent.get_config, self.check_id, config.min_collection_interval, self.clock, self.log
            ),
            metrics=CrawlMetrics(self),
            log=self.log,
            warn=self.warning,
            scrub=self.sanitize,
            page_size=config.page_size,  # type: ignore[arg-type]
            service=config.service,
        )
        crawl.client = AcmeClient(crawl, http=self.http, url=config.url, api_token=config.api_token, rng=self.rng)
        self.recovery = None
        if app_key and not self.one_shot:
            api_url = config.datadog_api_url or f'https://api.{datadog_agent.get_config("site") or "datadoghq.com"}'
            # Not `self.http`: the instance's HTTP options and headers are ACME's; Datadog gets the Agent's proxy.
            http = RequestsWrapper({}, self.init_config, logger=self.log)
            self.recovery = Recovery(crawl, http=http, api_url=api_url, api_key=api_key, app_key=app_key)
        listed = config.streams or ()
        configured = tuple(dict.fromkeys(listed)) or None
        if twice := sorted({stream for stream in listed if listed.count(stream) > 1}):
            self.warning('`streams` lists %s more than once; each stream is crawled once', ', '.join(twice))
        self.directory = StreamDirectory(crawl, streams=configured, adopt=self._adopt, recovery=self.recovery)

    def get_log_streams(self) -> Iterator[AcmeLogStream]:
        """The scheduler, directory.py: the least recently visited stream first, the listing read when due."""
        return self.directory.visits()

    def check(self, _) -> None:
        if not self.logs_enabled:
            self.warning('Log collection is off in the Agent (`logs_enabled: false`): ACME logs are not fetched')
            return
        self.crawl.deadline = self.clock.monotonic() + self.config.max_run_time  # type: ignore[operator]
        self.crawl.log_file.begin_run()
        try:
            super().check(_)  # the base package's loop, as it is
        except AuthenticationError as e:
            self._report_connection(AgentCheck.CRITICAL, str(e))
            raise
        except RunOver as e:
            self.log.debug('Run stopped early: %s; the next run resumes from the cursors', e)
        except AcmeApiError as e:  # everything submitted so far is checkpointed: the next run resumes from the cursors
            self.warning('ACME did not answer usefully, %s; retrying next run', e)
            limited = isinstance(e, RateLimited)
            self._report_connection(AgentCheck.WARNING if limited else AgentCheck.CRITICAL, str(e))
            return
        finally:
            self._report_run()
        failing = [stream.problem or '' for stream in self.directory.streams.values() if stream.failures]
        message = f'{len(failing)} of {len(self.directory.streams)} streams failing: {"; ".join(failing)}'
        status = AgentCheck.CRITICAL if len(failing) == len(self.directory.streams) else AgentCheck.WARNING  # none read
        self._report_connection(status if failing else AgentCheck.OK, message if failing else None)

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

    def _adopt(self, info: StreamInfo) -> AcmeLogStream:
        """A stream of the listing, with its cursor; or its start pinned now, or once recovered (recovery.py)."""
        stored = self.get_log_cursor(info.id)
        name, created_ns = cursor_name(info.id, info.created_ns, stored)
        tag = cursor_tag(self.persistent_cache_id(), name)
        stream = AcmeLogStream(self, name=name, stream_id=info.id, created_ns=created_ns, tag=tag, crawl=self.crawl)
        cursor = stored if name == info.id else self.get_log_cursor(name)
        if cursor is not None:
            try:
                # After a restart the visit times are gone; a cursor tells roughly when its stream was last caught up.
                stream.last_visit = Position.from_cursor(cursor).nanos / 1e9
                return stream
            except InvalidCursor as e:
                self.warning('Stream `%s`: %s; starting over as on a first run', info.id, e)
        elif CURSOR_PREFIX + name in self.cursors.damaged:
            self.warning('Stream `%s`: the stored cursor is damaged; starting over as on a first run', info.id)
        elif name != info.id:
            before = stored.get('created_at')
            self.warning(CREATED_AGAIN, info.id, format_rfc3339(created_ns), before)  # type: ignore[arg-type]
        stream.start = Position.before(self.crawl.acme_clock.first_start(self.clock.time()))
        if self.recovery is not None:
            stream.recovering = True
            return stream
        if not self.one_shot:
            self.warning(NO_CURSOR, info.id, self.config.initial_lookback)
        stream.pin(stream.start)
        return stream

    def _report_run(self) -> None:
        log_file, skew, now = self.crawl.log_file, self.crawl.acme_clock.skew, self.clock.time()
        log_file.end_run()
        held = log_file.held and log_file.registry
        self.crawl.metrics.instance(unshipped=log_file.unshipped(), held=held, skew=skew)
        if log_file.held_since is not None and now - log_file.held_since >= HELD_WARNING:
            self.warning(HELD, (now - log_file.held_since) / 60, log_file.unshipped() or 0)
        if skew is not None and abs(skew) > CLOCK_SKEW_WARNING:
            ahead = 'ahead of' if skew > 0 else 'behind'
            self.warning('ACME\'s clock is %.0f s %s the Agent\'s: check NTP', abs(skew), ahead)
        if self.one_shot:
            self.warning(ONE_SHOT)

    def _report_connection(self, status: int, message: str | None = None) -> None:
        self.service_check(self.SERVICE_CHECK_CONNECT, status, tags=self.config.tags or [], message=message)


def in_agent_check_command() -> bool:
    """Whether this is `datadog-agent check` (`ddev env agent ... check`): a one-shot process whose logs are dropped,
    with the running Agent's persistent cache. Told by the process's command line, the Agent's own; else by
    `DD_CMD_PORT=0`, which that command sets (pkg/cli/subcommands/check/command.go) and a running Agent rarely has."""
    try:
        args = [arg for arg in Path(PROC_CMDLINE).read_bytes().decode(errors='replace').split('\0') if arg]
    except OSError:
        args = []
    if args and os.path.basename(args[0]) in AGENT_BINARIES:
        return next((arg for arg in args[1:] if arg in ('check', 'run', 'start')), None) == 'check'
    return os.environ.get('DD_CMD_PORT') == '0'
