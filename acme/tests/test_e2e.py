# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The check inside a real Agent container, against the sandbox ACME server (tests/environment.py).

Run with `ddev env test acme py3.11` (or `./dev env-start`, then `ddev --here env test acme py3.11`); needs Docker.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import pytest

from datadog_checks.acme import AcmeCheck
from datadog_checks.dev import run_command
from datadog_checks.dev._env import E2E_PARENT_PYTHON, e2e_testing
from datadog_checks.dev.utils import get_metadata_metrics

from .environment import STREAMS, TAGS

pytestmark = pytest.mark.e2e

# The check's defaults (spec.yaml): a first run starts this far back, and never reads the last minute.
INITIAL_LOOKBACK = 3600
INGESTION_DELAY = 60


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
    aggregator.assert_metric('acme.api.request.duration')
    aggregator.assert_metrics_using_metadata(get_metadata_metrics())


def test_agent_ships_the_logs():
    """The Agent's logs pipeline reads what the check submits: `logs:` and DD_LOGS_ENABLED are wired.

    dd_agent_check replays metrics and service checks only, so this asks the running Agent (which also runs the
    check every 15 s) for its logs status. The shape assumed, `logsStats.integrations[].sources[]` with the bytes
    read in `bytes_read` or an `info` line "Bytes Read: N", is the Agent 7 status JSON; on a mismatch the
    assertion message shows what the Agent returned.
    """
    if not e2e_testing():
        pytest.skip('Not running E2E tests')

    deadline = time.monotonic() + 180
    while True:
        status = agent_status()
        running, sources = acme_log_sources(status)
        if running and any(bytes_read(source) > 0 for source in sources):
            return
        if time.monotonic() > deadline:
            logs_status = json.dumps(status.get('logsStats'), indent=2)
            pytest.fail(f'the Agent read no log from the `acme` source; its logs status:\n{logs_status}')
        time.sleep(10)


def agent_status() -> dict[str, Any]:
    # Same entry point as dd_agent_check: ddev, run by the Python that started this E2E session.
    command = [os.environ[E2E_PARENT_PYTHON], '-m', 'ddev', 'env', 'agent', 'acme', os.environ['HATCH_ENV_ACTIVE']]
    output = run_command([*command, 'status', '--json'], capture=True, check=True).stdout
    status, _ = json.JSONDecoder().raw_decode(output[output.index('{') :])
    return status


def acme_log_sources(status: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    logs = status.get('logsStats') or {}
    integrations = [integration for integration in logs.get('integrations') or [] if integration.get('name') == 'acme']
    return bool(logs.get('is_running')), [source for integration in integrations for source in integration['sources']]


def bytes_read(source: dict[str, Any]) -> int:
    if isinstance(source.get('bytes_read'), int):
        return source['bytes_read']
    match = re.search(r'Bytes Read: (\d+)', json.dumps(source.get('info') or {}))
    return int(match.group(1)) if match else 0
