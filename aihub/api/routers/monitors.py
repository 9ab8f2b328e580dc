"""Monitors: list, one, run now, runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from aihub.api.deps import Caller
from aihub.api.schemas import ERRORS, MonitorOut, MonitorRun, Page
from aihub.jsonsafe import plain
from aihub.paging import paginate
from aihub.services import monitors as monitoring

router = APIRouter(prefix="/monitors", tags=["monitors"], responses=ERRORS)
MonitorId = Annotated[int, Path(ge=1, le=2**62, description="Monitor id")]
Cursor = Annotated[str | None, Query(min_length=1, max_length=100, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=500)]


def monitor_out(m) -> MonitorOut:
    return MonitorOut.model_validate({k: v for k, v in {**m.__dict__, "config": plain(m.config)}.items()
                                      if k in MonitorOut.model_fields})


@router.get("", response_model=Page[MonitorOut], summary="List monitors")
def list_monitors(p: Caller, dataset_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                  cursor: Cursor = None, limit: Limit = 50) -> Page[MonitorOut]:
    rows = [m for m in monitoring.list_monitors(p) if dataset_id in (None, m.dataset_id)]
    page = paginate(rows, cursor, limit)
    return Page[MonitorOut](items=[monitor_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/{monitor_id:int}", response_model=MonitorOut, summary="One monitor")
def get_monitor(p: Caller, monitor_id: MonitorId) -> MonitorOut:
    return monitor_out(monitoring.get_monitor(p, monitor_id))


@router.post("/{monitor_id:int}/run", response_model=MonitorRun, summary="Run a monitor now")
def run_now(p: Caller, monitor_id: MonitorId) -> MonitorRun:
    """Scores the periods since its last run (a run is streaming: seconds, not minutes) and answers with the run;
    a failed run says why in ``error``. Needs ``ai_analytics:detect``."""
    return MonitorRun.model_validate(monitoring.run_monitor(p, monitor_id))


@router.get("/{monitor_id:int}/runs", response_model=Page[MonitorRun], summary="Runs of a monitor")
def list_runs(p: Caller, monitor_id: MonitorId, cursor: Cursor = None, limit: Limit = 50) -> Page[MonitorRun]:
    page = paginate(monitoring.list_runs(p, monitor_id, limit=1000), cursor, limit)
    return Page[MonitorRun](items=[MonitorRun.model_validate(r) for r in page.items], next_cursor=page.next_cursor)
