"""Where replications run: in this process, in local processes, or on a Dask cluster.

One interface: ``executor.map(fn, tasks)`` yields ``(index, result)`` as each task finishes.
Callers put results back in task order, so the order never depends on scheduling, and each task
carries its own seed, so the numbers never depend on which worker ran it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from chainsim.errors import WorkerLostError

WORKER_LOST = "a worker process stopped abruptly (killed, or out of memory)"


class SerialExecutor:
    """Run tasks one after the other in this process (debugging, tiny runs, the app)."""

    workers = 1

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)

    def close(self) -> None:
        pass


def chunked(tasks: Iterable[Any], workers: int, per_worker: int = 4, largest: int = 16) -> list[list[tuple[int, Any]]]:
    """Split (index, task) pairs into about `per_worker` chunks per worker, of at most `largest` tasks.

    A replication of a small model takes milliseconds, less than shipping it to a worker; a chunk
    pays that cost once for several. Several chunks per worker still balance uneven tasks. Results
    come back (and are stored) a chunk at a time, so the cap keeps a killed run's loss, and the
    wait between progress updates, to a few chunks however long the experiment.
    """
    indexed = list(enumerate(tasks))
    size = min(largest, max(1, math.ceil(len(indexed) / (workers * per_worker))))
    return [indexed[i:i + size] for i in range(0, len(indexed), size)]


def _lost(future) -> bool:
    """The future's worker died (the whole pool is then broken), as opposed to a task that raised."""
    return isinstance(future.exception(), BrokenProcessPool)


def run_chunk(fn: Callable, chunk: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return [(i, fn(task)) for i, task in chunk]


class ProcessExecutor:
    """Run tasks on local processes (default: all cores), in chunks, a bounded number in flight."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(max_workers=self.workers)

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield (index, result) as chunks finish; WorkerLostError, after what finished, if a worker dies."""
        pending: set = set()
        todo = iter(chunked(tasks, self.workers))
        try:
            while True:
                try:
                    while len(pending) < 2 * self.workers and (chunk := next(todo, None)) is not None:
                        pending.add(self._pool.submit(run_chunk, fn, chunk))
                except BrokenProcessPool:  # a worker died while the caller held a result (storing it)
                    break
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if not _lost(future):
                        yield from future.result()
                if any(_lost(future) for future in done):
                    break
            # The pool is broken: the other chunks end now, some with results worth keeping. A fresh
            # pool keeps this executor usable (the caller may have passed it in, and run again).
            finished, pending = wait(pending)
            self._pool.shutdown(wait=False)
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
            for future in finished:
                if not _lost(future):
                    yield from future.result()
            raise WorkerLostError(WORKER_LOST)
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(workers: int | None = 1, dask: str | None = None):
    """workers=1: serial; workers=N or None (all cores): processes; dask='local' or an address."""
    if dask is not None:
        from chainsim.dask_executor import DaskExecutor
        return DaskExecutor(dask)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
