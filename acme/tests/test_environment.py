# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The E2E environment, as far as it can be checked without Docker.

What stays unchecked here: that Docker pulls and starts the compose service, and that the Agent container reaches
its published port (tests/test_e2e.py covers those, with Docker).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from datadog_checks.acme import AcmeCheck
from datadog_checks.acme.log_format import SOURCE

from .conftest import stream_of
from .environment import (
    AGENT_ENV_VARS,
    COMPOSE_FILE,
    READY_LINE,
    STREAMS,
    TAGS,
    TOKEN,
    e2e_config,
    e2e_metadata,
)

TESTS_DIR = Path(__file__).parent
CHECK_ROOT = TESTS_DIR.parent


def sandbox_service() -> dict:
    services = yaml.safe_load(COMPOSE_FILE.read_text())['services']
    assert list(services) == ['acme-sandbox']
    return services['acme-sandbox']


def options(command: list[str]) -> dict[str, str]:
    """`--name value` pairs of the sandbox command line (it has no bare flags)."""
    args = command[3:]
    assert len(args) % 2 == 0, args
    return {args[i]: args[i + 1] for i in range(0, len(args), 2)}


@pytest.mark.unit
def test_compose_runs_the_sandbox_module_from_the_mounted_tests_folder():
    service = sandbox_service()

    assert service['command'][:3] == ['python', '-m', 'tests.sandbox']
    # tests/ is mounted as <working_dir>/tests, so `-m tests.sandbox` resolves as it does from acme/.
    source, target, mode = service['volumes'][0].split(':')
    assert (COMPOSE_FILE.parent / source).resolve() == TESTS_DIR.resolve()
    assert target == f"{service['working_dir']}/tests"
    assert mode == 'ro'


@pytest.mark.unit
def test_compose_serves_what_the_e2e_config_expects():
    service = sandbox_service()
    opts = options(service['command'])

    assert opts['--host'] == '0.0.0.0', 'the published port only reaches a server listening on all interfaces'
    assert opts['--token'] == TOKEN
    assert opts['--streams'].split(',') == STREAMS
    published, container_port = service['ports'][0].rsplit(':', 1)
    assert container_port == opts['--port']
    assert 'ACME_SANDBOX_PORT' in published, 'sandbox_environment() picks the host port through this variable'


@pytest.mark.unit
def test_e2e_config_passes_the_config_model():
    config = e2e_config('http://localhost:8080')

    check = AcmeCheck('acme', config['init_config'], config['instances'])
    check.load_configuration_models()

    assert check.config.url == 'http://localhost:8080'
    assert check.config.api_token == TOKEN
    assert list(check.config.streams) == STREAMS
    assert list(check.config.tags) == TAGS


@pytest.mark.unit
def test_e2e_config_has_the_logs_section_and_the_agent_collects_logs():
    config = e2e_config('http://localhost:8080')

    # Without it, the Agent has no source for the check's logs and drops them while the cursors move on.
    assert config['logs'] == [{'type': 'integration', 'source': SOURCE, 'service': 'acme-sandbox'}]
    assert e2e_metadata() == {'env_vars': {'DD_LOGS_ENABLED': 'true'}}
    assert AGENT_ENV_VARS == {'DD_LOGS_ENABLED': 'true'}


@pytest.fixture
def sandbox_process():
    """The compose file's sandbox command, run on this machine with a free port and a shorter history.

    It checks that the command line is one the sandbox accepts, that its ready line is the one
    sandbox_environment() waits for, and that the token and streams serve the E2E config.
    """
    opts = options(sandbox_service()['command'])
    # 15 minutes of history instead of 20 hours: the same code path, started in well under a second.
    opts.update({'--host': '127.0.0.1', '--port': '0', '--backfill': '900'})
    command = [sys.executable, '-m', 'tests.sandbox', *(part for pair in opts.items() for part in pair)]
    env = {**os.environ, 'PYTHONDONTWRITEBYTECODE': '1', 'PYTHONUNBUFFERED': '1'}
    process = subprocess.Popen(command, cwd=CHECK_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        yield wait_until_ready(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(process: subprocess.Popen, timeout: float = 60.0) -> str:
    # A thread reads, so that a sandbox that never prints fails the test instead of hanging it.
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f'the sandbox printed nothing within {timeout} s')
    match = READY_LINE.search(line)
    assert match, f'not the ready line sandbox_environment() waits for: {line!r}'
    return match.group(0).rsplit(' ', 1)[1]


@pytest.mark.integration
def test_the_e2e_config_crawls_the_sandbox_command(sandbox_process, dd_run_check, sent_logs, aggregator):
    config = e2e_config(sandbox_process)
    check = AcmeCheck('acme', config['init_config'], config['instances'])
    check.check_id = 'acme:e2e-config'

    dd_run_check(check)

    logs = sent_logs[check.check_id]
    assert logs, 'no log submitted'
    assert {stream_of(log) for log in logs} == set(STREAMS)
    assert all(log['ddsource'] == SOURCE for log in logs)
    aggregator.assert_service_check('acme.can_connect', AcmeCheck.OK, tags=TAGS)
    for stream in STREAMS:
        submitted = sum(m.value for m in aggregator.metrics('acme.logs.submitted') if f'acme_stream:{stream}' in m.tags)
        assert submitted == sum(stream_of(log) == stream for log in logs)
