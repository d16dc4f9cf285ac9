#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""What the plugin costs an idle tracd: CPU seconds over 60 s of a tracd
with the plugin (100 tasks on daily schedules, none due) and of one
without it, side by side in the same minute, and the ticker's wake-ups.
Targets: the plugin adds < 0.2% of one core; the ticker wakes only for
the 5 s trac.ini check and once per ticker_interval (12 in 60 s).
Prints figures; not a test.

Run from the checkout: `.venv/bin/python bench/idle_cost.py`
(`--seconds N` for a shorter run, `--no-save` to leave
bench/results.json alone).
"""

import argparse
import math
import os
import shutil
import tempfile
import time

import _common as bench

TARGET_SHARE = 0.002   # of one core


def daily_schedules(tasks, now):
    """Daily times at least three hours away from `now`."""
    hour = time.localtime(now).tm_hour
    return dict(('%s.daily' % t, '%02dh%02d' % ((hour + 3 + i % 18) % 24,
                                                 i % 60))
                for i, t in enumerate(tasks))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=int, default=60)
    parser.add_argument('--tasks', type=int, default=100)
    parser.add_argument('--no-save', action='store_true')
    bench.smoke_option(parser)
    options = bench.apply_smoke(parser.parse_args(), seconds=3, tasks=5)
    tasks = bench.task_names(options.tasks)
    seconds = options.seconds

    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    servers = []
    try:
        egg = bench.build_egg(workdir)
        with_path = bench.make_env(
            os.path.join(workdir, 'with'), egg, tasks=tasks,
            traccron=daily_schedules(tasks, time.time()))
        without_path = bench.make_env(os.path.join(workdir, 'without'))
        with_plugin = bench.start_tracd(with_path,
                                        os.path.join(workdir, 'with.log'))
        servers.append(with_plugin)
        without = bench.start_tracd(without_path,
                                    os.path.join(workdir, 'without.log'))
        servers.append(without)
        bench.wait_for_ticker(with_plugin)
        bench.get(without, '/wiki/WikiStart')
        bench.get(with_plugin, '/wiki/WikiStart')
        time.sleep(3)  # start-up done: schedules read, old rows purged
        wakeups = bench.probe(with_plugin)['wakeups']
        before = (bench.cpu_seconds(with_plugin.pid),
                  bench.cpu_seconds(without.pid))
        started = time.time()
        time.sleep(seconds)
        after = (bench.cpu_seconds(with_plugin.pid),
                 bench.cpu_seconds(without.pid))
        elapsed = time.time() - started
        wakeups = bench.probe(with_plugin)['wakeups'] - wakeups
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    cpu_with = after[0] - before[0]
    cpu_without = after[1] - before[1]
    added = (cpu_with - cpu_without) / elapsed
    expected = math.ceil(seconds / 5.0)
    tick = 1.0 / os.sysconf('SC_CLK_TCK')
    resolution = tick / elapsed
    # The kernel counts CPU time in clock ticks: compared in whole ticks
    # (floats of ticks do not subtract exactly). A process's reading is
    # within a tick at either end, so a difference of one tick is no
    # difference.
    added_ticks = round(cpu_with / tick) - round(cpu_without / tick)
    baseline = bench.BEFORE
    no_worse = \
        added_ticks <= round(baseline['idle_added_share'] * elapsed / tick) \
        + 1 and wakeups <= math.ceil(
            baseline['idle_wakeups_per_minute'] * seconds / 60.0) + 1
    figures = {
        'seconds': round(elapsed, 1),
        'tasks': options.tasks,
        'cpu_s_with_plugin': round(cpu_with, 3),
        'cpu_s_without_plugin': round(cpu_without, 3),
        'added_share_of_one_core': round(added, 5),
        'added_clock_ticks': added_ticks,
        'clock_tick_s': 1.0 / os.sysconf('SC_CLK_TCK'),
        'ticker_wakeups': wakeups,
        'expected_wakeups': expected,
        'target_share': TARGET_SHARE,
        'target_met': added < TARGET_SHARE and wakeups <= expected + 1,
        'no_worse_than_before': no_worse,
    }
    print('idle tracd over %.1f s (%d tasks on daily schedules, none due)'
          % (elapsed, options.tasks))
    print('%-34s %10s' % ('', 'CPU s'))
    print('%-34s %10.3f' % ('tracd with the plugin', cpu_with))
    print('%-34s %10.3f' % ('tracd without it', cpu_without))
    print('%-34s %9.3f%%   (target < %.1f%%; resolution %.2f%%)' % (
        'added, share of one core', 100 * added, 100 * TARGET_SHARE,
        100 * resolution))
    print('%-34s %10d   (expected %d: the 5 s trac.ini check)' % (
        'ticker wake-ups', wakeups, expected))
    bench.verdict('added < %.1f%% of one core, wake-ups <= %d' % (
        100 * TARGET_SHARE, expected + 1), figures['target_met'],
        options.smoke)
    bench.verdict('no worse than at %s (added %.3f%% of one core, give or '
                  'take one clock tick; %d wake-ups a minute)' % (
                      baseline['date'], 100 * baseline['idle_added_share'],
                      baseline['idle_wakeups_per_minute']), no_worse,
                  options.smoke)
    if not options.no_save:
        bench.save('idle_cost', figures)


if __name__ == '__main__':
    main()
