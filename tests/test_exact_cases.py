"""Hand-checked cases: fixed times and arrival traces, so every minute can be worked out on paper.

Also: each customer's attribution adds up to its time in system (on the default model, with all
its mechanisms), and the same seed gives the same numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

import chainsim
from chainsim.api import Results

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "retail_bank.yaml"
HORIZON = 100.0


def fixed(value: float) -> dict[str, Any]:
    return {"dist": "fixed", "value": value}


def traced_model(tmp_path: Path, arrivals: list[float], journey: list[dict],
                 staff: dict[str, int] | None = None) -> chainsim.Model:
    """Customers arriving at the given times (a trace file), one staff member per department."""
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time\n" + "".join(f"{t}\n" for t in arrivals))
    staff = staff or {"front_desk": 1, "compliance": 1, "it": 1}
    return chainsim.parse_model({
        "name": "hand-checked",
        "run": {"horizon": HORIZON},
        "departments": {name: {"staff": n} for name, n in staff.items()},
        "customers": {"walk_in": {"arrivals": {"trace": str(trace)}, "journey": journey}},
    })


def run_once(model: chainsim.Model) -> Results:
    return chainsim.simulate(model, replications=1, seed=3)


def kpi(results: Results, name: str) -> float:
    return results.kpis[0][name]


def department_record(results: Results, name: str):
    rep = results.records[0]
    return rep.department_records[rep.departments.index(name)]


def attribution_of(results: Results, customer: int) -> dict[tuple[str, str], float]:
    """Non-zero (department, kind) minutes of one customer."""
    row = results.customer_attribution().loc[customer]
    return {key: minutes for key, minutes in row.items() if minutes and key[0] != "time_in_system"}


def test_serve_with_a_consult(tmp_path):
    # Front desk 5 minutes of own work, then holds the customer while compliance works 10.
    journey = [{"serve": "front_desk", "time": fixed(5), "consult": {"request": "compliance", "time": fixed(10)}}]
    results = run_once(traced_model(tmp_path, [1.0], journey))
    customers = results.customers()
    assert customers["time_in_system"].tolist() == [15.0]
    assert customers["end"].tolist() == [16.0]
    assert kpi(results, "external.time_in_system.mean") == 15.0
    assert kpi(results, "external.queueing.mean") == 0.0
    assert attribution_of(results, 0) == {("front_desk", "service"): 5.0, ("compliance", "service"): 10.0}
    front = department_record(results, "front_desk")
    assert (front.busy, front.held) == (15.0, 10.0)
    # The run stops at the horizon (nothing left to drain): 100 staff-minutes available.
    assert results.records[0].end == HORIZON
    assert kpi(results, "department.front_desk.utilisation") == pytest.approx(15 / HORIZON)
    assert kpi(results, "department.front_desk.held_share") == pytest.approx(10 / HORIZON)
    assert kpi(results, "department.compliance.utilisation") == pytest.approx(10 / HORIZON)
    assert kpi(results, "department.compliance.turnaround.mean") == 10.0


def test_nested_consult(tmp_path):
    # Front 5; compliance works 10, then holds its own staff member while IT works 3.
    journey = [{"serve": "front_desk", "time": fixed(5), "consult": {
        "request": "compliance", "time": fixed(10), "consult": {"request": "it", "time": fixed(3)}}}]
    results = run_once(traced_model(tmp_path, [0.0], journey))
    assert results.customers()["time_in_system"].tolist() == [18.0]
    assert attribution_of(results, 0) == {("front_desk", "service"): 5.0, ("compliance", "service"): 10.0,
                                          ("it", "service"): 3.0}
    assert (department_record(results, "front_desk").busy, department_record(results, "front_desk").held) == (18, 13)
    assert (department_record(results, "compliance").busy, department_record(results, "compliance").held) == (13, 3)
    assert (department_record(results, "it").busy, department_record(results, "it").held) == (3, 0)
    assert kpi(results, "department.compliance.turnaround.mean") == 13.0


def test_parallel_consult_charges_the_critical_path(tmp_path):
    # Compliance (10) and IT (4) at once: the customer waits for the longer, and only it is charged.
    journey = [{"serve": "front_desk", "time": fixed(5), "consult": {"parallel": [
        {"request": "compliance", "time": fixed(10)}, {"request": "it", "time": fixed(4)}]}}]
    results = run_once(traced_model(tmp_path, [0.0], journey))
    assert results.customers()["time_in_system"].tolist() == [15.0]
    assert attribution_of(results, 0) == {("front_desk", "service"): 5.0, ("compliance", "service"): 10.0}
    assert department_record(results, "it").busy == 4.0
    assert department_record(results, "front_desk").held == 10.0
    jobs = results.jobs()
    requests = jobs[jobs["kind"] == "request"].set_index("department", drop=False)
    assert requests.loc["compliance", ["start", "end"]].tolist() == [5.0, 15.0]
    assert requests.loc["it", ["start", "end"]].tolist() == [5.0, 9.0]


@pytest.mark.parametrize("consult_at, request_window", [("end", (5.0, 15.0)), ("start", (0.0, 10.0))])
def test_consult_at_start_or_end(tmp_path, consult_at, request_window):
    journey = [{"serve": "front_desk", "time": fixed(5), "consult_at": consult_at,
                "consult": {"request": "compliance", "time": fixed(10)}}]
    results = run_once(traced_model(tmp_path, [0.0], journey))
    assert results.customers()["time_in_system"].tolist() == [15.0]
    jobs = results.jobs()
    request = jobs[jobs["kind"] == "request"]
    assert (request["start"].item(), request["end"].item()) == request_window


def test_two_customers_collide_at_one_staff_member(tmp_path):
    # Arrivals at 0 and 2, 5 minutes each: the second waits 3 minutes, then is served 5.
    journey = [{"serve": "front_desk", "time": fixed(5)}]
    results = run_once(traced_model(tmp_path, [0.0, 2.0], journey))
    customers = results.customers()
    assert customers["time_in_system"].tolist() == [5.0, 8.0]
    assert attribution_of(results, 1) == {("front_desk", "queue"): 3.0, ("front_desk", "service"): 5.0}
    assert kpi(results, "external.queueing.mean") == 1.5
    assert kpi(results, "department.front_desk.queue_length.mean") == pytest.approx(3 / HORIZON)
    assert kpi(results, "department.front_desk.queue_length.max") == 1.0


def test_waiting_for_a_busy_supplier_is_charged_to_the_supplier(tmp_path):
    # Two customers at two front-desk staff, both consult the single compliance officer (10 each):
    # the second request queues 10 minutes at compliance while its front-desk member is held.
    journey = [{"serve": "front_desk", "time": fixed(5), "consult": {"request": "compliance", "time": fixed(10)}}]
    model = traced_model(tmp_path, [0.0, 0.0], journey, staff={"front_desk": 2, "compliance": 1})
    results = run_once(model)
    assert results.customers()["time_in_system"].tolist() == [15.0, 25.0]
    assert attribution_of(results, 1) == {("front_desk", "service"): 5.0, ("compliance", "queue"): 10.0,
                                          ("compliance", "service"): 10.0}
    assert department_record(results, "front_desk").held == 30.0


def test_branch_with_certain_option(tmp_path):
    journey = [
        {"serve": "front_desk", "time": fixed(5)},
        {"branch": [{"p": 0.0, "then": [{"serve": "compliance", "time": fixed(100)}]},
                    {"p": 1.0, "then": [{"serve": "it", "time": fixed(7)}]}]},
    ]
    results = run_once(traced_model(tmp_path, [0.0, 20.0], journey))
    assert results.customers()["time_in_system"].tolist() == [12.0, 12.0]
    assert department_record(results, "compliance").busy == 0.0
    assert department_record(results, "it").busy == 14.0


def test_even_branch_splits_customers(tmp_path):
    # 6000 customers 10 minutes apart (no queueing): each takes 5 or 5 + 7 minutes. The number
    # through IT is Binomial(6000, 0.5): the exact two-sided binomial test must not reject p = 0.5
    # at the 0.1% level. The sample is large enough that p = 0.55 would be rejected: the counts the
    # test accepts (sd 39 around 3000) are below 0.1% likely under Binomial(6000, 0.55) (mean 3300).
    n = 6000
    journey = [
        {"serve": "front_desk", "time": fixed(5)},
        {"branch": [{"p": 0.5, "then": [{"serve": "it", "time": fixed(7)}]}, {"p": 0.5, "then": []}]},
    ]
    arrivals = [10.0 * i for i in range(n)]
    model = traced_model(tmp_path, arrivals, journey).with_changes({"run.horizon": 10.0 * n})
    tis = run_once(model).customers()["time_in_system"]
    assert len(tis) == n and set(tis) == {5.0, 12.0}
    near = range(n // 2 - 300, n // 2 + 301)  # 7.7 sd either side: the test rejects both ends
    accepted = [k for k in near if stats.binomtest(k, n, 0.5).pvalue > 0.001]
    low, high = accepted[0], accepted[-1]
    assert near[0] < low and high < near[-1] and accepted == list(range(low, high + 1))
    for wrong in (0.45, 0.55):  # the test's power: these would fall in [low, high] less than 0.1% of the time
        assert stats.binom.cdf(high, n, wrong) - stats.binom.cdf(low - 1, n, wrong) < 0.001
    through_it = int((tis == 12.0).sum())
    assert stats.binomtest(through_it, n, 0.5).pvalue > 0.001, (through_it, low, high)


def _assert_attribution_sums(results: Results) -> int:
    checked = 0
    for replication in range(results.replications):
        table = results.customer_attribution(replication)
        minutes = table.drop(columns="time_in_system", level="department").sum(axis=1).to_numpy()
        np.testing.assert_allclose(minutes, table["time_in_system"].to_numpy(), rtol=1e-9, atol=0)
        checked += len(table)
    return checked


def test_attribution_adds_up_on_hand_checked_journeys(tmp_path):
    journey = [{"serve": "front_desk", "time": fixed(5), "consult": {"parallel": [
        {"request": "compliance", "time": fixed(10), "consult": {"request": "it", "time": fixed(2)}},
        {"request": "it", "time": fixed(4)}]}}]
    results = run_once(traced_model(tmp_path, [0.0, 1.0, 2.0, 3.0], journey))
    assert _assert_attribution_sums(results) == 4


def test_attribution_adds_up_on_the_default_model():
    # Schedules, patience, nested consults, clarification, interruptions, rework, branches.
    model = chainsim.load_model(DEFAULT_MODEL)
    results = chainsim.simulate(model, replications=4, seed=7)
    assert _assert_attribution_sums(results) > 200
    customers = results.customers()
    assert customers["reworks"].sum() > 0 and customers["clarifications"].sum() > 0
    assert (customers["outcome"] == "abandoned").any()
    kinds = results.attribution().groupby("kind")["minutes"].sum()
    assert (kinds[["queue", "service", "rework", "clarify", "interrupted"]] > 0).all()


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_same_seed_same_numbers_different_seed_different():
    model = chainsim.load_model(DEFAULT_MODEL)
    first = chainsim.simulate(model, replications=3, seed=11).kpis
    again = chainsim.simulate(model, replications=3, seed=11).kpis
    other = chainsim.simulate(model, replications=3, seed=12).kpis
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert not any(_same(a, b) for a, b in zip(first, other, strict=True))
    assert first[0]["external.time_in_system.mean"] != other[0]["external.time_in_system.mean"]


def test_a_run_where_no_customer_completes_still_reports():
    """Found by the fuzzer: customers arrive but none finish (staff leave at 5) -> KPIs are NaN, not a crash."""
    model = chainsim.parse_model({
        "name": "nobody served", "run": {"horizon": 30, "replications": 1, "seed": 0, "drain": False,
                                         "warmup": 10, "day_length": 120},
        "departments": {"desk": {"schedule": [{"from": 0, "to": 5, "staff": 1}]}},
        "customers": {"c": {"arrivals": {"rate": 0.5},
                            "journey": [{"serve": "desk", "time": {"dist": "exponential", "mean": 1}}]}}})
    kpis = chainsim.simulate(model).kpis[0]
    assert kpis["external.arrived"] > 0 and kpis["external.completed"] == 0
    assert kpis["external.in_system_at_end"] == kpis["external.arrived"]
    assert math.isnan(kpis["external.queueing.mean"]) and math.isnan(kpis["attribution.desk.share"])
