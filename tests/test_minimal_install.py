# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""A stock install, made as a new administrator makes one: a fresh
virtual environment that holds only what pip brings (no Babel: Trac 1.6
does not require it), the plugin as a wheel installed by pip or as an
egg dropped into ENV/plugins, and tracd. Every TracCron page and the
feed answer 200 to an administrator, in English; "Run now" runs the
task; a per-second task runs each second; the email listener's mails go
out. With Babel added to the same venv, a French browser gets French."""

import os

import pytest

from browser_support import write_htpasswd
from field import (PAGES, PASSWORD, Client, build_wheel, distributions,
                   fresh_venv, history_rows, install, make_environment,
                   wheel_requirements)
from support import wait_for
from tracd import S, Tracd, build_egg, clean_environ

pytestmark = pytest.mark.field

RECIPIENT = 'cron-admin@example.org'
#: What `pip install trac` brings, and the plugin: nothing else.
STOCK = ['jinja2', 'markupsafe', 'setuptools', 'trac']


def site_sections(smtp):
    return {
        'traccron': {
            'timezone': 'UTC',
            'heart_beat.cron': '0/1 * * * * ?',   # every second
            'heart_beat.cron.arg': 'field test',
            'email_task_event.recipient': RECIPIENT,
            'email_task_event.limit': '2',
        },
        'notification': smtp.options(),
        'logging': {'log_type': 'file', 'log_level': 'DEBUG'},
    }


def serve(python, env_path, tmp_path, name):
    """tracd of `python`'s venv with basic authentication, and the egg
    cache of this test (not the user's)."""
    htpasswd = tmp_path / 'htpasswd'
    if not htpasswd.exists():
        write_htpasswd(htpasswd, {'admin': PASSWORD})
    environ = clean_environ()
    environ['PYTHON_EGG_CACHE'] = str(tmp_path / 'egg-cache')
    return Tracd(env_path, tmp_path / ('%s.log' % name), auth=str(htpasswd),
                 bin_dir=os.path.dirname(python), environ=environ)


def check_stock_site(server, env_path, smtp):
    """What an administrator sees and gets from a stock install."""
    client = Client(server.base)
    client.login('admin', PASSWORD)
    pages = dict((page, client.get(page)) for page in PAGES)
    assert dict((p, r.status) for p, r in pages.items()) == \
        dict((p, 200) for p in PAGES), \
        [r for r in pages.values() if r.status != 200][:1]
    assert 'Trac Cron: Settings' in pages[PAGES[0]].text
    assert 'Run now' in pages[PAGES[0]].text
    assert 'Trac Cron: History' in pages[PAGES[1]].text
    assert 'Trac Cron: Listeners' in pages[PAGES[2]].text
    assert 'Trac Cron: Documentation' in pages[PAGES[3]].text
    feed = pages[PAGES[4]]
    assert feed.headers['Content-Type'].startswith('application/rss+xml')
    assert 'Trac Cron history' in feed.text

    # Run now: a POST with the form token; the run is recorded `manual`.
    # A per-second occurrence claimed just then (ahead of its instant)
    # and not ended yet holds it back, with max_instances = 1: the page
    # says so, and the administrator clicks again once no run of the task
    # is going on (the next one is claimed most of a second later).
    def going():
        return [r for r in history_rows(env_path) if r.status == 'running']
    refused = []
    for attempt in range(10):
        posted = client.post('/admin/traccron/cron_admin',
                             {'run': 'heart_beat'})
        assert posted.status == 303, posted
        seen = going()
        notice = client.get('/admin/traccron/cron_admin')
        if 'Its outcome will be shown in' in notice.text:
            break
        assert 'was not started' in notice.text and \
            'max_instances = 1' in notice.text, notice.text
        refused.append(seen)
        wait_for(lambda: not going(), 30, 0.02)
    else:
        raise AssertionError('Run now refused 10 times; the runs going '
                             'on then: %r' % refused)
    manual = wait_for(lambda: [r for r in history_rows(env_path)
                               if r.schedule == 'manual' and
                               r.status != 'running'], 30, 0.25)
    assert [(r.task, r.status) for r in manual] == \
        [('heart_beat', 'success')]

    # The per-second schedule: one row a second, with no gap.
    def seconds():
        rows = [r for r in history_rows(env_path) if r.schedule == 'cron']
        done = [r for r in rows if r.status == 'success']
        return rows if len(done) >= 3 else None
    rows = wait_for(seconds, 30, 0.25)
    assert rows, 'heart_beat did not run each second'
    fires = [r.fire_time for r in rows]
    assert fires == list(range(fires[0], fires[-1] + 1, S)), fires
    # An occurrence claimed while the manual run went on is skipped
    # (max_instances = 1), and says so; every other one runs.
    run = manual[0]
    for row in rows:
        if run.started - S < row.fire_time < run.ended + S:
            assert row.status in ('success', 'running') or (
                row.status == 'skipped' and
                'max_instances' in row.message), row
        else:
            assert row.status in ('success', 'running'), row
    # Their times as Trac shows times without Babel (the server's date
    # format), in the History page, its chart and its feed.
    page = client.get('/admin/traccron/cron_history')
    assert page.status == 200, page
    assert page.text.count('<time class="cron-time"') >= 6
    assert 'cron-bar-success' in page.text
    feed = client.get('/admin/traccron/cron_history?format=rss')
    assert 'Scheduled for: ' in feed.text

    # The email listener mailed its summaries, in English.
    mails = wait_for(lambda: [m for m in smtp.mails
                              if RECIPIENT in m.rcpt_tos], 30, 0.25)
    assert mails, 'no mail from email_task_event'
    assert 'heart_beat' in mails[0].body and 'success' in mails[0].body
    return client


def check_logs(server, env_path):
    with open(server.log_path) as f:
        text = f.read()
    assert 'Traceback' not in text, text
    with open(os.path.join(str(env_path), 'log', 'trac.log')) as f:
        text = f.read()
    assert 'Traceback' not in text, text[text.index('Traceback') - 2000:]
    assert 'Heart beat: field test' in text


def check_stock_tracd(python, env_path, tmp_path, smtp):
    """`check_stock_site` on tracd of `python`, then `check_logs`."""
    server = serve(python, env_path, tmp_path, 'tracd')
    try:
        check_stock_site(server, env_path, smtp)
    finally:
        server.stop()
    check_logs(server, env_path)


def test_wheel_in_a_stock_venv_serves_english_then_french_with_babel(
        tmp_path, smtp_server):
    wheel = build_wheel(tmp_path / 'wheel')
    assert os.path.basename(wheel).startswith('traccronplugin-')
    python = fresh_venv(tmp_path / 'venv')
    install(python, [wheel], needs=wheel_requirements(wheel))
    assert distributions(python) == sorted(STOCK + ['traccronplugin'])

    env_path = tmp_path / 'stock'
    make_environment(python, env_path, sections=site_sections(smtp_server))
    check_stock_tracd(python, env_path, tmp_path, smtp_server)

    # With Babel, a French browser gets the French catalog.
    install(python, ['Babel'])
    server = serve(python, env_path, tmp_path, 'tracd-babel')
    try:
        client = Client(server.base, language='fr-FR,fr;q=0.9')
        client.login('admin', PASSWORD)
        page = client.get('/admin/traccron/cron_admin')
        assert page.status == 200, page
        assert 'Trac Cron : Paramètres' in page.text
        assert 'Lancer maintenant' in page.text
        assert 'Réglages de base' in page.text  # Trac's own catalog
        feed = client.get('/admin/traccron/cron_history?format=rss')
        assert feed.status == 200, feed
        assert 'historique de Trac Cron' in feed.text
    finally:
        server.stop()
    check_logs(server, env_path)


def test_egg_in_plugins_of_a_stock_trac_serves_every_page(
        tmp_path, smtp_server):
    egg = build_egg(tmp_path / 'egg')
    python = fresh_venv(tmp_path / 'venv')
    install(python, ['trac', 'setuptools<82'])
    assert distributions(python) == STOCK

    env_path = tmp_path / 'stock'
    make_environment(python, env_path, egg=egg,
                     sections=site_sections(smtp_server))
    check_stock_tracd(python, env_path, tmp_path, smtp_server)
