"""Same model and seed, same numbers: run twice, across processes, serial or parallel, with an extra
department. Equality is exact (float reprs compared as text), never approximate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from strategies import fuzz_settings, valid_models

from chainsim import Model, load_model, parse_model, simulate

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "models" / "retail_bank.yaml"
SEED = 20240611
REPLICATIONS = 4


def fingerprint(results) -> str:
    """Every KPI of every replication as exact text (repr round-trips floats; NaN as NaN)."""
    return json.dumps(results.kpis, sort_keys=True)


def records_equal(a, b) -> bool:
    """Per-customer and per-job arrays identical, byte for byte."""
    for ra, rb in zip(a.records, b.records, strict=True):
        for table in ("customers", "jobs", "attribution"):
            x, y = getattr(ra, table), getattr(rb, table)
            if x.keys() != y.keys() or any(x[k].tobytes() != y[k].tobytes() for k in x):
                return False
    return True


@pytest.fixture(scope="module")
def bank() -> Model:
    return load_model(BANK)


@pytest.fixture(scope="module")
def serial(bank):
    return simulate(bank, replications=REPLICATIONS, seed=SEED, workers=1)


def test_same_seed_twice_in_one_process_is_bit_identical(bank, serial) -> None:
    again = simulate(bank, replications=REPLICATIONS, seed=SEED, workers=1)
    assert fingerprint(again) == fingerprint(serial)
    assert records_equal(again, serial)
    assert again.summary().equals(serial.summary())


def test_another_seed_gives_other_numbers(bank, serial) -> None:
    """The check above can fail: a different seed must change the KPI table."""
    other = simulate(bank, replications=REPLICATIONS, seed=SEED + 1, workers=1)
    assert fingerprint(other) != fingerprint(serial)


def test_processes_give_the_serial_numbers(bank, serial) -> None:
    parallel = simulate(bank, replications=REPLICATIONS, seed=SEED, workers=2)
    assert fingerprint(parallel) == fingerprint(serial)
    assert records_equal(parallel, serial)


RUN_IN_FRESH_PROCESS = """
import json, sys
from chainsim import simulate
results = simulate(sys.argv[1], replications=int(sys.argv[2]), seed=int(sys.argv[3]), workers=1)
with open(sys.argv[4], "w") as out:
    json.dump(results.kpis, out, sort_keys=True)
"""


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_a_fresh_process_gives_the_same_numbers(serial, tmp_path, hash_seed) -> None:
    """A new interpreter (with a different str-hash seed) reproduces the table exactly."""
    out = tmp_path / "kpis.json"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, "-c", RUN_IN_FRESH_PROCESS, str(BANK), str(REPLICATIONS), str(SEED),
                    str(out)], check=True, env=env, timeout=120)
    assert json.dumps(json.loads(out.read_text()), sort_keys=True) == fingerprint(serial)


def _with_idle_department(data: dict, first: bool) -> dict:
    """Add a department no journey uses (with its own interruptions: a stream of its own)."""
    idle = {"staff": 2, "interruptions": {"every": {"dist": "exponential", "mean": 7},
                                          "lasts": {"dist": "exponential", "mean": 2}}}
    departments = dict(data["departments"])
    departments = {"idle_legal": idle, **departments} if first else {**departments, "idle_legal": idle}
    return {**data, "departments": departments}


def _without(kpis: list[dict[str, float]], name: str) -> str:
    return json.dumps([{k: v for k, v in rep.items() if f".{name}." not in k} for rep in kpis], sort_keys=True)


@pytest.mark.parametrize("first", [True, False], ids=["added-first", "added-last"])
def test_an_idle_department_does_not_change_the_others(bank, serial, first) -> None:
    """Named streams: adding a department (even ahead of the others) shifts no other draw."""
    data = bank.model_dump(by_alias=True, exclude_none=True)
    bigger = simulate(parse_model(_with_idle_department(data, first)), replications=REPLICATIONS,
                      seed=SEED, workers=1)
    assert _without(bigger.kpis, "idle_legal") == fingerprint(serial)
    assert any(k.startswith("department.idle_legal.") for k in bigger.kpis[0])


@pytest.mark.timeout(300)
@fuzz_settings(max_examples=25)
@given(valid_models())
def test_any_valid_model_repeats_exactly_and_ignores_an_idle_department(data: dict) -> None:
    model = parse_model(data)
    once = simulate(model, replications=2, workers=1)
    twice = simulate(model, replications=2, workers=1)
    assert fingerprint(once) == fingerprint(twice)
    assert records_equal(once, twice)
    bigger = simulate(parse_model(_with_idle_department(data, first=True)), replications=2, workers=1)
    assert _without(bigger.kpis, "idle_legal") == fingerprint(once)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dask_local_cluster_gives_the_serial_numbers(bank, serial) -> None:
    distributed = simulate(bank, replications=REPLICATIONS, seed=SEED, dask="local")
    assert fingerprint(distributed) == fingerprint(serial)
    assert records_equal(distributed, serial)


def test_replication_seeds_are_independent_of_how_many_run(bank, serial) -> None:
    """Replication i draws the same numbers whether 2 or 4 replications are asked for."""
    fewer = simulate(bank, replications=2, seed=SEED, workers=1)
    assert json.dumps(fewer.kpis, sort_keys=True) == json.dumps(serial.kpis[:2], sort_keys=True)
    assert not np.array_equal(serial.records[0].customers["arrival"], serial.records[1].customers["arrival"])
