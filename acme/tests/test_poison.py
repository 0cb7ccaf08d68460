# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Valid logs that break JSON libraries, and fields ACME may add at any time: submitted exactly as ACME sent them."""

import json

import pytest

from .conftest import crawl_around, deeply_nested


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


def attributes_text(line: str) -> str:
    """A line's `acme.attributes` as compact JSON text, whether sent as structure or, too deep, as their text."""
    start = line.index('"attributes":') + len('"attributes":')
    if line.startswith('"', start):
        return json.loads(line)['acme']['attributes']  # kept as its JSON text (acme_crawler.raw_fields)
    depth = 0
    for index in range(start, len(line)):
        depth += {'{': 1, '}': -1}.get(line[index], 0)
        if depth == 0:
            return line[start : index + 1]
    raise AssertionError('unbalanced attributes')


@pytest.mark.parametrize(
    'fields, kept',
    [
        pytest.param(
            f'"attributes":{deeply_nested(253)}',
            lambda log, line: attributes_text(line) == deeply_nested(253),
            id='attributes 253 levels deep',
        ),
        pytest.param(
            f'"attributes":{deeply_nested(1100)}',
            lambda log, line: attributes_text(line) == deeply_nested(1100)
            and log['acme_crawler'] == {'raw_fields': ['attributes']},
            id='attributes 1100 levels deep, as text',
        ),
        pytest.param(
            '"attributes":{"huge":1e400,"fine":1.5}',
            lambda log, line: json.loads(line)['acme']['attributes'] == {'huge': '1e400', 'fine': 1.5},
            id='a number beyond a double, as its text',
        ),
        pytest.param(
            '"attributes":{"big":18446744073709551617,"negative":-9223372036854775809}',
            lambda log, line: '"big":18446744073709551617,"negative":-9223372036854775809' in line,
            id='integers beyond 64 bits, to the digit',
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
    assert not crawler.check.get_warnings()


def test_a_long_message_is_cut_and_the_check_says_so_where_acme_cannot_collide(sandbox, instance, crawler):
    message = 'é' * (1024 * 1024 // 2)  # 1 MiB of UTF-8, the most ACME sends
    log = {'id': 'big', 'timestamp': '2026-11-26T11:50:00Z', 'message': message, 'truncated': 'ACME says no'}
    sandbox.add_logs('audit', [log])
    crawler.start(instance)

    crawler.run()

    (sent,) = crawler.sent()
    assert len(sent['message'].encode()) <= 900_000 and message.startswith(sent['message'])
    assert sent['acme_crawler'] == {'truncated': True}
    assert sent['acme']['truncated'] == 'ACME says no'
    assert crawler.cursor('audit')['timestamp'] == '2026-11-26T11:59:00.000000000Z'
