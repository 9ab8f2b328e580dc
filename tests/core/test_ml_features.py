"""Columns of every kind become features: dates, free text, currency text; ids left out; the schema says what was done."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aihub.ml import dump_artifact, explain, load_artifact, parse_numeric, predict, train_model
from aihub.ml.cli import main
from aihub.ml.features import date_format, parse_date_values
from aihub.ml.preprocess import detect_column_kind
from aihub.sentiment import lexicon_scores
from tests.conftest import DATA

KEY = b"k" * 32


@pytest.fixture(scope="module")
def bike() -> pd.DataFrame:
    return pd.read_csv(DATA / "tables" / "bike_sharing_hourly.csv").sample(3000, random_state=0)


@pytest.fixture(scope="module")
def amazon() -> pd.DataFrame:
    return pd.read_csv(DATA / "sentiment" / "amazon_reviews.csv")


def test_currency_and_thousands_text_become_numbers():
    s = pd.Series(["$84,835.00 ", "€1.250", "1,234 USD", "(1,200.50)", "12 €", "", "n/a", "abc"])
    nums, bad = parse_numeric(s)
    assert nums[:5].tolist() == [84835.0, 1.25, 1234.0, -1200.5, 12.0]
    assert np.isnan(nums[5]) and np.isnan(nums[6]) and bad.tolist() == [False] * 7 + [True]


def test_day_first_dates_become_calendar_and_age_features(bike):
    assert date_format(bike["dteday"]) == "%d-%m-%Y" and detect_column_kind(bike["dteday"]) == "date"
    dates, bad = parse_date_values(pd.Series(["03-03-2012", "31-12-2011", "x"]), "%d-%m-%Y")
    assert dates[0] == pd.Timestamp("2012-03-03") and dates[1] == pd.Timestamp("2011-12-31") and bad.tolist() == [False, False, True]
    model = train_model({"task": "regression", "target": "cnt", "features": ["dteday", "hr", "temp"], "algorithm": "lightgbm"}, bike)
    spec = {f.name: f for f in model.feature_schema}["dteday"]
    assert spec.kind == "date" and spec.date_format == "%d-%m-%Y" and "age in days before 2012-12-31" in spec.treatment
    assert {"dteday year", "dteday month", "dteday day of week", "dteday age (days)"} <= set(model.transformed_names)
    assert model.metrics["r2"] > 0.75
    x = bike.head(5).astype({"dteday": object})
    x.iloc[1, x.columns.get_loc("dteday")] = "2012/31/31"
    out = predict(model, x)
    assert out["error"].notna().tolist() == [False, True, False, False, False] and "not a date" in out["error"].iloc[1]
    ex = explain(model, bike.head(4))
    np.testing.assert_allclose(ex.base_value + ex.contributions.sum(axis=1), predict(model, bike.head(4))["prediction"], rtol=1e-6)


def test_free_text_becomes_tfidf_and_lexicon_features_and_ids_are_left_out(amazon):
    data = amazon.assign(review_id=[f"R{i:05d}" for i in range(len(amazon))])
    assert detect_column_kind(data["text"]) == "text" and detect_column_kind(data["review_id"]) == "categorical"
    model = train_model({"task": "classification", "target": "label", "algorithm": "logistic_regression"}, data)
    assert model.excluded_columns == {"review_id": "id_like"} and model.features == ["text"]
    spec = model.feature_schema[0]
    assert spec.kind == "text" and "TF-IDF" in spec.treatment and "VADER" in spec.treatment
    assert "text sentiment compound" in model.transformed_names and any(n.startswith("text: ") for n in model.transformed_names)
    rows = {r["column"]: r for r in model.feature_treatments}
    assert rows["review_id"]["kind"] == "excluded" and "identifier" in rows["review_id"]["treatment"]
    assert model.positive_class == 1 and model.metrics["roc_auc"] > 0.85


def test_text_model_from_the_command_line_beats_the_lexicon_on_another_domain(tmp_path, monkeypatch, capsys, amazon):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY", raising=False)
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY_FILE", raising=False)
    reviews = tmp_path / "reviews.csv"
    amazon.to_csv(reviews, index=False)
    model = tmp_path / "sentiment.aihub"
    assert main(["train", "--input", str(reviews), "--target", "label", "--model", "logistic_regression", "--output", str(model)]) == 0
    assert "probability = P(label) (positive class 1" in capsys.readouterr().out
    yelp = pd.read_csv(DATA / "sentiment" / "yelp_reviews.csv")
    (tmp_path / "yelp.csv").write_text(yelp[["text"]].to_csv(index=False))
    assert main(["predict", "--model", str(model), "--input", str(tmp_path / "yelp.csv"), "--output", str(tmp_path / "p.csv")]) == 0
    out = pd.read_csv(tmp_path / "p.csv")
    model_auc = roc_auc_score(yelp["label"], out["probability"])
    vader_auc = roc_auc_score(yelp["label"], lexicon_scores(yelp["text"].tolist())["score"])
    assert model_auc > vader_auc > 0.85


def test_lightgbm_dates_and_text_survive_the_signed_artifact(bike, amazon):
    for frame, cfg in (
        (bike, {"task": "regression", "target": "cnt", "features": ["dteday", "hr", "temp", "weathersit"], "algorithm": "lightgbm"}),
        (amazon.head(400), {"task": "classification", "target": "label", "algorithm": "lightgbm", "hyperparameters": {"n_estimators": 50}}),
    ):
        model = train_model(cfg, frame)
        loaded = load_artifact(dump_artifact(model, KEY), KEY)
        pd.testing.assert_frame_equal(predict(model, frame.head(10)), predict(loaded, frame.head(10)))
        ex = explain(loaded, frame.head(3))
        assert ex.method == "tree_path_dependent_shap"
        out = predict(loaded, frame.head(3))
        expected = out["probability"] if "probability" in out else out["prediction"]
        np.testing.assert_allclose(ex.prediction, expected, rtol=1e-6)
