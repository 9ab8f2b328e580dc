"""Issue 10, low item: a forecast screen or call given a prediction model's id says so, never a TypeError.

Before the fix ``forecast_view`` read a prediction model's configuration as a forecast's
(``ForecastSpec(**config)``) and raised ``TypeError`` (an uncaught traceback on the screen), and ``train``
queued a forecast job for it that failed the same way.
"""

from __future__ import annotations

import pytest

from aihub.errors import NotFound
from aihub.services import datasets, forecasts, jobs, registry
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from tests.conftest import shared_file


def test_a_prediction_models_id_is_not_a_forecast(tenant):
    data = shared_file("telco_churn", "telco_customer_churn.csv").read_bytes()
    saved = datasets.save_upload(tenant, "telco", "telco.csv", data)
    cfg = template_config(tenant, "churn", saved.version.dataset_id)
    cfg.update({"model_name": "churn", "algorithm": "logistic_regression"})
    model, job = create_model(tenant, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded", registry.get_job(tenant, job.id).error
    version = registry.list_versions(tenant, model.id)[0]
    registry.deploy(tenant, model.id, version.id)

    for call in (lambda: forecasts.forecast_view(tenant, model.id),
                 lambda: forecasts.forecast_view(tenant, model.id, version.id),
                 lambda: forecasts.forecast_csv(tenant, model.id),
                 lambda: forecasts.train(tenant, model.id, run=False)):
        with pytest.raises(NotFound, match="is a prediction model, not a forecast"):
            call()
    assert len(registry.list_versions(tenant, model.id)) == 1
