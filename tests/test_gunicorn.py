# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Trac under gunicorn, the common WSGI server: 4 sync workers recycled
after 25-30 requests each while a bounded request loop keeps coming.
Each worker's ticker starts with its first request. Over 60 s, every
occurrence of a per-second and an every-2-seconds task runs exactly once
across workers and recycles; a run cut short by a recycle is recorded
`interrupted` by another worker as soon as it sees the pid gone (the
lease is an hour: it plays no part); every other run succeeds; a new
worker's ticker takes its share; every TracCron page answers 200."""

import os
import subprocess

import pytest

from browser_support import write_htpasswd
from field import (PASSWORD, RUNS_SECTIONS, TAIL, TASKS,
                   check_runs_across_processes, first_answer,
                   make_environment, readme_sample, start_traffic)
from tracd import BIN, clean_environ, free_port, terminate

pytestmark = pytest.mark.field

WORKERS = 4
DURATION = 60      # seconds of the window checked

# gunicorn's server hooks note when each worker starts (in the worker)
# and when the arbiter reaped it.
HOOKS = '''\
import os, time

def _note(event, pid):
    line = '%s %d %d\\n' % (event, pid, int(time.time() * 1000000))
    fd = os.open({events!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)

def post_fork(server, worker):
    _note('born', worker.pid)

def child_exit(server, worker):
    _note('exit', worker.pid)
'''


class Gunicorn(object):
    """gunicorn serving the WSGI file on 127.0.0.1."""

    def __init__(self, workdir, env_path, htpasswd):
        workdir = str(workdir)
        self.events = os.path.join(workdir, 'workers.log')
        self.log = os.path.join(workdir, 'gunicorn.log')
        self.stderr = open(os.path.join(workdir, 'gunicorn.stderr'), 'wb')
        # The WSGI file of README.txt: Trac's application, with tracd's
        # basic authentication on /login.
        with open(os.path.join(workdir, 'trac_wsgi.py'), 'w') as f:
            f.write(readme_sample('The WSGI file, /srv/trac/trac_wsgi.py', [
                ('/srv/trac/project', str(env_path)),
                ('/srv/trac/eggs', os.path.join(workdir, 'eggs')),
                ('/srv/trac/htpasswd', str(htpasswd)),
                ("single_env_name='project'",
                 'single_env_name=%r' % os.path.basename(str(env_path)))]))
        conf = os.path.join(workdir, 'gunicorn.conf.py')
        with open(conf, 'w') as f:
            f.write(HOOKS.format(events=self.events))
        self.port = free_port()
        self.base = 'http://127.0.0.1:%d' % self.port
        self.process = subprocess.Popen(
            [os.path.join(BIN, 'gunicorn'), '--config', conf,
             '--workers', str(WORKERS), '--max-requests', '25',
             '--max-requests-jitter', '5',
             '--bind', '127.0.0.1:%d' % self.port,
             '--pythonpath', workdir, '--log-level', 'info',
             '--no-control-socket',
             '--error-logfile', self.log, 'trac_wsgi:application'],
            stdout=self.stderr, stderr=subprocess.STDOUT,
            env=clean_environ(), cwd=workdir)

    def wait_until_up(self, client):
        return first_answer('gunicorn', self.process, client, self.log_text)

    def stop(self):
        terminate(self.process, 60)
        self.stderr.close()

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def worker_events(self):
        """{'born': {pid: µs}, 'exit': {pid: µs}}"""
        events = {'born': {}, 'exit': {}}
        with open(self.events) as f:
            for line in f:
                event, pid, when = line.split()
                events[event][int(pid)] = int(when)
        return events

    def recycled(self):
        """The pids of the workers that restarted for --max-requests."""
        return set(int(line.split('] [', 2)[1]) for line in
                   self.log_text().splitlines()
                   if 'Autorestarting worker' in line)


def test_gunicorn_workers_recycled_run_each_occurrence_once(tmp_path, egg):
    env_path = tmp_path / 'trac'
    make_environment(os.path.join(BIN, 'python'), env_path, egg=egg,
                     plugins={'field_tasks.py': TASKS},
                     sections=RUNS_SECTIONS)
    htpasswd = tmp_path / 'htpasswd'
    write_htpasswd(htpasswd, {'admin': PASSWORD})
    server = Gunicorn(tmp_path, env_path, htpasswd)
    try:
        traffic, window = start_traffic(server, DURATION)
        traffic.run_until_settled(env_path, window, TAIL)
        log = server.log_text()
        events = server.worker_events()
        recycled = server.recycled()
    finally:
        server.stop()

    traffic.check('gunicorn')
    # Workers end only when recycled, after --max-requests.
    assert set(events['exit']) <= recycled, (events, recycled)
    check_runs_across_processes('gunicorn', env_path, window, events['born'],
                                events['exit'])
    assert 'Traceback' not in log, log
    with open(server.stderr.name) as f:
        text = f.read()
    assert 'Traceback' not in text, text
    with open(os.path.join(str(env_path), 'log', 'trac.log')) as f:
        text = f.read()
    assert 'Traceback' not in text, text[text.index('Traceback') - 2000:]
