# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

import pytest

from databases import KINDS, fresh_database, skip_unless


@pytest.fixture(params=KINDS)
def db_uri(request):
    """A fresh database URI on SQLite, PostgreSQL and MariaDB in turn."""
    skip_unless(request.param)
    with fresh_database(request.param) as uri:
        yield uri
