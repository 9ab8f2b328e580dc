"""The Predictions page and the predictive part of the Models page, through Streamlit's AppTest on the database."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from aihub import auth
from aihub.db import engine as dbengine
from aihub.demo import generate_customers
from aihub.services import batch_predictions, datasets, jobs, model_config, model_training, predictions, registry
from tests.conftest import PASSWORD, REPO, new_tenant

APP = str(REPO / "streamlit_app.py")


def _login(username: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "success", "info", "error", "warning", "caption")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.fixture
def srv(server_database):
    dbengine.set_database(server_database)
    return server_database


@pytest.fixture
def deployed(srv):
    """A tenant with a deployed churn model on generated customers."""
    admin = new_tenant("predpage")
    saved = datasets.save_upload(admin, "Customers", "customers.csv", _csv(generate_customers(800)))
    cfg = model_config.template_config(admin, "churn", saved.version.dataset_id, model_name="Churn",
                                     algorithm="random_forest", hyperparameters={"n_estimators": 30})
    model, job = model_training.create_model(admin, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
    registry.deploy(admin, model.id, registry.list_versions(admin, model.id)[0].id)
    return admin, model


def test_single_prediction_batch_outcomes_and_statistics(deployed):
    admin, model = deployed
    at = _login(admin.username)
    at.switch_page("app_pages/predictions.py").run()
    assert not at.exception, at.exception
    assert "Predictions" in [t.value for t in at.title]
    assert "Champion: version 1" in _texts(at)
    at.selectbox(key=f"f_{model.id}_Contract").select("Month-to-month")
    at.number_input(key=f"f_{model.id}_Tenure Months").set_value(2)
    at.button(key="predict_one").click()
    at.run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Prediction"] in ("Yes", "No") and "P(Churned)" in labels and "Confidence" in labels
    assert any(i.value.startswith("P(Churned) ") and "driven" in i.value for i in at.info)
    assert at.get("plotly_chart"), "the waterfall of the reasons is drawn"
    (rec,) = predictions.list_predictions(admin, model.id)
    assert rec.served_by == "champion" and rec.requested_by == admin.username

    at.session_state["pred_tab"] = "Compare two"
    at.run()
    at.multiselect(key=f"cmp_features_{model.id}").select("Contract")
    at.run()
    at.selectbox(key=f"b_{model.id}_Contract").select("Two year")
    at.button(key="compare").click()
    at.run()
    assert not at.exception, at.exception
    assert any("P(Churned) fell" in i.value and "Contract changed" in i.value for i in at.info)

    at.session_state["pred_tab"] = "Batch"
    at.run()
    batch = generate_customers(30, seed=4, start=900).drop(columns="Churned").astype({"Support Calls": object})
    batch.loc[4, "Support Calls"] = "many"
    at.file_uploader(key="batch_file").set_value(("new.csv", _csv(batch), "text/csv"))
    at.run()
    at.button(key="batch_predict").click()
    at.run()
    assert not at.exception, at.exception
    assert "Predicted 29 of 30 rows of **new.csv**" in _texts(at)
    assert "1 row(s) could not be predicted" in _texts(at)
    errors = at.dataframe[0].value
    assert errors.iloc[0]["row"] == 5 and errors.iloc[0]["line"] == 6 and "Support Calls" in errors.iloc[0]["message"]
    assert at.get("download_button"), "results can be downloaded"
    stored = batch_predictions.list_batches(admin, model.id)[0]
    assert (stored.rows_total, stored.rows_failed) == (30, 1)

    at.session_state["pred_tab"] = "Outcomes"
    at.run()
    at.number_input(key="fb_id").set_value(rec.id)
    at.text_input(key="fb_actual").input("yes")
    at.button(key="fb_record").click()
    at.run()
    assert not at.exception, at.exception
    assert f"Recorded 'Yes' for prediction #{rec.id}" in _texts(at)

    at.session_state["pred_tab"] = "Serving statistics"
    at.run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Predictions"] == "31" and labels["Error rate"] == "3.2 %" and labels["Latency p50"].endswith("ms")


def test_a_viewer_sees_the_page_but_cannot_predict(deployed):
    admin, _ = deployed
    auth.add_user(admin, f"viewer-{admin.tenant_id}@ex.com", "V", "viewer", PASSWORD)
    at = _login(f"viewer-{admin.tenant_id}@ex.com")
    at.switch_page("app_pages/predictions.py").run()
    assert not at.exception, at.exception
    assert "Your role can view predictions but not make them." in _texts(at)
    assert at.button(key="predict_one").disabled


def _wait(principal, job_id: int, seconds: float = 180):
    deadline = time.time() + seconds
    while not registry.get_job(principal, job_id).done and time.time() < deadline:
        time.sleep(0.3)
    return registry.get_job(principal, job_id)


def test_models_page_trains_from_a_template_compares_and_sets_a_challenger(srv):
    admin = new_tenant("mlpage")
    datasets.save_upload(admin, "Customers", "customers.csv", _csv(generate_customers(800)))
    at = _login(admin.username)
    at.switch_page("app_pages/models.py").run()
    at.session_state["models_tab"] = "New prediction model"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ml_template").value == "churn"
    assert at.selectbox(key="ml_target").value == "Churned"
    assert "Customer ID" not in at.multiselect(key="ml_features").value
    assert "Left out — Customer ID" in _texts(at)
    assert at.selectbox(key="ml_hp_auto_class_weight").value == "balanced"
    at.selectbox(key="ml_algorithm").select("random_forest")
    at.run()
    at.number_input(key="ml_hp_random_forest_n_estimators").set_value(30)
    at.text_input(key="ml_name").input("Page churn")
    at.button(key="ml_train").click()
    at.run()
    assert not at.exception, at.exception
    model = model_training.list_models(admin)[0]
    job = registry.list_jobs(admin, model.id)[0]
    assert _wait(admin, job.id).status == "succeeded", registry.get_job(admin, job.id).error
    at.run()
    assert "Training of **Page churn** finished" in _texts(at)
    v1 = registry.list_versions(admin, model.id)[0]
    assert v1.algorithm == "random_forest" and v1.params["hyperparameters"]["n_estimators"] == 30

    # the same configuration as JSON, with a bad field, then a second version with another algorithm
    at.session_state["models_tab"] = "New prediction model"
    at.run()
    at.checkbox(key="ml_use_json").check()
    at.text_area(key="ml_json").input('{"model_name": "bad", "model_type": "churn_prediction", '
                                      '"algorithm": "random_forest", "hyperparameters": {"max_depth": 0}}')
    at.button(key="ml_train").click()
    at.run()
    assert any("hyperparameters.max_depth must be an integer from 1 to 100" in e.value for e in at.error)
    lr = {**model_training.version_details(admin, v1.id).config, "algorithm": "logistic_regression", "hyperparameters": {}}
    job2 = model_training.train(admin, model.id, lr)
    assert _wait(admin, job2.id).status == "succeeded"

    at.session_state["models_tab"] = "Models and versions"
    at.session_state["selected_model"] = model.id
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="version_pick").select(1)
    at.run()
    at.button(key="deploy").click()
    at.run()
    assert registry.get_model(admin, model.id).active_version == 1
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("ROC curve" in s for s in titles) and any("Confusion matrix" in s for s in titles)
    assert len(at.dataframe[0].value) == 2  # the versions table
    compare = at.dataframe[1].value
    assert compare["version"].tolist() == [2, 1] and {"ROC AUC", "Brier score"} <= set(compare.columns)  # plain names (issue 9)
    at.selectbox(key="version_pick").select(2)
    at.run()
    at.number_input(key="challenger_pct").set_value(20)
    at.button(key="set_challenger").click()
    at.run()
    assert not at.exception, at.exception
    rec = registry.get_model(admin, model.id)
    assert (rec.challenger_version, rec.challenger_share) == (2, 0.2)
    assert "challenger: version 2 takes 20% of predictions" in _texts(at)
    at.button(key="promote_challenger").click()
    at.run()
    assert registry.get_model(admin, model.id).active_version == 2
    at.selectbox(key="version_pick").select(1)
    at.run()
    at.button(key="delete_version").click()
    at.run()
    assert not at.exception, at.exception
    assert "Deleted version 1." in _texts(at)
    assert [v.version for v in registry.list_versions(admin, model.id)] == [2]


def test_rfm_template_asks_for_the_orders_columns(srv, superstore_bytes):
    admin = new_tenant("rfmpage")
    datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    at = _login(admin.username)
    at.switch_page("app_pages/models.py").run()
    at.session_state["models_tab"] = "New prediction model"
    at.run()
    at.selectbox(key="ml_template").select("rfm_segmentation")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ml_model_type").value == "customer_segmentation"
    assert at.selectbox(key="ml_prep_customer_column").value == "Customer ID"
    assert at.selectbox(key="ml_prep_date_column").value == "Order Date"
    assert at.selectbox(key="ml_prep_amount_column").value == "Sales"
    assert at.selectbox(key="ml_algorithm").value == "kmeans"
    assert at.number_input(key="ml_hp_kmeans_n_clusters").value == 5
