# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Where a stream's crawl stands: a position in ACME's order of logs."""

from __future__ import annotations

from typing import Any, NamedTuple

from .timestamps import format_rfc3339, parse_rfc3339


class InvalidCursor(ValueError):
    """A stored cursor that this version cannot read."""


class Position(NamedTuple):
    """A point in ACME's order `(timestamp instant, id)`; tuple comparison is that order.

    ACME compares ids byte by byte; Python compares `str` by code point, which for UTF-8 is the same order.
    `Position(t, '')` lies before every log at instant `t`: "everything before `t` is done".
    """

    nanos: int
    id: str

    @classmethod
    def before(cls, nanos: int) -> Position:
        return cls(nanos, '')

    def to_cursor(self) -> dict[str, str]:
        return {'timestamp': format_rfc3339(self.nanos), 'id': self.id}

    @classmethod
    def from_cursor(cls, cursor: Any) -> Position:
        """Read a cursor written by `to_cursor`; raise InvalidCursor for anything else."""
        try:
            timestamp, log_id = cursor['timestamp'], cursor['id']
            if not isinstance(log_id, str):
                raise TypeError(f'id is {type(log_id).__name__}')
            return cls(parse_rfc3339(timestamp), log_id)
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidCursor(f'unreadable cursor {cursor!r}: {e}') from None


class OpenQuery(NamedTuple):
    """A query a run stopped in the middle of, continued by the next run with its page token.

    Restarting from the cursor instead would re-read every log sharing the cursor's timestamp: with more
    ties than one run can page through, a stream would never get past them.
    """

    page_token: str
    end: int  # the query's exclusive upper bound, in nanoseconds
    resumes: Position | None  # the cursor stored when the token was received; the token continues from there
    issued_at: float  # Unix seconds
