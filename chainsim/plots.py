"""Plotly figures of results, shared by the app and the HTML report (`chainsim report`).

Every figure takes ``runs``: an ordered mapping label -> Results (the first is the baseline).
Each department keeps one colour in every chart; the baseline's line is dotted, later runs solid.
Axes carry units; titles say what the chart answers.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from chainsim.api import Results
from chainsim.model import MINUTES, Branch, Model, Serve, consult_requests, walk_steps
from chainsim.recorder import KINDS
from chainsim.studio import LeverRange, Sweep, department_labels, paired_change

PALETTE = qualitative.Safe + qualitative.Vivid
KIND_COLOURS = {"queue": "#B2182B", "service": "#4D7EA8", "rework": "#E08214", "clarify": "#8073AC",
                "interrupted": "#9E9E9E"}
KIND_NAMES = {"queue": "queueing", "service": "being served", "rework": "rework", "clarify": "clarifying",
              "interrupted": "interrupted"}
RUN_COLOURS = ("#7F7F7F", "#1F4E79", "#E08214", "#2CA02C", "#8073AC")
FONT = {"family": "Inter, Segoe UI, Helvetica, Arial, sans-serif", "size": 14}


def department_colours(model: Model) -> dict[str, str]:
    """One colour per department, by its order in the model file."""
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(model.departments)}


def _dash(label: str, runs: Mapping[str, Results]) -> str:
    """Dotted for the baseline when there is something to compare it with; solid otherwise."""
    return "dot" if len(runs) > 1 and label == next(iter(runs)) else "solid"


def _run_colour(i: int, runs: Mapping[str, Results]) -> str:
    return RUN_COLOURS[(i + (len(runs) == 1)) % len(RUN_COLOURS)]


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(template="plotly_white", title={"text": title, "x": 0, "xanchor": "left"}, font=FONT,
                      height=height, margin={"l": 70, "r": 30, "t": 70, "b": 60},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"})
    return fig


def _unit(model: Model) -> str:
    return f"{model.time_unit}s"


def _plain(text: str) -> str:
    """Text from the user (a label, a scenario's name) as typed: plotly reads HTML tags in any text, so
    a label with <b> or <a href> drew bold text or a link."""
    return html.escape(text, quote=False)


def _names(model: Model) -> dict[str, str]:
    """Department labels for plotly (see _plain)."""
    return {d: _plain(name) for d, name in department_labels(model).items()}


# --- headline cards -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """A KPI for the headline cards: how to name it, format it and read its change."""

    kpi: str
    label: str
    kind: str  # "time", "share", "count" or "money"
    meaning: str  # what it counts, for the card's help
    lower_is_better: bool = True
    per_run: bool = False  # a total over the measured run (churn), not a per-customer figure

    def label_for(self, model: Model) -> str:
        """The card's label; a total says over how long ('Revenue at risk, per 4 weeks'): read alone,
        'EUR 6,196' passed for a day's or a year's."""
        return f"{self.label}, per {measured_span(model)}" if self.per_run else self.label


COMPLETED_ONLY = "completed customers only: those who abandoned or balked are in Abandoned"
HEADLINES = (
    Headline("external.queueing.mean", "Waiting in queues", "time",
             f"Mean time a customer waited in queues, the suppliers' queues while held included ({COMPLETED_ONLY})"),
    Headline("external.queueing.p90", "Waiting in queues, p90", "time",
             f"9 in 10 customers waited at most this long ({COMPLETED_ONLY})"),
    Headline("external.time_in_system.mean", "Time in system", "time",
             f"Mean time from arrival to the end of the journey ({COMPLETED_ONLY})"),
    Headline("external.time_in_system.p90", "Time in system, p90", "time",
             f"9 in 10 customers were done within this time ({COMPLETED_ONLY})"),
    Headline("external.within_sla", "Within SLA", "share",
             f"Share of customers done within their class's sla ({COMPLETED_ONLY})", lower_is_better=False),
    Headline("external.abandonment_rate", "Abandoned", "share",
             "Share of arriving customers who gave up waiting or did not join (balked)"),
    Headline("churn.expected", "Expected churn", "count",
             "Customers expected to leave the company: late ones times churn_if_late, abandoned ones times "
             "churn_if_abandoned, over the measured run (from the warm-up to the horizon)", per_run=True),
    Headline("churn.revenue_at_risk", "Revenue at risk", "money",
             "Expected churn weighed by each class's value, over the measured run", per_run=True),
)


def measured_span(model: Model) -> str:
    """The time the KPIs count, from the warm-up to the horizon, in the model's days or weeks: 'day'
    for a run of one day or less measured whole (the bank's 8 hours), '60 minutes' for part of a day
    (the last hour of the bank's day after a warm-up of 7 hours is not a day), else '3 days', '4 weeks'."""
    span = model.run.horizon - model.run.warmup
    if model.run.warmup == 0 and model.run.horizon <= model.day_length and _cycle_name(model) == "days":
        return "day"  # a business day, the bank's 8 hours
    if span <= model.day_length:
        return f"{span:g} {_unit(model)}"  # 12 hours after a day's warm-up are not a day
    return f"{span / model.day_length:g} {_cycle_name(model)}"


def not_measured(kpi: str, model: Model) -> str | None:
    """Why the model file cannot give this KPI a meaningful value, if it cannot."""
    if kpi == "external.within_sla" and all(c.sla is None for c in model.customers.values()):
        return "not measured: no customer class sets an `sla` in the model file"
    if kpi.startswith("churn.") and not any(_can_churn(c) for c in model.customers.values()):
        return ("not measured: no customer class can churn (churn_if_abandoned is 0, and churn_if_late is 0 "
                "or nobody is ever late: no `sla` or `expectation`)")
    if kpi == "churn.revenue_at_risk" and not any(c.value for c in model.customers.values()):
        return "not measured: no customer class sets a `value` (revenue per customer) in the model file"
    return None


def _can_churn(cls) -> bool:
    late = cls.churn_if_late > 0 and (cls.expectation is not None or cls.sla is not None)
    return late or cls.churn_if_abandoned > 0


@dataclass(frozen=True)
class Card:
    """One headline number of one run: mean, 95% CI and the change against the baseline."""

    headline: Headline
    run: str
    mean: float
    ci: tuple[float, float]
    change: tuple[float, float, float] | None  # mean, ci_low, ci_high; None for the baseline

    def text(self, model: Model, x: float | None = None) -> str:
        x = self.mean if x is None else x
        return format_value(x, self.headline.kind, model)

    def change_text(self, model: Model) -> str | None:
        if self.change is None or math.isnan(self.change[0]):
            return None
        return format_value(self.change[0], self.headline.kind, model, signed=True)

    def ci_text(self, model: Model) -> str:
        lo, hi = self.ci
        if math.isnan(self.mean):
            return no_value_reason(self.headline.kpi, model)
        if math.isnan(lo):
            return "95% CI: needs customers in 2+ replications"
        return f"95% CI {self.text(model, lo)} – {self.text(model, hi)}"

    def change_ci_text(self, model: Model) -> str:
        if self.change is None or math.isnan(self.change[1]):
            return ""
        _, lo, hi = self.change
        kind = self.headline.kind
        return (f"change 95% CI {format_value(lo, kind, model, signed=True)} – "
                f"{format_value(hi, kind, model, signed=True)}")

    @property
    def improved(self) -> bool | None:
        """True/False when the change's CI excludes zero in the good/bad direction; None if unclear."""
        if self.change is None or math.isnan(self.change[1]):
            return None
        _, lo, hi = self.change
        if lo > 0 or hi < 0:
            return (hi < 0) == self.headline.lower_is_better
        return None


def no_value_reason(kpi: str, model: Model) -> str:
    """Why a headline KPI has no value in any replication, in the user's words."""
    return not_measured(kpi, model) or ("no customers to measure in any replication (none arrived after the "
                                        "warm-up, or none finished)")


SHORT_UNITS = {"second": "s", "minute": "min", "hour": "h", "day": "d"}


def format_value(x: float, kind: str, model: Model, signed: bool = False) -> str:
    """A KPI value in the user's units: '41.2 min', '65.3%' (changes in percentage points), 'EUR 2,169'.

    Rounded before the sign is chosen, so a change too small to show reads '0.0', not '-0.0'.
    """
    if x is None or math.isnan(x):
        return "–"
    if kind == "share" and not signed:
        return f"{x:.1%}"
    value = x * 100 if kind == "share" else x
    digits = 0 if kind == "money" or (kind == "count" and abs(x) >= 20) else 1
    value = round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    sign = "-" if value < 0 else "+" if signed and value > 0 else ""
    number = f"{abs(value):,.{digits}f}"
    if kind == "time":
        return f"{sign}{number} {SHORT_UNITS[model.time_unit]}"
    if kind == "share":
        return f"{sign}{number} pp"
    if kind == "money":
        return f"{sign}{model.currency} {number}"
    return f"{sign}{number}"


def headline_cards(runs: Mapping[str, Results]) -> dict[str, list[Card]]:
    """Per run, the headline cards; the change is against the first run (paired, common random numbers)."""
    base_label = next(iter(runs))
    out: dict[str, list[Card]] = {}
    for label, results in runs.items():
        summary = results.summary()
        cards = []
        for h in HEADLINES:
            measured = h.kpi in summary.index and not not_measured(h.kpi, results.model)
            mean, lo, hi = summary.loc[h.kpi, ["mean", "ci_low", "ci_high"]] if measured \
                else (math.nan, math.nan, math.nan)
            change = None if label == base_label or not measured else paired_change(runs[base_label], results, h.kpi)
            cards.append(Card(h, label, float(mean), (float(lo), float(hi)), change))
        out[label] = cards
    return out


def headline_table(runs: Mapping[str, Results]) -> pd.DataFrame:
    """Headline KPIs as text 'mean [ci]' (and change), one row per run: the saved-scenario comparison."""
    rows = {}
    for label, cards in headline_cards(runs).items():
        model = runs[label].model
        row = {}
        for card in cards:
            lo, hi = card.ci
            ci = "" if math.isnan(lo) else f" [{card.text(model, lo)}, {card.text(model, hi)}]"
            change = card.change_text(model)
            row[card.headline.label_for(model)] = card.text(model) + ci + (f" ({change})" if change else "")
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("scenario")


# --- distributions and attribution --------------------------------------------------------------------


def time_in_system_figure(runs: Mapping[str, Results]) -> go.Figure:
    """ECDF of completed external customers' time in system, pooled over replications."""
    fig = go.Figure()
    model = next(iter(runs.values())).model
    for i, (label, results) in enumerate(runs.items()):
        c = results.customers()
        times = np.sort(c.loc[c["counted"] & (c["outcome"] == "completed"), "time_in_system"].to_numpy())
        if len(times) == 0:
            continue
        share = np.arange(1, len(times) + 1) / len(times)
        keep = np.unique(np.linspace(0, len(times) - 1, min(len(times), 400)).astype(int))
        fig.add_trace(go.Scatter(x=times[keep], y=share[keep], name=_plain(label), mode="lines", line_shape="hv",
                                 line={"width": 3, "dash": _dash(label, runs), "color": _run_colour(i, runs)},
                                 hovertemplate=f"%{{y:.0%}} within %{{x:.1f}} {SHORT_UNITS[model.time_unit]}"))
    slas = sorted({c.sla for c in model.customers.values() if c.sla is not None})
    for sla in slas:
        fig.add_vline(x=sla, line={"color": "#B2182B", "dash": "dash", "width": 1.5},
                      annotation_text=f"SLA {sla:g} {SHORT_UNITS[model.time_unit]}", annotation_position="bottom right")
    fig.update_xaxes(title_text=f"time in system ({_unit(model)})", rangemode="tozero")
    fig.update_yaxes(title_text="share of customers served within (%)", tickformat=".0%", range=[0, 1.02])
    return _layout(fig, "How long do customers spend with us? (completed customers, all replications)")


def attribution_figure(runs: Mapping[str, Results]) -> go.Figure:
    """Minutes per completed customer caused at each department, by kind: the weakest link."""
    model = next(iter(runs.values())).model
    tables = {label: r.attribution() for label, r in runs.items()}
    order = tables[next(iter(runs))].groupby("department", sort=False)["minutes"].sum()
    departments = list(order.sort_values().index)
    names = _names(model)
    y = [[names[d] for d in departments for _ in runs], [_plain(label) for _ in departments for label in runs]]
    fig = go.Figure()
    for kind in KINDS:
        x = []
        for d in departments:
            for label in runs:
                t = tables[label]
                x.append(float(t.loc[(t["department"] == d) & (t["kind"] == kind), "minutes"].sum()))
        if not any(v > 0 for v in x):
            continue
        fig.add_trace(go.Bar(y=y, x=x, name=KIND_NAMES[kind], orientation="h",
                             marker={"color": KIND_COLOURS[kind]},
                             hovertemplate="%{y}: %{x:.1f} " + _unit(model) + "<extra>" + KIND_NAMES[kind] + "</extra>"))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_xaxes(title_text=f"{_unit(model)} per completed customer")
    fig.update_yaxes(title_text="department / run")
    return _layout(fig, f"Where do customers' {_unit(model)} go? Time caused at each department",
                   height=max(380, 90 + 38 * len(departments) * len(runs)))


def utilisation_figure(runs: Mapping[str, Results]) -> go.Figure:
    """Staff utilisation per department, split into own work, held on suppliers and interruptions."""
    model = next(iter(runs.values())).model
    colours = department_colours(model)
    tables = {label: r.departments() for label, r in runs.items()}
    departments, names = list(model.departments), _names(model)
    x = [[names[d] for d in departments for _ in runs], [_plain(label) for _ in departments for label in runs]]
    parts = (("own work", None, 1.0), ("held waiting on suppliers", "/", 0.75),
             ("interruptions", ".", 0.5))
    fig = go.Figure()
    for name, pattern, opacity in parts:
        values, colour_list = [], []
        for d in departments:
            for label in runs:
                row = tables[label].loc[d]
                held, interrupted = row["held_share"], row["interrupted_share"]
                value = {"own work": row["utilisation"] - held - interrupted,
                         "held waiting on suppliers": held, "interruptions": interrupted}[name]
                values.append(float(np.nan_to_num(value)))
                colour_list.append(colours[d])
        if name != "own work" and not any(v > 0.001 for v in values):
            continue
        marker = {"color": colour_list, "opacity": opacity, "line": {"color": colour_list, "width": 1}}
        if pattern:
            marker["pattern"] = {"shape": pattern, "fgcolor": "#333333", "solidity": 0.3}
        fig.add_trace(go.Bar(x=x, y=values, name=name, marker=marker,
                             hovertemplate="%{x}: %{y:.0%}<extra>" + name + "</extra>"))
    totals = [tables[label].loc[d, "utilisation"] for d in departments for label in runs]
    lows = [tables[label].loc[d, "utilisation.ci_low"] for d in departments for label in runs]
    highs = [tables[label].loc[d, "utilisation.ci_high"] for d in departments for label in runs]
    fig.add_trace(go.Scatter(x=x, y=totals, mode="markers", name="total, 95% CI",
                             marker={"color": "#222222", "size": 6, "symbol": "line-ew-open"},
                             error_y={"type": "data", "array": np.subtract(highs, totals),
                                      "arrayminus": np.subtract(totals, lows), "color": "#222222"}))
    fig.add_hline(y=1.0, line={"color": "#B2182B", "dash": "dash", "width": 1})
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="share of staff time on duty (%)", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title_text="department / run")
    return _layout(fig, "How busy is each department? (hatched: staff held waiting on suppliers)")


def queue_figure(runs: Mapping[str, Results], bins: int = 96) -> go.Figure:
    """Mean queue length over the run per department (time-averaged in bins, then over replications);
    the warm-up, left out of every KPI, is shaded."""
    model = next(iter(runs.values())).model
    colours, names = department_colours(model), _names(model)
    edges = _queue_bins(model, bins)
    one_day = model.run.horizon * HOURS_PER_UNIT[model.time_unit] <= 24  # a longer run is marked by days
    clock = [model.clock(t) for t in edges] if model.run.day_starts_at is not None and one_day else None
    when = "%{customdata}" if clock else "%{x:.0f}"
    fig = make_subplots(rows=1, cols=len(runs), shared_yaxes=True, subplot_titles=[_plain(label) for label in runs],
                        horizontal_spacing=0.04)
    for col, results in enumerate(runs.values(), start=1):
        means = _mean_queue(results, edges)
        for d in model.departments:
            fig.add_trace(go.Scatter(x=edges, y=np.append(means[d], means[d][-1]), name=names[d],
                                     legendgroup=d, showlegend=col == 1, mode="lines", customdata=clock,
                                     line={"color": colours[d], "width": 2.5, "shape": "hv"},
                                     hovertemplate=when + ": %{y:.2f} waiting<extra>" + names[d] + "</extra>"),
                          row=1, col=col)
        fig.update_xaxes(title_text=f"time since the start of the run ({_unit(model)})", row=1, col=col)
        cycles = math.ceil(model.run.horizon / model.day_length - 1e-9)
        if cycles > 1:  # each day (or week) marked: 0-5760 minutes said nothing of which day
            name = {"days": "day", "weeks": "week"}.get(_cycle_name(model), "cycle")
            fig.update_xaxes(tickvals=[k * model.day_length for k in range(cycles)],
                             ticktext=[f"{name} {k + 1}" for k in range(cycles)], row=1, col=col)
        elif clock:  # one day, on the clock: 9:00, 10:00, ...
            hour = 1 / HOURS_PER_UNIT[model.time_unit]
            ticks = np.arange(0, model.run.horizon + 1e-9, hour * (1 if model.run.horizon <= 12 * hour else 2))
            fig.update_xaxes(title_text="time of day (h:mm)", tickvals=ticks, ticktext=[model.clock(t) for t in ticks],
                             row=1, col=col)
        if model.run.warmup > 0:
            fig.add_vrect(x0=0, x1=model.run.warmup, fillcolor="#999999", opacity=0.15, line_width=0,
                          annotation_text="warm-up", annotation_position="top left", row=1, col=col)
    fig.update_yaxes(title_text="jobs waiting (mean)", rangemode="tozero", row=1, col=1)
    cycles = model.run.horizon / model.day_length
    span = "over the day" if cycles <= 1 else f"over the run ({cycles:g} {_cycle_name(model)})"
    fig = _layout(fig, f"When do queues build up? Queue length {span}", height=460)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0, "xanchor": "left"},
                      margin={"b": 100})
    return fig


NICE_HOURS = (0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 24, 48, 168)  # bin widths that divide a day or a week
HOURS_PER_UNIT = {unit: minutes / 60 for unit, minutes in MINUTES.items()}


def _queue_bins(model: Model, bins: int) -> np.ndarray:
    """About `bins` equal bins over the run; over several days (or weeks), a width that divides the
    day, so every day is binned alike: 8.75-hour bins beat against a 9-hour working day, and the lines
    zigzagged from week to week."""
    horizon, day = model.run.horizon, model.day_length
    if horizon <= day:
        return np.linspace(0, horizon, bins + 1)
    hour = 1 / HOURS_PER_UNIT[model.time_unit]  # an hour in the model's time unit
    widths = [h * hour for h in NICE_HOURS if h * hour >= horizon / bins and math.isclose(day / (h * hour),
                                                                                          round(day / (h * hour)))]
    width = widths[0] if widths else horizon / bins
    return np.append(np.arange(0, horizon - 1e-9 * horizon, width), horizon)


def _cycle_name(model: Model) -> str:
    """What the model's run.day_length is: days, weeks, or a cycle of its own length."""
    hours = model.day_length * HOURS_PER_UNIT[model.time_unit]
    return {24: "days", 168: "weeks"}.get(round(hours, 9), f"cycles of {model.day_length:g} {_unit(model)}")


def _mean_queue(results: Results, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Per department: the queue length averaged over each bin (a time integral) and over replications."""
    sums = {d: np.zeros(len(edges) - 1) for d in results.model.departments}
    for r in range(results.replications):
        for d, rows in results.queue_series(r).groupby("department", sort=False):
            times, lengths = rows["time"].to_numpy(), rows["queue_length"].to_numpy()
            area = np.concatenate([[0.0], np.cumsum(lengths[:-1] * np.diff(times))])
            idx = np.searchsorted(times, edges, side="right") - 1
            before = idx < 0
            idx = np.clip(idx, 0, None)
            at_edges = np.where(before, 0.0, area[idx] + lengths[idx] * (edges - times[idx]))
            sums[d] += np.diff(at_edges) / np.diff(edges)
    return {d: s / results.replications for d, s in sums.items()}


def sweep_figure(sweep: Sweep, table: pd.DataFrame, head: Headline, kpi_unit: str) -> go.Figure:
    """A sweep's picture: a line with its 95% CI band for one lever, a heatmap for two."""
    if len(sweep.levers) == 1:
        fig = sweep_line_figure(table, sweep.levers[0], head.label, kpi_unit)
        if head.kind == "share":  # as the cards show it: 39.8%, not 0.398
            fig.update_yaxes(tickformat=".2~%", title_text=f"{head.label} (%)")  # 0.5%, 1%, 1.5%: no repeats
        if sweep.levers[0].key.startswith("error_rate."):
            fig.update_xaxes(tickformat=".2~%", title_text=f"{_plain(sweep.levers[0].label)} (%)")
        return fig
    fig = sweep_heatmap_figure(table, sweep.levers[0], sweep.levers[1], head, kpi_unit)
    if head.kind == "share":
        fig.data[0].texttemplate = "%{z:.1%}"  # the means' panel
    return fig


def _axis_title(lever: LeverRange) -> str:
    return f"{_plain(lever.label)} ({lever.unit})"


def sweep_line_figure(table: pd.DataFrame, lever: LeverRange, kpi_label: str, kpi_unit: str) -> go.Figure:
    """A KPI's mean and 95% CI band across values of one lever; the model's own value marked."""
    fig = go.Figure()
    band = table.dropna(subset=["ci_low", "ci_high"])
    fig.add_trace(go.Scatter(x=list(band["x"]) + list(band["x"][::-1]),
                             y=list(band["ci_high"]) + list(band["ci_low"][::-1]), fill="toself",
                             fillcolor="rgba(31,78,121,0.18)", line={"width": 0}, name="95% CI",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=table["x"], y=table["mean"], mode="lines+markers", name="mean",
                             line={"color": "#1F4E79", "width": 3}, marker={"size": 8}))
    fig.add_vline(x=lever.baseline, line={"color": "#555555", "dash": "dot"}, annotation_text="as modelled")
    fig.update_xaxes(title_text=_axis_title(lever))
    fig.update_yaxes(title_text=f"{kpi_label} ({kpi_unit})")
    return _layout(fig, f"{kpi_label} as {_plain(lever.label)} changes")


def sweep_heatmap_figure(table: pd.DataFrame, x: LeverRange, y: LeverRange, head: Headline,
                         kpi_unit: str) -> go.Figure:
    """Two levers: the KPI's mean over the grid (left) and its 95% CI half-width (right), both with hover.

    The half-width panel says where the grid needs more replications before two cells can be told
    apart; the model's own setting is ringed in both panels. Red is always the bad end.
    """
    kpi_label = head.label
    mean = table.pivot(index="y", columns="x", values="mean")
    half = table.pivot(index="y", columns="x", values="half_width")
    xs, ys = [f"{v:g}" for v in mean.columns], [f"{v:g}" for v in mean.index]  # categories: even cells
    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.2,
                        subplot_titles=(f"Mean ({kpi_unit})", f"± 95% CI half-width ({kpi_unit})"))
    x_name, y_name = _plain(x.label), _plain(y.label)
    hover = (f"{x_name}: %{{x}}<br>{y_name}: %{{y}}<br>{kpi_label}: %{{z:.3g}} ± %{{customdata:.2g}}"
             f" {kpi_unit}<extra></extra>")
    fig.add_trace(go.Heatmap(x=xs, y=ys, z=mean.values, customdata=half.values, hovertemplate=hover,
                             colorscale="YlOrRd", reversescale=not head.lower_is_better, texttemplate="%{z:.3g}",
                             colorbar={"title": {"text": kpi_unit}, "x": 0.475, "len": 0.9}), row=1, col=1)
    fig.add_trace(go.Heatmap(x=xs, y=ys, z=half.values, customdata=mean.values, colorscale="Greys",
                             texttemplate="±%{z:.2g}", colorbar={"title": {"text": kpi_unit}, "x": 1.0, "len": 0.9},
                             hovertemplate=(f"{x_name}: %{{x}}<br>{y_name}: %{{y}}<br>95% CI half-width: "
                                            f"%{{z:.2g}} {kpi_unit}<extra></extra>")), row=1, col=2)
    base = (f"{x.baseline:g}", f"{y.baseline:g}")
    if base[0] in xs and base[1] in ys:
        for col in (1, 2):
            fig.add_trace(go.Scatter(x=[base[0]], y=[base[1]], mode="markers", name="as modelled",
                                     showlegend=col == 1, hoverinfo="skip",
                                     marker={"symbol": "circle-open", "size": 26, "color": "#1F4E79",
                                             "line": {"width": 3}}), row=1, col=col)
    for col in (1, 2):
        fig.update_xaxes(title_text=_axis_title(x), type="category", row=1, col=col)
        fig.update_yaxes(title_text=_axis_title(y), type="category", row=1, col=col)
    return _layout(fig, f"{kpi_label} over {x_name} and {y_name}", height=480)


# --- the chain diagram --------------------------------------------------------------------------------


def _shorten(name: str, limit: int) -> str:
    """A node's name in at most two lines of ``limit`` characters, cut with '…' after that: with many
    columns, whole names ran into each other and none could be read. The whole name is in the hover."""
    lines = textwrap.wrap(name, limit) or [name]
    if len(lines) > 2:
        lines = [lines[0], lines[1][: limit - 1].rstrip() + "…"]
    return "<br>".join(_plain(line) for line in lines)


@dataclass(frozen=True)
class Edge:
    source: str  # a department, or "class:<name>" for customers entering
    target: str
    kind: str  # "enters", "handoff" or "consult"


def chain_edges(model: Model) -> list[Edge]:
    """Who sends work to whom: customers entering, handoffs between steps, consults (nested too)."""
    edges: dict[tuple[str, str, str], None] = {}
    for name, cls in model.customers.items():
        _handoffs(cls.journey, {f"class:{name}"}, edges)
        for path, step in walk_steps(cls.journey, f"customers.{name}.journey"):
            found = dict(consult_requests(step.consult, f"{path}.consult"))
            for rpath, request in found.items():
                parent = rpath.rsplit(".consult", 1)[0]
                source = found[parent].request if parent in found else step.serve
                edges[(source, request.request, "consult")] = None
    return [Edge(*key) for key in edges]


def _handoffs(steps: list, before: set[str], edges: dict) -> set[str]:
    """Add edges into each serve from whichever departments may precede it; return the last ones."""
    for step in steps:
        if isinstance(step, Serve):
            for source in before:
                if source != step.serve:
                    edges[(source, step.serve, "enters" if source.startswith("class:") else "handoff")] = None
            before = {step.serve}
        elif isinstance(step, Branch):
            after: set[str] = set()
            for option in step.branch:
                after |= _handoffs(option.then, before, edges) if option.then else before
            before = after
    return before


def _layers(model: Model, edges: list[Edge]) -> dict[str, int]:
    """Column of each node: longest path from the customers, ignoring edges that close a loop.

    The depth-first walk keeps its own stack: a recursive one ran out of Python's stack on a chain
    of about 1,000 departments, which a model may hold.
    """
    nodes = [f"class:{c}" for c in model.customers] + list(model.departments)
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        out[e.source].append(e.target)
    state: dict[str, int] = {}  # 1 while on the walk's path, 2 once done
    forward: dict[str, list[str]] = {n: [] for n in nodes}
    finished: list[str] = []  # every node after all it leads to (forward edges only)
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, targets = stack[-1]
            nxt = next(targets, None)
            if nxt is None:
                state[node] = 2
                finished.append(node)
                stack.pop()
            elif state.get(nxt) != 1:  # else a loop back (rework, return visits): not a layer constraint
                forward[node].append(nxt)
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(out[nxt])))
    layer = {n: 0 for n in nodes}
    for node in reversed(finished):  # each node before those it leads to
        for nxt in forward[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
    for d in model.departments:
        layer[d] = max(layer[d], 1)
    return layer


def chain_columns(model: Model) -> int:
    """Columns the chain diagram needs (customers, then each layer of departments): past
    WIDE_CHAIN_COLUMNS it wants the page's whole width to be read."""
    return max(_layers(model, chain_edges(model)).values()) + 1


WIDE_CHAIN_COLUMNS = 6
MAX_NODE_SIZE = 70  # px: a department of about 25 staff; the number beside it says how many
NODE_CLEARANCE = 0.3  # columns/rows apart: an arrow nearer a node it does not join seems to go through it
BOW_HEIGHTS = (0.8, 1.2, 1.6, 2.4)  # how far a bow's control point sits off the straight line
BOW_STANDOFF = 0.15  # columns: where a bow's line starts, beside the node it leaves


def edge_path(start: tuple[float, float], end: tuple[float, float],
              others: list[tuple[float, float]]) -> np.ndarray:
    """Where an arrow runs: straight (its two ends) if it clears every other node, else a bow (a
    quadratic Bezier, 33 points) to the side and of the height that clears them best. A straight
    arrow past a node in between read as two arrows through that node: in e-commerce, customer
    service's consult of the warehouse ran over billing and hid billing's handoff to the warehouse."""
    a, b = np.asarray(start, float), np.asarray(end, float)
    straight = np.linspace(a, b, 33)
    if _clearance(straight, others) >= NODE_CLEARANCE:
        return np.array([a, b])
    normal = np.array([a[1] - b[1], b[0] - a[0]]) / np.linalg.norm(b - a)
    t = np.linspace(0, 1, 33)[:, None]
    bows = [(1 - t) ** 2 * a + 2 * t * (1 - t) * ((a + b) / 2 + side * height * normal) + t ** 2 * b
            for height in BOW_HEIGHTS for side in (1, -1)]
    clear = [bow for bow in bows if _clearance(bow, others) >= NODE_CLEARANCE]
    return clear[0] if clear else max(bows, key=lambda bow: _clearance(bow, others))


def _clearance(points: np.ndarray, nodes: list[tuple[float, float]]) -> float:
    """The least distance from a line (its points) to any of the nodes."""
    if not nodes:
        return math.inf
    return float(np.linalg.norm(points[:, None, :] - np.asarray(nodes, float)[None, :, :], axis=2).min())


def chain_figure(model: Model, colour_by: Mapping[str, float] | None = None,
                 colour_label: str = "utilisation") -> go.Figure:
    """The chain: departments sized by staff, handoffs (grey) and consults (red), customers entering (blue).

    ``colour_by`` maps department -> a share (utilisation or share of delay) to colour the nodes.
    """
    edges = chain_edges(model)
    layer = _layers(model, edges)
    columns: dict[int, list[str]] = {}
    for node, col in layer.items():
        columns.setdefault(col, []).append(node)
    pos = {}
    for col, nodes in columns.items():
        for i, node in enumerate(nodes):
            pos[node] = (float(col), (len(nodes) - 1) / 2 - i)
    fig = go.Figure()
    bows, arrows = [], []  # arrows go in at once: plotly checks them all again at each add_annotation
    for e in edges:
        colour = {"enters": "#1F4E79", "handoff": "#444444", "consult": "#B2182B"}[e.kind]
        arrow = {"xref": "x", "yref": "y", "axref": "x", "ayref": "y", "showarrow": True, "arrowhead": 3,
                 "arrowsize": 1.2, "arrowwidth": 2.2 if e.kind == "consult" else 1.8, "arrowcolor": colour,
                 "standoff": 26, "opacity": 0.85}
        path = edge_path(pos[e.source], pos[e.target], [p for n, p in pos.items() if n not in (e.source, e.target)])
        if len(path) == 2:  # straight
            (x0, y0), (x1, y1) = path
            arrows.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "startstandoff": 22, **arrow})
            continue
        # A bow: a line from beside its start (as a straight arrow's startstandoff), its last stretch an arrow.
        bows.append(path)
        head, tail = len(path) * 7 // 8, np.argmax(np.linalg.norm(path - path[0], axis=1) >= BOW_STANDOFF)
        under_arrow = path[head] + 0.25 * (path[head + 1] - path[head])  # the arrow starts a few px off its tail
        line = np.vstack([path[tail: head + 1], under_arrow])
        fig.add_trace(go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines", hoverinfo="skip",
                                 showlegend=False, line={"color": colour, "width": arrow["arrowwidth"]},
                                 opacity=0.85, meta="edge"))
        arrows.append({"x": path[-1, 0], "y": path[-1, 1], "ax": path[head, 0], "ay": path[head, 1], **arrow})
    fig.update_layout(annotations=arrows)
    for kind, colour in (("customers enter", "#1F4E79"), ("handoff (next step)", "#444444"),
                         ("consult (held while waiting)", "#B2182B")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=kind, line={"color": colour, "width": 3}))
    classes = list(model.customers)
    fit = partial(_shorten, limit=max(10, 100 // (max(layer.values()) + 1)))  # a column's width in characters
    class_names = [model.customers[c].label or c.replace("_", " ") for c in classes]
    fig.add_trace(go.Scatter(
        x=[pos[f"class:{c}"][0] for c in classes], y=[pos[f"class:{c}"][1] for c in classes],
        mode="markers+text", marker={"symbol": "square", "size": 26, "color": "#1F4E79"},
        text=[fit(n) for n in class_names], textposition="bottom center", hovertext=[_plain(n) for n in class_names],
        hoverinfo="text", name="external customers"))
    depts, names = list(model.departments), department_labels(model)
    staff = [model.departments[d].head_count for d in depts]
    size = [min(MAX_NODE_SIZE, 22 + 9 * math.sqrt(s)) for s in staff]  # 300 agents drew a 180 px disc over the chain
    marker: dict = {"size": size, "line": {"color": "#222222", "width": 1.5}}
    if colour_by is not None:
        values = [float(colour_by.get(d, math.nan)) for d in depts]
        marker.update(color=values, cmin=0, cmax=1, colorscale=[[0, "#E8F1F8"], [0.6, "#F6C45B"], [0.85, "#E0542F"],
                                                                [1, "#8B0000"]],
                      colorbar={"title": {"text": colour_label.replace(" ", "<br>", 1), "side": "top"},
                                "tickformat": ".0%", "len": 0.8, "thickness": 14})
        hover = [f"{_plain(names[d])}<br>{s} staff<br>{colour_label}: {format_value(v, 'share', model)}"
                 for d, s, v in zip(depts, staff, values, strict=True)]
    else:
        marker["color"] = [department_colours(model)[d] for d in depts]
        hover = [f"{_plain(names[d])}<br>{s} staff" for d, s in zip(depts, staff, strict=True)]
    fig.add_trace(go.Scatter(x=[pos[d][0] for d in depts], y=[pos[d][1] for d in depts], mode="markers+text",
                             marker=marker, text=[f"{fit(names[d])} ({s})" for d, s in zip(depts, staff, strict=True)],
                             textposition="bottom center", hovertext=hover, hoverinfo="text", name="departments"))
    span = max(layer.values())
    rows = max(len(n) for n in columns.values())
    low, high = -(rows / 2) - 0.3, rows / 2 + 0.1
    for path in bows:  # a bow above the top row or below the bottom one stays in the picture
        low, high = min(low, path[:, 1].min() - 0.2), max(high, path[:, 1].max() + 0.2)
    fig.update_xaxes(visible=False, range=[-0.7, span + 0.5])
    fig.update_yaxes(visible=False, range=[low, high])
    fig = _layout(fig, "The chain: who serves whom (size and number: staff)", height=max(380, 170 + 110 * rows))
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.02, "x": 0, "xanchor": "left"},
                      margin={"l": 20, "r": 20, "t": 60, "b": 20})
    return fig
