# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Reading and writing the `[traccron]` section of trac.ini, through
its schema (`traccron.settings`)."""

from trac.config import ConfigSection
from trac.core import Component

from traccron import settings
from traccron.settings import (SECTION, ConfigError, boolean, split_list,
                               whole_number)

__all__ = ['SECTION', 'ConfigError', 'CronConfig', 'boolean', 'or_default',
           'split_list', 'whole_number']


def _key(obj):
    """Accept a task, scheduler type or listener, or its id."""
    return obj if isinstance(obj, str) else obj.getId()


def or_default(getter, *args):
    """`getter(*args)`, or the default of its key when the value in
    trac.ini is invalid (`Core.check` reports it)."""
    try:
        return getter(*args)
    except ConfigError as e:
        return e.default


class CronConfig(Component):
    """Access to the `[traccron]` section (the original plugin's API:
    `CronConfig(env)` keeps working).

    The attributes named after the keys give their values, or their
    defaults while trac.ini holds an invalid value; the getters of
    whole numbers, zones and run modes raise `ConfigError` for it
    (`or_default` gives the default instead); those of booleans return
    the default."""

    section = ConfigSection(SECTION, settings.section_doc())

    ticker_enabled = settings.option('ticker_enabled')
    ticker_interval = settings.option('ticker_interval')
    timezone = settings.option('timezone')
    misfire_grace = settings.option('misfire_grace')
    catch_up = settings.option('catch_up')
    history_days = settings.option('history_days')
    lease_seconds = settings.option('lease_seconds')
    log_capture_bytes = settings.option('log_capture_bytes')
    email_limit = settings.option('email_task_event.limit')
    email_recipient = settings.option('email_task_event.recipient')
    email_only_error = settings.option('email_task_event.only_error')
    unreachable_milestone_recipient = settings.option(
        'unreachable_milestone.recipient')

    # Global settings

    def get_ticker_enabled(self):
        return self.ticker_enabled

    def set_ticker_enabled(self, value):
        self._set('ticker_enabled', value)

    def get_ticker_interval(self):
        """The ticker interval in minutes (at least 1)."""
        return self.get_number('ticker_interval')

    def set_ticker_interval(self, value):
        self._set('ticker_interval', value)

    def get_timezone(self):
        """The zone in which schedules are read, as a `tzinfo`."""
        return self._read('timezone')

    def get_misfire_grace(self):
        return self.get_number('misfire_grace')

    def get_history_days(self):
        return self.get_number('history_days')

    def get_lease_seconds(self):
        return self.get_number('lease_seconds')

    def get_number(self, key):
        """The value of the whole-number key `key`."""
        return settings.lookup(key).read(self.section, key)

    # Tasks

    def is_task_enabled(self, task):
        return self._value(_key(task) + '.enabled')

    def set_task_enabled(self, task, value):
        self._set(_key(task) + '.enabled', value)

    def get_max_instances(self, task):
        return self.get_number(_key(task) + '.max_instances')

    def get_run_mode(self, task):
        return self._read(_key(task) + '.run_mode')

    def get_alert_after(self, task):
        """Seconds without a successful run after which the task is
        overdue, or `None` (never)."""
        return self._read(_key(task) + '.alert_after')

    def get_retries(self, task):
        """`(retries, first delay, longest delay)` of `task`, delays in
        seconds."""
        key = _key(task)
        return (self._value(key + '.retries'),
                self._value(key + '.retry_delay'),
                self._value(key + '.retry_delay_max'))

    def get_timeout(self, task):
        """The run time limit of `task` in seconds, or `None`."""
        return self._value(_key(task) + '.timeout')

    def get_catch_up(self, task):
        return self._value(_key(task) + '.catch_up', self.catch_up)

    # Schedules

    def get_schedule_value(self, task, schedule_type):
        """The raw value of `<task>.<type>`, or `None` when unset."""
        return self._read('%s.%s' % (_key(task), _key(schedule_type)))

    def get_schedule_value_list(self, task, schedule_type):
        return split_list(self.get_schedule_value(task, schedule_type))

    def set_schedule_value(self, task, schedule_type, value):
        self._set('%s.%s' % (_key(task), _key(schedule_type)), value)

    def is_schedule_enabled(self, task, schedule_type):
        return self._value(
            '%s.%s.enabled' % (_key(task), _key(schedule_type)))

    def set_schedule_enabled(self, task, schedule_type, value):
        self._set('%s.%s.enabled' % (_key(task), _key(schedule_type)), value)

    def get_schedule_arg(self, task, schedule_type):
        value = self.section.get(
            '%s.%s.arg' % (_key(task), _key(schedule_type)))
        return value.strip() if value and value.strip() else None

    def get_schedule_arg_list(self, task, schedule_type):
        return list(self._read('%s.%s.arg' % (_key(task),
                                              _key(schedule_type))))

    def set_schedule_arg(self, task, schedule_type, value):
        self._set('%s.%s.arg' % (_key(task), _key(schedule_type)), value)

    # Listeners

    def is_task_listener_enabled(self, listener):
        return self._value(_key(listener) + '.enabled')

    def set_task_listener_enabled(self, listener, value):
        self._set(_key(listener) + '.enabled', value)

    def get_email_notifier_task_limit(self):
        return self.get_number('email_task_event.limit')

    def set_email_notifier_task_limit(self, value):
        self._set('email_task_event.limit', value)

    def get_email_notifier_task_recipient(self):
        return self.section.get('email_task_event.recipient', '')

    def get_email_notifier_task_recipient_list(self):
        return list(self.email_recipient)

    def set_email_notifier_task_recipient(self, value):
        self._set('email_task_event.recipient', value)

    def is_email_notifier_only_error(self):
        return self.email_only_error

    def set_email_notifier_only_error(self, value):
        self._set('email_task_event.only_error', value)

    def get_unreachable_milestone_task_recipient_list(self):
        return list(self.unreachable_milestone_recipient)

    # Reading and writing through the schema

    def fingerprint(self):
        """A value that changes whenever `[traccron]` changes: its raw
        text, in trac.ini and in the files it inherits from (the ticker
        looks at it at every wake; reading each value through Trac took
        ~3 ms for 1,000 tasks)."""
        return _raw_items(self.config)

    def _read(self, key):
        """The value of `key`; raises `ConfigError` when invalid."""
        return settings.lookup(key).read(self.section, key)

    def _value(self, key, default=None):
        """The value of `key`, or its default when invalid."""
        return settings.lookup(key).value(self.section, key, default)

    def _set(self, key, value):
        settings.write(self.section, key, value)


def _raw_items(config):
    """The raw `(key, value)` pairs of `[traccron]` in `config` and its
    parents (`[inherit] file`)."""
    parser = config.parser
    items = tuple(parser.items(SECTION, raw=True)) \
        if parser.has_section(SECTION) else ()
    return (items,) + tuple(_raw_items(parent) for parent in config.parents)
