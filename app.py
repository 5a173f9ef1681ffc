"""chainsim what-if studio: `streamlit run app.py`.

A thin router: widgets and layout only. Models, levers, the work cap and tables come from
chainsim.studio, figures from chainsim.plots, the report from chainsim.report, runs from
chainsim.simulate. The last run, and the last model that could run (the page stays on it while
an edit or upload cannot), live in st.session_state; runs are cached on the model's canonical
JSON, replications and seed, so returning to a seen setting is instant.
"""

from __future__ import annotations

import hashlib
from functools import partial

import streamlit as st

import chainsim
from chainsim import plots, studio
from chainsim.errors import RunLimitError
from chainsim.model import MAX_SEED
from chainsim.report import build_report

st.set_page_config(page_title="chainsim · what-if studio", page_icon="🔗", layout="wide")


@st.cache_data(show_spinner=False, max_entries=studio.CACHE_MAX_ENTRIES, max_size=studio.CACHE_MAX_BYTES,
               ttl=studio.CACHE_TTL_SECONDS)
def simulate_cached(model_json: str, replications: int, seed: int, _what: str = "") -> chainsim.Results:
    """One cached run; the progress bar lives inside so a cache hit can replay it (then clears it)."""
    bar = st.progress(0.0, text=f"Simulating {_what}…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Simulating {_what}: replication {done} of {total}")

    results = chainsim.simulate(studio.model_from_json(model_json), replications=replications, seed=seed,
                                progress=progress)
    bar.empty()
    return results


def run_models(models: dict[str, chainsim.Model], replications: int, seed: int) -> dict[str, chainsim.Results]:
    """Simulate each model (identical ones once: the cache answers the second); a run stopped by a
    cap says which one it was, as a scenario's levers may be what pushed it over."""
    runs = {}
    for label, m in models.items():
        try:
            runs[label] = simulate_cached(m.canonical_json(), replications, seed, _what=label.lower())
        except RunLimitError as exc:
            raise RunLimitError(f"{label}: {exc}") from None
    return runs


# --- sidebar: model, run settings, levers ----------------------------------------------------------------


def choose_model() -> tuple[str, str, chainsim.Model | None]:
    """The model's file name, where it came from (a bundled file's path, or the upload and its digest)
    and the model parsed from its text (as loaded, or edited in place), or None on errors."""
    sb = st.sidebar
    sb.header("Model")
    files = studio.model_files()
    uploaded = st.session_state.get("upload") is not None  # an upload wins: the bundled choice would do nothing
    chosen = sb.selectbox("Bundled model", files, format_func=lambda p: p.name, disabled=uploaded,
                          help="Remove the uploaded file (its ✕) to pick a bundled model again." if uploaded
                          else "Models shipped in the models/ folder.")
    upload = sb.file_uploader("…or upload a model file", type=["yaml", "yml"], max_upload_size=1, key="upload",
                              help=f"A chainsim YAML model, up to {studio.UPLOAD_LIMIT_BYTES // 1000} KB.")
    source, text = str(chosen), chosen.read_text(encoding="utf-8")
    if upload is not None:
        data = upload.getvalue()
        source = f"upload:{upload.name}:{hashlib.sha1(data).hexdigest()}"  # a corrected file of the same size is new
        try:
            text = studio.read_upload(upload.name, data)
        except chainsim.ModelError as exc:
            show_problems(exc, upload.name)
            return upload.name, source, None
    # Edits are kept per model file, so a look at another model and back does not throw them away.
    edits: dict[str, str] = st.session_state.setdefault("yaml_edits", {})
    if st.session_state.get("yaml_source") != source:
        if "yaml_source" in st.session_state:
            edits[st.session_state["yaml_source"]] = st.session_state["yaml_text"]
        st.session_state["yaml_source"] = source
        st.session_state["yaml_text"] = edits.get(source, text)
    name = upload.name if upload is not None else chosen.name
    with sb.expander("View or edit the YAML"):
        edited = st.text_area("Model file", key="yaml_text", height=320, max_chars=studio.UPLOAD_LIMIT_BYTES,
                              help="Edits apply when you click outside the box (or press Ctrl+Enter). Up to "
                                   f"{studio.UPLOAD_LIMIT_BYTES // 1000} KB, as for uploads. They are kept "
                                   "when you switch to another model and back.")
        st.download_button("Download this YAML", edited, file_name=name, mime="text/yaml", on_click="ignore")
    if edited != text:
        sb.caption(f"✎ Edited in the box above: not {studio.md(name)} as it was loaded.")
        sb.button("Undo my edits", key="revert_yaml", on_click=_revert_yaml, args=(source, text),
                  help="Put the model back to the file as it was loaded.")
    try:
        return name, source, studio.parse_text(edited, source=name)
    except chainsim.ModelError as exc:
        show_problems(exc, name)
        return name, source, None


def _revert_yaml(source: str, text: str) -> None:
    st.session_state["yaml_text"] = text
    st.session_state["yaml_edits"].pop(source, None)


def show_run_limit(exc: RunLimitError) -> None:
    """A run stopped by a safety cap of the model file: say which and how to go on. The page goes on
    below with what was computed before (it used to stop here, hiding every result)."""
    st.error(f"**The run stopped.** {exc}. Edit the model's `run:` settings (View or edit the YAML), or move "
             "back levers that bring more work (demand growth, fewer staff), then run again. Results computed "
             "before stay below.", icon="✋")


def show_problems(exc: chainsim.ModelError, name: str, fix: str = "") -> None:
    lines = "\n".join(f"- `{p.path}`: {p.message}" for p in exc.problems)
    st.error(f"**{studio.md(name)} cannot run: {len(exc.problems)} problem(s)**\n\n{lines}"
             + (f"\n\n{fix}" if fix else ""), icon="⚠️")


def settings_for(model: chainsim.Model, source: str) -> None:
    """Run settings and levers for the model on screen, kept per model file (see studio.SidebarSettings):
    the ones last set for it, carried over an edit of the file, or what the file says."""
    current: studio.SidebarSettings | None = st.session_state.get("settings")
    model_json = model.canonical_json()
    if current is not None and current.model_json == model_json:
        return
    kept: dict[str, studio.SidebarSettings] = st.session_state.setdefault("settings_by_file", {})
    if current is not None:  # as the user left them
        kept[st.session_state["settings_source"]] = studio.SidebarSettings(
            current.model_json, st.session_state["replications"], st.session_state["seed"],
            {key: st.session_state.get(f"lever:{key}", value) for key, value in current.levers.items()})
    before = kept.get(source)
    if before is None:
        settings, put_back = studio.SidebarSettings.defaults(model), []
    elif before.model_json == model_json:
        settings, put_back = before, []
    else:
        settings, put_back = before.carried_to(model)
    st.session_state.update({"settings": settings, "settings_source": source, "replications": settings.replications,
                             "seed": settings.seed, "levers_put_back": put_back})
    ranges = {r.key: r for r in studio.lever_ranges(model)}
    st.session_state.update({f"lever:{key}": _slider_value(ranges[key], value) for key, value in settings.levers.items()})


def run_settings() -> tuple[int, int]:
    sb = st.sidebar
    sb.header("Run")
    reps = sb.slider("Replications", *studio.REPLICATIONS_RANGE, key="replications",
                     help="Independent simulated days; more give tighter 95% confidence intervals.")
    seed = sb.number_input("Seed", 0, MAX_SEED, key="seed",
                           help="Same seed, same numbers. Baseline and scenario share it (common random numbers).")
    return int(reps), int(seed)


def choose_levers(model: chainsim.Model) -> studio.Scenario:
    """Sliders for every lever, grouped; the scenario is the model with them applied."""
    ranges = studio.lever_ranges(model)
    sb = st.sidebar
    sb.header("Scenario levers")
    sb.caption("The scenario is the model with these changes; the baseline is the model as written.")
    if put_back := st.session_state.pop("levers_put_back", None):  # said once, after the edit
        sb.info(f"Your edit of the file moved what these levers start from, so they went back to it: "
                f"{studio.md(', '.join(put_back))}. The other levers are as you left them.")
    scenario = studio.Scenario.baseline(model)
    groups = (("Staff", ("staff.",), True), ("Shifts", ("shift.",), False),
              ("Error rates", ("error_rate.", "error_factor."), False), ("Requests and demand", (), True))
    for title, prefixes, expanded in groups:
        members = [r for r in ranges if r.key.startswith(prefixes) or (not prefixes and "." not in r.key)]
        if not members:
            continue
        with sb.expander(title, expanded=expanded):
            if prefixes == ("shift.",):
                st.caption(f"Staff on duty in each shift window ({studio.window_caption(model)}). "
                           "Staff changes above are added to every shift.")
            for r in members:
                scenario = scenario.with_lever(r.key, _lever_widget(r))
    sb.button("Reset levers", on_click=_reset_levers, args=(ranges,), key="reset_levers")
    return scenario


def _slider_value(r: studio.LeverRange, value: float) -> float | int:
    return int(value) if r.step >= 1 and r.unit == "people" else float(value)


def _lever_widget(r: studio.LeverRange) -> float:
    key, label = f"lever:{r.key}", studio.md(r.label)
    if r.unit == "people":
        return st.slider(label, int(r.low), int(r.high), step=1, key=key, help=studio.md(r.help))
    if r.key.startswith("error_rate."):  # a share, shown as the help text and the YAML's comments say it: 8%
        return st.slider(f"{label} ({r.unit})", float(r.low), float(r.high), step=float(r.step), key=key,
                         help=studio.md(r.help), format="percent")
    fmt = "%+.0f%%" if r.unit == "%" else "×%.2f"
    return st.slider(f"{label} ({r.unit})", float(r.low), float(r.high), step=float(r.step), key=key,
                     help=studio.md(r.help), format=fmt)


def _reset_levers(ranges: list[studio.LeverRange]) -> None:
    for r in ranges:
        st.session_state[f"lever:{r.key}"] = _slider_value(r, r.baseline)


# --- main area ------------------------------------------------------------------------------------------


CSS = """
<style>
.block-container {padding-top: 2.2rem;}
[data-testid="stMetricValue"] {font-size: 1.9rem;}
</style>
"""


def headline(runs: dict[str, chainsim.Results]) -> None:
    """Cards for the last run, each with its 95% CI, the change against the baseline and the baseline value."""
    labels = list(runs)
    cards = plots.headline_cards(runs)
    model = runs[labels[-1]].model
    st.markdown(f"**{labels[-1]}**" + (" compared with the baseline (hover ? for the change’s 95% CI)"
                                       if len(labels) > 1 else " (pull a lever in the sidebar to compare)"))
    shown = cards[labels[-1]]
    for start in range(0, len(shown), 4):
        for col, i in zip(st.columns(4), range(start, min(start + 4, len(shown))), strict=False):
            card, change = shown[i], shown[i].change_text(model)
            colour = "off" if card.improved is None else ("inverse" if card.headline.lower_is_better else "normal")
            # Streamlit draws an up arrow for any change not starting with "-": a change of 0.0 had one.
            arrow = "auto" if change is None or change.startswith(("+", "-")) else "off"
            with col.container(border=True):
                st.metric(card.headline.label_for(model), card.text(model), change, delta_color=colour,
                          delta_arrow=arrow, help=" · ".join(filter(None, [card.headline.meaning, card.ci_text(model),
                                                                          card.change_ci_text(model)])))
                base = cards[labels[0]][i]
                note = card.ci_text(model)
                if len(labels) > 1:
                    note += f" · baseline {base.text(model)}"
                st.caption(note)


def overview(model: chainsim.Model, runs: dict | None, models: dict[str, chainsim.Model], can_run: bool) -> None:
    if runs:
        headline(runs)
    elif can_run:
        st.info("Press **Run** to simulate. Until then: the instant queueing-formula estimate below.")
    else:
        st.info("The instant queueing-formula estimate below needs no simulation; see above for what keeps "
                "**Run** from starting.")
    last = list(models)[-1]
    wide = plots.chain_columns(models[last]) > plots.WIDE_CHAIN_COLUMNS  # beside the estimate, names ran together
    left, right = (st.container(), st.container()) if wide else st.columns([3, 2])
    with left:
        options = ["utilisation", "share of customers' delay"] if runs else ["utilisation (estimate)"]
        colour = st.radio("Colour departments by", options, horizontal=True, key="chain_colour")
        if runs and colour == "utilisation":
            values = runs[last].departments()["utilisation"].to_dict()
        elif runs:
            values = runs[last].departments()["delay_share"].to_dict()
        else:
            values = {d.department: d.utilisation for d in chainsim.offered_load(models[last])}
        label = colour if len(models) == 1 else f"{colour} ({last.lower()})"
        st.plotly_chart(plots.chain_figure(models[last], values, label), width="stretch")
    with right:
        runs_shown = " → ".join(models) if len(models) > 1 else "baseline"
        st.markdown(f"**Instant estimate** (queueing formulas, no simulation): {runs_shown.lower()}")
        if caveat := studio.estimate_caveat(models[last]):
            st.warning(caveat, icon="⏱")
        st.dataframe(studio.estimate_text(studio.estimate_table(models)), width="stretch")
        st.caption("Utilisation = offered staff time / staff on duty; wait = Erlang-C mean queueing time "
                   "(where the average staff on duty is not a whole number, from shifts, absence, outages or pools: "
                   "the range from the staff rounded up to rounded down, \"≥\" where rounded down cannot keep "
                   "up). The simulation adds consult holding, rework, shifts and abandonment.")
    if runs:
        st.plotly_chart(plots.time_in_system_figure(runs), width="stretch")


def explore(model: chainsim.Model, scenario: studio.Scenario, reps: int, seed: int, can_run: bool) -> None:
    """Sweep one lever (a line with its CI band) or two (a heatmap), from the scenario in the sidebar;
    ``can_run`` is False while the model file on screen cannot run (the page shows the last that could)."""
    st.subheader("Sweep one or two levers")
    ranges = {r.key: r for r in studio.lever_ranges(model)}
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
    first = c1.selectbox("Lever", list(ranges), format_func=lambda k: ranges[k].label, key="sweep_lever")
    second = c2.selectbox("Second lever (optional)", [None, *ranges], key="sweep_lever2",
                          format_func=lambda k: "none: a line chart" if k is None else ranges[k].label,
                          help="With a second lever the sweep covers every combination and draws a heatmap.")
    heads = {h.kpi: h for h in plots.HEADLINES}
    kpi = c3.selectbox("KPI", list(heads), format_func=lambda k: heads[k].label, key="sweep_kpi")
    points = c4.slider("Points per lever", 3, 11, 6, key="sweep_points",
                       help="Evenly spaced across the lever's range, plus the value as modelled (marked on "
                            "the chart) where it falls between them.")
    keys = [first] if second in (None, first) else [first, second]
    sweep = studio.Sweep.over([ranges[k] for k in keys], points)
    try:
        models = sweep.models(scenario, model)
    except chainsim.ModelError as exc:
        show_problems(exc, "This sweep")
        return
    key = studio.run_key(models, reps, seed)
    limit = studio.sweep_cap_message(studio.work(models, reps), len(models), reps)
    if limit:
        st.warning(limit, icon="✋")
    st.caption(f"{len(models)} runs x {reps} replications, each the scenario in the sidebar with the swept "
               "lever(s) moved.")
    if st.button("Run sweep", disabled=limit is not None or not can_run, key="run_sweep"):
        bar = st.progress(0.0, text="Sweeping…")
        points_run = sweep.points()
        try:
            results = studio.run_sweep(
                models, lambda m, i: simulate_cached(m.canonical_json(), reps, seed, _what=sweep.describe(points_run[i])),
                lambda done, total: bar.progress(done / total, text=f"Sweeping: {done} of {total} runs"))
            st.session_state["sweep"] = (key, sweep, results)
        except RunLimitError as exc:
            show_run_limit(exc)
        bar.empty()
    show_sweep(key, heads[kpi])


def show_sweep(key: tuple, head: plots.Headline) -> None:
    """The last sweep's chart, only while the model and settings on screen are the ones it ran with."""
    if "sweep" not in st.session_state:
        return
    done_key, done, results = st.session_state["sweep"]
    if done_key != key:
        st.info("The model or settings changed since the last sweep (levers, replications, seed, or what is "
                "swept), so its chart is hidden. Press **Run sweep** to sweep again.")
        return
    table = done.table(results, head.kpi)
    if table["mean"].isna().all() or plots.not_measured(head.kpi, results[0].model):  # an empty or flat-0 chart
        st.info(f"{head.label} has no value at any point of this sweep: "
                f"{plots.no_value_reason(head.kpi, results[0].model)}. Pick another KPI.")
        return
    unit = studio.kpi_unit(head.kind, results[0].model)
    st.plotly_chart(plots.sweep_figure(done, table, head, unit), width="stretch")


def saved_scenarios(runs: dict | None, run_text: str) -> None:
    """Scenarios saved from runs on the same baseline, replications and seed, compared in one table."""
    st.subheader("Saved scenarios")
    saved = st.session_state.setdefault("saved", {})
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("Name", value=run_text[:60], key=f"save_name:{run_text}", max_chars=120).strip()
    if c2.button("Save scenario", disabled=not runs, help="Run first; saves the scenario's results.", key="save"):
        problem = studio.save_problem(name)
        if problem:
            st.error(f"**Name:** {problem}. Nothing was saved.")
        else:
            as_name = studio.free_name(saved, name, runs)
            if as_name != name:
                st.info(f"Saved as “{studio.md(as_name)}”: “{studio.md(name)}” already names another saved "
                        "scenario, which is kept.")
            dropped = studio.save_scenario(saved, as_name, runs)
            if dropped is not None:
                st.info(f"The app keeps the last {studio.SAVED_SCENARIOS_MAX} saved scenarios: "
                        f"“{studio.md(dropped)}”, the oldest, was dropped.")
    rows = studio.saved_comparison(saved, runs)
    if rows:
        st.dataframe(plots.headline_table(rows), width="stretch")
    else:
        st.caption("Run, then save scenarios to compare them here (same model, replications and seed).")
    elsewhere = studio.saved_elsewhere(saved, runs)
    if elsewhere:  # else they seemed lost once the seed or replications changed
        st.caption(f"{elsewhere} saved scenario(s) made with another model, replications or seed are kept: they "
                   "show here again when the run on screen has those settings.")


def take_away(model: chainsim.Model, scenario_model: chainsim.Model | None, runs: dict | None, text: str,
              run_text: str, reps: int, seed: int) -> None:
    """Downloads: the scenario in the sidebar as a file (`text`), and the results on screen (`run_text`).

    No download reruns the page: a rerun replaced the report's file while a second click was on
    its way, and that download then failed without a word.
    """
    st.subheader("Take it away")
    c1, c2, c3 = st.columns(3)
    names = studio.download_names(model, reps, seed)  # the scenario's: the sidebar's settings
    done = runs["Baseline"] if runs else None  # the results': those they ran with (the sidebar may have moved)
    shown = studio.download_names(done.model, done.replications, done.seed) if done else names
    scenario = studio.scenario_file(model, scenario_model, text, reps, seed) if scenario_model else ""
    c1.download_button("Scenario as a model file (YAML)", scenario, file_name=names["scenario"], mime="text/yaml",
                       disabled=scenario_model is None, on_click="ignore",
                       help="The levers in the sidebar applied, with its replications and seed.")
    if (size := len(scenario.encode("utf-8"))) > studio.UPLOAD_LIMIT_BYTES:  # fields at defaults are left out already
        c1.warning(f"This file is {size:,} bytes, over the {studio.UPLOAD_LIMIT_BYTES:,} the app accepts: run it "
                   "with the command line below.", icon="📦")
    c2.download_button("Results (CSV)", studio.results_csv(runs) if runs else "", file_name=shown["results"],
                       mime="text/csv", disabled=not runs, on_click="ignore")
    c3.download_button("Report for the client (HTML)", partial(build_report, runs, run_text) if runs else "",
                       file_name=shown["report"], mime="text/html", disabled=not runs, on_click="ignore")
    st.markdown("Bigger experiments from the command line, with the downloaded YAML:\n\n"
                f"```\nchainsim run {names['scenario']} --replications 200 --workers 0 --csv results/\n"
                f"chainsim report {names['scenario']} --out report.html --replications 100\n```")


def main() -> None:
    st.html(CSS)
    st.title("What-if studio")
    name, source, model = choose_model()
    broken = model is None  # the file cannot run: the page stays on the last model that could, Run waits
    if broken:
        if "last_good" not in st.session_state:  # none yet: nothing to keep
            st.stop()
        kept_name, kept_source, model = st.session_state["last_good"]
        which = ("the model as it was before this edit" if kept_source == source
                 else f"the last model that could run, **{studio.md(model.name)}** (file {studio.md(kept_name)})")
        st.warning(f"The page below stays on {which}, with its levers, estimate and any results. **Run** waits "
                   "until the problems above are fixed.", icon="✏️")
        name, source = kept_name, kept_source
    st.session_state["last_good"] = (name, source, model)
    settings_for(model, source)
    reps, seed = run_settings()
    scenario = choose_levers(model)
    text = scenario.describe(model)
    st.caption(f"**{studio.md(model.name)}** · {len(model.departments)} departments · about "
               f"{studio.customers_per_replication(model):,.0f} customers per replication · "
               f"file {studio.md(name)}")
    try:
        scenario_model = scenario.apply(model)
    except chainsim.ModelError as exc:  # sliders that cannot go together: say which, keep the page
        show_problems(exc, "The scenario in the sidebar", "Move these sliders back (or press **Reset levers**), "
                      "then run again. Results already computed stay below.")
        scenario_model = None
    models = {"Baseline": model}
    if scenario_model is not None and scenario_model.canonical_json() != model.canonical_json():
        models["Scenario"] = scenario_model
    key = studio.run_key(list(models.values()), reps, seed)

    c1, c2 = st.columns([1, 5])
    limit = studio.work_cap_message(studio.work(list(models.values()), reps),
                                    studio.download_names(model, reps, seed)["scenario"])
    runnable = scenario_model is not None and not broken
    clicked = c1.button("Run", type="primary", disabled=limit is not None or not runnable, width="stretch", key="run")
    c2.markdown(f"**Scenario:** {studio.md(text)}")
    if limit:
        st.warning(limit, icon="✋")
    seen = st.session_state.setdefault("seen", set())
    # A seen setting shows at once; the one on screen needs no call at all: once a sweep pushed it out
    # of the shared cache, every later widget touch simulated it again (seconds, without a click).
    shown = st.session_state.get("last", (None,))[0]
    if runnable and (clicked or (key in seen and key != shown)):
        try:
            st.session_state["last"] = (key, run_models(models, reps, seed), text)
            seen.add(key)
        except RunLimitError as exc:
            show_run_limit(exc)
    last_key, runs, run_text = st.session_state.get("last", (None, None, text))
    if runs is not None and studio.other_model(last_key, key):
        done_name = runs["Baseline"].model.name
        which = ("the model as it was before the last edit" if done_name == model.name
                 else f"another model: **{studio.md(done_name)}**")
        st.info(f"The last results are for {which} ({studio.md(run_text)}). The model was switched, uploaded or "
                "edited since. They stay until the next run and show again when that model is back; press "
                "**Run** to simulate this one.")
        runs, run_text = None, text
    elif runs is not None and (last_key != key or scenario_model is None):
        st.warning(f"The settings changed since the last run; the results below are for: "
                   f"{studio.md(run_text)}. Press **Run** to update them.")
    for label, results in (runs or {}).items():
        for warning in results.warnings:
            st.warning(f"{label}: {warning}")

    tabs = st.tabs(["Overview", "Where the time goes", "Through the day", "Explore", "Take away"])
    with tabs[0]:
        overview(model, runs, models if runs is None else {k: r.model for k, r in runs.items()},
                 can_run=limit is None and runnable)
    with tabs[1]:
        if runs:
            st.plotly_chart(plots.attribution_figure(runs), width="stretch")
            st.plotly_chart(plots.utilisation_figure(runs), width="stretch")
        else:
            st.info("Press **Run** to see which department causes how much of the customers' time.")
    with tabs[2]:
        if runs:
            st.plotly_chart(plots.queue_figure(runs), width="stretch")
        else:
            st.info("Press **Run** to see queues over the day.")
    with tabs[3]:
        explore(model, scenario, reps, seed, can_run=not broken)
        saved_scenarios(runs, run_text)
    with tabs[4]:
        take_away(model, None if broken else scenario_model, runs, text, run_text, reps, seed)


main()
