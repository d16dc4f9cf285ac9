# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `unreachable_milestone` task: warns that open milestones due in
the next N days still have open tickets.

For each such milestone, the release managers
(`[traccron] unreachable_milestone.recipient`) get one mail listing its
open tickets; each owner and each reporter of those tickets gets one mail
listing all of their own (grouped by milestone). Completed milestones,
milestones already past due and closed tickets are left out.
"""

import time
from datetime import timedelta

from trac.core import Component, implements

from traccron.api import ICronTask
from traccron.config import CronConfig
from traccron.core import Core
from traccron.notification import (CronMailEvent, CronMailer, Delivery,
                                   ticket_data)
from traccron.present import day
from traccron.tasks import stopped_early, time_is_up
from traccron.tasks.sleeping_ticket import parse_days
from traccron.times import from_us, now_us, to_us

DEFAULT_DAYS = 3


class UnreachableMilestoneTask(Component):
    """Warns the release managers (`unreachable_milestone.recipient`), and
    the owners and reporters of the tickets, about tickets still open in
    milestones due within some days. Argument: the number of days ahead
    (default 3)."""

    implements(ICronTask)

    clock = time  # replaced by tests

    def wake_up(self, *args):
        days = parse_days(args, DEFAULT_DAYS)
        now = from_us(now_us(self.clock))
        tz = Core(self.env).timezone()
        milestones = self.find_milestones(to_us(now),
                                          to_us(now + timedelta(days)), tz)
        managers = CronConfig(self.env) \
            .get_unreachable_milestone_task_recipient_list()
        delivery = Delivery()
        mailer = CronMailer(self.env)
        people = {}
        for milestone in milestones:
            for person, tickets in _tickets_by_person(milestone['tickets']):
                mine = dict(milestone, tickets=tickets)
                people.setdefault(person, []).append(mine)
        mails = [('unreachable_milestone', {
            'milestone': milestone, 'days': days,
        }, milestone['name'], managers) for milestone in milestones
            if managers]
        mails += [('unreachable_milestone_user', {
            'name': person, 'days': days, 'milestones': people[person],
        }, person, [person]) for person in sorted(people)]
        stopped = None
        for done, (kind, data, name, recipients) in enumerate(mails):
            if time_is_up():
                stopped = stopped_early(done, len(mails), 'mails')
                break
            event = CronMailEvent(kind, data,
                                  target='unreachable_milestone:%s' % name,
                                  time=now)
            mailer.send(event, recipients, delivery)
        delivery.record('\n'.join(filter(None, [
            '%d milestone(s) due within %d day(s) with open tickets'
            % (len(milestones), days), stopped])))

    def find_milestones(self, start, end, tz):
        """The open milestones due between `start` and `end` (µs) that
        have open tickets, each with its open tickets."""
        milestones = []
        for name, due in self.env.db_query("""
                SELECT name, due FROM milestone
                WHERE (completed IS NULL OR completed = 0)
                  AND due >= %s AND due <= %s
                ORDER BY due, name
                """, (start, end)):
            tickets = [ticket_data(self.env, *row)
                       for row in self.env.db_query("""
                        SELECT id, summary, status, owner, reporter
                        FROM ticket
                        WHERE milestone = %s AND status != 'closed'
                        ORDER BY id
                        """, (name,))]
            if tickets:
                milestones.append({
                    'name': name, 'due': day(due, tz),
                    'url': self.env.abs_href.milestone(name),
                    'tickets': tickets,
                })
        return milestones

    def getId(self):
        return 'unreachable_milestone'

    def getDescription(self):
        return self.__doc__


def _tickets_by_person(tickets):
    """`(person, tickets)` for each owner and reporter of `tickets`, with
    every ticket they own or reported, in order."""
    people = {}
    for ticket in tickets:
        for person in {ticket['owner'].strip(), ticket['reporter'].strip()}:
            if person:
                people.setdefault(person, []).append(ticket)
    return sorted(people.items())
