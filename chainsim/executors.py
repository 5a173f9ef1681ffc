"""Where replications run: in this process, in local processes, or on a Dask cluster.

One interface: ``executor.map(fn, tasks)`` yields ``(index, result)`` as each task finishes.
Callers put results back in task order, so the order never depends on scheduling, and each task
carries its own seed, so the numbers never depend on which worker ran it.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from chainsim.errors import WorkerLostError

WORKER_LOST = "a worker process stopped abruptly (killed, or out of memory)"


def available_cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Block SIGINT in this thread while it starts workers; a Ctrl-C meanwhile is raised on leaving.

    Ctrl-C signals the terminal's whole process group, workers included. Threads and processes
    started in here inherit the blocked signal, so only this process stops, and stops the workers.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: Ctrl-C does not work through signals
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


COMMAND_CHECK_SECONDS = 1.0  # how often a pool worker looks whether the command that started it is gone


def _worker_started(command: int) -> None:
    """In a new pool worker: ignore Ctrl-C, and end once the command (process `command`) is gone.

    A worker interrupted by Ctrl-C while sending its result left half a message, and the run hung.
    A worker whose command was killed (kill -9, the out-of-memory killer) waited for work for ever:
    it holds a copy of the task pipe's writing end itself, so the pipe never closes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name == "posix":  # elsewhere os.kill(pid, 0) is not a question
        threading.Thread(target=_end_with, args=(command, os.getppid()), daemon=True).start()


def _end_with(command: int, parent: int) -> None:
    """Exit once the command is gone: this worker's parent changed (it is the command under fork and
    spawn; a command killed but not yet reaped still has its process id), or the command's process
    id is (under forkserver the parent is a server that outlives the command while workers live)."""
    while os.getppid() == parent and _exists(command):
        time.sleep(COMMAND_CHECK_SECONDS)
    os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or its id taken again by another user's process
        return False
    return True


class SerialExecutor:
    """Run tasks one after the other in this process (debugging, tiny runs, the app)."""

    workers = 1

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)

    def close(self) -> None:
        pass


CHUNK_SECONDS = 0.5  # the work a chunk aims at
WATCH_SECONDS = 1.0  # how long a wait with no chunk finished goes before the workers are looked at


class Chunks:
    """(index, task) pairs cut into chunks of about CHUNK_SECONDS of work, a round of one a worker at a time.

    Shipping a chunk to a worker costs about 0.3 ms with local processes and 4 ms of the Dask
    scheduler's time (benchmarks/bench_executors.py), while a replication of a small model takes
    5 ms: a task a chunk would spend much of a run shipping. Half a second of work a chunk keeps
    that near 1% and still reports progress, and a dead worker loses about that much per chunk in
    flight. What a task costs is unknown until one has run, so each worker's first chunk is a
    single task and nothing more is sent until one finishes. Then chunks go in rounds of one a
    worker, all of a round the same size, sized from the cost per task of the last chunk that
    finished (tasks come scenario by scenario, so later ones may cost more or less) and from
    what is left, cut into whole rounds, so that the workers finish at about the same time.
    """

    def __init__(self, tasks: Iterable[Any], workers: int):
        self._todo = list(enumerate(tasks))
        self._sent = 0
        self._workers = workers
        self._per_task: float | None = None  # seconds, from the last chunk that finished
        self._size = 1
        self._round_left = 0  # chunks still to send at self._size before sizing a new round

    def room(self, in_flight: int) -> bool:
        """Whether to send another chunk: one a worker until a task's cost is known, then two."""
        return in_flight < (1 if self._per_task is None else 2) * self._workers

    def next(self) -> list[tuple[int, Any]] | None:
        """The next chunk, or None when every task has been sent."""
        left = len(self._todo) - self._sent
        if self._per_task is not None and self._round_left == 0 and left:
            tasks_per_chunk = max(1, int(CHUNK_SECONDS / self._per_task)) if self._per_task > 0 else left
            rounds = math.ceil(left / (self._workers * tasks_per_chunk))
            self._size = math.ceil(left / (rounds * self._workers))
            self._round_left = self._workers
        chunk = self._todo[self._sent:self._sent + self._size]
        self._sent += len(chunk)
        self._round_left = max(0, self._round_left - 1)
        return chunk or None

    def finished(self, done: tuple[float, list[tuple[int, Any]]]) -> list[tuple[int, Any]]:
        """A finished chunk (what run_chunk returned): learn what a task costs; its (index, result) pairs."""
        seconds, results = done
        if results:
            self._per_task = seconds / len(results)
        return results


def _lost(future) -> bool:
    """The future's worker died (the whole pool is then broken), as opposed to a task that raised."""
    return isinstance(future.exception(), BrokenProcessPool)


def _break_if_stuck(pool: ProcessPoolExecutor) -> None:
    """Break a pool that a dead worker left hanging, so the run ends with WorkerLostError.

    A worker killed while sending its result back (by the out-of-memory killer, or kill -9) leaves
    part of a message in the result pipe. CPython's pool (3.11) then waits for the rest for ever: it
    never notices the death, and the run hung. If a worker is dead while the pool still runs, the
    pool is stopped (_stop_workers), and breaks as it does for any dead worker (BrokenProcessPool).
    """
    if any(worker.exitcode is not None for worker in (pool._processes or {}).values()):
        _stop_workers(pool)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers amid their chunks; the pool then breaks, even if a message was cut short.

    Killed, a worker may leave part of a message in the result pipe, which the pool would wait on
    for ever; with this process's copy of the pipe's writing end closed, it reads the end of the
    pipe instead. The pool's internals (_processes, _result_queue) are the only handle there is on this.
    """
    workers = list((pool._processes or {}).values())
    for worker in workers:
        worker.kill()
        worker.join()
    pool._result_queue._writer.close()


def run_chunk(fn: Callable, chunk: list[tuple[int, Any]]) -> tuple[float, list[tuple[int, Any]]]:
    """Run a chunk on a worker: the seconds it took there (for Chunks) and its (index, result) pairs."""
    started = time.perf_counter()
    results = [(i, fn(task)) for i, task in chunk]
    return time.perf_counter() - started, results


class ProcessExecutor:
    """Run tasks on local processes (default: all cores), in chunks, a bounded number in flight.

    Workers ignore Ctrl-C: it stops this process, whose close() then stops the workers, without
    waiting for the chunks they are amid (a replication may take minutes).
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or available_cores()
        self._pool = self._new_pool()
        self._sent: set[Future] = set()  # chunks of every map so far not yet finished (for close)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_started, initargs=(os.getpid(),))

    def _submit(self, fn: Callable, chunk: list[tuple[int, Any]], pending: set[Future]) -> None:
        """Send a chunk; it is in `pending` before a Ctrl-C meanwhile is raised (close() must see it)."""
        with ctrl_c_held():  # a submit may start the workers: they must not see Ctrl-C before ignoring it
            future = self._pool.submit(run_chunk, fn, chunk)
            pending.add(future)
            self._sent.add(future)
            future.add_done_callback(self._sent.discard)

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield (index, result) as chunks finish; WorkerLostError, after what finished, if a worker dies."""
        pending: set[Future] = set()
        chunks = Chunks(tasks, self.workers)
        try:
            while True:
                try:
                    while chunks.room(len(pending)) and (chunk := chunks.next()) is not None:
                        self._submit(fn, chunk, pending)
                except BrokenProcessPool:  # a worker died while the caller held a result (storing it)
                    break
                if not pending:
                    return
                done, _ = wait(pending, timeout=WATCH_SECONDS, return_when=FIRST_COMPLETED)
                pending -= done
                if not done:
                    _break_if_stuck(self._pool)  # then the next wait finds the chunks lost
                    continue
                for future in done:
                    if not _lost(future):
                        yield from chunks.finished(future.result())
                if any(_lost(future) for future in done):
                    break
            # The pool is broken: the other chunks end now, some with results worth keeping. Its
            # manager thread still closes pipes after that; waiting for it keeps it from racing the
            # interpreter's exit (a traceback under the CLI's message). A fresh pool keeps this
            # executor usable (the caller may have passed it in, and run again).
            finished, _ = wait(pending)
            pending.clear()
            self._pool.shutdown(wait=True)
            self._pool = self._new_pool()
            for future in finished:
                if not _lost(future):
                    yield from chunks.finished(future.result())
            raise WorkerLostError(WORKER_LOST)
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Shut the pool down; workers still amid a chunk (Ctrl-C, a task that raised) are stopped, not waited for."""
        if any(not future.done() for future in list(self._sent)):
            with ctrl_c_held():  # a second Ctrl-C must not leave the pool half stopped, to hang at exit
                _stop_workers(self._pool)
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(workers: int | None = 1, dask: str | None = None):
    """workers=1: serial; workers=N or None (all cores): processes; dask='local' or an address."""
    if dask is not None:
        from chainsim.dask_executor import DaskExecutor
        return DaskExecutor(dask)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
