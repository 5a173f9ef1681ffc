"""Closed-form and exactly solvable queueing results.

Why this module exists: the theory here is the *assertion* of the simulator's
statistical tests (a simulated station must agree with these numbers within
its confidence interval) and the app's *instant estimate* shown before any
simulation has run.  Everything is a pure function of its arguments using only
numpy/scipy.

Units throughout: rates (``lam``, ``mu``, ``theta``) are per time unit; means
and waits are in time units; ``scv`` is the squared coefficient of variation
(variance / mean^2, dimensionless).  Unstable or invalid input raises
``ValueError``; instability messages always contain the word "unstable".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ErlangAResult",
    "JacksonResult",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "fork_join_two",
    "jackson_network",
    "mg1_sojourn",
    "mg1_wait",
    "mm1_sojourn",
    "mmc_queue_length",
    "mmc_sojourn",
    "mmc_wait",
    "priority_mmc_nonpreemptive_wait",
    "priority_nonpreemptive_wait",
    "priority_preemptive_sojourn",
]


# --------------------------------------------------------------------------- helpers


def _check_servers(c: int, name: str = "c", minimum: int = 1) -> int:
    if isinstance(c, bool) or not isinstance(c, int | np.integer):
        raise ValueError(f"{name} must be an integer number of servers, got {c!r}")
    if c < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {c}")
    return int(c)


def _check_nonneg(x: float, name: str) -> float:
    x = float(x)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x}")
    return x


def _check_pos(x: float, name: str) -> float:
    x = float(x)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {x}")
    return x


def _unstable(rho: float, where: str = "") -> ValueError:
    prefix = f"{where}: " if where else ""
    return ValueError(f"{prefix}unstable: utilisation {rho:.6g} >= 1, mean wait is infinite")


def _class_arrays(
    lams: Sequence[float], means: Sequence[float], scvs: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lam = np.asarray(lams, dtype=float)
    mean = np.asarray(means, dtype=float)
    scv = np.asarray(scvs, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or lam.shape != mean.shape or lam.shape != scv.shape:
        raise ValueError("lams, means and scvs must be non-empty sequences of equal length")
    if not (np.all(np.isfinite(lam)) and np.all(lam >= 0)):
        raise ValueError("arrival rates must be finite and >= 0")
    if not (np.all(np.isfinite(mean)) and np.all(mean > 0)):
        raise ValueError("mean service times must be finite and > 0")
    if not (np.all(np.isfinite(scv)) and np.all(scv >= 0)):
        raise ValueError("scvs must be finite and >= 0")
    return lam, mean, scv


# --------------------------------------------------------------------------- Erlang B / C, M/M/c


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability of an M/M/c/c loss system.

    Source: A. K. Erlang (1917); numerically stable recursion
    B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))
    (e.g. Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed., sec. 2.6).

    Args:
        c: number of servers (>= 0).
        a: offered load lambda/mu in Erlangs (dimensionless, >= 0).

    Returns:
        Probability (dimensionless) that an arrival finds all c servers busy.
    """
    c = _check_servers(c, minimum=0)
    a = _check_nonneg(a, "offered load a")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C probability that an arrival has to wait in an M/M/c queue.

    Source: A. K. Erlang (1917); computed from Erlang B via
    C = B / (1 - (a/c)(1 - B))  (Gross et al., *Fundamentals of Queueing Theory*, sec. 2.3;
    Kleinrock, *Queueing Systems* vol. 1, eq. 3.40).

    Args:
        c: number of servers (>= 1).
        a: offered load lambda/mu in Erlangs; must satisfy a < c.

    Returns:
        P(wait > 0), dimensionless.

    Raises:
        ValueError: if a/c >= 1 (unstable) or the input is invalid.
    """
    c = _check_servers(c)
    a = _check_nonneg(a, "offered load a")
    rho = a / c
    if rho >= 1:
        raise _unstable(rho)
    b = erlang_b(c, a)
    return b / (1.0 - rho * (1.0 - b))


def _mmc_params(lam: float, mu: float, c: int) -> tuple[float, float, int]:
    lam = _check_nonneg(lam, "arrival rate lam")
    mu = _check_pos(mu, "service rate mu")
    c = _check_servers(c)
    rho = lam / (c * mu)
    if rho >= 1:
        raise _unstable(rho)
    return lam, mu, c


def mmc_wait(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue Wq of an M/M/c FIFO queue.

    Source: Wq = C(c, a) / (c mu - lam), a = lam/mu (Erlang C formula; Gross et al.,
    *Fundamentals of Queueing Theory*, sec. 2.3; Kleinrock vol. 1, eq. 3.43).

    Args:
        lam: arrival rate (per time unit). mu: service rate per server (per time unit).
        c: number of servers.

    Returns:
        Mean time (time units) an arrival spends waiting before service starts.
    """
    lam, mu, c = _mmc_params(lam, mu, c)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_sojourn(lam: float, mu: float, c: int) -> float:
    """Mean sojourn (response) time W = Wq + 1/mu of an M/M/c FIFO queue.

    Source: Gross et al., *Fundamentals of Queueing Theory*, sec. 2.3.
    Rates per time unit; result in time units.
    """
    return mmc_wait(lam, mu, c) + 1.0 / float(mu)


def mmc_queue_length(lam: float, mu: float, c: int) -> float:
    """Mean number waiting in queue Lq = lam * Wq of an M/M/c queue (Little's law).

    Source: Gross et al., *Fundamentals of Queueing Theory*, sec. 2.3; Little (1961).
    Rates per time unit; result is a number of customers.
    """
    return float(lam) * mmc_wait(lam, mu, c)


def mm1_sojourn(lam: float, mu: float) -> float:
    """Mean sojourn time 1/(mu - lam) of an M/M/1 FIFO queue.

    Source: Kleinrock, *Queueing Systems* vol. 1, eq. 3.26. Rates per time unit; result in time units.
    """
    lam, mu, _ = _mmc_params(lam, mu, 1)
    return 1.0 / (mu - lam)


# --------------------------------------------------------------------------- M/G/1


def mg1_wait(lam: float, mean: float, scv: float) -> float:
    """Pollaczek-Khinchine mean waiting time in queue of an M/G/1 FIFO queue.

    Source: Pollaczek (1930), Khinchine (1932); Kleinrock vol. 1, eq. 5.76:
    Wq = lam E[S^2] / (2 (1 - rho)), E[S^2] = mean^2 (1 + scv), rho = lam * mean.

    Args:
        lam: arrival rate (per time unit).
        mean: mean service time E[S] (time units, > 0).
        scv: squared coefficient of variation of service time (0 = deterministic, 1 = exponential).

    Returns:
        Mean wait before service (time units).
    """
    lam = _check_nonneg(lam, "arrival rate lam")
    mean = _check_pos(mean, "mean service time")
    scv = _check_nonneg(scv, "scv")
    rho = lam * mean
    if rho >= 1:
        raise _unstable(rho)
    es2 = mean * mean * (1.0 + scv)
    return lam * es2 / (2.0 * (1.0 - rho))


def mg1_sojourn(lam: float, mean: float, scv: float) -> float:
    """Mean sojourn time of an M/G/1 FIFO queue: P-K wait plus mean service.

    Source: Kleinrock vol. 1, eq. 5.77. Units as in :func:`mg1_wait`.
    """
    return mg1_wait(lam, mean, scv) + float(mean)


# --------------------------------------------------------------------------- Jackson networks


@dataclass(frozen=True)
class JacksonResult:
    """Per-station and network-level results of an open Jackson network.

    Arrays are indexed by station.  Rates are per time unit, times in time units.

    Attributes:
        arrival_rates: total arrival rate lambda_i at each station (external + routed).
        utilisation: rho_i = lambda_i E[S_i] / c_i.
        visits: expected visits per external customer, lambda_i / sum(external).
        wait: mean queueing wait per visit (M/M/c_i).
        sojourn: mean time in station per visit (wait + mean service).
        queue_length: mean number in station (waiting + in service), L_i = lambda_i * sojourn_i.
        network_sojourn: mean total time in the network per external customer,
            sum_i L_i / sum(external) (Little's law).
    """

    arrival_rates: np.ndarray
    utilisation: np.ndarray
    visits: np.ndarray
    wait: np.ndarray
    sojourn: np.ndarray
    queue_length: np.ndarray
    network_sojourn: float


def jackson_network(
    external: Sequence[float],
    routing: Sequence[Sequence[float]] | np.ndarray,
    mean_service: Sequence[float],
    servers: Sequence[int],
) -> JacksonResult:
    """Solve an open Jackson network of M/M/c stations.

    Source: J. R. Jackson, "Jobshop-like queueing systems", Management Science 10 (1963);
    Kleinrock vol. 1, sec. 4.8.  Traffic equations lambda = external + R^T lambda; each
    station then behaves as an independent M/M/c_i queue (product form); the network mean
    sojourn per external customer follows from Little's law, sum_i L_i / sum(external).

    Args:
        external: external (Poisson) arrival rate into each station, per time unit.
        routing: n x n matrix; routing[i][j] = probability that a customer finishing at
            station i goes next to station j.  Row sums must be <= 1; the remainder leaves.
        mean_service: mean (exponential) service time at each station, time units.
        servers: number of parallel servers at each station.

    Returns:
        :class:`JacksonResult`.

    Raises:
        ValueError: on inconsistent shapes, invalid probabilities, a network no customer can
            leave, or an unstable station (message names the station index).
    """
    ext = np.asarray(external, dtype=float)
    r = np.asarray(routing, dtype=float)
    s = np.asarray(mean_service, dtype=float)
    n = ext.size
    if ext.ndim != 1 or n == 0:
        raise ValueError("external must be a non-empty 1-D sequence of rates")
    if r.shape != (n, n):
        raise ValueError(f"routing must be {n} x {n}, got shape {r.shape}")
    if s.shape != (n,) or len(servers) != n:
        raise ValueError("mean_service and servers must have one entry per station")
    if not (np.all(np.isfinite(ext)) and np.all(ext >= 0)) or ext.sum() <= 0:
        raise ValueError("external rates must be finite, >= 0, with a positive total")
    if not (np.all(np.isfinite(r)) and np.all(r >= 0)):
        raise ValueError("routing probabilities must be finite and >= 0")
    row_sums = r.sum(axis=1)
    if np.any(row_sums > 1 + 1e-12):
        bad = int(np.argmax(row_sums))
        raise ValueError(f"routing row {bad} sums to {row_sums[bad]:.6g} > 1")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("mean_service must be finite and > 0")
    cs = [_check_servers(c, f"servers[{i}]") for i, c in enumerate(servers)]

    a_mat = np.eye(n) - r.T
    try:
        lam = np.linalg.solve(a_mat, ext)
    except np.linalg.LinAlgError:
        raise ValueError(
            "unstable: traffic equations are singular (customers can never leave the network)"
        ) from None
    if not np.all(np.isfinite(lam)) or np.any(lam < -1e-9 * max(1.0, float(np.abs(lam).max()))):
        raise ValueError("unstable: traffic equations have no valid non-negative solution")
    lam = np.clip(lam, 0.0, None)

    util = lam * s / np.asarray(cs, dtype=float)
    wait = np.empty(n)
    for i in range(n):
        if util[i] >= 1:
            raise ValueError(f"station {i}: unstable: utilisation {util[i]:.6g} >= 1, mean wait is infinite")
        wait[i] = mmc_wait(lam[i], 1.0 / s[i], cs[i])
    sojourn = wait + s
    length = lam * sojourn
    total_ext = float(ext.sum())
    return JacksonResult(
        arrival_rates=lam,
        utilisation=util,
        visits=lam / total_ext,
        wait=wait,
        sojourn=sojourn,
        queue_length=length,
        network_sojourn=float(length.sum() / total_ext),
    )


# --------------------------------------------------------------------------- Erlang A (M/M/c+M)


@dataclass(frozen=True)
class ErlangAResult:
    """Steady-state results of the M/M/c+M (Erlang-A) queue.

    Times in time units.

    Attributes:
        p_abandon: probability an arrival abandons before service.
        p_wait: probability an arrival has to wait (finds all c servers busy).
        mean_wait: mean time in queue over all arrivals (served and abandoning).
        mean_wait_served: mean time in queue of customers who are eventually served.
        mean_wait_abandoned: mean time in queue of customers who abandon
            (nan if nobody abandons, i.e. theta == 0).
        mean_queue_length: mean number waiting, E[Lq].
        mean_in_system: mean number in system, E[L].
        truncation: number of states N used (states 0..N).
    """

    p_abandon: float
    p_wait: float
    mean_wait: float
    mean_wait_served: float
    mean_wait_abandoned: float
    mean_queue_length: float
    mean_in_system: float
    truncation: int


_ERLANG_A_TAIL = 1e-14
_ERLANG_A_MAX_STATES = 10_000_000


def _erlang_a_distribution(lam: float, mu: float, theta: float, c: int) -> np.ndarray:
    """Stationary distribution p_0..p_N of the Erlang-A birth-death chain, tail mass < 1e-14."""
    if lam > c * mu and c + (lam - c * mu) / theta > _ERLANG_A_MAX_STATES / 4:
        # The bulk of the distribution sits near n = c + (lam - c mu) / theta (fluid limit).
        raise ValueError(
            f"Erlang-A truncation would exceed {_ERLANG_A_MAX_STATES} states "
            f"(theta={theta:g} too small relative to the overload lam - c mu = {lam - c * mu:g})"
        )
    size = max(2 * c + 64, 1024)
    while True:
        n = np.arange(1, size + 1, dtype=float)
        death = np.minimum(n, c) * mu + np.maximum(n - c, 0.0) * theta
        logp = np.concatenate(([0.0], np.cumsum(np.log(lam) - np.log(death))))
        logp -= logp.max()
        p = np.exp(logp)
        total = p.sum()
        # For n >= c the ratio lam/death(n+1) is non-increasing, so the tail beyond N is
        # bounded by a geometric series with ratio r = lam / death(N+1).
        next_death = min(size + 1, c) * mu + max(size + 1 - c, 0) * theta
        ratio = lam / next_death
        if size >= c and ratio < 1:
            tail_bound = p[-1] * ratio / (1.0 - ratio)
            if tail_bound < _ERLANG_A_TAIL * total:
                return p / total
        if size >= _ERLANG_A_MAX_STATES:
            raise ValueError(
                "Erlang-A truncation would exceed "
                f"{_ERLANG_A_MAX_STATES} states (theta={theta:g} too small relative to the overload)"
            )
        size = min(2 * size, _ERLANG_A_MAX_STATES)


def erlang_a(lam: float, mu: float, theta: float, c: int) -> ErlangAResult:
    """Exact Erlang-A (M/M/c+M) performance: c exponential servers, exponential patience.

    Source: Palm (1943); Garnett, Mandelbaum & Reiman, "Designing a call center with impatient
    customers", MSOM 4 (2002); Mandelbaum & Zeltyn, "The Palm/Erlang-A queue, with applications
    to call centers" (2007).  Computed exactly from the birth-death chain with birth rate lam and
    death rate min(n,c) mu + max(n-c,0) theta, truncated at N where the tail mass < 1e-14.

    * P(abandon) = theta E[Lq] / lam and mean wait of all arrivals W = E[Lq] / lam (Little).
    * Served-customer wait: by PASTA an arrival sees state n with probability p_n.  If n >= c it
      has j = n - c customers ahead; while j are ahead the next event happens at rate
      r_j = c mu + j theta + theta (own abandonment at rate theta, otherwise j -> j-1, or entry
      into service from j = 0).  Hence P(served | j) = prod_{i<=j} (c mu + i theta) / r_i and
      E[W | served, j] = sum_{i<=j} 1/r_i (exponential races: sojourn times are independent of
      which event ends them).

    Args:
        lam: arrival rate (per time unit, > 0).
        mu: service rate per server (per time unit, > 0).
        theta: abandonment rate = 1 / mean patience (per time unit, >= 0).  theta == 0 gives the
            M/M/c limit and then requires lam < c mu.
        c: number of servers (>= 1).

    Returns:
        :class:`ErlangAResult` (waits in time units).
    """
    lam = _check_pos(lam, "arrival rate lam")
    mu = _check_pos(mu, "service rate mu")
    theta = _check_nonneg(theta, "abandonment rate theta")
    c = _check_servers(c)

    if theta == 0.0:
        rho = lam / (c * mu)
        if rho >= 1:
            raise _unstable(rho, "Erlang-A with theta=0 (no abandonment)")
        wq = mmc_wait(lam, mu, c)
        lq = lam * wq
        return ErlangAResult(
            p_abandon=0.0,
            p_wait=erlang_c(c, lam / mu),
            mean_wait=wq,
            mean_wait_served=wq,
            mean_wait_abandoned=math.nan,
            mean_queue_length=lq,
            mean_in_system=lq + lam / mu,
            truncation=-1,
        )

    p = _erlang_a_distribution(lam, mu, theta, c)
    big_n = p.size - 1
    states = np.arange(big_n + 1, dtype=float)
    queued = np.maximum(states - c, 0.0)
    lq = float(np.dot(p, queued))
    l_sys = float(np.dot(p, states))
    p_wait = float(p[c:].sum())

    # Per-arrival absorbing chain on the number ahead j = 0..N-c.
    j = np.arange(big_n - c + 1, dtype=float)
    rate = c * mu + j * theta + theta
    step_ok = (c * mu + j * theta) / rate  # prob. next event is progress, not own abandonment
    p_served_j = np.cumprod(step_ok)
    wait_served_j = np.cumsum(1.0 / rate)  # E[W | served, j ahead]
    pj = p[c:]
    p_served = float(p[:c].sum() + np.dot(pj, p_served_j))
    e_w_served = float(np.dot(pj, p_served_j * wait_served_j))  # E[W 1{served}]

    wait_all = lq / lam
    p_ab = theta * lq / lam
    e_w_ab = wait_all - e_w_served
    return ErlangAResult(
        p_abandon=p_ab,
        p_wait=p_wait,
        mean_wait=wait_all,
        mean_wait_served=e_w_served / p_served,
        mean_wait_abandoned=e_w_ab / p_ab if p_ab > 0 else math.nan,
        mean_queue_length=lq,
        mean_in_system=l_sys,
        truncation=big_n,
    )


def _erlang_a_p_abandon_by_arrival(lam: float, mu: float, theta: float, c: int) -> float:
    """P(abandon) from the per-arrival recursion (independent of the Little identity).

    Used by the tests to cross-check :func:`erlang_a`.  Same sources and units as erlang_a.
    """
    p = _erlang_a_distribution(lam, mu, theta, c)
    j = np.arange(p.size - c, dtype=float)
    rate = c * mu + j * theta + theta
    p_served_j = np.cumprod((c * mu + j * theta) / rate)
    return float(np.dot(p[c:], 1.0 - p_served_j))


# --------------------------------------------------------------------------- priority queues


def priority_nonpreemptive_wait(
    lams: Sequence[float], means: Sequence[float], scvs: Sequence[float]
) -> list[float]:
    """Mean queueing wait per class in an M/G/1 non-preemptive priority queue (class 0 highest).

    Source: Cobham, "Priority assignment in waiting line problems", JORSA 2 (1954);
    Kleinrock, *Queueing Systems* vol. 2, eq. 3.30:
    W_k = W0 / ((1 - sigma_{k-1}) (1 - sigma_k)), W0 = sum_i lam_i E[S_i^2] / 2,
    sigma_k = sum_{i<=k} rho_i, E[S_i^2] = mean_i^2 (1 + scv_i).

    Args:
        lams: arrival rate of each class (per time unit).
        means: mean service time of each class (time units).
        scvs: squared coefficient of variation of each class's service time.

    Returns:
        Mean wait before service of each class (time units), FIFO within a class.

    Raises:
        ValueError: if total utilisation >= 1 (unstable) or the input is invalid.
    """
    lam, mean, scv = _class_arrays(lams, means, scvs)
    rho = lam * mean
    total = float(rho.sum())
    if total >= 1:
        raise _unstable(total)
    w0 = float(np.sum(lam * mean**2 * (1.0 + scv)) / 2.0)
    sigma = np.cumsum(rho)
    sigma_prev = np.concatenate(([0.0], sigma[:-1]))
    return [float(w) for w in w0 / ((1.0 - sigma_prev) * (1.0 - sigma))]


def priority_preemptive_sojourn(
    lams: Sequence[float], means: Sequence[float], scvs: Sequence[float]
) -> list[float]:
    """Mean sojourn time per class in an M/G/1 preemptive-resume priority queue (class 0 highest).

    Source: Kleinrock, *Queueing Systems* vol. 2, eq. 3.65 (after Cobham / White & Christie 1958):
    T_k = E[S_k] / (1 - sigma_{k-1})
          + (sum_{i<=k} lam_i E[S_i^2] / 2) / ((1 - sigma_{k-1}) (1 - sigma_k)).

    Units as in :func:`priority_nonpreemptive_wait`; returns sojourn (wait + service) per class.
    Only the classes up to k matter for class k, but the whole system must be stable.
    """
    lam, mean, scv = _class_arrays(lams, means, scvs)
    rho = lam * mean
    total = float(rho.sum())
    if total >= 1:
        raise _unstable(total)
    r_k = np.cumsum(lam * mean**2 * (1.0 + scv)) / 2.0
    sigma = np.cumsum(rho)
    sigma_prev = np.concatenate(([0.0], sigma[:-1]))
    t = mean / (1.0 - sigma_prev) + r_k / ((1.0 - sigma_prev) * (1.0 - sigma))
    return [float(x) for x in t]


def priority_mmc_nonpreemptive_wait(lams: Sequence[float], mu: float, c: int) -> list[float]:
    """Mean queueing wait per class in an M/M/c non-preemptive priority queue, equal service rates.

    Source: Cobham (1954); Gross et al., *Fundamentals of Queueing Theory*, sec. 3.4.2:
    W_k = (C(c, a) / (c mu)) / ((1 - sigma_{k-1}) (1 - sigma_k)), a = sum(lams)/mu,
    rho_i = lam_i / (c mu), sigma_k = sum_{i<=k} rho_i; C is Erlang C at the total load.

    Args:
        lams: arrival rate of each class, class 0 highest (per time unit).
        mu: service rate per server, the same for all classes (per time unit).
        c: number of servers.

    Returns:
        Mean wait before service of each class (time units).
    """
    lam = np.asarray(lams, dtype=float)
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError("lams must be a non-empty sequence of arrival rates")
    if not (np.all(np.isfinite(lam)) and np.all(lam >= 0)):
        raise ValueError("arrival rates must be finite and >= 0")
    mu = _check_pos(mu, "service rate mu")
    c = _check_servers(c)
    rho = lam / (c * mu)
    total = float(rho.sum())
    if total >= 1:
        raise _unstable(total)
    base = erlang_c(c, float(lam.sum()) / mu) / (c * mu)
    sigma = np.cumsum(rho)
    sigma_prev = np.concatenate(([0.0], sigma[:-1]))
    return [float(w) for w in base / ((1.0 - sigma_prev) * (1.0 - sigma))]


# --------------------------------------------------------------------------- fork-join


def fork_join_two(lam: float, mu: float) -> float:
    """Mean response time of a two-server fork-join queue with M/M/1 servers.

    Source: Flatto & Hahn, "Two parallel queues created by arrivals with two demands I",
    SIAM J. Appl. Math. 44 (1984); Nelson & Tantawi, "Approximate analysis of fork/join
    synchronization in parallel queues", IEEE Trans. Computers 37 (1988):
    T = (12 - rho) / 8 * 1 / (mu - lam), rho = lam / mu  (exact for two servers).

    Args:
        lam: job arrival rate (per time unit); each job forks one task to each server.
        mu: service rate of each server (per time unit).

    Returns:
        Mean time (time units) from arrival until both tasks are done.
    """
    lam = _check_nonneg(lam, "arrival rate lam")
    mu = _check_pos(mu, "service rate mu")
    rho = lam / mu
    if rho >= 1:
        raise _unstable(rho)
    return (12.0 - rho) / 8.0 / (mu - lam)
