# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""`datadog-agent check acme` (and `ddev env agent ... check`) runs the check once, in a process without a logs
component: it reads and reports as usual, but never moves a cursor past logs nobody will ship."""

import pytest

from datadog_checks.acme import check as check_module
from datadog_checks.base import AgentCheck

from .conftest import HOUR, START, assert_exactly_once, expected_keys, feed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures('either_rule')]

ONE_SHOT_WARNING = (
    'This run is a one-shot `agent check`: the Agent does not ship logs it submits, so the stream cursors were left '
    'as they are; the running Agent collects these logs'
)


def process(monkeypatch, tmp_path, *args: str) -> None:
    """Run the check as if in a process started with `args` (its /proc/self/cmdline)."""
    cmdline = tmp_path / 'cmdline'
    cmdline.write_bytes(b''.join(arg.encode() + b'\0' for arg in args))
    monkeypatch.setattr(check_module, 'PROC_CMDLINE', str(cmdline), raising=False)


def cache_contents(datadog_agent, keys: set[str]) -> dict[str, str]:
    """The Agent's whole persistent cache: every key written in the test, with its value now."""
    return {key: datadog_agent.read_persistent_cache(key) for key in keys}


@pytest.fixture(params=['command line', 'DD_CMD_PORT'])
def one_shot(request, monkeypatch, tmp_path):
    """That command, told by the process's command line; or, where that is not the Agent's, by what it sets in the
    environment before Python starts."""

    def enter():
        if request.param == 'command line':
            process(monkeypatch, tmp_path, '/opt/datadog-agent/bin/agent/agent', 'check', 'acme')
        else:
            monkeypatch.setenv('DD_CMD_PORT', '0')

    def leave():
        monkeypatch.delenv('DD_CMD_PORT', raising=False)
        process(monkeypatch, tmp_path, '/opt/datadog-agent/bin/agent/agent', 'run', '-p', '/opt/datadog-agent/a.pid')

    return enter, leave


def test_agent_check_runs_write_no_cursor_and_the_agent_then_delivers_everything_once(
    sandbox, instance, crawler, clock, datadog_agent, sent_logs, cache_keys, aggregator, one_shot
):
    enter, leave = one_shot
    logs = feed(sandbox, seed='one-shot', start=START - 30 * 60, end=START + 10 * 60, count=1000)
    crawler.start(instance)  # the Agent's own instance, running before and after
    crawler.run(times=4)
    cache_before = cache_contents(datadog_agent, cache_keys)
    shipped = list(crawler.sent_keys())

    enter()
    for _attempt in range(2):  # ddev retries a failed check; operators run it twice out of habit
        one_shot_check = crawler.start(instance)
        crawler.run()
        assert one_shot_check.get_warnings()[-1] == ONE_SHOT_WARNING
        assert cache_contents(datadog_agent, cache_keys) == cache_before, 'no cursor, no pin, nothing written'
    assert len(crawler.sent_keys()) > len(shipped), 'it read and submitted as usual (the Agent drops those)'
    aggregator.assert_service_check('acme.can_connect', AgentCheck.OK)
    leave()

    crawler.check_ids.clear()
    sent_logs.clear()  # what the one-shot process submitted went nowhere
    crawler.start(instance)  # the Agent's next runs
    crawler.run(times=60)

    assert not [w for w in crawler.warnings() if 'one-shot' in w]
    until = clock.time() - 15 - 60
    assert_exactly_once(shipped + crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=until))


@pytest.mark.parametrize('args', [('agent', 'run'), ('datadog-agent', '-c', '/etc/datadog-agent', 'start')])
def test_a_running_agent_whose_command_port_is_0_writes_its_cursors(
    sandbox, instance, crawler, monkeypatch, tmp_path, args
):
    # `cmd_port: 0` is legal: the OS then picks the port (comp/api/api/apiimpl/listener.go); DD_CMD_PORT=0 says so.
    monkeypatch.setenv('DD_CMD_PORT', '0')
    process(monkeypatch, tmp_path, *args)
    feed(sandbox, seed='running', start=START - 30 * 60, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start(instance)

    crawler.run()

    assert len(crawler.sent()) == 200
    assert crawler.cursor('audit')['timestamp'] == '2026-11-26T11:59:00.000000000Z', 'its cursors were written'
    assert not [warning for warning in crawler.warnings() if 'one-shot' in warning]
