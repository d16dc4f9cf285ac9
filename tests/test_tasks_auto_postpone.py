# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The auto_postpone task: which tickets move where, recorded in the
ticket history and notified by Trac."""

import pytest
from trac.ticket.model import Ticket

from smtp import add_milestone, add_ticket, run_task
from support import NOW, day
from traccron.tasks.auto_postpone import AutoPostponeTask


@pytest.fixture
def env(task_env):
    env = task_env([AutoPostponeTask], users=['alice'])
    env.config.set('notification-subscriber', 'always_notify_owner',
                   'TicketOwnerSubscriber')
    return env


def milestones(env):
    return {id: Ticket(env, id)['milestone']
            for id, in env.db_query("SELECT id FROM ticket")}


def test_open_tickets_of_completed_milestones_move_to_earliest_due(
        env, smtp_server):
    add_milestone(env, 'old1', due=day(1, 2), completed=day(2, 2))
    add_milestone(env, 'old2', completed=day(5))
    add_milestone(env, 'late', due=day(1, 4))
    add_milestone(env, 'early', due=day(20))
    add_milestone(env, 'someday')  # open, no due date: never a target
    add_ticket(env, day(1, 1), summary='Open in old1', milestone='old1',
               status='assigned', owner='alice')
    add_ticket(env, day(1, 1), summary='Closed in old1', milestone='old1',
               status='closed', resolution='fixed', owner='alice')
    add_ticket(env, day(1, 1), summary='Open in old2', milestone='old2')
    add_ticket(env, day(1, 1), summary='Open in late', milestone='late')
    add_ticket(env, day(1, 1), summary='No milestone')
    add_ticket(env, day(1, 1), summary='Reopened in old1', milestone='old1',
               status='reopened', owner='bob@example.com')

    row = run_task(env, 'auto_postpone')

    assert row.status == 'success'
    assert row.message == '3 ticket(s) postponed to early: #1, #3, #6'
    assert milestones(env) == {1: 'early', 2: 'old1', 3: 'early',
                               4: 'late', 5: '', 6: 'early'}
    for id, old in ((1, 'old1'), (3, 'old2'), (6, 'old1')):
        ticket = Ticket(env, id)
        assert ticket['changetime'] == NOW
        changes = [(author, field, oldvalue, newvalue)
                   for when, author, field, oldvalue, newvalue, permanent
                   in ticket.get_changelog()]
        assert changes == [
            ('auto_postpone', 'comment', '1',
             'Milestone %s is completed: ticket postponed to early.' % old),
            ('auto_postpone', 'milestone', old, 'early'),
        ]
    # Trac's own ticket notification went to the owners.
    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['alice@example.org'], 'Re: [My Project] #1: Open in old1'),
        (['bob@example.com'], 'Re: [My Project] #6: Reopened in old1'),
    ]
    assert 'Changes (by auto_postpone):' in mails[0].body
    assert '* milestone:  old1 => early' in mails[0].body
    assert 'Milestone old1 is completed: ticket postponed to early.' \
        in mails[0].body

    # A second run has nothing left to do.
    row = run_task(env, 'auto_postpone')
    assert row.message == '0 ticket(s) postponed to early'


def test_nothing_moves_when_no_open_milestone_has_a_due_date(env,
                                                              smtp_server):
    add_milestone(env, 'old', due=day(1, 2), completed=day(2, 2))
    add_milestone(env, 'someday')
    add_milestone(env, 'done', due=day(1, 4), completed=day(2, 3))
    add_ticket(env, day(1, 1), summary='Open in old', milestone='old',
               owner='alice')

    row = run_task(env, 'auto_postpone')

    assert row.status == 'success'
    assert row.message == ('no open milestone with a due date: nothing '
                           'postponed')
    assert milestones(env) == {1: 'old'}
    assert Ticket(env, 1).get_changelog() == []
    assert smtp_server.take() == []


def test_ties_on_due_date_go_to_the_first_name(env, smtp_server):
    add_milestone(env, 'old', completed=day(2, 2))
    add_milestone(env, 'b', due=day(20))
    add_milestone(env, 'a', due=day(20))
    add_ticket(env, day(1, 1), milestone='old')

    run_task(env, 'auto_postpone')

    assert milestones(env) == {1: 'a'}


def test_notification_failure_is_recorded_but_tickets_still_move(
        env, smtp_server):
    add_milestone(env, 'old', completed=day(2, 2))
    add_milestone(env, 'next', due=day(20))
    add_ticket(env, day(1, 1), milestone='old', owner='alice')
    smtp_server.stop()

    row = run_task(env, 'auto_postpone')

    assert milestones(env) == {1: 'next'}
    assert row.status == 'success'
    assert row.message.startswith('1 ticket(s) postponed to next: #1\n'
                                  'notification of #1 failed: ')
    assert 'SMTP server connection error' in row.message
