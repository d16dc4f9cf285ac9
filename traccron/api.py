# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The contract that tasks, scheduler types, listeners and history stores
implement. The names and signatures are those of the original
TracCronPlugin, so tasks written for it keep working."""

import threading

from trac.core import Interface


class ICronTask(Interface):
    """A task that the scheduler runs."""

    def wake_up(self, *args):
        """Called by the scheduler when the task is due.

        `args` are the arguments of the schedule that fired, as strings.
        An exception marks the run as failed; it is recorded in the
        history with its traceback.
        """

    def getId(self):
        """Return the key of this task in the `[traccron]` section."""

    def getDescription(self):
        """Return the description shown in the admin panel."""


class ISchedulerType(Interface):
    """A kind of schedule, configured as `<task>.<type id>` in trac.ini.

    `getId`, `getHint` and `isTriggerTime` are the original API. A type
    may also offer the protocol below (the bundled types do): `compile`
    and `split_values`, or only `next_trigger_time`. Where it does, the
    ticker sleeps until the next instant of each schedule; a type with
    only `isTriggerTime` is asked once a minute (`traccron.compat`).
    Invalid values raise `ValueError` with a message that names what is
    wrong and the expected form; the schedule is then left out and the
    problem reported with its key (it never stops other schedules).
    """

    def getId(self):
        """Return the key of this scheduler type, e.g. `daily`."""

    def getHint(self):
        """Return a short help text on the value format."""

    def isTriggerTime(self, task, currentTime):
        """Return whether `task` must run at `currentTime`, a
        `time.struct_time` in the scheduler's time zone (to the minute).
        """

    def compile(self, value, tz):
        """Optional. Return the trigger of one schedule value in the zone
        `tz` (a `tzinfo`): an object whose `next_after(dt)` gives the
        first aware `datetime` strictly after the aware `dt` at which it
        fires, or `None` if it never fires again. Called once per value
        whenever `[traccron]` changes, so parse here, not in
        `next_after`."""

    def split_values(self, raw):
        """Optional. Return the single values of `raw`, the value of
        `<task>.<type id>` (by default it is split on commas)."""

    def next_trigger_time(self, task, value, after):
        """Optional. Return the first aware `datetime` strictly after the
        aware `after` at which the schedule value `value` fires, or
        `None`. Used when the type has no `compile`."""


class ITaskEventListener(Interface):
    """Notified around every run of a task.

    During the calls, `current_run()` gives the details of the run. The
    calls of one run come in order, but those of different runs of a
    task may interleave (`onEndTask` of a run may come after
    `onStartTask` of the next one, whose instant came meanwhile):
    a listener tells runs apart by `current_run()`.
    """

    def onStartTask(self, task):
        """Called just before `task` runs."""

    def onEndTask(self, task, success):
        """Called when `task` has run; `success` is a `bool`. With
        `TASK.retries`, it is called for each attempt;
        `current_run().final` tells whether another one follows."""

    # A listener may also define `onTaskAlert(alert)`: it is then told
    # of each `traccron.alerts.Alert`: the final failure of an occurrence
    # (after its retries), a run past its time limit, a task overdue and
    # a task recovered.

    def getId(self):
        """Return the key of this listener in the `[traccron]` section."""

    def getDescription(self):
        """Return the description shown in the admin panel."""


class IHistoryTaskExecutionStore(Interface):
    """Keeps the record of task runs."""

    def addExecution(self, task, start, end, success):
        """Record a run of `task`; `start` and `end` are seconds since the
        epoch, `success` a `bool`."""

    def getExecution(self, task=None, fromTime=None, toTime=None,
                     sucess=None):
        """Return the recorded runs as `(task, start, end, success)`
        tuples, optionally filtered by task, start time and outcome.
        (The misspelled `sucess` is the original keyword; implementations
        also accept `success`.)"""

    def clear(self):
        """Forget every recorded run."""


class TaskRun(object):
    """What is known of one run of a task while listeners are called."""

    __slots__ = ('task', 'task_id', 'schedule', 'args', 'fire_time',
                 'started', 'ended', 'success', 'message', 'runner', 'id',
                 'attempt', 'retries', 'retry_at', 'timed_out', '_cancel',
                 'start_at')

    def __init__(self, task, task_id, schedule, args, fire_time, runner,
                 id=None, attempt=1, retries=0):
        self.task = task
        self.task_id = task_id
        self.schedule = schedule
        self.args = tuple(args)
        self.fire_time = fire_time  # µs since the epoch, UTC
        self.started = None         # µs since the epoch, UTC
        self.ended = None
        self.success = None
        self.message = ''
        self.runner = runner
        self.id = id
        #: 1 for the first try of an occurrence, then 2, 3... for retries.
        self.attempt = attempt
        #: How many retries the task has after a failed first attempt.
        self.retries = retries
        #: When a failed run is tried again (µs), or `None`: it is final.
        self.retry_at = None
        #: Set when the run went past `TASK.timeout`.
        self.timed_out = False
        self._cancel = False     # a flag: set once, read by the task
        #: The instant (µs) the run waits for once it is ready to start:
        #: the ticker claims and prepares runs ahead of their time.
        self.start_at = None

    @property
    def cancelled(self):
        """Whether the run should stop early: it went past its time
        limit (`TASK.timeout`). A long task checks it between its steps
        and returns; Python cannot stop a thread from outside."""
        return self._cancel

    def cancel(self):
        self._cancel = True

    @property
    def final(self):
        """Whether this attempt is the last of its occurrence: it
        succeeded, or no retry follows it."""
        return bool(self.success) or self.retry_at is None

    def __repr__(self):
        return '<TaskRun %s %s %s>' % (self.task_id, self.schedule,
                                        self.fire_time)


_local = threading.local()


def current_run():
    """Return the `TaskRun` being executed by the calling thread, or
    `None` outside a run."""
    return getattr(_local, 'run', None)


def set_current_run(run):
    _local.run = run
