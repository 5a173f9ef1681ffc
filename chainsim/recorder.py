"""What happened in one replication, kept in flat typed arrays (a few bytes per event, no dicts).

Three tiers, as in the output reference: per external customer, per job (a step visit, an
internal request, a clarification answer), and per department (time-weighted integrals and the
queue-length / staff time series). :class:`Replication` hands them to :mod:`chainsim.metrics`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

# Where a customer's minutes go (attribution kinds), indexed dept * len(KINDS) + kind.
KINDS = ("queue", "service", "rework", "clarify", "interrupted")
QUEUE, SERVICE, REWORK, CLARIFY, INTERRUPTED = range(len(KINDS))

# How a customer's journey ended.
OUTCOMES = ("completed", "abandoned", "balked", "in_system")
COMPLETED, ABANDONED, BALKED, IN_SYSTEM = range(len(OUTCOMES))

# What a job is.
JOB_KINDS = ("step", "request", "answer", "interruption")
STEP, REQUEST, ANSWER, INTERRUPTION = range(len(JOB_KINDS))


class Recorder:
    """Appends rows to typed arrays; converted to numpy once, at the end of the run."""

    def __init__(self) -> None:
        # per external customer
        self.c_id = array("i")
        self.c_class = array("h")
        self.c_arrival = array("d")
        self.c_end = array("d")
        self.c_outcome = array("b")
        self.c_reworks = array("i")
        self.c_clarifies = array("i")
        self.c_churned = array("b")
        # per job
        self.j_customer = array("i")
        self.j_dept = array("h")
        self.j_kind = array("b")
        self.j_queued = array("d")
        self.j_start = array("d")
        self.j_end = array("d")
        self.j_held = array("d")
        # attribution: sparse (customer id, dept*kinds+kind, time units)
        self.a_customer = array("i")
        self.a_key = array("h")
        self.a_time = array("d")

    def customer(self, id: int, cls: int, arrival: float, end: float, outcome: int, reworks: int,
                 clarifies: int, churned: bool, charges: dict[int, float]) -> None:
        self.c_id.append(id)
        self.c_class.append(cls)
        self.c_arrival.append(arrival)
        self.c_end.append(end)
        self.c_outcome.append(outcome)
        self.c_reworks.append(reworks)
        self.c_clarifies.append(clarifies)
        self.c_churned.append(churned)
        for key, minutes in charges.items():
            self.a_customer.append(id)
            self.a_key.append(key)
            self.a_time.append(minutes)

    def job(self, customer: int, dept: int, kind: int, queued: float, start: float, end: float,
            held: float) -> None:
        self.j_customer.append(customer)
        self.j_dept.append(dept)
        self.j_kind.append(kind)
        self.j_queued.append(queued)
        self.j_start.append(start)
        self.j_end.append(end)
        self.j_held.append(held)

    def nbytes(self) -> int:
        return sum(a.itemsize * len(a) for a in vars(self).values() if isinstance(a, array))


@dataclass
class DepartmentRecord:
    """Time-weighted totals (after warm-up) and time series of one department."""

    name: str
    busy: float  # staff-time busy (own work, held on suppliers, interruptions)
    held: float  # staff-time held waiting on suppliers
    interrupted: float  # staff-time spent on interruptions
    available: float  # staff-time available (on duty, or still finishing a job)
    queue: float  # integral of queue length
    pool_busy: float  # pool staff-time spent here
    reworks: int
    clarifications: int  # questions this department had to answer
    queue_times: np.ndarray
    queue_lengths: np.ndarray
    staff_times: np.ndarray
    staff_levels: np.ndarray


@dataclass
class Replication:
    """Everything one run recorded, with the seed and the times that frame it."""

    replication: int
    seed: int
    warmup: float
    horizon: float
    end: float  # when the run stopped (horizon, or later while draining)
    classes: list[str]
    departments: list[str]
    customers: dict[str, np.ndarray]
    jobs: dict[str, np.ndarray]
    attribution: dict[str, np.ndarray]
    department_records: list[DepartmentRecord]
    pools: dict[str, dict[str, float]] = field(default_factory=dict)
    recorded_bytes: int = 0

    @classmethod
    def from_recorder(cls, rec: Recorder, **info) -> Replication:
        def np_(a: array) -> np.ndarray:
            return np.frombuffer(a, dtype=a.typecode) if len(a) else np.zeros(0, dtype=a.typecode)

        return cls(
            customers={"id": np_(rec.c_id), "class": np_(rec.c_class), "arrival": np_(rec.c_arrival), "end": np_(rec.c_end),
                       "outcome": np_(rec.c_outcome), "reworks": np_(rec.c_reworks),
                       "clarifications": np_(rec.c_clarifies), "churned": np_(rec.c_churned)},
            jobs={"customer": np_(rec.j_customer), "department": np_(rec.j_dept), "kind": np_(rec.j_kind),
                  "queued": np_(rec.j_queued), "start": np_(rec.j_start), "end": np_(rec.j_end),
                  "held": np_(rec.j_held)},
            attribution={"customer": np_(rec.a_customer), "key": np_(rec.a_key), "time": np_(rec.a_time)},
            recorded_bytes=rec.nbytes(),
            **info,
        )
