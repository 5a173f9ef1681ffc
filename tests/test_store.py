"""The SQLite results store: exact round trips, one transaction per replication, resume, export."""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3

import pandas as pd
import pytest
from tiny_chain import tiny_chain

from chainsim import (
    Experiment,
    ExperimentResults,
    ResultStore,
    Scenario,
    __version__,
    code_identity,
    load_model,
)
from chainsim.api import model_from_text
from chainsim.store import StoreError

TINY = tiny_chain(horizon=200, seed=5, replications=3)


def _experiment(replications: int = 3) -> Experiment:
    scenarios = [Scenario("hire", levers=[{"lever": "add_staff", "department": "checks", "cost": 10}])]
    return Experiment(model_from_text(TINY), scenarios, name="tiny", replications=replications)


def test_a_run_stores_exactly_the_numbers_it_reports(tmp_path):
    path = tmp_path / "r.sqlite"
    x = _experiment().run(store=path)
    with ResultStore(path) as db:
        stored = db.kpi_table("tiny")
        assert db.experiments() == ["tiny"]
        assert [s["name"] for s in db.scenarios("tiny")] == ["baseline", "hire"]
        assert db.scenarios("tiny")[1]["cost"] == 10
        assert db.replication_count("tiny") == 6
        mode = db._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    pd.testing.assert_frame_equal(stored, x.results.table, check_exact=True)
    loaded = ExperimentResults.from_store(path)
    pd.testing.assert_frame_equal(loaded.compare(), x.compare(), check_exact=True)
    assert loaded.primary == "external.time_in_system.mean"


def test_nan_kpis_round_trip_as_nan(tmp_path):
    with ResultStore(tmp_path / "n.sqlite") as db:
        db.begin("e", {}, [("s", {}, model_from_text(tiny_chain(100, 1)))], resume=False, version="t")
        db.record("e", "s", 0, 1, {"a": math.nan, "b": 0.1 + 0.2}, 0.5)
        table = db.kpi_table("e").set_index("kpi")
    assert math.isnan(table.loc["a", "value"])
    assert table.loc["b", "value"] == 0.1 + 0.2  # bit for bit


def test_a_replication_is_all_rows_or_none(tmp_path):
    with ResultStore(tmp_path / "a.sqlite") as db:
        db.begin("e", {}, [("s", {}, model_from_text(tiny_chain(100, 1)))], resume=False, version="t")
        db.record("e", "s", 0, 1, {"a": 1.0}, 0.1)
        with pytest.raises(ValueError):
            db.record("e", "s", 1, 1, {"a": 2.0, "b": "oops"}, 0.1)  # fails after its replication row: rolled back
        db.record("e", "s", 0, 1, {"a": 2.0, "b": 3.0}, 0.1)  # replication 0 again (a second resume): first kept
        assert db.kpi_table("e")["value"].tolist() == [1.0]
        assert db.replication_count("e") == 1


def test_a_store_is_never_overwritten_and_resume_skips_what_is_stored(tmp_path):
    path = tmp_path / "r.sqlite"
    _experiment().run(store=path)
    with pytest.raises(StoreError, match="--resume"):
        _experiment().run(store=path)
    calls = []
    x = _experiment(replications=5).run(store=path, resume=True, progress=lambda done, total: calls.append(done))
    assert calls[0] == 6 and calls[-1] == 10  # 6 stored, 4 run now
    full = _experiment(replications=5).run()
    pd.testing.assert_frame_equal(x.results.table, full.results.table, check_exact=True)


def test_resume_refuses_a_changed_scenario(tmp_path):
    path = tmp_path / "r.sqlite"
    _experiment().run(store=path)
    changed = Experiment(model_from_text(TINY), [Scenario("hire", levers=[{"lever": "add_staff", "department": "desk"}])],
                         name="tiny", replications=3)
    with pytest.raises(StoreError, match="different model"):
        changed.run(store=path, resume=True)


def test_failures_are_stored_and_retried_on_resume(tmp_path):
    path = tmp_path / "f.sqlite"
    x = Experiment(model_from_text(TINY), [Scenario("capped", overrides={"run.max_customers": 3})],
                   name="f", replications=2).run(store=path)
    with ResultStore(path) as db:
        failures = db.failures("f")
    assert list(failures["scenario"]) == ["capped", "capped"]
    assert failures["message"].str.contains("max_customers").all()
    assert x.results.failures["message"].tolist() == failures["message"].tolist()


def test_resume_refuses_a_changed_seed_or_scenario_cost_and_says_what_changed(tmp_path):
    path = tmp_path / "r.sqlite"
    _experiment(replications=2).run(store=path)
    reseeded = _experiment(replications=4)
    reseeded.seed = 99
    with pytest.raises(StoreError, match=r"its seed changed \(stored 5, now 99\).*--out NEW.sqlite"):
        reseeded.run(store=path, resume=True)
    repriced = Experiment(model_from_text(TINY), [Scenario("hire", levers=[
        {"lever": "add_staff", "department": "checks", "cost": 99}])], name="tiny", replications=4)
    with pytest.raises(StoreError, match="scenario 'hire' changed"):
        repriced.run(store=path, resume=True)
    with ResultStore(path) as db:
        assert set(db.kpi_table("tiny")["seed"]) == {5} and db.replication_count("tiny") == 4  # nothing mixed in


def test_a_store_is_refused_clearly_when_it_is_not_one(tmp_path):
    text = tmp_path / "h.py"
    text.write_text("print('hello')\n")
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    for path, words in [(text, "not an SQLite file"), (tmp_path / "no" / "x.sqlite", "cannot open")]:
        with pytest.raises(StoreError, match=words):
            ResultStore(path)
    for path, words in [(text, "not an SQLite file"), (empty, "holds no results"),
                        (tmp_path / "missing.sqlite", "does not exist")]:
        with pytest.raises(StoreError, match=words):
            ResultStore(path, readonly=True)
    assert text.read_text() == "print('hello')\n" and empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite", "h.py"]  # nothing created


def test_export_csv_and_parquet_hold_the_tidy_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    x = _experiment().run(store=path)
    with ResultStore(path) as db:
        db.export_csv(tmp_path / "r.csv", "tiny")
        db.export_parquet(tmp_path / "r.parquet")
    from_parquet = pd.read_parquet(tmp_path / "r.parquet")
    pd.testing.assert_frame_equal(from_parquet, x.results.table, check_exact=True)
    from_csv = pd.read_csv(tmp_path / "r.csv")
    assert list(from_csv.columns) == ["experiment", "scenario", "replication", "seed", "kpi", "value"]
    assert len(from_csv) == len(x.results.table)
    pd.testing.assert_series_equal(from_csv["value"], x.results.table["value"], rtol=1e-12)


def test_summarise_prints_the_comparison_and_exports(tmp_path):
    from click.testing import CliRunner

    from chainsim.cli import main

    path = tmp_path / "r.sqlite"
    x = _experiment().run(store=path)
    result = CliRunner().invoke(main, ["summarise", str(path), "--csv", str(tmp_path / "r.csv"),
                                       "--parquet", str(tmp_path / "r.parquet")])
    assert result.exit_code == 0, result.output
    assert "tiny: 2 scenarios, 3 replications each" in result.output and "hire" in result.output
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == len(pd.read_csv(tmp_path / "r.csv")) == len(x.results.table)
    missing = CliRunner().invoke(main, ["summarise", str(path), "--experiment", "nope"])
    assert missing.exit_code == 2 and "holds no experiment 'nope'" in missing.output


# --- "same model?" counts the arrival traces' contents; a store of another version is not resumed ----


def _traced_experiment(folder) -> Experiment:
    """The tiny chain with its walk-ins read from folder/arrivals.csv (written by the caller)."""
    (folder / "traced.yaml").write_text(TINY.replace("arrivals: {rate: 0.25}", "arrivals: {trace: arrivals.csv}"))
    return Experiment(load_model(folder / "traced.yaml"), name="traced", replications=2)


def _write_trace(folder, gap: float) -> None:
    (folder / "arrivals.csv").write_text("time\n" + "".join(f"{i * gap}\n" for i in range(int(150 / gap))))


def test_a_models_fingerprint_holds_its_trace_contents(tmp_path):
    plain = model_from_text(TINY)
    assert plain.fingerprint() == hashlib.sha256(plain.canonical_json().encode()).hexdigest()  # as stores recorded
    _write_trace(tmp_path, gap=4)
    traced = _traced_experiment(tmp_path).model
    before = traced.fingerprint()
    _write_trace(tmp_path, gap=2)  # the same path: the canonical JSON cannot tell
    assert traced.fingerprint() != before
    assert traced.fingerprint() != hashlib.sha256(traced.canonical_json().encode()).hexdigest()


def test_resume_refuses_a_trace_file_changed_in_place(tmp_path):
    _write_trace(tmp_path, gap=4)
    _traced_experiment(tmp_path).run(store=tmp_path / "t.sqlite", workers=1)
    _write_trace(tmp_path, gap=2)  # busier: resuming would mix two traces' numbers
    with pytest.raises(StoreError, match="scenario 'baseline' was run with a different model .*arrival trace"):
        _traced_experiment(tmp_path).run(store=tmp_path / "t.sqlite", workers=1, resume=True)
    _write_trace(tmp_path, gap=4)  # the same trace again: resume continues
    _traced_experiment(tmp_path).run(store=tmp_path / "t.sqlite", workers=1, resume=True)


def test_resume_refuses_a_store_of_another_chainsim_version(tmp_path):
    path = tmp_path / "r.sqlite"
    _experiment(replications=2).run(store=path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE experiments SET chainsim_version = '0.0.1'")
    with pytest.raises(StoreError, match=rf"written by chainsim 0.0.1, this is chainsim {re.escape(code_identity())}.*--out NEW"):
        _experiment(replications=4).run(store=path, resume=True)
    with ResultStore(path) as db:
        assert db.replication_count("tiny") == 4  # nothing added
    with sqlite3.connect(path) as db:  # the same version number, other source (an edited checkout)
        db.execute("UPDATE experiments SET chainsim_version = ?", (f"{__version__} (source 000000000000)",))
    with pytest.raises(StoreError, match=r"written by chainsim .*source 000000000000\), this is chainsim"):
        _experiment(replications=4).run(store=path, resume=True)


# --- a damaged store is the store's error, not sqlite's ------------------------------------------------


def _damaged_store(tmp_path):
    """A store with a page overwritten: the header reads, later queries find the damage."""
    path = tmp_path / "d.sqlite"
    _experiment().run(store=path)
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 3000)
    return path


@pytest.mark.parametrize("damage, says", [
    ("UPDATE experiments SET definition = '{{{'", "experiment 'tiny': definition is not readable"),
    ("UPDATE experiments SET definition = '[1, 2]'", "experiment 'tiny': definition is not readable"),
    ("UPDATE experiments SET definition = json_set(definition, '$.replications', 'x')",
     "experiment 'tiny': definition has no whole seed and replications"),
    ("UPDATE scenarios SET definition = 'nope' WHERE scenario = 'hire'", "scenario 'hire': definition is not readable"),
    ("UPDATE kpis SET value = 'abc' WHERE rowid = 1", "a KPI value is not a number"),
])
def test_a_store_whose_contents_were_damaged_says_so_on_reading_and_resuming(tmp_path, damage, says):
    """Readable SQLite with a field that is not what chainsim wrote (edited by hand): a JSONDecodeError,
    TypeError or ValueError traceback, from summarise and from a resume."""
    path = tmp_path / "d.sqlite"
    _experiment().run(store=path)
    db = sqlite3.connect(path)
    db.execute(damage)
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=rf"{re.escape(str(path))} is damaged \({re.escape(says)}\)"):
        ExperimentResults.from_store(path)
    with pytest.raises(StoreError, match=re.escape(says)):
        _experiment().run(store=path, resume=True)


def test_a_damaged_store_is_reported_as_damaged_not_as_sqlites_error(tmp_path):
    path = _damaged_store(tmp_path)
    with pytest.raises(StoreError, match=rf"{path} is damaged .*malformed.*new file \(--out NEW.sqlite\)"):
        with ResultStore(path, readonly=True) as db:
            db.experiments()
    with pytest.raises(StoreError, match="is damaged"):
        _experiment().run(store=path, resume=True)
