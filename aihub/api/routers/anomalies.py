"""Anomalies: list and filter, one, its audit trail, triage (status, assignee), notes, false positive."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from aihub.api.deps import Caller
from aihub.api.routers._common import FIRST_ID, link, links
from aihub.api.schemas import ERRORS, AnomalyEvent, AnomalyOut, Assign, FalsePositive, Note, Page, StatusChange
from aihub.errors import ValidationError
from aihub.jsonsafe import plain
from aihub.services import anomalies as monitoring

router = APIRouter(prefix="/anomalies", tags=["anomalies"], responses=ERRORS)
AnomalyId = Annotated[int, Path(ge=1, le=2**62, description="Anomaly id")]
Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["new", "acknowledged", "investigating", "resolved", "false_positive"]


DATE = r"^\d{4}-\d{2}-\d{2}$"


def _day(text: str | None, field: str) -> date | None:
    """``YYYY-MM-DD`` as a date (a calendar-impossible one is a 422 naming the parameter)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field} must be a date like 2024-03-31; got {text!r}.", field=field) from None


def anomaly_out(a, full: bool = False) -> AnomalyOut:
    data = {k: v for k, v in a.__dict__.items() if k in AnomalyOut.model_fields}
    data = plain(data)
    if not full:
        data.pop("root_cause", None)
        data.pop("snapshot", None)
    return AnomalyOut.model_validate({**data, "ts": a.ts.isoformat(), "created_at": a.created_at, "updated_at": a.updated_at,
                                      "resolved_at": a.resolved_at})


@router.get("", response_model=Page[AnomalyOut], summary="List anomalies, newest first",
            responses=links(200, GetAnomaly=link("GET", "/anomalies/{anomaly_id}", anomaly_id=FIRST_ID),
                            ListEvents=link("GET", "/anomalies/{anomaly_id}/events", anomaly_id=FIRST_ID),
                            AddNote=link("POST", "/anomalies/{anomaly_id}/notes", anomaly_id=FIRST_ID)))
def list_anomalies(
    p: Caller,
    severity: Annotated[list[Severity] | None, Query(max_length=4)] = None,
    status: Annotated[list[Status] | None, Query(max_length=5)] = None,
    monitor_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    metric: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[str | None, Query(pattern=DATE, description="Period on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, Query(pattern=DATE, description="Period on or before (YYYY-MM-DD)")] = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AnomalyOut]:
    page = monitoring.page_anomalies(p, cursor=cursor, limit=limit, severities=severity, statuses=status,
                                     monitor_id=monitor_id, metric=metric, date_from=_day(date_from, "date_from"),
                                     date_to=_day(date_to, "date_to"),
                                     assignee_id=assignee_id)
    return Page[AnomalyOut](items=[anomaly_out(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/{anomaly_id:int}", response_model=AnomalyOut, summary="One anomaly with its root cause and snapshot")
def get_anomaly(p: Caller, anomaly_id: AnomalyId) -> AnomalyOut:
    return anomaly_out(monitoring.get_anomaly(p, anomaly_id), full=True)


@router.get("/{anomaly_id:int}/events", response_model=list[AnomalyEvent], summary="Audit trail, oldest first")
def events(p: Caller, anomaly_id: AnomalyId) -> list[AnomalyEvent]:
    return [AnomalyEvent.model_validate({**e.__dict__, "details": plain(e.details)})
            for e in monitoring.anomaly_events(p, anomaly_id)]


@router.post("/{anomaly_id:int}/status", response_model=AnomalyOut, summary="Move an anomaly to another status")
def change_status(p: Caller, body: StatusChange, anomaly_id: AnomalyId) -> AnomalyOut:
    """Allowed moves depend on the current status (the error names them). Resolving needs
    ``resolution_notes``; a false positive needs ``false_positive_reason`` and teaches the monitor.
    Needs ``ai_analytics:feedback``."""
    return anomaly_out(monitoring.change_status(p, anomaly_id, body.status, note=body.note,
                                                resolution_notes=body.resolution_notes,
                                                false_positive_reason=body.false_positive_reason), full=True)


@router.post("/{anomaly_id:int}/false-positive", response_model=AnomalyOut, summary="Mark a false positive")
def false_positive(p: Caller, body: FalsePositive, anomaly_id: AnomalyId) -> AnomalyOut:
    """The monitor learns from it (a raised threshold or a suppressed recurring pattern).
    Needs ``ai_analytics:feedback``."""
    return anomaly_out(monitoring.change_status(p, anomaly_id, "false_positive", note=body.note,
                                                false_positive_reason=body.reason), full=True)


@router.put("/{anomaly_id:int}/assignee", response_model=AnomalyOut, summary="Assign or unassign")
def assign(p: Caller, body: Assign, anomaly_id: AnomalyId) -> AnomalyOut:
    return anomaly_out(monitoring.assign(p, anomaly_id, body.user_id, note=body.note), full=True)


@router.post("/{anomaly_id:int}/notes", status_code=201, response_model=AnomalyEvent, summary="Add a note")
def add_note(p: Caller, body: Note, anomaly_id: AnomalyId) -> AnomalyEvent:
    e = monitoring.add_note(p, anomaly_id, body.note)
    return AnomalyEvent.model_validate({**e.__dict__, "details": plain(e.details)})
