"""Monitors: list, one, run now (a job), runs, schedule, pause and resume, alerting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from aihub.anomaly import schedule as schedules
from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import FIRST_ID, JOB_LINKS, accepted, link, links
from aihub.api.schemas import (
    ERRORS,
    AlertingIn,
    AlertingOut,
    Job,
    MonitorOut,
    MonitorRun,
    Page,
    ScheduleIn,
    ScheduleOut,
)
from aihub.errors import ConnectorError, ValidationError
from aihub.jsonsafe import plain
from aihub.paging import paginate
from aihub.services import monitors as monitoring

router = APIRouter(prefix="/monitors", tags=["monitors"], responses=ERRORS)
MonitorId = Annotated[int, Path(ge=1, le=2**62, description="Monitor id")]
RunId = Annotated[int, Path(ge=1, le=2**62, description="Run id")]
Cursor = Annotated[str | None, Query(min_length=1, max_length=100, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=500)]


def monitor_out(m) -> MonitorOut:
    return MonitorOut.model_validate({k: v for k, v in {**m.__dict__, "config": plain(m.config),
                                                        "schedule": plain(m.schedule or {})}.items()
                                      if k in MonitorOut.model_fields})


def schedule_out(m) -> ScheduleOut:
    sched = schedules.parse_schedule(m.schedule or None)
    return ScheduleOut(**sched.model_dump(), description=schedules.describe_schedule(sched), enabled=m.enabled,
                       next_run_at=m.next_run_at)


def alerting_out(m) -> AlertingOut:
    """The monitor's alert settings; the webhook's signing secret is only said to exist, never returned."""
    settings = schedules.parse_alerting(m.alerting or None)
    return AlertingOut.model_validate({**settings.model_dump(mode="json"), "has_webhook_secret": m.has_alert_secret})


@router.get("", response_model=Page[MonitorOut], summary="List monitors",
            responses=links(200, **{name: link("GET", f"/monitors/{{monitor_id}}{tail}", monitor_id=FIRST_ID)
                                    for name, tail in (("GetMonitor", ""), ("ListRuns", "/runs"),
                                                       ("GetSchedule", "/schedule"), ("GetAlerting", "/alerting"))}))
def list_monitors(p: Caller, dataset_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                  cursor: Cursor = None, limit: Limit = 50) -> Page[MonitorOut]:
    rows = [m for m in monitoring.list_monitors(p) if dataset_id in (None, m.dataset_id)]
    page = paginate(rows, cursor, limit)
    return Page[MonitorOut](items=[monitor_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/{monitor_id:int}", response_model=MonitorOut, summary="One monitor")
def get_monitor(p: Caller, monitor_id: MonitorId) -> MonitorOut:
    return monitor_out(monitoring.get_monitor(p, monitor_id))


@router.post("/{monitor_id:int}/run", status_code=202, response_model=Job, summary="Run a monitor now",
             responses=links(202, **JOB_LINKS),
             response_description="The run's job; poll its Location")
def run_now(p: Caller, monitor_id: MonitorId, idem: Idem) -> JSONResponse:
    """Queues a run for the worker and answers 202 with its job (``Location: /api/v1/jobs/{id}``). The run scores
    the periods since the last one; the finished job's ``result`` names the run (``monitor_run_id``) and
    ``anomalies_found``; a failed run fails the job with its reason. Needs ``ai_analytics:detect``."""
    return idem.run(f"POST /monitors/{monitor_id}/run", None,
                    lambda: accepted(monitoring.queue_run(p, monitor_id)))


@router.get("/{monitor_id:int}/runs", response_model=Page[MonitorRun], summary="Runs of a monitor",
            responses=links(200, GetRun=link("GET", "/monitors/{monitor_id}/runs/{run_id}",
                                             monitor_id="$request.path.monitor_id", run_id=FIRST_ID)))
def list_runs(p: Caller, monitor_id: MonitorId, cursor: Cursor = None, limit: Limit = 50) -> Page[MonitorRun]:
    page = monitoring.page_runs(p, monitor_id, cursor=cursor, limit=limit)
    return Page[MonitorRun](items=[MonitorRun.model_validate(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{monitor_id:int}/runs/{run_id:int}", response_model=MonitorRun, summary="One run of a monitor")
def get_run(p: Caller, monitor_id: MonitorId, run_id: RunId) -> MonitorRun:
    return MonitorRun.model_validate(monitoring.get_run(p, monitor_id, run_id))


@router.get("/{monitor_id:int}/schedule", response_model=ScheduleOut, summary="When the monitor runs by itself")
def get_schedule(p: Caller, monitor_id: MonitorId) -> ScheduleOut:
    return schedule_out(monitoring.get_monitor(p, monitor_id))


@router.put("/{monitor_id:int}/schedule", response_model=ScheduleOut, summary="Set when the monitor runs by itself")
def set_schedule(p: Caller, body: ScheduleIn, monitor_id: MonitorId) -> ScheduleOut:
    """``manual``, ``hourly`` (at ``minute``), ``daily`` (at ``at``), ``weekly`` (``weekday`` at ``at``) or
    ``cron`` (``cron``), in ``timezone``. A paused monitor keeps its schedule and gets no next run until resumed.
    Needs ``ai_analytics:update``."""
    return schedule_out(monitoring.set_schedule(p, monitor_id, body.model_dump()))


@router.post("/{monitor_id:int}/pause", response_model=ScheduleOut, summary="Pause the monitor's own runs")
def pause(p: Caller, monitor_id: MonitorId) -> ScheduleOut:
    """Scheduled and after-sync runs stop; "run now" still works. Needs ``ai_analytics:update``."""
    return schedule_out(monitoring.set_enabled(p, monitor_id, False))


@router.post("/{monitor_id:int}/resume", response_model=ScheduleOut, summary="Resume the monitor's own runs")
def resume(p: Caller, monitor_id: MonitorId) -> ScheduleOut:
    """The next run is the schedule's next time from now. Needs ``ai_analytics:update``."""
    return schedule_out(monitoring.set_enabled(p, monitor_id, True))


@router.get("/{monitor_id:int}/alerting", response_model=AlertingOut, summary="Who is alerted, and when")
def get_alerting(p: Caller, monitor_id: MonitorId) -> AlertingOut:
    return alerting_out(monitoring.get_monitor(p, monitor_id))


@router.put("/{monitor_id:int}/alerting", response_model=AlertingOut, summary="Set who is alerted, and when")
def set_alerting(p: Caller, body: AlertingIn, monitor_id: MonitorId) -> AlertingOut:
    """E-mail recipients and/or a signed webhook, for incidents at or above ``min_severity``, right away or as an
    hourly/daily digest, outside ``quiet_hours``. The webhook's host must be on ``AIHUB_ALLOWED_HOSTS`` (422
    otherwise, checked again before each delivery); a new webhook needs ``webhook_secret`` (at least 16
    characters), stored encrypted and never returned. Needs ``ai_analytics:update``."""
    raw = body.model_dump(exclude={"webhook_secret"})
    try:
        saved = monitoring.set_alerting(p, monitor_id, raw, webhook_secret=body.webhook_secret)
    except ConnectorError as exc:
        if exc.kind != "not_allowed":
            raise
        raise ValidationError(exc.message, code="host_not_allowed", field="webhook_url") from None
    return alerting_out(saved)
