"""Dask at the edges: Ctrl-C under a LocalCluster, workers running another chainsim, a refused connection.

Real processes throughout: the CLI with a real LocalCluster, a real scheduler, `dask worker` processes.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from crash_util import SLOW_HORIZON, group_ends, stored, write_experiment
from distributed import Client, LocalCluster
from tiny_chain import tiny_chain

import chainsim
from chainsim.dask_executor import DaskExecutor
from chainsim.errors import ClusterError

CLI = [sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--out", "x.sqlite", "--dask", "local"]
DASK_NOISE = ("Traceback", "Fatal Python error", "WARNING", "KeyboardInterrupt", "CancelledError")


def _start(folder: Path) -> subprocess.Popen:
    """The CLI in a session of its own, so that a signal to its group reaches it and its workers, as Ctrl-C does."""
    write_experiment(folder, "stopped", replications=200, horizon=SLOW_HORIZON, seed=3)
    return subprocess.Popen(CLI, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _ctrl_c(run: subprocess.Popen) -> str:
    """Send SIGINT to the run's whole process group; its stderr once it has ended, with nothing left behind."""
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert group_ends(run.pid), "a worker process outlived the run"
    return err


def test_ctrl_c_mid_run_on_a_local_cluster_is_as_clean_as_with_local_processes(tmp_path):
    """The workers used to get the terminal's SIGINT too: KeyboardInterrupt and CancelledError tracebacks and
    Dask warnings. Now only the command stops, closes its workers and says how to resume."""
    run = _start(tmp_path)
    deadline = time.monotonic() + 120
    while stored(tmp_path / "x.sqlite") < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    err = _ctrl_c(run)
    assert run.returncode == 130, err
    assert not [noise for noise in DASK_NOISE if noise in err], err
    assert "stopped: finished replications are in x.sqlite; continue with --resume: " \
           "chainsim experiment x.yaml --out x.sqlite --resume" in err
    assert 3 <= stored(tmp_path / "x.sqlite") < 600


def test_ctrl_c_amid_a_long_replication_on_a_local_cluster_stops_without_a_word_from_dask(tmp_path):
    """A worker amid a replication of minutes does not stop when asked: its nanny killed it after 4 s with
    "WARNING - Worker process still alive after 4.0 seconds, killing", twice, above the resume line."""
    (tmp_path / "long.yaml").write_text(tiny_chain(horizon=10_000_000, seed=5))
    (tmp_path / "x.yaml").write_text("name: long\nmodel: long.yaml\nreplications: 2\nscenarios:\n"
                                     "  - {name: hire, levers: [{lever: add_staff, department: checks}]}\n")
    run = subprocess.Popen(CLI, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while not _simulating(run.pid) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _simulating(run.pid), "the workers never got going"
    err = _ctrl_c(run)
    assert run.returncode == 130, err
    assert not [noise for noise in DASK_NOISE if noise in err], err
    assert "continue with --resume: chainsim experiment x.yaml --out x.sqlite --resume" in err


def _simulating(pid: int) -> bool:
    """One of the run's Dask workers has simulated for a second (so it is amid a replication of minutes)."""
    try:
        workers = [p for p in psutil.Process(pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        return any(worker.cpu_times().user > 1.0 for worker in workers)
    except psutil.Error:  # a process ended as it was looked at
        return False


def _spawning_workers(pid: int) -> bool:
    """The run has begun to start its LocalCluster's worker processes (Python's spawn)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
        return any("spawn_main" in " ".join(child.cmdline()) for child in children)
    except psutil.Error:  # a child ended as it was looked at
        return False


def test_ctrl_c_while_the_local_cluster_starts_stops_cleanly_and_claims_to_keep_nothing(tmp_path):
    """Interrupted as its workers started, a run printed "Fatal Python error: init_import_site" and said
    finished replications were in a store file that did not exist."""
    run = _start(tmp_path)
    deadline = time.monotonic() + 60
    while not _spawning_workers(run.pid) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    err = _ctrl_c(run)
    assert run.returncode == 130, err
    assert not [noise for noise in DASK_NOISE if noise in err], err
    assert "stopped (Ctrl-C) before any replication ran: nothing was stored" in err
    assert "--resume" not in err
    assert not (tmp_path / "x.sqlite").exists()


def test_a_refused_connection_is_refused_at_once_not_after_the_connect_timeout():
    with socket.create_server(("127.0.0.1", 0)) as server:  # a port nothing listens on once closed
        port = server.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ClusterError, match=f"no Dask scheduler answered at tcp://127.0.0.1:{port} "
                                           r"\(connection refused: nothing listens on that port\).*--dask"):
        DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout=20)
    assert time.monotonic() - started < 5


@pytest.fixture
def scheduler() -> Iterator[str]:
    """A real scheduler without workers of its own, on TCP."""
    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _shadow_chainsim(folder: Path, init: str) -> dict[str, str]:
    """An environment whose Python imports a chainsim package made of `init` (another version, a broken one)."""
    (folder / "chainsim").mkdir(parents=True)
    (folder / "chainsim" / "__init__.py").write_text(init)
    return {**os.environ, "PYTHONPATH": str(folder)}


def test_workers_running_another_chainsim_are_refused_naming_them_and_both_versions(scheduler, tmp_path):
    """A worker with other chainsim code was accepted silently: the store got its numbers and its KPIs."""
    older = _shadow_chainsim(tmp_path / "older", '__version__ = "0.0.9"\n')
    broken = _shadow_chainsim(tmp_path / "broken", 'raise ImportError("half installed")\n')
    workers = [subprocess.Popen(["dask", "worker", scheduler, "--nthreads", "1", "--no-nanny", "--name", name],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for name, env in [("older", older), ("broken", broken)]]
    try:
        with Client(scheduler, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            addresses = {info["name"]: address for address, info in client.scheduler_info()["workers"].items()}
        with pytest.raises(ClusterError) as refused:
            DaskExecutor(scheduler, connect_timeout=10, workers_timeout=10)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    message = str(refused.value)
    assert message.startswith(f"2 of the 2 workers of the Dask scheduler at {scheduler} run another chainsim than "
                              f"this one, {chainsim.__version__} (source ")
    # its version alone: that chainsim has no code_identity
    assert re.search(rf"{re.escape(addresses['older'])} runs chainsim 0\.0\.9[;.]", message)
    assert f"{addresses['broken']} runs no usable chainsim (ImportError: half installed)" in message
    assert message.endswith("Install the same chainsim on the workers (or here), restart them, then run again (--dask)")
