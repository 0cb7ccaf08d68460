# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The crawler's own telemetry, as declared in metadata.csv."""

import pytest

from datadog_checks.acme.timing import parse_rfc3339
from datadog_checks.dev.utils import get_metadata_metrics

from .conftest import HOUR, START, expected_keys, feed, metric_total, recovery_options
from .sandbox import Faults

pytestmark = pytest.mark.integration


def assert_metrics_match_metadata(aggregator, metadata):
    """Every metric submitted is declared, with its type, and every declared one is submitted.

    `assert_metrics_using_metadata(..., check_symmetric_inclusion=True)` in the stubs of base >= 37.16.0 only.
    """
    aggregator.assert_metrics_using_metadata(metadata, check_submission_type=True)
    assert sorted(set(metadata) - set(aggregator.metric_names)) == [], 'declared in metadata.csv, never submitted'


def test_every_declared_metric_is_emitted_as_declared(
    sandbox, instance, crawler, clock, aggregator, logs_agent, datadog
):
    # Through an Agent's registry (its unshipped bytes), with cursor recovery (looked up a minute after the start).
    crawler.start({**instance, **recovery_options(datadog), 'page_size': 10})
    crawler.run(times=6)  # cursors near START
    # A day-long outage, a malformed log, a flaky proxy, and more pages than 10 requests a second allow.
    feed(sandbox, seed='metrics', start=START, end=START + 24 * HOUR, count=400, late_rate=0)
    sandbox.add_broken_log('audit', at='2026-11-27T11:00:00Z', sort_id='m', body={'id': 'no timestamp'})
    sandbox.faults = Faults(error_rate=0.1)
    clock.advance(24 * HOUR)

    crawler.run(times=3)

    assert_metrics_match_metadata(aggregator, get_metadata_metrics())
    submitted = metric_total(aggregator, 'acme.logs.submitted')
    assert submitted == len(crawler.sent()) > 0
    assert metric_total(aggregator, 'acme.logs.skipped', 'reason:malformed', 'acme_stream:audit') == 1
    assert metric_total(aggregator, 'acme.api.requests', 'status_class:5xx') > 0
    assert metric_total(aggregator, 'acme.api.rate_limit.wait_time') > 0


def test_crawl_lag_is_the_distance_from_now_to_the_cursor(sandbox, instance, crawler, clock, aggregator):
    crawler.start(instance)

    crawler.run()

    for stream in ('prod-web', 'audit'):
        # Caught up: the cursor is the window end, `ingestion_delay` behind now (and the second ACME's clock is in,
        # plus the fraction of a second the check paces its requests by).
        (lag,) = [m.value for m in aggregator.metrics('acme.crawl.lag') if f'acme_stream:{stream}' in m.tags]
        assert parse_rfc3339(crawler.cursor(stream)['timestamp']) == (START - 60) * 1e9
        assert 60.0 <= lag < 61.0


def test_logs_turning_stale_during_a_run_are_counted_not_sent(sandbox, instance, crawler, clock, aggregator):
    crawler.start({**instance, 'page_size': 5, 'max_run_time': 30})
    crawler.run()
    clock.advance(18 * HOUR)
    # Dense logs just inside the intake's limit; paging through them at 10 requests a second takes long
    # enough that the limit overtakes the crawl.
    line = clock.time() - 18 * HOUR + 5 * 60
    logs = feed(sandbox, seed='edge', start=line + 1, end=line + 11, count=300, late_rate=0, tie_rate=0)

    crawler.run()

    line_at_end = clock.time() - 15 - 18 * HOUR + 5 * 60
    assert clock.time() - 15 - line > 18 * HOUR - 5 * 60 + 5, 'the run took seconds of (fake) time'
    stale = metric_total(aggregator, 'acme.logs.skipped', 'reason:stale')
    assert stale > 0
    sent = set(crawler.sent_keys())
    assert all(log['timestamp'] >= line for log in crawler.sent())
    assert set(expected_keys(logs, since=line_at_end, until=clock.time())) <= sent
