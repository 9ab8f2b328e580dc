"""Issue 16: the dashboard's reads go to ``AIHUB_READ_DATABASE_URL`` when it is set, under the same tenant rules.

No second server runs here, so the "replica" is the same database reached through a second URL (the app role
with its own ``application_name``): what is checked is the routing (every statement of the dashboard's reads runs
on the read engine, whose connections say they came through that URL, none on the app engine), the tenant
isolation through it, the read-only transaction, and that nothing changes when the variable is unset.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from aihub.db import engine as dbengine
from aihub.db import models as m
from aihub.db.session import read_session, tenant_session
from aihub.errors import DatabaseError
from aihub.services import dashboard
from tests.conftest import new_tenant

READ_NAME = "aihub_read_replica_test"


def _predictions(t: int, n: int) -> None:
    """A deployed classifier with ``n`` predictions (one statement: the rollup triggers mark the day)."""
    with tenant_session(t) as s:
        model = m.Model(tenant_id=t, name="Churn", kind="ml", config={"training": {"task": "classification"}})
        s.add(model)
        s.flush()
        v = m.ModelVersion(tenant_id=t, model_id=model.id, version=1, algorithm="rf",
                           params={"task": "classification"}, metrics={"accuracy": 0.8}, training_data_hash="0" * 64,
                           library_versions={}, artifact_format="test", artifact=b"", training_seconds=1.0)
        s.add(v)
        s.flush()
        model.active_version_id = v.id
        s.flush()
        s.execute(sa.text("""
            INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, input, input_hash,
                                            output, prediction, latency_ms)
            SELECT :t, :mid, :vid, 'champion', '{}'::jsonb, md5(g::text), '{}'::jsonb, 'No', 1.0
            FROM generate_series(1, :n) g"""), {"t": t, "mid": model.id, "vid": v.id, "n": n})


def _record_statements(engine: sa.Engine, into: list[str]):
    def record(_conn, _cursor, statement, *_args) -> None:
        into.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return lambda: sa.event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def replica_db(server_database, monkeypatch):
    """The server database with ``AIHUB_READ_DATABASE_URL`` set to its app URL under another application name."""
    primary = server_database
    url = primary.app_url.update_query_dict({"application_name": READ_NAME})
    monkeypatch.setenv("AIHUB_READ_DATABASE_URL", url.render_as_string(hide_password=False))
    db = dbengine.Database(primary.owner_url, primary.app_url)
    dbengine.set_database(db)
    yield db
    dbengine.set_database(primary)
    db.dispose()


def test_dashboard_reads_go_to_the_read_url_within_the_tenant(replica_db):
    a, b = new_tenant("replica-a"), new_tenant("replica-b")
    _predictions(a.tenant_id, 3)
    _predictions(b.tenant_id, 5)
    assert replica_db.read is not replica_db.app
    assert replica_db.read_url.query["application_name"] == READ_NAME

    with read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT current_setting('application_name')")) == READ_NAME
        assert s.scalar(sa.text("SELECT count(*) FROM prediction_results")) == 3
        assert s.scalar(sa.text("SELECT count(DISTINCT tenant_id) FROM models")) == 1

    on_read: list[str] = []
    on_app: list[str] = []
    undo = [_record_statements(replica_db.read, on_read), _record_statements(replica_db.app, on_app)]
    try:
        seen = {p.tenant_id: dashboard.overview(p).figures.predictions for p in (a, b)}
        dashboard.summary(a)
        dashboard.anomaly_summary(a)
        dashboard.filter_options(a)
    finally:
        for u in undo:
            u()
    assert seen == {a.tenant_id: 3, b.tenant_id: 5}  # marked days read raw through the read URL, per tenant
    assert any("prediction_daily" in q for q in on_read)
    # The primary answers only the permission check of each call (the user's current role and session: a
    # revocation must not wait for the replica to catch up); no dashboard figure is read there.
    assert on_app
    tables = ("prediction_results", "prediction_daily", "outcome_daily", "anomal", "rollup_marks", "models",
              "insights", "usage_events", "datasets", "training_jobs", "deployments")
    assert not [q for q in on_app if any(t in q for t in tables)]

    dashboard.refresh_rollups(a.tenant_id)  # the worker writes on the primary; the read URL sees the result
    assert dashboard.overview(a).figures.predictions == 3


def test_a_read_session_is_read_only_and_needs_a_tenant(replica_db):
    a = new_tenant("replica-ro")
    with pytest.raises(DatabaseError, match="read-only"), read_session(a.tenant_id) as s:
        s.execute(sa.text("INSERT INTO rollup_marks (tenant_id, kind, day) VALUES (:t, 'predictions', "
                          "current_date)"), {"t": a.tenant_id})
    with pytest.raises(DatabaseError), read_session(0):
        pass


def test_unset_read_url_uses_the_app_engine(server_database, monkeypatch):
    monkeypatch.delenv("AIHUB_READ_DATABASE_URL", raising=False)
    db = dbengine.Database(server_database.owner_url, server_database.app_url)
    try:
        assert db.read_url is None
        assert db.read is db.app
    finally:
        db.dispose()
    assert server_database.read is server_database.app
    a = new_tenant("replica-unset")
    _predictions(a.tenant_id, 2)
    assert dashboard.overview(a).figures.predictions == 2
