"""The public entry points: load a model, simulate it, read the results as tables.

The CLI and the app are thin doors onto these functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chainsim import __version__
from chainsim.engine import simulate_replication
from chainsim.errors import MAX_REPLICATIONS, ModelError, Problem, run_arguments, unknown_kpi, whole_number
from chainsim.executors import make_executor
from chainsim.load import load_warnings
from chainsim.metrics import attribution_matrix, kpi_range, replication_kpis, t_interval
from chainsim.model import MAX_SEED, Model, as_model, parse_model
from chainsim.recorder import JOB_KINDS, KINDS, OUTCOMES, Replication
from chainsim.yamlio import parse_yaml

CSV_FILES = ("summary.csv", "kpis.csv", "departments.csv", "attribution.csv", "customers.csv", "jobs.csv")


def model_from_text(text: str | bytes, source: str = "model") -> Model:
    """Parse and validate YAML text (an upload, an edited file) into a Model."""
    if not isinstance(text, str | bytes):
        raise ModelError([Problem(source, f"give the model's YAML text (got {type(text).__name__}); "
                                  "chainsim.load_model reads a file")])
    return parse_model(parse_yaml(text, source=source), source=source)


def _replicate(model: Model, seed: int, replication: int) -> tuple[Replication, dict[str, float]]:
    rep = simulate_replication(model, replication, seed)
    return rep, replication_kpis(model, rep)


def simulate(model: Model | str | Path | dict, replications: int | None = None, seed: int | None = None,
             workers: int | None = 1, dask: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             keep_records: bool = True) -> Results:
    """Run replications of a model; `progress(done, total)` is called as each finishes.

    `model`: a Model, the path of a model file, or the model as a mapping (as read from YAML).
    """
    model = as_model(model)
    if not isinstance(keep_records, bool):
        raise ModelError([Problem("keep_records", f"give True or False (got {keep_records!r})")])
    n = model.run.replications if replications is None else whole_number("replications", replications, 1,
                                                                          MAX_REPLICATIONS)
    seed = model.run.seed if seed is None else whole_number("seed", seed, 0, MAX_SEED)
    workers = run_arguments(workers, progress)
    started = time.perf_counter()
    executor = make_executor(workers, dask)
    outputs: list[Any] = [None] * n
    try:
        for done, (i, out) in enumerate(executor.map(partial(_replicate, model, seed), range(n)), start=1):
            outputs[i] = out if keep_records else (None, out[1])
            if progress is not None:
                progress(done, n)
    finally:
        executor.close()
    return Results(model=model, seed=seed, records=[o[0] for o in outputs], kpis=[o[1] for o in outputs],
                   seconds=time.perf_counter() - started, warnings=load_warnings(model))


@dataclass
class Results:
    """Replications of one model: per-replication KPIs, the records behind them, and the inputs."""

    model: Model
    seed: int
    records: list[Replication | None]
    kpis: list[dict[str, float]]
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    version: str = __version__

    @property
    def replications(self) -> int:
        return len(self.kpis)

    def kpi_table(self) -> pd.DataFrame:
        """Tidy rows: replication, kpi, value."""
        rows = [(r, k, v) for r, kpis in enumerate(self.kpis) for k, v in kpis.items()]
        return pd.DataFrame(rows, columns=["replication", "kpi", "value"])

    def kpi(self, name: str) -> tuple[float, float, float]:
        """(mean, ci_low, ci_high) of one KPI over replications; ModelError for a name no replication has."""
        if not any(name in k for k in self.kpis):
            raise ModelError([unknown_kpi(name, {key for k in self.kpis for key in k})])
        return t_interval(np.array([k.get(name, math.nan) for k in self.kpis]), within=kpi_range(name))

    def summary(self) -> pd.DataFrame:
        """Per KPI: mean and 95% t-interval over replications, and n."""
        names = list(dict.fromkeys(k for kpis in self.kpis for k in kpis))
        rows = []
        for name in names:
            values = np.array([k.get(name, math.nan) for k in self.kpis], dtype=float)
            mean, lo, hi = t_interval(values, within=kpi_range(name))
            rows.append((name, mean, lo, hi, int((~np.isnan(values)).sum())))
        return pd.DataFrame(rows, columns=["kpi", "mean", "ci_low", "ci_high", "n"]).set_index("kpi")

    def departments(self) -> pd.DataFrame:
        """One row per department: utilisation, held share, queue, turnaround, jobs, attribution share."""
        s = self.summary()
        fields = ["utilisation", "held_share", "interrupted_share", "staff.mean", "queue_length.mean",
                  "queue_length.max", "turnaround.mean", "turnaround.p90", "jobs", "reworks", "clarifications",
                  "called_off"]
        rows = []
        for name in self.model.departments:
            row = {"department": name, "label": self.model.label(name)}
            for f in fields:
                key = f"department.{name}.{f}"
                row[f] = s.loc[key, "mean"] if key in s.index else math.nan
            for f in ("utilisation", "turnaround.mean"):
                key = f"department.{name}.{f}"
                row[f"{f}.ci_low"] = s.loc[key, "ci_low"] if key in s.index else math.nan
                row[f"{f}.ci_high"] = s.loc[key, "ci_high"] if key in s.index else math.nan
            row["delay_share"] = s.loc[f"attribution.{name}.share", "mean"]
            rows.append(row)
        return pd.DataFrame(rows).set_index("department")

    def attribution(self) -> pd.DataFrame:
        """Mean minutes per completed external customer by department and kind, with 95% CI."""
        s = self.summary()
        rows = []
        for name in self.model.departments:
            for kind in KINDS:
                mean, lo, hi = s.loc[f"attribution.{name}.{kind}", ["mean", "ci_low", "ci_high"]]
                rows.append((name, self.model.label(name), kind, mean, lo, hi))
        table = pd.DataFrame(rows, columns=["department", "label", "kind", "minutes", "ci_low", "ci_high"])
        total = table["minutes"].sum()
        table["share"] = table["minutes"] / total if total > 0 else math.nan
        return table

    def _records(self) -> list[Replication]:
        if any(r is None for r in self.records):
            raise ValueError("records were not kept (keep_records=False): rerun with them to get per-customer tables")
        return self.records  # type: ignore[return-value]

    def _record(self, replication: int) -> Replication:
        """One replication's records: a clear error for an index that is not one (not an IndexError)."""
        return self._records()[whole_number("replication", replication, 0, self.replications - 1)]

    def customers(self) -> pd.DataFrame:
        """One row per external customer: class, arrival, end, outcome, time in system, rework, churn."""
        frames = []
        for rep in self._records():
            c = rep.customers
            frames.append(pd.DataFrame({
                "replication": rep.replication, "customer": c["id"],
                "class": pd.Categorical.from_codes(c["class"], rep.classes),
                "arrival": c["arrival"], "end": c["end"],
                "outcome": pd.Categorical.from_codes(c["outcome"], OUTCOMES),
                "time_in_system": c["end"] - c["arrival"], "reworks": c["reworks"],
                "clarifications": c["clarifications"], "churned": c["churned"].astype(bool),
                "counted": c["arrival"] >= rep.warmup,
            }))
        return pd.concat(frames, ignore_index=True)

    def jobs(self) -> pd.DataFrame:
        """One row per job: a step visit, an internal request, an answer to a clarification, an interruption,
        a request called off; `start` is empty (NaN) for one no staff member ever took up."""
        frames = []
        for rep in self._records():
            j = rep.jobs
            frames.append(pd.DataFrame({
                "replication": rep.replication, "customer": j["customer"],
                "department": pd.Categorical.from_codes(j["department"], rep.departments),
                "kind": pd.Categorical.from_codes(j["kind"], JOB_KINDS),
                "queued": j["queued"], "start": np.where(j["start"] >= 0, j["start"], np.nan), "end": j["end"],
                "held": j["held"],
            }))
        return pd.concat(frames, ignore_index=True)

    def customer_attribution(self, replication: int = 0) -> pd.DataFrame:
        """Per completed customer of one replication: minutes by (department, kind); rows sum to time in system."""
        rep = self._record(replication)
        c = rep.customers
        done = c["outcome"] == 0
        matrix = attribution_matrix(rep, c["id"][done])
        columns = pd.MultiIndex.from_product([rep.departments, KINDS], names=["department", "kind"])
        table = pd.DataFrame(matrix, index=pd.Index(c["id"][done], name="customer"), columns=columns)
        table[("time_in_system", "")] = (c["end"] - c["arrival"])[done]
        return table

    def queue_series(self, replication: int = 0) -> pd.DataFrame:
        """Queue length per department over time (a row at every change), one replication."""
        rep = self._record(replication)
        frames = [pd.DataFrame({"department": d.name, "time": d.queue_times, "queue_length": d.queue_lengths})
                  for d in rep.department_records]
        return pd.concat(frames, ignore_index=True)

    def staff_series(self, replication: int = 0) -> pd.DataFrame:
        """Staff on duty per department over time (a row at every change), one replication."""
        rep = self._record(replication)
        frames = [pd.DataFrame({"department": d.name, "time": d.staff_times, "staff": d.staff_levels})
                  for d in rep.department_records]
        return pd.concat(frames, ignore_index=True)

    def to_csv(self, folder: str | Path) -> None:
        """Write the tables of docs/output-reference.md as CSV files (CSV_FILES) into folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tables = [(self.summary, True), (self.kpi_table, False), (self.departments, True),
                  (self.attribution, False), (self.customers, False), (self.jobs, False)]
        for name, (table, index) in zip(CSV_FILES, tables, strict=True):
            table().to_csv(folder / name, index=index)

    def to_json(self) -> dict[str, Any]:
        """The documented, stable JSON structure (docs/output-reference.md)."""
        s = self.summary()
        kpis = {name: {"mean": _num(row["mean"]), "ci_low": _num(row["ci_low"]), "ci_high": _num(row["ci_high"])}
                for name, row in s.iterrows()}
        shares = {name: _num(s.loc[f"attribution.{name}.share", "mean"]) for name in self.model.departments}
        return {
            "schema": "chainsim.results/1", "chainsim_version": self.version, "model": self.model.name,
            "replications": self.replications, "seed": self.seed, "horizon": self.model.run.horizon,
            "warmup": self.model.run.warmup, "time_unit": self.model.time_unit,
            "run_seconds": round(self.seconds, 3), "warnings": self.warnings,
            "kpis": kpis, "attribution": shares,
        }


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
