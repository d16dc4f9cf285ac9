# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Run time limits (`TASK.timeout`). On the fake clock: a run past its
limit is recorded `timeout` while it goes on, keeps its place in
max_instances, is cancelled and alerted about, and gets its real outcome
when it ends. The bundled tasks stop between tickets once cancelled. A
real `cron ticker` process does the same on SQLite and PostgreSQL."""

import os
import threading
import time
from datetime import datetime, timedelta

import pytest
from trac.core import Component, implements
from trac.ticket.api import ITicketChangeListener

from traccron import dispatcher, history as h
from traccron.api import ITaskEventListener, current_run
from traccron.core import Core
from traccron.dispatcher import RunRegistry, install_registry
from traccron.housekeeping import LeaseWatch
from traccron.notification import CronMailer
from traccron.tasks.auto_postpone import AutoPostponeTask
from traccron.tasks.sleeping_ticket import SleepingTicketTask
from traccron.tasks.ticket_deadline import TicketDeadlineTask
from traccron.tasks.unreachable_milestone import UnreachableMilestoneTask

from smtp import add_milestone, add_ticket, run_task
from support import (HOLDING, UTC, FakeClock, HoldingListener, S, StubTask,
                     day, gone_pid, make_env, make_stub, primed_ticker, rows,
                     tick_at, us, wait_for)
from test_faults import fault_uri, make_fault_env, tickers  # noqa: F401
from tracd import report

T0 = datetime(2027, 3, 1, tzinfo=UTC)


class SlowTask(StubTask):
    """Runs until the test releases it; fails when told to."""

    task_id = 'slow'

    started = threading.Event()
    release = threading.Event()
    fail = False

    def wake_up(self, *args):
        SlowTask.started.set()
        SlowTask.release.wait(10)
        if SlowTask.fail:
            raise RuntimeError('the slow task broke')


class PoliteTask(StubTask):
    """Works in steps until its run is cancelled, and says so."""

    task_id = 'polite'

    started = threading.Event()

    def wake_up(self, *args):
        run = current_run()
        PoliteTask.started.set()
        steps = 0
        while not run.cancelled and steps < 1000:
            time.sleep(0.01)    # a step of its work
            steps += 1
        run.message = 'stopped early: time limit reached'


class AlertListener(Component):
    """Keeps the alerts it is told."""

    implements(ITaskEventListener)

    alerts = []
    block = None        # an Event to wait for in onTaskAlert
    waiting = False

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        pass

    def onTaskAlert(self, alert):
        if AlertListener.block is not None:
            AlertListener.waiting = True
            AlertListener.block.wait(10)
        AlertListener.alerts.append(alert)

    def getId(self):
        return 'alert_keeper'

    def getDescription(self):
        return self.__doc__


@pytest.fixture(autouse=True)
def reset():
    SlowTask.started = threading.Event()
    SlowTask.release = threading.Event()
    SlowTask.fail = False
    PoliteTask.started = threading.Event()
    AlertListener.alerts = []
    AlertListener.block = None
    AlertListener.waiting = False
    HoldingListener.reset()
    yield
    SlowTask.release.set()
    if AlertListener.block is not None:
        AlertListener.block.set()
    HoldingListener.release()


@pytest.fixture
def registry():
    """Install a run registry on a fake clock, without a thread: the test
    calls `housekeep` itself."""
    installed = []

    def install(env, clock):
        mine = RunRegistry(env.path, clock=clock, auto=False)
        installed.append((env.path, install_registry(env.path, mine)))
        return mine
    yield install
    for path, previous in installed:
        install_registry(path, previous)


def shut(env):
    """Shut `env` down once the alerts told in threads of their own are
    told (a thread still querying would lose its connection)."""
    assert wait_for(lambda: not [t for t in threading.enumerate()
                                 if t.name == 'traccron-alert'])
    env.shutdown()


def slow_env(tmp_path, **config):
    settings = {'timezone': 'UTC', 'lease_seconds': '300',
                'slow.timeout': '1'}
    settings.update(config)
    return make_env(tmp_path / 'env', enable=['test_timeout.*', HOLDING],
                    config=settings)


def test_a_run_past_its_limit_is_timeout_while_it_goes_on_then_ends(
        tmp_path, registry):
    env = slow_env(tmp_path, **{'slow.cron': '*/2 * * * * ?'})
    clock = FakeClock(T0.timestamp() - 1)
    mine = registry(env, clock)
    ticker, _ = primed_ticker(env, T0, dispatcher.spawn_thread, clock,
                              registry=mine)
    tick_at(ticker, clock, T0)
    assert SlowTask.started.wait(5)
    run, = mine.going()
    clock.advance(0.5)
    mine.housekeep(env)
    assert h.get(env, run.id).status == 'running'
    assert not run.cancelled and AlertListener.alerts == []
    clock.advance(0.5)
    mine.housekeep(env)
    row = h.get(env, run.id)
    assert (row.status, row.ended, row.message) == (
        'timeout', None, 'still running after 1 s (timeout = 1 s)')
    assert run.timed_out and run.cancelled
    # Told in a thread of its own: the registry goes on meanwhile.
    alert, = wait_for(lambda: AlertListener.alerts)
    assert (alert.kind, alert.task_id, alert.run, alert.message) == (
        'timeout', 'slow', run, 'still running after 1 s (timeout = 1 s)')
    # The run keeps its place in max_instances (1): the next occurrence
    # is skipped, and the run is still heartbeated.
    tick_at(ticker, clock, T0 + timedelta(seconds=2))
    first, second = rows(env, 'slow')
    assert (second.fire_time, second.status) == (
        us(T0 + timedelta(seconds=2)), 'skipped')
    beat = h.get(env, run.id).heartbeat
    clock.advance(100.5)
    mine.housekeep(env)
    assert h.get(env, run.id).heartbeat > beat
    assert len(AlertListener.alerts) == 1       # told once
    # It ends at last, 3 s after it started: its real outcome is added.
    clock.set((T0 + timedelta(seconds=3)).timestamp())
    SlowTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).ended is not None)
    row = h.get(env, run.id)
    assert (row.status, row.ended, row.message) == (
        'timeout', us(T0) + 3 * S,
        'still running after 1 s (timeout = 1 s)\n'
        'finished after 3 s: success')
    assert run.success and not row.going
    assert mine.runs() == []
    shut(env)


def test_a_run_past_its_limit_that_fails_keeps_its_traceback(
        tmp_path, registry):
    env = slow_env(tmp_path)
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    SlowTask.fail = True
    run = Core(env).run_now('slow', clock=clock)
    assert SlowTask.started.wait(5)
    clock.advance(1)
    mine.housekeep(env)
    clock.advance(1)
    SlowTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).ended is not None)
    row = h.get(env, run.id)
    assert row.status == 'timeout'
    assert row.message.startswith(
        'still running after 1 s (timeout = 1 s)\n'
        'finished after 2 s: failure\nTraceback')
    assert row.message.endswith('RuntimeError: the slow task broke\n')
    assert wait_for(lambda: len(AlertListener.alerts) == 2)
    assert sorted(a.kind for a in AlertListener.alerts) == ['failure',
                                                           'timeout']
    shut(env)


def test_a_task_that_checks_cancelled_stops_at_its_limit_and_says_so(
        tmp_path, registry):
    env = slow_env(tmp_path, **{'polite.timeout': '1'})
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('polite', clock=clock)
    assert PoliteTask.started.wait(5)
    clock.advance(1)
    mine.housekeep(env)
    assert wait_for(lambda: h.get(env, run.id).ended is not None)
    row = h.get(env, run.id)
    assert (row.status, row.message) == (
        'timeout', 'still running after 1 s (timeout = 1 s)\n'
        'finished after 1 s: success\n'
        'stopped early: time limit reached')
    shut(env)


def test_the_registry_wakes_up_for_the_nearest_time_limit(
        tmp_path, registry):
    env = slow_env(tmp_path, **{'slow.timeout': '30'})
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('slow', clock=clock)
    assert SlowTask.started.wait(5)
    # Called when it asks to be, it marks the run at its limit, not at
    # the next heartbeat (100 s).
    while True:
        marked_at = clock.now
        wait = mine.housekeep(env)
        if h.get(env, run.id).status != 'running':
            break
        clock.advance(wait)
    assert marked_at - T0.timestamp() == pytest.approx(30)
    assert h.get(env, run.id).message == \
        'still running after 30 s (timeout = 30 s)'
    SlowTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).ended is not None)
    shut(env)


def test_a_run_without_a_limit_is_never_marked(tmp_path, registry):
    env = slow_env(tmp_path, **{'slow.timeout': '0'})
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('slow', clock=clock)
    assert SlowTask.started.wait(5)
    for _ in range(5):
        clock.advance(100)
        mine.housekeep(env)
    assert h.get(env, run.id).status == 'running' and not run.cancelled
    SlowTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).status == 'success')
    shut(env)


def test_a_run_that_ended_before_its_limit_is_checked_keeps_its_outcome(
        tmp_path, registry):
    env = slow_env(tmp_path)
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    HoldingListener.hold = threading.Event()
    run = Core(env).run_now('slow', clock=clock)
    SlowTask.release.set()
    # The task returned; its listeners are called, its outcome not yet
    # written, when its limit passes.
    assert HoldingListener.holding.wait(5)
    clock.advance(5)
    mine.housekeep(env)
    assert h.get(env, run.id).status == 'running' and not run.cancelled
    HoldingListener.hold.set()
    assert wait_for(lambda: h.get(env, run.id).status == 'success')
    assert AlertListener.alerts == []
    shut(env)


def test_a_mark_the_database_refused_is_made_at_the_next_call(
        tmp_path, registry):
    env = slow_env(tmp_path)
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('slow', clock=clock)
    assert SlowTask.started.wait(5)
    clock.advance(1)
    env.db_transaction('ALTER TABLE cron_history RENAME TO cron_gone')
    try:
        wait = mine.housekeep(env)
    finally:
        env.db_transaction('ALTER TABLE cron_gone RENAME TO cron_history')
    assert wait <= dispatcher.RETRY_FIRST
    assert not run.cancelled and AlertListener.alerts == []
    clock.advance(wait)
    mine.housekeep(env)
    assert h.get(env, run.id).status == 'timeout' and run.cancelled
    assert len(wait_for(lambda: AlertListener.alerts)) == 1
    SlowTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).ended is not None)
    shut(env)


# The history of a run past its limit -----------------------------------------

def timed_out_row(env, runner='me:1'):
    now = us(T0)
    claim, = h.claim(env, [h.Claim('slow', 'daily', now, now)], runner, now)
    assert h.mark_timeout(env, claim.id, 'still running after 1 s')
    return claim.id


def test_a_row_past_its_limit_counts_as_going_on_until_it_ends():
    env = make_stub()
    id = timed_out_row(env)
    assert h.running_counts(env, 'me:1') == {'slow': (1, 1)}
    assert [r[0] for r in h.running_rows(env)] == [id]
    h.purge(env, us(T0) + 3600 * S)
    h.clear(env, keep_after=us(T0) + 3600 * S)
    assert h.get(env, id).going
    assert not h.mark_timeout(env, id, 'twice')     # marked once
    h.heartbeat(env, [id], 12345)
    assert h.get(env, id).heartbeat == 12345
    h.finish(env, id, us(T0) + 1830 * S, 'success', 'all done',
             started=us(T0))
    row = h.get(env, id)
    assert (row.status, row.message) == (
        'timeout', 'still running after 1 s\n'
        'finished after 1,830 s: success\nall done')
    assert h.running_counts(env, 'me:1') == {} and not row.going
    h.purge(env, us(T0) + 3600 * S)
    assert h.get(env, id) is None


def test_a_row_past_its_limit_whose_process_died_is_interrupted():
    env = make_stub(config={'lease_seconds': '30'})
    host, _, token = h.parse_runner(h.runner_id())
    id = timed_out_row(env, '%s:%d/%s0000' % (host, gone_pid(), token))
    assert LeaseWatch(h.runner_id()).interrupt_gone(env, us(T0)) == [id]
    assert h.get(env, id).status == 'interrupted'


# Bundled tasks stop between tickets ------------------------------------------

class CancelOnTwelfthChange(Component):
    """Cancels the run going on when the twelfth ticket changes, as its
    time limit would."""

    implements(ITicketChangeListener)

    changes = 0

    def ticket_changed(self, ticket, comment, author, old_values):
        CancelOnTwelfthChange.changes += 1
        if CancelOnTwelfthChange.changes == 12:
            current_run().cancel()

    def ticket_created(self, ticket):
        pass

    def ticket_deleted(self, ticket):
        pass

    def ticket_comment_modified(self, ticket, cdate, author, comment,
                                old_comment):
        pass

    def ticket_change_deleted(self, ticket, cdate, changes):
        pass


@pytest.fixture
def cancel_at_mail(monkeypatch):
    """`arm(n)`: the run going on is cancelled (as its time limit would)
    once it sent its `n`th mail."""
    send = CronMailer.send
    sent = []

    def arm(n):
        def send_then_cancel(mailer, event, recipients, delivery):
            send(mailer, event, recipients, delivery)
            sent.append(recipients)
            if len(sent) == n:
                current_run().cancel()
        monkeypatch.setattr(CronMailer, 'send', send_then_cancel)
    return arm


def test_sleeping_ticket_stops_between_reminders_when_cancelled(
        task_env, smtp_server, cancel_at_mail):
    env = task_env([SleepingTicketTask],
                   notification={'smtp_default_domain': 'example.net'})
    for n in range(40):
        add_ticket(env, day(1), summary='Ticket %d' % n, status='assigned',
                   owner='owner%02d' % n)
    cancel_at_mail(12)
    row = run_task(env, 'sleeping_ticket')
    assert len(smtp_server.take()) == 12
    assert row.status == 'success'
    assert row.message.splitlines()[:2] == [
        '40 sleeping and 0 orphaned ticket(s)',
        'stopped early: time limit reached after 12 of 40 tickets']


def test_ticket_deadline_stops_between_tickets_when_cancelled(
        task_env, smtp_server, cancel_at_mail):
    env = task_env([TicketDeadlineTask], users=['alice'])
    env.config.set('ticket-custom', 'due_date', 'text')
    for n in range(40):
        add_ticket(env, day(1), summary='Ticket %d' % n, status='assigned',
                   owner='alice', due_date='2026-03-12')
    cancel_at_mail(12)
    row = run_task(env, 'ticket_deadline')
    assert len(smtp_server.take()) == 12
    assert row.message.splitlines()[:2] == [
        '12 ticket(s) warned about their due_date',
        'stopped early: time limit reached after 12 of 40 tickets']
    # The others are warned at the next run.
    run_task(env, 'ticket_deadline')
    assert len(smtp_server.take()) == 28


def test_unreachable_milestone_stops_between_mails_when_cancelled(
        task_env, smtp_server, cancel_at_mail):
    env = task_env([UnreachableMilestoneTask],
                   notification={'smtp_default_domain': 'example.net'})
    add_milestone(env, 'm1', due=day(12))
    for n in range(10):
        add_ticket(env, day(1), summary='Ticket %d' % n, milestone='m1',
                   status='assigned', owner='owner%d' % n,
                   reporter='owner%d' % n)
    cancel_at_mail(3)
    row = run_task(env, 'unreachable_milestone')
    assert len(smtp_server.take()) == 3
    assert row.message.splitlines()[:2] == [
        '1 milestone(s) due within 3 day(s) with open tickets',
        'stopped early: time limit reached after 3 of 10 mails']


def test_auto_postpone_stops_between_tickets_when_cancelled(
        task_env, smtp_server):
    CancelOnTwelfthChange.changes = 0
    env = task_env([AutoPostponeTask],
                   enable=['test_timeout.CancelOnTwelfthChange'])
    add_milestone(env, 'old', due=day(1, 2), completed=day(2, 2))
    add_milestone(env, 'next', due=day(20))
    for n in range(40):
        add_ticket(env, day(1, 1), summary='Ticket %d' % n, milestone='old')
    row = run_task(env, 'auto_postpone')
    assert row.message.splitlines()[-1] == \
        'stopped early: time limit reached after 12 of 40 tickets'
    assert env.db_query("SELECT COUNT(*) FROM ticket WHERE milestone=%s",
                        ('next',)) == [(12,)]


# A real `trac-admin ENV cron ticker` -----------------------------------------

def test_a_real_ticker_marks_a_run_at_its_limit_and_adds_its_outcome(
        tmp_path, egg, fault_uri, tickers):
    kind, uri = fault_uri
    # `slow` (of test_faults) sleeps 3 s; it fires every 10 s.
    env = make_fault_env(tmp_path, egg, uri, {
        'timezone': 'UTC', 'slow.cron': '0/10 * * * * ?',
        'slow.timeout': '1'})
    cluster = tickers(env.path, tmp_path).start_all(1)
    seen = {}
    deadline = time.time() + 40
    while time.time() < deadline and 'ended' not in seen:
        for id, started, ended, status, message in env.db_query("""
                SELECT id, started, ended, status, message FROM cron_history
                WHERE task='slow' ORDER BY id LIMIT 1"""):
            now = time.time()
            if status == 'timeout' and ended is None:
                seen.setdefault('timeout', (now - started / S, message))
            elif ended is not None:
                seen['ended'] = (now - started / S, status, message,
                                 (ended - started) / S)
        time.sleep(0.05)
    assert cluster.stop() == [0]
    with open(os.path.join(env.path, 'log', 'trac.log')) as f:
        log = f.read()
    report('%s run of 3 s with timeout = 1 s' % kind, {
        'seen timeout after s': round(seen['timeout'][0], 2),
        'seen ended after s': round(seen['ended'][0], 2),
        'duration s': round(seen['ended'][3], 2)})
    assert seen['timeout'][1] == 'still running after 1 s (timeout = 1 s)'
    assert 1 <= seen['timeout'][0] < 2
    status, message = seen['ended'][1:3]
    assert status == 'timeout'
    assert message.startswith('still running after 1 s (timeout = 1 s)\n'
                              'finished after 3')
    assert message.endswith(': success')
    assert 3 <= seen['ended'][0] < 5
    assert 'slow timeout: still running after 1 s' in log
    shut(env)


def test_a_slow_alert_does_not_hold_back_the_registry(tmp_path,
                                                      registry):
    """The timeout alert goes to a thread of its own: a listener (or a
    mail server) that takes its time does not stop the heartbeats."""
    env = slow_env(tmp_path)
    release = threading.Event()
    AlertListener.block = release
    clock = FakeClock(T0.timestamp())
    mine = registry(env, clock)
    run = Core(env).run_now('slow', clock=clock)
    assert SlowTask.started.wait(5)
    clock.advance(1)
    mine.housekeep(env)            # returns while the alert is told
    assert h.get(env, run.id).status == 'timeout'
    assert wait_for(lambda: AlertListener.waiting)
    assert AlertListener.alerts == []     # still being told
    beat = h.get(env, run.id).heartbeat
    clock.advance(101)          # lease_seconds / 3: time for a heartbeat
    mine.housekeep(env)
    assert h.get(env, run.id).heartbeat != beat
    release.set()
    SlowTask.release.set()
    assert wait_for(lambda: h.get(env, run.id).ended is not None)
    shut(env)
