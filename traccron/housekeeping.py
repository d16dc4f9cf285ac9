# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Housekeeping of the history: which runs of other processes are dead
(leases that no clock can fool), and the purge of old rows.

A run is alive while its process changes its heartbeat value. An
observer never compares that value with its own clock: it remembers when,
on its own monotonic clock, it first saw the value, and only a value
unchanged for `lease_seconds` of that clock makes the run dead. Hosts
whose clocks disagree by an hour, a clock stepped by NTP or a machine
resumed from suspend therefore never make a live run look dead."""

import os

from traccron import history
from traccron.times import DAY, HOUR, seconds

#: How often (seconds) old history rows are purged.
PURGE_INTERVAL = seconds(HOUR)


class LeaseWatch(object):
    """The observer of other processes' runs, for one ticker."""

    def __init__(self, runner):
        self.runner = runner
        self._seen = {}   # row id -> (heartbeat value, monotonic first seen)

    @property
    def watching(self):
        """Whether runs of other processes were going on at the last
        check (they must be looked at again within the lease)."""
        return bool(self._seen)

    def check(self, env, now, mono, lease, own_ids=()):
        """Mark `interrupted` the running rows whose heartbeat has not
        changed for `lease` seconds of `mono`, and those of processes gone
        from this host (at once). `own_ids` are this process's runs: never
        marked. Returns the ids marked."""
        rows = history.running_rows(env)
        own = set(own_ids)
        seen, self._seen = self._seen, {}
        marks = []
        for id, runner, beat in rows:
            if id in own:
                continue
            if is_gone(runner):
                marks.append((id, None, 'its runner %s is no longer running '
                              '(noticed by %s)' % (runner, self.runner)))
                continue
            first = seen.get(id)
            if first is None or first[0] != beat:
                self._seen[id] = (beat, mono)
            elif mono - first[1] >= lease:
                marks.append((id, beat, 'its runner %s sent no heartbeat '
                              'for %d s (noticed by %s)'
                              % (runner, lease, self.runner)))
            else:
                self._seen[id] = first
        return self._interrupt(env, marks, now)

    def interrupt_gone(self, env, now, own_ids=()):
        """Mark `interrupted` at once the runs of processes gone from this
        host, so that they do not hold back `max_instances` until their
        lease ends. Returns the ids marked."""
        # Each runner is judged once (1,000 runs going on may share it),
        # and the runs are read only of those gone.
        gone = [runner for runner in history.going_runners(env)
                if is_gone(runner)]
        if not gone:
            return []
        own = set(own_ids)
        marks = [(id, None, 'its runner %s is no longer running (noticed '
                  'by %s)' % (runner, self.runner))
                 for id, runner, beat in history.running_rows(env, gone)
                 if id not in own]
        return self._interrupt(env, marks, now) if marks else []

    def _interrupt(self, env, marks, now):
        marked = history.interrupt(env, marks, now)
        messages = dict((id, message) for id, _, message in marks)
        for id in marked:
            self._seen.pop(id, None)
            env.log.warning('TracCron: run %d marked interrupted: %s', id,
                            messages[id])
        return marked


def is_gone(runner, own=None):
    """Whether `runner` is a process of this host and PID namespace (the
    same host name and namespace token) that has ended. Processes of other
    namespaces, and runner ids without a token, are never judged here:
    only their lease tells. `own` is this process's parsed runner id
    (`history.runner_id`, which keeps it per process)."""
    if own is None:
        own = history.parse_runner(history.runner_id())
    host, pid, token = history.parse_runner(runner)
    if pid is None or token is None or (host, token) != (own[0], own[2]) \
            or pid == own[1]:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def purge(env, now, days):
    """Delete the history rows older than `days` days (0: keep all)."""
    if days:
        history.purge(env, now - days * DAY)
