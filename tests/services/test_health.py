"""Drift and model health of a deployed churn model, on real PostgreSQL and real Telco data."""

from __future__ import annotations

import pandas as pd
import pytest

from aihub.errors import ValidationError
from aihub.services import datasets, health, jobs, registry
from aihub.services.batch_predictions import predict_batch
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from tests.conftest import shared_file
from tests.fixtures import _app, _login, _texts


@pytest.fixture
def churn_model(tenant):
    data = shared_file("telco_churn", "telco_customer_churn.csv").read_bytes()
    saved = datasets.save_upload(tenant, "telco", "telco.csv", data)
    cfg = template_config(tenant, "churn", saved.version.dataset_id)
    cfg.update({"model_name": "churn", "algorithm": "logistic_regression"})
    model, job = create_model(tenant, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded", registry.get_job(tenant, job.id).error
    registry.deploy(tenant, model.id, registry.list_versions(tenant, model.id)[0].id)
    return model, datasets.load_frame(tenant, saved.version.id)


def _predict(tenant, model_id, rows: pd.DataFrame) -> None:
    predict_batch(tenant, model_id, "recent.csv", rows.to_csv(index=False).encode())


def test_no_drift_on_customers_like_the_training_data(tenant, churn_model):
    model, frame = churn_model
    _predict(tenant, model.id, frame.sample(400, random_state=1).drop(columns=["Churn"]))
    rec = health.check_drift(tenant, model.id)
    assert not rec.dataset_drift and rec.current_rows == 400
    verdict = health.model_health(tenant, model.id)
    assert verdict.status == "healthy", verdict.reasons
    assert any("Input drift: 0 of" in r for r in verdict.reasons)


def test_drift_on_shifted_customers_degrades_the_model(tenant, churn_model):
    model, frame = churn_model
    shifted = frame[frame["Contract"] == "Month-to-month"].sample(400, random_state=2).drop(columns=["Churn"])
    shifted["tenure"] = shifted["tenure"] + 36
    shifted["MonthlyCharges"] = shifted["MonthlyCharges"] * 1.6
    _predict(tenant, model.id, shifted)
    rec = health.check_drift(tenant, model.id)
    drifted = {f["feature"] for f in rec.report["features"] if f["drifted"]}
    assert {"tenure", "Contract", "MonthlyCharges"} <= drifted
    tenure = next(f for f in rec.report["features"] if f["feature"] == "tenure")
    assert tenure["test"] and tenure["statistic"] > tenure["threshold"]
    verdict = health.model_health(tenant, model.id)
    assert any("tenure" in r for r in verdict.reasons)
    assert verdict.checks["share_drifted"] == rec.share_drifted


def test_too_few_inputs_is_a_clear_error(tenant, churn_model):
    model, frame = churn_model
    _predict(tenant, model.id, frame.head(5).drop(columns=["Churn"]))
    with pytest.raises(ValidationError, match="Only 5 predictions"):
        health.check_drift(tenant, model.id)


def test_models_page_shows_health_and_drift(server_database):
    from tests.conftest import PASSWORD, new_tenant

    admin = new_tenant("healthpage")
    data = shared_file("telco_churn", "telco_customer_churn.csv").read_bytes()
    saved = datasets.save_upload(admin, "telco", "telco.csv", data)
    cfg = template_config(admin, "churn", saved.version.dataset_id)
    cfg.update({"model_name": "churn", "algorithm": "logistic_regression"})
    model, job = create_model(admin, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded"
    registry.deploy(admin, model.id, registry.list_versions(admin, model.id)[0].id)
    frame = datasets.load_frame(admin, saved.version.id)
    _predict(admin, model.id, frame.sample(200, random_state=3).drop(columns=["Churn"]))

    at = _login(_app(), admin.username, PASSWORD)
    at.session_state["models_tab"] = "Models and versions"
    at.switch_page("app_pages/models.py").run()
    assert not at.exception, at.exception
    assert "Input drift has not been checked yet." in _texts(at)
    at.button(key="check_drift").click().run()
    assert not at.exception, at.exception
    assert "Model health: **healthy**" in _texts(at)
    assert any("Input drift on 200 recent inputs" in e.label for e in at.expander)
