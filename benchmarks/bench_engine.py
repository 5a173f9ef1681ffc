"""Engine benchmark: chainsim against Ciw and a hand-written SimPy program, side by side, in one run.

Why a script and not a timed test: timings on a shared machine are noisy, so we report medians of
`--repeat` runs and the ratios between engines run in the same process, and only the agreement
with queueing theory is a pass/fail check (each engine's mean time in system against the analytic
value, within 5 standard errors estimated by batch means over the run's own customers).

Networks (exponential service, FIFO, Poisson arrivals, everyone served to the end):

- N1: one M/M/1, rho 0.9;
- N2: 5 x M/M/3 in tandem, rho 0.83 (also the 5-station end of the 20-vs-5 scaling ratio);
- N3: 6 stations, branching and 10% rework (Bernoulli feedback to the back of the queue), rho <= 0.75;
- T20: 20 x M/M/3 in tandem, rho 0.83.

chainsim runs with full recording (`simulate_replication` + `replication_kpis`); Ciw 3.2.7 is the
optional `bench` extra (`pip install -e ".[bench]"`); the SimPy program is the textbook one
(a Resource per station, one process per customer). Peak memory is measured with tracemalloc in a
fresh subprocess per engine, so the timed runs are not slowed by tracing.

    python benchmarks/bench_engine.py            # full run (a few minutes)
    python benchmarks/bench_engine.py --quick    # smoke run (seconds), as in tests/test_benchmark_smoke.py
    python benchmarks/bench_engine.py --big      # also 1M customers in one replication (peak RSS)
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simpy

from chainsim import analytic
from chainsim.engine import simulate_replication
from chainsim.metrics import replication_kpis
from chainsim.model import Model, load_model, parse_model
from chainsim.recorder import COMPLETED

try:
    import ciw
except ImportError:  # the optional `bench` extra
    ciw = None

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "retail_bank.yaml"
SEED = 2024
BATCHES = 20  # batch means for the standard error of a run's mean time in system
WARMUP = 0.1  # share of the horizon whose arrivals the agreement check leaves out (runs start empty)
TOLERANCE_SE = 5.0  # ~ t(19 dof) at 99.99%: a benchmark catches gross errors; tests/ do the fine checks
QUICK_MEMORY_SHARE = 20  # --quick traces memory on 1/20 of its customers: a smoke run, not a figure
ENGINES = ("chainsim", "simpy", "ciw")


# --- the networks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """An open network as stages of (probability, station) options, so each engine can express it.

    A customer visits one station per stage, chosen by the probabilities; after each service it is
    redone with probability `rework` (queueing again at the back), as a Jackson feedback loop.
    """

    name: str
    title: str
    rate: float  # external Poisson arrivals into the single station of the first stage
    servers: tuple[int, ...]
    means: tuple[float, ...]  # mean (exponential) service time per station
    stages: tuple[tuple[tuple[float, int], ...], ...]
    rework: float
    customers: int
    quick_customers: int
    check_from: int = 0  # fewer customers than this: too short for the agreement check (slow transient)

    def routing(self) -> np.ndarray:
        """Jackson routing matrix: rework to itself, else to the next stage's options, else out."""
        n = len(self.servers)
        r = np.zeros((n, n))
        for stage, following in zip(self.stages, (*self.stages[1:], ()), strict=True):
            for _, i in stage:
                r[i, i] += self.rework
                for p, j in following:
                    r[i, j] += (1 - self.rework) * p
        return r

    def theory(self) -> float:
        """Mean time in system: M/M/1, a sum of M/M/c sojourns, or the Jackson network's."""
        mus = [1.0 / m for m in self.means]
        if len(self.servers) == 1 and self.servers[0] == 1:
            return analytic.mm1_sojourn(self.rate, mus[0])
        if self.rework == 0 and all(len(stage) == 1 for stage in self.stages):
            return sum(analytic.mmc_sojourn(self.rate, mu, c) for mu, c in zip(mus, self.servers, strict=True))
        external = [self.rate] + [0.0] * (len(self.servers) - 1)
        return analytic.jackson_network(external, self.routing(), self.means, self.servers).network_sojourn

    def utilisation(self) -> float:
        external = [self.rate] + [0.0] * (len(self.servers) - 1)
        return float(analytic.jackson_network(external, self.routing(), self.means, self.servers).utilisation.max())


def tandem(name: str, stations: int, customers: int, quick: int, check_from: int = 0) -> Network:
    return Network(name, f"{stations} x M/M/3 in tandem", 1.0, (3,) * stations, (2.5,) * stations,
                   tuple(((1.0, i),) for i in range(stations)), 0.0, customers, quick, check_from)


NETWORKS = {
    "N1": Network("N1", "one M/M/1", 0.9, (1,), (1.0,), (((1.0, 0),),), 0.0, 200_000, 40_000),
    "N2": tandem("N2", 5, 50_000, 8_000),
    "N3": Network("N3", "6 stations, branching, 10% rework", 1.0, (2, 1, 1, 3, 1, 2), (1.3, 1.1, 1.6, 2.0, 1.3, 2.5),
                  (((1.0, 0),), ((0.6, 1), (0.4, 2)), ((1.0, 3),), ((0.5, 4), (0.5, 5))), 0.1, 50_000, 8_000),
    # A 20-station tandem starting empty settles slowly: a few thousand customers are too few to check.
    "T20": tandem("T20", 20, 15_000, 3_000, check_from=10_000),
}


def horizon(net: Network, customers: int) -> float:
    return customers / net.rate


# --- one replication in each engine: (customers served, their times in system in arrival order) ----


@dataclass
class Run:
    customers: int  # all customers served (the speed counts them all)
    mean: float  # mean time in system after the warm-up, as the engine reports it
    sojourns: np.ndarray  # per customer after the warm-up, in arrival order (for the standard error)
    detail: object = None


def after_warmup(net: Network, customers: int, arrived: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Times in system of the customers who arrived after the warm-up, in arrival order."""
    order = np.argsort(arrived, kind="stable")
    arrived, left = arrived[order], left[order]
    keep = arrived >= WARMUP * horizon(net, customers)
    return (left - arrived)[keep]


def chainsim_model(net: Network, customers: int) -> Model:
    """The network as a chainsim model: a step per stage, `branch:` for choices, `error_rate` for rework."""
    names = [f"s{i}" for i in range(len(net.servers))]

    def serve(i: int) -> dict:
        return {"serve": names[i], "time": {"dist": "exponential", "mean": net.means[i]}}

    journey = [serve(stage[0][1]) if len(stage) == 1 else
               {"branch": [{"p": p, "then": [serve(i)]} for p, i in stage]} for stage in net.stages]
    return parse_model({
        "name": f"benchmark {net.name}: {net.title}",
        "run": {"horizon": horizon(net, customers), "warmup": WARMUP * horizon(net, customers), "seed": SEED,
                "max_customers": 10 * customers + 1000},
        "departments": {n: {"staff": c, "error_rate": net.rework} for n, c in zip(names, net.servers, strict=True)},
        "customers": {"customer": {"arrivals": {"rate": net.rate}, "journey": journey}},
    })


def run_chainsim(net: Network, customers: int) -> Run:
    model = chainsim_model(net, customers)
    rep = simulate_replication(model, 0, SEED)
    kpis = replication_kpis(model, rep)
    c = rep.customers
    done = c["outcome"] == COMPLETED
    return Run(int(done.sum()), kpis["external.time_in_system.mean"],
               after_warmup(net, customers, c["arrival"][done], c["end"][done]), rep)


def run_simpy(net: Network, customers: int) -> Run:
    """The textbook SimPy program: a Resource per station, one process per customer."""
    rng = random.Random(SEED)
    env = simpy.Environment()
    stations = [simpy.Resource(env, capacity=c) for c in net.servers]
    rates = [1.0 / m for m in net.means]
    end = horizon(net, customers)
    arrivals: list[float] = []
    departures: list[float] = []

    def choose(stage: tuple[tuple[float, int], ...]) -> int:
        u = rng.random()
        for p, i in stage:
            if u < p:
                return i
            u -= p
        return stage[-1][1]

    def customer():
        arrived = env.now
        for stage in net.stages:
            i = choose(stage)
            while True:
                with stations[i].request() as request:
                    yield request
                    yield env.timeout(rng.expovariate(rates[i]))
                if rng.random() >= net.rework:
                    break
        arrivals.append(arrived)
        departures.append(env.now)

    def source():
        while True:
            yield env.timeout(rng.expovariate(net.rate))
            if env.now >= end:
                return
            env.process(customer())

    env.process(source())
    env.run()
    times = after_warmup(net, customers, np.asarray(arrivals), np.asarray(departures))
    return Run(len(departures), float(times.mean()), times)


def run_ciw(net: Network, customers: int) -> Run:
    """Ciw with its records kept (its default); customers still inside at the horizon are not counted."""
    n = len(net.servers)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=net.rate)] + [None] * (n - 1),
        service_distributions=[ciw.dists.Exponential(rate=1.0 / m) for m in net.means],
        number_of_servers=list(net.servers),
        routing=net.routing().tolist(),
    )
    ciw.seed(SEED)  # Ciw draws from the global random state
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon(net, customers))
    done = sim.nodes[-1].all_individuals
    arrived = np.fromiter((ind.data_records[0].arrival_date for ind in done), float, len(done))
    left = np.fromiter((ind.data_records[-1].exit_date for ind in done), float, len(done))
    times = after_warmup(net, customers, arrived, left)
    return Run(len(done), float(times.mean()), times)


RUNNERS: dict[str, Callable[[Network, int], Run]] = {"chainsim": run_chainsim, "simpy": run_simpy, "ciw": run_ciw}


def batch_se(values: np.ndarray, batches: int = BATCHES) -> float:
    """Standard error of the mean of correlated times in system, from batch means in arrival order."""
    size = len(values) // batches
    means = values[: size * batches].reshape(batches, size).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(batches))


# --- peak memory, in a fresh subprocess per engine --------------------------------------------------


def memory_child(engine: str, names: list[str], quick: bool) -> None:
    """Print {network: [peak traced bytes, customers]} for one engine (runs in its own process)."""
    out = {}
    for name in names:
        net = NETWORKS[name]
        n = net.quick_customers // QUICK_MEMORY_SHARE if quick else net.customers
        gc.collect()
        tracemalloc.start()
        if engine == "chainsim":  # what a user's run holds: the records and the KPIs, not this script's checks
            model = chainsim_model(net, n)
            rep = simulate_replication(model, 0, SEED)
            replication_kpis(model, rep)
            served = int((rep.customers["outcome"] == COMPLETED).sum())
        else:
            served = RUNNERS[engine](net, n).customers
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[name] = [peak, served]
    print(json.dumps(out))


def peak_rss() -> int:
    """This process's peak resident memory in bytes. VmHWM, because Linux carries ru_maxrss over exec
    from the parent (which may be bigger than the child we measure)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def big_child(customers: int) -> None:
    """1M customers through N1 in one replication: the whole process's peak resident memory."""
    net = NETWORKS["N1"]
    model = chainsim_model(net, customers)
    base = peak_rss()
    start = time.perf_counter()
    rep = simulate_replication(model, 0, SEED)
    kpis = replication_kpis(model, rep)
    seconds = time.perf_counter() - start
    served = int((rep.customers["outcome"] == COMPLETED).sum())
    print(json.dumps({"customers": served, "seconds": seconds, "base": base, "peak": peak_rss(),
                      "mean": kpis["external.time_in_system.mean"]}))


def start_child(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)


def child_result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{shlex.join(process.args)} exited with {process.returncode}")
    return json.loads(out.strip().splitlines()[-1])


# --- the report ---------------------------------------------------------------------------------


def fmt_rate(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:,.0f}"


def fmt_ratio(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def recorded_arrays(rep) -> dict[str, int]:
    """Bytes kept per array of a chainsim replication (record tiers, and the departments' series)."""
    sizes = {}
    for tier in ("customers", "jobs", "attribution"):
        for key, a in getattr(rep, tier).items():
            sizes[f"{tier}.{key}"] = a.nbytes
    for field in ("queue_times", "queue_lengths", "staff_times", "staff_levels"):
        sizes[f"departments.{field}"] = sum(getattr(d, field).nbytes for d in rep.department_records)
    return sizes


def time_default_model(repeat: int, replications: int) -> tuple[float, int]:
    """Customers per second on the default model, serial, as `chainsim run` does per replication."""
    model = load_model(DEFAULT_MODEL)
    rates = []
    for _ in range(repeat):
        start, served = time.perf_counter(), 0
        for r in range(replications):
            served += int(replication_kpis(model, simulate_replication(model, r, model.run.seed))["external.arrived"])
        rates.append(served / (time.perf_counter() - start))
    return statistics.median(rates), served


def cli_command() -> list[str]:
    exe = shutil.which("chainsim")
    base = [exe] if exe else [sys.executable, "-c", "from chainsim.cli import main; main()"]
    return [*base, "run", str(DEFAULT_MODEL.relative_to(ROOT)), "-r", "1"]


def time_cli(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cli_command(), cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "chainsim"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes in chainsim/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small runs, one repeat: a smoke test (seconds)")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats per engine; median (default 3)")
    parser.add_argument("--big", action="store_true", help="also 1M customers in one replication (peak RSS)")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated subset of N1,N2,N3,T20")
    parser.add_argument("--memory-child", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--big-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [n.strip() for n in args.networks.split(",") if n.strip()]
    if args.memory_child:
        memory_child(args.memory_child[0], names, args.quick)
        return 0
    if args.big_child:
        big_child(args.big_child)
        return 0
    repeat = args.repeat or (1 if args.quick else 3)
    engines = [e for e in ENGINES if e != "ciw" or ciw is not None]

    print("$ python benchmarks/bench_engine.py" + "".join(" " + shlex.quote(a) for a in sys.argv[1:]))
    print(f"python {platform.python_version()}, simpy {simpy.__version__}, "
          f"ciw {ciw.__version__ if ciw else 'not installed'}, {platform.machine()}, {os.cpu_count()} cores, "
          f"chainsim at {git_revision()}")
    print(f"median of {repeat} run(s) per engine, engines interleaved; shared machine, so read ratios, not absolutes")
    if ciw is None:
        print("note: Ciw not importable (pip install -e '.[bench]'): Ciw columns skipped")

    rates: dict[tuple[str, str], float] = {}
    results: dict[tuple[str, str], Run] = {}
    for name in names:
        net = NETWORKS[name]
        n = net.quick_customers if args.quick else net.customers
        samples: dict[str, list[float]] = {e: [] for e in engines}
        for _ in range(repeat):
            for engine in engines:
                gc.collect()
                start = time.perf_counter()
                run = RUNNERS[engine](net, n)
                samples[engine].append(run.customers / (time.perf_counter() - start))
                results[name, engine] = run
        for engine in engines:
            rates[name, engine] = statistics.median(samples[engine])

    memory: dict[tuple[str, str], float] = {}
    children = {engine: start_child(["--memory-child", engine, "--networks", ",".join(names),
                                     *(["--quick"] if args.quick else [])]) for engine in engines}
    for engine, process in children.items():  # byte counts do not mind running side by side
        for name, (peak, served) in child_result(process).items():
            memory[name, engine] = peak / served

    failed = 0
    print("\n## Agreement with theory and speed")
    print(f"check: |mean time in system - theory| <= {TOLERANCE_SE:g} SE; SE by batch means ({BATCHES} batches in "
          f"arrival order), the largest of the engines'; arrivals in the first {WARMUP:.0%} of the horizon left out")
    print("peak = tracemalloc peak during the run (fresh subprocess per engine; chainsim: simulate_replication + "
          "replication_kpis) / customers served"
          + (f" (quick: on 1/{QUICK_MEMORY_SHARE} of the customers, so fixed costs weigh in)" if args.quick else "")
          + "\n")
    print("| network | rho max | customers | engine | customers/s | mean time in system | theory | error | tolerance | check | peak B/customer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        net = NETWORKS[name]
        theory = net.theory()
        # The engines simulate the same system, so the largest estimate of the standard error serves
        # them all: a run that happened to be light has a low mean *and* a low batch-means SE.
        se = max(batch_se(results[name, engine].sojourns) for engine in engines)
        for engine in engines:
            run = results[name, engine]
            ok = abs(run.mean - theory) <= TOLERANCE_SE * se
            if run.customers < net.check_from:
                verdict = f"n/a (< {net.check_from:,} customers)"
            else:
                verdict = "PASS" if ok else "FAIL"
                failed += not ok
            print(f"| {name} | {net.utilisation():.2f} | {run.customers:,} | {engine} | {fmt_rate(rates[name, engine])} | "
                  f"{run.mean:.3f} | {theory:.3f} | {(run.mean - theory) / theory:+.1%} | {TOLERANCE_SE * se:.3f} | "
                  f"{verdict} | {memory[name, engine]:,.0f} |")

    print("\n## Ratios (customers/s; targets: chainsim/SimPy >= 1.5, chainsim/Ciw >= 4)\n")
    print("| network | chainsim/SimPy | chainsim/Ciw |")
    print("|---|---|---|")
    for name in names:
        vs_ciw = rates[name, "chainsim"] / rates[name, "ciw"] if ciw else math.nan
        print(f"| {name} | {fmt_ratio(rates[name, 'chainsim'] / rates[name, 'simpy'])} | {fmt_ratio(vs_ciw)} |")

    if "N2" in names and "T20" in names:
        print("\n## Cost per customer, 20-station vs 5-station tandem (target ~4)\n")
        print("| engine | T20 / N2 seconds per customer |")
        print("|---|---|")
        for engine in engines:
            print(f"| {engine} | {rates['N2', engine] / rates['T20', engine]:.2f} |")

    print("\n## chainsim: bytes kept per recorded customer, by array (target: <= 500 in all)\n")
    print("| network | total | " + " | ".join(["largest arrays"]) + " |")
    print("|---|---|---|")
    for name in names:
        rep = results[name, "chainsim"].detail
        served = len(rep.customers["id"])
        sizes = recorded_arrays(rep)
        top = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
        print(f"| {name} | {sum(sizes.values()) / served:,.0f} | "
              + ", ".join(f"{k} {v / served:.0f}" for k, v in top) + " |")

    if args.big:
        big = child_result(start_child(["--big-child", str(1_000_000)]))
        print("\n## 1M customers in one replication (N1, chainsim, full recording; target < 1 GiB peak)\n")
        print(f"customers {big['customers']:,}, {big['seconds']:.1f} s, peak RSS {big['peak'] / 2**20:,.0f} MiB "
              f"(after imports {big['base'] / 2**20:,.0f} MiB; {(big['peak'] - big['base']) / big['customers']:,.0f} "
              f"B/customer above that), mean time in system {big['mean']:.3f} (theory 10)")

    model_rate, served = time_default_model(repeat, 2 if args.quick else 20)
    cli_seconds = time_cli(1 if args.quick else 5)
    print(f"\n## Default model ({DEFAULT_MODEL.relative_to(ROOT)})\n")
    print(f"customers/s (simulate_replication + replication_kpis, {2 if args.quick else 20} replications serial, "
          f"{served:,} customers): {fmt_rate(model_rate)}")
    print(f"start-up: `{shlex.join(['chainsim', *cli_command()[-4:]])}` whole process, "
          f"median of {1 if args.quick else 5}: {cli_seconds:.2f} s (target < 1.5 s)")

    print(f"\nagreement checks: {'all PASS' if not failed else f'{failed} FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
