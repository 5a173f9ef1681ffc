"""Defects found by the fourth audit of experiments, the store and the CLI, each pinned by a test."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_chain import tiny_chain

from chainsim import Experiment, ModelError, ResultStore, Scenario, Sequential, apply_levers, simulate
from chainsim.api import model_from_text
from chainsim.errors import MAX_REPLICATIONS, MAX_WORKERS, whole_number
from chainsim.store import StoreError

ROOT = Path(__file__).resolve().parent.parent
TIME = "external.time_in_system.mean"
TINY = tiny_chain(horizon=120, seed=3, replications=2)


@pytest.fixture(scope="module")
def tiny():
    return model_from_text(TINY)


# --- two processes on one store ------------------------------------------------------------------


def _begin(db: ResultStore, resume: bool) -> set:
    return db.begin("x", {"seed": 1, "replications": 2}, [("baseline", {}, model_from_text(TINY))], resume=resume, version="t")


def test_a_second_run_starting_while_the_first_registers_is_refused_not_mixed_in(tmp_path):
    """The check 'does the store hold this experiment?' and the registration are one transaction.

    Here a first run holds the write lock and registers the experiment while the second is between
    opening the store and registering: the second must then see the experiment and be refused (it
    used to pass the check, register over it, and die with an IntegrityError mid-run).
    """
    path = tmp_path / "s.sqlite"
    ResultStore(path).close()  # the tables exist, no experiment yet
    first = sqlite3.connect(path, isolation_level=None, timeout=10)
    first.execute("BEGIN IMMEDIATE")
    outcome: list = []

    def second_run() -> None:
        with ResultStore(path) as db:
            try:
                outcome.append(_begin(db, resume=False))
            except StoreError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=second_run)
    thread.start()
    time.sleep(0.5)  # the second run is now waiting for the lock
    first.execute("INSERT INTO experiments VALUES ('x', '{\"seed\": 1, \"replications\": 2}', 't', 0)")
    first.execute("COMMIT")
    thread.join(timeout=30)
    first.close()
    assert len(outcome) == 1 and isinstance(outcome[0], StoreError), outcome
    assert "already holds experiment 'x'" in str(outcome[0])


def test_two_resumes_storing_the_same_replication_keep_the_first_and_go_on(tmp_path):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as a, ResultStore(path) as b:
        _begin(a, resume=False)
        _begin(b, resume=True)
        a.record("x", "baseline", 0, 1, {"k": 1.5}, 0.1)
        b.record("x", "baseline", 0, 1, {"k": 1.5}, 0.2)  # used to raise sqlite3.IntegrityError
        b.record("x", "baseline", 1, 1, {"k": 2.5}, 0.2)
        assert a.replication_count("x") == 2
        assert list(a.kpi_table("x")["value"]) == [1.5, 2.5]
        seconds = a._db.execute("SELECT seconds FROM replications WHERE replication = 0").fetchone()[0]
    assert seconds == 0.1  # the first commit stays


def test_two_cli_resumes_of_one_store_at_once_both_finish_with_the_uninterrupted_numbers(tmp_path):
    """End to end through the CLI. Each run takes about a second, so the two may not overlap on every
    machine: the store-level test above (two resumes storing the same replication) is the real guard."""
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text("name: x\nmodel: m.yaml\nreplications: 200\nscenarios:\n"
                                     "  - {name: hire, levers: [{lever: add_staff, department: checks}]}\n")
    cli = [sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--workers", "1", "--out", "x.sqlite"]
    first = subprocess.run([*cli, "-r", "3"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    runs = [subprocess.Popen([*cli, "--resume"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    with ResultStore(tmp_path / "x.sqlite", readonly=True) as db:
        stored = db.kpi_table("x")
    alone = Experiment.from_file(tmp_path / "x.yaml").run(workers=1).results.table
    assert stored.equals(alone)


# --- bounds of an experiment file and wrong types in Python --------------------------------------


@pytest.mark.parametrize("line, says", [
    ("replications: 1000000000", "replications: give a whole number of replications from 1 to 100,000"),
    ("replications: {kpi: external.time_in_system.mean, relative_half_width: 0.1, max: 1000000000}",
     "replications.max: input should be less than or equal to 100000 (got 1000000000)"),
    ("seed: 100000000000000000000", "seed: input should be less than or equal to 9007199254740991"),
    ("warmup: -5", "warmup: give a time (a number >= 0), none, mser5 or welch (got -5)"),
])
def test_an_experiment_file_out_of_range_is_refused_naming_the_field(tmp_path, line, says):
    """A billion replications used to hang building the task list; a seed above 2^63 ran every
    replication and then died storing it with an OverflowError traceback."""
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text(f"name: x\nmodel: m.yaml\n{line}\n")
    with pytest.raises(ModelError) as err:
        Experiment.from_file(tmp_path / "x.yaml")
    assert len(err.value.problems) == 1
    assert str(err.value.problems[0]).startswith(f"{tmp_path / 'x.yaml'}: {says}")


@pytest.mark.parametrize("kwargs, says", [
    ({"replications": 2.7}, "replications: must be a whole number from 1 to 100,000 (got 2.7)"),
    ({"replications": "3"}, "replications: must be a whole number"),
    ({"replications": 10**9}, "replications: must be a whole number from 1 to 100,000"),
    ({"seed": -1}, "seed: must be a whole number from 0"),
    ({"seed": 2.5}, "seed: must be a whole number from 0"),
    ({"kpis": TIME}, "kpis: give a list of KPI names"),
    ({"better": "up"}, "better: give 'lower' or 'higher'"),
    ({"warmup": -3}, "warmup: give a time >= 0"),
    ({"common_random_numbers": "no"}, "common_random_numbers: give True or False"),
    ({"scenarios": [{"name": "a"}]}, "scenarios: give a list of Scenario"),
    ({"name": 5}, "name: give a non-empty text"),
])
def test_wrong_arguments_to_an_experiment_are_refused_naming_them(tiny, kwargs, says):
    """2.7 replications used to run 2, a seed of -1 failed inside numpy, a string of KPIs was read
    letter by letter, better='up' silently ranked as 'lower'."""
    with pytest.raises(ModelError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Experiment(tiny, **kwargs)


@pytest.mark.parametrize("scenario, says", [
    (lambda: Scenario("a", overrides=["departments.desk.staff", 3]), "scenario 'a' overrides: give a mapping"),
    (lambda: Scenario("a", cost=-5), "scenario 'a' cost: must be a finite number >= 0"),
    (lambda: Scenario("a", cost="lots"), "scenario 'a' cost: must be a finite number >= 0"),
    (lambda: Scenario("a", levers={"lever": "add_staff"}), "scenario 'a' levers: give a list of levers"),
    (lambda: Sequential(TIME, 0.0), "replications.relative_half_width: Input should be greater than 0"),
    (lambda: Sequential(TIME, 0.1, min=50, max=10**9), "replications.max: Input should be less than or equal to 100000"),
    (lambda: Sequential(TIME, 0.1, min=2.5), "replications.min: Input should be a valid integer"),
    (lambda: Sequential(5, 0.1), "replications.kpi: Input should be a valid string"),
])
def test_a_scenario_or_rule_of_wrong_types_is_refused_naming_the_field(scenario, says):
    with pytest.raises(ModelError, match=says):
        scenario()


def test_an_experiment_takes_a_model_path_and_run_checks_its_arguments(tiny):
    """Experiment(path) used to fail with AttributeError; run(workers=2.5) with a TypeError from the pool."""
    x = Experiment(str(ROOT / "models" / "hello_chain.yaml"), replications=2)
    assert x.model.name == "Hello chain"
    for kwargs, says in [({"workers": 2.5}, "workers: must be a whole number"),
                         ({"workers": -1}, "workers: must be a whole number from 1 to 10,000, or None for all cores"),
                         ({"progress": 5}, "progress: give a function"),
                         ({"store": 5}, "store: give a file path or a ResultStore"),
                         ({"resume": True}, "resume: resume continues the experiment in a store")]:
        with pytest.raises(ModelError, match=says):
            Experiment(tiny, replications=2).run(**kwargs)
    with pytest.raises(ModelError, match="model: give a Model"):
        apply_levers("models/hello_chain.yaml", [{"lever": "add_staff", "department": "desk"}])
    with pytest.raises(ModelError, match="progress: give a function"):
        simulate(tiny, replications=1, progress="yes")


# --- the command line -----------------------------------------------------------------------------


def test_summarise_refuses_an_export_it_cannot_write_before_printing(tmp_path):
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text("name: x\nmodel: m.yaml\nreplications: 2\n")
    cli = [sys.executable, "-m", "chainsim.cli"]
    done = subprocess.run([*cli, "experiment", "x.yaml", "--workers", "1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ("--csv", "--parquet"):
        out = subprocess.run([*cli, "summarise", "x.sqlite", option, "no/such/folder/rows"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"{option}: cannot write no/such/folder/rows: folder no/such/folder does not exist" in out.stderr
        assert out.stdout == ""  # refused first, not after printing the whole report


# --- sequential replications --------------------------------------------------------------------


def test_a_sequential_rule_keeps_every_scenario_on_the_same_replications(tiny):
    """The rule grows all scenarios to what the least precise needs, so each scenario is paired with the
    baseline on every replication: a table's means and paired differences then agree. With a count
    per scenario the baseline's mean came from replications its comparisons did not use."""
    rule = Sequential(kpi=TIME, relative_half_width=0.1, min=4, max=80)
    x = Experiment(tiny, [Scenario("busier", levers=[{"lever": "demand_growth", "percent": 60}]),
                          Scenario("calmer", levers=[{"lever": "demand_growth", "percent": -50}])],
                   replications=rule, kpis=[TIME]).run(workers=1)
    counts = x.results.replication_counts()
    assert counts.nunique() == 1 and counts.iloc[0] > 4, counts
    for row in x.summary().itertuples():  # each scenario's own interval meets the rule (or hit max)
        assert (row.ci_high - row.ci_low) / 2 <= 0.1 * row.mean or row.n == 80, row
    for row in x.compare().itertuples():
        assert row.difference == pytest.approx(row.mean - row.baseline_mean, abs=1e-9)
        assert row.n == counts.iloc[0]


def test_an_experiment_warm_up_longer_than_the_horizon_names_the_experiments_field(tiny):
    with pytest.raises(ModelError) as err:
        Experiment(tiny, warmup=500, replications=2).run(workers=1)
    assert [str(p) for p in err.value.problems] == ["warmup: warm-up 500 must be shorter than the horizon 120"]


def test_a_worker_killed_mid_experiment_exits_5_says_how_to_resume_and_the_resume_is_exact(tmp_path):
    """kill -9 of one worker process (as the out-of-memory killer does) used to end `chainsim experiment`
    with a BrokenProcessPool traceback and exit 1."""
    import psutil
    from crash_util import SLOW_HORIZON, stored, write_experiment

    write_experiment(tmp_path, "lost", replications=60, horizon=SLOW_HORIZON, seed=4)
    cli = [sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--out", "x.sqlite", "--workers", "2"]
    run = subprocess.Popen(cli, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while stored(tmp_path / "x.sqlite") < 10 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = psutil.Process(run.pid).children()
        assert workers, "the run ended before a worker could be killed"
        workers[0].kill()
        _, err = run.communicate(timeout=120)
    finally:  # a run that hung (it did, once: the worker died sending its result) is not left behind
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 5, err
    assert "Traceback" not in err
    assert ("error: a worker process stopped abruptly (killed, or out of memory); finished replications are in "
            "x.sqlite; continue with --resume: chainsim experiment x.yaml --out x.sqlite --resume") in err
    resumed = subprocess.run([*cli, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    with ResultStore(tmp_path / "x.sqlite", readonly=True) as db:
        final = db.kpi_table("lost")
    assert final.equals(Experiment.from_file(tmp_path / "x.yaml").run(workers=2).results.table)


def test_results_name_a_bad_kpi_or_replication_instead_of_nan_or_an_index_error(tiny):
    """kpi('external.time_in_sytem.mean') used to return nan silently; queue_series(5) an IndexError."""
    results = simulate(tiny, replications=2)
    with pytest.raises(ModelError, match="kpi: unknown KPI 'external.time_in_sytem.mean': did you mean "
                                         "'external.time_in_system.mean'"):
        results.kpi("external.time_in_sytem.mean")
    for call in (results.queue_series, results.staff_series, results.customer_attribution):
        with pytest.raises(ModelError, match=r"replication: must be a whole number from 0 to 1 \(got 5\)"):
            call(5)
    assert results.kpi(TIME)[0] == pytest.approx(results.summary().loc[TIME, "mean"])


def test_grid_values_that_round_alike_still_get_names_of_their_own(tiny):
    """Scenario names showed 6 significant digits, so 0.1234561 and 0.1234562 were both '0.123456':
    refused as a name used twice, which a design's user cannot rename."""
    from chainsim.designs import expand

    points = expand({"type": "grid", "factors": {"rate": {"path": "customers.walk_in.arrivals.rate",
                                                          "values": [0.2, 0.1234561, 0.1234562]}}})
    assert [p.name for p in points] == ["rate=0.2", "rate=0.1234561", "rate=0.1234562"]
    Experiment(tiny, [Scenario(p.name, p.overrides, factors=p.factors) for p in points], replications=2)


def test_a_model_file_given_as_an_experiment_says_so_in_one_line(tmp_path):
    """It listed five problems ('model: Field required', 'departments: unknown field: remove it', ...)."""
    (tmp_path / "m.yaml").write_text(TINY)
    with pytest.raises(ModelError) as err:
        Experiment.from_file(tmp_path / "m.yaml")
    assert len(err.value.problems) == 1
    assert "this is a model file, not an experiment: run it with `chainsim run" in str(err.value)


def test_summarise_of_a_sequential_run_stopped_mid_round_says_it_is_incomplete(tmp_path):
    """Only the rule's `min` counted as asked, so a run stopped while growing looked finished."""
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text(
        "name: x\nmodel: m.yaml\nreplications: {kpi: external.time_in_system.mean, relative_half_width: 0.1, "
        "min: 4, max: 60}\nscenarios:\n  - {name: hire, levers: [{lever: add_staff, department: checks}]}\n")
    x = Experiment.from_file(tmp_path / "x.yaml").run(workers=1, store=tmp_path / "x.sqlite")
    n = int(x.results.replication_counts().iloc[0])
    assert n > 6
    db = sqlite3.connect(tmp_path / "x.sqlite")  # as if stopped before the last 2 of 'hire' were stored
    for table in ("replications", "kpis"):
        db.execute(f"DELETE FROM {table} WHERE scenario = 'hire' AND replication >= ?", (n - 2,))
    db.commit()
    db.close()
    done = subprocess.run([sys.executable, "-m", "chainsim.cli", "summarise", "x.sqlite"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"incomplete: {2 * n - 2} of {2 * n} replications" in done.stdout


def test_a_tornado_over_values_that_do_not_order_uses_the_first_and_last_listed(tmp_path):
    """One factor at a time over shift schedules: the results were stored, then printing them ended in
    "TypeError: '<' not supported between instances of 'dict' and 'dict'" (experiment and summarise)."""
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text("""
name: x
model: m.yaml
replications: 3
design:
  type: one_at_a_time
  factors:
    checks_shifts: {lever: shift_pattern, department: checks, vary: schedule,
                    values: [[{from: 0, to: 1440, staff: 2}], [{from: 0, to: 1440, staff: 1}]]}
""")
    done = subprocess.run([sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--workers", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "at [{'from': 0, 'to': 1440, 'staff': 2}]:" in done.stdout
    tornado = Experiment.from_file(tmp_path / "x.yaml").run(workers=1).sensitivity()
    row = tornado.iloc[0]
    assert row["low"] == [{"from": 0, "to": 1440, "staff": 2}] and row["high"] == [{"from": 0, "to": 1440, "staff": 1}]
    assert row["difference_low"] < 0 == row["difference_high"]  # two checkers instead of one: shorter times


def test_a_pool_kpi_only_a_scenario_has_is_reported_without_a_difference(tmp_path):
    """Pool KPIs pass the file check (the base model has no pool), so the experiment ran and stored,
    then printing the comparison ended in a traceback: 'ValueError: None'."""
    pool = "pool.cross_trained_desk_checks.utilisation"
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text(f"""
name: x
model: m.yaml
replications: 3
kpis: [{TIME}, {pool}]
scenarios:
  - {{name: pool, levers: [{{lever: cross_train, departments: [desk, checks]}}]}}
""")
    done = subprocess.run([sys.executable, "-m", "chainsim.cli", "experiment", "x.yaml", "--workers", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{pool} (baseline -)" in done.stdout
    row = Experiment.from_file(tmp_path / "x.yaml").run(workers=1).compare(kpis=[pool]).iloc[0]
    assert row["scenario"] == "pool" and 0 < row["mean"] < 1 and np.isnan(row["difference"]) and row["n"] == 0


def test_an_integer_factor_stays_whole_in_every_design_and_within_its_range():
    """one_at_a_time set an integer factor to its raw ends (staff 1.5: refused later as not whole), and
    a Latin hypercube over low 1.2, high 1.8 silently used 1, outside the range."""
    from chainsim.designs import expand

    factor = {"path": "departments.it.staff", "low": 1.5, "high": 3.5, "integer": True}
    assert [p.factors for p in expand({"type": "one_at_a_time", "factors": {"n": factor}})] == [{"n": 2}, {"n": 3}]
    with pytest.raises(ModelError, match=r"integer: no whole number lies between low \(1.2\) and high \(1.8\)"):
        expand({"type": "latin_hypercube", "samples": 3,
                "factors": {"n": {"path": "departments.it.staff", "low": 1.2, "high": 1.8, "integer": True}}})


# --- fifth review ----------------------------------------------------------------------------------


def test_a_misspelt_kpi_in_the_results_says_which_one_was_meant_instead_of_an_empty_table(tiny):
    """compare(kpis=[typo]), summary([typo]) and sensitivity(typo) returned an empty table, silently;
    the hint is the same as Results.kpi's (one helper)."""
    typo = "external.time_in_sytem.mean"
    x = Experiment(tiny, [Scenario("hire", levers=[{"lever": "add_staff", "department": "checks"}], factors={"n": 2})],
                   replications=2).run(workers=1)
    for call, path in [(lambda: x.compare(kpis=[TIME, typo]), "kpis"), (lambda: x.summary([typo]), "kpis"),
                       (lambda: x.results.sensitivity(typo), "kpi")]:
        with pytest.raises(ModelError) as err:
            call()
        assert [str(p) for p in err.value.problems] == [f"{path}: unknown KPI {typo!r}: did you mean {TIME!r}?"]
    with pytest.raises(ModelError) as err:
        simulate(tiny, replications=2).kpi(typo)
    assert str(err.value) == f"kpi: unknown KPI {typo!r}: did you mean {TIME!r}?"
    assert len(x.summary([TIME])) == 2 and len(x.results.sensitivity(TIME)) == 1  # a right name still works


def test_a_pool_kpi_no_scenario_reports_is_refused_before_running_with_the_name_meant(tiny):
    """Pool KPIs skipped the name check (the base model has no pool): a misspelt one ran every
    replication to an empty table, with no rank, and a sequential rule on it ran to its max."""
    pool = "pool.cross_trained_desk_checks.utilisation"
    hire = Scenario("pool", levers=[{"lever": "cross_train", "departments": ["desk", "checks"]}])
    typo = pool.replace("trained", "trainde")
    for x, where in [(Experiment(tiny, [hire], kpis=[TIME, typo], replications=2), "kpis"),
                     (Experiment(tiny, [hire], primary=typo, kpis=[TIME], replications=2), "primary"),
                     (Experiment(tiny, [hire], replications=Sequential(kpi=typo, relative_half_width=0.1, min=2, max=40),
                                 kpis=[TIME]), "replications.kpi")]:
        with pytest.raises(ModelError) as err:
            x.run(workers=1)
        assert f"{where}: unknown KPI {typo!r}: did you mean {pool!r}?" in str(err.value)
    with pytest.raises(ModelError, match=re.escape(f"kpis: unknown KPI {pool!r}")):  # no scenario adds the pool
        Experiment(tiny, kpis=[TIME, pool], replications=2).run(workers=1)
    assert len(Experiment(tiny, [hire], kpis=[TIME, pool], replications=2).run(workers=1).summary([pool])) == 1  # the scenario's


def test_a_kpi_that_is_zero_in_every_replication_is_precise_and_stops_at_the_minimum(tiny):
    """No customer has patience here, so the abandonment rate is 0 in every replication: a zero-width
    interval. It was taken as infinitely imprecise, and every scenario ran to the rule's max."""
    rule = Sequential(kpi="external.abandonment_rate", relative_half_width=0.1, min=4, max=30)
    x = Experiment(tiny, [Scenario("hire", levers=[{"lever": "add_staff", "department": "checks"}])],
                   replications=rule, kpis=["external.abandonment_rate"]).run(workers=1)
    assert x.results.replication_counts().to_dict() == {"baseline": 4, "hire": 4}
    assert (x.summary()["mean"] == 0).all()


@pytest.mark.parametrize("make", [
    lambda: whole_number("seed", 10**400, 0, 2**53 - 1),
    lambda: Scenario("a", cost=10**400),
    lambda: apply_levers(model_from_text(TINY), [{"lever": "add_staff", "department": "checks", "cost": 10**400}]),
    lambda: simulate(model_from_text(TINY), replications=10**400),
])
def test_an_int_too_large_for_a_float_is_a_model_error_not_an_overflow_error(make):
    with pytest.raises(ModelError):
        make()


def test_numpy_numbers_are_numbers_everywhere(tiny, tmp_path):
    """Scenario(cost=np.int64(5)) was refused as 'must be a finite number (got 5)': one predicate for both."""
    assert Scenario("a", cost=np.int64(5)).total_cost == 5.0
    assert apply_levers(tiny, [{"lever": "add_staff", "department": "checks", "count": np.int64(2)}]) \
        .departments["checks"].staff == 3
    rule = Sequential(TIME, np.float64(0.1), min=np.int64(4), max=np.int64(8))
    assert (rule.min, rule.max) == (4, 8) and type(rule.min) is int
    hire = Scenario("hire", overrides={"departments.desk.staff": np.int64(2)},
                    levers=[{"lever": "add_staff", "department": "checks", "count": np.int64(2)}])
    x = Experiment(tiny, [hire], replications=2, kpis=[TIME]).run(store=tmp_path / "x.sqlite", workers=1)
    assert x.results.replication_counts().to_dict() == {"baseline": 2, "hire": 2}  # stored: JSON has no numpy numbers


def test_kpis_asked_by_a_generator_or_not_as_text_are_read_or_refused(tiny):
    x = Experiment(tiny, [Scenario("hire", levers=[{"lever": "add_staff", "department": "checks"}])], replications=2, kpis=[TIME]).run(workers=1)
    assert len(x.summary(k for k in [TIME])) == len(x.summary([TIME])) > 0  # a generator was read twice: empty
    with pytest.raises(ModelError, match="give KPI names as text"):
        x.sensitivity([TIME])
    with pytest.raises(ModelError, match=r"replications.relative_half_width: Input should be a valid number \(got '0.1'\)"):
        Sequential(TIME, "0.1")


def test_a_sequential_rule_in_python_and_in_a_file_is_refused_with_the_same_words(tmp_path):
    (tmp_path / "m.yaml").write_text(TINY)
    (tmp_path / "x.yaml").write_text(f"name: x\nmodel: m.yaml\nreplications: {{kpi: {TIME}, relative_half_width: 0.1, "
                                     "min: 20, max: 10}\n")
    with pytest.raises(ModelError) as in_file:
        Experiment.from_file(tmp_path / "x.yaml")
    with pytest.raises(ModelError) as in_python:
        Sequential(TIME, 0.1, min=20, max=10)
    assert [p.message for p in in_python.value.problems] == [p.message for p in in_file.value.problems] \
        == ["max (10) must be >= min (20)"]


def test_every_door_has_the_same_limits_on_workers_and_replications(tiny):
    from chainsim import cli

    for run in (lambda: simulate(tiny, replications=1, workers=MAX_WORKERS + 1),
                lambda: Experiment(tiny, replications=1).run(workers=MAX_WORKERS + 1)):
        with pytest.raises(ModelError, match=f"workers: must be a whole number from 1 to {MAX_WORKERS:,}"):
            run()
    for command in (cli.run, cli.report, cli.experiment):
        [option] = [p for p in command.params if p.name == "replications"]
        assert (option.type.min, option.type.max) == (1, MAX_REPLICATIONS)


def test_chainsim_run_says_a_worker_died_and_claims_to_keep_nothing(tmp_path):
    """The message said 'what finished before it is kept', but `run`, `report` and simulate() keep nothing;
    only `experiment` (which stores) says where the finished replications are.

    A real `chainsim run` with two worker processes; once one of them has done some work, it gets
    kill -9 (as the out-of-memory killer does). 300 replications of ~30 ms would take 4-5 s on two
    workers, and the kill comes after 0.3 s of one worker's time, so it lands mid-run."""
    from crash_util import SLOW_HORIZON, busy_workers

    (tmp_path / "m.yaml").write_text(TINY)
    cli = [sys.executable, "-m", "chainsim.cli", "run", "m.yaml", "--workers", "2", "--replications", "300",
           "--horizon", str(SLOW_HORIZON)]
    run = subprocess.Popen(cli, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        busy = busy_workers(run)
        assert busy, "the run ended before a worker could be killed"
        busy[0].kill()
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 5, err
    assert err == "error: a worker process stopped abruptly (killed, or out of memory)\n"
    assert out == ""


def test_the_public_names_are_sorted_and_each_imports():
    import chainsim

    def kind(name: str) -> tuple:  # ruff's order: CONSTANTS, then Classes, then the rest
        return (not name.isupper(), not name[:1].isupper(), name)

    assert chainsim.__all__ == sorted(chainsim.__all__, key=kind)
    assert all(getattr(chainsim, name) is not None for name in chainsim.__all__)
