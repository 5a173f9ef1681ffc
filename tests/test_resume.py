"""SIGKILL mid-experiment: the store stays readable, --resume runs only the rest, results are unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
from crash_util import SLOW_HORIZON, stored, write_experiment

from chainsim import Experiment, ResultStore

CLI = [sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--out", "x.sqlite", "--workers", "2"]


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    total = write_experiment(tmp_path, "killed", replications=60, horizon=SLOW_HORIZON, seed=4)
    store = tmp_path / "x.sqlite"
    run = subprocess.Popen(CLI, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while stored(store) < 20 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # the command and its worker processes, mid-run
    run.wait()
    assert run.returncode == -signal.SIGKILL

    with ResultStore(store) as db:  # readable, and holds whole replications only
        kept = db.replication_count("killed")
        table = db.kpi_table("killed")
        before = dict(db._db.execute("SELECT scenario || ':' || replication, finished FROM replications").fetchall())
    assert 20 <= kept < total, "the run was not killed mid-way"
    rows_per_replication = table.groupby(["scenario", "replication"]).size()
    assert len(rows_per_replication) == kept and rows_per_replication.nunique() == 1

    resumed = subprocess.run([*CLI, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "60 replications each" in resumed.stdout

    with ResultStore(store) as db:
        assert db.replication_count("killed") == total
        final = db.kpi_table("killed")
        after = dict(db._db.execute("SELECT scenario || ':' || replication, finished FROM replications").fetchall())
    assert {k: after[k] for k in before} == before  # what was stored was not run again

    uninterrupted = Experiment.from_file(tmp_path / "x.yaml").run().results.table
    pd.testing.assert_frame_equal(final, uninterrupted, check_exact=True)


def test_ctrl_c_stops_cleanly_keeps_what_finished_and_exits_130(tmp_path):
    total = write_experiment(tmp_path, "killed", replications=60, horizon=SLOW_HORIZON, seed=4)
    store = tmp_path / "x.sqlite"
    run = subprocess.Popen(CLI, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while stored(store) < 10 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the command and its workers
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert "continue with --resume: chainsim experiment x.yaml --out x.sqlite --resume" in err
    assert "Traceback" not in err
    assert 10 <= stored(store) < total


def test_resume_after_changing_the_seed_is_refused_and_mixes_nothing(tmp_path):
    write_experiment(tmp_path, "reseeded", replications=2, horizon=200, seed=1)
    cli = [sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--out", "x.sqlite", "--workers", "1"]
    first = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    experiment = tmp_path / "x.yaml"
    experiment.write_text(experiment.read_text() + "seed: 99\n")
    resumed = subprocess.run([*cli, "--resume", "-r", "4"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr
    assert "its seed changed (stored 1, now 99)" in resumed.stderr and "--out NEW.sqlite" in resumed.stderr
    with ResultStore(tmp_path / "x.sqlite") as db:
        assert set(db.kpi_table("reseeded")["seed"]) == {1} and db.replication_count("reseeded") == 6
