"""The what-if studio through Streamlit's AppTest, plus its non-UI helpers, figures, report and CLI.

AppTest runs app.py in this process: widgets are set as a user would, then the script reruns.
Numbers shown are checked against chainsim.simulate on the same model, so the app cannot show a
stale or wrong run and still pass.
"""

from __future__ import annotations

import re
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
    assert not at.metric and not at.button  # nothing to run until the file is fixed


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
    assert "chainsim run scenario.yaml" in message


def test_a_sweep_runs_within_the_cap_and_draws_a_chart():
    at = _app()
    at.sidebar.slider(key="replications").set_value(4).run()
    at.selectbox(key="sweep_lever").set_value("staff.it").run()
    at.slider(key="sweep_points").set_value(3).run()
    charts_before = len(at.get("plotly_chart"))
    at.button(key="run_sweep").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == charts_before + 1
    table = at.session_state["sweep"][2]
    assert list(table["value"]) == [1.0, 4.0, 6.0]  # IT staff from 1 to max(2 x 2, 2 + 4)
    waits = list(table["mean"])
    assert waits[0] > waits[1] >= waits[2]  # more IT staff, less waiting


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
