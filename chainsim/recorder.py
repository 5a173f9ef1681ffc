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


# The integer columns of a customer's row; "charged" counts the customer's attribution rows.
CUSTOMER_INTS = ("id", "class", "outcome", "reworks", "clarifications", "churned", "charged")
CUSTOMER_COLUMNS = ("id", "class", "arrival", "end", "outcome", "reworks", "clarifications", "churned")


class Recorder:
    """Appends rows to typed arrays; converted to numpy once, at the end of the run."""

    def __init__(self) -> None:
        # per external customer, one row each (one call per array instead of one per column)
        self.c_ints = array("i")  # CUSTOMER_INTS
        self.c_times = array("d")  # arrival, end
        # per job, one row each
        self.j_ints = array("i")  # customer, department, kind
        self.j_times = array("d")  # queued, start, end, held
        # attribution: sparse (dept*kinds+kind, time units), each customer's rows together
        self.a_key = array("h")
        self.a_time = array("d")

    def customer(self, id: int, cls: int, arrival: float, end: float, outcome: int, reworks: int,
                 clarifies: int, churned: bool, charges: dict[int, float]) -> None:
        self.c_ints.fromlist([id, cls, outcome, reworks, clarifies, churned, len(charges)])
        self.c_times.fromlist([arrival, end])
        self.a_key.fromlist(list(charges))
        self.a_time.fromlist(list(charges.values()))

    def job(self, customer: int, dept: int, kind: int, queued: float, start: float, end: float,
            held: float) -> None:
        self.j_ints.fromlist([customer, dept, kind])
        self.j_times.fromlist([queued, start, end, held])

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
    reworks: int  # defective pieces of work done here
    redone_requests: int  # of those, internal requests redone (a visit with no job row of its own)
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

        def columns(rows: array, names: tuple[str, ...]) -> dict[str, np.ndarray]:
            """Rows kept flat in one array, as one array per column (views: nothing is copied)."""
            table = np_(rows).reshape(-1, len(names))
            return {name: table[:, i] for i, name in enumerate(names)}

        column = columns(rec.c_ints, CUSTOMER_INTS) | columns(rec.c_times, ("arrival", "end"))
        customers = {name: column[name] for name in CUSTOMER_COLUMNS}
        charged = column["charged"]  # each customer's attribution rows follow one another
        return cls(
            customers=customers,
            jobs=columns(rec.j_ints, ("customer", "department", "kind"))
            | columns(rec.j_times, ("queued", "start", "end", "held")),
            attribution={"count": charged, "key": np_(rec.a_key), "time": np_(rec.a_time)},
            recorded_bytes=rec.nbytes(),
            **info,
        )
