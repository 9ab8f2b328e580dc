"""Configuration validation, hyperparameter specs, templates and feature helpers (no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.errors import ValidationError
from aihub.ml import (
    TEMPLATES,
    TrainingConfig,
    all_hyperparameter_specs,
    hyperparameter_specs,
    leakage_warnings,
    parse_numeric,
    rfm_table,
    suggest_config,
    template_defaults,
)
from aihub.ml.preprocess import frame_sha256, infer_column_kind, looks_like_id
from aihub.ml.rfm import parse_dates
from tests.conftest import DATA

BASE = {"model_name": "churn_2024", "model_type": "churn_prediction", "target": "Churn"}


def test_spec_example_config_is_accepted_and_defaults_filled():
    cfg = TrainingConfig.from_dict(
        {
            **BASE,
            "algorithm": "random_forest",
            "hyperparameters": {"n_estimators": 100, "max_depth": 10, "min_samples_split": 2},
            "feature_engineering": {"normalize": True, "handle_missing": "mean"},
            "validation_split": 0.2,
            "test_split": 0.1,
        }
    )
    assert cfg.task == "classification"
    assert cfg.hyperparameters["max_depth"] == 10
    assert cfg.hyperparameters["min_samples_leaf"] == 5  # default filled in
    assert cfg.feature_engineering.handle_missing == "mean"
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "change, field, fragment",
    [
        ({"algorithm": "random_forest", "hyperparameters": {"max_depth": 0}}, "hyperparameters.max_depth", "must be an integer from 1 to 100 or null; got 0"),
        ({"algorithm": "random_forest", "hyperparameters": {"n_estimators": True}}, "hyperparameters.n_estimators", "integer from 10 to 1000"),
        ({"algorithm": "random_forest", "hyperparameters": {"n_estimators": 10.5}}, "hyperparameters.n_estimators", "got 10.5"),
        ({"algorithm": "logistic_regression", "hyperparameters": {"C": 0}}, "hyperparameters.C", "from 0.0001 to 10000"),
        ({"algorithm": "logistic_regression", "hyperparameters": {"n_estimators": 5}}, "hyperparameters.n_estimators", "allowed: C, max_iter, class_weight"),
        ({"algorithm": "gradient_boosting", "hyperparameters": {"learning_rate": 2}}, "hyperparameters.learning_rate", "from 0.001 to 1"),
        ({"hyperparameters": {"class_weight": "heavy"}}, "hyperparameters.class_weight", 'one of null, "balanced"'),
        ({"algorithm": "kmeans"}, "algorithm", "auto, logistic_regression, random_forest, gradient_boosting"),
        ({"model_type": "churn"}, "model_type", "churn_prediction, lead_scoring"),
        ({"feature_engineering": {"handle_missing": "zero"}}, "feature_engineering.handle_missing", "mean, median, most_frequent, drop"),
        ({"feature_engineering": {"scale": True}}, "feature_engineering.scale", "allowed: normalize"),
        ({"test_split": 0.9}, "test_split", "from 0.05 to 0.5"),
        ({"validation_split": 0.4, "test_split": 0.4}, "validation_split", "at most 0.7"),
        ({"target": None}, "target", "required for classification"),
        ({"model_name": ""}, "model_name", "1 to 100"),
        ({"random_seed": -1}, "random_seed", "0 to 4294967295"),
        ({"score_bands": {"hot": 30, "warm": 40}}, "score_bands.warm", "below score_bands.hot"),
        ({"colour": "red"}, "colour", "not a configuration field"),
        ({"task": "regression"}, "task", "must be classification for model_type churn_prediction"),
    ],
)
def test_invalid_field_is_named_with_allowed_values(change, field, fragment):
    with pytest.raises(ValidationError) as err:
        TrainingConfig.from_dict({**BASE, **change})
    assert err.value.field == field
    assert fragment in str(err.value)
    assert str(err.value).startswith(field)


def test_max_depth_message_matches_product_wording():
    with pytest.raises(ValidationError) as err:
        TrainingConfig.from_dict({**BASE, "algorithm": "random_forest", "hyperparameters": {"max_depth": 0}})
    assert str(err.value) == "hyperparameters.max_depth must be an integer from 1 to 100 or null; got 0"
    assert err.value.details["allowed"]["high"] == 100


def test_clustering_rejects_target_and_regression_needs_one():
    with pytest.raises(ValidationError) as err:
        TrainingConfig.from_dict({"task": "clustering", "target": "x"})
    assert err.value.field == "target"
    cfg = TrainingConfig.from_dict({"model_type": "customer_segmentation", "algorithm": "kmeans", "hyperparameters": {"n_clusters": 4}})
    assert cfg.task == "clustering" and cfg.hyperparameters["n_clusters"] == 4


def test_hyperparameter_specs_are_exposed_for_widgets():
    specs = {s.name: s for s in hyperparameter_specs("classification", "random_forest")}
    assert specs["max_depth"].type == "int" and specs["max_depth"].nullable
    assert (specs["max_depth"].low, specs["max_depth"].high, specs["max_depth"].default) == (1, 100, None)
    assert specs["class_weight"].choices == (None, "balanced")
    everything = all_hyperparameter_specs()
    assert set(everything) == {"classification", "regression", "clustering"}
    assert {s["name"] for s in everything["regression"]["ridge"]} == {"alpha"}
    assert everything["regression"]["linear_regression"] == []
    lr = {s["name"]: s for s in everything["classification"]["logistic_regression"]}
    assert lr["C"]["log_scale"] is True and lr["C"]["default"] == 1.0
    with pytest.raises(ValidationError) as err:
        hyperparameter_specs("regression", "logistic_regression")
    assert err.value.field == "algorithm"


def test_templates_prefill_from_real_tables():
    telco = pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv", nrows=300)
    cfg = suggest_config("churn", telco)
    assert cfg.target == "Churn" and cfg.model_type == "churn_prediction"
    assert cfg.excluded_columns == ["customerID"]
    assert cfg.hyperparameters["class_weight"] == "balanced"
    lead = template_defaults("lead_scoring")
    assert lead["score_bands"] == {"hot": 70, "warm": 40} and lead["model_type"] == "lead_scoring"
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig", nrows=50)
    rfm = suggest_config("rfm_segmentation", orders)
    assert rfm.data_prep["customer_column"] == "Customer ID"
    assert rfm.data_prep["date_column"] == "Order Date"
    assert rfm.data_prep["amount_column"] == "Sales"
    assert rfm.data_prep["order_column"] == "Order ID"
    clv = suggest_config("customer_lifetime_value", orders)
    assert clv.target == "future_value" and clv.task == "regression"
    with pytest.raises(ValidationError) as err:
        suggest_config("churn", orders)
    assert err.value.field == "target"
    assert set(TEMPLATES) == {"churn", "lead_scoring", "rfm_segmentation", "customer_lifetime_value"}


def test_numeric_text_with_blanks_is_coerced():
    s = pd.Series(["29.85", " ", "1,889.50", "$12", None, "abc", "inf"])
    nums, bad = parse_numeric(s)
    assert nums[0] == 29.85 and np.isnan(nums[1]) and nums[2] == 1889.5 and nums[3] == 12.0 and np.isnan(nums[4])
    assert bad.tolist() == [False, False, False, False, False, True, True]
    telco = pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv")
    assert infer_column_kind(telco["TotalCharges"]) == "numeric"
    assert infer_column_kind(telco["Contract"]) == "categorical"
    with pd.option_context("future.infer_string", True):  # pandas 3 default: str dtype, not object
        s3 = pd.Series(["1", " ", "2.5"])
        assert infer_column_kind(s3) == "numeric"
        assert parse_numeric(s3)[0].iloc[2] == 2.5


def test_leakage_warnings_flag_ids_and_target_copies():
    telco = pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv", nrows=2000)
    telco["churn_flag"] = (telco["Churn"] == "Yes").astype(int)  # numeric copy of the target
    telco["churn_reason"] = np.where(telco["Churn"] == "Yes", "moved", None)  # only filled for churners
    warns = {w.column: w for w in leakage_warnings(telco, "Churn")}
    assert warns["customerID"].kind == "id_like"
    assert warns["churn_flag"].kind == "target_leak" and warns["churn_flag"].score > 0.99
    assert warns["churn_reason"].kind == "target_leak"
    assert "Contract" not in warns and "tenure" not in warns
    rng = np.random.default_rng(0)
    sales = rng.gamma(2.0, 100.0, size=200)
    reg = pd.DataFrame({"sales": sales, "sales_copy": sales * 1.1 + rng.normal(0, 1, 200), "noise": rng.normal(size=200)})
    rw = {w.column: w for w in leakage_warnings(reg, "sales")}
    assert rw["sales_copy"].kind == "target_leak" and "noise" not in rw
    assert looks_like_id(pd.Series(range(1, 101)), "Row ID")[0]
    assert not looks_like_id(pd.Series(["a", "b"] * 50), "Paid")[0]


def test_rfm_table_from_day_first_dates():
    orders = pd.DataFrame(
        {
            "cust": ["a", "a", "b", "c", "a"],
            "order": ["o1", "o1", "o2", "o3", "o4"],
            "date": ["03/01/19", "03/01/19", "25/12/19", "13/06/19", "20/12/19"],
            "amount": ["10", "5.5", "100", "7", "1,000"],
        }
    )
    t = rfm_table(orders, "cust", "date", "amount", order_col="order")
    assert list(t.columns) == ["customer", "recency_days", "frequency", "monetary"]
    a = t.set_index("customer").loc["a"]
    assert a["frequency"] == 2 and a["monetary"] == pytest.approx(1015.5) and a["recency_days"] == 6  # as_of 26 Dec
    assert t.set_index("customer").loc["b", "recency_days"] == 1
    assert parse_dates(pd.Series(["03/01/19"]), dayfirst=True)[0] == pd.Timestamp("2019-01-03")
    with pytest.raises(ValidationError) as err:
        parse_dates(pd.Series(["01/02/19", "03/04/19"]), column="Order Date")
    assert err.value.field == "Order Date" and "dayfirst" in str(err.value)


def test_frame_hash_ignores_column_order_but_not_values():
    a = pd.DataFrame({"x": [1.5, np.nan], "y": ["u", "v"]})
    assert frame_sha256(a) == frame_sha256(a[["y", "x"]])
    assert frame_sha256(a) != frame_sha256(a.assign(x=[1.5, 2.0]))
    assert len(frame_sha256(a)) == 64
