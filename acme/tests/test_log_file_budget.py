# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What a run hands the Agent fits its integration log file: the tailer never loses a line to a truncation."""

import pytest

from datadog_checks.acme.agent_log_file import MB, SHARE_OF_CAP

from .agent_emulation import IntegrationLogFile, Tailer, integration_log_path
from .conftest import HOUR, START, assert_exactly_once, expected_keys, feed, metric_total

CAP_MB = 1


class AgentLogs:
    """The Agent behind `send_log`: every line goes to the check's integration log file, capped at CAP_MB."""

    def __init__(self, run_path) -> None:
        self.run_path = run_path
        self.file: IntegrationLogFile | None = None
        self.tailer: Tailer | None = None
        self.lines: list[str] = []
        self.shipped: list[str] = []

    def send_log(self, line: str, check_id: str) -> None:
        if self.file is None:
            self.file = IntegrationLogFile(integration_log_path(self.run_path, check_id), cap_bytes=CAP_MB * MB)
            self.tailer = Tailer(self.file.path)
        self.file.append(line)
        self.lines.append(line)

    def tail(self) -> None:
        """The tailer's scan and read, between two runs: it sleeps through runs, the worst case for the check."""
        if self.tailer is not None:
            self.tailer.scan()
            self.shipped.extend(self.tailer.read())


@pytest.fixture
def agent_logs(tmp_path, datadog_agent, monkeypatch):
    datadog_agent._config['logs_config.run_path'] = str(tmp_path)
    datadog_agent._config['logs_config.integrations_logs_files_max_size'] = CAP_MB
    agent = AgentLogs(tmp_path)
    original = datadog_agent.send_log
    monkeypatch.setattr(
        datadog_agent, 'send_log', lambda line, check_id: (agent.send_log(line, check_id), original(line, check_id))
    )
    return agent


def crawl(crawler, agent: AgentLogs, runs: int) -> None:
    for _run in range(runs):
        crawler.run()  # then 15 s pass
        agent.tail()


def test_a_backlog_goes_through_the_agents_file_without_a_line_lost(sandbox, instance, crawler, agent_logs, aggregator):
    logs = feed(sandbox, seed='backlog', start=START - HOUR, end=START - 2 * 60, count=6000, late_rate=0)
    crawler.start(instance)

    crawl(crawler, agent_logs, runs=40)

    assert agent_logs.file.truncations >= 2, 'the file filled up several times'
    assert agent_logs.shipped == agent_logs.lines, 'every line written was read, in order'
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))
    submitted = metric_total(aggregator, 'acme.logs.bytes_submitted')
    assert submitted == sum(len(line.encode()) + 1 for line in agent_logs.lines)
    assert submitted > 10 * CAP_MB * MB * SHARE_OF_CAP, 'the budget, not the backlog, set the pace'


def test_told_a_larger_cap_than_the_file_has_the_tailer_loses_lines(
    sandbox, instance, crawler, datadog_agent, agent_logs
):
    feed(sandbox, seed='backlog', start=START - HOUR, end=START - 2 * 60, count=6000, late_rate=0)
    # The check believes in a cap a hundred times larger than the file has: it hands over too much per run.
    datadog_agent._config['logs_config.integrations_logs_files_max_size'] = 100 * CAP_MB
    crawler.start(instance)

    crawl(crawler, agent_logs, runs=5)

    assert len(agent_logs.shipped) < len(agent_logs.lines) / 2, 'the emulated Agent does lose what overflows'


@pytest.mark.parametrize('interval', [0, -5])
def test_an_interval_that_is_not_positive_gets_the_budget_of_the_agents_15_s(sandbox, instance, crawler, interval):
    # The Agent runs such an instance every 15 s (its default); a budget scaled by the interval would be 0 bytes.
    logs = feed(sandbox, seed='interval', start=START - HOUR, end=START - 2 * 60, count=1000, late_rate=0)
    crawler.start({**instance, 'min_collection_interval': interval})

    crawler.run()

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))
    assert not crawler.check.get_warnings()
