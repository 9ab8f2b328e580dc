"""Predictive models through the aihub services, on real PostgreSQL.

Fast paths (generated demo customers, a logistic regression) run on both
backends; the Telco and Superstore paths train once on the local server.
"""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from aihub import auth
from aihub.charts import predictions as predictive_charts
from aihub.db import engine as dbengine
from aihub.db import prediction_store as ps
from aihub.db.session import tenant_session
from aihub.demo import generate_customers
from aihub.errors import ArtifactError, Conflict, DatabaseError, NotFound, PermissionDenied, ValidationError
from aihub.services import (
    batch_predictions,
    dashboard,
    datasets,
    jobs,
    model_cache,
    model_config,
    model_training,
    outcomes,
    predictions,
    registry,
)
from tests.conftest import PASSWORD, new_tenant, shared_file
from tests.fixtures import _csv, _quick_model


def _train(principal, model_id, config=None):
    """Train one more version inline; returns its record."""
    job = model_training.train(principal, model_id, config, run=False)
    status = jobs.run_job(principal.tenant_id, job.id)
    assert status == "succeeded", registry.get_job(principal, job.id).error
    return registry.list_versions(principal, model_id)[0]




# ------------------------------------------------------------- both backends
def test_config_errors_name_the_field_and_the_issue_json_fills_its_target(tenant):
    saved = datasets.save_upload(tenant, "customers", "c.csv", _csv(generate_customers(300)))
    dsid = saved.version.dataset_id
    with pytest.raises(ValidationError) as err:
        model_config.check_config(tenant, {"model_name": "m", "model_type": "churn_prediction", "algorithm":
                                         "random_forest", "hyperparameters": {"max_depth": 0}}, dsid)
    assert err.value.field == "hyperparameters.max_depth" and "from 1 to 100" in str(err.value)
    with pytest.raises(ValidationError) as err:
        model_config.check_config(tenant, {"model_name": "m", "task": "classification", "target": "Nope"}, dsid)
    assert err.value.field == "target" and "Contract" in str(err.value)
    with pytest.raises(ValidationError) as err:
        model_config.check_config(tenant, {"model_name": "m", "model_type": "churn_prediction", "algorithm": "magic"},
                                dsid)
    assert err.value.field == "algorithm" and "random_forest" in str(err.value)
    issue_json = {"model_name": "churn_2024", "model_type": "churn_prediction", "algorithm": "random_forest",
                  "hyperparameters": {"n_estimators": 100, "max_depth": 10, "min_samples_split": 2},
                  "feature_engineering": {"normalize": True, "handle_missing": "mean"},
                  "validation_split": 0.2, "test_split": 0.1}
    cfg = model_config.check_config(tenant, issue_json, dsid)
    assert cfg["target"] == "Churned" and cfg["hyperparameters"]["max_depth"] == 10
    warnings = model_config.feature_warnings(tenant, dsid, "Churned")
    assert ("Customer ID", "id_like") in {(w["column"], w["kind"]) for w in warnings}
    options = model_config.form_options(tenant)
    assert {t["key"] for t in options["templates"]} == {"churn", "lead_scoring", "rfm_segmentation",
                                                        "customer_lifetime_value"}
    assert "n_estimators" in {s["name"] for s in options["hyperparameters"]["classification"]["random_forest"]}


def test_tampered_artifact_is_refused_with_a_clear_error(tenant, use_db):
    model, version = _quick_model(tenant)
    row = generate_customers(1, seed=5).iloc[0].to_dict()
    assert predictions.predict_one(tenant, model.id, row).prediction in ("Yes", "No")
    with use_db.owner.begin() as conn:  # flip one byte in the middle of the stored artifact, as the owner
        conn.execute(sa.text("UPDATE model_versions SET artifact = set_byte(artifact, length(artifact) / 2, "
                             "(get_byte(artifact, length(artifact) / 2) + 1) % 256) WHERE id = :v"),
                     {"v": version.id})
    model_cache.forget()  # a fresh process: the verified model is not in memory
    with pytest.raises(ArtifactError) as err:
        predictions.predict_one(tenant, model.id, row)
    text = str(err.value)
    assert "Version 1 of this model was refused and not loaded" in text and "signature does not match" in text
    assert "Traceback" not in text


def test_permissions_follow_the_role_table(tenant):
    model, version = _quick_model(tenant)
    auth.add_user(tenant, f"viewer-{tenant.tenant_id}@ex.com", "V", "viewer", PASSWORD)
    auth.add_user(tenant, f"analyst-{tenant.tenant_id}@ex.com", "A", "analyst", PASSWORD)
    viewer = auth.principal_for(f"viewer-{tenant.tenant_id}@ex.com")
    analyst = auth.principal_for(f"analyst-{tenant.tenant_id}@ex.com")
    row = generate_customers(1, seed=6).iloc[0].to_dict()
    # viewer: read only
    assert predictions.prediction_form(viewer, model.id).features
    assert predictions.serving_stats(viewer, model.id).count == 0
    assert [m.id for m in model_training.list_models(viewer)] == [model.id]
    for call in (lambda: predictions.predict_one(viewer, model.id, row),
                 lambda: batch_predictions.predict_batch(viewer, model.id, "x.csv", _csv(generate_customers(3))),
                 lambda: model_training.train(viewer, model.id),
                 lambda: registry.set_challenger(viewer, model.id, version.id, 0.2)):
        with pytest.raises(PermissionDenied):
            call()
    # analyst: predicts and records outcomes, but deleting a version needs manage
    out = predictions.predict_one(analyst, model.id, row)
    with pytest.raises(PermissionDenied, match="feedback"):
        outcomes.record_outcome(viewer, out.id, "Yes")
    assert outcomes.record_outcome(analyst, out.id, "yes").actual == "Yes"
    with pytest.raises(PermissionDenied, match="manage"):
        registry.delete_version(analyst, model.id, version.id)
    assert predictions.get_prediction(viewer, out.id).requested_by == analyst.username


def test_prediction_results_are_isolated_between_tenants(tenant):
    model, version = _quick_model(tenant)
    batch = batch_predictions.predict_batch(tenant, model.id, "c.csv", _csv(generate_customers(50, seed=3)))
    pid = int(batch.results["prediction_id"].iloc[0])
    other = new_tenant("other")
    with pytest.raises(NotFound):
        predictions.get_prediction(other, pid)
    with pytest.raises(NotFound):
        outcomes.record_outcome(other, pid, "Yes")
    with pytest.raises(NotFound):
        predictions.serving_stats(other, model.id)
    with pytest.raises(NotFound):
        predictions.predict_one(other, model.id, {})
    with tenant_session(other.tenant_id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM prediction_results")).scalar() == 0
        assert s.execute(sa.text("SELECT count(*) FROM prediction_batches")).scalar() == 0
    row = {"model_version_id": [version.id], "served_by": ["champion"], "row_number": [None], "input": ["{}"],
           "input_hash": ["h"], "output": ["{}"], "prediction": ["Yes"], "probability": [None],
           "confidence": [None], "latency_ms": [1.0], "cache_hit": [False], "error": [None]}
    # the policy's WITH CHECK refuses a row for another tenant
    with pytest.raises(DatabaseError, match="row-level security"), tenant_session(other.tenant_id) as s:
        ps.insert_results(s, tenant_id=tenant.tenant_id, model_id=model.id, batch_id=None, requested_by=None,
                          columns=row)
    fb = outcomes.record_outcomes(other, "o.csv", _csv(pd.DataFrame({"prediction_id": [pid], "actual": ["Yes"]})))
    assert fb.updated == 0 and "no prediction" in fb.errors[0]["message"]
    assert predictions.get_prediction(tenant, pid).actual is None


def test_a_cancelled_or_failed_training_leaves_no_version(tenant, use_db):
    saved = datasets.save_upload(tenant, "customers", "c.csv", _csv(generate_customers(300)))
    cfg = model_config.template_config(tenant, "churn", saved.version.dataset_id, model_name="m",
                                     algorithm="logistic_regression")
    model, job = model_training.create_model(tenant, cfg, saved.version.dataset_id, run=False)
    with use_db.owner.begin() as conn:  # the user pressed cancel after it was queued, before a runner started
        conn.execute(sa.text("UPDATE training_jobs SET cancel_requested = true WHERE id = :j"), {"j": job.id})
    assert jobs.run_job(tenant.tenant_id, job.id) == "cancelled"
    assert "nothing was saved" in registry.get_job(tenant, job.id).error
    # a constant outcome cannot train a classifier: the job fails, says why, saves nothing
    frame = generate_customers(300)
    frame["Churned"] = "No"
    datasets.save_upload(tenant, "customers", "c2.csv", _csv(frame))
    job2 = model_training.train(tenant, model.id, run=False)
    assert jobs.run_job(tenant.tenant_id, job2.id) == "failed"
    failed = registry.get_job(tenant, job2.id)
    assert "class" in failed.error.lower() and "Traceback" not in failed.error
    assert registry.list_versions(tenant, model.id) == []


def test_bulk_insert_stores_every_row_once(tenant):
    model, version = _quick_model(tenant, deploy=False)
    n = 5000
    cols = {
        "model_version_id": [version.id] * n, "served_by": ["champion"] * n, "row_number": list(range(1, n + 1)),
        "input": ['{"x": ' + str(i) + ', "name": "O\'Brien \\"q\\""}' for i in range(n)], "input_hash": ["h"] * n,
        "output": ['{"prediction": "Yes"}'] * n, "prediction": ["Yes"] * n,
        "probability": [0.5 if i % 2 else None for i in range(n)], "confidence": [0.5] * n,
        "latency_ms": [0.1] * n, "cache_hit": [False] * n, "error": [None] * n,
    }
    with tenant_session(tenant.tenant_id) as s:
        ids = ps.insert_results(s, tenant_id=tenant.tenant_id, model_id=model.id, batch_id=None,
                                requested_by=tenant.user_id, columns=cols)
    assert sorted(r for _, r in ids) == list(range(1, n + 1)) and len({i for i, _ in ids}) == n
    with tenant_session(tenant.tenant_id) as s:
        row = s.execute(sa.text("SELECT input, probability FROM prediction_results WHERE row_number = 8")).one()
    assert row[0] == {"x": 7, "name": "O'Brien \"q\""} and row[1] == 0.5
    assert predictions.serving_stats(tenant, model.id).count == n


def test_generated_segmentation_names_segments_and_rejects_outcomes(tenant):
    rng = np.random.default_rng(1)
    n = 1500
    orders = pd.DataFrame({
        "Order ID": [f"O{i}" for i in range(n)],
        "Order Date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "Customer ID": [f"C{c:03d}" for c in rng.integers(0, 200, n)],
        "Sales": np.round(rng.lognormal(4, 1, n), 2),
    })
    orders["Order Date"] = orders["Order Date"].dt.strftime("%Y-%m-%d")
    saved = datasets.save_upload(tenant, "orders", "orders.csv", _csv(orders))
    cfg = model_config.template_config(tenant, "rfm_segmentation", saved.version.dataset_id, model_name="rfm")
    model, job = model_training.create_model(tenant, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded", registry.get_job(tenant, job.id).error
    version = registry.list_versions(tenant, model.id)[0]
    names = {s["name"] for s in version.metrics["segments"].values()}
    assert names == {"high-value", "loyal", "new", "at-risk", "dormant"}
    registry.deploy(tenant, model.id, version.id)
    out = predictions.predict_one(tenant, model.id, {"recency_days": 3, "frequency": 20, "monetary": 9000})
    assert out.prediction in names
    with pytest.raises(ValidationError, match="no outcome"):
        outcomes.record_outcome(tenant, out.id, "loyal")


# ------------------------------------------------------ Telco on the server
@pytest.fixture(scope="module")
def telco_bytes() -> bytes:
    return shared_file("telco_churn", "telco_customer_churn.csv").read_bytes()


@pytest.fixture(scope="module")
def churn_setup(_server_database_session, telco_bytes):
    """A Telco churn model from the template: v1 random forest, v2 logistic regression (trained once)."""
    dbengine.set_database(_server_database_session)
    admin = new_tenant("telco")
    saved = datasets.save_upload(admin, "Telco", "telco.csv", telco_bytes)
    dsid = saved.version.dataset_id
    cfg = model_config.template_config(admin, "churn", dsid, model_name="Telco churn", algorithm="random_forest",
                                     hyperparameters={"n_estimators": 60, "class_weight": "balanced"})
    model, job = model_training.create_model(admin, cfg, dsid, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
    v1 = registry.list_versions(admin, model.id)[0]
    lr = model_config.template_config(admin, "churn", dsid, model_name="Telco churn", algorithm="logistic_regression")
    v2 = _train(admin, model.id, lr)
    return {"admin": admin, "model": model, "v1": v1, "v2": v2, "dataset_id": dsid, "job": job}


@pytest.fixture
def churn(churn_setup, server_database):
    dbengine.set_database(server_database)
    model_cache.forget()
    return churn_setup


@pytest.fixture(scope="module")
def telco_frame(telco_bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(telco_bytes), dtype=str, keep_default_na=False)


def test_telco_churn_from_the_template_stores_a_complete_version(churn):
    admin, v1 = churn["admin"], churn["v1"]
    job = registry.get_job(admin, churn["job"].id)
    assert (job.status, job.progress, job.model_version_id) == ("succeeded", 1.0, v1.id)
    m = v1.metrics
    assert m["roc_auc"] > 0.8 and 0.7 < m["accuracy"] < 0.9
    assert np.asarray(m["confusion_matrix"]["matrix"]).sum() == m["n_rows"] == pytest.approx(0.2 * 7043, abs=2)
    assert m["roc_curve"]["tpr"][-1] == 1.0 and m["pr_curve"]["recall"]
    assert m["global_importance"][0]["feature"] in {"tenure", "Contract", "TotalCharges"}
    assert len(v1.training_data_hash) == 64 and v1.training_seconds > 0
    assert v1.library_versions["scikit-learn"] and v1.artifact_format == model_config.ARTIFACT_FORMAT
    assert v1.params["classes"] == ["No", "Yes"] and v1.params["excluded_columns"] == {
        "customerID": "excluded by configuration"}
    details = model_training.version_details(admin, v1.id)
    schema = {f["name"]: f for f in details.feature_schema}
    assert schema["Contract"]["categories"][0] == "Month-to-month" and schema["tenure"]["max"] == 72
    assert details.config["algorithm"] == "random_forest" and details.config["hyperparameters"]["n_estimators"] == 60
    with tenant_session(admin.tenant_id) as s:
        blob = s.execute(sa.text("SELECT artifact FROM model_versions WHERE id = :v"), {"v": v1.id}).scalar()
    assert bytes(blob).startswith(b"AIHUB-MODEL\n")


def test_two_versions_compare_side_by_side(churn):
    admin, model = churn["admin"], churn["model"]
    table = model_training.compare_versions(admin, model.id)
    assert table["version"].tolist() == [2, 1]
    assert table["algorithm"].tolist() == ["logistic_regression", "random_forest"]
    assert (table["roc_auc"] > 0.8).all() and {"precision", "recall", "f1"} <= set(table.columns)
    versions = registry.list_versions(admin, model.id)
    fig = predictive_charts.roc_figure({f"v{v.version}": v.metrics for v in versions})
    assert len(fig.data) == 3  # chance line and two versions
    assert predictive_charts.confusion_figure(versions[0].metrics).data[0].z is not None


def test_champion_with_a_20_percent_challenger_splits_and_records_traffic(churn, telco_frame):
    admin, model, v1, v2 = churn["admin"], churn["model"], churn["v1"], churn["v2"]
    registry.deploy(admin, model.id, v1.id)
    with pytest.raises(Conflict, match="already the champion"):
        registry.set_challenger(admin, model.id, v1.id, 0.2)
    with pytest.raises(ValidationError, match="from 0 to 1"):
        registry.set_challenger(admin, model.id, v2.id, 20)
    rec = registry.set_challenger(admin, model.id, v2.id, 0.2)
    assert (rec.challenger_version, rec.challenger_share) == (2, 0.2)
    rows = telco_frame.sample(500, random_state=1, replace=True).reset_index(drop=True)
    rows["MonthlyCharges"] = [f"{20 + i * 0.17:.2f}" for i in range(500)]  # 500 distinct inputs: no cache hits
    served = [predictions.predict_one(admin, model.id, r, explain=False) for r in rows.to_dict("records")]
    share = sum(o.served_by == "challenger" for o in served) / len(served)
    assert 0.13 < share < 0.27, share
    assert all((o.version_id, o.version) == ((v2.id, 2) if o.served_by == "challenger" else (v1.id, 1))
               for o in served)
    stats = predictions.serving_stats(admin, model.id)
    by = {(b.version, b.served_by): b.count for b in stats.by_version}
    assert by[(2, "challenger")] == sum(o.served_by == "challenger" for o in served)
    assert by[(1, "champion")] == sum(o.served_by == "champion" for o in served)
    assert stats.p50_ms is not None and stats.p50_ms <= stats.p95_ms <= stats.p99_ms
    # a batch splits per row too
    batch = batch_predictions.predict_batch(admin, model.id, "b.csv", _csv(telco_frame.head(1000)))
    assert 100 < (batch.results["served_by"] == "challenger").sum() < 300

    promoted = registry.promote_challenger(admin, model.id)
    assert (promoted.active_version, promoted.challenger_version_id) == (2, None)
    with pytest.raises(Conflict, match="no challenger"):
        registry.promote_challenger(admin, model.id)
    assert registry.rollback(admin, model.id).active_version == 1
    actions = [h["action"] for h in registry.deployment_history(admin, model.id)]
    assert actions[:4] == ["rollback", "promote", "challenger", "deploy"]
    with pytest.raises(Conflict, match="serving as champion"):
        registry.delete_version(admin, model.id, v1.id)
    v3 = _train(admin, model.id)
    assert registry.delete_version(admin, model.id, v3.id) == 3
    assert [v.version for v in registry.list_versions(admin, model.id)] == [2, 1]


def test_predict_one_customer_with_reasons_then_from_cache(churn, telco_frame):
    admin, model, v1 = churn["admin"], churn["model"], churn["v1"]
    registry.deploy(admin, model.id, v1.id)
    registry.set_challenger(admin, model.id, None, 0)
    form = predictions.prediction_form(admin, model.id)
    assert form.version == 1 and form.task == "classification" and form.label == "P(Churn)"
    customer = {f["name"]: f["example"] for f in form.features}
    customer.update(Contract="Month-to-month", InternetService="Fiber optic", tenure=2)
    first = predictions.predict_one(admin, model.id, customer)
    assert first.prediction in ("Yes", "No") and 0 <= first.probability <= 1 and first.confidence >= 0.5
    assert first.explanation.startswith("P(Churn) ") and "driven up by" in first.explanation
    assert not first.cache_hit and first.contributions[0]["feature"]
    out = first.output
    assert out["base_value"] + sum(c["contribution"] for c in first.contributions) == pytest.approx(
        out["output_value"], abs=1e-6)
    assert predictive_charts.contributions_figure(out).data[0].type == "waterfall"
    again = predictions.predict_one(admin, model.id, {**customer, "tenure": "2"})  # same input, as text
    assert again.cache_hit and again.probability == first.probability and again.explanation == first.explanation
    assert again.id != first.id and again.latency_ms < first.latency_ms
    far = predictions.predict_one(admin, model.id, {**customer, "tenure": 240})
    assert "tenure = 240 is outside the range seen in training (0 to 72)" in far.output["warning"]
    with pytest.raises(ValidationError) as err:
        predictions.predict_one(admin, model.id, {**customer, "tenure": "forever"})
    assert err.value.field == "tenure" and "not a number" in str(err.value)
    stats = predictions.serving_stats(admin, model.id)
    assert stats.cache_hits >= 1 and stats.errors >= 1
    cmp = predictions.compare_predictions(admin, model.id, customer, {**customer, "Contract": "Two year", "tenure": 40})
    assert cmp.output_b < cmp.output_a and set(cmp.table[cmp.table["changed"]]["feature"]) == {"Contract", "tenure"}
    assert cmp.table["effect"].sum() == pytest.approx(cmp.output_b - cmp.output_a, abs=1e-6)


def test_batch_predicts_a_file_and_reports_a_bad_row_by_number(churn, telco_frame):
    admin, model, v1 = churn["admin"], churn["model"], churn["v1"]
    registry.deploy(admin, model.id, v1.id)
    registry.set_challenger(admin, model.id, None, 0)
    frame = telco_frame.head(200).copy()
    frame.loc[2, "tenure"] = "abc"
    batch = batch_predictions.predict_batch(admin, model.id, "customers.csv", _csv(frame))
    assert (batch.batch.rows_total, batch.batch.rows_predicted, batch.batch.rows_failed) == (200, 199, 1)
    assert batch.errors == [{"row": 3, "line": 4, "message": "row 3: tenure = 'abc' is not a number"}]
    res = batch.results
    assert len(res) == 200 and res["row"].tolist() == list(range(1, 201))
    assert res["customerID"].tolist() == frame["customerID"].tolist()  # input order kept
    assert res.loc[2, "error"] and pd.isna(res.loc[2, "prediction"]) and res["prediction"].notna().sum() == 199
    assert res["prediction_id"].is_unique and b"prediction_id,row,customerID" in batch.csv()[:40]
    stored = batch_predictions.batch_results(admin, batch.batch.id)
    assert len(stored) == 200 and stored["prediction_id"].tolist() == res["prediction_id"].tolist()
    assert batch_predictions.list_batches(admin, model.id)[0].id == batch.batch.id
    assert len(predictions.list_predictions(admin, model.id, batch_id=batch.batch.id, limit=500)) == 200
    missing = frame.drop(columns=["Contract", "tenure"])
    with pytest.raises(ValidationError, match="Contract, tenure|tenure, Contract"):
        batch_predictions.predict_batch(admin, model.id, "missing.csv", _csv(missing))


def test_recorded_outcomes_show_live_accuracy_and_flag_a_drop(churn, telco_frame):
    admin, model, v1 = churn["admin"], churn["model"], churn["v1"]
    registry.deploy(admin, model.id, v1.id)
    registry.set_challenger(admin, model.id, None, 0)
    sample = telco_frame.sample(300, random_state=7).reset_index(drop=True)
    batch = batch_predictions.predict_batch(admin, model.id, "scored.csv", _csv(sample.drop(columns="Churn")))
    actuals = pd.DataFrame({"prediction_id": batch.results["prediction_id"], "actual": sample["Churn"]})
    actuals.loc[5, "actual"] = "maybe"
    actuals.loc[6, "prediction_id"] = 999_999_999
    fb = outcomes.record_outcomes(admin, "outcomes.csv", _csv(actuals))
    assert fb.updated == 298
    assert [(e["row"], e["line"]) for e in fb.errors] == [(6, 7), (7, 8)]
    assert "No, Yes" in fb.errors[0]["message"] and "no prediction 999999999" in fb.errors[1]["message"]
    expected = float((batch.results["prediction"] == sample["Churn"]).drop(index=[5, 6]).mean())
    acc = {a.version: a for a in outcomes.live_accuracy(admin, model.id)}[1]
    assert acc.live_n >= 298 and acc.role == "champion"
    if acc.live_n == 298:
        assert acc.live_accuracy == pytest.approx(expected)
    assert acc.test_accuracy == v1.metrics["accuracy"] and not acc.flagged
    # outcomes that contradict every prediction: live accuracy collapses and the version is flagged
    wrong = batch.results.head(200)
    flipped = pd.DataFrame({"prediction_id": wrong["prediction_id"],
                            "actual": wrong["prediction"].map({"Yes": "No", "No": "Yes"})})
    assert outcomes.record_outcomes(admin, "wrong.csv", _csv(flipped)).updated == 200
    acc = {a.version: a for a in outcomes.live_accuracy(admin, model.id)}[1]
    assert acc.flagged and "beyond the tolerance of 0.05" in acc.message
    outcomes.set_accuracy_tolerance(admin, model.id, 1.0)
    assert not {a.version: a for a in outcomes.live_accuracy(admin, model.id)}[1].flagged
    outcomes.set_accuracy_tolerance(admin, model.id, 0.05)
    with pytest.raises(ValidationError, match="No, Yes"):
        outcomes.record_outcome(admin, int(batch.results["prediction_id"].iloc[0]), "perhaps")
    perf = {p.name: p for p in dashboard.model_performance(admin).models}["Telco churn"]
    assert perf.live_n >= 298 and perf.test_accuracy == v1.metrics["accuracy"] and perf.predictions >= 300


def test_a_running_training_can_be_cancelled_and_saves_nothing(churn):
    admin, model = churn["admin"], churn["model"]
    before = [v.id for v in registry.list_versions(admin, model.id)]
    cfg = {**model_training.version_details(admin, churn["v1"].id).config, "algorithm": "auto", "hyperparameters": {}}
    job = model_training.train(admin, model.id, cfg, run=False)
    result: dict[str, str] = {}
    runner = threading.Thread(target=lambda: result.update(status=jobs.run_job(admin.tenant_id, job.id)))
    runner.start()
    deadline = time.time() + 60
    while registry.get_job(admin, job.id).progress < 0.06 and time.time() < deadline:
        time.sleep(0.1)
    registry.cancel_job(admin, job.id)
    runner.join(120)
    assert result["status"] == "cancelled"
    assert [v.id for v in registry.list_versions(admin, model.id)] == before


def test_rfm_segmentation_of_superstore_customers_shows_named_segments(server_database, superstore_bytes):
    dbengine.set_database(server_database)
    admin = new_tenant("rfm")
    saved = datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    cfg = model_config.template_config(admin, "rfm_segmentation", saved.version.dataset_id)
    assert cfg["data_prep"]["customer_column"] == "Customer ID" and cfg["data_prep"]["amount_column"] == "Sales"
    model, job = model_training.create_model(admin, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
    version = registry.list_versions(admin, model.id)[0]
    segments = version.metrics["segments"]
    assert {s["name"] for s in segments.values()} == {"high-value", "loyal", "new", "at-risk", "dormant"}
    assert version.metrics["silhouette"] > 0
    assert set(predictive_charts.segments_figure(version.metrics).data[0].x) <= {s["name"] for s in segments.values()}
    registry.deploy(admin, model.id, version.id)
    batch = batch_predictions.predict_batch(admin, model.id, "superstore_orders.csv", superstore_bytes)
    res = batch.results
    assert len(res) == res["customer"].nunique() > 700  # one row per customer
    assert set(res["segment"]) == {"high-value", "loyal", "new", "at-risk", "dormant"}
    assert batch.batch.rows_failed == 0
