# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The Listeners panel (`/admin/traccron/cron_listener`): a listener per
row, switched on or off, and the options of the email listener."""

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, implements

from traccron import settings
from traccron.config import CronConfig
from traccron.core import Core
from traccron.web import form
from traccron.web.common import (CATEGORY, PERMISSION, _, describe,
                                 open_panel, panel_page)
from traccron.web.form import Field, raw, setter

PAGE = 'cron_listener'


class ListenersPanel(Component):
    """The Listeners panel of TracCron."""

    implements(IAdminPanelProvider)

    # IAdminPanelProvider methods

    def get_admin_panels(self, req):
        if PERMISSION in req.perm:
            yield CATEGORY, _("Trac Cron"), PAGE, _("Listeners")

    def render_admin_panel(self, req, cat, page, path_info):
        open_panel(req, path_info)
        listeners = Core(self.env).get_task_listener_list()
        fields = self._fields(listeners)
        values = dict((f.key, f.current) for f in fields)
        errors = set()
        if req.method == 'POST' and req.args.get('save'):
            values, errors = form.save(self, req, fields, PAGE, 'listener')
        return panel_page(self.env, 'cron_listener.html', {
            'listeners': [{'id': listener.getId(),
                           'description': describe(listener)}
                          for listener in listeners],
            'values': values,
            'errors': errors,
        })

    def _fields(self, listeners):
        """A switch per listener, then the email listener's options."""
        config = CronConfig(self.env)
        section = config.section
        fields = [Field('%s.enabled' % listener.getId(), 'bool',
                        config.is_task_listener_enabled(listener.getId()),
                        setter(config.set_task_listener_enabled,
                               listener.getId()), group=listener.getId())
                  for listener in listeners]
        return fields + [
            Field('email_task_event.limit', 'int',
                  raw(section, 'email_task_event.limit',
                      settings.get('email_task_event.limit').default_text()),
                  config.set_email_notifier_task_limit),
            Field('email_task_event.recipient', 'text',
                  raw(section, 'email_task_event.recipient', ''),
                  config.set_email_notifier_task_recipient),
            Field('email_task_event.only_error', 'bool',
                  config.is_email_notifier_only_error(),
                  config.set_email_notifier_only_error),
        ]
