# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1), and the
`[notification]` settings that make Trac's `SmtpEmailSender` use it."""

import email
import email.policy

from aiosmtpd.controller import Controller

from tracd import free_port

HOST = '127.0.0.1'


class Mail(object):
    """A received mail: the SMTP envelope and the parsed message."""

    def __init__(self, envelope):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = sorted(envelope.rcpt_tos)
        self.message = email.message_from_bytes(envelope.original_content,
                                                policy=email.policy.default)

    @property
    def subject(self):
        # A long subject may be folded right after "Subject:"; a mail
        # reader drops the whitespace left by unfolding, and so do we.
        return str(self.message['Subject']).strip()

    @property
    def body(self):
        part = self.message.get_body(('plain',))
        return part.get_content().replace('\r\n', '\n')

    def header(self, name):
        value = self.message[name]
        return None if value is None else str(value)

    def __repr__(self):
        return '<Mail %s %r>' % (self.rcpt_tos, self.subject)


class _Handler(object):

    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address in self.server.refuse:
            return '550 5.1.1 <%s>: Recipient address rejected' % address
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.server.mails.append(Mail(envelope))
        return '250 Message accepted for delivery'


class SmtpServer(object):
    """An SMTP server on a free port of 127.0.0.1 that keeps the mails it
    receives in `mails`; `refuse` holds recipient addresses it rejects.
    `stop()` makes the port refuse connections until `start()`."""

    def __init__(self):
        self.port = free_port()
        self.mails = []
        self.refuse = set()
        self._controller = None

    def start(self):
        self._controller = Controller(_Handler(self), hostname=HOST,
                                      port=self.port)
        self._controller.start()

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def options(self):
        """`[notification]` settings that send through this server."""
        return {
            'smtp_enabled': 'true',
            'smtp_server': HOST,
            'smtp_port': str(self.port),
            'email_sender': 'SmtpEmailSender',
            'smtp_from': 'trac@example.org',
            'smtp_replyto': 'noreply@example.org',
        }

    def configure(self, env):
        for key, value in self.options().items():
            env.config.set('notification', key, value)

    def take(self):
        """The mails received since the last call, sorted by recipients
        then subject."""
        mails, self.mails = self.mails, []
        return sorted(mails, key=lambda m: (m.rcpt_tos, m.subject))


# Trac environments with tickets, milestones and users, for the mail tests

def mail_env(tmp_path, server=None, config=None, notification=None,
             enable=()):
    """An EnvironmentStub (in-memory SQLite) with Trac, TracCron and
    `enable` enabled, the TracCron tables created, `[traccron] timezone =
    UTC`, and mail going to `server` (if given)."""
    from support import make_stub
    from traccron.tasks.ticket_deadline import TicketDeadlineSetup
    settings = {'timezone': 'UTC'}
    settings.update(config or {})
    env = make_stub(enable=['trac.*'] + list(enable), config=settings,
                    tmp_path=tmp_path)
    TicketDeadlineSetup(env).upgrade_environment()
    if server is not None:
        server.configure(env)
    for key, value in (notification or {}).items():
        env.config.set('notification', key, value)
    return env


def add_user(env, sid, email=None, name=None):
    """A known (authenticated) user, with an email address in their
    preferences if `email` is given."""
    with env.db_transaction as db:
        db("INSERT INTO session (sid, authenticated, last_visit) "
           "VALUES (%s, 1, 0)", (sid,))
        for attr, value in (('email', email), ('name', name)):
            if value:
                db("INSERT INTO session_attribute "
                   "(sid, authenticated, name, value) VALUES (%s, 1, %s, %s)",
                   (sid, attr, value))
    env.invalidate_known_users_cache()


def add_ticket(env, created, changed=None, **fields):
    """A ticket created at `created`, last changed at `changed` (a
    comment), with `fields`; returns its id."""
    from trac.ticket.model import Ticket
    ticket = Ticket(env)
    values = {'summary': 'Ticket', 'status': 'new', 'owner': '',
              'reporter': 'anonymous'}
    values.update(fields)
    ticket.populate(values)
    id = ticket.insert(when=created)
    if changed is not None:
        ticket = Ticket(env, id)
        ticket.save_changes('somebody', 'Still on it.', when=changed)
    return id


def add_milestone(env, name, due=None, completed=None):
    from trac.ticket.model import Milestone
    milestone = Milestone(env)
    milestone.name = name
    milestone.due = due
    milestone.completed = completed
    milestone.insert()


SIGNATURE = ('Best regards.\n\n-- \n'
             'My Project <http://example.org/trac.cgi>\n'
             'My example project\n')


def url(id):
    return 'http://example.org/trac.cgi/ticket/%s' % id


def run_task(env, task_id, *args):
    """Run a task at once through the core, as "Run now" does; returns
    its history row."""
    from support import rows
    from traccron.core import Core
    Core(env).run_now(task_id, list(args), wait=True)
    return rows(env, task_id)[-1]
