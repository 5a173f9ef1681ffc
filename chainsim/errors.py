"""Errors a user can act on: each names the field (by its path in the file) and the fix."""

from __future__ import annotations

from dataclasses import dataclass


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


class ClusterError(RuntimeError):
    """A cluster that cannot run replications (a bad address, not Dask, no workers); the message says what to do."""
