# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""`./dev demo`: the real check against the sandbox through an emulated Agent, as a newcomer runs it: what it prints,
and its exit status. Each test runs the demo as a process, on simulated time (--fast), for a few runs."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-m', 'tests.demo', '--show', '0', *args],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return str(probe.getsockname()[1])


def sandbox_demo(run_path: Path, *args: str, port: str | None = None) -> str:
    """A --fast demo of the sandbox's `prod-web` (on a free port by default); its output, once it succeeded."""
    port = port or free_port()
    result = demo('--fast', '--streams', 'prod-web', '--sandbox-port', port, '--run-path', str(run_path), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    return result.stdout


def submitted(output: str, run: int) -> int:
    return int(
        re.search(rf'^run {run} at \S+: ([\d,]+) logs submitted', output, re.MULTILINE).group(1).replace(',', '')
    )


def summary(output: str) -> dict[str, int]:
    """The numbers of the demo's closing lines."""
    match = re.search(
        r'([\d,]+) logs submitted \(([\d,]+) distinct\)\.\nThe intake received ([\d,]+) logs \(([\d,]+) duplicates\); '
        r"([\d,]+) wait in the Agent's file; never delivered: ([\d,]+)\.",
        output,
    )
    assert match, output
    names = ('submitted', 'distinct', 'delivered', 'duplicates', 'waiting', 'never_delivered')
    return dict(zip(names, (int(value.replace(',', '')) for value in match.groups())))


@pytest.mark.integration
def test_a_rerun_resumes_from_the_cursors_in_the_run_path(tmp_path):
    # The same port: cursors belong to the `url`.
    port = free_port()
    first = sandbox_demo(tmp_path / 'run', '--runs', '1', port=port)
    second = sandbox_demo(tmp_path / 'run', '--runs', '1', port=port)

    # The first run reads the last hour of the sandbox's history; the rerun only what came after its cursor.
    assert submitted(first, 1) > 1000
    assert submitted(second, 1) < submitted(first, 1) / 10
    for output in (first, second):
        assert re.search(r'prod-web +submitted +\d+ +skipped +\d+ +cursor \S+Z .*lag \d+ s', output)
        assert re.search(r'intake: [\d,]+ logs received in the next 15 s', output)


@pytest.mark.integration
@pytest.mark.parametrize(
    'args, option',
    [
        pytest.param(['--fast', '--page-size', '-5'], 'page_size', id='page size'),
        pytest.param(['--url', '127.0.0.1:8080', '--token', 't'], 'url', id='url without a scheme'),
    ],
)
def test_bad_settings_show_the_checks_configuration_error(tmp_path, args, option):
    result = demo('--run-path', str(tmp_path / 'run'), '--sandbox-port', '0', *args)

    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert re.search(rf'the check did not start:\n  .*configuration.*\n  {option}\n', result.stderr), result.stderr


@pytest.mark.unit
def test_token_without_url_is_refused():
    result = demo('--token', 'my-token')

    assert result.returncode == 2
    assert '--token goes with --url' in result.stderr


@pytest.mark.integration
def test_the_exit_status_is_1_when_no_run_succeeded(tmp_path):
    url = f'http://127.0.0.1:{free_port()}'  # nothing listens there
    result = demo('--url', url, '--token', 't', '--runs', '1', '--interval', '1', '--run-path', str(tmp_path / 'run'))

    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r'^run 1 at \S+: 0 logs submitted in [\d.]+ s \(FAILED\)$', result.stdout, re.MULTILINE)
    assert '0 succeeded' in result.stdout


@pytest.mark.integration
def test_an_intake_outage_holds_the_logs_then_delivers_each_once(tmp_path):
    output = sandbox_demo(
        tmp_path / 'run', '--reset', '--runs', '8', '--agent-file-cap', '1', '--intake-down', '2:60', '--rate', '5'
    )

    runs = re.split(r'^run \d+ at ', output, flags=re.MULTILINE)[1:]
    held = [index + 1 for index, run in enumerate(runs) if 'held: the check holds logs back' in run]
    assert held and max(held) <= 6, held  # a first run fills the 1 MB file; then the outage; then all ships
    assert 'intake: up again' in output
    assert re.search(r'agent: [\d,]{7,} bytes of its file not shipped yet; held', output), 'about 1 MB unshipped'
    numbers = summary(output)
    assert numbers['delivered'] == numbers['submitted'] == numbers['distinct'] > 1000
    assert numbers['duplicates'] == numbers['waiting'] == numbers['never_delivered'] == 0
    # Each warning once: the check's log does not print them a second time.
    assert output.count('Stream `prod-web` starts without a cursor') == 1


@pytest.mark.integration
def test_a_wiped_run_path_resumes_where_the_logs_datadog_received_end(tmp_path):
    output = sandbox_demo(tmp_path / 'run', '--reset', '--runs', '11', '--wipe-run-path', '6', '--rate', '5')

    # The first check finds nothing in Datadog; the new pod's finds what the first one delivered, 60 s (4 runs) later.
    assert 'recovery: prod-web none' in output
    assert re.search(r'pod replaced: .*the file with [1-9][\d,]* lines not shipped.* \(run 11\)', output)
    assert re.search(r'^run 11 at .*\n(.*\n)*?  recovery: prod-web resumed', output, re.MULTILINE)
    numbers = summary(output)
    assert numbers['never_delivered'] == numbers['waiting'] == 0
    assert numbers['delivered'] == numbers['distinct'], 'what the old pod did not ship was crawled again, once'
    assert numbers['duplicates'] == 0
    assert re.search(r'Lines the Agent lost on the way, by cause: replacement [1-9]', output)
