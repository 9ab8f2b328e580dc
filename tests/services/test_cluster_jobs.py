"""Heavy batch work on a real Dask cluster (issue 16): a ``distributed.LocalCluster`` of two worker processes.

Checked against the local path: many-series forecasts through statsforecast's distributed backend equal
``forecast_many`` on one process; a table scored and written back per partition equals ``ml.predict`` on the
whole table; record risk scores equal ``RecordScorer.score``. Through the product's own entry points with
``AIHUB_DASK_SCHEDULER`` set: a batch-prediction job, a record monitor's scheduled scoring and a forecast job of
many series run on the cluster (its task stream shows them) and store what the in-process path stores. A
worker killed while it scores a partition leaves the job retried (every row stored exactly once) or, with no
retries allowed, the job failed with its reason, the batch failed and empty, earlier batches untouched.
Workers connect with the app role from their environment and write under RLS.
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
from distributed import Client, LocalCluster, get_task_stream

from aihub import ml
from aihub.anomaly.records import RecordScorer
from aihub.db.models import PredictionBatch, PredictionResult
from aihub.db.session import tenant_session
from aihub.demo import generate_customers
from aihub.forecasting import forecast_many
from aihub.runtime import cluster_jobs as cj
from aihub.runtime.compute import PARTITION_ROWS_ENV, SCHEDULER_ENV, WORKER_DB_ENV, dask_client, scheduler_address
from aihub.services import batch_predictions, datasets, jobs, model_cache, registry
from aihub.services import forecasts as forecast_svc
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


def slow_partition(task, part, models, lines=None):
    """The real partition function; the batch's first partition first waits until the test releases it, so its
    worker can be killed while it holds the partition and after other partitions were stored."""
    if task.first_row == 1:
        from distributed import Event

        Event(f"aihub-test-release-{task.batch_id}").wait(timeout=300)
    return _REAL_SCORE_PARTITION(task, part, models, lines)


_REAL_SCORE_PARTITION = cj.score_partition


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


def _tasks_run(ts) -> list[str]:
    return [str(t["key"]) for t in ts.data]


def _run_batch_job(principal, model_id: int, filename: str, data: bytes):
    job = batch_predictions.submit_batch(principal, model_id, filename, data, run=False)
    status = jobs.run_job(principal.tenant_id, job.id)
    return status, registry.get_job(principal, job.id)


def test_a_batch_job_runs_on_the_scheduler_named_and_stores_what_the_in_process_job_stores(
        server_database, cluster, scored_model, monkeypatch):
    principal, model, _ = scored_model
    data = generate_customers(1300, seed=21).to_csv(index=False).encode()
    status, local_job = _run_batch_job(principal, model.id, "here.csv", data)  # no scheduler: in this process
    assert status == "succeeded", local_job.error
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_info()["address"])
    monkeypatch.setenv(PARTITION_ROWS_ENV, "400")  # 1,300 rows: 4 partitions, above the one-partition threshold
    with get_task_stream(client=cluster) as ts:
        status, job = _run_batch_job(principal, model.id, "there.csv", data)
    assert status == "succeeded", job.error
    assert sum("aihub-score-" in k for k in _tasks_run(ts)) == 4, "the partitions ran on the cluster"
    here = batch_predictions.get_batch(principal, local_job.payload["batch_id"])
    there = batch_predictions.get_batch(principal, job.payload["batch_id"])
    assert (there.status, there.rows_total, there.rows_predicted, there.rows_failed, there.errors) == (
        "succeeded", here.rows_total, here.rows_predicted, here.rows_failed, here.errors)
    a, b = _stored(principal.tenant_id, here.id), _stored(principal.tenant_id, there.id)
    assert b["row"].tolist() == list(range(1, 1301))
    np.testing.assert_allclose(b["probability"].to_numpy(float), a["probability"].to_numpy(float), rtol=1e-12)
    assert b["prediction"].tolist() == a["prediction"].tolist()
    pd.testing.assert_frame_equal(batch_predictions.batch_results(principal, there.id).drop(columns="prediction_id"),
                                  batch_predictions.batch_results(principal, here.id).drop(columns="prediction_id"))


def _rows_by_batch(tenant_id: int) -> dict[int, int]:
    with tenant_session(tenant_id) as s:
        return dict(s.execute(sa.select(PredictionResult.batch_id, sa.func.count())
                              .group_by(PredictionResult.batch_id)).all())


def test_a_batch_job_whose_worker_dies_without_retries_fails_with_its_reason_and_keeps_nothing(
        server_database, cluster, scored_model, monkeypatch):
    principal, model, _ = scored_model
    batch_predictions.predict_batch(principal, model.id, "earlier.csv",
                                    generate_customers(50, seed=3).to_csv(index=False).encode())
    earlier = _rows_by_batch(principal.tenant_id)
    local_cluster, client = _cluster(**{"distributed.scheduler.allowed-failures": 0})
    try:
        # fresh workers import the hub first (minutes on a loaded machine), outside the kill's deadline
        client.run(importlib.import_module, "aihub.runtime.cluster_jobs")
        monkeypatch.setenv(SCHEDULER_ENV, client.scheduler_info()["address"])
        monkeypatch.setenv(PARTITION_ROWS_ENV, "150")
        monkeypatch.setattr(cj, "score_partition", slow_partition)
        data = generate_customers(600, seed=13).to_csv(index=False).encode()
        before = _batch_ids(principal.tenant_id)
        th, box = _run_in_thread(_run_batch_job, principal, model.id, "lost.csv", data)
        _kill_the_first_partitions_worker(client, principal.tenant_id, before, box)
        th.join(180)
    finally:
        client.close()
        local_cluster.close()
    assert "error" not in box, box.get("error")
    status, job = box["result"]
    assert status == "failed" and "worker died" in job.error and "nothing was kept" in job.error, job.error
    (batch_id,) = _batch_ids(principal.tenant_id) - before
    batch = batch_predictions.get_batch(principal, batch_id)
    assert (batch.status, batch.error, batch.rows_predicted) == ("failed", job.error, 0)
    assert _stored(principal.tenant_id, batch_id).empty, "no partial rows of the failed job"
    assert _rows_by_batch(principal.tenant_id) == earlier, "earlier batches keep every row"


def test_record_scores_on_the_cluster_equal_the_local_path(cluster, superstore_bytes):
    orders = pd.read_csv(io.BytesIO(superstore_bytes), encoding="utf-8-sig").iloc[:500]
    settings = {"id_col": "Row ID", "entity_col": "Customer ID", "time_col": "Order Date",
                "time_format": "%d/%m/%y", "group_col": "Order ID", "exclude": ["Postal Code"]}
    scorer = RecordScorer(settings).fit(orders)
    local = scorer.score(orders)
    distributed = cj.score_records_on_cluster(scorer, orders, client=cluster, partitions=2)
    pd.testing.assert_frame_equal(distributed, local)


def test_a_record_monitor_scored_by_the_worker_runs_on_the_scheduler_named_and_stores_what_the_local_path_stores(
        server_database, cluster, superstore_bytes, monkeypatch):
    principal = new_tenant("dask-records")
    orders = pd.read_csv(io.BytesIO(superstore_bytes), encoding="utf-8-sig").iloc[:800]
    saved = datasets.save_upload(principal, "orders", "orders.csv", orders.to_csv(index=False).encode())
    settings = {"id_col": "Row ID", "entity_col": "Customer ID", "time_col": "Order Date", "time_format": "%d/%m/%y"}
    mon = rm.create_record_monitor(principal, {"name": "Order risk", "params": settings},
                                   dataset_id=saved.version.dataset_id)  # scored now, in this process
    local = [(r.row_key, round(r.score, 12), r.band) for r in rm.list_scores(principal, mon.id, limit=500)]
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_info()["address"])
    monkeypatch.setenv(PARTITION_ROWS_ENV, "300")
    with get_task_stream(client=cluster) as ts:
        assert rm.score_scheduled(principal.tenant_id, mon.id) == 800  # what `aihub worker` runs after a sync
    assert sum("_score_records_part" in k for k in _tasks_run(ts)) >= 3, "scored in partitions on the cluster"
    remote = [(r.row_key, round(r.score, 12), r.band) for r in rm.list_scores(principal, mon.id, limit=500)]
    assert remote == local and len(local) > 0


def _series_table(principal, model_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    version = registry.list_versions(principal, model_id)[0]
    table = forecast_svc.forecast_series(principal, model_id, version.id)
    csv = pd.read_csv(io.BytesIO(forecast_svc.forecast_csv(principal, model_id, version.id)))
    return table[["series_key", "algorithm", "mase", "n_obs"]], csv


def test_a_forecast_job_of_many_series_runs_on_the_scheduler_named_and_equals_the_in_process_job(
        server_database, cluster, superstore_bytes, monkeypatch):
    principal = new_tenant("dask-forecast")
    saved = datasets.save_upload(principal, "Superstore", "superstore.csv", superstore_bytes)
    raw = {"dataset_id": saved.version.dataset_id, "date_column": "Order Date", "value_column": "Sales",
           "freq": "M", "horizon": 3, "split_by": ["Category"]}

    def train(name: str) -> int:
        model, job = forecast_svc.create_forecast_model(principal, {**raw, "model_name": name}, run=False)
        assert jobs.run_job(principal.tenant_id, job.id) == "succeeded", registry.get_job(principal, job.id).error
        return model.id

    here = _series_table(principal, train("here"))
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_info()["address"])
    with get_task_stream(client=cluster) as ts:
        there = _series_table(principal, train("there"))
    assert any("fit_one" in k or "batch_of" in k for k in _tasks_run(ts)), _tasks_run(ts)[:5]
    assert len(there[0]) == 3 and there[0]["algorithm"].notna().all()
    pd.testing.assert_frame_equal(there[0], here[0])
    pd.testing.assert_frame_equal(there[1], here[1])


def test_aihub_forecast_with_a_scheduler_named_runs_there_and_writes_the_same_file(cluster, monkeypatch, tmp_path):
    from aihub import cli

    _weekly_panel(3, seed=5).to_csv(tmp_path / "in.csv", index=False)
    args = ["forecast", "--input", str(tmp_path / "in.csv"), "--horizon", "6", "--freq", "W",
            "--candidates", "naive,seasonal_naive,ets"]
    assert cli.main([*args, "--output", str(tmp_path / "here.csv"), "--n-jobs", "1"]) == 0
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_info()["address"])
    with get_task_stream(client=cluster) as ts:
        assert cli.main([*args, "--output", str(tmp_path / "there.csv")]) == 0
    assert _tasks_run(ts), "the fits ran on the cluster"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "there.csv"), pd.read_csv(tmp_path / "here.csv"))



def test_an_inventory_job_with_a_scheduler_named_forecasts_demand_there_and_plans_the_same(
        server_database, cluster, superstore_bytes, monkeypatch):
    from aihub.services import analytics
    from aihub.services import analytics_results as results

    principal = new_tenant("dask-inventory")
    orders = pd.read_csv(io.BytesIO(superstore_bytes), encoding="utf-8-sig")
    orders = orders[orders["Sub-Category"].isin(["Binders", "Paper", "Chairs"])].assign(on_hand=50)
    saved = datasets.save_upload(principal, "stock", "stock.csv", orders.to_csv(index=False).encode())
    raw = {"dataset_id": saved.version.dataset_id, "product_column": "Sub-Category", "date_column": "Order Date",
           "quantity_column": "Quantity", "position_column": "on_hand", "freq": "W", "lead_time": 2}

    def plan(name: str) -> pd.DataFrame:
        model, job = analytics.create_analytic(principal, "inventory", {**raw, "model_name": name}, run=False)
        assert jobs.run_job(principal.tenant_id, job.id) == "succeeded", registry.get_job(principal, job.id).error
        return results.inventory_policy(principal, model.id).set_index("product").sort_index()

    here = plan("here")
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_info()["address"])
    with get_task_stream(client=cluster) as ts:
        there = plan("there")
    assert _tasks_run(ts), "the demand forecasts ran on the cluster"
    pd.testing.assert_frame_equal(there, here)


def _closed_port_address() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_jobs_whose_scheduler_cannot_be_reached_fail_with_the_reason_and_keep_nothing(
        server_database, scored_model, superstore_bytes, monkeypatch):
    principal, model, _ = scored_model
    earlier = _rows_by_batch(principal.tenant_id)
    monkeypatch.setenv(SCHEDULER_ENV, _closed_port_address())
    monkeypatch.setenv(PARTITION_ROWS_ENV, "100")
    before = _batch_ids(principal.tenant_id)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        status, job = _run_batch_job(principal, model.id, "unreached.csv",
                                     generate_customers(300, seed=4).to_csv(index=False).encode())
        assert status == "failed" and "nothing was kept" in job.error and "connect" in job.error, job.error
        (batch_id,) = _batch_ids(principal.tenant_id) - before
        batch = batch_predictions.get_batch(principal, batch_id)
        assert (batch.status, batch.error) == ("failed", job.error)
        assert _rows_by_batch(principal.tenant_id) == earlier

        saved = datasets.save_upload(principal, "Superstore", "superstore.csv", superstore_bytes)
        fc, fjob = forecast_svc.create_forecast_model(
            principal, {"model_name": "unreached", "dataset_id": saved.version.dataset_id,
                        "date_column": "Order Date", "value_column": "Sales", "freq": "M", "horizon": 3,
                        "split_by": ["Category"]}, run=False)
        assert jobs.run_job(principal.tenant_id, fjob.id) == "failed"
        error = registry.get_job(principal, fjob.id).error
        assert "on the Dask cluster failed and nothing was kept" in error, error
        assert registry.list_versions(principal, fc.id) == []
