"""The "Tiny chain" that the experiment, store, executor and crash tests share: a front desk that
consults a checks team for every customer. Small enough that a replication takes milliseconds."""

from __future__ import annotations

PLAIN = """
departments:
  desk: {staff: 2}
  checks: {staff: 1}
customers:
  walk_in:
    arrivals: {rate: 0.25}
    journey:
      - serve: desk
        time: {dist: exponential, mean: 5}
        consult: {request: checks, time: {dist: exponential, mean: 2.5}}
"""

# Every KPI moves: checks make errors (rework), customers give up (abandonment, churn) and have an
# SLA and a value, and a request is unclear now and then (clarifications); the desk's time is
# lognormal, so worker processes get more than the exponential to sample.
RICH = """
departments:
  desk: {staff: 2}
  checks: {staff: 1, error_rate: 0.05}
customers:
  walk_in:
    arrivals: {rate: 0.25}
    patience: {dist: exponential, mean: 30}
    sla: 30
    value: 100
    journey:
      - serve: desk
        time: {dist: lognormal, mean: 5, cv: 0.8}
        consult:
          request: checks
          time: {dist: exponential, mean: 2.5}
          clarify: {p: 0.2, time: {dist: fixed, value: 1}}
"""


def tiny_chain(horizon: float, seed: int, replications: int | None = None, *, rich: bool = False,
               name: str = "Tiny chain") -> str:
    """The model as YAML text; replications None leaves the model's default; rich: the RICH variant."""
    count = "" if replications is None else f" replications: {replications},"
    return f"\nname: {name}\nrun: {{horizon: {horizon},{count} seed: {seed}}}" + (RICH if rich else PLAIN)
