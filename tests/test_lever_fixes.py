"""Levers and designs that were accepted and then quietly wrong: costs dropped, changes thrown away, names
cut, fields ignored. Each is now exact, or refused at the field with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import HELLO, assert_no_traceback, chainsim

from chainsim import Experiment, ModelError, Scenario, apply_levers
from chainsim.api import model_from_text
from chainsim.designs import expand

# The hello chain's back office makes errors (8%) and sometimes gets an unclear request (20%).
MODEL = HELLO.replace("back_office: {staff: 1}", "back_office: {staff: 1, error_rate: 0.08}").replace(
    "time: {dist: exponential, mean: 3}}", "time: {dist: lognormal, mean: 3, cv: 1}, clarify: {p: 0.2}}")
LEVER_NAMES = "add_staff, clearer_requests, cross_train, demand_growth, move_staff, patience, shift_pattern, train"


def refused(levers: list[dict]) -> list[str]:
    with pytest.raises(ModelError) as err:
        apply_levers(model_from_text(MODEL), levers)
    return [str(p) for p in err.value.problems]


def experiment(tmp_path: Path, **fields) -> Experiment:
    (tmp_path / "m.yaml").write_text(MODEL)
    return Experiment.from_dict({"name": "x", "model": "m.yaml", "replications": 2, **fields}, folder=tmp_path)


def design_refused(tmp_path: Path, design: dict) -> list[str]:
    with pytest.raises(ModelError) as err:
        experiment(tmp_path, design=design)
    return [str(p) for p in err.value.problems]


# --- 1. a model-path factor's cost_per_unit is the scenario's cost -------------------------------------


def test_a_path_factor_costs_its_change_from_the_model_times_cost_per_unit(tmp_path):
    """The model has 1 in the back office: 'analysts=1' is no change (it cost 100 once paths were costed
    on their whole value, 0 before), 'analysts=3' two hires; a lever factor's value is its change."""
    x = experiment(tmp_path, design={"type": "grid", "factors": {
        "analysts": {"path": "departments.back_office.staff", "values": [1, 3], "cost_per_unit": 100},
        "clerks": {"lever": "add_staff", "department": "front_desk", "vary": "count", "values": [0, -1],
                   "cost_per_unit": 10}}})
    assert {s.name: s.total_cost for s in x.scenarios} == {
        "baseline": 0.0, "analysts=1, clerks=0": 0.0, "analysts=1, clerks=-1": 10.0,
        "analysts=3, clerks=0": 200.0, "analysts=3, clerks=-1": 210.0}


# --- 2. names are never cut ----------------------------------------------------------------------------

LONG = "back_office_answer_time_of_the_walk_in_consultation_at_the_front_desk_"  # 70 characters


def test_long_scenario_and_factor_names_are_printed_whole(tmp_path):
    (tmp_path / "m.yaml").write_text(MODEL)
    (tmp_path / "x.yaml").write_text(
        "name: x\nmodel: m.yaml\nreplications: 2\nkpis: [external.time_in_system.mean, external.queueing.mean]\n"
        "design:\n  type: one_at_a_time\n  factors:\n"
        f"    {LONG}mean: {{path: customers.walk_in.journey.0.consult.time.mean, values: [2, 4]}}\n"
        f"    {LONG}cv: {{path: customers.walk_in.journey.0.consult.time.cv, values: [0.5, 2]}}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name in (f"{LONG}mean=2", f"{LONG}mean=4", f"{LONG}cv=0.5", f"{LONG}cv=2"):
        rows = [i for i, line in enumerate(lines) if line == f"  {name}"]
        assert len(rows) == 2, name  # the primary KPI's table and the other KPI's
        for i in rows:  # the numbers on the next line, under the columns (the scenario column is 71 wide)
            assert lines[i + 1].startswith(" " * 73) and lines[i + 1].strip()[0].isdigit()
    assert any(line.startswith("  baseline ") and line.split()[1][0].isdigit() for line in lines)
    tornado = done.stdout.split("Sensitivity of")[1].split("\n\n")[0].splitlines()[1:]
    assert sorted(line.split()[0] for line in tornado) == [f"{LONG}cv", f"{LONG}mean"]


# --- 3. a shift pattern after a change to the same staffing ---------------------------------------------


@pytest.mark.parametrize("first", [
    {"lever": "add_staff", "department": "back_office", "count": 1, "cost": 50},
    {"lever": "move_staff", "from": "front_desk", "to": "back_office"},
    {"lever": "move_staff", "from": "back_office", "to": "front_desk"},
    {"lever": "shift_pattern", "department": "back_office", "schedule": [{"from": 0, "to": 300, "staff": 1}]},
])
def test_a_shift_pattern_after_a_staff_change_to_that_department_is_refused(first):
    shifts = {"lever": "shift_pattern", "department": "back_office", "schedule": [{"from": 0, "to": 600, "staff": 2}]}
    [problem] = refused([first, shifts])
    assert problem.startswith("levers[1].department: replaces the staffing of 'back_office' that levers[0] "
                              f"({first['lever']}) changed")
    assert "put shift_pattern first" in problem


def test_a_shift_pattern_before_a_hire_still_adds_the_hire():
    model = apply_levers(model_from_text(MODEL), [
        {"lever": "shift_pattern", "department": "back_office", "schedule": [{"from": 0, "to": 600, "staff": 2}]},
        {"lever": "add_staff", "department": "back_office"}])
    assert [(s.start, s.end, s.staff) for s in model.departments["back_office"].schedule] == [(0, 600, 3)]


# --- 4. a lever name or vary that is not text ------------------------------------------------------------


@pytest.mark.parametrize("name", [["add_staff"], {"a": 1}])
def test_a_lever_name_that_is_not_text_is_refused_with_the_names(name, tmp_path):
    [problem] = refused([{"lever": name, "department": "back_office"}])
    assert problem == f"levers[0].lever: give one lever name (got {name!r}); known levers: {LEVER_NAMES}"
    with pytest.raises(ModelError, match=r"scenario 's' levers\[0\].lever: give one lever name \(got"):
        Experiment(model_from_text(MODEL), [Scenario("s", levers=[{"lever": name}])])
    assert design_refused(tmp_path, {"type": "grid", "factors": {"x": {"lever": name, "vary": "count",
                                                                        "values": [1]}}}) == [
        f"design.factors.x.lever: give one lever name (got {name!r}); known levers: {LEVER_NAMES}"]


def test_a_vary_that_is_not_text_is_refused_with_the_fields(tmp_path):
    assert design_refused(tmp_path, {"type": "grid", "factors": {"x": {
        "lever": "add_staff", "department": "back_office", "vary": ["count"], "values": [1]}}}) == [
        "design.factors.x.vary: name the add_staff field this factor varies: one of department, count "
        "(got ['count'])"]


def test_the_cli_refuses_a_lever_name_that_is_not_text_without_a_traceback(tmp_path):
    (tmp_path / "m.yaml").write_text(MODEL)
    (tmp_path / "x.yaml").write_text("name: x\nmodel: m.yaml\nreplications: 2\n"
                                     "scenarios:\n  - {name: s, levers: [{lever: [add_staff], department: it}]}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert "scenario 's' levers[0].lever: give one lever name (got ['add_staff']); known levers: " in done.stderr


# --- 5. a factor that makes a probability 1 or more --------------------------------------------------------


def test_clearer_requests_that_make_a_request_always_unclear_say_the_largest_factor():
    assert refused([{"lever": "clearer_requests", "factor": 5}]) == [
        "levers[0].factor: 5 would make the highest clarify.p 1, and a probability must be below 1: use a factor "
        "below 5 (1 / 0.2)"]
    model = apply_levers(model_from_text(MODEL), [{"lever": "clearer_requests", "factor": 4.5}])
    assert model.customers["walk_in"].journey[0].consult.clarify.p == pytest.approx(0.9)


def test_training_that_makes_every_piece_of_work_wrong_says_the_largest_factor():
    assert refused([{"lever": "train", "department": "back_office", "error_factor": 20}]) == [
        "levers[0].error_factor: 20 would make the highest error rate 1.6, and a probability must be below 1: "
        "use a factor below 12.5 (1 / 0.08)"]


# --- 6. training errors away where there are none ------------------------------------------------------------


def test_training_errors_where_there_are_none_is_refused():
    assert refused([{"lever": "train", "department": "front_desk", "error_factor": 0.5}]) == [
        "levers[0].error_factor: no work of 'front_desk' has errors (its error rates are 0), so error_factor "
        "changes nothing: set departments.front_desk.error_rate with an override instead, or leave error_factor out"]
    # The back office's 8% is overridden by its only work, the request, at 0: training its errors does nothing.
    pinned = model_from_text(MODEL.replace("clarify: {p: 0.2}}", "clarify: {p: 0.2}, error_rate: 0}"))
    with pytest.raises(ModelError, match=r"no work of 'back_office' has errors"):
        apply_levers(pinned, [{"lever": "train", "department": "back_office", "error_factor": 0.5}])
    for fields in ({"time_factor": 0.9}, {"time_factor": 0.9, "error_factor": 1}):
        model = apply_levers(model_from_text(MODEL), [{"lever": "train", "department": "front_desk", **fields}])
        assert model.customers["walk_in"].journey[0].time.mean == pytest.approx(5.4)


# --- 7. small refusals ---------------------------------------------------------------------------------------


def test_a_factor_with_both_a_path_and_a_lever_is_refused(tmp_path):
    assert design_refused(tmp_path, {"type": "grid", "factors": {"x": {
        "path": "departments.back_office.staff", "lever": "add_staff", "department": "back_office",
        "vary": "count", "values": [1]}}}) == [
        "design.factors.x.path: a factor is a model path or a lever's field, not both: remove `path`, or "
        "`lever` and its fields"]


def test_cross_training_a_department_twice_is_refused():
    assert refused([{"lever": "cross_train", "departments": ["back_office", "front_desk", "back_office"]}]) == [
        "levers[0].departments[2]: 'back_office' is listed twice: list each department once, in order of preference"]


def test_a_latin_hypercube_over_staff_without_integer_names_the_factor_and_the_fix(tmp_path):
    assert design_refused(tmp_path, {"type": "latin_hypercube", "samples": 3, "factors": {
        "analysts": {"path": "departments.back_office.staff", "low": 1, "high": 4}}}) == [
        "design.factors.analysts: departments.back_office.staff takes whole numbers, but a Latin hypercube draws "
        "fractions such as 3.057: add `integer: true` to this factor"]
    assert design_refused(tmp_path, {"type": "latin_hypercube", "samples": 3, "factors": {
        "hires": {"lever": "add_staff", "department": "back_office", "vary": "count", "low": 0, "high": 2}}}) == [
        "design.factors.hires: add_staff's count takes whole numbers, but a Latin hypercube draws fractions such "
        "as 1.371: add `integer: true` to this factor"]
    x = experiment(tmp_path, design={"type": "latin_hypercube", "samples": 3, "factors": {
        "analysts": {"path": "departments.back_office.staff", "low": 1, "high": 4, "integer": True},
        "unclear": {"path": "customers.walk_in.journey.0.consult.clarify.p", "low": 0, "high": 0.3}}})
    assert [s.name for s in x.scenarios] == ["baseline", "lhs-1", "lhs-2", "lhs-3"]


@pytest.mark.parametrize("design,problem", [
    ({"type": "grid", "factors": {"a": {"path": "departments.back_office.staff", "low": 1, "high": 3}}},
     "design.factors.a.low: a grid needs `values: [...]` for each factor and ignores a range: give values "
     "instead of low and high (a range is for latin_hypercube and one_at_a_time)"),
    ({"type": "grid", "factors": {"a": {"path": "departments.back_office.staff", "values": [1, 2], "high": 3}}},
     "design.factors.a.high: a grid needs `values: [...]` for each factor and ignores a range: give values "
     "instead of low and high (a range is for latin_hypercube and one_at_a_time)"),
    ({"type": "grid", "samples": 5, "factors": {"departments.back_office.staff": [1, 2]}},
     "design.samples: only a latin_hypercube reads samples, a grid ignores it: remove it"),
    ({"type": "one_at_a_time", "seed": 3, "factors": {"departments.back_office.staff": [1, 2]}},
     "design.seed: only a latin_hypercube reads seed, a one_at_a_time ignores it: remove it"),
    ({"type": "one_at_a_time", "factors": {"a": {"path": "departments.back_office.staff", "values": [1, 3],
                                                 "low": 1, "high": 3}}},
     "design.factors.a.low: one_at_a_time moves a factor to each of its values and ignores a range: give "
     "values, or low and high, not both"),
    ({"type": "latin_hypercube", "factors": {"a": {"path": "departments.back_office.staff", "values": [1, 3],
                                                   "low": 1, "high": 3, "integer": True}}},
     "design.factors.a.values: a Latin hypercube needs a range `low:` and `high:` and ignores values: "
     "give low and high instead of values"),
    ({"type": "grid", "factors": {"a": {"path": "departments.back_office.staff", "values": [1, 2.5],
                                        "integer": True}}},
     "design.factors.a.integer: a factor with listed values ignores integer (it rounds the draws from a range, "
     "low to high): remove `integer`; the values are used as written"),
    ({"type": "one_at_a_time", "factors": {"a": {"path": "departments.back_office.staff", "values": [1, 3],
                                                 "integer": True}}},
     "design.factors.a.integer: a factor with listed values ignores integer (it rounds the draws from a range, "
     "low to high): remove `integer`; the values are used as written"),
    ({"type": "latin_hypercube", "factors": {"a": {"path": "departments.back_office.staff", "values": [1, 3],
                                                   "integer": True}}},
     "design.factors.a.values: a Latin hypercube needs a range `low:` and `high:` and ignores values: "
     "give low and high instead of values"),  # not "remove integer", which it needs
])
def test_a_design_field_the_design_would_ignore_is_refused(tmp_path, design, problem):
    assert design_refused(tmp_path, design) == [problem]
    with pytest.raises(ModelError, match="ignores"):
        expand(design)


def test_demand_growth_past_a_hundred_times_is_refused_at_the_lever():
    """percent: 1e306 was taken (a rate of 1.5e303) and ran ~30 s until run.max_customers stopped it,
    with a message that did not name the lever."""
    assert refused([{"lever": "demand_growth", "percent": 1e306}]) == [
        "levers[0].percent: must be at most 9,900 (got 1e+306): demand 100 times today's is another business; "
        "write its arrival rates instead"]
    grown = apply_levers(model_from_text(MODEL), [{"lever": "demand_growth", "percent": 9_900}])
    assert grown.customers["walk_in"].arrivals.rate == pytest.approx(0.2 * 100)
