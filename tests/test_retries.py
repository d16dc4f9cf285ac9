# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Retries of failed runs (`TASK.retries`, `retry_delay`,
`retry_delay_max`) on a fake clock: each attempt is a row of its own with
the occurrence's time and its attempt number, the delays double with
jitter, an attempt that would pass the next occurrence is recorded
`skipped`, and listeners hear each attempt."""

from datetime import datetime, timedelta

import pytest
from babel import Locale
from trac.core import Component, implements
from trac.perm import PermissionSystem
from trac.util.translation import deactivate, make_activable

from traccron import history as h
from traccron.admin import CronAdmin
from traccron.agenda import plan_retry, retry_delay
from traccron.api import ITaskEventListener, current_run
from traccron.core import Core
from traccron import ticker as ticker_module
from traccron.ticker import Ticker

from support import (UTC, FakeClock, S, StubTask, dispatch, inline_spawn,
                     make_env, make_stub, rows, us)

T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


class FlakyTask(StubTask):
    """Fails its first `failures` calls, then succeeds."""

    task_id = 'flaky'

    failures = 2
    calls = []

    def wake_up(self, *args):
        run = current_run()
        FlakyTask.calls.append((run.attempt, run.started))
        if len(FlakyTask.calls) <= FlakyTask.failures:
            raise RuntimeError('mail server restarting (call %d)'
                               % len(FlakyTask.calls))


class BrokenTask(StubTask):
    """Always fails."""

    task_id = 'broken'

    def wake_up(self, *args):
        raise RuntimeError('still broken')


class Recorder(Component):
    """Notes each end of a run and each alert."""

    implements(ITaskEventListener)

    ends = []
    alerts = []

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        run = current_run()
        Recorder.ends.append((run.task_id, run.attempt, success, run.final))

    def onTaskAlert(self, alert):
        Recorder.alerts.append((alert.kind, alert.task_id, alert.message))

    def getId(self):
        return 'recorder'

    def getDescription(self):
        return self.__doc__


@pytest.fixture(autouse=True)
def reset():
    FlakyTask.failures = 2
    FlakyTask.calls = []
    Recorder.ends = []
    Recorder.alerts = []


def env_with(config):
    base = {'timezone': 'UTC'}
    base.update(config)
    return make_stub(enable=[FlakyTask, BrokenTask, Recorder], config=base)


def ticker_over(env, start, runner=None):
    clock = FakeClock(start.timestamp() - 1)
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None)
    if runner:
        ticker.runner = runner
    ticker.tick()
    return ticker, clock


def run_until(ticker, clock, until):
    """Tick at each instant the ticker asks for, up to `until`."""
    while True:
        nxt = ticker.tick()
        if nxt is None or nxt > until.timestamp():
            return
        clock.set(max(nxt, clock.time()))


def test_failing_twice_then_succeeding_gives_three_attempts_with_doubling_delays():
    env = env_with({'flaky.daily': '02h00', 'flaky.retries': '3'})
    ticker, clock = ticker_over(env, T0)
    run_until(ticker, clock, T0 + timedelta(minutes=10))
    history = rows(env, 'flaky')
    assert [(r.attempt, r.status, r.fire_time) for r in history] == [
        (1, 'failure', us(T0)), (2, 'failure', us(T0)),
        (3, 'success', us(T0))]
    gaps = [(b.started - a.ended) / S for a, b in zip(history, history[1:])]
    assert 54 <= gaps[0] <= 66, gaps
    assert 108 <= gaps[1] <= 132, gaps
    assert history[1].message.startswith('retry 1 of 3')
    assert 'mail server restarting (call 2)' in history[1].message
    assert [a for a, _ in FlakyTask.calls] == [1, 2, 3]
    # Listeners heard each attempt; only the success is final.
    assert Recorder.ends == [('flaky', 1, False, False),
                             ('flaky', 2, False, False),
                             ('flaky', 3, True, True)]
    assert [a for a in Recorder.alerts if a[0] == 'failure'] == []


def retried_with_end_late(late, **config):
    """A task whose first attempt fails, `retry_delay = 60` with the
    shortest jitter (54 s), and what follows each attempt (`Workers.later`)
    done `late` seconds after it ended; returns its rows once retried."""
    FlakyTask.failures = 1
    config.update({'flaky.daily': '02h00', 'flaky.retries': '1',
                   'flaky.retry_delay': '60'})
    env = env_with(config)
    ticker, clock = ticker_over(env, T0)
    ticker.uniform = lambda a, b: a

    def later(target, *args):
        clock.advance(late)
        target(*args)
    ticker._later = later
    run_until(ticker, clock, T0 + timedelta(minutes=10))
    history = rows(env, 'flaky')
    assert [(r.attempt, r.status) for r in history] == [
        (1, 'failure'), (2, 'success')]
    return history


def test_the_retry_delay_counts_from_the_end_of_the_failed_attempt():
    """What follows a task's return may be done later (`Workers.later`
    waits for the runs due meanwhile): the retry still comes
    `retry_delay` after the attempt ended, not after that wait."""
    history = retried_with_end_late(20)
    assert (history[1].started - history[0].ended) / S == \
        pytest.approx(54, abs=0.01)


def test_a_retry_whose_end_was_handled_after_its_time_runs_at_once():
    """Not `missed`: the end came later than the retry's time (a loaded
    process), yet the retry is as due as ever."""
    history = retried_with_end_late(70, misfire_grace='5')
    assert (history[1].started - history[0].ended) / S == \
        pytest.approx(70, abs=1)


def test_the_jitter_stays_within_ten_percent_and_the_delay_is_capped():
    low = [retry_delay(n, 60, 3600, lambda a, b: a) for n in (1, 2, 3)]
    high = [retry_delay(n, 60, 3600, lambda a, b: b) for n in (1, 2, 3)]
    assert low == pytest.approx([54, 108, 216])
    assert high == pytest.approx([66, 132, 264])
    assert retry_delay(10, 60, 3600, lambda a, b: b) == 3600
    env = env_with({'flaky.daily': '02h00', 'flaky.retries': '3',
                    'flaky.retry_delay': '60'})
    ticker, clock = ticker_over(env, T0)
    ticker.uniform = lambda a, b: b        # the longest jitter
    run_until(ticker, clock, T0 + timedelta(minutes=10))
    history = rows(env, 'flaky')
    gaps = [(b.started - a.ended) / S for a, b in zip(history, history[1:])]
    assert gaps == pytest.approx([66, 132], abs=0.01)


def test_a_retry_that_would_pass_the_next_occurrence_is_skipped():
    FlakyTask.failures = 1
    env = env_with({'flaky.cron': '0 * * * * ?', 'flaky.retries': '2',
                    'flaky.retry_delay': '90'})
    ticker, clock = ticker_over(env, T0)
    run_until(ticker, clock, T0 + timedelta(seconds=70))
    history = rows(env, 'flaky')
    assert [(r.fire_time, r.attempt, r.status) for r in history] == [
        (us(T0), 1, 'failure'), (us(T0), 2, 'skipped'),
        (us(T0) + 60 * S, 1, 'success')]
    skipped = history[1]
    assert skipped.started is None
    assert skipped.message.startswith('retry 1 of 2 not made: it would '
                                      'start at 2027-03-01T02:01:')
    assert 'after the next occurrence at 2027-03-01T02:01:00+00:00' in \
        skipped.message
    # The failure was final: listeners and the alert say so.
    assert Recorder.ends[0] == ('flaky', 1, False, True)
    assert [a[:2] for a in Recorder.alerts] == [('failure', 'flaky')]


def test_without_retries_a_failure_is_one_row_and_one_alert_as_before():
    env = env_with({'broken.cron': '0/10 * * * * ?'})
    ticker, clock = ticker_over(env, T0)
    run_until(ticker, clock, T0 + timedelta(seconds=25))
    assert [(r.fire_time - us(T0), r.attempt, r.status, r.message
             .startswith('Traceback'))
            for r in rows(env, 'broken')] == [
        (0, 1, 'failure', True), (10 * S, 1, 'failure', True),
        (20 * S, 1, 'failure', True)]
    assert Recorder.ends == [('broken', 1, False, True)] * 3
    assert Recorder.alerts == [
        ('failure', 'broken', 'failed: RuntimeError: still broken')] * 3


def test_the_last_failure_says_after_how_many_attempts():
    env = env_with({'broken.daily': '02h00', 'broken.retries': '2',
                    'broken.retry_delay': '1'})
    ticker, clock = ticker_over(env, T0)
    run_until(ticker, clock, T0 + timedelta(minutes=1))
    assert [(r.attempt, r.status) for r in rows(env, 'broken')] == [
        (1, 'failure'), (2, 'failure'), (3, 'failure')]
    assert Recorder.alerts == [
        ('failure', 'broken',
         'failed after 3 attempts: RuntimeError: still broken')]


def test_a_retry_is_made_once_when_two_processes_know_of_it():
    """The process that ran the failed attempt plans the retry; a process
    started meanwhile finds the failure in the history and plans it too:
    the claim of (task, schedule, fire_time, attempt) makes it run
    once."""
    FlakyTask.failures = 1
    env = env_with({'flaky.daily': '02h00', 'flaky.retries': '1',
                    'flaky.retry_delay': '30'})
    first, clock = ticker_over(env, T0)
    clock.set(T0.timestamp())
    first.tick()       # attempt 1 fails, attempt 2 planned at +30 s
    clock.set((T0 + timedelta(seconds=5)).timestamp())
    second = Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
                    config_check=None)
    second.runner = 'second:2/abcdef0000'
    second.tick()
    assert [d.attempt for d in second.agenda.retries] == [2]
    clock.set((T0 + timedelta(seconds=40)).timestamp())
    second.tick()
    first.tick()
    assert [(r.attempt, r.status) for r in rows(env, 'flaky')] == [
        (1, 'failure'), (2, 'success')]
    assert len(FlakyTask.calls) == 2


def test_a_retry_planned_by_a_process_that_stopped_is_made_after_a_restart():
    FlakyTask.failures = 1
    env = env_with({'flaky.daily': '02h00', 'flaky.retries': '1',
                    'flaky.retry_delay': '60'})
    first, clock = ticker_over(env, T0)
    clock.set(T0.timestamp())
    first.tick()
    assert [(r.attempt, r.status, r.started) for r in rows(env, 'flaky')] \
        == [(1, 'failure', us(T0))]
    # The process stops before the retry, another starts 20 s later.
    clock.set((T0 + timedelta(seconds=20)).timestamp())
    restarted = Ticker(env.path, lambda: env, clock=clock,
                       spawn=inline_spawn, config_check=None)
    restarted.runner = 'restarted:3/abcdef0000'
    run_until(restarted, clock, T0 + timedelta(minutes=5))
    history = rows(env, 'flaky')
    assert [(r.attempt, r.status) for r in history] == [
        (1, 'failure'), (2, 'success')]
    assert 54 <= (history[1].started - history[0].ended) / S <= 66


def test_retries_of_a_manual_run_are_made_only_when_asked(capsys):
    env = env_with({'broken.retry_delay': '0', 'broken.retries': '5',
                    'flaky.retry_delay': '0'})
    clock = FakeClock(T0.timestamp())
    run = Core(env).run_now('broken', wait=True, clock=clock)
    assert run.attempt == 1 and run.final
    assert [(r.attempt, r.status) for r in rows(env, 'broken')] == [
        (1, 'failure')]
    FlakyTask.failures = 2
    assert CronAdmin(env)._do_run('--retries', '2', 'flaky') == 0
    assert [(r.schedule, r.attempt, r.status) for r in rows(env, 'flaky')] \
        == [('manual', 1, 'failure'), ('manual', 2, 'failure'),
            ('manual', 3, 'success')]
    assert len({r.fire_time for r in rows(env, 'flaky')}) == 1
    assert 'flaky: success' in capsys.readouterr().out
    FlakyTask.calls, FlakyTask.failures = [], 5
    assert CronAdmin(env)._do_run('--retries', '1', 'flaky') == 1
    err = capsys.readouterr().err
    assert 'flaky: FAILURE' in err and 'attempt 2' in err


def test_plan_retry_is_none_once_the_retries_are_spent():
    class Never(object):
        tz = UTC

        def next_after(self, dt):
            return None
    assert plan_retry(Never(), 0, 3, 2, 1.0, 0) is None
    due = plan_retry(Never(), 0, 2, 2, 1.5, 10 * S)
    assert (due.attempt, due.status, due.at) == (3, 'running', 11.5 * S)


def test_the_history_page_shows_the_attempt_of_a_retry(tmp_path,
                                                       monkeypatch):
    monkeypatch.setattr(ticker_module, 'ensure_ticker', lambda env: None)
    env = make_env(tmp_path / 'env', enable=[__name__ + '.*'], config={
        'timezone': 'UTC', 'flaky.daily': '02h00', 'flaky.retries': '3',
        'flaky.retry_delay': '1'})
    PermissionSystem(env).grant_permission('admin', 'TRAC_ADMIN')
    ticker, clock = ticker_over(env, T0)
    run_until(ticker, clock, T0 + timedelta(minutes=1))
    body = dispatch(env, '/admin/traccron/cron_history',
                    args={'task': 'flaky'}).body
    assert body.count('class="cron-attempt"') == 2
    assert 'attempt 2' in body and 'attempt 3' in body
    locale = Locale.parse('fr')
    make_activable(lambda: locale, env.path)
    try:
        french = dispatch(env, '/admin/traccron/cron_history',
                          locale=locale, args={'task': 'flaky'}).body
    finally:
        deactivate()
    assert 'tentative 3' in french


def test_a_retry_whose_claim_failed_keeps_its_attempt_number(monkeypatch):
    """The database refuses the claim of attempt 3 once: it is claimed
    again at the next wake, still attempt 3, and attempt 4 follows."""
    FlakyTask.failures = 3
    env = env_with({'flaky.daily': '02h00', 'flaky.retries': '3',
                    'flaky.retry_delay': '60'})
    ticker, clock = ticker_over(env, T0)
    real = h.claim
    refused = []

    def locked_once(env, claims, runner, now, busy=False, ended=None):
        if not refused and any(c.attempt == 3 for c in claims):
            refused.append(now)
            raise RuntimeError('database is locked')
        return real(env, claims, runner, now, busy, ended)
    monkeypatch.setattr(h, 'claim', locked_once)
    run_until(ticker, clock, T0 + timedelta(minutes=15))
    assert len(refused) == 1
    assert [(r.attempt, r.status) for r in rows(env, 'flaky')] == [
        (1, 'failure'), (2, 'failure'), (3, 'failure'), (4, 'success')]


def test_the_retry_is_handed_out_once_the_failed_attempt_is_written():
    """So that the attempt's own `running` row never makes max_instances
    skip its retry (a listener may take long in onEndTask)."""
    FlakyTask.failures = 1
    env = env_with({'flaky.daily': '02h00', 'flaky.retries': '1',
                    'flaky.retry_delay': '0'})
    ticker, clock = ticker_over(env, T0)
    seen = []
    planned = ticker._planned

    class Noting(object):
        def put(self, due):
            seen.append([(r.attempt, r.status) for r in rows(env, 'flaky')])
            planned.put(due)

        def get_nowait(self):
            return planned.get_nowait()
    ticker._planned = Noting()
    run_until(ticker, clock, T0 + timedelta(seconds=10))
    assert seen == [[(1, 'failure')]]
    assert [(r.attempt, r.status) for r in rows(env, 'flaky')] == [
        (1, 'failure'), (2, 'success')]


def test_a_retry_that_max_instances_skips_makes_the_failure_final():
    """Another run of the task holds its only place when the retry comes:
    the retry is recorded skipped, and the failure before it is told as
    final."""
    env = env_with({'broken.daily': '02h00', 'broken.retries': '1',
                    'broken.retry_delay': '30'})
    ticker, clock = ticker_over(env, T0)
    clock.set(T0.timestamp())
    ticker.tick()
    assert Recorder.alerts == []
    h.claim(env, [h.Claim('broken', 'manual', us(T0) + 10 * S,
                          us(T0) + 10 * S)], 'other:1/abcdef0000',
            us(T0) + 10 * S)
    run_until(ticker, clock, T0 + timedelta(minutes=1))
    history = [(r.schedule, r.attempt, r.status)
               for r in rows(env, 'broken')]
    assert history == [('daily', 1, 'failure'), ('manual', 1, 'running'),
                       ('daily', 2, 'skipped')]
    assert Recorder.alerts == [
        ('failure', 'broken', 'failed after 1 attempts (attempt 2 not '
         'made: the previous run was still going (max_instances = 1))')]
