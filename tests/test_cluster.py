# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Exactly once across processes: several `trac-admin ENV cron ticker`
processes on one environment and database (SQLite, PostgreSQL, MariaDB)
run every occurrence once, with no leader; killed processes leave
`interrupted` rows and no gap; `run_mode = local` runs in each."""

import collections
import os
import signal
import socket
import subprocess
import time

from trac.env import Environment

from tracd import (BIN, PLUGIN_HEAD, S, clean_environ, executions,
                   init_env, occurrences, reap, report, runner_pid)

# Tasks dropped into the environment's plugins/: each execution notes
# itself (see PLUGIN_HEAD).
TASKS = PLUGIN_HEAD + '''
class EverySecond(PluginTask):
    """no-op"""
    task_id = 'every_second'
    def wake_up(self, *args):
        note(self.env, 'every_second')

class EveryTwo(PluginTask):
    """sleeps as long as its argument says"""
    task_id = 'every_two'
    def wake_up(self, *args):
        note(self.env, 'every_two')
        time.sleep(float(args[0]) if args else 0)

class PerProcess(PluginTask):
    """runs in every process"""
    task_id = 'per_process'
    def wake_up(self, *args):
        note(self.env, 'per_process')
'''


class Cluster(object):
    """`cron ticker` processes sharing one environment."""

    def __init__(self, env_path, log_dir):
        self.env_path = str(env_path)
        self.log_dir = str(log_dir)
        self.procs = []
        self.killed = []

    def start(self):
        n = len(self.procs) + len(self.killed)
        log = open(os.path.join(self.log_dir, 'ticker-%d.log' % n), 'wb')
        proc = subprocess.Popen(
            [os.path.join(BIN, 'trac-admin'), self.env_path, 'cron',
             'ticker'], stdout=log, stderr=subprocess.STDOUT,
            env=clean_environ(), cwd='/')
        proc.log = log
        self.procs.append(proc)
        return proc

    def start_all(self, count):
        """Start `count` tickers; returns the cluster."""
        for _ in range(count):
            self.start()
        return self

    def kill_one(self, pid=None):
        proc = [p for p in self.procs if p.pid == pid][:1] or self.procs[:1]
        proc = proc[0]
        self.procs.remove(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.log.close()
        self.killed.append(proc)
        return proc

    def stop(self):
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            reap(proc, 40)
            proc.log.close()
        codes = [p.returncode for p in self.procs]
        return codes


def make_cluster_env(tmp_path, egg, uri, section, tasks=TASKS):
    """An environment on `uri` with the egg and the plugin `tasks`, its
    `[traccron]` set from `section`, logging to its file at INFO."""
    env_path = tmp_path / 'env'
    init_env(env_path, egg, database=uri)
    with open(os.path.join(str(env_path), 'plugins', 'cluster_tasks.py'),
              'w') as f:
        f.write(tasks)
    env = Environment(str(env_path))
    for key, value in section.items():
        env.config.set('traccron', key, value)
    env.config.set('logging', 'log_type', 'file')
    env.config.set('logging', 'log_level', 'INFO')
    env.config.save()
    return env


def history_rows(env):
    return env.db_query("""SELECT task, schedule, fire_time, status, runner,
                           message, ended FROM cron_history
                           ORDER BY fire_time""")


def running_pid(env):
    """The pid of a process running `every_two` now, if any."""
    rows = env.db_query("""SELECT runner FROM cron_history
                           WHERE status='running' AND task='every_two'""")
    return runner_pid(rows[0][0]) if rows else None


def test_four_processes_run_each_occurrence_once(tmp_path, egg, database):
    kind, uri = database
    env = make_cluster_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'every_two.cron': '0/2 * * * * ?',
        'every_second.cron': '0/1 * * * * ?',
        # On a loaded machine a run may finish after the next second:
        # overlaps are allowed here (max_instances is tested elsewhere).
        'every_second.max_instances': '5',
        'per_process.cron': '0/5 * * * * ?',
        'per_process.run_mode': 'local'})
    cluster = Cluster(env.path, tmp_path).start_all(4)
    time.sleep(5)  # all four are up and ticking
    window_start = int(time.time()) * S + S
    time.sleep(40)
    window_end = int(time.time()) * S - 2 * S
    codes = cluster.stop()
    assert codes == [0, 0, 0, 0]
    pids = {p.pid for p in cluster.procs}

    runs = collections.Counter((t, fire) for t, fire, pid in
                               executions(env.path) if t != 'per_process')
    rows = history_rows(env)
    row_count = collections.Counter((r[0], r[2]) for r in rows
                                    if r[0] != 'per_process')
    for task, step in (('every_two', 2), ('every_second', 1)):
        want = occurrences(window_start, window_end, step)
        got = [runs[(task, fire)] for fire in want]
        rows_got = [row_count[(task, fire)] for fire in want]
        missing = [f for f, n in zip(want, got) if n == 0]
        twice = [f for f, n in zip(want, got) if n > 1]
        report('%s %s' % (kind, task), {
            'expected': len(want), 'ran once': got.count(1),
            'missing': len(missing), 'twice': len(twice)})
        assert not missing and not twice
        assert rows_got == [1] * len(want)
    # No leader: the claims are spread over the processes.
    runners = collections.Counter(r[4] for r in rows
                                  if r[0] == 'every_second')
    assert {runner_pid(r) for r in runners} <= pids
    assert all(r[3] == 'success' for r in rows), \
        [r for r in rows if r[3] != 'success'][:5]

    # run_mode = local: once per process per occurrence.
    local = collections.Counter(fire for t, fire, pid in executions(env.path)
                                if t == 'per_process' and
                                window_start <= fire <= window_end)
    want = occurrences(window_start, window_end, 5)
    report('%s per_process' % kind, {'occurrences': len(want),
                                     'runs': sum(local.values())})
    assert [local[f] for f in want] == [4] * len(want)
    local_rows = collections.Counter(r[2] for r in rows
                                     if r[0] == 'per_process' and
                                     window_start <= r[2] <= window_end)
    assert [local_rows[f] for f in want] == [4] * len(want)
    # Each process has its own key (a slot of this host, kept across
    # restarts), and no two share one.
    keys = {r[1] for r in rows if r[0] == 'per_process'}
    assert len(keys) == 4
    assert all(k.startswith('cron@%s:' % socket.gethostname())
               for k in keys), keys
    # The losers of a claim race log nothing above DEBUG about it (the log
    # level is INFO), and nothing went wrong.
    with open(os.path.join(env.path, 'log', 'trac.log')) as f:
        text = f.read()
    assert text.count('TracCron ticker started') == 4
    assert 'claimed elsewhere' not in text
    assert 'Traceback' not in text, text
    for proc in cluster.procs:
        with open(proc.log.name) as f:
            assert 'Traceback' not in f.read()
    env.shutdown()


def test_killed_processes_leave_interrupted_rows_and_no_gap(tmp_path, egg,
                                                            database):
    kind, uri = database
    lease = 4
    env = make_cluster_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'lease_seconds': str(lease),
        'every_two.cron': '0/2 * * * * ?',
        'every_two.cron.arg': '1.5',
        'every_two.max_instances': '10',
        'every_second.cron': '0/1 * * * * ?',
        'every_second.max_instances': '5'})
    cluster = Cluster(env.path, tmp_path).start_all(4)
    time.sleep(5)
    window_start = int(time.time()) * S + S
    kills = []
    for _ in range(5):
        time.sleep(6)
        # Kill a process in the middle of a run (every_two sleeps 1.5 s of
        # each 2 s), so that there is a run to record as interrupted.
        pid = None
        deadline = time.time() + 3
        while pid is None and time.time() < deadline:
            pid = running_pid(env)
            time.sleep(0.05)
        victim = cluster.kill_one(pid)
        kills.append((victim.pid, int(time.time() * S)))
        cluster.start()
    # The killed processes that had a run going (a run may also have ended
    # between the look and the kill).
    left_a_run = set(str(pid) for pid, _ in kills if env.db_query(
        """SELECT COUNT(*) FROM cron_history WHERE runner LIKE %s
           AND status IN ('running', 'interrupted')""",
        ('%s:%d/%%' % (socket.gethostname(), pid),))[0][0])
    assert len(left_a_run) >= 3, (left_a_run, kills)
    time.sleep(lease + 6)
    window_end = int(time.time()) * S - (lease + 2) * S
    codes = cluster.stop()
    assert codes == [0] * 4
    killed = {str(pid) for pid, _ in kills}

    rows = history_rows(env)
    by_key = collections.Counter((r[0], r[2]) for r in rows)
    for task, step in (('every_two', 2), ('every_second', 1)):
        want = occurrences(window_start, window_end, step)
        got = [by_key[(task, f)] for f in want]
        report('%s chaos %s' % (kind, task), {
            'expected': len(want), 'one row': got.count(1),
            'missing': got.count(0), 'more': len(got) - got.count(1) -
            got.count(0)})
        assert got == [1] * len(want)
    statuses = collections.Counter(r[3] for r in rows)
    report('%s chaos statuses' % kind, statuses)
    interrupted = [r for r in rows if r[3] == 'interrupted']
    assert all(str(runner_pid(r[4])) in killed for r in interrupted), \
        interrupted
    # Each killed process left a run behind, recorded interrupted within
    # lease_seconds of the kill.
    kill_time = dict((str(pid), when) for pid, when in kills)
    victims = set(str(runner_pid(r[4])) for r in interrupted)
    assert victims == left_a_run, (victims, kills)
    late = [(r, r[6] - kill_time[str(runner_pid(r[4]))])
            for r in interrupted
            if r[6] - kill_time[str(runner_pid(r[4]))] > lease * S]
    assert not late, late
    others = [r for r in rows if r[3] != 'interrupted']
    assert all(r[3] == 'success' for r in others), \
        [r for r in others if r[3] != 'success'][:5]
    # Each run that was going when its process died was marked.
    assert not [r for r in rows if r[3] == 'running']
    # Executions: once for every occurrence, but for one whose process
    # was killed between its claim and its start.
    runs = collections.Counter((t, fire) for t, fire, pid in
                               executions(env.path))
    status = dict(((r[0], r[2]), r[3]) for r in rows)
    for task, step in (('every_two', 2), ('every_second', 1)):
        for fire in occurrences(window_start, window_end, step):
            if status[(task, fire)] == 'interrupted':
                assert runs[(task, fire)] <= 1, (task, fire)
            else:
                assert runs[(task, fire)] == 1, (task, fire)
    env.shutdown()
