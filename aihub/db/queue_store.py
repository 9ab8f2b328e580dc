"""SQL of the task queue: worker heartbeats, queueing a tenant's task (``aihub_queue_defer``), jobs left behind."""

from __future__ import annotations

from datetime import datetime

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


def worker_heartbeats(conn: Connection, max_age_seconds: float) -> tuple[int, datetime | None]:
    """Workers with a heartbeat within ``max_age_seconds``, and the newest heartbeat of any worker (app connection)."""
    row = conn.execute(sa.text(
        "SELECT count(*) FILTER (WHERE last_heartbeat > now() - make_interval(secs => :s)), max(last_heartbeat) "
        "FROM procrastinate_workers"), {"s": max_age_seconds}).one()
    return int(row[0] or 0), row[1]


def queue_depth(conn: Connection) -> dict[str, int]:
    """Jobs waiting (``todo``) and running (``doing``) in the task queue.

    Needs the owner connection (the app role may not read ``procrastinate_jobs``); only two counts leave it.
    """
    rows = conn.execute(sa.text(
        "SELECT status::text, count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY status"
    )).all()
    counts = {str(s): int(n) for s, n in rows}
    return {"waiting": counts.get("todo", 0), "running": counts.get("doing", 0)}
