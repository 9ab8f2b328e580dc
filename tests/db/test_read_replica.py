"""Issue 16: the dashboard's reads go to ``AIHUB_READ_DATABASE_URL`` when it is set, under the same tenant rules.

Against real streaming replication (:mod:`tests.standby`): a fresh primary, migrated and written by the hub as
usual, and a hot standby taken from it with ``pg_basebackup -R``; ``AIHUB_READ_DATABASE_URL`` is the app role
on the standby (the role and its password arrive by replication). Checked: the dashboard's statements run on
the standby (``pg_is_in_recovery()``) and none on the primary except the permission checks; its figures equal
the primary's once the standby has replayed the primary's WAL; what it shows while the standby lags; tenant
isolation and the read-only transaction on the standby; and that with the standby down the dashboard loads
from the primary with a warning naming the setting.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from aihub.config import load_settings
from aihub.connectors.policy import hub_server_problem
from aihub.db import engine as dbengine
from aihub.db import models as m
from aihub.db.session import read_session, tenant_session
from aihub.errors import ConnectorError, DatabaseError
from aihub.services import dashboard
from tests.conftest import new_tenant
from tests.standby import streaming_pair

HUB_DB = "aihub"


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
        _more_predictions(s, t, model.id, v.id, n)


def _more_predictions(s, t: int, model_id: int, version_id: int, n: int) -> None:
    s.execute(sa.text("""
        INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, input, input_hash,
                                        output, prediction, latency_ms)
        SELECT :t, :mid, :vid, 'champion', '{}'::jsonb, md5(g::text), '{}'::jsonb, 'No', 1.0
        FROM generate_series(1, :n) g"""), {"t": t, "mid": model_id, "vid": version_id, "n": n})


def _add_predictions(t: int, n: int) -> None:
    """``n`` more predictions of the tenant's model (on the primary)."""
    with tenant_session(t) as s:
        model_id, version_id = s.execute(sa.text("SELECT id, active_version_id FROM models")).one()
        _more_predictions(s, t, model_id, version_id, n)


def _record_statements(engine: sa.Engine, into: list[str]):
    def record(_conn, _cursor, statement, *_args) -> None:
        into.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return lambda: sa.event.remove(engine, "before_cursor_execute", record)


def _dashboard(p) -> tuple:
    """Every figure the dashboard reads through ``read_session``, for one principal."""
    return dashboard.overview(p), dashboard.summary(p), dashboard.anomaly_summary(p), dashboard.filter_options(p)


@pytest.fixture(scope="module")
def replication(data_dir):
    """A real primary and hot standby with the hub's database migrated on the primary (its app and worker
    roles too); yields ``(pair, owner URL, app URL)``. Everything is stopped and deleted at the end."""
    with streaming_pair() as pair:
        settings = replace(load_settings(), database_url=pair.primary.url(HUB_DB).render_as_string(
            hide_password=False), app_database_url=None, worker_database_url=None, read_database_url=None)
        owner, app = dbengine.bootstrap(settings)
        yield pair, owner, app


@pytest.fixture
def hub(replication, monkeypatch):
    """The hub on the primary with ``AIHUB_READ_DATABASE_URL`` = the app role on the standby, as the process's
    database; yields ``(pair, database)``."""
    pair, owner, app = replication
    read = pair.standby.url(HUB_DB, user=app.username, password=app.password)
    monkeypatch.setenv("AIHUB_READ_DATABASE_URL", read.render_as_string(hide_password=False))
    db = dbengine.Database(owner, app)
    previous = dbengine._database
    dbengine.set_database(db)
    yield pair, db
    dbengine.set_database(previous)
    db.dispose()


@pytest.fixture
def primary_only(replication, monkeypatch):
    """The same primary without a read URL: the dashboard as it reads without a replica."""
    _, owner, app = replication
    monkeypatch.delenv("AIHUB_READ_DATABASE_URL", raising=False)
    db = dbengine.Database(owner, app)
    previous = dbengine._database
    yield db
    dbengine.set_database(previous)
    db.dispose()


def test_the_dashboard_reads_the_standby_and_equals_the_primary_once_replayed(hub, primary_only):
    pair, db = hub
    a, b = new_tenant("replica-a"), new_tenant("replica-b")
    _predictions(a.tenant_id, 3)
    _predictions(b.tenant_id, 5)
    dashboard.refresh_rollups(b.tenant_id)  # the worker's rollups (on the primary) replicate too
    waited, behind = pair.wait_for_replay()
    lag = pair.replay_lag()
    print(f"\nstandby: {behind} bytes of WAL behind when the wait began, caught up in {waited * 1000:.1f} ms; "
          f"pg_stat_replication.replay_lag {'none' if lag is None else f'{lag * 1000:.2f} ms'}")
    assert db.read_url.port == pair.standby.port and db.read is not db.app

    with read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is True  # the standby, not the primary
        assert s.scalar(sa.text("SELECT current_user")) == db.app_url.username

    on_read: list[str] = []
    on_app: list[str] = []
    undo = [_record_statements(db.read, on_read), _record_statements(db.app, on_app)]
    try:
        from_standby = {p.tenant_id: _dashboard(p) for p in (a, b)}
    finally:
        for u in undo:
            u()
    assert {t: d[0].figures.predictions for t, d in from_standby.items()} == {a.tenant_id: 3, b.tenant_id: 5}
    assert any("prediction_daily" in q for q in on_read)
    # The primary answers only the permission check of each call (the user's current role and session: a
    # revocation must not wait for the replica to catch up); no dashboard figure is read there.
    assert on_app
    tables = ("prediction_results", "prediction_daily", "outcome_daily", "anomal", "rollup_marks", "models",
              "insights", "usage_events", "datasets", "training_jobs", "deployments")
    assert not [q for q in on_app if any(t in q for t in tables)]

    dbengine.set_database(primary_only)
    try:
        from_primary = {p.tenant_id: _dashboard(p) for p in (a, b)}
    finally:
        dbengine.set_database(db)
    assert from_standby == from_primary


def test_a_lagging_standby_shows_the_figures_as_of_its_replay_position(hub):
    pair, _ = hub
    a = new_tenant("replica-lag")
    _predictions(a.tenant_id, 4)
    pair.wait_for_replay()
    with pair.replay_paused():
        _add_predictions(a.tenant_id, 6)
        assert pair.superuser("standby", "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()") is True
        # Committed on the primary, not yet replayed: the dashboard shows the older figure, not an error.
        assert dashboard.overview(a).figures.predictions == 4
    waited, behind = pair.wait_for_replay()
    print(f"\nafter a paused replay: {behind} bytes of WAL behind, caught up in {waited * 1000:.1f} ms")
    assert dashboard.overview(a).figures.predictions == 10


def test_on_the_standby_a_tenant_sees_only_its_own_rows(hub):
    pair, _ = hub
    a, b = new_tenant("replica-iso-a"), new_tenant("replica-iso-b")
    _predictions(a.tenant_id, 2)
    _predictions(b.tenant_id, 7)
    pair.wait_for_replay()
    with read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is True
        assert s.scalar(sa.text("SELECT count(*) FROM prediction_results")) == 2
        assert s.scalar(sa.text("SELECT count(*) FROM prediction_results WHERE tenant_id = :b"),
                        {"b": b.tenant_id}) == 0
        assert s.scalars(sa.text("SELECT DISTINCT tenant_id FROM models")).all() == [a.tenant_id]
        assert s.scalars(sa.text("SELECT DISTINCT tenant_id FROM users")).all() == [a.tenant_id]


def test_a_write_through_the_read_session_fails_on_the_standby(hub):
    pair, _ = hub
    a = new_tenant("replica-ro")
    pair.wait_for_replay()
    with pytest.raises(DatabaseError, match="read-only"), read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is True
        s.execute(sa.text("INSERT INTO rollup_marks (tenant_id, kind, day) VALUES (:t, 'predictions', "
                          "current_date)"), {"t": a.tenant_id})
    with pytest.raises(DatabaseError, match="positive integer"), read_session(0):
        pass


def test_the_standby_is_guarded_from_data_sources_like_the_primary(hub):
    pair, _ = hub
    for port in (pair.primary.port, pair.standby.port):
        with pytest.raises(ConnectorError):
            hub_server_problem(socket_dir=None, ips=["127.0.0.1"], port=port, database="warehouse",
                               source="a database source")


def test_with_the_standby_down_the_dashboard_loads_from_the_primary_and_warns(hub, caplog):
    pair, db = hub
    a = new_tenant("replica-down")
    _predictions(a.tenant_id, 3)
    pair.wait_for_replay()
    assert dashboard.overview(a).figures.predictions == 3  # pools a connection to the standby
    with pair.standby_stopped(), caplog.at_level(logging.WARNING, logger="aihub.db"):
        _add_predictions(a.tenant_id, 2)
        assert dashboard.overview(a).figures.predictions == 5  # the primary's own figure
        with read_session(a.tenant_id) as s:
            assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is False
        assert dashboard.filter_options(a).last_day is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once, not on every read
    print(f"\n{warnings[0]}")
    assert "AIHUB_READ_DATABASE_URL" in warnings[0] and f"127.0.0.1:{pair.standby.port}/{HUB_DB}" in warnings[0]
    assert "Connection refused" in warnings[0]
    assert db.app_url.password not in warnings[0]
    # Started again, the replica is left alone until READ_RETRY_SECONDS (30 s) have passed.
    with read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is False


def test_the_dashboard_returns_to_the_standby_once_it_answers(hub, monkeypatch, caplog):
    pair, _ = hub
    monkeypatch.setattr(dbengine, "READ_RETRY_SECONDS", 0.0)  # retry the replica on the next read
    a = new_tenant("replica-back")
    with pair.standby_stopped(), read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is False
    pair.wait_for_replay()
    with caplog.at_level(logging.INFO, logger="aihub.db"), read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is True
        assert s.scalar(sa.text("SELECT count(*) FROM users")) == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_an_unanswering_replica_costs_the_connect_timeout_then_the_primary_answers(hub, replication, monkeypatch,
                                                                                 caplog):
    """A replica host that accepts TCP but never answers (a hung server, a half-open network path) must not
    hang the dashboard: the read engine's connect_timeout ends the attempt and the primary answers."""
    _, owner, app = replication
    monkeypatch.setattr(dbengine, "READ_CONNECT_TIMEOUT", 2)  # libpq's smallest; the product's is 5 s
    with socket.socket() as silent, caplog.at_level(logging.WARNING, logger="aihub.db"):
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nothing ever reads or answers
        # Without a connect timeout the test would wait forever: closing the socket after 30 s resets the
        # connection, which fails the assertion on the warning below instead.
        watchdog = threading.Timer(30, silent.close)
        watchdog.start()
        read = URL.create("postgresql+psycopg", username=app.username, password=app.password, host="127.0.0.1",
                          port=silent.getsockname()[1], database=HUB_DB)
        db = dbengine.Database(owner, app, read=read)
        dbengine.set_database(db)
        try:
            a = new_tenant("replica-silent")
            with read_session(a.tenant_id) as s:
                assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is False
            assert db.read_engine() is db.app
        finally:
            watchdog.cancel()
            db.dispose()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "timeout expired" in warning, warning


def test_an_unset_read_url_uses_the_app_engine(primary_only):
    assert primary_only.read_url is None
    assert primary_only.read is primary_only.app
    dbengine.set_database(primary_only)
    a = new_tenant("replica-unset")
    _predictions(a.tenant_id, 2)
    with read_session(a.tenant_id) as s:
        assert s.scalar(sa.text("SELECT pg_is_in_recovery()")) is False
    assert dashboard.overview(a).figures.predictions == 2
