# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The sample `[traccron]` section of the original plugin's documentation
keeps working, read from a real trac.ini."""

import logging
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from trac.core import Component, implements
from trac.env import env_cache, env_cache_lock
from trac.test import MockRequest

from traccron.api import ICronTask
from traccron.config import CronConfig
from traccron.core import Core
from traccron.ticker import TickerStarter, get_ticker, wake_ticker

from support import (FakeClock, make_env, rows, run_ticker,
                     ticker_threads, write_section)

UTC = timezone.utc

# Verbatim from the original documentation (seed-wiki.txt).
SEED_SECTION = """\
[traccron]
ticker_enabled = True
ticker_interval = 1
heart_beat.daily = 21h19, 21h20
heart_beat.daily.enabled = True
hear_beat_daily.arg = Good Morging
heart_beat.enabled = True
heart_beat.hourly = 17, 18
heart_beat.hourly.enabled = False
heart_beat.monthly = 15@21h15, 15@21h16
heart_beat.monthly.enabled = False
heart_beat.weekly = 4@21h28, 4@21h29
heart_beat.weekly.enabled = False
"""


class RecordingTask(Component):
    """Remembers the arguments of each call."""

    implements(ICronTask)

    calls = []

    def wake_up(self, *args):
        RecordingTask.calls.append(args)

    def getId(self):
        return 'recorder'

    def getDescription(self):
        return self.__doc__


class Capture(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))


@pytest.fixture
def seed_env(tmp_path, monkeypatch):
    """A real environment whose trac.ini holds the seed's section, in a
    server whose local zone is Europe/Paris (the seed sets no zone)."""
    monkeypatch.setenv('TZ', 'Europe/Paris')
    env = make_env(tmp_path / 'env', enable=['test_seed_config.*'])
    write_section(env, SEED_SECTION)
    capture = Capture()
    env.log.addHandler(capture)
    env.log.setLevel(logging.DEBUG)
    env.capture = capture
    RecordingTask.calls = []
    yield env
    env.log.removeHandler(capture)
    env.shutdown()


def paris(*args):
    return datetime(*args, tzinfo=ZoneInfo('Europe/Paris'))


def run_days(env, start, days):
    clock = FakeClock(start.timestamp())
    run_ticker(env, clock, (start + timedelta(days=days)).timestamp())


def test_seed_values_are_read_exactly(seed_env):
    config = CronConfig(seed_env)
    assert config.get_ticker_enabled() is True
    assert config.get_ticker_interval() == 1
    assert config.get_schedule_value_list('heart_beat', 'daily') == \
        ['21h19', '21h20']
    assert config.get_schedule_value_list('heart_beat', 'hourly') == \
        ['17', '18']
    assert config.get_schedule_value_list('heart_beat', 'monthly') == \
        ['15@21h15', '15@21h16']
    assert config.get_schedule_value_list('heart_beat', 'weekly') == \
        ['4@21h28', '4@21h29']
    assert config.is_task_enabled('heart_beat')
    assert config.is_schedule_enabled('heart_beat', 'daily')
    for disabled in ('hourly', 'monthly', 'weekly'):
        assert not config.is_schedule_enabled('heart_beat', disabled)
    # The misspelled key gives heart_beat no arguments.
    assert config.get_schedule_arg_list('heart_beat', 'daily') == []


def test_heart_beat_fires_at_21h19_and_21h20_without_args(seed_env):
    # 2027-01-15 is a Friday the 15th: the disabled weekly (4 = Friday)
    # and monthly (15th) schedules would fire that day, and the hourly
    # one every hour.
    run_days(seed_env, paris(2027, 1, 14), 3)
    fired = [(r.schedule, datetime.fromtimestamp(r.fire_time / 1e6,
                                                 ZoneInfo('Europe/Paris')))
             for r in rows(seed_env, 'heart_beat')]
    assert fired == [('daily', paris(2027, 1, d, 21, m))
                     for d in (14, 15, 16) for m in (19, 20)]
    assert all(r.status == 'success' for r in rows(seed_env))
    beats = [m for level, m in seed_env.capture.records
             if m.startswith('Heart beat:')]
    assert beats == ['Heart beat: boom boom !!!'] * 6
    assert ('DEBUG', 'Heart beat: boom boom !!!') in seed_env.capture.records


def test_misspelled_arg_key_is_reported_once_with_a_suggestion(seed_env):
    run_days(seed_env, paris(2027, 1, 14), 1)
    run_days(seed_env, paris(2027, 1, 15), 1)
    warnings = [m for level, m in seed_env.capture.records
                if level == 'WARNING' and 'hear_beat_daily.arg' in m]
    assert len(warnings) == 1, warnings
    assert 'unknown key' in warnings[0]
    assert 'did you mean heart_beat.daily.arg?' in warnings[0]
    problems = Core(seed_env).check()
    assert [(p.key, p.value) for p in problems] == \
        [('hear_beat_daily.arg', 'Good Morging')]


def test_correctly_spelled_arg_reaches_wake_up(seed_env):
    seed_env.config.set('traccron', 'heart_beat.daily.arg', 'Good Morging')
    seed_env.config.set('traccron', 'recorder.daily', '21h19')
    seed_env.config.set('traccron', 'recorder.daily.arg',
                        'Good Morning, again')
    run_days(seed_env, paris(2027, 1, 14), 1)
    assert RecordingTask.calls == [('Good Morning', 'again')]
    beats = [m for level, m in seed_env.capture.records
             if m.startswith('Heart beat:')]
    assert beats == ['Heart beat: Good Morging'] * 2


def test_disabled_task_never_fires(seed_env):
    seed_env.config.set('traccron', 'recorder.daily', '21h19')
    seed_env.config.set('traccron', 'recorder.hourly', '5')
    seed_env.config.set('traccron', 'recorder.enabled', 'False')
    seed_env.config.set('traccron', 'heart_beat.enabled', 'false')
    run_days(seed_env, paris(2027, 1, 14), 3)
    assert RecordingTask.calls == []
    assert rows(seed_env) == []


def test_instantiating_the_core_starts_no_thread(seed_env):
    before = ticker_threads()
    Core(seed_env).build_schedules()
    CronConfig(seed_env)
    assert ticker_threads() == before
    assert get_ticker(seed_env.path) is None


def _in_cache(env):
    with env_cache_lock:
        env_cache[env.path] = env


def _out_of_cache(env):
    with env_cache_lock:
        env_cache.pop(env.path, None)


def test_ticker_disabled_starts_no_thread_on_request(seed_env):
    seed_env.config.set('traccron', 'ticker_enabled', 'False')
    _in_cache(seed_env)
    try:
        req = MockRequest(seed_env)
        handler = object()
        starter = TickerStarter(seed_env)
        assert starter.pre_process_request(req, handler) is handler
        assert get_ticker(seed_env.path) is None
        assert not [t for t in ticker_threads()]
    finally:
        _out_of_cache(seed_env)


def test_first_request_starts_one_ticker_and_disabling_stops_it(seed_env):
    _in_cache(seed_env)
    try:
        starter = TickerStarter(seed_env)
        for _ in range(3):
            starter.pre_process_request(MockRequest(seed_env), None)
        ticker = get_ticker(seed_env.path)
        assert ticker is not None
        assert len(ticker_threads()) == 1
        # Switched off in the same process: the ticker stops at once.
        seed_env.config.set('traccron', 'ticker_enabled', 'False')
        wake_ticker(seed_env)
        ticker.join(2)
        assert not ticker_threads()
        assert get_ticker(seed_env.path) is None
    finally:
        _out_of_cache(seed_env)


def test_ticker_enabled_false_written_to_trac_ini_stops_it(seed_env):
    _in_cache(seed_env)
    try:
        TickerStarter(seed_env).pre_process_request(MockRequest(seed_env),
                                                    None)
        ticker = get_ticker(seed_env.path)
        assert ticker is not None
        text = open(seed_env.config.filename).read()
        with open(seed_env.config.filename, 'w') as f:
            f.write(text.replace('ticker_enabled = True',
                                 'ticker_enabled = False'))
        written = time.monotonic()
        ticker.join(6)
        stopped = time.monotonic()
        assert not ticker_threads(), 'still running after 6 s'
        assert stopped - written <= 5.5
    finally:
        _out_of_cache(seed_env)
