# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The queries of the bundled tasks on SQLite, PostgreSQL and MariaDB, in
real environments (skipped with the reason where a server is absent)."""

import pytest
from trac.env import Environment
from trac.ticket.model import Ticket

from smtp import add_milestone, add_ticket, add_user, run_task
from support import NOW, FakeClock, day
from traccron.tasks.auto_postpone import AutoPostponeTask
from traccron.tasks.sleeping_ticket import SleepingTicketTask
from traccron.tasks.ticket_deadline import TicketDeadlineTask
from traccron.tasks.unreachable_milestone import UnreachableMilestoneTask


@pytest.fixture
def env(tmp_path, db_uri, smtp_server):
    options = [('trac', 'database', db_uri),
               ('trac', 'base_url', 'http://example.org/trac.cgi'),
               ('components', 'traccron.*', 'enabled'),
               ('traccron', 'timezone', 'UTC'),
               ('traccron', 'unreachable_milestone.recipient', 'manager'),
               ('ticket-custom', 'due_date', 'text')]
    options += [('notification', k, v)
                for k, v in smtp_server.options().items()]
    env = Environment(str(tmp_path / 'env'), create=True, options=options)
    try:
        clock = FakeClock(NOW.timestamp())
        for task in (SleepingTicketTask, UnreachableMilestoneTask,
                     AutoPostponeTask, TicketDeadlineTask):
            task(env).clock = clock
        for name in ('alice', 'bob', 'manager'):
            add_user(env, name, '%s@example.org' % name)
        yield env
    finally:
        env.shutdown()


def test_task_queries(env, smtp_server):
    add_milestone(env, 'done', due=day(1, 2), completed=day(2, 2))
    add_milestone(env, 'next', due=day(12))
    add_milestone(env, 'later', due=day(1, 4))
    add_ticket(env, day(1), day(5), summary='Sleeping', status='assigned',
               owner='alice', reporter='bob', milestone='next')
    add_ticket(env, day(1), summary='Orphaned', reporter='bob')
    add_ticket(env, day(1), summary='Closed', status='closed',
               resolution='fixed', owner='alice', reporter='bob',
               milestone='next', due_date='2026-03-11')
    add_ticket(env, day(1), summary='Left behind', status='assigned',
               owner='bob', reporter='alice', milestone='done',
               due_date='2026-03-11')
    add_ticket(env, day(9), summary='Recent', status='assigned',
               owner='alice', reporter='bob', milestone='later',
               due_date='2026-04-11')

    assert run_task(env, 'sleeping_ticket').status == 'success'
    # #4 is sleeping too (created 9 days ago, never changed).
    assert [(m.rcpt_tos, m.subject) for m in smtp_server.take()] == [
        (['alice@example.org'], '[My Project] Reminder: 1 ticket with no '
                                'change for more than 3 days'),
        (['bob@example.org'], '[My Project] Reminder: 2 tickets with no '
                              'change for more than 3 days'),
    ]

    assert run_task(env, 'unreachable_milestone').status == 'success'
    assert [(m.rcpt_tos, m.subject) for m in smtp_server.take()] == [
        (['alice@example.org'], '[My Project] 1 open ticket of yours in '
                                'milestone next, due on 2026-03-12'),
        (['bob@example.org'], '[My Project] 1 open ticket of yours in '
                              'milestone next, due on 2026-03-12'),
        (['manager@example.org'], '[My Project] Milestone next is due on '
                                  '2026-03-12: 1 ticket still open'),
    ]

    assert run_task(env, 'ticket_deadline').status == 'success'
    assert [(m.rcpt_tos, m.subject) for m in smtp_server.take()] == [
        (['alice@example.org'], '[My Project] Ticket #4: Left behind (due '
                                '2026-03-11)'),
        (['bob@example.org'], '[My Project] Ticket #4: Left behind (due '
                              '2026-03-11)'),
    ]
    assert run_task(env, 'ticket_deadline').status == 'success'
    assert smtp_server.take() == []

    row = run_task(env, 'auto_postpone')
    assert row.message == '1 ticket(s) postponed to next: #4'
    assert [Ticket(env, id)['milestone'] for id in range(1, 6)] == [
        'next', '', 'next', 'next', 'later']
    assert [(author, field) for when, author, field, old, new, permanent
            in Ticket(env, 4).get_changelog()] == [
        ('auto_postpone', 'comment'), ('auto_postpone', 'milestone')]
