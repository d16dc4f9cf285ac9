# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Bundled task event listeners."""

from trac.core import Component, ExtensionPoint, implements

from traccron.api import (IHistoryTaskExecutionStore, ITaskEventListener,
                          current_run)
from traccron.history import DbHistoryStore


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
        start = run.started / 1e6
        end = (run.ended if run.ended is not None else run.started) / 1e6
        for store in self.stores:
            if not isinstance(store, DbHistoryStore):
                store.addExecution(task, start, end, bool(success))

    def getId(self):
        return 'history_task_event'

    def getDescription(self):
        return self.__doc__
