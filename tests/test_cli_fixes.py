"""Bad input refused clearly, nothing computed lost: Dask addresses, outputs that are inputs,
scenario overrides the experiment would ignore, partial stores and resuming with fewer replications.

Real sockets and a real Dask scheduler throughout; the CLI runs as a real process.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_cli import HELLO, HIRE, _experiment_file, assert_no_traceback, chainsim

import chainsim as chainsim_api
from chainsim import Experiment, ExperimentResults, ModelError, ResultStore, Scenario
from chainsim.api import model_from_text
from chainsim.dask_executor import DaskExecutor
from chainsim.errors import ClusterError
from chainsim.executors import SerialExecutor

# --- --dask: a wrong address, another service or no workers is a message within a timeout -------------


@pytest.fixture
def banner_service() -> Iterator[str]:
    """A TCP service of another protocol: it greets each connection with an SSH banner."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n" * 4)
                conn.recv(65536)

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.fixture
def http_service() -> Iterator[str]:
    """An HTTP server: it waits for a request line Dask never sends in full (Dask's client waited forever)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("address", "says"), [
    ("tcp://[::1", "ipv6 needs brackets"),
    ("tcp://127.0.0.1", "missing port number"),
    ("tcp://127.0.0.1:99999", "port 99999 is not 1-65535"),
    ("bogus", "'bogus' is not a scheduler address"),
])
def test_a_malformed_dask_address_is_refused_with_what_a_good_one_looks_like(address, says):
    with pytest.raises(ClusterError, match="not a scheduler address") as refused:
        DaskExecutor(address, connect_timeout=2)
    assert says in str(refused.value)
    assert "tcp://HOST:8786 (--dask)" in str(refused.value)


def test_a_tls_address_without_certificates_says_so_not_that_the_service_is_foreign():
    with pytest.raises(ClusterError, match="TLS address, and no TLS certificates are set for Dask"):
        DaskExecutor("tls://127.0.0.1:1", connect_timeout=2)


def test_a_service_of_another_protocol_is_refused_at_once(banner_service):
    started = time.monotonic()
    with pytest.raises(ClusterError, match="does not speak Dask's protocol"):
        DaskExecutor(banner_service, connect_timeout=5)
    assert time.monotonic() - started < 5


def test_a_service_that_never_answers_is_refused_after_the_connect_timeout(http_service):
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"no Dask scheduler answered .* \(nothing in 1 s\).*--dask"):
        DaskExecutor(http_service, connect_timeout=1)
    assert time.monotonic() - started < 10


def test_a_scheduler_without_workers_is_refused_after_the_wait():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", dashboard_address=None) as empty:
        started = time.monotonic()
        with pytest.raises(ClusterError, match="has no workers .*waited 1 s.*dask worker tcp://"):
            DaskExecutor(empty.scheduler_address, connect_timeout=5, workers_timeout=1)
        assert time.monotonic() - started < 15


def test_the_cli_says_what_is_wrong_with_the_dask_address_and_writes_no_store(tmp_path, banner_service):
    _experiment_file(tmp_path, HIRE)
    for address, says in [("tcp://[::1", "'tcp://[::1' is not a scheduler address"),
                          (banner_service, "does not speak Dask's protocol")]:
        done = chainsim("experiment", "x.yaml", "--dask", address, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert_no_traceback(done)
        assert says in done.stderr and "(--dask)" in done.stderr
    assert not (tmp_path / "x.sqlite").exists()


# --- an output that is an input is refused before anything is written ----------------------------


@pytest.fixture
def inputs(tmp_path) -> Path:
    """A model with an arrival trace, an experiment over it and its results store."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "arrivals.csv").write_text("time\n" + "".join(f"{t}\n" for t in range(1, 100, 7)))
    _experiment_file(tmp_path, HIRE)
    (tmp_path / "traced.yaml").write_text(HELLO.replace("arrivals: {rate: 0.2}", "arrivals: {trace: arrivals.csv}"))
    (tmp_path / "customers.csv").write_text((tmp_path / "arrivals.csv").read_text())  # named as a table `run --csv` writes
    (tmp_path / "traced_as_table.yaml").write_text(HELLO.replace("arrivals: {rate: 0.2}", "arrivals: {trace: customers.csv}"))
    Experiment.from_file(tmp_path / "x.yaml").run(executor=SerialExecutor(), store=tmp_path / "x.sqlite")
    return tmp_path


@pytest.mark.parametrize(("args", "option", "victim"), [
    (["run", "hello.yaml", "--json", "hello.yaml"], "--json", "hello.yaml"),
    (["run", "traced.yaml", "--json", "sub/../arrivals.csv"], "--json", "arrivals.csv"),
    (["run", "traced_as_table.yaml", "--csv", "."], "--csv", "customers.csv"),
    (["report", "hello.yaml", "--out", "./hello.yaml"], "--out", "hello.yaml"),
    (["report", "traced.yaml", "--out", "arrivals.csv"], "--out", "arrivals.csv"),
    (["summarise", "x.sqlite", "--csv", "x.sqlite"], "--csv", "x.sqlite"),
    (["summarise", "x.sqlite", "--parquet", "sub/../x.sqlite"], "--parquet", "x.sqlite"),
    (["experiment", "x.yaml", "--out", "x.yaml", "--workers", "1"], "--out", "x.yaml"),
])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(inputs, args, option, victim):
    before = (inputs / victim).read_bytes()
    done = chainsim(*args, cwd=inputs)
    assert done.returncode == 2, done.stdout + done.stderr
    assert_no_traceback(done)
    assert f"Invalid value for {option}:" in done.stderr and "is the input" in done.stderr
    assert "choose another path" in done.stderr
    assert (inputs / victim).read_bytes() == before


# --- scenario overrides the experiment would ignore, and a changed 'baseline' -------------------------


@pytest.fixture(scope="module")
def hello():
    return model_from_text(HELLO)


@pytest.mark.parametrize(("overrides", "path", "fix"), [
    ({"run.seed": 5}, "run.seed", "set the experiment's `seed` instead"),
    ({"run.replications": 50}, "run.replications", "set the experiment's `replications` instead"),
    ({"run": {"max_customers": 10_000, "replications": 50}}, "run.replications",
     "set the experiment's `replications` instead"),
    # A shorter day, or customers left unserved at closing, in one scenario only: not the same measure.
    ({"run.horizon": 60}, "run.horizon", "change run.horizon in the model file (for every scenario) instead"),
    ({"run": {"drain": False}}, "run.drain", "change run.drain in the model file (for every scenario) instead"),
    # A drain cut short left the slowest customers uncounted: ranked first for it.
    ({"run.drain_limit": 0.001}, "run.drain_limit",
     "change run.drain_limit in the model file (for every scenario) instead"),
])
def test_a_scenario_cannot_change_a_run_setting_every_scenario_shares(hello, overrides, path, fix):
    with pytest.raises(ModelError) as refused:
        Experiment(hello, [Scenario("a", overrides=overrides)], replications=2)
    [problem] = refused.value.problems
    assert problem.path == f"scenario 'a' overrides: {path}"
    assert problem.message.endswith(fix)


def test_two_design_factors_on_one_model_path_are_refused_naming_both(tmp_path):
    """The later silently won: a=2, b=4 and a=3, b=4 had the same numbers, and `a` looked like no effect."""
    (tmp_path / "hello.yaml").write_text(HELLO)
    staff = "departments.front_desk.staff"
    data = {"name": "x", "model": "hello.yaml",
            "design": {"type": "grid", "factors": {"a": {"path": staff, "values": [2, 3]},
                                                   "b": {"path": staff, "values": [4, 5]}}}}
    with pytest.raises(ModelError) as refused:
        Experiment.from_dict(data, tmp_path)
    assert [str(p) for p in refused.value.problems] == [
        f"design.factors.b: sets {staff}, as factor 'a' does: only the later would act; keep one"]


def test_a_design_setting_the_seed_is_one_problem_however_many_scenarios(tmp_path):
    (tmp_path / "hello.yaml").write_text(HELLO)
    data = {"name": "x", "model": "hello.yaml",
            "design": {"type": "grid", "factors": {"run.seed": [1, 2, 3], "departments.back_office.staff": [1, 2]}}}
    with pytest.raises(ModelError) as refused:
        Experiment.from_dict(data, folder=tmp_path)
    [problem] = refused.value.problems
    assert problem.path.endswith("overrides: run.seed") and "(5 more scenarios have it too)" in problem.message


def test_a_scenario_named_baseline_may_not_change_the_model(hello):
    for changed in (Scenario("baseline", overrides={"departments.back_office.staff": 2}),
                    Scenario("baseline", levers=[{"lever": "add_staff", "department": "back_office"}])):
        with pytest.raises(ModelError, match="the name 'baseline' is kept for the model as written.*another name"):
            Experiment(hello, [changed])
    unchanged = Experiment(hello, [Scenario("baseline", cost=0, description="as it is"), Scenario("b")])
    assert [s.name for s in unchanged.scenarios] == ["baseline", "b"]


def test_the_cli_refuses_an_ignored_override_before_running(tmp_path):
    _experiment_file(tmp_path, "  - {name: a, overrides: {run.seed: 5}}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert "scenario 'a' overrides: run.seed: every scenario runs with the experiment's seed" in done.stderr
    assert not (tmp_path / "x.sqlite").exists()


# --- a partial store says so; resuming with fewer replications keeps the stored ones --------------------


def _stop_after(count: int):
    """A progress callback that stops the run as Ctrl-C does, once `count` replications are done."""
    def progress(done: int, total: int) -> None:
        if done >= count:
            raise KeyboardInterrupt
    return progress


def test_summarise_of_a_stopped_run_says_it_is_incomplete_and_how_to_continue(tmp_path):
    _experiment_file(tmp_path, HIRE)
    x = Experiment.from_file(tmp_path / "x.yaml")
    x.replications = 3
    with pytest.raises(KeyboardInterrupt):
        x.run(executor=SerialExecutor(), store=tmp_path / "x.sqlite", progress=_stop_after(3))
    done = chainsim("summarise", "x.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("x: 2 scenarios, 0-3 replications each")
    assert ("incomplete: 3 of 6 replications; continue with "
            "`chainsim experiment '<the experiment file>' --out x.sqlite --resume`") in done.stdout

    resumed = chainsim("experiment", "x.yaml", "--workers", "1", "-r", "3", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "2 scenarios, 3 replications each" in resumed.stdout and "incomplete" not in resumed.stdout


def test_a_scenario_a_stopped_run_left_short_is_not_ranked_and_says_on_what_it_stands(tmp_path):
    """Its mean is over the replications it shares with the baseline, the baseline's row over all of
    them: the row says so, as one with failed replications does, and is not ranked among complete ones."""
    _experiment_file(tmp_path, HIRE + "  - {name: hire_two, levers: [{lever: add_staff, department: back_office, "
                     "count: 2, cost: 20}]}\n", extra="kpis: [external.time_in_system.mean, external.completed]\n")
    x = Experiment.from_file(tmp_path / "x.yaml")
    x.replications = 3
    with pytest.raises(KeyboardInterrupt):  # baseline 3, hire 3, hire_two 1
        x.run(executor=SerialExecutor(), store=tmp_path / "x.sqlite", progress=_stop_after(7))
    with ResultStore(tmp_path / "x.sqlite", readonly=True) as db:
        compared = ExperimentResults.from_store(db, "x").compare().set_index(["kpi", "scenario"])
    assert compared["missing"].to_dict() == {(k, s): 2 if s == "hire_two" else 0 for k, s in compared.index}
    assert compared["rank"].isna().to_dict() == {(k, s): s == "hire_two" for k, s in compared.index}

    done = chainsim("summarise", "x.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  hire")}
    assert "on 1 replications shared" in rows["hire_two"] and "on " not in rows["hire"].split("]")[-1]
    assert "not ranked: the run stopped before this scenario had all the baseline's replications" in done.stdout
    for line in done.stdout.splitlines():  # an interval never runs into the number before it
        assert " [" in line or "[" not in line, line


def _hire(folder: Path, replications: int) -> Experiment:
    """The HIRE experiment of test_cli, asking for `replications` per scenario."""
    if not (folder / "x.yaml").exists():
        _experiment_file(folder, HIRE)
    x = Experiment.from_file(folder / "x.yaml")
    x.replications = replications
    return x


def test_resuming_with_fewer_replications_keeps_the_stored_count_in_report_and_store(tmp_path):
    store = tmp_path / "x.sqlite"
    _hire(tmp_path, 4).run(executor=SerialExecutor(), store=store)
    results = _hire(tmp_path, 2).run(executor=SerialExecutor(), store=store, resume=True).results
    assert results.replication_counts().to_dict() == {"baseline": 4, "hire": 4}
    assert results.definition["replications"] == 4
    with ResultStore(store) as db:
        assert db.definition("x")["replications"] == 4
    done = chainsim("summarise", "x.sqlite", cwd=tmp_path)
    assert "2 scenarios, 4 replications each" in done.stdout and "incomplete" not in done.stdout


def test_a_resume_with_fewer_replications_still_finishes_what_the_store_asked_for(tmp_path):
    store = tmp_path / "x.sqlite"
    with pytest.raises(KeyboardInterrupt):
        _hire(tmp_path, 4).run(executor=SerialExecutor(), store=store, progress=_stop_after(2))
    results = _hire(tmp_path, 1).run(executor=SerialExecutor(), store=store, resume=True).results
    assert results.replication_counts().to_dict() == {"baseline": 4, "hire": 4}
    assert results.completion() == (8, 8)



def test_a_run_where_no_customer_arrives_prints_dashes_not_nan(tmp_path):
    """Shares of nothing (no customer completed) are '-' in the table, as the KPIs above them are."""
    model = tmp_path / "empty.yaml"
    model.write_text(HELLO.replace("horizon: 120", "horizon: 0.001"))
    done = chainsim("run", str(model), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.split("Departments")[1].splitlines()[2:4]
    assert [row.split()[-1] for row in rows] == ["-", "-"]  # delay share of each department
    assert "nan" not in done.stdout


def test_departments_labelled_alike_are_told_apart_in_the_cli_tables(tmp_path):
    """Model.label adds the key where labels clash, so the API's tables, the CLI and the app agree."""
    model = tmp_path / "alike.yaml"
    model.write_text(HELLO.replace("front_desk: {staff: 2}", "front_desk: {staff: 2, label: Desk}")
                     .replace("back_office: {staff: 1}", "back_office: {staff: 1, label: Desk}"))
    for command in ("run", "validate"):
        done = chainsim(command, str(model), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Desk (front_de" in done.stdout and "Desk (back_off" in done.stdout  # cut at 15 characters
    labels = chainsim_api.simulate(model, replications=1).departments()["label"].tolist()
    assert labels == ["Desk (front_desk)", "Desk (back_office)"]


def test_a_reader_that_goes_away_stops_the_cli_quietly(tmp_path):
    """`chainsim run model | head -1`: the pipe closing is no bad input (exit 2) and no error message."""
    model = tmp_path / "hello.yaml"
    model.write_text(HELLO)
    proc = subprocess.Popen([sys.executable, "-m", "chainsim.cli", "run", str(model)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    proc.stdout.close()  # closed before the CLI has imported, so its first line meets a closed pipe
    assert proc.wait(timeout=300) == 141
    assert proc.stderr.read() == b""
    proc.stderr.close()


# --- the warm-up is the experiment's; failed replications, damaged stores and warnings are told ---------


@pytest.mark.parametrize("overrides", [{"run.warmup": 30}, {"run": {"warmup": 30}}])
def test_a_scenario_cannot_set_the_experiments_warmup(hello, overrides):
    with pytest.raises(ModelError) as refused:
        Experiment(hello, [Scenario("late start", overrides=overrides)], replications=2, warmup=10)
    [problem] = refused.value.problems
    assert problem.path == "scenario 'late start' overrides: run.warmup"
    assert "the same window of time as the baseline: remove this override and set the experiment's `warmup` " \
           "instead" in problem.message


def test_failed_replications_exit_3_naming_the_scenarios_and_their_rows_are_not_ranked(tmp_path):
    """At 38 customers a replication, the busier scenario's replication 1 fails, the baseline's do not."""
    _experiment_file(tmp_path, "  - {name: busier, levers: [{lever: demand_growth, percent: 30}]}\n" + HIRE,
                     extra="kpis: [external.arrived]\n")
    (tmp_path / "hello.yaml").write_text(HELLO.replace("seed: 1}", "seed: 1, max_customers: 38}"))
    for command in (["experiment", "x.yaml", "--workers", "1", "-r", "6"], ["summarise", "x.sqlite"]):
        done = chainsim(*command, cwd=tmp_path)
        assert done.returncode == 3, done.stderr
        assert_no_traceback(done)
        assert "error: replications failed: 'busier' 1 of 6." in done.stderr
        rows = {line.split()[0]: line.split("  on ")[0].split() for line in done.stdout.splitlines()
                if line.startswith("  ")}
        assert rows["busier"][-1] == "-" and rows["hire"][-1] == "1"  # busier is not ranked
        assert "busier" in done.stdout.split("not ranked")[0] and "on 5 replications shared" in done.stdout
        assert "not ranked: replications failed in the scenario or the baseline" in done.stdout


def test_an_export_keeps_the_failed_replications_as_rows_with_their_message(tmp_path):
    """The tidy rows had nothing for a failed replication: 'busier' looked like a run of 5."""
    _experiment_file(tmp_path, "  - {name: busier, levers: [{lever: demand_growth, percent: 30}]}\n",
                     extra="kpis: [external.arrived]\n")
    (tmp_path / "hello.yaml").write_text(HELLO.replace("seed: 1}", "seed: 1, max_customers: 38}"))
    assert chainsim("experiment", "x.yaml", "--workers", "1", "-r", "6", cwd=tmp_path).returncode == 3
    done = chainsim("summarise", "x.sqlite", "--csv", "x.csv", "--parquet", "x.parquet", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    for table in (pd.read_csv(tmp_path / "x.csv"), pd.read_parquet(tmp_path / "x.parquet")):
        failed = table[table["failure"].notna()]
        assert failed[["scenario", "replication"]].values.tolist() == [["busier", 1]]
        assert failed["kpi"].isna().all() and failed["value"].isna().all()
        assert "more than run.max_customers = 38" in failed["failure"].iloc[0]
        finished = table[table["failure"].isna()]
        assert sorted(finished.loc[finished["scenario"] == "busier", "replication"].unique()) == [0, 2, 3, 4, 5]
        assert finished["kpi"].notna().all()


def test_a_damaged_store_is_one_line_and_exit_2_for_summarise_and_resume(tmp_path):
    _experiment_file(tmp_path, HIRE)
    assert chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path).returncode == 0
    with open(tmp_path / "x.sqlite", "r+b") as f:  # a page overwritten: only later queries find it
        f.seek(4096)
        f.write(b"\xff" * 3000)
    for command in (["summarise", "x.sqlite"], ["experiment", "x.yaml", "--workers", "1", "--resume"]):
        done = chainsim(*command, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert_no_traceback(done)
        assert done.stderr.startswith("error: x.sqlite is damaged (database disk image is malformed)")
        assert "(--out NEW.sqlite)" in done.stderr


def test_the_experiment_prints_each_scenarios_model_warnings_once_with_its_name(tmp_path):
    slow = "  - {name: slow, levers: [{lever: train, department: back_office, time_factor: 8}]}\n"
    _experiment_file(tmp_path, slow + slow.replace("name: slow", "name: slower"))
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert any(line.startswith("warning: scenarios 'slow', 'slower': departments.back_office: offered load")
               for line in warnings), warnings
    assert len(warnings) == len(set(warnings)) and not any("'baseline'" in line for line in warnings)


def test_a_sequential_rule_stopped_at_max_says_so(tmp_path):
    _experiment_file(tmp_path, HIRE)
    (tmp_path / "x.yaml").write_text((tmp_path / "x.yaml").read_text().replace(
        "replications: 2", "replications: {kpi: external.time_in_system.mean, relative_half_width: 0.001, min: 2, max: 3}"))
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning: scenario 'hire': the 95% CI of external.time_in_system.mean reached ±" in done.stdout
    assert "of its mean at max=3 replications, not the ±0.1% asked: raise `max`" in done.stdout


def _design_experiment(folder: Path, design: str) -> None:
    """x.yaml: two replications of the hello chain over `design` (the YAML under `design:`)."""
    (folder / "hello.yaml").write_text(HELLO)
    (folder / "x.yaml").write_text(f"name: x\nmodel: hello.yaml\nreplications: 2\ndesign:\n{design}")


def test_a_latin_hypercubes_scenarios_show_their_factor_values_in_the_printout_and_the_export(tmp_path):
    _design_experiment(tmp_path, "  type: latin_hypercube\n  samples: 3\n  factors:\n"
                       "    staff: {path: departments.back_office.staff, low: 1, high: 3, integer: true}\n"
                       "    demand: {lever: demand_growth, vary: percent, low: 0, high: 20}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", "--out", "x.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    points = ExperimentResults.from_store(tmp_path / "x.sqlite", "x").scenarios
    lhs = [s for s in points if s["name"].startswith("lhs-")]
    assert len(lhs) == 3
    for s in lhs:  # the names say nothing of the values: the printout does
        values = ", ".join(f"{k}={v:,.3g}" for k, v in s["factors"].items())
        assert f"  {s['name']}: {values}" in done.stdout
    done = chainsim("summarise", "x.sqlite", "--csv", "x.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "x.csv")
    by_scenario = table.drop_duplicates("scenario").set_index("scenario")
    for s in lhs:
        assert by_scenario.loc[s["name"], "factor.staff"] == s["factors"]["staff"]
        assert by_scenario.loc[s["name"], "factor.demand"] == pytest.approx(s["factors"]["demand"])
    assert by_scenario.loc["baseline", ["factor.staff", "factor.demand"]].isna().all()  # the model as written


@pytest.mark.parametrize("args, option", [
    (["run", "hello.yaml", "-r", "2", "--csv", "out", "--json", "out/summary.csv"], "--json"),
    (["summarise", "x.sqlite", "--csv", "same.out", "--parquet", "same.out"], "--parquet"),
])
def test_two_outputs_of_one_command_at_one_path_are_refused_before_writing(tmp_path, args, option):
    # The JSON used to be overwritten by the summary table, the CSV by the parquet, with both "wrote" lines.
    (tmp_path / "hello.yaml").write_text(HELLO)
    if args[0] == "summarise":
        _experiment_file(tmp_path, HIRE)
        assert chainsim("experiment", "x.yaml", "--workers", "1", "--out", "x.sqlite", cwd=tmp_path).returncode == 0
    done = chainsim(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert "is also written by" in done.stderr and option in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "same.out").exists()


def test_a_horizon_option_shorter_than_the_warm_up_names_the_option(tmp_path):
    # It named only the file's run.warmup, which the user had not touched.
    (tmp_path / "hello.yaml").write_text(HELLO.replace("horizon: 120,", "horizon: 120, warmup: 60,"))
    done = chainsim("run", "hello.yaml", "--horizon", "50", cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert "Invalid value for --horizon: 50 does not fit the model: run.warmup: warm-up 60 must be shorter than " \
           "the horizon 50 (set by --horizon)" in done.stderr


def test_a_model_path_that_is_no_regular_file_is_not_called_missing(tmp_path):
    done = chainsim("run", "/dev/null", cwd=tmp_path)
    assert done.returncode == 2
    assert "/dev/null: is not a regular file: give the path of a model file (.yaml)" in done.stdout + done.stderr


@pytest.mark.parametrize("crn, says", [("true", "on the same replications (common random numbers)"),
                                       ("false", "on independent replications (common_random_numbers: false)")])
def test_the_experiment_header_says_whether_the_replications_are_shared(tmp_path, crn, says):
    _experiment_file(tmp_path, HIRE, extra=f"common_random_numbers: {crn}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"difference vs baseline {says})" in done.stdout


# --- the sensitivity table's columns line up -------------------------------------------------------


def test_the_sensitivity_tables_columns_line_up_whatever_the_values_widths(tmp_path):
    """Factors at 0.5 and at -15 put the second 'at' at different places, so the eye lost the column."""
    _design_experiment(tmp_path, "  type: one_at_a_time\n  factors:\n"
                       "    demand: {lever: demand_growth, vary: percent, low: -15, high: 15}\n"
                       "    back_office_speed: {lever: train, department: back_office, vary: time_factor, "
                       "low: 0.8, high: 1.25}\n")
    done = chainsim("experiment", "x.yaml", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\nSensitivity of ")[1].splitlines()[1:3]
    assert sorted(line.split()[0] for line in table) == ["back_office_speed", "demand"]
    places = {tuple(i for i in range(len(line)) if line.startswith(" at ", i)) for line in table}
    assert len(places) == 1, table  # each 'at' in one column
    assert {len(line) for line in table} == {len(table[0])}  # the numbers end in one column
