# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Logs that break ACME's contract are skipped, counted and reported; the crawl goes on past them."""

import pytest

GOOD = [
    {'id': 'a1', 'timestamp': '2026-11-26T11:50:00Z', 'message': 'before'},
    {'id': 'z9', 'timestamp': '2026-11-26T11:50:02Z', 'message': 'after'},
]


@pytest.mark.parametrize(
    'body, problem',
    [
        pytest.param({'timestamp': '2026-11-26T11:50:01Z', 'message': 'no id'}, "KeyError: 'id'", id='missing id'),
        pytest.param({'id': '', 'timestamp': '2026-11-26T11:50:01Z', 'message': 'm'}, 'non-empty', id='empty id'),
        pytest.param({'id': 7, 'timestamp': '2026-11-26T11:50:01Z', 'message': 'm'}, 'non-empty', id='numeric id'),
        pytest.param({'id': 'm1', 'timestamp': 'yesterday', 'message': 'm'}, 'not an RFC 3339', id='bad timestamp'),
        pytest.param({'id': 'm1', 'timestamp': 1795693801, 'message': 'm'}, 'not an RFC 3339', id='epoch timestamp'),
        pytest.param({'id': 'm1', 'message': 'm'}, "KeyError: 'timestamp'", id='missing timestamp'),
        pytest.param({'id': 'm1', 'timestamp': '2026-11-26T11:50:01Z'}, "KeyError: 'message'", id='missing message'),
        pytest.param('just a string', 'TypeError', id='not an object'),
    ],
)
def test_malformed_log_is_skipped_counted_and_reported(sandbox, instance, crawler, aggregator, body, problem):
    sandbox.add_logs('audit', GOOD)
    sandbox.add_broken_log('audit', at='2026-11-26T11:50:01Z', sort_id='m', body=body)
    crawler.start({**instance, 'page_size': 2})

    crawler.run(times=2)

    assert [log['message'] for log in crawler.sent()] == ['before', 'after']
    warnings = crawler.check.get_warnings()
    assert len(warnings) == 1 and warnings[0].startswith('Skipped 1 malformed logs in stream `audit` (ids: ')
    assert problem in warnings[0]
    aggregator.assert_metric('acme.logs.skipped', 1, tags=['acme_stream:audit', 'reason:malformed', 'team:logs'])


def test_oversized_message_is_truncated_to_what_the_intake_takes(sandbox, instance, crawler):
    message = 'é' * (1024 * 1024 // 2)  # 1 MiB of UTF-8, the most ACME sends
    sandbox.add_logs('audit', [{'id': 'big', 'timestamp': '2026-11-26T11:50:00Z', 'message': message}])
    crawler.start(instance)

    crawler.run()

    (log,) = crawler.sent()
    assert len(log['message'].encode()) <= 900_000
    assert message.startswith(log['message'])
    assert log['acme_crawler'] == {'truncated': True}
    assert crawler.cursor('audit')['timestamp'] == '2026-11-26T11:59:00.000000000Z'
