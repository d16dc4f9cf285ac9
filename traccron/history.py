# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `cron_history` table: claim, finish, heartbeat, query, purge.

Every run has one row. The row is inserted before the task runs and its
unique key `(task, schedule, fire_time)` is the claim: when several
processes share the database, only the one whose insert succeeds runs the
occurrence.
"""

import collections
import os
import random
import socket
import sqlite3
import threading
import time
import weakref

from trac.core import Component, ExtensionPoint, implements
from trac.db.api import DatabaseManager

from traccron.api import ICronTask, IHistoryTaskExecutionStore

STATUSES = ('running', 'success', 'failure', 'skipped', 'missed',
            'interrupted')

_COLUMNS = ('id', 'task', 'schedule', 'fire_time', 'started', 'ended',
            'status', 'message', 'runner', 'heartbeat')

_INSERT = {
    'sqlite': 'INSERT OR IGNORE INTO cron_history '
              '(task, schedule, fire_time, started, status, message, '
              'runner, heartbeat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)',
    'postgres': 'INSERT INTO cron_history '
                '(task, schedule, fire_time, started, status, message, '
                'runner, heartbeat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) '
                'ON CONFLICT DO NOTHING',
    'mysql': 'INSERT IGNORE INTO cron_history '
             '(task, schedule, fire_time, started, status, message, '
             'runner, heartbeat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)',
}


# SQLite (3.35+) and PostgreSQL tell which rows of one multi-row INSERT
# were inserted: a batch of claims costs one statement, not two round
# trips per claim (PostgreSQL, 100 claims: 16 ms -> 2 ms on this machine).
_INSERT_RETURNING = {
    'sqlite': 'INSERT OR IGNORE INTO cron_history '
              '(task, schedule, fire_time, started, status, message, '
              'runner, heartbeat) VALUES %s '
              'RETURNING id, task, schedule, fire_time',
    'postgres': 'INSERT INTO cron_history '
                '(task, schedule, fire_time, started, status, message, '
                'runner, heartbeat) VALUES %s ON CONFLICT DO NOTHING '
                'RETURNING id, task, schedule, fire_time',
}
if sqlite3.sqlite_version_info < (3, 35, 0):
    del _INSERT_RETURNING['sqlite']
_ROW_PLACEHOLDERS = '(%s, %s, %s, %s, %s, %s, %s, %s)'
#: Claims per multi-row INSERT (8 parameters each; SQLite allows 999).
_BATCH = 100


def runner_id():
    """This process, as `host:pid`."""
    return '%s:%d' % (socket.gethostname(), os.getpid())


def _dialect(env):
    scheme = DatabaseManager(env).connection_uri.split(':', 1)[0]
    return 'postgres' if scheme == 'postgresql' else scheme


class Row(collections.namedtuple('Row', _COLUMNS)):
    """One row of `cron_history`; times in µs since the epoch (UTC)."""

    @property
    def duration(self):
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started) / 1e6


class Claim(object):
    """A row to insert: an occurrence about to run, or one recorded as
    `skipped` or `missed`. `id` is set when the insert won."""

    __slots__ = ('task', 'schedule', 'fire_time', 'started', 'status',
                 'message', 'id')

    def __init__(self, task, schedule, fire_time, started, status='running',
                 message=''):
        self.task = task
        self.schedule = schedule
        self.fire_time = fire_time
        self.started = started
        self.status = status
        self.message = message
        self.id = None


#: Attempts of a claim that the database aborted to break a deadlock.
CLAIM_ATTEMPTS = 5


def claim(env, claims, runner, now):
    """Insert `claims` in one transaction. Sets `id` on each claim whose
    row was inserted; a claim whose key exists already (another process
    won it) keeps `id = None`. Returns the claims that were won.

    Rows are inserted in key order, so that processes claiming the same
    occurrences lock the index in the same order; a transaction the
    database still aborts as a deadlock victim is tried again."""
    claims = sorted(claims, key=lambda c: (c.task, c.schedule, c.fire_time))
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            return _claim(env, claims, runner, now)
        except Exception as e:
            if attempt + 1 == CLAIM_ATTEMPTS or not _is_deadlock(e):
                raise
            for c in claims:
                c.id = None
            env.log.debug('TracCron: claim aborted by the database (%s), '
                          'trying again', e)
            time.sleep(random.uniform(0.001, 0.01))


def _is_deadlock(e):
    """Whether `e` is the database aborting a transaction to break a
    deadlock or a serialization conflict (worth trying again)."""
    code = getattr(e, 'pgcode', None)
    if code in ('40001', '40P01'):
        return True
    args = getattr(e, 'args', ())
    if args and args[0] in (1213, 1205):  # MySQL: deadlock, lock wait
        return True
    return 'database is locked' in str(e)


def _claim(env, claims, runner, now):
    dialect = _dialect(env)
    if dialect in _INSERT_RETURNING:
        return _claim_returning(env, _INSERT_RETURNING[dialect], claims,
                                runner, now)
    sql = _INSERT[dialect]
    won = []
    with env.db_transaction as db:
        cursor = db.cursor()
        for c in claims:
            cursor.execute(sql, (c.task, c.schedule, c.fire_time, c.started,
                                 c.status, c.message, runner, now))
            if cursor.rowcount == 1:
                c.id = db.get_last_id(cursor, 'cron_history')
                won.append(c)
    return won


def _claim_returning(env, sql, claims, runner, now):
    won = set()
    with env.db_transaction as db:
        cursor = db.cursor()
        for first in range(0, len(claims), _BATCH):
            batch = claims[first:first + _BATCH]
            # Only placeholders are repeated: the values stay parameters.
            values = ', '.join([_ROW_PLACEHOLDERS] * len(batch))
            params = []
            for c in batch:
                params += [c.task, c.schedule, c.fire_time, c.started,
                           c.status, c.message, runner, now]
            cursor.execute(sql % values, params)
            inserted = dict(((task, schedule, fire), id) for id, task,
                            schedule, fire in cursor.fetchall())
            for c in batch:
                id = inserted.pop((c.task, c.schedule, c.fire_time), None)
                if id is not None:
                    c.id = id
                    won.add(id)
    return [c for c in claims if c.id in won]


def running_by_runner(env):
    """Return `[(task, runner, number of running rows)]`."""
    return env.db_query("""
        SELECT task, runner, COUNT(*) FROM cron_history
        WHERE status='running' GROUP BY task, runner
        """)


def running_counts(env, runner, rows=None, ignore=()):
    """Return `{task: (running anywhere, running in this process)}`,
    leaving out the runners in `ignore`."""
    if rows is None:
        rows = running_by_runner(env)
    counts = {}
    for task, row_runner, n in rows:
        if row_runner in ignore:
            continue
        total, mine = counts.get(task, (0, 0))
        counts[task] = (total + n, mine + (n if row_runner == runner else 0))
    return counts


def interrupt_runners(env, runners, now, noticed_by):
    """Record as `interrupted` the running rows of `runners`, processes
    known to be gone. Returns their ids."""
    marked = []
    with env.db_transaction as db:
        cursor = db.cursor()
        for runner in sorted(runners):
            ids = [id for id, in db("""
                SELECT id FROM cron_history
                WHERE status='running' AND runner=%s ORDER BY id
                """, (runner,))]
            for id in ids:
                cursor.execute("""
                    UPDATE cron_history SET status='interrupted', ended=%s,
                      message=%s
                    WHERE id=%s AND status='running'
                    """, (now, 'its runner %s is no longer running (noticed '
                               'by %s)' % (runner, noticed_by), id))
                if cursor.rowcount == 1:
                    marked.append(id)
    return marked


def last_fire_times(env):
    """Return `{(task, schedule): latest fire_time}` over the history."""
    return dict(((task, schedule), fire) for task, schedule, fire in
                env.db_query("""
                    SELECT task, schedule, MAX(fire_time) FROM cron_history
                    GROUP BY task, schedule
                    """))


def finish(env, id, ended, status, message='', started=None):
    """Complete the row of a run with its outcome (and the instant the
    task really started, when given); returns once it is committed.

    Runs that end together are written together: a thread that finds
    another one writing waits for it, and the next writer commits every
    outcome that came meanwhile in one transaction. 100 runs ending at
    once then cost a few commits, not 100 writers queueing for the
    database (on SQLite, its busy handler sleeps them for up to a second
    and their `running` rows hold back the next occurrence)."""
    outcome = _Outcome((started, ended, status, message, ended, id))
    with _batches_lock:
        batch = _batches.get(env)
        if batch is None:
            batch = _batches[env] = _Batch()
        batch.pending.append(outcome)
    with batch.writing:
        if not outcome.done:
            with _batches_lock:
                outcomes, batch.pending = batch.pending, []
            try:
                with env.db_transaction as db:
                    db.cursor().executemany("""
                        UPDATE cron_history SET
                          started=COALESCE(%s, started), ended=%s,
                          status=%s, message=%s, heartbeat=%s
                        WHERE id=%s AND status='running'
                        """, [o.args for o in sorted(
                            outcomes, key=lambda o: o.args[-1])])
            except Exception as e:
                for o in outcomes:
                    o.error = e
            for o in outcomes:
                o.done = True
    if outcome.error is not None:
        raise outcome.error


class _Outcome(object):
    __slots__ = ('args', 'done', 'error')

    def __init__(self, args):
        self.args = args
        self.done = False
        self.error = None


class _Batch(object):
    """The outcomes waiting to be written to one environment's database,
    and the lock of the thread writing them."""

    def __init__(self):
        self.pending = []
        self.writing = threading.Lock()


_batches_lock = threading.Lock()
_batches = weakref.WeakKeyDictionary()   # Environment -> _Batch


def heartbeat(env, ids, now):
    """Tell other processes that the runs `ids` are still going."""
    with env.db_transaction as db:
        for id in ids:
            db("UPDATE cron_history SET heartbeat=%s WHERE id=%s", (now, id))


def mark_interrupted(env, now, lease_us, runner):
    """Record as `interrupted` the running rows whose process stopped
    sending heartbeats more than `lease_us` µs ago. Returns their ids."""
    limit = now - lease_us
    stale = [id for id, in env.db_query("""
        SELECT id FROM cron_history WHERE status='running' AND heartbeat<%s
        ORDER BY id
        """, (limit,))]
    marked = []
    if stale:
        # The transaction starts with a write (SQLite: no lock upgrade).
        with env.db_transaction as db:
            cursor = db.cursor()
            for id in stale:
                cursor.execute("""
                    UPDATE cron_history SET status='interrupted', ended=%s,
                      message=%s
                    WHERE id=%s AND status='running' AND heartbeat<%s
                    """, (now, 'its runner stopped sending heartbeats '
                               '(noticed by %s)' % runner, id, limit))
                if cursor.rowcount == 1:
                    marked.append(id)
    return marked


def purge(env, before):
    """Delete the rows of runs (or occurrences) older than `before` µs."""
    env.db_transaction("""
        DELETE FROM cron_history WHERE status<>'running' AND
          (started<%s OR (started IS NULL AND fire_time<%s))
        """, (before, before))


def clear(env):
    """Delete every finished row (running rows are kept: they are claims)."""
    env.db_transaction("DELETE FROM cron_history WHERE status<>'running'")


def _where(task=None, status=None, from_time=None, to_time=None):
    clauses, args = [], []
    if task:
        clauses.append('task=%s')
        args.append(task)
    if status:
        clauses.append('status=%s')
        args.append(status)
    if from_time is not None:
        clauses.append('started>=%s')
        args.append(from_time)
    if to_time is not None:
        clauses.append('started<=%s')
        args.append(to_time)
    return (' WHERE ' + ' AND '.join(clauses) if clauses else ''), args


def query(env, task=None, status=None, from_time=None, to_time=None,
          limit=None, offset=0):
    """Return rows newest first."""
    where, args = _where(task, status, from_time, to_time)
    sql = 'SELECT %s FROM cron_history%s ORDER BY id DESC' % (
        ', '.join(_COLUMNS), where)
    if limit is not None:
        sql += ' LIMIT %s OFFSET %s'
        args += [int(limit), int(offset)]
    return [Row(*r) for r in env.db_query(sql, args)]


def count(env, task=None, status=None):
    where, args = _where(task, status)
    return env.db_query('SELECT COUNT(*) FROM cron_history' + where,
                        args)[0][0]


def get(env, id):
    rows = env.db_query('SELECT %s FROM cron_history WHERE id=%%s'
                        % ', '.join(_COLUMNS), (id,))
    return Row(*rows[0]) if rows else None


def _seconds(us):
    return None if us is None else us / 1e6


def _us(seconds):
    return None if seconds is None else int(round(seconds * 1e6))


def _store_filters(task, sucess, success):
    """The task id and outcome asked of `getExecution` (the original
    keyword `sucess` or `success`)."""
    task_id = None
    if task is not None:
        task_id = task if isinstance(task, str) else task.getId()
    return task_id, sucess if success is None else success


class DbHistoryStore(Component):
    """The history kept in the `cron_history` table, seen through the
    original plugin's store interface."""

    implements(IHistoryTaskExecutionStore)

    tasks = ExtensionPoint(ICronTask)

    def addExecution(self, task, start, end, success):
        task_id = task if isinstance(task, str) else task.getId()
        start_us = _us(start)
        with self.env.db_transaction as db:
            # A run recorded from outside keeps its own start time; equal
            # start times of one task get distinct keys.
            while db("""SELECT 1 FROM cron_history
                        WHERE task=%s AND schedule='external'
                        AND fire_time=%s""", (task_id, start_us)):
                start_us += 1
            db("""
                INSERT INTO cron_history (task, schedule, fire_time, started,
                  ended, status, message, runner, heartbeat)
                VALUES (%s, 'external', %s, %s, %s, %s, '', %s, %s)
                """, (task_id, start_us, start_us, _us(end),
                      'success' if success else 'failure', runner_id(),
                      _us(end)))

    def getExecution(self, task=None, fromTime=None, toTime=None,
                     sucess=None, success=None):
        task_id, success = _store_filters(task, sucess, success)
        status = None if success is None else \
            ('success' if success else 'failure')
        by_id = dict((t.getId(), t) for t in self.tasks)
        rows = query(self.env, task=task_id, status=status,
                     from_time=_us(fromTime), to_time=_us(toTime))
        return [(by_id.get(r.task, r.task), _seconds(r.started),
                 _seconds(r.ended), r.status == 'success')
                for r in reversed(rows)
                if r.status in ('success', 'failure')]

    def clear(self):
        clear(self.env)


class MemoryHistoryStore(Component):
    """The original in-memory history, kept for readers of the old API.
    It holds the most recent runs of this process only (at most
    `max_entries`); the database history is the record."""

    implements(IHistoryTaskExecutionStore)

    max_entries = 1000

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=self.max_entries)

    def addExecution(self, task, start, end, success):
        with self._lock:
            self._entries.append((task, start, end, bool(success)))

    def getExecution(self, task=None, fromTime=None, toTime=None,
                     sucess=None, success=None):
        task_id, success = _store_filters(task, sucess, success)
        with self._lock:
            entries = list(self._entries)
        return [e for e in entries
                if (task_id is None or
                    (e[0] if isinstance(e[0], str) else e[0].getId())
                    == task_id)
                and (fromTime is None or e[1] >= fromTime)
                and (toTime is None or e[1] <= toTime)
                and (success is None or e[3] == bool(success))]

    def clear(self):
        with self._lock:
            self._entries.clear()
