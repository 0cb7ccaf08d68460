# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Cursors: ACME's order, the base package's keys made crash-proof, and whose cursor it is."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datadog_checks.acme.cursors import (
    CursorCache,
    InvalidCursor,
    Position,
    cursor_name,
    cursor_tag,
    decode_slot,
    encode_slot,
    endpoint_digest,
    order_id,
)

from .conftest import HOUR, START, TOKEN, assert_exactly_once, expected_keys, feed
from .sandbox import generate_logs

ids = st.text(min_size=1, max_size=12)
raw_ids = st.one_of(ids, st.binary(min_size=1, max_size=12).map(lambda data: data.decode('utf-8', 'surrogateescape')))
positions = st.builds(Position, st.integers(min_value=0, max_value=4 * 10**18), ids.map(order_id))
OTHER_TOKEN = 'sandbox-token-of-another-customer'


@pytest.mark.unit
@given(positions)
def test_cursor_round_trips(position):
    assert Position.from_cursor(position.to_cursor()) == position


@pytest.mark.unit
@given(st.integers(min_value=0, max_value=3), raw_ids, st.integers(min_value=0, max_value=3), raw_ids)
def test_order_is_acme_order_even_for_ids_that_are_not_utf8(a_nanos, a_id, b_nanos, b_id):
    # ACME orders by instant, then by id compared byte by byte: the bytes it sent, valid UTF-8 or not (which the
    # check decodes with lone surrogates).
    def acme_key(nanos, log_id):
        return nanos, log_id.encode('utf-8', 'surrogateescape')

    a, b = Position(a_nanos, order_id(a_id)), Position(b_nanos, order_id(b_id))
    assert (a < b) == (acme_key(a_nanos, a_id) < acme_key(b_nanos, b_id))
    assert (a == b) == (acme_key(a_nanos, a_id) == acme_key(b_nanos, b_id))


@pytest.mark.unit
@given(st.integers(min_value=0, max_value=4 * 10**18), ids)
def test_before_precedes_every_log_at_that_instant(nanos, log_id):
    assert Position.before(nanos) < Position(nanos, log_id)
    assert Position(nanos - 1, log_id) < Position.before(nanos)


@pytest.mark.unit
@pytest.mark.parametrize(
    'cursor',
    [
        {'timestamp': 1764182558.5},  # an older format: epoch seconds, no id
        {'timestamp': 'yesterday', 'id': 'a'},
        {'timestamp': '2026-11-26T18:42:38Z', 'id': 7},
        {'id': 'a'},
        'garbage',
        [],
    ],
)
def test_unreadable_cursors_are_refused(cursor):
    with pytest.raises(InvalidCursor):
        Position.from_cursor(cursor)


@pytest.mark.unit
class TestCursorCache:
    """Two slots per cursor key under the base package's API; plain entries for other keys."""

    KEY = 'log_cursor_prod-web_0123456789ab'

    @pytest.fixture
    def agent(self):
        return {}

    def cache(self, agent):
        return CursorCache(read=lambda key: agent.get(key, ''), write=agent.__setitem__)

    def test_writes_alternate_between_slots_and_the_newest_valid_slot_wins(self, agent):
        cache = self.cache(agent)
        for value in ('{"n":1}', '{"n":2}', '{"n":3}'):
            cache.write(self.KEY, value)

        assert sorted(agent) == [self.KEY + '_0', self.KEY + '_1']
        assert decode_slot(agent[self.KEY + '_0']) == (2, '{"n":3}')
        assert self.cache(agent).read(self.KEY) == '{"n":3}'

    @given(st.integers(min_value=0, max_value=len(encode_slot(3, '{"timestamp":"x","id":"é"}')) - 1))
    def test_a_torn_write_of_the_newest_slot_falls_back_to_the_other(self, length):
        agent = {}
        cache = self.cache(agent)
        cache.write(self.KEY, '{"n":1}')
        cache.write(self.KEY, '{"n":2}')
        agent[self.KEY + '_0'] = encode_slot(3, '{"timestamp":"x","id":"é"}')[:length]  # the crash, mid-write

        assert self.cache(agent).read(self.KEY) == '{"n":2}'

    def test_both_slots_damaged_read_as_nothing_and_say_so(self, agent):
        agent[self.KEY + '_0'], agent[self.KEY + '_1'] = '1 0000 {}', 'garbage'
        cache = self.cache(agent)

        assert cache.read(self.KEY) == ''
        assert cache.damaged == {self.KEY}

    def test_nothing_is_written_when_not_durable(self, agent):
        cache = self.cache(agent)
        cache.write(self.KEY, '{"n":1}')
        cache.durable = False
        cache.write(self.KEY, '{"n":2}')

        assert sorted(agent) == [self.KEY + '_0']
        assert cache.read(self.KEY) == '{"n":2}', 'kept in memory for the rest of the process'


@pytest.mark.integration
def test_get_log_cursor_returns_what_the_last_page_wrote(sandbox, instance, crawler, datadog_agent, monkeypatch):
    last_written = {}
    original = datadog_agent.write_persistent_cache

    def write(key: str, value: str) -> None:
        last_written[key.rsplit('_', 1)[0]] = value  # by key without its slot suffix
        original(key, value)

    monkeypatch.setattr(datadog_agent, 'write_persistent_cache', write)
    feed(sandbox, seed='base-api', start=START - 30 * 60, end=START - 5 * 60, count=95, late_rate=0)
    crawler.start({**instance, 'page_size': 10})

    crawler.run()

    assert len(crawler.sent()) == 2 * 95
    for stream in crawler.check.directory.streams.values():
        cursor = crawler.check.get_log_cursor(stream.name)
        assert cursor == json.loads(decode_slot(last_written[crawler.cursor_key(stream.stream_id)])[1])
        assert cursor == crawler.cursor(stream.stream_id)
        assert cursor == {'timestamp': '2026-11-26T11:59:00.000000000Z', 'id': '', 'created_at': cursor['created_at']}


@pytest.mark.unit
def test_the_names_and_digests_never_change():
    # Cursors are stored under them, and logs tagged with them: a change would orphan every customer's cursors.
    assert endpoint_digest('https://api.acme.example') == endpoint_digest(' HTTPS://API.acme.example/ ')
    assert endpoint_digest('https://api.acme.example') == '5ba38afa746d5e7f'
    assert cursor_tag('5ba38afa746d5e7f', 'prod-web') == '202c966229e3'
    created = 1767520800_000000000  # 2026-01-04T10:00:00Z
    stored = {'timestamp': '2026-11-26T11:00:00Z', 'id': 'a', 'created_at': '2026-01-04T11:00:00+01:00'}
    assert cursor_name('prod-web', created, None) == ('prod-web', created), 'a new stream: its id'
    assert cursor_name('prod-web', created, stored) == ('prod-web', created), 'the same instant, in another form'
    assert cursor_name('prod-web', None, stored) == ('prod-web', created), 'the instant unlisted: the stored one'
    assert cursor_name('prod-web', created + 1, stored) == ('prod-web_6781a8916d3e', created + 1), 'another stream'


# Whose cursor: one per (ACME endpoint, stream id, stream creation), whatever the token or a cosmetic URL.


@pytest.mark.integration
def test_two_accounts_on_one_url_never_share_a_cursor(sandbox, instance, crawler, clock):
    sandbox.add_account(OTHER_TOKEN)
    sandbox.add_stream('prod-web', token=OTHER_TOKEN, created_at=START - 30 * 86400)
    logs = feed(sandbox, seed='a', start=START - 30 * 60, end=START - 2 * 60, count=300, late_rate=0)
    other = generate_logs(seed='b', start=START - 30 * 60, end=START - 2 * 60, count=300, late_rate=0)
    sandbox.add_logs('prod-web', other, token=OTHER_TOKEN)
    crawler.start({**instance, 'streams': ['prod-web']})
    crawler.run(times=2)  # account A's prod-web is crawled; its cursor is near now

    crawler.start({**instance, 'streams': ['prod-web'], 'api_token': OTHER_TOKEN})  # same URL, account B
    crawler.run(times=2)
    crawler.start({**instance, 'streams': ['prod-web']})  # and A again
    crawler.run(times=2)

    sent = crawler.sent_keys()
    a_ids = {log['id'] for log in logs['prod-web']}
    assert sorted(key for key in sent if key[1] in a_ids) == sorted(('prod-web', i) for i in a_ids)
    assert sorted(key for key in sent if key[1] not in a_ids) == sorted(('prod-web', log['id']) for log in other)


@pytest.mark.integration
def test_rotating_the_token_keeps_the_cursors(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='rotate', start=START - 30 * 60, end=START + 10 * 60, count=600)
    sandbox.add_token('rotated-token', same_account_as=TOKEN)
    crawler.start(instance)
    crawler.run(times=10)

    sandbox.revoke_token(TOKEN)
    crawler.start({**instance, 'api_token': 'rotated-token'})
    crawler.run(times=40)

    assert len(crawler.check_ids) == 2
    until = clock.time() - 15 - 60
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=until))


@pytest.mark.integration
@pytest.mark.parametrize('edit', ['{url}/', 'HTTP://{host}:{port}/'])
def test_cosmetic_url_edits_keep_the_cursors(sandbox, instance, crawler, clock, edit):
    logs = feed(sandbox, seed='url', start=START - 30 * 60, end=START + 10 * 60, count=600)
    crawler.start(instance)
    crawler.run(times=10)

    url = edit.format(url=sandbox.url, host=sandbox.host, port=sandbox.port)
    crawler.start({**instance, 'url': url})
    crawler.run(times=40)

    until = clock.time() - 15 - 60
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=until))


@pytest.mark.integration
def test_a_stream_listed_twice_is_crawled_once(sandbox, instance, crawler):
    logs = feed(sandbox, seed='twice', start=START - 30 * 60, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start({**instance, 'streams': ['audit', 'prod-web', 'audit']})

    crawler.run()
    assert crawler.warnings() == ['`streams` lists audit more than once; each stream is crawled once']
    crawler.run()

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))


@pytest.mark.integration
def test_a_stream_created_again_under_the_same_id_starts_as_a_new_stream_and_says_so(sandbox, instance, crawler, clock):
    crawler.start(instance)
    crawler.run()
    name_before = crawler.stream_name('audit')
    sandbox.remove_stream('audit')
    sandbox.add_stream('audit', created_at=clock.time())
    clock.advance(10 * 60)  # the next listing pass
    crawler.run()

    assert crawler.stream_name('audit') != name_before
    (warning,) = crawler.warnings()
    assert warning.startswith('Stream `audit` was created at 2026-11-26T12:00:15.')
    assert ', not at 2026-11-26T12:00:00.000000000Z as when its cursor was stored at this `url`' in warning
    assert 'crawled as a new stream' in warning


@pytest.mark.integration
@pytest.mark.parametrize(
    'listed',
    [
        pytest.param(lambda sandbox: sandbox.OMIT, id='created_at gone'),
        pytest.param(lambda sandbox: None, id='created_at null'),
        pytest.param(lambda sandbox: '2026-09-01T02:00:00.000+02:00', id='same instant, other offset'),
        pytest.param(lambda sandbox: 1788220800, id='an epoch number'),
    ],
)
def test_a_cursor_survives_created_at_changing_form_or_going_away(sandbox, instance, crawler, clock, listed):
    logs = feed(sandbox, seed='form', start=START - 30 * 60, end=START + 30 * 60, count=1000)
    for stream in ('prod-web', 'audit'):
        sandbox.remove_stream(stream)
        sandbox.add_stream(stream, created_at='2026-09-01T00:00:00Z')
        sandbox.add_logs(stream, logs[stream])
    crawler.start(instance)
    crawler.run(times=20)  # 5 minutes, crawled with the listing's first form

    sandbox.set_listed_created_at('audit', listed(sandbox))
    crawler.run(times=20)  # the next listing pass shows the new form
    crawler.start(instance)  # and a restart reads it first
    crawler.run(times=20)
    sandbox.set_listed_created_at('audit', '2026-09-01T00:00:00Z')  # the first form, back
    crawler.start(instance)
    crawler.run(times=80)

    assert not [warning for warning in crawler.warnings() if 'created at' in warning]
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=clock.time() - 15 - 60))


@pytest.mark.integration
def test_a_cursor_survives_created_at_appearing(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='appear', start=START - 30 * 60, end=START + 30 * 60, count=1000)
    sandbox.set_listed_created_at('audit', sandbox.OMIT)
    crawler.start(instance)
    crawler.run(times=20)

    sandbox.reset_listed_created_at('audit')  # the stream's creation instant, as the sandbox lists it
    crawler.start(instance)
    crawler.run(times=120)

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=clock.time() - 15 - 60))
