# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Reading and writing the `[traccron]` section of trac.ini."""

import collections
import re
import zoneinfo

from trac.config import BoolOption, IntOption, Option
from trac.core import Component

from traccron.cron import local_zone

SECTION = 'traccron'

RUN_MODES = ('cluster', 'local')

_DIGITS = re.compile(r'[0-9]+')
_TRUE_WORDS = ('yes', 'true', 'enabled', 'on')
_FALSE_WORDS = ('no', 'false', 'disabled', 'off')
_BOOL_SUFFIXES = ('.enabled', '.only_error', 'catch_up')


def _key(obj):
    """Accept a task, scheduler type or listener, or its id."""
    return obj if isinstance(obj, str) else obj.getId()


def split_list(value):
    """Split a comma-separated value into its stripped, non-empty parts."""
    return [v.strip() for v in (value or '').split(',') if v.strip()]


def whole_number(text):
    """The whole number written in `text` with the digits 0-9 (blanks
    around allowed, at most 100 digits after leading zeros), or `None`.
    The one parser of whole numbers of TracCron: `str.isdigit` and `int`
    also take `²`, `٣`, `+1` or `1_000`, and `int` refuses thousands of
    digits."""
    text = (text or '').strip()
    if not _DIGITS.fullmatch(text):
        return None
    digits = text.lstrip('0') or '0'
    return int(digits) if len(digits) <= 100 else None


def boolean(text):
    """`text` read as a boolean as Trac reads one (`as_bool`: a number,
    or yes/true/enabled/on, no/false/disabled/off); an empty text is
    false. `None` when it is neither."""
    text = (text or '').strip()
    if not text:
        return False
    try:
        return bool(float(text))
    except ValueError:
        text = text.lower()
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    return None


class Number(collections.namedtuple('Number', 'default minimum maximum')):
    """The rule of a whole-number key. The maxima keep every duration
    that the ticker derives within 64-bit microseconds."""

    def parse(self, key, value):
        """`value` of `key` as a number: the default when empty; raises
        `ConfigError` when invalid."""
        text = (value or '').strip()
        if not text:
            return self.default
        reason = self.reason(text)
        if reason:
            raise ConfigError(key, value, reason, self.default)
        return whole_number(text)

    def reason(self, text):
        """Why `text` is not a valid value, or `None`."""
        number = whole_number(text)
        if number is None or number < self.minimum:
            return 'expected a whole number >= %d' % self.minimum
        if number > self.maximum:
            return 'expected a whole number <= %d' % self.maximum
        return None


#: The whole-number keys; `*.max_instances` is that key of every task.
NUMBERS = {
    'ticker_interval': Number(1, 1, 10 ** 6),           # minutes
    'misfire_grace': Number(60, 0, 10 ** 9),            # seconds
    'history_days': Number(400, 0, 10 ** 6),
    'lease_seconds': Number(300, 1, 10 ** 9),
    'email_task_event.limit': Number(1, 1, 10 ** 6),
    'ticket_deadline.days_before': Number(3, 0, 10 ** 6),
    '*.max_instances': Number(1, 1, 10 ** 6),
}


def number_rule(key):
    """The `Number` of `key`, or `None` when it is not a whole number."""
    rule = NUMBERS.get(key)
    if rule is None and key.endswith('.max_instances'):
        rule = NUMBERS['*.max_instances']
    return rule


def is_bool_key(key):
    """Whether `key` holds a boolean."""
    return key == 'ticker_enabled' or key.endswith(_BOOL_SUFFIXES)


class ConfigError(ValueError):
    """An invalid value in `[traccron]`; `key` names the trac.ini key,
    `default` is the value used instead."""

    def __init__(self, key, value, message, default=None):
        self.key = key
        self.value = value
        ValueError.__init__(self, '[traccron] %s = %s: %s'
                            % (key, value, message))
        self.reason = message
        self.default = default


def or_default(getter, *args):
    """`getter(*args)`, or the default of its key when the value in
    trac.ini is invalid (`Core.check` reports it)."""
    try:
        return getter(*args)
    except ConfigError as e:
        return e.default


class CronConfig(Component):
    """Access to the `[traccron]` section (the original plugin's API:
    `CronConfig(env)` keeps working)."""

    ticker_enabled = BoolOption(SECTION, 'ticker_enabled', 'true',
        """Master switch of the scheduler. When false, no ticker thread is
        started and no task runs.""")

    ticker_interval = IntOption(SECTION, 'ticker_interval',
                                NUMBERS['ticker_interval'].default,
        """Longest time, in minutes, the ticker sleeps when nothing is due.
        Fire times do not depend on it; it is kept for compatibility.""")

    timezone_name = Option(SECTION, 'timezone', '',
        """IANA name of the time zone in which schedules are read, such as
        `Europe/Paris`. Empty means the server's local zone.""")

    misfire_grace = IntOption(SECTION, 'misfire_grace',
                              NUMBERS['misfire_grace'].default,
        """Seconds a run may start after its scheduled time and still run.
        A later occurrence is recorded as `missed`.""")

    catch_up = BoolOption(SECTION, 'catch_up', 'false',
        """After downtime, run each schedule's missed occurrences once (one
        run, recorded with the latest missed time). When false they are
        recorded as `missed`. `<task>.catch_up` overrides it per task.""")

    history_days = IntOption(SECTION, 'history_days',
                             NUMBERS['history_days'].default,
        """History rows older than this many days are purged. `0` keeps
        every row.""")

    lease_seconds = IntOption(SECTION, 'lease_seconds',
                              NUMBERS['lease_seconds'].default,
        """Seconds a run may go without a heartbeat from its process before
        another process records it as `interrupted`.""")

    email_limit = IntOption(SECTION, 'email_task_event.limit',
                            NUMBERS['email_task_event.limit'].default,
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

    # The getters of whole numbers raise `ConfigError` for an invalid
    # value (`or_default` gives the default instead); those of booleans
    # return the default.

    def get_ticker_enabled(self):
        return self._get_bool('ticker_enabled', True)

    def set_ticker_enabled(self, value):
        self._set('ticker_enabled', value)

    def get_ticker_interval(self):
        """The ticker interval in minutes (at least 1)."""
        return self.get_number('ticker_interval')

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
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a directory (`Europe`) or a name too long
            raise ConfigError('timezone', name,
                              'unknown time zone (expected an IANA name '
                              'such as Europe/Paris)', local_zone())

    def get_misfire_grace(self):
        return self.get_number('misfire_grace')

    def get_history_days(self):
        return self.get_number('history_days')

    def get_lease_seconds(self):
        return self.get_number('lease_seconds')

    def get_number(self, key):
        """The value of the whole-number key `key` (see `NUMBERS`)."""
        return number_rule(key).parse(key, self.section.get(key, ''))

    # Tasks

    def is_task_enabled(self, task):
        return self._get_bool(_key(task) + '.enabled', True)

    def set_task_enabled(self, task, value):
        self._set(_key(task) + '.enabled', value)

    def get_max_instances(self, task):
        return self.get_number(_key(task) + '.max_instances')

    def get_run_mode(self, task):
        key = _key(task) + '.run_mode'
        value = self.section.get(key, 'cluster').strip().lower() or 'cluster'
        if value not in RUN_MODES:
            raise ConfigError(key, value, 'expected cluster or local',
                              'cluster')
        return value

    def get_catch_up(self, task):
        return self._get_bool(_key(task) + '.catch_up',
                              self._get_bool('catch_up', False))

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
        return self._get_bool(
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
        return self._get_bool(_key(listener) + '.enabled', True)

    def set_task_listener_enabled(self, listener, value):
        self._set(_key(listener) + '.enabled', value)

    def get_email_notifier_task_limit(self):
        return self.get_number('email_task_event.limit')

    def set_email_notifier_task_limit(self, value):
        self._set('email_task_event.limit', value)

    def get_email_notifier_task_recipient(self):
        return self.section.get('email_task_event.recipient', '')

    def get_email_notifier_task_recipient_list(self):
        return split_list(self.get_email_notifier_task_recipient())

    def set_email_notifier_task_recipient(self, value):
        self._set('email_task_event.recipient', value)

    def is_email_notifier_only_error(self):
        return self._get_bool('email_task_event.only_error', False)

    def set_email_notifier_only_error(self, value):
        self._set('email_task_event.only_error', value)

    def get_unreachable_milestone_task_recipient_list(self):
        return split_list(
            self.section.get('unreachable_milestone.recipient', ''))

    # Writing

    def fingerprint(self):
        """A value that changes whenever `[traccron]` changes."""
        return tuple(sorted(self.config.options(SECTION)))

    def _set(self, key, value):
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        self.section.set(key, '' if value is None else str(value))

    def check_value(self, key):
        """Raise `ConfigError` when `key` holds an invalid whole number or
        boolean; keys of other kinds are not looked at."""
        if number_rule(key) is not None:
            self.get_number(key)
        elif is_bool_key(key):
            value = self.section.get(key)
            if boolean(value) is None:
                raise ConfigError(key, value, 'expected true or false')

    def _get_bool(self, key, default):
        raw = self.section.get(key, None)
        value = None if raw is None else boolean(raw)
        return default if value is None else value
