# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The forms of the Settings and Listeners panels: a field per trac.ini
key, checked all together before any is written."""

from trac.util.html import tag
from trac.web.chrome import add_notice, add_warning

from traccron import settings
from traccron.settings import ConfigError, whole_number
from traccron.core import Core
from traccron.ticker import wake_ticker
from traccron.web.common import CATEGORY, _, tag_


def value_problems(key, kind, value):
    """The reasons why `value` is refused for `key`, a field of `kind`
    (`bool`, `int` or `text`): the settings schema's rule for the key,
    with its message translated. The fields of the forms are never left
    empty."""
    if kind != 'int':
        return []
    try:
        settings.parse(key, value, required=True)
    except ConfigError:
        setting = settings.lookup(key)
        number = whole_number(value)
        if number is not None and number > setting.maximum:
            return [_("expected a whole number <= %(max)d",
                      max=setting.maximum)]
        return [_("expected a whole number >= %(min)d",
                  min=setting.minimum)]
    return []


class Field(object):
    """One input of a form: the trac.ini key it edits, its kind (`bool`,
    `int` or `text`), the value in trac.ini, how to write a new value and
    how else to check one. `group` is the task or listener it belongs
    to."""

    def __init__(self, key, kind, current, write, check=None, group=None):
        self.key = key
        self.group = group
        self.kind = kind
        self.current = current
        self.write = write
        self.check = check

    def posted(self, req):
        """The value the user submitted for this field."""
        if self.kind == 'bool':
            return bool(req.args.get(self.key))
        value = req.args.get(self.key, '')
        if isinstance(value, list):
            value = value[-1]
        return value.strip()

    def problems(self, value):
        """`(key, value, reason)` for each problem of `value`."""
        reasons = value_problems(self.key, self.kind, value)
        if not reasons and self.check is not None:
            reasons = self.check(value)
        return [(self.key, value, reason) for reason in reasons]


def setter(write, *args):
    """`write` with its first arguments given: a field's `write`."""
    return lambda value: write(*(args + (value,)))


def raw(section, key, default):
    """The text of `key` in trac.ini, or `default`."""
    value = section.get(key)
    return default if value is None else value.strip()


def save(component, req, fields, page, group_arg):
    """Check every posted value, then write the changed ones, or none at
    all. Redirects to `page` after saving; returns the values to show and
    the keys in error otherwise.

    The fields of a task or listener count only if the form showed it
    (`group_arg` lists them): one that appeared since is left as it is,
    not switched off for lack of a checked box."""
    shown = set(req.args.getlist(group_arg))
    values = dict((f.key, f.current) for f in fields)
    fields = [f for f in fields if f.group is None or f.group in shown]
    posted = dict((f.key, f.posted(req)) for f in fields)
    values.update(posted)
    problems = [p for f in fields for p in f.problems(posted[f.key])]
    if problems:
        for key, value, reason in problems:
            add_warning(req, tag_("Invalid value for %(field)s: "
                                  "%(value)s (%(reason)s)",
                                  field=tag.code(key),
                                  value=tag.code(value or '""'),
                                  reason=reason))
        add_warning(req, _("Nothing was saved."))
        return values, set(p[0] for p in problems)
    # A box shown for an invalid value in trac.ini (shown as its default)
    # is written even when left as it is.
    invalid = set(p.key for p in Core(component.env).check())
    changed = [f for f in fields
               if posted[f.key] != f.current or f.key in invalid]
    if not changed:
        add_notice(req, _("No changes to save."))
    else:
        for field in changed:
            field.write(posted[field.key])
        try:
            component.config.save()
        except EnvironmentError as e:
            component.log.error('TracCron could not write trac.ini: %s', e)
            add_warning(req, _("Error writing to trac.ini, make sure it is "
                               "writable by the web server. Your changes "
                               "have not been saved."))
            return values, set()
        wake_ticker(component.env)
        add_notice(req, _("Your changes have been saved."))
    req.redirect(req.href.admin(CATEGORY, page))
