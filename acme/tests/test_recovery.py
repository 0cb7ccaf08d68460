# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""A replaced pod (its run path on an emptyDir) starts with no cursor: with an application key, each stream resumes
where the logs Datadog received end (Datadog's Logs search API, tests.fake_datadog), not `initial_lookback` ago."""

import json
import logging
import math
from collections import Counter

import pytest
import requests

from datadog_checks.acme.cursors import cursor_tag, endpoint_digest
from datadog_checks.acme.recovery import BATCH, RECOVERY_DELAY

from .agent_emulation import Received
from .conftest import HOUR, START, STREAMS, delivered_keys, expected_keys, feed, metric_total, recovery_options
from .fake_datadog import FakeDatadog

pytestmark = pytest.mark.integration
PAGE = 50


def replace_pod_mid_run(crawler, logs_agent, settings):
    """A run, then the pod is replaced before the Agent read what it wrote: those lines are gone with the pod."""
    interval, crawler.interval = crawler.interval, 0
    crawler.run()
    crawler.interval = interval
    unread = len(logs_agent.unread_lines())
    logs_agent.replace_pod()
    crawler.start(settings)
    return unread


def test_a_pod_replaced_twice_during_a_crawl_loses_nothing_and_resends_at_most_a_page(
    sandbox, instance, crawler, logs_agent, datadog, clock, aggregator
):
    logs = feed(sandbox, seed='pods', start=START - HOUR, end=START + 20 * 60, count=3000)
    settings = {**instance, **recovery_options(datadog), 'page_size': PAGE}
    crawler.start(settings)
    crawler.run(times=12)

    lost = [replace_pod_mid_run(crawler, logs_agent, settings)]
    searches = len(datadog.requests)
    crawler.run(times=4)
    assert len(datadog.requests) == searches, 'nothing trusted before it can be indexed'
    crawler.run(times=20)
    lost.append(replace_pod_mid_run(crawler, logs_agent, settings))
    crawler.run(times=60)

    assert all(lost) and len(logs_agent.lost['replacement']) == sum(lost), 'both pods took unread lines with them'
    delivered = delivered_keys(logs_agent)
    until = clock.time() - 15 - 60
    assert set(expected_keys(logs, since=START - HOUR, until=until)) <= set(delivered), 'nothing lost'
    resent = sum(times - 1 for times in Counter(delivered).values())
    assert resent <= 2 * PAGE, f'{resent} logs sent twice'
    assert metric_total(aggregator, 'acme.recovery.streams', 'outcome:resumed') == 2 * len(STREAMS)
    assert not [r for r in datadog.requests if 'authorization' in r.headers], 'the ACME token never goes to Datadog'


def test_without_an_application_key_a_replaced_pod_starts_over_and_says_how_to_recover(
    sandbox, instance, crawler, logs_agent, clock
):
    logs = feed(sandbox, seed='no-key', start=START - HOUR, end=START + 5 * 60, count=600)
    settings = {**instance, 'page_size': PAGE}
    crawler.start(settings)
    crawler.run(times=8)

    replace_pod_mid_run(crawler, logs_agent, settings)
    crawler.run(times=8)

    delivered = delivered_keys(logs_agent)
    assert set(expected_keys(logs, since=START - HOUR, until=clock.time() - 15 - 60)) <= set(delivered)
    assert len(delivered) > 1.5 * len(set(delivered)), 'the whole lookback sent again, as before'
    warnings = crawler.check.get_warnings()  # of the 8 runs since the pod was replaced
    for stream in STREAMS:
        said = [w for w in warnings if w.startswith(f'Stream `{stream}` starts without a cursor')]
        assert len(said) == 1 and '`datadog_app_key`' in said[0], 'once per stream, saying how to recover'


def delivered_before(logs_agent, url: str, streams: list[str]) -> None:
    """What an earlier pod delivered for `streams`, a minute ago: two logs each, as the check writes them."""
    endpoint = endpoint_digest(url)
    for index, stream in enumerate(streams):
        for log_id, millis in (('a', 0), ('b', 1)):
            line = {
                'message': 'm',
                'timestamp': int(START * 1000) - 600_000 + millis,
                'ddsource': 'acme',
                'ddtags': f'acme_stream:{stream},acme_cursor:{cursor_tag(endpoint, stream)}',
                'acme': {'id': f'{log_id}-{index}', 'timestamp': f'2026-11-26T11:50:00.00{millis}5Z'},
            }
            logs_agent.intake.received.append(Received(json.dumps(line), START - 60))


def test_a_thousand_streams_are_recovered_with_a_request_per_batch(sandbox, instance, crawler, logs_agent, datadog):
    streams = [f's{index:04d}' for index in range(1000)]
    for stream in streams:
        sandbox.add_stream(stream)
    delivered_before(logs_agent, sandbox.url, streams)
    settings = {**instance, **recovery_options(datadog), 'max_run_time': 30}
    del settings['streams']
    crawler.start(settings)

    crawler.run(times=round(RECOVERY_DELAY / 15) + 1)

    searches = [r for r in datadog.requests if r.path.endswith('/search')]
    assert len(searches) == math.ceil(len(crawler.check.directory.streams) / BATCH) == 21, 'a request per batch'
    newest = int(START - 600) * 10**9 + 10**6  # the newer of the two logs Datadog holds for each stream
    for stream in ('s0000', 's0001'):
        first = [r for r in sandbox.stats.records if r.stream == stream][0]
        assert first.start_time_ns == newest - 10**9, 'it resumes the overlap before the newest log Datadog holds'


def test_recovery_keeps_to_datadogs_rate_limit(sandbox, instance, crawler, logs_agent, datadog, clock):
    streams = [f's{index:04d}' for index in range(3 * BATCH)]
    for stream in streams:
        sandbox.add_stream(stream)
    delivered_before(logs_agent, sandbox.url, streams)
    datadog.rate_limit, datadog.rate_period = 2, 600  # two requests per 10 minutes
    settings = {**instance, **recovery_options(datadog), 'max_run_time': 1}  # few requests to ACME: not what counts
    del settings['streams']
    crawler.start(settings)

    crawler.run(times=round(RECOVERY_DELAY / 15) + 4)
    waiting = sum(stream.recovering for stream in crawler.check.directory.streams.values())
    crawler.run(times=40)

    assert waiting == len(streams) + len(STREAMS) - 2 * BATCH, 'the third batch waits for the next window'
    assert not any(stream.recovering for stream in crawler.check.directory.streams.values())
    assert [r.status for r in datadog.requests] == [200] * 4, 'no request while limited; 152 streams, 4 batches'


@pytest.mark.parametrize(
    'keys, warning',
    [
        pytest.param({'datadog_app_key': 'wrong'}, 'Datadog refused the keys (HTTP 403)', id='wrong key'),
        pytest.param({'datadog_api_url': 'http://127.0.0.1:9'}, 'could not reach', id='unreachable'),
    ],
)
def test_when_recovery_fails_streams_start_at_the_initial_lookback_and_say_so(
    sandbox, instance, crawler, logs_agent, datadog, keys, warning
):
    logs = feed(sandbox, seed='failing', start=START - HOUR, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start({**instance, **recovery_options(datadog), **keys, 'initial_lookback': 2 * 3600})

    crawler.run(times=round(RECOVERY_DELAY / 15) + 62)  # a lasting failure gives up at once, the other in 15 min

    assert any(w.startswith('Cursor recovery from Datadog gave up, ') and warning in w for w in crawler.warnings())
    assert set(delivered_keys(logs_agent)) == set(expected_keys(logs, since=START - HOUR, until=START))
    assert not any(w for w in crawler.warnings() if 'wrong' in w), 'no key in any warning'


def test_a_stream_datadog_has_nothing_of_starts_at_the_initial_lookback(
    sandbox, instance, crawler, logs_agent, datadog, aggregator
):
    logs = feed(sandbox, seed='new', start=START - HOUR, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start({**instance, **recovery_options(datadog), 'initial_lookback': 600})

    crawler.run(times=round(RECOVERY_DELAY / 15) + 2)

    assert metric_total(aggregator, 'acme.recovery.streams', 'outcome:none') == len(STREAMS)
    assert set(delivered_keys(logs_agent)) == set(expected_keys(logs, since=START - 600, until=START))


def test_acme_and_datadog_each_get_their_own_credentials_only(
    sandbox, instance, crawler, logs_agent, datadog, monkeypatch
):
    feed(sandbox, seed='keys', start=START - HOUR, end=START - 2 * 60, count=100, late_rate=0)
    sent = []
    send = requests.Session.send
    monkeypatch.setattr(
        requests.Session, 'send', lambda session, request, **kw: (sent.append(request), send(session, request, **kw))[1]
    )
    crawler.start({**instance, **recovery_options(datadog), 'headers': {'X-Tenant': 'acme-only'}})

    crawler.run(times=round(RECOVERY_DELAY / 15) + 2)

    to_datadog = [r for r in sent if r.url.startswith(datadog.url)]
    to_acme = [r for r in sent if r.url.startswith(sandbox.url)]
    assert to_datadog and to_acme
    assert all('DD-APPLICATION-KEY' in r.headers and 'Authorization' not in r.headers for r in to_datadog)
    assert all('X-Tenant' not in r.headers for r in to_datadog), 'the instance\'s HTTP options are ACME\'s'
    assert all('DD-API-KEY' not in r.headers and 'DD-APPLICATION-KEY' not in r.headers for r in to_acme)


def test_by_default_recovery_uses_the_agents_site_and_keys_and_never_says_a_key(
    sandbox, instance, crawler, logs_agent, agent_config, monkeypatch, caplog
):
    # The Agent's `site`, `api_key` and `app_key`, and no recovery option in the instance. This machine cannot reach
    # datadoghq.eu: the request is recorded at the HTTP layer and answered with the fake Datadog's 403.
    caplog.set_level(logging.DEBUG)
    api_key, app_key = 'agent-api-key-0123', 'agent-app-key-4567'
    agent_config.update({'site': 'datadoghq.eu', 'api_key': api_key, 'app_key': app_key})
    feed(sandbox, seed='site', start=START - HOUR, end=START - 2 * 60, count=20, late_rate=0)
    to_datadog = []
    send = requests.Session.send

    def routed(session, request, **kwargs):
        if not request.url.startswith('https://api.datadoghq.eu/'):
            return send(session, request, **kwargs)
        to_datadog.append((request.url, request.headers['DD-API-KEY'], request.headers['DD-APPLICATION-KEY']))
        with FakeDatadog(intake=logs_agent.intake, clock=lambda: START) as fake:  # keys it does not know: 403
            request.url = fake.url + request.path_url
            return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, 'send', routed)
    crawler.start(instance)

    crawler.run(times=round(RECOVERY_DELAY / 15) + 2)

    url = 'https://api.datadoghq.eu/api/v2/logs/events/search'
    assert to_datadog == [(url, api_key, app_key)], 'the Agent\'s site and keys; a refused key is not tried again'
    warnings = crawler.warnings()
    assert any('Datadog refused the keys (HTTP 403)' in w for w in warnings)
    said = '\n'.join([*warnings, caplog.text, crawler.check.sanitize(f'{api_key} {app_key}')])
    assert api_key not in said and app_key not in said, 'registered as secrets, never said'


def test_a_429_from_datadog_is_waited_out_until_its_reset_and_the_streams_are_then_recovered(
    sandbox, instance, crawler, logs_agent, datadog, aggregator
):
    delivered_before(logs_agent, sandbox.url, STREAMS)
    datadog.rate_limit, datadog.rate_period = 5, 600
    crawler.start({**instance, **recovery_options(datadog)})
    crawler.run(times=round(RECOVERY_DELAY / 15))  # the lookups are about to start
    keys = {'DD-API-KEY': datadog.api_key, 'DD-APPLICATION-KEY': datadog.app_key}
    while datadog.handle('POST', '/api/v2/logs/events/search', keys, b'{}')[0] != 429:
        pass  # another client of the organization spends the window
    others = len(datadog.requests)

    crawler.run(times=45)  # the window resets 9 minutes later

    assert [r.status for r in datadog.requests[others:]] == [429, 200], 'no request until the reset'
    assert any('Datadog\'s search API rate limit' in w for w in crawler.warnings())
    assert metric_total(aggregator, 'acme.recovery.streams', 'outcome:resumed') == len(STREAMS)
