"""Replications per second of experiments: serial, all local cores, and a Dask LocalCluster.

    python benchmarks/bench_executors.py                      # the two default experiments, 20 reps each
    python benchmarks/bench_executors.py -r 20 --repeat 9     # 100 tasks each, medians of 9 runs
    python benchmarks/bench_executors.py -r 100 --experiment experiments/sensitivity.yaml

By default two experiments of 5 scenarios each: `one_more_hire` on the retail bank (one day, a
replication takes about 5 ms, so per-task overhead shows) and `hospital_ed` (about 20 ms a
replication, nearer what an analyst sweeps). Each executor runs the same experiment (same
scenarios, replications and seeds) and must produce the same KPI table; the time of a run excludes
starting the executor: the local processes and the cluster's workers are started, and import
chainsim, in a first small run (2 replications per scenario) whose time is shown as start-up. The
executors take turns, run after run, and the figures are medians. Not a test: the figures depend
on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from chainsim import Experiment
from chainsim.dask_executor import DaskExecutor
from chainsim.executors import ProcessExecutor, SerialExecutor, available_cores

ROOT = Path(__file__).resolve().parent.parent


def timed_run(path: Path, replications: int, executor) -> tuple[float, pd.DataFrame]:
    experiment = Experiment.from_file(path)
    experiment.replications = replications
    started = time.perf_counter()
    experiment.run(executor=executor)
    return time.perf_counter() - started, experiment.results.table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, nargs="+",
                        default=[ROOT / "experiments" / "one_more_hire.yaml", ROOT / "experiments" / "hospital_ed.yaml"])
    parser.add_argument("-r", "--replications", type=int, default=20, help="per scenario")
    parser.add_argument("-w", "--workers", type=int, default=available_cores(), help="local cores to use")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per executor, interleaved; medians")
    args = parser.parse_args()
    print(f"$ python benchmarks/bench_executors.py -r {args.replications} -w {args.workers} --repeat {args.repeat}")
    print(f"{available_cores()} cores; medians of {args.repeat} interleaved runs")
    serial = SerialExecutor()
    started = time.perf_counter()
    processes = ProcessExecutor(args.workers)
    timed_run(args.experiment[0], 2, processes)  # the pool starts its workers on first use
    startup = {"processes": time.perf_counter() - started}
    started = time.perf_counter()
    dask = DaskExecutor("local", workers=args.workers)
    timed_run(args.experiment[0], 2, dask)  # workers import chainsim once; not part of the figures
    startup["dask"] = time.perf_counter() - started
    executors = {"serial": serial, "processes": processes, "dask": dask}
    try:
        for path in args.experiment:
            compare(path, args, executors, startup)
    finally:
        processes.close()
        dask.close()


def compare(path: Path, args: argparse.Namespace, executors: dict, startup: dict[str, float]) -> None:
    """Run one experiment on each executor in turn, `--repeat` times, and print the medians."""
    _, reference = timed_run(path, 2, executors["serial"])  # imports and caches warm, as in the pools
    for executor in executors.values():
        timed_run(path, 2, executor)  # the workers read this model once before the timed runs
    seconds: dict[str, list[float]] = {name: [] for name in executors}
    for _ in range(args.repeat):
        for name, executor in executors.items():
            took, table = timed_run(path, args.replications, executor)
            if name == "serial":
                reference = table
            pd.testing.assert_frame_equal(table, reference, check_exact=True)
            seconds[name].append(took)

    median = {name: statistics.median(times) for name, times in seconds.items()}
    tasks = len(Experiment.from_file(path).scenarios) * args.replications
    print(f"\n{path.name}: {tasks} tasks ({tasks // args.replications} scenarios x {args.replications} "
          f"replications), {1000 * median['serial'] / tasks:.1f} ms a replication serial\n")
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
