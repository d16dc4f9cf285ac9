# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Headless Chromium driven by Selenium, against a real tracd with basic
authentication (the egg and tracd come from `tracd.py`)."""

import base64
import hashlib
import os
import shutil
import sqlite3

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
WAIT = 20  # seconds an explicit wait may take before the test fails

#: A task plugin dropped into the environment's plugins/ directory: its
#: description and its failure message carry a script that would set
#: `window.traccronXss` if the browser ran it.
XSS_PLUGIN = '''
from trac.core import Component, implements
from traccron.api import ICronTask

SCRIPT = '<script>window.traccronXss = 1</script>'


class XssTask(Component):
    implements(ICronTask)

    def wake_up(self, *args):
        raise RuntimeError('failed with ' + SCRIPT)

    def getId(self):
        return 'xss_task'

    def getDescription(self):
        return 'Describes itself with ' + SCRIPT
'''


#: A task plugin that logs each of its arguments (the run page shows the
#: lines it captured).
ECHO_PLUGIN = '''
import time

from trac.core import Component, implements
from traccron.api import ICronTask


class EchoTask(Component):
    implements(ICronTask)

    def wake_up(self, *args):
        for arg in args:
            self.log.info('echo says %s', arg)

    def getId(self):
        return 'echo'

    def getDescription(self):
        return 'Logs its arguments'


class SlowEchoTask(Component):
    implements(ICronTask)

    def wake_up(self, lines='8'):
        for i in range(int(lines)):
            self.log.info('slow line %d', i)
            time.sleep(0.5)

    def getId(self):
        return 'slow_echo'

    def getDescription(self):
        return 'Logs a line every half second'
'''


def write_htpasswd(path, users):
    """An htpasswd file with `{SHA}` entries for `users` (name -> pw)."""
    with open(str(path), 'w') as f:
        for user, password in users.items():
            digest = hashlib.sha1(password.encode('utf-8')).digest()
            f.write('%s:{SHA}%s\n' % (user, base64.b64encode(digest)
                                      .decode('ascii')))


def start_chromium(profile_dir):
    """A headless Chromium; selenium is given both binaries, so it never
    looks for (or downloads) a driver itself."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless', '--no-sandbox', '--disable-gpu',
                '--disable-background-networking',
                '--disable-component-update', '--disable-sync',
                '--disable-quic', '--no-first-run',
                '--disable-dev-shm-usage', '--window-size=1280,1600',
                '--user-data-dir=%s' % profile_dir):
        options.add_argument(arg)
    options.add_experimental_option('prefs', {
        'intl.accept_languages': 'en-US,en'})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                              options=options)
    driver.set_page_load_timeout(60)
    return driver


class HistoryDb(object):
    """Direct access to `cron_history` in the environment's SQLite file
    (what other processes sharing the database see)."""

    def __init__(self, env_path):
        self.path = os.path.join(str(env_path), 'db', 'trac.db')

    def _connect(self):
        return sqlite3.connect(self.path, timeout=30)

    def clear(self):
        with self._connect() as db:
            db.execute('DELETE FROM cron_history')

    def insert(self, n, task='heart_beat', failure_every=4,
               start=1_780_000_000_000_000):
        """`n` finished rows a minute apart; every `failure_every`th one
        failed."""
        rows = []
        for i in range(n):
            t = start + i * 60_000_000
            failed = failure_every and i % failure_every == 0
            rows.append((task, 'daily', t, t, t + 2_000_000,
                         'failure' if failed else 'success',
                         'row %d failed' % i if failed else '',
                         'host:1', t))
        with self._connect() as db:
            db.executemany(
                'INSERT INTO cron_history (task, schedule, fire_time, '
                'started, ended, status, message, runner, heartbeat) '
                'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', rows)

    def ids(self, task):
        """The ids of the rows of `task`, oldest first."""
        with self._connect() as db:
            return [r[0] for r in db.execute(
                'SELECT id FROM cron_history WHERE task=? ORDER BY id',
                (task,))]

    def rows(self):
        with self._connect() as db:
            return db.execute('SELECT task, schedule, status, message '
                              'FROM cron_history ORDER BY id').fetchall()
