# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Delivered means it reached the intake: through the Agent's file of the check's logs, its tailer and its auditor's
registry.json (agent_emulation.LogsAgent), while the intake is down, the Agent restarts, or the registry is torn."""

import json
import logging

import pytest

from datadog_checks.acme.agent_log_file import MB

from .agent_emulation import write_torn
from .conftest import HOUR, START, STREAMS, assert_exactly_once, delivered_keys, expected_keys, feed, metric_total
from .sandbox import generate_logs

pytestmark = pytest.mark.integration
BACKLOG_STREAMS = [*STREAMS, 'billing']


def backlog(sandbox, *, count: int, message_bytes: int = 0) -> dict[str, list]:
    """A backlog of `count` logs per stream over the last hour, ties and unordered ids included."""
    sandbox.add_stream('billing')
    logs = {}
    for stream in BACKLOG_STREAMS:
        logs[stream] = generate_logs(seed=stream, start=START - HOUR, end=START - 2 * 60, count=count, late_rate=0)
        for log in logs[stream]:
            log['message'] += 'x' * message_bytes
        sandbox.add_logs(stream, logs[stream])
    return logs


def assert_delivered_once(agent, logs) -> None:
    assert agent.lost == {'recreation': [], 'restart': [], 'replacement': []}, 'no line lost on its way'
    assert_exactly_once(delivered_keys(agent), expected_keys(logs, since=START - HOUR, until=START), BACKLOG_STREAMS)


def test_an_intake_outage_holds_the_crawl_and_loses_no_line(sandbox, instance, crawler, logs_agent, aggregator):
    logs = backlog(sandbox, count=6000)  # about 6 MB through a 1 MB file
    crawler.start({**instance, 'streams': BACKLOG_STREAMS})
    crawler.run(times=2)

    logs_agent.intake.up = False
    crawler.run(times=2)  # 30 s: the file fills with lines the intake has not accepted, then the crawl holds
    held_cursors = [crawler.cursor(stream) for stream in BACKLOG_STREAMS]
    crawler.run()
    assert [crawler.cursor(stream) for stream in BACKLOG_STREAMS] == held_cursors, 'held: no cursor moved'
    assert metric_total(aggregator, 'acme.agent.held_runs') >= 1
    assert max(m.value for m in aggregator.metrics('acme.agent.unshipped_bytes')) > 0.9 * MB
    logs_agent.intake.up = True
    crawler.run(times=30)

    assert logs_agent.truncations >= 3, 'the file filled up several times'
    assert_delivered_once(logs_agent, logs)


def test_a_ten_minute_outage_at_a_10_mb_cap_with_an_agent_restart_loses_nothing(
    sandbox, instance, crawler, logs_agent, aggregator
):
    logs_agent.cap_mb = 10
    logs = backlog(sandbox, count=8000, message_bytes=300)  # about 16 MB
    settings = {**instance, 'streams': BACKLOG_STREAMS, 'page_size': 100}  # about 4 MB a run: 3 runs fill the file
    crawler.start(settings)
    crawler.run()

    logs_agent.intake.up = False
    crawler.run(times=16)  # 4 minutes
    logs_agent.restart()  # the Agent restarts mid-outage: lines in the file wait for the intake, from the registry
    crawler.start(settings)
    crawler.run(times=24)  # 6 more minutes: held for 5 of them, the check says why
    warnings = crawler.warnings()
    logs_agent.intake.up = True
    crawler.run(times=20)

    assert_delivered_once(logs_agent, logs)
    assert logs_agent.truncations >= 1
    held = [warning for warning in warnings if 'has not shipped' in warning]
    assert held and all('cannot reach Datadog\'s logs intake: see `agent status`' in warning for warning in held)
    assert metric_total(aggregator, 'acme.agent.held_runs') >= 30


@pytest.mark.parametrize('registry', ['torn', 'missing'])
def test_a_registry_that_cannot_be_read_counts_the_whole_file_as_unshipped(
    sandbox, instance, crawler, logs_agent, registry
):
    logs = backlog(sandbox, count=3000)
    crawler.start({**instance, 'streams': BACKLOG_STREAMS})
    written = []

    def unreadable(path, data):
        written.append(len(data))
        if registry == 'torn':
            write_torn(path, data, len(data) // 2)

    logs_agent.write_file = unreadable
    crawler.run(times=4)  # the intake takes everything, but the check cannot see it: it fills the file, then holds

    assert written and logs_agent.truncations == 0, 'never made the Agent re-create the file'
    logs_agent.write_file = lambda path, data: path.write_bytes(data)
    crawler.run(times=20)
    assert_delivered_once(logs_agent, logs)


def test_without_the_agents_registry_the_earlier_rule_applies_and_says_so(
    sandbox, instance, crawler, logs_agent, datadog_agent, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    # The check cannot find the Agent's files (another layout): a quarter of the cap a run, and only a run's first line
    # re-creates the file. That rule holds while the intake takes what the tailer reads...
    logs = backlog(sandbox, count=3000)
    get_config = datadog_agent.get_config
    monkeypatch.setattr(
        datadog_agent, 'get_config', lambda key: None if key == 'logs_config.run_path' else get_config(key)
    )
    crawler.start({**instance, 'streams': BACKLOG_STREAMS})

    crawler.run(times=20)

    assert_delivered_once(logs_agent, logs)
    assert logs_agent.truncations >= 2
    message = f'The Agent\'s file of this check\'s logs is not at None: a run hands over {MB // 4} bytes'
    assert [record.message for record in caplog.records].count(message) == 1, 'said once'


def test_without_the_agents_registry_an_intake_outage_loses_lines(
    sandbox, instance, crawler, logs_agent, datadog_agent, monkeypatch
):
    # ... but not an outage: what the registry is for (measured on 2c5831c: 14,909 of 18,749 logs lost).
    backlog(sandbox, count=6000)
    get_config = datadog_agent.get_config
    monkeypatch.setattr(
        datadog_agent, 'get_config', lambda key: None if key == 'logs_config.run_path' else get_config(key)
    )
    crawler.start({**instance, 'streams': BACKLOG_STREAMS})
    crawler.run(times=2)
    logs_agent.intake.up = False
    crawler.run(times=8)
    logs_agent.intake.up = True
    crawler.run(times=20)

    assert len(logs_agent.lost['recreation']) > 1000


def test_lines_in_the_file_when_the_agent_restarts_are_shipped_once(sandbox, instance, crawler, logs_agent):
    logs = backlog(sandbox, count=3000)
    settings = {**instance, 'streams': BACKLOG_STREAMS, 'page_size': 50}  # a run hands over less than the file takes
    crawler.start(settings)
    crawler.run()  # the intake accepted the first lines: the registry knows the file
    logs_agent.intake.up = False
    crawler.run(times=2)
    in_file = len(logs_agent.unread_lines())

    logs_agent.restart()
    crawler.start(settings)
    logs_agent.intake.up = True
    crawler.run(times=4)

    assert in_file > 1000
    assert_delivered_once(logs_agent, logs)
    assert [json.loads(line)['acme']['id'] for line in logs_agent.delivered_lines()[:10]], 'shipped from the file'


def test_the_file_the_agent_creates_for_the_check_is_followed_from_the_first_run(
    sandbox, instance, crawler, logs_agent, aggregator, caplog
):
    caplog.set_level(logging.INFO)
    logs = backlog(sandbox, count=10)
    crawler.start({**instance, 'streams': BACKLOG_STREAMS})  # the Agent creates the check's file, empty
    crawler.run()

    assert len(aggregator.metrics('acme.agent.unshipped_bytes')) == 1, 'the registry rule from the first run'
    assert not [record for record in caplog.records if 'is not at' in record.message]
    crawler.run(times=2)
    assert_delivered_once(logs_agent, logs)


def test_a_file_no_registry_entry_will_ever_acknowledge_is_held_18_hours_at_most(
    sandbox, instance, crawler, logs_agent, clock
):
    # The intake is down from the start, so the registry has no entry for the file; the Agent restarts, and its tailer
    # starts at the file's end: those lines are the Agent's loss, and no entry will ever acknowledge them. Held 18 h,
    # every one of them is too old for the intake anyway: the check lets the Agent re-create the file.
    backlog(sandbox, count=3000)
    settings = {**instance, 'streams': BACKLOG_STREAMS}
    logs_agent.intake.up = False
    crawler.start(settings)
    crawler.run(times=3)
    logs_agent.restart()
    logs_agent.intake.up = True
    crawler.start(settings)
    crawler.run(times=4)
    assert delivered_keys(logs_agent) == [], 'held: nothing acknowledges the file'

    clock.advance(18 * HOUR - 4 * 15)
    crawler.run()  # still held: 18 h are not over
    assert delivered_keys(logs_agent) == []
    now = clock.time()
    fresh = feed(sandbox, seed='after', start=now + 15, end=now + 120, count=50, late_rate=0)
    crawler.run(times=16)
    assert set(expected_keys(fresh, since=0, until=now + 120)) == set(delivered_keys(logs_agent))
    assert logs_agent.truncations == 1 and not logs_agent.lost['recreation'], 'no line the intake would take was lost'
