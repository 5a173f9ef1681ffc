"""Levers: business changes in plain words ("one more person in IT", "clearer forms") -> model edits.

A lever is a mapping with the lever's name and its fields, as written in an experiment file or
built by the app::

    {"lever": "add_staff", "department": "it", "count": 1, "cost": 55000}

:func:`apply_levers` applies a list of them to a :class:`~chainsim.model.Model` and returns a new,
re-validated model; :data:`LEVERS` describes every lever and its fields in plain words (the app
builds its forms from it). Every lever may carry a ``cost`` (currency, default 0), which results
use to rank changes by improvement per unit of cost. Mistakes raise :class:`ModelError` naming the
lever's field and the fix. This API is stable: the app and experiment files depend on it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError

from chainsim.distributions import Distribution
from chainsim.errors import ModelError, Problem, is_number
from chainsim.model import DAY_LENGTH, Model, Pool, parse_model
from chainsim.plan import day_segments

COMMON_FIELDS = {"lever": "Name of the lever.", "cost": "What the change costs (currency); default 0."}


@dataclass(frozen=True)
class LeverField:
    description: str
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Lever:
    """One business change: its plain-words description, its fields, and how it edits a model."""

    name: str
    description: str
    fields: dict[str, LeverField]
    edit: Callable[[dict, dict, str], None]  # (model data, lever fields with defaults, path) -> None
    staffing: tuple[str, ...] = ()  # fields naming departments whose staff it changes

    def with_defaults(self, spec: dict) -> dict:
        values = {k: f.default for k, f in self.fields.items() if not f.required}
        values.update({k: v for k, v in spec.items() if k not in COMMON_FIELDS})
        return values


# --- walking a dumped model (plain dicts) ------------------------------------------------------


def _serves(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        if "serve" in step:
            yield step
        else:
            for option in step["branch"]:
                yield from _serves(option["then"])


def _requests(consult: Any, holder: str) -> Iterator[tuple[dict, str]]:
    """(request, department whose staff member holds it) for every request in a consult."""
    if consult is None:
        return
    if isinstance(consult, list):
        for item in consult:
            yield from _requests(item, holder)
    elif "parallel" in consult:
        for item in consult["parallel"]:
            yield from _requests(item, holder)
    else:
        yield consult, holder
        yield from _requests(consult.get("consult"), consult["request"])


def _all_serves(data: dict) -> Iterator[dict]:
    for cls in data["customers"].values():
        yield from _serves(cls["journey"])


def _all_requests(data: dict) -> Iterator[tuple[dict, str]]:
    for step in _all_serves(data):
        yield from _requests(step.get("consult"), step["serve"])


_DIST = TypeAdapter(Distribution)


def _scaled(dist: dict, factor: float, path: str) -> dict:
    """dist with its times times factor; ModelError at path (the factor) if that leaves the valid range."""
    try:
        return _DIST.validate_python(dist).scaled(factor).model_dump(exclude_none=True)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        reason = exc.errors(include_url=False)[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise ModelError([Problem(path, f"{factor:g} makes a time invalid ({reason.removeprefix('Value error, ')}): "
                                  "use a factor nearer 1")]) from None


def _below_one(highest: float, factor: float, what: str, path: str) -> None:
    """Refuse, at the lever's factor, a factor that makes the highest probability it multiplies 1 or more: the
    model would name its own field, which the user did not write, and not the largest factor that fits."""
    if highest * factor >= 1:
        raise ModelError([Problem(path, f"{factor:g} would make the highest {what} {highest * factor:g}, and a "
                                  f"probability must be below 1: use a factor below {1 / highest:.4g} (1 / {highest:g})")])


# --- checking field values ------------------------------------------------------------------


def _number(value: Any, path: str, *, positive: bool = False, minimum: float | None = None) -> float:
    if not is_number(value):
        raise ModelError([Problem(path, f"must be a finite number (got {value!r})")])
    if positive and not value > 0:
        raise ModelError([Problem(path, f"must be > 0 (got {value!r}): 1 means no change")])
    if minimum is not None and value < minimum:
        raise ModelError([Problem(path, f"must be >= {minimum:g} (got {value!r})")])
    return float(value)


def _count(value: Any, path: str) -> int:
    if not is_number(value) or int(value) != value:
        raise ModelError([Problem(path, f"must be a whole number of staff (got {value!r})")])
    return int(value)


def _name(value: Any, known: dict, kind: str, path: str) -> str:
    if not isinstance(value, str):
        raise ModelError([Problem(path, f"give one {kind} name (got {value!r}); known {_plural(kind)}: "
                                  f"{', '.join(sorted(known))}")])
    if value in known:
        return value
    close = difflib.get_close_matches(str(value), list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known {_plural(kind)}: {', '.join(sorted(known))}"
    raise ModelError([Problem(path, f"unknown {kind} {value!r}: {hint}")])


def _plural(kind: str) -> str:
    """'department' -> 'departments', 'customer class' -> 'customer classes'."""
    return kind + ("es" if kind.endswith("s") else "s")


def _add_staff(data: dict, name: str, count: int, path: str) -> None:
    """`count` more (or fewer) people wherever the department is staffed. On a schedule, overlapping
    windows add up, so the day is recut into windows that do not overlap: a hire is one person at
    every hour the department is open, not one per window; closed hours stay closed."""
    dept = data["departments"][name]
    if "schedule" in dept:
        day = data["run"].get("day_length") or DAY_LENGTH[data["time_unit"]]
        segments = day_segments([(w["from"], w["to"], w["staff"]) for w in dept["schedule"]], day, sum)
        open_hours = [[start, end, staff + count] for start, end, staff in segments if staff > 0]
        if not open_hours:
            raise ModelError([Problem(path, f"{name!r} has no staff in any shift of its schedule: give a shift "
                                            "staff first, or use shift_pattern")])
        merged = [open_hours[0]]
        for start, end, staff in open_hours[1:]:
            if start == merged[-1][1] and staff == merged[-1][2]:
                merged[-1][1] = end
            else:
                merged.append([start, end, staff])
        dept["schedule"] = [{"from": start, "to": end, "staff": staff} for start, end, staff in merged]
        lowest = min(staff for _, _, staff in merged)
    else:
        dept["staff"] += count
        lowest = dept["staff"]
    if lowest < 0:
        raise ModelError([Problem(path, f"{name!r} would have {lowest} staff in some shift: "
                                  f"use a count it can spare")])


# --- the levers -----------------------------------------------------------------------------


def _edit_add_staff(data: dict, f: dict, path: str) -> None:
    name = _name(f["department"], data["departments"], "department", f"{path}.department")
    _add_staff(data, name, _count(f["count"], f"{path}.count"), f"{path}.count")


def _edit_move_staff(data: dict, f: dict, path: str) -> None:
    source = _name(f["from"], data["departments"], "department", f"{path}.from")
    target = _name(f["to"], data["departments"], "department", f"{path}.to")
    if source == target:
        raise ModelError([Problem(f"{path}.to", f"is {target!r}, the department moved from: nothing would change; "
                                  "name another department (or use add_staff)")])
    count = _count(f["count"], f"{path}.count")
    if count < 1:
        raise ModelError([Problem(f"{path}.count", f"must be >= 1 (got {count}): swap from and to to move back")])
    _add_staff(data, source, -count, f"{path}.count")
    _add_staff(data, target, count, f"{path}.count")


def _edit_train(data: dict, f: dict, path: str) -> None:
    name = _name(f["department"], data["departments"], "department", f"{path}.department")
    errors = _number(f["error_factor"], f"{path}.error_factor", minimum=0)
    time = _number(f["time_factor"], f"{path}.time_factor", positive=True)
    if errors != 1:
        _check_error_factor(work_error_rates(data, name), errors, name, f"{path}.error_factor")
    dept = data["departments"][name]
    if "error_rate" in dept:
        dept["error_rate"] *= errors
    for work in [s for s in _all_serves(data) if s["serve"] == name]:
        _train_work(work, errors, time, path)
    for request, holder in list(_all_requests(data)):
        clarify = request.get("clarify")
        if clarify is not None and name in (holder, request["request"]):
            # The answer to a clarification is the requester's (holder's) work; by default it takes
            # the request's own time, so pin it before the request's time changes.
            answer = clarify.get("time", request["time"])
            clarify["time"] = _scaled(answer, time, f"{path}.time_factor") if holder == name else answer
        if request["request"] == name:
            _train_work(request, errors, time, path)


def work_error_rates(data: dict, name: str) -> list[float]:
    """The error rates the department's work runs with: each step's and request's own, else the
    department's (which counts alone for a department with no work); a department rate that every
    piece of work overrides changes nothing."""
    default = data["departments"][name].get("error_rate", 0.0)
    works = [*(s for s in _all_serves(data) if s["serve"] == name),
             *(r for r, _holder in _all_requests(data) if r["request"] == name)]
    return [w.get("error_rate", default) for w in works] or [default]


def _check_error_factor(rates: list[float], errors: float, name: str, path: str) -> None:
    """An error_factor must change some error rate, and keep every one below 1."""
    if not any(rates):
        raise ModelError([Problem(path, f"no work of {name!r} has errors (its error rates are 0), so error_factor "
                                  f"changes nothing: set departments.{name}.error_rate with an override instead, or "
                                  "leave error_factor out")])
    _below_one(max(rates), errors, "error rate", path)


def _train_work(work: dict, errors: float, time: float, path: str) -> None:
    work["time"] = _scaled(work["time"], time, f"{path}.time_factor")
    if "rework_time" in work:
        work["rework_time"] = _scaled(work["rework_time"], time, f"{path}.time_factor")
    if "error_rate" in work:
        work["error_rate"] *= errors


def _edit_clearer_requests(data: dict, f: dict, path: str) -> None:
    factor = _number(f["factor"], f"{path}.factor", minimum=0)
    target = f.get("department")
    if target is not None:
        target = _name(target, data["departments"], "department", f"{path}.department")
    clarify = [request["clarify"] for request, _holder in _all_requests(data)
               if "clarify" in request and target in (None, request["request"])]
    if not clarify:
        where = f" to {target!r}" if target else ""
        raise ModelError([Problem(path, f"no internal request{where} has `clarify`, so there is nothing to "
                                  "make clearer: add clarify to a request, or pick another department")])
    _below_one(max(c["p"] for c in clarify), factor, "clarify.p", f"{path}.factor")
    for c in clarify:
        c["p"] *= factor


def _edit_cross_train(data: dict, f: dict, path: str) -> None:
    departments = f["departments"]
    if not isinstance(departments, list) or not departments:
        raise ModelError([Problem(f"{path}.departments", "give a list of the departments the pool works for")])
    for i, d in enumerate(departments):
        _name(d, data["departments"], "department", f"{path}.departments[{i}]")
        if d in departments[:i]:
            raise ModelError([Problem(f"{path}.departments[{i}]", f"{d!r} is listed twice: list each department "
                                      "once, in order of preference")])
    staff = _count(f["staff"], f"{path}.staff")
    if staff < 0:
        raise ModelError([Problem(f"{path}.staff", f"must be >= 0 (got {staff}): the people in the pool")])
    rules = get_args(Pool.model_fields["rule"].annotation)
    if f["rule"] not in rules:
        raise ModelError([Problem(f"{path}.rule", f"unknown rule {f['rule']!r}: give one of {', '.join(rules)}")])
    pools = data.setdefault("pools", {})
    name = f["name"] or "cross_trained_" + "_".join(departments)
    if name in pools:
        raise ModelError([Problem(f"{path}.name", f"a pool {name!r} already exists: give this one another name")])
    if staff > 0:  # 0: no pool, the "none" point of a sweep over pool sizes
        pools[name] = {"staff": staff, "serves": list(departments), "rule": f["rule"]}


def _edit_shift_pattern(data: dict, f: dict, path: str) -> None:
    name = _name(f["department"], data["departments"], "department", f"{path}.department")
    schedule = f["schedule"]
    if not isinstance(schedule, list) or not schedule:
        raise ModelError([Problem(f"{path}.schedule", "give a list of shifts {from, to, staff}")])
    dept = data["departments"][name]
    dept.pop("staff", None)
    dept["schedule"] = schedule


def _classes(data: dict, f: dict, path: str) -> list[str]:
    if f.get("class") is None:
        return list(data["customers"])
    return [_name(f["class"], data["customers"], "customer class", f"{path}.class")]


MAX_GROWTH_PERCENT = 9_900  # demand_growth: at most 100 times the arrivals


def _edit_demand_growth(data: dict, f: dict, path: str) -> None:
    percent = _number(f["percent"], f"{path}.percent")
    if percent <= -100:
        raise ModelError([Problem(f"{path}.percent", f"must be > -100 (got {percent:g}): -100% is no demand at all")])
    if percent > MAX_GROWTH_PERCENT:  # 1e306 was taken, and ran until run.max_customers stopped it, unnamed
        raise ModelError([Problem(f"{path}.percent", f"must be at most {MAX_GROWTH_PERCENT:,} (got {percent:g}): "
                                  "demand 100 times today's is another business; write its arrival rates instead")])
    factor = 1 + percent / 100
    for cname in _classes(data, f, path):
        arrivals = data["customers"][cname]["arrivals"]
        if "trace" in arrivals:
            raise ModelError([Problem(f"{path}.class", f"customers {cname!r} arrive from a trace file, which "
                                      "cannot grow: give `class` a class with a rate or profile")])
        if "rate" in arrivals:
            arrivals["rate"] *= factor
        for window in arrivals.get("profile", []):
            window["rate"] *= factor


def _edit_patience(data: dict, f: dict, path: str) -> None:
    factor = _number(f["factor"], f"{path}.factor", positive=True)
    changed = 0
    for cname in _classes(data, f, path):
        cls = data["customers"][cname]
        if "patience" in cls:
            cls["patience"] = _scaled(cls["patience"], factor, f"{path}.factor")
            changed += 1
    if not changed:
        raise ModelError([Problem(path, "no customer class here has `patience`: give the class a patience first")])


LEVERS: dict[str, Lever] = {lever.name: lever for lever in [
    Lever("add_staff", "Hire (or, with a negative count, cut) staff at a department; with a shift "
          "schedule, the count is added at every hour the department is open (overlapping shifts "
          "get it once; closed hours stay closed).",
          {"department": LeverField("Department that gets the staff.", required=True),
           "count": LeverField("How many people (negative to cut).", default=1)}, _edit_add_staff, ("department",)),
    Lever("move_staff", "Move people from one department to another (at every open hour of both).",
          {"from": LeverField("Department that gives staff.", required=True),
           "to": LeverField("Department that receives them.", required=True),
           "count": LeverField("How many people.", default=1)}, _edit_move_staff, ("from", "to")),
    Lever("train", "Train a department: fewer errors (error rate times error_factor) and faster work "
          "(its service times, rework times and answers to clarifications times time_factor).",
          {"department": LeverField("Department trained.", required=True),
           "error_factor": LeverField("Multiplies its error rates (0.5 = half the errors).", default=1.0),
           "time_factor": LeverField("Multiplies its work times (0.9 = 10% faster).", default=1.0)}, _edit_train),
    Lever("clearer_requests", "Clearer internal requests (better forms, a checklist): the chance a "
          "supplier has to ask back is multiplied by factor.",
          {"factor": LeverField("Multiplies clarify.p (0.5 = half as many unclear requests).", required=True),
           "department": LeverField("Only requests sent to this department; default all.")},
          _edit_clearer_requests),
    Lever("cross_train", "Cross-train a pool of staff who help whichever of these departments needs it.",
          {"departments": LeverField("Departments the pool can work for, in order of preference.", required=True),
           "staff": LeverField("People in the pool (0: no pool, as the first point of a sweep).", default=1),
           "rule": LeverField("longest_queue or ordered.", default="longest_queue"),
           "name": LeverField("Name of the pool; default from the departments.")}, _edit_cross_train),
    Lever("shift_pattern", "Replace a department's staffing with a daily shift pattern (before any other "
          "staff change to that department, which it would otherwise throw away).",
          {"department": LeverField("Department.", required=True),
           "schedule": LeverField("Shifts: a list of {from, to, staff} (time of day).", required=True)},
          _edit_shift_pattern, ("department",)),
    Lever("demand_growth", "More (or fewer) customers: arrival rates and profiles grow by percent.",
          {"percent": LeverField("Growth in percent (-20 = a fifth fewer customers).", required=True),
           "class": LeverField("Only this customer class; default all.")}, _edit_demand_growth),
    Lever("patience", "Customers wait longer (or less) before giving up: patience times factor.",
          {"factor": LeverField("Multiplies patience (1.5 = willing to wait 50% longer).", required=True),
           "class": LeverField("Only this customer class; default all.")}, _edit_patience),
]}


def lever_problems(levers: list[dict], where: str = "levers") -> list[Problem]:
    """Every unknown lever, unknown field and missing field in a list of levers (no model needed)."""
    if not isinstance(levers, list):
        return [Problem(where, "give a list of levers, each {lever: NAME, ...fields}")]
    problems = []
    for i, spec in enumerate(levers):
        path = f"{where}[{i}]"
        if not isinstance(spec, dict) or "lever" not in spec:
            problems.append(Problem(path, f"a lever is a mapping {{lever: NAME, ...}}; levers: {', '.join(LEVERS)}"))
            continue
        try:
            lever = LEVERS[_name(spec["lever"], LEVERS, "lever", f"{path}.lever")]
        except ModelError as exc:
            problems.extend(exc.problems)
            continue
        allowed = [*lever.fields, *COMMON_FIELDS]
        for key in spec:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"{lever.name} takes {', '.join(lever.fields)}"
                problems.append(Problem(f"{path}.{key}", f"unknown field {key!r} for {lever.name}: {hint}"))
        for key, field in lever.fields.items():
            if field.required and key not in spec:
                problems.append(Problem(f"{path}.{key}", f"{lever.name} needs {key!r}: {field.description}"))
        cost = spec.get("cost", 0)
        if not is_number(cost) or cost < 0:
            problems.append(Problem(f"{path}.cost", f"must be a finite number >= 0 (got {cost!r})"))
    return problems


def lever_cost(levers: list[dict]) -> float:
    """Total cost of a list of levers (levers without a cost count as 0)."""
    return float(sum(spec.get("cost", 0) for spec in levers))


def _check_not_replacing(levers: list[dict], staffed: dict[str, int], i: int, where: str) -> None:
    """A shift pattern replaces a department's staffing: an earlier lever's change to it would be lost while its
    cost still counted."""
    name = levers[i]["department"]
    if name in staffed:
        j = staffed[name]
        raise ModelError([Problem(f"{where}[{i}].department", f"replaces the staffing of {name!r} that {where}[{j}] "
                                  f"({levers[j]['lever']}) changed, so that change would be lost while its cost "
                                  "counts: put shift_pattern first (the levers after it change the pattern), or "
                                  "fold the change into the schedule")])


def apply_levers(model: Model, levers: list[dict], where: str = "levers") -> Model:
    """A copy of model with the levers applied in order, re-validated; ModelError names any bad field."""
    if not isinstance(model, Model):
        raise ModelError([Problem("model", f"give a Model (chainsim.load_model(path)), not {type(model).__name__}")])
    problems = lever_problems(levers, where)
    if problems:
        raise ModelError(problems)
    if not levers:
        return model
    data = model.model_dump(by_alias=True, exclude_none=True)
    staffed: dict[str, int] = {}  # department -> the last lever that changed its staff
    for i, spec in enumerate(levers):
        lever = LEVERS[spec["lever"]]
        lever.edit(data, lever.with_defaults(spec), f"{where}[{i}]")
        if lever.name == "shift_pattern":
            _check_not_replacing(levers, staffed, i, where)
        staffed.update({spec[key]: i for key in lever.staffing})
    try:
        return parse_model(data)
    except ModelError as exc:
        names = ", ".join(spec["lever"] for spec in levers)
        raise ModelError([Problem(p.path, f"{p.message} (after levers {names})") for p in exc.problems]) from None
