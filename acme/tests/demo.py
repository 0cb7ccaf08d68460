# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Run the real AcmeCheck the way the Agent does, against the sandbox or a real ACME endpoint.

    python -m tests.demo                         # sandbox, a run every 15 s, like the Agent
    python -m tests.demo --fast                  # a run every second
    python -m tests.demo --url https://api.acme.example --token "$ACME_TOKEN"

Cursors are kept in a file (`--state`), as the Agent keeps them on disk: a rerun resumes where the last one
stopped. Logs are printed, not sent anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from datadog_checks.acme import AcmeCheck
from datadog_checks.acme.cursors import Position
from datadog_checks.base.stubs import aggregator, datadog_agent

SANDBOX_TOKEN = 'sandbox-token'
SANDBOX_STREAMS = 'prod-web,audit,billing'


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with endpoint(args) as (url, token):
        instance: dict[str, Any] = {
            'url': url,
            'api_token': token,
            'tags': ['demo:acme'],
            'page_size': args.page_size,
            'max_run_time': args.max_run_time,
        }
        if args.streams:
            instance['streams'] = args.streams.split(',')
        if args.initial_lookback is not None:
            instance['initial_lookback'] = args.initial_lookback
        run_like_the_agent(instance, args)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='./dev demo', description=__doc__.split('\n')[0])
    parser.add_argument('--url', help='a real ACME endpoint instead of the sandbox')
    parser.add_argument('--token', help='the API token for --url (or set it in ACME_TOKEN)')
    parser.add_argument('--streams', help='comma-separated stream ids (default: all the token can read)')
    parser.add_argument('--interval', type=float, default=15.0, help='seconds between runs (the Agent: 15)')
    parser.add_argument('--fast', action='store_true', help='a run every second')
    parser.add_argument('--runs', type=int, default=0, help='stop after this many runs (default: until Ctrl-C)')
    parser.add_argument('--page-size', type=int, default=1000)
    parser.add_argument('--max-run-time', type=float, default=10.0)
    parser.add_argument('--initial-lookback', type=int, help='seconds the first run looks back (default 3600)')
    parser.add_argument('--show', type=int, default=2, help='logs printed as JSON per run (default 2)')
    parser.add_argument('--state', type=Path, default=Path('.cache/demo-cursors.json'), help='cursor file')
    parser.add_argument('--reset', action='store_true', help='forget the stored cursors first')
    parser.add_argument('--rate', type=float, default=20.0, help='sandbox: logs per second per stream')
    parser.add_argument('--sandbox-port', type=int, default=18080, help='sandbox: port on 127.0.0.1 (default 18080)')
    parser.add_argument(
        '--clock-offset', type=float, default=0.0, help="sandbox: seconds ACME's clock is ahead of this host's"
    )
    parser.add_argument(
        '--agent-file-cap',
        type=float,
        default=100.0,
        help="the Agent's logs_config.integrations_logs_files_max_size in MB (default 100, as Agent 7.7x); "
        'a run hands over at most a quarter of it',
    )
    args = parser.parse_args(argv)
    if args.fast:
        args.interval = 1.0
    if args.url and not args.token:
        import os

        args.token = os.environ.get('ACME_TOKEN')
        if not args.token:
            parser.error('--url needs --token or ACME_TOKEN')
    return args


@contextmanager
def endpoint(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.url:
        yield args.url, args.token
        return
    # The sandbox runs as its own process, serving 20 h of history and new logs as they "happen".
    # A fixed port: cursors belong to the `url`, so a rerun against the same URL resumes where the last one stopped.
    command = [sys.executable, '-m', 'tests.sandbox', '--port', str(args.sandbox_port), '--token', SANDBOX_TOKEN]
    command += ['--streams', args.streams or SANDBOX_STREAMS, '--rate', str(args.rate), '--backfill', '7200']
    command += ['--clock-offset', str(args.clock_offset)]
    server = subprocess.Popen(command, cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        ready = server.stdout.readline()
        if 'listening on' not in ready:
            raise SystemExit(f'The sandbox did not start: {ready!r}')
        url = ready.split('listening on', 1)[1].strip()
        print(f'Sandbox ACME at {url} (token {SANDBOX_TOKEN!r})')
        yield url, SANDBOX_TOKEN
    finally:
        server.terminate()
        server.wait(timeout=10)


class DiskCursors:
    """The Agent's persistent cache, as a JSON file: cursors survive a restart of the demo."""

    def __init__(self, path: Path, *, reset: bool) -> None:
        self.path = path
        self.values: dict[str, str] = {} if reset or not path.exists() else json.loads(path.read_text())
        self.writes = 0

    def read(self, key: str) -> str:
        return self.values.get(key, '')

    def write(self, key: str, value: str) -> None:
        self.values[key] = value
        self.writes += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.values, indent=1))


def run_like_the_agent(instance: dict[str, Any], args: argparse.Namespace) -> None:
    cursors = DiskCursors(args.state, reset=args.reset)
    datadog_agent.read_persistent_cache = cursors.read
    datadog_agent.write_persistent_cache = cursors.write
    datadog_agent._config['logs_enabled'] = True
    datadog_agent._config['logs_config.integrations_logs_files_max_size'] = args.agent_file_cap

    check = AcmeCheck('acme', {}, [instance])
    identity = {key: value for key, value in instance.items() if key != 'api_token'}
    check.check_id = 'acme:' + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    print(f'Cursors in {args.state}; a run every {args.interval:g} s. Ctrl-C to stop.\n')

    run = 0
    try:
        while not args.runs or run < args.runs:
            run += 1
            started = time.monotonic()
            report_run(run, check, cursors, args)
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        print('\nStopped; the next start resumes from the stored cursors.')


def report_run(run: int, check: AcmeCheck, cursors: DiskCursors, args: argparse.Namespace) -> None:
    aggregator.reset()
    datadog_agent._sent_logs.clear()
    writes_before = cursors.writes
    started = time.monotonic()
    error = check.run()
    took = time.monotonic() - started

    logs = datadog_agent._sent_logs[check.check_id]
    per_stream = Counter(tag_value(log['ddtags'].split(','), 'acme_stream') for log in logs)
    skipped = Counter()
    for metric in aggregator.metrics('acme.logs.skipped'):
        stream = tag_value(metric.tags, 'acme_stream')
        skipped[stream] += int(metric.value)

    skew = check.acme_clock.skew
    print(
        f'run {run}: {len(logs)} logs in {took:.2f} s, {cursors.writes - writes_before} cursor writes'
        + (f', ACME\'s clock {skew:+.1f} s from this host\'s' if skew is not None else '')
    )
    for stream in sorted(check.directory.streams.values(), key=lambda stream: stream.stream_id):
        cursor = check.get_log_cursor(stream.name)  # the base package's API: the cursor the last page wrote
        name = stream.stream_id
        print(
            f'  {name:<20} submitted {per_stream[name]:>6}  skipped {skipped[name]:>4}  '
            f'{describe(Position.from_cursor(cursor) if cursor else None)}'
        )
    for log in logs[: args.show]:
        print('  ' + json.dumps(log, ensure_ascii=False)[:400])
    if error:
        print('  error: ' + json.loads(error)[0]['message'])
    for warning in check.get_warnings():
        print('  warning: ' + warning)


def describe(position: Position | None) -> str:
    if position is None:
        return 'no cursor'
    lag = time.time() - position.nanos / 1e9
    return f'cursor {position.to_cursor()["timestamp"]} {position.id or "(window end)"}  lag {lag:,.0f} s'


def tag_value(tags: list[str], name: str) -> str:
    return next((tag.split(':', 1)[1] for tag in tags if tag.startswith(name + ':')), '')


if __name__ == '__main__':
    sys.exit(main())
