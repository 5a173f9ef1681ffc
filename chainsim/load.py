"""Offered load from the model file alone: expected visits, staff time and utilisation per department.

Used before every run (to warn about departments that cannot keep up) and by the app's instant
estimate. Staff time held during a consult counts the suppliers' service times but not their
queues, so the held load here is a lower bound. A redo takes its rework time and makes its
consults again; rework sent back to an earlier step of the same list walks the steps between again.
Staff going off shift finish the job in hand, so that time counts as staff on duty.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.integrate import trapezoid

from chainsim import analytic
from chainsim.distributions import Distribution
from chainsim.model import (
    Branch,
    CustomerClass,
    Department,
    Model,
    Parallel,
    Request,
    Serve,
    as_model,
    walk_steps,
)
from chainsim.plan import arrival_segments, day_segments, read_trace, rework_time, trace_classes

JOB_SAMPLES = 2_000  # draws of each kind of job for the time left on jobs in hand at a shift's end


@dataclass(frozen=True)
class DepartmentLoad:
    department: str
    arrival_rate: float  # jobs per time unit (steps and requests)
    staff_time_per_job: float  # mean staff time a job holds (own work + held on suppliers)
    offered_load: float  # staff busy on average (interruptions included)
    staff: float  # average staff on duty (schedule, absence, outages, pool share)
    utilisation: float
    # M/M/c (Erlang C) mean wait at this load with the average staff rounded down, and rounded up
    # (the same when it is whole); inf where that staff cannot keep up. An average that is not whole
    # (shifts, absence, outages, pools) has no one M/M/c: the two bracket it, the simulation tells.
    estimated_wait: float
    estimated_wait_rounded_up: float

    @property
    def overloaded(self) -> bool:
        return self.utilisation >= 1.0


def _period(model: Model) -> float:
    """The stretch loads are averaged over: one day, or the horizon when it is shorter."""
    return min(model.day_length, model.run.horizon)


def _overlap(start: float, end: float, period: float) -> float:
    return max(0.0, min(end, period) - start)


def arrival_rate(model: Model, name: str) -> float:
    """Mean external arrivals per time unit of one class (batches included)."""
    a = model.customers[name].arrivals
    period = _period(model)
    if a.trace is not None:  # the times at or after the horizon bring no one (see _trace_warnings)
        rate = int((read_trace(a.trace, name) < model.run.horizon).sum()) / model.run.horizon
    else:
        segments = arrival_segments(a, model.day_length)
        rate = sum(r * _overlap(start, end, period) for start, end, r in segments) / period
    return rate * (rounded_mean(a.batch, low=1) if a.batch is not None else 1.0)


def rounded_mean(dist: Distribution, low: int = 0, high: float = math.inf) -> float:
    """Mean of a count the engine draws as a whole number: round(draw) kept within [low, high].

    A batch of uniform(0, 0.9) is 1 customer every time, not 0.45: E[X] would hide customers from
    the overload warning and the app's work cap.
    """
    return float(rounded_draws(dist, low, high).mean())


def rounded_draws(dist: Distribution, low: int = 0, high: float = math.inf) -> np.ndarray:
    """A count as the engine draws it (round(draw) within [low, high]), over a fixed sample of draws:
    exact for a fixed value, within a fraction of a percent otherwise, the same every time."""
    return np.clip(np.round(dist.sample(np.random.default_rng(0), 100_000)), low, high)


def _trace_warnings(model: Model):
    readers: dict[str, list[str]] = {}  # trace file -> the classes that read it
    for name, cls in model.customers.items():
        if cls.arrivals.trace is not None:
            readers.setdefault(cls.arrivals.trace, []).append(name)
    for trace, names in readers.items():
        counts = trace_classes(trace, names[0])
        where = f"customers.{names[0]}.arrivals.trace"
        if unknown := {value: n for value, n in counts.items() if value and value not in names}:
            listed = ", ".join(f"{value!r} on {n:,} of its rows" for value, n in unknown.items())
            yield (f"{where}: {trace} names classes that do not read it: {listed}. Those rows bring no customers: "
                   f"correct the names (read by {', '.join(names)}), or give those classes this trace")
        if counts.get("", 0) and len(names) > 1:
            yield (f"{where}: {trace} gives no class on {counts['']:,} of its rows, so each of the {len(names)} "
                   f"classes reading it ({', '.join(names)}) takes them: one customer of each per row. Give each row "
                   "its class")
        for name in names:
            times = read_trace(trace, name)
            if len(times) == 0:
                yield (f"customers.{name}.arrivals.trace: {trace} has no arrival times for class {name!r} (its `class` "
                       "column names other classes, or it is empty): this class brings no customers")
            elif (late := int((times >= model.run.horizon).sum())) > 0:
                yield (f"customers.{name}.arrivals.trace: {late:,} of {len(times):,} arrival times are at or after "
                       f"run.horizon ({model.run.horizon:g}) and are left out: lengthen run.horizon to include them")


def _repeats(error_rate: float) -> float:
    return 1.0 / (1.0 - error_rate)


def error_rate(model: Model, step: Serve | Request, department: str) -> float:
    """The step's (or request's) own error rate, else its department's."""
    return step.error_rate if step.error_rate is not None else model.departments[department].error_rate


class _Tally:
    def __init__(self, model: Model):
        self.model = model
        self.jobs = dict.fromkeys(model.departments, 0.0)
        self.time = dict.fromkeys(model.departments, 0.0)
        # (jobs, time of one go, time held on suppliers during it) of each kind of job: first goes, redos
        self.kinds: dict[str, list[tuple[float, Distribution, float]]] = {d: [] for d in model.departments}

    def _add(self, department: str, step: Serve | Request, weight: float, repeats: float, held: float) -> float:
        """`weight` jobs of one step or request per time unit, each done `repeats` times on average
        (the first go, then redos at the rework time), each go holding its staff member `held`.
        Returns the staff time of one such job, its redos included."""
        visit = _visit_time(step, repeats, held)
        self.jobs[department] += weight * repeats
        self.time[department] += weight * visit
        self.kinds[department].append((weight, step.time, held))
        if repeats > 1:
            self.kinds[department].append((weight * (repeats - 1), rework_time(step), held))
        return visit

    def still_in_hand(self, department: str) -> Callable[[np.ndarray], np.ndarray]:
        """t -> P(the job a busy staff member has in hand runs on for longer than t): E[(T - t)+] / E[T]
        over the department's jobs (a long job is more likely to be the one in hand), from a fixed
        sample of each kind of job (_draws), its held time taken as fixed (an approximation)."""
        kinds = [(jobs, dist, held) for jobs, dist, held in self.kinds[department] if jobs > 0]
        rng = np.random.default_rng(0)
        times = np.concatenate([_draws(dist, rng) + held for _, dist, held in kinds] or [np.zeros(1)])
        weights = np.concatenate([np.full(JOB_SAMPLES, jobs) for jobs, _, _ in kinds] or [np.zeros(1)])
        order = np.argsort(times)
        times, weights = times[order], weights[order]
        above = np.append(np.cumsum(weights[::-1])[::-1], 0.0)  # weight of the jobs from index i on
        work_above = np.append(np.cumsum((weights * times)[::-1])[::-1], 0.0)
        total = work_above[0]

        def share(t: np.ndarray) -> np.ndarray:
            i = np.searchsorted(times, t, side="right")
            return (work_above[i] - t * above[i]) / total if total > 0 else np.zeros_like(t)
        return share

    def steps(self, steps: list, weight: float) -> None:
        for step, passes in zip(steps, self._passes(steps), strict=True):
            if isinstance(step, Branch):
                for option in step.branch:
                    self.steps(option.then, weight * passes * option.p)
            else:
                self.serve(step, weight * passes)

    def _passes(self, steps: list) -> list[float]:
        """How often each step of the list is passed per walk through it, rework_to loops included.

        Defective work at step k sent back (rework_to) to an earlier step t of the same list walks
        t..k-1 again for each of its N(k) e/(1-e) redos, so N(j) = 1 + the sum of those over the
        later steps sent back to or before j: computed from the last step back. A target in an
        enclosing list counts as a redo of the erring step alone (an approximation).
        """
        position = {step.id: j for j, step in enumerate(steps) if isinstance(step, Serve) and step.id is not None}
        passes = [1.0] * len(steps)
        for k in reversed(range(len(steps))):
            step = steps[k]
            if isinstance(step, Serve) and step.rework_to in position:
                e = error_rate(self.model, step, step.serve)
                for j in range(position[step.rework_to], k):
                    passes[j] += passes[k] * e / (1.0 - e)
        return passes

    def serve(self, step: Serve, weight: float) -> None:
        repeats = _repeats(error_rate(self.model, step, step.serve))
        held = self.consult(step.consult, weight * repeats)
        self._add(step.serve, step, weight, repeats, held)

    def consult(self, consult, weight: float) -> float:
        """Add the suppliers' load; return the expected time the holder is held (service only)."""
        if consult is None:
            return 0.0
        if isinstance(consult, Request):
            return self.request(consult, weight)
        if isinstance(consult, Parallel):
            return max(self.request(r, weight) for r in consult.parallel)
        return sum(self.consult(item, weight) for item in consult)

    def request(self, r: Request, weight: float) -> float:
        repeats = _repeats(error_rate(self.model, r, r.request))
        held = self.consult(r.consult, weight * repeats)
        own = self._add(r.request, r, weight, repeats, held)
        answer = 0.0
        if r.clarify is not None:  # each start of the request (a redo too) may be asked back, again and again
            rounds = r.clarify.p / (1.0 - r.clarify.p)
            answer = repeats * rounds * (r.clarify.time or r.time).expected()
        return own + answer


def _draws(dist: Distribution, rng: np.random.Generator) -> np.ndarray:
    """JOB_SAMPLES draws scaled to the exact mean: the sample's own mean was the larger error."""
    draws = dist.sample(rng, JOB_SAMPLES)
    return draws * (dist.expected() / draws.mean()) if draws.mean() > 0 else draws


def _visit_time(step: Serve | Request, repeats: float, held: float) -> float:
    """Staff time of a step or request, its redos included: the first go and (repeats - 1) redos
    with the rework time, each holding the staff member through its consults again."""
    return step.time.expected() + held + (repeats - 1.0) * (rework_time(step).expected() + held)


def average_staff(model: Model, spec: Department) -> float:
    """A department's own staff on duty, on average over the day (schedule, absence, outages)."""
    period = _period(model)
    if spec.schedule is not None:
        staff = sum(s.staff * _overlap(s.start, s.end, period) for s in spec.schedule) / period
    else:
        staff = float(spec.staff or 0)
    staff *= _present_share(spec)
    if spec.outages is not None:
        up, down = spec.outages.every.expected(), spec.outages.lasts.expected()
        share_down = down / (up + down)
        lost = staff if spec.outages.staff is None else min(staff, spec.outages.staff)
        staff -= lost * share_down
    return staff


def pool_shares(model: Model, staff: dict[str, float], busy: dict[str, float]) -> dict[str, float]:
    """Pool staff each department counts on, from its own average staff and its load (staff busy).

    A pool member works where the department's own staff are all busy, so a pool covers its
    departments' loads beyond their own staff, wherever that falls. Each department gets what it
    needs beyond its own staff; if the pool has more, the rest is spread evenly (idle); if less,
    it goes by the pool's rule: in `serves` order (ordered), or in proportion to what each needs
    (longest_queue, which evens the queues out). Spread evenly regardless, a pool serving one busy
    and one quiet department warned the busy one as overloaded where the run kept up.
    A department served by several pools takes them in the model's order.
    """
    shares = dict.fromkeys(staff, 0.0)
    for pool in model.pools.values():
        need = {name: max(0.0, busy[name] - staff[name] - shares[name]) for name in pool.serves}
        total = sum(need.values())
        left = float(pool.staff)
        if total <= left:
            for name in pool.serves:
                shares[name] += need[name] + (left - total) / len(pool.serves)
        elif pool.rule == "ordered":
            for name in pool.serves:
                taken = min(need[name], left)
                shares[name] += taken
                left -= taken
        else:
            for name in pool.serves:
                shares[name] += left * need[name] / total
    return shares


def _present_share(spec: Department) -> float:
    """The share of a department's staff not absent on an average day."""
    if spec.absence is None or not spec.head_count:
        return 1.0
    out = (spec.absence.p * spec.head_count if spec.absence.p is not None
           else rounded_mean(spec.absence.out, high=spec.head_count))
    return max(0.0, 1.0 - out / spec.head_count)


def overtime_staff(model: Model, spec: Department, busy_share: float,
                   still_in_hand: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> float:
    """Staff time worked after shifts, as average staff. Staff going off duty finish the job in hand,
    as the engine does: when the schedule falls from n to c, nobody new starts until fewer than c are
    busy, so staff work over c until all but c of the jobs in hand are done. Each of the n is taken
    as busy with the department's busy share (all of them when it is overloaded, as a backlog keeps
    them busy) and her job as running on past t with probability still_in_hand()(t), independently:
    the number still at work at t is Binomial(n, share x that), and the time over c is integrated
    while the staff stay at c (see _falls). With jobs of hours this is a sixth more capacity
    (insurance_claims' Underwriting): left out, the estimate warned that queues grow until the
    horizon where they did not. still_in_hand is called only for a department with a fall: its
    sample of jobs is the estimate's largest cost."""
    falls = _falls(model, spec) if spec.schedule is not None else []
    if not falls:
        return 0.0
    share = still_in_hand()
    busy = _present_share(spec) * min(1.0, busy_share)
    worked = 0.0
    for n, c, stretch in falls:
        t = stretch * np.linspace(0.0, 1.0, 129) ** 3  # fine near the fall, where most jobs end
        q = busy * share(t)
        over = n * q * stats.binom.sf(c - 1, n - 1, q) - c * stats.binom.sf(c, n, q)  # E[(at work - c)+]
        worked += trapezoid(over, t)
    return worked / _period(model)


def _falls(model: Model, spec: Department) -> list[tuple[int, int, float]]:
    """The schedule's falls within the run, each as (n staff before it, c after it, how long they stay
    at c): windows that adjoin at the same level are one stretch, up to a day or the horizon. The
    stretch stops at the next change: after a rise the job in hand is no longer overtime; at a further
    fall new jobs have started, which that fall counts (a run of falls minutes apart is undercounted)."""
    segments = day_segments([(w.start, w.end, w.staff) for w in spec.schedule], model.day_length, sum)
    k, out = len(segments), []
    for i, (_, end, staff) in enumerate(segments):
        after = segments[(i + 1) % k][2]
        if after >= staff or end >= model.run.horizon:
            continue  # no fall here, or after the run (the day's end counts when another day follows)
        stretch = 0.0
        for step in range(1, k + 1):
            start, until, level = segments[(i + step) % k]
            if level != after:
                break
            stretch += until - start
        out.append((int(staff), int(after), min(stretch, model.run.horizon - end)))
    return out


def on_duty_share(model: Model, spec: Department) -> float:
    """Share of the period with at least one staff member on duty: interruptions come only then.

    Each stretch of the schedule (or the whole period) counts with the chance that absence and
    outages leave somebody of its staff on duty; the engine drops an interruption that finds nobody.
    """
    period = _period(model)
    windows = ([(0.0, period, spec.staff or 0)] if spec.schedule is None else
               day_segments([(w.start, w.end, w.staff) for w in spec.schedule], model.day_length, sum))
    absent = _absent_counts(spec)
    return sum(_overlap(start, end, period) * _somebody_on_duty(spec, int(staff), absent)
               for start, end, staff in windows if staff > 0) / period


def _absent_counts(spec: Department) -> tuple[np.ndarray, np.ndarray] | None:
    """The day's absent staff as drawn from `absence.out` (values and how often), rounded and capped
    as the engine does; None where absence is `p` or not set. Drawn once per department: 100,000
    draws for every stretch slowed a grid of many scenarios."""
    if spec.absence is None or spec.absence.out is None or not spec.head_count:
        return None
    return np.unique(rounded_draws(spec.absence.out, high=spec.head_count).astype(int), return_counts=True)


def _somebody_on_duty(spec: Department, staff: int, absent: tuple[np.ndarray, np.ndarray] | None) -> float:
    """P(a stretch with `staff` scheduled has anyone on duty): its absent are a hypergeometric draw of
    the day's absent (Binomial(head count, p), or the `out` draws) and an outage, down for its share
    of the time, takes `outages.staff` (or everyone) of those left."""
    def fewer_absent_than(m: int) -> float:  # P(fewer than m of the stretch's staff are absent)
        if m <= 0:
            return 0.0
        if spec.absence is None or not spec.head_count:
            return 1.0
        if absent is None:
            return float(stats.binom.cdf(m - 1, staff, spec.absence.p))
        values, count = absent
        return float(np.dot(count, stats.hypergeom.cdf(m - 1, spec.head_count, values, staff)) / count.sum())

    if spec.outages is None:
        return fewer_absent_than(staff)
    up, down = spec.outages.every.expected(), spec.outages.lasts.expected()
    out = staff if spec.outages.staff is None else spec.outages.staff
    return (up * fewer_absent_than(staff) + down * fewer_absent_than(staff - out)) / (up + down)


def _erlang_wait(rate: float, busy: float, servers: int) -> float:
    """Erlang C mean wait of jobs arriving at `rate` that keep `busy` staff busy on average (each job's
    staff time grossed up by the interruptions' share of the load), with `servers` staff; inf if they
    cannot keep up."""
    if rate == 0 or busy == 0:
        return 0.0
    if busy >= servers:
        return math.inf
    return analytic.mmc_wait(rate, rate / busy, servers)


def offered_load(model: Model | str | Path | dict) -> list[DepartmentLoad]:
    """Per department: arrival rate of jobs, staff time per job, utilisation, Erlang-C wait. `model`: a
    Model, the path of a model file, or the model as a mapping, as for simulate."""
    model = as_model(model)
    tally = _Tally(model)
    for name, cls in model.customers.items():
        tally.steps(cls.journey, arrival_rate(model, name))
    own, load = {}, {}
    for name, spec in model.departments.items():
        load[name] = tally.time[name]
        if spec.interruptions is not None:  # they only come while staff are on duty
            interruptions = on_duty_share(model, spec) / spec.interruptions.every.expected()
            load[name] += interruptions * spec.interruptions.lasts.expected()
        own[name] = average_staff(model, spec)
    pooled = pool_shares(model, own, load)
    loads = []
    for name, spec in model.departments.items():
        rate, busy = tally.jobs[name], load[name]
        staff = own[name] + pooled[name]
        if staff > 0:
            staff += overtime_staff(model, spec, busy / staff, lambda name=name: tally.still_in_hand(name))
        utilisation = busy / staff if staff > 0 else (math.inf if busy > 0 else 0.0)
        per_job = tally.time[name] / rate if rate > 0 else 0.0
        if utilisation >= 1:
            wait = wait_up = math.inf
        else:  # 1e-9: an average of whole staff summed over hours may come out a hair off
            down, up = math.floor(staff + 1e-9), math.ceil(staff - 1e-9)
            wait, wait_up = _erlang_wait(rate, busy, down), _erlang_wait(rate, busy, up)
        loads.append(DepartmentLoad(name, rate, per_job, busy, staff, utilisation, wait, wait_up))
    return loads


def _holding(model: Model) -> dict[tuple[str, str], str]:
    """(holder, supplier) -> the first place in the file where a staff member of holder is held
    waiting on a request to supplier (a step's consult, or a request's nested consult)."""
    edges: dict[tuple[str, str], str] = {}

    def consult(holder: str, items, path: str) -> None:
        if items is None:
            return
        if isinstance(items, Request):
            edges.setdefault((holder, items.request), path)
            consult(items.request, items.consult, f"{path}.consult")
        elif isinstance(items, Parallel):
            for i, request in enumerate(items.parallel):
                consult(holder, request, f"{path}.parallel[{i}]")
        else:
            for i, item in enumerate(items):
                consult(holder, item, f"{path}[{i}]")

    for name, cls in model.customers.items():
        for path, step in walk_steps(cls.journey, f"customers.{name}.journey"):
            consult(step.serve, step.consult, f"{path}.consult")
    return edges


def _deadlock_warnings(model: Model):
    """Staff who can all end up held waiting on one another.

    The model refuses a request to a department already holding the same customer, but a ring
    through several steps or classes is allowed: x's staff hold one customer waiting on y, y's hold
    another waiting on x; or x's staff and a pool hold customers waiting on y, which only that pool
    serves. Once all of them hold a customer, nobody is left to answer: the run stalls there and
    reports only the customers served before. Found as the largest set of staff groups (a
    department's own staff, a pool) each of which can wait on a department served only from the set
    and can be waited on from it.
    """
    edges = _holding(model)
    servers = {name: ({f"own:{name}"} if spec.head_count > 0 else set())
               | {f"pool:{p}" for p, pool in model.pools.items() if name in pool.serves}
               for name, spec in model.departments.items()}
    stuck = set().union(*servers.values())
    while True:
        links = [(a, b) for a, b in edges if servers[a] & stuck and servers[b] and servers[b] <= stuck]
        keep = {r for a, b in links for r in servers[a] & stuck} & {r for _, b in links for r in servers[b]}
        if keep == stuck:
            break
        stuck = keep
    if not stuck:
        return
    departments = [name for name in model.departments if any(name in link for link in links)]
    pools = [r.removeprefix("pool:") for r in sorted(stuck) if r.startswith("pool:")]
    who = f"departments {', '.join(departments)}" + (f" and pool {', '.join(pools)}" if pools else "")
    ring = "; ".join(f"{edges[(a, b)]}: {a} waits on {b}" for a, b in links)
    yield (f"{who}: every staff member who could answer these requests can be held waiting on another of them "
           f"({ring}). When all of them hold a customer, nobody is left to answer (a deadlock): the run stalls and "
           "reports only the customers served before. Make one of these requests a step of the journey (a handoff), "
           "so its staff member is free while the other department works"
           + (", or give the department asked staff of its own" if pools else ""))


CHURN_IF_LATE_DEFAULT = CustomerClass.model_fields["churn_if_late"].default


def _unused_settings_warnings(model: Model):
    """Settings written in the file that can never act (valid, so not refused, but likely a slip)."""
    for name, cls in model.customers.items():
        where = f"customers.{name}"
        # set to other than its default: a model through with_changes has every field written out
        churn_set = cls.churn_if_late not in (0.0, CHURN_IF_LATE_DEFAULT)
        if churn_set and cls.expectation is None and cls.sla is None:
            yield (f"{where}.churn_if_late: no customer of this class is ever late, as it has neither `expectation` "
                   "nor `sla`: set one of them, or drop churn_if_late")
        if cls.patience_on_hold and cls.patience is None:
            yield (f"{where}.patience_on_hold: this class has no `patience`, so nobody leaves while held: set "
                   "patience, or drop patience_on_hold")
    requested = {supplier for _, supplier in _holding(model)}
    for name, dept in model.departments.items():
        if dept.sla is not None and name not in requested:
            yield (f"departments.{name}.sla: a department's sla is the target for the internal requests it answers, "
                   "and no step or request consults this one, so it measures nothing (department."
                   f"{name}.within_sla stays empty): set the customers' target as `sla` on their class, or drop it")


def load_warnings(model: Model) -> list[str]:
    """Plain-words warnings for departments whose offered load reaches their staff, for arrival traces
    that bring fewer customers than the file suggests, for departments that can deadlock, and for
    settings that can never act."""
    out = list(_trace_warnings(model)) + list(_deadlock_warnings(model)) + list(_unused_settings_warnings(model))
    for d in offered_load(model):
        if d.overloaded and d.staff == 0:
            out.append(
                f"departments.{d.department}: nobody is on duty during the run (its schedule, absence or outages "
                f"leave no staff before the horizon at {model.run.horizon:g} {model.time_unit}s), yet it receives "
                f"work (offered load {d.offered_load:.2f} staff on average): everyone sent there waits until the "
                "horizon. Give a shift within the run staff.")
        elif d.overloaded:
            out.append(
                f"departments.{d.department}: offered load {d.offered_load:.2f} staff on average vs "
                f"{d.staff:.2f} on duty (utilisation {d.utilisation:.0%}): queues will grow until the "
                "horizon; add staff, cut demand or service time. The run still stops at the horizon.")
    return out
