# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Per-user subscriptions to the alerts (`traccron.subscription`): the
rules of Preferences → Notifications, the task list of its Trac Cron
part, and the mails, sent by Trac's own sender to a real SMTP server."""

import os
from datetime import datetime, timezone

import pytest

from trac.notification.model import Subscription
from trac.perm import PermissionSystem
from trac.notification.prefs import NotificationPreferences
from trac.prefs.web_ui import PreferencesModule
from trac.util.translation import (Locale, deactivate, has_babel,
                                   make_activable)

from smtp import add_user, mail_env
from support import StubTask, dispatch
from traccron.alerts import Alert
from traccron.api import TaskRun
from traccron.core import Core
from traccron.subscription import WATCHED_TASKS
from traccron.web.common import CronWebModule

UTC = timezone.utc
#: 2026-03-10 08:05:03 UTC, 09:05:03 in Paris.
WHEN = int(datetime(2026, 3, 10, 8, 5, 3, tzinfo=UTC).timestamp() * 1e6)
PREFIX = '[My Project] Trac Cron: '
FOOTER = ('\n-- \nMy Project <http://example.org/trac.cgi>\n'
          'My example project\n')


class TaskA(StubTask):
    """The first task of the tests."""

    task_id = 'a'

    def wake_up(self, *args):
        pass


class BoomTask(StubTask):
    """Fails."""

    task_id = 'boom'

    def wake_up(self, *args):
        raise ValueError('boom')


class TaskB(StubTask):
    """The second task of the tests."""

    task_id = 'b'

    def wake_up(self, *args):
        pass


def subscribe(env, sid, klass, adverb='always'):
    """Add the rule of `klass` for `sid`, as the Notifications panel's
    "Add" does."""
    rule = Subscription(env)
    rule['sid'] = sid
    rule['authenticated'] = 1
    rule['distributor'] = 'email'
    rule['format'] = ''
    rule['adverb'] = adverb
    rule['class'] = klass
    Subscription.add(env, rule)


def watch(env, sid, tasks):
    with env.db_transaction as db:
        db("INSERT INTO session_attribute (sid, authenticated, name, value) "
           "VALUES (%s, 1, %s, %s)", (sid, WATCHED_TASKS, tasks))


def watched(env, sid):
    for value, in env.db_query("SELECT value FROM session_attribute "
                               "WHERE sid=%s AND name=%s",
                               (sid, WATCHED_TASKS)):
        return value
    return None


@pytest.fixture
def env(tmp_path, smtp_server):
    """alice watches the failures of `a`; bob has the overdue rule; carol
    may view but subscribed to nothing; dave has the failure rule but
    not CRON_VIEW."""
    env = mail_env(tmp_path, smtp_server, enable=[TaskA, TaskB, BoomTask],
                   config={'timezone': 'Europe/Paris'})
    # Preferences and its Notifications panel, imported above, as a real
    # site loads them.
    assert env.is_component_enabled(PreferencesModule)
    assert env.is_component_enabled(NotificationPreferences)
    perms = PermissionSystem(env)
    for name in ('alice', 'bob', 'carol', 'dave'):
        add_user(env, name, '%s@example.org' % name)
    for name in ('alice', 'bob', 'carol'):
        perms.grant_permission(name, 'CRON_VIEW')
    watch(env, 'alice', 'a')
    subscribe(env, 'bob', 'CronOverdueSubscriber')
    subscribe(env, 'dave', 'CronFailureSubscriber')
    yield env
    env.reset_db()


def failed_run(task_id, attempt, id=7):
    run = TaskRun(None, task_id, 'daily', (), WHEN, 'host:1', id=id,
                  attempt=attempt, retries=attempt - 1)
    run.success = False
    run.message = 'Traceback...\nValueError: disk full'
    return run


def alert(env, kind, task_id, message, run=None):
    notes = Core(env).alert(Alert(kind, task_id, message, run=run,
                                  time=WHEN))
    assert notes == []


def sent(smtp_server):
    return [(m.rcpt_tos, m.subject) for m in smtp_server.take()]


# Who gets what ------------------------------------------------------------

def test_each_user_gets_exactly_the_alerts_of_their_subscriptions(
        env, smtp_server):
    alert(env, 'failure', 'a', 'failed after 3 attempts: disk full',
          failed_run('a', 3))
    alert(env, 'failure', 'b', 'failed: disk full', failed_run('b', 1, 8))
    alert(env, 'overdue', 'a', 'no success for 2 days')
    alert(env, 'recovered', 'a', 'succeeded again')

    assert sent(smtp_server) == [
        (['alice@example.org'], PREFIX + 'a failed after 3 attempts'),
        (['bob@example.org'], PREFIX + 'a is overdue'),
        (['bob@example.org'], PREFIX + 'a recovered'),
    ]


def test_failure_rule_mails_any_task_to_users_with_cron_view(
        env, smtp_server):
    subscribe(env, 'carol', 'CronFailureSubscriber')

    alert(env, 'failure', 'b', 'failed: disk full', failed_run('b', 1))
    alert(env, 'timeout', 'a', 'still running after 10 minutes',
          failed_run('a', 1))

    assert sent(smtp_server) == [
        (['alice@example.org', 'carol@example.org'],
         PREFIX + 'a is past its time limit'),
        (['carol@example.org'], PREFIX + 'b failed'),
    ]


def test_dave_gets_his_rule_once_granted_cron_view(env, smtp_server):
    PermissionSystem(env).grant_permission('dave', 'CRON_VIEW')

    alert(env, 'failure', 'b', 'failed: disk full', failed_run('b', 1))

    assert sent(smtp_server) == [(['dave@example.org'], PREFIX + 'b failed')]


def test_watched_task_list_without_cron_view_mails_nothing(env,
                                                          smtp_server):
    watch(env, 'dave', 'b,a')

    alert(env, 'failure', 'a', 'failed: disk full', failed_run('a', 1))

    assert sent(smtp_server) == [(['alice@example.org'], PREFIX + 'a failed')]


def test_never_rule_overrides_the_watched_task_list(env, smtp_server):
    subscribe(env, 'alice', 'CronFailureSubscriber', adverb='never')

    alert(env, 'failure', 'a', 'failed: disk full', failed_run('a', 1))

    assert sent(smtp_server) == []


def test_watched_list_does_not_bring_overdue_alerts(env, smtp_server):
    watch(env, 'carol', 'a')

    alert(env, 'overdue', 'a', 'no success for 2 days')

    assert sent(smtp_server) == [(['bob@example.org'],
                                  PREFIX + 'a is overdue')]


# The mail ------------------------------------------------------------------

def test_failure_mail_names_task_message_time_attempts_and_run_page(
        env, smtp_server):
    alert(env, 'failure', 'a', 'failed after 3 attempts: disk full',
          failed_run('a', 3, id=42))

    mail, = smtp_server.take()
    assert mail.body == (
        'Trac Cron: task a failed after 3 attempts.\n'
        '\n'
        'Task:     a\n'
        'Alert:    failure\n'
        'Message:  failed after 3 attempts: disk full\n'
        'Time:     2026-03-10 09:05:03 (Europe/Paris)\n'
        'Attempts: 3\n'
        'Run:      http://example.org/trac.cgi/admin/traccron/'
        'cron_history/42\n'
        + FOOTER)
    assert mail.header('X-Trac-Realm') == 'traccron'
    assert mail.header('In-Reply-To') is None


def test_overdue_mail_has_no_attempts_nor_run_page(env, smtp_server):
    alert(env, 'overdue', 'a', 'no success for 2 days')

    mail, = smtp_server.take()
    assert mail.body == (
        'Trac Cron: task a is overdue.\n'
        '\n'
        'Task:     a\n'
        'Alert:    overdue\n'
        'Message:  no success for 2 days\n'
        'Time:     2026-03-10 09:05:03 (Europe/Paris)\n'
        + FOOTER)


def test_subject_prefix_follows_notification_settings(env, smtp_server):
    env.config.set('notification', 'smtp_subject_prefix', '')

    alert(env, 'recovered', 'a', 'succeeded again')

    assert sent(smtp_server) == [(['bob@example.org'],
                                  'Trac Cron: a recovered')]


def test_alert_template_overridden_in_env_templates(env, smtp_server):
    os.makedirs(env.templates_dir, exist_ok=True)
    with open(os.path.join(env.templates_dir, 'traccron_alert.txt'),
              'w') as f:
        f.write('${task}: ${outcome} at ${time}\n')

    alert(env, 'overdue', 'a', 'no success for 2 days')

    assert smtp_server.take()[0].body == \
        'a: is overdue at 2026-03-10 09:05:03\n'


def test_failed_run_alerts_its_watchers_through_core_execute(
        env, smtp_server):
    watch(env, 'carol', 'boom')

    Core(env).run_now('boom', wait=True)

    mail, = smtp_server.take()
    assert (mail.rcpt_tos, mail.subject) == (['carol@example.org'],
                                             PREFIX + 'boom failed')
    assert 'Message:  failed: ValueError: boom\n' in mail.body
    assert 'Attempts: 1\n' in mail.body


# The Trac Cron part of Preferences -> Notifications ------------------------

def test_panel_lists_the_tasks_with_the_watched_ones_ticked(env):
    response = dispatch(env, '/prefs/notification', user='alice')

    assert response.status == 200
    assert 'id="traccron-section"' in response.body
    assert 'name="traccron_task" value="a" checked' in response.body
    assert 'name="traccron_task" value="b" />' in response.body
    # Its rules are offered in Trac's own list.
    assert 'value="CronFailureSubscriber"' in response.body
    assert 'value="CronOverdueSubscriber"' in response.body
    assert 'CronWatchedTaskSubscriber' not in response.body


def test_saving_notifications_stores_the_ticked_tasks(env):
    response = dispatch(env, '/prefs/notification', user='carol',
                        method='POST', args={
                            'action': 'replace_all', 'traccron_tasks': '1',
                            'traccron_task': ['b', 'a', 'nonesuch']})

    assert response.status == 303
    assert watched(env, 'carol') == 'a,b'


def test_unticking_every_task_removes_the_list(env):
    dispatch(env, '/prefs/notification', user='alice', method='POST',
             args={'action': 'replace_all', 'traccron_tasks': '1'})

    assert watched(env, 'alice') is None


def test_a_task_not_installed_now_stays_in_the_list(env):
    watch(env, 'carol', 'gone,b')

    dispatch(env, '/prefs/notification', user='carol', method='POST',
             args={'action': 'replace_all', 'traccron_tasks': '1',
                   'traccron_task': 'a'})

    assert watched(env, 'carol') == 'a,gone'


def test_other_forms_of_notifications_leave_the_list_alone(env):
    dispatch(env, '/prefs/notification', user='alice', method='POST',
             args={'action': 'add-rule_email', 'new-adverb-email': 'always',
                   'new-rule-email': 'CronOverdueSubscriber'})

    assert watched(env, 'alice') == 'a'
    rules = Subscription.find_by_sid_and_distributor(env, 'alice', 1,
                                                     'email')
    assert [r['class'] for r in rules] == ['CronOverdueSubscriber']


def test_post_without_form_token_changes_nothing(env):
    response = dispatch(env, '/prefs/notification', user='alice',
                        method='POST', token=False,
                        args={'action': 'replace_all',
                              'traccron_tasks': '1'})

    assert response.status == 400
    assert watched(env, 'alice') == 'a'


def test_panel_of_its_own_leads_to_notifications(env):
    response = dispatch(env, '/prefs/traccron', user='carol',
                        method='POST', args={'traccron_tasks': '1',
                                             'traccron_task': 'b'})

    assert response.status == 303
    assert response.location.endswith('/prefs/notification'
                                      '#traccron-section')
    assert watched(env, 'carol') == 'b'


@pytest.mark.parametrize('user', ['dave', 'anonymous'])
def test_panel_is_absent_without_cron_view(env, user):
    response = dispatch(env, '/prefs/notification', user=user)
    assert response.status == 200
    assert 'traccron' not in response.body

    assert dispatch(env, '/prefs/traccron', user=user).status == 404
    response = dispatch(env, '/prefs/traccron', user=user, method='POST',
                        args={'traccron_tasks': '1', 'traccron_task': 'a'})
    assert response.status == 404
    assert watched(env, user) is None


@pytest.mark.skipif(not has_babel, reason='Babel is not installed')
def test_french_user_reads_the_panel_and_the_rules_in_french(env):
    CronWebModule(env)  # registers the catalog of the domain
    locale = Locale.parse('fr')
    make_activable(lambda: locale, env.path)
    try:
        body = dispatch(env, '/prefs/notification', user='carol',
                        locale=locale).body
    finally:
        deactivate()

    assert "M&#39;envoyer un courriel quand l&#39;une de ces" in body
    assert 'Une tâche de Trac Cron est en retard ou se rétablit' in body
