# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The admin panels, as earlier versions named their module: they live
in `traccron.web` now. Importing this module loads all of them, and the
Timeline's provider."""

from traccron.present import duration as format_duration
from traccron.web.common import CATEGORY, PERMISSION, CronWebModule
from traccron.web.documentation import DocumentationPanel
from traccron.web.history import PAGE_SIZE, HistoryPanel
from traccron.web.listeners import ListenersPanel
from traccron.web.overview import OverviewPanel
from traccron.web.settings import SettingsPanel
from traccron.web.timeline import CronTimeline

#: The panel Components, in the order of their pages.
PANELS = (OverviewPanel, SettingsPanel, HistoryPanel, ListenersPanel,
          DocumentationPanel)

__all__ = ['CATEGORY', 'PAGE_SIZE', 'PANELS', 'PERMISSION', 'CronTimeline',
           'CronWebModule', 'DocumentationPanel', 'HistoryPanel',
           'ListenersPanel', 'OverviewPanel', 'SettingsPanel',
           'format_duration']
