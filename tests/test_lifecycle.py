# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Every run ends with its real outcome: the run lifecycle under faults,
on the fake clock. Manual runs outliving the lease, database errors at
claim and at finish, SystemExit, failed thread starts, clock jumps,
runner identity across PID namespaces, Run now and max_instances,
run_mode = local across restarts, and clearing the history."""

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from trac.core import Component, implements

from traccron import dispatcher, history as h
from traccron.admin import CronAdmin
from traccron.agenda import MAX_MISSED, Agenda
from traccron.api import ITaskEventListener
from traccron.core import Core, RunRefused
from traccron.dispatcher import RunRegistry, install_registry
from traccron.housekeeping import is_gone
from traccron.ticker import Ticker

from support import (HOLDING, UTC, FakeClock, HoldingListener, S, StubTask,
                     gone_pid, inline_spawn, make_env, make_stub,
                     primed_ticker, rows, tick_at, us, wait_for)

T0 = datetime(2027, 3, 1, tzinfo=UTC)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BlockingTask(StubTask):
    """Runs until the test releases it."""

    task_id = 'blocking'

    release = threading.Event()
    started = threading.Event()

    def wake_up(self, *args):
        BlockingTask.started.set()
        BlockingTask.release.wait(10)


class ExitTask(StubTask):
    """Calls sys.exit(3), as a careless script would."""

    task_id = 'exits'

    calls = 0

    def wake_up(self, *args):
        ExitTask.calls += 1
        raise SystemExit(3)


class TableThiefTask(StubTask):
    """Takes the history table away while it runs, so that writing its
    outcome fails (as a database that went away would)."""

    task_id = 'thief'

    def wake_up(self, *args):
        self.env.db_transaction(
            'ALTER TABLE cron_history RENAME TO cron_gone')


class CountTask(StubTask):
    """Counts its runs."""

    task_id = 'count'

    calls = 0

    def wake_up(self, *args):
        CountTask.calls += 1


class InterruptingListener(Component):
    """Raises KeyboardInterrupt when a run ends."""

    implements(ITaskEventListener)

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        raise KeyboardInterrupt('listener interrupted')

    def getId(self):
        return 'interrupting'

    def getDescription(self):
        return self.__doc__


@pytest.fixture(autouse=True)
def reset():
    BlockingTask.release = threading.Event()
    BlockingTask.started = threading.Event()
    ExitTask.calls = 0
    CountTask.calls = 0
    HoldingListener.reset()
    yield
    BlockingTask.release.set()
    HoldingListener.release()


@pytest.fixture
def registry(request):
    """The run registry of the test's environment, on a fake clock and
    without a thread: the test calls `housekeep` itself."""
    installed = []

    def install(env, clock):
        registry = RunRegistry(env.path, clock=clock, auto=False)
        installed.append((env.path, install_registry(env.path, registry)))
        return registry
    yield install
    for path, previous in installed:
        install_registry(path, previous)


def registered_ticker(env, registry, spawn=inline_spawn):
    """A primed ticker (see `primed_ticker`, at T0) with a run registry
    of its own from the `registry` fixture: (ticker, clock, registry)."""
    clock = FakeClock(T0.timestamp() - 1)
    mine = registry(env, clock)
    ticker, _ = primed_ticker(env, T0, spawn, clock, registry=mine)
    return ticker, clock, mine


def observer(env, clock, registry=None, runner='other-host:7/abcdef0000'):
    """A ticker of another process (another runner and run registry)."""
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None,
                    registry=registry or RunRegistry(env.path, clock=clock,
                                                     auto=False))
    ticker.runner = runner
    return ticker


# 1. Manual runs longer than lease_seconds -----------------------------------

def test_manual_run_longer_than_the_lease_is_heartbeated_and_succeeds(
        tmp_path, registry):
    env = make_env(tmp_path / 'env', enable=['test_lifecycle.*'],
                   config={'timezone': 'UTC', 'lease_seconds': '30'})
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('blocking', clock=clock)
    assert BlockingTask.started.wait(5)
    other = observer(env, clock)
    same_process = Ticker(env.path, lambda: env, clock=clock,
                          spawn=inline_spawn, config_check=None,
                          registry=mine)
    for _ in range(12):                  # two minutes, four leases
        other.tick()
        same_process.tick()
        clock.advance(10)
        mine.housekeep(env)
    assert h.get(env, run.id).status == 'running'
    BlockingTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).status != 'running')
    assert h.get(env, run.id).status == 'success'
    env.shutdown()


def test_run_marked_interrupted_elsewhere_keeps_its_real_outcome():
    env = make_stub()
    now = us(T0)
    claim, = h.claim(env, [h.Claim('a', 'daily', now, now)], 'me:1', now)
    h.interrupt(env, [(claim.id, None, 'its runner sent no heartbeat for '
                                       '300 s (noticed by b:2)')],
                now + 400 * S)
    assert h.get(env, claim.id).status == 'interrupted'
    h.finish(env, claim.id, now + 500 * S, 'success', 'all done')
    row = h.get(env, claim.id)
    assert (row.status, row.ended) == ('success', now + 500 * S)
    assert row.message.startswith('all done\n(marked interrupted at '
                                  '2027-03-01T00:06:40Z before it ended: '
                                  'its runner sent no heartbeat')
    assert any('had been marked interrupted' in m
               for level, m in env.log_messages if level == 'WARNING')


# 2. A database error at claim time ------------------------------------------

def test_occurrence_not_claimed_for_a_database_error_runs_within_grace():
    env = make_stub(enable=[CountTask], config={
        'timezone': 'UTC', 'count.hourly': '0'})
    ticker, clock = primed_ticker(env, T0)
    env.db_transaction('ALTER TABLE cron_history RENAME TO cron_gone')
    clock.set(T0.timestamp())
    try:
        retry_at = ticker.tick()
    finally:
        env.db_transaction('ALTER TABLE cron_gone RENAME TO cron_history')
    assert rows(env) == [] and CountTask.calls == 0
    # The database is back 2 s later, well within misfire_grace (60 s).
    clock.set(retry_at + 1.5)
    ticker.tick()
    row, = rows(env, 'count')
    assert (row.fire_time, row.status) == (us(T0), 'success')
    assert row.started == int(clock.now * S)
    assert CountTask.calls == 1


# 3. A database error when the outcome is written ----------------------------

def test_outcome_the_database_refused_is_written_again_until_it_is(
        registry):
    env = make_stub(enable=[TableThiefTask], config={
        'timezone': 'UTC', 'thief.hourly': '0'})
    ticker, clock, mine = registered_ticker(env, registry)
    tick_at(ticker, clock, T0)
    # The task ran; its outcome could not be written and is kept.
    assert any('could not record the end of run' in m
               for level, m in env.log_messages if level == 'ERROR')
    assert [r.task_id for r in mine.runs()] == ['thief']
    clock.advance(0.6)
    mine.housekeep(env)                  # the table is still gone
    assert len(mine.runs()) == 1
    env.db_transaction('ALTER TABLE cron_gone RENAME TO cron_history')
    clock.advance(1.1)
    assert mine.housekeep(env) is None   # written: nothing left to do
    row, = rows(env, 'thief')
    assert (row.fire_time, row.status) == (us(T0), 'success')
    assert mine.runs() == []


# 4. SystemExit and KeyboardInterrupt ----------------------------------------

def test_sys_exit_in_a_task_is_a_failure_and_the_next_runs_go_on():
    env = make_stub(enable=[ExitTask], config={
        'timezone': 'UTC', 'exits.cron': '0 * * * * ?'})
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *(T0 + timedelta(minutes=m) for m in range(3)))
    history = rows(env, 'exits')
    assert [(r.fire_time, r.status) for r in history] == [
        (us(T0 + timedelta(minutes=m)), 'failure') for m in range(3)]
    assert all('SystemExit: 3' in r.message for r in history)
    assert ExitTask.calls == 3


def test_keyboard_interrupt_in_a_listener_is_noted_and_the_run_recorded():
    env = make_stub(enable=[CountTask, InterruptingListener])
    run = Core(env).run_now('count', wait=True)
    row = h.get(env, run.id)
    assert row.status == 'success'
    assert 'listener interrupting failed in onEndTask' in row.message
    assert 'KeyboardInterrupt: listener interrupted' in row.message


# 5. A failed thread start ---------------------------------------------------

def test_a_run_whose_thread_cannot_start_is_a_failure_and_blocks_nothing(
        registry):
    env = make_stub(enable=[CountTask], config={
        'timezone': 'UTC', 'count.cron': '0 * * * * ?'})
    failing = [True]

    def spawn(name, target, *args):
        if failing[0]:
            raise RuntimeError("can't start new thread")
        target(*args)

    ticker, clock, mine = registered_ticker(env, registry, spawn)
    tick_at(ticker, clock, T0)
    failing[0] = False
    tick_at(ticker, clock, T0 + timedelta(minutes=1))
    first, second = rows(env, 'count')
    assert first.status == 'failure'
    assert "could not start a thread for the run: RuntimeError: can't " \
        "start new thread" in first.message
    assert second.status == 'success'
    assert mine.runs() == [] and CountTask.calls == 1


# 6. Leases that no clock can fool -------------------------------------------

def test_wall_clock_jump_of_the_observer_interrupts_no_live_run():
    env = make_stub(config={'lease_seconds': '30'})
    now = us(T0)
    live, = h.claim(env, [h.Claim('a', 'daily', now, now)],
                    'other-host:1/abcdef0000', now)
    clock = FakeClock(T0.timestamp())
    ticker = observer(env, clock, runner='me-host:2/fedcba0000')
    ticker.tick()
    clock.now += 3600        # NTP step, or an hour of skew: no time passed
    ticker.tick()
    clock.advance(20)
    ticker.tick()
    assert h.get(env, live.id).status == 'running'
    # Its process really stops beating: one lease of the observer's own
    # monotonic clock later, it is dead.
    clock.advance(11)
    ticker.tick()
    assert h.get(env, live.id).status == 'interrupted'


def test_ticker_of_the_same_process_never_interrupts_its_own_run(
        tmp_path, registry):
    env = make_env(tmp_path / 'env', enable=['test_lifecycle.*'],
                   config={'timezone': 'UTC', 'lease_seconds': '30',
                           'ticker_enabled': 'false'})
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('blocking', clock=clock)
    assert BlockingTask.started.wait(5)
    # The ticker is off: the registry beats all the same.
    clock.advance(11)
    mine.housekeep(env)
    beat = h.get(env, run.id).heartbeat
    assert beat > run.fire_time
    # Switched on again while no beat came for a long time (the registry
    # thread is stalled here): its own run is never taken for dead.
    env.config.set('traccron', 'ticker_enabled', 'true')
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None, registry=mine)
    for _ in range(5):
        ticker.tick()
        clock.advance(20)
    assert h.get(env, run.id).status == 'running'
    BlockingTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).status == 'success')
    env.shutdown()


# 7. Runner identity across PID namespaces -----------------------------------

def test_runner_ids_tell_pid_namespaces_apart():
    runner = h.runner_id()
    host, pid, token = h.parse_runner(runner)
    assert runner.startswith('%s:%d/' % (host, pid))
    assert token == h.namespace_token()
    assert h.namespace_token('boot', 4026531836) != \
        h.namespace_token('boot', 4026532999)
    assert h.namespace_token('boot-a', 1) != h.namespace_token('boot-b', 1)
    # A pid of our namespace that is gone is gone; the same pid number in
    # another namespace (a container with the same host name) tells
    # nothing: only its lease does.
    pid = gone_pid()
    assert is_gone('%s:%d/%s0000' % (host, pid, token))
    other = h.namespace_token('boot', 1)
    assert not is_gone('%s:%d/%s0000' % (host, pid, other))
    assert not is_gone('%s:%d' % (host, pid))   # older ids
    assert not is_gone(runner)


def test_live_run_of_another_pid_namespace_is_not_interrupted():
    env = make_stub(config={'lease_seconds': '30'})
    host, _, _ = h.parse_runner(h.runner_id())
    pid = gone_pid()   # no process in our namespace; in theirs it may live
    now = us(T0)
    theirs, = h.claim(env, [h.Claim('a', 'daily', now, now)],
                      '%s:%d/%s0000' % (host, pid,
                                        h.namespace_token('x', 1)), now)
    clock = FakeClock(T0.timestamp())
    ticker = observer(env, clock, runner=h.runner_id())
    ticker.tick()
    clock.advance(20)
    ticker.tick()
    assert h.get(env, theirs.id).status == 'running'


# 8. Configuration never stops the scheduler ---------------------------------

def test_invalid_numbers_leave_the_ticker_running_with_defaults(tmp_path):
    # A path of its own: each problem is logged once per path and process.
    env = make_stub(tmp_path=tmp_path, enable=[CountTask], config={
        'timezone': 'UTC', 'count.cron': '0 * * * * ?',
        'history_days': '\u00b2', 'ticker_interval': '0',
        'lease_seconds': '1.5', 'misfire_grace': 'soon'})
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *(T0 + timedelta(minutes=m) for m in range(5)))
    assert [r.status for r in rows(env, 'count')] == ['success'] * 5
    assert not any('ticker error' in m for level, m in env.log_messages)
    warnings = [m for level, m in env.log_messages if level == 'WARNING']
    for key in ('history_days', 'ticker_interval', 'lease_seconds',
                'misfire_grace'):
        assert len([m for m in warnings if '] %s = ' % key in m]) == 1, key


# 9. Run now and max_instances, run_mode = local, clearing -------------------

def test_run_now_twice_runs_once_and_says_why(tmp_path, registry):
    env = make_env(tmp_path / 'env', enable=['test_lifecycle.*'],
                   config={'timezone': 'UTC'})
    clock = FakeClock(T0.timestamp())
    registry(env, clock)
    core = Core(env)
    first = core.run_now('blocking', clock=clock)
    assert BlockingTask.started.wait(5)
    with pytest.raises(RunRefused) as refused:
        core.run_now('blocking', clock=clock)
    assert str(refused.value) == 'already running (max_instances = 1)'
    BlockingTask.release.set()
    assert wait_for(lambda: h.get(env, first.id).status == 'success')
    assert [(r.schedule, r.status) for r in rows(env, 'blocking')] == [
        ('manual', 'success')]
    env.shutdown()


def test_run_now_again_once_the_task_returned_while_its_end_is_handled(
        tmp_path, registry):
    """The first run's task has returned; a listener still holds its end
    (its row is `running`): it no longer takes the place of
    max_instances = 1 in this process, and Run now runs again."""
    env = make_env(tmp_path / 'env', enable=['test_lifecycle.*', HOLDING],
                   config={'timezone': 'UTC'})
    clock = FakeClock(T0.timestamp())
    registry(env, clock)
    HoldingListener.hold = threading.Event()
    core = Core(env)
    first = core.run_now('count', clock=clock)
    assert HoldingListener.holding.wait(5)
    assert h.get(env, first.id).status == 'running'
    second = core.run_now('count', clock=clock)
    assert second.id != first.id
    HoldingListener.hold.set()
    assert wait_for(lambda: [r.status for r in rows(env, 'count')] ==
                    ['success', 'success'])
    assert CountTask.calls == 2
    env.shutdown()


def test_local_schedule_records_its_downtime_after_a_restart():
    env = make_stub(enable=[CountTask], config={
        'timezone': 'UTC', 'count.hourly': '0', 'count.run_mode': 'local'})
    clock = FakeClock((T0 - timedelta(minutes=1)).timestamp())
    first = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                   config_check=None)
    first.tick()
    clock.set(T0.timestamp())
    first.tick()
    # The process is restarted (a new runner id) three hours later.
    clock.set((T0 + timedelta(hours=3, seconds=10)).timestamp())
    second = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None)
    second.runner = 'restarted:99/abcdef0000'
    second.tick()
    history = rows(env, 'count')
    assert [(r.status, (r.fire_time - us(T0)) // (3600 * S))
            for r in history] == [('success', 0), ('missed', 1),
                                  ('missed', 2), ('success', 3)]
    assert len({r.schedule for r in history}) == 1
    assert history[0].schedule.startswith('hourly@')


def test_clearing_the_history_keeps_the_claims_of_recent_occurrences():
    env = make_stub(enable=[CountTask], config={
        'timezone': 'UTC', 'count.cron': '0 * * * * ?'})
    clock = FakeClock((T0 - timedelta(seconds=1)).timestamp())
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None)
    lagging_clock = FakeClock(clock.now)
    lagging = observer(env, lagging_clock)
    ticker.tick()
    lagging.tick()
    tick_at(ticker, clock, T0)
    h.clear(env, keep_after=us(T0) - 61 * S)   # the last misfire_grace
    # A lagging process comes to the same occurrence after the clear.
    lagging_clock.set(T0.timestamp() + 0.5)
    lagging.tick()
    assert [(r.fire_time, r.status) for r in rows(env, 'count')] == [
        (us(T0), 'success')]
    assert CountTask.calls == 1


# Found in review: faults around the faults ----------------------------------

class _Every(object):
    """A schedule firing every `step` seconds whose `next_after` raises
    while `fail` is set (a third-party scheduler type with a bug)."""

    tz = UTC
    confirm = staticmethod(lambda dt: True)
    catch_up = False

    def __init__(self, key, step=60):
        self.key = self.task_id = key
        self.type_id = 'every'
        self.step = step
        self.fail = False

    def next_after(self, dt):
        if self.fail:
            raise RuntimeError('scheduler type bug')
        s = int(dt.timestamp())
        return datetime.fromtimestamp(s - s % self.step + self.step, UTC)


def test_a_schedule_that_raises_once_drops_no_schedule_from_the_agenda():
    good, bad = _Every('good'), _Every('bad')
    agenda = Agenda()
    agenda.load([good, bad], us(T0), 60 * S)
    # Three hours later (a suspend): the backlog of `bad` raises.
    bad.fail = True
    later = us(T0 + timedelta(hours=3))
    dues, popped = agenda.take(later, later, 60 * S)
    agenda.advance(popped)
    assert [d.schedule.key for d in dues if d.status == 'missed'] == \
        ['good'] * MAX_MISSED
    assert agenda.failing and len(agenda) == 1
    # It works again: back in the agenda at the next take.
    bad.fail = False
    dues, popped = agenda.take(later + S, later + S, 60 * S)
    agenda.advance(popped)
    assert len(agenda) == 2 and not agenda.failing
    dues, popped = agenda.take(later + 61 * S, later + 61 * S, 60 * S)
    assert sorted(d.schedule.key for d in dues) == ['bad', 'good']


def test_occurrences_kept_through_a_long_outage_stay_bounded():
    every = _Every('every', step=1)
    agenda = Agenda()
    agenda.load([every], us(T0), 60 * S)
    now = us(T0)
    for second in range(1, 3601):         # an hour without a database
        now = us(T0) + second * S
        dues = agenda.take_pending(now, 60 * S)
        taken, popped = agenda.take(now, now, 60 * S)
        agenda.advance(popped)
        agenda.retry(dues + taken)
    assert len(agenda.pending) <= MAX_MISSED + 61
    dues = agenda.take_pending(now, 60 * S)
    missed = [d.fire for d in dues if d.status == 'missed']
    assert len(missed) == MAX_MISSED
    assert missed[-1] == now - 61 * S     # the latest are the ones kept


def test_a_registry_thread_that_cannot_start_loses_no_run(monkeypatch):
    env = make_stub(enable=[CountTask], config={
        'timezone': 'UTC', 'count.cron': '0 * * * * ?'})
    clock = FakeClock((T0 - timedelta(seconds=1)).timestamp())

    def no_thread(name, target, *args):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(dispatcher, 'spawn_thread', no_thread)
    registry = RunRegistry(env.path, clock=clock)        # auto: a thread
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None, registry=registry)
    ticker.tick()
    clock.set(T0.timestamp())
    ticker.tick()
    row, = rows(env, 'count')
    assert row.status == 'success' and CountTask.calls == 1
    assert registry.runs() == []
    assert any('could not start the thread that heartbeats' in m
               for level, m in env.log_messages if level == 'ERROR')


class UnstorableTask(StubTask):
    """Fails with a message no database stores as it is: a file name
    with an undecodable byte, and a NUL."""

    task_id = 'unstorable'

    def wake_up(self, *args):
        raise ValueError('cannot read %s\0' % b'/srv/caf\xe9'.decode(
            'utf-8', 'surrogateescape'))


def test_a_message_no_database_stores_as_it_is_keeps_its_outcome():
    env = make_stub(enable=[UnstorableTask, CountTask])
    failed = Core(env).run_now('unstorable', wait=True)
    row = h.get(env, failed.id)
    assert row.status == 'failure'
    assert "ValueError: cannot read /srv/caf\\udce9\\x00" in row.message
    assert h.get(env, Core(env).run_now('count', wait=True).id).status == \
        'success'


def test_an_outcome_refused_again_and_again_is_written_plainly(
        monkeypatch, registry):
    env = make_stub(enable=[CountTask])
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    real = h.finish_all

    def picky(env, rows):
        if any(message != dispatcher.PLAIN_MESSAGE
               for id, ended, status, message, started in rows):
            raise RuntimeError('value too long for this column')
        return real(env, rows)

    # Every outcome is written through finish_all (finish included).
    monkeypatch.setattr(h, 'finish_all', picky)
    run = Core(env).run_now('count', args=['x'], wait=True, clock=clock)
    for _ in range(dispatcher.PLAIN_AFTER + 1):
        clock.advance(dispatcher.RETRY_MAX)
        mine.housekeep(env)
    row = h.get(env, run.id)
    assert (row.status, row.message) == ('success',
                                         dispatcher.PLAIN_MESSAGE)
    assert mine.runs() == []


def test_stopping_cron_ticker_writes_the_real_outcomes_it_still_holds(
        registry):
    env = make_stub(enable=[TableThiefTask, CountTask])
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('thief', wait=True, clock=clock)
    assert mine.going() == [] and len(mine.runs()) == 1   # unwritten
    env.db_transaction('ALTER TABLE cron_gone RENAME TO cron_history')
    left, unwritten = CronAdmin(env)._end_runs(mine, env.path)
    assert (left, unwritten) == ([], 0)
    assert h.get(env, run.id).status == 'success'


def test_run_now_is_not_held_back_by_a_run_of_a_process_gone(tmp_path):
    env = make_stub(enable=[CountTask], config={'ticker_enabled': 'false'})
    pid = gone_pid()
    host, _, token = h.parse_runner(h.runner_id())
    now = us(T0)
    dead, = h.claim(env, [h.Claim('count', 'manual', now, now)],
                    '%s:%d/%s0000' % (host, pid, token), now)
    run = Core(env).run_now('count', wait=True)
    assert h.get(env, run.id).status == 'success'
    assert h.get(env, dead.id).status == 'interrupted'


def test_a_failed_heartbeat_is_tried_again_soon(tmp_path, registry):
    env = make_env(tmp_path / 'env', enable=['test_lifecycle.*'],
                   config={'lease_seconds': '300'})
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('blocking', clock=clock)
    assert BlockingTask.started.wait(5)
    clock.advance(100)
    env.db_transaction('ALTER TABLE cron_history RENAME TO cron_gone')
    try:
        wait = mine.housekeep(env)
    finally:
        env.db_transaction('ALTER TABLE cron_gone RENAME TO cron_history')
    assert wait <= dispatcher.RETRY_FIRST     # not a third of the lease
    clock.advance(wait)
    mine.housekeep(env)
    assert h.get(env, run.id).heartbeat > run.fire_time
    BlockingTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).status == 'success')
    env.shutdown()


def test_an_outcome_whose_row_was_deleted_is_logged():
    env = make_stub()
    now = us(T0)
    claim, = h.claim(env, [h.Claim('a', 'daily', now, now)], 'me:1', now)
    env.db_transaction('DELETE FROM cron_history')
    h.finish(env, claim.id, now + S, 'success', 'done')
    assert any('its row had been deleted meanwhile' in m
               for level, m in env.log_messages if level == 'WARNING')


LOCAL_KEY = '''
import sys, time
from traccron.dispatcher import local_key
print(local_key(sys.argv[1]), flush=True)
time.sleep(float(sys.argv[2]))
'''


def test_local_slots_are_taken_back_after_a_restart_and_never_shared(
        tmp_path):
    def start(hold):
        return subprocess.Popen([sys.executable, '-c', LOCAL_KEY,
                                 str(tmp_path), str(hold)],
                                stdout=subprocess.PIPE, text=True,
                                cwd=ROOT)

    first = start(0)
    key = first.stdout.readline().strip()
    first.wait()
    again = start(3)      # the process restarted: the same slot
    assert again.stdout.readline().strip() == key
    other = start(0)      # while it lives, another process: another slot
    other_key = other.stdout.readline().strip()
    other.wait()
    again.wait()
    host = key.rsplit(':', 1)[0]
    assert key == '%s:0' % host and other_key == '%s:1' % host


def test_clearing_the_history_by_default_keeps_the_last_misfire_grace():
    env = make_stub(config={'misfire_grace': '60'})
    now = int(time.time()) * S
    old, recent = h.claim(env, [h.Claim('a', 'cron', now - 120 * S, None,
                                        'missed'),
                                h.Claim('a', 'cron', now - 30 * S, None,
                                        'missed')], 'me:1', now)
    h.clear(env)
    assert [r.fire_time for r in rows(env)] == [now - 30 * S]
