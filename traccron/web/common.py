# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""What the TracCron panels share: the permissions `CRON_VIEW` (reading)
and `CRON_ADMIN` (everything), the templates, the translation domain
`traccron`, and the problems of `[traccron]` shown on every page."""

import re

from pkg_resources import resource_filename

from trac.admin.api import IAdminPanelProvider
from trac.core import Component, ExtensionPoint, implements
from trac.perm import IPermissionRequestor
from trac.util.translation import domain_functions, has_babel
from trac.web.api import HTTPBadRequest, HTTPNotFound, IRequestFilter
from trac.util.html import tag
from trac.web.chrome import (ITemplateProvider, add_notice, add_stylesheet,
                             add_warning)

from traccron.core import Core, RunRefused
from traccron.present import STATUS_LABELS, user_zone

_, tag_, N_, add_domain = domain_functions('traccron', '_', 'tag_', 'N_',
                                           'add_domain')

CATEGORY = 'traccron'
#: Everything: the actions (Run now, toggles, Clear, Settings, Listeners).
PERMISSION = 'CRON_ADMIN'
#: Reading only: Overview, History, run pages, the feed and the Timeline.
#: CRON_ADMIN includes it.
VIEW_PERMISSION = 'CRON_VIEW'

#: A path of the category; its group: the page, if any.
_ADMIN_PATH = re.compile(r'/admin/%s(?:/([^/]*)(?:/.*)?)?$' % CATEGORY)

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


class CronWebModule(Component):
    """The `CRON_VIEW` and `CRON_ADMIN` permissions, and the templates and
    translations of the TracCron panels."""

    implements(IPermissionRequestor, IRequestFilter, ITemplateProvider)

    panel_providers = ExtensionPoint(IAdminPanelProvider)

    def __init__(self):
        # Registered here, and this component is a request filter, so
        # that the domain is known before the request's translations are
        # first used.
        add_domain(self.env.path, resource_filename('traccron', 'locale'))

    # IPermissionRequestor methods

    def get_permission_actions(self):
        return [VIEW_PERMISSION, (PERMISSION, [VIEW_PERMISSION])]

    # IRequestFilter methods

    def pre_process_request(self, req, handler):
        match = _ADMIN_PATH.match(req.path_info)
        if match:
            # Trac answers 404 for a panel it hides; the panels of
            # TracCron answer 403 to everyone without a permission of
            # theirs: a page not offered to the user (Settings to a
            # CRON_VIEW user, any to others) requires CRON_ADMIN, which
            # the message names.
            page = match.group(1)
            if page and page not in self._listed(req):
                req.perm.require(PERMISSION)
            req.perm.require(VIEW_PERMISSION)
            req.tz = user_zone(req, self.config.get('trac',
                                                    'default_timezone'))
        return handler

    def _listed(self, req):
        """The pages of the category that `req`'s user is offered."""
        return set(panel[2] for provider in self.panel_providers
                   for panel in provider.get_admin_panels(req) or ()
                   if panel[0] == CATEGORY)

    def post_process_request(self, req, template, data, metadata):
        return template, data, metadata

    # ITemplateProvider methods

    def get_htdocs_dirs(self):
        return [('traccron', resource_filename('traccron', 'htdocs'))]

    def get_templates_dirs(self):
        return [resource_filename('traccron', 'templates')]


def open_panel(req, path_info, permission=PERMISSION):
    """Check what every request to a panel must satisfy: its permission,
    no path below the panel, the form token of a POST."""
    req.perm.require(permission)
    if path_info:
        raise HTTPNotFound(_("Unknown administration panel"))
    if req.method == 'POST':
        _require_form_token(req)
    add_stylesheet(req, 'traccron/traccron.css')


def panel_page(env, template, data):
    """What `render_admin_panel` returns: `template` with `data`, the
    problems of `[traccron]` unless `data` has them already."""
    data['statuses'] = STATUS_LABELS
    if 'problems' not in data:
        data['problems'] = Core(env).check()
    # Without Babel, Trac 1.6 cannot render a template in a domain (its
    # domain_functions lacks `dgettext`): the default functions then
    # render the panels in English.
    metadata = {'domain': 'traccron'} if has_babel else {}
    if template.endswith('.rss'):
        metadata['content_type'] = 'application/rss+xml'
    return template, data, metadata


def _require_form_token(req):
    """Refuse a POST without the form token, whatever its content type
    (Trac checks only form submissions)."""
    if req.args.get('__FORM_TOKEN') != req.form_token:
        raise HTTPBadRequest(_("Missing or invalid form token. Do you have "
                               "cookies enabled?"))


def start_run(req, core, task_id, args=()):
    """Run `task_id` now with `args` (Run now of the Settings and Overview
    pages) and tell the user: started, or refused and why."""
    try:
        core.run_now(task_id, args)
    except RunRefused as e:
        add_warning(req, tag_("Task %(task)s was not started: %(why)s.",
                              task=tag.strong(task_id), why=str(e)))
        return
    add_notice(req, tag_("Task %(task)s started. Its outcome will be shown "
                         "in %(history)s.", task=tag.strong(task_id),
                         history=tag.a(_("History"), href=req.href.admin(
                             CATEGORY, 'cron_history', task=task_id))))


def hint(stype):
    """The hint of a scheduler type, translated when the catalog has it."""
    text = stype.getHint() or ''
    return _(text) if text else ''


def describe(obj):
    """A task's or listener's description on one line."""
    return ' '.join((obj.getDescription() or '').split())
