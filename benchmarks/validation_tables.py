"""Theory against simulation: the tables of docs/validation.md.

Each case is a small chainsim model whose steady-state answer is known in closed form
(chainsim.analytic). The simulated value is the mean over replications of one KPI with its 95%
t-interval; the table says whether the theory lies inside that interval. With 95% intervals about
one row in twenty is expected to miss by chance alone; a row far outside is a bug.

    python benchmarks/validation_tables.py            # writes docs/validation.md
    python benchmarks/validation_tables.py --out -    # prints only
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

from chainsim import analytic
from chainsim.api import simulate
from chainsim.model import Model, parse_model

OUT = Path(__file__).resolve().parent.parent / "docs" / "validation.md"
SEED = 20240601
REPLICATIONS = 20


def exp(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def station_model(name: str, departments: dict, customers: dict, horizon: float, warmup: float) -> Model:
    return parse_model({"name": name, "run": {"horizon": horizon, "warmup": warmup, "seed": SEED},
                        "departments": departments, "customers": customers})


@dataclass
class Case:
    """One comparison: a model, the KPI to read, and the theory it should match."""

    name: str
    theory_source: str
    model: Model
    rows: list[tuple[str, str, float]]  # (quantity, KPI name, theory value)
    sources: dict[str, str] | None = None  # a quantity whose formula differs from theory_source


def mm1(rho: float) -> Case:
    model = station_model(f"M/M/1 rho={rho}", {"server": {"staff": 1}},
                          {"c": {"arrivals": {"rate": rho}, "journey": [{"serve": "server", "time": exp(1.0)}]}},
                          horizon=40_000 if rho >= 0.9 else 20_000, warmup=4_000 if rho >= 0.9 else 2_000)
    return Case(f"M/M/1, rho = {rho}", "1 / (mu - lambda)", model,
                [("mean time in system", "external.time_in_system.mean", analytic.mm1_sojourn(rho, 1.0)),
                 ("p90 time in system", "external.time_in_system.p90", math.log(10) / (1.0 - rho)),
                 ("utilisation", "department.server.utilisation", rho)],
                {"utilisation": "lambda / mu", "p90 time in system": "exponential: ln 10 / (mu - lambda)"})


def mmc() -> Case:
    lam, c = 2.4, 3
    model = station_model("M/M/3", {"server": {"staff": c}},
                          {"c": {"arrivals": {"rate": lam}, "journey": [{"serve": "server", "time": exp(1.0)}]}},
                          horizon=10_000, warmup=1_000)
    return Case("M/M/c, c = 3, rho = 0.8", "Erlang C", model,
                [("mean time in system", "external.time_in_system.mean", analytic.mmc_sojourn(lam, 1.0, c)),
                 ("mean queueing time", "external.queueing.mean", analytic.mmc_wait(lam, 1.0, c)),
                 # P(Wq > t) = C exp(-(c mu - lambda) t): the tail a FIFO queue has and LIFO has not
                 ("p90 queueing time", "external.queueing.p90", math.log(10 * analytic.erlang_c(c, lam)) / (c - lam))],
                {"p90 queueing time": "Erlang C tail: ln(10 C) / (c mu - lambda)"})


def tandem() -> Case:
    lam = 0.6
    means, servers = [1.0, 2.5, 1.2], [1, 2, 1]
    names = ["intake", "review", "dispatch"]
    model = station_model("Tandem", {n: {"staff": s} for n, s in zip(names, servers, strict=True)},
                          {"c": {"arrivals": {"rate": lam},
                                 "journey": [{"serve": n, "time": exp(m)} for n, m in zip(names, means, strict=True)]}},
                          horizon=20_000, warmup=2_000)
    routing = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    theory = analytic.jackson_network([lam, 0, 0], routing, means, servers).network_sojourn
    return Case("Tandem of 3 stations (M/M/1, M/M/2, M/M/1)", "Jackson", model,
                [("mean time in system", "external.time_in_system.mean", theory)])


def rework_feedback() -> Case:
    lam, p = 0.5, 0.2  # a defective step queues again at the same station: Bernoulli feedback
    model = station_model("Rework feedback", {"desk": {"staff": 1, "error_rate": p}},
                          {"c": {"arrivals": {"rate": lam}, "journey": [{"serve": "desk", "time": exp(1.25)}]}},
                          horizon=20_000, warmup=2_000)
    theory = analytic.jackson_network([lam], [[p]], [1.25], [1]).network_sojourn
    return Case("M/M/1 with rework (error_rate 0.2 = feedback)", "Jackson", model,
                [("mean time in system", "external.time_in_system.mean", theory)])


def mg1() -> Case:
    lam, cv = 0.7, 1.5
    model = station_model("M/G/1 lognormal", {"server": {"staff": 1}},
                          {"c": {"arrivals": {"rate": lam},
                                 "journey": [{"serve": "server", "time": {"dist": "lognormal", "mean": 1.0, "cv": cv}}]}},
                          horizon=40_000, warmup=4_000)
    return Case("M/G/1, lognormal service (cv 1.5), rho = 0.7", "Pollaczek-Khinchine", model,
                [("mean time in system", "external.time_in_system.mean", analytic.mg1_sojourn(lam, 1.0, cv * cv))])


def erlang_a() -> Case:
    lam, c, patience = 3.0, 3, 2.0
    model = station_model("Erlang-A", {"server": {"staff": c}},
                          {"c": {"arrivals": {"rate": lam}, "patience": exp(patience),
                                 "journey": [{"serve": "server", "time": exp(1.0)}]}},
                          horizon=10_000, warmup=1_000)
    theory = analytic.erlang_a(lam, 1.0, 1.0 / patience, c)
    return Case("Erlang-A: M/M/3+M, offered load 3, mean patience 2", "Erlang A (Palm)", model,
                [("P(abandon)", "external.abandonment_rate", theory.p_abandon),
                 ("mean queueing time of served", "external.queueing.mean", theory.mean_wait_served)])


def priority() -> Case:
    lams = [0.3, 0.4]  # class 0 (urgent) is served first
    journey = [{"serve": "server", "time": exp(1.0)}]
    model = station_model("Two-class priority", {"server": {"staff": 1, "discipline": "priority"}},
                          {"urgent": {"arrivals": {"rate": lams[0]}, "priority": 1, "journey": journey},
                           "routine": {"arrivals": {"rate": lams[1]}, "priority": 0, "journey": journey}},
                          horizon=20_000, warmup=2_000)
    waits = analytic.priority_nonpreemptive_wait(lams, [1.0, 1.0], [1.0, 1.0])
    return Case("Two classes, non-preemptive priority, M/M/1, rho = 0.7", "Cobham", model,
                [("urgent: mean time in system", "class.urgent.time_in_system.mean", waits[0] + 1.0),
                 ("routine: mean time in system", "class.routine.time_in_system.mean", waits[1] + 1.0)])


def fork_join() -> Case:
    lam = 0.5
    model = station_model("Fork-join", {"desk": {"staff": 1000}, "left": {"staff": 1}, "right": {"staff": 1}},
                          {"c": {"arrivals": {"rate": lam}, "journey": [{
                              "serve": "desk", "time": {"dist": "fixed", "value": 0},
                              "consult": {"parallel": [{"request": "left", "time": exp(1.0)},
                                                       {"request": "right", "time": exp(1.0)}]}}]}},
                          horizon=20_000, warmup=2_000)
    return Case("Fork-join: parallel consult to two M/M/1, rho = 0.5", "Flatto-Hahn / Nelson-Tantawi", model,
                [("mean time in system", "external.time_in_system.mean", analytic.fork_join_two(lam, 1.0))])


CASES = [lambda: mm1(0.5), lambda: mm1(0.8), lambda: mm1(0.9), mmc, tandem, rework_feedback, mg1, erlang_a,
         priority, fork_join]


def run_cases(workers: int) -> tuple[list[str], int, int]:
    """Table rows, rows inside the CI, rows in all."""
    rows, inside, total = [], 0, 0
    for make in CASES:
        case = make()
        started = time.perf_counter()
        results = simulate(case.model, replications=REPLICATIONS, seed=SEED, workers=workers, keep_records=False)
        seconds = time.perf_counter() - started
        for quantity, kpi, theory in case.rows:
            mean, lo, hi = results.kpi(kpi)
            ok = lo <= theory <= hi
            inside += ok
            total += 1
            source = (case.sources or {}).get(quantity, case.theory_source)
            rows.append(f"| {case.name} | {source} | {quantity} | {theory:.4g} | {mean:.4g} | "
                        f"[{lo:.4g}, {hi:.4g}] | {'yes' if ok else '**no**'} | "
                        f"{case.model.run.horizon:g} / {case.model.run.warmup:g} | {seconds:.1f} |")
        print(rows[-1], flush=True)
    return rows, inside, total


def page(rows: list[str], inside: int, total: int, seconds: float) -> str:
    return "\n".join([
        "# Validation: queueing theory against simulation", "",
        "<!-- Generated by `python benchmarks/validation_tables.py`; do not edit by hand. -->", "",
        "Each row is a small chainsim model whose long-run answer is known exactly (formulas in "
        "`chainsim/analytic.py`). *Simulation* is the mean over "
        f"{REPLICATIONS} replications (seed {SEED}) of the KPI named in "
        "docs/output-reference.md, with its 95% t-interval; the customers counted are those arriving "
        "after the warm-up. With 95% intervals, about one row in twenty is expected to fall "
        "outside by chance; a row far outside would be a bug. Times are in units of the mean "
        "service time (1 unless stated).", "",
        "| case | theory | quantity | theory value | simulation | 95% CI | theory inside CI? | horizon / warm-up | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows, "",
        f"{inside} of {total} theory values lie inside the simulation's 95% interval. "
        f"Total run time {seconds:.0f} s on 2 cores.", "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT), help="markdown file to write, '-' to print only")
    parser.add_argument("--workers", type=int, default=2, help="local processes")
    args = parser.parse_args()
    started = time.perf_counter()
    rows, inside, total = run_cases(args.workers)
    text = page(rows, inside, total, time.perf_counter() - started)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: {inside}/{total} inside the 95% CI")


if __name__ == "__main__":
    main()
