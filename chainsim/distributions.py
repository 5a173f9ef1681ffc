"""Time distributions for service times, delays and arrivals.

A model file writes a distribution as ``{dist: NAME, ...params}``. Each name maps to a small
frozen pydantic model that validates its parameters with messages saying what is wrong and how to
fix it, and that knows both how to sample itself (vectorised numpy) and its analytic moments.
The simulation, the tests and the analytic (queueing-formula) estimates therefore all use the
same objects, so they cannot disagree about what "lognormal(mean=8, cv=0.6)" means.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from scipy.optimize import brentq
from scipy.special import gammaln

TIME = "in time units of the model, at most 1e12"


# Times and their spread are held to ranges no organisation leaves, so that means, variances and
# draws stay finite floating-point numbers (a cv of 1e200 or a time of 1e308 would overflow).
MAX_TIME = 1e12
MIN_CV, MAX_CV = 1e-6, 1e3


def _bounded(lower: float, *, strict: bool, hint: str, upper: float = MAX_TIME) -> AfterValidator:
    """Validator: finite, > lower (strict) or >= lower, and <= upper; the message names the field and the fix."""
    op = ">" if strict else ">="

    def check(v: float, info: ValidationInfo) -> float:
        name = info.field_name
        try:
            finite = math.isfinite(v)
        except OverflowError:  # a whole number beyond any float (10**400)
            finite = False
        if not finite:
            shown = str(v) if len(str(v)) <= 30 else f"{str(v)[:27]}..."
            raise ValueError(f"{name} must be a finite number (got {shown}): write a plain number such as 2.5")
        if v < lower or (strict and v == lower):
            raise ValueError(f"{name} must be {op} {lower:g} (got {v:g}): {hint}")
        if v > upper:
            raise ValueError(f"{name} must be <= {upper:g} (got {v:g}): {hint}")
        return v

    return AfterValidator(check)


Mean = Annotated[
    float,
    _bounded(
        0,
        strict=True,
        hint="a time distribution needs a positive mean, in time units of the model "
             "(use dist: fixed, value: 0 for no delay)",
    ),
]
Cv = Annotated[
    float,
    _bounded(
        MIN_CV, strict=False, upper=MAX_CV,
        hint=f"cv is standard deviation / mean, between {MIN_CV:g} and {MAX_CV:g}; "
             "use dist: fixed for a time with no variability",
    ),
]
NonNegTime = Annotated[float, _bounded(0, strict=False, hint="times cannot be negative")]
Scale = Annotated[float, _bounded(0, strict=True, hint="the scale is a time and must be positive")]
# Below shape 0.1 (cv above 430) a Weibull's draws and mean overflow floating point: no service
# time is that skewed, so the bound costs nothing real and keeps every run finite.
WEIBULL_MIN_SHAPE = 0.1
Shape = Annotated[
    float,
    _bounded(WEIBULL_MIN_SHAPE, strict=False,
             hint="shapes below 0.1 (cv above 430) overflow; 1 gives an exponential, below 1 a long tail"),
]
Phases = Annotated[
    int, _bounded(1, strict=False, hint="k is the number of exponential phases, a whole number")
]


def _fmt(v: float | tuple[float, ...]) -> str:
    if isinstance(v, tuple):
        shown = ", ".join(f"{x:g}" for x in v[:5])
        return f"[{shown}{', ...' if len(v) > 5 else ''}]"
    return f"{v:g}"


def _numeric(annotation: Any) -> bool:
    """int or float: alone, optional, annotated, or as the items of a tuple or list."""
    if annotation in (int, float):
        return True
    return any(_numeric(arg) for arg in get_args(annotation) if arg is not Ellipsis)


def boolean_as_number(annotation: Any, value: Any) -> str | None:
    """YAML reads yes/no/on/off/true/false as booleans, and pydantic would take them as 1 and 0:
    `staff: yes` would silently be one person. The problem with such a value for a number field."""
    items = value if isinstance(value, list | tuple) else [value]
    boolean = next((v for v in items if isinstance(v, bool)), None)
    if boolean is None or not _numeric(annotation):
        return None
    return (f"must be a number, not {str(boolean).lower()} (YAML reads yes, no, on, off, true and false as true "
            "or false): write a number")


def refuse_booleans_in_fields(schema: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """A validator for every field ("*"), so the error's path ends at the field itself."""
    problem = boolean_as_number(schema.model_fields[info.field_name].annotation, value)
    if problem:
        raise ValueError(problem)
    return value


class _Dist(BaseModel):
    """Common behaviour: scv, str and scaling; subclasses give sample/expected/variance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_booleans(cls, data: Any) -> Any:
        """As refuse_booleans_in_fields, but for the whole model: pydantic allows no field validator on
        the discriminator `dist`, so the message names the field."""
        for name, field in cls.model_fields.items() if isinstance(data, dict) else ():
            problem = boolean_as_number(field.annotation, data.get(field.alias or name, data.get(name)))
            if problem:
                raise ValueError(f"{field.alias or name} {problem}")
        return data

    dist: str  # narrowed to a Literal by each subclass; the discriminator of `Distribution`
    # Fields carrying time units; scaled() multiplies exactly these.
    _time_fields: ClassVar[tuple[str, ...]]

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n float64 draws from this distribution, using rng."""

    @abstractmethod
    def expected(self) -> float:
        """Analytic mean."""

    @abstractmethod
    def variance(self) -> float:
        """Analytic variance."""

    def scv(self) -> float:
        """Squared coefficient of variation, variance / mean^2 (0 for a time that is always 0)."""
        m = self.expected()
        return self.variance() / m**2 if m > 0 else 0.0

    def scaled(self, factor: float) -> Self:
        """Same shape with every time multiplied by factor (e.g. 0.8 for 'service 20% faster')."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"scale factor must be a finite number > 0 (got {factor})")
        data = self.model_dump(exclude_none=True)
        for name in self._time_fields:
            if name in data:
                v = data[name]
                data[name] = tuple(x * factor for x in v) if isinstance(v, tuple) else v * factor
        return type(self).model_validate(data)

    def __str__(self) -> str:
        params = self.model_dump(exclude={"dist"}, exclude_none=True)
        return f"{self.dist}({', '.join(f'{k}={_fmt(v)}' for k, v in params.items())})"


class Exponential(_Dist):
    """Memoryless times: Poisson arrivals, or service with scv 1."""

    dist: Literal["exponential"] = Field("exponential", description="Distribution name.")
    mean: Mean = Field(description=f"Mean time, {TIME}; > 0.")
    _time_fields = ("mean",)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)

    def expected(self) -> float:
        return self.mean

    def variance(self) -> float:
        return self.mean**2


class Fixed(_Dist):
    """A constant time (0 is allowed: an instantaneous step)."""

    dist: Literal["fixed"] = Field("fixed", description="Distribution name.")
    value: NonNegTime = Field(description=f"The constant time, {TIME}; >= 0.")
    _time_fields = ("value",)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=np.float64)

    def expected(self) -> float:
        return self.value

    def variance(self) -> float:
        return 0.0


class Uniform(_Dist):
    """Equally likely anywhere between low and high."""

    dist: Literal["uniform"] = Field("uniform", description="Distribution name.")
    low: NonNegTime = Field(description=f"Smallest time, {TIME}; >= 0.")
    high: NonNegTime = Field(description=f"Largest time, {TIME}; > low.")
    _time_fields = ("low", "high")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.low < self.high:
            raise ValueError(
                f"high must be > low (got low={self.low:g}, high={self.high:g}): "
                "swap them, or use dist: fixed for a constant time"
            )
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def expected(self) -> float:
        return (self.low + self.high) / 2

    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12


class Triangular(_Dist):
    """Three-point estimate: shortest, most likely and longest time."""

    dist: Literal["triangular"] = Field("triangular", description="Distribution name.")
    low: NonNegTime = Field(description=f"Shortest time, {TIME}; >= 0.")
    mode: NonNegTime = Field(description=f"Most likely time, {TIME}; low <= mode <= high.")
    high: NonNegTime = Field(description=f"Longest time, {TIME}; > low.")
    _time_fields = ("low", "mode", "high")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        got = f"(got low={self.low:g}, mode={self.mode:g}, high={self.high:g})"
        if not self.low < self.high:
            raise ValueError(f"high must be > low {got}: use dist: fixed for a constant time")
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"mode must lie within [low, high] {got}: the most likely time is between the extremes"
            )
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.triangular(self.low, self.mode, self.high, n)

    def expected(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def variance(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18


class _MeanCv(_Dist):
    """Distributions given by their mean and coefficient of variation: the moments are the inputs."""

    mean: Mean = Field(description=f"Mean time, {TIME}; > 0.")
    cv: Cv = Field(description="Coefficient of variation (standard deviation / mean); 1e-6 to 1000.")
    _time_fields = ("mean",)

    def expected(self) -> float:
        return self.mean

    def variance(self) -> float:
        return (self.cv * self.mean) ** 2


class LogNormal(_MeanCv):
    """Right-skewed times given by mean and cv: sigma^2 = ln(1+cv^2), mu = ln(mean) - sigma^2/2."""

    dist: Literal["lognormal"] = Field("lognormal", description="Distribution name.")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        sigma2 = math.log1p(self.cv**2)
        return rng.lognormal(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2), n)


class Gamma(_MeanCv):
    """Gamma times given by mean and cv: shape = 1/cv^2, scale = mean*cv^2."""

    dist: Literal["gamma"] = Field("gamma", description="Distribution name.")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        c2 = self.cv**2
        return rng.gamma(1 / c2, self.mean * c2, n)


class Erlang(_Dist):
    """Sum of k exponential phases with total mean `mean`: gamma(shape=k, scale=mean/k), scv 1/k."""

    dist: Literal["erlang"] = Field("erlang", description="Distribution name.")
    mean: Mean = Field(description=f"Mean total time, {TIME}; > 0.")
    k: Phases = Field(description="Number of exponential phases; whole number >= 1 (scv = 1/k).")
    _time_fields = ("mean",)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.k, self.mean / self.k, n)

    def expected(self) -> float:
        return self.mean

    def variance(self) -> float:
        return self.mean**2 / self.k


def _weibull_shape(cv: float) -> float:
    """Shape k with cv^2 = G(1+2/k)/G(1+1/k)^2 - 1 (solved in log space; cv falls as k grows)."""

    def f(k: float) -> float:
        return gammaln(1 + 2 / k) - 2 * gammaln(1 + 1 / k) - math.log1p(cv * cv)

    lo, hi = WEIBULL_MIN_SHAPE, 1e4  # shapes covering cv from ~430 down to ~1.3e-4
    if f(lo) < 0 or f(hi) > 0:
        raise ValueError(
            f"cv must be between 1.3e-4 and 430 for a weibull (got {cv:g}): use gamma or lognormal"
        )
    return brentq(f, lo, hi, xtol=1e-12, rtol=1e-12)


class Weibull(_Dist):
    """Weibull times, given either as {mean, cv} (shape solved numerically) or as {shape, scale}."""

    dist: Literal["weibull"] = Field("weibull", description="Distribution name.")
    mean: Mean | None = Field(None, description=f"Mean time, {TIME}; > 0. Give with cv, or use shape/scale.")
    cv: Cv | None = Field(None, description="Coefficient of variation; 1e-6 to 430 for a Weibull. Give with mean.")
    shape: Shape | None = Field(None, description="Weibull shape k; >= 0.1 (1 = exponential). Give with scale.")
    scale: Scale | None = Field(None, description=f"Weibull scale, {TIME}; > 0. Give with shape.")
    _time_fields = ("mean", "scale")
    _k: float = PrivateAttr()
    _lambda: float = PrivateAttr()

    @model_validator(mode="after")
    def _one_pair(self) -> Self:
        m, c, k, s = self.mean, self.cv, self.shape, self.scale
        if m is not None and c is not None and k is None and s is None:
            self._k = _weibull_shape(c)
            self._lambda = m / math.exp(gammaln(1 + 1 / self._k))
        elif k is not None and s is not None and m is None and c is None:
            self._k, self._lambda = k, s
        else:
            given = ", ".join(n for n in ("mean", "cv", "shape", "scale") if getattr(self, n) is not None)
            raise ValueError(
                f"weibull needs exactly one pair of parameters, either {{mean, cv}} or {{shape, scale}} (got {{{given}}})"
            )
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._lambda * rng.weibull(self._k, n)

    def expected(self) -> float:
        return self.mean if self.mean is not None else self._lambda * math.exp(gammaln(1 + 1 / self._k))

    def variance(self) -> float:
        g1, g2 = gammaln(1 + 1 / self._k), gammaln(1 + 2 / self._k)
        return self._lambda**2 * (math.exp(g2) - math.exp(2 * g1))


class Empirical(_Dist):
    """Observed times, resampled uniformly with replacement."""

    dist: Literal["empirical"] = Field("empirical", description="Distribution name.")
    values: tuple[NonNegTime, ...] = Field(description=f"Observed times, {TIME}; non-empty, each >= 0.")
    _time_fields = ("values",)

    @field_validator("values")
    @classmethod
    def _non_empty(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("values must not be empty: list at least one observed time")
        return v

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)[rng.integers(0, len(self.values), n)]

    def expected(self) -> float:
        return float(np.mean(self.values))

    def variance(self) -> float:
        return float(np.var(self.values))  # population variance: resampling draws exactly these values


Distribution = Annotated[
    Exponential | Fixed | Uniform | Triangular | LogNormal | Gamma | Erlang | Weibull | Empirical,
    Field(discriminator="dist"),
]
"""Any distribution spec; parse with pydantic, e.g. ``TypeAdapter(Distribution).validate_python(d)``."""

DIST_NAMES: tuple[str, ...] = tuple(
    get_args(cls.model_fields["dist"].annotation)[0] for cls in get_args(get_args(Distribution)[0])
)


class Sampler:
    """Fast sequential draws from one distribution for the simulation hot path.

    Drawing one value per event through numpy costs microseconds of call overhead each time;
    instead we draw ``block`` values with one vectorised ``dist.sample(rng, block)`` call, convert
    them to Python floats once with ``.tolist()``, and hand them out one by one. ``values`` is an
    endless ``itertools.chain`` over those blocks and ``draw`` its ``__next__``, so a draw is one
    call into C; the next block is sampled only when one runs out. Draws come in exactly the order
    ``dist.sample`` produces them, so the same seed gives the same sequence.
    """

    __slots__ = ("dist", "_rng", "_block", "values", "draw")

    def __init__(self, dist: _Dist, rng: np.random.Generator, block: int = 1024) -> None:
        if block < 1:
            raise ValueError(f"block must be >= 1 (got {block})")
        self.dist = dist
        self._rng = rng
        self._block = block
        self.values: Iterator[float] = chain.from_iterable(self._blocks())
        self.draw: Callable[[], float] = self.values.__next__

    def _blocks(self) -> Iterator[list[float]]:
        while True:
            yield self.dist.sample(self._rng, self._block).tolist()
