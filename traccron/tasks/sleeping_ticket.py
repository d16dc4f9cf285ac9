# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `sleeping_ticket` task: reminds people of tickets nobody works on.

- A *sleeping* ticket is an open ticket with an owner that has had no
  change for more than N days: its owner is reminded.
- An *orphaned* ticket is a ticket still `new`, with no owner, that has
  had no change for more than N days: its reporter is reminded.

Each person gets one mail listing all their tickets.
"""

import time
from datetime import timedelta

from trac.core import Component, implements

from traccron.api import ICronTask
from traccron.config import whole_number
from traccron.core import Core
from traccron.notification import (CronMailEvent, CronMailer, Delivery,
                                   ticket_data)
from traccron.present import day
from traccron.tasks import stopped_early, time_is_up
from traccron.times import from_us, now_us, to_us

DEFAULT_DAYS = 3
#: More days than this would take dates out of the calendar (about 270
#: years).
MAX_DAYS = 100000


def parse_days(args, default, name='days'):
    """The first argument as a whole number of days (0 to `MAX_DAYS`)."""
    if not args or not str(args[0]).strip():
        return default
    days = whole_number(str(args[0]))
    if days is None or days > MAX_DAYS:
        raise ValueError('argument %s = %r: expected a whole number of days'
                         % (name, args[0]))
    return days


class SleepingTicketTask(Component):
    """Reminds owners of their tickets that have had no change for some
    days (sleeping), and reporters of their new tickets that nobody took
    (orphaned). Argument: the number of days (default 3)."""

    implements(ICronTask)

    clock = time  # replaced by tests

    def wake_up(self, *args):
        days = parse_days(args, DEFAULT_DAYS)
        now = from_us(now_us(self.clock))
        tz = Core(self.env).timezone()
        sleeping, orphaned = self.find_tickets(to_us(now - timedelta(days)),
                                               tz)
        people = {}
        for owner, ticket in sleeping:
            people.setdefault(owner, ([], []))[0].append(ticket)
        for reporter, ticket in orphaned:
            people.setdefault(reporter, ([], []))[1].append(ticket)
        delivery = Delivery()
        mailer = CronMailer(self.env)
        total = len(sleeping) + len(orphaned)
        done, stopped = 0, None
        for name in sorted(people):
            if time_is_up():
                stopped = stopped_early(done, total)
                break
            mine, reported = people[name]
            event = CronMailEvent('sleeping_ticket', {
                'name': name, 'days': days,
                'sleeping': mine, 'orphaned': reported,
            }, target='sleeping_ticket:%s' % name, time=now)
            mailer.send(event, [name], delivery)
            done += len(mine) + len(reported)
        delivery.record('\n'.join(filter(None, [
            '%d sleeping and %d orphaned ticket(s)'
            % (len(sleeping), len(orphaned)), stopped])))

    def find_tickets(self, before, tz):
        """Return `(sleeping, orphaned)`: lists of `(person, ticket data)`
        for the tickets unchanged since `before` (µs)."""
        sleeping, orphaned = [], []
        for (id, summary, status, owner, reporter, created,
             changed) in self.env.db_query("""
                SELECT id, summary, status, owner, reporter, time,
                       changetime
                FROM ticket
                WHERE status != 'closed' AND changetime < %s
                ORDER BY id
                """, (before,)):
            owner = (owner or '').strip()
            ticket = ticket_data(self.env, id, summary, status, owner,
                                 reporter, created=day(created, tz),
                                 changed=day(changed, tz))
            if owner:
                sleeping.append((owner, ticket))
            elif status == 'new' and (reporter or '').strip():
                orphaned.append((reporter.strip(), ticket))
        return sleeping, orphaned

    def getId(self):
        return 'sleeping_ticket'

    def getDescription(self):
        return self.__doc__
