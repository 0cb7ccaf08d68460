# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Helpers for test_bench.py: sandbox subprocesses, counting Agent sinks, the raw-fetch floor and the report."""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any, Callable, Iterator

from datadog_checks.acme import client as ratelimit
from datadog_checks.acme.compat import json
from datadog_checks.acme.cursors import Position, encode_slot
from datadog_checks.acme.timing import format_rfc3339, seconds_to_nanos

from .conftest import stream_of_cursor_key

INTEGRATION_ROOT = Path(__file__).resolve().parent.parent
# The check before the redesign onto the base package's loop: what "before" means in the benchmarks.
BEFORE_COMMIT = '4c7ab12'
READY_PREFIX = 'ACME sandbox listening on '


@contextmanager
def before_version() -> Iterator[Path | None]:
    """An integration root holding the check of BEFORE_COMMIT (or ACME_BENCH_BEFORE), or None when git lacks it."""
    configured = os.environ.get('ACME_BENCH_BEFORE')
    if configured:
        yield Path(configured)
        return
    archive = subprocess.run(
        ['git', 'archive', BEFORE_COMMIT, 'datadog_checks'], cwd=INTEGRATION_ROOT, capture_output=True, check=False
    )
    if archive.returncode:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix='acme-before-') as root:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(root, filter='data')
        yield Path(root)


def env_int(name: str, default: int) -> int:
    """A size knob, so a quick local run can use smaller backlogs (`ACME_BENCH_LOGS=20000 ...`)."""
    value = os.environ.get(name)
    return int(value) if value else default


class SandboxProcess:
    """`python -m tests.sandbox` in its own process, preloaded with `--bulk` logs and without rate limits.

    Bulk logs spread over `--bulk-span` seconds and end 120 s before the sandbox started; nothing else is
    served (`--rate 0 --backfill 0`), so every crawl of the bulk stream sees exactly `bulk` logs.
    """

    def __init__(self, *, bulk: int, span: float, token: str, streams: tuple[str, ...], seed: int = 1) -> None:
        self.bulk = bulk
        self.span = span
        self.token = token
        self.streams = streams
        self.command = [
            sys.executable,
            '-m',
            'tests.sandbox',
            '--host',
            '127.0.0.1',
            '--port',
            '0',
            '--token',
            token,
            '--streams',
            ','.join(streams),
            '--rate',
            '0',
            '--backfill',
            '0',
            '--no-rate-limits',
            '--bulk',
            str(bulk),
            '--bulk-span',
            str(span),
            '--seed',
            str(seed),
        ]
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.load_seconds: float | None = None
        self._stderr = tempfile.TemporaryFile(mode='w+')
        self._ready_line: list[str] = []
        self._reader: threading.Thread | None = None
        self._started_at = 0.0

    def start(self) -> SandboxProcess:
        self._started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command, cwd=INTEGRATION_ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        # readline() blocks; a thread lets wait_ready() give up after a timeout.
        self._reader = threading.Thread(
            target=lambda: self._ready_line.append(self.process.stdout.readline()), daemon=True
        )
        self._reader.start()
        return self

    def wait_ready(self, timeout: float) -> str:
        if self.url:
            return self.url
        self._reader.join(timeout)
        line = self._ready_line[0] if self._ready_line else ''
        if not line.startswith(READY_PREFIX):
            self._stderr.seek(0)
            raise RuntimeError(
                f'sandbox ({self.bulk} logs) not ready after {timeout:.0f} s: stdout {line!r}, '
                f'exit code {self.process.poll()}, stderr:\n{self._stderr.read()[-4000:]}'
            )
        self.url = line[len(READY_PREFIX) :].strip()
        self.load_seconds = time.monotonic() - self._started_at
        return self.url

    def stop(self) -> None:
        """Stop this sandbox, by its PID only."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()


class AgentSinks:
    """Stand-ins for the Agent's bindings that hold nothing and count what they are given.

    - `send_log`: the stub's own `send_log` JSON-decodes every log again and keeps it in a list; the real
      Agent does neither (it hands the string to Go), so both would bill the check for work it never does
      and, over a million logs, for memory it never holds.
    - the persistent cache: a dict that counts writes (the Agent writes each to disk).
    - `aggregator.submit_metric` (only where asked): the aggregator stub keeps every submission in Python
      lists, two per request; the real aggregator is in Go. Left in place, it grows with the backlog.
    """

    def __init__(self) -> None:
        self.logs = 0
        self.writes = 0
        self.metrics = 0
        self.cache: dict[str, str] = {}
        self.writes_by_key: Counter[str] = Counter()
        # Returned for keys never written: lets a warm-up run start from a given cursor.
        self.fallback = ''

    def send_log(self, log_line: str, check_id: str) -> None:
        self.logs += 1

    def write_persistent_cache(self, key: str, value: str) -> None:
        self.cache[key] = value
        self.writes += 1
        self.writes_by_key[key] += 1

    def read_persistent_cache(self, key: str) -> str:
        return self.cache.get(key, self.fallback)

    def submit_metric(self, *args: Any, **kwargs: Any) -> None:
        self.metrics += 1

    def install(self, monkeypatch, datadog_agent, aggregator=None) -> AgentSinks:
        # An Agent whose integration log file takes a whole backlog in one run: here the check's CPU is measured,
        # not the byte budget that keeps a real Agent's file from being truncated unread.
        for setting in ('integrations_logs_files_max_size', 'integrations_logs_total_usage'):
            monkeypatch.setitem(datadog_agent._config, f'logs_config.{setting}', 1_000_000)
        # Nor the pacing that keeps the check within ACME's limits (the sandboxes here have none).
        monkeypatch.setattr(ratelimit, 'SPACING', 0.0)
        monkeypatch.setattr(ratelimit, 'RATE', float('inf'))
        monkeypatch.setattr(ratelimit, 'BURST', float('inf'))
        monkeypatch.setattr(datadog_agent, 'send_log', self.send_log)
        monkeypatch.setattr(datadog_agent, 'write_persistent_cache', self.write_persistent_cache)
        monkeypatch.setattr(datadog_agent, 'read_persistent_cache', self.read_persistent_cache)
        if aggregator is not None:
            monkeypatch.setattr(aggregator, 'submit_metric', self.submit_metric)
        return self

    def forget_cursors(self) -> None:
        self.cache.clear()
        self.fallback = ''

    def reset_counts(self) -> None:
        self.logs = self.writes = self.metrics = 0
        self.writes_by_key.clear()

    def writes_by_stream(self) -> dict[str, int]:
        by_stream: Counter[str] = Counter()
        for key, count in self.writes_by_key.items():
            # A cursor slot, or the creation instant remembered for the stream (`acme_created_<stream id>`).
            stream = stream_of_cursor_key(key) if 'log_cursor_' in key else key.split('acme_created_', 1)[1]
            by_stream[stream] += count
        return dict(sorted(by_stream.items()))


def rewind_cursors(check, sinks: AgentSinks, *, to: float) -> None:
    """Make the next run of `check` crawl again from `to` (Unix seconds): every stream's cursor moved back there,
    through the base package's API, as a cursor written long ago would have it."""
    for stream in check.directory.streams.values():
        check.write_persistent_cache(
            f'log_cursor_{stream.name}', json.encode(Position.before(seconds_to_nanos(to)).to_cursor())
        )
    sinks.reset_counts()


def cursor_entry(seconds: float) -> str:
    """A stored cursor slot meaning "everything before `seconds` is done", newer than any the check wrote."""
    return encode_slot(10**9, json.encode(Position.before(seconds_to_nanos(seconds)).to_cursor()))


@dataclass
class FloorResult:
    logs: int
    pages: int  # requests that returned logs
    requests: int


def check_window(now: float, *, lookback: float, ingestion_delay: float) -> tuple[str, str]:
    """The first query's `start_time` and `end_time` as the check computes them for a stream without cursor."""
    return format_rfc3339(seconds_to_nanos(now - lookback)), format_rfc3339(seconds_to_nanos(now - ingestion_delay))


def crawl_floor(
    http,
    *,
    url: str,
    token: str,
    stream: str,
    start_time: str,
    end_time: str,
    limit: int,
    submit: Callable[[dict[str, Any]], None] | None = None,
) -> FloorResult:
    """The least any crawler must do: fetch every page of the query and JSON-decode it, nothing else.

    Same HTTP client (the check's own RequestsWrapper), same parameters, same decoder as the check.
    With `submit`, also hand every decoded log to it as it is: the least an Agent integration must add.
    """
    endpoint = f'{url}/api/v1/streams/{stream}/logs'
    headers = {'Authorization': f'Bearer {token}'}
    params: dict[str, Any] = {'start_time': start_time, 'end_time': end_time, 'limit': limit}
    logs = pages = requests = 0
    while True:
        response = http.get(endpoint, params=params, extra_headers=headers)
        requests += 1
        if response.status_code != 200:
            raise AssertionError(f'floor crawl: HTTP {response.status_code}: {response.content[:300]!r}')
        body = json.decode(response.content)
        if submit is not None:
            for log in body['data']:
                submit(log)
        count = len(body['data'])
        logs += count
        pages += count > 0
        token_ = body['next_page_token']
        if not token_:
            return FloorResult(logs, pages, requests)
        params = {'page_token': token_}


class PageCounter:
    """Counts logs requests and pages (requests that returned logs) made through any RequestsWrapper."""

    def __init__(self) -> None:
        self.requests = 0
        self.pages = 0

    def install(self, monkeypatch) -> PageCounter:
        # RequestsWrapper has __slots__, so the method is wrapped on the class, for this test only.
        from datadog_checks.base.utils.http import RequestsWrapper

        real_get = RequestsWrapper.get
        counter = self

        def get(wrapper, url, *args, **kwargs):
            response = real_get(wrapper, url, *args, **kwargs)
            if url.endswith('/logs'):
                counter.requests += 1
                try:
                    counter.pages += bool(json.decode(response.content)['data'])
                except (ValueError, KeyError, TypeError):
                    pass
            return response

        monkeypatch.setattr(RequestsWrapper, 'get', get)
        return self

    def reset(self) -> None:
        self.requests = self.pages = 0


def profile_top(function: Callable[[], Any], *, top: int = 15) -> list[str]:
    """Run `function` under cProfile; the `top` functions by own time (tottime), as table lines."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        function()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) or 1.0
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [f'{"tottime":>8} {"share":>6} {"cumtime":>8} {"ncalls":>9}  function']
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in rows:
        where = _short_path(filename)
        lines.append(f'{tottime:8.3f} {tottime / total:6.1%} {cumtime:8.3f} {ncalls:9d}  {name} ({where}:{line})')
    lines.append(f'(total profiled own time {total:.3f} s; cProfile overhead inflates per-call costs)')
    return lines


def _short_path(filename: str) -> str:
    for marker in ('site-packages/', 'acme/datadog_checks/', 'lib/python'):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


@dataclass
class Throughput:
    logs: int
    floor_seconds: list[float] = field(default_factory=list)
    check_seconds: list[float] = field(default_factory=list)
    # The floor plus the base class's send_log for every log, unchanged: what the Agent's API itself costs.
    submit_floor_seconds: list[float] = field(default_factory=list)

    @property
    def submit_floor_rate(self) -> float:
        return self.logs / median(self.submit_floor_seconds)

    @property
    def floor_rate(self) -> float:
        return self.logs / median(self.floor_seconds)

    @property
    def check_rate(self) -> float:
        return self.logs / median(self.check_seconds)

    @property
    def ratio(self) -> float:
        return self.check_rate / self.floor_rate

    @property
    def submit_ratio(self) -> float:
        """The check against the floor plus send_log: the least any integration on the Agent API can do."""
        return self.check_rate / self.submit_floor_rate

    @property
    def own_seconds(self) -> float:
        """The check's own work in a crawl: its median time less the floor's."""
        return median(self.check_seconds) - median(self.floor_seconds)

    @property
    def best_ratio(self) -> float:
        return min(self.floor_seconds) / min(self.check_seconds)

    @property
    def paired_ratios(self) -> list[float]:
        return [floor / check for floor, check in zip(self.floor_seconds, self.check_seconds)]


class BenchReport:
    """Sections of text filled by the benchmarks, printed as one table when the module is done."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, list[str]]] = []

    def add(self, title: str, lines: list[str]) -> None:
        self.sections.append((title, lines))

    def render(self) -> list[str]:
        out = []
        for title, lines in self.sections:
            out.append(title)
            out.extend(f'  {line}' for line in lines)
        return out
