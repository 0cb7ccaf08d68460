# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""CPU time per log of a whole check run against the least an integration must do, measured in one process.

    python -m tests.cpu_per_log [--logs N] [--rounds R] [--profile]

prints one JSON object (read by test_bench.py). Per log, in microseconds of CPU time (process_time), the best of R
rounds, every round measuring each of these in turn so that machine noise hits them alike:
- `floor`: decoding ACME's pages (orjson), the least any crawler does;
- `floor_send_log`: that, plus the base package's `send_log` for every decoded log: the least any integration on the
  Agent's API does;
- `check`: a whole run of the check on the same pages, without `logs_config.run_path` (the registry is not used);
- `check_registry`: the same with an emulated Agent on a temporary run path: the check's integration log file, and a
  registry.json whose entry for it says all of it was shipped (and a cap no run reaches: nothing is held).
Also how often the runs opened registry.json, against runs and pages: it must cost per run or per page, never per log.

ACME's answers are recorded from the sandbox once, then replayed from memory: no socket, no thread, so that the rounds
are steady. The Agent's side (`send_log`'s destination, the persistent cache, the aggregator) does nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import orjson

START = 1795694400.0
CHECK_ID = 'acme:cpu'
TOKEN = 't'
PAGE_SIZE = 1000
COUNTED_RUNS = 3  # untimed runs per variant, under the registry.json counter
# The check's pacing constants (datadog_checks/acme/client.py), and what lifts them: a rate no run can reach.
PACING = ('RATE', 'BURST')
UNPACED = 1e12
TIMED = ('floor', 'floor_send_log', 'check', 'check_registry')


def lift_pacing(set_attribute: Callable[[Any, str, Any], None]) -> None:
    """Let the check request pages as fast as it can (`set_attribute`: `setattr`, or a monkeypatch's).

    Where no ACME limits apply (replayed answers, a sandbox without limits), pacing at ACME's 5 requests a second would
    measure the pacing, not the check. Fails loudly if the constants moved, rather than silently measuring the pacing.
    """
    from datadog_checks.acme import client

    missing = [name for name in PACING if not hasattr(client, name)]
    if missing:
        raise AssertionError(f'datadog_checks.acme.client has no {", ".join(missing)}: update lift_pacing')
    for name in PACING:
        set_attribute(client, name, UNPACED)


class RegistryOpens:
    """Counts opens of files named registry.json in this process, while `counting`.

    An audit hook sees every way of opening a file (builtins.open, io.open, os.open, pathlib), so it still counts if
    the check changes how it reads the file. Hooks cannot be removed: install it after the timed rounds.
    """

    def __init__(self) -> None:
        self.counting = False
        self.opens = 0
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.counting or event != 'open' or not args:
            return
        try:
            name = os.path.basename(os.fsdecode(args[0]))
        except TypeError:  # a file descriptor, or None
            return
        self.opens += name == 'registry.json'


def emulate_agent(run_path: Path) -> Path:
    """An Agent's logs run path for the check: its integration log file, and a registry saying all of it shipped."""
    from .agent_emulation import integration_log_path

    log_file = integration_log_path(run_path, CHECK_ID)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(b'{"message":"already shipped"}\n' * 1000)
    entry = {
        'LastUpdated': '2026-11-26T11:59:59.000000000Z',
        'Offset': str(log_file.stat().st_size),
        'TailingMode': 'beginning',
        'IngestionTimestamp': 0,
    }
    registry = run_path / 'registry.json'
    registry.write_bytes(orjson.dumps({'Version': 2, 'Registry': {f'file:{log_file}': entry}}))
    return registry


def measure(logs: int, rounds: int, *, profile: bool = False) -> dict[str, Any]:
    from datadog_checks.acme import AcmeCheck
    from datadog_checks.base.stubs import aggregator, datadog_agent
    from datadog_checks.base.utils.http import RequestsWrapper

    from .agent_emulation import agent_settings
    from .clock import FakeClock
    from .sandbox import AcmeSandbox, generate_bulk

    clock = FakeClock(START)
    sandbox = AcmeSandbox(token=TOKEN, clock=clock.time, seed=1, rate_limits=False)
    sandbox.add_stream('bulk', created_at=START - 86400)
    sandbox.add_logs('bulk', generate_bulk(seed=1, start=START - 3720, end=START - 120, count=logs))
    answers: dict[str, tuple[int, dict, bytes, bool]] = {}  # by path and query: status, headers, body, has logs
    seen = {'requests': 0, 'pages': 0, 'sent': 0}

    class Answer:
        def __init__(self, status: int, headers: dict, content: bytes, _has_logs: bool) -> None:
            self.status_code, self.headers, self.content = status, headers, content

    def get(wrapper, url, params=None, extra_headers=None, **kwargs):
        target = urlsplit(url).path + ('?' + urlencode(params) if params else '')
        if target not in answers:
            response = sandbox.handle('GET', target, extra_headers['Authorization'])
            has_logs = '/logs' in target and bool(orjson.loads(response.body).get('data'))
            answers[target] = (response.status, dict(response.headers), response.body, has_logs)
        answer = answers[target]
        seen['requests'] += 1
        seen['pages'] += answer[3]
        return Answer(*answer)

    def send_log(line: str, check_id: str) -> None:
        seen['sent'] += 1

    RequestsWrapper.get = get  # this process only
    cache: dict[str, str] = {}
    datadog_agent.send_log = send_log  # the Agent's side: not the check's cost (counting only)
    datadog_agent.write_persistent_cache = cache.__setitem__
    datadog_agent.read_persistent_cache = lambda key: cache.get(key, '')
    # Caps no run reaches (in MB): nothing is held back for the Agent, with or without its registry.
    settings = agent_settings(
        datadog_agent,
        {
            'logs_enabled': True,
            'logs_config.integrations_logs_files_max_size': 10**6,
            'logs_config.integrations_logs_total_usage': 10**6,
        },
    )
    aggregator.submit_metric = lambda *args, **kwargs: None
    lift_pacing(setattr)
    AcmeCheck.clock = clock
    instance = {
        'url': 'http://acme.test',
        'api_token': TOKEN,
        'streams': ['bulk'],
        'page_size': PAGE_SIZE,
        'initial_lookback': 7200,
        'max_run_time': 3600,
    }
    run_path = Path(tempfile.mkdtemp(prefix='acme-cpu-run-path-'))
    emulate_agent(run_path)

    def check_round(registry: bool) -> float:
        """A new check (an Agent restarting without cursors) crawls the whole backlog; its run's CPU seconds."""
        if registry:
            settings['logs_config.run_path'] = str(run_path)
        else:
            settings.pop('logs_config.run_path', None)
        cache.clear()
        check = AcmeCheck('acme', {}, [instance])
        check.check_id = CHECK_ID
        seen['sent'] = 0
        started = time.process_time()
        error = check.run()
        seconds = time.process_time() - started
        assert not error, error
        assert seen['sent'] == logs, f'the check sent {seen["sent"]} of {logs} logs (registry: {registry})'
        return seconds

    check_round(False)  # records the answers, and warms every side up
    check_round(True)
    pages = [content for target, (_, _, content, has_logs) in answers.items() if has_logs]
    sender = AcmeCheck('acme', {}, [instance])
    sender.check_id = CHECK_ID

    def floor_round(send: bool) -> float:
        started = time.process_time()
        for content in pages:
            for log in orjson.loads(content)['data']:
                if send:
                    del log['timestamp']  # an RFC 3339 string, which send_log cannot convert
                    sender.send_log(log)
        return time.process_time() - started

    variants: dict[str, Callable[[], float]] = {
        'floor': lambda: floor_round(False),
        'floor_send_log': lambda: floor_round(True),
        'check': lambda: check_round(False),
        'check_registry': lambda: check_round(True),
    }
    best = dict.fromkeys(TIMED, float('inf'))
    try:
        for _round in range(rounds):
            for name, run in variants.items():
                gc.collect()
                best[name] = min(best[name], run())

        # Untimed: how often each variant's runs open registry.json, against its runs and pages.
        counter = RegistryOpens()
        registry_reads = {}
        for name, registry in (('check', False), ('check_registry', True)):
            seen['requests'] = seen['pages'] = 0
            counter.opens, counter.counting = 0, True
            for _ in range(COUNTED_RUNS):
                check_round(registry)
            counter.counting = False
            registry_reads[name] = {
                'runs': COUNTED_RUNS,
                'pages': seen['pages'],
                'requests': seen['requests'],
                'logs': COUNTED_RUNS * logs,
                'opens': counter.opens,
            }
        top = profile_top(lambda: check_round(False)) if profile else []
    finally:
        shutil.rmtree(run_path, ignore_errors=True)

    us_per_log = {name: round(best[name] / logs * 1e6, 3) for name in TIMED}
    return {
        'logs': logs,
        'rounds': rounds,
        'pages_per_run': len(pages),
        'us_per_log': us_per_log,
        'beyond_floor_send_log': {
            name: round(us_per_log[name] - us_per_log['floor_send_log'], 3) for name in ('check', 'check_registry')
        },
        'ratio_to_floor_send_log': {
            name: round(best[name] / best['floor_send_log'], 3) for name in ('check', 'check_registry')
        },
        'registry_reads': registry_reads,
        'profile': top,
    }


def profile_top(function: Callable[[], Any], *, top: int = 15) -> list[str]:
    """Run `function` under cProfile; the `top` functions by own time (tottime), as table lines."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        function()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--logs', type=int, default=100_000)
    parser.add_argument('--rounds', type=int, default=9)
    parser.add_argument('--profile', action='store_true', help='add the top 15 functions of one check run (cProfile)')
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.logs, args.rounds, profile=args.profile)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
