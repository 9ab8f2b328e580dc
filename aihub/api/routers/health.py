"""``GET /health``: database, worker heartbeat, queue depth, compute engine and version, without a key (for probes)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aihub import system
from aihub.api.schemas import Health
from aihub.runtime.compute import backend_state

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Health of this deployment",
            responses={503: {"model": Health, "description": "The database cannot be reached."}})
def health() -> JSONResponse:
    """No API key needed. ``status`` is ``ok``, ``degraded`` (no worker heartbeat in 30 s) or ``unavailable``
    (no database; HTTP 503). ``compute`` says where the heavy jobs run (``in-process`` unless
    ``AIHUB_DASK_SCHEDULER`` or ``AIHUB_DASK_LOCAL`` is set) and whether a named scheduler answers."""
    h = system.health()
    body = Health(status=h.status, version=h.version,
                  database={"ok": h.database_ok, "latency_ms": h.database_ms},
                  worker={"alive": h.workers_alive,
                          "last_heartbeat": h.last_heartbeat.isoformat() if h.last_heartbeat else None},
                  queue={"waiting": h.queue_waiting, "running": h.queue_running}, compute=backend_state())
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if h.status == "unavailable" else 200)
