# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Overdue alerts (`TASK.alert_after`) on a fake clock: one "overdue"
per episode and one "recovered" at the next success, whatever keeps the
task from succeeding, once across processes sharing the database."""

import contextlib
import io
import time
from datetime import timedelta

import pytest
from trac.core import Component, implements
from trac.env import Environment

from traccron import overdue
from traccron.api import ITaskEventListener
from traccron.core import Core
from traccron.history import DbHistoryStore
from traccron.monitor import CronMonitor

from support import (FakeClock, S, StubTask, make_env, make_stub,
                     primed_ticker, run_ticker, tick_at, utc)

T0 = utc(2027, 3, 1)


class FlakyTask(StubTask):
    """Fails while `failing` is true."""

    task_id = 'flaky'

    failing = True

    def wake_up(self, *args):
        if FlakyTask.failing:
            raise RuntimeError('still failing')


class AlertRecorder(Component):
    """Notes each overdue and recovered alert it is told of."""

    implements(ITaskEventListener)

    alerts = []

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        pass

    def onTaskAlert(self, alert):
        if alert.kind in ('overdue', 'recovered'):
            AlertRecorder.alerts.append(alert)

    def getId(self):
        return 'alert_recorder'

    def getDescription(self):
        return self.__doc__


@pytest.fixture(autouse=True)
def reset():
    FlakyTask.failing = True
    AlertRecorder.alerts = []


def kinds():
    return [(a.kind, a.task_id) for a in AlertRecorder.alerts]


def every_second(start, first, last):
    """The instants `first` to `last` seconds after `start`."""
    return [start + timedelta(seconds=n) for n in range(first, last + 1)]


def flaky_env(**config):
    settings = {'timezone': 'UTC', 'flaky.cron': '0/1 * * * * ?',
                'flaky.alert_after': '10s'}
    settings.update(config)
    return make_stub(enable=[FlakyTask, AlertRecorder], config=settings)


def test_a_failing_task_is_overdue_once_then_recovered_at_its_success():
    env = flaky_env()
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *every_second(T0, 0, 30))
    assert kinds() == [('overdue', 'flaky')]
    # Counted from its first run (it never succeeded), noticed at the
    # first check past 10 s.
    alert, = AlertRecorder.alerts
    assert alert.time == (T0 + timedelta(seconds=11)).timestamp() * S
    assert alert.message.startswith('no successful run for 11 s (since '
                                    '2027-03-01 00:00:00 UTC, its first '
                                    'run; it never succeeded; alert_after '
                                    '10 s)')
    FlakyTask.failing = False
    tick_at(ticker, clock, *every_second(T0, 31, 40))
    assert kinds() == [('overdue', 'flaky'), ('recovered', 'flaky')]
    recovered = AlertRecorder.alerts[1]
    assert recovered.time == (T0 + timedelta(seconds=31)).timestamp() * S
    assert recovered.message == ('succeeded at 2027-03-01 00:00:31 UTC, '
                                 'after 31 s without success')
    row, = overdue.episode_rows(env, 'flaky')
    assert row[:4] == ('flaky', T0.timestamp() * S,
                       (T0 + timedelta(seconds=11)).timestamp() * S,
                       ticker.runner)
    assert row[4:] == ((T0 + timedelta(seconds=31)).timestamp() * S,
                       ticker.runner)


def test_a_task_switched_off_goes_overdue_and_a_manual_run_recovers_it():
    env = flaky_env(**{'flaky.enabled': 'false'})
    FlakyTask.failing = False
    clock = FakeClock(T0.timestamp())
    Core(env).run_now('flaky', wait=True, clock=clock)
    # No schedule fires: only the overdue check wakes the ticker.
    ticker = run_ticker(env, clock, (T0 + timedelta(seconds=30)).timestamp())
    assert kinds() == [('overdue', 'flaky')]
    alert, = AlertRecorder.alerts
    assert T0.timestamp() + 10 < alert.time / S <= \
        T0.timestamp() + 10 + overdue.CHECK_MIN
    assert ticker.wakeups < 40
    clock.set((T0 + timedelta(seconds=31)).timestamp())
    Core(env).run_now('flaky', wait=True, clock=clock)
    clock.until = None
    ticker.tick()
    assert kinds() == [('overdue', 'flaky'), ('recovered', 'flaky')]


def test_two_processes_raise_each_alert_once_in_total():
    env = flaky_env()
    clock = FakeClock(T0.timestamp() - 1)
    tickers = [primed_ticker(env, T0, clock=clock)[0] for _ in range(2)]
    tickers[0].runner = 'one:1/aaaaaa0000'
    tickers[1].runner = 'two:2/bbbbbb0000'

    def tick_both(first, last):
        for n, instant in enumerate(every_second(T0, first, last)):
            clock.set(instant.timestamp())
            # Each process first in turn.
            for ticker in tickers[n % 2:] + tickers[:n % 2]:
                ticker.tick()

    tick_both(0, 30)
    FlakyTask.failing = False
    tick_both(31, 40)
    assert kinds() == [('overdue', 'flaky'), ('recovered', 'flaky')]
    (_, _, _, raised_by, recovered, recovered_by), = \
        overdue.episode_rows(env)
    assert {raised_by, recovered_by} <= {t.runner for t in tickers}
    assert recovered is not None


def test_a_second_episode_after_recovery_raises_again():
    env = flaky_env()
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *every_second(T0, 0, 15))
    FlakyTask.failing = False
    tick_at(ticker, clock, *every_second(T0, 16, 17))
    FlakyTask.failing = True
    tick_at(ticker, clock, *every_second(T0, 18, 40))
    FlakyTask.failing = False
    tick_at(ticker, clock, *every_second(T0, 41, 45))
    assert kinds() == [('overdue', 'flaky'), ('recovered', 'flaky')] * 2
    # The second counts from the last success, at 17 s.
    assert [row[1] for row in overdue.episode_rows(env)] == \
        [T0.timestamp() * S, (T0 + timedelta(seconds=17)).timestamp() * S]
    assert AlertRecorder.alerts[2].time == \
        (T0 + timedelta(seconds=28)).timestamp() * S


def test_the_ticker_tells_the_alerts_through_a_worker():
    """A slow listener or mail server does not hold the ticker up."""
    spawned = []

    def spawn(name, target, *args):
        spawned.append(name)
        target(*args)

    env = flaky_env()
    ticker, clock = primed_ticker(env, T0, spawn=spawn)
    tick_at(ticker, clock, *every_second(T0, 0, 15))
    assert kinds() == [('overdue', 'flaky')]
    assert spawned.count('traccron-alerts') == 1


def test_a_task_without_alert_after_raises_nothing():
    env = flaky_env(**{'flaky.alert_after': ''})
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *every_second(T0, 0, 60))
    assert kinds() == []
    assert overdue.episode_rows(env) == []


def test_the_check_interval_is_a_tenth_of_the_shortest_alert_after():
    env = flaky_env()
    assert overdue.check_interval(env, Core(env)) == overdue.CHECK_MIN
    env.config.set('traccron', 'flaky.alert_after', '2m')
    assert overdue.check_interval(env, Core(env)) == 12
    env.config.set('traccron', 'flaky.alert_after', '26h')
    assert overdue.check_interval(env, Core(env)) == overdue.CHECK_MAX
    env.config.set('traccron', 'flaky.alert_after', '')
    assert overdue.check_interval(env, Core(env)) is None


# The database decides: one winner per episode, on each database -------------

@pytest.fixture
def db_env(tmp_path, db_uri):
    env = Environment(str(tmp_path / 'env'), create=True,
                      default_data=False, options=[
                          ('trac', 'database', db_uri),
                          ('components', 'traccron.*', 'enabled'),
                          ('components', 'test_overdue.*', 'enabled'),
                          ('traccron', 'timezone', 'UTC'),
                          ('traccron', 'flaky.alert_after', '10s')])
    yield env
    env.shutdown()


def test_only_the_first_insert_and_update_of_an_episode_win(db_env):
    """Two processes that both read no open episode (or the same open
    one) before either writes: the database lets one of them raise."""
    env, now = db_env, T0.timestamp() * S
    DbHistoryStore(env).addExecution('flaky', T0.timestamp(),
                                     T0.timestamp(), True)
    since = T0.timestamp() * S
    later = now + 20 * S
    first = overdue._check_task(env, 'flaky', 10 * S, [], later, 'one')
    second = overdue._check_task(env, 'flaky', 10 * S, [], later, 'two')
    assert [a.kind for a in first] == ['overdue'] and second == []
    (id, open_since), = overdue.open_episodes(env)['flaky']
    assert open_since == since
    DbHistoryStore(env).addExecution('flaky', T0.timestamp() + 25,
                                     T0.timestamp() + 26, True)
    first = overdue._check_task(env, 'flaky', 10 * S, [(id, since)],
                                later + 10 * S, 'two')
    second = overdue._check_task(env, 'flaky', 10 * S, [(id, since)],
                                 later + 10 * S, 'one')
    assert [a.kind for a in first] == ['recovered'] and second == []
    assert overdue.open_episodes(env) == {}
    assert [row[3::2] for row in overdue.episode_rows(env)] == [('one', 'two')]


# cron status: the alert comes even where no ticker runs ---------------------

def status(env):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = CronMonitor(env)._do_status()
    return code, out.getvalue().splitlines()


def test_cron_status_raises_the_overdue_alert_once(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_overdue.*'], config={
        'timezone': 'UTC', 'flaky.alert_after': '1h'})
    start = time.time() - 2 * 3600
    DbHistoryStore(env).addExecution('flaky', start, start + 1, True)
    assert status(env)[0] == 2
    assert status(env)[0] == 2
    assert kinds() == [('overdue', 'flaky')]
    DbHistoryStore(env).addExecution('flaky', time.time() - 1, time.time(),
                                     True)
    assert status(env)[0] == 0
    assert status(env)[0] == 0
    assert kinds() == [('overdue', 'flaky'), ('recovered', 'flaky')]
    env.shutdown()
