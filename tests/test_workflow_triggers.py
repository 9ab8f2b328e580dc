"""Prediction and accuracy-drop events reach workflows (the two triggers fired by the predictive service)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from aihub import workflows
from aihub.demo import generate_customers
from aihub.services import datasets, jobs, registry
from aihub.services.batch_predictions import predict_batch
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from aihub.services.outcomes import live_accuracy, record_outcomes
from aihub.services.predictions import predict_one


@pytest.fixture
def churn(tenant):
    saved = datasets.save_upload(tenant, "customers", "customers.csv",
                                 generate_customers(600).to_csv(index=False).encode())
    cfg = template_config(tenant, "churn", saved.version.dataset_id, model_name="churn",
                                     algorithm="logistic_regression")
    model, job = create_model(tenant, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded"
    registry.deploy(tenant, model.id, registry.list_versions(tenant, model.id)[0].id)
    return model


def _tasks(tenant, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        tasks = workflows.list_tasks(tenant)
        if tasks:
            return tasks
        time.sleep(0.3)
    return []


def test_a_high_churn_risk_prediction_starts_a_workflow(tenant, churn):
    workflows.create_workflow(tenant, {
        "name": "Call risky customers",
        "trigger": {"type": "prediction", "model_id": churn.id, "field": "probability", "direction": "above",
                    "threshold": 0.5},
        "actions": [{"type": "create_task", "assignee": tenant.username, "title": "Call customer (risk high)"}]})
    risky = generate_customers(1, seed=5).drop(columns="Churned").iloc[0].to_dict()
    risky.update({"Contract": "Month-to-month", "Tenure Months": 1, "Support Calls": 6,
                  "Internet Service": "Fiber optic", "Payment Method": "Electronic check"})
    out = predict_one(tenant, churn.id, risky, explain=False)
    assert out.probability > 0.5
    assert [t.title for t in _tasks(tenant)] == ["Call customer (risk high)"]
    safe = dict(risky, **{"Contract": "Two year", "Tenure Months": 70, "Support Calls": 0,
                          "Internet Service": "DSL", "Payment Method": "Credit card"})
    assert predict_one(tenant, churn.id, safe, explain=False).probability < 0.5
    time.sleep(1)
    assert len(workflows.list_tasks(tenant)) == 1


def test_a_live_accuracy_drop_starts_a_workflow_once(tenant, churn):
    workflows.create_workflow(tenant, {
        "name": "Accuracy watch", "trigger": {"type": "accuracy_drop", "model_id": churn.id, "tolerance": 0.05},
        "actions": [{"type": "create_task", "assignee": tenant.username, "title": "Check the churn model"}]})
    new = generate_customers(60, seed=9, start=7000)
    batch = predict_batch(tenant, churn.id, "new.csv", new.drop(columns="Churned").to_csv(index=False).encode())
    wrong = batch.results["prediction"].map({"Yes": "No", "No": "Yes"})
    outcomes = pd.DataFrame({"prediction_id": batch.results["prediction_id"], "actual": wrong})
    record_outcomes(tenant, "outcomes.csv", outcomes.to_csv(index=False).encode())
    (acc,) = [a for a in live_accuracy(tenant, churn.id) if a.role == "champion"]
    assert acc.flagged and acc.live_accuracy == 0.0
    assert [t.title for t in _tasks(tenant)] == ["Check the churn model"]
    record_outcomes(tenant, "outcomes.csv", outcomes.to_csv(index=False).encode())
    time.sleep(1)
    assert len(workflows.list_tasks(tenant)) == 1, "the same drop starts the workflow once"
