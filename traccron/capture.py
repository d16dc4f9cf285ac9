# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The log lines a task writes while it runs, kept with its run.

A handler on the root logger, to which Trac's `env.log` (a task's
`self.log`) passes its records, keeps the records of the threads that
run tasks, each in the capture of its run: records of other threads, and
of other runs going on at the same time, never mix in. A thread that a
task starts is tied to its run with `follow(run)`. Only records that pass
their logger's level (`[logging] log_level` for Trac's) are seen.

The text is stored in the `cron_log` table, keyed by the run's id: while
the run goes on (so that its page shows the live log) and when it ends.
Each capture is capped; past the cap, lines are dropped and the text ends
with a marker that says so."""

import contextlib
import json
import logging
import threading

from traccron.history import storable

TRUNCATED = '[... log truncated: longer than %d bytes]'
FORMAT = '%(asctime)s %(levelname)s %(message)s'


class RunLog(object):
    """The captured text of one run."""

    __slots__ = ('path', 'run_id', 'limit', 'args', 'size', 'truncated',
                 'written', '_lines', '_lock', 'storing', '_ident',
                 '_others')

    def __init__(self, path, run_id, limit, args=()):
        self.path = path
        self.run_id = run_id
        self.limit = limit
        # Made as a run starts: what is not needed yet is made later
        # (see `Core.execute`).
        self.args = tuple(str(a) for a in args) if args else ()
        self.size = 0
        self.truncated = False
        # `size` when it was last stored: a run with arguments is stored
        # even when it logged nothing.
        self.written = -1 if self.args else 0
        self._lines = None
        # Its locks are made once it logs (`_locked`): a quiet run has
        # none. `storing` is held while the text is written: the last
        # writer writes the latest text.
        self._lock = None
        self.storing = None
        # The threads whose records it takes (`_Handler.push`): the first
        # one, then a set of the others.
        self._ident = None
        self._others = None

    def taken_by(self, ident):
        if self._ident is None or self._ident == ident:
            self._ident = ident
        elif self._others is None:
            self._others = set([ident])
        else:
            self._others.add(ident)

    @property
    def idents(self):
        """The threads whose records it took."""
        listed = set(self._others or ())
        if self._ident is not None:
            listed.add(self._ident)
        return listed

    def _locked(self, name):
        """The lock in attribute `name`, made on first use."""
        lock = getattr(self, name)
        if lock is None:
            with _made_lock:
                lock = getattr(self, name)
                if lock is None:
                    lock = threading.Lock()
                    setattr(self, name, lock)
        return lock

    def add(self, line):
        data = len(line.encode('utf-8', 'backslashreplace')) + 1
        with self._locked('_lock'):
            if self.truncated or not self.limit:
                return
            if self.size + data > self.limit:
                self.truncated = True
                self.size += 1   # a change that the next store writes
                return
            if self._lines is None:
                self._lines = []
            self._lines.append(line)
            self.size += data

    def text(self):
        with self._locked('_lock'):
            lines = list(self._lines or ())
            if self.truncated:
                lines.append(TRUNCATED % self.limit)
        return '\n'.join(lines)


class _Handler(logging.Handler):
    """Hands each record to the capture of its thread's run, if any."""

    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.setFormatter(logging.Formatter(FORMAT))
        # Thread ident -> the captures it writes to, innermost last (a
        # task may run another with `run_now(wait=True)`, or `follow` its
        # own run). Changed under `changing`, read without a lock.
        self.threads = {}
        self.changing = threading.Lock()

    def emit(self, record):
        stack = self.threads.get(record.thread)
        try:
            captured = stack[-1] if stack else None
        except IndexError:       # emptied meanwhile
            return
        if captured is None:
            return
        try:
            captured.add(self.format(record))
        except Exception:
            self.handleError(record)

    def push(self, ident, captured):
        with self.changing:
            stack = self.threads.get(ident)
            self.threads[ident] = [captured] if not stack else \
                stack + [captured]
            captured.taken_by(ident)

    def pop(self, ident, captured):
        """Remove the innermost `captured` of thread `ident`."""
        with self.changing:
            stack = list(self.threads.get(ident, ()))
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is captured:
                    del stack[i]
                    break
            self._set(ident, stack)

    def drop(self, captured):
        """Remove `captured` from every thread (those it was pushed on:
        1,000 runs going on must not make each end look at them all)."""
        with self.changing:
            for ident in captured.idents:
                self._set(ident, [c for c in self.threads.get(ident, ())
                                  if c is not captured])
            captured._ident = captured._others = None

    def _set(self, ident, stack):
        if stack:
            self.threads[ident] = stack
        else:
            self.threads.pop(ident, None)


_handler = None
_handler_lock = threading.Lock()
_made_lock = threading.Lock()    # makes the locks of RunLogs
_runs = {}                       # id(TaskRun) -> RunLog


def _install():
    """The one handler of the process, on the root logger: every logger
    passes its records up to it (Trac's `env.log` and the libraries a task
    uses), whatever handlers Trac gives or takes from its own."""
    global _handler
    with _handler_lock:
        root = logging.getLogger()
        if _handler is None:
            _handler = _Handler()
        if _handler not in root.handlers:
            root.addHandler(_handler)
        return _handler


def start(env, run, limit):
    """Capture the records that the calling thread writes to `env.log`
    for `run`, up to `limit` bytes; returns its `RunLog`, which also
    keeps the run's arguments (`None` when `limit` is 0 and the run has
    no arguments: nothing to keep)."""
    if run.id is None or not (limit or run.args):
        return None
    captured = RunLog(env.path, run.id, limit, run.args)
    _install().push(threading.get_ident(), captured)
    _runs[id(run)] = captured
    return captured


def stop(run):
    """End the capture of `run` in the calling thread; returns its
    `RunLog` or `None`."""
    captured = _runs.pop(id(run), None)
    if captured is not None:
        _handler.drop(captured)
    return captured


def leave(run):
    """The calling thread no longer captures for `run`, which goes on
    elsewhere (`join`)."""
    captured = _runs.get(id(run))
    if captured is not None:
        _handler.pop(threading.get_ident(), captured)


def join(run):
    """The calling thread captures for `run` until `stop(run)`."""
    captured = _runs.get(id(run))
    if captured is not None:
        _handler.push(threading.get_ident(), captured)


@contextlib.contextmanager
def follow(run):
    """Capture for `run` what the calling thread logs meanwhile: for the
    threads a task starts (`with follow(current_run()): ...`)."""
    captured = _runs.get(id(run)) if run is not None else None
    if captured is None:
        yield
        return
    ident = threading.get_ident()
    _handler.push(ident, captured)
    try:
        yield
    finally:
        _handler.pop(ident, captured)


def live(path):
    """The `RunLog`s of the runs of environment `path` going on in this
    process."""
    return [captured for captured in list(_runs.values())
            if captured.path == path]


def store(env, captured):
    """Write the text of `captured` to `cron_log` when it changed since it
    was last written."""
    if captured.size == captured.written:
        return      # (`size` only grows: nothing to write)
    with captured._locked('storing'):
        size = captured.size
        if size == captured.written:
            return
        text = captured.text()
        args = json.dumps(captured.args) if captured.args else None
        with env.db_transaction as db:
            db("DELETE FROM cron_log WHERE run_id=%s", (captured.run_id,))
            if text or args:
                db("""INSERT INTO cron_log (run_id, args, log)
                      VALUES (%s, %s, %s)""",
                   (captured.run_id, storable(args), storable(text)))
        captured.written = size


def get(env, run_id):
    """The captured log of run `run_id`, or `''`."""
    for log, in env.db_query("SELECT log FROM cron_log WHERE run_id=%s",
                             (run_id,)):
        return log or ''
    return ''


def get_args(env, run_id):
    """The arguments run `run_id` was given (a list), or `None` when none
    were kept."""
    for args, in env.db_query("SELECT args FROM cron_log WHERE run_id=%s",
                              (run_id,)):
        try:
            return json.loads(args) if args else None
        except ValueError:
            return None
    return None
