# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `cron` scheduler type in the ticker: seconds, lists of expressions,
errors and schedules that never fire."""

from datetime import datetime, timedelta, timezone

from traccron.core import Core
from traccron.scheduler import CronScheduler

from support import FakeClock, StubTask, fire_times, make_stub, run_ticker

UTC = timezone.utc
T0 = datetime(2027, 6, 7, 10, 0, tzinfo=UTC)  # a Monday


class CronTask(StubTask):
    """Records its arguments."""

    task_id = 'crontask'

    calls = []

    def wake_up(self, *args):
        CronTask.calls.append(args)


def run(config, seconds, start=T0):
    CronTask.calls = []
    env = make_stub(enable=[CronTask], config=dict(
        {'timezone': 'UTC', 'ticker_interval': '1000'}, **config))
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, (start + timedelta(seconds=seconds)).timestamp())
    return env


def test_seconds_field_is_honoured():
    env = run({'crontask.cron': '0/15 * * * * ?'}, 60)
    assert fire_times(env, 'crontask') == [T0 + timedelta(seconds=s)
                                           for s in (15, 30, 45, 60)]


def test_star_in_seconds_means_second_zero_as_in_the_original():
    env = run({'crontask.cron': '* 0/2 * * * ? *'}, 300)
    assert fire_times(env, 'crontask') == [T0 + timedelta(minutes=m)
                                           for m in (2, 4)]


def test_commas_inside_a_field_make_one_expression():
    env = run({'crontask.cron': '0 0 8,12 * * ?'}, 86400,
              start=datetime(2027, 6, 7, tzinfo=UTC))
    assert [f.hour for f in fire_times(env, 'crontask')] == [8, 12]


def test_several_expressions_split_on_comma_or_semicolon():
    for value in ('0 5 10 * * ?, 0 0 12 ? * MON',
                  '0 5 10 * * ? ; 0 0 12 ? * MON'):
        env = run({'crontask.cron': value, 'crontask.cron.arg': 'a, b'},
                  2 * 86400, start=datetime(2027, 6, 7, tzinfo=UTC))
        assert fire_times(env, 'crontask') == [
            datetime(2027, 6, 7, 10, 5, tzinfo=UTC),
            datetime(2027, 6, 7, 12, 0, tzinfo=UTC),
            datetime(2027, 6, 8, 10, 5, tzinfo=UTC)]
        assert CronTask.calls == [('a', 'b')] * 3


def test_same_instant_of_two_expressions_runs_once():
    env = run({'crontask.cron': '0 0 12 * * ?; 0 12 * * *'}, 86400,
              start=datetime(2027, 6, 7, tzinfo=UTC))
    assert fire_times(env, 'crontask') == [datetime(2027, 6, 7, 12,
                                                    tzinfo=UTC)]


def test_invalid_expression_is_reported_with_key_field_and_token():
    env = run({'crontask.cron': '0 5abc * * * ?; 0 0 12 * * ?'}, 86400,
              start=datetime(2027, 6, 7, tzinfo=UTC))
    warnings = [m for level, m in env.log_messages if level == 'WARNING']
    assert any('crontask.cron = 0 5abc * * * ?' in m and
               "minute field: invalid token '5abc'" in m for m in warnings), \
        warnings
    # The valid expression of the same key still fires.
    assert [f.hour for f in fire_times(env, 'crontask')] == [12]


def test_schedule_that_never_fires_is_reported():
    env = run({'crontask.cron': '0 0 0 30 2 ?'}, 60)
    problems = Core(env).check()
    assert [(p.key, p.value, p.message) for p in problems] == [
        ('crontask.cron', '0 0 0 30 2 ?', 'this schedule never fires')]
    assert any('this schedule never fires' in m
               for level, m in env.log_messages if level == 'WARNING')


def test_hint_gives_examples():
    env = make_stub()
    hint = CronScheduler(env).getHint()
    assert '0 15 10 ? * MON-FRI' in hint and '*/5 * * * *' in hint


def test_old_api_is_trigger_time_of_the_cron_type():
    env = make_stub(enable=[CronTask], config={
        'timezone': 'UTC', 'crontask.cron': '0 30 9 ? * MON-FRI'})
    stype = CronScheduler(env)
    task = CronTask(env)
    assert stype.isTriggerTime(task, datetime(2027, 6, 7, 9, 30).timetuple())
    assert not stype.isTriggerTime(task,
                                   datetime(2027, 6, 7, 9, 31).timetuple())
    # Saturday
    assert not stype.isTriggerTime(task,
                                   datetime(2027, 6, 12, 9, 30).timetuple())
