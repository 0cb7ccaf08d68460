# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The E2E wiring, dry: `./dev env-start`, `env-check`, `env-test` and `env-stop` against a stub `docker`.

`./dev env-dry-run` runs it, and `./dev test` does once, in the py3.11 env. It is not a test_*.py, so the suite does not
collect it: it drives ./dev, which runs ddev and its own py3.11 env, so running it once per test env would only repeat
the same ~1 minute. tests/stub_docker.py records each docker call and answers as Docker would, without running
anything.

What it proves without Docker: that ./dev checks for Docker first and refuses, saying why, when the stub plays one
without a daemon or without the Compose plugin; the commands ddev issues, what the Agent container is given
(environment, mounts, image, the check's config with its `logs:` entry and the sandbox's published port), that
`ddev env test` gets through to the E2E tests and their own ddev calls, and what those tests make of an Agent's
status. What it cannot: that the images run, that the Agent runs the check against the sandbox, and that the intake
accepts the logs (tests/test_e2e.py, with Docker).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest
import yaml

from .environment import COMPOSE_FILE, READY_LINE

# No Docker and no server: the stub answers for them.
pytestmark = pytest.mark.unit

TESTS = Path(__file__).parent
ROOT = TESTS.parent.parent
CHECK = 'acme'
CONTAINER = 'dd_acme_py3.11'
COMPOSE = ['compose', '-f', str(COMPOSE_FILE)]
# What ./dev asks docker before env-start, env-check and env-test: the Compose plugin, then the daemon.
PREFLIGHT = [['compose', 'version'], ['info', '--format', '{{.ServerVersion}}']]
# ddev's default Agent (its default config: agent "dev", agents.dev.docker), and the oldest the check supports.
DEFAULT_IMAGE = 'registry.datadoghq.com/agent-dev:master-py3'
OLDEST_IMAGE = 'registry.datadoghq.com/agent:7.57.2'
AGENT_CONF = '/etc/datadog-agent/conf.d/acme.d/acme.yaml'
PLACEHOLDER_API_KEY = 'a' * 32
# An API key's shape; the stub sends nothing anywhere.
API_KEY = '0123456789abcdef0123456789abcdef'
# The line `python -m tests.sandbox` prints once it serves (tests/test_environment.py checks it on the real sandbox).
SANDBOX_OUTPUT = 'ACME sandbox listening on http://0.0.0.0:8080'
NO_KEY_WARNING = 'WARNING: no Datadog API key'
# Variables of the test run that would change what ./dev and ddev do: hatch's env, pytest's, a Docker host, a key.
DROPPED_ENV = ('HATCH_', 'VIRTUAL_ENV', 'PYTEST_', 'PYTHONPATH', 'FORCE_COLOR', 'DDEV_', 'DD_', 'DOCKER_', 'COMPOSE_')


@dataclass
class DevRun:
    """One ./dev command: its exit code, its output (stdout and stderr), and the docker calls it made: ./dev's check
    for Docker (`preflight`, the argvs of PREFLIGHT when it ran) and the others, ddev's (`calls`)."""

    args: tuple[str, ...]
    rc: int
    output: str
    calls: list[dict[str, Any]]
    preflight: list[list[str]] = field(default_factory=list)

    def argvs(self) -> list[list[str]]:
        return [call['argv'] for call in self.calls]

    def only(self, *head: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call['argv'][: len(head)] == list(head)]

    def outcome(self, test: str) -> str:
        """PASSED, FAILED or SKIPPED, as pytest -v printed it for a test of tests/test_e2e.py."""
        match = re.search(rf'tests/test_e2e\.py::{test} (PASSED|FAILED|SKIPPED|ERROR)', self.output)
        assert match, f'{test} did not run:\n{self.output}'
        return match.group(1)


@dataclass
class DryRun:
    env: dict[str, str]
    state: Path
    runs: list[DevRun] = field(default_factory=list)

    def dev(self, *args: str, env: dict[str, str] | None = None) -> DevRun:
        done = len(self.calls())
        process = subprocess.run(
            [str(ROOT / 'dev'), *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        calls = self.calls()[done:]
        preflight = [call['argv'] for call in calls[: len(PREFLIGHT)]]
        if preflight != PREFLIGHT:
            preflight = []
        run = DevRun(args, process.returncode, process.stdout, calls[len(preflight) :], preflight)
        self.runs.append(run)
        return run

    def calls(self) -> list[dict[str, Any]]:
        calls = self.state / 'calls.jsonl'
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    def docker_state(self) -> dict[str, Any]:
        return json.loads((self.state / 'state.json').read_text())


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory) -> Iterator[DryRun]:
    base = tmp_path_factory.mktemp('e2e-dry-run')
    stub_bin, state, data = base / 'bin', base / 'docker-state', base / 'ddev-data'
    for folder in (stub_bin, state, data):
        folder.mkdir()
    docker = stub_bin / 'docker'
    docker.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{TESTS / "stub_docker.py"}" "$@"\n')
    docker.chmod(0o755)

    # ddev's own default config, as on a fresh machine: no API key, whatever this machine's ddev config holds.
    config = base / 'ddev-config.toml'
    default_config = (
        'import tomli_w; from ddev.config.model import RootConfig; config = RootConfig({}); config.parse_fields(); '
        'print(tomli_w.dumps(config.raw_data))'
    )
    ddev_python = ROOT / '.venv-ddev' / 'bin' / 'python'
    defaults = subprocess.run([ddev_python, '-c', default_config], capture_output=True, text=True, check=True)
    config.write_text(defaults.stdout)

    env = {name: value for name, value in os.environ.items() if not name.startswith(DROPPED_ENV)}
    # Without this test env's bin on PATH: ./dev and ddev pick their Pythons themselves.
    path = [entry for entry in os.environ['PATH'].split(os.pathsep) if not entry.startswith(sys.prefix)]
    env.update(
        PATH=os.pathsep.join([str(stub_bin), *path]),
        STUB_DOCKER_STATE=str(state),
        STUB_DOCKER_AGENT_STATUS=str(TESTS / 'fixtures' / 'agent_status.json'),
        STUB_DOCKER_COMPOSE_LOGS=SANDBOX_OUTPUT,
        DDEV_DATA_DIR=str(data),
        DDEV_CONFIG=str(config),
        NO_COLOR='1',
        PY_COLORS='0',
    )
    run = DryRun(env, state)
    yield run
    if os.environ.get('E2E_DRY_RUN_RECORD'):
        record(run, Path(os.environ['E2E_DRY_RUN_RECORD']))


def test_the_stub_answers_what_the_sandbox_prints():
    assert READY_LINE.search(SANDBOX_OUTPUT)


def test_env_start_gives_the_agent_its_logs_config_a_key_and_a_site(dry_run):
    start = dry_run.dev('env-start', '-e', f'DD_API_KEY={API_KEY}', '-e', 'DD_SITE=datadoghq.eu')

    assert start.rc == 0, start.output
    assert start.preflight == PREFLIGHT, './dev checks for Docker first'
    assert [argv[:2] for argv in start.argvs()] == [
        ['compose', '-f'],
        ['compose', '-f'],
        ['pull', DEFAULT_IMAGE],
        ['run', '-d'],
        ['exec', CONTAINER],
        ['restart', CONTAINER],
    ]
    up, logs = start.calls[:2]
    assert up['argv'] == [*COMPOSE, 'up', '-d', '--force-recreate', '--wait']
    assert logs['argv'] == [*COMPOSE, 'logs'], 'sandbox_environment() waits for the ready line in the logs'
    (install,) = start.only('exec')
    assert install['argv'][2:] == [
        *['/opt/datadog-agent/embedded/bin/python3', '-m', 'pip', 'install', '--disable-pip-version-check'],
        *['-e', '/home/acme[deps]'],
    ]

    (run,) = start.only('run')
    agent = docker_run(run['argv'])
    assert agent['name'] == CONTAINER
    assert agent['network'] == 'host'
    assert agent['image'] == DEFAULT_IMAGE
    assert f'{ROOT / CHECK}:/home/acme' in agent['volumes'], '--dev mounts this checkout for the pip install'
    assert agent['env']['DD_LOGS_ENABLED'] == 'true'
    assert agent['env']['DD_API_KEY'] == API_KEY
    assert agent['env']['DD_SITE'] == 'datadoghq.eu'
    # Else ddev's default config sends DD_DD_URL=https://app.datadoghq.com, where metrics would go.
    assert agent['env']['DD_DD_URL'] == 'https://app.datadoghq.eu'
    assert NO_KEY_WARNING not in start.output

    # ddev keeps the check disabled until the checkout is installed, then restarts the Agent with it.
    assert AGENT_CONF not in run['conf_d']
    assert run['conf_d'][AGENT_CONF + '.example'] == start.only('restart')[0]['conf_d'][AGENT_CONF]
    config = yaml.safe_load(start.only('restart')[0]['conf_d'][AGENT_CONF])
    assert config['logs'] == [{'type': 'integration', 'source': CHECK, 'service': 'acme-sandbox'}]

    # The instance reaches the sandbox: the Agent is on the host network, and the sandbox's port is published there.
    (instance,) = config['instances']
    url = urlparse(instance['url'])
    published = int(up['env']['ACME_SANDBOX_PORT'])
    assert (url.scheme, url.hostname, url.port) == ('http', 'localhost', published)
    service = yaml.safe_load(COMPOSE_FILE.read_text())['services']['acme-sandbox']
    assert service['ports'] == ['${ACME_SANDBOX_PORT:-8080}:8080']
    assert service['command'][service['command'].index('--port') + 1] == '8080'


def test_env_check_runs_the_check_in_the_agent_container(dry_run):
    check = dry_run.dev('env-check')

    assert check.rc == 0, check.output
    assert check.preflight == PREFLIGHT
    assert check.argvs() == [['exec', CONTAINER, 'agent', 'check', CHECK]]


def test_env_test_runs_the_e2e_tests_against_the_running_env(dry_run):
    test = dry_run.dev('env-test')

    assert test.preflight == PREFLIGHT
    assert 'KeyError' not in test.output
    assert 'already running' in test.output
    # The stub runs no check: the test that replays a check run fails, on the stub's answer.
    assert test.rc == 1, test.output
    assert test.outcome('test_agent_crawls_the_sandbox') == 'FAILED'
    assert 'Exception: Message: stub docker: no Agent ran the check' in test.output
    # The stub's status is tests/fixtures/agent_status.json: bytes read on the integration log file, logs sent.
    assert test.outcome('test_agent_reads_the_integration_log_file') == 'PASSED'
    assert test.outcome('test_agent_ships_the_logs') == 'PASSED'
    # The tests' own calls, through `python -m ddev env agent` (DDEV_REPO=local, .ddev.toml) and docker.
    assert [CONTAINER, 'agent', 'check', CHECK, '--json'] in [argv[1:] for argv in test.argvs()]
    assert [CONTAINER, 'agent', 'status', '--json'] in [argv[1:] for argv in test.argvs()]
    assert ['inspect', CONTAINER] in test.argvs()
    # An env that was running stays so.
    assert {argv[0] for argv in test.argvs()} == {'exec', 'inspect'}


def test_env_stop_removes_the_agent_and_the_sandbox(dry_run):
    stop = dry_run.dev('env-stop')

    assert stop.rc == 0, stop.output
    assert stop.preflight == [], 'env-stop always gets to try'
    assert stop.argvs() == [
        ['stop', '-t', '0', CONTAINER],
        ['rm', CONTAINER],
        [*COMPOSE, 'down', '--volumes', '--remove-orphans', '-t', '0'],
    ]
    assert dry_run.docker_state() == {'containers': {}, 'compose': {}}


def test_env_test_alone_on_the_oldest_agent_without_a_key(dry_run):
    # `-- -rs`: pytest args after `--` reach pytest; -rs prints the skip reasons.
    test = dry_run.dev('env-test', '--oldest-agent', '--', '-rs')

    assert test.preflight == PREFLIGHT
    assert NO_KEY_WARNING in test.output
    assert 'KeyError' not in test.output
    assert test.rc == 1, test.output
    assert test.outcome('test_agent_crawls_the_sandbox') == 'FAILED'
    assert test.outcome('test_agent_reads_the_integration_log_file') == 'PASSED'
    assert test.outcome('test_agent_ships_the_logs') == 'SKIPPED'
    assert re.search(r'SKIPPED \[1\] tests/test_e2e\.py:\d+: no real API key given to this environment', test.output)

    assert [argv[0] for argv in test.argvs()] == [
        *['compose', 'compose', 'pull', 'run', 'exec', 'restart'],
        *['exec', 'exec', 'inspect'],
        *['stop', 'rm', 'compose'],
    ]
    (run,) = test.only('run')
    agent = docker_run(run['argv'])
    assert test.only('pull')[0]['argv'] == ['pull', OLDEST_IMAGE]
    assert agent['image'] == OLDEST_IMAGE
    assert agent['env']['DD_API_KEY'] == PLACEHOLDER_API_KEY
    assert agent['env']['DD_LOGS_ENABLED'] == 'true'
    assert dry_run.docker_state() == {'containers': {}, 'compose': {}}


@pytest.mark.parametrize(
    'missing, says',
    [
        pytest.param('daemon', '- a running Docker daemon: `docker info` says: Cannot connect', id='no daemon'),
        pytest.param('compose', '- the Compose plugin: `docker compose version` fails', id='no compose plugin'),
    ],
)
@pytest.mark.parametrize('command', ['env-start', 'env-test'])
def test_without_docker_the_env_commands_say_what_is_missing_before_calling_ddev(dry_run, command, missing, says):
    refused = dry_run.dev(command, env={'STUB_DOCKER_WITHOUT': missing})

    assert refused.rc == 1, refused.output
    assert f'dev: error: ./dev {command} needs Docker, and this machine lacks:' in refused.output
    assert says in refused.output
    assert f'Then run ./dev {command} again.' in refused.output
    assert refused.preflight == PREFLIGHT and refused.calls == [], 'ddev was not called'
    assert 'Traceback' not in refused.output and "unknown shorthand flag: 'f'" not in refused.output


def docker_run(argv: list[str]) -> dict[str, Any]:
    """The name, network, mounts, environment and image of a `docker run` command line."""
    agent: dict[str, Any] = {'volumes': [], 'env': {}}
    i = argv.index('run') + 1
    while argv[i].startswith('-'):
        option = argv[i]
        if option == '-d':
            i += 1
            continue
        value = argv[i + 1]
        if option == '--name':
            agent['name'] = value
        elif option == '--network':
            agent['network'] = value
        elif option == '-v':
            agent['volumes'].append(value)
        elif option == '-e':
            key, _, env_value = value.partition('=')
            agent['env'][key] = env_value
        i += 2
    agent['image'] = argv[i]
    return agent


def record(dry_run: DryRun, path: Path) -> None:
    """The docker calls of each ./dev command, as the stub captured them (for the closing note of issue 16)."""
    lines = []
    for run in dry_run.runs:
        lines.append(f'./dev {" ".join(run.args)}  (exit code {run.rc})')
        for call in run.calls:
            env = ''.join(f'{name}={value} ' for name, value in call['env'].items())
            lines.append(f'  {env}docker {" ".join(call["argv"])}')
        lines.append('')
    path.write_text('\n'.join(lines))
