"""The service's own health for probes and load balancers: database, worker heartbeat, queue depth, version.

No principal: nothing here belongs to a tenant, and only counts, times and
the version leave it. A probe that cannot reach the database gets
``status = "unavailable"``; one whose worker is silent gets ``"degraded"``
(the app and API still answer; queued work waits, or runs inline when
``AIHUB_JOB_BACKEND`` is ``auto``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from aihub import __version__
from aihub.db import queue_store, system_store

log = logging.getLogger(__name__)

#: A worker whose heartbeat is older than this (seconds) is not counted alive (the worker's stalled timeout).
WORKER_STALE_SECONDS = 30.0


@dataclass(frozen=True)
class SystemHealth:
    """Health of this deployment.

    Attributes
    ----------
    status : {"ok", "degraded", "unavailable"}
    version : str
        :data:`aihub.__version__`.
    database_ok : bool
    database_ms : float or None
        Round trip of ``SELECT 1`` in milliseconds.
    workers_alive : int
        Workers with a heartbeat in the last :data:`WORKER_STALE_SECONDS`.
    last_heartbeat : datetime or None
    queue_waiting, queue_running : int
        Jobs in the task queue.
    """

    status: str
    version: str
    database_ok: bool
    database_ms: float | None
    workers_alive: int
    last_heartbeat: datetime | None
    queue_waiting: int
    queue_running: int


def health() -> SystemHealth:
    """Check the database, the workers and the queue now (never raises)."""
    from aihub.db.engine import get_database

    try:
        t0 = time.perf_counter()
        db = get_database()
        with db.app.connect() as conn:
            ok = system_store.ping(conn)
            ms = (time.perf_counter() - t0) * 1000
            alive, last = queue_store.worker_heartbeats(conn, WORKER_STALE_SECONDS)
        with db.owner.connect() as conn:
            depth = queue_store.queue_depth(conn)
    except Exception as exc:  # noqa: BLE001 - a probe reports the failure instead of raising it
        log.warning("health check: database unavailable: %s", exc)
        return SystemHealth("unavailable", __version__, False, None, 0, None, 0, 0)
    status = "ok" if ok and alive else "degraded" if ok else "unavailable"
    return SystemHealth(status, __version__, ok, round(ms, 2), alive, last, depth["waiting"], depth["running"])
