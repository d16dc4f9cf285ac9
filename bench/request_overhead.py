#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Requests per second on a wiki page of tracd with the plugin (its
ticker running, 100 tasks on daily schedules) and without it, loaded in
turn (A B B A ...) in the same run, with `wrk` (Debian package) or, when
it is missing, a Python loop of several threads. Target: with the plugin
>= 98% of without. Prints figures; not a test. On a shared machine the
rounds vary by +-15%: request_instructions.py counts instructions instead,
which does not depend on the machine's load.

Run from the checkout: `.venv/bin/python bench/request_overhead.py`
(`--seconds N` per round, `--rounds N` rounds of each, `--no-save` to
leave bench/results.json alone).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

import _common as bench
from idle_cost import daily_schedules

PAGE = '/wiki/WikiStart'
TARGET_RATIO = 0.98
CONNECTIONS = 4


def load_wrk(url, seconds):
    """Requests per second, and the number of requests served."""
    out = subprocess.run(['wrk', '-t1', '-c%d' % CONNECTIONS,
                          '-d%ds' % seconds, url], capture_output=True,
                         text=True, check=True).stdout
    errors = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if errors:
        raise RuntimeError('%s answered %s errors' % (url, errors.group(1)))
    return (float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),
            int(re.search(r'(\d+) requests in', out).group(1)))


def load_python(url, seconds):
    count = [0]
    lock = threading.Lock()
    deadline = time.time() + seconds

    def loop():
        n = 0
        while time.time() < deadline:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
            n += 1
        with lock:
            count[0] += n

    started = time.time()
    threads = [threading.Thread(target=loop) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.time() - started), count[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=int, default=4)
    parser.add_argument('--rounds', type=int, default=8)
    parser.add_argument('--tasks', type=int, default=100)
    parser.add_argument('--no-save', action='store_true')
    bench.smoke_option(parser)
    options = bench.apply_smoke(parser.parse_args(), seconds=1, rounds=1,
                                tasks=5)
    tasks = bench.task_names(options.tasks)
    tool = 'wrk' if shutil.which('wrk') else 'python'
    load = load_wrk if tool == 'wrk' else load_python

    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    servers = []
    rates = {'with': [], 'without': []}
    # CPU time of the tracd process per request: less sensitive than the
    # rate to what else the machine does meanwhile.
    cpu = {'with': [], 'without': []}
    try:
        egg = bench.build_egg(workdir)
        paths = {
            'with': bench.make_env(
                os.path.join(workdir, 'with'), egg, tasks=tasks,
                traccron=daily_schedules(tasks, time.time()),
                log_level='WARNING'),
            'without': bench.make_env(os.path.join(workdir, 'without'),
                                      log_level='WARNING'),
        }
        tracds = {}
        for name, path in paths.items():
            tracds[name] = bench.start_tracd(
                path, os.path.join(workdir, name + '.log'))
            servers.append(tracds[name])
        bench.wait_for_ticker(tracds['with'])
        for name in tracds:  # warm: templates compiled, caches filled
            load(tracds[name].base + PAGE, 2)
        order = []
        for _ in range(options.rounds):
            order += ['with', 'without', 'without', 'with']
        order = order[:2 * options.rounds]
        for name in order:
            before = bench.cpu_seconds(tracds[name].pid)
            rate, served = load(tracds[name].base + PAGE, options.seconds)
            rates[name].append(rate)
            cpu[name].append((bench.cpu_seconds(tracds[name].pid) - before)
                             / max(served, 1) * 1e3)
        probes = dict((name, bench.probe(tracds[name])) for name in tracds)
        assert probes['with']['ticker']
        objects = dict((name, probes[name]['gc_objects']) for name in probes)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    mean = dict((k, statistics.mean(v)) for k, v in rates.items())
    ratio = mean['with'] / mean['without']
    # Rounds next to each other saw the same load of the machine.
    pairs = [w / wo for w, wo in zip(rates['with'], rates['without'])]
    figures = {
        'tool': tool, 'connections': CONNECTIONS, 'page': PAGE,
        'seconds_per_round': options.seconds,
        'rounds_each': len(rates['with']),
        'rps_with_plugin': [round(r, 1) for r in rates['with']],
        'rps_without_plugin': [round(r, 1) for r in rates['without']],
        'mean_rps_with_plugin': round(mean['with'], 1),
        'mean_rps_without_plugin': round(mean['without'], 1),
        'ratio': round(ratio, 3),
        'pair_ratios': [round(r, 3) for r in pairs],
        'median_pair_ratio': round(statistics.median(pairs), 3),
        'cpu_ms_per_request_with_plugin': [round(c, 2) for c in cpu['with']],
        'cpu_ms_per_request_without_plugin': [round(c, 2)
                                              for c in cpu['without']],
        'cpu_ratio': round(statistics.median(cpu['without']) /
                           statistics.median(cpu['with']), 3),
        'gc_objects_with_plugin': objects['with'],
        'gc_objects_without_plugin': objects['without'],
        'target_ratio': TARGET_RATIO,
        'target_met': ratio >= TARGET_RATIO,
        'no_worse_than_before': ratio >= bench.BEFORE['request_ratio'],
    }
    print('%s on %s, %d connections, %d s rounds, A B B A order' % (
        tool, PAGE, CONNECTIONS, options.seconds))
    print('%-22s %10s   %s' % ('', 'mean req/s', 'rounds'))
    for name in ('with', 'without'):
        print('%-22s %10.1f   %s' % (
            'tracd %s the plugin' % name, mean[name],
            ' '.join('%.1f' % r for r in rates[name])))
    print('ratio with/without: %.3f of the means, %.3f median of the '
          'rounds side by side (%s)' % (
              ratio, figures['median_pair_ratio'],
              ' '.join('%.2f' % r for r in pairs)))
    print('CPU ms per request (median): %.2f with, %.2f without; '
          'ratio without/with %.3f' % (
              statistics.median(cpu['with']),
              statistics.median(cpu['without']), figures['cpu_ratio']))
    print('objects tracked by the garbage collector (Trac runs a full '
          'collection after each request): %d with, %d without (%+.1f%%)' % (
              objects['with'], objects['without'],
              100.0 * (objects['with'] - objects['without']) /
              objects['without']))
    bench.verdict('requests a second with/without >= %.2f' % TARGET_RATIO,
                  figures['target_met'], options.smoke)
    bench.verdict('no worse than at %s (ratio %.3f)' % (
        bench.BEFORE['date'], bench.BEFORE['request_ratio']),
        figures['no_worse_than_before'], options.smoke)
    if not options.no_save:
        bench.save('request_overhead', figures)


if __name__ == '__main__':
    main()
