"""How sure a difference between two versions is: conversion rate (Beta-Binomial, uniform prior), net revenue per
session (bootstrap over sessions) and the minimum detectable effect at the current volume. Pure functions over
counts and arrays, computed with scipy/numpy; docs/guide/versions.md gives every formula."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import integrate, optimize, special, stats

PRIOR = (1.0, 1.0)  # Beta(1, 1): uniform, every rate equally likely before any session
ALPHA = 0.05  # two-sided significance for the minimum detectable effect
POWER = 0.8
TELL_APART = 0.10  # "about N more sessions per version to tell a 10 % difference" (relative to the rate)
CREDIBLE = 0.95  # width of the credible and bootstrap intervals
BOOTSTRAP_RESAMPLES = 2000
MIN_RESAMPLES = 200
# Upper bound on the session draws of one version's bootstrap (resamples × converted sessions): keeps the campaign
# page fast for a very busy version, which then gets fewer resamples (never fewer than MIN_RESAMPLES).
BOOTSTRAP_DRAW_BUDGET = 4_000_000
# The percentile bootstrap of a handful of sessions is overconfident (3 sessions, 2 with an order, against 2 without:
# 98 % of resamples favour the first): below this many sessions per version its P(B > A) is shown, never a verdict.
MIN_BOOTSTRAP_SESSIONS = 100
SEED = 24  # fixed: the same data always gives the same intervals


@dataclass(frozen=True)
class RateComparison:
    """Conversion rate of A and B (converted sessions / sessions) and how sure "B's rate is higher" is."""

    sessions_a: int
    converted_a: int
    sessions_b: int
    converted_b: int
    rate_a: float | None
    rate_b: float | None
    p_b_better: float  # P(rate B > rate A | data), Beta(1 + converted, 1 + sessions − converted) posteriors
    diff_low: float  # 95 % credible interval of rate B − rate A (absolute, e.g. 0.004 = 0.4 points)
    diff_high: float
    mde: float | None  # minimum detectable relative effect at the current volume (0.25 = ±25 % of the rate)
    sessions_needed: int | None  # per version, to tell a TELL_APART relative difference
    more_sessions: int | None  # sessions_needed − the smaller version's sessions (0: already enough)


@dataclass(frozen=True)
class RevenueComparison:
    """Net revenue per session of A and B in one currency (minor units), and the bootstrap of B − A."""

    currency: str
    per_session_a: float | None
    per_session_b: float | None
    p_b_better: float  # share of resamples where B − A > 0 (ties count half)
    diff_low: float | None  # 95 % bootstrap percentile interval of B − A (minor units per session)
    diff_high: float | None
    resamples: int
    enough_sessions: bool  # both versions have MIN_BOOTSTRAP_SESSIONS sessions: the probability may decide


def beta_posterior(converted: int, sessions: int) -> tuple[float, float]:
    """The Beta posterior's (a, b) after ``converted`` successes out of ``sessions`` under the uniform prior."""
    return PRIOR[0] + converted, PRIOR[1] + sessions - converted


def _density(a: float, b: float) -> Callable[[float], float]:
    """The Beta(a, b) density from its logarithm (scipy.special.betaln for the norm): cheap per point and exact."""
    log_norm = float(special.betaln(a, b))

    def pdf(x: float) -> float:
        if x <= 0.0 or x >= 1.0:
            return 0.0
        return math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - log_norm)

    return pdf


def _support(a: float, b: float) -> tuple[float, float]:
    """Where Beta(a, b) has all but 2·10⁻¹² of its mass: the integrals run over it."""
    return float(special.betaincinv(a, b, 1e-12)), float(special.betainccinv(a, b, 1e-12))


def probability_b_beats_a(converted_a: int, sessions_a: int, converted_b: int, sessions_b: int) -> float:
    """P(p_B > p_A) = ∫ f_B(x) F_A(x) dx over [0, 1], integrated numerically (scipy.integrate.quad) over the
    region where B's posterior density is not negligible (so a narrow peak of a large sample is not missed).

    The integrand is written with scipy.special (B's log-density, A's regularised incomplete beta function) rather
    than frozen scipy.stats objects: the same values, a hundred times cheaper per point."""
    aa, ba = beta_posterior(converted_a, sessions_a)
    ab, bb = beta_posterior(converted_b, sessions_b)
    density = _density(ab, bb)
    low, high = _support(ab, bb)

    def integrand(x: float) -> float:
        return density(x) * float(special.betainc(aa, ba, x))

    means = (aa / (aa + ba), ab / (ab + bb))
    peaks = sorted({x for x in means if low < x < high})
    value, _error = integrate.quad(integrand, low, high, points=peaks or None, limit=200, epsabs=1e-10, epsrel=1e-9)
    # The mass of B outside [low, high] is 2e-12: it changes nothing a page shows.
    return min(1.0, max(0.0, value))


def difference_cdf(d: float, converted_a: int, sessions_a: int, converted_b: int, sessions_b: int) -> float:
    """P(p_B − p_A ≤ d) = ∫ f_A(x) F_B(x + d) dx, integrated numerically over A's posterior (as
    ``probability_b_beats_a``, which is 1 − this at d = 0)."""
    aa, ba = beta_posterior(converted_a, sessions_a)
    ab, bb = beta_posterior(converted_b, sessions_b)
    density = _density(aa, ba)
    low, high = _support(aa, ba)

    def integrand(x: float) -> float:
        shifted = x + d
        if shifted <= 0.0:
            return 0.0
        return density(x) * (1.0 if shifted >= 1.0 else float(special.betainc(ab, bb, shifted)))

    peak = aa / (aa + ba)
    points = [peak] if low < peak < high else None
    value, _error = integrate.quad(integrand, low, high, points=points, limit=200, epsabs=1e-10, epsrel=1e-9)
    return min(1.0, max(0.0, value))


def rate_difference_interval(
    converted_a: int, sessions_a: int, converted_b: int, sessions_b: int
) -> tuple[float, float]:
    """The central 95 % credible interval of p_B − p_A: the 2.5 % and 97.5 % quantiles of the exact distribution of
    the difference (``difference_cdf`` solved with scipy.optimize.brentq, to 1e-7)."""
    tail = (1 - CREDIBLE) / 2

    def quantile(q: float) -> float:
        return float(
            optimize.brentq(
                lambda d: difference_cdf(d, converted_a, sessions_a, converted_b, sessions_b) - q,
                -1.0,
                1.0,
                xtol=1e-7,
            )
        )

    return quantile(tail), quantile(1 - tail)


def minimum_detectable_effect(rate: float, sessions: int) -> float | None:
    """The smallest relative change of ``rate`` a two-sided test (α = 0.05, power 0.8) would detect with
    ``sessions`` per version: (z₀.₉₇₅ + z₀.₈) · √(2 p (1 − p) / n) / p. None without a rate or sessions."""
    if sessions <= 0 or not 0 < rate < 1:
        return None
    z = float(stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER))
    return z * math.sqrt(2 * rate * (1 - rate) / sessions) / rate


def sessions_to_detect(rate: float, relative: float = TELL_APART) -> int | None:
    """Sessions per version for a two-sided test (α = 0.05, power 0.8) to tell ``rate`` from ``rate`` × (1 +
    ``relative``): n = (z₀.₉₇₅ + z₀.₈)² (p₁(1 − p₁) + p₂(1 − p₂)) / (p₂ − p₁)²."""
    if not 0 < rate < 1:
        return None
    other = min(rate * (1 + relative), 1.0)
    z = float(stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER))
    return math.ceil(z**2 * (rate * (1 - rate) + other * (1 - other)) / (other - rate) ** 2)


def compare_rates(converted_a: int, sessions_a: int, converted_b: int, sessions_b: int) -> RateComparison:
    """Everything the page says about two conversion rates (see ``RateComparison``)."""
    for name, converted, sessions in (("A", converted_a, sessions_a), ("B", converted_b, sessions_b)):
        if sessions < 0 or not 0 <= converted <= sessions:
            raise ValueError(f"version {name}: converted sessions must be between 0 and its sessions")
    pooled = (converted_a + converted_b) / (sessions_a + sessions_b) if sessions_a + sessions_b else 0.0
    smaller = min(sessions_a, sessions_b)
    needed = sessions_to_detect(pooled)
    low, high = rate_difference_interval(converted_a, sessions_a, converted_b, sessions_b)
    return RateComparison(
        sessions_a=sessions_a,
        converted_a=converted_a,
        sessions_b=sessions_b,
        converted_b=converted_b,
        rate_a=converted_a / sessions_a if sessions_a else None,
        rate_b=converted_b / sessions_b if sessions_b else None,
        p_b_better=probability_b_beats_a(converted_a, sessions_a, converted_b, sessions_b),
        diff_low=low,
        diff_high=high,
        mde=minimum_detectable_effect(pooled, smaller),
        sessions_needed=needed,
        more_sessions=max(0, needed - smaller) if needed is not None else None,
    )


def seed_for(label: str) -> int:
    """A fixed seed per version (its public id), so each version's resamples are their own stream and the same
    data always gives the same interval."""
    return SEED * 1_000_003 + zlib.crc32(label.encode())


def bootstrap_means(
    values: NDArray[np.float64], sessions: int, *, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> NDArray[np.float64]:
    """Bootstrap means of per-session net revenue: ``sessions`` sessions resampled with replacement, of which
    ``values`` are the sessions with an order (any value, refunds may make it 0 or negative) and the rest count 0.

    Drawing ``sessions`` times from all sessions is drawing Binomial(sessions, k / sessions) times from the k
    sessions with an order (the others add 0), so only those draws are made: vectorised, one array per batch of
    resamples, the total bounded by ``BOOTSTRAP_DRAW_BUDGET``."""
    if sessions <= 0:
        return np.zeros(0)
    k = len(values)
    if k > sessions:
        raise ValueError("more sessions with an order than sessions")
    if k == 0:
        return np.zeros(resamples)
    resamples = max(MIN_RESAMPLES, min(resamples, BOOTSTRAP_DRAW_BUDGET // k))
    rng = np.random.default_rng(seed)
    hits = rng.binomial(sessions, k / sessions, size=resamples)
    means = np.empty(resamples)
    batch = max(1, 1_000_000 // k)  # ≈ 1M draws in memory at a time
    for first in range(0, resamples, batch):
        counts = hits[first : first + batch]
        picks = rng.integers(0, k, size=int(counts.sum()))
        drawn = values[picks]
        # The sum of each resample's segment of draws; an empty segment (no session with an order) sums to 0.
        ends = np.cumsum(counts)
        totals = np.concatenate(([0.0], np.cumsum(drawn)))
        means[first : first + len(counts)] = (totals[ends] - totals[ends - counts]) / sessions
    return means


@dataclass(frozen=True)
class RevenueSample:
    """One version's net revenue per session in one currency: the observed mean and its bootstrap means."""

    currency: str
    sessions: int
    total: float  # net revenue of the sessions (minor units)
    means: NDArray[np.float64]

    @property
    def per_session(self) -> float | None:
        return self.total / self.sessions if self.sessions else None


def revenue_sample(currency: str, values: NDArray[np.float64], sessions: int, *, seed: int) -> RevenueSample:
    """``values``: the net revenue of each session with an order (the version's other sessions count 0)."""
    return RevenueSample(currency, sessions, float(values.sum()), bootstrap_means(values, sessions, seed=seed))


def compare_revenue(a: RevenueSample, b: RevenueSample) -> RevenueComparison:
    """Net revenue per session of B against A in one currency: from each version's bootstrap means (independent
    resamples, fixed seeds), the 95 % percentile interval of B − A and the share of resamples where B − A > 0."""
    if a.currency != b.currency:
        raise ValueError("money of two currencies is never compared")
    count = min(len(a.means), len(b.means))
    enough = min(a.sessions, b.sessions) >= MIN_BOOTSTRAP_SESSIONS
    if not count:
        return RevenueComparison(a.currency, a.per_session, b.per_session, 0.5, None, None, 0, enough)
    diff = b.means[:count] - a.means[:count]
    tail = (1 - CREDIBLE) / 2 * 100
    low, high = np.percentile(diff, [tail, 100 - tail])
    p = float((np.count_nonzero(diff > 0) + 0.5 * np.count_nonzero(diff == 0)) / count)
    return RevenueComparison(a.currency, a.per_session, b.per_session, p, float(low), float(high), count, enough)
