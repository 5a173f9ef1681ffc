"""The what-if studio's answers to an audit: uploads keyed on content, the work cap over rework_to
loops, stale sweeps, error-rate sliders below 1, bounded caches and saved scenarios, and the size
cap on edited YAML; then, from a second audit, results kept through a bad edit, models of many
departments, totals after a warm-up, download names, staff slider tops, changes of zero and the
scenario file's size. App behaviour runs through Streamlit's AppTest, as in test_app.py.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from streamlit.proto.Metric_pb2 import Metric
from streamlit.runtime.caching.cache_data_api import _data_caches
from streamlit.runtime.media_file_manager import MediaFileManager
from test_app import BANK, _app, _errors, _metric, _run_sweep

import chainsim
from chainsim import plots, studio
from chainsim.model import MAX_DEPARTMENTS, MAX_STAFF
from chainsim.report import build_report

HELLO = BANK.parent / "hello_chain.yaml"


# --- 1. an upload is known by its content -------------------------------------------------------------


def test_a_corrected_upload_with_the_same_name_and_size_replaces_the_model():
    bank = BANK.read_text()
    first = bank.replace("compliance: {label: Compliance, staff: 3", "compliance: {label: Compliance, staff: 2")
    second = bank.replace("compliance: {label: Compliance, staff: 3", "compliance: {label: Compliance, staff: 5")
    assert len(first) == len(second) and first != second
    at = _app()
    at.sidebar.file_uploader[0].upload("model.yaml", first.encode(), "text/yaml").run()
    assert at.sidebar.slider(key="lever:staff.compliance").value == 2
    at.sidebar.file_uploader[0].upload("model.yaml", second.encode(), "text/yaml").run()
    assert not at.exception, at.exception
    assert "compliance: {label: Compliance, staff: 5" in at.text_area(key="yaml_text").value
    assert at.sidebar.slider(key="lever:staff.compliance").value == 5
    assert at.dataframe[0].value.loc["Compliance", "utilisation"] == "48%"  # 0.22/min x 11 min / 5 staff


# --- 2. the work cap counts every step a rework_to loop walks again ------------------------------------


def _loop_model(error_rate: float, steps: int = 20) -> dict:
    """A journey of quick steps whose last one sends defective work back to the first."""
    journey = [{"id": f"s{i}", "serve": "a", "time": {"dist": "fixed", "value": 0.001}} for i in range(steps)]
    journey[-1].update({"error_rate": error_rate, "rework_to": "s0"})
    return {"name": "loop", "run": {"horizon": 480, "replications": 20, "seed": 1, "drain": True},
            "departments": {"a": {"staff": 50}},
            "customers": {"c": {"arrivals": {"rate": 0.2}, "journey": journey}}}


def _parsed(data: dict) -> chainsim.Model:
    return studio.parse_text(yaml.safe_dump(data, sort_keys=False), "loop.yaml")


def _simulated_jobs_per_customer(model: chainsim.Model, replications: int) -> tuple[float, float]:
    """Mean jobs per customer in a run, with its standard error."""
    per_customer = chainsim.simulate(model, replications=replications, seed=3).jobs().groupby(
        ["replication", "customer"]).size()
    return per_customer.mean(), per_customer.std() / math.sqrt(len(per_customer))


def test_jobs_per_customer_walks_a_rework_to_loop_again_as_the_simulator_does():
    # Each pass through s0..s19 is 20 jobs; s19 errs with p, so a customer makes 1 / (1 - p) passes.
    for p in (0.5, 0.999):
        assert studio.jobs_per_customer(_parsed(_loop_model(p))) == pytest.approx(20 / (1 - p))
    model = _parsed(_loop_model(0.5))
    mean, se = _simulated_jobs_per_customer(model, 5)
    assert abs(mean - 40) < 4 * se


def test_jobs_per_customer_follows_crossing_and_nested_rework_loops():
    data = _loop_model(0.0, steps=6)
    journey = data["customers"]["c"]["journey"]
    journey[2].update({"error_rate": 0.3, "rework_to": "s0"})
    journey[3].update({"error_rate": 0.2})  # redone in place
    journey[4].update({"error_rate": 0.4, "rework_to": "s1"})  # crosses s2's loop
    journey[5].update({"error_rate": 0.5, "rework_to": "s3"})
    data["customers"]["c"]["arrivals"]["rate"] = 2.0
    model = _parsed(data)
    mean, se = _simulated_jobs_per_customer(model, 10)
    assert abs(studio.jobs_per_customer(model) - mean) < 4 * se


def test_a_rework_to_loop_beyond_the_work_cap_cannot_be_started():
    at = _app()
    at.text_area(key="yaml_text").input(yaml.safe_dump(_loop_model(0.999), sort_keys=False)).run()
    assert not at.exception and not at.error, (at.exception, _errors(at))
    assert at.button(key="run").disabled
    message = next(w.value for w in at.warning if "This would simulate" in w.value)
    assert "1,920,000" in message  # 96 customers x 20,000 jobs / 20 per customer x 20 replications


# --- 3. a sweep's chart only for the settings it ran with ---------------------------------------------


def test_a_sweep_chart_is_hidden_once_the_model_or_settings_change():
    at = _app()
    charts = _run_sweep(at, "staff.compliance", replications=2)
    assert not any("since the last sweep" in i.value for i in at.info)

    at.sidebar.number_input(key="seed").set_value(at.sidebar.number_input(key="seed").value + 1).run()
    assert len(at.get("plotly_chart")) == charts
    assert any("changed since the last sweep" in i.value and "Run sweep" in i.value for i in at.info)

    at.sidebar.number_input(key="seed").set_value(at.sidebar.number_input(key="seed").value - 1).run()
    assert len(at.get("plotly_chart")) == charts + 1  # back to the settings it ran with

    at.sidebar.selectbox[0].set_value(HELLO).run()
    assert not at.exception, at.exception
    assert any("changed since the last sweep" in i.value for i in at.info)
    sweep_models = [m.name for m in (r.model for r in at.session_state["sweep"][2])]
    assert set(sweep_models) == {"Retail bank - account opening"}  # what the hidden chart was for


# --- 4. error-rate sliders stay below 1 --------------------------------------------------------------


def _error_range(model: chainsim.Model, department: str) -> tuple[float, float]:
    lever = next(r for r in studio.lever_ranges(model) if r.key == f"error_rate.{department}")
    return lever.high, lever.baseline


def test_error_rate_sliders_stop_below_one():
    bank = chainsim.load_model(BANK)
    assert _error_range(bank, "back_office") == (0.3, 0.08)
    assert _error_range(bank.with_changes({"departments.back_office.error_rate": 0.6}), "back_office") == (0.95, 0.6)
    assert _error_range(bank.with_changes({"departments.back_office.error_rate": 0.98}), "back_office") == (0.98, 0.98)
    # A step of the department's own at 0.5: the errors slider multiplies both, and stops at x1.9 (0.5 -> 0.95).
    data = yaml.safe_load(BANK.read_text())
    data["customers"]["walk_in"]["journey"].append({"serve": "back_office", "error_rate": 0.5,
                                                    "time": {"dist": "fixed", "value": 1}})
    mixed = chainsim.parse_model(data)
    lever = next(r for r in studio.lever_ranges(mixed) if r.key == "error_factor.back_office")
    assert (lever.high, lever.baseline) == (1.9, 1.0)
    top = studio.Scenario.baseline(mixed).with_lever(lever.key, lever.high).apply(mixed)
    assert top.customers["walk_in"].journey[-1].error_rate == pytest.approx(0.95)
    assert top.departments["back_office"].error_rate == pytest.approx(0.152)


def test_a_department_whose_steps_set_their_own_error_rates_gets_an_errors_factor_slider():
    """insurance_claims' Adjusters: 0 as a department, 10% on their two report steps. The slider said
    'Baseline: 0%', and moving it set the department's rate only: 0% changed nothing, 5% left the
    reports at 10% (and the experiment files' lever train halves them)."""
    claims = chainsim.load_model(BANK.parent / "insurance_claims.yaml")
    ranges = {r.key: r for r in studio.lever_ranges(claims)}
    assert "error_rate.adjusters" not in ranges
    lever = ranges["error_factor.adjusters"]
    assert (lever.low, lever.baseline, lever.high, lever.unit) == (0.0, 1.0, 3.0, "x baseline")
    assert "(0%, 10%)" in lever.help
    assert ranges["error_rate.intake"].baseline == 0.15  # one rate for all its work: a rate slider as before

    def report_rates(model):
        return [work.error_rate for work in studio.work_by_department(model)["adjusters"] if work.error_rate is not None]

    scenario = studio.Scenario.baseline(claims)
    assert scenario.apply(claims).canonical_json() == claims.canonical_json()
    half = scenario.with_lever("error_factor.adjusters", 0.5)
    assert report_rates(half.apply(claims)) == pytest.approx([0.05, 0.05])
    trained = chainsim.apply_levers(claims, [{"lever": "train", "department": "adjusters", "error_factor": 0.5}])
    assert half.apply(claims).canonical_json() == trained.canonical_json()  # the experiment files' lever
    assert report_rates(scenario.with_lever("error_factor.adjusters", 0).apply(claims)) == [0, 0]
    assert half.describe(claims) == "Adjusters errors x0.5"


def test_the_errors_factor_slider_runs_in_the_app():
    at = _app()
    at.sidebar.selectbox[0].set_value(BANK.parent / "insurance_claims.yaml").run()
    slider = at.sidebar.slider(key="lever:error_factor.adjusters")
    assert slider.value == 1.0 and slider.max == 3.0
    slider.set_value(0.5).run()
    assert not at.exception and not at.error, (at.exception, _errors(at))
    assert "Adjusters errors x0.5" in " ".join(m.value for m in at.markdown)


def test_the_error_rate_slider_at_its_top_makes_a_scenario_that_runs():
    at = _app()
    at.text_area(key="yaml_text").input(BANK.read_text().replace("error_rate: 0.08", "error_rate: 0.6")).run()
    slider = at.sidebar.slider(key="lever:error_rate.back_office")
    assert slider.max < 1
    slider.set_value(slider.max).run()
    assert not at.exception and not at.error, (at.exception, _errors(at))
    assert "Back office errors 60% -> 95%" in " ".join(m.value for m in at.markdown)


# --- 5. bounded memory: the shared result cache and each session's saved scenarios --------------------


def test_the_result_cache_is_bounded_in_entries_bytes_and_time():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    caches = [c for session in _data_caches._function_caches.values() for c in session.values()
              if c.display_name.endswith("simulate_cached")]
    assert caches
    for cache in caches:
        assert cache.max_entries * 45e6 <= 1e9  # a run at the work cap pickles to at most ~45 MB (bundled models)
        assert cache.max_size_bytes <= 1e9
        assert cache.ttl_seconds <= 3600


def test_saving_keeps_the_newest_scenarios_and_names_the_one_dropped():
    model = chainsim.load_model(HELLO)
    runs = {"Baseline": chainsim.simulate(model, replications=2)}
    saved: dict = {}
    dropped = [studio.save_scenario(saved, f"s{i}", runs, limit=3) for i in range(5)]
    assert dropped == [None, None, None, "s0", "s1"]
    assert list(saved) == ["s2", "s3", "s4"]
    assert studio.save_scenario(saved, "s2", runs, limit=3) is None  # saved again: the newest, nothing dropped
    assert list(saved) == ["s3", "s4", "s2"]
    kept = saved["s2"][1]
    assert kept.records == [None, None] and kept.kpis == runs["Baseline"].kpis  # the KPIs, not megabytes of records


def test_the_app_says_which_saved_scenario_it_dropped():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.session_state["saved"] = {f"old {i}": (("another model", 0, 0), None)
                                 for i in range(studio.SAVED_SCENARIOS_MAX)}
    at.button(key="run").click().run()
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    saved = at.session_state["saved"]
    assert len(saved) == studio.SAVED_SCENARIOS_MAX and "old 0" not in saved
    assert any("“old 0”, the oldest, was dropped" in i.value for i in at.info)


# --- 6. the YAML box has the upload's size cap --------------------------------------------------------


def test_edited_yaml_over_the_upload_cap_is_refused_in_plain_words():
    at = _app()
    assert at.text_area(key="yaml_text").proto.max_chars == studio.UPLOAD_LIMIT_BYTES  # the box takes no more
    # The cap is in bytes, as for uploads: 70,000 three-byte characters fit the box but not the cap.
    wide = BANK.read_text() + "# " + "€" * 70_000
    assert len(wide) < studio.UPLOAD_LIMIT_BYTES < len(wide.encode())
    at.text_area(key="yaml_text").input(wide).run()
    assert not at.exception, at.exception
    assert f"text is {len(wide.encode()):,} bytes; the app accepts model files up to 200,000 bytes" in _errors(at)
    assert at.button(key="run").disabled and at.sidebar.button(key="revert_yaml")  # nothing to run; undo is there


def test_the_staff_slider_cuts_as_far_as_the_thinnest_open_hour_allows():
    # Two on all morning and one more from 40 to 60 (peak 3); closed from 100 (written as 0). Lever
    # add_staff takes a cut at every open hour, so the thinnest open hour (2) bounds it: down to 1
    # at peak, not 2 (the closed window and the overlap's single window do not count on their own).
    model = chainsim.load_model(BANK).with_changes({"departments.it.staff": None, "departments.it.schedule": [
        {"from": 0, "to": 100, "staff": 2}, {"from": 40, "to": 60, "staff": 1}, {"from": 100, "to": 200, "staff": 0}]})
    [it] = [r for r in studio.lever_ranges(model) if r.key == "staff.it"]
    assert (it.low, it.baseline) == (1, 3)
    assert "every hour it is open" in it.help
    chainsim.apply_levers(model, [{"lever": "add_staff", "department": "it", "count": it.low - it.baseline}])


def test_percentages_and_units_say_what_changed_in_the_models_own_terms():
    """hospital_ed's Lab at 3.3% moved to 3% read 'Lab errors 3% -> 3%'; insurance_claims' chart of hours
    was titled 'customers' minutes'; a sweep of a share showed 0.398 where the cards show 39.8%."""
    hospital = chainsim.load_model(BANK.parent / "hospital_ed.yaml")
    assert studio.Scenario.baseline(hospital).with_lever("error_rate.lab", 0.03).describe(hospital) == \
        "Lab errors 3.3% -> 3%"
    assert "Baseline: 3.3%." in next(r.help for r in studio.lever_ranges(hospital) if r.key == "error_rate.lab")
    claims = chainsim.load_model(BANK.parent / "insurance_claims.yaml").with_changes({"run.horizon": 400,
                                                                                       "run.warmup": 0})
    runs = {"Baseline": chainsim.simulate(claims, replications=2)}
    assert plots.attribution_figure(runs).layout.title.text.startswith("Where do customers' hours go?")
    bank = chainsim.load_model(BANK)
    ranges = {r.key: r for r in studio.lever_ranges(bank)}
    sweep = studio.Sweep.over([ranges["error_rate.back_office"]], 3)
    table = pd.DataFrame({"x": [0.0, 0.08, 0.15, 0.3], "mean": [0.1, 0.12, 0.13, 0.2], "ci_low": [0.09] * 4,
                          "ci_high": [0.21] * 4})
    abandoned = next(h for h in plots.HEADLINES if h.kpi == "external.abandonment_rate")
    line = plots.sweep_figure(sweep, table, abandoned, "share")
    assert (line.layout.yaxis.tickformat, line.layout.xaxis.tickformat) == (".2~%", ".2~%")


def test_the_instant_estimate_says_up_front_when_shifts_make_it_short():
    """e-commerce's Warehouse: an estimated wait of 10.6 minutes against some 80 simulated, with only a
    caption under the table saying shifts are left out."""
    assert studio.estimate_caveat(chainsim.load_model(BANK.parent / "hello_chain.yaml")) is None  # no schedules
    shop = chainsim.load_model(BANK.parent / "ecommerce_fulfilment.yaml")
    caveat = studio.estimate_caveat(shop)
    assert caveat.startswith("Staff change over the day here (Customer service, Billing, Warehouse, Shipping)")
    at = _app()
    at.sidebar.selectbox[0].set_value(BANK.parent / "ecommerce_fulfilment.yaml").run()
    assert caveat in [w.value for w in at.warning]


def test_a_moved_error_rate_whose_slider_an_edit_replaces_is_said_to_go_back():
    """An edit giving the back office's step a rate of its own turns its error-rate slider into an errors
    factor: the 5% set before was dropped without the note that says so for every other lever."""
    bank = chainsim.load_model(BANK)
    moved = studio.SidebarSettings.defaults(bank)
    moved = studio.SidebarSettings(moved.model_json, moved.replications, moved.seed,
                                   {**moved.levers, "error_rate.back_office": 0.05})
    data = yaml.safe_load(BANK.read_text())
    data["customers"]["walk_in"]["journey"][1]["branch"][0]["then"][0]["error_rate"] = 0.2
    edited = chainsim.parse_model(data)
    carried, put_back = moved.carried_to(edited)
    assert carried.levers["error_factor.back_office"] == 1.0 and "error_rate.back_office" not in carried.levers
    assert put_back == ["Back office error rate"]


def test_no_error_rate_slider_where_every_piece_of_work_pins_its_rate_at_zero():
    """The back office's only work set `error_rate: 0` itself: its slider moved the department's rate,
    which reached nothing, while the scenario text said 'Back office errors 0% -> 20%'."""
    data = yaml.safe_load(BANK.read_text())
    del data["departments"]["back_office"]["error_rate"]
    data["customers"]["walk_in"]["journey"][1]["branch"][0]["then"][0]["error_rate"] = 0
    pinned = chainsim.parse_model(data)
    keys = [r.key for r in studio.lever_ranges(pinned)]
    assert "error_rate.back_office" not in keys and "error_factor.back_office" not in keys
    assert "error_rate.it" in keys  # its work takes the department's rate


# --- second audit, 1. a bad edit or upload keeps the page and its results --------------------------------


def _ran_bank():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    return at, {m.label: m.value for m in at.metric}


def _warnings(at) -> str:
    return "\n".join(w.value for w in at.warning)


def test_a_bad_edit_keeps_the_results_on_screen_and_run_waits_until_it_is_fixed():
    at, shown = _ran_bank()
    at.text_area(key="yaml_text").input(BANK.read_text().replace("request: compliance", "request: complience")).run()
    assert not at.exception, at.exception
    assert "`customers.walk_in.journey[0].consult.request`: unknown department 'complience'" in _errors(at)
    assert {m.label: m.value for m in at.metric} == shown  # they were wiped, tabs and charts too
    assert len(at.tabs) == 5
    assert "The page below stays on the model as it was before this edit" in _warnings(at)
    assert at.button(key="run").disabled and at.button(key="run_sweep").disabled

    at.sidebar.button(key="revert_yaml").click().run()
    assert not at.error and not at.button(key="run").disabled
    assert {m.label: m.value for m in at.metric} == shown
    assert "stays on" not in _warnings(at)


def test_a_bad_upload_keeps_the_page_on_the_last_model_that_could_run():
    at, shown = _ran_bank()
    at.sidebar.file_uploader[0].upload("mine.yaml", b"name: [", "text/yaml").run()
    assert not at.exception, at.exception
    assert "mine.yaml cannot run" in _errors(at)
    assert {m.label: m.value for m in at.metric} == shown
    assert "the last model that could run, **Retail bank - account opening**" in _warnings(at)
    assert at.button(key="run").disabled


# --- second audit, 2. models of many departments ---------------------------------------------------------


def _many_departments(departments: int, steps: int) -> str:
    """Departments of two staff each, and one class of customers walking through them in turn."""
    lines = ["name: Many", "run: {horizon: 480, replications: 2, seed: 1}", "departments:",
             *(f"  d{i}: {{staff: 2}}" for i in range(departments)),
             "customers:", "  c:", "    arrivals: {rate: 0.01}", "    journey:",
             *(f"      - {{serve: d{i % departments}, time: {{dist: fixed, value: 1}}}}" for i in range(steps))]
    return "\n".join(lines) + "\n"


def test_a_chain_of_as_many_departments_as_a_model_may_hold_is_laid_out():
    chain = studio.parse_text(_many_departments(MAX_DEPARTMENTS, MAX_DEPARTMENTS), "many.yaml")
    assert plots.chain_columns(chain) == MAX_DEPARTMENTS + 1  # a RecursionError, after 94 s in the app


def test_sliders_for_hundreds_of_departments_read_the_model_once_and_the_chain_lays_them_all_out(monkeypatch):
    """Each rerun took 15 s at 300 departments: a model_dump per department for the sliders (counted
    here, not timed: benchmarks hold timings), and plotly checking every arrow again at each one added."""
    many = studio.parse_text(_many_departments(MAX_DEPARTMENTS, MAX_DEPARTMENTS), "many.yaml")
    dumps = []
    real_dump = type(many).model_dump
    monkeypatch.setattr(type(many), "model_dump", lambda self, *a, **k: dumps.append(1) or real_dump(self, *a, **k))
    studio.lever_ranges(many)
    assert len(dumps) <= 2  # was one per department: 1,000
    monkeypatch.undo()
    three_hundred = studio.parse_text(_many_departments(300, 300), "many.yaml")
    figure = plots.chain_figure(three_hundred, {d: 0.5 for d in three_hundred.departments})
    assert len(figure.layout.annotations) == 300  # the customers' arrow and 299 handoffs


# --- second audit, 3. totals say the span measured after the warm-up --------------------------------------


def test_totals_after_a_warm_up_say_the_span_measured_in_the_app_and_the_report():
    """With warmup 420 of an 8-hour day the cards said 'per day' and counted the last 60 minutes."""
    text = BANK.read_text().replace("warmup: 0,", "warmup: 420,")
    assert text != BANK.read_text()
    at = _app()
    at.text_area(key="yaml_text").input(text).run()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert _metric(at, "Expected churn, per 60 minutes").value
    late = studio.parse_text(text, "bank.yaml")
    report = build_report({"Baseline": chainsim.simulate(late, replications=2)})
    assert "Revenue at risk, per 60 minutes" in report and "per day" not in report


# --- second audit, 4. downloads are named for the run on screen ------------------------------------------


def test_downloads_of_results_are_named_for_the_run_on_screen_not_the_sidebar(monkeypatch):
    names: list[str | None] = []
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def recorded(method):
        def record(self, data, mimetype, coordinates, file_name=None, **kwargs):
            names.append(file_name)
            return method(self, data, mimetype, coordinates, file_name, **kwargs)
        return record

    monkeypatch.setattr(MediaFileManager, "add", recorded(add))
    monkeypatch.setattr(MediaFileManager, "add_deferred", recorded(add_deferred))
    at, _ = _ran_bank()
    at.sidebar.slider(key="replications").set_value(5).run()
    names.clear()
    at.sidebar.number_input(key="seed").set_value(99).run()  # not run: the results on screen are 2 reps, seed 7
    assert not at.exception, at.exception
    stem = "retail_bank_account_opening"
    assert {f"{stem}_2reps_seed7.csv", f"{stem}_2reps_seed7_report.html", f"{stem}_scenario.yaml"} <= set(names)
    assert not any("seed99" in name for name in names if name)  # it said 5reps_seed99 of 2-rep seed-7 results


# --- second audit, 5. staff sliders stop at the schema's maximum ----------------------------------------


def test_staff_sliders_stop_at_the_most_staff_a_model_accepts():
    hello = HELLO.read_text()
    line = "front_desk: {label: Front desk, staff: 2}"
    assert line in hello
    for department, lever in (("staff: 60000", "staff.front_desk"),
                              ("schedule: [{from: 0, to: 480, staff: 99999}]", "staff.front_desk"),
                              ("schedule: [{from: 0, to: 480, staff: 99999}]", "shift.front_desk.0")):
        model = studio.parse_text(hello.replace(line, f"front_desk: {{label: Front desk, {department}}}"), "x.yaml")
        top = next(r for r in studio.lever_ranges(model) if r.key == lever)
        assert top.high == MAX_STAFF  # 120,000, then 'input should be less than or equal to 100000'
        studio.Scenario.baseline(model).with_lever(lever, top.high).apply(model)


# --- second audit, 6. a change of zero has no arrow --------------------------------------------------------


def test_a_change_that_rounds_to_zero_has_no_arrow_on_its_card():
    """Streamlit reads a change not starting with '-' as a rise: '0.0 min' had an up arrow."""
    spare = HELLO.read_text().replace("departments:\n", "departments:\n  spare: {staff: 1}\n")
    at = _app()
    at.text_area(key="yaml_text").input(spare).run()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.sidebar.slider(key="lever:staff.spare").set_value(2).run()  # nobody goes there: nothing changes
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    changes = {m.label: (m.delta, m.proto.direction) for m in at.metric if m.delta}
    assert changes["Time in system"] == ("0.0 min", Metric.MetricDirection.NONE)
    assert all(direction == Metric.MetricDirection.NONE for _, direction in changes.values())


# --- second audit, 7. the scenario file fits the upload cap where it can ---------------------------------


def test_the_scenario_file_leaves_out_defaults_and_loads_back_as_the_same_model():
    for path in studio.model_files():
        model = studio.parse_text(path.read_text(encoding="utf-8"), path.name)
        assert studio.parse_text(studio.model_to_yaml(model), path.name).canonical_json() == model.canonical_json()
    assert "churn_if_late" not in studio.model_to_yaml(chainsim.load_model(HELLO))  # at its default
    many = studio.parse_text(_many_departments(MAX_DEPARTMENTS, 2500), "many.yaml")  # 151 KB
    text = studio.scenario_file(many, many, "same as baseline", 2, 1)
    assert len(text.encode()) < studio.UPLOAD_LIMIT_BYTES  # 317 KB with every field written out
    assert studio.parse_text(text, "scenario.yaml").canonical_json() == many.canonical_json()


def test_a_scenario_file_still_over_the_upload_cap_says_so_beside_its_download():
    text = _many_departments(10, 3700)
    model = studio.parse_text(text, "long.yaml")
    size = len(studio.scenario_file(model, model, "same as baseline", 2, 1).encode())
    assert len(text.encode()) < studio.UPLOAD_LIMIT_BYTES < size  # written out in full, each step takes more room
    at = _app()
    at.sidebar.file_uploader[0].upload("long.yaml", text.encode(), "text/yaml").run()
    assert not at.exception, at.exception
    assert f"This file is {size:,} bytes, over the 200,000 the app accepts" in _warnings(at)
