# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
"""The page loop against arbitrary JSON in every field: it ends, sends every valid log once, passes every other.

Pages are JSON text decoded as the client decodes them, read as the stream reads them, with runs cut short by the
byte budget at random points and resumed from where they stopped.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadog_checks.acme.acme_json import decode_page
from datadog_checks.acme.agent_log_file import ADMIT, STOP
from datadog_checks.acme.cursor import Position
from datadog_checks.acme.log_format import log_shaper
from datadog_checks.acme.page import MALFORMED, UNENCODABLE, PageOutcome, read_page
from datadog_checks.acme.timestamps import format_rfc3339, parse_rfc3339

INSTANTS = [1795690800_000000000 + step * 250_000_000 for step in range(12)]  # ties are likely
END = INSTANTS[-1] + 1

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)  # beyond 64 bits, where orjson rounds
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)
timestamps = st.sampled_from(INSTANTS).map(format_rfc3339)


@st.composite
def pages_of_logs(draw) -> list[Any]:
    """Valid logs in ACME's order, with arbitrary JSON in every optional field, and broken logs anywhere."""
    ids = draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=25, unique=True))
    logs: list[Any] = []
    for log_id in ids:
        log = {'id': log_id, 'timestamp': draw(timestamps), 'message': draw(st.text(max_size=10))}
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
    return sorted(logs, key=acme_order)


def acme_order(log: Any) -> tuple:
    """ACME's order for logs with a position; logs without one may sit anywhere (here: first)."""
    position = position_of(log)
    return (1, *position) if position else (0,)


def position_of(log: Any) -> Position | None:
    if not isinstance(log, dict) or type(log.get('id')) is not str or not log['id']:
        return None
    try:
        return Position(parse_rfc3339(log['timestamp']), log['id'])
    except (KeyError, TypeError, ValueError):
        return None


def is_valid(log: Any) -> bool:
    return position_of(log) is not None and type(log.get('message')) is str


class RunBytes:
    """The Agent's log file as the page loop sees it: a run may take `lines` lines, at least one."""

    def __init__(self, lines: int) -> None:
        self.left = lines

    def admit(self, size: int) -> int:
        self.left -= 1
        return ADMIT if self.left >= 0 else STOP

    def room(self) -> int:
        return 0  # every line asks

    def take(self, size: int) -> None:
        assert size == 0


def crawl(pages: list[list[Any]], *, lines_per_run: int) -> tuple[list[tuple[Position, dict]], PageOutcome]:
    """Read `pages` like a stream, over as many runs as the byte budget takes; return what was sent, in order.

    Where the budget stops a run, the cursor must already be past every log before the first one not sent.
    """
    positions = sorted(position for page in pages for log in page if (position := position_of(log)))
    valid = sorted(position_of(log) for page in pages for log in page if is_valid(log))
    sent: list[tuple[Position, dict]] = []
    outcome = PageOutcome(Position.before(0))
    for _run in range(1000):
        outcome.out_of_bytes = False
        budget = RunBytes(lines_per_run)
        start = outcome.position
        for index, page in enumerate(pages):
            body = json.dumps({'data': page, 'next_page_token': None if index == len(pages) - 1 else 'more'})
            decoded = decode_page(body.encode())['data']
            records = read_page(
                decoded,
                last=index == len(pages) - 1,
                end=END,
                stale_line=0,
                shape=shape,
                log_file=budget,
                outcome=outcome,
            )
            sent.extend((Position(*record.data['acme']['__position']), record.data) for record in records)
            if outcome.out_of_bytes:
                break
        else:
            return sent, outcome
        assert outcome.position > start, 'a run stopped by the byte budget still moved on'
        next_unsent = next(position for position in valid if position > outcome.position)
        passed = [position for position in positions if position < next_unsent]
        assert not passed or passed[-1] <= outcome.position, 'the cursor stopped short of logs it skipped'
    raise AssertionError('the crawl did not end')


SHAPE = log_shaper('acme_stream:fuzz', None)


def shape(raw: dict[str, Any], nanos: int) -> dict[str, Any]:
    log = SHAPE(raw, nanos)
    log['acme']['__position'] = (nanos, raw['id'])  # lets the test tell where each record lies
    return log


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=pages_of_logs(), page_size=st.integers(1, 6), lines_per_run=st.integers(1, 8))
def test_every_valid_log_is_sent_once_and_every_other_is_passed(logs, page_size, lines_per_run):
    original = json.loads(json.dumps(logs))  # the page loop takes logs over; keep what ACME sent
    pages = [logs[start : start + page_size] for start in range(0, len(logs), page_size)] or [[]]

    sent, outcome = crawl(pages, lines_per_run=lines_per_run)

    valid = sorted((position_of(log), log) for log in original if is_valid(log))
    assert [position for position, _ in sent] == [position for position, _ in valid], 'each valid log once, in order'
    for (_, data), (_, log) in zip(sent, valid):
        del data['acme']['__position']
        assert data['acme'] == {key: value for key, value in log.items() if key != 'message'}, 'kept exactly'
        assert data['message'] == log['message']
    assert outcome.position >= Position.before(END), 'the cursor passed every log, skipped ones too'
    skipped = sum(tally.count for reason, tally in outcome.skipped.items() if reason in (MALFORMED, UNENCODABLE))
    assert skipped >= len([log for log in original if not is_valid(log)])


def test_a_log_no_encoder_can_write_is_skipped_named_and_passed():
    logs = [{'id': name, 'timestamp': format_rfc3339(INSTANTS[0]), 'message': name} for name in ('a', 'b', 'c')]
    outcome = PageOutcome(Position.before(0))

    def shape_with_a_set(raw: dict[str, Any], nanos: int) -> dict[str, Any]:
        log = SHAPE(raw, nanos)
        if raw['id'] == 'b':
            log['acme']['set'] = {1, 2}  # not JSON at all
        return log

    records = list(
        read_page(
            logs, last=False, end=END, stale_line=0, shape=shape_with_a_set, log_file=RunBytes(9), outcome=outcome
        )
    )

    assert [record.data['message'] for record in records] == ['a', 'c']
    assert outcome.skipped[UNENCODABLE].count == 1 and outcome.skipped[UNENCODABLE].ids == ["'b'"]
    assert outcome.position == Position(INSTANTS[0], 'c')
