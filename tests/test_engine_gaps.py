"""Hand-checked timelines for documented behaviours (docs/engine.md) that a mutation audit found
no test catching: patience used up on hold, the charge for an abandoned hold, arrival streams found
by class name, one clarification answered at a time, and no arrival at the horizon.

As in test_dynamics_exact.py: fixed times and trace arrivals, the timeline worked out in a comment,
exact assertions. Where clarification (random by nature) is involved, the first seed whose draws
give the case is taken, the case is asserted, and the times, which depend only on it, are exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_dynamics_exact import build, first_seed, fixed, trace_file

from chainsim import Model, Results, parse_model, simulate
from chainsim.metrics import attribution_matrix
from chainsim.recorder import KINDS


def job_rows(results: Results, columns: list[str]) -> list[tuple]:
    """The jobs' chosen columns as plain tuples, in the order they were queued (then department, in
    the model's order, then start); a start that never happened (NaN) reads -1."""
    jobs = results.jobs().sort_values(["queued", "department", "start"])
    return [tuple(row) for row in jobs[columns].fillna(-1).astype(object).to_numpy()]


def charged(results: Results, customer: int) -> dict[tuple[str, str], float]:
    """The non-zero (department, kind) minutes recorded for one customer, whatever its outcome
    (customer_attribution() shows completed customers only)."""
    rep = results.records[0]
    minutes = attribution_matrix(rep, np.array([customer]))[0]
    return {(rep.departments[key // len(KINDS)], KINDS[key % len(KINDS)]): float(m)
            for key, m in enumerate(minutes) if m}


def customer_of(results: Results, cls: str) -> dict:
    """The one customer of a class: its row of customers() as a dict."""
    customers = results.customers()
    (row,) = customers[customers["class"] == cls].to_dict("records")
    return row


# --- A. patience runs on hold (patience_on_hold) and what is used there is gone later --------------


def test_minutes_held_use_up_patience_for_a_later_queue(tmp_path: Path) -> None:
    # Patience fixed 10, running on hold. x (at 0) keeps back busy 0..100.
    # a (at 0): front 0..1 (no wait), then held 1..5 while comp works a's request (fixed 4): the hold
    # uses 4 of a's 10 minutes. At 5 a queues at back behind x with 10 - 4 = 6 minutes left and
    # leaves at 5 + 6 = 11 (were the hold not taken off, a would wait 10 and leave at 15).
    # a's minutes: front service 1 + comp service 4 + back queue 6 = 11.
    trace = trace_file(tmp_path, [(0, "x"), (0, "a")])
    model = build({"front": {"staff": 1}, "comp": {"staff": 1}, "back": {"staff": 1}},
                  {"x": {"arrivals": {"trace": trace}, "journey": [{"serve": "back", "time": fixed(100)}]},
                   "a": {"arrivals": {"trace": trace}, "patience": fixed(10), "patience_on_hold": True,
                         "journey": [{"serve": "front", "time": fixed(1),
                                      "consult": {"request": "comp", "time": fixed(4)}},
                                     {"serve": "back", "time": fixed(1)}]}})
    results = simulate(model)
    a = customer_of(results, "a")
    assert (a["outcome"], a["end"]) == ("abandoned", 11)
    assert job_rows(results, ["department", "kind", "queued", "start", "end", "held"]) == [
        ("front", "step", 0, 0, 5, 4), ("back", "step", 0, 0, 100, 0),
        ("comp", "request", 1, 1, 5, 0), ("back", "step", 5, -1, 11, 0)]
    assert charged(results, a["customer"]) == {("front", "service"): 1, ("comp", "service"): 4,
                                                ("back", "queue"): 6}


# --- B. the rest of an abandoned hold is queueing at the supplier waited for ----------------------


@pytest.mark.parametrize("consult, rest", [
    # Sequential: legal 1..3 (its 2 minutes booked as they end), then comp from 3 (fixed 10). a
    # leaves at 4 waiting for comp: the rest, 4 - 1 - 2 = 1, is queueing at comp.
    ([{"request": "legal", "time": fixed(2)}, {"request": "comp", "time": fixed(10)}],
     {("legal", "service"): 2, ("comp", "queue"): 1}),
    # Parallel: legal 1..3 and comp 1..11 at once. The set never completes, so no critical path is
    # booked (legal's 2 minutes neither): the rest, 4 - 1 = 3, is queueing at the set's first
    # request, legal, although legal's answer was already back.
    ({"parallel": [{"request": "legal", "time": fixed(2)}, {"request": "comp", "time": fixed(10)}]},
     {("legal", "queue"): 3}),
], ids=["sequence", "parallel"])
def test_the_rest_of_an_abandoned_hold_is_queueing_at_the_supplier(tmp_path: Path, consult: object,
                                                                   rest: dict[tuple[str, str], float]) -> None:
    # a (at 0, patience 3 running on hold): front 0..1, then held from 1; patience ends at 4. The
    # front desk's own minute is front service; nothing of the hold is the front desk's.
    trace = trace_file(tmp_path, [(0, "a")])
    model = build({"front": {"staff": 1}, "legal": {"staff": 1}, "comp": {"staff": 1}},
                  {"a": {"arrivals": {"trace": trace}, "patience": fixed(3), "patience_on_hold": True,
                         "journey": [{"serve": "front", "time": fixed(1), "consult": consult}]}})
    results = simulate(model)
    a = customer_of(results, "a")
    assert (a["outcome"], a["end"]) == ("abandoned", 4)
    assert charged(results, a["customer"]) == {("front", "service"): 1, **rest}


# --- C. arrival streams are found by class name --------------------------------------------------


def poisson_classes(names: list[str]) -> Model:
    """Classes with Poisson arrivals (rate 0.1 each) in the given order, one quick step each."""
    return parse_model({"name": "streams", "run": {"horizon": 500, "replications": 1, "seed": 5},
                        "departments": {"desk": {"staff": 50}},
                        "customers": {name: {"arrivals": {"rate": 0.1},
                                             "journey": [{"serve": "desk", "time": fixed(1)}]}
                                      for name in names}})


def arrival_times(results: Results) -> dict[str, list[float]]:
    customers = results.customers().sort_values("arrival")
    return {str(name): group["arrival"].tolist() for name, group in customers.groupby("class", observed=True)}


def test_a_class_added_before_the_others_leaves_their_arrival_times_unchanged() -> None:
    # docs/engine.md: the stream `arrivals:<class>` is found by the class's name, so inserting a
    # class (here first, moving the others' positions) leaves the others' arrival times exactly as
    # they were: common random numbers between the two scenarios. About 0.1 x 500 = 50 each.
    before = arrival_times(simulate(poisson_classes(["walk_in", "online"])))
    after = arrival_times(simulate(poisson_classes(["vip", "walk_in", "online"])))
    assert after["walk_in"] == before["walk_in"] and after["online"] == before["online"]
    assert len(before["walk_in"]) > 10 and len(before["online"]) > 10 and len(after["vip"]) > 10
    assert before["walk_in"] != before["online"]  # each class has a stream of its own


# --- D. the holder's staff member answers one question at a time ---------------------------------


def test_two_questions_asked_back_at_once_are_answered_one_after_the_other(tmp_path: Path) -> None:
    # a (at 0): front 0..1, then a parallel consult: legal (fixed 5, answer fixed 3) and it (fixed 2,
    # answer fixed 4), one staff each. Wanted: each asks back once (answers of 3 and 4 minutes).
    # At 1 both suppliers pick their request up and ask back, legal first (sent first). The one
    # front staff member answers legal 1..4, then it 4..8 (not 1..5: one question at a time).
    # legal's request queues again at 4 and is worked 4..9; it's request at 8, worked 8..10.
    # it's request is back last (the critical path): its question waited and was answered 1..8,
    # 7 minutes of front clarify, then 2 of it service; with front's own minute, a ends at 10.
    trace = trace_file(tmp_path, [(0, "a")])

    def make(seed: int) -> Model:
        return build({"front": {"staff": 1}, "legal": {"staff": 1}, "it": {"staff": 1}},
                     {"a": {"arrivals": {"trace": trace}, "journey": [
                         {"serve": "front", "time": fixed(1), "consult": {"parallel": [
                             {"request": "legal", "time": fixed(5), "clarify": {"p": 0.5, "time": fixed(3)}},
                             {"request": "it", "time": fixed(2), "clarify": {"p": 0.5, "time": fixed(4)}}]}}]}},
                     seed=seed)

    def one_question_each(results: Results) -> bool:
        answers = results.jobs().query("kind == 'answer'")
        return sorted((answers["end"] - answers["start"]).tolist()) == [3, 4]

    results = first_seed(make, one_question_each)
    assert job_rows(results, ["department", "kind", "queued", "start", "end"]) == [
        ("front", "step", 0, 0, 10), ("front", "answer", 1, 1, 4), ("front", "answer", 1, 4, 8),
        ("legal", "request", 1, 1, 9), ("it", "request", 1, 1, 10)]
    a = customer_of(results, "a")
    assert (a["outcome"], a["end"], a["clarifications"]) == ("completed", 10, 2)
    assert charged(results, a["customer"]) == {("front", "service"): 1, ("front", "clarify"): 7,
                                                ("it", "service"): 2}


# --- E. no arrival at the horizon --------------------------------------------------------------------


def test_a_trace_arrival_exactly_at_the_horizon_does_not_happen(tmp_path: Path) -> None:
    # Horizon 10; trace times 0, 5 and 10; desk fixed 1. The customers of 0 and 5 are served 0..1
    # and 5..6; the one of 10 would arrive at the horizon, which no arrival reaches: two customers,
    # and with nobody inside at 10 the run stops there.
    trace = trace_file(tmp_path, [(0, "walk_in"), (5, "walk_in"), (10, "walk_in")])
    model = build({"desk": {"staff": 1}},
                  {"walk_in": {"arrivals": {"trace": trace}, "journey": [{"serve": "desk", "time": fixed(1)}]}},
                  horizon=10)
    results = simulate(model)
    customers = results.customers()
    assert customers[["arrival", "end"]].values.tolist() == [[0, 1], [5, 6]]
    assert results.kpis[0]["external.arrived"] == 2
    assert results.records[0].end == 10
