"""Every bundled model and experiment works: each is a user's first example, so each is a test.

A model must validate with no department overloaded, carry its explanatory header, run on a
shortened horizon, count every customer exactly once (arrived = completed + abandoned + balked +
still in system) and charge every minute of a customer's time to exactly one (department, kind).
Every experiment file must run at a tiny size and answer with a comparison for each scenario.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import chainsim
from chainsim.experiment import Experiment
from chainsim.load import offered_load
from chainsim.metrics import kpi_range
from chainsim.model import Model, load_model
from chainsim.recorder import KINDS

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted((ROOT / "models").glob("*.yaml"))
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
HEADER_PARTS = ("where the numbers come from", "what to try")


def shortened(model: Model) -> Model:
    """The same model over a quarter of its measured stretch (at least a tenth of a day), warm-up kept."""
    run = model.run
    measured = max((run.horizon - run.warmup) / 4, model.day_length / 10)
    return model.with_changes({"run.horizon": run.warmup + min(measured, run.horizon - run.warmup)})


def test_every_model_and_experiment_is_found():
    assert {p.stem for p in MODELS} >= {"retail_bank", "hello_chain", "saas_support", "hospital_ed",
                                         "ecommerce_fulfilment", "insurance_claims"}
    assert {p.stem for p in EXPERIMENTS} >= {p.stem for p in MODELS}


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_model_has_a_header_saying_where_its_numbers_come_from(path):
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lower())
    text = " ".join(header)
    assert len(header) >= 5, "a model file starts with a comment header: what, where from, what to try"
    for part in HEADER_PARTS:
        assert part in text, f"header lacks {part!r}"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_model_validates_with_no_department_overloaded(path):
    model = load_model(path)
    for load in offered_load(model):
        assert load.utilisation < 1.0, f"{load.department} offered {load.utilisation:.0%} of its staff"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_model_runs_and_counts_every_customer_and_minute_once(path):
    model = shortened(load_model(path))
    results = chainsim.simulate(model, replications=2, seed=3)

    for kpis in results.kpis:
        assert kpis["external.arrived"] > 0
        assert kpis["external.completed"] > 0
        assert kpis["external.arrived"] == (kpis["external.completed"] + kpis["external.abandoned"]
                                            + kpis["external.balked"] + kpis["external.in_system_at_end"])
        minutes = sum(kpis[f"attribution.{d}.{k}"] for d in model.departments for k in KINDS)
        assert minutes == pytest.approx(kpis["external.time_in_system.mean"], rel=1e-9)
        shares = sum(kpis[f"attribution.{d}.share"] for d in model.departments)
        assert shares == pytest.approx(1.0, rel=1e-9)
        for name, value in kpis.items():  # the range every confidence interval is cut to
            low, high = kpi_range(name)
            assert math.isnan(value) or low <= value <= high, f"{name} = {value} outside [{low}, {high}]"

    customers = results.customers()
    counted = customers[customers["counted"]]
    assert set(counted["outcome"].unique()) <= {"completed", "abandoned", "balked", "in_system"}
    for replication in range(results.replications):
        per_customer = results.customer_attribution(replication)
        charged = per_customer.loc[:, list(model.departments)].sum(axis=1).to_numpy()
        np.testing.assert_allclose(charged, per_customer["time_in_system"].to_numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_runs_at_a_tiny_size(path):
    experiment = Experiment.from_file(path)
    experiment.model = shortened(experiment.model)
    experiment.replications = 2
    experiment.run(workers=1)

    results = experiment.results
    assert results.failures.empty, results.failures["message"].tolist()
    names = [s.name for s in experiment.scenarios]
    assert len(names) >= 2
    summary = experiment.summary()
    assert set(summary["scenario"]) == set(names)
    assert (summary["n"] == 2).all()
    compared = experiment.compare(kpis=[results.primary])
    assert set(compared["scenario"]) == set(names) - {experiment.baseline}
    assert compared["difference"].notna().all()
