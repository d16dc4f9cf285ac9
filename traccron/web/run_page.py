# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The page of one run (`/admin/traccron/cron_history/<id>`), served by
the History panel: its task, schedule, arguments when this process still
knows them, times in the viewing user's zone, duration, runner, status,
message or traceback, and the log it captured. With `format=json`, what
the page polls while the run goes on, so that its live log grows."""

import json
from functools import partial

from trac.web.api import HTTPNotFound
from trac.web.chrome import add_link

from traccron import capture, history
from traccron.dispatcher import registry_for
from traccron.present import run_view, user_datetime, zone_label
from traccron.times import now_us
from traccron.web.common import CATEGORY, _

PAGE = 'cron_history'
#: How often (ms) the page of a running run asks for its news.
POLL_MS = 2000


def find_run(env, path_info):
    """The row of the run that `path_info` names; 404 for anything else
    than the id of a row."""
    if not path_info.isdigit() or len(path_info) > 18:
        # Ids are 64-bit integers: 18 digits are always one.
        raise HTTPNotFound(_("No run %(id)s", id=path_info))
    row = history.get(env, int(path_info))
    if row is None:
        raise HTTPNotFound(_("No run %(id)s", id=path_info))
    return row


def run_data(env, req, row):
    """What the page shows of `row`."""
    view = run_view(row, now_us())
    view['args'] = known_args(env, row.id)
    view['log'] = capture.get(env, row.id)
    view['running'] = row.going
    add_link(req, 'up', req.href.admin(CATEGORY, PAGE), _("History"))
    return {
        'run': view,
        'zone': zone_label(req.tz),
        'history_href': req.href.admin(CATEGORY, PAGE, task=row.task),
        'json_href': req.href.admin(CATEGORY, PAGE, str(row.id),
                                    format='json'),
        'poll_ms': POLL_MS,
        'user_datetime': partial(user_datetime, req),
    }


def send_json(env, req, row):
    """Send the news of `row` that its page polls for."""
    view = run_view(row, now_us())
    news = {
        'id': row.id,
        'status': row.status,
        'running': row.going,
        'badge': str(view['badge']),
        'duration': str(view['elapsed'] or view['duration'] or ''),
        'ended': str(user_datetime(req, view['ended'])),
        'message': view['message'],
        'log': capture.get(env, row.id),
    }
    req.send(json.dumps(news).encode('utf-8'), 'application/json')


def known_args(env, run_id):
    """The arguments of run `run_id`: those kept with its log, or those
    of this process's run going on; `None` when none are known."""
    args = capture.get_args(env, run_id)
    if args is not None:
        return args
    for run in registry_for(env.path).runs():
        if run.id == run_id:
            return [str(a) for a in run.args]
    return None
