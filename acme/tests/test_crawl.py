# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Exactly-once delivery over many runs, on data shaped to break naive cursors."""

import pytest

from datadog_checks.acme.cursors import CURSOR_PREFIX
from datadog_checks.acme.timing import parse_rfc3339

from .conftest import (
    HOUR,
    START,
    STREAMS,
    assert_exactly_once,
    expected_keys,
    feed,
    slot_position,
    stream_of,
    stream_of_cursor_key,
)

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures('either_rule')
def test_every_log_exactly_once_across_runs_and_restarts(sandbox, instance, crawler, clock):
    # Logs from the last hour and the next 40 minutes: ties, unordered ids, up to 60 s late arrival.
    logs = feed(sandbox, seed='once', start=START - HOUR, end=START + 40 * 60, count=1500)
    crawler.start({**instance, 'page_size': 7})

    for _restart in range(24):
        crawler.run(times=8)  # 2 minutes of 15 s runs
        crawler.start({**instance, 'page_size': 7})  # an Agent restart: new check, same disk

    # Runs stay `ingestion_delay` behind now: everything before that is final and must have been sent.
    final_end = clock.time() - 15 - 60
    assert final_end > START + 40 * 60
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=final_end))


@pytest.mark.usefixtures('either_rule')
def test_logs_sharing_a_timestamp_across_pages_and_runs(sandbox, instance, crawler, clock):
    instant = '2026-11-26T11:30:00.123456789Z'
    # 40 logs at one nanosecond, ids in no particular order, split over pages of 3 and over runs.
    ids = [f'{(i * 7919) % 1000:03d}-{i}' for i in range(40)]
    for stream in STREAMS:
        sandbox.add_logs(stream, [{'id': i, 'timestamp': instant, 'message': f'tie {i}'} for i in ids])
    crawler.start({**instance, 'page_size': 3, 'max_run_time': 1})
    sandbox.rate_limits = True  # 10 requests/s: each run ends after a few pages, mid-tie

    crawler.run(times=12)

    for stream in STREAMS:
        sent = [log['acme']['id'] for log in crawler.sent() if stream_of(log) == stream]
        assert sent == sorted(ids)


def test_first_run_starts_initial_lookback_ago(sandbox, instance, crawler):
    logs = feed(sandbox, seed='lookback', start=START - 3 * HOUR, end=START - 2 * 60, count=300, late_rate=0)
    crawler.start({**instance, 'initial_lookback': 600})

    crawler.run()

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - 600, until=START - 60))


def test_quiet_streams_move_their_cursor_to_the_window_end(sandbox, instance, crawler, clock):
    crawler.start(instance)

    crawler.run()

    for stream in STREAMS:
        assert parse_rfc3339(crawler.cursor(stream)['timestamp']) == int((START - 60) * 1e9)
        assert crawler.cursor(stream)['id'] == ''
    crawler.run()
    # The next query starts where the last one ended, not an ever longer window ago.
    last_queries = [r for r in sandbox.stats.records if r.stream == 'audit'][-1]
    assert last_queries.start_time_ns == int((START - 60) * 1e9)


def test_cursor_is_written_once_per_page(sandbox, instance, crawler, datadog_agent, monkeypatch):
    writes = []
    original = datadog_agent.write_persistent_cache
    monkeypatch.setattr(
        datadog_agent,
        'write_persistent_cache',
        lambda k, v: (writes.append(k) if CURSOR_PREFIX in k else None, original(k, v)),
    )
    feed(sandbox, seed='pages', start=START - 30 * 60, end=START - 5 * 60, count=95, late_rate=0, tie_rate=0)
    crawler.start({**instance, 'page_size': 10})

    crawler.run()

    pages = sum(1 for r in sandbox.stats.records if r.stream and r.status == 200)
    assert len(crawler.sent()) == 2 * 95
    # One per page, the last one moving on to the window end; plus each stream's starting line, pinned up front.
    assert len(writes) <= pages + len(STREAMS)
    assert len(writes) >= 2 * 10  # at least one per full page


@pytest.mark.usefixtures('either_rule')
def test_a_cursor_never_passes_a_log_not_yet_submitted(sandbox, instance, crawler, datadog_agent, monkeypatch):
    logs = feed(sandbox, seed='behind', start=START - 30 * 60, end=START - 2 * 60, count=200, late_rate=0)
    order = {stream: sorted((parse_rfc3339(log['timestamp']), log['id']) for log in logs[stream]) for stream in STREAMS}
    unsent_at_writes = []
    original = datadog_agent.write_persistent_cache

    def write(key: str, value: str) -> None:
        if CURSOR_PREFIX not in key:
            return original(key, value)
        stream = stream_of_cursor_key(key)
        cursor = slot_position(value)
        sent = {log['acme']['id'] for log in crawler.sent() if stream_of(log) == stream}
        unsent_at_writes.append(
            [log_id for nanos, log_id in order[stream] if (nanos, log_id) <= cursor and log_id not in sent]
        )
        original(key, value)

    monkeypatch.setattr(datadog_agent, 'write_persistent_cache', write)
    crawler.start({**instance, 'page_size': 7})

    crawler.run(times=2)

    assert len(unsent_at_writes) >= 2 * 200 // 7
    assert not any(unsent_at_writes)
    assert len(crawler.sent()) == 2 * 200


def test_pages_and_runs_reuse_one_connection(sandbox, instance, crawler):
    logs = feed(sandbox, seed='keep-alive', start=START - 30 * 60, end=START - 5 * 60, count=60, late_rate=0)
    crawler.start({**instance, 'page_size': 10})
    crawler.run(times=2)
    assert sandbox.stats.requests >= 2 * 7
    assert sandbox.stats.connections == 1

    sandbox.drop_connections()  # as a load balancer does with idle connections between runs
    crawler.run()

    assert sandbox.stats.connections == 2
    assert not crawler.warnings()
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START - 60))


def test_persist_connections_false_opens_a_connection_per_request(sandbox, instance, crawler):
    crawler.start({**instance, 'persist_connections': False})

    crawler.run(times=2)

    # A query per stream and run, and the listing on the first run.
    assert sandbox.stats.connections == sandbox.stats.requests == 2 * len(STREAMS) + 1


@pytest.mark.usefixtures('either_rule')
def test_stale_backlog_is_skipped_without_paging_through_it(sandbox, instance, crawler, clock):
    crawler.start(instance)
    crawler.run()  # cursors near START
    # Then the Agent is down for 3 days; ACME keeps 7 days of logs, the intake takes only the last 18 h.
    logs = feed(sandbox, seed='outage', start=START, end=START + 72 * HOUR, count=3000, late_rate=0)
    clock.advance(72 * HOUR)
    crawler.start(instance)
    now = clock.time()

    crawler.run()

    line = now - 18 * HOUR
    requests = [r for r in sandbox.stats.records if r.clock >= now and r.stream]
    assert requests and all(r.start_time_ns >= line * 1e9 for r in requests)
    assert all(r.min_served_ts_ns is None or r.min_served_ts_ns >= line * 1e9 for r in requests)
    sent = crawler.sent_keys()
    assert set(sent) == set(expected_keys(logs, since=line + 5 * 60, until=now - 60))
    assert any('hours behind' in warning for warning in crawler.warnings())


def test_a_new_stream_starting_at_the_18_hour_line_is_not_behind(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='edge', start=START - 2 * HOUR, end=START - 2 * 60, count=100, late_rate=0)
    sandbox.rate_limits = True  # the waits move the clock on while the first stream is crawled
    crawler.start({**instance, 'initial_lookback': 18 * HOUR, 'page_size': 5})

    crawler.run()

    assert clock.time() > START + 15 + 1  # the run took time
    assert not crawler.warnings()
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - 2 * HOUR, until=START - 60))


def test_max_run_time_bounds_a_run_and_the_next_run_resumes(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='backlog', start=START - HOUR, end=START - 2 * 60, count=2000, late_rate=0)
    crawler.start({**instance, 'page_size': 10, 'max_run_time': 3})

    crawler.run()
    first_run = len(crawler.sent())
    crawler.run(times=40)

    # 10 requests/s for 3 s: about 30 pages of 10 logs, far from the 4000 in the backlog.
    assert 0 < first_run <= 400
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START - 60))


def test_editing_tags_keeps_the_cursors(sandbox, instance, crawler):
    logs = feed(sandbox, seed='tags', start=START - 30 * 60, end=START + 5 * 60, count=200)
    crawler.start(instance)
    crawler.run(times=4)

    crawler.start({**instance, 'tags': ['team:logs', 'owner:sre'], 'timeout': 20})  # a new config digest
    crawler.run(times=30)

    assert len(crawler.check_ids) == 2
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START + 5 * 60))


def test_all_streams_are_discovered_when_none_are_configured(sandbox, instance, crawler):
    for extra in ('billing', 'edge-1', 'edge_2'):
        sandbox.add_stream(extra)
        sandbox.add_logs(extra, [{'id': 'x', 'timestamp': '2026-11-26T11:50:00Z', 'message': extra}])
    del instance['streams']
    crawler.start({**instance, 'page_size': 2})  # the listing takes 3 pages

    crawler.run()

    assert sorted(log['message'] for log in crawler.sent()) == ['billing', 'edge-1', 'edge_2']
    assert {r.stream for r in sandbox.stats.records if r.stream} == {*STREAMS, 'billing', 'edge-1', 'edge_2'}


def test_nothing_is_fetched_while_the_agent_does_not_collect_logs(sandbox, instance, crawler, agent_config, cache_keys):
    agent_config['logs_enabled'] = False
    crawler.start(instance)

    crawler.run()

    assert sandbox.stats.requests == 0
    assert not cache_keys, 'no cursor, no pin'
    assert any('logs_enabled' in warning for warning in crawler.warnings())


def test_submitted_log(sandbox, instance, crawler):
    attributes = {'user': 'alice', 'client_ip': '203.0.113.7', 'nested': {'depth': [1, 2]}}
    log = {
        'id': '01JDQ3Z8G6K9W5V2N7XH4M1R0T',
        'timestamp': '2026-11-26T12:42:38.123456+01:00',
        'severity': 'WARNING',
        'message': 'user alice signed in\nsecond line ✓',
        'service': 'auth',
        'host': 'web-3',
        'attributes': attributes,
        'region': 'eu-1',  # a field ACME added later
    }
    sandbox.add_logs('audit', [log, {'id': 'bare', 'timestamp': '2026-11-26T11:43:00Z', 'message': 'm'}])
    crawler.start({**instance, 'service': 'acme-default'})

    crawler.run()

    full, bare = crawler.sent()
    assert full == {
        'message': 'user alice signed in\nsecond line ✓',
        'timestamp': 1795693358123,
        'status': 'warning',
        'service': 'auth',
        'hostname': 'web-3',
        'ddsource': 'acme',
        'ddtags': f'team:logs,acme_stream:audit,acme_cursor:{crawler.check.directory.streams["audit"].cursor_tag}',
        'acme': {
            'id': '01JDQ3Z8G6K9W5V2N7XH4M1R0T',
            'timestamp': full['acme']['timestamp'],  # as ACME rendered it, in any offset
            'severity': 'WARNING',
            'service': 'auth',
            'host': 'web-3',
            'attributes': attributes,
            'region': 'eu-1',
        },
    }
    assert parse_rfc3339(full['acme']['timestamp']) == parse_rfc3339(log['timestamp'])
    assert bare['service'] == 'acme-default'
    assert 'status' not in bare and 'hostname' not in bare


@pytest.mark.parametrize('stored', ['{"timestamp": 1795692000}', 'not json at all', '{"seq": 3, "cursor": {}}'])
def test_unreadable_stored_cursor_restarts_as_a_first_run(sandbox, instance, crawler, datadog_agent, stored):
    crawler.start(instance)
    crawler.run()
    for stream in STREAMS:
        crawler.damage_cursor(stream, stored)
    logs = feed(sandbox, seed='corrupt', start=START - 2 * HOUR, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start(instance)  # a restart reads the damaged cursors

    crawler.run()

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START + 15 - HOUR, until=START - 60))
    assert any('stored cursor is damaged; starting over as on a first run' in w for w in crawler.warnings())
