# -*- coding: utf-8 -*-
"""Cron expressions: parse once, then walk forward to the next fire instant.

Two syntaxes are understood:

* the Quartz form, 6 or 7 fields
  ``second minute hour day-of-month month day-of-week [year]`` with day of
  week 1-7 = SUN-SAT and the special characters ``? L W LW L-n nL # /``;
* the Unix form, 5 fields ``minute hour day-of-month month day-of-week``
  with day of week 0-7 (0 and 7 are Sunday) and the Vixie rule for the two
  day fields;

plus the macros ``@yearly @annually @monthly @weekly @daily @midnight
@hourly``.

Each field is turned into lookup tables once: ``table[v]`` is the smallest
allowed value that is >= ``v`` (or -1).  Finding the next fire time is then
a walk from the year down to the second, jumping straight to the next
allowed value of each field.  The walk happens in local wall time; daylight
saving time is applied afterwards, with Debian cron's rules as the Python
library cronsim implements them:

* a *wall-clock* schedule (minute and hour fields both name specific
  values, neither starts with ``*``) fires a wall time that does not exist
  once, at the end of the gap, and a wall time that occurs twice once, at
  its first occurrence;
* any other schedule follows the real clock: it fires at every instant
  whose local wall time matches, so in both repeated hours and never inside
  a gap.

Instants are compared in UTC: two aware datetimes in the same zone compare
by wall time and ignore ``fold``.

This module imports nothing from Trac and keeps no global mutable state.
"""

import os
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ['CronExpression', 'CronSyntaxError', 'split_expressions',
           'local_zone']

UTC = timezone.utc

FIRST_YEAR = 1970
LAST_YEAR = 2199

MACROS = {
    '@yearly': '0 0 1 1 *',
    '@annually': '0 0 1 1 *',
    '@monthly': '0 0 1 * *',
    '@weekly': '0 0 * * 0',
    '@daily': '0 0 * * *',
    '@midnight': '0 0 * * *',
    '@hourly': '0 * * * *',
}

MONTH_NAMES = {name: number for number, name in enumerate(
    'JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC'.split(), 1)}
_DAY_NAMES = 'SUN MON TUE WED THU FRI SAT'.split()
QUARTZ_DAY_NAMES = {name: number for number, name in enumerate(_DAY_NAMES, 1)}
UNIX_DAY_NAMES = {name: number for number, name in enumerate(_DAY_NAMES)}

_ONE_SECOND = timedelta(seconds=1)
# Longest stretch after an instant in which a fall-back transition can make
# an earlier wall time come round again.  The largest backward jump in the
# tz database since 1970 is 7 hours (Antarctica/Vostok, 1994), and two
# transitions of one zone are never closer than six days.
_REPLAY_WINDOW = timedelta(hours=12)
# Zones of the tz database that never change their offset.
_FIXED_ZONE_KEYS = frozenset(['UTC', 'UCT', 'GMT', 'GMT0', 'GMT+0', 'GMT-0',
                              'Greenwich', 'Universal', 'Zulu'])


class CronSyntaxError(ValueError):
    """An invalid cron expression.

    ``field`` is the name of the field at fault (``'minute'``,
    ``'day-of-week'``...) or None when the expression as a whole is wrong,
    ``token`` the offending text and ``position`` its 1-based column in the
    expression.
    """

    def __init__(self, message, field=None, token=None, position=None):
        super().__init__(message)
        self.field = field
        self.token = token
        self.position = position


class _Field(object):
    """The fixed properties of one field of an expression."""

    def __init__(self, name, lo, hi, names=None, cycle_hi=None):
        self.name = name
        self.lo = lo
        self.hi = hi
        self.names = names or {}
        # A range such as 22-2 wraps round after this value.
        self.cycle_hi = hi if cycle_hi is None else cycle_hi

    def error(self, problem, token, position):
        return CronSyntaxError('%s field: %s %r at position %d'
                               % (self.name, problem, token, position),
                               self.name, token, position)


SECOND = _Field('second', 0, 59)
MINUTE = _Field('minute', 0, 59)
HOUR = _Field('hour', 0, 23)
DAY_OF_MONTH = _Field('day-of-month', 1, 31)
MONTH = _Field('month', 1, 12, MONTH_NAMES)
QUARTZ_DAY_OF_WEEK = _Field('day-of-week', 1, 7, QUARTZ_DAY_NAMES)
UNIX_DAY_OF_WEEK = _Field('day-of-week', 0, 7, UNIX_DAY_NAMES, cycle_hi=6)
YEAR = _Field('year', FIRST_YEAR, LAST_YEAR)

_DIGITS = re.compile(r'[0-9]+\Z')
_WORDS = re.compile(r'\S+')


# -- parsing -----------------------------------------------------------------

def _number(field, text, item, position):
    """The value of a number or a name of `field`, range-checked."""
    if text in field.names:
        return field.names[text]
    if not _DIGITS.match(text):
        raise field.error('invalid token', item, position)
    value = int(text)
    if not field.lo <= value <= field.hi:
        raise field.error('value %d out of range %d-%d in'
                          % (value, field.lo, field.hi), item, position)
    return value


def _values(field, item, position):
    """The values of one list item: ``*``, ``N``, ``A-B``, with ``/S``."""
    base, slash, step_text = item.upper().partition('/')
    step = 1
    if slash:
        if not _DIGITS.match(step_text):
            raise field.error('invalid step in', item, position)
        step = int(step_text)
        span = field.hi - field.lo + 1
        if not 1 <= step <= span:
            raise field.error('step %d out of range 1-%d in' % (step, span),
                              item, position)
    if base == '*':
        start, end = field.lo, field.hi
    elif '-' in base:
        first, _, last = base.partition('-')
        start = _number(field, first, item, position)
        end = _number(field, last, item, position)
    else:
        start = _number(field, base, item, position)
        end = field.hi if slash else start
    if start <= end:
        sequence = list(range(start, end + 1))
    elif field is YEAR:
        raise field.error('range must not wrap round in', item, position)
    elif start > field.cycle_hi:
        # Unix day of week 7-2: 7 is Sunday, the start of the week.
        sequence = list(range(field.lo, end + 1))
    else:
        sequence = (list(range(start, field.cycle_hi + 1)) +
                    list(range(field.lo, end + 1)))
    return sequence[::step]


def _items(text, position):
    """(item, position) for each comma-separated item of a field."""
    offset = 0
    for item in text.split(','):
        yield item, position + offset
        offset += len(item) + 1


def _set_field(field, text, position):
    """The set of values of a plain field (second ... month, year)."""
    values = set()
    for item, pos in _items(text, position):
        if not item:
            raise field.error('empty list item in', text, position)
        values.update(_values(field, item, pos))
    return frozenset(values)


class _MonthDays(object):
    """Day-of-month terms: plain days, ``L-n``, ``LW``, ``nW``."""

    def __init__(self):
        self.days = set()
        self.from_last = set()      # L-n: n days before the last day
        self.last_weekday = False   # LW
        self.nearest = set()        # nW

    def parse(self, text, position):
        field = DAY_OF_MONTH
        for item, pos in _items(text, position):
            if not item:
                raise field.error('empty list item in', text, position)
            term = item.upper()
            if term == 'L':
                self.from_last.add(0)
            elif term == 'LW':
                self.last_weekday = True
            elif term.startswith('L-'):
                if not _DIGITS.match(term[2:]):
                    raise field.error('invalid token', item, pos)
                offset = int(term[2:])
                if offset > 30:
                    raise field.error('offset %d out of range 0-30 in'
                                      % offset, item, pos)
                self.from_last.add(offset)
            elif term.endswith('W'):
                self.nearest.add(_number(field, term[:-1], item, pos))
            else:
                self.days.update(_values(field, item, pos))
        return self

    def key(self):
        return (frozenset(self.days), frozenset(self.from_last),
                self.last_weekday, frozenset(self.nearest))

    def days_of(self, first_weekday, ndays):
        """The days of a month whose 1st has weekday `first_weekday`."""
        def weekday(day):
            return (first_weekday + day - 1) % 7
        result = set(day for day in self.days if day <= ndays)
        result.update(ndays - n for n in self.from_last if n < ndays)
        if self.last_weekday:
            result.add(ndays - max(0, weekday(ndays) - 4))
        for day in self.nearest:
            if day > ndays:
                continue
            # Never into another month: Saturday the 1st gives Monday the
            # 3rd, Sunday the last day gives the Friday before.
            if weekday(day) == 5:
                day = 3 if day == 1 else day - 1
            elif weekday(day) == 6:
                day = day - 2 if day == ndays else day + 1
            result.add(day)
        return result


class _WeekDays(object):
    """Day-of-week terms: weekdays, ``nL`` and ``n#k`` (Monday = 0)."""

    def __init__(self, field):
        self.field = field
        self.weekdays = set()
        self.last = set()           # nL: the last such weekday of the month
        self.nth = set()            # n#k: the k-th such weekday

    def to_weekday(self, value):
        if self.field is QUARTZ_DAY_OF_WEEK:
            return (value + 5) % 7      # 1 = Sunday
        return (value + 6) % 7          # 0 and 7 = Sunday

    def parse(self, text, position):
        field = self.field
        for item, pos in _items(text, position):
            if not item:
                raise field.error('empty list item in', text, position)
            term = item.upper()
            if term == 'L' and field is QUARTZ_DAY_OF_WEEK:
                self.weekdays.add(self.to_weekday(7))
            elif term.endswith('L') and len(term) > 1:
                value = _number(field, term[:-1], item, pos)
                self.last.add(self.to_weekday(value))
            elif '#' in term:
                day, _, nth = term.partition('#')
                value = _number(field, day, item, pos)
                if not _DIGITS.match(nth):
                    raise field.error('invalid token', item, pos)
                if not 1 <= int(nth) <= 5:
                    raise field.error('occurrence %s out of range 1-5 in'
                                      % nth, item, pos)
                self.nth.add((self.to_weekday(value), int(nth)))
            else:
                self.weekdays.update(self.to_weekday(value)
                                     for value in _values(field, item, pos))
        return self

    def key(self):
        return (frozenset(self.weekdays), frozenset(self.last),
                frozenset(self.nth))

    def days_of(self, first_weekday, ndays):
        """The days of a month whose 1st has weekday `first_weekday`."""
        result = set()
        for weekday in self.weekdays:
            result.update(range(1 + (weekday - first_weekday) % 7,
                                ndays + 1, 7))
        last_weekday = (first_weekday + ndays - 1) % 7
        result.update(ndays - (last_weekday - weekday) % 7
                      for weekday in self.last)
        for weekday, nth in self.nth:
            day = 1 + (weekday - first_weekday) % 7 + 7 * (nth - 1)
            if day <= ndays:
                result.add(day)
        return result


#: The lookup tables made so far, each kept once: 10,000 schedules have
#: only a few hundred different ones, so expressions share them.
_TABLES = {}
#: Beyond this many tables, new ones are no longer kept for sharing.
TABLES_KEPT = 100000


#: The day tables of each set of day terms (`CronExpression`), made once:
#: 10,000 schedules have only a few different ones.
_DAY_TABLES = {}


def clear_tables():
    """Forget the tables kept for sharing (a benchmark hook: the next
    expressions are parsed cold)."""
    _TABLES.clear()
    _DAY_TABLES.clear()


def _shared(table):
    """`table` (a tuple), or the equal one made before."""
    kept = _TABLES.get(table)
    if kept is not None:
        return kept
    if len(_TABLES) < TABLES_KEPT:
        _TABLES[table] = table
    return table


def _next_table(allowed, size):
    """``table[v]``: the smallest allowed value >= v, or -1 if none."""
    table = [-1] * size
    following = -1
    for value in range(size - 1, -1, -1):
        if value in allowed:
            following = value
        table[value] = following
    return _shared(tuple(table))


def _month_length(year, month):
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _possible_lengths(month):
    if month == 2:
        return (28, 29)
    return (30,) if month in (4, 6, 9, 11) else (31,)


# -- time zones --------------------------------------------------------------

def local_zone():
    """The server's local time zone as a DST-aware tzinfo.

    Read from the ``TZ`` environment variable, then ``/etc/localtime`` and
    ``/etc/timezone``; UTC if none of them names a known zone.
    """
    name = os.environ.get('TZ', '').lstrip(':')
    if name:
        try:
            if name.startswith('/'):
                with open(name, 'rb') as f:
                    return ZoneInfo.from_file(f, key=name)
            return ZoneInfo(name)
        except (OSError, ValueError):
            pass
    try:
        target = os.path.realpath('/etc/localtime')
        if 'zoneinfo/' in target:
            return ZoneInfo(target.split('zoneinfo/', 1)[1])
    except (OSError, ValueError):
        pass
    try:
        with open('/etc/localtime', 'rb') as f:
            return ZoneInfo.from_file(f, key='localtime')
    except (OSError, ValueError):
        pass
    try:
        with open('/etc/timezone') as f:
            return ZoneInfo(f.read().strip())
    except (OSError, ValueError):
        pass
    return UTC


def _is_fixed_zone(tz):
    if isinstance(tz, timezone):
        return True
    key = getattr(tz, 'key', None)
    return isinstance(tz, ZoneInfo) and bool(key) and (
        key in _FIXED_ZONE_KEYS or key.startswith('Etc/'))


def _offset_at(tz, instant):
    """The UTC offset of `tz` at `instant` (a naive UTC datetime)."""
    return instant.replace(tzinfo=UTC).astimezone(tz).utcoffset()


def _transition(tz, before, after):
    """The first instant in (before, after] with the offset `after` has.

    `before` and `after` are naive UTC datetimes with different offsets
    and at most one transition between them.
    """
    epoch = datetime(1970, 1, 1)
    lo = (before - epoch) // _ONE_SECOND
    hi = -((epoch - after) // _ONE_SECOND)
    target = _offset_at(tz, after)
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == target:
            hi = middle
        else:
            lo = middle
    return epoch + timedelta(seconds=hi)


# -- expressions -------------------------------------------------------------

class CronExpression(object):
    """A parsed cron expression bound to a time zone.

    >>> expr = CronExpression('0 15 10 ? * 6L', ZoneInfo('Europe/Paris'))
    >>> str(expr.next_after(datetime(2025, 1, 1, tzinfo=UTC)))
    '2025-01-31 10:15:00+01:00'
    """

    __slots__ = ('tz', '_fixed_zone', 'text', '_tables_by_month',
                 'is_wall_clock', '_month_days', '_week_days', '_day_rule',
                 '_seconds', '_minutes', '_hours', '_months', '_years',
                 '_day_tables', '_can_fire')

    def __init__(self, text, tz=None):
        self.tz = local_zone() if tz is None else tz
        self._fixed_zone = _is_fixed_zone(self.tz)
        self.text = self._parse(text)
        self._tables_by_month = {}

    def __str__(self):
        return self.text

    def __repr__(self):
        return '<CronExpression %r %s>' % (self.text, self.tz)

    def __eq__(self, other):
        return (isinstance(other, CronExpression) and
                self.text == other.text and self.tz == other.tz)

    def __hash__(self):
        return hash((self.text, self.tz))

    # parsing

    def _parse(self, text):
        """Parse `text`, set up the lookup tables, return the normal form."""
        if not isinstance(text, str):
            raise TypeError('cron expression must be a string')
        words = [(m.group(), m.start() + 1) for m in _WORDS.finditer(text)]
        if not words:
            raise CronSyntaxError('empty cron expression', None, text, 1)
        if words[0][0].startswith('@'):
            macro, position = words[0]
            if macro.lower() not in MACROS:
                raise CronSyntaxError('unknown macro %r at position %d'
                                      % (macro, position),
                                      None, macro, position)
            if len(words) > 1:
                extra, position = words[1]
                raise CronSyntaxError('unexpected %r after macro at '
                                      'position %d' % (extra, position),
                                      None, extra, position)
            self._parse_fields([(word, 0) for word in
                                MACROS[macro.lower()].split()])
            return macro.lower()
        if len(words) > 7:
            extra, position = words[7]
            raise CronSyntaxError('unexpected 8th field %r at position %d; '
                                  'a cron expression has 5, 6 or 7 fields'
                                  % (extra, position), None, extra, position)
        if len(words) < 5:
            raise CronSyntaxError('%d fields in %r; a cron expression has '
                                  '5, 6 or 7 fields'
                                  % (len(words), text.strip()),
                                  None, text.strip(), words[0][1])
        self._parse_fields(words)
        return ' '.join(word.upper() for word, _ in words)

    def _parse_fields(self, words):
        quartz = len(words) > 5
        if quartz:
            second, minute, hour, dom, month, dow = words[:6]
            year = words[6] if len(words) == 7 else None
            day_of_week = QUARTZ_DAY_OF_WEEK
            if second[0] in ('*', '?'):
                # The original ignored seconds; keep such schedules at :00.
                seconds = frozenset([0])
            else:
                seconds = _set_field(SECOND, *second)
        else:
            minute, hour, dom, month, dow = words
            year = None
            day_of_week = UNIX_DAY_OF_WEEK
            seconds = frozenset([0])
        for field, (word, position) in ((MINUTE, minute), (HOUR, hour),
                                        (MONTH, month)):
            if word == '?':
                raise field.error("'?' is only allowed in the day fields in",
                                  word, position)
        minutes = _set_field(MINUTE, *minute)
        hours = _set_field(HOUR, *hour)
        months = _set_field(MONTH, *month)
        years = None
        if year is not None and year[0] != '*':
            if year[0] == '?':
                raise YEAR.error("'?' is only allowed in the day fields in",
                                 *year)
            years = _set_field(YEAR, *year)

        self.is_wall_clock = not (minute[0].startswith('*') or
                                  hour[0].startswith('*'))
        self._month_days = _MonthDays()
        self._week_days = _WeekDays(day_of_week)
        if dom[0] != '?':
            self._month_days.parse(*dom)
        if dow[0] != '?':
            self._week_days.parse(*dow)
        self._day_rule = self._day_rule_of(quartz, dom, dow)

        self._seconds = _next_table(seconds, 61)
        self._minutes = _next_table(minutes, 61)
        self._hours = _next_table(hours, 25)
        self._months = _next_table(months, 14)
        self._years = None
        if years is not None:
            self._years = _next_table(set(y - FIRST_YEAR for y in years),
                                      LAST_YEAR - FIRST_YEAR + 2)
        # Day tables depend only on the month's length and first weekday:
        # the one of (first weekday w, n days) is at 4 * w + n - 28.
        self._day_tables = self._day_tables_of()
        self._can_fire = any(
            self._day_tables[4 * first_weekday + ndays - 28][1] > 0
            for m in months for ndays in _possible_lengths(m)
            for first_weekday in range(7))
        # The day terms are in the tables now.
        self._month_days = self._week_days = None

    def _day_tables_of(self):
        """The day tables of the day terms, made once for each set."""
        rule = self._day_rule
        key = (rule,) if rule == 'all' else (
            rule, self._month_days.key(), self._week_days.key())
        tables = _DAY_TABLES.get(key)
        if tables is None:
            tables = _shared(tuple(
                _next_table(self._days_of(first_weekday, ndays), 33)
                for first_weekday in range(7)
                for ndays in (28, 29, 30, 31)))
            if len(_DAY_TABLES) < TABLES_KEPT:
                _DAY_TABLES[key] = tables
        return tables

    @staticmethod
    def _day_rule_of(quartz, dom, dow):
        """How the two day fields combine: all, dom, dow, and, or."""
        (dom_text, dom_position), (dow_text, dow_position) = dom, dow
        if quartz:
            if dom_text == '?' and dow_text == '?':
                raise QUARTZ_DAY_OF_WEEK.error(
                    "'?' may be used in only one day field, not both:",
                    dow_text, dow_position)
            dom_free = dom_text in ('*', '?')
            dow_free = dow_text in ('*', '?')
            if not dom_free and not dow_free:
                raise QUARTZ_DAY_OF_WEEK.error(
                    "day-of-month and day-of-week are both restricted; one "
                    "of them must be '?' (day-of-week)", dow_text,
                    dow_position)
            if dom_free and dow_free:
                return 'all'
            return 'dow' if dom_free else 'dom'
        # Vixie cron: a day field starting with '*' leaves the other in
        # charge (AND); two restricted day fields are OR-ed.
        dom_star = dom_text.startswith('*') or dom_text == '?'
        dow_star = dow_text.startswith('*') or dow_text == '?'
        if dom_text == '?' and dow_text == '?':
            return 'all'
        if dom_text == '?':
            return 'dow'
        if dow_text == '?':
            return 'dom'
        return 'and' if dom_star or dow_star else 'or'

    def _days_of(self, first_weekday, ndays):
        rule = self._day_rule
        if rule == 'all':
            return set(range(1, ndays + 1))
        if rule == 'dom':
            return self._month_days.days_of(first_weekday, ndays)
        if rule == 'dow':
            return self._week_days.days_of(first_weekday, ndays)
        by_date = self._month_days.days_of(first_weekday, ndays)
        by_weekday = self._week_days.days_of(first_weekday, ndays)
        if rule == 'and':
            return by_date & by_weekday
        return by_date | by_weekday

    # matching

    def _day_table(self, year, month):
        key = year * 16 + month
        table = self._tables_by_month.get(key)
        if table is None:
            first_weekday = date(year, month, 1).weekday()
            table = self._day_tables[4 * first_weekday +
                                     _month_length(year, month) - 28]
            self._tables_by_month[key] = table
        return table

    def matches(self, dt):
        """True if the local wall time of `dt` (to the second) matches.

        A naive `dt` is taken as a wall time in the expression's zone.
        The daylight saving rules are not applied.
        """
        if dt.tzinfo is not None:
            dt = dt.astimezone(self.tz)
        if self._years is not None and not (
                FIRST_YEAR <= dt.year <= LAST_YEAR and
                self._years[dt.year - FIRST_YEAR] == dt.year - FIRST_YEAR):
            return False
        return (self._months[dt.month] == dt.month and
                self._day_table(dt.year, dt.month)[dt.day] == dt.day and
                self._hours[dt.hour] == dt.hour and
                self._minutes[dt.minute] == dt.minute and
                self._seconds[dt.second] == dt.second)

    def _first_wall(self, year, month, day, hour, minute, second):
        """The first matching wall time at or after the given fields.

        Fields may overflow by one (second 60, day 32, ...).  Returns a
        naive datetime, or None if there is none before 2200.
        """
        if not self._can_fire:
            return None
        years, months = self._years, self._months
        hours, minutes, seconds = self._hours, self._minutes, self._seconds
        while True:
            if year > LAST_YEAR:
                return None
            if years is not None:
                if year < FIRST_YEAR:
                    year, month, day, hour, minute, second = \
                        FIRST_YEAR, 1, 1, 0, 0, 0
                found = years[year - FIRST_YEAR]
                if found < 0:
                    return None
                if found + FIRST_YEAR != year:
                    year, month, day, hour, minute, second = \
                        found + FIRST_YEAR, 1, 1, 0, 0, 0
            found = months[month]
            if found < 0:
                year, month, day, hour, minute, second = \
                    year + 1, 1, 1, 0, 0, 0
                continue
            if found != month:
                month, day, hour, minute, second = found, 1, 0, 0, 0
            found = self._day_table(year, month)[day]
            if found < 0:
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if found != day:
                day, hour, minute, second = found, 0, 0, 0
            found = hours[hour]
            if found < 0:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if found != hour:
                hour, minute, second = found, 0, 0
            found = minutes[minute]
            if found < 0:
                hour, minute, second = hour + 1, 0, 0
                continue
            if found != minute:
                minute, second = found, 0
            found = seconds[second]
            if found < 0:
                minute, second = minute + 1, 0
                continue
            return datetime(year, month, day, hour, minute, found)

    def _wall_after(self, wall):
        """The first matching wall time strictly after naive `wall`."""
        return self._first_wall(wall.year, wall.month, wall.day, wall.hour,
                                wall.minute, wall.second + 1)

    # next fire instant

    def next_after(self, dt):
        """The first fire instant strictly after aware datetime `dt`.

        Returns an aware datetime in the expression's zone, or None if the
        expression does not fire again before the year 2200.
        """
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError('next_after() needs an aware datetime, got %r'
                             % (dt,))
        if dt.year > LAST_YEAR + 1:
            return None
        tz = self.tz
        local = dt.astimezone(tz)
        if self._fixed_zone:
            wall = self._wall_after(local)
            return None if wall is None else wall.replace(tzinfo=tz)
        offset = local.utcoffset()
        wall = local.replace(tzinfo=None)
        instant = wall - offset
        if self.is_wall_clock:
            return self._next_by_wall_clock(wall, instant)
        return self._next_by_real_clock(wall, offset, instant)

    def _next_by_wall_clock(self, wall, instant):
        """Next fire of a wall-clock schedule after UTC `instant`."""
        tz = self.tz
        while True:
            wall = self._wall_after(wall)
            if wall is None:
                return None
            aware = wall.replace(tzinfo=tz)
            before = aware.utcoffset()
            after = aware.replace(fold=1).utcoffset()
            if before == after:
                return aware
            first = wall - before
            second = wall - after
            if first < second:
                # Repeated wall time: only its first occurrence fires.
                if first > instant:
                    return aware
                # All of the repeated stretch has had its first occurrence.
                change = _transition(tz, first, second)
                wall = change + before - _ONE_SECOND
                continue
            # Wall time in a gap: fire once when the gap ends.
            change = _transition(tz, second, first)
            return change.replace(tzinfo=UTC).astimezone(tz)

    def _next_by_real_clock(self, wall, offset, instant):
        """Next instant after UTC `instant` whose wall time matches.

        `wall` and `offset` are the wall time and UTC offset at `instant`.
        """
        found = self._next_real_in_wall_order(wall, instant)
        # A fall-back transition shortly after `instant` replays wall times
        # up to `wall`: one of them may come before `found`.
        probe = instant + _REPLAY_WINDOW
        if found is not None and found[0] <= probe:
            # Transitions are days apart: at most one in the window, so
            # the same offset means none.
            probe, probe_offset = found[0], found[2]
        else:
            probe_offset = _offset_at(self.tz, probe)
        if probe_offset < offset:
            replayed = self._replayed_fire(wall, offset, instant, probe,
                                           probe_offset)
            if replayed is not None and (found is None or
                                         replayed[0] < found[0]):
                found = replayed
        return None if found is None else found[1]

    def _next_real_in_wall_order(self, wall, instant):
        """The first matching wall time after `wall` that really occurs
        after UTC `instant`: (instant, aware datetime, offset) or None."""
        tz = self.tz
        while True:
            wall = self._wall_after(wall)
            if wall is None:
                return None
            aware = wall.replace(tzinfo=tz)
            before = aware.utcoffset()
            after = aware.replace(fold=1).utcoffset()
            first = wall - before
            second = wall - after
            if first > second:
                # Wall time in a gap: go on from the end of the gap.
                change = _transition(tz, second, first)
                wall = change + after - _ONE_SECOND
            elif first > instant:
                return first, aware, before
            elif second > instant:
                # The second occurrence of a repeated wall time.
                return second, aware.replace(fold=1), after

    def _replayed_fire(self, wall, offset, instant, probe, probe_offset):
        """The first wall time not after `wall` that the fall-back between
        `instant` and `probe` replays: (instant, aware, offset) or None."""
        change = _transition(self.tz, instant, probe)
        replayed = self._first_wall(
            *(change + probe_offset).timetuple()[:6])
        if replayed is None or replayed > wall or \
                replayed >= change + offset:
            return None
        return (replayed - probe_offset,
                replayed.replace(tzinfo=self.tz, fold=1), probe_offset)


def split_expressions(value):
    """Split a schedule value into its cron expressions.

    The value is split on ``;`` if it has one; otherwise on ``,`` only when
    every piece is a complete expression (5 or more fields, or a macro);
    otherwise it is a single expression.  Empty pieces are dropped.
    """
    value = (value or '').strip()
    if not value:
        return []
    if ';' in value:
        return [piece.strip() for piece in value.split(';') if piece.strip()]
    pieces = [piece.strip() for piece in value.split(',')]
    if len(pieces) > 1 and all(_is_complete(piece) for piece in pieces):
        return pieces
    return [value]


def _is_complete(piece):
    words = piece.split()
    if len(words) == 1:
        return words[0].startswith('@')
    return len(words) >= 5
