# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""`trac-admin ENV cron next`: what the schedules mean, exactly as the
ticker computes them, daylight saving included."""

import contextlib
import os
import io
import json
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from trac.admin.api import AdminCommandError, AdminCommandManager

import traccron.monitor  # noqa: F401 (its Component)
from traccron import history as h
from traccron.core import Core

from support import (S, FakeClock, StubTask, make_env, make_stub,
                     run_ticker)
from tracd import init_env, trac_admin

UTC = timezone.utc

# Days on which the clocks change, and a schedule of each type firing in
# the hour that is skipped or repeated (02:30 local).
DST_DAYS = [
    ('Europe/Paris', datetime(2027, 3, 28)),        # 02:00 -> 03:00
    ('Europe/Paris', datetime(2027, 10, 31)),       # 03:00 -> 02:00
    ('America/New_York', datetime(2027, 3, 14)),    # 02:00 -> 03:00
    ('America/New_York', datetime(2027, 11, 7)),    # 02:00 -> 01:00
]


def schedules(day):
    # Sunday is 6 (0 = Monday); every DST day here is a Sunday.
    return {
        'hourly': '30',
        'daily': '02h30',
        'weekly': '6@02h30',
        'monthly': '%d@02h30' % day.day,
        'cron': '0 30 2 * * ?',
    }


def cron(env, *args):
    """The output lines of `trac-admin ENV cron ...`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        AdminCommandManager(env).execute_command('cron', *args)
    return out.getvalue().splitlines()


def listed(lines):
    """`{schedule key: [aware datetimes]}` of `cron next`'s output."""
    found, key = {}, None
    for line in lines:
        if line.startswith('  '):
            text = line.strip()
            if not text.startswith('('):
                found[key].append(datetime.fromisoformat(
                    text.rsplit(' ', 1)[0]))
        else:
            key = line.split(' ')[0]
            found[key] = []
    return found


@pytest.mark.parametrize('zone,day', DST_DAYS,
                         ids=['%s-%s' % (z, d.date()) for z, d in DST_DAYS])
def test_next_lists_what_the_ticker_runs_across_a_dst_change(zone, day):
    tz = ZoneInfo(zone)
    config = {'timezone': zone}
    config.update(('heart_beat.%s' % t, v)
                  for t, v in schedules(day).items())
    env = make_stub(config=config)
    start = (day - timedelta(hours=3)).replace(tzinfo=tz)
    end = (day + timedelta(hours=27)).replace(tzinfo=tz)
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, end.timestamp())
    ran = dict(('heart_beat.' + t, _fires(env, t)) for t in schedules(day))
    shown = listed(cron(env, 'next', 'heart_beat', '--from',
                        start.isoformat(), '--count', '40'))
    assert sorted(shown) == sorted(ran)
    for key, times in shown.items():
        within = [dt.astimezone(UTC) for dt in times if dt < end]
        assert within == ran[key], key
        assert all(dt.tzinfo.utcoffset(dt) == dt.astimezone(tz).utcoffset()
                   for dt in times)
    # Every schedule ran over those 30 hours, on the day too.
    assert all(any(dt.astimezone(tz).date() == day.date() for dt in times)
               for times in ran.values()), ran


def _fires(env, schedule_type):
    return [datetime.fromtimestamp(r[0] / 1e6, UTC) for r in env.db_query(
        "SELECT fire_time FROM cron_history WHERE task='heart_beat' AND "
        "schedule=%s ORDER BY fire_time", (schedule_type,))]


def test_daily_at_2_30_on_the_spring_forward_day_fires_once_at_3_00():
    env = make_stub(config={'timezone': 'Europe/Paris',
                            'heart_beat.daily': '02h30'})
    lines = cron(env, 'next', '--from', '2027-03-27T12:00', '--count', '3')
    assert lines == [
        'heart_beat.daily (Europe/Paris)',
        '  2027-03-28 03:00:00+02:00 CEST',
        '  2027-03-29 02:30:00+02:00 CEST',
        '  2027-03-30 02:30:00+02:00 CEST',
    ]


def test_next_says_what_is_wrong_with_its_arguments():
    env = make_stub(config={'heart_beat.daily': '02h30'})
    for args, message in [
            (('nosuch',), 'No task "nosuch"'),
            (('--from', 'yesterday'), '--from yesterday: expected an ISO'),
            (('--count', '0'), '--count 0: expected a whole number'),
            (('--count', '²'), '--count ²: expected a whole number'),
            (('--count',), '--count needs a value'),
            (('--every', '2'), 'unknown option --every')]:
        with pytest.raises(AdminCommandError) as e:
            cron(env, 'next', *args)
        assert message in str(e.value), args


def test_next_with_no_enabled_schedule_says_so():
    env = make_stub(config={'heart_beat.daily': '02h30',
                            'heart_beat.enabled': 'false'})
    assert cron(env, 'next') == ['No enabled schedule.']
    assert cron(env, 'next', 'heart_beat') == [
        'No enabled schedule for heart_beat.']


# cron status: a check for Nagios and Icinga --------------------------------

class Failing(StubTask):
    """Fails."""

    task_id = 'failing'

    def wake_up(self, *args):
        raise RuntimeError('it went wrong')


def status(env, *args):
    """(exit status, output lines) of `cron status`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = AdminCommandManager(env).execute_command('cron', 'status',
                                                        *args)
    return code, out.getvalue().splitlines()


def add_run(env, task, status_, hours_ago):
    """A finished run of `task`, `hours_ago` hours ago."""
    when = int(time.time()) * S - int(hours_ago * 3600) * S
    claim, = h.claim(env, [h.Claim(task, 'daily', when, when)], 'me:1', when)
    h.finish(env, claim.id, when + S, status_)


def test_status_is_ok_when_nothing_fails(tmp_path):
    env = make_env(tmp_path / 'env', config={
        'timezone': 'UTC', 'heart_beat.daily': '02h30'})
    Core(env).run_now('heart_beat', wait=True)
    code, lines = status(env)
    assert code == 0
    assert lines[0].startswith('TRACCRON OK - ')
    beat, = [l for l in lines if l.startswith('  heart_beat:')]
    assert 'last run success at 20' in beat and 'last success 20' in beat
    assert 'next run 20' in beat
    env.shutdown()


def test_status_warns_when_the_last_run_failed(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_monitor.*'],
                   config={'timezone': 'UTC'})
    Core(env).run_now('heart_beat', wait=True)
    Core(env).run_now('failing', wait=True)
    code, lines = status(env)
    assert code == 1
    assert lines[0] == 'TRACCRON WARNING - last run failed: failing'
    # Only that task.
    assert status(env, '--task', 'heart_beat')[0] == 0
    env.shutdown()


def test_status_tells_the_last_outcome_not_a_run_past_its_limit(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_monitor.*'],
                   config={'timezone': 'UTC'})
    add_run(env, 'failing', 'failure', 2)
    when = int(time.time()) * S
    claim, = h.claim(env, [h.Claim('failing', 'daily', when, when)], 'me:1',
                     when)
    h.mark_timeout(env, claim.id, 'still running after 1 s')
    code, lines = status(env, '--task', 'failing')
    assert code == 1
    assert lines[1].startswith('  failing: last run failure at ')
    env.shutdown()


def test_status_is_critical_when_a_task_is_overdue(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_monitor.*'], config={
        'timezone': 'UTC', 'heart_beat.daily': '02h30',
        'heart_beat.alert_after': '26h'})
    add_run(env, 'heart_beat', 'success', 30)
    add_run(env, 'heart_beat', 'missed', 6)
    add_run(env, 'failing', 'failure', 1)
    code, lines = status(env)
    assert code == 2
    assert lines[0] == ('TRACCRON CRITICAL - overdue: heart_beat; last run '
                        'failed: failing')
    code, lines = status(env, '--json')
    report = json.loads('\n'.join(lines))
    assert (code, report['status'], report['code']) == (2, 'CRITICAL', 2)
    beat, = [t for t in report['tasks'] if t['task'] == 'heart_beat']
    assert (beat['overdue'], beat['alert_after'], beat['last_status']) == \
        (True, 26 * 3600, 'missed')
    last_success = datetime.fromisoformat(beat['last_success'])
    assert 29.9 < (time.time() - last_success.timestamp()) / 3600 < 30.1
    assert datetime.fromisoformat(beat['next_run']).strftime('%H:%M') == \
        '02:30'
    # A success within alert_after: no longer overdue.
    add_run(env, 'heart_beat', 'success', 2)
    assert status(env, '--task', 'heart_beat')[0] == 0
    env.shutdown()


def test_status_is_unknown_when_the_history_cannot_be_read(tmp_path):
    env = make_env(tmp_path / 'env', config={'timezone': 'UTC'})
    env.db_transaction('ALTER TABLE cron_history RENAME TO cron_gone')
    code, lines = status(env)
    assert code == 3
    assert lines[0].startswith('TRACCRON UNKNOWN - the history cannot be '
                               'read: ')
    code, lines = status(env, '--json')
    assert (code, json.loads('\n'.join(lines))['status']) == (3, 'UNKNOWN')
    env.shutdown()


def test_status_exit_codes_through_trac_admin(tmp_path, egg):
    env_path = tmp_path / 'env'
    init_env(env_path, egg)
    with open(env_path / 'conf' / 'trac.ini', 'a') as f:
        f.write('\n[traccron]\nheart_beat.daily = 02h30\n'
                'heart_beat.alert_after = 1h\n')
    assert trac_admin(env_path, 'cron', 'status', check=False).returncode \
        == 0
    trac_admin(env_path, 'cron', 'run', 'heart_beat')
    with sqlite3.connect(str(env_path / 'db' / 'trac.db')) as db:
        db.execute('UPDATE cron_history SET fire_time=fire_time-%d, '
                   'started=started-%d, ended=ended-%d'
                   % ((2 * 3600 * S,) * 3))
    out = trac_admin(env_path, 'cron', 'status', check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.startswith('TRACCRON CRITICAL - overdue: heart_beat')


def test_status_answers_unknown_when_asked_wrongly(tmp_path):
    env = make_env(tmp_path / 'env', config={'timezone': 'UTC'})
    for args in (('--task', 'nosuch'), ('--every',), ('extra',)):
        code, lines = status(env, *args)
        assert code == 3, args
        assert lines[0].startswith('TRACCRON UNKNOWN - '), args
    env.shutdown()


def test_a_task_switched_off_is_never_overdue(tmp_path):
    env = make_env(tmp_path / 'env', config={
        'timezone': 'UTC', 'heart_beat.daily': '02h30',
        'heart_beat.alert_after': '1h', 'heart_beat.enabled': 'false'})
    add_run(env, 'heart_beat', 'success', 30)
    code, lines = status(env)
    assert code == 0, lines
    env.shutdown()


def test_traccron_status_is_unknown_when_the_database_is_gone(tmp_path):
    env = make_env(tmp_path / 'env', config={
        'timezone': 'UTC', 'heart_beat.daily': '02h30'})
    Core(env).run_now('heart_beat', wait=True)
    env.shutdown()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = traccron.monitor.main([str(tmp_path / 'env')])
    assert code == 0 and out.getvalue().startswith('TRACCRON OK - ')
    # The database file goes away (a disk unmounted, a wrong path).
    os.rename(tmp_path / 'env' / 'db', tmp_path / 'env' / 'db-gone')
    for argv in ([str(tmp_path / 'env')], [str(tmp_path / 'nowhere')], []):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = traccron.monitor.main(argv)
        assert code == 3, (argv, out.getvalue())
        assert out.getvalue().startswith('TRACCRON UNKNOWN - '), argv
