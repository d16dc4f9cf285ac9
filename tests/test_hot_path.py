# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The path from an instant to its runs when many are due at once: the
worker threads that start runs at their time, big batches claimed ahead
and in chunks, `max_instances` decided again near the instant, outcomes
written by one thread for all, dead runners judged once."""

import contextlib
import gc
import socket
import threading
import time
from datetime import timedelta

import pytest
from trac.env import Environment

from traccron import capture, dispatcher, history, housekeeping
from traccron.agenda import Agenda, Due
from traccron.api import TaskRun, current_run
from traccron.core import Core
from traccron.cron import CronExpression
from traccron.db import CronSetup
from traccron.dispatcher import ClaimFailed, Dispatcher, RunRegistry, Workers
from traccron import ticker as ticker_module
from traccron.ticker import LEAD_MAX, Ticker

from databases import fresh_database, skip_unless
from support import (FakeClock, HoldingListener, StubTask, gone_pid,
                     inline_spawn, make_env, make_stub, primed_ticker, rows,
                     tick_at, utc)

T0 = utc(2027, 3, 1, 1)
S = 1000000


def traccron_env(tmp_path, uri):
    """A real environment on the database `uri`, with TracCron's tables."""
    env = Environment(str(tmp_path / 'env'), create=True,
                      default_data=False, options=[
                          ('trac', 'database', uri),
                          ('components', 'traccron.*', 'enabled')])
    CronSetup(env).upgrade_environment()
    return env


@contextlib.contextmanager
def lock_held(env, task):
    """Another process's claim of `task` in progress (PostgreSQL): a
    thread holds the task's advisory lock until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold():
        with env.db_transaction as db:
            db("SELECT pg_advisory_xact_lock(%s, %s)",
               (history._LOCK_CLASS, history._lock_key(task)))
            holding.set()
            release.wait(30)
        env.shutdown(threading.get_ident())

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30)
        yield
    finally:
        release.set()
        thread.join(30)
    assert not thread.is_alive()      # its transaction has ended


class RecorderTask(StubTask):
    """Records its calls."""

    task_id = 'rec'

    calls = []

    def wake_up(self, *args):
        RecorderTask.calls.append(args)


@pytest.fixture(autouse=True)
def reset_tasks():
    RecorderTask.calls = []


# The worker threads ---------------------------------------------------------

def test_many_quick_runs_due_together_share_a_few_threads():
    workers = Workers(idle=5)
    ran = []
    done = threading.Event()

    def task(i):
        ran.append((i, threading.get_ident()))
        if len(ran) == 300:
            done.set()

    at = time.time()
    for i in range(300):
        workers.spawn_at(at, 'run', task, i)
    assert done.wait(30)
    assert sorted(i for i, _ in ran) == list(range(300))
    # One thread per run (each waiting for the instant) made 300 threads
    # queue for the interpreter lock; the leader hands them out in turn.
    assert len(set(ident for _, ident in ran)) <= 30


def test_a_slow_run_never_delays_the_start_of_the_others():
    workers = Workers(idle=5)
    release, slow_started, quick_ran = (threading.Event(), threading.Event(),
                                        threading.Event())

    def slow():
        slow_started.set()
        release.wait(30)

    at = time.time()
    workers.spawn_at(at, 'slow', slow)
    workers.spawn_at(at, 'quick', quick_ran.set)
    try:
        assert slow_started.wait(30)
        assert quick_ran.wait(30)
        assert not release.is_set()
    finally:
        release.set()


def standing_workers(**kwargs):
    """Workers on a clock of the test, `clock[0]` (seconds), which stands
    still unless the test moves it; returns them and the clock."""
    clock = [1000.0]
    return Workers(idle=5, time=lambda: clock[0], **kwargs), clock


def due_together(workers, clock, target, count):
    """Queue `target(i)` for i < `count` at 1000.5, then move `clock` past
    it: they are due together (the leader sees it within 0.5 s)."""
    for i in range(count):
        workers.spawn_at(1000.5, 'run', target, i)
    clock[0] = 1001.0


def wait_until(condition, timeout=30):
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.01)


def test_quick_runs_due_together_run_one_after_another_in_one_thread():
    # On a clock that stands still once they are due, no run waits longer
    # than the grace: the thread back from each run takes the next, and
    # no other wakes.
    workers, clock = standing_workers()
    ran = []
    done = threading.Event()

    def task(i):
        ran.append((i, threading.get_ident()))
        if len(ran) == 200:
            done.set()

    due_together(workers, clock, task, 200)
    assert done.wait(30)
    assert [i for i, _ in ran] == list(range(200))
    assert len(set(ident for _, ident in ran)) == 1


def test_a_thread_rests_once_it_has_nothing_more_to_do():
    rested = []
    rest = threading.Event()

    def note_rest():
        rested.append(threading.get_ident())
        rest.set()

    workers, clock = standing_workers(rest=note_rest)
    ran = []
    due_together(workers, clock, lambda i: ran.append(
        (threading.get_ident(), list(rested))), 20)
    assert rest.wait(30)
    # Once after the runs, by the thread that ran them, not after each.
    assert len(ran) == 20 and all(r == [] for _, r in ran)
    assert rested == [ran[0][0]]


def test_the_end_of_a_run_comes_after_the_starts_due_meanwhile():
    # On a clock that stands still once they are due, one thread takes
    # the runs one after another; the ends wait until no run was taken
    # for QUIET (the other processes start theirs meanwhile).
    workers, clock = standing_workers()
    order = []
    done = threading.Event()

    def end(i):
        order.append(('end', i))
        if len(order) == 100:
            done.set()

    def task(i):
        order.append(('start', i))
        workers.later(end, i)

    due_together(workers, clock, task, 50)
    wait_until(lambda: len(order) >= 50)
    time.sleep(0.2)
    assert order == [('start', i) for i in range(50)]
    clock[0] += dispatcher.QUIET + 0.01
    assert done.wait(30)
    assert sorted(order[50:]) == [('end', i) for i in range(50)]


def test_an_end_waits_for_the_runs_due_no_longer_than_later_max():
    workers, clock = standing_workers()
    ended, release = threading.Event(), threading.Event()

    def first():
        workers.later(ended.set)
        release.wait(30)       # a slow run: the others stay due

    workers.spawn_at(1000.05, 'slow', first)
    workers.spawn_at(1000.06, 'due', lambda: None)
    clock[0] = 1000.1     # the leader sees it within 0.05 s
    try:
        wait_until(lambda: workers._after)
        time.sleep(0.2)
        assert not ended.is_set()
        clock[0] += dispatcher.LATER_MAX + 0.01
        assert ended.wait(30)
    finally:
        release.set()


def test_what_is_left_for_later_is_done_at_once_when_the_pool_drains():
    workers, clock = standing_workers()
    done, calls = threading.Event(), []

    def task():
        workers.later(lambda: calls.append(('end', threading.get_ident())))
        done.set()

    workers.spawn_at(1000.5, 'run', task)
    workers.spawn_at(1000.6, 'run', lambda: None)   # due, held back
    clock[0] = 1000.55                # the leader sees it within 0.5 s
    assert done.wait(30)
    time.sleep(0.1)
    assert calls == []                # waits for the starts (QUIET)
    workers.drain()                   # the process stops
    assert calls == [('end', threading.get_ident())]
    workers.later(calls.append, 'inline')
    assert calls[-1] == 'inline'


def test_a_thread_chosen_as_its_wait_timed_out_still_leads(monkeypatch):
    # `notify` may choose a waiter whose timeout has just expired: its
    # wait returns False, yet the wake is counted; it must lead.
    workers = Workers(idle=0.05)
    done = threading.Event()
    workers.spawn('first', lambda: None)
    time.sleep(0.01)
    real = threading.Condition.wait

    def expired(self, timeout=None):
        if self is workers._follow:
            real(self, timeout)
            return False
        return real(self, timeout)

    monkeypatch.setattr(threading.Condition, 'wait', expired)
    workers.spawn('second', done.set)
    assert done.wait(30)
    monkeypatch.setattr(threading.Condition, 'wait', real)
    assert workers._waking == 0
    ran = threading.Event()
    time.sleep(0.2)
    workers.spawn('third', ran.set)
    assert ran.wait(30)


def test_what_is_left_for_later_is_done_when_no_run_is_due_for_long():
    workers = Workers(idle=5)
    ended = threading.Event()
    workers.spawn_at(time.time() + 60, 'far', lambda: None)
    workers.spawn('now', workers.later, ended.set)
    # The leader waits for the far run: it takes the end meanwhile.
    assert ended.wait(30)


def stepped_workers():
    """Workers whose runs are due (their clock stands past 1000.5) and
    whose grace (0.1 ms) passes only as the test moves `mono[0]`
    (seconds); returns them and `mono`."""
    mono = [0.0]
    return Workers(idle=5, time=lambda: 1001.0, monotonic=lambda: mono[0],
                   grace=0.0001, busy=False), mono


def step_until_still(mono, count, seconds=0.0002, steps=60):
    """Move `mono[0]` on by `seconds` at a time, each time waiting for the
    threads to take the runs due (0.5 s at most), until `count()` stays
    the same for 3 steps (`steps` at most); returns `count()`."""
    seen, still = count(), 0
    for _ in range(steps):
        mono[0] += seconds
        deadline = time.time() + 0.5
        while count() == seen and time.time() < deadline:
            time.sleep(0.005)
        now = count()
        still = still + 1 if now == seen else 0
        seen = now
        if still >= 3:
            break
    return seen


def blocked_runs(workers, count, release):
    """Queue `count` runs that each wait for `release`; returns the list
    of the runs started."""
    started = []

    def task(i):
        started.append(i)
        release.wait(30)

    for i in range(count):
        workers.spawn_at(1000.5, 'run', task, i)
    return started


def test_threads_that_all_run_what_began_just_now_get_no_more_threads():
    """Quick runs that wait for the interpreter look slow: a thread more
    for each would make thousands. Once THREADS_FREE threads run what
    began less than SLOW ago, the runs due wait for one of them; once
    these are slow (they wait for a server, say), threads are started for
    the runs due again."""
    workers, mono = stepped_workers()
    release = threading.Event()
    extra = 4
    try:
        started = blocked_runs(workers, dispatcher.THREADS_FREE + extra,
                               release)
        # Each grace passed: one more thread, up to THREADS_FREE (within
        # SLOW of the first).
        assert step_until_still(mono, lambda: len(started), steps=40) == \
            dispatcher.THREADS_FREE
        assert mono[0] < dispatcher.SLOW
        assert workers.behind()
        # SLOW later, the runs going on are slow: the others start.
        mono[0] += dispatcher.SLOW
        assert step_until_still(mono, lambda: len(started)) == \
            dispatcher.THREADS_FREE + extra
        assert sorted(started) == list(range(dispatcher.THREADS_FREE +
                                             extra))
        assert not workers.behind()
    finally:
        release.set()


def test_the_workers_tell_once_the_runs_due_have_all_started():
    workers, mono = stepped_workers()
    release, ran = threading.Event(), []
    caught_up = threading.Event()
    try:
        assert not workers.behind(caught_up.set)
        workers.spawn_at(1000.5, 'slow', release.wait, 30)
        for i in range(3):
            workers.spawn_at(1000.5, 'run', ran.append, i)
        # The slow run holds one thread; the grace has not passed.
        wait_until(lambda: workers._running == 1)
        assert workers.behind(caught_up.set)
        time.sleep(0.05)
        assert ran == [] and not caught_up.is_set()
        # Asked again without a callback: the one given is kept.
        assert workers.behind()
        mono[0] += 0.01
        assert caught_up.wait(10)
        wait_until(lambda: len(ran) == 3)
        assert sorted(ran) == [0, 1, 2]
        assert not workers.behind(caught_up.set)
    finally:
        release.set()


def test_a_ticker_behind_its_runs_claims_nothing_until_they_have_started(
        tmp_path):
    """The next occurrence of a per-second task is not claimed while the
    run before it waits for a thread (it would count for max_instances,
    and the occurrence be recorded `skipped`): it is claimed late, once
    the run has started, and runs."""
    env = make_env(tmp_path / 'env', enable=['test_hot_path.RecorderTask'],
                   config={'timezone': 'UTC', 'rec.cron': '0/1 * * * * ?',
                           'ticker_interval': '1000'})
    clock = FakeClock(T0.timestamp() - 1)
    wall, mono = [T0.timestamp() - 1], [0.0]
    workers = Workers(idle=5, time=lambda: wall[0],
                      monotonic=lambda: mono[0], busy=False)
    release = threading.Event()
    registry = RunRegistry(env.path, clock=clock, auto=False)
    with pytest.raises(ValueError):
        Ticker(env.path, lambda: env, clock=clock, spawn=inline_spawn,
               workers=workers)
    ticker = Ticker(env.path, lambda: env, clock=clock, config_check=None,
                    lead=0.05, registry=registry, workers=workers)
    try:
        ticker.tick()
        # A slow run holds the only thread; the grace stands still.
        workers.spawn('slow', release.wait, 30)
        wait_until(lambda: workers._running == 1)
        tick_at(ticker, clock, T0 - timedelta(seconds=0.05))
        wall[0] = T0.timestamp() + 0.5       # its run is due, not taken
        assert [r.status for r in rows(env, 'rec')] == ['running']
        ticker._wake.clear()
        ahead = T0 + timedelta(seconds=0.95)
        tick_at(ticker, clock, ahead)
        # Not claimed (it would be `skipped`); looked at again soon.
        assert [r.fire_time for r in rows(env, 'rec')] == [at(0)]
        assert ticker.tick() <= ahead.timestamp() + ticker_module.PACE_WAIT
        mono[0] += 0.01                       # the run before it starts
        assert ticker._wake.wait(10)
        wait_until(lambda: len(RecorderTask.calls) == 1)
        tick_at(ticker, clock, T0 + timedelta(seconds=1.2))
        wall[0] = T0.timestamp() + 1.3
        mono[0] += 0.01
        wait_until(lambda: len(RecorderTask.calls) == 2)
        assert len(RecorderTask.calls) == 2
        assert [(r.fire_time, r.status) for r in rows(env, 'rec')
                if r.status not in ('running', 'success')] == []
        assert [r.fire_time for r in rows(env, 'rec')] == [at(0), at(1)]
    finally:
        release.set()
        workers.drain()
        env.shutdown()


def test_runs_start_at_their_time_in_time_order():
    workers = Workers(idle=5)
    order = []
    done = threading.Event()
    now = time.time()

    def note(name):
        order.append((name, time.time()))
        if len(order) == 3:
            done.set()

    workers.spawn_at(now + 0.3, 'late', note, 'late')
    workers.spawn_at(now + 0.1, 'soon', note, 'soon')
    workers.spawn('now', note, 'now')
    assert done.wait(30)
    assert [name for name, _ in order] == ['now', 'soon', 'late']
    assert order[1][1] >= now + 0.1 and order[2][1] >= now + 0.3


def test_a_run_whose_thread_cannot_start_is_not_kept(monkeypatch):
    workers = Workers(idle=5)

    def no_thread(name, target, *args):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(dispatcher, 'spawn_thread', no_thread)
    with pytest.raises(RuntimeError):
        workers.spawn_at(time.time(), 'run', lambda: None)
    assert workers._heap == [] and workers._starting == 0


# Claimed ahead, in proportion to the batch -------------------------------

def test_a_big_batch_is_claimed_further_ahead_in_proportion_to_its_size():
    config = {'timezone': 'UTC', 'ticker_interval': '1000'}
    tasks = []
    for n in range(3):
        name = 'rec%d' % n
        config[name + '.hourly'] = '0'
        tasks.append(type('Rec%d' % n, (RecorderTask,), {'task_id': name}))
    env = make_stub(enable=tasks, config=config)
    start = T0 - timedelta(minutes=10)
    # 50 ms, plus twice 20 ms per run due: 3 runs -> 170 ms ahead.
    ticker, clock = primed_ticker(env, start, lead=0.05, lead_per_due=0.02)
    assert ticker.tick() == pytest.approx(T0.timestamp() - 0.17, abs=1e-3)
    # Capped: 3 runs at 1 s each would be 6 s; at most LEAD_MAX more.
    ticker, clock = primed_ticker(env, start, lead=0.05, lead_per_due=1.0)
    assert ticker.tick() == pytest.approx(T0.timestamp() - 0.05 - LEAD_MAX,
                                         abs=1e-3)


def going_elsewhere(env, task, now):
    """A run of `task` going on in another (live) process."""
    claim = history.Claim(task, 'manual', now - S, now - S)
    history.claim(env, [claim], 'elsewhere:1/abcdef0001', now)
    return claim.id


def test_max_instances_decides_again_near_the_instant_after_an_early_claim():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0', 'ticker_interval': '1000'})
    ticker, clock = primed_ticker(env, T0 - timedelta(minutes=10),
                                  lead=0.05, lead_per_due=0.2)
    early = T0 - timedelta(seconds=0.45)        # 50 ms + 2 x 200 ms
    previous = going_elsewhere(env, 'rec', int(early.timestamp() * S))
    tick_at(ticker, clock, early)
    # The previous run still went on: no row yet, the claim waits.
    assert [r.id for r in rows(env, 'rec')] == [previous]
    assert ticker.agenda.next_deferred() == int(T0.timestamp()) * S
    assert ticker.tick() == pytest.approx(T0.timestamp() - 0.05, abs=1e-3)
    # It ended before the instant: the occurrence runs.
    history.finish(env, previous, int(early.timestamp() * S) + 1, 'success')
    tick_at(ticker, clock, T0 - timedelta(seconds=0.05))
    run = rows(env, 'rec')[-1]
    assert (run.fire_time, run.status) == (int(T0.timestamp()) * S,
                                           'success')
    assert RecorderTask.calls == [()]
    assert ticker.agenda.next_deferred() is None


def ends_held(seconds, begun=False):
    """A per-second task (max_instances = 1) ticked at each of `seconds`
    after T0 while what follows each task's return (listeners, the
    outcome: `Workers.later`) waits for a thread; with `begun`, each end
    has begun in a thread of its own and hangs in a listener. Returns the
    statuses of its rows then, and after the ends were handled."""
    env = make_stub(enable=[RecorderTask, HoldingListener], config={
        'timezone': 'UTC', 'rec.cron': '0/1 * * * * ?',
        'ticker_interval': '1000'})
    clock = FakeClock(T0.timestamp() - 1)
    registry = RunRegistry(env.path, clock=clock, auto=False)
    ticker, clock = primed_ticker(env, T0, clock=clock, lead=0.05,
                                  lead_per_due=0.0001, registry=registry)
    waiting, threads = [], []

    def later(target, *args):
        if not begun:
            waiting.append((target, args))
            return
        HoldingListener.holding.clear()
        thread = threading.Thread(target=target, args=args)
        thread.start()
        threads.append(thread)
        assert HoldingListener.holding.wait(10)

    HoldingListener.reset()
    HoldingListener.hold = threading.Event()
    ticker._later = later
    try:
        tick_at(ticker, clock, *[T0 + timedelta(seconds=n)
                                 for n in seconds])
        held = [(r.fire_time, r.status) for r in rows(env, 'rec')]
    finally:
        HoldingListener.release()
        for thread in threads:
            thread.join(10)
        for target, args in waiting:
            target(*args)
        HoldingListener.reset()
    return held, [(r.fire_time, r.status) for r in rows(env, 'rec')]


def at(n):
    return int((T0 + timedelta(seconds=n)).timestamp()) * S


def test_runs_whose_end_waits_do_not_hold_back_the_next_occurrences():
    """The rows are `running` meanwhile, yet the runs have ended: the
    next occurrences run, however long the ends wait for a thread (in a
    process behind its runs, they wait behind the runs due). Then every
    outcome is written."""
    count = int(dispatcher.ENDED_GRACE) + 3
    held, after = ends_held(range(count))
    assert held == [(at(n), 'running') for n in range(count)]
    assert len(RecorderTask.calls) == count
    assert after == [(at(n), 'success') for n in range(count)]


def test_a_run_whose_end_never_begins_counts_again_at_last():
    """An end that waits for a thread twice ENDED_GRACE after its task
    returned (it fails before it begins, say) counts again: max_instances
    bounds the runs whose ends never come."""
    grace = int(dispatcher.ENDED_GRACE)
    held, after = ends_held(range(2 * grace + 2))
    assert [status for _, status in held] == \
        ['running'] * (2 * grace + 1) + ['skipped']
    assert len(RecorderTask.calls) == 2 * grace + 1


def test_a_run_whose_end_is_handled_too_long_counts_again():
    """Past ENDED_GRACE of handling (a listener that hangs), an ended run
    takes its place of max_instances again: the runs whose ends pile up
    stay bounded."""
    grace = int(dispatcher.ENDED_GRACE)
    held, after = ends_held(range(grace + 2), begun=True)
    assert [status for _, status in held] == \
        ['running'] * (grace + 1) + ['skipped']
    assert len(RecorderTask.calls) == grace + 1
    assert [status for _, status in after] == \
        ['success'] * (grace + 1) + ['skipped']


def test_an_early_claim_still_held_back_near_the_instant_is_skipped():
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.hourly': '0', 'ticker_interval': '1000'})
    ticker, clock = primed_ticker(env, T0 - timedelta(minutes=10),
                                  lead=0.05, lead_per_due=0.2)
    early = T0 - timedelta(seconds=0.45)
    going_elsewhere(env, 'rec', int(early.timestamp() * S))
    tick_at(ticker, clock, early, T0 - timedelta(seconds=0.05))
    run = rows(env, 'rec')[-1]
    assert (run.fire_time, run.status) == (int(T0.timestamp()) * S,
                                           'skipped')
    assert 'max_instances = 1' in run.message
    assert RecorderTask.calls == []


# Claimed in chunks -------------------------------------------------------

class _Schedule(object):
    """What the dispatcher reads of a schedule."""

    run_mode = 'global'
    max_instances = 0
    args = ()
    task = None

    def __init__(self, task_id):
        self.task_id = self.key = task_id

    def history_schedule(self, local_key):
        return 'cron'


def dues(count, fire):
    return [Due(_Schedule('t%02d' % n), fire) for n in range(count)]


def chunked_dispatcher(env, monkeypatch, first=0, fail_at=None,
                       busy_at=()):
    """A dispatcher of chunks of 2 that begins with chunk `first`; the
    claim number `fail_at` (1 for the first) raises, like a database
    that is locked, and those in `busy_at` find another process claiming
    their tasks. Returns it and the tasks of each claim made (with
    `busy`, whether it may be passed over)."""
    calls = []
    real_claim = history.claim

    def claim(env, claims, runner, now, busy=False, ended=None):
        calls.append([c.task for c in claims] + (['busy'] if busy else []))
        if len(calls) == fail_at:
            raise RuntimeError('database is locked')
        if busy and len(calls) in busy_at:
            return None
        return real_claim(env, claims, runner, now, busy, ended)

    monkeypatch.setattr(history, 'claim', claim)
    monkeypatch.setattr(dispatcher, 'CLAIM_CHUNK', 2)
    disp = Dispatcher(RunRegistry(env.path, auto=False), inline_spawn, None,
                      'me:1', None, punctual=False)
    disp.draw = lambda n: first
    return disp, calls


def test_a_big_batch_is_claimed_in_chunks_from_a_drawn_one(monkeypatch):
    env = make_stub()
    fire = int(T0.timestamp()) * S
    started = []
    disp, claimed = chunked_dispatcher(env, monkeypatch, first=1)
    disp.dispatch(env, dues(5, fire), fire,
                  lambda run, schedule: started.append(run.task_id))
    assert claimed == [['t02', 't03', 'busy'], ['t04', 'busy'],
                       ['t00', 't01', 'busy']]
    assert started == ['t02', 't03', 't04', 't00', 't01']


def test_a_chunk_another_process_claims_then_is_claimed_after_the_others(
        monkeypatch):
    env = make_stub()
    fire = int(T0.timestamp()) * S
    started = []
    disp, claimed = chunked_dispatcher(env, monkeypatch, busy_at=(1,))
    disp.dispatch(env, dues(5, fire), fire,
                  lambda run, schedule: started.append(run.task_id))
    # Passed over while busy, then claimed waiting for the lock.
    assert claimed == [['t00', 't01', 'busy'], ['t02', 't03', 'busy'],
                       ['t04', 'busy'], ['t00', 't01']]
    assert started == ['t02', 't03', 't04', 't00', 't01']
    assert sorted(r.task for r in history.query(env)) == \
        ['t00', 't01', 't02', 't03', 't04']


def test_on_postgresql_the_chunks_another_process_claimed_are_left_in_one_read(
        tmp_path, monkeypatch):
    """Once a chunk is found claimed elsewhere (another ticker is ahead),
    the chunks after it are counted in one read, and only those with an
    occurrence left are claimed."""
    skip_unless('postgres')
    fire = int(T0.timestamp()) * S
    with fresh_database('postgres') as uri:
        env = traccron_env(tmp_path, uri)
        theirs = [history.Claim('t%02d' % n, 'cron', fire, fire)
                  for n in (2, 3, 4, 5, 7)]
        history.claim(env, theirs, 'them:1', fire)
        calls, reads = [], []
        real_claim, real_counts = history.claim, history.claimed_counts

        def claim(env, claims, *args, **kwargs):
            calls.append([c.task for c in claims])
            return real_claim(env, claims, *args, **kwargs)

        def claimed_counts(env, groups):
            reads.append([[c.task for c in group] for group in groups])
            return real_counts(env, groups)
        monkeypatch.setattr(history, 'claim', claim)
        monkeypatch.setattr(history, 'claimed_counts', claimed_counts)
        monkeypatch.setattr(dispatcher, 'CLAIM_CHUNK', 2)
        disp = Dispatcher(RunRegistry(env.path, auto=False), inline_spawn,
                          None, 'me:1', None, punctual=False)
        disp.draw = lambda n: 0
        started = []
        disp.dispatch(env, dues(10, fire), fire,
                      lambda run, schedule: started.append(run.task_id))
        assert calls == [['t00', 't01'], ['t02', 't03'], ['t06', 't07'],
                         ['t08', 't09']]
        assert reads == [[['t04', 't05'], ['t06', 't07'], ['t08', 't09']]]
        assert started == ['t00', 't01', 't06', 't08', 't09']
        assert sorted(env.db_query(
            "SELECT task, runner FROM cron_history")) == sorted(
            [('t%02d' % n, 'me:1') for n in (0, 1, 6, 8, 9)] +
            [('t%02d' % n, 'them:1') for n in (2, 3, 4, 5, 7)])
        env.shutdown()


def test_a_batch_shared_with_other_processes_is_claimed_at_their_pace(
        monkeypatch):
    env = make_stub()
    fire = int(time.time() + 3600) * S       # far ahead: time to pace
    disp, claimed = chunked_dispatcher(env, monkeypatch, busy_at=(2,))
    disp._spawn_at = lambda *args: None      # a real ticker's dispatcher
    pauses = []
    monkeypatch.setattr(dispatcher._time, 'sleep', pauses.append)
    # Alone, it claims one chunk after another.
    disp.dispatch(env, dues(5, fire), fire, lambda run, schedule: None)
    assert pauses == []
    # A chunk was busy (another process claimed it): the next batch is
    # paced, each won chunk followed by a pause as long as its claim.
    assert len(claimed) == 4
    disp.dispatch(env, dues(5, fire + S), fire, lambda run, schedule: None)
    assert len(pauses) == 2 and all(0 <= p < 5 for p in pauses)
    # Too close to the instant, it does not wait.
    disp._shared = True
    near = int(time.time() * S)
    disp.dispatch(env, dues(5, near), near, lambda run, schedule: None)
    assert len(pauses) == 2


def test_claims_held_back_here_do_not_make_a_batch_shared(monkeypatch):
    env = make_stub()
    fire = int(time.time() + 3600) * S
    disp, claimed = chunked_dispatcher(env, monkeypatch)
    disp._spawn_at = lambda *args: None
    pauses = []
    monkeypatch.setattr(dispatcher._time, 'sleep', pauses.append)
    history.claim(env, [history.Claim('t%02d' % n, 'cron', fire - S,
                                      fire - S) for n in range(5)],
                  'me:1', fire - S)
    held = dues(5, fire)
    for due in held:
        due.schedule.max_instances = 1
    # Claimed early while the runs before them go on: all deferred.
    assert len(disp.dispatch(env, held, fire - S, lambda run, schedule:
                             None, early=fire - S)) == 5
    disp.dispatch(env, dues(5, fire + S), fire, lambda run, schedule: None)
    assert pauses == []


def test_a_chunk_that_fails_after_one_was_passed_over_leaves_both_due(
        monkeypatch):
    env = make_stub()
    fire = int(T0.timestamp()) * S
    disp, claimed = chunked_dispatcher(env, monkeypatch, busy_at=(1,),
                                       fail_at=2)
    with pytest.raises(ClaimFailed) as failed:
        disp.dispatch(env, dues(5, fire), fire, lambda run, schedule: None)
    assert sorted(d.schedule.task_id for d in failed.value.unclaimed) == \
        ['t00', 't01', 't02', 't03', 't04']


def test_a_chunk_the_database_refuses_leaves_the_chunks_before_it_running(
        monkeypatch):
    env = make_stub()
    fire = int(T0.timestamp()) * S
    started = []
    disp, _ = chunked_dispatcher(env, monkeypatch, fail_at=2)
    with pytest.raises(ClaimFailed) as failed:
        disp.dispatch(env, dues(5, fire), fire,
                      lambda run, schedule: started.append(run.task_id))
    assert started == ['t00', 't01']
    assert [d.schedule.task_id for d in failed.value.unclaimed] == [
        't02', 't03', 't04']
    assert 'database is locked' in str(failed.value)
    # Claimed again later, the rest runs and nothing runs twice.
    disp.dispatch(env, failed.value.unclaimed, fire,
                  lambda run, schedule: started.append(run.task_id))
    assert started == ['t00', 't01', 't02', 't03', 't04']
    assert len(rows(env)) == 5


# Outcomes written by one thread for all ---------------------------------

def ended_runs(env, count):
    """`count` runs claimed, registered in a run registry (which starts
    no thread) and ended with success; returns the registry and them."""
    fire = int(T0.timestamp()) * S
    claims = [history.Claim('t%d' % n, 'cron', fire, fire)
              for n in range(count)]
    history.claim(env, claims, 'me:1', fire)
    registry = RunRegistry(env.path, auto=False)
    runs = []
    for claim in claims:
        run = TaskRun(None, claim.task, 'cron', (), fire, 'me:1', claim.id)
        run.success, run.ended = True, fire + S
        registry.add(env, run)
        runs.append(run)
    return registry, runs


def test_a_run_ending_while_outcomes_are_written_leaves_its_own_to_the_writer(
        tmp_path, monkeypatch):
    env = make_env(tmp_path / 'env')
    registry, runs = ended_runs(env, 2)
    writing, go_on = threading.Event(), threading.Event()
    real = history.finish_all
    batches = []

    def finish_all(env, rows):
        batches.append([r[0] for r in rows])
        if len(batches) == 1:
            writing.set()
            go_on.wait(30)
        return real(env, rows)

    monkeypatch.setattr(history, 'finish_all', finish_all)
    first = threading.Thread(target=registry.finish, args=(env, runs[0]),
                             kwargs={'wait': False})
    first.start()
    assert writing.wait(30)
    # The first thread writes: the second run's thread does not wait.
    assert registry.finish(env, runs[1], wait=False) is True
    assert history.get(env, runs[1].id).status == 'running'
    go_on.set()
    first.join(30)
    assert batches == [[runs[0].id], [runs[1].id]]
    assert [history.get(env, r.id).status for r in runs] == ['success'] * 2
    assert registry.runs() == []


def test_outcomes_the_writer_could_not_write_are_kept_and_written_later(
        tmp_path, monkeypatch):
    env = make_env(tmp_path / 'env')
    registry, (run,) = ended_runs(env, 1)

    real = history.finish_all
    refusals = []

    def refused_once(env, rows):
        if not refusals:
            refusals.append(rows)
            raise RuntimeError('database is locked')
        return real(env, rows)

    monkeypatch.setattr(history, 'finish_all', refused_once)
    assert registry.finish(env, run, wait=False) is False
    assert history.get(env, run.id).status == 'running'
    assert registry.flush(env) == 0
    assert history.get(env, run.id).status == 'success'


# Dead runners ------------------------------------------------------------

def test_the_runs_of_a_dead_runner_are_judged_once_per_runner(monkeypatch):
    env = make_stub()
    now = int(T0.timestamp()) * S
    dead = '%s:%d/%s0001' % (socket.gethostname(), gone_pid(),
                             history.namespace_token())
    claims = [history.Claim('t%d' % n, 'cron', now, now) for n in range(5)]
    history.claim(env, claims, dead, now)
    judged = []
    real = housekeeping.is_gone

    def is_gone(runner, own=None):
        judged.append(runner)
        return real(runner, own)

    monkeypatch.setattr(housekeeping, 'is_gone', is_gone)
    marked = housekeeping.LeaseWatch('me:1').interrupt_gone(env, now)
    assert sorted(marked) == sorted(c.id for c in claims)
    assert judged == [dead]


def test_only_the_runs_of_dead_runners_are_read(monkeypatch):
    """Before each batch: the runs going on of the processes still alive
    (those of the other tickers, 1,000 a second) are not read."""
    env = make_stub()
    now = int(T0.timestamp()) * S
    dead = '%s:%d/%s0001' % (socket.gethostname(), gone_pid(),
                             history.namespace_token())
    alive = history.runner_id()
    theirs = [history.Claim('d%d' % n, 'cron', now, now) for n in range(2)]
    history.claim(env, theirs, dead, now)
    history.claim(env, [history.Claim('a%d' % n, 'cron', now, now)
                        for n in range(5)], alive, now)
    read = []
    real = history.running_rows

    def running_rows(env, runners=None):
        rows = real(env, runners)
        read.extend(runner for _, runner, _ in rows)
        return rows
    monkeypatch.setattr(history, 'running_rows', running_rows)
    watch = housekeeping.LeaseWatch('me:1')
    assert sorted(watch.interrupt_gone(env, now)) == \
        sorted(c.id for c in theirs)
    assert read == [dead, dead]
    assert watch.interrupt_gone(env, now) == [] and read == [dead, dead]


def test_the_dues_deferred_before_a_chunk_fails_stay_due(monkeypatch):
    env = make_stub()
    fire = int(T0.timestamp()) * S
    now = fire - S // 2
    going_elsewhere(env, 't00', now)
    batch = dues(3, fire)
    for due in batch:
        due.schedule.max_instances = 1
    disp, _ = chunked_dispatcher(env, monkeypatch, fail_at=2)
    with pytest.raises(ClaimFailed) as failed:
        disp.dispatch(env, batch, now, lambda run, schedule: None, now)
    # t00 was deferred (a run of it goes on), t01 claimed, t02 failed.
    assert sorted(d.schedule.task_id for d in failed.value.unclaimed) == [
        't00', 't02']
    assert [r.task for r in rows(env) if r.schedule == 'cron'] == ['t01']


def test_one_refused_outcome_does_not_hold_back_the_others_of_its_batch(
        tmp_path, monkeypatch):
    env = make_env(tmp_path / 'env')
    registry, runs = ended_runs(env, 2)
    real = history.finish_all

    def finish_all(env, rows):
        if runs[1].id in [r[0] for r in rows]:
            raise RuntimeError('the database refuses this message')
        return real(env, rows)

    monkeypatch.setattr(history, 'finish_all', finish_all)
    registry._writing = True          # a writer is busy: both are queued
    for run in runs:
        assert registry.finish(env, run, wait=False) is True
    assert registry.going() == []     # they ended: not heartbeaten
    registry._writing = False
    # The stop path (cron ticker) flushes the queue too.
    assert registry.flush(env) == 1
    assert history.get(env, runs[0].id).status == 'success'
    assert history.get(env, runs[1].id).status == 'running'
    monkeypatch.setattr(history, 'finish_all', real)
    assert registry.flush(env) == 0
    assert history.get(env, runs[1].id).status == 'success'


def test_a_run_that_waits_for_its_outcome_is_written_by_the_writer_too(
        tmp_path, monkeypatch):
    env = make_env(tmp_path / 'env')
    registry, runs = ended_runs(env, 2)
    writing, go_on = threading.Event(), threading.Event()
    real = history.finish_all
    batches = []

    def finish_all(env, rows):
        batches.append([r[0] for r in rows])
        if len(batches) == 1:
            writing.set()
            go_on.wait(30)
        return real(env, rows)

    monkeypatch.setattr(history, 'finish_all', finish_all)
    first = threading.Thread(target=registry.finish, args=(env, runs[0]),
                             kwargs={'wait': False})
    first.start()
    assert writing.wait(30)
    returned = []
    second = threading.Thread(target=lambda: returned.append(
        registry.finish(env, runs[1])))
    second.start()
    second.join(0.2)
    assert returned == []           # it waits for the writer
    go_on.set()
    second.join(30)
    first.join(30)
    assert returned == [True]
    assert batches == [[runs[0].id], [runs[1].id]]
    assert history.get(env, runs[1].id).status == 'success'


def test_a_deferred_occurrence_taken_past_the_grace_is_missed():
    agenda = Agenda()
    fire = int(T0.timestamp()) * S
    schedule = _Schedule('t')
    schedule.catch_up = False
    agenda.defer(Due(schedule, fire))
    # The ticker came back 90 s after the instant (misfire_grace 60 s).
    dues, popped = agenda.take(fire + 90 * S, fire + 90 * S, 60 * S,
                               fire + 90 * S)
    assert [(d.fire, d.status) for d in dues] == [(fire, 'missed')]
    assert dues[0].message.startswith('started too late: 90.000 s')
    assert agenda.next_deferred() is None


def test_on_postgresql_a_claim_waits_only_for_claims_of_its_own_task(
        tmp_path, monkeypatch):
    skip_unless('postgres')
    fire = int(T0.timestamp()) * S
    inside, release = threading.Event(), threading.Event()
    real = history._insert_returning

    def held(db, sql, claims, *rest):
        if claims[0].task == 'a' and not inside.is_set():
            inside.set()           # the claim of `a` holds its lock
            release.wait(30)
        return real(db, sql, claims, *rest)

    monkeypatch.setattr(history, '_insert_returning', held)
    with fresh_database('postgres') as uri:
        env = traccron_env(tmp_path, uri)
        made = {}

        def claim(name, task, fire):
            made[name] = history.Claim(task, 'cron', fire, fire,
                                       max_instances=1)
            history.claim(env, [made[name]], 'me:1', fire)

        first = threading.Thread(target=claim, args=('a1', 'a', fire))
        first.start()
        try:
            assert inside.wait(30)
            other = threading.Thread(target=claim, args=('b', 'b', fire))
            other.start()
            other.join(10)
            # Another task's claim did not wait (one lock for all did).
            assert not other.is_alive() and made['b'].status == 'running'
            same = threading.Thread(target=claim, args=('a2', 'a', fire + S))
            same.start()
            same.join(0.5)
            assert same.is_alive()     # the same task's claim waits
        finally:
            release.set()
            first.join(30)
        same.join(30)
        # It counted the run of `a` claimed meanwhile: max_instances = 1.
        assert made['a1'].status == 'running' and made['a1'].id
        assert made['a2'].status == 'skipped'
        env.shutdown()


# The end of a run, in another thread ---------------------------------------

class EndListener(object):
    """A listener that logs at the end of each run and notes the run it
    sees."""

    def __init__(self, log):
        self.log = log
        self.seen = []

    def getId(self):
        return 'end_listener'

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        self.seen.append((current_run(), threading.get_ident()))
        self.log.info('the end, seen by the listener')


class Talker(StubTask):
    task_id = 'talker'

    def wake_up(self, *args):
        self.log.info('said by the task')


def test_the_end_handed_to_another_thread_keeps_its_run_and_its_log(
        tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_hot_path.Talker'])
    core = Core(env)
    fire = int(T0.timestamp()) * S
    claim = history.Claim('talker', 'cron', fire, fire)
    history.claim(env, [claim], 'me:1', fire)
    registry = RunRegistry(env.path, auto=False)
    run = TaskRun(Talker(env), 'talker', 'cron', (), fire, 'me:1', claim.id)
    registry.add(env, run)
    listener = EndListener(env.log)
    handed = []
    assert core.execute(run, finish_env=env, registry=registry,
                        later=lambda *a: handed.append(a),
                        ready=([listener], 10000, ['a note'])) is True
    # The task has returned; its end waits for a thread.
    assert len(handed) == 1 and listener.seen == []
    assert history.get(env, run.id).status == 'running'
    env.log.info('said by this thread after the task')
    target = handed[0][0]
    other = threading.Thread(target=target, args=handed[0][1:])
    other.start()
    other.join(30)
    assert listener.seen == [(run, other.ident)]
    row = history.get(env, run.id)
    assert row.status == 'success' and 'a note' in row.message
    text = capture.get(env, run.id)
    assert 'said by the task' in text
    assert 'the end, seen by the listener' in text
    assert 'said by this thread after the task' not in text
    assert registry.runs() == []
    env.shutdown()


def test_on_postgresql_a_claim_passes_over_tasks_another_one_claims(
        tmp_path):
    skip_unless('postgres')
    fire = int(T0.timestamp()) * S
    with fresh_database('postgres') as uri:
        env = traccron_env(tmp_path, uri)
        with lock_held(env, 'a'):
            claims = [history.Claim(t, 'cron', fire, fire, max_instances=1)
                      for t in ('a', 'b')]
            assert history.claim(env, claims, 'me:1', fire,
                                 busy=True) is None
            assert history.count(env) == 0 and claims[0].id is None
            only_b = [history.Claim('b', 'cron', fire, fire,
                                    max_instances=1)]
            assert history.claim(env, only_b, 'me:1', fire,
                                 busy=True) == only_b
        claims = [history.Claim(t, 'cron', fire, fire, max_instances=1)
                  for t in ('a', 'b')]
        won = history.claim(env, claims, 'me:1', fire, busy=True)
        assert [c.task for c in won] == ['a']
        env.shutdown()


def test_on_postgresql_a_chunk_claimed_elsewhere_is_lost_without_its_locks(
        tmp_path):
    """The chunk another process has just claimed: its claims are lost
    at once, even while a lock of its tasks is held (it is neither passed
    over nor waited for)."""
    skip_unless('postgres')
    fire = int(T0.timestamp()) * S
    with fresh_database('postgres') as uri:
        env = traccron_env(tmp_path, uri)

        def claims(tasks):
            return [history.Claim(t, 'cron', fire, fire, max_instances=1)
                    for t in tasks]
        theirs = claims('ab')
        assert history.claim(env, theirs, 'other:1', fire) == theirs
        with lock_held(env, 'a'):
            mine = claims('ab')
            assert history.claim(env, mine, 'me:1', fire, busy=True) == []
            assert [c.id for c in mine] == [None, None]
            waited = []
            other = threading.Thread(target=lambda: waited.append(
                history.claim(env, claims('ab'), 'me:1', fire)))
            other.start()
            other.join(10)
            assert not other.is_alive() and waited == [[]]
            # One of them not claimed yet: the chunk is passed over.
            assert history.claim(env, claims('ac'), 'me:1', fire,
                                 busy=True) is None
        assert sorted((r[0], r[1]) for r in env.db_query(
            "SELECT task, runner FROM cron_history")) == [
            ('a', 'other:1'), ('b', 'other:1')]
        env.shutdown()


def test_the_ticker_takes_its_connection_from_the_pool_once_per_batch(
        tmp_path, monkeypatch):
    """On PostgreSQL, Trac pings a connection it takes from the pool: the
    chunks of a batch reuse the one the ticker's thread holds."""
    skip_unless('postgres')
    from trac.db.postgres_backend import PostgreSQLConnection
    fire = int(T0.timestamp()) * S
    with fresh_database('postgres') as uri:
        env = traccron_env(tmp_path, uri)
        env.db_query("SELECT 1")            # one connection in the pool
        pings = []
        real = PostgreSQLConnection.ping
        here = threading.get_ident()

        def ping(cnx):
            if threading.get_ident() == here:    # not the runs' thread
                pings.append(1)
            return real(cnx)
        monkeypatch.setattr(PostgreSQLConnection, 'ping', ping)
        monkeypatch.setattr(dispatcher, 'CLAIM_CHUNK', 2)
        ticker = Ticker(env.path, lambda: env, clock=FakeClock(fire / S),
                        spawn=lambda *a: None, config_check=None)
        ticker._dispatcher.env = env
        ticker._dispatch(env, Core(env), dues(5, fire), fire, 0.0, fire)
        assert len(pings) == 1
        assert sorted(r[0] for r in env.db_query(
            "SELECT task FROM cron_history")) == \
            ['t00', 't01', 't02', 't03', 't04']     # in three chunks
        env.shutdown()


class _Limited(_Schedule):
    max_instances = 1


@pytest.mark.parametrize('kind', ['postgres', 'mysql'])
def test_the_claims_see_the_runs_claimed_after_the_read_before_the_batch(
        tmp_path, monkeypatch, kind):
    """The ticker holds its connection for a batch: what it read before
    the claims (the runners of the runs going on) must not be the claims'
    snapshot (MySQL's repeatable read): a run another process claimed
    meanwhile counts for max_instances."""
    skip_unless(kind)
    fire = int(T0.timestamp()) * S
    with fresh_database(kind) as uri:
        env = traccron_env(tmp_path, uri)
        ticker = Ticker(env.path, lambda: env, clock=FakeClock(fire / S),
                        spawn=lambda *a: None, config_check=None)
        ticker._dispatcher.env = env
        real = ticker._leases.interrupt_gone

        def interrupt_gone(*args):
            marked = real(*args)
            # Then another process claims the same task, and commits.
            other = threading.Thread(target=lambda: (history.claim(
                env, [history.Claim('t00', 'other', fire, fire,
                                    max_instances=1)], 'them:1', fire),
                env.shutdown(threading.get_ident())))
            other.start()
            other.join(30)
            return marked
        monkeypatch.setattr(ticker._leases, 'interrupt_gone', interrupt_gone)
        ticker._dispatch(env, Core(env), [Due(_Limited('t00'), fire)], fire,
                         0.0, fire)
        assert sorted(env.db_query(
            "SELECT schedule, runner, status FROM cron_history")) == [
            ('cron', ticker.runner, 'skipped'),
            ('other', 'them:1', 'running')]
        env.shutdown()


def test_the_time_limit_of_a_task_is_read_once_until_trac_ini_changes(
        monkeypatch):
    from traccron import ticker as ticker_module
    read = []
    real = ticker_module.timeout_of

    def timeout_of(env, task_id):
        read.append(task_id)
        return real(env, task_id)
    monkeypatch.setattr(ticker_module, 'timeout_of', timeout_of)
    limits = []
    real_add = RunRegistry.add

    def add(registry, env, run, timeout=False):
        limits.append(timeout)
        return real_add(registry, env, run, timeout)
    monkeypatch.setattr(RunRegistry, 'add', add)
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.cron': '0/1 * * * * ?', 'rec.timeout': '30',
        'rec.max_instances': '10'})
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *(T0 + timedelta(seconds=n) for n in range(4)))
    assert read == ['rec'] and limits == [30] * 4
    env.config.set('traccron', 'rec.timeout', '60')
    tick_at(ticker, clock, *(T0 + timedelta(seconds=n) for n in (4, 5)))
    assert read == ['rec', 'rec'] and limits == [30] * 4 + [60] * 2
    assert len(RecorderTask.calls) == 6


# The garbage collector ------------------------------------------------------

def test_a_real_ticker_leaves_the_schedule_table_out_of_gc_collections():
    env = make_stub(config={'timezone': 'UTC'})
    gc.unfreeze()
    try:
        # On a clock of tests, nothing is frozen (tests make many).
        primed_ticker(env, T0)
        assert gc.get_freeze_count() == 0
        # The real ticker: what exists once the table is built is frozen.
        ticker = Ticker(env.path, lambda: env, config_check=None)
        ticker.tick()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


# The next occurrences ------------------------------------------------------

class EveryA(StubTask):
    task_id = 'every_a'


class EveryB(StubTask):
    task_id = 'every_b'


def test_schedules_with_the_same_values_have_their_next_occurrence_computed_once(
        monkeypatch):
    env = make_stub(enable=[RecorderTask, EveryA, EveryB], config={
        'timezone': 'UTC', 'rec.cron': '0/1 * * * * ?',
        'every_a.cron': '0/1 * * * * ?', 'every_b.cron': '0/2 * * * * ?'})
    schedules, problems = Core(env).build_schedules()
    assert problems == [] and len(schedules) == 3
    agenda = Agenda()
    fire = int(T0.timestamp()) * S
    agenda.load(schedules, fire - S, 60 * S)
    computed = []
    real = CronExpression.next_after

    def next_after(self, dt):
        computed.append(str(self))
        return real(self, dt)

    monkeypatch.setattr(CronExpression, 'next_after', next_after)
    dues, popped = agenda.take(fire, fire, 60 * S)
    assert sorted(d.schedule.task_id for d in dues) == \
        ['every_a', 'every_b', 'rec']
    agenda.advance(popped)
    # One computation for `rec` and `every_a` (the same value), one for
    # `every_b`; each is queued at its own next occurrence.
    assert sorted(computed) == ['0/1 * * * * ?', '0/2 * * * * ?']
    dues, popped = agenda.take(fire + S, fire + S, 60 * S)
    assert sorted(d.schedule.task_id for d in dues) == ['every_a', 'rec']
    dues, popped2 = agenda.take(fire + 2 * S, fire + 2 * S, 60 * S)
    assert sorted(d.schedule.task_id for d in dues) == ['every_b']


def test_schedules_due_at_one_instant_are_one_entry_of_the_agenda():
    """The agenda queues an instant once with its schedules, in the
    order they were queued: 1,000 schedules every second cost one heap
    operation a second, not 1,000."""
    env = make_stub(enable=[RecorderTask, EveryA, EveryB], config={
        'timezone': 'UTC', 'rec.cron': '0/1 * * * * ?',
        'every_a.cron': '0/1 * * * * ?', 'every_b.cron': '0/2 * * * * ?'})
    schedules, _ = Core(env).build_schedules()
    agenda = Agenda()
    fire = int(T0.timestamp()) * S        # an even second
    agenda.load(schedules, fire - S, 60 * S)
    assert len(agenda) == 3 and agenda._heap == [fire]
    assert agenda.count_until(fire) == 3 and agenda.next_fire() == fire
    dues, popped = agenda.take(fire, fire, 60 * S)
    assert [d.schedule.task_id for d in dues] == \
        [s.task_id for s in schedules]
    agenda.advance(popped)
    assert agenda._heap == [fire + S, fire + 2 * S] and len(agenda) == 3
    assert agenda.count_until(fire + S) == 2
    assert agenda.count_until(fire + 2 * S) == 3


# The first run of an instant ----------------------------------------------

def late_waits(workers, clock, late_by):
    """Make the leader's timed waits on `clock` (a list: seconds; each
    read moves it 1 µs, so that a busy wait ends) end `late_by` seconds
    late; returns the timeouts asked for."""
    asked = []

    def wait(timeout=None):
        asked.append(timeout)
        clock[0] += timeout + late_by
        return False
    workers._lead.wait = wait
    return asked


def test_the_leader_wakes_before_an_instant_by_as_much_as_its_waits_end_late():
    clock = [1000.0]

    def now():
        clock[0] += 1e-6
        return clock[0]
    workers = Workers(idle=5, time=now, busy=True)
    asked = late_waits(workers, clock, 0.0003)
    started = []
    done = threading.Event()

    def run(name):
        started.append((name, clock[0]))
        done.set()

    workers.spawn_at(1001.0, 'first', run, 'first')
    assert done.wait(30)
    # It woke LATE_FIRST + LATE_MARGIN early, 0.3 ms late: before the
    # instant, which it then waited for busy, never past it.
    early = dispatcher.LATE_FIRST + dispatcher.LATE_MARGIN
    assert asked[0] == pytest.approx(1.0 - early, abs=1e-4)
    assert 1001.0 <= started[0][1] < 1001.0 + 1e-4
    # It keeps how late its waits ended (at most LATE_MAX), and wakes that
    # much earlier next time.
    assert workers._late == pytest.approx(dispatcher.LATE_FIRST * 0.9)
    wait_until(lambda: workers._running == 0)
    asked[:] = []
    late_waits(workers, clock, 0.0015)
    done.clear()
    workers.spawn_at(1002.0, 'second', run, 'second')
    assert done.wait(30)
    # Its waits now end 1.5 ms late: this run starts late by what the
    # leader had not learnt yet, the next one on time.
    assert workers._late == pytest.approx(0.0015, abs=1e-5)
    assert started[1][1] == pytest.approx(1002.0 + 0.0015 - (
        dispatcher.LATE_FIRST * 0.9 + dispatcher.LATE_MARGIN), abs=1e-4)
    wait_until(lambda: workers._running == 0)
    done.clear()
    workers.spawn_at(1003.0, 'third', run, 'third')
    assert done.wait(30)
    assert 1003.0 <= started[2][1] < 1003.0 + 1e-4


def test_a_run_taken_ahead_waits_for_its_time_busy():
    workers = Workers(idle=5)
    started = []
    at = time.time() + 0.001
    assert workers._hold((at, 1, started.append, ('ran',)))
    assert time.time() >= at


def test_a_run_taken_ahead_waits_no_longer_when_the_clock_is_set_back():
    # The wall clock stands 1 h before the run's time: the wait ends once
    # its length has passed on the monotonic clock, and the run goes back
    # to the queue.
    reads = []

    def mono():
        reads.append(None)
        if len(reads) > 100000:
            raise AssertionError('the busy wait goes on')
        return 2000.0 + len(reads) * 1e-6
    wall = [1000.0]
    workers = Workers(idle=5, time=lambda: wall[0], monotonic=mono,
                      busy=True)
    entry = (1000.001, 1, lambda: None, ())
    wall[0] -= 3600
    assert workers._hold(entry) is False
    limit = (dispatcher.LATE_MAX + 2 * dispatcher.LATE_MARGIN) * 1e6
    assert len(reads) <= limit + 100
    assert [e[0] for e in workers._heap] == [1000.001]


def test_a_pause_while_a_run_is_held_is_no_step_of_the_clock():
    # The thread is paused 5 ms between two readings of the clocks: both
    # moved, the wall clock was not set back, the run goes on.
    moved, reads = [0.0], [0]

    def mono():
        reads[0] += 1
        moved[0] += 0.005 if reads[0] == 50 else 1e-6
        return 2000.0 + moved[0]
    workers = Workers(idle=5, time=lambda: 1000.0 + moved[0],
                      monotonic=mono, busy=True)
    assert workers._hold((1000.001, 1, None, ())) is True
    assert workers._heap == []


def test_a_run_held_for_its_time_lets_the_interpreter_go_until_another_leads(
        monkeypatch):
    # The thread woken to lead takes the interpreter before the instant,
    # not at the first run's first system call.
    yields = []
    monkeypatch.setattr(dispatcher.os, 'sched_yield',
                        lambda: yields.append(None))
    clock = [1000.0]

    def now():
        clock[0] += 1e-6
        return clock[0]
    workers = Workers(idle=5, time=now, busy=True)
    workers._heap.append((1000.001, 2, None, ()))   # the next one queued
    assert workers._hold((1000.001, 1, None, ()))
    assert clock[0] >= 1000.001 and len(yields) > 100
    del yields[:]
    workers._leader = True
    clock[0] = 1000.0
    assert workers._hold((1000.001, 1, None, ()))
    assert yields == []


def test_on_a_clock_of_tests_no_instant_is_waited_for_busy():
    workers, clock = standing_workers()
    assert workers._late is None


def test_the_young_objects_are_collected_before_an_instant_not_amid_its_runs():
    assert gc.isenabled()
    workers = Workers(idle=5)
    gc.collect(0)
    young = [[] for _ in range(dispatcher.GC_BEFORE + 200)]
    assert gc.get_count()[0] > dispatcher.GC_BEFORE
    workers._hold((time.time() + 0.0001, 1, None, ()))
    assert gc.get_count()[0] < dispatcher.GC_BEFORE
    # Where the application turned the collector off, it stays off.
    gc.disable()
    try:
        young += [[] for _ in range(dispatcher.GC_BEFORE + 200)]
        workers._hold((time.time() + 0.0001, 1, None, ()))
        assert gc.get_count()[0] > dispatcher.GC_BEFORE
    finally:
        gc.enable()


class Quiet(StubTask):
    task_id = 'quiet'

    def wake_up(self, *args):
        pass


def test_a_run_that_starts_leaves_few_objects_for_the_collector(tmp_path):
    # 1,000 runs of one instant start one after another: each object
    # they keep until their end counts towards a collection that holds
    # every thread (~0.1 ms per 700 objects).
    env = make_env(tmp_path / 'env', enable=['test_hot_path.Quiet'])
    core = Core(env)
    workers = Workers(idle=5)
    task = Quiet(env)
    fire = int(T0.timestamp()) * S
    runs = [TaskRun(task, 'quiet', 'cron', (), fire, 'me:1', id=i + 1)
            for i in range(200)]
    ready = ([EndListener(env.log)], 10000, ())
    # (What the first run makes once is not counted.)
    core.execute(TaskRun(task, 'quiet', 'cron', (), fire, 'me:1', id=999),
                 finish_env=env, later=workers.later, ready=ready)
    gc.disable()
    try:
        gc.collect()
        before = gc.get_count()[0]
        for run in runs:
            core.execute(run, finish_env=env, later=workers.later,
                         ready=ready)
        kept = gc.get_count()[0] - before
    finally:
        gc.enable()
        for run in runs:
            capture.stop(run)
    # The run's log capture (with no lock while it logs nothing), and its
    # end handed to `later` (an entry and its arguments): 3 objects a run
    # (it was 8, with Python 3.11's GC-tracked locks 10).
    assert kept / float(len(runs)) < 4


def test_the_ticker_makes_one_retry_planner_per_schedule_until_a_rebuild(
        monkeypatch):
    planners = []
    real = Core.execute

    def execute(core, run, **kwargs):
        planners.append(kwargs['retry'])
        return real(core, run, **kwargs)
    monkeypatch.setattr(Core, 'execute', execute)
    env = make_stub(enable=[RecorderTask], config={
        'timezone': 'UTC', 'rec.cron': '0/1 * * * * ?'})
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, *(T0 + timedelta(seconds=n) for n in range(3)))
    assert len(planners) == 3 and len(set(map(id, planners))) == 1
    env.config.set('traccron', 'rec.retries', '1')
    tick_at(ticker, clock, *(T0 + timedelta(seconds=n) for n in (3, 4)))
    assert len(planners) == 5 and len(set(map(id, planners))) == 2
    assert planners[3] is planners[4] and planners[3] is not planners[0]


def test_an_end_handed_back_while_runs_are_due_does_not_wake_the_leader():
    # The leader looks again within the grace anyway: a wake would take
    # the interpreter from the runs that start.
    workers, clock = standing_workers()
    woken, seen = [], []
    real = workers._lead.notify

    def notify(n=1):
        woken.append(n)
        real(n)
    workers._lead.notify = notify
    done = threading.Event()

    def task(i):
        if i == 0:
            wait_until(lambda: workers._leader)   # another thread leads
            del woken[:]
            workers.later(seen.append, 'end')
            seen.append(len(woken))
        elif i == 2:
            done.set()

    due_together(workers, clock, task, 3)
    assert done.wait(30)
    assert seen == [0]
