# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The crash test's harness: Agent lives in child processes, killed and restarted; what each sent, and what a kill cost.

See test_crash.py for what is asserted and why.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datadog_checks.acme.cursors import CURSOR_PREFIX, Position
from datadog_checks.acme.timing import parse_rfc3339

from .agent_emulation import PersistentCacheDir, Tailer, integration_log_path
from .conftest import STREAMS, slot_position, stream_of, stream_of_cursor_key
from .crash_child import CHECK_ID, NO_SELF_KILL, READY, SELF_KILLS, intents_path

INTEGRATION_ROOT = Path(__file__).resolve().parent.parent
SEED = 20261126
PAGE_SIZE = 25
LOGS_PER_STREAM = 1250
PARENT_KILL = 'parent'
KILL_KINDS = SELF_KILLS + (PARENT_KILL,)
KILLS_PER_KIND = 4
# A planned kill does not happen if the life finishes the crawl first; the data is sized so that this is rare.
MIN_KILLS_PER_KIND = 3
MIN_KILLS = 20
# The parent kills a life this long (at most) after its first log: a few pages in (ACME takes the check's requests
# to ACME at 10 a second at most), far from the backlog's end.
MAX_PARENT_KILL_DELAY = 0.3
LIFE_TIMEOUT = 60.0
KILLED = 'killed'
COMPLETED = 'completed'

LogKey = tuple[str, str]  # (stream, log id)


@dataclass
class Life:
    """One start of the Agent, until it was killed or had nothing left to crawl."""

    number: int
    planned_kill: str
    # Per stream, the last cursor written in full before this life started: where it should resume.
    resumed_from: dict[str, Position]
    outcome: str = ''
    where: str = ''  # where the child says it killed itself, or the parent's delay
    sent: list[LogKey] = field(default_factory=list)
    resent: list[LogKey] = field(default_factory=list)  # sent by an earlier life already
    # What this life's kill cost: the logs it sent that a later life sent again (each re-sent log is charged to
    # the life that sent it last).
    cost: list[LogKey] = field(default_factory=list)
    cursors_written: list[tuple[str, Position]] = field(default_factory=list)  # in full, in order (lives.json)
    seconds: float = 0.0

    def sent_of(self, stream: str, keys: list[LogKey] | None = None) -> list[LogKey]:
        return [key for key in (self.sent if keys is None else keys) if key[0] == stream]


class Expected:
    """The logs ACME holds, in its order per stream."""

    def __init__(self, logs_by_stream: dict[str, list[dict[str, Any]]]) -> None:
        self.position = {
            (stream, log['id']): Position(parse_rfc3339(log['timestamp']), log['id'])
            for stream, logs in logs_by_stream.items()
            for log in logs
        }
        self.order = {
            stream: sorted((key for key in self.position if key[0] == stream), key=self.position.__getitem__)
            for stream in logs_by_stream
        }

    def after(self, stream: str, cursor: Position | None) -> list[LogKey]:
        return [key for key in self.order[stream] if cursor is None or self.position[key] > cursor]


class AgentRestarts:
    """Starts lives one after the other on the same files; records what each sent and which cursors it wrote."""

    def __init__(self, *, root: Path, logs_dir: Path, instance: dict[str, Any]) -> None:
        self.root = root  # the Agent's run_path
        self.logs_dir = logs_dir  # the children's stderr
        self.instance = instance
        self.cache = PersistentCacheDir(root)
        # Read only between lives: what each life sent is what appeared in the file while it lived.
        self.log_tailer = Tailer(integration_log_path(root, CHECK_ID))
        self.intent_tailer = Tailer(intents_path(root))
        self.written: dict[str, Position] = {}  # per stream, the last cursor written in full so far
        self.lives: list[Life] = []
        self._last_sent_by: dict[LogKey, Life] = {}
        self.zygote = Zygote()  # close() stops it

    def live(self, planned_kill: str, *, seed: int, parent_delay: float = 0.0) -> Life:
        life = Life(len(self.lives) + 1, planned_kill, resumed_from=dict(self.written))
        started = time.monotonic()
        self_kill = planned_kill if planned_kill in SELF_KILLS else NO_SELF_KILL
        parent_kills_after = parent_delay if planned_kill == PARENT_KILL else None
        status, life.where = self._run_child(life.number, self_kill, seed, parent_kills_after)
        life.seconds = time.monotonic() - started
        life.outcome = COMPLETED if status == 0 else KILLED
        if planned_kill == PARENT_KILL and life.outcome == KILLED:
            life.where = f'parent: SIGKILL {parent_delay:.3f} s after its first log'
        self._record_sent(life)
        self._record_cursor_writes(life)
        self.lives.append(life)
        return life

    def _run_child(self, number: int, self_kill: str, seed: int, parent_kills_after: float | None) -> tuple[int, str]:
        """Run one child to its end: its exit status, and what it printed after READY."""
        args = [
            '--root',
            str(self.root),
            '--instance',
            json.dumps(self.instance),
            '--kill',
            self_kill,
            '--seed',
            str(seed),
        ]
        stdout_path, stderr_path = (self.logs_dir / f'life-{number:02d}.{name}' for name in ('stdout', 'stderr'))
        child = self.zygote.start(args, stdout=stdout_path, stderr=stderr_path)
        try:
            if wait_ready(child) and parent_kills_after is not None:
                self._wait_for_first_log(child)
                time.sleep(parent_kills_after)
                child.kill()
            status = child.wait(timeout=LIFE_TIMEOUT)
        finally:
            child.kill()
        if status not in (0, -signal.SIGKILL):
            raise AssertionError(f'life {number} failed, exit status {status}:\n{stderr_path.read_text()[-4000:]}')
        return status, ''.join(child.output()[1:]).strip()

    def _wait_for_first_log(self, child: ForkedChild) -> None:
        """Until the life wrote its first log, or ended: a kill after that lands in the crawl, not the start-up."""
        path, size_at_start = self.log_tailer.path, self.log_tailer.offset
        deadline = time.monotonic() + LIFE_TIMEOUT
        while child.poll() is None and time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > size_at_start:
                return
            time.sleep(0.001)

    def close(self) -> None:
        self.zygote.close()

    def _record_sent(self, life: Life) -> None:
        lines = self.log_tailer.read()
        assert self.log_tailer.unterminated() == 0, f'life {life.number}: a kill cut a line of the log file'
        life.sent = [log_key(json.loads(line)) for line in lines]
        life.resent = [key for key in life.sent if key in self._last_sent_by]
        for key in life.resent:
            self._last_sent_by[key].cost.append(key)
        self._last_sent_by.update((key, life) for key in life.sent)

    def _record_cursor_writes(self, life: Life) -> None:
        """Learn the cursors the last life wrote in full: each write it went on after, and its last one if whole.

        The child journals each write before making it: from the journal and the files, not from the check's own
        reading of its cursors, which is what is under test.
        """
        intents = [json.loads(line) for line in self.intent_tailer.read()]
        for number, intent in enumerate(intents, 1):
            if number == len(intents) and self.cache.read(intent['key']) != intent['value']:
                continue  # torn, or not begun: the kill came first
            if CURSOR_PREFIX not in intent['key']:
                continue  # what the check remembers of a stream's creation
            stream, position = stream_of_cursor_key(intent['key']), slot_position(intent['value'])
            self.written[stream] = position
            life.cursors_written.append((stream, position))


class Zygote:
    """`python -m tests.crash_child --zygote`: one process that has done a life's imports, forking the lives."""

    def __init__(self) -> None:
        command = [sys.executable, '-m', 'tests.crash_child', '--zygote']
        # Unbuffered: a line read is all that is taken from the pipe, so `select` tells whether another one came.
        self.process = subprocess.Popen(
            command, cwd=INTEGRATION_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )

    def start(self, args: list[str], *, stdout: Path, stderr: Path) -> ForkedChild:
        request = {'args': args, 'stdout': str(stdout), 'stderr': str(stderr)}
        self.process.stdin.write(json.dumps(request).encode() + b'\n')
        answer = self.answer(LIFE_TIMEOUT)
        assert answer is not None and 'pid' in answer, f'the zygote did not start a life: {answer}'
        return ForkedChild(self, answer['pid'], stdout)

    def answer(self, timeout: float) -> dict[str, Any] | None:
        """The zygote's next answer, or None if it has none within `timeout` seconds."""
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            return None
        line = self.process.stdout.readline()
        assert line, f'the zygote exited, status {self.process.wait()}'
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=LIFE_TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()


class ForkedChild:
    """A life the zygote forked: what a subprocess.Popen would tell of it, its exit status from the zygote."""

    def __init__(self, zygote: Zygote, pid: int, stdout: Path) -> None:
        self.zygote, self.pid, self.stdout = zygote, pid, stdout
        self.status: int | None = None

    def poll(self) -> int | None:
        if self.status is None:
            self._take(self.zygote.answer(0))
        return self.status

    def wait(self, timeout: float) -> int:
        if self.status is None:
            self._take(self.zygote.answer(timeout))
        if self.status is None:
            raise subprocess.TimeoutExpired(f'life {self.pid}', timeout)
        return self.status

    def _take(self, answer: dict[str, Any] | None) -> None:
        if answer is not None:
            self.status = answer['status']

    def kill(self) -> None:
        """SIGKILL it (by its pid) if it still runs, and wait for the zygote to reap it."""
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended and was reaped just now: the zygote says so next
            self.wait(LIFE_TIMEOUT)

    def output(self) -> list[str]:
        """What it printed so far, in complete lines."""
        text = self.stdout.read_text() if self.stdout.exists() else ''
        return text.splitlines(keepends=True)[: text.count('\n')]


def wait_ready(child: ForkedChild) -> bool:
    """Until the child says it is ready (True), or gives up: exits or stays silent for LIFE_TIMEOUT."""
    deadline = time.monotonic() + LIFE_TIMEOUT
    while not child.output() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    return child.output()[:1] == [READY + '\n']


def log_key(log: dict[str, Any]) -> LogKey:
    return stream_of(log), log['acme']['id']


def kill_schedule(rng: random.Random) -> list[str]:
    """Every kind of kill the same number of times, in a seeded order."""
    schedule = [kind for kind in KILL_KINDS for _ in range(KILLS_PER_KIND)]
    rng.shuffle(schedule)
    return schedule


# What can go wrong, most telling first: a failure lists each kind with a few examples.
LOST = 'logs lost'
SENT_BACK = 'streams sent back before their last cursor written in full (a torn or lost cursor undone)'
PAGE_PER_STREAM = 'lives that sent more than one page of a stream again'
PAGE_PER_KILL = 'kills that cost more than the page they interrupted'
NOT_NEXT = 'logs sent again that are not the ones right after the cursor'
TWICE_IN_A_LIFE = 'lives that sent a log twice themselves'
UNEXPECTED = 'logs sent that ACME does not hold'
TOO_FEW_KILLS = 'too few kills'
UNFINISHED = 'last life did not crawl to the end'
EXAMPLES = 4


class Violations(dict):
    """Problems by kind, in the order above."""

    def __init__(self) -> None:
        kinds = (LOST, SENT_BACK, PAGE_PER_STREAM, PAGE_PER_KILL, NOT_NEXT, TWICE_IN_A_LIFE, UNEXPECTED)
        super().__init__((kind, []) for kind in kinds + (TOO_FEW_KILLS, UNFINISHED))

    def add(self, kind: str, problem: str) -> None:
        self[kind].append(problem)

    def render(self) -> str:
        lines = []
        for kind, problems in self.items():
            if problems:
                lines.append(f'{kind}:')
                lines.extend(f'  {problem}' for problem in problems[:EXAMPLES])
                lines.extend([f'  ... and {len(problems) - EXAMPLES} more'] if len(problems) > EXAMPLES else [])
        return '\n'.join(lines)


def check_kill_cost(life: Life, violations: Violations) -> None:
    """The kill of `life` may cost the page it interrupted: at most a page of one stream, sent again later."""
    streams = {stream for stream, _ in life.cost}
    if len(life.cost) > PAGE_SIZE or len(streams) > 1:
        violations.add(
            PAGE_PER_KILL,
            f'life {life.number} ({life.where}): {len(life.cost)} of its logs sent again later, '
            f'from {len(streams)} streams (page size {PAGE_SIZE})',
        )


def check_resent(life: Life, expected: Expected, violations: Violations) -> None:
    """What `life` sends again must be, per stream, the first logs after the last cursor written in full."""
    name = f'life {life.number}'
    twice = [key for key, times in Counter(life.sent).items() if times > 1]
    if twice:
        violations.add(TWICE_IN_A_LIFE, f'{name}: {len(twice)} logs, e.g. {twice[:3]}')
    for stream in STREAMS:
        again = life.sent_of(stream, life.resent)
        if not again:
            continue
        if len(again) > PAGE_SIZE:
            violations.add(PAGE_PER_STREAM, f'{name}: {len(again)} `{stream}` logs (page size {PAGE_SIZE})')
        cursor = life.resumed_from.get(stream)
        before_cursor = [key for key in again if cursor is None or expected.position[key] <= cursor]
        if before_cursor:
            violations.add(
                SENT_BACK, f'{name}: {len(before_cursor)} `{stream}` logs from before {cursor}, back toward the start'
            )
        elif again != life.sent_of(stream)[: len(again)] or again != expected.after(stream, cursor)[: len(again)]:
            violations.add(NOT_NEXT, f'{name}: `{stream}` logs after {cursor}')


def crawl_violations(restarts: AgentRestarts, expected: Expected) -> Violations:
    lives = restarts.lives
    violations = Violations()
    for life in lives:
        check_kill_cost(life, violations)
        check_resent(life, expected, violations)
    sent = {key for life in lives for key in life.sent}
    lost = set(expected.position) - sent
    if lost:
        violations.add(LOST, f'{len(lost)} logs, e.g. {sorted(lost)[:3]}')
    unexpected = sent - set(expected.position)
    if unexpected:
        violations.add(UNEXPECTED, f'{len(unexpected)} logs, e.g. {sorted(unexpected)[:3]}')
    kills = kills_by_kind(lives)
    if sum(kills.values()) < MIN_KILLS:
        violations.add(TOO_FEW_KILLS, f'{sum(kills.values())} in all, fewer than {MIN_KILLS}: the data ran out early')
    for kind in KILL_KINDS:
        if kills[kind] < MIN_KILLS_PER_KIND:
            violations.add(TOO_FEW_KILLS, f'{kills[kind]} of kind {kind}, fewer than {MIN_KILLS_PER_KIND}')
    if lives[-1].outcome != COMPLETED:
        violations.add(UNFINISHED, f'life {lives[-1].number}: {lives[-1].outcome}')
    return violations


def kills_by_kind(lives: list[Life]) -> Counter[str]:
    return Counter(life.planned_kill for life in lives if life.outcome == KILLED)


def summary(restarts: AgentRestarts, expected: Expected) -> str:
    lives = restarts.lives
    kills = kills_by_kind(lives)
    sent = {key for life in lives for key in life.sent}
    costs = [len(life.cost) for life in lives]
    lines = [
        f'{len(lives)} lives, {sum(kills.values())} kills ({", ".join(f"{k} {kills[k]}" for k in KILL_KINDS)}); '
        f'{len(expected.position)} logs, {len(set(expected.position) - sent)} lost, '
        f'{sum(costs)} sent again (at most {max(costs)} for one kill; page size {PAGE_SIZE}); '
        f'{sum(life.seconds for life in lives):.1f} s in lives',
        f'{"life":>4}  {"planned kill":<12} {"outcome":<9} {"sent":>5} {"again":>5} {"cost":>5} {"s":>5}  where',
    ]
    lines.extend(
        f'{life.number:>4}  {life.planned_kill:<12} {life.outcome:<9} {len(life.sent):>5} {len(life.resent):>5} '
        f'{len(life.cost):>5} {life.seconds:>5.2f}  {life.where}'
        for life in lives
    )
    return '\n'.join(lines)


def save_lives(lives: list[Life], path: Path) -> Path:
    """Each life's cursors to resume from and logs sent, as JSON, to look into a failure."""
    path.write_text(
        json.dumps(
            [
                {
                    **asdict(life),
                    'resumed_from': {stream: position.to_cursor() for stream, position in life.resumed_from.items()},
                }
                for life in lives
            ],
            indent=1,
        )
    )
    return path
