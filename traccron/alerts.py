# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Alerts: what listeners and subscribers are told of besides the runs
themselves.

- `failure`: the final failure of an occurrence, once its retries are
  spent (`TASK.retries`);
- `timeout`: a run still going past its time limit (`TASK.timeout`);
- `overdue`: a task with no success for `TASK.alert_after`;
- `recovered`: the first success of a task that was overdue.

Each goes to the enabled listeners that define `onTaskAlert(alert)` and,
through Trac's `NotificationSystem`, to the users who subscribed to it
in their preferences (`traccron.notification.CronAlertEvent`). Nothing
raised on the way escapes: an alert is told, never the cause of a
lost run."""

import logging
import threading

from traccron.notification import notify_alert
from traccron.times import now_us

KINDS = ('failure', 'timeout', 'overdue', 'recovered')

_log = logging.getLogger('traccron')


class Alert(object):
    """One alert about task `task_id`. `run` is the `TaskRun` it is about
    (`failure`, `timeout`), or `None`; `time` is µs since the epoch;
    `message` says what happened, in one line."""

    __slots__ = ('kind', 'task_id', 'run', 'time', 'message')

    def __init__(self, kind, task_id, message, run=None, time=None):
        if kind not in KINDS:
            raise ValueError('no alert kind %r' % kind)
        self.kind = kind
        self.task_id = task_id
        self.message = message
        self.run = run
        self.time = now_us() if time is None else time

    def __repr__(self):
        return '<Alert %s %s>' % (self.kind, self.task_id)


def failure_message(run):
    """The one-line account of the final failure of `run`."""
    last = (run.message or '').strip().splitlines()
    reason = last[-1] if last else 'no message'
    if run.attempt > 1:
        return 'failed after %d attempts: %s' % (run.attempt, reason)
    return 'failed: %s' % reason


def tell_all(core, alerts):
    """Tell each of `alerts` to the listeners and subscribers of `core`
    (a `traccron.core.Core`)."""
    for alert in alerts:
        core.alert(alert)


def tell_in_worker(core, alerts):
    """`tell_all` in a worker thread, which then gives back its database
    connection."""
    try:
        tell_all(core, alerts)
    finally:
        core.env.shutdown(threading.get_ident())


def raise_alert(env, alert, listeners):
    """Tell `alert` to `listeners` (those with `onTaskAlert`) and to the
    subscribers. Returns the notes of what failed on the way (each is
    also logged), for the history message of the run concerned."""
    notes = []
    env.log.info('TracCron: %s %s: %s', alert.task_id, alert.kind,
                 alert.message)
    for listener in listeners:
        method = getattr(listener, 'onTaskAlert', None)
        if method is None:
            continue
        try:
            method(alert)
        except Exception as e:
            env.log.error('TracCron: listener %s failed on the %s alert of '
                          '%s', listener.getId(), alert.kind, alert.task_id,
                          exc_info=True)
            notes.append('listener %s failed on the %s alert: %s: %s'
                         % (listener.getId(), alert.kind,
                            type(e).__name__, e))
    try:
        notify_alert(env, alert)
    except Exception as e:
        env.log.error('TracCron: the subscribers of the %s alert of %s '
                      'could not be told', alert.kind, alert.task_id,
                      exc_info=True)
        notes.append('subscribers of the %s alert not told: %s: %s'
                     % (alert.kind, type(e).__name__, e))
    return notes
