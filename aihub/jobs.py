"""Training jobs off the request path.

A job is a ``training_jobs`` row (queued → running → succeeded | failed |
cancelled) plus a handler registered for its ``kind``. The handler does the
slow work outside any transaction and returns a *persist* function; the
runner calls it and marks the job succeeded in one transaction, so a failed
or cancelled job never leaves a half-written version behind and never
touches earlier versions.

Jobs run on a small thread pool inside the process that submitted them
(the web server, or the CLI). Progress lives in the row, so a browser
refresh loses nothing. A job whose process died is found by its stale
heartbeat and marked failed by :func:`recover_interrupted_jobs`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.config import load_settings
from aihub.db import store
from aihub.db.session import owner_session, tenant_session
from aihub.errors import AihubError

log = logging.getLogger(__name__)

#: Persist step returned by a handler: writes results, returns the new model version id.
Persist = Callable[[Session], int | None]
Handler = Callable[[store.JobRecord, "JobControl"], Persist]

HANDLERS: dict[str, Handler] = {}
#: Modules whose import registers handlers; loaded before a job runs.
HANDLER_MODULES = ("aihub.training",)
STALE_AFTER_SECONDS = 300

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


class JobCancelled(AihubError):
    """Raised inside a handler when the user asked to cancel its job."""

    code = "cancelled"


def register(kind: str) -> Callable[[Handler], Handler]:
    """Decorator registering a handler for jobs of ``kind``."""

    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return deco


class JobControl:
    """What a handler may do to its job: report progress, check for cancel.

    Parameters
    ----------
    tenant_id, job_id : int
        The job's tenant and id.
    """

    def __init__(self, tenant_id: int, job_id: int) -> None:
        self.tenant_id = tenant_id
        self.job_id = job_id

    def progress(self, fraction: float, message: str) -> None:
        """Record progress (0 to 1) and a message; raise :class:`JobCancelled` if asked to stop."""
        with tenant_session(self.tenant_id) as s:
            store.update_job(s, self.job_id, progress=max(0.0, min(1.0, float(fraction))), message=message)
        self.check_cancel()

    def should_cancel(self) -> bool:
        """Whether a user asked to cancel this job."""
        with tenant_session(self.tenant_id) as s:
            return store.get_job(s, self.job_id).cancel_requested

    def check_cancel(self) -> None:
        """Raise :class:`JobCancelled` if the job was cancelled."""
        if self.should_cancel():
            raise JobCancelled("Cancelled by a user before it finished; nothing was saved.")


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=load_settings().job_workers, thread_name_prefix="aihub-job")
        return _executor


def dispatch(tenant_id: int, job_id: int) -> Future:
    """Run a queued job on the in-process pool; returns its future."""
    return _get_executor().submit(run_job, tenant_id, job_id)


def run_job(tenant_id: int, job_id: int) -> str:
    """Claim and run one job to its end; returns the final status.

    A job already claimed elsewhere is left alone (returns ``"skipped"``).
    Every failure is recorded on the row with a message an analyst can act on.
    """
    with tenant_session(tenant_id) as s:
        job = store.claim_job(s, job_id)
    if job is None:
        return "skipped"
    control = JobControl(tenant_id, job_id)
    try:
        for module in HANDLER_MODULES:
            importlib.import_module(module)
        handler = HANDLERS.get(job.kind)
        if handler is None:
            raise AihubError(f"No handler for jobs of kind {job.kind!r}; allowed: {', '.join(sorted(HANDLERS))}.")
        persist = handler(job, control)
        control.check_cancel()
        with tenant_session(tenant_id) as s:
            version_id = persist(s)
            store.update_job(s, job_id, status="succeeded", progress=1.0, message="Finished",
                             model_version_id=version_id, finished_at="now()")
        return "succeeded"
    except JobCancelled as exc:
        _finish(tenant_id, job_id, "cancelled", str(exc))
        return "cancelled"
    except AihubError as exc:
        _finish(tenant_id, job_id, "failed", str(exc))
        return "failed"
    except Exception as exc:  # a bug or a library error: keep the reason, log the trace
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        _finish(tenant_id, job_id, "failed", f"Training stopped on an unexpected error: {type(exc).__name__}: {exc}")
        return "failed"


def _finish(tenant_id: int, job_id: int, status: str, error: str) -> None:
    with tenant_session(tenant_id) as s:
        store.update_job(s, job_id, status=status, error=error, message=status.capitalize(), finished_at="now()")


def recover_interrupted_jobs(stale_after: float = STALE_AFTER_SECONDS) -> dict[str, int]:
    """Fail running jobs whose heartbeat is stale, and re-dispatch queued ones.

    Runs on the owner connection (it spans tenants); call it when a process
    that runs jobs starts.

    Returns
    -------
    dict
        ``{"failed": n, "requeued": m}``.
    """
    with owner_session() as s:
        failed = s.execute(
            sa.text(
                "UPDATE training_jobs SET status = 'failed', finished_at = now(), message = 'Failed', "
                "error = 'The process running this job stopped before it finished. Start the training again.' "
                "WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => :s) RETURNING id"
            ),
            {"s": stale_after},
        ).all()
        queued = s.execute(
            sa.text("SELECT tenant_id, id FROM training_jobs WHERE status = 'queued' ORDER BY id")
        ).all()
    for tenant_id, job_id in queued:
        dispatch(tenant_id, job_id)
    return {"failed": len(failed), "requeued": len(queued)}


def submit(tenant_id: int, model_id: int, kind: str, payload: dict[str, Any], user_id: int | None,
           *, run: bool = True) -> store.JobRecord:
    """Queue a job of ``kind`` for ``model_id`` and start it in the background.

    Parameters
    ----------
    run : bool
        False only queues it (a worker or a test runs it with :func:`run_job`).
    """
    with tenant_session(tenant_id) as s:
        job = store.create_job(s, tenant_id=tenant_id, model_id=model_id, kind=kind, payload=payload,
                               user_id=user_id)
    if run:
        dispatch(tenant_id, job.id)
    return job
