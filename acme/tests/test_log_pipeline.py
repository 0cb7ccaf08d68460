# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The log pipeline's test samples are exactly the lines the check hands to the Agent."""

import json
from pathlib import Path

import pytest
import yaml

from datadog_checks.acme.log_format import encode_log, log_shaper
from datadog_checks.acme.timestamps import parse_rfc3339

SAMPLES = yaml.safe_load((Path(__file__).parent.parent / 'assets' / 'logs' / 'acme_tests.yaml').read_text())['tests']


@pytest.mark.parametrize('sample', [test['sample'] for test in SAMPLES], ids=lambda sample: sample[:40])
def test_each_sample_is_the_line_the_check_writes_for_its_acme_log(sample):
    sent = json.loads(sample)
    acme_log = {**sent['acme'], 'message': sent['message']}

    line = encode_log(log_shaper(sent['ddtags'], None)(acme_log, parse_rfc3339(acme_log['timestamp'])))

    assert line.decode() == sample
