# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The sleeping_ticket task: who gets which reminder, with which text."""

import pytest

from smtp import SIGNATURE, add_ticket, run_task, url
from support import day
from traccron.tasks.sleeping_ticket import SleepingTicketTask


@pytest.fixture
def env(task_env):
    return task_env([SleepingTicketTask], users=['alice', 'bob'],
                    notification={'smtp_default_domain': 'example.net'})


def add_fixture_tickets(env):
    # orphaned: new, nobody assigned, no change for 9 days -> erin
    add_ticket(env, day(1), summary='Crash on start',
               reporter='erin@example.com')
    # sleeping: assigned, last change 5 days ago -> alice
    add_ticket(env, day(1), day(5), summary='Slow search', status='assigned',
               owner='alice', reporter='bob')
    # recently changed: nobody is reminded
    add_ticket(env, day(1), day(9), summary='Typo', status='accepted',
               owner='alice', reporter='carol')
    # new with an owner, untouched since creation 8 days ago -> bob
    add_ticket(env, day(2), summary='Broken link', owner='bob',
               reporter='alice')
    # closed: never
    add_ticket(env, day(1, 2), summary='Old bug', status='closed',
               owner='alice', reporter='bob', resolution='fixed')
    # new and recent: not yet orphaned
    add_ticket(env, day(9), summary='Fresh', reporter='bob')
    # reopened, owned by dave (no session: dave@ + smtp_default_domain)
    add_ticket(env, day(1, 2), summary='Regression', status='reopened',
               owner='dave', reporter='bob')
    # orphaned, reported by alice, who also owns #2 -> one mail for both
    add_ticket(env, day(20, 2), summary='Feature idea', reporter='alice')
    # orphaned but reported anonymously: nobody to tell
    add_ticket(env, day(20, 2), summary='Anonymous report',
               reporter='anonymous')


def test_one_mail_per_person_with_their_sleeping_and_orphaned_tickets(
        env, smtp_server):
    add_fixture_tickets(env)

    row = run_task(env, 'sleeping_ticket')

    assert row.status == 'success'
    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['alice@example.org'], '[My Project] Reminder: 2 tickets with no '
                                'change for more than 3 days'),
        (['bob@example.org'], '[My Project] Reminder: 1 ticket with no '
                              'change for more than 3 days'),
        (['dave@example.net'], '[My Project] Reminder: 1 ticket with no '
                               'change for more than 3 days'),
        (['erin@example.com'], '[My Project] Reminder: 1 ticket with no '
                               'change for more than 3 days'),
    ]
    alice, bob, dave, erin = mails
    assert alice.body == (
        'Hello alice,\n\n'
        'These tickets are assigned to you and have had no change for '
        'more than 3 days:\n\n'
        '#2 Slow search\n'
        '    %s\n'
        '    status: assigned, last change: 2026-03-05\n\n'
        'These tickets you reported are still new, with nobody assigned, '
        'and have had no change for more than 3 days:\n\n'
        '#8 Feature idea\n'
        '    %s\n'
        '    created: 2026-02-20, last change: 2026-02-20\n\n'
        % (url(2), url(8)) + SIGNATURE)
    assert bob.body == (
        'Hello bob,\n\n'
        'These tickets are assigned to you and have had no change for '
        'more than 3 days:\n\n'
        '#4 Broken link\n'
        '    %s\n'
        '    status: new, last change: 2026-03-02\n\n' % url(4) + SIGNATURE)
    assert dave.body == (
        'Hello dave,\n\n'
        'These tickets are assigned to you and have had no change for '
        'more than 3 days:\n\n'
        '#7 Regression\n'
        '    %s\n'
        '    status: reopened, last change: 2026-02-01\n\n'
        % url(7) + SIGNATURE)
    assert erin.body == (
        'Hello erin@example.com,\n\n'
        'These tickets you reported are still new, with nobody assigned, '
        'and have had no change for more than 3 days:\n\n'
        '#1 Crash on start\n'
        '    %s\n'
        '    created: 2026-03-01, last change: 2026-03-01\n\n'
        % url(1) + SIGNATURE)
    for mail in mails:
        assert mail.mail_from == 'trac@example.org'
        assert mail.header('From') == 'My Project <trac@example.org>'
        assert mail.header('To') == mail.rcpt_tos[0]
    assert row.message == (
        '3 sleeping and 3 orphaned ticket(s)\n'
        '4 mail(s), 4 message(s) sent to: alice@example.org, '
        'bob@example.org, dave@example.net, erin@example.com')


def test_days_argument(env, smtp_server):
    add_fixture_tickets(env)

    run_task(env, 'sleeping_ticket', '10')

    mails = smtp_server.take()
    # Only #5 (closed), #7, #8 and #9 (anonymous) had no change for more
    # than 10 days.
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['alice@example.org'], '[My Project] Reminder: 1 ticket with no '
                                'change for more than 10 days'),
        (['dave@example.net'], '[My Project] Reminder: 1 ticket with no '
                               'change for more than 10 days'),
    ]
    assert '#8 Feature idea' in mails[0].body
    assert '#2 Slow search' not in mails[0].body


def test_nothing_to_remind_sends_nothing(env, smtp_server):
    add_ticket(env, day(9), summary='Fresh', reporter='bob')

    row = run_task(env, 'sleeping_ticket')

    assert row.status == 'success'
    assert smtp_server.take() == []
    assert row.message == ('0 sleeping and 0 orphaned ticket(s)\n'
                           '0 mail(s), 0 message(s) sent')


def test_invalid_days_argument_fails_the_run(env, smtp_server):
    row = run_task(env, 'sleeping_ticket', 'three')

    assert row.status == 'failure'
    assert "argument days = 'three': expected a whole number of days" \
        in row.message
    assert smtp_server.take() == []
