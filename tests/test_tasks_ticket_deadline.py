# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The ticket_deadline task: who is warned, with which text, and only once
per deadline."""

from datetime import datetime

import pytest
from trac.ticket.model import Ticket

from smtp import SIGNATURE, add_ticket, run_task, url
from support import NOW, UTC
from traccron.core import Core
from traccron.tasks.ticket_deadline import TicketDeadlineTask

CREATED = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def env(task_env):
    env = task_env([TicketDeadlineTask], users=['alice', 'bob', 'carol'])
    env.config.set('ticket-custom', 'due_date', 'text')
    env.clock = TicketDeadlineTask(env).clock
    return env


def body(id, summary, sentence, status='assigned', owner='alice',
         reporter='bob'):
    return ('Hello,\n\n%s\n\n#%s %s\n    %s\n'
            '    status: %s, owner: %s, reporter: %s\n\n'
            'You receive this mail as the owner, the reporter or in the Cc '
            'list of the ticket.\n\n'
            % (sentence, id, summary, url(id), status, owner, reporter)
            + SIGNATURE)


def set_due(env, id, value):
    ticket = Ticket(env, id)
    ticket['due_date'] = value
    ticket.save_changes('alice', when=datetime.now(UTC))


def test_owner_reporter_and_cc_are_warned_once_per_deadline(env,
                                                            smtp_server):
    add_ticket(env, CREATED, summary='Release notes', status='assigned',
               owner='alice', reporter='bob',
               cc='carol, dave@example.com', due_date='2026-03-12')
    add_ticket(env, CREATED, summary='Far away', status='assigned',
               owner='alice', reporter='bob', due_date='2026-03-20')
    add_ticket(env, CREATED, summary='Closed', status='closed',
               resolution='fixed', owner='alice', reporter='bob',
               due_date='2026-03-11')
    add_ticket(env, CREATED, summary='Late', status='accepted',
               owner='bob', reporter='alice', due_date='2026-03-05')
    add_ticket(env, CREATED, summary='Bad date', owner='alice',
               reporter='bob', due_date='soon')
    add_ticket(env, CREATED, summary='Today', reporter='erin@example.com',
               due_date='2026-03-10')
    add_ticket(env, CREATED, summary='No deadline', owner='alice',
               reporter='bob')

    row = run_task(env, 'ticket_deadline')

    assert row.status == 'success'
    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['alice@example.org'],
         '[My Project] Ticket #1: Release notes (due 2026-03-12)'),
        (['alice@example.org'], '[My Project] Ticket #4: Late (due '
                                '2026-03-05)'),
        (['bob@example.org'],
         '[My Project] Ticket #1: Release notes (due 2026-03-12)'),
        (['bob@example.org'], '[My Project] Ticket #4: Late (due '
                              '2026-03-05)'),
        (['carol@example.org'],
         '[My Project] Ticket #1: Release notes (due 2026-03-12)'),
        (['dave@example.com'],
         '[My Project] Ticket #1: Release notes (due 2026-03-12)'),
        (['erin@example.com'], '[My Project] Ticket #6: Today (due '
                               '2026-03-10)'),
    ]
    by_ticket = {m.subject: m.body for m in mails}
    assert by_ticket['[My Project] Ticket #1: Release notes (due '
                     '2026-03-12)'] == body(
        1, 'Release notes', 'Ticket #1 is due on 2026-03-12, in 2 days.')
    assert by_ticket['[My Project] Ticket #4: Late (due 2026-03-05)'] == \
        body(4, 'Late', 'Ticket #4 was due on 2026-03-05, 5 days ago.',
             status='accepted', owner='bob', reporter='alice')
    assert by_ticket['[My Project] Ticket #6: Today (due 2026-03-10)'] == \
        body(6, 'Today', 'Ticket #6 is due today, 2026-03-10.',
             status='new', owner='nobody', reporter='erin@example.com')
    assert row.message == (
        "3 ticket(s) warned about their due_date\n"
        "ticket #5: cannot read due_date = 'soon' as %Y-%m-%d\n"
        "3 mail(s), 7 message(s) sent to: alice@example.org, "
        "bob@example.org, carol@example.org, dave@example.com, "
        "erin@example.com")

    # Not again for the same deadlines, a day later either.
    env.clock.advance(86400)
    row = run_task(env, 'ticket_deadline')
    assert smtp_server.take() == []
    assert row.message.startswith('0 ticket(s) warned about their due_date')

    # A new deadline is warned about again.
    set_due(env, 1, '2026-03-13')
    run_task(env, 'ticket_deadline')
    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        ([address],
         '[My Project] Ticket #1: Release notes (due 2026-03-13)')
        for address in ('alice@example.org', 'bob@example.org',
                        'carol@example.org', 'dave@example.com')]
    assert mails[0].body == body(
        1, 'Release notes', 'Ticket #1 is due on 2026-03-13, in 2 days.')


def test_regression_overdue_ticket_is_not_mailed_on_every_run(
        env, smtp_server):
    add_ticket(env, CREATED, summary='Late', status='accepted',
               owner='bob', reporter='bob', due_date='2026-03-01')

    run_task(env, 'ticket_deadline')
    assert [m.rcpt_tos for m in smtp_server.take()] == [['bob@example.org']]

    for days in range(3):
        env.clock.advance(86400)
        run_task(env, 'ticket_deadline')
        assert smtp_server.take() == []


def test_warning_is_remembered_in_the_database(env, smtp_server):
    add_ticket(env, CREATED, owner='bob', due_date='2026-03-11')

    run_task(env, 'ticket_deadline')

    assert env.db_query("SELECT ticket, deadline, warned "
                        "FROM cron_ticket_deadline") == [
        (1, '2026-03-11', int(NOW.timestamp() * 1e6))]


def test_arguments_override_field_format_and_days(env, smtp_server):
    env.config.set('ticket-custom', 'deadline', 'text')
    env.config.set('traccron', 'ticket_deadline.days_before', '30')
    add_ticket(env, CREATED, summary='Soon', owner='alice',
               deadline='11/03/2026', due_date='2026-04-01')
    add_ticket(env, CREATED, summary='Later', owner='alice',
               deadline='15/03/2026')

    run_task(env, 'ticket_deadline', 'deadline', '%d/%m/%Y', '1')

    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['alice@example.org'], '[My Project] Ticket #1: Soon (due '
                                '11/03/2026)')]
    assert 'Ticket #1 is due on 11/03/2026, tomorrow.' in mails[0].body


def test_options_set_field_format_and_days(env, smtp_server):
    env.config.set('ticket-custom', 'deadline', 'text')
    env.config.set('traccron', 'ticket_deadline.date_field', 'deadline')
    env.config.set('traccron', 'ticket_deadline.date_format', '%d.%m.%Y')
    env.config.set('traccron', 'ticket_deadline.days_before', '7')
    add_ticket(env, CREATED, summary='Week', owner='alice',
               deadline='17.03.2026')
    add_ticket(env, CREATED, summary='Later', owner='alice',
               deadline='18.03.2026')

    run_task(env, 'ticket_deadline')

    assert [m.subject for m in smtp_server.take()] == [
        '[My Project] Ticket #1: Week (due 17.03.2026)']


def test_time_custom_field(env, smtp_server):
    env.config.set('ticket-custom', 'target', 'time')
    env.config.set('ticket-custom', 'target.format', 'date')
    env.config.set('traccron', 'ticket_deadline.date_field', 'target')
    add_ticket(env, CREATED, summary='Timed', owner='alice',
               target=datetime(2026, 3, 12, 10, 0, tzinfo=UTC))

    run_task(env, 'ticket_deadline')

    mails = smtp_server.take()
    assert [m.subject for m in mails] == [
        '[My Project] Ticket #1: Timed (due 2026-03-12)']
    assert 'Ticket #1 is due on 2026-03-12, in 2 days.' in mails[0].body


@pytest.mark.parametrize('value', ['many', '²', '٣', '-1'])
def test_invalid_days_before_is_reported_and_the_default_used(env,
                                                              smtp_server,
                                                              value):
    env.config.set('traccron', 'ticket_deadline.days_before', value)
    add_ticket(env, CREATED, summary='In three days', owner='alice',
               due_date='2026-03-13')
    add_ticket(env, CREATED, summary='In four days', owner='alice',
               due_date='2026-03-14')

    row = run_task(env, 'ticket_deadline')

    assert row.status == 'success'
    assert [m.subject for m in smtp_server.take()] == [
        '[My Project] Ticket #1: In three days (due 2026-03-13)']
    assert [(p.key, p.value, p.message) for p in Core(env).check()] == [
        ('ticket_deadline.days_before', value,
         'expected a whole number >= 0')]


@pytest.mark.parametrize('value', ['٣', '１'])
def test_days_argument_in_other_digits_fails_the_run(env, smtp_server,
                                                     value):
    """`int` takes these: the task used to run with 3 or 1 days."""
    row = run_task(env, 'ticket_deadline', '', '', value)

    assert row.status == 'failure'
    assert "argument days_before = %r: expected a whole number of days" \
        % value in row.message


def test_summary_with_a_line_break_is_mailed_on_one_line(env, smtp_server):
    """A line break in a header would end it: Python refuses such a
    header, so every mail about the ticket failed on every run; sent as
    it is, it would add a header (here a Bcc)."""
    add_ticket(env, CREATED, summary='first line\r\nBcc: evil@example.com',
               owner='alice', reporter='bob', due_date='2026-03-11')

    row = run_task(env, 'ticket_deadline')

    assert row.status == 'success', row.message
    mails = smtp_server.take()
    assert [m.rcpt_tos for m in mails] == [['alice@example.org'],
                                          ['bob@example.org']]
    for mail in mails:
        assert mail.subject == ('[My Project] Ticket #1: first line Bcc: '
                                'evil@example.com (due 2026-03-11)')
        assert [str(v) for v in mail.message.get_all('Subject')] == [
            str(mail.message['Subject'])]
        assert '\n' not in str(mail.message['Subject']).strip()
        assert 'Bcc' not in mail.message
        assert 'evil@example.com' not in str(mail.message['To'])
    assert env.db_query("SELECT ticket FROM cron_ticket_deadline") == [(1,)]
