# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Commands of trac-admin that answer what will run: `cron next`."""

from datetime import datetime, timezone

from trac.admin.api import AdminCommandError, IAdminCommandProvider
from trac.core import Component, implements
from trac.util.text import printout

from traccron.config import whole_number
from traccron.core import Core

UTC = timezone.utc

#: Fire times listed per schedule by `cron next` without `--count`.
NEXT_COUNT = 5
#: At most this many are listed, and at most this many candidate instants
#: are asked of a scheduler type (one that only has `isTriggerTime` is
#: asked about every minute).
NEXT_MAX = 1000
CANDIDATES_MAX = 100000


def next_fire_times(schedule, after, count):
    """The next `count` instants (aware, in the schedule's zone) at which
    `schedule` fires strictly after `after`: the instants the ticker
    hands out, each confirmed as the ticker confirms it."""
    found = []
    dt = after
    for _ in range(CANDIDATES_MAX):
        if len(found) >= count:
            break
        dt = schedule.next_after(dt)
        if dt is None:
            break
        if schedule.confirm(dt):
            found.append(dt.astimezone(schedule.tz))
    return found


def local_time(dt):
    """`2027-03-28 03:00:00+02:00 CEST`: the local time with its UTC
    offset, then the zone's abbreviation."""
    return '%s %s' % (dt.isoformat(sep=' '), dt.tzname())


def parse_from(text, tz):
    """The instant of `--from`: an ISO 8601 date and time, read in `tz`
    when it has no UTC offset."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise AdminCommandError('--from %s: expected an ISO 8601 date and '
                                'time, such as 2027-03-28T01:30 or '
                                '2027-03-28T01:30+01:00' % text)
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt


def parse_options(args, names):
    """`(positional, options)` of `args`, where each of `names` (such as
    `--from`) takes a value."""
    positional, options = [], {}
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg in names:
            if not args:
                raise AdminCommandError('%s needs a value' % arg)
            options[arg] = args.pop(0)
        elif arg.startswith('--'):
            raise AdminCommandError('unknown option %s (expected %s)'
                                    % (arg, ', '.join(names)))
        else:
            positional.append(arg)
    return positional, options


class CronMonitor(Component):
    """The trac-admin commands that show what the schedules mean."""

    implements(IAdminCommandProvider)

    def get_admin_commands(self):
        yield ('cron next', '[task] [--from <iso-datetime>] [--count <n>]',
               """List the next fire times of every enabled schedule

               In the configured zone with their UTC offset, exactly as
               the ticker computes them (daylight saving included). --from
               starts elsewhere than now (without an offset it is read in
               the configured zone); --count sets how many per schedule
               (default %d).""" % NEXT_COUNT,
               self._complete_task, self._do_next)

    def _complete_task(self, args):
        if len(args) == 1:
            return [t.getId() for t in Core(self.env).get_task_list()]

    def _do_next(self, *args):
        core = Core(self.env)
        tz = core.timezone()
        (task_id,), options = self._next_args(core, args)
        after = parse_from(options['--from'], tz) if '--from' in options \
            else datetime.now(UTC)
        count = whole_number(options.get('--count', str(NEXT_COUNT)))
        if not count or count > NEXT_MAX:
            raise AdminCommandError('--count %s: expected a whole number '
                                    'from 1 to %d'
                                    % (options['--count'], NEXT_MAX))
        schedules = [s for s in core.build_schedules(after)[0]
                     if task_id is None or s.task_id == task_id]
        if not schedules:
            printout('No enabled schedule%s.' % (
                ' for %s' % task_id if task_id else ''))
            return
        for schedule in sorted(schedules, key=lambda s: s.key):
            printout('%s (%s)' % (schedule.key, _zone_name(schedule.tz)))
            times = next_fire_times(schedule, after, count)
            for dt in times:
                printout('  ' + local_time(dt))
            if not times:
                printout('  (does not fire again)')

    def _next_args(self, core, args):
        positional, options = parse_options(args, ('--from', '--count'))
        if len(positional) > 1:
            raise AdminCommandError('expected at most one task, got %s'
                                    % ' '.join(positional))
        task_id = positional[0] if positional else None
        if task_id is not None and core.get_task(task_id) is None:
            raise AdminCommandError('No task "%s". Tasks: %s' % (
                task_id, ', '.join(t.getId() for t in core.get_task_list())))
        return [task_id], options


def _zone_name(tz):
    return getattr(tz, 'key', None) or str(tz)
