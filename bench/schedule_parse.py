# -*- coding: utf-8 -*-
"""Is parsing an hourly/daily/weekly/monthly value linear in its length?

Run from the repository root:

    python bench/schedule_parse.py [--sizes 16000 32000 64000]
                                   [--repeat R] [--old] [--no-save]

Parses values of each size, in the shapes that made the regular
expressions of 0.x backtrack (invalid) and in a valid padded shape, best
of R runs. Prints milliseconds and the time of each size over that of the
first: linear time doubles with the size (2x, 4x), quadratic time
quadruples (4x, 16x). `--old` times the regular expressions that the
parser replaced, on the same values (seconds each at 64,000 characters).
Writes the figures to bench/results.json under "schedule_parse" (other
keys are kept).
"""

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from traccron.scheduler import (DailyScheduler, HourlyScheduler,  # noqa
                                MonthlyScheduler, WeeklyScheduler)

RESULTS = os.path.join(HERE, 'results.json')

# The expressions of traccron/scheduler.py before it split values itself.
_OLD_TIME = re.compile(r'^\s*(\S*?)\s*[hH:]\s*(\S*?)\s*$')
_OLD_DAY_AT = re.compile(r'^\s*(\S*?)\s*@\s*(.*?)\s*$')


def old_time(value):
    """How the old daily parse split a value."""
    return _OLD_TIME.match(value)


def old_day_at(value):
    """How the old weekly and monthly parse split a value."""
    match = _OLD_DAY_AT.match(value)
    return match and _OLD_TIME.match(match.group(2))


# (name, type, old split or None, value of about n characters)
SHAPES = [
    ('hourly digits', HourlyScheduler, None, lambda n: '1' * n),
    ('daily h... x', DailyScheduler, old_time, lambda n: 'h' * n + ' x'),
    ('daily padded', DailyScheduler, old_time,
     lambda n: '21' + ' ' * (n // 2) + 'h' + ' ' * (n // 2) + '19'),
    ('weekly @...', WeeklyScheduler, old_day_at,
     lambda n: '@' * n + '\nx'),
    ('weekly 4@h... x', WeeklyScheduler, old_day_at,
     lambda n: '4@' + 'h' * n + ' x'),
    ('monthly @...', MonthlyScheduler, old_day_at,
     lambda n: '@' * n + '\nx'),
    ('weekly padded', WeeklyScheduler, old_day_at,
     lambda n: '4@21' + ' ' * (n // 2) + 'h' + ' ' * (n // 2) + '28'),
    ('monthly padded', MonthlyScheduler, old_day_at,
     lambda n: '15@21' + ' ' * (n // 2) + ':' + ' ' * (n // 2) + '15'),
]


def best_of(repeat, function, *args):
    best = None
    for _ in range(repeat):
        began = time.perf_counter()
        try:
            function(*args)
        except ValueError:
            pass
        elapsed = time.perf_counter() - began
        best = elapsed if best is None else min(best, elapsed)
    return best


def run(sizes, repeat, old):
    rows = []
    for name, stype, old_split, make in SHAPES:
        row = {'shape': name, 'ms': [], 'old_ms': []}
        for size in sizes:
            value = make(size)
            row['ms'].append(best_of(repeat, stype.parse, value) * 1e3)
            if old and old_split is not None:
                row['old_ms'].append(best_of(1, old_split, value) * 1e3)
        row['ratios'] = [t / row['ms'][0] for t in row['ms']]
        if row['old_ms']:
            row['old_ratios'] = [t / row['old_ms'][0]
                                 for t in row['old_ms']]
        rows.append(row)
    return rows


def print_table(rows, sizes, repeat):
    print('Parsing schedule values, best of %d; time of each size over '
          'that of %d characters' % (repeat, sizes[0]))
    header = '%-17s %s' % ('shape', ' '.join('%15s' % ('%d ch' % s)
                                             for s in sizes))
    print(header)
    print('-' * len(header))
    for row in rows:
        print('%-17s %s' % (row['shape'], ' '.join(
            '%8.2f ms %4.1fx' % (t, r)
            for t, r in zip(row['ms'], row['ratios']))))
        if row.get('old_ratios'):
            print('%-17s %s' % ('  (old regex)', ' '.join(
                '%8.2f ms %4.1fx' % (t, r)
                for t, r in zip(row['old_ms'], row['old_ratios']))))
    worst = max(row['ratios'][-1] for row in rows)
    print('largest ratio at %d characters: %.1fx (linear: %.0fx, '
          'quadratic: %.0fx)' % (sizes[-1], worst, sizes[-1] / sizes[0],
                                 (sizes[-1] / sizes[0]) ** 2))


def save(rows, sizes, repeat):
    try:
        with open(RESULTS) as f:
            results = json.load(f)
    except (OSError, ValueError):
        results = {}
    for row in rows:
        for key in ('ms', 'old_ms', 'ratios', 'old_ratios'):
            if key in row:
                row[key] = [round(v, 3) for v in row[key]]
    results['schedule_parse'] = {
        'sizes': sizes, 'repeat': repeat,
        'python': sys.version.split()[0],
        'date': datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'rows': rows,
    }
    with open(RESULTS, 'w') as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write('\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[16000, 32000, 64000])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--old', action='store_true')
    parser.add_argument('--no-save', action='store_true')
    parser.add_argument('--smoke', action='store_true',
                        help='small values: figures printed but not '
                        'judged, bench/results.json left alone')
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.repeat, args.no_save = [1000, 2000], 1, True
    rows = run(args.sizes, args.repeat, args.old)
    print_table(rows, args.sizes, args.repeat)
    if not args.no_save:
        save(rows, args.sizes, args.repeat)
    return rows


if __name__ == '__main__':
    main()
