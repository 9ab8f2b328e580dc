"""Workflows: list, one, trigger a run, runs, approvals (approve or reject)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from aihub import workflows
from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import FIRST_ID, json_response, keyset, link, links
from aihub.api.schemas import ERRORS, ApprovalOut, Decision, Page, RunOut, Triggered, WorkflowOut
from aihub.api.settings import PREFIX
from aihub.jsonsafe import plain
from aihub.paging import paginate

router = APIRouter(tags=["workflows"], responses=ERRORS)
WorkflowId = Annotated[int, Path(ge=1, le=2**62, description="Workflow id")]
RunId = Annotated[int, Path(ge=1, le=2**62, description="Run id")]
ApprovalId = Annotated[int, Path(ge=1, le=2**62, description="Approval id")]
Cursor = Annotated[str | None, Query(min_length=1, max_length=100)]
Limit = Annotated[int, Query(ge=1, le=500)]


def workflow_out(summary) -> WorkflowOut:
    wf, st = summary.workflow, summary.stats
    return WorkflowOut(id=wf.id, name=wf.name, description=wf.description, definition=plain(wf.definition),
                       enabled=wf.enabled, created_by_name=wf.created_by_name, created_at=wf.created_at,
                       updated_at=wf.updated_at, last_fired_at=wf.last_fired_at,
                       runs={k: getattr(st, k) for k in ("total", "succeeded", "failed", "rejected", "expired",
                                                         "active")})


def run_out(r) -> RunOut:
    return RunOut(id=r.id, workflow_id=r.workflow_id, workflow_name=r.workflow_name, trigger=plain(r.trigger),
                  status=r.status, steps=plain(r.steps), error=r.error, started_at=r.started_at,
                  finished_at=r.finished_at)


def approval_out(a) -> ApprovalOut:
    return ApprovalOut.model_validate({k: v for k, v in {**a.__dict__, "action": plain(a.action),
                                                         "context": plain(a.context)}.items()
                                       if k in ApprovalOut.model_fields})


@router.get("/workflows", response_model=Page[WorkflowOut], summary="List workflows with their run counts",
            responses=links(200, GetWorkflow=link("GET", "/workflows/{workflow_id}", workflow_id=FIRST_ID),
                            ListRuns=link("GET", "/workflows/{workflow_id}/runs", workflow_id=FIRST_ID)))
def list_workflows(p: Caller, cursor: Cursor = None, limit: Limit = 50) -> Page[WorkflowOut]:
    page = paginate(workflows.list_workflows(p), cursor, limit, key=lambda s: s.workflow.id)
    return Page[WorkflowOut](items=[workflow_out(s) for s in page.items], next_cursor=page.next_cursor)


@router.get("/workflows/{workflow_id:int}", response_model=WorkflowOut, summary="One workflow")
def get_workflow(p: Caller, workflow_id: WorkflowId) -> WorkflowOut:
    wf = workflows.get_workflow(p, workflow_id)
    match = [s for s in workflows.list_workflows(p) if s.workflow.id == wf.id]
    return workflow_out(match[0])


@router.post("/workflows/{workflow_id:int}/runs", status_code=202, response_model=Triggered,
             summary="Trigger a workflow now",
             responses=links(202, GetRun=link("GET", "/workflow-runs/{run_id}", run_id="$response.body#/run_id")))
def trigger(p: Caller, workflow_id: WorkflowId, idem: Idem) -> JSONResponse:
    """Starts a run (trigger ``manual``) in the background; poll ``/api/v1/workflow-runs/{id}``.
    Needs ``ai_analytics:automation``."""
    def work() -> JSONResponse:
        rid = workflows.run_now(p, workflow_id)
        url = f"{PREFIX}/workflow-runs/{rid}"
        return json_response(Triggered(run_id=rid, links={"run": url}), 202, url)

    return idem.run(f"POST /workflows/{workflow_id}/runs", None, work)


@router.get("/workflows/{workflow_id:int}/runs", response_model=Page[RunOut], summary="Runs of a workflow")
def list_runs(p: Caller, workflow_id: WorkflowId, cursor: Cursor = None, limit: Limit = 50) -> Page[RunOut]:
    workflows.get_workflow(p, workflow_id)
    page = keyset(lambda before, n: workflows.list_runs(p, workflow_id, limit=n, before_id=before, by_id=True),
                  cursor, limit)
    return Page[RunOut](items=[run_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/workflow-runs/{run_id:int}", response_model=RunOut, summary="One run with its steps")
def get_run(p: Caller, run_id: RunId) -> RunOut:
    return run_out(workflows.get_run(p, run_id))


@router.get("/approvals", response_model=Page[ApprovalOut], summary="The approvals queue",
            responses=links(200, GetApproval=link("GET", "/approvals/{approval_id}", approval_id=FIRST_ID)))
def list_approvals(p: Caller, pending_only: bool = True, cursor: Cursor = None, limit: Limit = 50
                   ) -> Page[ApprovalOut]:
    page = keyset(lambda before, n: workflows.list_approvals(p, pending_only=pending_only, limit=n,
                                                             before_id=before, by_id=True), cursor, limit)
    return Page[ApprovalOut](items=[approval_out(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/approvals/{approval_id:int}", response_model=ApprovalOut, summary="One approval with its context")
def get_approval(p: Caller, approval_id: ApprovalId) -> ApprovalOut:
    return approval_out(workflows.get_approval(p, approval_id))


@router.post("/approvals/{approval_id:int}/decision", response_model=ApprovalOut, summary="Approve or reject")
def decide(p: Caller, body: Decision, approval_id: ApprovalId) -> ApprovalOut:
    """Approving continues the run; rejecting ends it. Needs ``ai_analytics:automation``."""
    return approval_out(workflows.decide(p, approval_id, body.approve, body.note))
