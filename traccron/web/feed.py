# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The RSS feed of the history (`/admin/traccron/cron_history?format=rss`,
as the original plugin had it), served by the History panel: the latest
runs, filtered as the page is, their times in the reader's zone and
date format."""

from trac.util.datefmt import http_date
from trac.util.html import tag

from traccron import history
from traccron.present import run_view, user_datetime, zone_label
from traccron.times import now_us
from traccron.web.common import _


def feed(env, req, task, status, link, size):
    """The data of the feed `cron_history.rss`: the `size` latest runs
    of `task` with `status` (`None`: all); `link` is the page's URL."""
    now = now_us()
    items = []
    for row in history.query(env, task, status, limit=size):
        item = run_view(row, now)
        item['date'] = http_date(item['started'] or item['fire_time'])
        item['description'] = _description(req, item)
        items.append(item)
    return {'items': items, 'link': link}


def _description(req, item):
    """The HTML of an item (the feed escapes it once more, as RSS
    wants)."""
    facts = [_("Schedule: %(schedule)s", schedule=item['schedule'])]
    if item['fire_time']:
        facts.append(_("Scheduled for: %(time)s %(zone)s",
                       time=user_datetime(req, item['fire_time']),
                       zone=zone_label(req.tz)))
    if item['duration']:
        facts.append(_("Duration: %(duration)s", duration=item['duration']))
    facts.append(_("Runner: %(runner)s", runner=item['runner']))
    return tag(tag.ul(tag.li(f) for f in facts),
               tag.pre(item['message']) if item['message'] else None)
