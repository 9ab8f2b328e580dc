"""Insights: list and filter, one, its history, generate now, status, votes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import FIRST_ID, JOB_LINKS, accepted, job_body, link, links
from aihub.api.schemas import (
    ERRORS,
    GenerateInsights,
    InsightEvent,
    InsightGenerationStatus,
    InsightOut,
    InsightStatus,
    Job,
    Page,
    Vote,
)
from aihub.jsonsafe import plain
from aihub.services import insights as insights_service

router = APIRouter(prefix="/insights", tags=["insights"], responses=ERRORS)
InsightId = Annotated[int, Path(ge=1, le=2**62, description="Insight id")]
Category = Literal["sales", "customer", "operations", "finance"]
Status = Literal["new", "acknowledged", "in_progress", "implemented", "dismissed"]


def insight_out(i) -> InsightOut:
    data = {k: v for k, v in i.__dict__.items() if k in InsightOut.model_fields}
    return InsightOut.model_validate({**plain(data), "valid_from": i.valid_from, "valid_until": i.valid_until,
                                      "created_at": i.created_at, "updated_at": i.updated_at})


@router.get("", response_model=Page[InsightOut], summary="List insights, newest first",
            responses=links(200, GetInsight=link("GET", "/insights/{insight_id}", insight_id=FIRST_ID),
                            ListEvents=link("GET", "/insights/{insight_id}/events", insight_id=FIRST_ID)))
def list_insights(
    p: Caller,
    category: Annotated[list[Category] | None, Query(max_length=4)] = None,
    status: Annotated[list[Status] | None, Query(max_length=5, description="Default: the open ones")] = None,
    min_priority: Annotated[Literal["low", "medium", "high", "critical"] | None, Query()] = None,
    include_expired: bool = False,
    cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[InsightOut]:
    kwargs = {"statuses": status} if status else {}
    page = insights_service.page_insights(p, cursor=cursor, limit=limit, categories=category,
                                          min_priority=min_priority, include_expired=include_expired, **kwargs)
    return Page[InsightOut](items=[insight_out(i) for i in page.items], next_cursor=page.next_cursor)


@router.post("/generate", status_code=202, response_model=Job, summary="Generate insights now",
             responses=links(202, **JOB_LINKS),
             response_description="The generation job; poll its Location")
def generate(p: Caller, idem: Idem, body: GenerateInsights | None = None) -> JSONResponse:
    """Queues a run of the detectors on the organization's data for the worker and answers 202 with its job
    (``Location: /api/v1/jobs/{id}``). The finished job's ``result.insight_ids`` are the new insights
    (still-valid ones are not repeated). Needs ``ai_analytics:generate``."""
    body = body or GenerateInsights()
    return idem.run("POST /insights/generate", body.model_dump(mode="json"),
                    lambda: accepted(insights_service.queue_generate(p, body.categories, body.min_priority,
                                                                     body.limit)))


@router.get("/status", response_model=InsightGenerationStatus, summary="Where insight generation stands")
def generation_status(p: Caller) -> InsightGenerationStatus:
    """The newest generation job (running or not) and the valid open insights per status."""
    st = insights_service.generation_status(p)
    latest = st["latest_job"]
    return InsightGenerationStatus(running=st["running"], latest_job=None if latest is None else job_body(latest),
                                   open_by_status=st["open_by_status"], last_generated_at=st["last_generated_at"])


@router.get("/{insight_id:int}", response_model=InsightOut, summary="One insight")
def get_insight(p: Caller, insight_id: InsightId) -> InsightOut:
    return insight_out(insights_service.get_insight(p, insight_id))


@router.get("/{insight_id:int}/events", response_model=list[InsightEvent], summary="Status changes and votes")
def events(p: Caller, insight_id: InsightId) -> list[InsightEvent]:
    return [InsightEvent.model_validate(e) for e in insights_service.insight_events(p, insight_id)]


@router.post("/{insight_id:int}/status", response_model=InsightOut, summary="Change an insight's status")
def set_status(p: Caller, body: InsightStatus, insight_id: InsightId) -> InsightOut:
    """A dismissal needs a ``reason``. Needs ``ai_analytics:feedback``."""
    return insight_out(insights_service.set_status(p, insight_id, body.status, body.reason))


@router.post("/{insight_id:int}/votes", response_model=InsightOut, summary="Vote useful or not useful")
def vote(p: Caller, body: Vote, insight_id: InsightId) -> InsightOut:
    """The caller's latest vote counts. Needs ``ai_analytics:feedback``."""
    return insight_out(insights_service.vote(p, insight_id, body.useful, body.note))
