#!/usr/bin/env python
# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

from setuptools import find_packages, setup

# Every module that defines Components: Trac loads only these from an egg.
COMPONENT_MODULES = [
    'traccron.admin',
    'traccron.config',
    'traccron.core',
    'traccron.db',
    'traccron.history',
    'traccron.listener',
    'traccron.notification',
    'traccron.scheduler',
    'traccron.tasks.auto_postpone',
    'traccron.tasks.heart_beat',
    'traccron.tasks.sleeping_ticket',
    'traccron.tasks.ticket_deadline',
    'traccron.tasks.unreachable_milestone',
]

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
    install_requires=['Trac>=1.6,<1.7', 'setuptools<82'],
    entry_points={
        'trac.plugins': ['%s = %s' % (m, m) for m in COMPONENT_MODULES],
    },
)
