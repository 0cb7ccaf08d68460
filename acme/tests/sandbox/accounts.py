# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Accounts: ACME is a SaaS whose one URL serves many customers, and a token opens one account.

An account owns its streams, so a stream id is only unique within an account: two customers may
both have a `prod-web`. An account may hold several valid tokens at once, as during a rotation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .faults import StreamFailure
from .store import StreamLogs


@dataclass
class Stream:
    id: str
    # The stream's entry in the listing, encoded once (and again only when a test changes it).
    blob: bytes
    logs: StreamLogs
    # The entry as add_stream made it, so set_listed_created_at can be undone.
    entry: dict[str, Any] = field(default_factory=dict)


@dataclass
class Account:
    # A label for stats and page tokens, never a token: tokens are secrets and must not leak there.
    id: str
    streams: dict[str, Stream] = field(default_factory=dict)
    # Stream id -> what reading it answers instead: 403 forbidden, or 404 as if it did not exist.
    forbidden: dict[str, int] = field(default_factory=dict)
    # Stream id -> the outage its logs requests answer with (fail_stream).
    failing: dict[str, StreamFailure] = field(default_factory=dict)


class Accounts:
    """Which account each token opens. Not thread-safe: the sandbox serialises access."""

    def __init__(self, default_token: str) -> None:
        self._accounts: list[Account] = []
        self._by_token: dict[str, Account] = {}
        self._revoked: set[str] = set()
        self.default = self.add(default_token)

    def __iter__(self) -> Iterator[Account]:
        return iter(self._accounts)

    def add(self, token: str) -> Account:
        """A new, empty account that `token` opens."""
        self._claim(token)
        account = Account(f'account-{len(self._accounts)}')
        self._accounts.append(account)
        self._by_token[token] = account
        return account

    def add_token(self, token: str, *, same_account_as: str) -> None:
        """Another token for an existing account; both keep working until revoked."""
        account = self.named_by(same_account_as)
        self._claim(token)
        self._by_token[token] = account

    def revoke(self, token: str) -> None:
        self.named_by(token)
        self._revoked.add(token)

    def named_by(self, token: str | None) -> Account:
        """The account a setup call means: None is the default; a revoked token still names its account."""
        if token is None:
            return self.default
        account = self._by_token.get(token)
        if account is None:
            raise KeyError('no account has this token; call add_account or add_token first')
        return account

    def authenticate(self, token: str | None) -> Account | None:
        """The account a request's token opens, or None when the token is missing, unknown or revoked."""
        if token is None or token in self._revoked:
            return None
        return self._by_token.get(token)

    def _claim(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError('a token is a non-empty string')
        # Revoked tokens stay taken: reissuing one would quietly undo a revocation under test.
        if token in self._by_token:
            raise ValueError('this token is already in use')
