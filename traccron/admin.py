# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""trac-admin commands: `cron list | run | history | clear | check |
ticker`."""

import signal
import threading
import time
from datetime import datetime

from trac.admin.api import AdminCommandError, IAdminCommandProvider
from trac.core import Component, implements
from trac.env import env_cache, env_cache_lock
from trac.util.text import print_table, printerr, printout

from traccron import history
from traccron.config import CronConfig, whole_number
from traccron.core import Core, RunRefused
from traccron.dispatcher import open_cached
from traccron.times import UTC, now_us, seconds
from traccron.present import stamp

#: How long `cron ticker` waits for running tasks after SIGTERM/SIGINT.
STOP_GRACE = 30


def _first_line(text, width=60):
    line = (text or '').strip().splitlines()
    line = line[-1] if line else ''
    return line if len(line) <= width else line[:width - 3] + '...'


class CronAdmin(Component):
    """The `cron` commands of trac-admin."""

    implements(IAdminCommandProvider)

    def get_admin_commands(self):
        yield ('cron list', '',
               'List tasks, their schedules and next fire times',
               None, self._do_list)
        yield ('cron run', '[--retries <n>] <task> [arg...]',
               """Run a task now and wait for its outcome

               The run is recorded in the history with schedule `manual`.
               With --retries, a failed run is tried again up to n times,
               after the task's retry_delay (doubled at each attempt).
               The exit status is non-zero when the task fails.""",
               self._complete_task, self._do_run)
        yield ('cron history', '[--task <task>] [--limit <n>]',
               'Show the most recent runs (default: 20)',
               None, self._do_history)
        yield ('cron clear', '',
               'Delete the history of finished runs',
               None, self._do_clear)
        yield ('cron check', '',
               """Check the [traccron] section

               Lists every invalid value and unknown key; the exit status
               is non-zero when there is one.""",
               None, self._do_check)
        yield ('cron ticker', '',
               """Run the scheduler in the foreground until SIGTERM or
               SIGINT

               For deployments whose web processes are short-lived (CGI,
               recycled workers): run this as a service and the tasks run
               on time whatever the web server does.""",
               None, self._do_ticker)

    def _complete_task(self, args):
        if args and args[0] == '--retries':
            args = args[2:]
        if len(args) == 1:
            return [t.getId() for t in Core(self.env).get_task_list()]

    def _do_list(self):
        core = Core(self.env)
        config = CronConfig(self.env)
        tz = core.timezone()
        schedules, problems = core.build_schedules()
        now = datetime.now(UTC)
        by_key = dict((s.key, s) for s in schedules)
        rows = []
        for task in core.get_task_list():
            task_id = task.getId()
            enabled = config.is_task_enabled(task_id)
            rows.append((task_id, '', 'enabled' if enabled else 'disabled',
                         '', _first_line(task.getDescription())))
            for stype in core.get_supported_schedulers():
                value = config.get_schedule_value(task_id, stype.getId())
                if not value:
                    continue
                schedule = by_key.get('%s.%s' % (task_id, stype.getId()))
                nxt = schedule.next_after(now) if schedule else None
                state = 'scheduled' if schedule else 'off'
                rows.append(('', '%s = %s' % (stype.getId(), value), state,
                             stamp(nxt, tz),
                             ', '.join(config.get_schedule_arg_list(
                                 task_id, stype.getId()))))
        print_table(rows, ['Task', 'Schedule', 'State', 'Next run',
                           'Description / arguments'])
        if problems:
            printout('\n%d problem(s); see "cron check".' % len(problems))

    def _do_run(self, *args):
        retries = 0
        if args and args[0] == '--retries':
            if len(args) < 3:
                raise AdminCommandError('Usage: cron run [--retries <n>] '
                                        '<task> [arg...]', show_usage=True)
            retries = whole_number(args[1])
            if retries is None or retries > 1000:
                raise AdminCommandError('--retries: expected a whole '
                                        'number from 0 to 1000, not "%s"'
                                        % args[1])
            args = args[2:]
        if not args:
            raise AdminCommandError('Usage: cron run [--retries <n>] <task> '
                                    '[arg...]', show_usage=True)
        task_id, args = args[0], args[1:]
        core = Core(self.env)
        if core.get_task(task_id) is None:
            raise AdminCommandError('No task "%s". Tasks: %s' % (
                task_id, ', '.join(t.getId() for t in core.get_task_list())))
        try:
            run = core.run_now(task_id, list(args), wait=True,
                               retries=retries)
        except RunRefused as e:
            printerr('%s: not started: %s' % (task_id, e))
            return 2
        took = seconds(run.ended - run.started)
        if run.success:
            printout('%s: success (%.3f s%s)' % (
                task_id, took, ', attempt %d' % run.attempt
                if run.attempt > 1 else ''))
            if run.message:
                printout(run.message)
            return 0
        attempts = ', attempt %d' % run.attempt if run.attempt > 1 else ''
        printerr('%s: FAILURE (%.3f s%s)' % (task_id, took, attempts))
        printerr(run.message)
        return 1

    def _do_history(self, *args):
        task, limit = None, 20
        args = list(args)
        while args:
            flag = args.pop(0)
            if flag not in ('--task', '--limit') or not args:
                raise AdminCommandError('Usage: cron history [--task <task>] '
                                        '[--limit <n>]', show_usage=True)
            value = args.pop(0)
            if flag == '--task':
                task = value
            else:
                limit = whole_number(value)
                if limit is None or limit < 1:
                    raise AdminCommandError('--limit takes a whole number '
                                            '>= 1, not "%s"' % value)
        tz = Core(self.env).timezone()
        rows = []
        for row in history.query(self.env, task=task, limit=limit):
            duration = row.duration
            rows.append((row.id, row.task, row.schedule,
                         stamp(row.fire_time, tz), stamp(row.started, tz),
                         '' if duration is None else '%.3f' % duration,
                         row.status, (row.runner or '').split('/')[0],
                         _first_line(row.message, 50)))
        print_table(rows, ['Id', 'Task', 'Schedule', 'Scheduled', 'Started',
                           'Seconds', 'Status', 'Runner', 'Message'])

    def _do_clear(self):
        before = history.count(self.env)
        history.clear(self.env)
        removed = before - history.count(self.env)
        printout('%d history row(s) deleted.' % removed)

    def _do_check(self):
        problems = Core(self.env).check()
        for problem in problems:
            printerr(str(problem))
        if problems:
            printerr('%d problem(s) in [traccron].' % len(problems))
            return 1
        printout('[traccron] is valid.')
        return 0

    def _end_runs(self, registry, path):
        """After the ticker stopped: wait up to `STOP_GRACE` for the runs
        going on, writing meanwhile the outcomes the database refused;
        then record the runs still going as `interrupted`. Returns them,
        and how many outcomes are still not written."""
        env = open_cached(path) or self.env
        deadline = time.time() + STOP_GRACE
        while registry.runs() and time.time() < deadline:
            registry.flush(env)
            time.sleep(0.1)
        left = registry.going()
        now = now_us()
        for run in left:
            try:
                history.finish(env, run.id, now, 'interrupted',
                               'the ticker was stopped while the task was '
                               'running')
            except Exception as e:
                printerr('Could not record run %d as interrupted: %s'
                         % (run.id, e))
        return left, registry.flush(env)

    def _do_ticker(self):
        from traccron.ticker import LEAD, LEAD_PER_DUE, Ticker
        path = self.env.path
        if not CronConfig(self.env).get_ticker_enabled():
            printerr('ticker_enabled is false in [traccron]: nothing to do.')
            return 1
        # The ticker follows Trac's cache of environments (reloaded when
        # trac.ini changes); it starts with this command's environment.
        with env_cache_lock:
            env_cache.setdefault(path, self.env)
        ticker = Ticker(path, lambda: open_cached(path), lead=LEAD,
                        lead_per_due=LEAD_PER_DUE)
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        previous = [signal.signal(s, on_signal)
                    for s in (signal.SIGTERM, signal.SIGINT)]
        printout('TracCron ticker running for %s (pid %s). Stop with '
                 'SIGTERM or Ctrl-C.' % (path, ticker.runner))
        ticker.start()
        self.log.info('TracCron ticker started for %s (trac-admin cron '
                      'ticker, %s)', path, ticker.runner)
        try:
            while not stop.is_set() and ticker.alive:
                stop.wait(1)
        finally:
            ticker.stop()
            ticker.join(5)
            for s, handler in zip((signal.SIGTERM, signal.SIGINT), previous):
                signal.signal(s, handler)
        left, unwritten = self._end_runs(ticker.registry, path)
        printout('TracCron ticker stopped (%d run(s) interrupted).'
                 % len(left))
        if unwritten:
            printerr('%d run outcome(s) could not be written to the '
                     'history (see the log).' % unwritten)
        with env_cache_lock:
            cached = env_cache.pop(path, None)
        if cached is not None and cached is not self.env:
            cached.shutdown()
        return 0
