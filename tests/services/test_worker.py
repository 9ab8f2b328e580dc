"""The background worker (procrastinate) in real processes: scheduled syncs, and a worker killed mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from aihub import queue
from aihub.runtime import worker
from aihub.services import datasets, forecasts, registry, sources
from tests.conftest import REPO, new_tenant, shared_file
from tests.fixtures import _alive, _rest, _started, _wait


def test_worker_runs_the_scheduled_sync(server_database, start_worker, api, monkeypatch):
    tenant = new_tenant("sched")
    src = sources.create_source(tenant, _rest(api, frequency="hourly"))
    before = _alive(server_database)
    proc = start_worker("sched")
    _wait(lambda: _started(server_database, proc, before), 60, "the worker to start")
    app = queue.get_app()
    with app.open():
        worker.tick.defer(timestamp=int(time.time()))
    synced = _wait(lambda: [s for s in sources.list_syncs(tenant, src.id) if s.status != "running"], 90,
                   "the scheduled sync")
    assert (synced[0].status, synced[0].trigger) == ("succeeded", "schedule"), synced[0].error
    assert datasets.list_datasets(tenant)[0].versions == 1


def test_killing_a_worker_mid_job_loses_nothing(server_database, start_worker, monkeypatch):
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "worker")
    tenant = new_tenant("kill")
    data = shared_file("prophet_examples", "example_retail_sales.csv").read_bytes()
    saved = datasets.save_upload(tenant, "retail", "example_retail_sales.csv", data)
    model, first = forecasts.create_forecast_model(tenant, {
        "model_name": "retail", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "freq": "M", "horizon": 6, "algorithm": "naive"}, run=False)
    registry.cancel_job(tenant, first.id)

    before = _alive(server_database)
    a = start_worker("a")
    _wait(lambda: _started(server_database, a, before), 60, "worker A to start")
    job = registry.start_job(tenant, model.id, "slow_forecast",
                             {"config": model.config, "dataset_version_id": saved.version.id, "seconds": 20})
    running = _wait(lambda: (j := registry.get_job(tenant, job.id)).status == "running" and j, 60, "A to claim")
    assert running.worker.endswith(f":{a.pid}")
    _wait(lambda: registry.get_job(tenant, job.id).progress >= 0.07, 30, "A to make progress")
    os.kill(a.pid, signal.SIGKILL)
    a.wait(10)

    before = _alive(server_database)
    b = start_worker("b")
    _wait(lambda: _started(server_database, b, before - 1), 60, "worker B to start")
    time.sleep(queue.STALLED_AFTER_SECONDS + 2)
    app = queue.get_app()
    with app.open():  # what B's minute cron does: re-queue jobs of dead workers
        worker.retry_stalled_jobs.defer(timestamp=int(time.time()))
    done = _wait(lambda: (j := registry.get_job(tenant, job.id)).done and j, 150, "the job to complete on B")
    assert done.status == "succeeded", done.error
    assert done.attempts == 2 and done.worker.endswith(f":{b.pid}")
    versions = registry.list_versions(tenant, model.id)
    assert len(versions) == 1
    with server_database.owner.connect() as conn:
        n = conn.execute(sa.text("select count(*) from forecast_points where model_version_id = :v"),
                         {"v": versions[0].id}).scalar()
    assert n == 6


def test_a_scheduled_workflow_fired_inside_the_worker_is_queued_and_run_there(server_database, start_worker):
    from aihub import auth, workflows
    from tests.conftest import PASSWORD

    tenant = new_tenant("wfsched")
    auth.add_user(tenant, f"an-{tenant.tenant_id}@example.com", "An", "analyst", PASSWORD)
    analyst = auth.principal_for(f"an-{tenant.tenant_id}@example.com")
    wf = workflows.create_workflow(analyst, {
        "name": "Every minute", "trigger": {"type": "schedule", "cron": "* * * * *"},
        "actions": [{"type": "create_task", "assignee": analyst.username, "title": "Check {{event.scheduled_for}}"}],
    })
    before = _alive(server_database)
    proc = start_worker("wf")
    _wait(lambda: _started(server_database, proc, before), 60, "the worker to start")
    time.sleep(61 - time.time() % 60)  # the next minute slot after the workflow was created
    app = queue.get_app()
    with app.open():
        worker.tick.defer(timestamp=int(time.time()))
    runs = _wait(lambda: [r for r in workflows.list_runs(analyst, wf.id) if r.status == "succeeded"], 90,
                 "the scheduled run to finish")
    assert runs[0].trigger["type"] == "schedule"
    tasks = workflows.list_tasks(analyst)
    assert any(t.title.startswith("Check ") for t in tasks)
    with server_database.owner.connect() as conn:  # the app role cannot read the queue (tests/security/test_queue.py)
        queued = conn.execute(sa.text("select count(*) from procrastinate_jobs where task_name = 'aihub.run_workflow' "
                                      "and args->>'run_id' = :r"), {"r": str(runs[0].id)}).scalar()
    assert queued == 1, "the run went through the worker queue, not a fallback thread"


def test_defer_from_a_fresh_process_binds_the_task_first(server_database, data_dir):
    """A web process defers before anything else touched the app (the `make run` path that raised UnboundTaskError).

    The tenant's tasks go through ``aihub_queue_defer`` by name, so this holds even before
    :func:`aihub.runtime.wiring.wire` bound any task.
    """
    from aihub import workflows

    tenant = new_tenant("fresh")
    data = shared_file("prophet_examples", "example_retail_sales.csv").read_bytes()
    saved = datasets.save_upload(tenant, "retail", "example_retail_sales.csv", data)
    _, job = forecasts.create_forecast_model(tenant, {
        "model_name": "retail", "dataset_id": saved.version.dataset_id, "date_column": "ds", "value_column": "y",
        "freq": "M", "horizon": 6, "algorithm": "naive"}, run=False)
    workflows.create_workflow(tenant, {"name": "On anomaly", "trigger": {"type": "anomaly_detected"},
                                       "actions": [{"type": "create_task", "assignee": tenant.username,
                                                    "title": "Look"}]})
    (run_id,) = workflows.emit(tenant.tenant_id, "anomaly_detected", {"anomaly_id": 1, "severity": "critical"},
                               run=False)
    env = {**os.environ, "AIHUB_DATABASE_URL": server_database.owner_url.render_as_string(hide_password=False),
           "AIHUB_DATA_DIR": str(data_dir), "AIHUB_JOB_BACKEND": "worker"}
    code = ("from aihub import workflows\nfrom aihub.services import jobs\n"
            f"print(jobs.dispatch({tenant.tenant_id}, {job.id}))\n"
            f"print(workflows.enqueue_run({tenant.tenant_id}, {run_id}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    ids = [int(line) for line in out.stdout.split()]
    with server_database.owner.connect() as conn:
        rows = conn.execute(sa.text("SELECT task_name, status FROM procrastinate_jobs WHERE id = ANY(:ids) ORDER BY id"),
                            {"ids": ids}).all()
        conn.execute(sa.text("DELETE FROM procrastinate_jobs WHERE id = ANY(:ids)"), {"ids": ids})
        conn.commit()
    assert [tuple(r) for r in rows] == [("aihub.run_job", "todo"), ("aihub.run_workflow", "todo")]
