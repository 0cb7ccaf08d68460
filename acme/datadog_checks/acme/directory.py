# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The streams an instance crawls, as ACME's listing shows them every 5 minutes, and the order a run visits them in.

With N streams on a token, none can be visited more often than every N / 5 s (ACME's sustained rate). Least recently
visited first, a page per visit while others wait, comes closest: a stream waits at most a round of the others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

from .client import INSTANCE_FAILURES, AcmeApiError
from .stream import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from .check import Crawl
    from .client import StreamInfo
    from .recovery import Recovery
    from .stream import AcmeLogStream

    Adopt = Callable[[StreamInfo], AcmeLogStream]  # a listed stream made an AcmeLogStream, with its cursor

LISTING_INTERVAL = 5 * 60
LISTING_RETRY = 60  # after a failed listing the known streams are crawled, and the listing waits this long


class StreamDirectory:
    """Known streams by id, in listing order (or in the order of `streams` when it is configured)."""

    def __init__(self, crawl: Crawl, *, streams: tuple[str, ...] | None, adopt: Adopt, recovery: Recovery | None):
        self._crawl, self._configured, self._adopt, self._recovery = crawl, streams, adopt, recovery
        crawl.others_waiting = self.others_waiting
        self.streams: dict[str, AcmeLogStream] = {}
        self._listing_at = float('-inf')  # when the listing is due
        self._visiting: AcmeLogStream | None = None
        self._done: set[str] = set()  # this run's: visited, and caught up or failed

    def visits(self) -> Iterator[AcmeLogStream]:
        """One run's streams, the least recently visited first, one with a backlog again after the others; each
        visit (its `records`) ends before the next stream is asked for."""
        self._done.clear()
        if self._crawl.clock.time() >= self._listing_at:
            self._list()
        recovering = [stream for stream in self.streams.values() if stream.recovering]
        if recovering and self._recovery is not None:
            self._recovery.resolve(recovering)
        try:
            while waiting := self._waiting():
                # Never read streams first, then the least recently visited; a failing stream whose backoff ended
                # takes its turn like the others, so that a backlog elsewhere never keeps it from its retry.
                self._visiting = min(waiting, key=lambda stream: stream.last_visit)
                yield self._visiting
                if self._visiting.caught_up or self._visiting.failures:
                    self._done.add(self._visiting.stream_id)
                if self._visiting.unavailable:  # ACME answered 403/404: not asked again until a listing shows it
                    self.streams.pop(self._visiting.stream_id, None)
        finally:
            self._visiting = None

    def others_waiting(self) -> bool:
        """Whether a stream other than the one being visited waits for its turn in this run."""
        return any(stream is not self._visiting for stream in self._waiting())

    def _waiting(self) -> list[AcmeLogStream]:
        now = self._crawl.clock.time()
        return [
            stream
            for stream in self.streams.values()
            if stream.stream_id not in self._done
            and stream.retry_at <= now
            and not (stream.unavailable or stream.recovering)
        ]

    def _list(self) -> None:
        """Read the whole listing; a stream gone from it is no longer crawled, and resumes from its cursor when back."""
        listed: dict[str, AcmeLogStream] = {}
        token = None
        try:
            while True:
                infos, token = self._crawl.client.streams_page(limit=MAX_PAGE_SIZE, page_token=token)
                for info in infos:
                    if self._configured is None or info.id in self._configured:
                        stream = self.streams.get(info.id)
                        if stream is None or info.created_ns not in (None, stream.created_ns):
                            stream = self._adopt(info)
                        stream.unavailable = False
                        listed[info.id] = self.streams[info.id] = stream
                if not token:
                    break
        except INSTANCE_FAILURES:
            raise
        except AcmeApiError as e:  # an expired page token too: the pass starts again later
            if not self.streams:
                raise  # nothing to crawl meanwhile: the run fails, and says why
            self._crawl.warn('Could not list ACME streams, %s; crawling the known streams', e)
            self._listing_at = self._crawl.clock.time() + max(LISTING_RETRY, e.retry_after or 0.0)
            return
        self._listing_at = self._crawl.clock.time() + LISTING_INTERVAL
        order = self._configured if self._configured is not None else list(listed)
        self.streams = {stream_id: listed[stream_id] for stream_id in order if stream_id in listed}
        missing = [stream_id for stream_id in self._configured or () if stream_id not in listed]
        if missing:
            names = ', '.join(f'`{stream_id}`' for stream_id in missing)
            message = 'Streams %s are not in ACME\'s listing for this token (`streams`): they do not exist or '
            self._crawl.warn(message + 'the token may not read them; they are not crawled', names)
