"""Issue 16: the dashboard's reads go to ``AIHUB_READ_DATABASE_URL`` when it is set, under the same tenant rules.

Against real streaming replication (:mod:`tests.standby`): a fresh primary, migrated and written by the hub as
usual, and a hot standby taken from it with ``pg_basebackup -R``; ``AIHUB_READ_DATABASE_URL`` is the app role
on the standby (the role and its password arrive by replication). Checked: the dashboard's statements run on
the standby (``pg_is_in_recovery()``) and none on the primary except the permission checks; its figures equal
the primary's once the standby has replayed the primary's WAL; what it shows while the standby lags; tenant
isolation and the read-only transaction on the standby; that with the standby down the dashboard loads
from the primary with a warning naming the setting; that a read the standby fails mid-way (killed with
``pg_ctl stop -m immediate``, or cancelling it for a replay conflict) is read again from the primary, once,
with one warning, while the query's own errors are raised; and the replica connections' keepalives.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from aihub.config import load_settings
from aihub.connectors.policy import hub_server_problem
from aihub.db import engine as dbengine
from aihub.db import models as m
from aihub.db.session import read_session, run_read, tenant_session
from aihub.errors import ConnectorError, DatabaseError
from aihub.services import dashboard
from tests.conftest import new_tenant
from tests.standby import DEADLINE, streaming_pair

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


# ---------------------------------------------------------------------------------------------- failures mid-read
#: One read that sleeps 20 s on the standby only (after counting, holding its snapshot and its lock on
#: prediction_results), so a test can kill the standby or replay a conflict while it runs; on the primary it
#: answers at once. Returns the tenant's predictions and whether it ran on the standby.
_SLOW_ON_STANDBY = sa.text(
    "SELECT count(*) AS n, pg_is_in_recovery() AS standby, "
    "CASE WHEN pg_is_in_recovery() THEN (SELECT 0 FROM pg_sleep(20)) ELSE 0 END AS slept FROM prediction_results")


def _slow_count(engines: list):
    """A read for ``run_read`` that notes the engine of each attempt in ``engines``."""
    def work(s) -> tuple[int, bool]:
        engines.append(s.bind)
        row = s.execute(_SLOW_ON_STANDBY).one()
        return row.n, row.standby

    return work


@contextmanager
def _meanwhile(action):
    """Run ``action`` in a thread during the block; raise its error after the block."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    except Exception as exc:
        thread.join(DEADLINE)
        if errors:  # the thread's failure is the likely cause of the block's
            raise errors[0] from exc
        raise
    thread.join(DEADLINE)
    if errors:
        raise errors[0]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_replica_killed_mid_query_is_read_again_from_the_primary(hub, caplog):
    """pg_ctl stop -m immediate while a read's statement runs on the standby: the read answers from the primary,
    one warning says so, and the next reads skip the replica for READ_RETRY_SECONDS."""
    pair, db = hub
    a = new_tenant("replica-killed")
    _predictions(a.tenant_id, 3)
    pair.wait_for_replay()
    engines: list = []

    def kill() -> None:
        pair.wait_for_standby_query("pg_sleep(20)")
        pair.kill_standby()

    with pair.standby_restarted_after(), caplog.at_level(logging.WARNING, logger="aihub.db"), _meanwhile(kill):
        assert run_read(a.tenant_id, _slow_count(engines)) == (3, False)  # the primary's count
        assert engines == [db.read, db.app]  # once on the standby, once on the primary
        assert db.read_engine() is db.app
    (warning,) = _warnings(caplog)
    print(f"\n{warning}")
    assert "AIHUB_READ_DATABASE_URL" in warning and f"127.0.0.1:{pair.standby.port}/{HUB_DB}" in warning
    assert "connection to it died" in warning and db.app_url.password not in warning


def test_a_replica_dying_between_checkout_and_query_leaves_the_dashboard_the_primarys_figures(hub, caplog):
    """The standby dies after the read's connection was checked out and its tenant set, before the dashboard's
    first query: the overview shows the primary's figure (10, where the paused standby says 4), not an error."""
    pair, db = hub
    a = new_tenant("replica-dies")
    _predictions(a.tenant_id, 4)
    pair.wait_for_replay()

    def kill_before_first_query(_conn, _cursor, statement, *_args) -> None:
        setup = "SET TRANSACTION" in statement or "set_config" in statement
        if not setup and pair.standby_running():
            pair.kill_standby()

    with pair.replay_paused():
        _add_predictions(a.tenant_id, 6)
        assert dashboard.overview(a).figures.predictions == 4  # the standby, replay paused
        with pair.standby_restarted_after(), caplog.at_level(logging.WARNING, logger="aihub.db"):
            sa.event.listen(db.read, "before_cursor_execute", kill_before_first_query)
            try:
                assert dashboard.overview(a).figures.predictions == 10  # the primary's
            finally:
                sa.event.remove(db.read, "before_cursor_execute", kill_before_first_query)
            assert not pair.standby_running()
            assert dashboard.filter_options(a).last_day is not None  # the primary again, without a new warning
    (warning,) = _warnings(caplog)
    assert "AIHUB_READ_DATABASE_URL" in warning and "read again from the primary" in warning


def test_a_read_cancelled_by_a_replay_conflict_is_read_again_from_the_primary(hub, replication, caplog):
    """max_standby_streaming_delay = 0 on the standby, a read holding its snapshot there, and the primary
    deletes and vacuums the rows it reads: replaying the cleanup cancels the read ("canceling statement due
    to conflict with recovery", SQLSTATE 40001). It answers from the primary; the replica stays in use."""
    pair, db = hub
    a = new_tenant("replica-conflict")
    _predictions(a.tenant_id, 5)
    pair.wait_for_replay()
    engines: list = []

    owner = sa.create_engine(replication[1], isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)

    def delete_and_vacuum() -> None:
        pair.wait_for_standby_query("pg_sleep(20)")
        with owner.connect() as conn:
            conn.execute(sa.text("DELETE FROM prediction_results WHERE tenant_id = :t"), {"t": a.tenant_id})
            # Again while the read runs: a VACUUM cannot remove the rows while another snapshot on the primary
            # (an autovacuum ANALYZE, say) is older than the delete; the first that can cancels the read.
            for _ in range(100):
                conn.execute(sa.text("VACUUM prediction_results"))
                if pair.standby_query("pg_sleep(20)") is None:
                    break
                time.sleep(0.1)

    with pair.standby_settings(max_standby_streaming_delay="0", hot_standby_feedback="off"), \
            caplog.at_level(logging.WARNING, logger="aihub.db"), _meanwhile(delete_and_vacuum):
        assert run_read(a.tenant_id, _slow_count(engines)) == (0, False)  # the primary, after the delete
        assert engines == [db.read, db.app]
        assert db.read_engine() is db.read  # a conflict is no outage: the next read tries the replica
    (warning,) = _warnings(caplog)
    print(f"\n{warning}")
    assert "AIHUB_READ_DATABASE_URL" in warning and "conflict with its WAL replay" in warning
    assert "conflict with recovery" in warning


@pytest.mark.parametrize(("sql", "message"), [
    ("SELEC count(*) FROM models", "syntax error"),
    ("SELECT version_num FROM alembic_version", "permission denied"),
    ("SELECT 1 / (count(*) - count(*)) FROM models", "division by zero"),
    ("INSERT INTO rollup_marks (tenant_id, kind, day) VALUES (:t, 'predictions', current_date)", "read-only"),
])
def test_a_read_failing_on_the_replica_by_its_own_fault_is_raised_not_retried(hub, caplog, sql, message):
    pair, db = hub
    a = new_tenant("replica-own-fault")
    pair.wait_for_replay()
    engines: list = []
    on_app: list[str] = []

    def work(s) -> None:
        engines.append(s.bind)
        s.execute(sa.text(sql), {"t": a.tenant_id} if ":t" in sql else {})

    undo = _record_statements(db.app, on_app)
    try:
        with caplog.at_level(logging.WARNING, logger="aihub.db"), pytest.raises(DatabaseError, match=message):
            run_read(a.tenant_id, work)
    finally:
        undo()
    assert engines == [db.read] and on_app == []  # never sent to the primary
    assert _warnings(caplog) == [] and db.read_engine() is db.read


def test_the_replica_connections_carry_keepalives_and_a_tcp_user_timeout(hub):
    _, db = hub
    with db.read.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_is_in_recovery()")) is True
        params = conn.connection.dbapi_connection.info.get_parameters()
    expected = {"connect_timeout": dbengine.READ_CONNECT_TIMEOUT, **dbengine.READ_KEEPALIVES}
    assert {k: params.get(k) for k in expected} == {k: str(v) for k, v in expected.items()}
    # What the operator's URL sets wins.
    url = db.read_url.update_query_dict({"tcp_user_timeout": "2500", "connect_timeout": "9"})
    args = dbengine.read_connect_args(url)
    assert "tcp_user_timeout" not in args and "connect_timeout" not in args and args["keepalives_idle"] == 5
