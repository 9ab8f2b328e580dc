"""SQL of the service's own health: a database round trip (the queue's figures are in :mod:`aihub.db.queue_store`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def ping(conn: Connection) -> bool:
    """Whether the database answers ``SELECT 1``."""
    return conn.execute(sa.text("SELECT 1")).scalar() == 1
