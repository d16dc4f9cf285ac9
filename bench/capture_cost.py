# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""What capturing a run's log lines costs.

Run from the repository root:

    python bench/capture_cost.py [--runs N] [--lines L] [--no-save]

Runs a task through `Core.execute` (claim excluded, outcome and log
written to an SQLite file database) N times with `log_capture_bytes = 0`
(no capture) and N times with the default cap, for tasks logging 0, 10
and L lines at INFO. Prints the median and p90 µs per run of each, and
the extra µs capture costs per run and per line, measured in the same
process one after the other.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

# _common sets sys.path for traccron and tests.
from _common import apply_smoke, save, smoke_option

from trac.core import Component, implements
from trac.env import Environment

from traccron import history
from traccron.api import ICronTask, TaskRun
from traccron.core import Core
from traccron.dispatcher import RunRegistry, install_registry


class Logging(Component):
    implements(ICronTask)
    lines = 0

    def wake_up(self, *args):
        for i in range(Logging.lines):
            self.log.info('bench line %d of a task that talks', i)

    def getId(self):
        return 'logging'

    def getDescription(self):
        return 'logs Logging.lines lines'


def measure(env, runs, lines, cap):
    env.config.set('traccron', 'log_capture_bytes', str(cap))
    Logging.lines = lines
    core = Core(env)
    task = core.get_task('logging')
    times = []
    base = int(time.time() * 1e6)
    for n in range(runs):
        fire = base + n
        claim, = history.claim(env, [history.Claim('logging', 'bench',
                                                   fire, fire)],
                               'bench:1', fire)
        run = TaskRun(task, 'logging', 'bench', (), fire, 'bench:1',
                      claim.id)
        start = time.perf_counter()
        core.execute(run)
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=300)
    parser.add_argument('--lines', type=int, default=100)
    parser.add_argument('--no-save', action='store_true')
    smoke_option(parser)
    options = apply_smoke(parser.parse_args(), runs=20, lines=10)
    path = tempfile.mkdtemp(prefix='traccron-bench-')
    try:
        env = Environment(os.path.join(path, 'env'), create=True, options=[
            ('trac', 'database', 'sqlite:db/trac.db'),
            ('logging', 'log_type', 'none'),
            ('logging', 'log_level', 'INFO'),
            ('components', 'traccron.*', 'enabled'),
            ('components', '__main__.*', 'enabled')], default_data=False)
        install_registry(env.path, RunRegistry(env.path, auto=False))
        rows = []
        for lines in (0, 10, options.lines):
            without = measure(env, options.runs, lines, 0)
            with_ = measure(env, options.runs, lines, 64 * 1024)
            extra = with_[0] - without[0]
            rows.append({'lines': lines,
                         'without_p50_us': round(without[0], 1),
                         'without_p90_us': round(without[1], 1),
                         'with_p50_us': round(with_[0], 1),
                         'with_p90_us': round(with_[1], 1),
                         'extra_p50_us': round(extra, 1),
                         'extra_per_line_us': round(extra / lines, 2)
                         if lines else None})
        env.shutdown()
    finally:
        shutil.rmtree(path)
    print('%6s %14s %14s %12s %10s' % ('lines', 'no capture µs', 'capture µs',
                                       'extra µs', 'per line'))
    for r in rows:
        print('%6d %7.1f/%6.1f %7.1f/%6.1f %12.1f %10s' % (
            r['lines'], r['without_p50_us'], r['without_p90_us'],
            r['with_p50_us'], r['with_p90_us'], r['extra_p50_us'],
            r['extra_per_line_us'] if r['extra_per_line_us'] is not None
            else '-'))
    print('(median/p90 of %d runs each; one SQLite file database: a log '
          'is stored in a transaction of its own, nothing is stored for a '
          'run that logged nothing)' % options.runs)
    if not options.no_save:
        save('capture_cost', {'runs': options.runs, 'rows': rows,
                              'python': sys.version.split()[0]})


if __name__ == '__main__':
    main()
