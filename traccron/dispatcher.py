# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""From a due occurrence to a running task: the claim in the history
(with `max_instances`), the worker threads, and the registry that owns
every run of this process, scheduled or manual, until its outcome is
written."""

import collections
import errno
import fcntl
import functools
import gc
import heapq
import logging
import os
import random
import socket
import threading
import time as _time

from trac.env import env_cache, env_cache_lock, open_environment

from traccron import capture, history
from traccron.api import TaskRun
from traccron.config import CronConfig
from traccron.times import SECOND, from_us, now_us

#: Seconds an idle worker thread waits for a run before it ends.
WORKER_IDLE = 60.0
#: Seconds a due run waits for a thread back from a run before another
#: thread takes it (`Workers`).
GRACE = 0.001
#: What follows a run (`Workers.later`) waits until no run was taken for
#: QUIET seconds (the other processes sharing the CPU start theirs
#: meanwhile), or for LATER_MAX seconds at most.
QUIET = 0.05
LATER_MAX = 1.0
#: A run whose task has returned no longer takes a place of
#: max_instances in its process while its end waits (`later`) and is
#: handled (the listeners, the outcome), for ENDED_GRACE seconds of
#: handling, and twice that since its task returned, at most: past that
#: (a listener that hangs, an end that never began) it counts again, so
#: that max_instances still bounds the runs whose ends pile up.
ENDED_GRACE = 5.0
#: The leader takes a run due itself (none came back from its run for
#: `GRACE`), and another thread then leads, unless the threads are
#: crowded: THREADS_FREE of them run what began less than SLOW seconds
#: ago. Quick runs that take turns at the interpreter lock look slow to
#: the leader: one more thread would start no run sooner, and slow them
#: all down (at 6,000 runs a second on two processors, 12,000 threads
#: each waited seconds for its turn). The runs due then wait for a thread
#: back from its run, or for these runs to become slow (tasks waiting for
#: a server or a lock: 1,000 of them due at once all start within
#: 1.3 s, as they did without the bound).
THREADS_FREE = 16
SLOW = 0.02
#: A timed wait may end late (0.2 ms on some virtual machines): the
#: thread that waits for the first run of an instant wakes as late as
#: its waits ended lately (at first LATE_FIRST, at most LATE_MAX seconds)
#: plus LATE_MARGIN before the instant, then waits for it busy.
LATE_FIRST = 0.0005
LATE_MAX = 0.002
LATE_MARGIN = 0.0003
#: Before an instant, the young objects are collected (`gc.collect(0)`)
#: when more than this many were made since the last collection.
GC_BEFORE = 100
#: First and longest wait (seconds) before an outcome the database
#: refused is written again.
RETRY_FIRST = 0.5
RETRY_MAX = 30.0
#: After this many refused writes of an outcome, it is written with a
#: plain message instead of its own (which the database may not take).
PLAIN_AFTER = 3
#: Seconds between two writes of the logs of the runs going on.
LOG_STORE = 2.0
#: Claims per transaction when a big batch is claimed (`Dispatcher`).
CLAIM_CHUNK = 100
#: Seconds before the instant by which a paced claim ends (`Dispatcher`).
PACE_MARGIN = 0.1
PLAIN_MESSAGE = ('the message of this run could not be written to the '
                 'database (it is in the log)')

_log = logging.getLogger('traccron')


class SystemClock(object):
    """The real clock. Tests give the ticker one they can move."""

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)

    @staticmethod
    def wait(event, timeout):
        """Sleep until `event` is set or `timeout` seconds have passed."""
        return event.wait(timeout)

    sleep = staticmethod(_time.sleep)


def open_cached(path):
    """The Environment Trac has in its cache for `path` (reloaded by Trac
    when trac.ini changed), or `None` once Trac dropped it."""
    with env_cache_lock:
        if path not in env_cache:
            return None
    return open_environment(path, use_cache=True)


def spawn_thread(name, target, *args):
    thread = threading.Thread(target=target, args=args, name=name)
    thread.daemon = True
    thread.start()
    return thread


class RunRefused(Exception):
    """A manual run that `max_instances` does not allow now."""


class ClaimFailed(Exception):
    """The database failed a claim: `error` is its exception, `unclaimed`
    the dues not claimed (the chunks claimed before it have started)."""

    def __init__(self, error, unclaimed):
        Exception.__init__(self, '%s: %s' % (type(error).__name__, error))
        self.error = error
        self.unclaimed = unclaimed


class Workers(object):
    """The threads that run tasks, at their time.

    One thread at most, the leader, waits for the time of the first
    run; the other idle threads wait to lead. When a run's time comes, a
    thread back from a run takes it at once; the leader takes it only
    when no thread came back for `grace` seconds (or none runs), and
    then makes sure another thread leads (it wakes an idle one, or starts
    one) before running it. Quick tasks are therefore run one after
    another by one thread, with no thread waking for each (every wake
    makes the threads take turns at the interpreter lock: a run's first
    line then waits for the others' switches), while a slow task holds
    back the runs due after it for `grace` at most: 1,000 runs due at
    one instant start within ~2 ms. What a run does once its task has
    returned (listeners, outcome) is handed back with `later`, and waits
    until no run is due: the starts of an instant come first. A thread
    idle for `idle` seconds ends.

    A timed wait may end late (~0.2 ms on a virtual machine): the leader
    wakes before the first run of an instant by as much as its waits
    ended late and takes it; another thread leads meanwhile, the young
    objects that the runs would otherwise collect halfway are collected,
    and the run waits for its instant busy (`busy`: by default on the
    real clock)."""

    def __init__(self, idle=WORKER_IDLE, time=_time.time, grace=GRACE,
                 rest=None, monotonic=None, busy=None):
        self._idle_timeout = idle
        # `rest()`: called by a thread that ran something, once it has
        # nothing more to do (it lets go of what it holds: Trac's
        # repositories and connections of the thread).
        self._rest = rest
        self._time = time            # the runs' times (`spawn_at`)
        # The grace and the waits of `later` (a clock of tests drives
        # both).
        self._mono = monotonic or (_time.monotonic if time is _time.time
                                   else time)
        self._grace = grace
        self._lock = threading.Lock()
        self._lead = threading.Condition(self._lock)     # the leader waits
        self._follow = threading.Condition(self._lock)   # the others wait
        self._heap = []          # (at, seq, target, args)
        self._after = collections.deque()  # (queued, target, args): later
        self._seq = 0
        self._leader = False
        self._idle = 0           # threads waiting to lead
        self._waking = 0         # wakes given to them, not yet taken
        self._starting = 0       # threads started, not yet waiting
        self._running = 0        # threads running a run
        self._began = {}         # thread ident -> when its run began
        self._taken = 0.0        # when a run was last taken (monotonic)
        self._lead_until = 0.0   # when the leader's wait ends (monotonic)
        self._draining = False
        # Called once no run due is left waiting (`behind`).
        self._caught_up = None
        # How late a timed wait ends, when the first run of an instant is
        # waited for busy (`busy`; by default on the real clock only).
        if busy is None:
            busy = time is _time.time
        self._late = LATE_FIRST if busy else None

    def spawn(self, name, target, *args):
        """Run `target(*args)` in a worker thread now; raises when no
        thread could be started for it."""
        self.spawn_at(None, name, target, *args)

    def spawn_at(self, at, name, target, *args):
        """Run `target(*args)` in a worker thread at `at` (seconds since
        the epoch; `None`: now)."""
        with self._lock:
            self._seq += 1
            entry = (at or 0.0, self._seq, target, args)
            heapq.heappush(self._heap, entry)
            if self._leader:
                if self._heap[0] is entry:
                    self._lead.notify()     # it comes first: wait less
                return
            start = self._promote()
        if start:
            try:
                self._start()
            except BaseException:
                with self._lock:
                    if entry not in self._heap:
                        # A worker back from a run took it: it runs.
                        _log.error('TracCron: could not start a worker '
                                   'thread', exc_info=True)
                        return
                    self._heap.remove(entry)    # nobody will run it
                    heapq.heapify(self._heap)
                    self._taken_one(self._time())
                raise

    def later(self, target, *args):
        """Call `target(*args)` in a worker thread once no run is due and
        none was taken for `QUIET` seconds (it comes after the starts of
        the instant, in this process and in the others that share the
        CPU), or `LATER_MAX` seconds at most; at once, in the calling
        thread, once `drain` was called. Only a worker thread may call
        it: it goes back to the pool, so a thread will take it."""
        with self._lock:
            if not self._draining:
                self._after.append((self._mono(), target, args))
                if self._leader and len(self._after) == 1 and \
                        self._lead_until > self._mono() + self._grace + \
                        LATE_MAX + LATE_MARGIN:
                    # To wait for it too; unless it looks again soon
                    # anyway, as while runs are due and going on (a wake
                    # would take the interpreter from the runs).
                    self._lead.notify()
                return
        target(*args)

    def drain(self):
        """Do now, in the calling thread, what `later` was given, and
        what it is given from now on (the process stops: the outcomes
        must not wait)."""
        with self._lock:
            self._draining = True
        while True:
            with self._lock:
                if not self._after:
                    return
                _, target, args = self._after.popleft()
            _logged(target, *args)

    def behind(self, caught_up=None):
        """Whether runs whose time has come wait for a thread (the
        process is behind: its threads cannot start the runs as fast as
        they come); then `caught_up()` is called once none waits any more
        (by the thread that takes the last, which holds the workers' lock:
        it must be quick, as setting an event)."""
        with self._lock:
            if not self._heap or self._heap[0][0] > self._time():
                return False
            if caught_up is not None:
                self._caught_up = caught_up
            return True

    def _taken_one(self, now):
        """A run was taken from the heap (the lock is held): tell
        `behind`'s caller when no run due is left."""
        if self._caught_up is not None and \
                (not self._heap or self._heap[0][0] > now):
            caught_up, self._caught_up = self._caught_up, None
            caught_up()

    def _later_in(self, now, mono):
        """Seconds before what `later` was given may be taken (<= 0: now;
        `None`: nothing was given)."""
        if not self._after:
            return None
        oldest = self._after[0][0] + LATER_MAX - mono
        if self._heap and self._heap[0][0] <= now:
            return oldest
        return min(oldest, self._taken + QUIET - mono)

    def _take_later(self):
        _, target, args = self._after.popleft()
        return (None, None, target, args)

    def _promote(self):
        """Make sure a thread will lead (the lock is held); returns
        whether one must be started."""
        if self._leader or self._waking or self._starting:
            return False
        if self._idle:
            self._waking += 1
            self._follow.notify()
            return False
        self._starting += 1
        return True

    def _start(self):
        try:
            spawn_thread('traccron-worker', self._work)
        except BaseException:
            with self._lock:
                self._starting -= 1
                # An idle thread may lead meanwhile (with one idle,
                # `_promote` wakes it and asks for no start).
                if (self._heap or self._after) and self._idle:
                    self._promote()
            raise

    def _work(self):
        ident = threading.get_ident()
        with self._lock:
            self._starting -= 1
            lead = True      # started or woken to lead
            ran = False
            while True:
                entry = None if lead and not self._leader else self._next()
                lead = False
                if entry is None and ran and self._rest is not None:
                    # Nothing more to do now: let go of what it holds
                    # before it waits (or leads).
                    ran = False
                    self._lock.release()
                    try:
                        _logged(self._rest)
                    finally:
                        self._lock.acquire()
                    continue
                if entry is None and not self._leader and \
                        (self._heap or self._after):
                    entry = self._take()
                if entry is not None:
                    start = bool(self._heap or self._after) and \
                        self._promote()
                    self._running += 1
                    self._began[ident] = self._mono()
                    self._lock.release()
                    try:
                        self._run(entry, start)
                    finally:
                        entry = None
                        self._lock.acquire()
                        self._running -= 1
                        del self._began[ident]
                    ran = True
                    continue
                self._idle += 1
                try:
                    woke = self._follow.wait(self._idle_timeout)
                finally:
                    self._idle -= 1
                if self._waking:
                    # Woken to lead; or timed out just as it was chosen
                    # (`notify` counts it, `wait` says False): the wake
                    # is taken either way, or no thread would lead again.
                    self._waking -= 1
                    lead = True
                elif not woke and not ((self._heap or self._after) and
                                       not self._leader):
                    return

    def _next(self):
        """The run due now, or else what `later` was given (the lock is
        held); `None` when neither is there."""
        now, mono = self._time(), self._mono()
        if self._after and mono >= self._after[0][0] + LATER_MAX:
            return self._take_later()      # waited long enough
        if self._heap and self._heap[0][0] <= now:
            self._taken = mono
            entry = heapq.heappop(self._heap)
            self._taken_one(now)
            return entry
        later = self._later_in(now, mono)
        if later is not None and later <= 0:
            return self._take_later()
        return None

    def _take(self):
        """Lead (the lock is held): wait until the first run is due and no
        thread came back from a run for `grace`, then take it, or take
        what `later` was given when its time comes (either waits while
        the threads are crowded); `None` when there is nothing left."""
        self._leader = True
        try:
            while self._heap or self._after:
                now, mono = self._time(), self._mono()
                crowded = self._crowded(mono) if self._running else 0.0
                wait = self._later_in(now, mono)
                if wait is not None:
                    wait = max(wait, crowded)
                    if wait <= 0:
                        return self._take_later()
                early = None
                if self._heap:
                    at = self._heap[0][0] - now
                    if self._running:
                        at = max(at, self._taken + self._grace - mono,
                                 crowded)
                    elif self._late is not None and at > 0:
                        early = self._late + LATE_MARGIN
                        if at <= early:
                            # It takes the run now and waits for its
                            # time busy (`_hold`), while another leads.
                            self._taken = mono + at
                            return heapq.heappop(self._heap)
                        at -= early
                    if at <= 0:
                        self._taken = mono
                        entry = heapq.heappop(self._heap)
                        self._taken_one(now)
                        return entry
                    if wait is not None and wait < at:
                        early = None
                    wait = at if wait is None else min(wait, at)
                self._lead_until = mono + wait
                if not self._lead.wait(wait) and early is not None:
                    # (A wait is timed on the monotonic clock.)
                    self._late = min(LATE_MAX, max(
                        self._mono() - mono - wait, self._late * 0.9))
            return None
        finally:
            self._leader = False

    def _crowded(self, mono):
        """Seconds before the leader may take a run itself, which makes
        one more thread run (the lock is held): none unless the threads
        are crowded (`THREADS_FREE`); else until fewer of them run what
        began less than `SLOW` ago."""
        if self._running < THREADS_FREE or self._idle:
            return 0.0
        # The runs began in this order: the youngest last.
        for n, began in enumerate(reversed(self._began.values())):
            if mono - began >= SLOW:
                return 0.0
            if n + 1 == THREADS_FREE:
                return began + SLOW - mono
        return 0.0

    def _hold(self, entry):
        """Wait busy for the time of `entry`, taken ahead of it (less than
        `LATE_MAX + LATE_MARGIN` away). The young objects are collected
        first, and until another thread leads (it was woken or started to,
        and would otherwise take the interpreter at the first run's first
        system call) this one lets it run. Returns False when the time has
        not come once the wait's length (and `LATE_MARGIN`) has passed on
        the monotonic clock and the wall clock was set back meanwhile: the
        run is queued again. (A run queued meanwhile, even one due now, is
        taken by the next leader after this one's time and `grace`.)"""
        at = entry[0]
        if gc.isenabled() and gc.get_count()[0] > GC_BEFORE:
            # The collection of the young objects that the runs would
            # start halfway (0.1 ms, every ~70 runs) comes now.
            gc.collect(0)
        time_, mono = self._time, self._mono
        left = min(at - time_(), LATE_MAX + LATE_MARGIN)
        offset = time_() - mono()
        stop = mono() + left + LATE_MARGIN
        while time_() < at:
            # (A pause between two readings is no step of the clock: the
            # wall clock must have gone back against the monotonic one.)
            if mono() >= stop and time_() - mono() < offset - LATE_MARGIN:
                try:
                    self.spawn_at(at, None, entry[2], *entry[3])
                except BaseException:
                    _log.error('TracCron: could not queue a run again after '
                               'the clock was set back; it runs now',
                               exc_info=True)
                    return True
                return False
            if not self._leader and (self._heap or self._after):
                os.sched_yield()
        return True

    def _run(self, entry, start):
        try:
            if start:
                self._start()
        except BaseException:
            _log.error('TracCron: could not start a worker thread',
                       exc_info=True)
        if self._late is not None and entry[0] and \
                entry[0] > self._time() and not self._hold(entry):
            return      # (`entry[0]`: `None` for what `later` was given)
        _logged(entry[2], *entry[3])


def _logged(target, *args):
    """`target(*args)` in a worker thread: what it raises is logged."""
    try:
        target(*args)
    except BaseException:
        _log.error('TracCron worker error', exc_info=True)


# The runs of this process ------------------------------------------------

class RunRegistry(object):
    """Every run of this process for one environment path, from its claim
    until its outcome is in the history. Its thread heartbeats them all
    (whether a ticker runs here or not), marks `timeout` those that go
    past their time limit (`TASK.timeout`), and writes again, with
    backoff, the outcomes the database refused, so that none is ever
    dropped.

    `auto=False` starts no thread: tests call `housekeep` themselves."""

    def __init__(self, path, clock=None, auto=True):
        self.path = path
        self.clock = clock or SystemClock()
        self.auto = auto
        self._lock = threading.Lock()
        self._runs = {}          # row id -> TaskRun
        self._by_task = {}       # task id -> {row id: TaskRun}
        self._ending = {}        # row id -> when its end began (µs)
        self._unwritten = {}     # row id -> [args, attempts, next try]
        self._limits = {}        # row id -> (monotonic start, timeout s)
        self._outbox = []        # `_Ending`s to write (`finish`)
        self._writing = False    # whether a thread writes the outbox
        self._marking = threading.Lock()
        self._env = None
        self._thread = None
        self._wake = threading.Event()
        self._last_beat = 0
        self._next_beat = None
        self._beat_failures = 0
        self._next_log = None

    def add(self, env, run, timeout=False):
        """Register `run`; `timeout` is its time limit in seconds, `None`
        for none (by default, read from the configuration)."""
        if timeout is False:
            timeout = timeout_of(env, run.task_id)
        with self._lock:
            self._runs[run.id] = run
            self._by_task.setdefault(run.task_id, {})[run.id] = run
            self._env = env
            if timeout:
                self._limits[run.id] = (self._start_of(run), timeout)
            if self._next_beat is None:
                self._next_beat = self.clock.monotonic() + \
                    _lease(env) / 3.0
        self._start(wake=bool(timeout))

    def _start_of(self, run):
        """When `run` starts, on the monotonic clock: now, or its time
        when it was claimed early."""
        begin = run.fire_time if run.started is None else run.started
        return self.clock.monotonic() + max(
            0.0, begin / SECOND - self.clock.time())

    def ids(self):
        with self._lock:
            return list(self._runs)

    def ending(self, run):
        """The end of `run` (its task has returned) begins to be handled:
        the listeners, then the outcome."""
        with self._lock:
            if run.id in self._runs:
                self._ending[run.id] = now_us(self.clock)

    def ended(self, tasks):
        """The history keys (task, schedule, fire time, attempt) of this
        process's runs of `tasks` whose task has returned, and whose end
        waits for a thread (`Workers.later`: behind the runs due, in a
        busy process) or began to be handled less than `ENDED_GRACE`
        seconds ago, twice that since the task returned at most: their
        rows are going on still, and they no longer take a place of
        `max_instances` (`history.claim`)."""
        now = now_us(self.clock)
        since = now - int(ENDED_GRACE * SECOND)
        returned = now - int(2 * ENDED_GRACE * SECOND)
        with self._lock:
            if not self._by_task:
                return ()
            found = set()
            for task in tasks:
                for run in self._by_task.get(task, {}).values():
                    if run.ended is not None and run.ended >= returned and \
                            self._ending.get(run.id, since) >= since:
                        found.add((run.task_id, run.schedule,
                                   run.fire_time, run.attempt))
            return found

    def _forget(self, id):
        """`id`'s outcome is written (the lock is held)."""
        run = self._runs.pop(id, None)
        self._ending.pop(id, None)
        if run is not None:
            runs = self._by_task.get(run.task_id)
            if runs is not None:
                runs.pop(id, None)
                if not runs:
                    del self._by_task[run.task_id]

    def runs(self):
        """The runs going on, and those whose outcome is not written yet."""
        with self._lock:
            return list(self._runs.values())

    def going(self):
        """The runs going on (their outcome is not known yet)."""
        with self._lock:
            ended = set(ending.run.id for ending in self._outbox)
            return [run for id, run in self._runs.items()
                    if id not in self._unwritten and id not in ended]

    def flush(self, env):
        """Try at once to write every outcome the database refused so far,
        and those waiting in the outbox; returns how many are still not
        written."""
        with self._lock:
            drain = bool(self._outbox) and not self._writing
            if drain:
                self._writing = True
        if drain:
            self._drain(env)
        with self._lock:
            entries = list(self._unwritten.items())
        mono = self.clock.monotonic()
        for id, entry in entries:
            self._retry(env, id, entry, mono)
        with self._lock:
            return len(self._unwritten) + len(self._outbox)

    def finish(self, env, run, status=None, message=None, wait=True):
        """Write the outcome of `run` (by default the one `Core.execute`
        left in it); when the database refuses it, keep it and try again
        until it is written. Returns whether it is written (`True` too
        when it is left to another thread, see below).

        Runs that end together are written together: a thread that finds
        another one writing leaves its outcome to it, and the writer
        commits every outcome that came meanwhile in one transaction
        (1,000 runs ending at once cost a few commits, not 1,000 threads
        queueing for the database; on SQLite, its busy handler slept them
        for up to a second while their `running` rows held back the next
        occurrence). With `wait` (the default) the thread returns once the
        writer is done with its outcome; without, at once, and its worker
        is free for the next run."""
        if status is None:
            status = 'success' if run.success else 'failure'
        if message is None:
            message = run.message
        if run.ended is None:
            run.ended = now_us(self.clock)
        with self._marking:
            # A `timeout` mark under way is committed before the outcome
            # is written; none comes after (the run has ended).
            with self._lock:
                self._limits.pop(run.id, None)
        ending = _Ending(run, (run.ended, status, message, run.started),
                         wait)
        with self._lock:
            self._outbox.append(ending)
            writer = not self._writing
            self._writing = True
        if writer:
            self._drain(env)
        elif not wait:
            return True
        else:
            ending.done.wait()
        return ending.written

    def _drain(self, env):
        """Write the outcomes of the outbox until it is empty (this thread
        is its writer)."""
        try:
            while True:
                with self._lock:
                    batch, self._outbox = self._outbox, []
                    if not batch:
                        self._writing = False
                        return
                try:
                    self._write_batch(env, batch)
                finally:
                    for ending in batch:
                        if ending.done is not None:
                            ending.done.set()
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def _write_batch(self, env, batch):
        """Write `batch` (`_Ending`s) in one transaction; when it fails,
        each on its own, so that one outcome the database refuses does not
        hold back the others. Keeps those refused."""
        try:
            history.finish_all(env, [(e.run.id,) + e.args for e in batch])
        except Exception as error:
            if len(batch) > 1:
                for ending in batch:
                    self._write_batch(env, [ending])
            else:
                batch[0].written = False
                self._keep(env, batch[0].run, batch[0].args, error)
            return
        with self._lock:
            for ending in batch:
                ending.written = True
                self._forget(ending.run.id)

    def _keep(self, env, run, args, e):
        """Keep the outcome `args` of `run`, which the database refused
        (`e`), and write it again later."""
        env.log.error('TracCron: could not record the end of run %d of %s '
                      '(%s: %s); it is kept and written again', run.id,
                      run.task_id, type(e).__name__, e)
        with self._lock:
            self._unwritten[run.id] = [args, 1, self.clock.monotonic() +
                                       RETRY_FIRST]
            self._env = env
        self._start(wake=True)

    def housekeep(self, env=None, now=None):
        """Heartbeat the runs when it is time, and write the outcomes whose
        retry time has come. Returns the seconds until the next call is
        needed, or `None` when there is nothing left to do."""
        env = env or self._env
        mono = self.clock.monotonic()
        if now is None:
            now = now_us(self.clock)
        with self._lock:
            beat = [id for id in self._runs if id not in self._unwritten]
            due = [(id, entry) for id, entry in self._unwritten.items()
                   if entry[2] <= mono]
        waits = []
        if beat:
            if self._next_beat is None or mono >= self._next_beat:
                interval = _lease(env) / 3.0
                if self._beat(env, beat, now):
                    self._beat_failures = 0
                else:
                    # Soon again: two beats missed in a row could let
                    # another process take a live run for dead.
                    self._beat_failures += 1
                    interval = min(interval, RETRY_FIRST *
                                   2 ** (self._beat_failures - 1))
                self._next_beat = mono + interval
            waits.append(self._next_beat - mono)
        else:
            self._next_beat = None
        for id, entry in due:
            self._retry(env, id, entry, mono)
        limit = self._check_limits(env, mono)
        if limit is not None:
            waits.append(limit)
        if beat or capture.live(self.path):
            # A run shorter than LOG_STORE has its log stored once, when
            # it ends. A run just added may not capture yet: the thread
            # wakes for its log all the same, not at the next heartbeat.
            if self._next_log is None:
                self._next_log = mono + LOG_STORE
            elif mono >= self._next_log:
                self._store_logs(env)
                self._next_log = mono + LOG_STORE
            waits.append(self._next_log - mono)
        else:
            self._next_log = None
        with self._lock:
            waits += [e[2] - mono for e in self._unwritten.values()]
        return max(0.01, min(waits)) if waits else None

    def _check_limits(self, env, mono):
        """Mark `timeout` the runs going past their time limit; returns
        the seconds until the next time limit (or the next try of a mark
        the database refused), or `None`."""
        with self._lock:
            limits = [(self._runs[id], start, timeout) for id, (start, timeout)
                      in self._limits.items()
                      if id in self._runs and id not in self._unwritten]
        waits = []
        for run, start, timeout in limits:
            if mono < start + timeout:
                waits.append(start + timeout - mono)
            elif not self._time_out(env, run, mono - start, timeout):
                waits.append(RETRY_FIRST)
        return min(waits) if waits else None

    def _time_out(self, env, run, elapsed, timeout):
        """Record `run`, still going after `elapsed` seconds, as `timeout`,
        cancel it and tell the listeners and subscribers. Returns `False`
        when the database refused the mark (tried again at the next
        call)."""
        message = 'still running after %s s (timeout = %s s)' % (
            history.format_seconds(elapsed), history.format_seconds(timeout))
        with self._marking:
            try:
                marked = run.ended is None and \
                    history.mark_timeout(env, run.id, message)
            except Exception as e:
                env.log.error('TracCron: could not record run %d of %s as '
                              'timeout (%s: %s); trying again', run.id,
                              run.task_id, type(e).__name__, e)
                return False
            with self._lock:
                self._limits.pop(run.id, None)
        if marked:
            env.log.warning('TracCron: run %d of %s %s', run.id,
                            run.task_id, message)
            run.timed_out = True
            run.cancel()
            if tell_timeout is not None:
                tell_timeout(env, run, message)
        return True

    def _store_logs(self, env):
        """Store what the runs going on logged so far (their pages show
        it live)."""
        for captured in capture.live(self.path):
            try:
                capture.store(env, captured)
            except Exception as e:
                env.log.error('TracCron: could not store the log of run '
                              '%d so far (%s)', captured.run_id, e)

    def _beat(self, env, ids, now):
        value = max(now, self._last_beat + 1)
        try:
            history.heartbeat(env, ids, value)
        except Exception as e:
            env.log.error('TracCron: heartbeat of runs %s failed (%s); '
                          'trying again', ids, e)
            return False
        self._last_beat = value
        return True

    def _retry(self, env, id, entry, mono):
        args, attempts, _ = entry
        if attempts >= PLAIN_AFTER and args[2] != PLAIN_MESSAGE:
            # The database may refuse this very message: the outcome goes
            # with a plain one, and the message to the log.
            env.log.error('TracCron: run %d ended %s; its message, which '
                          'is not written to the history: %r', id, args[1],
                          args[2])
            args = entry[0] = args[:2] + (PLAIN_MESSAGE,) + args[3:]
        try:
            history.finish(env, id, *args)
        except Exception as e:
            delay = min(RETRY_FIRST * 2 ** attempts, RETRY_MAX)
            env.log.error('TracCron: the end of run %d is still not '
                          'recorded (attempt %d: %s); next try in %.1f s',
                          id, attempts + 1, e, delay)
            with self._lock:
                entry[1] = attempts + 1
                entry[2] = mono + delay
            return
        env.log.warning('TracCron: the end of run %d is recorded (%s) '
                        'after %d attempts', id, args[1], attempts + 1)
        with self._lock:
            self._unwritten.pop(id, None)
            self._forget(id)

    def _start(self, wake=False):
        """Make sure the thread runs; when it cannot be started, the next
        run added or finished tries again."""
        if not self.auto:
            return
        if wake:
            self._wake.set()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            try:
                self._thread = spawn_thread('traccron-runs', self._loop)
            except Exception as e:
                self._thread = None
                (self._env.log if self._env else _log).error(
                    'TracCron: could not start the thread that '
                    'heartbeats the runs: %s: %s', type(e).__name__, e)

    def _loop(self):
        while True:
            self._wake.clear()
            env = None
            try:
                env = open_cached(self.path) or self._env
                wait = self.housekeep(env)
            except Exception:
                _log.error('TracCron run registry error', exc_info=True)
                wait = RETRY_MAX
            finally:
                if env is not None:
                    env.shutdown(threading.get_ident())
            if wait is None:
                with self._lock:
                    if not self._runs and not self._unwritten:
                        self._thread = None
                        return
                continue       # a run came meanwhile
            self._wake.wait(wait)


class _Ending(object):
    """The outcome of a run to write (`RunRegistry.finish`): `args` are
    `(ended, status, message, started)`; `written` tells, once `done`
    (set only when the run's thread waits), whether it is."""

    __slots__ = ('run', 'args', 'written', 'done')

    def __init__(self, run, args, wait):
        self.run = run
        self.args = args
        self.written = None
        self.done = threading.Event() if wait else None


class _Pairs(list):
    """A chunk of a batch: [(due, claim)], with `claims`, the
    `history.Chunk` of its claims (in key order)."""

    def __init__(self, pairs):
        list.__init__(self, pairs)
        self.claims = history.Chunk(c for _, c in pairs)


def _lost_all(chunk):
    """Whether every claim of `chunk` ([(due, claim)]), none won, was
    inserted by another process (none was held back here)."""
    return all(c.status not in ('deferred', 'refused') for _, c in chunk)


def _lost_some(chunk, won):
    """Whether claims of `chunk` ([(due, claim)]) were inserted by another
    process: neither won (`won`: their ids) nor held back here."""
    return any(id(c) not in won and c.status not in ('deferred', 'refused')
               for _, c in chunk)


def _lease(env):
    return CronConfig(env).lease_seconds


def timeout_of(env, task_id):
    """The time limit (seconds) of the runs of `task_id`, or `None`."""
    try:
        return CronConfig(env).get_timeout(task_id)
    except Exception as e:
        env.log.error('TracCron: no time limit for the run of %s: %s: %s',
                      task_id, type(e).__name__, e)
        return None


#: `tell_timeout(env, run, message)` tells the listeners and subscribers
#: that `run` went past its time limit. `traccron.core`, which knows
#: them and builds on this module, sets it.
tell_timeout = None


_registries = {}
_registries_lock = threading.Lock()


def registry_for(path):
    """The run registry of environment `path` in this process."""
    with _registries_lock:
        registry = _registries.get(path)
        if registry is None:
            registry = _registries[path] = RunRegistry(path)
        return registry


def install_registry(path, registry):
    """Make `registry` the run registry of `path` (tests give one that
    runs on their clock); returns the one it replaces, or `None`."""
    with _registries_lock:
        previous = _registries.get(path)
        _registries[path] = registry
        return previous


# Claim and start ------------------------------------------------------------

class Dispatcher(object):
    """Claims due occurrences and starts the runs won. `spawn(name,
    target, *args)` starts a worker; `execute(run)` runs a task
    (`Core.execute`); `local_key()` names this process in the history key
    of `run_mode = local` schedules."""

    def __init__(self, registry, spawn, clock, runner, local_key,
                 punctual=True, spawn_at=None):
        self.registry = registry
        self.clock = clock
        self.runner = runner
        self.local_key = local_key
        self.env = None
        self._spawn = spawn
        self._punctual = punctual   # a run claimed early waits for its time
        # `spawn_at(at, name, target, *args)` (`Workers.spawn_at`) starts
        # the run at its time; without it, its worker waits for it.
        self._spawn_at = spawn_at
        #: `retry_lost(env, due, claim)` is told of a retry recorded
        #: `skipped` or `missed`: the attempt before it was the last.
        self.retry_lost = None
        #: `timeout_of(env, task_id)`: the time limit (seconds, or
        #: `None`) of a run (by default, `RunRegistry.add` reads it).
        self.timeout_of = None
        #: `draw(n)`: the chunk (0 to n - 1) a big batch's claim begins
        #: with (tests give their own).
        self.draw = random.randrange
        # Whether the last batch was shared with another process.
        self._shared = False

    def dispatch(self, env, dues, now, execute, early=None):
        """Claim `dues` (`agenda.Due`) and start the runs won; returns the
        dues that `max_instances` deferred: those due after `early` (µs),
        claimed ahead of their time while a run that counts was still
        going (the caller claims them again closer to their time).

        A big batch is claimed in chunks of `CLAIM_CHUNK`, one transaction
        each, and the runs of a chunk start before the next chunk is
        claimed. Each call begins at a chunk drawn at random: processes
        that share the database then claim different chunks first rather
        than queue for the same rows, and the runs spread over them.
        Raises `ClaimFailed` with the dues not claimed when the database
        fails: the caller keeps them for later."""
        claims = sorted(((due, self._claim(due, now, early)) for due in dues),
                        key=lambda pair: history.claim_key(pair[1]))
        # [(due, claim)] with its claims' `history.Chunk`.
        chunks = [_Pairs(claims[first:first + CLAIM_CHUNK])
                  for first in range(0, len(claims), CLAIM_CHUNK)]
        if len(chunks) > 1:
            first = self.draw(len(chunks))
            chunks = chunks[first:] + chunks[:first]
        deferred = []
        # A chunk that another process claims at that moment is passed
        # over, and claimed once the others are (it is claimed by then:
        # that costs one lock and one read).
        passed = []
        shared, self._shared = self._shared, False
        fire = min(due.at for due in dues) / float(SECOND) if dues else 0
        for busy, todo in ((len(chunks) > 1, chunks), (False, passed)):
            n = -1
            while n + 1 < len(todo):
                n += 1
                chunk = todo[n]
                began = _time.time()
                try:
                    won = history.claim(env, chunk.claims, self.runner,
                                        now, busy=busy,
                                        ended=self.registry.ended)
                except Exception as e:
                    # The dues deferred so far are not claimed either.
                    rest = todo[n:] + (passed if todo is chunks else [])
                    raise ClaimFailed(e, deferred + [due for r in rest
                                                     for due, _ in r])
                if won is None:
                    self._shared = True
                    passed.append(chunk)
                    continue
                won_ids = set(map(id, won))
                deferred += self._start_won(env, chunk, won_ids, execute)
                if _lost_some(chunk, won_ids):
                    self._shared = True      # another process won some
                    if not won and n + 1 < len(todo) and _lost_all(chunk):
                        # Another process is ahead of this one: the chunks
                        # it has claimed since are left in one read.
                        todo[n + 1:] = self._unclaimed(env, todo[n + 1:])
                if shared and busy and won and n + 1 < len(todo):
                    self._pace(began, fire, len(todo) - n - 1)
        return deferred

    def _unclaimed(self, env, chunks):
        """`chunks` but those whose every occurrence is claimed already
        (`history.claimed_counts`); all of them when that cannot be told
        (their claims then tell)."""
        try:
            counts = history.claimed_counts(
                env, [chunk.claims for chunk in chunks])
        except Exception as e:
            env.log.debug('TracCron: could not read which chunks are '
                          'claimed (%s: %s)', type(e).__name__, e)
            return chunks
        if counts is None:
            return chunks
        return [chunk for chunk, count in zip(chunks, counts)
                if count < len(chunk)]

    def _pace(self, began, fire, left):
        """After a chunk won, while other processes claim the same batch:
        wait as long as the claim took, so that they take the next chunks
        as often as this one and the runs of the instant spread evenly
        over the processes (one that began first took them nearly all).
        Never when the `left` chunks would then be claimed too late."""
        if self._spawn_at is None:
            return
        took = _time.time() - began
        if _time.time() + 2 * took * (left + 1) + PACE_MARGIN < fire:
            _time.sleep(took)

    def _claim(self, due, now, early):
        schedule = due.schedule
        running = due.status == 'running'
        return history.Claim(
            schedule.task_id, schedule.history_schedule(
                self.local_key() if schedule.run_mode == 'local' else None),
            due.fire, max(now, due.at) if running else None, due.status,
            due.message, max_instances=schedule.max_instances,
            local=schedule.run_mode == 'local', attempt=due.attempt,
            defer=running and early is not None and due.at > early)

    def _start_won(self, env, chunk, won, execute):
        """Start the runs of `chunk` ([(due, claim)]) whose claim is in
        `won` (ids of the claim objects); returns the deferred dues."""
        deferred = []
        for due, claim in chunk:
            schedule = due.schedule
            if claim.status == 'deferred':
                deferred.append(due)
            elif id(claim) not in won:
                env.log.debug('TracCron: %s at %d claimed elsewhere',
                              schedule.key, claim.fire_time)
            elif claim.status in ('skipped', 'missed'):
                env.log.warning('TracCron: %s at %s %s: %s', schedule.key,
                                from_us(claim.fire_time), claim.status,
                                claim.message)
                if due.attempt > 1 and not due.told and \
                        self.retry_lost is not None:
                    self.retry_lost(env, due, claim)
            else:
                run = TaskRun(schedule.task, schedule.task_id,
                              claim.schedule, schedule.args, claim.fire_time,
                              self.runner, claim.id, attempt=due.attempt)
                run.message = claim.message
                self.start(env, run, functools.partial(
                    execute, schedule=schedule), claim.started)
        return deferred

    def start(self, env, run, execute, at=None):
        """Register `run` and hand it to a worker, which calls
        `execute(run)` at `at` (µs; by default the run's scheduled time);
        a worker that cannot be started makes the run a `failure` that
        says why."""
        at = run.fire_time if at is None else at
        try:
            self.registry.add(env, run, False if self.timeout_of is None
                              else self.timeout_of(env, run.task_id))
            if self._punctual and self._spawn_at is not None:
                self._spawn_at(at / float(SECOND), 'traccron-run-%s'
                               % run.task_id, execute, run)
            else:
                self._spawn('traccron-run-%s' % run.task_id, self._execute,
                            run, execute, at)
        except BaseException as e:
            env.log.error('TracCron: could not start run %d of %s: %s',
                          run.id, run.task_id, e)
            run.success = False
            run.message = '\n'.join(filter(None, [
                run.message, 'could not start a thread for the run: %s: %s'
                % (type(e).__name__, e)]))
            self.registry.finish(env, run)

    def _execute(self, run, execute, at):
        if self._punctual:
            # The run gets ready (listeners, log capture), then waits for
            # its instant (`Core.execute`).
            run.start_at = at
        execute(run)


# The history key of run_mode = local schedules --------------------------

_slots = {}
_slots_lock = threading.Lock()


def local_key(env_path):
    """The runner part of the history key of `run_mode = local` schedules:
    `host:N`, where N is the lowest slot of this host that no live process
    of `env_path` holds. A process restarted takes its slot back, so its
    downtime is found in the history (recorded `missed` or caught up).
    Slots are lock files in the environment's `files/traccron` directory;
    where it cannot be written, the key is `host:pid` (then a restart does
    not see its downtime)."""
    pid = os.getpid()
    with _slots_lock:
        held = _slots.get(env_path)
        if held is not None and held[0] == pid:
            return held[1]
        key = _take_slot(env_path, pid)
        _slots[env_path] = (pid, key[0], key[1])
        return key[0]


def _take_slot(env_path, pid):
    host = socket.gethostname()
    folder = os.path.join(env_path, 'files', 'traccron')
    try:
        os.makedirs(folder, exist_ok=True)
        for n in range(1024):
            name = os.path.join(folder, 'local-%s-%d.lock' % (host, n))
            fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    continue
                raise
            return '%s:%d' % (host, n), fd   # the fd holds the lock
    except OSError as e:
        _log.warning('TracCron: no local slot in %s (%s); run_mode = local '
                     'schedules are keyed by pid', folder, e)
    return '%s:%d' % (host, pid), None
