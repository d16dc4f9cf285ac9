# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The schema of the `[traccron]` section: every key, its kind, default,
bounds and doc, written once.

Everything else derives from it: reading a value (`CronConfig`), the
Trac `Option`s that TracIni documents (`option`), the keys that a section
may hold (`expand`), checking a section (`check`, which `cron check` and
the admin panels show), checking a value typed into a form (`parse`) and
the key list of README.txt (`readme_text`).

Keys named after tasks, scheduler types and listeners are written as
patterns: `TASK.TYPE.arg` stands for `heart_beat.daily.arg`.
"""

import collections
import difflib
import itertools
import re
import textwrap
import zoneinfo

from trac.config import BoolOption, IntOption, Option

from traccron.cron import local_zone
from traccron.times import DAY, HOUR, MINUTE, SECOND

SECTION = 'traccron'

#: The placeholders of the key patterns.
TASK, TYPE, LISTENER = 'TASK', 'TYPE', 'LISTENER'
PLACEHOLDERS = (TASK, TYPE, LISTENER)

_DIGITS = re.compile(r'[0-9]+')
_TRUE_WORDS = ('yes', 'true', 'enabled', 'on')
_FALSE_WORDS = ('no', 'false', 'disabled', 'off')
_MAX_DIGITS = 100


class ConfigError(ValueError):
    """An invalid value in `[traccron]`; `key` names the trac.ini key,
    `reason` says what was expected, `default` is the value used
    instead."""

    def __init__(self, key, value, message, default=None):
        self.key = key
        self.value = value
        ValueError.__init__(self, '[%s] %s = %s: %s'
                            % (SECTION, key, value, message))
        self.reason = message
        self.default = default


class Problem(collections.namedtuple('Problem', 'key value message')):
    """Something wrong in `[traccron]`: the key, its value and why."""

    def __str__(self):
        return '[%s] %s = %s: %s' % (SECTION, self.key, self.value,
                                     self.message)


# Values

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
    return int(digits) if len(digits) <= _MAX_DIGITS else None


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


def split_list(value):
    """Split a comma-separated value into its stripped, non-empty parts."""
    return [v.strip() for v in (value or '').split(',') if v.strip()]


def _parse_bool(setting, key, text, required):
    value = boolean(text)
    if value is None:
        raise ConfigError(key, text, 'expected true or false',
                          setting.default)
    return value


def _parse_number(setting, key, text, required):
    if not text.strip() and not required:
        return setting.default
    number = whole_number(text)
    if number is None or number < setting.minimum:
        raise ConfigError(key, text, 'expected a whole number >= %d'
                          % setting.minimum, setting.default)
    if number > setting.maximum:
        raise ConfigError(key, text, 'expected a whole number <= %d'
                          % setting.maximum, setting.default)
    return number


def _parse_zone(setting, key, text, required):
    name = text.strip()
    if not name:
        return local_zone()
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory (`Europe`) or a name too long
        raise ConfigError(key, name, 'unknown time zone (expected an IANA '
                          'name such as Europe/Paris)', local_zone())


def _parse_choice(setting, key, text, required):
    value = text.strip().lower() or setting.default
    if value not in setting.choices:
        raise ConfigError(key, value, 'expected ' +
                          ' or '.join(setting.choices), setting.default)
    return value


_DURATION = re.compile(r'\s*([0-9]+)\s*([smhdw]?)\s*', re.I)
_DURATION_UNITS = dict((unit, length // SECOND) for unit, length in [
    ('', SECOND), ('s', SECOND), ('m', MINUTE), ('h', HOUR), ('d', DAY),
    ('w', 7 * DAY)])


def _parse_duration(setting, key, text, required):
    """Seconds, or `None` for empty or `0` (off): `90`, `90s`, `30m`,
    `2h`, `1d`, `1w`."""
    if not text.strip():
        return setting.default
    match = _DURATION.fullmatch(text)
    number = whole_number(match.group(1)) if match else None
    seconds = None if number is None else \
        number * _DURATION_UNITS[match.group(2).lower()]
    if seconds is None or seconds > setting.maximum:
        raise ConfigError(key, text, 'expected a duration such as 90s, 30m, '
                          '26h, 2d or 1w (at most %d s), or 0 for none'
                          % setting.maximum, setting.default)
    return seconds or None


def _parse_text(setting, key, text, required):
    return text


def _parse_list(setting, key, text, required):
    return split_list(text)


def _parse_schedule(setting, key, text, required):
    # Checked by the scheduler type (`scheduler.check_schedule_value`).
    return text.strip() or None


_PARSERS = {
    'bool': _parse_bool,
    'number': _parse_number,
    'zone': _parse_zone,
    'choice': _parse_choice,
    'duration': _parse_duration,
    'text': _parse_text,
    'list': _parse_list,
    'schedule': _parse_schedule,
}


class Setting(object):
    """One key of `[traccron]`, or one family of keys when `key` holds
    placeholders (`TASK.max_instances`).

    `kind` is one of `bool`, `number` (a whole number from `minimum` to
    `maximum`), `zone` (an IANA name; empty: the server's zone),
    `choice` (one of `choices`), `text`, `list` (comma-separated) and
    `schedule` (the values of a scheduler type, which that type checks).
    `owner` is the task or listener a key belongs to: without it the
    key is unknown. `shown_default` describes a default that is not a
    plain value."""

    def __init__(self, key, kind, default, doc, group, minimum=None,
                 maximum=None, choices=(), owner=None, shown_default=None):
        self.key = key
        self.kind = kind
        self.default = default
        self.doc = ' '.join(doc.split())
        self.group = group
        self.minimum = minimum
        self.maximum = maximum
        self.choices = choices
        self.owner = owner
        self.shown_default = shown_default

    def __repr__(self):
        return '<Setting %s (%s)>' % (self.key, self.kind)

    @property
    def is_pattern(self):
        return any(part in PLACEHOLDERS for part in self.key.split('.'))

    def parse(self, key, text, required=False):
        """`text`, the value of `key`, as this setting's value; raises
        `ConfigError` naming the key when it is invalid. An empty text is
        the default (a number) or false (a boolean), as in trac.ini; with
        `required`, an empty number is refused."""
        return _PARSERS[self.kind](self, key, '' if text is None else text,
                                   required)

    def read(self, section, key=None, default=None):
        """The value of `key` (by default this setting's own key) in the
        Trac config `section`; `default` replaces the schema's default
        of a key that is not set. Raises `ConfigError` when invalid."""
        key = key or self.key
        raw = section.get(key, None)
        if raw is None:
            return self.default if default is None else default
        return self.parse(key, raw)

    def value(self, section, key=None, default=None):
        """As `read`, but the default when the value is invalid (`check`
        reports it)."""
        try:
            return self.read(section, key, default)
        except ConfigError as e:
            return e.default if default is None else default

    def keys(self, ids):
        """The keys of this setting, with `ids` mapping each placeholder
        to the ids that replace it."""
        parts = [ids.get(part, ()) if part in PLACEHOLDERS else (part,)
                 for part in self.key.split('.')]
        return ['.'.join(names) for names in itertools.product(*parts)]

    def default_text(self):
        """The default as README and TracIni show it, or `None`."""
        if self.shown_default is not None:
            return self.shown_default
        if self.kind == 'schedule':
            return None
        if self.default in (None, '', ()):
            return 'empty'
        return str(self.default)

    def option_default(self):
        """The default as a Trac `Option` holds it."""
        if self.kind in ('zone', 'list') or self.default is None:
            return ''
        return self.default


_GLOBAL = 'Global keys'
_TASK = 'Keys of a task (TASK is the task id, e.g. heart_beat; TYPE a ' \
        'scheduler type)'
_LISTENER = 'Keys of listeners (LISTENER is the listener id)'
_BUNDLED = 'Keys of bundled tasks'

#: The maxima keep every duration that the ticker derives within 64-bit
#: microseconds.
SCHEMA = [
    Setting('ticker_enabled', 'bool', True, """
        Master switch of the scheduler. When false no ticker thread exists
        and no task runs; turning it off in trac.ini stops a running
        ticker within 5 seconds.""", _GLOBAL),
    Setting('ticker_interval', 'number', 1, """
        Minutes: the longest the ticker sleeps when nothing is due. Fire
        times do not depend on it (the ticker sleeps until the next
        occurrence); it is kept for compatibility.""", _GLOBAL,
            minimum=1, maximum=10 ** 6),
    Setting('timezone', 'zone', None, """
        IANA name of the time zone in which schedules are read, such as
        Europe/Paris. Empty means the server's local zone.""", _GLOBAL,
            shown_default="the server's local zone"),
    Setting('misfire_grace', 'number', 60, """
        Seconds an occurrence may start late and still run (after a
        suspended machine or a stopped server). A later one is recorded
        as `missed` in the history and does not run.""", _GLOBAL,
            minimum=0, maximum=10 ** 9),
    Setting('catch_up', 'bool', False, """
        After downtime (no ticker running, the machine asleep), run each
        schedule's missed occurrences once: one run, recorded with the
        time of the latest missed occurrence. When false they are
        recorded as `missed`, one row each (at most the last 100 of a
        schedule). This is decided from the history, so it works after a
        restart and whatever process starts first. TASK.catch_up
        overrides it for one task.""", _GLOBAL),
    Setting('history_days', 'number', 400, """
        History rows older than this many days are purged (checked
        hourly). 0 keeps everything.""", _GLOBAL,
            minimum=0, maximum=10 ** 6),
    Setting('lease_seconds', 'number', 300, """
        A run whose heartbeat has not changed for this many seconds,
        measured on the observing process's own monotonic clock, is
        recorded as `interrupted` (its process was killed, or its host
        went away). Wall clocks of two hosts are never compared: skew,
        NTP steps and a suspended machine do not make a live run look
        dead.""", _GLOBAL, minimum=1, maximum=10 ** 9),
    Setting('log_capture_bytes', 'number', 64 * 1024, """
        Bytes of the log lines a run writes that are kept with it, for
        its page; past that, its log ends with a "truncated" marker. `0`
        captures nothing. Only lines that pass `[logging] log_level` are
        seen.""", _GLOBAL, minimum=0, maximum=10 ** 9),

    Setting('TASK.enabled', 'bool', True, """
        Switch one task off while keeping its schedules.""", _TASK),
    Setting('TASK.TYPE', 'schedule', None, """
        Comma-separated schedule values for the scheduler type TYPE
        (hourly, daily, weekly, monthly, cron; separate several cron
        expressions with `;`). No value: no schedule.""", _TASK),
    Setting('TASK.TYPE.enabled', 'bool', True, """
        Switch one schedule off.""", _TASK),
    Setting('TASK.TYPE.arg', 'list', (), """
        Comma-separated arguments passed to the task by that
        schedule.""", _TASK),
    Setting('TASK.max_instances', 'number', 1, """
        How many runs of the task may go on at once. An occurrence that
        comes while that many are running is recorded `skipped`. A run
        counts until its task returns, in the process that runs it (its
        listeners and its outcome may wait for a thread, then take 5 s;
        10 s after the task returned at most); in the other processes,
        until its outcome is written.""",
            _TASK, minimum=1, maximum=10 ** 6),
    Setting('TASK.run_mode', 'choice', 'cluster', """
        `cluster`: each occurrence runs once among all processes sharing
        the database. `local`: it runs in every process. A local
        schedule's history key is `TYPE@host:N`, where N is a slot of the
        host that the process holds while it lives (a lock file in the
        environment's files/traccron/ directory). A restarted process
        takes the lowest free slot, so it finds its own history: its
        downtime is recorded `missed`, or caught up with catch_up. Where
        files/traccron cannot be written, the key is `TYPE@host:pid` and a
        restart does not see its downtime.""", _TASK,
            choices=('cluster', 'local')),
    Setting('TASK.catch_up', 'bool', None, """
        catch_up for this task only.""", _TASK,
            shown_default='the global catch_up'),
    Setting('TASK.alert_after', 'duration', None, """
        The task is overdue when it has had no successful run for this
        long (90s, 30m, 26h, 2d, 1w; 0 or empty: never): `cron status`
        then answers CRITICAL, the overview says so, and the listeners
        and subscribers are told once ("overdue"), then once more at its
        next success ("recovered"), whichever process notices it first.
        """, _TASK, maximum=10 ** 9, shown_default='never'),
    Setting('TASK.retries', 'number', 0, """
        How many times a failed run is tried again. Each attempt is a
        history row of its own, with the same scheduled time and its
        attempt number. An attempt that would start after the task's next
        regular occurrence is not made: it is recorded `skipped`.""",
            _TASK, minimum=0, maximum=1000),
    Setting('TASK.retry_delay', 'number', 60, """
        Seconds before the first retry of a failed run. The delay doubles
        at each further attempt, with 10% of random jitter either
        way.""", _TASK, minimum=0, maximum=10 ** 6),
    Setting('TASK.retry_delay_max', 'number', 3600, """
        The longest delay, in seconds, between two attempts.""", _TASK,
            minimum=0, maximum=10 ** 7),
    Setting('TASK.timeout', 'duration', None, """
        Run time limit (90s, 30m, 2h; 0 or empty: none). A run still going
        after it is recorded `timeout` and the listeners and subscribers
        are told; its `TaskRun.cancelled` becomes true, so that a task
        that checks it can stop early. Python cannot stop a thread: a run
        that goes on keeps its place in max_instances, and its real
        outcome is added to the row when it ends.""", _TASK,
            maximum=10 ** 9, shown_default='none'),

    Setting('LISTENER.enabled', 'bool', True, """
        Switch a listener off, e.g. history_task_event.enabled =
        False.""", _LISTENER),
    Setting('email_task_event.limit', 'number', 1, """
        Runs collected before one summary mail is sent.""", _LISTENER,
            minimum=1, maximum=10 ** 6, owner='email_task_event'),
    Setting('email_task_event.recipient', 'list', (), """
        Comma-separated user names or addresses. No mail without
        it.""", _LISTENER, owner='email_task_event'),
    Setting('email_task_event.only_error', 'bool', False, """
        Mail failed runs only.""", _LISTENER, owner='email_task_event'),

    Setting('unreachable_milestone.recipient', 'list', (), """
        Comma-separated user names or addresses of the release managers,
        told about the open tickets of milestones due soon.""", _BUNDLED,
            owner='unreachable_milestone'),
    Setting('ticket_deadline.date_field', 'text', 'due_date', """
        The ticket custom field in which the ticket_deadline task reads
        the deadline (text in ticket_deadline.date_format, or a custom
        field of type time).""", _BUNDLED, owner='ticket_deadline'),
    Setting('ticket_deadline.date_format', 'text', '%Y-%m-%d', """
        `strftime` format of the deadline field of ticket_deadline
        (ignored for a custom field of type time).""", _BUNDLED, owner='ticket_deadline'),
    Setting('ticket_deadline.days_before', 'number', 3, """
        How many days before its deadline ticket_deadline warns about a
        ticket.""",
            _BUNDLED, minimum=0, maximum=10 ** 6, owner='ticket_deadline'),
]

_FIXED = dict((s.key, s) for s in SCHEMA if not s.is_pattern)
_PATTERNS = [s for s in SCHEMA if s.is_pattern]
_SCHEDULE = [s for s in _PATTERNS if s.kind == 'schedule'][0]
#: The setting of a pattern key by its last part (the first one listed).
_BY_LAST = {}
for _setting in reversed(_PATTERNS):
    _BY_LAST[_setting.key.rsplit('.', 1)[1]] = _setting
del _setting
#: A key of a third-party component's own `Option` in `[traccron]`.
_FOREIGN = Setting('', 'text', '', 'declared by another plugin', None)


def get(key):
    """The setting of the fixed key `key` (`KeyError` if there is
    none)."""
    return _FIXED[key]


def lookup(key):
    """The setting of `key` judged from its shape alone (a known fixed
    key, or its last part: `x.max_instances`), or `None`. Keys of a
    task, a schedule and a listener that share a last part share their
    rule (`TASK.enabled`, `TASK.TYPE.enabled`, `LISTENER.enabled`)."""
    setting = _FIXED.get(key)
    if setting is not None:
        return setting
    if '.' not in key:
        return None
    return _BY_LAST.get(key.rsplit('.', 1)[1], _SCHEDULE)


def expand(task_ids, type_ids, listener_ids):
    """`{key: Setting}` of every key that `[traccron]` may hold with these
    tasks, scheduler types and listeners."""
    ids = {TASK: list(task_ids), TYPE: list(type_ids),
           LISTENER: list(listener_ids)}
    owners = set(ids[TASK]) | set(ids[LISTENER])
    known = {}
    for setting in SCHEMA:
        if setting.owner is None or setting.owner in owners:
            for key in setting.keys(ids):
                known.setdefault(key, setting)
    return known


def foreign(keys):
    """`{key: Setting}` for the keys of `[traccron]` that other plugins
    declare as their own options: known, never checked."""
    return dict((key, _FOREIGN) for key in keys)


def check(section, known):
    """The problems of the Trac config `section`: each key `known` (as
    `expand` gives it) does not hold, with the closest known key, and
    each invalid value. Schedule values are for the scheduler types to
    check."""
    for key in section.iterate(defaults=False):
        setting = known.get(key)
        if setting is None:
            yield _unknown(key, section.get(key), known)
            continue
        try:
            setting.read(section, key)
        except ConfigError as e:
            yield Problem(e.key, e.value, e.reason)


def _unknown(key, value, known):
    message = 'unknown key, ignored'
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        message += '; did you mean %s?' % close[0]
    return Problem(key, value, message)


# Forms

def parse(key, text, required=False):
    """The value of `text` typed for the key `key`, as reading trac.ini
    gives it (a `bool`, an `int`, a zone, a text or a list); raises
    `ConfigError` naming the key, the text and what is expected. With
    `required`, an empty number is refused. A schedule value (`TASK.TYPE`)
    is only stripped: `scheduler.check_schedule_value` checks it."""
    setting = lookup(key)
    if setting is None:
        raise ConfigError(key, text, 'not a key of [%s]' % SECTION)
    return setting.parse(key, text, required)


def write(section, key, value):
    """Write `value` of `key` to the Trac config `section` (not saved): a
    boolean as `true`/`false`, a list comma-separated, `None` as empty."""
    if isinstance(value, bool):
        value = 'true' if value else 'false'
    elif isinstance(value, (list, tuple)):
        value = ', '.join(value)
    section.set(key, '' if value is None else str(value))


# Trac options

class _SettingOption(object):
    """A Trac `Option` made from a setting: TracIni shows its default and
    doc, and reading it as an attribute gives the parsed value, or the
    default when the value is invalid."""

    def __init__(self, setting):
        self.setting = setting
        super(_SettingOption, self).__init__(SECTION, setting.key,
                                             setting.option_default(),
                                             setting.doc)

    def accessor(self, section, name, default):
        return self.setting.value(section, name)


class _BoolOption(_SettingOption, BoolOption):
    pass


class _NumberOption(_SettingOption, IntOption):
    pass


class _TextOption(_SettingOption, Option):
    pass


def option(key):
    """The Trac `Option` descriptor of the fixed key `key`, to declare in
    the Component that reads it."""
    setting = get(key)
    cls = {'bool': _BoolOption, 'number': _NumberOption}.get(setting.kind,
                                                              _TextOption)
    return cls(setting)


def section_doc():
    """The TracIni doc of `[traccron]`: the keys named after tasks,
    scheduler types and listeners (the others are `Option`s)."""
    # Two lines of text first: Trac strips the indent common to the
    # lines after the first, which the list below needs.
    lines = ['The tasks of !TracCron and their schedules. Besides the '
             'options below,',
             'the section holds keys named after the tasks (TASK), '
             'scheduler types (TYPE) and listeners (LISTENER):', '']
    for setting in _PATTERNS:
        default = setting.default_text()
        lines.append(' `%s`%s:: %s' % (
            setting.key, '' if default is None else
            ' (default: %s)' % default, setting.doc))
    return '\n'.join(lines)


# README

def readme_text(width=72):
    """The key list of README.txt's configuration section."""
    out = []
    for group, settings in itertools.groupby(SCHEMA, lambda s: s.group):
        out += [group + ':', '']
        for setting in settings:
            default = setting.default_text()
            if default is None:
                out.append('  ' + setting.key)
            elif setting.shown_default is not None:
                out.append('  %s (default: %s)' % (setting.key, default))
            else:
                out.append('  %s (default %s)' % (setting.key, default))
            out += textwrap.wrap(setting.doc, width, initial_indent=' ' * 6,
                                 subsequent_indent=' ' * 6)
        out.append('')
    return '\n'.join(out)
