# -*- coding: utf-8 -*-
"""Unit tests of traccron.cron: syntax, meaning, year bounds, DST rules."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from support import UTC, offset_changes, ours, utc
from traccron import cron
from traccron.cron import (CronExpression, CronSyntaxError, local_zone,
                           split_expressions)

PARIS = ZoneInfo('Europe/Paris')
NEW_YORK = ZoneInfo('America/New_York')
LORD_HOWE = ZoneInfo('Australia/Lord_Howe')
SANTIAGO = ZoneInfo('America/Santiago')


def fires(text, start, count=5, tz=UTC):
    """The first `count` fire instants after `start`, as ISO strings; a
    `None` after the last where it fires fewer times."""
    result = [instant.isoformat() for instant in ours(text, start, count, tz)]
    return result + [None] * (len(result) < count)


JAN_2025 = utc(2025, 1, 1)


# -- the examples of the Quartz CronTrigger documentation --------------------

@pytest.mark.parametrize('text, expected', [
    # Fire at 12pm (noon) every day.
    ('0 0 12 * * ?', ['2025-01-01T12:00:00+00:00',
                      '2025-01-02T12:00:00+00:00']),
    # Fire at 10:15am every day (four spellings).
    ('0 15 10 ? * *', ['2025-01-01T10:15:00+00:00',
                       '2025-01-02T10:15:00+00:00']),
    ('0 15 10 * * ?', ['2025-01-01T10:15:00+00:00',
                       '2025-01-02T10:15:00+00:00']),
    ('0 15 10 * * ? *', ['2025-01-01T10:15:00+00:00',
                         '2025-01-02T10:15:00+00:00']),
    # Every minute starting at 2pm and ending at 2:59pm, every day.
    ('0 * 14 * * ?', ['2025-01-01T14:00:00+00:00',
                      '2025-01-01T14:01:00+00:00']),
    # Every 5 minutes starting at 2pm and ending at 2:55pm.
    ('0 0/5 14 * * ?', ['2025-01-01T14:00:00+00:00',
                        '2025-01-01T14:05:00+00:00']),
    # Every 5 minutes from 2pm to 2:55pm and from 6pm to 6:55pm.
    ('0 0/5 14,18 * * ?', ['2025-01-01T14:00:00+00:00',
                           '2025-01-01T14:05:00+00:00']),
    # Every minute from 2pm to 2:05pm.
    ('0 0-5 14 * * ?', ['2025-01-01T14:00:00+00:00',
                        '2025-01-01T14:01:00+00:00']),
    # 2:10pm and 2:44pm every Wednesday in March.
    ('0 10,44 14 ? 3 WED', ['2025-03-05T14:10:00+00:00',
                            '2025-03-05T14:44:00+00:00',
                            '2025-03-12T14:10:00+00:00']),
    # 10:15am every Monday, Tuesday, Wednesday, Thursday and Friday.
    ('0 15 10 ? * MON-FRI', ['2025-01-01T10:15:00+00:00',
                             '2025-01-02T10:15:00+00:00',
                             '2025-01-03T10:15:00+00:00',
                             '2025-01-06T10:15:00+00:00']),
    # 10:15am on the 15th day of every month.
    ('0 15 10 15 * ?', ['2025-01-15T10:15:00+00:00',
                        '2025-02-15T10:15:00+00:00']),
    # 10:15am on the last day of every month.
    ('0 15 10 L * ?', ['2025-01-31T10:15:00+00:00',
                       '2025-02-28T10:15:00+00:00',
                       '2025-03-31T10:15:00+00:00',
                       '2025-04-30T10:15:00+00:00']),
    # 10:15am on the 2nd-to-last last day of every month.
    ('0 15 10 L-2 * ?', ['2025-01-29T10:15:00+00:00',
                         '2025-02-26T10:15:00+00:00',
                         '2025-03-29T10:15:00+00:00']),
    # 10:15am on the last Friday of every month.
    ('0 15 10 ? * 6L', ['2025-01-31T10:15:00+00:00',
                        '2025-02-28T10:15:00+00:00',
                        '2025-03-28T10:15:00+00:00',
                        '2025-04-25T10:15:00+00:00']),
    ('0 15 10 ? * FRIL', ['2025-01-31T10:15:00+00:00',
                          '2025-02-28T10:15:00+00:00']),
    # 10:15am on the third Friday of every month.
    ('0 15 10 ? * 6#3', ['2025-01-17T10:15:00+00:00',
                         '2025-02-21T10:15:00+00:00',
                         '2025-03-21T10:15:00+00:00']),
    ('0 15 10 ? * FRI#3', ['2025-01-17T10:15:00+00:00',
                           '2025-02-21T10:15:00+00:00']),
    # 12pm every 5 days every month, starting on the first day of the month.
    ('0 0 12 1/5 * ?', ['2025-01-01T12:00:00+00:00',
                        '2025-01-06T12:00:00+00:00',
                        '2025-01-11T12:00:00+00:00',
                        '2025-01-16T12:00:00+00:00',
                        '2025-01-21T12:00:00+00:00',
                        '2025-01-26T12:00:00+00:00',
                        '2025-01-31T12:00:00+00:00',
                        '2025-02-01T12:00:00+00:00']),
    # Every November 11th at 11:11am.
    ('0 11 11 11 11 ?', ['2025-11-11T11:11:00+00:00',
                         '2026-11-11T11:11:00+00:00']),
    # Noon every Monday (Quartz numbering: 2 = Monday).
    ('0 0 12 ? * 2', ['2025-01-06T12:00:00+00:00',
                      '2025-01-13T12:00:00+00:00']),
    # Noon on the last weekday of the month (May 31st 2025 is a Saturday).
    ('0 0 12 LW * ?', ['2025-01-31T12:00:00+00:00',
                       '2025-02-28T12:00:00+00:00',
                       '2025-03-31T12:00:00+00:00',
                       '2025-04-30T12:00:00+00:00',
                       '2025-05-30T12:00:00+00:00']),
    # Noon on the weekday nearest the 15th (Feb 15th 2025 is a Saturday).
    ('0 0 12 15W * ?', ['2025-01-15T12:00:00+00:00',
                        '2025-02-14T12:00:00+00:00',
                        '2025-03-14T12:00:00+00:00',
                        '2025-04-15T12:00:00+00:00']),
])
def test_quartz_documentation_examples(text, expected):
    assert fires(text, JAN_2025, len(expected)) == expected


def test_quartz_year_range_example_fires_in_those_years_only():
    # 10:15am on every last Friday of every month during 2002-2005.
    assert fires('0 15 10 ? * 6L 2002-2005', utc(2005, 11, 1)) == [
        '2005-11-25T10:15:00+00:00', '2005-12-30T10:15:00+00:00', None]
    assert fires('0 15 10 * * ? 2005', JAN_2025) == [None]


@pytest.mark.parametrize('text, start, expected', [
    # 1st is a Saturday: the Monday 3rd, not the Friday of the month before.
    ('0 0 12 1W * ?', utc(2025, 2, 1), '2025-02-03T12:00:00+00:00'),
    # 1st is a Sunday: Monday 2nd.
    ('0 0 12 1W * ?', utc(2025, 6, 1), '2025-06-02T12:00:00+00:00'),
    # 15th is a Sunday: Monday 16th.
    ('0 0 12 15W * ?', utc(2025, 6, 1), '2025-06-16T12:00:00+00:00'),
    # 31st is a Sunday and the last day: Friday 29th, not Monday 1st.
    ('0 0 12 31W * ?', utc(2025, 8, 1), '2025-08-29T12:00:00+00:00'),
    # 31st is a Saturday: Friday 30th.
    ('0 0 12 31W * ?', utc(2025, 5, 1), '2025-05-30T12:00:00+00:00'),
    # 30th, a Sunday, is the last day of November 2025: Friday 28th.
    ('0 0 12 30W * ?', utc(2025, 11, 1), '2025-11-28T12:00:00+00:00'),
    # A day the month does not have: that month is skipped.
    ('0 0 12 31W * ?', utc(2025, 4, 1), '2025-05-30T12:00:00+00:00'),
    # Last weekday when the month ends on a Sunday.
    ('0 0 12 LW * ?', utc(2025, 8, 1), '2025-08-29T12:00:00+00:00'),
    # L-n counts from the last day, in February too.
    ('0 0 0 L-27 * ?', utc(2025, 1, 15), '2025-02-01T00:00:00+00:00'),
    ('0 0 0 L-28 2 ?', utc(2025, 1, 1), '2028-02-01T00:00:00+00:00'),
    # Last Sunday (1L) of March.
    ('0 0 1 ? 3 1L', JAN_2025, '2025-03-30T01:00:00+00:00'),
    # Fifth Monday: only months that have one.
    ('0 0 0 ? * MON#5', JAN_2025, '2025-03-31T00:00:00+00:00'),
    # L alone in Quartz day of week is Saturday.
    ('0 0 0 ? * L', JAN_2025, '2025-01-04T00:00:00+00:00'),
])
def test_special_day_characters(text, start, expected):
    assert fires(text, start, 1) == [expected]


# -- syntax elements ---------------------------------------------------------

@pytest.mark.parametrize('text, start, expected', [
    # Lists, ranges and steps.
    ('0 0 8,12 * * ?', JAN_2025, ['2025-01-01T08:00:00+00:00',
                                  '2025-01-01T12:00:00+00:00']),
    ('*/20 * * * *', JAN_2025, ['2025-01-01T00:20:00+00:00',
                                '2025-01-01T00:40:00+00:00',
                                '2025-01-01T01:00:00+00:00']),
    ('10-20/5 * * * *', JAN_2025, ['2025-01-01T00:10:00+00:00',
                                   '2025-01-01T00:15:00+00:00',
                                   '2025-01-01T00:20:00+00:00',
                                   '2025-01-01T01:10:00+00:00']),
    ('45/10 * * * *', JAN_2025, ['2025-01-01T00:45:00+00:00',
                                 '2025-01-01T00:55:00+00:00',
                                 '2025-01-01T01:45:00+00:00']),
    ('00 05 * * *', JAN_2025, ['2025-01-01T05:00:00+00:00']),
    # Ranges that wrap round the end of the field.
    ('0 0 22-2 * * ?', utc(2024, 12, 31, 23, 30), [
                                  '2025-01-01T00:00:00+00:00',
                                  '2025-01-01T01:00:00+00:00',
                                  '2025-01-01T02:00:00+00:00',
                                  '2025-01-01T22:00:00+00:00',
                                  '2025-01-01T23:00:00+00:00',
                                  '2025-01-02T00:00:00+00:00']),
    ('0 50-10/5 3 * * ?', JAN_2025, ['2025-01-01T03:00:00+00:00',
                                     '2025-01-01T03:05:00+00:00',
                                     '2025-01-01T03:10:00+00:00',
                                     '2025-01-01T03:50:00+00:00',
                                     '2025-01-01T03:55:00+00:00',
                                     '2025-01-02T03:00:00+00:00']),
    ('0 0 0 ? * FRI-MON', JAN_2025, ['2025-01-03T00:00:00+00:00',
                                     '2025-01-04T00:00:00+00:00',
                                     '2025-01-05T00:00:00+00:00',
                                     '2025-01-06T00:00:00+00:00',
                                     '2025-01-10T00:00:00+00:00']),
    ('0 0 1 NOV-FEB *', utc(2025, 2, 2), ['2025-11-01T00:00:00+00:00',
                                          '2025-12-01T00:00:00+00:00',
                                          '2026-01-01T00:00:00+00:00',
                                          '2026-02-01T00:00:00+00:00',
                                          '2026-11-01T00:00:00+00:00']),
    ('0 0 * * SAT-SUN', JAN_2025, ['2025-01-04T00:00:00+00:00',
                                   '2025-01-05T00:00:00+00:00',
                                   '2025-01-11T00:00:00+00:00']),
    ('0 0 * * 5-1', JAN_2025, ['2025-01-03T00:00:00+00:00',
                               '2025-01-04T00:00:00+00:00',
                               '2025-01-05T00:00:00+00:00',
                               '2025-01-06T00:00:00+00:00',
                               '2025-01-10T00:00:00+00:00']),
    # Names are case-insensitive.
    ('0 0 12 ? jan mon', JAN_2025, ['2025-01-06T12:00:00+00:00']),
    ('0 0 1 feb,Mar *', JAN_2025, ['2025-02-01T00:00:00+00:00',
                                   '2025-03-01T00:00:00+00:00']),
    ('0 0 12 l * ?', JAN_2025, ['2025-01-31T12:00:00+00:00']),
    # Year field: lists, ranges, steps.
    ('0 0 0 1 1 ? 2030,2040-2041', JAN_2025, ['2030-01-01T00:00:00+00:00',
                                              '2040-01-01T00:00:00+00:00',
                                              '2041-01-01T00:00:00+00:00',
                                              None]),
    ('0 0 0 1 1 ? 2026/50', JAN_2025, ['2026-01-01T00:00:00+00:00',
                                       '2076-01-01T00:00:00+00:00',
                                       '2126-01-01T00:00:00+00:00',
                                       '2176-01-01T00:00:00+00:00', None]),
    ('0 0 0 1 1 ? */100', JAN_2025, ['2070-01-01T00:00:00+00:00',
                                     '2170-01-01T00:00:00+00:00', None]),
])
def test_syntax_elements(text, start, expected):
    assert fires(text, start, len(expected)) == expected


def test_seconds_star_or_question_mark_means_second_zero():
    expected = ['2025-01-01T00:02:00+00:00', '2025-01-01T00:04:00+00:00']
    assert fires('* 0/2 * * * ? *', JAN_2025, 2) == expected
    assert fires('? 0/2 * * * ?', JAN_2025, 2) == expected


def test_other_seconds_values_are_honoured():
    assert fires('0/15 * * * * ?', JAN_2025, 5) == [
        '2025-01-01T00:00:15+00:00', '2025-01-01T00:00:30+00:00',
        '2025-01-01T00:00:45+00:00', '2025-01-01T00:01:00+00:00',
        '2025-01-01T00:01:15+00:00']
    assert fires('*/1 * * * * ?', JAN_2025, 2) == [
        '2025-01-01T00:00:01+00:00', '2025-01-01T00:00:02+00:00']
    assert fires('30 * * * * ?', JAN_2025, 2) == [
        '2025-01-01T00:00:30+00:00', '2025-01-01T00:01:30+00:00']


def test_quartz_accepts_star_in_place_of_question_mark():
    assert fires('0 0 12 15 * *', JAN_2025, 2) == [
        '2025-01-15T12:00:00+00:00', '2025-02-15T12:00:00+00:00']
    assert fires('0 0 12 * * *', JAN_2025, 2) == [
        '2025-01-01T12:00:00+00:00', '2025-01-02T12:00:00+00:00']
    assert fires('0 0 12 * * MON', JAN_2025, 1) == [
        '2025-01-06T12:00:00+00:00']


@pytest.mark.parametrize('sunday', ['0', '7', 'SUN', 'sun'])
def test_unix_sunday_is_0_or_7(sunday):
    assert fires('0 0 * * ' + sunday, JAN_2025, 2) == [
        '2025-01-05T00:00:00+00:00', '2025-01-12T00:00:00+00:00']


def test_unix_restricted_day_fields_are_ored():
    # The 1st, the 15th, and every Monday.
    assert fires('0 0 1,15 * 1', JAN_2025, 6) == [
        '2025-01-06T00:00:00+00:00', '2025-01-13T00:00:00+00:00',
        '2025-01-15T00:00:00+00:00', '2025-01-20T00:00:00+00:00',
        '2025-01-27T00:00:00+00:00', '2025-02-01T00:00:00+00:00']


def test_unix_day_field_starting_with_star_is_anded():
    # Odd days that are Mondays.
    assert fires('0 0 */2 * MON', JAN_2025, 3) == [
        '2025-01-13T00:00:00+00:00', '2025-01-27T00:00:00+00:00',
        '2025-02-03T00:00:00+00:00']
    # The 1st when it is a Sunday, Tuesday, Thursday or Saturday.
    assert fires('0 0 1 * */2', JAN_2025, 3) == [
        '2025-02-01T00:00:00+00:00', '2025-03-01T00:00:00+00:00',
        '2025-04-01T00:00:00+00:00']


def test_unix_form_knows_quartz_specials_with_unix_day_numbers():
    assert fires('0 0 * * 5L', JAN_2025, 1) == ['2025-01-31T00:00:00+00:00']
    assert fires('0 0 * * 1#2', JAN_2025, 1) == ['2025-01-13T00:00:00+00:00']
    assert fires('0 0 LW * *', JAN_2025, 1) == ['2025-01-31T00:00:00+00:00']


@pytest.mark.parametrize('macro, equivalent', [
    ('@yearly', '0 0 1 1 *'), ('@annually', '0 0 1 1 *'),
    ('@monthly', '0 0 1 * *'), ('@weekly', '0 0 * * 0'),
    ('@daily', '0 0 * * *'), ('@midnight', '0 0 * * *'),
    ('@hourly', '0 * * * *'), ('@DAILY', '0 0 * * *'),
])
def test_macros(macro, equivalent):
    assert fires(macro, JAN_2025, 3) == fires(equivalent, JAN_2025, 3)
    assert str(CronExpression(macro, UTC)) == macro.lower()


def test_str_is_the_normalised_text():
    assert str(CronExpression('  0  0/2 *\t* * ? *  ', UTC)) == \
        '0 0/2 * * * ? *'
    assert str(CronExpression('0 0 12 ? jan mon-fri', UTC)) == \
        '0 0 12 ? JAN MON-FRI'
    assert str(CronExpression('*/5 * * * *', UTC)) == '*/5 * * * *'


def test_expressions_compare_by_text_and_zone():
    assert CronExpression('0 0 * * *', UTC) == \
        CronExpression('0  0 * * *', UTC)
    assert CronExpression('0 0 * * *', UTC) != \
        CronExpression('0 0 * * *', PARIS)
    assert len({CronExpression('@daily', UTC),
                CronExpression('@DAILY', UTC)}) == 1


@pytest.mark.parametrize('text, wall_clock', [
    ('30 2 * * *', True), ('0 0 * * *', True), ('0 0/2 * * *', True),
    ('0,30 1-3 * * *', True), ('0 30 2 * * ?', True),
    ('*/15 * * * *', False), ('0 * * * *', False), ('30 */2 * * *', False),
    ('* 2 * * *', False), ('0/15 * * * * ?', False),
    ('@daily', True), ('@hourly', False), ('@weekly', True),
])
def test_is_wall_clock(text, wall_clock):
    assert CronExpression(text, UTC).is_wall_clock is wall_clock


def test_matches_checks_the_wall_time_field_by_field():
    expr = CronExpression('0 15 10 ? * 6L', PARIS)
    assert expr.matches(datetime(2025, 1, 31, 10, 15))
    assert expr.matches(datetime(2025, 1, 31, 9, 15, tzinfo=UTC))
    assert not expr.matches(datetime(2025, 1, 24, 10, 15))
    assert not expr.matches(datetime(2025, 1, 31, 10, 15, 1))


# -- results, instants and zones --------------------------------------------

def test_result_is_strictly_after_and_in_the_expression_zone():
    expr = CronExpression('0 0 * * *', PARIS)
    result = expr.next_after(datetime(2025, 1, 1, 0, 0, tzinfo=PARIS))
    assert result == datetime(2025, 1, 2, 0, 0, tzinfo=PARIS)
    assert result.tzinfo is PARIS
    # An input in another zone is the same instant.
    result = expr.next_after(utc(2024, 12, 31, 22, 59, 59, 999999))
    assert result == datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
    assert result.isoformat() == '2025-01-01T00:00:00+01:00'


def test_microseconds_are_before_the_next_second():
    expr = CronExpression('* * * * * ?', UTC)
    assert expr.next_after(utc(2025, 1, 1, 0, 0, 0, 1)) == \
        utc(2025, 1, 1, 0, 1)
    expr = CronExpression('*/1 * * * * ?', UTC)
    assert expr.next_after(utc(2025, 1, 1, 0, 0, 0, 1)) == \
        utc(2025, 1, 1, 0, 0, 1)


def test_fixed_offset_zone():
    india = timezone(timedelta(hours=5, minutes=30))
    assert fires('0 9 * * *', JAN_2025, 2, india) == [
        '2025-01-01T09:00:00+05:30', '2025-01-02T09:00:00+05:30']


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        CronExpression('0 0 * * *', UTC).next_after(datetime(2025, 1, 1))


def test_default_zone_is_the_server_local_zone(monkeypatch):
    monkeypatch.setenv('TZ', 'Europe/Paris')
    assert local_zone() == PARIS
    assert CronExpression('0 0 * * *').tz == PARIS
    monkeypatch.setenv('TZ', ':America/New_York')
    assert local_zone() == NEW_YORK


def test_default_zone_without_tz_variable_is_a_zone(monkeypatch):
    monkeypatch.delenv('TZ', raising=False)
    zone = local_zone()
    assert zone.utcoffset(datetime(2025, 1, 1)) is not None


# -- year bounds and expressions that never fire -----------------------------

def test_february_29th_skips_2100():
    expr = CronExpression('0 0 29 2 *', UTC)
    assert expr.next_after(utc(2096, 3, 1)) == utc(2104, 2, 29)
    assert expr.next_after(utc(2096, 2, 29)) == utc(2104, 2, 29)
    assert expr.next_after(utc(2096, 1, 1)) == utc(2096, 2, 29)


def test_2199_is_the_last_year():
    assert fires('0 0 0 1 1 ? 2199', JAN_2025, 3) == [
        '2199-01-01T00:00:00+00:00', None]
    assert fires('59 59 23 31 12 ?', utc(2199, 12, 31), 3) == [
        '2199-12-31T23:59:59+00:00', None]
    assert CronExpression('* * * * *', UTC).next_after(
        utc(2199, 12, 31, 23, 59)) is None
    assert CronExpression('* * * * *', UTC).next_after(utc(2300, 1, 1)) \
        is None
    assert CronExpression('0 0 1 1 *', PARIS).next_after(
        utc(2199, 6, 1)) is None


def count_month_steps(expr, monkeypatch):
    """Count the months the search visits (calls of _day_table)."""
    calls = []
    original = CronExpression._day_table

    def counting(self, year, month):
        if self is expr:
            calls.append((year, month))
        return original(self, year, month)
    # On the class: expressions have __slots__, no instance attributes.
    monkeypatch.setattr(CronExpression, '_day_table', counting)
    return calls


@pytest.mark.parametrize('text', [
    '0 0 0 30 2 ?', '0 0 0 31 2,4,6,9,11 ?', '0 0 31 4 *', '0 0 30 2 *',
    '0 0 0 ? 2 2#5 2025', '0 0 0 31 2 ? 2030-2199', '0 0 0 L-30 2 ?',
    '0 0 0 ? 2 2#5 2026-2027', '0 0 0 1 1 ? 2024',
])
def test_expressions_that_never_fire_return_none_quickly(text, monkeypatch):
    expr = CronExpression(text, PARIS)
    steps = count_month_steps(expr, monkeypatch)
    assert expr.next_after(JAN_2025) is None
    assert len(steps) <= 30


def test_rare_expressions_are_found_in_few_steps(monkeypatch):
    # The 5th Monday of February: 2044, then 2072.
    expr = CronExpression('0 0 0 ? 2 MON#5', UTC)
    steps = count_month_steps(expr, monkeypatch)
    assert expr.next_after(JAN_2025) == utc(2044, 2, 29)
    assert len(steps) <= 2 * (2044 - 2025 + 1)
    # Friday the 13th of February that is also a leap-day month (AND).
    expr = CronExpression('0 0 29 2 */7', UTC)      # Feb 29th on a Sunday
    steps = count_month_steps(expr, monkeypatch)
    assert expr.next_after(JAN_2025) == utc(2032, 2, 29)
    assert len(steps) <= 2 * (2032 - 2025 + 1)


def test_search_to_2199_is_bounded(monkeypatch):
    # Never fires in its one possible month: the walk visits each year once.
    expr = CronExpression('0 0 0 29 2 ? 2101-2103', UTC)
    steps = count_month_steps(expr, monkeypatch)
    assert expr.next_after(JAN_2025) is None
    assert len(steps) <= 5


# -- errors ------------------------------------------------------------------

@pytest.mark.parametrize('text, field, token, position', [
    ('0 5abc * * * ?', 'minute', '5abc', 3),
    ('5abc * * * *', 'minute', '5abc', 1),
    ('60 * * * * ?', 'second', '60', 1),
    ('0 60 * * * ?', 'minute', '60', 3),
    ('0 0 24 * * ?', 'hour', '24', 5),
    ('0 0 0 32 * ?', 'day-of-month', '32', 7),
    ('0 0 0 0 * ?', 'day-of-month', '0', 7),
    ('0 0 0 * 13 ?', 'month', '13', 9),
    ('0 0 0 * 0 ?', 'month', '0', 9),
    ('0 0 0 ? * 8', 'day-of-week', '8', 11),
    ('0 0 0 ? * 0', 'day-of-week', '0', 11),
    ('0 0 * * 8', 'day-of-week', '8', 9),
    ('0 0 0 * * ? 1969', 'year', '1969', 13),
    ('0 0 0 * * ? 2200', 'year', '2200', 13),
    ('0 0 0 * * ? 2030-2020', 'year', '2030-2020', 13),
    ('0 0 0 * * ? ?', 'year', '?', 13),
    ('*/0 * * * *', 'minute', '*/0', 1),
    ('*/61 * * * *', 'minute', '*/61', 1),
    ('*/x * * * *', 'minute', '*/x', 1),
    ('*/ * * * *', 'minute', '*/', 1),
    ('1-2-3 * * * *', 'minute', '1-2-3', 1),
    ('-5 * * * *', 'minute', '-5', 1),
    ('5- * * * *', 'minute', '5-', 1),
    ('1,,2 * * * *', 'minute', '1,,2', 1),
    ('1, * * * *', 'minute', '1,', 1),
    ('0 1,7x * * *', 'hour', '7x', 5),
    ('0 0 * FOO *', 'month', 'FOO', 7),
    ('0 0 * MON *', 'month', 'MON', 7),
    ('0 0 * * JAN', 'day-of-week', 'JAN', 9),
    ('MON 0 * * *', 'minute', 'MON', 1),
    ('0 0 * * 1.5', 'day-of-week', '1.5', 9),
    ('? * * * *', 'minute', '?', 1),
    ('0 ? * * * ?', 'minute', '?', 3),
    ('0 0 ? * * ?', 'hour', '?', 5),
    ('0 0 0 * ? ?', 'month', '?', 9),
    ('0 0 0 ?,1 * ?', 'day-of-month', '?', 7),
    ('0 0 0 W * ?', 'day-of-month', 'W', 7),
    ('0 0 0 32W * ?', 'day-of-month', '32W', 7),
    ('0 0 0 0W * ?', 'day-of-month', '0W', 7),
    ('0 0 0 L-31 * ?', 'day-of-month', 'L-31', 7),
    ('0 0 0 L-x * ?', 'day-of-month', 'L-x', 7),
    ('0 0 0 L/2 * ?', 'day-of-month', 'L/2', 7),
    ('0 0 0 1-L * ?', 'day-of-month', '1-L', 7),
    ('0 0 0 LL * ?', 'day-of-month', 'LL', 7),
    ('0 0 0 ? * 6#6', 'day-of-week', '6#6', 11),
    ('0 0 0 ? * 6#0', 'day-of-week', '6#0', 11),
    ('0 0 0 ? * 6#', 'day-of-week', '6#', 11),
    ('0 0 0 ? * #3', 'day-of-week', '#3', 11),
    ('0 0 0 ? * 9L', 'day-of-week', '9L', 11),
    ('0 0 0 ? * 6W', 'day-of-week', '6W', 11),
    ('0 0 0 ? * LW', 'day-of-week', 'LW', 11),
    ('0 0 * * L', 'day-of-week', 'L', 9),
    ('0 0 0 ? * 5L/2', 'day-of-week', '5L/2', 11),
    ('0 0 0 6L * ?', 'day-of-month', '6L', 7),
    ('0 0 0 1#2 * ?', 'day-of-month', '1#2', 7),
    ('0 0 0 5 * MON', 'day-of-week', 'MON', 11),
    ('0 0 0 */2 * */2', 'day-of-week', '*/2', 13),
    ('0 0 0 ? * ?', 'day-of-week', '?', 11),
    ('0 0 * * ²', 'day-of-week', '²', 9),
])
def test_syntax_errors_name_field_token_and_position(text, field, token,
                                                     position):
    with pytest.raises(CronSyntaxError) as info:
        CronExpression(text, UTC)
    error = info.value
    assert (error.field, error.token, error.position) == \
        (field, token, position)
    message = str(error)
    assert message.startswith(field + ' field: ')
    assert repr(token) in message
    assert message.endswith('at position %d' % position) or \
        ('at position %d' % position) in message
    assert isinstance(error, ValueError)


def test_syntax_error_message_example():
    with pytest.raises(CronSyntaxError) as info:
        CronExpression('0 5abc * * * ?', UTC)
    assert str(info.value) == \
        "minute field: invalid token '5abc' at position 3"
    with pytest.raises(CronSyntaxError) as info:
        CronExpression('0 0 0 * 13 ?', UTC)
    assert str(info.value) == \
        "month field: value 13 out of range 1-12 in '13' at position 9"


@pytest.mark.parametrize('text, token, position, words', [
    ('', '', 1, 'empty'),
    ('   ', '   ', 1, 'empty'),
    ('* * * *', '* * * *', 1, '4 fields'),
    ('0', '0', 1, '1 fields'),
    ('0 0 0 * * ? 2025 x', 'x', 18, '8th field'),
    ('@often', '@often', 1, 'unknown macro'),
    ('@daily 5', '5', 8, 'after macro'),
])
def test_errors_of_the_whole_expression(text, token, position, words):
    with pytest.raises(CronSyntaxError) as info:
        CronExpression(text, UTC)
    assert info.value.field is None
    assert info.value.token == token
    assert info.value.position == position
    assert words in str(info.value)


def test_nothing_is_silently_ignored():
    # The original plugin read '*/5' as '*' and '5abc' as '5'.
    assert fires('*/5 * * * *', JAN_2025, 1) == ['2025-01-01T00:05:00+00:00']
    with pytest.raises(CronSyntaxError):
        CronExpression('5abc * * * *', UTC)


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError):
        CronExpression(5, UTC)


# -- several expressions in one value ----------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('0 0 8,12 * * ?', ['0 0 8,12 * * ?']),
    ('0 5 10 * * ?, 0 0 12 ? * MON', ['0 5 10 * * ?', '0 0 12 ? * MON']),
    ('0 5 10 * * ?; 0 0 12 ? * MON', ['0 5 10 * * ?', '0 0 12 ? * MON']),
    ('0 0 8,12 * * ?; 0 0 1,2 * *', ['0 0 8,12 * * ?', '0 0 1,2 * *']),
    ('0 0 1,15 * *', ['0 0 1,15 * *']),
    ('@daily, @hourly', ['@daily', '@hourly']),
    ('@daily, 0 0 12 ? * MON', ['@daily', '0 0 12 ? * MON']),
    ('*/5 * * * *', ['*/5 * * * *']),
    (' 0 0 * * * ; ', ['0 0 * * *']),
    ('', []),
    ('  ', []),
    (None, []),
    ('0 0 * * 1,2,3', ['0 0 * * 1,2,3']),
])
def test_split_expressions(value, expected):
    assert split_expressions(value) == expected


# -- daylight saving time ----------------------------------------------------

def local_fires(text, tz, start, count):
    """Fire instants as ISO strings with their offset."""
    return fires(text, start.astimezone(tz), count, tz)


def test_wall_clock_time_in_spring_gap_fires_at_end_of_gap():
    # Paris, 2025-03-30: 02:00 -> 03:00.
    assert local_fires('30 2 * * *', PARIS, utc(2025, 3, 29), 3) == [
        '2025-03-29T02:30:00+01:00', '2025-03-30T03:00:00+02:00',
        '2025-03-31T02:30:00+02:00']
    # Several wall times of the gap fire only once.
    assert local_fires('0,20,40 2 * * *', PARIS, utc(2025, 3, 30), 3) == [
        '2025-03-30T03:00:00+02:00', '2025-03-31T02:00:00+02:00',
        '2025-03-31T02:20:00+02:00']
    assert local_fires('0 30 2 * * ?', NEW_YORK, utc(2025, 3, 9), 2) == [
        '2025-03-09T03:00:00-04:00', '2025-03-10T02:30:00-04:00']


def test_wall_clock_time_in_lord_howe_half_hour_gap():
    # Lord Howe, 2025-10-05: 02:00 -> 02:30.
    assert local_fires('15 2 * * *', LORD_HOWE, utc(2025, 10, 4), 2) == [
        '2025-10-05T02:30:00+11:00', '2025-10-06T02:15:00+11:00']
    assert local_fires('45 2 * * *', LORD_HOWE, utc(2025, 10, 4), 1) == [
        '2025-10-05T02:45:00+11:00']


def test_wall_clock_repeated_time_fires_at_first_occurrence_only():
    # Paris, 2025-10-26: 03:00 -> 02:00.
    assert local_fires('30 2 * * *', PARIS, utc(2025, 10, 25), 3) == [
        '2025-10-25T02:30:00+02:00', '2025-10-26T02:30:00+02:00',
        '2025-10-27T02:30:00+01:00']
    # New York, 2025-11-02: 02:00 -> 01:00.
    assert local_fires('0,30 1 * * *', NEW_YORK, utc(2025, 11, 2), 3) == [
        '2025-11-02T01:00:00-04:00', '2025-11-02T01:30:00-04:00',
        '2025-11-03T01:00:00-05:00']
    # Lord Howe, 2025-04-06: 02:00 -> 01:30.
    assert local_fires('45 1 * * *', LORD_HOWE, utc(2025, 4, 5), 2) == [
        '2025-04-06T01:45:00+11:00', '2025-04-07T01:45:00+10:30']


def test_wall_clock_from_inside_the_second_pass_skips_to_the_next_day():
    start = datetime(2025, 10, 26, 2, 10, tzinfo=PARIS, fold=1)
    expr = CronExpression('30 2 * * *', PARIS)
    assert expr.next_after(start).isoformat() == '2025-10-27T02:30:00+01:00'
    expr = CronExpression('0,30 2,3 * * *', PARIS)
    assert expr.next_after(start).isoformat() == '2025-10-26T03:00:00+01:00'


def test_real_clock_schedule_fires_in_both_repeated_hours():
    assert local_fires('*/30 * * * *', PARIS, utc(2025, 10, 25, 22, 59),
                       6) == [
        '2025-10-26T01:00:00+02:00', '2025-10-26T01:30:00+02:00',
        '2025-10-26T02:00:00+02:00', '2025-10-26T02:30:00+02:00',
        '2025-10-26T02:00:00+01:00', '2025-10-26T02:30:00+01:00']
    assert local_fires('0 * * * *', NEW_YORK, utc(2025, 11, 2, 4, 30),
                       3) == [
        '2025-11-02T01:00:00-04:00', '2025-11-02T01:00:00-05:00',
        '2025-11-02T02:00:00-05:00']
    assert local_fires('30 */2 * * *', PARIS, utc(2025, 10, 25, 23), 4) == [
        '2025-10-26T02:30:00+02:00', '2025-10-26T02:30:00+01:00',
        '2025-10-26T04:30:00+01:00', '2025-10-26T06:30:00+01:00']


def test_real_clock_from_the_first_pass_finds_the_replayed_time():
    # At 02:45 CEST the next 'hh:10' is 02:10 CET, not 03:10.
    start = datetime(2025, 10, 26, 2, 45, tzinfo=PARIS)
    expr = CronExpression('10 * * * *', PARIS)
    assert expr.next_after(start).isoformat() == '2025-10-26T02:10:00+01:00'


def test_real_clock_schedule_never_fires_inside_a_gap():
    assert local_fires('*/30 * * * *', PARIS, utc(2025, 3, 30, 0, 29),
                       3) == [
        '2025-03-30T01:30:00+01:00', '2025-03-30T03:00:00+02:00',
        '2025-03-30T03:30:00+02:00']
    assert local_fires('30 2 * * * ', PARIS, utc(2025, 3, 29), 2)[1] == \
        '2025-03-30T03:00:00+02:00'        # wall-clock, for contrast
    assert local_fires('* 2 * * *', PARIS, utc(2025, 3, 29, 3), 2) == [
        '2025-03-31T02:00:00+02:00', '2025-03-31T02:01:00+02:00']


def test_real_clock_in_lord_howe():
    # 2025-04-06: 02:00 (+11) -> 01:30 (+10:30); 01:30-01:59 twice.
    assert local_fires('*/15 * * * *', LORD_HOWE, utc(2025, 4, 5, 14, 0),
                       8) == [
        '2025-04-06T01:15:00+11:00', '2025-04-06T01:30:00+11:00',
        '2025-04-06T01:45:00+11:00', '2025-04-06T01:30:00+10:30',
        '2025-04-06T01:45:00+10:30', '2025-04-06T02:00:00+10:30',
        '2025-04-06T02:15:00+10:30', '2025-04-06T02:30:00+10:30']
    # 2025-10-05: 02:00 -> 02:30 (+11).
    assert local_fires('0 */3 * * *', LORD_HOWE, utc(2025, 10, 4, 12),
                       2) == [
        '2025-10-05T00:00:00+10:30', '2025-10-05T03:00:00+11:00']


def test_santiago_midnight_transitions():
    # 2025-09-07: 00:00 (-04) -> 01:00 (-03): midnight does not exist.
    assert local_fires('0 0 * * *', SANTIAGO, utc(2025, 9, 5, 12), 3) == [
        '2025-09-06T00:00:00-04:00', '2025-09-07T01:00:00-03:00',
        '2025-09-08T00:00:00-03:00']
    assert local_fires('30 0 * * *', SANTIAGO, utc(2025, 9, 6, 12), 2) == [
        '2025-09-07T01:00:00-03:00', '2025-09-08T00:30:00-03:00']
    assert local_fires('0 * * * *', SANTIAGO, utc(2025, 9, 7, 2), 2) == [
        '2025-09-06T23:00:00-04:00', '2025-09-07T01:00:00-03:00']
    # 2025-04-06: 00:00 (-03) -> 23:00 (-04) on the 5th: 23:xx twice.
    assert local_fires('30 23 * * *', SANTIAGO, utc(2025, 4, 5, 12), 2) == [
        '2025-04-05T23:30:00-03:00', '2025-04-06T23:30:00-04:00']
    assert local_fires('*/30 * * * *', SANTIAGO, utc(2025, 4, 6, 1, 45),
                       4) == [
        '2025-04-05T23:00:00-03:00', '2025-04-05T23:30:00-03:00',
        '2025-04-05T23:00:00-04:00', '2025-04-05T23:30:00-04:00']
    assert local_fires('0 0 * * *', SANTIAGO, utc(2025, 4, 4, 12), 3) == [
        '2025-04-05T00:00:00-03:00', '2025-04-06T00:00:00-04:00',
        '2025-04-07T00:00:00-04:00']


@pytest.mark.parametrize('zone', [
    'Europe/Paris', 'America/New_York', 'Australia/Lord_Howe',
    'America/Santiago', 'Pacific/Chatham', 'Asia/Tehran', 'Europe/Dublin',
    'America/Havana', 'Africa/Casablanca',
])
@pytest.mark.parametrize('text', [
    '*/10 * * * *', '0 * * * *', '30 2 * * *', '0,30 0-3 * * *',
    '0/20 * 0-3 * * ?', '0 0 * * *', '0 45 23 * * ?',
])
def test_fire_instants_never_go_backwards_or_repeat(zone, text):
    tz = ZoneInfo(zone)
    expr = CronExpression(text, tz)
    for change in offset_changes(tz, 2024, 2025):
        instant = change - timedelta(days=1)
        end = change + timedelta(days=1)
        while instant < end:
            following = expr.next_after(instant)
            assert following.astimezone(UTC) > instant.astimezone(UTC)
            assert following.tzinfo is tz
            instant = following


def test_the_day_tables_of_day_terms_seen_before_are_not_made_again(
        monkeypatch):
    """Start-up of 10,000 schedules (bench/scale.py): 2,700 expressions
    with a few different day terms make each set's tables once."""
    cron.clear_tables()
    made = []
    real = CronExpression._days_of

    def days_of(self, first_weekday, ndays):
        made.append(first_weekday)
        return real(self, first_weekday, ndays)

    monkeypatch.setattr(CronExpression, '_days_of', days_of)
    CronExpression('0 15 10 ? * MON-FRI', UTC)
    assert len(made) == 28          # 7 first weekdays x 4 month lengths
    same = CronExpression('7 3 2 ? * 2-6', PARIS)
    assert len(made) == 28
    other = CronExpression('0 0 12 L-2 * ?', UTC)
    assert len(made) == 56
    assert str(same.next_after(utc(2025, 1, 4))) == \
        '2025-01-06 02:03:07+01:00'
    assert str(other.next_after(utc(2025, 2, 1))) == \
        '2025-02-26 12:00:00+00:00'
    cron.clear_tables()
    CronExpression('0 15 10 ? * MON-FRI', UTC)
    assert len(made) == 84


def test_expressions_share_their_lookup_tables():
    """10,000 schedules have a few hundred different tables: each is kept
    once (memory per schedule, bench/scale.py)."""
    a = CronExpression('0 15 10 ? * MON-FRI', PARIS)
    b = CronExpression('0 40 23 ? * 2-6', UTC)
    assert a._day_tables is b._day_tables
    assert a._seconds is b._seconds
    assert a._minutes is not b._minutes
    assert not hasattr(a, '__dict__')
    # Sharing changes nothing of what they compute.
    assert str(a.next_after(utc(2025, 1, 4))) == '2025-01-06 10:15:00+01:00'
    assert str(b.next_after(utc(2025, 1, 4))) == '2025-01-06 23:40:00+00:00'
