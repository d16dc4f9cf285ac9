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
import functools
import hashlib
import operator
import os
import random
import socket
import sqlite3
import time

from trac.core import Component, ExtensionPoint, implements
from trac.db.api import DatabaseManager

from traccron.api import ICronTask, IHistoryTaskExecutionStore
from traccron import compat
from traccron.config import CronConfig
from traccron.db import VERSION_NAME
from traccron.times import SECOND, now_us, seconds

#: The old API's in-memory store, importable from here as it was.
MemoryHistoryStore = compat.MemoryHistoryStore

STATUSES = ('running', 'success', 'failure', 'skipped', 'missed',
            'interrupted', 'timeout')


#: The rows of the runs going on, in SQL: what `is_going` tells of one.
GOING = "(status='running' OR (status='timeout' AND ended IS NULL))"


def is_going(status, ended):
    """Whether a row of `status` and `ended` is a run going on. A run
    past its time limit is recorded `timeout` at once, while it goes on
    (Python cannot stop a thread): it ends when `ended` is set."""
    return status == 'running' or (status == 'timeout' and ended is None)

_COLUMNS = ('id', 'task', 'schedule', 'fire_time', 'started', 'ended',
            'status', 'message', 'runner', 'heartbeat', 'attempt')

_INSERT = {
    'sqlite': 'INSERT OR IGNORE INTO cron_history '
              '(task, schedule, fire_time, attempt, started, status, message, '
              'runner, heartbeat) '
              'VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)',
    'postgres': 'INSERT INTO cron_history '
                '(task, schedule, fire_time, attempt, started, status, '
                'message, runner, heartbeat) '
                'VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) '
                'ON CONFLICT DO NOTHING',
    'mysql': 'INSERT IGNORE INTO cron_history '
             '(task, schedule, fire_time, attempt, started, status, message, '
             'runner, heartbeat) '
             'VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)',
}


# SQLite (3.35+) and PostgreSQL tell which rows of one multi-row INSERT
# were inserted: a batch of claims costs one statement, not two round
# trips per claim (PostgreSQL, 100 claims: 16 ms -> 2 ms on this machine).
_INSERT_RETURNING = {
    'sqlite': 'INSERT OR IGNORE INTO cron_history '
              '(task, schedule, fire_time, attempt, started, status, message, '
              'runner, heartbeat) VALUES %s '
              'RETURNING id, task, schedule, fire_time, attempt',
    # One array a column (see `_pg_texts`): the placeholders are not
    # repeated.
    'postgres': 'INSERT INTO cron_history '
                '(task, schedule, fire_time, attempt, started, status, '
                'message, runner, heartbeat) '
                'SELECT t, s, f, a, b, st, m, %s, %s FROM unnest('
                '%s::text[], %s::text[], %s::bigint[], %s::integer[], '
                '%s::bigint[], %s::text[], %s::text[]) AS v(t, s, f, a, b, '
                'st, m) '
                'ON CONFLICT DO NOTHING '
                'RETURNING id, task, schedule, fire_time, attempt',
}
if sqlite3.sqlite_version_info < (3, 35, 0):
    del _INSERT_RETURNING['sqlite']
_ROW_PLACEHOLDERS = '(%s, %s, %s, %s, %s, %s, %s, %s, %s)'
#: Claims per multi-row INSERT (9 parameters each; SQLite allows 999).
_BATCH = 100


def runner_id():
    """This process: `host:pid/token`. `host:pid` is for people; the token
    tells apart processes of hosts (or containers) that share a host name
    and of PID namespaces, in which pids repeat: its first six digits
    name the namespace (boot id and PID-namespace inode), the last four
    are drawn once per process, so a pid used again is another runner."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:   # first call, or forked
        _identity = (pid, '%s:%d/%s%s' % (socket.gethostname(), pid,
                                          namespace_token(),
                                          os.urandom(2).hex()))
    return _identity[1]


_identity = None


def namespace_token(boot_id=None, pidns=None):
    """Six hex digits naming this machine's boot and PID namespace: two
    processes with the same token see the same pids."""
    if boot_id is None:
        try:
            with open('/proc/sys/kernel/random/boot_id') as f:
                boot_id = f.read().strip()
        except OSError:
            boot_id = ''
    if pidns is None:
        try:
            pidns = os.stat('/proc/self/ns/pid').st_ino
        except OSError:
            pidns = 0
    return hashlib.sha1(('%s/%s' % (boot_id, pidns)).encode()).hexdigest()[:6]


def parse_runner(runner):
    """`(host, pid, namespace token)` of a runner id; pid and token are
    `None` when the id does not carry them (ids written by older versions
    are `host:pid`, without a token)."""
    name, _, token = (runner or '').partition('/')
    host, _, pid = name.rpartition(':')
    if not (pid.isascii() and pid.isdigit()):
        return name, None, None
    return host, int(pid), token[:6] or None


def _dialect(env):
    scheme = DatabaseManager(env).connection_uri.split(':', 1)[0]
    return 'postgres' if scheme == 'postgresql' else scheme


class Row(collections.namedtuple('Row', _COLUMNS)):
    """One row of `cron_history`; times in µs since the epoch (UTC)."""

    @property
    def going(self):
        """Whether the run goes on: `running`, or `timeout` (past its
        time limit) and not ended yet."""
        return is_going(self.status, self.ended)

    @property
    def duration(self):
        if self.started is None or self.ended is None:
            return None
        return seconds(self.ended - self.started)


class Claim(object):
    """A row to insert: an occurrence about to run, or one recorded as
    `skipped` or `missed`. `id` is set when the insert won.

    With `max_instances`, a `running` claim is checked against the runs
    going on in the same transaction as the insert: too many (of this
    process only when `local`) make it `skipped`, or, with `refuse`
    (manual runs), `refused` and not inserted at all. With `defer` (a
    claim made ahead of its time, while the run that holds it back may
    still end in time), it is `deferred` and not inserted: the ticker
    claims it again closer to its time."""

    __slots__ = ('task', 'schedule', 'fire_time', 'started', 'status',
                 'message', 'id', 'max_instances', 'local', 'refuse',
                 'attempt', 'defer')

    def __init__(self, task, schedule, fire_time, started, status='running',
                 message='', max_instances=None, local=False, refuse=False,
                 attempt=1, defer=False):
        self.task = task
        self.schedule = schedule
        self.fire_time = fire_time
        self.attempt = attempt
        self.started = started
        self.status = status
        self.message = storable(message)
        self.id = None
        self.max_instances = max_instances
        self.local = local
        self.refuse = refuse
        self.defer = defer


def claim_key(claim):
    """The order in which claims are inserted (their unique key)."""
    return claim.task, claim.schedule, claim.fire_time, claim.attempt


class Chunk(list):
    """Claims in key order (`claim_key`), claimed together: on PostgreSQL
    the literals of their keys' arrays are made once, however often the
    chunk is claimed or counted (`claimed_counts`)."""

    _arrays = None

    def key_arrays(self):
        if self._arrays is None:
            self._arrays = _pg_columns(self, _KEY_COLUMNS, 'ttii')
        return self._arrays


#: Attempts of a claim that the database aborted to break a deadlock.
CLAIM_ATTEMPTS = 5


def claim(env, claims, runner, now, busy=False, ended=None):
    """Insert `claims` in one transaction. Sets `id` on each claim whose
    row was inserted; a claim whose key exists already (another process
    won it) keeps `id = None`. Returns the claims that were won. With
    `busy`, returns `None` (nothing done) rather than wait when another
    process claims some of these tasks at that moment (PostgreSQL).

    `ended(tasks)`, when given, returns the keys (`claim_key`) of
    `runner`'s runs of `tasks` whose task has returned, their outcome
    not written yet (`RunRegistry.ended`): their rows, going on still,
    no longer take a place of `max_instances`.

    Rows are inserted in key order, so that processes claiming the same
    occurrences lock the index in the same order; a transaction the
    database still aborts as a deadlock victim is tried again. A `Chunk`
    is in key order already."""
    if not isinstance(claims, Chunk):
        claims = Chunk(sorted(claims, key=claim_key))
    initial = [(c.status, c.message, c.started) for c in claims]
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            return _claim(env, claims, runner, now, busy, ended)
        except Exception as e:
            for c, (status, message, started) in zip(claims, initial):
                c.id = None
                c.status, c.message, c.started = status, message, started
            if attempt + 1 == CLAIM_ATTEMPTS or not _is_deadlock(e):
                raise
            env.log.debug('TracCron: claim aborted by the database (%s), '
                          'trying again', e)
            time.sleep(random.uniform(0.001, 0.01))


def claimed_counts(env, groups):
    """How many claims of each of `groups` (`Chunk`s) have a row
    already, in one read; `None` when the database cannot tell so at
    once (only PostgreSQL does)."""
    if _dialect(env) != 'postgres' or not groups:
        return None
    arrays = [group.key_arrays() for group in groups]
    # The groups' literals joined (`{a,b}` and `{c}` make `{a,b,c}`).
    keys = tuple('{%s}' % ','.join(a[i][1:-1] for a in arrays
                                   if len(a[i]) > 2)
                 for i in range(len(_KEY_COLUMNS)))
    index = [n for n, group in enumerate(groups) for _ in group]
    counts = [0] * len(groups)
    # In a transaction of its own: no snapshot outlives this read.
    with env.db_transaction as db:
        for n, count in db(
                "SELECT k.n, count(*) FROM unnest(%s::text[], %s::text[], "
                "%s::bigint[], %s::integer[], %s::integer[]) AS "
                "k(task, schedule, fire_time, attempt, n) JOIN cron_history "
                "h USING (task, schedule, fire_time, attempt) GROUP BY k.n",
                keys + (_pg_ints(index),)):
            counts[n] = count
    return counts


def _is_deadlock(e):
    """Whether `e` is the database aborting a transaction to break a
    deadlock or a serialization conflict (worth trying again at once).
    A lock held too long (SQLite's "database is locked", MySQL's lock
    wait timeout) is not: the ticker keeps the occurrences due and tries
    again later, rather than waiting out the busy timeout five times."""
    code = getattr(e, 'pgcode', None)
    if code in ('40001', '40P01'):
        return True
    args = getattr(e, 'args', ())
    return bool(args) and args[0] == 1213  # MySQL: deadlock


def _claim(env, claims, runner, now, busy=False, ended=None):
    dialect = _dialect(env)
    # PostgreSQL: the arrays of the claims' keys serve both statements.
    columns = claims.key_arrays() if dialect == 'postgres' else None
    with env.db_transaction as db:
        lost = ()
        if any(c.max_instances for c in claims):
            lost = _limit_instances(db, claims, runner, dialect, busy,
                                    columns, ended)
            if lost is None:
                return None
        inserted = [c for c in claims if id(c) not in lost and
                    c.status not in ('refused', 'deferred')]
        if dialect in _INSERT_RETURNING:
            return _insert_returning(
                db, _INSERT_RETURNING[dialect], inserted, runner, now,
                dialect, columns if len(inserted) == len(claims) else None)
        sql = _INSERT[dialect]
        won = []
        cursor = db.cursor()
        for c in inserted:
            cursor.execute(sql, (c.task, c.schedule, c.fire_time, c.attempt,
                                 c.started, c.status, c.message, runner,
                                 now))
            if cursor.rowcount == 1:
                c.id = db.get_last_id(cursor, 'cron_history')
                won.append(c)
        return won


def _limit_instances(db, claims, runner, dialect, busy=False,
                     columns=None, ended=None):
    """Decide the `running` claims that `max_instances` holds back, from
    the runs going on; returns the ids of the claims whose occurrence is
    claimed already (lost). The transaction first takes a lock that makes
    the claims of all processes for the same task count and insert one
    after the other, so two of them never both see a free place (two
    schedules of one task firing at the same instant): on PostgreSQL, a
    lock per task (claims of other tasks go on meanwhile; with `busy`,
    returns `None` at once when another transaction holds one of them);
    elsewhere, the write lock of the schema version row."""
    tasks = set(c.task for c in claims if c.max_instances)
    if dialect == 'postgres':
        keys = sorted(set(map(_lock_key, tasks)))
        # A claim whose row exists is lost, locks or not. When all are
        # (the chunk that another process has just claimed), nothing more
        # is read: the lock is tried and the rows counted in one statement.
        mine = columns or _pg_columns(claims, _KEY_COLUMNS, 'ttii')
        if busy:
            for taken, claimed in db(
                    "SELECT (SELECT bool_and(pg_try_advisory_xact_lock(%s, "
                    "k)) FROM unnest(%s::integer[]) AS k), " + _CLAIMED,
                    (_LOCK_CLASS, _pg_ints(keys)) + mine):
                if claimed == len(claims):
                    return set(map(id, claims))
                if not taken:
                    return None
        else:
            for claimed, in db("SELECT " + _CLAIMED, mine):
                if claimed == len(claims):
                    return set(map(id, claims))
            # In one order in every process: no deadlock.
            db("SELECT pg_advisory_xact_lock(%s, k) FROM "
               "unnest(%s::integer[]) AS k ORDER BY k",
               (_LOCK_CLASS, _pg_ints(keys)))
    else:
        db("UPDATE system SET value=value WHERE name=%s", (VERSION_NAME,))
    # Asked before the runs going on are read: an outcome written in
    # between is in one or the other.
    done = ended(tasks) if ended is not None else ()
    going = _going(db, tasks, dialect)
    counts = _counts(going, runner, done)
    lost = set()
    for c in claims:
        if c.status != 'running' or not c.max_instances:
            continue
        total, mine = counts.get(c.task, (0, 0))
        if claim_key(c) in going:
            # The occurrence itself, claimed by another process already:
            # lost (not deferred or skipped), and not inserted.
            lost.add(id(c))
            continue
        if (mine if c.local else total) >= c.max_instances:
            if c.defer:
                c.status = 'deferred'
            elif c.refuse:
                c.status = 'refused'
                c.message = 'already running (max_instances = %d)' \
                    % c.max_instances
            else:
                c.status = 'skipped'
                c.started = None
                c.message = ('the previous run was still going '
                             '(max_instances = %d)' % c.max_instances)
        else:
            counts[c.task] = (total + 1, mine + 1)
    return lost


#: The attributes of a claim that make its key (`claim_key`).
_KEY_COLUMNS = ('task', 'schedule', 'fire_time', 'attempt')
#: The first key of TracCron's advisory locks on PostgreSQL ("TCro").
_LOCK_CLASS = 0x5443726f
#: How many of the claims (four arrays: tasks, schedules, fire times,
#: attempts) have a row already (PostgreSQL).
_CLAIMED = ("(SELECT count(*) FROM cron_history WHERE "
            "(task, schedule, fire_time, attempt) IN (SELECT * FROM "
            "unnest(%s::text[], %s::text[], %s::bigint[], %s::integer[])))")


@functools.lru_cache(maxsize=65536)
def _lock_key(task):
    """The second key of the advisory lock of `task`: 32 bits of its
    SHA-1 (two tasks that share it only wait for each other)."""
    return int.from_bytes(hashlib.sha1(task.encode('utf-8')).digest()[:4],
                          'big', signed=True)


def _insert_returning(db, sql, claims, runner, now, dialect,
                      columns=None):
    won = set()
    cursor = db.cursor()
    size = len(claims) if dialect == 'postgres' else _BATCH
    for first in range(0, len(claims), size or 1):
        batch = claims[first:first + size]
        if dialect == 'postgres':
            cursor.execute(sql, (runner, now) + (
                columns or _pg_columns(batch, _KEY_COLUMNS, 'ttii')) +
                _pg_columns(batch, ('started', 'status', 'message'), 'itt'))
        else:
            # Only placeholders are repeated: the values stay parameters.
            values = ', '.join([_ROW_PLACEHOLDERS] * len(batch))
            params = []
            for c in batch:
                params += [c.task, c.schedule, c.fire_time, c.attempt,
                           c.started, c.status, c.message, runner, now]
            cursor.execute(sql % values, params)
        inserted = dict(((task, schedule, fire, attempt), id) for id, task,
                        schedule, fire, attempt in cursor.fetchall())
        for c in batch:
            id = inserted.pop((c.task, c.schedule, c.fire_time, c.attempt),
                              None)
            if id is not None:
                c.id = id
                won.add(id)
    return [c for c in claims if c.id in won]


def running_counts(db, runner, tasks=None):
    """Return `{task: (running anywhere, running in process `runner`)}`
    (of `tasks` only, when given); `db` is a connection or an
    environment."""
    return _counts(_going(db, tasks), runner)


def _going(db, tasks=None, dialect=None):
    """`{(task, schedule, fire_time, attempt): runner}` of the runs going
    on (of `tasks` only, when given)."""
    where, params = GOING, ()
    if tasks is not None and dialect == 'postgres':
        params = (_pg_texts(sorted(tasks)),)
        where += ' AND task = ANY(%s::text[])'
    elif tasks is not None and len(tasks) <= _BATCH * 5:
        params = sorted(tasks)
        where += ' AND task IN (%s)' % ', '.join(['%s'] * len(params))
    return dict(((task, schedule, fire, attempt), runner)
                for task, schedule, fire, attempt, runner in getattr(
                    db, 'db_query', db)(
                        "SELECT task, schedule, fire_time, attempt, runner "
                        "FROM cron_history WHERE " + where, params))


def _counts(going, runner, done=()):
    """`{task: (runs going on, of them `runner`'s)}` from `going`, but
    for the runs of `runner` whose keys are in `done` (ended)."""
    counts = {}
    for key, row_runner in going.items():
        if row_runner == runner and key in done:
            continue
        total, mine = counts.get(key[0], (0, 0))
        counts[key[0]] = (total + 1, mine + (row_runner == runner))
    return counts


def running_rows(env, runners=None):
    """Return `[(id, runner, heartbeat)]` of the runs going on (past
    their time limit or not), of `runners` only when given."""
    where, params = GOING, ()
    if runners is not None:
        params = sorted(runners)
        where += ' AND runner IN (%s)' % ', '.join(['%s'] * len(params))
    return env.db_query("SELECT id, runner, heartbeat FROM cron_history "
                        "WHERE " + where + " ORDER BY id", params)


def going_runners(env):
    """The runners that have runs going on."""
    return [runner for runner, in env.db_query(
        "SELECT DISTINCT runner FROM cron_history WHERE " + GOING)]


def interrupt(env, marks, now):
    """Record runs as `interrupted`: `marks` is `[(id, heartbeat,
    message)]`; a row is marked only while its run is still going on
    (past its time limit or not) with that heartbeat value (`None`: any),
    so a run whose process just showed that it lives is left alone.
    Returns the ids marked."""
    marked = []
    with env.db_transaction as db:
        cursor = db.cursor()
        mark = ("UPDATE cron_history SET status='interrupted', ended=%s, "
                "message=%s WHERE id=%s AND " + GOING)
        for id, beat, message in sorted(marks, key=lambda m: m[0]):
            if beat is None:
                cursor.execute(mark, (now, message, id))
            else:
                cursor.execute(mark + " AND heartbeat=%s",
                               (now, message, id, beat))
            if cursor.rowcount == 1:
                marked.append(id)
    return marked


def unretried_failures(env, tasks, since):
    """The failed attempts of `tasks` that ended after `since` (µs) and
    whose next attempt has no row: `[(task, schedule, fire_time, attempt,
    ended)]`."""
    if not tasks:
        return []
    return env.db_query("""
        SELECT h.task, h.schedule, h.fire_time, h.attempt, h.ended
        FROM cron_history h
        WHERE (h.status='failure' OR h.status='timeout' AND
               h.outcome='failure')
          AND h.ended>=%%s AND h.task IN (%s)
          AND h.attempt IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM cron_history n
                          WHERE n.task=h.task AND n.schedule=h.schedule
                            AND n.fire_time=h.fire_time
                            AND n.attempt=h.attempt+1)
        ORDER BY h.id
        """ % ', '.join(['%s'] * len(tasks)), [since] + list(tasks))


def last_fire_times(env):
    """Return `{(task, schedule): latest fire_time}` over the history."""
    return dict(((task, schedule), fire) for task, schedule, fire in
                env.db_query("""
                    SELECT task, schedule, MAX(fire_time) FROM cron_history
                    GROUP BY task, schedule
                    """))


def finish(env, id, ended, status, message='', started=None):
    """Complete the row of a run with its outcome (and the instant the
    task really started, when given); returns once it is committed, and
    raises the database's error when it could not be written.

    A row that another process marked `interrupted` (it took the run for
    dead) gets the real outcome all the same; its message keeps a note of
    that mark. A row marked `timeout` (`mark_timeout`) stays `timeout`:
    the real outcome is added to its message, after its duration.

    The runs of one process that end together are written together by
    its run registry (`dispatcher.RunRegistry.finish`), with
    `finish_all`."""
    finish_all(env, [(id, ended, status, message, started)])


def finish_all(env, rows):
    """Complete the rows of many runs in one transaction: `rows` is
    `[(id, ended, status, message, started)]` (see `finish`). Raises the
    database's error when it failed: then none is written."""
    _write_outcomes(env, [[started, ended, status, storable(message), ended,
                           id]
                          for id, ended, status, message, started in rows])


def _write_outcomes(env, outcomes):
    """Write `outcomes`, `[[started, ended, status, message, heartbeat,
    id]]`, in one transaction."""
    # The notes below go into copies: a transaction that fails and is
    # tried again starts from the outcomes as they were.
    by_id = dict((args[-1], list(args)) for args in outcomes)
    outcome = dict((id, args[2]) for id, args in by_id.items())
    ids = sorted(by_id)
    dialect = _dialect(env)
    pg = dialect == 'postgres'
    with env.db_transaction as db:
        for chunk in [ids] if pg else _chunks(ids):
            for id, status, ended, started, message in db("""
                    SELECT id, status, ended, started, message
                    FROM cron_history WHERE %s AND
                      (status='interrupted' OR
                       (status='timeout' AND ended IS NULL))
                    """ % ('id = ANY(%s::integer[])' if pg else 'id IN (%s)'
                           % ', '.join(['%s'] * len(chunk))),
                    (_pg_ints(chunk),) if pg else chunk):
                args = by_id[id]
                if status == 'timeout':
                    _after_timeout(args, started, message)
                    continue
                env.log.warning('TracCron: run %d had been marked '
                                'interrupted, and it ended after all: '
                                '%s', id, args[2])
                args[3] = '\n'.join(filter(None, [
                    args[3], '(marked interrupted at %s before it ended: '
                    '%s)' % (_iso(ended), message)]))
        values = [by_id[id][:5] + [outcome[id], id] for id in ids]
        cursor = db.cursor()
        if pg:
            # One statement for the lot (psycopg2 sends an executemany as
            # one round trip per row: 1,000 outcomes took ~150 ms).
            cursor.execute(_UPDATE_ARRAYS, _pg_arrays(zip(*values),
                                                      'iittiti'))
            written = cursor.rowcount
        else:
            cursor.executemany("""
                UPDATE cron_history SET
                  started=COALESCE(%s, started), ended=%s,
                  status=%s, message=%s, heartbeat=%s, outcome=%s
                WHERE id=%s AND (status='interrupted' OR """ + GOING + ")",
                values)
            written = cursor.rowcount
        if written == len(ids):
            return
        for chunk in _chunks(ids):
            gone = set(chunk) - set(id for id, in db(
                "SELECT id FROM cron_history WHERE id IN (%s)"
                % ', '.join(['%s'] * len(chunk)), chunk))
            for id in sorted(gone):
                env.log.warning('TracCron: run %d ended %s, but its row '
                                'had been deleted meanwhile (Clear history '
                                'or purge): its outcome is not in the '
                                'history', id, by_id[id][2])


def _chunks(ids):
    return [ids[first:first + _BATCH] for first in range(0, len(ids), _BATCH)]


# The outcomes of many runs in one UPDATE (PostgreSQL), a column an array.
_UPDATE_ARRAYS = """
    UPDATE cron_history SET
      started=COALESCE(v_started, started), ended=v_ended, status=v_status,
      message=v_message, heartbeat=v_heartbeat, outcome=v_outcome
    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[],
                %s::bigint[], %s::text[], %s::integer[])
      AS v(v_started, v_ended, v_status, v_message, v_heartbeat, v_outcome,
           v_id)
    WHERE id=v_id AND (status='interrupted' OR """ + GOING + ")"


# Arrays as one parameter each (PostgreSQL) --------------------------------
#
# psycopg2 adapts each value of a list, and each parameter, for 0.6 to
# 0.8 µs: a chunk of 100 claims took ~700 µs of CPU before it was sent.
# The text of an array literal, made here, takes ~0.15 µs a value.

def _pg_texts(values):
    """The literal of a PostgreSQL `text[]` of `values` (str or
    `None`)."""
    values = list(values)
    if values and None not in values:
        joined = ''.join(values)
        if '"' not in joined and '\\' not in joined:
            return '{"%s"}' % '","'.join(values)    # nothing to escape
    return '{%s}' % ','.join([
        'NULL' if v is None else
        '"%s"' % v.replace('\\', '\\\\').replace('"', '\\"')
        for v in values])


def _pg_ints(values):
    """The literal of a PostgreSQL integer array of `values` (int or
    `None`)."""
    values = list(values)
    if None not in values:
        return '{%s}' % ','.join(map(str, map(int, values)))
    return '{%s}' % ','.join(['NULL' if v is None else str(int(v))
                              for v in values])


def _pg_arrays(columns, kinds):
    """One array literal for each of `columns` (iterables of values);
    `kinds` says of each whether it is text (`t`) or an integer (`i`).
    Fewer columns than kinds (no row at all): empty arrays."""
    columns = list(columns) or [()] * len(kinds)
    return tuple((_pg_texts if kind == 't' else _pg_ints)(column)
                 for column, kind in zip(columns, kinds))


def _pg_columns(rows, names, kinds):
    """`_pg_arrays` of the attributes `names` of `rows`."""
    return _pg_arrays(zip(*map(operator.attrgetter(*names), rows)), kinds)


def _after_timeout(args, started, message):
    """Make the outcome `args` of a run marked `timeout` keep that status,
    and its row's `message`, followed by the real outcome."""
    started = started if args[0] is None else args[0]
    took = 'finished after %s s: %s' % (
        format_seconds(seconds(args[1] - started)), args[2])
    args[2] = 'timeout'
    args[3] = '\n'.join(filter(None, [message, took, args[3]]))


def format_seconds(value):
    """`value` seconds to a tenth, with thousands separators and without a
    needless `.0`: `3`, `1.2`, `1,830`."""
    text = '{:,.1f}'.format(value)
    return text[:-2] if text.endswith('.0') else text


def mark_timeout(env, id, message):
    """Record the run of row `id`, still going, as `timeout` with
    `message` (it went past its time limit). Its `ended` stays empty
    until it ends (`finish`). Returns whether the row was marked: not
    when it ended meanwhile, or another process took it for dead."""
    with env.db_transaction as db:
        cursor = db.cursor()
        cursor.execute("""
            UPDATE cron_history SET status='timeout', message=%s
            WHERE id=%s AND status='running'
            """, (storable(message), id))
        return cursor.rowcount == 1


def storable(message):
    """`message` as every database takes it: an undecodable byte kept by
    `surrogateescape` (a file name) becomes `\\udcxx`, a NUL `\\x00`."""
    if not message:
        return message
    return message.encode('utf-8', 'backslashreplace').decode('utf-8') \
        .replace('\0', '\\x00')


def _iso(us):
    if us is None:
        return 'an unknown time'
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(seconds(us)))


def heartbeat(env, ids, value):
    """Tell other processes that the runs `ids` are still going: their
    heartbeat takes `value`, which must differ from the last one (it is
    compared, never read as a time)."""
    with env.db_transaction as db:
        for id in ids:
            db("UPDATE cron_history SET heartbeat=%s WHERE id=%s AND " +
               GOING, (value, id))


def purge(env, before):
    """Delete the rows of runs (or occurrences) older than `before` µs,
    and their captured logs."""
    with env.db_transaction as db:
        db("DELETE FROM cron_history WHERE NOT " + GOING + """ AND
                (started<%s OR (started IS NULL AND fire_time<%s))
              """, (before, before))
        _purge_logs(db)


def _purge_logs(db):
    """Delete the captured logs (`traccron.capture`) of the runs no longer
    in the history."""
    db("""DELETE FROM cron_log WHERE NOT EXISTS
          (SELECT 1 FROM cron_history WHERE cron_history.id=cron_log.run_id)
          """)


def clear(env, keep_after=None):
    """Delete every finished row but those of scheduled occurrences after
    `keep_after` (µs; default: the last `misfire_grace`): the rows of runs
    going on and recent ones are the claims that keep a lagging process
    from running an occurrence again."""
    if keep_after is None:
        grace = CronConfig(env).misfire_grace
        keep_after = now_us() - (grace + 1) * SECOND
    with env.db_transaction as db:
        db("DELETE FROM cron_history WHERE NOT " + GOING + """ AND
                (fire_time<%s OR schedule IN ('manual', 'external'))
              """, (keep_after,))
        _purge_logs(db)


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


def latest(env, tasks, limit, messages=True):
    """The `limit` latest rows of each of `tasks`, newest first: a dict
    task -> rows. One query per task on the (task, id) index, over one
    connection (a windowed query over every task would read the whole
    table). Without `messages`, their `message` is `None` (tracebacks
    and logs are not read)."""
    columns = ', '.join(c if messages or c != 'message' else 'NULL'
                        for c in _COLUMNS)
    sql = 'SELECT %s FROM cron_history WHERE task=%%s ' \
          'ORDER BY id DESC LIMIT %%s' % columns
    with env.db_query as db:
        cursor = db.cursor()
        result = {}
        for task in tasks:
            cursor.execute(sql, (task, int(limit)))
            result[task] = [Row(*r) for r in cursor.fetchall()]
    return result


def last_success(env, task):
    """When `task` last succeeded (µs: its end, or its scheduled time), or
    `None`. A run past its time limit that succeeded in the end counts."""
    # The CASE keeps SQLite off the (status, id) index, which walks every
    # success of every task since this one's last: for a task overdue
    # behind 100,000 successes of others, 60 ms a query instead of
    # 0.02 ms on the (task, id) index.
    for ended, fire in env.db_query("""
            SELECT ended, fire_time FROM cron_history
            WHERE task=%s AND CASE WHEN status='success' OR
              (status='timeout' AND outcome='success') THEN 1 END=1
            ORDER BY id DESC LIMIT 1
            """, (task,)):
        return ended or fire
    return None


def success_overdue(env, task, alert_after, now, succeeded):
    """Whether `task`, which `last_success` says `succeeded` then, had no
    successful run for `alert_after` µs at `now`: counted from that
    success, or from its first row when none succeeded; a task that never
    had a row is not overdue. The rule of `TASK.alert_after`, for `cron
    status` and the Overview."""
    if not alert_after:
        return False
    since = overdue_since(env, task, succeeded)
    return since is not None and now - since > alert_after


def overdue_since(env, task, succeeded):
    """The instant (µs) from which the time without success of `task`
    counts: `succeeded` (its last success), or the time of its first row
    when it never succeeded; `None` when it never had a row."""
    if succeeded is not None:
        return succeeded
    for fire, in env.db_query("""
            SELECT fire_time FROM cron_history WHERE task=%s
            ORDER BY id LIMIT 1""", (task,)):
        return fire
    return None


def count(env, task=None, status=None):
    where, args = _where(task, status)
    return env.db_query('SELECT COUNT(*) FROM cron_history' + where,
                        args)[0][0]


def timeline(env, start, stop, statuses):
    """The rows with a status among `statuses` of the Timeline between
    µs `start` and `stop`: the finished runs that started then (the index
    on `started`) and, with `missed`, the occurrences due then that were
    missed (the index on `status`); newest first."""
    statuses = [s for s in statuses if s in STATUSES]
    finished = [s for s in statuses if s not in ('running', 'missed')]
    columns = ', '.join(_COLUMNS)
    rows = []
    if finished:
        rows += env.db_query(
            'SELECT %s FROM cron_history WHERE started>=%%s AND '
            'started<=%%s AND ended IS NOT NULL AND status IN (%s)'
            % (columns, ', '.join(['%s'] * len(finished))),
            [start, stop] + finished)
    if 'missed' in statuses:
        rows += env.db_query(
            "SELECT %s FROM cron_history WHERE status='missed' AND "
            "fire_time>=%%s AND fire_time<=%%s" % columns, (start, stop))
    rows = [Row(*r) for r in rows]
    rows.sort(key=lambda r: (r.started or r.fire_time, r.id), reverse=True)
    return rows


def get(env, id):
    rows = env.db_query('SELECT %s FROM cron_history WHERE id=%%s'
                        % ', '.join(_COLUMNS), (id,))
    return Row(*rows[0]) if rows else None


def _us(secs):
    return None if secs is None else int(round(secs * SECOND))


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
                  ended, status, message, runner, heartbeat, attempt)
                VALUES (%s, 'external', %s, %s, %s, %s, '', %s, %s, 1)
                """, (task_id, start_us, start_us, _us(end),
                      'success' if success else 'failure', runner_id(),
                      _us(end)))

    def getExecution(self, task=None, fromTime=None, toTime=None,
                     sucess=None, success=None):
        task_id, success = compat.store_filters(task, sucess,
                                                       success)
        status = None if success is None else \
            ('success' if success else 'failure')
        by_id = dict((t.getId(), t) for t in self.tasks)
        rows = query(self.env, task=task_id, status=status,
                     from_time=_us(fromTime), to_time=_us(toTime))
        return [(by_id.get(r.task, r.task), seconds(r.started),
                 seconds(r.ended), r.status == 'success')
                for r in reversed(rows)
                if r.status in ('success', 'failure')]

    def clear(self):
        clear(self.env)
