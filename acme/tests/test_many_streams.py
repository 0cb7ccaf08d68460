# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""Many streams on one token (issue 11): every stream is crawled within a stated bound, under ACME's rate limits.

The check and the sandbox share the fake clock; runs start every 15 s as the Agent schedules them, and the
sandbox enforces ACME's limits (10 requests a second, 300 a minute) on that clock.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from datadog_checks.acme.directory import LISTING_INTERVAL
from datadog_checks.acme.stream import MAX_PAGE_SIZE
from datadog_checks.acme.timing import parse_rfc3339

from .conftest import START, STREAMS, assert_exactly_once, expected_keys
from .sandbox import AcmeSandbox
from .stream_schedule import (
    INTERVAL,
    MAX_RUN_TIME,
    AgentScheduler,
    Scenario,
    light_traffic,
    listing_passes,
    logs_requests,
    measure,
    requests_per_run,
    staleness,
    stream_names,
    wasted_requests,
)

pytestmark = pytest.mark.integration

# What bounds a round of visits, one request each (see the_staleness_bound): ACME's 300 requests a minute, a quarter
# of them per 15 s run on average.
REQUESTS_PER_RUN = math.floor(300 * INTERVAL / 60)


def the_staleness_bound(streams: int) -> float:
    """The longest any stream may wait between two requests for it, with `streams` streams on one token.

    A stream waits for one round: a request for each other stream (least recently visited first, a page per visit)
    plus the listing pages. The check sends as fast as ACME's rate-limit headers allow, 300 requests a minute: 75 per
    15 s run on average. A round thus needs R = ceil((N + listing pages) / 75) runs, and a stream waits at most R runs
    plus the one it was visited in, 15 s apart. With 200 streams: R = 3, 60 s = 1.5 x the ideal N / 5 s.
    """
    runs = math.ceil((streams + math.ceil(streams / MAX_PAGE_SIZE)) / REQUESTS_PER_RUN)
    return (runs + 1) * INTERVAL


def discovering(instance: dict[str, Any]) -> dict[str, Any]:
    """The instance without `streams`: every stream the token may read is crawled."""
    return {**{key: value for key, value in instance.items() if key != 'streams'}, 'max_run_time': MAX_RUN_TIME}


def add_streams(sandbox: AcmeSandbox, count: int, *, prefix: str = 's') -> list[str]:
    names = stream_names(count, prefix=prefix)
    for name in names:
        sandbox.add_stream(name)
    return names


@pytest.fixture
def agent(crawler, clock) -> AgentScheduler:
    """Runs the crawler's check every 15 s of the fake clock from START, as the Agent does."""
    crawler.interval = 0.0  # the scheduler moves the clock, not the crawler
    return AgentScheduler(crawler.run, clock, interval=INTERVAL, wait=crawler.wait)


def test_no_stream_waits_longer_than_the_bound_with_200_streams(sandbox, instance, crawler, agent):
    # 7 rounds or more, and two listing passes (the second at START + 300); a few logs per stream turning up live
    # (some late) until every stream's last visits have them all final. The bench's scenario, at another size.
    scenario = Scenario(streams=200, minutes=5.5)
    assert scenario.start == START
    streams = [*STREAMS, *add_streams(sandbox, scenario.streams - len(STREAMS))]
    since, until = scenario.traffic
    logs = light_traffic(sandbox, streams, seed='many', start=since, end=until, per_stream=scenario.logs_per_stream)
    sandbox.rate_limits = True
    crawler.start(discovering(instance))

    runs = agent.run_until(scenario.start + scenario.duration)

    records = sandbox.stats.records
    result = measure(records, runs, streams, sent_keys=crawler.sent_keys(), logs=logs, logs_until=until)
    assert the_staleness_bound(200) == 60.0 == 1.5 * result.ideal
    assert result.max_staleness <= the_staleness_bound(200), result
    assert result.never_crawled == 0
    assert result.violations == 0, 'no request while told to wait'
    assert result.failed == 0, 'no 429: the check stays under the limits'
    assert wasted_requests(records) == [], 'every request served logs or moved a cursor to its window end'
    passes = listing_passes(records)
    assert [len(listing) for listing in passes] == [1, 1], 'a one-page pass at the first run and 5 minutes later'
    assert passes[1][0].clock - passes[0][0].clock >= LISTING_INTERVAL
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=since, until=until))


def test_a_quiet_stream_costs_one_request_per_visit(sandbox, instance, crawler, agent):
    streams = [*STREAMS, *add_streams(sandbox, 3)]
    sandbox.rate_limits = True
    crawler.start(discovering(instance))

    runs = agent.run_until(START + 8 * INTERVAL)

    records = sandbox.stats.records
    assert requests_per_run(records, runs) == [1 + len(streams)] + [len(streams)] * 7, 'the listing, at the first run'
    for run in runs:
        visits = Counter(record.stream for record in logs_requests(records) if run.start <= record.clock <= run.end)
        assert visits == dict.fromkeys(streams, 1)
    assert wasted_requests(records) == [], 'each request moves its cursor on to its window end'
    assert not crawler.sent()


@pytest.mark.parametrize(
    'leaves_at, requests_after',
    [
        pytest.param(START + LISTING_INTERVAL, 0, id='gone from the listing'),
        pytest.param(START + 150, 1, id='answers 404'),
    ],
)
def test_a_stream_that_goes_away_stops_being_crawled_and_comes_back_from_its_cursor(
    sandbox, instance, crawler, agent, leaves_at, requests_after
):
    streams = [*STREAMS, *add_streams(sandbox, 1, prefix='flaky-')]
    flaky = streams[-1]
    logs = light_traffic(sandbox, streams, seed='flaky', start=START - 600, end=START + 900, per_stream=60)
    back_at = START + 450  # the pass at START + 600 lists it again
    sandbox.rate_limits = True
    crawler.start(discovering(instance))
    agent.run_until(leaves_at)  # the second listing pass is due at START + 300
    cursor = parse_rfc3339(crawler.cursor(flaky)['timestamp'])
    sandbox.forbid_stream(flaky, status=404)  # 404 to its requests, and gone from the listing

    agent.run_until(back_at)
    sandbox.allow_stream(flaky)
    agent.run_until(START + 1100)

    records = [record for record in sandbox.stats.records if record.stream == flaky]
    absent = [record for record in records if leaves_at <= record.clock < START + LISTING_INTERVAL * 2]
    assert len(absent) == requests_after, 'not asked again until a listing shows it'
    assert all(record.status == 404 for record in absent)
    resumed = [record for record in records if record.clock >= START + LISTING_INTERVAL * 2]
    assert resumed[0].clock < START + LISTING_INTERVAL * 2 + INTERVAL, 'crawled in the run that lists it again'
    assert resumed[0].start_time_ns == cursor, 'from its cursor'
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - 600, until=START + 900))


def test_new_streams_are_crawled_without_starving_the_rest(sandbox, instance, crawler, agent):
    old = [*STREAMS, *add_streams(sandbox, 18)]
    logs = light_traffic(sandbox, old, seed='old', start=START - 600, end=START + 600, per_stream=4)
    sandbox.rate_limits = True
    crawler.start({**discovering(instance), 'page_size': 10})
    agent.run_until(START + 60)
    # 20 more streams, each with a backlog of about 17 pages when the pass at START + 300 finds them: 340 requests,
    # nearly 4 runs' worth if they were read in one go.
    new = add_streams(sandbox, 20, prefix='new-')
    logs |= light_traffic(sandbox, new, seed='new', start=START - 1800, end=START + 600, per_stream=200)

    runs = agent.run_until(START + 720)

    records = sandbox.stats.records
    bound = the_staleness_bound(len(old) + len(new))
    assert bound == 2 * INTERVAL
    waits = staleness(records, old, since=START, until=runs[-1].end)
    assert max(waits.values()) <= bound, 'the old streams keep their cadence while the new ones read their backlog'
    first_visits = [min(r.clock for r in logs_requests(records) if r.stream == stream) for stream in new]
    assert max(first_visits) <= START + LISTING_INTERVAL + bound, 'each new stream within a round of being listed'
    new_waits = staleness(records, new, since=START + LISTING_INTERVAL, until=runs[-1].end)
    assert max(new_waits.values()) <= bound, 'a page per visit, then the others: backlogs take turns'
    assert wasted_requests(records) == []
    assert_exactly_once(crawler.sent_keys(), expected_keys(logs, since=START - 1800, until=START + 600))
