# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The runs in Trac's Timeline, for users with `CRON_VIEW`: the filter
"Scheduled task runs" (failures, interruptions, missed occurrences; on by
default) and "Successful scheduled task runs" (off by default). Each
event links to the page of its run."""

from trac.core import Component, implements
from trac.timeline.api import ITimelineEventProvider
from trac.util.datefmt import to_utimestamp
from trac.util.html import tag
from trac.web.chrome import add_stylesheet

from traccron import history
from traccron.present import status_label
from traccron.times import from_us
from traccron.web.common import CATEGORY, VIEW_PERMISSION, _, tag_

PAGE = 'cron_history'
PROBLEMS = 'traccron'
SUCCESSES = 'traccron_success'
#: The statuses each filter shows.
FILTER_STATUSES = {
    PROBLEMS: ('failure', 'interrupted', 'missed', 'timeout'),
    SUCCESSES: ('success',),
}


class CronTimeline(Component):
    """The runs of scheduled tasks in the Timeline."""

    implements(ITimelineEventProvider)

    # ITimelineEventProvider methods

    def get_timeline_filters(self, req):
        if VIEW_PERMISSION in req.perm:
            add_stylesheet(req, 'traccron/traccron.css')
            yield PROBLEMS, _("Scheduled task runs")
            yield SUCCESSES, _("Successful scheduled task runs"), False

    def get_timeline_events(self, req, start, stop, filters):
        if VIEW_PERMISSION not in req.perm:
            return
        statuses = [s for f in (PROBLEMS, SUCCESSES) if f in filters
                    for s in FILTER_STATUSES[f]]
        if not statuses:
            return
        for row in history.timeline(self.env, to_utimestamp(start),
                                    to_utimestamp(stop), statuses):
            kind = 'cron-%s' % row.status
            yield (kind, from_us(row.started or row.fire_time), None,
                   (row.id, row.task, row.schedule, row.status,
                    row.message))

    def render_timeline_event(self, context, field, event):
        id, task, schedule, status, message = event[3]
        if field == 'url':
            return context.href.admin(CATEGORY, PAGE, str(id))
        if field == 'title':
            return tag_("Task %(task)s: %(status)s",
                        task=tag.em(task), status=status_label(status))
        if field == 'description':
            lines = (message or '').strip().splitlines()
            return tag(_("Schedule: %(schedule)s", schedule=schedule),
                       tag.br() if lines else None,
                       lines[-1] if lines else None)
