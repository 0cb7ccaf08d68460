# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Helpers for test_bench.py: sandbox subprocesses, counting Agent sinks, a request log and the report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson

from .agent_emulation import agent_settings
from .conftest import stream_of_cursor_key
from .cpu_per_log import lift_pacing

INTEGRATION_ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = 'ACME sandbox listening on '


def env_int(name: str, default: int) -> int:
    """A size knob, so a quick local run can use smaller backlogs (`ACME_BENCH_LOGS=20000 ...`)."""
    value = os.environ.get(name)
    return int(value) if value else default


def once(function: Callable[..., Any]) -> Callable[..., None]:
    """`function`, run by the first call only. ddev runs benchmarks with `--benchmark-cprofile`, with which
    pytest-benchmark calls a `pedantic` target once more, under cProfile: that call would crawl and count again."""
    done: list[bool] = []

    def call(*args: Any, **kwargs: Any) -> None:
        if not done:
            done.append(True)
            function(*args, **kwargs)

    return call


class SandboxProcess:
    """`python -m tests.sandbox` in its own process, preloaded with `--bulk` logs; ACME's rate limits (10 requests a
    second, 300 a minute, per token) only with `rate_limits`.

    Bulk logs spread over `--bulk-span` seconds and end 120 s before the sandbox started; nothing else is
    served (`--rate 0 --backfill 0`), so every crawl of the bulk stream sees exactly `bulk` logs.
    """

    def __init__(
        self, *, bulk: int, span: float, token: str, streams: tuple[str, ...], seed: int = 1, rate_limits: bool = False
    ) -> None:
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
            *([] if rate_limits else ['--no-rate-limits']),
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

    def send_log(self, log_line: str, check_id: str) -> None:
        self.logs += 1

    def write_persistent_cache(self, key: str, value: str) -> None:
        self.cache[key] = value
        self.writes += 1
        self.writes_by_key[key] += 1

    def read_persistent_cache(self, key: str) -> str:
        return self.cache.get(key, '')

    def submit_metric(self, *args: Any, **kwargs: Any) -> None:
        self.metrics += 1

    def install(self, monkeypatch, datadog_agent, aggregator=None, *, paced: bool = False) -> AgentSinks:
        """Route the stubs here. Unless `paced`, the check also requests pages as fast as it can: the sandbox then has
        no limits, and what is measured is the check (writes, memory), not ACME's ceiling."""
        # An Agent whose integration log file takes a whole backlog in one run: here the check is measured, not the
        # byte budget that keeps a real Agent's file from being truncated unread. No `logs_config.run_path`: no
        # registry (tests/cpu_per_log.py measures the check with one).
        settings = ('integrations_logs_files_max_size', 'integrations_logs_total_usage')
        agent_settings(
            datadog_agent, {f'logs_config.{setting}': 1_000_000 for setting in settings}, monkeypatch.setattr
        )
        if not paced:
            lift_pacing(monkeypatch.setattr)
        monkeypatch.setattr(datadog_agent, 'send_log', self.send_log)
        monkeypatch.setattr(datadog_agent, 'write_persistent_cache', self.write_persistent_cache)
        monkeypatch.setattr(datadog_agent, 'read_persistent_cache', self.read_persistent_cache)
        if aggregator is not None:
            monkeypatch.setattr(aggregator, 'submit_metric', self.submit_metric)
        return self

    def forget_cursors(self) -> None:
        """An Agent that lost its persistent cache: the next new check starts every stream `initial_lookback` ago."""
        self.cache.clear()

    def reset_counts(self) -> None:
        self.logs = self.writes = self.metrics = 0
        self.writes_by_key.clear()

    def writes_by_stream(self) -> dict[str, int]:
        by_stream: Counter[str] = Counter()
        for key, count in self.writes_by_key.items():
            by_stream[stream_of_cursor_key(key)] += count  # every key is a cursor slot
        return dict(sorted(by_stream.items()))


@dataclass(frozen=True)
class Exchange:
    """One request through a RequestsWrapper, as the client saw it (the host's clock, which is the sandbox's)."""

    path: str
    sent: float
    received: float
    status: int
    logs: int  # in a logs answer
    remaining: float | None  # X-RateLimit-Remaining
    reset: float | None  # X-RateLimit-Reset, Unix seconds
    retry_after: float | None


class RequestLog:
    """Every request made through any RequestsWrapper: when, what came back, and what ACME's headers said.

    From the headers alone it tells the requests sent while ACME had said to wait: before the X-RateLimit-Reset of
    an answer whose X-RateLimit-Remaining was 0, or before the Retry-After of a 429. The send time is taken before the
    request leaves, so a request that reaches ACME just after the reset still counts: the count errs towards too many.
    """

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def install(self, monkeypatch) -> RequestLog:
        # RequestsWrapper has __slots__, so the method is wrapped on the class, for this test only.
        from datadog_checks.base.utils.http import RequestsWrapper

        real_get = RequestsWrapper.get
        exchanges = self.exchanges

        def get(wrapper, url, *args, **kwargs):
            sent = time.time()
            response = real_get(wrapper, url, *args, **kwargs)
            received = time.time()
            logs = 0
            if response.status_code == 200 and url.endswith('/logs'):
                try:
                    logs = len(orjson.loads(response.content)['data'])
                except (ValueError, KeyError, TypeError):
                    pass
            headers = response.headers
            exchanges.append(
                Exchange(
                    path=url.split('://', 1)[-1].partition('/')[2],
                    sent=sent,
                    received=received,
                    status=response.status_code,
                    logs=logs,
                    remaining=_number(headers.get('X-RateLimit-Remaining')),
                    reset=_number(headers.get('X-RateLimit-Reset')),
                    retry_after=_number(headers.get('Retry-After')),
                )
            )
            return response

        monkeypatch.setattr(RequestsWrapper, 'get', get)
        return self

    def reset(self) -> None:
        self.exchanges.clear()

    @property
    def requests(self) -> int:
        """Requests for logs (not the streams listing)."""
        return sum(exchange.path.endswith('/logs') for exchange in self.exchanges)

    @property
    def pages(self) -> int:
        """Requests that returned logs."""
        return sum(exchange.logs > 0 for exchange in self.exchanges)

    @property
    def too_many(self) -> int:
        """429 answers."""
        return sum(exchange.status == 429 for exchange in self.exchanges)

    @property
    def spent(self) -> int:
        """Answers saying the window was spent (X-RateLimit-Remaining 0), each a wait the client had to make."""
        return sum(exchange.remaining == 0 for exchange in self.exchanges)

    def sent_while_limited(self) -> list[Exchange]:
        limited_until = float('-inf')
        early = []
        for exchange in sorted(self.exchanges, key=lambda e: e.sent):
            if exchange.sent < limited_until:
                early.append(exchange)
            if exchange.remaining == 0 and exchange.reset is not None:
                limited_until = max(limited_until, exchange.reset)
            if exchange.status == 429:
                limited_until = max(limited_until, exchange.received + (exchange.retry_after or 0.0))
        return early


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


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
