# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Valid logs that break JSON libraries, and fields ACME may add at any time: submitted exactly as ACME sent them."""

import json

import pytest

from .conftest import crawl_around, deeply_nested, metric_total

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures('either_rule')]


@pytest.fixture
def lines(datadog_agent, monkeypatch):
    """The JSON lines handed to the Agent, as text: the stub decodes them with orjson, which rounds big integers."""
    sent = []
    original = datadog_agent.send_log
    monkeypatch.setattr(datadog_agent, 'send_log', lambda line, check_id: (sent.append(line), original(line, check_id)))
    return sent


def poison(fields: str) -> bytes:
    """A valid ACME log whose extra `fields` are JSON text, spliced in as they are."""
    return ('{"id":"p1","timestamp":"2026-11-26T11:50:01Z","message":"poison",' + fields + '}').encode()


def restored(log: dict) -> dict:
    """A submitted log's `acme`, with each value named in `acme_crawler.as_text` decoded back from its text."""
    acme = json.loads(json.dumps(log['acme']))
    for path in log.get('acme_crawler', {}).get('as_text', ()):
        *parents, last = path.split('.')
        container = acme
        for key in parents:
            container = container[key]
        container[last] = json.loads(container[last])
    return acme


@pytest.mark.parametrize(
    'fields, kept',
    [
        pytest.param(
            f'"attributes":{deeply_nested(253)}',
            lambda log, line: restored(log)['attributes'] == json.loads(deeply_nested(253))
            and log['acme_crawler'] == {'as_text': ['attributes' + '.a' * 249]},
            id='attributes 253 levels deep: orjson writes 254, the log adds 2; the deepest as text',
        ),
        pytest.param(
            f'"attributes":{deeply_nested(1100)}',
            # Python 3.11's decoder stops short of 1,100 levels: all of `attributes` is its text. Newer Pythons decode
            # it, and only what lies deeper than orjson writes is text. Either way, every level is in the line.
            lambda log, line: line.replace('\\"', '"').count('{"a":') == 1100
            and log['acme_crawler']['as_text'] in (['attributes'], ['attributes' + '.a' * 249]),
            id='attributes 1100 levels deep, as text',
        ),
        pytest.param(
            '"attributes":{"huge":1e400,"fine":1.5}',
            lambda log, line: json.loads(line)['acme']['attributes'] == {'huge': '1e400', 'fine': 1.5},
            id='a number beyond a double, as its text',
        ),
        pytest.param(
            '"attributes":{"big":18446744073709551617,"negative":-9223372036854775809}',
            lambda log, line: '"big":"18446744073709551617","negative":"-9223372036854775809"' in line
            and restored(log)['attributes'] == {'big': 18446744073709551617, 'negative': -9223372036854775809},
            id='integers beyond 64 bits, to the digit, as text',
        ),
        pytest.param(
            '"severity":["ERROR"],"service":7,"host":{"name":"web-1"}',
            lambda log, line: log['acme']['severity'] == ['ERROR'] and not {'status', 'hostname'} & set(log),
            id='severity, service and host of other types',
        ),
        pytest.param(
            '"stream":"theirs","truncated":"no","acme_crawler":1',
            lambda log, line: (log['acme']['stream'], log['acme']['truncated'], log['acme']['acme_crawler'])
            == ('theirs', 'no', 1)
            and 'acme_crawler' not in log,
            id='new ACME fields named like the check own ones',
        ),
    ],
)
def test_a_log_hostile_to_json_libraries_is_submitted_exactly_once(sandbox, instance, crawler, lines, fields, kept):
    (log,) = crawl_around(sandbox, instance, crawler, poison(fields))

    (line,) = [line for line in lines if '"message":"poison"' in line]
    assert kept(log, line)
    assert not crawler.warnings()


def test_a_long_message_is_cut_to_the_agents_line_size_and_the_log_says_so(sandbox, instance, crawler, lines):
    message = 'é' * (1024 * 1024 // 2)  # 1 MiB of UTF-8, the most ACME sends
    log = {'id': 'big', 'timestamp': '2026-11-26T11:50:00Z', 'message': message, 'truncated': 'ACME says no'}
    sandbox.add_logs('audit', [log])
    crawler.start(instance)

    crawler.run()

    (sent,), (line,) = crawler.sent(), lines
    # The Agent splits a line longer than logs_config.max_message_size_bytes (256,000 by default, newline included)
    # into pieces that are no longer JSON: the line is cut just under it, at a character.
    assert 255_000 < len(line.encode()) + 1 <= 256_000
    assert message.startswith(sent['message']) and len(sent['message']) > 127_000
    assert sent['timestamp'] == 1795693800000 and sent['ddsource'] == 'acme'
    notes = sent['acme_crawler']
    assert notes == {'truncated': True, 'original_size': notes['original_size']}
    notes_text = ',"acme_crawler":' + json.dumps(notes, separators=(',', ':'))
    uncut = len(line.encode()) - len(sent['message'].encode()) + len(message.encode()) - len(notes_text)
    assert notes['original_size'] == uncut, 'the size of the line the log would have made'

    assert sent['acme']['truncated'] == 'ACME says no'
    assert crawler.cursor('audit')['timestamp'] == '2026-11-26T11:59:00.000000000Z'


def test_huge_attributes_are_cut_largest_first_to_the_configured_line_size(
    sandbox, instance, crawler, lines, agent_config, aggregator
):
    agent_config['logs_config.max_message_size_bytes'] = 50_000
    attributes = {'small': 'kept', 'huge': 'x' * 80_000, 'big': {'list': ['y' * 100] * 300}}
    log = {'id': 'a', 'timestamp': '2026-11-26T11:50:00Z', 'message': 'short', 'attributes': attributes}
    sandbox.add_logs('audit', [log])
    crawler.start(instance)

    crawler.run()

    (sent,), (line,) = crawler.sent(), lines
    assert 45_000 < len(line.encode()) + 1 <= 50_000
    assert sent['message'] == 'short', 'the largest field is cut, not the message'
    assert sent['acme']['id'] == 'a' and sent['timestamp'] == 1795693800000, 'what places the log is kept whole'
    text = json.dumps(attributes, separators=(',', ':'))
    cut = sent['acme']['attributes']
    assert text.startswith(cut) and len(cut) > 45_000, 'its JSON text, cut'
    assert sent['acme_crawler']['truncated_fields'] == ['attributes']
    assert metric_total(aggregator, 'acme.logs.truncated', 'acme_stream:audit') == 1


def test_a_log_no_cut_can_fit_is_skipped_named_and_passed(sandbox, instance, crawler, agent_config, aggregator):
    agent_config['logs_config.max_message_size_bytes'] = 2_000
    long_id = poison('"attributes":{"k":"v"}').replace(b'"p1"', b'"' + b'p' * 3000 + b'"')

    assert crawl_around(sandbox, instance, crawler, long_id) == []
    assert metric_total(aggregator, 'acme.logs.skipped', 'reason:unencodable', 'acme_stream:audit') == 1
    (warning,) = crawler.warnings()
    assert warning.startswith('Skipped 1 unencodable logs in stream `audit` (ids: ') and 'even cut down' in warning
