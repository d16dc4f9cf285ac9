# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `ticket_deadline` task: warns about open tickets whose deadline (a
custom date field) is near or past.

The owner, the reporter and the Cc list of the ticket get one mail, once
per deadline: the table `cron_ticket_deadline` remembers, for each ticket,
the deadline it was last warned about (and when). A ticket whose deadline
changes is warned about again; a ticket already warned about its current
deadline is not, even while overdue. A warning is remembered only when its
mail went out to every recipient that has an address, so a failed mail is
tried again on the next run.

The field may be a text custom field holding dates in `date_format`, or a
custom field of type `time`.
"""

import re
import time
from datetime import datetime

from trac.core import Component, implements
from trac.db.api import DatabaseManager
from trac.db.schema import Column, Table
from trac.env import IEnvironmentSetupParticipant
from trac.ticket.api import TicketSystem
from trac.ticket.model import Ticket
from trac.util.datefmt import from_utimestamp

from traccron.api import ICronTask
from traccron import settings
from traccron.config import ConfigError, CronConfig, whole_number
from traccron.core import Core
from traccron.notification import (CronMailEvent, CronMailer, Delivery,
                                   ticket_data)
from traccron.tasks import stopped_early, time_is_up
from traccron.times import from_us, now_us, to_us

VERSION_NAME = 'traccron_deadline_version'
SCHEMA_VERSION = 1

SCHEMA = [
    Table('cron_ticket_deadline', key='ticket')[
        Column('ticket', type='int'),
        Column('deadline'),              # the date warned about, YYYY-MM-DD
        Column('warned', type='int64'),  # when, µs since the epoch
    ],
]


class TicketDeadlineSetup(Component):
    """Creates the `cron_ticket_deadline` table, in which `ticket_deadline`
    remembers the deadlines it warned about."""

    implements(IEnvironmentSetupParticipant)

    def environment_created(self):
        self.upgrade_environment()

    def environment_needs_upgrade(self):
        return DatabaseManager(self.env).needs_upgrade(SCHEMA_VERSION,
                                                       VERSION_NAME)

    def upgrade_environment(self):
        dbm = DatabaseManager(self.env)
        if not dbm.get_database_version(VERSION_NAME):
            # EnvironmentStub.reset_db keeps the table, drops the version.
            if 'cron_ticket_deadline' not in dbm.get_table_names():
                dbm.create_tables(SCHEMA)
            dbm.set_database_version(SCHEMA_VERSION, VERSION_NAME)


class TicketDeadlineTask(Component):
    """Warns the owner, the reporter and the Cc list of open tickets whose
    deadline, a custom date field, is within some days, once per
    deadline. Arguments (each optional, in this order): the field, the
    date format, the number of days before the deadline."""

    implements(ICronTask)

    date_field = settings.option('ticket_deadline.date_field')
    date_format = settings.option('ticket_deadline.date_format')
    days_before = settings.option('ticket_deadline.days_before')

    clock = time  # replaced by tests

    def wake_up(self, *args):
        field, fmt, days = self.settings(args)
        now = from_us(now_us(self.clock))
        tz = Core(self.env).timezone()
        today = now.astimezone(tz).date()
        self.forget_deleted_tickets()
        due, unreadable = self.find_due_tickets(field, fmt, today, days, tz)
        delivery = Delivery()
        mailer = CronMailer(self.env)
        warned = 0
        stopped = None
        for done, (id, deadline) in enumerate(due):
            if time_is_up():
                stopped = stopped_early(done, len(due))
                break
            ticket = Ticket(self.env, id)
            event = CronMailEvent('ticket_deadline', {
                'ticket': ticket_data(self.env, id, ticket['summary'],
                                      ticket['status'], ticket['owner'],
                                      ticket['reporter'],
                                      milestone=ticket['milestone'] or ''),
                'deadline': deadline.strftime(fmt),
                'days_left': (deadline - today).days,
                'field': field,
            }, target='ticket_deadline:%s:%s' % (id, deadline.isoformat()),
                time=now)
            failed = len(delivery.failed)
            mailer.send(event, _recipients(ticket), delivery)
            if delivery.disabled:
                break
            if len(delivery.failed) == failed:
                self.remember(id, deadline, now)
                warned += 1
        notes = ['%d ticket(s) warned about their %s' % (warned, field)]
        notes.extend('ticket #%s: cannot read %s = %r as %s'
                     % (id, field, value, fmt) for id, value in unreadable)
        if stopped:
            notes.append(stopped)
        delivery.record('\n'.join(notes))

    def settings(self, args):
        """`(field, date format, days before)` from the arguments, or the
        options where an argument is missing. An invalid option gives its
        default (`cron check` reports it); an invalid argument fails."""
        args = [a.strip() for a in args] + [''] * 3
        field = args[0] or self.date_field.strip()
        fmt = args[1] or self.date_format
        if args[2]:
            days = whole_number(args[2])
            if days is None:
                raise ValueError('argument days_before = %r: expected a '
                                 'whole number of days' % args[2])
        else:
            try:
                days = CronConfig(self.env).get_number(
                    'ticket_deadline.days_before')
            except ConfigError as e:
                self.log.warning('ticket_deadline: %s; %d used', e,
                                 e.default)
                days = e.default
        if not field:
            raise ValueError('ticket_deadline.date_field is empty')
        return field, fmt, days

    def find_due_tickets(self, field, fmt, today, days, tz):
        """Return `(due, unreadable)`: `(ticket id, deadline date)` of the
        open tickets due within `days` of `today` (or overdue) that were
        not yet warned about that deadline, and `(ticket id, raw value)`
        of those whose deadline cannot be read."""
        is_time = any(f['name'] == field and f['type'] == 'time'
                      for f in TicketSystem(self.env).custom_fields)
        due, unreadable = [], []
        for id, value, warned in self.env.db_query("""
                SELECT t.id, c.value, w.deadline
                FROM ticket AS t
                 INNER JOIN ticket_custom AS c
                  ON c.ticket = t.id AND c.name = %s
                 LEFT OUTER JOIN cron_ticket_deadline AS w
                  ON w.ticket = t.id
                WHERE t.status != 'closed' AND c.value IS NOT NULL
                  AND c.value != ''
                ORDER BY t.id
                """, (field,)):
            deadline = _parse(value, fmt, is_time, tz)
            if deadline is None:
                unreadable.append((id, value))
            elif (deadline - today).days <= days and \
                    warned != deadline.isoformat():
                due.append((id, deadline))
        return due, unreadable

    def forget_deleted_tickets(self):
        with self.env.db_transaction as db:
            db("""DELETE FROM cron_ticket_deadline
                  WHERE ticket NOT IN (SELECT id FROM ticket)""")

    def remember(self, id, deadline, now):
        with self.env.db_transaction as db:
            db("DELETE FROM cron_ticket_deadline WHERE ticket=%s", (id,))
            db("""INSERT INTO cron_ticket_deadline (ticket, deadline, warned)
                  VALUES (%s, %s, %s)""", (id, deadline.isoformat(),
                                           to_us(now)))

    def getId(self):
        return 'ticket_deadline'

    def getDescription(self):
        return self.__doc__


def _parse(value, fmt, is_time, tz):
    """The date of a deadline field value, or `None`."""
    value = value.strip()
    try:
        if is_time:
            return from_utimestamp(int(value)).astimezone(tz).date()
        return datetime.strptime(value, fmt).date()
    except (ValueError, OverflowError):
        return None


def _recipients(ticket):
    """The owner, the reporter and the Cc list of `ticket`, each once."""
    names = [ticket['owner'], ticket['reporter']]
    names += re.split(r'[;,\s]+', ticket['cc'] or '')
    seen, result = set(), []
    for name in names:
        name = (name or '').strip()
        if name and name not in seen:
            seen.add(name)
            result.append(name)
    return result
