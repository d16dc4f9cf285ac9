# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The ticker: one thread per environment path and process that sleeps
until the next occurrence, takes what is due from the agenda, has the
dispatcher claim and start it, keeps house (leases, purge) and raises
the overdue alerts (`overdue`).

The parts: `agenda` knows what is due when (pure), `dispatcher` claims
and starts runs and owns every run of the process, `housekeeping` finds
the dead runs of other processes and purges. This module is the loop and
its timing, and the request filter that starts it."""

import atexit
import functools
import gc
import logging
import queue
import random
import threading
import time as _time

from trac.core import Component, implements
from trac.db.api import DatabaseManager
from trac.web.api import IRequestFilter

from traccron import history
from traccron.agenda import Agenda, plan_retry, retry_delay
from traccron.alerts import Alert, tell_in_worker
from traccron.config import CronConfig
from traccron.core import Core
from traccron.dispatcher import (ClaimFailed, Dispatcher, SystemClock,
                                 Workers, local_key, open_cached,
                                 registry_for, spawn_thread, timeout_of)
from traccron.housekeeping import PURGE_INTERVAL, LeaseWatch, purge
from traccron.overdue import OverdueWatch
from traccron.times import MINUTE, SECOND, from_us, now_us

__all__ = ['Ticker', 'SystemClock', 'ensure_ticker', 'get_ticker',
           'wake_ticker', 'open_cached', 'LEAD', 'LEAD_PER_DUE']

#: How often (seconds) an edit of trac.ini by hand is looked for.
CONFIG_CHECK = 5.0
#: How long (seconds) before an occurrence the ticker wakes to claim it;
#: the run then starts on the instant.
LEAD = 0.05
#: A big batch is claimed further ahead, in proportion to its size:
#: LEAD_FACTOR times the seconds that claiming and starting one run
#: takes (as measured, and at least LEAD_PER_DUE) times the batch's
#: size, at most LEAD_MAX more. 1,000 runs due at one second are then
#: claimed and waiting in their threads before their instant.
LEAD_PER_DUE = 0.0002
LEAD_FACTOR = 2.0
LEAD_MAX = 0.5
#: First and longest wait (seconds) before occurrences whose claim the
#: database refused are claimed again.
CLAIM_RETRY_FIRST = 0.5
CLAIM_RETRY_MAX = 5.0
#: While runs whose time has come wait for a worker thread (the process
#: is behind), no occurrence is claimed: the ticker looks again once they
#: have started, or after PACE_WAIT seconds at most.
PACE_WAIT = 0.05
#: Seconds before a schedule whose scheduler type raised is tried again.
SCHEDULE_RETRY = 5
#: Wait (seconds) after a failed wake when trac.ini is not watched.
ERROR_RETRY = 60.0

_log = logging.getLogger('traccron')


class Ticker(object):
    """Runs the schedules of one environment.

    `open_env` returns the current Environment at each wake, or `None`
    when the environment is gone (the ticker then stops). `clock` gives
    `time()`, `monotonic()`, `wait(event, timeout)` and `sleep(seconds)`.
    `spawn(name, target, *args)` starts a worker. `config_check` is how
    often trac.ini is looked at (`None`: not at all). `registry` holds
    the runs of this process (by default the one of `path`).

    Occurrences are claimed `lead` seconds ahead of their time, and a
    batch of N runs `LEAD_FACTOR * N * max(lead_per_due, measured cost
    per run)` more (at most `LEAD_MAX`); their workers wait for the
    instant. A run claimed that far ahead that `max_instances` holds
    back is claimed again `lead` ahead: the run that holds it back may
    end by then.
    """

    def __init__(self, path, open_env, clock=None, spawn=None,
                 config_check=CONFIG_CHECK, lead=0.0, registry=None,
                 lead_per_due=0.0, workers=None):
        self.path = path
        self.clock = clock or SystemClock()
        self.wakeups = 0
        self.registry = registry or registry_for(path)
        self.agenda = Agenda()
        self._open_env = open_env
        self._config_check = config_check
        self._lead = int(lead * SECOND)
        self._lead_per_due = lead_per_due
        self._cost = 0.0       # measured seconds to claim and start a run
        spawn_at = None
        self._later = None
        self._workers = None
        if spawn is not None and workers is not None:
            raise ValueError('give spawn or workers, not both')
        if spawn is None:
            # (Tests give workers on their clock, which start the runs at
            # their time.)
            given = workers is not None
            workers = self._workers = workers or Workers(rest=self._rest)
            spawn = workers.spawn
            if given or isinstance(self.clock, SystemClock):
                # Runs start at their time in the workers (on a clock of
                # tests, they wait for it themselves, on that clock), and
                # end once the runs due meanwhile have started.
                spawn_at = workers.spawn_at
                self._later = workers.later
        self._dispatcher = Dispatcher(self.registry, spawn, self.clock,
                                      history.runner_id(), self.local_key,
                                      spawn_at=spawn_at)
        self._dispatcher.retry_lost = self._retry_lost
        self._dispatcher.timeout_of = self._timeout_of
        self._timeouts = {}     # task id -> time limit, until a rebuild
        self._retries = {}      # schedule -> its retry planner, the same
        self._spawn = spawn
        self._leases = LeaseWatch(self._dispatcher.runner)
        self._overdue = OverdueWatch(spawn)
        self._local_key = None
        self._wake = threading.Event()
        self._stopping = False
        self._thread = None
        self._env = None
        self._fingerprint = None
        self._last_mono = None
        self._last_now = None
        self._claim_retry = None      # (monotonic time, delay)
        self._next_lease_check = None
        self._next_purge = None
        # The retries that runs planned in their threads, for the agenda.
        self._planned = queue.SimpleQueue()
        #: Draws the jitter of retry delays (tests give their own).
        self.uniform = random.uniform

    @property
    def runner(self):
        """This process's runner id (`host:pid/token`)."""
        return self._dispatcher.runner

    @runner.setter
    def runner(self, value):
        self._dispatcher.runner = self._leases.runner = value

    def local_key(self):
        if self._local_key is None:
            self._local_key = local_key(self.path)
        return self._local_key

    # Control

    def start(self):
        self._thread = spawn_thread('traccron-ticker', self.run)
        return self

    def stop(self):
        self._stopping = True
        self._wake.set()
        if self._workers is not None:
            # The ends of the runs that returned are written now, not
            # after the starts of an instant that will not come.
            self._workers.drain()

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
        """The runs of this process going on (or not yet recorded)."""
        return self.registry.runs()

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
            return self.clock.time() + (self._config_check or ERROR_RETRY)
        if env is None:
            return None
        try:
            return self._tick(env)
        except Exception:
            env.log.error('TracCron ticker error (it carries on)',
                          exc_info=True)
            return self.clock.time() + (self._config_check or ERROR_RETRY)
        finally:
            env.shutdown(threading.get_ident())

    def _tick(self, env):
        config = CronConfig(env)
        if not config.ticker_enabled:
            env.log.info('TracCron ticker stops: ticker_enabled is false')
            return None
        now = now_us(self.clock)
        mono = self.clock.monotonic()
        self._notice_clock_jump(env, now, mono)
        grace = config.misfire_grace * SECOND
        self.agenda.log = env.log
        self._dispatcher.env = env
        dues = []
        if self.agenda.pending and (self._claim_retry is None or
                                    mono >= self._claim_retry[0]):
            dues += self.agenda.take_pending(now, grace)
        fingerprint = config.fingerprint()
        if env is not self._env or fingerprint != self._fingerprint:
            dues += self._rebuild(env, now, grace)
            self._fingerprint = fingerprint
        self._take_planned()
        # Occurrences are claimed ahead (`lead`, more for a big batch);
        # their workers wait for the instant, so that the claim's database
        # time does not delay them.
        horizon = now + self._lead_of_next()
        near = now + self._lead
        core = Core(env)
        while True:
            # A process behind its runs claims nothing more until they have
            # started: the occurrences stay due (and are claimed late, or
            # `missed` past misfire_grace) rather than queue behind the
            # runs before them, which would count for max_instances and
            # get them recorded `skipped`; the other processes that share
            # the database claim them meanwhile.
            paced = self._behind()
            taken, popped = ([], []) if paced else \
                self.agenda.take(now, horizon, grace, near)
            began = self.clock.monotonic()
            try:
                if dues or taken:
                    self._dispatch(env, core, dues + taken, now, mono, near)
            finally:
                # The next occurrences are computed once the due ones have
                # started (for 100 schedules this takes a few ms); one that
                # is due already (the ticker is late) is handled at once.
                self.agenda.advance(popped)
                self._take_planned()
            self._measure(len(dues) + len(taken),
                          self.clock.monotonic() - began)
            dues = []
            if paced or not self.agenda.has_more(horizon):
                break
        self.agenda.last = max(self.agenda.last, now)
        self._keep_house(env, config, now, mono)
        self._overdue.check(env, core, now, mono, self.runner)
        deadline = self._deadline(config, now, mono)
        if paced:
            deadline = max(deadline, now + int(PACE_WAIT * SECOND))
        return deadline / SECOND

    def _behind(self):
        """Whether runs whose time has come wait for a worker thread; the
        ticker is then woken once they have all started."""
        return self._workers is not None and \
            self._workers.behind(self._wake.set)

    def _rest(self):
        """What a worker thread does once it has nothing more to do: let
        go of the connections and repositories it holds."""
        ident = threading.get_ident()
        for env in set(filter(None, (self._env, self._dispatcher.env))):
            env.shutdown(ident)

    def _lead_of_next(self):
        """How far ahead (µs) the next batch is claimed: `lead`, and more
        in proportion to the batch's size."""
        nxt = self.agenda.next_fire()
        if nxt is None:
            return self._lead
        per_due = max(self._lead_per_due, self._cost)
        if not per_due:
            return self._lead
        extra = LEAD_FACTOR * per_due * self.agenda.count_until(nxt)
        return self._lead + int(min(extra, LEAD_MAX) * SECOND)

    def _measure(self, count, elapsed):
        """Follow what claiming and starting a run costs (seconds, a
        moving average over the batches of 10 runs or more)."""
        if count >= 10:
            self._cost = elapsed / count if not self._cost else \
                0.7 * self._cost + 0.3 * elapsed / count

    def _notice_clock_jump(self, env, now, mono):
        if self._last_mono is not None:
            drift = (now - self._last_now) / SECOND - (mono - self._last_mono)
            if abs(drift) > 1:
                env.log.warning('TracCron: the wall clock jumped by %+.1f s',
                                drift)
        self._last_mono, self._last_now = mono, now

    def _rebuild(self, env, now, grace):
        """Read the schedules again. At start, each resumes after its
        latest history row; returns the dues of the backlog."""
        reading = _time.perf_counter()
        self._timeouts = {}
        self._retries = {}
        schedules, problems = Core(env).build_schedules(from_us(now))
        _report(env, problems)
        last_fire = None
        if self.agenda.last is None:
            # At start, each schedule resumes after its latest row.
            last_fire = self._last_fire(history.last_fire_times(env))
        backlog = self.agenda.load(schedules, now, grace, last_fire)
        if last_fire is not None:
            self._resume_retries(env, schedules, now, grace)
        self._env = env
        env.log.debug('TracCron: %d schedules (read in %.3f s)',
                      len(self.agenda), _time.perf_counter() - reading)
        global _frozen
        if self._later is not None and not _frozen and \
                isinstance(self.clock, SystemClock):
            # What exists now lives long (Trac's objects, the schedule
            # table): Python's cyclic collections leave it alone, so
            # that a full one no longer holds every thread, and the runs
            # due, for ~50 ms at 1,000 runs a second (7 ms after). Once
            # in the process: what a later rebuild replaces (the old
            # environment, a cycle) must stay collectable.
            _frozen = True
            gc.freeze()
        return backlog

    def _last_fire(self, fired):
        """The latest occurrence of a schedule in `fired` (`{(task,
        schedule column): fire_time}`)."""
        def last_fire(schedule):
            key = schedule.history_schedule(
                self.local_key() if schedule.run_mode == 'local' else None)
            return fired.get((schedule.task_id, key))
        return last_fire

    # Retries (TASK.retries)

    def _plan_retry_of(self, schedule, run):
        return self._plan_retry(self._dispatcher.env, schedule, run)

    def _plan_retry(self, env, schedule, run):
        """Plan the next attempt of `run`, which failed (in its worker
        thread): `run.retry_at` says when it runs (`None`: no retry).
        Returns the function that hands it to the agenda, through
        `_planned`, once the outcome of `run` is written."""
        retries, delay, longest = CronConfig(env).get_retries(run.task_id)
        run.retries = retries
        due = plan_retry(schedule, run.fire_time, run.attempt, retries,
                         retry_delay(run.attempt, delay, longest,
                                     self.uniform),
                         # From the end of the attempt: what follows it
                         # may be done later (`Workers.later`), and then
                         # a retry whose time has come runs at once.
                         run.ended or now_us(self.clock),
                         now_us(self.clock))
        if due is None:
            return None
        if due.status == 'running':
            run.retry_at = due.at
        else:
            due.told = True     # the failure is final: its alert is raised

        def release():
            self._planned.put(due)
            self._wake.set()
        return release

    def _retry_lost(self, env, due, claim):
        """The retry `due` was recorded `skipped` or `missed` (`claim`):
        the failure of the attempt before it is final, and told so, in a
        worker (a slow mail server must not delay the occurrences)."""
        alert = Alert('failure', due.schedule.task_id,
                      'failed after %d attempts (attempt %d not made: %s)'
                      % (due.attempt - 1, due.attempt, claim.message))
        self._spawn('traccron-alerts', tell_in_worker, Core(env), [alert])

    def _take_planned(self):
        while True:
            try:
                due = self._planned.get_nowait()
            except queue.Empty:
                return
            self.agenda.add_retry(due)

    def _resume_retries(self, env, schedules, now, grace):
        """At start, plan again the retries that no process made: the
        failed attempts of the last `retry_delay_max` (and grace) whose
        next attempt is not in the history (their process stopped)."""
        config = CronConfig(env)
        policies = dict((t, config.get_retries(t))
                        for t in set(s.task_id for s in schedules))
        policies = dict((t, p) for t, p in policies.items() if p[0])
        if not policies:
            return
        longest = max(p[2] for p in policies.values())
        since = now - (longest + 1) * SECOND - grace
        by_key = {}
        for schedule in schedules:
            key = schedule.history_schedule(
                self.local_key() if schedule.run_mode == 'local' else None)
            by_key[(schedule.task_id, key)] = schedule
        for task, key, fire, attempt, ended in history.unretried_failures(
                env, sorted(policies), since):
            schedule = by_key.get((task, key))
            if schedule is None:
                continue
            retries, delay, most = policies[task]
            try:
                due = plan_retry(schedule, fire, attempt, retries,
                                 retry_delay(attempt, delay, most,
                                             self.uniform), ended)
            except Exception:
                env.log.error('TracCron: could not plan the retry of %s at '
                              '%s', schedule.key, from_us(fire),
                              exc_info=True)
                continue
            if due is not None:
                env.log.info('TracCron: attempt %d of %s at %s planned '
                             'again after a restart', due.attempt,
                             schedule.key, from_us(fire))
                self.agenda.add_retry(due)

    def _timeout_of(self, env, task_id):
        """The time limit of the runs of `task_id`, read once until
        `[traccron]` changes (`_rebuild`)."""
        try:
            return self._timeouts[task_id]
        except KeyError:
            limit = self._timeouts[task_id] = timeout_of(env, task_id)
            return limit

    def _dispatch(self, env, core, dues, now, mono, near):
        """Claim and start `dues`; those due after `near` are claimed ahead
        of their time, and deferred to `near` when `max_instances` holds
        them back. When the database fails, the dues not claimed stay due
        (the agenda makes them `missed` once `misfire_grace` has passed)
        and the claim is tried again with a growing delay."""
        registry, clock = self.registry, self.clock
        dispatcher = self._dispatcher

        ready = core.ready()
        retries = self._retries

        def finish_env():
            return dispatcher.env

        def execute(run, schedule):
            # The worker thread lets go of the environment's connections
            # and repositories once it has nothing more to do (`_rest`).
            # It makes no function for the run as it starts it: a
            # schedule's retry planner is made once, until a rebuild.
            retry = retries.get(schedule)
            if retry is None:
                retry = retries[schedule] = functools.partial(
                    self._plan_retry_of, schedule)
            core.execute(run, finish_env=finish_env, clock=clock,
                         registry=registry, retry=retry, finish_wait=False,
                         later=self._later, ready=ready)

        try:
            # The thread holds its connection while it claims: each
            # chunk's transaction takes it again as it is, not from the
            # pool (where PostgreSQL's is pinged first).
            held = DatabaseManager(env).get_connection()
            try:
                if any(d.status == 'running' for d in dues):
                    self._leases.interrupt_gone(env, now, registry.ids())
                # That read must not be the claims' snapshot (MySQL's
                # repeatable read would hide from max_instances the runs
                # claimed since): each chunk begins a transaction anew.
                held.rollback()
                deferred = dispatcher.dispatch(env, dues, now, execute, near)
            finally:
                held.close()
        except Exception as e:
            if isinstance(e, ClaimFailed):
                dues, e = e.unclaimed, e.error
            delay = CLAIM_RETRY_FIRST if self._claim_retry is None else \
                min(self._claim_retry[1] * 2, CLAIM_RETRY_MAX)
            self._claim_retry = (mono + delay, delay)
            self.agenda.retry(dues)
            env.log.error('TracCron: could not claim %d occurrence(s) (%s: '
                          '%s); they stay due until misfire_grace, next try '
                          'in %.1f s', len(dues), type(e).__name__, e, delay)
        else:
            self._claim_retry = None
            for due in deferred:
                self.agenda.defer(due)

    def _keep_house(self, env, config, now, mono):
        """Interrupt the dead runs of other processes, purge old rows."""
        lease = config.lease_seconds
        if self._next_lease_check is None or mono >= self._next_lease_check:
            self._next_lease_check = mono + max(lease / 3.0, 0.5)
            self._leases.check(env, now, mono, lease, self.registry.ids())
        if self._next_purge is None or mono >= self._next_purge:
            self._next_purge = mono + PURGE_INTERVAL
            purge(env, now, config.history_days)

    def _deadline(self, config, now, mono):
        """When to wake next, in µs of the wall clock."""
        def at(mono_time):
            return now + int((mono_time - mono) * SECOND)

        candidates = [now + config.ticker_interval * MINUTE]
        if self._leases.watching:
            candidates.append(at(self._next_lease_check))
        nxt = self.agenda.next_fire()
        if nxt is not None:
            candidates.append(nxt - self._lead_of_next())
        deferred = self.agenda.next_deferred()
        if deferred is not None:
            candidates.append(deferred - self._lead)
        if self._config_check:
            candidates.append(now + int(self._config_check * SECOND))
        if self.agenda.pending:
            candidates.append(at(self._claim_retry[0]) if self._claim_retry
                              else now)
        if self.agenda.failing:
            candidates.append(now + SCHEDULE_RETRY * SECOND)
        if self._overdue.wake_at is not None:
            candidates.append(at(self._overdue.wake_at))
        return max(min(candidates), now)


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


class TickerStarter(Component):
    """Starts the ticker of the environment with the first request its
    process serves."""

    implements(IRequestFilter)

    # IRequestFilter methods

    def pre_process_request(self, req, handler):
        try:
            ensure_ticker(self.env)
        except Exception:
            self.log.error('Could not start the TracCron ticker',
                           exc_info=True)
        return handler

    def post_process_request(self, req, template, data, metadata):
        return template, data, metadata


# Whether a ticker froze the objects of the process (`_rebuild`).
_frozen = False


# One ticker per environment path in this process

_tickers = {}
_tickers_lock = threading.Lock()


def ensure_ticker(env):
    """Start the ticker of `env`'s path unless one runs already or the
    ticker is disabled. Returns the running ticker, or `None`."""
    ticker = _tickers.get(env.path)
    if ticker is not None and ticker.alive:
        return ticker
    if not CronConfig(env).ticker_enabled:
        return None
    with _tickers_lock:
        ticker = _tickers.get(env.path)
        if ticker is None or not ticker.alive:
            path = env.path
            ticker = Ticker(path, lambda: open_cached(path), lead=LEAD,
                            lead_per_due=LEAD_PER_DUE)
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

