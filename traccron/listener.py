# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Bundled task event listeners."""

import threading
import time
from datetime import datetime, timezone

from trac.core import Component, ExtensionPoint, implements

from traccron.api import (IHistoryTaskExecutionStore, ITaskEventListener,
                          current_run)
from traccron.config import CronConfig
from traccron.core import Core
from traccron.history import DbHistoryStore
from traccron.notification import CronMailer, CronMailEvent
from traccron.times import seconds
from traccron.present import stamp, zone_name


class HistoryTaskEvent(Component):
    """Records each run in the history stores other than the database
    (the core writes the database history itself)."""

    implements(ITaskEventListener)

    stores = ExtensionPoint(IHistoryTaskExecutionStore)

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        run = current_run()
        if run is None or run.started is None:
            return
        start = seconds(run.started)
        end = seconds(run.ended if run.ended is not None else run.started)
        for store in self.stores:
            if not isinstance(store, DbHistoryStore):
                store.addExecution(task, start, end, bool(success))

    def getId(self):
        return 'history_task_event'

    def getDescription(self):
        return self.__doc__


# The runs waiting for the next summary mail, per environment path: they
# outlive the Environment object that Trac replaces when trac.ini changes,
# not the process.
_buffers = {}
_buffers_lock = threading.Lock()


class EmailTaskEvent(Component):
    """Mails a summary of task runs to `email_task_event.recipient`, once
    every `email_task_event.limit` runs; with
    `email_task_event.only_error`, only failed runs count (the final
    failure of an occurrence whose retries are spent)."""

    implements(ITaskEventListener)

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        config = CronConfig(self.env)
        if not config.get_email_notifier_task_recipient().strip():
            return      # (the quick answer of every run's end, by default)
        recipients = config.get_email_notifier_task_recipient_list()
        if not recipients:
            return
        if config.is_email_notifier_only_error():
            run = current_run()
            # Only the final failure of an occurrence: not its attempts
            # that are tried again, nor a success.
            if success or (run is not None and not run.final):
                return
        limit = config.email_limit
        entry = self._entry(task, success)
        with _buffers_lock:
            runs = _buffers.setdefault(self.env.path, [])
            runs.append(entry)
            if len(runs) < limit:
                return
            del _buffers[self.env.path]
        self.send(runs, recipients)

    def send(self, runs, recipients):
        """Mail the summary of `runs` (as made by `onEndTask`)."""
        tz = Core(self.env).timezone()
        data = {
            'timezone': zone_name(tz),
            'runs': [dict(r, started=stamp(_instant(r['started']), tz),
                          ended=stamp(_instant(r['ended']), tz))
                     for r in runs],
        }
        event = CronMailEvent('task_event', data, target='task_event',
                              time=datetime.fromtimestamp(
                                  runs[-1]['ended'], tz))
        delivery = CronMailer(self.env).send(event, recipients)
        if delivery.failed:
            # The core records a listener's exception in the run's history.
            raise RuntimeError('email_task_event: ' + delivery.summary())

    def _entry(self, task, success):
        run = current_run()
        now = time.time()
        if run is None:
            return {'task': task.getId(), 'schedule': '', 'started': now,
                    'ended': now, 'success': bool(success), 'message': '',
                    'attempts': ''}
        started = seconds(run.started) if run.started is not None else now
        ended = seconds(run.ended) if run.ended is not None else now
        return {'task': run.task_id, 'schedule': run.schedule,
                'started': started, 'ended': ended,
                'success': bool(success), 'message': run.message or '',
                'attempts': _attempts(run, success)}

    def getId(self):
        return 'email_task_event'

    def getDescription(self):
        return self.__doc__


def _attempts(run, success):
    """What the summary says of the attempts of `run`."""
    if success or (run.attempt == 1 and run.final):
        return ''
    if not run.final:
        return ' (attempt %d, tried again)' % run.attempt
    return ' (failed after %d attempts)' % run.attempt


def _instant(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)
