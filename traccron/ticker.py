# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The ticker: one thread per environment path and process that sleeps
until the next occurrence, claims what is due in the database and hands
each won claim to a worker thread."""

import atexit
import collections
import heapq
import logging
import os
import queue
import socket
import threading
import time as _time
from datetime import datetime, timezone

from trac.env import env_cache, env_cache_lock, open_environment

from traccron import history
from traccron.api import TaskRun
from traccron.config import ConfigError, CronConfig
from traccron.core import Core, from_us, to_us as _to_us

UTC = timezone.utc
SECOND = 1000000

#: How often (seconds) an edit of trac.ini by hand is looked for.
CONFIG_CHECK = 5.0
#: How long (seconds) before an occurrence the ticker wakes to claim it;
#: the run then starts on the instant.
LEAD = 0.05
#: How often (seconds) old history rows are purged.
PURGE_INTERVAL = 3600.0
#: At most this many occurrences of one schedule are recorded `missed`
#: at once; older ones are only counted in the log.
MAX_MISSED = 100
#: Seconds an idle worker thread waits for a run before it ends.
WORKER_IDLE = 60.0

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


def _spawn_thread(name, target, *args):
    thread = threading.Thread(target=target, args=args, name=name)
    thread.daemon = True
    thread.start()
    return thread


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
        """Run `target(*args)` in a worker thread (the signature of
        `Ticker`'s `spawn`; `name` is the run's, for the log)."""
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._queue.put((target, args))
        if start:
            _spawn_thread('traccron-worker', self._work)

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
            except Exception:
                _log.error('TracCron worker error', exc_info=True)
            with self._lock:
                self._idle += 1


class Ticker(object):
    """Runs the schedules of one environment.

    `open_env` returns the current Environment at each wake, or `None`
    when the environment is gone (the ticker then stops). `clock` gives
    `time()`, `monotonic()` and `wait(event, timeout)`. `spawn(name,
    target, *args)` starts a worker. `config_check` is how often trac.ini
    is looked at (`None`: not at all).
    """

    def __init__(self, path, open_env, clock=None, spawn=None,
                 config_check=CONFIG_CHECK, lead=0.0):
        self.path = path
        self.clock = clock or SystemClock()
        self.runner = history.runner_id()
        self.wakeups = 0
        self._open_env = open_env
        self._spawn = spawn or Workers().spawn
        self._config_check = config_check
        self._lead = int(lead * SECOND)
        self._wake = threading.Event()
        self._stopping = False
        self._thread = None
        self._env = None
        self._fingerprint = None
        self._heap = []
        self._seq = 0
        self._last = None          # µs: occurrences up to here are handled
        self._last_mono = None
        self._active = {}          # row id -> TaskRun, runs of this ticker
        self._active_lock = threading.Lock()
        self._next_purge = 0
        self._next_maintenance = 0

    # Control

    def start(self):
        self._thread = _spawn_thread('traccron-ticker', self.run)
        return self

    def stop(self):
        self._stopping = True
        self._wake.set()

    def wake(self):
        """Look at the configuration again now (after a change made in
        this process)."""
        self._wake.set()

    @property
    def alive(self):
        return (not self._stopping and self._thread is not None and
                self._thread.is_alive())

    def join(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)

    def active_runs(self):
        with self._active_lock:
            return list(self._active.values())

    # The loop

    def run(self):
        try:
            while not self._stopping:
                self._wake.clear()
                deadline = self.tick()
                if deadline is None:
                    break
                timeout = deadline - self.clock.time()
                if timeout > 0 and not self._stopping:
                    self.clock.wait(self._wake, timeout)
        finally:
            _unregister(self)

    def tick(self):
        """Handle everything due now. Returns when to wake next (seconds
        since the epoch), or `None` when the ticker must stop."""
        self.wakeups += 1
        try:
            env = self._open_env()
        except Exception:
            _log.error('TracCron could not open %s', self.path,
                       exc_info=True)
            return self.clock.time() + (self._config_check or 60)
        if env is None:
            return None
        try:
            return self._tick(env)
        except Exception:
            env.log.error('TracCron ticker error (it carries on)',
                          exc_info=True)
            return self.clock.time() + (self._config_check or 60)
        finally:
            env.shutdown(threading.get_ident())

    def _tick(self, env):
        config = CronConfig(env)
        if not config.get_ticker_enabled():
            env.log.info('TracCron ticker stops: ticker_enabled is false')
            return None
        now = int(self.clock.time() * SECOND)
        self._notice_clock_jump(env, now)
        starting = self._last is None
        if starting:
            self._last = now
        claims = []
        fingerprint = config.fingerprint()
        if env is not self._env or fingerprint != self._fingerprint:
            claims += self._rebuild(env, config, now, starting)
            self._fingerprint = fingerprint
        # Occurrences are claimed `lead` ahead; their workers wait for the
        # instant, so that the claim's database time does not delay them.
        horizon = now + self._lead
        while True:
            popped = []
            try:
                claims += self._due(env, config, now, popped, horizon)
                if claims:
                    self._claim_and_dispatch(env, claims, now)
            finally:
                # The next occurrences are computed once the due ones have
                # started (for 100 schedules this takes a few ms); one that
                # is due already (the ticker is late) is handled at once.
                for schedule, after in popped:
                    self._push_next(env, schedule, after)
            for _, after in popped:
                self._last = max(self._last, _to_us(after))
            if not (self._heap and self._heap[0][0] <= horizon):
                break
            claims = []
        self._last = max(self._last, now)
        self._maintain(env, config, now)
        return self._deadline(config, now) / SECOND

    def _notice_clock_jump(self, env, now):
        mono = self.clock.monotonic()
        if self._last_mono is not None and self._last is not None:
            drift = (now - self._last) / SECOND - (mono - self._last_mono)
            if abs(drift) > 1:
                env.log.warning('TracCron: the wall clock jumped by %+.1f s',
                                drift)
        self._last_mono = mono

    def _rebuild(self, env, config, now, starting):
        """Read the schedules again, from where the ticker left off so
        that nothing is lost or run twice. At start, a schedule with
        history resumes after its latest row: what came since runs if it
        is still within `misfire_grace`, and the older rest is recorded
        `missed` or caught up. Returns the claims of that backlog."""
        reading = _time.perf_counter()
        grace = self._grace(env, config)
        schedules, problems = Core(env).build_schedules(from_us(now))
        _report(env, problems)
        last_fired = history.last_fire_times(env) if starting else {}
        heap, backlog = [], []
        for schedule in schedules:
            base = self._last
            try:
                if starting:
                    last = last_fired.get((schedule.task_id,
                                           schedule.history_schedule(
                                               self.runner)))
                    if last is not None and last < now:
                        base = max(last, now - grace)
                        if last < base:
                            backlog += self._backlog(env, schedule, last,
                                                     base, now)
                nxt = schedule.next_after(from_us(base))
            except Exception:
                env.log.error('TracCron: schedule %s failed', schedule.key,
                              exc_info=True)
                continue
            if nxt is not None:
                self._seq += 1
                heap.append((_to_us(nxt), self._seq, schedule))
        heapq.heapify(heap)
        self._heap = heap
        self._env = env
        env.log.debug('TracCron: %d schedules (read in %.3f s)', len(heap),
                      _time.perf_counter() - reading)
        return backlog

    def _grace(self, env, config):
        return _config_value(env, config.get_misfire_grace, 60) * SECOND

    def _due(self, env, config, now, popped, horizon):
        """Pop the occurrences due by `horizon` and return their claims.
        `(schedule, instant)` is added to `popped` for each: its next
        occurrence is the first after that instant."""
        grace = self._grace(env, config)
        claims = []
        while self._heap and self._heap[0][0] <= horizon:
            fire, _, schedule = heapq.heappop(self._heap)
            fire_dt = from_us(fire, schedule.tz)
            if now - fire > grace:
                # Late (the machine slept, the clock jumped): everything of
                # this schedule up to `grace` ago is missed or caught up.
                claims += self._backlog(env, schedule, fire - 1, now - grace,
                                        now)
                fire_dt = from_us(now - grace, schedule.tz)
            elif self._confirm(env, schedule, fire_dt):
                claims.append((schedule, fire, 'running', ''))
            popped.append((schedule, fire_dt))
        return claims

    def _confirm(self, env, schedule, fire_dt):
        try:
            return schedule.confirm(fire_dt)
        except Exception:
            env.log.error('TracCron: scheduler type %s failed for %s',
                          schedule.type_id, schedule.task_id, exc_info=True)
            return False

    def _backlog(self, env, schedule, after, until, now):
        """Claims for the occurrences of `schedule` in (`after`, `until`]
        (µs) that did not run in time: one catch-up run with the latest
        time when the task has `catch_up`, else `missed` rows for at most
        the last `MAX_MISSED` of them."""
        limit = 1 if schedule.catch_up else MAX_MISSED
        fires, total = _last_occurrences(schedule, after, until, limit,
                                         lambda dt: self._confirm(
                                             env, schedule, dt))
        if not fires:
            return []
        if schedule.catch_up:
            return [(schedule, fires[-1], 'running',
                     'catch-up: one run for the occurrences missed since %s'
                     % from_us(after + 1, schedule.tz).isoformat())]
        if total is None or total > len(fires):
            env.log.warning(
                'TracCron: %s occurrences of %s were missed; the last %d '
                'are recorded', 'more than %d' % len(fires) if total is None
                else total, schedule.key, len(fires))
        return [(schedule, fire, 'missed',
                 'started too late: %.3f s after its time (misfire_grace)'
                 % ((now - fire) / SECOND)) for fire in fires]

    def _push_next(self, env, schedule, after):
        try:
            nxt = schedule.next_after(after)
        except Exception:
            env.log.error('TracCron: schedule %s failed', schedule.key,
                          exc_info=True)
            return
        if nxt is not None:
            self._seq += 1
            heapq.heappush(self._heap, (_to_us(nxt), self._seq, schedule))

    def _running_counts(self, env, now):
        """Runs going on per task (see `history.running_counts`). Runs of a
        process of this host that no longer exists are first recorded
        `interrupted`: they must not hold back the next occurrences until
        their lease runs out."""
        rows = history.running_by_runner(env)
        dead = set(r for _, r, _ in rows
                   if r != self.runner and _gone_from_this_host(r))
        if dead:
            for id in history.interrupt_runners(env, dead, now, self.runner):
                env.log.warning('TracCron: run %d marked interrupted (its '
                                'process is gone)', id)
        return history.running_counts(env, self.runner, rows, dead)

    def _claim_and_dispatch(self, env, due, now):
        counts = self._running_counts(env, now)
        claims = []
        for schedule, fire, status, message in due:
            if status == 'running':
                total, mine = counts.get(schedule.task_id, (0, 0))
                busy = mine if schedule.run_mode == 'local' else total
                if busy >= schedule.max_instances:
                    status = 'skipped'
                    message = ('the previous run was still going '
                               '(max_instances = %d)'
                               % schedule.max_instances)
                else:
                    counts[schedule.task_id] = (total + 1, mine + 1)
            started = max(now, fire) if status == 'running' else None
            claim = history.Claim(schedule.task_id,
                                  schedule.history_schedule(self.runner),
                                  fire, started, status, message)
            claims.append((schedule, claim))
        won = set(id(c) for c in history.claim(
            env, [c for _, c in claims], self.runner, now))
        core = Core(env)
        for schedule, claim in claims:
            if id(claim) not in won:
                env.log.debug('TracCron: %s at %d claimed elsewhere',
                              schedule.key, claim.fire_time)
                continue
            if claim.status == 'skipped':
                env.log.warning('TracCron: %s at %s skipped: %s',
                                schedule.key, from_us(claim.fire_time),
                                claim.message)
            elif claim.status == 'missed':
                env.log.warning('TracCron: %s at %s missed: %s',
                                schedule.key, from_us(claim.fire_time),
                                claim.message)
            else:
                run = TaskRun(schedule.task, schedule.task_id,
                              claim.schedule, schedule.args, claim.fire_time,
                              self.runner, claim.id)
                run.started = None  # set when the task really starts
                run.message = claim.message
                with self._active_lock:
                    self._active[claim.id] = run
                self._spawn('traccron-run-%s' % schedule.task_id,
                            self._execute, core, run)

    def _execute(self, core, run):
        env = None
        try:
            early = run.fire_time / SECOND - self.clock.time()
            if early > 0:
                self.clock.sleep(early)
            env = self._env or core.env
            core.execute(run, finish_env=env, clock=self.clock)
        finally:
            with self._active_lock:
                self._active.pop(run.id, None)
            if env is not None:
                env.shutdown(threading.get_ident())

    def _maintain(self, env, config, now):
        """Heartbeats for this ticker's runs, `interrupted` for other
        processes' dead runs, and the purge of old rows."""
        lease = _config_value(env, config.get_lease_seconds, 300) * SECOND
        if now >= self._next_maintenance:
            self._next_maintenance = now + lease // 3
            ids = [run.id for run in self.active_runs()]
            if ids:
                history.heartbeat(env, ids, now)
            for id in history.mark_interrupted(env, now, lease,
                                               self.runner):
                env.log.warning('TracCron: run %d marked interrupted (its '
                                'process stopped sending heartbeats)', id)
        if now >= self._next_purge:
            self._next_purge = now + int(PURGE_INTERVAL * SECOND)
            days = _config_value(env, config.get_history_days, 400)
            if days:
                history.purge(env, now - days * 86400 * SECOND)

    def _deadline(self, config, now):
        candidates = [now + config.get_ticker_interval() * 60 * SECOND]
        if self._heap:
            candidates.append(self._heap[0][0] - self._lead)
        if self._config_check:
            candidates.append(now + int(self._config_check * SECOND))
        if self._active:
            candidates.append(self._next_maintenance)
        return max(min(candidates), now)


_HOST = socket.gethostname()


def _gone_from_this_host(runner):
    """Whether `runner` (host:pid) is a process of this host that has
    ended."""
    host, _, pid = (runner or '').rpartition(':')
    if host != _HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _last_occurrences(schedule, after, until, limit, confirm):
    """The last `limit` instants (µs, oldest first) at which `schedule`
    fires in (`after`, `until`], and how many there are in all (`None`
    when more than were looked at). Looks back over a growing span, so
    that a long downtime costs little."""
    span = 60 * SECOND
    while True:
        start = max(after, until - span)
        window = collections.deque(maxlen=limit)
        count = 0
        dt = from_us(start, schedule.tz)
        while True:
            nxt = schedule.next_after(dt)
            if nxt is None or _to_us(nxt) > until:
                break
            dt = nxt
            if confirm(nxt):
                window.append(_to_us(nxt))
                count += 1
        if start == after:
            return list(window), count
        if count >= limit:
            return list(window), None
        span *= 4


def _config_value(env, getter, default):
    try:
        return getter()
    except ConfigError:
        return default


_reported_lock = threading.Lock()
_reported = {}


def _report(env, problems):
    """Log each problem of `[traccron]` once per environment path."""
    with _reported_lock:
        seen = _reported.setdefault(env.path, set())
        new = [p for p in problems if p not in seen]
        seen.update(new)
    for problem in new:
        env.log.warning('TracCron: %s', problem)


# One ticker per environment path in this process

_tickers = {}
_tickers_lock = threading.Lock()


def ensure_ticker(env):
    """Start the ticker of `env`'s path unless one runs already or the
    ticker is disabled. Returns the running ticker, or `None`."""
    ticker = _tickers.get(env.path)
    if ticker is not None and ticker.alive:
        return ticker
    if not CronConfig(env).get_ticker_enabled():
        return None
    with _tickers_lock:
        ticker = _tickers.get(env.path)
        if ticker is None or not ticker.alive:
            path = env.path
            ticker = Ticker(path, lambda: open_cached(path), lead=LEAD)
            _tickers[path] = ticker
            ticker.start()
            env.log.info('TracCron ticker started for %s', path)
    return ticker


def get_ticker(path):
    ticker = _tickers.get(path)
    return ticker if ticker is not None and ticker.alive else None


def wake_ticker(env):
    """Make the ticker of `env` read its configuration at once."""
    ticker = _tickers.get(env.path)
    if ticker is not None:
        ticker.wake()


def _unregister(ticker):
    with _tickers_lock:
        if _tickers.get(ticker.path) is ticker:
            del _tickers[ticker.path]


@atexit.register
def _stop_all():
    for ticker in list(_tickers.values()):
        ticker.stop()
