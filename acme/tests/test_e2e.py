# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The check inside a real Agent container, against the sandbox ACME server (tests/environment.py).

Run with `./dev env-test` (= `ddev --here env test acme py3.11 --dev`); needs Docker. Pass a real API key to also
check that the logs reach Datadog: `./dev env-test -e DD_API_KEY=<key> -e DD_SITE=<site>`. Against an environment
started by `./dev env-start`, `./dev env-test` runs these tests and leaves it running.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import Any, Callable

import pytest

from datadog_checks.acme import AcmeCheck
from datadog_checks.dev import run_command
from datadog_checks.dev._env import E2E_PARENT_PYTHON, e2e_testing
from datadog_checks.dev.utils import get_metadata_metrics

from .agent_status import LogsStatus, logs_status, parse_status_output
from .environment import STREAMS, TAGS

pytestmark = pytest.mark.e2e

CHECK = 'acme'
# The check's defaults (spec.yaml): a first run starts this far back, and never reads the last minute.
INITIAL_LOOKBACK = 3600
INGESTION_DELAY = 60
# What ddev gives the Agent as DD_API_KEY when no key was passed (ddev/e2e/agent/docker.py, DockerAgent.start).
PLACEHOLDER_API_KEY = 'a' * 32
NO_REAL_KEY = (
    "no real API key given to this environment: ddev started the Agent with its placeholder DD_API_KEY (32 'a's), "
    'which the intake rejects. To check shipping: ./dev env-start -e DD_API_KEY=<key> -e DD_SITE=<site>, or '
    './dev env-test -e DD_API_KEY=<key> -e DD_SITE=<site>'
)


def values(aggregator, metric: str, tag: str) -> list[float]:
    return [m.value for m in aggregator.metrics(metric) if tag in m.tags]


def test_agent_crawls_the_sandbox(dd_agent_check):
    # No config passed: the Agent runs the one `ddev env start` wrote, with its `logs` section.
    aggregator = dd_agent_check(rate=False)

    aggregator.assert_service_check('acme.can_connect', AcmeCheck.OK)
    for service_check in aggregator.service_checks('acme.can_connect'):
        assert set(TAGS) <= set(service_check.tags)

    for stream in STREAMS:
        tag = f'acme_stream:{stream}'
        assert sum(values(aggregator, 'acme.logs.submitted', tag)) > 0, f'no log submitted for {stream}'
        lags = values(aggregator, 'acme.crawl.lag', tag)
        assert lags, f'no crawl lag for {stream}'
        # Never closer to now than the ingestion delay; a first run starts at most `initial_lookback` back.
        assert all(INGESTION_DELAY <= lag < INITIAL_LOOKBACK + 300 for lag in lags), lags

    for metric in ('acme.logs.submitted', 'acme.crawl.lag', 'acme.api.requests'):
        for instance_tag in TAGS:
            aggregator.assert_metric_has_tag(metric, instance_tag)
    aggregator.assert_metric_has_tag('acme.api.requests', 'status_class:2xx')
    aggregator.assert_metrics_using_metadata(get_metadata_metrics())


def test_agent_reads_the_integration_log_file():
    """The Agent's logs pipeline reads what the check submits: `logs:` and DD_LOGS_ENABLED are wired.

    dd_agent_check replays metrics and service checks only, so this asks the running Agent (which runs the check every
    15 s) for its logs status. The Agent writes a check's logs to a file of its own and reads them back through a `file`
    source; that source's Bytes Read must grow (tests/agent_status.py has the details and the Agent's sources).
    """
    if not e2e_testing():
        pytest.skip('Not running E2E tests')

    logs = wait_for_logs_status(
        lambda logs: any(source.bytes_read > 0 for source in logs.integration_log_files(CHECK)),
        f'the Agent read nothing from the integration log file of `{CHECK}`',
    )
    for log_file in logs.integration_log_files(CHECK):
        assert log_file.status == 'OK', log_file
        assert log_file.configuration.get('Source') == CHECK, log_file


def test_agent_ships_the_logs():
    """The intake accepts the logs: the logs Agent's LogsSent grows. Only with a real API key."""
    if not e2e_testing():
        pytest.skip('Not running E2E tests')
    if agent_env().get('DD_API_KEY', PLACEHOLDER_API_KEY) == PLACEHOLDER_API_KEY:
        pytest.skip(NO_REAL_KEY)

    wait_for_logs_status(
        lambda logs: logs.logs_sent > 0,
        'the Agent sent no log (LogsSent is 0): is the API key valid for DD_SITE? `./dev ddev env agent acme py3.11 '
        'status` shows the endpoint and the API key status',
    )


def wait_for_logs_status(done: Callable[[LogsStatus], bool], failure: str, timeout: float = 180) -> LogsStatus:
    """The Agent's logs status once `done` holds; fails with the last status seen after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        logs = logs_status(agent_status())
        if logs.is_running and done(logs):
            return logs
        if time.monotonic() > deadline:
            shown = {'is_running': logs.is_running, 'metrics': logs.metrics, 'errors': logs.errors}
            shown['sources'] = [asdict(source) for source in logs.integration_sources(CHECK)]
            pytest.fail(f'{failure}; the logs status after {timeout:.0f} s:\n{json.dumps(shown, indent=2)}')
        time.sleep(10)


def agent_status() -> dict[str, Any]:
    # Same entry point as dd_agent_check: ddev, run by the Python that started this E2E session.
    command = [os.environ[E2E_PARENT_PYTHON], '-m', 'ddev', 'env', 'agent', CHECK, os.environ['HATCH_ENV_ACTIVE']]
    output = run_command([*command, 'status', '--json'], capture=True, check=True).stdout
    return parse_status_output(output)


def agent_env() -> dict[str, str]:
    """The Agent container's environment, as Docker keeps it; the Agent shows no more than a key's last characters.

    ddev names the container `dd_<check>_<env>` (ddev/e2e/agent/docker.py, `_container_name`).
    """
    container = f'dd_{CHECK}_{os.environ["HATCH_ENV_ACTIVE"]}'
    output = run_command(['docker', 'inspect', container], capture=True, check=True).stdout
    (inspected,) = json.loads(output)
    return dict(variable.split('=', 1) for variable in inspected['Config']['Env'])
