#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""10,000 schedules: 2,000 no-op tasks with an hourly, daily, weekly,
monthly and cron schedule each, and one per-second task among them.
Measures the time to build the schedule table at start-up (the ticker's
first wake: `[traccron]` read, schedules compiled, first instants
computed; in this process and as tracd logs it), the memory it adds
(tracemalloc), and the punctuality of the per-second task in a real
tracd (SQLite). Targets: start-up under 1 s; the per-second task within
the punctuality targets. Prints figures; not a test.

Run from the checkout: `.venv/bin/python bench/scale.py`
(`--seconds N` for a shorter tracd run, `--tasks N` for N tasks with
5 schedules each, `--no-save` to leave bench/results.json alone).
"""

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
import tracemalloc

import _common as bench

from trac.env import Environment  # noqa: E402

from traccron import scheduler  # noqa: E402
from traccron.db import CronSetup  # noqa: E402
from traccron.ticker import Ticker  # noqa: E402

TARGETS = {'startup_s': 1.0, 'p99_ms': 10, 'max_ms': 50,
           'bytes_per_schedule': 1500}
DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']
EVERY_SECOND = 'every_second'


def section(tasks):
    """Five schedules per task, of every type, with varied values."""
    options = {'%s.cron' % EVERY_SECOND: '0/1 * * * * ?'}
    for i, t in enumerate(tasks):
        options['%s.hourly' % t] = '%d' % (i % 60)
        options['%s.daily' % t] = '%02dh%02d' % (i * 7 % 24, i % 60)
        options['%s.weekly' % t] = '%d@%02dh%02d' % (i % 7, i % 24,
                                                     i * 13 % 60)
        options['%s.monthly' % t] = '%d@%02dh%02d' % (1 + i % 28,
                                                      i * 5 % 24, i % 60)
        options['%s.cron' % t] = '%d %d %d ? * %s' % (
            i % 60, i * 7 % 60, i % 24, DAYS[i % 7])
    return options


def in_process(workdir, tasks, options, repeat):
    """Start-up time (cold: compiled values forgotten each time) and the
    memory a ticker holds for its schedule table."""
    path = os.path.join(workdir, 'inprocess')
    env = Environment(path, create=True, options=[
        ('trac', 'database', 'sqlite:db/trac.db'),
        ('components', 'traccron.*', 'enabled')] +
        [('traccron', k, v) for k, v in sorted(options.items())])
    with open(os.path.join(path, 'plugins', 'bench_tasks.py'), 'w') as f:
        f.write(bench.tasks_plugin(tasks + [EVERY_SECOND]))
    CronSetup(env).upgrade_environment()
    env.shutdown()
    env = Environment(path)

    def first_tick():
        scheduler.clear_cache()
        ticker = Ticker(path, lambda: env, spawn=lambda *args: None,
                        config_check=None)
        started = time.perf_counter()
        ticker.tick()
        return ticker, time.perf_counter() - started

    first_tick()  # modules imported, components made
    times = []
    for _ in range(repeat):
        ticker, elapsed = first_tick()
        times.append(elapsed)
    schedules = len(ticker.agenda)
    del ticker
    scheduler.clear_cache()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ticker, _ = first_tick()
    added = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del ticker
    env.shutdown()
    return {'schedules': schedules,
            'startup_s': {'median': round(statistics.median(times), 3),
                          'max': round(max(times), 3),
                          'runs': len(times)},
            'memory_added_mb': round(added / 2 ** 20, 1),
            'memory_bytes_per_schedule': added // max(schedules, 1)}


def in_tracd(workdir, egg, tasks, options, seconds):
    env_path = bench.make_env(os.path.join(workdir, 'tracd'), egg,
                              tasks=tasks + [EVERY_SECOND],
                              traccron=options, log_level='DEBUG')
    tracd = bench.start_tracd(env_path, os.path.join(workdir, 'tracd.log'))
    try:
        bench.wait_for_ticker(tracd)
        first = (int(time.time()) + 3) * bench.S
        last = first + (seconds - 1) * bench.S
        time.sleep(max(0, last / bench.S - time.time()) + 2)
        rss = bench.rss_bytes(tracd.pid)
    finally:
        tracd.stop()
    figures = bench.punctuality(env_path, 'sqlite:db/trac.db',
                                [EVERY_SECOND], first, last)
    with open(os.path.join(env_path, 'log', 'trac.log'),
              errors='replace') as f:
        reads = [(int(m.group(1)), float(m.group(2))) for m in
                 re.finditer(r'TracCron: (\d+) schedules \(read in '
                             r'([\d.]+) s\)', f.read())]
    figures.update({'seconds': seconds,
                    'startup_s_logged': reads[0][1] if reads else None,
                    'schedules_logged': reads[0][0] if reads else None,
                    'tracd_rss_mb': round(rss / 2 ** 20, 1)})
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=int, default=60)
    parser.add_argument('--tasks', type=int, default=2000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--no-save', action='store_true')
    bench.smoke_option(parser)
    options = bench.apply_smoke(parser.parse_args(), tasks=20, seconds=3,
                                repeat=1)
    tasks = bench.task_names(options.tasks, prefix='task')
    values = section(tasks)

    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    try:
        figures = in_process(workdir, tasks, values, options.repeat)
        egg = bench.build_egg(workdir)
        figures['tracd'] = in_tracd(workdir, egg, tasks, values,
                                    options.seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    lag = figures['tracd']
    figures['targets'] = TARGETS
    met = {
        'startup': figures['startup_s']['max'] < TARGETS['startup_s'] and
        (lag['startup_s_logged'] or 99) < TARGETS['startup_s'],
        'memory': figures['memory_bytes_per_schedule'] <=
        TARGETS['bytes_per_schedule'],
        'punctuality': lag['claim_lag_ms']['p99'] <= TARGETS['p99_ms'] and
        lag['start_lag_ms']['p99'] <= TARGETS['p99_ms'] and
        lag['start_lag_ms']['max'] <= TARGETS['max_ms'] and
        lag['missed'] == 0 and lag['not_run'] == 0 and
        lag['duplicate'] == 0}
    figures['target_met'] = all(met.values())
    print('%d schedules (%d tasks x 5 types + 1 per-second task)' % (
        figures['schedules'], options.tasks))
    print('start-up, in process (cold, %d runs): median %.3f s, max %.3f s'
          % (figures['startup_s']['runs'], figures['startup_s']['median'],
             figures['startup_s']['max']))
    print('start-up, logged by tracd:                %s s (%s schedules)' % (
        lag['startup_s_logged'], lag['schedules_logged']))
    print('memory added by the schedule table:       %.1f MiB, %d bytes a '
          'schedule (tracd RSS %.1f MiB)' % (
              figures['memory_added_mb'], figures['memory_bytes_per_schedule'],
              lag['tracd_rss_mb']))
    print(bench.lag_header())
    for line in bench.lag_table('every_second (SQLite)', lag):
        print(line)
    print('statuses %s' % lag['statuses'])
    bench.verdict('start-up < %.0f s, in process and logged by tracd' %
                  TARGETS['startup_s'], met['startup'], options.smoke)
    bench.verdict('memory <= %d bytes (1.5 KB) a schedule at %d schedules'
                  % (TARGETS['bytes_per_schedule'], figures['schedules']),
                  met['memory'], options.smoke)
    bench.verdict('per-second task among them: p99 <= %d ms, max <= %d ms, '
                  'none missed, none twice' % (TARGETS['p99_ms'],
                                               TARGETS['max_ms']),
                  met['punctuality'], options.smoke)
    if not options.no_save:
        bench.save('scale', figures)


if __name__ == '__main__':
    main()
