"""Heavy batch work on a real Dask cluster (issue 16): a ``distributed.LocalCluster`` of two worker processes.

Checked against the local path: many-series forecasts through statsforecast's distributed backend equal
``forecast_many`` on one process; a table scored and written back per partition equals ``ml.predict`` on the
whole table; record risk scores equal ``RecordScorer.score``. Through the product's own entry points with
``AIHUB_DASK_SCHEDULER`` set: a batch-prediction job, a record monitor's scheduled scoring and a forecast job of
many series run on the cluster (its task stream shows them) and store what the in-process path stores.
``AIHUB_DASK_LOCAL=1`` jobs share one local cluster per process, and without a cluster the hub imports no Dask.
Workers connect with the app role from their environment and write under RLS. A worker killed mid-job:
``tests/services/test_cluster_kill.py``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys

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
from aihub.runtime import compute
from aihub.runtime.compute import (
    LOCAL_ENV,
    LOCAL_WORKERS_ENV,
    PARTITION_ROWS_ENV,
    SCHEDULER_ENV,
    WORKER_DB_ENV,
    dask_client,
    scheduler_address,
)
from aihub.services import batch_predictions, datasets, jobs, model_cache, registry
from aihub.services import forecasts as forecast_svc
from aihub.services import record_monitors as rm
from tests.conftest import new_tenant
from tests.fixtures import quick_model_on


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


_NO_DASK = """
import json, sys
import numpy as np, pandas as pd
from aihub import cli  # `make run`: aihub demo, demo-api, worker and api, then the app, all wired like this
import aihub.api.app
from aihub.runtime import cluster_jobs as cj, compute, wiring
wiring.wire()
assert not compute.cluster_enabled()
state = compute.backend_state()
started = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
assert cj.run_batch_job(None, 1, "x.csv", b"") is None  # a batch job stays in-process
t = np.arange(60)
panel = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 60), "ds": np.tile(pd.date_range("2020-01-06", periods=60,
                      freq="W-MON"), 2), "y": np.r_[10 + np.sin(t), 20 + np.cos(t)]})
out = cj.forecast_many_routed(panel, horizon=4, freq="W", candidates=("naive", "seasonal_naive"), n_jobs=1)
assert len(out) == 8
print(json.dumps({"backend": state["backend"], "started": started,
                  "ran": sorted(m for m in sys.modules if m.split(".")[0] == "distributed")}))
"""


def test_without_a_cluster_configured_the_hub_never_imports_dask(tmp_path):
    """`make run` (no AIHUB_DASK_*): the entry points, wire() and the health probe import no Dask, and the routed
    jobs run without ``distributed``. (statsforecast's ``utilsforecast.compat`` imports the ``dask.dataframe``
    collection types when Dask is installed, for its type hints: a forecast in-process loads them; no client,
    scheduler or cluster.)"""
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIHUB_DASK_")}
    out = subprocess.run([sys.executable, "-c", _NO_DASK], env=env, cwd=os.getcwd(), capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"backend": "in-process", "started": [], "ran": []}


def _stored(tenant_id: int, batch_id: int) -> pd.DataFrame:
    with tenant_session(tenant_id) as s:
        rows = s.execute(sa.select(PredictionResult.row_number, PredictionResult.probability,
                                   PredictionResult.prediction).where(PredictionResult.batch_id == batch_id)).all()
    return pd.DataFrame(rows, columns=["row", "probability", "prediction"]).sort_values("row").reset_index(drop=True)


@pytest.fixture(scope="module")
def scored_model(_server_database_session):
    with quick_model_on(_server_database_session, "dask", "dask churn") as served:
        yield served


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


def _batch_ids(tenant_id: int) -> set[int]:
    with tenant_session(tenant_id) as s:
        return set(s.execute(sa.select(PredictionBatch.id)).scalars())


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


def test_the_local_cluster_is_one_per_process_reused_by_jobs_and_started_again_once_closed(
        server_database, scored_model, monkeypatch):
    principal, model, _ = scored_model
    data = generate_customers(1300, seed=22).to_csv(index=False).encode()
    status, local_job = _run_batch_job(principal, model.id, "in-process.csv", data)
    assert status == "succeeded", local_job.error
    here = _stored(principal.tenant_id, local_job.payload["batch_id"])
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv(LOCAL_ENV, "1")
    monkeypatch.setenv(LOCAL_WORKERS_ENV, "2")
    monkeypatch.setenv(PARTITION_ROWS_ENV, "400")
    compute.close_local_cluster()
    try:
        assert compute.local_scheduler_address() is None, "no cluster before the first job"
        addresses = []
        for name in ("first.csv", "second.csv"):
            with contextlib.ExitStack() as stack:
                if addresses:  # the second job: watch the cluster the first one started
                    ts = stack.enter_context(get_task_stream(client=compute.local_client()))
                status, job = _run_batch_job(principal, model.id, name, data)
            assert status == "succeeded", job.error
            addresses.append(compute.local_scheduler_address())
            there = _stored(principal.tenant_id, job.payload["batch_id"])
            assert there["row"].tolist() == list(range(1, 1301))
            np.testing.assert_allclose(there["probability"].to_numpy(float), here["probability"].to_numpy(float),
                                       rtol=1e-12)
            assert there["prediction"].tolist() == here["prediction"].tolist()
        assert addresses[0] is not None and addresses[0] == addresses[1], "the second job used the first's cluster"
        assert sum("aihub-score-" in k for k in _tasks_run(ts)) == 4, "its partitions ran on that cluster"
        assert compute.describe_backend()["scheduler"] == addresses[0]
        compute.local_client().cluster.close()  # the cluster dies under the process
        assert compute.local_scheduler_address() is None
        with dask_client() as c:
            assert c.scheduler.address != addresses[0] and c.submit(sum, [1, 2], pure=False).result() == 3
        assert compute.local_scheduler_address() == c.scheduler.address
    finally:
        compute.close_local_cluster()
    assert compute.local_scheduler_address() is None
