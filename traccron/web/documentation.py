# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The Documentation panel (`/admin/traccron/cron_doc`): the scheduler
types with their hints and examples, the syntax of cron expressions,
and the next fire times of every enabled schedule."""

from datetime import datetime, timezone

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, implements

from traccron.core import Core
from traccron.present import schedule_time, zone_label
from traccron.scheduler import fire_times
from traccron.web.common import (CATEGORY, PERMISSION, _, hint, open_panel,
                                 panel_page)

PAGE = 'cron_doc'
#: Fire times listed per schedule.
FIRE_TIMES = 5

EXAMPLES = {
    'hourly': ['17', '0, 30'],
    'daily': ['21h19', '08:05'],
    'weekly': ['4@21h28', '0@08h00'],
    'monthly': ['15@21h15', '1@06h00'],
    'cron': ['0 0/2 * * * ?', '*/5 * * * *', '@daily'],
}


class DocumentationPanel(Component):
    """The Documentation panel of TracCron."""

    implements(IAdminPanelProvider)

    # IAdminPanelProvider methods

    def get_admin_panels(self, req):
        if PERMISSION in req.perm:
            yield CATEGORY, _("Trac Cron"), PAGE, _("Documentation")

    def render_admin_panel(self, req, cat, page, path_info):
        open_panel(req, path_info)
        core = Core(self.env)
        return panel_page(self.env, 'cron_doc.html', dict(
            self._upcoming(core),
            types=[{'id': s.getId(), 'hint': hint(s),
                    'examples': EXAMPLES.get(s.getId(), [])}
                   for s in core.get_supported_schedulers()]))

    def _upcoming(self, core):
        """The next fire times of each enabled schedule, in the zone of
        the schedules, which the page names; the problems that leave a
        schedule out."""
        tz = core.timezone()
        now = datetime.now(timezone.utc)
        schedules, problems = core.build_schedules(now)
        upcoming = []
        for schedule in schedules:
            upcoming.append({
                'key': schedule.key,
                'legacy': schedule.legacy,
                'times': [] if schedule.legacy else
                [schedule_time(t, tz)
                 for t in fire_times(schedule, now, FIRE_TIMES)],
            })
        return {'upcoming': upcoming, 'problems': problems,
                'zone': zone_label(tz)}
