# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Opaque page tokens.

A token carries the whole query (stream, bounds, limit, resume position, issue time), signed,
so the server keeps no per-query state: replaying a token after a failed request returns the
same page again, which is what makes a retry after a fault safe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_MAC_BYTES = 12


class PageTokens:
    def __init__(self, *, secret: bytes) -> None:
        self._secret = secret

    def issue(self, payload: dict[str, Any]) -> str:
        # ASCII escapes: a resume position may hold a lone surrogate (a raw log's sort_id mirroring an
        # `\ud800` id), which UTF-8 cannot carry; json.loads turns the escape back into the same str.
        body = json.dumps(payload, separators=(',', ':')).encode()
        return f'{_b64(body)}.{_b64(self._mac(body))}'

    def read(self, token: str) -> dict[str, Any]:
        """The payload of a token this server issued; ValueError for anything else."""
        body_text, dot, mac_text = token.partition('.')
        if not dot:
            raise ValueError('malformed page_token')
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            raise ValueError('malformed page_token') from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise ValueError('page_token was not issued by this server')
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError('malformed page_token')
        return payload

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))
    except (ValueError, TypeError) as error:
        raise ValueError(str(error)) from None
