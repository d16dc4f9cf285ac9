# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The bundled scheduler types: hourly, daily, weekly, monthly and cron.

Each value is parsed once into numbers and then into the equivalent cron
expression, so that every type follows the same daylight-saving rules
(SPEC §5): `daily 02h30` behaves exactly like `30 2 * * *`.
"""

from datetime import datetime, timedelta
from functools import lru_cache

from trac.core import Component, implements

from traccron.api import ISchedulerType
from traccron.config import CronConfig, whole_number
from traccron.cron import CronExpression, split_expressions


def _number(text, what, low, high, form):
    value = whole_number(text)
    if value is None:
        raise ValueError('%s %r is not a number (expected %s)'
                         % (what, text, form))
    if not low <= value <= high:
        raise ValueError('%s %d is out of range %d-%d (expected %s)'
                         % (what, value, low, high, form))
    return value


def _split(text, separators, in_line):
    r"""The two parts of `text` around a separator, as the groups of
    `^\s*(\S*?)\s*[<separators>]\s*(\S*?)\s*$` (with `in_line`: `(.*?)`
    for the second group, which may then hold blanks but no line break),
    or `None` when that expression does not match.

    Written out because the expression backtracks: its time is
    quadratic in the length of a value (seconds for 16,000 characters).
    Here the first part ends at the first separator after which the
    rest can be the second part, the shortest first part as the lazy
    `*?` chooses; in linear time."""
    text = text.strip()
    words = text.split()
    if not words:
        return None
    first = len(words[0])    # the first part is a prefix of this word
    # The second part is what follows the separator, blanks stripped; it
    # can hold no character at or before `last_break`.
    if in_line:
        last_break = text.rfind('\n')
    else:
        last_break = len(text) - len(words[-1]) - 1
    candidates = [i for i in range(first) if text[i] in separators]
    after_word = _next_word(text, first)
    if after_word < len(text) and text[after_word] in separators:
        candidates.append(after_word)
    for sep in candidates:
        start = sep + 1 if sep + 1 < first else _next_word(text, sep + 1)
        if start > last_break:
            return text[:min(sep, first)], text[start:]
    return None


def _next_word(text, i):
    """The index of the first non-blank character of `text` from `i`."""
    return len(text) - len(text[i:].lstrip())


def _parse_time(text, form):
    parts = _split(text, 'hH:', in_line=False)
    if parts is None:
        raise ValueError('%r is not a time (expected %s)' % (text, form))
    return (_number(parts[0], 'hour', 0, 23, form),
            _number(parts[1], 'minute', 0, 59, form))


def _parse_day_at(text, what, low, high, form):
    parts = _split(text, '@', in_line=True)
    if parts is None:
        raise ValueError('%r has no day (expected %s)' % (text, form))
    day = _number(parts[0], what, low, high, form)
    return (day,) + _parse_time(parts[1], form)


class _SchedulerTypeBase(Component):
    """Common part of the bundled scheduler types: a value is compiled once
    per zone into an object with `next_after(dt)`."""

    abstract = True

    def getId(self):
        return self.type_id

    def getHint(self):
        return self.hint

    def compile(self, value, tz):
        """Return the trigger for one schedule value: an object whose
        `next_after(dt)` gives the next fire instant. Raises `ValueError`
        naming what is wrong."""
        value = value.strip()
        if not value:
            raise ValueError('empty value (expected %s)' % self.form)
        return _expression(self.expression_of(value), tz)

    @classmethod
    def expression_of(cls, value):
        """The cron expression equivalent to one schedule value."""
        return cls.to_cron(cls.parse(value))

    def next_trigger_time(self, task, value, after):
        return self.compile(value, after.tzinfo).next_after(after)

    def isTriggerTime(self, task, currentTime):
        config = CronConfig(self.env)
        for value in config.get_schedule_value_list(task, self.type_id):
            try:
                if self.matches(self.parse(value), currentTime):
                    return True
            except ValueError:
                continue
        return False


@lru_cache(maxsize=4096)
def _expression(text, tz):
    return CronExpression(text, tz)


class HourlyScheduler(_SchedulerTypeBase):
    """Fires every hour at the given minute."""

    implements(ISchedulerType)

    type_id = 'hourly'
    form = 'M, the minute 0-59, e.g. 17'
    hint = 'minute of the hour (0-59), e.g. 17'

    @classmethod
    def parse(cls, value):
        return (_number(value.strip(), 'minute', 0, 59, cls.form),)

    @staticmethod
    def to_cron(fields):
        return '%d * * * *' % fields

    @staticmethod
    def matches(fields, t):
        return t.tm_min == fields[0]


class DailyScheduler(_SchedulerTypeBase):
    """Fires every day at the given time."""

    implements(ISchedulerType)

    type_id = 'daily'
    form = 'HhM, e.g. 21h19 or 08:05'
    hint = 'time of day HhM (or H:M), e.g. 21h19'

    @classmethod
    def parse(cls, value):
        return _parse_time(value, cls.form)

    @staticmethod
    def to_cron(fields):
        hour, minute = fields
        return '%d %d * * *' % (minute, hour)

    @staticmethod
    def matches(fields, t):
        return (t.tm_hour, t.tm_min) == fields


class WeeklyScheduler(_SchedulerTypeBase):
    """Fires every week on the given day (0 = Monday) and time."""

    implements(ISchedulerType)

    type_id = 'weekly'
    form = 'D@HhM, D = day of week 0-6 with 0 = Monday, e.g. 4@21h28'
    hint = 'day of week (0 = Monday) @ time, e.g. 4@21h28'

    @classmethod
    def parse(cls, value):
        return _parse_day_at(value, 'day of week', 0, 6, cls.form)

    @staticmethod
    def to_cron(fields):
        day, hour, minute = fields
        # cron counts from Sunday = 0; this type from Monday = 0.
        return '%d %d * * %d' % (minute, hour, (day + 1) % 7)

    @staticmethod
    def matches(fields, t):
        return (t.tm_wday, t.tm_hour, t.tm_min) == fields


class MonthlyScheduler(_SchedulerTypeBase):
    """Fires every month on the given day and time; months without that
    day are skipped."""

    implements(ISchedulerType)

    type_id = 'monthly'
    form = 'D@HhM, D = day of month 1-31, e.g. 15@21h15'
    hint = 'day of month (1-31) @ time, e.g. 15@21h15'

    @classmethod
    def parse(cls, value):
        return _parse_day_at(value, 'day of month', 1, 31, cls.form)

    @staticmethod
    def to_cron(fields):
        day, hour, minute = fields
        return '%d %d %d * *' % (minute, hour, day)

    @staticmethod
    def matches(fields, t):
        return (t.tm_mday, t.tm_hour, t.tm_min) == fields


def schedule_values(stype, raw):
    """Split the raw value of `<task>.<type>` into single values, with the
    rule of the scheduler type (cron expressions contain commas)."""
    splitter = getattr(stype, 'split_values', None)
    if splitter is not None:
        return splitter(raw)
    # Empty items are kept so that `17, , 18` is reported, not ignored.
    return [value.strip() for value in raw.split(',')]


class CronScheduler(_SchedulerTypeBase):
    """Fires on a cron expression: Quartz (seconds first, 6 or 7 fields)
    or Unix (5 fields), or a macro such as `@daily`."""

    implements(ISchedulerType)

    type_id = 'cron'
    form = 'a cron expression, e.g. 0 0/2 * * * ? or */5 * * * *'
    hint = ('cron expression: Quartz "sec min hour day month weekday '
            '[year]" (e.g. 0 15 10 ? * MON-FRI) or Unix "min hour day '
            'month weekday" (e.g. */5 * * * *); several separated by ;')

    @staticmethod
    def split_values(raw):
        return split_expressions(raw)

    @staticmethod
    def expression_of(value):
        return value

    def isTriggerTime(self, task, currentTime):
        config = CronConfig(self.env)
        raw = config.get_schedule_value(task, self.type_id)
        if not raw:
            return False
        tz = _zone_or_none(config)
        wall = datetime(*currentTime[:5])
        instant = wall.replace(tzinfo=tz)
        before = instant - timedelta(minutes=1)
        for value in split_expressions(raw):
            try:
                nxt = self.compile(value, tz).next_after(before)
            except ValueError:
                continue
            if nxt is not None and nxt.replace(tzinfo=None) < \
                    wall + timedelta(minutes=1) and nxt.replace(
                        tzinfo=None) >= wall:
                return True
        return False


def _zone_or_none(config):
    try:
        return config.get_timezone()
    except ValueError:
        return None
