# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""No stream stuck, no starting line lost: every run gets past what it re-reads, and a pin is durable at once."""

import pytest

from .conftest import HOUR, START, assert_exactly_once, expected_keys
from .sandbox import generate_logs

pytestmark = pytest.mark.integration

TIE = '2026-11-26T11:30:00.123456789Z'


def test_a_tie_group_larger_than_a_run_is_passed_even_when_page_tokens_expire_between_runs(sandbox, instance, crawler):
    # 200 logs at one nanosecond; a run pages through about 90 of them; the next run comes after the page token
    # expired, so it must start again at the tie and re-read what it already sent.
    ids = [f'{(i * 7919) % 1000:03d}-{i}' for i in range(200)]
    sandbox.add_logs('audit', [{'id': i, 'timestamp': TIE, 'message': f'tie {i}'} for i in ids])
    crawler.interval = 300
    crawler.start({**instance, 'streams': ['audit'], 'page_size': 5, 'max_run_time': 2})

    sent_after_each_run = []
    for _run in range(8):
        crawler.run()
        sent_after_each_run.append(len(crawler.sent()))

    assert [log['acme']['id'] for log in crawler.sent()] == sorted(ids)
    first_runs = sent_after_each_run[: sent_after_each_run.index(200) + 1]
    assert all(before < after for before, after in zip(first_runs, first_runs[1:])), sent_after_each_run


def test_a_failed_cursor_write_on_a_new_streams_first_page_loses_nothing(
    sandbox, instance, crawler, clock, datadog_agent, monkeypatch
):
    logs = generate_logs(seed='first-page', start=START - HOUR + 1, end=START - 2 * 60, count=300, late_rate=0)
    sandbox.add_logs('audit', logs)
    failed = []
    write = datadog_agent.write_persistent_cache

    def write_failing_once_logs_were_sent(key, value):
        if crawler.sent() and not failed:
            failed.append(key)  # the first page's cursor, after its logs went out
            raise OSError('disk full')
        write(key, value)

    monkeypatch.setattr(datadog_agent, 'write_persistent_cache', write_failing_once_logs_were_sent)
    crawler.start({**instance, 'streams': ['audit'], 'page_size': 20})

    with pytest.raises(Exception, match='disk full'):
        crawler.run()
    clock.advance(300)
    crawler.start({**instance, 'streams': ['audit'], 'page_size': 20})  # the Agent restarts, minutes later
    crawler.run(times=3)

    assert failed
    sent = crawler.sent_keys()
    assert set(sent) == set(expected_keys({'audit': logs}, since=0, until=START)), 'nothing lost'
    assert len(sent) - len(set(sent)) <= 20, 'at most the page whose cursor was lost is sent again'


def test_a_stream_whose_cursor_is_damaged_is_pinned_before_the_run_reaches_it(
    sandbox, instance, crawler, clock, agent_config
):
    crawler.start(instance)
    crawler.run()
    for stream in ('prod-web', 'audit'):
        crawler.damage_cursor(stream, '1 0badf00d {"timestamp": 17}')
    # On restart both start over from `initial_lookback` ago, as streams never read, `prod-web` first (the order of
    # `streams`); `audit`'s logs crowd the start of that window. A backlog on `prod-web`, small pages and a short run
    # (in time, and in bytes: a log) end the first run before `audit`.
    restart = clock.time()
    audit = generate_logs(seed='edge', start=restart - HOUR, end=restart - HOUR + 60, count=200, late_rate=0)
    backlog = generate_logs(seed='backlog', start=START - 59, end=START - 46, count=400, late_rate=0)
    sandbox.add_logs('audit', audit)
    sandbox.add_logs('prod-web', backlog)
    # An Agent whose file of this check's logs takes 512 bytes: without its registry, a run hands over a quarter.
    agent_config['logs_config.integrations_logs_files_max_size'] = 512 / 1024 / 1024
    crawler.start({**instance, 'streams': ['prod-web', 'audit'], 'page_size': 5, 'max_run_time': 2})
    crawler.run()
    assert not [key for key in crawler.sent_keys() if key[0] == 'audit'], 'the first run did not reach it'
    del agent_config['logs_config.integrations_logs_files_max_size']

    crawler.start({**instance, 'timeout': 11})  # a restart (with another config digest), minutes later
    clock.advance(300)
    crawler.run(times=30)

    expected = expected_keys({'audit': audit, 'prod-web': backlog}, since=restart - HOUR, until=START)
    assert_exactly_once(crawler.sent_keys(), expected)
