"""Replications per second of one experiment: serial, all local cores, and a Dask LocalCluster.

    python benchmarks/bench_executors.py                      # experiments/one_more_hire.yaml, 40 reps
    python benchmarks/bench_executors.py -r 100 --experiment experiments/sensitivity.yaml

Each executor runs the same experiment (same scenarios, replications and seeds) and must produce
the same KPI table; the time of a run excludes starting the executor: the local processes and the
cluster's workers are started, and import chainsim, in a first small run (2 replications per
scenario) whose time is shown as start-up. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from chainsim import Experiment
from chainsim.dask_executor import DaskExecutor
from chainsim.executors import ProcessExecutor, SerialExecutor

ROOT = Path(__file__).resolve().parent.parent


def timed_run(path: Path, replications: int, executor) -> tuple[float, pd.DataFrame]:
    experiment = Experiment.from_file(path)
    experiment.replications = replications
    started = time.perf_counter()
    experiment.run(executor=executor)
    return time.perf_counter() - started, experiment.results.table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=ROOT / "experiments" / "one_more_hire.yaml")
    parser.add_argument("-r", "--replications", type=int, default=40, help="per scenario")
    parser.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 1, help="local cores to use")
    args = parser.parse_args()
    scenarios = len(Experiment.from_file(args.experiment).scenarios)
    tasks = scenarios * args.replications
    print(f"{args.experiment.name}: {scenarios} scenarios x {args.replications} replications = {tasks} tasks, "
          f"{os.cpu_count()} cores\n")

    rows = []
    serial_seconds, reference = timed_run(args.experiment, args.replications, SerialExecutor())
    rows.append(("serial (1 worker)", 1, serial_seconds, 0.0))
    processes = ProcessExecutor(args.workers)
    try:
        startup, _ = timed_run(args.experiment, 2, processes)  # the pool starts its workers on first use
        seconds, table = timed_run(args.experiment, args.replications, processes)
    finally:
        processes.close()
    pd.testing.assert_frame_equal(table, reference, check_exact=True)
    rows.append((f"local processes ({args.workers})", args.workers, seconds, startup))
    started = time.perf_counter()
    dask = DaskExecutor("local", workers=args.workers)
    startup = time.perf_counter() - started
    try:
        timed_run(args.experiment, 2, dask)  # workers import chainsim once; not part of the figure
        seconds, table = timed_run(args.experiment, args.replications, dask)
    finally:
        dask.close()
    pd.testing.assert_frame_equal(table, reference, check_exact=True)
    rows.append((f"Dask LocalCluster ({args.workers})", args.workers, seconds, startup))

    print(f"{'executor':<28}{'seconds':>9}{'reps/s':>9}{'vs serial':>11}{'per worker':>12}{'start-up s':>12}")
    for name, workers, seconds, start in rows:
        speedup = serial_seconds / seconds
        print(f"{name:<28}{seconds:>9.2f}{tasks / seconds:>9.1f}{speedup:>10.2f}x{speedup / workers:>12.2f}"
              f"{start:>12.1f}")
    print("\nidentical KPI tables from all three executors")


if __name__ == "__main__":
    main()
