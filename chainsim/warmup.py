"""Warm-up for steady-state models: how long to ignore the start, when the system begins empty.

A *terminating* model (one working day from an empty branch, arrivals stop at closing) needs no
warm-up: the empty start is real. A *steady-state* model (a long-run average of a system that
never empties) starts unrealistically empty, so the first customers see short queues and bias the
averages down. Two automatic rules pick the truncation point from pilot replications:

- MSER-5 (White 1997): batch the output series in fives and truncate where the marginal standard
  error of the remaining mean is smallest (searched over the first half of the series).
- Welch's method: average the series across replications, smooth with a moving window, and
  truncate where the smoothed curve first reaches its long-run level.

Both look at the same series: the mean time in system of completed external customers, by arrival
time bin, averaged over the pilot replications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chainsim.engine import simulate_replication
from chainsim.errors import ModelError, Problem
from chainsim.model import Model
from chainsim.recorder import COMPLETED, Replication

WARMUP_METHODS = ("mser5", "welch")


def arrival_series(rep: Replication, width: float, bins: int) -> np.ndarray:
    """Mean time in system of completed customers by arrival-time bin (nan for an empty bin)."""
    c = rep.customers
    done = c["outcome"] == COMPLETED
    index = np.floor(c["arrival"][done] / width).astype(np.int64)
    keep = index < bins
    tis = (c["end"] - c["arrival"])[done][keep]
    sums = np.bincount(index[keep], weights=tis, minlength=bins)
    counts = np.bincount(index[keep], minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def mser(series: np.ndarray, batch: int = 5) -> int:
    """MSER-`batch` truncation point, in observations (a multiple of batch); series without nan."""
    y = np.asarray(series, dtype=float)
    n = len(y) // batch
    if n < 4:
        return 0
    means = y[: n * batch].reshape(n, batch).mean(axis=1)
    best, best_d = math.inf, 0
    for d in range(n // 2 + 1):
        tail = means[d:]
        stat = float(((tail - tail.mean()) ** 2).sum()) / (n - d) ** 2
        if stat < best:
            best, best_d = stat, d
    return best_d * batch


def welch(series: np.ndarray, window: int = 5, tolerance: float = 0.05) -> tuple[np.ndarray, int]:
    """Welch's method on a (replications x bins) array: the smoothed curve and the truncation bin.

    Every bin needs a value in at least one replication.
    The curve is the across-replication mean, smoothed with a centred moving average (shorter near
    the start). Its level is the mean of its second half; truncation is the first bin where the curve
    comes within max(tolerance * level, 2 standard deviations of the second half) of that level.
    """
    mean = np.nanmean(np.atleast_2d(series), axis=0)
    m = len(mean) - window
    if m < 4:
        return mean, 0
    smoothed = np.array([mean[max(0, i - min(i, window)): i + min(i, window) + 1].mean() for i in range(m)])
    tail = smoothed[m // 2:]
    level = tail.mean()
    band = max(tolerance * abs(level), 2 * tail.std())
    inside = np.flatnonzero(np.abs(smoothed - level) <= band)
    return smoothed, int(inside[0]) if len(inside) else m // 2


@dataclass(frozen=True)
class WarmupChoice:
    """The warm-up chosen for a model, and the evidence: the pilot series it was read from."""

    method: str
    time: float
    bin_width: float
    series: np.ndarray  # across-pilot mean by bin
    truncated_bins: int


def choose_warmup(model: Model, method: str, seed: int, pilots: int = 5, bins: int = 100) -> WarmupChoice:
    """Run `pilots` replications from empty (no warm-up) and pick the warm-up time by MSER-5 or Welch."""
    if method not in WARMUP_METHODS:
        raise ModelError([Problem("warmup", f"unknown warm-up method {method!r}: use a time, none, "
                                  f"{' or '.join(WARMUP_METHODS)}")])
    base = model.with_changes({"run.warmup": 0.0})
    width = base.run.horizon / bins
    matrix = np.vstack([arrival_series(simulate_replication(base, r, seed), width, bins) for r in range(pilots)])
    with np.errstate(all="ignore"):
        mean = np.nanmean(matrix, axis=0)
    kept = np.flatnonzero(~np.isnan(mean))  # bins where some pilot completed a customer
    if len(kept) == 0:
        raise ModelError([Problem("warmup", "no customer completed in the pilot runs: check the model runs, "
                                  "or give the warm-up as a time")])
    index = mser(mean[kept], batch=5) if method == "mser5" else welch(matrix[:, kept])[1]
    truncated = int(kept[min(index, len(kept) - 1)]) if index > 0 else 0
    time = min(truncated * width, base.run.horizon / 2)
    return WarmupChoice(method=method, time=time, bin_width=width, series=mean, truncated_bins=truncated)
