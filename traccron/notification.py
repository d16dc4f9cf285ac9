# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The mails of the bundled tasks and of the email listener.

They go through Trac's notification system: a `CronMailEvent` per mail,
an `INotificationFormatter` per kind of mail rendering a Jinja2 text
template (`traccron_<kind>.txt`, which an administrator can override by
putting a file of the same name in `ENV/templates/`), Trac's
`EmailDistributor` with every `[notification]` setting, and an
`IEmailDecorator` that sets `Subject:`.

Each recipient gets the mail in an SMTP transaction of their own (with
their address in `To:`), and the `smtp_always_cc`/`smtp_always_bcc`
addresses get one more copy: a refused recipient or a broken connection
then affects only that recipient, and is reported.
"""

import copy
import smtplib
from datetime import datetime

import pkg_resources

from trac.core import Component, ExtensionPoint, TracError, implements
from trac.notification.api import (IEmailDecorator, INotificationFormatter,
                                   NotificationEvent, NotificationSystem)
from trac.notification.mail import (AlwaysEmailSubscriber, EmailDistributor,
                                    RecipientMatcher, set_header)
from trac.ticket.api import translation_deactivated
from trac.util.datefmt import utc
from trac.util.html import plaintext
from trac.util.text import exception_to_unicode, to_unicode
from trac.web.chrome import Chrome, ITemplateProvider

from traccron.api import current_run
from traccron.times import from_us

__all__ = ['CronAlertEvent', 'CronMailEvent', 'CronMailer', 'Delivery',
           'MailError', 'notify_alert']

REALM_PREFIX = 'traccron.'


def realm_of(kind):
    """The notification realm of the mails of `kind`."""
    return REALM_PREFIX + kind


class CronMailEvent(NotificationEvent):
    """One mail of TracCron.

    `kind` selects the formatter (and so the template and subject);
    `data` is what the template renders; `target` identifies the mail
    (it goes into the `Message-ID`)."""

    def __init__(self, kind, data, target, time=None, author='traccron'):
        super().__init__(realm_of(kind), 'reminder', target,
                         time or datetime.now(utc), author)
        self.kind = kind
        self.data = data
        self.address = None  # set for the transaction to one recipient


#: The realm of the alerts' notifications (`traccron.alerts`); their
#: category is the kind of alert.
ALERT_REALM = 'traccron'


class CronAlertEvent(NotificationEvent):
    """An alert of `traccron.alerts` as a notification: its `category`
    is the alert's kind (`failure`, `timeout`, `overdue`,
    `recovered`), its `target` the `Alert`."""

    def __init__(self, alert):
        super().__init__(ALERT_REALM, alert.kind, alert,
                         from_us(alert.time),
                         'traccron')
        self.alert = alert
        self.task_id = alert.task_id


def notify_alert(env, alert):
    """Hand `alert` to Trac's notification system, which mails the
    users whose subscriptions match it."""
    NotificationSystem(env).notify(CronAlertEvent(alert))


class MailError(Exception):
    """Some mails of a run could not be sent."""


class Delivery(object):
    """What became of the mails of one run: the addresses that were sent
    to, those that failed with the error, and the recipients that have
    no usable email address."""

    def __init__(self):
        self.mails = 0
        self.sent = []
        self.failed = []      # (address, error text)
        self.unresolved = []  # recipient as given
        self.disabled = False

    def summary(self):
        """A one-paragraph account, for the run's history message."""
        if self.disabled:
            return ('mail disabled ([notification] smtp_enabled = false): '
                    'nothing sent')
        lines = ['%d mail(s), %d message(s) sent'
                 % (self.mails, len(self.sent))]
        if self.sent:
            lines[0] += ' to: ' + ', '.join(sorted(set(self.sent)))
        if self.unresolved:
            lines.append('no email address for: %s'
                         % ', '.join(sorted(set(self.unresolved))))
        for address, error in self.failed:
            lines.append('could not send to %s: %s' % (address, error))
        return '\n'.join(lines)

    def record(self, note=None):
        """Put the summary (after `note`) in the history message of the
        current run, and raise `MailError` if a mail failed, so that the
        run is recorded as a failure."""
        text = '\n'.join(filter(None, [note, self.summary()]))
        run = current_run()
        if run is not None:
            run.message = text
        if self.failed:
            raise MailError(text)
        return text


class CronMailFormatter(Component):
    """Base of the formatters: renders `traccron_<kind>.txt` with the
    event's data, and gives the subject."""

    abstract = True

    implements(INotificationFormatter)

    kind = None

    @property
    def template(self):
        return 'traccron_%s.txt' % self.kind

    def subject(self, event):
        """The subject, without the `smtp_subject_prefix`."""
        raise NotImplementedError

    # INotificationFormatter methods

    def get_supported_styles(self, transport):
        if transport == 'email':
            yield 'text/plain', realm_of(self.kind)

    def format(self, transport, style, event):
        if event.realm != realm_of(self.kind):
            return None
        data = dict(event.data)
        data['project'] = {
            'name': self.env.project_name,
            'descr': self.env.project_description,
            'url': self.env.project_url or self.env.abs_href(),
        }
        chrome = Chrome(self.env)
        with translation_deactivated():
            template = chrome.load_template(self.template, text=True)
            body = chrome.render_template_string(template, data, text=True)
        return body.encode('utf-8')


def _plural(count, singular, plural):
    return '%d %s' % (count, singular if count == 1 else plural)


class SleepingTicketFormatter(CronMailFormatter):
    """Formats the reminder of `sleeping_ticket`: a person's sleeping and
    orphaned tickets."""

    kind = 'sleeping_ticket'

    def subject(self, event):
        data = event.data
        count = len(data['sleeping']) + len(data['orphaned'])
        return 'Reminder: %s with no change for more than %s' % (
            _plural(count, 'ticket', 'tickets'),
            _plural(data['days'], 'day', 'days'))


class UnreachableMilestoneFormatter(CronMailFormatter):
    """Formats the mail of `unreachable_milestone` to the release
    managers: the open tickets of one milestone that is due soon."""

    kind = 'unreachable_milestone'

    def subject(self, event):
        milestone = event.data['milestone']
        return 'Milestone %s is due on %s: %s still open' % (
            milestone['name'], milestone['due'],
            _plural(len(milestone['tickets']), 'ticket', 'tickets'))


class UnreachableMilestoneUserFormatter(CronMailFormatter):
    """Formats the mail of `unreachable_milestone` to an owner or reporter:
    their own open tickets in milestones that are due soon."""

    kind = 'unreachable_milestone_user'

    def subject(self, event):
        milestones = event.data['milestones']
        tickets = _plural(sum(len(m['tickets']) for m in milestones),
                          'open ticket', 'open tickets')
        if len(milestones) == 1:
            return '%s of yours in milestone %s, due on %s' % (
                tickets, milestones[0]['name'], milestones[0]['due'])
        return '%s of yours in milestones due soon: %s' % (
            tickets, ', '.join(m['name'] for m in milestones))


class TicketDeadlineFormatter(CronMailFormatter):
    """Formats the warning of `ticket_deadline` about one ticket."""

    kind = 'ticket_deadline'

    def subject(self, event):
        data = event.data
        return 'Ticket %s: %s (due %s)' % (data['ticket']['ref'],
                                           data['ticket']['summary'],
                                           data['deadline'])


class TaskEventFormatter(CronMailFormatter):
    """Formats the summary of task runs of `email_task_event`."""

    kind = 'task_event'

    def subject(self, event):
        runs = event.data['runs']
        failures = sum(1 for r in runs if not r['success'])
        return 'Trac Cron: %s, %s' % (_plural(len(runs), 'task run',
                                              'task runs'),
                                      _plural(failures, 'failure',
                                              'failures'))


class CronMailer(Component):
    """Sends the mails of TracCron through Trac's notification system and
    sets their `Subject:` and `To:`."""

    implements(IEmailDecorator, ITemplateProvider)

    formatters = ExtensionPoint(INotificationFormatter)

    def send(self, event, recipients, delivery=None):
        """Send `event` to `recipients` (user names or addresses), one SMTP
        transaction per address, plus one for the `smtp_always_cc` and
        `smtp_always_bcc` addresses. Returns the `Delivery`, which never
        raises: failures are logged and listed in it."""
        if delivery is None:
            delivery = Delivery()
        notify_sys = NotificationSystem(self.env)
        if not notify_sys.smtp_enabled:
            self.log.info('TracCron mail "%s" not sent: [notification] '
                          'smtp_enabled is false', event.realm)
            delivery.disabled = True
            return delivery
        personal, unresolved = self.resolve(recipients)
        delivery.unresolved.extend(unresolved)
        for name in unresolved:
            self.log.warning('TracCron: no email address for "%s", mail '
                             '"%s" not sent to them', name, event.realm)
        if not personal:
            return delivery  # The always_cc get copies of real mails only.
        delivery.mails += 1
        error = self._check_format(event)
        if error:
            delivery.failed.extend((addr, error) for sid, auth, addr
                                   in personal)
            return delivery
        addresses = set(addr for sid, auth, addr in personal)
        for sid, auth, addr in personal:
            single = copy.copy(event)
            single.address = addr
            self._distribute(single, [(sid, auth, addr)], [addr], delivery)
        always = [r for r in self._always_recipients(event)
                  if r[2] not in addresses]
        if always:
            self._distribute(event, always, [r[2] for r in always],
                             delivery)
        return delivery

    def resolve(self, recipients):
        """Map user names to their email addresses (from their preferences,
        or with `smtp_default_domain`); addresses are kept as they are.
        Returns `([(sid, authenticated, address)], [unresolved names])`,
        each address once."""
        matcher = RecipientMatcher(self.env)
        found, unresolved, seen = [], [], set()
        for name in recipients:
            name = (name or '').strip()
            if not name or name == 'anonymous':
                continue
            match = matcher.match_recipient(name) or \
                self._from_resolvers(matcher, name)
            if not match or not match[2]:
                unresolved.append(name)
            elif match[2] not in seen:
                seen.add(match[2])
                found.append(match)
        return found, unresolved

    def _from_resolvers(self, matcher, name):
        """Ask the `[notification] email_address_resolvers` for the
        address of a user name that Trac's matcher could not resolve."""
        for resolver in EmailDistributor(self.env).resolvers:
            address = resolver.get_address_for_session(name, 1)
            if address and matcher.is_email(address):
                return name, 1, address
        return None

    def _always_recipients(self, event):
        if not self.env.is_component_enabled(AlwaysEmailSubscriber):
            return []
        return [(sid, auth, addr) for (klass, distributor, sid, auth, addr,
                                       fmt, priority, adverb)
                in AlwaysEmailSubscriber(self.env).matches(event)
                if adverb == 'always' and addr]

    def _distribute(self, event, recipients, addresses, delivery):
        subscriptions = [(sid, auth, addr, 'email', 'text/plain')
                         for sid, auth, addr in recipients]
        try:
            NotificationSystem(self.env).distribute_event(event,
                                                          subscriptions)
        except Exception as e:
            error = error_text(e)
            self.log.error('TracCron could not send mail "%s" to %s: %s',
                           event.realm, ', '.join(addresses),
                           exception_to_unicode(e, traceback=True))
            delivery.failed.extend((addr, error) for addr in addresses)
        else:
            delivery.sent.extend(addresses)

    def _check_format(self, event):
        """Render the mail once: Trac's distributor only logs a broken
        template and sends nothing, so report it here instead."""
        formatter = self._formatter(event.realm)
        if formatter is None:
            return 'no enabled formatter for %s' % event.realm
        try:
            formatter.format('email', 'text/plain', event)
        except Exception as e:
            self.log.error('TracCron could not format mail "%s": %s',
                           event.realm,
                           exception_to_unicode(e, traceback=True))
            return 'template %s: %s' % (formatter.template, error_text(e))
        return None

    def _formatter(self, realm):
        for formatter in self.formatters:
            if isinstance(formatter, CronMailFormatter) and \
                    realm_of(formatter.kind) == realm:
                return formatter
        return None

    # IEmailDecorator methods

    def decorate_message(self, event, message, charset):
        if not isinstance(event, CronMailEvent):
            return
        formatter = self._formatter(event.realm)
        if formatter is not None:
            prefix = self.config.get('notification', 'smtp_subject_prefix')
            if prefix == '__default__':
                prefix = '[%s]' % self.env.project_name
            with translation_deactivated():
                subject = one_line(formatter.subject(event))
            set_header(message, 'Subject',
                       ' '.join(filter(None, [prefix, subject])))
        # No earlier mail to reply to: each mail stands on its own.
        for name in ('In-Reply-To', 'References'):
            del message[name]
        if event.address:
            for name in ('Cc', 'Bcc'):
                del message[name]
            set_header(message, 'To', addresses=[event.address])

    # ITemplateProvider methods

    def get_htdocs_dirs(self):
        return []

    def get_templates_dirs(self):
        return [pkg_resources.resource_filename('traccron', 'templates')]


def one_line(text):
    """`text` on one line, for a mail header built from ticket data: a
    line break would end the header (and refuse the mail)."""
    return ' '.join(filter(None, (line.strip()
                                  for line in (text or '').splitlines())))


def error_text(e):
    """An exception as one line of plain text."""
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return 'refused by the SMTP server: ' + '; '.join(
            '%s %s' % (code, to_unicode(reply))
            for code, reply in e.recipients.values())
    if isinstance(e, TracError):
        return plaintext(str(e.message), keeplinebreaks=False).strip()
    return exception_to_unicode(e)


def ticket_data(env, id, summary, status, owner, reporter, **more):
    """A ticket as the mail templates see it."""
    data = {'id': id, 'ref': '#%s' % id, 'summary': summary or '',
            'url': env.abs_href.ticket(id), 'status': status or '',
            'owner': owner or '', 'reporter': reporter or ''}
    data.update(more)
    return data
