# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""What the benchmarks that run a real `tracd` share: the egg, an
environment made with trac-admin, a plugin of no-op test tasks, a probe
that shows the ticker from inside tracd, reading `cron_history`, the
figures file. Not a benchmark itself (`make bench` skips it)."""

import configparser
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, 'tests')):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from databases import fresh_database, unavailable  # noqa: E402,F401
from tracd import (BIN, Tracd, build_egg, clean_environ,  # noqa: E402,F401
                   init_env, terminate)

RESULTS = os.path.join(ROOT, 'bench', 'results.json')
S = 1000000

# No-op tasks for a plugin file in ENV/plugins: each execution notes
# "task fire_time started pid" (µs; `started` is when wake_up began) in
# memory, as APScheduler's job of bench/peers.py does; a thread appends
# the lines to ENV/executions.log at half past each second (when no run
# of a per-second schedule is going on), and `trac-admin cron ticker` at
# its exit (tracd is killed: its benches wait past the next half
# second).
TASKS_HEAD = '''
import atexit, os, threading, time
from trac.core import Component, implements
from traccron.api import ICronTask, current_run

_lines = []
_where = []
_lock = threading.Lock()

def note(env, name):
    now = int(time.time() * 1000000)
    _lines.append('%s %d %d %d\\n' % (name, current_run().fire_time, now,
                                       os.getpid()))
    if not _where:
        with _lock:
            if not _where:
                _where.append(os.path.join(env.path, 'executions.log'))
                thread = threading.Thread(target=_flushing,
                                          name='bench-flush')
                thread.daemon = True
                thread.start()

def _flush():
    with _lock:
        count = len(_lines)
        if not count or not _where:
            return
        text = ''.join(_lines[:count])
        del _lines[:count]
        data = text.encode()
        fd = os.open(_where[0], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)

def _flushing():
    while True:
        time.sleep((0.5 - time.time()) % 1.0 or 1.0)
        _flush()

atexit.register(_flush)
'''

TASK_CLASS = '''
class Task_{name}(Component):
    implements(ICronTask)
    def wake_up(self, *args):
        note(self.env, '{name}')
    def getId(self):
        return '{name}'
    def getDescription(self):
        return 'no-op'
'''

# Shows the ticker of this environment from inside tracd, and the
# pauses of Python's garbage collector (they hold every thread).
PROBE = '''
import gc, json, os, threading, time
from trac.core import Component, implements
from trac.web.api import IRequestHandler

_gc = {'started': None, 'pauses': [[], [], []]}

def _gc_watch(phase, info):
    if phase == 'start':
        _gc['started'] = time.perf_counter()
    elif _gc['started'] is not None:
        _gc['pauses'][info['generation']].append(
            (time.perf_counter() - _gc['started']) * 1000)

if not any(getattr(c, '__name__', '') == '_gc_watch' for c in gc.callbacks):
    gc.callbacks.append(_gc_watch)

class TracCronBenchProbe(Component):
    implements(IRequestHandler)

    def match_request(self, req):
        return req.path_info == '/traccron-probe'

    def process_request(self, req):
        if req.args.get('gc_freeze'):
            # What a deployment may do in its WSGI script or tracd
            # wrapper once Trac is loaded: move the objects of start-up
            # out of the collector's reach, so that a full collection
            # scans only what came since (a pause of ~100 ms -> a few ms).
            gc.collect()
            gc.freeze()
        try:
            from traccron.ticker import get_ticker
            ticker = get_ticker(self.env.path)
        except ImportError:
            ticker = None
        body = json.dumps({
            'pid': os.getpid(),
            'ticker': ticker is not None,
            'wakeups': ticker.wakeups if ticker else None,
            'threads': threading.active_count(),
            'gc_objects': len(gc.get_objects()),
            'gc_pauses': [{'count': len(p), 'max_ms': max(p, default=0),
                           'total_ms': sum(p)} for p in _gc['pauses']],
        }).encode('utf-8')
        req.send(body, 'application/json')
'''


def smoke_option(parser):
    """Add `--smoke` to a benchmark's `parser`."""
    parser.add_argument(
        '--smoke', action='store_true',
        help='a tiny run (a few tasks, a few seconds) that shows the '
        'benchmark works: figures printed but not judged, '
        'bench/results.json left alone')


def apply_smoke(options, **sizes):
    """With `--smoke`, replace the options' sizes by the tiny `sizes`
    and leave bench/results.json alone. Returns `options`."""
    if options.smoke:
        for name, value in sizes.items():
            setattr(options, name, value)
        options.no_save = True
        print('smoke run (tiny sizes): figures not judged, %s not written'
              % os.path.relpath(RESULTS, ROOT))
    return options


def verdict(target, met, smoke=False):
    """Print a target's line: `yes` or `no`, `-` when it was not
    measured, `n/j` (not judged) in a smoke run."""
    print('%-3s %s' % ('n/j' if smoke else '-' if met is None else
                       'yes' if met else 'no', target))


#: What bench/results.json held at commit 9bd84a0 (2 December 2026),
#: before the scheduler was made ready for 1,000 runs a second: its idle
#: cost and request overhead must be no worse.
BEFORE = {'date': '9bd84a0 (2 December 2026)',
          'idle_added_share': 0.0, 'idle_wakeups_per_minute': 12,
          'request_ratio': 1.095, 'instructions_ratio': 0.9977}


def task_names(count, prefix='noop'):
    return ['%s_%05d' % (prefix, i) for i in range(count)]


def tasks_plugin(names):
    return TASKS_HEAD + ''.join(TASK_CLASS.format(name=n) for n in names)


def make_env(path, egg=None, database='sqlite:db/trac.db', tasks=(),
             traccron=None, log_level='INFO', probe=True):
    """An environment made with trac-admin; with `egg` the plugin is in
    plugins/ and upgraded, with the no-op `tasks` and the `[traccron]`
    options `traccron`. Returns its path."""
    path = str(path)
    init_env(path, egg, database=database)
    plugins = os.path.join(path, 'plugins')
    if tasks:
        with open(os.path.join(plugins, 'bench_tasks.py'), 'w') as f:
            f.write(tasks_plugin(tasks))
    if probe:
        with open(os.path.join(plugins, 'bench_probe.py'), 'w') as f:
            f.write(PROBE)
    ini = os.path.join(path, 'conf', 'trac.ini')
    parser = configparser.RawConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(ini)
    sections = {'logging': {'log_type': 'file', 'log_level': log_level}}
    if traccron is not None:
        sections['traccron'] = traccron
    for section, options in sections.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, str(value))
    with open(ini, 'w') as f:
        parser.write(f)
    return path


def start_tracd(env_path, log_path):
    return Tracd(env_path, log_path)


def get(tracd, path, timeout=30):
    with urllib.request.urlopen(tracd.base + path, timeout=timeout) as r:
        return r.read()


def probe(tracd, gc_freeze=False):
    path = '/traccron-probe' + ('?gc_freeze=1' if gc_freeze else '')
    return json.loads(get(tracd, path).decode('utf-8'))


def wait_for_ticker(tracd, timeout=30):
    """Send requests until the ticker runs in `tracd` (it starts on the
    first request)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = probe(tracd)
        if state['ticker']:
            return state
        time.sleep(0.2)
    raise RuntimeError('the ticker did not start in tracd')


def cpu_seconds(pid):
    """utime + stime of process `pid` (every thread, ended ones too)."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def rss_bytes(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return None


@contextlib.contextmanager
def connect(env_path, uri):
    """A DB-API connection to the environment's database (SQLite file or
    PostgreSQL schema)."""
    if uri.startswith('sqlite:'):
        cnx = sqlite3.connect(os.path.join(env_path, uri.split(':', 1)[1]))
    elif uri.startswith('postgres'):
        import psycopg2
        url = urlsplit(uri)
        cnx = psycopg2.connect(host=url.hostname, port=url.port or 5432,
                               user=url.username,
                               password=url.password or '',
                               dbname=url.path.lstrip('/'))
        schema = parse_qs(url.query).get('schema')
        if schema:
            with cnx.cursor() as cursor:
                cursor.execute('SET search_path TO "%s"' % schema[0])
    else:
        raise ValueError(uri)
    try:
        yield cnx
    finally:
        cnx.close()


def history_rows(env_path, uri):
    """`[(task, schedule, fire_time, started, status)]` of cron_history."""
    with connect(env_path, uri) as cnx:
        cursor = cnx.cursor()
        cursor.execute('SELECT task, schedule, fire_time, started, status '
                       'FROM cron_history')
        return cursor.fetchall()


def executions(env_path):
    """`[(task, fire_time, started, pid)]` from executions.log."""
    path = os.path.join(env_path, 'executions.log')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(t, int(fire), int(started), int(pid)) for t, fire, started,
                pid in (line.split() for line in f if line.strip())]


def percentile(values, p):
    """Nearest-rank percentile of `values` (`None` when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def punctuality(env_path, uri, tasks, first, last, step=1):
    """Figures of the per-`step`-second schedules of `tasks` for the fire
    instants in [`first`, `last`] (µs): lag at claim (`started` in
    cron_history) and at the start of wake_up (executions.log), in ms,
    with the missed and duplicate counts."""
    wanted = set(tasks)
    fires = range(-(-first // (step * S)) * step * S, last + 1, step * S)
    expected = set((t, f) for t in wanted for f in fires)
    rows = [r for r in history_rows(env_path, uri)
            if (r[0], r[2]) in expected]
    ran = dict(((r[0], r[2]), r) for r in rows
               if r[4] in ('running', 'success', 'failure'))
    runs = {}
    for task, fire, started, _ in executions(env_path):
        if (task, fire) in expected:
            runs.setdefault((task, fire), []).append(started)
    claim_lag = [(r[3] - r[2]) / 1000.0 for r in ran.values()]
    start_lag = [(min(s) - key[1]) / 1000.0 for key, s in runs.items()]
    figures = {
        'occurrences': len(expected),
        'missed': len(expected) - len(ran),
        'not_run': len(expected) - len(runs),
        'duplicate': sum(len(s) - 1 for s in runs.values()) +
        len(rows) - len(set((r[0], r[2]) for r in rows)),
        'statuses': dict((s, sum(1 for r in rows if r[4] == s))
                         for s in sorted(set(r[4] for r in rows))),
    }
    # All tasks of one instant share its claim: the worst instants tell
    # whether a high percentile is one slow second or a steady cost.
    by_fire = {}
    for r in ran.values():
        by_fire[r[2]] = max(by_fire.get(r[2], 0), (r[3] - r[2]) / 1000.0)
    figures['instants'] = len(by_fire)
    figures['instants_claim_lag_over_10ms'] = sum(1 for v in by_fire.values()
                                                  if v > 10)
    figures['worst_instants_claim_lag_ms'] = [
        _round(v) for v in sorted(by_fire.values())[-3:]]
    for name, lags in (('claim_lag', claim_lag), ('start_lag', start_lag)):
        figures[name + '_ms'] = {
            'p50': _round(percentile(lags, 50)),
            'p99': _round(percentile(lags, 99)),
            'max': _round(max(lags) if lags else None),
            'min': _round(min(lags) if lags else None),
        }
    return figures


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def save(key, figures):
    """Write `figures` under `key` in bench/results.json, keeping the
    other keys."""
    results = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            results = json.load(f)
    results[key] = figures
    with open(RESULTS, 'w') as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write('\n')
    print('written to %s' % os.path.relpath(RESULTS, ROOT))


def lag_table(label, figures):
    """Lines of the punctuality table for one case."""
    lines = []
    for name in ('claim_lag_ms', 'start_lag_ms'):
        lag = figures[name]
        lines.append('%-28s %-10s %8s %8s %8s   missed %d  duplicate %d' % (
            label, name[:-7], fmt(lag['p50']), fmt(lag['p99']),
            fmt(lag['max']), figures['missed'], figures['duplicate']))
    return lines


def lag_header():
    return '%-28s %-10s %8s %8s %8s' % ('case', 'lag (ms)', 'p50', 'p99',
                                        'max')


def fmt(value):
    return '-' if value is None else '%.2f' % value


def fill_history(env, tasks, rows, step_us, statuses,
                 start=1_700_000_000_000_000, batch=100_000):
    """Insert `rows` finished runs into `cron_history`, the tasks taking
    turns, one every `step_us` from `start`, their status cycling through
    `statuses` (a failure has a traceback as its message)."""
    with env.db_transaction as db:
        cursor = db.cursor()
        for first in range(0, rows, batch):
            cursor.executemany(
                "INSERT INTO cron_history (task, schedule, fire_time, "
                "started, ended, status, message, runner, heartbeat, "
                "attempt) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,1)",
                [_bench_row(i, tasks, statuses, start + i * step_us)
                 for i in range(first, min(rows, first + batch))])


def _bench_row(i, tasks, statuses, fire):
    status = statuses[i % len(statuses)]
    message = 'Traceback (most recent call last):\n  ...\n' \
        'RuntimeError: run %d failed' % i if status == 'failure' else ''
    return (tasks[i % len(tasks)], 'daily', fire, fire,
            fire + 1_500_000 + i % 7 * 100_000, status, message,
            'host:%d' % (i % 3), fire)


# The per-second workload that peers.py and scale_curve.py share: N tasks
# on `0/1 * * * * ?` run by `trac-admin ENV cron ticker` processes. Lag is
# the first line of the task (time.time() at the start of wake_up) minus
# the scheduled instant, as for the peers.

EVERY_SECOND = '0/1 * * * * ?'
SQL_LINE = b'] DEBUG: SQL: '  # trac.db.util.IterableCursor, debug_sql


def run_figures(runs, names, first, last, step=1):
    """Figures of `runs` [(name, fire µs, started µs)] for the
    per-`step`-second occurrences of `names` in [`first`, `last`] (µs):
    lag p50/p99/max (ms, first start of each occurrence), missed (never
    started), duplicate (started more than once)."""
    fires = range(-(-first // (step * S)) * step * S, last + 1, step * S)
    expected = set((n, f) for n in names for f in fires)
    starts = {}
    for name, fire, started in runs:
        if (name, fire) in expected:
            starts.setdefault((name, fire), []).append(started)
    lags = [(min(s) - key[1]) / 1000.0 for key, s in starts.items()]
    return {'occurrences': len(expected),
            'missed': len(expected) - len(starts),
            'duplicate': sum(len(s) - 1 for s in starts.values()),
            'lag_ms': {'p50': _round(percentile(lags, 50)),
                       'p99': _round(percentile(lags, 99)),
                       'max': _round(max(lags) if lags else None)}}


def figures_line(label, figures):
    """One line of the lag table (see `figures_header`)."""
    lag = figures['lag_ms']
    return '%-34s %8s %8s %8s %7d %5d %9s' % (
        label, fmt(lag['p50']), fmt(lag['p99']), fmt(lag['max']),
        figures['missed'], figures['duplicate'],
        fmt(figures.get('cpu_us_per_occurrence')))


def figures_header():
    return '%-34s %8s %8s %8s %7s %5s %9s' % (
        'case', 'p50 ms', 'p99 ms', 'max ms', 'missed', 'dup',
        'CPU µs/occ')


class Tickers(object):
    """`trac-admin ENV cron ticker` processes sharing one environment."""

    def __init__(self, env_path, log_dir, count):
        self.procs = []
        for i in range(count):
            log = open(os.path.join(log_dir, 'ticker-%d.log' % i), 'wb')
            proc = subprocess.Popen(
                [os.path.join(BIN, 'trac-admin'), env_path, 'cron',
                 'ticker'], stdout=log, stderr=subprocess.STDOUT,
                env=clean_environ(), cwd='/')
            proc.log = log
            self.procs.append(proc)

    def cpu_seconds(self):
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def alive(self):
        return all(p.poll() is None for p in self.procs)

    def stop(self):
        for proc in self.procs:
            terminate(proc, 30)
            proc.log.close()


def traccron_workload(workdir, egg, uri, tasks, processes, seconds,
                      count_sql=0, label='traccron'):
    """Run `tasks` on the per-second schedule in `processes` cron ticker
    processes on the database `uri` for `seconds` whole seconds; return
    the figures of `run_figures` with the CPU µs per occurrence (every
    process's user + system time over the window, by the runs that
    started in it: behind its runs, a process starts those of the window
    later) and, with `count_sql`
    seconds, the SQL statements per occurrence counted in Trac's
    debug_sql log over that many more seconds."""
    env_path = make_env(
        os.path.join(workdir, label), egg, uri, tasks=tasks,
        traccron=dict([('ticker_enabled', 'true')] +
                      [('%s.cron' % t, EVERY_SECOND) for t in tasks]),
        log_level='WARNING', probe=False)
    log = os.path.join(env_path, 'executions.log')
    tickers = Tickers(env_path, workdir, processes)
    try:
        _wait_for(lambda: os.path.exists(log), 60, tickers,
                  'no task ran within 60 s')
        first = (int(time.time()) + 2) * S
        last = first + (seconds - 1) * S
        time.sleep(max(0, first / S - time.time() - 0.5))
        cpu, began = tickers.cpu_seconds(), time.time()
        time.sleep(max(0, last / S - time.time() + 0.5))
        cpu, ended = tickers.cpu_seconds() - cpu, time.time()
        statements = sql_statements(env_path, tickers, processes,
                                    count_sql) if count_sql else None
        _settle(env_path, tasks, first, last)
    finally:
        tickers.stop()
    runs = [(t, fire, started) for t, fire, started, _ in executions(
        env_path)]
    figures = run_figures(runs, tasks, first, last)
    started = sum(1 for _, _, at in runs if began * S <= at <= ended * S)
    figures.update({'tasks': len(tasks), 'processes': processes,
                    'seconds': seconds,
                    'cpu_us_per_occurrence': _round(
                        cpu * S / max(started, 1), 1)})
    if count_sql:
        figures['sql_per_occurrence'] = None if statements is None else \
            _round(statements / (float(count_sql) * len(tasks)), 3)
        figures['sql_counted_by'] = 'debug_sql log over %d s' % count_sql
    return figures


def _settle(env_path, tasks, first, last, quiet=3.0, longest=90.0):
    """Wait until the per-second occurrences of `tasks` in [`first`,
    `last`] have started, or none more started for `quiet` seconds (an
    occurrence that starts later than misfire_grace, 60 s, is missed),
    `longest` at most: behind its runs, a process claims them late
    rather than skip them, and the last ones start once it has caught
    up."""
    wanted = len(tasks) * ((last - first) // S + 1)
    time.sleep(1.5)
    seen, since, deadline = -1, time.time(), time.time() + longest
    while time.time() < deadline:
        started = len(set((t, fire) for t, fire, _, _ in
                          executions(env_path) if first <= fire <= last))
        if started >= wanted:
            return
        if started != seen:
            seen, since = started, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.5)


def _wait_for(condition, timeout, tickers, message):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline or not tickers.alive():
            raise RuntimeError(message)
        time.sleep(0.1)


def sql_statements(env_path, tickers, processes, window=3):
    """Turn on `[trac] debug_sql` in trac.ini (each ticker reloads the
    environment within its 5 s trac.ini check), then count the statements
    logged over `window` whole seconds; `None` when none was logged
    within 20 s."""
    ini = os.path.join(env_path, 'conf', 'trac.ini')
    parser = configparser.RawConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(ini)
    parser.set('trac', 'debug_sql', 'true')
    parser.set('logging', 'log_level', 'DEBUG')
    with open(ini, 'w') as f:
        parser.write(f)
    trac_log = os.path.join(env_path, 'log', 'trac.log')

    def logged():
        with open(trac_log, 'rb') as f:
            return f.read().count(SQL_LINE)
    try:
        _wait_for(lambda: logged() > 0, 20, tickers, '')
    except RuntimeError:
        return None
    # The first process logs SQL: the others follow within 5 s.
    time.sleep(6 if processes > 1 else 0.5)
    start = int(time.time()) + 1
    time.sleep(start - time.time())
    before = logged()
    time.sleep(start + window - time.time())
    return logged() - before
