# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The schema of `[traccron]` (traccron/settings.py) is the one list of
its keys: README.txt, TracIni, the keys `cron check` accepts and the
values it refuses all come from it."""

import os
import re

import pytest
from trac.config import Option
from trac.test import MockRequest
from trac.web.chrome import web_context
from trac.wiki.formatter import format_to_html

from traccron import settings
from traccron.admin import CronAdmin
from traccron.config import CronConfig
from traccron.core import Core
from traccron.settings import ConfigError

from support import make_stub

README = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                      'README.txt')
SCHEMA_KEYS = set(s.key for s in settings.SCHEMA)

# A valid value of each kind, other than the default, and of each
# scheduler type.
VALID = {'bool': 'false', 'number': '7', 'zone': 'Europe/Paris',
         'choice': 'local', 'text': 'x', 'list': 'a, b', 'duration': '26h'}
SCHEDULES = {'hourly': '17', 'daily': '21h19', 'weekly': '4@21h28',
             'monthly': '15@21h15', 'cron': '@daily'}


@pytest.fixture
def env():
    env = make_stub(config={'timezone': 'UTC'})
    yield env
    env.reset_db()


def readme():
    with open(README, encoding='utf-8') as f:
        return f.read()


def ids(env):
    core = Core(env)
    return ([t.getId() for t in core.get_task_list()],
            [s.getId() for s in core.get_supported_schedulers()],
            [l.getId() for l in core.get_task_listener_list()])


def test_readme_lists_the_keys_of_the_schema():
    assert settings.readme_text() in readme()


def test_every_key_readme_documents_is_in_the_schema():
    text = readme()
    section = text[text.index('Global keys:'):
                   text.index('A key that matches nothing')]
    documented = set(re.findall(r'^  (\S+)(?: \(default.*\))?$', section,
                                re.M))
    assert documented == SCHEMA_KEYS


def test_the_keys_cron_check_knows_are_those_of_the_schema(env):
    assert Core(env).known_keys() == set(settings.expand(*ids(env)))


def test_cron_check_accepts_every_key_of_the_schema(env, capsys):
    for key, setting in settings.expand(*ids(env)).items():
        value = SCHEDULES[key.rsplit('.', 1)[1]] \
            if setting.kind == 'schedule' else VALID[setting.kind]
        env.config.set('traccron', key, value)
    assert CronAdmin(env)._do_check() == 0
    env.config.set('traccron', 'heart_beat.max_instance', '2')
    assert CronAdmin(env)._do_check() == 1
    assert 'did you mean heart_beat.max_instances?' in capsys.readouterr().err


def test_every_option_of_the_section_is_made_from_the_schema(env):
    options = dict((name, option) for (section, name), option
                   in Option.get_registry(env.compmgr).items()
                   if section == 'traccron')
    fixed = set(s.key for s in settings.SCHEMA if not s.is_pattern)
    assert set(options) == fixed
    for name, option in options.items():
        assert option.setting is settings.get(name)
        assert option.doc == option.setting.doc


def test_tracini_documents_every_key_of_the_schema():
    env = make_stub(enable=['trac.wiki.*'])
    context = web_context(MockRequest(env))
    html = str(format_to_html(env, context, '[[TracIni(traccron)]]'))
    for setting in settings.SCHEMA:
        if setting.is_pattern:
            assert '<code>%s</code>' % setting.key in html, setting.key
        else:
            assert 'id="traccron-%s-option"' % setting.key in html, \
                setting.key


def test_global_keys_read_as_attributes_give_the_default_when_invalid(env):
    config = CronConfig(env)
    assert (config.misfire_grace, config.ticker_interval,
            config.lease_seconds, config.history_days) == (60, 1, 300, 400)
    env.config.set('traccron', 'misfire_grace', '²')
    env.config.set('traccron', 'ticker_interval', '5')
    assert (config.misfire_grace, config.ticker_interval) == (60, 5)
    with pytest.raises(ConfigError):
        config.get_misfire_grace()


# The API of forms

@pytest.mark.parametrize('key,text,value', [
    ('ticker_interval', ' 05 ', 5),
    ('ticker_interval', '', 1),
    ('heart_beat.max_instances', '2', 2),
    ('heart_beat.enabled', 'off', False),
    ('heart_beat.daily.enabled', 'yes', True),
    ('heart_beat.daily.arg', 'a, b,', ['a', 'b']),
    ('heart_beat.daily', ' 21h19 ', '21h19'),
    ('heart_beat.run_mode', 'LOCAL', 'local'),
    ('email_task_event.only_error', 'true', True),
])
def test_parse_gives_the_value_as_trac_ini_reading_does(key, text, value):
    assert settings.parse(key, text) == value


@pytest.mark.parametrize('key,text,reason', [
    ('ticker_interval', '0', 'expected a whole number >= 1'),
    ('ticker_interval', '²', 'expected a whole number >= 1'),
    ('ticker_interval', '', 'expected a whole number >= 1'),
    ('misfire_grace', '9' * 12, 'expected a whole number <= 1000000000'),
    ('email_task_event.limit', 'x', 'expected a whole number >= 1'),
    ('heart_beat.enabled', 'maybe', 'expected true or false'),
    ('heart_beat.run_mode', 'everywhere', 'expected cluster or local'),
])
def test_parse_refuses_an_invalid_text_naming_the_key(key, text, reason):
    with pytest.raises(ConfigError) as info:
        settings.parse(key, text, required=True)
    assert (info.value.key, info.value.reason) == (key, reason)


def test_write_stores_what_parse_reads(env):
    section = env.config['traccron']
    for key, text in (('ticker_enabled', 'off'), ('ticker_interval', '05'),
                      ('heart_beat.daily.arg', 'a,b')):
        settings.write(section, key, settings.parse(key, text))
    assert [section.get(k) for k in ('ticker_enabled', 'ticker_interval',
                                      'heart_beat.daily.arg')] == \
        ['false', '5', 'a, b']
