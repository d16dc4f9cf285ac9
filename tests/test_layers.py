# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""The modules of the package import each other one way only, down the
data path: settings and cron, then schedules, history, the core, the
ticker and the web and command-line front ends."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       'traccron')

#: Each module may import only modules of its layer or a lower one.
LAYERS = [
    ['traccron', 'traccron.api', 'traccron.cron', 'traccron.times',
     'traccron.db', 'traccron.tasks', 'traccron.present'],
    ['traccron.settings'],
    ['traccron.config'],
    ['traccron.compat', 'traccron.notification'],
    ['traccron.scheduler', 'traccron.agenda'],
    ['traccron.history'],
    ['traccron.capture', 'traccron.dispatcher', 'traccron.housekeeping'],
    ['traccron.alerts', 'traccron.overdue'],
    ['traccron.core'],
    ['traccron.listener', 'traccron.tasks.auto_postpone',
     'traccron.tasks.heart_beat', 'traccron.tasks.sleeping_ticket',
     'traccron.tasks.ticket_deadline',
     'traccron.tasks.unreachable_milestone'],
    ['traccron.ticker'],
    ['traccron.admin', 'traccron.monitor', 'traccron.web',
     'traccron.web.common', 'traccron.web.form', 'traccron.web.feed',
     'traccron.web.settings', 'traccron.web.history',
     'traccron.web.listeners', 'traccron.web.documentation',
     'traccron.web.overview', 'traccron.web.run_page',
     'traccron.web.timeline', 'traccron.web_ui', 'traccron.subscription'],
]
RANK = dict((module, rank) for rank, layer in enumerate(LAYERS)
            for module in layer)


def modules():
    for folder, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE))
                module = parts[:-3].replace(os.sep, '.')
                if module.endswith('.__init__'):
                    module = module[:-len('.__init__')]
                yield module, path


def imports(path):
    """The `traccron` modules that the file `path` imports, anywhere in
    it (functions included)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names
                         if a.name.startswith('traccron'))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                node.module.startswith('traccron'):
            for alias in node.names:
                sub = '%s.%s' % (node.module, alias.name)
                found.add(sub if sub in RANK else node.module)
    return found


def graph():
    return dict((module, imports(path)) for module, path in modules())


def test_every_module_has_a_layer():
    assert set(graph()) == set(RANK)


def test_modules_import_only_from_their_layer_or_below():
    upward = [(module, imported) for module, found in graph().items()
              for imported in found if RANK[imported] > RANK[module]]
    assert upward == []


def test_imports_have_no_cycle():
    edges = graph()
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(edges.get(module, ())):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    assert [c for c in map(visit, sorted(edges)) if c] == []
