"""Hand-checked timelines: fixed times and trace arrivals, so every start and end is known exactly.

Each test writes its timeline in a comment and asserts the engine reproduces it. Where a mechanism
is random by nature (clarification, rework), the test picks the first seed whose draws give the
case described, asserts that count, and then checks the exact times, which depend only on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chainsim import Model, Results, parse_model, simulate
from chainsim.api import model_from_text


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value}


def trace_file(folder: Path, rows: list[tuple[float, str]]) -> str:
    path = folder / "arrivals.csv"
    path.write_text("time,class\n" + "".join(f"{t},{c}\n" for t, c in rows))
    return str(path)


def build(departments: dict, customers: dict, horizon: float = 200, seed: int = 1, **run) -> Model:
    return parse_model({"name": "exact", "run": {"horizon": horizon, "warmup": 0, "replications": 1,
                                                 "seed": seed, **run},
                        "departments": departments, "customers": customers})


def steps(results: Results, department: str) -> pd.DataFrame:
    """Step and request jobs at one department, in order of arrival of their customer."""
    jobs = results.jobs()
    mine = jobs[(jobs["department"] == department) & jobs["kind"].isin(["step", "request"])]
    return mine.sort_values(["queued", "customer"]).reset_index(drop=True)


def first_seed(make: callable, wanted: callable, tries: int = 200) -> Results:
    """Results of the first seed whose run satisfies `wanted` (the random draws give the case)."""
    for seed in range(tries):
        results = simulate(make(seed))
        if wanted(results):
            return results
    raise AssertionError(f"no seed in {tries} gives the case")


# --- schedules and shifts ----------------------------------------------------------------------


def test_shift_start_adds_staff_exactly_when_it_begins(tmp_path):
    # Day of 120 minutes: 1 on duty in [0, 120) plus 1 in [60, 120) (overlapping windows add up),
    # service fixed 25, arrivals at 0, 10, 20, 30, 40:
    #   0 -> 0..25, 10 -> 25..50, 20 -> 50..75, 30 -> 60..85 (second staff at 60), 40 -> 75..100.
    trace = trace_file(tmp_path, [(t, "walk_in") for t in (0, 10, 20, 30, 40)])
    model = build({"desk": {"schedule": [{"from": 0, "to": 120, "staff": 1}, {"from": 60, "to": 120, "staff": 1}]}},
                  {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(25)}]}},
                  horizon=120, day_length=120)
    results = simulate(model)
    jobs = steps(results, "desk")
    assert jobs["start"].tolist() == [0, 25, 50, 60, 75]
    assert jobs["end"].tolist() == [25, 50, 75, 85, 100]
    series = results.staff_series()
    desk = series[series["department"] == "desk"]
    assert desk["time"].tolist()[:2] == [0.0, 60.0]
    assert desk["staff"].tolist()[:2] == [1, 2]
    if len(desk) > 2:  # the next day starts again with one
        assert desk["time"].tolist()[2] == 120.0 and desk["staff"].tolist()[2] == 1


def test_staff_going_off_shift_finish_the_job_in_hand(tmp_path):
    # 2 on duty in [0, 30), 1 in [30, 200); service fixed 40; arrivals at 0, 5, 6, 7.
    # 0 -> 0..40 and 5 -> 5..45 both finish although one of them goes off duty at 30; at 40 only
    # one is on duty and still busy, so 6 waits for 45: 6 -> 45..85, 7 -> 85..125.
    trace = trace_file(tmp_path, [(t, "walk_in") for t in (0, 5, 6, 7)])
    model = build({"desk": {"schedule": [{"from": 0, "to": 30, "staff": 2}, {"from": 30, "to": 200, "staff": 1}]}},
                  {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(40)}]}},
                  horizon=200, day_length=200)
    results = simulate(model)
    jobs = steps(results, "desk")
    assert jobs["start"].tolist() == [0, 5, 45, 85]
    assert jobs["end"].tolist() == [40, 45, 85, 125]
    series = results.staff_series()
    assert series[series["department"] == "desk"]["staff"].tolist()[:2] == [2, 1]


def test_outage_waits_for_the_job_in_hand_and_blocks_new_work(tmp_path):
    # One staff member; outages every fixed 5 after the previous one ended, lasting fixed 10:
    # out [5, 15), [20, 30), ... Service fixed 8; arrivals 0, 6, 21.
    # 0 -> 0..8 (finished during the outage), 6 -> 15..23 (the in-hand job runs into the next
    # outage and finishes), 21 -> 30..38.
    trace = trace_file(tmp_path, [(t, "walk_in") for t in (0, 6, 21)])
    model = build({"desk": {"staff": 1, "outages": {"every": fixed(5), "lasts": fixed(10)}}},
                  {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(8)}]}})
    jobs = steps(simulate(model), "desk")
    assert jobs["start"].tolist() == [0, 15, 30]
    assert jobs["end"].tolist() == [8, 23, 38]


# --- priorities and interruptions --------------------------------------------------------------


def two_class_trace(tmp_path, discipline: str, rows: list[tuple[float, str]]) -> Model:
    trace = trace_file(tmp_path, rows)
    return build({"desk": {"staff": 1, "discipline": discipline}},
                 {"routine": {"arrivals": {"trace": trace}, "priority": 0,
                              "journey": [{"serve": "desk", "time": fixed(10)}]},
                  "urgent": {"arrivals": {"trace": trace}, "priority": 1,
                             "journey": [{"serve": "desk", "time": fixed(3)}]}})


def test_preemptive_priority_pauses_and_resumes_the_low_class(tmp_path):
    # Routine at 0 (10 minutes), urgent at 2 (3 minutes): urgent 2..5, routine resumes with its
    # remaining 8 and ends at 13. The 3 minutes paused are queueing, the 10 worked are service.
    results = simulate(two_class_trace(tmp_path, "preemptive", [(0, "routine"), (2, "urgent")]))
    customers = results.customers().set_index("class", drop=False)
    assert customers.loc["urgent", "end"] == 5 and customers.loc["routine", "end"] == 13
    table = results.customer_attribution()
    routine = customers.loc["routine", "customer"]
    assert table.loc[routine, ("desk", "service")] == pytest.approx(10)
    assert table.loc[routine, ("desk", "queue")] == pytest.approx(3)


def test_staff_finishing_after_their_shift_are_not_preempted_for_new_work(tmp_path):
    # One on duty in [0, 10) and from 50. Routine at 9 (10 minutes) runs past the shift's end to 19;
    # urgent at 12 finds nobody on duty: the staff member finishing the routine job goes home and
    # does not take urgent work, which waits for 50: urgent 50..53.
    model = two_class_trace(tmp_path, "preemptive", [(9, "routine"), (12, "urgent")]).with_changes(
        {"departments.desk.staff": None, "run.day_length": 200,
         "departments.desk.schedule": [{"from": 0, "to": 10, "staff": 1}, {"from": 50, "to": 200, "staff": 1}]})
    customers = simulate(model).customers().set_index("class")
    assert (customers.loc["routine", "end"], customers.loc["urgent", "end"]) == (19, 53)


def test_a_shift_that_shrinks_still_lets_urgent_work_pause_an_on_duty_job(tmp_path):
    # Three on duty until 10, two after; three routine jobs of 50 minutes from 0, so one staff
    # member is only finishing after 10. Urgent at 20 pauses a routine job (two are on duty):
    # urgent 20..23. Three are busy, two on duty, so no new job starts; but the paused routine job
    # was in hand at the shift change, so its staff member finishes it: 23..53 with 30 left (it
    # used to wait for the colleagues, until 50, and end at 80).
    model = two_class_trace(tmp_path, "preemptive", [(0, "routine")] * 3 + [(20, "urgent")]).with_changes(
        {"departments.desk.staff": None, "run.day_length": 200, "run.drain_limit": 200,
         "customers.routine.journey.0.time": {"dist": "fixed", "value": 50},
         "departments.desk.schedule": [{"from": 0, "to": 10, "staff": 3}, {"from": 10, "to": 200, "staff": 2}]})
    customers = simulate(model).customers()
    assert customers.loc[customers["class"] == "urgent", "end"].tolist() == [23]
    assert sorted(customers.loc[customers["class"] == "routine", "end"]) == [50, 50, 53]


def test_a_request_back_in_the_queue_waits_behind_those_already_there():
    # Requests come back to the supplier's queue after a clarification or a rework. A department
    # with interruptions keeps a priority queue (interruptions go first); among equal jobs it must
    # still be first come, first served, so interruptions that never come change nothing at all.
    text = """
name: requeue
run: {horizon: 2000, replications: 3, seed: 4}
departments:
  a: {staff: 10}
  b: {staff: 1, error_rate: 0.2%s}
customers:
  x:
    arrivals: {rate: 0.15}
    journey:
      - serve: a
        time: {dist: fixed, value: 0.1}
        consult: {request: b, time: {dist: exponential, mean: 4}, clarify: {p: 0.3, time: {dist: fixed, value: 1}}}
"""
    never = ", interruptions: {every: {dist: fixed, value: 1000000}, lasts: {dist: fixed, value: 1}}"
    plain, with_never = (simulate(model_from_text(text % extra)) for extra in ("", never))
    assert plain.kpi_table().equals(with_never.kpi_table())
    assert plain.kpis[0]["department.b.reworks"] > 0 and plain.kpis[0]["department.a.clarifications"] > 0


def test_nonpreemptive_priority_jumps_the_queue_but_waits_for_the_job_in_hand(tmp_path):
    # Routine at 0 and 1, urgent at 2: routine 0..10, urgent 10..13, routine 13..23.
    results = simulate(two_class_trace(tmp_path, "priority", [(0, "routine"), (1, "routine"), (2, "urgent")]))
    ends = results.customers().sort_values("arrival")["end"].tolist()
    assert ends == [10, 23, 13]


def interrupted(tmp_path, mode: str) -> Results:
    trace = trace_file(tmp_path, [(8, "walk_in"), (11, "walk_in")])
    return simulate(build(
        {"desk": {"staff": 1, "interruptions": {"every": fixed(10), "lasts": fixed(3), "mode": mode}}},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(5)}]}}))


def test_preempting_interruption_pauses_the_customer(tmp_path):
    # Interruptions at 10, 20, ... lasting 3. Customer at 8 (5 minutes): 8..10, paused 10..13,
    # resumes 13..16; customer at 11 waits for 16, works 16..20, is paused by the interruption of
    # 20 until 23 and ends at 24. Paused minutes are charged as `interrupted`, waits as queue.
    results = interrupted(tmp_path, "preempt")
    customers = results.customers().sort_values("arrival")
    assert customers["end"].tolist() == [16, 24]
    table = results.customer_attribution().loc[customers["customer"]]
    assert table[("desk", "interrupted")].tolist() == pytest.approx([3, 3])
    assert table[("desk", "service")].tolist() == pytest.approx([5, 5])
    assert table[("desk", "queue")].tolist() == pytest.approx([0, 5])
    jobs = results.jobs()
    first = jobs[jobs["kind"] == "interruption"].sort_values("queued").iloc[0]
    assert (first["queued"], first["start"], first["end"]) == (10, 10, 13)


def test_queued_interruption_goes_ahead_of_waiting_customers(tmp_path):
    # Customer at 8: 8..13 undisturbed; the interruption of 10 waits for it: 13..16; the customer
    # of 11 waits behind the interruption: 16..21.
    results = interrupted(tmp_path, "queue")
    assert results.customers().sort_values("arrival")["end"].tolist() == [13, 21]
    jobs = results.jobs()
    first = jobs[jobs["kind"] == "interruption"].sort_values("queued").iloc[0]
    assert (first["queued"], first["start"], first["end"]) == (10, 13, 16)


# --- clarification: one round trip ----------------------------------------------------------------


def test_clarification_round_trip_adds_answer_and_supplier_queue(tmp_path):
    # Two front staff. Customer a at 0, customer b at 1; front step fixed 2, then a request to legal
    # (one staff, fixed 5). a's request reaches legal at 2, is found unclear at once and handed
    # back; a's front staff member answers 2..5 (charged to front as `clarify`). b's request
    # reaches legal at 3 and is worked 3..8, so a's request queues again 5..8 and is worked 8..13.
    # a: 13 = 2 service (front) + 3 clarify (front) + 3 queue (legal) + 5 service (legal).
    trace = trace_file(tmp_path, [(0, "a"), (1, "b")])

    def make(seed: int) -> Model:
        journey = lambda clarify: [{"serve": "front", "time": fixed(2), "consult": {  # noqa: E731
            "request": "legal", "time": fixed(5), **clarify}}]
        return build({"front": {"staff": 2}, "legal": {"staff": 1}},
                     {"a": {"arrivals": {"trace": trace},
                            "journey": journey({"clarify": {"p": 0.5, "time": fixed(3)}})},
                      "b": {"arrivals": {"trace": trace}, "journey": journey({})}}, seed=seed)

    results = first_seed(make, lambda r: r.customers().set_index("class").loc["a", "clarifications"] == 1)
    customers = results.customers().set_index("class")
    assert customers.loc["a", "end"] == 13 and customers.loc["b", "end"] == 8
    row = results.customer_attribution().loc[customers.loc["a", "customer"]]
    assert row[("front", "service")] == pytest.approx(2)
    assert row[("front", "clarify")] == pytest.approx(3)
    assert row[("legal", "queue")] == pytest.approx(3)
    assert row[("legal", "service")] == pytest.approx(5)
    assert row.drop("time_in_system").sum() == pytest.approx(13, rel=1e-12)
    jobs = results.jobs()
    answer = jobs[jobs["kind"] == "answer"]
    assert answer[["department", "queued", "start", "end"]].astype(str).values.tolist() == [["front", "2.0", "2.0", "5.0"]]
    assert results.kpis[0]["department.front.clarifications"] == 1


# --- rework ---------------------------------------------------------------------------------------


def test_rework_to_an_earlier_step_is_charged_to_the_erring_department(tmp_path):
    # One customer at 0: intake (front, fixed 2), then checks (billing, fixed 3, error rate 0.5,
    # defective work goes back to intake). With exactly one error: 0..2, 2..5, redo 5..7, 7..10.
    # The redone 5 minutes (front 2 + billing 3) are billing's rework; front has none.
    trace = trace_file(tmp_path, [(0, "walk_in")])

    def make(seed: int) -> Model:
        return build({"front": {"staff": 1}, "billing": {"staff": 1, "error_rate": 0.5}},
                     {"walk_in": {"arrivals": {"trace": trace}, "journey": [
                         {"serve": "front", "id": "intake", "time": fixed(2)},
                         {"serve": "billing", "time": fixed(3), "rework_to": "intake"}]}}, seed=seed)

    results = first_seed(make, lambda r: r.customers()["reworks"].iloc[0] == 1)
    assert results.customers()["end"].iloc[0] == 10
    row = results.customer_attribution().iloc[0]
    assert row[("front", "service")] == pytest.approx(2)
    assert row[("billing", "service")] == pytest.approx(3)
    assert row[("billing", "rework")] == pytest.approx(5)
    assert row[("front", "rework")] == 0
    assert steps(results, "front")["start"].tolist() == [0, 5]
    assert steps(results, "billing")["start"].tolist() == [2, 7]
    assert results.kpis[0]["department.billing.reworks"] == 1


def test_redo_of_a_step_uses_its_rework_factor(tmp_path):
    # One step (fixed 4, error rate 0.5, redo at half the time): with one error 0..4, redo 4..6.
    trace = trace_file(tmp_path, [(0, "walk_in")])

    def make(seed: int) -> Model:
        return build({"desk": {"staff": 1}},
                     {"walk_in": {"arrivals": {"trace": trace}, "journey": [
                         {"serve": "desk", "time": fixed(4), "error_rate": 0.5, "rework_factor": 0.5}]}}, seed=seed)

    results = first_seed(make, lambda r: r.customers()["reworks"].iloc[0] == 1)
    assert results.customers()["end"].iloc[0] == 6
    row = results.customer_attribution().iloc[0]
    assert (row[("desk", "service")], row[("desk", "rework")]) == pytest.approx((4, 2))


def test_a_step_waiting_for_its_redo_keeps_it_when_an_earlier_step_errs_on_the_way_back(tmp_path):
    # A (1) -> B (1, may err, redone in place) -> C (10, may err, goes back to A, redone in 0.5).
    # Wanted: C errs once, and B errs once on the walk back. C is still owed its short redo:
    # 0..1 A, 1..2 B, 2..12 C (error), 12..13 A, 13..14 B (error), 14..15 B redo, 15..15.5 C.
    trace = trace_file(tmp_path, [(0, "walk_in")])

    def make(seed: int) -> Model:
        return build({"a": {"staff": 1}, "b": {"staff": 1}, "c": {"staff": 1}},
                     {"walk_in": {"arrivals": {"trace": trace}, "journey": [
                         {"serve": "a", "id": "A", "time": fixed(1)},
                         {"serve": "b", "time": fixed(1), "error_rate": 0.5, "rework_time": fixed(1)},
                         {"serve": "c", "time": fixed(10), "error_rate": 0.5, "rework_to": "A",
                          "rework_time": fixed(0.5)}]}}, seed=seed)

    def errors_as_wanted(results: Results) -> bool:  # C errs, then B: B runs three times, C twice
        return len(steps(results, "c")) == 2 and steps(results, "b")["end"].tolist() == [2, 14, 15]

    results = first_seed(make, errors_as_wanted)
    assert steps(results, "c")["end"].tolist() == [12, 15.5]
    assert results.customers()["end"].iloc[0] == 15.5


def test_department_counts_start_after_the_warm_up_and_count_a_redone_request_as_a_visit(tmp_path):
    # Customers at 0 and 50 (warm-up 25): the desk consults checks (fixed 2), which may be unclear
    # (asked back) or defective (redone). Wanted: each customer has one of each. Only the second
    # customer's are counted: at checks 1 rework, 2 visits (the request and its redo), and at the
    # desk 1 question answered and 1 visit.
    trace = trace_file(tmp_path, [(0, "walk_in"), (50, "walk_in")])

    def make(seed: int) -> Model:
        return build({"desk": {"staff": 1}, "checks": {"staff": 1, "error_rate": 0.5}},
                     {"walk_in": {"arrivals": {"trace": trace}, "journey": [
                         {"serve": "desk", "time": fixed(1),
                          "consult": {"request": "checks", "time": fixed(2), "clarify": {"p": 0.5, "time": fixed(1)}}}]}},
                     seed=seed, warmup=25)

    results = first_seed(make, lambda r: r.customers()[["reworks", "clarifications"]].to_numpy().tolist() == [[1, 1], [1, 1]])
    kpis = results.kpis[0]
    assert (kpis["department.checks.reworks"], kpis["department.checks.jobs"]) == (1, 2)
    assert (kpis["department.desk.clarifications"], kpis["department.desk.jobs"]) == (1, 1)
    assert kpis["department.checks.requests"] == 1


def test_rework_back_across_a_branch_takes_the_same_option_again():
    # A, then a branch: half go to C (which errs half the time and goes back to A), half skip it;
    # then Z (100). A customer sent back by C's error has the same case, so passes C again, and C's
    # rework ends there: Z's 100 minutes are never booked as C's rework.
    model = model_from_text("""
name: branch rework
run: {horizon: 5000, replications: 1, seed: 2}
departments: {a: {staff: 100}, c: {staff: 100}, z: {staff: 100}}
customers:
  x:
    arrivals: {rate: 0.05}
    journey:
      - {serve: a, id: A, time: {dist: fixed, value: 1}}
      - branch:
          - {p: 0.5, then: [{serve: c, time: {dist: fixed, value: 1}, error_rate: 0.5, rework_to: A}]}
          - {p: 0.5, then: []}
      - {serve: z, time: {dist: fixed, value: 100}}
""")
    results = simulate(model)
    done = results.customers().query("outcome == 'completed'")["customer"]
    table = results.customer_attribution().loc[done]
    np.testing.assert_allclose(table[("z", "service")], 100, rtol=1e-12)
    assert table[("c", "rework")].max() < 100
    visits_c = steps(results, "c").groupby("customer").size()
    reworked = results.customers().set_index("customer").loc[visits_c.index, "reworks"]
    assert (visits_c == reworked + 1).all() and reworked.sum() > 10


# --- pools, balking, patience, batches --------------------------------------------------------------


def pool_model(tmp_path, rule: str) -> Model:
    # billing and claims, one own staff each, and one pool member. Billing long (10) at 0 and claims
    # (10) at 0 take the own staff; billing short (2) at 1 takes the pool member (1..3); billing
    # long at 1.5 queues at billing (1 waiting); claims at 2 and 2.5 queue at claims (2 waiting).
    # At 3 the pool member is free: longest_queue -> claims (the one of 2: 3..13; then the own
    # staff, free at 10, take billing 1.5 and claims 2.5); ordered -> billing (the one of 1.5:
    # 3..13; claims 2 gets claims' own staff at 10, claims 2.5 the pool member at 13).
    trace = trace_file(tmp_path, [(0, "billing_long"), (0, "claims_case"), (1, "billing_short"),
                                  (1.5, "billing_long"), (2, "claims_case"), (2.5, "claims_case")])
    case = lambda dept, t: {"arrivals": {"trace": trace}, "journey": [{"serve": dept, "time": fixed(t)}]}  # noqa: E731
    return parse_model({"name": "pool", "run": {"horizon": 100, "replications": 1},
                        "departments": {"billing": {"staff": 1}, "claims": {"staff": 1}},
                        "pools": {"flex": {"staff": 1, "serves": ["billing", "claims"], "rule": rule}},
                        "customers": {"billing_long": case("billing", 10), "billing_short": case("billing", 2),
                                      "claims_case": case("claims", 10)}})


@pytest.mark.parametrize("rule, billing_starts, claims_starts", [
    ("longest_queue", [0, 1, 10], [0, 3, 10]),
    ("ordered", [0, 1, 3], [0, 10, 13]),
])
def test_pool_member_goes_where_the_rule_says(tmp_path, rule, billing_starts, claims_starts):
    results = simulate(pool_model(tmp_path, rule))
    assert steps(results, "billing")["start"].tolist() == billing_starts
    assert steps(results, "claims")["start"].tolist() == claims_starts


def test_balking_and_patience_exact(tmp_path):
    # One staff, fixed 10, balk_at 2, patience fixed 3.
    # 0: served 0..10. 1: finds 0 waiting, joins, gives up at 4 after 3 minutes of waiting.
    # 2: finds 1 waiting, joins, gives up at 5. 2.5: finds 2 waiting and balks.
    trace = trace_file(tmp_path, [(0, "walk_in"), (1, "walk_in"), (2, "walk_in"), (2.5, "walk_in")])
    model = build({"desk": {"staff": 1}},
                  {"walk_in": {"arrivals": {"trace": trace}, "balk_at": 2, "patience": fixed(3),
                               "journey": [{"serve": "desk", "time": fixed(10)}]}})
    results = simulate(model)
    customers = results.customers().sort_values("arrival")
    assert customers["outcome"].astype(str).tolist() == ["completed", "abandoned", "abandoned", "balked"]
    assert customers["end"].tolist() == [10, 4, 5, 2.5]
    kpis = results.kpis[0]
    assert (kpis["external.abandoned"], kpis["external.balked"]) == (2, 1)


def test_balking_counts_customers_waiting_not_internal_requests(tmp_path):
    # desk (1 staff) serves x 0..10. Two office customers (1 minute, then a 1-minute request to the
    # desk) queue requests at the desk at 1. Walk-ins with balk_at 2 at 5, 6 and 7 find 0, 1 and
    # 2 customers waiting (the requests are not standing in line): the third balks. The desk then
    # serves in arrival order: the requests 10..11 and 11..12, the walk-ins 12..13 and 13..14.
    trace = trace_file(tmp_path, [(0, "x"), (0, "office"), (0, "office"), (5, "walk_in"), (6, "walk_in"),
                                  (7, "walk_in")])
    model = build({"desk": {"staff": 1}, "back": {"staff": 2}},
                  {"x": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(10)}]},
                   "office": {"arrivals": {"trace": trace}, "journey": [
                       {"serve": "back", "time": fixed(1), "consult": {"request": "desk", "time": fixed(1)}}]},
                   "walk_in": {"arrivals": {"trace": trace}, "balk_at": 2,
                               "journey": [{"serve": "desk", "time": fixed(1)}]}})
    results = simulate(model)
    customers = results.customers()
    walk_ins = customers[customers["class"] == "walk_in"].sort_values("arrival")
    assert walk_ins["outcome"].astype(str).tolist() == ["completed", "completed", "balked"]
    assert walk_ins["end"].tolist() == [13, 14, 7]
    assert steps(results, "desk")["start"].tolist() == [0, 10, 11, 12, 13]


# --- a customer who leaves while held calls its requests off ----------------------------------------


def held_customer(trace: str, request: dict) -> dict:
    """Patience 3 that runs on hold: front works 1 minute, then consults with `request`."""
    return {"arrivals": {"trace": trace}, "patience": fixed(3), "patience_on_hold": True,
            "journey": [{"serve": "front", "time": fixed(1), "consult": request}]}


def test_a_customer_gone_while_held_calls_off_its_requests_in_work_and_held(tmp_path):
    # a (at 0): front 0..1, request to comp 1..2, which consults legal: legal works from 2 (10 minutes).
    # a's patience (3, on hold from 1) runs out at 4: front is freed, comp's request (held since 2)
    # and legal's (in work) are called off at 4. b, at legal from 3, starts at 4, not at 12.
    trace = trace_file(tmp_path, [(0, "a"), (3, "b")])
    model = build({"front": {"staff": 1}, "comp": {"staff": 1}, "legal": {"staff": 1}},
                  {"a": held_customer(trace, {"request": "comp", "time": fixed(1),
                                              "consult": {"request": "legal", "time": fixed(10)}}),
                   "b": {"arrivals": {"trace": trace}, "journey": [{"serve": "legal", "time": fixed(1)}]}},
                  horizon=100, drain=True)
    results = simulate(model)
    jobs = results.jobs().sort_values(["queued", "department"])
    rows = [tuple(r) for r in jobs[["department", "kind", "queued", "start", "end", "held"]].astype(object).to_numpy()]
    assert rows == [("front", "step", 0, 0, 4, 3), ("comp", "called_off", 1, 1, 4, 2),
                    ("legal", "called_off", 2, 2, 4, 0), ("legal", "step", 3, 4, 5, 0)]
    assert results.customers().sort_values("arrival")["outcome"].astype(str).tolist() == ["abandoned", "completed"]
    kpis = results.kpis[0]
    assert (kpis["department.comp.requests"], kpis["department.comp.called_off"]) == (1, 1)
    assert np.isnan(kpis["department.comp.turnaround.mean"])
    departments = results.departments()  # busy: legal 2..5, comp 1..4 (held 2..4), front 0..4
    assert departments.loc[["front", "comp", "legal"], "utilisation"].tolist() == pytest.approx([0.04, 0.03, 0.03])
    assert departments.loc["comp", "held_share"] == pytest.approx(0.02)


def test_a_customer_gone_while_held_takes_its_request_out_of_the_queue_and_drops_its_answer(tmp_path):
    # x keeps comp busy 0..10. a (at 0): front 0..1, request queued at comp from 1; a leaves at 4
    # and the request leaves comp's queue, never started (its start is NaN, shown as -1 below).
    # c (at 20): front 20..21, comp picks the request up at 21
    # and asks back (clarify p 0.99); front answers from 21 (5 minutes), c leaves at 24: the answer
    # is dropped (no answer row, nothing queues at comp again). d at comp from 30 is served at once.
    trace = trace_file(tmp_path, [(0, "x"), (0, "a"), (20, "a"), (30, "x")])

    def make(seed: int) -> Model:
        request = {"request": "comp", "time": fixed(1), "clarify": {"p": 0.99, "time": fixed(5)}}
        return build({"front": {"staff": 1}, "comp": {"staff": 1}},
                     {"x": {"arrivals": {"trace": trace}, "journey": [{"serve": "comp", "time": fixed(10)}]},
                      "a": held_customer(trace, request)}, horizon=100, drain=True, seed=seed)

    results = first_seed(make, lambda r: r.kpis[0]["department.front.clarifications"] == 1)
    jobs = results.jobs().sort_values(["queued", "department"])
    rows = [tuple(r) for r in jobs[["department", "kind", "queued", "start", "end"]].fillna(-1).astype(object).to_numpy()]
    assert rows == [("front", "step", 0, 0, 4), ("comp", "step", 0, 0, 10), ("comp", "called_off", 1, -1, 4),
                    ("front", "step", 20, 20, 24), ("comp", "called_off", 21, 21, 24), ("comp", "step", 30, 30, 40)]
    queue = results.queue_series()
    comp = queue[queue["department"] == "comp"]
    assert comp[["time", "queue_length"]].values.tolist()[:3] == [[0, 0], [1, 1], [4, 0]]
    kpis = results.kpis[0]
    assert (kpis["department.comp.called_off"], kpis["external.abandoned"]) == (2, 2)
    assert kpis["department.comp.utilisation"] == pytest.approx(0.2)  # x's 0..10 and d's 30..40 only


def test_a_customer_gone_while_held_calls_off_a_queued_sibling_before_anyone_could_take_it_up(tmp_path):
    # a (at 0): front 0..1, then two parallel requests to comp (1 staff): 10 minutes (in work from 1)
    # and 1 minute (queued behind it, unclear with p 0.99). a leaves at 4: stopping the first frees comp,
    # which used to take up the queued sibling at once (and ask back: a clarification for a customer
    # gone). Both are called off, the sibling never started.
    trace = trace_file(tmp_path, [(0, "a")])

    def make(seed: int) -> Model:
        return build({"front": {"staff": 1}, "comp": {"staff": 1}},
                     {"a": held_customer(trace, {"parallel": [
                         {"request": "comp", "time": fixed(10)},
                         {"request": "comp", "time": fixed(1), "clarify": {"p": 0.99, "time": fixed(5)}}]})},
                     horizon=100, drain=True, seed=seed)

    results = simulate(make(0))
    jobs = results.jobs().sort_values(["department", "start"])
    rows = [tuple(r) for r in jobs[["department", "kind", "start", "end"]].fillna(-1).astype(object).to_numpy()]
    assert rows == [("front", "step", 0, 4), ("comp", "called_off", 1, 4), ("comp", "called_off", -1, 4)]
    assert results.kpis[0]["department.front.clarifications"] == 0
    assert results.customers()["clarifications"].tolist() == [0]


def test_calling_off_stops_every_request_before_freeing_anyone(tmp_path):
    # a (at 0, patience 3 on hold): front 0..1, then parallel requests to B (preemptive) and A, both
    # in work from 1. u (priority 5, at 2) waits at A; its step consults B first. a leaves at 4: A is
    # freed and starts u, whose request would pause a's request at B, still in work there: back in
    # B's queue, then marked gone, it left B's count of waiting jobs one too high (and the run crashed).
    trace = trace_file(tmp_path, [(0, "a"), (2, "u")])
    model = build({"front": {"staff": 1}, "A": {"staff": 1}, "B": {"staff": 1, "discipline": "preemptive"}},
                  {"a": {**held_customer(trace, {"parallel": [{"request": "B", "time": fixed(10)},
                                                              {"request": "A", "time": fixed(10)}]}),
                         "priority": 0},
                   "u": {"arrivals": {"trace": trace}, "priority": 5,
                         "journey": [{"serve": "A", "time": fixed(1), "consult_at": "start",
                                      "consult": {"request": "B", "time": fixed(1)}}]}},
                  horizon=100, drain=True)
    results = simulate(model)
    jobs = results.jobs().sort_values(["queued", "department"])
    rows = [tuple(r) for r in jobs[["department", "kind", "start", "end"]].astype(object).to_numpy()]
    assert rows == [("front", "step", 0, 4), ("A", "called_off", 1, 4), ("B", "called_off", 1, 4),
                    ("A", "step", 4, 6), ("B", "request", 4, 5)]
    assert results.kpis[0]["department.B.queue_length.mean"] == 0  # u's request waited no time at B


# --- same-time events: ties that must not decide the outcome ---------------------------------------


def test_a_job_ending_as_higher_priority_work_arrives_is_not_paused(tmp_path):
    # routine (0..10) ends at 10, the very moment urgent work arrives: it is not paused with 0 minutes
    # left (to end at 13, after the urgent 10..13).
    results = simulate(two_class_trace(tmp_path, "preemptive", [(0, "routine"), (10, "urgent")]))
    assert results.customers().sort_values("arrival")["end"].tolist() == [10, 13]


def test_a_job_ending_as_an_interruption_arrives_is_not_paused(tmp_path):
    # The step (0..10) ends at 10, when the call (every 10, lasting 5) comes: it is not paused.
    trace = trace_file(tmp_path, [(0, "walk_in")])
    results = simulate(build(
        {"desk": {"staff": 1, "interruptions": {"every": fixed(10), "lasts": fixed(5), "mode": "preempt"}}},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(10)}]}}))
    assert results.customers()["end"].tolist() == [10]
    assert results.customer_attribution().loc[0, ("desk", "interrupted")] == 0


@pytest.mark.parametrize("empty_window", [False, True])
def test_an_interruption_at_a_shift_start_finds_the_shift_on_duty(tmp_path, empty_window):
    # On duty [0, 5) and [15, 60); calls every 5 minutes. The calls at 5 and 10 find nobody and are
    # dropped; the one at 15 finds the shift on duty, whether or not an empty window [14.9, 15) put
    # the shift change on the clock after the call.
    windows = [{"from": 0, "to": 5, "staff": 1}, {"from": 15, "to": 60, "staff": 1}]
    if empty_window:
        windows.insert(1, {"from": 14.9, "to": 15, "staff": 0})
    trace = trace_file(tmp_path, [(50, "walk_in")])
    results = simulate(build(
        {"desk": {"schedule": windows, "interruptions": {"every": fixed(5), "lasts": fixed(1), "mode": "queue"}}},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(1)}]}},
        horizon=60, day_length=60))
    jobs = results.jobs()
    assert jobs[jobs["kind"] == "interruption"]["queued"].tolist() == [15, 20, 25, 30, 35, 40, 45, 50, 55]


def test_staff_changes_due_at_one_instant_are_all_in_before_the_queue_is_served(tmp_path):
    # One on duty until 50, three from 50; an outage takes 2 of them on [50, 60). Five 30-minute jobs
    # queue at 1: 1..31, 31..61, then two start at 60 (when the outage ends), not at 50 between the
    # shift change and the outage (the level 3 held for no time at all), and the last at 61.
    trace = trace_file(tmp_path, [(1, "walk_in")] * 5)
    results = simulate(build(
        {"desk": {"schedule": [{"from": 0, "to": 50, "staff": 1}, {"from": 50, "to": 1440, "staff": 3}],
                  "outages": {"every": fixed(50), "lasts": fixed(10), "staff": 2}}},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(30)}]}},
        horizon=10, drain=True, drain_limit=1000))
    assert sorted(steps(results, "desk")["start"].tolist()) == [1, 31, 60, 60, 61]
    series = results.staff_series()
    assert series[["time", "staff"]].values.tolist()[:3] == [[0, 1], [50, 1], [60, 3]]  # no zero-width 3 at 50


def test_staff_past_their_shift_finish_the_job_a_call_paused(tmp_path):
    # Two staff with a 10-minute job each from 0; an outage takes one off duty at 5 (both finish
    # their job in hand). A call at 7 (1 minute) pauses the second job. At 8 its staff member, past
    # the shift, first finishes that job (8..11), not leaving it to wait for the colleague (10..13).
    trace = trace_file(tmp_path, [(0, "walk_in"), (0, "walk_in")])
    results = simulate(build(
        {"desk": {"staff": 2, "outages": {"every": fixed(5), "lasts": fixed(100), "staff": 1},
                  "interruptions": {"every": fixed(7), "lasts": fixed(1), "mode": "preempt"}}},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(10)}]}},
        horizon=12, drain=True, drain_limit=1000))
    customers = results.customers().sort_values("customer")
    assert customers["end"].tolist() == [10, 11]
    assert results.customer_attribution().loc[1, ("desk", "interrupted")] == 1


def test_a_job_arriving_as_staff_come_on_duty_queues_behind_those_waiting(tmp_path):
    # A and B open at 10. A walk-in waits at B from 5; u waits at A from 6 and consults B first.
    # At 10 A starts u, whose request reaches B before B's own staff change has served B's queue:
    # it must wait behind the walk-in (10..15, then 15..20), not start at once ahead of it.
    trace = trace_file(tmp_path, [(5, "walk_in"), (6, "u")])
    opening = {"schedule": [{"from": 10, "to": 100, "staff": 1}]}
    results = simulate(build(
        {"A": opening, "B": opening},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "B", "time": fixed(5)}]},
         "u": {"arrivals": {"trace": trace}, "journey": [{"serve": "A", "time": fixed(1), "consult_at": "start",
                                                          "consult": {"request": "B", "time": fixed(5)}}]}},
        horizon=100, drain=True, day_length=100))
    at_b = steps(results, "B")
    assert at_b[["kind", "start", "end"]].astype(object).values.tolist() == [["step", 10, 15], ["request", 15, 20]]


def test_a_free_pool_member_takes_the_call_before_anyone_is_paused(tmp_path):
    # desk (1 staff, preempting calls every 50 lasting 3) and a pool of 1 serving it: the customer
    # at 48 (10 minutes) is not paused by the call at 50, which the free pool member takes (50..53).
    trace = trace_file(tmp_path, [(48, "walk_in")])
    model = build(
        {"desk": {"staff": 1, "interruptions": {"every": fixed(50), "lasts": fixed(3), "mode": "preempt"}},
         "other": {"staff": 1}},
        {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(10)}]}}, horizon=100)
    results = simulate(model.with_changes({"pools": {"spare": {"staff": 1, "serves": ["desk", "other"]}}}))
    assert results.customers()["end"].tolist() == [58]
    kpis = results.kpis[0]
    assert kpis["department.desk.interrupted_share"] == 0
    assert kpis["department.desk.pool_busy.mean"] == pytest.approx(3 / 100)


def test_batch_from_a_trace_brings_groups(tmp_path):
    trace = trace_file(tmp_path, [(0, "walk_in"), (7, "walk_in")])
    model = build({"desk": {"staff": 5}},
                  {"walk_in": {"arrivals": {"trace": trace, "batch": fixed(3)},
                               "journey": [{"serve": "desk", "time": fixed(1)}]}})
    arrivals = simulate(model).customers()["arrival"].tolist()
    assert sorted(arrivals) == [0, 0, 0, 7, 7, 7]


def test_every_minute_of_an_exact_run_is_attributed(tmp_path):
    # The clarification case with the answer and re-queue, plus a parallel consult: rows add up.
    trace = trace_file(tmp_path, [(t, "walk_in") for t in np.arange(0, 40, 1.5)])
    model = build({"front": {"staff": 2}, "legal": {"staff": 1}, "it": {"staff": 1}},
                  {"walk_in": {"arrivals": {"trace": trace}, "journey": [
                      {"serve": "front", "time": fixed(1), "consult": {"parallel": [
                          {"request": "legal", "time": fixed(2), "clarify": {"p": 0.3, "time": fixed(1)}},
                          {"request": "it", "time": fixed(3)}]}}]}})
    table = simulate(model).customer_attribution()
    assert np.allclose(table.drop(columns=[("time_in_system", "")]).sum(axis=1), table["time_in_system"], rtol=1e-12)


def test_a_job_nobody_took_up_has_no_start_time(tmp_path):
    # The patience case: 1 and 2 leave the queue unserved; their rows have no start (it read -1, so
    # start - queued came out as minus the arrival time).
    trace = trace_file(tmp_path, [(0, "walk_in"), (1, "walk_in"), (2, "walk_in")])
    results = simulate(build({"desk": {"staff": 1}},
                             {"walk_in": {"arrivals": {"trace": trace}, "patience": fixed(3),
                                          "journey": [{"serve": "desk", "time": fixed(10)}]}}))
    jobs = results.jobs().sort_values("queued")
    assert jobs["start"].isna().tolist() == [False, True, True]
    assert (jobs["start"] - jobs["queued"]).dropna().tolist() == [0]
