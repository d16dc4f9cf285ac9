# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""What only the API of the original plugin (0.3.1) needs.

- A scheduler type of a third party that has only `isTriggerTime` is
  asked once a minute (`EveryMinute`).
- The bundled types offer `isTriggerTime` to third-party callers,
  derived from their `compile` (`TriggerTimeFromCompile`).
- The in-memory history store of the original (`MemoryHistoryStore`),
  and the misspelled keyword `sucess` of `getExecution`.
"""

import collections
import threading
from datetime import datetime, timedelta

from trac.core import Component, implements

from traccron.api import IHistoryTaskExecutionStore
from traccron.config import CronConfig, or_default
from traccron.times import MINUTE, UTC, from_us, to_us

_ONE_MINUTE = timedelta(minutes=1)
_INSTANT = timedelta(microseconds=1)


class EveryMinute(object):
    """The trigger of a scheduler type with only `isTriggerTime`: every
    minute boundary is a candidate, which the type confirms."""

    def __init__(self, stype, task, tz):
        self.stype, self.task, self.tz = stype, task, tz

    def next_after(self, dt):
        us = to_us(dt)
        return from_us(us - us % MINUTE + MINUTE, dt.tzinfo)

    def confirm(self, fire):
        """Whether the type says the task runs at `fire` (asked with a
        `time.struct_time` in the scheduler's zone)."""
        return bool(self.stype.isTriggerTime(
            self.task, fire.astimezone(self.tz).timetuple()))


class TriggerTimeFromCompile(object):
    """`isTriggerTime` of the old API for a scheduler type that has
    `getId`, `split_values` and `compile`: whether one of the values of
    `<task>.<type>` fires within the minute `currentTime` (a
    `time.struct_time`, wall time in the scheduler's zone)."""

    def isTriggerTime(self, task, currentTime):
        config = CronConfig(self.env)
        raw = config.get_schedule_value(task, self.getId())
        if not raw:
            return False
        tz = or_default(config.get_timezone)
        minute = datetime(*currentTime[:5])
        # The earliest instant that reads as this minute (a minute that a
        # change of offset skips or repeats has two readings), counted in
        # UTC: wall-time arithmetic would step over the change.
        before = min(minute.replace(tzinfo=tz, fold=fold).astimezone(UTC)
                     for fold in (0, 1)) - _INSTANT
        for value in self.split_values(raw):
            try:
                nxt = self.compile(value, tz).next_after(before)
            except ValueError:
                continue
            if nxt is not None and minute <= nxt.astimezone(tz).replace(
                    tzinfo=None) < minute + _ONE_MINUTE:
                return True
        return False


def store_filters(task, sucess, success):
    """The task id and outcome asked of `getExecution` (the original
    keyword `sucess` or `success`)."""
    task_id = None
    if task is not None:
        task_id = task if isinstance(task, str) else task.getId()
    return task_id, sucess if success is None else success


class MemoryHistoryStore(Component):
    """The original in-memory history, kept for readers of the old API.
    It holds the most recent runs of this process only (at most
    `max_entries`); the database history is the record."""

    implements(IHistoryTaskExecutionStore)

    max_entries = 1000

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=self.max_entries)

    def addExecution(self, task, start, end, success):
        with self._lock:
            self._entries.append((task, start, end, bool(success)))

    def getExecution(self, task=None, fromTime=None, toTime=None,
                     sucess=None, success=None):
        task_id, success = store_filters(task, sucess, success)
        with self._lock:
            entries = list(self._entries)
        return [e for e in entries
                if (task_id is None or
                    (e[0] if isinstance(e[0], str) else e[0].getId())
                    == task_id)
                and (fromTime is None or e[1] >= fromTime)
                and (toTime is None or e[1] <= toTime)
                and (success is None or e[3] == bool(success))]

    def clear(self):
        with self._lock:
            self._entries.clear()
