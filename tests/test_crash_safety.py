"""An experiment never loses finished work: SIGKILL at random points, and workers that raise.

tests/test_resume.py kills one run once; here one experiment is killed three times at seeded
random points (after a random number of stored replications, plus a random delay, so a kill can land
inside a write), with the store checked after each kill. The failure-row path is covered in
process by tests/test_experiment.py, tests/test_executors.py (processes and Dask) and
tests/test_store.py; here it goes through an experiment file and the CLI with worker processes.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from crash_util import SLOW_HORIZON, stored, write_experiment

from chainsim import ResultStore
from chainsim.cli import EXIT_RUN_LIMIT


def _cli(experiment: str, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "chainsim.cli", "experiment", experiment, "--out", out, "--workers", "2", *extra]


def _finished(path: Path) -> dict[tuple[str, int], float]:
    """When each stored replication was committed: a replication run again would get a new time."""
    with ResultStore(path) as db:
        return {(s, r): t for s, r, t in db._db.execute("SELECT scenario, replication, finished FROM replications")}


def _check_readable(path: Path) -> int:
    """The file passes SQLite's integrity check read-only and holds whole replications only."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        replications = db.execute("SELECT COUNT(*) FROM replications").fetchone()[0]
        kpi_rows = db.execute("SELECT scenario, replication, COUNT(*) FROM kpis GROUP BY scenario, replication").fetchall()
    finally:
        db.close()
    assert len(kpi_rows) == replications, "a replication row without its KPI rows, or the reverse"
    assert len({n for _, _, n in kpi_rows}) <= 1, "a replication with only some of its KPI rows"
    return replications


def _kill_after(cli: list[str], cwd: Path, store: Path, rows: int, delay: float) -> None:
    """Start the command, wait until `rows` replications are stored, wait `delay` s more, SIGKILL it and its workers."""
    run = subprocess.Popen(cli, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while stored(store) < rows and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, f"the run ended before the kill: {run.stderr.read().decode()}"


def test_three_sigkills_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    total = write_experiment(tmp_path, "crashed", replications=50, horizon=SLOW_HORIZON, seed=11)
    store = tmp_path / "x.sqlite"
    rng = random.Random(20240508)  # fixed: the same kill points on every run of the test
    targets = [rng.randrange(low, low + 30) for low in (5, 40, 75)]  # stored replications at each kill
    kept: dict[tuple[str, int], float] = {}
    for i, target in enumerate(targets):
        extra = ("--resume",) if i else ()
        _kill_after(_cli("x.yaml", "x.sqlite", *extra), tmp_path, store, target, rng.uniform(0.0, 0.15))
        count = _check_readable(store)
        assert target <= count < total, f"kill {i + 1} did not land mid-run: {count} of {total} stored"
        now = _finished(store)
        assert {k: now[k] for k in kept} == kept, "a stored replication was lost or run again"
        kept = now

    resumed = subprocess.run(_cli("x.yaml", "x.sqlite", "--resume"), cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "50 replications each" in resumed.stdout
    assert _check_readable(store) == total
    now = _finished(store)
    assert {k: now[k] for k in kept} == kept, "resume ran a stored replication again"

    clean = subprocess.run(_cli("x.yaml", "clean.sqlite"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    with ResultStore(store) as a, ResultStore(tmp_path / "clean.sqlite") as b:
        pd.testing.assert_frame_equal(a.kpi_table("crashed"), b.kpi_table("crashed"), check_exact=True)
        assert a.failures("crashed").empty and b.failures("crashed").empty
    assert resumed.stdout.replace("x.sqlite", "clean.sqlite") == clean.stdout  # the printed answer too


FAILING = """
name: partly broken
model: tiny.yaml
replications: 4
scenarios:
  - {name: hire, levers: [{lever: add_staff, department: checks}]}
  - {name: capped, overrides: {run.max_customers: 3}}
"""


def test_a_failing_replication_in_an_experiment_file_gives_failure_rows_and_the_rest_finish(tmp_path):
    """`capped` raises inside the worker process: failure rows, and the other scenarios finish."""
    write_experiment(tmp_path, "crashed", replications=50, horizon=1200, seed=11)
    (tmp_path / "f.yaml").write_text(FAILING)
    run = subprocess.run(_cli("f.yaml", "f.sqlite"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == EXIT_RUN_LIMIT, run.stderr  # the others finished, but the failures are not hidden
    assert "Traceback" not in run.stdout + run.stderr
    assert "warning: scenario 'capped': 4 replication(s) failed: RunLimitError" in run.stdout
    assert "error: replications failed: 'capped' 4 of 4." in run.stderr

    with ResultStore(tmp_path / "f.sqlite") as db:
        failures = db.failures("partly broken")
        table = db.kpi_table("partly broken")
    messages = failures.groupby("scenario")["message"]
    assert messages.size().to_dict() == {"capped": 4}
    assert messages.apply(lambda m: m.str.contains("max_customers").all())["capped"]
    assert table.groupby("scenario")["replication"].nunique().to_dict() == {"baseline": 4, "hire": 4}


def test_a_scenario_the_model_refuses_stops_the_experiment_before_anything_runs(tmp_path):
    write_experiment(tmp_path, "crashed", replications=50, horizon=1200, seed=11)
    (tmp_path / "f.yaml").write_text(FAILING + "  - {name: typo, overrides: {departments.checks.staff: three}}\n")
    run = subprocess.run(_cli("f.yaml", "f.sqlite"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "typo" in run.stdout + run.stderr and "departments.checks.staff" in run.stdout + run.stderr
    assert not (tmp_path / "f.sqlite").exists()
