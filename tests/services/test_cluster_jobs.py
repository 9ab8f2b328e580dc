"""Heavy batch work on a real Dask cluster (issue 16): a ``distributed.LocalCluster`` of two worker processes.

Checked against the local path: many-series forecasts through statsforecast's distributed backend equal
``forecast_many`` on one process; a table scored and written back per partition equals ``ml.predict`` on the
whole table; record risk scores equal ``RecordScorer.score``. A worker killed while it scores a partition
leaves the job retried (every row stored exactly once) or, with no retries allowed, failed with its reason
and nothing stored. Workers connect with the app role from their environment and write under RLS.
"""

from __future__ import annotations

import importlib
import io
import itertools
import os
import signal
import sys
import threading
import time

import cloudpickle
import dask
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from distributed import Client, LocalCluster

from aihub import ml
from aihub.anomaly.records import RecordScorer
from aihub.db.models import PredictionBatch, PredictionResult
from aihub.db.session import tenant_session
from aihub.demo import generate_customers
from aihub.errors import TrainingError
from aihub.forecasting import forecast_many
from aihub.runtime import cluster_jobs as cj
from aihub.runtime.compute import SCHEDULER_ENV, WORKER_DB_ENV, dask_client, scheduler_address
from aihub.services import model_cache
from aihub.services import record_monitors as rm
from tests.conftest import new_tenant
from tests.fixtures import _quick_model

# The slow partition below is pickled by value, so workers need not import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

def _cluster(**config) -> tuple[LocalCluster, Client]:
    with dask.config.set(config):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    return cluster, Client(cluster)


@pytest.fixture(scope="module")
def cluster(_server_database_session):
    """Two worker processes whose environment holds the app role's connection (never the owner's)."""
    # Set for this module only: a leaked app-role URL makes a later `aihub worker` refuse to start.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WORKER_DB_ENV, _server_database_session.app_url.render_as_string(hide_password=False))
        cluster, client = _cluster()
        yield client
        client.close()
        cluster.close()


def _weekly_panel(n_series: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        n = 110 + 7 * i
        t = np.arange(n)
        y = 40 + i + 8 * np.sin(2 * np.pi * t / 52) + 0.05 * t + rng.normal(0, 2 + i % 3, n)
        rows.append(pd.DataFrame({"unique_id": f"item-{i}", "ds": pd.date_range("2019-01-07", periods=n, freq="W-MON"),
                                  "y": y}))
    return pd.concat(rows, ignore_index=True)


BOUNDS = ["yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]


def test_forecasts_on_the_cluster_equal_the_local_path(cluster, monkeypatch):
    panel = _weekly_panel()
    local = forecast_many(panel, horizon=8, freq="W", candidates=("naive", "seasonal_naive", "ets", "theta"),
                          n_jobs=1, all_levels=True)
    # Through AIHUB_DASK_SCHEDULER: the same function connects to the named scheduler.
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_info()["address"])
    assert scheduler_address() == cluster.scheduler_info()["address"]
    out, failed = cj.forecast_many_on_cluster(panel, horizon=8, freq="W")
    assert failed == []
    assert out["unique_id"].tolist() == local["unique_id"].tolist()
    assert (out["ds"].to_numpy() == local["ds"].to_numpy()).all()
    assert out["model"].tolist() == local["model"].tolist()
    assert len(set(out["model"])) > 1, "the panel must exercise more than one chosen method"
    # the same float64 values: each chunk runs StatsForecast's pandas path, no float32 output schema
    np.testing.assert_array_equal(out[BOUNDS].to_numpy(), local[BOUNDS].to_numpy())


def test_forecasts_of_interleaved_rows_in_more_chunks_than_workers_equal_the_local_path(cluster):
    panel = _weekly_panel(5, seed=3).sample(frac=1.0, random_state=0)  # rows of all series interleaved
    local = forecast_many(panel, horizon=6, freq="W", candidates=("naive", "seasonal_naive", "ets", "theta"),
                          n_jobs=1, all_levels=True)
    out, failed = cj.forecast_many_on_cluster(panel, horizon=6, freq="W", client=cluster, partitions=4)
    assert failed == []
    assert out["unique_id"].tolist() == local["unique_id"].tolist()
    assert (out["ds"].to_numpy() == local["ds"].to_numpy()).all()
    np.testing.assert_array_equal(out[BOUNDS].to_numpy(), local[BOUNDS].to_numpy())


def test_series_chunks_cover_the_rows_without_splitting_a_series():
    ids = np.repeat(np.array(["a", "b", "c", "d", "e"]), [10, 1, 30, 5, 4])
    for n in (1, 2, 3, 4, 5, 8):
        chunks = cj.series_chunks(ids, n)
        assert chunks[0][0] == 0 and chunks[-1][1] == len(ids) and 1 <= len(chunks) <= n
        assert all(hi == lo2 for (_, hi), (lo2, _) in itertools.pairwise(chunks))
        for lo, hi in chunks:
            assert lo == 0 or ids[lo] != ids[lo - 1], "a chunk starts at a series start"
    assert cj.series_chunks(ids[:0], 3) == []


def test_a_bad_scheduler_address_is_named(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "http://host")
    with pytest.raises(Exception, match="AIHUB_DASK_SCHEDULER"), dask_client():
        pass


def _stored(tenant_id: int, batch_id: int) -> pd.DataFrame:
    with tenant_session(tenant_id) as s:
        rows = s.execute(sa.select(PredictionResult.row_number, PredictionResult.probability,
                                   PredictionResult.prediction).where(PredictionResult.batch_id == batch_id)).all()
    return pd.DataFrame(rows, columns=["row", "probability", "prediction"]).sort_values("row").reset_index(drop=True)


@pytest.fixture(scope="module")
def scored_model(_server_database_session):
    from aihub.db import engine as dbengine

    previous = dbengine._database
    dbengine.set_database(_server_database_session)
    principal = new_tenant("dask")
    model, version = _quick_model(principal, name="dask churn", n=600)
    yield principal, model, version
    dbengine.set_database(previous)


def test_batch_scores_written_per_partition_equal_the_local_path(server_database, cluster, scored_model):
    principal, model, version = scored_model
    frame = generate_customers(1300, seed=11)
    batch = cj.score_table_on_cluster(principal, model.id, frame, filename="customers.csv", client=cluster,
                                      partition_rows=400)
    assert batch.rows_total == 1300 and batch.rows_predicted + batch.rows_failed == 1300
    stored = _stored(principal.tenant_id, batch.id)
    assert stored["row"].tolist() == list(range(1, 1301)), "every row exactly once"
    local = ml.predict(model_cache.load(principal.tenant_id, version.id), frame)
    np.testing.assert_allclose(stored["probability"].to_numpy(float), local["probability"].to_numpy(float),
                               rtol=1e-12)
    assert stored["prediction"].tolist() == local["prediction"].astype(str).tolist()
    # Another organization sees none of it (the workers wrote under row-level security).
    other = new_tenant("dask-other")
    assert _stored(other.tenant_id, batch.id).empty


def slow_partition(task, part, model):
    """The real partition function; the batch's first partition first waits until the test releases it, so its
    worker can be killed while it holds the partition and after other partitions were stored."""
    if task.first_row == 1:
        from distributed import Event

        Event(f"aihub-test-release-{task.batch_id}").wait(timeout=300)
    return cj.score_partition(task, part, model)


def _batch_ids(tenant_id: int) -> set[int]:
    with tenant_session(tenant_id) as s:
        return set(s.execute(sa.select(PredictionBatch.id)).scalars())


def _rows_of_new_batch(tenant_id: int, before: set[int]) -> int:
    with tenant_session(tenant_id) as s:
        return s.execute(sa.select(sa.func.count()).select_from(PredictionResult)
                         .where(PredictionResult.batch_id.not_in(before or {0}))).scalar_one()


def _kill_the_first_partitions_worker(client: Client, tenant_id: int, before: set[int], box: dict,
                                      deadline: float = 300.0) -> int:
    """Once another partition of the new batch is stored, SIGKILL the worker holding its first partition (which
    waits for its release meanwhile), then release the partition for its next run."""
    from distributed import Event

    pids = client.run(os.getpid)
    end = time.monotonic() + deadline
    while time.monotonic() < end and not box:
        busy = [a for a, keys in client.processing().items() if any(str(k).endswith("-1") and "aihub-score-" in
                                                                    str(k) for k in keys)]
        if busy and _rows_of_new_batch(tenant_id, before) > 0:
            time.sleep(0.5)  # the worker is inside the partition's wait
            os.kill(pids[busy[0]], signal.SIGKILL)
            (new,) = _batch_ids(tenant_id) - before
            Event(f"aihub-test-release-{new}", client=client).set()
            return pids[busy[0]]
        time.sleep(0.05)
    raise AssertionError(f"the first partition never ran beside a stored one: {box}")


def _run_in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def target():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, box


def test_a_worker_killed_mid_job_is_retried_and_every_row_stored_once(server_database, cluster, scored_model):
    principal, model, _ = scored_model
    frame = generate_customers(600, seed=12)
    before = _batch_ids(principal.tenant_id)
    th, box = _run_in_thread(cj.score_table_on_cluster, principal, model.id, frame, filename="killed.csv",
                             client=cluster, partition_rows=150, partition_fn=slow_partition)
    _kill_the_first_partitions_worker(cluster, principal.tenant_id, before, box)
    th.join(180)
    assert "error" not in box, box.get("error")
    batch = box["result"]
    stored = _stored(principal.tenant_id, batch.id)
    assert stored["row"].tolist() == list(range(1, 601)), "retried partitions are stored exactly once"
    assert batch.rows_predicted + batch.rows_failed == 600


def test_a_worker_killed_without_retries_fails_the_job_with_its_reason_and_keeps_nothing(
        server_database, cluster, scored_model):
    principal, model, _ = scored_model
    local_cluster, client = _cluster(**{"distributed.scheduler.allowed-failures": 0})
    try:
        # fresh workers import the hub first (minutes on a loaded machine), outside the kill's deadline
        client.run(importlib.import_module, "aihub.runtime.cluster_jobs")
        frame = generate_customers(600, seed=13)
        before = _batch_ids(principal.tenant_id)
        th, box = _run_in_thread(cj.score_table_on_cluster, principal, model.id, frame, filename="lost.csv",
                                 client=client, partition_rows=150, partition_fn=slow_partition)
        _kill_the_first_partitions_worker(client, principal.tenant_id, before, box)
        th.join(180)
    finally:
        client.close()
        local_cluster.close()
    err = box.get("error")
    assert isinstance(err, TrainingError), box
    assert "worker died" in err.message and "nothing was kept" in err.message
    batch_id = err.details["batch_id"]
    assert _stored(principal.tenant_id, batch_id).empty, "no partial rows of the failed job"
    assert _rows_of_new_batch(principal.tenant_id, before) == 0
    with tenant_session(principal.tenant_id) as s:
        assert s.get(PredictionBatch, batch_id) is None


def test_record_scores_on_the_cluster_equal_the_local_path(cluster, superstore_bytes):
    orders = pd.read_csv(io.BytesIO(superstore_bytes), encoding="utf-8-sig").iloc[:500]
    settings = {"id_col": "Row ID", "entity_col": "Customer ID", "time_col": "Order Date",
                "time_format": "%d/%m/%y", "group_col": "Order ID", "exclude": ["Postal Code"]}
    scorer = RecordScorer(settings).fit(orders)
    local = scorer.score(orders)
    distributed = cj.score_records_on_cluster(scorer, orders, client=cluster, partitions=2)
    pd.testing.assert_frame_equal(distributed, local)


def test_a_record_monitor_scored_on_the_cluster_stores_what_the_local_path_stores(
        server_database, cluster, superstore_bytes):
    from aihub.services import datasets

    principal = new_tenant("dask-records")
    orders = pd.read_csv(io.BytesIO(superstore_bytes), encoding="utf-8-sig").iloc[:800]
    saved = datasets.save_upload(principal, "orders", "orders.csv", orders.to_csv(index=False).encode())
    settings = {"id_col": "Row ID", "entity_col": "Customer ID", "time_col": "Order Date", "time_format": "%d/%m/%y"}
    mon = rm.create_record_monitor(principal, {"name": "Order risk", "params": settings},
                                   dataset_id=saved.version.dataset_id)
    local = [(r.row_key, round(r.score, 12), r.band) for r in rm.list_scores(principal, mon.id, limit=500)]
    again = cj.score_record_monitor_on_cluster(principal, mon.id, client=cluster, partitions=2)
    assert again.rows_scored == 800
    remote = [(r.row_key, round(r.score, 12), r.band) for r in rm.list_scores(principal, mon.id, limit=500)]
    assert remote == local and len(local) > 0
