# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Overdue alerts (`TASK.alert_after`): a task with no success for that
long is told once as "overdue", then once as "recovered" at its next
success, whatever the reason (switched off, failing, no ticker running).

An episode is a row of `cron_alert`, keyed by the task and the instant
from which its time without success counts (`history.overdue_since`).
Every process that checks tries to insert that row: the one whose insert
wins raises "overdue"; the one whose update sets `recovered` raises
"recovered". So each is raised once across all processes sharing the
database, whichever noticed first, and a restart raises nothing again.
An alert is told after its row is committed: a process killed between
the two loses it (at most once, never twice)."""


from traccron import history
from traccron.alerts import Alert, tell_all, tell_in_worker
from traccron.config import CronConfig, or_default
from traccron.present import duration, stamp, zone_name
from traccron.times import SECOND, seconds

#: The shortest and longest time (seconds) between two checks of a
#: ticker; between them, a tenth of the shortest `alert_after`.
CHECK_MIN = 1.0
CHECK_MAX = 30.0

_INSERT = {
    'sqlite': 'INSERT OR IGNORE INTO cron_alert '
              '(task, since, raised, raised_by) VALUES (%s, %s, %s, %s)',
    'postgres': 'INSERT INTO cron_alert (task, since, raised, raised_by) '
                'VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING',
    'mysql': 'INSERT IGNORE INTO cron_alert '
             '(task, since, raised, raised_by) VALUES (%s, %s, %s, %s)',
}


def check(env, core, now, runner, tell=None):
    """Raise the overdue and recovered alerts due at `now` (µs) through
    `core` (`Core(env)`: its tasks and its `alert`), as process `runner`.
    Returns the alerts raised here; `tell(core, alerts)` tells them (by
    default `tell_all`, at once).

    Costs one query for the open episodes, then, per task that has an
    `alert_after` or an open episode, `history.last_success`; the other
    tasks cost nothing."""
    tasks = task_ids(core)
    limits = alert_limits(CronConfig(env), tasks)
    episodes = open_episodes(env)
    raised = []
    for task in sorted(set(limits) | (set(episodes) & set(tasks))):
        raised += _check_task(env, task, limits.get(task),
                              episodes.get(task, []), now, runner)
    if raised:
        (tell or tell_all)(core, raised)
    return raised


def task_ids(core):
    """The ids of the tasks `core` knows."""
    return [t.getId() for t in core.get_task_list()]


def alert_limits(config, tasks):
    """`{task: alert_after in µs}` of those of `tasks` that have one."""
    limits = {}
    for task in tasks:
        after = or_default(config.get_alert_after, task)
        if after:
            limits[task] = after * SECOND
    return limits


def check_interval(env, core):
    """Seconds between two checks of a ticker: a tenth of the shortest
    `alert_after`, within `CHECK_MIN` and `CHECK_MAX`; `None` when no
    task has one."""
    limits = alert_limits(CronConfig(env), task_ids(core))
    if not limits:
        return None
    return min(max(seconds(min(limits.values())) / 10, CHECK_MIN),
               CHECK_MAX)


def open_episodes(env):
    """`{task: [(id, since)]}` of the episodes not yet recovered."""
    episodes = {}
    for id, task, since in env.db_query("""
            SELECT id, task, since FROM cron_alert
            WHERE recovered IS NULL ORDER BY id"""):
        episodes.setdefault(task, []).append((id, since))
    return episodes


def _check_task(env, task, limit, episodes, now, runner):
    """The alerts of `task` that this process wins: "recovered" for each
    of its open `episodes` that a success ended, "overdue" for a new
    episode when none is open and `limit` (µs) has passed."""
    succeeded = history.last_success(env, task)
    raised, still_open = [], []
    for id, since in episodes:
        if succeeded is not None and succeeded > since:
            if close_episode(env, id, now, runner):
                raised.append(_recovered(env, task, since, succeeded))
        else:
            still_open.append(id)
    if limit and not still_open:
        since = history.overdue_since(env, task, succeeded)
        if since is not None and now - since > limit and \
                open_episode(env, task, since, now, runner):
            raised.append(_overdue(env, task, since, succeeded, limit,
                                   now))
    return raised


def open_episode(env, task, since, now, runner):
    """Insert the episode `(task, since)`; whether this process's insert
    won (the row did not exist)."""
    with env.db_transaction as db:
        cursor = db.cursor()
        cursor.execute(_INSERT[history._dialect(env)],
                       (task, since, now, runner))
        return cursor.rowcount == 1


def close_episode(env, id, now, runner):
    """Mark episode `id` recovered; whether this process's update did it
    (no other process had)."""
    with env.db_transaction as db:
        cursor = db.cursor()
        cursor.execute("""
            UPDATE cron_alert SET recovered=%s, recovered_by=%s
            WHERE id=%s AND recovered IS NULL""", (now, runner, id))
        return cursor.rowcount == 1


def episode_rows(env, task=None):
    """Every episode (of `task`), oldest first: `(task, since, raised,
    raised_by, recovered, recovered_by)`."""
    sql = 'SELECT task, since, raised, raised_by, recovered, recovered_by ' \
          'FROM cron_alert'
    args = ()
    if task is not None:
        sql += ' WHERE task=%s'
        args = (task,)
    return env.db_query(sql + ' ORDER BY id', args)


def _when(env, us):
    tz = CronConfig(env).timezone
    return '%s %s' % (stamp(us, tz), zone_name(tz))


def _overdue(env, task, since, succeeded, limit, now):
    what = 'its last success' if succeeded is not None else \
        'its first run; it never succeeded'
    return Alert('overdue', task,
                 'no successful run for %s (since %s, %s; alert_after %s)'
                 % (duration(seconds(now - since)), _when(env, since), what,
                    duration(seconds(limit))), time=now)


def _recovered(env, task, since, succeeded):
    return Alert('recovered', task, 'succeeded at %s, after %s without '
                 'success' % (_when(env, succeeded),
                              duration(seconds(succeeded - since))),
                 time=succeeded)


class OverdueWatch(object):
    """When a ticker checks for overdue and recovered tasks: at its first
    tick, then every `check_interval`. While no task has an
    `alert_after`, the ticker does not wake for it: its next tick after
    `CHECK_MAX` checks (an episode left open by a task whose
    `alert_after` was removed still recovers).

    The alerts are told by a worker of `spawn(name, target, *args)`, so
    that a listener or a mail server that is slow never delays the
    ticker's next occurrences."""

    def __init__(self, spawn):
        self.next_check = None   # monotonic time
        self._wake = False
        self._spawn = spawn

    @property
    def wake_at(self):
        """The monotonic time the ticker must wake to check, or `None`."""
        return self.next_check if self._wake else None

    def check(self, env, core, now, mono, runner):
        """`check` when it is due; never raises (an error is logged and
        the check tried again at the next interval)."""
        if self.next_check is not None and mono < self.next_check:
            return []
        try:
            interval = check_interval(env, core)
            self._wake = interval is not None
            self.next_check = mono + (interval or CHECK_MAX)
            return check(env, core, now, runner, self._tell)
        except Exception:
            if self.next_check is None or self.next_check <= mono:
                self.next_check = mono + CHECK_MAX
            env.log.error('TracCron could not check for overdue tasks',
                          exc_info=True)
            return []

    def _tell(self, core, alerts):
        self._spawn('traccron-alerts', tell_in_worker, core, alerts)
