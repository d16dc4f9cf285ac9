# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The admin panels through Trac's request dispatcher (`MockRequest`):
permission, form token, GET without effect, validation before saving,
saving, Run now, history paging and filters, clearing, the RSS feed,
escaping, the French catalog."""

import email.utils
import html
import io
import locale
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from trac.config import Configuration
from trac.core import Component, implements
from trac.env import env_cache, env_cache_lock
from trac.perm import PermissionSystem
from trac.test import MockRequest
from trac.util.translation import (Locale, deactivate, has_babel,
                                   make_activable)
from trac.web.main import dispatch_request
from trac.web.session import DetachedSession

from traccron import history
from traccron import ticker as ticker_module
from traccron.api import ICronTask
from traccron.web_ui import PAGE_SIZE, PANELS, format_duration

from support import TOKEN, FakeClock, dispatch, inline_spawn, make_env

UTC = timezone.utc
PAGES = ('cron_overview', 'cron_admin', 'cron_history', 'cron_listener',
         'cron_doc')
SCRIPT = '<script>alert("xss")</script>'


class XssTask(Component):
    """<script>alert("xss")</script> in a description"""

    implements(ICronTask)

    def wake_up(self, *args):
        raise RuntimeError('first line\n' + SCRIPT)

    def getId(self):
        return 'xss_task'

    def getDescription(self):
        return self.__doc__


class HeldTask(Component):
    """Runs until the test releases it."""

    implements(ICronTask)

    release = threading.Event()

    def wake_up(self, *args):
        HeldTask.release.wait(10)

    def getId(self):
        return 'held'

    def getDescription(self):
        return self.__doc__


def call(env, page, user='admin', method='GET', args=None, token=True,
         content_type='application/x-www-form-urlencoded', locale=None,
         path_info=None):
    """Dispatch a request to an admin page as Trac would; return the
    status, the body and the request."""
    return dispatch(env, path_info or '/admin/traccron/' + page, user,
                    method, args, token, locale, content_type)


@pytest.fixture
def env(tmp_path, monkeypatch):
    # No ticker thread in these tests (Core starts one on each request).
    monkeypatch.setattr(ticker_module, 'ensure_ticker', lambda env: None)
    env = make_env(tmp_path / 'env', enable=[XssTask.__module__ + '.*'],
                   config={'ticker_enabled': 'false',
                           'timezone': 'Europe/Paris',
                           'heart_beat.daily': '21h19'})
    perms = PermissionSystem(env)
    perms.grant_permission('admin', 'TRAC_ADMIN')
    perms.grant_permission('cronist', 'CRON_ADMIN')
    perms.grant_permission('joe', 'TICKET_ADMIN')  # other panels, not ours
    yield env
    env.shutdown()


def ini_bytes(env):
    with open(os.path.join(env.path, 'conf', 'trac.ini'), 'rb') as f:
        return f.read()


def ini_value(env, key):
    """The value of `[traccron] key` as written in trac.ini."""
    config = Configuration(os.path.join(env.path, 'conf', 'trac.ini'))
    return config.get('traccron', key, None)


def ini_bool(env, key):
    """A boolean of trac.ini (Trac writes its boolean options as
    enabled/disabled)."""
    value = ini_value(env, key)
    return None if value is None else \
        Configuration(None)['x'].getbool('k', value)


def settings_form(env, **changes):
    """The Settings form as the browser posts it unchanged, with
    `changes` (trac.ini key -> value; `False` unticks a box)."""
    response = call(env, 'cron_admin')
    assert response.status == 200
    form = form_values(response.body, 'cron-settings')
    for key, value in changes.items():
        if value is False:
            form.pop(key, None)
        else:
            form[key] = value
    form['save'] = 'Apply changes'
    return form


def form_values(body, form_id):
    """The values a browser would submit for the form `form_id` (text
    inputs, checked boxes, hidden inputs; repeated names as lists)."""
    form = re.search(r'<form[^>]*id="%s".*?</form>' % form_id, body,
                     re.S).group(0)
    values = {}
    for tag in re.findall(r'<input[^>]*>', form):
        attrs = dict((k, html.unescape(v)) for k, v in
                     re.findall(r'(\w+)="([^"]*)"', tag))
        name, kind = attrs.get('name'), attrs.get('type', 'text')
        if not name or name == '__FORM_TOKEN' or kind == 'submit':
            continue
        if kind == 'checkbox':
            if ' checked' not in tag:
                continue
            value = attrs.get('value', 'on')
        else:
            value = attrs.get('value', '')
        if name in values:
            old = values[name]
            values[name] = (old if isinstance(old, list) else [old]) + \
                [value]
        else:
            values[name] = value
    return values


def add_rows(env, n, task='heart_beat', status='success', start=None,
             message=''):
    """Insert `n` finished rows, one minute apart, oldest first."""
    start = start or 1_780_000_000_000_000
    with env.db_transaction as db:
        for i in range(n):
            t = start + i * 60_000_000
            db("""INSERT INTO cron_history (task, schedule, fire_time,
                    started, ended, status, message, runner, heartbeat)
                  VALUES (%s, 'daily', %s, %s, %s, %s, %s, 'host:1', %s)""",
               (task, t, t, t + 1_500_000, status, message, t))


def wait_for_runs():
    for thread in threading.enumerate():
        if thread.name.startswith('traccron-run-'):
            thread.join(30)


# Permission ---------------------------------------------------------------

def test_trac_admin_includes_cron_admin(env):
    perms = PermissionSystem(env)
    assert 'CRON_ADMIN' in perms.get_user_permissions('admin')
    assert 'CRON_ADMIN' in perms.get_user_permissions('cronist')
    assert 'CRON_ADMIN' not in perms.get_user_permissions('joe')


def test_panels_are_listed_only_for_cron_admin(env):
    def panels(req):
        return [p for panel in PANELS
                for p in panel(env).get_admin_panels(req)]
    for user in ('anonymous', 'joe'):
        assert panels(MockRequest(env, authname=user)) == []
    listed = panels(MockRequest(env, authname='cronist'))
    assert [p[2] for p in listed] == list(PAGES)
    assert set((p[0], str(p[1])) for p in listed) == \
        {('traccron', 'Trac Cron')}


@pytest.mark.parametrize('user', ['anonymous', 'joe'])
@pytest.mark.parametrize('page', PAGES)
def test_every_page_answers_403_without_permission(env, user, page):
    assert call(env, page, user=user).status == 403


@pytest.mark.parametrize('user', ['anonymous', 'joe'])
def test_feed_answers_403_without_permission(env, user):
    add_rows(env, 3)
    response = call(env, 'cron_history', user=user,
                    args={'format': 'rss'})
    assert response.status == 403
    assert 'heart_beat' not in response.body


@pytest.mark.parametrize('user', ['anonymous', 'joe'])
@pytest.mark.parametrize('page,args', [
    ('cron_admin', {'run': 'heart_beat'}),
    ('cron_admin', {'save': '1', 'task': 'heart_beat',
                    'heart_beat.daily': '10h00', 'ticker_interval': '5'}),
    ('cron_history', {'clear': '1', 'confirm': 'yes'}),
    ('cron_listener', {'save': '1', 'email_task_event.limit': '7'}),
])
def test_every_action_answers_403_and_changes_nothing(env, user, page,
                                                      args):
    add_rows(env, 3)
    before = ini_bytes(env)
    response = call(env, page, user=user, method='POST', args=args)
    wait_for_runs()
    assert response.status == 403
    assert ini_bytes(env) == before
    assert history.count(env) == 3


def test_unknown_page_of_the_category_is_403_without_permission(env):
    assert call(env, 'nothing', user='joe').status == 403
    assert call(env, 'nothing', user='admin').status == 404


@pytest.mark.parametrize('page', PAGES)
def test_cron_admin_alone_opens_every_page(env, page):
    response = call(env, page, user='cronist')
    assert response.status == 200
    assert 'Trac Cron' in response.body


# Form token and GET --------------------------------------------------------

@pytest.mark.parametrize('page,args', [
    ('cron_admin', {'run': 'heart_beat'}),
    ('cron_admin', {'save': '1', 'task': 'heart_beat',
                    'heart_beat.daily': '10h00'}),
    ('cron_history', {'clear': '1', 'confirm': 'yes'}),
    ('cron_listener', {'save': '1', 'email_task_event.limit': '7'}),
])
@pytest.mark.parametrize('content_type', [
    'application/x-www-form-urlencoded', 'text/plain'])
def test_post_without_form_token_is_rejected(env, page, args,
                                             content_type):
    add_rows(env, 3)
    before = ini_bytes(env)
    response = call(env, page, method='POST', args=args, token=False,
                    content_type=content_type)
    wait_for_runs()
    assert response.status == 400
    assert 'form token' in response.body
    assert ini_bytes(env) == before
    assert history.count(env) == 3


@pytest.mark.parametrize('page', PAGES)
def test_get_never_changes_anything(env, page):
    add_rows(env, 3)
    before = ini_bytes(env)
    args = {'run': 'heart_beat', 'save': '1', 'clear': '1',
            'confirm': 'yes', 'task': 'heart_beat',
            'heart_beat.daily': '10h00', 'ticker_interval': '5',
            'email_task_event.limit': '9'}
    if page == 'cron_history':
        del args['task']
    response = call(env, page, args=args)
    wait_for_runs()
    assert response.status == 200
    assert ini_bytes(env) == before
    assert history.count(env) == 3


# Settings ------------------------------------------------------------------

def test_settings_page_shows_tasks_schedules_and_run_buttons(env):
    body = call(env, 'cron_admin').body
    assert 'id="task-heart_beat"' in body
    assert 'name="heart_beat.daily" size="24"\n' \
           '                       value="21h19"' in body
    for type_id in ('hourly', 'daily', 'weekly', 'monthly', 'cron'):
        assert 'name="heart_beat.%s.arg"' % type_id in body
    assert 'time of day HhM (or H:M), e.g. 21h19' in body
    run = re.search(r'<button[^>]*value="heart_beat"[^>]*>', body).group(0)
    assert 'form="cron-run-form"' in run and 'name="run"' in run
    assert re.search(r'<form id="cron-run-form" method="post"', body)


def post_forms(body):
    return re.findall(r'<form[^>]*method="post".*?</form>', body, re.S)


@pytest.mark.parametrize('page', PAGES)
def test_every_post_form_carries_the_form_token(env, page):
    add_rows(env, 2)
    forms = post_forms(call(env, page).body)
    assert all(has_token(f) for f in forms)
    if page != 'cron_doc':
        assert len([f for f in forms if 'id="cron-' in f]) >= 1
    confirm = call(env, 'cron_history', method='POST',
                   args={'clear': '1'}).body
    assert all(has_token(f) for f in post_forms(confirm))


def has_token(form):
    return re.search(r'<input [^>]*name="__FORM_TOKEN"[^>]*value="%s"'
                     % TOKEN, form) is not None


@pytest.mark.parametrize('key,value', [
    ('heart_beat.daily', '25h00'),
    ('heart_beat.cron', '0 0 12 * * MON-XYZ'),
    ('heart_beat.weekly', '7@10h00'),
    ('ticker_interval', '0'),
    ('ticker_interval', 'abc'),
])
def test_invalid_value_is_refused_and_trac_ini_is_untouched(env, key,
                                                            value):
    before = ini_bytes(env)
    # A valid change in the same form is not saved either.
    form = settings_form(env, **{key: value, 'heart_beat.hourly': '17'})
    response = call(env, 'cron_admin', method='POST', args=form)
    assert response.status == 200
    assert ini_bytes(env) == before
    assert env.config.get('traccron', 'heart_beat.hourly') == ''
    body = response.body
    assert 'Invalid value for <code>%s</code>: <code>%s</code>' % (
        key, html.escape(value, quote=False)) in body
    assert 'Nothing was saved.' in body
    # The form keeps what the user typed, and marks the field.
    typed = form_values(body, 'cron-settings')
    assert typed[key] == value
    assert typed['heart_beat.hourly'] == '17'
    assert re.search(r'name="%s"[^>]*class="cron-error"' % re.escape(key),
                     body)


def test_valid_settings_round_trip(env):
    form = settings_form(env, **{
        'ticker_interval': '5',
        'heart_beat.daily': '08h05, 21h19',
        'heart_beat.daily.arg': 'Good Morning',
        'heart_beat.cron': '0 0/2 * * * ?',
        'heart_beat.hourly.enabled': False,
        'heart_beat.enabled': False,
    })
    response = call(env, 'cron_admin', method='POST', args=form)
    assert response.status == 303
    assert response.location.endswith('/admin/traccron/cron_admin')
    assert ini_value(env, 'ticker_interval') == '5'
    assert ini_value(env, 'heart_beat.daily') == '08h05, 21h19'
    assert ini_value(env, 'heart_beat.daily.arg') == 'Good Morning'
    assert ini_value(env, 'heart_beat.cron') == '0 0/2 * * * ?'
    assert ini_bool(env, 'heart_beat.hourly.enabled') is False
    assert ini_bool(env, 'heart_beat.enabled') is False
    # Unchanged fields are not written.
    assert ini_value(env, 'heart_beat.weekly') is None
    assert ini_bool(env, 'ticker_enabled') is False
    assert ini_value(env, 'xss_task.enabled') is None

    body = call(env, 'cron_admin').body
    assert 'Your changes have been saved.' in body
    again = form_values(body, 'cron-settings')
    assert again['heart_beat.daily'] == '08h05, 21h19'
    assert again['heart_beat.daily.arg'] == 'Good Morning'
    assert 'heart_beat.enabled' not in again
    assert 'heart_beat.hourly.enabled' not in again
    assert again['heart_beat.daily.enabled'] == 'true'

    # Ticking the boxes again writes true.
    form = settings_form(env, **{'heart_beat.enabled': 'true',
                                 'ticker_enabled': 'true'})
    assert call(env, 'cron_admin', method='POST', args=form).status == 303
    assert ini_bool(env, 'heart_beat.enabled') is True
    assert ini_bool(env, 'ticker_enabled') is True


def test_saving_nothing_changed_leaves_trac_ini_alone(env):
    before = ini_bytes(env)
    response = call(env, 'cron_admin', method='POST',
                    args=settings_form(env))
    assert response.status == 303
    assert ini_bytes(env) == before
    assert 'No changes to save.' in call(env, 'cron_admin').body


def test_a_task_missing_from_the_form_is_left_alone(env):
    form = settings_form(env)
    form['task'] = [t for t in form['task'] if t != 'heart_beat']
    del form['heart_beat.enabled']
    assert call(env, 'cron_admin', method='POST', args=form).status == 303
    assert ini_value(env, 'heart_beat.enabled') is None


def test_settings_page_reports_problems_of_trac_ini(env):
    env.config.set('traccron', 'hear_beat_daily.arg', 'Good Morging')
    body = call(env, 'cron_admin').body
    assert 'id="cron-problems"' in body
    assert 'hear_beat_daily.arg' in body
    assert 'did you mean' in body


# Run now -------------------------------------------------------------------

def test_run_now_runs_the_task_and_history_shows_it(env):
    response = call(env, 'cron_admin', method='POST',
                    args={'run': 'heart_beat'})
    assert response.status == 303
    wait_for_runs()
    rows = history.query(env)
    assert [(r.task, r.schedule, r.status) for r in rows] == \
        [('heart_beat', 'manual', 'success')]
    body = call(env, 'cron_admin').body
    assert 'Task <strong>heart_beat</strong> started.' in body
    body = call(env, 'cron_history').body
    assert 'id="run-%d"' % rows[0].id in body


def test_run_now_while_the_task_runs_is_refused_and_says_why(env):
    HeldTask.release = threading.Event()
    try:
        first = call(env, 'cron_admin', method='POST', args={'run': 'held'})
        second = call(env, 'cron_admin', method='POST', args={'run': 'held'})
        assert (first.status, second.status) == (303, 303)
        body = call(env, 'cron_admin').body
        assert 'Task <strong>held</strong> was not started: already ' \
            'running (max_instances = 1).' in body
    finally:
        HeldTask.release.set()
    wait_for_runs()
    assert [(r.task, r.schedule, r.status) for r in history.query(env)] == \
        [('held', 'manual', 'success')]


def test_run_now_of_an_unknown_task_is_404(env):
    response = call(env, 'cron_admin', method='POST',
                    args={'run': 'no_such_task'})
    assert response.status == 404
    assert history.count(env) == 0


def test_saving_wakes_the_ticker_which_runs_the_new_schedule_once(
        env, monkeypatch):
    """The ticker sleeps until 11:05 (ticker_interval = 60 min); the
    panel adds 10:35 at 10:30: the ticker wakes, runs 10:35 on time, and
    runs no occurrence twice."""
    env.config.set('traccron', 'ticker_enabled', 'true')
    env.config.set('traccron', 'ticker_interval', '60')
    env.config.set('traccron', 'timezone', 'UTC')
    env.config.set('traccron', 'heart_beat.daily', '')
    env.config.set('traccron', 'heart_beat.hourly', '5')
    env.config.save()
    start = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC).timestamp()
    edit_at = datetime(2026, 3, 2, 10, 30, tzinfo=UTC).timestamp()
    until = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()

    class EditingClock(FakeClock):
        edited = False

        def wait(self, event, timeout):
            if not self.edited and self.now + timeout > edit_at:
                self.edited = True
                self.set(edit_at)
                form = settings_form(env, **{'heart_beat.hourly': '5, 35'})
                assert call(env, 'cron_admin', method='POST',
                            args=form).status == 303
                if event.is_set():
                    return True
            return FakeClock.wait(self, event, timeout)

    clock = EditingClock(start)
    ticker = ticker_module.Ticker(env.path, lambda: env, clock=clock,
                                  spawn=inline_spawn, config_check=None)
    clock.until = until
    clock.ticker = ticker
    monkeypatch.setitem(ticker_module._tickers, env.path, ticker)
    ticker.run()
    assert clock.edited
    rows = list(reversed(history.query(env)))
    assert [(datetime.fromtimestamp(r.fire_time / 1e6, UTC).strftime(
        '%H:%M'), r.status) for r in rows] == [
        ('10:05', 'success'), ('10:35', 'success'), ('11:05', 'success'),
        ('11:35', 'success')]


# History -------------------------------------------------------------------

def history_ids(body):
    return [int(i) for i in re.findall(r'<tr class="cron-row [^"]*" '
                                       r'id="run-(\d+)"', body)]


def test_history_is_newest_first_and_paged(env):
    add_rows(env, 120)
    page1 = call(env, 'cron_history').body
    assert history_ids(page1) == list(range(120, 120 - PAGE_SIZE, -1))
    assert 'Runs 1 - 50 of 120' in page1
    page3 = call(env, 'cron_history', args={'page': '3'}).body
    assert history_ids(page3) == list(range(20, 0, -1))
    assert 'rel="prev"' in page3 and 'rel="next"' not in page3
    assert 'page=2' in page3
    out_of_range = call(env, 'cron_history', args={'page': '9'}).body
    assert 'Page 9 is out of range.' in out_of_range
    assert history_ids(out_of_range) == list(range(20, 0, -1))
    assert call(env, 'cron_history', args={'page': 'x'}).status == 400


def test_history_filters_by_task_and_status(env):
    add_rows(env, 3, task='heart_beat', status='success')
    add_rows(env, 2, task='heart_beat', status='failure',
             start=1_790_000_000_000_000)
    add_rows(env, 4, task='xss_task', status='failure',
             start=1_800_000_000_000_000)
    body = call(env, 'cron_history', args={'status': 'failure'}).body
    assert history_ids(body) == [9, 8, 7, 6, 5, 4]
    body = call(env, 'cron_history', args={'status': 'failure',
                                           'task': 'heart_beat'}).body
    assert history_ids(body) == [5, 4]
    assert '<option selected="selected" value="heart_beat">' in body
    assert '<option selected="selected" value="failure">' in body
    body = call(env, 'cron_history', args={'task': 'xss_task'}).body
    assert history_ids(body) == [9, 8, 7, 6]
    body = call(env, 'cron_history', args={'status': 'bogus'}).body
    assert len(history_ids(body)) == 9


def test_history_shows_duration_status_runner_and_elapsed_time(env):
    add_rows(env, 1)
    now = int(datetime.now(UTC).timestamp() * 1e6)
    history.claim(env, [history.Claim('heart_beat', 'manual', now - 95e6,
                                      now - 95_000_000)], 'web:42', now)
    body = call(env, 'cron_history').body
    assert '1.50 s' in body
    assert 'cron-status cron-status-success' in body
    assert 'cron-status cron-status-running' in body
    assert re.search(r'for 1 min 3[5-9] s', body)
    assert 'host:1' in body and 'web:42' in body
    # Times in the user's zone and date format (here MockRequest's: UTC,
    # en_US), not in the schedules' zone; the zone is named.
    assert 'Times in UTC' in body
    assert 'May 28, 2026, 8:26:40\u202fPM' in body  # 1780000000 s
    assert '22:26:40' not in body  # as in Paris


def test_history_chart_has_a_bar_per_recent_run(env):
    add_rows(env, 3, task='heart_beat')
    add_rows(env, 2, task='xss_task', status='failure',
             start=1_790_000_000_000_000)
    body = call(env, 'cron_history').body
    chart = re.search(r'<div class="cron-charts".*?</div>\s*</div>', body,
                      re.S).group(0)
    assert chart.count('<svg') == 2
    assert chart.count('cron-bar-success') == 3
    assert chart.count('cron-bar-failure') == 2
    assert '2 failures' in chart and '3 runs' in chart


def test_clear_history_asks_for_confirmation_first(env):
    add_rows(env, 5)
    now = int(datetime.now(UTC).timestamp() * 1e6)
    history.claim(env, [history.Claim('heart_beat', 'manual', now, now)],
                  'web:42', now)
    response = call(env, 'cron_history', method='POST',
                    args={'clear': 'Clear history'})
    assert response.status == 200
    assert 'id="cron-clear-confirm"' in response.body
    assert 'name="confirm" value="yes"' in response.body
    assert history.count(env) == 6
    response = call(env, 'cron_history', method='POST',
                    args={'clear': 'Clear history', 'confirm': 'yes'})
    assert response.status == 303
    assert [r.status for r in history.query(env)] == ['running']
    assert 'The history has been cleared.' in call(env,
                                                   'cron_history').body


def test_rss_feed_of_the_history(env):
    add_rows(env, 3)
    add_rows(env, 1, task='xss_task', status='failure', message=SCRIPT,
             start=1_790_000_000_000_000)
    page = call(env, 'cron_history').body
    link = re.search(r'<link rel="alternate"[^>]*>', page).group(0)
    assert 'type="application/rss+xml"' in link
    assert 'format%3Drss' in link  # through /login, as Trac's own feeds
    response = call(env, 'cron_history', args={'format': 'rss'})
    assert response.status == 200
    assert response.req.headers_sent['Content-Type'].startswith(
        'application/rss+xml')
    body = response.body
    assert body.count('<item>') == 4
    assert '<title>xss_task: failure</title>' in body
    # The description is HTML escaped once more: a reader decoding the
    # XML gets &lt;script&gt;, never a tag.
    assert '<script' not in body
    assert '&amp;lt;script&amp;gt;' in body
    filtered = call(env, 'cron_history', args={'format': 'rss',
                                               'task': 'xss_task'}).body
    assert filtered.count('<item>') == 1


def get_as(env, user, page, query=''):
    """GET an admin page as `user` through Trac's WSGI entry point (a
    real Request: the zone, language and date format come from the
    user's session as on a live site); returns the status and body."""
    environ = {
        'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '/trac',
        'PATH_INFO': '/admin/traccron/' + page, 'QUERY_STRING': query,
        'SERVER_NAME': 'localhost', 'SERVER_PORT': '80',
        'SERVER_PROTOCOL': 'HTTP/1.1', 'REMOTE_ADDR': '127.0.0.1',
        'REMOTE_USER': user, 'wsgi.url_scheme': 'http',
        'wsgi.input': io.BytesIO(), 'wsgi.errors': sys.stderr,
        'wsgi.run_once': False, 'wsgi.multithread': True,
        'wsgi.multiprocess': False, 'trac.env_path': env.path,
        'trac.locale': 'C',
    }
    status, chunks = [], []

    def start_response(line, headers, exc_info=None):
        status.append(line)
        return chunks.append
    saved = locale.setlocale(locale.LC_ALL)
    try:
        chunks.extend(dispatch_request(environ, start_response))
    finally:
        locale.setlocale(locale.LC_ALL, saved)
        with env_cache_lock:
            cached = env_cache.pop(env.path, None)
        if cached is not None:
            cached.shutdown()
    return int(status[0].split()[0]), b''.join(chunks).decode('utf-8')


def cell(body, run_id, name):
    return re.search(r'<tr [^>]*id="run-%d">.*?<td class="%s">(.*?)</td>'
                     % (run_id, name), body, re.S).group(1)


FRENCH_MONTHS = ['janv.', 'févr.', 'mars', 'avr.', 'mai', 'juin', 'juil.',
                 'août', 'sept.', 'oct.', 'nov.', 'déc.']


@pytest.mark.skipif(not has_babel, reason='Babel is not installed (pip '
                    'install Babel): without it pages are in English only')
def test_history_times_are_in_the_users_zone_language_and_format(env):
    """A French user in Tokyo reads the times of the History page, its
    chart and its feed as every Trac page shows them to that user."""
    # Three days ago, at 40 s past the minute: "il y a 3 jours".
    fire = int(time.time()) // 60 * 60 - 3 * 86400 + 40
    add_rows(env, 1, start=fire * 1_000_000)
    PermissionSystem(env).grant_permission('tokyo', 'CRON_ADMIN')
    session = DetachedSession(env, 'tokyo')
    session['tz'] = 'Asia/Tokyo'
    session['language'] = 'fr'
    session.save()
    instant = datetime.fromtimestamp(fire, UTC)
    import babel.dates as babel_dates
    in_tokyo = babel_dates.format_datetime(
        instant, 'medium', tzinfo=ZoneInfo('Asia/Tokyo'), locale='fr')
    tokyo = instant.astimezone(ZoneInfo('Asia/Tokyo'))
    assert in_tokyo == '%d %s %d, %02d:%02d:40' % (
        tokyo.day, FRENCH_MONTHS[tokyo.month - 1], tokyo.year, tokyo.hour,
        tokyo.minute)
    in_utc = babel_dates.format_datetime(instant, 'medium', tzinfo=UTC,
                                         locale='en_US')
    assert in_utc.endswith(':40\u202f%s' % instant.strftime('%p'))

    status, body = get_as(env, 'tokyo', 'cron_history')
    assert status == 200
    assert 'Trac Cron : Historique' in body
    assert 'Asia/Tokyo' in body
    for name in ('cron-fire', 'cron-started'):
        shown = cell(body, 1, name)
        assert in_tokyo in shown  # the exact time, on hover
        assert 'il y a 3 jours' in shown  # "3 days ago"
        assert in_utc not in shown
    chart = re.search(r'<div class="cron-charts".*?</svg>', body,
                      re.S).group(0)
    assert '<title>%s réussite (1.50 s)</title>' % in_tokyo in chart

    status, feed = get_as(env, 'tokyo', 'cron_history', 'format=rss')
    assert status == 200
    assert '<pubDate>%s</pubDate>' % email.utils.format_datetime(
        instant, usegmt=True) in feed
    assert html.escape(in_tokyo) in feed

    # The same row, for a user without preferences: UTC and English.
    PermissionSystem(env).grant_permission('london', 'CRON_ADMIN')
    session = DetachedSession(env, 'london')
    session['tz'] = 'UTC'
    session['language'] = 'en_US'
    session.save()
    status, body = get_as(env, 'london', 'cron_history')
    assert status == 200
    assert in_utc in cell(body, 1, 'cron-fire')
    assert in_tokyo not in body


# Escaping ------------------------------------------------------------------

def test_script_in_description_and_message_renders_as_text(env):
    settings = call(env, 'cron_admin').body
    assert SCRIPT not in settings
    assert '<script>alert' not in settings
    assert '&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt; in a ' \
        'description' in settings
    call(env, 'cron_admin', method='POST', args={'run': 'xss_task'})
    wait_for_runs()
    [row] = history.query(env)
    assert row.status == 'failure' and SCRIPT in row.message
    page = call(env, 'cron_history').body
    assert SCRIPT not in page
    assert '<script>alert' not in page
    assert '&lt;script&gt;alert(' in page


# Listeners -----------------------------------------------------------------

def test_listener_page_lists_listeners_and_email_options(env):
    body = call(env, 'cron_listener').body
    assert 'id="listener-history_task_event"' in body
    for key in ('email_task_event.limit', 'email_task_event.recipient',
                'email_task_event.only_error'):
        assert 'name="%s"' % key in body


def test_listener_settings_round_trip(env):
    response = call(env, 'cron_listener')
    form = form_values(response.body, 'cron-listeners')
    del form['history_task_event.enabled']
    form.update({'email_task_event.limit': '3',
                 'email_task_event.recipient': 'admin, ops@example.org',
                 'email_task_event.only_error': 'true', 'save': '1'})
    assert call(env, 'cron_listener', method='POST',
                args=form).status == 303
    assert ini_bool(env, 'history_task_event.enabled') is False
    assert ini_value(env, 'email_task_event.limit') == '3'
    assert ini_value(env, 'email_task_event.recipient') == \
        'admin, ops@example.org'
    assert ini_bool(env, 'email_task_event.only_error') is True
    body = call(env, 'cron_listener').body
    assert 'Your changes have been saved.' in body
    again = form_values(body, 'cron-listeners')
    assert again['email_task_event.limit'] == '3'
    assert again['email_task_event.only_error'] == 'true'


def test_listener_invalid_limit_is_refused(env):
    before = ini_bytes(env)
    form = form_values(call(env, 'cron_listener').body, 'cron-listeners')
    form.update({'email_task_event.limit': '-2', 'save': '1',
                 'email_task_event.recipient': 'someone'})
    response = call(env, 'cron_listener', method='POST', args=form)
    assert response.status == 200
    assert 'Invalid value for <code>email_task_event.limit</code>' in \
        response.body
    assert ini_bytes(env) == before
    typed = form_values(response.body, 'cron-listeners')
    assert typed['email_task_event.recipient'] == 'someone'


# Invalid values in trac.ini ------------------------------------------------

INVALID_INI = [
    ('history_days', '²'),
    ('ticker_interval', '0'),
    ('ticker_interval', '1.5'),
    ('lease_seconds', 'x'),
    ('timezone', 'Nowhere/City'),
    ('timezone', 'Europe'),
    ('heart_beat.max_instances', '²'),
    ('misfire_grace', '٣'),
    ('email_task_event.limit', '²'),
    ('heart_beat.enabled', 'maybe'),
]


def shown_problems(body):
    """The `key = value` pairs of the problems block of a page."""
    block = re.search(r'<div class="cron-problems" id="cron-problems">'
                      r'(.*?)</div>', body, re.S)
    return [] if block is None else [
        (html.unescape(k), html.unescape(v)) for k, v in re.findall(
            r'<code>([^<]*)</code> = <code>([^<]*)</code>', block.group(1))]


@pytest.mark.parametrize('key,value', INVALID_INI)
def test_every_page_answers_200_and_shows_an_invalid_value(env, key, value):
    env.config.set('traccron', key, value)
    add_rows(env, 2)
    for page in PAGES:
        response = call(env, page)
        assert response.status == 200, page
        assert shown_problems(response.body).count((key, value)) == 1, page
    feed = call(env, 'cron_history', args={'format': 'rss'})
    assert feed.status == 200
    assert feed.body.count('<item>') == 2
    assert html.escape('[traccron] %s = %s:' % (key, value), quote=False) \
        in feed.body


@pytest.mark.parametrize('page,key,value', [
    ('cron_admin', 'ticker_interval', '²'),
    ('cron_admin', 'ticker_interval', '٣'),
    ('cron_admin', 'ticker_interval', '10000000'),
    ('cron_listener', 'email_task_event.limit', '²'),
    ('cron_listener', 'email_task_event.limit', '٣'),
])
def test_saving_an_invalid_number_is_refused_and_nothing_saved(env, page,
                                                              key, value):
    before = ini_bytes(env)
    form_id = 'cron-settings' if page == 'cron_admin' else 'cron-listeners'
    form = form_values(call(env, page).body, form_id)
    form.update({key: value, 'save': '1'})
    response = call(env, page, method='POST', args=form)
    assert response.status == 200
    assert 'Invalid value for <code>%s</code>: <code>%s</code>' % (
        key, value) in response.body
    assert 'Nothing was saved.' in response.body
    assert ini_bytes(env) == before


def test_an_invalid_timezone_does_not_refuse_the_schedules(env):
    """The zone is not on the form: its problem must not make every
    schedule value invalid, or nothing could be saved."""
    env.config.set('traccron', 'timezone', 'Nowhere/City')
    env.config.save()
    form = settings_form(env, **{'heart_beat.hourly': '17'})
    response = call(env, 'cron_admin', method='POST', args=form)
    assert response.status == 303
    assert ini_value(env, 'heart_beat.hourly') == '17'
    body = call(env, 'cron_admin').body
    assert 'Your changes have been saved.' in body
    assert shown_problems(body) == [('timezone', 'Nowhere/City')]


def test_saving_the_settings_replaces_an_invalid_boolean(env):
    """The box shows the default of an invalid value; saving the form
    writes what it shows, which ends the problem."""
    env.config.set('traccron', 'heart_beat.enabled', 'maybe')
    env.config.save()
    form = settings_form(env)
    assert form['heart_beat.enabled'] == 'true'
    assert call(env, 'cron_admin', method='POST', args=form).status == 303
    assert ini_bool(env, 'heart_beat.enabled') is True
    assert shown_problems(call(env, 'cron_admin').body) == []


# Documentation -------------------------------------------------------------

def test_doc_page_lists_types_and_next_fire_times(env):
    env.config.set('traccron', 'heart_beat.cron', '0 0 12 L * ?')
    body = call(env, 'cron_doc').body
    for type_id in ('hourly', 'daily', 'weekly', 'monthly', 'cron'):
        assert 'id="type-%s"' % type_id in body
    assert '4@21h28' in body and '0 15 10 ? * MON-FRI' in body
    upcoming = re.search(r'<table class="listing" id="cron-upcoming">.*?'
                         r'</table>', body, re.S).group(0)
    daily = re.findall(r'(\d{4}-\d\d-\d\d) 21:19:00 (CES?T)', upcoming)
    assert len(daily) == 5
    assert len(set(d for d, _ in daily)) == 5
    assert len(re.findall(r' 12:00:00 CES?T', upcoming)) == 5
    assert 'Europe/Paris' in body


# Translation ---------------------------------------------------------------

def test_pages_are_in_french_for_a_french_user(tmp_path, monkeypatch):
    """Even on the first request of an environment: translations are
    activated lazily, as Trac's dispatcher does, and the domain must be
    registered by then."""
    monkeypatch.setattr(ticker_module, 'ensure_ticker', lambda env: None)
    env = make_env(tmp_path / 'fresh', config={'ticker_enabled': 'false'})
    locale = Locale.parse('fr')
    bodies = {}
    for page in PAGES:
        make_activable(lambda: locale, env.path)
        try:
            # user None: a MockPerm that grants everything, so that no
            # permission lookup instantiates the panel before the request
            bodies[page] = call(env, page, user=None, locale=locale).body
        finally:
            deactivate()
    env.shutdown()
    assert 'Trac Cron : Paramètres' in bodies['cron_admin']
    assert 'Lancer maintenant' in bodies['cron_admin']
    assert 'Trac Cron : Historique' in bodies['cron_history']
    assert 'Trac Cron : Écouteurs' in bodies['cron_listener']
    assert 'Prochains déclenchements' in bodies['cron_doc']
    assert 'Réglages de base' in bodies['cron_admin']  # Trac's own catalog


def test_duration_format():
    assert format_duration(0.25) == '0.25 s'
    assert format_duration(42.4) == '42 s'
    assert format_duration(185) == '3 min 05 s'
    assert format_duration(7620) == '2 h 07 min'


def test_french_catalog_is_complete_and_compiled(tmp_path):
    """Every message that `setup.py extract_messages` finds has a French
    translation, and the compiled catalog holds the same translations as
    the .po file."""
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pot = tmp_path / 'messages.pot'
    subprocess.run([sys.executable, 'setup.py', '--quiet',
                    'extract_messages', '--output-file', str(pot)],
                   cwd=root, check=True, capture_output=True)
    with open(str(pot), 'rb') as f:
        extracted = set(m.id if isinstance(m.id, str) else m.id[0]
                        for m in read_po(f) if m.id)
    locale_dir = os.path.join(root, 'traccron', 'locale', 'fr',
                              'LC_MESSAGES')
    with open(os.path.join(locale_dir, 'traccron.po'), 'rb') as f:
        po = read_po(f)
    with open(os.path.join(locale_dir, 'traccron.mo'), 'rb') as f:
        mo = read_mo(f)
    translated = set(m.id if isinstance(m.id, str) else m.id[0]
                     for m in po if m.id and m.string and not m.fuzzy)
    assert 'Run now' in extracted and len(extracted) > 100
    assert sorted(extracted - translated) == []
    for message in po:
        if message.id:
            assert list(mo[message.id].string) == list(message.string) \
                if message.pluralizable else \
                mo[message.id].string == message.string
