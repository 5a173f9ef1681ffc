"""Replications on a Dask distributed cluster: the same interface as chainsim.executors.

``DaskExecutor("local")`` starts a LocalCluster on this machine (one single-threaded worker process
per core, as the simulation is pure Python and holds the GIL); ``DaskExecutor("tcp://host:8786")``
joins a running cluster, whose workers need the same chainsim installed (checked on joining) and, for
models with trace files, the same paths. Imported only when asked for, so plain runs never load distributed.
A wrong address, a service that is not a Dask scheduler, or a scheduler without workers is a
ClusterError within the timeouts, never a traceback or an endless wait.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import resource_tracker
from typing import Any

import dask
from dask.utils import parse_timedelta
from distributed import Client, KilledWorker, LocalCluster, as_completed
from distributed.comm import Comm, connect, get_address_host_port
from distributed.security import Security

from chainsim.errors import ClusterError, WorkerLostError
from chainsim.executors import WORKER_LOST, Chunks, available_cores, ctrl_c_held, run_chunk

WORKERS_TIMEOUT = 30.0  # seconds to wait for a scheduler's first worker
FINAL_WITHIN = 1.0  # seconds in which a refused connection or an unknown host is told from a slow scheduler
ADDRESS_HELP = "give 'local' or a scheduler address such as tcp://HOST:8786 (--dask)"

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

    def __init__(self, address: str = "local", workers: int | None = None,
                 connect_timeout: float | None = None, workers_timeout: float = WORKERS_TIMEOUT):
        """Start a LocalCluster ('local') or join the scheduler at address; ClusterError if it cannot run tasks.

        connect_timeout (seconds) defaults to Dask's own setting, distributed.comm.timeouts.connect (30 s;
        environment: DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT).
        """
        self._cluster: LocalCluster | None = None
        if not isinstance(address, str):
            raise ClusterError(f"{address!r} is not a scheduler address: {ADDRESS_HELP}")
        if address == "local":
            self._cluster, self._client = start_local_cluster(workers or available_cores())
        else:
            if connect_timeout is None:
                connect_timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
            self._client = join_scheduler(address, connect_timeout, workers_timeout)
        self.address = self._client.scheduler.address
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        chunks = Chunks(tasks, self.workers)
        running = as_completed()
        try:
            self._fill(fn, chunks, running)
            lost = False
            for future in running:
                try:
                    results = chunks.finished(future.result())
                except KilledWorker:  # Dask retried the chunk on other workers; each died with it
                    lost = True
                    continue
                finally:
                    future.release()
                if not lost:  # after a loss, only collect what is already running
                    self._fill(fn, chunks, running)
                yield from results
            if lost:
                raise WorkerLostError(WORKER_LOST)
        finally:  # a copy: cancelling (Ctrl-C, a closed generator) changes the set as it goes
            for future in list(running.futures):
                future.cancel()

    def _fill(self, fn: Callable, chunks: Chunks, running: as_completed) -> None:
        while chunks.room(running.count()) and (chunk := chunks.next()) is not None:
            running.add(self._client.submit(run_chunk, fn, chunk, pure=False))

    def close(self) -> None:
        """Close the client, and a local cluster's workers with it: chunks cut short (Ctrl-C) are no news there."""
        if self._cluster is not None:  # a joined cluster's workers are someone else's: their logs stay
            self._client.run(_silence_logging, on_error="ignore")
        _close(self._client, self._cluster)


def start_local_cluster(workers: int) -> tuple[LocalCluster, Client]:
    """A LocalCluster of single-threaded worker processes that Ctrl-C in the terminal does not reach.

    Ctrl-C signals the terminal's whole process group, workers included: each printed a
    KeyboardInterrupt traceback, or died starting ("Fatal Python error: init_import_site"). So SIGINT
    is blocked while the cluster starts: its IO-loop thread, which spawns (and restarts) the workers,
    and so every worker, keep it blocked, and only this process stops, closing the workers in order.
    A Ctrl-C meanwhile is held, not lost: it is raised here once the cluster is up, and stops it.
    """
    # Started on the first worker's spawn, multiprocessing's resource tracker would unblock SIGINT
    # in the spawning thread (it blocks, then unblocks, rather than restoring): start it now.
    if os.name == "posix":  # there is none elsewhere
        resource_tracker.ensure_running()
    cluster = client = None
    try:
        with dask.config.set(LOCAL_CLUSTER_CONFIG), ctrl_c_held():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   # no dashboard; its HTTP routes on a free port, open to this machine
                                   # only (a second experiment warned "8787 in use")
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            client = Client(cluster)
    except BaseException:  # a Ctrl-C held while starting: stop what started
        _close(client, cluster)
        raise
    return cluster, client


def _silence_logging() -> None:
    """On a worker about to close: a worker closed amid a chunk logs a warning of its cancelled task."""
    logging.disable(logging.CRITICAL)


def _close(client: Client | None, cluster: LocalCluster | None) -> None:
    """Close the client, then the local cluster; closing never hides the run's own outcome.

    A worker killed mid-run is restarted by its nanny, and one whose restart was cut short is left
    half-started: distributed then fails to close it ("can only join a started process", in about
    one run in eight of a test that kills every worker). Raised from here, that replaced the run's
    WorkerLostError (exit 5 with the --resume command) with a traceback. The workers are this
    process's children, so they end with it all the same.
    """
    if client is not None:
        client.close()
    if cluster is None:
        return
    # A worker amid a long replication (Ctrl-C) does not stop when asked; its nanny, in this process,
    # kills it after 4 s with a warning: a chunk cut short is no news here either.
    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    nanny.setLevel(logging.ERROR)
    try:
        cluster.close()
    except (AssertionError, RuntimeError, OSError) as exc:
        logging.getLogger(__name__).info("local Dask cluster not closed cleanly: %r", exc)
    finally:
        nanny.setLevel(level)


def join_scheduler(address: str, connect_timeout: float, workers_timeout: float) -> Client:
    """A client of the scheduler at address that has at least one worker, or ClusterError saying why not."""
    check_address(address)
    check_is_scheduler(address, connect_timeout)
    try:
        client = Client(address, timeout=connect_timeout)
    except OSError as exc:  # it answered a moment ago: gone since, or overloaded (TimeoutError is an OSError)
        raise ClusterError(f"cannot join the Dask scheduler at {address} ({exc}): check that it is still running, "
                           "then run again (--dask)") from None
    try:
        client.wait_for_workers(1, timeout=workers_timeout)
    except OSError:  # TimeoutError
        client.close()
        raise ClusterError(f"the Dask scheduler at {address} has no workers (waited {workers_timeout:g} s): start "
                           f"some with `dask worker {address} --nthreads 1`, then run again (--dask)") from None
    try:
        check_workers_run_this_chainsim(client, address)
    except ClusterError:
        client.close()
        raise
    return client


def check_workers_run_this_chainsim(client: Client, address: str) -> None:
    """Refuse workers running another chainsim: they would compute other numbers, or other KPIs, silently."""
    identify = _chainsim_identity_function()
    here = identify()
    there = client.run(identify, on_error="return")
    others = {worker: found for worker, found in there.items() if found != here}
    if others:
        listed = "; ".join(f"{worker} runs {_described(found)}" for worker, found in sorted(others.items()))
        raise ClusterError(f"{len(others)} of the {len(there)} workers of the Dask scheduler at {address} run another "
                           f"chainsim than this one, {here}: {listed}. Install the same chainsim on the workers (or "
                           "here), restart them, then run again (--dask)")


def _described(found: Any) -> str:
    """A worker's answer to the identity function: its chainsim, or why it has none to show."""
    if isinstance(found, BaseException):
        return f"no usable chainsim ({type(found).__name__}: {found})"
    return f"chainsim {found}"


def _chainsim_identity_function() -> Callable[[], str]:
    """A function giving the worker's chainsim.code_identity() (its version alone where an older chainsim
    has none). Made inside this one so that Dask sends it by value: a worker runs it whatever chainsim
    it has."""
    def chainsim_identity() -> str:
        import chainsim
        identify = getattr(chainsim, "code_identity", None)
        return identify() if identify is not None else chainsim.__version__
    return chainsim_identity


def check_address(address: str) -> None:
    """A malformed address fails here, saying what a good one looks like, not deep inside Dask."""
    if "://" not in address:
        raise ClusterError(f"{address!r} is not a scheduler address: {ADDRESS_HELP}")
    try:
        _, port = get_address_host_port(address)
    except ValueError as exc:
        raise ClusterError(f"{address!r} is not a scheduler address ({exc}): {ADDRESS_HELP}") from None
    if not 0 < port < 65536:
        raise ClusterError(f"{address!r} is not a scheduler address (port {port} is not 1-65535): {ADDRESS_HELP}")


def check_is_scheduler(address: str, timeout: float) -> None:
    """Ask what listens at address, within timeout: Dask's own client waits forever on some other services."""
    if address.lower().startswith("tls://") and Security().get_connection_args("client").get("ssl_context") is None:
        raise ClusterError(f"{address} is a TLS address, and no TLS certificates are set for Dask: set them "
                           "(distributed.comm.tls.* in Dask's configuration) or give a tcp:// address (--dask)")
    try:
        with ThreadPoolExecutor(1) as thread:  # its own event loop, whether or not the caller runs one
            identity = thread.submit(asyncio.run, asyncio.wait_for(_identity(address, timeout), timeout)).result()
    except ConnectionRefusedError:
        raise ClusterError(f"no Dask scheduler answered at {address} (connection refused: nothing listens on that "
                           "port): start one (`dask scheduler`) or give the address it prints (--dask)") from None
    except OSError as exc:  # unknown host, or TimeoutError
        reason = str(exc) or f"nothing in {timeout:g} s"
        raise ClusterError(f"no Dask scheduler answered at {address} ({reason}): start one (`dask scheduler`) or "
                           "give the address it prints (--dask)") from None
    except Exception:  # noqa: BLE001 - whatever a foreign protocol's bytes make Dask's decoder raise
        raise ClusterError(f"{address} does not speak Dask's protocol (another service listens there): give the "
                           "address a Dask scheduler prints, such as tcp://HOST:8786 (--dask)") from None
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        raise ClusterError(f"{address} is a Dask {kind or 'service'}, not a scheduler: give the scheduler's "
                           "address (--dask)")


async def _identity(address: str, timeout: float) -> Any:
    """What the Dask service at address says it is (its 'identity' answer)."""
    comm = await _connect(address, timeout)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


async def _connect(address: str, timeout: float) -> Comm:
    """Dask's connect, but a refused connection or an unknown host fails within FINAL_WITHIN seconds: Dask
    tries those again until its timeout (30 s), as for a scheduler still starting, and waiting cannot help."""
    security = Security().get_connection_args("client")
    first = min(timeout, FINAL_WITHIN)
    try:
        return await connect(address, timeout=first, **security)
    except OSError as exc:
        final = _final_cause(exc) or _refused_now(address)
        if final is not None:
            raise final from None
        if first == timeout:
            raise
    return await connect(address, timeout=timeout - first, **security)


def _refused_now(address: str) -> ConnectionRefusedError | None:
    """Whether a plain TCP connect to the address is refused. Dask raises only its last attempt's error,
    and that is a timeout when the attempt was cut short by the deadline, though every one before it
    was refused (a machine under load did it)."""
    host, port = get_address_host_port(address)
    try:
        socket.create_connection((host, port), timeout=FINAL_WITHIN).close()
    except ConnectionRefusedError as exc:
        return exc
    except OSError:  # unknown host, timeout: not known to be final here
        return None
    return None


def _final_cause(exc: BaseException | None) -> OSError | None:
    """The refusal or unknown host behind a failed connect (Dask chains it under its own errors), if any."""
    while exc is not None:
        if isinstance(exc, ConnectionRefusedError | socket.gaierror):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
