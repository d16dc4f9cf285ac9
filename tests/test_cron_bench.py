# -*- coding: utf-8 -*-
"""The cron benchmark runs (its figures are printed, never asserted)."""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'bench', 'cron_speed.py')


def load_benchmark():
    spec = importlib.util.spec_from_file_location('cron_speed', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_a_few_calls_and_reports_every_expression(capsys):
    pytest.importorskip('croniter')
    bench = load_benchmark()
    rows = bench.main(['--calls', '30', '--repeat', '1', '--no-save'])
    assert len(rows) == len(bench.EXPRESSIONS) * len(bench.ZONES)
    for row in rows:
        assert row['ours_us'] > 0
        assert ('ratio' in row) == (row['croniter'] is not None)
        # Same fire times as croniter in UTC, where its rules are ours.
        if row['zone'] == 'UTC' and row['croniter'] is not None:
            assert 'note' not in row
    out = capsys.readouterr().out
    assert 'croniter has no LW' in out


def test_benchmark_is_a_script_run_from_the_repository_root():
    pytest.importorskip('croniter')
    result = subprocess.run(
        [sys.executable, 'bench/cron_speed.py', '--calls', '5', '--repeat',
         '1', '--no-save'], cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=''), timeout=120)
    assert result.returncode == 0, result.stderr
    assert '0 15 10 ? * 6L' in result.stdout
