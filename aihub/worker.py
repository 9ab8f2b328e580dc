"""The background worker: a procrastinate queue in the hub's PostgreSQL.

``aihub worker`` runs queued and scheduled work in a process of its own.
procrastinate (a maintained PostgreSQL task queue on psycopg 3) gives the
queue, retries with back-off, locks and periodic tasks; the hub adds:

* one task, ``aihub.run_job``, that runs a ``training_jobs`` row through
  :func:`aihub.jobs.run_job` (tenant-scoped, RLS-bound);
* a per-job procrastinate lock, so two workers never run the same job;
* a periodic task that re-queues the jobs of workers that stopped sending
  heartbeats (procrastinate's "retry stalled jobs" recipe), with back-off;
  the job's own lease (its heartbeat in ``training_jobs``) lets the next
  worker take it over, and the persist step is one transaction, so a job
  whose worker died completes once, elsewhere.

Sources: procrastinate docs, "Retry stalled jobs" and "Launch a task
periodically" how-tos.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from functools import lru_cache

import procrastinate
import sqlalchemy as sa

from aihub.db.engine import get_database

log = logging.getLogger(__name__)

QUEUE_JOBS = "jobs"
QUEUE_MAINTENANCE = "maintenance"
QUEUES = (QUEUE_JOBS, QUEUE_MAINTENANCE)
#: A worker silent for this long (seconds) is considered dead; its jobs are re-queued.
STALLED_AFTER_SECONDS = 30
#: Times procrastinate re-runs a task that raised, waiting 2, 4, 8 ... seconds between tries.
RETRY = procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2)

tasks = procrastinate.Blueprint()


@tasks.task(name="aihub.run_job", queue=QUEUE_JOBS, retry=RETRY)
def run_job_task(tenant_id: int, job_id: int) -> str:
    """Run one hub job (training); wait out the lease of a runner that may have died."""
    from aihub import jobs

    deadline = time.monotonic() + jobs.LEASE_SECONDS + 2 * jobs.HEARTBEAT_SECONDS
    while True:
        status = jobs.run_job(tenant_id, job_id, worker=worker_name())
        if status != "busy" or time.monotonic() > deadline:
            return status
        time.sleep(jobs.HEARTBEAT_SECONDS)


@tasks.task(name="aihub.sync_source", queue=QUEUE_JOBS, retry=RETRY)
def sync_source_task(tenant_id: int, source_id: int) -> str:
    """Sync one data source on its schedule (as the user who set it up)."""
    from aihub import sources

    return sources.sync_scheduled(tenant_id, source_id).status


@tasks.task(name="aihub.run_workflow", queue=QUEUE_JOBS, retry=RETRY)
def run_workflow_task(tenant_id: int, run_id: int) -> str:
    """Run (or continue after an approval) one workflow run."""
    from aihub import workflows

    return workflows.execute_run(tenant_id, run_id)


@tasks.periodic(cron="* * * * *")
@tasks.task(name="aihub.tick", queue=QUEUE_MAINTENANCE, queueing_lock="aihub.tick")
def tick(timestamp: int) -> dict:
    """Every minute: queue the syncs that are due, fire scheduled workflows, expire approvals."""
    from aihub import sources

    due = sources.claim_due_sources()
    for tenant_id, source_id in due:
        sync_source_task.configure(lock=f"aihub-source-{source_id}").defer(tenant_id=tenant_id, source_id=source_id)
    out = {"syncs_queued": len(due)}
    try:
        from aihub import workflows
    except ImportError:  # workflows not installed in this build
        return out
    out.update(workflows.tick())
    return out


@tasks.periodic(cron="0 5 * * *")
@tasks.task(name="aihub.daily", queue=QUEUE_MAINTENANCE, queueing_lock="aihub.daily")
def daily(timestamp: int) -> dict:
    """Every morning: drift checks of deployed models, and fresh insights for every tenant."""
    from aihub import health

    out = {"drift": health.check_all()}
    try:
        from aihub import insights_service
    except ImportError:  # insights not installed in this build
        return out
    out["insights"] = insights_service.generate_all()
    return out


def defer_workflow_run(tenant_id: int, run_id: int) -> int:
    """Queue :func:`run_workflow_task`; a run is never queued twice while it waits."""
    key = f"aihub-workflow-run-{run_id}"
    return _defer(run_workflow_task, {"lock": key, "queueing_lock": key}, tenant_id=tenant_id, run_id=run_id)


@tasks.periodic(cron="* * * * *")
@tasks.task(name="aihub.retry_stalled_jobs", queue=QUEUE_MAINTENANCE, queueing_lock="aihub.retry_stalled_jobs",
            pass_context=True)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Re-queue jobs whose worker stopped sending heartbeats, backing off by attempt."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    for job in stalled:
        wait = min(2 ** max(job.attempts, 0), 300)
        log.warning("re-queueing stalled job %s (%s) in %s s", job.id, job.task_name, wait)
        await manager.retry_job(job, retry_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=wait))
    return len(stalled)


def worker_name() -> str:
    """``host:pid`` of this process, recorded on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def conninfo() -> str:
    """libpq URI of the app role (procrastinate connects as the app, never the owner)."""
    url = get_database().app_url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def get_app() -> procrastinate.App:
    """The process-wide procrastinate app, connected as the app role."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo()))
    app.add_tasks_from(tasks, namespace="")
    return app


def defer_job(tenant_id: int, job_id: int) -> int:
    """Queue :func:`run_job_task` for a hub job; returns procrastinate's job id.

    The lock ``aihub-job-<id>`` keeps two workers off the same job; the
    queueing lock keeps it from being queued twice while it waits.
    """
    key = f"aihub-job-{job_id}"
    return _defer(run_job_task, {"lock": key, "queueing_lock": key}, tenant_id=tenant_id, job_id=job_id)


def _defer(task: procrastinate.tasks.Task, options: dict, **kwargs) -> int:
    """Defer ``task`` with job ``options`` from anywhere: a web or CLI process, or a task inside a worker.

    The blueprint's tasks are bound to the app by :func:`get_app`, so the app
    is obtained *before* the task is configured; configuring an unbound task
    raises ``UnboundTaskError`` in a fresh process. Inside a worker the app is
    already open (asynchronously) and ``App.open`` refuses; deferring directly
    then uses the worker's own connection pool.
    """
    app = get_app()
    configured = task.configure(**options)
    try:
        opened = app.open()
    except NotImplementedError:
        return configured.defer(**kwargs)
    try:
        return configured.defer(**kwargs)
    finally:
        opened.close()


def workers_alive(max_age_seconds: float = STALLED_AFTER_SECONDS) -> int:
    """How many workers sent a heartbeat within ``max_age_seconds``."""
    with get_database().app.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
            {"s": max_age_seconds},
        ).scalar() or 0


def run(concurrency: int = 2, *, wait: bool = True, queues: tuple[str, ...] = QUEUES) -> None:
    """Run a worker until SIGINT/SIGTERM (or, with ``wait=False``, until the queue is empty)."""
    from aihub import jobs

    get_database()
    jobs.recover_interrupted_jobs()
    get_app().run_worker(queues=list(queues), concurrency=concurrency, wait=wait, name=worker_name(),
                         update_heartbeat_interval=5, stalled_worker_timeout=STALLED_AFTER_SECONDS)
