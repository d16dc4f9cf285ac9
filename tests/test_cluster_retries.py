# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Retries exactly once across processes: four `trac-admin ENV cron
ticker` processes on one database, a per-second task that fails on its
first attempt with `retries = 2, retry_delay = 1`. Each attempt of each
occurrence is claimed once: every (fire_time, attempt) pair has one row
and at most one execution."""

import collections
import os
import time


from test_cluster import Cluster, make_cluster_env
from support import wait_for
from tracd import PLUGIN_HEAD, S, occurrences, report

TASKS = PLUGIN_HEAD + '''
class FirstTryFails(PluginTask):
    """fails on its first attempt"""
    task_id = 'first_try_fails'
    def wake_up(self, *args):
        run = current_run()
        line = '%d %d %d\\n' % (run.fire_time, run.attempt, os.getpid())
        fd = os.open(os.path.join(self.env.path, 'attempts.log'),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        if run.attempt == 1:
            raise RuntimeError('first attempt fails')
'''


def started(env_path):
    """How many tickers have logged their start."""
    path = os.path.join(env_path, 'log', 'trac.log')
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return f.read().count('TracCron ticker started')


def attempts(env_path):
    path = os.path.join(env_path, 'attempts.log')
    with open(path) as f:
        return [tuple(int(x) for x in line.split()) for line in f]


def test_each_attempt_of_each_occurrence_runs_once_among_four_processes(
        tmp_path, egg, sqlite_or_postgres):
    kind, uri = sqlite_or_postgres
    env = make_cluster_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'first_try_fails.cron': '0/1 * * * * ?',
        'first_try_fails.retries': '2',
        'first_try_fails.retry_delay': '1',
        'first_try_fails.max_instances': '5'}, TASKS)
    cluster = Cluster(env.path, tmp_path).start_all(4)
    # All four are up and ticking (on a busy machine, starting takes
    # seconds): each has written the line of its start in the log.
    assert wait_for(lambda: started(env.path) == 4, timeout=60)
    time.sleep(1)
    window_start = int(time.time()) * S + S
    time.sleep(20)
    window_end = int(time.time()) * S - 3 * S
    assert cluster.stop() == [0, 0, 0, 0]

    rows = env.db_query("""SELECT fire_time, attempt, status, runner
                           FROM cron_history WHERE task='first_try_fails'""")
    want = occurrences(window_start, window_end, 1)
    in_window = [r for r in rows if window_start <= r[0] <= window_end]
    per_pair = collections.Counter((fire, attempt)
                                   for fire, attempt, _, _ in in_window)
    ran = collections.Counter((fire, attempt) for fire, attempt, pid
                              in attempts(env.path)
                              if window_start <= fire <= window_end)
    status = dict(((fire, attempt), s) for fire, attempt, s, _ in in_window)
    counts = collections.Counter((attempt, s) for (_, attempt), s
                                 in status.items())
    report('%s retries' % kind, {
        'occurrences': len(want),
        'attempt 1 failure': counts[(1, 'failure')],
        'attempt 2 success': counts[(2, 'success')],
        'attempt 2 skipped': counts[(2, 'skipped')],
        'attempt 3': sum(n for (a, _), n in counts.items() if a == 3),
        'pairs with 2+ rows': sum(1 for n in per_pair.values() if n > 1),
        'pairs run 2+ times': sum(1 for n in ran.values() if n > 1),
        'processes': len({r[3] for r in in_window}),
        'statuses': dict(counts)})
    # Every pair once: one row each, and at most one execution.
    assert max(per_pair.values()) == 1
    assert max(ran.values()) == 1
    for fire in want:
        assert status.get((fire, 1)) == 'failure', fire
        # The first attempt failed: its retry either ran (and succeeded)
        # or would have passed the next occurrence and is recorded
        # skipped. Never more.
        assert status.get((fire, 2)) in ('success', 'skipped'), fire
        assert (fire, 3) not in status
        assert ran[(fire, 1)] == 1
        assert ran[(fire, 2)] == (status[(fire, 2)] == 'success')
    assert counts[(2, 'success')] > 0
    env.shutdown()
