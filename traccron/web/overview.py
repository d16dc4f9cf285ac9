# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The Overview panel (`/admin/traccron/cron_overview`), the first page
of TracCron: a row per task with its schedules in words, its next run,
its last run and its recent outcomes; failing and overdue tasks first
(overdue: an occurrence past its misfire grace with no row, or no
success within `TASK.alert_after`). `CRON_VIEW` reads it; its actions (the enabled switch, Run now with
arguments) need `CRON_ADMIN`."""

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, implements
from trac.util.datefmt import pretty_timedelta
from trac.util.html import tag
from trac.web.api import HTTPNotFound, IRequestFilter
from trac.web.chrome import add_notice

from traccron import history, settings
from traccron.config import CronConfig, or_default
from traccron.core import Core
from traccron.present import (STATUS_LABELS, duration, run_seconds,
                              schedule_time, schedule_words,
                              status_badge, status_label, zone_label,
                              zone_name)
from traccron.scheduler import schedule_values
from traccron.settings import split_list
from traccron.ticker import wake_ticker
from traccron.times import SECOND, from_us, now_us, to_us
from traccron.web.common import (CATEGORY, PERMISSION, VIEW_PERMISSION, _,
                                 describe, open_panel, panel_page, start_run,
                                 tag_)

PAGE = 'cron_overview'
#: The outcomes shown per task, and the rows read per task.
RECENT = 20
#: A task whose last finished run ended so sorts first.
FAILED = ('failure', 'interrupted')
#: The runs that count in the success rate.
OUTCOMES = ('success',) + FAILED

#: The category's own page (Trac sends the path with a slash there).
_CATEGORY_PATH = '/admin/%s' % CATEGORY


class OverviewPanel(Component):
    """The Overview panel of TracCron, which the category's link opens
    and which the menu lists first."""

    implements(IAdminPanelProvider, IRequestFilter)

    # IAdminPanelProvider methods

    def get_admin_panels(self, req):
        if VIEW_PERMISSION in req.perm:
            yield CATEGORY, _("Trac Cron"), PAGE, _("Overview")

    def render_admin_panel(self, req, cat, page, path_info):
        open_panel(req, path_info, permission=VIEW_PERMISSION)
        if req.method == 'POST':
            req.perm.require(PERMISSION)
            self._act(req)
        config = CronConfig(self.env)
        schedules, problems = Core(self.env).build_schedules()
        tasks = self._tasks(req, config, schedules, _now())
        return panel_page(self.env, 'cron_overview.html', {
            'tasks': tasks,
            'problems': problems,
            'can_act': PERMISSION in req.perm,
            'zone': zone_name(config.timezone),
            'user_zone': zone_label(req.tz),
            'failing': sum(1 for t in tasks if t['failing']),
            'overdue': sum(1 for t in tasks if t['overdue']),
        })

    # IRequestFilter methods

    def pre_process_request(self, req, handler):
        # Trac opens the first panel of a category in the order of their
        # ids; the category's own link opens the Overview instead.
        if req.path_info == _CATEGORY_PATH and \
                VIEW_PERMISSION in req.perm:
            req.args['panel_id'] = PAGE
        return handler

    def post_process_request(self, req, template, data, metadata):
        if data and 'active_cat' in data and 'panels' in data:
            data['panels'] = _overview_first(data['panels'])
        return template, data, metadata

    # Actions

    def _act(self, req):
        core = Core(self.env)
        for action in ('enable', 'disable', 'run'):
            task_id = req.args.get(action)
            if task_id:
                break
        else:
            return
        if core.get_task(task_id) is None:
            raise HTTPNotFound(_("No task %(task)s", task=task_id))
        if action == 'run':
            self._run_now(req, core, task_id)
        else:
            self._set_enabled(req, task_id, action == 'enable')
        req.redirect(req.href.admin(CATEGORY, PAGE))

    def _set_enabled(self, req, task_id, enabled):
        settings.write(CronConfig(self.env).section,
                       '%s.enabled' % task_id, enabled)
        self.env.config.save()
        wake_ticker(self.env)
        message = tag_("Task %(task)s enabled.", task=tag.strong(task_id)) \
            if enabled else \
            tag_("Task %(task)s disabled.", task=tag.strong(task_id))
        add_notice(req, message)

    def _run_now(self, req, core, task_id):
        start_run(req, core, task_id, split_list(req.args.get('args')))

    # The rows

    def _tasks(self, req, config, enabled_schedules, now):
        """A row per task, failing then overdue tasks first."""
        core = Core(self.env)
        tasks = core.get_task_list()
        latest = history.latest(self.env, [t.getId() for t in tasks],
                                RECENT, messages=False)
        rows = _Rows(req, config, core, enabled_schedules, now)
        result = [rows.row(task, latest[task.getId()]) for task in tasks]
        result.sort(key=lambda row: (0 if row['failing'] else
                                     1 if row['overdue'] else 2, row['id']))
        return result


class _Rows(object):
    """Makes the row of each task; what the rows share (statuses and
    their badges in the user's language, schedules in words) is made
    once per page."""

    def __init__(self, req, config, core, enabled_schedules, now):
        self.env = core.env
        self.req = req
        self.config = config
        self.types = core.get_supported_schedulers()
        self.schedules = {}
        for schedule in enabled_schedules:
            self.schedules.setdefault(schedule.task_id, []).append(schedule)
        self.now = now
        self.grace = config.misfire_grace * SECOND
        self.zone = zone_name(config.timezone)
        self.labels = dict((status, str(status_label(status)))
                           for status in STATUS_LABELS)
        self.badges = dict((status, status_badge(status))
                           for status in STATUS_LABELS)
        self.words = {}

    def row(self, task, recent):
        """The row of `task`, whose latest rows of history are
        `recent`."""
        task_id = task.getId()
        now = self.now
        schedules = self.schedules.get(task_id, [])
        last = next((r for r in recent if not r.going), None)
        outcomes = [r for r in recent if r.status in OUTCOMES]
        successes = sum(1 for r in outcomes if r.status == 'success')
        next_run = _next_run(schedules, now)
        enabled = self.config.is_task_enabled(task_id)
        failing = last is not None and last.status in FAILED
        alert = or_default(self.config.get_alert_after, task_id)
        overdue = enabled and (
            _overdue(schedules, recent, now, self.grace) or
            bool(alert) and history.success_overdue(
                self.env, task_id, alert * SECOND, now,
                history.last_success(self.env, task_id)))
        return {
            'id': task_id,
            'class': ' '.join(['cron-task-row'] +
                              (['cron-failing'] if failing else []) +
                              (['cron-overdue'] if overdue else []) +
                              ([] if enabled else ['cron-disabled'])),
            'description': describe(task),
            'enabled': enabled,
            'schedules': self._in_words(task_id),
            'next': None if next_run is None else {
                'when': _when(self.req, next_run),
                'in': pretty_timedelta(from_us(now), next_run),
            },
            'last': None if last is None else {
                'badge': self.badges.get(last.status) or
                status_badge(last.status),
                'status': last.status,
                'when': _when(self.req, last.started or last.fire_time),
                'duration': None if last.duration is None
                else duration(last.duration),
            },
            'running': [{'elapsed': duration(run_seconds(r, now)),
                         'past_limit': r.status == 'timeout'}
                        for r in recent if r.going and r.started is not None],
            'rate': None if not outcomes
            else int(round(100.0 * successes / len(outcomes))),
            'successes': successes,
            'outcomes': len(outcomes),
            'strip': _strip(task_id, self.labels, recent),
            'failing': failing,
            'overdue': overdue,
        }

    def _in_words(self, task_id):
        """Each value of each schedule of the task, in words, and whether
        its schedule is enabled."""
        result = []
        for stype in self.types:
            type_id = stype.getId()
            raw = self.config.get_schedule_value(task_id, type_id)
            if not raw:
                continue
            enabled = self.config.is_schedule_enabled(task_id, type_id)
            for value in schedule_values(stype, raw):
                if value.strip():
                    result.append({'type': type_id, 'value': value,
                                   'words': self._words(type_id, value),
                                   'enabled': enabled})
        return result

    def _words(self, type_id, value):
        key = (type_id, value)
        if key not in self.words:
            self.words[key] = schedule_words(type_id, value, self.zone)
        return self.words[key]


def _next_run(schedules, now):
    """The first instant after `now` (µs) of any of `schedules`."""
    after = from_us(now)
    instants = [s.next_after(after) for s in schedules]
    instants = [i for i in instants if i is not None]
    return min(instants, key=to_us) if instants else None


def _overdue(schedules, recent, now, grace):
    """Whether an occurrence of a schedule should have been recorded by
    now (past the misfire grace) after the last one `recent` holds."""
    for schedule in schedules:
        last = next((r for r in recent
                     if r.schedule.split('@')[0] == schedule.type_id),
                    None)
        if last is None:
            continue
        following = schedule.next_after(from_us(last.fire_time))
        if following is not None and to_us(following) + grace < now:
            return True
    return False


def _when(req, when):
    """A time of the page in the user's zone, as a plain stamp (in the
    user's language and date format, the 400 times of 200 tasks would
    cost a sixth of the page's time)."""
    return schedule_time(when, req.tz)


def _strip(task_id, labels, recent):
    """The strip of recent outcomes, oldest at the left: a coloured
    square per run, and the count of each status as its title (one
    title, not one per square, and the squares made here rather than
    by the template, whose every output goes up five levels of
    inheritance: 4000 squares would double the time of the page)."""
    if not recent:
        return None
    counts = {}
    for row in recent:
        counts[row.status] = counts.get(row.status, 0) + 1
    title = ', '.join('%d %s' % (counts[status], labels.get(status, status))
                      for status in sorted(counts))
    return tag.span([_SQUARES.get(r.status) or _square(r.status)
                     for r in reversed(recent)],
                    class_='cron-strip', role='img', title=title,
                    aria_label=_("Recent runs of %(task)s: %(outcomes)s",
                                 task=task_id, outcomes=title))


def _square(status):
    return tag.span(class_='cron-square cron-square-' + status)


#: A square of each status, made once.
_SQUARES = dict((status, _square(status)) for status in STATUS_LABELS)


def _overview_first(panels):
    """The admin menu (`(category, panels)` pairs, as Trac groups them)
    with the Overview first among the panels of TracCron."""
    result = []
    for category, items in panels:
        items = list(items)
        if category['id'] == CATEGORY:
            items.sort(key=lambda item: item['panel']['id'] != PAGE)
        result.append((category, items))
    return result


def _now():
    return now_us()
