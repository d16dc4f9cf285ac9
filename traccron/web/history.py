# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The History panel (`/admin/traccron/cron_history`): the runs, newest
first, paged and filtered by task and status, a chart of the recent runs
of each task, "Clear history"; with `format=rss`, the feed
(`traccron.web.feed`); below it, the page of each run
(`traccron.web.run_page`). Times are the viewing user's. Reading needs
`CRON_VIEW`, clearing `CRON_ADMIN`."""

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, implements
from trac.util.presentation import Paginator
from trac.web.chrome import add_link, add_notice, add_warning, auth_link

from traccron import history
from traccron.core import Core
from traccron.present import (STATUS_LABELS, charts, run_view,
                              user_datetime, zone_label)
from traccron.times import now_us
from traccron.web.common import (CATEGORY, PERMISSION, VIEW_PERMISSION, _,
                                 open_panel, panel_page)
from traccron.web.feed import feed
from traccron.web.run_page import find_run, run_data, send_json

PAGE = 'cron_history'
#: Rows per page, and items of the feed.
PAGE_SIZE = 50
#: The chart shows runs among this many latest rows.
CHART_WINDOW = 500
#: At most this many runs per task in the chart.
CHART_RUNS = 40


class HistoryPanel(Component):
    """The History panel of TracCron and its RSS feed."""

    implements(IAdminPanelProvider)

    # IAdminPanelProvider methods

    def get_admin_panels(self, req):
        if VIEW_PERMISSION in req.perm:
            yield CATEGORY, _("Trac Cron"), PAGE, _("History")

    def render_admin_panel(self, req, cat, page, path_info):
        if path_info:
            return self._run_page(req, path_info)
        open_panel(req, path_info, VIEW_PERMISSION)
        if req.method == 'POST' and req.args.get('clear'):
            req.perm.require(PERMISSION)
            if req.args.get('confirm') != 'yes':
                return panel_page(self.env, 'cron_history.html', {
                    'confirm_clear': True, 'total': history.count(self.env)})
            history.clear(self.env)
            add_notice(req, _("The history has been cleared."))
            req.redirect(req.href.admin(CATEGORY, PAGE))
        task = req.args.get('task') or None
        status = req.args.get('status') or None
        if status not in STATUS_LABELS:
            status = None
        filters = dict((k, v) for k, v in (('task', task),
                                           ('status', status)) if v)
        if req.args.get('format') == 'rss':
            link = req.abs_href.admin(CATEGORY, PAGE, **filters)
            return panel_page(self.env, 'cron_history.rss',
                              feed(self.env, req, task, status, link,
                                   PAGE_SIZE))
        return panel_page(self.env, 'cron_history.html',
                          self._page(req, task, status, filters))

    def _run_page(self, req, path_info):
        open_panel(req, None, VIEW_PERMISSION)
        row = find_run(self.env, path_info)
        if req.args.get('format') == 'json':
            send_json(self.env, req, row)
        return panel_page(self.env, 'cron_run.html',
                          run_data(self.env, req, row))

    def _page(self, req, task, status, filters):
        page = req.args.getint('page', 1, min=1)
        total = history.count(self.env, task, status)
        last_page = max(1, -(-total // PAGE_SIZE))
        if page > last_page:
            add_warning(req, _("Page %(page)d is out of range.", page=page))
            page = last_page
        rows = history.query(self.env, task, status, limit=PAGE_SIZE,
                             offset=(page - 1) * PAGE_SIZE)
        now = _now()
        paginator = self._paginator(req, rows, page, total, filters)
        paginator.items = [run_view(r, now) for r in rows]
        rss_href = req.href.admin(CATEGORY, PAGE, format='rss', **filters)
        add_link(req, 'alternate', auth_link(req, rss_href),
                 _("TracCron history"), 'application/rss+xml', 'rss')
        task_ids = [t.getId() for t in Core(self.env).get_task_list()]
        if task and task not in task_ids:
            task_ids.append(task)
        return {
            'paginator': paginator,
            'task': task,
            'status': status,
            'task_ids': task_ids,
            'total': total,
            'zone': zone_label(req.tz),
            'charts': charts(history.query(self.env, limit=CHART_WINDOW),
                             now, lambda us: user_datetime(req, us),
                             runs=CHART_RUNS),
            'rss_href': rss_href,
            'can_clear': PERMISSION in req.perm,
        }

    def _paginator(self, req, rows, page, total, filters):
        paginator = Paginator(rows, page - 1, PAGE_SIZE, total)

        def href(n):
            return req.href.admin(CATEGORY, PAGE, page=n, **filters)
        paginator.shown_pages = [
            {'href': href(n), 'class': None, 'string': str(n),
             'title': _("Page %(num)d", num=n)}
            for n in paginator.get_shown_pages(11)]
        paginator.current_page = {'href': None, 'class': 'current',
                                  'string': str(page),
                                  'title': _("Page %(num)d", num=page)}
        if paginator.has_next_page:
            add_link(req, 'next', href(page + 1), _("Next Page"))
        if paginator.has_previous_page:
            add_link(req, 'prev', href(page - 1), _("Previous Page"))
        return paginator


def _now():
    return now_us()
