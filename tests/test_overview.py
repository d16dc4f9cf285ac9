# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The Overview panel through Trac's request dispatcher: a row per task,
failing and overdue tasks first, next run, last run, the recent
outcomes, the enabled switch and Run now with arguments (CRON_ADMIN,
POST with the form token), and schedules in words."""

import re
import threading
from datetime import datetime, timezone

import pytest
from trac.perm import PermissionSystem
from trac.util.translation import Locale, deactivate, make_activable

from traccron import history
from traccron import ticker as ticker_module
from traccron.present import schedule_words
from traccron.web import overview
from traccron.web.common import CronWebModule

from support import StubTask, dispatch, make_env, us

UTC = timezone.utc
#: "Now" of these tests: Tuesday 10 March 2026 at noon, UTC.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MINUTE = 60_000_000


class RecorderTask(StubTask):
    """Records the arguments of each run."""

    task_id = 'recorder'
    calls = []

    def wake_up(self, *args):
        RecorderTask.calls.append(args)


class ZzFailingTask(StubTask):
    """Fails every time."""

    task_id = 'zz_failing'

    def wake_up(self, *args):
        raise RuntimeError('broken')


def call(env, user='admin', method='GET', args=None, token=True,
         path_info='/admin/traccron/cron_overview', locale=None):
    return dispatch(env, path_info, user, method, args, token, locale)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setattr(ticker_module, 'ensure_ticker', lambda env: None)
    monkeypatch.setattr(overview, '_now', lambda: us(NOW))
    env = make_env(tmp_path / 'env', enable=[__name__ + '.*'],
                   config={'ticker_enabled': 'false',
                           'timezone': 'Europe/Paris',
                           'heart_beat.daily': '21h19',
                           'recorder.hourly': '17',
                           'recorder.cron': '*/5 * * * *',
                           'zz_failing.weekly': '4@21h28'})
    perms = PermissionSystem(env)
    perms.grant_permission('admin', 'TRAC_ADMIN')
    perms.grant_permission('viewer', 'CRON_VIEW')
    RecorderTask.calls = []
    yield env
    env.shutdown()


def add_row(env, task, status, fire_time, schedule='daily', seconds=1.5):
    with env.db_transaction as db:
        db("""INSERT INTO cron_history (task, schedule, fire_time, started,
                ended, status, message, runner, heartbeat)
              VALUES (%s, %s, %s, %s, %s, %s, '', 'host:1', %s)""",
           (task, schedule, fire_time, fire_time,
            None if status == 'running' else
            fire_time + int(seconds * 1_000_000), status, fire_time))


def row_ids(body):
    return re.findall(r'<tr id="overview-([^"]+)"', body)


def row(body, task):
    return re.search(r'<tr id="overview-%s".*?</tr>' % task, body,
                     re.S).group(0)


def cell(body, task, name):
    return ' '.join(re.search(r'<td class="%s"[^>]*>(.*?)</td>' % name,
                              row(body, task), re.S).group(1).split())


def ini_value(env, key):
    env.config.parse_if_needed(force=True)
    return env.config.get('traccron', key)


def wait_for_runs():
    for thread in threading.enumerate():
        if thread.name.startswith('traccron-run-'):
            thread.join(30)


# Rows and their order ------------------------------------------------------

def test_a_row_per_task_in_order_of_id(env):
    body = call(env).body
    ids = row_ids(body)
    assert ids == sorted(ids)
    assert {'heart_beat', 'recorder', 'zz_failing'} <= set(ids)
    assert 'Records the arguments of each run.' in row(body, 'recorder')


def test_a_failing_task_comes_first(env):
    add_row(env, 'zz_failing', 'success', us(NOW) - 60 * MINUTE)
    add_row(env, 'zz_failing', 'failure', us(NOW) - 30 * MINUTE)
    body = call(env).body
    assert row_ids(body)[0] == 'zz_failing'
    assert 'cron-failing' in row(body, 'zz_failing')
    assert '1 failing' in body


def test_a_task_that_succeeded_after_failing_is_not_first(env):
    add_row(env, 'zz_failing', 'failure', us(NOW) - 60 * MINUTE)
    add_row(env, 'zz_failing', 'success', us(NOW) - 30 * MINUTE)
    assert row_ids(call(env).body)[-1] == 'zz_failing'


def test_an_overdue_task_comes_first(env):
    # heart_beat last ran two days ago at its daily time: yesterday's
    # occurrence was never recorded.
    add_row(env, 'heart_beat', 'success',
            us(datetime(2026, 3, 8, 20, 19, tzinfo=UTC)))
    body = call(env).body
    assert row_ids(body)[0] == 'heart_beat'
    assert 'overdue' in cell(body, 'heart_beat', 'cron-task')


def test_a_task_that_ran_at_its_last_occurrence_is_not_overdue(env):
    add_row(env, 'heart_beat', 'success',
            us(datetime(2026, 3, 9, 20, 19, tzinfo=UTC)))
    body = call(env).body
    assert 'cron-overdue' not in row(body, 'heart_beat')


def test_a_task_without_success_within_its_alert_after_is_overdue(env):
    env.config.set('traccron', 'recorder.alert_after', '26h')
    env.config.save()
    # Its runs are on time (every 5 minutes), but the last success is 30
    # hours old.
    add_row(env, 'recorder', 'success', us(NOW) - 30 * 60 * MINUTE,
            schedule='cron')
    add_row(env, 'recorder', 'failure', us(NOW) - 5 * MINUTE,
            schedule='cron')
    add_row(env, 'recorder', 'missed', us(NOW) - 2 * MINUTE,
            schedule='cron')
    body = call(env).body
    assert row_ids(body)[0] == 'recorder'
    assert 'cron-overdue' in row(body, 'recorder')
    # A success within the 26 hours (Run now): not overdue any more.
    add_row(env, 'recorder', 'success', us(NOW) - 25 * 60 * MINUTE,
            schedule='manual')
    assert 'cron-overdue' not in row(call(env).body, 'recorder')


# Next run, last run, recent runs ------------------------------------------

def test_next_run_and_the_time_until_it(env):
    body = call(env).body
    # 21:19 in Paris is 20:19 UTC, 8 h 19 min after NOW.
    assert 'in 8 hours' in cell(body, 'heart_beat', 'cron-next')
    assert 'in 5 minutes' in cell(body, 'recorder', 'cron-next')


def test_a_disabled_task_has_no_next_run(env):
    env.config.set('traccron', 'heart_beat.enabled', 'false')
    body = call(env).body
    assert cell(body, 'heart_beat', 'cron-next') == \
        '<span class="cron-none">&mdash;</span>'
    assert 'cron-disabled' in row(body, 'heart_beat')


def test_last_run_badge_time_and_duration(env):
    add_row(env, 'recorder', 'success', us(NOW) - 10 * MINUTE, 'hourly')
    add_row(env, 'recorder', 'failure', us(NOW) - 5 * MINUTE, 'cron', 2.25)
    last = cell(call(env).body, 'recorder', 'cron-last')
    assert '<span class="cron-status cron-status-failure">failure</span>' \
        in last
    assert '2.25 s' in last


def test_a_run_going_on_shows_its_elapsed_time(env):
    add_row(env, 'recorder', 'success', us(NOW) - 10 * MINUTE, 'hourly')
    add_row(env, 'recorder', 'running', us(NOW) - 2 * MINUTE, 'cron')
    last = cell(call(env).body, 'recorder', 'cron-last')
    assert 'cron-status-success' in last
    assert 'for 2 min 00 s' in last


def test_a_run_past_its_time_limit_says_so(env):
    add_row(env, 'recorder', 'success', us(NOW) - 10 * MINUTE, 'hourly')
    add_row(env, 'recorder', 'timeout', us(NOW) - 2 * MINUTE, 'cron')
    env.db_transaction("UPDATE cron_history SET ended=NULL "
                       "WHERE status='timeout'")
    last = cell(call(env).body, 'recorder', 'cron-last')
    assert 'cron-status-success' in last          # its last outcome
    assert '<span class="cron-status cron-status-timeout">timeout</span>' \
        in last
    assert 'running for 2 min 00 s, past its time limit' in last


def test_success_rate_and_strip_of_the_last_20_runs(env):
    for i in range(25):
        add_row(env, 'recorder', 'failure' if i % 5 == 0 else 'success',
                us(NOW) - (100 - i) * MINUTE, 'hourly')
    recent = cell(call(env).body, 'recorder', 'cron-recent')
    squares = re.findall(r'cron-square cron-square-(\w+)', recent)
    assert len(squares) == 20
    assert squares.count('failure') == 4
    assert '80% success' in recent and '16 of 20' in recent


def test_never_run(env):
    assert 'never' in cell(call(env).body, 'heart_beat', 'cron-last')


def test_the_history_is_read_once_for_every_task(env, monkeypatch):
    reads = []
    real = history.latest

    def counting(env, tasks, limit, messages=True):
        reads.append((list(tasks), limit, messages))
        return real(env, tasks, limit, messages)
    monkeypatch.setattr(history, 'latest', counting)
    body = call(env).body
    assert reads == [(sorted(row_ids(body)), overview.RECENT, False)]


def test_latest_rows_of_each_task_newest_first(env):
    for i in range(30):
        add_row(env, 'recorder' if i % 3 else 'heart_beat', 'success',
                us(NOW) - (100 - i) * MINUTE)
    latest = history.latest(env, ['recorder', 'heart_beat', 'nothing'], 5)
    assert [len(latest[t]) for t in ('recorder', 'heart_beat', 'nothing')] \
        == [5, 5, 0]
    for rows in latest.values():
        assert [r.id for r in rows] == sorted((r.id for r in rows),
                                              reverse=True)
    assert latest['recorder'][0].fire_time == us(NOW) - 71 * MINUTE
    assert latest['recorder'][0].message == ''
    without = history.latest(env, ['recorder'], 5, messages=False)
    assert [r.message for r in without['recorder']] == [None] * 5
    assert [r.id for r in without['recorder']] == \
        [r.id for r in latest['recorder']]


# Schedules in words ---------------------------------------------------------

def test_schedules_in_words_on_the_page(env):
    body = call(env).body
    assert 'every day at 21:19 (Europe/Paris)' in \
        cell(body, 'heart_beat', 'cron-schedules')
    words = cell(body, 'recorder', 'cron-schedules')
    assert 'every hour at minute 17' in words
    assert 'every 5 minutes' in words
    assert 'on Fridays at 21:28 (Europe/Paris)' in \
        cell(body, 'zz_failing', 'cron-schedules')


@pytest.mark.parametrize('type_id,value,words', [
    ('hourly', '17', 'every hour at minute 17'),
    ('daily', '21h19', 'every day at 21:19 (Europe/Paris)'),
    ('daily', '8:05', 'every day at 08:05 (Europe/Paris)'),
    ('weekly', '4@21h28', 'on Fridays at 21:28 (Europe/Paris)'),
    ('weekly', '0@6h00', 'on Mondays at 06:00 (Europe/Paris)'),
    ('monthly', '15@21h15', 'on day 15 of each month at 21:15 '
                            '(Europe/Paris)'),
    ('cron', '0 * * * * ?', 'at second 0 of every minute'),
    ('cron', '30 * * * * ?', 'at second 30 of every minute'),
    ('cron', '*/10 * * * * ?', 'every 10 seconds'),
    ('cron', '* * * * *', 'every minute'),
    ('cron', '*/5 * * * *', 'every 5 minutes'),
    ('cron', '0 0/15 * * * ?', 'every 15 minutes'),
    ('cron', '17 * * * *', 'every hour at minute 17'),
    ('cron', '19 21 * * *', 'every day at 21:19 (Europe/Paris)'),
    ('cron', '@daily', 'every day at 00:00 (Europe/Paris)'),
    ('cron', '0 15 10 ? * MON-FRI', 'on weekdays at 10:15 (Europe/Paris)'),
    ('cron', '30 6 * * 1-5', 'on weekdays at 06:30 (Europe/Paris)'),
    ('cron', '0 0 12 1 * ?', '0 0 12 1 * ?'),
    ('cron', '0 22 * * 1-5 2030', '0 22 * * 1-5 2030'),
    ('cron', '15 10 L * ?', '15 10 L * ?'),
    ('other', '42', '42'),
])
def test_schedule_in_words(type_id, value, words):
    assert schedule_words(type_id, value, 'Europe/Paris') == words


def test_schedule_in_words_in_french(env):
    CronWebModule(env)  # registers the catalog of the domain
    locale = Locale.parse('fr')
    make_activable(lambda: locale, env.path)
    try:
        assert schedule_words('weekly', '4@21h28', 'UTC') == \
            'le vendredi à 21:28 (UTC)'
        assert schedule_words('cron', '*/5 * * * *', 'UTC') == \
            'toutes les 5 minutes'
    finally:
        deactivate()


# The enabled switch ---------------------------------------------------------

def test_the_switch_disables_and_enables_a_task(env, monkeypatch):
    woken = []
    monkeypatch.setattr(overview, 'wake_ticker', woken.append)
    response = call(env, method='POST', args={'disable': 'heart_beat'})
    assert response.status == 303
    assert ini_value(env, 'heart_beat.enabled') == 'false'
    assert woken == [env]
    body = call(env).body
    assert 'Task <strong>heart_beat</strong> disabled.' in body
    assert 'name="enable" value="heart_beat"' in row(body, 'heart_beat')
    call(env, method='POST', args={'enable': 'heart_beat'})
    assert ini_value(env, 'heart_beat.enabled') == 'true'


@pytest.mark.parametrize('user', ['viewer', 'anonymous'])
@pytest.mark.parametrize('args', [{'disable': 'heart_beat'},
                                  {'run': 'recorder', 'args': 'x'}])
def test_actions_answer_403_without_cron_admin(env, user, args):
    response = call(env, user=user, method='POST', args=args)
    wait_for_runs()
    assert response.status == 403
    assert ini_value(env, 'heart_beat.enabled') in (None, '', 'true')
    assert RecorderTask.calls == []


def test_a_post_without_the_form_token_is_refused(env):
    response = call(env, method='POST', args={'disable': 'heart_beat'},
                    token=False)
    assert response.status == 400
    assert ini_value(env, 'heart_beat.enabled') in (None, '', 'true')


def test_get_changes_nothing(env):
    call(env, args={'disable': 'heart_beat', 'run': 'recorder'})
    wait_for_runs()
    assert ini_value(env, 'heart_beat.enabled') in (None, '', 'true')
    assert RecorderTask.calls == []


def test_cron_view_reads_the_page_without_its_actions(env):
    add_row(env, 'zz_failing', 'failure', us(NOW) - 30 * MINUTE, 'weekly')
    response = call(env, user='viewer')
    assert response.status == 200
    assert row_ids(response.body)[0] == 'zz_failing'
    assert '<form' not in re.search(r'<table.*</table>', response.body,
                                    re.S).group(0)
    assert call(env, user='anonymous').status == 403


# Run now ---------------------------------------------------------------------

def test_run_now_with_arguments_records_a_manual_run(env):
    response = call(env, method='POST',
                    args={'run': 'recorder', 'args': 'first, second arg'})
    assert response.status == 303
    wait_for_runs()
    assert RecorderTask.calls == [('first', 'second arg')]
    [run] = history.query(env, task='recorder')
    assert (run.schedule, run.status) == ('manual', 'success')
    assert 'Task <strong>recorder</strong> started.' in call(env).body


def test_run_now_without_arguments(env):
    call(env, method='POST', args={'run': 'recorder', 'args': ''})
    wait_for_runs()
    assert RecorderTask.calls == [()]


def test_run_now_of_an_unknown_task_is_404(env):
    assert call(env, method='POST', args={'run': 'nothing'}).status == 404


def test_run_now_refused_shows_a_warning(env, monkeypatch):
    env.config.set('traccron', 'recorder.max_instances', '1')
    add_row(env, 'recorder', 'running', us(NOW) - MINUTE, 'manual')
    monkeypatch.setattr(history, 'runner_id', lambda: 'host:1')
    call(env, method='POST', args={'run': 'recorder'})
    wait_for_runs()
    assert RecorderTask.calls == []
    assert 'was not started' in call(env).body


# The category opens on the Overview ------------------------------------------

def test_the_category_link_opens_the_overview(env):
    assert 'Trac Cron: Overview' in \
        call(env, path_info='/admin/traccron').body
    # Trac sends the path with a slash to the one without.
    response = call(env, path_info='/admin/traccron/')
    assert response.status == 301
    assert response.req.headers_sent['Location'].endswith('/admin/traccron')


def test_the_menu_lists_the_overview_first(env):
    body = call(env, path_info='/admin/traccron/cron_admin').body
    links = re.findall(r'href="/trac.cgi/admin/traccron/(\w+)"', body)
    assert links[0] == 'cron_overview'
    assert sorted(set(links)) == ['cron_admin', 'cron_doc', 'cron_history',
                                  'cron_listener', 'cron_overview']


def test_the_page_in_french(env):
    locale = Locale.parse('fr')
    make_activable(lambda: locale, env.path)
    try:
        body = call(env, locale=locale).body
    finally:
        deactivate()
    assert 'Trac Cron : Vue d&#39;ensemble' in body or \
        "Trac Cron : Vue d'ensemble" in body
    assert 'tous les jours à 21:19 (Europe/Paris)' in body
    assert 'Lancer maintenant' in body
