# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Fixtures shared by the tests: fresh databases, the plugin's egg, an SMTP
server, and mail environments for the bundled tasks."""

import pytest

from databases import KINDS, fresh_database, skip_unless
from smtp import SmtpServer, add_user, mail_env
from support import NOW, FakeClock
from tracd import build_egg


@pytest.fixture(params=KINDS)
def database(request):
    """(kind, URI) of a fresh database on SQLite, PostgreSQL and MariaDB in
    turn."""
    skip_unless(request.param)
    with fresh_database(request.param) as uri:
        yield request.param, uri


@pytest.fixture(params=['sqlite', 'postgres'])
def sqlite_or_postgres(request):
    """(kind, URI) of a fresh database on SQLite and PostgreSQL in turn,
    for the longer real-process tests (MariaDB shares PostgreSQL's
    locking of the claim; tests/test_cluster.py runs it too)."""
    skip_unless(request.param)
    with fresh_database(request.param) as uri:
        yield request.param, uri


@pytest.fixture
def db_uri(database):
    """The URI of `database`."""
    return database[1]


@pytest.fixture(scope='session')
def egg(tmp_path_factory):
    """The plugin's egg, built from this checkout once per session."""
    return build_egg(tmp_path_factory.mktemp('egg'))


@pytest.fixture
def smtp_server():
    """An SMTP server on 127.0.0.1 that keeps the mails it receives."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def task_env(tmp_path, smtp_server):
    """Make a mail environment (see `mail_env`; mail goes to smtp_server)
    with `users`, each with an address at example.org, in which each task
    of `tasks` reads one FakeClock standing at NOW; its database is reset
    after the test."""
    made = []

    def make(tasks=(), users=(), **kwargs):
        env = mail_env(tmp_path, smtp_server, **kwargs)
        for name in users:
            add_user(env, name, '%s@example.org' % name)
        clock = FakeClock(NOW.timestamp())
        for task in tasks:
            task(env).clock = clock
        made.append(env)
        return env
    yield make
    for env in made:
        env.reset_db()
