# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""What compat.py provides on every supported datadog-checks-base (36.12.0 and up; `./dev test` runs each env)."""

import importlib.util

import certifi
import pytest

from datadog_checks.acme.compat import json
from datadog_checks.acme.cursors import endpoint_digest
from datadog_checks.base.utils.models import validation

from .conftest import HOUR, START, TOKEN, expected_keys, feed

# For the tests that only load the config models: no ACME needed.
OFFLINE = {'url': 'https://api.acme.example', 'api_token': TOKEN}

# Options the generated config models check against the trusted config providers (`validation.security`).
SECURE_OPTIONS = {
    'tls_ca_cert': certifi.where(),
    'tls_cert': '/etc/acme/client.pem',
    'tls_private_key': '/etc/acme/client.key',
    'kerberos_cache': '/tmp/krb5cc_acme',
    'kerberos_keytab': '/etc/acme/acme.keytab',
    'auth_token': {'reader': {'type': 'file', 'path': '/etc/acme/token'}, 'writer': {'type': 'header', 'name': 'X'}},
}


@pytest.mark.unit
@pytest.mark.parametrize('option', sorted(SECURE_OPTIONS))
def test_options_checked_against_trusted_providers_load(make_check, option):
    check = make_check({**OFFLINE, option: SECURE_OPTIONS[option]})

    check.load_configuration_models()

    assert getattr(check.config, option) is not None


@pytest.mark.unit
def test_loading_the_models_leaves_the_base_package_as_it_is(make_check):
    # The Agent runs every check in one interpreter: what this integration needs on older bases stays its own.
    has_security = importlib.util.find_spec('datadog_checks.base.utils.models.validation.security') is not None
    make_check({**OFFLINE, 'tls_ca_cert': certifi.where()}).load_configuration_models()

    assert hasattr(validation, 'security') == has_security


@pytest.mark.integration
def test_a_check_with_tls_ca_cert_crawls(sandbox, instance, crawler):
    logs = feed(sandbox, seed='tls', start=START - HOUR, end=START - 2 * 60, count=50, late_rate=0)
    check = crawler.start({**instance, 'tls_ca_cert': certifi.where()})

    crawler.run()

    assert check.config.tls_ca_cert == certifi.where()
    assert sorted(crawler.sent_keys()) == sorted(expected_keys(logs, since=START - HOUR, until=START - 60))


@pytest.mark.integration
def test_cursor_keys_are_the_same_on_every_base(sandbox, instance, crawler, cache_keys):
    crawler.start(instance)
    crawler.run()

    # The layout of base >= 37.20.0, `<check name>:<persistent_cache_id>_<key>`, with acme's own stable id, and the
    # base package's cursor keys `log_cursor_<stream name>`, in two slots: the only entries.
    prefix = f'acme:{endpoint_digest(instance["url"])}_'
    names = sorted(crawler.stream_name(stream) for stream in ('audit', 'prod-web'))
    assert sorted(cache_keys) == sorted(
        f'{prefix}log_cursor_{name}{slot}' for name in names for slot in ('_0', '_1')
    ), 'two entries per stream, whose identity is inside'


@pytest.mark.unit
def test_json_encodes_and_decodes_text_and_bytes():
    value = {'seq': 3, 'cursor': {'timestamp': '2026-11-26T12:00:00Z', 'id': 'é'}}

    assert json.decode(json.encode(value)) == value
    assert json.decode(json.encode(value).encode()) == value
