"""The statistics of versions compared, against answers computed independently: closed forms of P(B > A) for Beta
posteriors (scipy.special.betaln), the exact distribution of the difference (quadrature), published z values, and
a plain bootstrap over the full session array."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from app.services.metrics import confidence

Z_975 = 1.959963984540054  # published quantiles of the standard normal
Z_80 = 0.8416212335729143


def closed_form_p_b_beats_a(converted_a: int, sessions_a: int, converted_b: int, sessions_b: int) -> float:
    """P(p_B > p_A) for Beta(α_A, β_A), Beta(α_B, β_B) with integer α_B (Evan Miller's formula):
    Σ_{i=0}^{α_B−1} B(α_A + i, β_A + β_B) / ((β_B + i) B(1 + i, β_B) B(α_A, β_A))."""
    aa, ba = 1 + converted_a, 1 + sessions_a - converted_a
    ab, bb = 1 + converted_b, 1 + sessions_b - converted_b
    total = 0.0
    for i in range(ab):
        total += math.exp(
            special.betaln(aa + i, ba + bb) - math.log(bb + i) - special.betaln(1 + i, bb) - special.betaln(aa, ba)
        )
    return total


def difference_cdf(d: float, converted_a: int, sessions_a: int, converted_b: int, sessions_b: int) -> float:
    """P(p_B − p_A ≤ d) = ∫ f_A(x) F_B(x + d) dx, by quadrature over A's support."""
    a = stats.beta(1 + converted_a, 1 + sessions_a - converted_a)
    b = stats.beta(1 + converted_b, 1 + sessions_b - converted_b)
    low, high = a.ppf(1e-12), a.isf(1e-12)
    value, _ = integrate.quad(lambda x: a.pdf(x) * b.cdf(x + d), low, high, points=[a.mean()], limit=200)
    return float(value)


CASES = [
    (0, 0, 0, 0),  # nothing yet
    (1, 2, 0, 2),  # a tiny sample
    (30, 1000, 45, 1000),
    (45, 1000, 30, 1000),
    (0, 1000, 10, 1000),  # zero conversions in one version
    (5, 10, 500, 100_000),  # very lopsided: rates and sizes
    (3, 50, 300, 10_000),
    (3000, 100_000, 3100, 100_000),  # large and close: a narrow peak
]


@pytest.mark.parametrize(("ca", "na", "cb", "nb"), CASES)
def test_probability_matches_the_closed_form(ca: int, na: int, cb: int, nb: int) -> None:
    assert confidence.probability_b_beats_a(ca, na, cb, nb) == pytest.approx(
        closed_form_p_b_beats_a(ca, na, cb, nb), abs=1e-6
    )


def test_known_values() -> None:
    # Two uniform posteriors: 1/2. Beta(2, 1) (one session, converted) against uniform: ∫ 2x · x dx = 2/3.
    assert confidence.probability_b_beats_a(0, 0, 0, 0) == pytest.approx(0.5, abs=1e-9)
    assert confidence.probability_b_beats_a(0, 0, 1, 1) == pytest.approx(2 / 3, abs=1e-9)
    assert confidence.probability_b_beats_a(1, 1, 0, 0) == pytest.approx(1 / 3, abs=1e-9)


def test_the_interval_of_two_uniform_posteriors() -> None:
    # No data: p_B − p_A of two uniforms is triangular, P(D ≤ d) = (1 + d)² / 2 below 0, so the 2.5 % quantile is
    # √0.05 − 1.
    low, high = confidence.rate_difference_interval(0, 0, 0, 0)
    assert low == pytest.approx(math.sqrt(0.05) - 1, abs=1e-6)
    assert high == pytest.approx(1 - math.sqrt(0.05), abs=1e-6)


def test_a_tie_is_a_coin_flip_with_a_symmetric_interval() -> None:
    result = confidence.compare_rates(40, 2000, 40, 2000)
    assert result.p_b_better == pytest.approx(0.5, abs=1e-6)
    assert result.diff_low == pytest.approx(-result.diff_high, abs=1e-6)
    assert result.rate_a == result.rate_b == 0.02


@pytest.mark.parametrize(("ca", "na", "cb", "nb"), [(1, 2, 0, 2), (30, 1000, 45, 1000), (0, 1000, 10, 1000)])
def test_credible_interval_holds_95_percent(ca: int, na: int, cb: int, nb: int) -> None:
    low, high = confidence.rate_difference_interval(ca, na, cb, nb)
    # The test's own quadrature, with scipy.stats' frozen distributions (the service uses scipy.special).
    assert difference_cdf(low, ca, na, cb, nb) == pytest.approx(0.025, abs=1e-5)
    assert difference_cdf(high, ca, na, cb, nb) == pytest.approx(0.975, abs=1e-5)


def test_minimum_detectable_effect_and_sessions_needed() -> None:
    z = Z_975 + Z_80
    # p = 5 %: 10 % more is 5.5 %; n = z² (0.05·0.95 + 0.055·0.945) / 0.005².
    expected = math.ceil(z**2 * (0.05 * 0.95 + 0.055 * 0.945) / 0.005**2)
    assert confidence.sessions_to_detect(0.05) == expected == 31_231
    assert confidence.minimum_detectable_effect(0.05, 10_000) == pytest.approx(
        z * math.sqrt(2 * 0.05 * 0.95 / 10_000) / 0.05
    )
    assert confidence.minimum_detectable_effect(0.0, 10_000) is None
    assert confidence.sessions_to_detect(0.0) is None
    result = confidence.compare_rates(500, 10_000, 500, 10_000)
    assert result.sessions_needed == expected and result.more_sessions == expected - 10_000
    assert confidence.compare_rates(5000, 100_000, 5000, 100_000).more_sessions == 0


def test_zero_conversions_in_one_version() -> None:
    result = confidence.compare_rates(0, 1000, 10, 1000)
    assert result.rate_a == 0 and result.rate_b == 0.01
    assert result.p_b_better == pytest.approx(closed_form_p_b_beats_a(0, 1000, 10, 1000), abs=1e-6)
    assert result.p_b_better > 0.99
    assert result.diff_low > 0


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="converted"):
        confidence.compare_rates(5, 4, 0, 10)


# --- net revenue per session ----------------------------------------------------------------------------------------


def test_bootstrap_is_stable_under_the_fixed_seed() -> None:
    values = np.array([4900.0, 2500.0, 12000.0, -300.0] * 25)
    first = confidence.revenue_sample("EUR", values, 2000, seed=confidence.seed_for("cv_a"))
    again = confidence.revenue_sample("EUR", values, 2000, seed=confidence.seed_for("cv_a"))
    assert np.array_equal(first.means, again.means)
    other = confidence.revenue_sample("EUR", values * 1.1, 2000, seed=confidence.seed_for("cv_b"))
    assert confidence.compare_revenue(first, other) == confidence.compare_revenue(again, other)


def test_bootstrap_matches_a_plain_resampling_of_every_session() -> None:
    # 1,000 sessions, 100 of them with an order of 50.00: the mean is 5.00 per session... in minor units 500.
    sessions, values = 1000, np.full(100, 5000.0)
    sample = confidence.revenue_sample("EUR", values, sessions, seed=1)
    assert sample.per_session == 500.0
    full = np.concatenate([values, np.zeros(sessions - len(values))])
    rng = np.random.default_rng(7)
    plain = full[rng.integers(0, sessions, size=(2000, sessions))].mean(axis=1)
    assert sample.means.mean() == pytest.approx(plain.mean(), rel=0.01)
    assert sample.means.std() == pytest.approx(plain.std(), rel=0.08)
    # And both match the normal theory: sd of the mean = 5000 · √(0.1 · 0.9) / √1000.
    assert sample.means.std() == pytest.approx(5000 * math.sqrt(0.09) / math.sqrt(sessions), rel=0.08)


def test_revenue_tie_and_interval() -> None:
    values = np.full(100, 5000.0)
    a = confidence.revenue_sample("EUR", values, 1000, seed=confidence.seed_for("cv_a"))
    b = confidence.revenue_sample("EUR", values, 1000, seed=confidence.seed_for("cv_b"))
    result = confidence.compare_revenue(a, b)
    assert result.p_b_better == pytest.approx(0.5, abs=0.05)
    half_width = Z_975 * math.sqrt(2) * 5000 * 0.3 / math.sqrt(1000)
    assert result.diff_low == pytest.approx(-half_width, rel=0.12)
    assert result.diff_high == pytest.approx(half_width, rel=0.12)


def test_revenue_lopsided_and_empty() -> None:
    rich = confidence.revenue_sample("EUR", np.full(300, 9000.0), 1000, seed=1)
    poor = confidence.revenue_sample("EUR", np.full(10, 1000.0), 1000, seed=2)
    assert confidence.compare_revenue(poor, rich).p_b_better == 1.0
    assert confidence.compare_revenue(rich, poor).p_b_better == 0.0
    nothing = confidence.revenue_sample("EUR", np.zeros(0), 500, seed=3)
    assert nothing.per_session == 0 and np.all(nothing.means == 0)
    both_nothing = confidence.compare_revenue(nothing, confidence.revenue_sample("EUR", np.zeros(0), 500, seed=4))
    assert both_nothing.p_b_better == 0.5 and both_nothing.diff_low == both_nothing.diff_high == 0
    no_sessions = confidence.revenue_sample("EUR", np.zeros(0), 0, seed=5)
    assert no_sessions.per_session is None
    result = confidence.compare_revenue(no_sessions, rich)
    assert result.resamples == 0 and result.diff_low is None and result.p_b_better == 0.5
    with pytest.raises(ValueError, match="currencies"):
        confidence.compare_revenue(rich, confidence.revenue_sample("USD", np.zeros(0), 10, seed=6))


def test_a_busy_version_gets_fewer_resamples_within_the_budget() -> None:
    values = np.ones(10_000)
    means = confidence.bootstrap_means(values, 1_000_000, seed=1)
    assert len(means) == confidence.BOOTSTRAP_DRAW_BUDGET // 10_000 == 400
    assert means.mean() == pytest.approx(0.01, rel=0.01)


def test_a_tiny_sample_is_shown_never_a_verdict() -> None:
    # 3 sessions, 2 with an order, against 2 sessions without: most resamples favour B, by chance of 5 sessions.
    a = confidence.revenue_sample("EUR", np.zeros(0), 2, seed=1)
    b = confidence.revenue_sample("EUR", np.array([5000.0, 5000.0]), 3, seed=2)
    result = confidence.compare_revenue(a, b)
    assert result.p_b_better > 0.95 and not result.enough_sessions
    big = confidence.revenue_sample("EUR", np.zeros(0), confidence.MIN_BOOTSTRAP_SESSIONS, seed=3)
    assert confidence.compare_revenue(big, big).enough_sessions
