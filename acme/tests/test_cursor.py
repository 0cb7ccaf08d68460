# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datadog_checks.acme.cursor import InvalidCursor, Position

ids = st.text(min_size=1, max_size=12)
positions = st.builds(Position, st.integers(min_value=0, max_value=4 * 10**18), ids)


@given(positions)
def test_cursor_round_trips(position):
    assert Position.from_cursor(position.to_cursor()) == position


@given(positions, positions)
def test_order_is_acme_order(a, b):
    # ACME orders by instant, then by id compared byte by byte (UTF-8).
    acme_key = lambda p: (p.nanos, p.id.encode('utf-8', 'surrogatepass'))  # noqa: E731
    assert (a < b) == (acme_key(a) < acme_key(b))


@given(st.integers(min_value=0, max_value=4 * 10**18), ids)
def test_before_precedes_every_log_at_that_instant(nanos, log_id):
    assert Position.before(nanos) < Position(nanos, log_id)
    assert Position(nanos - 1, log_id) < Position.before(nanos)


@pytest.mark.parametrize(
    'cursor',
    [
        {'timestamp': 1764182558.5},  # an older format: epoch seconds, no id
        {'timestamp': 'yesterday', 'id': 'a'},
        {'timestamp': '2026-11-26T18:42:38Z', 'id': 7},
        {'id': 'a'},
        'garbage',
        [],
    ],
)
def test_unreadable_cursors_are_refused(cursor):
    with pytest.raises(InvalidCursor):
        Position.from_cursor(cursor)
