"""Replications on a Dask distributed cluster: the same interface as chainsim.executors.

``DaskExecutor("local")`` starts a LocalCluster on this machine (one single-threaded worker process
per core, as the simulation is pure Python and holds the GIL); ``DaskExecutor("tcp://host:8786")``
joins a running cluster, whose workers need chainsim installed (same version) and, for models with
trace files, the same paths. Imported only when asked for, so plain runs never load distributed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster, as_completed

from chainsim.executors import chunked, run_chunk

# A local cluster's workers do nothing but run replications, so Dask's housekeeping is turned down;
# measured with benchmarks/bench_executors.py, it narrows the gap to local processes by a few percent.
LOCAL_CLUSTER_CONFIG = {
    # send every submitted chunk to a worker at once, so the next one is at hand when one finishes
    "distributed.scheduler.worker-saturation": math.inf,
    # no statistical profiler interrupting the simulation thread every 10 ms
    "distributed.worker.profile.enabled": False,
    # fewer wake-ups of the event loops that share the two cores with the workers
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class DaskExecutor:
    """Submit chunks of tasks to a Dask cluster, a bounded number in flight; yield (index, result)."""

    def __init__(self, address: str = "local", workers: int | None = None):
        self._cluster: LocalCluster | None = None
        if address == "local":
            with dask.config.set(LOCAL_CLUSTER_CONFIG):
                self._cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                             processes=True, dashboard_address=None)
            self._client = Client(self._cluster)
        else:
            self._client = Client(address)
        self.address = self._client.scheduler.address
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        todo = iter(chunked(tasks, self.workers))
        running = as_completed()
        try:
            for _ in range(2 * self.workers):
                if not self._submit(fn, todo, running):
                    break
            for future in running:
                results = future.result()
                future.release()
                self._submit(fn, todo, running)
                yield from results
        finally:
            for future in running.futures:
                future.cancel()

    def _submit(self, fn: Callable, todo: Iterator, running: as_completed) -> bool:
        chunk = next(todo, None)
        if chunk is None:
            return False
        running.add(self._client.submit(run_chunk, fn, chunk, pure=False))
        return True

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
