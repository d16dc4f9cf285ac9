#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The scaling curve: N no-op tasks on `0/1 * * * * ?` at N = 100, 300,
1,000 and 3,000, in 1 and in 4 `trac-admin ENV cron ticker` processes,
on SQLite and PostgreSQL. For each point: lag p50/p99/max (time.time()
at the start of wake_up minus the scheduled instant), missed, duplicates,
CPU µs per occurrence (the processes' user + system time over the window
/ occurrences) and SQL statements per occurrence (counted in Trac's
debug_sql log over 3 more seconds, turned on in trac.ini after the timed
window so that its cost stays out of the lag; pg_stat_statements would
need shared_preload_libraries, which a stock server lacks). Names the
knee of each line: the highest load that holds the targets (0 missed,
0 dup, p99 <= 25 ms).
Writes bench/results.json under 'scale_curve' and the plot
bench/scale_curve.png (p99 lag against load, log scales; needs
matplotlib, see bench/requirements.txt).

Run from the checkout: `.venv/bin/python bench/scale_curve.py`
(`--loads 100 300`, `--processes 1`, `--db sqlite`, `--seconds N`
(default 20), `--sql-seconds N` (default 3, 0: no count), `--no-save`;
`--smoke`: 5 tasks in 2 processes on SQLite for 2 s, SQL over 1 s, no
plot).
"""

import argparse
import math
import os
import shutil
import sys
import tempfile

import _common as bench

#: What a point must hold to be below the knee: the lag targets, which
#: do not depend on the load (the CPU target is for 1,000 a second on 4
#: processes: bench/peers.py judges it).
TARGETS = {'missed': 0, 'duplicate': 0, 'p99_ms': 25, 'max_ms': 60}
#: Graceful saturation: at this load, on these lines, no occurrence
#: missed or run twice, whatever the lag.
SATURATION = (3000, ('postgres x1', 'postgres x4'))
PLOT = os.path.join(bench.ROOT, 'bench', 'scale_curve.png')


def holds(figures):
    lag = figures['lag_ms']
    return figures['missed'] == TARGETS['missed'] and \
        figures['duplicate'] == TARGETS['duplicate'] and \
        lag['p99'] is not None and lag['p99'] <= TARGETS['p99_ms'] and \
        lag['max'] <= TARGETS['max_ms']


def knee(points):
    """The highest load of `points` {load: figures} at which the targets
    hold, and every lower load holds them too (`None`: not even the
    first)."""
    found = None
    for load in sorted(points):
        if not holds(points[load]):
            break
        found = load
    return found


def saturation(curve, load, lines):
    """[(target, met or None when not measured)] of graceful saturation
    at `load` on each of `lines`."""
    listed = []
    for name in lines:
        figures = curve.get(name, {}).get(str(load))
        lag = ('p99 %s ms, max %s ms' % (bench.fmt(figures['lag_ms']['p99']),
                                         bench.fmt(figures['lag_ms']['max']))
               if figures else 'not measured')
        listed.append((
            '%s tasks/s, %s: 0 missed, 0 dup, whatever the lag (%s)' % (
                '{:,}'.format(load), name, lag),
            None if figures is None else
            figures['missed'] == 0 and figures['duplicate'] == 0))
    return listed


def text_plot(curve, per_decade=10):
    """The plot as text: p99 lag (ms, log scale) against load, a letter
    a line (the README shows it)."""
    loads = sorted(set(int(n) for points in curve.values() for n in points))
    marks = dict((name, chr(ord('a') + i)) for i, name in
                 enumerate(sorted(curve)))
    values = [p['lag_ms']['p99'] for points in curve.values()
              for p in points.values() if p['lag_ms']['p99']]
    if not loads or not values:
        return []
    low = math.floor(math.log10(min(values)))
    high = max(math.ceil(math.log10(max(values + [TARGETS['p99_ms']]))),
               low + 1)
    height = (high - low) * per_decade + 1
    width = 10
    grid = [[' '] * (width * len(loads)) for _ in range(height)]

    def row(value):
        return height - 1 - int(round(
            (math.log10(value) - low) * per_decade))
    labels = {}
    for decade in range(low, high + 1):
        for first in (1, 2, 5):
            value = first * 10 ** decade
            if value <= 10 ** high:
                labels[row(value)] = value
    grid[row(TARGETS['p99_ms'])] = ['-'] * (width * len(loads))
    for name, points in sorted(curve.items()):
        for n, load in enumerate(loads):
            figures = points.get(str(load))
            if figures and figures['lag_ms']['p99']:
                cells = grid[row(figures['lag_ms']['p99'])]
                column = n * width + width // 2 - 2
                while cells[column] not in ' -':
                    column += 1
                cells[column] = marks[name]
    lines = [(('%9s ms |' % ('%g' % labels[r]) if r in labels else
               '%12s |' % '') + ''.join(cells)).rstrip()
             for r, cells in enumerate(grid)]
    lines.append('%12s +%s' % ('', '-' * (width * len(loads))))
    lines.append(('%12s  %s' % ('', ''.join(
        '{:,}'.format(n).center(width) for n in loads))).rstrip())
    lines.append('%12s  p99 lag against per-second tasks; ----- target '
                 '%d ms' % ('', TARGETS['p99_ms']))
    lines.append('%12s  %s' % ('', ', '.join(
        '%s: %s' % (marks[n], n) for n in sorted(curve))))
    return lines


def line_name(database, processes):
    return '%s x%d' % (database, processes)


def plot(curve, path):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    for name, points in curve.items():
        loads = sorted(int(n) for n in points)
        p99 = [points[str(n)]['lag_ms']['p99'] or float('nan')
               for n in loads]
        axes.plot(loads, p99, marker='o', label=name)
    axes.axhline(TARGETS['p99_ms'], color='grey', linestyle='--',
                 label='target p99 %d ms' % TARGETS['p99_ms'])
    axes.set_xscale('log')
    axes.set_yscale('log')
    axes.set_xlabel('per-second tasks (occurrences per second)')
    axes.set_ylabel('p99 lag (ms)')
    axes.set_title('TracCron: p99 lag against load (cron ticker)')
    axes.grid(True, which='both', alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print('plot written to %s' % os.path.relpath(path, bench.ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loads', type=int, nargs='+',
                        default=[100, 300, 1000, 3000])
    parser.add_argument('--processes', type=int, nargs='+', default=[1, 4])
    parser.add_argument('--db', action='append',
                        choices=['sqlite', 'postgres'])
    parser.add_argument('--seconds', type=int, default=20)
    parser.add_argument('--sql-seconds', type=int, default=3,
                        help='how long SQL statements are counted after '
                        'each point (0: not at all)')
    parser.add_argument('--no-save', action='store_true')
    bench.smoke_option(parser)
    options = bench.apply_smoke(parser.parse_args(), loads=[5],
                                processes=[2], seconds=2,
                                sql_seconds=1, db=['sqlite'])

    curve, skipped = {}, {}
    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    try:
        egg = bench.build_egg(workdir)
        for database in options.db or ['sqlite', 'postgres']:
            reason = bench.unavailable(database)
            if reason:
                print('%s left out: %s' % (database, reason))
                skipped[database] = reason
                continue
            for processes in options.processes:
                name = line_name(database, processes)
                curve[name] = {}
                for load in options.loads:
                    print('%s, %d tasks ...' % (name, load), flush=True)
                    with bench.fresh_database(database) as uri:
                        curve[name][str(load)] = bench.traccron_workload(
                            workdir, egg, uri, bench.task_names(load),
                            processes, options.seconds,
                            count_sql=options.sql_seconds,
                            label='%s-%d-%d' % (database, processes, load))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    knees = dict((name, knee(dict((int(n), f) for n, f in points.items())))
                 for name, points in curve.items())
    print('\nper-second tasks, %d s per point; targets: 0 missed, 0 dup, '
          'p99 <= %d ms' % (options.seconds, TARGETS['p99_ms']))
    print(bench.figures_header() + ' SQL/occ  holds')
    for name, points in curve.items():
        for load, figures in points.items():
            print('%s %8s  %s' % (
                bench.figures_line('%s, %s tasks' % (name, load), figures),
                bench.fmt(figures.get('sql_per_occurrence')),
                'n/j' if options.smoke else
                'yes' if holds(figures) else 'no'))
    if not options.smoke:
        for name, load in knees.items():
            print('knee of %s: %s' % (name, 'below %d' % min(options.loads)
                                      if load is None else load))
    print()
    for line in text_plot(curve):
        print(line)
    # Graceful saturation, past the knee maybe: in a smoke run, at its
    # one load on its one line.
    load, lines = SATURATION
    if options.smoke:
        load, lines = max(options.loads), list(curve)
    listed = saturation(curve, load, lines)
    print()
    for target, met in listed:
        bench.verdict(target, met, options.smoke)
    if not options.no_save:
        bench.save('scale_curve', {
            'seconds': options.seconds, 'targets': TARGETS,
            'skipped': skipped, 'curve': curve, 'knee': knees,
            'saturation': [{'target': t, 'met': m} for t, m in listed],
            'sql_counted_by': 'debug_sql log over %d s after the window'
            % options.sql_seconds})
        plot(curve, PLOT)
    return 0


if __name__ == '__main__':
    sys.exit(main())
