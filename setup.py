#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

from setuptools import find_packages, setup

try:
    import babel  # only needed to extract and compile the catalogs
except ImportError:
    babel = None

# Every module that defines Components: Trac loads only these from an egg.
COMPONENT_MODULES = [
    'traccron.admin',
    'traccron.compat',
    'traccron.config',
    'traccron.core',
    'traccron.db',
    'traccron.history',
    'traccron.listener',
    'traccron.monitor',
    'traccron.notification',
    'traccron.scheduler',
    'traccron.subscription',
    'traccron.tasks.auto_postpone',
    'traccron.tasks.heart_beat',
    'traccron.tasks.sleeping_ticket',
    'traccron.tasks.ticket_deadline',
    'traccron.tasks.unreachable_milestone',
    'traccron.ticker',
    'traccron.web.common',
    'traccron.web.documentation',
    'traccron.web.history',
    'traccron.web.listeners',
    'traccron.web.overview',
    'traccron.web.settings',
    'traccron.web.timeline',
    # Earlier versions' module of the panels: it imports them.
    'traccron.web_ui',
]

# Translations (Babel, see setup.cfg): `setup.py extract_messages
# update_catalog compile_catalog` refreshes the catalogs. The compiled .mo
# files are kept in the source tree, so a build needs no Babel and never
# writes into the checkout; a test checks that they match the .po files.
l10n = {}
if babel is not None:
    jinja2_syntax = {
        'variable_start_string': '${', 'variable_end_string': '}',
        'line_statement_prefix': '#', 'line_comment_prefix': '##',
        'trim_blocks': 'yes', 'lstrip_blocks': 'yes',
        'newstyle_gettext': 'yes', 'silent': 'no',
    }
    l10n['message_extractors'] = {'traccron': [
        ('**.py', 'trac.dist:extract_python', None),
        ('**/templates/cron_*.html', 'trac.dist:extract_html',
         jinja2_syntax),
        ('**/templates/cron_*.rss', 'trac.dist:extract_html',
         jinja2_syntax),
    ]}

setup(
    name='TracCronPlugin',
    version='1.0.0.dev0',
    description='Task scheduler for Trac: runs Python tasks on schedules '
                'inside Trac',
    long_description=open('README.txt').read(),
    long_description_content_type='text/plain',
    author='The TracCron authors',
    license='BSD 3-Clause',
    keywords='trac plugin cron scheduler task',
    classifiers=[
        'Framework :: Trac',
        'License :: OSI Approved :: BSD License',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.11',
    ],
    python_requires='>=3.11',
    packages=find_packages(exclude=['tests', 'tests.*', 'bench']),
    package_data={'traccron': ['templates/*', 'htdocs/*', 'locale/*/*/*']},
    zip_safe=False,
    # What the plugin needs at run time, and nothing else: Babel is
    # optional (translations), the test tools are in requirements-dev.txt.
    # Trac 1.6 imports pkg_resources, which setuptools 82 removed.
    install_requires=['Trac>=1.6,<1.7', 'setuptools<82'],
    entry_points={
        'trac.plugins': ['%s = %s' % (m, m) for m in COMPONENT_MODULES],
        # `cron status` for Nagios without trac-admin's own database
        # check, which exits 2 before the command can answer UNKNOWN.
        'console_scripts': ['traccron-status = traccron.monitor:main'],
    },
    **l10n
)
