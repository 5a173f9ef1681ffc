"""Checks of chainsim.analytic against independently known values and identities."""

from __future__ import annotations

import heapq
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from chainsim import analytic as an
from chainsim.metrics import t_interval

# --------------------------------------------------------------------------- Erlang B / C


def _erlang_b_direct(c: int, a: float) -> float:
    # Textbook definition: (a^c / c!) / sum_{k<=c} a^k / k!  (Gross et al., eq. 2.51)
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.parametrize("c,a", [(1, 0.5), (2, 1.0), (5, 3.2), (10, 5.0), (30, 25.0)])
def test_erlang_b_matches_definition(c, a):
    assert an.erlang_b(c, a) == pytest.approx(_erlang_b_direct(c, a), rel=1e-12)


def test_erlang_b_table_value():
    # Standard Erlang B table: 10 trunks, 5 Erlangs -> 0.01838
    assert an.erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-6)
    assert an.erlang_b(0, 3.0) == 1.0


def test_erlang_b_large_c_stable():
    # Exact in rational arithmetic from the definition: with an integer load a, multiply the top and
    # bottom of (a^c/c!) / sum_k a^k/k! by c!: B = a^c / sum_k a^k c!/k!, all whole numbers (the
    # float terms of _erlang_b_direct overflow here). Fraction -> float rounds once, correctly.
    c, a = 2000, 1900
    bottom, falling = 0, 1  # falling = c!/k!, from k = c down to 0
    for k in range(c, -1, -1):
        bottom += a**k * falling
        falling *= k or 1
    exact = float(Fraction(a**c, bottom))
    assert an.erlang_b(c, float(a)) == pytest.approx(exact, rel=1e-9)


def test_erlang_c_known_values():
    # c=2, a=1: B = 1/5, C = B / (1 - (1/2)(4/5)) = 1/3 exactly
    assert an.erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-14)
    # c=1: P(wait) = rho for M/M/1 (Kleinrock vol. 1)
    for rho in (0.1, 0.5, 0.93):
        assert an.erlang_c(1, rho) == pytest.approx(rho, rel=1e-14)
    # Direct definition C = (a^c/c!)(c/(c-a)) / (sum_{k<c} a^k/k! + (a^c/c!)(c/(c-a)))
    c, a = 7, 5.5
    top = a**c / math.factorial(c) * c / (c - a)
    direct = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    assert an.erlang_c(c, a) == pytest.approx(direct, rel=1e-12)


def test_erlang_c_unstable():
    with pytest.raises(ValueError, match="unstable"):
        an.erlang_c(3, 3.0)
    with pytest.raises(ValueError, match="unstable"):
        an.erlang_c(1, 1.2)


# --------------------------------------------------------------------------- M/M/c, M/G/1


@pytest.mark.parametrize("lam,mu", [(0.5, 1.0), (3.0, 4.0), (0.9, 1.0)])
def test_mm1_closed_forms(lam, mu):
    rho = lam / mu
    # M/M/1: Wq = rho / (mu - lam), W = 1/(mu - lam), Lq = rho^2/(1-rho)  (Kleinrock vol. 1, sec. 3.2)
    assert an.mmc_wait(lam, mu, 1) == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert an.mmc_sojourn(lam, mu, 1) == pytest.approx(1 / (mu - lam), rel=1e-12)
    assert an.mm1_sojourn(lam, mu) == pytest.approx(1 / (mu - lam), rel=1e-12)
    assert an.mmc_queue_length(lam, mu, 1) == pytest.approx(rho**2 / (1 - rho), rel=1e-12)


def test_mm2_closed_form():
    # M/M/2: Lq = 2 rho^3 / (1 - rho^2), rho = lam / (2 mu)  (Gross et al., sec. 2.3)
    lam, mu = 1.5, 1.0
    rho = lam / (2 * mu)
    assert an.mmc_queue_length(lam, mu, 2) == pytest.approx(2 * rho**3 / (1 - rho**2), rel=1e-12)


def test_mmc_zero_arrivals():
    assert an.mmc_wait(0.0, 1.0, 3) == 0.0
    assert an.mmc_sojourn(0.0, 2.0, 3) == pytest.approx(0.5)


def test_mmc_unstable_message():
    with pytest.raises(ValueError, match=r"unstable: utilisation 1\.2 >= 1"):
        an.mmc_wait(1.2, 1.0, 1)
    with pytest.raises(ValueError, match="unstable"):
        an.mm1_sojourn(1.0, 1.0)


def test_invalid_inputs():
    with pytest.raises(ValueError):
        an.mmc_wait(1.0, 0.0, 2)
    with pytest.raises(ValueError):
        an.mmc_wait(1.0, 1.0, 0)
    with pytest.raises(ValueError):
        an.mmc_wait(-1.0, 1.0, 2)
    with pytest.raises(ValueError):
        an.erlang_c(2.5, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        an.mg1_wait(0.5, 1.0, -0.1)


@pytest.mark.parametrize("lam,mean", [(0.3, 1.0), (0.8, 1.0), (2.0, 0.4)])
def test_pollaczek_khinchine_special_cases(lam, mean):
    mu = 1 / mean
    mm1 = an.mmc_wait(lam, mu, 1)
    # scv = 1 (exponential) gives M/M/1
    assert an.mg1_wait(lam, mean, 1.0) == pytest.approx(mm1, rel=1e-12)
    # scv = 0 (deterministic) gives M/D/1 = half the M/M/1 wait
    assert an.mg1_wait(lam, mean, 0.0) == pytest.approx(mm1 / 2, rel=1e-12)
    assert an.mg1_sojourn(lam, mean, 1.0) == pytest.approx(an.mm1_sojourn(lam, mu), rel=1e-12)


def test_mg1_unstable():
    with pytest.raises(ValueError, match="unstable"):
        an.mg1_wait(1.0, 1.0, 0.5)


# --------------------------------------------------------------------------- Jackson


def test_jackson_tandem_is_sum_of_mmc():
    lam = 2.0
    means = [0.3, 0.9, 0.2]
    servers = [1, 3, 1]
    routing = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    res = an.jackson_network([lam, 0, 0], routing, means, servers)
    np.testing.assert_allclose(res.arrival_rates, [lam] * 3, rtol=1e-12)
    np.testing.assert_allclose(res.visits, [1, 1, 1], rtol=1e-12)
    expected = sum(an.mmc_sojourn(lam, 1 / m, c) for m, c in zip(means, servers, strict=True))
    assert res.network_sojourn == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(res.utilisation, [0.6, 0.6, 0.4], rtol=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.6])
def test_jackson_feedback_loop(p):
    lam, mu = 1.0, 4.0
    res = an.jackson_network([lam], [[p]], [1 / mu], [1])
    lam_eff = lam / (1 - p)
    assert res.visits[0] == pytest.approx(1 / (1 - p), rel=1e-12)
    assert res.arrival_rates[0] == pytest.approx(lam_eff, rel=1e-12)
    assert res.sojourn[0] == pytest.approx(1 / (mu - lam_eff), rel=1e-12)
    # Per external customer: visits * per-visit sojourn
    assert res.network_sojourn == pytest.approx(1 / ((1 - p) * (mu - lam_eff)), rel=1e-12)


def test_jackson_split_and_merge():
    # Station 0 splits 30/70 to stations 1 and 2, which merge into station 3.
    routing = np.zeros((4, 4))
    routing[0, 1], routing[0, 2] = 0.3, 0.7
    routing[1, 3] = routing[2, 3] = 1.0
    res = an.jackson_network([1.0, 0.5, 0, 0], routing, [0.5, 0.5, 1.0, 0.2], [1, 2, 1, 1])
    np.testing.assert_allclose(res.arrival_rates, [1.0, 0.8, 0.7, 1.5], rtol=1e-12)
    np.testing.assert_allclose(res.visits, np.array([1.0, 0.8, 0.7, 1.5]) / 1.5, rtol=1e-12)
    # Each station an M/M/c of its own (product form), the textbook sojourns written out here:
    # M/M/1: W = 1/(mu - lam); M/M/2: L = 2 rho/(1 - rho^2), rho = lam/(2 mu), so W = 1/(mu (1 - rho^2))
    # (Gross et al., sec. 2.3).
    rho = 0.8 / (2 * 2.0)
    sojourn = [1 / (2.0 - 1.0), 1 / (2.0 * (1 - rho**2)), 1 / (1.0 - 0.7), 1 / (5.0 - 1.5)]
    np.testing.assert_allclose(res.sojourn, sojourn, rtol=1e-12)
    np.testing.assert_allclose(res.wait, np.array(sojourn) - [0.5, 0.5, 1.0, 0.2], rtol=1e-12)
    # Little over the network: per external customer (rate 1.5), sum_i lam_i W_i / 1.5.
    assert res.network_sojourn == pytest.approx(np.dot([1.0, 0.8, 0.7, 1.5], sojourn) / 1.5, rel=1e-12)


def test_jackson_unstable_names_station():
    routing = [[0, 1], [0, 0]]
    with pytest.raises(ValueError, match=r"station 1.*unstable"):
        an.jackson_network([1.0, 0.0], routing, [0.5, 1.5], [1, 1])


def test_jackson_invalid_routing():
    with pytest.raises(ValueError, match="row 0"):
        an.jackson_network([1.0, 0.0], [[0.5, 0.6], [0, 0]], [0.1, 0.1], [1, 1])
    with pytest.raises(ValueError, match="unstable"):
        an.jackson_network([1.0, 0.0], [[0, 1], [1, 0]], [0.1, 0.1], [1, 1])
    with pytest.raises(ValueError):
        an.jackson_network([1.0], [[0.0, 0.0]], [0.1], [1])


# --------------------------------------------------------------------------- Erlang A


@pytest.mark.parametrize(
    "lam,mu,theta,c",
    [(0.9, 1.0, 0.5, 1), (9.0, 1.0, 0.2, 10), (12.0, 1.0, 0.5, 10), (3.0, 2.0, 5.0, 1), (50.0, 1.0, 1.0, 45)],
)
def test_erlang_a_abandon_identity(lam, mu, theta, c):
    r = an.erlang_a(lam, mu, theta, c)
    # Per-arrival recursion vs. the Little-law identity P(ab) = theta E[Lq] / lam
    assert an._erlang_a_p_abandon_by_arrival(lam, mu, theta, c) == pytest.approx(r.p_abandon, abs=1e-9)
    # Decomposition of the all-arrival mean wait over served/abandoned
    mix = (1 - r.p_abandon) * r.mean_wait_served + r.p_abandon * r.mean_wait_abandoned
    assert mix == pytest.approx(r.mean_wait, rel=1e-10)
    # Throughput balance: lam (1 - P(ab)) = mu E[busy servers]
    assert 0 < r.p_abandon < r.p_wait < 1
    assert r.mean_in_system - r.mean_queue_length == pytest.approx(lam * (1 - r.p_abandon) / mu, rel=1e-9)


def test_erlang_a_tiny_theta_matches_erlang_c():
    lam, mu, c = 8.0, 1.0, 10
    r = an.erlang_a(lam, mu, 1e-7, c)
    wq = an.mmc_wait(lam, mu, c)
    assert r.mean_wait == pytest.approx(wq, rel=1e-4)
    assert r.mean_wait_served == pytest.approx(wq, rel=1e-4)
    assert r.p_wait == pytest.approx(an.erlang_c(c, lam / mu), rel=1e-4)
    r0 = an.erlang_a(lam, mu, 0.0, c)
    assert r0.p_abandon == 0.0 and r0.mean_wait == pytest.approx(wq)


def test_erlang_a_theta_equals_mu_is_mm_inf():
    # With theta = mu every customer leaves at rate mu whether served or waiting, so the number
    # in system is M/M/inf: Poisson(a), E[L] = a.  E[Lq] = E[(N - c)^+] and P(wait) = P(N >= c).
    lam, mu, c = 6.0, 1.5, 3
    a = lam / mu
    r = an.erlang_a(lam, mu, mu, c)
    assert r.mean_in_system == pytest.approx(a, rel=1e-12)
    n = np.arange(200)
    pois = stats.poisson.pmf(n, a)
    lq = float(np.sum(pois * np.maximum(n - c, 0)))
    assert r.mean_queue_length == pytest.approx(lq, rel=1e-10)
    assert r.p_abandon == pytest.approx(mu * lq / lam, rel=1e-10)
    assert r.p_wait == pytest.approx(stats.poisson.sf(c - 1, a), rel=1e-10)


def test_erlang_a_matches_generator_solve():
    # Independent: stationary distribution from the null space of a truncated CTMC generator.
    lam, mu, theta, c, n_max = 2.0, 1.0, 0.7, 2, 120
    q = np.zeros((n_max + 1, n_max + 1))
    for n in range(n_max + 1):
        if n < n_max:
            q[n, n + 1] = lam
        if n > 0:
            q[n, n - 1] = min(n, c) * mu + max(n - c, 0) * theta
        q[n, n] = -q[n].sum()
    a_mat = np.vstack([q.T, np.ones(n_max + 1)])
    b = np.zeros(n_max + 2)
    b[-1] = 1
    p = np.linalg.lstsq(a_mat, b, rcond=None)[0]
    lq = float(np.dot(p, np.maximum(np.arange(n_max + 1) - c, 0)))
    r = an.erlang_a(lam, mu, theta, c)
    assert r.mean_queue_length == pytest.approx(lq, rel=1e-9)
    assert r.mean_wait == pytest.approx(lq / lam, rel=1e-9)


def _simulate_erlang_a(lam, mu, theta, c, n, seed):
    """FIFO M/M/c+M by the offered-wait recursion: an arrival is served iff its offered wait (time
    until a server frees for it) is below its patience. Per arrival, in order: (served, wait), the
    wait being the offered wait if served, else the patience."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    services = rng.exponential(1 / mu, n)
    patience = rng.exponential(1 / theta, n)
    free = [0.0] * c  # a heap of the times the servers free up
    served = np.zeros(n, dtype=bool)
    wait = patience.copy()
    for j, (t, s, pat) in enumerate(zip(arrivals.tolist(), services.tolist(), patience.tolist(), strict=True)):
        offered = max(free[0] - t, 0.0)
        if offered < pat:
            served[j], wait[j] = True, offered
            heapq.heapreplace(free, t + offered + s)
    return served, wait


def test_erlang_a_served_wait_against_simulation():
    # Batch means: one run of 1.2 million arrivals, the first 5% dropped as warm-up (the queue
    # forgets its empty start within a few hundred arrivals), the rest cut in arrival order into 20
    # batches of 57 000, whose estimates are then nearly independent. Each formula must lie inside
    # the t-interval of its 20 batch estimates at level 1 - 0.01/3 (Bonferroni: 1% for the three
    # checks together, fixed seed), and that interval must be narrow: with its half-width h at most
    # 1.5% of the formula's value, a formula 3% = 2h off the truth lies outside any interval that
    # covers the truth. (Measured: h = 1.3%, 1.1%, 1.1%; the estimates within 0.35% of the formulas.)
    lam, mu, theta, c = 5.5, 1.0, 0.5, 5
    r = an.erlang_a(lam, mu, theta, c)
    served, wait = _simulate_erlang_a(lam, mu, theta, c, 1_200_000, seed=12345)
    warm = len(served) // 20
    batches = list(zip(np.array_split(served[warm:], 20), np.array_split(wait[warm:], 20), strict=True))
    estimates = {"mean_wait_served": [w[s].mean() for s, w in batches],
                 "mean_wait_abandoned": [w[~s].mean() for s, w in batches],
                 "p_abandon": [(~s).mean() for s, _ in batches]}
    for name, batch_values in estimates.items():
        theory = getattr(r, name)
        mean, lo, hi = t_interval(np.array(batch_values), level=1 - 0.01 / len(estimates))
        where = f"{name}: simulated {mean:.5f} [{lo:.5f}, {hi:.5f}] vs formula {theory:.5f}"
        assert (hi - lo) / 2 <= 0.015 * theory, f"interval too wide to test: {where}"
        assert lo <= theory <= hi, where


def test_erlang_a_overloaded_is_stable_and_invalid_inputs():
    r = an.erlang_a(20.0, 1.0, 0.1, 10)
    assert r.p_abandon == pytest.approx(0.5, abs=0.05)  # fluid limit: (lam - c mu)/lam
    with pytest.raises(ValueError, match="unstable"):
        an.erlang_a(2.0, 1.0, 0.0, 2)
    with pytest.raises(ValueError):
        an.erlang_a(1.0, 1.0, -0.1, 2)


# --------------------------------------------------------------------------- priorities


def test_priority_single_class_reduces_to_mg1():
    lam, mean, scv = 0.7, 1.0, 2.5
    assert an.priority_nonpreemptive_wait([lam], [mean], [scv])[0] == pytest.approx(
        an.mg1_wait(lam, mean, scv), rel=1e-12
    )
    assert an.priority_preemptive_sojourn([lam], [mean], [scv])[0] == pytest.approx(
        an.mg1_sojourn(lam, mean, scv), rel=1e-12
    )


@pytest.mark.parametrize(
    "lams,means,scvs",
    [
        ([0.2, 0.3, 0.1], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
        ([0.5, 0.2], [0.6, 1.5], [1.0, 1.0]),
        ([0.1, 0.4, 0.2], [0.5, 1.0, 2.0], [0.0, 2.0, 0.5]),
    ],
)
def test_kleinrock_conservation_law(lams, means, scvs):
    # Kleinrock vol. 2, eq. 3.31: sum_k rho_k W_k = rho W0 / (1 - rho) = rho * W_FIFO(M/G/1)
    w = an.priority_nonpreemptive_wait(lams, means, scvs)
    rho_k = np.array(lams) * np.array(means)
    rho = rho_k.sum()
    lam = sum(lams)
    mean = float(np.dot(lams, means) / lam)
    es2 = float(np.dot(lams, np.array(means) ** 2 * (1 + np.array(scvs))) / lam)
    w_fifo = lam * es2 / (2 * (1 - rho))
    assert float(np.dot(rho_k, w)) == pytest.approx(rho * w_fifo, rel=1e-12)
    if all(s == 1.0 for s in scvs) and len(set(means)) == 1:
        assert w_fifo == pytest.approx(an.mg1_wait(lam, mean, 1.0), rel=1e-12)


def test_priority_exponential_equal_service_average_is_fifo():
    # Equal exponential service: number in system is that of M/M/1 for any work-conserving order,
    # so the lam-weighted mean sojourn equals 1/(mu - lam) (both preemptive and non-preemptive).
    lams, mu = [0.2, 0.35, 0.15], 1.0
    lam = sum(lams)
    t_pre = an.priority_preemptive_sojourn(lams, [1 / mu] * 3, [1.0] * 3)
    w_np = an.priority_nonpreemptive_wait(lams, [1 / mu] * 3, [1.0] * 3)
    assert float(np.dot(lams, t_pre)) / lam == pytest.approx(1 / (mu - lam), rel=1e-12)
    assert float(np.dot(lams, w_np)) / lam + 1 / mu == pytest.approx(1 / (mu - lam), rel=1e-12)
    # Top class under preemption ignores lower classes entirely: M/M/1 with its own rate
    assert t_pre[0] == pytest.approx(1 / (mu - lams[0]), rel=1e-12)
    assert w_np[0] < w_np[1] < w_np[2]


def test_priority_mmc():
    lams, mu, c = [1.0, 2.0, 1.5], 1.0, 5
    w = an.priority_mmc_nonpreemptive_wait(lams, mu, c)
    lam = sum(lams)
    # Single class reduces to Erlang C wait
    assert an.priority_mmc_nonpreemptive_wait([lam], mu, c)[0] == pytest.approx(
        an.mmc_wait(lam, mu, c), rel=1e-12
    )
    # Equal exponential service: average over classes equals the FIFO M/M/c wait
    assert float(np.dot(lams, w)) / lam == pytest.approx(an.mmc_wait(lam, mu, c), rel=1e-12)
    # c = 1 agrees with the M/G/1 formula with exponential service
    w1 = an.priority_mmc_nonpreemptive_wait([0.3, 0.4], 1.0, 1)
    np.testing.assert_allclose(w1, an.priority_nonpreemptive_wait([0.3, 0.4], [1, 1], [1, 1]), rtol=1e-12)


def test_priority_unstable():
    with pytest.raises(ValueError, match="unstable"):
        an.priority_nonpreemptive_wait([0.5, 0.6], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="unstable"):
        an.priority_preemptive_sojourn([0.5, 0.6], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="unstable"):
        an.priority_mmc_nonpreemptive_wait([1.0, 1.0], 1.0, 2)
    with pytest.raises(ValueError):
        an.priority_nonpreemptive_wait([0.5], [1, 1], [1])


# --------------------------------------------------------------------------- fork-join


def test_fork_join_light_load_is_max_of_two_exponentials():
    mu = 2.0
    # E[max of two iid Exp(mu)] = 1/mu + 1/(2 mu) = 1.5/mu
    assert an.fork_join_two(1e-9, mu) == pytest.approx(1.5 / mu, rel=1e-6)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_fork_join_bounds(rho):
    mu = 1.0
    lam = rho * mu
    t = an.fork_join_two(lam, mu)
    t1 = an.mm1_sojourn(lam, mu)
    # Single queue sojourn is a lower bound; max of two independent M/M/1 sojourns (1.5 T1)
    # is an upper bound because the two queues' sojourns are positively associated.
    assert t1 < t < 1.5 * t1
    assert t == pytest.approx((12 - rho) / 8 / (mu - lam), rel=1e-12)


def test_fork_join_unstable():
    with pytest.raises(ValueError, match="unstable"):
        an.fork_join_two(1.0, 1.0)
