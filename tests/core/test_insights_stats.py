"""Statistics and formatting behind the insights, checked against scipy, hand computations and pymannkendall."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from aihub.errors import ValidationError
from aihub.insights import (
    concentration,
    format_money,
    format_percent,
    mann_kendall,
    render,
    robust_z,
    seasonal_mann_kendall,
    sens_slope,
    untraced_numbers,
)
from aihub.insights.formatting import format_p, format_probability, format_value


# ---------------------------------------------------------------- Mann-Kendall
def test_mann_kendall_hand_computed_example():
    # x = 1 3 2 5 4: 8 concordant, 2 discordant pairs -> S = 6;
    # Var S = n(n-1)(2n+5)/18 = 5*4*15/18; Z = (S-1)/sqrt(Var) with continuity.
    r = mann_kendall([1, 3, 2, 5, 4])
    assert r.s == 6
    assert r.var_s == pytest.approx(5 * 4 * 15 / 18)
    assert r.z == pytest.approx(5 / math.sqrt(5 * 4 * 15 / 18))
    assert r.p == pytest.approx(2 * sps.norm.sf(5 / math.sqrt(50 / 3)))
    assert r.tau == pytest.approx(0.6)
    assert r.trend == "no trend"  # p = 0.22


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mann_kendall_matches_scipy_kendalltau_without_ties(seed):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0.3, 1.0, 40))
    r = mann_kendall(x, continuity=False)
    ref = sps.kendalltau(np.arange(len(x)), x, method="asymptotic")
    n = len(x)
    assert r.s == pytest.approx(ref.statistic * n * (n - 1) / 2)
    assert r.tau == pytest.approx(ref.statistic)
    assert r.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_mann_kendall_tie_correction_matches_scipy():
    # Heavy ties in x: scipy's tau-b variance with ties in one variable is the MK tie-corrected variance.
    x = np.array([3, 3, 4, 4, 4, 5, 3, 6, 6, 7, 7, 7, 7, 8, 5, 9, 9, 9, 10, 10], dtype=float)
    r = mann_kendall(x, continuity=False)
    ref = sps.kendalltau(np.arange(len(x)), x, method="asymptotic")
    assert r.p == pytest.approx(ref.pvalue, rel=1e-9)
    _, counts = np.unique(x, return_counts=True)
    n = len(x)
    expected_var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18
    assert r.var_s == pytest.approx(expected_var)
    assert r.trend == "increasing"


def test_mann_kendall_matches_pymannkendall():
    pmk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(7)
    x = np.round(np.linspace(0, 5, 60) + rng.normal(0, 2, 60), 0)  # rounded: ties
    ours, ref = mann_kendall(x), pmk.original_test(x)
    assert ours.s == pytest.approx(ref.s)
    assert ours.var_s == pytest.approx(ref.var_s)
    assert ours.z == pytest.approx(ref.z)
    assert ours.p == pytest.approx(ref.p)
    assert sens_slope(x).slope == pytest.approx(ref.slope)
    sea_ours, sea_ref = seasonal_mann_kendall(x, 12), pmk.seasonal_test(x, period=12)
    assert sea_ours.s == pytest.approx(sea_ref.s)
    assert sea_ours.p == pytest.approx(sea_ref.p)
    # pymannkendall's seasonal slope is per year (per season cycle); ours is per period.
    assert sens_slope(x, period=12).slope * 12 == pytest.approx(sea_ref.slope)


def test_mann_kendall_edge_cases():
    assert mann_kendall([1.0, 2.0]).p == 1.0
    assert mann_kendall([5.0] * 10).trend == "no trend"
    assert mann_kendall([1, np.nan, 2, 3, 4, 5, 6, 7]).n == 7
    assert mann_kendall(np.arange(20.0)).trend == "increasing"
    assert mann_kendall(-np.arange(20.0)).trend == "decreasing"


def test_mann_kendall_false_positive_rate_on_noise():
    rng = np.random.default_rng(11)
    fired = sum(mann_kendall(rng.normal(100, 10, 24)).trend != "no trend" for _ in range(400))
    assert fired / 400 < 0.09  # nominal 5%


# ---------------------------------------------------------------- Sen's slope
def test_sens_slope_exact_line_and_scipy():
    x = 3.0 + 2.5 * np.arange(15)
    s = sens_slope(x)
    assert s.slope == pytest.approx(2.5)
    assert s.intercept == pytest.approx(3.0)
    rng = np.random.default_rng(3)
    y = 1.5 * np.arange(30) + rng.normal(0, 5, 30)
    ref = sps.theilslopes(y, np.arange(30), alpha=0.95)
    ours = sens_slope(y, level=0.95)
    assert ours.slope == pytest.approx(ref.slope)
    assert ours.lower <= ours.slope <= ours.upper
    # Same Sen (1968) interval as scipy up to the order-statistic rounding.
    assert ours.lower == pytest.approx(ref.low_slope, rel=0.15)
    assert ours.upper == pytest.approx(ref.high_slope, rel=0.15)


# ---------------------------------------------------------------- robust z, concentration
def test_robust_z():
    hist = [1.0, 2.0, 3.0, 4.0, 5.0]
    z, med, scale = robust_z(10.0, hist)
    assert med == 3.0
    assert scale == pytest.approx(1.4826 * 1.0)
    assert z == pytest.approx(7.0 / 1.4826)
    assert robust_z(3.0, [3.0, 3.0, 3.0])[0] == 0.0
    assert robust_z(4.0, [3.0, 3.0, 3.0])[0] == math.inf


def test_concentration_hand_computed():
    c = concentration([50.0, 30.0, 20.0, 0.0, -5.0], top_n=2, pareto_level=0.8)
    assert c.n == 3 and c.total == 100.0
    assert c.top_share == pytest.approx(0.8)
    assert c.top1_share == pytest.approx(0.5)
    assert c.hhi == pytest.approx(0.25 + 0.09 + 0.04)
    assert c.effective_n == pytest.approx(1 / 0.38)
    assert c.pareto_share == pytest.approx(2 / 3)  # 50 + 30 reach 80%
    with pytest.raises(ValidationError):
        concentration([0.0, -1.0])


# ---------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    "amount, text",
    [
        (0, "$0"),
        (0.004, "$0"),
        (8.5, "$8.50"),
        (512.4, "$512"),
        (999.6, "$1k"),
        (48_000, "$48k"),
        (48_240, "$48.2k"),
        (99_960, "$100k"),
        (482_100, "$482k"),
        (999_600, "$1M"),
        (1_234_567, "$1.23M"),
        (-3_100, "-$3.1k"),
    ],
)
def test_format_money(amount, text):
    assert format_money(amount) == text


def test_format_money_currency_and_sign():
    assert format_money(48_200, "EUR") == "€48.2k"
    assert format_money(48_200, "CHF") == "CHF 48.2k"
    assert format_money(48_200, signed=True) == "+$48.2k"
    assert format_money(float("nan")) == "n/a"


@pytest.mark.parametrize(
    "fraction, text", [(0.64, "64%"), (0.043, "4.3%"), (0.04, "4%"), (0.0996, "10%"), (1.3, "130%"), (-0.125, "-12%")]
)
def test_format_percent(fraction, text):
    assert format_percent(fraction) == text


def test_format_other_kinds():
    assert format_percent(0.12, signed=True) == "+12%"
    assert format_p(0.0123) == "= 0.012"
    assert format_p(0.0001) == "< 0.001"
    assert format_probability(0.99997) == "over 99%"
    assert format_probability(0.874) == "87%"
    assert format_value(1234, "count") == "1,234"
    assert format_value(1, "n:customer holds/customers hold") == "1 customer holds"
    assert format_value(1400, "n:customer holds/customers hold") == "1,400 customers hold"
    with pytest.raises(ValidationError) as err:
        format_value(1, "dollars")
    assert "dollars" in str(err.value) and "money" in str(err.value)


def test_render_records_every_figure_and_traces_numbers():
    text, shown = render(
        "{slice} drove {share:pct} of growth ({delta:smoney}) in {period}",
        {"slice": "West", "share": 0.642, "delta": 48_240.0, "period": "Q4 2022"},
    )
    assert text == "West drove 64% of growth (+$48.2k) in Q4 2022"
    assert shown == {"slice": "West", "share": "64%", "delta": "+$48.2k", "period": "Q4 2022"}
    assert untraced_numbers(text, shown) == []
    assert untraced_numbers(text + " up 7%", shown) == ["7"]
    with pytest.raises(ValidationError):
        render("{missing:pct}", {})
