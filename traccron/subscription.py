# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Per-user subscriptions to the alerts (`traccron.alerts`), through
Trac's Preferences → Notifications, and the mail that tells one.

A user with `CRON_VIEW` subscribes in two ways:

- with the rules of Trac's Notifications panel: "Notify: any Trac Cron
  task fails or runs past its time limit" (`CronFailureSubscriber`) and
  "Notify: a Trac Cron task is overdue or recovers"
  (`CronOverdueSubscriber`), stored in `notify_subscription`;
- by ticking tasks in the "Trac Cron" part of that panel
  (`CronSubscriptionPanel`): their failures and timeouts are mailed
  (`CronWatchedTaskSubscriber`); the list is the session attribute
  `traccron.failure_tasks`.

Users without `CRON_VIEW` are never mailed, whatever they subscribed to.
The mail renders `traccron_alert.txt` (an administrator can override it
in `ENV/templates/`); its subject names the task and the outcome.
"""

from trac.core import Component, implements
from trac.notification.api import (IEmailDecorator, INotificationFormatter,
                                   INotificationSubscriber)
from trac.notification.mail import set_header
from trac.notification.model import Subscription
from trac.perm import PermissionSystem
from trac.prefs.api import IPreferencePanelProvider
from trac.ticket.api import translation_deactivated
from trac.web.chrome import Chrome, add_notice

from traccron.core import Core
from traccron.notification import ALERT_REALM, CronAlertEvent
from traccron.present import stamp, zone_name
from traccron.web.common import (VIEW_PERMISSION, _, _require_form_token,
                                 describe)

#: The session attribute listing the tasks whose failures a user gets
#: (task ids separated by commas).
WATCHED_TASKS = 'traccron.failure_tasks'

PANEL = 'traccron'

#: The priority of the subscriptions of the task list: after the user's
#: own rules (1, 2...), as Trac's default subscriptions, so that a rule
#: "Never notify: ..." wins.
LIST_PRIORITY = 100

_FAILURES = ('failure', 'timeout')
_OVERDUE = ('overdue', 'recovered')


def outcome(alert):
    """What happened to the task, after its name: "failed after 3
    attempts", "is overdue"..."""
    if alert.kind == 'failure':
        attempts = alert.run.attempt if alert.run is not None else 1
        if attempts > 1:
            return 'failed after %d attempts' % attempts
        return 'failed'
    return {'timeout': 'is past its time limit',
            'overdue': 'is overdue',
            'recovered': 'recovered'}[alert.kind]


def subject(alert):
    """The subject of the mail of `alert`, without the prefix."""
    return 'Trac Cron: %s %s' % (alert.task_id, outcome(alert))


def watched_tasks(value):
    """The task ids of a `traccron.failure_tasks` value."""
    return [task for task in (value or '').split(',') if task]


def watchers(env, task_id):
    """The authenticated users whose task list holds `task_id`."""
    return [sid for sid, value in env.db_query("""
                SELECT sid, value FROM session_attribute
                WHERE authenticated=1 AND name=%s ORDER BY sid
                """, (WATCHED_TASKS,))
            if task_id in watched_tasks(value)]


class Viewers(object):
    """Whether a session may be told of alerts: authenticated, with
    `CRON_VIEW`. Made for one matching of an event, it remembers its
    answers."""

    def __init__(self, env):
        self.perms = PermissionSystem(env)
        self.known = {}

    def __call__(self, sid, authenticated):
        if not authenticated:
            return False
        if sid not in self.known:
            self.known[sid] = self.perms.check_permission(VIEW_PERMISSION,
                                                          sid)
        return self.known[sid]


class CronRuleSubscriber(Component):
    """Base of the subscribers of the Notifications panel's rules: the
    rules of the users with `CRON_VIEW`, for the alerts of `kinds`."""

    abstract = True

    implements(INotificationSubscriber)

    kinds = ()

    def matches(self, event):
        if event.realm != ALERT_REALM or event.category not in self.kinds:
            return
        may_view = Viewers(self.env)
        for rule in Subscription.find_by_class(self.env,
                                               self.__class__.__name__):
            if may_view(rule['sid'], rule['authenticated']):
                yield rule.subscription_tuple()

    def requires_authentication(self):
        return True

    def default_subscriptions(self):
        return []


class CronFailureSubscriber(CronRuleSubscriber):
    """The rule "any Trac Cron task fails or runs past its time limit":
    the final failure of any occurrence, after its retries, and a run
    still going past its time limit."""

    kinds = _FAILURES

    def description(self):
        return _("Any Trac Cron task fails or runs past its time limit")


class CronOverdueSubscriber(CronRuleSubscriber):
    """The rule "a Trac Cron task is overdue or recovers": a task with no
    success for its `alert_after`, and its first success after that."""

    kinds = _OVERDUE

    def description(self):
        return _("A Trac Cron task is overdue or recovers")


class CronWatchedTaskSubscriber(Component):
    """The failures and timeouts of the tasks a user ticked in the Trac
    Cron part of Preferences → Notifications. Not a rule of that panel:
    the task list is the subscription."""

    implements(INotificationSubscriber)

    def matches(self, event):
        if event.realm != ALERT_REALM or event.category not in _FAILURES:
            return
        may_view = Viewers(self.env)
        for sid in watchers(self.env, event.task_id):
            if may_view(sid, 1):
                yield (self.__class__.__name__, 'email', sid, 1, None, None,
                       LIST_PRIORITY, 'always')

    def description(self):
        return None  # Not offered as a rule: see CronSubscriptionPanel.

    def requires_authentication(self):
        return True

    def default_subscriptions(self):
        return []


class CronSubscriptionPanel(Component):
    """The "Trac Cron" part of Preferences → Notifications: the tasks
    whose failures the user gets, shown to users with `CRON_VIEW`."""

    implements(IPreferencePanelProvider)

    # IPreferencePanelProvider methods

    def get_preference_panels(self, req):
        if req.is_authenticated and VIEW_PERMISSION in req.perm:
            yield PANEL, _("Trac Cron"), 'notification'

    def render_preference_panel(self, req, panel, path_info=None):
        req.perm.require(VIEW_PERMISSION)
        tasks = Core(self.env).get_task_list()
        # A POST to Notifications carries this part of its form too.
        if req.method == 'POST' and 'traccron_tasks' in req.args:
            _require_form_token(req)
            self._save(req, [task.getId() for task in tasks])
        if req.args.get('panel_id') == PANEL:
            # Shown only inside Notifications.
            if req.method == 'POST':
                add_notice(req, _("Your preferences have been saved."))
            req.redirect(req.href.prefs('notification') + '#%s-section'
                         % PANEL)
        watched = set(watched_tasks(req.session.get(WATCHED_TASKS)))
        data = {
            'tasks': [{'id': task.getId(), 'description': describe(task),
                       'checked': task.getId() in watched}
                      for task in tasks],
            # The part is rendered in Trac's domain: say ours.
            '_': _,
        }
        return 'cron_prefs_notification.html', data

    def _save(self, req, tasks):
        """Store the ticked tasks, and keep those of the stored list that
        are not known now (a plugin disabled for a while)."""
        ticked = set(req.args.getlist('traccron_task'))
        stored = watched_tasks(req.session.get(WATCHED_TASKS))
        kept = [task for task in tasks if task in ticked] + \
            [task for task in stored if task not in tasks]
        if kept:
            req.session[WATCHED_TASKS] = ','.join(kept)
        elif WATCHED_TASKS in req.session:
            del req.session[WATCHED_TASKS]


class CronAlertFormatter(Component):
    """The mail of an alert: `traccron_alert.txt` for its body, and a
    subject naming the task and the outcome."""

    implements(IEmailDecorator, INotificationFormatter)

    template = 'traccron_alert.txt'

    # INotificationFormatter methods

    def get_supported_styles(self, transport):
        if transport == 'email':
            yield 'text/plain', ALERT_REALM

    def format(self, transport, style, event):
        if event.realm != ALERT_REALM:
            return None
        chrome = Chrome(self.env)
        with translation_deactivated():
            template = chrome.load_template(self.template, text=True)
            body = chrome.render_template_string(
                template, self.data(event.alert), text=True)
        return body.encode('utf-8')

    def data(self, alert):
        """What the template renders."""
        tz = Core(self.env).timezone()
        run = alert.run
        has_page = run is not None and run.id is not None
        return {
            'task': alert.task_id,
            'kind': alert.kind,
            'outcome': outcome(alert),
            'message': alert.message,
            'time': stamp(alert.time, tz),
            'timezone': zone_name(tz),
            'attempt': run.attempt if run is not None else None,
            'url': self.env.abs_href.admin('traccron', 'cron_history',
                                           run.id) if has_page else None,
            'project': {
                'name': self.env.project_name,
                'descr': self.env.project_description,
                'url': self.env.project_url or self.env.abs_href(),
            },
        }

    # IEmailDecorator methods

    def decorate_message(self, event, message, charset):
        if not isinstance(event, CronAlertEvent):
            return
        prefix = self.config.get('notification', 'smtp_subject_prefix')
        if prefix == '__default__':
            prefix = '[%s]' % self.env.project_name
        set_header(message, 'Subject',
                   ' '.join(filter(None, [prefix, subject(event.alert)])))
        # Alerts are not replies to one another.
        for name in ('In-Reply-To', 'References'):
            del message[name]
