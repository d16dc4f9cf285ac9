# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Schedules: the bundled scheduler types (hourly, daily, weekly, monthly
and cron), and the compiling of the `[traccron]` values of every task
into `Schedule`s.

Each value of a bundled type is parsed once into numbers and then into
the equivalent cron expression, so that every type follows the same
daylight-saving rules (SPEC §5): `daily 02h30` behaves exactly like
`30 2 * * *`.
"""

from datetime import datetime
from functools import lru_cache

from trac.core import Component, implements

from traccron import cron
from traccron.api import ISchedulerType
from traccron.compat import EveryMinute, TriggerTimeFromCompile
from traccron.config import or_default
from traccron.cron import CronExpression, split_expressions
from traccron.settings import Problem, whole_number
from traccron.times import UTC, to_us


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


class _SchedulerTypeBase(TriggerTimeFromCompile, Component):
    """Common part of the bundled scheduler types: a value is compiled once
    per zone into an object with `next_after(dt)` (the protocol of
    `ISchedulerType`)."""

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

    @staticmethod
    def split_values(raw):
        """The single values of `raw`, split on commas; empty items are
        kept so that `17, , 18` is reported, not ignored."""
        return [value.strip() for value in raw.split(',')]

    def next_trigger_time(self, task, value, after):
        return self.compile(value, after.tzinfo).next_after(after)


@lru_cache(maxsize=4096)
def _expression(text, tz):
    return CronExpression(text, tz)


def clear_cache():
    """Forget the compiled expressions kept between compilations, so that
    the next compile of every value starts cold. A test and benchmark
    hook: the scheduler never needs it (a cached expression is immutable
    and keyed by its text and zone)."""
    _expression.cache_clear()
    cron.clear_tables()


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


# Compiling the schedules of [traccron]

class _Trigger(object):
    """A schedule value of a scheduler type that offers
    `next_trigger_time` but not `compile`."""

    def __init__(self, stype, task, value):
        self.stype, self.task, self.value = stype, task, value

    def next_after(self, dt):
        return self.stype.next_trigger_time(self.task, self.value, dt)


#: At most this many candidate instants are asked of a scheduler type by
#: `fire_times` (one that only has `isTriggerTime` is asked about every
#: minute).
CANDIDATES_MAX = 100000


def fire_times(schedule, after, count):
    """The next `count` instants (aware, in the schedule's zone) at which
    `schedule` fires strictly after `after`: the instants the ticker
    hands out, each confirmed as the ticker confirms it."""
    found = []
    dt = after
    for _ in range(CANDIDATES_MAX):
        if len(found) >= count:
            break
        dt = schedule.next_after(dt)
        if dt is None:
            break
        if schedule.confirm(dt):
            found.append(dt.astimezone(schedule.tz))
    return found


class Schedule(object):
    """The schedules of one task for one scheduler type: the instants are
    those of any of its values, each instant once."""

    __slots__ = ('task', 'task_id', 'type_id', 'args', 'triggers', 'stype',
                 'legacy', 'max_instances', 'run_mode', 'tz', 'catch_up',
                 'key', 'same')

    def __init__(self, task, stype, args, triggers, max_instances,
                 run_mode, tz, catch_up=False):
        self.task = task
        self.task_id = task.getId()
        self.stype = stype
        self.type_id = stype.getId()
        self.args = tuple(args)
        self.triggers = triggers
        #: Whether the type has only the old API (`compat.EveryMinute`).
        self.legacy = any(isinstance(t, EveryMinute) for t in triggers)
        self.max_instances = max_instances
        self.run_mode = run_mode
        self.tz = tz
        self.catch_up = catch_up
        self.key = '%s.%s' % (self.task_id, self.type_id)
        #: Equal for schedules whose occurrences are the same ones: the
        #: same compiled values (shared) in the same zone (`None`: not
        #: known, a type of the old API).
        self.same = None if self.legacy or not triggers else \
            (tuple(map(id, triggers)), id(tz))

    def next_after(self, dt):
        """The first instant strictly after `dt` (aware), or `None`."""
        dt = dt.astimezone(self.tz)
        found = None
        for trigger in self.triggers:
            nxt = trigger.next_after(dt)
            if nxt is not None and (found is None or to_us(nxt) <
                                    to_us(found)):
                found = nxt
        return found

    def confirm(self, fire):
        """Whether the occurrence at `fire` really fires: a scheduler type
        of the old API says so at each candidate minute."""
        if not self.legacy:
            return True
        return all(t.confirm(fire) for t in self.triggers)

    def history_schedule(self, local_key):
        """The value of the `schedule` column for this schedule's runs;
        `local_key` names this process for `run_mode = local` (see
        `dispatcher.local_key`)."""
        if self.run_mode == 'local':
            return '%s@%s' % (self.type_id, local_key)
        return self.type_id


def schedule_values(stype, raw):
    """Split the raw value of `<task>.<type>` into single values, with the
    rule of the scheduler type (cron expressions contain commas)."""
    splitter = getattr(stype, 'split_values', None)
    if splitter is not None:
        return splitter(raw)
    return _SchedulerTypeBase.split_values(raw)


def compile_triggers(task, stype, raw, tz, after, problems, log):
    """The triggers of the raw value `raw` of `<task>.<type>` in the zone
    `tz`. Each value that is invalid, or never fires after `after`, is
    left out and added to `problems`."""
    key = '%s.%s' % (task.getId(), stype.getId())
    compile_ = getattr(stype, 'compile', None)
    if compile_ is None and not hasattr(stype, 'next_trigger_time'):
        return [EveryMinute(stype, task, tz)]
    triggers = []
    for value in schedule_values(stype, raw):
        try:
            if compile_ is not None:
                trigger = compile_(value, tz)
            else:
                trigger = _Trigger(stype, task, value)
            first = trigger.next_after(after)
        except ValueError as e:
            problems.append(Problem(key, value, str(e)))
            continue
        except Exception as e:
            log.error('Scheduler type %s failed on %s = %s', stype.getId(),
                      key, value, exc_info=True)
            problems.append(Problem(key, value, 'scheduler type failed: %s'
                                    % e))
            continue
        if first is None:
            problems.append(Problem(key, value, 'this schedule never fires'))
            continue
        triggers.append(trigger)
    return triggers


def build_schedules(config, tasks, types, after=None, log=None):
    """Return `(schedules, problems)`: the enabled schedules of `tasks`
    (sorted) for the scheduler types `types` (sorted) as `config` (a
    `CronConfig`) sets them, and the problems of their values. `after`
    (aware) is the instant from which "never fires" is judged; default
    now. The other keys are for `settings.check`."""
    log = log or config.log
    problems = []
    tz = config.timezone
    after = (after or datetime.now(UTC)).astimezone(tz)
    schedules = []
    for task in tasks:
        task_id = task.getId()
        run_mode = or_default(config.get_run_mode, task_id)
        max_instances = or_default(config.get_max_instances, task_id)
        for stype in types:
            raw = config.get_schedule_value(task_id, stype.getId())
            if not raw:
                continue
            triggers = compile_triggers(task, stype, raw, tz, after,
                                        problems, log)
            if (triggers and config.is_task_enabled(task_id) and
                    config.is_schedule_enabled(task_id, stype.getId())):
                schedules.append(Schedule(
                    task, stype,
                    config.get_schedule_arg_list(task_id, stype.getId()),
                    triggers, max_instances, run_mode, tz,
                    config.get_catch_up(task_id)))
    return schedules, problems


def check_schedule_value(config, task, stype, raw, after=None, log=None):
    """Return the problems of `raw` as the value of `<task>.<type>`,
    without touching the configuration: the same parsing the ticker
    does."""
    if not (raw or '').strip():
        return []
    problems = []
    tz = config.timezone
    after = (after or datetime.now(UTC)).astimezone(tz)
    compile_triggers(task, stype, raw, tz, after, problems,
                     log or config.log)
    return problems
