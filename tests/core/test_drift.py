"""Drift statistics on the shared Telco churn data, checked against scipy, and model health."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from aihub.errors import ValidationError
from aihub.ml.drift import (
    DriftReport,
    DriftThresholds,
    HealthThresholds,
    assess_health,
    bin_counts,
    detect_drift,
    psi_from_counts,
    quantile_edges,
)
from tests.conftest import shared_file

NUMERIC = ["tenure", "MonthlyCharges", "TotalCharges", "SeniorCitizen"]


@pytest.fixture(scope="module")
def telco():
    df = pd.read_csv(shared_file("telco_churn", "telco_customer_churn.csv"))
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"], errors="coerce")  # 11 blanks become missing
    return df.drop(columns=["Churn"])


@pytest.fixture(scope="module")
def halves(telco):
    idx = np.random.default_rng(42).permutation(len(telco))
    half = len(idx) // 2
    return telco.iloc[idx[:half]].reset_index(drop=True), telco.iloc[idx[half:]].reset_index(drop=True)


def test_no_drift_between_two_random_halves(halves):
    ref, cur = halves
    report = detect_drift(ref, cur)
    assert report.skipped == {"customerID": report.skipped["customerID"]}  # identifier, not a feature
    assert report.n_features == 19 and report.n_drifted == 0 and not report.dataset_drift
    assert all(f.severity == "none" for f in report.features)
    assert max(f.result("psi").statistic for f in report.features) < 0.02
    # Same distribution: p-values are spread out, and at alpha 0.05 at most a few features flag by chance.
    flagged = [f.feature for f in report.features if next(t for t in f.tests if t.test != "psi").drifted]
    assert len(flagged) <= 3
    assert "No dataset-level input drift: 0 of 19" in report.summary


def test_clear_drift_when_tenure_shifts(halves):
    ref, cur = halves
    shifted = cur.copy()
    shifted["tenure"] = shifted["tenure"] + 24
    report = detect_drift(ref, shifted, features=["tenure", "MonthlyCharges"])
    tenure = report.feature("tenure")
    assert tenure.drifted and tenure.severity == "significant" and tenure.result("psi").statistic > 1.0
    ks = tenure.result("ks")
    assert ks.drifted and ks.p_value < 1e-100
    assert not report.feature("MonthlyCharges").drifted
    assert report.share_drifted == 0.5 and report.dataset_drift  # share >= 0.5
    # A third of the shifted values land beyond the reference's top cut point (vs. under a tenth before).
    assert tenure.current_shares[-1] > 0.3 and tenure.reference_shares[-1] < 0.1


def test_clear_drift_when_only_month_to_month_contracts_arrive(halves):
    ref, cur = halves
    m2m = cur[cur["Contract"] == "Month-to-month"]
    report = detect_drift(ref, m2m)
    assert {"Contract", "tenure"} <= set(report.drifted_features)
    contract = report.feature("Contract")
    assert contract.kind == "categorical" and contract.severity == "significant"
    assert contract.result("chi2").p_value < 1e-100
    assert report.drifted_features[0] == "Contract"  # largest PSI first
    # With the hypothesis tests deciding, most features flag (big samples make small shifts significant).
    strict = detect_drift(ref, m2m, thresholds={"decision": "test"})
    assert strict.dataset_drift and strict.n_drifted > report.n_drifted


def test_statistics_match_scipy_and_the_psi_formula(halves):
    ref, cur = halves
    cur = cur.copy()
    cur["tenure"] = cur["tenure"] + 24
    report = detect_drift(ref, cur, features=["tenure", "TotalCharges", "PaymentMethod"])

    for name in ("tenure", "TotalCharges"):
        r = ref[name].dropna().to_numpy(float)
        c = cur[name].dropna().to_numpy(float)
        expected = stats.ks_2samp(r, c)
        got = report.feature(name).result("ks")
        assert got.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        # PSI by hand: decile cut points of the reference (observed values), right-closed bins, empty
        # shares -> 1e-4.
        cuts = np.unique(np.quantile(r, np.arange(1, 10) / 10, method="inverted_cdf"))
        rs = np.array([(r <= cuts[0]).mean(), *[((r > a) & (r <= b)).mean() for a, b in itertools.pairwise(cuts)],
                       (r > cuts[-1]).mean()])
        cs = np.array([(c <= cuts[0]).mean(), *[((c > a) & (c <= b)).mean() for a, b in itertools.pairwise(cuts)],
                       (c > cuts[-1]).mean()])
        rs, cs = np.where(rs == 0, 1e-4, rs), np.where(cs == 0, 1e-4, cs)
        assert report.feature(name).result("psi").statistic == pytest.approx(np.sum((cs - rs) * np.log(cs / rs)))
    assert report.feature("TotalCharges").reference_missing > 0  # the blanks, left out of the tests

    cats = sorted(set(ref["PaymentMethod"]) | set(cur["PaymentMethod"]))
    table = np.array([[(ref["PaymentMethod"] == k).sum() for k in cats], [(cur["PaymentMethod"] == k).sum()
                                                                         for k in cats]])
    chi = stats.chi2_contingency(table)
    got = report.feature("PaymentMethod").result("chi2")
    assert got.statistic == pytest.approx(chi.statistic) and got.p_value == pytest.approx(chi.pvalue)
    rs, cs = table[0] / table[0].sum(), table[1] / table[1].sum()
    assert report.feature("PaymentMethod").result("psi").statistic == pytest.approx(np.sum((cs - rs) * np.log(cs / rs)))


def test_psi_helpers_and_epsilon():
    assert psi_from_counts([50, 50], [50, 50]) == 0.0
    # An empty current bin counts as a share of epsilon: (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(1 / 0.5)
    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    assert psi_from_counts([5, 5], [0, 10]) == pytest.approx(expected)
    assert psi_from_counts([5, 5], [0, 10], epsilon=1e-3) < psi_from_counts([5, 5], [0, 10])
    edges = quantile_edges(np.array([0, 0, 0, 1, 1, 1], float), 10)
    assert edges.tolist() == [0.0, 1.0]  # a binary feature: one bin per value (+ an open top bin)
    assert bin_counts(np.array([-5, 0, 0.5, 1, 7.0]), edges).tolist() == [2, 2, 1]


def test_categories_new_rare_missing_and_kinds():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({
        "plan": rng.choice(["basic", "pro", "team"], 500),
        "flag": rng.random(500) < 0.3,
        "code": rng.integers(1, 4, 500),
        "when": pd.date_range("2024-01-01", periods=500, freq="h"),
        "many": [f"c{i % 80}" for i in range(500)],
        "score": rng.normal(size=500),
    })
    cur = ref.sample(200, random_state=1).reset_index(drop=True)
    cur.loc[:49, "plan"] = "enterprise"  # a category the reference never saw
    cur["score"] = np.nan  # every current value missing
    cur["code"] = cur["code"].astype(str)  # numbers arriving as text are parsed
    report = detect_drift(ref, cur, categorical=["code"], thresholds=DriftThresholds(max_categories=20))
    plan = report.feature("plan")
    assert plan.drifted and "enterprise" in plan.bins and "not seen in the reference" in plan.note
    assert report.feature("flag").kind == "categorical"
    assert report.feature("code").kind == "categorical" and not report.feature("code").drifted
    assert "when" in report.skipped and "dates" in report.skipped["when"]
    many = report.feature("many")
    assert "(other)" in many.bins and len(many.bins) == 20 and "pooled" in many.note
    score = report.feature("score")
    assert score.drifted and score.current_count == 0 and "missing" in score.note
    numeric_code = detect_drift(ref, cur, features=["code"])
    assert numeric_code.feature("code").kind == "numeric" and numeric_code.feature("code").current_count == 200


def test_report_frame_and_json(halves):
    ref, cur = halves
    report = detect_drift(ref.iloc[:200], cur.iloc[:20], features=["tenure", "Contract"])
    frame = report.to_frame()
    assert list(frame["feature"]) == ["tenure", "Contract"]
    assert {"test", "statistic", "p_value", "threshold", "drifted", "stat_test", "stat_p_value"} <= set(frame.columns)
    assert frame.loc[0, "test"] == "psi" and frame.loc[0, "stat_test"] == "ks" and frame.loc[1, "stat_test"] == "chi2"
    assert "few values" in report.feature("tenure").note
    data = json.loads(json.dumps(report.to_dict()))
    assert data["features"][0]["tests"][1]["test"] == "ks" and data["thresholds"]["psi"] == 0.25
    by_test = detect_drift(ref, cur, features=["tenure"], thresholds={"decision": "test", "p_value": 0.01})
    f = by_test.feature("tenure")
    assert f.test == "ks" and f.threshold == 0.01 and f.rule.startswith("p-value < 0.01")


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"psi": 0}, "psi", "> 0"),
        ({"psi_moderate": 0.3}, "psi_moderate", "<= psi"),
        ({"p_value": 1.0}, "p_value", "< 1"),
        ({"bins": 1}, "bins", "from 2 to 100"),
        ({"bins": 2.5}, "bins", "whole number"),
        ({"epsilon": 0.5}, "epsilon", "< 0.01"),
        ({"decision": "vote"}, "decision", "psi, test, both, either"),
        ({"dataset_share": 0}, "dataset_share", "> 0"),
        ({"colour": 1}, "colour", "known settings"),
    ],
)
def test_threshold_validation(settings, field, words):
    with pytest.raises(ValidationError) as e:
        DriftThresholds.from_dict(settings)
    assert e.value.field == field and words in str(e.value) and repr(settings[field]) in str(e.value)


def test_input_validation(halves):
    ref, cur = halves
    with pytest.raises(ValidationError) as e:
        detect_drift(ref, cur.iloc[:0])
    assert e.value.field == "current"
    with pytest.raises(ValidationError) as e:
        detect_drift(ref, cur.drop(columns=["tenure"]), features=["tenure"])
    assert "'tenure'" in str(e.value) and "current" in str(e.value)
    with pytest.raises(ValidationError):
        detect_drift(ref, cur, categorical=["tenure"], numeric=["tenure"])
    with pytest.raises(ValidationError):
        detect_drift(ref, pd.DataFrame({"x": [1]}))


def test_model_health(halves):
    ref, cur = halves
    calm = detect_drift(ref, cur)
    shifted = cur.copy()
    shifted["tenure"] += 24
    drifted = detect_drift(ref, shifted, features=["tenure", "Contract"])

    ok = assess_health(latency_p95_ms=120, error_rate=0.001, live_accuracy=0.79, test_accuracy=0.80,
                      drift_report=calm)
    assert ok.status == "healthy" and len(ok.reasons) == 4 and all(c.ok for c in ok.checks)

    bad = assess_health(latency_p95_ms=2500, error_rate=0.2, live_accuracy=0.62, test_accuracy=0.80,
                       drift_report=drifted)
    assert bad.status == "degraded" and len(bad.reasons) == 4
    text = " ".join(bad.reasons)
    assert "2,500 ms" in text and "20.0%" in text and "0.180 below" in text and "tenure" in text

    unknown = assess_health()
    assert unknown.status == "healthy" and all(c.ok is None for c in unknown.checks)
    assert any("not known" in r for r in unknown.reasons)
    assert assess_health(latency_p95_ms=600, thresholds=HealthThresholds(latency_p95_ms=500)).status == "degraded"
    assert assess_health(live_accuracy=0.7, test_accuracy=0.8, thresholds={"accuracy_drop": 0.15}).status == "healthy"
    with pytest.raises(ValidationError) as e:
        assess_health(error_rate=1.5)
    assert e.value.field == "error_rate"
    with pytest.raises(ValidationError):
        assess_health(drift_report="drifted")
    with pytest.raises(ValidationError):
        assess_health(thresholds={"latency_p95_ms": -1})
    assert isinstance(drifted, DriftReport)
