#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""TracCron next to APScheduler 3.11.3 on the same workload, in one run:
N jobs every second for a while, at N = 100 and 1,000.

APScheduler: a `BackgroundScheduler` with a thread pool as large as the
job count, N jobs on `CronTrigger(second='*')` (its job defaults), with
its memory job store and its SQLAlchemy job store on an SQLite file and
on PostgreSQL; each in a process of its own. TracCron: N no-op tasks on
`0/1 * * * * ?` in `trac-admin ENV cron ticker` (SQLite, PostgreSQL;
at 1,000 also 4 ticker processes on PostgreSQL, exactly once across
them). Lag, the same for both: time.time() on the first line of the job
function / wake_up minus the scheduled instant. For each: p50/p99/max
lag, missed, duplicates, CPU µs per occurrence (the processes' user +
system time over the window / occurrences), and the ratio of each peer's
p99 to ours. Prints the targets with yes/no; writes bench/results.json
under 'peers'.

Run from the checkout: `.venv/bin/python bench/peers.py` (APScheduler,
SQLAlchemy: `pip install -r bench/requirements.txt`; `--loads 100`,
`--seconds N`, `--no-save`; `--smoke`: 5 jobs for 2 s, and only
TracCron's side when APScheduler is not installed).
"""

import argparse
import collections
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

import _common as bench

TARGETS = {
    1000: {'missed': 0, 'duplicate': 0, 'p99_ms': 25, 'max_ms': 60,
           'cpu_us_per_occurrence': 100, 'p99_better_than_memory': 5},
    100: {'p99_ms': 5, 'p99_better_than_memory': 5},
}
PEERS = ('memory', 'sqlalchemy-sqlite', 'sqlalchemy-postgres')


# -- APScheduler, in a process of its own -------------------------------------

_started = {}  # job id -> [time.time() at the job's first line]


def peer_job(job_id):
    """The job of every APScheduler job (a textual reference, so that the
    SQLAlchemy job store can pickle it)."""
    _started[job_id].append(time.time())


def peer_child(store, url, schema, jobs, seconds, out):
    """The APScheduler side (`--child`): run `jobs` jobs every second for
    `seconds` whole seconds after start-up, print the window, then write
    [(job, scheduled µs, started µs)] to `out`."""
    from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    if store == 'memory':
        from apscheduler.jobstores.memory import MemoryJobStore
        jobstore = MemoryJobStore()
    else:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        jobstore = SQLAlchemyJobStore(url=url, tableschema=schema)
    scheduled = {}  # job id -> [scheduled instants, in submission order]
    missed = {}     # job id -> [instants submitted but not run (missed)]
    # APScheduler warns of each run it misses: the figures count them.
    logging.getLogger('apscheduler').setLevel(logging.ERROR)

    def submitted(event):
        scheduled[event.job_id].extend(
            t.timestamp() for t in event.scheduled_run_times)

    def skipped(event):
        missed[event.job_id].append(event.scheduled_run_time.timestamp())

    scheduler = BackgroundScheduler(
        jobstores={'default': jobstore},
        executors={'default': ThreadPoolExecutor(jobs)}, timezone='UTC')
    scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    scheduler.add_listener(skipped, EVENT_JOB_MISSED)
    names = bench.task_names(jobs)
    for name in names:
        _started[name], scheduled[name], missed[name] = [], [], []
        scheduler.add_job('__main__:peer_job',
                          CronTrigger(second='*', timezone='UTC'),
                          args=[name], id=name)
    scheduler.start()
    first = int(time.time()) + 2
    last = first + seconds - 1
    print('window %d %d' % (first, last), flush=True)
    time.sleep(max(0, last + 1.5 - time.time()))
    scheduler.pause()  # no submission races the shutdown
    scheduler.shutdown(wait=True)
    # One job runs its instants one after the other (max_instances 1),
    # in the order they were submitted, but for those it found too late
    # (past misfire_grace_time: missed, not run): the k-th start is the
    # k-th instant run.
    runs = [(name, int(round(fire * bench.S)), int(t * bench.S))
            for name in names
            for fire, t in zip(_run_instants(scheduled[name],
                                             missed[name]),
                               _started[name])]
    with open(out, 'w') as f:
        json.dump(runs, f)


def _run_instants(scheduled, missed):
    """`scheduled` but the instants of `missed` (each taken once)."""
    left = collections.Counter(missed)
    instants = []
    for fire in scheduled:
        if left[fire]:
            left[fire] -= 1
        else:
            instants.append(fire)
    return instants


def apscheduler_workload(workdir, store, jobs, seconds, pg_uri=None):
    """Run the APScheduler side in a child process; its figures."""
    url = schema = None
    if store == 'sqlalchemy-sqlite':
        url = 'sqlite:///%s' % os.path.join(workdir, 'aps-%d.sqlite' % jobs)
    elif store == 'sqlalchemy-postgres':
        parts = urlsplit(pg_uri)
        schema = parse_qs(parts.query)['schema'][0]
        url = 'postgresql+psycopg2://%s%s' % (parts.netloc, parts.path)
        with bench.connect(workdir, pg_uri.split('?')[0]) as cnx:
            with cnx.cursor() as cursor:
                cursor.execute('CREATE SCHEMA "%s"' % schema)
            cnx.commit()
    out = os.path.join(workdir, 'aps-%s-%d.json' % (store, jobs))
    args = [sys.executable, os.path.abspath(__file__), '--child', store,
            '--jobs', str(jobs), '--seconds', str(seconds), '--out', out]
    if url:
        args += ['--url', url]
    if schema:
        args += ['--schema', schema]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        if not line or line[0] != 'window':
            raise RuntimeError('APScheduler (%s) did not start' % store)
        first, last = int(line[1]), int(line[2])
        time.sleep(max(0, first - time.time() - 0.5))
        cpu = bench.cpu_seconds(proc.pid)
        time.sleep(max(0, last - time.time() + 0.5))
        cpu = bench.cpu_seconds(proc.pid) - cpu
        if proc.wait(120) != 0:
            raise RuntimeError('APScheduler (%s) exited with %d'
                               % (store, proc.returncode))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open(out) as f:
        runs = [tuple(r) for r in json.load(f)]
    figures = bench.run_figures(runs, bench.task_names(jobs),
                                first * bench.S, last * bench.S)
    figures.update({'tasks': jobs, 'processes': 1, 'seconds': seconds,
                    'cpu_us_per_occurrence': round(
                        cpu * bench.S / figures['occurrences'], 1)})
    return figures


# -- The comparison ----------------------------------------------------------

def cases(load, aps, postgres):
    """(label, side, store or database, processes) of one load."""
    listed = [('traccron sqlite', 'traccron', 'sqlite', 1)]
    if postgres:
        listed.append(('traccron postgres', 'traccron', 'postgres', 1))
        if load >= 1000:
            listed.append(('traccron postgres x4', 'traccron', 'postgres',
                           4))
    if aps:
        listed += [('apscheduler %s' % s, 'apscheduler', s, 1)
                   for s in PEERS
                   if postgres or s != 'sqlalchemy-postgres']
    return listed


def measure(workdir, egg, label, side, kind, processes, load, seconds):
    names = bench.task_names(load)
    database = 'postgres' if kind.endswith('postgres') else 'sqlite'
    if side == 'apscheduler' and kind != 'sqlalchemy-postgres':
        return apscheduler_workload(workdir, kind, load, seconds)
    with bench.fresh_database(database) as uri:
        if side == 'apscheduler':
            return apscheduler_workload(workdir, kind, load, seconds, uri)
        return bench.traccron_workload(
            workdir, egg, uri, names, processes, seconds,
            label=label.replace(' ', '-') + '-%d' % load)


def ratios(results):
    """The p99 of each peer over ours (> 1: ours is better)."""
    for cases_ in results.values():
        peers = dict((k, v) for k, v in cases_.items()
                     if k.startswith('apscheduler'))
        for label, ours in cases_.items():
            if not label.startswith('traccron'):
                continue
            ours['p99_ratio'] = dict(
                (peer, _ratio(figures, ours))
                for peer, figures in peers.items())


def _ratio(peer, ours):
    """The peer's p99 over ours (from the rounded p99s, two decimals:
    not rounded further before it is judged)."""
    a, b = peer['lag_ms']['p99'], ours['lag_ms']['p99']
    if a is None or not b:
        return None
    return round(a / b, 3)


def verdicts(results):
    """[(target, met or None when not measured)]."""
    listed = []
    heavy = results.get('1000', {})
    x4 = heavy.get('traccron postgres x4')
    goal = TARGETS[1000]
    listed.append((
        '1,000/s, 4 processes, PostgreSQL: 0 missed, 0 dup, p99 <= %d ms, '
        'max <= %d ms, CPU <= %d µs/occurrence, >= %dx better p99 than '
        'APScheduler memory store' % (
            goal['p99_ms'], goal['max_ms'], goal['cpu_us_per_occurrence'],
            goal['p99_better_than_memory']),
        None if x4 is None or 'apscheduler memory' not in heavy else
        x4['missed'] == 0 and x4['duplicate'] == 0 and
        _le(x4['lag_ms']['p99'], goal['p99_ms']) and
        _le(x4['lag_ms']['max'], goal['max_ms']) and
        _le(x4['cpu_us_per_occurrence'], goal['cpu_us_per_occurrence']) and
        _ge(x4['p99_ratio'].get('apscheduler memory'),
            goal['p99_better_than_memory'])))
    light = results.get('100', {})
    goal = TARGETS[100]
    for database in ('sqlite', 'postgres'):
        ours = light.get('traccron %s' % database)
        listed.append((
            '100/s, %s: p99 <= %d ms and >= %dx better than APScheduler '
            'memory store' % (database, goal['p99_ms'],
                              goal['p99_better_than_memory']),
            None if ours is None or 'apscheduler memory' not in light else
            _le(ours['lag_ms']['p99'], goal['p99_ms']) and
            _ge(ours['p99_ratio'].get('apscheduler memory'),
                goal['p99_better_than_memory'])))
    return listed


def _le(value, bound):
    return value is not None and value <= bound


def _ge(value, bound):
    return value is not None and value >= bound


def report(results, seconds):
    for load, cases_ in results.items():
        print('\n%s jobs every second, %d s' % (load, seconds))
        print(bench.figures_header() + '  p99 of peer / ours')
        for label, figures in cases_.items():
            line = bench.figures_line(label, figures)
            if 'p99_ratio' in figures:
                line += '  ' + ', '.join(
                    '%s %s' % (peer.split(' ', 1)[1], _fmt_ratio(r))
                    for peer, r in figures['p99_ratio'].items())
            print(line.rstrip())


def _fmt_ratio(ratio):
    return '-' if ratio is None else '%.1fx' % ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loads', type=int, nargs='+', default=[100, 1000],
                        help='jobs per second (default 100 1000)')
    parser.add_argument('--seconds', type=int, default=20)
    parser.add_argument('--no-save', action='store_true')
    parser.add_argument('--child', choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument('--jobs', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--url', help=argparse.SUPPRESS)
    parser.add_argument('--schema', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    bench.smoke_option(parser)
    options = parser.parse_args()
    if options.child:
        return peer_child(options.child, options.url, options.schema,
                          options.jobs, options.seconds, options.out)
    bench.apply_smoke(options, loads=[5], seconds=2)

    try:
        import apscheduler
        aps = apscheduler.__version__
    except ImportError:
        if not options.smoke:
            print('APScheduler is not installed: pip install -r '
                  'bench/requirements.txt (make bench does)')
            return 1
        aps = None
        print('peers left out: APScheduler is not installed (pip install '
              '-r bench/requirements.txt); TracCron only')
    missing = bench.unavailable('postgres')
    if missing:
        print('PostgreSQL left out: %s' % missing)
    if aps:
        print('APScheduler %s' % aps)

    results = {}
    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    try:
        egg = bench.build_egg(workdir)
        for load in options.loads:
            results[str(load)] = {}
            for label, side, kind, processes in cases(load, aps,
                                                      not missing):
                print('%s, %d jobs ...' % (label, load), flush=True)
                results[str(load)][label] = measure(
                    workdir, egg, label, side, kind, processes, load,
                    options.seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratios(results)
    report(results, options.seconds)
    listed = verdicts(results)
    print()
    for target, met in listed:
        bench.verdict(target, met, options.smoke)
    if not options.no_save:
        bench.save('peers', {
            'apscheduler': aps, 'seconds': options.seconds,
            'postgres': missing or 'yes', 'loads': results,
            'targets': [{'target': t, 'met': m} for t, m in listed]})
    return 0


if __name__ == '__main__':
    sys.exit(main())
