# -*- coding: utf-8 -*-
"""How fast is CronExpression.next_after, next to croniter's get_next?

Run from the repository root:

    python bench/cron_speed.py [--calls N] [--repeat R] [--no-save]

For each expression, each library computes N fire times in a chain (each
result is the start of the next search), best of R runs, in the same
process.  Both chains go back to the start date when they reach 2190, so
they do the same work.  Prints microseconds per call and the ratio, and
writes the figures to bench/results.json under "cron_speed" (other keys
are kept).  croniter is a development dependency only.
"""

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from traccron.cron import CronExpression  # noqa: E402

try:
    from croniter import croniter
except ImportError:                         # pragma: no cover
    croniter = None

RESULTS = os.path.join(HERE, 'results.json')
RESTART_YEAR = 2190

# (our expression, croniter's equivalent and options, or None with why not)
EXPRESSIONS = [
    ('*/5 * * * *', '*/5 * * * *', {}),
    ('0 9 * * MON-FRI', '0 9 * * MON-FRI', {}),
    ('0 0 29 2 *', '0 0 29 2 *', {}),
    # Quartz day of week 6 (Friday) is croniter's 5; its "last" is L5.
    ('0 15 10 ? * 6L', '0 15 10 * * L5', {'second_at_beginning': True}),
    ('0 0 12 LW * ?', None, 'croniter has no LW (last weekday of month)'),
    ('0 0 12 15W * ?', '0 0 12 15W * *', {'second_at_beginning': True}),
    ('0/15 * * * * ?', '0/15 * * * * *', {'second_at_beginning': True}),
    ('0 30 2 * * ?', '0 30 2 * * *', {'second_at_beginning': True}),
]

ZONES = [('UTC', timezone.utc), ('Europe/Paris', ZoneInfo('Europe/Paris'))]


def time_ours(text, tz, calls, repeat):
    """Best time per call (seconds) of a chain of next_after calls."""
    expr = CronExpression(text, tz)
    start = datetime(2025, 1, 1, tzinfo=tz)
    best = None
    for _ in range(repeat):
        instant = start
        began = time.perf_counter()
        for _ in range(calls):
            instant = expr.next_after(instant)
            if instant.year >= RESTART_YEAR:
                instant = start
        elapsed = time.perf_counter() - began
        best = elapsed if best is None else min(best, elapsed)
    return best / calls


def time_croniter(text, options, tz, calls, repeat):
    """Best time per call (seconds) of croniter's get_next in a chain."""
    start = datetime(2025, 1, 1, tzinfo=tz)
    iterator = croniter(text, start, **options)
    best = None
    for _ in range(repeat):
        iterator.set_current(start, force=True)
        began = time.perf_counter()
        for _ in range(calls):
            instant = iterator.get_next(datetime)
            if instant.year >= RESTART_YEAR:
                iterator.set_current(start, force=True)
        elapsed = time.perf_counter() - began
        best = elapsed if best is None else min(best, elapsed)
    return best / calls


def check_same_results(text, cron_text, options, tz, count=50):
    """Both libraries give the same first fire times (else say so)."""
    expr = CronExpression(text, tz)
    start = datetime(2025, 1, 1, tzinfo=tz)
    iterator = croniter(cron_text, start, **options)
    instant = start
    for _ in range(count):
        instant = expr.next_after(instant)
        if instant is None or instant.year >= RESTART_YEAR:
            break
        if instant != iterator.get_next(datetime):
            return False
    return True


def run(calls, repeat):
    rows = []
    for zone_name, tz in ZONES:
        for text, cron_text, options in EXPRESSIONS:
            row = {'zone': zone_name, 'expression': text,
                   'ours_us': time_ours(text, tz, calls, repeat) * 1e6}
            if cron_text is None:
                row['croniter'] = None
                row['note'] = options
            elif croniter is None:
                row['croniter'] = None
                row['note'] = 'croniter is not installed'
            else:
                row['croniter'] = cron_text
                row['croniter_us'] = time_croniter(
                    cron_text, options, tz, calls, repeat) * 1e6
                row['ratio'] = row['croniter_us'] / row['ours_us']
                if not check_same_results(text, cron_text, options, tz):
                    row['note'] = 'fire times differ (DST rules)'
            rows.append(row)
    return rows


def croniter_version():
    try:
        from importlib.metadata import version
        return version('croniter')
    except Exception:
        return '?'


def print_table(rows, calls, repeat):
    print('next_after vs croniter %s get_next: %d chained calls, best of %d'
          % (croniter_version(), calls, repeat))
    header = '%-13s %-17s %10s %12s %7s  %s' % (
        'zone', 'expression', 'ours us', 'croniter us', 'ratio', 'note')
    print(header)
    print('-' * len(header))
    for row in rows:
        if row.get('croniter_us') is None:
            print('%-13s %-17s %10.2f %12s %7s  %s' % (
                row['zone'], row['expression'], row['ours_us'], '-', '-',
                row.get('note', '')))
        else:
            print('%-13s %-17s %10.2f %12.2f %6.1fx  %s' % (
                row['zone'], row['expression'], row['ours_us'],
                row['croniter_us'], row['ratio'], row.get('note', '')))
    ratios = [row['ratio'] for row in rows if 'ratio' in row]
    if ratios:
        print('smallest ratio: %.1fx' % min(ratios))


def save(rows, calls, repeat):
    try:
        with open(RESULTS) as f:
            results = json.load(f)
    except (OSError, ValueError):
        results = {}
    for row in rows:
        for key in ('ours_us', 'croniter_us', 'ratio'):
            if key in row:
                row[key] = round(row[key], 2)
    results['cron_speed'] = {
        'calls': calls, 'repeat': repeat,
        'python': sys.version.split()[0],
        'croniter': croniter_version(),
        'date': datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'rows': rows,
    }
    with open(RESULTS, 'w') as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write('\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--calls', type=int, default=10000)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--no-save', action='store_true')
    parser.add_argument('--smoke', action='store_true',
                        help='a few calls: figures printed but not judged, '
                        'bench/results.json left alone')
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.repeat, args.no_save = 30, 1, True
    rows = run(args.calls, args.repeat)
    print_table(rows, args.calls, args.repeat)
    if not args.no_save:
        save(rows, args.calls, args.repeat)
    return rows


if __name__ == '__main__':
    main()
