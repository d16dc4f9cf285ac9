# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""max_instances across processes: four `cron ticker` processes and a
task with two schedules that fire at the same instants never run it
twice at once (the count and the claim are one transaction)."""

import collections
import os
import time

from test_cluster import Cluster, make_cluster_env
from tracd import PLUGIN_HEAD, report

# A second scheduler type that reads cron expressions, so that one task
# has two schedules with the same instants; the task notes when it starts
# and ends.
PLUGIN = PLUGIN_HEAD + '''
from traccron.api import ISchedulerType
from traccron.scheduler import CronScheduler

class Twin(Component):
    implements(ISchedulerType)
    def getId(self):
        return 'twin'
    def getHint(self):
        return 'a cron expression, as for the cron type'
    def isTriggerTime(self, task, currentTime):
        return False
    def compile(self, value, tz):
        return CronScheduler(self.env).compile(value, tz)

class Guarded(PluginTask):
    """runs 0.7 s; never two at once"""
    task_id = 'guarded'
    def wake_up(self, *args):
        begin = time.time()
        time.sleep(0.7)
        line = '%f %f %d\\n' % (begin, time.time(), os.getpid())
        fd = os.open(os.path.join(self.env.path, 'guarded.log'),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
'''


def test_max_instances_holds_across_four_processes_and_two_schedules(
        tmp_path, egg, database):
    kind, uri = database
    env = make_cluster_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'guarded.cron': '0/1 * * * * ?',
        'guarded.twin': '0/1 * * * * ?',
        'guarded.max_instances': '1'})
    with open(os.path.join(env.path, 'plugins', 'guarded.py'), 'w') as f:
        f.write(PLUGIN)
    cluster = Cluster(env.path, tmp_path).start_all(4)
    time.sleep(20)
    assert cluster.stop() == [0] * 4
    with open(os.path.join(env.path, 'guarded.log')) as f:
        runs = sorted((float(b), float(e), int(p))
                      for b, e, p in (line.split() for line in f))
    overlaps = [(a, b) for a, b in zip(runs, runs[1:]) if b[0] < a[1]]
    rows = env.db_query("""SELECT schedule, fire_time, status
                           FROM cron_history WHERE task='guarded'""")
    statuses = collections.Counter(r[2] for r in rows)
    per_instant = collections.Counter(r[1] for r in rows)
    report('%s max_instances' % kind, {
        'runs': len(runs), 'processes': len({p for _, _, p in runs}),
        'overlapping': len(overlaps), 'rows': len(rows),
        'success': statuses['success'], 'skipped': statuses['skipped']})
    assert len(runs) >= 8
    assert not overlaps, overlaps[:3]
    # Both schedules were claimed at each instant; one of the two at most
    # ran, the other was skipped.
    assert set(per_instant.values()) == {2}
    assert statuses['success'] == len(runs)
    assert set(statuses) == {'success', 'skipped'}
    env.shutdown()
