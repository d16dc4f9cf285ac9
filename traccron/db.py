# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The tables of TracCron: `cron_history` (one row per attempt of an
occurrence or run), `cron_log` (the log lines a run wrote) and
`cron_alert` (overdue episodes); their schema, creation and upgrades."""

from trac.core import Component, implements
from trac.db.api import DatabaseManager
from trac.db.schema import Column, Index, Table
from trac.env import IEnvironmentSetupParticipant

VERSION_NAME = 'traccron_version'
SCHEMA_VERSION = 3

#: Since version 2: the arguments of each run, as a JSON list, and the
#: log lines it wrote (`traccron.capture`).
LOG_TABLE = Table('cron_log', key='run_id')[
    Column('run_id', type='int64'),
    Column('args'),
    Column('log'),
]

#: Since version 3: the overdue episodes of tasks (`TASK.alert_after`).
#: A row per episode, keyed by the task and the instant from which it
#: counts (its last success): the process whose insert wins raises the
#: "overdue" event, the one whose update sets `recovered` the
#: "recovered" event, each once across all processes.
ALERT_TABLE = Table('cron_alert', key='id')[
    Column('id', auto_increment=True),
    Column('task', key_size=100),
    Column('since', type='int64'),
    Column('raised', type='int64'),
    Column('raised_by'),
    Column('recovered', type='int64'),
    Column('recovered_by'),
    Index(['task', 'since'], unique=True),
    Index(['recovered']),
]

#: Since version 3: `attempt` (1 for the first try of an occurrence,
#: then one more for each retry) is part of the claim key; `outcome` is
#: the real outcome of a run recorded `timeout`.
HISTORY_TABLE = Table('cron_history', key='id')[
    Column('id', auto_increment=True),
    Column('task', key_size=100),
    Column('schedule', key_size=150),
    Column('fire_time', type='int64'),
    Column('started', type='int64'),
    Column('ended', type='int64'),
    Column('status', key_size=20),
    Column('message'),
    Column('runner'),
    Column('heartbeat', type='int64'),
    Column('attempt', type='int'),
    # The real outcome of a run that went past its time limit (its status
    # stays `timeout`): `success` counts for `alert_after`.
    Column('outcome', key_size=20),
    Index(['task', 'schedule', 'fire_time', 'attempt'], unique=True),
    Index(['started']),
    # History pages filtered by task or status, newest first.
    Index(['task', 'id']),
    Index(['status', 'id']),
]

SCHEMA = [HISTORY_TABLE, LOG_TABLE, ALERT_TABLE]


class CronSetup(Component):
    """Creates and upgrades the `cron_history` table."""

    implements(IEnvironmentSetupParticipant)

    def environment_created(self):
        self.upgrade_environment()

    def environment_needs_upgrade(self):
        dbm = DatabaseManager(self.env)
        return dbm.needs_upgrade(SCHEMA_VERSION, VERSION_NAME)

    def upgrade_environment(self):
        dbm = DatabaseManager(self.env)
        version = dbm.get_database_version(VERSION_NAME)
        tables = dbm.get_table_names()
        if not version:
            # Tables left behind without their version row (for example
            # by EnvironmentStub.reset_db) are kept as they are.
            dbm.create_tables([t for t in SCHEMA if t.name not in tables])
            dbm.set_database_version(SCHEMA_VERSION, VERSION_NAME)
            return
        # One step at a time from the version found.
        if version < 2:
            if 'cron_log' not in tables:
                dbm.create_tables([LOG_TABLE])
            dbm.set_database_version(2, VERSION_NAME)
        if version < 3:
            # Rows kept, each the first attempt of its occurrence.
            if 'cron_history' in tables:
                dbm.upgrade_tables([HISTORY_TABLE])
                with self.env.db_transaction as db:
                    db("UPDATE cron_history SET attempt=1 "
                       "WHERE attempt IS NULL")
            if 'cron_alert' not in tables:
                dbm.create_tables([ALERT_TABLE])
            dbm.set_database_version(3, VERSION_NAME)
