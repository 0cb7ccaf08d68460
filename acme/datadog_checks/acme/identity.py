# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Whose cursor is it: the names a stream's cursor is stored under.

ACME's contract gives no account id, and one public URL serves every customer, so the URL alone cannot tell two
accounts apart. What it does give is each stream's `created_at` in the listing: two accounts' `prod-web` streams
were not created at the same instant, and a rotated token still lists the same stream with the same `created_at`.
A cursor therefore belongs to (the endpoint, the stream id, the stream's creation instant):

- the endpoint is the normalized `url`: a trailing slash, the host's case or an explicit default port do not
  change it;
- the token is not part of it, so rotating a token keeps the cursors;
- a stream deleted and created again under the same id is a new stream and starts as one.

Digests are SHA-256, stable across processes and Python versions (never Python's per-process `hash()`).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

_DEFAULT_PORTS = {'http': 80, 'https': 443}
# Bumped if what a digest covers ever changes, so old and new cursors can never be confused.
_SCHEME_VERSION = 'acme-cursors-v2'


def normalized_url(url: str) -> str:
    """`url` without what does not change the endpoint: case of scheme and host, default port, trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or '').lower()
    if ':' in host:
        host = f'[{host}]'  # an IPv6 literal
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f'{host}:{port}'
    return f'{scheme}://{netloc}{parts.path.rstrip("/")}'


def endpoint_digest(url: str) -> str:
    """The persistent-cache id of an instance: a digest of its ACME endpoint."""
    return _digest(normalized_url(url))


def cursor_key(stream_id: str, created_ns: int | None) -> str:
    """The persistent-cache key of one stream's cursor.

    Only `[a-zA-Z0-9_-]` survive in the Agent's cache file names; stream ids are made of those, and the digest
    has a fixed length, so no two (stream, creation) pairs share a key.
    """
    created = '' if created_ns is None else str(created_ns)
    return f'log_cursor_{stream_id}_{_digest(stream_id, created)[:12]}'


def _digest(*parts: str) -> str:
    return hashlib.sha256('\0'.join((_SCHEME_VERSION, *parts)).encode()).hexdigest()[:16]
