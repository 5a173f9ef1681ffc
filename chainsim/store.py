"""Experiment results on disk: an SQLite file, written as each replication finishes, resumable.

Why SQLite: it is in the standard library (no extra dependency), one file holds any number of
experiments, and each finished replication is one transaction, so a process killed at any moment
(SIGKILL included) leaves a readable file holding every replication that finished and none
half-written. WAL mode lets the app or ``chainsim summarise`` read while a run writes. (DuckDB
would add a dependency and lock the file against readers; a parquet dataset would need one file
per replication to be atomic.) Export to CSV or parquet for other tools.

Tables: ``experiments`` (definition), ``scenarios`` (definition and the scenario's model as
canonical JSON), ``replications`` (one row per finished replication), ``kpis`` (tidy rows:
experiment, scenario, replication, seed, kpi, value) and ``failures`` (the message of a
replication that raised). Only the process running the experiment writes.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from chainsim.model import Model

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    experiment TEXT PRIMARY KEY, definition TEXT NOT NULL, chainsim_version TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    experiment TEXT NOT NULL, scenario TEXT NOT NULL, position INTEGER NOT NULL, definition TEXT NOT NULL,
    model TEXT, model_hash TEXT, PRIMARY KEY (experiment, scenario));
CREATE TABLE IF NOT EXISTS replications (
    experiment TEXT NOT NULL, scenario TEXT NOT NULL, replication INTEGER NOT NULL, seed INTEGER NOT NULL,
    seconds REAL NOT NULL, finished REAL NOT NULL, PRIMARY KEY (experiment, scenario, replication));
CREATE TABLE IF NOT EXISTS kpis (
    experiment TEXT NOT NULL, scenario TEXT NOT NULL, replication INTEGER NOT NULL, seed INTEGER NOT NULL,
    kpi TEXT NOT NULL, value REAL, PRIMARY KEY (experiment, scenario, replication, kpi));
CREATE TABLE IF NOT EXISTS failures (
    experiment TEXT NOT NULL, scenario TEXT NOT NULL, replication INTEGER NOT NULL, seed INTEGER NOT NULL,
    message TEXT NOT NULL, finished REAL NOT NULL, PRIMARY KEY (experiment, scenario, replication));
"""

SQLITE_HEADER = b"SQLite format 3\x00"
SAME_ON_RESUME = ("model", "seed", "common_random_numbers", "warmup")  # what the stored numbers depend on
SQL_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError)  # this code's mistakes, not the file's
DAMAGED = ("malformed", "not a database")  # SQLite's words for a file whose pages are garbage
T = TypeVar("T")


class StoreError(ValueError):
    """The store cannot take this run as asked (it holds other results); the message says what to do."""


ScenarioEntry = tuple[str, dict, Model]  # name, definition, its model


def model_hash(model: Model) -> str:
    """What decides "same model?" on resume: the model's fingerprint, so the contents of its arrival
    trace files count, not only their paths."""
    return model.fingerprint()[:16]


def _store_errors(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite errors met after opening (a damaged page is found only when a query reads it) become
    StoreError saying what to do; pandas wraps them in its own DatabaseError. Misuse of SQL stays a bug."""
    @functools.wraps(method)
    def guarded(self: ResultStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else exc
            if not isinstance(cause, sqlite3.DatabaseError) or isinstance(cause, SQL_BUGS):
                raise
            raise self._unusable(cause) from None
    return guarded


class ResultStore:
    """One SQLite file of experiment results. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path, readonly: bool = False):
        """Open (or create) the store at path; readonly: only read an existing one, never create or change it."""
        self.path = Path(path)
        self.readonly = readonly
        self._check_file(readonly)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions below
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path} as a results store ({exc}): choose a file in a folder "
                             "you can write to (--out)") from None
        try:
            self._db.execute("PRAGMA busy_timeout=10000")
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "experiments" not in tables:
                raise StoreError(f"{self.path} is an SQLite file of another program, not a results store: "
                                 "choose another file (--out)")
            if readonly and not tables:
                raise StoreError(f"{self.path} holds no results (it has no experiments)")
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
                self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise self._unusable(exc) from None
        except StoreError:
            self._db.close()
            raise

    def _unusable(self, exc: sqlite3.Error) -> StoreError:
        """The one-line error for a store SQLite cannot read or write: damaged, locked, disk full."""
        if any(words in str(exc) for words in DAMAGED):
            return self._damaged(str(exc))
        if "full" in str(exc):
            return StoreError(f"cannot write to {self.path} ({exc}): the replications stored so far are kept; free "
                              "some space and continue with --resume")
        if self.readonly:
            return StoreError(f"cannot read {self.path} ({exc}): SQLite reads it beside its -wal and -shm files, "
                              "in a folder it may write to: copy the store to such a folder and read the copy")
        return StoreError(f"cannot use {self.path} as a results store ({exc}): choose another file (--out)")

    def _check_file(self, readonly: bool) -> None:
        """Refuse a missing file (when reading) or one that is not SQLite before SQLite touches it."""
        if not self.path.exists():
            if readonly:
                raise StoreError(f"{self.path} does not exist: give the results file of an experiment")
            return
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder: give a file name for the results store (--out)")
        with open(self.path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
        if readonly and not header:
            raise StoreError(f"{self.path} holds no results (the file is empty)")
        if header and header != SQLITE_HEADER:
            raise StoreError(f"{self.path} is not a results store (not an SQLite file): give the store's path, "
                             "or choose another file for results (--out)")

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- writing ---------------------------------------------------------------------------

    @_store_errors
    def begin(self, experiment: str, definition: dict, scenarios: list[ScenarioEntry],
              resume: bool, version: str) -> set[tuple[str, int]]:
        """Register an experiment and its scenarios; return the (scenario, replication) pairs already done.

        Without resume, a store already holding this experiment is refused (nothing is overwritten).
        With resume, the stored experiment must be this one: same seed, random numbers, warm-up, model (its
        fingerprint: trace contents too), scenarios and chainsim version (more replications are fine), else
        StoreError says what changed. A resume asking for
        fewer replications than stored keeps the stored count: the stored replications stay, and the
        definition must describe them.
        """
        with self._transaction():  # check and register at once: a second run starting now waits, then sees this one
            known = self._db.execute("SELECT 1 FROM experiments WHERE experiment = ?", (experiment,)).fetchone()
            if known and not resume:
                raise StoreError(f"{self.path} already holds experiment {experiment!r}: continue it with resume "
                                 "(--resume), or write to another store (--out)")
            if known:
                changed = self._changes(experiment, definition, scenarios, version)
                if changed:
                    raise StoreError(f"cannot resume {experiment!r} in {self.path}: {'; '.join(changed)}. Resume "
                                     "only continues the same experiment: write to a new file (--out NEW.sqlite), "
                                     "or undo the change")
                definition = self._keep_stored_count(experiment, definition)
            self._db.execute("INSERT OR IGNORE INTO experiments VALUES (?, ?, ?, ?)",
                             (experiment, json.dumps(definition), version, time.time()))
            self._db.execute("UPDATE experiments SET definition = ? WHERE experiment = ?",  # e.g. more replications
                             (json.dumps(definition), experiment))
            self._db.executemany(
                "INSERT OR IGNORE INTO scenarios VALUES (?, ?, ?, ?, ?, ?)",
                [(experiment, name, i, json.dumps(d), m.canonical_json(), model_hash(m))
                 for i, (name, d, m) in enumerate(scenarios)])
        return set(self._db.execute("SELECT scenario, replication FROM replications WHERE experiment = ?",
                                    (experiment,)).fetchall())

    def _keep_stored_count(self, experiment: str, definition: dict) -> dict:
        """definition, with the stored replication count if that is larger than the one asked now."""
        stored, asked = self.definition(experiment).get("replications"), definition.get("replications")
        if isinstance(stored, int) and isinstance(asked, int) and stored > asked:
            return {**definition, "replications": stored}
        return definition

    def _changes(self, experiment: str, definition: dict, scenarios: list[ScenarioEntry], version: str) -> list[str]:
        """What differs between the stored experiment and this one, in what its numbers depend on
        (the chainsim version too: another version's engine may compute other numbers)."""
        stored = self.definition(experiment)
        stored_version = self._db.execute("SELECT chainsim_version FROM experiments WHERE experiment = ?",
                                          (experiment,)).fetchone()[0]
        changed = [f"it was written by chainsim {stored_version}, this is chainsim {version}"] \
            if stored_version != version else []
        changed += [f"its {key} changed (stored {stored[key]!r}, now {definition.get(key)!r})"
                    for key in SAME_ON_RESUME if key in stored and stored[key] != definition.get(key)]
        rows = self._db.execute("SELECT scenario, definition, model_hash FROM scenarios WHERE experiment = ?",
                                (experiment,)).fetchall()
        before = {name: (_plain(self._decoded(d, f"scenario {name!r}: definition")), digest) for name, d, digest in rows}
        now = {name: (_plain(json.loads(json.dumps(d))), model_hash(m)) for name, d, m in scenarios}
        if before.keys() != now.keys():
            added = ", ".join(map(repr, sorted(now.keys() - before.keys()))) or "none"
            removed = ", ".join(map(repr, sorted(before.keys() - now.keys()))) or "none"
            changed.append(f"its scenarios changed (added: {added}; removed: {removed})")
        for name in [name for name in now if name in before]:
            if before[name][1] != now[name][1]:
                changed.append(f"scenario {name!r} was run with a different model (or different contents of "
                               "its arrival trace files)")
            elif before[name][0] != now[name][0]:
                changed.append(f"scenario {name!r} changed (its overrides, levers or cost)")
        return changed

    @_store_errors
    def record(self, experiment: str, scenario: str, replication: int, seed: int,
               kpis: dict[str, float], seconds: float) -> None:
        """Store one finished replication's KPIs: all of its rows or none (one transaction).

        A replication another process has stored meanwhile (two --resume runs of one store) is kept as
        it is: the same task gives the same numbers, and the first commit stays.
        """
        with self._transaction():
            self._db.execute("DELETE FROM failures WHERE experiment = ? AND scenario = ? AND replication = ?",
                             (experiment, scenario, replication))
            added = self._db.execute("INSERT OR IGNORE INTO replications VALUES (?, ?, ?, ?, ?, ?)",
                                     (experiment, scenario, replication, seed, seconds, time.time())).rowcount
            if not added:
                return
            self._db.executemany("INSERT INTO kpis VALUES (?, ?, ?, ?, ?, ?)",
                                 [(experiment, scenario, replication, seed, k, _real(v)) for k, v in kpis.items()])

    @_store_errors
    def record_failure(self, experiment: str, scenario: str, replication: int, seed: int, message: str) -> None:
        """Store why a replication could not run (a resumed run tries it again)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?)",
                             (experiment, scenario, replication, seed, message, time.time()))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raised."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------

    @_store_errors
    def experiments(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT experiment FROM experiments ORDER BY created")]

    @_store_errors
    def definition(self, experiment: str) -> dict:
        row = self._db.execute("SELECT definition FROM experiments WHERE experiment = ?", (experiment,)).fetchone()
        if row is None:
            known = ", ".join(self.experiments()) or "none"
            raise StoreError(f"{self.path} holds no experiment {experiment!r} (it holds: {known})")
        definition = self._decoded(row[0], f"experiment {experiment!r}: definition")
        replications = definition.get("replications")
        if not (isinstance(definition.get("seed"), int) and (
                isinstance(replications, int) or isinstance(replications, dict) and isinstance(replications.get("min"), int))):
            raise self._damaged(f"experiment {experiment!r}: definition has no whole seed and replications")
        return definition

    @_store_errors
    def scenarios(self, experiment: str) -> list[dict]:
        """Scenario definitions in experiment order, each with its name."""
        rows = self._db.execute("SELECT scenario, definition FROM scenarios WHERE experiment = ? ORDER BY position",
                                (experiment,))
        return [{**self._decoded(d, f"scenario {name!r}: definition"), "name": name} for name, d in rows]

    def _decoded(self, text: str, what: str) -> dict:
        """A stored JSON object; a StoreError naming what is damaged if it is not one (edited by hand, say)."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = None
        if not isinstance(value, dict):
            raise self._damaged(f"{what} is not readable")
        return value

    def _damaged(self, what: str) -> StoreError:
        return StoreError(f"{self.path} is damaged ({what}): its results cannot be read; restore it from a copy, "
                          "or run the experiment again into a new file (--out NEW.sqlite)")

    @_store_errors
    def scenario_model(self, experiment: str, scenario: str) -> str | None:
        row = self._db.execute("SELECT model FROM scenarios WHERE experiment = ? AND scenario = ?",
                               (experiment, scenario)).fetchone()
        return row[0] if row else None

    @_store_errors
    def kpi_table(self, experiment: str | None = None) -> pd.DataFrame:
        """Tidy rows (experiment, scenario, replication, seed, kpi, value), in experiment order."""
        query = ("SELECT k.experiment, k.scenario, k.replication, k.seed, k.kpi, k.value FROM kpis k "
                 "JOIN scenarios s ON s.experiment = k.experiment AND s.scenario = k.scenario "
                 + ("WHERE k.experiment = ? " if experiment else "")
                 + "ORDER BY k.experiment, s.position, k.replication, k.kpi")
        table = pd.read_sql_query(query, self._db, params=(experiment,) if experiment else ())
        try:
            table["value"] = table["value"].astype(float)
        except (TypeError, ValueError):
            raise self._damaged("a KPI value is not a number") from None
        return table

    @_store_errors
    def failures(self, experiment: str | None = None) -> pd.DataFrame:
        query = ("SELECT experiment, scenario, replication, seed, message FROM failures "
                 + ("WHERE experiment = ? " if experiment else "") + "ORDER BY experiment, scenario, replication")
        return pd.read_sql_query(query, self._db, params=(experiment,) if experiment else ())

    @_store_errors
    def replication_count(self, experiment: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM replications WHERE experiment = ?", (experiment,)).fetchone()[0]

    # -- export ----------------------------------------------------------------------------

    @_store_errors
    def export_csv(self, path: str | Path, experiment: str | None = None) -> None:
        """Tidy KPI rows to a CSV file, with the scenarios' design factors (see export_table)."""
        self.export_table(experiment).to_csv(path, index=False)

    @_store_errors
    def export_parquet(self, path: str | Path, experiment: str | None = None) -> None:
        """Tidy KPI rows to a parquet file (pyarrow), with the scenarios' design factors."""
        self.export_table(experiment).to_parquet(path, index=False, engine="pyarrow")

    def export_table(self, experiment: str | None = None) -> pd.DataFrame:
        """The tidy KPI rows with a column `factor.<name>` per design factor, holding each scenario's
        value: a Latin hypercube's scenarios are named lhs-01, lhs-02, ..., so without them a row
        could not be traced to its design point (to fit a model over the factors, say).

        A failed replication has no KPIs; it comes last as one row with an empty kpi and its message
        in a column `failure`, so an export does not pass a failed run off as a short one."""
        table = self.kpi_table(experiment)
        failed = self.failures(experiment)
        if len(failed):
            failed = failed.rename(columns={"message": "failure"}).assign(kpi=None, value=math.nan)
            table = pd.concat([table.assign(failure=None), failed[[*table.columns, "failure"]]], ignore_index=True)
        factors = self.scenario_factors(experiment)
        return table.merge(factors, on=["experiment", "scenario"], how="left") if len(factors.columns) > 2 else table

    @_store_errors
    def scenario_factors(self, experiment: str | None = None) -> pd.DataFrame:
        """Per scenario of a design, its factors' values as columns `factor.<name>` (empty where none)."""
        query = "SELECT experiment, scenario, definition FROM scenarios " + (
            "WHERE experiment = ? " if experiment else "") + "ORDER BY experiment, position"
        rows = self._db.execute(query, (experiment,) if experiment else ()).fetchall()
        return pd.DataFrame([{"experiment": e, "scenario": name,
                              **{f"factor.{k}": v for k, v in
                                 (self._decoded(d, f"scenario {name!r}: definition").get("factors") or {}).items()}}
                             for e, name, d in rows], columns=None if rows else ["experiment", "scenario"])


def _plain(definition: dict) -> dict:
    """A scenario definition without its description: rewording it changes no number."""
    return {k: v for k, v in definition.items() if k != "description"}


def _real(value: float) -> float | None:
    """SQLite has no NaN: a KPI without a value (no customer completed) is stored as NULL."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
