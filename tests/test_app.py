"""The what-if studio through Streamlit's AppTest, plus its non-UI helpers, figures, report and CLI.

AppTest runs app.py in this process: widgets are set as a user would, then the script reruns.
Numbers shown are checked against chainsim.simulate on the same model, so the app cannot show a
stale or wrong run and still pass.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

import chainsim
from chainsim import plots, studio
from chainsim.cli import main as cli
from chainsim.report import build_report

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
BANK = ROOT / "models" / "retail_bank.yaml"


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def _errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def test_opens_on_the_default_model_with_the_instant_estimate():
    at = _app()
    assert at.title[0].value == "What-if studio"
    assert "Retail bank" in at.caption[0].value
    assert not at.metric  # nothing simulated yet
    assert not at.button(key="run").disabled
    estimate = at.dataframe[0].value
    assert list(estimate.index) == ["Front desk", "Compliance", "IT", "Back office"]
    assert estimate.loc["Compliance", "utilisation"] == "81%"  # 0.22/min x 11 min / 3 staff


def test_a_lever_changes_the_headline_kpi_to_what_the_simulator_says():
    at = _app()
    at.button(key="run").click().run()
    before = _metric(at, "Time in system")
    model = chainsim.load_model(BANK)
    base = chainsim.simulate(model)
    assert before.value == plots.format_value(base.kpi("external.time_in_system.mean")[0], "time", model)

    at.sidebar.slider(key="lever:staff.compliance").set_value(4).run()
    assert any("settings changed since the last run" in w.value for w in at.warning)
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    after = _metric(at, "Time in system")
    scenario = studio.Scenario.baseline(model).with_lever("staff.compliance", 4).apply(model)
    expected = chainsim.simulate(scenario).kpi("external.time_in_system.mean")[0]
    assert after.value == plots.format_value(expected, "time", model)
    assert after.value != before.value
    assert after.delta.startswith("-")  # one more person in Compliance shortens the customers' time
    assert not any("settings changed" in w.value for w in at.warning)


def test_going_back_to_a_seen_setting_shows_its_results_without_a_click():
    at = _app()
    at.button(key="run").click().run()
    baseline_value = _metric(at, "Waiting in queues").value
    at.sidebar.slider(key="lever:staff.it").set_value(3).run()
    at.button(key="run").click().run()
    assert _metric(at, "Waiting in queues").value != baseline_value
    at.text_input(key="save_name:IT +1 staff").input("One more in IT").run()
    at.button(key="save").click().run()
    at.sidebar.button(key="reset_levers").click().run()
    assert _metric(at, "Waiting in queues").value == baseline_value
    assert not any("settings changed" in w.value for w in at.warning)
    compared = at.dataframe[-1].value  # the saved scenario, next to the baseline now on screen
    assert list(compared.index) == ["Baseline", "One more in IT"]
    assert compared.loc["Baseline", "Waiting in queues"].startswith(baseline_value)


def test_an_edited_yaml_with_a_typo_shows_the_field_path_not_a_traceback():
    at = _app()
    bad = BANK.read_text().replace("request: compliance", "request: complience")
    at.text_area(key="yaml_text").input(bad).run()
    assert not at.exception
    text = _errors(at)
    assert "customers.walk_in.journey[0].consult.request" in text
    assert "did you mean 'compliance'?" in text
    assert not at.metric and at.button(key="run").disabled  # no run before, so no results to keep; Run waits


def test_an_uploaded_bad_file_shows_each_problem_with_its_field():
    at = _app()
    bad = BANK.read_text().replace("staff: 3", "staf: 3").replace("p: 0.3", "p: 0.4")
    at.sidebar.file_uploader[0].upload("mine.yaml", bad.encode(), "application/x-yaml").run()
    assert not at.exception
    text = _errors(at)
    assert "mine.yaml cannot run" in text
    assert "departments.compliance" in text and "unknown field 'staf'" in text
    assert "`customers.walk_in.journey[2]`: branch probabilities sum to 1.1" in text


def test_an_oversized_upload_is_refused_in_plain_words():
    at = _app()
    at.sidebar.file_uploader[0].upload("huge.yaml", b"#" * (studio.UPLOAD_LIMIT_BYTES + 1), "text/yaml").run()
    assert not at.exception
    assert "the app accepts model files up to 200,000 bytes" in _errors(at)


def test_the_work_cap_applies_to_edited_yaml_and_says_how_to_go_bigger():
    at = _app()
    big = BANK.read_text().replace("horizon: 480", "horizon: 48000")  # ~10,560 customers a replication
    at.text_area(key="yaml_text").input(big).run()
    assert not at.exception
    assert at.button(key="run").disabled
    message = next(w.value for w in at.warning if "customers" in w.value)
    assert "211,200" in message  # 0.22/min x 48,000 min x 20 replications
    assert "chainsim run retail_bank_account_opening_scenario.yaml" in message  # the download's name


def test_a_run_stopped_by_a_cap_of_the_file_says_which_cap_not_a_traceback():
    at = _app()
    capped = BANK.read_text().replace("horizon: 480,", "horizon: 480, max_customers: 10,")
    at.text_area(key="yaml_text").input(capped).run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    text = _errors(at)
    assert "The run stopped" in text and "run.max_customers = 10" in text
    assert not at.metric


def test_a_seed_beyond_32_bits_is_kept_as_the_file_says():
    at = _app()
    seed = 2**40 + 7
    at.text_area(key="yaml_text").input(re.sub(r"seed: \d+", f"seed: {seed}", BANK.read_text())).run()
    assert not at.exception, at.exception
    assert at.sidebar.number_input(key="seed").value == seed


def _run_sweep(at, lever: str, replications: int) -> int:
    """Sweep `lever` over 3 points and check the run added its chart; the charts there were before."""
    at.sidebar.slider(key="replications").set_value(replications).run()
    at.selectbox(key="sweep_lever").set_value(lever).run()
    at.slider(key="sweep_points").set_value(3).run()
    charts_before = len(at.get("plotly_chart"))
    at.button(key="run_sweep").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == charts_before + 1
    return charts_before


def test_a_sweep_runs_within_the_cap_and_draws_a_chart():
    at = _app()
    _run_sweep(at, "staff.it", replications=4)
    _, sweep, results = at.session_state["sweep"]
    table = sweep.table(results, "external.queueing.mean")
    assert list(table["x"]) == [1.0, 2.0, 3.0, 6.0]  # IT staff from 1 to max(2 x 2, 2 + 4), and 2 as modelled
    waits = list(table["mean"])
    assert waits[0] > waits[1] >= waits[2] >= waits[3]  # more IT staff, less waiting


def _chart_specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def test_a_two_lever_sweep_draws_a_heatmap_and_the_cap_covers_the_whole_grid():
    at = _app()
    at.sidebar.slider(key="replications").set_value(3).run()
    at.selectbox(key="sweep_lever").set_value("staff.compliance").run()
    at.selectbox(key="sweep_lever2").set_value("staff.it").run()
    at.slider(key="sweep_points").set_value(3).run()
    assert "16 runs x 3 replications" in " ".join(c.value for c in at.caption)  # 3 points + as modelled
    at.button(key="run_sweep").click().run()
    assert not at.exception, at.exception
    assert sum('"type":"heatmap"' in spec for spec in _chart_specs(at)) == 2  # mean and CI half-width panels
    _, sweep, results = at.session_state["sweep"]
    table = sweep.table(results, "external.queueing.mean")
    # Compliance 1, 4, 7 and 3 as modelled; IT 1, 3 (3.5 on the slider's steps: halves to even), 6 and 2.
    assert (list(table["x"]), list(table["y"])) == ([1.0] * 4 + [3.0] * 4 + [4.0] * 4 + [7.0] * 4,
                                                    [1.0, 2.0, 3.0, 6.0] * 4)
    assert table.loc[5, ["x", "y"]].tolist() == [3.0, 2.0]  # the model as it stands is a cell of the grid
    # One cell against the simulator: Compliance 4, IT 1 (the scenario in the sidebar is the baseline).
    model = chainsim.load_model(BANK)
    cell = chainsim.apply_levers(model, [{"lever": "add_staff", "department": "compliance", "count": 1},
                                         {"lever": "add_staff", "department": "it", "count": -1}])
    expected = chainsim.simulate(cell, replications=3, seed=model.run.seed).kpi("external.queueing.mean")
    assert table.loc[8, ["mean", "ci_low", "ci_high"]].tolist() == pytest.approx(expected)

    # Compliance 1..7 (7 whole values) x demand growth -50%..+100% (11 values and 0 as modelled) x 20
    # replications x ~106 customers (more with growth): about 205,000, over the cap, which counts every
    # grid point.
    at.selectbox(key="sweep_lever2").set_value("demand_growth").run()
    at.sidebar.slider(key="replications").set_value(20).run()
    at.slider(key="sweep_points").set_value(11).run()
    assert at.button(key="run_sweep").disabled
    message = next(w.value for w in at.warning if "This sweep" in w.value)
    ranges = {r.key: r for r in studio.lever_ranges(model)}
    grid = studio.Sweep.over([ranges["staff.compliance"], ranges["demand_growth"]], 11)
    amount = studio.work(grid.models(studio.Scenario.baseline(model), model), 20)
    growth = [-50, -35, -20, -5, 0, 10, 25, 40, 55, 70, 85, 100]
    assert grid.values[1] == tuple(growth)
    assert amount == pytest.approx(0.22 * 480 * 20 * 7 * sum(1 + g / 100 for g in growth))
    assert f"about {amount:,.0f} customers (84 runs x 20 replications" in message
    assert "chainsim experiment" in message and "type: grid" in message and "docs/experiments.md" in message


def test_a_shift_lever_sets_the_shift_pattern_and_the_kpi_is_the_simulators():
    at = _app()
    at.sidebar.slider(key="lever:shift.front_desk.1").set_value(2).run()  # lunch 3:00-5:00: 4 -> 2 at the desk
    assert "Front desk shifts 6/4/6/2 -> 6/2/6/2" in " ".join(m.value for m in at.markdown)
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    scenario = at.session_state["last"][1]["Scenario"].model
    assert [(s.start, s.end, s.staff) for s in scenario.departments["front_desk"].schedule] == [
        (0, 180, 6), (180, 300, 2), (300, 480, 6), (480, 600, 2)]
    model = chainsim.load_model(BANK)
    thinner = chainsim.apply_levers(model, [{"lever": "shift_pattern", "department": "front_desk", "schedule": [
        {"from": 0, "to": 180, "staff": 6}, {"from": 180, "to": 300, "staff": 2},
        {"from": 300, "to": 480, "staff": 6}, {"from": 480, "to": 600, "staff": 2}]}])
    assert scenario.canonical_json() == thinner.canonical_json()
    expected = chainsim.simulate(thinner).kpi("external.time_in_system.mean")[0]
    shown = _metric(at, "Time in system")
    assert shown.value == plots.format_value(expected, "time", model)
    assert not shown.delta.startswith("-")  # half the lunch staff cannot shorten the customers' time


# --- helpers, figures, report and CLI (no UI) --------------------------------------------------------


@pytest.fixture(scope="module")
def bank_runs():
    model = chainsim.load_model(BANK)
    scenario = studio.Scenario.baseline(model).with_lever("clarify_factor", 0.5).apply(model)
    return {"Baseline": chainsim.simulate(model, replications=6),
            "Scenario": chainsim.simulate(scenario, replications=6)}


def test_scenario_yaml_download_loads_back_as_the_same_model():
    model = chainsim.load_model(BANK)
    scenario = studio.Scenario.baseline(model).with_lever("staff.it", 3).with_lever("demand_growth", 10)
    changed = scenario.apply(model)
    text = studio.model_to_yaml(changed, "Scenario of the bank\nIT +1")
    assert text.startswith("# Scenario of the bank\n# IT +1\n")
    assert studio.parse_text(text, "scenario.yaml").canonical_json() == changed.canonical_json()
    assert changed.departments["it"].staff == 3
    assert changed.customers["walk_in"].arrivals.rate == pytest.approx(0.242)


def test_levers_are_the_experiment_vocabulary():
    model = chainsim.load_model(BANK)
    s = (studio.Scenario.baseline(model).with_lever("staff.front_desk", 7).with_lever("error_rate.back_office", 0.04)
         .with_lever("error_rate.it", 0.05).with_lever("patience_factor", 2.0))
    assert s.levers(model) == [{"lever": "add_staff", "department": "front_desk", "count": 1},
                               {"lever": "train", "department": "back_office", "error_factor": 0.5},
                               {"lever": "patience", "factor": 2.0}]
    changed = s.apply(model)
    assert [shift.staff for shift in changed.departments["front_desk"].schedule] == [7, 5, 7, 3]
    assert changed.departments["back_office"].error_rate == pytest.approx(0.04)
    assert changed.departments["it"].error_rate == pytest.approx(0.05)  # set directly: 0 cannot be scaled
    assert s.describe(model) == ("Front desk +1 staff; patience x2; IT errors 0% -> 5%; "
                                 "Back office errors 8% -> 4%")
    ranges = {r.key: r for r in studio.lever_ranges(model)}
    assert (ranges["staff.front_desk"].low, ranges["staff.front_desk"].high) == (4, 12)  # shifts 6/4/6/2: cut <= 2
    assert (ranges["staff.compliance"].low, ranges["staff.compliance"].high) == (1, 7)


def test_work_counts_distinct_models_once():
    model = chainsim.load_model(BANK)
    one = studio.work([model], 20)
    assert one == pytest.approx(0.22 * 480 * 20)
    assert studio.work([model, model], 20) == one
    assert studio.work_cap_message(studio.WORK_CAP) is None
    assert "chainsim run" in studio.work_cap_message(studio.WORK_CAP + 1)


def test_replications_default_to_the_model_clamped_to_the_slider():
    model = chainsim.load_model(BANK)
    assert studio.default_replications(model) == 20
    assert studio.default_replications(model.with_changes({"run.replications": 100_000})) == 200
    assert studio.default_replications(model.with_changes({"run.replications": 1})) == 2
    assert studio.REPLICATIONS_RANGE == (2, 200)


def test_kpi_units_follow_the_model():
    model = chainsim.load_model(BANK)
    units = {h.kind: studio.kpi_unit(h.kind, model) for h in plots.HEADLINES}
    assert units == {"time": "minutes", "share": "share", "count": "customers", "money": "EUR"}


def test_shift_levers_become_a_shift_pattern_before_hiring():
    model = chainsim.load_model(BANK)
    ranges = {r.key: r for r in studio.lever_ranges(model)}
    lunch = ranges["shift.front_desk.1"]
    assert (lunch.label, lunch.baseline, lunch.low, lunch.high) == ("Front desk staff 12:00–14:00", 4, 0, 8)
    assert not any(k.startswith("shift.compliance") for k in ranges)  # no schedule, no shift levers
    s = studio.Scenario.baseline(model).with_lever("shift.front_desk.1", 5).with_lever("staff.front_desk", 7)
    levers = s.levers(model)
    assert [lever["lever"] for lever in levers] == ["shift_pattern", "add_staff"]
    assert [w["staff"] for w in levers[0]["schedule"]] == [6, 5, 6, 2]
    changed = s.apply(model)
    assert [w.staff for w in changed.departments["front_desk"].schedule] == [7, 6, 7, 3]  # +1 on every shift
    assert s.describe(model) == "Front desk shifts 6/4/6/2 -> 6/5/6/2; Front desk +1 staff"
    assert studio.Scenario.baseline(model).with_lever("shift.front_desk.1", 4).levers(model) == []
    claims = chainsim.load_model(ROOT / "models" / "insurance_claims.yaml")
    assert studio.window_text(8, 18, claims) == "day 1, 8–18 h"  # claims' 'day' is a week of hours
    assert studio.window_text(32, 42, claims) == "day 2, 8–18 h"  # it read '32–42 h' under 'h:mm'
    assert studio.window_caption(claims) == "day of the 168-hour cycle, then hours into that day"
    hours = chainsim.load_model(ROOT / "models" / "hello_chain.yaml").with_changes({"time_unit": "hour"})
    assert hours.day_length == 24 and studio.window_text(8, 18, hours) == "8–18 h"


def test_a_day_that_starts_at_a_clock_time_reads_in_clock_times_and_runs_the_same():
    """The bank's lunch read '3:00–5:00' (hours since opening: a night shift, to a client). With
    run.day_starts_at, shift windows and a day's queue chart read as clock times; nothing else changes."""
    bank = chainsim.load_model(BANK)
    assert [studio.window_text(w.start, w.end, bank) for w in bank.departments["front_desk"].schedule] == [
        "9:00–12:00", "12:00–14:00", "14:00–17:00", "17:00–19:00"]
    assert studio.window_caption(bank) == "clock times: the day starts at 09:00"
    assert studio.window_text(0, 180, bank.with_changes({"run.day_starts_at": "22:30"})) == "22:30–1:30"
    assert studio.window_text(900, 1440, bank.with_changes({"run.day_starts_at": "00:00"})) == "15:00–24:00"
    claims = chainsim.load_model(ROOT / "models" / "insurance_claims.yaml")
    assert studio.window_text(32, 42, claims.with_changes({"run.day_starts_at": "02:00"})) == "day 2, 10:00–20:00"
    plain = bank.with_changes({"run.day_starts_at": None})
    assert studio.window_text(180, 300, plain) == "3:00–5:00"

    runs = chainsim.simulate(bank, replications=2)
    assert runs.kpis == chainsim.simulate(plain, replications=2).kpis  # labels only
    figure = plots.queue_figure({"Baseline": runs})
    assert figure.layout.xaxis.title.text == "time of day (h:mm)"
    assert list(figure.layout.xaxis.ticktext) == [f"{h}:00" for h in range(9, 18)]  # 8 hours, hour by hour
    assert figure.data[0].customdata[0] == "9:00" and "%{customdata}" in figure.data[0].hovertemplate
    two_days = plots.queue_figure({"Baseline": chainsim.simulate(bank.with_changes({"run.horizon": 2880}), 2)})
    assert list(two_days.layout.xaxis.ticktext) == ["day 1", "day 2"]  # not 25 clock times


@pytest.mark.parametrize("value, message", [
    ("9:00", "run.day_starts_at: write a clock time from '00:00' to '23:59' in quotes, e.g. day_starts_at: "
             "'09:00' (unquoted, YAML reads 9:00 as the number 540); got 540"),
    ("'24:00'", "run.day_starts_at: write a clock time from '00:00' to '23:59' in quotes, e.g. day_starts_at: "
                "'09:00'; got '24:00'"),
    ("'9h'", "run.day_starts_at: write a clock time from '00:00' to '23:59' in quotes, e.g. day_starts_at: "
             "'09:00'; got '9h'"),
    ("'٠٩:٠٠'", "run.day_starts_at: write a clock time from '00:00' to '23:59' in quotes, e.g. day_starts_at: "
                "'09:00'; got '٠٩:٠٠'"),  # other scripts' digits were kept as typed
])
def test_a_clock_time_that_is_not_one_names_the_field_and_the_fix(tmp_path, value, message):
    text = BANK.read_text().replace("day_starts_at: '09:00'", f"day_starts_at: {value}")
    with pytest.raises(chainsim.ModelError) as err:
        chainsim.model_from_text(text)
    assert [str(p) for p in err.value.problems] == [message]


def test_a_clock_time_in_a_model_of_seconds_is_refused():
    seconds = BANK.read_text().replace("time_unit: minute", "time_unit: second")
    with pytest.raises(chainsim.ModelError, match="run.day_starts_at: clock times are for models in minutes or "
                                                  "hours .this one is in seconds.: remove day_starts_at"):
        chainsim.model_from_text(seconds)


def test_sweep_values_sit_on_the_sliders_steps_and_include_the_value_as_modelled():
    def lever(low, high, step, baseline):
        return studio.LeverRange("k", "K", low, high, step, baseline, "x", "")

    # 0.25..3 in 3 points is 0.25, 1.625, 3: 1.625 is no step of 0.05 (the slider could not be set to it)
    assert studio.sweep_values(lever(0.25, 3.0, 0.05, 1.0), 3) == [0.25, 1.0, 1.65, 3.0]
    assert studio.sweep_values(lever(-50, 100, 5, 0), 6) == [-50, -20, 0, 10, 40, 70, 100]
    assert studio.sweep_values(lever(0.0, 0.3, 0.01, 0.08), 3) == [0.0, 0.08, 0.15, 0.3]
    assert studio.sweep_values(lever(1, 7, 1, 4), 3) == [1, 4, 7]  # already a point: not twice
    assert studio.sweep_values(lever(1, 7, 1, 9), 3) == [1, 4, 7]  # outside the range: not added
    assert studio.sweep_values(lever(0.0, 2.79, 0.05, 1.0), 6)[-1] == 2.79  # snapped to 2.8, past the top


def test_a_sweep_grid_runs_in_a_stable_order_and_tabulates_its_ci(bank_runs):
    model = chainsim.load_model(BANK)
    ranges = {r.key: r for r in studio.lever_ranges(model)}
    sweep = studio.Sweep.over([ranges["staff.it"], ranges["clarify_factor"]], 3)
    # IT 1, 3, 6 and 2 as modelled; unclear requests 0, 1 (as modelled too), 2.
    assert sweep.points() == [(1.0, 0.0), (1.0, 1.0), (1.0, 2.0), (2.0, 0.0), (2.0, 1.0), (2.0, 2.0),
                              (3.0, 0.0), (3.0, 1.0), (3.0, 2.0), (6.0, 0.0), (6.0, 1.0), (6.0, 2.0)]
    assert sweep.describe((4.0, 0.5)) == "IT staff = 4, Unclear requests = 0.5"
    models = sweep.models(studio.Scenario.baseline(model), model)
    assert [m.departments["it"].staff for m in models[::3]] == [1, 2, 3, 6]
    done = []
    results = studio.run_sweep(models, lambda m, i: bank_runs["Scenario" if i in (1, 2) else "Baseline"],
                               lambda n, total: done.append((n, total)))
    assert done == [(i, 12) for i in range(1, 13)]
    table = sweep.table(results, "external.queueing.mean")
    mean, lo, hi = bank_runs["Scenario"].kpi("external.queueing.mean")
    assert table.loc[1, ["mean", "ci_low", "ci_high", "half_width"]].tolist() == pytest.approx(
        [mean, lo, hi, (hi - lo) / 2])
    with pytest.raises(ValueError, match="one or two levers"):
        studio.Sweep.over(list(ranges.values())[:3], 3)
    head = plots.HEADLINES[0]
    assert head.label == "Waiting in queues"
    fig = plots.sweep_figure(sweep, table, head, "minutes")
    assert [t.type for t in fig.data[:2]] == ["heatmap", "heatmap"]
    heat = fig.data[1]  # the half-width panel: rows are the second lever, columns the first
    cells = {(float(x), float(y)): heat.z[i][j] for i, y in enumerate(heat.y) for j, x in enumerate(heat.x)}
    assert cells == pytest.approx({(r.x, r.y): r.half_width for r in table.itertuples()})
    titles = [fig.layout[a].title.text for a in ("xaxis", "yaxis", "xaxis2", "yaxis2")]
    assert titles == ["IT staff (people)", "Unclear requests (x baseline)"] * 2
    assert fig.layout.title.text and "%{customdata" in fig.data[0].hovertemplate
    line = plots.sweep_figure(studio.Sweep.over([ranges["staff.it"]], 3), table.drop(columns="y").head(3),
                              head, "minutes")
    assert line.layout.xaxis.title.text == "IT staff (people)" and line.layout.yaxis.title.text.endswith("(minutes)")


def test_sweep_cap_names_the_grid_and_the_experiment_command():
    assert studio.sweep_cap_message(studio.WORK_CAP, 9, 20) is None
    message = studio.sweep_cap_message(studio.WORK_CAP + 1, 77, 20)
    assert "(77 runs x 20 replications" in message and "chainsim experiment" in message


def test_saved_scenarios_share_the_baseline_replications_and_seed(bank_runs):
    saved = {}
    studio.save_scenario(saved, "Clearer forms", bank_runs)
    assert saved["Clearer forms"][1].kpis == bank_runs["Scenario"].kpis
    assert list(studio.saved_comparison(saved, bank_runs)) == ["Baseline", "Clearer forms"]
    assert studio.saved_comparison(saved, None) == {}
    other = {"Baseline": chainsim.simulate(bank_runs["Baseline"].model, replications=2)}
    assert studio.baseline_key(other) != studio.baseline_key(bank_runs)
    assert studio.saved_comparison(saved, other) == {}  # fewer replications: not comparable


def test_chain_edges_follow_journeys_handoffs_and_nested_consults():
    model = chainsim.load_model(BANK)
    edges = {(e.source, e.target, e.kind) for e in plots.chain_edges(model)}
    assert edges == {
        ("class:walk_in", "front_desk", "enters"),
        ("front_desk", "back_office", "handoff"), ("front_desk", "it", "handoff"),  # the branch may skip
        ("back_office", "it", "handoff"),
        ("front_desk", "compliance", "consult"), ("compliance", "it", "consult"),  # nested consult
    }


def test_headline_change_is_paired_and_every_axis_has_a_unit(bank_runs):
    cards = plots.headline_cards(bank_runs)
    base, scen = bank_runs["Baseline"], bank_runs["Scenario"]
    card = next(c for c in cards["Scenario"] if c.headline.kpi == "external.time_in_system.mean")
    diffs = [b["external.time_in_system.mean"] - a["external.time_in_system.mean"]
             for a, b in zip(base.kpis, scen.kpis, strict=True)]
    assert card.change[0] == pytest.approx(sum(diffs) / len(diffs))
    assert card.change[1] < card.change[0] < card.change[2]
    figures = [plots.time_in_system_figure(bank_runs), plots.attribution_figure(bank_runs),
               plots.utilisation_figure(bank_runs), plots.queue_figure(bank_runs)]
    for fig in figures:
        assert fig.layout.title.text
        axes = [fig.layout[name] for name in fig.layout if name.startswith(("xaxis", "yaxis"))]
        values = [ax.title.text for ax in axes if ax.title.text and ax.title.text != "department / run"]
        assert values and all("(" in t or " per " in t for t in values), values  # a unit on every value axis
    colours = plots.department_colours(base.model)
    queue = plots.queue_figure(bank_runs)
    assert {t.name: t.line.color for t in queue.data if t.showlegend} == {
        base.model.label(d): c for d, c in colours.items()}


def test_mean_queue_over_the_whole_run_equals_the_queue_length_kpi():
    results = chainsim.simulate(chainsim.load_model(BANK), replications=1)
    end = results.records[0].end
    means = plots._mean_queue(results, np.array([0.0, end / 2, end]))
    for d in results.model.departments:
        kpi = results.kpis[0][f"department.{d}.queue_length.mean"]
        assert means[d].mean() == pytest.approx(kpi, rel=1e-9, abs=1e-12)


def test_report_embeds_plotly_once_and_names_the_model(bank_runs, tmp_path):
    html = build_report(bank_runs, "unclear requests x0.5")
    assert html.count("plotly.js v") == 1  # the bundle's licence header: inline, exactly once
    assert html.count("Plotly.newPlot(") == 5  # chain, time in system, attribution, utilisation, queues
    external = re.findall(r"<(?:script|link)[^>]*(?:src|href)=[^>]*>", html)
    assert external == []  # nothing to fetch: readable offline
    assert "Retail bank - account opening" in html and "unclear requests x0.5" in html
    assert "The chain (baseline)" in html  # under the scenario's heading it read as the scenario's chain


def test_report_keeps_each_runs_warnings_with_its_label():
    model = chainsim.load_model(BANK)
    cut = studio.Scenario.baseline(model).with_lever("staff.compliance", model.departments["compliance"].staff - 2)
    runs = {"Baseline": chainsim.simulate(model, replications=2),
            "Scenario": chainsim.simulate(cut.apply(model), replications=2)}
    assert not runs["Baseline"].warnings and runs["Scenario"].warnings  # only the cut overloads Compliance
    html = build_report(runs)
    for warning in runs["Scenario"].warnings:
        assert f"warning (Scenario): {escape(warning)}" in html


def test_cli_report_writes_a_stand_alone_file(tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(BANK), "--out", str(out), "--replications", "3"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000  # plotly.js is inside
    assert "Where the time goes" in out.read_text()
    bad = CliRunner().invoke(cli, ["report", str(tmp_path / "missing.yaml"), "--out", str(out)])
    assert bad.exit_code == 2 and "file not found" in bad.output


@pytest.mark.parametrize("path", studio.model_files(), ids=lambda p: p.name)
def test_every_bundled_model_opens_and_runs_in_the_app(path):
    at = _app()
    at.sidebar.selectbox[0].set_value(path).run()
    at.sidebar.slider(key="replications").set_value(2).run()
    assert not at.error and not at.exception, (_errors(at), at.exception)
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert _metric(at, "Time in system").value.split()[0] != "–"
    assert len(at.get("plotly_chart")) >= 5  # chain, ECDF, attribution, utilisation, queues
