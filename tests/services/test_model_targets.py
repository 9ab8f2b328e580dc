"""Targets of every kind train and predict through the services, on real PostgreSQL and the shared tables.

Issue 12: 0/1 integers, booleans, "0"/"1" and "yes"/"no" text, -1/1 and 0.0/1.0
numbers, multiclass text and numbers, and a few-valued numeric target read as
classes or as amounts. The version records the target's kind, the positive class
(default and override) and why, the score's name, the decision threshold and
the Brier score; the score is named after the positive class, never after the
template. A single fresh prediction is one read and one write transaction.
"""

from __future__ import annotations

import io
import json
import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from aihub import events, ml, workflows
from aihub.db.models import UsageEvent
from aihub.db.session import tenant_session
from aihub.errors import ValidationError
from aihub.services import (
    batch_predictions,
    datasets,
    jobs,
    model_cache,
    model_config,
    model_training,
    predictions,
    registry,
)
from tests.conftest import new_tenant, shared_file


def _save(principal, name: str, filename: str, data: bytes) -> int:
    return datasets.save_upload(principal, name, filename, data).version.dataset_id


def _table(name: str) -> tuple[str, bytes]:
    path = shared_file("tables", name)
    return path.name, path.read_bytes()


def _train(principal, dataset_id: int, config: dict, *, deploy: bool = True):
    model, job = model_training.create_model(principal, config, dataset_id, run=False)
    assert jobs.run_job(principal.tenant_id, job.id) == "succeeded", registry.get_job(principal, job.id).error
    version = registry.list_versions(principal, model.id)[0]
    if deploy:
        registry.deploy(principal, model.id, version.id)
    return model, version


def _heart() -> pd.DataFrame:
    return pd.read_csv(shared_file("tables", "heart_disease.csv"))


def _row(frame: pd.DataFrame, target: str, i: int = 0) -> dict:
    return {k: (None if pd.isna(v) else v) for k, v in frame.drop(columns=[target]).iloc[i].to_dict().items()}


# --------------------------------------------------------------- the shared tables, each target kind
TABLES = [
    ("heart_disease.csv", "target", "classification", "binary", [0, 1]),
    ("banknote.csv", "Class", "classification", "binary", [0, 1]),
    ("loan_approval.csv", "Loan_Status", "classification", "binary", [0, 1]),
    ("car_evaluation.csv", "class", "classification", "multiclass", ["acc", "good", "unacc", "vgood"]),
    ("winequality_red.csv", "quality", "classification", "multiclass", [3, 4, 5, 6, 7, 8]),
    ("winequality_red.csv", "quality", "regression", "amounts", None),
    ("concrete_strength.csv", None, "regression", "amounts", None),
]


@pytest.mark.parametrize(("filename", "target", "task", "kind", "classes"), TABLES,
                         ids=[f"{t[0]}-{t[2]}" for t in TABLES])
def test_each_shared_table_trains_and_predicts_through_the_service(server_database, filename, target, task, kind,
                                                                    classes):
    admin = new_tenant("targets")
    name, data = _table(filename)
    dsid = _save(admin, filename, name, data)
    _, loaded = model_config.dataset_frame(admin, dsid)
    target = target or str(loaded.columns[-1])
    profile = model_config.target_profile(admin, dsid, target, task)
    assert profile["problem"] is None and profile["task"] == task
    algorithm = "lightgbm" if task == "classification" and kind == "multiclass" else "auto"
    model, version = _train(admin, dsid, {"model_name": f"{filename} {task}", "task": task, "target": target,
                                          "algorithm": algorithm})
    params, metrics = version.params, version.metrics
    assert params["task"] == task and params["target_kind"] == kind and params["target"] == target
    if task == "classification":
        assert params["classes"] == classes and metrics["brier"] is not None and 0 <= metrics["brier"] <= 1
        assert metrics["roc_auc"] > 0.7
    else:
        assert metrics["r2"] > 0.3
    out = predictions.predict_one(admin, model.id, _row(loaded, target))
    if task == "classification":
        assert out.prediction in classes and 0 <= out.confidence <= 1
        if kind == "binary":
            assert out.positive_class == 1 and out.label == f"P({target})" and 0 <= out.probability <= 1
    else:
        assert isinstance(out.prediction, float) and out.lower <= out.prediction <= out.upper
    assert out.explanation, "a prediction comes with its reasons"


# --------------------------------------------------------------- binary targets spelled every way
def _variants() -> dict[str, tuple[str, bytes, object]]:
    heart = _heart()
    y = heart["target"]
    out = {}
    for key, values, fmt in (
        ("0/1", y, "csv"), ("-1/1", y.map({0: -1, 1: 1}), "csv"), ("0.0/1.0", y.astype(float), "csv"),
        ("yes/no", y.map({0: "no", 1: "yes"}), "csv"), ("true/false", y.astype(bool), "json"),
        ('"0"/"1"', y.astype(str), "json"),
    ):
        frame = heart.assign(target=values)
        if fmt == "csv":
            out[key] = ("heart.csv", frame.to_csv(index=False).encode())
        else:
            records = frame.to_dict("records")
            out[key] = ("heart.json", json.dumps(records).encode())
    return out


POSITIVE = {"0/1": 1, "-1/1": 1, "0.0/1.0": 1, "yes/no": "yes", "true/false": True, '"0"/"1"': 1}


@pytest.mark.parametrize("spelling", list(POSITIVE))
def test_binary_targets_train_whatever_their_spelling(server_database, spelling):
    admin = new_tenant("spelling")
    filename, data = _variants()[spelling]
    dsid = _save(admin, f"heart {spelling}", filename, data)
    profile = model_config.target_profile(admin, dsid, "target")
    assert profile["ask"] is False and profile["task"] == "classification"
    assert profile["positive_class"] == POSITIVE[spelling] or str(profile["positive_class"]).lower() == str(
        POSITIVE[spelling]).lower()
    cfg = model_config.template_config(admin, "churn", dsid, target="target", model_name=f"heart {spelling}",
                                       algorithm="logistic_regression")
    model, version = _train(admin, dsid, cfg)
    assert version.params["target_kind"] == "binary" and len(version.params["classes"]) == 2
    assert str(version.params["positive_class"]).lower() == str(POSITIVE[spelling]).lower()
    assert version.metrics["roc_auc"] > 0.8
    out = predictions.predict_one(admin, model.id, _row(_heart(), "target", 3))
    assert "churn" not in out.label.lower(), "the score is named after the positive class, not the template"
    assert str(out.prediction) in {str(c) for c in version.params["classes"]}


# --------------------------------------------------------------- positive class: default, override, score name
def _credit(admin) -> int:
    heart = _heart().assign(target=lambda f: f["target"].map({0: "good", 1: "bad"}))
    return _save(admin, "credit", "credit.csv", heart.to_csv(index=False).encode())


def test_positive_class_default_and_override_persist_and_name_the_score(server_database):
    admin = new_tenant("positive")
    dsid = _credit(admin)
    profile = model_config.target_profile(admin, dsid, "target")
    assert profile["classes"] == ["bad", "good"] and profile["positive_class"] == "bad"
    assert profile["positive_reason"] == "its name marks the outcome of interest"
    assert profile["score_names"] == {"bad": "P(bad)", "good": "P(good)"}

    base = model_config.template_config(admin, "churn", dsid, target="target", algorithm="logistic_regression",
                                        hyperparameters={})
    default, v1 = _train(admin, dsid, {**base, "model_name": "credit default"})
    assert (v1.params["positive_class"], v1.params["positive_reason"]) == ("bad", "conventional")
    assert v1.params["score_name"] == "P(bad)" and v1.params["label"] == "P(bad)"
    assert 0 < v1.params["threshold"]["value"] < 1 and v1.params["threshold"]["metric"] == "f1"
    assert v1.params["calibration"] in ("platt", "prior", "none") and v1.metrics["brier"] < 0.25
    row = _row(_heart(), "target", 0)
    out = predictions.predict_one(admin, default.id, row)
    assert out.label == "P(bad)" and out.positive_class == "bad"
    assert (out.prediction == "bad") == (out.probability >= v1.params["threshold"]["value"])
    assert predictions.prediction_form(admin, default.id).label == "P(bad)"

    flipped, v2 = _train(admin, dsid, {**base, "model_name": "credit good", "positive_class": "good"})
    assert (v2.params["positive_class"], v2.params["positive_reason"]) == ("good", "configured")
    out2 = predictions.predict_one(admin, flipped.id, row)
    assert out2.label == "P(good)" and out2.probability == pytest.approx(1 - out.probability, abs=0.1)

    named, _ = _train(admin, dsid, {**base, "model_name": "credit named", "score_label": "Risk of bad"})
    assert predictions.predict_one(admin, named.id, row).label == "Risk of bad"
    stored = model_training.version_details(admin, registry.list_versions(admin, named.id)[0].id)
    assert stored.config["score_label"] == "Risk of bad"


def test_unusable_targets_are_refused_up_front_in_the_analysts_words(server_database):
    admin = new_tenant("refuse")
    name, data = _table("loan_approval.csv")
    dsid = _save(admin, "loans", name, data)
    for target, reason in (("Loan_ID", "identifier"),):
        with pytest.raises(ValidationError) as err:
            model_training.create_model(admin, {"model_name": "ids", "task": "classification", "target": target},
                                        dsid, run=False)
        assert err.value.field == "target" and reason in str(err.value)
        assert str(err.value).startswith("Target column 'Loan_ID' cannot be used")
        assert model_training.list_models(admin) == [], "nothing is stored"
    frame = pd.DataFrame({"x": range(40), "flag": ["same"] * 40})
    dsid2 = _save(admin, "constant", "constant.csv", frame.to_csv(index=False).encode())
    profile = model_config.target_profile(admin, dsid2, "flag")
    assert profile["problem"].startswith("Target column 'flag' cannot be used: it holds a single class")


def test_a_few_valued_number_asks_classes_or_amounts(server_database):
    admin = new_tenant("fewvalues")
    name, data = _table("winequality_red.csv")
    dsid = _save(admin, "wine", name, data)
    profile = model_config.target_profile(admin, dsid, "quality")
    assert profile["ask"] and profile["choices"] == ["regression", "classification"]
    assert "6 distinct numbers, from 3 to 8" in profile["question"]
    assert model_config.target_profile(admin, dsid, "quality", "classification")["classes"] == [3, 4, 5, 6, 7, 8]


def test_date_and_text_columns_are_inputs(server_database):
    admin = new_tenant("datetext")
    reviews = pd.read_csv(shared_file("sentiment", "amazon_reviews.csv")).head(400)
    reviews["posted"] = pd.date_range("2023-01-01", periods=len(reviews), freq="D").strftime("%Y-%m-%d")
    dsid = _save(admin, "reviews", "reviews.csv", reviews.to_csv(index=False).encode())
    plan = {x["column"]: x["kind"] for x in model_config.feature_plan(admin, dsid, ["text", "posted"])}
    assert plan == {"text": "text", "posted": "date"}
    model, version = _train(admin, dsid, {"model_name": "reviews", "task": "classification", "target": "label",
                                          "features": ["text", "posted"], "algorithm": "logistic_regression"})
    details = model_training.version_details(admin, version.id)
    assert {f["name"]: f["kind"] for f in details.feature_schema} == {"text": "text", "posted": "date"}
    assert version.metrics["roc_auc"] > 0.75
    out = predictions.predict_one(admin, model.id, {"text": "Great phone, works perfectly", "posted": "2024-02-01"})
    assert out.prediction in (0, 1) and out.label == "P(label)"


def test_a_library_failure_is_worded_for_the_analyst_and_logged_with_a_reference(server_database, monkeypatch,
                                                                                 caplog):
    admin = new_tenant("libfail")
    dsid = _credit(admin)

    def broken(*args, **kwargs):
        raise RuntimeError("Unknown label type: unknown")  # what scikit-learn said before issue 12

    monkeypatch.setattr(ml, "train_model", broken)
    model, job = model_training.create_model(admin, {"model_name": "credit", "task": "classification",
                                                     "target": "target"}, dsid, run=False)
    with caplog.at_level(logging.ERROR):
        assert jobs.run_job(admin.tenant_id, job.id) == "failed"
    error = registry.get_job(admin, job.id).error
    assert error.startswith("Training could not finish") and "Unknown label type" not in error
    ref = error.split("Reference ")[1][:8]
    assert any(ref in r.getMessage() and "Unknown label type" in (r.exc_text or "") for r in caplog.records)
    assert registry.list_versions(admin, model.id) == []
    monkeypatch.undo()
    retry, job2 = model_training.create_model(admin, {"model_name": "credit", "task": "classification",
                                                      "target": "target", "algorithm": "logistic_regression"},
                                              dsid, run=False)
    assert retry.id == model.id, "the retry after a failed first training trains the same model"
    assert jobs.run_job(admin.tenant_id, job2.id) == "succeeded"


# --------------------------------------------------------------- serving: transactions and batch warnings
def test_a_fresh_single_prediction_is_one_read_and_one_write_transaction(server_database):
    """With workflows wired as every process wires them: they match inside the write transaction (issue 16)."""
    from aihub.runtime.wiring import wire

    wire()
    admin = new_tenant("tx")
    dsid = _credit(admin)
    model, _ = _train(admin, dsid, {"model_name": "credit", "task": "classification", "target": "target",
                                    "algorithm": "logistic_regression"})
    heard = []

    def listener(tenant_id, event, payload):
        heard.append(payload["prediction_id"])

    events.subscribe(events.PREDICTION_MADE, listener)
    assert workflows.on_event_in in events._tx_subscribers[events.PREDICTION_MADE]
    begun = []

    def count(*_):
        begun.append(1)

    sa.event.listen(server_database.app, "begin", count)
    try:
        model_cache.forget()
        # artifact loaded inside the read; a repeated input is read and written in one transaction
        for i, expected in ((0, 2), (1, 2), (1, 1)):
            begun.clear()
            out = predictions.predict_one(admin, model.id, _row(_heart(), "target", i))
            assert len(begun) == expected, (i, len(begun))
        assert out.cache_hit and len(heard) == 2, "a fresh prediction publishes PREDICTION_MADE, a cached one not"
        with tenant_session(admin.tenant_id) as s:  # each call's usage is in its transaction (a Core insert now)
            used = s.execute(sa.select(UsageEvent.user_id, UsageEvent.feature, UsageEvent.action)
                             .where(UsageEvent.action == "single")).all()
        assert used == [(admin.user_id, "predict", "single")] * 3
    finally:
        sa.event.remove(server_database.app, "begin", count)
        events.unsubscribe(events.PREDICTION_MADE, listener)


def test_batch_warnings_are_counted_by_kind_and_the_score_is_named(server_database):
    admin = new_tenant("batchwarn")
    frame = pd.DataFrame({"housing": (["own", "rent", "free"] * 100)[:300], "amount": range(300)})
    frame["class"] = ["bad" if (i % 7 == 0 or h == "rent") else "good" for i, h in enumerate(frame["housing"])]
    dsid = _save(admin, "credit2", "c.csv", frame.to_csv(index=False).encode())
    model, _ = _train(admin, dsid, {"model_name": "c2", "task": "classification", "target": "class",
                                    "algorithm": "logistic_regression"})
    batch = pd.DataFrame({"housing": ["castle"] * 4 + ["own"] * 6 + ["boat"], "amount": range(11)})
    buf = io.BytesIO()
    batch.to_csv(buf, index=False)
    result = batch_predictions.predict_batch(admin, model.id, "b.csv", buf.getvalue())
    assert result.label == "P(bad)"
    assert result.warning_counts == [
        {"message": "housing = 'castle' was not seen in training; predicted as an unknown value", "rows": 4,
         "first_row": 1},
        {"message": "housing = 'boat' was not seen in training; predicted as an unknown value", "rows": 1,
         "first_row": 11},
    ]
