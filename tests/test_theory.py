"""The engine against queueing theory: M/M/1, M/M/c (Erlang C), tandem and Jackson networks, M/G/1.

Each test builds a model with Poisson arrivals and one-step (or branching) journeys, runs 20
independent replications with a warm-up, and asserts that the theoretical value lies inside the
run's own 95% t-interval, widened by a factor fixed below. It also asserts that the interval is
tight (its half-width a few % of the mean), so a noisy run cannot pass by being vague.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import stats

import chainsim
from chainsim import analytic
from chainsim.api import Results

REPLICATIONS = 20
SEED = 20240607

# How far outside the 95% interval the theory value may lie. The checks in this file (CHECKS of
# them) share one family-wise error level FAMILY_ALPHA: with Bonferroni each check gets
# FAMILY_ALPHA / CHECKS, two-sided, on a t statistic with REPLICATIONS - 1 degrees of freedom.
# Widening the 95% half-width by t_{1 - a/(2m)} / t_{0.975} gives exactly that level (about 2.0
# here). The often quoted "1.5 x half-width" would only be ~99.5% per check, not 99.9% for the
# family of ~20 checks; we prefer the computed factor to a round number. Bias: the warm-up (a
# twentieth of the horizon, many relaxation times even at rho 0.9) removes the empty start; the
# customers still inside at the horizon are left out, a bias of order (number in system / number
# served), below 0.1% here.
FAMILY_ALPHA = 0.01
CHECKS = 30  # assert_theory_in_ci calls below, counting parametrised cases
WIDEN = stats.t.ppf(1 - FAMILY_ALPHA / (2 * CHECKS), REPLICATIONS - 1) / stats.t.ppf(0.975, REPLICATIONS - 1)


def exponential(mean: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean": mean}


def queue_model(departments: dict[str, int], journey: list[dict], rate: float, horizon: float,
                warmup: float) -> chainsim.Model:
    """One customer class with Poisson arrivals; stop at the horizon (no drain) after a warm-up."""
    return chainsim.parse_model({
        "name": "theory check",
        "run": {"horizon": horizon, "warmup": warmup, "drain": False},
        "departments": {name: {"staff": staff} for name, staff in departments.items()},
        "customers": {"walk_in": {"arrivals": {"rate": rate}, "journey": journey}},
    })


def run(model: chainsim.Model) -> Results:
    return chainsim.simulate(model, replications=REPLICATIONS, seed=SEED, workers=2, keep_records=False)


def assert_theory_in_ci(results: Results, kpi: str, theory: float, max_rel_half: float) -> None:
    """Theory inside the widened 95% CI, and the CI half-width at most max_rel_half of the mean."""
    mean, lo, hi = results.kpi(kpi)
    half = (hi - lo) / 2
    print(f"{kpi}: theory {theory:.4f}, sim {mean:.4f} [{lo:.4f}, {hi:.4f}], half-width "
          f"{half / mean:.2%} of mean, off by {(mean - theory) / half:+.2f} half-widths (limit {WIDEN:.2f})")
    assert math.isfinite(half) and half / mean <= max_rel_half, (
        f"{kpi}: CI half-width {half / mean:.2%} of the mean exceeds {max_rel_half:.0%}: run longer")
    assert abs(mean - theory) <= WIDEN * half, (
        f"{kpi}: theory {theory:.4f} outside {mean:.4f} +- {WIDEN:.2f} x {half:.4f}")


def test_widening_factor_is_small():
    assert 1.5 < WIDEN < 2.2


# --- single stations: M/M/1 and M/M/c (Erlang C) ----------------------------------------------


@pytest.mark.parametrize("rho, horizon, max_rel_half", [
    (0.5, 20_000, 0.04),
    (0.8, 40_000, 0.05),
    (0.9, 50_000, 0.06),
])
def test_mm1_mean_wait_in_queue(rho, horizon, max_rel_half):
    # Service mean 1 minute, arrivals at rate rho: Wq = rho / (1 - rho) (Kleinrock eq. 3.26 less 1/mu).
    model = queue_model({"desk": 1}, [{"serve": "desk", "time": exponential(1.0)}], rho, horizon, horizon / 20)
    results = run(model)
    assert analytic.mmc_wait(rho, 1.0, 1) == pytest.approx(rho / (1 - rho))
    assert_theory_in_ci(results, "external.queueing.mean", analytic.mmc_wait(rho, 1.0, 1), max_rel_half)
    assert_theory_in_ci(results, "department.desk.utilisation", rho, 0.01)


@pytest.mark.parametrize("rho, horizon, max_rel_half", [
    (0.7, 20_000, 0.05),
    (0.85, 25_000, 0.06),
])
def test_mmc_mean_wait_in_queue_erlang_c(rho, horizon, max_rel_half):
    c, mean = 3, 2.0
    rate = rho * c / mean
    model = queue_model({"desk": c}, [{"serve": "desk", "time": exponential(mean)}], rate, horizon, horizon / 20)
    results = run(model)
    assert_theory_in_ci(results, "external.queueing.mean", analytic.mmc_wait(rate, 1 / mean, c), max_rel_half)
    assert_theory_in_ci(results, "department.desk.utilisation", rho, 0.01)


# --- single stations: the distribution, not only the mean ---------------------------------------
# A queue served in any order that ignores service times (LIFO, random) has the FIFO mean wait
# (Little's law) but another spread, so these check percentiles of the FIFO distribution. A
# replication's percentile is that of its 10,000 to 20,000 customers; the bias of a sample
# quantile is of order 1/n of the spread, far below the half-widths here (2-5% of the value).


@pytest.mark.parametrize("rho, horizon, max_rel_half", [
    (0.5, 20_000, 0.04),
    (0.8, 25_000, 0.05),
])
def test_mm1_time_in_system_is_exponential(rho, horizon, max_rel_half):
    # M/M/1, FIFO, mu = 1, lambda = rho: the time in system T is exponential with rate mu - lambda
    # (Kleinrock eq. 3.28), so its q-quantile is -ln(1 - q) / (1 - rho): p50 = ln 2 / (1 - rho),
    # p90 = ln 10 / (1 - rho), p95 = ln 20 / (1 - rho). At rho 0.5: 1.386, 4.605, 5.991; at 0.8:
    # 3.466, 11.513, 14.979.
    model = queue_model({"desk": 1}, [{"serve": "desk", "time": exponential(1.0)}], rho, horizon, horizon / 20)
    results = run(model)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95)):
        assert_theory_in_ci(results, f"external.time_in_system.{name}", -math.log(1 - q) / (1 - rho), max_rel_half)


def erlang_c_wait_quantile(rate: float, mu: float, c: int, q: float) -> float:
    """The q-quantile of the FIFO wait in queue of M/M/c: P(Wq > t) = C(c, a) exp(-(c mu - lambda) t)
    with a = lambda / mu, so P(Wq > t) = 1 - q at t = ln(C / (1 - q)) / (c mu - lambda), for C > 1 - q
    (else the quantile is 0, in the atom of customers who do not wait)."""
    waiting = analytic.erlang_c(c, rate / mu)
    assert waiting > 1 - q
    return math.log(waiting / (1 - q)) / (c * mu - rate)


@pytest.mark.parametrize("rho, horizon, max_rel_half, erlang_c, p90", [
    # c = 3, mean service 2 (mu = 0.5), a = 3 rho. rho 0.7: a = 2.1, a^3/3! = 1.5435, / (1 - rho)
    # = 5.145; 1 + a + a^2/2 = 5.305; C = 5.145 / (5.305 + 5.145) = 0.4923. c mu - lambda = 0.45:
    # p90 = ln(4.923) / 0.45 = 3.542. rho 0.85: a = 2.55, 2.7636 / 0.15 = 18.424; 6.80125;
    # C = 18.424 / 25.225 = 0.7304; c mu - lambda = 0.225: p90 = ln(7.304) / 0.225 = 8.837.
    (0.7, 20_000, 0.05, 0.4923, 3.542),
    (0.85, 20_000, 0.06, 0.7304, 8.837),
])
def test_mmc_wait_in_queue_has_the_erlang_c_tail(rho, horizon, max_rel_half, erlang_c, p90):
    c, mean = 3, 2.0
    rate = rho * c / mean
    model = queue_model({"desk": c}, [{"serve": "desk", "time": exponential(mean)}], rate, horizon, horizon / 20)
    results = run(model)
    assert analytic.erlang_c(c, rate * mean) == pytest.approx(erlang_c, abs=1e-4)
    theory = erlang_c_wait_quantile(rate, 1 / mean, c, 0.9)
    assert theory == pytest.approx(p90, abs=1e-3)
    assert_theory_in_ci(results, "external.queueing.p90", theory, max_rel_half)


# --- networks ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_tandem_of_mmc_stations():
    # By Burke's theorem the departures of a stable M/M/c queue are Poisson, so each station of a
    # tandem is an M/M/c queue of its own, and the waits add up.
    rate = 1.5
    stations = [("intake", 2, 1.0), ("review", 3, 1.6), ("payout", 1, 0.5)]
    journey = [{"serve": name, "time": exponential(mean)} for name, _, mean in stations]
    model = queue_model({name: c for name, c, _ in stations}, journey, rate, 10_000, 500)
    results = run(model)
    waits = [analytic.mmc_wait(rate, 1 / mean, c) for _, c, mean in stations]
    assert_theory_in_ci(results, "external.queueing.mean", sum(waits), 0.04)
    assert_theory_in_ci(results, "external.time_in_system.mean",
                        sum(waits) + sum(mean for _, _, mean in stations), 0.03)
    for name, c, mean in stations:
        assert_theory_in_ci(results, f"department.{name}.utilisation", rate * mean / c, 0.01)


@pytest.mark.slow
def test_jackson_network_with_probabilistic_routing():
    # After the front desk, 40% go on to advice and 60% to the cashier (a `branch:`), then leave.
    # Poisson splitting keeps every stream Poisson: an open Jackson network.
    rate = 1.5
    names = ["front_desk", "advice", "cashier"]
    servers = [2, 1, 1]
    means = [1.0, 1.2, 0.8]
    journey = [
        {"serve": "front_desk", "time": exponential(1.0)},
        {"branch": [
            {"p": 0.4, "then": [{"serve": "advice", "time": exponential(1.2)}]},
            {"p": 0.6, "then": [{"serve": "cashier", "time": exponential(0.8)}]},
        ]},
    ]
    routing = [[0, 0.4, 0.6], [0, 0, 0], [0, 0, 0]]
    theory = analytic.jackson_network([rate, 0, 0], routing, means, servers)
    model = queue_model(dict(zip(names, servers, strict=True)), journey, rate, 12_000, 600)
    results = run(model)
    queueing = float((theory.visits * theory.wait).sum())
    assert_theory_in_ci(results, "external.queueing.mean", queueing, 0.04)
    assert_theory_in_ci(results, "external.time_in_system.mean", theory.network_sojourn, 0.03)
    for name, utilisation in zip(names, theory.utilisation, strict=True):
        assert_theory_in_ci(results, f"department.{name}.utilisation", float(utilisation), 0.01)


# --- general service times ------------------------------------------------------------------


def test_mg1_lognormal_service_pollaczek_khinchine():
    rate, mean, cv = 0.7, 1.0, 1.5
    service = {"dist": "lognormal", "mean": mean, "cv": cv}
    model = queue_model({"desk": 1}, [{"serve": "desk", "time": service}], rate, 30_000, 1500)
    results = run(model)
    # Wq = lam E[S^2] / (2 (1 - rho)), E[S^2] = mean^2 (1 + cv^2)  (Kleinrock eq. 5.76)
    theory = analytic.mg1_wait(rate, mean, cv**2)
    assert theory == pytest.approx(rate * mean**2 * (1 + cv**2) / (2 * (1 - rate * mean)))
    assert_theory_in_ci(results, "external.queueing.mean", theory, 0.05)
    assert_theory_in_ci(results, "department.desk.utilisation", rate * mean, 0.01)
