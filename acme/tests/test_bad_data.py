# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Logs that break ACME's contract are skipped, counted and named; the crawl goes on past them."""

import json

import pytest

from .conftest import crawl_around, deeply_nested

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures('either_rule')]


def log_text(**fields) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    'raw, problem',
    [
        pytest.param(log_text(timestamp='2026-11-26T11:50:01Z', message='no id'), "KeyError: 'id'", id='missing id'),
        pytest.param(log_text(id='', timestamp='2026-11-26T11:50:01Z', message='m'), 'non-empty', id='empty id'),
        pytest.param(log_text(id=7, timestamp='2026-11-26T11:50:01Z', message='m'), 'non-empty', id='numeric id'),
        pytest.param(log_text(id=['m1'], timestamp='2026-11-26T11:50:01Z', message='m'), 'non-empty', id='list id'),
        pytest.param(log_text(id='m1', timestamp='yesterday', message='m'), 'not an RFC 3339', id='bad timestamp'),
        pytest.param(log_text(id='m1', timestamp=1795693801, message='m'), 'not an RFC 3339', id='epoch timestamp'),
        pytest.param(log_text(id='m1', timestamp={'at': 1}, message='m'), 'not an RFC 3339', id='object timestamp'),
        pytest.param(log_text(id='m1', message='m'), "KeyError: 'timestamp'", id='missing timestamp'),
        pytest.param(log_text(id='m1', timestamp='2026-11-26T11:50:01Z'), "KeyError: 'message'", id='missing message'),
        pytest.param(
            log_text(id='m1', timestamp='2026-11-26T11:50:01Z', message=['a']),
            '`message` must be a string',
            id='list message',
        ),
        pytest.param(b'"just a string"', 'TypeError', id='a string'),
        pytest.param(b'[1, 2, 3]', 'TypeError', id='a list'),
        pytest.param(b'1e400', 'TypeError', id='a huge number'),
        pytest.param(
            ('{"id":"m1","timestamp":' + deeply_nested(1100) + ',"message":"m"}').encode(), '', id='deep timestamp'
        ),
    ],
)
def test_a_malformed_log_is_skipped_counted_and_named(sandbox, instance, crawler, aggregator, raw, problem):
    assert crawl_around(sandbox, instance, crawler, raw) == []

    skipped = [m.value for m in aggregator.metrics('acme.logs.skipped') if 'reason:malformed' in m.tags]
    assert sum(skipped) == 1, 'skipped once: the cursor passed it, and it was never sent'
    for warning in crawler.warnings():
        assert warning.startswith('Skipped 1 malformed logs in stream `audit` (ids: ')
        assert problem in warning
