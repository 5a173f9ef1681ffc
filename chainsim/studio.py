"""What the what-if studio needs besides Streamlit: scenario settings, levers, work cap, cache keys.

The app (app.py) holds only widgets and layout; everything it decides lives here so it can be
tested without a browser and reused by scripts. Nothing here imports Streamlit.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from chainsim.api import Results, model_from_text
from chainsim.errors import ModelError, Problem
from chainsim.levers import apply_levers
from chainsim.load import arrival_rate, error_rate, offered_load
from chainsim.metrics import t_interval
from chainsim.model import (
    MAX_STAFF,
    Model,
    Parallel,
    Request,
    Serve,
    clock_events,
    consult_requests,
    parse_model,
    walk_steps,
)
from chainsim.plan import day_segments

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "retail_bank.yaml"
UPLOAD_LIMIT_BYTES = 200_000
# Customers x replications one click may start: 10-25 s on one core at the 5,000-8,000 customers
# per second measured on the bundled models; enough for any of them at its own replication count.
WORK_CAP = 120_000
# Jobs (steps, requests, rework, clarification rounds, interruptions, outages, shift changes) that
# count as one customer: the bundled models make at most 9 per customer, counted as
# work_per_replication does. A model doing far more (error_rate near 1, interruptions every 0.0001
# min, a 3,000-step journey) counts as jobs / 20 customers, so editing the YAML cannot make a click
# run for hours.
JOBS_PER_CUSTOMER = 20
# The replications slider's range: 2 for a confidence interval at all; 200 keeps one run's work sane.
REPLICATIONS_RANGE = (2, 200)
# The error-rate sliders stop here: at 1 work never comes out right (the schema refuses it), and at
# 0.95 each piece of work is already done 20 times on average.
ERROR_RATE_MAX = 0.95
# The unclear-requests slider stops where the most unclear request reaches this chance (each then
# asked back 20 times on average); at 1 the schema refuses it.
CLARIFY_MAX = 0.95
# The app's result cache, shared by every session. A run at the work cap pickles to 15-45 MB on the
# bundled models, so 20 entries stay under 1 GB; CACHE_MAX_BYTES holds models with heavier records
# (many jobs per customer) to the same figure, and entries go an hour after they were made.
CACHE_MAX_ENTRIES = 20
CACHE_MAX_BYTES = 1_000_000_000
CACHE_TTL_SECONDS = 3600
# Saved scenarios per session (each keeps a run's results): the oldest goes when one more is saved.
SAVED_SCENARIOS_MAX = 20


def model_files(folder: Path = MODELS_DIR) -> list[Path]:
    """The bundled models, the default first."""
    files = sorted(folder.glob("*.yaml"))
    return sorted(files, key=lambda p: p.name != DEFAULT_MODEL)


def read_upload(name: str, data: bytes) -> str:
    """Text of an uploaded model file, refusing files over the app's size cap."""
    refuse_oversized(name, "file", len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError([Problem(name, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8")]) from None


def refuse_oversized(name: str, what: str, size: int) -> None:
    """ModelError for a model over the app's size cap: parsing one costs seconds on every rerun."""
    if size > UPLOAD_LIMIT_BYTES:
        raise ModelError([Problem(name, f"{what} is {size:,} bytes; the app accepts model files up to "
                                  f"{UPLOAD_LIMIT_BYTES:,} bytes (the CLI accepts bigger ones)")])


def parse_text(text: str, source: str) -> Model:
    """A model from YAML text; ModelError (with field paths) when it cannot run.

    Text over the upload cap is refused, so editing in the app cannot bring in a bigger model than
    an upload can. Arrival traces are refused: a trace names a file on the server, and a user's
    text must not make the server read its files (`trace: /dev/zero` would read until memory runs out).
    """
    refuse_oversized(source, "text", len(text.encode("utf-8")))
    model = model_from_text(text, source=source)
    traced = [name for name, spec in model.customers.items() if spec.arrivals.trace is not None]
    if traced:
        raise ModelError([Problem(f"customers.{name}.arrivals.trace", "the app does not read trace files from "
                                  "the server: use `rate` or `profile` here, or run the model with the CLI")
                          for name in traced])
    return model


def model_to_yaml(model: Model, header: str = "") -> str:
    """A model file a user can download, edit and load again, the same model: fields at their
    defaults are left out (with every field written out, a model of 1,000 departments made a file
    twice the app's own upload cap)."""
    full = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    data = _with_dists(model.model_dump(by_alias=True, exclude_defaults=True, mode="json"), full)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _with_dists(lean: Any, full: Any) -> Any:
    """``lean``, a dump without defaults, with each ``dist`` of ``full`` put back: a distribution's
    `dist` is its own default, but the loader needs it to tell which distribution it reads."""
    if isinstance(full, dict):
        return {key: full[key] if key == "dist" else _with_dists(lean[key], full[key])
                for key in full if key in lean or key == "dist"}
    if isinstance(full, list):
        return [_with_dists(a, b) for a, b in zip(lean, full, strict=True)]
    return lean


def download_names(model: Model, replications: int, seed: int) -> dict[str, str]:
    """File names for the downloads that say what they hold: a folder of 'chainsim_results.csv' files
    from several models and seeds could not be told apart."""
    stem = re.sub(r"[^a-z0-9]+", "_", model.name.lower()).strip("_")[:60] or "model"
    return {"scenario": f"{stem}_scenario.yaml", "results": f"{stem}_{replications}reps_seed{seed}.csv",
            "report": f"{stem}_{replications}reps_seed{seed}_report.html"}


def scenario_file(model: Model, scenario: Model, text: str, replications: int, seed: int) -> str:
    """The scenario in the sidebar as a model file that gives the app's numbers again: it carries the
    sidebar's replications and seed (the file's own may differ), so `chainsim run` on it matches the
    scenario's cards once they are up to date."""
    pinned = scenario.with_changes({"run.replications": replications, "run.seed": seed})
    return model_to_yaml(pinned, f"Scenario of {model.name}: {text}\n"
                                 f"Replications and seed as in the app: {replications}, {seed}")


def model_from_json(text: str) -> Model:
    """The inverse of ``Model.canonical_json`` (cache keys carry models as canonical JSON)."""
    return parse_model(json.loads(text))


def default_replications(model: Model) -> int:
    """The model's own replication count, clamped to the slider's range (a file may ask for 100,000)."""
    low, high = REPLICATIONS_RANGE
    return min(max(model.run.replications, low), high)


def kpi_unit(kind: str, model: Model) -> str:
    """The axis unit of a headline KPI kind ('time', 'share', 'count', 'money') in this model's terms."""
    return {"time": f"{model.time_unit}s", "share": "share", "count": "customers", "money": model.currency}[kind]


# --- work cap -----------------------------------------------------------------------------------


def customers_per_replication(model: Model) -> float:
    """Expected external customers arriving in one replication (all classes, batches included)."""
    return sum(arrival_rate(model, name) for name in model.customers) * model.run.horizon


def jobs_per_customer(model: Model) -> float:
    """An upper bound on the expected jobs one external customer makes (every branch taken)."""
    rates = {name: arrival_rate(model, name) for name in model.customers}
    if sum(rates.values()) == 0:
        return 0.0
    jobs = sum(rate * journey_jobs(model, model.customers[name].journey, name) for name, rate in rates.items())
    return jobs / sum(rates.values())


def journey_jobs(model: Model, journey: list, name: str) -> float:
    """Expected jobs of one walk through a journey, rework loops included (every branch taken).

    The steps are taken in walk order as one line, every option of a branch after the other (an
    upper bound: a customer takes one). The walk moves forward one step at a time, so its jobs are
    the sum over steps k of F(k), the jobs to get past step k once reached: its own jobs c(k), and
    with probability e(k) a defect sends the walk back to the rework_to target t (k itself by
    default), from where it must get past t..k-1 again and retry k:
    F(k) = c(k) + e(k) * (F(t) + ... + F(k-1) + F(k)), so F(k) = (c(k) + e(k) * sum F(t..k-1)) / (1 - e(k)).
    """
    steps = [step for _, step in walk_steps(journey, name)]
    position = {step.id: k for k, step in enumerate(steps) if step.id is not None}
    before = [0.0]  # before[k]: F(0) + ... + F(k-1)
    for k, step in enumerate(steps):
        e = error_rate(model, step, step.serve)
        back_to = position[step.rework_to] if step.rework_to is not None else k
        past = (1.0 + consult_jobs(model, step.consult) + e * (before[k] - before[back_to])) / (1.0 - e)
        before.append(before[k] + past)
    return before[-1]


def consult_jobs(model: Model, consult: Request | Parallel | list | None) -> float:
    """Expected jobs of one consult: each request with its redos and clarification rounds, nested ones too."""
    if consult is None:
        return 0.0
    if isinstance(consult, Request):
        rounds = 1.0 / (1.0 - consult.clarify.p) if consult.clarify is not None else 1.0
        tries = rounds / (1.0 - error_rate(model, consult, consult.request))
        return tries * (1.0 + consult_jobs(model, consult.consult))
    items = consult.parallel if isinstance(consult, Parallel) else consult
    return sum(consult_jobs(model, item) for item in items)


def work_per_replication(model: Model) -> float:
    """Customers one replication simulates, or jobs / JOBS_PER_CUSTOMER when that is more."""
    customers = customers_per_replication(model)
    # Clock events count too: with almost no customers, 20 departments changing shift 4 times a day over
    # a horizon of 10 million minutes took 3 s a replication (10 minutes a click at 200 replications).
    # Counted as jobs, they weigh more than they cost, so the cap stays an upper bound.
    clock = sum(n for n, _, _ in clock_events(model))
    return max(customers, (customers * jobs_per_customer(model) + clock) / JOBS_PER_CUSTOMER)


def work(models: list[Model], replications: int) -> float:
    """Customers x replications a click would simulate (distinct models only: duplicates are one run)."""
    distinct = {m.canonical_json(): m for m in models}
    return sum(work_per_replication(m) for m in distinct.values()) * replications


def work_cap_message(amount: float, scenario_file: str = "scenario.yaml", cap: int = WORK_CAP) -> str | None:
    """None when a click of this size may run; otherwise what to do instead, in plain words (with the
    name the scenario's download gets, see download_names)."""
    if amount <= cap:
        return None
    return (f"This would simulate about {amount:,.0f} customers (customers per replication x replications "
            f"x runs; {JOBS_PER_CUSTOMER} jobs or interruptions count as one customer when a model makes "
            f"more per customer); the app starts at most {cap:,} per click so it stays responsive. Lower the "
            "replications, shorten run.horizon, or run bigger experiments from the command line: download "
            f"the scenario YAML (Take away tab) and run `chainsim run {scenario_file} --replications 200 "
            "--workers 0`.")


def sweep_cap_message(amount: float, runs: int, replications: int, cap: int = WORK_CAP) -> str | None:
    """None when a sweep of this size may run; otherwise how to run it as a grid experiment instead."""
    if amount <= cap:
        return None
    return (f"This sweep would simulate about {amount:,.0f} customers ({runs} runs x {replications} replications "
            f"x customers per replication); the app starts at most {cap:,} per click so it stays responsive. "
            "Use fewer points or replications, or run the sweep from the command line as an experiment with a "
            "grid design: download the scenario YAML (Take away tab), write an experiment file with "
            "`model: scenario.yaml` and `design: {type: grid, factors: {departments.<department>.staff: [2, 3, 4, 5], "
            "...}}` (one factor per lever; see docs/experiments.md), then run "
            "`chainsim experiment sweep.yaml --workers 0`.")


# --- scenario settings and levers -----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Lever positions in a user's terms: staff per department, error rates, and model-wide factors."""

    staff: dict[str, int] = field(default_factory=dict)  # head count at peak, per department
    shifts: dict[str, tuple[int, ...]] = field(default_factory=dict)  # staff per schedule window, per department
    error_rate: dict[str, float] = field(default_factory=dict)  # per department, 0..1
    error_factor: dict[str, float] = field(default_factory=dict)  # x baseline, departments of several rates
    clarify_factor: float = 1.0  # x the probability that a request is unclear
    demand_growth: float = 0.0  # percent more external arrivals
    patience_factor: float = 1.0  # x customers' patience

    @classmethod
    def baseline(cls, model: Model) -> Scenario:
        """The lever positions that reproduce the model as written."""
        several = several_error_rates(model)
        return cls(staff={d: spec.head_count for d, spec in model.departments.items()},
                   shifts={d: tuple(s.staff for s in spec.schedule) for d, spec in model.departments.items()
                           if spec.schedule is not None},
                   error_rate={d: spec.error_rate for d, spec in model.departments.items() if d not in several},
                   error_factor={d: 1.0 for d in model.departments if d in several})

    def with_lever(self, lever: str, value: float) -> Scenario:
        """A copy with one lever moved; ``lever`` is a LeverRange key such as 'staff.it' or 'shift.it.0'."""
        kind, _, department = lever.partition(".")
        if kind == "shift":
            department, _, window = department.rpartition(".")
            staff = list(self.shifts[department])
            staff[int(window)] = int(round(value))
            return replace(self, shifts={**self.shifts, department: tuple(staff)})
        if kind == "staff":
            return replace(self, staff={**self.staff, department: int(round(value))})
        if kind == "error_rate":
            return replace(self, error_rate={**self.error_rate, department: float(value)})
        if kind == "error_factor":
            return replace(self, error_factor={**self.error_factor, department: float(value)})
        return replace(self, **{kind: float(value)})

    def levers(self, model: Model) -> list[dict[str, Any]]:
        """The changes against ``model`` as levers (chainsim.levers vocabulary, as in experiment files).

        An error rate on a department that has errors becomes training (error_factor), and so does
        the errors slider of a department of several rates; a rate that starts from zero has nothing
        to multiply and is set directly (see :meth:`error_changes`).
        """
        base = Scenario.baseline(model)
        out: list[dict[str, Any]] = []
        # Shift patterns first: hiring (add_staff) then adds to every shift of the new pattern.
        for dept, staff in self.shifts.items():
            if staff != base.shifts[dept]:
                windows = model.departments[dept].schedule
                out.append({"lever": "shift_pattern", "department": dept,
                            "schedule": [{"from": w.start, "to": w.end, "staff": n} for w, n in zip(windows, staff,
                                                                                                     strict=True)]})
        for dept, count in self.staff.items():
            if count != base.staff.get(dept):
                out.append({"lever": "add_staff", "department": dept, "count": count - base.staff[dept]})
        for dept, rate in self.error_rate.items():
            old = base.error_rate[dept]
            if old > 0 and not math.isclose(rate, old):
                out.append({"lever": "train", "department": dept, "error_factor": rate / old})
        for dept, factor in self.error_factor.items():
            if not math.isclose(factor, 1.0):
                out.append({"lever": "train", "department": dept, "error_factor": factor})
        if self.demand_growth != 0:
            growing = [c for c, spec in model.customers.items() if spec.arrivals.trace is None]
            if len(growing) == len(model.customers):
                out.append({"lever": "demand_growth", "percent": self.demand_growth})
            else:
                out.extend({"lever": "demand_growth", "percent": self.demand_growth, "class": c} for c in growing)
        if self.clarify_factor != 1 and has_clarify(model):
            out.append({"lever": "clearer_requests", "factor": self.clarify_factor})
        if self.patience_factor != 1 and has_patience(model):
            out.append({"lever": "patience", "factor": self.patience_factor})
        return out

    def error_changes(self, model: Model) -> dict[str, float]:
        """Error rates set on departments that had none, as dotted-path overrides."""
        return {f"departments.{d}.error_rate": rate for d, rate in self.error_rate.items()
                if model.departments[d].error_rate == 0 and rate != 0}

    def apply(self, model: Model) -> Model:
        """The scenario model: the baseline with the levers applied (and error rates set from zero).

        Sliders that cannot go together (a department's shifts cut to zero, then its staff cut
        below that) raise a ModelError naming the sliders as the sidebar does, not the lever list
        behind them ('scenario[1].count' meant nothing to a user).
        """
        levers = self.levers(model)
        try:
            changed = apply_levers(model, levers, where="scenario")
            overrides = self.error_changes(model)
            return changed.with_changes(overrides) if overrides else changed
        except ModelError as exc:
            if closed := self.closed_departments(model):  # the likely cause, in the sidebar's words
                raise ModelError([Problem(f"{name} shift sliders (Shifts)", "every shift is at 0, so nobody is on "
                                          "duty to do its work: move a shift above 0, or press Reset levers")
                                  for name in closed]) from None
            raise ModelError([Problem(slider_name(p.path, levers, model), p.message)
                              for p in exc.problems]) from None

    def closed_departments(self, model: Model) -> list[str]:
        """Labels of departments whose shift sliders are all at 0 (they are open as written)."""
        names, base = department_labels(model), Scenario.baseline(model)
        return [names[d] for d, staff in self.shifts.items() if not any(staff) and any(base.shifts[d])]

    def describe(self, model: Model) -> str:
        """One line in plain words, e.g. 'IT +1 staff; unclear requests x0.5'."""
        parts, names = [], department_labels(model)
        for lever in self.levers(model):
            kind = lever["lever"]
            if kind == "shift_pattern":
                old = "/".join(str(s.staff) for s in model.departments[lever["department"]].schedule)
                new = "/".join(str(s["staff"]) for s in lever["schedule"])
                parts.append(f"{names[lever['department']]} shifts {old} -> {new}")
            elif kind == "add_staff":
                parts.append(f"{names[lever['department']]} {lever['count']:+d} staff")
            elif kind == "demand_growth":
                parts.append(f"demand {lever['percent']:+g}%")
            elif kind == "clearer_requests":
                parts.append(f"unclear requests x{lever['factor']:g}")
            elif kind == "patience":
                parts.append(f"patience x{lever['factor']:g}")
        for dept, rate in self.error_rate.items():
            if not math.isclose(rate, model.departments[dept].error_rate):
                parts.append(f"{names[dept]} errors {percent(model.departments[dept].error_rate)} -> {percent(rate)}")
        for dept, factor in self.error_factor.items():
            if not math.isclose(factor, 1.0):
                parts.append(f"{names[dept]} errors x{factor:g}")
        return "; ".join(dict.fromkeys(parts)) or "same as baseline"


def slider_name(path: str, levers: list[dict[str, Any]], model: Model) -> str:
    """The sidebar slider behind a problem with lever ``scenario[i]``; other paths (model fields) as given."""
    found = re.match(r"scenario\[(\d+)\]", path)
    if found is None:
        return path
    lever = levers[int(found.group(1))]
    names = department_labels(model)
    department = names.get(lever.get("department", ""), "")
    errors = "errors" if lever["lever"] == "train" and lever["department"] in several_error_rates(model) else "error rate"
    return {"shift_pattern": f"{department} shift sliders (Shifts)", "add_staff": f"{department} staff",
            "train": f"{department} {errors}", "demand_growth": "Demand growth",
            "clearer_requests": "Unclear requests", "patience": "Customer patience"}[lever["lever"]]


@dataclass(frozen=True)
class LeverRange:
    """A lever's slider: bounds, step, unit and help text."""

    key: str
    label: str
    low: float
    high: float
    step: float
    baseline: float
    unit: str
    help: str


def lever_ranges(model: Model) -> list[LeverRange]:
    """Sensible slider ranges for each lever of this model, with units and help.

    The journeys are walked once for all departments: a model dump per department took seconds a
    rerun with a few hundred of them.
    """
    base, names = Scenario.baseline(model), department_labels(model)
    work, rates = work_by_department(model), error_rates(model)
    out = []
    for dept, count in base.staff.items():
        schedule = model.departments[dept].schedule
        shifts = " (the change applies at every hour it is open)" if schedule is not None else ""
        # Cutting staff stops where the thinnest open hour would go below zero (or the department to none).
        low = min(1, count) if schedule is None else max(min(1, count), count - min(open_staff(model, dept), default=0))
        out.append(LeverRange(f"staff.{dept}", f"{names[dept]} staff", low, staff_high(count), 1,
                              count, "people", f"Staff on duty at peak{shifts}. Baseline: {count}."))
    for dept, staff in base.shifts.items():
        label = names[dept]
        for i, (window, n) in enumerate(zip(model.departments[dept].schedule, staff, strict=True)):
            when = window_text(window.start, window.end, model)
            out.append(LeverRange(f"shift.{dept}.{i}", f"{label} staff {when}", 0, staff_high(n), 1, n, "people",
                                  f"Staff on duty in {label}'s shift {when} ({window_caption(model)}; "
                                  f"overlapping shifts add up). Changing it sets a new shift pattern "
                                  f"(lever shift_pattern). Baseline: {n}."))
    for dept in model.departments:
        if dept in base.error_rate:
            rate = base.error_rate[dept]
            pinned = sum(w.error_rate is not None for w in work[dept])  # work that sets the rate (here, this one) itself
            if rate == 0 and work[dept] and pinned == len(work[dept]):
                continue  # a rate set on the department would reach none of its work: a slider doing nothing
            note = " Work that sets its own error_rate keeps it." if rate == 0 and pinned else ""
            out.append(LeverRange(f"error_rate.{dept}", f"{names[dept]} error rate", 0.0,
                                  error_rate_high(rate), 0.01, rate, "share of work redone",
                                  f"Probability that work done here comes back as rework. Baseline: "
                                  f"{percent(rate)}.{note}"))
        else:
            listed = ", ".join(percent(r) for r in sorted(rates[dept]))
            out.append(LeverRange(f"error_factor.{dept}", f"{names[dept]} errors", 0.0,
                                  error_factor_high(rates[dept]), 0.05, 1.0, "x baseline",
                                  f"Multiplies every error rate of the work done here (lever train, "
                                  f"error_factor): its steps and requests set their own ({listed}), so one "
                                  "rate would not describe them. 0 = no errors."))
    if has_clarify(model):
        out.append(LeverRange("clarify_factor", "Unclear requests", 0.0, clarify_factor_high(model), 0.05, 1.0,
                              "x baseline",
                              "Multiplies the chance that an internal request is unclear and must be asked "
                              "back (0.5 = half as many, e.g. better forms)."))
    if any(c.arrivals.trace is None for c in model.customers.values()):
        out.append(LeverRange("demand_growth", "Demand growth", -50.0, 100.0, 5.0, 0.0, "%",
                              "More (or fewer) external customers arriving, in percent (classes arriving "
                              "from a trace file stay as recorded)."))
    if has_patience(model):
        out.append(LeverRange("patience_factor", "Customer patience", 0.25, 3.0, 0.05, 1.0, "x baseline",
                              "Multiplies how long customers wait in queues before giving up."))
    return out


def staff_high(count: int) -> int:
    """Top of a staff slider: twice the baseline (at least 4 more), at most the MAX_STAFF a model
    accepts (a slider up to 120,000 refused every value past 100,000); a baseline above that stays
    reachable (overlapping shifts add up)."""
    return max(count, min(MAX_STAFF, max(count * 2, count + 4)))


def open_staff(model: Model, department: str) -> list[int]:
    """Staff on duty in each stretch of the day the department's schedule has it open (overlapping
    windows added up), as lever add_staff sees it."""
    windows = [(w.start, w.end, w.staff) for w in model.departments[department].schedule]
    return [staff for _, _, staff in day_segments(windows, model.day_length, sum) if staff > 0]


def percent(share: float) -> str:
    """A share as a percentage to three figures: 8%, 3.3% (hospital_ed's Lab: '3% -> 3%' hid a change), 12.5%."""
    return f"{100 * share:.3g}%"


def error_rate_high(rate: float) -> float:
    """Top of an error-rate slider: twice the baseline (at least 0.3), at most ERROR_RATE_MAX (a rate
    of 1 redoes the work for ever); a baseline above that stays reachable."""
    return max(rate, min(ERROR_RATE_MAX, max(0.3, round(rate * 2, 2))))


def error_rates(model: Model) -> dict[str, set[float]]:
    """The error rates each department's work runs with, as lever train sees them
    (chainsim.levers.work_error_rates): each step's and request's own, else the department's (which
    counts alone for a department with no work)."""
    return {d: {w.error_rate if w.error_rate is not None else spec.error_rate for w in work} or {spec.error_rate}
            for (d, spec), work in zip(model.departments.items(), work_by_department(model).values(), strict=True)}


def several_error_rates(model: Model) -> set[str]:
    """The departments one error-rate slider would misdescribe: some of their work sets a rate of its
    own (insurance_claims' Adjusters: 0 as a department, 10% on their reports), so the department's
    rate alone said 0% and moving it left those rates as they were."""
    return {d for d, rates in error_rates(model).items() if len(rates | {model.departments[d].error_rate}) > 1}


def error_factor_high(rates: set[float]) -> float:
    """Top of an errors-factor slider for work of these error rates: x3, or less where the highest
    would pass ERROR_RATE_MAX (but not below x1: the model as written stays reachable)."""
    return max(1.0, min(3.0, math.floor(20 * ERROR_RATE_MAX / max(rates)) / 20))


def work_by_department(model: Model) -> dict[str, list[Serve | Request]]:
    """The journey steps each department serves and the requests it answers, in every class, in
    the model's order of departments."""
    out: dict[str, list[Serve | Request]] = {d: [] for d in model.departments}
    for name, cls in model.customers.items():
        for path, step in walk_steps(cls.journey, name):
            out[step.serve].append(step)
            for _, request in consult_requests(step.consult, path):
                out[request.request].append(request)
    return out


def window_text(start: float, end: float, model: Model) -> str:
    """A time-of-day window in words: clock times with run.day_starts_at ('12:00–14:00', 'day 2,
    8:00–18:00' in a week), else '3:00–5:00' from the start of the day for minute models, 'day 2,
    8–18 h' in a model whose 'day' (run.day_length) is a week of hours, '8–18 h' otherwise."""
    if model.run.day_starts_at is not None:
        first, last = model.clock(start), model.clock(end, closing=True)
        day = first.rpartition(", ")[0]  # 'day 2' in a week, said once for the window
        return f"{first}–{last.removeprefix(day + ', ') if day else last}"
    if model.time_unit == "minute":
        return f"{_clock(start)}–{_clock(end)}"
    short = {"second": "s", "hour": "h", "day": "d"}[model.time_unit]
    if model.time_unit == "hour" and model.day_length > 24 and end <= (start // 24 + 1) * 24:
        day = start // 24
        return f"day {day + 1:g}, {start - 24 * day:g}–{end - 24 * day:g} h"
    return f"{start:g}–{end:g} {short}"


def window_caption(model: Model) -> str:
    """How the shift sliders' windows are written (see window_text)."""
    if model.run.day_starts_at is not None:
        return f"clock times: the day starts at {model.run.day_starts_at}"
    if model.time_unit == "minute":
        return "h:mm from the start of the day"
    if model.time_unit == "hour" and model.day_length > 24:
        return f"day of the {model.day_length:g}-hour cycle, then hours into that day"
    return f"{model.time_unit}s from the start of the day"


def _clock(minutes: float) -> str:
    return f"{int(minutes // 60)}:{int(round(minutes % 60)):02d}"


def md(text: str) -> str:
    """A name from a model file or a user, safe inside Streamlit markdown: shown as typed.

    Streamlit renders markdown and LaTeX in text and widget labels, so a department labelled
    'Back $office$ *2*' showed as 'Back' and an italic formula, and a model name ending in a space
    broke the bold around it. Emphasis, code, link and LaTeX marks are escaped, the ends stripped
    (raw HTML is shown as text by Streamlit anyway).
    """
    return re.sub(r"([\\`*_\[\]$~])", r"\\\1", text.strip())


def department_labels(model: Model) -> dict[str, str]:
    """Each department's display name, unique (see Model.label): plotly draws equal category names
    as one bar, and a slider or table row must stand for one department."""
    return {d: model.label(d) for d in model.departments}


def clarify_chances(model: Model) -> list[float]:
    """The probability that each internal request with `clarify` is unclear."""
    return [request.clarify.p
            for name, cls in model.customers.items()
            for path, step in walk_steps(cls.journey, name)
            for _, request in consult_requests(step.consult, path) if request.clarify is not None]


def has_clarify(model: Model) -> bool:
    """Whether any internal request can be unclear (else the clarification lever has nothing to change)."""
    return bool(clarify_chances(model))


def clarify_factor_high(model: Model) -> float:
    """Top of the unclear-requests slider: x2, or less where the most unclear request would reach
    CLARIFY_MAX (a probability of 1 is refused: the asking back would never end). Whole 0.05 steps."""
    most = max(clarify_chances(model))
    top = 2.0 if most == 0 else min(2.0, math.floor(20 * CLARIFY_MAX / most) / 20)
    return max(1.0, top)  # the model as written stays reachable


def has_patience(model: Model) -> bool:
    return any(c.patience is not None for c in model.customers.values())


# --- instant estimate, sweeps, tables ----------------------------------------------------------------


def estimate_caveat(model: Model) -> str | None:
    """What the instant estimate cannot see in this model, said up front: with staff that change over the
    day, queues build in the thin hours and carry over, and an average misses that by far (e-commerce's
    Warehouse: an estimated 10.6 minutes against some 80 simulated)."""
    shifting = [label for name, label in department_labels(model).items() if model.departments[name].schedule]
    if not shifting:
        return None
    return (f"Staff change over the day here ({', '.join(md(label) for label in shifting)}): queues build in the thin hours and carry "
            "over, which an average cannot show, so the simulated waits can be far longer than these. Read the "
            "utilisation here; press **Run** for the waits.")


def estimate_table(runs: dict[str, Model]) -> pd.DataFrame:
    """Queueing-formula estimate per department and run: utilisation and the Erlang-C mean wait with the
    average staff rounded down and up (equal where it is whole)."""
    first = next(iter(runs.values()))
    table = pd.DataFrame(index=pd.Index(list(department_labels(first).values()), name="department"))
    for label, model in runs.items():
        loads = offered_load(model)
        table[f"{label}: utilisation"] = [d.utilisation for d in loads]
        table[f"{label}: wait ({model.time_unit}s)"] = [d.estimated_wait for d in loads]
        table[f"{label}: wait, staff rounded up ({model.time_unit}s)"] = [d.estimated_wait_rounded_up for d in loads]
    return table


def wait_text(down: float, up: float) -> str:
    """An estimated wait: one number where the staff is whole, else the range from the staff rounded
    up to rounded down ('≥' where rounded down cannot keep up: at some hours the queue grows)."""
    if down == up or math.isinf(up):
        return "no limit" if math.isinf(down) else f"{down:.1f}"
    if math.isinf(down):
        return f"≥ {up:.1f}" if up >= 0.05 else "grows at thin hours"  # '≥ 0.0' said nothing
    return f"{up:.1f}–{down:.1f}"


def estimate_text(table: pd.DataFrame) -> pd.DataFrame:
    """The estimate as short text, runs joined by arrows ('81% -> 61%'), narrow enough for a side panel."""
    runs = [c.removesuffix(": utilisation") for c in table.columns if c.endswith(": utilisation")]
    unit = next(c for c in table.columns if "wait (" in c).split("(")[-1].rstrip(")")
    util, wait = [], []
    for _, row in table.iterrows():
        util.append(" → ".join("overloaded" if math.isinf(u) else f"{u:.0%}" for u in (row[f"{r}: utilisation"] for r in runs)))
        wait.append(" → ".join(wait_text(row[f"{r}: wait ({unit})"], row[f"{r}: wait, staff rounded up ({unit})"])
                               for r in runs))
    return pd.DataFrame({"utilisation": util, f"wait ({unit})": wait}, index=table.index)


def sweep_values(lever: LeverRange, points: int) -> list[float]:
    """Evenly spaced values across a lever's range, on its slider's steps (whole numbers for staff),
    and the value as modelled: the chart marks it, and without a point there the line or grid said
    nothing about where the model stands."""
    values = np.linspace(lever.low, lever.high, points)
    values = np.clip(lever.low + np.round((values - lever.low) / lever.step) * lever.step, lever.low, lever.high)
    if lever.low <= lever.baseline <= lever.high:
        values = np.append(values, lever.baseline)
    return sorted({round(float(v), 9) for v in values})


@dataclass(frozen=True)
class Sweep:
    """One or two levers swept over a grid, starting from a scenario.

    Points come in a fixed order (the first lever varies slowest), so results line up with them
    whatever order the runs finished in.
    """

    levers: tuple[LeverRange, ...]
    values: tuple[tuple[float, ...], ...]  # per lever

    @classmethod
    def over(cls, levers: Sequence[LeverRange], points: int) -> Sweep:
        """``points`` evenly spaced values of each lever (one or two levers)."""
        if not 1 <= len(levers) <= 2:
            raise ValueError(f"a sweep varies one or two levers (got {len(levers)})")
        return cls(tuple(levers), tuple(tuple(sweep_values(lever, points)) for lever in levers))

    def points(self) -> list[tuple[float, ...]]:
        return list(itertools.product(*self.values))

    def models(self, scenario: Scenario, model: Model) -> list[Model]:
        """The scenario with the swept levers at each point, applied to the baseline model."""
        out = []
        for point in self.points():
            moved = scenario
            for lever, value in zip(self.levers, point, strict=True):
                moved = moved.with_lever(lever.key, value)
            out.append(moved.apply(model))
        return out

    def describe(self, point: tuple[float, ...]) -> str:
        """'IT staff = 3, Demand growth = 10' (progress text for one point)."""
        return ", ".join(f"{lever.label} = {value:g}" for lever, value in zip(self.levers, point, strict=True))

    def table(self, results: list[Results], kpi: str) -> pd.DataFrame:
        """One row per point: lever values (x, and y for a second lever), the KPI's mean, 95% CI and half-width."""
        axes = ["x", "y"][: len(self.levers)]
        rows = [(*point, *r.kpi(kpi)) for point, r in zip(self.points(), results, strict=True)]
        table = pd.DataFrame(rows, columns=[*axes, "mean", "ci_low", "ci_high"])
        table["half_width"] = (table["ci_high"] - table["ci_low"]) / 2
        return table


@dataclass(frozen=True)
class SidebarSettings:
    """The run settings and levers set for one model, kept per model file: a look at another model
    and back, or an edit of the file, does not throw them away."""

    model_json: str  # the model they were set for
    replications: int
    seed: int
    levers: dict[str, float]  # lever key -> slider value

    @classmethod
    def defaults(cls, model: Model) -> SidebarSettings:
        """What the file says: its replications (clamped to the slider), its seed, every lever at its baseline."""
        return cls(model.canonical_json(), default_replications(model), model.run.seed,
                   {r.key: r.baseline for r in lever_ranges(model)})

    def carried_to(self, model: Model) -> tuple[SidebarSettings, list[str]]:
        """These settings on an edited version of their model, and the labels of the levers put back.

        A lever keeps its value where the edit left its baseline and range alone; one whose baseline
        moved goes back to it (its value meant a change from the old baseline). Replications and the
        seed stay unless the edit changed the file's own.
        """
        before, after = model_from_json(self.model_json), SidebarSettings.defaults(model)
        old_ranges = {r.key: r for r in lever_ranges(before)}
        levers, put_back = {}, []
        for r in lever_ranges(model):
            old, value = old_ranges.get(r.key), self.levers.get(r.key)
            kept = (old is not None and value is not None and old.baseline == r.baseline
                    and r.low <= value <= r.high)
            levers[r.key] = value if kept else r.baseline
            if not kept and old is not None and value is not None and value != old.baseline:  # it had been moved
                put_back.append(r.label)
        for key, old in old_ranges.items():  # a moved lever the edit replaced (an error rate now of several
            if key not in levers and self.levers.get(key, old.baseline) != old.baseline:  # rates: a factor)
                put_back.append(old.label)
        same_run = before.run.replications == model.run.replications and before.run.seed == model.run.seed
        replications, seed = (self.replications, self.seed) if same_run else (after.replications, after.seed)
        return SidebarSettings(after.model_json, replications, seed, levers), put_back


def run_key(models: Sequence[Model], replications: int, seed: int) -> tuple[tuple[str, ...], int, int]:
    """What results on screen were computed for: results shown under another key are out of date."""
    return tuple(m.canonical_json() for m in models), replications, seed


def other_model(done: tuple[tuple[str, ...], int, int], key: tuple[tuple[str, ...], int, int]) -> bool:
    """Whether results made under run key ``done`` are of another baseline model than ``key``'s (a
    file switched, uploaded or edited since): not just out of date, but about something else."""
    return done[0][0] != key[0][0]


def run_sweep(models: list[Model], simulate: Callable[[Model, int], Results],
              progress: Callable[[int, int], None] | None = None) -> list[Results]:
    """``simulate(model, i)`` for each model in order, reporting (done, total) after each."""
    results = []
    for i, model in enumerate(models):
        results.append(simulate(model, i))
        if progress is not None:
            progress(i + 1, len(models))
    return results


# --- saved scenarios ---------------------------------------------------------------------------------


def baseline_key(runs: dict[str, Results]) -> tuple[str, int, int]:
    """What saved scenarios must share to sit in one table: baseline model, replications and seed."""
    base = runs["Baseline"]
    return base.model.canonical_json(), base.replications, base.seed


def save_scenario(saved: dict[str, tuple[tuple[str, int, int], Results]], name: str,
                  runs: dict[str, Results], limit: int = SAVED_SCENARIOS_MAX) -> str | None:
    """Keep the last run's KPIs (the scenario's, or the baseline's alone) under ``name``, as the newest.

    The comparison needs only the per-replication KPIs, so the records (tens of MB at the work cap)
    are not kept. Each session keeps at most ``limit``: the oldest goes, and its name is returned
    for the app to say so (None when nothing went).
    """
    last = list(runs.values())[-1]
    saved.pop(name, None)
    saved[name] = (baseline_key(runs), replace(last, records=[None] * len(last.records)))
    if len(saved) <= limit:
        return None
    oldest = next(iter(saved))
    del saved[oldest]
    return oldest


def save_problem(name: str) -> str | None:
    """Why a scenario cannot be saved under ``name`` (None when it can): the comparison table's rows
    are named by it, and its first row is always the baseline."""
    if not name.strip():
        return "give the scenario a name"
    if name.strip().casefold() == "baseline":
        return "“Baseline” is the comparison's row for the model as written: give the scenario another name"
    return None


def free_name(saved: dict[str, tuple[tuple[str, int, int], Results]], name: str, runs: dict[str, Results]) -> str:
    """``name``, or the first free 'name (2)', 'name (3)', ... when it names another saved scenario, so
    saving never silently replaces a different result (default names are cut to 60 characters, so
    two scenarios can share one). The same scenario saved again keeps its name."""
    last, key = list(runs.values())[-1], baseline_key(runs)
    candidate, n = name, 1
    while candidate in saved:
        saved_key, results = saved[candidate]
        if saved_key == key and results.model.canonical_json() == last.model.canonical_json():
            return candidate
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def saved_comparison(saved: dict[str, tuple[tuple[str, int, int], Results]],
                     runs: dict[str, Results] | None) -> dict[str, Results]:
    """The baseline on screen and the saved scenarios made on it; empty when none match."""
    if not runs:
        return {}
    key = baseline_key(runs)
    rows = {label: results for label, (saved_key, results) in saved.items() if saved_key == key}
    return {"Baseline": runs["Baseline"], **rows} if rows else {}


def saved_elsewhere(saved: dict[str, tuple[tuple[str, int, int], Results]], runs: dict[str, Results] | None) -> int:
    """How many saved scenarios were made on another baseline, replications or seed than the run on
    screen (kept, but not in its comparison)."""
    key = baseline_key(runs) if runs else None
    return sum(saved_key != key for saved_key, _ in saved.values())


def results_csv(runs: dict[str, Results]) -> str:
    """Every KPI of every run side by side (mean and 95% CI), with the change against the first run."""
    labels = list(runs)
    frames = []
    for label, results in runs.items():
        frames.append(results.summary()[["mean", "ci_low", "ci_high"]].add_prefix(f"{label}: "))
    table = pd.concat(frames, axis=1)
    base = labels[0]
    for label in labels[1:]:
        table[f"{label}: change"] = table[f"{label}: mean"] - table[f"{base}: mean"]
        diffs = [paired_change(runs[base], runs[label], kpi) for kpi in table.index]
        table[f"{label}: change ci_low"] = [d[1] for d in diffs]
        table[f"{label}: change ci_high"] = [d[2] for d in diffs]
    buffer = io.StringIO()
    table.to_csv(buffer)
    return buffer.getvalue()


def paired_change(base: Results, other: Results, kpi: str) -> tuple[float, float, float]:
    """Change of a KPI against the baseline with a 95% CI from replication-wise differences.

    Both runs use the same seed, so replication r of each sees the same random streams (common
    random numbers) and the paired interval is valid and tighter than comparing two CIs.
    """
    a = np.array([k.get(kpi, math.nan) for k in base.kpis], dtype=float)
    b = np.array([k.get(kpi, math.nan) for k in other.kpis], dtype=float)
    if len(a) != len(b) or base.seed != other.seed:
        mean = float(np.nanmean(b) - np.nanmean(a))
        return mean, math.nan, math.nan
    return t_interval(b - a)
