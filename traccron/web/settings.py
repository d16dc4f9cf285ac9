# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The Settings panel (`/admin/traccron/cron_admin`): the ticker, each
task and its schedules, and "Run now"."""

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, implements
from trac.web.api import HTTPNotFound

from traccron import settings
from traccron.config import CronConfig
from traccron.core import Core
from traccron.web import form
from traccron.web.common import (CATEGORY, PERMISSION, _, describe, hint,
                                 open_panel, panel_page, start_run)
from traccron.web.form import Field, raw, setter

PAGE = 'cron_admin'


class SettingsPanel(Component):
    """The Settings panel of TracCron."""

    implements(IAdminPanelProvider)

    # IAdminPanelProvider methods

    def get_admin_panels(self, req):
        if PERMISSION in req.perm:
            yield CATEGORY, _("Trac Cron"), PAGE, _("Settings")

    def render_admin_panel(self, req, cat, page, path_info):
        open_panel(req, path_info)
        core = Core(self.env)
        fields, tasks = self._fields(core)
        values = dict((f.key, f.current) for f in fields)
        errors = set()
        if req.method == 'POST':
            if req.args.get('run'):
                self._run_now(req, core, req.args.get('run'))
            elif req.args.get('save'):
                values, errors = form.save(self, req, fields, PAGE, 'task')
        return panel_page(self.env, 'cron_admin.html', {
            'tasks': tasks,
            'values': values,
            'errors': errors,
            'problems': core.check(),
        })

    def _fields(self, core):
        """The fields of the form, and a description of each task and of
        the schedules under it."""
        config = CronConfig(self.env)
        section = config.section
        fields = [
            Field('ticker_enabled', 'bool', config.get_ticker_enabled(),
                  config.set_ticker_enabled),
            Field('ticker_interval', 'int',
                  raw(section, 'ticker_interval',
                      settings.get('ticker_interval').default_text()),
                  config.set_ticker_interval),
        ]
        tasks = []
        for task in core.get_task_list():
            task_id = task.getId()
            fields.append(Field(
                '%s.enabled' % task_id, 'bool',
                config.is_task_enabled(task_id),
                setter(config.set_task_enabled, task_id), group=task_id))
            schedules = []
            for stype in core.get_supported_schedulers():
                type_id = stype.getId()
                key = '%s.%s' % (task_id, type_id)
                fields.append(Field(
                    key + '.enabled', 'bool',
                    config.is_schedule_enabled(task_id, type_id),
                    setter(config.set_schedule_enabled, task_id, type_id),
                    group=task_id))
                fields.append(Field(
                    key, 'text', raw(section, key, ''),
                    setter(config.set_schedule_value, task_id, type_id),
                    check=_schedule_checker(core, task_id, type_id),
                    group=task_id))
                fields.append(Field(
                    key + '.arg', 'text', raw(section, key + '.arg', ''),
                    setter(config.set_schedule_arg, task_id, type_id),
                    group=task_id))
                schedules.append({'type': type_id, 'key': key,
                                  'hint': hint(stype)})
            tasks.append({'id': task_id,
                          'description': describe(task),
                          'schedules': schedules})
        return fields, tasks

    def _run_now(self, req, core, task_id):
        if core.get_task(task_id) is None:
            raise HTTPNotFound(_("No task %(task)s", task=task_id))
        start_run(req, core, task_id)
        req.redirect(req.href.admin(CATEGORY, PAGE))


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
