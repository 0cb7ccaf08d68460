# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The log pipeline's test samples are exactly the lines the base package's `send_log` writes for the check's logs."""

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from datadog_checks.acme.log_format import log_shaper, to_send_log_timestamp
from datadog_checks.acme.timing import parse_rfc3339

from .conftest import TOKEN

pytestmark = pytest.mark.unit

SAMPLES = yaml.safe_load((Path(__file__).parent.parent / 'assets' / 'logs' / 'acme_tests.yaml').read_text())['tests']


@pytest.mark.parametrize('sample', [test['sample'] for test in SAMPLES], ids=lambda sample: sample[:40])
def test_each_sample_is_the_line_send_log_writes_for_its_acme_log(sample, make_check, datadog_agent, monkeypatch):
    sent = json.loads(sample)
    acme_log = {**sent['acme'], 'message': sent['message']}
    data = log_shaper(sent['ddtags'], None)(acme_log, parse_rfc3339(acme_log['timestamp']))
    data['timestamp'] = to_send_log_timestamp(data['timestamp'])
    lines = []
    monkeypatch.setattr(datadog_agent, 'send_log', lambda line, check_id: lines.append(line))

    make_check({'url': 'https://api.acme.example', 'api_token': TOKEN}).send_log(data)

    assert lines == [sample]


@given(st.integers(min_value=0, max_value=253402300799999))  # to 9999-12-31T23:59:59.999Z
def test_the_timestamp_handed_to_send_log_comes_out_as_its_millisecond(millis):
    # The base package's `send_log` writes `int(timestamp * 1000)` for a timestamp in seconds.
    assert int(to_send_log_timestamp(millis) * 1000) == millis
