"""The model file: a strict, described schema, so a typo is an error and not a silent default.

Every field carries a description; the model reference in docs/model-reference.md is generated
from these (``python -m chainsim.docs``), so the documentation cannot drift from the code.
Parsing goes through :func:`parse_model` / :func:`load_model`, which turn every problem into a
:class:`ModelError` listing each bad field by its path and how to fix it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from chainsim.distributions import DIST_NAMES, MAX_TIME, Distribution, refuse_booleans_in_fields
from chainsim.errors import MAX_REPLICATIONS, ModelError, Problem
from chainsim.yamlio import read_yaml

SCHEMA_VERSION = 1
MAX_SEED = 2**53 - 1  # the largest whole number a browser's number box holds exactly
DEFAULT_MAX_CUSTOMERS = 2_000_000  # per replication: a few GB of records at most
MAX_STAFF = 100_000  # per department, shift or pool: beyond any organisation, and keeps counts small ints
# Classes' priorities stay far below the engine's rank boosts (internal_priority +-10^6, interruptions
# 10^9), so a request asked to go first, or an interruption, is never outranked by a customer.
MAX_PRIORITY = 100_000
# Revenue at stake per customer: far above any, and sums over millions of customers stay finite.
MAX_VALUE = 1e12
# A customer's minutes are recorded by department x kind in a 16-bit key (chainsim.recorder).
MAX_DEPARTMENTS = 1_000
MINUTES = {"second": 1 / 60, "minute": 1.0, "hour": 60.0, "day": 1440.0}  # in one time unit
DAY_LENGTH = {unit: 1440 / minutes for unit, minutes in MINUTES.items()}  # 24 hours in each time unit


class Strict(BaseModel):
    """Base of every schema class: unknown keys are refused and parsed models cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _no_booleans = field_validator("*", mode="before")(classmethod(refuse_booleans_in_fields))


# --- run settings ---------------------------------------------------------------------------


class RunSettings(Strict):
    horizon: float = Field(gt=0, le=MAX_TIME, allow_inf_nan=False, description="Arrivals stop at this time (time units). "
                           "Work in progress then finishes (see `drain`).")
    warmup: float = Field(0.0, ge=0, le=MAX_TIME, allow_inf_nan=False, description="Statistics count only customers "
                          "arriving at or after this time (time units). 0 for a day that starts empty.")
    replications: int = Field(10, ge=1, le=MAX_REPLICATIONS, description="Independent runs; KPIs are reported "
                              "as the mean over replications with a 95% t-interval.")
    seed: int = Field(1, ge=0, le=MAX_SEED, description="Root seed (0 to 2^53 - 1). Same seed, same numbers.")
    drain: bool = Field(True, description="After the horizon, no new customers arrive but those inside "
                        "are served to the end (true), or the run stops at the horizon and they are "
                        "reported as still in the system (false).")
    drain_limit: float | None = Field(None, gt=0, le=MAX_TIME, allow_inf_nan=False, description="With drain: stop "
                                      "at most this long after the horizon (time units); customers "
                                      "still inside are reported as in system. Default: one horizon.")
    day_length: float | None = Field(None, gt=0, le=MAX_TIME, allow_inf_nan=False, description="Length of the day "
                                     "over which schedules and rate profiles repeat (time units). "
                                     "Default: 24 hours in the model's time unit.")
    day_starts_at: str | None = Field(None, description="Clock time at the start of each day (time 0), "
                                      "quoted: '09:00'. Shift windows and the queue chart of a day then read "
                                      "as clock times (a lunch 180-300 as 12:00-14:00). Labels only; "
                                      "models in minutes or hours.")
    max_customers: int = Field(DEFAULT_MAX_CUSTOMERS, ge=1, description="Safety cap on external customers per "
                               "replication; a run that would exceed it stops with a clear error.")
    max_events: int = Field(50_000_000, ge=1, description="Safety cap on simulation events per replication "
                            "(service completions, arrivals, interruptions...); a run that would exceed it "
                            "stops with a clear error, and interruptions, outages or shift changes expected "
                            "to exceed it are refused before the run.")

    @field_validator("day_starts_at", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        """'9:00' or '09:00', kept as HH:MM. Unquoted, YAML reads 9:00 as the number 540 (base 60)."""
        if value is None:
            return None
        clock = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value, re.ASCII) if isinstance(value, str) else None
        if clock is None:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            unquoted = " (unquoted, YAML reads 9:00 as the number 540)" if number else ""
            raise ValueError(f"write a clock time from '00:00' to '23:59' in quotes, e.g. day_starts_at: "
                             f"'09:00'{unquoted}; got {value!r}")
        return f"{int(clock[1]):02d}:{clock[2]}"


# --- departments ------------------------------------------------------------------------------


class Window(Strict):
    """A time-of-day window [from, to), repeating every day."""

    start: float = Field(alias="from", ge=0, allow_inf_nan=False, description="Start (time of day, time units).")
    end: float = Field(alias="to", gt=0, allow_inf_nan=False, description="End (time of day, time units), at "
                       "most the day's length: a window past midnight is two windows, one to the end of the day "
                       "and one from 0.")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start}): give from < to")
        return self


class Shift(Window):
    staff: int = Field(ge=0, le=MAX_STAFF, description="Staff on duty in this window.")


class _Recurring(Strict):
    """Something that comes back every so often: the gap must have a positive mean, or time stands still."""

    @field_validator("every", check_fields=False)
    @classmethod
    def _gap_moves_time(cls, every: Distribution) -> Distribution:
        if every.expected() <= 0:
            raise ValueError("the gap must have a mean above 0 (got 0): time would stand still")
        return every


class Interruptions(_Recurring):
    every: Distribution = Field(description="Time between interrupting tasks (phone calls, walk-ups).")
    lasts: Distribution = Field(description="Staff time one interruption takes.")
    mode: Literal["preempt", "queue"] = Field("preempt", description="preempt: the task in hand is "
                                              "paused and resumed later with its remaining time kept; "
                                              "queue: the interruption waits, ahead of all other work.")


class Outages(_Recurring):
    every: Distribution = Field(description="Time between unplanned unavailability periods (meetings, outages).")
    lasts: Distribution = Field(description="How long each one lasts.")
    staff: int | None = Field(None, ge=1, le=MAX_STAFF, description="Staff taken away; default all of them. Staff "
                              "finish the job in hand first.")


class Absence(Strict):
    p: float | None = Field(None, ge=0, lt=1, description="Probability that each staff member is absent for a "
                            "whole day (independently).")
    out: Distribution | None = Field(None, description="Or: the number of staff out each day, as a "
                                     "distribution (rounded, at most the head count), e.g. empirical "
                                     "values [0, 0, 1, 2].")

    @model_validator(mode="after")
    def _one_way(self) -> Absence:
        if (self.p is None) == (self.out is None):
            raise ValueError("give `p` (per staff member) or `out` (staff out per day), one of them")
        return self


class Department(Strict):
    staff: int | None = Field(None, ge=0, le=MAX_STAFF, description="Staff count (when there is no schedule).")
    schedule: list[Shift] | None = Field(None, min_length=1, description="Staff by time-of-day window, "
                                         "repeating daily; outside every window, no staff. Staff going "
                                         "off shift finish the job in hand.")
    label: str | None = Field(None, description="Display name; default: the key with underscores as spaces and its first letter upper case (`back_office`: Back office, `IT_desk`: IT desk). Departments named alike are shown with their key added, `Compliance (it)`.")
    discipline: Literal["fifo", "priority", "preemptive"] = Field("fifo", description="Queue order: "
                                                                  "first come first served; by priority "
                                                                  "(higher first, not interrupting work in "
                                                                  "hand); or preemptive priority "
                                                                  "(preempt-resume).")
    internal_priority: Literal["high", "same", "low"] = Field("same", description="Internal requests "
                                                              "(consults) served before (high), with "
                                                              "(same) or after (low) external customers. "
                                                              "Needs discipline priority or preemptive.")
    error_rate: float = Field(0.0, ge=0, lt=1, description="Probability that a piece of work done here is "
                              "defective and comes back as rework (can be overridden per step).")
    sla: float | None = Field(None, gt=0, le=MAX_TIME, allow_inf_nan=False, description="Internal turnaround target for "
                              "requests to this department (time units); reported as share within SLA. A "
                              "department no step or request consults has nothing to measure: `validate` warns.")
    interruptions: Interruptions | None = Field(None, description="Interrupting tasks arriving at this department.")
    outages: Outages | None = Field(None, description="Unplanned unavailability periods.")
    absence: Absence | None = Field(None, description="Random whole-day staff absence.")

    @model_validator(mode="after")
    def _staff_or_schedule(self) -> Department:
        if self.staff is None and self.schedule is None:
            raise ValueError("give `staff` (a count) or a `schedule` of shifts")
        if self.staff is not None and self.schedule is not None:
            raise ValueError("give either `staff` or `schedule`, not both")
        return self

    @property
    def head_count(self) -> int:
        """Most staff on duty at any time of day (overlapping shifts add up)."""
        if self.schedule is not None:
            return max(sum(w.staff for w in self.schedule if w.start <= s.start < w.end) for s in self.schedule)
        return int(self.staff or 0)


# --- journeys ---------------------------------------------------------------------------------


class Clarify(Strict):
    p: float = Field(ge=0, lt=1, description="Probability that a request is unclear each time the supplier "
                     "picks it up; the supplier then asks back.")
    time: Distribution | None = Field(None, description="Requester staff time to answer. Default: the "
                                      "request's own time distribution.")


class ReworkFields(Strict):
    error_rate: float | None = Field(None, ge=0, lt=1, description="Override of the department's error_rate for this step.")
    rework_time: Distribution | None = Field(None, description="Time to redo defective work; default: the step's time.")
    rework_factor: float | None = Field(None, gt=0, allow_inf_nan=False, description="Redo time as a factor of "
                                        "the step's time (e.g. 0.5 = half). Not with rework_time.")

    @model_validator(mode="after")
    def _one_rework_time(self) -> ReworkFields:
        if self.rework_time is not None and self.rework_factor is not None:
            raise ValueError("give rework_time or rework_factor, not both")
        if self.rework_factor is not None:  # the redo's times must be times the model accepts
            try:
                self.time.scaled(self.rework_factor)
            except ValueError:  # pydantic's ValidationError is one
                raise ValueError(f"rework_factor {self.rework_factor:g} makes the redo's time larger than any "
                                 f"time a model accepts ({MAX_TIME:g}): give a smaller factor, or a rework_time") from None
        return self


class Request(ReworkFields):
    request: str = Field(description="Supplier department the internal request goes to; not one whose staff "
                         "member is already held waiting on it (the step's own, or an outer request's): that would "
                         "deadlock.")
    time: Distribution = Field(description="Supplier staff time for the request.")
    consult: Consult | None = Field(None, description="Requests this request makes in turn, while holding "
                                    "the supplier's staff member (nested consult).")
    clarify: Clarify | None = Field(None, description="Unclear requests: the supplier asks back.")


class Parallel(Strict):
    parallel: list[Request] = Field(min_length=1, description="Requests sent at once; the step waits for all.")


def _consult_tag(value: Any) -> str | None:
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "parallel" if "parallel" in value else "request"
    if isinstance(value, BaseModel):
        return "parallel" if isinstance(value, Parallel) else "request"
    return None


ConsultItem = Annotated[
    Annotated[Request, Tag("request")] | Annotated[Parallel, Tag("parallel")],
    Discriminator(_consult_tag),
]
Consult = Annotated[
    Annotated[Request, Tag("request")]
    | Annotated[Parallel, Tag("parallel")]
    | Annotated[list[ConsultItem], Tag("sequence")],
    Discriminator(_consult_tag, custom_error_type="consult",
                  custom_error_message="a consult is a request {request: ...}, a list of them, or {parallel: [...]}"),
]


class Serve(ReworkFields):
    serve: str = Field(description="Department that serves the customer in this step.")
    time: Distribution = Field(description="Staff time of the step itself.")
    consult: Consult | None = Field(None, description="Internal requests made while the staff member keeps "
                                    "holding the customer.")
    consult_at: Literal["end", "start"] = Field("end", description="end: the staff member does the step's own "
                                                "work, then consults; start: consults first, then the own work.")
    id: str | None = Field(None, description="Name of the step (unique in the journey), for `rework_to` in a later step.")
    rework_to: str | None = Field(None, description="Defective work goes back to this earlier step (its id) "
                                  "and the journey is redone from there; default: redo this step.")


class Option(Strict):
    p: float = Field(ge=0, le=1, allow_inf_nan=False, description="Probability of this option.")
    then: list[Step] = Field(description="Steps taken in this option (may be empty).")


class Branch(Strict):
    branch: list[Option] = Field(min_length=1, description="Options; their p must sum to 1.")

    @model_validator(mode="after")
    def _sums_to_one(self) -> Branch:
        total = sum(o.p for o in self.branch)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"branch probabilities sum to {total:.12g}, not 1: adjust the p values")
        return self


def _step_tag(value: Any) -> str | None:
    keys = value if isinstance(value, dict) else vars(value) if isinstance(value, BaseModel) else {}
    if "serve" in keys and "branch" in keys:
        return None  # one or the other: a step is either served or a choice
    if "serve" in keys:
        return "serve"
    if "branch" in keys:
        return "branch"
    return None


Step = Annotated[
    Annotated[Serve, Tag("serve")] | Annotated[Branch, Tag("branch")],
    Discriminator(_step_tag, custom_error_type="step",
                  custom_error_message="a step starts with `serve: <department>` or `branch:`"),
]


# --- customers --------------------------------------------------------------------------------


class RateWindow(Window):
    rate: float = Field(ge=0, allow_inf_nan=False, description="Arrivals per time unit in this window.")


class Arrivals(Strict):
    rate: float | None = Field(None, gt=0, allow_inf_nan=False, description="Constant Poisson rate (customers per time unit).")
    profile: list[RateWindow] | None = Field(None, min_length=1, description="Poisson rate by time-of-day "
                                             "window, repeating daily (0 outside windows; where windows "
                                             "overlap, their rates add up).")
    trace: str | None = Field(None, description="CSV file of arrival times (column `time`, optional `class`: "
                              "a row without one is taken by every class reading the file; a class name must "
                              "match exactly, case and spaces too), relative to the model file.")
    open: list[Window] | None = Field(None, min_length=1, description="Opening hours for a constant `rate` "
                                      "(time of day, daily; overlapping windows merge). Work in progress continues after closing.")
    batch: Distribution | None = Field(None, description="Group size per arrival (rounded to the nearest whole number, a half to the even "
                                  "one as Python's round does: 2.5 is 2; at least 1); default 1.")

    @model_validator(mode="after")
    def _one_source(self) -> Arrivals:
        given = [k for k in ("rate", "profile", "trace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `rate`, `profile` or `trace`"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.open is not None and self.rate is None:
            raise ValueError("`open` hours go with a constant `rate`; a `profile` has rate 0 when closed")
        return self


class CustomerClass(Strict):
    arrivals: Arrivals = Field(description="How customers of this class arrive.")
    journey: list[Step] = Field(min_length=1, description="Ordered steps of the customer's journey.")
    label: str | None = Field(None, description="Display name.")
    priority: int = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="Higher is served first at "
                          f"departments with a priority discipline; -{MAX_PRIORITY:,} to {MAX_PRIORITY:,} (only the "
                          "order matters).")
    patience: Distribution | None = Field(None, description="How long a customer waits in queues in total "
                                          "before leaving (abandonment), the queue a preemptive department sends "
                                          "its step back to included; none: never leaves.")
    patience_on_hold: bool = Field(False, description="Patience also runs while the customer is held during "
                                   "consults; a customer who leaves then calls its requests off.")
    balk_at: int | None = Field(None, ge=0, description="A customer who finds this many or more customers "
                                "waiting at the first department does not join.")
    sla: float | None = Field(None, gt=0, le=MAX_TIME, allow_inf_nan=False, description="Time-in-system target (time units).")
    value: float = Field(0.0, ge=0, le=MAX_VALUE, allow_inf_nan=False, description="Revenue at stake per customer (currency).")
    expectation: float | None = Field(None, gt=0, le=MAX_TIME, allow_inf_nan=False, description="Time in system beyond "
                                      "which a customer may churn; default: sla.")
    churn_if_late: float = Field(0.10, ge=0, le=1, description="Probability that a customer served later "
                                 "than its expectation leaves the company. Default 0.10: an assumption, a third of "
                                 "churn_if_abandoned (served, but late, is a milder bad experience).")
    churn_if_abandoned: float = Field(0.30, ge=0, le=1, description="Probability that a customer who "
                                      "abandoned or balked leaves the company. Default 0.30, after PwC's 'Experience "
                                      "is everything' survey (2018): 32% of customers would leave a brand they love "
                                      "after one bad experience; Microsoft's customer-service surveys put the share "
                                      "who have ever left over poor service near 59%.")

class ChurnSettings(Strict):
    acquisition_cost_multiple: float = Field(5.0, ge=0, allow_inf_nan=False, description="Cost of winning a "
                                             "new customer to replace a churned one, as a multiple of the value at "
                                             "stake (replacement cost = revenue at risk x this). Default 5, the low "
                                             "end of the often-quoted 'acquiring a customer costs 5 to 25 times more "
                                             "than retaining one' (Gallo, Harvard Business Review, 2014, after Bain "
                                             "& Company).")

class Pool(Strict):
    staff: int = Field(ge=1, le=MAX_STAFF, description="Cross-trained staff in the pool.")
    serves: list[str] = Field(min_length=1, description="Departments the pool can work for, in order of preference.")
    rule: Literal["longest_queue", "ordered"] = Field("longest_queue", description="Where a free pool member "
                                                     "goes: the department with the longest queue, or the "
                                                     "first in `serves` that has a queue.")
    label: str | None = Field(None, description="Display name.")


# --- the model ------------------------------------------------------------------------------


def key_in_words(key: str) -> str:
    """A department's key as a default label: `back_office` reads Back office, and `IT_desk` keeps its IT."""
    words = key.replace("_", " ")
    return words[:1].upper() + words[1:]


class Model(Strict):
    name: str = Field(min_length=1, description="Name of the organisation or process.")
    time_unit: Literal["second", "minute", "hour", "day"] = Field("minute", description="Unit of every time in the file.")
    currency: str = Field("EUR", description="Currency of `value` fields.")
    description: str = Field("", description="Where the numbers come from; what to try.")
    run: RunSettings = Field(description="Run length, warm-up, replications, seed.")
    departments: dict[str, Department] = Field(min_length=1, description="Departments by key; at most "
                                               f"{MAX_DEPARTMENTS:,}.")
    customers: dict[str, CustomerClass] = Field(min_length=1, description="External customer classes by key.")
    pools: dict[str, Pool] = Field(default_factory=dict, description="Cross-trained staff pools.")
    churn: ChurnSettings = Field(default_factory=ChurnSettings, description="Churn and revenue settings.")
    schema_version: int = Field(SCHEMA_VERSION, description="Version of this file format.")

    @field_validator("departments", "customers", "pools")
    @classmethod
    def _keys_are_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not str(key).replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"name {key!r}: use letters, digits, _ or -")
        return value

    @field_validator("departments")
    @classmethod
    def _not_too_many(cls, value: dict[str, Department]) -> dict[str, Department]:
        if len(value) > MAX_DEPARTMENTS:
            raise ValueError(f"{len(value):,} departments, more than the {MAX_DEPARTMENTS:,} a model can hold: "
                             "merge departments that work alike, or split the model")
        return value

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ValueError(f"this chainsim reads schema_version {SCHEMA_VERSION} (got {version}): "
                             f"write {SCHEMA_VERSION}, or use the chainsim version the file was written for")
        return version

    @model_validator(mode="after")
    def _cross_references(self) -> Model:
        problems = list(_reference_problems(self)) + list(_day_problems(self)) + list(_clock_problems(self))
        if self.run.day_starts_at is not None and self.time_unit not in ("minute", "hour"):
            problems.append(Problem("run.day_starts_at", f"clock times are for models in minutes or hours (this "
                                    f"one is in {self.time_unit}s): remove day_starts_at"))
        if self.run.warmup >= self.run.horizon:
            problems.append(Problem("run.warmup", f"warm-up {self.run.warmup:g} must be shorter than "
                                    f"the horizon {self.run.horizon:g}"))
        if problems:
            raise ModelError(problems)
        return self

    @property
    def day_length(self) -> float:
        return self.run.day_length or DAY_LENGTH[self.time_unit]

    def clock(self, time: float, closing: bool = False) -> str | None:
        """The clock time `time` into the day ('12:30'), with 'day 2, ' before it in a cycle of several
        days (a week); None without run.day_starts_at. `closing`: a window's end, where midnight is the
        24:00 of the day it closes, not the 0:00 of the next."""
        if self.run.day_starts_at is None:
            return None
        hours, minutes = map(int, self.run.day_starts_at.split(":"))
        clock = round(60 * hours + minutes + time * MINUTES[self.time_unit])  # in whole minutes
        day, minute = divmod(clock, 1440)
        if closing and minute == 0 and time > 0:
            day, minute = day - 1, 1440
        text = f"{minute // 60}:{minute % 60:02d}"
        return f"day {day + 1}, {text}" if self.day_length * MINUTES[self.time_unit] > 1440 else text

    def label(self, department: str) -> str:
        """The department's display name: its `label`, else its key in words. Departments labelled
        alike get their key added ('Compliance (it)'), so no table row or chart bar stands for two."""
        return self._labels.get(department) or key_in_words(department)

    @cached_property
    def _labels(self) -> dict[str, str]:
        own = {d: spec.label or key_in_words(d) for d, spec in self.departments.items()}
        alike = Counter(own.values())
        return {d: f"{label} ({d})" if alike[label] > 1 else label for d, label in own.items()}

    def canonical_json(self) -> str:
        """Stable text of the model, the key for caches and stores."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def trace_files(self) -> list[str]:
        """The arrival trace files the model reads, each once, in a stable order."""
        return sorted({c.arrivals.trace for c in self.customers.values() if c.arrivals.trace is not None})

    def fingerprint(self) -> str:
        """A digest of everything a run reads: the canonical JSON and the bytes of every trace file.

        The canonical JSON holds a trace's path, not its contents, so a trace rewritten in place would
        pass as the same model (a resumed store would mix the two traces' numbers). Decide "same
        model?" with this. Without traces it is the SHA-256 of the canonical JSON, as stores have
        always recorded. A trace that cannot be read is digested as such: running the model says why.
        """
        digest = hashlib.sha256(self.canonical_json().encode())
        for trace in self.trace_files():
            digest.update(f"\0{trace}\0{_file_digest(trace)}".encode())
        return digest.hexdigest()

    def with_changes(self, changes: dict[str, Any]) -> Model:
        """A copy with values replaced by dotted path (``departments.it.staff``), re-validated."""
        if not isinstance(changes, dict) or not all(isinstance(path, str) for path in changes):
            raise ModelError([Problem("changes", "give a mapping of dotted paths to values, "
                                      f"{{'departments.it.staff': 3}} (got {changes!r})")])
        data = self.model_dump(by_alias=True, exclude_none=True)
        for path, value in changes.items():
            _set_path(data, path, value)
        return parse_model(data)


# --- cross-reference checks: all bad references at once ------------------------------------


def walk_steps(steps: list, path: str):
    """Yield (path, step) for every Serve in a journey, depth first, through branches."""
    for i, step in enumerate(steps):
        here = f"{path}[{i}]"
        if isinstance(step, Serve):
            yield here, step
        else:
            for j, option in enumerate(step.branch):
                yield from walk_steps(option.then, f"{here}.branch[{j}].then")


def consult_requests(consult, path: str):
    """Yield (path, request) for every Request in a consult, nested ones included."""
    if consult is None:
        return
    if isinstance(consult, Request):
        yield path, consult
        yield from consult_requests(consult.consult, f"{path}.consult")
    elif isinstance(consult, Parallel):
        for i, item in enumerate(consult.parallel):
            yield from consult_requests(item, f"{path}.parallel[{i}]")
    else:
        for i, item in enumerate(consult):
            yield from consult_requests(item, f"{path}[{i}]")


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known {kind}s: {', '.join(sorted(known))}"
    return f"unknown {kind} {name!r}: {hint}"


def _raw_direct_requests(consult: Any, path: str):
    """Yield (path, request dict) for the requests one consult makes itself (not nested ones)."""
    if isinstance(consult, list):
        for i, item in enumerate(consult):
            yield from _raw_direct_requests(item, f"{path}[{i}]")
    elif isinstance(consult, dict) and isinstance(consult.get("parallel"), list):
        for i, item in enumerate(consult["parallel"]):
            yield from _raw_direct_requests(item, f"{path}.parallel[{i}]")
    elif isinstance(consult, dict):
        yield path, consult


def _raw_consult_requests(consult: Any, path: str, holders: tuple[str, ...] = ()):
    """Yield (path, request dict, holders) for every request in raw (unvalidated) consult data;
    holders are the departments whose staff are held waiting on it (the step's and the outer requests')."""
    for rpath, request in _raw_direct_requests(consult, path):
        yield rpath, request, holders
        name = request.get("request")
        yield from _raw_consult_requests(request.get("consult"), f"{rpath}.consult",
                                         (*holders, name) if isinstance(name, str) else holders)


def _journey_problems(steps: Any, path: str, visible: set[str], depts: list[str], receives_work: dict,
                      ids: dict[str, str] | None = None):
    """Unknown departments and rework_to targets out of scope, read from the raw data.

    Working on the raw data (not the validated model) lets these be listed together with field
    errors, so one fix-and-rerun shows everything.
    """
    if not isinstance(steps, list):
        return
    ids = {} if ids is None else ids  # every step id of the journey so far, and where
    visible = set(visible)  # ids of earlier steps in this list and in enclosing lists
    for i, step in enumerate(steps):
        here = f"{path}[{i}]"
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("branch"), list):
            for j, option in enumerate(step["branch"]):
                if isinstance(option, dict):
                    yield from _journey_problems(option.get("then"), f"{here}.branch[{j}].then", visible, depts,
                                                 receives_work, ids)
            continue
        serve = step.get("serve")
        if isinstance(serve, str):
            if serve not in depts:
                yield Problem(f"{here}.serve", _unknown("department", serve, depts))
            receives_work.setdefault(serve, here)
        step_id = step.get("id")
        if isinstance(step_id, str) and step_id in ids:
            yield Problem(f"{here}.id", f"id {step_id!r} is already used by {ids[step_id]}: give each step its own id")
        elif isinstance(step_id, str):
            ids[step_id] = here
        target = step.get("rework_to")
        if isinstance(target, str) and target not in visible:  # not text: the field's own error says so
            yield Problem(f"{here}.rework_to", f"no earlier step with id {target!r} in this journey "
                          "(or in an enclosing one, for a step inside a branch): give an earlier step that id, "
                          "or drop rework_to to redo this step")
        if isinstance(step_id, str):
            visible.add(step_id)
        holders = (serve,) if isinstance(serve, str) else ()
        for rpath, request, waiting in _raw_consult_requests(step.get("consult"), f"{here}.consult", holders):
            name = request.get("request")
            if isinstance(name, str):
                if name not in depts:
                    yield Problem(f"{rpath}.request", _unknown("department", name, depts))
                elif name in waiting:
                    yield Problem(f"{rpath}.request", f"{name!r} already has a staff member held waiting on this "
                                  "request, so it would wait on itself: with every staff member holding a "
                                  "customer nobody is left to answer (a deadlock). Ask another department, "
                                  "or make the work a step of the journey")
                receives_work.setdefault(name, rpath)


def reference_problems(data: Any, receives_work: dict[str, str] | None = None) -> list[Problem]:
    """Every bad department name and rework_to in raw model data, all at once."""
    if not isinstance(data, dict):
        return []
    receives_work = {} if receives_work is None else receives_work
    departments = data.get("departments")
    depts = [str(k) for k in departments] if isinstance(departments, dict) else []
    problems: list[Problem] = []
    customers = data.get("customers")
    for cname, cls in (customers.items() if isinstance(customers, dict) else []):
        if isinstance(cls, dict):
            problems += _journey_problems(cls.get("journey"), f"customers.{cname}.journey", set(), depts,
                                          receives_work)
    pools = data.get("pools")
    for pname, pool in (pools.items() if isinstance(pools, dict) else []):
        serves = pool.get("serves") if isinstance(pool, dict) else None
        for i, dept in enumerate(serves if isinstance(serves, list) else []):
            if isinstance(dept, str) and dept not in depts:
                problems.append(Problem(f"pools.{pname}.serves[{i}]", _unknown("department", dept, depts)))
    return problems


def _reference_problems(model: Model):
    receives_work: dict[str, str] = {}
    yield from reference_problems(model.model_dump(by_alias=True, exclude_none=True), receives_work)
    pooled = {d for pool in model.pools.values() for d in pool.serves}
    for dept, where in receives_work.items():
        spec = model.departments.get(dept)
        if spec is not None and spec.head_count == 0 and dept not in pooled:
            yield Problem(f"departments.{dept}.staff", f"{dept!r} receives work ({where}) but has no staff: "
                          "give it staff >= 1 or a schedule with staff")
        if spec is not None and spec.internal_priority != "same" and spec.discipline == "fifo":
            yield Problem(f"departments.{dept}.internal_priority", "internal_priority needs discipline "
                          "`priority` or `preemptive`")


def _day_problems(model: Model):
    """Time-of-day windows must lie within the day: one starting after it would never open, and the
    part of one ending after it would be dropped (each day repeats [0, day_length))."""
    day, unit = model.day_length, model.time_unit
    windows = [(f"departments.{name}.schedule", d.schedule) for name, d in model.departments.items()]
    windows += [(f"customers.{name}.arrivals.{key}", getattr(c.arrivals, key))
                for name, c in model.customers.items() for key in ("profile", "open")]
    for path, listed in windows:
        for i, window in enumerate(listed or []):
            if window.start >= day:
                yield Problem(f"{path}[{i}].from", f"starts at {window.start:g}, after the day ends ({day:g} {unit}s, "
                              f"run.day_length): give a time of day below {day:g}, or a longer run.day_length")
            elif window.end > day:  # it would be cut at midnight, not carried into the next morning
                fix = (f"split it at midnight into two windows, from {window.start:g} to {day:g} and from 0 to "
                       f"{window.end - day:g}" if window.end - day <= window.start else "a window lasts one day at most")
                yield Problem(f"{path}[{i}].to", f"ends at {window.end:g}, after the day ends ({day:g} {unit}s, "
                              f"run.day_length), and the part after it would be lost: {fix}, or give a longer "
                              "run.day_length")


def clock_events(model: Model) -> list[tuple[float, str, str]]:
    """Events of one replication with no customer behind them (interruptions, outages, shift changes,
    daily absence draws) over the longest run, horizon and drain: rows of (about how many, the field
    that sets their pace, what makes them). No customer cap stops them, so they are held to
    run.max_events before a run (_clock_problems) and counted in the app's work cap."""
    run, unit, day = model.run, model.time_unit, model.day_length
    length = run.horizon + ((run.drain_limit or run.horizon) if run.drain else 0.0)  # longest possible run
    rows: list[tuple[float, str, str]] = []
    for name, d in model.departments.items():
        where = f"departments.{name}"
        if d.interruptions is not None:  # each arrives, then ends
            gap = d.interruptions.every.expected()
            rows.append((2 * length / gap, f"{where}.interruptions.every", f"interruptions every {gap:g} {unit}s"))
        if d.outages is not None:  # each starts, then ends
            cycle = d.outages.every.expected() + d.outages.lasts.expected()
            rows.append((2 * length / cycle, f"{where}.outages.every", f"an outage cycle (every + lasts) of {cycle:g} {unit}s"))
        if d.schedule is not None:  # each window opens and closes
            rows.append((2 * len(d.schedule) * length / day, "run.day_length", f"shift changes in a day of {day:g} {unit}s"))
        if d.absence is not None:
            rows.append((length / day, "run.day_length", f"a draw of absent staff every day of {day:g} {unit}s"))
    return rows


def _clock_problems(model: Model):
    """Clock events (see clock_events) beyond what one replication can hold: a tiny gap would run for
    hours or fill the memory, so the file is refused before anything runs."""
    run, unit = model.run, model.time_unit
    rows = clock_events(model)
    held = max(run.max_customers, DEFAULT_MAX_CUSTOMERS)  # each interruption waits as a job, like a customer
    too_many = [Problem(path, f"{what} give about {events / 2:,.0g} interruptions in one replication (each "
                        f"arrives and ends: 2 events), more than the {held:,} jobs a replication can hold: give "
                        f"the time between interruptions in {unit}s")
                for events, path, what in rows if path.endswith(".interruptions.every") and events / 2 > held]
    if too_many:  # every such department at once; the total below would only repeat them
        yield from too_many
        return
    total = sum(n for n, _, _ in rows)
    if total > run.max_events:
        n, path, what = max(rows)
        yield Problem(path, f"{what}: about {n:,.0g} events in one replication, more than run.max_events = "
                      f"{run.max_events:,} allows: check the value is in {unit}s, or raise run.max_events")


def _set_path(data: dict, path: str, value: Any) -> None:
    """Set a value by dotted path (list items by index); a path that leads nowhere is a ModelError."""
    keys = path.split(".")
    node: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        done = ".".join(keys[:i]) or "the model"
        if isinstance(node, list):
            if not (key.isdigit() and int(key) < len(node)):
                raise ModelError([Problem(path, f"{done} is a list of {len(node)}: give an index from 0 to "
                                          f"{len(node) - 1} instead of {key!r}")])
            key = int(key)
        elif not isinstance(node, dict):
            raise ModelError([Problem(path, f"{done} is a value ({node!r}), not a mapping: stop the path there")])
        elif not last and key not in node:
            raise ModelError([Problem(path, f"no {key!r} under {done}: check the path")])
        if last:
            node[key] = value
        else:
            node = node[key]


# --- parsing with readable errors ------------------------------------------------------------


def _all_field_names() -> list[str]:
    names: set[str] = set()
    for cls in Strict.__subclasses__() + [Shift, RateWindow, Request, Serve]:
        for name, field in cls.model_fields.items():
            names.add(field.alias or name)
    return sorted(names | {"dist", "mean", "cv", "value", "low", "high", "mode", "k", "shape", "scale", "values"})


_TAGS = {"request", "parallel", "sequence", "serve", "branch"}


def _path(loc: tuple) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
            continue
        after_union = i > 0 and loc[i - 1] in ("time", "consult", "patience", "every", "lasts", "batch",
                                               "rework_time") or (i > 0 and isinstance(loc[i - 1], int))
        if after_union and (item in _TAGS or item in DIST_NAMES) and not (item == "serve" and i == len(loc) - 1):
            continue  # a union's tag, not a key the user wrote
        parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


_DIST_FIELDS = {name: [f for f in cls.model_fields if f != "dist"]
                for name, cls in zip(DIST_NAMES, get_args(get_args(Distribution)[0]), strict=True)}
_DIST_PLACES = ("time", "patience", "every", "lasts", "batch", "rework_time")
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
_PLAIN_TYPES = {  # pydantic's type errors, in the words of a YAML file
    "int_from_float": "must be a whole number", "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "float_parsing": "must be a number", "float_type": "must be a number", "bool_parsing": "must be true or false",
    "bool_type": "must be true or false", "string_type": "must be text", "list_type": "must be a list (- item lines)",
}


def plain_message(error: dict) -> str:
    """A pydantic error in the words of a YAML file, with the fix where there is one."""
    kind, msg, loc = error["type"], error["msg"], error["loc"]
    given = repr(error.get("input"))
    given = given if len(given) <= 60 else f"{given[:57]}..."  # 10**400 has 401 digits
    got = f"(got {given})"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        if len(loc) > 1 and loc[-2] in _DIST_FIELDS:
            return f"{loc[-2]} takes {', '.join(_DIST_FIELDS[loc[-2]])}: remove {name!r}"
        close = [c for c in difflib.get_close_matches(name, _all_field_names(), n=2) if c != name]
        return f"unknown field {name!r}" + (f": did you mean {close[0]!r}?" if close else ": remove it")
    if kind == "missing":
        return "required field is missing: add it"
    if kind == "finite_number":
        return f"must be a finite number {got}: write a plain number such as 0.5"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        if loc and loc[-1] == "batch":
            return f"a batch size is a distribution, not {given}: write e.g. {{dist: fixed, value: 3}}"
        if loc and loc[-1] in _DIST_PLACES:
            return f"a time is a distribution, not {given}: write e.g. {{dist: fixed, value: 5}}"
        return f"expected a mapping of fields (key: value), got {given}"
    if kind in _PLAIN_TYPES:
        return f"{_PLAIN_TYPES[kind]} {got}"
    if kind == "too_short":
        least = error["ctx"]["min_length"]
        return "must not be empty: give at least one" if least == 1 else f"must hold at least {least}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']} {got}"
    if kind in _RANGE_ERRORS:
        return f"{msg[0].lower()}{msg[1:]} {got}"
    if kind == "union_tag_invalid" and "dist" in str(error.get("ctx", {})):
        return f"unknown distribution: use one of {', '.join(DIST_NAMES)}"
    if kind == "union_tag_not_found":
        return f"missing `dist`: write e.g. {{dist: exponential, mean: 5}} (one of {', '.join(DIST_NAMES)})"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


MAX_NESTING = 100  # levels of mappings and lists; a journey with branches 5 deep needs about 25


def _too_deep(data: Any) -> str | None:
    """Where data nests more than MAX_NESTING levels (the first three keys of the path), if it does.

    Deeper models would validate, then break Python's recursion limit later: copying a model to
    worker processes, the app's cache key, an experiment's store. Walked with a stack, not recursion.
    """
    stack = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            return path
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) if depth < 3 else (v, path, depth + 1)
                         for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path, depth + 1) for v in value)
    return None


def parse_model(data: Any, source: str = "model") -> Model:
    """Validate a mapping (parsed YAML) into a :class:`Model`, or raise :class:`ModelError`."""
    if data is None:
        raise ModelError([Problem("(top level)", f"{source} is empty: a model file is a mapping with name, run, departments and customers")])
    if not isinstance(data, dict):
        raise ModelError([Problem("(top level)", f"{source} must be a mapping with name, run, departments "
                                  f"and customers (got {type(data).__name__})")])
    if "model" in data and "departments" not in data:  # the mirror of Experiment.from_dict's check
        raise ModelError([Problem("(top level)", f"{source} is an experiment file (it names a `model:`), not a "
                                  f"model: run it with `chainsim experiment {source}`, or give the model file it "
                                  "names")])
    if (deep := _too_deep(data)) is not None:
        raise ModelError([Problem(deep, f"nested more than {MAX_NESTING} levels deep (branches within branches, "
                                        "or consults within consults): flatten it into a sequence of steps")])
    try:
        return Model.model_validate(data)
    except ModelError:
        raise
    except ValidationError as exc:
        problems: list[Problem] = []
        for error in exc.errors(include_url=False):
            ctx = error.get("ctx") or {}
            nested = ctx.get("error")
            if isinstance(nested, ModelError):
                problems.extend(nested.problems)
                continue
            problems.append(Problem(_path(error["loc"]), plain_message(error)))
        raise ModelError(_dedupe(problems + reference_problems(data))) from None


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[str, str], Problem] = {}
    for p in problems:
        seen.setdefault((p.path, p.message), p)
    return list(seen.values())


def load_model(path: str | Path) -> Model:
    """Read and validate a model file; relative trace files are resolved next to it."""
    if not isinstance(path, (str, Path)):
        raise ModelError([Problem("model", f"give the path of a model file (got {type(path).__name__})")])
    path = Path(path)
    data = read_yaml(path)
    model = parse_model(data, source=str(path))
    return _resolve_traces(model, path.parent)


def as_model(model: Model | str | Path | dict) -> Model:
    """A Model as given, or one read from a file path or parsed from a mapping; ModelError for anything else."""
    if isinstance(model, Model):
        return model
    return parse_model(model) if isinstance(model, dict) else load_model(model)


def _file_digest(path: str) -> str:
    """SHA-256 of a file's bytes, or why it cannot be read (the run reports that, not the fingerprint)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        return f"unreadable: {type(exc).__name__}"


def _resolve_traces(model: Model, folder: Path) -> Model:
    changes = {}
    for cname, cls in model.customers.items():
        trace = cls.arrivals.trace
        if trace is not None and not Path(trace).is_absolute():
            changes[f"customers.{cname}.arrivals.trace"] = str((folder / trace).resolve())
    return model.with_changes(changes) if changes else model


Request.model_rebuild()
Serve.model_rebuild()
Option.model_rebuild()
Branch.model_rebuild()
