# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Every run ends with its real outcome, under the faults of a production
Trac, seen from outside: real `trac-admin ENV cron ticker` processes,
tracd, and only what they leave in `cron_history` and in files.

Manual runs longer than `lease_seconds`, `SystemExit` from a task, an
SQLite file locked past Trac's busy timeout, a PostgreSQL database that
refuses connections for 8 s, a second ticker whose clock is 10 minutes
ahead (libfaketime) or that lives in its own PID namespace (unshare), a
soak of all of it with SIGKILLs, and a double "Run now" from the web."""

import base64
import collections
import contextlib
import glob
import http.cookiejar
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

import pytest

from browser_support import write_htpasswd
from databases import POSTGRES, _pg_connect, fresh_database, skip_unless
from support import wait_for
from test_cluster import Cluster, make_cluster_env
from tracd import (BIN, PLUGIN_HEAD, S, Tracd, clean_environ, executions,
                   occurrences, reap, report, runner_pid, trac_admin)

UTC = timezone.utc

# Tasks dropped into the environment's plugins/ beside test_cluster's. The
# ones the soak counts note their runs (see PLUGIN_HEAD).
FAULT_TASKS = PLUGIN_HEAD + '''
import random, sys

class Slow(PluginTask):
    """sleeps as long as its argument says (3 s without one)"""
    task_id = 'slow'
    def wake_up(self, *args):
        time.sleep(float(args[0]) if args else 3)

class Exits(PluginTask):
    """calls sys.exit(3)"""
    task_id = 'exits'
    def wake_up(self, *args):
        sys.exit(3)

class Tick(PluginTask):
    """no-op"""
    task_id = 'tick'
    def wake_up(self, *args):
        note(self.env, 'tick')

class Flaky(PluginTask):
    """fails three times out of ten"""
    task_id = 'flaky'
    def wake_up(self, *args):
        note(self.env, 'flaky')
        if random.random() < 0.3:
            raise RuntimeError('flaky failed this time')

class Sleepy(PluginTask):
    """sleeps 1.5 s three times out of ten"""
    task_id = 'sleepy'
    def wake_up(self, *args):
        note(self.env, 'sleepy')
        if random.random() < 0.3:
            time.sleep(1.5)
'''

# Another process holding the SQLite file: `BEGIN EXCLUSIVE` (in Trac's
# rollback journal mode, readers are locked out too) for argv[2] seconds.
LOCKER = '''
import sqlite3, sys, time
cnx = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
cnx.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(float(sys.argv[2]))
cnx.execute('COMMIT')
print('released', flush=True)
'''

# For argv[2] seconds: every 1 to 4 s, an exclusive lock of 0.2 to
# argv[3] seconds. Prints how many and how long in all.
LOCKER_LOOP = '''
import random, sqlite3, sys, time
cnx = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
end = time.time() + float(sys.argv[2])
locks, held = 0, 0.0
while time.time() < end:
    time.sleep(random.uniform(1, 4))
    cnx.execute('BEGIN EXCLUSIVE')
    start = time.time()
    time.sleep(random.uniform(0.2, float(sys.argv[3])))
    cnx.execute('COMMIT')
    locks += 1
    held += time.time() - start
print('%d locks, %.1f s held' % (locks, held), flush=True)
'''

# libfaketime 0.9.10 (Debian 12) turns Python 3.11's time.sleep, a
# clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), into EINVAL, and hangs
# timed waits when it also fakes the monotonic clock (libfaketime issues
# 426 and 390). The ticker under faketime is given a sitecustomize that
# sleeps through select() instead, and its monotonic clock is left alone:
# only its wall clock is ahead, as on a host whose clock is wrong.
FAKETIME_SITE = '''
import select, time

def _sleep(seconds):
    select.select([], [], [], seconds)

time.sleep = _sleep
'''
LIBFAKETIME = (glob.glob('/usr/lib/*/faketime/libfaketimeMT.so.1') +
               [None])[0]

#: Trac's SQLite busy timeout (`?timeout=` of the database URI, 10 s by
#: default) in these tests, so that a lock outlasting it stays short.
BUSY_TIMEOUT = 3

Row = collections.namedtuple('Row', 'id task schedule fire_time started '
                                    'ended status message runner heartbeat')

REFUSED = 'already running (max_instances = 1)'

#: [traccron] of the tests of an outage across fire instants: `tick` each
#: second; the occurrences delayed by the outage may run together.
TICKS = {
    'timezone': 'UTC',
    'misfire_grace': '30',
    'tick.cron': '0/1 * * * * ?',
    'tick.max_instances': '10',
}


class Tickers(Cluster):
    """`Cluster`'s tickers, which may also start under a wrapper command
    (`unshare`) or with more environment variables (libfaketime)."""

    def __init__(self, env_path, log_dir):
        super().__init__(env_path, log_dir)
        self.stopped = []

    def start(self, prefix=(), environ=None):
        n = len(self.procs) + len(self.killed) + len(self.stopped)
        log = open(os.path.join(self.log_dir, 'ticker-%d.log' % n), 'wb')
        env = clean_environ()
        env.update(environ or {})
        proc = subprocess.Popen(
            list(prefix) + [os.path.join(BIN, 'trac-admin'), self.env_path,
                            'cron', 'ticker'],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd='/')
        proc.log = log
        # The process that is the ticker (under unshare, its child).
        proc.ticker_pid = forked_child(proc.pid) if prefix else proc.pid
        self.procs.append(proc)
        return proc

    def stop(self):
        """SIGTERM to every ticker; their exit statuses."""
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.ticker_pid, signal.SIGTERM)
        for proc in self.procs:
            reap(proc, 40)
            proc.log.close()
        codes = [p.returncode for p in self.procs]
        self.stopped += self.procs
        self.procs = []
        return codes


def forked_child(pid, timeout=10):
    """The pid of the child that process `pid` forked."""
    path = '/proc/%d/task/%d/children' % (pid, pid)
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path) as f:
            children = f.read().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError('process %d forked no child' % pid)


def make_fault_env(tmp_path, egg, uri, section):
    env = make_cluster_env(tmp_path, egg, uri, section)
    with open(os.path.join(env.path, 'plugins', 'fault_tasks.py'),
              'w') as f:
        f.write(FAULT_TASKS)
    return env


def start_tickers(tickers, env, tmp_path, task, count=1):
    """Start `count` tickers on `env` and wait until one has claimed
    `task`; their `Tickers`."""
    cluster = tickers(env.path, tmp_path).start_all(count)
    wait_for_rows(env, task)
    return cluster


def history(env, task=None):
    sql = 'SELECT %s FROM cron_history' % ', '.join(Row._fields)
    args = ()
    if task:
        sql += ' WHERE task=%s'
        args = (task,)
    return [Row(*r) for r in env.db_query(sql + ' ORDER BY fire_time, id',
                                          args)]


def hms(us):
    return datetime.fromtimestamp(us / S, UTC).strftime('%H:%M:%S.%f')[:-3]


def brief(row):
    lines = (row.message or '').strip().splitlines()
    return (hms(row.fire_time), row.schedule, row.status,
            lines[-1][:80] if lines else '')


def wait_for_rows(env, task, seconds=30):
    """Wait until `task` has a row (a ticker is up and claiming)."""
    rows = wait_for(lambda: history(env, task), seconds, 0.2)
    assert rows, 'no ticker claimed %s within %d s' % (task, seconds)
    return rows


def settle(env, task, want, seconds):
    """Wait until each occurrence of `want` has a finished row, or for
    `seconds`."""
    def finished():
        try:
            rows = history(env, task)
        except Exception:       # the database may still be refusing
            return False
        done = set(r.fire_time for r in rows if r.status != 'running')
        return all(f in done for f in want)
    return wait_for(finished, seconds, 0.5)


def rows_at_each(name, rows, task, want):
    """The rows of `task` at each instant of `want` (µs); prints the
    counts."""
    at = collections.defaultdict(list)
    for r in rows:
        if r.task == task and r.schedule != 'manual':
            at[r.fire_time].append(r)
    found = [at.get(f, []) for f in want]
    counts = collections.Counter(len(rs) == 1 and rs[0].status or
                                 (rs and 'more than one row' or 'no row')
                                 for rs in found)
    counts['expected'] = len(want)
    report(name, counts)
    return found


def assert_one_row_each(want, found, statuses):
    absent = [hms(f) for f, rs in zip(want, found) if not rs]
    more = [[brief(r) for r in rs] for rs in found if len(rs) > 1]
    assert not absent and not more, \
        'occurrences without a row: %s; with several rows: %s' % (absent,
                                                                   more)
    wrong = [brief(rs[0]) for rs in found if rs[0].status not in statuses]
    assert not wrong, 'occurrences not ended %s: %s' % (
        ' or '.join(statuses), wrong)


def assert_none_running(rows):
    left = [brief(r) for r in rows if r.status == 'running']
    assert not left, 'rows left running: %s' % left


def assert_each_succeeded_once(name, rows, task, want):
    """`task` has one row at each instant of `want`, a `success`, and no
    row is left running; prints the counts under `name`."""
    found = rows_at_each(name, rows, task, want)
    assert_one_row_each(want, found, ('success',))
    assert_none_running(rows)


def sleep_until(instant):
    time.sleep(max(0, instant - time.time()))


class ExclusiveLock(object):
    """Another process holding the SQLite file of `env` exclusively for
    `seconds`: from `start()`, which returns once the lock is held, until
    `wait()` has returned."""

    def __init__(self, env, seconds):
        self.db = os.path.join(env.path, 'db', 'trac.db')
        self.seconds = seconds

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, '-c', LOCKER, self.db, str(self.seconds)],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == 'locked'
        self.locked = time.time()
        return self

    def wait(self):
        out = self.proc.communicate(timeout=self.seconds + 60)[0]
        assert self.proc.returncode == 0 and 'released' in out
        self.released = time.time()
        return self


@pytest.fixture
def tickers():
    """`Tickers(env_path, log_dir)`; whatever a failing test left running
    is killed after it."""
    made = []

    def make(env_path, log_dir):
        made.append(Tickers(env_path, log_dir))
        return made[-1]
    yield make
    for cluster in made:
        for proc in cluster.procs:
            if proc.poll() is None:
                proc.kill()     # under unshare, --kill-child does the rest
                proc.wait()
            proc.log.close()


@pytest.fixture(params=['sqlite', 'postgres'])
def fault_uri(request):
    skip_unless(request.param)
    with fresh_database(request.param) as uri:
        yield request.param, uri


# Manual runs are heartbeated like scheduled ones.

def test_manual_run_longer_than_the_lease_ends_success(tmp_path, egg,
                                                       fault_uri, tickers):
    kind, uri = fault_uri
    env = make_fault_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'lease_seconds': '6',
        'tick.cron': '0/1 * * * * ?'})
    cluster = start_tickers(tickers, env, tmp_path, 'tick')
    began = time.time()
    out = trac_admin(env.path, 'cron', 'run', 'slow', '15', check=False)
    took = time.time() - began
    assert cluster.stop() == [0]
    manual = history(env, 'slow')
    report('%s manual run of 15 s, lease 6 s' % kind,
           {'seconds': round(took, 1), 'exit status': out.returncode,
            'rows': len(manual)})
    assert [(r.schedule, r.status) for r in manual] == \
        [('manual', 'success')], [brief(r) for r in manual]
    assert manual[0].ended - manual[0].started >= 15 * S
    assert out.returncode == 0, out.stdout + out.stderr
    env.shutdown()


# SystemExit from a task is a failure like any exception.

def test_task_calling_sys_exit_fails_every_second(tmp_path, egg, fault_uri,
                                                  tickers):
    kind, uri = fault_uri
    env = make_fault_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'exits.cron': '0/1 * * * * ?'})
    cluster = start_tickers(tickers, env, tmp_path, 'exits')
    first = (int(time.time()) + 1) * S
    time.sleep(10)
    want = occurrences(first, (int(time.time()) - 1) * S, 1)
    settle(env, 'exits', want, 10)
    assert cluster.stop() == [0]
    rows = history(env, 'exits')
    found = rows_at_each('%s sys.exit(3) every second' % kind, rows, 'exits',
                         want)
    report('%s sys.exit(3) all rows' % kind,
           collections.Counter(r.status for r in rows))
    assert_none_running(rows)
    skipped = [brief(r) for r in rows if r.status == 'skipped']
    assert not skipped, 'rows skipped: %s' % skipped
    assert_one_row_each(want, found, ('failure',))
    silent = [brief(rs[0]) for rs in found
              if 'SystemExit' not in (rs[0].message or '')]
    assert not silent, 'failures without the SystemExit traceback: %s' % \
        silent
    env.shutdown()


# An SQLite file locked for longer than Trac's busy timeout.

def sqlite_uri():
    return 'sqlite:db/trac.db?timeout=%d' % BUSY_TIMEOUT


def test_sqlite_lock_across_fire_instants_loses_no_occurrence(tmp_path, egg,
                                                              tickers):
    env = make_fault_env(tmp_path, egg, sqlite_uri(), TICKS)
    cluster = start_tickers(tickers, env, tmp_path, 'tick')
    first = (int(time.time()) + 1) * S
    sleep_until(first / S + 1.5)
    lock = ExclusiveLock(env, BUSY_TIMEOUT + 3).start().wait()
    want = occurrences(first, (int(lock.released) + 2) * S, 1)
    settle(env, 'tick', want, 20)
    assert cluster.stop() == [0]
    rows = history(env)
    report('sqlite lock', {'held': round(lock.released - lock.locked, 1),
                           'from': hms(int(lock.locked * S)),
                           'busy timeout': BUSY_TIMEOUT})
    assert_each_succeeded_once('sqlite lock across fire instants', rows,
                               'tick', want)
    env.shutdown()


def test_sqlite_lock_across_the_end_of_a_run_keeps_its_outcome(tmp_path,
                                                               egg, tickers):
    env = make_fault_env(tmp_path, egg, sqlite_uri(), {
        'timezone': 'UTC',
        'misfire_grace': '30',
        'slow.cron': '0/10 * * * * ?',
        'slow.cron.arg': '2'})
    cluster = tickers(env.path, tmp_path)
    cluster.start()
    running = wait_for(lambda: [r for r in history(env, 'slow')
                                if r.status == 'running'],
                       30, 0.1)
    assert running, 'slow did not start within 30 s'
    fire = running[0].fire_time
    # Taken while the run sleeps, released 4 s after its end and before
    # the next occurrence.
    sleep_until(fire / S + 0.3)
    lock = ExclusiveLock(env, BUSY_TIMEOUT + 3).start()
    assert lock.locked < fire / S + 1.5, 'the lock came after the run'
    lock.wait()
    want = [fire, fire + 10 * S]
    settle(env, 'slow', want, 20)
    assert cluster.stop() == [0]
    rows = history(env)
    report('sqlite lock', {'held': round(lock.released - lock.locked, 1),
                           'from run start + s': round(
                               lock.locked - fire / S, 1),
                           'busy timeout': BUSY_TIMEOUT})
    assert_each_succeeded_once('sqlite lock across the end of a run', rows,
                               'slow', want)
    env.shutdown()


# A PostgreSQL database refusing connections for 8 s.

@contextlib.contextmanager
def dedicated_postgres():
    """A database of its own (`ALLOW_CONNECTIONS` is per database: the
    shared test database must never be switched off): its name, a Trac
    URI for it, and an autocommit connection to the server."""
    admin = _pg_connect()
    admin.autocommit = True
    name = 'traccron_outage_%s' % uuid.uuid4().hex[:12]
    url = urllib.parse.urlsplit(POSTGRES)
    try:
        with admin.cursor() as cursor:
            cursor.execute('CREATE DATABASE "%s"' % name)
        yield name, urllib.parse.urlunsplit(
            (url.scheme, url.netloc, '/' + name, '', '')), admin
    finally:
        with admin.cursor() as cursor:
            cursor.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS true'
                           % name)
            cursor.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)'
                           % name)
        admin.close()


def refuse_connections(admin, name, seconds):
    """Refuse every connection to database `name` for `seconds`, the open
    ones included; returns the error a new connection then met."""
    import psycopg2
    with admin.cursor() as cursor:
        cursor.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % name)
        cursor.execute("""SELECT pg_terminate_backend(pid)
                          FROM pg_stat_activity WHERE datname=%s""", (name,))
    start = time.time()
    url = urllib.parse.urlsplit(POSTGRES)
    try:
        psycopg2.connect(host=url.hostname, port=url.port or 5432,
                         user=url.username, password=url.password or '',
                         dbname=name, connect_timeout=3).close()
        refused = None
    except psycopg2.OperationalError as e:
        refused = str(e).strip()
    sleep_until(start + seconds)
    with admin.cursor() as cursor:
        cursor.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % name)
    return refused


def test_postgres_outage_across_fire_instants_loses_no_occurrence(tmp_path,
                                                                  egg,
                                                                  tickers):
    skip_unless('postgres')
    with dedicated_postgres() as (name, uri, admin):
        env = make_fault_env(tmp_path, egg, uri, TICKS)
        cluster = start_tickers(tickers, env, tmp_path, 'tick')
        env.shutdown()  # this test's own connections are not the point
        first = (int(time.time()) + 1) * S
        sleep_until(first / S + 1.5)
        began = time.time()
        refused = refuse_connections(admin, name, 8)
        ended = time.time()
        assert refused and 'not currently accepting connections' in \
            refused, 'the database did not refuse connections: %s' % refused
        want = occurrences(first, (int(ended) + 2) * S, 1)
        settle(env, 'tick', want, 20)
        codes = cluster.stop()
        rows = history(env)
        env.shutdown()
    report('postgres outage', {'seconds': round(ended - began, 1),
                               'from': hms(int(began * S))})
    assert_each_succeeded_once('postgres outage across fire instants', rows,
                               'tick', want)
    assert codes == [0]


# A second ticker must not interrupt the live run of the first: neither
# when its clock is ahead nor from another PID namespace.

def one_off(after):
    """A cron expression firing once, `after` s from now; its instant."""
    at = datetime.fromtimestamp(int(time.time()) + after, UTC)
    return at.strftime('%S %M %H %d %m ? %Y'), int(at.timestamp()) * S


def second_ticker_during_a_long_run(tmp_path, egg, uri, cluster_of,
                                    prefix=(), environ=None):
    """The first ticker starts `slow` (12 s, `lease_seconds = 5`); once it
    runs, a second ticker starts with `prefix` and `environ`. Returns the
    rows once both stopped, their processes and their exit statuses."""
    env = make_fault_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'lease_seconds': '5',
        'tick.cron': '0/1 * * * * ?',
        'tick.max_instances': '5',
        'slow.cron.arg': '12'})
    expression, fire = one_off(6)
    env.config.set('traccron', 'slow.cron', expression)
    env.config.save()
    cluster = cluster_of(env.path, tmp_path)
    first = cluster.start()
    running = wait_for(lambda: [r for r in history(env, 'slow')
                                if r.status == 'running'],
                       fire / S + 10 - time.time(), 0.2)
    assert running and runner_pid(running[0].runner) == first.pid, \
        'the first ticker did not start slow at %s: %s' % (
            hms(fire), [brief(r) for r in history(env, 'slow')])
    second = cluster.start(prefix, environ)
    sleep_until(fire / S + 13)
    wait_for(lambda: [r for r in history(env, 'slow')
                      if r.status != 'running'], 20, 0.5)
    codes = cluster.stop()
    rows = history(env)
    env.shutdown()
    return rows, first, second, codes


@pytest.mark.skipif(not LIBFAKETIME, reason='libfaketime not installed '
                    '(Debian: apt-get install faketime)')
def test_ticker_with_its_clock_ahead_does_not_interrupt_a_live_run(
        tmp_path, egg, fault_uri, tickers):
    kind, uri = fault_uri
    site = tmp_path / 'faketime-site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(FAKETIME_SITE)
    rows, first, second, codes = second_ticker_during_a_long_run(
        tmp_path, egg, uri, tickers, environ={
            'LD_PRELOAD': LIBFAKETIME, 'FAKETIME': '+600s',
            'FAKETIME_DONT_FAKE_MONOTONIC': '1', 'PYTHONPATH': str(site)})
    slow = [r for r in rows if r.task == 'slow']
    # The second ticker did run, 600 s ahead.
    ahead = [r for r in rows if r.task == 'tick' and r.status == 'success'
             and runner_pid(r.runner) == second.pid]
    latest = max([r.fire_time for r in ahead] or [0])
    report('%s clock 600 s ahead' % kind, {
        'its tick runs': len(ahead),
        'its latest ahead of slow by s': round(
            (latest - slow[0].fire_time) / S),
        'slow': [brief(r) for r in slow]})
    assert latest > slow[0].fire_time + 590 * S, \
        'the second ticker did not run 600 s ahead'
    assert [r.status for r in slow] == ['success'], \
        [brief(r) for r in slow]
    assert codes == [0, 0]


def _unshare_problem():
    """Why this machine cannot give a process a PID namespace of its own,
    or `None`."""
    if os.geteuid() != 0:
        return 'a PID namespace of its own needs root'
    try:
        probe = subprocess.run(['unshare', '--pid', '--fork', '--mount-proc',
                                'true'], capture_output=True, text=True)
    except OSError as e:
        return 'unshare cannot run here: %s' % e
    if probe.returncode != 0:
        return 'unshare --pid --fork --mount-proc fails here: %s' % \
            probe.stderr.strip()
    return None


UNSHARE_PROBLEM = _unshare_problem()


@pytest.mark.skipif(UNSHARE_PROBLEM is not None,
                    reason=UNSHARE_PROBLEM or '')
def test_ticker_in_another_pid_namespace_does_not_interrupt_a_live_run(
        tmp_path, egg, tickers):
    rows, first, second, codes = second_ticker_during_a_long_run(
        tmp_path, egg, 'sqlite:db/trac.db', tickers,
        prefix=['unshare', '--pid', '--fork', '--mount-proc',
                '--kill-child=SIGTERM'])
    slow = [r for r in rows if r.task == 'slow']
    # The second ticker ran tasks, under a pid of its own namespace.
    theirs = [r for r in rows if r.task == 'tick'
              and runner_pid(r.runner) != first.pid]
    report('sqlite other pid namespace', {
        'its tick runs': len(theirs),
        'its runner': theirs and theirs[0].runner or None,
        'its real pid': second.ticker_pid,
        'slow': [brief(r) for r in slow]})
    assert theirs and runner_pid(theirs[0].runner) != second.ticker_pid, \
        'the second ticker ran nothing from a PID namespace of its own'
    assert [r.status for r in slow] == ['success'], \
        [brief(r) for r in slow]
    assert codes == [0, 0]


# A fault soak: 4 tickers, per-second tasks that fail or overrun, SIGKILLs
# and exclusive SQLite locks.

SOAK = 60           # seconds of faults
SOAK_LEASE = 4


def test_fault_soak_leaves_one_row_per_occurrence(tmp_path, egg, tickers):
    env = make_fault_env(tmp_path, egg, sqlite_uri(), {
        'timezone': 'UTC',
        'lease_seconds': str(SOAK_LEASE),
        'flaky.cron': '0/1 * * * * ?',
        # Never skipped: each of its rows is a run, with its outcome.
        'flaky.max_instances': '10',
        'sleepy.cron': '0/1 * * * * ?'})
    cluster = start_tickers(tickers, env, tmp_path, 'flaky', 4)
    first = (int(time.time()) + 1) * S
    # Locks of 0.2 s up to 2 s past the busy timeout.
    locker = subprocess.Popen(
        [sys.executable, '-c', LOCKER_LOOP,
         os.path.join(env.path, 'db', 'trac.db'), str(SOAK),
         str(BUSY_TIMEOUT + 2)], stdout=subprocess.PIPE, text=True)
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    end = time.time() + SOAK
    while True:
        time.sleep(rng.uniform(2, 6))
        if time.time() > end - 2:
            break
        cluster.kill_one(rng.choice(cluster.procs).pid)
        cluster.start()
    last = (int(time.time()) - 2) * S
    locks = locker.communicate(timeout=60)[0].strip()
    logs = [p.log.name for p in cluster.procs]
    codes = cluster.stop()
    # trac-admin itself checks the database before the command runs: a
    # ticker started while the file is locked past the busy timeout
    # exits at once (systemd's Restart=always starts it again). Any
    # other exit is a failure.
    unstarted = [log for log, code in zip(logs, codes)
                 if code == 2 and open(log).read().startswith(
                     'Error: Unable to check for upgrade') and
                 'database is locked' in open(log).read()]
    assert codes.count(0) + len(unstarted) == 4, (codes, logs)
    # One ticker again, past the lease: the runs of the killed ones are
    # recorded, and what they left due is run.
    cluster.start()
    time.sleep(2 * SOAK_LEASE + 3)
    assert cluster.stop() == [0]

    rows = history(env)
    killed = set(p.pid for p in cluster.killed)
    report('soak', {'seconds': SOAK, 'tickers': 4, 'kills': len(killed),
                    'locker': locks, 'seed': seed,
                    'tickers stopped at start by a lock': len(unstarted)})
    want = occurrences(first, last, 1)
    found = dict((task, rows_at_each('soak %s' % task, rows, task, want))
                 for task in ('flaky', 'sleepy'))
    report('soak all rows', collections.Counter(r.status for r in rows))
    assert_none_running(rows)
    assert_one_row_each(want, found['flaky'],
                        ('success', 'failure', 'interrupted'))
    assert_one_row_each(want, found['sleepy'],
                        ('success', 'skipped', 'interrupted'))
    # Each row has the real outcome: interrupted only where the process
    # was killed, failed only where the task raised.
    alive = [brief(r) for r in rows if r.status == 'interrupted'
             and runner_pid(r.runner) not in killed]
    assert not alive, 'runs of live processes interrupted: %s' % alive
    wrong = [brief(r) for r in rows if r.status == 'failure' and
             (r.task != 'flaky' or 'flaky failed this time' not in r.message)]
    assert not wrong, 'failures that are not the task\'s: %s' % wrong
    runs = collections.Counter((t, fire) for t, fire, pid in
                               executions(env.path))
    twice = [(t, hms(f)) for (t, f), n in runs.items() if n > 1]
    assert not twice, 'occurrences executed twice: %s' % twice
    env.shutdown()


# "Run now" twice at once, from the web.

PASSWORD = 'secret pw'


class WebUser(object):
    """A user logged in to tracd with basic authentication, with a session
    of its own (cookies, form token)."""

    def __init__(self, server, user):
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar))
        auth = base64.b64encode(('%s:%s' % (user, PASSWORD))
                                .encode('utf-8')).decode('ascii')
        self.opener.open(urllib.request.Request(
            server.base + '/login',
            headers={'Authorization': 'Basic ' + auth}), timeout=30).read()
        self.get('/admin/traccron/cron_admin')

    def get(self, path):
        with self.opener.open(self.server.base + path, timeout=30) as r:
            return r.read().decode('utf-8')

    def post(self, path, fields):
        token = [c.value for c in self.jar if c.name == 'trac_form_token']
        data = dict(fields, __FORM_TOKEN=token[0])
        with self.opener.open(self.server.base + path,
                              urllib.parse.urlencode(data).encode('ascii'),
                              timeout=30) as r:
            return r.read().decode('utf-8')


def test_double_run_now_from_the_web_runs_once(tmp_path, egg):
    env = make_fault_env(tmp_path, egg, 'sqlite:db/trac.db',
                         {'timezone': 'UTC'})
    for user in ('admin', 'alice'):
        trac_admin(env.path, 'permission', 'add', user, 'TRAC_ADMIN')
    htpasswd = tmp_path / 'htpasswd'
    write_htpasswd(htpasswd, {'admin': PASSWORD, 'alice': PASSWORD})
    server = Tracd(env.path, tmp_path / 'tracd.log', auth=str(htpasswd))
    try:
        # Two users: a page after a redirect shows the notices of its
        # user's session, and these must not mix.
        users = [WebUser(server, 'admin'), WebUser(server, 'alice')]
        barrier = threading.Barrier(len(users))
        pages = [''] * len(users)

        def click(i):
            barrier.wait()
            pages[i] = users[i].post('/admin/traccron/cron_admin',
                                     {'run': 'slow'})

        threads = [threading.Thread(target=click, args=(i,))
                   for i in range(len(users))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # slow sleeps 3 s.
        wait_for(lambda: [r for r in history(env, 'slow')
                          if r.status != 'running'],
                 20, 0.5)
        time.sleep(1)
        rows = history(env, 'slow')
    finally:
        server.stop()
    saying_why = [REFUSED in page for page in pages]
    report('double Run now', {'manual rows': len(rows),
                              'pages saying why': saying_why.count(True)})
    assert [(r.schedule, r.status) for r in rows] == \
        [('manual', 'success')], [brief(r) for r in rows]
    assert saying_why.count(True) == 1, 'no page says "%s"' % REFUSED
    env.shutdown()
