# (C) Datadog, Inc. 2026-present
# All rights reserved
# Licensed under a 3-clause BSD style license (see LICENSE)
from datetime import datetime, timedelta, timezone
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datadog_checks.acme.timing import AcmeClock, format_rfc3339, parse_rfc3339

from .clock import FakeClock
from .conftest import START

pytestmark = pytest.mark.unit

instants = st.integers(min_value=0, max_value=253402300799 * 10**9)  # up to 9999-12-31T23:59:59.999999999Z
# Leave a day at the top, so that a positive offset cannot push the local date past year 9999.
renderable = st.integers(min_value=0, max_value=253402214399 * 10**9)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)  # minutes


def render(nanos: int, offset_minutes: int, digits: int) -> str:
    """Write an instant the way ACME may: any offset, and as few fractional digits as keep it exact."""
    seconds, fraction = divmod(nanos, 10**9)
    local = datetime(1970, 1, 1) + timedelta(seconds=seconds + offset_minutes * 60)
    text = local.strftime('%Y-%m-%dT%H:%M:%S')
    fraction_text = f'{fraction:09d}'.rstrip('0')
    fraction_text = fraction_text.ljust(max(len(fraction_text), digits), '0')
    if fraction_text:
        text += '.' + fraction_text
    if offset_minutes == 0:
        return text + 'Z'
    sign = '+' if offset_minutes > 0 else '-'
    return text + '{}{:02d}:{:02d}'.format(sign, *divmod(abs(offset_minutes), 60))


@given(renderable, offsets, st.integers(min_value=0, max_value=9))
def test_any_rendering_parses_to_the_same_instant(nanos, offset_minutes, digits):
    assert parse_rfc3339(render(nanos, offset_minutes, digits)) == nanos


@given(instants)
def test_format_round_trips_exactly(nanos):
    assert parse_rfc3339(format_rfc3339(nanos)) == nanos


@given(instants, instants)
def test_formatted_order_is_instant_order(a, b):
    # Cursors store formatted UTC timestamps; ordering them as strings must agree with ordering the instants.
    assert (format_rfc3339(a) < format_rfc3339(b)) == (a < b)


def test_matches_the_standard_library_at_microsecond_precision():
    moment = datetime(2026, 11, 26, 18, 42, 38, 123456, tzinfo=timezone.utc)
    expected = int(moment.timestamp()) * 10**9 + 123456000
    assert parse_rfc3339('2026-11-26T19:42:38.123456+01:00') == expected
    assert parse_rfc3339('2026-11-26T18:42:38.123456Z') == expected
    assert parse_rfc3339('2026-11-26T13:12:38.123456-05:30') == expected


def test_nanoseconds_are_kept():
    assert parse_rfc3339('2026-11-26T18:42:38.000000001Z') - parse_rfc3339('2026-11-26T18:42:38Z') == 1


@pytest.mark.parametrize('text', ['2026-11-26t18:42:38.5z', '2026-11-26T18:42:38.5z', '2026-11-26 19:42:38.5+01:00'])
def test_the_other_spellings_rfc_3339_allows(text):
    assert parse_rfc3339(text) == parse_rfc3339('2026-11-26T18:42:38.5Z')


@pytest.mark.parametrize(
    'text',
    [
        '',
        '2026-11-26',
        '2026-11-26T18:42:38',  # no offset
        '2026-11-26T18:42:38.1234567891Z',  # ten fractional digits
        '2026-02-30T00:00:00Z',  # no such day
        '2026-11-26T24:00:00Z',
        '2026-11-26T18:60:00Z',
        '2026-11-26T18:42:38+0100',
        '2026-11-26T18:42:38Z+01:00',
        '2026-11-26T18:42:38.Z',
        '1764182558',
        None,
        1764182558,
    ],
)
def test_malformed_timestamps_are_refused(text):
    with pytest.raises(ValueError):
        parse_rfc3339(text)


class TestAcmeClock:
    """The estimate from `Date` headers (second precision) is never ahead of ACME, and follows a step at once."""

    def observe(self, acme: AcmeClock, agent: FakeClock, acme_now: float, *, latency: float = 0.05) -> None:
        sent = agent.time()
        acme.observe(formatdate(acme_now, usegmt=True), sent_at=sent, received_at=sent + latency)

    def test_the_offset_is_a_lower_bound_within_a_second(self):
        agent = FakeClock(START)
        acme = AcmeClock(clock=agent)
        for _step in range(16):
            agent.advance(0.37)  # answers at many phases of ACME's second
            self.observe(acme, agent, agent.time() - 42.3)

            assert -42.3 - 1.05 <= acme.offset <= -42.3
            assert abs(acme.skew - -42.3) <= 0.55
            assert acme.earliest_now() <= agent.time() - 42.3

    def test_a_step_of_acmes_clock_is_followed_at_once(self):
        agent = FakeClock(START)
        acme = AcmeClock(clock=agent)
        self.observe(acme, agent, agent.time() + 10)
        self.observe(acme, agent, agent.time() - 120)  # NTP set ACME's clock back

        assert acme.earliest_now() <= agent.time() - 120

    @pytest.mark.parametrize('date', [None, '', 'yesterday', 'Mon, 99 Foo 2026 99:99:99 GMT'])
    def test_answers_without_a_readable_date_teach_nothing(self, date):
        acme = AcmeClock(clock=FakeClock(START))

        assert acme.observe(date, sent_at=START, received_at=START) is None
        assert acme.offset == 0.0 and acme.skew is None


@pytest.mark.parametrize(
    'text, instant',
    [
        ('2016-12-31T23:59:60.5Z', '2017-01-01T00:00:00.500000000Z'),  # a leap second: the next second, as Go has it
        ('2016-12-31T23:59:60Z', '2017-01-01T00:00:00.000000000Z'),
        ('0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000000000Z'),
        ('9999-12-31T23:59:59.999999999Z', '9999-12-31T23:59:59.999999999Z'),
    ],
)
def test_leap_seconds_and_the_ends_of_the_calendar(text, instant):
    assert format_rfc3339(parse_rfc3339(text)) == instant


@pytest.mark.parametrize('text', ['0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-00:01'])
def test_an_instant_outside_years_1_to_9999_is_refused_so_that_every_instant_read_can_be_written(text):
    with pytest.raises(ValueError, match='years 1 to 9999'):
        parse_rfc3339(text)
