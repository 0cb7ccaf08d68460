# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Benchmarks for "Fast and frugal": throughput against ACME's limits, cursor writes, memory, stale requests, CPU.

Run with `./dev bench` (`ddev --here test --bench acme`), one with e.g. `./dev bench -k cpu`, or directly:

    cd acme && python -m pytest tests/test_bench.py --benchmark-only -s -p no:cacheprovider

Every test here uses the `benchmark` fixture, so normal runs (`--benchmark-skip`) skip them all. Each measures this
version of the check against a floor in the same run, never against a past version:
- throughput (`-k throughput`): logs/s of a run against a sandbox with ACME's rate limits, as a share of what they
  allow a token; 429s and requests sent while ACME said to wait;
- cursor writes and peak memory: crawls of sandboxes without limits (the check unpaced);
- stale requests: in-process on the fake clock, as 3 days pass in no time there;
- CPU per log (`-k cpu`, tests/cpu_per_log.py): against decoding the pages, and decoding plus `send_log`; with and
  without the Agent's registry, and how often a run opens registry.json.
The sandboxes run in subprocesses over real sockets with the real clock. A summary table is printed when the module
is done. Sizes: ACME_BENCH_LOGS (100000), ACME_BENCH_BIG_LOGS (1000000), ACME_BENCH_THROUGHPUT_LOGS (200000),
ACME_BENCH_ROUNDS (5; the CPU benchmark runs twice as many); ACME_BENCH_PROFILE=1 adds a profile of one check run.
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from contextlib import nullcontext
from typing import Any

import pytest

from datadog_checks.acme import AcmeCheck

from .bench_support import INTEGRATION_ROOT, AgentSinks, BenchReport, RequestLog, SandboxProcess, env_int, once
from .conftest import START, STREAMS
from .sandbox import generate_bulk
from .sandbox.timefmt import seconds_to_ns

pytestmark = pytest.mark.integration

TOKEN = 'bench-token'
BULK_LOGS = env_int('ACME_BENCH_LOGS', 100_000)
BIG_LOGS = env_int('ACME_BENCH_BIG_LOGS', 1_000_000)
THROUGHPUT_LOGS = env_int('ACME_BENCH_THROUGHPUT_LOGS', 200_000)
ROUNDS = env_int('ACME_BENCH_ROUNDS', 5)
CPU_ROUNDS = 2 * ROUNDS
BULK_STREAM = 'bulk'
QUIET_STREAM = 'quiet'  # no logs at all: costs a request and a cursor write per run, never a page
BULK_SPAN = 3600.0
# The bulk ends 120 s before the sandbox started and spans BULK_SPAN: this covers it for the ~hour after.
LOOKBACK = 7200
INGESTION_DELAY = 60  # the check's default, which the instances keep
OLD_CURSOR_AGE = 3600  # the largest `ingestion_delay`: a run with it leaves its cursors an hour back
PAGE_SIZE = 1000
MAX_RUN_TIME = 3600.0  # a run crawls the whole backlog
SANDBOX_READY_TIMEOUT = 300.0

# ACME's limits per token: 10 requests a second, 300 a minute. The minute's is the one that lasts: with full pages,
# a token reads at most 300 x 1000 / 60 = 5,000 logs a second.
ACME_PER_SECOND, ACME_PER_MINUTE = 10, 300
ACME_CEILING = ACME_PER_MINUTE * PAGE_SIZE / 60
# After this long a crawl runs at its sustained pace: the burst a pause saves (25 requests) is spent within 5 s at
# ACME's 10 requests a second.
SETTLE_SECONDS = 10.0
THROUGHPUT_SHARE_TARGET = 0.9
MEMORY_RATIO_TARGET = 1.2
INTAKE_MAX_AGE = 18 * 3600
OUTAGE = 72 * 3600.0
OUTAGE_LOGS_PER_STREAM = 64_800  # one log every 4 s for 3 days

MB = 1024 * 1024


@pytest.fixture(scope='module')
def bench_report(request):
    report = BenchReport()
    yield report
    lines = report.render()
    if not lines:
        return
    config = request.config
    reporter = config.pluginmanager.getplugin('terminalreporter')
    capture = config.pluginmanager.getplugin('capturemanager')
    # Module teardown output is captured like a test's; print the table whether or not `-s` was given.
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        if reporter is None:
            print('\n'.join(['', 'ACME benchmarks ("Fast and frugal")', *lines]))
            return
        reporter.write_line('')
        reporter.write_sep('=', 'ACME benchmarks ("Fast and frugal")')
        for line in lines:
            reporter.write_line(line)
        reporter.write_sep('=')


@pytest.fixture(scope='module')
def bulk_sandboxes():
    """Two sandbox processes, preloaded in parallel: BULK_LOGS (plus a quiet stream) and BIG_LOGS.

    Both are ready before any measurement starts, so a preload never competes with a timed crawl.
    """
    sandboxes = {
        'bulk': SandboxProcess(bulk=BULK_LOGS, span=BULK_SPAN, token=TOKEN, streams=(BULK_STREAM, QUIET_STREAM)),
        'big': SandboxProcess(bulk=BIG_LOGS, span=BULK_SPAN, token=TOKEN, streams=(BULK_STREAM,)),
    }
    try:
        for sandbox in sandboxes.values():
            sandbox.start()
        for sandbox in sandboxes.values():
            sandbox.wait_ready(SANDBOX_READY_TIMEOUT)
        yield sandboxes
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()


@pytest.fixture(scope='module')
def limited_sandbox():
    """A sandbox process with ACME's rate limits, preloaded with THROUGHPUT_LOGS: a crawl of them lasts well beyond the
    burst the check starts with."""
    sandbox = SandboxProcess(
        bulk=THROUGHPUT_LOGS, span=BULK_SPAN, token=TOKEN, streams=(BULK_STREAM,), rate_limits=True
    )
    try:
        sandbox.start()
        sandbox.wait_ready(SANDBOX_READY_TIMEOUT)
        yield sandbox
    finally:
        sandbox.stop()


def make_bench_check(
    url: str, *, streams: tuple[str, ...] = (BULK_STREAM,), name: str = 'bench', **options: Any
) -> AcmeCheck:
    """A check on the real clock, configured so that one run crawls the whole bulk backlog (`options` override)."""
    instance: dict[str, Any] = {
        'url': url,
        'api_token': TOKEN,
        'streams': list(streams),
        'tags': ['bench:acme'],
        'initial_lookback': LOOKBACK,
        'max_run_time': MAX_RUN_TIME,
        'page_size': PAGE_SIZE,
        **options,
    }
    check = AcmeCheck('acme', {}, [instance])
    check.check_id = f'acme:{name}'
    return check


def run_ok(check: AcmeCheck) -> None:
    error = check.run()
    assert not error, error


def test_throughput_against_acme_ceiling(benchmark, limited_sandbox, bench_report, datadog_agent, monkeypatch):
    """Logs/s of one run crawling a backlog through ACME's rate limits, as a share of what they allow a token, and
    whether the check ever sent what ACME would refuse."""
    # The check paces itself as in production; send_log is a counting no-op and the Agent's file takes the backlog.
    sinks = AgentSinks().install(monkeypatch, datadog_agent, paced=True)
    requests = RequestLog().install(monkeypatch)
    check = make_bench_check(limited_sandbox.url, name='throughput')
    spans: list[tuple[float, float]] = []

    def crawl() -> None:
        started = time.time()
        run_ok(check)
        spans.append((started, time.time()))

    benchmark.pedantic(once(crawl), rounds=1, iterations=1)
    assert sinks.logs == THROUGHPUT_LOGS, f'the check sent {sinks.logs} logs, expected {THROUGHPUT_LOGS}'

    ((started, ended),) = spans
    seconds = ended - started
    whole = THROUGHPUT_LOGS / seconds
    settled = [e for e in requests.exchanges if e.path.endswith('/logs') and e.sent >= started + SETTLE_SECONDS]
    # From the first request after the burst to the last: the logs of the requests in between, per second.
    sustained = None
    if len(settled) >= 2:
        sustained = sum(e.logs for e in settled[1:]) / (settled[-1].sent - settled[0].sent)
    early = requests.sent_while_limited()
    per_minute = Counter(math.floor(e.sent / 60) for e in requests.exchanges)
    per_second = Counter(math.floor(e.sent) for e in requests.exchanges)
    listing = len(requests.exchanges) - requests.requests
    benchmark.extra_info.update(
        {
            'logs': THROUGHPUT_LOGS,
            'page_size': PAGE_SIZE,
            'seconds': round(seconds, 3),
            'logs_requests': requests.requests,
            'other_requests': listing,
            'logs_per_s': round(whole),
            'share_of_ceiling': round(whole / ACME_CEILING, 4),
            'sustained_logs_per_s': round(sustained) if sustained else None,
            'sustained_share_of_ceiling': round(sustained / ACME_CEILING, 4) if sustained else None,
            'http_429': requests.too_many,
            'sent_while_limited': len(early),
            'remaining_0_answers': requests.spent,
            'max_requests_per_minute': max(per_minute.values()),
            'max_requests_per_second': max(per_second.values()),
        }
    )
    sustained_line = f'{"sustained":<28}n/a: the crawl is too short (ACME_BENCH_THROUGHPUT_LOGS)'
    if sustained:
        label = f'sustained (after {SETTLE_SECONDS:.0f} s)'
        sustained_line = (
            f'{label:<28}{sustained:>8,.0f} logs/s  {sustained / ACME_CEILING:6.1%} '
            f'of the ceiling  target >= {THROUGHPUT_SHARE_TARGET:.0%} '
            f'({"met" if sustained >= THROUGHPUT_SHARE_TARGET * ACME_CEILING else "NOT MET"}; not asserted: timing)'
        )
    lines = [
        f'{THROUGHPUT_LOGS:,} logs, pages of {PAGE_SIZE}, one run, real clock: {requests.requests} logs requests '
        f'(+{listing} other) in {seconds:.1f} s',
        f'ACME\'s ceiling per token: {ACME_PER_MINUTE} requests a minute x {PAGE_SIZE} logs = '
        f'{ACME_CEILING:,.0f} logs/s (and {ACME_PER_SECOND} requests a second)',
        f'{"whole run":<28}{whole:>8,.0f} logs/s  {whole / ACME_CEILING:6.1%} of the ceiling '
        '(its first seconds spend the burst a pause between runs saves)',
        sustained_line,
        f'{"429 answers":<28}{requests.too_many:>8}         target 0',
        f'{"requests sent while limited":<28}{len(early):>8}         target 0 (before a spent window\'s reset, or a '
        '429\'s Retry-After)',
        f'answers with X-RateLimit-Remaining 0: {requests.spent} (each a wait for the reset); most requests in a '
        f'second {max(per_second.values())} (limit {ACME_PER_SECOND}), in a minute {max(per_minute.values())} '
        f'(limit {ACME_PER_MINUTE})',
    ]
    bench_report.add('1. Throughput against ACME\'s rate limits (a sandbox with them, over a real socket)', lines)
    assert requests.too_many == 0, f'{requests.too_many} answers were 429'
    assert not early, f'{len(early)} requests sent while ACME said to wait, e.g. {early[:3]}'


def test_cursor_writes_per_run(benchmark, bulk_sandboxes, bench_report, datadog_agent, monkeypatch):
    """Persistent-cache writes per run, against pages (requests that returned logs) + streams."""
    sandbox = bulk_sandboxes['bulk']
    sinks = AgentSinks().install(monkeypatch, datadog_agent)
    requests = RequestLog().install(monkeypatch)
    streams = (BULK_STREAM, QUIET_STREAM)
    runs: list[tuple[str, bool, int, int, int, int]] = []
    by_stream: dict[str, dict[str, int]] = {}

    def measured(label: str, *, first: bool) -> None:
        runs.append((label, first, sinks.writes, requests.pages, requests.requests, sinks.logs))
        by_stream[label] = sinks.writes_by_stream()

    def fresh_counts() -> None:
        sinks.reset_counts()
        requests.reset()

    # First run: no cursors yet; every stream starts `initial_lookback` ago.
    fresh_counts()
    run_ok(make_bench_check(sandbox.url, streams=streams, name='writes'))
    assert sinks.logs == BULK_LOGS
    measured('first run (no cursors)', first=True)

    # The Agent was down for an hour: its cache lost, a run that kept an hour behind ACME's now leaves every cursor an
    # hour back (it reads what was already that old: the bulk's first minutes). Then the Agent restarts: a new check
    # reads those cursors, with a backlog.
    sinks.forget_cursors()
    fresh_counts()
    run_ok(make_bench_check(sandbox.url, streams=streams, name='writes', ingestion_delay=OLD_CURSOR_AGE))
    older = sinks.logs
    check = make_bench_check(sandbox.url, streams=streams, name='writes')
    fresh_counts()
    benchmark.pedantic(once(run_ok), args=(check,), rounds=1, iterations=1)
    assert older + sinks.logs == BULK_LOGS, f'{older} + {sinks.logs} logs, expected {BULK_LOGS}'
    measured(f'resumed run ({OLD_CURSOR_AGE // 3600} h backlog)', first=False)

    # Steady state: nothing new (the bulk is settled); each stream moves its cursor to the window end.
    fresh_counts()
    run_ok(check)
    measured('next run (nothing new)', first=False)

    # A write per page (the last one also moves on to the window end), a write per quiet stream; and on a first run
    # each stream's starting line, written before any of its logs is read, and its creation instant.
    lines = [f'{"run":<28}{"writes":>7}{"pages":>7}{"bound":>9}{"requests":>9}{"logs":>9}  writes <= bound']
    over = []
    for label, first, writes, page_count, request_count, logs in runs:
        bound = page_count + len(streams) * (3 if first else 1)
        ok = writes <= bound
        lines.append(
            f'{label:<28}{writes:>7}{page_count:>7}{bound:>9}{request_count:>9}{logs:>9}  {"yes" if ok else "NO"}'
        )
        if not ok:
            over.append(f'{label}: {writes} writes > {bound} (pages and streams)')
    lines += [f'writes by stream, {label}: {by_stream[label]}' for label, *_ in runs]
    benchmark.extra_info['runs'] = [
        {'run': label, 'writes': w, 'pages': p, 'streams': len(streams), 'requests': r, 'logs': n}
        for label, _, w, p, r, n in runs
    ]
    benchmark.extra_info['writes_by_stream'] = by_stream
    bench_report.add(
        f'2. Persistent-cache writes per run (streams: {BULK_STREAM} with {BULK_LOGS:,} logs, '
        f'{QUIET_STREAM} with none)',
        lines,
    )
    assert not over, '; '.join(over)


def test_peak_memory_does_not_grow_with_the_backlog(
    benchmark, bulk_sandboxes, bench_report, datadog_agent, aggregator, monkeypatch
):
    """tracemalloc peak of one run over BULK_LOGS and over BIG_LOGS; the ratio must stay within 1.2."""
    # The aggregator stub keeps every metric in Python (two per request); the Agent's aggregator is in Go.
    sinks = AgentSinks().install(monkeypatch, datadog_agent, aggregator)
    backlogs = {'bulk': BULK_LOGS, 'big': BIG_LOGS}
    for name in backlogs:
        # Warm-up, 90 s back, where the bulk (ending 120 s back) has nothing: imports, config models and HTTP client
        # are loaded, no log read.
        run_ok(make_bench_check(bulk_sandboxes[name].url, name=f'warm-up-{name}', initial_lookback=90))
        assert sinks.logs == 0
    measured: dict[str, dict[str, float]] = {}

    def measure(name: str) -> None:
        # A new check without cursors (as after an Agent restart that lost its cache): a first run, setup included.
        sinks.forget_cursors()
        sinks.reset_counts()
        check = make_bench_check(bulk_sandboxes[name].url, name=f'memory-{name}')
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            started = time.perf_counter()
            error = check.run()
            seconds = time.perf_counter() - started
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert not error, error
        assert sinks.logs == backlogs[name], f'{name}: sent {sinks.logs} logs, expected {backlogs[name]}'
        measured[name] = {'peak': peak - base, 'retained': current - base, 'seconds': seconds}

    benchmark.pedantic(once(lambda: [measure(name) for name in backlogs]), rounds=1, iterations=1)

    ratio = measured['big']['peak'] / measured['bulk']['peak']
    benchmark.extra_info.update(
        {
            **{f'{name}_logs': count for name, count in backlogs.items()},
            **{f'{name}_peak_bytes': int(m['peak']) for name, m in measured.items()},
            **{f'{name}_retained_bytes': int(m['retained']) for name, m in measured.items()},
            'ratio': round(ratio, 3),
            'ratio_target': MEMORY_RATIO_TARGET,
        }
    )
    lines = [
        f'{count:>9,} logs: peak {measured[name]["peak"] / MB:7.2f} MB, still held after the run '
        f'{measured[name]["retained"] / MB:5.2f} MB  (run under tracemalloc: {measured[name]["seconds"]:.1f} s)'
        for name, count in backlogs.items()
    ]
    lines.append(f'ratio {BIG_LOGS:,} / {BULK_LOGS:,}: {ratio:.3f}  target <= {MEMORY_RATIO_TARGET}')
    bench_report.add(
        '3. Peak memory of one first run (tracemalloc; send_log, cache and aggregator hold nothing)', lines
    )
    assert ratio <= MEMORY_RATIO_TARGET


def test_no_request_for_logs_too_old_for_the_intake_after_an_outage(
    benchmark, sandbox, instance, make_check, dd_run_check, clock, datadog_agent, monkeypatch, bench_report
):
    """After 3 days down, one run must not spend a request on logs older than 18 h (the intake drops them)."""
    sinks = AgentSinks().install(monkeypatch, datadog_agent)
    # Without rate limits the fake clock stands still during the run, so the expected logs are exact.
    sandbox.rate_limits = False
    dd_run_check(make_check(instance))  # cursors near START
    timestamps: list[int] = []
    for index, stream in enumerate(STREAMS):
        logs = list(
            generate_bulk(seed=f'outage-{index}', start=START, end=START + OUTAGE, count=OUTAGE_LOGS_PER_STREAM)
        )
        timestamps.extend(log['timestamp'] for log in logs)
        sandbox.add_logs(stream, logs)
    clock.advance(OUTAGE)
    restarted = make_check(instance)  # the Agent comes back: a new check, the same persistent cache
    sandbox.reset_stats()
    sinks.reset_counts()
    now = clock.time()

    benchmark.pedantic(once(dd_run_check), args=(restarted,), rounds=1, iterations=1)

    line_ns = seconds_to_ns(now - INTAKE_MAX_AGE)
    requests = [r for r in sandbox.stats.records if r.stream]
    stale = [
        r
        for r in requests
        if (r.start_time_ns is not None and r.start_time_ns < line_ns)
        or (r.min_served_ts_ns is not None and r.min_served_ts_ns < line_ns)
    ]
    # What the check must send: everything from its stale line (18 h minus a 5 min shipping margin) to the
    # ingestion delay; proves the run crawled the last 18 h instead of, say, stopping early.
    since, until = seconds_to_ns(now - INTAKE_MAX_AGE + 300), seconds_to_ns(now - INGESTION_DELAY)
    expected = sum(since <= ts < until for ts in timestamps)
    warned = any('hours behind' in warning for warning in restarted.get_warnings())
    benchmark.extra_info.update(
        {'requests': len(requests), 'stale_requests': len(stale), 'logs_sent': sinks.logs, 'logs_expected': expected}
    )
    bench_report.add(
        '4. Requests for logs older than 18 h after a 3-day outage (in-process, fake clock)',
        [
            f'{len(STREAMS)} streams x {OUTAGE_LOGS_PER_STREAM:,} logs over 72 h, cursors 72 h old, one run:',
            f'stale requests {len(stale)} (target 0) of {len(requests)} requests; '
            f'logs sent {sinks.logs:,} (expected {expected:,}); "hours behind" warning: {warned}',
        ],
    )
    assert requests
    assert not stale, f'{len(stale)} requests for logs older than 18 h, e.g. {stale[:2]}'
    assert sinks.logs == expected


def cpu_per_log() -> dict[str, Any]:
    """`python -m tests.cpu_per_log` in a process of its own (see that module)."""
    command = [sys.executable, '-m', 'tests.cpu_per_log', '--logs', str(BULK_LOGS), '--rounds', str(CPU_ROUNDS)]
    if os.environ.get('ACME_BENCH_PROFILE'):
        command.append('--profile')
    done = subprocess.run(command, cwd=INTEGRATION_ROOT, capture_output=True, text=True, check=False, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cpu_per_log_against_the_floor(benchmark, bench_report):
    """The check's CPU time per log against decoding ACME's pages, and decoding plus `send_log`, in one run; with and
    without the Agent's registry, which a run must read per run or per page, never per log."""
    result: dict[str, Any] = {}
    benchmark.pedantic(once(lambda: result.update(cpu_per_log())), rounds=1, iterations=1)

    us, beyond = result['us_per_log'], result['beyond_floor_send_log']
    ratio, reads = result['ratio_to_floor_send_log'], result['registry_reads']
    variants = ('check', 'check_registry')

    def row(label: str, cells: list[str]) -> str:
        return f'{label:<42}' + ''.join(f'{cell:>14}' for cell in cells)

    def opens(variant: str, per: str) -> str:
        count = reads[variant][per]
        return f'{reads[variant]["opens"] / count:.3f}' if count else 'n/a'

    lines = [
        f'{BULK_LOGS:,} logs, pages of 1000 ({result["pages_per_run"]} a run), ACME\'s answers replayed from memory, '
        f'CPU time, best of {result["rounds"]} rounds',
        row('floor: decode the pages (orjson), us/log', [f'{us["floor"]:.3f}']),
        row('floor + send_log (base package), us/log', [f'{us["floor_send_log"]:.3f}']),
        row('the check, a whole run', ['no registry', 'registry']),
        row('  us/log', [f'{us[v]:.3f}' for v in variants]),
        row('  beyond floor + send_log', [f'{beyond[v]:+.3f}' for v in variants]),
        row('  ratio check / (floor + send_log)', [f'{ratio[v]:.2f}' for v in variants]),
        row('  registry.json opens per run', [opens(v, 'runs') for v in variants]),
        row('  registry.json opens per page', [opens(v, 'pages') for v in variants]),
        f'registry: an emulated Agent\'s run path, the check\'s integration log file all shipped per registry.json; '
        f'opens counted over {reads["check_registry"]["runs"]} untimed runs '
        f'({reads["check_registry"]["opens"]} opens, {reads["check_registry"]["pages"]} pages, '
        f'{reads["check_registry"]["logs"]:,} logs)',
        f'registry cost per log: {us["check_registry"] - us["check"]:+.3f} us (not asserted: timing)',
    ]
    if not reads['check_registry']['opens']:
        lines.append('registry.json was never opened: is the emulated log file where the check looks for it?')
    if result['profile']:
        lines += ['', 'cProfile of one check run (no registry), top 15 by tottime:', *result['profile']]
    benchmark.extra_info.update({key: value for key, value in result.items() if key != 'profile'})
    bench_report.add('5. CPU per log against the floor (decode) and floor + send_log, in one run', lines)

    assert all(us[v] > us['floor_send_log'] for v in variants), us
    assert reads['check']['opens'] == 0, 'without logs_config.run_path the check opened registry.json'
    registry = reads['check_registry']
    # At most a couple of reads a run and a page: O(runs + pages), where a read per log would be 1,000 a page.
    assert registry['opens'] <= 2 * (registry['runs'] + registry['pages']), registry
