"""Errors a user can act on: each names the field (by its path in the file) and the fix."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from typing import Any


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ModelError(ValueError):
    """A model file (or a change to one) that cannot run, with every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class RunLimitError(RuntimeError):
    """A run stopped by a safety cap (customers per replication); the message says which knob to turn."""


class WorkerLostError(RuntimeError):
    """A worker process died mid-task (killed, or out of memory); nothing is wrong with the input, so running
    again can succeed (an experiment with a store keeps what finished, and resumes)."""


class ClusterError(RuntimeError):
    """A cluster that cannot run replications (a bad address, not Dask, no workers); the message says what to do."""


MAX_REPLICATIONS = 100_000  # per scenario (the CLI's -r range); more is a typo, and would never finish
MAX_WORKERS = 10_000  # local processes (workers=, -w); more is a typo: each process holds a copy of the model


def is_number(value: Any) -> bool:
    """A finite real number: an int, a float or a numpy number, not True or False (bools are ints), YAML's
    .inf and .nan, nor an int too large for a float (10**400), which no quantity here can be."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def whole_number(name: str, value: Any, low: int, high: int, otherwise: str = "") -> int:
    """An argument that must be a whole number in [low, high], or a ModelError naming it (not a
    TypeError deep inside, nor 2.7 silently read as 2); `otherwise` names what else it may be."""
    if not (is_number(value) and int(value) == value and low <= value <= high):
        raise ModelError([Problem(name, f"must be a whole number from {low:,} to {high:,}{otherwise} (got {value!r})")])
    return int(value)


def run_arguments(workers: int | None, progress: Any) -> int | None:
    """The arguments every run takes: workers (None: all cores) from 1 to MAX_WORKERS, and progress a
    function progress(done, total) or None; ModelError naming a wrong one. Returns workers as an int."""
    if workers is not None:
        workers = whole_number("workers", workers, 1, MAX_WORKERS, otherwise=", or None for all cores")
    if progress is not None and not callable(progress):
        raise ModelError([Problem("progress", f"give a function progress(done, total), or None (got {progress!r})")])
    return workers


def unknown_kpi(name: Any, known: Iterable[str], path: str = "kpi") -> Problem:
    """A KPI name that is not one of known, with the nearest known name as the likely fix."""
    close = difflib.get_close_matches(str(name), sorted(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "docs/output-reference.md lists the KPIs"
    return Problem(path, f"unknown KPI {name!r}: {hint}")
