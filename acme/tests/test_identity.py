# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Whose cursor is it: one per (ACME endpoint, stream id, stream creation), whatever the token or a cosmetic URL."""

import pytest

from datadog_checks.acme.identity import cursor_key, endpoint_digest, normalized_url

from .conftest import HOUR, START, TOKEN, assert_exactly_once, expected_keys, feed
from .sandbox import generate_logs

OTHER_TOKEN = 'sandbox-token-of-another-customer'


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

    sent = crawler.sent_keys()
    a_ids = {log['id'] for log in logs['prod-web']}
    assert sorted(key for key in sent if key[1] in a_ids) == sorted(('prod-web', i) for i in a_ids)
    assert sorted(key for key in sent if key[1] not in a_ids) == sorted(('prod-web', log['id']) for log in other)


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


def test_a_stream_listed_twice_is_crawled_once(sandbox, instance, crawler):
    logs = feed(sandbox, seed='twice', start=START - 30 * 60, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start({**instance, 'streams': ['audit', 'prod-web', 'audit']})

    crawler.run()
    assert crawler.check.get_warnings() == ['`streams` lists audit more than once; each stream is crawled once']
    crawler.run()

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))


def test_a_stream_created_again_under_the_same_id_starts_as_a_new_stream(sandbox, instance, crawler, clock):
    crawler.start(instance)
    crawler.run()
    key_before = crawler.cursor_key('audit')
    sandbox.remove_stream('audit')
    sandbox.add_stream('audit', created_at=clock.time())
    clock.advance(10 * 60)  # the next listing pass
    crawler.run()

    assert crawler.cursor_key('audit') != key_before


def test_the_endpoint_digest_never_changes():
    # Cursors are stored under it: a change here would orphan every customer's cursors, so it is pinned.
    assert endpoint_digest('https://api.acme.example') == endpoint_digest('HTTPS://API.acme.example:443/')
    assert endpoint_digest('https://api.acme.example') == '519450d3a639b1cf'
    assert cursor_key('prod-web', 1767520800_000000000) == 'log_cursor_prod-web_7d37cc524515'


@pytest.mark.parametrize(
    'url, normalized',
    [
        ('https://api.acme.example/', 'https://api.acme.example'),
        ('https://API.Acme.Example:443', 'https://api.acme.example'),
        ('http://api.acme.example:80/v1/', 'http://api.acme.example/v1'),
        ('http://api.acme.example:8080', 'http://api.acme.example:8080'),
        ('https://api.acme.example/Tenant-A', 'https://api.acme.example/Tenant-A'),
        ('http://[::1]:18080/', 'http://[::1]:18080'),
    ],
)
def test_normalized_url(url, normalized):
    assert normalized_url(url) == normalized
