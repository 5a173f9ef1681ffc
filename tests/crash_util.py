"""What the kill-and-resume tests share: a small chain, an experiment over it, a count of the store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
from tiny_chain import tiny_chain

# For the tests that stop a run part-way: replications of ~35 ms, so an experiment of 150-180 takes
# seconds and stores its results in a dozen chunks or more (a chunk holds about half a second of
# work, chainsim.executors.Chunks); at 5 ms a replication the whole run is two chunks and ends
# before a kill can land in the middle.
SLOW_HORIZON = 12_000


def write_experiment(folder: Path, name: str, replications: int, horizon: float, seed: int) -> int:
    """tiny.yaml and x.yaml in folder: a baseline and two scenarios; returns the replications in all."""
    (folder / "tiny.yaml").write_text(tiny_chain(horizon, seed, rich=True, name=f"Tiny chain ({name})"))
    (folder / "x.yaml").write_text(f"""
name: {name}
model: tiny.yaml
replications: {replications}
scenarios:
  - {{name: hire, levers: [{{lever: add_staff, department: checks}}]}}
  - {{name: clearer, levers: [{{lever: clearer_requests, factor: 0.5}}]}}
""")
    return 3 * replications


def stored(path: Path) -> int:
    """Replications committed to the store so far (0 before it exists)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM replications").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()


def busy_workers(run: subprocess.Popen) -> list[psutil.Process]:
    """The worker processes of a CLI run that have simulated for 0.3 s of CPU time, once there is one
    (a fixed sleep could end while a loaded machine was still importing), or [] if the run ended first."""
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        try:
            busy = [w for w in psutil.Process(run.pid).children() if w.cpu_times().user > 0.3]
        except psutil.Error:  # a process ended as it was looked at
            busy = []
        if busy:
            return busy
    return []


def group_ends(group: int, within: float = 10.0) -> bool:
    """Every process of the process group (a run started in a session of its own, and its workers) has
    ended, within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
