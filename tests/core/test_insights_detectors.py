"""Each detector on small constructed inputs whose answers are computed here by hand, and on noise."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from aihub.errors import ValidationError
from aihub.insights import (
    AnomaliesInput,
    ForecastInput,
    InsightInputs,
    OrdersInput,
    PredictionsInput,
    SegmentsInput,
    generate_insights,
    top_reasons,
)

NOW = datetime(2023, 1, 10)


def _noise_orders(seed: int, days: int = 1096, rate: float = 6.0) -> pd.DataFrame:
    """Three years of orders arriving at random at a constant rate: no trend, no change, no concentration."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-01", periods=days, freq="D")
    d = np.repeat(dates.to_numpy(), rng.poisson(rate, days))
    m = len(d)
    return pd.DataFrame(
        {
            "date": d,
            "amount": rng.lognormal(4, 0.8, m),
            "customer": rng.integers(0, 300, m).astype(str),
            "product": rng.integers(0, 200, m).astype(str),
            "region": rng.choice(list("NSEW"), m),
            "cat": rng.choice(["a", "b", "c"], m),
        }
    )


def _orders(df: pd.DataFrame) -> OrdersInput:
    return OrdersInput(
        df, date="date", amount="amount", customer="customer", product="product", dimensions=["region", "cat"]
    )


# ---------------------------------------------------------------- false positives
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_no_insight_on_noise(seed):
    assert generate_insights(InsightInputs(orders=_orders(_noise_orders(seed))), now=NOW) == []


def test_false_positive_rate_on_noise_is_near_alpha():
    fired = Counter()
    for seed in range(20, 40):
        fired.update({i.type for i in generate_insights(InsightInputs(orders=_orders(_noise_orders(seed))), now=NOW)})
    # Each test runs at 5% (trend, drivers) or |z| >= 3.5 (change): a handful at most in 20 noise data sets.
    assert all(n <= 3 for n in fired.values()), fired
    assert fired["concentration"] == 0


def test_no_insight_on_flat_series():
    dates = pd.date_range("2020-01-01", "2022-12-31", freq="D")
    n = len(dates) * 4
    df = pd.DataFrame(
        {
            "date": np.repeat(dates, 4),
            "amount": 100.0,
            "customer": (np.arange(n) % 200).astype(str),
            "product": (np.arange(n) % 150).astype(str),
            "region": np.tile(list("NSEW"), len(dates)),
            "cat": "a",
        }
    )
    assert generate_insights(InsightInputs(orders=_orders(df)), now=NOW) == []


# ---------------------------------------------------------------- trend and unusual change
def test_trend_down_on_declining_series():
    dates = pd.date_range("2021-01-01", "2022-12-31", freq="D")
    rng = np.random.default_rng(0)
    level = np.linspace(3000, 1500, len(dates))
    df = pd.DataFrame({"date": dates, "amount": level * rng.lognormal(0, 0.1, len(dates))})
    out = generate_insights(InsightInputs(orders=OrdersInput(df, "date", "amount")), now=NOW, types=["trend"])
    assert len(out) == 1
    ins = out[0]
    monthly = df.groupby(df["date"].dt.to_period("M"))["amount"].sum().to_numpy()
    assert ins.figures["slope"] == pytest.approx(sps.theilslopes(monthly).slope)
    assert ins.title.startswith("Sales trending down: -$")
    assert ins.direction == "risk" and ins.untraced_numbers() == []


def test_unusual_change_flags_a_collapse_and_states_its_figures():
    months = pd.period_range("2020-01", "2022-12", freq="M")
    rng = np.random.default_rng(4)
    totals = 50_000 * rng.lognormal(0, 0.05, len(months))
    totals[-1] = totals[-2] * 0.5  # December halves
    # Monthly totals dated the 1st: pre-aggregated rows, complete once the month has ended.
    df = pd.DataFrame({"date": months.to_timestamp(), "amount": totals})
    orders = OrdersInput(df, "date", "amount", pre_aggregated=True)
    out = generate_insights(InsightInputs(orders=orders), now=NOW, types=["unusual_change"])
    assert len(out) == 1
    ins = out[0]
    changes = np.log(totals[1:] / totals[:-1])
    hist = changes[:-1]
    med = np.median(hist)
    z = (changes[-1] - med) / (1.4826 * np.median(np.abs(hist - med)))
    assert ins.figures["z"] == pytest.approx(z)
    assert ins.figures["change_rel"] == pytest.approx(-0.5)
    assert ins.title == "Unusual drop in sales: -50% in Dec 2022"
    assert "against " in ins.narrative and "Nov 2022" in ins.narrative
    assert ins.direction == "risk" and ins.untraced_numbers() == []


# ---------------------------------------------------------------- forecast
def _history(level: float = 100_000.0) -> pd.DataFrame:
    return pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=36, freq="MS"), "y": level})


def _forecast(yhat: float, half_width: float, h: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ds": pd.date_range("2023-01-01", periods=h, freq="MS"),
            "yhat": yhat,
            "yhat_lower_80": yhat - half_width,
            "yhat_upper_80": yhat + half_width,
        }
    )


def test_forecast_shortfall_against_last_year():
    fc = ForecastInput(_forecast(90_000, 10_000), _history(), model_id=7, model_name="Sales monthly")
    out = generate_insights(InsightInputs(forecasts=fc), now=NOW)
    assert len(out) == 1
    ins = out[0]
    gap = 270_000 - 300_000
    sd = 60_000 / (2 * sps.norm.ppf(0.9))
    assert ins.figures["gap"] == pytest.approx(gap)
    assert ins.confidence == pytest.approx(sps.norm.cdf(abs(gap) / sd), abs=1e-4)
    assert ins.figures["baseline_mode"] == "last_year"
    assert ins.narrative.startswith(
        "The active forecast (Sales monthly) projects sales of $270k for Jan 2023 to Mar 2023, -10% against "
        "the same 3 months a year earlier ($300k): a shortfall of $30k. Its 80% interval for the total is "
        "$240k to $300k"
    )
    assert {"kind": "model", "id": 7, "name": "Sales monthly"} in ins.evidence
    assert ins.category == "finance" and ins.direction == "risk" and ins.untraced_numbers() == []


def test_forecast_beat_against_target_and_run_rate():
    target = ForecastInput(_forecast(110_000, 5_000), _history(), target=300_000.0)
    ins = generate_insights(InsightInputs(forecasts=target), now=NOW)[0]
    assert ins.figures["baseline_mode"] == "target" and ins.title.startswith("Forecast beat: sales +10% against target")
    short = pd.DataFrame({"ds": pd.date_range("2022-07-01", periods=6, freq="MS"), "y": 100_000.0})
    run = ForecastInput(_forecast(110_000, 5_000), short)
    ins = generate_insights(InsightInputs(forecasts=run), now=NOW)[0]
    assert ins.figures["baseline_mode"] == "run_rate" and "the run rate of the last 3 months" in ins.narrative


def test_forecast_quiet_when_within_uncertainty_or_on_track():
    wide = ForecastInput(_forecast(90_000, 60_000), _history())  # -10%, but the interval is huge
    on_track = ForecastInput(_forecast(101_000, 5_000), _history())  # +1%
    assert generate_insights(InsightInputs(forecasts=[wide, on_track]), now=NOW) == []


# ---------------------------------------------------------------- churn
def _churn_frame() -> pd.DataFrame:
    """30 customers: 14 at or above 0.5 holding $48,000 in total; months since last order is the top reason of 9."""
    prob = np.r_[np.linspace(0.5, 0.95, 14), np.linspace(0.05, 0.45, 16)]
    revenue = np.r_[np.full(14, 48_000 / 14), np.full(16, 5_000.0)]
    reasons = []
    for i in range(30):
        if i < 9:
            reasons.append(
                [{"feature": "recency_days", "contribution": 0.3}, {"feature": "tenure", "contribution": -0.1}]
            )
        elif i < 14:
            reasons.append(
                [{"feature": "Contract", "contribution": 0.2}, {"feature": "recency_days", "contribution": -0.05}]
            )
        else:
            reasons.append([{"feature": "Contract", "contribution": 0.1}])
    return pd.DataFrame(
        {"customer": [f"C{i:02d}" for i in range(30)], "probability": prob, "revenue": revenue, "top_reasons": reasons}
    )


def test_churn_summary_figures_and_title():
    df = _churn_frame()
    pred = PredictionsInput(df, feature_labels={"recency_days": "months since last order"}, model_id=3)
    out = generate_insights(InsightInputs(predictions=pred), now=NOW)
    assert len(out) == 1
    ins = out[0]
    high = df[df["probability"] >= 0.5]
    assert ins.title == "14 at-risk customers hold $48k of annual revenue; top reason: months since last order"
    assert ins.figures["n_high"] == 14
    assert ins.figures["revenue_high"] == pytest.approx(48_000)
    assert ins.figures["expected_loss"] == pytest.approx((high["probability"] * high["revenue"]).sum())
    assert ins.figures["share_revenue"] == pytest.approx(48_000 / (48_000 + 16 * 5_000))
    assert ins.figures["reason1_count"] == 9 and ins.figures["reason2"] == "Contract"
    assert ins.confidence == pytest.approx(high["probability"].mean(), abs=1e-4)
    assert "months since last order (for 9 of them) and Contract (5)" in ins.narrative
    assert "Of 30 scored customers, 14 have a churn probability of 50% or more (47%)" in ins.narrative
    assert ins.category == "customer" and ins.untraced_numbers() == []
    assert {"kind": "model", "id": 3, "name": ""} in ins.evidence


def test_churn_reasons_from_shap_contributions_and_json_text():
    contrib = pd.DataFrame({"tenure": [-0.2, 0.3], "Contract": [0.4, 0.1], "charges": [0.1, -0.3]})
    reasons = top_reasons(contrib, k=2)
    assert reasons.iloc[0] == [
        {"feature": "Contract", "contribution": 0.4},
        {"feature": "charges", "contribution": 0.1},
    ]
    assert reasons.iloc[1] == [{"feature": "tenure", "contribution": 0.3}, {"feature": "Contract", "contribution": 0.1}]
    df = pd.DataFrame(
        {
            "probability": [0.9, 0.8],
            "reasons": ['[{"feature": "Contract", "contribution": 0.4}]', "Contract; tenure"],
        }
    )
    ins = generate_insights(InsightInputs(predictions=PredictionsInput(df, revenue=None, reasons="reasons")), now=NOW)[
        0
    ]
    assert ins.title == "2 customers at high risk of churn; top reason: Contract"
    assert ins.figures["reason1_count"] == 2 and "revenue_high" not in ins.figures


def test_churn_rejects_probabilities_outside_0_1():
    with pytest.raises(ValidationError) as err:
        PredictionsInput(pd.DataFrame({"probability": [0.2, 1.7]}))
    assert err.value.field == "probability" and "row 2" in str(err.value)


# ---------------------------------------------------------------- segments
def test_segment_movement_more_at_risk_customers():
    rng = np.random.default_rng(1)
    n = 500
    before = pd.DataFrame(
        {
            "customer": [f"C{i}" for i in range(n)],
            "segment": rng.choice(["loyal", "at-risk", "new", "dormant"], n, p=[0.4, 0.2, 0.2, 0.2]),
            "monetary": rng.gamma(2, 500, n),
        }
    )
    after = before.copy()
    moved = before.index[before["segment"] == "loyal"][:60]
    after.loc[moved, "segment"] = "at-risk"
    seg = SegmentsInput(before, after, "2022-11-30", "2022-12-31", model_id=5)
    out = generate_insights(InsightInputs(segments=seg), now=NOW)
    by_seg = {i.figures["segment"]: i for i in out}
    assert set(by_seg) == {"at-risk", "loyal"}
    risk = by_seg["at-risk"]
    nb = (before["segment"] == "at-risk").sum()
    assert risk.figures["before"] == nb and risk.figures["after"] == nb + 60
    assert risk.figures["source"] == "loyal" and risk.figures["source_count"] == 60
    table = pd.crosstab(np.r_[np.zeros(n), np.ones(n)], np.r_[before["segment"], after["segment"]])
    assert risk.figures["p"] == pytest.approx(sps.chi2_contingency(table.to_numpy(), correction=False)[1])
    assert risk.direction == "risk" and by_seg["loyal"].direction == "risk"
    assert risk.title == f"At-risk segment grew {round(60 / nb * 100)}%: {nb} to {nb + 60} customers"
    assert risk.figures["monetary_after"] == pytest.approx(after.loc[after["segment"] == "at-risk", "monetary"].sum())
    assert any("win-back" in a for a in risk.recommended_actions)
    assert all(i.untraced_numbers() == [] for i in out)


def test_segment_movement_quiet_without_a_real_shift_and_from_counts():
    counts = {"loyal": 200, "at-risk": 100, "new": 100}
    same = SegmentsInput(counts, {"loyal": 198, "at-risk": 103, "new": 99}, "2022-11-30", "2022-12-31")
    assert generate_insights(InsightInputs(segments=same), now=NOW) == []
    shift = SegmentsInput(counts, {"loyal": 150, "at-risk": 150, "new": 100}, "2022-11-30", "2022-12-31")
    out = generate_insights(InsightInputs(segments=shift), now=NOW)
    assert {i.figures["segment"] for i in out} == {"loyal", "at-risk"}
    assert "source" not in out[0].figures  # counts only: no migration figures


# ---------------------------------------------------------------- anomalies
def test_anomaly_digest_counts_open_critical_and_high_only():
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "severity": ["critical", "high", "high", "low", "critical", "high"],
            "status": ["new", "acknowledged", "resolved", "new", "investigating", "false_positive"],
            "impact": [-12_000.0, 3_000.0, -500.0, -10.0, np.nan, -99_999.0],
            "metric": ["Sales", "Sales", "Orders", "Sales", "Profit", "Sales"],
            "ts": pd.to_datetime(["2022-12-01", "2022-12-10", "2022-12-11", "2022-12-12", "2022-11-20", "2022-12-02"]),
            "score": [0.97, 0.9, 0.88, 0.6, 0.96, 0.9],
        }
    )
    out = generate_insights(InsightInputs(anomalies=AnomaliesInput(frame)), now=NOW)
    assert len(out) == 1
    ins = out[0]
    f = ins.figures
    assert (f["n_open"], f["n_critical"], f["n_high"]) == (3, 2, 1)
    assert (f["net"], f["loss"], f["gain"], f["n_no_impact"]) == (-9_000.0, 12_000.0, 3_000.0, 1)
    assert ins.title == "Open critical or high anomalies: 3, -$9k net impact"
    assert "(2 critical, 1 high)" in ins.narrative and "$12k in losses and $3k in gains" in ins.narrative
    assert "The largest is Sales on 1 Dec 2022 (-$12k)" in ins.narrative
    assert [e["id"] for e in ins.evidence if e["kind"] == "anomaly"] == [1, 5, 2]
    assert ins.confidence == pytest.approx(np.mean(1 - 10 ** (-10 * np.array([0.97, 0.9, 0.96]))), abs=1e-4)
    assert ins.category == "operations" and ins.untraced_numbers() == []


def test_anomaly_digest_quiet_when_nothing_open_and_validates_severity():
    closed = pd.DataFrame({"id": [1], "severity": ["critical"], "status": ["resolved"], "impact": [-5.0]})
    assert generate_insights(InsightInputs(anomalies=AnomaliesInput(closed)), now=NOW) == []
    with pytest.raises(ValidationError) as err:
        AnomaliesInput(pd.DataFrame({"id": [1], "severity": ["urgent"], "status": ["new"], "impact": [1.0]}))
    assert err.value.field == "severity" and "urgent" in str(err.value) and "critical" in str(err.value)


def test_poisson_bootstrap_and_its_normal_approximation_agree(monkeypatch):
    import aihub.insights.detectors as det

    rng = np.random.default_rng(0)
    codes, amounts = rng.integers(0, 4, 5000), rng.lognormal(4, 0.8, 5000)
    exact = det._boot_sums(np.random.default_rng(1), codes, amounts, 4, 2000)
    monkeypatch.setattr(det, "POISSON_BOOTSTRAP_MAX_ROWS", 10)
    approx = det._boot_sums(np.random.default_rng(1), codes, amounts, 4, 2000)
    sums = np.bincount(codes, weights=amounts, minlength=4)
    sd = np.sqrt(np.bincount(codes, weights=amounts**2, minlength=4))  # compound-Poisson sd of a slice sum
    for b in (exact, approx):
        assert b.mean(axis=0) == pytest.approx(sums, rel=0.01)
        assert b.std(axis=0) == pytest.approx(sd, rel=0.08)
