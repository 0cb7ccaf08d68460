# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""ACME's clock counts, not the Agent's: no loss, no refused query and no extra 429 when the two disagree."""

import pytest

from .clock import FakeClock
from .conftest import HOUR, START, assert_exactly_once, expected_keys, feed, metric_total

pytestmark = pytest.mark.integration

SKEWS = [-120, -45, -20, 0, 20, 45, 120]  # seconds ACME's clock is ahead of the Agent's


def final_end(clock: FakeClock, skew: float, interval: float = 15) -> float:
    """What the last run (one interval ago) had to crawl up to: final on both clocks, as ACME's delay is 60 s."""
    return clock.time() - interval + min(0.0, skew) - 60


@pytest.mark.parametrize('skew', SKEWS)
def test_late_logs_are_not_lost_whatever_the_skew(sandbox, instance, crawler, clock, aggregator, skew):
    sandbox.clock_offset = skew
    # ACME's timestamps are on its own clock; logs become readable up to 59 s after them (the contract allows 60).
    logs = feed(
        sandbox, seed=f'skew{skew}', start=START - 5 * 60, end=START + 8 * 60, count=2000, late_rate=0.6, max_late=59
    )

    crawler.start(instance)
    crawler.run(times=50)

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=final_end(clock, skew)))
    assert not [r for r in sandbox.stats.records if r.status >= 400], 'no query refused (start_time in the future)'
    assert abs(metric_total(aggregator, 'acme.clock.skew') / 50 - skew) < 1.5
    warned = any("ACME's clock is" in warning for warning in crawler.warnings())
    assert warned == (abs(skew) > 60)


@pytest.mark.usefixtures('either_rule')
def test_a_clock_step_between_runs_loses_nothing(sandbox, instance, crawler, clock):
    logs = feed(sandbox, seed='step', start=START - 5 * 60, end=START + 8 * 60, count=2000, late_rate=0.6, max_late=59)
    crawler.start(instance)
    crawler.run(times=10)

    sandbox.clock_offset = -120  # the Agent's host clock jumps 2 minutes ahead (or ACME's back)
    crawler.run(times=40)

    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - HOUR, until=final_end(clock, -120)))


@pytest.mark.parametrize('skew', [-120, 120])
def test_rate_limit_resets_are_read_on_acmes_clock(sandbox, instance, crawler, clock, skew):
    sandbox.clock_offset = skew
    logs = feed(sandbox, seed='busy', start=START - HOUR, end=START - 2 * 60, count=3000, late_rate=0)
    crawler.start({**instance, 'page_size': 5, 'max_run_time': 10})

    crawler.run(times=10)

    stats = sandbox.stats
    assert stats.violations == 0
    assert stats.by_status.get(429, 0) == 0, 'X-RateLimit-Reset compared with the wrong clock sends too early'
    assert len(crawler.sent()) > 10 * 60 * 5  # and it did not wait longer than needed either (rough)
    assert set(crawler.sent_keys()) <= set(expected_keys(logs, since=START - HOUR, until=START))
