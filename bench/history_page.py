#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Server time to render the History admin page with 1,000,000 rows in
`cron_history` (SQLite): page 1 and page 1000, unfiltered and filtered.
Target: under 100 ms each. Prints figures; not a test.

Run from the checkout: `.venv/bin/python bench/history_page.py`
(`--rows N` for another table size, `--no-save` to leave
bench/results.json alone).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _common import apply_smoke, fill_history, smoke_option  # noqa: E402
from trac.env import Environment  # noqa: E402
from trac.perm import PermissionSystem  # noqa: E402
from trac.test import MockRequest  # noqa: E402
from trac.web.api import RequestDone  # noqa: E402
from trac.web.main import RequestDispatcher  # noqa: E402

from traccron import ticker  # noqa: E402
from traccron.db import CronSetup  # noqa: E402
from traccron.web_ui import PAGE_SIZE  # noqa: E402

TASKS = ['heart_beat', 'sleeping_ticket', 'auto_postpone',
         'unreachable_milestone', 'ticket_deadline']
STATUSES = ['success', 'success', 'success', 'failure', 'skipped',
            'missed']
RESULTS = os.path.join(ROOT, 'bench', 'results.json')


def make_env(path, rows):
    env = Environment(path, create=True, options=[
        ('trac', 'database', 'sqlite:db/trac.db'),
        ('components', 'traccron.*', 'enabled'),
        ('traccron', 'ticker_enabled', 'false'),
        ('traccron', 'timezone', 'Europe/Paris')])
    CronSetup(env).upgrade_environment()
    PermissionSystem(env).grant_permission('admin', 'TRAC_ADMIN')
    fill_history(env, TASKS, rows, 60_000_000, STATUSES)
    return env


def render(env, args):
    req = MockRequest(env, authname='admin',
                      path_info='/admin/traccron/cron_history', args=args)
    started = time.perf_counter()
    try:
        RequestDispatcher(env).dispatch(req)
    except RequestDone:
        pass
    elapsed = time.perf_counter() - started
    assert req.status_sent[0].startswith('200'), req.status_sent
    body = req.response_sent.getvalue()
    assert body.count(b'class="cron-row ') == PAGE_SIZE, args
    return elapsed * 1000


def measure(env, args, repeat):
    render(env, args)  # warm: templates compiled, pages cached
    times = [render(env, args) for _ in range(repeat)]
    return {'median_ms': round(statistics.median(times), 1),
            'max_ms': round(max(times), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--deep-page', type=int, default=1000,
                        help='the far page rendered (default 1000)')
    parser.add_argument('--no-save', action='store_true')
    smoke_option(parser)
    options = apply_smoke(parser.parse_args(), rows=2000, repeat=1,
                          deep_page=2)
    ticker.ensure_ticker = lambda env: None  # no thread: a page, no more

    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    try:
        started = time.perf_counter()
        env = make_env(os.path.join(workdir, 'env'), options.rows)
        print('%d rows inserted in %.1f s' % (
            options.rows, time.perf_counter() - started))
        deep = str(options.deep_page)
        cases = [
            ('page 1', {}),
            ('page %s' % deep, {'page': deep}),
            ('page %s, status=failure' % deep, {'status': 'failure',
                                                'page': deep}),
            ('page 1, task=heart_beat', {'task': 'heart_beat'}),
            ('page %s, task=heart_beat' % deep, {'task': 'heart_beat',
                                                 'page': deep}),
        ]
        figures = {'rows': options.rows, 'page_size': PAGE_SIZE,
                   'database': 'sqlite', 'target_ms': 100}
        for label, args in cases:
            result = measure(env, args, options.repeat)
            figures[label] = result
            print('%-44s median %7.1f ms   max %7.1f ms' % (
                label, result['median_ms'], result['max_ms']))
        # A task filter is slow while the only index starting with `task`
        # is the unique (task, schedule, fire_time): the rows of the task
        # must then be sorted by id. The same pages with an index on
        # (task, id), proposed for the schema:
        env.db_transaction("CREATE INDEX cron_history_task_id_bench_idx "
                           "ON cron_history (task, id)")
        for label, args in cases[3:]:
            label += ', index (task, id)'
            result = measure(env, args, options.repeat)
            figures[label] = result
            print('%-44s median %7.1f ms   max %7.1f ms' % (
                label, result['median_ms'], result['max_ms']))
        env.shutdown()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if not options.no_save:
        results = {}
        if os.path.exists(RESULTS):
            with open(RESULTS) as f:
                results = json.load(f)
        results['history_page'] = figures
        with open(RESULTS, 'w') as f:
            json.dump(results, f, indent=2, sort_keys=True)
            f.write('\n')
        print('written to %s' % os.path.relpath(RESULTS, ROOT))


if __name__ == '__main__':
    main()
