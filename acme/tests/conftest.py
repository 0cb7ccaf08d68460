# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from typing import Any, Callable, Iterator

import pytest

from datadog_checks.acme import AcmeCheck
from datadog_checks.acme.cursors import CURSOR_PREFIX, SLOTS, InvalidCursor, Position, decode_slot, endpoint_digest
from datadog_checks.acme.timing import parse_rfc3339

from .agent_emulation import Intake, LogsAgent, agent_settings, record_sent_logs
from .clock import FakeClock
from .fake_datadog import FakeDatadog
from .sandbox import AcmeSandbox, generate_logs

TOKEN = 'sandbox-token-d41d8cd98f00b204'
STREAMS = ['prod-web', 'audit']
HOUR = 3600.0
# 2026-11-26T12:00:00Z: tests start here, whatever the date on the machine running them.
START = 1795694400.0


# How integrations-core marks tests (datadog_checks.dev's pytest plugin registers the markers): `unit` needs nothing
# running, `integration` talks to a server over a socket (the sandbox ACME, the fake Datadog), `e2e` needs the E2E
# environment (test_e2e.py).
TEST_KINDS = ('unit', 'integration', 'e2e')


@pytest.hookimpl(trylast=True)  # after the plugin's own, which marks test_e2e.py
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is of exactly one kind: a module's `pytestmark`, or a marker per test."""
    unmarked = [
        item.nodeid for item in items if sum(item.get_closest_marker(kind) is not None for kind in TEST_KINDS) != 1
    ]
    if unmarked:
        raise pytest.UsageError(f'tests not marked with exactly one of {", ".join(TEST_KINDS)}: {", ".join(unmarked)}')


@pytest.fixture(scope='session')
def dd_environment() -> Iterator[dict[str, Any]]:
    from .environment import sandbox_environment

    with sandbox_environment() as config:
        yield config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[AcmeSandbox]:
    with AcmeSandbox(token=TOKEN, clock=clock.time, seed=7) as server:
        for stream in STREAMS:
            server.add_stream(stream)
        yield server


@pytest.fixture
def instance(sandbox: AcmeSandbox) -> dict[str, Any]:
    return {'url': sandbox.url, 'api_token': TOKEN, 'streams': list(STREAMS), 'tags': ['team:logs']}


@pytest.fixture(autouse=True)
def agent_config(datadog_agent, monkeypatch) -> dict[str, Any]:
    """The Agent's settings, as the check reads them through the stub's `get_config`: logs enabled, or the check
    collects nothing. A test changes a setting, or adds one, in this dict."""
    return agent_settings(datadog_agent, {'logs_enabled': True}, monkeypatch.setattr)


@pytest.fixture
def sent_logs(datadog_agent, monkeypatch) -> dict[str, list[dict[str, Any]]]:
    """Every log the check hands the stub's `send_log` in this test, decoded, by check id."""
    return record_sent_logs(datadog_agent, monkeypatch.setattr)


@pytest.fixture
def cache_keys(datadog_agent, monkeypatch) -> set[str]:
    """Every key written to the Agent's persistent cache in this test, through the stub's `write_persistent_cache`.
    (The stub, reset for each test, has no public way to list its keys; nor has the Agent.)"""
    keys: set[str] = set()
    write = datadog_agent.write_persistent_cache

    def record(key: str, value: str) -> None:
        write(key, value)
        keys.add(key)

    monkeypatch.setattr(datadog_agent, 'write_persistent_cache', record)
    return keys


@pytest.fixture
def make_check(clock: FakeClock) -> Callable[..., AcmeCheck]:
    """A new AcmeCheck, as the Agent makes one at start or restart: same config, same persistent cache."""

    def make(instance: dict[str, Any], init_config: dict[str, Any] | None = None) -> AcmeCheck:
        check = AcmeCheck('acme', init_config or {}, [instance])
        # The Agent's check id ends with a digest of the whole config, like this one.
        digest = hashlib.sha256(json.dumps(instance, sort_keys=True).encode()).hexdigest()[:16]
        check.check_id = f'acme:{digest}'
        check.clock = clock
        check.rng = random.Random(0)
        return check

    return make


class Crawler:
    """Runs checks the way the Agent does: every `interval` seconds, restarting when asked."""

    def __init__(self, *, make_check, dd_run_check, datadog_agent, sent_logs, clock: FakeClock, interval: float = 15.0):
        self._make_check = make_check
        self._run = dd_run_check
        self._agent = datadog_agent
        self._sent_logs = sent_logs
        self._clock = clock
        self.interval = interval
        self.check: AcmeCheck | None = None
        self.check_ids: list[str] = []
        self.agent: LogsAgent | None = None  # the logs side of the Agent, working a second at a time between runs

    def start(self, instance: dict[str, Any]) -> AcmeCheck:
        self.check = self._make_check(instance)
        if self.check.check_id not in self.check_ids:
            self.check_ids.append(self.check.check_id)
        if self.agent is not None:
            self.agent.schedule(self.check.check_id)
        return self.check

    def run(self, times: int = 1, *, extract_message: bool = True) -> None:
        for _ in range(times):
            self._run(self.check, extract_message=extract_message)
            self.wait(self.interval)

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass between runs: through the emulated Agent if there is one (a tick a second)."""
        whole = int(seconds) if self.agent is not None else 0
        if self.agent is not None:
            self.agent.advance(whole)
        self._clock.advance(max(0.0, seconds - whole))

    def warnings(self) -> list[str]:
        """The check's warnings of its last runs, but the one each stream starting without a cursor gives (all do,
        on a first run without cursor recovery)."""
        return [warning for warning in self.check.get_warnings() if 'starts without a cursor' not in warning]

    def sent(self) -> list[dict[str, Any]]:
        """Every log submitted so far, by every check this crawler started, in submission order."""
        return [log for check_id in self.check_ids for log in self._sent_logs[check_id]]

    def sent_keys(self) -> list[tuple[str, str]]:
        return [(stream_of(log), log['acme']['id']) for log in self.sent()]

    def stream_name(self, stream: str) -> str:
        """The name (hence the cursor's) of the crawled stream with that ACME id."""
        return self.check.directory.streams[stream].name

    def cursor_key(self, stream: str) -> str:
        """The Agent's persistent-cache key of that stream's cursor, before its slot suffix."""
        return f'acme:{endpoint_digest(self.check.config.url)}_{CURSOR_PREFIX}{self.stream_name(stream)}'

    def cursor(self, stream: str) -> dict[str, str] | None:
        """The stored cursor of the crawled stream with that id, as a new check would read it from the Agent."""
        return stored_cursor(self._agent, self.cursor_key(stream))

    def damage_cursor(self, stream: str, text: str) -> None:
        """Overwrite every slot of a stream's stored cursor with `text`."""
        for slot in SLOTS:
            self._agent.write_persistent_cache(self.cursor_key(stream) + slot, text)


def stored_cursor(datadog_agent, key: str) -> dict[str, str] | None:
    """The newest valid slot of the cursor stored under the Agent's persistent-cache `key`, decoded."""
    newest = None
    for slot in SLOTS:
        try:
            sequence, value = decode_slot(datadog_agent.read_persistent_cache(key + slot))
        except InvalidCursor:
            continue
        if newest is None or sequence > newest[0]:
            newest = (sequence, json.loads(value))
    return newest[1] if newest else None


def slot_position(text: str) -> Position:
    """The cursor position one slot of the Agent's persistent cache holds (`CursorCache`'s format)."""
    return Position.from_cursor(json.loads(decode_slot(text)[1]))


def stream_of_cursor_key(key: str) -> str:
    """The stream id in a persistent-cache key of a cursor slot: `...log_cursor_<stream>_<digest>_<slot>`."""
    return key.split('log_cursor_', 1)[1].rsplit('_', 2)[0]


def stream_of(log: dict[str, Any]) -> str:
    """The ACME stream a submitted log came from, by its `acme_stream` tag."""
    (stream,) = [tag.split(':', 1)[1] for tag in log['ddtags'].split(',') if tag.startswith('acme_stream:')]
    return stream


@pytest.fixture
def crawler(make_check, dd_run_check, datadog_agent, sent_logs, clock) -> Crawler:
    return Crawler(
        make_check=make_check, dd_run_check=dd_run_check, datadog_agent=datadog_agent, sent_logs=sent_logs, clock=clock
    )


@pytest.fixture
def logs_agent(tmp_path, clock, monkeypatch, datadog_agent, crawler) -> LogsAgent:
    """The logs side of an Agent on a run path of its own (its file of the check's logs, capped at 1 MB, the tailer,
    the auditor's registry.json) up to an intake that records what arrived; the crawler's runs let it work."""
    crawler.agent = LogsAgent(tmp_path / 'run', clock=clock, intake=Intake(clock.time), cap_mb=1)
    return crawler.agent.install(monkeypatch, datadog_agent)


@pytest.fixture(params=['earlier rule', 'registry'])
def either_rule(request) -> None:
    """A guarantee test runs twice, once with each rule for the Agent's file (agent_log_file.py): see `follow`."""
    follow(request.param, request)


def follow(rule: str, request: pytest.FixtureRequest) -> None:
    """`registry`: through the emulated Agent (`logs_agent`), whose registry.json the check follows, as in a deployed
    Agent; `earlier rule`: no run path, as for an Agent whose registry the check cannot find."""
    if rule == 'registry':
        request.getfixturevalue('logs_agent')


@pytest.fixture
def datadog(logs_agent, clock) -> Iterator[FakeDatadog]:
    """Datadog's Logs search API, serving what the intake received, 10 s after it arrived."""
    with FakeDatadog(intake=logs_agent.intake, clock=clock.time, index_delay=10) as fake:
        yield fake


def recovery_options(datadog: FakeDatadog) -> dict[str, str]:
    """The options that turn cursor recovery on, against `datadog`."""
    return {'datadog_api_url': datadog.url, 'datadog_api_key': datadog.api_key, 'datadog_app_key': datadog.app_key}


def delivered_keys(agent: LogsAgent) -> list[tuple[str, str]]:
    """(stream, ACME id) of every log the intake received, in arrival order: what reached Datadog."""
    logs = [json.loads(line) for line in agent.delivered_lines()]
    return [(stream_of(log), log['acme']['id']) for log in logs]


def expected_keys(
    logs_by_stream: dict[str, list[dict[str, Any]]], *, since: float, until: float
) -> list[tuple[str, str]]:
    """The (stream, id) of every log with a timestamp in [since, until), each stream in ACME's order."""
    keys = []
    for stream, logs in logs_by_stream.items():
        ordered = sorted((parse_rfc3339(log['timestamp']), log['id']) for log in logs)
        keys.extend((stream, log_id) for nanos, log_id in ordered if since * 1e9 <= nanos < until * 1e9)
    return keys


def feed(sandbox: AcmeSandbox, *, seed: str, start: float, end: float, count: int, **shape: Any) -> dict[str, list]:
    """Give every stream its own tricky logs (ties, unordered ids, late arrival); return them by stream."""
    logs = {}
    for index, stream in enumerate(STREAMS):
        logs[stream] = generate_logs(seed=f'{seed}-{index}', start=start, end=end, count=count, **shape)
        sandbox.add_logs(stream, logs[stream])
    return logs


def assert_exactly_once(
    sent_keys: list[tuple[str, str]], expected: list[tuple[str, str]], streams: list[str] = STREAMS
) -> None:
    duplicates = {key for key, times in Counter(sent_keys).items() if times > 1}
    assert not duplicates, f'{len(duplicates)} logs sent twice, e.g. {sorted(duplicates)[:3]}'
    missing = set(expected) - set(sent_keys)
    assert not missing, f'{len(missing)} logs lost, e.g. {sorted(missing)[:3]}'
    assert set(sent_keys) == set(expected)
    for stream in streams:
        # Within a stream, logs go out in ACME's order.
        assert [k for k in sent_keys if k[0] == stream] == [k for k in expected if k[0] == stream]


POISON_AT = '2026-11-26T11:50:01Z'
AROUND_POISON = [
    {'id': 'a1', 'timestamp': '2026-11-26T11:50:00Z', 'message': 'before'},
    {'id': 'z9', 'timestamp': '2026-11-26T11:50:02Z', 'message': 'after'},
]


def crawl_around(sandbox: AcmeSandbox, instance: dict[str, Any], crawler: Crawler, raw: bytes) -> list[dict[str, Any]]:
    """Crawl `audit` with `raw` served verbatim between two good logs, then `prod-web`; return what came of `raw`.

    Asserts what must hold whatever `raw` is: the logs around it are sent once, the cursor goes past it, and the
    stream after it is crawled. Pages of 2 put it on a page with a good log; three runs read it again.
    """
    sandbox.add_logs('audit', AROUND_POISON)
    sandbox.add_raw_log('audit', at=POISON_AT, sort_id='p', raw=raw)
    others = generate_logs(seed='others', start=START - 30 * 60, end=START - 2 * 60, count=40, late_rate=0)
    sandbox.add_logs('prod-web', others)
    crawler.start({**instance, 'page_size': 2, 'streams': ['audit', 'prod-web']})
    crawler.run(times=3)

    around = [log['message'] for log in crawler.sent() if log['acme']['id'] in ('a1', 'z9')]
    assert around == ['before', 'after'], 'the logs around it are sent once'
    prod_web = [key for key in crawler.sent_keys() if key[0] == 'prod-web']
    assert prod_web == expected_keys({'prod-web': others}, since=0, until=START)
    assert parse_rfc3339(crawler.cursor('audit')['timestamp']) > parse_rfc3339(POISON_AT), 'the cursor went past it'
    return [log for log in crawler.sent() if log['acme']['id'] not in ('a1', 'z9') and stream_of(log) == 'audit']


def metric_total(aggregator, name, *tags):
    return sum(m.value for m in aggregator.metrics(name) if all(tag in m.tags for tag in tags))


def deeply_nested(depth: int) -> str:
    return '{"a":' * depth + '1' + '}' * depth
