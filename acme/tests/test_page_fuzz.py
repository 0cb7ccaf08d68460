# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The crawl against arbitrary JSON in every field, through the base package's `send_log`: it ends, sends every valid
log once and as ACME sent it, and passes every other.

Each example is a stream of the sandbox serving the logs byte for byte, in pages of 1 to 6, crawled run after run by
the real check on the base package's loop. (Runs held back mid-page by the Agent's file: test_delivery.py.)
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.acme.cursors import Position
from datadog_checks.acme.timing import format_rfc3339, parse_rfc3339

from .conftest import START, TOKEN, metric_total

pytestmark = pytest.mark.integration

INSTANTS = [1795690800_000000000 + step * 250_000_000 for step in range(12)]  # an hour before START; ties likely
INT64 = range(-(2**63), 2**64)
EXAMPLES = itertools.count()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)  # beyond 64 bits, which orjson can neither read nor write
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)


@st.composite
def logs_of_a_stream(draw) -> list[Any]:
    """Valid logs with arbitrary JSON in every optional field, and broken logs anywhere."""
    logs: list[Any] = []
    for log_id in draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=25, unique=True)):
        log = {'id': log_id, 'timestamp': format_rfc3339(draw(st.sampled_from(INSTANTS))), 'message': draw(st.text())}
        for field in draw(st.sets(st.sampled_from(['severity', 'service', 'host', 'attributes', 'stream', 'new']))):
            log[field] = draw(json_values)
        broken = draw(st.sampled_from([None, None, None, 'id', 'timestamp', 'message', 'missing', 'whole']))
        if broken == 'missing':
            del log[draw(st.sampled_from(['id', 'timestamp', 'message']))]
        elif broken == 'whole':
            log = draw(json_values.filter(lambda value: not isinstance(value, dict)))
        elif broken:
            log[broken] = draw(json_values.filter(lambda value: not isinstance(value, str)))
        logs.append(log)
    return logs


def position_of(log: Any) -> Position | None:
    if not isinstance(log, dict) or type(log.get('id')) is not str or not log['id']:
        return None
    try:
        return Position(parse_rfc3339(log['timestamp']), log['id'])
    except (KeyError, TypeError, ValueError):
        return None


def is_valid(log: Any) -> bool:
    return position_of(log) is not None and type(log.get('message')) is str


def as_orjson_writes(value: Any, path: str = '') -> tuple[Any, list[str]]:
    """`value` with what orjson cannot write (integers beyond 64 bits) as text, and the paths of those."""
    if isinstance(value, dict):
        pairs = [(key, as_orjson_writes(item, f'{path}.{key}' if path else key)) for key, item in value.items()]
        return {key: kept for key, (kept, _) in pairs}, [p for _, (_, paths) in pairs for p in paths]
    if isinstance(value, list):
        items = [as_orjson_writes(item, f'{path}.{index}') for index, item in enumerate(value)]
        return [kept for kept, _ in items], [p for _, paths in items for p in paths]
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        return str(value), [path]
    return value, []


# 60 examples (about 3 s) in each of ./dev test's four envs: 240 new ones a run.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(logs=logs_of_a_stream(), page_size=st.integers(1, 6), data=st.data())
def test_every_valid_log_is_sent_once_as_acme_sent_it_and_every_other_is_passed(
    sandbox, make_check, dd_run_check, datadog_agent, sent_logs, aggregator, clock, logs, page_size, data
):
    stream = f'fuzz-{next(EXAMPLES)}'  # one stream per example, in the sandbox all examples share
    sandbox.add_stream(stream, created_at=START - 86400)
    sandbox.rate_limits = False
    clock.advance(START - clock.time())  # each example from START (the fixtures are made once for all)
    for index, log in enumerate(logs):
        position = position_of(log) or Position(data.draw(st.sampled_from(INSTANTS)), f'broken-{index}')
        sandbox.add_raw_log(
            stream, at=format_rfc3339(position.nanos), sort_id=position.id, raw=json.dumps(log).encode()
        )
    datadog_agent.reset()  # the conftest's Agent settings (logs enabled) stay
    aggregator.reset()
    instance = {'url': sandbox.url, 'api_token': TOKEN, 'streams': [stream], 'initial_lookback': 7200}
    check = make_check({**instance, 'page_size': page_size})

    for _run in range(3):
        dd_run_check(check)
        clock.advance(15)

    sent = sent_logs[check.check_id]
    valid = sorted((position_of(log), log) for log in logs if is_valid(log))
    assert [Position(parse_rfc3339(log['acme']['timestamp']), log['acme']['id']) for log in sent] == [
        position for position, _ in valid
    ], 'each valid log once, in order'
    for log, (_, original) in zip(sent, valid):
        expected, as_text = as_orjson_writes({key: value for key, value in original.items() if key != 'message'})
        assert log['acme'] == expected, 'kept exactly, what orjson cannot write as its text'
        assert log.get('acme_crawler', {}).get('as_text', []) == sorted(as_text)
        assert log['message'] == original['message']
    (name,) = [crawled.name for crawled in check.directory.streams.values()]
    assert Position.from_cursor(check.get_log_cursor(name)) > Position(INSTANTS[-1], '\U0010ffff'), 'passed them all'
    # A broken log has no place to put a cursor after: re-read, it is counted again.
    assert metric_total(aggregator, 'acme.logs.skipped') >= len([log for log in logs if not is_valid(log)])
    assert not check.get_warnings() or all(warning.startswith('Skipped ') for warning in check.get_warnings())
