# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The mails of the tasks go through Trac's notification system: the
`[notification]` settings, recipients, failures, templates."""

import os
import stat
import sys

import pytest
from trac.core import Component, implements
from trac.notification.api import IEmailAddressResolver

from smtp import add_milestone, add_ticket, add_user, mail_env, run_task
from support import NOW, day
from traccron.notification import CronMailer
from traccron.tasks.ticket_deadline import TicketDeadlineTask
from traccron.tasks.unreachable_milestone import UnreachableMilestoneTask

DUE = day(12)
SUBJECT = 'Milestone m1 is due on 2026-03-12: 1 ticket still open'


class DirectoryResolver(Component):
    """An address book, as an LDAP resolver would be."""

    implements(IEmailAddressResolver)

    def get_address_for_session(self, sid, authenticated):
        return {'ghost': 'ghost@corp.example.com'}.get(sid)


@pytest.fixture
def env(task_env):
    """One milestone due soon with one ticket: owner alice, reporter
    bob; the release manager is `manager`."""
    env = task_env([UnreachableMilestoneTask, TicketDeadlineTask],
                   users=['alice', 'bob', 'manager'], config={
                       'unreachable_milestone.recipient': 'manager'})
    env.config.set('ticket-custom', 'due_date', 'text')
    add_milestone(env, 'm1', due=DUE)
    add_ticket(env, NOW, summary='Fix it', milestone='m1',
               status='assigned', owner='alice', reporter='bob',
               due_date='2026-03-11')
    return env


def envelopes(server):
    return [(m.rcpt_tos, m.subject) for m in server.take()]


def test_user_names_resolve_to_addresses_and_addresses_stay(env,
                                                            smtp_server):
    add_user(env, 'nomail')          # known user without an address
    env.config.set('traccron', 'unreachable_milestone.recipient',
                   'manager, qa@example.com, QA Lead <lead@example.com>, '
                   'nomail, ghost')

    row = run_task(env, 'unreachable_milestone')

    assert row.status == 'success'
    assert sorted(m.rcpt_tos[0] for m in smtp_server.take()
                  if m.subject.endswith(SUBJECT)) == [
        'lead@example.com', 'manager@example.org', 'qa@example.com']
    assert row.message.endswith('\nno email address for: ghost, nomail')


def test_smtp_default_domain_completes_user_names(env, smtp_server):
    add_user(env, 'nomail')
    env.config.set('notification', 'smtp_default_domain', 'example.net')
    env.config.set('traccron', 'unreachable_milestone.recipient',
                   'nomail, ghost, manager')

    run_task(env, 'unreachable_milestone')

    assert sorted(m.rcpt_tos[0] for m in smtp_server.take()
                  if m.subject.endswith(SUBJECT)) == [
        'ghost@example.net', 'manager@example.org', 'nomail@example.net']


def test_use_short_addr_sends_to_bare_user_names(env, smtp_server):
    env.config.set('notification', 'use_short_addr', 'true')
    env.config.set('traccron', 'unreachable_milestone.recipient', 'ghost')

    run_task(env, 'unreachable_milestone')

    assert [m.rcpt_tos for m in smtp_server.take()
            if m.subject.endswith(SUBJECT)] == [['ghost']]


def test_smtp_disabled_sends_nothing(env, smtp_server):
    env.config.set('notification', 'smtp_enabled', 'false')

    row = run_task(env, 'unreachable_milestone')
    assert row.status == 'success'
    assert row.message == (
        '1 milestone(s) due within 3 day(s) with open tickets\n'
        'mail disabled ([notification] smtp_enabled = false): nothing sent')

    row = run_task(env, 'ticket_deadline')
    assert row.status == 'success'
    assert smtp_server.take() == []

    # The deadline was not warned about: it is once mail is enabled.
    env.config.set('notification', 'smtp_enabled', 'true')
    run_task(env, 'ticket_deadline')
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['alice@example.org'], ['bob@example.org']]


def test_smtp_server_down_is_recorded_and_next_run_is_fine(env,
                                                           smtp_server):
    smtp_server.stop()

    row = run_task(env, 'unreachable_milestone')

    assert row.status == 'failure'
    error = ('SMTP server connection error ([Errno 111] Connection '
             'refused). Please modify [notification] smtp_server or '
             '[notification] smtp_port in your configuration.')
    assert ('MailError: 1 milestone(s) due within 3 day(s) with open '
            'tickets\n3 mail(s), 0 message(s) sent\n'
            'could not send to manager@example.org: %s\n'
            'could not send to alice@example.org: %s\n'
            'could not send to bob@example.org: %s\n'
            % (error, error, error)) in row.message

    row = run_task(env, 'ticket_deadline')
    assert row.status == 'failure'

    smtp_server.start()
    row = run_task(env, 'unreachable_milestone')
    assert row.status == 'success'
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['alice@example.org'], ['bob@example.org'],
        ['manager@example.org']]
    # ticket_deadline did not remember the warning it could not send.
    row = run_task(env, 'ticket_deadline')
    assert row.status == 'success'
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['alice@example.org'], ['bob@example.org']]


def test_refused_recipient_is_recorded_and_others_get_their_mail(
        env, smtp_server):
    smtp_server.refuse.add('bob@example.org')

    row = run_task(env, 'unreachable_milestone')

    assert row.status == 'failure'
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['alice@example.org'], ['manager@example.org']]
    assert ('3 mail(s), 2 message(s) sent to: alice@example.org, '
            'manager@example.org\n'
            'could not send to bob@example.org: refused by the SMTP '
            'server: 550 5.1.1 <bob@example.org>: Recipient address '
            'rejected\n') in row.message


def test_subject_prefix(env, smtp_server):
    env.config.set('notification', 'smtp_subject_prefix', '[Cron]')
    run_task(env, 'unreachable_milestone')
    assert envelopes(smtp_server)[-1] == (['manager@example.org'],
                                          '[Cron] ' + SUBJECT)

    env.config.set('notification', 'smtp_subject_prefix', '')
    run_task(env, 'unreachable_milestone')
    assert envelopes(smtp_server)[-1] == (['manager@example.org'], SUBJECT)


def test_always_cc_and_bcc_get_one_copy_of_each_mail(env, smtp_server):
    env.config.set('notification', 'smtp_always_cc', 'watcher@example.com')
    env.config.set('notification', 'smtp_always_bcc', 'archive@example.com')

    run_task(env, 'unreachable_milestone')

    mails = smtp_server.take()
    copies = [m for m in mails if m.rcpt_tos == ['archive@example.com',
                                                 'watcher@example.com']]
    assert sorted(m.subject for m in copies) == sorted([
        '[My Project] 1 open ticket of yours in milestone m1, due on '
        '2026-03-12'] * 2 + ['[My Project] ' + SUBJECT])
    for mail in copies:
        assert mail.header('Cc') == 'watcher@example.com'
        assert mail.header('Bcc') is None
        assert mail.header('To') == 'undisclosed-recipients:;'
    personal = [m for m in mails if m not in copies]
    assert [m.rcpt_tos for m in personal] == [
        ['alice@example.org'], ['bob@example.org'], ['manager@example.org']]
    for mail in personal:
        assert mail.header('Cc') is None


def test_sender_settings(env, smtp_server):
    env.config.set('notification', 'smtp_from', 'cron@example.org')
    env.config.set('notification', 'smtp_from_name', 'Trac Cron')
    env.config.set('notification', 'smtp_replyto', 'help@example.org')

    run_task(env, 'unreachable_milestone')

    for mail in smtp_server.take():
        assert mail.mail_from == 'cron@example.org'
        assert mail.header('From') == 'Trac Cron <cron@example.org>'
        assert mail.header('Reply-To') == 'help@example.org'
        assert mail.header('X-Trac-Realm').startswith('traccron.')
        assert mail.header('In-Reply-To') is None


def test_email_sender_is_the_configured_one(env, smtp_server, tmp_path):
    out = tmp_path / 'sendmail.out'
    script = tmp_path / 'sendmail'
    script.write_text('#!%s\nimport sys\nopen(%r, "a").write(" ".join('
                      'sys.argv[1:]) + "\\n" + sys.stdin.read())\n'
                      % (sys.executable, str(out)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env.config.set('notification', 'email_sender', 'SendmailEmailSender')
    env.config.set('notification', 'sendmail_path', str(script))
    env.config.set('traccron', 'unreachable_milestone.recipient',
                   'qa@example.com')

    row = run_task(env, 'unreachable_milestone')

    assert row.status == 'success'
    assert smtp_server.take() == []
    text = out.read_text()
    assert '-i -f trac@example.org qa@example.com\n' in text
    assert 'Subject: [My Project] ' + SUBJECT in text


def test_template_overridden_in_env_templates(env, smtp_server):
    os.makedirs(env.templates_dir, exist_ok=True)
    with open(os.path.join(env.templates_dir,
                           'traccron_unreachable_milestone.txt'), 'w') as f:
        f.write('Milestone ${milestone.name}:\n'
                '# for t in milestone.tickets:\n'
                '${t.ref} (${t.owner})\n'
                '# endfor\n')

    run_task(env, 'unreachable_milestone')

    manager = [m for m in smtp_server.take()
               if m.rcpt_tos == ['manager@example.org']]
    assert manager[0].body == 'Milestone m1:\n#1 (alice)\n'


def test_broken_template_is_recorded_as_failure(env, smtp_server):
    os.makedirs(env.templates_dir, exist_ok=True)
    with open(os.path.join(env.templates_dir,
                           'traccron_unreachable_milestone.txt'), 'w') as f:
        f.write('${milestone.name\n')

    row = run_task(env, 'unreachable_milestone')

    assert row.status == 'failure'
    assert 'could not send to manager@example.org: template ' \
           'traccron_unreachable_milestone.txt: ' in row.message
    # The other mails went out.
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['alice@example.org'], ['bob@example.org']]


def test_resolve():
    env = mail_env(None)
    try:
        add_user(env, 'alice', 'alice@example.org')
        add_user(env, 'bob')
        found, unresolved = CronMailer(env).resolve(
            ['alice', 'bob', 'x@example.com', 'Y <y@example.com>', 'alice',
             'anonymous', '', 'alice@example.org'])
        assert found == [('alice', 1, 'alice@example.org'),
                         (None, 0, 'x@example.com'),
                         (None, 0, 'y@example.com')]
        assert unresolved == ['bob']
    finally:
        env.reset_db()


def test_configured_address_resolvers_are_asked(tmp_path, smtp_server):
    env = mail_env(tmp_path, smtp_server, enable=[DirectoryResolver],
                   notification={'email_address_resolvers':
                                 'SessionEmailResolver, DirectoryResolver'})
    try:
        add_user(env, 'alice', 'alice@example.org')
        found, unresolved = CronMailer(env).resolve(['alice', 'ghost',
                                                     'nobody'])
        assert found == [('alice', 1, 'alice@example.org'),
                         ('ghost', 1, 'ghost@corp.example.com')]
        assert unresolved == ['nobody']
    finally:
        env.reset_db()
