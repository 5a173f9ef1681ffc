"""Where replications run: in this process, in local processes, or on a Dask cluster.

One interface: ``executor.map(fn, tasks)`` yields ``(index, result)`` as each task finishes.
Callers put results back in task order, so the order never depends on scheduling, and each task
carries its own seed, so the numbers never depend on which worker ran it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any


class SerialExecutor:
    """Run tasks one after the other in this process (debugging, tiny runs, the app)."""

    workers = 1

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)

    def close(self) -> None:
        pass


class ProcessExecutor:
    """Run tasks on local processes (default: all cores), a bounded number in flight."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(max_workers=self.workers)

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        pending: dict = {}
        todo = iter(enumerate(tasks))
        try:
            while True:
                while len(pending) < 2 * self.workers:
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    pending[self._pool.submit(fn, nxt[1])] = nxt[0]
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
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
