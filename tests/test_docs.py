"""The reference pages stay true to the code: generated model reference, documented KPI names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chainsim import docs
from chainsim.api import simulate
from chainsim.model import load_model

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "retail_bank.yaml"
OUTPUT_REFERENCE = ROOT / "docs" / "output-reference.md"


def test_model_reference_is_up_to_date():
    assert docs.check(docs.REFERENCE), "docs/model-reference.md is stale: run `python -m chainsim.docs`"


def test_check_reports_a_stale_file(tmp_path):
    stale = tmp_path / "model-reference.md"
    stale.write_text(docs.model_reference().replace("| `horizon` |", "| `horizn` |"), encoding="utf-8")
    assert docs.main(["--check", "--out", str(stale)]) == 1
    assert docs.main(["--out", str(stale)]) == 0
    assert docs.main(["--check", "--out", str(stale)]) == 0


def test_every_schema_field_is_documented():
    text = docs.model_reference()
    sections = docs.sections()
    names = {docs.key(n, f) for s in sections for n, f in s.cls.model_fields.items()}
    names |= {n for cls in docs.DIST_CLASSES for n in cls.model_fields}
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"fields missing from the model reference: {missing}"
    assert {"from", "to", "rework_to", "consult_at", "clarify", "parallel"} <= names


def test_every_distribution_has_a_row():
    table = docs.model_reference().split('<a id="distributions">')[1]
    for cls in docs.DIST_CLASSES:
        name = cls.model_fields["dist"].default
        assert f"| `{name}` |" in table


def _placeholders(name: str, model) -> str:
    """`class.walk_in.arrived` -> `class.<c>.arrived`, and likewise for departments and pools."""
    for prefix, keys, mark in (("class", model.customers, "<c>"), ("department", model.departments, "<d>"),
                               ("attribution", model.departments, "<d>"), ("pool", model.pools, "<p>")):
        for key in keys:
            if name.startswith(f"{prefix}.{key}."):
                return f"{prefix}.{mark}.{name[len(prefix) + len(key) + 2:]}"
    return name


def _documented_kpis() -> set[str]:
    """KPI names in output-reference.md, expanding `a.b.mean`, `.p90` shorthand rows."""
    names = set()
    for line in OUTPUT_REFERENCE.read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) < 3:
            continue
        first = re.findall(r"`([^`]+)`", cells[1])
        for i, item in enumerate(first):
            if item.startswith(".") and i > 0:  # `x.p50`, `.p90`: same stem as the first
                item = first[0].rsplit(".", 1)[0] + item
            names.add(item)
    return names


@pytest.mark.parametrize("with_pool", [False, True], ids=["default model", "with a pool"])
def test_every_kpi_is_documented(with_pool):
    model = load_model(MODEL)
    if with_pool:
        model = model.with_changes({"pools": {"floaters": {"staff": 1, "serves": ["compliance", "back_office"]}}})
    results = simulate(model, replications=2, seed=3, keep_records=False)
    produced = {_placeholders(name, model) for kpis in results.kpis for name in kpis}
    missing = sorted(produced - _documented_kpis())
    assert not missing, f"KPIs missing from docs/output-reference.md: {missing}"


def test_json_keys_are_documented():
    results = simulate(load_model(MODEL), replications=2, seed=3, keep_records=False)
    documented = _documented_kpis()
    assert set(results.to_json()) <= documented
