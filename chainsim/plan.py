"""What a model means at run time: journeys compiled into plain objects that hold their samplers.

The engine reads these instead of the pydantic schema, so the hot path does attribute lookups on
small slotted objects and draws pre-sampled numbers. Every sampler gets a stream named after the
place in the file it serves (``time:customers.walk_in.journey[0]``), see :mod:`chainsim.streams`.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import truediv
from pathlib import Path

import numpy as np

from chainsim.distributions import Distribution, Exponential, Sampler, Uniform
from chainsim.errors import ModelError, Problem
from chainsim.model import Arrivals as ArrivalsSpec
from chainsim.model import Branch, CustomerClass, Model, Parallel, Request, Serve
from chainsim.streams import Streams

_UNIT = Uniform(low=0.0, high=1.0)
MAX_TRACE_BYTES = 200_000_000  # a regular CSV file up to this size (not /dev/zero, not a pipe)
MAX_DAYS = 2.0**40  # days to the next arrival beyond any run (3 billion years of them)


class Coin:
    """Bernoulli draws with probability p from a named uniform stream.

    Outcomes are drawn a block at a time, as a Sampler draws, so ``flip()`` is one call into C.
    With p = 0 nothing is drawn.
    """

    __slots__ = ("p", "flip")

    def __init__(self, p: float, rng: np.random.Generator, block: int = 1024):
        self.p = p
        self.flip: Callable[[], bool] = (chain.from_iterable(self._blocks(rng, block)).__next__ if p > 0.0
                                         else repeat(False).__next__)

    def _blocks(self, rng: np.random.Generator, block: int) -> Iterator[list[bool]]:
        while True:
            yield (_UNIT.sample(rng, block) < self.p).tolist()


@dataclass(slots=True, eq=False)
class RequestPlan:
    """An internal request to a supplier department, made while holding a staff member."""

    dept: int
    path: str
    time: Sampler
    consult: list | None  # items: RequestPlan, or a list of RequestPlan sent in parallel
    error: Coin
    rework_time: Sampler
    clarify: Coin | None
    answer_time: Sampler | None


@dataclass(slots=True, eq=False)
class ServePlan:
    """A journey step: queue at a department, hold one staff member, maybe consult, release.

    Journeys are compiled into linked steps: ``next`` is what comes after this step (another
    step, a branch, or None at the end of the journey), so walking a journey needs no stack.
    """

    dept: int
    path: str
    time: Sampler
    consult: list | None
    consult_first: bool
    error: Coin
    rework_time: Sampler  # time of this step when it is redone (a rework_to target keeps its own time)
    rework_target: ServePlan | None  # the earlier step that defective work goes back to (None: this one)
    next: ServePlan | BranchPlan | None = None


@dataclass(slots=True, eq=False)
class BranchPlan:
    """A random choice between options; each option's last step leads on to the branch's ``next``.

    ``choose()`` gives where the next customer's option starts: the first option whose cumulative
    probability exceeds a route draw. It is set by ``_link``, once the options are linked.
    """

    path: str
    cumulative: list[float]
    options: list[list]  # the compiled steps of each option
    route: Sampler
    next: ServePlan | BranchPlan | None = None
    firsts: list = field(default_factory=list)  # where each option starts (``next`` if it is empty)
    choose: Callable[[], ServePlan | BranchPlan | None] | None = None
    # A step inside goes back to before the branch on an error: the customer, whose case has not
    # changed, takes the same option again (else the erring step might never be redone).
    remembered: bool = False


def day_segments(windows: list[tuple[float, float, float]], day: float,
                 combine: Callable[[list[float]], float]) -> list[tuple[float, float, float]]:
    """One day cut into (start, end, rate) segments of constant rate, covering [0, day).

    Where windows overlap, their rates are combined: summed for a rate profile (two streams of
    customers), the largest for opening hours (open is open). Outside every window the rate is 0.
    """
    points = sorted({0.0, day} | {min(x, day) for start, end, _ in windows for x in (start, end)})
    return [(a, b, combine([r for start, end, r in windows if start <= a < end]))
            for a, b in zip(points, points[1:], strict=False) if a < b]


def arrival_segments(arrivals: ArrivalsSpec, day: float) -> list[tuple[float, float, float]]:
    """A class's Poisson rate over one day (not for a trace): a profile's windows add up where they
    overlap; opening hours with a constant rate are open where any window is."""
    if arrivals.profile is not None:
        return day_segments([(w.start, w.end, w.rate) for w in arrivals.profile], day, sum)
    if arrivals.open is not None:
        return day_segments([(w.start, w.end, arrivals.rate) for w in arrivals.open], day,
                            lambda rates: max(rates, default=0.0))
    return [(0.0, day, arrivals.rate)]


class Arrivals:
    """Arrival times of one class, in order: ``next()`` gives the next one, inf when there is none.

    Poisson with one rate all day is a running sum of Exp(1) / rate gaps, kept as chained
    iterators so an arrival is one call into C. Poisson by time of day is exact: each gap inverts
    the integrated rate from the last arrival. A trace hands out its times.
    """

    def __init__(self, segments: list[tuple[float, float, float]] | None, day: float, unit: Sampler | None,
                 trace: np.ndarray | None):
        self.segments = segments  # (start, end, rate) of one day, from day_segments
        self.day = day
        self.unit = unit  # Exp(1) draws, turned into arrival gaps by inverting the integrated rate
        self.last = 0.0  # the last arrival time (by time of day)
        self.day_number = 0  # the day and segment the last arrival fell in
        self.segment = 0
        self.next: Callable[[], float]
        if trace is not None:
            self.next = chain(trace.tolist(), repeat(math.inf)).__next__
        elif len(segments) == 1 and segments[0][2] > 0:
            self.next = accumulate(map(truediv, unit.values, repeat(segments[0][2]))).__next__
        elif (daily := sum((end - start) * rate for start, end, rate in segments)) == 0.0:
            self.next = repeat(math.inf).__next__  # no window with a rate (or one too small to count)
        else:
            self.daily = daily  # expected arrivals a day
            self.next = self._next_by_time_of_day

    def _next_by_time_of_day(self) -> float:
        """Piecewise-constant rate: walk the day's segments from the last arrival until the integrated
        rate reaches an Exp(1) draw. The walk goes by day number and segment index; re-deriving the
        time of day from a time could, by rounding, land back before a segment's end and stall."""
        need, t = self.unit.draw(), self.last
        day, i = self.day_number, self.segment
        while True:
            start, end, rate = self.segments[i]
            segment_end = day * self.day + end
            if rate > 0:
                if t + need / rate <= segment_end:
                    self.last, self.day_number, self.segment = t + need / rate, day, i
                    return self.last
                need -= rate * (segment_end - t)
            t = segment_end
            i += 1
            if i == len(self.segments):  # a new day; whole days without the arrival are skipped at once
                i, day = 0, day + 1
                days = need / self.daily
                if days >= MAX_DAYS:  # a rate so small that the next arrival is past any run
                    return math.inf
                skip = math.floor(days)
                if skip > 0 and need - skip * self.daily <= 0:  # a whole number of days away: keep the
                    skip -= 1  # last day to walk (skipping none would walk every day, one at a time)
                if skip > 0:
                    day, need = day + skip, need - skip * self.daily
                t = day * self.day


@dataclass(slots=True, eq=False)
class ClassPlan:
    name: str
    index: int
    priority: int
    journey: ServePlan | BranchPlan | None  # the first step
    arrivals: Arrivals
    batch: Sampler | None
    patience: Sampler | None
    patience_on_hold: bool
    balk_at: int | None
    expectation: float | None
    churn_if_late: float
    churn_if_abandoned: float
    churn: Sampler


@dataclass(eq=False)
class Plan:
    """A model compiled for one replication."""

    model: Model
    classes: list[ClassPlan]


def _link(steps: list, after: ServePlan | BranchPlan | None) -> ServePlan | BranchPlan | None:
    """Point each step at the one after it (the last at `after`); return the first."""
    for i in reversed(range(len(steps))):
        step = steps[i]
        step.next = after
        if step.__class__ is BranchPlan:
            step.firsts = [_link(option, after) for option in step.options]
            # chained iterators, so a choice is one call into C: route draw -> option index -> its start
            options = map(bisect_right, repeat(step.cumulative), step.route.values)
            step.choose = map(step.firsts.__getitem__, options).__next__
        after = step
    return after


def compile_model(model: Model, streams: Streams) -> Plan:
    index = {name: i for i, name in enumerate(model.departments)}
    builder = _Builder(model, streams, index)
    classes = [builder.customer_class(name, i, spec) for i, (name, spec) in enumerate(model.customers.items())]
    return Plan(model=model, classes=classes)


class _Builder:
    def __init__(self, model: Model, streams: Streams, index: dict[str, int]):
        self.model = model
        self.streams = streams
        self.index = index

    def sampler(self, dist: Distribution, name: str) -> Sampler:
        return Sampler(dist, self.streams(name))

    def coin(self, p: float, name: str) -> Coin:
        return Coin(p, self.streams(name))

    def customer_class(self, name: str, i: int, spec: CustomerClass) -> ClassPlan:
        path = f"customers.{name}"
        return ClassPlan(
            name=name, index=i, priority=spec.priority,
            journey=_link(self.steps(spec.journey, f"{path}.journey", scope={}), None),
            arrivals=self.arrivals(spec, name),
            batch=self.sampler(spec.arrivals.batch, f"batch:{name}") if spec.arrivals.batch else None,
            patience=self.sampler(spec.patience, f"patience:{name}") if spec.patience else None,
            patience_on_hold=spec.patience_on_hold, balk_at=spec.balk_at,
            expectation=spec.expectation if spec.expectation is not None else spec.sla,
            churn_if_late=spec.churn_if_late, churn_if_abandoned=spec.churn_if_abandoned,
            churn=self.sampler(_UNIT, f"churn:{name}"),
        )

    def arrivals(self, spec: CustomerClass, name: str) -> Arrivals:
        a, day = spec.arrivals, self.model.day_length
        if a.trace is not None:
            return Arrivals(None, day, None, read_trace(a.trace, name))
        return Arrivals(arrival_segments(a, day), day, self.sampler(Exponential(mean=1.0), f"arrivals:{name}"), None)

    def steps(self, steps: list, path: str, scope: dict[str, ServePlan]) -> list:
        scope = dict(scope)  # ids visible from here: earlier steps of this list and of enclosing lists
        out: list = []
        for i, step in enumerate(steps):
            here = f"{path}[{i}]"
            if isinstance(step, Branch):
                options = [self.steps(o.then, f"{here}.branch[{j}].then", scope) for j, o in enumerate(step.branch)]
                cumulative = np.cumsum([o.p for o in step.branch]).tolist()
                cumulative[-1] = math.inf  # the last option also takes what rounding leaves below 1
                inside = list(_serves(options))
                remembered = any(s.rework_target is not None and s.rework_target not in inside for s in inside)
                out.append(BranchPlan(here, cumulative, options, self.sampler(_UNIT, f"route:{here}"),
                                      remembered=remembered))
                continue
            out.append(self.serve(step, here, scope))
            if step.id is not None:
                scope[step.id] = out[-1]
        return out

    def serve(self, step: Serve, path: str, scope: dict[str, ServePlan]) -> ServePlan:
        dept = self.model.departments[step.serve]
        error_rate = step.error_rate if step.error_rate is not None else dept.error_rate
        # The model's reference check has made sure rework_to names an earlier step in scope.
        target = scope[step.rework_to] if step.rework_to is not None else None
        return ServePlan(
            dept=self.index[step.serve], path=path, time=self.sampler(step.time, f"time:{path}"),
            consult=self.consult(step.consult, f"{path}.consult"), consult_first=step.consult_at == "start",
            error=self.coin(error_rate, f"error:{path}"),
            rework_time=self.sampler(rework_time(step), f"rework:{path}"), rework_target=target,
        )

    def consult(self, consult, path: str) -> list | None:
        if consult is None:
            return None
        items = consult if isinstance(consult, list) else [consult]
        out: list = []
        for i, item in enumerate(items):
            here = f"{path}[{i}]" if isinstance(consult, list) else path
            if isinstance(item, Parallel):
                out.append([self.request(r, f"{here}.parallel[{j}]") for j, r in enumerate(item.parallel)])
            else:
                out.append(self.request(item, here))
        return out

    def request(self, r: Request, path: str) -> RequestPlan:
        dept = self.model.departments[r.request]
        error_rate = r.error_rate if r.error_rate is not None else dept.error_rate
        clarify = r.clarify
        return RequestPlan(
            dept=self.index[r.request], path=path, time=self.sampler(r.time, f"time:{path}"),
            consult=self.consult(r.consult, f"{path}.consult"),
            error=self.coin(error_rate, f"error:{path}"),
            rework_time=self.sampler(rework_time(r), f"rework:{path}"),
            clarify=self.coin(clarify.p, f"clarify:{path}") if clarify else None,
            answer_time=self.sampler(clarify.time or r.time, f"answer:{path}") if clarify else None,
        )


def _serves(options: list[list]) -> Iterator[ServePlan]:
    """Every step in the options of a branch, nested branches included."""
    for option in options:
        for step in option:
            if step.__class__ is BranchPlan:
                yield from _serves(step.options)
            else:
                yield step


def rework_time(step: Serve | Request) -> Distribution:
    """What a redo of the step or request takes: rework_time, else time scaled by rework_factor, else time."""
    if step.rework_time is not None:
        return step.rework_time
    return step.time.scaled(step.rework_factor) if step.rework_factor is not None else step.time


def _trace_rows(path: str, where: str) -> list[dict]:
    """The rows of a trace CSV, or a ModelError at `where` saying why they cannot be read."""
    file = Path(path)
    if not file.is_file():
        raise ModelError([Problem(where, f"trace {path} is not a file: give the path of a CSV file")])
    if file.stat().st_size > MAX_TRACE_BYTES:
        raise ModelError([Problem(where, f"trace {path} is larger than {MAX_TRACE_BYTES:,} bytes: split it, "
                                  "or shorten the horizon it covers")])
    try:
        with file.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError([Problem(where, f"cannot read trace {path}: {exc}")]) from None


def read_trace(path: str, class_name: str) -> np.ndarray:
    """Arrival times of one class from a CSV with a `time` column and an optional `class` column
    (a row with no class is taken by every class reading the file)."""
    where = f"customers.{class_name}.arrivals.trace"
    times = []
    for line, row in enumerate(_trace_rows(path, where), start=2):
        if "class" in row and row["class"] not in (None, "", class_name):
            continue
        try:
            t = float(row["time"])
        except (KeyError, TypeError, ValueError):
            raise ModelError([Problem(where, f"{path} line {line}: needs a numeric `time` column")]) from None
        if not math.isfinite(t) or t < 0:
            raise ModelError([Problem(where, f"{path} line {line}: time {t} must be finite and >= 0")])
        times.append(t)
    return np.sort(np.asarray(times, dtype=float))


def trace_classes(path: str, class_name: str) -> dict[str, int]:
    """Rows per value of a trace's `class` column ('' for none); empty without the column."""
    counts: dict[str, int] = {}
    for row in _trace_rows(path, f"customers.{class_name}.arrivals.trace"):
        if "class" in row:
            value = row["class"] or ""
            counts[value] = counts.get(value, 0) + 1
    return counts
