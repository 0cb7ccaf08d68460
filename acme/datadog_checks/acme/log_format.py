# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Turns one ACME log into the log the Agent submits.

Shape of a submitted log:

- `acme`: every field of the ACME log exactly as ACME sent it (any field ACME adds later included), except
  `message`, which becomes the log's message;
- `message`, `timestamp` (milliseconds), `status`, `service`, `hostname`, `ddsource`, `ddtags`: Datadog's own
  attributes, taken from ACME's fields;
- `acme_crawler`: what the check itself has to say about the log, only when it has something to say, in a
  namespace ACME's fields cannot collide with: `truncated` (the message was cut to fit the intake) and
  `raw_fields` (fields nested deeper than any JSON decoder goes, kept as their JSON text).
"""

from __future__ import annotations

from typing import Any

from .acme_json import PartlyDecoded

SOURCE = 'acme'
CRAWLER_FIELDS = 'acme_crawler'
NANOS_PER_MILLI = 1_000_000
# The intake takes logs up to 1 MB; ACME messages go up to 1 MiB. Leave room for the other fields.
MESSAGE_LIMIT_BYTES = 900_000
# No character takes more than 4 bytes in UTF-8, so shorter messages need no measuring.
_SAFE_MESSAGE_CHARS = MESSAGE_LIMIT_BYTES // 4
_STATUSES = {severity: severity.lower() for severity in ('DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL')}


def to_datadog_log(raw: dict[str, Any], nanos: int, ddtags: str, service: str | None) -> dict[str, Any]:
    """Build the submitted log from `raw`, which it takes over (it becomes the `acme` attribute)."""
    message = raw.pop('message')
    notes: dict[str, Any] | None = None
    if len(message) > _SAFE_MESSAGE_CHARS and len(encoded := message.encode('utf-8')) > MESSAGE_LIMIT_BYTES:
        # Cutting bytes can split a character; 'ignore' drops the partial one.
        message = encoded[:MESSAGE_LIMIT_BYTES].decode('utf-8', 'ignore')
        notes = {'truncated': True}
    if raw.__class__ is PartlyDecoded:
        notes = {**(notes or {}), 'raw_fields': raw.raw_fields}

    log: dict[str, Any] = {
        'message': message,
        'timestamp': nanos // NANOS_PER_MILLI,
        'ddsource': SOURCE,
        'ddtags': ddtags,
        'acme': raw,
    }
    if notes:
        log[CRAWLER_FIELDS] = notes
    severity = raw.get('severity')
    if severity.__class__ is str:
        log['status'] = _STATUSES.get(severity) or severity.lower()
    log_service = raw.get('service')
    if log_service.__class__ is str:
        log['service'] = log_service
    elif service:
        log['service'] = service
    host = raw.get('host')
    if host.__class__ is str:
        log['hostname'] = host
    return log
