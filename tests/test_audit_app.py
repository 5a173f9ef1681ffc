"""The what-if studio's answers to a fourth audit, through Streamlit's AppTest as in test_app.py:
another model's results under a new model's name, a saved scenario taking the baseline's row or
replacing another, the bundled choice ignored under an upload, cards and sweeps that could not say
why they were empty, sliders that could not go together, shift changes past the work cap,
departments sharing a label drawn as one bar, names read as markdown or LaTeX, a long chain and a
big department in the diagram, a run stopped by a cap hiding the page, the unclear-requests slider
past a chance of 1, the run on screen simulated again after a sweep, and saved scenarios of other
settings seemingly gone. The downloads are checked in a real Chromium (tests/test_browser.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from test_app import BANK, _app, _errors, _metric

import chainsim
from chainsim import plots, studio
from chainsim.model import clock_events

HELLO = BANK.parent / "hello_chain.yaml"


def _texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def _edit(at, text: str):
    at.text_area(key="yaml_text").input(text).run()
    assert not at.exception, at.exception
    return at


# --- 1. results of one model are not shown under another ------------------------------------------


def test_results_of_another_model_are_not_shown_under_the_new_one_and_come_back_with_it():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    bank_wait = _metric(at, "Waiting in queues").value

    at.sidebar.selectbox[0].set_value(HELLO).run()
    assert not at.exception, at.exception
    assert not at.metric  # the bank's cards used to stay, under Hello chain's title
    assert "The last results are for another model: **Retail bank - account opening**" in _texts(at.info)
    assert list(at.dataframe[0].value.index) == ["Front desk", "Back office"]  # the estimate is Hello chain's
    assert not any("settings changed" in w.value for w in at.warning)

    at.sidebar.selectbox[0].set_value(BANK).run()
    assert at.sidebar.slider(key="replications").value == 2  # the settings come back with the model too
    assert _metric(at, "Waiting in queues").value == bank_wait  # kept: back with its model, no click


def test_levers_replications_and_seed_come_back_with_their_model():
    at = _app()
    at.sidebar.slider(key="replications").set_value(3).run()
    at.sidebar.number_input(key="seed").set_value(123).run()
    at.sidebar.slider(key="lever:staff.it").set_value(3).run()
    at.button(key="run").click().run()
    it_hire = _metric(at, "Waiting in queues").value

    at.sidebar.selectbox[0].set_value(HELLO).run()
    assert at.sidebar.slider(key="replications").value == 20  # Hello chain's own settings
    at.sidebar.selectbox[0].set_value(BANK).run()
    assert not at.exception, at.exception
    assert (at.sidebar.slider(key="replications").value, at.sidebar.number_input(key="seed").value,
            at.sidebar.slider(key="lever:staff.it").value) == (3, 123, 3)  # they used to go back to the file's
    assert not any("settings changed" in w.value for w in at.warning)
    assert _metric(at, "Waiting in queues").value == it_hire


def test_an_edit_of_the_file_keeps_the_levers_it_leaves_alone():
    at = _app()
    at.sidebar.slider(key="replications").set_value(3).run()
    at.sidebar.slider(key="lever:staff.it").set_value(3).run()
    at.sidebar.slider(key="lever:staff.back_office").set_value(3).run()
    at.button(key="run").click().run()
    bank = BANK.read_text()

    _edit(at, bank.replace("mean: 60}", "mean: 45}", 1))  # a patience tweak: every lever still means the same
    assert (at.sidebar.slider(key="replications").value, at.sidebar.slider(key="lever:staff.it").value,
            at.sidebar.slider(key="lever:staff.back_office").value) == (3, 3, 3)
    assert not at.sidebar.info
    assert "The last results are for the model as it was before the last edit" in _texts(at.info)

    edited = bank.replace("    staff: 2\n", "    staff: 3\n", 1)  # IT's own staff, 2 -> 3 in the file
    assert edited != bank
    _edit(at, edited)
    assert (at.sidebar.slider(key="lever:staff.it").value, at.sidebar.slider(key="lever:staff.back_office").value) \
        == (3, 3)  # IT at its new baseline (the +1 is in the file now), back office as left
    assert "went back to it: IT staff" in _texts(at.sidebar.info)


# --- 2. saving never takes the baseline's row nor replaces another scenario ---------------------------


def _save(at, scenario: str, name: str) -> None:
    """Type `name` into the save box of the scenario described as `scenario`, and press Save."""
    at.text_input(key=f"save_name:{scenario}").input(name).run()
    at.button(key="save").click().run()


def _run_scenario(at, it_staff: int) -> None:
    at.sidebar.slider(key="lever:staff.it").set_value(it_staff).run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception


def test_a_saved_scenario_cannot_take_the_baselines_row():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    _run_scenario(at, 3)
    _save(at, "IT +1 staff", "Baseline")
    assert not at.exception, at.exception
    assert "**Name:** “Baseline” is the comparison's row for the model as written" in _errors(at)
    assert at.session_state["saved"] == {}  # it used to replace the baseline row with the scenario's numbers

    _save(at, "IT +1 staff", "   ")
    assert "give the scenario a name" in _errors(at) and at.session_state["saved"] == {}


def test_saving_under_a_taken_name_keeps_both_scenarios():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    _run_scenario(at, 3)
    _save(at, "IT +1 staff", "Hire")
    _run_scenario(at, 4)
    _save(at, "IT +2 staff", "Hire")
    assert not at.exception, at.exception
    assert list(at.session_state["saved"]) == ["Hire", "Hire (2)"]  # the first used to be replaced silently
    assert "Saved as “Hire (2)”: “Hire” already names another saved scenario, which is kept." in _texts(at.info)
    table = at.dataframe[-1].value
    assert list(table.index) == ["Baseline", "Hire", "Hire (2)"]
    assert table.loc["Hire (2)", "Waiting in queues"].startswith(_metric(at, "Waiting in queues").value)

    at.button(key="save").click().run()  # the same scenario again: it keeps its name, no third row
    assert list(at.session_state["saved"]) == ["Hire", "Hire (2)"]


# --- 3. an upload in use says the bundled choice does nothing -------------------------------------------


def test_the_bundled_choice_is_disabled_while_an_upload_is_in_use():
    at = _app()
    assert not at.sidebar.selectbox[0].disabled
    at.sidebar.file_uploader[0].upload("mine.yaml", HELLO.read_bytes(), "text/yaml").run()
    assert not at.exception, at.exception
    box = at.sidebar.selectbox[0]
    assert box.disabled and "Remove the uploaded file" in box.help  # picking one used to change nothing
    assert "**Hello chain**" in at.caption[0].value


# --- 4. a card without a number says why ---------------------------------------------------------------


def _small(arrivals: dict, sla: float | None = None) -> str:
    customers = {"arrivals": arrivals, "journey": [{"serve": "a", "time": {"dist": "exponential", "mean": 5}}]}
    if sla is not None:
        customers["sla"] = sla
    return yaml.safe_dump({"name": "Small", "run": {"horizon": 480, "replications": 2, "seed": 1},
                           "departments": {"a": {"staff": 1}}, "customers": {"c": customers}})


def _card_notes(at) -> dict[str, str]:
    """Each card's help after what the KPI counts: its CI, or why it has no value."""
    meanings = {h.label: h.meaning for h in plots.HEADLINES}
    notes = {}
    for m in at.metric:
        label = m.label.partition(", per ")[0]  # totals over the run say over how long
        meaning, _, rest = m.help.partition(" · ")
        assert meaning == meanings[label]
        notes[label] = rest
    return notes


def test_a_card_without_a_number_says_why_not_that_it_needs_replications():
    at = _edit(_app(), _small({"profile": [{"from": 600, "to": 700, "rate": 0.1}]}, sla=10))  # none arrive by 480
    at.button(key="run").click().run()
    notes = _card_notes(at)
    assert _metric(at, "Time in system").value == "–"
    assert notes["Time in system"].startswith("no customers to measure in any replication")  # was "needs 2+"
    assert not any("needs" in note for note in notes.values())

    at = _edit(_app(), _small({"rate": 0.1}))  # customers, but no class sets an SLA
    at.button(key="run").click().run()
    notes = _card_notes(at)
    assert _metric(at, "Within SLA").value == "–"
    assert notes["Within SLA"] == "not measured: no customer class sets an `sla` in the model file"
    assert notes["Time in system"].startswith("95% CI")


def test_a_sweep_of_a_kpi_without_values_says_why_instead_of_an_empty_chart():
    at = _edit(_app(), _small({"rate": 0.1}))  # no class sets an SLA
    at.selectbox(key="sweep_kpi").set_value("external.within_sla").run()
    at.slider(key="sweep_points").set_value(3).run()
    charts = len(at.get("plotly_chart"))
    at.button(key="run_sweep").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == charts  # it drew an empty chart
    assert ("Within SLA has no value at any point of this sweep: not measured: no customer class sets an `sla`"
            in _texts(at.info))
    at.selectbox(key="sweep_kpi").set_value("external.time_in_system.mean").run()
    assert len(at.get("plotly_chart")) == charts + 1


# --- 5. sliders that cannot go together -----------------------------------------------------------------


def test_sliders_that_cannot_go_together_name_the_slider_and_keep_the_results():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    shown = _metric(at, "Time in system").value
    for window in range(4):  # every shift of the front desk to zero
        at.sidebar.slider(key=f"lever:shift.front_desk.{window}").set_value(0).run()
    assert not at.exception, at.exception
    errors = _errors(at)
    assert "The scenario in the sidebar cannot run" in errors
    # It used to name the model field departments.front_desk.staff and the lever shift_pattern.
    assert ("`Front desk shift sliders (Shifts)`: every shift is at 0, so nobody is on duty to do its work: move a "
            "shift above 0, or press Reset levers") in errors
    assert "shift_pattern" not in errors and "departments." not in errors
    at.sidebar.slider(key="lever:staff.front_desk").set_value(5).run()  # then one person fewer: the same cause
    assert "`Front desk shift sliders (Shifts)`: every shift is at 0" in _errors(at)
    assert "Front desk staff" not in _errors(at)
    assert at.button(key="run").disabled  # a click would run the baseline alone
    assert _metric(at, "Time in system").value == shown  # the page and its results stay
    assert any("settings changed since the last run" in w.value for w in at.warning)
    assert len(at.tabs) == 5

    at.sidebar.button(key="reset_levers").click().run()
    assert not at.error and not at.button(key="run").disabled


# --- 6. the work cap counts shift changes ---------------------------------------------------------------


def test_the_work_cap_counts_shift_changes_so_a_click_cannot_run_for_minutes():
    # Next to no customers; 20 departments change shift 4 times a 480-minute day over 10 million
    # minutes: 3 s a replication, 10 minutes a click at 200 replications, where customers count 0.
    shifts = [{"from": 0, "to": 100, "staff": 1}, {"from": 100, "to": 200, "staff": 2},
              {"from": 200, "to": 300, "staff": 1}, {"from": 300, "to": 480, "staff": 3}]
    text = yaml.safe_dump({
        "name": "Shifts", "run": {"horizon": 1e7, "replications": 200, "seed": 1, "day_length": 480},
        "departments": {f"d{i}": {"schedule": [dict(s) for s in shifts]} for i in range(20)},
        "customers": {"c": {"arrivals": {"rate": 1e-7}, "journey": [{"serve": "d0", "time": {"dist": "fixed", "value": 1}}]}}})
    model = chainsim.model_from_text(text)
    assert studio.customers_per_replication(model) < 2
    # The horizon and as long again to drain: 41,667 days, 4 windows opening and closing, 20 departments.
    assert sum(n for n, _, _ in clock_events(model)) == pytest.approx(20 * 8 * 2e7 / 480)
    at = _edit(_app(), text)
    assert at.button(key="run").disabled
    assert "the app starts at most 120,000" in _texts(at.warning)


# --- 7. departments labelled alike stay apart --------------------------------------------------------------


def test_departments_labelled_alike_get_their_own_bars_sliders_and_rows():
    text = BANK.read_text().replace("label: IT", "label: Compliance")
    model = chainsim.model_from_text(text)
    labels = studio.department_labels(model)
    assert labels == {"front_desk": "Front desk", "compliance": "Compliance (compliance)", "it": "Compliance (it)",
                      "back_office": "Back office"}
    runs = {"Baseline": chainsim.simulate(model, replications=2)}
    bars = plots.attribution_figure(runs).data[0]
    assert len(set(bars.y[0])) == 4  # plotly drew both departments' minutes as one "Compliance" bar
    assert len(set(plots.utilisation_figure(runs).data[0].x[0])) == 4
    at = _edit(_app(), text)
    assert list(at.dataframe[0].value.index) == list(labels.values())
    assert at.sidebar.slider(key="lever:staff.it").label == "Compliance (it) staff"


# --- 8. names are shown as typed ---------------------------------------------------------------------------


def test_names_with_markdown_or_latex_marks_are_shown_as_typed():
    # Streamlit read '$office$' as LaTeX and '*2*' as italics, and a trailing space broke the bold.
    text = HELLO.read_text().replace("name: Hello chain", "name: 'Claims *urgent* '").replace(
        "label: Back office", "label: 'Back $office$ *2*'")
    at = _edit(_app(), text)
    at.sidebar.slider(key="lever:staff.back_office").set_value(2).run()
    assert at.caption[0].value.startswith(r"**Claims \*urgent\*** · 2 departments")
    assert r"**Scenario:** Back \$office\$ \*2\* +1 staff" in _texts(at.markdown)
    assert at.sidebar.slider(key="lever:staff.back_office").label == r"Back \$office\$ \*2\* staff"
    assert studio.department_labels(chainsim.model_from_text(text))["back_office"] == "Back $office$ *2*"  # charts: as is


# --- 9. a long chain gets the page's width and names that fit -------------------------------------------------


def _long_chain() -> str:
    """20 departments with long names: ten steps, each consulting the next department."""
    name = "Abteilung Nr. {} – Übergabe & Prüfung"
    departments = {f"d{i}": {"staff": 2, "label": name.format(i)} for i in range(20)}
    journey = [{"serve": f"d{i}", "time": {"dist": "exponential", "mean": 3},
                "consult": {"request": f"d{i + 1}", "time": {"dist": "exponential", "mean": 2}}} for i in range(0, 20, 2)]
    return yaml.safe_dump({"name": "Long chain", "run": {"horizon": 480, "replications": 2, "seed": 1},
                           "departments": departments, "customers": {"c": {"arrivals": {"rate": 0.05},
                                                                           "journey": journey}}}, allow_unicode=True)


def test_a_long_chain_takes_the_pages_width_and_its_names_fit_their_columns():
    # Eleven columns of nodes squeezed beside the estimate table ran the whole names into one another.
    at = _app()
    assert len(at.tabs[0].columns) == 2  # the bank's short chain: beside the estimate
    at = _edit(at, _long_chain())
    assert len(at.tabs[0].columns) == 0 and len(at.tabs[0].get("plotly_chart")) == 1  # the chain alone, full width
    model = chainsim.model_from_text(_long_chain())
    assert plots.chain_columns(model) > plots.WIDE_CHAIN_COLUMNS
    nodes = plots.chain_figure(model).data[-1]
    assert nodes.text[0] == "Abteilung<br>Nr. 0 –… (2)"  # two short lines, cut with an ellipsis
    names = [text.rsplit(" (", 1)[0] for text in nodes.text]  # without the staff count
    assert all(len(line) <= 10 for name in names for line in name.split("<br>"))
    # the whole name on hover (plotly shows &amp; as &)
    assert nodes.hovertext[0].startswith("Abteilung Nr. 0 – Übergabe &amp; Prüfung<br>")
    bank = plots.chain_figure(chainsim.load_model(BANK)).data[-1]
    assert list(bank.text) == ["Front desk (6)", "Compliance (3)", "IT (2)", "Back office (2)"]  # short names: whole


def test_a_long_name_without_spaces_is_cut_to_its_column_too():
    # A compound word (common in German) was never broken, so it still ran into its neighbours.
    lines = plots._shorten("Kundenauftragsabwicklungsabteilung", 10).split("<br>")
    assert len(lines) == 2 and all(len(line) <= 10 for line in lines) and lines[1].endswith("…")


def test_a_big_department_does_not_cover_the_chain():
    # A call centre of 300 agents drew a 178 px disc over its neighbours; the number says the size.
    model = chainsim.load_model(BANK).with_changes({"departments.compliance.staff": 300})
    nodes = plots.chain_figure(model).data[-1]
    assert max(nodes.marker.size) == plots.MAX_NODE_SIZE and "Compliance (300)" in nodes.text
    assert nodes.marker.size[2] < nodes.marker.size[0] < plots.MAX_NODE_SIZE  # IT (2) < front desk (6): still by size


def _nodes(figure) -> np.ndarray:
    return np.array([(x, y) for trace in figure.data if trace.mode == "markers+text"
                     for x, y in zip(trace.x, trace.y, strict=True)])


def _drawn_arrows(figure) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each arrow of a chain figure as (points along it, the centres of the two nodes it joins)."""
    nodes = _nodes(figure)
    bows = [np.column_stack([trace.x, trace.y]) for trace in figure.data if trace.meta == "edge"]
    arrows = []
    for a in figure.layout.annotations:
        tip, tail = np.array([a.x, a.y]), np.array([a.ax, a.ay])
        bow = next((b for b in bows if np.isclose(b, tail).all(axis=1).any()), None)  # the arrow goes on from it
        line = np.linspace(tail, tip, 50) if bow is None else np.vstack([bow, np.linspace(tail, tip, 50)])
        start = nodes[np.argmin(np.linalg.norm(nodes - line[0], axis=1))]
        arrows.append((line, np.array([start, tip])))
    assert sum(len(line) > 50 for line, _ in arrows) == len(bows)  # each bow found its arrowhead
    return arrows


def _long_skip() -> chainsim.Model:
    """Six departments in a row; the first consults the last, past the four between."""
    step = lambda d: {"serve": d, "time": {"dist": "exponential", "mean": 1}}  # noqa: E731
    journey = [{**step("d0"), "consult": {"request": "d5", "time": {"dist": "exponential", "mean": 1}}}]
    return chainsim.model_from_text(yaml.safe_dump({
        "name": "skip", "run": {"horizon": 100}, "departments": {f"d{i}": {"staff": 1} for i in range(6)},
        "customers": {"c": {"arrivals": {"rate": 0.1}, "journey": journey + [step(f"d{i}") for i in range(1, 6)]}}}))


@pytest.mark.parametrize("name", sorted(p.stem for p in BANK.parent.glob("*.yaml")) + ["long skip"])
def test_no_arrow_of_the_chain_runs_through_a_department_it_does_not_join(name):
    # E-commerce: customer service's consult of the warehouse ran straight over billing and hid billing's
    # handoff to the warehouse (it read as billing consulting the warehouse). An arrow past a node in
    # between now bows around it. A quarter of a column or row: node discs are at most ~0.2 across.
    model = _long_skip() if name == "long skip" else chainsim.load_model(BANK.parent / f"{name}.yaml")
    figure = plots.chain_figure(model)
    arrows, nodes = _drawn_arrows(figure), _nodes(figure)
    assert len(arrows) == len(plots.chain_edges(model))
    for line, ends in arrows:
        others = [n for n in nodes if not any(np.allclose(n, e) for e in ends)]
        if others:
            gap = np.linalg.norm(line[:, None, :] - np.array(others)[None], axis=2).min()
            assert gap >= 0.25, (name, ends.tolist())
    low, high = figure.layout.yaxis.range
    assert all(low <= y <= high for trace in figure.data if trace.meta == "edge" for y in trace.y)


# --- 10. a run stopped by a cap keeps the page --------------------------------------------------------------


def test_a_run_stopped_by_a_cap_says_which_run_and_keeps_the_results_on_the_page():
    at = _edit(_app(), BANK.read_text().replace("horizon: 480,", "horizon: 480, max_customers: 180,"))
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    shown = _metric(at, "Time in system").value  # about 106 customers a replication: under the cap
    at.sidebar.slider(key="lever:demand_growth").set_value(100.0).run()  # about 211 in the scenario: over it
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    errors = _errors(at)
    assert "**The run stopped.** Scenario: more than run.max_customers = 180 customers arrived" in errors
    assert "demand growth" in errors and "Results computed before stay below" in errors
    assert _metric(at, "Time in system").value == shown and len(at.tabs) == 5  # the page used to stop here
    assert any("settings changed since the last run" in w.value for w in at.warning)


# --- 11. the unclear-requests slider stops before a chance of 1 -----------------------------------------------


def test_the_unclear_requests_slider_stops_where_the_scenario_can_still_run():
    # At clarify p 0.6 the slider went to x2 and a chance of 1.2, which the scenario refused.
    at = _edit(_app(), BANK.read_text().replace("clarify: {p: 0.15", "clarify: {p: 0.6"))
    slider = at.sidebar.slider(key="lever:clarify_factor")
    assert slider.max == 1.55  # 0.6 x 1.55 = 0.93, below studio.CLARIFY_MAX = 0.95
    slider.set_value(slider.max).run()
    assert not at.exception and not at.error, (at.exception, _errors(at))
    assert "unclear requests x1.55" in _texts(at.markdown)
    assert _edit(_app(), BANK.read_text()).sidebar.slider(key="lever:clarify_factor").max == 2.0  # at p 0.15: x2


# --- 12. the run on screen is not simulated again after a sweep --------------------------------------------


def test_the_run_on_screen_is_not_simulated_again_once_a_sweep_pushed_it_from_the_cache(monkeypatch):
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    at.button(key="run").click().run()
    shown = _metric(at, "Time in system").value
    at.selectbox(key="sweep_lever").set_value("staff.compliance").run()
    at.selectbox(key="sweep_lever2").set_value("clarify_factor").run()
    at.slider(key="sweep_points").set_value(7).run()
    at.button(key="run_sweep").click().run()  # 48 new runs: more than the cache's 20 entries
    assert not at.exception, at.exception
    runs = []
    real = chainsim.simulate
    monkeypatch.setattr(chainsim, "simulate", lambda *a, **k: runs.append(a[0].name) or real(*a, **k))
    at.selectbox(key="sweep_kpi").set_value("churn.expected").run()  # only the sweep's chart changes
    assert runs == []  # the baseline on screen used to be simulated again here
    assert _metric(at, "Time in system").value == shown
    at.button(key="run").click().run()  # a click still runs (from the cache or afresh)
    assert _metric(at, "Time in system").value == shown


# --- 13. saved scenarios of other settings are said to be kept -----------------------------------------------


def test_saved_scenarios_of_other_settings_are_said_to_be_kept():
    at = _app()
    at.sidebar.slider(key="replications").set_value(2).run()
    _run_scenario(at, 3)
    at.button(key="save").click().run()
    assert list(at.dataframe[-1].value.index) == ["Baseline", "IT +1 staff"]
    at.sidebar.number_input(key="seed").set_value(8).run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert "1 saved scenario(s) made with another model, replications or seed are kept" in _texts(at.caption)
    at.sidebar.number_input(key="seed").set_value(7).run()  # back to the seed it was saved with
    assert list(at.dataframe[-1].value.index) == ["Baseline", "IT +1 staff"]
    assert "saved scenario(s) made with another" not in _texts(at.caption)


# --- edits to a model's YAML survive a look at another model ------------------------------------------


def test_yaml_edits_are_kept_when_switching_models_and_back_and_can_be_undone():
    """Switching to another bundled model and back used to put the file back, losing the edits."""
    bank = BANK.read_text()
    edited = bank.replace("compliance: {label: Compliance, staff: 3", "compliance: {label: Compliance, staff: 5")
    assert edited != bank
    at = _edit(_app(), edited)
    assert at.sidebar.slider(key="lever:staff.compliance").value == 5
    assert "Edited in the box above" in _texts(at.sidebar.caption)

    at.sidebar.selectbox[0].set_value(HELLO).run()
    assert at.text_area(key="yaml_text").value == HELLO.read_text()  # the other model as shipped
    assert "Edited in the box above" not in _texts(at.sidebar.caption)

    at.sidebar.selectbox[0].set_value(BANK).run()
    assert not at.exception, at.exception
    assert at.text_area(key="yaml_text").value == edited
    assert at.sidebar.slider(key="lever:staff.compliance").value == 5

    at.sidebar.button(key="revert_yaml").click().run()
    assert at.text_area(key="yaml_text").value == bank
    assert at.sidebar.slider(key="lever:staff.compliance").value == 3
    assert "Edited in the box above" not in _texts(at.sidebar.caption)
    at.sidebar.selectbox[0].set_value(HELLO).run()
    at.sidebar.selectbox[0].set_value(BANK).run()
    assert at.text_area(key="yaml_text").value == bank  # undone edits do not come back either


# --- labels are shown as typed in every chart ------------------------------------------------------------


def test_html_in_labels_and_scenario_names_is_shown_as_typed_in_the_charts():
    label = "Back <office> & <b>VIP</b> <a href='https://example.com'>link</a>"
    model = chainsim.load_model(HELLO).with_changes({"departments.back_office.label": label})
    scenario = model.with_changes({"departments.back_office.staff": 3})
    runs = {"Baseline": chainsim.simulate(model, replications=2), "<i>mine</i>": chainsim.simulate(scenario, replications=2)}
    lever = next(r for r in studio.lever_ranges(model) if r.key == "staff.back_office")
    figures = [plots.time_in_system_figure(runs), plots.attribution_figure(runs), plots.utilisation_figure(runs),
               plots.queue_figure(runs), plots.chain_figure(model),
               plots.sweep_line_figure(pd.DataFrame({"x": [2, 3], "mean": [1.0, 2.0], "ci_low": [0.5, 1.5],
                                                     "ci_high": [1.5, 2.5]}), lever, "Time in system", "minutes")]
    text = "\n".join(_strings(fig.to_dict()) for fig in figures)
    for tag in ("<b>", "<a ", "<office>", "<i>"):
        assert tag not in text  # plotly would draw them as bold, a link, ... (it reads its HTML subset in any text)
    assert "Back &lt;office&gt; &amp; &lt;b&gt;VIP&lt;/b&gt;" in text and "&lt;i&gt;mine&lt;/i&gt;" in text


def _strings(value) -> str:
    """Every string in a figure's dict, one per line."""
    if isinstance(value, str):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return "\n".join(_strings(item) for item in items)


# --- units, signs and what a card counts ------------------------------------------------------------------


def test_values_read_in_the_models_unit_and_a_change_too_small_to_show_has_no_sign():
    hours = chainsim.load_model(BANK.parent / "insurance_claims.yaml")
    assert hours.time_unit == "hour"
    assert plots.format_value(31.12, "time", hours) == "31.1 h"  # it read '31.1 hou'
    assert plots.format_value(-0.001, "time", hours, signed=True) == "0.0 h"  # it read '-0.0 hou'
    assert plots.format_value(-0.0004, "share", hours, signed=True) == "0.0 pp"
    assert plots.format_value(-702, "money", hours, signed=True) == f"-{hours.currency} 702"  # as 'EUR 1,434'
    assert plots.format_value(0.04, "share", hours, signed=True) == "+4.0 pp"
    figure = plots.time_in_system_figure({"Baseline": chainsim.simulate(hours, replications=2)})
    assert [a.text for a in figure.layout.annotations] == ["SLA 72 h", "SLA 240 h"]
    assert figure.data[0].hovertemplate == "%{y:.0%} within %{x:.1f} h"  # it read '(222.4493, 94%)'


def test_revenue_at_risk_without_a_value_says_not_measured_and_cards_say_what_they_count():
    at = _edit(_app(), _small({"rate": 0.1}, sla=10))  # churn can be counted, but no class sets a value
    at.button(key="run").click().run()
    notes = _card_notes(at)  # checks each card's help starts with what it counts
    assert _metric(at, "Revenue at risk, per day").value == "–"  # it read 'EUR 0', as if measured
    assert notes["Revenue at risk"] == "not measured: no customer class sets a `value` (revenue per customer) in the model file"
    assert "completed customers only" in plots.HEADLINES[4].meaning  # Within SLA beside Abandoned
    assert notes["Within SLA"].startswith("95% CI")


def test_the_estimate_says_something_where_rounded_up_staff_wait_next_to_nothing():
    assert studio.wait_text(math.inf, 0.01) == "grows at thin hours"  # it read '≥ 0.0'
    assert studio.wait_text(math.inf, 2.345) == "≥ 2.3"


def test_the_run_prompt_is_not_shown_while_run_cannot_start():
    text = BANK.read_text().replace("horizon: 480", "horizon: 60000")  # over the work cap
    assert text != BANK.read_text()
    at = _edit(_app(), text)
    assert at.button(key="run").disabled
    assert not any("Press **Run** to simulate" in i.value for i in at.info)
    assert "see above for what keeps **Run** from starting" in _texts(at.info)


def test_the_queue_chart_says_how_long_a_run_it_spans_and_shades_the_warm_up():
    titles = {}
    for name in ("retail_bank", "hospital_ed", "insurance_claims"):
        model = chainsim.load_model(BANK.parent / f"{name}.yaml")
        figure = plots.queue_figure({"Baseline": chainsim.simulate(model, replications=2)})
        titles[name] = figure.layout.title.text.removeprefix("When do queues build up? Queue length ")
        assert (len(figure.layout.shapes) == 1) == (model.run.warmup > 0)  # the warm-up, shaded
    # It said "over the day" for 4 days of the hospital and 5 weeks of claims.
    assert titles == {"retail_bank": "over the day", "hospital_ed": "over the run (4 days)",
                      "insurance_claims": "over the run (5 weeks)"}


def test_a_queue_chart_of_several_days_marks_each_day_and_bins_every_day_alike():
    """Claims' 840 hours in 96 bins of 8.75 h beat against its 9-hour working day (the lines zigzagged
    from week to week), on an axis of bare hours 0-840."""
    claims = chainsim.load_model(BANK.parent / "insurance_claims.yaml")
    edges = plots._queue_bins(claims, 96)
    assert np.allclose(np.diff(edges), 12.0) and edges[-1] == 840  # 12 h divides the 168-hour week
    hospital = chainsim.load_model(BANK.parent / "hospital_ed.yaml")  # 4 days of minutes: hourly bins
    assert np.allclose(np.diff(plots._queue_bins(hospital, 96)), 60.0)
    bank = chainsim.load_model(BANK)  # one day: as many bins as asked
    assert len(plots._queue_bins(bank, 96)) == 97
    figure = plots.queue_figure({"Baseline": chainsim.simulate(hospital.with_changes({"run.horizon": 2880}),
                                                               replications=1)})
    assert (list(figure.layout.xaxis.tickvals), list(figure.layout.xaxis.ticktext)) == ([0, 1440], ["day 1", "day 2"])


def test_totals_say_over_how_long_and_a_model_where_nobody_can_churn_says_so():
    """'EUR 6,196' of revenue at risk in insurance_claims was 4 measured weeks, read alone as a day's or a
    year's; the hospital, whose patients do not churn (churn_if_* 0), showed 'Expected churn 0.0'."""
    claims = chainsim.load_model(BANK.parent / "insurance_claims.yaml")  # 5 weeks, the first a warm-up
    bank = chainsim.load_model(BANK)  # one 8-hour day
    churn, revenue = plots.HEADLINES[6], plots.HEADLINES[7]
    assert (churn.label_for(claims), revenue.label_for(bank)) == ("Expected churn, per 4 weeks",
                                                                  "Revenue at risk, per day")
    assert plots.HEADLINES[0].label_for(claims) == "Waiting in queues"  # a mean per customer: no period
    half = bank.with_changes({"run.horizon": 2160, "run.warmup": 1440})  # 12 hours after a day's warm-up
    assert churn.label_for(half) == "Expected churn, per 720 minutes"
    hospital = chainsim.load_model(BANK.parent / "hospital_ed.yaml")
    assert plots.not_measured("churn.expected", hospital).startswith("not measured: no customer class can churn")
    assert plots.not_measured("churn.expected", bank) is None
    cards = plots.headline_cards({"Baseline": chainsim.simulate(hospital.with_changes({"run.horizon": 2000}),
                                                                replications=2)})["Baseline"]
    assert cards[6].text(hospital) == "–" and cards[6].ci_text(hospital).startswith("not measured")
