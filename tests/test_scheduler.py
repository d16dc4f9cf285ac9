# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The hourly, daily, weekly and monthly scheduler types: a simulated
year of firing through the ticker, checked against instants computed here
independently; padding; invalid values; parsing in linear time."""

import itertools
import os
import re
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from traccron.core import Core
from traccron.scheduler import (DailyScheduler, HourlyScheduler,
                                MonthlyScheduler, WeeklyScheduler, _number,
                                clear_cache)

from support import FakeClock, StubTask, fire_times, make_stub, run_ticker

UTC = timezone.utc
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YEAR = 2026  # Europe/Paris: summer time from 29 March, winter from 25 Oct


class YearTask(StubTask):
    """Counts nothing: the history rows are the record."""

    task_id = 'year_task'

    def wake_up(self, *args):
        pass


# Independent oracles -------------------------------------------------------

def wall_clock_fire(tz, day, hour, minute):
    """The instant a wall-clock schedule fires on `day`: the wall time if
    it exists (its first occurrence when it occurs twice); inside a gap,
    the first real instant after the gap (found by walking minutes)."""
    wall = datetime.combine(day, time(hour, minute))
    candidates = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall:
            candidates.append(instant)
    if candidates:
        return min(candidates)
    instant = wall.replace(tzinfo=UTC) - timedelta(hours=30)
    while instant.astimezone(tz).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant


def days_of(year):
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def expected_hourly(tz, minute, start, end):
    """Real-clock rule: every real instant whose local minute matches."""
    instant = start.replace(second=0, microsecond=0)
    found = []
    while instant < end:
        instant += timedelta(minutes=1)
        if instant.astimezone(tz).minute == minute and start < instant:
            found.append(instant)
    return found


def expected_wall(tz, start, end, match, hour, minute):
    return [f for f in (wall_clock_fire(tz, d, hour, minute)
                        for d in days_of(YEAR) if match(d))
            if start < f <= end]


def simulate(tz_name, key, value):
    tz = ZoneInfo(tz_name)
    start = datetime(YEAR, 1, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(YEAR + 1, 1, 1, tzinfo=tz).astimezone(UTC)
    env = make_stub(enable=[YearTask], config={
        'timezone': tz_name, 'ticker_interval': '100000',
        'year_task.' + key: value})
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, end.timestamp() + 1)
    return tz, start, end, fire_times(env, 'year_task', 'success')


@pytest.mark.parametrize('tz_name', ['Europe/Paris', 'UTC'])
def test_hourly_fires_every_real_hour_for_a_year(tz_name):
    tz, start, end, fired = simulate(tz_name, 'hourly', '30')
    assert fired == expected_hourly(tz, 30, start, end)
    # Real-clock rule: the repeated hour of the autumn night fires twice.
    if tz_name == 'Europe/Paris':
        night = [f for f in fired if f.astimezone(tz).date() ==
                 date(YEAR, 10, 25)]
        assert [f.astimezone(tz).strftime('%H:%M%z') for f in night][:4] \
            == ['00:30+0200', '01:30+0200', '02:30+0200', '02:30+0100']


@pytest.mark.parametrize('tz_name', ['Europe/Paris', 'UTC'])
def test_daily_fires_once_a_day_at_wall_time_for_a_year(tz_name):
    tz, start, end, fired = simulate(tz_name, 'daily', '02h30, 21h19')
    expected = sorted(expected_wall(tz, start, end, lambda d: True, 2, 30) +
                      expected_wall(tz, start, end, lambda d: True, 21, 19))
    assert fired == expected
    assert len(fired) == 2 * 365
    if tz_name == 'Europe/Paris':
        # Spring forward: 02:30 does not exist and fires at 03:00 once.
        spring = [f.astimezone(tz) for f in fired
                  if f.astimezone(tz).date() == date(YEAR, 3, 29)]
        assert [f.strftime('%H:%M%z') for f in spring] == \
            ['03:00+0200', '21:19+0200']
        # Fall back: 02:30 occurs twice and fires at the first one only.
        autumn = [f.astimezone(tz) for f in fired
                  if f.astimezone(tz).date() == date(YEAR, 10, 25)]
        assert [f.strftime('%H:%M%z') for f in autumn] == \
            ['02:30+0200', '21:19+0100']


@pytest.mark.parametrize('tz_name', ['Europe/Paris', 'UTC'])
def test_weekly_fires_on_the_day_counted_from_monday(tz_name):
    # 6 = Sunday: both daylight-saving changes of 2026 fall on a Sunday.
    tz, start, end, fired = simulate(tz_name, 'weekly', '6@02h30, 0@08h05')
    expected = sorted(
        expected_wall(tz, start, end, lambda d: d.weekday() == 6, 2, 30) +
        expected_wall(tz, start, end, lambda d: d.weekday() == 0, 8, 5))
    assert fired == expected
    assert len(fired) == 52 + 52
    assert all(f.astimezone(tz).weekday() in (6, 0) for f in fired)


@pytest.mark.parametrize('tz_name', ['Europe/Paris', 'UTC'])
def test_monthly_fires_on_the_day_and_skips_short_months(tz_name):
    tz, start, end, fired = simulate(tz_name, 'monthly',
                                     '29@02h30, 25@02h30, 31@23h59')
    expected = sorted(
        expected_wall(tz, start, end, lambda d: d.day == 29, 2, 30) +
        expected_wall(tz, start, end, lambda d: d.day == 25, 2, 30) +
        expected_wall(tz, start, end, lambda d: d.day == 31, 23, 59))
    assert fired == expected
    # February 2026 has no 29th; seven months have a 31st.
    assert len(fired) == 11 + 12 + 7


@pytest.mark.parametrize('cls,padded,plain', [
    (HourlyScheduler, '05', '5'),
    (HourlyScheduler, '00', '0'),
    (DailyScheduler, '08h05', '8h5'),
    (DailyScheduler, '08:05', '8:5'),
    (DailyScheduler, '00h00', '0h0'),
    (WeeklyScheduler, '04@08h05', '4@8h5'),
    (MonthlyScheduler, '05@07h09', '5@7h9'),
])
def test_zero_padded_and_plain_values_fire_at_the_same_instants(cls, padded,
                                                               plain):
    env = make_stub()
    stype = cls(env)
    tz = ZoneInfo('Europe/Paris')
    a = b = datetime(YEAR, 3, 1, tzinfo=tz)
    for _ in range(60):
        a = stype.next_trigger_time('t', padded, a)
        b = stype.next_trigger_time('t', plain, b)
        assert a == b


def test_daily_accepts_both_separators_and_is_not_a_string_compare():
    env = make_stub()
    stype = DailyScheduler(env)
    after = datetime(YEAR, 6, 1, 12, tzinfo=UTC)
    assert stype.next_trigger_time('t', '21h19', after) == \
        stype.next_trigger_time('t', '21:19', after) == \
        datetime(YEAR, 6, 1, 21, 19, tzinfo=UTC)
    # 9h5 is 09:05, not "9h5" compared as text with "09h05".
    assert stype.next_trigger_time('t', '9h5', after) == \
        datetime(YEAR, 6, 2, 9, 5, tzinfo=UTC)


INVALID = [
    ('hourly', '60', 'minute 60 is out of range 0-59'),
    ('hourly', '-1', "minute '-1' is not a number"),
    ('hourly', '5abc', "minute '5abc' is not a number"),
    ('hourly', 'abc', "minute 'abc' is not a number"),
    ('hourly', '17,', 'empty value'),
    ('daily', '24h00', 'hour 24 is out of range 0-23'),
    ('daily', '21h60', 'minute 60 is out of range 0-59'),
    ('daily', '21h', "minute '' is not a number"),
    ('daily', 'h19', "hour '' is not a number"),
    ('daily', '2119', 'is not a time'),
    ('daily', 'noon', 'is not a time'),
    ('weekly', '7@21h28', 'day of week 7 is out of range 0-6'),
    ('weekly', '@21h28', "day of week '' is not a number"),
    ('weekly', '4@', 'is not a time'),
    ('weekly', '4-21h28', 'has no day'),
    ('monthly', '0@21h15', 'day of month 0 is out of range 1-31'),
    ('monthly', '32@21h15', 'day of month 32 is out of range 1-31'),
    ('monthly', '15@25h15', 'hour 25 is out of range 0-23'),
]


@pytest.mark.parametrize('type_id,value,reason', INVALID)
def test_invalid_value_warns_with_key_and_others_keep_running(type_id, value,
                                                             reason):
    env = make_stub(enable=[YearTask], config={
        'timezone': 'UTC', 'ticker_interval': '100000',
        'year_task.' + type_id: value,
        # A good schedule of another type keeps firing.
        'year_task.%s' % ('daily' if type_id != 'daily' else 'hourly'):
            '12h00' if type_id != 'daily' else '0',
    })
    start = datetime(YEAR, 5, 1, tzinfo=UTC)
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, (start + timedelta(days=1)).timestamp())
    warnings = [m for level, m in env.log_messages if level == 'WARNING']
    key = 'year_task.' + type_id
    assert any(key in m and reason in m for m in warnings), warnings
    assert fire_times(env, 'year_task', 'success'), \
        'the valid schedule stopped firing'
    problems = Core(env).check()
    assert [p.key for p in problems] == [key]


def test_empty_item_in_a_list_is_reported_and_the_rest_fires():
    env = make_stub(enable=[YearTask], config={
        'timezone': 'UTC', 'ticker_interval': '100000',
        'year_task.daily': '10h00, , 11h00'})
    start = datetime(YEAR, 5, 1, tzinfo=UTC)
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, (start + timedelta(hours=12)).timestamp())
    assert [f.hour for f in fire_times(env, 'year_task')] == [10, 11]
    assert any('year_task.daily' in m and 'empty value' in m
               for level, m in env.log_messages if level == 'WARNING')


def test_old_api_is_trigger_time_reads_the_values_of_the_task():
    env = make_stub(enable=[YearTask], config={
        'year_task.daily': '21h19, 21h20', 'year_task.weekly': '4@21h28',
        'year_task.monthly': '15@08h05', 'year_task.hourly': '07'})
    task = YearTask(env)

    def at(*args):
        return datetime(*args).timetuple()

    assert DailyScheduler(env).isTriggerTime(task, at(YEAR, 1, 5, 21, 19))
    assert DailyScheduler(env).isTriggerTime(task, at(YEAR, 1, 5, 21, 20))
    assert not DailyScheduler(env).isTriggerTime(task, at(YEAR, 1, 5, 21, 21))
    # 2026-01-09 is a Friday (4 counted from Monday = 0).
    assert WeeklyScheduler(env).isTriggerTime(task, at(YEAR, 1, 9, 21, 28))
    assert not WeeklyScheduler(env).isTriggerTime(task,
                                                  at(YEAR, 1, 8, 21, 28))
    assert MonthlyScheduler(env).isTriggerTime(task, at(YEAR, 2, 15, 8, 5))
    assert HourlyScheduler(env).isTriggerTime(task, at(YEAR, 2, 15, 3, 7))
    assert not HourlyScheduler(env).isTriggerTime(task, at(YEAR, 2, 15, 3, 8))


def test_old_api_is_trigger_time_agrees_with_the_ticker_across_dst():
    # Paris, 2027-03-28: 02:00 -> 03:00; 2027-10-31: 03:00 -> 02:00.
    env = make_stub(enable=[YearTask], config={
        'timezone': 'Europe/Paris', 'year_task.daily': '02h30',
        'year_task.hourly': '30'})
    task = YearTask(env)

    def at(*args):
        return datetime(*args).timetuple()

    daily, hourly = DailyScheduler(env), HourlyScheduler(env)
    # The skipped 02:30 fires at 03:00, as the ticker runs it.
    assert not daily.isTriggerTime(task, at(2027, 3, 28, 2, 30))
    assert daily.isTriggerTime(task, at(2027, 3, 28, 3, 0))
    assert not daily.isTriggerTime(task, at(2027, 3, 28, 3, 1))
    assert daily.isTriggerTime(task, at(2027, 3, 29, 2, 30))
    # The repeated hour: 02:30 is a time of the day.
    assert daily.isTriggerTime(task, at(2027, 10, 31, 2, 30))
    assert hourly.isTriggerTime(task, at(2027, 10, 31, 2, 30))
    assert hourly.isTriggerTime(task, at(2027, 3, 28, 1, 30))
    assert hourly.isTriggerTime(task, at(2027, 3, 28, 3, 30))


# Only the digits 0-9 -------------------------------------------------------

@pytest.mark.parametrize('cls,value,what', [
    (HourlyScheduler, '²', 'minute'),
    (HourlyScheduler, '٣', 'minute'),
    (DailyScheduler, '٢١h19', 'hour'),
    (DailyScheduler, '21h１9', 'minute'),
    (WeeklyScheduler, '٤@21h28', 'day of week'),
    (MonthlyScheduler, '15@2¹h15', 'hour'),
])
def test_only_the_digits_0_to_9_make_a_number(cls, value, what):
    """`str.isdigit` and `int` take these; a schedule does not."""
    with pytest.raises(ValueError) as info:
        cls.parse(value)
    assert str(info.value).startswith(what + ' ')
    assert 'is not a number' in str(info.value)


# Parsing in linear time ----------------------------------------------------

# The expressions that the parser of the daily, weekly and monthly values
# replaced: they backtrack, in time quadratic in the length of a value.
OLD_TIME = re.compile(r'^\s*(\S*?)\s*[hH:]\s*(\S*?)\s*$')
OLD_DAY_AT = re.compile(r'^\s*(\S*?)\s*@\s*(.*?)\s*$')


def old_parse(cls, value):
    """The fields of `value` as the regular expressions split it, or the
    error, with the number rules of today."""
    def time_of(text):
        match = OLD_TIME.match(text)
        if not match:
            raise ValueError('%r is not a time (expected %s)'
                             % (text, cls.form))
        return (_number(match.group(1), 'hour', 0, 23, cls.form),
                _number(match.group(2), 'minute', 0, 59, cls.form))
    if cls is DailyScheduler:
        return time_of(value)
    what, low, high = (('day of week', 0, 6) if cls is WeeklyScheduler
                       else ('day of month', 1, 31))
    match = OLD_DAY_AT.match(value)
    if not match:
        raise ValueError('%r has no day (expected %s)' % (value, cls.form))
    return (_number(match.group(1), what, low, high, cls.form),) + \
        time_of(match.group(2))


def outcome(parse, *args):
    try:
        return parse(*args)
    except ValueError as e:
        return str(e)


def test_values_are_split_as_the_old_regular_expressions_split_them():
    """Every value of up to 5 characters from digits, separators, blanks
    of several kinds and a line break: the same fields or the same
    error."""
    alphabet = '1h:@ \t\n\xa0\x1c\u2028x'
    differences = []
    for length in range(6):
        for chars in itertools.product(alphabet, repeat=length):
            value = ''.join(chars)
            for cls in (DailyScheduler, WeeklyScheduler, MonthlyScheduler):
                expected = outcome(old_parse, cls, value)
                if outcome(cls.parse, value) != expected:
                    differences.append((cls.type_id, value))
    assert differences == []


LONG = 200000


@pytest.mark.timeout(10)
@pytest.mark.parametrize('type_id,value,reason', [
    ('daily', 'h' * LONG + ' x', "hour 'hhh"),
    ('daily', '1h' + 'h' * LONG + ' x', "hour '1hh"),
    ('weekly', '@' * LONG + '\nx', "day of week '@@@"),
    ('weekly', '4@' + 'h' * LONG + ' x', "hour 'hhh"),
    ('monthly', '1@' + ' ' * LONG + '@' * LONG + '\nx', 'has no day'),
    ('weekly', '4@21' + ' ' * LONG + 'h' + '\t' * LONG + '28', None),
    ('monthly', '15\n@ 21' + ' ' * LONG + ':' + ' ' * LONG + '15', None),
])
def test_a_long_value_is_parsed_in_linear_time(type_id, value, reason):
    """Quadratic time took seconds for 16,000 characters: minutes here."""
    env = make_stub(enable=[YearTask], config={'timezone': 'UTC'})
    problems = Core(env).check_schedule_value('year_task', type_id, value)
    if reason is None:
        assert problems == []
    else:
        [problem] = problems
        assert problem.key == 'year_task.' + type_id
        assert reason in problem.message


def test_the_parse_benchmark_reports_ratios():
    result = subprocess.run(
        [sys.executable, 'bench/schedule_parse.py', '--sizes', '1000',
         '2000', '--repeat', '1', '--no-save'], cwd=ROOT,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for shape in ('daily h... x', 'weekly @...', 'monthly padded'):
        assert re.search(r'^%s .* ms +1\.0x .* ms +\d+\.\dx$'
                         % re.escape(shape), result.stdout, re.M), \
            result.stdout


def test_clear_cache_makes_the_next_compile_start_cold():
    env = make_stub(config={'timezone': 'UTC'})
    daily = DailyScheduler(env)
    first = daily.compile('21h19', UTC)
    assert daily.compile('21h19', UTC) is first
    clear_cache()
    again = daily.compile('21h19', UTC)
    assert again is not first
    assert again.next_after(datetime(YEAR, 1, 5, tzinfo=UTC)) == \
        first.next_after(datetime(YEAR, 1, 5, tzinfo=UTC))
