# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The sandbox against the ACME Logs API contract, through real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.sandbox import AcmeSandbox, Faults, generate_bulk, generate_logs
from tests.sandbox.timefmt import NS_PER_SECOND, iso_utc, parse_rfc3339, seconds_to_ns

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


def date_headers(response: requests.Response) -> list[str]:
    # requests folds repeated headers into one value; urllib3's raw headers keep each one.
    return response.raw.headers.getlist('Date')


def listed_ids(http: requests.Session, sandbox: AcmeSandbox, *, token: str = TOKEN) -> list[str]:
    response = get(http, sandbox, '/api/v1/streams', token=token)
    assert response.status_code == 200, response.text
    return [stream['id'] for stream in response.json()['data']]


def crawl(
    http: requests.Session, sandbox: AcmeSandbox, stream: str, *, token: str = TOKEN, **params: Any
) -> tuple[list[dict[str, Any]], list[requests.Response]]:
    logs: list[dict[str, Any]] = []
    pages: list[requests.Response] = []
    query = params
    for _ in range(10_000):
        response = get(http, sandbox, f'/api/v1/streams/{stream}/logs', token=token, **query)
        assert response.status_code == 200, response.text
        pages.append(response)
        body = response.json()
        logs.extend(body['data'])
        if body['next_page_token'] is None:
            return logs, pages
        query = {'page_token': body['next_page_token']}
    raise AssertionError('crawl did not end')


def order_key(log: dict[str, Any]) -> tuple[int, str]:
    return parse_rfc3339(log['timestamp']), log['id']


def served_form(log: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in log.items() if k not in ('visible_at', 'timestamp')}


@pytest.fixture
def seeded(make_sandbox: Callable[..., AcmeSandbox], clock: FakeClock) -> tuple[AcmeSandbox, list[dict[str, Any]]]:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web', name='Production web tier')
    logs = generate_logs(seed=7, start=clock.now - 3600, end=clock.now - 120, count=400, tie_rate=0.5, late_rate=0)
    sandbox.add_logs('prod-web', logs)
    return sandbox, logs


# Authentication and authorisation


def test_auth(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session) -> None:
    sandbox = make_sandbox(tokens_without_scope={'weak'})
    sandbox.add_stream('prod-web')
    sandbox.add_stream('secret')
    sandbox.add_stream('hidden')
    sandbox.forbid_stream('secret', status=403)
    sandbox.forbid_stream('hidden', status=404)
    logs_path = '/api/v1/streams/prod-web/logs'

    missing = get(http, sandbox, logs_path, token=None, start_time=iso_utc(T0 - 60))
    assert (missing.status_code, error_code(missing)) == (401, 'unauthorized')
    assert missing.headers['Content-Type'] == 'application/json'
    assert {'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'} <= set(missing.headers)
    for bad in ('wrong', 'sandbox-token-x'):
        response = get(http, sandbox, logs_path, token=bad, start_time=iso_utc(T0 - 60))
        assert (response.status_code, error_code(response)) == (401, 'unauthorized')
    basic = http.get(sandbox.url + '/api/v1/streams', headers={'Authorization': f'Basic {TOKEN}'})
    assert basic.status_code == 401

    weak = get(http, sandbox, '/api/v1/streams', token='weak')
    assert (weak.status_code, error_code(weak)) == (403, 'forbidden')
    secret = get(http, sandbox, '/api/v1/streams/secret/logs', start_time=iso_utc(T0 - 60))
    assert (secret.status_code, error_code(secret)) == (403, 'forbidden')
    for stream in ('hidden', 'nope', 'Bad_Caps'):
        absent = get(http, sandbox, f'/api/v1/streams/{stream}/logs', start_time=iso_utc(T0 - 60))
        assert (absent.status_code, error_code(absent)) == (404, 'not_found')
    listing = get(http, sandbox, '/api/v1/streams').json()
    assert [s['id'] for s in listing['data']] == ['prod-web']
    sandbox.allow_stream('secret')
    assert listed_ids(http, sandbox) == ['prod-web', 'secret']
    assert get(http, sandbox, '/api/v1/streams/secret/logs', start_time=iso_utc(T0 - 60)).status_code == 200


# Accounts


@pytest.fixture
def two_accounts(
    make_sandbox: Callable[..., AcmeSandbox], clock: FakeClock
) -> tuple[AcmeSandbox, dict[str, list[dict[str, Any]]]]:
    """Two customers, each with a `prod-web` of their own logs and creation date; OTHER also has `audit`."""
    sandbox = make_sandbox()
    sandbox.add_account(OTHER)
    logs = {}
    for days, token in enumerate((TOKEN, OTHER), start=1):
        sandbox.add_stream('prod-web', created_at=T0 - days * 86400, token=token)
        logs[token] = generate_logs(seed=days, start=clock.now - 600, end=clock.now - 120, count=30, late_rate=0)
        sandbox.add_logs('prod-web', logs[token], token=token)
    sandbox.add_stream('audit', token=OTHER)
    return sandbox, logs


def test_accounts_see_only_their_own_streams(
    two_accounts: tuple[AcmeSandbox, dict[str, list[dict[str, Any]]]], http: requests.Session
) -> None:
    sandbox, logs = two_accounts
    for token in (TOKEN, OTHER):
        served, _ = crawl(http, sandbox, 'prod-web', token=token, start_time=iso_utc(T0 - 3600))
        assert [log['id'] for log in served] == [log['id'] for log in logs[token]]
        assert sandbox.log_count('prod-web', token=token) == len(logs[token])
    assert listed_ids(http, sandbox) == ['prod-web']
    assert listed_ids(http, sandbox, token=OTHER) == ['audit', 'prod-web']
    other_prod_web = get(http, sandbox, '/api/v1/streams', token=OTHER).json()['data'][1]
    assert parse_rfc3339(other_prod_web['created_at']) == seconds_to_ns(T0 - 2 * 86400)

    sandbox.forbid_stream('prod-web', token=OTHER)
    path, start = '/api/v1/streams/prod-web/logs', iso_utc(T0 - 3600)
    assert get(http, sandbox, path, token=OTHER, start_time=start).status_code == 403
    assert get(http, sandbox, path, start_time=start).status_code == 200

    # Stats tell accounts apart by label: tokens are secrets and never stored.
    records = sandbox.stats.records
    assert {record.account for record in records} == {'account-0', 'account-1'}
    assert TOKEN not in repr(records) and OTHER not in repr(records)


def test_page_tokens_are_bound_to_their_account(
    two_accounts: tuple[AcmeSandbox, dict[str, list[dict[str, Any]]]], http: requests.Session
) -> None:
    sandbox, _ = two_accounts
    logs_path, streams_path = '/api/v1/streams/prod-web/logs', '/api/v1/streams'
    logs_page = get(http, sandbox, logs_path, start_time=iso_utc(T0 - 3600), limit=5).json()
    streams_page = get(http, sandbox, streams_path, token=OTHER, limit=1).json()
    for path, token, page_token in (
        (logs_path, OTHER, logs_page['next_page_token']),
        (streams_path, TOKEN, streams_page['next_page_token']),
    ):
        refused = get(http, sandbox, path, token=token, page_token=page_token)
        assert (refused.status_code, error_code(refused)) == (400, 'invalid_parameter')
        assert 'page_token' in refused.json()['error']['message']
    assert get(http, sandbox, logs_path, page_token=logs_page['next_page_token']).status_code == 200


def test_token_rotation_and_revocation(
    seeded: tuple[AcmeSandbox, list[dict[str, Any]]], http: requests.Session
) -> None:
    sandbox, logs = seeded
    sandbox.add_token('rotated-token', same_account_as=TOKEN)
    first = get(http, sandbox, '/api/v1/streams/prod-web/logs', start_time=iso_utc(T0 - 3600), limit=50).json()
    # Same account: the new token may even continue a query the old one began.
    rest, _ = crawl(http, sandbox, 'prod-web', token='rotated-token', page_token=first['next_page_token'])
    assert [log['id'] for log in first['data'] + rest] == [log['id'] for log in logs]

    sandbox.revoke_token(TOKEN)
    revoked = get(http, sandbox, '/api/v1/streams')
    assert (revoked.status_code, error_code(revoked)) == (401, 'unauthorized')
    assert listed_ids(http, sandbox, token='rotated-token') == ['prod-web']
    # A revoked token is not handed out again, and only known tokens name an account.
    with pytest.raises(ValueError):
        sandbox.add_account(TOKEN)
    with pytest.raises(KeyError):
        sandbox.add_token('new-token', same_account_as='nobody')


# Order, ties, paging


def test_order_across_pages_with_ties(seeded: tuple[AcmeSandbox, list[dict[str, Any]]], http: requests.Session) -> None:
    sandbox, logs = seeded
    instants = [parse_rfc3339(log['timestamp']) for log in logs]
    assert len(set(instants)) < len(instants) * 0.7, 'the data must be full of ties'
    assert any(a[1] > b[1] for a, b in zip(map(order_key, logs), map(order_key, logs[1:]))), 'ids out of time order'
    assert any(0 < b - a < 1000 for a, b in zip(instants, instants[1:])), 'ties broken only at the nanosecond'

    served, pages = crawl(http, sandbox, 'prod-web', start_time=iso_utc(T0 - 3600), limit=7)
    assert [log['id'] for log in served] == [log['id'] for log in logs]
    assert [order_key(log) for log in served] == sorted(order_key(log) for log in logs)
    assert [served_form(log) for log in served] == [served_form(log) for log in logs]
    assert all(len(page.json()['data']) == 7 for page in pages[:-1])
    assert pages[-1].json()['next_page_token'] is None


def test_bounds_and_default_end_time(
    seeded: tuple[AcmeSandbox, list[dict[str, Any]]], http: requests.Session, clock: FakeClock
) -> None:
    sandbox, logs = seeded
    middle = parse_rfc3339(logs[200]['timestamp'])
    start, end = iso_utc(middle), iso_utc(parse_rfc3339(logs[300]['timestamp']))
    served, _ = crawl(http, sandbox, 'prod-web', start_time=start, end_time=end, limit=50)
    expected = [log['id'] for log in logs if middle <= parse_rfc3339(log['timestamp']) < parse_rfc3339(end)]
    assert [log['id'] for log in served] == expected

    # end_time defaults to the first request's arrival and stays fixed for the whole query.
    first = get(http, sandbox, '/api/v1/streams/prod-web/logs', start_time=iso_utc(T0 - 600), limit=5).json()
    clock.advance(10)
    sandbox.add_logs('prod-web', [{'id': 'new', 'timestamp': iso_utc(clock.now - 5), 'message': 'after'}])
    rest, _ = crawl(http, sandbox, 'prod-web', page_token=first['next_page_token'])
    assert 'new' not in {log['id'] for log in rest}
    assert sandbox.stats.records[-1].end_time_ns == seconds_to_ns(T0)


def test_short_and_empty_pages_keep_a_token(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock
) -> None:
    sandbox = make_sandbox(faults=Faults(short_page_rate=0.5), seed=3)
    sandbox.add_stream('prod-web')
    logs = generate_logs(seed=1, start=clock.now - 600, end=clock.now - 120, count=300, late_rate=0)
    sandbox.add_logs('prod-web', logs)
    served, pages = crawl(http, sandbox, 'prod-web', start_time=iso_utc(T0 - 600), limit=20)
    assert [log['id'] for log in served] == [log['id'] for log in logs]
    sizes = [(len(p.json()['data']), p.json()['next_page_token'] is not None) for p in pages]
    assert (0, True) in sizes
    assert any(0 < size < 20 and more for size, more in sizes)
    assert any(record.fault == 'short_page' for record in sandbox.stats.records)


def test_page_token_expiry(
    seeded: tuple[AcmeSandbox, list[dict[str, Any]]], http: requests.Session, clock: FakeClock
) -> None:
    sandbox, logs = seeded
    path = '/api/v1/streams/prod-web/logs'
    first = get(http, sandbox, path, start_time=iso_utc(T0 - 3600), limit=10).json()
    token = first['next_page_token']
    clock.advance(300)
    second = get(http, sandbox, path, page_token=token)
    assert second.status_code == 200
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
    assert 'page_token' in tampered.json()['error']['message']


def test_late_arrival(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    ts = clock.now - 10
    sandbox.add_logs(
        'prod-web',
        [
            {'id': 'on-time', 'timestamp': iso_utc(ts), 'message': 'a'},
            {'id': 'late', 'timestamp': iso_utc(ts), 'message': 'b', 'visible_at': ts + 40},
        ],
    )
    query = {'start_time': iso_utc(ts - 1), 'end_time': iso_utc(ts + 1)}
    assert [log['id'] for log in crawl(http, sandbox, 'prod-web', **query)[0]] == ['on-time']
    clock.advance(30)
    assert [log['id'] for log in crawl(http, sandbox, 'prod-web', **query)[0]] == ['late', 'on-time']
    assert 'visible_at' not in crawl(http, sandbox, 'prod-web', **query)[0][0]

    with pytest.raises(ValueError, match='visible_at'):
        sandbox.add_logs('prod-web', [{'id': 'x', 'timestamp': iso_utc(ts), 'message': '', 'visible_at': ts + 61}])


def test_retention(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('audit')
    week = 7 * 86400
    sandbox.add_logs(
        'audit',
        [
            {'id': 'old', 'timestamp': iso_utc(clock.now - week + 5), 'message': 'x'},
            {'id': 'new', 'timestamp': iso_utc(clock.now - 60), 'message': 'y'},
        ],
    )
    first = get(http, sandbox, '/api/v1/streams/audit/logs', start_time=iso_utc(clock.now - week), limit=1).json()
    assert [log['id'] for log in first['data']] == ['old']
    clock.advance(10)
    served, _ = crawl(http, sandbox, 'audit', start_time=iso_utc(clock.now - week))
    assert [log['id'] for log in served] == ['new']


# Rate limits


def test_rate_limits_and_violations(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock
) -> None:
    sandbox = make_sandbox(rate_limits=True, per_second=3, per_minute=5)
    path = '/api/v1/streams'
    remaining = [get(http, sandbox, path).headers['X-RateLimit-Remaining'] for _ in range(3)]
    assert remaining == ['2', '1', '0']

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
    assert int(minute.headers['Retry-After']) == (int(T0) // 60 + 1) * 60 - int(clock.now)
    assert sandbox.stats.by_status == {200: 5, 429: 3}

    # Tokens are limited separately.
    assert get(http, sandbox, path, token='other').status_code == 401


def test_503_retry_after_sets_a_deadline(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session) -> None:
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


def test_date_header_is_acmes_clock_to_the_second(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session
) -> None:
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
    expected = ['Mon, 21 Sep 2026 14:14:50 GMT']
    assert {name: date_headers(answer) for name, answer in answers.items()} == dict.fromkeys(answers, expected)


def test_clock_offset_moves_acmes_now(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock
) -> None:
    sandbox = make_sandbox(rate_limits=True)
    sandbox.add_stream('prod-web')
    ts = clock.now - 10
    sandbox.add_logs('prod-web', [{'id': 'late', 'timestamp': iso_utc(ts), 'message': 'x', 'visible_at': ts + 40}])
    path = '/api/v1/streams/prod-web/logs'

    def acme_sees() -> tuple[list[str], int, int, str]:
        """Late arrival, the start_time range and the rate-limit window, from the check's clock."""
        visible, _ = crawl(http, sandbox, 'prod-web', start_time=iso_utc(ts - 1), end_time=iso_utc(ts + 1))
        in_my_future = get(http, sandbox, path, start_time=iso_utc(clock.now + 20))
        at_my_retention_edge = get(http, sandbox, path, start_time=iso_utc(clock.now - 7 * 86400 + 10))
        reset = get(http, sandbox, '/api/v1/streams').headers['X-RateLimit-Reset']
        return [log['id'] for log in visible], in_my_future.status_code, at_my_retention_edge.status_code, reset

    assert acme_sees() == ([], 400, 200, str(int(T0) + 1))
    sandbox.clock_offset = 45.0
    assert sandbox.now() == clock.now + 45
    assert acme_sees() == (['late'], 200, 400, str(int(T0) + 46))
    assert sandbox.stats.records[-1].clock == clock.now + 45


# Faults


def test_transport_faults(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session) -> None:
    sandbox = make_sandbox(faults=Faults(error_rate=1.0), seed=2)
    responses = [get(http, sandbox, '/api/v1/streams') for _ in range(40)]
    assert {r.status_code for r in responses} == {500, 502, 503, 504}
    kinds = {r.headers.get('Content-Type') for r in responses}
    assert {'application/json', 'text/html', None} <= kinds

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
    faults = [record.fault for record in sandbox.stats.records]
    assert {'error', 'non_json', 'disconnect', 'slow'} <= set(faults)


# Timestamps


def test_offsets_render_the_exact_instant(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock
) -> None:
    sandbox = make_sandbox(seed=11)
    sandbox.add_stream('prod-web')
    logs = generate_logs(seed=2, start=clock.now - 3600, end=clock.now - 120, count=300, late_rate=0)
    sandbox.add_logs('prod-web', logs)
    first, _ = crawl(http, sandbox, 'prod-web', start_time=iso_utc(T0 - 3600), limit=1000)
    second, _ = crawl(http, sandbox, 'prod-web', start_time=iso_utc(T0 - 3600), limit=13)
    assert [log['timestamp'] for log in first] == [log['timestamp'] for log in second], 'stable rendering'
    for given, served in zip(logs, first):
        assert parse_rfc3339(served['timestamp']) == parse_rfc3339(given['timestamp'])
    shapes = [re.fullmatch(r'[-\d]{10}T[:\d]{8}(?:\.(\d+))?(Z|[+-]\d\d:\d\d)', log['timestamp']) for log in first]
    assert {'Z', '+14:00', '-00:00', '+05:45'} <= {shape[2] for shape in shapes if shape}
    assert {len(shape[1] or '') for shape in shapes if shape} == set(range(10))

    nanos = seconds_to_ns(T0 - 200) + 123_456_789
    sandbox.add_logs('prod-web', [{'id': 'ns', 'timestamp': nanos, 'message': 'x'}])
    served, _ = crawl(http, sandbox, 'prod-web', start_time=iso_utc(nanos), end_time=iso_utc(nanos + 1))
    assert [(log['id'], parse_rfc3339(log['timestamp'])) for log in served] == [('ns', nanos)]


def test_request_timestamp_forms(seeded: tuple[AcmeSandbox, list[dict[str, Any]]], http: requests.Session) -> None:
    sandbox, logs = seeded
    path = '/api/v1/streams/prod-web/logs'
    start_ns = parse_rfc3339(logs[100]['timestamp'])
    expected = next(log['id'] for log in logs if parse_rfc3339(log['timestamp']) >= start_ns)
    utc = iso_utc(start_ns).replace('Z', '')
    seconds, fraction = divmod(start_ns, NS_PER_SECOND)
    plus_two = iso_utc((seconds + 7200) * NS_PER_SECOND + fraction).replace('Z', '+02:00')
    for form in (utc + 'Z', utc + 'z', utc.replace('T', 't') + 'Z', utc + '+00:00', utc + '-00:00', plus_two):
        response = get(http, sandbox, path, start_time=form, limit=1)
        assert response.status_code == 200, (form, response.text)
        assert response.json()['data'][0]['id'] == expected


@pytest.mark.parametrize(
    'params, name',
    [
        ({}, 'start_time'),
        ({'start_time': 'yesterday'}, 'start_time'),
        ({'start_time': '2026-09-21T10:00:00'}, 'start_time'),
        ({'start_time': '2026-09-21T10:00:00.1234567890Z'}, 'start_time'),
        ({'start_time': '2026-02-30T10:00:00Z'}, 'start_time'),
        ({'start_time': iso_utc(T0 - 60), 'end_time': 'soon'}, 'end_time'),
        ({'start_time': iso_utc(T0 - 60), 'end_time': iso_utc(T0 - 61)}, 'end_time'),
        ({'start_time': iso_utc(T0 - 60), 'limit': '0'}, 'limit'),
        ({'start_time': iso_utc(T0 - 60), 'limit': '1001'}, 'limit'),
        ({'start_time': iso_utc(T0 - 60), 'limit': 'ten'}, 'limit'),
        ({'page_token': 'garbage'}, 'page_token'),
    ],
)
def test_invalid_parameter(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, params: dict[str, str], name: str
) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    response = get(http, sandbox, '/api/v1/streams/prod-web/logs', **params)
    assert (response.status_code, error_code(response)) == (400, 'invalid_parameter')
    assert name in response.json()['error']['message']


def test_unencoded_plus_is_a_client_bug(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    raw = iso_utc(T0 - 60).replace('Z', '+00:00')
    response = http.get(
        f'{sandbox.url}/api/v1/streams/prod-web/logs?start_time={raw}', headers={'Authorization': f'Bearer {TOKEN}'}
    )
    assert error_code(response) == 'invalid_parameter'


def test_start_time_out_of_range(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    path = '/api/v1/streams/prod-web/logs'
    for start in (T0 - 7 * 86400 - 1, T0 + 1):
        response = get(http, sandbox, path, start_time=iso_utc(start))
        assert (response.status_code, error_code(response)) == (400, 'start_time_out_of_range')
    for start in (T0 - 7 * 86400, T0):
        assert get(http, sandbox, path, start_time=iso_utc(start)).status_code == 200


# Raw logs


def test_raw_log_is_served_byte_for_byte_in_order(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session, clock: FakeClock
) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('prod-web')
    at = iso_utc(clock.now - 100)
    sandbox.add_logs(
        'prod-web',
        [
            {'id': 'a', 'timestamp': at, 'message': 'tie, sorts before'},
            {'id': 'z', 'timestamp': at, 'message': 'tie, sorts after'},
            {'id': 'later', 'timestamp': iso_utc(clock.now - 99), 'message': 'next second'},
        ],
    )
    # Valid JSON that no encoder would write: past float range, past 64 bits, past 1,024 levels.
    hostile = b'"big":1e400,"wide":18446744073709551617,"deep":' + b'[' * 1100 + b']' * 1100
    raw = b'{"id":"m","timestamp":"%s","message":"poison","attributes":{%s}}' % (at.encode(), hostile)
    sandbox.add_raw_log('prod-web', at=at, sort_id='m', raw=raw)

    page = get(http, sandbox, '/api/v1/streams/prod-web/logs', start_time=iso_utc(clock.now - 200))
    assert page.content.count(raw) == 1
    # A stand-in for the poison lets Python's json, which would overflow its nesting, read the rest.
    body = json.loads(page.content.replace(raw, b'"POISON"'))
    assert [log if log == 'POISON' else log['id'] for log in body['data']] == ['a', 'POISON', 'z', 'later']
    assert body['next_page_token'] is None
    with pytest.raises(TypeError):
        sandbox.add_raw_log('prod-web', at=at, sort_id='n', raw=raw.decode())


# Streams


def test_streams_listing_paging(make_sandbox: Callable[..., AcmeSandbox], http: requests.Session) -> None:
    sandbox = make_sandbox(faults=Faults(short_page_rate=0.3), seed=4)
    ids = [f's{i:02d}' for i in range(9)]
    for stream_id in reversed(ids):
        sandbox.add_stream(stream_id, name=f'Stream {stream_id}', created_at='2026-01-04T10:00:00Z')
    sandbox.add_stream('zz-forbidden')
    sandbox.forbid_stream('zz-forbidden')
    listed: list[dict[str, Any]] = []
    query: dict[str, Any] = {'limit': 2}
    while True:
        body = get(http, sandbox, '/api/v1/streams', **query).json()
        listed.extend(body['data'])
        assert len(body['data']) <= 2
        if body['next_page_token'] is None:
            break
        query = {'page_token': body['next_page_token'], 'limit': 'ignored'}
    assert [s['id'] for s in listed] == ids
    assert {parse_rfc3339(s['created_at']) for s in listed} == {parse_rfc3339('2026-01-04T10:00:00Z')}
    assert listed[0]['name'] == 'Stream s00'
    logs_token = get(http, sandbox, '/api/v1/streams', limit=1).json()['next_page_token']
    wrong = get(http, sandbox, '/api/v1/streams/s00/logs', page_token=logs_token)
    assert error_code(wrong) == 'invalid_parameter'


def test_a_removed_stream_leaves_the_listing_and_its_id_can_be_reused(
    make_sandbox: Callable[..., AcmeSandbox], http: requests.Session
) -> None:
    sandbox = make_sandbox()
    sandbox.add_stream('audit', created_at='2026-01-04T10:00:00Z')
    sandbox.add_logs('audit', [{'id': 'a', 'timestamp': iso_utc(T0 - 60), 'message': 'old'}])

    sandbox.remove_stream('audit')

    assert listed_ids(http, sandbox) == []
    assert error_code(get(http, sandbox, '/api/v1/streams/audit/logs', start_time=iso_utc(T0 - 600))) == 'not_found'
    sandbox.add_stream('audit', created_at='2026-06-01T00:00:00Z')
    (listed,) = get(http, sandbox, '/api/v1/streams').json()['data']
    assert parse_rfc3339(listed['created_at']) == parse_rfc3339('2026-06-01T00:00:00Z')
    assert crawl(http, sandbox, 'audit', start_time=iso_utc(T0 - 600))[0] == []


# Stats


def test_stats_records(seeded: tuple[AcmeSandbox, list[dict[str, Any]]], http: requests.Session) -> None:
    sandbox, logs = seeded
    sandbox.reset_stats()
    served, _ = crawl(http, sandbox, 'prod-web', start_time=iso_utc(T0 - 1800), limit=100)
    stats = sandbox.stats
    assert stats.logs_served == len(served) == sum(r.served for r in stats.records)
    assert stats.by_stream == {'prod-web': stats.requests}
    assert min(r.start_time_ns for r in stats.records) == seconds_to_ns(T0 - 1800)
    assert min(r.min_served_ts_ns for r in stats.records if r.served) >= seconds_to_ns(T0 - 1800)
    assert all(r.clock == T0 and r.status == 200 for r in stats.records)
    assert [r.page_token for r in stats.records][:2] == [False, True]


# Generators


def test_generate_logs_shape(clock: FakeClock) -> None:
    logs = generate_logs(seed=9, start=clock.now - 600, end=clock.now, count=2000, late_rate=0.3)
    assert len({log['id'] for log in logs}) == 2000
    late = [log for log in logs if 'visible_at' in log]
    assert 400 < len(late) < 800
    assert all(0 <= log['visible_at'] - parse_rfc3339(log['timestamp']) / 1e9 <= 60.001 for log in late)
    assert {len(log['timestamp']) for log in logs} >= {20, 24, 27, 30}  # s, ms, us, ns precision
    assert any('severity' not in log for log in logs) and any('attributes' in log for log in logs)
    assert any('\n' in log['message'] for log in logs) and any(not log['message'].isascii() for log in logs)
    assert generate_logs(seed=9, start=clock.now - 600, end=clock.now, count=50) == generate_logs(
        seed=9, start=clock.now - 600, end=clock.now, count=50
    )
    bulk = list(generate_bulk(seed=1, start=clock.now - 600, end=clock.now, count=100))
    assert len(bulk) == 100 and all(180 <= len(log['message']) <= 200 for log in bulk)


# CLI


def test_cli_serves(http: requests.Session) -> None:
    root = Path(__file__).resolve().parent.parent
    # ACME's clock an hour ahead of this host's: its Date and its data both follow it.
    command = [sys.executable, '-m', 'tests.sandbox', '--port', '0', '--backfill', '600', '--rate', '5']
    command += ['--clock-offset', '3600']
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith('ACME sandbox listening on http://127.0.0.1:')
        url = line.split()[-1]
        headers = {'Authorization': f'Bearer {TOKEN}'}
        streams = http.get(f'{url}/api/v1/streams', headers=headers, timeout=5)
        assert [s['id'] for s in streams.json()['data']] == ['audit', 'prod-web']
        acme_now = parsedate_to_datetime(streams.headers['Date']).timestamp()
        assert abs(acme_now - (time.time() + 3600)) < 10
        # Host time + 2700 s is in the future for the host, yet the backfill is there on ACME's clock.
        params = {'start_time': iso_utc(acme_now - 900), 'limit': 1000}
        logs = http.get(f'{url}/api/v1/streams/audit/logs', params=params, headers=headers, timeout=5)
        assert logs.status_code == 200 and len(logs.json()['data']) > 500
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
