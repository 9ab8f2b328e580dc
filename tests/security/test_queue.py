"""Issue 10, low item: the app role cannot read, add or delete any tenant's tasks in the worker queue.

Threat: the web process connects as ``aihub_app``. Before migration 0011 that role had plain DML on procrastinate's
tables, so any statement it ran (an injection, a bug) could read every tenant's queued tasks, delete them, queue a
task with another tenant's id, or take another tenant's queueing lock so its job never queued. Now the app role has
no right on those tables except the workers' heartbeat times; it queues its own tenant's training jobs and workflow
runs through ``aihub_queue_defer``, which checks the row belongs to the transaction's tenant and writes the
arguments and locks itself. ``aihub worker`` reaches the queue as its own role, which can read no tenant table.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from procrastinate.exceptions import AlreadyEnqueued

from aihub import queue
from aihub.db.session import tenant_session
from aihub.services import datasets, forecasts
from tests.conftest import new_tenant, shared_file


def _job(tenant) -> int:
    data = shared_file("prophet_examples", "example_retail_sales.csv").read_bytes()
    saved = datasets.save_upload(tenant, "retail", "example_retail_sales.csv", data)
    _, job = forecasts.create_forecast_model(tenant, {
        "model_name": "retail", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "freq": "M", "horizon": 6, "algorithm": "naive"}, run=False)
    return job.id


def _denied(conn, sql: str, params: dict | None = None) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(sa.text(sql), params or {})
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
            return True
        raise
    return False


@pytest.fixture
def queued(db):
    """procrastinate job ids to delete (as the owner) after the test, so no worker runs them."""
    ids: list[int] = []
    yield ids
    with db.owner.begin() as conn:
        conn.execute(sa.text("DELETE FROM procrastinate_jobs WHERE id = ANY(:i)"), {"i": ids})


def test_the_app_role_cannot_read_add_or_delete_queued_tasks(db, queued):
    victim = new_tenant("qvictim")
    job_id = _job(victim)
    with db.owner.begin() as conn:  # a task of the victim waits in the queue, as a worker deferral leaves it
        queued.append(conn.execute(sa.text(
            "SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW('jobs', 'aihub.run_job', 0, :k, :k, "
            "CAST(:a AS jsonb), NULL)]::procrastinate_job_to_defer_v1[]))[1]"),
            {"k": f"aihub-job-{job_id}", "a": f'{{"tenant_id": {victim.tenant_id}, "job_id": {job_id}}}'}).scalar())

    with db.app.connect() as conn:
        assert _denied(conn, "SELECT args FROM procrastinate_jobs")
        assert _denied(conn, "SELECT * FROM procrastinate_events")
        assert _denied(conn, "DELETE FROM procrastinate_jobs")
        assert _denied(conn, "UPDATE procrastinate_jobs SET status = 'cancelled'")
        assert _denied(conn, "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args) "
                             "VALUES ('jobs', 'aihub.run_job', 'x', 'x', '{}')")
        assert _denied(conn, "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('jobs', 'aihub.run_job', 0, NULL, NULL, "
                             "'{}'::jsonb, NULL)]::procrastinate_job_to_defer_v1[])")
        assert _denied(conn, "SELECT procrastinate_cancel_job_v1(:i, true, true)", {"i": queued[0]})
        assert _denied(conn, "SELECT id FROM procrastinate_workers")
        # what the web process needs: whether a worker is alive
        conn.execute(sa.text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - interval '1 minute'"))
    with db.owner.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM procrastinate_jobs WHERE id = :i"), {"i": queued[0]}).scalar()
    assert status == "todo", "the victim's task was changed"


def test_a_tenant_queues_only_its_own_rows_with_locks_the_database_derives(db, queued, monkeypatch):
    attacker, victim = new_tenant("qattacker"), new_tenant("qvictim")
    own, theirs = _job(attacker), _job(victim)
    with tenant_session(attacker.tenant_id) as s:
        conn = s.connection()
        # another tenant's job (which would also take its queueing lock aihub-job-<id>), another task, no tenant
        assert _denied(conn, "SELECT aihub_queue_defer('aihub.run_job', :i)", {"i": theirs})
        assert _denied(conn, "SELECT aihub_queue_defer('aihub.sync_source', :i)", {"i": own})
        assert _denied(conn, "SELECT aihub_queue_defer('aihub.tick', 0)")
    with db.app.connect() as conn:
        assert _denied(conn, "SELECT aihub_queue_defer('aihub.run_job', :i)", {"i": own})

    monkeypatch.setenv("AIHUB_JOB_BACKEND", "worker")
    key = f"aihub-job-{own}"
    queued.append(queue.defer("aihub.run_job", lock=key, queueing_lock=key, tenant_id=attacker.tenant_id, job_id=own))
    with pytest.raises(AlreadyEnqueued):
        queue.defer("aihub.run_job", lock=key, queueing_lock=key, tenant_id=attacker.tenant_id, job_id=own)
    queued.append(queue.defer("aihub.run_job", lock="x", queueing_lock="x", tenant_id=victim.tenant_id, job_id=theirs))
    with db.owner.connect() as conn:
        rows = conn.execute(sa.text("SELECT task_name, lock, queueing_lock, args FROM procrastinate_jobs "
                                    "WHERE id = ANY(:i) ORDER BY id"), {"i": queued}).all()
    assert [tuple(r) for r in rows] == [
        ("aihub.run_job", key, key, {"tenant_id": attacker.tenant_id, "job_id": own}),
        ("aihub.run_job", f"aihub-job-{theirs}", f"aihub-job-{theirs}",
         {"tenant_id": victim.tenant_id, "job_id": theirs})]


def test_the_worker_role_reaches_the_queue_and_no_tenant_table(db):
    url = db.worker_url
    assert url is not None and url.username == "aihub_worker"
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM procrastinate_jobs")).scalar() >= 0
            for table in ("users", "tenants", "datasets", "training_jobs", "audit_log", "alembic_version"):
                assert _denied(conn, f"SELECT count(*) FROM {table}"), table
            assert _denied(conn, "SELECT * FROM aihub_login_lookup('a@example.com')")
            assert _denied(conn, "SELECT aihub_queue_defer('aihub.run_job', 1)")
            flags = conn.execute(sa.text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                                         "WHERE rolname = current_user")).one()
            assert not any(flags)
    finally:
        eng.dispose()
