"""Experiments: levers, designs, replications under common random numbers, comparisons, warm-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import HELLO
from tiny_chain import tiny_chain

from chainsim import LEVERS, Experiment, ModelError, Scenario, Sequential, apply_levers, load_model
from chainsim.api import model_from_text
from chainsim.designs import expand
from chainsim.engine import simulate_replication
from chainsim.experiment import ReplicationTask, run_replication, scenario_model
from chainsim.metrics import kpi_range, replication_kpis, t_interval
from chainsim.warmup import choose_warmup, mser, welch

ROOT = Path(__file__).resolve().parent.parent
BANK = ROOT / "models" / "retail_bank.yaml"
TIME = "external.time_in_system.mean"

TINY = tiny_chain(horizon=240, seed=3, replications=4, rich=True)


@pytest.fixture(scope="module")
def tiny():
    return model_from_text(TINY)


@pytest.fixture(scope="module")
def bank():
    return load_model(BANK)


# --- levers -------------------------------------------------------------------------------------


def test_add_staff_adds_to_every_shift_and_to_a_plain_count(bank):
    m = apply_levers(bank, [{"lever": "add_staff", "department": "front_desk", "count": 2},
                            {"lever": "add_staff", "department": "it"}])
    assert [s.staff for s in m.departments["front_desk"].schedule] == [8, 6, 8, 4]
    assert m.departments["it"].staff == 3
    assert bank.departments["it"].staff == 2  # the base model is untouched


def test_add_staff_is_one_person_where_windows_overlap_and_none_where_closed(bank):
    # Two on from 0 to 100, one more from 40 to 60, closed from 100 to 200 (written as a window of
    # 0): a hire is 3 / 4 / 3 and still closed after 100, not 3 / 5 / 3 and 1 after 100.
    shifts = {"departments.it.staff": None, "departments.it.schedule": [
        {"from": 0, "to": 100, "staff": 2}, {"from": 40, "to": 60, "staff": 1}, {"from": 100, "to": 200, "staff": 0}]}
    m = apply_levers(bank.with_changes(shifts), [{"lever": "add_staff", "department": "it"}])
    assert [(w.start, w.end, w.staff) for w in m.departments["it"].schedule] == [(0, 40, 3), (40, 60, 4), (60, 100, 3)]
    moved = apply_levers(bank.with_changes(shifts), [{"lever": "move_staff", "from": "it", "to": "compliance", "count": 2}])
    assert [(w.start, w.end, w.staff) for w in moved.departments["it"].schedule] == [(0, 40, 0), (40, 60, 1), (60, 100, 0)]
    closed = {"departments.spare": {"schedule": [{"from": 0, "to": 100, "staff": 0}]}}  # receives no work
    with pytest.raises(ModelError, match="'spare' has no staff in any shift"):
        apply_levers(bank.with_changes(closed), [{"lever": "add_staff", "department": "spare"}])


def test_move_staff_and_shift_pattern(bank):
    m = apply_levers(bank, [{"lever": "move_staff", "from": "compliance", "to": "it", "count": 2}])
    assert (m.departments["compliance"].staff, m.departments["it"].staff) == (1, 4)
    m = apply_levers(bank, [{"lever": "shift_pattern", "department": "it",
                             "schedule": [{"from": 0, "to": 240, "staff": 3}, {"from": 240, "to": 480, "staff": 1}]}])
    assert m.departments["it"].staff is None and [s.staff for s in m.departments["it"].schedule] == [3, 1]
    with pytest.raises(ModelError, match=r"levers\[0\].to: is 'it', the department moved from: nothing would change"):
        apply_levers(bank, [{"lever": "move_staff", "from": "it", "to": "it"}])  # it was a silent no-op


def test_train_scales_errors_and_work_times_but_not_the_requesters_answers(bank):
    m = apply_levers(bank, [{"lever": "train", "department": "compliance", "time_factor": 0.5}])
    request = m.customers["walk_in"].journey[0].consult
    assert request.time.mean == pytest.approx(4.0)
    assert request.clarify.time.value == pytest.approx(3.0)  # the front desk answers, untrained
    assert request.consult.time.mean == pytest.approx(3.0)  # IT's part of the nested consult
    m = apply_levers(bank, [{"lever": "train", "department": "front_desk", "time_factor": 0.5},
                            {"lever": "train", "department": "back_office", "error_factor": 0.25}])
    assert m.customers["walk_in"].journey[0].time.mean == pytest.approx(3.0)
    assert m.customers["walk_in"].journey[0].consult.clarify.time.value == pytest.approx(1.5)
    assert m.departments["back_office"].error_rate == pytest.approx(0.02)


def test_train_pins_a_default_answer_time_before_scaling_the_request(tiny):
    m = apply_levers(tiny, [{"lever": "train", "department": "checks", "time_factor": 2}])
    request = m.customers["walk_in"].journey[0].consult
    assert request.time.mean == pytest.approx(5.0)
    assert request.clarify.time.value == pytest.approx(1.0)


def test_clearer_requests_demand_growth_patience_cross_train(bank):
    m = apply_levers(bank, [{"lever": "clearer_requests", "factor": 0.5, "department": "compliance", "cost": 9},
                            {"lever": "demand_growth", "percent": 20},
                            {"lever": "patience", "factor": 1.5},
                            {"lever": "cross_train", "departments": ["compliance", "it"], "staff": 2}])
    walk_in = m.customers["walk_in"]
    assert walk_in.journey[0].consult.clarify.p == pytest.approx(0.075)
    assert walk_in.arrivals.rate == pytest.approx(0.264)
    assert walk_in.patience.mean == pytest.approx(90)
    pool = m.pools["cross_trained_compliance_it"]
    assert (pool.staff, pool.serves, pool.rule) == (2, ["compliance", "it"], "longest_queue")
    # a sweep over pool sizes may start at 0: no pool, not a refused experiment
    cross_train = {"lever": "cross_train", "departments": ["compliance", "it"]}
    assert apply_levers(bank, [{**cross_train, "staff": 0}]).pools == {}
    with pytest.raises(ModelError, match=r"levers\[0\]\.staff: must be >= 0"):
        apply_levers(bank, [{**cross_train, "staff": -1}])
    with pytest.raises(ModelError, match=r"levers\[0\]\.rule: unknown rule 'longest'"):
        apply_levers(bank, [{**cross_train, "staff": 0, "rule": "longest"}])  # checked with no pool too


def test_every_lever_is_described_in_plain_words():
    assert set(LEVERS) == {"add_staff", "move_staff", "train", "clearer_requests", "cross_train",
                           "shift_pattern", "demand_growth", "patience"}
    for lever in LEVERS.values():
        assert len(lever.description) > 30 and all(f.description for f in lever.fields.values())


@pytest.mark.parametrize("levers,path,words", [
    ([{"lever": "add_stuff", "department": "it"}], "levers[0].lever", "did you mean 'add_staff'"),
    ([{"lever": "add_staff", "departmnt": "it"}], "levers[0].departmnt", "did you mean 'department'"),
    ([{"lever": "train"}], "levers[0].department", "needs 'department'"),
    ([{"lever": "add_staff", "department": "compliants"}], "levers[0].department", "did you mean 'compliance'"),
    ([{"lever": "move_staff", "from": "it", "to": "compliance", "count": 3}], "levers[0].count", "-1 staff"),
    ([{"lever": "clearer_requests", "factor": 0.5, "department": "it"}], "levers[0]", "nothing to make clearer"),
    ([{"lever": "add_staff", "department": "it", "cost": -5}], "levers[0].cost", ">= 0"),
    ([{"lever": "train", "department": "back_office", "error_factor": 20}], "levers[0].error_factor",
     "use a factor below 12.5"),
    ([{"lever": "add_staff", "department": "it", "count": float("inf")}], "levers[0].count", "whole number"),
    ([{"lever": "add_staff", "department": "it", "count": float("nan")}], "levers[0].count", "whole number"),
    ([{"lever": "train", "department": "it", "time_factor": float("inf")}], "levers[0].time_factor", "finite"),
    ([{"lever": "train", "department": "it", "time_factor": 1e30}], "levers[0].time_factor", "nearer 1"),
    ([{"lever": "patience", "factor": float("inf")}], "levers[0].factor", "finite"),
    ([{"lever": "add_staff", "department": ["it"]}], "levers[0].department", "give one department name"),
    ([{"lever": "add_staff", "department": "it", "cost": float("nan")}], "levers[0].cost", "finite number >= 0"),
])
def test_bad_levers_name_the_field_and_the_fix(bank, levers, path, words):
    with pytest.raises(ModelError) as err:
        apply_levers(bank, levers)
    assert any(p.path == path and words in p.message for p in err.value.problems), err.value.problems


# --- designs ------------------------------------------------------------------------------------


def test_grid_is_the_full_factorial_with_path_and_lever_factors():
    points = expand({"type": "grid", "factors": {
        "departments.it.staff": [1, 2, 3],
        "hires": {"lever": "add_staff", "department": "compliance", "vary": "count", "values": [0, 1],
                  "cost_per_unit": 50},
    }})
    assert len(points) == 6
    assert {(p.factors["departments.it.staff"], p.factors["hires"]) for p in points} == {
        (a, b) for a in (1, 2, 3) for b in (0, 1)}
    last = points[-1]
    assert last.overrides == {"departments.it.staff": 3}
    assert last.levers == [{"lever": "add_staff", "department": "compliance", "count": 1, "cost": 50}]


def test_latin_hypercube_uses_each_stratum_of_each_factor_once():
    n = 8
    points = expand({"type": "latin_hypercube", "samples": n, "seed": 4, "factors": {
        "p": {"path": "x.p", "low": 0.0, "high": 0.4}, "staff": {"path": "x.s", "low": 1, "high": 8, "integer": True}}})
    p = np.array([pt.factors["p"] for pt in points])
    assert sorted(np.floor(p / 0.05).astype(int)) == list(range(n))
    assert sorted(pt.factors["staff"] for pt in points) == list(range(1, 9))
    again = expand({"type": "latin_hypercube", "samples": n, "seed": 4, "factors": {
        "p": {"path": "x.p", "low": 0.0, "high": 0.4}, "staff": {"path": "x.s", "low": 1, "high": 8, "integer": True}}})
    assert [pt.factors for pt in again] == [pt.factors for pt in points]


def test_one_at_a_time_moves_one_factor_to_each_extreme():
    points = expand({"type": "one_at_a_time", "factors": {
        "a": {"path": "x.a", "low": 1, "high": 3}, "b": [5, 6, 7]}})
    assert [p.factors for p in points] == [{"a": 1}, {"a": 3}, {"b": 5}, {"b": 6}, {"b": 7}]


@pytest.mark.parametrize("design,words", [
    ({"type": "grid", "factors": {"a": {"low": 1, "high": 2}}}, "a grid needs `values"),
    ({"type": "latin_hypercube", "factors": {"a": [1, 2]}}, "needs a range"),
    ({"type": "grid", "factors": {"a": {"lever": "add_staff", "department": "it", "vary": "cnt", "values": [1]}}},
     "name the add_staff field"),
    ({"type": "sobol", "factors": {"a": [1]}}, "unknown design"),
    ({"type": "latin_hypercube", "factors": {"a": {"low": "a", "high": "b"}}}, r"a.low: must be a finite number"),
    ({"type": "grid", "factors": {"a": {"lever": "add_staff", "department": "it", "vary": "count", "values": [1],
                                        "cost_per_unit": "lots"}}}, "cost_per_unit: must be a finite number"),
    ({"type": "one_at_a_time", "factors": {"a": {"low": 1, "high": 3, "integer": "no"}}}, "write true or false"),
    ({"type": "grid", "factors": {f"f{i}": list(range(10)) for i in range(8)}}, "100,000,000 scenarios"),
])
def test_bad_designs_say_what_to_write(design, words):
    with pytest.raises(ModelError, match=words):
        expand(design)


# --- experiments --------------------------------------------------------------------------------


def test_paired_difference_is_the_mean_of_per_replication_differences(tiny):
    x = Experiment(tiny, [Scenario("more checks", levers=[{"lever": "add_staff", "department": "checks", "cost": 4}])],
                   replications=6, kpis=[TIME, "external.within_sla"]).run()
    wide = x.results.values(TIME)
    assert list(wide.columns) == ["baseline", "more checks"] and len(wide) == 6
    row = x.compare().set_index("kpi").loc[TIME]
    mean, low, high = t_interval((wide["more checks"] - wide["baseline"]).to_numpy())
    assert (row["difference"], row["ci_low"], row["ci_high"]) == pytest.approx((mean, low, high))
    assert row["improvement"] == pytest.approx(-mean)
    assert row["improvement_per_cost"] == pytest.approx(-mean / 4)
    summary = x.summary().set_index(["scenario", "kpi"])
    assert summary.loc[("baseline", TIME), "mean"] == pytest.approx(wide["baseline"].mean())
    assert summary.loc[("baseline", TIME), "n"] == 6


def test_intervals_of_a_kpi_stay_where_the_kpi_can_be(tiny):
    """A rare event's share (here: abandonment, mostly 0) must not show a negative lower bound."""
    rare = np.array([0.0, 0.0, 0.0, 0.1])
    mean, low, high = t_interval(rare)
    assert low < 0.0
    assert t_interval(rare, within=kpi_range("external.abandonment_rate")) == (mean, 0.0, high)
    calm = {"customers.walk_in.arrivals.rate": 0.1, "customers.walk_in.patience.mean": 600}
    x = Experiment(tiny, [Scenario("calm", overrides=calm)],
                   replications=5, kpis=["external.abandonment_rate", "external.within_sla", TIME]).run()
    summary = x.summary()
    assert (summary["ci_low"] == 0.0).any()  # the cut did happen here (one abandonment in five runs)
    for row in summary.itertuples():
        low, high = kpi_range(row.kpi)
        assert low <= row.ci_low <= row.mean <= row.ci_high <= high, row


def test_common_random_numbers_narrow_the_paired_interval(bank):
    """Same seed and replication index in both scenarios vs seeds derived per scenario.

    Both runs compare one more Compliance analyst with today; the mean difference estimates the
    same quantity, but under CRN the replications are positively correlated, so the paired
    interval is narrower. Fixed seeds: with 20 replications the CRN half-width is about 1.0 min
    and the independent one about 3.5 min.
    """
    hire = [Scenario("hire", levers=[{"lever": "add_staff", "department": "compliance"}])]
    widths = {}
    for crn in (True, False):
        x = Experiment(bank, [Scenario(s.name, levers=s.levers) for s in hire], replications=20, kpis=[TIME],
                       common_random_numbers=crn).run()
        row = x.compare().iloc[0]
        widths[crn] = (row["ci_high"] - row["ci_low"]) / 2
        seeds = x.results.table.groupby("scenario")["seed"].first()
        assert bool(seeds["baseline"] == seeds["hire"]) is crn
    assert widths[True] < 0.5 * widths[False], widths


def test_a_failing_replication_becomes_failure_rows_and_the_others_finish(tiny):
    x = Experiment(tiny, [Scenario("capped", overrides={"run.max_customers": 3}),
                          Scenario("fine", levers=[{"lever": "demand_growth", "percent": 10}])],
                   replications=3).run()
    failures = x.results.failures
    assert list(failures["scenario"]) == ["capped"] * 3
    assert "max_customers" in failures["message"].iloc[0]
    assert set(x.results.table["scenario"]) == {"baseline", "fine"}


def test_a_worker_parses_each_scenario_once_and_its_replications_equal_fresh_ones(tiny):
    """The parsed model is shared by a scenario's replications: sharing must not change a number."""
    model_json = tiny.canonical_json()
    scenario_model.cache_clear()
    shared = [run_replication(ReplicationTask("baseline", model_json, 5, r)).kpis for r in range(3)]
    assert scenario_model.cache_info().misses == 1 and scenario_model.cache_info().hits == 2
    fresh = model_from_text(TINY)
    assert shared == [replication_kpis(fresh, simulate_replication(fresh, r, 5)) for r in range(3)]


def test_a_scenario_that_cannot_be_built_stops_the_experiment_before_anything_runs(tiny, tmp_path):
    x = Experiment(tiny, [Scenario("negative staff", overrides={"departments.desk.staff": -1}),
                          Scenario("typo", levers=[{"lever": "add_staff", "department": "it"}]),
                          Scenario("fine", levers=[{"lever": "demand_growth", "percent": 10}])], replications=3)
    ticks = []
    with pytest.raises(ModelError) as err:
        x.run(store=tmp_path / "x.sqlite", progress=lambda done, total: ticks.append(done))
    paths = [p.path for p in err.value.problems]
    assert paths == ["scenario 'negative staff' overrides: departments.desk.staff", "scenario 'typo' levers[0].department"]
    assert ticks == [] and not (tmp_path / "x.sqlite").exists()


def test_a_baseline_name_must_name_a_scenario_and_kpis_cannot_be_empty(tiny):
    with pytest.raises(ModelError, match=r"baseline: no scenario is named 'hier': did you mean 'hire'\?"):
        Experiment(tiny, [Scenario("hire", levers=[{"lever": "add_staff", "department": "desk"}])], baseline="hier")
    assert [s.name for s in Experiment(tiny, []).scenarios] == ["baseline"]  # the default is added
    with pytest.raises(ModelError, match="kpis: name at least one KPI"):
        Experiment(tiny, [], kpis=[])


def test_compare_says_why_the_baseline_has_no_results(tiny):
    x = Experiment(tiny.with_changes({"run.max_customers": 3}), [], replications=2).run()
    with pytest.raises(ValueError, match="no replication of 'baseline' finished: 2 failed, the first with "
                                         "RunLimitError: more than run.max_customers"):
        x.compare()
    quiet = Experiment(tiny.with_changes({"run.max_customers": 10}),
                       [Scenario("quiet", levers=[{"lever": "demand_growth", "percent": -95}])], replications=2).run()
    assert quiet.results.no_results("baseline") is not None
    summary = quiet.summary()  # nothing to compare with, but the scenario's own numbers (it raised ValueError)
    assert set(summary["scenario"]) == {"quiet"} and (summary["n"] == 2).all()


def test_sequential_replications_stop_at_the_precision_or_the_maximum(tiny):
    rule = Sequential(kpi=TIME, relative_half_width=0.08, min=4, max=60)
    x = Experiment(tiny, [Scenario("busier", levers=[{"lever": "demand_growth", "percent": 30}])],
                   replications=rule, kpis=[TIME]).run()
    for _, row in x.summary().iterrows():
        half = (row["ci_high"] - row["ci_low"]) / 2
        assert row["n"] > 4  # one round of 4 is not precise enough for this model
        assert half <= 0.08 * row["mean"] or row["n"] == 60


def test_sensitivity_gives_tornado_rows_sorted_by_swing(tiny):
    points = expand({"type": "one_at_a_time", "factors": {
        "demand": {"lever": "demand_growth", "vary": "percent", "low": -30, "high": 30},
        "clarity": {"lever": "clearer_requests", "vary": "factor", "low": 0.9, "high": 1.1}}})
    x = Experiment(tiny, [Scenario(p.name, p.overrides, p.levers, factors=p.factors) for p in points],
                   replications=8, kpis=[TIME]).run()
    tornado = x.sensitivity()
    assert list(tornado["factor"]) == ["demand", "clarity"]
    demand = tornado.iloc[0]
    assert (demand["low"], demand["high"]) == (-30, 30)
    assert demand["difference_low"] < 0 < demand["difference_high"]
    assert demand["swing"] == pytest.approx(demand["difference_high"] - demand["difference_low"])


def test_experiment_file_errors_name_the_field(tmp_path):
    (tmp_path / "m.yaml").write_text(TINY)
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\nmodel: m.yaml\nreplication: 3\n")
    with pytest.raises(ModelError, match="replication: unknown field 'replication': did you mean 'replications'?"):
        Experiment.from_file(bad)
    bad.write_text("model: m.yaml\ncommon_random_numbers: maybe\ndesign: {type: grid, factors: {}}\n")
    with pytest.raises(ModelError) as err:
        Experiment.from_file(bad)
    assert [p.message for p in err.value.problems] == [  # pydantic's 'Field required', 'Input should be ...'
        "required field is missing: add it (docs/experiments.md shows an experiment file)",
        "must be true or false (got 'maybe')", "must not be empty: give at least one"]
    bad.write_text("name: x\nmodel: m.yaml\nscenarios: [{name: a, levers: [{lever: hire, department: desk}]}]\n")
    with pytest.raises(ModelError, match="unknown lever 'hire'"):
        Experiment.from_file(bad)
    bad.write_text("name: x\nmodel: m.yaml\nkpis: [external.wait]\nreplications: 2\n")
    with pytest.raises(ModelError, match="unknown KPI 'external.wait'"):
        Experiment.from_file(bad).run()
    bad.write_text("name: x\nmodel: m.yaml\nreplications: abc\n")
    with pytest.raises(ModelError) as err:
        Experiment.from_file(bad)
    assert str(err.value) == (f"{bad}: replications: give a whole number of replications from 1 to 100,000 "
                              "(such as 20), or a "
                              "sequential rule {kpi, relative_half_width, min, max} (got 'abc')")
    bad.write_text("name: x\nmodel: m.yaml\nreplications: {kpi: a, relative_half_width: 2}\n")
    with pytest.raises(ModelError, match=r"replications.relative_half_width: input should be less than 1 \(got 2\)$"):
        Experiment.from_file(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_file_runs_at_a_tiny_size(path):
    x = Experiment.from_file(path)
    x.replications = 2
    x.run()
    assert x.results.failures.empty
    assert len(x.summary()) == len(x.scenarios) * len(x.kpis)
    assert len(x.compare()) == (len(x.scenarios) - 1) * len(x.kpis)


def test_the_batch_script_runs_at_a_tiny_size(tmp_path):
    script = ROOT / "experiments" / "demand_headroom.py"
    out = subprocess.run([sys.executable, str(script), "-r", "2", "-w", "1", "--out", str(tmp_path / "h.sqlite")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "best hire" in out.stdout and "+30%" in out.stdout


# --- warm-up --------------------------------------------------------------------------------------


def test_mser5_finds_a_known_transient():
    rng = np.random.default_rng(11)
    series = np.r_[np.full(100, 6.0), np.zeros(900)] + rng.normal(0, 1, 1000)
    assert mser(series) == 100
    assert mser(rng.normal(0, 1, 1000)) <= 25  # no transient: (almost) nothing to cut


def test_welch_finds_where_the_averaged_curve_levels_off():
    rng = np.random.default_rng(5)
    series = rng.normal(10, 1, (5, 200))
    series[:, :40] -= np.linspace(8, 0, 40)  # starts empty: low, rising to the level by bin 40
    smoothed, cut = welch(series, window=5)
    assert 25 <= cut <= 42
    assert len(smoothed) == 195


def test_choose_warmup_on_a_steady_state_queue_that_starts_empty():
    model = model_from_text("""
name: M/M/1 from empty
run: {horizon: 3000, seed: 2}
departments: {desk: {staff: 1}}
customers:
  c:
    arrivals: {rate: 0.9}
    journey: [{serve: desk, time: {dist: exponential, mean: 1}}]
""")
    for method in ("mser5", "welch"):
        choice = choose_warmup(model, method, seed=2, pilots=5, bins=100)
        assert 0 < choice.time <= 1500
        assert choice.time == pytest.approx(choice.truncated_bins * choice.bin_width)
    x = Experiment(model, [], warmup="mser5", replications=2).run()
    assert x.results.definition["warmup"] == x.warmup_choice.time > 0


# --- honest comparisons: failed replications, warnings, broken scenarios named ------------------


def _capped_hello(cap: int) -> Experiment:
    """Hello chain capped at `cap` customers a replication: the busier scenario's busiest day (replication
    1) fails at 38, and every scenario's at 34."""
    capped = model_from_text(HELLO.replace("seed: 1}", f"seed: 1, max_customers: {cap}}}"))
    return Experiment(capped, [Scenario("busier", levers=[{"lever": "demand_growth", "percent": 30}]),
                               Scenario("hire", levers=[{"lever": "add_staff", "department": "back_office"}])],
                      replications=6, kpis=["external.arrived"])


def test_a_row_with_failed_replications_uses_only_those_shared_with_the_baseline_and_is_not_ranked():
    x = _capped_hello(38).run(workers=1)
    row = x.compare().set_index("scenario")
    assert (row.loc["busier", "n"], row.loc["busier", "failed"]) == (5, 1)
    assert row.loc["busier", "mean"] - row.loc["busier", "baseline_mean"] == pytest.approx(row.loc["busier", "difference"])
    assert pd.isna(row.loc["busier", "rank"]) and row.loc["hire", "rank"] == 1  # hire lost nothing: ranked
    means = x.summary().set_index("scenario")
    assert means.loc["busier", "mean"] == row.loc["busier", "mean"] and means.loc["busier", "n"] == 5
    assert means.loc["baseline", "n"] == 6


def test_when_the_baseline_loses_replications_no_row_is_ranked():
    row = _capped_hello(34).run(workers=1).compare().set_index("scenario")
    assert list(row["failed"]) == [1, 1] and row["rank"].isna().all()
    assert row.loc["hire", "baseline_mean"] == row.loc["hire", "mean"]  # both on the 5 shared replications


def test_an_experiment_keeps_each_scenarios_model_warnings(tiny):
    slow = Scenario("slow checks", levers=[{"lever": "train", "department": "checks", "time_factor": 3}])
    x = Experiment(tiny, [slow], replications=2, kpis=[TIME]).run(workers=1)
    assert x.warnings["baseline"] == []
    assert any(w.startswith("departments.checks: offered load") for w in x.warnings["slow checks"])


def test_a_lever_that_makes_the_model_invalid_names_the_scenario(tiny):
    levers = [{"lever": "cross_train", "departments": [*tiny.departments][:2], "name": "my pool"}]
    with pytest.raises(ModelError) as err:
        Experiment(tiny, [Scenario("a pool", levers=levers)], replications=2).run(workers=1)
    [problem] = err.value.problems
    assert problem.path == "scenario 'a pool' levers: pools"
    assert "(after levers cross_train)" in problem.message


def test_an_unknown_customer_class_lists_the_known_classes_in_plain_english(tiny):
    with pytest.raises(ModelError, match=r"unknown customer class 'vip': known customer classes: walk_in"):
        apply_levers(tiny, [{"lever": "patience", "factor": 2, "class": "vip"}])


def test_a_sequential_rule_stopped_at_max_says_which_scenarios_missed_its_precision(tiny):
    strict = Experiment(tiny, [], replications=Sequential(kpi=TIME, relative_half_width=0.001, min=2, max=3),
                        kpis=[TIME]).run(workers=1)
    reached = strict.results.short_of_precision()
    assert list(reached) == ["baseline"] and reached["baseline"] > 0.001
    lax = Experiment(tiny, [], replications=Sequential(kpi=TIME, relative_half_width=0.9, min=2, max=3),
                     kpis=[TIME]).run(workers=1)
    assert lax.results.short_of_precision() == {}
