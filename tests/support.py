# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Helpers shared by the tests: a clock the tests move, test environments,
and reading the history table."""

import importlib
import os
import pkgutil
import threading
from datetime import datetime, timezone

from trac.env import Environment
from trac.test import EnvironmentStub

from traccron import history
from traccron.db import CronSetup
from traccron.ticker import Ticker

import traccron

UTC = timezone.utc

# Import every module of the package so that all its Components exist (an
# installed egg has Trac load them through its entry points).
for _module in pkgutil.walk_packages(traccron.__path__, 'traccron.'):
    importlib.import_module(_module.name)


def epoch(dt):
    return dt.timestamp()


class FakeClock(object):
    """A clock that jumps forward to each requested wake-up at once.

    `until` (seconds since the epoch) ends the run: the ticker is stopped
    when it asks to sleep past it."""

    def __init__(self, start):
        self.now = float(start)
        self._mono = 1000.0
        self.until = None
        self.ticker = None

    def time(self):
        return self.now

    def monotonic(self):
        return self._mono

    def advance(self, seconds):
        self.now += seconds
        self._mono += seconds

    def set(self, when):
        self.advance(when - self.now)

    def sleep(self, seconds):
        self.advance(seconds)

    def wait(self, event, timeout):
        if self.until is not None and self.now + timeout > self.until:
            self.set(self.until)
            if self.ticker is not None:
                self.ticker.stop()
            return False
        self.advance(timeout)
        return event.is_set()


def inline_spawn(name, target, *args):
    """Run a worker in the calling thread (deterministic unit tests)."""
    target(*args)


def make_stub(enable=(), config=None, tmp_path=None):
    """An EnvironmentStub with TracCron and the given test components
    enabled, the `cron_history` table created and `[traccron]` set."""
    env = EnvironmentStub(enable=['traccron.*'] + list(enable),
                          path=str(tmp_path) if tmp_path else None)
    CronSetup(env).upgrade_environment()
    for key, value in (config or {}).items():
        env.config.set('traccron', key, value)
    return env


def make_env(path, enable=(), config=None):
    """A real environment on disk with an SQLite file database, for tests
    in which several threads use the database."""
    options = [('trac', 'database', 'sqlite:db/trac.db'),
               ('components', 'traccron.*', 'enabled')]
    options += [('components', name, 'enabled') for name in enable]
    options += [('traccron', k, v) for k, v in (config or {}).items()]
    return Environment(str(path), create=True, options=options,
                       default_data=False)


def write_section(env, text):
    """Replace the `[traccron]` section of env's trac.ini by `text` (as an
    administrator would edit the file) and have the env read it."""
    with open(env.config.filename) as f:
        lines = f.read().splitlines(True)
    kept, inside = [], False
    for line in lines:
        if line.startswith('['):
            inside = line.strip() == '[traccron]'
        if not inside:
            kept.append(line)
    with open(env.config.filename, 'w') as f:
        f.write(''.join(kept).rstrip('\n') + '\n\n' + text)
    env.config.parse_if_needed(force=True)


def run_ticker(env, clock, until, spawn=inline_spawn, config_check=None):
    """Run a ticker over `env` with the fake `clock` until `until`;
    returns the ticker."""
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=spawn,
                    config_check=config_check)
    clock.until = until
    clock.ticker = ticker
    ticker.run()
    return ticker


def rows(env, task=None):
    """History rows, oldest first."""
    return list(reversed(history.query(env, task=task)))


def fire_times(env, task=None, status=None):
    return [datetime.fromtimestamp(r.fire_time / 1e6, UTC)
            for r in rows(env, task) if status is None or r.status == status]


def ticker_threads():
    return [t for t in threading.enumerate()
            if t.name == 'traccron-ticker' and t.is_alive()]
