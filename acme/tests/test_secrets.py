# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The API token never leaves the check: in no warning, service check, log line or error, in any escaped form."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
import requests

from datadog_checks.base import AgentCheck

from .conftest import HOUR, START, TOKEN, assert_exactly_once, expected_keys, feed

pytestmark = pytest.mark.integration


def forms(secret: str) -> list[str]:
    return [secret, secret.strip(), repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=''), quote(secret)]


def everything_said(crawler, aggregator, caplog, errors: list[str]) -> str:
    said = [*crawler.warnings(), caplog.text, *errors]
    said += [check.message or '' for check in aggregator.service_checks('acme.can_connect')]
    return '\n'.join(said)


def test_a_token_read_from_a_file_with_its_newline_works_and_is_never_shown(
    sandbox, instance, crawler, aggregator, caplog
):
    caplog.set_level(logging.DEBUG)
    logs = feed(sandbox, seed='newline', start=START - 30 * 60, end=START - 2 * 60, count=100, late_rate=0)
    crawler.start({**instance, 'api_token': f'  {TOKEN}\n'})

    crawler.run(times=2)

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=START))
    aggregator.assert_service_check('acme.can_connect', AgentCheck.OK)
    said = everything_said(crawler, aggregator, caplog, [])
    assert not [form for form in forms(f'  {TOKEN}\n') if form in said]


@pytest.mark.parametrize('token', [TOKEN + '\n', 'tok+en/with"quote\\and space'])
def test_an_http_error_quoting_the_headers_is_scrubbed(
    sandbox, instance, crawler, aggregator, caplog, monkeypatch, token
):
    caplog.set_level(logging.DEBUG)

    def send(adapter, request, **kwargs):
        # As a proxy library or a future `requests` might word it: the request's headers, quoted and escaped.
        raise requests.exceptions.ConnectionError(
            f'failed to send {request.url} with headers {dict(request.headers)!r} '
            f'({json.dumps(dict(request.headers))}; {quote(request.headers["Authorization"])})'
        )

    monkeypatch.setattr(requests.adapters.HTTPAdapter, 'send', send)
    crawler.start({**instance, 'api_token': token})
    errors = []
    try:
        crawler.run()
    except Exception as e:  # whatever surfaces, the token must not be in it
        errors.append(str(e))

    said = everything_said(crawler, aggregator, caplog, errors)
    assert 'failed to send' in said, 'the error itself is reported'
    assert '********' in said
    assert not [form for form in forms(token) if form.strip() and form in said]
