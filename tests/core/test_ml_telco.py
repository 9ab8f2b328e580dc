"""Churn model on real Telco data: quality, predictions, row errors, SHAP and comparisons."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from aihub.errors import ValidationError
from aihub.ml import compare_predictions, explain, predict, predict_one, suggest_config, summarize, train_model
from aihub.ml.preprocess import frame_sha256
from tests.conftest import DATA


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv")


@pytest.fixture(scope="module")
def rf(telco):
    cfg = suggest_config("churn", telco, algorithm="random_forest", hyperparameters={"n_estimators": 60, "class_weight": "balanced"})
    return train_model(cfg, telco)


@pytest.fixture(scope="module")
def lr(telco):
    return train_model({"model_type": "lead_scoring", "target": "Churn", "algorithm": "logistic_regression", "validation_split": 0.0}, telco)


def test_churn_forest_beats_auc_08_on_test_split(rf, telco):
    m = rf.metrics
    assert m["roc_auc"] > 0.8
    assert rf.n_rows["test"] == pytest.approx(0.2 * len(telco), abs=2)
    assert set(m) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix", "roc_curve", "pr_curve"}
    cm = np.asarray(m["confusion_matrix"]["matrix"])
    assert cm.sum() == rf.n_rows["test"] and m["confusion_matrix"]["labels"] == ["No", "Yes"]
    assert 2 <= len(m["roc_curve"]["fpr"]) <= 101 and m["roc_curve"]["fpr"][0] == 0.0 and m["roc_curve"]["tpr"][-1] == 1.0
    assert len(m["pr_curve"]["recall"]) <= 101
    assert rf.positive_class == "Yes" and m["positive_class"] == "Yes"
    assert rf.excluded_columns == {"customerID": "excluded by configuration"}
    assert rf.validation_metrics["roc_auc"] > 0.75
    assert rf.data_hash == frame_sha256(telco)
    assert rf.versions["scikit-learn"] and rf.training_seconds > 0
    assert rf.global_importance[0]["feature"] in {"tenure", "Contract", "TotalCharges"}
    # balanced class weights inflate the forest's probabilities; Platt scaling on held-out rows undoes it
    assert rf.calibration["method"] == "platt" and rf.threshold["metric"] == "f1"
    assert 0 < m["brier"] < 0.16 and m["threshold"] == rf.threshold["value"]


def test_feature_schema_describes_form_inputs(rf):
    schema = {f.name: f for f in rf.feature_schema}
    assert "customerID" not in schema and "Churn" not in schema
    tc = schema["TotalCharges"]
    assert tc.kind == "numeric" and tc.numeric_text and tc.min > 0 and tc.missing_share > 0
    assert schema["tenure"].integer and schema["tenure"].max == 72
    contract = schema["Contract"]
    assert contract.kind == "categorical" and set(contract.categories) == {"Month-to-month", "One year", "Two year"}
    assert contract.example == "Month-to-month"


def test_predict_keeps_order_and_reports_bad_rows_by_number(rf, telco):
    x = telco.sample(8, random_state=3).astype({"tenure": object, "MonthlyCharges": object})
    x.iloc[2, x.columns.get_loc("tenure")] = "abc"
    x.iloc[5, x.columns.get_loc("MonthlyCharges")] = "12,5x"
    x.iloc[6, x.columns.get_loc("Contract")] = "Biennial"
    x.iloc[7, x.columns.get_loc("TotalCharges")] = " "
    out = predict(rf, x)
    assert list(out.index) == list(x.index) and out["row"].tolist() == list(range(1, 9))
    assert out["error"].notna().tolist() == [False, False, True, False, False, True, False, False]
    assert "row 3" in out["error"].iloc[2] and "tenure" in out["error"].iloc[2] and "'abc'" in out["error"].iloc[2]
    assert "row 6" in out["error"].iloc[5]
    assert np.isnan(out["probability"].iloc[2]) and out["prediction"].iloc[2] is None
    assert "Biennial" in out["warning"].iloc[6] and not np.isnan(out["probability"].iloc[6])
    ok = out["error"].isna().to_numpy()
    direct = rf.predict_proba(x[ok][rf.features])[:, 1]  # calibrated: balanced class weights inflate the raw forest's
    np.testing.assert_allclose(out["probability"].to_numpy()[ok], direct)
    assert ((out["prediction"][ok] == "Yes") == (out["probability"][ok] >= rf.threshold["value"])).all()
    assert (out["positive_class"][ok] == "Yes").all() and out.attrs["score_name"] == "P(Churn)"
    np.testing.assert_allclose(out["confidence"][ok], np.maximum(direct, 1 - direct))
    # the same rows in reverse order give the same per-row results in reverse
    rev = predict(rf, x.iloc[::-1])
    np.testing.assert_allclose(rev["probability"].to_numpy()[::-1], out["probability"].to_numpy(), equal_nan=True)
    with pytest.raises(ValidationError) as err:
        predict(rf, x.drop(columns=["Contract", "tenure"]))
    assert err.value.field == "tenure" and set(err.value.details["missing"]) == {"Contract", "tenure"}


def test_positive_class_override_and_lead_score_bands(lr, telco):
    x = telco.head(50)
    out = predict(lr, x)
    assert out["lead_score"].between(0, 100).all()
    bands = np.where(out["lead_score"] >= 70, "hot", np.where(out["lead_score"] >= 40, "warm", "cold"))
    assert (out["band"] == bands).all()
    assert (out["lead_score"] == np.round(100 * out["probability"])).all()
    other = predict(lr, x, positive_class="No")
    np.testing.assert_allclose(other["probability"], 1 - out["probability"])
    with pytest.raises(ValidationError) as err:
        predict(lr, x, positive_class="Maybe")
    assert err.value.field == "positive_class"


def test_forest_shap_is_additive_exact_and_summary_numbers_match(rf, telco):
    import shap

    rows = telco.iloc[:40]
    ex = explain(rf, rows)
    assert ex.method == "tree_path_dependent" and ex.output_space == "probability"
    proba = rf.predict_proba(rows[rf.features])[:, 1]
    np.testing.assert_allclose(ex.base_value + ex.contributions.sum(axis=1), proba, atol=1e-9)
    # shap.TreeExplainer's numbers after summing one-hot columns per feature, carried over to the calibrated
    # probability by one factor per row (rescale rule): same signs, same ranking
    sv = shap.TreeExplainer(rf.estimator)(rf.transform(rows[rf.features]), check_additivity=False).values[:, :, 1]
    grouped = pd.DataFrame(sv, columns=rf.transformed_origins).T.groupby(level=0).sum().T[rf.features].to_numpy()
    ratio = ex.contributions.to_numpy() / np.where(np.abs(grouped) > 1e-9, grouped, np.nan)
    assert np.all(np.nanmax(ratio, axis=1) - np.nanmin(ratio, axis=1) < 1e-6) and np.all(np.nanmin(ratio, axis=1) > 0)
    assert list(ex.contributions.columns) == rf.features  # one column per original feature, no one-hot columns
    text = summarize(ex, 0)
    assert text.startswith(f"P(Churn) {proba[0]:.2f}")
    numbers = [float(n) for n in re.findall(r"\(([+-]\d+\.\d\d)\)", text)]
    assert numbers, text
    row = ex.for_row(0).set_index("feature")["contribution"]
    for feat, num in re.findall(r"(\w+) = [^()]+ \(([+-]\d+\.\d\d)\)", text):
        assert round(row[feat], 2) == pytest.approx(float(num), abs=1e-9)
    ups = re.search(r"driven up by (.*?)(, and driven down|\.$)", text).group(1)
    assert all(float(n) > 0 for n in re.findall(r"\(([+-]\d+\.\d\d)\)", ups))


def test_logistic_regression_uses_linear_explainer_in_log_odds(lr, telco):
    rows = telco.iloc[:20]
    ex = explain(lr, rows)
    assert ex.method == "linear" and ex.output_space == "log-odds"
    proba = lr.pipeline.predict_proba(rows[lr.features])[:, 1]
    np.testing.assert_allclose(ex.prediction, proba, atol=1e-9)
    assert "log-odds" in summarize(ex, 1)
    perm = explain(lr, rows.iloc[:3], method="permutation")  # model-agnostic path, probability space
    assert perm.output_space == "probability"
    np.testing.assert_allclose(perm.base_value + perm.contributions.sum(axis=1), proba[:3], atol=1e-9)


def test_compare_two_predictions_credits_only_changed_features(rf, telco):
    a = telco.iloc[1].to_dict()
    b = dict(a, Contract="Month-to-month", tenure=2, TotalCharges="120.5")
    cmp = compare_predictions(rf, a, b)
    pa, pb = rf.predict_proba(pd.DataFrame([a, b])[rf.features])[:, 1]
    assert cmp.output_a == pytest.approx(pa) and cmp.output_b == pytest.approx(pb)
    assert cmp.table["effect"].sum() == pytest.approx(pb - pa, abs=1e-12)
    changed = cmp.table[cmp.table["changed"]]
    assert set(changed["feature"]) == {"Contract", "tenure", "TotalCharges"}
    assert (cmp.table.loc[~cmp.table["changed"], "effect"] == 0).all()
    assert cmp.method == "baseline_shapley_exact"
    assert "Contract changed from One year to Month-to-month" in cmp.text
    top = changed.iloc[0]
    assert f"({top.effect:+,.2f})" in cmp.text


def test_predict_one_explains_a_form_row(rf):
    values = {f.name: f.example for f in rf.feature_schema}
    res = predict_one(rf, values)
    assert 0 <= res["probability"] <= 1 and res["explanation"].startswith("P(Churn)")
    assert {c["feature"] for c in res["contributions"]} == set(rf.features)
    with pytest.raises(ValidationError) as err:
        predict_one(rf, dict(values, tenure="twelve"))
    assert err.value.field == "tenure"


def test_pandas3_string_dtype_input(lr):
    path = DATA / "telco_churn" / "telco_customer_churn.csv"
    with pd.option_context("future.infer_string", True):
        df = pd.read_csv(path, nrows=300)
        assert not pd.api.types.is_object_dtype(df["Contract"].dtype)
        out = predict(lr, df)
        assert out["error"].isna().all()
        model = train_model({"task": "classification", "target": "Churn", "algorithm": "logistic_regression", "validation_split": 0.0}, df)
    with pd.option_context("future.infer_string", False):
        plain = predict(lr, pd.read_csv(path, nrows=300))
    np.testing.assert_allclose(out["probability"], plain["probability"])
    assert model.metrics["roc_auc"] > 0.7
