"""Fuzzed model files: every valid model runs and keeps its books; every invalid one is refused.

Bounded in CI by the ``fuzz-ci`` profile (tests/strategies.py); the long run is
``CHAINSIM_FUZZ=long pytest tests/test_fuzz.py -p no:cacheprovider`` (see docs/RELIABILITY.md).
Each example runs under its own wall-clock deadline (SIGALRM), so a hang becomes a failing,
shrinkable example rather than a stuck CI job.
"""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from strategies import HOSTILE, fuzz_settings, mutated_models, to_yaml, valid_models

from chainsim import ModelError, RunLimitError, model_from_text, parse_model, simulate
from chainsim.recorder import IN_SYSTEM

EXAMPLE_SECONDS = 10.0  # far above the slowest valid example seen (~0.5 s)


class ExampleHung(Exception):
    """An example ran past its deadline: the engine or the parser is stuck."""


@contextmanager
def deadline(seconds: float):
    """Interrupt the block after `seconds`, then give back any alarm pytest-timeout had set."""

    def expire(signum, frame):
        raise ExampleHung(f"no answer within {seconds:g} s")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_left, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_left:
            left = previous_left - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def check_books(results) -> None:
    """Conservation and range checks that hold for any model, any seed."""
    model = results.model
    for rep, kpis in zip(results.records, results.kpis, strict=True):
        parts = (kpis["external.completed"] + kpis["external.abandoned"] + kpis["external.balked"]
                 + kpis["external.in_system_at_end"])
        assert kpis["external.arrived"] == parts, kpis

        c = rep.customers
        assert len(np.unique(c["id"])) == len(c["id"]), "a customer recorded twice"
        assert np.all(c["end"] >= c["arrival"]), "a customer left before arriving"
        assert np.all(c["arrival"] < model.run.horizon), "an arrival after the horizon"
        assert np.all(c["end"] <= rep.end + 1e-9)
        if not model.run.drain:
            assert rep.end == pytest.approx(model.run.horizon), "drain: false must stop at the horizon"
        else:
            limit = model.run.drain_limit or model.run.horizon
            assert rep.end <= model.run.horizon + limit + 1e-9
            if np.any(c["outcome"] == IN_SYSTEM):
                assert rep.end == pytest.approx(model.run.horizon + limit)

        for name in model.departments:
            util = kpis[f"department.{name}.utilisation"]
            held = kpis[f"department.{name}.held_share"]
            if math.isnan(util):
                continue
            assert -1e-9 <= util <= 1 + 1e-9, (name, util)
            assert held >= -1e-9, (name, held)
            assert held <= util + 1e-9, (name, held, util)
            assert kpis[f"department.{name}.queue_length.mean"] >= -1e-9

    for replication in range(results.replications):
        table = results.customer_attribution(replication)
        minutes = table.drop(columns="time_in_system", level=0).sum(axis=1)
        assert np.allclose(minutes, table["time_in_system"], rtol=1e-9, atol=1e-6), (
            "attribution rows must sum to time in system",
            (minutes - table["time_in_system"]).abs().max())
        assert (table.drop(columns="time_in_system", level=0) >= -1e-9).all().all(), "a negative charge"


@pytest.mark.timeout(300)
@fuzz_settings(max_examples=60)
@given(valid_models())
def test_every_valid_model_runs_and_keeps_its_books(data: dict) -> None:
    model = parse_model(data)
    assert model_from_text(to_yaml(data)) == model, "YAML text and parsed data must give the same model"
    with deadline(EXAMPLE_SECONDS):
        results = simulate(model, replications=2)
    check_books(results)


def assert_refused_clearly(exc: ModelError) -> None:
    assert exc.problems, "a ModelError must list at least one problem"
    for problem in exc.problems:
        assert problem.path.strip(), f"problem without a field: {problem}"
        assert problem.message.strip(), f"problem without a reason: {problem}"
        assert "Traceback" not in problem.message


@pytest.mark.timeout(300)
@fuzz_settings(max_examples=100)
@given(mutated_models())
def test_a_broken_model_runs_or_is_refused_with_the_field(data: dict) -> None:
    """One value made wrong (type, NaN, inf, huge, negative, unknown name, missing key):
    either still a valid model that runs, or a ModelError naming the field, from text and from data."""
    with deadline(EXAMPLE_SECONDS):
        try:
            text = to_yaml(data)
        except (OverflowError, ValueError):
            text = None  # PyYAML cannot write e.g. 10**400 as a float; the dict path still checks it
        outcomes = []
        for parse in ([lambda: parse_model(data)] + ([lambda: model_from_text(text)] if text else [])):
            try:
                model = parse()
            except ModelError as exc:
                assert_refused_clearly(exc)
                outcomes.append("refused")
                continue
            outcomes.append("parsed")
            try:
                check_books(simulate(model, replications=1))
            except RunLimitError as exc:
                assert "max_customers" in str(exc)
    assert len(set(outcomes)) == 1, f"text and data disagree: {outcomes}"


def _hostile_params():
    for i, (text, word) in enumerate(HOSTILE):
        yield pytest.param(text, word, id=f"hostile{i}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text, word", list(_hostile_params()))
def test_hostile_input_is_refused_with_a_reason(text: str | bytes, word: str) -> None:
    with deadline(EXAMPLE_SECONDS), pytest.raises(ModelError) as caught:
        model_from_text(text)
    assert_refused_clearly(caught.value)
    assert word.lower() in str(caught.value).lower(), str(caught.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("field", ["interruptions", "outages"])
def test_zero_gap_between_interruptions_is_refused_not_a_hang(field: str) -> None:
    """`every: {dist: fixed, value: 0}` would schedule events forever at one instant."""
    text = HOSTILE_ZERO_GAP.replace("FIELD", field)
    with deadline(3):
        try:
            model = model_from_text(text)
        except ModelError as exc:
            assert f"departments.a.{field}.every" in str(exc)
            return
        simulate(model, replications=1)


HOSTILE_ZERO_GAP = """name: zero gap
run: {horizon: 60, replications: 1}
departments:
  a: {staff: 1, FIELD: {every: {dist: fixed, value: 0}, lasts: {dist: fixed, value: 0}}}
customers:
  c:
    arrivals: {rate: 0.5}
    journey: [{serve: a, time: {dist: exponential, mean: 1}}]
"""


POOL_HOLDS = """name: pool holds
run: {horizon: 30, replications: 1, seed: 14, drain: false}
departments:
  a: {staff: 1}
  b: {staff: 1}
customers:
  c:
    arrivals: {rate: 0.25}
    journey:
      - serve: a
        time: {dist: exponential, mean: 1}
        consult: {request: b, time: {dist: exponential, mean: 1}}
pools: {floaters: {staff: 1, serves: [a]}}
"""


def test_pool_staff_holding_is_counted_in_utilisation() -> None:
    kpis = simulate(model_from_text(POOL_HOLDS)).kpis[0]
    assert kpis["department.a.held_share"] <= kpis["department.a.utilisation"] + 1e-9
