# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The sandbox's knobs for one stream's trouble, through real HTTP: per-stream outages, short
listing pages, what the listing says of `created_at`, and raw log bytes served verbatim.

The harness it shares with test_sandbox.py (sandbox_http.py) involves nothing of the check.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.sandbox import OMIT, AcmeSandbox, Faults
from tests.sandbox.timefmt import iso_utc, parse_rfc3339

from .sandbox_http import (  # noqa: F401 (fixtures)
    OTHER,
    T0,
    TOKEN,
    FakeClock,
    clock,
    error_code,
    get,
    http,
    make_sandbox,
)

CREATED = '2026-01-04T10:00:00Z'


def logs_path(stream: str) -> str:
    return f'/api/v1/streams/{stream}/logs'


def list_all(
    http: requests.Session, sandbox: AcmeSandbox, *, token: str = TOKEN, **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every listing entry, following tokens to the end; and each page's body."""
    entries: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    query = params
    for _ in range(1000):
        response = get(http, sandbox, '/api/v1/streams', token=token, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        entries.extend(body['data'])
        if body['next_page_token'] is None:
            return entries, pages
        query = {'page_token': body['next_page_token']}
    raise AssertionError('listing did not end')


def listed(http: requests.Session, sandbox: AcmeSandbox, *, token: str = TOKEN) -> dict[str, dict[str, Any]]:
    entries, _ = list_all(http, sandbox, token=token, limit=1000)
    return {entry['id']: entry for entry in entries}


def crawl_ids(http: requests.Session, sandbox: AcmeSandbox, stream: str, *, token: str = TOKEN) -> list[str]:
    ids: list[str] = []
    query: dict[str, Any] = {'start_time': iso_utc(T0 - 3600), 'limit': 2}
    for _ in range(1000):
        response = get(http, sandbox, logs_path(stream), token=token, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        ids.extend(log['id'] for log in body['data'])
        if body['next_page_token'] is None:
            return ids
        query = {'page_token': body['next_page_token']}
    raise AssertionError('crawl did not end')


@pytest.fixture
def two_streams(make_sandbox: Callable[..., AcmeSandbox], clock: FakeClock) -> AcmeSandbox:
    """`prod-web` and `audit`, five logs each, all settled."""
    sandbox = make_sandbox()
    for stream in ('audit', 'prod-web'):
        sandbox.add_stream(stream, created_at=CREATED)
        sandbox.add_logs(
            stream,
            [{'id': f'{stream}-{i}', 'timestamp': iso_utc(clock.now - 600 + i), 'message': 'm'} for i in range(5)],
        )
    return sandbox


# Per-stream failures


def test_a_failing_stream_answers_its_5xx_and_nothing_else_does(
    two_streams: AcmeSandbox, http: requests.Session
) -> None:
    sandbox = two_streams
    start = iso_utc(T0 - 3600)
    # A token from before the outage: page-token requests fail too, and the token outlives it.
    before = get(http, sandbox, logs_path('prod-web'), start_time=start, limit=2).json()
    sandbox.reset_stats()

    sandbox.fail_stream('prod-web')

    failed = get(http, sandbox, logs_path('prod-web'), start_time=start)
    assert failed.status_code == 503
    assert failed.headers['Content-Type'] == 'application/json'
    assert error_code(failed) == 'unavailable'
    assert 'prod-web' in failed.json()['error']['message']
    assert 'Retry-After' not in failed.headers
    assert {'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Date'} <= set(failed.headers)
    # Every logs request for the stream, whatever it asks: a page token, or even bad parameters.
    assert get(http, sandbox, logs_path('prod-web'), page_token=before['next_page_token']).status_code == 503
    assert get(http, sandbox, logs_path('prod-web')).status_code == 503
    # The listing and the other stream are untouched.
    assert set(listed(http, sandbox)) == {'audit', 'prod-web'}
    assert crawl_ids(http, sandbox, 'audit') == [f'audit-{i}' for i in range(5)]

    records = sandbox.stats.records
    failures = [r for r in records if r.stream == 'prod-web']
    assert [(r.status, r.fault, r.error_code, r.served) for r in failures] == [
        (503, 'stream_failure', 'unavailable', 0)
    ] * 3
    assert all(r.status == 200 and r.fault is None for r in records if r.stream != 'prod-web')
    assert sandbox.stats.by_status[503] == 3 and sandbox.stats.by_stream['prod-web'] == 3

    sandbox.heal_stream('prod-web')
    resumed = get(http, sandbox, logs_path('prod-web'), page_token=before['next_page_token'])
    assert [log['id'] for log in resumed.json()['data']] == ['prod-web-2', 'prod-web-3']
    assert crawl_ids(http, sandbox, 'prod-web') == [f'prod-web-{i}' for i in range(5)]
    sandbox.heal_stream('prod-web')  # healing a healthy stream is a no-op


@pytest.mark.parametrize(
    'status, code',
    [
        (500, 'internal_error'),
        (502, 'bad_gateway'),
        (503, 'unavailable'),
        (504, 'gateway_timeout'),
        (507, 'internal_error'),
        (429, 'rate_limited'),  # a token limited for one stream's requests only: a stream's long Retry-After
    ],
)
def test_stream_failure_statuses(two_streams: AcmeSandbox, http: requests.Session, status: int, code: str) -> None:
    two_streams.fail_stream('audit', status=status)
    response = get(http, two_streams, logs_path('audit'), start_time=iso_utc(T0 - 60))
    assert (response.status_code, error_code(response)) == (status, code)
    assert 'Retry-After' not in response.headers


@pytest.mark.parametrize(
    'options',
    [{'status': 404}, {'status': 400}, {'status': 200}, {'status': True}, {'retry_after': -1}, {'retry_after': 1.5}],
)
def test_stream_failure_refuses_what_the_contract_does_not_allow(
    two_streams: AcmeSandbox, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        two_streams.fail_stream('audit', **options)


def test_a_streams_retry_after_binds_that_stream_only(
    two_streams: AcmeSandbox, http: requests.Session, clock: FakeClock
) -> None:
    sandbox = two_streams
    sandbox.fail_stream('prod-web', retry_after=5)
    start = iso_utc(T0 - 3600)

    first = get(http, sandbox, logs_path('prod-web'), start_time=start)
    assert (first.status_code, first.headers['Retry-After']) == (503, '5')
    # Other streams and the listing go on at once: the token was not told to wait.
    assert get(http, sandbox, logs_path('audit'), start_time=start).status_code == 200
    assert get(http, sandbox, '/api/v1/streams').status_code == 200
    clock.advance(4.9)
    early = get(http, sandbox, logs_path('prod-web'), start_time=start)
    clock.advance(5.5)
    on_time = get(http, sandbox, logs_path('prod-web'), start_time=start)
    assert [early.status_code, on_time.status_code] == [503, 503]
    assert [r.violation for r in sandbox.stats.records] == [False, False, False, True, False]
    assert sandbox.stats.violations == 1


def test_stream_failures_count_against_the_rate_limits(two_streams: AcmeSandbox, http: requests.Session) -> None:
    sandbox = two_streams
    sandbox.rate_limits = True
    sandbox.fail_stream('prod-web')
    start = iso_utc(T0 - 60)
    remaining = [get(http, sandbox, logs_path('prod-web'), start_time=start) for _ in range(10)]
    assert [r.status_code for r in remaining] == [503] * 10
    assert [r.headers['X-RateLimit-Remaining'] for r in remaining] == [str(n) for n in range(9, -1, -1)]
    # The 11th request of the second, for any stream, is over the token's limit.
    limited = get(http, sandbox, logs_path('audit'), start_time=start)
    assert (limited.status_code, error_code(limited)) == (429, 'rate_limited')


def test_stream_failure_precedes_permissions_and_belongs_to_one_account(
    two_streams: AcmeSandbox, http: requests.Session
) -> None:
    sandbox = two_streams
    sandbox.add_account(OTHER)
    sandbox.add_stream('prod-web', token=OTHER)
    sandbox.forbid_stream('audit', status=403)
    sandbox.fail_stream('audit')
    sandbox.fail_stream('prod-web', status=502, token=OTHER)
    start = iso_utc(T0 - 60)
    # A shard that is down answers nothing else, not even a refusal.
    assert get(http, sandbox, logs_path('audit'), start_time=start).status_code == 503
    # Two customers may share a stream id; one's outage is not the other's.
    assert get(http, sandbox, logs_path('prod-web'), start_time=start).status_code == 200
    assert get(http, sandbox, logs_path('prod-web'), token=OTHER, start_time=start).status_code == 502
    sandbox.heal_stream('audit')
    assert get(http, sandbox, logs_path('audit'), start_time=start).status_code == 403
    with pytest.raises(ValueError):
        sandbox.fail_stream('Not A Stream')


def test_transport_faults_still_come_first(two_streams: AcmeSandbox, http: requests.Session) -> None:
    two_streams.fail_stream('audit', status=500)
    two_streams.faults = Faults(non_json_rate=1.0)
    html = get(http, two_streams, logs_path('audit'), start_time=iso_utc(T0 - 60))
    assert html.status_code == 200 and html.text.startswith('<!DOCTYPE html>')
    assert two_streams.stats.records[-1].fault == 'non_json'


# Short listing pages


@pytest.fixture
def many_streams(make_sandbox: Callable[..., AcmeSandbox]) -> tuple[AcmeSandbox, list[str]]:
    sandbox = make_sandbox()
    ids = [f's{i:03d}' for i in range(24)]
    for stream_id in reversed(ids):
        sandbox.add_stream(stream_id, created_at=CREATED)
    sandbox.add_stream('zz-hidden')
    sandbox.forbid_stream('zz-hidden', status=404)
    return sandbox, ids


@pytest.mark.parametrize(
    'page_limit, params, sizes',
    [
        # A divisible count: the last full page ends the listing, no empty page after it.
        (4, {}, [4] * 6),
        (4, {'limit': 1000}, [4] * 6),
        (5, {'limit': 7}, [5] * 4 + [4]),
        (1, {}, [1] * 24),
        # `limit` below the cap: the cap changes nothing.
        (10, {'limit': 3}, [3] * 8),
        (None, {'limit': 10}, [10, 10, 4]),
        (None, {}, [24]),
    ],
)
def test_listing_page_limit_serves_short_pages_until_every_stream_is_listed(
    many_streams: tuple[AcmeSandbox, list[str]],
    http: requests.Session,
    page_limit: int | None,
    params: dict[str, Any],
    sizes: list[int],
) -> None:
    sandbox, ids = many_streams
    assert sandbox.listing_page_limit is None
    sandbox.listing_page_limit = page_limit
    entries, pages = list_all(http, sandbox, **params)
    assert [entry['id'] for entry in entries] == ids
    assert [len(page['data']) for page in pages] == sizes
    assert [page['next_page_token'] is None for page in pages] == [False] * (len(pages) - 1) + [True]


def test_listing_page_limit_with_short_page_faults_and_a_change_midway(
    many_streams: tuple[AcmeSandbox, list[str]], http: requests.Session
) -> None:
    sandbox, ids = many_streams
    sandbox.listing_page_limit = 3
    sandbox.faults = Faults(short_page_rate=0.4)
    first = get(http, sandbox, '/api/v1/streams', limit=50).json()
    # The knob is read per request: a token handed out before a change goes on under the new cap.
    sandbox.listing_page_limit = 2
    rest, pages = list_all(http, sandbox, page_token=first['next_page_token'])
    seen = [entry['id'] for entry in first['data'] + rest]
    assert seen == ids, 'every stream, each once, in order'
    assert all(len(page['data']) <= 2 for page in pages)
    assert any(record.fault == 'short_page' for record in sandbox.stats.records)
    # Requested limits are still what the stats report.
    assert {record.limit for record in sandbox.stats.records} == {50}


@pytest.mark.parametrize('bad', [0, -1, 2.5, True, '3'])
def test_listing_page_limit_refuses_non_positive_integers(
    many_streams: tuple[AcmeSandbox, list[str]], bad: Any
) -> None:
    sandbox, _ = many_streams
    with pytest.raises(ValueError):
        sandbox.listing_page_limit = bad
    assert sandbox.listing_page_limit is None


# What the listing says of created_at


@pytest.mark.parametrize(
    'value',
    [
        # The same instant in other RFC 3339 forms.
        '2026-01-04T11:00:00+01:00',
        '2026-01-04T10:00:00.000000000Z',
        '2026-01-04T05:15:00.5-04:45',
        '2026-01-04t10:00:00z',
        # Another instant, and no RFC 3339 at all.
        '2026-01-05T10:00:00Z',
        'yesterday',
        '',
        '2026-01-04 10:00:00',
        # Other JSON values.
        1767520800,
        1767520800.5,
        None,
        True,
        {'seconds': 1767520800},
        [2026, 1, 4],
        'naïve ✓',
    ],
)
def test_set_listed_created_at_changes_only_what_the_listing_says(
    two_streams: AcmeSandbox, http: requests.Session, value: Any
) -> None:
    sandbox = two_streams
    before = get(http, sandbox, '/api/v1/streams').content

    sandbox.set_listed_created_at('prod-web', value)

    response = get(http, sandbox, '/api/v1/streams')
    entries = {entry['id']: entry for entry in response.json()['data']}
    assert entries['prod-web'] == {'id': 'prod-web', 'name': 'prod-web', 'created_at': value}
    assert list(entries['prod-web']) == ['id', 'name', 'created_at'], 'the key keeps its place'
    # Strings are served verbatim, not re-rendered.
    if isinstance(value, str):
        assert json.dumps(value, ensure_ascii=False).encode() in response.content
    assert parse_rfc3339(entries['audit']['created_at']) == parse_rfc3339(CREATED)
    # The stream's logs and order are its own, whatever the listing says.
    assert crawl_ids(http, sandbox, 'prod-web') == [f'prod-web-{i}' for i in range(5)]

    sandbox.reset_listed_created_at('prod-web')
    assert get(http, sandbox, '/api/v1/streams').content == before


def test_omit_drops_the_created_at_key(two_streams: AcmeSandbox, http: requests.Session) -> None:
    sandbox = two_streams
    assert sandbox.OMIT is OMIT
    before = get(http, sandbox, '/api/v1/streams').content
    sandbox.set_listed_created_at('prod-web', sandbox.OMIT)
    response = get(http, sandbox, '/api/v1/streams')
    assert b'{"id":"prod-web","name":"prod-web"}' in response.content
    entries = {entry['id']: entry for entry in response.json()['data']}
    assert entries['prod-web'] == {'id': 'prod-web', 'name': 'prod-web'}
    assert 'created_at' in entries['audit']

    # A form, then another, then back: each replaces the last, and reset restores the default.
    sandbox.set_listed_created_at('prod-web', None)
    assert b'{"id":"prod-web","name":"prod-web","created_at":null}' in get(http, sandbox, '/api/v1/streams').content
    sandbox.set_listed_created_at('prod-web', OMIT)
    sandbox.reset_listed_created_at('prod-web')
    assert get(http, sandbox, '/api/v1/streams').content == before


def test_set_listed_created_at_per_account_and_refusals(two_streams: AcmeSandbox, http: requests.Session) -> None:
    sandbox = two_streams
    sandbox.add_account(OTHER)
    sandbox.add_stream('prod-web', name='Theirs', created_at=CREATED, token=OTHER)
    sandbox.set_listed_created_at('prod-web', 0, token=OTHER)
    assert listed(http, sandbox, token=OTHER)['prod-web']['created_at'] == 0
    assert parse_rfc3339(listed(http, sandbox)['prod-web']['created_at']) == parse_rfc3339(CREATED)
    with pytest.raises(KeyError):
        sandbox.set_listed_created_at('nope', CREATED)
    with pytest.raises(KeyError):
        sandbox.reset_listed_created_at('nope')
    # What JSON or UTF-8 cannot carry fails at once, and the listing keeps its last form.
    for unservable in (math.nan, math.inf, '\ud800', {1j: 1}):
        with pytest.raises((ValueError, TypeError)):
            sandbox.set_listed_created_at('prod-web', unservable, token=OTHER)
    assert listed(http, sandbox, token=OTHER)['prod-web']['created_at'] == 0


def test_the_listing_follows_a_removed_and_recreated_stream(two_streams: AcmeSandbox, http: requests.Session) -> None:
    sandbox = two_streams
    sandbox.set_listed_created_at('prod-web', OMIT)
    sandbox.remove_stream('prod-web')
    sandbox.add_stream('prod-web', created_at='2026-06-01T00:00:00Z')
    # A new stream, a new entry: an override of the old one does not carry over.
    created = listed(http, sandbox)['prod-web']['created_at']
    assert parse_rfc3339(created) == parse_rfc3339('2026-06-01T00:00:00Z')


# Raw bytes, served without decoding

# Not valid UTF-8: a lone 0xff, a surrogate encoded as if it were a character (CESU-8), a cut sequence.
INVALID_UTF8 = b'{"id":"u1","timestamp":"2026-09-21T14:00:01Z","message":"bad \xff byte"}'
ENCODED_SURROGATE = b'{"id":"u2","timestamp":"2026-09-21T14:00:02Z","message":"cesu \xed\xa0\x80"}'
TRUNCATED = b'{"id":"u3","timestamp":"2026-09-21T14:00:03Z","message":"cut \xe2\x82"}'
# Valid UTF-8 and valid JSON syntax, but the escape decodes to a lone surrogate no UTF-8 can hold.
LONE_SURROGATE = b'{"id":"\\ud800x","timestamp":"2026-09-21T14:00:04Z","message":"lone \\udfff"}'
RAW_LOGS = [
    ('2026-09-21T14:00:01Z', 'u1', INVALID_UTF8),
    ('2026-09-21T14:00:02Z', 'u2', ENCODED_SURROGATE),
    ('2026-09-21T14:00:03Z', 'u3', TRUNCATED),
    # Placed by a sort_id that mirrors the id: the page token must carry the surrogate too.
    ('2026-09-21T14:00:04Z', '\ud800x', LONE_SURROGATE),
    ('2026-09-21T14:00:05Z', 'u5', b'{"id":"u5","timestamp":"2026-09-21T14:00:05Z","message":"after"}'),
]


@pytest.fixture
def raw_stream(make_sandbox: Callable[..., AcmeSandbox]) -> AcmeSandbox:
    sandbox = make_sandbox()
    sandbox.add_stream('poison')
    for at, sort_id, raw in RAW_LOGS:
        sandbox.add_raw_log('poison', at=at, sort_id=sort_id, raw=raw)
    return sandbox


def test_raw_bytes_are_served_verbatim_even_when_not_utf8(raw_stream: AcmeSandbox, http: requests.Session) -> None:
    for raw in (INVALID_UTF8, ENCODED_SURROGATE, TRUNCATED):
        with pytest.raises(UnicodeDecodeError):
            raw.decode()
    response = get(http, raw_stream, logs_path('poison'), start_time=iso_utc(T0 - 3600))
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'application/json'
    expected = b'{"data":[' + b','.join(raw for _, _, raw in RAW_LOGS) + b'],"next_page_token":null}'
    assert response.content == expected
    assert response.headers['Content-Length'] == str(len(expected))
    # Python's own decoder agrees the bytes are what a strict client must survive.
    with pytest.raises(UnicodeDecodeError):
        response.content.decode()
    assert all(record.served == len(RAW_LOGS) and record.status == 200 for record in raw_stream.stats.records)


def test_raw_bytes_page_one_at_a_time(raw_stream: AcmeSandbox, http: requests.Session) -> None:
    served: list[bytes] = []
    query: dict[str, Any] = {'start_time': iso_utc(T0 - 3600), 'limit': 1}
    for _ in range(10):
        response = get(http, raw_stream, logs_path('poison'), **query)
        assert response.status_code == 200, response.text
        head, _, tail = response.content.partition(b'],"next_page_token":')
        served.append(head.removeprefix(b'{"data":['))
        token = json.loads(tail[:-1])
        if token is None:
            break
        query = {'page_token': token}
    # The fifth page resumes after the '\ud800x' sort key, which its token carried.
    assert served == [raw for _, _, raw in RAW_LOGS]
    assert json.loads(LONE_SURROGATE)['id'] == '\ud800x'
