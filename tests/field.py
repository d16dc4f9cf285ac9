# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""What the field tests share: the plugin's wheel, fresh virtual
environments that hold only what `pip install` brings (installed from a
wheelhouse kept between runs, so that only a first run downloads), an HTTP
client that logs in and posts forms as a browser does, a task plugin whose
runs the tests count, and the check that every occurrence ran once."""

import base64
import collections
import contextlib
import fcntl
import http.cookiejar
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from tracd import (PLUGIN_HEAD, ROOT, S, build_dist, clean_environ,
                   executions, occurrences, report, runner_pid)

#: The wheels that fresh virtual environments install from. Filled from
#: PyPI the first time a requirement is missing, then used offline.
WHEELHOUSE = os.environ.get('TRACCRON_WHEELHOUSE') or os.path.join(
    os.path.expanduser('~'), '.cache', 'traccron', 'wheelhouse')

#: The TracCron pages an administrator can open, and the history feed.
PAGES = ['/admin/traccron/cron_admin', '/admin/traccron/cron_history',
         '/admin/traccron/cron_listener', '/admin/traccron/cron_doc',
         '/admin/traccron/cron_history?format=rss']

#: The pages a request loop asks for in turn: Trac's and TracCron's.
LOOP_PATHS = ['/wiki/WikiStart', '/timeline'] + PAGES
#: Requests per second a request loop aims at.
RATE = 8
#: A lease of an hour: during a field test, only a process found gone
#: can have a run recorded `interrupted`.
LEASE = 3600
#: The tasks of TASKS and their periods in seconds.
STEPS = {'every_second': 1, 'every_two': 2}
#: trac.ini of the exactly-once field tests: [traccron] and a log file.
#: The runs last longer than their period, so that a process that goes
#: away most likely has one going.
RUNS_SECTIONS = {
    'traccron': {
        'timezone': 'UTC',
        'lease_seconds': str(LEASE),
        'every_second.cron': '0/1 * * * * ?',
        'every_second.cron.arg': '1.5',
        'every_second.max_instances': '10',
        'every_two.cron': '0/2 * * * * ?',
        'every_two.cron.arg': '3.5',
        'every_two.max_instances': '10',
    },
    'logging': {'log_type': 'file', 'log_level': 'INFO'},
}
#: The password of `admin` on the sites of the field tests.
PASSWORD = 'field secret'
#: Seconds of requests after the window of an exactly-once test, at least.
TAIL = 5

# Tasks dropped into an environment's plugins/: each run notes itself (see
# PLUGIN_HEAD), then sleeps as many seconds as its argument says, so that
# a worker that is recycled is likely to have a run going.
TASKS = PLUGIN_HEAD + '''
class EverySecond(PluginTask):
    """notes its run, then sleeps as long as its argument says"""
    task_id = 'every_second'
    def wake_up(self, *args):
        note(self.env, self.task_id)
        time.sleep(float(args[0]) if args else 0)

class EveryTwo(EverySecond):
    """notes its run, then sleeps as long as its argument says"""
    task_id = 'every_two'
'''


# The plugin as a wheel

def build_wheel(workdir):
    """Build the plugin's wheel with `setup.py bdist_wheel` (as `make
    wheel` does) without writing into the checkout; return its path."""
    return build_dist(workdir, 'bdist_wheel', '*.whl')


def wheel_requirements(wheel):
    """The `Requires-Dist` of a wheel: what installing it pulls in."""
    with zipfile.ZipFile(wheel) as z:
        name = [n for n in z.namelist()
                if n.endswith('.dist-info/METADATA')][0]
        metadata = z.read(name).decode('utf-8')
    return [line.split(':', 1)[1].strip() for line in metadata.splitlines()
            if line.startswith('Requires-Dist:')]


# Fresh virtual environments

def fresh_venv(path, python=sys.executable):
    """A virtual environment made by `python` with nothing in it, not even
    pip (the pip of the tests installs into it); returns its python."""
    subprocess.run([python, '-m', 'venv', '--without-pip', str(path)],
                   check=True, capture_output=True)
    return os.path.join(str(path), 'bin', 'python')


@contextlib.contextmanager
def _wheelhouse_lock():
    os.makedirs(WHEELHOUSE, exist_ok=True)
    with open(os.path.join(WHEELHOUSE, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pip(python, *args):
    return subprocess.run([sys.executable, '-m', 'pip', '--python', python,
                           '--disable-pip-version-check', '--quiet'] +
                          list(args), capture_output=True, text=True,
                          env=clean_environ())


def install(python, packages, needs=None):
    """Install `packages` (requirements or wheel files) into the venv of
    `python` from the wheelhouse alone. When the wheelhouse lacks
    something, `needs` (default: `packages`), the requirements from an
    index, are downloaded into it first: the only step that uses the
    network, and only on a first run."""
    args = ['install', '--no-index', '--find-links', WHEELHOUSE] + \
        list(packages)
    if os.path.isdir(WHEELHOUSE) and _pip(python, *args).returncode == 0:
        return
    with _wheelhouse_lock():
        fetched = _pip(python, 'download', '--dest', WHEELHOUSE,
                       *(needs if needs is not None else packages))
    assert fetched.returncode == 0, fetched.stderr
    done = _pip(python, *args)
    assert done.returncode == 0, done.stderr


def distributions(python):
    """The names (lower case) of the distributions installed in the venv
    of `python`."""
    out = subprocess.run(
        [python, '-P', '-c', 'import importlib.metadata as m\n'
         'for d in m.distributions(): print(d.metadata["Name"])'],
        check=True, capture_output=True, text=True, env=clean_environ(),
        cwd='/')
    return sorted(set(out.stdout.lower().split()))


def venv_command(python, name, *args, check=True):
    """Run the console script `name` of the venv of `python`."""
    return subprocess.run([os.path.join(os.path.dirname(python), name)] +
                          list(args), capture_output=True, text=True,
                          check=check, env=clean_environ(), cwd='/')


def make_environment(python, env_path, egg=None, sections=None,
                     plugins=None, admins=('admin',)):
    """An environment on SQLite made as an administrator would, with the
    trac-admin of `python`'s venv: the plugin is `egg` dropped into
    plugins/, or else the one installed in the venv, enabled in
    `[components]`; `sections` (section -> {key: value}) go into
    trac.ini, `plugins` (file name -> source) into plugins/; `admins`
    get TRAC_ADMIN; `trac-admin upgrade` creates the plugin's table."""
    from trac.config import Configuration
    env_path = str(env_path)
    venv_command(python, 'trac-admin', env_path, 'initenv', 'Field test',
                 'sqlite:db/trac.db')
    sections = dict(sections or {})
    if egg:
        shutil.copy(egg, os.path.join(env_path, 'plugins'))
    else:
        sections.setdefault('components', {})['traccron.*'] = 'enabled'
    for name, source in (plugins or {}).items():
        with open(os.path.join(env_path, 'plugins', name), 'w') as f:
            f.write(source)
    config = Configuration(os.path.join(env_path, 'conf', 'trac.ini'))
    for section, options in sections.items():
        for key, value in options.items():
            config.set(section, key, value)
    config.save()
    venv_command(python, 'trac-admin', env_path, 'upgrade', '--no-backup')
    for user in admins:
        venv_command(python, 'trac-admin', env_path, 'permission', 'add',
                     user, 'TRAC_ADMIN')


# HTTP as a browser

class Response(object):

    def __init__(self, status, headers, body, seconds=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    @property
    def text(self):
        return self.body.decode('utf-8', 'replace')

    def __repr__(self):
        return '<Response %s %r>' % (self.status, self.text[:300])


class _NoRedirect(urllib.request.HTTPRedirectHandler):

    def redirect_request(self, *args, **kwargs):
        return None


class Client(object):
    """A browser of one Trac site: keeps its cookies, logs in through
    `/login` with HTTP basic authentication as a browser answers the
    challenge, and posts forms with the token that Trac set in its
    cookie. Redirects are not followed: the tests look at them."""

    def __init__(self, base, language='en-US'):
        self.base = base
        self.language = language
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def request(self, path, data=None, headers=None, timeout=60):
        headers = dict(headers or {})
        headers.setdefault('Accept-Language', self.language)
        req = urllib.request.Request(self.base + path, data=data,
                                     headers=headers)
        start = time.monotonic()
        try:
            with self._opener.open(req, timeout=timeout) as r:
                return Response(r.status, r.headers, r.read(),
                                time.monotonic() - start)
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read(),
                            time.monotonic() - start)

    def get(self, path, **kwargs):
        return self.request(path, **kwargs)

    def login(self, user, password):
        credentials = base64.b64encode(
            ('%s:%s' % (user, password)).encode('utf-8')).decode('ascii')
        response = self.get('/login', headers={
            'Authorization': 'Basic ' + credentials})
        assert response.status in (302, 303), response
        assert self.cookie('trac_auth'), 'no trac_auth cookie after login'
        return response

    def cookie(self, name):
        for cookie in self.cookies:
            if cookie.name == name:
                return cookie.value
        return None

    def post(self, path, fields):
        """POST `fields` as a form, with the form token of the session
        (set by Trac in a cookie on an earlier page)."""
        token = self.cookie('trac_form_token')
        assert token, 'no form token: GET a page with a form first'
        data = urllib.parse.urlencode(dict(fields, __FORM_TOKEN=token))
        return self.request(path, data=data.encode('ascii'), headers={
            'Content-Type': 'application/x-www-form-urlencoded'})


class Traffic(object):
    """A bounded request loop: one client GETs the pages of LOOP_PATHS in
    turn, at most `rate` a second, and counts the answers."""

    def __init__(self, client, rate=RATE):
        self.client = client
        self.rate = rate
        self.statuses = collections.defaultdict(collections.Counter)
        self.seconds = []

    def run(self, until):
        """Send requests until `until` (seconds since the epoch)."""
        sent = 0
        start = time.time()
        while time.time() < until:
            path = LOOP_PATHS[len(self.seconds) % len(LOOP_PATHS)]
            response = self.client.get(path)
            self.statuses[path][response.status] += 1
            self.seconds.append(response.seconds)
            sent += 1
            pause = start + sent / float(self.rate) - time.time()
            if pause > 0:
                time.sleep(pause)

    def run_until_settled(self, env_path, window, tail, limit=30):
        """Go on for `tail` seconds after the end of `window` (first,
        last µs), then until no run of the window is `running` any more
        (its process may still have to be found gone), `limit` seconds at
        most."""
        end = window[1] / S
        self.run(end + tail)
        while time.time() < end + limit and [
                r for r in history_rows(env_path) if r.status == 'running'
                and window[0] <= r.fire_time <= window[1]]:
            self.run(time.time() + 1)

    def check(self, label):
        """Every request answered 200; report how long they took."""
        statuses = dict((p, dict(c)) for p, c in self.statuses.items())
        assert statuses == dict((p, {200: sum(c.values())})
                                for p, c in self.statuses.items()), statuses
        report('%s requests' % label, {
            'sent': len(self.seconds),
            'p50 ms': '%.0f' % (percentile(self.seconds, 50) * 1000),
            'p99 ms': '%.0f' % (percentile(self.seconds, 99) * 1000)})


def first_answer(name, process, client, log, timeout=60):
    """`client`'s answer to GET / once the server `process` (`name`)
    answers; fails, showing `log()`, if it ends or does not answer within
    `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, log()
        try:
            return client.get('/')
        except OSError:
            time.sleep(0.2)
    raise AssertionError('%s did not answer: %s' % (name, log()))


def start_traffic(server, duration):
    """Once `server` answers: a request loop of `admin`, warmed up for
    4 s. Returns it and the window to check, the next `duration` whole
    seconds (first, last µs)."""
    client = Client(server.base)
    server.wait_until_up(client)
    client.login('admin', PASSWORD)
    traffic = Traffic(client)
    traffic.run(time.time() + 4)  # warm up
    window_start = (int(time.time()) + 1) * S
    return traffic, (window_start, window_start + (duration - 1) * S)


# Counting runs


HistoryRow = collections.namedtuple(
    'HistoryRow', 'task schedule fire_time started ended status runner '
                  'message')


def history_rows(env_path):
    """Every row of `cron_history` of an environment on SQLite, read
    directly (the test's venv need not be the one that serves it)."""
    db = sqlite3.connect(os.path.join(str(env_path), 'db', 'trac.db'),
                         timeout=30)
    try:
        return [HistoryRow(*r) for r in db.execute(
            """SELECT task, schedule, fire_time, started, ended, status,
                      runner, message
               FROM cron_history ORDER BY fire_time, id""")]
    finally:
        db.close()


def check_each_occurrence_once(env_path, window, steps):
    """Assert that each occurrence in `window` (first, last µs) of each
    task of `steps` (task -> period in seconds) has exactly one history
    row; that a `success` row ran exactly once, an `interrupted` one at
    most once (its process may have died between claim and start) and a
    `missed` one never; and that there is no other status. Returns the
    rows of the window and the counts per task, for the report."""
    rows = [r for r in history_rows(env_path)
            if r.task in steps and window[0] <= r.fire_time <= window[1]]
    runs = collections.Counter((t, fire) for t, fire, pid in
                               executions(env_path))
    per_key = collections.defaultdict(list)
    for r in rows:
        per_key[(r.task, r.fire_time)].append(r)
    counts = {}
    for task, step in sorted(steps.items()):
        want = occurrences(window[0], window[1], step)
        found = [len(per_key[(task, fire)]) for fire in want]
        counts[task] = {
            'occurrences': len(want), 'one row': found.count(1),
            'no row': found.count(0),
            'several rows': len(found) - found.count(1) - found.count(0)}
        assert found == [1] * len(want), (task, counts[task])
        for fire in want:
            row = per_key[(task, fire)][0]
            ran = runs[(task, fire)]
            assert row.status in ('success', 'interrupted', 'missed'), row
            if row.status == 'success':
                assert ran == 1, (row, ran)
            elif row.status == 'interrupted':
                assert ran <= 1, (row, ran)
            else:
                assert ran == 0, (row, ran)
    return rows, counts


def percentile(values, p):
    """The `p`-th percentile (nearest rank) of `values`."""
    values = sorted(values)
    if not values:
        return float('nan')
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def check_runs_across_processes(label, env_path, window, born, gone):
    """The exactly-once check of the tasks of TASKS over `window`, for an
    environment served by processes that come and go: `born` maps the pid
    of each process seen to when it started (µs), `gone` the pid of each
    that was recycled or restarted during the test to when it ended.

    Besides `check_each_occurrence_once`: only the runs of processes that
    went away are `interrupted`, and at least one is (else the test proved
    nothing); each was recorded during the test, which the hour-long
    lease rules out: it was the pid found gone. A gap is at most one
    occurrence per process that went away, and recorded (`missed`).
    Processes started in the window took their share of the runs.
    Prints the figures."""
    rows, counts = check_each_occurrence_once(env_path, window, STEPS)
    for task, figures in counts.items():
        report('%s %s' % (label, task), figures)
    status = collections.Counter(r.status for r in rows)
    report('%s statuses' % label, dict(status))
    interrupted = [r for r in rows if r.status == 'interrupted']
    assert all(runner_pid(r.runner) in gone for r in interrupted), \
        ([(r, runner_pid(r.runner)) for r in interrupted], gone)
    assert interrupted, 'no process that went away had a run going'
    assert status['missed'] <= len(gone), (status, len(gone))

    runs = collections.Counter(runner_pid(r.runner) for r in rows
                               if r.status != 'missed')
    new = set(pid for pid, when in born.items() if when > window[0])
    assert new & set(runs), (new, runs)
    lags = [(r.started - r.fire_time) / 1000.0 for r in rows
            if r.started is not None]
    noticed = [(r.ended - gone[runner_pid(r.runner)]) / 1000.0
               for r in interrupted]
    report('%s processes' % label, {
        'seen': len(born), 'recycled or restarted': len(gone),
        'started in the window': len(new)})
    report('%s runs per process' % label, dict(
        (pid, runs[pid]) for pid in sorted(set(born) | set(runs))))
    report('%s lag (started - fire_time)' % label, {
        'p50 ms': '%.1f' % percentile(lags, 50),
        'p99 ms': '%.1f' % percentile(lags, 99),
        'max ms': '%.1f' % max(lags)})
    report('%s interrupted, after the process ended' % label, {
        'runs': len(noticed), 'p50 ms': '%.0f' % percentile(noticed, 50),
        'max ms': '%.0f' % max(noticed)})
    return rows


# The samples of README.txt

def readme_sample(after, replace):
    """The indented block of README.txt that comes first after the line
    holding `after`, dedented, with the replacements of `replace` ((old,
    new) pairs, in order) made. Each `old` must be there: the field tests
    run the samples as the README shows them, but for paths and sizes."""
    with open(os.path.join(ROOT, 'README.txt')) as f:
        lines = f.read().splitlines()
    i = next(n for n, line in enumerate(lines) if after in line) + 1
    while not lines[i].startswith('    '):
        i += 1
    block = []
    while i < len(lines) and (lines[i].startswith('    ') or
                              not lines[i].strip()):
        block.append(lines[i])
        i += 1
    text = textwrap.dedent('\n'.join(block)).strip() + '\n'
    for old, new in replace:
        assert old in text, (old, text)
        text = text.replace(old, new)
    return text
