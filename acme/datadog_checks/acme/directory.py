# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The streams an instance crawls, as ACME's listing shows them, listed again every few minutes.

The listing is read even when `streams` names them: it gives each stream's `created_at`, which tells accounts
apart (see identity.py). It is not paid for at every run: a full pass every LISTING_INTERVAL, paged through across
runs when it is long, finds new streams within minutes and notices streams that went away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .errors import PageTokenExpired

if TYPE_CHECKING:
    from .client import AcmeClient, StreamInfo
    from .clock import Clock

LISTING_INTERVAL = 5 * 60
# After a failed listing request, the known streams are crawled and the listing waits this long.
LISTING_RETRY = 60
LISTING_PAGE_SIZE = 1000  # ACME's maximum: a listing entry is small


class StreamDirectory:
    """Known streams by id, in listing order (or in the order of `streams` when it is configured)."""

    def __init__(
        self,
        *,
        client: AcmeClient,
        clock: Clock,
        configured: tuple[str, ...] | None,
        warn: Callable[..., None],
    ) -> None:
        self._client = client
        self._clock = clock
        self._configured = configured
        self._warn = warn
        self.streams: dict[str, StreamInfo] = {}
        self._seen: dict[str, StreamInfo] | None = None  # the pass in progress, if any
        self._page_token: str | None = None
        self._next_pass_at = float('-inf')
        self._held_until = float('-inf')

    def listing_due(self) -> bool:
        now = self._clock.time()
        return now >= self._held_until and (self._seen is not None or now >= self._next_pass_at)

    def postpone(self) -> None:
        """Hold the listing off for a while after a failure; a pass in progress continues where it was."""
        self._held_until = self._clock.time() + LISTING_RETRY

    def list_page(self) -> None:
        """Read the next page of the listing (starting a pass if none is in progress); update `streams`."""
        if self._seen is None:
            self._seen, self._page_token = {}, None
        try:
            page = self._client.streams_page(limit=LISTING_PAGE_SIZE, page_token=self._page_token)
        except PageTokenExpired:
            self._seen = None  # the pass starts again at the next page; streams found so far stay
            return
        for info in page.streams:
            if self._configured is None or info.id in self._configured:
                self._seen[info.id] = info
                self.streams[info.id] = info
        self._page_token = page.next_token
        if page.next_token:
            return
        self._finish_pass(self._seen)

    def drop(self, stream_id: str) -> None:
        """Stop crawling a stream ACME says cannot be read (403/404) until a listing shows it again."""
        self.streams.pop(stream_id, None)

    def _finish_pass(self, seen: dict[str, StreamInfo]) -> None:
        self._seen = None
        self._next_pass_at = self._clock.time() + LISTING_INTERVAL
        # A stream gone from the listing is no longer crawled; if it comes back, it resumes from its cursor.
        for stream_id in [stream_id for stream_id in self.streams if stream_id not in seen]:
            del self.streams[stream_id]
        if self._configured is not None:
            ordered = {stream_id: seen[stream_id] for stream_id in self._configured if stream_id in seen}
            self.streams = ordered
            missing = [stream_id for stream_id in self._configured if stream_id not in seen]
            if missing:
                self._warn(
                    'Streams %s are not in ACME\'s listing for this token (`streams`): they do not exist or the '
                    'token may not read them; they are not crawled',
                    ', '.join(f'`{stream_id}`' for stream_id in missing),
                )
