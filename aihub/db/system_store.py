"""SQL of the service's own health: a database round trip, worker heartbeats and queue depth.

Read on the app connection, with no tenant: procrastinate's tables
(``procrastinate_workers``, ``procrastinate_jobs``) hold no tenant data, and
only counts and times leave this module.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def ping(conn: Connection) -> bool:
    """Whether the database answers ``SELECT 1``."""
    return conn.execute(sa.text("SELECT 1")).scalar() == 1


def worker_heartbeats(conn: Connection, max_age_seconds: float) -> tuple[int, datetime | None]:
    """Workers with a heartbeat within ``max_age_seconds``, and the newest heartbeat of any worker."""
    row = conn.execute(sa.text(
        "SELECT count(*) FILTER (WHERE last_heartbeat > now() - make_interval(secs => :s)), max(last_heartbeat) "
        "FROM procrastinate_workers"), {"s": max_age_seconds}).one()
    return int(row[0] or 0), row[1]


def queue_depth(conn: Connection) -> dict[str, int]:
    """Jobs waiting (``todo``) and running (``doing``) in the task queue."""
    rows = conn.execute(sa.text(
        "SELECT status::text, count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY status"
    )).all()
    counts = {str(s): int(n) for s, n in rows}
    return {"waiting": counts.get("todo", 0), "running": counts.get("doing", 0)}
