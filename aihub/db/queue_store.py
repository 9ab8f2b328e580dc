"""SQL of the task queue: worker heartbeats, queueing a tenant's task (``aihub_queue_defer``), jobs left behind."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def workers_alive(conn: Connection, max_age_seconds: float) -> int:
    """How many procrastinate workers sent a heartbeat within ``max_age_seconds`` (the app may read only that column)."""
    return conn.execute(
        sa.text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
        {"s": max_age_seconds},
    ).scalar() or 0


def defer_for_tenant(s: Session, task: str, object_id: int) -> int | None:
    """Queue ``task`` for row ``object_id`` of the session's tenant (``aihub_queue_defer``); None if it already waits.

    Raises
    ------
    sqlalchemy.exc.DBAPIError
        ``insufficient_privilege`` if the task may not be queued by the app or the row is not the tenant's.
    """
    try:
        with s.begin_nested():
            return s.execute(sa.text("SELECT aihub_queue_defer(:t, :i)"), {"t": task, "i": object_id}).scalar_one()
    except sa.exc.IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == "23505":  # unique_violation: the queueing lock is taken
            return None
        raise


def interrupted_jobs(s: Session, lease_seconds: float) -> list[tuple[int, int]]:
    """``(tenant_id, job_id)`` of training jobs queued, or running with a lease older than ``lease_seconds``.

    Spans tenants: call it on the owner session (:func:`aihub.db.owner_scans`).
    """
    rows = s.execute(
        sa.text(
            "SELECT tenant_id, id FROM training_jobs WHERE status = 'queued' OR (status = 'running' "
            "AND heartbeat_at < now() - make_interval(secs => :s)) ORDER BY id"
        ),
        {"s": lease_seconds},
    ).all()
    return [(int(t), int(j)) for t, j in rows]
