"""Ctrl-C under local processes: the command stops at once, whatever its workers were doing.

Ctrl-C in a terminal sends SIGINT to the command and its workers. A worker interrupted while it
sent a result back left half a message in the result pipe, and the command then waited for the
rest for ever. These tests make that moment likely: the command is paused (SIGSTOP) while its
workers run on and fill the pipe, and Ctrl-C lands while it is paused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from crash_util import SLOW_HORIZON, busy_workers, group_ends, stored, write_experiment
from tiny_chain import tiny_chain

from chainsim.executors import ProcessExecutor, available_cores

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "chainsim.cli"]


def _ctrl_c(run: subprocess.Popen, paused: float) -> tuple[str, str]:
    """Ctrl-C (SIGINT to the whole group) while the command is paused for `paused` s; its output once
    it and every worker have ended. A command that hangs, or a worker left behind, fails the test
    (and is killed: nothing outlives it)."""
    try:
        assert busy_workers(run), "the run ended, or never got going, before Ctrl-C"
        os.kill(run.pid, signal.SIGSTOP)
        time.sleep(paused)  # the workers run on, and block amid writing results nobody reads
        os.killpg(run.pid, signal.SIGINT)
        os.kill(run.pid, signal.SIGCONT)
        out, err = run.communicate(timeout=60)
        assert group_ends(run.pid), "a worker outlived the command"
        return out, err
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:  # the command and all its workers have ended
            pass


@pytest.mark.parametrize("paused", [0.0, 0.3, 0.6, 1.0])  # paused, it hung about one time in two
def test_ctrl_c_in_chainsim_run_exits_130_even_while_paused(paused):
    """Exit 130 like `chainsim experiment` (it printed click's 'Aborted!' and exited 1), and no hang."""
    run = subprocess.Popen([*CLI, "run", str(ROOT / "models" / "retail_bank.yaml"), "-r", "5000", "--workers", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = _ctrl_c(run, paused)
    assert run.returncode == 130, err
    assert "stopped (Ctrl-C)" in err and "Traceback" not in err and out == ""


def test_ctrl_c_while_chainsim_experiment_is_paused_keeps_what_finished_and_says_how_to_resume(tmp_path):
    total = write_experiment(tmp_path, "paused", replications=60, horizon=SLOW_HORIZON, seed=5)
    run = subprocess.Popen([*CLI, "experiment", "x.yaml", "--out", "x.sqlite", "--workers", "2"], cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _, err = _ctrl_c(run, 1.0)
    assert run.returncode == 130, err
    assert "continue with --resume" in err and "Traceback" not in err
    assert stored(tmp_path / "x.sqlite") < total


def test_ctrl_c_amid_a_long_replication_does_not_wait_for_it(tmp_path):
    """Workers ignore Ctrl-C (so none is cut off mid-message): the command must stop them, not wait.

    One replication here takes minutes; the command has 60 s to end.
    """
    (tmp_path / "long.yaml").write_text(tiny_chain(horizon=10_000_000, seed=5, replications=2))
    run = subprocess.Popen([*CLI, "run", "long.yaml", "--workers", "2"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = _ctrl_c(run, 0.0)
    assert run.returncode == 130, err
    assert "stopped (Ctrl-C)" in err and "Traceback" not in err


def _raise_at(task: int) -> int:
    if task == 0:
        raise ValueError("task 0 failed")
    time.sleep(120)
    return task


def test_a_task_that_raises_while_another_runs_for_long_ends_the_map_at_once():
    """close() stops workers still amid a chunk: the other task would take two minutes."""
    started = time.monotonic()
    executor = ProcessExecutor(2)
    try:
        with pytest.raises(ValueError, match="task 0 failed"):
            list(executor.map(_raise_at, range(2)))
        workers = list(executor._pool._processes.values())
    finally:
        executor.close()
    assert len(workers) == 2 and all(worker.exitcode is not None for worker in workers)
    assert time.monotonic() - started < 60  # far from the 120 s a wait for the other task takes


def test_ctrl_c_as_a_chunk_is_sent_still_stops_the_workers_at_once(monkeypatch):
    """A Ctrl-C held while a chunk was sent was raised before the chunk was counted as sent: close()
    then saw nothing running and waited for the chunk (here two minutes)."""
    started = time.monotonic()
    executor = ProcessExecutor(2)
    submit = executor._pool.submit

    def interrupted(*args):
        future = submit(*args)
        os.kill(os.getpid(), signal.SIGINT)  # held until the chunk is sent
        return future

    monkeypatch.setattr(executor._pool, "submit", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            list(executor.map(time.sleep, [120, 120]))
        workers = list(executor._pool._processes.values())
    finally:
        executor.close()
    assert workers and all(worker.exitcode is not None for worker in workers)
    assert time.monotonic() - started < 60


def test_all_cores_means_the_cores_this_process_may_use():
    executor = ProcessExecutor()
    executor.close()
    assert executor.workers == available_cores() == len(os.sched_getaffinity(0))


ORPHAN_SCRIPT = """
import multiprocessing, sys, time
from chainsim.executors import ProcessExecutor
if __name__ == "__main__":
    multiprocessing.set_start_method(sys.argv[1])
    executor = ProcessExecutor(2)
    futures = [executor._pool.submit(time.sleep, 600) for _ in range(2)]  # both workers busy
    while len(executor._pool._processes) < 2:
        time.sleep(0.01)
    print(*(worker.pid for worker in executor._pool._processes.values()), flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_workers_end_when_the_command_that_started_them_is_killed(start_method):
    """kill -9 of the command (not of its group) left its workers waiting for work for ever. Under
    forkserver (Linux's default from Python 3.14) their parent is a server that outlives the command."""
    run = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, start_method], stdout=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        workers = [psutil.Process(int(pid)) for pid in run.stdout.readline().split()]
        assert len(workers) == 2 and all(worker.is_running() for worker in workers)
        run.kill()
        run.wait()
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, "workers outlived the command"
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:  # the command and all its workers have ended
            pass
