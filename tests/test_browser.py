# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The admin panels in headless Chromium against a real tracd with basic
authentication, the plugin loaded from the egg built from this checkout.

Each test leaves a screenshot in its tmp dir; a failing test prints its
path. Needs Debian's `chromium` and `chromium-driver`."""

import os
import re
import subprocess
import time
import zipfile

import pytest

import tracd
from browser_support import (CHROMEDRIVER, CHROMIUM, ECHO_PLUGIN, WAIT,
                             XSS_PLUGIN, HistoryDb, start_chromium,
                             write_htpasswd)

PASSWORD = 'secret pw'
PAGES = ('cron_overview', 'cron_admin', 'cron_history', 'cron_listener',
         'cron_doc')
SCRIPT = '<script>window.traccronXss = 1</script>'

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason='headless browser tests need chromium and chromedriver '
           '(Debian: apt-get install chromium chromium-driver)')


class Site(object):

    def __init__(self, server, env_path):
        self.server = server
        self.env_path = str(env_path)
        self.db = HistoryDb(env_path)

    def ini(self):
        with open(os.path.join(self.env_path, 'conf', 'trac.ini'),
                  'rb') as f:
            return f.read()


@pytest.fixture(scope='module')
def site(egg, tmp_path_factory):
    root = tmp_path_factory.mktemp('site')
    env_path = root / 'cronenv'
    tracd.init_env(env_path, egg)
    with open(str(env_path / 'plugins' / 'traccron_xss_task.py'),
              'w') as f:
        f.write(XSS_PLUGIN)
    with open(str(env_path / 'plugins' / 'traccron_echo_task.py'),
              'w') as f:
        f.write(ECHO_PLUGIN)
    for args in (('config', 'set', 'traccron', 'ticker_enabled', 'false'),
                 ('config', 'set', 'traccron', 'timezone', 'UTC'),
                 ('config', 'set', 'logging', 'log_type', 'file'),
                 ('permission', 'add', 'admin', 'TRAC_ADMIN'),
                 ('permission', 'add', 'viewer', 'CRON_VIEW')):
        tracd.trac_admin(env_path, *args)
    htpasswd = root / 'htpasswd'
    write_htpasswd(htpasswd, {'admin': PASSWORD, 'joe': PASSWORD,
                              'viewer': PASSWORD})
    server = tracd.Tracd(env_path, root / 'tracd.log', auth=str(htpasswd))
    yield Site(server, env_path)
    server.stop()


class Browser(object):
    """A Chromium window on the site, with the waits the tests need."""

    def __init__(self, driver, site, shot_dir):
        self.driver = driver
        self.site = site
        self.shot_dir = shot_dir
        self.shots = 0

    def url(self, page, query=''):
        return '%s/admin/traccron/%s%s' % (self.site.server.base, page,
                                           query)

    def login(self, user):
        server = self.site.server
        self.driver.get('http://%s:%s@127.0.0.1:%d/%s/login' % (
            user, PASSWORD.replace(' ', '%20'), server.port, server.name))
        self.wait_for_css('.trac-author-user')
        assert self.css('.trac-author-user').text == user

    def open(self, page, query=''):
        self.driver.get(self.url(page, query))

    def css(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def wait(self, condition, message=''):
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, WAIT, poll_frequency=0.2).until(
            lambda d: condition(), message)

    def wait_for_css(self, selector):
        return self.wait(lambda: self.all(selector),
                         'no element matches %s' % selector)

    def wait_for_text(self, text):
        self.wait(lambda: text in self.css('body').text,
                  'text not shown: %r' % text)

    def click_and_load(self, element):
        """Click `element` and wait until the next page replaced this
        one."""
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait
        element.click()
        WebDriverWait(self.driver, WAIT).until(EC.staleness_of(element))

    def fetch(self, url, form=None):
        """Fetch `url` from the page (the session's cookies and basic
        auth): `{'status', 'type', 'text'}`. With `form`, a POST."""
        return self.driver.execute_async_script('''
            var done = arguments[arguments.length - 1];
            var init = {credentials: 'same-origin'};
            if (arguments[1]) {
              init.method = 'POST';
              init.body = new URLSearchParams(arguments[1]);
            }
            fetch(arguments[0], init).then(function (r) {
              r.text().then(function (t) {
                done({status: r.status, text: t,
                      type: r.headers.get('Content-Type')});
              });
            }, function (e) { done({status: 0, text: String(e)}); });
            ''', url, form)

    def shot(self, name):
        self.shots += 1
        path = os.path.join(self.shot_dir, '%02d-%s.png' % (self.shots,
                                                            name))
        self.driver.save_screenshot(path)
        return path


@pytest.fixture
def browser(site, tmp_path):
    driver = start_chromium(tmp_path / 'profile')
    driver.set_script_timeout(WAIT)
    b = Browser(driver, site, str(tmp_path))
    try:
        yield b
    finally:
        try:
            path = b.shot('end')
            # Shown by pytest when the test failed.
            print('screenshot: %s' % path)
        finally:
            driver.quit()


def field_value(b, name):
    return b.css('input[name="%s"]' % name).get_attribute('value')


def type_into(b, name, text):
    field = b.css('input[name="%s"]' % name)
    field.clear()
    field.send_keys(text)


# The egg --------------------------------------------------------------------

def test_egg_ships_panels_templates_css_and_french_catalog(egg):
    with zipfile.ZipFile(egg) as z:
        names = set(z.namelist())
        entry_points = z.read('EGG-INFO/entry_points.txt').decode('utf-8')
    for name in ('traccron/web_ui.py', 'traccron/templates/cron_admin.html',
                 'traccron/templates/cron_history.html',
                 'traccron/templates/cron_history.rss',
                 'traccron/templates/cron_listener.html',
                 'traccron/templates/cron_doc.html',
                 'traccron/templates/cron_overview.html',
                 'traccron/htdocs/traccron.css',
                 'traccron/locale/fr/LC_MESSAGES/traccron.mo'):
        assert name in names
    assert 'traccron.web_ui = traccron.web_ui' in entry_points
    assert 'traccron.web.overview = traccron.web.overview' in entry_points


# Settings -------------------------------------------------------------------

@needs_chromium
def test_admin_changes_a_schedule_and_sees_the_notice(browser):
    b = browser
    b.login('admin')
    b.open('cron_admin')
    b.wait_for_css('#task-heart_beat')
    b.shot('settings')

    before = b.site.ini()
    type_into(b, 'heart_beat.daily', '25h00')
    b.click_and_load(b.css('input[name="save"]'))
    b.wait_for_text('Invalid value for heart_beat.daily: 25h00')
    b.shot('refused')
    assert field_value(b, 'heart_beat.daily') == '25h00'
    assert 'cron-error' in b.css('input[name="heart_beat.daily"]') \
        .get_attribute('class')
    assert b.site.ini() == before

    type_into(b, 'heart_beat.daily', '07h30')
    type_into(b, 'heart_beat.daily.arg', 'Good Morning')
    b.click_and_load(b.css('input[name="save"]'))
    b.wait_for_text('Your changes have been saved.')
    b.shot('saved')
    assert field_value(b, 'heart_beat.daily') == '07h30'
    assert field_value(b, 'heart_beat.daily.arg') == 'Good Morning'
    ini = b.site.ini().decode('utf-8')
    assert 'heart_beat.daily = 07h30' in ini
    assert 'heart_beat.daily.arg = Good Morning' in ini


@needs_chromium
def test_run_now_then_the_new_row_in_history(browser):
    b = browser
    b.site.db.clear()
    b.login('admin')
    b.open('cron_admin')
    b.wait_for_css('#task-heart_beat')
    b.click_and_load(b.css('button[name="run"][value="heart_beat"]'))
    b.wait_for_text('Task heart_beat started.')
    b.shot('started')
    b.click_and_load(b.css('#notice a[href*="cron_history"]'))

    def finished_row():
        rows = b.all('tr.cron-row')
        if rows and 'cron-row-success' in rows[0].get_attribute('class'):
            return rows
        b.driver.refresh()
        return None
    rows = b.wait(finished_row, 'the manual run never showed success')
    b.shot('history')
    assert len(rows) == 1
    cells = rows[0].find_elements('css selector', 'td')
    assert cells[0].text == 'heart_beat'
    assert cells[1].text == 'manual'
    assert cells[5].text == 'success'
    assert b.site.db.rows() == [('heart_beat', 'manual', 'success', '')]


@needs_chromium
def test_run_now_with_arguments_then_its_run_page_with_its_log(browser):
    """Run now with arguments from the Overview; the page of that run
    shows them and the lines the task logged."""
    b = browser
    b.site.db.clear()
    b.login('admin')
    b.open('cron_overview')
    b.wait_for_css('#cron-run-echo')
    field = b.css('#cron-run-echo input[name="args"]')
    field.send_keys('overview-arg, second-arg')
    b.click_and_load(b.css('#cron-run-echo button[name="run"]'))
    b.wait_for_text('Task echo started.')
    b.wait(lambda: b.site.db.rows() == [('echo', 'manual', 'success', '')],
           'the run of echo never ended success')
    [echo_id] = b.site.db.ids('echo')
    b.open('cron_history')
    b.wait_for_css('#run-%d a.cron-run-link' % echo_id)
    b.click_and_load(b.css('#run-%d a.cron-run-link' % echo_id))
    b.wait_for_css('#cron-run-log')
    log = b.css('#cron-run-log').text
    assert 'echo says overview-arg' in log
    assert 'echo says second-arg' in log
    assert b.css('#cron-run .cron-args').text == 'overview-arg second-arg'
    b.shot('run-page-with-arguments')


# History --------------------------------------------------------------------

@needs_chromium
def test_history_pages_through_120_rows_and_filters_by_status(browser):
    b = browser
    b.site.db.clear()
    b.site.db.insert(120)
    b.login('admin')
    b.open('cron_history')
    b.wait_for_text('Runs 1 - 50 of 120')
    assert len(b.all('tr.cron-row')) == 50
    b.shot('page1')
    b.click_and_load(b.css('.paging .next a'))
    b.wait_for_text('Runs 51 - 100 of 120')
    assert len(b.all('tr.cron-row')) == 50
    b.click_and_load(b.css('.paging .next a'))
    b.wait_for_text('Runs 101 - 120 of 120')
    assert len(b.all('tr.cron-row')) == 20
    assert b.all('.paging .next a') == []
    b.shot('page3')

    from selenium.webdriver.support.ui import Select
    Select(b.css('#cron-filter select[name="status"]')) \
        .select_by_value('failure')
    b.click_and_load(b.css('#cron-filter input[type="submit"]'))
    b.wait_for_text('Runs 1 - 30 of 30')
    badges = [e.text for e in b.all('tr.cron-row .cron-status')]
    assert badges == ['failure'] * 30
    assert b.all('.paging') == []
    b.shot('failures')


@needs_chromium
def test_clear_history_after_confirming(browser):
    b = browser
    b.site.db.clear()
    b.site.db.insert(5)
    b.login('admin')
    b.open('cron_history')
    b.wait_for_text('Runs 1 - 5 of 5')
    b.click_and_load(b.css('#cron-clear input[name="clear"]'))
    b.wait_for_css('#cron-clear-confirm')
    b.shot('confirm')
    assert len(b.site.db.rows()) == 5
    b.click_and_load(b.css('#cron-clear-yes'))
    b.wait_for_text('The history has been cleared.')
    b.shot('cleared')
    assert 'No run recorded.' in b.css('#cron-history').text
    assert b.site.db.rows() == []


@needs_chromium
def test_rss_feed_of_the_history(browser):
    b = browser
    b.site.db.clear()
    b.site.db.insert(3)
    b.login('admin')
    b.open('cron_history')
    b.wait_for_text('Runs 1 - 3 of 3')
    feed = b.css('link[rel="alternate"][type="application/rss+xml"]') \
        .get_attribute('href')
    response = b.fetch(feed)
    assert response['status'] == 200
    assert response['type'].startswith('application/rss+xml')
    assert response['text'].count('<item>') == 3
    assert '<title>heart_beat: failure</title>' in response['text']
    b.driver.get(feed)
    b.shot('feed')
    assert 'heart_beat: success' in b.driver.page_source


# Permission -----------------------------------------------------------------

@needs_chromium
def test_user_without_cron_admin_gets_403_everywhere(browser):
    b = browser
    b.site.db.clear()
    b.site.db.insert(2)
    ini = b.site.ini()
    b.login('joe')
    b.open('cron_admin')
    b.wait_for_text('Forbidden')
    b.shot('forbidden')
    # The answer names the permission that gives the page.
    assert 'CRON_ADMIN' in b.css('body').text
    token = b.driver.get_cookie('trac_form_token')['value']
    for page in PAGES:
        assert b.fetch(b.url(page))['status'] == 403, page
    assert b.fetch(b.url('cron_history', '?format=rss'))['status'] == 403
    for page, form in (
            ('cron_admin', {'run': 'heart_beat'}),
            ('cron_admin', {'save': '1', 'task': 'heart_beat',
                            'heart_beat.daily': '10h00'}),
            ('cron_history', {'clear': '1', 'confirm': 'yes'}),
            ('cron_listener', {'save': '1',
                               'email_task_event.limit': '5'}),
            ('cron_overview', {'disable': 'heart_beat'}),
            ('cron_overview', {'run': 'heart_beat', 'args': 'x'})):
        form['__FORM_TOKEN'] = token
        assert b.fetch(b.url(page), form)['status'] == 403, (page, form)
    assert b.site.ini() == ini
    assert len(b.site.db.rows()) == 2
    # The Admin menu does not offer the panels either.
    b.driver.get(b.site.server.base + '/admin')
    assert 'Trac Cron' not in b.css('body').text


@needs_chromium
def test_cron_view_user_reads_history_run_page_and_timeline(browser):
    """A CRON_VIEW user: the History, the page of a run with the lines it
    logged (in English and in French), the Timeline; no action."""
    b = browser
    b.site.db.clear()
    tracd.trac_admin(b.site.env_path, 'cron', 'run', 'echo', 'browser-arg',
                     'second-arg')
    hour_ago = int((time.time() - 3600) * 1_000_000)
    b.site.db.insert(2, start=hour_ago, failure_every=2)
    failure_id, success_id = b.site.db.ids('heart_beat')
    b.login('viewer')
    b.open('cron_history')
    b.wait_for_css('tr.cron-row')
    b.shot('history')
    assert len(b.all('tr.cron-row')) == 3
    panels = [a.get_attribute('href') for a in b.all('#tabs a')]
    assert [p.rsplit('/', 1)[1] for p in panels] == ['cron_overview',
                                                     'cron_history']
    assert_no_action(b)

    [echo_id] = b.site.db.ids('echo')
    b.click_and_load(b.css('#run-%d a.cron-run-link' % echo_id))
    b.wait_for_css('#cron-run-log')
    log = b.css('#cron-run-log').text
    assert 'echo says browser-arg' in log
    assert 'echo says second-arg' in log
    assert b.css('#cron-run .cron-task').text == 'echo'
    assert b.css('#cron-run .cron-status').text == 'success'
    assert_no_action(b)
    run_url = b.driver.current_url
    b.shot('run-page-en')

    b.driver.get(b.site.server.base + '/timeline')
    b.wait_for_css('#content.timeline')
    failure = b.css('#content a[href$="/cron_history/%d"]' % failure_id)
    b.driver.execute_script('arguments[0].scrollIntoView()', failure)
    b.shot('timeline')
    hrefs = [a.get_attribute('href') or '' for a in b.all('#content a')]
    assert not any(h.endswith('/cron_history/%d' % success_id)
                   for h in hrefs)
    assert b.css('input[name="traccron"]').is_selected()
    assert not b.css('input[name="traccron_success"]').is_selected()

    b.driver.execute_cdp_cmd('Network.enable', {})
    b.driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {
        'headers': {'Accept-Language': 'fr-FR,fr;q=0.9'}})
    b.driver.get(run_url)
    b.wait_for_text('Journal')
    assert 'echo says browser-arg' in b.css('#cron-run-log').text
    assert b.css('#cron-run .cron-status').text == 'réussite'
    b.shot('run-page-fr')


@needs_chromium
def test_run_page_of_a_running_run_follows_its_log(browser):
    """The page of a run going on shows its log as it grows, without
    reloading, then the outcome once it ended."""
    b = browser
    b.site.db.clear()
    process = subprocess.Popen(
        [os.path.join(tracd.BIN, 'trac-admin'), b.site.env_path, 'cron',
         'run', 'slow_echo', '12'], env=tracd.clean_environ(), cwd='/',
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + WAIT
        while not b.site.db.ids('slow_echo') and time.time() < deadline:
            time.sleep(0.1)
        [run_id] = b.site.db.ids('slow_echo')
        b.login('viewer')
        b.open('cron_history/%d' % run_id)
        b.wait_for_css('#cron-live')
        assert b.css('#cron-run .cron-status').text == 'running'
        b.driver.execute_script('window.traccronSamePage = 1')
        b.wait(lambda: 'slow line 4' in b.css('#cron-run-log').text,
               'the live log did not grow')
        b.shot('running')
        assert b.driver.execute_script(
            'return window.traccronSamePage') == 1
        b.wait(lambda: b.all('#cron-live') == [] and
               b.css('#cron-run .cron-status').text == 'success',
               'the page did not show the end of the run')
        assert 'slow line 11' in b.css('#cron-run-log').text
        b.shot('ended')
    finally:
        process.wait(60)


def assert_no_action(b):
    """No form of the page posts anything (the logout form of the menu
    aside), no Run now nor Clear button."""
    assert b.all('#content form[method="post"]') == []
    assert b.all('button[name="run"]') == []
    assert b.all('input[name="clear"]') == []


# Escaping -------------------------------------------------------------------

@needs_chromium
def test_script_in_description_and_failure_message_is_text(browser):
    b = browser
    b.site.db.clear()
    b.login('admin')
    b.open('cron_admin')
    description = b.wait_for_css('#task-xss_task .cron-description')[0]
    assert description.text == 'Describes itself with ' + SCRIPT
    assert b.driver.execute_script('return window.traccronXss') is None
    b.click_and_load(b.css('button[name="run"][value="xss_task"]'))
    b.wait_for_text('Task xss_task started.')
    b.open('cron_history')

    def failed_row():
        rows = b.all('tr.cron-row-failure')
        if rows:
            return rows
        b.driver.refresh()
        return None
    [row] = b.wait(failed_row, 'the failed run never showed')
    b.shot('history')
    message = row.find_element('css selector', 'td.cron-message')
    assert 'RuntimeError: failed with ' + SCRIPT in message.text
    assert b.driver.execute_script('return window.traccronXss') is None


# Translation ----------------------------------------------------------------

@needs_chromium
def test_french_browser_sees_the_panel_in_french(browser):
    b = browser
    b.driver.execute_cdp_cmd('Network.enable', {})
    b.driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {
        'headers': {'Accept-Language': 'fr-FR,fr;q=0.9'}})
    b.login('admin')
    b.open('cron_admin')
    b.wait_for_text('Trac Cron : Paramètres')
    b.shot('settings-fr')
    assert b.css('button[name="run"][value="heart_beat"]').text == \
        'Lancer maintenant'
    assert b.css('input[name="save"]').get_attribute('value') == \
        'Appliquer les modifications'
    b.open('cron_history')
    b.wait_for_text('Trac Cron : Historique')
    b.open('cron_doc')
    b.wait_for_text('Prochains déclenchements')


# Overview -------------------------------------------------------------------

#: The widths of the Overview's screenshots: a narrow laptop, a phone.
WIDTHS = (('1000', 1000, 1100), ('phone', 390, 844))


def overview_shots(b, language):
    for name, width, height in WIDTHS:
        b.driver.set_window_size(width, height)
        b.open('cron_overview')
        b.wait_for_css('#cron-overview')
        # On a phone Trac's admin menu comes first: the shot shows the
        # panel.
        b.driver.execute_script(
            'document.getElementById("tabcontent").scrollIntoView()')
        b.shot('overview-%s-%s' % (language, name))
        # The table fits in the window: it reads without scrolling
        # sideways.
        assert b.driver.execute_script(
            'return document.getElementById("cron-overview")'
            '.getBoundingClientRect().right') <= \
            b.driver.execute_script(
                'return document.documentElement.clientWidth') + 1, name


@needs_chromium
def test_overview_shows_a_failing_task_first_with_its_next_run(browser):
    b = browser
    b.site.db.clear()
    b.site.db.insert(3, failure_every=0)
    b.site.db.insert(2, task='xss_task', failure_every=1,
                     start=1_780_000_600_000_000)
    tracd.trac_admin(b.site.env_path, 'config', 'set', 'traccron',
                     'xss_task.daily', '21h19')
    try:
        b.login('admin')
        b.driver.get(b.site.server.base + '/admin/traccron')
        b.wait_for_text('Trac Cron: Overview')
        rows = b.all('#cron-overview tbody tr')
        assert rows[0].get_attribute('id') == 'overview-xss_task'
        first = rows[0]
        badge = first.find_element('css selector', '.cron-last .cron-status')
        assert badge.text == 'failure'
        assert 'cron-status-failure' in badge.get_attribute('class')
        assert 'every day at 21:19 (UTC)' in \
            first.find_element('css selector', '.cron-schedules').text
        next_run = first.find_element('css selector', '.cron-next').text
        assert re.match(r'\d{4}-\d\d-\d\d \d\d:19:00\s+in \d+ \w+',
                        next_run), next_run
        heart_beat = b.css('#overview-heart_beat .cron-last .cron-status')
        assert heart_beat.text == 'success'
        assert b.css('#tabs li.active a').text == 'Overview'
        # The menu lists the Overview first among the panels of TracCron.
        labels = [a.text for a in b.all('#tabs li.active ul a')]
        assert labels[0] == 'Overview'
        overview_shots(b, 'en')

        b.driver.execute_cdp_cmd('Network.enable', {})
        b.driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {
            'headers': {'Accept-Language': 'fr-FR,fr;q=0.9'}})
        b.open('cron_overview')
        b.wait_for_text("Trac Cron : Vue d'ensemble")
        assert 'tous les jours à 21:19 (UTC)' in \
            b.css('#overview-xss_task .cron-schedules').text
        assert b.css('#overview-xss_task .cron-last .cron-status').text == \
            'échec'
        overview_shots(b, 'fr')
    finally:
        tracd.trac_admin(b.site.env_path, 'config', 'remove', 'traccron',
                         'xss_task.daily')
