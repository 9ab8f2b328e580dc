"""Regression, segmentation, CLV, auto selection, progress and cancellation on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.errors import TrainingError, ValidationError
from aihub.ml import Cancelled, explain, predict, rfm_table, suggest_config, train_model
from aihub.ml.rfm import SEGMENT_PROTOTYPES
from tests.conftest import DATA


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv")


def order_table(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per order: basket aggregates and the order's total Sales."""
    g = orders.groupby("Order ID", sort=False)
    cat = pd.crosstab(orders["Order ID"], orders["Category"])
    t = pd.DataFrame(
        {
            "lines": g.size(),
            "quantity": g["Quantity"].sum(),
            "avg_discount": g["Discount"].mean(),
            "segment": g["Segment"].first(),
            "region": g["Region"].first(),
            "ship_mode": g["Ship Mode"].first(),
            "sales": g["Sales"].sum(),
        }
    )
    return t.join(cat.add_suffix("_lines")).reset_index()


def test_regression_of_order_sales_from_basket_aggregates(orders):
    table = order_table(orders)
    model = train_model(
        {"model_type": "demand", "target": "sales", "algorithm": "random_forest", "hyperparameters": {"n_estimators": 50}}, table
    )
    m = model.metrics
    assert "Order ID" in model.excluded_columns  # id-like, left out automatically
    assert m["r2"] > 0.15 and m["rmse"] > m["mae"] > 0
    assert 0.75 <= m["interval_coverage"] <= 1.0
    assert model.interval["level"] == 0.9 and "conformal" in model.interval["method"]
    assert model.interval["lower_offset"] < 0 < model.interval["upper_offset"]
    out = predict(model, table.head(30))
    assert (out["lower"] <= out["prediction"]).all() and (out["prediction"] <= out["upper"]).all()
    ex = explain(model, table.head(10))
    assert ex.output_space == "value"
    np.testing.assert_allclose(ex.base_value + ex.contributions.sum(axis=1), out["prediction"].head(10), rtol=1e-9)


def test_rfm_segments_of_superstore_customers_have_business_names(orders):
    rfm = rfm_table(orders, "Customer ID", "Order Date", "Sales", order_col="Order ID")
    assert len(rfm) == orders["Customer ID"].nunique()
    assert rfm["recency_days"].min() == 1 and rfm["frequency"].max() <= orders["Order ID"].nunique()
    model = train_model(suggest_config("rfm_segmentation", orders), orders)
    names = {s["name"] for s in model.segments.values()}
    assert names == set(SEGMENT_PROTOTYPES)  # five clusters -> the five business names, no numbers
    seg = {s["name"]: s for s in model.segments.values()}
    assert seg["high-value"]["m_score"] > seg["dormant"]["m_score"]
    assert seg["high-value"]["r_score"] > seg["at-risk"]["r_score"]
    assert seg["new"]["f_score"] < seg["loyal"]["f_score"]
    assert sum(s["size"] for s in model.segments.values()) == len(rfm)
    assert -1 <= model.metrics["silhouette"] <= 1 and set(model.metrics["segment_sizes"]) == names
    out = predict(model, orders)  # raw orders in, one row per customer out
    assert len(out) == len(rfm) and set(out["segment"]) <= names
    assert out["customer"].tolist() == rfm["customer"].tolist()


def test_clv_template_trains_from_orders(orders):
    model = train_model(suggest_config("customer_lifetime_value", orders, cv_folds=3), orders)
    assert model.task == "regression" and model.target == "future_value"
    assert model.features == ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]
    assert [r["candidate"] for r in model.cv_results][-1] == "blend"
    out = predict(model, orders)
    assert len(out) == orders["Customer ID"].nunique() and (out["lower"] >= 0).all()


def test_auto_cross_validates_candidates_and_keeps_the_best(telco):
    sample = telco.sample(1500, random_state=0)
    seen = []
    model = train_model(
        {"task": "classification", "target": "Churn", "algorithm": "auto", "cv_folds": 3, "validation_split": 0.0},
        sample,
        progress=lambda f, msg: seen.append((f, msg)),
    )
    rows = model.cv_results
    names = [r["candidate"] for r in rows]
    assert names[:4] == ["logistic_regression", "random_forest", "gradient_boosting", "lightgbm"] and names[-1] == "blend"
    best = max(rows, key=lambda r: r["mean"])
    chosen = [r for r in rows if r["selected"]]
    assert len(chosen) == 1
    if chosen[0]["mean"] < best["mean"] - 1e-4:  # one-standard-error rule: the linear model, close enough to the best
        se = np.std(best["folds"], ddof=1) / np.sqrt(len(best["folds"]))
        assert chosen[0]["candidate"] == "logistic_regression" and best["mean"] - chosen[0]["mean"] <= se
        assert "within one standard error" in chosen[0]["rule"]
    assert all(len(r["folds"]) == 3 and r["metric"] == "roc_auc" for r in rows)
    assert model.metrics["roc_auc"] > 0.78
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("Cross-validating" in m for _, m in seen)


def test_clustering_auto_picks_k_by_silhouette(telco):
    model = train_model({"task": "clustering", "features": ["tenure", "MonthlyCharges", "Contract"], "hyperparameters": {"max_clusters": 5}}, telco.head(800))
    sil = {r["candidate"]: r["mean"] for r in model.cv_results}
    assert set(sil) == {"kmeans_k2", "kmeans_k3", "kmeans_k4", "kmeans_k5"}
    chosen = next(r for r in model.cv_results if r["selected"])
    assert chosen["mean"] == max(sil.values())
    assert model.estimator.n_clusters == chosen["params"]["n_clusters"]
    assert all(s["name"].startswith("Segment ") for s in model.segments.values())


def test_cancel_raises_and_returns_nothing(telco):
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled) as err:
        train_model({"task": "classification", "target": "Churn", "algorithm": "auto", "cv_folds": 2}, telco.head(600), should_cancel=should_cancel)
    assert err.value.code == "cancelled" and isinstance(err.value, TrainingError)
    assert len(calls) == 4  # stopped at the first check after cancellation


def test_bad_training_data_fails_cleanly(telco):
    with pytest.raises(ValidationError) as err:
        train_model({"task": "classification", "target": "Churn"}, telco.assign(Churn="No"))
    assert err.value.field == "target" and "single class" in str(err.value) and "Churn" in str(err.value)
    with pytest.raises(ValidationError) as err:
        train_model({"task": "classification", "target": "Churned"}, telco)
    assert err.value.field == "target"
    with pytest.raises(ValidationError) as err:
        train_model({"task": "regression", "target": "Contract"}, telco)
    assert err.value.field == "target" and "numeric" in str(err.value)
    with pytest.raises(ValidationError) as err:
        train_model({"task": "classification", "target": "Churn", "features": ["tenure", "Tenure2"]}, telco)
    assert err.value.field == "features" and "Tenure2" in str(err.value)


def test_boosting_explained_exactly_in_log_odds(telco):
    sample = telco.sample(1500, random_state=1)
    model = train_model({"model_type": "fraud_detection", "target": "Churn", "algorithm": "gradient_boosting", "validation_split": 0.0}, sample)
    ex = explain(model, sample.head(20))
    assert ex.method == "tree_path_dependent_shap" and ex.output_space == "log-odds"
    X = sample.head(20)[model.features]
    np.testing.assert_allclose(ex.output, model.pipeline.decision_function(X), atol=1e-8)
    np.testing.assert_allclose(ex.prediction, model.pipeline.predict_proba(X)[:, 1], atol=1e-8)
    assert ex.label == "P(Churn)"  # named after the positive class, never after the template


def test_handle_missing_drop_rejects_blank_rows_at_prediction(telco):
    model = train_model(
        {"task": "classification", "target": "Churn", "algorithm": "logistic_regression", "feature_engineering": {"handle_missing": "drop"}, "validation_split": 0.0},
        telco.head(1000),
    )
    assert any(w["kind"] == "dropped_rows" for w in model.warnings)  # TotalCharges blanks left out
    x = telco.head(5).copy()
    x["TotalCharges"] = x["TotalCharges"].astype(object)
    x.iloc[1, x.columns.get_loc("TotalCharges")] = " "
    out = predict(model, x)
    assert out["error"].notna().tolist() == [False, True, False, False, False]
    assert "TotalCharges is blank" in out["error"].iloc[1]


def test_high_cardinality_categories_are_target_encoded(orders):
    lines = orders.sample(3000, random_state=0).assign(profitable=lambda d: np.where(d["Profit"] > 0, "Yes", "No"))
    feats = ["Discount", "Sales", "Sub-Category", "City", "Region"]
    model = train_model({"task": "classification", "target": "profitable", "features": feats, "algorithm": "logistic_regression", "validation_split": 0.0}, lines)
    kinds = {w["column"]: w["kind"] for w in model.warnings}
    assert kinds.get("City") == "high_cardinality" and "Sub-Category" not in kinds  # 17 sub-categories stay one-hot
    assert "City (target-encoded)" in model.transformed_names
    assert sum(n.startswith("Sub-Category = ") for n in model.transformed_names) == lines["Sub-Category"].nunique()
    assert model.metrics["roc_auc"] > 0.9
    x = lines.head(5).copy()
    x.iloc[0, x.columns.get_loc("City")] = "Atlantis"
    out = predict(model, x)
    assert out["error"].isna().all() and "Atlantis" in out["warning"].iloc[0]
    ex = explain(model, x)
    np.testing.assert_allclose(ex.prediction, out["probability"], atol=1e-9)
    again = train_model({"task": "classification", "target": "profitable", "features": feats, "algorithm": "logistic_regression", "validation_split": 0.0}, lines)
    assert again.metrics == model.metrics  # seeded cross-fitting: reproducible


def test_auto_blend_round_trips_and_is_explained(telco):
    from aihub.ml import dump_artifact, load_artifact

    sample = telco.sample(1200, random_state=5)
    model = train_model({"task": "classification", "target": "Churn", "cv_folds": 2, "validation_split": 0.0}, sample)
    key = b"k" * 32
    loaded = load_artifact(dump_artifact(model, key), key)
    x = telco.head(15)
    pd.testing.assert_frame_equal(predict(model, x), predict(loaded, x))
    ex = explain(loaded, x.head(3), method="permutation")
    np.testing.assert_allclose(ex.base_value + ex.contributions.sum(axis=1), predict(loaded, x.head(3))["probability"], atol=1e-9)
