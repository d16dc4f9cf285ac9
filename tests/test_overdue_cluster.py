# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Overdue alerts across real processes: three `trac-admin ENV cron
ticker` processes sharing one database raise "overdue" and "recovered"
once in total, also when all of them are killed and started again in
the middle of the episode."""

import collections
import os
import time

from tracd import PLUGIN_HEAD, report, trac_admin

from support import wait_for
from test_cluster import Cluster, make_cluster_env

# A task that fails until ENV/flag exists, and a listener that appends a
# line "kind task pid" to ENV/alerts.log for each overdue or recovered
# alert it is told of (O_APPEND: whole lines from any process).
PLUGIN = PLUGIN_HEAD + '''
from traccron.api import ITaskEventListener

class Flaky(PluginTask):
    """fails until ENV/flag exists"""
    task_id = 'flaky'
    def wake_up(self, *args):
        if not os.path.exists(os.path.join(self.env.path, 'flag')):
            raise RuntimeError('no flag yet')

class AlertLog(Component):
    """notes the overdue and recovered alerts"""
    implements(ITaskEventListener)
    def onStartTask(self, task):
        pass
    def onEndTask(self, task, success):
        pass
    def onTaskAlert(self, alert):
        if alert.kind not in ('overdue', 'recovered'):
            return
        line = '%s %s %d\\n' % (alert.kind, alert.task_id, os.getpid())
        fd = os.open(os.path.join(self.env.path, 'alerts.log'),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    def getId(self):
        return 'alert_log'
    def getDescription(self):
        return self.__doc__
'''

#: Seconds without success after which the task is overdue.
ALERT_AFTER = 3


def overdue_env(tmp_path, egg, uri):
    env = make_cluster_env(tmp_path, egg, uri, {
        'timezone': 'UTC',
        'flaky.cron': '0/1 * * * * ?',
        'flaky.alert_after': '%ds' % ALERT_AFTER})
    with open(os.path.join(env.path, 'plugins', 'overdue_alerts.py'),
              'w') as f:
        f.write(PLUGIN)
    return env


def alerts(env):
    """`[(kind, pid)]` of the alerts the listeners were told of."""
    try:
        with open(os.path.join(env.path, 'alerts.log')) as f:
            return [(kind, int(pid)) for kind, task, pid in
                    (line.split() for line in f)]
    except FileNotFoundError:
        return []


def counts(env):
    """How many overdue and recovered alerts the listeners of all the
    processes were told of, and the rows of `cron_alert`."""
    told = collections.Counter(kind for kind, pid in alerts(env))
    rows = env.db_query("""SELECT raised_by, recovered, recovered_by
                           FROM cron_alert WHERE task='flaky'""")
    return {'overdue told': told['overdue'],
            'recovered told': told['recovered'],
            'episodes': len(rows),
            'episodes recovered': sum(1 for r in rows if r[1] is not None)}


def told(env, kind, timeout=30):
    return wait_for(lambda: kind in dict(alerts(env)), timeout, 0.1)


def recover(env):
    with open(os.path.join(env.path, 'flag'), 'w'):
        pass


def assert_checks_did_not_fail(cluster):
    for proc in cluster.procs + cluster.killed:
        with open(proc.log.name) as f:
            assert 'could not check for overdue' not in f.read()
    with open(os.path.join(cluster.env_path, 'log', 'trac.log')) as f:
        assert 'could not check for overdue' not in f.read()


def test_three_processes_raise_overdue_and_recovered_once(tmp_path, egg,
                                                          database):
    kind, uri = database
    env = overdue_env(tmp_path, egg, uri)
    cluster = Cluster(env.path, tmp_path).start_all(3)
    assert told(env, 'overdue')
    # Each process checks a few more times while the task stays overdue.
    time.sleep(4)
    recover(env)
    assert told(env, 'recovered')
    time.sleep(4)
    assert cluster.stop() == [0, 0, 0]
    got = counts(env)
    report('%s overdue, 3 processes' % kind, got)
    assert got == {'overdue told': 1, 'recovered told': 1, 'episodes': 1,
                   'episodes recovered': 1}
    assert {pid for _, pid in alerts(env)} <= {p.pid for p in cluster.procs}
    assert_checks_did_not_fail(cluster)
    env.shutdown()


def test_overdue_and_recovered_once_across_a_restart_of_all(
        tmp_path, egg, sqlite_or_postgres):
    kind, uri = sqlite_or_postgres
    env = overdue_env(tmp_path, egg, uri)
    cluster = Cluster(env.path, tmp_path).start_all(3)
    assert told(env, 'overdue')
    time.sleep(2)
    for _ in range(3):
        cluster.kill_one()
    cluster.start_all(3)
    # The new processes check at their start, and again each second,
    # while the episode is still open.
    time.sleep(6)
    assert counts(env)['overdue told'] == 1
    recover(env)
    assert told(env, 'recovered')
    time.sleep(4)
    assert cluster.stop() == [0, 0, 0]
    got = counts(env)
    report('%s overdue, 3 processes killed and restarted' % kind, got)
    assert got == {'overdue told': 1, 'recovered told': 1, 'episodes': 1,
                   'episodes recovered': 1}
    killed, restarted = ({p.pid for p in cluster.killed},
                         {p.pid for p in cluster.procs})
    (overdue_pid,) = [pid for k, pid in alerts(env) if k == 'overdue']
    (recovered_pid,) = [pid for k, pid in alerts(env) if k == 'recovered']
    assert overdue_pid in killed and recovered_pid in restarted
    assert_checks_did_not_fail(cluster)

    # With no ticker left, the task is overdue again after ALERT_AFTER:
    # cron status, run twice, raises that second episode once.
    time.sleep(ALERT_AFTER + 1)
    codes = [trac_admin(env.path, 'cron', 'status', check=False).returncode
             for _ in range(2)]
    got = counts(env)
    report('%s overdue, then cron status twice' % kind, got)
    assert codes == [2, 2]
    assert got == {'overdue told': 2, 'recovered told': 1, 'episodes': 2,
                   'episodes recovered': 1}
    assert alerts(env)[-1][1] not in killed | restarted
    env.shutdown()
