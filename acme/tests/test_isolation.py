# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One stream's trouble stays its own: the others keep their pace, and the stream in trouble backs off on its own."""

from __future__ import annotations

import math

import pytest

from datadog_checks.base import AgentCheck

from .conftest import HOUR, START, STREAMS, assert_exactly_once, expected_keys, feed, stream_of
from .sandbox import generate_logs
from .stream_schedule import AgentScheduler

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures('either_rule')]

INTERVAL = 15.0


def requests_of(sandbox, stream: str, *, since: float = 0.0) -> list:
    return [record for record in sandbox.stats.records if record.stream == stream and record.clock >= since]


def longest_wait(sandbox, stream: str, *, since: float, until: float) -> float:
    """The longest time `stream` went without a request between `since` and `until`."""
    times = [since, *(record.clock for record in requests_of(sandbox, stream, since=since)), until]
    return max(later - earlier for earlier, later in zip(times, times[1:]))


def agent_schedule(crawler, clock) -> AgentScheduler:
    """Runs every 15 s from their starts, as the Agent schedules them (the crawler's own runs add 15 s after each)."""
    crawler.interval = 0.0
    return AgentScheduler(crawler.run, clock, interval=INTERVAL, wait=crawler.wait)


def live_feed(sandbox, stream: str, *, seed: str, count: int) -> list[dict]:
    """Logs arriving over the next 5 minutes, as a busy stream's do."""
    logs = generate_logs(seed=seed, start=START, end=START + 5 * 60, count=count, late_rate=0.3, max_late=50)
    sandbox.add_logs(stream, logs)
    return logs


def test_a_stream_answering_503_does_not_hold_up_the_healthy_one(sandbox, instance, crawler, clock, aggregator):
    healthy = live_feed(sandbox, 'prod-web', seed='healthy', count=200)
    failing = live_feed(sandbox, 'audit', seed='failing', count=200)
    sandbox.fail_stream('audit', status=503)  # a shard outage: every request for `audit`
    crawler.start(instance)
    agent = agent_schedule(crawler, clock)

    agent.run_until(START + 5 * 60)

    until = agent.next_tick - INTERVAL - 60
    assert_exactly_once(
        [key for key in crawler.sent_keys() if key[0] == 'prod-web'],
        expected_keys({'prod-web': healthy}, since=START - HOUR, until=until),
    )
    assert longest_wait(sandbox, 'prod-web', since=START, until=agent.next_tick - INTERVAL) <= INTERVAL + 1
    # Visits at 0, 15, 45, 105 and 225 s (the backoff doubles from 15 s): 3 attempts the first time, then one.
    assert len(requests_of(sandbox, 'audit')) <= 3 + 4
    warnings = crawler.warnings()
    assert any(w.startswith('Stream `audit` failed (') and 'HTTP 503' in w for w in warnings), warnings
    aggregator.assert_service_check('acme.can_connect', AgentCheck.WARNING)
    last = aggregator.service_checks('acme.can_connect')[-1]
    assert 'stream `audit`' in last.message and 'prod-web' not in last.message

    sandbox.heal_stream('audit')
    agent.run_until(START + 12 * 60)  # the outage is over: `audit` catches up, exactly once

    until = agent.next_tick - INTERVAL - 60
    assert_exactly_once(
        crawler.sent_keys(), expected_keys({'prod-web': healthy, 'audit': failing}, since=START - HOUR, until=until)
    )
    assert aggregator.service_checks('acme.can_connect')[-1].status == AgentCheck.OK


def test_backoff_is_bounded_and_honours_the_streams_retry_after(sandbox, instance, crawler, clock):
    sandbox.fail_stream('audit', status=503, retry_after=200)
    crawler.start(instance)

    crawler.run(times=4 * 60)  # an hour

    audit = requests_of(sandbox, 'audit')
    assert sandbox.stats.violations == 0, 'no request for `audit` before its Retry-After'
    gaps = [later.clock - earlier.clock for earlier, later in zip(audit, audit[1:])]
    assert min(gaps) >= 200 and max(gaps) <= 300 + INTERVAL, 'at most every 5 minutes, as documented'
    assert len(requests_of(sandbox, 'prod-web')) == 4 * 60, 'the healthy stream: a request every run'


def test_an_undecodable_page_stays_its_streams_problem(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='undecodable', start=START - 30 * 60, end=START - 2 * 60, count=100, late_rate=0)
    sandbox.add_raw_log('audit', at='2026-11-26T11:50:00Z', sort_id='x', raw=b'{"id": "x", "message": ')  # not JSON
    crawler.start({**instance, 'page_size': 1000})

    crawler.run(times=4)

    sent = crawler.sent_keys()
    assert_exactly_once([key for key in sent if key[0] == 'prod-web'], expected_keys(logs, since=0, until=START)[:100])
    assert any('stream `audit`: answer is not ACME JSON' in warning for warning in crawler.warnings())


@pytest.mark.parametrize(
    'raw, message, log_id',
    [
        pytest.param(
            b'{"id":"u1","timestamp":"2026-11-26T11:50:01Z","message":"bad \xff byte"}',
            'bad \ufffd byte',
            'u1',
            id='an invalid UTF-8 byte in the message',
        ),
        pytest.param(
            b'{"id":"\\ud800u1","timestamp":"2026-11-26T11:50:01Z","message":"lone surrogate in the id"}',
            'lone surrogate in the id',
            '\ufffdu1',
            id='a lone surrogate escape in the id',
        ),
        pytest.param(
            b'{"id":"u1","timestamp":"2026-11-26T11:50:01Z","message":"m","attributes":{"k\\udfff":"v\\ud83d"}}',
            'm',
            'u1',
            id='lone surrogates in a field name and value',
        ),
    ],
)
@pytest.mark.parametrize('page_size', [4, 6], ids=['mid-page', 'last on its page, carrying the cursor'])
def test_text_that_is_not_utf8_is_replaced_in_that_log_alone(
    sandbox, instance, crawler, clock, raw, message, log_id, page_size
):
    before = [{'id': f'a{i}', 'timestamp': f'2026-11-26T11:50:00.{i:03d}Z', 'message': 'before'} for i in range(5)]
    after = [{'id': f'z{i}', 'timestamp': f'2026-11-26T11:50:02.{i:03d}Z', 'message': 'after'} for i in range(5)]
    sandbox.add_logs('audit', before + after)
    sandbox.add_raw_log('audit', at='2026-11-26T11:50:01Z', sort_id='u1', raw=raw)
    others = generate_logs(seed='others', start=START - 30 * 60, end=START - 2 * 60, count=40, late_rate=0)
    sandbox.add_logs('prod-web', others)
    crawler.start({**instance, 'page_size': page_size})

    crawler.run(times=3)

    audit = [log for log in crawler.sent() if stream_of(log) == 'audit']
    assert [log['message'] for log in audit] == ['before'] * 5 + [message] + ['after'] * 5, 'each once, in order'
    (replaced,) = [log for log in audit if log['acme']['id'] == log_id]
    assert replaced['acme_crawler'] == {'replaced_characters': True}
    if 'attributes' in replaced['acme']:
        assert replaced['acme']['attributes'] == {'k\ufffd': 'v\ufffd'}
    assert crawler.cursor('audit')['timestamp'] > '2026-11-26T11:50:02.004', 'the cursor went past it'
    assert len([key for key in crawler.sent_keys() if key[0] == 'prod-web']) == len(others)
    runs_reading_prod_web = {int((record.clock - START) // INTERVAL) for record in requests_of(sandbox, 'prod-web')}
    assert runs_reading_prod_web == {0, 1, 2}, 'the healthy stream keeps its pace: read in every run'
    pages = math.ceil(11 / page_size) + (11 % page_size == 0)
    assert len(requests_of(sandbox, 'audit')) == pages + 2, 'its pages, then a request per run: nothing re-read'
    assert not crawler.warnings()


def test_the_run_time_pause_ends_when_a_rereading_stream_fails(sandbox, instance, crawler, clock):
    # `audit`: a tie group larger than a run pages through. `prod-web`: quiet, then a backlog bigger than any run.
    tie = [{'id': f'{i:04d}', 'timestamp': '2026-11-26T11:30:00.5Z', 'message': f'tie {i}'} for i in range(300)]
    sandbox.add_logs('audit', tie)
    sandbox.rate_limits = True
    # Past a page token's life, before the next listing pass: the next visit of `audit` re-reads its tie.
    crawler.interval = 250
    settings = {**instance, 'page_size': 5, 'max_run_time': 2, 'streams': ['audit', 'prod-web']}
    crawler.start(settings)
    crawler.run()
    assert 0 < len([key for key in crawler.sent_keys() if key[0] == 'audit']) < 300, 'the run stopped in the tie'

    # The next run visits `prod-web` first (it waited longest), a page, then `audit`, whose re-read fails at once.
    sandbox.add_logs('prod-web', generate_logs(seed='backlog', start=START - 59, end=START + 300, count=20000))
    sandbox.forbid_stream('audit', status=404)
    started = clock.time()
    crawler.run()

    assert clock.time() - crawler.interval - started <= 2 + 1, 'the run kept to its `max_run_time`'
    assert any(w.startswith('Skipping stream `audit`') for w in crawler.warnings())


def test_a_page_token_survives_the_end_of_a_run(sandbox, instance, crawler, clock):
    # 1,500 logs at one instant in each stream, pages of 10, runs ending every 2 s: the tie is passed page by page,
    # each run continuing the query of the run before instead of re-reading the tie from its start.
    for stream in STREAMS:
        ids = [f'{(i * 7919) % 10000:04d}-{i}' for i in range(1500)]
        sandbox.add_logs(stream, [{'id': i, 'timestamp': '2026-11-26T11:30:00Z', 'message': 'm'} for i in ids])
    sandbox.rate_limits = True
    crawler.start({**instance, 'page_size': 10, 'max_run_time': 2})

    crawler.run(times=60)

    assert len(crawler.sent()) == len(set(crawler.sent_keys())) == 2 * 1500
    for stream in STREAMS:
        assert len(requests_of(sandbox, stream)) <= math.ceil(1500 / 10) + 1 + 60, 'a page per 10 logs, plus a run each'


def test_streams_never_read_go_first_and_the_first_listing_is_not_paced(sandbox, instance, crawler, clock):
    # 120 streams and a listing of 2 per page (short pages are allowed): 60 listing pages before the first visit.
    names = [f's{index:03d}' for index in range(118)]
    for name in names:
        sandbox.add_stream(name)
    sandbox.listing_page_limit = 2
    sandbox.rate_limits = True
    crawler.start({key: value for key, value in instance.items() if key != 'streams'})
    agent_schedule(crawler, clock).run_until(START + 60)

    first_read = {}
    for record in sandbox.stats.records:
        if record.stream is not None:
            first_read.setdefault(record.stream, record.clock)
    assert len(first_read) == 120, 'every stream read within a minute'
    assert max(first_read.values()) - START <= 45, 'within the time ACME allows 60 listing pages and 120 visits'
    visits = [record.stream for record in sandbox.stats.records if record.stream is not None]
    assert len(set(visits[:120])) == 120, 'no stream read twice before every stream was read once'
