# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The streams an instance crawls, as ACME's listing shows them, and the order a run visits them in.

With N streams on a token, none can be visited more often than every N / 5 s (ACME's sustained rate). Least recently
visited first, a page per visit while others wait, comes closest: a stream waits at most a round of the others. A
stream never read has waited longest; a failing one waits out its backoff (stream.py). The listing gives each
stream's `created_at` (cursors.py): its first pass reads every page at once, later ones a page per few visits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

from .client import INSTANCE_FAILURES, AcmeApiError, PageTokenExpired

if TYPE_CHECKING:
    from .client import AcmeClient, StreamInfo
    from .stream import AcmeLogStream
    from .timing import Clock

LISTING_INTERVAL = 5 * 60
# After a failed listing request, the known streams are crawled and the listing waits this long.
LISTING_RETRY = 60
LISTING_PAGE_SIZE = 1000  # ACME's maximum: a listing entry is small
VISITS_PER_LISTING_PAGE = 4


class StreamDirectory:
    """Known streams by id, in listing order (or in the order of `streams` when it is configured)."""

    def __init__(
        self,
        *,
        client: AcmeClient,
        clock: Clock,
        configured: tuple[str, ...] | None,
        adopt: Callable[[StreamInfo], AcmeLogStream],
        warn: Callable[..., None],
    ) -> None:
        self._client = client
        self._clock = clock
        self._configured = configured
        self._adopt = adopt
        self._warn = warn
        self.streams: dict[str, AcmeLogStream] = {}
        self._seen: dict[str, AcmeLogStream] | None = None  # the listing pass in progress, if any
        self._page_token: str | None = None
        self._listed_once = False
        self._next_pass_at = float('-inf')
        self._held_until = float('-inf')
        self._visiting: AcmeLogStream | None = None
        self._done: set[str] = set()  # this run's: visited, and caught up or failed

    def visits(self) -> Iterator[AcmeLogStream]:
        """One run's streams: the least recently visited first, a stream with a backlog again after the others; the
        listing read when due. Each stream's visit (its `records`) ends before the next stream is asked for."""
        self._done.clear()
        visits_since_listing = VISITS_PER_LISTING_PAGE
        try:
            while True:
                if self._listing_due() and (
                    not self._listed_once or visits_since_listing >= VISITS_PER_LISTING_PAGE or not self._waiting()
                ):
                    self._list_page()
                    visits_since_listing = 0
                    continue
                waiting = self._waiting()
                if not waiting:
                    return
                self._visiting = min(waiting, key=_visit_order)
                yield self._visiting
                visits_since_listing += 1
                if self._visiting.caught_up or self._visiting.failures:
                    self._done.add(self._visiting.stream_id)
                if self._visiting.unavailable:
                    # ACME says it cannot be read (403/404): not asked again until a listing shows it.
                    self.streams.pop(self._visiting.stream_id, None)
        finally:
            self._visiting = None

    def others_waiting(self) -> bool:
        """Whether a stream other than the one being visited, or the listing, waits for its turn in this run."""
        return self._listing_due() or any(stream is not self._visiting for stream in self._waiting())

    def failing(self) -> list[AcmeLogStream]:
        return [stream for stream in self.streams.values() if stream.failures]

    def _waiting(self) -> list[AcmeLogStream]:
        now = self._clock.time()
        return [
            stream
            for stream in self.streams.values()
            if stream.stream_id not in self._done and stream.retry_at <= now and not stream.unavailable
        ]

    def _listing_due(self) -> bool:
        now = self._clock.time()
        return now >= self._held_until and (self._seen is not None or now >= self._next_pass_at)

    def _list_page(self) -> None:
        """Read the next page of the listing (starting a pass if none is in progress)."""
        if self._seen is None:
            self._seen, self._page_token = {}, None
        try:
            infos, self._page_token = self._client.streams_page(limit=LISTING_PAGE_SIZE, page_token=self._page_token)
        except PageTokenExpired:
            self._seen = None  # the pass starts again at the next page; streams found so far stay
            return
        except INSTANCE_FAILURES:
            raise
        except AcmeApiError as e:
            if not self.streams:
                raise  # nothing to crawl meanwhile: the run fails, and says why
            # Known streams are crawled meanwhile; the pass goes on where it was a little later.
            self._warn('Could not list ACME streams, %s; crawling the known streams', e.describe())
            self._held_until = self._clock.time() + max(LISTING_RETRY, e.retry_after or 0.0)
            return
        for info in infos:
            if self._configured is None or info.id in self._configured:
                stream = self.streams.get(info.id)
                if stream is None or not _continues(stream, info):
                    stream = self._adopt(info)
                stream.unavailable = False
                self._seen[info.id] = self.streams[info.id] = stream
        if not self._page_token:
            self._finish_pass(self._seen)

    def _finish_pass(self, seen: dict[str, AcmeLogStream]) -> None:
        self._seen, self._listed_once = None, True
        self._next_pass_at = self._clock.time() + LISTING_INTERVAL
        # A stream gone from the listing is no longer crawled; if it comes back, it resumes from its cursor.
        order = self._configured if self._configured is not None else list(seen)
        self.streams = {stream_id: seen[stream_id] for stream_id in order if stream_id in seen}
        missing = [stream_id for stream_id in self._configured or () if stream_id not in seen]
        if missing:
            self._warn(
                'Streams %s are not in ACME\'s listing for this token (`streams`): they do not exist or the token may '
                'not read them; they are not crawled',
                ', '.join(f'`{stream_id}`' for stream_id in missing),
            )


def _continues(stream: AcmeLogStream, info: StreamInfo) -> bool:
    """Whether the listed stream is the one already crawled (its creation unknown counts as the same)."""
    return info.created_ns is None or stream.created_ns == info.created_ns


def _visit_order(stream: AcmeLogStream) -> tuple[bool, bool, float]:
    """Healthy streams before failing ones (whose retries must not delay them), never read ones first, then the least
    recently visited."""
    return stream.failures > 0, stream.last_visit is not None, stream.last_visit or 0.0
