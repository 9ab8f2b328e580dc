"""The background worker's tasks: a procrastinate queue in the hub's PostgreSQL.

``aihub worker`` runs queued and scheduled work in a process of its own.
procrastinate (a maintained PostgreSQL task queue on psycopg 3) gives the
queue, retries with back-off, locks and periodic tasks; the hub adds:

* one task, ``aihub.run_job``, that runs a ``training_jobs`` row through
  :func:`aihub.services.jobs.run_job` (tenant-scoped, RLS-bound);
* a per-job procrastinate lock, so two workers never run the same job;
* a periodic task that re-queues the jobs of workers that stopped sending
  heartbeats (procrastinate's "retry stalled jobs" recipe), with back-off;
  the job's own lease (its heartbeat in ``training_jobs``) lets the next
  worker take it over, and the persist step is one transaction, so a job
  whose worker died completes once, elsewhere.

Other code defers these tasks by name through :mod:`aihub.queue`; this
module is bound to the queue's app by :func:`aihub.runtime.wiring.wire`.

Sources: procrastinate docs, "Retry stalled jobs" and "Launch a task
periodically" how-tos.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time

import procrastinate

from aihub import queue, workflows
from aihub.db.engine import get_database
from aihub.queue import QUEUE_JOBS, QUEUE_MAINTENANCE, QUEUES, STALLED_AFTER_SECONDS
from aihub.services import alerts, dashboard, health, jobs, monitors, record_monitors, sources
from aihub.services import insights as insights_service

log = logging.getLogger(__name__)

#: Times procrastinate re-runs a task that raised, waiting 2, 4, 8 ... seconds between tries.
RETRY = procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2)

tasks = procrastinate.Blueprint()


@tasks.task(name="aihub.run_job", queue=QUEUE_JOBS, retry=RETRY)
def run_job_task(tenant_id: int, job_id: int) -> str:
    """Run one hub job (training); wait out the lease of a runner that may have died."""
    deadline = time.monotonic() + jobs.LEASE_SECONDS + 2 * jobs.HEARTBEAT_SECONDS
    while True:
        status = jobs.run_job(tenant_id, job_id, worker=worker_name())
        if status != "busy" or time.monotonic() > deadline:
            return status
        time.sleep(jobs.HEARTBEAT_SECONDS)


@tasks.task(name="aihub.sync_source", queue=QUEUE_JOBS, retry=RETRY)
def sync_source_task(tenant_id: int, source_id: int) -> str:
    """Sync one data source on its schedule (as the user who set it up)."""
    return sources.sync_scheduled(tenant_id, source_id).status


@tasks.task(name="aihub.run_workflow", queue=QUEUE_JOBS, retry=RETRY)
def run_workflow_task(tenant_id: int, run_id: int) -> str:
    """Run (or continue after an approval) one workflow run."""
    return workflows.execute_run(tenant_id, run_id)


@tasks.task(name="aihub.run_monitor", queue=QUEUE_JOBS, retry=RETRY)
def run_monitor_task(tenant_id: int, monitor_id: int, trigger: str = "schedule") -> str:
    """Run one anomaly monitor on its schedule or after a sync (as the user who created it)."""
    return monitors.run_scheduled(tenant_id, monitor_id, trigger)


@tasks.task(name="aihub.score_record_monitor", queue=QUEUE_JOBS, retry=RETRY)
def score_record_monitor_task(tenant_id: int, monitor_id: int) -> int:
    """Score a record monitor's table again after a sync (as the user who created it)."""
    return record_monitors.score_scheduled(tenant_id, monitor_id)


@tasks.periodic(cron="* * * * *")
@tasks.task(name="aihub.tick", queue=QUEUE_MAINTENANCE, queueing_lock="aihub.tick")
def tick(timestamp: int) -> dict:
    """Every minute: queue the syncs and monitor runs that are due, send due alerts, fire scheduled workflows."""
    due = sources.claim_due_sources()
    for tenant_id, source_id in due:
        queue.defer_to_worker("aihub.sync_source", {"lock": f"aihub-source-{source_id}", "queue": QUEUE_JOBS},
                              {"tenant_id": tenant_id, "source_id": source_id})
    runs = monitors.claim_due_monitors()
    for tenant_id, monitor_id in runs:
        queue.defer_to_worker("aihub.run_monitor", {"lock": f"aihub-monitor-{monitor_id}", "queue": QUEUE_JOBS},
                              {"tenant_id": tenant_id, "monitor_id": monitor_id, "trigger": "schedule"})
    return {"syncs_queued": len(due), "monitor_runs_queued": len(runs), **alerts.dispatch_all_due(),
            **workflows.tick()}


@tasks.periodic(cron="* * * * *")
@tasks.task(name="aihub.dashboard_rollups", queue=QUEUE_MAINTENANCE, queueing_lock="aihub.dashboard_rollups")
def dashboard_rollups(timestamp: int) -> dict:
    """Every minute: rebuild the days of the dashboard's daily rollups that new, changed or late rows marked."""
    return dashboard.refresh_all_rollups()


@tasks.periodic(cron="0 5 * * *")
@tasks.task(name="aihub.daily", queue=QUEUE_MAINTENANCE, queueing_lock="aihub.daily")
def daily(timestamp: int) -> dict:
    """Every morning: drift checks of deployed models, and fresh insights for every tenant."""
    return {"drift": health.check_all(), "insights": insights_service.generate_all()}


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
        await manager.retry_job(job, retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait))
    return len(stalled)


def worker_name() -> str:
    """``host:pid`` of this process, recorded on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run(concurrency: int = 2, *, wait: bool = True, queues: tuple[str, ...] = QUEUES) -> None:
    """Run a worker until SIGINT/SIGTERM (or, with ``wait=False``, until the queue is empty).

    The caller has run :func:`aihub.runtime.wiring.wire` (the CLI does).
    """
    get_database()
    jobs.recover_interrupted_jobs()
    queue.get_app().run_worker(queues=list(queues), concurrency=concurrency, wait=wait, name=worker_name(),
                               update_heartbeat_interval=5, stalled_worker_timeout=STALLED_AFTER_SECONDS)
