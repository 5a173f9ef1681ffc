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
