"""Bad model files: each problem is reported by its path in the file, with the fix, all at once."""

from __future__ import annotations

import copy
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import chainsim
from chainsim import ModelError
from chainsim.load import load_warnings

ROOT = Path(__file__).resolve().parents[1]

GOOD: dict[str, Any] = {
    "name": "validation",
    "run": {"horizon": 480},
    "departments": {"front_desk": {"staff": 2}, "compliance": {"staff": 1}},
    "customers": {"walk_in": {
        "arrivals": {"rate": 0.1},
        "patience": {"dist": "exponential", "mean": 30},
        "journey": [
            {"serve": "front_desk", "time": {"dist": "exponential", "mean": 5},
             "consult": {"request": "compliance", "time": {"dist": "fixed", "value": 3}}},
            {"branch": [
                {"p": 0.5, "then": [{"serve": "compliance", "time": {"dist": "lognormal", "mean": 2, "cv": 0.5}}]},
                {"p": 0.5, "then": []},
            ]},
        ],
    }},
}
JOURNEY = "customers.walk_in.journey"


def problems(change: Callable[[dict], Any]) -> list[tuple[str, str]]:
    """(path, message) of every problem in GOOD after change(data)."""
    data = copy.deepcopy(GOOD)
    change(data)
    with pytest.raises(ModelError) as caught:
        chainsim.parse_model(data)
    return [(p.path, p.message) for p in caught.value.problems]


def only_problem(change: Callable[[dict], Any]) -> tuple[str, str]:
    found = problems(change)
    assert len(found) == 1, found
    return found[0]


def journey(data: dict) -> list[dict]:
    return data["customers"]["walk_in"]["journey"]


def branch_step(data: dict) -> dict:
    return journey(data)[1]["branch"][0]["then"][0]


def test_the_base_model_is_valid():
    assert chainsim.parse_model(copy.deepcopy(GOOD)).name == "validation"


# --- unknown keys and names ---------------------------------------------------------------------


def test_unknown_key_suggests_the_field():
    def misspell(d):
        d["departments"]["front_desk"] = {"staf": 2}
    found = problems(misspell)
    assert ("departments.front_desk.staf", "unknown field 'staf': did you mean 'staff'?") in found


@pytest.mark.parametrize("where, change, path, suggestion", [
    ("step", lambda d: journey(d)[0].update(tiem=3), f"{JOURNEY}[0].tiem", "time"),
    ("request", lambda d: journey(d)[0]["consult"].update(requets=1), f"{JOURNEY}[0].consult.requets", "request"),
    ("branch step", lambda d: branch_step(d).update(servce=1), f"{JOURNEY}[1].branch[0].then[0].servce", "serve"),
    ("top level", lambda d: d.update(departmens={}), "departmens", "departments"),
])
def test_unknown_key_path_has_no_union_tags(where, change, path, suggestion):
    assert only_problem(change) == (path, f"unknown field {path.rsplit('.', 1)[-1]!r}: did you mean {suggestion!r}?")


def test_key_that_belongs_to_another_distribution_is_explained():
    path, message = only_problem(lambda d: journey(d)[0]["time"].update(cv=1))
    assert path == f"{JOURNEY}[0].time.cv"
    assert "did you mean 'cv'" not in message


def test_unknown_department_in_a_step_suggests_the_name():
    path, message = only_problem(lambda d: journey(d)[0].update(serve="frontdesk"))
    assert path == f"{JOURNEY}[0].serve"
    assert message == "unknown department 'frontdesk': did you mean 'front_desk'?"


def test_unknown_department_without_a_close_name_lists_the_known_ones():
    path, message = only_problem(lambda d: journey(d)[0]["consult"].update(request="legal"))
    assert path == f"{JOURNEY}[0].consult.request"
    assert message == "unknown department 'legal': known departments: compliance, front_desk"


def test_every_bad_reference_is_listed_at_once():
    def two_bad(d):
        journey(d)[0]["serve"] = "frontdesk"
        journey(d)[0]["consult"]["request"] = "complianse"
        branch_step(d)["serve"] = "it"
    found = problems(two_bad)
    assert [path for path, _ in found] == [
        f"{JOURNEY}[0].serve", f"{JOURNEY}[0].consult.request", f"{JOURNEY}[1].branch[0].then[0].serve"]
    assert "did you mean 'compliance'?" in found[1][1]


def test_field_errors_in_different_places_are_listed_at_once():
    def three_bad(d):
        d["departments"]["front_desk"]["staf"] = 1
        journey(d)[0]["time"]["mean"] = -1
        d["run"]["horizon"] = 0
    paths = {path for path, _ in problems(three_bad)}
    assert paths == {"departments.front_desk.staf", f"{JOURNEY}[0].time.mean", "run.horizon"}


def test_field_errors_and_bad_references_are_listed_together():
    def both(d):
        d["departments"]["front_desk"]["staf"] = 1
        journey(d)[0]["consult"]["request"] = "complianse"
    paths = {path for path, _ in problems(both)}
    assert paths == {"departments.front_desk.staf", f"{JOURNEY}[0].consult.request"}


def test_references_inside_consult_lists_and_parallel_sets():
    def bad(d):
        journey(d)[0]["consult"] = [
            {"request": "x", "time": {"dist": "fixed", "value": 1}},
            {"parallel": [{"request": "y", "time": {"dist": "fixed", "value": 1}}]},
        ]
    assert [path for path, _ in problems(bad)] == [
        f"{JOURNEY}[0].consult[0].request", f"{JOURNEY}[0].consult[1].parallel[0].request"]


# --- missing fields -------------------------------------------------------------------------------


@pytest.mark.parametrize("change, path", [
    (lambda d: d.pop("run"), "run"),
    (lambda d: d["run"].pop("horizon"), "run.horizon"),
    (lambda d: journey(d)[0].pop("time"), f"{JOURNEY}[0].time"),
    (lambda d: journey(d)[0]["consult"].pop("request"), f"{JOURNEY}[0].consult.request"),
    (lambda d: journey(d)[1]["branch"][0].pop("then"), f"{JOURNEY}[1].branch[0].then"),
])
def test_missing_required_field(change, path):
    assert only_problem(change) == (path, "required field is missing: add it")


def test_department_without_staff_or_schedule():
    assert only_problem(lambda d: d["departments"]["compliance"].pop("staff")) == (
        "departments.compliance", "give `staff` (a count) or a `schedule` of shifts")


# --- numbers out of range -----------------------------------------------------------------------


@pytest.mark.parametrize("mean", [0, -1])
def test_non_positive_mean(mean):
    path, message = only_problem(lambda d: journey(d)[0]["time"].update(mean=mean))
    assert path == f"{JOURNEY}[0].time.mean"
    assert message.startswith(f"mean must be > 0 (got {mean})")
    assert "use dist: fixed, value: 0" in message


@pytest.mark.parametrize("where, change, path", [
    ("consult", lambda d: journey(d)[0]["consult"].update(time={"dist": "exponential", "mean": 0}),
     f"{JOURNEY}[0].consult.time.mean"),
    ("branch", lambda d: branch_step(d)["time"].update(mean=-2), f"{JOURNEY}[1].branch[0].then[0].time.mean"),
    ("patience", lambda d: d["customers"]["walk_in"]["patience"].update(mean=-3), "customers.walk_in.patience.mean"),
    ("interruptions", lambda d: d["departments"]["compliance"].update(interruptions={
        "every": {"dist": "exponential", "mean": 0}, "lasts": {"dist": "fixed", "value": 1}}),
     "departments.compliance.interruptions.every.mean"),
])
def test_non_positive_mean_anywhere_has_a_clean_path(where, change, path):
    assert only_problem(change)[0] == path


def test_non_positive_arrival_rate():
    path, message = only_problem(lambda d: d["customers"]["walk_in"]["arrivals"].update(rate=0))
    assert path == "customers.walk_in.arrivals.rate"
    assert "greater than 0" in message


@pytest.mark.parametrize("change, path, bound", [
    (lambda d: journey(d)[1]["branch"][0].update(p=-0.1), f"{JOURNEY}[1].branch[0].p", "greater than or equal to 0"),
    (lambda d: journey(d)[1]["branch"][0].update(p=1.2), f"{JOURNEY}[1].branch[0].p", "less than or equal to 1"),
    (lambda d: d["departments"]["compliance"].update(error_rate=1.5), "departments.compliance.error_rate",
     "less than 1"),
    (lambda d: journey(d)[0]["consult"].update(clarify={"p": 2}), f"{JOURNEY}[0].consult.clarify.p", "less than 1"),
    (lambda d: d["departments"]["compliance"].update(absence={"p": -0.2}), "departments.compliance.absence.p",
     "greater than or equal to 0"),
])
def test_probability_outside_zero_one(change, path, bound):
    found = problems(change)
    # A p out of range also breaks the sum of its branch: the range problem must be among them.
    assert any(p == path and bound in m for p, m in found), found


@pytest.mark.parametrize("change, path, field", [
    # The path ends at the field; in a distribution (whose `dist` pydantic lets no field validator
    # see) the path ends at the distribution and the message names the field.
    (lambda d: d["departments"]["compliance"].update(staff=True), "departments.compliance.staff", ""),
    (lambda d: d["run"].update(horizon=True), "run.horizon", ""),
    (lambda d: d["run"].update(seed=False), "run.seed", ""),
    (lambda d: journey(d)[1]["branch"][0].update(p=True), f"{JOURNEY}[1].branch[0].p", ""),
    (lambda d: journey(d)[0].update(time={"dist": "exponential", "mean": True}), f"{JOURNEY}[0].time", "mean "),
    (lambda d: journey(d)[0].update(time={"dist": "empirical", "values": [1, True]}), f"{JOURNEY}[0].time", "values "),
])
def test_yes_no_on_off_are_not_taken_as_numbers(change, path, field):
    # YAML reads `staff: yes` as true; pydantic alone would take it as 1 person.
    found = problems(change)
    assert any(p == path and re.match(f"{field}must be a number, not (true|false) ", m) for p, m in found), found


def test_branch_probabilities_must_sum_to_one():
    assert only_problem(lambda d: journey(d)[1]["branch"][0].update(p=0.6)) == (
        f"{JOURNEY}[1]", "branch probabilities sum to 1.1, not 1: adjust the p values")


def test_a_branch_sum_just_off_one_shows_the_digits_that_make_it_so():
    """`sum to 1, not 1`: three thirds rounded up were printed with six digits."""
    thirds = [{"p": 0.3333334, "then": []}, {"p": 0.3333334, "then": []}, {"p": 0.3333333, "then": []}]
    assert only_problem(lambda d: journey(d)[1].update(branch=thirds)) == (
        f"{JOURNEY}[1]", "branch probabilities sum to 1.0000001, not 1: adjust the p values")


@pytest.mark.parametrize("change, path", [
    # At a horizon of 1e16 a service of 5 came out as 4.95; at 1e20 as 0. Revenue of 1e308 summed to inf.
    (lambda d: d["run"].update(horizon=1e20), "run.horizon"),
    (lambda d: d["run"].update(drain_limit=1e13), "run.drain_limit"),
    (lambda d: d["customers"]["walk_in"].update(value=1e308), "customers.walk_in.value"),
    (lambda d: d["customers"]["walk_in"].update(sla=1e13), "customers.walk_in.sla"),
])
def test_times_and_values_beyond_what_floating_point_holds_are_refused(change, path):
    where, message = only_problem(change)
    assert where == path and message.startswith("input should be less than or equal to 1000000000000 (got ")


def test_nested_branch_sum_points_at_the_inner_branch():
    path, message = only_problem(
        lambda d: journey(d)[1]["branch"][0]["then"].append({"branch": [{"p": 0.3, "then": []}]}))
    assert path == f"{JOURNEY}[1].branch[0].then[1]"
    assert "sum to 0.3" in message


def test_zero_staff_where_work_arrives():
    path, message = only_problem(lambda d: d["departments"]["compliance"].update(staff=0))
    assert path == "departments.compliance.staff"
    assert message == ("'compliance' receives work (customers.walk_in.journey[0].consult) but has no staff: "
                       "give it staff >= 1 or a schedule with staff")


def test_zero_staff_where_no_work_arrives_is_fine():
    data = copy.deepcopy(GOOD)
    data["departments"]["archive"] = {"staff": 0}
    assert chainsim.parse_model(data).departments["archive"].staff == 0


# --- distributions ------------------------------------------------------------------------------


@pytest.mark.parametrize("time, path_tail, expected", [
    ({"dist": "uniform", "low": 5, "high": 2}, "", "high must be > low (got low=5, high=2): swap them"),
    ({"dist": "triangular", "low": 1, "mode": 9, "high": 5}, "", "mode must lie within [low, high]"),
    ({"dist": "lognormal", "mean": 2, "cv": -1}, ".cv", "cv must be >= 1e-06 (got -1)"),
    ({"dist": "erlang", "mean": 3, "k": 0}, ".k", "k must be >= 1 (got 0)"),
    ({"dist": "fixed", "value": -2}, ".value", "value must be >= 0 (got -2): times cannot be negative"),
    ({"dist": "empirical", "values": [1, -2]}, ".values[1]", "values must be >= 0 (got -2)"),
    ({"dist": "exponential", "mean": float("nan")}, ".mean", "mean must be a finite number (got nan)"),
    # beyond these, means and variances overflow floating point (a traceback, or -inf results)
    ({"dist": "lognormal", "mean": 2, "cv": 1e200}, ".cv", "cv must be <= 1000 (got 1e+200)"),
    ({"dist": "gamma", "mean": 2, "cv": 1e-200}, ".cv", "cv must be >= 1e-06 (got 1e-200)"),
    ({"dist": "triangular", "low": 0, "mode": 1, "high": 1e308}, ".high", "high must be <= 1e+12 (got 1e+308)"),
])
def test_impossible_distribution_parameters(time, path_tail, expected):
    path, message = only_problem(lambda d: journey(d)[0].update(time=time))
    assert path == f"{JOURNEY}[0].time{path_tail}"
    assert message.startswith(expected), message


def test_unknown_distribution_name():
    path, message = only_problem(lambda d: journey(d)[0].update(time={"dist": "expo", "mean": 5}))
    assert path == f"{JOURNEY}[0].time"
    assert message.startswith("unknown distribution: use one of exponential, fixed")


def test_distribution_without_dist():
    path, message = only_problem(lambda d: journey(d)[0].update(time={"mean": 5}))
    assert path == f"{JOURNEY}[0].time"
    assert message.startswith("missing `dist`: write e.g. {dist: exponential, mean: 5}")


def test_plain_number_as_a_time_says_how_to_write_one():
    path, message = only_problem(lambda d: journey(d)[0].update(time=5))
    assert path == f"{JOURNEY}[0].time"
    assert "dist" in message


def test_step_of_unknown_kind():
    path, message = only_problem(lambda d: journey(d).append({"serv": "front_desk"}))
    assert path == f"{JOURNEY}[2]"
    assert message == "a step starts with `serve: <department>` or `branch:`"


def test_consult_of_unknown_shape():
    path, message = only_problem(lambda d: journey(d)[0].update(consult=5))
    assert path == f"{JOURNEY}[0].consult"
    assert message.startswith("a consult is a request {request: ...}")


# --- the file itself: YAML syntax, duplicates, encoding, shape ----------------------------------


def text_problems(text: str | bytes) -> list[tuple[str, str]]:
    with pytest.raises(ModelError) as caught:
        chainsim.model_from_text(text, source="bank.yaml")
    return [(p.path, p.message) for p in caught.value.problems]


def test_yaml_syntax_error_names_line_and_column():
    [(path, message)] = text_problems("name: x\nrun: {horizon: 10\ndepartments: {}\n")
    assert path == "bank.yaml (line 3, column 12)"
    assert message.endswith("fix the YAML syntax")


def test_tab_indentation_is_a_syntax_error():
    [(path, message)] = text_problems("name: x\n\trun: 5\n")
    assert path == "bank.yaml (line 2, column 1)"
    assert "'\\t'" in message


@pytest.mark.parametrize("text, line, key", [
    ("name: x\nname: y\n", 2, "name"),
    ("name: x\nrun: {horizon: 10, horizon: 5}\n", 2, "horizon"),
])
def test_duplicate_keys_are_refused(text, line, key):
    [(path, message)] = text_problems(text)
    assert path.startswith(f"bank.yaml (line {line},")
    assert message.startswith(f"duplicate key {key!r}: keep one")


def test_non_utf8_bytes():
    assert text_problems(b"name: caf\xe9\n") == [("bank.yaml", "not UTF-8 text (byte 9): save the file as UTF-8")]


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("hello\n", "str")])
def test_file_that_is_not_a_mapping(text, kind):
    [(path, message)] = text_problems(text)
    assert path == "(top level)"
    assert message == f"bank.yaml must be a mapping with name, run, departments and customers (got {kind})"


def test_an_experiment_file_given_as_a_model_says_which_command_runs_it():
    path = Path(__file__).resolve().parents[1] / "experiments" / "one_more_hire.yaml"
    with pytest.raises(ModelError) as refused:
        chainsim.load_model(path)
    [problem] = refused.value.problems
    assert problem.path == "(top level)"
    assert problem.message.startswith(f"{path} is an experiment file") and f"chainsim experiment {path}" in problem.message


def test_yaml_aliases_are_refused():
    [(_, message)] = text_problems("a: &x 1\nb: *x\n")
    assert message.startswith("anchors and aliases (*name) are not allowed")


def test_load_model_from_a_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\n\xff\xfe\n")
    with pytest.raises(ModelError) as caught:
        chainsim.load_model(bad)
    assert caught.value.problems[0].path == str(bad)
    with pytest.raises(ModelError) as caught:
        chainsim.load_model(tmp_path / "missing.yaml")
    assert caught.value.problems[0].message == "file not found: check the path"


def test_error_text_lists_one_problem_a_line():
    def two_bad(d):
        journey(d)[0]["serve"] = "frontdesk"
        journey(d)[0]["consult"]["request"] = "complianse"
    data = copy.deepcopy(GOOD)
    two_bad(data)
    with pytest.raises(ModelError) as caught:
        chainsim.parse_model(data)
    assert str(caught.value).splitlines() == [
        f"{JOURNEY}[0].serve: unknown department 'frontdesk': did you mean 'front_desk'?",
        f"{JOURNEY}[0].consult.request: unknown department 'complianse': did you mean 'compliance'?",
    ]


def test_changes_are_validated_too():
    model = chainsim.parse_model(copy.deepcopy(GOOD))
    with pytest.raises(ModelError) as caught:
        model.with_changes({"departments.compliance.staff": 0})
    assert caught.value.problems[0].path == "departments.compliance.staff"
    with pytest.raises(ModelError) as caught:
        model.with_changes({"departments.legal.staff": 1})
    assert "no 'legal' under departments" in caught.value.problems[0].message


# --- load warning ---------------------------------------------------------------------------------


def test_overloaded_department_is_warned_about():
    # 0.5 customers a minute, each holding a front-desk member 5 + 3 minutes: 4 staff busy on
    # average; compliance gets 0.5 * 3 + 0.25 * 2 = 2 staff-minutes a minute with 1 on duty.
    data = copy.deepcopy(GOOD)
    data["customers"]["walk_in"]["arrivals"]["rate"] = 0.5
    warnings = load_warnings(chainsim.parse_model(data))
    assert len(warnings) == 2
    front, compliance = warnings
    assert front.startswith("departments.front_desk: offered load 4.00 staff on average vs 2.00 on duty "
                            "(utilisation 200%)")
    assert compliance.startswith("departments.compliance: offered load 2.00 staff on average vs 1.00 on duty")
    assert "add staff" in compliance


def test_model_within_capacity_has_no_warning():
    assert load_warnings(chainsim.parse_model(copy.deepcopy(GOOD))) == []


@pytest.mark.parametrize("fields, remove, field", [
    ({"churn_if_late": 0.3}, ("sla", "expectation"), "churn_if_late"),
    ({"patience_on_hold": True}, ("patience",), "patience_on_hold"),
])
def test_a_setting_that_can_never_act_is_warned_about(fields, remove, field):
    data = copy.deepcopy(GOOD)
    walk_in = data["customers"]["walk_in"]
    for key in remove:
        walk_in.pop(key, None)
    plain = chainsim.parse_model(data)
    assert load_warnings(plain) == []  # the defaults say nothing,
    assert load_warnings(plain.with_changes({"departments.front_desk.staff": 3})) == []  # nor once all are set
    walk_in.update(fields)
    [warning] = load_warnings(chainsim.parse_model(data))
    assert warning.startswith(f"customers.walk_in.{field}: ") and f"drop {field}" in warning


# --- models that could never finish, or deadlock ----------------------------------------------


@pytest.mark.parametrize("target", [[], {}, 3])
def test_a_rework_to_that_is_not_text_is_a_field_error_not_a_type_error(target):
    # found by the long fuzz run: the reference check looked a list up in a set (unhashable)
    path, message = only_problem(lambda d: journey(d)[0].update(rework_to=target))
    assert path == f"{JOURNEY}[0].rework_to" and message == f"must be text (got {target!r})"


def test_a_department_consulting_itself_would_deadlock():
    path, message = only_problem(lambda d: journey(d)[0]["consult"].update(request="front_desk"))
    assert path == f"{JOURNEY}[0].consult.request"
    assert message.startswith("'front_desk' already has a staff member held waiting on this request")


def test_a_consult_cycle_through_a_nested_request_would_deadlock():
    nested = {"request": "front_desk", "time": {"dist": "fixed", "value": 1}}
    path, message = only_problem(lambda d: journey(d)[0]["consult"].update(consult=nested))
    assert path == f"{JOURNEY}[0].consult.consult.request"
    assert "deadlock" in message


def test_step_ids_are_unique_in_a_journey():
    def twice(d: dict) -> None:
        journey(d)[0]["id"] = "desk"
        branch_step(d)["id"] = "desk"
    assert only_problem(twice) == (f"{JOURNEY}[1].branch[0].then[0].id",
                                   f"id 'desk' is already used by {JOURNEY}[0]: give each step its own id")


@pytest.mark.parametrize("change, path", [
    (lambda d: d["customers"]["walk_in"]["arrivals"].update(open=[{"from": 2000, "to": 2100}]),
     "customers.walk_in.arrivals.open[0].from"),
    (lambda d: d["departments"]["compliance"].update(staff=None, schedule=[{"from": 0, "to": 600, "staff": 1},
                                                                           {"from": 1500, "to": 1600, "staff": 2}]),
     "departments.compliance.schedule[1].from"),
])
def test_a_window_starting_after_the_day_ends_is_refused(change, path):
    found, message = only_problem(change)
    assert found == path
    assert message.startswith("starts at ") and "after the day ends (1440 minutes" in message


@pytest.mark.parametrize("change, path, words", [
    (lambda d: d["departments"]["compliance"].update(
        interruptions={"every": {"dist": "fixed", "value": 1e-9}, "lasts": {"dist": "fixed", "value": 1}}),
     "departments.compliance.interruptions.every", "more than the 2,000,000 jobs a replication can hold"),
    (lambda d: d["departments"]["compliance"].update(
        outages={"every": {"dist": "fixed", "value": 1e-6}, "lasts": {"dist": "fixed", "value": 0}}),
     "departments.compliance.outages.every", "more than run.max_events"),
    (lambda d: (d["run"].update(day_length=1e-6),
                d["departments"]["compliance"].update(staff=None, schedule=[{"from": 0, "to": 1e-7, "staff": 1}])),
     "run.day_length", "more than run.max_events"),
])
def test_clock_events_that_would_swamp_a_run_are_refused_before_it_starts(change, path, words):
    # Interruptions, outages and shift changes come with no customer, so no customer cap stops
    # them: a gap written in the wrong unit once ran for minutes, or filled 23 GB, before failing.
    found, message = only_problem(change)
    assert found == path
    assert words in message


def test_every_department_with_too_many_interruptions_is_named_at_once():
    data = copy.deepcopy(GOOD)
    for name in ("front_desk", "compliance"):
        data["departments"][name]["interruptions"] = {"every": {"dist": "fixed", "value": 1e-9},
                                                      "lasts": {"dist": "fixed", "value": 1}}
    with pytest.raises(ModelError) as refused:
        chainsim.parse_model(data)
    assert [p.path for p in refused.value.problems] == [f"departments.{name}.interruptions.every"
                                                        for name in ("front_desk", "compliance")]


def test_raising_max_events_lets_a_busy_clock_run():
    data = copy.deepcopy(GOOD)
    data["departments"]["compliance"]["outages"] = {"every": {"dist": "fixed", "value": 1e-5},
                                                    "lasts": {"dist": "fixed", "value": 1e-5}}
    with pytest.raises(ModelError):
        chainsim.parse_model(data)
    data["run"]["max_events"] = 10**9
    assert chainsim.parse_model(data).run.max_events == 10**9


def test_a_newer_schema_version_is_refused():
    assert only_problem(lambda d: d.update(schema_version=2)) == (
        "schema_version", "this chainsim reads schema_version 1 (got 2): write 1, or use the chainsim version "
                          "the file was written for")


# --- the Python API's own arguments -----------------------------------------------------------


@pytest.mark.parametrize("arguments, name", [
    ({"replications": "abc"}, "replications"), ({"replications": float("nan")}, "replications"),
    ({"replications": 2.7}, "replications"), ({"replications": 0}, "replications"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": float("inf")}, "seed"),
    ({"workers": -1}, "workers"), ({"workers": "a"}, "workers"), ({"workers": True}, "workers"),
])
def test_simulate_arguments_are_checked_by_name(arguments, name):
    with pytest.raises(ModelError) as caught:
        chainsim.simulate(chainsim.parse_model(GOOD), **arguments)
    [problem] = caught.value.problems
    assert problem.path == name and problem.message.startswith("must be a whole number from")


def test_simulate_takes_a_model_as_a_mapping_and_refuses_what_is_not_a_model():
    assert chainsim.simulate(copy.deepcopy(GOOD), replications=2.0, seed=3.0).seed == 3
    for wrong in (None, 3):
        with pytest.raises(ModelError) as caught:
            chainsim.simulate(wrong)
        assert caught.value.problems[0].path == "model"


NO_TIMES = ("{trace} has no arrival times for class 'walk_in' (its `class` column names other classes, or it is "
            "empty): this class brings no customers")


@pytest.mark.parametrize("rows, expected", [
    ("time\n", [NO_TIMES]),
    ("time,class\n1,other\n2,other\n", [
        "{trace} names classes that do not read it: 'other' on 2 of its rows. Those rows bring no customers: correct "
        "the names (read by walk_in), or give those classes this trace", NO_TIMES]),
    ("time\n10\n500\n600\n", ["2 of 3 arrival times are at or after run.horizon (480) and are left out: lengthen "
                               "run.horizon to include them"]),
])
def test_a_trace_that_brings_fewer_customers_than_it_seems_is_warned_about(tmp_path: Path, rows, expected):
    trace = tmp_path / "arrivals.csv"
    trace.write_text(rows)
    data = copy.deepcopy(GOOD)
    data["customers"]["walk_in"]["arrivals"] = {"trace": str(trace)}
    warnings = load_warnings(chainsim.parse_model(data))
    assert warnings == [f"customers.walk_in.arrivals.trace: {w.format(trace=trace)}" for w in expected]


def test_a_step_with_both_serve_and_branch_says_to_pick_one():
    path, message = only_problem(lambda d: journey(d)[1].update(serve="front_desk"))
    assert (path, message) == (f"{JOURNEY}[1]", "a step starts with `serve: <department>` or `branch:`")


def test_a_branch_probability_that_is_not_a_number_says_so():
    path, message = only_problem(lambda d: journey(d)[1]["branch"][0].update(p=float("nan")))
    assert path == f"{JOURNEY}[1].branch[0].p"
    assert message.startswith("must be a finite number (got nan)")


def test_a_folder_given_as_a_model_is_called_a_folder(tmp_path: Path):
    with pytest.raises(ModelError) as caught:
        chainsim.load_model(tmp_path)
    assert caught.value.problems[0].message.startswith("is a folder: give the path of a model file")


@pytest.mark.parametrize("path, words", [
    ("run.horizon.x", "run.horizon is a value (480.0), not a mapping"),
    ("customers.walk_in.journey.3", "customers.walk_in.journey is a list of 2: give an index from 0 to 1"),
    ("customers.walk_in.journey.first", "instead of 'first'"),
    ("nowhere.x", "no 'nowhere' under the model"),
])
def test_a_change_by_a_path_that_leads_nowhere_names_it(path, words):
    with pytest.raises(ModelError) as caught:
        chainsim.parse_model(GOOD).with_changes({path: 1})
    [problem] = caught.value.problems
    assert problem.path == path and words in problem.message


def nested_branches(depth: int) -> dict:
    step = {"serve": "a", "time": {"dist": "fixed", "value": 1}}
    for _ in range(depth):
        step = {"branch": [{"p": 0.5, "then": [step]}, {"p": 0.5, "then": []}]}
    return {"name": "deep", "run": {"horizon": 100, "replications": 2, "seed": 1},
            "departments": {"a": {"staff": 1}},
            "customers": {"c": {"arrivals": {"rate": 0.1}, "journey": [step]}}}


def test_nesting_is_refused_where_it_would_break_later_and_works_up_to_there():
    # Each branch level is 4 levels of mappings and lists: 24 branches go past MAX_NESTING = 100.
    # Accepted models must survive what comes after validation: pickling to worker processes
    # and the canonical JSON that keys caches and stores (both recurse).
    deepest = chainsim.parse_model(nested_branches(23))
    assert pickle.loads(pickle.dumps(deepest)).canonical_json() == deepest.canonical_json()
    with pytest.raises(ModelError) as caught:
        chainsim.parse_model(nested_branches(24))
    [problem] = caught.value.problems
    assert problem.path == "customers.c.journey" and "nested more than 100 levels deep" in problem.message
    with pytest.raises(ModelError, match="nested more than 100 levels"):
        chainsim.parse_model(nested_branches(70))  # validated, then failed to pickle, before the check


@pytest.mark.parametrize("change, path, message", [
    (lambda d: d["departments"]["front_desk"].update(staff=2.5), "departments.front_desk.staff",
     "must be a whole number (got 2.5)"),
    (lambda d: d.update(customers={}), "customers", "must not be empty: give at least one"),
    (lambda d: d.update(time_unit="hours"), "time_unit", "must be one of 'second', 'minute', 'hour' or 'day' (got 'hours')"),
    (lambda d: d["customers"]["walk_in"]["arrivals"].update(batch=1000), "customers.walk_in.arrivals.batch",
     "a batch size is a distribution, not 1000: write e.g. {dist: fixed, value: 3}"),
    (lambda d: d["run"].update(drain="maybe"), "run.drain", "must be true or false (got 'maybe')"),
])
def test_type_errors_read_in_the_words_of_a_yaml_file(change, path, message):
    # pydantic's own words ('Input should be a valid integer, got a number with a fractional part',
    # 'Dictionary should have at least 1 item after validation, not 0') named no fix.
    assert only_problem(change) == (path, message)


def test_a_whole_number_beyond_any_float_is_refused_not_a_crash():
    # found by the long fuzz run: Erlang's k of 10**400 raised OverflowError from math.isfinite
    path, message = only_problem(lambda d: journey(d)[0].update(time={"dist": "erlang", "k": 10**400, "mean": 5}))
    assert path == f"{JOURNEY}[0].time.k" and message.startswith("k must be a finite number")


def test_a_rework_factor_that_makes_the_redo_time_out_of_range_is_refused_not_a_crash():
    # found by the long fuzz run: rework_factor 1e308 passed validation, then the run failed with
    # pydantic's traceback while scaling the step's time
    path, message = only_problem(lambda d: journey(d)[0].update(rework_factor=1e308))
    assert path.startswith(f"{JOURNEY}[0]")  # the step (a check of two of its fields together)
    assert message == ("rework_factor 1e+308 makes the redo's time larger than any time a model accepts (1e+12): "
                       "give a smaller factor, or a rework_time")


def test_a_departments_default_label_is_its_key_in_words_keeping_its_case():
    """`.capitalize()` lowered the rest of the key: `IT_desk` was shown as "It desk"."""
    model = chainsim.model_from_text("""
name: labels
run: {horizon: 60}
departments: {IT_desk: {staff: 1}, back_office: {staff: 1}, desk: {staff: 1, label: Front counter}}
customers:
  c:
    arrivals: {rate: 0.1}
    journey: [{serve: IT_desk, time: {dist: fixed, value: 1}}]
""")
    assert [model.label(d) for d in model.departments] == ["IT desk", "Back office", "Front counter"]


@pytest.mark.parametrize("call, says", [
    (lambda m: m.with_changes(None), "changes: give a mapping of dotted paths to values"),
    (lambda m: m.with_changes([("run.seed", 1)]), "changes: give a mapping of dotted paths to values"),
    (lambda m: m.with_changes({5: 3}), "changes: give a mapping of dotted paths to values"),
    (lambda m: chainsim.model_from_text(None), "model: give the model's YAML text (got NoneType)"),
    (lambda m: chainsim.offered_load(None), "model: give the path of a model file (got NoneType)"),
    (lambda m: chainsim.simulate(m, replications=1, keep_records="no"), "keep_records: give True or False (got 'no')"),
])
def test_the_python_api_names_an_argument_of_the_wrong_type(call, says):
    """AttributeError or TypeError from deep inside, or keep_records='no' silently taken as True."""
    with pytest.raises(ModelError, match=re.escape(says)):
        call(chainsim.load_model(ROOT / "models" / "hello_chain.yaml"))


def test_offered_load_takes_a_path_as_simulate_does():
    path = ROOT / "models" / "hello_chain.yaml"
    assert chainsim.offered_load(str(path)) == chainsim.offered_load(chainsim.load_model(path))
