# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Tasks bundled with TracCron, one module each."""

from traccron.api import current_run


def time_is_up():
    """Whether the run of the calling thread went past its time limit
    (`TASK.timeout`): a bundled task then stops before its next ticket."""
    run = current_run()
    return run is not None and run.cancelled


def stopped_early(done, total, things='tickets'):
    """The note of a task that stopped at its time limit after `done` of
    its `total` `things`."""
    return 'stopped early: time limit reached after %d of %d %s' % (
        done, total, things)
