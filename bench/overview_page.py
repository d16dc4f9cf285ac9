#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Server time to render the Overview admin page with 200 tasks and
1,000,000 rows in `cron_history` (SQLite): the latest 20 rows of each
task, its schedules in words and its next run. Target: under 100 ms.
Prints figures; not a test.

Run from the checkout: `.venv/bin/python bench/overview_page.py`
(`--tasks N`, `--rows N` for other sizes, `--no-save` to leave
bench/results.json alone).
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time

from _common import (apply_smoke, fill_history, percentile, save,
                     smoke_option, task_names, tasks_plugin)

from trac.env import Environment
from trac.perm import PermissionSystem
from trac.test import MockRequest
from trac.web.api import RequestDone
from trac.web.main import RequestDispatcher

from traccron import ticker
from traccron.db import CronSetup
from traccron.web.overview import RECENT

STATUSES = ['success'] * 8 + ['failure', 'skipped']
#: A schedule per task, in turn: every kind of wording.
SCHEDULES = [('daily', '21h19'), ('hourly', '17'), ('weekly', '4@21h28'),
             ('monthly', '15@21h15'), ('cron', '*/5 * * * *'),
             ('cron', '0 15 10 ? * MON-FRI'), ('cron', '0 0 12 1 * ?')]


def make_env(path, names, rows):
    options = [('trac', 'database', 'sqlite:db/trac.db'),
               ('components', 'traccron.*', 'enabled'),
               ('traccron', 'ticker_enabled', 'false'),
               ('traccron', 'timezone', 'Europe/Paris')]
    for i, name in enumerate(names):
        type_id, value = SCHEDULES[i % len(SCHEDULES)]
        options.append(('traccron', '%s.%s' % (name, type_id), value))
    env = Environment(path, create=True, options=options)
    with open(os.path.join(path, 'plugins', 'bench_tasks.py'), 'w') as f:
        f.write(tasks_plugin(names))
    CronSetup(env).upgrade_environment()
    PermissionSystem(env).grant_permission('admin', 'TRAC_ADMIN')
    fill_history(env, names, rows, 1_000_000, STATUSES)
    env.shutdown()
    # Opened again: the tasks of plugins/ are loaded.
    return Environment(path)


def render(env, tasks):
    req = MockRequest(env, authname='admin',
                      path_info='/admin/traccron/cron_overview')
    started = time.perf_counter()
    cpu = time.process_time()
    try:
        RequestDispatcher(env).dispatch(req)
    except RequestDone:
        pass
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    assert req.status_sent[0].startswith('200'), req.status_sent
    body = req.response_sent.getvalue()
    assert body.count(b'<tr id="overview-') == tasks
    return elapsed * 1000, cpu * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=200)
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--repeat', type=int, default=21)
    parser.add_argument('--no-save', action='store_true')
    smoke_option(parser)
    options = apply_smoke(parser.parse_args(), tasks=5, rows=2000,
                          repeat=1)
    ticker.ensure_ticker = lambda env: None  # no thread: a page, no more

    workdir = tempfile.mkdtemp(prefix='traccron-bench-')
    try:
        names = task_names(options.tasks)
        started = time.perf_counter()
        env = make_env(os.path.join(workdir, 'env'), names, options.rows)
        print('%d tasks, %d rows inserted in %.1f s' % (
            options.tasks, options.rows, time.perf_counter() - started))
        tasks = render_count(env)
        render(env, tasks)  # warm: templates compiled, schedules cached
        measured = [render(env, tasks) for _ in range(options.repeat)]
        env.shutdown()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    times = [t for t, _ in measured]
    figures = {'tasks': options.tasks, 'rows': options.rows,
               'rows_shown': tasks, 'runs_per_task': RECENT,
               'database': 'sqlite', 'target_ms': 100,
               'renders': options.repeat,
               # The machine may be shared: the time the process itself
               # spent, which other processes do not lengthen.
               'cpu_median_ms': round(statistics.median(
                   c for _, c in measured), 1),
               'median_ms': round(statistics.median(times), 1),
               'p90_ms': round(percentile(times, 90), 1),
               'max_ms': round(max(times), 1)}
    print('Overview, %d task rows: median %.1f ms   p90 %.1f ms   '
          'max %.1f ms   (CPU: median %.1f ms)' % (
              tasks, figures['median_ms'], figures['p90_ms'],
              figures['max_ms'], figures['cpu_median_ms']))
    if not options.no_save:
        save('overview_page', figures)


def render_count(env):
    """The rows the page shows: the bench's tasks and the bundled ones."""
    from traccron.core import Core
    return len(Core(env).get_task_list())


if __name__ == '__main__':
    main()
