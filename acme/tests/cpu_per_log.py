# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""CPU time per log of a check run, beyond decoding the pages and calling `send_log` for each log, for test_bench.py.

    python -m tests.cpu_per_log [--package ROOT] [--logs N] [--rounds R]

prints one JSON object: microseconds per log (the best of R rounds, CPU time) of the floor (decoding the pages), the
floor plus the base package's `send_log` for every decoded log, and a whole check run over the same pages; and the
check's time beyond the second. ACME's answers are recorded from the sandbox once, then replayed from memory: no
socket, no thread, so the figures are steady enough to compare two versions of the check (`--package`: an
integration root whose check package is measured instead of this one's; its own sandbox is not used).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import orjson

START = 1795694400.0


def measure(package: Path | None, logs: int, rounds: int) -> dict[str, float]:
    if package is not None:
        # The checks' namespace package is loaded with the base package; its first `acme` on its path wins.
        importlib.import_module('datadog_checks.base')
        sys.modules['datadog_checks'].__path__.insert(0, f'{package}/datadog_checks')
    from datadog_checks.acme import AcmeCheck
    from datadog_checks.base.stubs import aggregator, datadog_agent
    from datadog_checks.base.utils.http import RequestsWrapper

    from .clock import FakeClock
    from .sandbox import AcmeSandbox, generate_bulk

    clock = FakeClock(START)
    sandbox = AcmeSandbox(token='t', clock=clock.time, seed=1, rate_limits=False)
    sandbox.add_stream('bulk', created_at=START - 86400)
    sandbox.add_logs('bulk', generate_bulk(seed=1, start=START - 3720, end=START - 120, count=logs))
    answers: dict[str, tuple[int, dict, bytes]] = {}

    class Answer:
        def __init__(self, status: int, headers: dict, content: bytes) -> None:
            self.status_code, self.headers, self.content = status, headers, content

    def get(wrapper, url, params=None, extra_headers=None, **kwargs):
        target = urlsplit(url).path + ('?' + urlencode(params) if params else '')
        if target not in answers:
            response = sandbox.handle('GET', target, extra_headers['Authorization'])
            answers[target] = (response.status, dict(response.headers), response.body)
        return Answer(*answers[target])

    RequestsWrapper.get = get  # this process only
    cache: dict[str, str] = {}
    datadog_agent.send_log = lambda line, check_id: None  # the Agent's side: not the check's cost
    datadog_agent.write_persistent_cache = cache.__setitem__
    datadog_agent.read_persistent_cache = lambda key: cache.get(key, '')
    datadog_agent._config.update(
        {
            'logs_enabled': True,
            'logs_config.integrations_logs_files_max_size': 10**6,
            'logs_config.integrations_logs_total_usage': 10**6,
        }
    )
    aggregator.submit_metric = lambda *args, **kwargs: None
    limits = _pacing_module()
    limits.SPACING, limits.RATE, limits.BURST = 0.0, float('inf'), float('inf')
    AcmeCheck.clock = clock
    instance = {
        'url': 'http://acme.test',
        'api_token': 't',
        'streams': ['bulk'],
        'page_size': 1000,
        'initial_lookback': 7200,
        'max_run_time': 3600,
    }

    def new_check():
        check = AcmeCheck('acme', {}, [instance])
        check.check_id = 'acme:cpu'
        return check

    def check_round() -> float:
        cache.clear()
        check = new_check()
        started = time.process_time()
        error = check.run()
        seconds = time.process_time() - started
        assert not error, error
        return seconds

    check_round()  # records the answers, and warms both sides up
    pages = [content for target, (_, _, content) in answers.items() if '/logs?' in target]
    sender = new_check()

    def floor_round(send: bool) -> float:
        started = time.process_time()
        for content in pages:
            for log in orjson.loads(content)['data']:
                if send:
                    del log['timestamp']  # an RFC 3339 string, which send_log cannot convert
                    sender.send_log(log)
        return time.process_time() - started

    best = {'floor': float('inf'), 'floor_send_log': float('inf'), 'check': float('inf')}
    for _round in range(rounds):
        for name, run in (('floor', lambda: floor_round(False)), ('floor_send_log', lambda: floor_round(True))):
            gc.collect()
            best[name] = min(best[name], run())
        gc.collect()
        best['check'] = min(best['check'], check_round())
    per_log = {name: seconds / logs * 1e6 for name, seconds in best.items()}
    per_log['check_beyond_send_log'] = per_log['check'] - per_log['floor_send_log']
    return {name: round(value, 3) for name, value in per_log.items()}


def _pacing_module():
    """Where the check keeps its pacing constants: `client` now, `ratelimit` before the redesign."""
    client = importlib.import_module('datadog_checks.acme.client')
    return client if hasattr(client, 'BURST') else importlib.import_module('datadog_checks.acme.ratelimit')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--package', type=Path, help='an integration root whose check to measure')
    parser.add_argument('--logs', type=int, default=100_000)
    parser.add_argument('--rounds', type=int, default=9)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.package, args.logs, args.rounds)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
