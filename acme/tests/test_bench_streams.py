# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""How long each of 120 and 1,000 streams on one token waits to be crawled, against the least any crawler can do.

Run with `./dev bench -k streams`, or directly:

    cd acme && python -m pytest tests/test_bench_streams.py --benchmark-only -s -p no:cacheprovider

It uses the `benchmark` fixture, so normal runs (`--benchmark-skip`) skip it. Time is simulated: each crawl runs in
a process of its own (`python -m tests.stream_schedule`) where the check and the sandbox share a fake clock, over a
real socket, with ACME's real limits (10 requests a second, 300 a minute, per token) enforced on that clock; runs
start every 15 s with `max_run_time: 10`, streams are discovered (no `streams:`), and a few logs per stream turn up
live. Simulated minutes per size: ACME_BENCH_STREAMS_MINUTES_120 (10) and ACME_BENCH_STREAMS_MINUTES_1000 (20).

The floor is the ideal wait, N streams / ACME's 5 requests a second: no crawler on one token visits a stream more often.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

import pytest

from .bench_support import INTEGRATION_ROOT, env_int, once
from .stream_schedule import Measurement

pytestmark = pytest.mark.integration

# Streams, and simulated minutes: at least 5 rounds of the ideal N / 5 s each.
SIZES = {
    120: env_int('ACME_BENCH_STREAMS_MINUTES_120', 10),
    1000: env_int('ACME_BENCH_STREAMS_MINUTES_1000', 20),
}
TARGET = 1.5  # max staleness / ideal
CRAWL_TIMEOUT = 1800.0


def crawl(streams: int, minutes: int) -> Measurement:
    """One simulated crawl in a process of its own."""
    command = [sys.executable, '-m', 'tests.stream_schedule', '--streams', str(streams), '--minutes', str(minutes)]
    done = subprocess.run(
        command, cwd=INTEGRATION_ROOT, capture_output=True, text=True, check=False, timeout=CRAWL_TIMEOUT
    )
    if done.returncode:
        raise AssertionError(f'{" ".join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}')
    return Measurement.from_json(done.stdout.strip().splitlines()[-1])


COLUMNS = (
    # header, width, cell
    ('N', 7, lambda m: f'{m.streams:,}'),
    ('ideal s', 8, lambda m: f'{m.ideal:.0f}'),
    ('max s', 7, lambda m: f'{m.max_staleness:.0f}'),
    ('median s', 9, lambda m: f'{m.median_staleness:.0f}'),
    ('max/ideal', 10, lambda m: f'{m.ratio:.2f}'),
    ('never', 6, lambda m: f'{m.never_crawled}'),
    ('req/run med/max', 16, lambda m: f'{m.requests_per_run_median:.0f}/{m.requests_per_run_max}'),
    ('req/min max', 12, lambda m: f'{m.requests_per_minute_max}'),
    ('listing', 8, lambda m: f'{m.listing_requests}'),
    ('violations', 11, lambda m: f'{m.violations}'),
    ('lost', 5, lambda m: f'{m.delivery.lost}'),
    ('unread', 7, lambda m: f'{m.delivery.unread}'),
    ('dup', 4, lambda m: f'{m.delivery.duplicates}'),
    ('real s', 7, lambda m: f'{m.real_seconds:.1f}'),
)


def table(rows: list[Measurement]) -> list[str]:
    lines = [''.join(f'{header:>{width}}' for header, width, _ in COLUMNS)]
    lines += [''.join(f'{cell(m):>{width}}' for _, width, cell in COLUMNS) for m in rows]
    return lines


def test_staleness_of_many_streams_on_one_token(benchmark, capsys):
    measured: dict[int, Measurement] = {}

    def crawl_every_size() -> None:
        measured.update((streams, crawl(streams, minutes)) for streams, minutes in SIZES.items())

    benchmark.pedantic(once(crawl_every_size), rounds=1, iterations=1)
    lines = [
        'The longest time each stream went uncrawled, one token, streams discovered, light live traffic;',
        f'simulated {", ".join(f"{m} min for {n:,} streams" for n, m in SIZES.items())} (fake clock shared by check '
        'and sandbox, real socket, ACME\'s limits); runs every 15 s, max_run_time 10;',
        f'ideal = N / 5 requests/s; target max/ideal <= {TARGET}; "never": streams not crawled at all (their wait is '
        'the whole crawl, a lower bound); "unread": logs due by the end that were not sent;',
        '',
        *table(list(measured.values())),
    ]
    benchmark.extra_info.update({f'{m.streams}_streams': asdict(m) for m in measured.values()})
    with capsys.disabled():
        print('\n' + '\n'.join(lines))

    for streams, m in measured.items():
        assert m.ratio <= TARGET, (
            f'{streams} streams: max staleness {m.max_staleness:.0f} s > {TARGET} x {m.ideal:.0f} s'
        )
        assert m.never_crawled == 0
        assert m.violations == 0, 'requests sent while told to wait'
        assert m.failed == 0
        assert m.wasted == 0
        assert (m.delivery.lost, m.delivery.unread, m.delivery.duplicates) == (0, 0, 0), m.delivery
