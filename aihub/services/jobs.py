"""Training jobs off the request path.

A job is a ``training_jobs`` row (queued → running → succeeded | failed |
cancelled) plus a handler registered for its ``kind``. The handler does the
slow work outside any transaction and returns a *persist* function; the
runner calls it and marks the job succeeded in one transaction, so a failed
or cancelled job never leaves a half-written version behind and never
touches earlier versions.

Where a job runs is set by ``AIHUB_JOB_BACKEND``:

* ``worker``: queued for ``aihub worker`` processes (procrastinate, see
  :mod:`aihub.queue` and :mod:`aihub.runtime.worker`);
* ``inline``: a small thread pool inside the submitting process;
* ``auto`` (default): the worker queue when a worker sent a heartbeat in
  the last 30 s, else inline, so a lone ``streamlit run`` still trains.

Progress lives in the row, so a browser refresh loses nothing. A running
job holds a lease: its heartbeat is renewed every few seconds by the
process running it. A job whose lease expired (its process died) may be
claimed again, up to :data:`MAX_ATTEMPTS` times; the persist step is one
transaction, so it still completes exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Self

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.orm import Session

from aihub import queue
from aihub.auth import Principal, acting_principal
from aihub.db import owner_scans, store
from aihub.db.session import tenant_session
from aihub.errors import AihubError

log = logging.getLogger(__name__)

#: Persist step returned by a handler: writes results, returns the new model version id.
Persist = Callable[[Session], int | None]
Handler = Callable[[store.JobRecord, "JobControl"], Persist]

#: Handlers by job kind, filled by :func:`register` when the services that declare them are imported
#: (:func:`aihub.runtime.wiring.wire` imports them in every process).
HANDLERS: dict[str, Handler] = {}
#: A running job whose heartbeat is older than this (seconds) has lost its lease.
LEASE_SECONDS = 45
HEARTBEAT_SECONDS = 5
MAX_ATTEMPTS = 3


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


def dispatch(tenant_id: int, job_id: int) -> Future | int:
    """Start a queued job on the worker queue or this process's pool (see :func:`aihub.queue.backend`).

    The lock ``aihub-job-<id>`` keeps two workers off the same job; the
    queueing lock keeps it from being queued twice while it waits.
    """
    key = f"aihub-job-{job_id}"
    return queue.defer("aihub.run_job", lock=key, queueing_lock=key, tenant_id=tenant_id, job_id=job_id)


class _Heartbeat:
    """Renews a running job's lease every :data:`HEARTBEAT_SECONDS` while its handler works."""

    def __init__(self, tenant_id: int, job_id: int) -> None:
        self.tenant_id, self.job_id = tenant_id, job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"aihub-heartbeat-{job_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with tenant_session(self.tenant_id) as s:
                    store.update_job(s, self.job_id)
            except Exception:
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 1)


def run_job(tenant_id: int, job_id: int, *, worker: str | None = None) -> str:
    """Claim and run one job to its end; returns the final status.

    A job that is queued, or running with an expired lease, is claimed. One
    held by a live runner is left alone (``"busy"``), one already ended too
    (``"skipped"``).
    Every failure is recorded on the row with a message an analyst can act on.
    """
    with tenant_session(tenant_id) as s:
        job = store.claim_job(s, job_id, lease_seconds=LEASE_SECONDS, worker=worker)
        if job is None:
            return "busy" if store.get_job(s, job_id).status == "running" else "skipped"
    if job.attempts > MAX_ATTEMPTS:
        _finish(tenant_id, job_id, "failed", f"The job was interrupted {MAX_ATTEMPTS} times (its worker stopped "
                "each time) and was given up. Start the training again, and check the worker's memory and logs.")
        return "failed"
    control = JobControl(tenant_id, job_id)
    try:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            raise AihubError(f"No handler for jobs of kind {job.kind!r}; allowed: {', '.join(sorted(HANDLERS))}.")
        with _Heartbeat(tenant_id, job_id):
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
    except Exception as exc:  # noqa: BLE001 - a bug or a library error: keep the reason on the job, log the trace
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        _finish(tenant_id, job_id, "failed", f"Training stopped on an unexpected error: {type(exc).__name__}: {exc}")
        return "failed"


def _finish(tenant_id: int, job_id: int, status: str, error: str) -> None:
    with tenant_session(tenant_id) as s:
        store.update_job(s, job_id, status=status, error=error, message=status.capitalize(), finished_at="now()")


def recover_interrupted_jobs(lease_seconds: float = LEASE_SECONDS) -> dict[str, int]:
    """Restart jobs left behind by a stopped process.

    Queued jobs, and running jobs whose lease expired, are dispatched again
    (a job that already used :data:`MAX_ATTEMPTS` attempts ends as failed
    when claimed). Runs on the owner connection because it spans tenants;
    call it when a process that runs jobs starts.

    Returns
    -------
    dict
        ``{"requeued": n}``: jobs dispatched again.
    """
    rows = owner_scans.interrupted_jobs(lease_seconds)
    for tenant_id, job_id in rows:
        try:
            dispatch(tenant_id, job_id)
        except AlreadyEnqueued:
            pass
    return {"requeued": len(rows)}


def submitter(principal: Principal) -> dict[str, Any]:
    """The part of a job's payload that says who asked: the user and, for an API key, its scopes."""
    return {"user_id": principal.user_id,
            "scopes": None if principal.scopes is None else sorted(principal.scopes)}


def acting_submitter(tenant_id: int, payload: Mapping[str, Any]) -> Principal:
    """The principal a job runs as: the user who asked (still active, role as now), within the key's scopes.

    Raises
    ------
    PermissionDenied
        If that user is no longer active (see :func:`aihub.auth.acting_principal`).
    """
    principal = acting_principal(tenant_id, payload.get("user_id"))
    scopes = payload.get("scopes")
    return principal if scopes is None else dataclasses.replace(principal, scopes=frozenset(scopes))


def submit(tenant_id: int, model_id: int | None, kind: str, payload: dict[str, Any], user_id: int | None,
           *, run: bool = True) -> store.JobRecord:
    """Queue a job of ``kind`` for ``model_id`` (None: work of no model) and start it in the background.

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
