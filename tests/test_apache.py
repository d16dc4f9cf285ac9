# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Trac under Apache httpd with mod_wsgi in daemon mode (Debian's
apache2 and libapache2-mod-wsgi-py3): `WSGIDaemonProcess trac
processes=2 threads=10`, recycled by `maximum-requests`, a venv made with
the Python that mod_wsgi embeds holding Trac and the plugin's wheel, and
an `apache2 -k graceful` in the middle of the 40 s checked. Every
occurrence of a per-second and an every-2-seconds task runs exactly once
across the daemon processes, their recycles and the graceful restart;
every TracCron page answers 200 to an administrator logged in by
Apache's basic authentication (WSGISocketRotation Off, as README.txt
says: a kept-alive connection reaches the new daemons; only a request
that comes while the restart makes their socket again may get mod_wsgi's
own 503, which its error log explains)."""

import datetime
import os
import pwd
import re
import shutil
import subprocess
import tempfile

import pytest

from browser_support import write_htpasswd
from field import (PASSWORD, RUNS_SECTIONS, TAIL, TASKS, build_wheel,
                   check_runs_across_processes, first_answer, fresh_venv,
                   install, make_environment, readme_sample, start_traffic,
                   wheel_requirements)
from tracd import S, clean_environ, free_port, report, terminate

pytestmark = pytest.mark.field

APACHE = '/usr/sbin/apache2'
MODULES = '/usr/lib/apache2/modules'
DURATION = 40      # seconds of the window checked
MAXIMUM_REQUESTS = 60

# A whole httpd configuration of its own (no file of /etc/apache2 is
# read, so the machine's Apache is left alone) around the virtual host
# of README.txt.
HTTPD_CONF = """\
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/error.log"
LogLevel warn wsgi:info
{user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule auth_basic_module {modules}/mod_auth_basic.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule wsgi_module {modules}/mod_wsgi.so
LogFormat "%h %u %t \\"%r\\" %>s %b %D" timed
CustomLog "{root}/access.log" timed
WSGISocketPrefix "{root}/run/wsgi"

{vhost}"""


def embedded_python():
    """The interpreter that Debian's mod_wsgi embeds (the libpython it
    links), or the reason why Apache with mod_wsgi cannot run here."""
    module = os.path.join(MODULES, 'mod_wsgi.so')
    if not (os.path.exists(APACHE) and os.path.exists(module)):
        return None, ('Apache httpd with mod_wsgi is not installed (apt-get '
                      'install apache2 libapache2-mod-wsgi-py3; .ci/run '
                      'does it)')
    linked = subprocess.run(['ldd', module], capture_output=True,
                            text=True).stdout
    version = re.search(r'libpython(\d+\.\d+)', linked)
    if version is None:
        return None, 'mod_wsgi links no libpython: %s' % linked
    python = '/usr/bin/python' + version.group(1)
    if not os.path.exists(python):
        return None, '%s, which mod_wsgi embeds, is missing' % python
    return python, None


def service_user():
    """`User` and `Group` for httpd started as root: its children and
    the daemon processes then run as this user."""
    for user, group in (('www-data', 'www-data'), ('nobody', 'nogroup')):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return user, group
    pytest.skip('no unprivileged user for httpd to run as')


_LOG_TIME = re.compile(r'^\[\w+ (\w+ \d+ [\d:.]+ \d+)\]')
_ERROR_LINE = re.compile(_LOG_TIME.pattern + r'.*?'
                         r'mod_wsgi \(pid=(\d+)\): (.*)$')


class Httpd(object):
    """httpd in the foreground with a configuration of its own, serving
    Trac through the mod_wsgi daemon process group of README.txt's
    virtual host."""

    def __init__(self, root, venv, env_path):
        self.root = root
        self.port = free_port()
        self.base = 'http://127.0.0.1:%d' % self.port
        self.conf = os.path.join(root, 'httpd.conf')
        os.makedirs(os.path.join(root, 'run'))
        user = ''
        if os.geteuid() == 0:
            user = 'User %s\nGroup %s' % service_user()
        with open(os.path.join(root, 'trac.wsgi'), 'w') as f:
            f.write(readme_sample('The .wsgi file, /srv/trac/trac.wsgi', [
                ('/srv/trac/eggs', os.path.join(env_path, '.egg-cache')),
                ('/srv/trac/project', env_path)]))
        vhost = readme_sample('The virtual host:', [
            ('<VirtualHost *:80>', '<VirtualHost 127.0.0.1:%d>' % self.port),
            ('ServerName trac.example.org', 'ServerName 127.0.0.1'),
            ('maximum-requests=1000',
             'maximum-requests=%d' % MAXIMUM_REQUESTS),
            ('/srv/trac/venv', venv),
            ('/srv/trac/trac.wsgi', os.path.join(root, 'trac.wsgi')),
            ('/srv/trac/htpasswd', os.path.join(root, 'htpasswd')),
            ('<Directory /srv/trac>', '<Directory %s>' % root)])
        with open(self.conf, 'w') as f:
            f.write(HTTPD_CONF.format(root=root, port=self.port, user=user,
                                      modules=MODULES, vhost=vhost))
        self._out = open(os.path.join(root, 'httpd.out'), 'wb')
        self.process = subprocess.Popen(
            [APACHE, '-f', self.conf, '-DFOREGROUND'], stdout=self._out,
            stderr=subprocess.STDOUT, cwd=root, env=clean_environ())

    def wait_until_up(self, client):
        return first_answer('httpd', self.process, client, self.error_log)

    def graceful(self):
        """`apachectl -k graceful` for this configuration."""
        subprocess.run([APACHE, '-f', self.conf, '-k', 'graceful'],
                       check=True, capture_output=True, cwd=self.root)

    def stop(self):
        terminate(self.process, 30)
        self._out.close()

    def error_log(self):
        path = os.path.join(self.root, 'error.log')
        if not os.path.exists(path):
            return ''
        with open(path) as f:
            return f.read()

    def _timed_lines(self):
        """(time, line) of each line of the error log that has a time
        (httpd writes local time, as a naive datetime reads it)."""
        for line in self.error_log().splitlines():
            match = _LOG_TIME.match(line)
            if match is not None:
                yield datetime.datetime.strptime(
                    match.group(1), '%b %d %H:%M:%S.%f %Y'), line

    def refusals_at_graceful(self):
        """How many requests mod_wsgi itself refused within 2 s of a
        graceful restart because the daemons' socket was missing (503,
        "(2)No such file or directory: ... Unable to connect to WSGI
        daemon process"): the socket is made again as the daemons start.
        That answer is mod_wsgi's, not Trac's; a refusal of daemons that
        do not accept (a backlog full) is not counted."""
        restarts, refusals = [], []
        for when, line in self._timed_lines():
            if 'Doing graceful restart' in line:
                restarts.append(when)
            elif '(2)No such file or directory' in line and \
                    'Unable to connect to WSGI daemon process' in line:
                refusals.append(when)
        near = datetime.timedelta(seconds=2)
        return len([r for r in refusals
                    if any(t <= r <= t + near for t in restarts)])

    def daemon_processes(self):
        """From the error log: {pid: µs} of the daemon processes that
        started, and of those that were told to stop."""
        born, gone = {}, {}
        for when, line in self._timed_lines():
            match = _ERROR_LINE.match(line)
            if match is None:
                continue
            us = int(when.timestamp() * S)
            pid, what = int(match.group(2)), match.group(3)
            if what.startswith('Starting process'):
                born[pid] = us
            elif what.startswith(('Shutdown requested',
                                  'Maximum requests reached')):
                gone.setdefault(pid, us)
        return born, gone


@pytest.fixture
def apache_root(tmp_path):
    """A directory that the daemon processes' user can traverse (pytest's
    tmp_path is private to its user); its logs are kept in tmp_path."""
    python, reason = embedded_python()
    if python is None:
        pytest.skip(reason)
    root = tempfile.mkdtemp(prefix='traccron-apache-')
    os.chmod(root, 0o755)
    try:
        yield python, root
    finally:
        for name in ('error.log', 'access.log', 'httpd.out',
                     'httpd.conf', 'trac/log/trac.log'):
            path = os.path.join(root, name)
            if os.path.exists(path):
                shutil.copy(path, str(tmp_path))
        shutil.rmtree(root)


def test_mod_wsgi_daemons_recycled_and_restarted_run_each_occurrence_once(
        tmp_path, apache_root):
    python, root = apache_root
    wheel = build_wheel(tmp_path / 'wheel')
    venv = os.path.join(root, 'venv')
    install(fresh_venv(venv, python=python), [wheel],
            needs=wheel_requirements(wheel))
    env_path = os.path.join(root, 'trac')
    make_environment(os.path.join(venv, 'bin', 'python'), env_path,
                     plugins={'field_tasks.py': TASKS},
                     sections=RUNS_SECTIONS)
    write_htpasswd(os.path.join(root, 'htpasswd'), {'admin': PASSWORD})
    if os.geteuid() == 0:
        user, group = service_user()
        subprocess.run(['chown', '-R', '%s:%s' % (user, group), env_path],
                       check=True)

    server = Httpd(root, venv, env_path)
    try:
        traffic, window = start_traffic(server, DURATION)
        traffic.run((window[0] + window[1]) / 2 / S)
        server.graceful()
        traffic.run_until_settled(env_path, window, TAIL)
        born, gone = server.daemon_processes()
        log = server.error_log()
        refused = server.refusals_at_graceful()
    finally:
        server.stop()

    assert 'Doing graceful restart' in log
    # A request that came while the restart made the daemons' socket
    # again may get mod_wsgi's own 503; every other request is answered
    # 200.
    unavailable = sum(c.pop(503, 0) for c in traffic.statuses.values())
    assert unavailable <= refused, (unavailable, refused, log)
    traffic.check('apache')
    report('apache requests refused by mod_wsgi as the socket was made '
           'again', {'503': unavailable})
    check_runs_across_processes('apache', env_path, window, born, gone)
    assert 'Traceback' not in log, log
    with open(os.path.join(env_path, 'log', 'trac.log')) as f:
        text = f.read()
    assert 'Traceback' not in text, text[text.index('Traceback') - 2000:]
