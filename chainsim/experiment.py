"""Experiments: scenarios x replications under common random numbers, and the comparisons they answer.

An experiment is a base model, a list of scenarios (each a set of overrides by dotted path and/or
levers, with a cost) and a replication policy. The unit of work is one (scenario, replication)
task, run by :func:`run_replication` on any executor; results are keyed by (scenario,
replication), so their order never depends on scheduling. Every scenario runs replication r with
the same seed and replication index, and the engine draws each source's numbers from its own named
stream, so scenario and baseline see the same customers, service times and routing: paired
differences then have far tighter intervals than independent runs (common random numbers, CRN).

``Experiment.from_file("experiments/x.yaml").run(workers=None, store="x.sqlite")`` then
``summary()``, ``compare()``, ``sensitivity()``. docs/experiments.md describes the file.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from chainsim import code_identity
from chainsim.designs import expand
from chainsim.engine import simulate_replication
from chainsim.errors import (
    MAX_REPLICATIONS,
    ModelError,
    Problem,
    is_number,
    run_arguments,
    unknown_kpi,
    whole_number,
)
from chainsim.executors import make_executor
from chainsim.levers import apply_levers, lever_cost, lever_problems
from chainsim.load import load_warnings
from chainsim.metrics import kpi_range, pool_kpis, replication_kpis, t_interval
from chainsim.model import MAX_SEED, Model, Strict, as_model, load_model, parse_model, plain_message
from chainsim.store import ResultStore
from chainsim.streams import stream_key
from chainsim.warmup import WARMUP_METHODS, WarmupChoice, choose_warmup
from chainsim.yamlio import read_yaml

DEFAULT_KPIS = (
    "external.time_in_system.mean", "external.queueing.mean", "external.time_in_system.p90",
    "external.abandonment_rate", "external.within_sla", "churn.expected", "churn.revenue_at_risk",
)
HIGHER_IS_BETTER = ("within_sla", "completed")


def better_direction(kpi: str) -> str:
    """'higher' for KPIs where more is better (share within SLA, completions), else 'lower'."""
    return "higher" if kpi.endswith(HIGHER_IS_BETTER) else "lower"


# --- the unit of work -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicationTask:
    """One (scenario, replication): everything a worker needs, as plain picklable values."""

    scenario: str
    model_json: str
    seed: int
    replication: int


@dataclass(frozen=True)
class ReplicationOutcome:
    kpis: dict[str, float] | None
    error: str | None
    seconds: float


@functools.lru_cache(maxsize=32)
def scenario_model(model_json: str) -> Model:
    """A worker parses a scenario's model once, not once a replication: 0.5 ms of the bank's 5 ms.

    Safe to share: a simulation reads its model and never changes it.
    """
    return parse_model(json.loads(model_json))


def run_replication(task: ReplicationTask) -> ReplicationOutcome:
    """Simulate one replication of one scenario; a failure comes back as data, not an exception."""
    started = time.perf_counter()
    try:
        model = scenario_model(task.model_json)
        kpis = replication_kpis(model, simulate_replication(model, task.replication, task.seed))
    except Exception as exc:  # noqa: BLE001 - one bad cell must not end the batch
        return ReplicationOutcome(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    return ReplicationOutcome(kpis, None, time.perf_counter() - started)


# --- scenarios and replication policies -----------------------------------------------------


@dataclass
class Scenario:
    """A named change to the base model: overrides by dotted path, then levers, in that order."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    levers: list[dict] = field(default_factory=list)
    cost: float | None = None  # default: the sum of the levers' costs
    factors: dict[str, Any] = field(default_factory=dict)  # design coordinates, for sweeps and tornados
    description: str = ""

    def __post_init__(self) -> None:
        """Wrong types fail here, naming the scenario and field, not as an AttributeError mid-run."""
        if not isinstance(self.name, str) or not self.name:
            raise ModelError([Problem("scenario name", f"give a non-empty text (got {self.name!r})")])
        where = f"scenario {self.name!r}"
        problems = []
        if not isinstance(self.overrides, dict):
            problems.append(Problem(f"{where} overrides", "give a mapping of model path -> value, such as "
                                    f"{{'departments.it.staff': 3}} (got {self.overrides!r})"))
        if not isinstance(self.levers, list):
            problems.append(Problem(f"{where} levers", f"give a list of levers, each {{lever: NAME, ...}} "
                                    f"(got {self.levers!r})"))
        if self.cost is not None and not (is_number(self.cost) and self.cost >= 0):
            problems.append(Problem(f"{where} cost", f"must be a finite number >= 0, or None for the levers' "
                                    f"costs (got {self.cost!r})"))
        if problems:
            raise ModelError(problems)
        for name in ("overrides", "levers", "factors", "cost"):  # numpy's 2 is 2: the store writes JSON
            setattr(self, name, _python_values(getattr(self, name)))

    @property
    def total_cost(self) -> float:
        return float(self.cost) if self.cost is not None else lever_cost(self.levers)

    def build(self, base: Model) -> Model:
        """The scenario's model (ModelError if an override or lever does not fit the model).

        Every problem names the scenario: a model path alone (`departments.it.staff`, from overrides or
        from the model the levers made) does not say which of many scenarios broke it.
        """
        where = f"scenario {self.name!r}"
        try:
            model = base.with_changes(self.overrides) if self.overrides else base
        except ModelError as exc:
            raise ModelError([Problem(f"{where} overrides: {p.path}", p.message) for p in exc.problems]) from None
        try:
            return apply_levers(model, self.levers, where=f"{where} levers")
        except ModelError as exc:  # a lever's own field already has the scenario in its path
            raise ModelError([p if p.path.startswith(where) else Problem(f"{where} levers: {p.path}", p.message)
                              for p in exc.problems]) from None

    def definition(self) -> dict[str, Any]:
        return {"description": self.description, "overrides": self.overrides, "levers": self.levers,
                "cost": self.total_cost, "factors": self.factors}


def _python_values(value: Any) -> Any:
    """The value with numpy numbers inside it made Python ones (a cost or a count taken from an array)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _python_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_python_values(v) for v in value)
    return value


@dataclass(frozen=True)
class Sequential:
    """Add replications until the 95% CI half-width of `kpi` is below `relative_half_width` x |mean|."""

    kpi: str
    relative_half_width: float
    min: int = 10
    max: int = 200

    def __post_init__(self) -> None:
        """Checked by the file's rule (SequentialSpec), so both have the same limits (a bad rule must not run
        to max or forever); the values are kept as it reads them (numpy's 20 becomes 20)."""
        values = {k: v.item() if isinstance(v, np.generic) else v for k, v in self.__dict__.items()}
        try:  # strict: "0.1" is no number here, as it is none in Scenario's cost
            spec = SequentialSpec.model_validate(values, strict=True)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                got = f" (got {error['input']!r})" if error["loc"] else ""  # a field's value, not the min-max pair
                problems.append(Problem(".".join(["replications", *map(str, error["loc"])]),
                                        error["msg"].removeprefix("Value error, ") + got))
            raise ModelError(problems) from None
        for name, value in spec.model_dump().items():
            object.__setattr__(self, name, value)  # frozen


def relative_half_width(values: np.ndarray) -> float:
    """The 95% CI half-width over |mean| a sequential rule aims at: 0 when every value is the same (0
    abandonment is as precise as it gets), inf when there is no interval or the mean is 0."""
    mean, low, high = t_interval(values)
    if high == low:
        return 0.0
    return (high - low) / 2 / abs(mean) if mean and not math.isnan(low) else math.inf


# --- the experiment file --------------------------------------------------------------------


class SequentialSpec(Strict):
    kpi: str = Field(description="KPI whose precision decides when to stop.")
    relative_half_width: float = Field(gt=0, lt=1, description="Target 95% CI half-width / |mean| (0.05 = 5%).")
    min: int = Field(10, ge=2, le=MAX_REPLICATIONS, description="Replications before the first check.")
    max: int = Field(200, ge=2, le=MAX_REPLICATIONS, description="Never more than this many replications per "
                     "scenario.")

    @model_validator(mode="after")
    def _ordered(self) -> SequentialSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class ScenarioSpec(Strict):
    name: str = Field(min_length=1, description="Scenario name, unique in the experiment.")
    description: str = Field("", description="What the scenario means in business words.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Model values by dotted path.")
    levers: list[dict[str, Any]] = Field(default_factory=list, description="Levers (docs/experiments.md).")
    cost: float | None = Field(None, ge=0, description="Cost of the scenario; default: its levers' costs.")


class DesignSpec(Strict):
    type: Literal["grid", "latin_hypercube", "one_at_a_time"] = Field(description="How factors combine.")
    factors: dict[str, Any] = Field(min_length=1, description="Factor name -> values, range or lever factor.")
    samples: int = Field(10, ge=1, description="Latin hypercube: number of points.")
    seed: int = Field(0, ge=0, description="Latin hypercube: seed of the point set.")


class ExperimentSpec(Strict):
    name: str = Field(min_length=1, description="Name; the key of the results in a store.")
    question: str = Field("", description="The question the experiment answers.")
    model: str = Field(description="Model file, relative to the experiment file.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Root seed (0 to 2^53 - 1); default the model's.")
    replications: Annotated[int, Field(ge=1, le=MAX_REPLICATIONS)] | SequentialSpec | None = Field(
        None, description="A count per scenario (1 to 100,000), or a sequential rule.")
    warmup: Annotated[float, Field(ge=0, allow_inf_nan=False)] | Literal["none", "mser5", "welch"] | None = Field(
        None, description="Warm-up: a time, none, mser5 or welch; default the model's.")
    kpis: list[str] = Field(default_factory=lambda: list(DEFAULT_KPIS), description="KPIs to report.")
    primary: str | None = Field(None, description="KPI that ranks scenarios; default the first of kpis.")
    better: Literal["lower", "higher"] | None = Field(None, description="Direction of improvement of primary.")
    baseline: str = Field("baseline", description="Scenario the others are compared with.")
    common_random_numbers: bool = Field(True, description="Same random streams in every scenario.")
    scenarios: list[ScenarioSpec] = Field(default_factory=list, description="Scenarios written out.")
    design: DesignSpec | None = Field(None, description="Scenarios generated by a design.")


_SPEC_FIELDS = {name for spec in (ExperimentSpec, ScenarioSpec, SequentialSpec, DesignSpec) for name in spec.model_fields}

# Fields that take one of several forms: pydantic reports a wrong value once per form, under
# names such as "function-after[_ordered(), SequentialSpec]"; the user needs one plain sentence.
ONE_OF = {
    "replications": "give a whole number of replications from 1 to 100,000 (such as 20), or a sequential rule "
                    "{kpi, relative_half_width, min, max}",
    "warmup": "give a time (a number >= 0), none, mser5 or welch",
}


def _spec_problems(exc: ValidationError, source: str) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"]
               if not (isinstance(p, str) and (p in ("int", "float") or p.startswith("constrained-") or "[" in p))]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
        message = plain_message(error)
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), list(_SPEC_FIELDS), n=1)
            message = (f"unknown field {loc[-1]!r}: " + (f"did you mean {close[0]!r}?" if close else "remove it")
                       + " (docs/experiments.md lists the fields)")
        elif error["type"] == "missing":
            message = "required field is missing: add it (docs/experiments.md shows an experiment file)"
        elif len(loc) == 1 and loc[0] in ONE_OF:
            if loc[0] == "replications" and isinstance(error["input"], dict) and error["type"] != "value_error":
                continue  # a rule was meant: its own fields' errors say what is wrong
            if error["type"] != "value_error":
                message = f"{ONE_OF[loc[0]]} (got {error['input']!r})"
        problem = Problem(f"{source}: {where}", message)
        if problem not in problems:
            problems.append(problem)
    return problems


# --- the experiment ------------------------------------------------------------------------

# Run settings every scenario shares, why a comparison needs them alike, and where to set them: a
# scenario's override of the seed or count would be silently ignored, and one of the warm-up, the
# horizon or the drain would measure another window, or count other customers, than the baseline.
EXPERIMENT_WIDE = {
    "run.seed": ("the experiment's seed, so they compare replication by replication",
                 "set the experiment's `seed`"),
    "run.replications": ("the experiment's replications, so they compare replication by replication",
                         "set the experiment's `replications`"),
    "run.warmup": ("the experiment's warmup, so every scenario measures the same window of time as the baseline",
                   "set the experiment's `warmup`"),
    "run.horizon": ("the model's horizon, so every scenario measures the same window of time as the baseline",
                    "change run.horizon in the model file (for every scenario)"),
    "run.drain": ("the model's drain, so every scenario counts its customers as the baseline does (those still "
                  "inside at the horizon served, or not)", "change run.drain in the model file (for every scenario)"),
    "run.drain_limit": ("the model's drain limit, so every scenario counts its customers as the baseline does (a "
                        "shorter drain leaves out the slowest of them)",
                        "change run.drain_limit in the model file (for every scenario)"),
}


def _experiment_wide_overrides(scenarios: list[Scenario]) -> list[Problem]:
    """Overrides of the run settings every scenario shares (EXPERIMENT_WIDE), once per path, however many
    scenarios of a design have it."""
    problems = []
    for path, (setting, fix) in EXPERIMENT_WIDE.items():
        names = [s.name for s in scenarios if path in _override_paths(s.overrides)]
        if names:
            more = f" ({len(names) - 1} more scenarios have it too)" if len(names) > 1 else ""
            problems.append(Problem(f"scenario {names[0]!r} overrides: {path}",
                                    f"every scenario runs with {setting}: remove this override and {fix} "
                                    f"instead{more}"))
    return problems


def _override_paths(overrides: Any) -> set[str]:
    """The dotted paths overrides set, those inside a mapping value (`run: {seed: 5}`) included
    (none when overrides is not a mapping: building the scenario says what is wrong with it)."""
    if not isinstance(overrides, dict):
        return set()
    return set(overrides) | {f"{key}.{sub}" for key, value in overrides.items() if isinstance(value, dict)
                             for sub in value}


@dataclass
class Experiment:
    """Scenarios x replications of a base model. Configure, run(), then summary() / compare()."""

    model: Model
    scenarios: list[Scenario] = field(default_factory=list)
    name: str = "experiment"
    replications: int | Sequential | None = None  # default: the model's run.replications
    seed: int | None = None  # default: the model's run.seed
    warmup: float | str | None = None  # None: the model's; a time; "none"; "mser5" or "welch"
    kpis: list[str] = field(default_factory=lambda: list(DEFAULT_KPIS))
    primary: str | None = None
    better: str | None = None
    baseline: str = "baseline"
    common_random_numbers: bool = True
    question: str = ""
    results: ExperimentResults | None = field(default=None, init=False, repr=False)
    # per scenario, its model's warnings (chainsim.load.load_warnings: overload, deadlock ...), set by run()
    warnings: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    warmup_choice: WarmupChoice | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = as_model(self.model)
        self._check_settings()
        self.scenarios = list(self.scenarios)
        if not self.kpis:
            raise ModelError([Problem("kpis", "name at least one KPI (docs/output-reference.md lists them), "
                                      "or leave kpis out for the defaults")])
        problems = _experiment_wide_overrides(self.scenarios) + self._changed_baseline()
        if problems:
            raise ModelError(problems)
        names = [s.name for s in self.scenarios]
        if self.baseline not in names:
            if self.baseline != "baseline":  # a typo would otherwise compare with an unchanged model, silently
                close = difflib.get_close_matches(str(self.baseline), names, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"scenarios: {', '.join(names) or 'none'}"
                raise ModelError([Problem("baseline", f"no scenario is named {self.baseline!r}: {hint} (leave "
                                          "baseline out to compare with the model as it is)")])
            self.scenarios.insert(0, Scenario(self.baseline, description="the model as it is"))
        names = [s.name for s in self.scenarios]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ModelError([Problem("scenarios", f"scenario name(s) used twice: {', '.join(twice)}: rename them")])
        problems = [p for s in self.scenarios for p in lever_problems(s.levers, f"scenario {s.name!r} levers")]
        if problems:
            raise ModelError(problems)

    def _check_settings(self) -> None:
        """Arguments of the wrong type or range fail now, each named: not as an AttributeError mid-run, a
        seed refused by numpy after the store is written, or 2.7 replications silently run as 2."""
        problems: list[Problem] = []

        def whole(name: str, value: Any, low: int, high: int) -> Any:
            try:
                return whole_number(name, value, low, high)
            except ModelError as exc:
                problems.extend(exc.problems)
                return value

        if not isinstance(self.name, str) or not self.name:
            problems.append(Problem("name", f"give a non-empty text: the key of the results in a store (got {self.name!r})"))
        if self.replications is not None and not isinstance(self.replications, Sequential):
            self.replications = whole("replications", self.replications, 1, MAX_REPLICATIONS)
        if self.seed is not None:
            self.seed = whole("seed", self.seed, 0, MAX_SEED)
        if not (self.warmup is None or self.warmup in ("none", *WARMUP_METHODS)
                or (is_number(self.warmup) and self.warmup >= 0)):
            problems.append(Problem("warmup", f"give a time >= 0, 'none', 'mser5' or 'welch' (got {self.warmup!r})"))
        if not isinstance(self.kpis, list | tuple) or not all(isinstance(k, str) for k in self.kpis):
            problems.append(Problem("kpis", f"give a list of KPI names (got {self.kpis!r})"))
        else:
            self.kpis = list(self.kpis)
        if self.primary is not None and not isinstance(self.primary, str):
            problems.append(Problem("primary", f"give one KPI name (got {self.primary!r})"))
        if self.better not in (None, "lower", "higher"):
            problems.append(Problem("better", f"give 'lower' or 'higher' (got {self.better!r})"))
        if not isinstance(self.baseline, str):
            problems.append(Problem("baseline", f"give a scenario name (got {self.baseline!r})"))
        if not isinstance(self.common_random_numbers, bool):
            problems.append(Problem("common_random_numbers", f"give True or False (got {self.common_random_numbers!r})"))
        if not isinstance(self.scenarios, list | tuple) or not all(isinstance(s, Scenario) for s in self.scenarios):
            problems.append(Problem("scenarios", "give a list of Scenario(name, overrides=..., levers=..., cost=...)"))
        if problems:
            raise ModelError(problems)

    def _changed_baseline(self) -> list[Problem]:
        """A changed scenario named 'baseline' would silently take the place of the model as written."""
        if not any(s.name == "baseline" and (s.overrides or s.levers) for s in self.scenarios):
            return []
        return [Problem("scenario 'baseline'", "the name 'baseline' is kept for the model as written, which the "
                        "others are compared with, but this scenario changes it: give it another name (and set "
                        "the experiment's `baseline` to that name to compare with it)")]

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> Experiment:
        """Read an experiment YAML file; its model path is relative to the file."""
        path = Path(path)
        return cls.from_dict(read_yaml(path), folder=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, folder: str | Path = ".", source: str = "experiment") -> Experiment:
        if isinstance(data, dict) and "model" not in data and {"departments", "customers"} <= data.keys():
            raise ModelError([Problem(source, "this is a model file, not an experiment: run it with `chainsim run "
                                      f"{source}`, or write an experiment file that names it (`model: {source}`, "
                                      "docs/experiments.md)")])
        try:
            spec = ExperimentSpec.model_validate(data)
        except ValidationError as exc:
            raise ModelError(_spec_problems(exc, source)) from None
        model = load_model(Path(folder) / spec.model)
        scenarios = [Scenario(s.name, dict(s.overrides), list(s.levers), s.cost, description=s.description)
                     for s in spec.scenarios]
        if spec.design is not None:  # the fields the file sets: a grid refuses a samples it would ignore
            scenarios += [Scenario(p.name, p.overrides, p.levers, p.cost, factors=p.factors)
                          for p in expand(spec.design.model_dump(exclude_unset=True), model=model)]
        replications = spec.replications
        if isinstance(replications, SequentialSpec):
            replications = Sequential(**replications.model_dump())
        return cls(model=model, scenarios=scenarios, name=spec.name, replications=replications, seed=spec.seed,
                   warmup=spec.warmup, kpis=list(spec.kpis), primary=spec.primary, better=spec.better,
                   baseline=spec.baseline, common_random_numbers=spec.common_random_numbers,
                   question=spec.question)

    @property
    def root_seed(self) -> int:
        return self.model.run.seed if self.seed is None else int(self.seed)

    @property
    def primary_kpi(self) -> str:
        return self.primary or self.kpis[0]

    def seed_of(self, scenario: str) -> int:
        """The seed a scenario runs with: the root seed under CRN, else one derived from its name."""
        if self.common_random_numbers:
            return self.root_seed
        return int(np.random.SeedSequence((self.root_seed, *stream_key(f"scenario:{scenario}"))).generate_state(1)[0])

    def base_model(self) -> Model:
        """The model every scenario starts from, with the experiment's warm-up applied."""
        if self.warmup is None:
            return self.model
        if self.warmup == "none":
            return self.model.with_changes({"run.warmup": 0.0})
        if isinstance(self.warmup, str):
            if self.warmup_choice is None or self.warmup_choice.method != self.warmup:
                self.warmup_choice = choose_warmup(self.model, self.warmup, self.root_seed)
            return self.model.with_changes({"run.warmup": self.warmup_choice.time})
        try:
            return self.model.with_changes({"run.warmup": float(self.warmup)})
        except ModelError as exc:  # the experiment's field, not the model file's run.warmup, is what to change
            raise ModelError([Problem("warmup", p.message) for p in exc.problems]) from None

    def scenario_models(self) -> dict[str, Model | ModelError]:
        """Each scenario's model, or the ModelError saying why it cannot be built."""
        base = self.base_model()
        built: dict[str, Model | ModelError] = {}
        for s in self.scenarios:
            try:
                built[s.name] = s.build(base)
            except ModelError as exc:
                built[s.name] = exc
        return built

    def _check_kpis(self, base: Model, built: dict[str, Model | ModelError]) -> None:
        """Unknown KPI names fail now, not after hours of running: one very short run gives the names,
        and the scenarios' models the pool KPIs of the pools a scenario adds."""
        short = min(base.run.horizon, 1.0)
        probe = base.with_changes({"run.horizon": short, "run.warmup": 0.0, "run.drain_limit": short})
        known = set(replication_kpis(probe, simulate_replication(probe, 0, self.root_seed)))
        known |= set().union(*(pool_kpis(m) for m in built.values() if isinstance(m, Model)))
        asked = [("kpis", k) for k in self.kpis] + [("primary", self.primary_kpi)]
        if isinstance(self.replications, Sequential):
            asked.append(("replications.kpi", self.replications.kpi))
        problems = [unknown_kpi(k, known, where) for where, k in asked if k not in known]
        if problems:
            raise ModelError(problems)

    def definition(self, warmup: float) -> dict[str, Any]:
        reps = self.model.run.replications if self.replications is None else self.replications
        return {"name": self.name, "question": self.question, "model": self.model.name,
                "seed": self.root_seed, "replications": reps.__dict__ if isinstance(reps, Sequential) else reps,
                "warmup": warmup, "warmup_method": self.warmup if isinstance(self.warmup, str) else None,
                "kpis": self.kpis, "primary": self.primary_kpi, "better": self.better or better_direction(self.primary_kpi),
                "baseline": self.baseline, "common_random_numbers": self.common_random_numbers}

    # -- running --------------------------------------------------------------------------

    def run(self, executor=None, workers: int | None = None, dask: str | None = None,
            store: str | Path | ResultStore | None = None, resume: bool = False,
            progress: Callable[[int, int], None] | None = None) -> Experiment:
        """Run every (scenario, replication) not yet stored; results in self.results.

        executor: an object with map/close (kept open); else workers=None (default: all cores) or N
        (1 to 10,000) local processes, 1 serial, or dask="local" / an address. store: a file path or
        ResultStore; each finished replication is committed at once. resume: continue the experiment
        stored there, to at least its stored replication count (stored replications stay). ClusterError
        if dask cannot run tasks; WorkerLostError if a worker process dies (what finished is stored).
        progress(done, total) is called as replications finish. Ctrl-C (KeyboardInterrupt) stops;
        what finished is in the store. A scenario that cannot be built raises ModelError before anything runs.
        """
        workers = run_arguments(workers, progress)
        if store is not None and not isinstance(store, str | Path | ResultStore):
            raise ModelError([Problem("store", f"give a file path or a ResultStore, or None (got {store!r})")])
        if resume and store is None:  # else it would silently run everything again, storing nothing
            raise ModelError([Problem("resume", "resume continues the experiment in a store: give store=PATH")])
        base = self.base_model()
        built = self.scenario_models()
        self._check_kpis(base, built)
        problems = [p for m in built.values() if isinstance(m, ModelError) for p in m.problems]
        if problems:  # known now: refuse before hours of running the others
            raise ModelError(problems)
        jsons = {name: m.canonical_json() for name, m in built.items()}
        self.warnings = {name: load_warnings(m) for name, m in built.items()}
        definition = self.definition(base.run.warmup)
        runner = _Runner(self, built, jsons, None, progress)
        owned_executor = executor is None
        executor = executor or make_executor(workers, dask)  # before the store: a bad address registers nothing
        try:
            owned_store = store is not None and not isinstance(store, ResultStore)
            runner.store = db = ResultStore(store) if owned_store else store
            try:
                if db is not None:
                    scenarios = [(s.name, s.definition(), built[s.name]) for s in self.scenarios]  # fingerprinted
                    done = db.begin(self.name, definition, scenarios, resume, code_identity())
                    definition = db.definition(self.name)  # resumed: never fewer replications than stored
                    runner.load_stored(done, definition["replications"])
                runner.run_all(executor)
            finally:
                if owned_store:
                    db.close()
        finally:
            if owned_executor:
                executor.close()
        self.results = runner.results(definition)
        return self

    def _need_results(self) -> ExperimentResults:
        if self.results is None:
            raise ValueError("run() the experiment first, or read a store with ExperimentResults.from_store(path)")
        return self.results

    def summary(self, kpis: list[str] | None = None) -> pd.DataFrame:
        return self._need_results().summary(kpis)

    def compare(self, baseline: str | None = None, kpis: list[str] | None = None) -> pd.DataFrame:
        return self._need_results().compare(baseline, kpis)

    def sensitivity(self, kpi: str | None = None) -> pd.DataFrame:
        return self._need_results().sensitivity(kpi)


class _Runner:
    """The bookkeeping of one run(): targets per scenario, what is done, what failed."""

    def __init__(self, experiment: Experiment, built: dict, jsons: dict[str, str], store: ResultStore | None,
                 progress: Callable[[int, int], None] | None):
        self.x = experiment
        self.built = built
        self.jsons = jsons
        self.store = store
        self.progress = progress
        policy = experiment.replications
        if policy is None:
            policy = experiment.model.run.replications
        self.policy = policy
        first = policy.min if isinstance(policy, Sequential) else int(policy)
        if first < 1:
            raise ModelError([Problem("replications", f"must be >= 1 (got {first})")])
        self.target = {s.name: first for s in experiment.scenarios}
        self.outcomes: dict[tuple[str, int], dict[str, float]] = {}
        self.failed: dict[tuple[str, int], str] = {}

    def load_stored(self, done: set[tuple[str, int]], replications: int | dict) -> None:
        """Take the stored outcomes; a stored count above the one asked (resume -r fewer) is the target."""
        if isinstance(replications, int):
            self.target = {name: max(n, replications) for name, n in self.target.items()}
        table = self.store.kpi_table(self.x.name)
        for (scenario, replication), rows in table.groupby(["scenario", "replication"], sort=False):
            self.outcomes[(scenario, int(replication))] = dict(zip(rows["kpi"], rows["value"], strict=True))
        missing = done - set(self.outcomes)
        for key in missing:  # a replication row without KPI rows cannot happen (one transaction); be safe
            self.outcomes[key] = {}

    def pending(self) -> list[tuple[str, int]]:
        return [(s.name, r) for s in self.x.scenarios for r in range(self.target[s.name])
                if (s.name, r) not in self.outcomes and (s.name, r) not in self.failed]

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(len(self.outcomes) + len(self.failed), sum(self.target.values()))

    def run_all(self, executor) -> None:
        self._tick()
        while True:
            self._run_round(executor, self.pending())
            if not isinstance(self.policy, Sequential) or not self._grow():
                return

    def _run_round(self, executor, keys: list[tuple[str, int]]) -> None:
        runnable = []
        for name, r in keys:
            model = self.built[name]
            if isinstance(model, ModelError):
                self._failure(name, r, f"ModelError: {model}")
            else:
                runnable.append(ReplicationTask(name, self.jsons[name], self.x.seed_of(name), r))
        for i, outcome in executor.map(run_replication, runnable):
            task = runnable[i]
            if outcome.error is not None:
                self._failure(task.scenario, task.replication, outcome.error)
                continue
            if self.store is not None:
                self.store.record(self.x.name, task.scenario, task.replication, task.seed, outcome.kpis,
                                  outcome.seconds)
            self.outcomes[(task.scenario, task.replication)] = outcome.kpis
            self._tick()

    def _failure(self, scenario: str, replication: int, message: str) -> None:
        self.failed[(scenario, replication)] = message
        if self.store is not None:
            self.store.record_failure(self.x.name, scenario, replication, self.x.seed_of(scenario), message)
        self._tick()

    def _grow(self) -> bool:
        """Raise every scenario's target to what the least precise one needs; False when all are precise.

        One count for all keeps every scenario paired with the baseline replication by replication
        (common random numbers): with a count per scenario, the means and the paired differences of
        one table would come from different replications and disagree.
        """
        rule: Sequential = self.policy  # type: ignore[assignment]
        needed = []
        for s in self.x.scenarios:
            n = self.target[s.name]
            values = np.array([self.outcomes[(s.name, r)].get(rule.kpi, math.nan)
                               for r in range(n) if (s.name, r) in self.outcomes], dtype=float)
            if n >= rule.max or len(values) == 0:
                continue
            relative = relative_half_width(values)
            if relative <= rule.relative_half_width:
                continue
            ok = int((~np.isnan(values)).sum())
            wanted = math.ceil(max(ok, 2) * (relative / rule.relative_half_width) ** 2) if math.isfinite(relative) else 2 * n
            needed.append(min(rule.max, max(n + 1, wanted)))
        if not needed:
            return False
        self.target = {name: max(n, max(needed)) for name, n in self.target.items()}
        return True

    def results(self, definition: dict[str, Any]) -> ExperimentResults:
        order = {s.name: i for i, s in enumerate(self.x.scenarios)}
        keys = sorted(self.outcomes, key=lambda k: (order[k[0]], k[1]))
        rows = [(self.x.name, s, r, self.x.seed_of(s), kpi, float(v))
                for s, r in keys for kpi, v in sorted(self.outcomes[(s, r)].items())]
        table = pd.DataFrame(rows, columns=["experiment", "scenario", "replication", "seed", "kpi", "value"])
        failures = pd.DataFrame([(self.x.name, s, r, self.x.seed_of(s), m) for (s, r), m in sorted(self.failed.items())],
                                columns=["experiment", "scenario", "replication", "seed", "message"])
        return ExperimentResults(
            name=self.x.name, scenarios=[{**s.definition(), "name": s.name} for s in self.x.scenarios],
            table=table, failures=failures, definition=definition)


# --- results --------------------------------------------------------------------------------


@dataclass
class ExperimentResults:
    """Per-replication KPIs of every scenario (tidy), and the tables that answer the question."""

    name: str
    scenarios: list[dict]  # definitions in experiment order: name, description, cost, factors, levers, overrides
    table: pd.DataFrame  # experiment, scenario, replication, seed, kpi, value
    failures: pd.DataFrame  # experiment, scenario, replication, seed, message
    definition: dict

    @classmethod
    def from_store(cls, path: str | Path | ResultStore, experiment: str | None = None) -> ExperimentResults:
        """Results of one experiment in a store (the only one, if experiment is None)."""
        db = path if isinstance(path, ResultStore) else ResultStore(path, readonly=True)
        try:
            if experiment is None:
                names = db.experiments()
                if len(names) != 1:
                    raise ValueError(f"{db.path} holds {len(names)} experiments ({', '.join(names) or 'none'}): "
                                     "name the one you want")
                experiment = names[0]
            definition = db.definition(experiment)
            return cls(name=experiment, scenarios=db.scenarios(experiment), table=db.kpi_table(experiment),
                       failures=db.failures(experiment), definition=definition)
        finally:
            if db is not path:
                db.close()

    @property
    def kpis(self) -> list[str]:
        return list(self.definition.get("kpis") or DEFAULT_KPIS)

    @property
    def primary(self) -> str:
        return self.definition.get("primary") or self.kpis[0]

    @property
    def baseline(self) -> str:
        return self.definition.get("baseline", "baseline")

    def scenario_names(self) -> list[str]:
        return [s["name"] for s in self.scenarios]

    def values(self, kpi: str) -> pd.DataFrame:
        """One KPI as replications x scenarios (scenarios in experiment order; nan where missing)."""
        rows = self.table[self.table["kpi"] == kpi]
        wide = rows.pivot(index="replication", columns="scenario", values="value")
        return wide.reindex(columns=[n for n in self.scenario_names() if n in wide.columns])

    def replication_counts(self) -> pd.Series:
        """Replications with results per scenario, in experiment order; 0 for a scenario without any."""
        counts = self.table.groupby("scenario")["replication"].nunique()
        return counts.reindex(self.scenario_names(), fill_value=0).astype(int)

    def completion(self) -> tuple[int, int]:
        """(replications done, replications asked for) over all scenarios; fewer done: the run was stopped.

        Done counts failed replications too (their failure is stored). A sequential rule runs every
        scenario as far as the least precise one needs, so what is asked is the most any scenario has
        (at least the rule's `min`): a scenario behind the others was stopped mid-round.
        """
        rule = self.definition.get("replications")
        cells = pd.concat([self.table[["scenario", "replication"]], self.failures[["scenario", "replication"]]])
        per_scenario = cells.drop_duplicates().groupby("scenario").size()
        per_scenario = per_scenario.reindex(self.scenario_names(), fill_value=0)
        if isinstance(rule, dict):
            asked = max(int(rule["min"]), int(per_scenario.max()) if len(per_scenario) else 0)
        else:
            asked = int(rule or 0)
        return int(per_scenario.clip(upper=asked).sum()), asked * len(self.scenarios)

    def short_of_precision(self) -> dict[str, float]:
        """Under a sequential rule, the scenarios that reached its `max` still wider than its
        relative_half_width, each with the relative half-width it reached (the rule stopped, not satisfied)."""
        rule = self.definition.get("replications")
        if not isinstance(rule, dict):
            return {}
        run = self.replication_counts() + self.failures.groupby("scenario").size().reindex(self.scenario_names(),
                                                                                           fill_value=0)
        wide = self.values(rule["kpi"])
        reached = {name: relative_half_width(wide[name].to_numpy(dtype=float)) for name in wide.columns
                   if run[name] >= rule["max"]}
        return {name: r for name, r in reached.items() if r > rule["relative_half_width"]}

    def no_results(self, scenario: str) -> str | None:
        """Why scenario has no results (its failures, or that it is unknown); None if it has some."""
        if (self.table["scenario"] == scenario).any():
            return None
        failed = self.failures[self.failures["scenario"] == scenario]
        if len(failed):
            return (f"no replication of {scenario!r} finished: {len(failed)} failed, the first with "
                    f"{failed['message'].iloc[0]}")
        have = list(dict.fromkeys(self.table["scenario"]))
        return f"no results for {scenario!r}: scenarios with results: {', '.join(have) or 'none'}"

    def summary(self, kpis: list[str] | None = None) -> pd.DataFrame:
        """Per scenario and KPI: mean, 95% t-interval and number of replications, each scenario over the
        replications it shares with the baseline (see compare), so a table's means and differences agree;
        over all its own replications when the baseline has none (there is nothing to compare with)."""
        shared = self.shared_replications() if self.no_results(self.baseline) is None else None
        rows = []
        for kpi in self._asked(kpis):
            wide = self.values(kpi)
            for scenario in wide.columns:
                column = wide[scenario] if shared is None else wide[scenario].reindex(shared[scenario])
                values = column.to_numpy(dtype=float)
                mean, low, high = t_interval(values, within=kpi_range(kpi))
                rows.append((scenario, kpi, mean, low, high, int((~np.isnan(values)).sum())))
        return pd.DataFrame(rows, columns=["scenario", "kpi", "mean", "ci_low", "ci_high", "n"])

    def compare(self, baseline: str | None = None, kpis: list[str] | None = None) -> pd.DataFrame:
        """Paired differences (scenario - baseline, same replications) with 95% CI, ranking, value for money.

        improvement is the difference signed so that positive is better; improvement_per_cost divides
        it by the scenario's cost; rank orders scenarios by improvement within each KPI (1 = best).
        A KPI the baseline does not have (a pool only a scenario adds) gets the scenarios' means and no
        difference.

        Every column of a row (mean, baseline_mean, difference, n) comes from the replications the
        scenario shares with the baseline, so mean - baseline_mean is the difference. failed counts
        the replications left out because they failed in the scenario or the baseline; missing counts
        the baseline's replications the scenario has no results for (failed, or not run: a stopped run).
        Such a row is not ranked (rank is empty): the failed replications are mostly the busiest (a run
        cap), so the survivors flatter it, as `chainsim run` refuses to report a capped run for that
        reason; and a row on fewer replications than the others is not measured as they are.
        """
        baseline = baseline or self.baseline
        shared = self.shared_replications(baseline)
        failed = self.failed_replications()
        costs = {s["name"]: float(s.get("cost") or 0.0) for s in self.scenarios}
        rows = []
        for kpi in self._asked(kpis):
            wide = self.values(kpi)
            sign = 1.0 if self._better(kpi) == "higher" else -1.0
            base = self._baseline_values(wide, baseline)
            for scenario in wide.columns:
                if scenario == baseline:
                    continue
                ours, theirs = wide[scenario].reindex(shared[scenario]), base.reindex(shared[scenario])
                paired = (ours - theirs).dropna().to_numpy()
                mean, low, high = t_interval(paired)
                cost = costs.get(scenario, 0.0)
                improvement = sign * mean
                rows.append({
                    "scenario": scenario, "kpi": kpi, "baseline_mean": float(theirs.mean()),
                    "mean": float(ours.mean()), "difference": mean, "ci_low": low, "ci_high": high,
                    "relative": mean / theirs.mean() if theirs.mean() else math.nan, "n": len(paired),
                    "failed": len(failed.get(scenario, set()) | failed.get(baseline, set())),
                    "missing": len(shared[baseline]) - len(shared[scenario]),
                    "significant": bool(low > 0 or high < 0), "cost": cost, "improvement": improvement,
                    "improvement_per_cost": improvement / cost if cost > 0 else math.nan,
                })
        table = pd.DataFrame(rows, columns=["scenario", "kpi", "baseline_mean", "mean", "difference", "ci_low",
                                            "ci_high", "relative", "n", "failed", "missing", "significant", "cost",
                                            "improvement", "improvement_per_cost"])
        complete = table[(table["failed"] == 0) & (table["missing"] == 0)]
        table["rank"] = complete.groupby("kpi")["improvement"].rank(ascending=False, method="min").astype("Int64")
        return table

    def shared_replications(self, baseline: str | None = None) -> dict[str, list[int]]:
        """Per scenario, the replications its rows are computed on: for the baseline all it finished, for
        another scenario those both it and the baseline finished. ValueError if the baseline has none."""
        baseline = baseline or self.baseline
        why = self.no_results(baseline)
        if why is not None:
            raise ValueError(why)
        finished = {name: set(reps) for name, reps in self.table.groupby("scenario")["replication"]}
        ours = finished[baseline]
        return {name: sorted(reps if name == baseline else reps & ours) for name, reps in finished.items()}

    def failed_replications(self) -> dict[str, set[int]]:
        """Per scenario with failures, the replications that failed."""
        return {name: set(reps) for name, reps in self.failures.groupby("scenario")["replication"]}

    def sensitivity(self, kpi: str | None = None) -> pd.DataFrame:
        """Tornado data: per factor, the KPI's change vs baseline at the factor's lowest and highest value.

        Uses scenarios that move exactly one factor (a one_at_a_time design); rows sorted by swing.
        """
        kpi = self._asked([kpi], "kpi")[0] if kpi else self.primary
        wide = self.values(kpi)
        base = self._baseline_values(wide, self.baseline)
        by_factor: dict[str, list[tuple[Any, str]]] = {}
        for s in self.scenarios:
            factors = s.get("factors") or {}
            if len(factors) == 1 and s["name"] in wide.columns:
                (name, value), = factors.items()
                by_factor.setdefault(name, []).append((value, s["name"]))
        shared = self.shared_replications()
        rows = []
        for name, points in by_factor.items():
            (low, low_s), (high, high_s) = _ends(points)
            at_low, at_high = (wide[s].reindex(shared[s]) for s in (low_s, high_s))  # as in compare()
            low_d = t_interval((at_low - base).dropna().to_numpy())
            high_d = t_interval((at_high - base).dropna().to_numpy())
            swing = max(low_d[0], high_d[0], 0.0) - min(low_d[0], high_d[0], 0.0)
            rows.append({"factor": name, "low": low, "high": high, "kpi": kpi, "baseline": float(base.mean()),
                         "at_low": float(at_low.mean()), "at_high": float(at_high.mean()),
                         "difference_low": low_d[0], "difference_low_ci_low": low_d[1],
                         "difference_low_ci_high": low_d[2], "difference_high": high_d[0],
                         "difference_high_ci_low": high_d[1], "difference_high_ci_high": high_d[2],
                         "swing": swing})
        table = pd.DataFrame(rows)
        return table.sort_values("swing", ascending=False).reset_index(drop=True) if rows else table

    def _asked(self, kpis: list[str] | None, path: str = "kpis") -> list[str]:
        """The KPIs a caller asked for (default: the experiment's); ModelError for a name neither the experiment
        nor any replication has, which would otherwise be an empty table (a misspelt name, silently). The
        experiment's own KPIs pass without results (a stopped run, a pool no finished scenario has)."""
        if not kpis:
            return self.kpis
        if isinstance(kpis, str):
            raise ModelError([Problem(path, f"give a list of KPI names (got {kpis!r})")])
        kpis = list(kpis)  # a generator is read once, here
        if not all(isinstance(k, str) for k in kpis):
            raise ModelError([Problem(path, f"give KPI names as text (got {kpis!r})")])
        known = {*self.table["kpi"], *self.kpis, self.primary}
        problems = [unknown_kpi(k, known, path) for k in kpis if k not in known]
        if problems:
            raise ModelError(problems)
        return kpis

    def _baseline_values(self, wide: pd.DataFrame, baseline: str) -> pd.Series:
        """The baseline's column of one KPI; all nan if only the KPI is missing there (a pool KPI), and
        ValueError saying why if the baseline has no results at all."""
        if baseline in wide.columns:
            return wide[baseline]
        why = self.no_results(baseline)
        if why is not None:
            raise ValueError(why)
        return pd.Series(math.nan, index=wide.index, dtype=float)

    def _better(self, kpi: str) -> str:
        if kpi == self.primary and self.definition.get("better"):
            return self.definition["better"]
        return better_direction(kpi)


def _ends(points: list[tuple[Any, str]]) -> tuple[tuple[Any, str], tuple[Any, str]]:
    """A factor's (value, scenario) at its low and high end: the smallest and largest number, or, for
    values that do not order (shift schedules, disciplines), the first and last listed."""
    if all(is_number(value) for value, _ in points):
        return min(points, key=lambda p: p[0]), max(points, key=lambda p: p[0])
    return points[0], points[-1]
