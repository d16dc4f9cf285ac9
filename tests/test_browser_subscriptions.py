# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Subscriptions to the alerts made in Preferences → Notifications, in
headless Chromium against a real tracd (the plugin from the egg built
from this checkout); the alerts are then raised in the environment by
another process and their mails received by a real SMTP server."""

import os
import sqlite3
import subprocess
import sys

import pytest

import tracd
from smtp import SmtpServer
from test_browser import PASSWORD, browser, needs_chromium  # noqa: F401
from browser_support import write_htpasswd

pytestmark = needs_chromium

#: A task that fails, for the Trac Cron part of the panel to list.
BOOM_PLUGIN = '''
from trac.core import Component, implements
from traccron.api import ICronTask


class BoomTask(Component):
    implements(ICronTask)

    def wake_up(self, *args):
        raise RuntimeError('boom')

    def getId(self):
        return 'boom'

    def getDescription(self):
        return 'Always fails'
'''

#: Raises alerts in the environment `sys.argv[1]`, as its runs would: the
#: plugin is imported from the egg in its plugins/ folder.
RAISE_ALERTS = '''
import sys
from trac.env import Environment
env = Environment(sys.argv[1])
from traccron.alerts import Alert
from traccron.core import Core
for kind, task in [('failure', 'boom'), ('failure', 'heart_beat'),
                   ('overdue', 'heart_beat')]:
    notes = Core(env).alert(Alert(kind, task, 'raised by the test'))
    assert notes == [], notes
'''


class Site(object):

    def __init__(self, server, env_path, smtp):
        self.server = server
        self.env_path = str(env_path)
        self.smtp = smtp

    def query(self, sql, *args):
        path = os.path.join(self.env_path, 'db', 'trac.db')
        with sqlite3.connect(path, timeout=30) as db:
            return db.execute(sql, args).fetchall()

    def raise_alerts(self):
        subprocess.run([sys.executable, '-c', RAISE_ALERTS, self.env_path],
                       check=True, env=tracd.clean_environ(), cwd='/',
                       timeout=120)


@pytest.fixture(scope='module')
def site(egg, tmp_path_factory):
    """A site whose mail goes to an SMTP server of the test, with
    `watcher` (CRON_VIEW) and `outsider` (no permission of TracCron);
    their addresses are their names at example.org."""
    root = tmp_path_factory.mktemp('subs')
    env_path = root / 'cronenv'
    tracd.init_env(env_path, egg)
    with open(str(env_path / 'plugins' / 'traccron_boom_task.py'),
              'w') as f:
        f.write(BOOM_PLUGIN)
    smtp = SmtpServer()
    smtp.start()
    settings = [('traccron', 'ticker_enabled', 'false'),
                ('traccron', 'timezone', 'UTC'),
                ('notification', 'smtp_default_domain', 'example.org')]
    settings += [('notification', key, value)
                 for key, value in smtp.options().items()]
    for section, key, value in settings:
        tracd.trac_admin(env_path, 'config', 'set', section, key, value)
    tracd.trac_admin(env_path, 'permission', 'add', 'watcher', 'CRON_VIEW')
    htpasswd = root / 'htpasswd'
    write_htpasswd(htpasswd, {'watcher': PASSWORD, 'outsider': PASSWORD})
    server = tracd.Tracd(env_path, root / 'tracd.log', auth=str(htpasswd))
    try:
        yield Site(server, env_path, smtp)
    finally:
        server.stop()
        smtp.stop()


def open_notifications(b):
    b.driver.get(b.site.server.base + '/prefs/notification')
    b.wait_for_css('#userprefs select[name="new-rule-email"]')


def add_rule(b, klass):
    """Add the rule of `klass` with Trac's form (its script adds a row
    that "Save changes" stores)."""
    from selenium.webdriver.support.ui import Select
    Select(b.css('select[name="new-adverb-email"]')).select_by_value(
        'always')
    Select(b.css('select[name="new-rule-email"]')).select_by_value(klass)
    b.css('button.add-rule').click()
    b.wait(lambda: b.all('.rules-email input[name="class-email"]'
                         '[value="%s"]' % klass),
           'the rule %s was not added' % klass)


def save(b):
    b.click_and_load(b.css('#userprefs .buttons input[type="submit"]'))
    b.wait_for_text('Your preferences have been saved.')


def test_watcher_adds_the_overdue_rule_and_ticks_a_task_then_is_mailed(
        browser, site):
    b = browser
    b.login('watcher')
    open_notifications(b)
    assert b.css('#traccron-section').text == 'Trac Cron'
    box = b.css('input[name="traccron_task"][value="boom"]')
    assert not box.is_selected()
    b.shot('notifications')

    add_rule(b, 'CronOverdueSubscriber')
    box.click()
    save(b)

    b.shot('saved')
    assert 'Notify: A Trac Cron task is overdue or recovers' in \
        b.css('.rules-email').text
    assert b.css('input[name="traccron_task"][value="boom"]').is_selected()
    assert not b.css('input[name="traccron_task"][value="heart_beat"]') \
        .is_selected()
    assert site.query("SELECT sid, authenticated, distributor, adverb, "
                      "class FROM notify_subscription") == [
        ('watcher', 1, 'email', 'always', 'CronOverdueSubscriber')]
    assert site.query("SELECT sid, value FROM session_attribute "
                      "WHERE name='traccron.failure_tasks'") == [
        ('watcher', 'boom')]

    site.smtp.take()
    site.raise_alerts()

    assert [(m.rcpt_tos, m.subject) for m in site.smtp.take()] == [
        (['watcher@example.org'], '[Test] Trac Cron: boom failed'),
        (['watcher@example.org'], '[Test] Trac Cron: heart_beat is overdue'),
    ]


def test_user_without_cron_view_has_no_panel_and_is_never_mailed(
        browser, site):
    b = browser
    b.login('outsider')
    open_notifications(b)
    assert b.all('#traccron-section') == []
    assert b.all('input[name="traccron_task"]') == []
    assert b.fetch(b.site.server.base + '/prefs/traccron')['status'] == 404

    # Trac lists every rule; this one never mails them.
    add_rule(b, 'CronFailureSubscriber')
    save(b)
    assert ('outsider', 'CronFailureSubscriber') in site.query(
        "SELECT sid, class FROM notify_subscription")

    site.smtp.take()
    site.raise_alerts()

    assert [m.rcpt_tos for m in site.smtp.take()
            if 'outsider@example.org' in m.rcpt_tos] == []
