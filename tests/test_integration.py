# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The egg in a real Trac: built with bdist_egg, dropped into plugins/,
table created by `trac-admin upgrade`, tasks run by tracd on time, and a
hand edit of trac.ini picked up by the same single ticker thread."""

import json
import os
import socket
import sqlite3
import time
from datetime import datetime, timedelta

from support import UTC, us, wait_for
from tracd import Tracd, init_env, replace_section, trac_admin

# A plugin file dropped into the environment: it shows the test what the
# tracd process holds (its threads and its current Environment object).
PROBE = '''
import json, os, threading
from trac.core import Component, implements
from trac.web.api import IRequestHandler

class TracCronProbe(Component):
    implements(IRequestHandler)

    def match_request(self, req):
        return req.path_info == '/traccron-probe'

    def process_request(self, req):
        body = json.dumps({
            'pid': os.getpid(),
            'env': id(self.env),
            'tickers': [t.name for t in threading.enumerate()
                        if t.name == 'traccron-ticker' and t.is_alive()],
        }).encode('utf-8')
        req.send(body, 'application/json')
'''


def next_minute(after, margin=10):
    """The first minute boundary at least `margin` seconds after `after`."""
    t = (after + timedelta(seconds=margin)).replace(second=0, microsecond=0)
    return t + timedelta(minutes=1)


def history(env_path):
    db = sqlite3.connect(os.path.join(str(env_path), 'db', 'trac.db'))
    try:
        return db.execute("""SELECT task, schedule, fire_time, status,
                             runner FROM cron_history ORDER BY id""").fetchall()
    finally:
        db.close()


def set_section(env_path, lines):
    """Edit trac.ini by hand: replace the [traccron] section."""
    replace_section(os.path.join(str(env_path), 'conf', 'trac.ini'),
                    '[traccron]\n' + '\n'.join(lines) + '\n')


def test_egg_upgrade_creates_the_table(tmp_path, egg):
    env_path = tmp_path / 'plain'
    init_env(env_path)
    db = os.path.join(str(env_path), 'db', 'trac.db')
    with sqlite3.connect(db) as cnx:
        tables = [r[0] for r in cnx.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")]
    assert 'cron_history' not in tables
    import shutil
    shutil.copy(egg, os.path.join(str(env_path), 'plugins'))
    # Trac sees that the plugin needs its table.
    out = trac_admin(env_path, 'upgrade', '--no-backup')
    assert 'Upgrade done' in out.stdout
    cnx = sqlite3.connect(db)
    try:
        assert cnx.execute("SELECT value FROM system WHERE "
                           "name='traccron_version'").fetchone() == ('3',)
        cnx.execute('SELECT id, task, schedule, fire_time, started, ended, '
                    'status, message, runner, heartbeat, attempt, outcome '
                    'FROM cron_history')
        cnx.execute('SELECT id, task, since, raised, raised_by, recovered, '
                    'recovered_by FROM cron_alert')
    finally:
        cnx.close()
    out = trac_admin(env_path, 'upgrade', '--no-backup')
    assert 'no upgrade necessary' in out.stdout


def test_tracd_runs_tasks_on_time_and_follows_trac_ini(tmp_path, egg):
    env_path = tmp_path / 'site'
    init_env(env_path, egg)
    with open(os.path.join(str(env_path), 'plugins', 'probe.py'), 'w') as f:
        f.write(PROBE)
    t1 = next_minute(datetime.now(UTC))
    t2 = t1 + timedelta(minutes=1)
    set_section(env_path, ['timezone = UTC',
                           'heart_beat.daily = %s' % t1.strftime('%Hh%M'),
                           'heart_beat.hourly = %d' % t2.minute])
    server = Tracd(env_path, tmp_path / 'tracd.log')
    try:
        probe = json.loads(server.get('/traccron-probe'))
        assert probe['pid'] == server.pid
        assert probe['tickers'] == ['traccron-ticker']
        runner = '%s:%d/' % (socket.gethostname(), server.pid)

        first = wait_for(lambda: [r for r in history(env_path)
                                  if r[3] != 'running'],
                         t1.timestamp() + 20 - time.time(), 0.5)
        assert [r[:4] for r in first] == [
            ('heart_beat', 'daily', us(t1), 'success')]
        assert first[0][4].startswith(runner)

        # By hand: the daily schedule moves to the next minute and the
        # hourly one (due at that same minute) goes away.
        set_section(env_path, ['timezone = UTC',
                               'heart_beat.daily = %s'
                               % t2.strftime('%H:%M')])
        until = t2.timestamp() + 20
        while time.time() < until:
            server.get('/traccron-probe')  # requests meanwhile, as usual
            time.sleep(1)
        rows = history(env_path)
        assert [r[:4] for r in rows] == [
            ('heart_beat', 'daily', us(t1), 'success'),
            ('heart_beat', 'daily', us(t2), 'success')]
        assert {r[4] for r in rows} == {first[0][4]}
        after = json.loads(server.get('/traccron-probe'))
        assert after['env'] != probe['env'], 'Environment was not replaced'
        assert after['tickers'] == ['traccron-ticker']
    finally:
        server.stop()
    log = open(str(tmp_path / 'tracd.log')).read()
    assert 'Traceback' not in log, log
