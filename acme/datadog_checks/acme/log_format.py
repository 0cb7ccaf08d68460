# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Turns one ACME log into the log the Agent submits."""

from __future__ import annotations

from typing import Any

from .timestamps import NANOS_PER_SECOND

SOURCE = 'acme'
# The intake takes logs up to 1 MB; ACME messages go up to 1 MiB. Leave room for the other fields.
MESSAGE_LIMIT_BYTES = 900_000
# No character takes more than 4 bytes in UTF-8, so shorter messages need no measuring.
_SAFE_MESSAGE_CHARS = MESSAGE_LIMIT_BYTES // 4
_STATUSES = {severity: severity.lower() for severity in ('DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL')}


def to_datadog_log(raw: dict[str, Any], nanos: int, stream: str, ddtags: str, service: str | None) -> dict[str, Any]:
    """Build the submitted log from `raw`, which it takes over (it becomes the `acme` attribute).

    ACME's own fields go under `acme`, so none collides with Datadog's reserved attributes.
    """
    message = raw.pop('message')
    raw['stream'] = stream
    if len(message) > _SAFE_MESSAGE_CHARS and len(encoded := message.encode('utf-8')) > MESSAGE_LIMIT_BYTES:
        # Cutting bytes can split a character; 'ignore' drops the partial one.
        message = encoded[:MESSAGE_LIMIT_BYTES].decode('utf-8', 'ignore')
        raw['truncated'] = True

    log: dict[str, Any] = {
        'message': message,
        'timestamp': nanos / NANOS_PER_SECOND,
        'ddsource': SOURCE,
        'ddtags': ddtags,
        'acme': raw,
    }
    severity = raw.get('severity')
    if severity is not None:
        log['status'] = _STATUSES.get(severity) or str(severity).lower()
    log_service = raw.get('service')
    if isinstance(log_service, str):
        log['service'] = log_service
    elif service:
        log['service'] = service
    host = raw.get('host')
    if isinstance(host, str):
        log['hostname'] = host
    return log
