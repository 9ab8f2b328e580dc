"""Targets of every kind train and predict; the positive class is what the user means; unusable targets are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aihub.errors import ValidationError
from aihub.ml import predict, target_kind_choices, train_model
from aihub.ml.targets import analyze_target, default_positive_class
from tests.conftest import DATA


@pytest.fixture(scope="module")
def heart() -> pd.DataFrame:
    return pd.read_csv(DATA / "tables" / "heart_disease.csv")


BINARY_KINDS = {
    "0/1 integers": (lambda y: y, 1),
    "booleans": (lambda y: y.astype(bool), True),
    "'0'/'1' text": (lambda y: y.astype(str), 1),
    "yes/no text": (lambda y: np.where(y == 1, "yes", "no"), "yes"),
    "-1/1": (lambda y: np.where(y == 1, 1, -1), 1),
    "0.0/1.0 floats": (lambda y: y.astype(float), 1),
}


@pytest.mark.parametrize("kind", list(BINARY_KINDS))
@pytest.mark.parametrize("algorithm, weights", [("logistic_regression", "balanced"), ("random_forest", None)])
def test_binary_targets_of_every_kind_train_and_predict(heart, kind, algorithm, weights):
    make, positive = BINARY_KINDS[kind]
    data = heart.assign(target=make(heart["target"].to_numpy()))
    hp = {"class_weight": weights} if weights else {"n_estimators": 50}
    model = train_model({"task": "classification", "target": "target", "algorithm": algorithm, "hyperparameters": hp}, data)
    assert model.positive_class == positive and type(model.positive_class) is type(positive)
    assert model.metrics["roc_auc"] > 0.8 and 0 < model.metrics["brier"] < 0.25
    out = predict(model, data.head(60))
    assert out["error"].isna().all() and out["probability"].between(0, 1).all()
    is_pos = (heart["target"].head(60) == 1).to_numpy()
    assert roc_auc_score(is_pos, out["probability"]) > 0.8  # the probability is that of the positive class
    assert model.score_name == "P(target)" and out.attrs["score_name"] == "P(target)"


def test_auto_and_template_weighting_on_a_01_target(heart):
    model = train_model({"model_type": "churn_prediction", "target": "target", "hyperparameters": {"class_weight": "balanced"}, "cv_folds": 3}, heart)
    assert model.positive_class == 1 and model.calibration["method"] in ("platt", "prior")
    assert model.threshold["metric"] == "f1" and 0 < model.threshold["value"] < 1
    assert model.output_label == "P(target)"  # named after the positive class, not "Churn risk"


def test_string_target_reports_the_leavers_probability():
    telco = pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv", nrows=1500)
    data = telco.assign(status=np.where(telco.pop("Churn") == "Yes", "left", "stayed"))
    model = train_model({"task": "classification", "target": "status", "algorithm": "logistic_regression", "validation_split": 0.0}, data)
    assert model.positive_class == "left" and model.score_name == "P(left)"  # the minority, and a conventional word
    out = predict(model, data)
    assert roc_auc_score(data["status"] == "left", out["probability"]) > 0.8
    assert out["probability"].mean() < 0.5  # about the churn rate, not the stayers' share


@pytest.mark.parametrize(
    "classes, counts, expected, reason",
    [
        (["bad", "good"], [300, 700], "bad", "conventional"),
        (["default", "paid"], [800, 200], "default", "conventional"),
        (["fraud", "legit"], [10, 990], "fraud", "conventional"),
        (["N", "Y"], [150, 340], "Y", "conventional"),
        (["alpha", "beta"], [700, 300], "beta", "minority"),
        (["good", "neutral"], [100, 900], "neutral", "conventional"),
        ([False, True], [900, 100], True, "conventional"),
    ],
)
def test_default_positive_class(classes, counts, expected, reason):
    assert default_positive_class(classes, counts) == (expected, reason)


def test_configured_positive_class_wins_and_is_recorded(heart):
    data = heart.assign(target=np.where(heart["target"] == 1, "sick", "healthy"))
    model = train_model({"task": "classification", "target": "target", "algorithm": "logistic_regression", "positive_class": "healthy"}, data)
    assert model.positive_class == "healthy" and model.target_info["positive_reason"] == "configured"
    assert model.score_name == "P(healthy)"
    with pytest.raises(ValidationError) as err:
        train_model({"task": "classification", "target": "target", "positive_class": "dead"}, data)
    assert err.value.field == "positive_class" and "healthy, sick" in str(err.value)


def test_multiclass_integers_and_strings():
    wine = pd.read_csv(DATA / "tables" / "winequality_red.csv", sep=";")
    model = train_model({"task": "classification", "target": "quality", "algorithm": "random_forest", "hyperparameters": {"n_estimators": 60}}, wine)
    assert model.classes == [3, 4, 5, 6, 7, 8] and model.positive_class is None
    out = predict(model, wine.head(30))
    assert {f"probability_{c}" for c in model.classes} <= set(out.columns)
    np.testing.assert_allclose(out[[f"probability_{c}" for c in model.classes]].sum(axis=1), 1.0)
    assert set(out["prediction"]) <= set(model.classes) and model.metrics["roc_auc"] > 0.7
    car = pd.read_csv(DATA / "tables" / "car_evaluation.csv")
    cars = train_model({"task": "classification", "target": "class", "algorithm": "logistic_regression"}, car)
    assert cars.classes == ["acc", "good", "unacc", "vgood"] and cars.metrics["roc_auc"] > 0.9


def test_few_distinct_numbers_ask_classes_or_amounts_and_the_task_settles_it():
    wine = pd.read_csv(DATA / "tables" / "winequality_red.csv", sep=";")
    choice = target_kind_choices(wine["quality"])
    assert choice["ask"] and choice["choices"] == ["regression", "classification"] and choice["default"] == "regression"
    assert "from 3 to 8" in choice["question"]
    assert not target_kind_choices(wine["alcohol"])["ask"] and not target_kind_choices(pd.Series(["a", "b"] * 5))["ask"]
    amounts = train_model({"task": "regression", "target": "quality", "algorithm": "ridge"}, wine)
    assert amounts.task == "regression" and amounts.metrics["r2"] > 0.2
    assert any(w["kind"] == "target_kind" and "classes" in w["message"] for w in amounts.warnings)


@pytest.mark.parametrize(
    "values, fragment",
    [
        ([None] * 40, "every value is missing"),
        (["yes"] * 40, "single class ('yes')"),
        ([f"C-{i:04d}" for i in range(40)], "looks like an identifier"),
        (["a"] * 37 + ["b"] * 3, "fewer than 5 rows"),
        ([str(i % 60) + "x" for i in range(200)], "more than the 50 classes"),
    ],
)
def test_unusable_targets_are_refused_naming_column_and_reason(values, fragment):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=len(values)), "outcome": values})
    with pytest.raises(ValidationError) as err:
        train_model({"task": "classification", "target": "outcome"}, frame)
    assert err.value.field == "target" and "'outcome'" in str(err.value) and fragment in str(err.value)


def test_regression_target_must_be_numbers():
    with pytest.raises(ValidationError) as err:
        analyze_target(pd.Series(["1", "2", "three"] * 10, name="units"), "regression")
    assert err.value.field == "target" and "units" in str(err.value) and "rows 3, 6" in str(err.value)
