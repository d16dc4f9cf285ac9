# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Fresh databases for the tests: an SQLite file, a PostgreSQL schema or a
MariaDB/MySQL database, each made for one test and dropped after it.

The servers are taken from TRACCRON_TEST_POSTGRES and TRACCRON_TEST_MYSQL
(defaults: the services of the development machine). Where a server does
not answer, the tests that need it are skipped with the reason."""

import contextlib
import os
import uuid
from urllib.parse import urlsplit

import pytest

POSTGRES = os.environ.get('TRACCRON_TEST_POSTGRES',
                          'postgres://postgres@127.0.0.1/test')
MYSQL = os.environ.get('TRACCRON_TEST_MYSQL', 'mysql://root@127.0.0.1/test')

KINDS = ('sqlite', 'postgres', 'mysql')


def _pg_connect():
    import psycopg2
    url = urlsplit(POSTGRES)
    return psycopg2.connect(host=url.hostname, port=url.port or 5432,
                            user=url.username, password=url.password or '',
                            dbname=url.path.lstrip('/'), connect_timeout=3)


def _mysql_connect(db=None):
    import pymysql
    url = urlsplit(MYSQL)
    return pymysql.connect(host=url.hostname, port=url.port or 3306,
                           user=url.username, password=url.password or '',
                           database=db, connect_timeout=3)


def unavailable(kind):
    """Why `kind` cannot be tested here, or `None`."""
    if kind == 'sqlite':
        return None
    try:
        (_pg_connect() if kind == 'postgres' else _mysql_connect()).close()
    except Exception as e:
        return '%s server not reachable at %s: %s' % (
            kind, POSTGRES if kind == 'postgres' else MYSQL, e)
    return None


def skip_unless(kind):
    reason = unavailable(kind)
    if reason:
        pytest.skip(reason)


@contextlib.contextmanager
def fresh_database(kind):
    """Yield a Trac database URI for a new, empty database of `kind`."""
    name = 'traccron_%s' % uuid.uuid4().hex[:12]
    if kind == 'sqlite':
        yield 'sqlite:db/trac.db'
    elif kind == 'postgres':
        yield '%s?schema=%s' % (POSTGRES, name)
        cnx = _pg_connect()
        try:
            with cnx.cursor() as cursor:
                cursor.execute('DROP SCHEMA IF EXISTS "%s" CASCADE' % name)
            cnx.commit()
        finally:
            cnx.close()
    elif kind == 'mysql':
        cnx = _mysql_connect()
        try:
            with cnx.cursor() as cursor:
                cursor.execute('CREATE DATABASE `%s` CHARACTER SET utf8mb4 '
                               'COLLATE utf8mb4_bin' % name)
        finally:
            cnx.close()
        url = urlsplit(MYSQL)
        try:
            yield '%s://%s@%s/%s' % (url.scheme, url.netloc.split('@')[0],
                                     url.netloc.split('@')[-1], name)
        finally:
            cnx = _mysql_connect()
            try:
                with cnx.cursor() as cursor:
                    cursor.execute('DROP DATABASE IF EXISTS `%s`' % name)
            finally:
                cnx.close()
    else:
        raise ValueError(kind)
