# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The unreachable_milestone task: the release managers' mail per
milestone, and each owner's and reporter's mail with all their tickets."""

import pytest

from smtp import SIGNATURE, add_milestone, add_ticket, run_task, url
from support import day
from traccron.tasks.unreachable_milestone import UnreachableMilestoneTask


@pytest.fixture
def env(task_env):
    return task_env([UnreachableMilestoneTask],
                    users=['alice', 'bob', 'carol', 'manager'], config={
                        'unreachable_milestone.recipient':
                            'manager, qa@example.com'})


def add_fixture(env):
    add_milestone(env, 'm1', due=day(12))
    add_milestone(env, 'm2', due=day(11), completed=day(9))   # completed
    add_milestone(env, 'm3', due=day(20))                     # too far
    add_milestone(env, 'm4', due=day(9))                      # past due
    add_milestone(env, 'm5', due=day(13, hour=0))
    add_milestone(env, 'm6')                                  # no due date
    add_ticket(env, day(1), summary='Login fails', milestone='m1',
               status='assigned', owner='alice', reporter='bob')
    add_ticket(env, day(1), summary='Logout fails', milestone='m1',
               status='accepted', owner='alice', reporter='carol')
    add_ticket(env, day(1), summary='Done already', milestone='m1',
               status='closed', resolution='fixed', owner='alice',
               reporter='bob')
    add_ticket(env, day(1), summary='Nobody on it', milestone='m1',
               reporter='erin@example.com')
    add_ticket(env, day(1), summary='In completed', milestone='m2',
               status='assigned', owner='alice', reporter='bob')
    add_ticket(env, day(1), summary='Later', milestone='m3',
               status='assigned', owner='bob', reporter='alice')
    add_ticket(env, day(1), summary='Too late', milestone='m4',
               status='assigned', owner='bob', reporter='alice')
    add_ticket(env, day(1), summary='Docs', milestone='m5',
               status='assigned', owner='bob', reporter='alice')
    add_ticket(env, day(1), summary='Someday', milestone='m6',
               status='assigned', owner='bob', reporter='alice')


def line(id, summary, status, owner, reporter):
    return ('#%s %s\n    %s\n    status: %s, owner: %s, reporter: %s\n\n'
            % (id, summary, url(id), status, owner, reporter))


M1_TICKETS = (line(1, 'Login fails', 'assigned', 'alice', 'bob') +
              line(2, 'Logout fails', 'accepted', 'alice', 'carol') +
              line(4, 'Nobody on it', 'new', 'nobody', 'erin@example.com'))
M5_TICKETS = line(8, 'Docs', 'assigned', 'bob', 'alice')


def manager_body(name, due, tickets):
    return ('Hello,\n\n'
            'The milestone %s is due on %s, and these tickets are still '
            'open.\nPlease postpone them or make sure they are done by '
            'then.\n\n%s'
            'Milestone: http://example.org/trac.cgi/milestone/%s\n\n'
            % (name, due, tickets, name) + SIGNATURE)


def user_body(name, *milestones):
    return ('Hello %s,\n\n'
            'These tickets of yours are still open in milestones that are '
            'due soon.\nPlease make sure they are done by then, or tell the '
            'release manager.\n\n' % name +
            ''.join('Milestone %s, due on %s:\n\n%s' % m
                    for m in milestones) + SIGNATURE)


def test_mails_to_managers_owners_and_reporters(env, smtp_server):
    add_fixture(env)

    row = run_task(env, 'unreachable_milestone')

    assert row.status == 'success'
    mails = smtp_server.take()
    prefix = '[My Project] '
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['alice@example.org'], prefix + '3 open tickets of yours in '
                                         'milestones due soon: m1, m5'),
        (['bob@example.org'], prefix + '2 open tickets of yours in '
                                       'milestones due soon: m1, m5'),
        (['carol@example.org'], prefix + '1 open ticket of yours in '
                                         'milestone m1, due on 2026-03-12'),
        (['erin@example.com'], prefix + '1 open ticket of yours in '
                                        'milestone m1, due on 2026-03-12'),
        (['manager@example.org'], prefix + 'Milestone m1 is due on '
                                           '2026-03-12: 3 tickets still open'),
        (['manager@example.org'], prefix + 'Milestone m5 is due on '
                                           '2026-03-13: 1 ticket still open'),
        (['qa@example.com'], prefix + 'Milestone m1 is due on 2026-03-12: '
                                      '3 tickets still open'),
        (['qa@example.com'], prefix + 'Milestone m5 is due on 2026-03-13: '
                                      '1 ticket still open'),
    ]
    alice, bob, carol, erin, manager1, manager5, qa1, qa5 = mails
    assert manager1.body == qa1.body == manager_body('m1', '2026-03-12',
                                                     M1_TICKETS)
    assert manager5.body == qa5.body == manager_body('m5', '2026-03-13',
                                                     M5_TICKETS)
    assert alice.body == user_body(
        'alice',
        ('m1', '2026-03-12',
         line(1, 'Login fails', 'assigned', 'alice', 'bob') +
         line(2, 'Logout fails', 'accepted', 'alice', 'carol')),
        ('m5', '2026-03-13', M5_TICKETS))
    assert bob.body == user_body(
        'bob',
        ('m1', '2026-03-12',
         line(1, 'Login fails', 'assigned', 'alice', 'bob')),
        ('m5', '2026-03-13', M5_TICKETS))
    assert carol.body == user_body(
        'carol',
        ('m1', '2026-03-12',
         line(2, 'Logout fails', 'accepted', 'alice', 'carol')))
    assert erin.body == user_body(
        'erin@example.com',
        ('m1', '2026-03-12',
         line(4, 'Nobody on it', 'new', 'nobody', 'erin@example.com')))
    assert row.message == (
        '2 milestone(s) due within 3 day(s) with open tickets\n'
        '6 mail(s), 8 message(s) sent to: alice@example.org, '
        'bob@example.org, carol@example.org, erin@example.com, '
        'manager@example.org, qa@example.com')


def test_regression_an_owner_gets_every_ticket_not_only_the_last(
        env, smtp_server):
    add_milestone(env, 'm1', due=day(12))
    for summary in ('First', 'Second', 'Third'):
        add_ticket(env, day(1), summary=summary, milestone='m1',
                   status='assigned', owner='alice', reporter='alice')

    run_task(env, 'unreachable_milestone')

    alice = [m for m in smtp_server.take()
             if m.rcpt_tos == ['alice@example.org']]
    assert len(alice) == 1
    assert alice[0].body == user_body(
        'alice', ('m1', '2026-03-12',
                  line(1, 'First', 'assigned', 'alice', 'alice') +
                  line(2, 'Second', 'assigned', 'alice', 'alice') +
                  line(3, 'Third', 'assigned', 'alice', 'alice')))


def test_regression_closed_tickets_are_left_out(env, smtp_server):
    add_milestone(env, 'm1', due=day(12))
    add_ticket(env, day(1), summary='Closed', milestone='m1',
               status='closed', resolution='fixed', owner='alice',
               reporter='bob')

    row = run_task(env, 'unreachable_milestone')

    assert smtp_server.take() == []
    assert row.message.startswith('0 milestone(s) due within 3 day(s)')


def test_regression_completed_milestones_are_left_out(env, smtp_server):
    add_milestone(env, 'm1', due=day(12), completed=day(9))
    add_ticket(env, day(1), summary='Open', milestone='m1',
               status='assigned', owner='alice', reporter='bob')

    run_task(env, 'unreachable_milestone')

    assert smtp_server.take() == []


def test_days_ahead_argument(env, smtp_server):
    add_fixture(env)

    run_task(env, 'unreachable_milestone', '10')

    subjects = sorted(set(m.subject for m in smtp_server.take()
                          if m.rcpt_tos == ['manager@example.org']))
    assert subjects == [
        '[My Project] Milestone m1 is due on 2026-03-12: 3 tickets still '
        'open',
        '[My Project] Milestone m3 is due on 2026-03-20: 1 ticket still '
        'open',
        '[My Project] Milestone m5 is due on 2026-03-13: 1 ticket still '
        'open',
    ]


def test_without_release_manager_only_owners_and_reporters(env,
                                                           smtp_server):
    env.config.set('traccron', 'unreachable_milestone.recipient', '')
    add_milestone(env, 'm1', due=day(12))
    add_ticket(env, day(1), summary='Open', milestone='m1',
               status='assigned', owner='alice', reporter='bob')

    run_task(env, 'unreachable_milestone')

    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['alice@example.org'], ['bob@example.org']]
