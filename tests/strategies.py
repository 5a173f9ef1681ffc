"""Hypothesis strategies for model files: valid ones the engine must run, invalid ones it must refuse.

Valid models are plain dicts (as parsed YAML) kept small on purpose — a short horizon and a
bounded number of arrivals — so one example runs in milliseconds and a CI fuzz of ~80 examples
per property fits in seconds. Invalid inputs are YAML text or bytes, each paired with the
problem it carries, so a test can check the refusal names the field.

Profiles: ``fuzz-ci`` (bounded, the default) and ``fuzz-long`` (``CHAINSIM_FUZZ=long``). They are
applied per test with :data:`fuzz_settings`, never loaded globally, so other test files keep
their own Hypothesis settings.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "fuzz-ci", max_examples=80, deadline=timedelta(seconds=5), derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "fuzz-long", max_examples=2000, deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FUZZ_PROFILE = "fuzz-long" if os.environ.get("CHAINSIM_FUZZ", "ci") == "long" else "fuzz-ci"


def fuzz_settings(**overrides: Any) -> settings:
    """The selected fuzz profile, with per-test overrides (e.g. fewer examples for slow properties)."""
    base = settings.get_profile(FUZZ_PROFILE)
    if FUZZ_PROFILE == "fuzz-long":
        overrides.pop("max_examples", None)  # the long run keeps its own count
    return settings(base, **overrides)


# --- distributions -----------------------------------------------------------------------------

def _num(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats in [low, high], rounded so the YAML text and the model agree exactly."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 4)).filter(
        lambda x: low <= x <= high)


def distributions(low: float = 0.2, high: float = 20.0, allow_zero: bool = True) -> st.SearchStrategy[dict]:
    """Every distribution the schema knows, with means roughly in [low, high]."""
    mean = _num(low, high)
    cv = _num(0.1, 2.0)
    uniform = st.tuples(_num(0, high), _num(0.1, high)).map(
        lambda t: {"dist": "uniform", "low": t[0], "high": round(t[0] + t[1], 4)})
    triangular = st.tuples(_num(0, high), _num(0, 1), _num(0.1, high)).map(
        lambda t: {"dist": "triangular", "low": t[0], "mode": round(t[0] + t[1] * t[2], 4),
                   "high": round(t[0] + t[2], 4)})
    options = [
        mean.map(lambda m: {"dist": "exponential", "mean": m}),
        _num(low if not allow_zero else 0.0, high).map(lambda v: {"dist": "fixed", "value": v}),
        uniform,
        triangular,
        st.tuples(mean, cv).map(lambda t: {"dist": "lognormal", "mean": t[0], "cv": t[1]}),
        st.tuples(mean, cv).map(lambda t: {"dist": "gamma", "mean": t[0], "cv": t[1]}),
        st.tuples(mean, st.integers(1, 8)).map(lambda t: {"dist": "erlang", "mean": t[0], "k": t[1]}),
        st.tuples(mean, _num(0.2, 1.5)).map(lambda t: {"dist": "weibull", "mean": t[0], "cv": t[1]}),
        st.tuples(_num(0.6, 4.0), mean).map(lambda t: {"dist": "weibull", "shape": t[0], "scale": t[1]}),
        st.lists(_num(low if not allow_zero else 0.0, high), min_size=1, max_size=6).filter(
            lambda v: any(x > 0 for x in v)).map(lambda v: {"dist": "empirical", "values": v}),
    ]
    return st.one_of(options)


# --- valid models ------------------------------------------------------------------------------

# Names and labels: any printable text (control characters such as NEL are YAML line breaks).
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=16)
NAMES = ["front_desk", "compliance", "it", "back_office", "legal", "ops-2", "Q9"]
DAY = 120.0  # run.day_length of generated models: schedules and profiles repeat within the horizon


def _windows(draw, max_windows: int = 3) -> list[tuple[float, float]]:
    """Non-empty time-of-day windows [from, to) inside one day."""
    n = draw(st.integers(1, max_windows))
    out = []
    for _ in range(n):
        start = draw(_num(0, DAY - 10))
        out.append((start, draw(_num(start + 5, DAY))))
    return out


@st.composite
def departments(draw, name: str) -> dict:
    dept: dict[str, Any] = {}
    if draw(st.booleans()):
        dept["staff"] = draw(st.integers(1, 4))
    else:
        shifts = [{"from": a, "to": b, "staff": draw(st.integers(0, 3))} for a, b in _windows(draw)]
        shifts[0]["staff"] = max(1, shifts[0]["staff"])
        dept["schedule"] = shifts
    dept["discipline"] = draw(st.sampled_from(["fifo", "priority", "preemptive"]))
    if dept["discipline"] != "fifo":
        dept["internal_priority"] = draw(st.sampled_from(["high", "same", "low"]))
    if draw(st.booleans()):
        dept["error_rate"] = draw(_num(0, 0.3))
    if draw(st.booleans()):
        dept["sla"] = draw(_num(1, 60))
    if draw(st.integers(0, 3)) == 0:
        dept["interruptions"] = {"every": draw(distributions(10, 40, allow_zero=False)),
                                 "lasts": draw(distributions(0.2, 4)),
                                 "mode": draw(st.sampled_from(["preempt", "queue"]))}
    if draw(st.integers(0, 4)) == 0:
        dept["outages"] = {"every": draw(distributions(20, 60, allow_zero=False)),
                           "lasts": draw(distributions(0.5, 10))}
        if draw(st.booleans()):
            dept["outages"]["staff"] = draw(st.integers(1, 3))
    if draw(st.integers(0, 4)) == 0:
        dept["absence"] = {"p": draw(_num(0, 0.5))}
    if draw(st.booleans()):
        dept["label"] = draw(TEXT)
    return dept


def _rework(draw, item: dict) -> None:
    if draw(st.integers(0, 2)) == 0:
        item["error_rate"] = draw(_num(0, 0.4))
    choice = draw(st.integers(0, 3))
    if choice == 1:
        item["rework_time"] = draw(distributions(0.2, 10))
    elif choice == 2:
        item["rework_factor"] = draw(_num(0.1, 2))


@st.composite
def requests(draw, depts: list[str], depth: int, holders: tuple[str, ...]) -> dict:
    """A request to a department not already holding the customer (that would deadlock)."""
    to = draw(st.sampled_from([d for d in depts if d not in holders]))
    req: dict[str, Any] = {"request": to, "time": draw(distributions(0.2, 8))}
    _rework(draw, req)
    if draw(st.integers(0, 2)) == 0:
        req["clarify"] = {"p": draw(_num(0, 0.5))}
        if draw(st.booleans()):
            req["clarify"]["time"] = draw(distributions(0.2, 4))
    if depth < 2 and len(set(depts) - {*holders, to}) and draw(st.integers(0, 3)) == 0:
        req["consult"] = draw(consults(depts, (*holders, to), depth + 1))
    return req


@st.composite
def consults(draw, depts: list[str], holders: tuple[str, ...], depth: int = 0) -> Any:
    """A single request, a sequential list, a parallel fork-join, or a list mixing both; nested."""
    kind = draw(st.sampled_from(["single", "sequence", "parallel", "mixed"]))
    if kind == "single":
        return draw(requests(depts, depth, holders))
    if kind == "parallel":
        return {"parallel": draw(st.lists(requests(depts, depth, holders), min_size=1, max_size=3))}
    item = requests(depts, depth, holders)
    if kind == "mixed":
        item = st.one_of(item, st.lists(requests(depts, depth, holders), min_size=1, max_size=2).map(
            lambda rs: {"parallel": rs}))
    return draw(st.lists(item, min_size=1, max_size=3))


@st.composite
def journeys(draw, depts: list[str], scope: tuple[str, ...] = (), depth: int = 0,
             min_size: int = 1, ids: list[str] | None = None) -> list[dict]:
    """Steps: serves (with consults, rework, ids unique in the journey, rework_to an id in scope) and
    nested branches."""
    ids = [] if ids is None else ids
    scope_ids = list(scope)
    steps: list[dict] = []
    for _ in range(draw(st.integers(min_size, 3 if depth == 0 else 2))):
        if depth < 2 and draw(st.integers(0, 3)) == 0:
            n = draw(st.integers(1, 3))
            weights = [draw(st.integers(1, 10)) for _ in range(n)]
            ps = [round(w / sum(weights), 6) for w in weights]
            ps[-1] = round(1 - sum(ps[:-1]), 12)
            steps.append({"branch": [{"p": p, "then": draw(journeys(depts, tuple(scope_ids), depth + 1, 0, ids))}
                                     for p in ps]})
            continue
        step: dict[str, Any] = {"serve": draw(st.sampled_from(depts)), "time": draw(distributions(0.2, 10))}
        if len(depts) > 1 and draw(st.booleans()):
            step["consult"] = draw(consults(depts, (step["serve"],)))
            step["consult_at"] = draw(st.sampled_from(["end", "start"]))
        _rework(draw, step)
        if scope_ids and draw(st.integers(0, 2)) == 0:
            step["rework_to"] = draw(st.sampled_from(scope_ids))
        if draw(st.booleans()):
            step["id"] = f"s{len(ids)}"
            ids.append(step["id"])
            scope_ids.append(step["id"])
        steps.append(step)
    return steps


@st.composite
def arrivals(draw, horizon: float) -> dict:
    """Poisson arrivals (constant, with opening hours, or a profile), at most ~40 expected per class."""
    out: dict[str, Any] = {}
    top = 40.0 / horizon
    if draw(st.integers(0, 3)) == 0:
        out["batch"] = draw(distributions(1, 3, allow_zero=False))
        top /= 3
    kind = draw(st.sampled_from(["rate", "open", "profile"]))
    if kind == "profile":
        out["profile"] = [{"from": a, "to": b, "rate": draw(_num(0, top))} for a, b in _windows(draw)]
    else:
        out["rate"] = draw(_num(top / 20, top))
        if kind == "open":
            out["open"] = [{"from": a, "to": b} for a, b in _windows(draw)]
    return out


@st.composite
def customer_classes(draw, depts: list[str], horizon: float) -> dict:
    cls: dict[str, Any] = {"arrivals": draw(arrivals(horizon)), "journey": draw(journeys(depts))}
    if draw(st.booleans()):
        cls["patience"] = draw(distributions(1, 60))
        cls["patience_on_hold"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        cls["balk_at"] = draw(st.integers(0, 10))
    if draw(st.booleans()):
        cls["priority"] = draw(st.integers(-3, 3))
    if draw(st.booleans()):
        cls["sla"] = draw(_num(1, 120))
    if draw(st.booleans()):
        cls["value"] = draw(_num(0, 1000))
        cls["churn_if_late"] = draw(_num(0, 1))
        cls["churn_if_abandoned"] = draw(_num(0, 1))
    if draw(st.integers(0, 3)) == 0:
        cls["expectation"] = draw(_num(1, 120))
    return cls


@st.composite
def valid_models(draw) -> dict:
    """A random valid model as parsed YAML: 1-4 departments, 1-3 classes, optional pool."""
    dept_names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    horizon = draw(_num(30, 240))
    run: dict[str, Any] = {"horizon": horizon, "replications": 1, "seed": draw(st.integers(0, 2**32)),
                           "day_length": DAY, "drain": draw(st.booleans()), "max_customers": 3000}
    if draw(st.booleans()):
        run["warmup"] = draw(_num(0, horizon / 2))
    if draw(st.booleans()):
        run["drain_limit"] = draw(_num(1, horizon))
    model: dict[str, Any] = {
        "name": draw(TEXT),
        "run": run,
        "departments": {name: draw(departments(name)) for name in dept_names},
        "customers": {f"class_{i}": draw(customer_classes(dept_names, horizon))
                      for i in range(draw(st.integers(1, 3)))},
    }
    if draw(st.integers(0, 3)) == 0:
        serves = draw(st.lists(st.sampled_from(dept_names), min_size=1, max_size=len(dept_names), unique=True))
        model["pools"] = {"floaters": {"staff": draw(st.integers(1, 3)), "serves": serves,
                                       "rule": draw(st.sampled_from(["longest_queue", "ordered"]))}}
    return model


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- invalid inputs ----------------------------------------------------------------------------

BAD_NUMBERS = [math.nan, math.inf, -math.inf, -1, -1e308, 1e308, 10**400, -(10**30), 0]
BAD_VALUES = BAD_NUMBERS + ["five", "", None, [], {}, [1, 2], {"dist": "exponential"}, True]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (path to a key or list item) in a nested structure."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


@st.composite
def mutated_models(draw) -> dict:
    """A valid model with one value replaced by a wrong type, NaN, infinity, a huge or negative number,
    an unknown name, or one key removed or renamed. The result may still be valid (e.g. a removed
    optional field); tests only require that it either runs or is refused with a ModelError."""
    model = draw(valid_models())
    paths = _paths(model)
    path = draw(st.sampled_from(paths))
    parent = _get(model, path[:-1])
    key = path[-1]
    action = draw(st.sampled_from(["value", "value", "unknown_name", "remove", "rename"]))
    if action == "value":
        parent[key] = draw(st.sampled_from(BAD_VALUES))
    elif action == "unknown_name":
        parent[key] = draw(st.sampled_from(["nowhere", "front desk", "exponentail", "s9_9_9"]))
    elif action == "remove" and isinstance(parent, dict):
        del parent[key]
    elif isinstance(parent, dict):
        parent[f"{key}x"] = parent.pop(key)
    return model


def _nest(depth: int) -> str:
    """A consult nested `depth` levels deep, in flow style."""
    inner = "{request: a, time: {dist: fixed, value: 1}}"
    for _ in range(depth):
        inner = "{request: a, time: {dist: fixed, value: 1}, consult: " + inner + "}"
    return inner


MINIMAL = """name: m
run: {horizon: 60, replications: 1}
departments:
  a: {staff: 1}
customers:
  c:
    arrivals: {rate: 0.5}
    journey:
      - serve: a
        time: {dist: exponential, mean: 2}
"""

# (text or bytes, a word the refusal must mention): hand-written hostile inputs.
HOSTILE = [
    ("name: m\nname: n\n" + MINIMAL.split("\n", 1)[1], "duplicate key"),
    (MINIMAL.replace("a: {staff: 1}", "a: {staff: 1, staff: 2}"), "duplicate key"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n", "alias"),
    (MINIMAL.replace("a: {staff: 1}", "a: &d {staff: 1}\n  b: *d"), "alias"),
    (MINIMAL.encode() + b"\n# caf\xe9 \xff\xfe\n", "UTF-8"),
    (b"\xff\xfe\x00n\x00a\x00m\x00e", "UTF-8"),
    ("[" * 5000 + "]" * 5000, "nest"),
    ("{a: " * 5000 + "1" + "}" * 5000, "nest"),
    (MINIMAL.replace("time: {dist: exponential, mean: 2}",
                     "time: {dist: exponential, mean: 2}\n        consult: " + _nest(300)), "consult"),
    (MINIMAL.replace("time: {dist: exponential, mean: 2}",
                     "time: {dist: exponential, mean: 2}\n        consult: " + _nest(3000)), "nest"),
    ("!!python/object/apply:os.system ['echo hacked']", "python/object"),
    (MINIMAL.replace("name: m", "name: !!python/name:os.system"), "python"),
    ("x" * 1_100_000, "limit"),
    ("", "name"),
    ("- just\n- a list\n", "mapping"),
    ("name: m\n\tbad: tab\n", "line"),
    (MINIMAL.replace("mean: 2", "mean: .nan"), "mean"),
    (MINIMAL.replace("mean: 2", "mean: .inf"), "mean"),
    (MINIMAL.replace("mean: 2", "mean: -.inf"), "mean"),
    (MINIMAL.replace("mean: 2", "mean: 1e999"), "mean"),
    (MINIMAL.replace("horizon: 60", "horizon: .nan"), "horizon"),
    (MINIMAL.replace("horizon: 60", "horizon: 1e400"), "horizon"),
    (MINIMAL.replace("horizon: 60", "horizon: -60"), "horizon"),
    (MINIMAL.replace("staff: 1", "staff: -1"), "staff"),
    (MINIMAL.replace("staff: 1", "staff: 1.5"), "staff"),
    (MINIMAL.replace("staff: 1", "staff: 99999999999999999999999999"), "staff"),
    (MINIMAL.replace("rate: 0.5", "rate: .nan"), "rate"),
    (MINIMAL.replace("replications: 1", "replications: 1000000000"), "replications"),
    (MINIMAL.replace("replications: 1", "replications: 2019-01-01"), "replications"),
    (MINIMAL.replace("serve: a", "serve: b"), "serve"),
    (MINIMAL.replace("dist: exponential", "dist: exponentail"), "dist"),
    (MINIMAL.replace("a: {staff: 1}", "a: {staff: 1, colour: red}"), "colour"),
    (MINIMAL.replace("a: {staff: 1}", "? [a, b]\n  : {staff: 1}"), "key"),
    (MINIMAL.replace("a: {staff: 1}", "1: {staff: 1}"), "departments"),
    (MINIMAL.replace("arrivals: {rate: 0.5}", "arrivals: {}"), "arrivals"),
    (MINIMAL.replace("name: m\n", ""), "name"),
]
