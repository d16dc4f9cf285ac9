# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Instants as µs since the epoch, the unit of the history table, and
the lengths of time the scheduler counts in that unit."""

import time
from datetime import timezone

from trac.util.datefmt import from_utimestamp, to_utimestamp

__all__ = ['UTC', 'SECOND', 'MINUTE', 'HOUR', 'DAY', 'to_us', 'from_us',
           'now_us', 'seconds']

UTC = timezone.utc
#: µs in a second, a minute, an hour and a day.
SECOND = 1000000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def to_us(dt):
    """An aware datetime as µs since the epoch."""
    return to_utimestamp(dt)


def from_us(us, tz=UTC):
    """µs since the epoch as an aware datetime in `tz`."""
    return from_utimestamp(us).astimezone(tz)


def now_us(clock=time):
    """The time of `clock` (an object with `time()`, seconds since the
    epoch) in µs since the epoch."""
    return int(clock.time() * SECOND)


def seconds(us):
    """A duration or an instant in µs as seconds (a float); `None` stays
    `None`."""
    return None if us is None else us / SECOND
