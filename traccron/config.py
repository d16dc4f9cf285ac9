# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Reading and writing the `[traccron]` section of trac.ini."""

import os
import zoneinfo

from trac.config import BoolOption, IntOption, Option
from trac.core import Component
from trac.util import as_bool

SECTION = 'traccron'

RUN_MODES = ('cluster', 'local')


def _key(obj):
    """Accept a task, scheduler type or listener, or its id."""
    return obj if isinstance(obj, str) else obj.getId()


def split_list(value):
    """Split a comma-separated value into its stripped, non-empty parts."""
    return [v.strip() for v in (value or '').split(',') if v.strip()]


def local_zone():
    """Return the server's local zone as a `ZoneInfo` (UTC if unknown)."""
    name = os.environ.get('TZ', '').lstrip(':')
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open('/etc/localtime', 'rb') as f:
            return zoneinfo.ZoneInfo.from_file(f, key='localtime')
    except OSError:
        return zoneinfo.ZoneInfo('UTC')


class ConfigError(ValueError):
    """An invalid value in `[traccron]`; `key` names the trac.ini key."""

    def __init__(self, key, value, message):
        self.key = key
        self.value = value
        ValueError.__init__(self, '[traccron] %s = %s: %s'
                            % (key, value, message))
        self.reason = message


class CronConfig(Component):
    """Access to the `[traccron]` section (the original plugin's API:
    `CronConfig(env)` keeps working)."""

    ticker_enabled = BoolOption(SECTION, 'ticker_enabled', 'true',
        """Master switch of the scheduler. When false, no ticker thread is
        started and no task runs.""")

    ticker_interval = IntOption(SECTION, 'ticker_interval', 1,
        """Longest time, in minutes, the ticker sleeps when nothing is due.
        Fire times do not depend on it; it is kept for compatibility.""")

    timezone_name = Option(SECTION, 'timezone', '',
        """IANA name of the time zone in which schedules are read, such as
        `Europe/Paris`. Empty means the server's local zone.""")

    misfire_grace = IntOption(SECTION, 'misfire_grace', 60,
        """Seconds a run may start after its scheduled time and still run.
        A later occurrence is recorded as `missed`.""")

    catch_up = BoolOption(SECTION, 'catch_up', 'false',
        """After downtime, run each schedule's missed occurrences once (one
        run, recorded with the latest missed time). When false they are
        recorded as `missed`. `<task>.catch_up` overrides it per task.""")

    history_days = IntOption(SECTION, 'history_days', 400,
        """History rows older than this many days are purged. `0` keeps
        every row.""")

    lease_seconds = IntOption(SECTION, 'lease_seconds', 300,
        """Seconds a run may go without a heartbeat from its process before
        another process records it as `interrupted`.""")

    email_limit = IntOption(SECTION, 'email_task_event.limit', 1,
        """Number of runs collected before the email listener sends one
        summary mail.""")

    email_recipient = Option(SECTION, 'email_task_event.recipient', '',
        """Comma-separated user names or addresses that receive the email
        listener's mails. No mail is sent when empty.""")

    email_only_error = BoolOption(SECTION, 'email_task_event.only_error',
                                  'false',
        """When true, the email listener mails failed runs only.""")

    unreachable_milestone_recipient = Option(SECTION,
        'unreachable_milestone.recipient', '',
        """Comma-separated user names or addresses (the release managers)
        told about open tickets of a milestone that is due soon.""")

    def __init__(self):
        self.section = self.config[SECTION]

    # Global settings

    def get_ticker_enabled(self):
        return self.section.getbool('ticker_enabled', True)

    def set_ticker_enabled(self, value):
        self._set('ticker_enabled', value)

    def get_ticker_interval(self):
        """The ticker interval in minutes (at least 1)."""
        return self._get_seconds('ticker_interval', 1, minimum=1)

    def set_ticker_interval(self, value):
        self._set('ticker_interval', value)

    def get_timezone(self):
        """The zone in which schedules are read, as a `tzinfo`; raises
        `ConfigError` for an unknown name."""
        name = self.section.get('timezone', '').strip()
        if not name:
            return local_zone()
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError('timezone', name,
                              'unknown time zone (expected an IANA name '
                              'such as Europe/Paris)')

    def get_misfire_grace(self):
        return self._get_seconds('misfire_grace', 60, minimum=0)

    def get_history_days(self):
        return self._get_seconds('history_days', 400, minimum=0)

    def get_lease_seconds(self):
        return self._get_seconds('lease_seconds', 300, minimum=1)

    # Tasks

    def is_task_enabled(self, task):
        return self.section.getbool(_key(task) + '.enabled', True)

    def set_task_enabled(self, task, value):
        self._set(_key(task) + '.enabled', value)

    def get_max_instances(self, task):
        return self._get_seconds(_key(task) + '.max_instances', 1, minimum=1)

    def get_run_mode(self, task):
        key = _key(task) + '.run_mode'
        value = self.section.get(key, 'cluster').strip().lower() or 'cluster'
        if value not in RUN_MODES:
            raise ConfigError(key, value, 'expected cluster or local')
        return value

    def get_catch_up(self, task):
        key = _key(task) + '.catch_up'
        default = self.section.getbool('catch_up', False)
        return self.section.getbool(key, default)

    # Schedules

    def get_schedule_value(self, task, schedule_type):
        """The raw value of `<task>.<type>`, or `None` when unset."""
        value = self.section.get('%s.%s' % (_key(task), _key(schedule_type)))
        return value.strip() if value and value.strip() else None

    def get_schedule_value_list(self, task, schedule_type):
        return split_list(self.get_schedule_value(task, schedule_type))

    def set_schedule_value(self, task, schedule_type, value):
        self._set('%s.%s' % (_key(task), _key(schedule_type)), value)

    def is_schedule_enabled(self, task, schedule_type):
        return self.section.getbool(
            '%s.%s.enabled' % (_key(task), _key(schedule_type)), True)

    def set_schedule_enabled(self, task, schedule_type, value):
        self._set('%s.%s.enabled' % (_key(task), _key(schedule_type)), value)

    def get_schedule_arg(self, task, schedule_type):
        value = self.section.get(
            '%s.%s.arg' % (_key(task), _key(schedule_type)))
        return value.strip() if value and value.strip() else None

    def get_schedule_arg_list(self, task, schedule_type):
        return split_list(self.get_schedule_arg(task, schedule_type))

    def set_schedule_arg(self, task, schedule_type, value):
        self._set('%s.%s.arg' % (_key(task), _key(schedule_type)), value)

    # Listeners

    def is_task_listener_enabled(self, listener):
        return self.section.getbool(_key(listener) + '.enabled', True)

    def set_task_listener_enabled(self, listener, value):
        self._set(_key(listener) + '.enabled', value)

    def get_email_notifier_task_limit(self):
        return self._get_seconds('email_task_event.limit', 1, minimum=1)

    def set_email_notifier_task_limit(self, value):
        self._set('email_task_event.limit', value)

    def get_email_notifier_task_recipient(self):
        return self.section.get('email_task_event.recipient', '')

    def get_email_notifier_task_recipient_list(self):
        return split_list(self.get_email_notifier_task_recipient())

    def set_email_notifier_task_recipient(self, value):
        self._set('email_task_event.recipient', value)

    def is_email_notifier_only_error(self):
        return self.section.getbool('email_task_event.only_error', False)

    def set_email_notifier_only_error(self, value):
        self._set('email_task_event.only_error', value)

    def get_unreachable_milestone_task_recipient_list(self):
        return split_list(
            self.section.get('unreachable_milestone.recipient', ''))

    def set_unreachable_milestone_task_recipient(self, value):
        self._set('unreachable_milestone.recipient', value)

    # Writing

    def save(self):
        self.config.save()

    def fingerprint(self):
        """A value that changes whenever `[traccron]` changes."""
        return tuple(sorted(self.config.options(SECTION)))

    def _set(self, key, value):
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        self.section.set(key, '' if value is None else str(value))

    def _get_seconds(self, key, default, minimum):
        raw = self.section.get(key, '')
        if raw is None or str(raw).strip() == '':
            return default
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ConfigError(key, raw, 'expected a whole number')
        if value < minimum:
            raise ConfigError(key, raw, 'expected a number >= %d' % minimum)
        return value


def is_true(value):
    return as_bool(value)
