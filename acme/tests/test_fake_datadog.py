# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""FakeDatadog answers as Datadog's API does, over real HTTP, on a fake clock."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import requests

from .agent_emulation import Intake
from .clock import FakeClock
from .fake_datadog import FakeDatadog

pytestmark = pytest.mark.integration

KEYS = {'DD-API-KEY': 'api-key', 'DD-APPLICATION-KEY': 'app-key'}
SEARCH, LIST = '/api/v2/logs/events/search', '/api/v2/logs/events'
START_MS = 1795694400000  # conftest's START, 2026-11-26T12:00:00Z
NOW_MS = START_MS + 3_600_000  # where the clock stands when the time-bound tests search
AGES = {'2d': 2 * 86_400_000, '20h': 20 * 3_600_000, '16m': 16 * 60_000, '10m': 10 * 60_000, '20s': 20_000, 'now': 0}


def line(message: str, at_ms: int = START_MS, **fields: Any) -> str:
    """A line as the check writes it."""
    log = {'message': message, 'timestamp': at_ms, 'status': 'info', 'service': 'web', 'hostname': 'h1'}
    log.update({'ddsource': 'acme', 'ddtags': 'env:prod,stream:web', 'acme': {'id': message}}, **fields)
    return json.dumps(log)


@pytest.fixture
def intake(clock: FakeClock) -> Intake:
    return Intake(clock.time)


@pytest.fixture
def fake(intake: Intake, clock: FakeClock) -> Iterator[FakeDatadog]:
    with FakeDatadog(intake=intake, clock=clock.time, api_key='api-key', app_key='app-key', rate_limit=50) as server:
        yield server


@pytest.fixture
def api(fake: FakeDatadog) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(KEYS)
        yield session


def indexed(intake: Intake, clock: FakeClock, *lines: str) -> None:
    intake.accept(list(lines))
    clock.advance(10)


def search(api: requests.Session, fake: FakeDatadog, method: str = 'POST', **body: Any) -> dict[str, Any]:
    if method == 'POST':
        response = api.post(fake.url + SEARCH, json=body)
    else:
        params = {f'filter[{key}]': value for key, value in body.get('filter', {}).items()}
        params.update({f'page[{key}]': value for key, value in body.get('page', {}).items()})
        response = api.get(fake.url + LIST, params={**params, **({'sort': body['sort']} if 'sort' in body else {})})
    assert response.status_code == 200, response.text
    return response.json()


def messages(answer: dict[str, Any]) -> list[str]:
    return [event['attributes']['message'] for event in answer['data']]


def test_a_received_line_is_searchable_only_index_delay_after_it_arrived(intake, clock, api, fake):
    intake.accept([line('one')])
    clock.advance(9)
    assert search(api, fake)['data'] == []
    clock.advance(1)
    assert messages(search(api, fake)) == ['one']


def test_an_event_has_the_reserved_attributes_the_tags_and_the_custom_attributes(intake, clock, api, fake):
    indexed(intake, clock, line('one', START_MS + 123, status='error', acme_crawler={'truncated': True}), 'g": 1}')
    fragment, event = search(api, fake, sort='timestamp')['data']

    assert event['type'] == 'log' and event['id'] != fragment['id']
    assert event['attributes'] == {
        'timestamp': '2026-11-26T12:00:00.123Z',
        'message': 'one',
        'service': 'web',
        'host': 'h1',
        'status': 'error',
        'tags': ['env:prod', 'stream:web', 'source:acme'],
        'attributes': {'acme': {'id': 'one'}, 'acme_crawler': {'truncated': True}},
    }
    # Not JSON: the line is the message, the arrival the timestamp.
    fragment_attributes = {'message': 'g": 1}', 'status': 'info', 'tags': [], 'attributes': {}}
    assert fragment['attributes'] == {'timestamp': '2026-11-26T12:00:00.000Z', **fragment_attributes}


@pytest.mark.parametrize(
    'query, expected',
    [
        ('*', 'abc'),
        ('', 'abc'),
        ('env:prod', 'ac'),
        ('stream:web', 'a'),
        ('stream:web*', 'ac'),
        ('env:(staging OR dev)', 'b'),
        ('source:acme service:audit', 'b'),
        ('host:h2', 'b'),
        ('status:error', 'a'),
        ('@acme.http.status:500', 'a'),
        ('@acme.tags:blue', 'c'),
        ('@acme.id:2*', 'b'),
        ('-env:prod', 'b'),
        ('env:prod -@acme.id:1', 'c'),
        ('-@acme.missing:x', 'abc'),
        ('user', 'bc'),
        ('LOGIN*', 'b'),
        ('env:prod AND status:error', 'a'),
    ],
)
def test_query_terms(intake, clock, api, fake, query, expected):
    indexed(
        intake,
        clock,
        line('a: disk full', status='error', acme={'id': 1, 'http': {'status': 500}}),
        line('b: user login', ddtags='env:staging,stream:audit', service='audit', hostname='h2', acme={'id': 21}),
        line('c: user logout', ddtags='env:prod,stream:webhooks', acme={'id': 3, 'tags': ['red', 'blue']}),
    )
    found = messages(search(api, fake, filter={'query': query}, sort='timestamp'))
    assert [message[0] for message in found] == list(expected)


@pytest.mark.parametrize('method', ['POST', 'GET'])
@pytest.mark.parametrize(
    'bounds, expected',
    [
        ({}, ['10m', '20s', 'now']),  # now-15m to now, both inclusive
        ({'from': 'now-18h'}, ['16m', '10m', '20s', 'now']),
        ({'from': 'now-1d', 'to': 'now-15m'}, ['20h', '16m']),
        ({'from': 'now-30s', 'to': 'now'}, ['20s', 'now']),
        ({'from': '2026-11-26T12:44:00Z', 'to': '2026-11-26T14:50:00+02:00'}, ['16m', '10m']),
        ({'from': '2026-11-26T12:49:59.999', 'to': NOW_MS - 20_000}, ['10m', '20s']),  # naive: UTC; a number: ms
        ({'from': str(NOW_MS - 20_000), 'to': '2026-11-26T12:59:59.999000+00:00'}, ['20s']),
    ],
)
def test_time_bounds_in_every_accepted_form(intake, clock, api, fake, bounds, expected, method):
    intake.accept([line(age, NOW_MS - ms) for age, ms in AGES.items()])
    clock.advance(3600)
    answer = search(api, fake, method, filter=bounds, sort='timestamp', page={'limit': 100})
    assert messages(answer) == expected


def test_both_sorts_with_ties_broken_by_event_id(intake, clock, api, fake):
    indexed(intake, clock, line('late', START_MS + 5), line('tie-1'), line('early', START_MS - 5), line('tie-2'))
    ascending = search(api, fake, sort='timestamp')
    assert messages(ascending) == ['early', 'tie-1', 'tie-2', 'late']
    assert [event['id'] for event in search(api, fake, sort='-timestamp')['data']] == [
        event['id'] for event in reversed(ascending['data'])
    ]
    assert messages(search(api, fake)) == ['late', 'tie-2', 'tie-1', 'early']  # -timestamp by default


@pytest.mark.parametrize('sort', ['timestamp', '-timestamp'])
def test_paging_through_every_event_once(intake, clock, api, fake, sort):
    indexed(intake, clock, *(line(f'log {i}', START_MS + i // 3) for i in range(25)))  # ties across pages
    everything = [event['id'] for event in search(api, fake, sort=sort, page={'limit': 1000})['data']]
    pages, cursor = [], None
    while True:
        answer = search(api, fake, sort=sort, page={'limit': 10, **({'cursor': cursor} if cursor else {})})
        pages.append([event['id'] for event in answer['data']])
        cursor = answer['meta'].get('page', {}).get('after')
        assert ('links' in answer) == (cursor is not None)
        if cursor is None:
            break
    assert [len(page) for page in pages] == [10, 10, 5]
    assert sum(pages, []) == everything and len(set(everything)) == 25

    first = search(api, fake, sort=sort, page={'limit': 10})
    followed = api.get(first['links']['next']).json()  # the next page, as a GET
    assert [event['id'] for event in followed['data']] == pages[1]


@pytest.mark.parametrize(
    'body',
    [{'filter': {'query': query}} for query in ('a OR b', 'env:(prod', 'env:(a AND b)', 'title:"x y"', '(a OR b)')]
    + [{'filter': {'from': 'yesterday'}}, {'sort': 'time'}, {'page': {'cursor': 'not-a-cursor'}}]
    + [{'page': {'limit': 1001}}, {'page': {'limit': 0}}],
)
def test_a_query_outside_the_grammar_a_bad_time_sort_cursor_or_limit_is_refused(api, fake, body):
    response = api.post(fake.url + SEARCH, json=body)
    assert response.status_code == 400 and response.json()['errors']


def test_get_and_post_agree_and_no_request_carries_an_authorization_header(intake, clock, api, fake):
    indexed(intake, clock, *(line(f'log {i}', START_MS + i, status=['info', 'error'][i % 2]) for i in range(7)))
    body = {'filter': {'query': 'status:error', 'from': 'now-1h'}, 'sort': 'timestamp', 'page': {'limit': 2}}
    posted, got = search(api, fake, 'POST', **body), search(api, fake, 'GET', **body)

    assert posted['data'] == got['data'] and messages(got) == ['log 1', 'log 3']
    assert posted['meta']['page'] == got['meta']['page']
    assert [(r.method, r.path, r.status) for r in fake.requests] == [('POST', SEARCH, 200), ('GET', LIST, 200)]
    assert fake.requests[1].params['filter[query]'] == 'status:error'
    assert all('authorization' not in r.headers for r in fake.requests)


@pytest.mark.parametrize(
    'headers', [{}, {'DD-API-KEY': 'api-key'}, {'DD-APPLICATION-KEY': 'app-key'}, {**KEYS, 'DD-API-KEY': 'x'}]
)
@pytest.mark.parametrize('method, path', [('POST', SEARCH), ('GET', LIST), ('GET', '/api/v1/dashboard')])
def test_forbidden_without_both_keys(fake, headers, method, path):
    response = requests.request(method, fake.url + path, headers=headers, json={})
    assert (response.status_code, response.json()) == (403, {'errors': ['Forbidden']})


def test_too_many_requests_past_the_limit_until_the_window_resets(intake, clock):
    keys = {'api_key': 'api-key', 'app_key': 'app-key'}
    with (
        FakeDatadog(intake=intake, clock=clock.time, rate_limit=3, rate_period=60, **keys) as fake,
        requests.Session() as api,
    ):
        api.headers.update(KEYS)
        answers = [api.post(fake.url + SEARCH, json={}), api.get(fake.url + LIST), api.post(fake.url + SEARCH, json={})]
        assert [answer.headers['X-RateLimit-Remaining'] for answer in answers] == ['2', '1', '0']
        clock.advance(45)  # START is on a minute: 15 s left in the window
        refused = api.get(fake.url + LIST)
        assert (refused.status_code, refused.json()) == (429, {'errors': ['Too many requests']})
        limits = [refused.headers[f'X-RateLimit-{name}'] for name in ('Limit', 'Period', 'Remaining', 'Reset', 'Name')]
        assert limits == ['3', '60', '0', '15', 'logs_list']
        clock.advance(15)
        recovered = api.post(fake.url + SEARCH, json={})
        assert (recovered.status_code, recovered.headers['X-RateLimit-Remaining']) == (200, '2')


ASSETS = {  # kind: (path, a valid asset, a key it must have)
    'pipelines': (
        '/api/v1/logs/config/pipelines',
        {'name': 'ACME', 'filter': {'query': '*'}, 'processors': []},
        'filter',
    ),
    'dashboards': ('/api/v1/dashboard', {'title': 'ACME', 'layout_type': 'ordered', 'widgets': []}, 'layout_type'),
    'monitors': ('/api/v1/monitor', {'name': 'ACME', 'type': 'log alert', 'query': 'q', 'message': '@ops'}, 'query'),
}


@pytest.mark.parametrize('kind', ASSETS)
def test_assets_are_created_listed_and_updated_and_an_invalid_one_is_refused(api, fake, kind):
    path, asset, missing = ASSETS[kind]
    item_id, name = api.post(fake.url + path, json=asset).json()['id'], 'title' if kind == 'dashboards' else 'name'
    listed = api.get(fake.url + path, params={'name': 'AC'} if kind == 'monitors' else None).json()
    assert [item[name] for item in (listed['dashboards'] if kind == 'dashboards' else listed)] == ['ACME']

    updated = api.put(f'{fake.url}{path}/{item_id}', json={**asset, name: 'ACME v2'})
    assert (updated.status_code, updated.json()['id']) == (200, item_id)
    assert api.get(f'{fake.url}{path}/{item_id}').json()[name] == fake.assets[kind][item_id][name] == 'ACME v2'

    invalid = {key: value for key, value in asset.items() if key != missing}
    for response in (api.post(fake.url + path, json=invalid), api.put(f'{fake.url}{path}/{item_id}', json=invalid)):
        assert response.status_code == 400 and missing in response.json()['errors'][0]
    assert list(fake.assets[kind]) == [item_id] and fake.assets[kind][item_id][name] == 'ACME v2'
    assert api.get(f'{fake.url}{path}/999999').status_code == 404
    assert kind != 'monitors' or api.get(fake.url + path, params={'name': 'nope'}).json() == []
