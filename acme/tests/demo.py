# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Run the real AcmeCheck as the Agent does, against the sandbox or a real ACME endpoint, through an emulated Agent.

    python -m tests.demo                                  # sandbox, a run every 15 s, like the Agent
    python -m tests.demo --fast                           # simulated time: no waiting between runs
    python -m tests.demo --fast --reset --agent-file-cap 1 --intake-down 3:60   # the intake down for 60 s from run 3
    python -m tests.demo --fast --wipe-run-path 6         # the pod replaced after run 6: cursor recovery
    python -m tests.demo --url https://api.acme.example --token "$ACME_TOKEN"

The check's logs go through the Agent's logs side, emulated (tests/agent_emulation.py, LogsAgent): its integration
log file, the tailer, the auditor's registry.json (which the check reads) and an intake, all on the run path
(`--run-path`), which also holds the Agent's persistent cache: the cursors. A rerun resumes where the last one stopped
(`--reset` starts from an empty run path). Between two runs the Agent works a second at a time. Nothing is sent to
Datadog: the intake only counts what it receives.

Time: real by default (the Agent's seconds are slept). With --fast it is simulated: one clock shared by the check, the
sandbox (in this process), the Agent and the fake Datadog jumps `--interval` seconds between runs, so a run every 15 s
costs no waiting and cursor recovery's 60 s are four runs.

Exit status: 0 if at least one run succeeded, 1 if none did (each raised an error, or ACME could not be reached),
2 for bad settings (the options, or the check's own configuration error, which its first run reports).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from datadog_checks.acme import AcmeCheck
from datadog_checks.acme.recovery import RECOVERY_DELAY
from datadog_checks.acme.timing import parse_rfc3339
from datadog_checks.base import AgentCheck
from datadog_checks.base.stubs import aggregator, datadog_agent

from .agent_emulation import Intake, LogsAgent, agent_settings, record_sent_logs
from .clock import FakeClock
from .fake_datadog import FakeDatadog
from .sandbox import AcmeSandbox, generate_logs

SANDBOX_TOKEN = 'sandbox-token'
SANDBOX_STREAMS = 'prod-web,audit,billing'
# The sandbox's streams were created on 2025-01-01 at every start, as a real ACME keeps it: a cursor records it.
STREAMS_CREATED = 1735689600.0
HISTORY, HISTORY_RATE = 7200.0, 1.0  # seconds of logs the sandbox starts with, and logs per second per stream
CLOCK_FILE = 'demo-clock'  # under the run path: where a --fast demo's simulated time stopped
RECOVERY_OUTCOMES = {
    'resumed': 'resumed where the logs Datadog received end',
    'none': 'Datadog holds none of its logs: starts `initial_lookback` back',
    'failed': 'recovery failed: starts `initial_lookback` back',
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The check's warnings are printed with each run; its log would print them a second time.
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format='  log %(levelname)s %(message)s')
    if args.reset:
        shutil.rmtree(args.run_path, ignore_errors=True)
    clock = simulated_clock(args.run_path) if args.fast else RealClock()
    agent = LogsAgent(args.run_path, clock=clock, intake=Intake(clock.time), cap_mb=args.agent_file_cap)
    with ExitStack() as stack:
        url, token, catch_up = stack.enter_context(acme_endpoint(args, clock))
        instance: dict[str, Any] = {
            'url': url,
            'api_token': token,
            'tags': ['demo:acme'],
            'page_size': args.page_size,
            'max_run_time': args.max_run_time,
            'min_collection_interval': args.interval,
        }
        if args.streams:
            instance['streams'] = args.streams.split(',')
        if args.initial_lookback is not None:
            instance['initial_lookback'] = args.initial_lookback
        if args.wipe_run_path:
            datadog = stack.enter_context(FakeDatadog(intake=agent.intake, clock=clock.time))
            instance.update(datadog_api_url=datadog.url, datadog_api_key=datadog.api_key)
            instance.update(datadog_app_key=datadog.app_key)
            print(f'Cursor recovery on: a fake Datadog at {datadog.url} serves what the intake received')
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        agent_settings(datadog_agent, {'logs_enabled': True}, patch.setattr)
        sent_logs = record_sent_logs(datadog_agent, patch.setattr)
        agent.install(patch, datadog_agent)
        return Demo(args, clock, agent, instance, catch_up, sent_logs).run()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='./dev demo',
        description=__doc__.split('\n')[0],
        epilog='Exit status: 0 if a run succeeded, 1 if none did, 2 for bad settings.',
    )
    parser.add_argument('--url', help='a real ACME endpoint instead of the sandbox')
    parser.add_argument('--token', help='the API token for --url (or set it in ACME_TOKEN)')
    parser.add_argument('--streams', help='comma-separated stream ids (default: all the token can read)')
    parser.add_argument('--interval', type=float, default=15.0, help='seconds between runs (the Agent: 15)')
    parser.add_argument(
        '--fast', action='store_true', help='simulated time (sandbox only): the runs follow each other without waiting'
    )
    parser.add_argument('--runs', type=int, default=0, help='stop after this many runs (default 0: until Ctrl-C)')
    parser.add_argument('--page-size', type=int, default=1000)
    parser.add_argument('--max-run-time', type=float, default=10.0)
    parser.add_argument('--initial-lookback', type=int, help='seconds the first run looks back (default 3600)')
    parser.add_argument('--show', type=int, default=2, help='logs printed as JSON per run (default 2)')
    parser.add_argument(
        '--run-path',
        type=Path,
        default=Path('.cache/demo-run'),
        help="the Agent's run path: cursors, its log file of the check's logs, registry.json (default %(default)s)",
    )
    parser.add_argument('--reset', action='store_true', help='empty the run path first: no cursor, no file')
    parser.add_argument('--rate', type=float, default=20.0, help='sandbox: new logs per second per stream')
    parser.add_argument('--sandbox-port', type=int, default=18080, help='sandbox: port on 127.0.0.1 (default 18080)')
    parser.add_argument(
        '--clock-offset', type=float, default=0.0, help="sandbox: seconds ACME's clock is ahead of this host's"
    )
    parser.add_argument(
        '--agent-file-cap',
        type=float,
        default=100.0,
        help="the Agent's logs_config.integrations_logs_files_max_size in MB (default 100, as Agent 7.7x): the Agent "
        're-creates its file of the check\'s logs past it, so the check holds logs back while the file is full of '
        'lines the intake has not accepted (try 1 with --intake-down)',
    )
    parser.add_argument(
        '--intake-down',
        type=outage,
        metavar='RUN:SECONDS',
        help="take Datadog's logs intake down from run RUN for SECONDS: the Agent ships nothing meanwhile, then all",
    )
    parser.add_argument(
        '--wipe-run-path',
        type=int,
        metavar='RUN',
        help='replace the pod after run RUN, before the Agent shipped its logs: cursors, file and registry.json are '
        'wiped. Turns cursor recovery on (a fake Datadog fed by the intake), so the new check resumes where the logs '
        f'Datadog received end, {RECOVERY_DELAY:.0f} s after its first run',
    )
    parser.add_argument('--verbose', '-v', action='store_true', help="print the check's log (INFO and up)")
    args = parser.parse_args(argv)
    if args.token and not args.url:
        parser.error('--token goes with --url (a real ACME); the sandbox has its own token')
    if args.url and args.fast:
        parser.error('--fast simulates time, which a real ACME does not follow: use --interval')
    if args.interval < 1:
        parser.error('--interval must be at least 1 (the Agent works a second at a time between runs)')
    if args.wipe_run_path is not None and args.wipe_run_path < 1:
        parser.error('--wipe-run-path takes a run number, 1 or more')
    if args.url and not args.token:
        args.token = os.environ.get('ACME_TOKEN')
        if not args.token:
            parser.error('--url needs --token or ACME_TOKEN')
    return args


def outage(text: str) -> tuple[int, int]:
    """`--intake-down RUN:SECONDS`."""
    run, _, seconds = text.partition(':')
    if not (run.isdigit() and seconds.isdigit() and int(run) >= 1 and int(seconds) >= 1):
        raise argparse.ArgumentTypeError(f'expected RUN:SECONDS, e.g. 3:60, got {text!r}')
    return int(run), int(seconds)


class RealClock:
    """The host's clock, with the `advance` a LogsAgent calls to let a second pass: here it sleeps it."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)


DemoClock = FakeClock | RealClock


def simulated_clock(run_path: Path) -> FakeClock:
    """A --fast demo's clock: from now, or from where the last one on this run path stopped if that is later, so that
    the cursors it left are never ahead of the sandbox's clock."""
    try:
        stopped = float((run_path / CLOCK_FILE).read_text())
    except (OSError, ValueError):
        stopped = 0.0
    return FakeClock(max(time.time(), stopped))


@contextmanager
def acme_endpoint(args: argparse.Namespace, clock: DemoClock) -> Iterator[tuple[str, str, Callable[[], None]]]:
    """The ACME to crawl: --url, or the sandbox on the demo's clock; and what adds the logs that "happened" since
    the last run (nothing for a real ACME)."""
    if args.url:
        yield args.url, args.token, lambda: None
        return
    # A fixed port: cursors belong to the `url`, so a rerun against the same URL resumes where the last one stopped.
    sandbox = AcmeSandbox(
        token=SANDBOX_TOKEN, clock=clock.time, clock_offset=args.clock_offset, port=args.sandbox_port, seed=1
    )
    feed = LiveLogs(sandbox, (args.streams or SANDBOX_STREAMS).split(','), rate=args.rate)
    with sandbox:
        print(f'Sandbox ACME at {sandbox.url} (token {SANDBOX_TOKEN!r})')
        yield sandbox.url, SANDBOX_TOKEN, feed.catch_up


class LiveLogs:
    """The sandbox's logs: HISTORY seconds of them at start, then `rate` a second per stream, added before each run
    up to ACME's now on the demo's clock (the sandbox's own LiveFeed thread would lag a simulated clock). Some become
    readable only up to ACME's ingestion delay later, as late logs do."""

    def __init__(self, sandbox: AcmeSandbox, streams: list[str], *, rate: float) -> None:
        self.sandbox, self.streams, self.rate = sandbox, streams, rate
        self.since = sandbox.now()
        for stream in streams:
            sandbox.add_stream(stream, created_at=STREAMS_CREATED)
            self._add(stream, self.since - HISTORY, self.since, round(HISTORY * HISTORY_RATE))

    def catch_up(self) -> None:
        now = self.sandbox.now()
        count = round(self.rate * (now - self.since))
        if count < 1:
            return
        for stream in self.streams:
            self._add(stream, self.since, now, count)
        self.since = now

    def _add(self, stream: str, start: float, end: float, count: int) -> None:
        logs = generate_logs(
            seed=f'{stream}:{start}', start=start, end=end, count=count, max_late=self.sandbox.ingestion_delay
        )
        self.sandbox.add_logs(stream, logs)


class Demo:
    """The Agent's schedule: a run of the check, then the Agent's logs side for the rest of `--interval`, a second at
    a time; what each run submitted, held back and got delivered is printed, and a summary at the end."""

    def __init__(
        self,
        args: argparse.Namespace,
        clock: DemoClock,
        agent: LogsAgent,
        instance: dict[str, Any],
        catch_up: Callable[[], None],
        sent_logs: dict[str, list[dict[str, Any]]],
    ) -> None:
        self.args, self.clock, self.agent, self.instance, self.catch_up = args, clock, agent, instance, catch_up
        self.sent_logs = sent_logs  # what each run hands `send_log`, by check id
        # The Agent's check id ends with a digest of the configuration; here without the secrets and the fake Datadog's
        # port, so that the Agent's file of the check's logs keeps its name from one demo to the next.
        identity = {key: value for key, value in instance.items() if key != 'api_token' and 'datadog' not in key}
        self.check_id = 'acme:' + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.runs = self.succeeded = self.held = 0
        self.check = self.new_check()
        self.streams: set[str] = set()
        self.submitted: list[tuple[str, str]] = []
        self.intake_back_at: float | None = None

    def new_check(self) -> AcmeCheck:
        """The check as the Agent creates it when it starts: same configuration, same check id."""
        check = AcmeCheck('acme', {}, [self.instance])
        check.check_id = self.check_id
        self.agent.schedule(self.check_id)  # the `logs:` entry: the Agent creates the check's file
        if isinstance(self.clock, FakeClock):
            check.clock = self.clock
        # With cursor recovery, a stream without a cursor waits until RECOVERY_DELAY after the check's first run.
        self.lookup_run = self.runs + 1 + math.ceil(RECOVERY_DELAY / self.args.interval)
        return check

    def run(self) -> int:
        args = self.args
        print(
            f"The Agent's run path: {args.run_path.resolve()} (the cursors, registry.json, integrations/*.log); "
            f'a run every {args.interval:g} s, {"simulated" if args.fast else "real"} time. Ctrl-C to stop.\n'
        )
        try:
            while not args.runs or self.runs < args.runs:
                self.runs += 1
                if args.intake_down and self.runs == args.intake_down[0]:
                    self.take_the_intake_down(args.intake_down[1])
                self.catch_up()
                aggregator.reset()
                self.sent_logs.clear()
                started, started_on_clock = time.perf_counter(), self.clock.monotonic()
                error = self.check.run()
                if self.check.check_initializations:  # the base's set-up steps, configuration first, did not pass
                    message = json.loads(error)[0]['message'] if error else 'no error reported'
                    print('./dev demo: the check did not start:\n  ' + message.replace('\n', '\n  '), file=sys.stderr)
                    return 2
                self.report(error, time.perf_counter() - started)
                if self.runs == args.wipe_run_path:
                    self.replace_the_pod()
                took = self.clock.monotonic() - started_on_clock
                seconds = max(1, round(args.interval - took))
                received = self.let_the_agent_work(seconds)
                total = len(self.agent.intake.received)
                print(f'  intake: {received:,} logs received in the next {seconds} s ({total:,} in all)')
                if args.fast:
                    (args.run_path / CLOCK_FILE).write_text(repr(self.clock.time()))
        except KeyboardInterrupt:
            print('\nStopped; the next start resumes from the cursors in the run path.')
        self.summary()
        return 0 if self.succeeded else 1

    def report(self, error: str, took: float) -> None:
        """What the run did: per stream, what it submitted and where its cursor is; the Agent's file; recovery."""
        check = self.check
        logs = self.sent_logs[check.check_id]
        self.submitted += [log_key(log) for log in logs]
        per_stream = Counter(tag_value(log['ddtags'].split(','), 'acme_stream') for log in logs)
        skipped: Counter[str] = Counter()
        for metric in aggregator.metrics('acme.logs.skipped'):
            skipped[tag_value(metric.tags, 'acme_stream')] += int(metric.value)
        self.streams.update(tag_value(metric.tags, 'acme_stream') for metric in aggregator.metrics('acme.crawl.lag'))
        self.streams.update(per_stream)
        connection = [service_check.status for service_check in aggregator.service_checks('acme.can_connect')]
        failed = bool(error) or AgentCheck.CRITICAL in connection
        self.succeeded += not failed
        skew = [metric.value for metric in aggregator.metrics('acme.clock.skew')]

        at = datetime.fromtimestamp(self.clock.time(), timezone.utc).strftime('%H:%M:%S')
        print(
            f'run {self.runs} at {at}: {len(logs):,} logs submitted in {took:.2f} s'
            + (f", ACME's clock {skew[-1]:+.1f} s from this host's" if skew else '')
            + (' (FAILED)' if failed else '')
        )
        for stream in sorted(self.streams):
            print(f'  {stream:<20} submitted {per_stream[stream]:>6}  skipped {skipped[stream]:>4}  ', end='')
            print(self.describe(check.get_log_cursor(stream)))  # the base package's API: what the last page wrote
        unshipped = [metric.value for metric in aggregator.metrics('acme.agent.unshipped_bytes')]
        held = sum(metric.value for metric in aggregator.metrics('acme.agent.held_runs')) > 0
        self.held += held
        if unshipped or held:
            print(
                f"  agent: {unshipped[-1] if unshipped else 0:,.0f} bytes of its file not shipped yet"
                + ('; held: the check holds logs back until the Agent ships them' if held else '')
            )
        if self.args.wipe_run_path and not logs and self.runs < self.lookup_run:
            print(f'  cursor recovery: a stream without a cursor waits for run {self.lookup_run} to be looked up')
        for metric in aggregator.metrics('acme.recovery.streams'):
            stream, outcome = tag_value(metric.tags, 'acme_stream'), tag_value(metric.tags, 'outcome')
            print(f'  recovery: {stream} {outcome}: {RECOVERY_OUTCOMES.get(outcome, "")}')
        for log in logs[: self.args.show]:
            print('  ' + json.dumps(log, ensure_ascii=False)[:400])
        if error:
            print('  error: ' + json.loads(error)[0]['message'])
        for warning in check.get_warnings():
            print('  warning: ' + warning)

    def describe(self, cursor: dict[str, Any] | None) -> str:
        if not cursor:
            return 'no cursor'
        lag = self.clock.time() - parse_rfc3339(cursor['timestamp']) / 1e9
        return f'cursor {cursor["timestamp"]} {cursor.get("id") or "(window end)"}  lag {lag:,.0f} s'

    def take_the_intake_down(self, seconds: int) -> None:
        self.agent.intake.up = False
        self.intake_back_at = self.clock.time() + seconds
        print(f"intake: down for {seconds} s: the Agent's tailer stops, lines pile up in its file")

    def replace_the_pod(self) -> None:
        """The pod is replaced before the Agent shipped the run's logs: a new Agent and check on an empty run path."""
        unshipped = len(self.agent.unread_lines())
        self.agent.replace_pod()
        self.check = self.new_check()
        print(
            f'pod replaced: its run path is wiped (cursors, registry.json, the file with {unshipped:,} lines not '
            f'shipped); a new Agent and check start, which looks its streams up in Datadog {RECOVERY_DELAY:.0f} s '
            f'after its first run (run {self.lookup_run})'
        )

    def let_the_agent_work(self, seconds: int) -> int:
        """The Agent's logs side, a second at a time; how many lines the intake received meanwhile."""
        before = len(self.agent.intake.received)
        for _ in range(seconds):
            if self.intake_back_at is not None and self.clock.time() >= self.intake_back_at:
                self.agent.intake.up, self.intake_back_at = True, None
                print('  intake: up again')
            self.agent.advance(1)
        return len(self.agent.intake.received) - before

    def summary(self) -> None:
        """Whether every log submitted reached the intake, once."""
        delivered = [key for key in map(line_key, self.agent.delivered_lines()) if key]
        waiting = {key for key in map(line_key, self.agent.unread_lines()) if key}
        never = set(self.submitted) - set(delivered) - waiting
        lost = {cause: len(lines) for cause, lines in self.agent.lost.items() if lines}
        print(
            f'\n{self.runs} runs: {self.succeeded} succeeded, {self.held} held; {len(self.submitted):,} logs submitted '
            f'({len(set(self.submitted)):,} distinct).'
            f'\nThe intake received {len(delivered):,} logs ({len(delivered) - len(set(delivered)):,} duplicates); '
            f"{len(waiting):,} wait in the Agent's file; never delivered: {len(never):,}."
        )
        if lost:
            causes = ', '.join(f'{cause} {count:,}' for cause, count in lost.items())
            print(f'Lines the Agent lost on the way, by cause: {causes} (submitted again if not "never delivered").')


def log_key(log: dict[str, Any]) -> tuple[str, str]:
    """A log's stream and ACME id: which log it is, however many times it was sent."""
    return tag_value(str(log.get('ddtags', '')).split(','), 'acme_stream'), str((log.get('acme') or {}).get('id'))


def line_key(line: str) -> tuple[str, str] | None:
    try:
        return log_key(json.loads(line))
    except (ValueError, AttributeError):
        return None  # a fragment of a line


def tag_value(tags: list[str], name: str) -> str:
    return next((tag.split(':', 1)[1] for tag in tags if tag.startswith(name + ':')), '')


if __name__ == '__main__':
    sys.exit(main())
