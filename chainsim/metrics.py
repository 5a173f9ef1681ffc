"""KPIs of one replication (a flat dict of dotted names), and their means with 95% t-intervals.

The dotted names are the stable vocabulary of the JSON output, the results store and the app:
``external.time_in_system.mean``, ``department.<name>.utilisation``, ``attribution.<name>.share``.
docs/output-reference.md lists them all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy import stats

from chainsim.model import Model
from chainsim.recorder import (
    ABANDONED,
    BALKED,
    CALLED_OFF,
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


CUSTOMERS_PER_BLOCK = 1 << 10  # attribution is summed this many customers at a time
JOBS_PER_BLOCK = 1 << 14  # and department counts this many jobs at a time


def _attribution_blocks(rep: Replication, customer_ids: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The attribution rows of the given customers as (position in customer_ids, key, minutes),
    a block of customers at a time, so the temporaries stay small however long the run.

    A replication keeps each customer's rows together, in the order of its customers, with their
    count. Customer ids number the customers 0..n-1 in arrival order, each recorded once, so a
    lookup table by id finds the positions (no sort).
    """
    ids, count, a = rep.customers["id"], rep.attribution["count"], rep.attribution
    position = np.full(len(ids), -1, dtype=np.int32)
    position[customer_ids] = np.arange(len(customer_ids), dtype=np.int32)
    first_row = 0
    for first in range(0, len(ids), CUSTOMERS_PER_BLOCK):
        counts = count[first:first + CUSTOMERS_PER_BLOCK]
        rows = np.repeat(position[ids[first:first + CUSTOMERS_PER_BLOCK]], counts)
        last_row = first_row + len(rows)
        keep = rows >= 0
        yield rows[keep], a["key"][first_row:last_row][keep].astype(np.intp), a["time"][first_row:last_row][keep]
        first_row = last_row


def attribution_matrix(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """Minutes per (customer, department*kind) for the given customers: rows sum to time in system."""
    matrix = np.zeros((len(customer_ids), len(rep.departments) * len(KINDS)))
    for rows, key, minutes in _attribution_blocks(rep, customer_ids):
        np.add.at(matrix, (rows, key), minutes)
    return matrix


def customer_queueing(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """Each given customer's total time queueing (at every department)."""
    total = np.zeros(len(customer_ids))
    for rows, key, minutes in _attribution_blocks(rep, customer_ids):
        queued = key % len(KINDS) == QUEUE
        np.add.at(total, rows[queued], minutes[queued])
    return total


def attribution_totals(rep: Replication, customer_ids: np.ndarray) -> np.ndarray:
    """Minutes per department*kind summed over the given customers (no per-customer table)."""
    total = np.zeros(len(rep.departments) * len(KINDS))
    for _, key, minutes in _attribution_blocks(rep, customer_ids):
        total += np.bincount(key, weights=minutes, minlength=len(total))
    return total


def replication_kpis(model: Model, rep: Replication) -> dict[str, float]:
    """Every KPI of one replication, counting customers who arrived after the warm-up."""
    departments: dict[str, float] = {}
    _departments(model, rep, departments)  # first: its temporaries are gone before the customers' come
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

    totals = attribution_totals(rep, c["id"][done])
    _queueing(rep, c["id"][done], out)

    classes = c["class"]
    done_classes = classes[done]
    sla_ok, sla_n = 0, 0
    churn: dict[str, tuple[float, float, float]] = {}  # per class: late, lost, churned
    for i, name in enumerate(rep.classes):
        spec = model.customers[name]
        times = tis[done_classes == i]
        arrived = counted & (classes == i)
        lost = float((arrived & ((outcome == ABANDONED) | (outcome == BALKED))).sum())
        expectation = spec.expectation if spec.expectation is not None else spec.sla
        late = float((times > expectation).sum()) if expectation is not None else 0.0
        churn[name] = (late, lost, float(c["churned"][arrived].sum()))
        out[f"class.{name}.arrived"] = float(arrived.sum())
        out[f"class.{name}.completed"] = float(len(times))
        out[f"class.{name}.abandoned"] = lost
        out[f"class.{name}.time_in_system.mean"] = float(times.mean()) if len(times) else math.nan
        out[f"class.{name}.time_in_system.p90"] = float(np.percentile(times, 90)) if len(times) else math.nan
        if spec.sla is not None:
            within = float((times <= spec.sla).sum())
            out[f"class.{name}.within_sla"] = within / len(times) if len(times) else math.nan
            sla_ok += within
            sla_n += len(times)
    out["external.within_sla"] = sla_ok / sla_n if sla_n else math.nan
    _churn(model, churn, out)
    out.update(departments)
    _attribution(rep, totals, tis, out)
    return out


def _queueing(rep: Replication, customer_ids: np.ndarray, out: dict[str, float]) -> None:
    """Mean and 90th percentile of the completed customers' total time queueing."""
    queueing = customer_queueing(rep, customer_ids)
    out["external.queueing.mean"] = float(queueing.mean()) if len(queueing) else math.nan
    out["external.queueing.p90"] = float(np.percentile(queueing, 90)) if len(queueing) else math.nan


def _churn(model: Model, churn: dict[str, tuple[float, float, float]], out: dict[str, float]) -> None:
    """Expected churn: each customer's probability of leaving the company, summed; and its value.
    `churn` has each class's counted customers served late, lost (abandoned or balked) and churned."""
    expected, churned, revenue = 0.0, 0.0, 0.0
    for name, (late, lost, drawn) in churn.items():
        spec = model.customers[name]
        p = late * spec.churn_if_late + lost * spec.churn_if_abandoned
        out[f"class.{name}.churn.expected"] = float(p)
        expected += p
        churned += drawn
        revenue += p * spec.value
    out["churn.expected"] = expected
    out["churn.customers"] = churned
    out["churn.revenue_at_risk"] = revenue
    out["churn.replacement_cost"] = revenue * model.churn.acquisition_cost_multiple


def _jobs_by_department(rep: Replication) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Step and request jobs queued after the warm-up per department, of those the requests called
    off, and each department's turnaround times of requests that went back; read a block of jobs
    at a time, so the temporaries stay small."""
    jobs, n = rep.jobs, len(rep.departments)
    served = np.zeros(n, dtype=np.int64)
    called_off = np.zeros(n, dtype=np.int64)
    request_depts, request_times = [np.zeros(0, dtype=np.int32)], [np.zeros(0)]
    for first in range(0, len(jobs["kind"]), JOBS_PER_BLOCK):
        block = slice(first, first + JOBS_PER_BLOCK)
        kind, dept, queued = jobs["kind"][block], jobs["department"][block], jobs["queued"][block]
        counted = queued >= rep.warmup
        served += np.bincount(dept[counted & np.isin(kind, (STEP, REQUEST, CALLED_OFF))], minlength=n)
        called_off += np.bincount(dept[counted & (kind == CALLED_OFF)], minlength=n)
        requests = counted & (kind == REQUEST)
        request_depts.append(dept[requests])
        request_times.append(jobs["end"][block][requests] - queued[requests])
    depts, times = np.concatenate(request_depts), np.concatenate(request_times)
    return served, called_off, [times[depts == i] for i in range(n)]


def _departments(model: Model, rep: Replication, out: dict[str, float]) -> None:
    served, called_off, turnarounds = _jobs_by_department(rep)
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
        turnaround = turnarounds[i]
        out[f"{prefix}.jobs"] = float(served[i] + d.redone_requests)
        out[f"{prefix}.requests"] = float(len(turnaround) + called_off[i])
        out[f"{prefix}.called_off"] = float(called_off[i])
        out[f"{prefix}.turnaround.mean"] = float(turnaround.mean()) if len(turnaround) else math.nan
        out[f"{prefix}.turnaround.p90"] = float(np.percentile(turnaround, 90)) if len(turnaround) else math.nan
        sla = model.departments[d.name].sla
        if sla is not None:
            out[f"{prefix}.within_sla"] = float((turnaround <= sla).mean()) if len(turnaround) else math.nan
        out[f"{prefix}.reworks"] = float(d.reworks)
        out[f"{prefix}.clarifications"] = float(d.clarifications)
        if model.pools:
            out[f"{prefix}.pool_busy.mean"] = d.pool_busy / length if length > 0 else math.nan
    for name, pool in rep.pools.items():
        out[f"pool.{name}.utilisation"] = pool["busy"] / (pool["staff"] * length) if length > 0 else math.nan


def pool_kpis(model: Model) -> set[str]:
    """The KPIs a model reports only as it has pools (see above): an experiment checks them against its
    scenarios' models, since a scenario may add the pool (cross_train) that the base model lacks."""
    if not model.pools:
        return set()
    return {f"department.{d}.pool_busy.mean" for d in model.departments} | {f"pool.{p}.utilisation" for p in model.pools}


def _attribution(rep: Replication, totals: np.ndarray, tis: np.ndarray, out: dict[str, float]) -> None:
    """Mean minutes per completed customer by (department, kind), and each department's share."""
    total = tis.sum()
    nk = len(KINDS)
    for i, name in enumerate(rep.departments):
        block = totals[i * nk:(i + 1) * nk]
        for k, kind in enumerate(KINDS):
            out[f"attribution.{name}.{kind}"] = float(block[k] / len(tis)) if len(tis) else math.nan
        out[f"attribution.{name}.share"] = float(block.sum() / total) if total > 0 else math.nan


SHARES = ("share", "utilisation", "abandonment_rate", "within_sla")  # how the names of KPIs in [0, 1] end


def kpi_range(name: str) -> tuple[float, float]:
    """Where a KPI of one replication can lie: every KPI is a count, time, amount or share, so it is
    never negative, and shares are at most 1."""
    return (0.0, 1.0) if name.endswith(SHARES) else (0.0, math.inf)


def t_interval(values: np.ndarray, level: float = 0.95,
               within: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float, float]:
    """Mean and two-sided t-interval over replications (nan bounds with fewer than two).

    `within`: the range the quantity cannot leave (see kpi_range); the interval is cut to it, so a
    rare event's share never shows a negative lower bound. The true value lies in the range, so the
    cut interval covers it whenever the t-interval does.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, max(within[0], mean - half), min(within[1], mean + half)
