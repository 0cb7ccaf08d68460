# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""An Agent killed anywhere in a crawl, then started again: nothing is lost, and each kill costs at most one page.

Each life of the Agent is a child process (tests/crash_child.py, forked from one that has done its imports) on the
same files: the persistent cache and the integration log file, written as the Agent writes them
(tests/agent_emulation.py). ACME is the sandbox, in this process, on the real clock. Lives die by SIGKILL: their
own, at a seeded moment (in the middle of a page, right after a log was written, in the middle of a cursor write,
right after one), or this process's, after a seeded delay. A last life crawls to the end.

Then every log must have been sent, and each kill may cost at most the page it interrupted: what a life sends
again are, per stream, the logs right after the last cursor written in full. (A life may send again the pages of
two kills: one left by the life before, on a stream that life never went back to, and one left by that life.)
"""

from __future__ import annotations

import random
import time
from typing import Iterator

import pytest

from .conftest import STREAMS, TOKEN, feed
from .crash_child import NO_SELF_KILL
from .crash_harness import (
    LOGS_PER_STREAM,
    MAX_PARENT_KILL_DELAY,
    PAGE_SIZE,
    SEED,
    AgentRestarts,
    Expected,
    crawl_violations,
    kill_schedule,
    save_lives,
    summary,
)
from .sandbox import AcmeSandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def acme() -> Iterator[tuple[AcmeSandbox, dict[str, list]]]:
    """ACME on the real clock, its logs all final: from 50 to 2 minutes ago, ties included."""
    now = time.time()
    with AcmeSandbox(token=TOKEN, clock=time.time, seed=SEED) as sandbox:  # 10 requests a second: a life takes seconds
        for stream in STREAMS:
            sandbox.add_stream(stream, created_at=now - 7200)
        logs = feed(sandbox, seed='crash', start=now - 50 * 60, end=now - 120, count=LOGS_PER_STREAM, late_rate=0)
        yield sandbox, logs


def test_kills_lose_nothing_and_cost_at_most_a_page_each(acme, tmp_path):
    sandbox, logs = acme
    expected = Expected(logs)
    root, logs_dir = tmp_path / 'agent', tmp_path / 'lives'
    root.mkdir()
    logs_dir.mkdir()
    instance = {
        'url': sandbox.url,
        'api_token': TOKEN,
        'streams': list(STREAMS),
        'page_size': PAGE_SIZE,
        'initial_lookback': 3600,  # the first run starts before every log
    }
    restarts = AgentRestarts(root=root, logs_dir=logs_dir, instance=instance)
    rng = random.Random(SEED)

    try:
        for planned_kill in kill_schedule(rng):
            restarts.live(planned_kill, seed=rng.randrange(2**31), parent_delay=rng.uniform(0, MAX_PARENT_KILL_DELAY))
        restarts.live(NO_SELF_KILL, seed=0)
    finally:
        restarts.close()

    report = summary(restarts, expected)
    violations = crawl_violations(restarts, expected)
    if any(violations.values()):
        details = save_lives(restarts.lives, tmp_path / 'lives.json')
        pytest.fail(f'{violations.render()}\n\n{report}\n\nEvery life in detail: {details}', pytrace=False)
    print(report)  # seen with `-s`
