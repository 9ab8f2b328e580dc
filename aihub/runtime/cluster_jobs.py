"""The product's heavy jobs on Dask (:func:`aihub.runtime.compute.dask_client`), and how each entry point gets there.

What runs on the cluster when one is configured (``AIHUB_DASK_SCHEDULER=tcp://host:8786``, or
``AIHUB_DASK_LOCAL=1`` for a local cluster of processes; :func:`aihub.runtime.compute.cluster_enabled`), set by
:func:`aihub.runtime.wiring.wire` in every process:

* batch-prediction jobs of a file with more rows than one partition (:func:`run_batch_job`, the batch
  service's runner): each partition validated, predicted and written back by the worker that scored it
  (:func:`score_partition`, the batch service's own :func:`~aihub.services.batch_predictions.score_chunk`);
* record monitors of a table with more rows than one partition (:func:`score_records_routed`, the record
  monitor service's scorer): risk scores computed per partition (all rows of an entity together), stored in
  one transaction by the service as before;
* forecast models of many series (``split_by``, :func:`fit_panel_routed`), ``aihub forecast`` and an inventory
  model's per-product demand (:func:`forecast_many_routed`): the per-series fits of :func:`aihub.forecasting.fit_panel` /
  :func:`~aihub.forecasting.forecast_many` through joblib's Dask backend, i.e. the same code and the same
  results, each series' backtest and method choice on a worker.

:func:`forecast_many_on_cluster` forecasts a long table in chunks of whole series, each chunk one Dask task
running statsforecast's ``StatsForecast.forecast`` with the product's ``auto`` per series
(:class:`aihub.forecasting.distributed.PanelAuto`); it returns forecasts and chosen methods only, no per-series
backtest, so the forecast job (which stores each series' scores) uses :func:`fit_panel_routed`, and ``aihub
forecast`` (whose methods include Prophet and holidays, which statsforecast cannot hand the calendar to) uses
:func:`forecast_many_routed`.

Without a cluster every entry point keeps its in-process path and Dask is never imported (``make run``).

Tenant isolation on workers: a task carries its tenant id, user id, the model's serving record and batch id
and its own rows; the fitted models or scorer are the tenant's own and travel with that job's tasks only.
Workers connect with the app role from their own environment (:func:`aihub.runtime.compute.worker_app_engine`)
and write through :func:`aihub.db.session.tenant_session`, i.e. under row-level security with
``set_config('app.tenant_id', ...)``. No database URL, password or key is in a task graph.

Failure: Dask re-runs the tasks of a worker that dies (up to ``distributed.scheduler.allowed-failures``).
A partition is stored in one transaction, at most once (:func:`aihub.db.partition_store.claim_partition`);
when the job still fails, the batch is recorded failed with the reason and every row it stored is deleted, a
partition committing at that moment included (:func:`aihub.db.prediction_store.fail_batch`), and the job fails
with it. Record monitors and forecasts store nothing until every partition is back. The joblib route of
forecasts keeps each series' rows in its task, never scattered, so a re-run task has them, and fails the job when
Dask gives a task up (:func:`_dask_backend_class`).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np
import pandas as pd

from aihub import ingest
from aihub.anomaly.records import RecordScorer
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import partition_store
from aihub.db import prediction_store as ps
from aihub.db.session import tenant_session
from aihub.errors import AihubError, NotFound, TrainingError, ValidationError
from aihub.forecasting import PanelResult, fit_panel, forecast_many
from aihub.forecasting.auto import _DEFAULT
from aihub.forecasting.distributed import panel_models, tidy_forecast
from aihub.forecasting.frequency import FREQUENCY_TABLE
from aihub.forecasting.models import LEVELS
from aihub.forecasting.panel import Panel
from aihub.forecasting.series import parse_dates, parse_numbers
from aihub.jsonsafe import plain
from aihub.runtime.compute import (
    MIN_CLUSTER_SERIES,
    cluster_enabled,
    dask_client,
    n_threads_of,
    n_workers_of,
    worker_app_engine,
)
from aihub.runtime.compute import partition_rows as default_partition_rows
from aihub.services import batch_predictions, model_cache, record_monitors
from aihub.services.batch_predictions import MAX_BATCH_ERRORS
from aihub.services.jobs import JobCancelled

#: Tasks per worker of a many-series forecast (more than one, so a slow worker is not left with the tail).
SERIES_CHUNKS_PER_WORKER = 8


# ---------------------------------------------------------------- forecasts
def forecast_many_on_cluster(df: pd.DataFrame, *, horizon: int, freq: str, algorithm: str = "auto",
                             candidates: Sequence[str] | None = None, n_windows: int = 3,
                             max_history: int | None = _DEFAULT,  # type: ignore[assignment]
                             on_error: str = "fail", client: Any = None, partitions: int | None = None
                             ) -> tuple[pd.DataFrame, list[str]]:
    """Forecast every series of a long table on Dask: chunks of whole series, ``StatsForecast`` on each.

    The table is already in this process, so it is cut into ``partitions`` chunks of about equal rows that
    never split a series, and each chunk is one task running ``StatsForecast(models).forecast`` (statsforecast's
    pandas path, :class:`~aihub.forecasting.distributed.PanelAuto` per series) on a worker. statsforecast's
    own Dask backend (fugue) was used before: it shuffles the rows by series and, with its default
    partitioning, calls ``StatsForecast.forecast`` once per series through ``groupby().apply`` (about 17 ms
    of extra CPU per weekly series here, 40 % on top of ``auto`` itself), and casts the output to float32
    (issue 16's benchmark, ``benchmarks/dask_scale.py``).

    Parameters
    ----------
    df : DataFrame
        Long form ``unique_id, ds, y``, every series regular (as for :func:`aihub.forecasting.forecast_many`).
    horizon, freq, algorithm, candidates, n_windows, max_history, on_error
        As in :class:`aihub.forecasting.distributed.PanelAuto` (``auto``'s default pool is
        :data:`aihub.forecasting.PANEL_CANDIDATES` of ``freq``).
    client : distributed.Client, optional
        Default: :func:`aihub.runtime.compute.dask_client` (``AIHUB_DASK_SCHEDULER`` or local processes).
    partitions : int, optional
        Tasks (chunks of whole series); default :data:`SERIES_CHUNKS_PER_WORKER` per worker, at most one
        per series.

    Returns
    -------
    forecast : DataFrame
        ``unique_id, ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95, model``, ``horizon``
        rows per series in input order.
    failed : list of str
        Series that could not be forecast (left out of ``forecast``).

    Raises
    ------
    ValidationError
        A missing column, an unparseable value or a bad parameter (before anything runs).
    TrainingError
        ``on_error="fail"`` and a series could not be forecast.
    """
    models = panel_models(freq, horizon=horizon, algorithm=algorithm, candidates=candidates,
                          n_windows=n_windows, max_history=max_history, on_error=on_error)
    for col in ("unique_id", "ds", "y"):
        if col not in df.columns:
            raise ValidationError(f"Column {col!r} is not in the input; it needs unique_id, ds and y.", field=col)
    frame = pd.DataFrame({"unique_id": df["unique_id"].astype(str).to_numpy(),
                          "ds": parse_dates(df["ds"], "ds").to_numpy(),
                          "y": parse_numbers(df["y"], "y").to_numpy(float)})
    order = list(dict.fromkeys(frame["unique_id"]))
    last = frame.groupby("unique_id", sort=False)["ds"].max()
    with dask_client(client) as c:
        n = max(1, min(partitions or SERIES_CHUNKS_PER_WORKER * n_workers_of(c), len(order)))
        # whole series, in input order, each by date: a chunk is a contiguous range of these rows
        rows = frame.iloc[np.lexsort((frame["ds"].to_numpy(),
                                      frame["unique_id"].map({k: i for i, k in enumerate(order)}).to_numpy()))]
        chunks = series_chunks(rows["unique_id"].to_numpy(), n)
        futures = [c.submit(_forecast_chunk, models, rows.iloc[lo:hi], horizon, FREQUENCY_TABLE[freq].grid,
                            pure=False) for lo, hi in chunks]
        raw = pd.concat(c.gather(futures), ignore_index=True)
    out, failed = tidy_forecast(raw, last, horizon, freq, order)
    if failed and on_error == "fail":
        more = f" ({len(failed) - 1} more series failed)" if len(failed) > 1 else ""
        raise TrainingError(f"series {failed[0]!r} could not be forecast{more}.", details={"failures": failed[:50]})
    return out.reset_index(drop=True), failed


@cache
def _dask_backend_class() -> type:
    """joblib's Dask backend, mended for a worker that dies (made on first use: importing it imports Dask).

    Two faults of ``joblib._dask.DaskDistributedBackend`` (joblib 1.6) made a forecast job of many series fail
    or hang when a worker died (issue 16's kill tests, ``tests/services/test_cluster_kill.py``):

    * it scatters each argument bigger than 1 kB (a series' rows) to one worker before the tasks that use it.
      Scattered data has no spec to compute it from: when that worker dies the scheduler cannot recover it and
      every task that needs it is cancelled, so the job failed even with retries left ("lost scattered data").
      Here every argument travels inside its task, which the scheduler re-runs elsewhere with its rows; each
      series goes to one task only, so scattering saved no transfer;
    * a task that fails in Dask itself (``KilledWorker`` once the scheduler gives up on it, a cancel) sets its
      future's exception but never calls joblib's completion callback, and ``Parallel`` waits for that callback
      forever: the job stayed ``running`` with a live heartbeat. Here the callback gets the exception, so
      ``Parallel`` raises it (and cancels the rest) as it does for a task's own error.
    """
    from joblib._dask import DaskDistributedBackend  # registered by joblib as "dask"; no public name

    class MendedDaskBackend(DaskDistributedBackend):
        def start_call(self) -> None:
            super().start_call()
            self.call_data_futures = None  # joblib scatters an argument only while this is a mapping

        def stop_call(self) -> None:
            self.call_data_futures = {}
            super().stop_call()

        def submit(self, func: Any, callback: Any = None) -> Any:
            future = super().submit(func, callback)

            def failed(done: Any) -> None:
                if callback is not None and not done.cancelled() and done.exception() is not None:
                    callback(done.exception())  # joblib records it as the outcome: Parallel raises it

            future.add_done_callback(failed)
            return future

    return MendedDaskBackend


def _joblib_on_cluster(fn: Callable[..., Any], what: str, client: Any, **kwargs: Any) -> Any:
    """``fn(**kwargs, n_jobs=<cluster slots>)`` with joblib's Dask backend (:func:`_dask_backend_class`): its
    ``Parallel`` runs on the cluster."""
    import joblib

    try:
        with dask_client(client) as c, joblib.parallel_config(backend=_dask_backend_class()(client=c)):
            return fn(**kwargs, n_jobs=max(2, n_threads_of(c)))
    except AihubError:
        raise
    except Exception as exc:  # a worker that died too often, a lost scheduler: the job fails with the reason
        raise TrainingError(f"{what} on the Dask cluster failed and nothing was kept: {_describe(exc)}.") from exc


def fit_panel_routed(panel: Panel, *, client: Any = None, **kwargs: Any) -> PanelResult:
    """:func:`aihub.forecasting.fit_panel` on Dask when a cluster is configured and the panel has at least
    :data:`~aihub.runtime.compute.MIN_CLUSTER_SERIES` series; in this process otherwise.

    The forecast service's fitter (:func:`aihub.services.forecasts.use_panel_fitter`). The per-series fits run
    through joblib's Dask backend, so the result is the one ``fit_panel`` gives on one machine (same backtest,
    method and forecast per series); ``progress`` is called here as series come back.

    Parameters
    ----------
    panel : Panel
    client : distributed.Client, optional
        Use this cluster (tests); default :func:`aihub.runtime.compute.dask_client`.
    **kwargs
        As :func:`aihub.forecasting.fit_panel` (``n_jobs`` is the cluster's task slots there).

    Raises
    ------
    ValidationError
        As ``fit_panel``.
    TrainingError
        The cluster failed the job (e.g. a worker died more often than allowed); the reason is in the message.
    """
    if client is None and (not cluster_enabled() or len(panel.keys) < MIN_CLUSTER_SERIES):
        return fit_panel(panel, **kwargs)
    kwargs.pop("n_jobs", None)
    return _joblib_on_cluster(fit_panel, f"Forecasting {len(panel.keys)} series", client, panel=panel, **kwargs)


def forecast_many_routed(df: pd.DataFrame, *, client: Any = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`aihub.forecasting.forecast_many` on Dask when a cluster is configured and the table has at least
    :data:`~aihub.runtime.compute.MIN_CLUSTER_SERIES` series (``aihub forecast``, an inventory model's demand).

    Same checks and result as on one machine: the per-series fits run through joblib's Dask backend.
    Parameters and errors as ``forecast_many``; :class:`~aihub.errors.TrainingError` when the cluster fails.
    """
    id_col = kwargs.get("id_col", "unique_id")
    if client is None and (not cluster_enabled() or id_col not in df.columns
                           or df[id_col].nunique() < MIN_CLUSTER_SERIES):
        return forecast_many(df, **kwargs)
    kwargs.pop("n_jobs", None)
    return _joblib_on_cluster(forecast_many, "Forecasting the series", client, df=df, **kwargs)


def series_chunks(ids: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Cut a long table into at most ``n`` row ranges of about equal length that never split a series.

    Parameters
    ----------
    ids : ndarray of shape (n_rows,)
        The ``unique_id`` column, each series' rows contiguous.
    n : int
        Wanted number of ranges (at least 1).

    Returns
    -------
    list of (int, int)
        ``[lo, hi)`` row ranges covering ``0 .. n_rows`` in order, none empty; fewer than ``n`` when there are
        fewer series or a series is longer than a range.
    """
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], dtype=int)
    if not len(starts):
        return []
    # cut at the series start nearest to each multiple of len(ids) / n
    targets = np.arange(1, n) * len(ids) / n
    cuts = starts[np.clip(np.searchsorted(starts, targets), 0, len(starts) - 1)]
    bounds = sorted({0, *cuts.tolist(), len(ids)})
    return [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]


def _forecast_chunk(models: list[Any], part: pd.DataFrame, horizon: int, grid: str) -> pd.DataFrame:
    """``StatsForecast(models).forecast`` of every series of ``part`` on one worker (whole series only)."""
    from statsforecast import StatsForecast

    sf = StatsForecast(models=models, freq=grid, n_jobs=1)
    return sf.forecast(df=part, h=horizon, level=list(LEVELS))


def _identity(value: Any) -> Any:
    return value


# ---------------------------------------------------------------- batch scoring
@dataclass(frozen=True)
class PartitionTask:
    """What a scoring task carries besides its rows and models: ids and the serving record, never a credential.

    ``info`` is the model's :class:`~aihub.db.prediction_store.ServingInfo` (champion, challenger, share; the
    tenant's own); ``first_row`` is the 1-based row number of the partition's first row within the batch.
    """

    tenant_id: int
    info: ps.ServingInfo
    batch_id: int
    first_row: int
    explain: bool = False


def score_partition(task: PartitionTask, part: pd.DataFrame, models: Mapping[int, Any],
                    lines: np.ndarray | None = None) -> dict[str, Any]:
    """Validate, predict and store one partition in one transaction of its tenant (runs on a worker).

    The batch service's unit does the work (:func:`aihub.services.batch_predictions.score_chunk`: binary
    ``COPY`` into a temporary stage), then :func:`aihub.db.partition_store.claim_partition` decides under a
    lock whether the partition is stored (``INSERT ... SELECT`` under row-level security) or was stored already
    by an earlier run of this task on a worker that died; in that case the stage is dropped with the transaction.

    Parameters
    ----------
    task : PartitionTask
    part : DataFrame of shape (n_rows, n_columns)
        The partition's rows as read, with the model's feature columns.
    models : mapping of int to aihub.ml.TrainedModel
        The serving versions' models by version id (champion, and challenger when it takes a share).
    lines : ndarray of int, optional
        File line of each row, for error reports.

    Returns
    -------
    dict
        ``rows``, ``failed``, ``errors`` (``{"row", "line", "message"}``, at most
        :data:`aihub.services.batch_predictions.MAX_BATCH_ERRORS`) and ``stored`` (False when an earlier run
        stored the partition, or the batch no longer takes rows because its job failed).

    Raises
    ------
    ValidationError
        The partition lacks feature columns, or the worker has no app-role connection.
    DatabaseError
        The rows could not be written.
    """
    with tenant_session(task.tenant_id, engine=worker_app_engine()) as s:
        ps.open_stage(s)
        res = batch_predictions.score_chunk(task.tenant_id, task.info, part.reset_index(drop=True),
                                            first_row=task.first_row, lines=lines, explain=task.explain,
                                            session=s, models=models)
        stored = partition_store.claim_partition(s, task.batch_id, task.first_row)
        if stored:
            ps.flush_stage(s, tenant_id=task.tenant_id, model_id=task.info.model_id, batch_id=task.batch_id,
                           latency_ms=res.seconds * 1000 / max(res.rows, 1))
    return {"rows": res.rows, "failed": res.failed, "errors": res.errors, "stored": stored}


def _cancel(futures: list[Any]) -> None:
    for f in futures:
        with contextlib.suppress(Exception):  # the client may be gone already; the batch is failed either way
            f.cancel()


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        worker = getattr(getattr(exc, "last_worker", None), "address", None)
        allowed = getattr(exc, "allowed_failures", None)
        if worker is None or allowed is None:
            return (f"a Dask worker died while running a task, and the task was retried as often as the scheduler "
                    f"allows ({exc}); check the workers' memory and logs")
        return (f"a Dask worker died while running task {exc.task!r} (worker {worker}; the task was tried on "
                f"{allowed + 1} worker(s), each died: distributed.scheduler.allowed-failures is {allowed}); "
                "check that worker's memory and logs")
    return exc.message if isinstance(exc, AihubError) else f"{name}: {exc}"


def _serving_models(tenant_id: int, info: ps.ServingInfo) -> dict[int, Any]:
    models = {info.active_version_id: model_cache.load(tenant_id, info.active_version_id)}
    if info.challenger_version_id is not None and info.challenger_share > 0:
        models[info.challenger_version_id] = model_cache.load(tenant_id, info.challenger_version_id)
    return models


def score_batch_on_cluster(principal: Principal, model_id: int,
                           chunks: Iterable[tuple[pd.DataFrame, np.ndarray | None]], *, filename: str,
                           explain: bool = False, job_id: int | None = None, client: Any = None,
                           progress: Callable[[int], None] | None = None) -> ps.BatchRecord:
    """Score a batch on Dask, one partition per chunk, each stored by the worker that scored it.

    The batch is recorded ``running`` first; each partition commits on its own (:func:`score_partition`); at
    the end the batch gets its counts and ``succeeded``. If anything fails (a worker died more often than
    allowed, a database error, a cancel), every row stored so far is deleted and the batch is recorded
    ``failed`` with the reason, in one transaction that waits for partitions committing at that moment; a
    partition that comes later finds the batch failed and stores nothing.

    Parameters
    ----------
    principal : Principal
        Needs ``predict``.
    model_id : int
        A model of the principal's organization with a deployed version.
    chunks : iterable of (DataFrame, ndarray of int or None)
        The rows, a partition at a time, with each row's file line (:func:`aihub.ingest.iter_table_chunks`);
        read lazily: at most two partitions per worker thread are in flight.
    filename : str
        Name the batch is listed under.
    explain : bool, default False
        Add explanations per row.
    job_id : int, optional
        The job the batch belongs to; a batch of this job left ``running`` by an earlier attempt is failed
        first (its rows deleted).
    client : distributed.Client, optional
        Default: :func:`aihub.runtime.compute.dask_client`.
    progress : callable(rows done), optional
        May raise (a cancelled job): the batch is failed as above and the error passes through.

    Returns
    -------
    aihub.db.prediction_store.BatchRecord

    Raises
    ------
    PermissionDenied
        Without ``predict``.
    NotFound
        No such model in the organization, or none of its versions is deployed.
    JobCancelled
        ``progress`` raised it; nothing was kept.
    TrainingError
        The job failed (no rows, a worker died more often than allowed, a database error...); nothing was kept,
        and the batch is recorded failed with the same reason.
    """
    require(principal, "predict")
    t0 = time.perf_counter()
    tenant = principal.tenant_id
    with tenant_session(tenant) as s:
        info = ps.serving_info(s, model_id)
        if info.active_version_id is None:
            raise NotFound(f"Model {model_id} has no deployed version; deploy one before scoring a table.")
        if job_id is not None:
            partition_store.fail_unfinished_batches(s, job_id, "Its job was started again after its worker stopped.")
        batch_id = ps.add_batch(s, tenant_id=tenant, model_id=model_id, filename=filename, rows_total=0,
                                rows_predicted=0, rows_failed=0, errors=[], seconds=0.0, user_id=principal.user_id,
                                status="running", job_id=job_id, version_ids=info.serving_version_ids)
    models = _serving_models(tenant, info)
    futures: list[Any] = []
    outs: list[dict[str, Any]] = []
    rows = 0
    try:
        from distributed import as_completed

        with dask_client(client) as c:
            # Models and rows travel inside tasks, not scattered: a task's inputs survive the loss of the worker
            # that held them (the scheduler re-runs the task from its spec), scattered data would not.
            models_future = c.submit(_identity, models, pure=False, key=f"aihub-models-{batch_id}")
            running = as_completed()
            limit = 2 * n_threads_of(c)

            def collect(fut: Any) -> None:
                outs.append(fut.result())
                if progress is not None:
                    progress(sum(o["rows"] for o in outs))

            for chunk, lines in chunks:
                task = PartitionTask(tenant, info, batch_id, rows + 1, explain)
                fut = c.submit(score_partition, task, chunk, models_future, lines, pure=False,
                               key=f"aihub-score-{batch_id}-{rows + 1}")
                futures.append(fut)
                running.add(fut)
                rows += len(chunk)
                while running.count() >= limit:
                    collect(next(running))
            for fut in running:
                collect(fut)
        if rows == 0:
            raise ValidationError(f"{filename} has no rows to predict.", field="file")
    except BaseException as exc:
        _cancel(futures)
        reason = (exc.message if isinstance(exc, JobCancelled)
                  else f"Scoring {filename} failed and nothing was kept: {_describe(exc)}.")
        with tenant_session(tenant) as s:
            # Waits for partitions committing now (they hold the batch row); later ones find it failed.
            ps.fail_batch(s, batch_id, reason)
            ps.set_batch_seconds(s, batch_id, time.perf_counter() - t0)
        if isinstance(exc, JobCancelled | KeyboardInterrupt | SystemExit):
            raise
        raise TrainingError(reason, details={"batch_id": batch_id}) from exc
    failed = sum(o["failed"] for o in outs)
    errors = sorted((e for o in outs for e in o["errors"]), key=lambda e: e["row"])[:MAX_BATCH_ERRORS]
    with tenant_session(tenant) as s:
        ps.finish_batch(s, batch_id, rows_total=rows, rows_predicted=rows - failed, rows_failed=failed,
                        errors=plain(errors), seconds=time.perf_counter() - t0)
        return ps.get_batch(s, batch_id)


def score_table_on_cluster(principal: Principal, model_id: int, frame: pd.DataFrame, *, filename: str = "table",
                           client: Any = None, partition_rows: int | None = None) -> ps.BatchRecord:
    """Score every row of a table with the deployed model on Dask and store them as a batch.

    :func:`score_batch_on_cluster` on ``frame`` cut into partitions of ``partition_rows`` rows (default
    :func:`aihub.runtime.compute.partition_rows`). Same permissions, results and errors.

    Raises
    ------
    ValidationError
        An empty table, or ``partition_rows`` below 1.
    """
    if frame.empty:
        raise ValidationError(f"{filename} has no rows to score.", field="frame")
    size = partition_rows or default_partition_rows()
    if size < 1:
        raise ValidationError("partition_rows must be at least 1.", field="partition_rows")
    chunks = ((frame.iloc[i:i + size], None) for i in range(0, len(frame), size))
    return score_batch_on_cluster(principal, model_id, chunks, filename=filename, client=client)


def run_batch_job(principal: Principal, model_id: int, filename: str, data: bytes, *, explain: bool = False,
                  job_id: int | None = None, progress: Callable[[int], None] | None = None,
                  client: Any = None) -> ps.BatchRecord | None:
    """The batch service's large-file runner (:func:`aihub.services.batch_predictions.use_runner`).

    A batch job goes to Dask when a cluster is configured (:func:`aihub.runtime.compute.cluster_enabled`) and
    its file has more rows than one partition (:func:`aihub.runtime.compute.partition_rows`, 50,000 by
    default); otherwise, and for models that turn orders into customers (their file is one table), it
    returns None and the job runs in this process as before.

    Returns
    -------
    BatchRecord or None
        The stored batch, or None when the job is left to the in-process path.

    Raises
    ------
    As :func:`score_batch_on_cluster`; ``IngestError`` for an unreadable file.
    """
    if client is None and not cluster_enabled():
        return None
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
    if info.active_version_id is None:
        return None  # the in-process path refuses it with its usual message
    if model_cache.load(principal.tenant_id, info.active_version_id).config.data_prep is not None:
        return None
    chunks = ingest.iter_table_chunks(filename, io.BytesIO(data), chunk_rows=default_partition_rows(),
                                      max_bytes=load_settings().max_upload_bytes)
    head = list(itertools.islice(chunks, 2))
    if len(head) < 2:
        return None
    return score_batch_on_cluster(principal, model_id, itertools.chain(head, chunks), filename=filename,
                                  explain=explain, job_id=job_id, client=client, progress=progress)


# ---------------------------------------------------------------- record scores
def _score_records_part(scorer: RecordScorer, part: pd.DataFrame) -> pd.DataFrame:
    return scorer.score(part)


def record_partitions(frame: pd.DataFrame, scorer: RecordScorer, n: int) -> list[np.ndarray]:
    """Row positions of each partition: all rows of an entity (``entity_col``) in one partition.

    Entity features (share of a category, deviation from the entity's mean, bursts per day) are computed
    among the rows scored together, so an entity must not be split across partitions.
    """
    n = max(1, min(n, len(frame)))
    ent = scorer.params.entity_col
    if ent:
        keys = pd.util.hash_pandas_object(frame[ent].astype(str), index=False).to_numpy() % np.uint64(n)
        return [np.flatnonzero(keys == i) for i in range(n) if (keys == i).any()]
    return [np.arange(i, min(i + math.ceil(len(frame) / n), len(frame)))
            for i in range(0, len(frame), math.ceil(len(frame) / n))]


def score_records_on_cluster(scorer: RecordScorer, frame: pd.DataFrame, *, client: Any = None,
                             partitions: int | None = None, min_partitions: int = 1) -> pd.DataFrame:
    """``scorer.score(frame)`` computed partition by partition on Dask; the same table as on one machine.

    Parameters
    ----------
    scorer : RecordScorer
        Fitted (and possibly taught) on the tenant's table.
    frame : DataFrame
        Rows to score.
    client : distributed.Client, optional
        Default: :func:`aihub.runtime.compute.dask_client`.
    partitions : int, optional
        Default one per worker (a scoring call has a fixed cost of about 2 s, so fewer, larger partitions).
    min_partitions : int, default 1
        At least this many partitions (bounds a partition's rows).

    Returns
    -------
    DataFrame
        As :meth:`RecordScorer.score`, same index and order as ``frame``.

    Raises
    ------
    ValidationError
        As :meth:`RecordScorer.score` (raised from the worker).
    """
    with dask_client(client) as c:
        parts = record_partitions(frame, scorer, max(partitions or n_workers_of(c), min_partitions))
        scorer_future = c.submit(_identity, scorer, pure=False)
        futures = [c.submit(_score_records_part, scorer_future, frame.iloc[p], pure=False) for p in parts]
        scored = c.gather(futures)
    if len(scored) == 1:
        return scored[0]
    return pd.concat(scored).iloc[np.argsort(np.concatenate(parts), kind="stable")]


def score_record_monitor_on_cluster(principal: Principal, monitor_id: int, *, client: Any = None,
                                    partitions: int | None = None) -> record_monitors.RecordMonitorRecord:
    """:func:`aihub.services.record_monitors.score_record_monitor` with its scoring step on Dask.

    The scorer is fitted (and taught the analysts' decisions) where the service runs; the rows are scored on
    the cluster by :func:`score_records_on_cluster`; the flagged rows are stored in one transaction as before.
    Same permissions and errors as the service.
    """
    return record_monitors.score_record_monitor(
        principal, monitor_id, score=partial(score_records_on_cluster, client=client, partitions=partitions))


def score_records_routed(scorer: RecordScorer, frame: pd.DataFrame, *, client: Any = None) -> pd.DataFrame:
    """The record monitor service's scorer (:func:`aihub.services.record_monitors.use_scorer`).

    On Dask (:func:`score_records_on_cluster`, partitions of at most
    :func:`aihub.runtime.compute.partition_rows` rows, at least one per worker) when a cluster is configured and
    the table has more rows than one partition; ``scorer.score(frame)`` here otherwise. Same result either way.

    Raises
    ------
    ValidationError
        As :meth:`RecordScorer.score`.
    TrainingError
        The cluster failed the job (a worker died more often than allowed...); nothing is stored by the caller.
    """
    rows = default_partition_rows()
    if client is None and (not cluster_enabled() or len(frame) <= rows):
        return scorer.score(frame)
    try:
        return score_records_on_cluster(scorer, frame, client=client, min_partitions=math.ceil(len(frame) / rows))
    except AihubError:
        raise
    except Exception as exc:
        raise TrainingError(f"Scoring {len(frame):,} rows on the Dask cluster failed and nothing was stored: "
                            f"{_describe(exc)}.") from exc

