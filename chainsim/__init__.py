"""chainsim: how delays between departments become waiting, abandonment and churn for customers.

The public names below are imported on first use (PEP 562), so `chainsim validate` or a worker
process does not pay for pandas, SQLite or the experiment machinery it never touches.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


@functools.lru_cache(maxsize=1)
def code_identity() -> str:
    """This chainsim's version and a digest of its source files. Two checkouts that both say 0.1.0
    can compute other numbers, so a resumed store and Dask's workers are checked against this."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__} (source {digest.hexdigest()[:12]})"

_WHERE = {
    "Results": "chainsim.api", "model_from_text": "chainsim.api", "simulate": "chainsim.api",
    "ClusterError": "chainsim.errors", "ModelError": "chainsim.errors", "Problem": "chainsim.errors",
    "RunLimitError": "chainsim.errors", "WorkerLostError": "chainsim.errors",
    "Experiment": "chainsim.experiment", "ExperimentResults": "chainsim.experiment",
    "Scenario": "chainsim.experiment", "Sequential": "chainsim.experiment",
    "LEVERS": "chainsim.levers", "apply_levers": "chainsim.levers",
    "offered_load": "chainsim.load",
    "Model": "chainsim.model", "load_model": "chainsim.model", "parse_model": "chainsim.model",
    "ResultStore": "chainsim.store",
}
__all__ = [
    "LEVERS", "ClusterError", "Experiment", "ExperimentResults", "Model", "ModelError", "Problem", "ResultStore", "Results",
    "RunLimitError", "Scenario", "Sequential", "WorkerLostError", "__version__", "apply_levers", "code_identity",
    "load_model",
    "model_from_text", "offered_load", "parse_model", "simulate",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chainsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from chainsim.api import Results, model_from_text, simulate
    from chainsim.errors import ClusterError, ModelError, Problem, RunLimitError, WorkerLostError
    from chainsim.experiment import Experiment, ExperimentResults, Scenario, Sequential
    from chainsim.levers import LEVERS, apply_levers
    from chainsim.load import offered_load
    from chainsim.model import Model, load_model, parse_model
    from chainsim.store import ResultStore
