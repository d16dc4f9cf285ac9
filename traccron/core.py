# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The Core component: the registry of tasks, scheduler types and
listeners, and the running of one task."""

import random
import threading
import time
import traceback

from trac.config import Option
from trac.core import Component, ExtensionPoint

from traccron import (alerts, capture, dispatcher, history, scheduler,
                      settings)
from traccron.agenda import retry_delay
from traccron.api import (ICronTask, ISchedulerType, ITaskEventListener,
                          TaskRun, set_current_run)
from traccron.config import SECTION, CronConfig, or_default
from traccron.dispatcher import (Dispatcher, RunRefused, registry_for,
                                 spawn_thread)
from traccron.housekeeping import LeaseWatch
from traccron.scheduler import Schedule
from traccron.settings import Problem
from traccron.times import SECOND, from_us, now_us, seconds, to_us

# Importable from here, as the original API and older modules had them.
__all__ = ['Core', 'CronConfig', 'Problem', 'RunRefused', 'Schedule',
           'from_us', 'to_us']


class Core(Component):
    """Keeps the registry of tasks, scheduler types and listeners, reads
    `[traccron]` into schedules, and runs one task."""

    tasks = ExtensionPoint(ICronTask)
    scheduler_types = ExtensionPoint(ISchedulerType)
    listeners = ExtensionPoint(ITaskEventListener)

    # Registry

    def get_task_list(self):
        return sorted(self.tasks, key=lambda t: t.getId())

    def get_task(self, task_id):
        for task in self.tasks:
            if task.getId() == task_id:
                return task
        return None

    def get_scheduler_type(self, type_id):
        for stype in self.scheduler_types:
            if stype.getId() == type_id:
                return stype
        return None

    def get_supported_schedulers(self):
        return sorted(self.scheduler_types, key=lambda s: s.getId())

    def get_task_listener_list(self):
        return sorted(self.listeners, key=lambda l: l.getId())

    def enabled_listeners(self):
        config = CronConfig(self.env)
        return [l for l in self.get_task_listener_list()
                if config.is_task_listener_enabled(l.getId())]

    # The configuration of these components

    def timezone(self):
        """The zone of the schedules (the server's while `timezone` is
        invalid)."""
        return CronConfig(self.env).timezone

    def build_schedules(self, after=None):
        """Return `(schedules, problems)`: the enabled schedules and every
        problem found in `[traccron]` (see `scheduler.build_schedules`)."""
        config = CronConfig(self.env)
        schedules, problems = scheduler.build_schedules(
            config, self.get_task_list(), self.get_supported_schedulers(),
            after, self.log)
        problems.extend(settings.check(config.section, self._known()))
        return schedules, problems

    def check(self):
        """Return every problem found in `[traccron]`."""
        return self.build_schedules()[1]

    def check_schedule_value(self, task_id, type_id, raw, after=None):
        """Return the problems of `raw` as the value of
        `<task_id>.<type_id>`, without touching the configuration."""
        task = self.get_task(task_id)
        stype = self.get_scheduler_type(type_id)
        if task is None or stype is None:
            return [Problem('%s.%s' % (task_id, type_id), raw,
                            'no such task or scheduler type')]
        return scheduler.check_schedule_value(CronConfig(self.env), task,
                                              stype, raw, after, self.log)

    def known_keys(self):
        """Every key that `[traccron]` may hold with the components that
        are enabled."""
        return set(self._known())

    def _known(self):
        known = settings.foreign(
            name for (section, name) in Option.get_registry(self.compmgr)
            if section == SECTION)
        known.update(settings.expand(
            (t.getId() for t in self.tasks),
            (s.getId() for s in self.scheduler_types),
            (l.getId() for l in self.listeners)))
        return known

    # Running a task

    def execute(self, run, finish_env=None, clock=time, registry=None,
                retry=None, finish_wait=True, later=None, ready=None):
        """Run `run.task` with its arguments: listeners' `onStartTask`,
        `wake_up`, listeners' `onEndTask`, then record the outcome in the
        history (through the run registry, which writes it again until the
        database takes it). Nothing raised by the task or a listener
        escapes, `SystemExit` and `KeyboardInterrupt` included: they make
        the run a `failure` with their traceback. `finish_env` (an
        Environment, or a function returning the current one) writes the
        outcome. When the task fails, `retry(run)` plans its next attempt
        before the listeners hear of the end (it sets `run.retry_at`), and
        returns a function that hands it out once the outcome is written
        (so that the run never holds back its own retry); the final
        failure is an alert (`traccron.alerts`). With `finish_wait=False`,
        a success may return before its outcome is committed, when another
        thread writes outcomes already (`RunRegistry.finish`).

        With `later(target, *args)` (`Workers.later`), what follows the
        task's return (its retry, `onEndTask`, the outcome) is handed to
        it and this call returns at once, so that the thread is free for
        the runs due next; the log capture and `current_run()` follow the
        run to the thread that ends it. `ready` is what `ready()` returned
        (the same for the runs of one instant)."""
        set_current_run(run)
        captured = None
        try:
            # What this thread keeps until the run's end is handled is
            # kept few: the young objects are collected before an instant
            # (`Workers._hold`), not halfway through its runs.
            listeners, limit, notes = ready or self.ready()
            notes = tuple(notes)
            captured = capture.start(self.env, run, limit)
            _wait_for(run.start_at, clock)
            if run.started is None:
                run.started = now_us(clock)
            for listener in listeners:
                note = self._call_listener(listener, 'onStartTask', run.task)
                if note is not None:
                    notes += (note,)
            try:
                run.task.wake_up(*run.args)
            except BaseException:
                run.success = False
                run.message = '\n'.join(filter(None, [
                    run.message, traceback.format_exc()]))
                self.log.error('Task %s failed:\n%s', run.task_id,
                               run.message)
            else:
                run.success = True
            run.ended = now_us(clock)
        except BaseException:
            set_current_run(None)
            self._stop_capture(run)
            raise
        ending = (run, listeners, notes, captured, finish_env, registry,
                  retry, finish_wait)
        if later is None:
            return self._end(*ending)
        capture.leave(run)
        set_current_run(None)
        later(Core._end_here, self, *ending)
        return run.success

    def ready(self):
        """What `execute` reads from the configuration before a run: the
        enabled listeners, the log capture's cap and the notes to add to
        the run's message (when the listeners could not be listed)."""
        notes = []
        listeners = self._listeners(notes)
        return listeners, CronConfig(self.env).log_capture_bytes, tuple(notes)

    def _end_here(self, run, *rest):
        """`_end` in a thread other than the task's."""
        set_current_run(run)
        capture.join(run)
        self._end(run, *rest)

    def _end(self, run, listeners, notes, captured, finish_env, registry,
             retry, finish_wait):
        """The end of `execute`, once the task has returned."""
        release = None
        notes = list(notes)
        if run.id is not None:
            registry = registry or registry_for(self.env.path)
            registry.ending(run)
        try:
            if not run.success and retry is not None:
                release = self._plan_retry(retry, run, notes)
            for listener in listeners:
                note = self._call_listener(listener, 'onEndTask', run.task,
                                           run.success)
                if note is not None:
                    notes.append(note)
        finally:
            set_current_run(None)
            self._stop_capture(run)
        if notes:
            run.message = '\n'.join(filter(None, [run.message] + notes))
        if run.id is not None:
            env = finish_env() if callable(finish_env) else finish_env
            if captured is not None:
                self._store_log(env or self.env, captured)
            # A success with no retry to hand out need not wait for its
            # outcome to be committed (`RunRegistry.finish`).
            registry.finish(env or self.env, run, wait=finish_wait or
                            not run.success or release is not None)
        if release is not None:
            self._release_retry(release, run)
        if not run.success and run.final:
            self.alert(alerts.Alert('failure', run.task_id,
                                    alerts.failure_message(run), run=run,
                                    time=run.ended))
        return run.success

    def alert(self, alert):
        """Tell `alert` (`traccron.alerts.Alert`) to the enabled
        listeners and to the subscribers; never raises."""
        return alerts.raise_alert(self.env, alert, self._listeners([]))

    def _release_retry(self, release, run):
        try:
            release()
        except Exception:
            self.log.error('TracCron: could not hand out the retry of %s',
                           run.task_id, exc_info=True)

    def _plan_retry(self, retry, run, notes):
        try:
            return retry(run)
        except Exception:
            run.retry_at = None
            self.log.error('TracCron: could not plan the retry of %s',
                           run.task_id, exc_info=True)
            notes.append('no retry: ' + traceback.format_exc())

    def _stop_capture(self, run):
        """End the log capture of `run`; nothing it raises may keep the
        outcome from being written."""
        try:
            capture.stop(run)
        except Exception:
            self.log.error('TracCron: could not end the log capture of run '
                           '%s', run.id, exc_info=True)

    def _store_log(self, env, captured):
        """Write the log a run captured; its outcome matters more, so a
        failure here is only logged."""
        try:
            capture.store(env, captured)
        except Exception as e:
            self.log.error('TracCron: could not store the log of run %d: '
                           '%s', captured.run_id, e)

    def _listeners(self, notes):
        try:
            return self.enabled_listeners()
        except Exception:
            self.log.error('TracCron could not list the listeners',
                           exc_info=True)
            notes.append('listeners not called:\n' + traceback.format_exc())
            return []

    def _call_listener(self, listener, method, *args):
        """Call `listener.method(*args)`; returns the note to add to the
        run's message when it raised, else `None`."""
        try:
            getattr(listener, method)(*args)
        except BaseException:
            self.log.error('Listener %s failed in %s', listener.getId(),
                           method, exc_info=True)
            return 'listener %s failed in %s:\n%s' % (
                listener.getId(), method, traceback.format_exc())
        return None

    def run_now(self, task_id, args=None, wait=False, clock=time,
                retries=0):
        """Run a task at once, recorded with schedule `manual`, through the
        same claim and `max_instances` check as scheduled runs. Returns the
        `TaskRun`; with `wait` the run is finished on return (the last
        attempt), otherwise it goes on in a thread. A failed run is tried
        again up to `retries` times, after the task's `retry_delay`
        (doubled at each attempt). Raises `RunRefused` (saying why) when
        `max_instances` runs of the task are going on already."""
        task = self.get_task(task_id)
        if task is None:
            raise ValueError('no task %r' % task_id)
        config = CronConfig(self.env)
        max_instances = or_default(config.get_max_instances, task_id)
        local = or_default(config.get_run_mode, task_id) == 'local'
        registry = registry_for(self.env.path)
        runner = history.runner_id()
        now = now_us(clock)
        # A run of a process gone from this host (a recycled worker) must
        # not hold back this one until its lease ends, even where no
        # ticker runs to notice it.
        LeaseWatch(runner).interrupt_gone(self.env, now, registry.ids())
        while True:
            claim = history.Claim(task_id, 'manual', now, now,
                                  max_instances=max_instances,
                                  local=local, refuse=True)
            if history.claim(self.env, [claim], runner, now,
                             ended=registry.ended):
                break
            if claim.status == 'refused':
                raise RunRefused(claim.message)
            now += 1  # two manual runs in the same µs
        run = TaskRun(task, task_id, 'manual', args or (), now, runner,
                      claim.id, retries=retries)
        run.started = now
        runs = [run]

        def plan(run):
            if run.attempt <= retries:
                delay, longest = config.get_retries(task_id)[1:]
                run.retry_at = now_us(clock) + int(SECOND * retry_delay(
                    run.attempt, delay, longest, random.uniform))

        def execute(run):
            try:
                while True:
                    self.execute(run, clock=clock, registry=registry,
                                 retry=plan)
                    if run.retry_at is None:
                        return
                    _wait_for(run.retry_at, clock)
                    run = self._next_manual_attempt(run, max_instances,
                                                    local, registry, clock)
                    if run is None:
                        return
                    runs.append(run)
            finally:
                if not wait:
                    self.env.shutdown(threading.get_ident())

        spawn = _inline if wait else spawn_thread
        Dispatcher(registry, spawn, clock, runner, None,
                   punctual=False).start(self.env, run, execute)
        return runs[-1] if wait else run

    def _next_manual_attempt(self, run, max_instances, local, registry,
                             clock):
        """Claim the next attempt of the manual `run`; `None` when
        `max_instances` holds it back (its row says so)."""
        now = now_us(clock)
        attempt = run.attempt + 1
        claim = history.Claim(run.task_id, 'manual', run.fire_time, now,
                              message='retry %d of %d' % (run.attempt,
                                                          run.retries),
                              max_instances=max_instances, local=local,
                              attempt=attempt)
        if not history.claim(self.env, [claim], run.runner, now,
                             ended=registry.ended) or \
                claim.status != 'running':
            return None
        following = TaskRun(run.task, run.task_id, 'manual', run.args,
                            run.fire_time, run.runner, claim.id,
                            attempt=attempt, retries=run.retries)
        following.started = now
        following.message = claim.message
        registry.add(self.env, following)
        return following


def _wait_for(instant, clock):
    """Sleep until `instant` (µs; `None`: do not wait)."""
    if instant is not None:
        early = seconds(instant) - clock.time()
        if early > 0:
            clock.sleep(early)


def _inline(name, target, *args):
    target(*args)


def tell_timeout(env, run, message):
    """Raise the `timeout` alert of `run`, which went past its time limit
    (the run registry calls it), in a thread of its own: a slow mail
    server must not hold back the registry, which heartbeats the runs."""
    spawn_thread('traccron-alert', alerts.tell_in_worker, Core(env),
                 [alerts.Alert('timeout', run.task_id, message, run=run)])


dispatcher.tell_timeout = tell_timeout
