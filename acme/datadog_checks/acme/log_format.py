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

from typing import Any, Callable

from .acme_json import PartlyDecoded, encode_exact, encode_fast, flatten_deep_fields

SOURCE = 'acme'
CRAWLER_FIELDS = 'acme_crawler'
NANOS_PER_MILLI = 1_000_000
# The intake takes logs up to 1 MB; ACME messages go up to 1 MiB. Leave room for the other fields.
MESSAGE_LIMIT_BYTES = 900_000
# No character takes more than 4 bytes in UTF-8, so shorter messages need no measuring.
_SAFE_MESSAGE_CHARS = MESSAGE_LIMIT_BYTES // 4
_STATUSES = {severity: severity.lower() for severity in ('DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL')}
# Deepest nesting of an ACME field sent as structure: the line adds two levels, and orjson reads up to 1,024.
MAX_FIELD_NESTING = 1000


def encode_log(log: dict[str, Any]) -> bytes:
    """The Agent's line for a shaped `log`: orjson's, or for what orjson cannot write, the standard library's.

    A field nested deeper than orjson could read back (newer Pythons decode deeper than orjson) goes as its JSON
    text, named in `acme_crawler.raw_fields`: every line stays readable by the Agent's JSON library.
    """
    try:
        return encode_fast(log)
    except (TypeError, ValueError):
        return encode_exactly(log)


def encode_exactly(log: dict[str, Any]) -> bytes:
    """`encode_log` for a log orjson could not write."""
    flattened = flatten_deep_fields(log['acme'], max_nesting=MAX_FIELD_NESTING)
    if flattened:
        notes = log.setdefault(CRAWLER_FIELDS, {})
        notes['raw_fields'] = [*notes.get('raw_fields', ()), *flattened]
    return encode_exact(log)


def log_shaper(ddtags: str, service: str | None) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """The function that builds the submitted log from an ACME log (`raw`, taken over: it becomes `acme`) and its
    instant, for one stream's tags and default service: one call per log, on the crawler's hot path."""
    statuses = _STATUSES

    def shape(raw: dict[str, Any], nanos: int) -> dict[str, Any]:
        message = raw.pop('message')
        if message.__class__ is not str:
            raise ValueError('`message` must be a string')
        log: dict[str, Any] = {
            'message': message,
            'timestamp': nanos // NANOS_PER_MILLI,
            'ddsource': SOURCE,
            'ddtags': ddtags,
            'acme': raw,
        }
        if len(message) > _SAFE_MESSAGE_CHARS or raw.__class__ is not dict:
            _add_notes(log, raw)
        severity = raw.get('severity')
        if severity.__class__ is str:
            log['status'] = statuses.get(severity) or severity.lower()
        log_service = raw.get('service')
        if log_service.__class__ is str:
            log['service'] = log_service
        elif service:
            log['service'] = service
        host = raw.get('host')
        if host.__class__ is str:
            log['hostname'] = host
        return log

    return shape


def _add_notes(log: dict[str, Any], raw: dict[str, Any]) -> None:
    """The rare cases the check has something to say about a log: a message too long, fields too deep."""
    notes: dict[str, Any] = {}
    message = log['message']
    if len(message) > _SAFE_MESSAGE_CHARS and len(encoded := message.encode('utf-8')) > MESSAGE_LIMIT_BYTES:
        # Cutting bytes can split a character; 'ignore' drops the partial one.
        log['message'] = encoded[:MESSAGE_LIMIT_BYTES].decode('utf-8', 'ignore')
        notes['truncated'] = True
    if isinstance(raw, PartlyDecoded):
        notes['raw_fields'] = raw.raw_fields
    if notes:
        log[CRAWLER_FIELDS] = notes
