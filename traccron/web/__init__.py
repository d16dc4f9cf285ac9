# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The admin panels of TracCron (category `traccron`), one Component
each: Settings, History (with its RSS feed, `feed`), Listeners and
Documentation; `common` holds what they share, `form` the fields of the
Settings and Listeners forms."""
