# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Reading without administering: every URL and action of the panels for
an anonymous user, a CRON_VIEW user and a CRON_ADMIN user; the page of a
run (its captured log, live while it runs, and its JSON); the runs in
Trac's Timeline."""

import json
import re
import threading
import time

import pytest
from trac.perm import PermissionSystem

from traccron import capture, history
from traccron import ticker as ticker_module
from traccron.core import Core
from traccron.times import now_us

from support import StubTask, dispatch, make_env

HOUR_US = 3600 * 1_000_000


class EchoTask(StubTask):
    """Logs its arguments."""

    task_id = 'echo'

    def wake_up(self, *args):
        for arg in args:
            self.log.info('echo says %s', arg)


class SlowEchoTask(StubTask):
    """Logs its argument, then runs until the test releases it."""

    task_id = 'slow_echo'
    release = threading.Event()

    def wake_up(self, *args):
        self.log.info('slow echo begins with %s', ' '.join(args))
        SlowEchoTask.release.wait(20)
        self.log.info('slow echo ends')


def call(env, path, user, method='GET', args=None):
    """Dispatch a request to `path` as Trac would (the form token given
    on a POST)."""
    return dispatch(env, path, user, method, args)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setattr(ticker_module, 'ensure_ticker', lambda env: None)
    env = make_env(tmp_path / 'env', enable=[EchoTask.__module__ + '.*'],
                   config={'ticker_enabled': 'false',
                           'timezone': 'Europe/Paris',
                           'heart_beat.daily': '21h19'})
    perms = PermissionSystem(env)
    perms.grant_permission('anonymous', 'TIMELINE_VIEW')
    perms.grant_permission('viewer', 'CRON_VIEW')
    perms.grant_permission('cronist', 'CRON_ADMIN')
    yield env
    env.shutdown()


def add_row(env, status, started, task=None, message=''):
    """One row of `status` that started at µs `started` (a missed one
    has only its fire time); returns its id."""
    run = status not in ('missed', 'skipped')
    task = task or 'task_' + status
    with env.db_transaction as db:
        cursor = db.cursor()
        cursor.execute("""
            INSERT INTO cron_history (task, schedule, fire_time, started,
              ended, status, message, runner, heartbeat)
            VALUES (%s, 'daily', %s, %s, %s, %s, %s, 'host:1', %s)""",
            (task, started, started if run else None,
             started + 1_500_000 if run and status != 'running' else None,
             status, message, started))
        return db.get_last_id(cursor, 'cron_history')


def run_path(run_id):
    return '/admin/traccron/cron_history/%s' % run_id


def wait_for_runs():
    for thread in threading.enumerate():
        if thread.name.startswith('traccron-run-'):
            thread.join(30)


USERS = ('anonymous', 'viewer', 'cronist')
READ = '/admin/traccron/cron_history'
#: (method, path, args) -> the status for anonymous, CRON_VIEW, CRON_ADMIN.
URLS = [
    ('GET', READ, {}, (403, 200, 200)),
    ('GET', READ, {'format': 'rss'}, (403, 200, 200)),
    ('GET', '/admin/traccron', {}, (403, 200, 200)),
    ('GET', '/admin', {}, (404, 200, 200)),
    ('GET', '/admin/traccron/cron_admin', {}, (403, 403, 200)),
    ('GET', '/admin/traccron/cron_listener', {}, (403, 403, 200)),
    ('GET', '/admin/traccron/cron_doc', {}, (403, 403, 200)),
    ('POST', READ, {'clear': '1'}, (403, 403, 200)),
    ('POST', '/admin/traccron/cron_admin',
     {'save': '1', 'task': 'heart_beat', 'heart_beat.daily': '10h00',
      'ticker_interval': '5'},
     (403, 403, 303)),
    ('POST', '/admin/traccron/cron_admin', {'run': 'heart_beat'},
     (403, 403, 303)),
    ('POST', '/admin/traccron/cron_listener',
     {'save': '1', 'email_task_event.limit': '7'}, (403, 403, 303)),
    ('GET', '/timeline', {}, (200, 200, 200)),
    ('GET', '/admin/traccron/cron_overview', {}, (403, 200, 200)),
    ('POST', '/admin/traccron/cron_overview', {'disable': 'heart_beat'},
     (403, 403, 303)),
    ('POST', '/admin/traccron/cron_overview', {'enable': 'heart_beat'},
     (403, 403, 303)),
    ('POST', '/admin/traccron/cron_overview',
     {'run': 'heart_beat', 'args': 'a, b'}, (403, 403, 303)),
]


@pytest.mark.parametrize('user', USERS)
@pytest.mark.parametrize('method,path,args,statuses', URLS)
def test_every_url_and_action_for_each_user(env, user, method, path, args,
                                            statuses):
    add_row(env, 'success', now_us() - HOUR_US)
    response = call(env, path, user, method, args)
    wait_for_runs()
    assert response.status == statuses[USERS.index(user)]


@pytest.mark.parametrize('user', USERS)
def test_run_page_and_its_json_for_each_user(env, user):
    run_id = add_row(env, 'failure', now_us() - HOUR_US,
                     message='Traceback\nRuntimeError: boom')
    expected = 403 if user == 'anonymous' else 200
    page = call(env, run_path(run_id), user)
    news = call(env, run_path(run_id), user, args={'format': 'json'})
    assert (page.status, news.status) == (expected, expected)
    if expected == 200:
        assert 'RuntimeError: boom' in page.body
        assert json.loads(news.body)['status'] == 'failure'
    else:
        assert 'boom' not in page.body + news.body


@pytest.mark.parametrize('user', ['viewer', 'cronist'])
@pytest.mark.parametrize('bad', ['nothing', '12x', '999', '1/2', '9' * 20,
                                 '18446744073709551616'])
def test_run_page_of_no_run_is_404(env, user, bad):
    add_row(env, 'success', now_us())
    assert call(env, run_path(bad), user).status == 404


def test_cron_view_user_sees_no_action_button(env):
    add_row(env, 'failure', now_us() - HOUR_US)
    for path in (READ, run_path(1)):
        viewer = call(env, path, 'viewer').body
        assert 'id="cron-clear"' not in viewer
        assert 'name="clear"' not in viewer
        assert 'name="run"' not in viewer
        content = viewer[viewer.index('id="content"'):]
        assert 'method="post"' not in content.lower()
    assert 'id="cron-clear"' in call(env, READ, 'cronist').body


def test_cron_view_user_is_offered_only_the_history(env):
    body = call(env, READ, 'viewer').body
    assert 'href="/trac.cgi/admin/traccron/cron_history"' in body
    for page in ('cron_admin', 'cron_listener', 'cron_doc'):
        assert '/admin/traccron/%s"' % page not in body
    body = call(env, READ, 'cronist').body
    for page in ('cron_admin', 'cron_listener', 'cron_doc'):
        assert '/admin/traccron/%s"' % page in body


def test_clear_by_a_cron_view_user_changes_nothing(env):
    add_row(env, 'success', now_us())
    response = call(env, READ, 'viewer', 'POST',
                    {'clear': '1', 'confirm': 'yes'})
    assert response.status == 403
    assert history.count(env) == 1


def test_history_rows_link_to_their_run_page(env):
    ids = [add_row(env, status, now_us() - i * HOUR_US)
           for i, status in enumerate(('success', 'failure', 'missed'))]
    body = call(env, READ, 'viewer').body
    for run_id in ids:
        assert 'href="/trac.cgi/admin/traccron/cron_history/%d"' % run_id \
            in body


def test_run_page_shows_the_captured_log_of_a_run_now_with_arguments(env):
    run = Core(env).run_now('echo', args=['hello-arg', 'second'],
                            wait=True)
    body = call(env, run_path(run.id), 'viewer').body
    assert 'echo says hello-arg' in body
    assert 'echo says second' in body
    assert 'cron-status-success' in body
    assert 'manual' in body
    assert 'id="cron-live"' not in body  # finished: no polling
    # Its arguments are kept with it, and shown once it has ended.
    assert re.search(r'<td class="cron-args">\s*hello-arg second\s*</td>',
                     body)


def test_arguments_are_kept_without_log_capture(env):
    env.config.set('traccron', 'log_capture_bytes', '0')
    run = Core(env).run_now('echo', args=['a, b', 'c'], wait=True)
    assert capture.get(env, run.id) == ''
    assert capture.get_args(env, run.id) == ['a, b', 'c']
    body = call(env, run_path(run.id), 'viewer').body
    assert re.search(r'<td class="cron-args">\s*a, b c\s*</td>', body)


def test_running_run_page_polls_and_its_json_shows_the_live_log(env):
    SlowEchoTask.release = threading.Event()
    try:
        run = Core(env).run_now('slow_echo', args=['live-arg'])
        deadline = time.time() + 15
        news = {}
        while time.time() < deadline:
            news = json.loads(call(env, run_path(run.id), 'viewer',
                                   args={'format': 'json'}).body)
            if 'slow echo begins' in news['log']:
                break
            time.sleep(0.2)
        assert news['running'] is True
        assert 'slow echo begins with live-arg' in news['log']
        body = call(env, run_path(run.id), 'viewer').body
        assert 'id="cron-live"' in body
        assert 'format=json' in body
        assert 'live-arg' in body  # its arguments, known while it runs
    finally:
        SlowEchoTask.release.set()
        wait_for_runs()
    news = json.loads(call(env, run_path(run.id), 'viewer',
                           args={'format': 'json'}).body)
    assert news['running'] is False
    assert 'slow echo ends' in news['log']


def test_page_of_a_run_past_its_time_limit_polls_until_it_ends(env):
    id = add_row(env, 'timeout', now_us() - 5_000_000,
                 message='still running after 1 s (timeout = 1 s)')
    env.db_transaction("UPDATE cron_history SET ended=NULL WHERE id=%s",
                       (id,))
    news = json.loads(call(env, run_path(id), 'viewer',
                           args={'format': 'json'}).body)
    assert news['running'] is True and news['status'] == 'timeout'
    assert 'cron-status-timeout' in news['badge']
    assert news['duration'].startswith('5')    # still counting
    body = call(env, run_path(id), 'viewer').body
    assert 'id="cron-live"' in body
    history.finish(env, id, now_us(), 'success')
    news = json.loads(call(env, run_path(id), 'viewer',
                           args={'format': 'json'}).body)
    assert news['running'] is False and news['status'] == 'timeout'
    assert news['message'].startswith('still running after 1 s (timeout '
                                      '= 1 s)\nfinished after 5')


# The Timeline --------------------------------------------------------------

def timeline(env, user, **args):
    return call(env, '/timeline', user, args=args).body


def test_timeline_shows_failures_and_successes_only_when_asked(env):
    now = now_us()
    failure = add_row(env, 'failure', now - HOUR_US, task='failing',
                      message='RuntimeError: boom')
    success = add_row(env, 'success', now - 2 * HOUR_US, task='fine')
    missed = add_row(env, 'missed', now - 3 * HOUR_US, task='late')
    interrupted = add_row(env, 'interrupted', now - 4 * HOUR_US,
                          task='cut')
    running = add_row(env, 'running', now - 60_000_000, task='going')

    body = timeline(env, 'viewer')
    assert 'name="traccron"' in body
    assert 'name="traccron_success"' in body
    for run_id in (failure, missed, interrupted):
        assert run_path(run_id) + '"' in body
    assert run_path(success) + '"' not in body
    assert run_path(running) + '"' not in body
    assert 'RuntimeError: boom' in body

    body = timeline(env, 'viewer', traccron_success='on')
    assert run_path(success) + '"' in body
    assert run_path(failure) + '"' not in body

    body = timeline(env, 'cronist', traccron='on', traccron_success='on')
    for run_id in (failure, success, missed, interrupted):
        assert run_path(run_id) + '"' in body


def test_anonymous_sees_no_run_nor_filter_in_the_timeline(env):
    now = now_us()
    failure = add_row(env, 'failure', now - HOUR_US)
    success = add_row(env, 'success', now - HOUR_US)
    body = timeline(env, 'anonymous', traccron='on', traccron_success='on')
    assert 'name="traccron"' not in body
    assert 'name="traccron_success"' not in body
    for run_id in (failure, success):
        assert run_path(run_id) not in body


def test_timeline_query_keeps_to_the_period(env):
    now = now_us()
    inside = add_row(env, 'failure', now - HOUR_US)
    add_row(env, 'failure', now - 100 * 24 * HOUR_US)
    add_row(env, 'running', now - HOUR_US)
    missed = add_row(env, 'missed', now - 2 * HOUR_US)
    rows = history.timeline(env, now - 24 * HOUR_US, now,
                            ['failure', 'missed', 'interrupted'])
    assert [r.id for r in rows] == [inside, missed]


def test_timeline_feed_links_to_the_run_page(env):
    failure = add_row(env, 'failure', now_us() - HOUR_US,
                      message='RuntimeError: boom')
    response = call(env, '/timeline', 'viewer', args={'format': 'rss'})
    assert response.status == 200
    url = response.req.abs_href.admin('traccron', 'cron_history',
                                      str(failure))
    assert '<link>%s</link>' % url in response.body
    assert '<category>cron-failure</category>' in response.body
