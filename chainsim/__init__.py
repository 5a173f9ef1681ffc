"""chainsim: how delays between departments become waiting, abandonment and churn for customers."""

__version__ = "0.1.0"

from chainsim.api import Results, model_from_text, simulate  # noqa: E402
from chainsim.errors import ModelError, Problem, RunLimitError  # noqa: E402
from chainsim.experiment import Experiment, ExperimentResults, Scenario, Sequential  # noqa: E402
from chainsim.levers import LEVERS, apply_levers  # noqa: E402
from chainsim.load import offered_load  # noqa: E402
from chainsim.model import Model, load_model, parse_model  # noqa: E402
from chainsim.store import ResultStore  # noqa: E402

__all__ = [
    "Model", "ModelError", "Problem", "Results", "RunLimitError", "__version__", "load_model",
    "model_from_text", "offered_load", "parse_model", "simulate",
    "Experiment", "ExperimentResults", "LEVERS", "ResultStore", "Scenario", "Sequential",
    "apply_levers",
]
