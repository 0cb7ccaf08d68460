# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The ten defects a review of 2c5831c confirmed, each reproduced as it was measured there; each test failed on that
commit. (Defect 3, a running Agent with `cmd_port: 0`, is in test_agent_check.py.)"""

import json
import logging
import re
from urllib.parse import quote

import pytest
import requests

from datadog_checks.acme import log_format

from .conftest import HOUR, START, assert_exactly_once, expected_keys, feed
from .sandbox import generate_logs

pytestmark = pytest.mark.integration
TIE = '2026-11-26T11:30:00.5Z'


def test_1_a_429_while_rereading_a_tie_after_a_restart_keeps_to_max_run_time(sandbox, instance, crawler, clock):
    # The cursor inside a tie group, and no page token (the Agent restarted): the next run re-reads the tie. On
    # 2c5831c that re-read paused `max_run_time`, so a 429 with Retry-After: 3600 held one run for 3,620 s.
    sandbox.add_logs('audit', [{'id': f'{i:04d}', 'timestamp': TIE, 'message': 'tie'} for i in range(300)])
    settings = {**instance, 'streams': ['audit'], 'page_size': 5, 'max_run_time': 2}
    crawler.start(settings)
    crawler.run()
    assert 0 < len(crawler.sent()) < 300, 'the run stopped inside the tie'
    crawler.start(settings)
    sandbox.fail_stream('audit', status=429, retry_after=3600)

    started = clock.time()
    crawler.run()

    assert clock.time() - crawler.interval - started <= 2 + 1, 'the run kept to its `max_run_time`'


def test_2_a_stream_whose_backoff_ended_gets_its_turn_despite_a_backlog_elsewhere(sandbox, instance, crawler, clock):
    # `audit` answers one 500 and heals, while `prod-web` has more backlog than a run hands over: on 2c5831c a stream
    # with failures went last until a successful visit, which never came (240 runs without a request to `audit`).
    backlog = generate_logs(seed='backlog', start=START - HOUR, end=START - 2 * 60, count=20000, late_rate=0)
    sandbox.add_logs('prod-web', backlog)
    audit = generate_logs(seed='audit', start=START - HOUR, end=START - 2 * 60, count=50, late_rate=0)
    sandbox.add_logs('audit', audit)
    sandbox.fail_stream('audit', status=500)
    crawler.start({**instance, 'page_size': 100, 'max_run_time': 2})
    crawler.run()
    sandbox.heal_stream('audit')

    crawler.run(times=4)

    assert [key for key in crawler.sent_keys() if key[0] == 'audit'] == expected_keys(
        {'audit': audit}, since=0, until=START
    )
    assert len([key for key in crawler.sent_keys() if key[0] == 'prod-web']) < len(backlog), 'still in its backlog'


def test_4_a_stream_failing_for_days_backs_off_at_most_5_minutes(sandbox, instance, crawler, aggregator):
    # About 85 hours of failures: `15 * 2 ** failures` overflowed at failure 1,025, and every run raised from then on.
    sandbox.fail_stream('audit', status=500)
    crawler.start(instance)
    crawler.run()
    crawler.check.directory.streams['audit'].failures = 1030  # the visits of 85 hours, without running them
    before = len([r for r in sandbox.stats.records if r.stream == 'audit'])

    crawler.run(times=30)  # 7.5 minutes

    requests_to_audit = len([r for r in sandbox.stats.records if r.stream == 'audit']) - before
    assert 1 <= requests_to_audit <= 2, 'retried every 5 minutes'
    assert aggregator.service_checks('acme.can_connect')[-1].message.startswith('1 of 2 streams failing')


def test_5_the_listings_retry_after_is_capped_as_a_streams(sandbox, instance, crawler, clock):
    # A 503 on the listing with Retry-After: 7200 held the listing that long: a stream created meanwhile was found
    # 6,589 s late, and 862 of its 2,000 logs were past the 18 hour line by then.
    crawler.start({key: value for key, value in instance.items() if key != 'streams'})
    crawler.run()
    clock.advance(5 * 60)
    sandbox.fail_listing(status=503, retry_after=7200)
    crawler.run()
    sandbox.heal_stream('')
    sandbox.add_stream('billing')
    sandbox.add_logs('billing', [{'id': 'b', 'timestamp': '2026-11-26T12:01:00Z', 'message': 'new'}])

    crawler.run(times=30)  # 7.5 minutes

    assert [log['message'] for log in crawler.sent()] == ['new'], 'found within the 5 minutes a 503 may hold it'


def test_6_a_created_at_outside_years_1_to_9999_fails_no_run(sandbox, instance, crawler):
    # Formatting that instant for a warning raised: 40 of 40 runs failed, and no stream was crawled.
    logs = feed(sandbox, seed='year0', start=START - 30 * 60, end=START + 5 * 60, count=200)
    crawler.start(instance)
    crawler.run(times=2)
    sandbox.set_listed_created_at('audit', '0001-01-01T00:00:00+01:00')  # 0000-12-31T23:00:00Z

    crawler.run(times=40)

    assert not [warning for warning in crawler.warnings() if 'failed' in warning]
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START + 5 * 60))


def test_7_a_log_of_20000_small_fields_is_cut_in_linear_time_and_sent(sandbox, instance, crawler, monkeypatch):
    # `fit_line` re-encoded the log after every cut: 22.3 s of CPU for 3 logs of 760 KB, and all 3 were skipped.
    encoded = []  # bytes of every line or field the check encodes
    encode = log_format.encode
    monkeypatch.setattr(log_format, 'encode', lambda value: (line := encode(value), encoded.append(len(line)))[0])
    fields = {f'field_{index:05d}': f'value {index}' for index in range(20000)}
    logs = [{'id': f'w{n}', 'timestamp': f'2026-11-26T11:50:0{n}Z', 'message': 'wide', **fields} for n in range(3)]
    sandbox.add_logs('audit', logs)
    crawler.start({**instance, 'streams': ['audit']})

    crawler.run()

    sent = crawler.sent()
    assert [log['acme']['id'] for log in sent] == ['w0', 'w1', 'w2'], 'truncated and sent'
    assert all(log['acme_crawler']['truncated'] and len(log['acme']) < 20000 for log in sent)
    assert sum(encoded) < 3 * 10 * 760_000, 'each field encoded a few times, not the whole log once per cut'


def test_8_the_token_echoed_in_lowercase_percent_or_json_escapes_is_scrubbed(
    sandbox, instance, crawler, aggregator, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    token = 'tök€n/with spaces+ü'
    escaped = json.dumps(token)[1:-1]  # `\\u00f6`: JSON escapes in lower-case hex, and in upper case
    echoes = [quote(token, safe='').lower(), escaped, re.sub(r'\\u(....)', lambda m: '\\u' + m[1].upper(), escaped)]

    def send(adapter, request, **kwargs):  # a proxy quoting the token back, in forms the scrubber did not know
        raise requests.exceptions.ConnectionError(f'refused for {" ".join(echoes)}')

    monkeypatch.setattr(requests.adapters.HTTPAdapter, 'send', send)
    crawler.start({**instance, 'api_token': token})
    crawler.run()

    said = '\n'.join(
        [
            *crawler.check.get_warnings(),
            caplog.text,
            *(c.message or '' for c in aggregator.service_checks('acme.can_connect')),
        ]
    )
    assert [echo for echo in echoes if echo in said] == []
    assert 'could not reach ACME' in said


@pytest.mark.parametrize('ids', [[b'a\x80', b'a\x81'], [b'a\x80', 'a\u00e9'.encode()]], ids=['x80 x81', 'x80 e-acute'])
def test_9_ids_that_are_not_utf8_are_ordered_as_acme_orders_their_bytes(sandbox, instance, crawler, ids):
    # They were replaced by U+FFFD before being compared with the cursor: the second of a tie was taken for the first.
    for index, log_id in enumerate(ids + [b'a\xff']):  # in ACME's order, byte by byte
        raw = b'{"id":"' + log_id + b'","timestamp":"' + TIE.encode() + b'","message":"' + str(index).encode() + b'"}'
        sandbox.add_raw_log('audit', at=TIE, sort_id=log_id.decode('latin-1'), raw=raw)
    crawler.start({**instance, 'streams': ['audit'], 'page_size': 1})

    crawler.run(times=3)

    assert [log['message'] for log in crawler.sent()] == ['0', '1', '2'], 'each once, in order'


def test_10_a_leap_second_is_sent(sandbox, instance, crawler, clock):
    # RFC 3339 allows second 60; the log was skipped as malformed. It is the next second's start, as Go reads it.
    clock.advance(1483230600 - START)  # 2017-01-01T00:30:00Z
    for at, text in [('2016-12-31T23:59:59.9Z',) * 2, ('2017-01-01T00:00:00.5Z', '2016-12-31T23:59:60.5Z')]:
        raw = json.dumps({'id': text, 'timestamp': text, 'message': 'leap'}).encode()
        sandbox.add_raw_log('audit', at=at, sort_id=text, raw=raw)
    crawler.start({**instance, 'streams': ['audit']})

    crawler.run()

    assert [log['acme']['timestamp'] for log in crawler.sent()] == ['2016-12-31T23:59:59.9Z', '2016-12-31T23:59:60.5Z']
    assert crawler.sent()[1]['timestamp'] == 1483228800500
    assert not crawler.warnings()
