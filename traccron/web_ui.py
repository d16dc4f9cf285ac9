# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The admin panels of TracCron (category `traccron`): Settings, History
(with its RSS feed), Listeners and Documentation, and the `CRON_ADMIN`
permission that guards all of them."""

import re
import time
from datetime import datetime, timezone

from pkg_resources import resource_filename

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, implements
from trac.perm import IPermissionRequestor
from trac.util.datefmt import http_date
from trac.util.html import tag
from trac.util.presentation import Paginator
from trac.util.translation import domain_functions, has_babel
from trac.web.api import HTTPBadRequest, HTTPNotFound, IRequestFilter
from trac.web.chrome import (ITemplateProvider, add_link, add_notice,
                             add_stylesheet, add_warning, auth_link)

from traccron import history
from traccron.config import CronConfig, number_rule, whole_number
from traccron.core import Core, RunRefused, from_us
from traccron.ticker import wake_ticker

_, tag_, N_, add_domain = domain_functions('traccron', '_', 'tag_', 'N_',
                                           'add_domain')

CATEGORY = 'traccron'
PERMISSION = 'CRON_ADMIN'
#: Rows per page of the History page.
PAGE_SIZE = 50
#: The chart of the History page shows runs among this many latest rows.
CHART_WINDOW = 500
#: At most this many runs per task in the chart.
CHART_RUNS = 40
#: Fire times listed per schedule on the Documentation page.
FIRE_TIMES = 5

_ADMIN_PATH = re.compile(r'/admin/%s(?:/|$)' % CATEGORY)

STATUS_LABELS = {
    'running': N_("running"),
    'success': N_("success"),
    'failure': N_("failure"),
    'skipped': N_("skipped"),
    'missed': N_("missed"),
    'interrupted': N_("interrupted"),
}

# The hints of the bundled scheduler types (traccron/scheduler.py), so
# that the catalog translates them; other hints are shown as they are.
_HINTS = [
    N_("minute of the hour (0-59), e.g. 17"),
    N_("time of day HhM (or H:M), e.g. 21h19"),
    N_("day of week (0 = Monday) @ time, e.g. 4@21h28"),
    N_("day of month (1-31) @ time, e.g. 15@21h15"),
    N_('cron expression: Quartz "sec min hour day month weekday [year]" '
       '(e.g. 0 15 10 ? * MON-FRI) or Unix "min hour day month weekday" '
       '(e.g. */5 * * * *); several separated by ;'),
]

_EXAMPLES = {
    'hourly': ['17', '0, 30'],
    'daily': ['21h19', '08:05'],
    'weekly': ['4@21h28', '0@08h00'],
    'monthly': ['15@21h15', '1@06h00'],
    'cron': ['0 0/2 * * * ?', '*/5 * * * *', '@daily'],
}


class Field(object):
    """One input of a settings form: the trac.ini key it edits, its kind
    (`bool`, `int` or `text`), the value in trac.ini, how to write a new
    value and how to check one. An `int` is checked with the rule of its
    key (`traccron.config.NUMBERS`)."""

    def __init__(self, key, kind, current, write, check=None, group=None):
        self.key = key
        self.group = group
        self.kind = kind
        self.current = current
        self.write = write
        self.check = check

    def posted(self, req):
        """The value the user submitted for this field."""
        if self.kind == 'bool':
            return bool(req.args.get(self.key))
        value = req.args.get(self.key, '')
        if isinstance(value, list):
            value = value[-1]
        return value.strip()

    def problems(self, value):
        """`(key, value, reason)` for each problem of `value`."""
        if self.kind == 'int':
            rule = number_rule(self.key)
            number = whole_number(value)
            if number is None or number < rule.minimum:
                return [(self.key, value, _("expected a whole number "
                                            ">= %(min)d", min=rule.minimum))]
            if number > rule.maximum:
                return [(self.key, value, _("expected a whole number "
                                            "<= %(max)d", max=rule.maximum))]
        if self.check is not None:
            return [(self.key, value, reason)
                    for reason in self.check(value)]
        return []


class CronAdminModule(Component):
    """The TracCron admin panels, their RSS feed and the `CRON_ADMIN`
    permission."""

    implements(IAdminPanelProvider, IPermissionRequestor, IRequestFilter,
               ITemplateProvider)

    def __init__(self):
        # Registered here, and this component is a request filter, so
        # that the domain is known before the request's translations are
        # first used.
        add_domain(self.env.path, resource_filename(__name__, 'locale'))

    # IPermissionRequestor methods

    def get_permission_actions(self):
        return [PERMISSION]

    # IRequestFilter methods

    def pre_process_request(self, req, handler):
        # Trac answers 404 for a panel it hides; the panels of TracCron
        # answer 403 to everyone without the permission.
        if _ADMIN_PATH.match(req.path_info):
            req.perm.require(PERMISSION)
        return handler

    def post_process_request(self, req, template, data, metadata):
        return template, data, metadata

    # ITemplateProvider methods

    def get_htdocs_dirs(self):
        return [('traccron', resource_filename(__name__, 'htdocs'))]

    def get_templates_dirs(self):
        return [resource_filename(__name__, 'templates')]

    # IAdminPanelProvider methods

    def get_admin_panels(self, req):
        if PERMISSION in req.perm:
            label = _("Trac Cron")
            yield CATEGORY, label, 'cron_admin', _("Settings")
            yield CATEGORY, label, 'cron_history', _("History")
            yield CATEGORY, label, 'cron_listener', _("Listeners")
            yield CATEGORY, label, 'cron_doc', _("Documentation")

    def render_admin_panel(self, req, cat, page, path_info):
        req.perm.require(PERMISSION)
        renderers = {
            'cron_admin': self._render_settings,
            'cron_history': self._render_history,
            'cron_listener': self._render_listeners,
            'cron_doc': self._render_doc,
        }
        if cat != CATEGORY or page not in renderers or path_info:
            raise HTTPNotFound(_("Unknown administration panel"))
        if req.method == 'POST':
            _require_form_token(req)
        add_stylesheet(req, 'traccron/traccron.css')
        template, data = renderers[page](req)
        data['statuses'] = STATUS_LABELS
        if 'problems' not in data:
            data['problems'] = Core(self.env).check()
        # Without Babel, Trac 1.6 cannot render a template in a domain
        # (its domain_functions lacks `dgettext`): the default functions
        # then render the panels in English.
        metadata = {'domain': 'traccron'} if has_babel else {}
        if template.endswith('.rss'):
            metadata['content_type'] = 'application/rss+xml'
        return template, data, metadata

    # Settings

    def _render_settings(self, req):
        core = Core(self.env)
        fields, tasks = self._settings_fields(core)
        values = dict((f.key, f.current) for f in fields)
        errors = set()
        if req.method == 'POST':
            if req.args.get('run'):
                self._run_now(req, core, req.args.get('run'))
            elif req.args.get('save'):
                values, errors = self._save(req, fields, 'cron_admin',
                                            'task')
        return 'cron_admin.html', {
            'tasks': tasks,
            'values': values,
            'errors': errors,
            'problems': core.check(),
        }

    def _settings_fields(self, core):
        """The fields of the Settings form, and a description of each task
        and of the schedules under it."""
        config = CronConfig(self.env)
        section = config.section
        fields = [
            Field('ticker_enabled', 'bool', config.get_ticker_enabled(),
                  config.set_ticker_enabled),
            Field('ticker_interval', 'int',
                  _raw(section, 'ticker_interval', '1'),
                  config.set_ticker_interval),
        ]
        tasks = []
        for task in core.get_task_list():
            task_id = task.getId()
            fields.append(Field(
                '%s.enabled' % task_id, 'bool',
                config.is_task_enabled(task_id),
                _partial(config.set_task_enabled, task_id), group=task_id))
            schedules = []
            for stype in core.get_supported_schedulers():
                type_id = stype.getId()
                key = '%s.%s' % (task_id, type_id)
                fields.append(Field(
                    key + '.enabled', 'bool',
                    config.is_schedule_enabled(task_id, type_id),
                    _partial(config.set_schedule_enabled, task_id, type_id),
                    group=task_id))
                fields.append(Field(
                    key, 'text', _raw(section, key, ''),
                    _partial(config.set_schedule_value, task_id, type_id),
                    check=_schedule_checker(core, task_id, type_id),
                    group=task_id))
                fields.append(Field(
                    key + '.arg', 'text', _raw(section, key + '.arg', ''),
                    _partial(config.set_schedule_arg, task_id, type_id),
                    group=task_id))
                schedules.append({'type': type_id, 'key': key,
                                  'hint': _hint(stype)})
            tasks.append({'id': task_id,
                          'description': _describe(task),
                          'schedules': schedules})
        return fields, tasks

    def _save(self, req, fields, page, group_arg):
        """Check every posted value, then write the changed ones, or none
        at all. Returns the values to show and the keys in error.

        The fields of a task or listener count only if the form showed
        it (`group_arg` lists them): one that appeared since is left as
        it is, not switched off for lack of a checked box."""
        shown = set(req.args.getlist(group_arg))
        values = dict((f.key, f.current) for f in fields)
        fields = [f for f in fields if f.group is None or f.group in shown]
        posted = dict((f.key, f.posted(req)) for f in fields)
        values.update(posted)
        problems = [p for f in fields for p in f.problems(posted[f.key])]
        if problems:
            for key, value, reason in problems:
                add_warning(req, tag_("Invalid value for %(field)s: "
                                      "%(value)s (%(reason)s)",
                                      field=tag.code(key),
                                      value=tag.code(value or '""'),
                                      reason=reason))
            add_warning(req, _("Nothing was saved."))
            return values, set(p[0] for p in problems)
        # A box shown for an invalid value in trac.ini (shown as its
        # default) is written even when left as it is.
        invalid = set(p.key for p in Core(self.env).check())
        changed = [f for f in fields
                   if posted[f.key] != f.current or f.key in invalid]
        if not changed:
            add_notice(req, _("No changes to save."))
        else:
            for field in changed:
                field.write(posted[field.key])
            try:
                self.config.save()
            except EnvironmentError as e:
                self.log.error('TracCron could not write trac.ini: %s', e)
                add_warning(req, _("Error writing to trac.ini, make sure it "
                                   "is writable by the web server. Your "
                                   "changes have not been saved."))
                return values, set()
            wake_ticker(self.env)
            add_notice(req, _("Your changes have been saved."))
        req.redirect(req.href.admin(CATEGORY, page))

    def _run_now(self, req, core, task_id):
        if core.get_task(task_id) is None:
            raise HTTPNotFound(_("No task %(task)s", task=task_id))
        try:
            core.run_now(task_id)
        except RunRefused as e:
            add_warning(req, tag_("Task %(task)s was not started: %(why)s.",
                                  task=tag.strong(task_id), why=str(e)))
            req.redirect(req.href.admin(CATEGORY, 'cron_admin'))
        add_notice(req, tag_("Task %(task)s started. Its outcome will be "
                             "shown in %(history)s.",
                             task=tag.strong(task_id),
                             history=tag.a(_("History"),
                                           href=req.href.admin(
                                               CATEGORY, 'cron_history',
                                               task=task_id))))
        req.redirect(req.href.admin(CATEGORY, 'cron_admin'))

    # History

    def _render_history(self, req):
        if req.method == 'POST' and req.args.get('clear'):
            if req.args.get('confirm') != 'yes':
                return 'cron_history.html', {'confirm_clear': True,
                                             'total': history.count(
                                                 self.env)}
            history.clear(self.env)
            add_notice(req, _("The history has been cleared."))
            req.redirect(req.href.admin(CATEGORY, 'cron_history'))
        core = Core(self.env)
        tz = core.timezone()
        task = req.args.get('task') or None
        status = req.args.get('status') or None
        if status not in STATUS_LABELS:
            status = None
        filters = dict((k, v) for k, v in (('task', task),
                                           ('status', status)) if v)
        if req.args.get('format') == 'rss':
            return self._render_rss(req, tz, task, status, filters)

        page = req.args.getint('page', 1, min=1)
        total = history.count(self.env, task, status)
        last_page = max(1, -(-total // PAGE_SIZE))
        if page > last_page:
            add_warning(req, _("Page %(page)d is out of range.", page=page))
            page = last_page
        rows = history.query(self.env, task, status, limit=PAGE_SIZE,
                             offset=(page - 1) * PAGE_SIZE)
        now = int(time.time() * 1e6)
        paginator = self._paginator(req, rows, page, total, filters)
        paginator.items = [_row_view(r, tz, now) for r in rows]

        rss_href = req.href.admin(CATEGORY, 'cron_history', format='rss',
                                  **filters)
        add_link(req, 'alternate', auth_link(req, rss_href),
                 _("TracCron history"), 'application/rss+xml', 'rss')
        task_ids = [t.getId() for t in core.get_task_list()]
        if task and task not in task_ids:
            task_ids.append(task)
        return 'cron_history.html', {
            'paginator': paginator,
            'task': task,
            'status': status,
            'task_ids': task_ids,
            'total': total,
            'zone': _zone_name(tz),
            'charts': _charts(history.query(self.env, limit=CHART_WINDOW),
                              tz, now),
            'rss_href': rss_href,
        }

    def _paginator(self, req, rows, page, total, filters):
        paginator = Paginator(rows, page - 1, PAGE_SIZE, total)

        def href(n):
            return req.href.admin(CATEGORY, 'cron_history', page=n,
                                  **filters)
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

    def _render_rss(self, req, tz, task, status, filters):
        rows = history.query(self.env, task, status, limit=PAGE_SIZE)
        now = int(time.time() * 1e6)
        items = []
        for row in rows:
            view = _row_view(row, tz, now)
            view['date'] = http_date(from_us(row.started or row.fire_time))
            view['description'] = _rss_description(view)
            items.append(view)
        return 'cron_history.rss', {
            'items': items,
            'link': req.abs_href.admin(CATEGORY, 'cron_history', **filters),
            'zone': _zone_name(tz),
        }

    # Listeners

    def _render_listeners(self, req):
        core = Core(self.env)
        config = CronConfig(self.env)
        section = config.section
        listeners = core.get_task_listener_list()
        fields = [Field('%s.enabled' % listener.getId(), 'bool',
                        config.is_task_listener_enabled(listener.getId()),
                        _partial(config.set_task_listener_enabled,
                                 listener.getId()), group=listener.getId())
                  for listener in listeners]
        fields += [
            Field('email_task_event.limit', 'int',
                  _raw(section, 'email_task_event.limit', '1'),
                  config.set_email_notifier_task_limit),
            Field('email_task_event.recipient', 'text',
                  _raw(section, 'email_task_event.recipient', ''),
                  config.set_email_notifier_task_recipient),
            Field('email_task_event.only_error', 'bool',
                  config.is_email_notifier_only_error(),
                  config.set_email_notifier_only_error),
        ]
        values = dict((f.key, f.current) for f in fields)
        errors = set()
        if req.method == 'POST' and req.args.get('save'):
            values, errors = self._save(req, fields, 'cron_listener',
                                        'listener')
        return 'cron_listener.html', {
            'listeners': [{'id': listener.getId(),
                           'description': _describe(listener)}
                          for listener in listeners],
            'values': values,
            'errors': errors,
        }

    # Documentation

    def _render_doc(self, req):
        core = Core(self.env)
        tz = core.timezone()
        now = datetime.now(timezone.utc)
        schedules, problems = core.build_schedules(now)
        upcoming = []
        for schedule in schedules:
            upcoming.append({
                'key': schedule.key,
                'legacy': schedule.legacy,
                'times': [] if schedule.legacy else
                [_format_time(t, tz) for t in _next_times(schedule, now)],
            })
        return 'cron_doc.html', {
            'types': [{'id': s.getId(), 'hint': _hint(s),
                       'examples': _EXAMPLES.get(s.getId(), [])}
                      for s in core.get_supported_schedulers()],
            'upcoming': upcoming,
            'problems': problems,
            'zone': _zone_name(tz),
        }


def _require_form_token(req):
    """Refuse a POST without the form token, whatever its content type
    (Trac checks only form submissions)."""
    if req.args.get('__FORM_TOKEN') != req.form_token:
        raise HTTPBadRequest(_("Missing or invalid form token. Do you have "
                               "cookies enabled?"))


def _partial(setter, *args):
    return lambda value: setter(*(args + (value,)))


def _raw(section, key, default):
    value = section.get(key)
    return default if value is None else value.strip()


def _schedule_checker(core, task_id, type_id):
    key = '%s.%s' % (task_id, type_id)

    def check(value):
        # Only the problems of this value: an invalid `timezone`, which
        # this form does not edit, must not refuse every schedule.
        return [p.message if p.value == value else
                '%s: %s' % (p.value, p.message)
                for p in core.check_schedule_value(task_id, type_id, value)
                if p.key == key]
    return check


def _hint(stype):
    hint = stype.getHint() or ''
    return _(hint) if hint else ''


def _describe(obj):
    """A task's or listener's description on one line."""
    return ' '.join((obj.getDescription() or '').split())


def _zone_name(tz):
    name = getattr(tz, 'key', None)
    if name and name != 'localtime':
        return name
    return _("the server's local time zone (%(abbrev)s)",
             abbrev=datetime.now(tz).strftime('%Z'))


def _format_time(dt, tz):
    dt = dt.astimezone(tz)
    return {'text': dt.strftime('%Y-%m-%d %H:%M:%S'),
            'zone': dt.strftime('%Z'),
            'iso': dt.isoformat()}


def _time(us, tz):
    return None if us is None else _format_time(from_us(us), tz)


def format_duration(seconds):
    """A duration as a short text: `0.25 s`, `42 s`, `3 min 05 s`,
    `2 h 07 min`."""
    if seconds < 10:
        return _("%(sec).2f s", sec=seconds)
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(sec)d s", sec=seconds)
    if seconds < 3600:
        return _("%(min)d min %(sec)02d s", min=seconds // 60,
                 sec=seconds % 60)
    return _("%(hour)d h %(min)02d min", hour=seconds // 3600,
             min=seconds % 3600 // 60)


def _row_view(row, tz, now):
    """What the History page shows of one row."""
    elapsed = None
    if row.status == 'running' and row.started is not None:
        elapsed = format_duration(max(0, now - row.started) / 1e6)
    message = row.message or ''
    lines = message.strip().splitlines()
    return {
        'id': row.id,
        'task': row.task,
        'schedule': row.schedule,
        'fire_time': _time(row.fire_time, tz),
        'started': _time(row.started, tz),
        'duration': None if row.duration is None else
        format_duration(row.duration),
        'elapsed': elapsed,
        'status': row.status,
        'runner': (row.runner or '').split('/')[0],
        'runner_id': row.runner or '',
        'message': message,
        'summary': lines[-1] if lines else '',
        'multiline': len(lines) > 1,
    }


def _rss_description(view):
    """The HTML of a feed item (the feed escapes it once more, as RSS
    wants)."""
    facts = [_("Schedule: %(schedule)s", schedule=view['schedule'])]
    if view['fire_time']:
        facts.append(_("Scheduled for: %(time)s %(zone)s",
                       time=view['fire_time']['text'],
                       zone=view['fire_time']['zone']))
    if view['duration']:
        facts.append(_("Duration: %(duration)s", duration=view['duration']))
    facts.append(_("Runner: %(runner)s", runner=view['runner']))
    return tag(tag.ul(tag.li(f) for f in facts),
               tag.pre(view['message']) if view['message'] else None)


def _charts(rows, tz, now, height=40, bar=7, gap=2):
    """The bars of the recent runs of each task (newest at the right):
    height for the duration, class for the status."""
    per_task = {}
    for row in rows:
        runs = per_task.setdefault(row.task, [])
        if len(runs) < CHART_RUNS:
            runs.append(row)
    charts = []
    for task in sorted(per_task):
        runs = list(reversed(per_task[task]))

        def seconds(r):
            if r.status == 'running' and r.started is not None:
                return max(0, now - r.started) / 1e6
            return r.duration
        longest = max([seconds(r) or 0 for r in runs] + [0.001])
        bars = []
        for i, r in enumerate(runs):
            duration = seconds(r)
            h = 3 if not duration else max(3, int(round(
                (height - 2) * duration / longest)))
            when = _time(r.started or r.fire_time, tz)
            title = '%s %s %s' % (when['text'], when['zone'],
                                  _(STATUS_LABELS.get(r.status, r.status)))
            if duration is not None:
                title += ' (%s)' % format_duration(duration)
            bars.append({'x': i * (bar + gap), 'y': height - h, 'h': h,
                         'w': bar, 'status': r.status, 'title': title})
        charts.append({'task': task, 'bars': bars,
                       'width': len(runs) * (bar + gap), 'height': height,
                       'failures': sum(1 for r in runs
                                       if r.status == 'failure'),
                       'runs': len(runs)})
    return charts


def _next_times(schedule, now, count=FIRE_TIMES):
    times = []
    after = now
    for _i in range(count):
        after = schedule.next_after(after)
        if after is None:
            break
        times.append(after)
    return times
