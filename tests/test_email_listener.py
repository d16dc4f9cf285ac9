# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The email_task_event listener: one summary mail per `limit` runs."""

from datetime import datetime, timezone

import pytest

from smtp import add_user, mail_env
from support import StubTask, rows
from traccron.core import Core

UTC = timezone.utc
START = datetime(2026, 3, 10, 8, 5, 3, tzinfo=UTC)
FOOTER = ('\n-- \nMy Project <http://example.org/trac.cgi>\n'
          'My example project\n')


class BoomTask(StubTask):
    """Fails, for the tests."""

    task_id = 'boom'

    def wake_up(self, *args):
        raise ValueError('boom: %s' % ' '.join(args))


class TickingClock(object):
    """Each reading is 1.5 s after the previous one."""

    def __init__(self, start):
        self.now = start.timestamp()

    def time(self):
        self.now += 1.5
        return self.now


@pytest.fixture
def env(tmp_path, smtp_server):
    env = mail_env(tmp_path, smtp_server, enable=[BoomTask], config={
        'timezone': 'Europe/Paris',
        'email_task_event.recipient': 'admin, ops@example.com',
        'email_task_event.limit': '3',
    })
    add_user(env, 'admin', 'admin@example.org')
    env.clock = TickingClock(START)
    yield env
    env.reset_db()


def run(env, task_id, *args):
    Core(env).run_now(task_id, list(args), wait=True, clock=env.clock)
    return rows(env)[-1]


def block(row, tz='Europe/Paris'):
    """The lines of the mail for the history row of a run."""
    from zoneinfo import ZoneInfo

    def local(us):
        return datetime.fromtimestamp(us / 1e6, ZoneInfo(tz)) \
            .strftime('%Y-%m-%d %H:%M:%S')
    text = 'task[%s] started at %s ended at %s %s\n' % (
        row.task, local(row.started), local(row.ended),
        'success' if row.status == 'success' else 'FAILURE')
    if row.status != 'success':
        text += ''.join('    %s\n' % line
                        for line in row.message.rstrip().splitlines())
    return text


def test_limit_3_sends_one_mail_after_three_runs(env, smtp_server):
    first = run(env, 'heart_beat')
    second = run(env, 'boom', 'x')
    assert smtp_server.take() == []

    third = run(env, 'heart_beat')

    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['admin@example.org'],
         '[My Project] Trac Cron: 3 task runs, 1 failure'),
        (['ops@example.com'],
         '[My Project] Trac Cron: 3 task runs, 1 failure'),
    ]
    assert mails[0].body == mails[1].body == (
        'These tasks have been run by Trac Cron (times in Europe/Paris):\n'
        '\n'
        'task[heart_beat] started at 2026-03-10 09:05:04 ended at '
        '2026-03-10 09:05:06 success\n'
        'task[boom] started at 2026-03-10 09:05:07 ended at '
        '2026-03-10 09:05:09 FAILURE\n'
        + ''.join('    %s\n' % line
                  for line in second.message.rstrip().splitlines()) +
        'task[heart_beat] started at 2026-03-10 09:05:10 ended at '
        '2026-03-10 09:05:12 success\n'
        + FOOTER)
    assert mails[0].body.count('    ValueError: boom: x\n') == 1
    assert [first.status, second.status, third.status] == [
        'success', 'failure', 'success']

    # The next mail comes after three more runs.
    run(env, 'heart_beat')
    run(env, 'heart_beat')
    assert smtp_server.take() == []
    run(env, 'heart_beat')
    assert [m.subject for m in smtp_server.take()] == [
        '[My Project] Trac Cron: 3 task runs, 0 failures'] * 2


def test_only_error_successes_never_count(env, smtp_server):
    env.config.set('traccron', 'email_task_event.only_error', 'true')
    env.config.set('traccron', 'email_task_event.limit', '2')

    run(env, 'heart_beat')
    first = run(env, 'boom', 'one')
    for i in range(3):
        run(env, 'heart_beat')
    assert smtp_server.take() == []

    second = run(env, 'boom', 'two')

    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['admin@example.org'],
         '[My Project] Trac Cron: 2 task runs, 2 failures'),
        (['ops@example.com'],
         '[My Project] Trac Cron: 2 task runs, 2 failures'),
    ]
    assert mails[0].body == (
        'These tasks have been run by Trac Cron (times in Europe/Paris):\n'
        '\n' + block(first) + block(second) + FOOTER)


def test_default_limit_mails_every_run(env, smtp_server):
    env.config.remove('traccron', 'email_task_event.limit')
    env.config.set('traccron', 'timezone', 'UTC')
    env.config.set('traccron', 'email_task_event.recipient', 'admin')

    row = run(env, 'heart_beat')

    mails = smtp_server.take()
    assert [(m.rcpt_tos, m.subject) for m in mails] == [
        (['admin@example.org'],
         '[My Project] Trac Cron: 1 task run, 0 failures')]
    assert mails[0].body == (
        'These tasks have been run by Trac Cron (times in UTC):\n\n'
        'task[heart_beat] started at 2026-03-10 08:05:04 ended at '
        '2026-03-10 08:05:06 success\n' + FOOTER)
    assert block(row, 'UTC') in mails[0].body


def test_no_recipient_no_mail(env, smtp_server):
    env.config.set('traccron', 'email_task_event.recipient', '')
    env.config.set('traccron', 'email_task_event.limit', '1')

    run(env, 'heart_beat')
    run(env, 'boom')

    assert smtp_server.take() == []


@pytest.mark.parametrize('value', ['²', '0', 'x'])
def test_invalid_limit_mails_every_run_as_the_default(env, smtp_server,
                                                      value):
    """An invalid limit used to fail the listener on every run: no mail
    at all, and a failure note in every run's history."""
    env.config.set('traccron', 'email_task_event.limit', value)

    row = run(env, 'heart_beat')

    assert row.status == 'success'
    assert row.message == ''
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['admin@example.org'], ['ops@example.com']]
    assert [p.key for p in Core(env).check()] == ['email_task_event.limit']


def test_disabled_listener_sends_nothing(env, smtp_server):
    env.config.set('traccron', 'email_task_event.enabled', 'false')
    env.config.set('traccron', 'email_task_event.limit', '1')

    run(env, 'heart_beat')

    assert smtp_server.take() == []


def test_mail_failure_is_recorded_and_does_not_fail_the_run(env,
                                                            smtp_server):
    env.config.set('traccron', 'email_task_event.limit', '1')
    smtp_server.stop()

    row = run(env, 'heart_beat')

    assert row.status == 'success'
    assert 'listener email_task_event failed in onEndTask' in row.message
    assert 'could not send to admin@example.org: SMTP server connection ' \
           'error' in row.message
    assert 'could not send to ops@example.com: SMTP server connection ' \
           'error' in row.message

    smtp_server.start()
    row = run(env, 'heart_beat')
    assert row.status == 'success'
    assert row.message == ''
    assert [m.rcpt_tos for m in smtp_server.take()] == [
        ['admin@example.org'], ['ops@example.com']]


def test_only_error_mails_the_final_failure_after_its_retries(env,
                                                              smtp_server):
    """With retries, only_error mails the last failed attempt of an
    occurrence, saying after how many attempts it failed; without
    only_error, each attempt is listed and says whether it is tried
    again."""
    env.config.set('traccron', 'email_task_event.only_error', 'true')
    env.config.set('traccron', 'email_task_event.limit', '1')
    env.config.set('traccron', 'boom.retry_delay', '0')
    Core(env).run_now('boom', ['x'], wait=True, clock=env.clock, retries=2)
    attempts = rows(env)
    assert [(r.attempt, r.status) for r in attempts] == [
        (1, 'failure'), (2, 'failure'), (3, 'failure')]
    mails = smtp_server.take()
    assert [m.subject for m in mails] == [
        '[My Project] Trac Cron: 1 task run, 1 failure'] * 2
    last = block(attempts[-1]).replace(
        'FAILURE\n', 'FAILURE (failed after 3 attempts)\n', 1)
    assert mails[0].body == (
        'These tasks have been run by Trac Cron (times in Europe/Paris):\n'
        '\n' + last + FOOTER)

    env.config.set('traccron', 'email_task_event.only_error', 'false')
    env.config.set('traccron', 'email_task_event.limit', '2')
    Core(env).run_now('boom', ['y'], wait=True, clock=env.clock, retries=1)
    first, second = rows(env)[-2:]
    mails = smtp_server.take()
    assert len(mails) == 2
    assert mails[0].body == (
        'These tasks have been run by Trac Cron (times in Europe/Paris):\n'
        '\n' + block(first).replace(
            'FAILURE\n', 'FAILURE (attempt 1, tried again)\n', 1) +
        block(second).replace(
            'FAILURE\n', 'FAILURE (failed after 2 attempts)\n', 1) + FOOTER)
