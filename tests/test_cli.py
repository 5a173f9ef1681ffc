"""The command line as a user meets it: a real process, its output, its files and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "retail_bank.yaml"
DEPARTMENTS = ["front_desk", "compliance", "it", "back_office"]


def chainsim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainsim.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def assert_no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout


def test_run_prints_the_table_and_writes_json_and_csv(tmp_path):
    out = tmp_path / "results.json"
    done = chainsim("run", str(DEFAULT_MODEL), "--replications", "4", "--seed", "5",
                    "--json", str(out), "--csv", str(tmp_path / "tables"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    text = done.stdout
    assert text.startswith("Retail bank - account opening: 4 replications, seed 5")
    assert "External customers (mean, 95% CI)" in text
    assert "time in system, mean" in text and "minutes" in text
    for label in ("Front desk", "Compliance", "IT", "Back office"):
        assert f"\n  {label}" in text

    data = json.loads(out.read_text())
    assert data["model"] == "Retail bank - account opening"
    assert (data["replications"], data["seed"]) == (4, 5)
    tis = data["kpis"]["external.time_in_system.mean"]
    assert set(tis) == {"mean", "ci_low", "ci_high"}
    assert tis["ci_low"] <= tis["mean"] <= tis["ci_high"]
    assert all(set(v) == {"mean", "ci_low", "ci_high"} for v in data["kpis"].values())
    assert list(data["attribution"]) == DEPARTMENTS
    assert sum(data["attribution"].values()) == pytest.approx(1.0)

    tables = {p.name for p in (tmp_path / "tables").iterdir()}
    assert tables == {"summary.csv", "kpis.csv", "departments.csv", "attribution.csv", "customers.csv", "jobs.csv"}
    kpi_rows = (tmp_path / "tables" / "kpis.csv").read_text().splitlines()
    assert kpi_rows[0] == "replication,kpi,value"
    assert {row.split(",")[0] for row in kpi_rows[1:]} == {"0", "1", "2", "3"}


def test_run_json_to_stdout_is_json_only(tmp_path):
    done = chainsim("run", str(DEFAULT_MODEL), "-r", "2", "--json", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["replications"] == 2 and data["seed"] == 7  # the file's seed
    assert "external.queueing.mean" in data["kpis"]


def test_validate_prints_ok_and_expected_utilisation(tmp_path):
    done = chainsim("validate", str(DEFAULT_MODEL), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ok: Retail bank - account opening"
    assert "expected util." in lines[1]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"Front", "Compliance", "IT", "Back"}
    assert all(line.rstrip().endswith("%") for line in rows.values())


def test_bad_model_exits_2_with_the_field_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_MODEL.read_text().replace("staff: 3, sla: 20", "staf: 3, sla: 20"))
    for command in ("run", "validate"):
        done = chainsim(command, str(bad), cwd=tmp_path)
        assert done.returncode == 2
        assert_no_traceback(done)
        assert done.stdout == ""
        assert done.stderr.startswith("error: 1 problem(s):\n")
        assert "departments.compliance.staf: unknown field 'staf': did you mean 'staff'?" in done.stderr


def test_validate_with_an_unreadable_trace_gives_the_error_and_no_ok(tmp_path):
    (tmp_path / "arrivals.csv").write_text("time\n1\nsoon\n")
    model = tmp_path / "traced.yaml"
    model.write_text(DEFAULT_MODEL.read_text().replace("arrivals: {rate: 0.22}", "arrivals: {trace: arrivals.csv}", 1))
    done = chainsim("validate", str(model), cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert done.stdout == ""
    assert "arrivals.csv line 3: needs a numeric `time` column" in done.stderr


def test_unknown_department_exits_2_with_the_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_MODEL.read_text().replace("request: compliance", "request: complianse"))
    done = chainsim("run", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert ("customers.walk_in.journey[0].consult.request: unknown department 'complianse': "
            "did you mean 'compliance'?") in done.stderr


def test_yaml_syntax_error_exits_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\nrun: {horizon: 10\n")
    done = chainsim("validate", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert f"{bad} (line " in done.stderr and "fix the YAML syntax" in done.stderr


def test_missing_file_exits_2_without_traceback(tmp_path):
    done = chainsim("run", str(tmp_path / "nowhere.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert f"{tmp_path / 'nowhere.yaml'}: file not found: check the path" in done.stderr


@pytest.mark.parametrize("args, says", [
    (["--replications", "0"], "Invalid value for '--replications'"),
    (["--colour"], "No such option '--colour'"),
])
def test_bad_argument_exits_nonzero_with_a_clear_message(tmp_path, args, says):
    done = chainsim("run", str(DEFAULT_MODEL), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert says in done.stderr


# --- experiments, stores and outputs: refused clearly, before running, losing nothing -----------------

HELLO = """
name: Hello chain
run: {horizon: 120, replications: 2, seed: 1}
departments:
  front_desk: {staff: 2}
  back_office: {staff: 1}
customers:
  walk_in:
    arrivals: {rate: 0.2}
    journey:
      - serve: front_desk
        time: {dist: exponential, mean: 6}
        consult: {request: back_office, time: {dist: exponential, mean: 3}}
"""


def _experiment_file(folder: Path, scenarios: str, extra: str = "") -> Path:
    (folder / "hello.yaml").write_text(HELLO)
    path = folder / "x.yaml"
    path.write_text(f"name: x\nmodel: hello.yaml\nreplications: 2\n{extra}scenarios:\n{scenarios}")
    return path


HIRE = "  - {name: hire, levers: [{lever: add_staff, department: back_office, cost: 10}]}\n"


def test_a_scenario_that_cannot_be_built_stops_the_experiment_before_it_runs(tmp_path):
    _experiment_file(tmp_path, HIRE + "  - {name: typo, levers: [{lever: add_staff, department: it}]}\n"
                     "  - {name: cut, levers: [{lever: add_staff, department: back_office, count: -5}]}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert "scenario 'typo' levers[0].department: unknown department 'it'" in done.stderr
    assert "scenario 'cut' levers[0].count: 'back_office' would have -4 staff" in done.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_the_experiment_prints_every_kpi_it_lists_and_whole_design_names(tmp_path):
    # A grid names its scenarios by every factor; all of the name must show. The KPIs after the
    # primary one are printed too, each scenario's difference vs baseline with its interval.
    design = ("design: {type: grid, factors: {back_office_staff: {path: departments.back_office.staff, "
              "values: [1, 2]}, front_desk_staff_level: {path: departments.front_desk.staff, values: [2, 3]}}}\n"
              "kpis: [external.time_in_system.mean, external.queueing.mean]\n")
    (tmp_path / "hello.yaml").write_text(HELLO)
    (tmp_path / "x.yaml").write_text(f"name: x\nmodel: hello.yaml\nreplications: 2\n{design}")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "back_office_staff=2, front_desk_staff_level=3" in done.stdout
    queueing = done.stdout.split("external.queueing.mean (baseline ")[1]
    assert "back_office_staff=2, front_desk_staff_level=3" in queueing and "[" in queueing


def test_when_every_baseline_replication_fails_the_run_and_summarise_say_so(tmp_path):
    _experiment_file(tmp_path, HIRE)
    (tmp_path / "hello.yaml").write_text(HELLO.replace("seed: 1}", "seed: 1, max_customers: 1}"))
    for command in (["experiment", "x.yaml", "--workers", "1"], ["summarise", "x.sqlite"]):
        done = chainsim(*command, cwd=tmp_path)
        assert done.returncode == 4, done.stderr
        assert_no_traceback(done)
        assert "warning: scenario 'baseline': 2 replication(s) failed: RunLimitError" in done.stdout
        assert "error: no replication of 'baseline' finished: 2 failed, the first with RunLimitError" in done.stderr


def test_bad_results_files_and_addresses_are_refused_and_left_alone(tmp_path):
    _experiment_file(tmp_path, HIRE)
    (tmp_path / "h.py").write_text("print('hello')\n")
    (tmp_path / "empty.sqlite").write_bytes(b"")
    for args, says in [
        (["experiment", "x.yaml", "--out", "h.py"], "h.py is not a results store (not an SQLite file)"),
        (["experiment", "x.yaml", "--out", "no/x.sqlite"], "cannot open no/x.sqlite as a results store"),
        (["experiment", "x.yaml", "--dask", "bogus"], "'bogus' is not a scheduler address"),
        (["summarise", "h.py"], "h.py is not a results store"),
        (["summarise", "empty.sqlite"], "empty.sqlite holds no results"),
    ]:
        done = chainsim(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert_no_traceback(done)
        assert says in done.stderr, (args, done.stderr)
    assert (tmp_path / "h.py").read_text() == "print('hello')\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite", "h.py", "hello.yaml", "x.yaml"]
    assert (tmp_path / "empty.sqlite").read_bytes() == b""


@pytest.mark.parametrize("args, option", [
    (["run", "hello.yaml", "--json", "no/r.json"], "--json"),
    (["run", "hello.yaml", "--csv", "hello.yaml/tables"], "--csv"),
    (["report", "hello.yaml", "--out", "no/r.html"], "--out"),
])
def test_an_output_that_cannot_be_written_is_refused_before_simulating(tmp_path, args, option):
    (tmp_path / "hello.yaml").write_text(HELLO)
    done = chainsim(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert f"Invalid value for {option}: cannot write" in done.stderr
    assert "External customers" not in done.stdout and "replications" not in done.stdout


def test_a_run_cap_says_how_many_replications_had_finished(tmp_path):
    """Replication 19 of this model (seed 1) is the first with more than 85 customers."""
    capped = HELLO.replace("horizon: 120, replications: 2, seed: 1", "horizon: 480, max_customers: 85, seed: 1")
    (tmp_path / "capped.yaml").write_text(capped.replace("rate: 0.2", "rate: 0.15"))
    done = chainsim("run", "capped.yaml", "-r", "20", cwd=tmp_path)
    assert done.returncode == 3
    assert_no_traceback(done)
    assert "more than run.max_customers = 85" in done.stderr
    assert "19 of 20 replications had finished; none are reported" in done.stderr
