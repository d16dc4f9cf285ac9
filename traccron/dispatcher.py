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

import errno
import fcntl
import functools
import logging
import os
import queue
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
#: First and longest wait (seconds) before an outcome the database
#: refused is written again.
RETRY_FIRST = 0.5
RETRY_MAX = 30.0
#: After this many refused writes of an outcome, it is written with a
#: plain message instead of its own (which the database may not take).
PLAIN_AFTER = 3
#: Seconds between two writes of the logs of the runs going on.
LOG_STORE = 2.0
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


class Workers(object):
    """The threads that run tasks. A run goes to an idle worker, or to a
    new one when none is idle, so a slow task never delays another's
    start; a worker idle for `idle` seconds ends. Handing a run to a
    waiting thread costs a few µs where starting a thread costs about a
    millisecond when many start at once: 100 runs due at the same
    second start within a few ms."""

    def __init__(self, idle=WORKER_IDLE):
        self._idle_timeout = idle
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0     # workers waiting for a run and not yet promised one

    def spawn(self, name, target, *args):
        """Run `target(*args)` in a worker thread; raises when no thread
        could be started for it."""
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        if start:
            spawn_thread('traccron-worker', self._work)
        self._queue.put((target, args))

    def _work(self):
        while True:
            try:
                target, args = self._queue.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:   # no run was promised to us: end
                        self._idle -= 1
                        return
                continue                 # a run is on its way
            try:
                target(*args)
            except BaseException:
                _log.error('TracCron worker error', exc_info=True)
            with self._lock:
                self._idle += 1


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
        self._unwritten = {}     # row id -> [args, attempts, next try]
        self._limits = {}        # row id -> (monotonic start, timeout s)
        self._marking = threading.Lock()
        self._env = None
        self._thread = None
        self._wake = threading.Event()
        self._last_beat = 0
        self._next_beat = None
        self._beat_failures = 0
        self._next_log = None

    def add(self, env, run):
        timeout = _timeout(env, run.task_id)
        with self._lock:
            self._runs[run.id] = run
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

    def runs(self):
        """The runs going on, and those whose outcome is not written yet."""
        with self._lock:
            return list(self._runs.values())

    def going(self):
        """The runs going on (their outcome is not known yet)."""
        with self._lock:
            return [run for id, run in self._runs.items()
                    if id not in self._unwritten]

    def flush(self, env):
        """Try at once to write every outcome the database refused so far;
        returns how many are still not written."""
        with self._lock:
            entries = list(self._unwritten.items())
        mono = self.clock.monotonic()
        for id, entry in entries:
            self._retry(env, id, entry, mono)
        with self._lock:
            return len(self._unwritten)

    def finish(self, env, run, status=None, message=None):
        """Write the outcome of `run` (by default the one `Core.execute`
        left in it); when the database refuses it, keep it and try again
        until it is written."""
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
        args = (run.ended, status, message, run.started)
        try:
            history.finish(env, run.id, *args)
        except Exception as e:
            env.log.error('TracCron: could not record the end of run %d of '
                          '%s (%s: %s); it is kept and written again',
                          run.id, run.task_id, type(e).__name__, e)
            with self._lock:
                self._unwritten[run.id] = [args, 1, self.clock.monotonic() +
                                           RETRY_FIRST]
                self._env = env
            self._start(wake=True)
            return False
        with self._lock:
            self._runs.pop(run.id, None)
        return True

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
            self._runs.pop(id, None)

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


def _lease(env):
    return CronConfig(env).lease_seconds


def _timeout(env, task_id):
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
                 punctual=True):
        self.registry = registry
        self.clock = clock
        self.runner = runner
        self.local_key = local_key
        self.env = None
        self._spawn = spawn
        self._punctual = punctual   # a run claimed early waits for its time
        #: `retry_lost(env, due, claim)` is told of a retry recorded
        #: `skipped` or `missed`: the attempt before it was the last.
        self.retry_lost = None

    def dispatch(self, env, dues, now, execute):
        """Claim `dues` (`agenda.Due`) in one transaction and start the
        runs won. Raises the database's error when the claim failed: the
        caller keeps the dues for later."""
        claims = []
        for due in dues:
            schedule = due.schedule
            started = max(now, due.at) if due.status == 'running' else None
            claims.append((due, history.Claim(
                schedule.task_id, schedule.history_schedule(
                    self.local_key() if schedule.run_mode == 'local'
                    else None),
                due.fire, started, due.status, due.message,
                max_instances=schedule.max_instances,
                local=schedule.run_mode == 'local', attempt=due.attempt)))
        won = set(id(c) for c in history.claim(
            env, [c for _, c in claims], self.runner, now))
        for due, claim in claims:
            schedule = due.schedule
            if id(claim) not in won:
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

    def start(self, env, run, execute, at=None):
        """Register `run` and hand it to a worker, which calls
        `execute(run)` at `at` (µs; by default the run's scheduled time);
        a worker that cannot be started makes the run a `failure` that
        says why."""
        try:
            self.registry.add(env, run)
            self._spawn('traccron-run-%s' % run.task_id, self._execute,
                        run, execute, run.fire_time if at is None else at)
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
