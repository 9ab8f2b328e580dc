"""Tenant A's objects of every kind, for the isolation and scope tests (built through the services; the rows the
services make only after long work are written in A's tenant session, as tests/db/test_db_platform.py does)."""

from __future__ import annotations

from datetime import UTC, datetime

from aihub.db import models as m
from aihub.db.session import tenant_session
from aihub.demo import generate_customers
from aihub.services import (
    analytics,
    batch_predictions,
    datasets,
    forecasts,
    jobs,
    model_config,
    model_training,
    predictions,
    registry,
)
from tests.conftest import new_tenant


def _csv(frame) -> bytes:
    return frame.to_csv(index=False).encode()


def build_world() -> dict:
    """Tenants A and B; every id of A that a route of the API takes."""
    a, b = new_tenant("iso-a"), new_tenant("iso-b")
    customers = generate_customers(300)
    saved = datasets.save_upload(a, "customers", "customers.csv", _csv(customers))
    dsid = saved.version.dataset_id
    cfg = model_config.template_config(a, "churn", dsid, model_name="iso churn", algorithm="logistic_regression")
    model, job = model_training.create_model(a, cfg, dsid, run=False)
    assert jobs.run_job(a.tenant_id, job.id) == "succeeded", registry.get_job(a, job.id).error
    version = registry.list_versions(a, model.id)[0]
    registry.deploy(a, model.id, version.id)
    row = customers.drop(columns=["churned"], errors="ignore").iloc[0].to_dict()
    pred = predictions.predict_one(a, model.id, row, explain=False)
    batch = batch_predictions.predict_batch(a, model.id, "more.csv", _csv(customers.head(5)))

    series = b"ds,y\n" + b"".join(f"20{20 + i // 12}-{i % 12 + 1:02d}-01,{100 + i * 3 + i % 4}\n".encode()
                                  for i in range(30))
    sv = datasets.save_upload(a, "series", "series.csv", series)
    fmodel, fjob = forecasts.create_forecast_model(a, {
        "model_name": "iso forecast", "dataset_id": sv.version.dataset_id, "date_column": "ds",
        "value_column": "y", "freq": "M", "horizon": 3, "algorithm": "naive"}, run=False)
    assert jobs.run_job(a.tenant_id, fjob.id) == "succeeded"
    fversion = registry.list_versions(a, fmodel.id)[0]
    registry.deploy(a, fmodel.id, fversion.id)

    orders = "".join(f"u{u},p{(u * 7 + j) % 10},2021-0{1 + j % 9}-1{u % 10}\n" for u in range(40) for j in range(4))
    ov = datasets.save_upload(a, "orders", "orders.csv", b"customer,product,date\n" + orders.encode())
    analytic, ajob = analytics.create_analytic(a, "recommend", {
        "model_name": "iso recommendations", "dataset_id": ov.version.dataset_id, "user_column": "customer",
        "item_column": "product", "time_column": "date"}, run=False)
    assert jobs.run_job(a.tenant_id, ajob.id) == "succeeded", registry.get_job(a, ajob.id).error

    with tenant_session(a.tenant_id) as s:
        monitor = m.Monitor(tenant_id=a.tenant_id, name="iso monitor", dataset_id=dsid, config={})
        workflow = m.Workflow(tenant_id=a.tenant_id, name="iso wf", definition={
            "trigger": {"type": "manual"}, "conditions": [], "actions": []})
        s.add_all([monitor, workflow])
        s.flush()
        run = m.MonitorRun(tenant_id=a.tenant_id, monitor_id=monitor.id, status="succeeded")
        wf_run = m.WorkflowRun(tenant_id=a.tenant_id, workflow_id=workflow.id, trigger={},
                               status="waiting_approval",
                               steps=[{"name": "Promote", "status": "waiting_approval", "needs_approval": True}])
        s.add_all([run, wf_run])
        s.flush()
        anomaly = m.Anomaly(tenant_id=a.tenant_id, monitor_id=monitor.id, run_id=run.id, metric="revenue",
                            ts=datetime(2021, 1, 1), actual=1.0, expected=2.0, lower=1.5, upper=2.5, score=0.9,
                            severity="high", root_cause={}, snapshot=[])
        approval = m.Approval(tenant_id=a.tenant_id, workflow_run_id=wf_run.id, step_index=0, action={},
                              context={}, status="pending", expires_at=datetime(2030, 1, 1, tzinfo=UTC))
        insight = m.Insight(tenant_id=a.tenant_id, type="trend", category="sales", priority="high", score=50.0,
                            confidence=0.9, title="t", narrative="n", recommended_actions=[], evidence=[],
                            figures={}, fingerprint="a" * 64, valid_from=datetime(2021, 1, 1, tzinfo=UTC),
                            valid_until=datetime(2030, 1, 1, tzinfo=UTC))
        s.add_all([anomaly, approval, insight])
        s.flush()
        ids = {"monitor_id": monitor.id, "monitor_run_id": run.id, "workflow_id": workflow.id, "run_id": wf_run.id, "anomaly_id": anomaly.id,
               "approval_id": approval.id, "insight_id": insight.id}
    ids.update(dataset_id=dsid, model_id=model.id, version_id=version.id, job_id=job.id, prediction_id=pred.id,
               batch_id=batch.batch.id, forecast_id=fmodel.id, forecast_version_id=fversion.id,
               analytic_id=analytic.id)
    return {"a": a, "b": b, "ids": ids, "row": row}
