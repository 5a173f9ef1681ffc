"""KPIs of one replication (a flat dict of dotted names), and their means with 95% t-intervals.

The dotted names are the stable vocabulary of the JSON output, the results store and the app:
``external.time_in_system.mean``, ``department.<name>.utilisation``, ``attribution.<name>.share``.
docs/output-reference.md lists them all.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from chainsim.model import Model
from chainsim.recorder import (
    ABANDONED,
    BALKED,
    COMPLETED,
    IN_SYSTEM,
    KINDS,
    QUEUE,
    REQUEST,
    STEP,
    Replication,
)

PERCENTILES = {"p50": 50, "p90": 90, "p95": 95}


def _stats(values: np.ndarray, prefix: str, out: dict[str, float]) -> None:
    if len(values) == 0:
        for name in ("mean", *PERCENTILES, "max"):
            out[f"{prefix}.{name}"] = math.nan
        return
    out[f"{prefix}.mean"] = float(values.mean())
    for name, q in PERCENTILES.items():
        out[f"{prefix}.{name}"] = float(np.percentile(values, q))
    out[f"{prefix}.max"] = float(values.max())


def _rows_of(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """For each attribution row, the position of its customer in customer_ids, or -1.

    Customer ids number a replication's customers 0..n-1 in arrival order, each recorded once,
    so a lookup table by id does it (4 bytes a customer, none of a sort's temporaries).
    """
    position = np.full(len(rep.customers["id"]), -1, dtype=np.int32)
    position[customer_ids] = np.arange(len(customer_ids), dtype=np.int32)
    return position[rep.attribution["customer"]]


def attribution_matrix(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """Minutes per (customer, department*kind) for the given customers: rows sum to time in system."""
    a = rep.attribution
    rows = _rows_of(rep, customer_ids)
    keep = rows >= 0
    matrix = np.zeros((len(customer_ids), len(rep.departments) * len(KINDS)))
    np.add.at(matrix, (rows[keep], a["key"][keep].astype(np.int64)), a["time"][keep])
    return matrix


def customer_queueing(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """Each given customer's total time queueing (at every department)."""
    rows = _rows_of(rep, customer_ids)
    queued = (rows >= 0) & (rep.attribution["key"] % len(KINDS) == QUEUE)
    return np.bincount(rows[queued], weights=rep.attribution["time"][queued], minlength=len(customer_ids))


def attribution_totals(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """Minutes per department*kind summed over the given customers (no per-customer table)."""
    a = rep.attribution
    keep = _rows_of(rep, customer_ids) >= 0
    return np.bincount(a["key"][keep].astype(np.int64), weights=a["time"][keep],
                       minlength=len(rep.departments) * len(KINDS))


def replication_kpis(model: Model, rep: Replication) -> dict[str, float]:
    """Every KPI of one replication, counting customers who arrived after the warm-up."""
    out: dict[str, float] = {}
    c = rep.customers
    counted = c["arrival"] >= rep.warmup
    outcome = c["outcome"]
    done = counted & (outcome == COMPLETED)
    tis = (c["end"] - c["arrival"])[done]
    out["external.arrived"] = float(counted.sum())
    out["external.completed"] = float(done.sum())
    out["external.abandoned"] = float((counted & (outcome == ABANDONED)).sum())
    out["external.balked"] = float((counted & (outcome == BALKED)).sum())
    out["external.in_system_at_end"] = float((counted & (outcome == IN_SYSTEM)).sum())
    lost = out["external.abandoned"] + out["external.balked"]
    out["external.abandonment_rate"] = lost / out["external.arrived"] if out["external.arrived"] else math.nan
    _stats(tis, "external.time_in_system", out)

    ids = c["id"][done]
    totals = attribution_totals(rep, ids)
    queueing = customer_queueing(rep, ids)
    out["external.queueing.mean"] = float(queueing.mean()) if len(ids) else math.nan
    out["external.queueing.p90"] = float(np.percentile(queueing, 90)) if len(ids) else math.nan

    classes = c["class"]
    sla_ok, sla_n = 0, 0
    for i, name in enumerate(rep.classes):
        spec = model.customers[name]
        mine = done & (classes == i)
        times = (c["end"] - c["arrival"])[mine]
        arrived = counted & (classes == i)
        out[f"class.{name}.arrived"] = float(arrived.sum())
        out[f"class.{name}.completed"] = float(mine.sum())
        out[f"class.{name}.abandoned"] = float((arrived & ((outcome == ABANDONED) | (outcome == BALKED))).sum())
        out[f"class.{name}.time_in_system.mean"] = float(times.mean()) if len(times) else math.nan
        out[f"class.{name}.time_in_system.p90"] = float(np.percentile(times, 90)) if len(times) else math.nan
        if spec.sla is not None:
            within = float((times <= spec.sla).sum())
            out[f"class.{name}.within_sla"] = within / len(times) if len(times) else math.nan
            sla_ok += within
            sla_n += len(times)
    out["external.within_sla"] = sla_ok / sla_n if sla_n else math.nan
    _churn(model, rep, counted, out)
    _departments(model, rep, out)
    _attribution(rep, totals, tis, out)
    return out


def _churn(model: Model, rep: Replication, counted: np.ndarray, out: dict[str, float]) -> None:
    """Expected churn: each customer's probability of leaving the company, summed; and its value."""
    c = rep.customers
    expected, churned, revenue = 0.0, 0.0, 0.0
    for i, name in enumerate(rep.classes):
        spec = model.customers[name]
        mine = counted & (c["class"] == i)
        tis = (c["end"] - c["arrival"])[mine]
        outcome = c["outcome"][mine]
        expectation = spec.expectation if spec.expectation is not None else spec.sla
        late = (outcome == COMPLETED) & (tis > expectation) if expectation is not None else np.zeros(len(tis), bool)
        lost = (outcome == ABANDONED) | (outcome == BALKED)
        p = late.sum() * spec.churn_if_late + lost.sum() * spec.churn_if_abandoned
        out[f"class.{name}.churn.expected"] = float(p)
        expected += p
        churned += float(c["churned"][mine].sum())
        revenue += p * spec.value
    out["churn.expected"] = expected
    out["churn.customers"] = churned
    out["churn.revenue_at_risk"] = revenue
    out["churn.replacement_cost"] = revenue * model.churn.acquisition_cost_multiple


def _departments(model: Model, rep: Replication, out: dict[str, float]) -> None:
    jobs = rep.jobs
    counted = jobs["queued"] >= rep.warmup
    length = rep.end - rep.warmup
    for i, d in enumerate(rep.department_records):
        prefix = f"department.{d.name}"
        out[f"{prefix}.utilisation"] = d.busy / d.available if d.available > 0 else math.nan
        out[f"{prefix}.held_share"] = d.held / d.available if d.available > 0 else math.nan
        out[f"{prefix}.interrupted_share"] = d.interrupted / d.available if d.available > 0 else math.nan
        out[f"{prefix}.staff.mean"] = d.available / length if length > 0 else math.nan
        out[f"{prefix}.queue_length.mean"] = d.queue / length if length > 0 else math.nan
        after = d.queue_times >= rep.warmup
        before = d.queue_lengths[~after]
        lengths = np.concatenate([before[-1:], d.queue_lengths[after]])
        out[f"{prefix}.queue_length.max"] = float(lengths.max()) if len(lengths) else 0.0
        mine = counted & (jobs["department"] == i)
        out[f"{prefix}.jobs"] = float((mine & ((jobs["kind"] == STEP) | (jobs["kind"] == REQUEST))).sum())
        requests = mine & (jobs["kind"] == REQUEST)
        turnaround = (jobs["end"] - jobs["queued"])[requests]
        out[f"{prefix}.requests"] = float(requests.sum())
        out[f"{prefix}.turnaround.mean"] = float(turnaround.mean()) if len(turnaround) else math.nan
        out[f"{prefix}.turnaround.p90"] = float(np.percentile(turnaround, 90)) if len(turnaround) else math.nan
        sla = model.departments[d.name].sla
        if sla is not None:
            out[f"{prefix}.within_sla"] = float((turnaround <= sla).mean()) if len(turnaround) else math.nan
        out[f"{prefix}.reworks"] = float(d.reworks)
        out[f"{prefix}.clarifications"] = float(d.clarifications)
        if model.pools:
            out[f"{prefix}.pool_busy.mean"] = d.pool_busy / length if length > 0 else math.nan
    records = {d.name: d for d in rep.department_records}
    for name, pool in model.pools.items():
        # A department in several pools cannot tell them apart: its pool time counts for each.
        busy = sum(records[d].pool_busy for d in pool.serves)
        out[f"pool.{name}.utilisation"] = busy / (pool.staff * length) if length > 0 else math.nan


def _attribution(rep: Replication, totals: np.ndarray, tis: np.ndarray, out: dict[str, float]) -> None:
    """Mean minutes per completed customer by (department, kind), and each department's share."""
    total = tis.sum()
    nk = len(KINDS)
    for i, name in enumerate(rep.departments):
        block = totals[i * nk:(i + 1) * nk]
        for k, kind in enumerate(KINDS):
            out[f"attribution.{name}.{kind}"] = float(block[k] / len(tis)) if len(tis) else math.nan
        out[f"attribution.{name}.share"] = float(block.sum() / total) if total > 0 else math.nan


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval over replications (nan bounds with fewer than two)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half
