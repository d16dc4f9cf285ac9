# -*- coding: utf-8 -*-
"""Property tests of traccron.cron with hypothesis.

Expressions are generated together with an independent description of
what they mean (sets of values and day predicates written from the
definitions), so each fire instant can be checked field by field, and in
UTC the exact list of fire instants can be enumerated by brute force.
"""

import calendar
from datetime import date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings, strategies as st

from support import DAYS, MONTHS, UTC, next_fires
from traccron.cron import CronExpression

ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Australia/Lord_Howe',
         'America/Santiago', 'Pacific/Chatham']

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


# -- what an expression means, written from the definitions -----------------

def sequence(start, end, lo, hi):
    """start..end, wrapping round after hi."""
    if start <= end:
        return list(range(start, end + 1))
    return list(range(start, hi + 1)) + list(range(lo, end + 1))


@st.composite
def plain_item(draw, lo, hi, names=None, wrap=True, steps=True):
    """(text, values) of one list item of a plain field."""
    value = st.integers(lo, hi)
    kind = draw(st.sampled_from(
        ['value', 'range', 'start-step', 'star-step', 'range-step'] if steps
        else ['value', 'range']))
    span = hi - lo + 1

    def show(v):
        if names and draw(st.booleans()):
            return names(v)
        return str(v)
    if kind == 'value':
        v = draw(value)
        return show(v), [v]
    if kind == 'star-step':
        step = draw(st.integers(1, span))
        return '*/%d' % step, list(range(lo, hi + 1))[::step]
    if kind == 'start-step':
        v = draw(value)
        step = draw(st.integers(1, span))
        return '%s/%d' % (show(v), step), list(range(v, hi + 1))[::step]
    a, b = draw(value), draw(value)
    if not wrap and a > b:
        a, b = b, a
    values = sequence(a, b, lo, hi)
    if kind == 'range':
        return '%s-%s' % (show(a), show(b)), values
    step = draw(st.integers(1, span))
    return '%s-%s/%d' % (show(a), show(b), step), values[::step]


@st.composite
def plain_field(draw, lo, hi, names=None, wrap=True, star=True,
                steps=True):
    """(text, set of values) of a plain field."""
    if star and draw(st.integers(0, 3)) == 0:
        return '*', set(range(lo, hi + 1))
    items = draw(st.lists(plain_item(lo, hi, names, wrap, steps),
                          min_size=1, max_size=3))
    return (','.join(text for text, _ in items),
            set(v for _, values in items for v in values))


def last_day(day):
    return calendar.monthrange(day.year, day.month)[1]


def nearest_weekday(year, month, target):
    """The weekday of the month closest to day `target` (None: no day)."""
    ndays = calendar.monthrange(year, month)[1]
    if target > ndays:
        return None
    weekdays = [d for d in range(1, ndays + 1)
                if date(year, month, d).weekday() < 5]
    return min(weekdays, key=lambda d: abs(d - target))


@st.composite
def month_day_item(draw):
    """(text, predicate on a date) of a day-of-month item."""
    kind = draw(st.sampled_from(['plain', 'plain', 'L', 'L-n', 'LW', 'nW']))
    if kind == 'plain':
        text, values = draw(plain_item(1, 31))
        return text, lambda day, values=set(values): day.day in values
    if kind == 'L':
        return 'L', lambda day: day.day == last_day(day)
    if kind == 'L-n':
        n = draw(st.integers(0, 30))
        return 'L-%d' % n, lambda day: day.day == last_day(day) - n
    if kind == 'LW':
        def is_last_weekday(day):
            later = [d for d in range(day.day + 1, last_day(day) + 1)
                     if date(day.year, day.month, d).weekday() < 5]
            return day.weekday() < 5 and not later
        return 'LW', is_last_weekday
    n = draw(st.integers(1, 31))
    return '%dW' % n, lambda day: \
        day.day == nearest_weekday(day.year, day.month, n)


@st.composite
def week_day_item(draw, quartz):
    """(text, predicate on a date) of a day-of-week item."""
    lo, hi = (1, 7) if quartz else (0, 7)

    def weekday(value):     # Python weekday, Monday = 0
        return (value + 5) % 7 if quartz else (value + 6) % 7

    def name(value):
        if quartz:
            return DAYS[value - 1]
        return DAYS[value] if value < 7 else str(value)    # SUN is 0
    kind = draw(st.sampled_from(['plain', 'plain', 'nL', 'n#k']))
    if kind == 'plain':
        text, values = draw(plain_item(lo, hi, name, wrap=quartz))
        weekdays = set(weekday(v) for v in values)
        return text, lambda day: day.weekday() in weekdays
    value = draw(st.integers(lo, hi))
    shown = name(value) if draw(st.booleans()) else str(value)
    if kind == 'nL':
        return shown + 'L', lambda day: (
            day.weekday() == weekday(value) and day.day + 7 > last_day(day))
    nth = draw(st.integers(1, 5))
    return '%s#%d' % (shown, nth), lambda day: (
        day.weekday() == weekday(value) and (day.day - 1) // 7 + 1 == nth)


@st.composite
def day_field(draw, item):
    items = draw(st.lists(item, min_size=1, max_size=2))
    predicates = [predicate for _, predicate in items]
    return (','.join(text for text, _ in items),
            lambda day: any(p(day) for p in predicates))


def always(day):
    return True


class Meaning(object):
    """An expression's text with the allowed values of each field."""

    def __init__(self, text, seconds, minutes, hours, months, years,
                 day_ok, wall_clock):
        self.text = text
        self.seconds = sorted(seconds)
        self.minutes = sorted(minutes)
        self.hours = sorted(hours)
        self.months = months
        self.years = years
        self.day_ok = day_ok
        self.wall_clock = wall_clock

    def date_ok(self, day):
        return (day.month in self.months and
                (self.years is None or day.year in self.years) and
                self.day_ok(day))

    def matches(self, wall):
        return (self.date_ok(wall.date()) and wall.hour in self.hours and
                wall.minute in self.minutes and wall.second in self.seconds)

    def wall_times(self, first_day, days):
        """Every matching wall time of `days` days from `first_day`."""
        for i in range(days):
            day = first_day + timedelta(days=i)
            if not self.date_ok(day):
                continue
            for hour in self.hours:
                for minute in self.minutes:
                    for second in self.seconds:
                        yield datetime(day.year, day.month, day.day, hour,
                                       minute, second)

    def __repr__(self):
        return 'Meaning(%r)' % self.text


@st.composite
def quartz_expressions(draw):
    if draw(st.integers(0, 2)) == 0:
        second_text, seconds = draw(st.sampled_from(['*', '?'])), {0}
    else:
        second_text, seconds = draw(plain_field(0, 59, star=False))
    minute_text, minutes = draw(plain_field(0, 59))
    hour_text, hours = draw(plain_field(0, 23))
    month_text, months = draw(plain_field(
        1, 12, lambda v: MONTHS[v - 1].lower()))
    which = draw(st.sampled_from(['dom', 'dow', 'none']))
    if which == 'dom':
        dom_text, day_ok = draw(day_field(month_day_item()))
        dow_text = draw(st.sampled_from(['?', '*']))
    elif which == 'dow':
        dow_text, day_ok = draw(day_field(week_day_item(quartz=True)))
        dom_text = draw(st.sampled_from(['?', '*']))
    else:
        dom_text, dow_text = draw(st.sampled_from([('*', '?'), ('?', '*'),
                                                   ('*', '*')]))
        day_ok = always
    fields = [second_text, minute_text, hour_text, dom_text, month_text,
              dow_text]
    years = None
    if draw(st.booleans()):
        # Only a part of the year range, so no steps: they would count
        # from 1970 or go on to 2199.
        year_text, years = draw(plain_field(2020, 2035, wrap=False,
                                            steps=False))
        fields.append(year_text)
        if year_text == '*':
            years = None
    wall_clock = not (minute_text.startswith('*') or
                      hour_text.startswith('*'))
    return Meaning(' '.join(fields), seconds, minutes, hours, months, years,
                   day_ok, wall_clock)


@st.composite
def unix_expressions(draw, specials=True):
    minute_text, minutes = draw(plain_field(0, 59))
    hour_text, hours = draw(plain_field(0, 23))
    month_text, months = draw(plain_field(1, 12, lambda v: MONTHS[v - 1]))
    if specials:
        dom_item, dow_item = month_day_item(), week_day_item(quartz=False)
    else:
        dom_item = plain_item(1, 31).map(
            lambda tv: (tv[0], lambda day, s=set(tv[1]): day.day in s))
        dow_item = plain_item(0, 7, wrap=False).map(
            lambda tv: (tv[0], lambda day, s=set(v % 7 for v in tv[1]):
                        (day.weekday() + 1) % 7 in s))
    dom_text, dom_ok = draw(st.one_of(st.just(('*', always)),
                                      day_field(dom_item)))
    dow_text, dow_ok = draw(st.one_of(st.just(('*', always)),
                                      day_field(dow_item)))
    if dom_text.startswith('*') or dow_text.startswith('*'):
        def day_ok(day):
            return dom_ok(day) and dow_ok(day)
    else:
        def day_ok(day):
            return dom_ok(day) or dow_ok(day)
    wall_clock = not (minute_text.startswith('*') or
                      hour_text.startswith('*'))
    return Meaning(' '.join([minute_text, hour_text, dom_text, month_text,
                             dow_text]),
                   {0}, minutes, hours, months, None, day_ok, wall_clock)


expressions = st.one_of(quartz_expressions(), unix_expressions())
starts = st.datetimes(min_value=datetime(2020, 1, 1),
                      max_value=datetime(2034, 12, 31),
                      timezones=st.just(UTC))


# -- properties --------------------------------------------------------------

WINDOW_DAYS = 400


@PROPERTY_SETTINGS
@given(meaning=expressions, start=starts)
def test_in_utc_fire_instants_are_exactly_the_matching_times(meaning, start):
    expr = CronExpression(meaning.text, UTC)
    expected = [wall.replace(tzinfo=UTC) for wall in islice(
        (w for w in meaning.wall_times(start.date(), WINDOW_DAYS)
         if w.replace(tzinfo=UTC) > start), 25)]
    got = next_fires(expr, start, len(expected) + 1)
    assert got[:len(expected)] == expected
    end = datetime.combine(start.date() + timedelta(days=WINDOW_DAYS),
                           datetime.min.time(), UTC)
    if len(expected) < 25 and len(got) > len(expected):
        # Nothing else in the window.
        assert got[len(expected)] >= end


@PROPERTY_SETTINGS
@given(meaning=expressions, start=starts, zone=st.sampled_from(ZONES))
def test_fire_instants_increase_and_match_field_by_field(meaning, start,
                                                         zone):
    check_increasing_and_matching(meaning, start, ZoneInfo(zone))


def check_increasing_and_matching(meaning, start, tz):
    expr = CronExpression(meaning.text, tz)
    previous = start
    for instant in next_fires(expr, start, 25):
        assert instant.astimezone(UTC) > previous.astimezone(UTC)
        assert instant.tzinfo is tz
        wall = instant.replace(tzinfo=None, fold=0)
        if not meaning.matches(wall):
            # Only allowed: a wall-clock time that fell in a gap fires when
            # the gap ends.
            assert meaning.wall_clock
            assert is_end_of_gap(instant)
        previous = instant


def is_end_of_gap(instant):
    before = (instant - timedelta(seconds=1)).astimezone(instant.tzinfo)
    return before.utcoffset() < instant.utcoffset()


@st.composite
def starts_near_a_transition(draw):
    zone = draw(st.sampled_from(ZONES[1:]))
    tz = ZoneInfo(zone)
    year = draw(st.integers(2022, 2030))
    month = draw(st.sampled_from([3, 4, 9, 10, 11]))
    instant = datetime(year, month, 1, tzinfo=UTC)
    offset = instant.astimezone(tz).utcoffset()
    for _ in range(31 * 24):
        instant += timedelta(hours=1)
        if instant.astimezone(tz).utcoffset() != offset:
            break
    minutes = draw(st.integers(-6 * 60, 3 * 60))
    return tz, instant + timedelta(minutes=minutes, seconds=draw(
        st.integers(0, 59)))


@PROPERTY_SETTINGS
@given(meaning=expressions, where=starts_near_a_transition())
def test_near_transitions_fire_instants_increase_and_match(meaning, where):
    tz, start = where
    check_increasing_and_matching(meaning, start.astimezone(tz), tz)


@PROPERTY_SETTINGS
@given(meaning=expressions, where=starts_near_a_transition())
def test_real_clock_fires_at_every_matching_instant(meaning, where):
    """Walk real time minute by minute: no matching instant is missed."""
    tz, start = where
    expr = CronExpression(meaning.text, tz)
    if expr.is_wall_clock:
        return
    end = start + timedelta(hours=8)
    limit = 300
    expected = []
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        wall = minute.astimezone(tz).replace(tzinfo=None, fold=0)
        for second in meaning.seconds:
            instant = minute + timedelta(seconds=second)
            if instant > start and instant < end and \
                    meaning.matches(wall.replace(second=second)):
                expected.append(instant)
        minute += timedelta(minutes=1)
    if len(expected) > limit:
        expected = expected[:limit]
        end = expected[-1] + timedelta(seconds=1)
    got = [t.astimezone(UTC)
           for t in next_fires(expr, start, len(expected) + 1)]
    assert got[:len(expected)] == expected
    if len(got) > len(expected):
        assert got[len(expected)] >= end
