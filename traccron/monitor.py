# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Commands of trac-admin that answer what will run and how the tasks
are doing: `cron next` and `cron status` (a Nagios/Icinga check)."""

import json
from datetime import datetime

from trac.admin.api import AdminCommandError, IAdminCommandProvider
from trac.core import Component, implements
from trac.util.text import printout

from traccron import history, overdue
from traccron.config import CronConfig, or_default, whole_number
from traccron.core import Core
from traccron.present import offset_time, zone_name
from traccron.scheduler import fire_times
from traccron.times import SECOND, UTC, from_us, now_us

#: Exit statuses of `cron status`, as Nagios and Icinga read them.
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = ('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')
#: The outcomes that make the last run a failed one.
FAILED = ('failure', 'interrupted')

#: Fire times listed per schedule by `cron next` without `--count`.
NEXT_COUNT = 5
#: At most this many are listed.
NEXT_MAX = 1000


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


def parse_options(args, names, flags=()):
    """`(positional, options)` of `args`, where each of `names` (such as
    `--from`) takes a value, but those in `flags`."""
    positional, options = [], {}
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg in flags:
            options[arg] = True
        elif arg in names:
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

        yield ('cron status', '[--task <task>] [--json]',
               """Check the tasks, for Nagios or Icinga

               Per task: the last outcome, the last success, the next run
               and whether it is overdue (no success within its
               alert_after). Exit status: 0 OK; 1 WARNING when the last
               run of a task failed or was interrupted; 2 CRITICAL when a
               task is overdue; 3 UNKNOWN when the history cannot be read.
               --json prints the same for scripts.""",
               None, self._do_status)

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
            printout('%s (%s)' % (schedule.key, zone_name(schedule.tz)))
            times = fire_times(schedule, after, count)
            for dt in times:
                printout('  ' + offset_time(dt))
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


    def _do_status(self, *args):
        # A check that cannot check answers UNKNOWN, even for a mistake in
        # its own command line.
        core = Core(self.env)
        try:
            positional, options = parse_options(args, ('--task', '--json'),
                                                flags=('--json',))
            if positional:
                raise AdminCommandError('unexpected argument %s'
                                        % ' '.join(positional))
            task_id = options.get('--task')
            if task_id is not None and core.get_task(task_id) is None:
                raise AdminCommandError('No task "%s". Tasks: %s' % (
                    task_id, ', '.join(t.getId()
                                       for t in core.get_task_list())))
        except AdminCommandError as e:
            printout('TRACCRON UNKNOWN - %s' % e)
            return UNKNOWN
        now = now_us()
        raise_overdue(self.env, core, now)
        try:
            tasks = task_states(self.env, core, now, task_id)
        except Exception as e:
            self.log.error('TracCron: cron status could not read the '
                           'history: %s', e)
            tasks, error = [], '%s: %s' % (type(e).__name__, e)
        else:
            error = None
        code = UNKNOWN if error else status_code(tasks)
        if '--json' in options:
            printout(json.dumps({'status': STATES[code], 'code': code,
                                 'error': error, 'tasks': tasks},
                                indent=2, sort_keys=True))
        else:
            printout(summary(code, tasks, error))
            for task in tasks:
                printout(_status_line(task))
        return code


def task_states(env, core, now, task_id=None):
    """Per task (or only `task_id`): a dict of its last outcome, last
    success, next run and whether it is overdue. Times are ISO 8601 in
    the configured zone, with their offset; `alert_after` is in seconds
    or `None`."""
    config = CronConfig(env)
    tz = core.timezone()
    schedules, _ = core.build_schedules(from_us(now))
    after = from_us(now)
    states = []
    for task in core.get_task_list():
        tid = task.getId()
        if task_id is not None and tid != task_id:
            continue
        last = _one(env, "SELECT status, fire_time, ended FROM cron_history "
                    "WHERE task=%s AND NOT " + history.GOING +
                    " ORDER BY id DESC", tid)
        success = history.last_success(env, tid)
        nexts = [s.next_after(after) for s in schedules if s.task_id == tid]
        nexts = [n for n in nexts if n is not None]
        alert = or_default(config.get_alert_after, tid)
        enabled = config.is_task_enabled(tid)
        # A task switched off is not expected to succeed.
        overdue = enabled and history.success_overdue(
            env, tid, alert and alert * SECOND, now, success)
        states.append({
            'task': tid,
            'enabled': enabled,
            'last_status': last and last[0],
            'last_time': last and _iso(last[2] or last[1], tz),
            'last_success': success and _iso(success, tz),
            'next_run': nexts and _iso(min(nexts), tz) or None,
            'alert_after': alert,
            'overdue': overdue,
        })
    return states


def raise_overdue(env, core, now):
    """Raise the overdue and recovered alerts due (`traccron.overdue`),
    so that they come even where no ticker runs. A failure is only
    logged: the check answers all the same."""
    try:
        overdue.check(env, core, now, history.runner_id())
    except Exception as e:
        env.log.error('TracCron: cron status could not raise the overdue '
                      'alerts: %s', e)


def status_code(tasks):
    if any(t['overdue'] for t in tasks):
        return CRITICAL
    if any(t['last_status'] in FAILED for t in tasks):
        return WARNING
    return OK


def summary(code, tasks, error=None):
    """The first line of a Nagios check: state, then what makes it so."""
    if error:
        return 'TRACCRON UNKNOWN - the history cannot be read: %s' % error
    overdue = [t['task'] for t in tasks if t['overdue']]
    failed = [t['task'] for t in tasks if t['last_status'] in FAILED]
    parts = []
    if overdue:
        parts.append('overdue: ' + ', '.join(overdue))
    if failed:
        parts.append('last run failed: ' + ', '.join(failed))
    return 'TRACCRON %s - %s' % (STATES[code], '; '.join(parts) or
                                 '%d task(s), none failing or overdue'
                                 % len(tasks))


def _status_line(task):
    return '  %s: last run %s%s, last success %s, next run %s%s' % (
        task['task'], task['last_status'] or 'never ran',
        ' at %s' % task['last_time'] if task['last_time'] else '',
        task['last_success'] or 'never', task['next_run'] or 'none',
        ', OVERDUE (alert_after %d s)' % task['alert_after']
        if task['overdue'] else '')


def _one(env, sql, task_id):
    for row in env.db_query(sql + ' LIMIT 1', (task_id,)):
        return row
    return None


def _iso(value, tz):
    """A time (aware datetime, or µs since the epoch) as ISO 8601 in the
    configured zone `tz`, with its offset."""
    if not isinstance(value, datetime):
        value = from_us(value)
    return value.astimezone(tz).isoformat()


def main(argv=None):
    """`traccron-status ENV [--task T] [--json]`: `cron status` without
    trac-admin, which checks the database before any command and exits 2
    when it cannot reach it. Here an environment or a database that
    cannot be read is UNKNOWN (3), as Nagios and Icinga expect."""
    import sys
    from trac.env import Environment
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        printout('TRACCRON UNKNOWN - usage: traccron-status ENV [--task '
                 'TASK] [--json]')
        return UNKNOWN
    try:
        env = Environment(argv[0])
    except Exception as e:
        printout('TRACCRON UNKNOWN - the environment %s cannot be opened: '
                 '%s' % (argv[0], e))
        return UNKNOWN
    try:
        return CronMonitor(env)._do_status(*argv[1:])
    finally:
        env.shutdown()


if __name__ == '__main__':
    raise SystemExit(main())
