# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""`trac-admin ENV cron ...`, run as an administrator would: a real
trac-admin process on an environment with the egg in plugins/."""

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from tracd import BIN, PLUGIN_HEAD, clean_environ, init_env, trac_admin

from test_integration import set_section
from test_seed_config import SEED_SECTION

TASKS = PLUGIN_HEAD + '''
class Broken(PluginTask):
    """Always fails."""
    task_id = 'broken'
    def wake_up(self, *args):
        raise RuntimeError('broken on purpose: %s' % (args,))

class Slow(PluginTask):
    """Takes two seconds."""
    task_id = 'slow'
    def wake_up(self, *args):
        time.sleep(2)
'''


@pytest.fixture(scope='module')
def site(tmp_path_factory, egg):
    path = tmp_path_factory.mktemp('admin') / 'env'
    init_env(path, egg)
    with open(os.path.join(str(path), 'plugins', 'admin_tasks.py'), 'w') as f:
        f.write(TASKS)
    return path


def rows(site):
    db = sqlite3.connect(os.path.join(str(site), 'db', 'trac.db'))
    try:
        return db.execute('SELECT task, schedule, status, message FROM '
                          'cron_history ORDER BY id').fetchall()
    finally:
        db.close()


def section(site, text):
    lines = [l for l in text.splitlines() if l and not l.startswith('[')]
    set_section(site, lines)


def test_check_on_the_seed_sample_names_the_misspelled_key(site):
    section(site, SEED_SECTION)
    out = trac_admin(site, 'cron', 'check', check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        '[traccron] hear_beat_daily.arg = Good Morging: unknown key, '
        'ignored; did you mean heart_beat.daily.arg?',
        '1 problem(s) in [traccron].']
    section(site, SEED_SECTION.replace('hear_beat_daily.arg',
                                       'heart_beat.daily.arg'))
    out = trac_admin(site, 'cron', 'check', check=False)
    assert (out.returncode, out.stdout.strip(), out.stderr) == \
        (0, '[traccron] is valid.', '')


def test_check_names_every_bad_key(site):
    section(site, '\n'.join([
        'ticker_interval = often',              # not a number
        'timezone = Mars/Olympus_Mons',         # unknown zone
        'heart_beat.daily = 21h19, 25h00',      # out of range
        'heart_beat.cron = 0 5abc * * * ?',     # cron syntax
        'heart_beat.enabled = maybe',           # not a boolean
        'heart_beat.run_mode = everywhere',     # not a run mode
        'heart_beat.hourly = 17',               # fine
        'heartbeat.weekly = 4@21h28',           # unknown key
    ]))
    out = trac_admin(site, 'cron', 'check', check=False)
    assert out.returncode == 1
    errors = out.stderr.splitlines()
    assert errors[-1] == '7 problem(s) in [traccron].'
    for key in ('ticker_interval = often', 'timezone = Mars/Olympus_Mons',
                'heart_beat.daily = 25h00', 'heart_beat.cron = 0 5abc',
                'heart_beat.enabled = maybe',
                'heart_beat.run_mode = everywhere',
                'heartbeat.weekly = 4@21h28'):
        assert any(('[traccron] ' + key) in e for e in errors), (key, errors)
    assert not any('hourly' in e for e in errors)


def test_check_and_list_report_values_that_are_no_whole_numbers(site):
    """`²` and `٣` pass `str.isdigit`; `0` and `1.5` are no interval:
    each is one problem, and the commands do not fail on them."""
    section(site, '\n'.join([
        'history_days = ²',
        'ticker_interval = 0',
        'lease_seconds = x',
        'timezone = Nowhere/City',
        'heart_beat.max_instances = ²',
        'misfire_grace = ٣',
        'heart_beat.daily = 21h19',
    ]))
    out = trac_admin(site, 'cron', 'check', check=False)
    assert out.returncode == 1
    errors = out.stderr.splitlines()
    assert sorted(errors[:-1]) == [
        '[traccron] heart_beat.max_instances = ²: expected a whole number '
        '>= 1',
        '[traccron] history_days = ²: expected a whole number >= 0',
        '[traccron] lease_seconds = x: expected a whole number >= 1',
        '[traccron] misfire_grace = ٣: expected a whole number >= 0',
        '[traccron] ticker_interval = 0: expected a whole number >= 1',
        '[traccron] timezone = Nowhere/City: unknown time zone (expected an '
        'IANA name such as Europe/Paris)']
    assert errors[-1] == '6 problem(s) in [traccron].'
    section(site, 'ticker_interval = 1.5')
    out = trac_admin(site, 'cron', 'check', check=False)
    assert (out.returncode, out.stderr.splitlines()) == (1, [
        '[traccron] ticker_interval = 1.5: expected a whole number >= 1',
        '1 problem(s) in [traccron].'])
    section(site, 'history_days = ²\nheart_beat.daily = 21h19')
    out = trac_admin(site, 'cron', 'list', check=False)
    assert out.returncode == 0, out.stderr
    assert 'daily = 21h19' in out.stdout
    assert '1 problem(s); see "cron check".' in out.stdout


def test_history_limit_takes_only_the_digits_0_to_9(site):
    for value in ('²', '٣'):
        out = trac_admin(site, 'cron', 'history', '--limit', value,
                         check=False)
        assert out.returncode == 2
        assert '--limit takes a whole number >= 1, not "%s"' % value \
            in out.stderr


def test_list_shows_tasks_schedules_and_next_runs(site):
    section(site, '\n'.join(['timezone = UTC',
                             'heart_beat.daily = 21h19, 21h20',
                             'heart_beat.daily.arg = a, b',
                             'heart_beat.hourly = 17',
                             'heart_beat.hourly.enabled = False']))
    out = trac_admin(site, 'cron', 'list')
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    assert lines[0].split() == ['Task', 'Schedule', 'State', 'Next', 'run',
                                'Description', '/', 'arguments']
    text = out.stdout
    assert 'heart_beat' in text and 'broken' in text and 'slow' in text
    daily = [l for l in lines if 'daily = 21h19, 21h20' in l][0]
    assert 'scheduled' in daily and ':19:00' in daily and 'a, b' in daily
    hourly = [l for l in lines if 'hourly = 17' in l][0]
    assert ' off ' in hourly


def test_run_reports_success_and_failure_in_the_exit_status(site):
    section(site, 'timezone = UTC')
    before = len(rows(site))
    out = trac_admin(site, 'cron', 'run', 'heart_beat', 'x', 'y',
                     check=False)
    assert out.returncode == 0
    assert out.stdout.startswith('heart_beat: success (')
    out = trac_admin(site, 'cron', 'run', 'broken', 'z', check=False)
    assert out.returncode == 1
    assert out.stderr.startswith('broken: FAILURE (')
    assert "RuntimeError: broken on purpose: ('z',)" in out.stderr
    new = rows(site)[before:]
    assert [(t, s, st) for t, s, st, m in new] == [
        ('heart_beat', 'manual', 'success'), ('broken', 'manual', 'failure')]
    assert 'Traceback' in new[1][3]
    out = trac_admin(site, 'cron', 'run', 'nosuchtask', check=False)
    assert out.returncode == 2
    assert 'No task "nosuchtask"' in out.stderr


def test_history_and_clear(site):
    trac_admin(site, 'cron', 'run', 'heart_beat')
    out = trac_admin(site, 'cron', 'history', '--task', 'heart_beat',
                     '--limit', '1')
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    assert lines[0].split()[:4] == ['Id', 'Task', 'Schedule', 'Scheduled']
    body = lines[2:]
    assert len(body) == 1 and 'heart_beat' in body[0] and \
        'manual' in body[0] and 'success' in body[0]
    out = trac_admin(site, 'cron', 'history', '--limit', 'ten', check=False)
    assert out.returncode == 2
    assert '--limit takes a whole number' in out.stderr
    count = len(rows(site))
    out = trac_admin(site, 'cron', 'clear')
    assert out.stdout.strip() == '%d history row(s) deleted.' % count
    assert rows(site) == []


def test_ticker_runs_in_the_foreground_and_stops_cleanly(site, tmp_path):
    section(site, '\n'.join(['timezone = UTC',
                             'heart_beat.cron = 0/1 * * * * ?',
                             'slow.cron = 0/1 * * * * ?',
                             'slow.max_instances = 3']))
    trac_admin(site, 'cron', 'clear')
    log = open(str(tmp_path / 'ticker.log'), 'w')
    proc = subprocess.Popen([os.path.join(BIN, 'trac-admin'), str(site),
                             'cron', 'ticker'], stdout=log,
                            stderr=subprocess.STDOUT, env=clean_environ())
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not any(
                r[0] == 'slow' for r in rows(site)):
            time.sleep(0.2)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = open(str(tmp_path / 'ticker.log')).read()
    assert 'TracCron ticker running for' in output
    assert 'TracCron ticker stopped (0 run(s) interrupted).' in output
    history = rows(site)
    assert [r for r in history if r[0] == 'heart_beat']
    # The run going on at SIGTERM was finished, not left running.
    assert {r[2] for r in history} == {'success'}
