"""Signed artifacts: round trips, and refusal of tampered, foreign, oversize and untrusted files."""

from __future__ import annotations

import copy
import os
import stat

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from aihub.errors import ArtifactError, ValidationError
from aihub.ml import dump_artifact, load_artifact, predict, read_metadata, resolve_key, suggest_config, train_model
from aihub.ml.artifacts import MAGIC
from tests.conftest import DATA

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv", nrows=900)


@pytest.fixture(scope="module")
def model(telco):
    return train_model({"model_type": "churn_prediction", "target": "Churn", "algorithm": "logistic_regression"}, telco)


@pytest.fixture(scope="module")
def blob(model):
    return dump_artifact(model, KEY)


@pytest.mark.parametrize(
    "config",
    [
        {"task": "classification", "target": "Churn", "algorithm": "random_forest", "hyperparameters": {"n_estimators": 10}},
        {"task": "classification", "target": "Churn", "algorithm": "gradient_boosting", "hyperparameters": {"max_iter": 20}},
        {"task": "classification", "target": "Contract", "algorithm": "gradient_boosting", "hyperparameters": {"max_iter": 10}},
        {"task": "regression", "target": "MonthlyCharges", "algorithm": "ridge"},
        {"task": "regression", "target": "MonthlyCharges", "algorithm": "gradient_boosting", "hyperparameters": {"max_iter": 20}},
        {"task": "clustering", "algorithm": "kmeans", "features": ["tenure", "Contract"], "hyperparameters": {"n_clusters": 3}},
    ],
    ids=["forest", "boosting", "boosting-multiclass", "ridge", "boosting-regression", "kmeans"],
)
def test_round_trip_of_every_model_kind(config, telco):
    m = train_model({**config, "validation_split": 0.0}, telco.head(500))
    loaded = load_artifact(dump_artifact(m, KEY), KEY)
    x = telco.iloc[500:540]
    a, b = predict(m, x), predict(loaded, x)
    pd.testing.assert_frame_equal(a, b)


def test_round_trip_keeps_metadata_and_predictions(model, blob, telco):
    assert blob.startswith(MAGIC)
    loaded = load_artifact(blob, KEY)
    assert loaded.config == model.config
    assert loaded.metrics == model.metrics and loaded.data_hash == model.data_hash
    assert [f.to_dict() for f in loaded.feature_schema] == [f.to_dict() for f in model.feature_schema]
    assert loaded.versions == model.versions and loaded.classes == ["No", "Yes"]
    pd.testing.assert_frame_equal(loaded.explain_background, model.explain_background)
    x = telco.tail(25)
    np.testing.assert_allclose(predict(loaded, x)["probability"], predict(model, x)["probability"])
    meta = read_metadata(blob, KEY)
    assert meta["metrics"]["roc_auc"] == model.metrics["roc_auc"] and meta["config"]["target"] == "Churn"


@pytest.mark.parametrize("where", [-40, -100, len(MAGIC) + 40, 200])
def test_tampered_artifact_is_refused(blob, where):
    bad = bytearray(blob)
    bad[where] ^= 0x01
    with pytest.raises(ArtifactError, match="signature does not match"):
        load_artifact(bytes(bad), KEY)


def test_wrong_key_truncated_and_foreign_files_are_refused(model, blob):
    with pytest.raises(ArtifactError, match="signed with a different key"):
        load_artifact(blob, b"another-key-of-32-bytes-length!!")
    with pytest.raises(ArtifactError):
        load_artifact(blob[:-1], KEY)
    with pytest.raises(ArtifactError, match="not an AI Analytics Hub model file"):
        load_artifact(sio.dumps(model.pipeline), KEY)  # a bare skops file
    with pytest.raises(ArtifactError, match="not an AI Analytics Hub model file"):
        load_artifact(os.urandom(4096), KEY)
    with pytest.raises(ArtifactError):
        load_artifact("not bytes", KEY)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as err:
        load_artifact(blob, b"short")
    assert err.value.field == "key"


def test_oversize_artifacts_are_refused_before_parsing(model, blob):
    with pytest.raises(ArtifactError, match="above the") as err:
        load_artifact(blob, KEY, max_bytes=len(blob) - 1)
    assert err.value.details["bytes"] == len(blob)
    assert load_artifact(blob, KEY, max_bytes=len(blob)) is not None
    with pytest.raises(ArtifactError, match="above the"):
        dump_artifact(model, KEY, max_bytes=1000)


def test_validly_signed_artifact_with_untrusted_type_is_refused(model):
    evil = copy.copy(model)
    evil.pipeline = Pipeline(
        [("prepare", model.pipeline.named_steps["prepare"]), ("preprocess", model.pipeline.named_steps["preprocess"]), ("model", FunctionTransformer(func=os.system))]
    )
    blob = dump_artifact(evil, KEY)  # correctly signed: only the type list protects us
    with pytest.raises(ArtifactError, match="not on the trusted list") as err:
        load_artifact(blob, KEY)
    assert any("system" in t for t in err.value.details["untrusted_types"])


def test_rfm_model_round_trip_predicts_from_orders():
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    m = train_model(suggest_config("rfm_segmentation", orders), orders)
    loaded = load_artifact(dump_artifact(m, KEY), KEY)
    assert loaded.segments == m.segments
    pd.testing.assert_frame_equal(predict(loaded, orders), predict(m, orders))


def test_resolve_key_from_env_and_created_file(tmp_path, monkeypatch):
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY", raising=False)
    monkeypatch.delenv("AIHUB_ARTIFACT_KEY_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ArtifactError, match="no artifact key"):
        resolve_key()
    key, source = resolve_key(create=True)
    path = tmp_path / ".aihub" / "artifact.key"
    assert source == f"file:{path}" and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert resolve_key() == (key, source)  # stable on the next call
    monkeypatch.setenv("AIHUB_ARTIFACT_KEY", "x" * 40)
    assert resolve_key() == (b"x" * 40, "env:AIHUB_ARTIFACT_KEY")
    monkeypatch.setenv("AIHUB_ARTIFACT_KEY", "short")
    with pytest.raises(ValidationError):
        resolve_key()
