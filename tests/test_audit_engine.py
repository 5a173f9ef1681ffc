"""The engine, the schema and the load estimate on models that once ran with a silently wrong meaning
or ended in a traceback (each regression test says what went wrong before its fix), and conservation
laws that tie the engine's time-weighted totals to its per-job records."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainsim import ModelError, parse_model, simulate
from chainsim import analytic as an
from chainsim.engine import simulate_replication
from chainsim.load import arrival_rate, load_warnings, offered_load
from chainsim.metrics import attribution_matrix, attribution_totals, t_interval
from chainsim.model import MAX_DEPARTMENTS, MAX_PRIORITY
from chainsim.plan import Arrivals
from chainsim.recorder import CALLED_OFF, INTERRUPTED, INTERRUPTION, KINDS, QUEUE, REQUEST, SERVICE, STEP


def exponential(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value}


BASE: dict[str, Any] = {
    "name": "audit",
    "run": {"horizon": 2880, "replications": 1, "seed": 1},
    "departments": {"desk": {"staff": 1}},
    "customers": {"walk_in": {"arrivals": {"rate": 0.01}, "journey": [{"serve": "desk", "time": fixed(1)}]}},
}


def changed(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def refused(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ModelError) as caught:
        parse_model(data)
    return [(p.path, p.message) for p in caught.value.problems]


# --- windows must lie within the day --------------------------------------------------------------


@pytest.mark.parametrize("change, path", [
    (lambda d: d["departments"]["desk"].update(staff=None, schedule=[{"from": 1320, "to": 1560, "staff": 1}]),
     "departments.desk.schedule[0].to"),
    (lambda d: d["customers"]["walk_in"]["arrivals"].update(rate=None, profile=[{"from": 1320, "to": 1560, "rate": 1}]),
     "customers.walk_in.arrivals.profile[0].to"),
    (lambda d: d["customers"]["walk_in"]["arrivals"].update(open=[{"from": 1320, "to": 1560}]),
     "customers.walk_in.arrivals.open[0].to"),
])
def test_a_window_past_midnight_is_refused_with_the_split(change, path):
    # A night shift written {from: 1320, to: 1560} (22:00 to 02:00) ran as 22:00 to midnight only:
    # the day's segments were cut at day_length, so nobody was on duty from 00:00 to 02:00.
    assert refused(changed(change)) == [(path, (
        "ends at 1560, after the day ends (1440 minutes, run.day_length), and the part after it would be "
        "lost: split it at midnight into two windows, from 1320 to 1440 and from 0 to 120, or give a longer "
        "run.day_length"))]


def test_a_window_may_end_at_midnight_and_the_split_night_shift_runs_through_it():
    night = [{"from": 1320, "to": 1440, "staff": 1}, {"from": 0, "to": 120, "staff": 1}]
    model = parse_model(changed(lambda d: d["departments"]["desk"].update(staff=None, schedule=night)))
    record = simulate_replication(model).department_records[0]
    on_duty = dict(zip(record.staff_times.tolist(), record.staff_levels.tolist(), strict=True))
    assert on_duty[0.0] == 1 and on_duty[120.0] == 0 and on_duty[1320.0] == 1 and on_duty[1560.0] == 0


def test_a_window_longer_than_a_day_is_refused():
    (path, message), = refused(changed(lambda d: d["departments"]["desk"].update(
        staff=None, schedule=[{"from": 600, "to": 2100, "staff": 1}])))
    assert path == "departments.desk.schedule[0].to" and "a window lasts one day at most" in message


# --- clock events, priorities, department count ------------------------------------------------------


def test_daily_absence_draws_count_towards_max_events():
    # Absence is drawn once a day with no customer behind it: a day_length of 1e-5 minutes made 10^8
    # events in a 1,000-minute run, which ran for minutes before run.max_events stopped it.
    def tiny_days(d: dict) -> None:
        d["run"].update(horizon=1000, day_length=1e-5, drain=False)
        d["departments"]["desk"]["absence"] = {"p": 0.2}

    (path, message), = refused(changed(tiny_days))
    assert path == "run.day_length" and "absent staff every day" in message and "run.max_events" in message


def test_a_class_priority_is_held_below_the_engines_ranks():
    # Requests of internal_priority high rank 10^6 above their class, interruptions 10^9: a class of
    # priority 2,000,000 silently went ahead of both. Only the order of priorities matters.
    (path, message), = refused(changed(lambda d: d["customers"]["walk_in"].update(priority=2_000_000)))
    assert path == "customers.walk_in.priority" and f"{MAX_PRIORITY}" in message
    assert parse_model(changed(lambda d: d["customers"]["walk_in"].update(priority=-MAX_PRIORITY)))


def test_a_request_asked_to_go_first_goes_ahead_of_the_highest_class(tmp_path: Path):
    # legal: one staff, priority discipline, internal requests first. vip_1 is served 0..10; a's request
    # reaches legal at 2, vip_2 at 3: at 10 the request (class 0, high) goes first, 10..15, vip_2 15..25.
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time,class\n0,vip\n1,a\n3,vip\n")
    model = parse_model({
        "name": "ranks", "run": {"horizon": 100, "replications": 1},
        "departments": {"front": {"staff": 1}, "legal": {"staff": 1, "discipline": "priority",
                                                         "internal_priority": "high"}},
        "customers": {
            "vip": {"priority": MAX_PRIORITY, "arrivals": {"trace": str(trace)},
                    "journey": [{"serve": "legal", "time": fixed(10)}]},
            "a": {"arrivals": {"trace": str(trace)},
                  "journey": [{"serve": "front", "time": fixed(1), "consult": {"request": "legal", "time": fixed(5)}}]},
        }})
    customers = simulate_replication(model).customers
    ends = dict(zip(customers["arrival"].tolist(), customers["end"].tolist(), strict=True))
    assert ends == {0.0: 10.0, 1.0: 15.0, 3.0: 25.0}


def test_more_departments_than_attribution_can_key_are_refused_and_the_most_run():
    # A customer's minutes are keyed by department x kind in 16 bits: a step at the 6,554th
    # department ended the run with "OverflowError: signed short integer is greater than maximum".
    def departments(n: int) -> dict:
        data = copy.deepcopy(BASE)
        data["departments"] = {f"d{i}": {"staff": 1} for i in range(n)}
        data["customers"]["walk_in"]["journey"] = [{"serve": f"d{n - 1}", "time": fixed(1)}]
        return data

    (path, message), = refused(departments(MAX_DEPARTMENTS + 1))
    assert path == "departments" and f"more than the {MAX_DEPARTMENTS:,} a model can hold" in message
    rep = simulate_replication(parse_model(departments(MAX_DEPARTMENTS)))
    assert len(rep.customers["id"]) > 0 and rep.attribution["key"].max() == (MAX_DEPARTMENTS - 1) * len(KINDS) + 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("profile", [
    [{"from": 0, "to": 1e-300, "rate": 1e-300}],  # a day's arrivals underflow to 0: ZeroDivisionError
    [{"from": 0, "to": 10, "rate": 5e-324}],  # days until the next arrival overflow: OverflowError
    [{"from": 0, "to": 10, "rate": 1e-300}, {"from": 20, "to": 30, "rate": 0}],
])
def test_a_vanishing_profile_rate_brings_no_one_instead_of_a_traceback(profile):
    model = parse_model(changed(lambda d: d["customers"]["walk_in"]["arrivals"].update(rate=None, profile=profile)))
    assert len(simulate_replication(model).customers["id"]) == 0


# --- the load estimate -------------------------------------------------------------------------------


def test_trace_times_after_the_horizon_are_no_offered_load(tmp_path: Path):
    # 4 of 8 trace times fall before the horizon of 10: 0.4 customers a minute, 2 minutes each, one
    # staff: 80%. Counting all 8 said 160% and warned of an overload that the run never has.
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time\n1\n2\n3\n4\n50\n60\n70\n80\n")
    model = parse_model({"name": "trace", "run": {"horizon": 10}, "departments": {"desk": {"staff": 1}},
                         "customers": {"c": {"arrivals": {"trace": str(trace)},
                                             "journey": [{"serve": "desk", "time": fixed(2)}]}}})
    assert arrival_rate(model, "c") == pytest.approx(0.4)
    assert offered_load(model)[0].utilisation == pytest.approx(0.8)
    assert len(simulate_replication(model).customers["id"]) == 4
    assert not any("offered load" in w for w in load_warnings(model))


def consulting(x_to_y: bool, y_to_x: bool) -> dict:
    step = lambda at, other, asks: {"serve": at, "time": exponential(3),  # noqa: E731
                                    **({"consult": {"request": other, "time": exponential(2)}} if asks else {})}
    return {"name": "held both ways", "run": {"horizon": 480, "seed": 1},
            "departments": {"x": {"staff": 2}, "y": {"staff": 2}},
            "customers": {"a": {"arrivals": {"rate": 0.2}, "journey": [step("x", "y", x_to_y)]},
                          "b": {"arrivals": {"rate": 0.2}, "journey": [step("y", "x", y_to_x)]}}}


def test_departments_whose_staff_can_hold_each_other_are_warned_about():
    # x's staff hold customers of class a waiting on y, y's hold class b waiting on x: once all four
    # hold a customer, nobody answers. The run reported 5 minutes in system from the 3% of customers
    # served before that, with no word about the other 97%.
    model = parse_model(consulting(True, True))
    warnings = [w for w in load_warnings(model) if "deadlock" in w]
    assert len(warnings) == 1
    assert warnings[0].startswith("departments x, y: every staff member who could answer these requests can be "
                                  "held waiting on another of them (customers.a.journey[0].consult: x waits on y; "
                                  "customers.b.journey[0].consult: y waits on x)")
    customers = simulate_replication(model).customers
    assert (customers["outcome"] == 0).sum() < 0.2 * len(customers["id"])  # the stall the warning is about
    assert not any("deadlock" in w for w in load_warnings(parse_model(consulting(True, False))))


def test_a_pool_that_alone_answers_the_requests_its_members_wait_on_is_warned_about():
    # The specialist has no staff of its own; a cross-trained pool of one serves it and helps the
    # front desk. Once the pool member holds a front-desk customer waiting on the specialist, nobody
    # is left to answer: the front desk's two staff then hold theirs for ever too. Light load (20%
    # at the specialist), so no overload warning said anything.
    data = {"name": "pool ring", "run": {"horizon": 480, "seed": 1},
            "departments": {"front": {"staff": 2}, "specialist": {"staff": 0}},
            "pools": {"cross": {"staff": 1, "serves": ["specialist", "front"]}},
            "customers": {"a": {"arrivals": {"rate": 0.1}, "journey": [
                {"serve": "front", "time": exponential(3), "consult": {"request": "specialist", "time": exponential(2)}}]}}}
    model = parse_model(data)
    warning, = load_warnings(model)
    assert warning.startswith("departments front, specialist and pool cross: ")
    customers = simulate_replication(model).customers
    assert (customers["outcome"] == 0).sum() < 0.5 * len(customers["id"])  # 14 of 56 served, then the stall
    data["departments"]["specialist"]["staff"] = 1  # its own staff member is never held: no ring
    assert load_warnings(parse_model(data)) == []


def test_a_ring_is_found_through_nested_requests_and_branches_and_its_waiting_victims_left_out():
    step = {"serve": "x", "time": fixed(1), "consult": [
        {"request": "w", "time": fixed(1)},
        {"parallel": [{"request": "y", "time": fixed(1), "consult": {"request": "z", "time": fixed(1)}}]}]}
    back = {"branch": [{"p": 1, "then": [{"serve": "z", "time": fixed(1), "consult": {"request": "x", "time": fixed(1)}}]}]}
    victim = {"serve": "v", "time": fixed(1), "consult": {"request": "x", "time": fixed(1)}}  # waits on the ring
    model = parse_model({"name": "ring", "run": {"horizon": 100},
                         "departments": {name: {"staff": 1} for name in "vxyzw"},
                         "customers": {"a": {"arrivals": {"rate": 0.01}, "journey": [step, back, victim]}}})
    warning, = (w for w in load_warnings(model) if "deadlock" in w)
    assert warning.startswith("departments x, y, z: ")
    assert ("(customers.a.journey[0].consult[1].parallel[0]: x waits on y; customers.a.journey[0].consult[1]"
            ".parallel[0].consult: y waits on z; customers.a.journey[1].branch[0].then[0].consult: z waits on x)") in warning


# --- conservation: time-weighted totals against the per-job records -------------------------------


NK = len(KINDS)


def network(**extra) -> dict:
    """Consults (nested, in sequence, at the start), a preemptive department with interruptions,
    internal priority, shifts and a pool; drained to the end, so every customer's minutes are booked.
    (No parallel consult: only its critical path is booked to the customer.)"""
    return {
        "name": "conservation", "run": {"horizon": 2000, "seed": 3, "drain": True, "drain_limit": 10**6},
        "departments": {
            "a": {"staff": 2, "discipline": "preemptive",
                  "interruptions": {"every": exponential(10), "lasts": exponential(2), **extra}},
            "b": {"staff": 1, "discipline": "preemptive", "internal_priority": "high"},
            "c": {"schedule": [{"from": 0, "to": 700, "staff": 2}, {"from": 900, "to": 1440, "staff": 1}]}},
        "pools": {"p": {"staff": 1, "serves": ["a", "b"]}},
        "customers": {
            "hi": {"priority": 2, "arrivals": {"rate": 0.2}, "journey": [
                {"serve": "a", "time": exponential(2), "consult": [
                    {"request": "b", "time": exponential(1), "consult": {"request": "c", "time": exponential(0.5)}},
                    {"request": "c", "time": exponential(0.5)}]}]},
            "lo": {"arrivals": {"rate": 0.3}, "journey": [
                {"serve": "a", "time": exponential(3), "consult_at": "start", "consult": {"request": "c", "time": exponential(1)}},
                {"serve": "b", "time": exponential(1)}]}},
    }


def series_integral(times: np.ndarray, levels: np.ndarray, end: float) -> float:
    return float(np.sum(levels * np.diff(np.append(times, end))))


@pytest.mark.parametrize("mode", ["preempt", "queue"])
def test_queue_and_staff_time_integrals_equal_the_minutes_booked_to_jobs(mode):
    # Little's law as an identity over one run that starts and ends empty: the time-integral of each
    # queue is the sum of every job's time in it, and staff busy time (own and pool) is the service
    # booked to customers plus the time held on suppliers plus the interruptions. Three separate
    # records of the same minutes (the running totals, the queue series, the customers' books and the
    # job rows) must agree to rounding.
    rep = simulate_replication(parse_model(network(mode=mode)))
    assert (rep.customers["outcome"] == 0).all()
    booked = attribution_totals(rep, rep.customers["id"])
    jobs = rep.jobs
    for i, d in enumerate(rep.department_records):
        here = jobs["department"] == i
        interruptions = here & (jobs["kind"] == INTERRUPTION)
        waited = booked[i * NK + QUEUE] + booked[i * NK + INTERRUPTED] + (
            jobs["start"] - jobs["queued"])[interruptions].sum()
        assert d.queue == pytest.approx(series_integral(d.queue_times, d.queue_lengths, rep.end), rel=1e-9)
        assert d.queue == pytest.approx(waited, rel=1e-9, abs=1e-6), d.name
        worked = booked[i * NK + SERVICE] + jobs["held"][here].sum() + (jobs["end"] - jobs["start"])[interruptions].sum()
        assert d.busy + d.pool_busy == pytest.approx(worked, rel=1e-9), d.name
    assert sum(p["busy"] for p in rep.pools.values()) == pytest.approx(
        sum(d.pool_busy for d in rep.department_records), rel=1e-9)


def test_queue_integral_is_the_sum_of_the_recorded_waits_with_abandonment():
    # No preemption or requeue: each step's and request's row holds its one wait (to its start, or
    # to the customer leaving the queue), so the queue integral is the sum of the rows' waits, with
    # customers abandoning in queues and on hold (their requests called off, queued or in work).
    data = {"name": "little", "run": {"horizon": 3000, "seed": 5, "drain": True, "drain_limit": 10**6},
            "departments": {"a": {"staff": 2}, "b": {"staff": 1}},
            "customers": {"w": {"arrivals": {"rate": 0.5}, "patience": exponential(5), "patience_on_hold": True,
                                "journey": [{"serve": "a", "time": exponential(2),
                                             "consult": {"request": "b", "time": exponential(1.5)}}]}}}
    rep = simulate_replication(parse_model(data))
    assert 0.2 < (rep.customers["outcome"] == 1).mean() < 0.8  # many abandon
    jobs = rep.jobs
    called_off = jobs["kind"] == CALLED_OFF
    assert (jobs["start"][called_off] < 0).any() and (jobs["start"][called_off] >= 0).any()
    for i, d in enumerate(rep.department_records):
        rows = (jobs["department"] == i) & np.isin(jobs["kind"], [STEP, REQUEST, CALLED_OFF])
        began = np.where(jobs["start"] >= 0, jobs["start"], jobs["end"])
        assert d.queue == pytest.approx((began - jobs["queued"])[rows].sum(), rel=1e-9), d.name


# --- theory: a pool under preemptive priority ----------------------------------------------------


@pytest.mark.slow
def test_a_pool_member_under_preemptive_priority_is_one_more_server():
    # desk: one own staff member and a pool of one that serves only the desk, preempt-resume, service
    # Exp(1) for both classes. The high class never sees the low one: M/M/2 at 0.6 a minute. Work is
    # conserved and service times are alike, so the mean over both classes is M/M/2's at 1.1 a minute
    # (Kleinrock vol. 2, sec. 3.7): the low class's mean follows, (1.1 W(1.1) - 0.6 W_high) / 0.5.
    data = {"name": "pool preemptive", "run": {"horizon": 30_000, "warmup": 1500, "drain": False},
            "departments": {"desk": {"staff": 1, "discipline": "preemptive"}},
            "pools": {"spare": {"staff": 1, "serves": ["desk"]}},
            "customers": {"high": {"priority": 1, "arrivals": {"rate": 0.6}, "journey": [{"serve": "desk", "time": exponential(1)}]},
                          "low": {"arrivals": {"rate": 0.5}, "journey": [{"serve": "desk", "time": exponential(1)}]}}}
    results = simulate(parse_model(data), replications=20, seed=5, workers=2, keep_records=False)
    high = an.mmc_sojourn(0.6, 1.0, 2)
    low = (1.1 * an.mmc_sojourn(1.1, 1.0, 2) - 0.6 * high) / 0.5
    for kpi, theory in (("class.high.time_in_system.mean", high), ("class.low.time_in_system.mean", low)):
        mean, lo, hi = t_interval(np.array([k[kpi] for k in results.kpis]), level=0.99)
        assert (hi - lo) / 2 <= 0.03 * theory, (kpi, mean, lo, hi)
        assert lo <= theory <= hi, (kpi, theory, mean, lo, hi)


class CountedSegments(list):
    """A day's segments that count how often the arrival walk reads one."""

    reads = 0

    def __getitem__(self, i):
        self.reads += 1
        return super().__getitem__(i)


class Draws:
    """Stands in for the Exp(1) sampler of an arrival stream: hands out the given values."""

    def __init__(self, values: list[float]):
        self.values = iter(values)
        self.draw = self.values.__next__


@pytest.mark.timeout(30)
@pytest.mark.parametrize("need, at", [
    (3e6, (3e6 - 1) * 1440 + 10),  # whole days away: the rest after skipping them all rounds to 0
    (2.5, 2 * 1440 + 5),
    (2.0**41, math.inf),  # more days away than any run lasts
])
def test_an_arrival_many_days_away_is_found_without_walking_each_day(need, at):
    # A profile of one arrival a day (0.1 a minute for 10 minutes). An arrival a whole number of days
    # away left nothing to walk after the skip, so none was skipped: each of the 3 million days was
    # walked one at a time (with rates of 1e-300, for ever).
    segments = CountedSegments([(0.0, 10.0, 0.1), (10.0, 1440.0, 0.0)])
    arrivals = Arrivals(segments, 1440.0, Draws([need]), None)
    assert arrivals.next() == at
    assert segments.reads <= 6


# --- patience runs in every queue a customer's step waits in -----------------------------------


def preempted(tmp_path: Path, patience: float) -> dict:
    """desk: one staff member, preemptive priority. low (service 10) at 0, high (service 10) at 2,
    which sends low back to the queue until 12; then low's step at back, where a blocker arriving
    at 19 holds the one staff member until 29."""
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time,class\n0,low\n2,high\n19,blocker\n")
    arrivals = {"trace": str(trace)}
    return {"name": "preempted", "run": {"horizon": 100, "replications": 1},
            "departments": {"desk": {"staff": 1, "discipline": "preemptive"}, "back": {"staff": 1}},
            "customers": {
                "low": {"arrivals": arrivals, "patience": fixed(patience),
                        "journey": [{"serve": "desk", "time": fixed(10)}, {"serve": "back", "time": fixed(1)}]},
                "high": {"priority": 1, "arrivals": arrivals, "journey": [{"serve": "desk", "time": fixed(10)}]},
                "blocker": {"arrivals": arrivals, "journey": [{"serve": "back", "time": fixed(10)}]}}}


@pytest.mark.parametrize("patience, outcome, end, minutes", [
    (4, 1, 6.0, {("desk", "service"): 2, ("desk", "queue"): 4}),  # gives up at 6, back in the queue
    (11, 1, 21.0, {("desk", "service"): 10, ("desk", "queue"): 10, ("back", "queue"): 1}),  # 1 left for back
    (30, 0, 30.0, {("desk", "service"): 10, ("desk", "queue"): 10, ("back", "queue"): 9, ("back", "service"): 1}),
])
def test_patience_runs_while_a_step_paused_for_higher_priority_waits_in_the_queue(tmp_path, patience, outcome,
                                                                                  end, minutes):
    # The customer's minutes back in the queue were booked as queueing, but patience ("how long a
    # customer waits in queues in total") stood still there: with patience 4, low waited 10 minutes
    # and was served; with 11, it kept all of it for back and waited there 9.
    rep = simulate_replication(parse_model(preempted(tmp_path, patience)))
    low = int(np.flatnonzero(rep.customers["class"] == 0)[0])
    assert rep.customers["outcome"][low] == outcome and rep.customers["end"][low] == end
    booked = attribution_matrix(rep, rep.customers["id"][[low]])[0]
    departments = {"desk": 0, "back": 1}
    expected = np.zeros(len(booked))
    for (department, kind), value in minutes.items():
        expected[departments[department] * NK + KINDS.index(kind)] = value
    assert booked.tolist() == expected.tolist()


def test_a_step_paused_by_an_interruption_keeps_its_patience(tmp_path):
    # An interruption pauses the staff member, who keeps the customer: that is no queue. Service 10
    # from 0, calls at 3, 6, 9 and 12 of 1 minute each: done at 14, never gone with patience 0.5.
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time\n0\n")
    model = parse_model({"name": "calls", "run": {"horizon": 100, "replications": 1},
                         "departments": {"desk": {"staff": 1, "discipline": "preemptive",
                                                  "interruptions": {"every": fixed(3), "lasts": fixed(1)}}},
                         "customers": {"c": {"arrivals": {"trace": str(trace)}, "patience": fixed(0.5),
                                             "journey": [{"serve": "desk", "time": fixed(10)}]}}})
    rep = simulate_replication(model)
    assert rep.customers["outcome"].tolist() == [0] and rep.customers["end"].tolist() == [14.0]


def test_a_run_capped_by_endless_redos_says_which_fields_to_look_at(tmp_path):
    # The message named only the horizon, interruptions and outages; here every event is a redo.
    from chainsim import RunLimitError

    data = changed(lambda d: d["run"].update(max_events=20_000, horizon=100))
    data["customers"]["walk_in"].update(arrivals={"rate": 1}, journey=[
        {"serve": "desk", "id": "first", "time": fixed(0)},
        {"serve": "desk", "time": fixed(0), "error_rate": 0.999, "rework_to": "first"}])
    with pytest.raises(RunLimitError, match="lower an error_rate or clarify p near 1"):
        simulate_replication(parse_model(data))


def test_trace_rows_of_a_misspelt_class_or_of_no_class_are_warned_about(tmp_path: Path):
    # One file for two classes. Rows naming "walkin" (for walk_in) were read by no class and rows
    # with no class by both, silently: 3 customers lost and 1 doubled, no word said.
    trace = tmp_path / "arrivals.csv"
    trace.write_text("time,class\n1,walk_in\n2,walkin\n3,walkin\n4,walkin\n5,phone\n6,\n")
    data = copy.deepcopy(BASE)
    data["customers"] = {name: {"arrivals": {"trace": str(trace)}, "journey": [{"serve": "desk", "time": fixed(1)}]}
                         for name in ("walk_in", "phone")}
    model = parse_model(data)
    assert load_warnings(model) == [
        f"customers.walk_in.arrivals.trace: {trace} names classes that do not read it: 'walkin' on 3 of its rows. "
        "Those rows bring no customers: correct the names (read by walk_in, phone), or give those classes this trace",
        f"customers.walk_in.arrivals.trace: {trace} gives no class on 1 of its rows, so each of the 2 classes reading "
        "it (walk_in, phone) takes them: one customer of each per row. Give each row its class"]
    arrivals = sorted(simulate_replication(model).customers["arrival"].tolist())
    assert arrivals == [1.0, 5.0, 6.0, 6.0]  # what the warnings describe
