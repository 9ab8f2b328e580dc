"""A Dask worker process killed while a real batch-prediction job scores its partitions (issue 16).

The job goes the way an operator's does: ``submit_batch`` (the HTTP API's batch route) queues it, the job runner
(``jobs.run_job``, what ``aihub worker`` runs) takes it to a real ``distributed.LocalCluster`` of two worker
processes named by ``AIHUB_DASK_SCHEDULER``. The file is cut into partitions that each take seconds, because the
job asks for explanations (SHAP per row, about 700 rows/s on one core here): no test hook slows them. Once a
partition of the batch is stored, the test SIGKILLs the worker process that has just started the next one.
With Dask's retries (``allowed-failures``, 3 by default) the job then succeeds with exactly one stored row per
input row; with none it is recorded failed with a reason naming the lost worker, and the batch keeps no row.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from distributed import Client, LocalCluster

from aihub import ml
from aihub.db import partition_store
from aihub.db import prediction_store as ps
from aihub.db.models import PredictionBatch, PredictionResult
from aihub.db.session import tenant_session
from aihub.demo import generate_customers
from aihub.runtime.compute import PARTITION_ROWS_ENV, SCHEDULER_ENV, WORKER_DB_ENV
from aihub.services import batch_predictions, jobs, model_cache, registry
from tests.fixtures import quick_model_on

# Functions this module runs on the workers and the scheduler (client.run) travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: Rows per partition and partitions per file: with explanations a partition takes seconds on a worker, so a
#: kill that follows the start of a partition within a poll (50 ms, plus a round trip) lands inside it.
PARTITION = 2_500
PARTITIONS = 6


@pytest.fixture(scope="module")
def cluster(_server_database_session):
    """Two worker processes (each restarted by its nanny when killed) with the app role's connection."""
    with pytest.MonkeyPatch.context() as mp:  # for this module only: a leaked app-role URL breaks `aihub worker`
        mp.setenv(WORKER_DB_ENV, _server_database_session.app_url.render_as_string(hide_password=False))
        local = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
        client = Client(local)
        try:
            # workers import the hub and SHAP before the jobs (a minute on a loaded machine), not inside them
            client.run(importlib.import_module, "aihub.runtime.cluster_jobs")
            client.run(importlib.import_module, "shap")
            yield client
        finally:
            client.close()
            local.close()


@pytest.fixture(scope="module")
def served(_server_database_session):
    with quick_model_on(_server_database_session, "dask-kill", "kill churn") as served:
        yield served


def _executing(dask_worker) -> list[str]:
    """Keys the worker is computing now (runs on the worker)."""
    return [str(ts.key) for ts in dask_worker.state.executing]


def _suspicious(dask_scheduler) -> int:
    """Tasks the scheduler has seen lose their worker while running, over its lifetime (runs on the scheduler)."""
    return sum(p.suspicious for p in dask_scheduler.task_prefixes.values())


def _set_allowed_failures(n: int, dask_scheduler=None) -> int:
    old = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = n
    return old


def _batch_of(tenant_id: int, job_id: int) -> int | None:
    with tenant_session(tenant_id) as s:
        return s.execute(sa.select(PredictionBatch.id).where(PredictionBatch.job_id == job_id)).scalar()


def _stored_rows(tenant_id: int, batch_id: int) -> list[int]:
    with tenant_session(tenant_id) as s:
        return list(s.execute(sa.select(PredictionResult.row_number).where(PredictionResult.batch_id == batch_id)
                              .order_by(PredictionResult.row_number)).scalars())


def _rows_by_batch(tenant_id: int) -> dict[int, int]:
    with tenant_session(tenant_id) as s:
        return dict(s.execute(sa.select(PredictionResult.batch_id, sa.func.count())
                              .group_by(PredictionResult.batch_id)).all())


def _run_in_thread(fn, *args) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, box


def _kill_a_worker_starting_a_partition(client: Client, tenant_id: int, job_id: int, runner: threading.Thread,
                                        deadline: float = 600.0) -> tuple[str, int, str]:
    """Once a partition of the job's batch is stored, SIGKILL the worker process that has just begun another.

    "Just begun": its key was not executing at the previous poll, so the kill lands at the start of a partition
    that takes seconds. Returns the worker's address, its pid and the partition's key.
    """
    pids = client.run(os.getpid)
    before: set[str] = set()
    end = time.monotonic() + deadline
    while time.monotonic() < end and runner.is_alive():
        batch_id = _batch_of(tenant_id, job_id)
        now = client.run(_executing)
        if batch_id is not None and _stored_rows(tenant_id, batch_id):
            for address, keys in now.items():
                fresh = [k for k in keys if k.startswith(f"aihub-score-{batch_id}-") and k not in before]
                if fresh:
                    if address not in pids:  # a worker (re)started since the last look
                        pids = client.run(os.getpid)
                    os.kill(pids[address], signal.SIGKILL)
                    return address, pids[address], fresh[0]
        before = {k for keys in now.values() for k in keys}
        time.sleep(0.05)
    raise AssertionError("no partition started after one was stored; the job ended or the deadline passed "
                         f"(job thread alive: {runner.is_alive()})")


def _wait_idle(client: Client, deadline: float = 300.0) -> None:
    """Until no worker computes anything (a partition cancelled with its job still runs to its end)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not any(client.run(_executing, on_error="ignore").values()):  # a restarting worker computes nothing
            return
        time.sleep(0.2)
    raise AssertionError("the workers never went idle")


def _file(seed: int) -> tuple[pd.DataFrame, bytes]:
    frame = generate_customers(PARTITION * PARTITIONS, seed=seed)
    return frame, frame.to_csv(index=False).encode()


def _job_with_a_worker_killed(client: Client, principal, model_id: int, data: bytes, monkeypatch):
    """Submit the file as the API does, run the job against the cluster, kill a worker mid-job.

    Returns the job as an operator sees it after the runner ended, the runner's status and the killed worker's
    address; checks that the scheduler lost a running task with that worker.
    """
    monkeypatch.setenv(SCHEDULER_ENV, client.scheduler_info()["address"])
    monkeypatch.setenv(PARTITION_ROWS_ENV, str(PARTITION))
    job = batch_predictions.submit_batch(principal, model_id, "customers.csv", data, explain=True, run=False)
    suspicious = client.run_on_scheduler(_suspicious)
    runner, box = _run_in_thread(jobs.run_job, principal.tenant_id, job.id)
    address, _, key = _kill_a_worker_starting_a_partition(client, principal.tenant_id, job.id, runner)
    runner.join(600)
    assert not runner.is_alive(), "the job runner did not end"
    assert "error" not in box, box.get("error")
    lost = client.run_on_scheduler(_suspicious) - suspicious
    assert lost >= 1, f"the kill of {address} landed while it computed {key}, so the scheduler lost a task with it"
    return registry.get_job(principal, job.id), box["result"], address


def test_a_worker_killed_mid_job_is_retried_and_the_job_stores_every_row_once(
        server_database, cluster, served, monkeypatch):
    principal, model, version = served
    frame, data = _file(seed=31)
    earlier = _rows_by_batch(principal.tenant_id)
    job, status, address = _job_with_a_worker_killed(cluster, principal, model.id, data, monkeypatch)
    assert (status, job.status) == ("succeeded", "succeeded"), job.error
    batch = batch_predictions.get_batch(principal, job.payload["batch_id"])
    n = len(frame)
    assert (batch.status, batch.rows_total, batch.rows_predicted + batch.rows_failed) == ("succeeded", n, n)
    assert _stored_rows(principal.tenant_id, batch.id) == list(range(1, n + 1)), "one row per input row"
    results = batch_predictions.batch_results(principal, batch.id).sort_values("row")
    local = ml.predict(model_cache.load(principal.tenant_id, version.id), frame)
    np.testing.assert_allclose(results["probability"].to_numpy(float), local["probability"].to_numpy(float),
                               rtol=1e-12)
    assert {**_rows_by_batch(principal.tenant_id), batch.id: 0} == {**earlier, batch.id: 0}
    assert address not in cluster.scheduler_info()["workers"], "the killed worker is gone"


def test_a_worker_killed_mid_job_without_retries_fails_the_job_naming_it_and_keeps_no_row(
        server_database, cluster, served, monkeypatch):
    principal, model, _ = served
    _, data = _file(seed=32)
    earlier = _rows_by_batch(principal.tenant_id)
    old = cluster.run_on_scheduler(_set_allowed_failures, 0)
    try:
        job, status, address = _job_with_a_worker_killed(cluster, principal, model.id, data, monkeypatch)
    finally:
        cluster.run_on_scheduler(_set_allowed_failures, old)
    assert (status, job.status) == ("failed", "failed")
    assert address in job.error and "worker died" in job.error and "nothing was kept" in job.error, job.error
    batch_id = _batch_of(principal.tenant_id, job.id)
    batch = batch_predictions.get_batch(principal, batch_id)
    assert (batch.status, batch.error, batch.rows_predicted) == ("failed", job.error, 0)
    _wait_idle(cluster)  # the other worker's partition, cancelled with the job, has ended: it stored nothing
    assert _stored_rows(principal.tenant_id, batch_id) == [], "no row of the failed job"
    assert _rows_by_batch(principal.tenant_id) == earlier, "earlier batches keep every row"


def _waiting_on_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


@pytest.mark.parametrize("how", ["fail_batch", "abandon_batch"])
def test_a_batch_failed_while_a_partition_commits_keeps_none_of_that_partitions_rows(server_database, served, how):
    """The failure's delete must see the rows of a partition that claimed the batch and commits meanwhile
    (the cluster path's ``fail_batch`` and the service's ``abandon_batch`` alike)."""
    principal, model, version = served
    tenant = principal.tenant_id
    with tenant_session(tenant) as s:
        batch_id = ps.add_batch(s, tenant_id=tenant, model_id=model.id, filename="race.csv", rows_total=0,
                                rows_predicted=0, rows_failed=0, errors=[], seconds=0.0, user_id=principal.user_id,
                                status="running", version_ids=[version.id])
    failing: tuple[threading.Thread, dict] | None = None
    with tenant_session(tenant) as p:  # a worker's partition: claimed, its row written, not yet committed
        assert partition_store.claim_partition(p, batch_id, 1)
        p.add(PredictionResult(tenant_id=tenant, model_id=model.id, model_version_id=version.id, served_by="champion",
                               batch_id=batch_id, row_number=1, input={"x": 1}, input_hash="0" * 64, prediction="1",
                               latency_ms=1.0))
        p.flush()

        def fail() -> int:
            if how == "abandon_batch":
                return batch_predictions.abandon_batch(tenant, batch_id, "a Dask worker died")
            with tenant_session(tenant) as s:
                return ps.fail_batch(s, batch_id, "a Dask worker died")

        failing = _run_in_thread(fail)
        end = time.monotonic() + 60
        while not _waiting_on_a_lock(server_database.owner) and time.monotonic() < end:
            time.sleep(0.02)
        assert _waiting_on_a_lock(server_database.owner), "the failure waits for the partition's commit"
    th, box = failing
    th.join(60)
    assert "error" not in box, box.get("error")
    assert box["result"] == 1, "the committed row was deleted"
    assert _stored_rows(tenant, batch_id) == []
    assert batch_predictions.get_batch(principal, batch_id).status == "failed"
