"""Serial, local processes and a real Dask LocalCluster give bit-identical experiment results."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import warnings
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from tiny_chain import tiny_chain

from chainsim import Experiment, Scenario
from chainsim.api import model_from_text
from chainsim.dask_executor import LOCAL_CLUSTER_CONFIG, DaskExecutor
from chainsim.errors import WorkerLostError
from chainsim.executors import CHUNK_SECONDS, Chunks, ProcessExecutor, SerialExecutor

TINY = tiny_chain(horizon=240, seed=9, replications=4, rich=True)


def _experiment() -> Experiment:
    return Experiment(model_from_text(TINY), [
        Scenario("hire", levers=[{"lever": "add_staff", "department": "checks"}]),
        Scenario("clearer", levers=[{"lever": "clearer_requests", "factor": 0.5}]),
        Scenario("capped", overrides={"run.max_customers": 5}),  # fails inside the worker
    ], name="same", replications=5)


@pytest.fixture(scope="module")
def cluster():
    """One real LocalCluster (2 worker processes) for the module, via the executor's 'local' door."""
    executor = DaskExecutor("local", workers=2)
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def serial():
    return _experiment().run(executor=SerialExecutor()).results


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(a.failures, b.failures, check_exact=True)


def test_serial_result_shape(serial):
    assert set(serial.table["scenario"]) == {"baseline", "hire", "clearer"}
    assert serial.table.groupby("scenario")["replication"].nunique().tolist() == [5, 5, 5]
    assert sorted(set(serial.failures["scenario"])) == ["capped"]


def test_local_processes_match_serial_bit_for_bit(serial):
    executor = ProcessExecutor(2)
    try:
        _same(_experiment().run(executor=executor).results, serial)
    finally:
        executor.close()


def test_dask_local_cluster_matches_serial_bit_for_bit(serial, cluster):
    assert cluster.workers == 2
    _same(_experiment().run(executor=cluster).results, serial)


def test_joining_a_cluster_by_address_matches_too(serial, cluster):
    joined = DaskExecutor(cluster.address)
    try:
        assert joined.workers == 2
        _same(_experiment().run(executor=joined).results, serial)
    finally:
        joined.close()


def test_dask_map_yields_every_index_once_whatever_the_order(cluster):
    got = dict(cluster.map(abs, [-i for i in range(50)]))
    assert got == {i: i for i in range(50)}


def test_ctrl_c_during_a_dask_run_stops_with_keyboard_interrupt_and_the_cluster_stays_usable(cluster):
    """Ctrl-C (here thrown into the generator where it waits) cancels the chunks in flight. Cancelling
    used to change the set being walked: a RuntimeError traceback, exit 1 instead of 130."""
    for stop in ("throw", "close"):
        results = cluster.map(time.sleep, [0.05] * 40)
        assert next(results)[1] is None
        if stop == "throw":
            with pytest.raises(KeyboardInterrupt):
                results.throw(KeyboardInterrupt)
        else:
            results.close()
    assert dict(cluster.map(abs, [-1, -2])) == {0: 1, 1: 2}


def _housekeeping() -> tuple:
    import dask
    return tuple(dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG)


def test_local_cluster_workers_run_with_housekeeping_turned_down(cluster):
    """The settings must reach the worker processes (a nanny passes its config on), not just this one."""
    seen = cluster._client.run(_housekeeping)
    assert len(seen) == 2
    assert set(seen.values()) == {tuple(LOCAL_CLUSTER_CONFIG.values())}
    assert cluster._cluster.scheduler.WORKER_SATURATION == math.inf


def _sizes_after_one_task_took(seconds: float, tasks: int, workers: int) -> list[int]:
    """The chunk sizes Chunks sends for `tasks` tasks when the first one (a single-task chunk) took `seconds`."""
    chunks = Chunks(range(tasks), workers)
    first = [chunks.next() for _ in range(workers)]
    sizes = [len(chunk) for chunk in first if chunk]
    chunks.finished((seconds, [(i, None) for i, _ in first[0]]))
    while (chunk := chunks.next()) is not None:
        sizes.append(len(chunk))
    return sizes


@pytest.mark.parametrize("seconds", [0.0, 0.005, 0.021, 2.0])
@pytest.mark.parametrize(("tasks", "workers"), [(100, 2), (3, 2), (10_000, 3), (1, 4)])
def test_chunks_cover_every_task_once_in_order(seconds: float, tasks: int, workers: int) -> None:
    chunks = Chunks(range(tasks), workers)
    sent = [chunks.next()]
    chunks.finished((seconds, sent[0]))
    while (chunk := chunks.next()) is not None:
        sent.append(chunk)
    assert [i for chunk in sent for i, _ in chunk] == list(range(tasks))
    assert all(i == task for chunk in sent for i, task in chunk)


def test_each_worker_first_gets_one_task_and_nothing_more_is_sent_until_one_finishes() -> None:
    chunks = Chunks(range(100), 2)
    assert chunks.room(0) and chunks.room(1) and not chunks.room(2)
    assert [chunks.next(), chunks.next()] == [[(0, 0)], [(1, 1)]]
    chunks.finished((0.005, [(0, None)]))
    assert chunks.room(3) and not chunks.room(4)  # then two a worker, one waiting behind the one running


@pytest.mark.parametrize(("seconds", "sizes"), [
    (0.005, [1, 1, 49, 49]),  # the bank's 5 ms replications: one chunk a worker, the fewest Dask round trips
    (0.021, [1, 1, 17, 17, 16, 16, 16, 16]),  # 0.5 s / 21 ms = 23 at most: three rounds of two
    (2.0, [1] * 100),  # long replications: a chunk each, so progress and a kill's loss stay at one
    (0.0, [1, 1, 49, 49]),  # instant tasks: an even share each
])
def test_chunks_hold_about_half_a_second_of_work_in_rounds_of_one_a_worker(seconds: float,
                                                                               sizes: list[int]) -> None:
    assert _sizes_after_one_task_took(seconds, 100, 2) == sizes
    assert CHUNK_SECONDS == 0.5


def test_each_round_is_sized_from_the_last_chunk_that_finished() -> None:
    """Tasks come scenario by scenario: when they start to cost more, the next round's chunks shrink."""
    chunks = Chunks(range(1000), 2)
    probes = [chunks.next(), chunks.next()]
    chunks.finished((0.005, probes[0]))
    first_round = [chunks.next(), chunks.next()]
    assert [len(chunk) for chunk in first_round] == [100, 100]  # 5 rounds of 2 for the 998 left
    chunks.finished((10.0, first_round[0]))  # 100 ms a task now
    assert [len(chunks.next()), len(chunks.next())] == [5, 5]  # 0.5 s / 100 ms


def test_the_executors_send_their_tasks_in_the_chunks_that_chunks_cuts(cluster, monkeypatch) -> None:
    """What each executor submits is what Chunks cut, chunk for chunk: a probe of one task a worker first.

    (The sizes after the probes depend on how long the probes took here, which a loaded machine
    changes: the tests above pin them for given times.)"""
    cut: list[list] = []
    next_chunk = Chunks.next

    def spy(self):
        chunk = next_chunk(self)
        if chunk is not None:
            cut.append(chunk)
        return chunk

    monkeypatch.setattr(Chunks, "next", spy)
    for executor, owner in ((ProcessExecutor(2), "_pool"), (cluster, "_client")):
        cut.clear()
        sent: list[list] = []
        submit = getattr(executor, owner).submit

        def recording(fn, *args, submit=submit, sent=sent, **kwargs):
            sent.append(args[-1])  # submit(run_chunk, fn, chunk)
            return submit(fn, *args, **kwargs)

        monkeypatch.setattr(getattr(executor, owner), "submit", recording)
        try:
            assert sorted(executor.map(_sleep_1_ms, range(40))) == [(i, i) for i in range(40)]
        finally:
            if executor is not cluster:
                executor.close()
        assert sent == cut and [len(chunk) for chunk in cut[:2]] == [1, 1]
        assert [i for chunk in cut for i, _ in chunk] == list(range(40))


def _sleep_1_ms(i: int) -> int:
    time.sleep(0.001)
    return i


def test_a_long_experiment_of_short_tasks_keeps_chunks_near_half_a_second() -> None:
    sizes = _sizes_after_one_task_took(0.005, 10_000, 2)[2:]
    assert len(sizes) % 2 == 0 and max(sizes) <= 100 and min(sizes) >= 90  # at most 100 tasks of 5 ms each


def _die_when_told(flag: Path, victim: int, i: int) -> int:
    """Task `victim` kills its worker once `flag` exists: the test says when, not the scheduler."""
    if i == victim:
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os._exit(1)  # what the kernel's out-of-memory killer, or kill -9, does to a worker
    return i


def _die_on_3(i: int) -> int:
    if i == 3:
        time.sleep(0.5)  # the other worker finishes chunks meanwhile
        os._exit(1)
    return i


def test_a_dead_local_worker_is_a_worker_lost_error_after_what_finished(tmp_path):
    """It used to end the run with a BrokenProcessPool traceback (exit 1), results of finished chunks dropped.
    Forty tasks on two workers go as the probes 0 and 1, then chunks of at most 19 (2-20 and 21-39 when
    a task's cost is measured right); task 3 dies once 21 results have come back, which the tasks
    outside its chunk always make."""
    flag = tmp_path / "die"
    executor = ProcessExecutor(2)
    got = {}
    try:
        with pytest.raises(WorkerLostError, match="a worker process stopped abruptly"):
            for i, result in executor.map(partial(_die_when_told, flag, 3), range(40)):
                got[i] = result
                if len(got) == 21:
                    flag.touch()
    finally:
        executor.close()
    assert 3 not in got and len(got) >= 21 and all(got[i] == i for i in got)  # the probes and the other chunk(s)


def test_a_broken_pool_is_wound_up_before_the_caller_hears_of_the_dead_worker():
    """The broken pool's manager thread went on closing its pipes after WorkerLostError was raised. The
    CLI, exiting with code 5 meanwhile, raced it at interpreter exit and printed a traceback under its
    one-line message (`OSError: [Errno 9] Bad file descriptor`, seen in CI). No thread of the pool may
    outlive the error."""
    before = set(threading.enumerate())
    executor = ProcessExecutor(2)
    try:
        with pytest.raises(WorkerLostError, match="a worker process stopped abruptly"):
            for _ in executor.map(_die_on_3, range(40)):
                pass
        assert [thread for thread in threading.enumerate() if thread not in before] == []
    finally:
        executor.close()


def _die_while_sending_result_0(i: int) -> bytes:
    """Task 0's worker kills itself once it is writing its result (200 MB) into the pool's pipe."""
    if i != 0:
        time.sleep(0.2)
        return b"done"
    main = threading.get_ident()

    def kill_when_sending() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)
            while frame is not None and frame.f_code.co_name != "_send":  # multiprocessing.connection's write loop
                frame = frame.f_back
            if frame is not None:
                time.sleep(0.005)  # some of the message is in the pipe, not all of it
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.0005)

    threading.Thread(target=kill_when_sending, daemon=True).start()
    return b"x" * 200_000_000


def test_a_worker_killed_while_sending_its_result_is_a_worker_lost_error_not_a_hang():
    """Half a result in the pool's pipe: CPython's pool waited for the rest for ever, never saw the death,
    and `chainsim experiment` hung (found as an orphan process, still waiting 20 minutes on)."""
    executor = ProcessExecutor(2)
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(list(executor.map(_die_while_sending_result_0, range(4))))
        except WorkerLostError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the run hung after a worker died sending its result"
    assert isinstance(outcome[0], WorkerLostError) and "a worker process stopped abruptly" in str(outcome[0])
    try:
        assert sorted(executor.map(abs, [-1, -2])) == [(0, 1), (1, 2)]  # a fresh pool: the executor still works
    finally:
        executor.close()


def test_a_worker_dying_while_the_caller_stores_a_result_is_a_worker_lost_error_and_the_executor_recovers(
        tmp_path):
    """The worker dies while the generator is paused (the caller writes to SQLite, updates a bar): the
    next submit used to raise BrokenProcessPool, a traceback instead of exit 5. And an executor the
    caller passed in must still run tasks afterwards. The probes are tasks 0 and 1; task 1 dies while
    the caller holds task 0's result, before the chunks after the probes are sent."""
    flag = tmp_path / "die"
    executor = ProcessExecutor(2)
    got = {}
    try:
        with pytest.raises(WorkerLostError, match="a worker process stopped abruptly"):
            for i, result in executor.map(partial(_die_when_told, flag, 1), range(40)):
                flag.touch()
                deadline = time.monotonic() + 30  # a slow consumer: the pool knows the worker is dead
                while not executor._pool._broken and time.monotonic() < deadline:  # before the next submit
                    time.sleep(0.01)
                got[i] = result
        assert got == {0: 0}
        assert dict(executor.map(abs, [-1, -2, -3])) == {0: 1, 1: 2, 2: 3}
    finally:
        executor.close()


@pytest.fixture
def doomed_cluster(cluster):
    """A LocalCluster of its own (2 workers) for a test that kills its workers: the module's cluster
    stays whole, whatever order the tests run in. Started while that one runs, as two experiments at
    once on one machine: it finds its own ports (no "8787 in use" warning), open to this machine only."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        executor = DaskExecutor("local", workers=2)
    assert not [w for w in caught if "already in use" in str(w.message)]
    http = executor._cluster.scheduler.http_server  # health and metrics routes: not for the network
    assert {sock.getsockname()[0] for sock in http._sockets.values()} == {"127.0.0.1"}
    yield executor
    executor.close()


def test_a_task_that_kills_every_dask_worker_it_meets_is_a_worker_lost_error(doomed_cluster, tmp_path):
    """Dask retries a chunk whose worker died on others; when they all die (KilledWorker) the run used to
    end with a traceback. Now: the chunks that finished are yielded first, then WorkerLostError.
    Eight tasks on two workers go as the probes 0 and 1, then chunks of at most 3 ([2, 3, 4] and
    [5, 6, 7]); task 3 dies once five results have come back, which the tasks outside its chunk always
    make (left to the scheduler, a loaded machine killed both workers before [5, 6, 7] ran, seen in a
    CI-like run)."""
    flag = tmp_path / "die"
    got = {}
    with pytest.raises(WorkerLostError, match="a worker process stopped abruptly"):
        for i, result in doomed_cluster.map(partial(_die_when_told, flag, 3), range(8)):
            got[i] = result
            if len(got) == 5:
                flag.touch()
    assert 3 not in got and len(got) >= 5 and all(got[i] == i for i in got)
