# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Turns one ACME log into the log the Agent submits."""

from __future__ import annotations

from typing import Any

from .timestamps import nanos_to_seconds

SOURCE = 'acme'
# The intake takes logs up to 1 MB; ACME messages go up to 1 MiB. Leave room for the other fields.
MESSAGE_LIMIT_BYTES = 900_000
# No character takes more than 4 bytes in UTF-8, so shorter messages need no measuring.
_SAFE_MESSAGE_CHARS = MESSAGE_LIMIT_BYTES // 4


def to_datadog_log(raw: dict[str, Any], nanos: int, *, stream: str, ddtags: str, service: str | None) -> dict[str, Any]:
    """ACME's own fields go under `acme`, so none collides with Datadog's reserved attributes."""
    acme = dict(raw)
    message = acme.pop('message')
    acme['stream'] = stream
    if len(message) > _SAFE_MESSAGE_CHARS and len(encoded := message.encode('utf-8')) > MESSAGE_LIMIT_BYTES:
        # Cutting bytes can split a character; 'ignore' drops the partial one.
        message = encoded[:MESSAGE_LIMIT_BYTES].decode('utf-8', 'ignore')
        acme['truncated'] = True

    log: dict[str, Any] = {
        'message': message,
        'timestamp': nanos_to_seconds(nanos),
        'ddsource': SOURCE,
        'ddtags': ddtags,
        'acme': acme,
    }
    severity = raw.get('severity')
    if isinstance(severity, str):
        log['status'] = severity.lower()
    log_service = raw.get('service')
    if isinstance(log_service, str) or service:
        log['service'] = log_service if isinstance(log_service, str) else service
    host = raw.get('host')
    if isinstance(host, str):
        log['hostname'] = host
    return log

