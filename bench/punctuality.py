#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Punctuality in a real tracd: 100 no-op tasks, each on the per-second
cron schedule `0/1 * * * * ?`, for 60 s, on SQLite and PostgreSQL.
Lag = started - fire_time: at the claim (`started` in cron_history) and
at the start of wake_up (the task notes the time). Targets: p99 <= 10 ms,
max <= 50 ms, 0 missed, 0 duplicate. Prints figures; not a test.

Run from the checkout: `.venv/bin/python bench/punctuality.py`
(`--seconds N` for a shorter run, `--tasks N`, `--db sqlite` for one
database, `--gc-freeze` to see tracd with `gc.freeze()` after start-up,
`--no-save` to leave bench/results.json alone).
"""

import argparse
import os
import shutil
import tempfile
import time

import _common as bench

TARGETS = {'p99_ms': 10, 'max_ms': 50, 'missed': 0, 'duplicate': 0}


def measure(workdir, egg, kind, uri, tasks, seconds, gc_freeze=False):
    env_path = bench.make_env(
        os.path.join(workdir, 'env-%s' % kind), egg, uri, tasks=tasks,
        traccron=dict(('%s.cron' % t, '0/1 * * * * ?') for t in tasks))
    tracd = bench.start_tracd(env_path, os.path.join(workdir,
                                                     'tracd-%s.log' % kind))
    try:
        bench.wait_for_ticker(tracd)
        if gc_freeze:
            bench.probe(tracd, gc_freeze=True)
        # Leave the start-up (schedules read, first claims) out.
        first = (int(time.time()) + 3) * bench.S
        last = first + (seconds - 1) * bench.S
        time.sleep(max(0, first / bench.S - time.time()))
        wakeups = bench.probe(tracd)['wakeups']
        cpu = bench.cpu_seconds(tracd.pid)
        time.sleep(max(0, last / bench.S - time.time()))
        state = bench.probe(tracd)
        wakeups = state['wakeups'] - wakeups
        gc_pauses = state['gc_pauses']
        cpu = bench.cpu_seconds(tracd.pid) - cpu
        time.sleep(2)  # the last runs finish
    finally:
        tracd.stop()
    figures = bench.punctuality(env_path, uri, tasks, first, last)
    figures.update({'tasks': len(tasks), 'seconds': seconds,
                    'ticker_wakeups': wakeups, 'gc_pauses': gc_pauses,
                    'tracd_cpu_share': round(cpu / seconds, 3),
                    'log_errors': _errors(os.path.join(env_path, 'log',
                                                       'trac.log'))})
    return figures


def _errors(log):
    with open(log, errors='replace') as f:
        return sum(1 for line in f if ' ERROR: ' in line)


def met(figures):
    return all(figures[name]['p99'] is not None and
               figures[name]['p99'] <= TARGETS['p99_ms'] and
               figures[name]['max'] <= TARGETS['max_ms']
               for name in ('claim_lag_ms', 'start_lag_ms')) and \
        figures['missed'] == 0 and figures['not_run'] == 0 and \
        figures['duplicate'] == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=int, default=60)
    parser.add_argument('--tasks', type=int, default=100)
    parser.add_argument('--db', action='append',
                        choices=['sqlite', 'postgres'])
    parser.add_argument('--gc-freeze', action='store_true',
                        help='call gc.freeze() in tracd once Trac is '
                        'loaded (a deployment option; not saved)')
    parser.add_argument('--no-save', action='store_true')
    bench.smoke_option(parser)
    options = bench.apply_smoke(parser.parse_args(), tasks=3, seconds=3)
    tasks = bench.task_names(options.tasks)

    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    results = {'targets': TARGETS}
    try:
        egg = bench.build_egg(workdir)
        for kind in options.db or ['sqlite', 'postgres']:
            reason = bench.unavailable(kind)
            if reason:
                print('%s: skipped (%s)' % (kind, reason))
                results[kind] = {'skipped': reason}
                continue
            with bench.fresh_database(kind) as uri:
                figures = measure(workdir, egg, kind, uri, tasks,
                                  options.seconds, options.gc_freeze)
            figures['target_met'] = met(figures)
            results[kind] = figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print('%d tasks on 0/1 * * * * ?, %d s' % (options.tasks,
                                              options.seconds))
    print(bench.lag_header())
    for kind in ('sqlite', 'postgres'):
        figures = results.get(kind)
        if not figures or 'skipped' in figures:
            continue
        for line in bench.lag_table(kind, figures):
            print(line)
    for kind in ('sqlite', 'postgres'):
        figures = results.get(kind)
        if figures and 'skipped' not in figures:
            print('%s: %d occurrences, not run %d, statuses %s, ticker '
                  'wake-ups %d, tracd CPU %.1f%% of a core, log errors %d' % (
                      kind, figures['occurrences'], figures['not_run'],
                      figures['statuses'], figures['ticker_wakeups'],
                      100 * figures['tracd_cpu_share'],
                      figures['log_errors']))
            print('%s: instants with claim lag > 10 ms: %d of %d (worst '
                  '%s ms); GC pauses (gen 0/1/2): %s' % (
                      kind, figures['instants_claim_lag_over_10ms'],
                      figures['instants'],
                      figures['worst_instants_claim_lag_ms'],
                      ', '.join('%d x, max %.1f ms' % (g['count'],
                                                       g['max_ms'])
                                for g in figures['gc_pauses'])))
    for kind in ('sqlite', 'postgres'):
        figures = results.get(kind)
        if figures and 'skipped' not in figures:
            bench.verdict('%s: claim and start lag p99 <= %d ms, max <= %d '
                          'ms, none missed, none twice' % (
                              kind, TARGETS['p99_ms'], TARGETS['max_ms']),
                          figures['target_met'], options.smoke)
    if not options.no_save and not options.gc_freeze:
        bench.save('punctuality', results)


if __name__ == '__main__':
    main()
