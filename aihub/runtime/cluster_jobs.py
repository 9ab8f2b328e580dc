"""The heavy batch work that runs on Dask (:func:`aihub.runtime.compute.dask_client`).

* :func:`forecast_many_on_cluster`: many series in chunks of whole series, each chunk one Dask task that runs
  statsforecast's ``StatsForecast.forecast`` with the product's ``auto`` per series
  (:class:`aihub.forecasting.distributed.PanelAuto`);
* :func:`score_table_on_cluster`: a large table scored by a deployed model, partition by partition, each
  partition validated, predicted and written back by the worker that scored it (:func:`score_partition`);
* :func:`score_records_on_cluster`: record-level risk scores of a large table with a fitted
  :class:`~aihub.anomaly.records.RecordScorer`, and :func:`score_record_monitor_on_cluster`, the record
  monitor service with its scoring step on the cluster.

Tenant isolation on workers: a task carries its tenant id, user id, model and batch ids and its own rows;
the fitted model or scorer is the tenant's own and is scattered to the workers of that job only. Workers
connect with the app role from their own environment (:func:`aihub.runtime.compute.worker_app_engine`) and
write through :func:`aihub.db.session.tenant_session`, i.e. under row-level security with
``set_config('app.tenant_id', ...)``. No database URL, password or key is in a task graph.

Failure: Dask re-runs the tasks of a worker that dies (up to ``distributed.scheduler.allowed-failures``).
A partition is stored in one transaction, at most once (:func:`aihub.db.partition_store.claim_partition`);
when the job still fails, every row it stored is deleted with its batch, and the error says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from aihub import ml
from aihub.anomaly.records import RecordScorer
from aihub.auth import Principal, require
from aihub.db import partition_store
from aihub.db import prediction_store as ps
from aihub.db.session import tenant_session
from aihub.errors import AihubError, NotFound, TrainingError, ValidationError
from aihub.forecasting.auto import _DEFAULT
from aihub.forecasting.distributed import panel_models, tidy_forecast
from aihub.forecasting.frequency import FREQUENCY_TABLE
from aihub.forecasting.models import LEVELS
from aihub.forecasting.series import parse_dates, parse_numbers
from aihub.jsonsafe import plain
from aihub.runtime.compute import dask_client, n_workers_of, worker_app_engine
from aihub.services import model_cache, record_monitors
from aihub.services.batch_predictions import MAX_BATCH_ERRORS

#: Rows per partition of a scored table (one transaction each when stored).
PARTITION_ROWS = 50_000

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
    """What a scoring task carries besides its rows: ids only, never a credential.

    ``batch_id`` None scores without storing (benchmarks, a dry run); ``first_row`` is the 1-based row
    number of the partition's first row within the batch.
    """

    tenant_id: int
    user_id: int | None
    model_id: int
    version_id: int
    version: int
    batch_id: int | None
    first_row: int


def _result_columns(result: pd.DataFrame, part: pd.DataFrame, task: str, out_cols: list[str], per_row_ms: float
                    ) -> dict[str, list]:
    """The arrays :func:`aihub.db.prediction_store.insert_results` stores, one entry per row of ``result``."""
    inputs = part.to_json(orient="records", lines=True, date_format="iso").splitlines() if len(part) else []
    outputs = result[out_cols].to_json(orient="records", lines=True, date_format="iso").splitlines()
    if task == "clustering":
        preds = result["segment"]
    elif task == "regression":
        preds = result["prediction"].map(lambda v: "" if v is None or pd.isna(v) else repr(float(v)))
    else:
        preds = result["prediction"]
    preds = ["" if p is None or (isinstance(p, float) and math.isnan(p)) else str(p) for p in preds]

    def floats(col: str) -> list[float | None]:
        if col not in result.columns:
            return [None] * len(result)
        return [None if pd.isna(v) else float(v) for v in result[col].to_numpy(dtype=float, na_value=np.nan)]

    n = len(result)
    return {
        "model_version_id": result["model_version_id"].astype(int).tolist(),
        "served_by": result["served_by"].tolist(), "row_number": result["row"].astype(int).tolist(),
        "input": inputs, "input_hash": [hashlib.sha256(x.encode()).hexdigest() for x in inputs],
        "output": outputs, "prediction": preds, "probability": floats("probability"),
        "confidence": floats("confidence"), "latency_ms": [per_row_ms] * n, "cache_hit": [False] * n,
        "error": [None if pd.isna(e) else str(e) for e in result["error"]],
    }


def score_partition(task: PartitionTask, part: pd.DataFrame, model: Any) -> dict[str, Any]:
    """Validate and predict one partition, and store its rows in one transaction (runs on a worker).

    Parameters
    ----------
    task : PartitionTask
    part : DataFrame of shape (n_rows, n_columns)
        The partition's rows, with the model's feature columns.
    model : aihub.ml.TrainedModel
        The deployed version's model.

    Returns
    -------
    dict
        ``rows``, ``failed``, ``errors`` (``{"row", "line": None, "message"}`` of failed rows, at most
        :data:`aihub.services.batch_predictions.MAX_BATCH_ERRORS`), ``stored`` (False when the partition
        was stored already by an earlier run of this task, or ``batch_id`` is None) and, without a batch,
        ``probability`` (ndarray, NaN for failed rows).
    """
    t0 = time.perf_counter()
    part = part.reset_index(drop=True)
    result = ml.predict(model, part)
    result["row"] = np.arange(task.first_row, task.first_row + len(result))
    result["served_by"], result["model_version_id"], result["version"] = "champion", task.version_id, task.version
    failed = result["error"].notna().to_numpy()
    errors = [{"row": int(r), "line": None, "message": str(m)}
              for r, m in zip(result.loc[failed, "row"], result.loc[failed, "error"])][:MAX_BATCH_ERRORS]
    out = {"rows": len(result), "failed": int(failed.sum()), "errors": errors, "stored": False}
    if task.batch_id is None:
        prob = result["probability"] if "probability" in result.columns else pd.Series(np.nan, index=result.index)
        out["probability"] = prob.to_numpy(dtype=float, na_value=np.nan)
        return out
    meta = {"row", "served_by", "model_version_id", "version", "error", "warning", "customer"}
    out_cols = [c for c in result.columns if c not in meta]
    columns = _result_columns(result, part, model.task, out_cols, (time.perf_counter() - t0) * 1000 / max(1, len(part)))
    with tenant_session(task.tenant_id, engine=worker_app_engine()) as s:
        if partition_store.claim_partition(s, task.batch_id, task.first_row):
            ps.insert_results(s, tenant_id=task.tenant_id, model_id=task.model_id, batch_id=task.batch_id,
                              requested_by=task.user_id, columns=columns)
            out["stored"] = True
    return out


def _cancel(futures: list[Any]) -> None:
    for f in futures:
        with contextlib.suppress(Exception):  # the client may be gone already; the batch is discarded either way
            f.cancel()


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return ("a Dask worker died while scoring a partition, and the task was retried as often as the scheduler "
                f"allows ({exc}); check the workers' memory and logs")
    return exc.message if isinstance(exc, AihubError) else f"{name}: {exc}"


def score_table_on_cluster(principal: Principal, model_id: int, frame: pd.DataFrame, *, filename: str = "table",
                           client: Any = None, partition_rows: int = PARTITION_ROWS,
                           partition_fn: Callable[..., dict[str, Any]] = score_partition) -> ps.BatchRecord:
    """Score every row of ``frame`` with the deployed champion of ``model_id`` on Dask; store them as a batch.

    Each partition of ``partition_rows`` rows is validated, predicted and stored by a worker in one
    transaction of the principal's tenant. The batch row exists from the start with zero rows predicted and
    gets its counts at the end; if the job fails, the batch and every row stored so far are deleted.

    Parameters
    ----------
    principal : Principal
        Needs ``predict``.
    model_id : int
        A model of the principal's organization with a deployed version.
    frame : DataFrame of shape (n_rows, n_columns)
        Rows with the model's feature columns.
    filename : str
        Name the batch is listed under.
    client : distributed.Client, optional
        Default: :func:`aihub.runtime.compute.dask_client`.
    partition_rows : int
        Rows per partition.
    partition_fn : callable
        ``(PartitionTask, DataFrame, model) -> dict``; :func:`score_partition` (tests wrap it).

    Returns
    -------
    aihub.db.prediction_store.BatchRecord

    Raises
    ------
    PermissionDenied
        Without ``predict``.
    NotFound
        No such model in the organization, or none of its versions is deployed.
    ValidationError
        An empty table.
    TrainingError
        The job failed (a worker died more often than allowed, a database error...); nothing was kept.
    """
    require(principal, "predict")
    if frame.empty:
        raise ValidationError(f"{filename} has no rows to score.", field="frame")
    if partition_rows < 1:
        raise ValidationError("partition_rows must be at least 1.", field="partition_rows")
    t0 = time.perf_counter()
    with tenant_session(principal.tenant_id) as s:
        info = ps.serving_info(s, model_id)
        if info.active_version_id is None:
            raise NotFound(f"Model {model_id} has no deployed version; deploy one before scoring a table.")
        batch_id = ps.add_batch(s, tenant_id=principal.tenant_id, model_id=model_id, filename=filename,
                                rows_total=len(frame), rows_predicted=0, rows_failed=0, errors=[], seconds=0.0,
                                user_id=principal.user_id)
    model = model_cache.load(principal.tenant_id, info.active_version_id)
    bounds = range(0, len(frame), partition_rows)
    futures: list[Any] = []
    try:
        with dask_client(client) as c:
            # Model and rows travel inside tasks, not scattered: a task's inputs survive the loss of the worker
            # that held them (the scheduler re-runs the task from its spec), scattered data would not.
            model_future = c.submit(_identity, model, pure=False, key=f"aihub-model-{batch_id}")
            for start in bounds:
                task = PartitionTask(principal.tenant_id, principal.user_id, model_id, info.active_version_id,
                                     info.active_version, batch_id, start + 1)
                futures.append(c.submit(partition_fn, task, frame.iloc[start:start + partition_rows], model_future,
                                        pure=False, key=f"aihub-score-{batch_id}-{start + 1}"))
            outs = c.gather(futures)
    except BaseException as exc:
        _cancel(futures)
        # Deleting the batch also removes rows a still-running partition commits meanwhile (ON DELETE CASCADE),
        # and a partition that commits afterwards is refused by the foreign key: nothing of the job stays.
        with tenant_session(principal.tenant_id) as s:
            partition_store.discard_batch(s, batch_id)
        raise TrainingError(f"Scoring {filename} failed and nothing was kept: {_describe(exc)}.",
                            details={"batch_id": batch_id}) from exc
    failed = sum(o["failed"] for o in outs)
    errors = [e for o in outs for e in o["errors"]][:MAX_BATCH_ERRORS]
    with tenant_session(principal.tenant_id) as s:
        partition_store.finish_batch(s, batch_id, rows_predicted=len(frame) - failed, rows_failed=failed,
                                     errors=plain(errors), seconds=time.perf_counter() - t0)
        return ps.get_batch(s, batch_id)


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
                             partitions: int | None = None) -> pd.DataFrame:
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
        Default 4 per worker.

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
        parts = record_partitions(frame, scorer, partitions or 4 * n_workers_of(c))
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
