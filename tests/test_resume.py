"""SIGKILL mid-experiment: the store stays readable, --resume runs only the rest, results are unchanged."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from chainsim import Experiment, ResultStore

MODEL = """
name: Tiny chain, a long day
run: {horizon: 1500, seed: 4}
departments:
  desk: {staff: 2}
  checks: {staff: 1}
customers:
  walk_in:
    arrivals: {rate: 0.25}
    patience: {dist: exponential, mean: 30}
    journey:
      - serve: desk
        time: {dist: exponential, mean: 5}
        consult: {request: checks, time: {dist: exponential, mean: 2.5}, clarify: {p: 0.2}}
"""

EXPERIMENT = """
name: killed
model: tiny.yaml
replications: 60
scenarios:
  - {name: hire, levers: [{lever: add_staff, department: checks}]}
  - {name: clearer, levers: [{lever: clearer_requests, factor: 0.5}]}
"""
TOTAL = 3 * 60
CLI = [sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--out", "x.sqlite", "--workers", "2"]


def _stored(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM replications").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    (tmp_path / "tiny.yaml").write_text(MODEL)
    (tmp_path / "x.yaml").write_text(EXPERIMENT)
    store = tmp_path / "x.sqlite"
    run = subprocess.Popen(CLI, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while _stored(store) < 20 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # the command and its worker processes, mid-run
    run.wait()
    assert run.returncode == -signal.SIGKILL

    with ResultStore(store) as db:  # readable, and holds whole replications only
        kept = db.replication_count("killed")
        table = db.kpi_table("killed")
        before = dict(db._db.execute("SELECT scenario || ':' || replication, finished FROM replications").fetchall())
    assert 20 <= kept < TOTAL, "the run was not killed mid-way"
    rows_per_replication = table.groupby(["scenario", "replication"]).size()
    assert len(rows_per_replication) == kept and rows_per_replication.nunique() == 1

    resumed = subprocess.run([*CLI, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "60-60 replications" in resumed.stdout

    with ResultStore(store) as db:
        assert db.replication_count("killed") == TOTAL
        final = db.kpi_table("killed")
        after = dict(db._db.execute("SELECT scenario || ':' || replication, finished FROM replications").fetchall())
    assert {k: after[k] for k in before} == before  # what was stored was not run again

    uninterrupted = Experiment.from_file(tmp_path / "x.yaml").run().results.table
    pd.testing.assert_frame_equal(final, uninterrupted, check_exact=True)


def test_ctrl_c_stops_cleanly_keeps_what_finished_and_exits_130(tmp_path):
    (tmp_path / "tiny.yaml").write_text(MODEL)
    (tmp_path / "x.yaml").write_text(EXPERIMENT)
    store = tmp_path / "x.sqlite"
    run = subprocess.Popen(CLI, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while _stored(store) < 10 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the command and its workers
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert "continue with --resume" in err and "Traceback" not in err
    assert 10 <= _stored(store) < TOTAL
