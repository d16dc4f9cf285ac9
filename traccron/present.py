# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""How TracCron shows what it knows: times, durations, time zones,
run statuses and the chart of recent runs.

Two kinds of time. A time on a web page or in the feed is a moment that
the viewing user reads as every Trac page shows one: in the zone, the
language and the date format of their preferences (`user_time`). A
schedule's fire time, and every time in a mail or in trac-admin's
output, is shown zero-padded in a given zone (the schedule's, that is
`[traccron] timezone`), which the text names: `2026-12-02 15:04:05`."""

import re
import zoneinfo
from datetime import datetime

from trac.util.datefmt import format_datetime, user_time
from trac.util.html import tag
from trac.util.translation import domain_functions

from traccron.cron import MACROS
from traccron.times import HOUR, SECOND, from_us, seconds

_, N_, ngettext = domain_functions('traccron', '_', 'N_', 'ngettext')

#: How a time in a given zone is written.
STAMP = '%Y-%m-%d %H:%M:%S'
DAY = '%Y-%m-%d'

STATUS_LABELS = {
    'running': N_("running"),
    'success': N_("success"),
    'failure': N_("failure"),
    'skipped': N_("skipped"),
    'missed': N_("missed"),
    'interrupted': N_("interrupted"),
    'timeout': N_("timeout"),
}


# Times in a given zone: schedules, mails, trac-admin ----------------------

def _datetime(when, tz):
    """`when` (an aware datetime, or µs since the epoch) in `tz`."""
    if isinstance(when, datetime):
        return when.astimezone(tz)
    return from_us(when, tz)


def stamp(when, tz):
    """`when` (an aware datetime or µs since the epoch) as
    `YYYY-MM-DD HH:MM:SS` in `tz`; empty for `None`."""
    return '' if when is None else _datetime(when, tz).strftime(STAMP)


def offset_time(dt):
    """An aware datetime as `2027-03-28 03:00:00+02:00 CEST`: its wall
    time with the UTC offset, then the zone's abbreviation."""
    return '%s %s' % (dt.isoformat(sep=' '), dt.tzname())


def day(when, tz):
    """`when` (an aware datetime or µs since the epoch) as the date
    `YYYY-MM-DD` in `tz`."""
    return _datetime(when, tz).strftime(DAY)


def schedule_time(when, tz):
    """A fire time in the schedule's zone `tz`, as a page shows it: the
    text, the zone's abbreviation at that instant, and ISO 8601."""
    dt = _datetime(when, tz)
    return {'text': dt.strftime(STAMP), 'zone': dt.tzname(),
            'iso': dt.isoformat()}


def _known_name(tz):
    """The IANA or Trac name of `tz`; `None` for the server's zone read
    from /etc/localtime, which has none."""
    name = getattr(tz, 'key', None) or getattr(tz, 'zone', None)
    return None if name == 'localtime' else name


def zone_name(tz):
    """The name of `tz`, or the current abbreviation of the server's
    zone."""
    return _known_name(tz) or datetime.now(tz).tzname()


def zone_label(tz):
    """`zone_name` for a page: the server's zone is said in words."""
    return _known_name(tz) or _("the server's local time zone "
                                "(%(abbrev)s)",
                                abbrev=datetime.now(tz).tzname())


# Times as the viewing user reads them --------------------------------------

class UserZone(zoneinfo.ZoneInfo):
    """An IANA zone with the `localize` and `normalize` methods of a pytz
    zone, which Trac's date functions call."""

    @property
    def zone(self):
        return self.key

    def localize(self, dt, is_dst=False):
        return dt.replace(tzinfo=self)

    def normalize(self, dt, is_dst=False):
        return dt.astimezone(self)


def user_zone(req, default=None):
    """The zone of the user's preferences (or the `default` zone name of
    `[trac] default_timezone`). Trac answers its server's zone for a name
    it cannot resolve (without pytz: any IANA name); TracCron then
    resolves the name itself."""
    tz = req.tz
    name = req.session.get('tz') or default
    if not name or getattr(tz, 'zone', None) == name:
        return tz
    try:
        return UserZone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return tz


def user_datetime(req, when):
    """`when` (an aware datetime or µs since the epoch) in the user's
    zone, language and date format."""
    if when is None:
        return ''
    if not isinstance(when, datetime):
        when = from_us(when)
    return user_time(req, format_datetime, when)


# Durations and statuses -----------------------------------------------------

def duration(seconds):
    """A duration as a short text: `0.25 s`, `42 s`, `3 min 05 s`,
    `2 h 07 min`."""
    if seconds < 10:
        return _("%(sec).2f s", sec=seconds)
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(sec)d s", sec=seconds)
    if seconds < HOUR // SECOND:
        return _("%(min)d min %(sec)02d s", min=seconds // 60,
                 sec=seconds % 60)
    hours, rest = divmod(seconds, HOUR // SECOND)
    return _("%(hour)d h %(min)02d min", hour=hours, min=rest // 60)


def status_label(status):
    """A run's status in the user's language (an unknown one as it is)."""
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS else status


def status_badge(status):
    """A run's status as the badge the pages show."""
    return tag.span(status_label(status),
                    class_='cron-status cron-status-%s' % status)


# A run ---------------------------------------------------------------------

def _instant(us):
    return None if us is None else from_us(us)


def run_view(row, now):
    """What the History page and its feed show of a history row (µs
    `now`: the time a run going on has been running)."""
    message = row.message or ''
    lines = message.strip().splitlines()
    running = row.going and row.started is not None
    return {
        'id': row.id,
        'task': row.task,
        'schedule': row.schedule,
        'attempt': row.attempt,
        'fire_time': _instant(row.fire_time),
        'started': _instant(row.started),
        'ended': _instant(row.ended),
        'duration': None if row.duration is None else duration(row.duration),
        'elapsed': duration(run_seconds(row, now)) if running else None,
        'status': row.status,
        'badge': status_badge(row.status),
        'runner': (row.runner or '').split('/')[0],
        'runner_id': row.runner or '',
        'message': message,
        'summary': lines[-1] if lines else '',
        'multiline': len(lines) > 1,
    }


# The chart of recent runs --------------------------------------------------

def run_seconds(row, now):
    """How long a run took, or has been running at `now` (µs); `None`
    when it did not start."""
    if row.going and row.started is not None:
        return seconds(max(0, now - row.started))
    return row.duration


def charts(rows, now, when, runs=40, height=40, bar=7, gap=2):
    """One chart per task of its `runs` latest runs among `rows` (newest
    first), oldest at the left: a bar per run, its height for the
    duration, its class for the status, its title (`when` formats the
    run's time) for the details."""
    per_task = {}
    for row in rows:
        latest = per_task.setdefault(row.task, [])
        if len(latest) < runs:
            latest.append(row)
    result = []
    for task in sorted(per_task):
        chosen = list(reversed(per_task[task]))
        longest = max([run_seconds(r, now) or 0 for r in chosen] + [0.001])
        bars = []
        for i, row in enumerate(chosen):
            seconds = run_seconds(row, now)
            h = 3 if not seconds else max(3, int(round(
                (height - 2) * seconds / longest)))
            title = '%s %s' % (when(row.started or row.fire_time),
                               status_label(row.status))
            if seconds is not None:
                title += ' (%s)' % duration(seconds)
            bars.append({'x': i * (bar + gap), 'y': height - h, 'h': h,
                         'w': bar, 'status': row.status, 'title': title})
        result.append({'task': task, 'bars': bars,
                       'width': len(chosen) * (bar + gap), 'height': height,
                       'failures': sum(1 for r in chosen
                                       if r.status == 'failure'),
                       'runs': len(chosen)})
    return result


# Schedules in words ----------------------------------------------------------

_WEEKDAYS = [N_("on Mondays at %(time)s"), N_("on Tuesdays at %(time)s"),
             N_("on Wednesdays at %(time)s"), N_("on Thursdays at %(time)s"),
             N_("on Fridays at %(time)s"), N_("on Saturdays at %(time)s"),
             N_("on Sundays at %(time)s")]
#: The days of the week of a cron expression, Monday to Friday: Unix
#: (Sunday = 0) and Quartz (Sunday = 1).
_WORKING_DAYS = {'unix': ('1-5', 'MON-FRI'), 'quartz': ('2-6', 'MON-FRI')}


def _numbers(value, count):
    """The `count` numbers of a bundled type's value (`21h19`, `4@21h28`),
    or `None` when it has another form."""
    found = [int(n) for n in re.findall(r'\d+', value)]
    if len(found) != count or re.search(r'[^\d\s@hH:]', value):
        return None
    return found


def _clock(hour, minute):
    return '%02d:%02d' % (hour, minute)


def schedule_words(type_id, value, zone):
    """One value of a schedule in words: `every day at 21:19
    (Europe/Paris)` for `daily = 21h19` in that zone; a cron expression
    that is not one of the plain forms (every N seconds or minutes, at a
    second of every minute, hourly, daily, on weekdays) as it is."""
    value = value.strip()
    if type_id == 'hourly':
        found = _numbers(value, 1)
        if found and found[0] < 60:
            return _("every hour at minute %(minute)d", minute=found[0])
    elif type_id == 'daily':
        found = _numbers(value, 2)
        if found and found[0] < 24 and found[1] < 60:
            return _("every day at %(time)s (%(zone)s)",
                     time=_clock(*found), zone=zone)
    elif type_id == 'weekly':
        found = _numbers(value, 3)
        if found and found[0] < 7 and found[1] < 24 and found[2] < 60:
            return '%s (%s)' % (_(_WEEKDAYS[found[0]],
                                  time=_clock(*found[1:])), zone)
    elif type_id == 'monthly':
        found = _numbers(value, 3)
        if found and 1 <= found[0] <= 31 and found[1] < 24 and \
                found[2] < 60:
            return _("on day %(day)d of each month at %(time)s (%(zone)s)",
                     day=found[0], time=_clock(*found[1:]), zone=zone)
    elif type_id == 'cron':
        words = _cron_words(value, zone)
        if words:
            return words
    return value


def _cron_words(text, zone):
    """A cron expression in words when it has a plain form, else `None`."""
    fields = MACROS.get(text.lower(), text).upper().split()
    if len(fields) == 5:
        syntax, fields = 'unix', ['0'] + fields
    elif len(fields) == 6 or (len(fields) == 7 and fields[6] == '*'):
        syntax, fields = 'quartz', fields[:6]
    else:
        return None
    second, minute, hour, dom, month, dow = fields
    everyday = dom in ('*', '?') and month == '*' and dow in ('*', '?')
    if not (dom in ('*', '?') and month == '*'):
        return None
    every_hour = hour == '*' and everyday
    if every_hour and minute == '*' and _step(second):
        return ngettext("every second", "every %(num)d seconds",
                        _step(second))
    if not second.isdigit():
        return None
    if every_hour and _step(minute) and second == '0' and \
            (syntax == 'unix' or minute != '*'):
        return ngettext("every minute", "every %(num)d minutes",
                        _step(minute))
    if every_hour and minute == '*':
        return _("at second %(second)d of every minute",
                 second=int(second))
    if not minute.isdigit() or int(minute) > 59 or second != '0':
        return None
    if hour == '*' and everyday:
        return _("every hour at minute %(minute)d", minute=int(minute))
    if not hour.isdigit() or int(hour) > 23:
        return None
    time = _clock(int(hour), int(minute))
    if everyday:
        return _("every day at %(time)s (%(zone)s)", time=time, zone=zone)
    if dow in _WORKING_DAYS[syntax]:
        return _("on weekdays at %(time)s (%(zone)s)", time=time,
                 zone=zone)
    return None


def _step(field):
    """N for a cron field `*/N` or `0/N` (every N), 1 for `*`; else
    `None`."""
    if field == '*':
        return 1
    match = re.match(r'^[*0]/(\d+)$', field)
    return int(match.group(1)) if match and int(match.group(1)) else None
