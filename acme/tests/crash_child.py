# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""One life of an Agent running the acme check, for test_crash.py: crawl until done, or die by SIGKILL.

    python -m tests.crash_child --root DIR --instance JSON --kill KIND --seed N

The check is built and run as the Agent runs it (`check.run()` over and over, minus the wait between runs), on the
Agent's files under DIR (its `run_path`): the persistent cache, and the integration log file `send_log` appends
to. Before each cursor write, the child appends the key and value to an intent journal, so the parent can tell
which cursor each stream had last written in full when the child died.

KIND is where the child kills itself, N (a seed) picks the moment:
- mid_page: at the n-th send_log or later, once the previous call was a send_log too (no cursor written since),
  before its line is written;
- after_send: as soon as the n-th send_log has written its line, before it returns;
- torn_empty, torn_prefix: in the m-th cursor write, once the file is truncated / once part of the value is in;
- after_write: as soon as the m-th cursor write is done;
- none: not at all (the parent may kill the child).

Prints READY once the check is built, a line saying where it killed itself just before doing so, and exits 0 after
a run that sent nothing.

    python -m tests.crash_child --zygote

starts lives on request instead, each a fork of this process, which has imported all a life needs: a life then costs
no interpreter start-up and imports (0.6 s, most of a short life). Nothing else is made before the fork: each life
builds its check from its configuration, as a new Agent process does. A request is a line of JSON on stdin,
{"args": [the arguments above], "stdout": path, "stderr": path}; the answers are lines of JSON on stdout, {"pid": N}
once the life runs, then {"status": S} when it ended (its exit code, or minus the signal that killed it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import traceback
from pathlib import Path

from datadog_checks.acme import AcmeCheck
from datadog_checks.base.agent import datadog_agent

from .agent_emulation import (
    IntegrationLogFile,
    PersistentCacheDir,
    agent_settings,
    append_bytes,
    integration_log_path,
    write_file,
    write_torn,
)

CHECK_ID = 'acme:c0ffee5eed0f1ad5'  # the Agent's id of this instance, the same in every life
INTENTS_FILE = 'cursor-intents.jsonl'
READY = 'ready'

MID_PAGE = 'mid_page'
AFTER_SEND = 'after_send'
TORN_EMPTY = 'torn_empty'
TORN_PREFIX = 'torn_prefix'
AFTER_WRITE = 'after_write'
NO_SELF_KILL = 'none'
SEND_KILLS = (MID_PAGE, AFTER_SEND)
TORN_WRITES = (TORN_EMPTY, TORN_PREFIX)
SELF_KILLS = SEND_KILLS + TORN_WRITES + (AFTER_WRITE,)
# The n-th send_log is drawn from 1 to this many pages' worth; the m-th cursor write from 1 to this many writes.
# Small, so that every life dies with most of the backlog still to crawl.
MAX_PAGES_BEFORE_SEND_KILL = 3
MAX_WRITES_BEFORE_WRITE_KILL = 6


def intents_path(root: Path) -> Path:
    return root / INTENTS_FILE


class KillPlan:
    """When this life kills itself: a countdown of the events its kind dies at (send_logs or cursor writes)."""

    def __init__(self, kind: str, seed: int, *, page_size: int) -> None:
        self.kind = kind
        self._rng = random.Random(seed)
        most = MAX_PAGES_BEFORE_SEND_KILL * page_size if kind in SEND_KILLS else MAX_WRITES_BEFORE_WRITE_KILL
        self._countdown = self._rng.randint(1, most)

    def count(self, kinds: tuple[str, ...]) -> bool:
        """Count one event that `kinds` die at; whether this plan is one of them and its moment has come."""
        if self.kind not in kinds:
            return False
        self._countdown -= 1
        return self._countdown <= 0

    def torn_length(self, size: int) -> int:
        """How much of a `size`-byte cursor value the torn write leaves: nothing, or a strict prefix."""
        return 0 if self.kind == TORN_EMPTY else self._rng.randint(1, size - 1)


def die(where: str) -> None:
    print(where, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


class AgentLife:
    """The Agent's side of `send_log` and of the persistent cache, with this life's kill planted in it."""

    def __init__(self, root: Path, plan: KillPlan) -> None:
        self.root = root
        self.plan = plan
        self.cache = PersistentCacheDir(root, write_file=self._write_cache_file)
        self.log_file = IntegrationLogFile(integration_log_path(root, CHECK_ID))
        self.sends = 0
        self.cursor_writes = 0
        self._mid_page = False  # the last call was a send_log: a page is being submitted

    def install(self) -> None:
        datadog_agent.send_log = self.send_log
        datadog_agent.read_persistent_cache = self.cache.read
        datadog_agent.write_persistent_cache = self.write_persistent_cache
        # Logs enabled; and where the check looks for its integration log file, to know its size.
        agent_settings(datadog_agent, {'logs_enabled': True, 'logs_config.run_path': str(self.root)})

    def send_log(self, line: str, check_id: str) -> None:
        self.sends += 1
        if self.plan.count((MID_PAGE,)) and self._mid_page:
            die(f'{MID_PAGE}: before send_log #{self.sends} wrote its line')
        self.log_file.append(line)
        self._mid_page = True
        if self.plan.count((AFTER_SEND,)):
            die(f'{AFTER_SEND}: send_log #{self.sends} wrote its line')

    def write_persistent_cache(self, key: str, value: str) -> None:
        intent = json.dumps({'key': key, 'value': value}) + '\n'
        append_bytes(intents_path(self.root), intent.encode())
        self._mid_page = False
        self.cache.write(key, value)

    def _write_cache_file(self, path: Path, data: bytes) -> None:
        self.cursor_writes += 1
        if self.plan.count(TORN_WRITES):
            length = self.plan.torn_length(len(data))
            write_torn(path, data, length)
            die(f'{self.plan.kind}: cursor write #{self.cursor_writes} left {length} of {len(data)} bytes')
        write_file(path, data)
        if self.plan.count((AFTER_WRITE,)):
            die(f'{AFTER_WRITE}: cursor write #{self.cursor_writes} done')


def build_check(instance: dict) -> AcmeCheck:
    """The check as the Agent builds it from its configuration."""
    check = AcmeCheck('acme', {}, [instance])
    check.check_id = CHECK_ID
    return check


def crawl(check: AcmeCheck, life: AgentLife) -> int:
    """Run the check until a run sends nothing: the exit status."""
    while True:
        sends_before = life.sends
        error = check.run()
        if error:
            print(error, file=sys.stderr)
            return 1
        if life.sends == sends_before:
            return 0


def zygote() -> int:
    """Fork a life for each request on stdin (see the module's docstring), one at a time."""
    for request in map(json.loads, sys.stdin):
        sys.stdout.flush()  # nothing of this process's output is left in the buffer the life inherits
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                for fd, path in ((1, request['stdout']), (2, request['stderr'])):
                    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
                code = main(request['args'])
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({'pid': pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({'status': os.waitstatus_to_exitcode(status)}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ['--zygote']:
        return zygote()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', type=Path, required=True, help="the Agent's run_path")
    parser.add_argument('--instance', type=json.loads, required=True, help='the instance configuration, JSON')
    parser.add_argument('--kill', choices=SELF_KILLS + (NO_SELF_KILL,), default=NO_SELF_KILL)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    life = AgentLife(args.root, KillPlan(args.kill, args.seed, page_size=args.instance['page_size']))
    life.install()
    check = build_check(args.instance)
    print(READY, flush=True)
    return crawl(check, life)


if __name__ == '__main__':
    sys.exit(main())
