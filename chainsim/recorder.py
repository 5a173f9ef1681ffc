"""What happened in one replication, kept in flat typed arrays (a few bytes per event, no dicts).

Three tiers, as in the output reference: per external customer, per job (a step visit, an
internal request, a clarification answer), and per department (time-weighted integrals and the
queue-length / staff time series). :class:`Replication` hands them to :mod:`chainsim.metrics`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

# Where a customer's minutes go (attribution kinds), indexed dept * len(KINDS) + kind.
KINDS = ("queue", "service", "rework", "clarify", "interrupted")
QUEUE, SERVICE, REWORK, CLARIFY, INTERRUPTED = range(len(KINDS))

# How a customer's journey ended.
OUTCOMES = ("completed", "abandoned", "balked", "in_system")
COMPLETED, ABANDONED, BALKED, IN_SYSTEM = range(len(OUTCOMES))

# What a job is.
JOB_KINDS = ("step", "request", "answer", "interruption", "called_off")
STEP, REQUEST, ANSWER, INTERRUPTION, CALLED_OFF = range(len(JOB_KINDS))  # called_off: a request whose customer left


# A customer's row; "charged" counts the customer's attribution rows.
CUSTOMER_ROW = (("id", "i"), ("class", "i"), ("outcome", "i"), ("reworks", "i"), ("clarifications", "i"),
                ("churned", "i"), ("charged", "i"), ("arrival", "d"), ("end", "d"))
CUSTOMER_COLUMNS = ("id", "class", "arrival", "end", "outcome", "reworks", "clarifications", "churned")
JOB_ROW = (("customer", "i"), ("department", "i"), ("kind", "i"),
           ("queued", "d"), ("start", "d"), ("end", "d"), ("held", "d"))
# Minutes of a customer's time booked to dept * len(KINDS) + kind; the key is 16-bit, which
# model.MAX_DEPARTMENTS keeps it within. A customer may book one key several times: readers sum.
CHARGE_ROW = (("key", "h"), ("time", "d"))


def row_struct(row: tuple[tuple[str, str], ...]) -> struct.Struct:
    """Rows packed back to back in native byte order, no padding (a numpy structured dtype reads them)."""
    return struct.Struct("=" + "".join(code for _, code in row))


def row_dtype(row: tuple[tuple[str, str], ...]) -> np.dtype:
    return np.dtype([(name, "=" + {"h": "i2", "i": "i4", "d": "f8"}[code]) for name, code in row])


CHARGE = row_struct(CHARGE_ROW)
CHARGE_SIZE = CHARGE.size


class Recorder:
    """Appends rows to byte buffers and typed arrays; read by numpy once, at the end of the run.

    A customer's or a job's row is packed by one ``struct`` call (about half the cost of filling
    an int array and a float array), and is exactly the bytes of its fields.
    """

    def __init__(self) -> None:
        self.customers = bytearray()  # CUSTOMER_ROW, one per external customer
        self.jobs = bytearray()  # JOB_ROW, one per job
        self.attribution = bytearray()  # CHARGE_ROW, each customer's rows together
        self._customer_row = row_struct(CUSTOMER_ROW).pack
        self._job_row = row_struct(JOB_ROW).pack

    def customer(self, id: int, cls: int, arrival: float, end: float, outcome: int, reworks: int,
                 clarifies: int, churned: bool, charges: bytes) -> None:
        """`charges`: the customer's CHARGE_ROW rows, packed as they were booked (see engine.charge)."""
        self.customers += self._customer_row(id, cls, outcome, reworks, clarifies, churned,
                                             len(charges) // CHARGE_SIZE, arrival, end)
        self.attribution += charges

    def job(self, customer: int, dept: int, kind: int, queued: float, start: float, end: float,
            held: float) -> None:
        self.jobs += self._job_row(customer, dept, kind, queued, start, end, held)

    def nbytes(self) -> int:
        return len(self.customers) + len(self.jobs) + len(self.attribution)


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
        def columns(rows: bytearray, row: tuple[tuple[str, str], ...]) -> dict[str, np.ndarray]:
            """Packed rows as one array per column (views: nothing is copied)."""
            table = np.frombuffer(rows, dtype=row_dtype(row))
            return {name: table[name] for name, _ in row}

        column = columns(rec.customers, CUSTOMER_ROW)
        customers = {name: column[name] for name in CUSTOMER_COLUMNS}
        charged = column["charged"]  # each customer's attribution rows follow one another
        return cls(
            customers=customers,
            jobs=columns(rec.jobs, JOB_ROW),
            attribution={"count": charged, **columns(rec.attribution, CHARGE_ROW)},
            recorded_bytes=rec.nbytes(),
            **info,
        )
