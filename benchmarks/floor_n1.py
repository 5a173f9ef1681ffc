"""The floor under chainsim's N1 figure: the least a SimPy program can do per customer with the same records.

N1 is one M/M/1 at rho 0.9 (as in bench_engine.py). This program knows nothing but that station:
no journeys, consults, patience, rework, pools or shifts. It schedules the same two events per
customer as chainsim (its arrival and its service completion, each scheduled as itself on SimPy's
Environment) and writes what chainsim's Recorder writes: a packed customer row, a packed job row,
the customer's attribution (queue and service minutes) and the queue-length series.

So (chainsim's time per customer) - (this program's) is what chainsim's generality costs on N1,
and this program's own figure is the lowest any engine on SimPy with full recording can reach.

    python benchmarks/floor_n1.py            # median of 5 runs, with chainsim's time in the same run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from array import array
from collections import deque
from itertools import accumulate, chain, repeat
from operator import truediv
from pathlib import Path

import numpy as np
import simpy
from simpy.events import NORMAL

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402  (the N1 network and chainsim's run of it)

from chainsim import recorder  # noqa: E402

CUSTOMER_ROW = recorder.row_struct(recorder.CUSTOMER_ROW)  # the very rows chainsim packs
JOB_ROW = recorder.row_struct(recorder.JOB_ROW)
CHARGE = recorder.CHARGE
QUEUE, SERVICE = 0, 1


class Due:
    """Scheduled as itself, as chainsim's engine does (no Timeout object per event)."""

    callbacks = None
    _ok = True


class Job(Due):
    def __init__(self, customer: list, created: float):
        self.customer = customer  # [id, arrival, charges]
        self.created = created
        self.start = 0.0


def exponential_draws(rng: np.random.Generator, mean: float):
    """Endless draws, 1024 at a time, one C call each (as chainsim's Sampler)."""
    return chain.from_iterable(iter(lambda: rng.exponential(mean, 1024).tolist(), None))


class MM1:
    def __init__(self, rate: float, mean_service: float, horizon: float, seed: int):
        rng = np.random.default_rng(seed)
        self.env = simpy.Environment()
        self.service = exponential_draws(rng, mean_service).__next__
        self.next_arrival = accumulate(map(truediv, exponential_draws(rng, 1.0), repeat(rate))).__next__
        self.horizon = horizon
        self.busy = False
        self.queue: deque[Job] = deque()
        self.arrived = 0
        self.alive: dict[int, list] = {}
        self.on_arrival, self.on_done = [self.arrive], [self.done]
        self.customers, self.jobs = bytearray(), bytearray()
        self.attribution = bytearray()
        self.queue_times, self.queue_lengths = array("d"), array("i")

    def run(self) -> int:
        arrival = Due()
        arrival.callbacks = self.on_arrival
        self.env.schedule(arrival, NORMAL, self.next_arrival())
        self.env.run()
        return self.arrived

    def mean_time_in_system(self) -> float:
        rows = np.frombuffer(self.customers, dtype=recorder.row_dtype(recorder.CUSTOMER_ROW))
        return float((rows["end"] - rows["arrival"]).mean())

    def arrive(self, arrival: Due) -> None:
        now = self.env._now
        customer = [self.arrived, now, bytearray()]
        self.alive[self.arrived] = customer
        self.arrived += 1
        job = Job(customer, now)
        if self.busy:
            self.queue.append(job)
            self.queue_times.append(now)
            self.queue_lengths.append(len(self.queue))
        else:
            self.busy = True
            self.start(job)
        at = self.next_arrival()
        if at < self.horizon:
            arrival.callbacks = self.on_arrival
            self.env.schedule(arrival, NORMAL, at - now)

    def start(self, job: Job) -> None:
        now = self.env._now
        job.start = now
        if now > job.created:
            job.customer[2] += CHARGE.pack(QUEUE, now - job.created)
        job.callbacks = self.on_done
        self.env.schedule(job, NORMAL, self.service())

    def done(self, job: Job) -> None:
        now = self.env._now
        customer_id, arrived, charges = job.customer
        charges += CHARGE.pack(SERVICE, now - job.start)
        if self.queue:
            following = self.queue.popleft()
            self.queue_times.append(now)
            self.queue_lengths.append(len(self.queue))
            self.start(following)
        else:
            self.busy = False
        self.jobs += JOB_ROW.pack(customer_id, 0, 0, job.created, job.start, now, 0.0)
        del self.alive[customer_id]
        self.customers += CUSTOMER_ROW.pack(customer_id, 0, 0, 0, 0, 0, len(charges) // CHARGE.size, arrived, now)
        self.attribution += charges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each, interleaved; medians")
    args = parser.parse_args()
    net = bench_engine.NETWORKS["N1"]
    horizon = bench_engine.horizon(net, net.customers)
    seconds: dict[str, list[float]] = {"floor": [], "chainsim": []}
    for _ in range(args.repeat):
        started = time.process_time()
        floor_run = MM1(net.rate, net.means[0], horizon, bench_engine.SEED)
        served = floor_run.run()
        seconds["floor"].append((time.process_time() - started) / served)
        started = time.process_time()
        run = bench_engine.run_chainsim(net, net.customers)
        seconds["chainsim"].append((time.process_time() - started) / run.customers)
    floor, chainsim = (statistics.median(seconds[name]) * 1e6 for name in ("floor", "chainsim"))
    print(f"N1, {net.customers:,} customers, median of {args.repeat} runs (process time); mean time in system: "
          f"floor {floor_run.mean_time_in_system():.2f}, chainsim {run.mean:.2f}, M/M/1 theory {net.theory():.2f}")
    print(f"  floor (N1 only, same records, no KPIs): {floor:.2f} us/customer")
    print(f"  chainsim (simulate_replication + replication_kpis): {chainsim:.2f} us/customer")
    print(f"  cost of chainsim's generality: {chainsim - floor:.2f} us/customer ({chainsim / floor:.2f}x the floor)")


if __name__ == "__main__":
    main()
