# -*- coding: utf-8 -*-
#
# Copyright (C) 2026 The TracCron authors
# All rights reserved.
#
# This software is licensed as described in the file COPYING, which
# you should have received as part of this distribution.

"""Every benchmark still runs: each bench/*.py (a new one is found by
itself; the helpers bench/_*.py are not benchmarks) with `--smoke`, a
few tasks for a few seconds, in a process of its own. Its figures are
printed, never judged, and bench/results.json is left alone."""

import glob
import hashlib
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'bench', 'results.json')
BENCHMARKS = sorted(
    path for path in glob.glob(os.path.join(ROOT, 'bench', '*.py'))
    if not os.path.basename(path).startswith('_'))


def digest(path):
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.timeout(240)
@pytest.mark.parametrize('script', BENCHMARKS, ids=os.path.basename)
def test_benchmark_runs_in_smoke_mode_and_prints_figures(script):
    before = digest(RESULTS)
    result = subprocess.run(
        [sys.executable, script, '--smoke'], cwd=ROOT, capture_output=True,
        text=True, timeout=230, env=dict(os.environ, PYTHONPATH=''))
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert any(c.isdigit() for c in result.stdout), result.stdout
    assert 'written to' not in result.stdout
    assert digest(RESULTS) == before
    # Targets are listed, never judged, in a smoke run.
    assert not [line for line in result.stdout.splitlines()
                if line.startswith(('yes ', 'no ')) or
                'target met' in line], result.stdout


@pytest.mark.timeout(120)
def test_peers_smoke_runs_traccron_alone_without_apscheduler(tmp_path):
    # A module that fails to import hides APScheduler, installed (make
    # bench installs it) or not.
    (tmp_path / 'apscheduler.py').write_text('raise ImportError("hidden")')
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'bench', 'peers.py'),
         '--smoke'], cwd=ROOT, capture_output=True, text=True, timeout=110,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert 'peers left out: APScheduler is not installed' in result.stdout
    assert 'traccron sqlite' in result.stdout
    assert 'apscheduler memory' not in result.stdout


def test_every_benchmark_is_found():
    names = [os.path.basename(p) for p in BENCHMARKS]
    assert 'peers.py' in names and 'scale_curve.py' in names
    assert not [n for n in names if n.startswith('_')]
