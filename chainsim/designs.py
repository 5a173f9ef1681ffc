"""Designs: which scenarios an experiment runs. Sweeps are data, expanded here into a scenario list.

A design varies named *factors*. A factor is either a model value by dotted path
(``departments.compliance.staff``) or one field of a lever (``{lever: add_staff, department: it,
vary: count}``). Four designs:

- ``list``: the scenarios written out (no factors);
- ``grid``: every combination of each factor's ``values`` (full factorial);
- ``latin_hypercube``: ``samples`` points spread over each factor's ``low``..``high`` range
  (scipy.stats.qmc.LatinHypercube, seeded, so the same file gives the same points);
- ``one_at_a_time``: each factor moved alone to its low and its high value (or each of its
  values) with the others at the base model, for sensitivity (tornado) charts.

A field a design does not read (a grid's ``low``, a Latin hypercube's ``values``, ``samples`` outside a
Latin hypercube) is refused, never silently ignored.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any

from scipy.stats import qmc

from chainsim.errors import ModelError, Problem, is_number
from chainsim.levers import LEVERS, apply_levers, lever_cost, lever_problems
from chainsim.model import Model

DESIGN_TYPES = ("list", "grid", "latin_hypercube", "one_at_a_time")
MAX_POINTS = 10_000  # more scenarios than anyone can read; a typo in a grid must not run for days
FACTOR_KEYS = {"path", "values", "low", "high", "integer", "vary", "cost_per_unit", "lever"}


@dataclass(frozen=True)
class Factor:
    """One varied quantity: a model path, or the `vary` field of a lever template."""

    name: str
    path: str | None = None
    lever: dict | None = None
    vary: str | None = None
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False
    cost_per_unit: float = 0.0
    base: float = 0.0  # a path factor's value in the model: its cost is for the change from there

    def change(self, value: Any) -> tuple[dict[str, Any], list[dict]]:
        """(overrides, levers) that set this factor to value; a lever carries its cost."""
        if self.path is not None:
            return {self.path: value}, []
        lever = {**(self.lever or {}), self.vary: value}
        if self.cost_per_unit:
            lever["cost"] = self.cost(value)
        return {}, [lever]

    def cost(self, value: Any) -> float:
        """|change| x cost_per_unit, the change being a lever field's value, or a model path's value less
        the model's (staff 3 where the model has 2 is one hire, not three): a cut is costed like a hire,
        as the effort of the change (costs are never negative, since results rank improvement per unit
        of cost)."""
        return self.cost_per_unit * abs(value - self.base) if self.cost_per_unit else 0.0

    def at(self, u: float) -> float:
        """The value at position u in [0, 1) of the range (integers: equal-width cells)."""
        if self.integer:
            low, high = math.ceil(self.low), math.floor(self.high)
            return int(min(high, low + math.floor(u * (high - low + 1))))
        return self.low + u * (self.high - self.low)

    def extremes(self) -> list:
        """The values one_at_a_time sets: each listed value, or the range's ends (whole ones for integer)."""
        if self.values is not None:
            return list(self.values)
        return [math.ceil(self.low), math.floor(self.high)] if self.integer else [self.low, self.high]


@dataclass(frozen=True)
class Point:
    """One scenario a design asks for: its name, factor values, and the changes they make."""

    name: str
    factors: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    levers: list[dict] = field(default_factory=list)
    cost: float = 0.0  # the scenario's: its levers' costs and its model-path factors' costs


def parse_factor(name: str, spec: Any, where: str) -> Factor:
    """A factor from its file form: a list of values (name is the path) or a mapping."""
    if isinstance(spec, list):
        spec = {"values": spec}
    if not isinstance(spec, dict):
        raise ModelError([Problem(where, "a factor is a list of values or a mapping with values or low/high")])
    lever_name = spec.get("lever")
    if lever_name is not None and "path" in spec:  # else the path would be silently ignored
        raise ModelError([Problem(f"{where}.path", "a factor is a model path or a lever's field, not both: remove "
                                  "`path`, or `lever` and its fields")])
    lever_fields = {k: v for k, v in spec.items() if k not in FACTOR_KEYS}
    if lever_name is None and lever_fields:
        unknown = ", ".join(map(repr, lever_fields))
        raise ModelError([Problem(where, f"unknown field(s) {unknown}: a factor takes {', '.join(sorted(FACTOR_KEYS))}")])
    values = spec.get("values")
    if values is not None and (not isinstance(values, list) or not values):
        raise ModelError([Problem(f"{where}.values", "give a non-empty list of values")])
    low, high = spec.get("low"), spec.get("high")
    for key in ("low", "high", "cost_per_unit"):
        value = spec.get(key)
        if value is not None and not is_number(value):
            raise ModelError([Problem(f"{where}.{key}", f"must be a finite number (got {value!r})")])
    cost_per_unit = spec.get("cost_per_unit") or 0.0
    if cost_per_unit < 0:
        raise ModelError([Problem(f"{where}.cost_per_unit", f"must be >= 0 (got {cost_per_unit!r})")])
    if cost_per_unit and values is not None and not all(is_number(v) for v in values):
        raise ModelError([Problem(f"{where}.values", "with cost_per_unit every value must be a number (cost = value "
                                  f"x cost_per_unit); got {values!r}")])
    if not isinstance(spec.get("integer", False), bool):
        raise ModelError([Problem(f"{where}.integer", f"write true or false (got {spec['integer']!r})")])
    if values is None and (low is None or high is None):
        raise ModelError([Problem(where, "give `values: [...]` or a range `low:` and `high:`")])
    if low is not None and high is not None and not low < high:
        raise ModelError([Problem(where, f"low ({low}) must be below high ({high})")])
    if spec.get("integer") and low is not None and high is not None and math.ceil(low) > math.floor(high):
        raise ModelError([Problem(where, f"integer: no whole number lies between low ({low}) and high ({high})")])
    lever = None
    if lever_name is not None:
        vary = spec.get("vary")
        template = {"lever": lever_name, **lever_fields}
        problems = [p for p in lever_problems([template], where) if not p.path.endswith(f".{vary}")]
        if problems:
            raise ModelError([Problem(p.path.replace("[0]", ""), p.message) for p in problems])
        if not isinstance(vary, str) or vary not in LEVERS[lever_name].fields:
            raise ModelError([Problem(f"{where}.vary", f"name the {lever_name} field this factor varies: "
                                      f"one of {', '.join(LEVERS[lever_name].fields)} (got {vary!r})")])
        lever = template
    elif "vary" in spec:
        raise ModelError([Problem(f"{where}.vary", "vary goes with a lever: add `lever: NAME`")])
    return Factor(name=name, path=None if lever else spec.get("path", name), lever=lever, vary=spec.get("vary"),
                  values=tuple(values) if values is not None else None, low=low, high=high,
                  integer=spec.get("integer", False), cost_per_unit=float(cost_per_unit))


def _point(pairs: list[tuple[Factor, Any]], name: str | None = None) -> Point:
    overrides: dict[str, Any] = {}
    levers: list[dict] = []
    for factor, value in pairs:
        o, lv = factor.change(value)
        overrides.update(o)
        levers.extend(lv)
    path_costs = sum(f.cost(v) for f, v in pairs if f.path is not None)  # a lever factor's is in its lever
    label = name or ", ".join(f"{f.name}={_show(v)}" for f, v in pairs)
    return Point(label, {f.name: v for f, v in pairs}, overrides, levers, lever_cost(levers) + path_costs)


def _show(value: Any) -> str:
    """A value as a scenario name shows it: short (0.1, 2), but never two values under one name."""
    if not isinstance(value, float):
        return str(value)
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _refuse_integer_with_values(factors: list[Factor]) -> None:
    """`integer` rounds the draws from a range; a grid or one_at_a_time over listed values would ignore it."""
    for f in factors:
        if f.integer and f.values is not None and f.low is None and f.high is None:
            raise ModelError([Problem(f"design.factors.{f.name}.integer", "a factor with listed values ignores "
                                      "integer (it rounds the draws from a range, low to high): remove `integer`; "
                                      "the values are used as written")])


def grid(factors: list[Factor]) -> list[Point]:
    """Every combination of the factors' values (the first factor varies slowest)."""
    _refuse_integer_with_values(factors)
    for f in factors:
        ranged = _range_fields(f)
        if ranged:  # a factor without values has a range (parse_factor): refused here too
            raise ModelError([Problem(f"design.factors.{f.name}.{ranged[0]}", "a grid needs `values: [...]` for each "
                                      "factor and ignores a range: give values instead of low and high (a range is "
                                      "for latin_hypercube and one_at_a_time)")])
    size = math.prod(len(f.values) for f in factors)
    if size > MAX_POINTS:
        raise ModelError([Problem("design.factors", f"a grid of these factors has {size:,} scenarios, more than "
                                  f"{MAX_POINTS:,}: use fewer values, or type: latin_hypercube with samples")])
    return [_point(list(zip(factors, combo, strict=True))) for combo in itertools.product(*(f.values for f in factors))]


def latin_hypercube(factors: list[Factor], samples: int, seed: int = 0) -> list[Point]:
    """`samples` points with each factor's range cut into `samples` strata, each stratum used once."""
    for f in factors:
        if f.values is not None:  # a factor without them has a range (parse_factor)
            raise ModelError([Problem(f"design.factors.{f.name}.values", "a Latin hypercube needs a range `low:` and "
                                      "`high:` and ignores values: give low and high instead of values")])
    if not 1 <= samples <= MAX_POINTS:
        raise ModelError([Problem("design.samples", f"must be 1 to {MAX_POINTS:,} (got {samples:,})")])
    unit = qmc.LatinHypercube(d=len(factors), rng=seed).random(samples)
    width = len(str(samples))
    return [_point([(f, f.at(u)) for f, u in zip(factors, row, strict=True)], name=f"lhs-{i + 1:0{width}d}")
            for i, row in enumerate(unit)]


def one_at_a_time(factors: list[Factor]) -> list[Point]:
    """Each factor alone at each of its extremes (low and high, or each listed value)."""
    _refuse_integer_with_values(factors)
    for f in factors:
        ranged = _range_fields(f)
        if f.values is not None and ranged:
            raise ModelError([Problem(f"design.factors.{f.name}.{ranged[0]}", "one_at_a_time moves a factor to each "
                                      "of its values and ignores a range: give values, or low and high, not both")])
    return [_point([(f, value)]) for f in factors for value in f.extremes()]


def _range_fields(f: Factor) -> list[str]:
    """The ends of a range the factor sets: low, high or both."""
    return [key for key in ("low", "high") if getattr(f, key) is not None]


def _check_whole_numbers(factors: list[Factor], point: Point, model: Model) -> None:
    """A Latin hypercube's range over a whole-number field (staff) needs `integer: true`: said once, at the
    factor, rather than as "must be a whole number" in every scenario."""
    for f in factors:
        value = point.factors[f.name]
        if f.integer or value == round(value) or not _fits(model, f, round(value)) or _fits(model, f, value):
            continue
        what = f.path or f"{f.lever['lever']}'s {f.vary}"
        raise ModelError([Problem(f"design.factors.{f.name}", f"{what} takes whole numbers, but a Latin hypercube "
                                  f"draws fractions such as {value:.4g}: add `integer: true` to this factor")])


def _number_at(model: Model, path: str) -> float:
    """The number at a dotted path of the model (list items by index); 0 where there is none (a staff
    path of a department with a schedule), so the cost is of the whole value, as without a model."""
    node: Any = model.model_dump(by_alias=True)
    for key in path.split("."):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return 0.0
    return float(node) if is_number(node) else 0.0


def _fits(model: Model, factor: Factor, value: Any) -> bool:
    """Whether the model takes this factor's value (the other factors as in the model)."""
    overrides, levers = factor.change(value)
    try:
        apply_levers(model.with_changes(overrides), levers)
    except ModelError:
        return False
    return True


def _check_paths_apart(factors: list[Factor], where: str) -> None:
    """Two factors setting one model path: the later silently won, and the first looked as if it had no effect."""
    setters: dict[str, str] = {}
    problems = []
    for f in factors:
        if f.path is not None and f.path in setters:
            problems.append(Problem(f"{where}.factors.{f.name}", f"sets {f.path}, as factor {setters[f.path]!r} does: "
                                    "only the later would act; keep one"))
        elif f.path is not None:
            setters[f.path] = f.name
    if problems:
        raise ModelError(problems)


def expand(design: dict, where: str = "design", model: Model | None = None) -> list[Point]:
    """The scenarios (as points) of a design mapping {type, factors, samples?, seed?}; with the model, a
    Latin hypercube's fractions in a whole-number field are refused at the factor."""
    kind = design.get("type")
    if kind not in DESIGN_TYPES[1:]:
        raise ModelError([Problem(f"{where}.type", f"unknown design {kind!r}: use one of {', '.join(DESIGN_TYPES[1:])} "
                                  "(or list the scenarios under `scenarios:`)")])
    ignored = [key for key in ("samples", "seed") if key in design and kind != "latin_hypercube"]
    if ignored:
        raise ModelError([Problem(f"{where}.{key}", f"only a latin_hypercube reads {key}, a {kind} ignores it: "
                                  "remove it") for key in ignored])
    specs = design.get("factors")
    if not isinstance(specs, dict) or not specs:
        raise ModelError([Problem(f"{where}.factors", "give the factors: a mapping of name -> values or range")])
    factors = [parse_factor(name, spec, f"{where}.factors.{name}") for name, spec in specs.items()]
    _check_paths_apart(factors, where)
    if model is not None:
        factors = [replace(f, base=_number_at(model, f.path)) if f.path and f.cost_per_unit else f for f in factors]
    if kind == "grid":
        return grid(factors)
    if kind == "latin_hypercube":
        points = latin_hypercube(factors, int(design.get("samples", 10)), int(design.get("seed", 0)))
        if model is not None:
            _check_whole_numbers(factors, points[0], model)
        return points
    return one_at_a_time(factors)
