# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The ticker: when it wakes, failures, concurrency, max_instances,
scheduler types of the old API, and replacement of the Environment."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from trac.core import Component, implements
from trac.env import Environment

from traccron.api import ISchedulerType
from traccron.config import CronConfig
from traccron.ticker import Ticker

from support import (UTC, FakeClock, StubTask, fire_times, gone_pid,
                     inline_spawn, make_env, make_stub, primed_ticker, rows,
                     run_ticker, tick_at, utc)

T0 = utc(2027, 3, 1)


class FailingOnceTask(StubTask):
    """Raises on its first run only."""

    task_id = 'fails_once'

    calls = 0

    def wake_up(self, *args):
        FailingOnceTask.calls += 1
        if FailingOnceTask.calls == 1:
            raise RuntimeError('boom on the first run')


class SlowTask(StubTask):
    """Blocks until the test releases it (at most 5 s)."""

    task_id = 'a_slow'

    release = threading.Event()
    started = []

    def wake_up(self, *args):
        SlowTask.started.append(time.perf_counter())
        SlowTask.release.wait(5)


class FastTask(StubTask):
    """Notes when it starts."""

    task_id = 'b_fast'

    started = []
    done = threading.Event()

    def wake_up(self, *args):
        FastTask.started.append(time.perf_counter())
        FastTask.done.set()


class RecorderTask(StubTask):
    """Records its calls."""

    task_id = 'rec'

    calls = []

    def wake_up(self, *args):
        RecorderTask.calls.append(args)


class OldStyleEvery(Component):
    """A third-party scheduler type written for the original plugin: only
    `isTriggerTime`, reading its own value (`every N minutes`)."""

    implements(ISchedulerType)

    seen = []

    def getId(self):
        return 'every'

    def getHint(self):
        return 'every N minutes'

    def isTriggerTime(self, task, currentTime):
        OldStyleEvery.seen.append(currentTime)
        value = CronConfig(self.env).get_schedule_value(task, 'every')
        return currentTime.tm_min % int(value) == 0


class OldStyleAt(Component):
    """Old-API type comparing hour and minute of the struct_time."""

    implements(ISchedulerType)

    def getId(self):
        return 'at'

    def getHint(self):
        return 'HH:MM'

    def isTriggerTime(self, task, currentTime):
        value = CronConfig(self.env).get_schedule_value(task, 'at')
        hour, minute = map(int, value.split(':'))
        return (currentTime.tm_hour, currentTime.tm_min) == (hour, minute)


@pytest.fixture(autouse=True)
def reset_tasks():
    FailingOnceTask.calls = 0
    SlowTask.release = threading.Event()
    SlowTask.started = []
    FastTask.started = []
    FastTask.done = threading.Event()
    RecorderTask.calls = []
    OldStyleEvery.seen = []
    yield
    SlowTask.release.set()


# When the ticker wakes ------------------------------------------------------

def wake_times(config, hours, config_check=None):
    env = make_stub(enable=[RecorderTask], config=config)
    clock = FakeClock(T0.timestamp())
    woke = []
    real_wait = clock.wait

    def wait(event, timeout):
        result = real_wait(event, timeout)
        if not clock.ticker._stopping:
            woke.append(clock.now)
        return result

    clock.wait = wait
    ticker = run_ticker(env, clock, (T0 + timedelta(hours=hours)).timestamp(),
                        config_check=config_check)
    return ticker, [datetime.fromtimestamp(t, UTC) for t in woke], env


def test_idle_ticker_wakes_once_per_ticker_interval():
    ticker, woke, _ = wake_times({'ticker_interval': '1'}, 1)
    assert woke == [T0 + timedelta(minutes=m) for m in range(1, 61)]
    assert ticker.wakeups == 61  # the start, then once a minute
    ticker, woke, _ = wake_times({'ticker_interval': '15'}, 1)
    assert woke == [T0 + timedelta(minutes=m) for m in (15, 30, 45, 60)]


def test_ticker_wakes_every_5_s_for_the_trac_ini_check():
    ticker, woke, _ = wake_times({'ticker_interval': '1'}, 1,
                                 config_check=5.0)
    assert woke == [T0 + timedelta(seconds=s) for s in range(5, 3601, 5)]
    assert ticker.wakeups == 721


def test_ticker_sleeps_until_the_next_occurrence():
    ticker, woke, env = wake_times({'ticker_interval': '1440',
                                    'timezone': 'UTC',
                                    'rec.daily': '10h00, 22h00'}, 48)
    day = timedelta(days=1)
    expected = [utc(2027, 3, 1, 10), utc(2027, 3, 1, 22),
                utc(2027, 3, 2, 10), utc(2027, 3, 2, 22)]
    assert woke == expected
    assert fire_times(env, 'rec') == expected
    # Between two occurrences more than a ticker_interval apart, the
    # interval still wakes it.
    ticker, woke, env = wake_times({'ticker_interval': '600',
                                    'timezone': 'UTC',
                                    'rec.daily': '22h00'}, 24)
    assert woke == [T0 + timedelta(minutes=600), T0 + timedelta(minutes=1200),
                    utc(2027, 3, 1, 22)]
    del day


# Failures -------------------------------------------------------------------

def test_failing_task_is_recorded_with_traceback_and_runs_again():
    env = make_stub(enable=[FailingOnceTask], config={
        'timezone': 'UTC', 'fails_once.hourly': '0'})
    clock = FakeClock(T0.timestamp())
    run_ticker(env, clock, (T0 + timedelta(hours=3, minutes=1)).timestamp())
    history = rows(env, 'fails_once')
    assert [r.status for r in history] == ['failure', 'success', 'success']
    assert 'Traceback (most recent call last)' in history[0].message
    assert 'RuntimeError: boom on the first run' in history[0].message
    assert history[1].message == ''
    assert all(r.ended >= r.started for r in history)


class BrokenListener(Component):
    """A listener that raises."""

    from traccron.api import ITaskEventListener
    implements(ITaskEventListener)

    def onStartTask(self, task):
        raise ValueError('listener start broke')

    def onEndTask(self, task, success):
        raise ValueError('listener end broke')

    def getId(self):
        return 'broken_listener'

    def getDescription(self):
        return self.__doc__


class BrokenSchedulerType(Component):
    """A scheduler type that raises."""

    implements(ISchedulerType)

    def getId(self):
        return 'broken'

    def getHint(self):
        return ''

    def isTriggerTime(self, task, currentTime):
        raise KeyError('scheduler broke')


def test_broken_listener_and_scheduler_never_stop_the_ticker():
    env = make_stub(enable=[RecorderTask, BrokenListener, BrokenSchedulerType],
                    config={'timezone': 'UTC', 'rec.hourly': '0',
                            'rec.broken': 'x'})
    clock = FakeClock((T0 + timedelta(minutes=1)).timestamp())
    run_ticker(env, clock, (T0 + timedelta(hours=2, minutes=1)).timestamp())
    history = rows(env, 'rec')
    assert [(r.schedule, r.status) for r in history] == \
        [('hourly', 'success')] * 2
    assert 'listener broken_listener failed in onStartTask' in \
        history[0].message
    assert 'ValueError: listener end broke' in history[0].message
    errors = [m for level, m in env.log_messages if level == 'ERROR']
    assert any('scheduler type broken failed' in m for m in errors)


# Concurrency ----------------------------------------------------------------

def test_slow_task_does_not_delay_another_due_at_the_same_instant(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_ticker.*'],
                   config={'timezone': 'UTC', 'a_slow.hourly': '0',
                           'b_fast.hourly': '0'})
    ticker, clock = primed_ticker(env, T0, spawn=None)
    tick_at(ticker, clock, T0)
    assert FastTask.done.wait(5)
    # The fast one finishes while the slow one (handed over first: tasks
    # are dispatched by id) is still running.
    deadline = time.time() + 5
    while len(ticker.active_runs()) > 1 and time.time() < deadline:
        time.sleep(0.01)
    assert [r.task_id for r in ticker.active_runs()] == ['a_slow']
    # Measured from the start of the slow task, so that the time of the
    # claim in the database does not count.
    delay = FastTask.started[0] - SlowTask.started[0]
    assert delay < 0.050, 'fast task started %.1f ms after the slow one' % (
        delay * 1e3)
    SlowTask.release.set()
    deadline = time.time() + 10
    while ticker.active_runs() and time.time() < deadline:
        time.sleep(0.01)
    assert sorted((r.task, r.status) for r in rows(env)) == \
        [('a_slow', 'success'), ('b_fast', 'success')]
    env.shutdown()


@pytest.mark.parametrize('max_instances,expected', [
    ('1', ['success', 'skipped']),
    ('2', ['success', 'success']),
])
def test_max_instances_skips_an_overlapping_occurrence(tmp_path,
                                                      max_instances,
                                                      expected):
    env = make_env(tmp_path / 'env', enable=['test_ticker.*'],
                   config={'timezone': 'UTC', 'a_slow.hourly': '0, 1',
                           'a_slow.max_instances': max_instances})
    ticker, clock = primed_ticker(env, T0, spawn=None)
    tick_at(ticker, clock, T0, T0 + timedelta(minutes=1))
    SlowTask.release.set()
    deadline = time.time() + 10
    while ticker.active_runs() and time.time() < deadline:
        time.sleep(0.01)
    history = rows(env, 'a_slow')
    assert [r.status for r in history] == expected
    assert [r.fire_time for r in history] == \
        [int(T0.timestamp() * 1e6), int(T0.timestamp() * 1e6) + 60000000]
    if expected[1] == 'skipped':
        assert 'max_instances = 1' in history[1].message
        assert history[1].started is None
    env.shutdown()


# Scheduler types of the old API ---------------------------------------------

def test_old_api_scheduler_type_fires_at_the_right_minute():
    env = make_stub(enable=[RecorderTask, OldStyleEvery], config={
        'timezone': 'UTC', 'rec.every': '20', 'rec.every.arg': 'x'})
    clock = FakeClock((T0 + timedelta(seconds=30)).timestamp())
    run_ticker(env, clock, (T0 + timedelta(hours=2, seconds=-1)).timestamp())
    assert fire_times(env, 'rec') == [T0 + timedelta(minutes=m)
                                      for m in (20, 40, 60, 80, 100)]
    assert RecorderTask.calls == [('x',)] * 5
    # Asked once per minute, on the minute.
    assert len(OldStyleEvery.seen) == 119
    assert all(t.tm_sec == 0 for t in OldStyleEvery.seen)


def test_old_api_scheduler_type_gets_time_in_the_configured_zone():
    env = make_stub(enable=[RecorderTask, OldStyleAt], config={
        'timezone': 'Asia/Kolkata', 'rec.at': '10:30'})
    clock = FakeClock(T0.timestamp())
    run_ticker(env, clock, (T0 + timedelta(days=2)).timestamp())
    # 10:30 in India (UTC+05:30) is 05:00 UTC.
    assert fire_times(env, 'rec') == [utc(2027, 3, 1, 5), utc(2027, 3, 2, 5)]


# A new Environment after trac.ini changed ----------------------------------

def test_replaced_environment_carries_on_without_gap_or_double(tmp_path):
    path = tmp_path / 'env'
    env1 = make_env(path, enable=['test_ticker.*'],
                    config={'timezone': 'UTC', 'rec.hourly': '0'})
    current = {'env': env1}
    clock = FakeClock((T0 - timedelta(seconds=1)).timestamp())
    ticker = Ticker(str(path), lambda: current['env'], clock=clock,
                    spawn=inline_spawn, config_check=None)
    ticker.tick()

    def replace(value):
        config = current['env'].config
        config.set('traccron', 'rec.hourly', value)
        config.save()
        current['env'] = Environment(str(path))

    # trac.ini changes just before 01:00 is handled: the occurrence due
    # meanwhile still runs, once, with the new Environment.
    replace('0, 30')
    clock.set((T0 + timedelta(seconds=5)).timestamp())
    ticker.tick()
    replace('0, 30')
    clock.set((T0 + timedelta(seconds=10)).timestamp())
    ticker.tick()
    clock.set((T0 + timedelta(minutes=30)).timestamp())
    ticker.tick()
    replace('15')
    clock.set((T0 + timedelta(minutes=45)).timestamp())
    ticker.tick()
    clock.set((T0 + timedelta(minutes=75)).timestamp())
    ticker.tick()
    assert fire_times(current['env'], 'rec') == \
        [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=75)]
    assert len(RecorderTask.calls) == 3


# Late occurrences, purge, database trouble -----------------------------------

def test_occurrence_later_than_misfire_grace_is_recorded_missed():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0, 10', 'misfire_grace': '30'})
    ticker, clock = primed_ticker(env, T0)
    clock.set((T0 + timedelta(seconds=30)).timestamp())  # within grace
    ticker.tick()
    clock.set((T0 + timedelta(minutes=10, seconds=31)).timestamp())  # late
    ticker.tick()
    history = rows(env, 'rec')
    assert [(r.status, r.fire_time) for r in history] == [
        ('success', int(T0.timestamp()) * 1000000),
        ('missed', int((T0 + timedelta(minutes=10)).timestamp()) * 1000000)]
    assert 'started too late: 31.000 s' in history[1].message
    assert len(RecorderTask.calls) == 1


def test_ticker_purges_rows_older_than_history_days():
    from traccron import history as h
    env = make_stub(enable=[RecorderTask], config={'history_days': '30'})
    now = int(T0.timestamp()) * 1000000
    day = 86400 * 1000000
    old, recent = h.claim(env, [h.Claim('rec', 'daily', now - 31 * day,
                                        now - 31 * day),
                                h.Claim('rec', 'daily', now - 29 * day,
                                        now - 29 * day)], 'x:1', now)
    for claim in (old, recent):
        h.finish(env, claim.id, claim.started + 1, 'success')
    clock = FakeClock(T0.timestamp())
    Ticker(env.path, lambda: env, clock=clock, config_check=None).tick()
    assert [r.id for r in rows(env)] == [recent.id]


def test_occurrence_the_database_could_not_claim_is_recorded_missed():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0, 30'})
    ticker, clock = primed_ticker(env, T0)
    env.db_transaction('ALTER TABLE cron_history RENAME TO cron_gone')
    try:
        clock.set(T0.timestamp())
        deadline = ticker.tick()
        # The ticker carries on, and tries the claim again soon.
        assert deadline is not None and clock.now < deadline < clock.now + 1
        assert any('could not claim 1 occurrence' in m
                   for level, m in env.log_messages if level == 'ERROR')
    finally:
        env.db_transaction('ALTER TABLE cron_gone RENAME TO cron_history')
    # The database answers again only after misfire_grace: the occurrence
    # is recorded missed, never silently absent; the next one runs.
    clock.set((T0 + timedelta(minutes=30)).timestamp())
    ticker.tick()
    assert [(r.status, r.fire_time) for r in rows(env, 'rec')] == [
        ('missed', int(T0.timestamp()) * 1000000),
        ('success', int((T0 + timedelta(minutes=30)).timestamp()) * 1000000)]
    assert 'could not be reached' in rows(env, 'rec')[0].message
    assert len(RecorderTask.calls) == 1


# After downtime: missed occurrences, catch_up ----------------------------------

def _run_then_stop(env, start, end):
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, end.timestamp())


def _restart(env, at, runner=None):
    clock = FakeClock(at.timestamp())
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None)
    if runner:
        ticker.runner = runner
    ticker.tick()
    return ticker


def test_downtime_is_recorded_missed_from_the_history():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0'})
    _run_then_stop(env, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    assert fire_times(env, 'rec') == [T0]
    # Down from 00:01 until 05:00:10: 01:00-04:00 are missed; 05:00 is
    # only 10 s late (misfire_grace 60 s) and runs.
    _restart(env, T0 + timedelta(hours=5, seconds=10))
    history = rows(env, 'rec')
    assert [(r.status, datetime.fromtimestamp(r.fire_time / 1e6, UTC).hour)
            for r in history] == [('success', 0), ('missed', 1),
                                  ('missed', 2), ('missed', 3),
                                  ('missed', 4), ('success', 5)]
    assert len(RecorderTask.calls) == 2


@pytest.mark.parametrize('key', ['catch_up', 'rec.catch_up'])
def test_catch_up_runs_the_missed_occurrences_once(key):
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0', key: 'true'})
    _run_then_stop(env, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    _restart(env, T0 + timedelta(hours=5, minutes=30))
    history = rows(env, 'rec')
    assert [(r.status, datetime.fromtimestamp(r.fire_time / 1e6, UTC).hour)
            for r in history] == [('success', 0), ('success', 5)]
    assert 'catch-up' in history[1].message
    assert len(RecorderTask.calls) == 2


def test_missed_rows_are_bounded_to_the_last_100():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.cron': '0 * * * * ?'})
    _run_then_stop(env, T0 - timedelta(seconds=30), T0 + timedelta(seconds=1))
    _restart(env, T0 + timedelta(days=1, seconds=30))
    missed = fire_times(env, 'rec', 'missed')
    assert len(missed) == 100
    assert missed[-1] == T0 + timedelta(days=1) - timedelta(minutes=1)
    assert missed[0] == T0 + timedelta(days=1) - timedelta(minutes=100)
    assert fire_times(env, 'rec', 'success') == [T0, T0 + timedelta(days=1)]
    assert any('more than 100 occurrences of rec.cron were missed' in m
               for level, m in env.log_messages if level == 'WARNING')


@pytest.mark.parametrize('catch_up', ['false', 'true'])
def test_two_processes_starting_after_downtime_agree(catch_up):
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0', 'catch_up': catch_up})
    _run_then_stop(env, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    later = T0 + timedelta(hours=3, minutes=20)
    _restart(env, later, runner='host-a:1')
    _restart(env, later + timedelta(seconds=1), runner='host-b:2')
    history = rows(env, 'rec')
    if catch_up == 'true':
        assert [r.status for r in history] == ['success', 'success']
        assert len(RecorderTask.calls) == 2
    else:
        assert [r.status for r in history] == ['success', 'missed', 'missed',
                                               'missed']
    assert len({(r.task, r.schedule, r.fire_time) for r in history}) == \
        len(history)


# Runs whose process is gone ------------------------------------------------

def test_run_of_a_dead_local_process_does_not_block_the_next_one(tmp_path):
    from traccron import history as h
    pid = gone_pid()  # a pid of this host and namespace that runs nothing
    host, _, token = h.parse_runner(h.runner_id())
    # A path of its own: the run registry of a path shared with earlier
    # tests of the process may hold a run whose id this row gets, and
    # runs of this process are never interrupted.
    env = make_stub(tmp_path=tmp_path, enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0'})
    before = int(T0.timestamp() * 1e6) - 3600 * 1000000
    stale = h.claim(env, [h.Claim('rec', 'hourly', before, before)],
                    '%s:%d/%s0000' % (host, pid, token),
                    int(T0.timestamp() * 1e6))[0]
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, T0)
    assert h.get(env, stale.id).status == 'interrupted'
    assert fire_times(env, 'rec', 'success') == [T0]


def test_run_without_heartbeat_for_lease_seconds_is_interrupted():
    from traccron import history as h
    env = make_stub(enable=[RecorderTask], config={'lease_seconds': '30'})
    now = int(T0.timestamp() * 1e6)
    other = h.claim(env, [h.Claim('rec', 'hourly', now, now),
                          h.Claim('rec', 'hourly', now + 1, now + 1)],
                    'elsewhere:1/abcdef0000', now)
    clock = FakeClock(T0.timestamp())
    ticker = Ticker(env.path, lambda: env, clock=clock, config_check=None)
    ticker.tick()           # first seen
    clock.advance(20)
    h.heartbeat(env, [other[1].id], now + 1)
    ticker.tick()
    clock.advance(11)       # 31 s after the first sight
    ticker.tick()
    assert h.get(env, other[0].id).status == 'interrupted'
    assert h.get(env, other[1].id).status == 'running'
    assert 'sent no heartbeat for 30 s' in h.get(env, other[0].id).message


def test_occurrence_is_claimed_ahead_and_started_on_the_instant():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0', 'ticker_interval': '1000'})
    clock = FakeClock((T0 - timedelta(minutes=30)).timestamp())
    woke = []
    real_wait = clock.wait

    def wait(event, timeout):
        result = real_wait(event, timeout)
        woke.append(clock.now)
        return result

    clock.wait = wait
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None, lead=0.05)
    clock.until = (T0 + timedelta(minutes=30)).timestamp()
    clock.ticker = ticker
    ticker.run()
    # It woke 50 ms before 01:00 to claim, and the run started at 01:00.
    assert woke[0] == T0.timestamp() - 0.05
    history = rows(env, 'rec')
    assert [(r.fire_time, r.started, r.status) for r in history] == [
        (int(T0.timestamp()) * 1000000, int(T0.timestamp()) * 1000000,
         'success')]
    assert RecorderTask.calls == [()]
