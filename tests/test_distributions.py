import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from chainsim.distributions import (
    DIST_NAMES,
    Distribution,
    Empirical,
    Erlang,
    Exponential,
    Fixed,
    Gamma,
    LogNormal,
    Sampler,
    Triangular,
    Uniform,
    Weibull,
)

ADAPTER = TypeAdapter(Distribution)
N = 200_000

SPECS: list[dict] = [
    {"dist": "exponential", "mean": 5},
    {"dist": "fixed", "value": 3},
    {"dist": "fixed", "value": 0},
    {"dist": "uniform", "low": 2, "high": 7},
    {"dist": "triangular", "low": 1, "mode": 2, "high": 6},
    {"dist": "lognormal", "mean": 8, "cv": 0.6},
    {"dist": "gamma", "mean": 4, "cv": 1.5},
    {"dist": "gamma", "mean": 4, "cv": 0.3},
    {"dist": "erlang", "mean": 6, "k": 3},
    {"dist": "weibull", "mean": 5, "cv": 0.5},
    {"dist": "weibull", "mean": 5, "cv": 1.4},
    {"dist": "weibull", "shape": 2, "scale": 3},
    {"dist": "empirical", "values": [1, 2, 2, 5, 11.5]},
]


def _id(spec: dict) -> str:
    return str(ADAPTER.validate_python(spec))


def test_every_name_is_covered_and_parses() -> None:
    assert {s["dist"] for s in SPECS} == set(DIST_NAMES)
    for spec in SPECS:
        d = ADAPTER.validate_python(spec)
        assert d.dist == spec["dist"]
        assert ADAPTER.validate_python(d.model_dump(exclude_none=True)) == d


@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_sample_moments_match_analytic(spec: dict) -> None:
    d = ADAPTER.validate_python(spec)
    x = d.sample(np.random.default_rng(20240601), N)
    assert x.shape == (N,) and x.dtype == np.float64 and (x >= 0).all()
    mean, var = d.expected(), d.variance()
    # Mean: the sample mean has standard error sqrt(var/n); 4 SE is a ~1-in-16000 false alarm.
    assert abs(x.mean() - mean) <= 4 * math.sqrt(var / N) + 1e-12
    # Variance: the sample variance s^2 has standard error sqrt((mu4 - var^2)/n), with mu4 the 4th
    # central moment. mu4 is estimated on the sample itself (no analytic kurtosis needed for every
    # distribution); 5 SE leaves room for that estimate being noisy for skewed shapes.
    s2 = x.var(ddof=1)
    mu4 = np.mean((x - x.mean()) ** 4)
    assert abs(s2 - var) <= 5 * math.sqrt(max(mu4 - s2**2, 0.0) / N) + 1e-12
    if mean > 0:
        assert d.scv() == pytest.approx(var / mean**2)


@pytest.mark.parametrize("mean, cv", [(5.0, 0.2), (5.0, 1.0), (2.0, 2.5)])
def test_weibull_mean_cv_hits_request(mean: float, cv: float) -> None:
    w = Weibull(mean=mean, cv=cv)
    assert w.expected() == pytest.approx(mean, rel=1e-9)
    assert w.scv() == pytest.approx(cv**2, rel=1e-9)
    x = w.sample(np.random.default_rng(7), N)
    assert x.mean() == pytest.approx(mean, rel=4 * cv / math.sqrt(N))
    assert x.std() / x.mean() == pytest.approx(cv, rel=0.03)


def test_special_cases_agree() -> None:
    assert Weibull(mean=4, cv=1)._k == pytest.approx(1)  # cv 1 weibull is exponential
    assert Weibull(shape=1, scale=4).expected() == pytest.approx(4)
    assert Erlang(mean=6, k=3).scv() == pytest.approx(1 / 3)
    assert Exponential(mean=5).scv() == 1
    assert Fixed(value=2).scv() == 0 and Fixed(value=0).scv() == 0


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"dist": "exponential", "mean": -3}, "mean"),
        ({"dist": "exponential", "mean": 0}, "mean"),
        ({"dist": "exponential", "mean": float("nan")}, "mean"),
        ({"dist": "exponential", "mean": float("inf")}, "mean"),
        ({"dist": "fixed", "value": -1}, "value"),
        ({"dist": "fixed", "value": float("inf")}, "value"),
        ({"dist": "lognormal", "mean": 1, "cv": 0}, "cv"),
        ({"dist": "gamma", "mean": 1, "cv": -0.5}, "cv"),
        ({"dist": "gamma", "mean": float("nan"), "cv": 1}, "mean"),
        ({"dist": "uniform", "low": 3, "high": 3}, "high"),
        ({"dist": "uniform", "low": 5, "high": 2}, "high"),
        ({"dist": "uniform", "low": -1, "high": 2}, "low"),
        ({"dist": "triangular", "low": 1, "mode": 5, "high": 4}, "mode"),
        ({"dist": "triangular", "low": 1, "mode": 0.5, "high": 4}, "mode"),
        ({"dist": "triangular", "low": 2, "mode": 2, "high": 2}, "high"),
        ({"dist": "erlang", "mean": 1, "k": 0}, "k"),
        ({"dist": "erlang", "mean": 1, "k": 2.5}, "k"),
        ({"dist": "empirical", "values": []}, "values"),
        ({"dist": "empirical", "values": [1, -2]}, "values"),
        ({"dist": "empirical", "values": [1, float("nan")]}, "values"),
        ({"dist": "weibull", "mean": 1, "cv": 1, "shape": 2, "scale": 1}, "shape"),
        ({"dist": "weibull"}, "mean, cv"),
        ({"dist": "weibull", "mean": 1}, "mean"),
        ({"dist": "weibull", "mean": 1, "scale": 2}, "scale"),
        ({"dist": "weibull", "shape": -1, "scale": 2}, "shape"),
        ({"dist": "weibull", "shape": 0.001, "scale": 1}, "shape"),  # would overflow to inf
        ({"dist": "weibull", "mean": 5, "cv": 1000}, "cv"),
        ({"dist": "exponential", "mean": 1, "sd": 2}, "sd"),
        ({"dist": "normal", "mean": 1}, "dist"),
        ({"mean": 1}, "dist"),
    ],
)
def test_invalid_specs_name_the_field(spec: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ADAPTER.validate_python(spec)


def test_messages_say_what_and_how() -> None:
    with pytest.raises(ValidationError, match=r"mean must be > 0 \(got -3\): .*positive mean"):
        Exponential(mean=-3)
    with pytest.raises(ValidationError, match="either {mean, cv} or {shape, scale}"):
        Weibull(mean=1, cv=1, shape=2, scale=1)
    with pytest.raises(ValidationError) as info:
        ADAPTER.validate_python({"dist": "normal", "mean": 1})
    assert all(f"'{name}'" in str(info.value) for name in DIST_NAMES)


@pytest.mark.parametrize("spec", SPECS, ids=_id)
@pytest.mark.parametrize("block", [1024, 7])
def test_sampler_matches_vectorised_sample(spec: dict, block: int) -> None:
    d = ADAPTER.validate_python(spec)
    s = Sampler(d, np.random.default_rng(99), block=block)
    drawn = [s.draw() for _ in range(3000)]
    assert all(type(v) is float for v in drawn)
    assert drawn == d.sample(np.random.default_rng(99), 3000).tolist()


@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_scaled_multiplies_mean_keeps_scv(spec: dict) -> None:
    d = ADAPTER.validate_python(spec)
    s = d.scaled(0.8)
    assert type(s) is type(d)
    assert s.expected() == pytest.approx(0.8 * d.expected())
    assert s.scv() == pytest.approx(d.scv())
    assert d.scaled(1.0) == d


def test_scaled_examples_and_bad_factor() -> None:
    assert Uniform(low=2, high=4).scaled(2) == Uniform(low=4, high=8)
    assert Triangular(low=1, mode=2, high=3).scaled(3) == Triangular(low=3, mode=6, high=9)
    assert Empirical(values=[1, 2]).scaled(2) == Empirical(values=[2, 4])
    assert Weibull(shape=2, scale=3).scaled(2) == Weibull(shape=2, scale=6)
    assert LogNormal(mean=8, cv=0.6).scaled(0.5) == LogNormal(mean=4, cv=0.6)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="factor"):
            Gamma(mean=1, cv=1).scaled(bad)


def test_str_is_readable() -> None:
    assert str(Exponential(mean=5)) == "exponential(mean=5)"
    assert str(LogNormal(mean=8, cv=0.6)) == "lognormal(mean=8, cv=0.6)"
    assert str(Weibull(shape=2, scale=3.5)) == "weibull(shape=2, scale=3.5)"
    assert str(Empirical(values=[1, 2, 3, 4, 5, 6])) == "empirical(values=[1, 2, 3, 4, 5, ...])"


def test_frozen_and_documented() -> None:
    d = Exponential(mean=5)
    with pytest.raises(ValidationError):
        d.mean = 3  # type: ignore[misc]
    for name, schema in ADAPTER.json_schema()["$defs"].items():
        for field, prop in schema["properties"].items():
            assert prop.get("description"), f"{name}.{field} has no description"
