# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Many streams on one token: an Agent-like schedule on the fake clock, and what the sandbox saw of it.

Shared by test_many_streams.py and test_bench_streams.py. It imports nothing from conftest, and the check only when
it crawls, so that a crawl can run in a process of its own (test_bench_streams.py runs each there):

    python -m tests.stream_schedule --streams 120 --minutes 10

prints one Measurement as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from statistics import median
from typing import Any, Callable, Iterable, Sequence

from .clock import FakeClock
from .sandbox import AcmeSandbox, RequestRecord, generate_logs
from .sandbox.timefmt import parse_rfc3339, seconds_to_ns

# ACME's limits per token: 10 requests a second and 300 a minute; the minute's is the one that lasts.
SUSTAINED_RATE = 300 / 60
INTERVAL = 15.0  # the Agent's default min_collection_interval
MAX_RUN_TIME = 10.0
LISTING_PATH = '/api/v1/streams'
INGESTION_DELAY = 60.0
# 2026-11-26T12:00:00Z, as in conftest.py: a whole minute, so runs start at :00, :15, :30 and :45.
START = 1795694400.0
TOKEN = 'schedule-token'


def ideal_staleness(streams: int) -> float:
    """The least any crawler can promise every stream: a round of one request per stream at ACME's sustained rate."""
    return streams / SUSTAINED_RATE


def stream_names(count: int, *, prefix: str = 's') -> list[str]:
    return [f'{prefix}{index:04d}' for index in range(count)]


def light_traffic(
    sandbox: AcmeSandbox, streams: Iterable[str], *, seed: str, start: float, end: float, per_stream: int
) -> dict[str, list[dict[str, Any]]]:
    """A few logs per stream with timestamps in [start, end), stored up front: each becomes readable at its timestamp
    or up to 60 s later (late arrival), so on the fake clock they turn up as a live feed's would. By stream."""
    logs = {}
    for stream in streams:
        logs[stream] = list(generate_logs(seed=f'{seed}:{stream}', start=start, end=end, count=per_stream))
        sandbox.add_logs(stream, logs[stream])
    return logs


@dataclass(frozen=True)
class Run:
    start: float
    end: float


class AgentScheduler:
    """Calls `run_once` every `interval` seconds of the fake clock, as the Agent's scheduler runs a check.

    A run's own waits (rate limits, backoff) move the clock; the next run starts at the next tick, and a tick that
    falls while a run is still going is skipped, as the Agent skips a check that is still running. The first tick
    is the clock's time when the scheduler is made.
    """

    def __init__(
        self,
        run_once: Callable[[], Any],
        clock: FakeClock,
        *,
        interval: float = INTERVAL,
        wait: Callable[[float], None] | None = None,
    ) -> None:
        self._run_once = run_once
        self._clock = clock
        self._wait = wait or clock.advance  # between runs (the crawler's `wait` lets an emulated Agent work)
        self._interval = interval
        self.next_tick = clock.time()
        self.runs: list[Run] = []

    def run_until(self, moment: float) -> list[Run]:
        """Run at every tick before `moment`; the clock is left where the last run ended. Returns those runs."""
        runs = []
        while self.next_tick < moment:
            self._wait(max(0.0, self.next_tick - self._clock.time()))
            started = self._clock.time()
            self._run_once()
            runs.append(Run(started, self._clock.time()))
            self.next_tick += self._interval
            while self.next_tick < self._clock.time():
                self.next_tick += self._interval
        self.runs += runs
        return runs


def logs_requests(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [record for record in records if record.stream is not None]


def listing_requests(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [record for record in records if record.path == LISTING_PATH]


def staleness(
    records: Iterable[RequestRecord], streams: Iterable[str], *, since: float, until: float
) -> dict[str, float]:
    """Per stream, the longest time it was not crawled: between `since`, each of its requests, and `until`.

    The gap to `until` counts too: a stream never crawled again has waited at least that long.
    """
    times: dict[str, list[float]] = {stream: [] for stream in streams}
    for record in logs_requests(records):
        if record.stream in times:
            times[record.stream].append(record.clock)
    return {
        stream: max(later - earlier for earlier, later in zip([since, *visits], [*visits, until]))
        for stream, visits in times.items()
    }


def requests_per_run(records: Iterable[RequestRecord], runs: Sequence[Run]) -> list[int]:
    """How many requests each run sent (all requests arrive between its start and the next run's)."""
    starts = [run.start for run in runs]
    counts = [0] * len(runs)
    for record in records:
        index = bisect_right(starts, record.clock) - 1
        if index >= 0:
            counts[index] += 1
    return counts


def listing_passes(records: Iterable[RequestRecord]) -> list[list[RequestRecord]]:
    """The listing requests, grouped into passes: a pass starts with a request without a page token."""
    passes: list[list[RequestRecord]] = []
    for record in listing_requests(records):
        if not record.page_token or not passes:
            passes.append([])
        passes[-1].append(record)
    return passes


def wasted_requests(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    """Logs requests that neither served a log nor moved their stream's cursor to their query's end.

    A request that served nothing must be a new query (so, the last page of one: the sandbox gives a next page only
    when logs remain) over a window that is not empty, and the stream's next query must start at that window's end:
    a quiet stream pays one request per visit, to move its cursor on. Every failed request is wasted too.
    """
    by_stream: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in logs_requests(records):
        by_stream[record.stream].append(record)  # type: ignore[index]
    wasted = []
    for requests in by_stream.values():
        new_queries = [record for record in requests if not record.page_token]
        next_start = {id(record): later.start_time_ns for record, later in zip(new_queries, new_queries[1:])}
        for record in requests:
            if record.status != 200:
                wasted.append(record)
            elif record.served:
                continue
            elif record.page_token or record.start_time_ns is None or record.end_time_ns is None:
                wasted.append(record)
            elif record.end_time_ns <= record.start_time_ns:
                wasted.append(record)
            elif next_start.get(id(record), record.end_time_ns) != record.end_time_ns:
                wasted.append(record)
    return wasted


def requests_per_minute(records: Iterable[RequestRecord]) -> Counter[int]:
    """Requests per minute of ACME's clock, the window its per-minute limit counts in."""
    return Counter(math.floor(record.clock / 60) for record in records)


@dataclass(frozen=True)
class Delivery:
    expected: int
    sent: int
    lost: int  # expected, not sent, and before a later log of its stream that was sent: passed over for good
    unread: int  # expected, not sent, after everything sent of its stream: not reached by the end
    duplicates: int


def delivery(sent_keys: Sequence[tuple[str, str]], logs: dict[str, list[dict[str, Any]]], *, until: float) -> Delivery:
    """What became of the logs with timestamps before `until` (final, and due to be sent by the end)."""
    order = {}
    for stream, stream_logs in logs.items():
        for log in stream_logs:
            nanos = parse_rfc3339(log['timestamp'])
            if nanos < seconds_to_ns(until):
                order[(stream, log['id'])] = (nanos, log['id'])
    counts = Counter(sent_keys)
    furthest: dict[str, tuple[int, str]] = {}
    for key in counts:
        if key in order:
            furthest[key[0]] = max(furthest.get(key[0], order[key]), order[key])
    missing = [key for key in order if key not in counts]
    lost = sum(1 for key in missing if key[0] in furthest and order[key] < furthest[key[0]])
    return Delivery(
        expected=len(order),
        sent=sum(1 for key in counts if key in order),
        lost=lost,
        unread=len(missing) - lost,
        duplicates=sum(times - 1 for times in counts.values() if times > 1),
    )


@dataclass(frozen=True)
class Measurement:
    """One crawl of many streams: how long each waited, what the runs cost, and what became of the logs."""

    streams: int
    runs: int
    simulated_seconds: float
    ideal: float
    max_staleness: float
    median_staleness: float
    never_crawled: int
    requests: int
    requests_per_run_median: float
    requests_per_run_max: int
    requests_per_minute_max: int
    listing_requests: int
    listing_passes: int
    violations: int
    failed: int
    wasted: int
    delivery: Delivery
    real_seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return self.max_staleness / self.ideal

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        fields = json.loads(text)
        return cls(**{**fields, 'delivery': Delivery(**fields['delivery'])})


def measure(
    records: Sequence[RequestRecord],
    runs: Sequence[Run],
    streams: Sequence[str],
    *,
    sent_keys: Sequence[tuple[str, str]],
    logs: dict[str, list[dict[str, Any]]],
    logs_until: float,
    real_seconds: float = 0.0,
) -> Measurement:
    since, until = runs[0].start, runs[-1].end
    waits = staleness(records, streams, since=since, until=until)
    crawled = {record.stream for record in logs_requests(records)}
    per_run = requests_per_run(records, runs)
    return Measurement(
        streams=len(streams),
        runs=len(runs),
        simulated_seconds=until - since,
        ideal=ideal_staleness(len(streams)),
        max_staleness=max(waits.values()),
        median_staleness=median(waits.values()),
        never_crawled=sum(1 for stream in streams if stream not in crawled),
        requests=len(records),
        requests_per_run_median=median(per_run),
        requests_per_run_max=max(per_run),
        requests_per_minute_max=max(requests_per_minute(records).values()),
        listing_requests=len(listing_requests(records)),
        listing_passes=len(listing_passes(records)),
        violations=sum(record.violation for record in records),
        failed=sum(record.status != 200 for record in records),
        wasted=len(wasted_requests(records)),
        delivery=delivery(sent_keys, logs, until=logs_until),
        real_seconds=real_seconds,
    )


@dataclass(frozen=True)
class Scenario:
    """N streams on one token, discovered (no `streams:`), light traffic, runs every 15 s of at most 10 s."""

    streams: int
    minutes: float
    logs_per_stream: int = 4
    seed: str = 'schedule'
    # Seconds past a whole minute of ACME's clock at which the first run starts: where the runs fall in the
    # per-minute window changes when its budget runs out.
    phase: float = 0.0

    @property
    def start(self) -> float:
        return START + self.phase

    @property
    def duration(self) -> float:
        return self.minutes * 60

    @property
    def traffic(self) -> tuple[float, float]:
        """Logs from 10 minutes before the first run until late enough that every stream's last visit, within
        twice the ideal of the end, has them all final (past the ingestion delay)."""
        return self.start - 600, self.start + self.duration - 2 * ideal_staleness(self.streams) - INGESTION_DELAY

    def instance(self, url: str) -> dict[str, Any]:
        return {'url': url, 'api_token': TOKEN, 'max_run_time': MAX_RUN_TIME, 'min_collection_interval': INTERVAL}


def crawl_in_this_process(scenario: Scenario) -> Measurement:
    """The scenario against the check, with the Agent's stubs."""
    from datadog_checks.acme import AcmeCheck
    from datadog_checks.base.stubs import datadog_agent

    from .agent_emulation import agent_settings, record_sent_logs

    datadog_agent.reset()
    agent_settings(datadog_agent, {'logs_enabled': True})
    sent_logs = record_sent_logs(datadog_agent)
    clock = FakeClock(scenario.start)
    streams = stream_names(scenario.streams)
    with AcmeSandbox(token=TOKEN, clock=clock.time, seed=7, rate_limits=True) as sandbox:
        for stream in streams:
            sandbox.add_stream(stream, created_at=scenario.start - 86400)
        start, end = scenario.traffic
        logs = light_traffic(
            sandbox, streams, seed=scenario.seed, start=start, end=end, per_stream=scenario.logs_per_stream
        )
        check = AcmeCheck('acme', {}, [scenario.instance(sandbox.url)])
        check.check_id = 'acme:schedule'
        check.clock = clock

        def run_once() -> None:
            error = check.run()
            assert not error, error

        started = time.perf_counter()
        runs = AgentScheduler(run_once, clock).run_until(scenario.start + scenario.duration)
        real_seconds = time.perf_counter() - started
        sent = [(_stream_of(log), log['acme']['id']) for log in sent_logs[check.check_id]]
        return measure(
            sandbox.stats.records, runs, streams, sent_keys=sent, logs=logs, logs_until=end, real_seconds=real_seconds
        )


def _stream_of(log: dict[str, Any]) -> str:
    (stream,) = [tag.split(':', 1)[1] for tag in log['ddtags'].split(',') if tag.startswith('acme_stream:')]
    return stream


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--streams', type=int, required=True)
    parser.add_argument('--minutes', type=float, required=True)
    parser.add_argument('--logs-per-stream', type=int, default=Scenario.logs_per_stream)
    parser.add_argument('--phase', type=float, default=0.0, help='seconds past a whole minute of the first run')
    args = parser.parse_args(argv)
    scenario = Scenario(
        streams=args.streams, minutes=args.minutes, logs_per_stream=args.logs_per_stream, phase=args.phase
    )
    print(crawl_in_this_process(scenario).to_json())
    return 0


if __name__ == '__main__':
    sys.exit(main())
