# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Helpers shared by the tests: times and dates, a clock the tests move,
waiting for a condition, a base for test tasks, test environments, and
reading the history table."""

import functools
import importlib
import pkgutil
import threading
import time
from datetime import datetime, timedelta, timezone

from trac.core import Component, implements
from trac.env import Environment
from trac.test import EnvironmentStub, MockRequest
from trac.web.api import HTTPException, RequestDone
from trac.web.main import RequestDispatcher

from traccron import history
from traccron.api import ICronTask, ITaskEventListener
from traccron.cron import CronExpression
from traccron.db import CronSetup
from traccron.ticker import Ticker
from tracd import S, replace_section

import traccron

UTC = timezone.utc
#: The names cron expressions accept for months and days of the week.
MONTHS = 'JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC'.split()
DAYS = 'SUN MON TUE WED THU FRI SAT'.split()
#: "Now" of the task tests: Tuesday 10 March 2026 at noon, UTC.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

# Import every module of the package so that all its Components exist (an
# installed egg has Trac load them through its entry points).
for _module in pkgutil.walk_packages(traccron.__path__, 'traccron.'):
    importlib.import_module(_module.name)


def epoch(dt):
    return dt.timestamp()


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def us(dt):
    """`dt` to the whole second, in µs (the unit of cron_history)."""
    return int(dt.timestamp()) * S


def day(d, month=3, hour=12):
    """Day `d` of `month` 2026 at `hour`, UTC: the dates around NOW."""
    return utc(2026, month, d, hour)


def next_fires(expr, start, count):
    """The first `count` fire instants of the CronExpression `expr` after
    `start`; fewer where it fires no more."""
    result = []
    instant = start
    for _ in range(count):
        instant = expr.next_after(instant)
        if instant is None:
            break
        result.append(instant)
    return result


def ours(text, start, count, tz=UTC):
    """`next_fires` of our CronExpression for `text` in `tz`."""
    return next_fires(CronExpression(text, tz), start, count)


@functools.lru_cache(maxsize=None)
def offset_changes(tz, first_year, last_year):
    """The UTC instants (to the quarter hour) in the years `first_year` to
    `last_year` when `tz` changes its offset."""
    result = []
    instant = utc(first_year, 1, 1)
    offset = instant.astimezone(tz).utcoffset()
    while instant.year <= last_year:
        instant += timedelta(hours=1)
        following = instant.astimezone(tz).utcoffset()
        if following != offset:
            while (instant - timedelta(minutes=15)).astimezone(tz) \
                    .utcoffset() == following:
                instant -= timedelta(minutes=15)
            result.append(instant)
            offset = following
    return tuple(result)


def wait_for(predicate, timeout=10, step=0.01):
    """Call `predicate` every `step` seconds until it returns something
    true or `timeout` seconds have passed; its last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(step)
    return predicate()


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


class HoldingListener(Component):
    """While a test sets `hold` (an Event), holds each run in `onEndTask`
    (its task has returned, its row is still `running`) until it is set.
    A test enables it by its name, `HOLDING`; `reset` before the test,
    `release` after it."""

    implements(ITaskEventListener)

    hold = None
    holding = threading.Event()

    @classmethod
    def reset(cls):
        cls.hold = None
        cls.holding = threading.Event()

    @classmethod
    def release(cls):
        if cls.hold is not None:
            cls.hold.set()

    def onStartTask(self, task):
        pass

    def onEndTask(self, task, success):
        if HoldingListener.hold is not None:
            HoldingListener.holding.set()
            HoldingListener.hold.wait(10)

    def getId(self):
        return 'holding'

    def getDescription(self):
        return self.__doc__


#: The name that enables `HoldingListener` in `make_env`.
HOLDING = 'support.HoldingListener'


class StubTask(Component):
    """A task of the tests: `task_id` is its id, its doc string its
    description; subclasses say what `wake_up` does."""

    abstract = True
    implements(ICronTask)

    task_id = None

    def getId(self):
        return self.task_id

    def getDescription(self):
        return self.__doc__


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
    """Replace the `[traccron]` section of env's trac.ini by `text` (see
    `replace_section`) and have the env read it."""
    replace_section(env.config.filename, text)
    env.config.parse_if_needed(force=True)


def primed_ticker(env, start, spawn=inline_spawn, clock=None, **kwargs):
    """A Ticker over `env` on `clock` (by default a FakeClock one second
    before `start`) that has ticked once (its agenda is made); returns
    (ticker, clock). `kwargs` go to the Ticker."""
    clock = clock or FakeClock(start.timestamp() - 1)
    ticker = Ticker(env.path, lambda: env, clock=clock, spawn=spawn,
                    config_check=None, **kwargs)
    ticker.tick()
    return ticker, clock


def tick_at(ticker, clock, *instants):
    """Set `clock` to each of `instants` in turn, and tick there."""
    for instant in instants:
        clock.set(instant.timestamp())
        ticker.tick()


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


#: The form token of the requests of `dispatch`.
TOKEN = 'token-of-the-test'


class Response(object):
    """What a request dispatched by `dispatch` got."""

    def __init__(self, status, body, req):
        self.status, self.body, self.req = status, body, req

    @property
    def location(self):
        return self.req.headers_sent.get('Location')


def dispatch(env, path_info, user='admin', method='GET', args=None,
             token=True, locale=None,
             content_type='application/x-www-form-urlencoded'):
    """Dispatch a request to `path_info` as Trac would, as `user` (a POST
    with the form token unless `token` is false); the status, the body
    and the request. The session is saved after a page that did not
    fail, as Trac does (notices survive a redirect)."""
    args = dict(args or {})
    if method == 'POST' and token:
        args['__FORM_TOKEN'] = TOKEN
    req = MockRequest(env, authname=user, method=method,
                      path_info=path_info, args=args, form_token=TOKEN,
                      locale=locale)
    if method == 'POST' and content_type:
        req.environ['CONTENT_TYPE'] = content_type
    try:
        RequestDispatcher(env).dispatch(req)
    except RequestDone:
        pass
    except HTTPException as e:
        return Response(e.code, str(e), req)
    status = int(req.status_sent[0].split()[0])
    if status < 400:
        req.session.save()
    return Response(status, req.response_sent.getvalue().decode('utf-8'),
                    req)


def gone_pid():
    """A pid of this host and PID namespace that no process has: the
    kernel's pid_max, which pids never reach (the pid of a process that
    ended could be given to a new one while a test runs)."""
    with open('/proc/sys/kernel/pid_max') as f:
        return int(f.read())
