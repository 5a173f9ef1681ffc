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
CUSTOMER_DTYPES = {"class": np.int16, "outcome": np.int8, "churned": np.int8}
CUSTOMER_COLUMNS = ("id", "class", "arrival", "end", "outcome", "reworks", "clarifications", "churned")


class Recorder:
    """Appends rows to typed arrays; converted to numpy once, at the end of the run."""

    def __init__(self) -> None:
        # per external customer, one row each (one call per array instead of one per column)
        self.c_ints = array("i")  # CUSTOMER_INTS
        self.c_times = array("d")  # arrival, end
        # per job
        self.j_customer = array("i")
        self.j_dept = array("h")
        self.j_kind = array("b")
        self.j_queued = array("d")
        self.j_start = array("d")
        self.j_end = array("d")
        self.j_held = array("d")
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

        ints = np_(rec.c_ints).reshape(-1, len(CUSTOMER_INTS))
        times = np_(rec.c_times).reshape(-1, 2)
        column = {name: ints[:, i].astype(CUSTOMER_DTYPES.get(name, np.int32)) for i, name in enumerate(CUSTOMER_INTS)}
        column["arrival"], column["end"] = times[:, 0].copy(), times[:, 1].copy()
        customers = {name: column[name] for name in CUSTOMER_COLUMNS}
        charged = column["charged"]
        return cls(
            customers=customers,
            jobs={"customer": np_(rec.j_customer), "department": np_(rec.j_dept), "kind": np_(rec.j_kind),
                  "queued": np_(rec.j_queued), "start": np_(rec.j_start), "end": np_(rec.j_end),
                  "held": np_(rec.j_held)},
            attribution={"customer": np.repeat(customers["id"], charged), "key": np_(rec.a_key),
                         "time": np_(rec.a_time)},
            recorded_bytes=rec.nbytes(),
            **info,
        )
