"""A stand-alone HTML report for a client: headline cards, the chain and the charts, readable offline.

plotly.js is embedded once (with the first chart), so the file opens without a network. The app's
"Take away" tab and `chainsim report` both call :func:`build_report` with the same figures.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import plotly.graph_objects as go

from chainsim import __version__, plots
from chainsim.api import Results
from chainsim.studio import estimate_table, estimate_text

CSS = """
body{font-family:Inter,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;padding:24px 32px;
color:#1d2733;background:#fff}
h1{font-size:28px;margin:0 0 4px} h2{font-size:21px;margin:36px 0 8px;border-bottom:2px solid #e3e8ee;padding-bottom:6px}
.meta{color:#5b6b7b;font-size:14px} .note{color:#5b6b7b;font-size:14px;max-width:900px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:10px 0 4px}
.card{border:1px solid #dde3ea;border-radius:8px;padding:10px 12px;background:#fafbfc}
.card .label{font-size:13px;color:#5b6b7b} .card .value{font-size:24px;font-weight:600;margin:2px 0}
.card .ci{font-size:12px;color:#5b6b7b} .good{color:#1a7f37} .bad{color:#b2182b} .flat{color:#5b6b7b}
table{border-collapse:collapse;font-size:14px;margin:8px 0} th,td{border-bottom:1px solid #e3e8ee;padding:5px 10px;
text-align:right} th:first-child,td:first-child{text-align:left}
"""


def _cards_html(runs: Mapping[str, Results]) -> str:
    parts = []
    for label, cards in plots.headline_cards(runs).items():
        model = runs[label].model
        parts.append(f"<h3>{html.escape(label)}</h3><div class='cards'>")
        for card in cards:
            change = card.change_text(model)
            cls = {True: "good", False: "bad", None: "flat"}[card.improved]
            change_html = (f"<div class='{cls}'>{html.escape(change)} vs {html.escape(next(iter(runs)))}</div>"
                           f"<div class='ci'>{html.escape(card.change_ci_text(model))}</div>") if change else ""
            parts.append(f"<div class='card'><div class='label'>{html.escape(card.headline.label_for(model))}</div>"
                         f"<div class='value'>{html.escape(card.text(model))}</div>"
                         f"<div class='ci'>{html.escape(card.ci_text(model))}</div>{change_html}</div>")
        parts.append("</div>")
    return "".join(parts)


def _estimate_html(runs: Mapping[str, Results]) -> str:
    return estimate_text(estimate_table({label: r.model for label, r in runs.items()})).to_html(border=0)


def _figure_html(fig: go.Figure, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "responsive": True})


def build_report(runs: Mapping[str, Results], scenario_text: str = "") -> str:
    """The whole report as one HTML document (plotly.js inline: no network needed to read it)."""
    first = next(iter(runs.values()))
    model = first.model
    departments = first.departments()
    figures = [
        ("The chain (baseline)", plots.chain_figure(model, departments["delay_share"].to_dict(), "share of customers' delay"),
         "The model as written: departments sized by staff; arrows show handoffs and consults (the requester keeps "
         "the customer while it waits). Colour: the share of the external customers' time in system each department "
         "causes in the baseline."),
        ("Time in system", plots.time_in_system_figure(runs),
         "Share of completed customers served within a given time; further left is better."),
        ("Where the time goes", plots.attribution_figure(runs),
         f"{model.time_unit.capitalize()}s per completed customer caused at each department: queueing, service, "
         "rework, clarification."),
        ("How busy each department is", plots.utilisation_figure(runs),
         "Utilisation of staff on duty. Hatched: staff held waiting on internal suppliers, capacity lost to "
         "the chain."),
        ("Queues over time", plots.queue_figure(runs),
         "Jobs waiting at each department over the run, averaged over replications."),
    ]
    body = [f"<h1>{html.escape(model.name)}</h1>",
            f"<div class='meta'>{first.replications} replications per run, seed {first.seed}, horizon "
            f"{model.run.horizon:g} {model.time_unit}s · chainsim {__version__} · "
            f"{datetime.now():%Y-%m-%d %H:%M}</div>"]
    if scenario_text:
        body.append(f"<p class='note'><b>Scenario:</b> {html.escape(scenario_text)}</p>")
    if model.description:
        body.append(f"<p class='note'>{html.escape(model.description)}</p>")
    body.append("<h2>Headline</h2><p class='note'>Means over replications with 95% confidence intervals; "
                "changes are against the first run, with intervals from paired replications.</p>")
    body.append(_cards_html(runs))
    for i, (title, fig, note) in enumerate(figures):
        body.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>")
        body.append(_figure_html(fig, first=i == 0))
    body.append("<h2>Instant estimate from queueing formulas</h2><p class='note'>Utilisation and Erlang-C mean "
                "wait per department from the model file alone (where the average staff on duty is not a whole "
                "number, the range from the staff rounded up to rounded down, \"≥\" where rounded down cannot "
                "keep up); the simulation above includes what the formulas leave out (consult holding, rework "
                "loops, shifts, abandonment).</p>")
    body.append(_estimate_html(runs))
    for label, results in runs.items():  # each run's own: a scenario can overload what the baseline does not
        for warning in results.warnings:
            body.append(f"<p class='note bad'>warning ({html.escape(label)}): {html.escape(warning)}</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(model.name)} – chainsim report</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>")


def write_report(path: str | Path, runs: Mapping[str, Results], scenario_text: str = "") -> Path:
    path = Path(path)
    path.write_text(build_report(runs, scenario_text), encoding="utf-8")
    return path
