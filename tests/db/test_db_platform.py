"""Platform: migrations, roles and row-level security against real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from aihub.db import engine as dbengine
from aihub.db.models import Base, include_name, tenant_owned_tables
from aihub.db.session import tenant_session
from aihub.errors import DatabaseError
from tests.conftest import new_tenant


def test_migrations_match_the_orm(use_db):
    with use_db.owner.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name, "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_app_role_is_not_owner_superuser_or_bypassrls(use_db):
    with use_db.app.connect() as conn:
        user = conn.execute(sa.text("select current_user")).scalar()
        su, bypass = conn.execute(
            sa.text("select rolsuper, rolbypassrls from pg_roles where rolname = current_user")).one()
        owners = conn.execute(sa.text(
            "select count(*) from pg_tables where schemaname = 'public' and tableowner = current_user")).scalar()
    assert user == "aihub_app"
    assert (su, bypass, owners) == (False, False, 0)


def test_every_tenant_table_has_forced_rls_and_a_policy(use_db):
    tables = tenant_owned_tables()
    assert {"users", "datasets", "models", "model_versions", "training_jobs"} <= set(tables)
    with use_db.owner.connect() as conn:
        for table in [*tables, "tenants"]:
            enabled, forced = conn.execute(sa.text(
                "select relrowsecurity, relforcerowsecurity from pg_class where relname = :t"), {"t": table}).one()
            policies = conn.execute(sa.text("select count(*) from pg_policies where tablename = :t"),
                                    {"t": table}).scalar()
            assert (enabled, forced, policies) == (True, True, 1), table
            if table != "tenants":
                nullable = conn.execute(sa.text(
                    "select is_nullable from information_schema.columns where table_name = :t "
                    "and column_name = 'tenant_id'"), {"t": table}).scalar()
                assert nullable == "NO", table


def _seed_predictions_and_anomalies(b, model_id, version_id, dataset_id):
    """One row in each prediction and anomaly table for tenant B, written inside B's tenant session."""
    from datetime import UTC, datetime

    from aihub.db import models as m

    with tenant_session(b.tenant_id) as s:
        batch = m.PredictionBatch(tenant_id=b.tenant_id, model_id=model_id, filename="x.csv", rows_total=1,
                                  rows_predicted=1, rows_failed=0, errors=[], seconds=0.1)
        monitor = m.Monitor(tenant_id=b.tenant_id, name="mon", dataset_id=dataset_id, config={})
        s.add_all([batch, monitor])
        s.flush()
        s.add(m.PredictionBatchVersion(tenant_id=b.tenant_id, batch_id=batch.id, model_id=model_id,
                                       model_version_id=version_id))
        s.flush()
        s.add(m.PredictionResult(tenant_id=b.tenant_id, model_id=model_id, model_version_id=version_id,
                                 served_by="champion", batch_id=batch.id, input={"x": 1}, input_hash="0" * 64,
                                 output={"prediction": "1"}, prediction="1", latency_ms=1.0, actual="1",
                                 actual_at=datetime(2021, 1, 3)))
        run = m.MonitorRun(tenant_id=b.tenant_id, monitor_id=monitor.id, status="succeeded")
        s.add(run)
        s.add(m.FeedbackRule(tenant_id=b.tenant_id, monitor_id=monitor.id, rule={}, description="r"))
        s.flush()
        anomaly = m.Anomaly(tenant_id=b.tenant_id, monitor_id=monitor.id, run_id=run.id, metric="revenue",
                            ts=datetime(2021, 1, 1), actual=1.0, expected=2.0, lower=1.5, upper=2.5, score=0.9,
                            severity="high", root_cause={}, snapshot=[], status="resolved",
                            resolved_at=datetime(2021, 1, 2, tzinfo=UTC))  # counted in anomaly_close_hist
        s.add(anomaly)
        s.flush()
        s.add(m.AnomalyEvent(tenant_id=b.tenant_id, anomaly_id=anomaly.id, action="create", to_status="new"))
        source = m.DataSource(tenant_id=b.tenant_id, name="src", source_type="database", config={},
                              dataset_id=dataset_id, sync_frequency="daily")
        workflow = m.Workflow(tenant_id=b.tenant_id, name="wf", definition={})
        s.add_all([source, workflow])
        s.flush()
        wf_run = m.WorkflowRun(tenant_id=b.tenant_id, workflow_id=workflow.id, trigger={}, status="succeeded",
                               steps=[])
        s.add_all([wf_run, m.SourceSync(tenant_id=b.tenant_id, source_id=source.id, trigger="manual",
                                        status="succeeded"),
                   m.DriftReport(tenant_id=b.tenant_id, model_id=model_id, model_version_id=version_id, report={},
                                 dataset_drift=False, share_drifted=0.0, current_rows=1)])
        s.flush()
        s.add_all([m.Approval(tenant_id=b.tenant_id, workflow_run_id=wf_run.id, step_index=0, action={}, context={},
                              status="pending", expires_at=datetime(2030, 1, 1)),
                   m.UserTask(tenant_id=b.tenant_id, title="t", workflow_run_id=wf_run.id),
                   m.UsageEvent(tenant_id=b.tenant_id, feature="forecast", action="train"),
                   m.UserSession(tenant_id=b.tenant_id, user_id=b.user_id, token_hash=f"{b.tenant_id:064d}", auth_version=1,
                                 expires_at=datetime(2030, 1, 1)),
                   m.AuditEvent(tenant_id=b.tenant_id, event="logout", details={}),
                   m.ForecastSeries(tenant_id=b.tenant_id, model_version_id=version_id, series_key="West", n_obs=24,
                                    volume=1.0)])
        insight = m.Insight(tenant_id=b.tenant_id, type="trend", category="sales", priority="high", score=50.0,
                            confidence=0.9, title="t", narrative="n", recommended_actions=[], evidence=[],
                            figures={}, fingerprint="f" * 64, valid_from=datetime(2021, 1, 1),
                            valid_until=datetime(2030, 1, 1))
        s.add(insight)
        s.flush()
        s.add(m.InsightEvent(tenant_id=b.tenant_id, insight_id=insight.id, insight_type="trend", action="status",
                             to_status="acknowledged"))
        incident = m.MonitorIncident(tenant_id=b.tenant_id, monitor_id=monitor.id, metric="revenue",
                                     first_ts=datetime(2021, 1, 1), last_ts=datetime(2021, 1, 2), severity="high")
        record_monitor = m.RecordMonitor(tenant_id=b.tenant_id, name="risk", dataset_id=dataset_id, params={})
        s.add_all([incident, record_monitor])
        s.flush()
        s.add_all([m.AlertDelivery(tenant_id=b.tenant_id, monitor_id=monitor.id, channel="email", target="b@x.org",
                                   incident_ids=[incident.id], due_at=datetime(2021, 1, 2), delivery_key="k" * 64),
                   m.RecordScore(tenant_id=b.tenant_id, record_monitor_id=record_monitor.id, row_key="1", score=0.9,
                                 unsupervised=0.9, band="high")])


@pytest.fixture
def two_tenants(use_db, superstore_bytes):
    """Tenants A and B, with B holding rows in every tenant-owned table."""
    from aihub.services import datasets, forecasts, jobs, registry

    a, b = new_tenant("a"), new_tenant("b")
    csv = b"ds,y\n" + b"".join(f"2020-{m:02d}-01,{100 + m * 3 + (m % 3)}\n".encode() for m in range(1, 13)) \
        + b"".join(f"2021-{m:02d}-01,{140 + m * 3 + (m % 4)}\n".encode() for m in range(1, 13))
    saved = datasets.save_upload(b, "series", "series.csv", csv)
    model, job = forecasts.create_forecast_model(b, {
        "model_name": "b-forecast", "dataset_id": saved.version.dataset_id, "date_column": "ds",
        "value_column": "y", "freq": "M", "horizon": 3, "algorithm": "naive"}, run=False)
    assert jobs.run_job(b.tenant_id, job.id) == "succeeded"
    version_id = registry.list_versions(b, model.id)[0].id
    registry.deploy(b, model.id, version_id)
    _seed_predictions_and_anomalies(b, model.id, version_id, saved.version.dataset_id)
    from aihub import apikeys
    from aihub.services import dashboard

    dashboard.refresh_rollups(b.tenant_id)  # B's rows in the dashboard's daily rollups
    with tenant_session(b.tenant_id) as s:  # and a day still marked
        s.execute(sa.text("INSERT INTO rollup_marks (tenant_id, kind, day) VALUES (:b, 'predictions', '2021-01-02')"),
                  {"b": b.tenant_id})
        s.execute(sa.text("UPDATE anomalies SET severity = 'low'"))  # and an anomaly count not yet folded
    b_key = apikeys.authenticate(apikeys.create_key(b, "b-key", ["read"])[1])
    apikeys.claim_idempotency(b_key, "seed", "0" * 64)
    with use_db.owner.connect() as conn:
        for table in tenant_owned_tables():
            n = conn.execute(sa.text(f"select count(*) from {table} where tenant_id = :b"), {"b": b.tenant_id}).scalar()
            assert n > 0, f"seed tenant B with a row in {table} (extend the two_tenants fixture)"
    return a, b


def test_tenant_a_sees_and_changes_nothing_of_tenant_b(use_db, two_tenants):
    a, b = two_tenants
    for table in tenant_owned_tables():
        with tenant_session(a.tenant_id) as s:
            rows = s.execute(sa.text(f"select * from {table}")).mappings().all()
            assert all(r["tenant_id"] == a.tenant_id for r in rows), table
            updated = s.execute(sa.text(f"update {table} set tenant_id = tenant_id where tenant_id = :b"),
                                {"b": b.tenant_id}).rowcount
            deleted = s.execute(sa.text(f"delete from {table} where tenant_id = :b"), {"b": b.tenant_id}).rowcount
            assert (updated, deleted) == (0, 0), table
    with use_db.owner.connect() as conn:
        for table in tenant_owned_tables():
            n = conn.execute(sa.text(f"select count(*) from {table} where tenant_id = :b"), {"b": b.tenant_id}).scalar()
            assert n > 0, table
    with tenant_session(a.tenant_id) as s:
        assert s.execute(sa.text("select id from tenants")).scalars().all() == [a.tenant_id]


def test_a_cannot_write_rows_into_b(use_db, two_tenants):
    a, b = two_tenants
    with pytest.raises(DatabaseError, match="row-level security"), tenant_session(a.tenant_id) as s:
        s.execute(sa.text("insert into datasets (tenant_id, name) values (:b, 'sneaky')"), {"b": b.tenant_id})


def test_without_a_tenant_nothing_is_seen_or_written(use_db, two_tenants):
    with use_db.app.begin() as conn:
        for table in tenant_owned_tables():
            assert conn.execute(sa.text(f"select count(*) from {table}")).scalar() == 0, table
            assert conn.execute(sa.text(f"delete from {table}")).rowcount == 0, table
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), use_db.app.begin() as conn:
        conn.execute(sa.text("insert into datasets (tenant_id, name) values (:t, 'x')"),
                     {"t": two_tenants[0].tenant_id})


def test_bootstrap_is_idempotent_and_keeps_data(use_db, two_tenants):
    from aihub.config import load_settings

    dbengine.bootstrap(load_settings())
    a, _ = two_tenants
    with tenant_session(a.tenant_id) as s:
        assert s.execute(sa.text("select count(*) from users")).scalar() == 1


def test_tenant_session_rejects_a_bad_tenant_id(use_db):
    with pytest.raises(DatabaseError, match="positive integer"), tenant_session(0):
        pass


def test_processes_starting_together_set_up_the_roles(server_database):
    """``make run`` starts the app and the worker at once and each sets up the roles: PostgreSQL refuses the
    second of two concurrent updates of a role ("tuple concurrently updated"), so one of them used to die."""
    from concurrent.futures import ThreadPoolExecutor

    from aihub.config import load_settings

    settings = load_settings()
    owner = sa.create_engine(server_database.owner_url, pool_size=8)

    def start(i: int) -> None:
        for _ in range(4):
            dbengine.ensure_app_role(owner, settings.app_role, dbengine.app_password(settings))
            dbengine.ensure_worker_role(owner, settings.worker_role, dbengine.worker_password(settings))

    try:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(start, range(6)))  # re-raises the first error
    finally:
        owner.dispose()
