# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What ACME's contract allows to go wrong: nothing lost, nothing twice, no hammering, no leaked token."""

import logging

import pytest

from datadog_checks.base import AgentCheck

from .conftest import HOUR, START, TOKEN, assert_exactly_once, expected_keys, feed, follow
from .sandbox import Faults

pytestmark = pytest.mark.integration


@pytest.fixture
def captured_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.parametrize('seed, rule', [(1, 'earlier rule'), (2, 'registry'), (3, 'earlier rule'), (4, 'registry')])
def test_random_faults_lose_nothing_and_duplicate_nothing(
    sandbox, instance, crawler, clock, captured_logs, seed, rule, request
):
    follow(rule, request)
    logs = feed(sandbox, seed=f'faults-{seed}', start=START - HOUR, end=START + 30 * 60, count=1200)
    sandbox.faults = Faults(
        error_rate=0.15, non_json_rate=0.05, disconnect_rate=0.05, token_expiry_rate=0.1, short_page_rate=0.3
    )
    crawler.start({**instance, 'page_size': 25, 'max_run_time': 5})

    for _ in range(12):
        crawler.run(times=12)
        crawler.start({**instance, 'page_size': 25, 'max_run_time': 5})

    stats = sandbox.stats
    assert sum(count for status, count in stats.by_status.items() if status >= 500) > 10, 'faults were injected'
    assert stats.violations == 0, 'a request went out while ACME had said to wait'
    final_end = clock.time() - 15 - 60
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=final_end))
    assert TOKEN not in captured_logs.text


@pytest.mark.usefixtures('either_rule')
def test_persistent_failures_end_the_run_cleanly_and_the_next_run_resumes(sandbox, instance, crawler, aggregator):
    logs = feed(sandbox, seed='outage', start=START - 30 * 60, end=START - 2 * 60, count=300, late_rate=0)
    crawler.start({**instance, 'page_size': 20})
    sandbox.faults = Faults(error_rate=1.0)

    crawler.run()  # raises nothing: an expected failure is a warning, not a traceback

    assert crawler.sent() == []
    warnings = crawler.warnings()
    assert len(warnings) == 1
    assert warnings[0].startswith('ACME did not answer usefully, the stream listing: ')
    assert 'HTTP 5' in warnings[0]
    aggregator.assert_service_check('acme.can_connect', AgentCheck.CRITICAL)

    sandbox.faults = Faults()
    crawler.run(times=3)

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))


def test_rate_limits_hold_every_stream_also_across_runs(sandbox, instance, crawler, clock):
    feed(sandbox, seed='busy', start=START - HOUR, end=START - 2 * 60, count=3000, late_rate=0)
    crawler.start({**instance, 'page_size': 5, 'max_run_time': 10})

    crawler.run(times=10)

    stats = sandbox.stats
    assert stats.violations == 0
    assert stats.by_status.get(429, 0) == 0, 'the client keeps headroom instead of running into the limit'
    per_second = {}
    for record in stats.records:
        per_second[int(record.clock)] = per_second.get(int(record.clock), 0) + 1
    assert max(per_second.values()) <= 10
    assert clock.slept > 0


def test_retry_after_stops_all_requests_until_then_also_across_runs(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='limited', start=START - 30 * 60, end=START - 2 * 60, count=200, late_rate=0)
    # Another client of the same token spends this minute's 300 requests, without ever being refused.
    for _second in range(30):
        for _ in range(10):
            sandbox.handle('GET', '/api/v1/streams', f'Bearer {TOKEN}')
        clock.advance(1)
    sandbox.reset_stats()
    crawler.start({**instance, 'max_run_time': 10})

    crawler.run()  # answered 429, Retry-After: 30 > max_run_time: the run ends
    crawler.run()  # 15 s later, 15 s still to wait: no request at all
    held = sandbox.stats

    assert held.requests == 1 and held.by_status == {429: 1}
    crawler.run(times=2)
    assert sandbox.stats.violations == 0
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))


def test_a_429s_retry_after_is_obeyed_for_5_minutes_at_most(sandbox, instance, crawler):
    # `Retry-After: 7200` on a 429 held every request of the token for 2 hours, while each run said "retrying next
    # run"; a longer limit is met again by the next request.
    logs = feed(sandbox, seed='long-429', start=START - 30 * 60, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start(instance)
    sandbox.fail_stream('audit', status=429, retry_after=7200)
    crawler.run()
    sandbox.heal_stream('audit')
    limited = sandbox.stats.requests

    crawler.run(times=21)  # 5 minutes and 15 s

    assert sandbox.stats.requests > limited, 'ACME asked again within 5 minutes'
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))


def test_can_connect_is_critical_when_no_stream_can_be_read(sandbox, instance, crawler, aggregator):
    # ACME unreachable once the streams are known: each stream fails on its own, and none can be read.
    crawler.start(instance)
    crawler.run()
    sandbox.stop()

    crawler.run()

    aggregator.assert_service_check('acme.can_connect', AgentCheck.CRITICAL)
    assert aggregator.service_checks('acme.can_connect')[-1].message.startswith('2 of 2 streams failing')


def test_rejected_token_fails_the_run_without_showing_it(sandbox, instance, crawler, aggregator, captured_logs):
    crawler.start({**instance, 'api_token': 'wrong-' + TOKEN})

    with pytest.raises(Exception, match='ACME rejected the API token') as error:
        crawler.run()

    assert TOKEN not in str(error.value) and TOKEN not in captured_logs.text
    aggregator.assert_service_check('acme.can_connect', AgentCheck.CRITICAL)


def test_token_without_scope_is_named(sandbox, instance, crawler):
    del instance['streams']
    sandbox.tokens_without_scope = frozenset({'read-nothing-token'})
    crawler.start({**instance, 'api_token': 'read-nothing-token'})

    with pytest.raises(Exception, match='lacks the `logs:read` scope'):
        crawler.run()


@pytest.mark.parametrize('status', [403, 404])
def test_a_stream_that_becomes_unreadable_is_reported_and_the_others_go_on(
    sandbox, instance, crawler, aggregator, clock, status
):
    crawler.start(instance)
    crawler.run()  # both streams listed, and crawled up to START - 60 s
    logs = feed(sandbox, seed='forbidden', start=START, end=START + 60, count=50, late_rate=0)
    sandbox.forbid_stream('audit', status=status)
    clock.advance(120)
    forbidden_since = clock.time()

    crawler.run(times=2)

    expected = expected_keys(logs, since=START, until=START + 60)
    assert set(crawler.sent_keys()) == {key for key in expected if key[0] != 'audit'}
    warnings = crawler.warnings()
    assert any(w.startswith('Skipping stream `audit`') and f'HTTP {status}' in w for w in warnings)
    audit_requests = [r for r in sandbox.stats.records if r.stream == 'audit' and r.clock >= forbidden_since]
    assert len(audit_requests) == 1, 'a stream ACME refuses is not asked again until a listing shows it'
    aggregator.assert_service_check('acme.can_connect', AgentCheck.OK)


def test_a_configured_stream_the_listing_lacks_is_reported_and_the_others_go_on(sandbox, instance, crawler, aggregator):
    logs = feed(sandbox, seed='unlisted', start=START - 30 * 60, end=START - 2 * 60, count=50, late_rate=0)
    sandbox.forbid_stream('audit')
    crawler.start({**instance, 'streams': ['audit', 'nosuch', 'prod-web']})

    crawler.run()

    assert set(crawler.sent_keys()) == {key for key in expected_keys(logs, since=0, until=START) if key[0] != 'audit'}
    assert crawler.warnings() == [
        'Streams `audit`, `nosuch` are not in ACME\'s listing for this token (`streams`): they do not exist or the '
        'token may not read them; they are not crawled'
    ]
    assert {r.stream for r in sandbox.stats.records} == {None, 'prod-web'}
    aggregator.assert_service_check('acme.can_connect', AgentCheck.OK)


def test_can_connect_is_ok_when_acme_answers(sandbox, instance, crawler, aggregator):
    crawler.start(instance)

    crawler.run()

    aggregator.assert_service_check('acme.can_connect', AgentCheck.OK, tags=['team:logs'])


def test_timeouts_are_retried(sandbox, instance, crawler):
    logs = feed(sandbox, seed='slow', start=START - 10 * 60, end=START - 2 * 60, count=60, late_rate=0)
    sandbox.faults = Faults(slow_rate=0.3, slow_seconds=1.0)
    crawler.start({**instance, 'page_size': 10, 'timeout': 0.3})

    crawler.run(times=4)

    assert any(record.fault == 'slow' for record in sandbox.stats.records)
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))
