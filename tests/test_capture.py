# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The log lines a task writes while it runs, kept with its run: exactly
its own lines when runs overlap, the cap and its marker, scheduled,
manual and `cron ticker` runs, the live log, the upgrade and the purge."""

import os
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

from trac.db.api import DatabaseManager

from traccron import capture, history as h
from traccron.api import current_run
from traccron.core import Core
from traccron.db import SCHEMA, VERSION_NAME, CronSetup
from traccron.dispatcher import LOG_STORE, RunRegistry, install_registry

from support import (FakeClock, StubTask, make_env, make_stub,
                     primed_ticker, rows, tick_at)
from tracd import BIN, clean_environ

UTC = timezone.utc
T0 = datetime(2027, 3, 1, tzinfo=UTC)
LINES = 1000


class _Chatty(StubTask):
    """Logs `LINES` numbered lines, giving the other thread a chance to
    interleave."""

    abstract = True
    go = threading.Barrier(2)

    def wake_up(self, *args):
        if args[:1] == ('together',):
            _Chatty.go.wait(10)
        for i in range(LINES):
            self.log.info('%s line %d', self.getId(), i)
            if i % 100 == 0:
                time.sleep(0.001)


class ChattyA(_Chatty):
    task_id = 'chatty_a'


class ChattyB(_Chatty):
    task_id = 'chatty_b'


class Flood(StubTask):
    """Logs about 100 KB."""

    task_id = 'flood'

    def wake_up(self, *args):
        for i in range(2000):
            self.log.warning('flood %04d %s', i, 'x' * 40)


class Parent(StubTask):
    """Logs, and has a thread of its own log too."""

    task_id = 'parent'
    release = threading.Event()
    started = threading.Event()

    def wake_up(self, *args):
        self.log.info('from the task')
        run = current_run()

        def child():
            with capture.follow(run):
                self.log.info('from its thread')
            self.log.info('not captured: after follow')

        thread = threading.Thread(target=child)
        thread.start()
        thread.join()
        if args[:1] == ('wait',):
            Parent.started.set()
            Parent.release.wait(10)
            self.log.info('after the wait')


def lines(env, run_id):
    return [line.split(' ', 3)[3] for line in
            capture.get(env, run_id).splitlines() if line.count(' ') >= 3]


def test_two_runs_at_once_capture_exactly_their_own_lines(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_capture.*'],
                   config={'chatty_a.max_instances': '2'})
    _Chatty.go = threading.Barrier(2)
    core = Core(env)
    a = core.run_now('chatty_a', args=['together'])
    b = core.run_now('chatty_b', args=['together'])
    deadline = time.time() + 30
    while time.time() < deadline and any(
            h.get(env, r.id).status == 'running' for r in (a, b)):
        time.sleep(0.05)
    for run in (a, b):
        assert h.get(env, run.id).status == 'success'
        assert lines(env, run.id) == ['%s line %d' % (run.task_id, i)
                                      for i in range(LINES)]
    env.shutdown()


def test_the_cap_holds_with_its_marker():
    env = make_stub(enable=[Flood], config={'log_capture_bytes': '10000'})
    run = Core(env).run_now('flood', wait=True)
    text = capture.get(env, run.id)
    assert len(text.encode('utf-8')) <= 10000 + 100
    assert text.endswith('[... log truncated: longer than 10000 bytes]')
    assert 'flood 0000' in text and 'flood 1999' not in text
    # The default cap is 64 KB.
    env.config.remove('traccron', 'log_capture_bytes')
    text = capture.get(env, Core(env).run_now('flood', wait=True).id)
    assert 60000 < len(text.encode('utf-8')) <= 64 * 1024 + 100
    assert text.endswith('[... log truncated: longer than 65536 bytes]')


def test_no_capture_when_the_cap_is_zero():
    env = make_stub(enable=[Flood], config={'log_capture_bytes': '0'})
    run = Core(env).run_now('flood', wait=True)
    assert capture.get(env, run.id) == ''


def test_threads_the_task_ties_to_its_run_are_captured():
    env = make_stub(enable=[Parent])
    run = Core(env).run_now('parent', wait=True)
    assert lines(env, run.id) == ['from the task', 'from its thread']


def test_scheduled_runs_capture_their_log():
    env = make_stub(enable=[ChattyA], config={
        'timezone': 'UTC', 'chatty_a.cron': '0 * * * * ?'})
    ticker, clock = primed_ticker(env, T0)
    tick_at(ticker, clock, T0, T0 + timedelta(minutes=1))
    runs = rows(env, 'chatty_a')
    assert [r.status for r in runs] == ['success', 'success']
    for run in runs:
        assert lines(env, run.id) == ['chatty_a line %d' % i
                                      for i in range(LINES)]


def test_a_running_run_shows_its_log_so_far(tmp_path):
    env = make_env(tmp_path / 'env', enable=['test_capture.*'])
    clock = FakeClock(T0.timestamp())
    registry = RunRegistry(env.path, clock=clock, auto=False)
    previous = install_registry(env.path, registry)
    Parent.release, Parent.started = threading.Event(), threading.Event()
    try:
        run = Core(env).run_now('parent', args=['wait'], clock=clock)
        assert Parent.started.wait(10)
        registry.housekeep(env)
        assert capture.get(env, run.id) == ''      # not yet
        clock.advance(LOG_STORE)
        registry.housekeep(env)
        assert lines(env, run.id) == ['from the task', 'from its thread']
        assert h.get(env, run.id).status == 'running'
        Parent.release.set()
        deadline = time.time() + 10
        while time.time() < deadline and \
                h.get(env, run.id).status == 'running':
            time.sleep(0.05)
        assert lines(env, run.id) == ['from the task', 'from its thread',
                                      'after the wait']
    finally:
        Parent.release.set()
        install_registry(env.path, previous)
        env.shutdown()


def test_logs_go_with_their_history_rows():
    env = make_stub(enable=[Parent])
    core = Core(env)
    first = core.run_now('parent', wait=True)
    second = core.run_now('parent', wait=True)
    env.db_transaction("UPDATE cron_history SET started=1 WHERE id=%s",
                       (first.id,))
    h.purge(env, 2)
    assert capture.get(env, first.id) == ''
    assert lines(env, second.id) == ['from the task', 'from its thread']
    h.clear(env)
    assert capture.get(env, second.id) == ''


def test_upgrade_from_version_1_adds_the_log_table():
    env = make_stub()
    dbm = DatabaseManager(env)
    dbm.drop_tables(['cron_log'])
    dbm.set_database_version(1, VERSION_NAME)
    setup = CronSetup(env)
    assert setup.environment_needs_upgrade()
    setup.upgrade_environment()
    assert not setup.environment_needs_upgrade()
    assert 'cron_log' in dbm.get_table_names()
    assert [t.name for t in SCHEMA] == ['cron_history', 'cron_log',
                                       'cron_alert']


TICKER_TASK = '''
from trac.core import Component, implements
from traccron.api import ICronTask

class Talker(Component):
    implements(ICronTask)
    def wake_up(self, *args):
        self.log.info('talker says hello')
        self.log.debug('and more details')
    def getId(self):
        return 'talker'
    def getDescription(self):
        return 'logs two lines'
'''


def test_cron_ticker_runs_capture_their_log(tmp_path, egg):
    env = make_env(tmp_path / 'env', config={
        'timezone': 'UTC', 'talker.cron': '0/1 * * * * ?'})
    env.config.set('logging', 'log_level', 'DEBUG')
    env.config.save()
    import shutil
    shutil.copy(egg, os.path.join(env.path, 'plugins'))
    with open(os.path.join(env.path, 'plugins', 'talker.py'), 'w') as f:
        f.write(TICKER_TASK)
    proc = subprocess.Popen([os.path.join(BIN, 'trac-admin'), env.path,
                             'cron', 'ticker'], env=clean_environ(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        done = []
        while time.time() < deadline and len(done) < 3:
            time.sleep(0.3)
            done = [r for r in rows(env, 'talker') if r.status == 'success']
    finally:
        proc.terminate()
        proc.wait(40)
    assert len(done) >= 3
    for run in done:
        assert lines(env, run.id) == ['talker says hello',
                                      'and more details']
    env.shutdown()


class Nested(StubTask):
    """Follows its own run, and runs another task inside it, then logs
    again: every line of its own stays in its own log."""

    task_id = 'nested'

    def wake_up(self, *args):
        from traccron.core import Core
        self.log.info('one')
        with capture.follow(current_run()):
            self.log.info('two')
        Core(self.env).run_now('flood', wait=True)
        self.log.info('three')


def test_follow_and_a_nested_run_keep_the_capture_of_the_outer_run():
    env = make_stub(enable=[Nested, Flood],
                    config={'flood.max_instances': '2'})
    run = Core(env).run_now('nested', wait=True)
    assert lines(env, run.id) == ['one', 'two', 'three']
    inner = [r for r in rows(env, 'flood')]
    assert len(inner) == 1 and 'flood 0000' in capture.get(env, inner[0].id)
    assert 'one' not in capture.get(env, inner[0].id)
