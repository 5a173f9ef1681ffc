"""Errors a user can act on: each names the field (by its path in the file) and the fix."""

from __future__ import annotations

import math
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
    """A worker process died mid-task (killed, or out of memory): what finished is kept, the rest can run again."""


class ClusterError(RuntimeError):
    """A cluster that cannot run replications (a bad address, not Dask, no workers); the message says what to do."""


MAX_REPLICATIONS = 100_000  # per scenario (the CLI's -r range); more is a typo, and would never finish


def whole_number(name: str, value: Any, low: int, high: int) -> int:
    """An argument that must be a whole number in [low, high], or a ModelError naming it (not a
    TypeError deep inside, nor 2.7 silently read as 2)."""
    number = not isinstance(value, bool) and isinstance(value, Real)
    if not (number and math.isfinite(value) and int(value) == value and low <= value <= high):
        raise ModelError([Problem(name, f"must be a whole number from {low:,} to {high:,} (got {value!r})")])
    return int(value)
