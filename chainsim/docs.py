"""The model reference (docs/model-reference.md), generated from the schema so it cannot drift.

Field names, types, defaults and descriptions come from the pydantic classes in
:mod:`chainsim.model` and :mod:`chainsim.distributions`, walked from :class:`Model` down. What is
written by hand here is what a schema cannot say: section titles, the semantics notes read off
the engine, and examples, which are validated against the schema every time the page is built.

``python -m chainsim.docs`` rewrites the page; ``--check`` exits 1 if the file on disk differs.
"""

from __future__ import annotations

import argparse
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from chainsim import model as schema
from chainsim.distributions import Distribution, _Dist

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "model-reference.md"
DIST_CLASSES: tuple[type[_Dist], ...] = get_args(get_args(Distribution)[0])


@dataclass
class Note:
    """What the schema cannot say about one section: its title, semantics and an example."""

    title: str
    anchor: str
    text: str = ""
    example: str = ""


NOTES: dict[type[BaseModel], Note] = {
    schema.Model: Note("The model file", "model", """
One YAML file describes one organisation: its departments, its external customer classes and the
run settings. Unknown keys are errors (with a "did you mean" hint), so a typo never silently
falls back to a default; and where a number is expected, YAML's `yes`, `no`, `on`, `off`, `true`
and `false` are refused (YAML reads them as true or false, which would otherwise count as 1 or 0).
A file may nest at most 100 levels of mappings and lists (branches 23 deep, consults within
consults 94 deep: far more than any organisation needs). Every time in the file is in
`time_unit`.""", """
name: Hello chain
time_unit: minute
run: {horizon: 480, replications: 20, seed: 1}
departments:
  front_desk: {staff: 2}
  back_office: {staff: 1}
customers:
  walk_in:
    arrivals: {rate: 0.2}
    journey:
      - serve: front_desk
        time: {dist: exponential, mean: 6}
        consult: {request: back_office, time: {dist: exponential, mean: 3}}
"""),
    schema.RunSettings: Note("Run settings", "run", """
- **horizon**: arrivals stop at the horizon (an arrival falling exactly on it does not happen).
- **drain** (default true): customers inside at the horizon are served to the end; the run stops
  when the last one leaves, or at `horizon + drain_limit` (default `drain_limit` = one horizon),
  whichever is first. Customers still inside then, or at the horizon with `drain: false`, are
  recorded with outcome `in_system` and counted in `external.in_system_at_end`, not in the
  time-in-system statistics. Shifts, interruptions and outages keep running while draining.
- **warmup**: customer KPIs count only customers arriving at or after the warm-up; jobs count
  when they were created at or after it; each department's time-weighted totals (utilisation,
  queue length) are reset at it.
- Replication `r` with seed `s` draws from streams spawned from `(s, r, stream name)`, so the
  same model, seed and replication always give the same numbers (see docs/engine.md).""",
        "{horizon: 480, warmup: 60, replications: 20, seed: 7, drain: true, drain_limit: 240}"),
    schema.Department: Note("Departments", "departments", """
A department is a queueing station: `staff` (or a `schedule`) serve one job each at a time.

- **Queue order.** `fifo`: first come, first served. `priority`: the waiting job with the highest
  priority goes first (a customer's class `priority`, higher first; ties first come, first
  served), never interrupting work in hand. `preemptive`: a higher-priority arrival pauses the
  lowest-priority job in own work (not a staff member held on a consult; and while nobody is on
  duty, not one only finishing a job after their shift ended); the paused job goes back to the
  queue and later resumes with the time it had left.
- **internal_priority** shifts every internal request (consult) at this department above (`high`)
  or below (`low`) all external customers' steps, whatever their class priority; `same` gives a
  request the priority of the customer it is made for.
- **Going off duty** (shift end, outage): staff finish the job in hand, then stop; no new job
  starts while more staff are busy than on duty. Utilisation counts such overtime as available
  time (available = max(on duty, busy)).
- **error_rate**: each completed piece of work here is defective with this probability and comes
  back as rework (see [rework fields](#rework)).
- **sla**: internal turnaround target for requests *to* this department, from the moment the
  request is made until it goes back (queueing, clarifications and rework included).""",
        """
label: Compliance
staff: 3
discipline: priority
internal_priority: high
error_rate: 0.05
sla: 20
"""),
    schema.Shift: Note("Shifts (`schedule`)", "shifts", """
Windows are times of day in `[from, to)`, repeating every `run.day_length`. **Overlapping
windows add up**: staff on duty at a time is the sum of `staff` over every window covering it,
and 0 outside every window. A window may not reach past the end of the day (it would not wrap round
to the next morning): a night shift is two windows, one to the end of the day and one from 0.""", """
- {from: 0, to: 180, staff: 6}
- {from: 180, to: 300, staff: 4}
- {from: 300, to: 480, staff: 6}
"""),
    schema.Interruptions: Note("Interruptions", "interruptions", """
Interrupting tasks (phone calls, walk-ups) that take staff time but are no customer's journey.
They arrive only **while staff are on duty**: one falling when no staff member is on duty is
dropped, not saved for later. An interruption goes ahead of every other job. With `preempt` it
pauses a staff member doing own work (a staff member held on a consult is not interrupted; if all
are held, the interruption waits for the first free one); the paused job's wait until it resumes
is charged to the customer as `interrupted` time. Like any job, an interruption goes to a free
staff member of the department first, then to a free member of a pool serving it, and only then
pauses someone: a pool member's interruption time counts in `pool_busy`, not in the
department's `interrupted_share`. A job whose work ends at the very moment an interruption (or
higher-priority work) arrives is not paused: it finishes. Staff changes (shifts, absence,
outages) due at a time come before everything else due then, so an interruption at the
start of a shift finds the shift on duty.""",
        "{every: {dist: exponential, mean: 20}, lasts: {dist: exponential, mean: 4}, mode: preempt}"),
    schema.Outages: Note("Outages", "outages", """
Unplanned periods without (some) staff, e.g. meetings or a system outage: after each `every`
draw, `staff` are taken off duty for a `lasts` draw. Staff finish the job in hand first, and so do
staff going off shift: one whose job an interruption or urgent work paused takes it back after that
and finishes it, off duty, rather than leave it waiting for a colleague.""",
        "{every: {dist: exponential, mean: 240}, lasts: {dist: uniform, low: 15, high: 45}, staff: 1}"),
    schema.Absence: Note("Absence", "absence", """
At the start of every day (every `run.day_length` from time 0) the number of absent staff is drawn:
Binomial(head count, p) with `p`, or a draw of `out` (rounded to the nearest whole number, a half
to the even one; at most the head count). The head
count is `staff`, or the most staff on duty at once in the schedule (overlapping windows add up).
Each shift that day misses those of the absent who were due on it: its staff are taken to be a
random draw from the head count, so the number it misses is hypergeometric (4 absent of a head
count of 8 take, on average, 1 of a 2-person afternoon shift, sometimes 0 or 2). On average every
shift loses the day's share of absent staff, so a half-staffed afternoon shift is thinned like the
morning one.""", "{p: 0.05}"),
    schema.CustomerClass: Note("Customer classes", "customers", """
- **patience** is the **total** time a customer is willing to queue over the whole journey: each
  queue the customer waits in uses part of it, and the customer abandons when it runs out while
  waiting. Waiting again after higher-priority work took the staff member (a `preemptive`
  department) uses it too. Time in service does not use it, nor does a pause while the staff
  member takes an interruption, nor time held while a staff member consults suppliers (unless
  `patience_on_hold`). A customer gone while held frees the staff member, and the requests made
  for it are **called off**: a queued one leaves its queue, a supplier working on one (or held
  on its own consult for it) stops and takes its next job, a question asked back is dropped
  (reported as `department.<d>.called_off`).
- **balk_at** is checked once, at the first `serve` step the customer reaches, and counts the
  customers waiting there (not internal requests or interruptions queued at that department: a
  walk-in does not see them).
- **priority**: higher is served first at departments with discipline `priority` or
  `preemptive`.
- **churn**: a completed customer whose time in system exceeded `expectation` (default `sla`)
  leaves the company with probability `churn_if_late`; one who abandoned or balked, with
  `churn_if_abandoned`. Expected churn sums these probabilities; revenue at risk weighs them by
  `value`.""", """
arrivals: {rate: 0.22}
patience: {dist: exponential, mean: 60}
sla: 45
value: 300
journey:
  - serve: front_desk
    time: {dist: lognormal, mean: 6, cv: 0.5}
"""),
    schema.Arrivals: Note("Arrivals", "arrivals", """
Give exactly one of `rate` (Poisson), `profile` (Poisson with a piecewise-constant rate by time
of day, sampled exactly by inverting the integrated rate) or `trace` (a CSV file of arrival
times). `open` restricts a constant rate to opening hours. A `batch` arrival brings several
customers at the same instant; each walks its own journey.""",
        "{profile: [{from: 0, to: 120, rate: 0.1}, {from: 120, to: 480, rate: 0.3}], "
        "batch: {dist: empirical, values: [1, 1, 2]}}"),
    schema.RateWindow: Note("Arrival-rate windows (`profile`)", "profile", """
Like shifts, windows are times of day repeating every `run.day_length`; the rate is 0 outside
every window.""", "{from: 0, to: 240, rate: 0.2}"),
    schema.Window: Note("Opening hours (`open`)", "open", """
Times of day `[from, to)`, repeating every `run.day_length`. Customers inside at closing are
still served.""", "{from: 540, to: 1020}"),
    schema.Serve: Note("Journey step: `serve`", "serve", """
The customer queues at the department, then holds one staff member for the step's `time`, then
the staff member is released and the journey goes on (a handoff).

- **consult** (internal requests) happen while the same staff member **keeps holding** the
  customer: that staff member stays busy (counted as *held*) until every request is back, which
  is how an internal supplier's delay eats front-line capacity and reaches the customer.
  `consult_at: end` (default): the step's own work first, then the consults; `start`: the
  consults first, then the own work. A list of requests is made one after the other.
- **id / rework_to**: see [rework fields](#rework).""", """
serve: front_desk
time: {dist: lognormal, mean: 6, cv: 0.5}
consult_at: end
consult:
  request: compliance
  time: {dist: exponential, mean: 8}
"""),
    schema.Branch: Note("Journey step: `branch`", "branch", """
A random choice of what comes next: one option is drawn (probabilities `p` must sum to 1), its
steps are taken, then the journey continues after the branch. Options may be empty and may hold
further branches.""", """
branch:
  - p: 0.3
    then: [{serve: it, time: {dist: exponential, mean: 10}}]
  - p: 0.7
    then: []
"""),
    schema.Option: Note("Branch options", "option", ""),
    schema.Request: Note("Consult requests", "request", """
An internal request to a supplier department, made while a staff member holds the customer.
The request queues at the supplier like any job, holds one of its staff for `time`, then goes
back. A request's own `consult` (nested) is made **after** the supplier's own work, while the
supplier's staff member holds the request, so delays chain: IT delays Compliance, which delays
the front desk, which delays the customer. A defective request (`error_rate`) is redone by the
supplier (queueing again) before it goes back.""", """
request: compliance
time: {dist: exponential, mean: 8}
clarify: {p: 0.15, time: {dist: fixed, value: 3}}
consult: {request: it, time: {dist: gamma, mean: 3, cv: 1.0}}
"""),
    schema.Parallel: Note("Parallel requests", "parallel", """
Requests sent at the same moment (fork-join); the holding staff member waits until **all** are
back. The customer's waiting time in this phase is charged along the critical path: the request
that came back last.""", """
parallel:
  - {request: compliance, time: {dist: exponential, mean: 10}}
  - {request: it, time: {dist: gamma, mean: 6, cv: 1.0}}
"""),
    schema.Clarify: Note("Clarification (`clarify`)", "clarify", """
Each time the supplier picks the request up, it is unclear with probability `p`: the supplier
hands it back at once (no supplier time is used). The requester's **holding staff member**
answers it, taking `time` (one question at a time per staff member; this is part of the time the
staff member is already held, no other staff are used), and the request then **queues at the
supplier again**, where it may be found unclear again. The minutes from the question to the
answer are charged to the requesting department as `clarify`; the requesting department's
`clarifications` counts the questions it answered.""", "{p: 0.15, time: {dist: fixed, value: 3}}"),
    schema.ReworkFields: Note("Rework fields (on `serve` steps and requests)", "rework", """
Work finishes, then with probability `error_rate` (this field, or the department's) it turns out
defective:

- at a **serve** step, by default the step is redone: the customer queues at the same department
  again and is served for `rework_time` (default: the step's own time; or `rework_factor` times
  it). With `rework_to: <id>` the journey goes back to that earlier step instead and is walked
  again from there: the steps in between are redone at their normal time, the erring step at
  its rework time. `rework_to` may name an earlier step of the same list or of a list that
  encloses it (a step inside a branch can go back before the branch: walking back through it,
  the customer takes the same option as the first time, since the case has not changed); not
  a step inside an earlier branch, nor a later step. If an earlier step errs on the way back,
  both are redone at their rework time.
- at a **request**, the supplier redoes it (queueing again, for the rework time) before it goes
  back.

A redo is done the way the first go was, except for its own time: `rework_time` or
`rework_factor` sets the department's own work, while its consults are made again in full and
a redone request may be found unclear again.

Every minute from the defect until the erring step is completed without defect (queueing and
service anywhere, consults included) is charged as `rework` to the **department that erred**,
not to the departments where the minutes pass.""", """
serve: back_office
id: setup
time: {dist: triangular, low: 5, mode: 8, high: 15}
error_rate: 0.08
rework_factor: 0.5
"""),
    schema.Pool: Note("Pools", "pools", """
Cross-trained staff who work for several departments. A pool member is used only when all of a
department's own staff are busy: a job arriving then starts with a free pool member; when a pool
member becomes free it goes to the department with the longest queue (`longest_queue`) or to
the first department in `serves` that has a queue (`ordered`). Pool time is reported separately
(`department.<d>.pool_busy.mean`); it is not part of the department's own utilisation.""",
        "{staff: 2, serves: [compliance, back_office], rule: longest_queue}"),
    schema.ChurnSettings: Note("Churn settings", "churn", "", "{acquisition_cost_multiple: 5}"),
}

MOMENTS = {  # name -> (mean, variance) as formulas of the parameters
    "exponential": ("mean", "mean²"),
    "fixed": ("value", "0"),
    "uniform": ("(low + high) / 2", "(high − low)² / 12"),
    "triangular": ("(low + mode + high) / 3", "(low² + mode² + high² − low·mode − low·high − mode·high) / 18"),
    "lognormal": ("mean", "(cv · mean)²"),
    "gamma": ("mean", "(cv · mean)²"),
    "erlang": ("mean", "mean² / k"),
    "weibull": ("scale · Γ(1 + 1/shape) (or mean)", "scale² · (Γ(1 + 2/shape) − Γ(1 + 1/shape)²) (or (cv · mean)²)"),
    "empirical": ("average of values", "population variance of values"),
}
EXAMPLES = {
    "exponential": "{dist: exponential, mean: 5}",
    "fixed": "{dist: fixed, value: 3}",
    "uniform": "{dist: uniform, low: 2, high: 6}",
    "triangular": "{dist: triangular, low: 5, mode: 8, high: 15}",
    "lognormal": "{dist: lognormal, mean: 8, cv: 0.6}",
    "gamma": "{dist: gamma, mean: 6, cv: 1.5}",
    "erlang": "{dist: erlang, mean: 6, k: 3}",
    "weibull": "{dist: weibull, mean: 10, cv: 0.5}",
    "empirical": "{dist: empirical, values: [2, 3, 3, 7]}",
}


# --- walking the schema --------------------------------------------------------------------------


@dataclass
class Section:
    cls: type[BaseModel]
    paths: list[str] = field(default_factory=list)
    mixins: list[type[BaseModel]] = field(default_factory=list)
    users: list[type[BaseModel]] = field(default_factory=list)  # of a mix-in: the classes using it


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _nested(tp: Any, suffix: str = ""):
    """(schema class, path suffix) for every schema class inside a field's annotation."""
    origin = get_origin(tp)
    if origin is Annotated:
        yield from _nested(get_args(tp)[0], suffix)
    elif _is_union(tp):
        for arg in get_args(tp):
            yield from _nested(arg, suffix)
    elif origin in (list, tuple):
        yield from _nested(get_args(tp)[0], suffix + "[]")
    elif origin is dict:
        yield from _nested(get_args(tp)[1], suffix + ".<name>")
    elif isinstance(tp, type) and issubclass(tp, BaseModel) and not issubclass(tp, _Dist):
        yield tp, suffix


def key(name: str, info: FieldInfo) -> str:
    """The key a user writes in the file (the alias where there is one, as in `from` / `to`)."""
    return info.alias or name


def sections() -> list[Section]:
    """Every schema class reachable from Model, depth first (file order), with where it is used.

    A schema base class that is never a field's type itself (``ReworkFields``) is a mix-in: its
    fields get a section of their own, placed after its first user, instead of being repeated.
    """
    found: dict[type[BaseModel], Section] = {}

    def visit(cls: type[BaseModel], path: str) -> None:
        found[cls] = Section(cls, [path] if path else [])
        for name, info in cls.model_fields.items():
            here = f"{path}.{key(name, info)}" if path else key(name, info)
            for child, suffix in _nested(info.annotation):
                if child in found:
                    found[child].paths.append(here + suffix)
                else:
                    visit(child, here + suffix)

    visit(schema.Model, "")
    ordered: list[Section] = []
    mixins: dict[type[BaseModel], Section] = {}
    for section in found.values():
        section.paths = sorted(set(section.paths), key=lambda p: (len(p), p))[:3]  # the plainest few
        ordered.append(section)
        for base in section.cls.__mro__[1:]:
            if (issubclass(base, schema.Strict) and base is not schema.Strict and base not in found
                    and base.model_fields):  # a base that only validates adds no section
                section.mixins.append(base)
                if base not in mixins:
                    mixins[base] = Section(base)
                    ordered.append(mixins[base])
                mixins[base].users.append(section.cls)
    return ordered


def own_fields(section: Section) -> dict[str, FieldInfo]:
    inherited = {n for m in section.mixins for n in m.model_fields}
    return {n: f for n, f in section.cls.model_fields.items() if n not in inherited}


# --- rendering -----------------------------------------------------------------------------------


def _link(cls: type[BaseModel]) -> str:
    if issubclass(cls, _Dist):
        return "[distribution](#distributions)"
    note = NOTES.get(cls)
    return f"[{note.title}](#{note.anchor})" if note else cls.__name__


def type_text(tp: Any) -> str:
    """A field's type in a reader's words: number, list of shifts, a distribution, ..."""
    origin = get_origin(tp)
    if origin is Annotated:
        return type_text(get_args(tp)[0])
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if all(isinstance(a, type) and issubclass(a, _Dist) for a in args):  # the `Distribution` union
            return _link(_Dist)
        return " or ".join(type_text(a) for a in args)
    if origin is Literal:
        return " or ".join(f"`{v}`" for v in get_args(tp))
    if origin in (list, tuple):
        inner = type_text(get_args(tp)[0])
        return f"list of ({inner})" if " or " in inner else f"list of {inner}"
    if origin is dict:
        return f"mapping of names to {type_text(get_args(tp)[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _link(tp)
    return {bool: "true/false", int: "integer", float: "number", str: "text"}.get(tp, str(tp))


def _bounds(info: FieldInfo) -> str:
    """Limits from Field(gt=..., ge=..., lt=..., le=..., min_length=...), in symbols."""
    parts = []
    for m in info.metadata:
        for attr, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if getattr(m, attr, None) is not None:
                parts.append(f"{symbol} {getattr(m, attr):g}")
        if getattr(m, "min_length", None) is not None:
            parts.append(f"at least {m.min_length}")
    return ", ".join(parts)


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default
    if value is None:
        return "not set"
    if isinstance(value, BaseModel):
        return "all defaults"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int):
        return f"`{value}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if value in ("", {}, []):
        return "empty"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def field_table(fields: dict[str, FieldInfo]) -> list[str]:
    rows = ["| field | type | default | description (unit) |", "|---|---|---|---|"]
    for name, info in fields.items():
        kind = type_text(info.annotation)
        bounds = _bounds(info)
        rows.append(f"| `{key(name, info)}` | {_cell(kind + (f', {bounds}' if bounds else ''))} | "
                    f"{default_text(info)} | {_cell(info.description or '')} |")
    return rows


def _example(cls: type[BaseModel], text: str) -> list[str]:
    data = yaml.safe_load(text)
    if cls is schema.Model:
        schema.parse_model(data)
    else:  # an example that no longer fits the schema fails the build
        for item in data if isinstance(data, list) else [data]:
            cls.model_validate(item)
    return ["Example:", "", "```yaml", text.strip(), "```", ""]


def section_text(section: Section) -> list[str]:
    note = NOTES.get(section.cls) or Note(section.cls.__name__, section.cls.__name__.lower())
    out = [f'<a id="{note.anchor}"></a>', "", f"## {note.title}", ""]
    where = [f"`{p}`" for p in section.paths] + [f"in every {_link(user)}" for user in section.users]
    out += ["Where: " + (", ".join(where) or "the top level of the file"), ""]
    if note.text.strip():
        out += [note.text.strip(), ""]
    out += field_table(own_fields(section)) + [""]
    for mixin in section.mixins:
        out += [f"Plus the {_link(mixin)}.", ""]
    if note.example:
        out += _example(section.users[0] if section.users else section.cls, note.example)
    return out


def distributions_text() -> list[str]:
    out = ['<a id="distributions"></a>', "", "## Distributions", "",
           "Every time (service, patience, interruptions, ...) is written `{dist: NAME, ...parameters}`, "
           "in the model's time unit: the `dist` key names the distribution, the other keys are its "
           "parameters, all required unless marked optional.", "",
           "| dist | what it is | parameters | mean | variance | example (mean, variance) |",
           "|---|---|---|---|---|---|"]
    for cls in DIST_CLASSES:
        name = get_args(cls.model_fields["dist"].annotation)[0]
        params = "<br>".join(f"`{n}`{'' if f.is_required() else ' (optional)'}: {f.description}"
                           for n, f in cls.model_fields.items() if n != "dist")
        mean, variance = MOMENTS[name]  # a new distribution needs its formulas here
        example = EXAMPLES[name]
        dist = cls.model_validate(yaml.safe_load(example))
        out.append(f"| `{name}` | {_cell(cls.__doc__ or '')} | {_cell(params)} | {mean} | {variance} | "
                   f"`{example}`: {dist.expected():.4g}, {dist.variance():.4g} |")
    return out + [""]


def model_reference() -> str:
    """The whole text of docs/model-reference.md."""
    found = sections()
    out = ["# Model reference", "",
           "<!-- Generated by `python -m chainsim.docs` from chainsim/model.py and chainsim/distributions.py; "
           "do not edit by hand. -->", "",
           "A model file is YAML. This page lists every field, section by section, with its type, "
           "default and meaning; times are in the model's `time_unit`. `<name>` stands for a key you "
           "choose (a department, a customer class, a pool); `[]` for an item of a list. How the "
           "engine moves jobs and charges minutes is told in [engine.md](engine.md).", "",
           "Sections: " + ", ".join(_link(s.cls) for s in found) + ", [distributions](#distributions).", ""]
    for section in found:
        out += section_text(section)
    out += distributions_text()
    return "\n".join(out).rstrip() + "\n"


def check(path: Path = REFERENCE) -> bool:
    """True if the file on disk is exactly what would be generated."""
    return path.exists() and path.read_text(encoding="utf-8") == model_reference()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chainsim.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the schema")
    parser.add_argument("--out", type=Path, default=REFERENCE, help=f"default: {REFERENCE}")
    args = parser.parse_args(argv)
    if args.check:
        if check(args.out):
            return 0
        print(f"{args.out} is out of date: run `python -m chainsim.docs`", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(model_reference(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
