# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The sandbox keeps the promises of ACME's Logs API contract (version 1), through real HTTP; and its knobs do what the
check's tests rely on them for, where a knob that did nothing would let those tests pass without testing anything.

Nothing of the check is involved. The sandboxes here run on a clock of their own (`clock`, which shadows conftest's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.clock import FakeClock
from tests.sandbox import OMIT, AcmeSandbox, Faults, generate_logs
from tests.sandbox.timefmt import NS_PER_SECOND, iso_utc, parse_rfc3339, seconds_to_ns

pytestmark = pytest.mark.integration

TOKEN = 'sandbox-token'
T0 = 1_790_000_000.25  # 2026-09-21, a quarter second into a rate-limit window
CREATED = '2026-01-04T10:00:00Z'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., AcmeSandbox]]:
    started: list[AcmeSandbox] = []

    def make(**options: Any) -> AcmeSandbox:
        options.setdefault('rate_limits', False)
        sandbox = AcmeSandbox(clock=clock.time, **options)
        started.append(sandbox.start())
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(
    http: requests.Session, sandbox: AcmeSandbox, path: str, *, token: str | None = TOKEN, **params: Any
) -> requests.Response:
    headers = {'Authorization': f'Bearer {token}'} if token is not None else {}
    return http.get(sandbox.url + path, params=params, headers=headers, timeout=5)


def error_code(response: requests.Response) -> str:
    return response.json()['error']['code']


def logs_path(stream: str) -> str:
    return f'/api/v1/streams/{stream}/logs'


def crawl(
    http: requests.Session, sandbox: AcmeSandbox, path: str, *, token: str = TOKEN, **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every entry of a query (logs, or the listing at /api/v1/streams), following page tokens; and each page."""
    entries: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    query = params
    for _ in range(10_000):
        response = get(http, sandbox, path, token=token, **query)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        entries.extend(pages[-1]['data'])
        if pages[-1]['next_page_token'] is None:
            return entries, pages
        query = {'page_token': pages[-1]['next_page_token']}
    raise AssertionError('the query did not end')


def ids(http: requests.Session, sandbox: AcmeSandbox, path: str, **params: Any) -> list[str]:
    return [entry['id'] for entry in crawl(http, sandbox, path, **params)[0]]


def order_key(log: dict[str, Any]) -> tuple[int, str]:
    return parse_rfc3339(log['timestamp']), log['id']


@pytest.fixture
def seeded(make_sandbox: Callable[..., AcmeSandbox], clock: FakeClock) -> tuple[AcmeSandbox, list[dict[str, Any]]]:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web', name='Production web tier')
    logs = generate_logs(seed=7, start=T0 - 3600, end=T0 - 120, count=400, tie_rate=0.5, late_rate=0)
    sandbox.add_logs('prod-web', logs)
    return sandbox, logs


@pytest.fixture
def two_streams(make_sandbox: Callable[..., AcmeSandbox]) -> AcmeSandbox:
    """`prod-web` and `audit`, five logs each, all settled."""
    sandbox = make_sandbox()
    for stream in ('audit', 'prod-web'):
        sandbox.add_stream(stream, created_at=CREATED)
        logs = [{'id': f'{stream}-{i}', 'timestamp': iso_utc(T0 - 600 + i), 'message': 'm'} for i in range(5)]
        sandbox.add_logs(stream, logs)
    return sandbox


# Authentication and authorisation


def test_auth(make_sandbox, http):
    sandbox = make_sandbox(tokens_without_scope={'weak'})
    for stream in ('prod-web', 'secret', 'hidden'):
        sandbox.add_stream(stream)
    sandbox.forbid_stream('secret', status=403)
    sandbox.forbid_stream('hidden', status=404)
    start = iso_utc(T0 - 60)

    missing = get(http, sandbox, logs_path('prod-web'), token=None, start_time=start)
    assert (missing.status_code, error_code(missing)) == (401, 'unauthorized')
    assert missing.headers['Content-Type'] == 'application/json'
    assert {'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'} <= set(missing.headers)
    for bad in ('wrong', 'sandbox-token-x'):
        response = get(http, sandbox, logs_path('prod-web'), token=bad, start_time=start)
        assert (response.status_code, error_code(response)) == (401, 'unauthorized')
    assert http.get(sandbox.url + '/api/v1/streams', headers={'Authorization': f'Basic {TOKEN}'}).status_code == 401

    weak = get(http, sandbox, '/api/v1/streams', token='weak')
    assert (weak.status_code, error_code(weak)) == (403, 'forbidden')
    secret = get(http, sandbox, logs_path('secret'), start_time=start)
    assert (secret.status_code, error_code(secret)) == (403, 'forbidden')
    for stream in ('hidden', 'nope', 'Bad_Caps'):
        absent = get(http, sandbox, logs_path(stream), start_time=start)
        assert (absent.status_code, error_code(absent)) == (404, 'not_found')
    assert ids(http, sandbox, '/api/v1/streams') == ['prod-web'], 'the listing: what the token may read'
    sandbox.allow_stream('secret')
    assert ids(http, sandbox, '/api/v1/streams') == ['prod-web', 'secret']
    assert get(http, sandbox, logs_path('secret'), start_time=start).status_code == 200


# Order, ties, paging, bounds


def test_order_across_pages_with_ties(seeded, http):
    sandbox, logs = seeded
    # The data the other tests get from generate_logs is tricky in the ways the contract allows.
    instants = [parse_rfc3339(log['timestamp']) for log in logs]
    assert len(set(instants)) < len(instants) * 0.7, 'the data must be full of ties'
    assert any(a[1] > b[1] for a, b in zip(map(order_key, logs), map(order_key, logs[1:]))), 'ids out of time order'
    assert any(0 < b - a < 1000 for a, b in zip(instants, instants[1:])), 'ties broken only at the nanosecond'

    served, pages = crawl(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 3600), limit=7)
    assert [log['id'] for log in served] == [log['id'] for log in logs]
    assert [order_key(log) for log in served] == sorted(order_key(log) for log in logs)
    unserved = ('visible_at', 'timestamp')
    assert [{k: v for k, v in log.items() if k not in unserved} for log in served] == [
        {k: v for k, v in log.items() if k not in unserved} for log in logs
    ]
    assert all(len(page['data']) == 7 for page in pages[:-1])


def test_bounds_and_default_end_time(seeded, http, clock):
    sandbox, logs = seeded
    start, end = parse_rfc3339(logs[200]['timestamp']), parse_rfc3339(logs[300]['timestamp'])
    served = ids(http, sandbox, logs_path('prod-web'), start_time=iso_utc(start), end_time=iso_utc(end), limit=50)
    assert served == [log['id'] for log in logs if start <= parse_rfc3339(log['timestamp']) < end]

    # end_time defaults to the first request's arrival and stays fixed for the whole query.
    first = get(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 600), limit=5).json()
    clock.advance(10)
    sandbox.add_logs('prod-web', [{'id': 'new', 'timestamp': iso_utc(clock.time() - 5), 'message': 'after'}])
    assert 'new' not in ids(http, sandbox, logs_path('prod-web'), page_token=first['next_page_token'])


def test_short_and_empty_pages_keep_a_token(make_sandbox, http, clock):
    sandbox = make_sandbox(faults=Faults(short_page_rate=0.5), seed=3)
    sandbox.add_stream('prod-web')
    logs = generate_logs(seed=1, start=clock.time() - 600, end=clock.time() - 120, count=300, late_rate=0)
    sandbox.add_logs('prod-web', logs)
    served, pages = crawl(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 600), limit=20)
    assert [log['id'] for log in served] == [log['id'] for log in logs]
    sizes = [(len(page['data']), page['next_page_token'] is not None) for page in pages]
    assert (0, True) in sizes
    assert any(0 < size < 20 and more for size, more in sizes)


@pytest.mark.parametrize(
    'page_limit, params, sizes',
    [
        (None, {'limit': 5}, [5] * 4 + [4]),
        # The knob: ACME's own cap on a listing page. A divisible count: the last full page ends the listing.
        (4, {'limit': 1000}, [4] * 6),
        (5, {'limit': 7}, [5] * 4 + [4]),
        (10, {'limit': 3}, [3] * 8),  # `limit` below the cap: the cap changes nothing
    ],
)
def test_the_listing_pages_through_every_readable_stream(make_sandbox, http, page_limit, params, sizes):
    sandbox = make_sandbox()
    stream_ids = [f's{i:03d}' for i in range(24)]
    for stream_id in reversed(stream_ids):
        sandbox.add_stream(stream_id, name=f'Stream {stream_id}', created_at=CREATED)
    sandbox.add_stream('zz-hidden')
    sandbox.forbid_stream('zz-hidden', status=404)
    sandbox.listing_page_limit = page_limit
    listed, pages = crawl(http, sandbox, '/api/v1/streams', **params)
    assert [stream['id'] for stream in listed] == stream_ids
    assert [len(page['data']) for page in pages] == sizes
    assert listed[0]['name'] == 'Stream s000' and parse_rfc3339(listed[0]['created_at']) == parse_rfc3339(CREATED)


def test_page_token_expiry(seeded, http, clock):
    sandbox, logs = seeded
    path = logs_path('prod-web')
    token = get(http, sandbox, path, start_time=iso_utc(T0 - 3600), limit=10).json()['next_page_token']
    clock.advance(300)
    second = get(http, sandbox, path, page_token=token)
    assert [log['id'] for log in second.json()['data']] == [log['id'] for log in logs[10:20]]
    clock.advance(1)
    expired = get(http, sandbox, path, page_token=token)
    assert (expired.status_code, error_code(expired)) == (400, 'page_token_expired')

    # The early-expiry fault does not consume the token: it works again once the fault is off.
    fresh = second.json()['next_page_token']
    sandbox.faults = Faults(token_expiry_rate=1.0)
    assert error_code(get(http, sandbox, path, page_token=fresh)) == 'page_token_expired'
    sandbox.faults = Faults()
    retried = get(http, sandbox, path, page_token=fresh)
    assert [log['id'] for log in retried.json()['data']] == [log['id'] for log in logs[20:30]]

    tampered = get(http, sandbox, path, page_token=fresh[:-2] + ('AA' if fresh[-2:] != 'AA' else 'BB'))
    assert (tampered.status_code, error_code(tampered)) == (400, 'invalid_parameter')


# Late arrival, retention


def test_late_arrival(make_sandbox, http, clock):
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    ts = clock.time() - 10
    sandbox.add_logs(
        'prod-web',
        [
            {'id': 'on-time', 'timestamp': iso_utc(ts), 'message': 'a'},
            {'id': 'late', 'timestamp': iso_utc(ts), 'message': 'b', 'visible_at': ts + 40},
        ],
    )
    query = {'start_time': iso_utc(ts - 1), 'end_time': iso_utc(ts + 1)}
    assert ids(http, sandbox, logs_path('prod-web'), **query) == ['on-time']
    clock.advance(30)
    served, _ = crawl(http, sandbox, logs_path('prod-web'), **query)
    assert [log['id'] for log in served] == ['late', 'on-time']
    assert 'visible_at' not in served[0]
    # Nor can a test make data the contract rules out: no log readable later than 60 s after its timestamp.
    with pytest.raises(ValueError, match='visible_at'):
        sandbox.add_logs('prod-web', [{'id': 'x', 'timestamp': iso_utc(ts), 'message': '', 'visible_at': ts + 61}])


def test_retention(make_sandbox, http, clock):
    sandbox = make_sandbox()
    sandbox.add_stream('audit')
    week = 7 * 86400
    sandbox.add_logs(
        'audit',
        [
            {'id': 'old', 'timestamp': iso_utc(clock.time() - week + 5), 'message': 'x'},
            {'id': 'new', 'timestamp': iso_utc(clock.time() - 60), 'message': 'y'},
        ],
    )
    first = get(http, sandbox, logs_path('audit'), start_time=iso_utc(clock.time() - week), limit=1).json()
    assert [log['id'] for log in first['data']] == ['old']
    clock.advance(10)
    assert ids(http, sandbox, logs_path('audit'), start_time=iso_utc(clock.time() - week)) == ['new']


# Rate limits, and the violations other tests count (a request sent while ACME had said to wait)


def test_rate_limits_and_violations(make_sandbox, http, clock):
    sandbox = make_sandbox(rate_limits=True, per_second=3, per_minute=5)
    path = '/api/v1/streams'
    assert [get(http, sandbox, path).headers['X-RateLimit-Remaining'] for _ in range(3)] == ['2', '1', '0']

    limited = get(http, sandbox, path)
    assert (limited.status_code, error_code(limited)) == (429, 'rate_limited')
    assert limited.headers['Retry-After'] == '1'
    # Reset is when this token may send again: never earlier than Retry-After says.
    assert limited.headers['X-RateLimit-Reset'] == str(int(T0) + 2)
    assert sandbox.stats.violations == 0

    # Sending again while told to wait is a violation, and waits grow.
    again = get(http, sandbox, path)
    assert again.status_code == 429 and int(again.headers['Retry-After']) == 2
    assert sandbox.stats.violations == 1

    clock.advance(2)
    ok = get(http, sandbox, path)
    assert ok.status_code == 200
    # Now the minute window (5) binds: it has one request left, the second window two.
    assert (ok.headers['X-RateLimit-Limit'], ok.headers['X-RateLimit-Remaining']) == ('5', '1')
    assert get(http, sandbox, path).status_code == 200
    minute = get(http, sandbox, path)
    assert minute.status_code == 429
    assert int(minute.headers['Retry-After']) == (int(T0) // 60 + 1) * 60 - int(clock.time())
    assert sandbox.stats.by_status == {200: 5, 429: 3}


def test_503_retry_after_sets_a_deadline(make_sandbox, http):
    sandbox = make_sandbox(faults=Faults(error_rate=1.0), seed=5)
    for _ in range(100):
        response = get(http, sandbox, '/api/v1/streams')
        if 'Retry-After' in response.headers:
            break
    assert response.status_code == 503
    assert sandbox.stats.violations == 0
    sandbox.faults = Faults()
    assert get(http, sandbox, '/api/v1/streams').status_code == 200  # limits off: counted, not refused
    assert sandbox.stats.violations == 1


# ACME's clock


def test_date_header_is_acmes_clock_to_the_second(make_sandbox, http):
    # T0 + 90.7 s is 14:14:50.95: a Date is floored, never rounded up into a second not yet begun.
    sandbox = make_sandbox(clock_offset=90.7, rate_limits=True, per_second=1)
    answers = {'ok': get(http, sandbox, '/api/v1/streams'), 'rate_limited': get(http, sandbox, '/api/v1/streams')}
    sandbox.rate_limits = False
    answers['unauthorized'] = get(http, sandbox, '/api/v1/streams', token='wrong')
    sandbox.faults = Faults(error_rate=1.0)
    answers['injected_error'] = get(http, sandbox, '/api/v1/streams')
    sandbox.faults = Faults(non_json_rate=1.0)
    answers['injected_html'] = get(http, sandbox, '/api/v1/streams')
    sandbox.faults = Faults()
    # An answer http.server writes itself, without asking the sandbox.
    answers['unknown_method'] = http.options(sandbox.url + '/api/v1/streams', timeout=5)

    assert [answer.status_code // 100 for answer in answers.values()] == [2, 4, 4, 5, 2, 5]
    # requests folds repeated headers into one value; urllib3's raw headers keep each one.
    dates = {name: answer.raw.headers.getlist('Date') for name, answer in answers.items()}
    assert dates == dict.fromkeys(answers, ['Mon, 21 Sep 2026 14:14:50 GMT'])


def test_clock_offset_moves_acmes_now(make_sandbox, http, clock):
    sandbox = make_sandbox(rate_limits=True)
    sandbox.add_stream('prod-web')
    ts = clock.time() - 10
    sandbox.add_logs('prod-web', [{'id': 'late', 'timestamp': iso_utc(ts), 'message': 'x', 'visible_at': ts + 40}])
    path = logs_path('prod-web')

    def acme_sees() -> tuple[list[str], int, int, str]:
        """Late arrival, the start_time range and the rate-limit window, from the check's clock."""
        visible = ids(http, sandbox, path, start_time=iso_utc(ts - 1), end_time=iso_utc(ts + 1))
        in_my_future = get(http, sandbox, path, start_time=iso_utc(clock.time() + 20))
        at_my_retention_edge = get(http, sandbox, path, start_time=iso_utc(clock.time() - 7 * 86400 + 10))
        reset = get(http, sandbox, '/api/v1/streams').headers['X-RateLimit-Reset']
        return visible, in_my_future.status_code, at_my_retention_edge.status_code, reset

    assert acme_sees() == ([], 400, 200, str(int(T0) + 1))
    sandbox.clock_offset = 45.0
    assert acme_sees() == (['late'], 200, 400, str(int(T0) + 46))


# Errors: transient ones, and one stream's


def test_transport_faults(make_sandbox, http):
    sandbox = make_sandbox(faults=Faults(error_rate=1.0), seed=2)
    responses = [get(http, sandbox, '/api/v1/streams') for _ in range(40)]
    assert {r.status_code for r in responses} == {500, 502, 503, 504}
    assert {'application/json', 'text/html', None} <= {r.headers.get('Content-Type') for r in responses}

    sandbox.faults = Faults(non_json_rate=1.0)
    html = get(http, sandbox, '/api/v1/streams')
    assert html.status_code == 200 and html.text.startswith('<!DOCTYPE html>')

    sandbox.faults = Faults(disconnect_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        get(http, sandbox, '/api/v1/streams')

    sandbox.faults = Faults(slow_rate=1.0, slow_seconds=0.5)
    with pytest.raises(requests.Timeout):
        http.get(sandbox.url + '/api/v1/streams', headers={'Authorization': f'Bearer {TOKEN}'}, timeout=0.1)

    sandbox.faults = Faults()
    assert get(http, sandbox, '/api/v1/streams').status_code == 200


def test_a_failing_stream_answers_its_5xx_and_nothing_else_does(two_streams, http):
    sandbox = two_streams
    start = iso_utc(T0 - 3600)
    # A token from before the outage: page-token requests fail too, and the token outlives it.
    before = get(http, sandbox, logs_path('prod-web'), start_time=start, limit=2).json()

    sandbox.fail_stream('prod-web')

    failed = get(http, sandbox, logs_path('prod-web'), start_time=start)
    assert (failed.status_code, error_code(failed)) == (503, 'unavailable')
    assert 'Retry-After' not in failed.headers
    assert {'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Date'} <= set(failed.headers)
    assert get(http, sandbox, logs_path('prod-web'), page_token=before['next_page_token']).status_code == 503
    # The listing and the other stream are untouched.
    assert ids(http, sandbox, '/api/v1/streams') == ['audit', 'prod-web']
    assert ids(http, sandbox, logs_path('audit'), start_time=start, limit=2) == [f'audit-{i}' for i in range(5)]

    sandbox.heal_stream('prod-web')
    resumed = get(http, sandbox, logs_path('prod-web'), page_token=before['next_page_token'])
    assert [log['id'] for log in resumed.json()['data']] == ['prod-web-2', 'prod-web-3']


@pytest.mark.parametrize(
    'status, code',
    [
        (500, 'internal_error'),
        (502, 'bad_gateway'),
        (504, 'gateway_timeout'),
        (429, 'rate_limited'),  # a token limited for one stream's requests only: a stream's long Retry-After
    ],
)
def test_stream_failure_statuses(two_streams, http, status, code):
    two_streams.fail_stream('audit', status=status)
    response = get(http, two_streams, logs_path('audit'), start_time=iso_utc(T0 - 60))
    assert (response.status_code, error_code(response)) == (status, code)


def test_a_streams_retry_after_binds_that_stream_only(two_streams, http, clock):
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


def test_stream_failures_count_against_the_rate_limits(two_streams, http):
    sandbox = two_streams
    sandbox.rate_limits = True
    sandbox.fail_stream('prod-web')
    start = iso_utc(T0 - 60)
    remaining = [get(http, sandbox, logs_path('prod-web'), start_time=start) for _ in range(10)]
    assert [r.headers['X-RateLimit-Remaining'] for r in remaining] == [str(n) for n in range(9, -1, -1)]
    # The 11th request of the second, for any stream, is over the token's limit.
    limited = get(http, sandbox, logs_path('audit'), start_time=start)
    assert (limited.status_code, error_code(limited)) == (429, 'rate_limited')


# Timestamps: offsets, precision, the forms requests may use; bad parameters


def test_offsets_render_the_exact_instant(make_sandbox, http, clock):
    sandbox = make_sandbox(seed=11)
    sandbox.add_stream('prod-web')
    logs = generate_logs(seed=2, start=clock.time() - 3600, end=clock.time() - 120, count=300, late_rate=0)
    sandbox.add_logs('prod-web', logs)
    first, _ = crawl(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 3600), limit=1000)
    second, _ = crawl(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 3600), limit=13)
    assert [log['timestamp'] for log in first] == [log['timestamp'] for log in second], 'stable rendering'
    for given, served in zip(logs, first):
        assert parse_rfc3339(served['timestamp']) == parse_rfc3339(given['timestamp'])
    shapes = [re.fullmatch(r'[-\d]{10}T[:\d]{8}(?:\.(\d+))?(Z|[+-]\d\d:\d\d)', log['timestamp']) for log in first]
    assert {'Z', '+14:00', '-00:00', '+05:45'} <= {shape[2] for shape in shapes if shape}
    assert {len(shape[1] or '') for shape in shapes if shape} == set(range(10))


def test_request_timestamp_forms(seeded, http):
    sandbox, logs = seeded
    start_ns = parse_rfc3339(logs[100]['timestamp'])
    expected = next(log['id'] for log in logs if parse_rfc3339(log['timestamp']) >= start_ns)
    utc = iso_utc(start_ns).replace('Z', '')
    seconds, fraction = divmod(start_ns, NS_PER_SECOND)
    plus_two = iso_utc((seconds + 7200) * NS_PER_SECOND + fraction).replace('Z', '+02:00')
    for form in (utc + 'Z', utc + 'z', utc.replace('T', 't') + 'Z', utc + '+00:00', utc + '-00:00', plus_two):
        response = get(http, sandbox, logs_path('prod-web'), start_time=form, limit=1)
        assert response.status_code == 200, (form, response.text)
        assert response.json()['data'][0]['id'] == expected


@pytest.mark.parametrize(
    'params, name',
    [
        ({}, 'start_time'),
        ({'start_time': '2026-09-21T10:00:00'}, 'start_time'),
        ({'start_time': '2026-09-21T10:00:00.1234567890Z'}, 'start_time'),
        ({'start_time': '2026-02-30T10:00:00Z'}, 'start_time'),
        ({'start_time': iso_utc(T0 - 60), 'end_time': iso_utc(T0 - 61)}, 'end_time'),
        ({'start_time': iso_utc(T0 - 60), 'limit': '0'}, 'limit'),
        ({'start_time': iso_utc(T0 - 60), 'limit': '1001'}, 'limit'),
        ({'page_token': 'garbage'}, 'page_token'),
    ],
)
def test_invalid_parameter(make_sandbox, http, params, name):
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    response = get(http, sandbox, logs_path('prod-web'), **params)
    assert (response.status_code, error_code(response)) == (400, 'invalid_parameter')
    assert name in response.json()['error']['message']


def test_unencoded_plus_is_a_client_bug(make_sandbox, http):
    # As any server decoding a query string: an unencoded '+' is a space, so a check that forgot to encode fails here.
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    raw = iso_utc(T0 - 60).replace('Z', '+00:00')
    response = http.get(
        f'{sandbox.url}{logs_path("prod-web")}?start_time={raw}', headers={'Authorization': f'Bearer {TOKEN}'}
    )
    assert error_code(response) == 'invalid_parameter'


def test_start_time_out_of_range(make_sandbox, http):
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    for start in (T0 - 7 * 86400 - 1, T0 + 1):
        response = get(http, sandbox, logs_path('prod-web'), start_time=iso_utc(start))
        assert (response.status_code, error_code(response)) == (400, 'start_time_out_of_range')
    for start in (T0 - 7 * 86400, T0):
        assert get(http, sandbox, logs_path('prod-web'), start_time=iso_utc(start)).status_code == 200


# What the listing says of created_at (the cursor tests change it, and rely on it being served as set)


@pytest.mark.parametrize(
    'value', ['2026-01-04T11:00:00+01:00', '2026-01-05T10:00:00Z', 'yesterday', 1767520800, None, {'s': 1}, OMIT]
)
def test_set_listed_created_at_changes_only_what_the_listing_says(two_streams, http, value):
    sandbox = two_streams
    before = get(http, sandbox, '/api/v1/streams').content

    sandbox.set_listed_created_at('prod-web', value)

    response = get(http, sandbox, '/api/v1/streams')
    entries = {entry['id']: entry for entry in response.json()['data']}
    assert entries['prod-web'] == {
        'id': 'prod-web',
        'name': 'prod-web',
        **({} if value is OMIT else {'created_at': value}),
    }
    if isinstance(value, str):
        assert json.dumps(value).encode() in response.content, 'served verbatim, not re-rendered'
    assert parse_rfc3339(entries['audit']['created_at']) == parse_rfc3339(CREATED)
    # The stream's logs are its own, whatever the listing says.
    assert ids(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 3600)) == [
        f'prod-web-{i}' for i in range(5)
    ]

    sandbox.reset_listed_created_at('prod-web')
    assert get(http, sandbox, '/api/v1/streams').content == before


# Logs served as raw bytes (the poison tests' logs), even when not UTF-8

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


def test_raw_bytes_are_served_verbatim_even_when_not_utf8(raw_stream, http):
    response = get(http, raw_stream, logs_path('poison'), start_time=iso_utc(T0 - 3600))
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'application/json'
    expected = b'{"data":[' + b','.join(raw for _, _, raw in RAW_LOGS) + b'],"next_page_token":null}'
    assert response.content == expected
    with pytest.raises(UnicodeDecodeError):
        response.content.decode()


def test_raw_bytes_page_one_at_a_time(raw_stream, http):
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


def test_raw_log_is_served_byte_for_byte_in_order(make_sandbox, http, clock):
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    at = iso_utc(clock.time() - 100)
    sandbox.add_logs(
        'prod-web', [{'id': 'a', 'timestamp': at, 'message': '1'}, {'id': 'z', 'timestamp': at, 'message': '2'}]
    )
    # Valid JSON that no encoder would write: past float range, past 64 bits, past 1,024 levels.
    hostile = b'"big":1e400,"wide":18446744073709551617,"deep":' + b'[' * 1100 + b']' * 1100
    raw = b'{"id":"m","timestamp":"%s","message":"poison","attributes":{%s}}' % (at.encode(), hostile)
    sandbox.add_raw_log('prod-web', at=at, sort_id='m', raw=raw)

    page = get(http, sandbox, logs_path('prod-web'), start_time=iso_utc(clock.time() - 200))
    assert page.content.count(raw) == 1
    # A stand-in for the poison lets Python's json, which would overflow its nesting, read the rest.
    body = json.loads(page.content.replace(raw, b'"POISON"'))
    assert [log if log == 'POISON' else log['id'] for log in body['data']] == ['a', 'POISON', 'z']


# The records other tests read their counts from


def test_stats_records(seeded, http):
    sandbox, _ = seeded
    sandbox.reset_stats()
    served, _ = crawl(http, sandbox, logs_path('prod-web'), start_time=iso_utc(T0 - 1800), limit=100)
    stats = sandbox.stats
    assert stats.logs_served == len(served) == sum(r.served for r in stats.records)
    assert stats.by_stream == {'prod-web': stats.requests}
    assert min(r.start_time_ns for r in stats.records) == seconds_to_ns(T0 - 1800)
    assert min(r.min_served_ts_ns for r in stats.records if r.served) >= seconds_to_ns(T0 - 1800)
    assert all(r.clock == T0 and r.status == 200 for r in stats.records)
    assert [r.page_token for r in stats.records][:2] == [False, True]
