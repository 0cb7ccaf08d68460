# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""How long each of 120 and 1,000 streams on one token waits to be crawled, before and after the last redesign.

Run with `./dev bench -k streams`, or directly:

    cd acme && python -m pytest tests/test_bench_streams.py --benchmark-only -s -p no:cacheprovider

It uses the `benchmark` fixture, so normal runs (`--benchmark-skip`) skip it. Time is simulated: each crawl runs in
a process of its own (`python -m tests.stream_schedule`) where the check and the sandbox share a fake clock, over a
real socket, with ACME's real limits (10 requests a second, 300 a minute, per token) enforced on that clock; runs
start every 15 s with `max_run_time: 10`, streams are discovered (no `streams:`), and a few logs per stream turn up
live. Simulated minutes per size: ACME_BENCH_STREAMS_MINUTES_120 (10) and ACME_BENCH_STREAMS_MINUTES_1000 (20).

"Before" is the check at BEFORE_COMMIT (its own loop over the streams, before the base package's one), taken
out of git with `git archive` into a temporary directory and crawled against this sandbox; ACME_BENCH_BEFORE=<an
integration root> crawls another one instead. Without git or the commit, the table has no "before" rows.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import pytest

from .bench_support import BEFORE_COMMIT, INTEGRATION_ROOT, before_version, env_int
from .stream_schedule import Measurement

# Streams, and simulated minutes: at least 5 rounds of the ideal N / 5 s each.
SIZES = {
    120: env_int('ACME_BENCH_STREAMS_MINUTES_120', 10),
    1000: env_int('ACME_BENCH_STREAMS_MINUTES_1000', 20),
}
TARGET = 1.5  # max staleness / ideal
CRAWL_TIMEOUT = 1800.0


@pytest.fixture(scope='module')
def before_package() -> Iterator[Path | None]:
    with before_version() as root:
        yield root


def crawl(streams: int, minutes: int, *, package: Path | None = None) -> Measurement:
    """One simulated crawl in a process of its own; `package`: an integration root to import the check from."""
    command = [sys.executable, '-m', 'tests.stream_schedule', '--streams', str(streams), '--minutes', str(minutes)]
    if package is not None:
        command += ['--package', str(package)]
    done = subprocess.run(
        command, cwd=INTEGRATION_ROOT, capture_output=True, text=True, check=False, timeout=CRAWL_TIMEOUT
    )
    if done.returncode:
        raise AssertionError(f'{" ".join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}')
    return Measurement.from_json(done.stdout.strip().splitlines()[-1])


COLUMNS = (
    # header, width, cell
    ('check', 7, lambda label, m: label),
    ('N', 7, lambda label, m: f'{m.streams:,}'),
    ('ideal s', 8, lambda label, m: f'{m.ideal:.0f}'),
    ('max s', 7, lambda label, m: f'{m.max_staleness:.0f}'),
    ('median s', 9, lambda label, m: f'{m.median_staleness:.0f}'),
    ('max/ideal', 10, lambda label, m: f'{m.ratio:.2f}'),
    ('never', 6, lambda label, m: f'{m.never_crawled}'),
    ('req/run med/max', 16, lambda label, m: f'{m.requests_per_run_median:.0f}/{m.requests_per_run_max}'),
    ('req/min max', 12, lambda label, m: f'{m.requests_per_minute_max}'),
    ('listing', 8, lambda label, m: f'{m.listing_requests}'),
    ('violations', 11, lambda label, m: f'{m.violations}'),
    ('lost', 5, lambda label, m: f'{m.delivery.lost}'),
    ('unread', 7, lambda label, m: f'{m.delivery.unread}'),
    ('dup', 4, lambda label, m: f'{m.delivery.duplicates}'),
    ('real s', 7, lambda label, m: f'{m.real_seconds:.1f}'),
)


def table(rows: list[tuple[str, Measurement]]) -> list[str]:
    lines = [''.join(f'{header:>{width}}' for header, width, _ in COLUMNS)]
    lines += [''.join(f'{cell(label, m):>{width}}' for _, width, cell in COLUMNS) for label, m in rows]
    return lines


def test_staleness_of_many_streams_on_one_token(benchmark, before_package, capsys):
    after: dict[int, Measurement] = {}

    def crawl_every_size() -> None:
        after.update((streams, crawl(streams, minutes)) for streams, minutes in SIZES.items())

    benchmark.pedantic(crawl_every_size, rounds=1, iterations=1)
    before = {}
    if before_package is not None:
        before = {streams: crawl(streams, minutes, package=before_package) for streams, minutes in SIZES.items()}

    rows = [
        (label, m)
        for streams in SIZES
        for label, m in (('before', before.get(streams)), ('after', after[streams]))
        if m
    ]
    lines = [
        'The longest time each stream went uncrawled, one token, streams discovered, light live traffic;',
        f'simulated {", ".join(f"{m} min for {n:,} streams" for n, m in SIZES.items())} (fake clock shared by check '
        'and sandbox, real socket, ACME\'s limits); runs every 15 s, max_run_time 10;',
        f'ideal = N / 5 requests/s; target max/ideal <= {TARGET}; "never": streams not crawled at all (their wait is '
        'the whole crawl, a lower bound); "unread": logs due by the end that were not sent;',
        f'before = {BEFORE_COMMIT}' + ('' if before else ' (not available: no git or no such commit)'),
        '',
        *table(rows),
    ]
    benchmark.extra_info.update({f'{label}_{m.streams}_streams': asdict(m) for label, m in rows})
    with capsys.disabled():
        print('\n' + '\n'.join(lines))

    for streams, m in after.items():
        assert m.ratio <= TARGET, (
            f'{streams} streams: max staleness {m.max_staleness:.0f} s > {TARGET} x {m.ideal:.0f} s'
        )
        assert m.never_crawled == 0
        assert m.violations == 0, 'requests sent while told to wait'
        assert m.failed == 0
        assert m.wasted == 0
        assert (m.delivery.lost, m.delivery.unread, m.delivery.duplicates) == (0, 0, 0), m.delivery
