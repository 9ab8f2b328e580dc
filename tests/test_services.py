"""Datasets, forecast models, jobs, deploy and rollback through the aihub services, on real PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from aihub import auth
from aihub.db import engine as dbengine
from aihub.errors import Conflict, IngestError, NotFound, PermissionDenied, ValidationError
from aihub.services import dashboard, datasets, forecasts, jobs, registry
from tests.conftest import PASSWORD, new_tenant


def _monthly_csv(months: int = 30) -> bytes:
    rows = [f"{2020 + (m // 12)}-{m % 12 + 1:02d}-15,{1000 + 20 * m + (150 if m % 12 == 11 else 0)}"
            for m in range(months)]
    return ("ds,y\n" + "\n".join(rows) + "\n").encode()


def test_superstore_upload_is_a_faithful_version(tenant, superstore_bytes):
    saved = datasets.save_upload(tenant, "Superstore", "superstore_orders.csv", superstore_bytes)
    assert not saved.duplicate
    v = saved.version
    assert (v.version, v.row_count) == (1, 10_194)
    frame = datasets.load_frame(tenant, v.id)
    assert len(frame) == 10_194
    assert round(float(frame["Sales"].sum()), 2) == 2_326_534.35
    assert frame["Order Date"].min() == pd.Timestamp("2019-01-03")
    assert frame["Order Date"].max() == pd.Timestamp("2022-12-30")
    kinds = forecasts.dataset_columns(v)
    assert kinds["Order Date"] == "date" and kinds["Sales"] == "number"


def test_same_bytes_are_recognised_and_a_change_makes_version_2(tenant):
    first = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(24))
    again = datasets.save_upload(tenant, "series", "s-copy.csv", _monthly_csv(24))
    assert again.duplicate and again.version.id == first.version.id
    second = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(25))
    assert (second.duplicate, second.version.version) == (False, 2)
    assert [v.version for v in datasets.list_versions(tenant, first.version.dataset_id)] == [2, 1]


def test_a_bad_upload_stores_nothing(tenant):
    with pytest.raises(IngestError) as err:
        datasets.save_upload(tenant, "broken", "broken.csv", b"a,b\n1,2\n3,4,5\n")
    assert err.value.details.get("file") == "broken.csv"
    assert err.value.details.get("row") == 3
    assert datasets.list_datasets(tenant) == []


def test_viewer_cannot_upload_or_train(tenant):
    viewer_info = auth.add_user(tenant, "Viewer.Person@Example.com", "V", "viewer", PASSWORD)
    assert viewer_info.username == "viewer.person@example.com"
    viewer = auth.principal_for("viewer.person@example.com")
    with pytest.raises(PermissionDenied, match="ai_analytics:create"):
        datasets.save_upload(viewer, "x", "x.csv", _monthly_csv())
    saved = datasets.save_upload(tenant, "x", "x.csv", _monthly_csv())
    with pytest.raises(PermissionDenied):
        forecasts.create_forecast_model(viewer, {"model_name": "m", "dataset_id": saved.version.dataset_id,
                                                "date_column": "ds", "value_column": "y"})
    assert datasets.list_datasets(viewer)[0].name == "x"
    with pytest.raises(PermissionDenied):
        auth.list_users(viewer)


def test_forecast_spec_names_every_bad_field():
    errors = forecasts.ForecastSpec.check(
        {"model_name": "", "dataset_id": 1, "date_column": "Sales", "value_column": "Nope", "freq": "2W",
         "agg": "median", "horizon": 0, "algorithm": "magic"},
        {"Order Date": "date", "Sales": "number", "Region": "category"},
    )
    assert set(errors) == {"model_name", "date_column", "value_column", "freq", "agg", "horizon", "algorithm"}
    assert "Sales" in errors["date_column"] and "number" in errors["date_column"]
    assert "'2W'" in errors["freq"] and "M" in errors["freq"] and "Q" in errors["freq"]
    with pytest.raises(ValidationError) as err:
        forecasts.ForecastSpec.from_dict({"model_name": "ok", "dataset_id": 1, "date_column": "d",
                                         "value_column": "v", "horizon": 10_000})
    assert err.value.field == "horizon"


def _train(principal, dataset_id, **extra):
    raw = {"model_name": extra.pop("model_name", "sales"), "dataset_id": dataset_id, "date_column": "Order Date",
           "value_column": "Sales", "freq": "M", "agg": "sum", "horizon": 6, "algorithm": "auto", **extra}
    model, job = forecasts.create_forecast_model(principal, raw, run=False)
    status = jobs.run_job(principal.tenant_id, job.id)
    return model, registry.get_job(principal, job.id), status


def test_monthly_superstore_forecast_trains_deploys_and_rolls_back(tenant, superstore_bytes):
    saved = datasets.save_upload(tenant, "Superstore", "superstore_orders.csv", superstore_bytes)
    model, job, status = _train(tenant, saved.version.dataset_id)
    assert status == "succeeded", job.error
    assert job.started_at and job.finished_at and job.progress == 1.0
    (v1,) = registry.list_versions(tenant, model.id)
    for key in ("mae", "rmse", "mape", "mase"):
        assert v1.metrics[key] > 0, key
    assert v1.library_versions["prophet"]
    assert len(v1.training_data_hash) == 64
    view = forecasts.forecast_view(tenant, model.id, v1.id)
    assert len(view.history) == 48 and view.history["y"].sum() == pytest.approx(2_326_534.35, abs=0.01)
    fc = view.forecast
    assert len(fc) == 6 and fc["ds"].min() > view.history["ds"].max()
    assert (fc["yhat_lower_95"] <= fc["yhat_lower_80"]).all() and (fc["yhat_lower_80"] <= fc["yhat"]).all()
    assert (fc["yhat"] <= fc["yhat_upper_80"]).all() and (fc["yhat_upper_80"] <= fc["yhat_upper_95"]).all()
    csv = forecasts.forecast_csv(tenant, model.id, v1.id).decode()
    assert csv.splitlines()[0].startswith("ds,yhat,")

    with pytest.raises(NotFound, match="no deployed version"):
        forecasts.forecast_view(tenant, model.id)
    registry.deploy(tenant, model.id, v1.id)
    job2 = forecasts.train(tenant, model.id, run=False)
    assert jobs.run_job(tenant.tenant_id, job2.id) == "succeeded"
    v2 = registry.list_versions(tenant, model.id)[0]
    registry.deploy(tenant, model.id, v2.id)
    assert registry.get_model(tenant, model.id).active_version == 2
    assert registry.rollback(tenant, model.id).active_version == 1
    history = registry.deployment_history(tenant, model.id)
    assert [h["action"] for h in history] == ["rollback", "deploy", "deploy"]
    summary = dashboard.summary(tenant)
    assert (summary.datasets, summary.models_active) == (1, 1)
    assert summary.jobs_by_status == {"succeeded": 2}


def test_region_filter_forecasts_only_west(tenant, superstore_bytes):
    saved = datasets.save_upload(tenant, "Superstore", "superstore_orders.csv", superstore_bytes)
    model, job, status = _train(tenant, saved.version.dataset_id, filters={"Region": ["West"]}, algorithm="naive")
    assert status == "succeeded", job.error
    frame = datasets.load_frame(tenant, saved.version.id)
    west = frame.loc[frame["Region"] == "West", "Sales"].sum()
    view = forecasts.forecast_view(tenant, model.id, registry.list_versions(tenant, model.id)[0].id)
    assert view.history["y"].sum() == pytest.approx(west, rel=1e-9)


def test_a_failed_training_says_why_and_keeps_earlier_versions(tenant):
    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    raw = {"model_name": "m", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
           "freq": "M", "horizon": 3, "algorithm": "naive"}
    model, job = forecasts.create_forecast_model(tenant, raw, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded"
    v1 = registry.list_versions(tenant, model.id)[0]
    registry.deploy(tenant, model.id, v1.id)
    datasets.save_upload(tenant, "series", "short.csv", _monthly_csv(2))
    job2 = forecasts.train(tenant, model.id, run=False)
    assert jobs.run_job(tenant.tenant_id, job2.id) == "failed"
    failed = registry.get_job(tenant, job2.id)
    assert failed.status == "failed" and failed.finished_at is not None
    assert "period" in failed.error.lower() or "points" in failed.error.lower(), failed.error
    assert "Traceback" not in failed.error
    assert [v.id for v in registry.list_versions(tenant, model.id)] == [v1.id]
    assert registry.get_model(tenant, model.id).active_version_id == v1.id


def test_cancel_a_queued_job_and_a_job_runs_once(tenant):
    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    model, job = forecasts.create_forecast_model(tenant, {
        "model_name": "m", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "algorithm": "naive", "horizon": 3}, run=False)
    cancelled = registry.cancel_job(tenant, job.id)
    assert cancelled.status == "cancelled"
    assert jobs.run_job(tenant.tenant_id, job.id) == "skipped"
    with pytest.raises(Conflict):
        registry.cancel_job(tenant, job.id)
    job2 = forecasts.train(tenant, model.id, run=False)
    assert jobs.run_job(tenant.tenant_id, job2.id) == "succeeded"
    assert jobs.run_job(tenant.tenant_id, job2.id) == "skipped"
    assert len(registry.list_versions(tenant, model.id)) == 1


def test_background_job_runs_off_the_request_path(tenant):
    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    _model, job = forecasts.create_forecast_model(tenant, {
        "model_name": "bg", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "algorithm": "seasonal_naive", "horizon": 3})
    assert job.status == "queued"
    import time

    deadline = time.time() + 60
    while not registry.get_job(tenant, job.id).done and time.time() < deadline:
        time.sleep(0.2)
    assert registry.get_job(tenant, job.id).status == "succeeded"


def _wait_done(principal, job_id, seconds=60):
    import time

    deadline = time.time() + seconds
    while not registry.get_job(principal, job_id).done and time.time() < deadline:
        time.sleep(0.2)
    return registry.get_job(principal, job_id)


def test_a_job_whose_runner_died_is_taken_over_and_completes_once(tenant, use_db):
    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    model, job = forecasts.create_forecast_model(tenant, {
        "model_name": "r", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "algorithm": "naive", "horizon": 3}, run=False)
    with use_db.owner.begin() as conn:  # as if a worker claimed it and died a minute ago
        conn.execute(sa.text("update training_jobs set status='running', attempts=1, worker='dead:1', "
                             "heartbeat_at = now() - interval '1 minute' where id = :j"), {"j": job.id})
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded"
    rec = registry.get_job(tenant, job.id)
    assert (rec.status, rec.attempts) == ("succeeded", 2)
    assert jobs.run_job(tenant.tenant_id, job.id) == "skipped"
    assert len(registry.list_versions(tenant, model.id)) == 1


def test_a_live_lease_is_respected_and_recovery_restarts_expired_ones(tenant, use_db):
    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    _model, job = forecasts.create_forecast_model(tenant, {
        "model_name": "r", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "algorithm": "naive", "horizon": 3}, run=False)
    with use_db.owner.begin() as conn:
        conn.execute(sa.text("update training_jobs set status='running', attempts=1, heartbeat_at = now() "
                             "where id = :j"), {"j": job.id})
    assert jobs.run_job(tenant.tenant_id, job.id) == "busy"
    with use_db.owner.begin() as conn:
        conn.execute(sa.text("update training_jobs set heartbeat_at = now() - interval '1 hour' where id = :j"),
                     {"j": job.id})
    assert jobs.recover_interrupted_jobs()["requeued"] >= 1
    assert _wait_done(tenant, job.id).status == "succeeded"


def test_a_job_interrupted_too_often_is_given_up(tenant, use_db):
    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    model, job = forecasts.create_forecast_model(tenant, {
        "model_name": "r", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "algorithm": "naive", "horizon": 3}, run=False)
    with use_db.owner.begin() as conn:
        conn.execute(sa.text("update training_jobs set status='running', attempts=:a, "
                             "heartbeat_at = now() - interval '1 hour' where id = :j"),
                     {"j": job.id, "a": jobs.MAX_ATTEMPTS})
    assert jobs.run_job(tenant.tenant_id, job.id) == "failed"
    rec = registry.get_job(tenant, job.id)
    assert "interrupted 3 times" in rec.error
    assert registry.list_versions(tenant, model.id) == []


def test_other_tenants_objects_are_not_found(tenant):
    other = new_tenant("other")
    saved = datasets.save_upload(other, "series", "s.csv", _monthly_csv(30))
    with pytest.raises(NotFound):
        datasets.load_frame(tenant, saved.version.id)
    with pytest.raises(NotFound):
        forecasts.create_forecast_model(tenant, {"model_name": "steal", "dataset_id": saved.version.dataset_id,
                                                "date_column": "ds", "value_column": "y"})


def test_login_lookup_and_authenticate(tenant):
    from aihub.db import user_store

    [entry] = user_store.login_candidates(dbengine.get_database().app, tenant.username)
    assert entry.role == "admin" and entry.password_hash.startswith("$2")
    assert auth.authenticate(tenant.username, PASSWORD).tenant_id == tenant.tenant_id
    with pytest.raises(PermissionDenied):
        auth.authenticate(tenant.username, "wrong-password")
    with pytest.raises(Conflict):
        auth.create_tenant(tenant.tenant_name, "x@example.com", PASSWORD)
    user = auth.add_user(tenant, "an@example.com", "An", "analyst", PASSWORD)
    with pytest.raises(Conflict, match="at least one active admin"):
        auth.set_user_role(tenant, tenant.user_id, "analyst")
    assert auth.set_user_role(tenant, user.id, "viewer").role == "viewer"


def test_uses_of_ai_features_are_recorded_for_the_usage_dashboard(tenant):
    from aihub.db.session import tenant_session

    saved = datasets.save_upload(tenant, "series", "s.csv", _monthly_csv(30))
    forecasts.create_forecast_model(tenant, {"model_name": "u", "dataset_id": saved.version.dataset_id,
                                            "date_column": "ds", "value_column": "y", "algorithm": "naive",
                                            "horizon": 3}, run=False)
    with tenant_session(tenant.tenant_id) as s:
        rows = s.execute(sa.text("select feature, action, user_id from usage_events order by id")).all()
    assert [(f, a) for f, a, _ in rows] == [("data", "upload"), ("forecast", "train")]
    assert {u for _, _, u in rows} == {tenant.user_id}
