"""SQL of the task queue: worker heartbeats (procrastinate's tables) and jobs left behind by stopped processes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def workers_alive(conn: Connection, max_age_seconds: float) -> int:
    """How many procrastinate workers sent a heartbeat within ``max_age_seconds`` (app connection)."""
    return conn.execute(
        sa.text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
        {"s": max_age_seconds},
    ).scalar() or 0


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
