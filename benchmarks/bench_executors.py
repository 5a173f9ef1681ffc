"""Replications per second of one experiment: serial, all local cores, and a Dask LocalCluster.

    python benchmarks/bench_executors.py                      # experiments/one_more_hire.yaml, 40 reps
    python benchmarks/bench_executors.py -r 20 --repeat 9     # 100 tasks, medians of 9 runs
    python benchmarks/bench_executors.py -r 100 --experiment experiments/sensitivity.yaml

Each executor runs the same experiment (same scenarios, replications and seeds) and must produce
the same KPI table; the time of a run excludes starting the executor: the local processes and the
cluster's workers are started, and import chainsim, in a first small run (2 replications per
scenario) whose time is shown as start-up. The executors take turns, run after run, and the
figures are medians. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per executor, interleaved; medians")
    args = parser.parse_args()
    scenarios = len(Experiment.from_file(args.experiment).scenarios)
    tasks = scenarios * args.replications
    print(f"$ python benchmarks/bench_executors.py -r {args.replications} -w {args.workers} --repeat {args.repeat}")
    print(f"{args.experiment.name}: {scenarios} scenarios x {args.replications} replications = {tasks} tasks, "
          f"{os.cpu_count()} cores; median of {args.repeat} interleaved runs\n")

    serial = SerialExecutor()
    _, reference = timed_run(args.experiment, 2, serial)  # imports and caches warm, as in the pools below
    started = time.perf_counter()
    processes = ProcessExecutor(args.workers)
    timed_run(args.experiment, 2, processes)  # the pool starts its workers on first use
    startup = {"processes": time.perf_counter() - started}
    started = time.perf_counter()
    dask = DaskExecutor("local", workers=args.workers)
    timed_run(args.experiment, 2, dask)  # workers import chainsim once; not part of the figures
    startup["dask"] = time.perf_counter() - started
    executors = {"serial": serial, "processes": processes, "dask": dask}
    seconds: dict[str, list[float]] = {name: [] for name in executors}
    try:
        for _ in range(args.repeat):
            for name, executor in executors.items():
                took, table = timed_run(args.experiment, args.replications, executor)
                if name == "serial":
                    reference = table
                pd.testing.assert_frame_equal(table, reference, check_exact=True)
                seconds[name].append(took)
    finally:
        processes.close()
        dask.close()

    median = {name: statistics.median(times) for name, times in seconds.items()}
    labels = {"serial": "serial (1 worker)", "processes": f"local processes ({args.workers})",
              "dask": f"Dask LocalCluster ({args.workers})"}
    print(f"{'executor':<28}{'seconds':>9}{'reps/s':>9}{'vs serial':>11}{'per worker':>12}{'start-up s':>12}")
    for name in executors:
        workers = 1 if name == "serial" else args.workers
        speedup = median["serial"] / median[name]
        print(f"{labels[name]:<28}{median[name]:>9.3f}{tasks / median[name]:>9.1f}{speedup:>10.2f}x"
              f"{speedup / workers:>12.2f}{startup.get(name, 0.0):>12.1f}")
    behind = sorted(d / p - 1 for d, p in zip(seconds["dask"], seconds["processes"], strict=True))
    print(f"\nDask behind local processes: {median['dask'] / median['processes'] - 1:+.1%} (medians); "
          f"run by run {', '.join(f'{b:+.0%}' for b in behind)}")
    print("identical KPI tables from all three executors in every run")


if __name__ == "__main__":
    main()
