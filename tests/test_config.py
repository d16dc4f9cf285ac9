# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Invalid values of `[traccron]` never stop the scheduler: each is one
problem naming its key, the getters raise `ConfigError` carrying the
default, and the ticker runs the tasks with the defaults."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from traccron import settings
from traccron.config import (ConfigError, CronConfig, boolean, or_default,
                             whole_number)
from traccron.core import Core

from support import FakeClock, make_stub, rows, run_ticker

UTC = timezone.utc

# Every kind of key, with values that `str.isdigit`, `int` or `float`
# take but that are not what the key holds.
INVALID = [
    ('ticker_interval', '²'),
    ('ticker_interval', '٣'),
    ('ticker_interval', '0'),
    ('ticker_interval', '1.5'),
    ('ticker_interval', '+5'),
    ('ticker_interval', '10000000'),
    ('misfire_grace', '²'),
    ('misfire_grace', '-1'),
    ('history_days', '²'),
    ('history_days', '1_000'),
    ('history_days', '9' * 30),
    ('lease_seconds', 'x'),
    ('lease_seconds', '0'),
    ('email_task_event.limit', '²'),
    ('ticket_deadline.days_before', '²'),
    ('ticket_deadline.days_before', 'many'),
    ('heart_beat.max_instances', '²'),
    ('heart_beat.max_instances', 'x'),
    ('heart_beat.alert_after', '1.5h'),
    ('heart_beat.alert_after', '²d'),
    ('heart_beat.alert_after', '2 days'),
    ('heart_beat.alert_after', '9' * 30),
    ('heart_beat.retries', '-1'),
    ('heart_beat.retries', 'twice'),
    ('heart_beat.retries', '1001'),
    ('heart_beat.retry_delay', '1.5'),
    ('heart_beat.retry_delay_max', '²'),
    ('heart_beat.timeout', '10 minutes'),
    ('heart_beat.timeout', '-5'),
    ('ticker_enabled', 'maybe'),
    ('catch_up', 'sometimes'),
    ('heart_beat.enabled', 'maybe'),
    ('heart_beat.daily.enabled', 'oui'),
    ('heart_beat.catch_up', '²'),
    ('email_task_event.only_error', 'perhaps'),
    ('history_task_event.enabled', 'maybe'),
    ('timezone', 'Nowhere/City'),
    ('timezone', 'Europe'),
    ('timezone', 'Europe/' + 'x' * 300),
    ('heart_beat.run_mode', 'everywhere'),
]

NUMBER_GETTERS = [
    ('ticker_interval', 1, lambda c: c.get_ticker_interval()),
    ('misfire_grace', 60, lambda c: c.get_misfire_grace()),
    ('history_days', 400, lambda c: c.get_history_days()),
    ('lease_seconds', 300, lambda c: c.get_lease_seconds()),
    ('email_task_event.limit', 1,
     lambda c: c.get_email_notifier_task_limit()),
    ('heart_beat.max_instances', 1,
     lambda c: c.get_max_instances('heart_beat')),
    ('ticket_deadline.days_before', 3,
     lambda c: c.get_number('ticket_deadline.days_before')),
]


@pytest.fixture
def env(tmp_path):
    env = make_stub(config={'timezone': 'UTC',
                            'heart_beat.daily': '21h19'})
    yield env
    env.reset_db()


@pytest.mark.parametrize('text,number', [
    ('0', 0), ('17', 17), (' 05 ', 5), ('0' * 200 + '7', 7),
    ('²', None), ('٣', None), ('１', None), ('+1', None), ('-1', None),
    ('1_000', None), ('1.5', None), ('1e3', None), ('', None), (None, None),
    ('1' * 101, None),
])
def test_whole_number_takes_only_the_digits_0_to_9(text, number):
    assert whole_number(text) == number


def test_every_invalid_value_is_one_problem_naming_its_key(env):
    wrong = []
    for key, value in INVALID:
        env.config.set('traccron', key, value)
        try:
            found = [p for p in Core(env).check() if p.key == key]
        except Exception as e:
            found = e
        if not (isinstance(found, list) and len(found) == 1 and
                found[0].value == value):
            wrong.append((key, value, found))
        env.config.remove('traccron', key)
    assert wrong == []
    assert Core(env).check() == []


def test_number_getters_raise_config_error_carrying_the_default(env):
    config = CronConfig(env)
    for key, default, getter in NUMBER_GETTERS:
        assert settings.lookup(key).default == default
        assert getter(config) == default  # unset
        env.config.set('traccron', key, '7')
        assert getter(config) == 7
        for value in ('²', '٣', '7.0', '10' * 20):
            env.config.set('traccron', key, value)
            with pytest.raises(ConfigError) as info:
                getter(config)
            assert (info.value.key, info.value.value,
                    info.value.default) == (key, value, default)
            assert or_default(getter, config) == default
        env.config.remove('traccron', key)


@pytest.mark.parametrize('name', ['Nowhere/City', 'Europe', 'x' * 300,
                                  '../etc/passwd', 'UTC\x00'])
def test_timezone_getter_raises_config_error_for_any_unknown_name(env,
                                                                  name):
    env.config.set('traccron', 'timezone', name)
    with pytest.raises(ConfigError) as info:
        CronConfig(env).get_timezone()
    assert info.value.key == 'timezone'
    assert info.value.default is not None
    assert Core(env).timezone() is not None


def test_boolean_getters_give_their_default_for_an_invalid_value(env):
    config = CronConfig(env)
    for key, value in (('heart_beat.enabled', 'maybe'),
                       ('heart_beat.daily.enabled', 'oui'),
                       ('history_task_event.enabled', '²'),
                       ('ticker_enabled', 'sometimes')):
        env.config.set('traccron', key, value)
    env.config.set('traccron', 'catch_up', 'true')
    env.config.set('traccron', 'heart_beat.catch_up', 'maybe')
    env.config.set('traccron', 'email_task_event.only_error', 'perhaps')
    assert config.is_task_enabled('heart_beat') is True
    assert config.is_schedule_enabled('heart_beat', 'daily') is True
    assert config.is_task_listener_enabled('history_task_event') is True
    assert config.get_ticker_enabled() is True
    assert config.get_catch_up('heart_beat') is True  # the global value
    assert config.is_email_notifier_only_error() is False


@pytest.mark.parametrize('text,value', [
    ('true', True), ('Enabled', True), ('on', True), ('1', True),
    ('no', False), ('off', False), ('0', False), ('0.0', False), ('', False),
    ('maybe', None), ('²', None), ('oui', None),
])
def test_boolean_reads_as_trac_does(text, value):
    assert boolean(text) is value


def test_build_schedules_keeps_the_valid_schedules(env):
    env.config.set('traccron', 'history_days', '²')
    env.config.set('traccron', 'heart_beat.max_instances', '²')
    env.config.set('traccron', 'heart_beat.run_mode', 'everywhere')
    schedules, problems = Core(env).build_schedules()
    [schedule] = schedules
    assert (schedule.key, schedule.max_instances, schedule.run_mode) == \
        ('heart_beat.daily', 1, 'cluster')
    assert sorted((p.key, p.value) for p in problems) == [
        ('heart_beat.max_instances', '²'),
        ('heart_beat.run_mode', 'everywhere'),
        ('history_days', '²')]


def test_ticker_runs_the_tasks_whatever_the_invalid_values(env):
    """Invalid numbers used to make every tick fail: nothing ran."""
    for key in ('history_days', 'misfire_grace', 'lease_seconds',
                'heart_beat.max_instances', 'email_task_event.limit'):
        env.config.set('traccron', key, '²')
    env.config.set('traccron', 'heart_beat.daily', '')
    env.config.set('traccron', 'heart_beat.hourly', '0')
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp()
    until = datetime(2026, 3, 2, 13, 30, tzinfo=UTC).timestamp()
    run_ticker(env, FakeClock(start), until)
    assert [(datetime.fromtimestamp(r.fire_time / 1e6, UTC).hour, r.status)
            for r in rows(env, 'heart_beat')] == [
        (10, 'success'), (11, 'success'), (12, 'success'), (13, 'success')]


def test_timezone_problem_leaves_the_schedules_in_the_local_zone(env):
    env.config.set('traccron', 'timezone', 'Europe')
    schedules, problems = Core(env).build_schedules()
    assert [s.key for s in schedules] == ['heart_beat.daily']
    assert [(p.key, p.value) for p in problems] == [('timezone', 'Europe')]
    assert isinstance(schedules[0].tz, ZoneInfo)


def test_the_fingerprint_follows_every_change_of_the_section(tmp_path):
    """What the ticker compares at each wake: a value set in this process,
    one removed, an edit of trac.ini and one of a file it inherits from
    each change it; another section does not."""
    from trac.config import Configuration
    parent = tmp_path / 'shared.ini'
    parent.write_text('[traccron]\nshared.cron = 0 0 * * * ?\n')
    ini = tmp_path / 'trac.ini'
    ini.write_text('[inherit]\nfile = %s\n[traccron]\nrec.cron = 0/1 * * * * '
                   '?\n' % parent)
    config = Configuration(str(ini))
    stub = make_stub()
    stub.config = config
    cron = CronConfig(stub)
    seen = [cron.fingerprint()]

    def changed():
        config.parse_if_needed(force=True)
        now = cron.fingerprint()
        try:
            return now != seen[-1]
        finally:
            seen.append(now)

    config.set('traccron', 'rec.cron', '0/2 * * * * ?')
    assert cron.fingerprint() != seen[-1]
    seen.append(cron.fingerprint())
    config.remove('traccron', 'rec.cron')
    assert cron.fingerprint() != seen[-1]
    seen.append(cron.fingerprint())
    config.set('ticket', 'default_type', 'task')
    assert cron.fingerprint() == seen[-1]
    ini.write_text('[inherit]\nfile = %s\n[traccron]\nrec.cron = 0/3 * * * * '
                   '?\n' % parent)
    assert changed()
    parent.write_text('[traccron]\nshared.cron = 0 30 * * * ?\n')
    assert changed()
    assert not changed()
