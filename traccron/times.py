# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Instants as µs since the epoch, the unit of the history table."""

from datetime import datetime, timedelta, timezone

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = 1000000
_US = timedelta(microseconds=1)


def to_us(dt):
    """An aware datetime as µs since the epoch."""
    return (dt - EPOCH) // _US


def from_us(us, tz=UTC):
    """µs since the epoch as an aware datetime in `tz`."""
    return (EPOCH + us * _US).astimezone(tz)
