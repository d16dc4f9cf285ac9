# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

from trac.core import Component, implements

from traccron.api import ICronTask


class HeartBeatTask(Component):
    """A task for testing the scheduler: it writes "Heart beat" to the log
    at DEBUG level, once per argument."""

    implements(ICronTask)

    def wake_up(self, *args):
        for arg in args or ('boom boom !!!',):
            self.log.debug('Heart beat: %s', arg)

    def getId(self):
        return 'heart_beat'

    def getDescription(self):
        return self.__doc__
