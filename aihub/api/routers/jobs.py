"""Jobs: the status of long work (training, batch predictions) and cancelling it."""

from __future__ import annotations

from fastapi import APIRouter, Path

from aihub.api.deps import Caller
from aihub.api.routers._common import job_body
from aihub.api.schemas import ERRORS, Job
from aihub.services import registry

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=ERRORS)
JobId = Path(ge=1, le=2**62, description="Job id")


@router.get("/{job_id:int}", response_model=Job, summary="Status of a job")
def get_job(p: Caller, job_id: int = JobId) -> Job:
    """Poll until ``status`` is ``succeeded``, ``failed`` (see ``error``) or ``cancelled``."""
    return job_body(registry.get_job(p, job_id))


@router.post("/{job_id:int}/cancel", response_model=Job, summary="Cancel a job")
def cancel_job(p: Caller, job_id: int = JobId) -> Job:
    """Ask a queued or running job to stop; a cancelled job saves nothing."""
    return job_body(registry.cancel_job(p, job_id))
