# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""tests/agent_status.py, the parser test_e2e.py reads the Agent's logs status with.

fixtures/agent_status.json is the `logsStats` section of `agent status --json` for an Agent running this check's E2E
config and an nginx file source, written field by field from DataDog/datadog-agent's own definitions, since no Agent
runs here: the `Status`, `Integration` and `Source` types of pkg/logs/status/status.go (metrics as strings, as current
Agents render them), the `configuration` keys of pkg/logs/status/builder.go (toDictionary), the "Bytes Read" info of
pkg/logs/sources/source.go, and the `integration` + `file` source pair that pkg/logs/launchers/integration/launcher.go
makes for a check's `logs:` entry, with the file named after the check id (integrationLogFilePath).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .agent_status import LogSource, logs_status, parse_status_output

FIXTURE = Path(__file__).parent / 'fixtures' / 'agent_status.json'
LOG_FILE = '/opt/datadog-agent/run/integrations/acme_5f1c8b2a7e9d4c36.log'

pytestmark = pytest.mark.unit


def sample() -> dict:
    return json.loads(FIXTURE.read_text())


def test_reading_is_on_the_file_source_of_the_integration_log_file():
    logs = logs_status(sample())

    (log_file,) = logs.integration_log_files('acme')
    assert log_file.type == 'file'
    assert log_file.path == LOG_FILE
    assert log_file.status == 'OK'
    assert log_file.inputs == [LOG_FILE]
    assert log_file.configuration == {'Path': LOG_FILE, 'Service': 'acme-sandbox', 'Source': 'acme'}
    assert log_file.bytes_read == 1893117


def test_the_integration_source_of_the_logs_entry_reads_nothing():
    # The old E2E test looked here, and at a `bytes_read` key no current Agent writes.
    (integration,) = [source for source in logs_status(sample()).integration_sources('acme') if source.type != 'file']

    assert integration.type == 'integration'
    assert integration.bytes_read == 0
    assert not integration.is_integration_log_file('acme')


def test_other_sources_are_not_the_integration_log_file():
    logs = logs_status(sample())
    (nginx,) = logs.integration_sources('nginx')
    own_file = LogSource('acme', 'file', 'OK', {'Path': '/var/log/acme/audit.log', 'Source': 'acme'})
    other_check = LogSource('acme', 'file', 'OK', {'Path': '/opt/datadog-agent/run/integrations/acmex_9a1b.log'})

    assert logs.integration_log_files('nginx') == []
    assert not nginx.is_integration_log_file('acme')
    assert not own_file.is_integration_log_file('acme')
    assert not other_check.is_integration_log_file('acme')


def test_an_instance_with_a_name_has_it_in_the_file_name():
    # Check id `acme:prod:<hash>` (pkg/collector/check/id/id.go), file `acme_prod_<hash>.log`.
    named = LogSource('acme', 'file', 'OK', {'Path': '/opt/datadog-agent/run/integrations/acme_prod_1f2e3d4c.log'})

    assert named.is_integration_log_file('acme')


def test_logs_sent_is_read_as_a_string_or_a_number():
    status = sample()
    assert logs_status(status).logs_sent == 4331

    # Older Agents render the metrics as numbers (map[string]int64).
    status['logsStats']['metrics'] = {'LogsProcessed': 12, 'LogsSent': 7}
    assert logs_status(status).logs_sent == 7

    # Nothing accepted yet, e.g. with ddev's placeholder API key.
    status['logsStats']['metrics'] = {'LogsProcessed': '4331', 'LogsSent': '0'}
    assert logs_status(status).logs_sent == 0


def test_a_source_not_yet_read_has_read_zero_bytes():
    pending = LogSource('acme', 'file', 'Pending', {'Path': LOG_FILE}, info={})

    assert pending.bytes_read == 0
    assert pending.is_integration_log_file('acme')


def test_a_stopped_logs_agent():
    # What pkg/logs/status/status.go's Get returns before the logs Agent starts: only `is_running: false`.
    logs = logs_status({'logsStats': {'is_running': False, 'integrations': None, 'metrics': None}})

    assert not logs.is_running
    assert logs.sources == []
    assert logs.logs_sent == 0


def test_the_json_is_found_after_log_lines_holding_braces():
    # The Agent can log to stdout before it prints the status, e.g. this debug line from its config setup.
    log_line = (
        "2026-10-06 18:29:07 UTC | CORE | DEBUG | (pkg/config/setup/config.go:233) | Set('proxy.no_proxy'): "
        'converting value from []interface {} to []string to match default type'
    )
    output = f'{log_line}\n{FIXTURE.read_text()}\n'

    assert parse_status_output(output) == sample()


def test_no_status_is_an_error_that_shows_the_output():
    with pytest.raises(ValueError, match='Error: unable to reach the Agent'):
        parse_status_output('Error: unable to reach the Agent: connection refused\n')
    with pytest.raises(ValueError, match='no `logsStats`'):
        logs_status({'runnerStats': {}})
