# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The agenda: the next occurrence of every schedule in time order, and
the rules for occurrences that come late (misfire grace, catch-up).

Pure: no Trac, no database. A schedule is anything with `next_after(dt)`,
`confirm(dt)`, `tz`, `key`, `task_id`, `type_id` and `catch_up` (see
`scheduler.Schedule`); instants are µs since the epoch."""

import collections
import heapq
import logging

from traccron.times import MINUTE, SECOND, from_us, to_us

#: At most this many occurrences of one schedule are recorded `missed`
#: at once; older ones are only counted in the log.
MAX_MISSED = 100


class Due(object):
    """An occurrence to claim: `status` is `running` (to run now),
    `missed` or `skipped` (to record only). `attempt` is 1 for its first
    try, then 2, 3... for its retries, which run at `at` (µs; by default
    the occurrence's own time)."""

    __slots__ = ('schedule', 'fire', 'status', 'message', 'attempt', 'at',
                 'told')

    def __init__(self, schedule, fire, status='running', message='',
                 attempt=1, at=None):
        self.schedule = schedule
        self.fire = fire
        self.status = status
        self.message = message
        self.attempt = attempt
        self.at = fire if at is None else at
        #: For a retry: whether the failure before it was told as final
        #: (when the retry is planned `skipped` at once).
        self.told = False

    def __repr__(self):
        return '<Due %s %d #%d %s>' % (self.schedule.key, self.fire,
                                       self.attempt, self.status)


def retry_delay(attempt, delay, longest, uniform):
    """Seconds to wait before trying again an occurrence whose attempt
    number `attempt` failed: `delay`, doubled at each further attempt,
    with 10% of jitter either way (`uniform(a, b)` draws it), and at
    most `longest`."""
    return min(delay * 2 ** (attempt - 1) * uniform(0.9, 1.1), longest)


def plan_retry(schedule, fire, attempt, retries, wait, now, earliest=None):
    """The due of the next attempt of `schedule`'s occurrence `fire`
    (µs) after its attempt number `attempt` failed at `now`, `wait`
    seconds later (and not before `earliest`, when given: a retry planned
    late runs at once, not `missed`); `None` when its `retries` are
    spent. An attempt that would start at or after the schedule's next
    regular occurrence is not made: its due records it `skipped`, at
    once."""
    if attempt > retries:
        return None
    at = max(now + int(wait * SECOND), earliest or 0)
    nxt = schedule.next_after(from_us(fire, schedule.tz))
    following = attempt + 1
    if nxt is not None and at >= to_us(nxt):
        return Due(schedule, fire, 'skipped',
                   'retry %d of %d not made: it would start at %s, after '
                   'the next occurrence at %s'
                   % (attempt, retries, from_us(at, schedule.tz).isoformat(),
                      nxt.isoformat()), following, now)
    return Due(schedule, fire, 'running', 'retry %d of %d, %.1f s after '
               'attempt %d failed' % (attempt, retries, wait, attempt),
               following, at)


class Agenda(object):
    """What is due when. `last` is the instant up to which every
    occurrence has been handed out; `pending` holds the occurrences that
    were handed out but could not be claimed (the database failed): they
    stay due until the misfire grace has passed, then become `missed`."""

    def __init__(self, log=None):
        self.log = log or logging.getLogger('traccron')
        self.last = None
        self.pending = []
        # The next occurrences: a heap of instants (µs), and the schedules
        # due at each, in the order they were queued (1,000 schedules
        # every second are one entry, not 1,000).
        self._heap = []
        self._at = {}
        self._count = 0
        self._seq = 0
        # Schedules whose `next_after` raised, with the instant to look
        # after: tried again at each `take`, so that one error of a
        # scheduler type never drops a schedule for good.
        self._failed = []
        self._logged = set()
        # The retries of failed runs (`TASK.retries`): (at, seq, due).
        self._retries = []
        # The dues that `max_instances` held back when they were claimed
        # ahead of their time (`defer`): (at, seq, due).
        self._deferred = []

    def __len__(self):
        return self._count

    def next_fire(self):
        """The earliest next occurrence or retry (µs), or `None`."""
        if self._retries:
            first = self._retries[0][0]
            return min(first, self._heap[0]) if self._heap else first
        return self._heap[0] if self._heap else None

    def add_retry(self, due):
        """Hand out `due`, a retry (`plan_retry`), at its time."""
        self._seq += 1
        heapq.heappush(self._retries, (due.at, self._seq, due))

    def count_until(self, instant):
        """How many occurrences and retries are due by `instant` (µs):
        the size of the batch that the ticker claims for it."""
        return sum(len(self._at[at]) for at in self._heap
                   if at <= instant) + \
            sum(1 for entry in self._retries if entry[0] <= instant)

    def defer(self, due):
        """Hand out `due` again at its time (`take`'s `near`): it was
        claimed ahead of its time, when a run that `max_instances` counts
        was still going, which may have ended by then."""
        self._seq += 1
        heapq.heappush(self._deferred, (due.at, self._seq, due))

    def next_deferred(self):
        """The time (µs) of the earliest deferred due, or `None`."""
        return self._deferred[0][0] if self._deferred else None

    @property
    def retries(self):
        """The retries waiting for their time, earliest first."""
        return [due for _, _, due in sorted(self._retries)]

    def _keep_retries(self, schedules):
        """After a reload, the retries and deferred dues of the schedules
        still there go on with their new schedule objects; the others are
        dropped."""
        by_key = dict((s.key, s) for s in schedules)
        self._retries = self._kept(self._retries, by_key)
        self._deferred = self._kept(self._deferred, by_key)

    def _kept(self, queue, by_key):
        kept = []
        for at, seq, due in queue:
            schedule = by_key.get(due.schedule.key)
            if schedule is None:
                self.log.info('TracCron: attempt %d of %s at %d not made: '
                              'the schedule is gone', due.attempt,
                              due.schedule.key, due.fire)
                continue
            due.schedule = schedule
            kept.append((at, seq, due))
        heapq.heapify(kept)
        return kept

    def load(self, schedules, now, grace, last_fire=None):
        """Follow `schedules` from now on, from where the agenda left off
        so that nothing is lost or handed out twice. `last_fire(schedule)`
        gives the latest occurrence in the history (at start): what came
        since runs if it is within `grace`, the older rest is missed or
        caught up. Returns the dues of that backlog."""
        if self.last is None:
            self.last = now
        self._heap, self._at, self._count = [], {}, 0
        self._failed, backlog = [], []
        schedules = list(schedules)
        self._keep_retries(schedules)
        for schedule in schedules:
            base = self.last
            try:
                last = last_fire(schedule) if last_fire else None
                if last is not None and last < now:
                    base = max(last, now - grace)
                    if last < base:
                        backlog += self.backlog(schedule, last, base, now)
            except Exception:
                self._failure(schedule)
            self._push(schedule, base)
        return backlog

    def take(self, now, horizon, grace, near=None):
        """Hand out the occurrences due by `horizon`, and the deferred
        dues due by `near` (by default `horizon`). Returns `(dues,
        popped)`; pass `popped` to `advance` once the dues are
        dispatched."""
        failed, self._failed = self._failed, []
        for schedule, after in failed:
            self._push(schedule, after)
        dues, popped = self._take_retries(now, horizon, grace), []
        near = horizon if near is None else near
        deferred = []
        while self._deferred and self._deferred[0][0] <= near:
            deferred.append(heapq.heappop(self._deferred)[2])
        dues += self._again(deferred, now, grace, 'started too late')
        while self._heap and self._heap[0] <= horizon:
            fire = heapq.heappop(self._heap)
            schedules = self._at.pop(fire)
            self._count -= len(schedules)
            if now - fire > grace:
                # Late (the machine slept, the clock jumped): everything of
                # these schedules up to `grace` ago is missed or caught up.
                after = now - grace
                for schedule in schedules:
                    try:
                        dues += self.backlog(schedule, fire - 1, after, now)
                    except Exception:
                        self._failure(schedule)
                    popped.append((schedule, after))
                continue
            for schedule in schedules:
                # (Only a type of the old API says whether it fires.)
                if getattr(schedule, 'legacy', True) is False or \
                        self._confirm(schedule, from_us(fire, schedule.tz)):
                    dues.append(Due(schedule, fire))
                popped.append((schedule, fire))
        return dues, popped

    def _take_retries(self, now, horizon, grace):
        dues = []
        while self._retries and self._retries[0][0] <= horizon:
            due = heapq.heappop(self._retries)[2]
            dues.append(_late_retry(due, now, grace, 'started too late'))
        return dues

    def advance(self, popped):
        """Push the next occurrence of each schedule in `popped`. Schedules
        with the same compiled values (1,000 tasks every second) have it
        computed once."""
        known = {}
        for schedule, after in popped:
            self.last = max(self.last, after)
            self._push(schedule, after, known)

    def _push(self, schedule, after, known=None):
        """Queue the first occurrence of `schedule` after `after` (µs); when
        the schedule raises, keep it to try again at the next `take`.
        `known`: {(its triggers, zone, after): the next occurrence (µs)}
        found for other schedules with the same triggers."""
        key = None
        same = getattr(schedule, 'same', None)
        if known is not None and same is not None:
            key = (same, after)
            nxt = known.get(key, False)
            if nxt is not False:
                self._queue(schedule, nxt)
                return
        try:
            nxt = schedule.next_after(from_us(after, schedule.tz))
        except Exception:
            self._failure(schedule)
            self._failed.append((schedule, after))
            return
        nxt = None if nxt is None else to_us(nxt)
        if key is not None:
            known[key] = nxt
        self._queue(schedule, nxt)

    def _queue(self, schedule, nxt):
        if self._logged:
            self._logged.discard(schedule.key)
        if nxt is not None:
            self._count += 1
            queued = self._at.get(nxt)
            if queued is None:
                self._at[nxt] = [schedule]
                heapq.heappush(self._heap, nxt)
            else:
                queued.append(schedule)

    def _failure(self, schedule):
        """Log the error of `schedule` being handled, once until it works
        again."""
        if schedule.key not in self._logged:
            self._logged.add(schedule.key)
            self.log.error('TracCron: schedule %s failed; it is tried again '
                           'at each wake', schedule.key, exc_info=True)

    @property
    def failing(self):
        """Whether a schedule raised and waits to be tried again."""
        return bool(self._failed)

    def has_more(self, horizon):
        nxt = self.next_fire()
        return nxt is not None and nxt <= horizon

    def retry(self, dues):
        """Keep `dues`, which could not be claimed, for the next `take`."""
        self.pending.extend(dues)

    def take_pending(self, now, grace):
        """Hand out again the dues that could not be claimed: those now
        later than `grace` become `missed` (or one catch-up run)."""
        pending, self.pending = self.pending, []
        return self._cap_missed(self._again(
            pending, now, grace, 'the database could not be reached in time'))

    def _again(self, handed, now, grace, why):
        """The dues `handed` out once more: those now later than `grace`
        become `missed` (or one catch-up run), saying `why`."""
        dues, late = [], collections.OrderedDict()
        for due in handed:
            if due.attempt > 1:
                # A retry keeps its attempt number, late or not.
                dues.append(_late_retry(due, now, grace, why))
            elif due.status == 'running' and now - due.fire > grace:
                late.setdefault(due.schedule, []).append(due.fire)
            else:
                dues.append(due)
        for schedule, fires in late.items():
            dues += self._late(schedule, fires, now, why)
        return dues

    def _cap_missed(self, dues):
        """`dues` with at most the last `MAX_MISSED` `missed` ones of each
        schedule: a long outage keeps a bounded backlog in memory."""
        missed = collections.Counter(d.schedule.key for d in dues
                                     if d.status == 'missed')
        over = dict((k, n - MAX_MISSED) for k, n in missed.items()
                    if n > MAX_MISSED)
        if not over:
            return dues
        kept = []
        for due in dues:
            if due.status == 'missed' and over.get(due.schedule.key, 0) > 0:
                over[due.schedule.key] -= 1
                continue
            kept.append(due)
        for key, n in missed.items():
            if n > MAX_MISSED:
                self.log.warning('TracCron: %d occurrences of %s were '
                                 'missed while the database could not be '
                                 'reached; the last %d are recorded', n,
                                 key, MAX_MISSED)
        return kept

    def backlog(self, schedule, after, until, now):
        """The dues of `schedule`'s occurrences in (`after`, `until`] (µs)
        that did not run in time: one catch-up run with the latest time
        when the schedule has `catch_up`, else `missed` for at most the
        last `MAX_MISSED` of them."""
        limit = 1 if schedule.catch_up else MAX_MISSED
        fires, total = last_occurrences(
            schedule, after, until, limit,
            lambda dt: self._confirm(schedule, dt))
        if not fires:
            return []
        if total is None or total > len(fires):
            self.log.warning(
                'TracCron: %s occurrences of %s were missed; the last %d '
                'are recorded', 'more than %d' % len(fires) if total is None
                else total, schedule.key, len(fires))
        return self._late(schedule, fires, now, None, after)

    def _late(self, schedule, fires, now, why, since=None):
        if schedule.catch_up:
            since = fires[0] - 1 if since is None else since
            return [Due(schedule, fires[-1], 'running',
                        'catch-up: one run for the occurrences missed since '
                        '%s' % from_us(since + 1, schedule.tz).isoformat())]
        if len(fires) > MAX_MISSED:
            self.log.warning('TracCron: %d occurrences of %s were missed; '
                             'the last %d are recorded', len(fires),
                             schedule.key, MAX_MISSED)
            fires = fires[-MAX_MISSED:]
        reason = 'started too late' if why is None else why
        return [Due(schedule, fire, 'missed',
                    '%s: %.3f s after its time (misfire_grace)'
                    % (reason, (now - fire) / SECOND)) for fire in fires]

    def _confirm(self, schedule, fire_dt):
        try:
            return schedule.confirm(fire_dt)
        except Exception:
            self.log.error('TracCron: scheduler type %s failed for %s',
                           schedule.type_id, schedule.task_id, exc_info=True)
            return False


def _late_retry(due, now, grace, why):
    """`due`, a retry, recorded `missed` when it comes more than `grace`
    after its time."""
    if due.status == 'running' and now - due.at > grace:
        due.status = 'missed'
        due.message = 'retry %d %s: %.3f s after its time (misfire_grace)' \
            % (due.attempt - 1, why, (now - due.at) / SECOND)
    return due


def last_occurrences(schedule, after, until, limit, confirm):
    """The last `limit` instants (µs, oldest first) at which `schedule`
    fires in (`after`, `until`], and how many there are in all (`None`
    when more than were looked at). Looks back over a growing span, so
    that a long downtime costs little."""
    span = MINUTE
    while True:
        start = max(after, until - span)
        window = collections.deque(maxlen=limit)
        count = 0
        dt = from_us(start, schedule.tz)
        while True:
            nxt = schedule.next_after(dt)
            if nxt is None or to_us(nxt) > until:
                break
            dt = nxt
            if confirm(nxt):
                window.append(to_us(nxt))
                count += 1
        if start == after:
            return list(window), count
        if count >= limit:
            return list(window), None
        span *= 4
