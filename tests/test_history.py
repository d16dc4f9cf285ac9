# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `cron_history` table on SQLite, PostgreSQL and MariaDB: creation
by `upgrade`, the claim, completion, queries, purge, and the stores of the
original API."""

import tempfile
from datetime import datetime, timezone

import pytest
from trac.db.api import DatabaseManager
from trac.env import Environment

from traccron import history
from traccron.core import Core
from traccron.db import SCHEMA_VERSION, VERSION_NAME, CronSetup
from traccron.history import Claim, DbHistoryStore, MemoryHistoryStore

from databases import fresh_database, skip_unless
from support import make_stub

UTC = timezone.utc
S = 1000000


@pytest.fixture
def env(tmp_path, db_uri):
    """A real environment on each database, created without TracCron and
    then upgraded with it, as an administrator would."""
    path = str(tmp_path / 'env')
    env = Environment(path, create=True, default_data=False, options=[
        ('trac', 'database', db_uri),
        ('components', 'traccron.*', 'disabled')])
    assert 'cron_history' not in DatabaseManager(env).get_table_names()
    env.config.set('components', 'traccron.*', 'enabled')
    env.config.save()
    env.shutdown()
    env = Environment(path)
    assert env.needs_upgrade()
    env.upgrade()
    yield env
    env.shutdown()


def test_upgrade_creates_the_table_and_version_row(env):
    dbm = DatabaseManager(env)
    assert 'cron_history' in dbm.get_table_names()
    assert dbm.get_database_version(VERSION_NAME) == SCHEMA_VERSION
    assert not env.needs_upgrade()
    assert set(dbm.get_column_names('cron_history')) == {
        'id', 'task', 'schedule', 'fire_time', 'started', 'ended', 'status',
        'message', 'runner', 'heartbeat', 'attempt', 'outcome'}
    assert 'cron_alert' in dbm.get_table_names()


def test_upgrade_from_version_2_keeps_rows_as_first_attempts(env):
    """An environment of version 2 (no `attempt`, the claim key without
    it) is upgraded: its rows are kept, each its occurrence's first
    attempt, and a second attempt of the same occurrence can be claimed,
    once."""
    from trac.db.schema import Column, Index, Table
    dbm = DatabaseManager(env)
    dbm.drop_tables(['cron_history', 'cron_alert'])
    dbm.create_tables([Table('cron_history', key='id')[
        Column('id', auto_increment=True), Column('task', key_size=100),
        Column('schedule', key_size=150), Column('fire_time', type='int64'),
        Column('started', type='int64'), Column('ended', type='int64'),
        Column('status', key_size=20), Column('message'), Column('runner'),
        Column('heartbeat', type='int64'),
        Index(['task', 'schedule', 'fire_time'], unique=True),
        Index(['started'])]])
    dbm.set_database_version(2, VERSION_NAME)
    fire = 1800000000 * S
    with env.db_transaction as db:
        for i, status in enumerate(['success', 'failure', 'running']):
            db("""INSERT INTO cron_history (task, schedule, fire_time,
                  started, ended, status, message, runner, heartbeat)
                  VALUES ('t', 'daily', %s, %s, %s, %s, 'é', 'h:1', 1)""",
               (fire + i, fire + i, fire + i + S, status))
    assert env.needs_upgrade()
    env.upgrade()
    assert not env.needs_upgrade()
    assert dbm.get_database_version(VERSION_NAME) == SCHEMA_VERSION
    rows = sorted(history.query(env), key=lambda r: r.fire_time)
    assert [(r.status, r.attempt, r.message) for r in rows] == [
        ('success', 1, 'é'), ('failure', 1, 'é'), ('running', 1, 'é')]
    retry = [Claim('t', 'daily', fire + 1, fire + 9 * S, attempt=2)]
    assert len(history.claim(env, retry, 'h:2', fire)) == 1
    again = [Claim('t', 'daily', fire + 1, fire + 9 * S, attempt=2),
             Claim('t', 'daily', fire + 1, fire + 9 * S)]
    assert history.claim(env, again, 'h:3', fire) == []
    assert 'cron_alert' in dbm.get_table_names()


def test_claim_is_won_once_per_task_schedule_and_fire_time(env):
    fire = 1800000000 * S  # beyond 2**31: needs 64-bit columns
    first = history.claim(env, [Claim('t', 'daily', fire, fire),
                                Claim('t', 'hourly', fire, fire),
                                Claim('u', 'daily', fire, fire)],
                          'host:1', fire)
    assert len(first) == 3 and all(c.id for c in first)
    # Another process claims the same occurrences, in one transaction with
    # a new one: only the new one is won and nothing else is disturbed.
    again = [Claim('t', 'daily', fire, fire), Claim('t', 'daily', fire + 1,
                                                      fire + 1)]
    won = history.claim(env, again, 'host:2', fire)
    assert [c.fire_time for c in won] == [fire + 1]
    assert again[0].id is None
    rows = history.query(env)
    assert len(rows) == 4
    assert {r.runner for r in rows if r.fire_time == fire} == {'host:1'}
    # Duplicates inside one transaction: one row.
    dup = [Claim('d', 'daily', fire, fire), Claim('d', 'daily', fire, fire)]
    assert len(history.claim(env, dup, 'host:1', fire)) == 1


def test_finish_query_count_and_running_counts(env):
    now = 1800000000 * S
    claims = history.claim(env, [Claim('a', 'daily', now, now),
                                 Claim('b', 'daily', now, now),
                                 Claim('c', 'daily', now, None, 'skipped',
                                       'busy')], 'me:1', now)
    assert history.running_counts(env, 'me:1') == {'a': (1, 1), 'b': (1, 1)}
    assert history.running_counts(env, 'other:2') == {'a': (1, 0),
                                                      'b': (1, 0)}
    history.finish(env, claims[0].id, now + 2 * S, 'success', '')
    history.finish(env, claims[1].id, now + 3 * S, 'failure',
                   'Traceback: é ü <b>')
    a = history.get(env, claims[0].id)
    assert (a.status, a.duration) == ('success', 2.0)
    b = history.get(env, claims[1].id)
    assert (b.status, b.message) == ('failure', 'Traceback: é ü <b>')
    assert [r.task for r in history.query(env)] == ['c', 'b', 'a']
    assert [r.task for r in history.query(env, limit=1, offset=1)] == ['b']
    assert history.count(env) == 3
    assert history.count(env, status='failure') == 1
    assert history.count(env, task='c', status='skipped') == 1
    assert history.running_counts(env, 'me:1') == {}


ODD = ['plain', 'quote"d', 'back\\slash', 'comma,brace{}', 'NULL', '',
       ' spaced ', 'é ü\nnew line', '\\"', 'tab\there']


@pytest.mark.parametrize('values', [[], [''], ['a', None], [None],
                                    ['plain', 'NULL', 'a,b{c}', ' '], ODD])
def test_array_literals_come_back_as_they_were_on_postgresql(values):
    skip_unless('postgres')
    with fresh_database('postgres') as uri:
        env = Environment(tempfile.mkdtemp(), create=True,
                          default_data=False,
                          options=[('trac', 'database', uri)])
        try:
            for text, in env.db_query("SELECT %s::text[]",
                                      (history._pg_texts(values),)):
                assert text == values
            ints = [None if v is None else len(v) * 2 ** 40 - 7
                    for v in values]
            for got, in env.db_query("SELECT %s::bigint[]",
                                     (history._pg_ints(ints),)):
                assert got == ints
        finally:
            env.shutdown()


def test_claims_and_outcomes_keep_every_character_in_their_text(env):
    """On PostgreSQL a batch goes as arrays in their literal text: what
    has a meaning there (quotes, backslashes, commas, braces, NULL) must
    come back as it was."""
    fire = 1800000000 * S
    tasks = ['task %s' % text for text in ODD]
    claims = [Claim(task, 'cron ' + text, fire, fire, max_instances=1)
              for task, text in zip(tasks, ODD)]
    claims.append(Claim('skipped one', 'cron', fire, None, 'skipped', ODD[1],
                        max_instances=1))
    won = history.claim(env, claims, 'me:1', fire, busy=True)
    assert len(won) == len(claims)
    # Claimed again: every one is lost, none is doubled.
    again = [Claim(c.task, c.schedule, fire, fire, max_instances=1)
             for c in claims]
    assert history.claim(env, again, 'me:2', fire, busy=True) == []
    assert history.claim(env, again, 'me:2', fire) == []
    assert history.running_counts(env, 'me:1', tasks) == dict(
        (task, (1, 1)) for task in tasks)
    history.finish_all(env, [(c.id, fire + S, 'failure', text, None)
                             for c, text in zip(claims[:-1], ODD)])
    got = dict((r.id, r) for r in history.query(env, limit=100))
    assert len(got) == len(claims)
    for c, text in zip(claims[:-1], ODD):
        row = got[c.id]
        assert (row.task, row.schedule, row.status, row.message,
                row.started) == (c.task, c.schedule, 'failure', text, fire)
    row = got[claims[-1].id]
    assert (row.status, row.message, row.started) == ('skipped', ODD[1],
                                                      None)


def test_an_occurrence_claimed_elsewhere_is_lost_not_deferred(env):
    """Tickers that share the database claim a big batch ahead: the
    occurrences another one claimed already are lost at once, not
    deferred (which claimed them all again across the instant), while
    another schedule of the task at that instant is still held back."""
    fire = 1800000000 * S
    assert len(history.claim(env, [Claim('a', 'cron', fire, fire,
                                         max_instances=1)],
                             'host:1/abcdef0000', fire - S)) == 1
    same = Claim('a', 'cron', fire, fire, max_instances=1, defer=True)
    other = Claim('a', 'hourly', fire, fire, max_instances=1, defer=True)
    assert history.claim(env, [same, other], 'host:2/abcdef0000',
                         fire - S) == []
    assert same.status == 'running' and same.id is None
    assert other.status == 'deferred'
    # Near the instant, the other schedule is skipped.
    other = Claim('a', 'hourly', fire, fire, max_instances=1)
    assert history.claim(env, [other], 'host:2/abcdef0000', fire) == \
        [other]
    assert other.status == 'skipped'
    assert history.count(env) == 2


def test_max_instances_is_counted_in_the_claims_transaction(env):
    """Eight processes claim, at the same instant, eight schedules of one
    task with max_instances = 1: one runs, seven are skipped."""
    import threading
    fire = 1800000000 * S
    barrier = threading.Barrier(8)
    won = []

    def claim(n):
        barrier.wait()
        won.extend(history.claim(env, [Claim(
            'a', 'type%d' % n, fire, fire, max_instances=1)],
            'host:%d/abcdef0000' % n, fire))
        env.shutdown(threading.get_ident())

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 8
    assert sorted(c.status for c in won) == ['running'] + ['skipped'] * 7
    assert sorted(r.status for r in history.query(env)) == \
        ['running'] + ['skipped'] * 7
    # A manual claim is refused, not recorded.
    manual = Claim('a', 'manual', fire + 1, fire + 1, max_instances=1,
                   refuse=True)
    assert history.claim(env, [manual], 'host:9/abcdef0000', fire) == []
    assert manual.status == 'refused'
    assert manual.message == 'already running (max_instances = 1)'
    assert history.count(env) == 8


def test_a_run_whose_task_returned_takes_no_place_of_max_instances(env):
    """A run of this process whose task has returned, its outcome not
    written yet (`ended` says so), does not hold back the next
    occurrence; another process's run, or one still going, does; and an
    occurrence claimed already is lost all the same."""
    me, other = 'host:1/abcdef0000', 'host:2/abcdef0000'
    fire = 1800000000 * S
    done, asked = set(), []

    def ended(tasks):
        asked.append(sorted(tasks))
        return set(key for key in done if key[0] in tasks)

    def occurrence(n, **kwargs):
        return Claim('a', 'cron', fire + n * S, fire + n * S,
                     max_instances=1, **kwargs)

    first = occurrence(0)
    assert history.claim(env, [first], me, fire) == [first]
    done.add(history.claim_key(first))
    second = occurrence(1)
    assert history.claim(env, [second], me, fire + S, ended=ended) == \
        [second]
    assert second.status == 'running'
    assert asked == [['a']]
    # Without it, both rows of this process hold it back.
    third = occurrence(2)
    assert history.claim(env, [third], me, fire + 2 * S) == [third]
    assert third.status == 'skipped'
    # The first occurrence again, in one batch with the fourth: it is
    # lost (its row exists), though `ended` leaves it out of the count;
    # the fourth runs.
    done.add(history.claim_key(second))
    again, fourth = occurrence(0), occurrence(3)
    assert history.claim(env, [again, fourth], me, fire + 3 * S,
                         ended=ended) == [fourth]
    assert again.id is None and fourth.status == 'running'
    # Another process's run takes its place whatever `ended` says.
    for claim in (first, second, fourth):
        history.finish(env, claim.id, claim.fire_time + 1, 'success')
    elsewhere = occurrence(4)
    history.claim(env, [elsewhere], other, fire + 4 * S)
    done.add(history.claim_key(elsewhere))
    manual = Claim('a', 'manual', fire + 4 * S + 1, fire + 4 * S + 1,
                   max_instances=1, refuse=True)
    assert history.claim(env, [manual], me, fire + 4 * S + 1,
                         ended=ended) == []
    assert manual.status == 'refused'
    assert history.count(env) == 5


def test_an_outcome_written_while_a_claim_reads_the_runs_going_on(
        env, monkeypatch):
    """The outcome of an ended run is committed just after the claim
    has read the runs going on (its row still `running` there) and the
    run left the registry: the registry was asked before that read, so
    the run is left out of the count, and the next occurrence runs."""
    import threading
    from traccron.api import TaskRun
    from traccron.dispatcher import RunRegistry
    me = history.runner_id()
    fire = 1800000000 * S
    first = Claim('a', 'cron', fire, fire, max_instances=1)
    assert history.claim(env, [first], me, fire) == [first]
    registry = RunRegistry(env.path, auto=False)
    run = TaskRun(None, 'a', 'cron', (), fire, me, first.id)
    run.success, run.started = True, fire
    registry.add(env, run, timeout=None)
    run.ended = fire + 1
    real = history._going
    written = []

    def going(db, *args, **kwargs):
        rows = real(db, *args, **kwargs)

        def write():
            written.append(registry.finish(env, run))
            env.shutdown(threading.get_ident())
        writer = threading.Thread(target=write)
        writer.start()
        # On SQLite the claim's write lock holds the writer back until
        # the claim commits; elsewhere the outcome is committed now.
        writer.join(2)
        threads.append(writer)
        return rows
    threads = []
    monkeypatch.setattr(history, '_going', going)
    second = Claim('a', 'cron', fire + S, fire + S, max_instances=1)
    assert history.claim(env, [second], me, fire + S,
                         ended=registry.ended) == [second]
    monkeypatch.setattr(history, '_going', real)
    threads[0].join(30)
    assert written == [True]
    assert second.status == 'running'
    assert history.get(env, first.id).status == 'success'


def test_interrupt_spares_a_run_whose_heartbeat_changed(env):
    now = 1800000000 * S
    alive, dead = history.claim(env, [Claim('a', 'daily', now, now),
                                      Claim('b', 'daily', now, now)],
                                'me:1', now)
    history.heartbeat(env, [alive.id], now + 100 * S)
    # Both were seen with heartbeat `now`; `alive` beat since.
    ids = history.interrupt(env, [(alive.id, now, 'dead?'),
                                  (dead.id, now, 'dead')], now + 150 * S)
    assert ids == [dead.id]
    assert history.get(env, dead.id).status == 'interrupted'
    assert history.get(env, alive.id).status == 'running'
    # A finished run is never marked.
    history.finish(env, alive.id, now + 200 * S, 'success')
    assert history.interrupt(env, [(alive.id, None, 'x')], now) == []


def test_purge_keeps_recent_and_running_rows(env):
    day = 86400 * S
    now = 1800000000 * S
    old, recent, running, missed = history.claim(env, [
        Claim('a', 'daily', now - 500 * day, now - 500 * day),
        Claim('a', 'daily', now - 10 * day, now - 10 * day),
        Claim('b', 'daily', now - 600 * day, now - 600 * day),
        Claim('c', 'daily', now - 700 * day, None, 'missed')], 'me:1', now)
    history.finish(env, old.id, now - 500 * day, 'success')
    history.finish(env, recent.id, now - 10 * day, 'success')
    history.purge(env, now - 400 * day)
    assert sorted(r.id for r in history.query(env)) == \
        sorted([recent.id, running.id])


def test_db_store_speaks_the_original_api(env):
    store = DbHistoryStore(env)
    start = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    store.addExecution('heart_beat', start, start + 2, True)
    store.addExecution('heart_beat', start, start + 3, False)  # same start
    store.addExecution('other', start + 10, start + 11, True)
    rows = history.query(env)
    assert {r.schedule for r in rows} == {'external'}
    all_runs = store.getExecution()
    assert [(t if isinstance(t, str) else t.getId(), s, e, ok)
            for t, s, e, ok in all_runs] == [
        ('heart_beat', start, start + 2, True),
        ('heart_beat', start + 1e-6, start + 3, False),
        ('other', start + 10, start + 11, True)]
    assert len(store.getExecution(task='heart_beat')) == 2
    assert len(store.getExecution(sucess=False)) == 1
    assert len(store.getExecution(success=True)) == 2
    assert len(store.getExecution(fromTime=start + 5)) == 1
    assert len(store.getExecution(toTime=start + 5)) == 2
    store.clear()
    assert store.getExecution() == []


def test_memory_store_keeps_a_bounded_recent_history():
    env = make_stub()
    store = MemoryHistoryStore(env)
    for i in range(MemoryHistoryStore.max_entries + 10):
        store.addExecution('t', float(i), float(i) + 1, i % 2 == 0)
    runs = store.getExecution()
    assert len(runs) == MemoryHistoryStore.max_entries
    assert runs[0][1] == 10.0
    assert all(ok for _, _, _, ok in store.getExecution(sucess=True))
    assert len(store.getExecution(task='t', fromTime=1000.0)) == 10


def test_history_listener_feeds_the_other_stores_not_the_table():
    env = make_stub()
    run = Core(env).run_now('heart_beat', ['x'], wait=True)
    assert run.success
    assert [(r.task, r.schedule, r.status) for r in history.query(env)] == \
        [('heart_beat', 'manual', 'success')]
    memory = MemoryHistoryStore(env).getExecution()
    assert [(t.getId(), ok) for t, _, _, ok in memory] == \
        [('heart_beat', True)]
    assert memory[0][1] == run.started / 1e6


def test_table_left_by_reset_db_is_reused():
    env = make_stub()
    history.claim(env, [Claim('a', 'daily', 1, 1)], 'me:1', 1)
    env.reset_db()  # drops the version row, keeps the table
    dbm = DatabaseManager(env)
    assert dbm.get_database_version(VERSION_NAME) is False
    assert CronSetup(env).environment_needs_upgrade()
    CronSetup(env).upgrade_environment()
    assert dbm.get_database_version(VERSION_NAME) == SCHEMA_VERSION
    assert history.count(env) == 0


class _Deadlock(Exception):
    """What PyMySQL raises for InnoDB's deadlock victim."""


def test_claim_aborted_as_a_deadlock_victim_is_tried_again(monkeypatch):
    env = make_stub()
    real = history._claim
    calls = []

    def flaky(env, claims, runner, now, busy=False, ended=None):
        calls.append([(c.task, c.fire_time) for c in claims])
        if len(calls) == 1:
            raise _Deadlock(1213, 'Deadlock found when trying to get lock')
        return real(env, claims, runner, now, busy, ended)

    monkeypatch.setattr(history, '_claim', flaky)
    won = history.claim(env, [Claim('b', 'daily', 2, 2),
                              Claim('a', 'daily', 1, 1)], 'me:1', 1)
    assert [c.task for c in won] == ['a', 'b']
    # Inserted in key order, the same in every process.
    assert calls == [[('a', 1), ('b', 2)]] * 2
    assert history.count(env) == 2


def test_claim_does_not_retry_other_errors(monkeypatch):
    env = make_stub()

    def broken(env, claims, runner, now, busy=False, ended=None):
        raise ValueError('not a deadlock')

    monkeypatch.setattr(history, '_claim', broken)
    with pytest.raises(ValueError):
        history.claim(env, [Claim('a', 'daily', 1, 1)], 'me:1', 1)


def test_a_run_past_its_limit_that_succeeds_counts_as_a_success(env):
    """Its status stays `timeout`, its real outcome is kept beside it:
    `alert_after` and `cron status` see the success; a failure past the
    limit is one to retry."""
    fire = 1800000000 * S
    ok, bad = history.claim(env, [Claim('t', 'daily', fire, fire),
                                  Claim('t', 'hourly', fire, fire)],
                            'me:1', fire)
    for claim in (ok, bad):
        assert history.mark_timeout(env, claim.id, 'still running')
    history.finish(env, ok.id, fire + 5 * S, 'success', '')
    history.finish(env, bad.id, fire + 6 * S, 'failure', 'Traceback')
    assert history.get(env, ok.id).status == 'timeout'
    assert history.last_success(env, 't') == fire + 5 * S
    assert [(r[1], r[3]) for r in history.unretried_failures(
        env, ['t'], fire)] == [('hourly', 1)]
