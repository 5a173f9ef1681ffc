"""The event loop: departments, external customers' journeys and internal requests, on SimPy.

Read top to bottom:

1. ``Job``: one piece of work at a department (a journey step, an internal request, an
   interruption), scheduled on SimPy's clock as the event of its own completion (``Due``);
   ``urgent``, the event staff changes use to come first; and ``charge``, which books a
   customer's minutes to (department, kind).
2. ``Department``: staff on duty, a queue, and three verbs: ``submit`` (start now or queue),
   ``work`` (keep one staff member busy for a time) and ``release``.
3. ``Pool``: cross-trained staff who step in where a queue forms.
4. ``Simulation``: customers arrive and walk their journey (serve, consult, clarify, rework,
   branch, abandon, balk); the clock around them (schedules, absence, outages, interruptions,
   warm-up, horizon, drain); and ``simulate_replication``, which runs one replication.

Every service completion is a single scheduled SimPy event (the job itself) whose callback moves
the job on; there is no process per customer. Same-time events run in the order they were scheduled
(SimPy's event id), so a run is a pure function of the model and the seed. docs/engine.md tells
how a delay at an internal supplier reaches the external customer and where each minute is charged.
"""

from __future__ import annotations

import heapq
import itertools
import math
from array import array
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np
import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, Event, Timeout

from chainsim.distributions import Sampler
from chainsim.errors import RunLimitError
from chainsim.model import Department as DepartmentSpec
from chainsim.model import Model
from chainsim.plan import BranchPlan, ClassPlan, RequestPlan, ServePlan, compile_model, day_segments
from chainsim.recorder import (
    ABANDONED,
    ANSWER,
    BALKED,
    CALLED_OFF,
    CHARGE,
    CLARIFY,
    COMPLETED,
    IN_SYSTEM,
    INTERRUPTED,
    INTERRUPTION,
    KINDS,
    QUEUE,
    REQUEST,
    REWORK,
    SERVICE,
    STEP,
    DepartmentRecord,
    Recorder,
    Replication,
)
from chainsim.streams import Streams

NK = len(KINDS)
pack_charge = CHARGE.pack
WAITING, IN_SERVICE, DONE, GONE = range(4)  # job states
INF = math.inf
# Ranks in a priority queue: far apart from the classes' priorities (at most model.MAX_PRIORITY).
INTERRUPTION_PRIORITY = 10**9  # interruptions go ahead of every other job
INTERNAL_BOOST = {"high": 10**6, "same": 0, "low": -(10**6)}
NO_CALLBACKS: tuple[()] = ()  # what a called-off job's completion, still on the clock, calls


# --- 1. jobs and where their minutes are charged ------------------------------------------------


class Due:
    """Something SimPy's clock calls back without an Event object of its own.

    ``Environment.step`` reads only an event's ``callbacks`` (and sets them to None) and ``_ok``,
    so a job's completion and a class's next arrival are scheduled as themselves: no new Timeout
    per service or arrival. Each is scheduled at most once at a time.
    """

    callbacks = None  # while scheduled: what SimPy calls when it is due
    _ok = True  # never fails


class Job(Due):
    """One piece of work at a department, with what to do when its staff member is assigned.

    The job is the event of its own completion (see ``Department.work``).
    """

    # Class-level defaults for what most jobs never change: a new job only stores the fields
    # set in __init__, which makes creating one per visit cheaper than filling 36 slots.
    state = WAITING
    preempts = False  # may pause lower-priority work on arrival
    start = -1.0  # first time a staff member was assigned
    remaining = None  # own work left after a preemption
    preempted_by = -1  # kind of job that preempted it
    work_event = None  # the pending completion of its own work
    by_pool = None  # the pool whose member serves it, if not the department's own staff
    held = 0.0  # time its staff member was held waiting on suppliers
    holder = None  # for a request: the job that waits on it
    answer_free = -INF  # when its staff member is free to answer the next clarification
    wait_token = 0  # invalidates patience timers that no longer apply
    abandoned = False
    on_hold = False  # held waiting on suppliers (consult phase)
    paused = None  # for a job that preempted another: the one it paused
    requests = None  # for a holder: its requests not yet back, called off if its customer leaves

    def __init__(self, customer, plan, dept, kind, priority, seq, charges, cause, started, now):
        self.customer = customer  # the external customer this work is for (None: interruption)
        self.plan = plan
        self.dept = dept
        self.kind = kind
        self.priority = priority
        self.seq = seq
        self.charges = charges  # the bytearray of charge rows to book into (see charge), or None
        self.cause = cause  # department whose error this work redoes, or -1
        self.started = started  # called when a staff member is assigned
        self.created = now  # submit() sets queued_at, and state when it queues


def urgent(env: simpy.Environment, delay: float) -> Event:
    """An event due after `delay` that runs before the other events due then: staff changes come
    first, so a job or an interruption arriving as a shift starts finds that shift on duty."""
    event = Event(env)
    event._ok, event._value = True, None
    env.schedule(event, URGENT, delay)
    return event


def charge(job: Job, dept: int, kind: int, minutes: float) -> None:
    """Book minutes of the customer's time; rework is booked to the department that caused it.

    A row per booking, packed (recorder.CHARGE_ROW): cheaper than summing into a dict by key, and
    as small, since a customer seldom books one key twice.
    """
    charges = job.charges
    if charges is not None and minutes:
        cause = job.cause
        charges += pack_charge(cause * NK + REWORK if cause >= 0 else dept * NK + kind, minutes)


def charged(charges: bytearray) -> float:
    """The minutes booked in these charges."""
    return sum(minutes for _, minutes in CHARGE.iter_unpack(charges))


# --- 2. departments --------------------------------------------------------------------------


class Department:
    """Staff, a queue, and time-weighted totals of what the staff did."""

    def __init__(self, env: simpy.Environment, index: int, name: str, spec: DepartmentSpec,
                 order: Iterator[int]):
        self.env = env
        self.order = order  # the simulation's running count: ties in a priority queue go first-come
        self.index = index
        self.name = name
        self.spec = spec
        self.internal_boost = INTERNAL_BOOST[spec.internal_priority]
        self.capacity = 0  # staff on duty now
        self.scheduled = spec.staff or 0
        self.absent_today = 0  # of the head count, out all day today
        self.absent = 0  # of those, the ones due on the shift on duty now
        self.absence_rng: np.random.Generator | None = None  # who of the head count works this shift
        self.settling = False  # staff changed now; the queue is served once all changes due now are in
        self.out = 0
        self.busy = 0  # own staff with a job: working, held on suppliers, or interrupted
        self.held = 0  # of those, held waiting on suppliers
        self.interrupting = 0  # of those, on an interruption
        self.pool_busy = 0  # pool staff working here
        self.waiting = 0
        self.pools: list[Pool] = []
        self.by_priority = spec.discipline != "fifo"  # else only interruptions jump the queue
        self.prioritised = self.by_priority or spec.interruptions is not None
        self.queue: list | deque = [] if self.prioritised else deque()
        interrupts = spec.interruptions is not None and spec.interruptions.mode == "preempt"
        self.preemptive_priority = spec.discipline == "preemptive"
        self.preemptive = self.preemptive_priority or interrupts
        self.in_work: list[Job] = []  # jobs doing own work, for preemption
        self.on_worked = [self._worked]
        # Set by the simulation when customers' patience can run: a customer's step sent back to the
        # queue by higher-priority work (not by an interruption) is waiting in a queue again.
        self.on_requeued: Callable[[Job], None] | None = None
        self.on_resumed: Callable[[Job], None] | None = None
        # counts after the warm-up (reset_totals)
        self.reworks = 0
        self.redone_requests = 0  # of those reworks, requests redone: another visit, but no new job row
        self.clarifications = 0
        # Time-weighted totals with no clock tick: the integral of a count n from 0 to T is
        # n(T)*T - sum(change * t) over its changes, so each change books one product into acc_*.
        self.acc_busy = self.acc_held = self.acc_interrupting = self.acc_pool = 0.0
        self.acc_capacity = self.acc_overtime = self.acc_queue = 0.0
        self.queue_times = array("d", [0.0])  # typed arrays: 12 bytes a change instead of ~40 in lists
        self.queue_lengths = array("i", [0])
        self.staff_times = array("d")
        self.staff_levels = array("i")

    def submit(self, job: Job) -> None:
        """Start the job if a staff member is free (own, else pool), else queue it."""
        job.queued_at = now = self.env._now
        if self.busy < self.capacity:
            if self.settling:  # staff changed just now: the queue is served in its order first
                self.enqueue(job)
                return
            self.busy += 1
            self.acc_busy -= now
            self.begin(job, None)
            return
        for pool in self.pools:
            if pool.free:
                pool.take(self, job)
                return
        if job.preempts and self.preempt_for(job):
            return
        self.enqueue(job)

    def begin(self, job: Job, pool: Pool | None) -> None:
        """A staff member is assigned (busy already counted): book the wait, then go on."""
        now = self.env._now
        job.state = IN_SERVICE
        job.by_pool = pool
        if job.start < 0.0:
            job.start = now
        if now > job.queued_at:
            charge(job, self.index, INTERRUPTED if job.preempted_by == INTERRUPTION else QUEUE, now - job.queued_at)
        if job.remaining is not None:  # resume preempted work with the time it had left
            if self.on_resumed is not None and job.preempted_by != INTERRUPTION:
                self.on_resumed(job)
            remaining, job.remaining, job.preempted_by = job.remaining, None, -1
            self.work(job, remaining, job.then)
        else:
            job.started(job)

    def work(self, job: Job, duration: float, then) -> None:
        """Keep the job's staff member busy for `duration`, then call then(job)."""
        now = self.env._now
        job.then = then
        job.work_started = now
        if self.preemptive:  # a preempted job leaves its completion behind: give each its own event
            job.work_end = now + duration
            self.in_work.append(job)
            event = Timeout(self.env, duration, job)
            job.work_event = event
            event.callbacks.append(self._preemptible_worked)
        else:
            job.callbacks = self.on_worked
            # SimPy's env.schedule(job, NORMAL, duration) written out (its queue entry, as in the run
            # loop): a call fewer for the commonest event; see docs/engine.md, "What keeps it fast".
            env = self.env
            heapq.heappush(env._queue, (env._now + duration, NORMAL, next(env._eid), job))

    def _preemptible_worked(self, event: Timeout) -> None:
        job = event._value
        if job.work_event is not event:  # preempted meanwhile; a later event will finish it
            return
        job.work_event = None
        self.in_work.remove(job)
        self._worked(job)

    def _worked(self, job: Job) -> None:
        charge(job, self.index, SERVICE, self.env._now - job.work_started)
        job.then(job)

    def release(self, job: Job) -> None:
        """The job's staff member is free: take the next job from the queue."""
        now = self.env._now
        job.state = DONE
        pool = job.by_pool
        if pool is None:
            if self.waiting and self.busy <= self.capacity:  # the staff member takes the next job
                self.begin(self.pop(), None)
                return
            paused = job.paused
            if paused is not None and paused.state == WAITING and self.busy > self.capacity:
                self.take_back(paused)
                return
            if self.busy > self.capacity:  # past the end of their shift: they go now
                self.acc_overtime += now
            self.busy -= 1
            self.acc_busy += now
        else:
            self.pool_busy -= 1
            self.acc_pool += now
            pool.free += 1
            pool.acc_busy += now
        if self.waiting:
            self.start_next()
        if pool is not None:
            pool.dispatch()

    def start_next(self) -> None:
        """Give free staff the next waiting jobs."""
        while self.waiting and self.busy < self.capacity:
            job = self.pop()
            self.busy += 1
            self.acc_busy -= self.env._now
            self.begin(job, None)

    def enqueue(self, job: Job, front: bool = False) -> None:
        now = self.env._now
        job.state = WAITING
        self.waiting += 1
        self.acc_queue -= now
        if self.prioritised:
            rank = job.priority if self.by_priority or job.kind == INTERRUPTION else 0
            # A job back in the queue (after a clarification or a rework) waits behind those already
            # there; one paused by a preemption keeps its place from when it was created.
            heapq.heappush(self.queue, (-rank, job.seq if front else next(self.order), job))
        elif front:
            self.queue.appendleft(job)
        else:
            self.queue.append(job)
        self.queue_times.append(now)
        self.queue_lengths.append(self.waiting)

    def pop(self) -> Job:
        """Next waiting job (skipping ones that abandoned); the caller assigns it a staff member."""
        queue = self.queue
        while True:
            job = heapq.heappop(queue)[2] if self.prioritised else queue.popleft()
            if job.state == WAITING:
                break
        now = self.env._now
        self.waiting -= 1
        self.acc_queue += now
        self.queue_times.append(now)
        self.queue_lengths.append(self.waiting)
        return job

    def customers_waiting(self) -> int:
        """External customers' steps in the queue: what a walk-in sees (internal requests and calls
        in the queue are not standing in line)."""
        jobs = (entry[2] for entry in self.queue) if self.prioritised else self.queue
        return sum(1 for job in jobs if job.kind == STEP and job.state == WAITING)

    def take_back(self, job: Job) -> None:
        """A staff member past the end of their shift first finishes the job that the one they just
        finished paused: it was in hand. Its queue entry goes (a preempting department's queue is a
        heap), so it cannot come up again should the job queue anew."""
        self.queue.remove(next(entry for entry in self.queue if entry[2] is job))
        heapq.heapify(self.queue)
        self.withdraw(job)
        self.begin(job, None)

    def withdraw(self, job: Job) -> None:
        """A waiting job leaves the queue out of turn (abandonment, a request called off, or taken back);
        an entry left in the queue is skipped when it comes up."""
        job.state = GONE
        self.waiting -= 1
        self.acc_queue += self.env._now
        self.queue_times.append(self.env._now)
        self.queue_lengths.append(self.waiting)

    def preempt_for(self, job: Job) -> bool:
        """Pause the lowest-priority job in own work for `job` (preempt-resume), if there is one.

        Staff going off duty finish their job and take no new one. Staff are interchangeable (the
        first to finish is the one who goes), so while anyone is on duty, the staff member of the
        paused job can be taken to be one of them; with nobody on duty, only pool members' jobs can
        be paused.
        """
        nobody_on_duty, now = self.capacity == 0, self.env._now
        victim = None
        for other in self.in_work:
            if nobody_on_duty and other.by_pool is None:
                continue
            if other.work_end <= now:  # finishing at this very moment: nothing left to pause
                continue
            if other.priority < job.priority and (
                    victim is None or (other.priority, -other.seq) < (victim.priority, -victim.seq)):
                victim = other
        if victim is None:
            return False
        self.in_work.remove(victim)
        job.paused = victim
        victim.work_event = None
        charge(victim, self.index, SERVICE, now - victim.work_started)
        victim.remaining = victim.work_end - now
        victim.preempted_by = job.kind
        pool = victim.by_pool
        self.enqueue(victim, front=True)
        victim.queued_at = now
        if self.on_requeued is not None and job.kind != INTERRUPTION:
            self.on_requeued(victim)
        self.begin(job, pool)
        return True

    def hold(self, job: Job, change: int) -> None:
        """The job's staff member starts (+1) or stops (-1) waiting on suppliers (own staff only:
        pool members' time is in the pool's totals)."""
        if job.by_pool is None:
            self.held += change
            self.acc_held -= change * self.env._now

    def count_interruption(self, job: Job, change: int) -> None:
        """An own staff member starts (+1) or ends (-1) an interruption."""
        if job.by_pool is None:
            self.interrupting += change
            self.acc_interrupting -= change * self.env._now

    def set_staffing(self, scheduled: int | None = None, absent_today: int | None = None,
                     out: int | None = None) -> None:
        """Staff on duty changed (shift, absence, outage); staff going off duty finish their job. The
        queue is served once every change due now is in (_staffing_settled)."""
        now = self.env._now
        capacity, overtime = self.capacity, self.overtime
        if scheduled is not None:
            self.scheduled = scheduled
        if absent_today is not None:
            self.absent_today = absent_today
        if out is not None:
            self.out = out
        if scheduled is not None or absent_today is not None:
            self.absent = self._absent_on_shift()
        self.capacity = max(0, self.scheduled - self.absent - self.out)
        self.acc_capacity -= (self.capacity - capacity) * now
        self.acc_overtime -= (self.overtime - overtime) * now
        if not self.settling:  # after every staff change due now (they are urgent too, and came first)
            self.settling = True
            urgent(self.env, 0).callbacks.append(self._staffing_settled)

    def _staffing_settled(self, _event: Event) -> None:
        """Every staff change due now is in (a shift, the day's absence and an outage can fall on one
        instant): record the level, then give free staff the waiting jobs. Served after each change
        instead, the queue was served at a level that held for no time at all."""
        self.settling = False
        self.staff_times.append(self.env._now)
        self.staff_levels.append(self.capacity)
        self.start_next()
        for pool in self.pools:
            pool.dispatch()

    def _absent_on_shift(self) -> int:
        """Today's absent people who were due on this shift. A shift's staff are a random draw from
        the head count (hypergeometric), so every shift loses, on average, the day's share of absent
        staff, without rounding a small shift's share up to a whole person."""
        if self.absent_today == 0:
            return 0
        head = self.spec.head_count
        return int(self.absence_rng.hypergeometric(self.absent_today, head - self.absent_today, min(self.scheduled, head)))

    @property
    def overtime(self) -> int:
        """Staff still finishing a job after going off duty."""
        return max(0, self.busy - self.capacity)

    def _counts(self) -> tuple[int, ...]:
        return (self.busy, self.held, self.interrupting, self.pool_busy, self.capacity, self.overtime, self.waiting)

    def reset_totals(self) -> None:
        """Count the time-weighted totals and the counts from now on (end of warm-up)."""
        now = self.env._now
        (self.acc_busy, self.acc_held, self.acc_interrupting, self.acc_pool, self.acc_capacity, self.acc_overtime,
         self.acc_queue) = (-n * now for n in self._counts())
        self.reworks = self.redone_requests = self.clarifications = 0

    def record(self) -> DepartmentRecord:
        now = self.env._now
        busy, held, interrupted, pool, capacity, overtime, queue = (
            acc + n * now for acc, n in zip(
                (self.acc_busy, self.acc_held, self.acc_interrupting, self.acc_pool, self.acc_capacity,
                 self.acc_overtime, self.acc_queue), self._counts(), strict=True))
        return DepartmentRecord(
            name=self.name, busy=busy, held=held, interrupted=interrupted,
            available=capacity + overtime, queue=queue, pool_busy=pool,
            reworks=self.reworks, redone_requests=self.redone_requests, clarifications=self.clarifications,
            queue_times=np.frombuffer(self.queue_times, dtype=float),
            queue_lengths=np.frombuffer(self.queue_lengths, dtype=np.int32),
            staff_times=np.frombuffer(self.staff_times, dtype=float) if self.staff_times else np.zeros(0),
            staff_levels=np.frombuffer(self.staff_levels, dtype=np.int32) if self.staff_levels else np.zeros(0, np.int32),
        )


# --- 3. cross-trained pools --------------------------------------------------------------------


class Pool:
    """Cross-trained staff: a free member takes a job where a department's own staff are all busy."""

    def __init__(self, name: str, staff: int, departments: list[Department], rule: str):
        self.name = name
        self.staff = staff
        self.free = staff
        self.departments = departments
        self.longest_queue = rule == "longest_queue"
        # Its own staff-time busy (as Department's acc_*): a department served by two pools
        # cannot tell from its own totals which pool's member did the work.
        self.acc_busy = 0.0

    def take(self, dept: Department, job: Job) -> None:
        self.free -= 1
        self.acc_busy -= dept.env._now
        dept.pool_busy += 1
        dept.acc_pool -= dept.env._now
        dept.begin(job, self)

    def reset_totals(self, now: float) -> None:
        self.acc_busy = -(self.staff - self.free) * now

    def busy_time(self, now: float) -> float:
        return self.acc_busy + (self.staff - self.free) * now

    def dispatch(self) -> None:
        """Send free members to waiting work: longest queue first, or the first in the list."""
        while self.free:
            queues = [d for d in self.departments if d.waiting]
            if not queues:
                return
            dept = max(queues, key=lambda d: d.waiting) if self.longest_queue else queues[0]
            job = dept.pop()
            self.take(dept, job)


# --- 4. the simulation: customers, journeys and the clock -----------------------------------


class NextArrival(Due):
    """A customer class's next arrival, scheduled as itself (see Due)."""

    def __init__(self, cls: ClassPlan):
        self.cls = cls


class Customer:
    __slots__ = ("id", "cls", "arrived", "charges", "cause", "rework_step", "redo",
                 "patience", "reworks", "clarifies", "first", "routes")

    def __init__(self, id: int, cls: ClassPlan, now: float):
        self.id = id
        self.cls = cls
        self.arrived = now
        self.charges = bytearray()  # minutes booked to dept * NK + kind, packed rows (see charge)
        self.cause = -1  # department whose error is being reworked, or -1
        self.rework_step = None  # the step whose error started the rework
        self.redo: set[ServePlan] | None = None  # steps to take with their rework time when next reached
        self.routes: dict[BranchPlan, ServePlan | BranchPlan | None] | None = None  # at remembered branches
        self.patience = cls.patience.draw() if cls.patience is not None else INF
        self.reworks = 0
        self.clarifies = 0
        self.first = True


class Simulation:
    """One replication of a model: build the departments, run the clock, return the records."""

    def __init__(self, model: Model, replication: int = 0, seed: int | None = None):
        self.model = model
        self.seed = model.run.seed if seed is None else seed
        self.replication = replication
        self.env = simpy.Environment()
        self.streams = Streams(self.seed, replication)
        self.plan = compile_model(model, self.streams)
        self.seq = itertools.count()  # creation order of jobs, and queue order among equals
        self.departments = [Department(self.env, i, name, spec, self.seq)
                            for i, (name, spec) in enumerate(model.departments.items())]
        by_name = {d.name: d for d in self.departments}
        self.pools = [Pool(name, p.staff, [by_name[d] for d in p.serves], p.rule) for name, p in model.pools.items()]
        for pool in self.pools:
            for dept in pool.departments:
                dept.pools.append(pool)
        if any(cls.patience is not None for cls in self.plan.classes):
            for dept in self.departments:
                if dept.preemptive_priority:
                    dept.on_requeued, dept.on_resumed = self._step_requeued, self._step_resumed
        self.rec = Recorder()
        self.horizon = model.run.horizon
        self.max_customers = model.run.max_customers
        self.arrived = 0
        self.alive: dict[int, Customer] = {}
        self.closed = False
        self.stop = self.env.event()
        self.on_arrival = [self._arrive]  # SimPy reads callback lists and drops them; they never change

    # -- arrivals --

    def _schedule_arrival(self, arrival: NextArrival, at: float) -> None:
        """The class's next arrival is due at `at`, unless that is past the horizon."""
        if at < self.horizon:
            arrival.callbacks = self.on_arrival
            env = self.env  # env.schedule written out, at `at` itself (see Department.work)
            heapq.heappush(env._queue, (at, NORMAL, next(env._eid), arrival))

    def _arrive(self, arrival: NextArrival) -> None:
        """A class's customers arrive (one, or a batch) and start their journeys; the next arrival is due."""
        cls = arrival.cls
        size = max(1, round(cls.batch.draw())) if cls.batch is not None else 1
        for _ in range(size):
            if self.arrived >= self.max_customers:
                raise RunLimitError(
                    f"more than run.max_customers = {self.max_customers:,} customers arrived in one "
                    "replication: shorten run.horizon, lower the arrival rates, or raise run.max_customers")
            customer = Customer(self.arrived, cls, self.env._now)
            self.arrived += 1
            self.alive[customer.id] = customer
            self._advance(customer, cls.journey)
        self._schedule_arrival(arrival, cls.arrivals.next())

    # -- the journey: steps and branches --

    def _advance(self, c: Customer, step: ServePlan | BranchPlan | None) -> None:
        """Take the customer to `step`, through branches; finish at the end of the journey."""
        while step.__class__ is BranchPlan:
            step = self._route(c, step) if step.remembered else step.choose()
        if step is None:
            self._customer_done(c, COMPLETED)
        else:
            self._serve(c, step)

    def _route(self, c: Customer, branch: BranchPlan) -> ServePlan | BranchPlan | None:
        """The option this customer took at the branch before, else a new choice (see remembered)."""
        if c.routes is None:
            c.routes = {}
        if branch not in c.routes:
            c.routes[branch] = branch.choose()
        return c.routes[branch]

    def _serve(self, c: Customer, plan: ServePlan) -> None:
        dept = self.departments[plan.dept]
        if c.first:
            c.first = False
            balk_at = c.cls.balk_at
            if balk_at is not None and dept.waiting >= balk_at and dept.customers_waiting() >= balk_at:
                self._customer_done(c, BALKED)
                return
        if c.redo and plan in c.redo:  # several can be pending: an earlier step may err on the way back
            c.redo.discard(plan)
            time = plan.rework_time.draw()
        else:
            time = plan.time.draw()
        job = Job(c, plan, dept, STEP, c.cls.priority, next(self.seq), c.charges, c.cause, self._step_started,
                  self.env._now)
        job.time = time
        if dept.preemptive_priority:
            job.preempts = True
        dept.submit(job)
        if job.state == WAITING and c.patience < INF:
            self._patience_timer(job, c.patience)

    def _step_started(self, job: Job) -> None:
        c = job.customer
        if c.patience < INF:
            c.patience -= self.env._now - job.queued_at
            job.wait_token += 1  # cancels the patience timer of the queue it just left
        plan = job.plan
        if plan.consult is None:  # the common case: own work, then done
            job.dept.work(job, job.time, self._step_done)
        elif plan.consult_first:
            self._consult(job, plan.consult, self._step_own_work)
        else:
            job.dept.work(job, job.time, self._step_worked)

    def _step_requeued(self, job: Job) -> None:
        """A step paused for higher-priority work waits in the queue again: patience runs on."""
        if job.kind == STEP and job.customer.patience < INF:
            self._patience_timer(job, job.customer.patience)

    def _step_resumed(self, job: Job) -> None:
        """The paused step has its staff member back: the wait since the pause uses up patience."""
        c = job.customer
        if job.kind == STEP and c.patience < INF:
            c.patience -= self.env._now - job.queued_at
            job.wait_token += 1  # cancels the patience timer of the queue it just left

    def _step_own_work(self, job: Job) -> None:
        job.dept.work(job, job.time, self._step_done)

    def _step_worked(self, job: Job) -> None:
        self._consult(job, job.plan.consult, self._step_done)

    def _step_done(self, job: Job) -> None:
        """Release the staff member; defective work goes back (rework), else the journey goes on."""
        dept, c, plan = job.dept, job.customer, job.plan
        dept.release(job)
        self.rec.job(c.id, dept.index, STEP, job.created, job.start, self.env._now, job.held)
        if plan.error.p and plan.error.flip():
            c.reworks += 1
            dept.reworks += 1
            if c.cause < 0:
                c.cause, c.rework_step = dept.index, plan
            if c.redo is None:
                c.redo = set()
            c.redo.add(plan)
            self._advance(c, plan.rework_target or plan)  # back to the rework_to step, else this one
            return
        if c.rework_step is plan:
            c.cause, c.rework_step = -1, None
        self._advance(c, plan.next)

    # -- consults: internal requests made while holding the staff member --

    def _consult(self, holder: Job, items: list, then) -> None:
        holder.items, holder.item_index, holder.after_consult = items, 0, then
        holder.held_since = self.env._now
        holder.on_hold = True
        holder.dept.hold(holder, +1)
        c = holder.customer
        if holder.kind == STEP and c.cls.patience_on_hold and c.patience < INF:
            self._patience_timer(holder, c.patience)
        self._next_consult(holder)

    def _next_consult(self, holder: Job) -> None:
        """Send the next request (or parallel set); when none is left, go on holding-free."""
        i = holder.item_index
        if i == len(holder.items):
            now = self.env._now
            holder.held += now - holder.held_since
            holder.on_hold = False
            holder.dept.hold(holder, -1)
            c = holder.customer
            if holder.kind == STEP and c.cls.patience_on_hold:
                holder.wait_token += 1  # cancels the patience timer running on hold
                c.patience -= now - holder.held_since
            holder.after_consult(holder)
            return
        holder.item_index = i + 1
        item = holder.items[i]
        if item.__class__ is RequestPlan:
            self._request(holder, item, holder.charges, self._request_back)
        else:
            holder.pending = len(item)
            for request in item:  # each branch books into its own rows; the last back is the critical path
                charges = bytearray() if holder.charges is not None else None
                self._request(holder, request, charges, self._parallel_back)

    def _request(self, holder: Job, plan: RequestPlan, charges, back) -> None:
        dept = self.departments[plan.dept]
        job = Job(holder.customer, plan, dept, REQUEST, holder.customer.cls.priority + dept.internal_boost,
                  next(self.seq), charges, holder.cause, self._request_started, self.env._now)
        job.holder, job.back, job.time = holder, back, plan.time.draw()
        if dept.preemptive_priority:
            job.preempts = True
        if holder.requests is None:
            holder.requests = []
        holder.requests.append(job)
        dept.submit(job)

    def _request_started(self, job: Job) -> None:
        plan = job.plan
        if plan.clarify is not None and plan.clarify.flip():
            self._ask_back(job)
        else:
            job.dept.work(job, job.time, self._request_worked)

    def _request_worked(self, job: Job) -> None:
        if job.plan.consult is not None:
            self._consult(job, job.plan.consult, self._request_done)
        else:
            self._request_done(job)

    def _request_done(self, job: Job) -> None:
        dept, plan = job.dept, job.plan
        dept.release(job)
        if plan.error.p and plan.error.flip():  # defective: the supplier redoes it before it goes back
            dept.reworks += 1
            dept.redone_requests += 1
            job.customer.reworks += 1
            if job.cause < 0:
                job.cause = dept.index
            job.time = plan.rework_time.draw()
            dept.submit(job)
            return
        self.rec.job(job.customer.id, dept.index, REQUEST, job.created, job.start, self.env._now, job.held)
        job.holder.requests.remove(job)
        job.back(job)

    def _request_back(self, job: Job) -> None:
        self._next_consult(job.holder)

    def _parallel_back(self, job: Job) -> None:
        holder = job.holder
        holder.pending -= 1
        if holder.pending == 0:
            if job.charges is not None:
                holder.charges += job.charges
            self._next_consult(holder)

    # -- clarification: the supplier asks back, the requester's staff member answers --

    def _ask_back(self, job: Job) -> None:
        """An unclear request: the supplier hands it back; the holder answers, then it queues again."""
        job.dept.release(job)
        holder = job.holder
        holder.dept.clarifications += 1
        job.customer.clarifies += 1
        now = self.env._now
        answer = job.plan.answer_time.draw()
        job.asked_at = now
        job.answer_start = max(now, holder.answer_free)  # one holder answers one question at a time
        holder.answer_free = job.answer_start + answer
        Timeout(self.env, holder.answer_free - now, job).callbacks.append(self._answered)

    def _answered(self, event: Timeout) -> None:
        job = event._value
        if job.state == GONE:  # called off: its customer left while the question was being answered
            return
        now = self.env._now
        requester = job.holder.dept.index
        charge(job, requester, CLARIFY, now - job.asked_at)
        self.rec.job(job.customer.id, requester, ANSWER, job.asked_at, job.answer_start, now, 0.0)
        job.dept.submit(job)

    # -- abandonment --

    def _patience_timer(self, job: Job, patience: float) -> None:
        job.wait_token += 1
        Timeout(self.env, max(0.0, patience), (job, job.wait_token)).callbacks.append(self._patience_out)

    def _patience_out(self, event: Timeout) -> None:
        job, token = event._value
        if token != job.wait_token or job.abandoned:
            return
        now, c, dept = self.env._now, job.customer, job.dept
        if job.state == WAITING:
            dept.withdraw(job)
            charge(job, dept.index, QUEUE, now - job.queued_at)
        elif job.on_hold:
            # Gone while held on a consult: the staff member is freed; the supplier's unfinished
            # part is booked to that supplier as waiting, so the customer's minutes still add up.
            job.held += now - job.held_since
            job.on_hold = False
            dept.hold(job, -1)
            self._call_off(job.requests)  # before the staff member is free to take one of them up
            dept.release(job)
            current = job.items[job.item_index - 1]
            supplier = (current if current.__class__ is RequestPlan else current[0]).dept
            charge(job, supplier, QUEUE, (now - c.arrived) - charged(c.charges))
        else:
            return
        job.abandoned = True
        self.rec.job(c.id, dept.index, STEP, job.created, job.start, now, job.held)
        self._customer_done(c, ABANDONED)

    def _call_off(self, requests: list[Job]) -> None:
        """The customer these requests are for has left: stop them, and the requests they made in turn.

        Queued, a request leaves its queue; asked back, its answer is dropped; in work, its staff
        member stops and takes the next job; held on its own consult, its staff member is freed. All
        queued ones leave first, so no staff member freed here takes up another of them. Each gets a
        `called_off` job row: it never went back to its requester, so it has no turnaround.
        """
        now, tree, below = self.env._now, [], list(requests)
        while below:  # the requests, and under those held on their own consult, theirs
            job = below.pop()
            tree.append(job)
            if job.state == IN_SERVICE and job.on_hold:
                below.extend(job.requests)
        for job in tree:
            if job.state == WAITING:
                job.dept.withdraw(job)
        working = [job for job in tree if job.state == IN_SERVICE]
        for job in working:  # stopped before any staff member is freed: a job a release starts cannot
            dept = job.dept  # preempt one of them back into a queue
            if job.on_hold:
                job.held += now - job.held_since
                job.on_hold = False
                dept.hold(job, -1)
            elif dept.preemptive:
                job.work_event = None  # its completion, still on the clock, is ignored
                dept.in_work.remove(job)
            else:
                job.callbacks = NO_CALLBACKS
        for job in working:
            job.dept.release(job)
        for job in tree:
            job.state = GONE
            self.rec.job(job.customer.id, job.dept.index, CALLED_OFF, job.created, job.start, now, job.held)

    # -- end of a journey --

    def _customer_done(self, c: Customer, outcome: int) -> None:
        now = self.env._now
        del self.alive[c.id]
        cls = c.cls
        if outcome == COMPLETED:
            late = cls.expectation is not None and now - c.arrived > cls.expectation
            p_churn = cls.churn_if_late if late else 0.0
        else:
            p_churn = cls.churn_if_abandoned
        churned = p_churn > 0.0 and cls.churn.draw() < p_churn
        self.rec.customer(c.id, cls.index, c.arrived, now, outcome, c.reworks, c.clarifies, churned, c.charges)
        if self.closed and not self.alive and not self.stop.triggered:
            self.stop.succeed()

    # -- the clock: schedules, absence, outages, interruptions --

    def _staffing(self, dept: Department) -> None:
        spec = dept.spec
        if spec.schedule is None:
            dept.set_staffing(scheduled=spec.staff)
        else:
            self.env.process(self._shifts(dept))
        if spec.absence is not None:
            self.env.process(self._absence(dept))
        if spec.outages is not None:
            self.env.process(self._outages(dept))
        if spec.interruptions is not None:
            self.env.process(self._interruptions(dept))

    def _shifts(self, dept: Department):
        """Staff by time of day, every day; overlapping windows add up."""
        day = self.model.day_length
        segments = day_segments([(w.start, w.end, w.staff) for w in dept.spec.schedule], day, sum)
        for day_number in itertools.count():
            for start, _end, level in segments:
                at = day_number * day + start
                if at > self.env.now:
                    yield urgent(self.env, at - self.env.now)
                dept.set_staffing(scheduled=level)

    def _absence(self, dept: Department):
        """Each day some staff are out (each with probability p, or a drawn count); each shift that
        day misses those of them who were due on it (see Department._absent_on_shift)."""
        absence, staff, day = dept.spec.absence, dept.spec.head_count, self.model.day_length
        rng = self.streams(f"absence:{dept.name}")
        dept.absence_rng = self.streams(f"absence-shift:{dept.name}")  # apart, so CRN keeps the daily draws
        out = Sampler(absence.out, rng) if absence.out is not None else None
        while True:
            absent = round(out.draw()) if out is not None else int(rng.binomial(staff, absence.p))
            dept.set_staffing(absent_today=min(staff, max(0, absent)))
            yield urgent(self.env, day)

    def _outages(self, dept: Department):
        spec = dept.spec.outages
        every = Sampler(spec.every, self.streams(f"outage-every:{dept.name}"))
        lasts = Sampler(spec.lasts, self.streams(f"outage-lasts:{dept.name}"))
        out = spec.staff if spec.staff is not None else 10**9
        while True:
            yield urgent(self.env, every.draw())
            dept.set_staffing(out=out)
            yield urgent(self.env, lasts.draw())
            dept.set_staffing(out=0)

    def _interruptions(self, dept: Department):
        """Interrupting tasks (calls, walk-ups) arrive while staff are on duty."""
        spec = dept.spec.interruptions
        every = Sampler(spec.every, self.streams(f"interrupt-every:{dept.name}"))
        lasts = Sampler(spec.lasts, self.streams(f"interrupt-lasts:{dept.name}"))
        while True:
            yield self.env.timeout(every.draw())
            duration = lasts.draw()
            if dept.capacity == 0:
                continue
            job = Job(None, None, dept, INTERRUPTION, INTERRUPTION_PRIORITY, next(self.seq), None, -1,
                      self._interruption_started, self.env._now)
            job.time = duration
            job.preempts = spec.mode == "preempt"
            dept.submit(job)

    def _interruption_started(self, job: Job) -> None:
        job.dept.count_interruption(job, +1)
        job.dept.work(job, job.time, self._interruption_done)

    def _interruption_done(self, job: Job) -> None:
        dept = job.dept
        dept.count_interruption(job, -1)
        dept.release(job)
        self.rec.job(-1, dept.index, INTERRUPTION, job.created, job.start, self.env._now, 0.0)

    # -- warm-up, horizon, drain --

    def _end_warmup(self, _event) -> None:
        for dept in self.departments:
            dept.reset_totals()
        for pool in self.pools:
            pool.reset_totals(self.env._now)

    def _close(self, _event) -> None:
        """Horizon: no more arrivals. Stop now, or once the customers inside are served (drain)."""
        self.closed = True
        if (not self.model.run.drain or not self.alive) and not self.stop.triggered:
            self.stop.succeed()

    def _time_up(self, _event) -> None:
        if not self.stop.triggered:
            self.stop.succeed()

    def run(self) -> Replication:
        run, env = self.model.run, self.env
        for dept in self.departments:
            self._staffing(dept)
        for cls in self.plan.classes:
            self._schedule_arrival(NextArrival(cls), cls.arrivals.next())
        if run.warmup > 0:
            Timeout(env, run.warmup).callbacks.append(self._end_warmup)
        Timeout(env, run.horizon).callbacks.append(self._close)
        if run.drain:
            Timeout(env, run.horizon + (run.drain_limit or run.horizon)).callbacks.append(self._time_up)
        self._run_until_stop(run.max_events)
        for c in list(self.alive.values()):
            self.rec.customer(c.id, c.cls.index, c.arrived, env.now, IN_SYSTEM, c.reworks, c.clarifies,
                              False, b"")
        return Replication.from_recorder(
            self.rec, replication=self.replication, seed=self.seed, warmup=run.warmup, horizon=run.horizon,
            end=env.now, classes=[c.name for c in self.plan.classes], departments=[d.name for d in self.departments],
            department_records=[d.record() for d in self.departments],
            pools={p.name: {"staff": p.staff, "busy": p.busy_time(env.now)} for p in self.pools},
        )


    def _run_until_stop(self, max_events: int) -> None:
        """SimPy's run loop with a cap on events, so no model can run for ever.

        The body is ``Environment.step`` written out (next event off the clock, its callbacks, a
        failed process re-raised): on N1, two events a customer, calling ``step`` for each cost 3%
        of the run (an A/B of 9 runs each).
        """
        self.stop.callbacks.append(StopSimulation.callback)
        env, queue, pop = self.env, self.env._queue, heapq.heappop
        try:
            for _ in itertools.repeat(None, max_events):
                if not queue:
                    return
                env._now, _, _, event = pop(queue)
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    raise type(event._value)(*event._value.args) from event._value
        except StopSimulation:  # SimPy would keep the stop event's other callbacks; it has none
            return
        raise RunLimitError(f"more than run.max_events = {max_events:,} events in one replication (at time "
                            f"{self.env.now:,.6g} of {self.horizon:,.6g}): shorten run.horizon, lower an "
                            "error_rate or clarify p near 1 (work redone over and over), make interruptions or "
                            "outages rarer, or raise run.max_events")


def simulate_replication(model: Model, replication: int = 0, seed: int | None = None) -> Replication:
    """Run one replication; the same (model, seed, replication) always gives the same records."""
    return Simulation(model, replication, seed).run()
