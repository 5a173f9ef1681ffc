"""Unstable and runaway models: warned about before the run, stopped at the horizon, memory linear
in the customers inside, and a hard cap on customers per replication with a clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import chainsim
from chainsim import RunLimitError, model_from_text, simulate
from chainsim.cli import EXIT_RUN_LIMIT, main
from chainsim.executors import ProcessExecutor, make_executor
from chainsim.load import load_warnings, offered_load

# One desk at 10x its capacity: 1 arrival per minute, 10 minutes of service, 1 staff member.
# The consult gives the queue a second department and held time, as in real models.
OVERLOADED = """name: ten times overloaded
run: {horizon: HORIZON, replications: 1, seed: 5, drain: false, max_customers: 200000}
departments:
  desk: {staff: 1}
  checks: {staff: 2}
customers:
  walk_in:
    arrivals: {rate: 1.0}
    journey:
      - serve: desk
        time: {dist: exponential, mean: 9}
        consult: {request: checks, time: {dist: exponential, mean: 1}}
"""

# Bytes of traced peak memory per arrived customer, measured at about 1.0 kB with two departments
# (the customer object, its per-department charges and the queue entries); docs/RELIABILITY.md.
BYTES_PER_CUSTOMER_BOUND = 2_000


def overloaded(horizon: float = 600) -> str:
    return OVERLOADED.replace("HORIZON", f"{horizon:g}")


def test_overload_is_warned_about_before_the_run() -> None:
    model = model_from_text(overloaded())
    desk = next(d for d in offered_load(model) if d.department == "desk")
    assert desk.utilisation == pytest.approx(10.0)
    warnings = load_warnings(model)
    assert len(warnings) == 1 and warnings[0].startswith("departments.desk:")
    assert "horizon" in warnings[0]


def test_a_department_nobody_staffs_during_the_run_is_named_closed_not_infinitely_loaded() -> None:
    # The bank's front desk with its shifts before closing at 0 and the after-closing shift (past the
    # horizon of 480) at 2: it used to read "vs 0.00 on duty (utilisation inf%)".
    bank = chainsim.load_model(Path(__file__).parent.parent / "models" / "retail_bank.yaml")
    windows = [w.model_dump(by_alias=True) for w in bank.departments["front_desk"].schedule]
    closed = bank.with_changes({"departments.front_desk.schedule": [
        {**w, "staff": 0} if w["from"] < bank.run.horizon else w for w in windows]})
    warning = next(w for w in load_warnings(closed) if w.startswith("departments.front_desk:"))
    assert "nobody is on duty during the run" in warning and "horizon at 480 minutes" in warning
    assert "inf" not in warning


def test_a_model_within_capacity_is_not_warned_about() -> None:
    calm = model_from_text(overloaded().replace("rate: 1.0", "rate: 0.05"))
    assert load_warnings(calm) == []


def test_validate_prints_the_overload_warning(tmp_path: Path) -> None:
    path = tmp_path / "overloaded.yaml"
    path.write_text(overloaded())
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "OVERLOADED" in result.output
    assert "warning: departments.desk: offered load 10.00 staff on average vs 1.00 on duty (utilisation 1000%)" in result.output


def test_an_overloaded_run_still_ends_at_its_horizon() -> None:
    results = simulate(model_from_text(overloaded(600)), replications=2)
    assert results.warnings == load_warnings(results.model)
    for rep, kpis in zip(results.records, results.kpis, strict=True):
        assert rep.end == 600.0
        assert kpis["external.in_system_at_end"] > 0.8 * kpis["external.arrived"]  # ~9 in 10 never served
        assert kpis["external.arrived"] == (kpis["external.completed"] + kpis["external.abandoned"]
                                            + kpis["external.balked"] + kpis["external.in_system_at_end"])
        assert kpis["department.desk.utilisation"] == pytest.approx(1.0, abs=0.02)


MEASURE_PEAK = """
import json, sys, tracemalloc
from chainsim import model_from_text, simulate
sizes = []
for text in sys.argv[1:]:
    model = model_from_text(text)
    tracemalloc.start()
    kpis = simulate(model, replications=1).kpis[0]
    sizes.append({"arrived": kpis["external.arrived"], "peak": tracemalloc.get_traced_memory()[1]})
    tracemalloc.stop()
print(json.dumps(sizes))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_peak_memory_grows_linearly_with_the_queue() -> None:
    """Measured in a fresh process: peak traced memory per customer stays under the documented bound,
    and doubling the run does not more than double the peak (no hidden quadratic growth)."""
    out = subprocess.run([sys.executable, "-c", MEASURE_PEAK, overloaded(4000), overloaded(8000)],
                         check=True, capture_output=True, text=True, timeout=240)
    small, large = json.loads(out.stdout)
    assert large["arrived"] > 7000
    for run in (small, large):
        assert run["peak"] / run["arrived"] < BYTES_PER_CUSTOMER_BOUND, run
    growth = large["peak"] / small["peak"]
    assert growth < 1.15 * large["arrived"] / small["arrived"], (small, large)


CAPPED = overloaded(100_000).replace("max_customers: 200000", "max_customers: 500")


def test_the_customer_cap_stops_a_runaway_run_with_a_clear_message() -> None:
    with pytest.raises(RunLimitError, match=r"run\.max_customers = 500") as caught:
        simulate(model_from_text(CAPPED), replications=1)
    assert "shorten run.horizon" in str(caught.value)


def test_the_customer_cap_holds_on_worker_processes() -> None:
    assert isinstance(make_executor(2), ProcessExecutor)
    with pytest.raises(RunLimitError, match="max_customers"):
        simulate(model_from_text(CAPPED), replications=2, workers=2)


def cli_run(folder: Path, model_text: str) -> subprocess.CompletedProcess:
    """`chainsim run` on the model text, in a fresh process, as a user would."""
    path = folder / "model.yaml"
    path.write_text(model_text)
    return subprocess.run([sys.executable, "-m", "chainsim.cli", "run", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_cli_exits_3_with_the_cap_message_and_no_traceback(tmp_path: Path) -> None:
    done = cli_run(tmp_path, CAPPED)
    assert done.returncode == EXIT_RUN_LIMIT == 3
    assert "run.max_customers = 500" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


ENDLESS_EVENTS = """name: endless events, almost no customers
run: {horizon: 1.0e9, replications: 1, drain: false, max_events: 200000}
departments:
  a: {staff: 1, interruptions: {every: {dist: fixed, value: 1}, lasts: {dist: fixed, value: 0.5}}}
customers:
  c:
    arrivals: {rate: 1.0e-9}
    journey: [{serve: a, time: {dist: fixed, value: 1}}]
"""


def test_endless_interruptions_are_refused_before_the_run(tmp_path: Path) -> None:
    """A billion interruptions and almost no customers: known from the file, so refused up front."""
    done = cli_run(tmp_path, ENDLESS_EVENTS)
    assert done.returncode == 2, done.stderr
    assert "departments.a.interruptions.every" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


REWORK_LOOP = """name: events from a rework loop
run: {horizon: 1000, replications: 1, max_events: 2000}
departments:
  a: {staff: 1, error_rate: 0.999}
customers:
  c:
    arrivals: {rate: 0.01}
    journey: [{serve: a, time: {dist: fixed, value: 0.001}}]
"""


def test_a_run_of_endless_events_is_capped_too(tmp_path: Path) -> None:
    """Events no check can foresee (each customer redone ~1,000 times) still stop at run.max_events."""
    done = cli_run(tmp_path, REWORK_LOOP)
    assert done.returncode == EXIT_RUN_LIMIT, done.stderr
    assert "run.max_events = 2,000" in done.stderr
    assert "Traceback" not in done.stderr
