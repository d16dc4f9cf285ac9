# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""`trac-admin ENV cron next`: what the schedules mean, exactly as the
ticker computes them, daylight saving included."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from trac.admin.api import AdminCommandError, AdminCommandManager

import traccron.monitor  # noqa: F401 (its Component)

from support import FakeClock, make_stub, run_ticker

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
    import io
    import contextlib
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
