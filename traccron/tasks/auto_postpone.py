# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The `auto_postpone` task: moves the open tickets of completed
milestones to the open milestone with the earliest due date.

The change goes through Trac's ticket model, with a comment by
`auto_postpone`, so it shows in the ticket's history and Trac sends its
usual ticket change notification. Milestones without a due date are not
targets: when no open milestone has one, nothing moves.
"""

import time

from trac.core import Component, implements
from trac.notification.api import NotificationSystem
from trac.ticket.model import Ticket
from trac.ticket.notification import TicketChangeEvent
from trac.util.text import exception_to_unicode

from traccron.api import ICronTask, current_run
from traccron.notification import error_text
from traccron.tasks import stopped_early, time_is_up
from traccron.times import from_us, now_us

AUTHOR = 'auto_postpone'


class AutoPostponeTask(Component):
    """Moves the tickets still open in completed milestones to the open
    milestone with the earliest due date, with a comment."""

    implements(ICronTask)

    clock = time  # replaced by tests

    def wake_up(self, *args):
        target = self.target_milestone()
        if target is None:
            self._note('no open milestone with a due date: nothing '
                       'postponed')
            return
        now = from_us(now_us(self.clock))
        moved, notes = [], []
        ids = self.tickets_to_postpone()
        for done, id in enumerate(ids):
            if time_is_up():
                notes.append(stopped_early(done, len(ids)))
                break
            ticket = Ticket(self.env, id)
            old = ticket['milestone']
            ticket['milestone'] = target
            comment = ('Milestone %s is completed: ticket postponed to %s.'
                       % (old, target))
            if not ticket.save_changes(AUTHOR, comment, when=now):
                continue
            moved.append('#%s' % id)
            event = TicketChangeEvent('changed', ticket, now, AUTHOR,
                                      comment)
            try:
                NotificationSystem(self.env).notify(event)
            except Exception as e:
                self.log.error('auto_postpone: notification of ticket #%s '
                               'failed: %s', id,
                               exception_to_unicode(e, traceback=True))
                notes.append('notification of #%s failed: %s'
                             % (id, error_text(e)))
        self._note('\n'.join(['%d ticket(s) postponed to %s%s'
                              % (len(moved), target,
                                 (': ' + ', '.join(moved)) if moved else '')]
                             + notes))

    def target_milestone(self):
        """The open milestone with the earliest due date, or `None`."""
        for name, in self.env.db_query("""
                SELECT name FROM milestone
                WHERE (completed IS NULL OR completed = 0) AND due > 0
                ORDER BY due, name
                LIMIT 1
                """):
            return name
        return None

    def tickets_to_postpone(self):
        """The ids of the open tickets in completed milestones."""
        return [id for id, in self.env.db_query("""
                SELECT t.id FROM ticket AS t
                 INNER JOIN milestone AS m ON m.name = t.milestone
                WHERE m.completed > 0 AND t.status != 'closed'
                ORDER BY t.id
                """)]

    def _note(self, text):
        self.log.info('auto_postpone: %s', text)
        run = current_run()
        if run is not None:
            run.message = text

    def getId(self):
        return 'auto_postpone'

    def getDescription(self):
        return self.__doc__
