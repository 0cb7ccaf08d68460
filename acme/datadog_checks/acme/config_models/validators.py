# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Checks of option values beyond their types, so bad config is refused at start with the option named.

Messages never repeat a value that could be the API token.
"""

import re
import sys
from types import SimpleNamespace
from urllib.parse import urlsplit

from datadog_checks.base.utils.models import validation

if not hasattr(validation, 'security'):  # datadog-checks-base < 37.33.0
    # The generated models call `validation.security` for options such as `tls_ca_cert`. Those bases restrict no option
    # to trusted config providers, so this integration's models alone get a `validation` whose `security` allows every
    # value; the base package, which every check in the Agent's interpreter shares, is left as it is. This module is
    # imported by the generated instance.py, once it has bound `validation`.
    sys.modules[__name__.rpartition('.')[0] + '.instance'].validation = SimpleNamespace(  # type: ignore[attr-defined]
        core=validation.core,
        utils=validation.utils,
        security=SimpleNamespace(check_field_trusted_provider=lambda field_name, value, security_config: None),
    )

STREAM_ID = re.compile(r'[a-z0-9][a-z0-9_-]{0,62}\Z')


def instance_url(value, *, field, **kwargs):
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ('http', 'https') or not parts.hostname:
        raise ValueError(f'must be an http:// or https:// base URL such as https://api.acme.example, got {value!r}')
    if parts.query or parts.fragment:
        raise ValueError('must be a base URL without query or fragment')
    return value


def instance_datadog_api_url(value, *, field, **kwargs):
    return instance_url(value, field=field)


def instance_api_token(value, *, field, **kwargs):
    # A token read from a secret file often ends with a newline; in a header it would make every request fail, and
    # error texts would quote it escaped, where no scrubbing of the token as configured finds it.
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError('must not be empty')
    return value


def instance_streams(value, *, field, **kwargs):
    if isinstance(value, (list, tuple)):
        bad = [stream for stream in value if not isinstance(stream, str) or not STREAM_ID.match(stream)]
        if bad:
            raise ValueError(f'stream ids must match [a-z0-9][a-z0-9_-]{{0,62}}; invalid: {bad!r}')
        if not value:
            raise ValueError('must list at least one stream, or be omitted to crawl every stream')
    return value


def instance_max_run_time(value, *, field, **kwargs):
    if isinstance(value, (int, float)) and value <= 0:
        raise ValueError(f'must be a positive number of seconds, got {value!r}')
    return value
