# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""A real Trac for integration tests: the egg built from this checkout,
an environment made with trac-admin, and tracd on 127.0.0.1."""

import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

#: µs in a second (the unit of cron_history's times).
S = 1000000

#: The start of a task plugin to drop into an environment's plugins/: the
#: base of its tasks, `PluginTask` (the id is `task_id`, the description
#: the doc string), and `note(env, name)`, which appends a line "task
#: fire_time pid" to ENV/executions.log (O_APPEND: whole lines from any
#: process), for `executions` to read.
PLUGIN_HEAD = '''
import os, time
from trac.core import Component, implements
from traccron.api import ICronTask, current_run

class PluginTask(Component):
    abstract = True
    implements(ICronTask)
    task_id = None
    def getId(self):
        return self.task_id
    def getDescription(self):
        return self.__doc__

def note(env, name):
    line = '%s %d %d\\n' % (name, current_run().fire_time, os.getpid())
    fd = os.open(os.path.join(env.path, 'executions.log'),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
'''


_egg_cache = []


def egg_cache():
    """The directory where the child processes of this test process
    extract the eggs' files (templates, catalogs): its own, so that no
    other test run, with an egg of another checkout of the same name and
    version, replaces them meanwhile (the default, ~/.cache/Python-Eggs,
    is shared)."""
    if not _egg_cache:
        path = tempfile.mkdtemp(prefix='traccron-egg-cache-')
        atexit.register(shutil.rmtree, path, True)
        _egg_cache.append(path)
    return _egg_cache[0]


def clean_environ():
    """The environment for child processes: nothing that would let them
    import traccron from this checkout instead of from the egg, and an egg
    cache of their own."""
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    env['PYTHON_EGG_CACHE'] = egg_cache()
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    # Trac 1.6 imports pkg_resources, which setuptools 81 warns about on
    # stderr; the tests read stderr.
    env['PYTHONWARNINGS'] = 'ignore::UserWarning:trac'
    return env


def build_dist(workdir, command, pattern):
    """Build the plugin with `setup.py <command>` (bdist_egg, bdist_wheel)
    in `workdir`, without writing into the checkout; return the path of
    the one file it made that matches `pattern`."""
    workdir = str(workdir)
    subprocess.run([sys.executable, 'setup.py', '--quiet',
                    'build', '--build-base', os.path.join(workdir, 'build'),
                    'egg_info', '--egg-base', workdir,
                    command, '--bdist-dir', os.path.join(workdir, 'bdist'),
                    '--dist-dir', os.path.join(workdir, 'dist')],
                   cwd=ROOT, check=True, capture_output=True,
                   env=clean_environ())
    made = glob.glob(os.path.join(workdir, 'dist', pattern))
    assert len(made) == 1, made
    return made[0]


def build_egg(workdir):
    """Build the plugin egg with `setup.py bdist_egg`; return its path."""
    return build_dist(workdir, 'bdist_egg', 'TracCronPlugin-*.egg')


def trac_admin(env_path, *args, check=True):
    return subprocess.run([os.path.join(BIN, 'trac-admin'), str(env_path)] +
                          list(args), capture_output=True, text=True,
                          check=check, env=clean_environ(), cwd='/')


def init_env(env_path, egg=None, database='sqlite:db/trac.db'):
    """Create an environment with trac-admin; drop the egg into its
    plugins/ and upgrade, as an administrator would."""
    trac_admin(env_path, 'initenv', 'Test', database)
    if egg:
        shutil.copy(egg, os.path.join(str(env_path), 'plugins'))
        trac_admin(env_path, 'upgrade', '--no-backup')


def replace_section(ini, text):
    """Replace the `[traccron]` section of the trac.ini file `ini` by
    `text` (the section with its header), as an administrator would edit
    the file."""
    with open(ini) as f:
        lines = f.read().splitlines(True)
    kept, inside = [], False
    for line in lines:
        if line.startswith('['):
            inside = line.strip() == '[traccron]'
        if not inside:
            kept.append(line)
    with open(ini, 'w') as f:
        f.write(''.join(kept).rstrip('\n') + '\n\n' + text)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Tracd(object):
    """tracd serving one environment on 127.0.0.1: the tracd of the
    tests' venv, or the one in `bin_dir`, with the process environment
    `environ` (default: `clean_environ()`)."""

    def __init__(self, env_path, log_path, auth=None, bin_dir=BIN,
                 environ=None):
        self.env_path = str(env_path)
        self.port = free_port()
        self.name = os.path.basename(self.env_path)
        self.base = 'http://127.0.0.1:%d/%s' % (self.port, self.name)
        args = [os.path.join(bin_dir, 'tracd'), '--hostname', '127.0.0.1',
                '--port', str(self.port)]
        if auth:
            args.append('--basic-auth=%s,%s,TracCron' % (self.name, auth))
        args.append(self.env_path)
        self.log_path = str(log_path)
        self._log = open(self.log_path, 'wb')
        self.process = subprocess.Popen(args, stdout=self._log,
                                        stderr=subprocess.STDOUT,
                                        env=environ or clean_environ(),
                                        cwd='/')
        self.pid = self.process.pid
        self._wait_until_up()

    def _wait_until_up(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('tracd exited with %s'
                                   % self.process.returncode)
            try:
                with socket.create_connection(('127.0.0.1', self.port), 1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError('tracd did not answer within %d s' % timeout)

    def get(self, path, timeout=30):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
            return r.read().decode('utf-8')

    def stop(self):
        terminate(self.process, 10)
        self._log.close()


def reap(process, timeout):
    """Wait up to `timeout` seconds for `process` to end, then kill it."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def terminate(process, timeout):
    """SIGTERM to `process` if it is running, then `reap` it."""
    if process.poll() is None:
        process.terminate()
        reap(process, timeout)


def executions(env_path):
    """(task, fire_time, pid) of each run noted by PLUGIN_HEAD's `note`,
    in the order they were noted."""
    path = os.path.join(str(env_path), 'executions.log')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(t, int(fire), int(pid)) for t, fire, pid in
                (line.split() for line in f)]


def runner_pid(runner):
    """The pid in a runner id (`host:pid`, or `host:pid/token`)."""
    return int(runner.split('/')[0].rsplit(':', 1)[1])


def occurrences(first, last, step):
    """The whole-second instants (µs) in [first, last] that are multiples
    of `step` seconds."""
    start = -(-first // (step * S)) * step * S
    return list(range(start, last + 1, step * S))


def report(title, figures):
    """Print `figures` (a dict) under `title`, by name, for the test's
    log."""
    print('%s: %s' % (title, ', '.join('%s=%s' % kv
                                       for kv in sorted(figures.items()))))
