"""The organisational dynamics against queueing theory: abandonment, priorities, rework, interruptions,
fork-join consults, rate profiles, churn, balking, absence, outages, batches, pools, internal priority.

How a comparison is judged (``agrees``): each replication gives one value of the KPI; over the R
replications we form the 99% t-interval of their mean, and the analytic value must lie inside it.
The tolerance is therefore the run's own sampling error, not a number chosen to make the test pass.
99% rather than 95% because this file makes about twenty such comparisons with fixed seeds; each
test also asserts that the interval is narrow (half-width below a stated fraction of the theory), so
a wrong mechanism that shifts the KPI by more than that fraction cannot hide in a wide interval.
Warm-up and long horizons keep the start-up bias of each replication well below that half-width.

Count tests (profile arrivals, churn, batches) use a fixed seed and the exact sampling distribution
of the count (Poisson, binomial, chi-square), with the standard error written beside the test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse, stats
from scipy.sparse import linalg as sparse_linalg

from chainsim import Model, Results, parse_model, simulate
from chainsim import analytic as an
from chainsim.distributions import Exponential, Sampler
from chainsim.load import arrival_rate
from chainsim.metrics import attribution_matrix, t_interval
from chainsim.plan import Arrivals, arrival_segments
from chainsim.recorder import IN_SYSTEM, KINDS, REWORK

LEVEL = 0.99


def exponential(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value}


def build(departments: dict, customers: dict, horizon: float, warmup: float, replications: int,
          seed: int = 11, **extra) -> Model:
    return parse_model({
        "name": "dynamics test",
        "run": {"horizon": horizon, "warmup": warmup, "replications": replications, "seed": seed},
        "departments": departments, "customers": customers, **extra,
    })


def values(results: Results, kpi: str) -> np.ndarray:
    return np.array([k[kpi] for k in results.kpis], dtype=float)


def agrees(results: Results, kpi: str, theory: float, max_half_width: float) -> None:
    """Theory inside the run's 99% t-interval over replications, and the interval narrow enough to matter."""
    agrees_values(values(results, kpi), theory, max_half_width, kpi)


def agrees_values(sample: np.ndarray, theory: float, max_half_width: float, what: str) -> None:
    mean, lo, hi = t_interval(sample, level=LEVEL)
    where = f"{what}: simulated {mean:.4f} [{lo:.4f}, {hi:.4f}] vs theory {theory:.4f}"
    assert (hi - lo) / 2 <= max_half_width * abs(theory), f"interval too wide to test: {where}"
    assert lo <= theory <= hi, where


def one_station(rate: float, time: dict, staff: int = 1, horizon: float = 20_000, warmup: float = 500,
                replications: int = 10, department: dict | None = None, customer: dict | None = None) -> Model:
    return build({"desk": {"staff": staff, **(department or {})}},
                 {"walk_in": {"arrivals": {"rate": rate}, "journey": [{"serve": "desk", "time": time}],
                              **(customer or {})}},
                 horizon, warmup, replications)


# --- abandonment: Erlang-A ---------------------------------------------------------------------


@pytest.mark.slow
def test_abandonment_matches_erlang_a():
    # M/M/2+M at offered load 2 Erlangs (rho = 1: without abandonment it would be unstable).
    lam, mu, theta, c = 2.0, 1.0, 0.2, 2
    model = one_station(lam, exponential(1 / mu), staff=c, horizon=12_000, replications=10,
                        customer={"patience": exponential(1 / theta)})
    results = simulate(model)
    theory = an.erlang_a(lam, mu, theta, c)
    agrees(results, "external.abandonment_rate", theory.p_abandon, 0.05)
    agrees(results, "external.queueing.mean", theory.mean_wait_served, 0.05)


# --- priority disciplines: Cobham --------------------------------------------------------------


def two_classes(discipline: str) -> Model:
    """High class: rate 0.4, mean 0.5; low class: rate 0.4, mean 1.25; utilisation 0.2 + 0.5."""
    journey = lambda mean: [{"serve": "desk", "time": exponential(mean)}]  # noqa: E731
    return build({"desk": {"staff": 1, "discipline": discipline}},
                 {"urgent": {"arrivals": {"rate": 0.4}, "priority": 1, "journey": journey(0.5)},
                  "routine": {"arrivals": {"rate": 0.4}, "priority": 0, "journey": journey(1.25)}},
                 horizon=30_000, warmup=500, replications=10)


@pytest.mark.slow
def test_nonpreemptive_priority_matches_cobham():
    results = simulate(two_classes("priority"))
    waits = an.priority_nonpreemptive_wait([0.4, 0.4], [0.5, 1.25], [1.0, 1.0])
    agrees(results, "class.urgent.time_in_system.mean", waits[0] + 0.5, 0.05)
    agrees(results, "class.routine.time_in_system.mean", waits[1] + 1.25, 0.05)


@pytest.mark.slow
def test_preemptive_priority_matches_preemptive_resume_formula():
    results = simulate(two_classes("preemptive"))
    sojourn = an.priority_preemptive_sojourn([0.4, 0.4], [0.5, 1.25], [1.0, 1.0])
    agrees(results, "class.urgent.time_in_system.mean", sojourn[0], 0.05)
    agrees(results, "class.routine.time_in_system.mean", sojourn[1], 0.05)


# --- rework: Jackson feedback ------------------------------------------------------------------


def test_rework_is_jackson_feedback():
    # One M/M/1 station with Bernoulli feedback p: effective rate lam/(1-p); every visit (first or
    # redo, joining the back of the queue) sees the stationary M/M/1, so the time per visit is
    # 1/(mu - lam/(1-p)) and the customer makes 1/(1-p) visits (the redo time is the step's own
    # exponential time by default, so the feedback is exactly Jackson's).
    lam, mu, p = 0.4, 1.0, 0.3
    model = one_station(lam, exponential(1 / mu), horizon=40_000, replications=10,
                        department={"error_rate": p})
    results = simulate(model)
    net = an.jackson_network([lam], [[p]], [1 / mu], [1])
    visits = values(results, "department.desk.jobs") / values(results, "external.completed")
    agrees_values(visits, 1 / (1 - p), 0.02, "visits per customer")
    assert net.visits[0] == pytest.approx(1 / (1 - p))
    agrees(results, "external.time_in_system.mean", net.network_sojourn, 0.05)
    # Apart from the customers' times, the station's own time averages: Jackson's desk is an M/M/1
    # at rho = lam/(1-p) E[S] (first visits and redos together), busy that share of the time, with
    # on average rho^2/(1 - rho) waiting (Lq of M/M/1).
    rho = lam / (1 - p) / mu
    assert net.utilisation[0] == pytest.approx(rho)
    agrees(results, "department.desk.utilisation", rho, 0.02)
    agrees(results, "department.desk.queue_length.mean", rho**2 / (1 - rho), 0.08)
    # The redo visits, queue and service, are the erring department's rework minutes.
    agrees(results, "attribution.desk.rework", (net.visits[0] - 1) * net.sojourn[0], 0.07)
    agrees(results, "attribution.desk.service", 1 / mu, 0.03)


# --- interruptions: the high class of a priority queue ----------------------------------------


INTERRUPTIONS = {"every": exponential(5.0), "lasts": exponential(1.0)}  # rate 0.2, load 0.2


@pytest.mark.slow
def test_preempting_interruptions_match_preemptive_resume():
    # Interruptions are a Poisson high class (rate 0.2, exp(1) work) that preempts and resumes the
    # customers' work: customers see the low-class sojourn of the preemptive-resume formula.
    model = one_station(0.4, exponential(1.0), horizon=30_000, replications=10,
                        department={"interruptions": {**INTERRUPTIONS, "mode": "preempt"}})
    results = simulate(model)
    sojourn = an.priority_preemptive_sojourn([0.2, 0.4], [1.0, 1.0], [1.0, 1.0])
    agrees(results, "external.time_in_system.mean", sojourn[1], 0.05)
    agrees(results, "department.desk.interrupted_share", 0.2, 0.05)


@pytest.mark.slow
def test_queued_interruptions_match_nonpreemptive_priority():
    model = one_station(0.4, exponential(1.0), horizon=30_000, replications=10,
                        department={"interruptions": {**INTERRUPTIONS, "mode": "queue"}})
    results = simulate(model)
    waits = an.priority_nonpreemptive_wait([0.2, 0.4], [1.0, 1.0], [1.0, 1.0])
    agrees(results, "external.time_in_system.mean", waits[1] + 1.0, 0.05)


# --- parallel consult: fork-join ---------------------------------------------------------------


@pytest.mark.slow
def test_parallel_consult_matches_fork_join():
    # The front step takes no time and has 60 staff (at most a handful of customers are ever
    # inside), so the time in system is the fork-join response of two M/M/1 suppliers.
    lam, mu = 0.5, 1.0
    request = lambda dept: {"request": dept, "time": exponential(1 / mu)}  # noqa: E731
    model = build({"front": {"staff": 60}, "legal": {"staff": 1}, "it": {"staff": 1}},
                  {"walk_in": {"arrivals": {"rate": lam}, "journey": [
                      {"serve": "front", "time": fixed(0),
                       "consult": {"parallel": [request("legal"), request("it")]}}]}},
                  horizon=30_000, warmup=500, replications=10)
    results = simulate(model)
    agrees(results, "external.time_in_system.mean", an.fork_join_two(lam, mu), 0.05)
    agrees(results, "department.legal.turnaround.mean", an.mm1_sojourn(lam, mu), 0.05)
    assert values(results, "attribution.front.queue").max() == 0.0


# --- arrivals: rate profile, batches ------------------------------------------------------------


PROFILE = [{"from": 0, "to": 100, "rate": 0.5}, {"from": 100, "to": 250, "rate": 2.0},
           {"from": 250, "to": 320, "rate": 0.0}, {"from": 320, "to": 480, "rate": 1.0}]


def test_profile_arrival_counts_are_poisson_by_window():
    # 40 days of 480 minutes; counts in 10-minute bins of each day. Each bin count is Poisson with
    # mean rate * 10 (rate of the window holding the bin), independent across bins, so
    # sum (O - E)^2 / E over the bins with E > 0 is approximately chi-square with that many degrees
    # of freedom (E >= 5 in every bin). This checks the level of every window, the exact placement
    # of the boundaries, and the Poisson dispersion; the rate-0 window must stay empty.
    days, day = 40, 480.0
    model = build({"desk": {"staff": 50}},
                  {"walk_in": {"arrivals": {"profile": PROFILE}, "journey": [{"serve": "desk", "time": fixed(1)}]}},
                  horizon=days * day, warmup=0, replications=1, seed=5)
    model = model.with_changes({"run.day_length": day})
    arrivals = simulate(model).customers()["arrival"].to_numpy()
    edges = np.arange(0.0, days * day + 1e-9, 10.0)
    observed, _ = np.histogram(arrivals, bins=edges)
    tod = edges[:-1] % day
    rate = np.select([tod < 100, tod < 250, tod < 320], [0.5, 2.0, 0.0], 1.0)
    expected = rate * 10.0
    assert observed[expected == 0].sum() == 0, "arrivals in the window with rate 0"
    live = expected > 0
    chi2 = float(((observed[live] - expected[live]) ** 2 / expected[live]).sum())
    dof = int(live.sum())
    assert stats.chi2.sf(chi2, dof) > 0.001, f"chi-square {chi2:.1f} on {dof} bins"
    # The per-window totals: Poisson with mean rate * length * days; |z| < 3.3 (two-sided 0.1%).
    for start, end, r in [(0, 100, 0.5), (100, 250, 2.0), (320, 480, 1.0)]:
        count = int(((arrivals % day >= start) & (arrivals % day < end)).sum())
        mean = r * (end - start) * days
        assert abs(count - mean) / math.sqrt(mean) < 3.3, (start, end, count, mean)


@pytest.mark.parametrize(("day", "windows", "days"), [
    (1.0, [(0.35, 0.7, 100.0)], 60),  # windows at fractions a float cannot hold exactly
    (24.0, [(8.3, 17.7, 10.0)], 60),
    (1440.0, [(500.1, 1000.3, 0.5)], 30),
    (10.1, [(0.0, 5.0, 10.0)], 140),  # a day length that is not a whole number
])
def test_profile_arrivals_come_every_day_whatever_the_window_edges(day, windows, days):
    # Rounding once made the time of day fall back before a window's end, the walk stalled and the
    # class stopped arriving after the first day. Every day gets its arrivals, and the total is
    # Poisson(rate * open length * days): |z| < 3.3.
    profile = [{"from": a, "to": b, "rate": r} for a, b, r in windows]
    model = build({"desk": {"staff": 500}},
                  {"walk_in": {"arrivals": {"profile": profile}, "journey": [{"serve": "desk", "time": fixed(0.001)}]}},
                  horizon=days * day, warmup=0, replications=1, seed=5)
    arrivals = simulate(model.with_changes({"run.day_length": day})).customers()["arrival"].to_numpy()
    assert set(np.floor(arrivals / day).astype(int)) == set(range(days))
    mean = sum(r * (b - a) for a, b, r in windows) * days
    assert abs(len(arrivals) - mean) / math.sqrt(mean) < 3.3, (len(arrivals), mean)


@pytest.mark.parametrize(("arrivals", "in_overlap"), [
    ({"profile": [{"from": 0, "to": 480, "rate": 0.1}, {"from": 100, "to": 200, "rate": 0.5}]}, 0.6),
    ({"rate": 0.5, "open": [{"from": 0, "to": 200}, {"from": 100, "to": 300}]}, 0.5),
])
def test_overlapping_windows_add_up_in_a_profile_and_merge_as_opening_hours(arrivals, in_overlap):
    # Two rate windows are two streams of customers, so their rates add up where they overlap;
    # two opening-hour windows that overlap are simply open. The offered-load check agrees.
    days = 50
    model = build({"desk": {"staff": 50}}, {"walk_in": {"arrivals": arrivals, "journey": [{"serve": "desk", "time": fixed(1)}]}},
                  horizon=days * 480, warmup=0, replications=1, seed=8).with_changes({"run.day_length": 480})
    times = simulate(model).customers()["arrival"].to_numpy() % 480
    count = int(((times >= 100) & (times < 200)).sum())
    mean = in_overlap * 100 * days
    assert abs(count - mean) / math.sqrt(mean) < 3.3, (count, mean)
    expected_per_day = sum(r * (b - a) for a, b, r in arrival_segments(model.customers["walk_in"].arrivals, 480))
    assert arrival_rate(model, "walk_in") == pytest.approx(expected_per_day / 480)
    assert expected_per_day == pytest.approx(0.1 * 480 + 0.5 * 100 if "profile" in arrivals else 0.5 * 300)


def test_rare_arrivals_by_time_of_day_skip_empty_days_and_keep_their_rate():
    # One minute a day open at 0.05 per minute: a day has an arrival with rate 0.05, so gaps are
    # mostly whole days skipped at once. Times stay inside the window, and the number of arrivals
    # in 20 000 days is Poisson(1000).
    arrivals = Arrivals([(0.0, 1.0, 0.0), (1.0, 2.0, 0.05), (2.0, 480.0, 0.0)], 480.0,
                        Sampler(Exponential(mean=1.0), np.random.default_rng(4)), None)
    times = []
    while (t := arrivals.next()) < 20_000 * 480.0:
        times.append(t)
    tod = np.array(times) % 480.0
    assert ((tod >= 1.0) & (tod < 2.0)).all()
    assert np.all(np.diff(times) > 0)
    assert abs(len(times) - 1000) / math.sqrt(1000) < 3.3, len(times)


def test_batch_arrivals_multiply_the_count():
    # Batches of exactly 3 at Poisson(0.1) epochs: the customers come in threes at identical times,
    # and the number of epochs over 20 000 minutes is Poisson(2000), sd 44.7.
    model = one_station(0.1, fixed(0.1), staff=10, horizon=20_000, warmup=0, replications=1,
                        customer={"arrivals": {"rate": 0.1, "batch": fixed(3)}})
    customers = simulate(model).customers()
    epochs, sizes = np.unique(customers["arrival"].to_numpy(), return_counts=True)
    assert set(sizes.tolist()) == {3}
    assert len(customers) == 3 * len(epochs)
    assert abs(len(epochs) - 2000) / math.sqrt(2000) < 3.3


def test_random_batch_sizes_scale_the_arrival_rate():
    # Batch size uniform(0.5, 4.5) rounded: 1..4 equally likely, mean 2.5, var 1.25. Arrivals per
    # replication: compound Poisson with mean 0.1 * 5000 * 2.5 = 1250.
    model = one_station(0.1, fixed(0.1), staff=10, horizon=5_000, warmup=0, replications=20,
                        customer={"arrivals": {"rate": 0.1, "batch": {"dist": "uniform", "low": 0.5, "high": 4.5}}})
    results = simulate(model)
    agrees(results, "external.arrived", 0.1 * 5000 * 2.5, 0.05)
    sizes = np.unique(results.customers().groupby(["replication", "arrival"]).size())
    assert set(sizes.tolist()) == {1, 2, 3, 4}


# --- churn --------------------------------------------------------------------------------------


def test_churn_of_late_customers_is_binomial():
    # Service is fixed 1 and the expectation 0.5, so every customer is late; each churns with
    # probability 0.3 on its own draw: churned ~ Binomial(n, 0.3), sd sqrt(n 0.21).
    model = one_station(0.5, fixed(1.0), staff=3, horizon=40_000, warmup=0, replications=1,
                        customer={"expectation": 0.5, "churn_if_late": 0.3})
    kpis = simulate(model).kpis[0]
    n = kpis["external.completed"]
    assert n == kpis["external.arrived"] > 15_000
    assert kpis["churn.expected"] == pytest.approx(0.3 * n, rel=1e-12)
    z = (kpis["churn.customers"] - 0.3 * n) / math.sqrt(n * 0.3 * 0.7)
    assert abs(z) < 3.3, z


def test_churn_of_lost_customers_is_binomial():
    # balk_at 0: every customer finds "0 or more" waiting and balks; each churns with p 0.4.
    model = one_station(0.5, fixed(1.0), horizon=20_000, warmup=0, replications=1,
                        customer={"balk_at": 0, "churn_if_abandoned": 0.4, "churn_if_late": 1.0})
    kpis = simulate(model).kpis[0]
    n = kpis["external.balked"]
    assert n == kpis["external.arrived"] and kpis["external.completed"] == 0
    assert kpis["churn.expected"] == pytest.approx(0.4 * n, rel=1e-12)
    z = (kpis["churn.customers"] - 0.4 * n) / math.sqrt(n * 0.4 * 0.6)
    assert abs(z) < 3.3, z


def test_customers_on_time_never_churn():
    model = one_station(0.5, fixed(1.0), staff=3, horizon=5_000, warmup=0, replications=1,
                        customer={"expectation": 1.5, "churn_if_late": 1.0})
    results = simulate(model)
    kpis = results.kpis[0]
    late = (results.customers()["time_in_system"] > 1.5).sum()
    assert kpis["churn.customers"] == kpis["churn.expected"] == late


# --- balking: M/M/1/K -------------------------------------------------------------------------


def test_balking_matches_mm1k_blocking():
    # A customer balks when 3 or more are waiting, so at most 1 + 3 are inside: M/M/1/4, whose
    # blocking probability (PASTA) is (1 - rho) rho^4 / (1 - rho^5).
    lam, k = 0.9, 4
    model = one_station(lam, exponential(1.0), horizon=20_000, replications=10, customer={"balk_at": 3})
    results = simulate(model)
    blocking = (1 - lam) * lam**k / (1 - lam ** (k + 1))
    share = values(results, "external.balked") / values(results, "external.arrived")
    agrees_values(share, blocking, 0.05, "share balked")
    agrees(results, "external.abandonment_rate", blocking, 0.05)


# --- patience on hold --------------------------------------------------------------------------


def held_on_supplier(patience_on_hold: bool) -> Model:
    return build({"front": {"staff": 60}, "legal": {"staff": 1}},
                 {"walk_in": {"arrivals": {"rate": 0.5}, "patience": exponential(2.0),
                              "patience_on_hold": patience_on_hold,
                              "journey": [{"serve": "front", "time": fixed(0),
                                           "consult": {"request": "legal", "time": exponential(1.0)}}]}},
                 horizon=20_000, warmup=500, replications=10)


def single_supplier_with_reneging(lam: float, mu: float, theta: float, states: int = 200) -> tuple[float, float]:
    """M/M/1 where every job, queued or in service, leaves at rate theta: (P(leave), mean time of those served).

    Jobs in the system form a birth-death chain: up at lam, down from n at mu + n theta (the one in
    service finishes, or any of the n leaves), so p_n is proportional to the product of
    lam / (mu + k theta), k = 1..n. An arrival (PASTA) finding k ahead moves to k - 1 at rate
    mu + k theta and leaves itself at theta; from k = 0 it finishes at mu. So P(served | k) = a_k and
    E[T; served | k] = b_k follow by first-step analysis from a_0 = mu / (mu + theta).
    """
    p = [1.0]
    for n in range(1, states):
        p.append(p[-1] * lam / (mu + n * theta))
    a, b = [mu / (mu + theta)], [mu / (mu + theta) ** 2]
    for k in range(1, states):
        rate = mu + k * theta + theta
        a.append((mu + k * theta) / rate * a[-1])
        b.append(a[k] / rate + (mu + k * theta) / rate * b[-1])
    served = sum(pn * an for pn, an in zip(p, a, strict=True)) / sum(p)
    time_served = sum(pn * bn for pn, bn in zip(p, b, strict=True)) / sum(p) / served
    return 1.0 - served, time_served


def test_single_supplier_with_reneging_matches_little():
    # Rate balance: those who leave, theta E[N], are lam P(leave).
    lam, mu, theta = 0.5, 1.0, 0.5
    p = [1.0]
    for n in range(1, 200):
        p.append(p[-1] * lam / (mu + n * theta))
    mean_n = sum(n * pn for n, pn in enumerate(p)) / sum(p)
    assert single_supplier_with_reneging(lam, mu, theta)[0] == pytest.approx(theta * mean_n / lam, rel=1e-12)


def test_patience_on_hold_races_the_supplier_turnaround():
    # The front never queues, so the customer's only wait is on hold for legal (exp(1) service).
    # Patience exp(theta = 0.5) runs there; a customer who leaves calls its request off, queued or in
    # service, so legal is an M/M/1 whose every job leaves at rate theta (see
    # single_supplier_with_reneging). Those served are held as long as their request's turnaround.
    abandon, held = single_supplier_with_reneging(0.5, 1.0, 0.5)
    results = simulate(held_on_supplier(True))
    agrees(results, "external.abandonment_rate", abandon, 0.03)
    agrees(results, "external.time_in_system.mean", held, 0.05)
    agrees(results, "department.legal.turnaround.mean", held, 0.05)


def test_patience_off_hold_never_runs_out_on_hold():
    results = simulate(held_on_supplier(False))
    assert values(results, "external.abandonment_rate").max() == 0.0
    agrees(results, "external.time_in_system.mean", 2.0, 0.05)


# --- absence and outages -----------------------------------------------------------------------


def test_absence_and_outages_reduce_mean_staff():
    # Three departments that receive no work, so staff on duty is exactly capacity:
    # - absence p 0.2 of 10 staff, drawn each day: mean on duty 10 (1 - 0.2) = 8;
    # - outages of everyone, up exp(90) then down 10: alternating renewal, down 10 / 100 of the time,
    #   mean on duty 2 * 0.9 = 1.8;
    # - outages taking 1 of 3 staff, same timing: 3 - 0.1 = 2.9.
    outages = {"every": exponential(90.0), "lasts": fixed(10.0)}
    model = build({"front": {"staff": 1},
                   "back_office": {"staff": 10, "absence": {"p": 0.2}},
                   "archive": {"staff": 2, "outages": outages},
                   "post_room": {"staff": 3, "outages": {**outages, "staff": 1}}},
                  {"walk_in": {"arrivals": {"rate": 0.01}, "journey": [{"serve": "front", "time": fixed(1)}]}},
                  horizon=40_000, warmup=0, replications=8)
    results = simulate(model.with_changes({"run.day_length": 100.0}))
    agrees(results, "department.back_office.staff.mean", 8.0, 0.01)
    agrees(results, "department.archive.staff.mean", 1.8, 0.01)
    agrees(results, "department.post_room.staff.mean", 2.9, 0.005)
    # Absence is whole days: the staff level changes only at day boundaries.
    series = results.staff_series()
    times = series[series["department"] == "back_office"]["time"].to_numpy()
    assert np.allclose(times % 100.0, 0.0)


def test_absence_counts_staff_of_overlapping_shifts():
    # Two overlapping windows of 1 each: 2 on duty all day. Each is absent with p 0.5, so the mean on
    # duty is 2 (1 - 0.5) = 1 (head_count must add overlapping windows up).
    model = build({"front": {"staff": 1},
                   "back_office": {"schedule": [{"from": 0, "to": 100, "staff": 1}, {"from": 0, "to": 100, "staff": 1}],
                                   "absence": {"p": 0.5}}},
                  {"walk_in": {"arrivals": {"rate": 0.01}, "journey": [{"serve": "front", "time": fixed(1)}]}},
                  horizon=40_000, warmup=0, replications=10)
    results = simulate(model.with_changes({"run.day_length": 100.0}))
    agrees(results, "department.back_office.staff.mean", 1.0, 0.05)


def test_a_small_shift_loses_on_average_the_days_share_of_absent_staff():
    # Head count 4 (morning), 2 in the afternoon; each person out with p 0.25. Each shift misses
    # those of the day's absent who were due on it, so on average 25% of every shift is out: mean
    # on duty (4 * 0.75 + 2 * 0.75) / 2 = 2.25. Rounding the afternoon's share to whole people
    # (one absent of four made one of its two staff absent) gave 2.13.
    model = build({"front": {"staff": 1},
                   "back_office": {"schedule": [{"from": 0, "to": 50, "staff": 4}, {"from": 50, "to": 100, "staff": 2}],
                                   "absence": {"p": 0.25}}},
                  {"walk_in": {"arrivals": {"rate": 0.01}, "journey": [{"serve": "front", "time": fixed(1)}]}},
                  horizon=40_000, warmup=0, replications=10)
    results = simulate(model.with_changes({"run.day_length": 100.0}))
    agrees(results, "department.back_office.staff.mean", 2.25, 0.02)


def test_absence_as_a_distribution_of_staff_out():
    # 4 on duty; each day 0, 1 or 3 are out with equal chance: mean on duty 4 - 4/3 = 2.667.
    model = build({"front": {"staff": 1},
                   "back_office": {"staff": 4, "absence": {"out": {"dist": "empirical", "values": [0, 1, 3]}}}},
                  {"walk_in": {"arrivals": {"rate": 0.01}, "journey": [{"serve": "front", "time": fixed(1)}]}},
                  horizon=40_000, warmup=0, replications=10)
    results = simulate(model.with_changes({"run.day_length": 100.0}))
    agrees(results, "department.back_office.staff.mean", 4 - 4 / 3, 0.03)


def outage_mm1(lam: float, mu: float, up: float, down: float) -> tuple[float, float]:
    """(Mean time in system, share of the time spent finishing a job during an outage) of an M/M/1
    whose one staff member goes on outage after exp(mean up) on duty, for exp(mean down), and (as
    the engine does) finishes the job in hand before stopping.

    Phases: U (on duty), F (outage, still finishing the job in hand), I (outage, idle); N jobs in
    the system. alpha = 1/up, beta = 1/down, rho = lam/mu. The outage clock ignores the queue, so
    P(outage) = alpha/(alpha + beta). Zeroth moments: F is entered from U with N >= 1 at alpha and
    left at mu + beta, so (mu + beta) p_F = alpha P(U, N >= 1); the staff member works a share rho
    of the time, P(U, N >= 1) + p_F = rho; so p_F = alpha rho/(mu + alpha + beta), p_I = P(outage) - p_F.
    First moments m_X = E[N; X] (the flow of N into and out of each phase balances):
      F: (mu + beta) m_F = alpha m_U + lam p_F           (enter from U with N; arrivals; leave)
      I: beta m_I = mu (m_F - p_F) + lam p_I             (enter from F with N - 1; arrivals; leave)
    and the balance of E[N^2] (up by 2N + 1 at rate lam, down by 2N - 1 at rate mu while working):
      lam (2L + 1) = mu (2 (m_U + m_F) - rho)  =>  L = (m_U + m_F)/rho - 1.
    With S = m_U + m_F: m_F = (alpha S + lam p_F)/(mu + alpha + beta), m_I = L - S = S (1 - rho)/rho - 1,
    and the I equation gives
      S = [beta + mu lam p_F/(mu + alpha + beta) - mu p_F + lam p_I] / [beta (1 - rho)/rho - mu alpha/(mu + alpha + beta)].
    Time in system W = L/lam (Little). With up -> inf it is M/M/1: S = rho/(1 - rho), W = 1/(mu - lam).
    test_outage_theory_matches_the_generator checks it against the truncated chain solved numerically.
    """
    alpha, beta, rho = 1 / up, 1 / down, lam / mu
    p_finishing = alpha * rho / (mu + alpha + beta)
    p_idle = alpha / (alpha + beta) - p_finishing
    s = ((beta + mu * lam * p_finishing / (mu + alpha + beta) - mu * p_finishing + lam * p_idle)
         / (beta * (1 - rho) / rho - mu * alpha / (mu + alpha + beta)))
    return (s / rho - 1) / lam, p_finishing


def test_outage_theory_matches_the_generator():
    # The same chain, states (N, phase) truncated at N = 300, solved from its generator pi Q = 0.
    lam, mu, alpha, beta, top = 0.5, 1.0, 1 / 90, 1 / 10, 300
    up, finishing, idle = (lambda n: n), (lambda n: top + n), (lambda n: 2 * top + 1 + n)  # noqa: E731
    q = np.zeros((3 * top + 2, 3 * top + 2))
    for n in range(top + 1):
        if n < top:
            q[up(n), up(n + 1)] = q[idle(n), idle(n + 1)] = lam
            if n:
                q[finishing(n), finishing(n + 1)] = lam
        q[idle(n), up(n)] = beta
        if n:
            q[up(n), up(n - 1)] = q[finishing(n), idle(n - 1)] = mu
            q[up(n), finishing(n)] = alpha
            q[finishing(n), up(n)] = beta
        else:
            q[up(0), idle(0)] = alpha
    np.fill_diagonal(q, -q.sum(axis=1))
    a = q.T.copy()
    a[0] = 1.0
    pi = np.linalg.solve(a, np.eye(len(a))[0])
    jobs = np.concatenate([np.arange(top + 1), np.arange(1, top + 1), np.arange(top + 1)])
    time_in_system, finishing = outage_mm1(lam, mu, 90.0, 10.0)
    assert pi @ jobs / lam == pytest.approx(time_in_system, rel=1e-9)
    assert pi[top + 1:2 * top + 1].sum() == pytest.approx(finishing, rel=1e-9)
    assert outage_mm1(lam, mu, 1e12, 10.0)[0] == pytest.approx(an.mm1_sojourn(lam, mu), rel=1e-9)


def test_outage_lowers_capacity_and_raises_waits():
    # Outages exp(90) on duty, then exp(10) off, of the one staff member of an M/M/1 at rho 0.5: the
    # time in system is 4.43 (outage_mm1), not the M/M/1's 2. On duty 90% of the time, plus the
    # share p_F = 0.005 spent finishing a job in hand during an outage, which staff.mean counts as
    # available (available = max(on duty, busy)); utilisation is then rho / (0.9 + p_F).
    # Replications are long against the 100-minute outage cycle, so the intervals are narrow.
    model = one_station(0.5, exponential(1.0), staff=1, horizon=50_000, warmup=1_000, replications=20,
                        department={"outages": {"every": exponential(90.0), "lasts": exponential(10.0)}})
    results = simulate(model)
    time_in_system, finishing = outage_mm1(0.5, 1.0, 90.0, 10.0)
    assert time_in_system > 2 * an.mm1_sojourn(0.5, 1.0)
    agrees(results, "external.time_in_system.mean", time_in_system, 0.04)
    agrees(results, "department.desk.staff.mean", 0.9 + finishing, 0.005)
    agrees(results, "department.desk.utilisation", 0.5 / (0.9 + finishing), 0.01)


# --- cross-trained pool ------------------------------------------------------------------------


def pooled(rule: str | None, rate: float = 0.7) -> Model:
    job = lambda dept: {"arrivals": {"rate": rate}, "journey": [{"serve": dept, "time": exponential(1.0)}]}  # noqa: E731
    pools = {} if rule is None else {"flex": {"staff": 1, "serves": ["billing", "claims"], "rule": rule}}
    return build({"billing": {"staff": 1}, "claims": {"staff": 1}},
                 {"billing_case": job("billing"), "claims_case": job("claims")},
                 horizon=20_000, warmup=500, replications=8, pools=pools)


def pooled_chain(lam: float, mu: float, top: int = 40) -> dict[str, tuple[float, float]]:
    """Mean time in system, and mean pool staff busy there, at billing and at claims of
    `pooled("longest_queue", lam)`, exactly.

    With exponential times and Poisson arrivals the model is a Markov chain on (b, c, f): jobs at
    billing and at claims (in service and waiting), and what the pool member does (0 idle, 1 a
    billing job, 2 a claims job). A department's own staff member is busy whenever it has a job
    the pool member is not doing, and nobody is free while a queue exists, so the queues are
    b - 1 - [f = 1] and c - 1 - [f = 2] (at least 0). As the engine (Department.submit,
    Pool.dispatch): an arrival goes to its own free staff member, else to a free pool member, else
    queues; a pool member who finishes takes from the longer queue (billing on a tie), or idles.
    Truncated at `top` jobs a department (the mass there is below 1e-17); Little: T = E[jobs] / lam.
    """
    states = [(b, c, f) for b in range(top + 1) for c in range(top + 1) for f in range(3)
              if (f or (b <= 1 and c <= 1)) and not (f == 1 and b == 0) and not (f == 2 and c == 0)]
    index = {state: i for i, state in enumerate(states)}
    rows, cols, rates = [], [], []

    def move(state, to, rate):
        if to in index:  # an arrival beyond the truncation is dropped
            rows.append(index[state])
            cols.append(index[to])
            rates.append(rate)

    for b, c, f in states:
        own_b, own_c = b - (f == 1) >= 1, c - (f == 2) >= 1  # own staff member busy
        move((b, c, f), (b + 1, c, 1 if own_b and f == 0 else f), lam)
        move((b, c, f), (b, c + 1, 2 if own_c and f == 0 else f), lam)
        if own_b:
            move((b, c, f), (b - 1, c, f), mu)
        if own_c:
            move((b, c, f), (b, c - 1, f), mu)
        if f:
            b2, c2 = (b - 1, c) if f == 1 else (b, c - 1)
            queue_b, queue_c = max(0, b2 - 1), max(0, c2 - 1)
            move((b, c, f), (b2, c2, 0 if queue_b == queue_c == 0 else 1 if queue_b >= queue_c else 2), mu)
    q = sparse.csr_matrix((rates, (rows, cols)), shape=(len(states), len(states)))
    q = (q - sparse.diags(np.asarray(q.sum(axis=1)).ravel())).T.tolil()
    q[0, :] = 1.0  # one balance equation is redundant: normalise instead
    pi = sparse_linalg.spsolve(q.tocsc(), np.eye(len(states))[0])
    jobs = np.array(states)
    assert pi[(jobs[:, 0] == top) | (jobs[:, 1] == top)].sum() < 1e-12
    return {"billing": (float(pi @ jobs[:, 0]) / lam, float(pi[jobs[:, 2] == 1].sum())),
            "claims": (float(pi @ jobs[:, 1]) / lam, float(pi[jobs[:, 2] == 2].sum()))}


@pytest.mark.slow
def test_pool_lowers_waits_between_full_pooling_and_none():
    # Each department alone is M/M/1 at 0.7 (mean wait 0.7 / 0.3 = 2.33). One pool member who can
    # work for both can at best make the three staff a fully shared M/M/3 at 1.4 Erlangs; partial
    # pooling lies between the two, and the chain of pooled_chain gives it exactly (billing 1.223,
    # claims 1.243: ties go to billing).
    alone = an.mmc_wait(0.7, 1.0, 1)
    shared = an.mmc_wait(1.4, 1.0, 3)
    exact = pooled_chain(0.7, 1.0)
    without = simulate(pooled(None))
    agrees(without, "class.billing_case.time_in_system.mean", alone + 1.0, 0.08)
    results = simulate(pooled("longest_queue"))
    for dept in ("billing", "claims"):
        mean, lo, hi = t_interval(values(results, f"class.{dept}_case.time_in_system.mean"), level=LEVEL)
        assert shared + 1.0 < lo and hi < alone + 1.0, (dept, mean, shared, alone)
        time_in_system, pool_busy = exact[dept]
        assert shared + 1.0 < time_in_system < alone + 1.0
        agrees(results, f"class.{dept}_case.time_in_system.mean", time_in_system, 0.03)
        agrees(results, f"department.{dept}.pool_busy.mean", pool_busy, 0.03)
        # Pool staff are counted: own busy time + pool busy time = the work that arrived (0.7 per minute).
        work = values(results, f"department.{dept}.utilisation") * values(results, f"department.{dept}.staff.mean") \
            + values(results, f"department.{dept}.pool_busy.mean")
        agrees_values(work, 0.7, 0.02, f"{dept} busy staff")
    both = values(results, "department.billing.pool_busy.mean") + values(results, "department.claims.pool_busy.mean")
    assert both.max() <= 1.0
    np.testing.assert_allclose(values(results, "pool.flex.utilisation"), both, rtol=1e-9)


def test_a_department_in_two_pools_books_each_member_to_their_own_pool():
    # Claims is served by two pools; each pool's busy time is its own members' (not claims' total
    # pool time counted for both), so the pools' busy staff add up to what the departments received.
    pools = {"flex": {"staff": 1, "serves": ["billing", "claims"]}, "claims_help": {"staff": 2, "serves": ["claims"]}}
    results = simulate(pooled("ordered", 0.9).with_changes({"pools": pools, "run.horizon": 3_000}))
    received = (values(results, "department.billing.pool_busy.mean")
                + values(results, "department.claims.pool_busy.mean"))
    flex, helping = values(results, "pool.flex.utilisation"), values(results, "pool.claims_help.utilisation")
    np.testing.assert_allclose(flex * 1 + helping * 2, received, rtol=1e-9)
    assert (flex <= 1).all() and (helping <= 1).all() and (helping > 0).all()
    # flex worked at claims too (beyond its billing time), so claims' pool time came from both pools
    assert (flex - values(results, "department.billing.pool_busy.mean") > 0.01).all()


@pytest.mark.slow
def test_pool_rule_ordered_favours_the_first_department():
    # Same seeds (common random numbers), paired over replications, at 0.9 per department: with
    # `ordered` the pool serves billing first, so claims wait longer than billing; with
    # `longest_queue` the pool follows the queues and the gap shrinks to what ties (broken in list
    # order) leave: the two 99% intervals of the paired gap do not overlap.
    shorter = {"run.horizon": 10_000}
    ordered = simulate(pooled("ordered", 0.9).with_changes(shorter))
    longest = simulate(pooled("longest_queue", 0.9).with_changes(shorter))
    gap = lambda r: (values(r, "class.claims_case.time_in_system.mean")  # noqa: E731
                     - values(r, "class.billing_case.time_in_system.mean"))
    _, ordered_lo, _ = t_interval(gap(ordered), level=LEVEL)
    _, _, longest_hi = t_interval(gap(longest), level=LEVEL)
    assert ordered_lo > 0 and ordered_lo > longest_hi, (gap(ordered), gap(longest))


# --- internal priority -------------------------------------------------------------------------


def internal_and_external(internal_priority: str) -> Model:
    # Legal (one staff, priority discipline) serves its own external customers (rate 0.3) and
    # internal requests from the front (rate 0.3); the front step takes no time and never queues.
    return build({"front": {"staff": 60},
                  "legal": {"staff": 1, "discipline": "priority", "internal_priority": internal_priority}},
                 {"advice": {"arrivals": {"rate": 0.3}, "journey": [{"serve": "legal", "time": exponential(1.0)}]},
                  "account": {"arrivals": {"rate": 0.3}, "journey": [
                      {"serve": "front", "time": fixed(0),
                       "consult": {"request": "legal", "time": exponential(1.0)}}]}},
                 horizon=30_000, warmup=500, replications=10)


@pytest.mark.slow
@pytest.mark.parametrize("internal_priority", ["high", "low"])
def test_internal_priority_matches_cobham(internal_priority):
    first, second = an.priority_nonpreemptive_wait([0.3, 0.3], [1.0, 1.0], [1.0, 1.0])
    internal, external = (first, second) if internal_priority == "high" else (second, first)
    results = simulate(internal_and_external(internal_priority))
    agrees(results, "department.legal.turnaround.mean", internal + 1.0, 0.05)
    agrees(results, "class.account.time_in_system.mean", internal + 1.0, 0.05)
    agrees(results, "class.advice.time_in_system.mean", external + 1.0, 0.05)


# --- clarification round trips: geometric counts ------------------------------------------------


def test_clarification_counts_are_geometric_and_each_costs_one_answer(tmp_path: Path):
    # Customers 100 minutes apart never meet. Front step fixed 2, request to legal fixed 5, unclear
    # with p 0.4 each time legal picks it up, answer fixed 3. Number of round trips K is geometric:
    # P(K = k) = 0.4^k 0.6, mean 0.4 / 0.6; each costs exactly one answer (3) charged as `clarify`
    # to the front, so time in system is exactly 7 + 3 K.
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time\n" + "\n".join(str(100 * i) for i in range(3000)) + "\n")
    model = build({"front": {"staff": 1}, "legal": {"staff": 1}},
                  {"walk_in": {"arrivals": {"trace": str(trace)}, "journey": [
                      {"serve": "front", "time": fixed(2),
                       "consult": {"request": "legal", "time": fixed(5), "clarify": {"p": 0.4, "time": fixed(3)}}}]}},
                  horizon=300_000, warmup=0, replications=1, seed=3)
    results = simulate(model)
    customers = results.customers()
    k = customers["clarifications"].to_numpy()
    assert np.allclose(customers["time_in_system"], 7 + 3 * k, rtol=0, atol=1e-9)
    table = results.customer_attribution()
    assert np.allclose(table[("front", "clarify")], 3 * k, atol=1e-9)
    assert np.allclose(table[("legal", "queue")], 0.0)
    # Geometric: compare counts of K = 0, 1, 2, 3, >= 4 with their expectation (chi-square, 4 dof).
    p, n = 0.4, len(k)
    probs = np.array([p**j * (1 - p) for j in range(4)] + [p**4])
    observed = np.array([(k == j).sum() for j in range(4)] + [(k >= 4).sum()])
    chi2 = float(((observed - n * probs) ** 2 / (n * probs)).sum())
    assert stats.chi2.sf(chi2, len(probs) - 1) > 0.001, (observed, n * probs)
    assert results.kpis[0]["department.front.clarifications"] == k.sum()


# --- attribution with every mechanism at once --------------------------------------------------


def everything_model(tmp_path: Path) -> Model:
    day = 480
    return parse_model({
        "name": "every mechanism", "run": {"horizon": 2 * day, "warmup": 0, "replications": 3, "seed": 17,
                                           "day_length": day},
        "departments": {
            "front": {"schedule": [{"from": 0, "to": 300, "staff": 2}, {"from": 200, "to": 480, "staff": 2}],
                      "discipline": "priority",
                      "interruptions": {"every": exponential(60), "lasts": exponential(3)},
                      "absence": {"p": 0.1}},
            "compliance": {"staff": 2, "discipline": "preemptive", "internal_priority": "high",
                           "outages": {"every": exponential(200), "lasts": fixed(15), "staff": 1}},
            "it": {"staff": 1, "error_rate": 0.05,
                   "interruptions": {"every": exponential(50), "lasts": exponential(4), "mode": "queue"}},
            "billing": {"staff": 2, "error_rate": 0.1,
                        "interruptions": {"every": exponential(40), "lasts": exponential(2)}},
        },
        "pools": {"flex": {"staff": 1, "serves": ["billing", "it"], "rule": "longest_queue"}},
        "customers": {
            "walk_in": {
                "arrivals": {"profile": [{"from": 0, "to": 240, "rate": 0.3}, {"from": 240, "to": 480, "rate": 0.5}],
                             "batch": {"dist": "uniform", "low": 0.5, "high": 2.5}},
                "patience": exponential(40), "patience_on_hold": True, "balk_at": 8, "priority": 1,
                "expectation": 30, "value": 100,
                "journey": [
                    {"serve": "front", "id": "intake", "time": {"dist": "lognormal", "mean": 6, "cv": 0.6},
                     "consult_at": "start",
                     "consult": [
                         {"request": "compliance", "time": exponential(5),
                          "clarify": {"p": 0.2, "time": fixed(1)},
                          "consult": {"request": "it", "time": exponential(2)}},
                         {"parallel": [{"request": "it", "time": exponential(3)},
                                       {"request": "billing", "time": exponential(4), "error_rate": 0.1}]}]},
                    {"branch": [
                        {"p": 0.5, "then": [{"serve": "billing", "time": exponential(5), "rework_to": "intake",
                                             "rework_factor": 0.5}]},
                        {"p": 0.5, "then": []}]}]},
            "phone": {"arrivals": {"rate": 0.2}, "patience": exponential(20),
                      "journey": [{"serve": "compliance", "time": exponential(4)},
                                  {"serve": "it", "time": exponential(2)}]},
        },
    })


@pytest.mark.slow
def test_attribution_sums_to_time_in_system_with_every_mechanism(tmp_path: Path):
    model = everything_model(tmp_path)
    results = simulate(model)
    seen = {kind: 0.0 for kind in KINDS}
    outcomes: set[str] = set()
    for r, rep in enumerate(results.records):
        table = results.customer_attribution(r)
        minutes = table.drop(columns=[("time_in_system", "")]).to_numpy()
        assert np.allclose(minutes.sum(axis=1), table["time_in_system"], rtol=1e-9, atol=0), r
        # Abandoned and balked customers' minutes add up too.
        c = rep.customers
        gone = c["outcome"] != IN_SYSTEM
        matrix = attribution_matrix(rep, c["id"][gone])
        assert np.allclose(matrix.sum(axis=1), (c["end"] - c["arrival"])[gone], rtol=1e-9, atol=1e-9)
        for k, kind in enumerate(KINDS):
            seen[kind] += matrix[:, k::len(KINDS)].sum()
        outcomes |= set(results.customers().query("replication == @r")["outcome"].astype(str))
        # Only it and billing make errors (rework_to sends billing's errors back to the front's
        # intake): rework minutes are charged to those two, never to front or compliance.
        rework = matrix[:, REWORK::len(KINDS)].sum(axis=0)
        assert rework[0] == rework[1] == 0.0
    assert all(seen[kind] > 0 for kind in KINDS), seen
    assert {"completed", "abandoned", "balked"} <= outcomes
