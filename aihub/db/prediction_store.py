"""Queries of predictive models: served predictions, batches, feedback, serving statistics.

Like :mod:`aihub.db.store`, every function takes a tenant-bound
:class:`~sqlalchemy.orm.Session` (row-level security limits it to one
tenant), returns frozen dataclasses or plain values, and checks no
permission: :mod:`aihub.services.predictions` and its siblings do.

Bulk writes
-----------
A batch's rows are bulk-loaded with binary ``COPY`` into a *temporary*
staging table of the transaction (:func:`open_stage`, :func:`copy_to_stage`),
then moved into ``prediction_results`` with one ``INSERT ... SELECT`` per
chunk (:func:`flush_stage`, which empties the stage for the next chunk). PostgreSQL refuses ``COPY`` into a table with
row-level security to a role that does not bypass it (the app role never
does), but a temporary table has no policy; the ``INSERT ... SELECT`` runs as
the app role with the transaction's tenant, so the policy checks every row.
Single predictions use one ``INSERT ... SELECT FROM unnest(...)`` with binary
arrays (:func:`insert_results`); outcome uploads update in bulk the same way
(:func:`record_actuals`).

Typed columns
-------------
``prediction``, ``probability``, ``confidence``, ``warning``, ``error``,
version and time are columns; ``input`` (the row as given) is JSONB, and
``output`` JSONB holds only what has no column (explanations, intervals,
per-class probabilities), NULL for a plain batch row. Readers get the whole
output back from :func:`output_of` (typed columns merged with the rest).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from aihub.db.models import Model, ModelVersion, PredictionBatch, PredictionBatchVersion, PredictionResult, User
from aihub.errors import DatabaseError, NotFound

#: Columns of one stored prediction besides tenant, model, batch and requester (see :func:`insert_results`).
RESULT_ARRAYS: dict[str, str] = {
    "model_version_id": "bigint[]",
    "served_by": "text[]",
    "row_number": "int[]",
    "input": "text[]",
    "input_hash": "text[]",
    "output": "text[]",
    "prediction": "text[]",
    "probability": "float8[]",
    "confidence": "float8[]",
    "latency_ms": "float8[]",
    "cache_hit": "boolean[]",
    "error": "text[]",
    "warning": "text[]",
}

#: Columns of the temporary staging table a batch is COPYed into (PostgreSQL types, in COPY order);
#: ``input`` and ``output`` are JSON text, cast to ``jsonb`` by :func:`flush_stage` (a Python ``str`` COPYed
#: as binary ``jsonb`` would become a JSON *string*).
STAGE_COLUMNS: dict[str, str] = {
    "model_version_id": "int8",
    "served_by": "text",
    "row_number": "int4",
    "input": "text",
    "input_hash": "text",
    "output": "text",
    "prediction": "text",
    "probability": "float8",
    "confidence": "float8",
    "warning": "text",
    "error": "text",
}
_STAGE = "aihub_prediction_stage"

_JSON_COLUMNS = ("input", "output")
#: Columns :func:`insert_results` fills with NULL when not given.
_OPTIONAL_ARRAYS = ("warning",)

#: Numbers as text (feedback on regression models is compared numerically when both sides match).
_NUMERIC_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclass(frozen=True)
class ServingInfo:
    """Which versions serve a model right now.

    Attributes
    ----------
    model_id : int
    name, kind : str
    active_version_id : int or None
        The champion.
    active_version : int or None
        Its version number.
    challenger_version_id : int or None
    challenger_version : int or None
    challenger_share : float
        Share of traffic (0 to 1) the challenger takes.
    config : dict
        The model's configuration.
    """

    model_id: int
    name: str
    kind: str
    active_version_id: int | None
    active_version: int | None
    challenger_version_id: int | None
    challenger_version: int | None
    challenger_share: float
    config: dict[str, Any]

    @property
    def serving_version_ids(self) -> tuple[int, ...]:
        """The champion's and the challenger's version ids, those set (a batch's rows come from these)."""
        return tuple(v for v in (self.active_version_id, self.challenger_version_id) if v is not None)


@dataclass(frozen=True)
class PredictionRecord:
    """One stored prediction.

    Attributes
    ----------
    id, model_id, model_version_id : int
    version : int
        Version number of ``model_version_id``.
    served_by : {"champion", "challenger"}
    batch_id, row_number : int or None
        Set for batch rows (row number 1-based in the upload).
    input, output : dict
    prediction : str
        Class label, value or segment as text (``""`` for a failed row).
    probability, confidence : float or None
        0 to 1.
    latency_ms : float
        Single predictions: the request's time in aihub; batch rows: the
        batch's time divided by its rows, as of when the row's chunk was
        handed to be stored.
    cache_hit : bool
    error : str or None
    requested_by : str or None
        Username: who asked for a single prediction, or who submitted a batch row's batch.
    created_at : datetime
    actual : str or None
        Recorded outcome.
    actual_at : datetime or None
    warning : str or None
        Non-fatal notes (unseen categories).
    """

    id: int
    model_id: int
    model_version_id: int
    version: int
    served_by: str
    batch_id: int | None
    row_number: int | None
    input: dict[str, Any]
    output: dict[str, Any]
    prediction: str
    probability: float | None
    confidence: float | None
    latency_ms: float
    cache_hit: bool
    error: str | None
    requested_by: str | None
    created_at: datetime
    actual: str | None
    actual_at: datetime | None
    warning: str | None = None


def output_of(t: Any = PredictionResult) -> sa.ColumnElement:
    """SQL expression of a stored prediction's whole output: typed columns merged with the ``output`` JSONB.

    ``{"prediction", "probability", "confidence", "warning"}`` (those not NULL) overlaid by the stored
    ``output`` (a single prediction stores its whole output; a batch row only what has no column).
    ``t`` is the table or an alias/subquery with the same column names.
    """
    typed = sa.func.jsonb_strip_nulls(sa.func.jsonb_build_object(
        "prediction", sa.func.nullif(t.prediction, ""), "probability", t.probability,
        "confidence", t.confidence, "warning", t.warning))
    return typed.op("||")(sa.func.coalesce(t.output, sa.text("'{}'::jsonb")))


@dataclass(frozen=True)
class BatchRecord:
    """One batch-prediction upload.

    Attributes
    ----------
    id, model_id : int
    filename : str
    rows_total, rows_predicted, rows_failed : int
    errors : list of dict
        ``{"row", "line", "message"}`` of failed rows (the first 1,000).
    seconds : float
        End-to-end time in aihub (read, predict, store).
    created_by : str or None
    created_at : datetime
    status : {"running", "succeeded", "failed"}
        A failed batch keeps none of its rows.
    error : str or None
        Why it failed.
    """

    id: int
    model_id: int
    filename: str
    rows_total: int
    rows_predicted: int
    rows_failed: int
    errors: list[dict[str, Any]]
    seconds: float
    created_by: str | None
    created_at: datetime
    status: str = "succeeded"
    error: str | None = None


@dataclass(frozen=True)
class VersionServing:
    """Serving statistics of one version of a model (see :func:`serving_stats`)."""

    model_version_id: int
    version: int
    served_by: str
    count: int
    errors: int
    cache_hits: int


@dataclass(frozen=True)
class ServingStats:
    """Serving statistics of a model, aggregated in SQL.

    Attributes
    ----------
    count : int
        Stored predictions (single and batch rows).
    errors : int
        Of which failed validation.
    cache_hits : int
        Single predictions answered from the cache.
    single_count, batch_rows : int
        Single requests and batch rows.
    p50_ms, p95_ms, p99_ms : float or None
        Latency percentiles (``percentile_cont``) of single predictions, in
        milliseconds; batch rows are left out (their latency is the batch's
        time shared out).
    by_version : list of VersionServing
    """

    count: int
    errors: int
    cache_hits: int
    single_count: int
    batch_rows: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    by_version: list[VersionServing] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        """Failed share of predictions (0 to 1), None without any."""
        return self.errors / self.count if self.count else None

    @property
    def cache_hit_rate(self) -> float | None:
        """Share of single predictions served from the cache (0 to 1), None without any."""
        return self.cache_hits / self.single_count if self.single_count else None


@dataclass(frozen=True)
class FeedbackStats:
    """Outcomes recorded for one version's predictions.

    Attributes
    ----------
    model_version_id : int
    n : int
        Predictions with a recorded outcome.
    correct : int
        Of which the predicted class equals the outcome (text compared
        case-insensitively, surrounding blanks ignored).
    n_numeric : int
        Of which both prediction and outcome are numbers.
    mae, rmse : float or None
        Over the numeric ones (regression), in the target's unit.
    """

    model_version_id: int
    n: int
    correct: int
    n_numeric: int
    mae: float | None
    rmse: float | None

    @property
    def accuracy(self) -> float | None:
        """``correct / n`` (0 to 1), None without outcomes."""
        return self.correct / self.n if self.n else None


@dataclass(frozen=True)
class ModelPerformance:
    """One deployed predictive model on the dashboard.

    Attributes
    ----------
    model_id : int
    name : str
    version : int
        The champion's number.
    task : str or None
    test_accuracy : float or None
        Held-out accuracy stored with the version (0 to 1).
    test_mae : float or None
    live_n : int
        Outcomes recorded for the champion's predictions.
    live_accuracy : float or None
    live_mae : float or None
    predictions : int
        All stored predictions of the model.
    predictions_7d : int
        In the last 7 days.
    errors : int
    """

    model_id: int
    name: str
    version: int
    task: str | None
    test_accuracy: float | None
    test_mae: float | None
    live_n: int
    live_accuracy: float | None
    live_mae: float | None
    predictions: int
    predictions_7d: int
    errors: int


# ------------------------------------------------------------------ serving
def _serving_statement() -> sa.Select:
    active = aliased(ModelVersion)
    challenger = aliased(ModelVersion)
    return (
        sa.select(Model.id, Model.name, Model.kind, Model.active_version_id, active.version,
                  Model.challenger_version_id, challenger.version, Model.challenger_share, Model.config)
        .outerjoin(active, active.id == Model.active_version_id)
        .outerjoin(challenger, challenger.id == Model.challenger_version_id)
        .where(Model.id == sa.bindparam("model_id"))
    )


#: Built once: making the two aliases and the select on every request cost more than running it.
_SERVING = _serving_statement()


def serving_info(s: Session, model_id: int) -> ServingInfo:
    """Champion, challenger and share of a model, in one query. Raises NotFound outside the tenant.

    Runs as Core on the session's connection (same transaction and tenant): the ORM's statement handling
    cost several times the query on the single-prediction path.
    """
    row = s.connection().execute(_SERVING, {"model_id": model_id}).first()
    if row is None:
        raise NotFound(f"No model {model_id} in your organization.")
    return ServingInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], float(row[7] or 0.0), row[8])


def version_extras(s: Session, version_id: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(feature_schema, config)`` of a model version. Raises NotFound outside the tenant."""
    row = s.execute(
        sa.select(ModelVersion.feature_schema, ModelVersion.config).where(ModelVersion.id == version_id)
    ).first()
    if row is None:
        raise NotFound(f"No model version {version_id} in your organization.")
    return list(row[0] or []), dict(row[1] or {})


def set_version_extras(s: Session, version_id: int, *, feature_schema: list[dict[str, Any]],
                       config: dict[str, Any]) -> None:
    """Store the feature schema and training configuration of a freshly added version."""
    s.execute(sa.update(ModelVersion).where(ModelVersion.id == version_id)
              .values(feature_schema=feature_schema, config=config))


def update_model_config(s: Session, model_id: int, config: dict[str, Any]) -> None:
    """Replace a model's configuration (the one its next training uses). Raises NotFound outside the tenant."""
    res = s.execute(sa.update(Model).where(Model.id == model_id).values(config=config))
    if res.rowcount == 0:
        raise NotFound(f"No model {model_id} in your organization.")


_CACHED_WHERE = (PredictionResult.model_version_id == sa.bindparam("version_id"),
                 PredictionResult.input_hash == sa.bindparam("input_hash"),
                 PredictionResult.error.is_(None), PredictionResult.batch_id.is_(None))
#: Built once (the explained one also needs the stored output to carry its explanation).
_CACHED = {
    explained: sa.select(PredictionResult.output).where(
        *_CACHED_WHERE, *((PredictionResult.output["explained"].as_boolean().is_(True),) if explained else ())
    ).order_by(PredictionResult.id.desc()).limit(1)
    for explained in (False, True)
}


def find_cached(s: Session, version_id: int, input_hash: str, *, explained: bool) -> dict[str, Any] | None:
    """Output of the newest successful single prediction of this version on identical input, if any.

    Parameters
    ----------
    explained : bool
        Only accept an output that carries its explanation.
    """
    # a single prediction stores its whole output; Core on the session's connection, as serving_info
    return s.connection().execute(_CACHED[bool(explained)], {"version_id": version_id,
                                                             "input_hash": input_hash}).scalar()


def _column_values(values: Sequence[Any], sql_type: str) -> list[Any]:
    """One column as a homogeneous Python list (None kept), so psycopg can send it as a binary array."""
    if sql_type in ("bigint[]", "int[]"):
        return [None if v is None else int(v) for v in values]
    if sql_type == "float8[]":
        return [None if v is None or math.isnan(f := float(v)) else f for v in values]
    if sql_type == "boolean[]":
        return [None if v is None else bool(v) for v in values]
    return [None if v is None else str(v) for v in values]


def _copy_values(values: Sequence[Any], pg_type: str) -> list[Any]:
    """One column as a Python list for binary COPY, vectorised: NaN floats and missing values as None."""
    if pg_type == "float8":
        arr = np.asarray(values, dtype=float)
        obj = arr.astype(object)
        obj[~np.isfinite(arr)] = None
        return obj.tolist()
    if pg_type in ("int4", "int8"):
        return np.asarray(values, dtype=np.int64).tolist()
    return list(values)


def insert_results(
    s: Session, *, tenant_id: int, model_id: int, batch_id: int | None, requested_by: int | None,
    columns: dict[str, Sequence[Any]],
) -> list[tuple[int, int | None]]:
    """Insert many predictions in one ``INSERT ... SELECT FROM unnest(...)`` statement.

    The arrays travel in PostgreSQL's binary format (psycopg ``%(name)b``
    placeholders) on the session's own connection, inside its transaction and
    tenant: dumping 100,000 JSON strings as a *text* array literal costs
    seconds of quoting, the binary array a fraction of that.

    Parameters
    ----------
    columns : dict of str to sequence
        One equally long sequence per key of :data:`RESULT_ARRAYS` (``warning`` may be left out: NULL);
        ``input`` and ``output`` hold JSON *text* (cast to ``jsonb`` in the
        database), floats may be None or NaN (stored as NULL).

    Returns
    -------
    list of (id, row_number)
        The new ids with their row numbers (order not guaranteed; join on
        ``row_number`` for batches).
    """
    missing = [c for c in RESULT_ARRAYS if c not in columns and c not in _OPTIONAL_ARRAYS]
    if missing:
        raise ValueError(f"insert_results lacks columns: {', '.join(missing)}")
    size = len(next(iter(columns.values()))) if columns else 0
    columns = {**{c: [None] * size for c in _OPTIONAL_ARRAYS}, **columns}
    n = {len(columns[c]) for c in RESULT_ARRAYS}
    if len(n) != 1:
        raise ValueError("insert_results needs equally long columns")
    if n == {0}:
        return []
    names = list(RESULT_ARRAYS)
    unnest = ", ".join(f"CAST(%({c})b AS {t})" for c, t in RESULT_ARRAYS.items())
    select = ", ".join(f"u.{c}::jsonb" if c in _JSON_COLUMNS else f"u.{c}" for c in names)
    sql = (
        f"INSERT INTO prediction_results (tenant_id, model_id, batch_id, requested_by, {', '.join(names)}) "
        f"SELECT %(tenant_id)s, %(model_id)s, %(batch_id)s, %(requested_by)s, {select} "
        f"FROM unnest({unnest}) AS u({', '.join(names)}) RETURNING id, row_number"
    )
    params: dict[str, Any] = {c: _column_values(columns[c], t) for c, t in RESULT_ARRAYS.items()}
    params.update(tenant_id=tenant_id, model_id=model_id, batch_id=batch_id, requested_by=requested_by)
    conn = s.connection().connection.driver_connection  # the session's psycopg connection, same transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return [(r[0], r[1]) for r in cur.fetchall()]
    except psycopg.Error as exc:
        raise DatabaseError(f"The database refused the operation: {exc}") from exc


def open_stage(s: Session) -> None:
    """Create this transaction's temporary staging table (dropped at commit or rollback; no row-level security).

    Raises
    ------
    DatabaseError
        The role may not create temporary tables.
    """
    cols = ", ".join(f"{c} {t}" for c, t in STAGE_COLUMNS.items())
    try:
        s.execute(sa.text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ({cols}) ON COMMIT DROP"))
    except sa.exc.DBAPIError as exc:
        raise DatabaseError(f"The database refused the staging table of a batch: {exc.orig}") from exc


def copy_to_stage(s: Session, columns: dict[str, Sequence[Any]]) -> int:
    """Bulk-load rows into the staging table with binary ``COPY`` on the session's connection.

    Parameters
    ----------
    columns : dict of str to sequence
        One equally long sequence per key of :data:`STAGE_COLUMNS`; ``input``
        and ``output`` hold JSON *text* (or None), floats may be None or NaN
        (stored as NULL).

    Returns
    -------
    int
        Rows loaded.
    """
    missing = [c for c in STAGE_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"copy_to_stage lacks columns: {', '.join(missing)}")
    n = {len(columns[c]) for c in STAGE_COLUMNS}
    if len(n) != 1:
        raise ValueError("copy_to_stage needs equally long columns")
    if n == {0}:
        return 0
    arrays = [_copy_values(columns[c], t) for c, t in STAGE_COLUMNS.items()]
    conn = s.connection().connection.driver_connection  # the session's psycopg connection, same transaction
    try:
        with conn.cursor() as cur, cur.copy(
                f"COPY {_STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(list(STAGE_COLUMNS.values()))
            for row in zip(*arrays, strict=True):
                cp.write_row(row)
    except psycopg.Error as exc:
        raise DatabaseError(f"The database refused the batch's rows: {exc}") from exc
    return n.pop()


def flush_stage(s: Session, *, tenant_id: int, model_id: int, batch_id: int, latency_ms: float,
                returning: bool = False) -> np.ndarray | int:
    """Move the staged rows into ``prediction_results`` with one ``INSERT ... SELECT`` under row-level security.

    Runs as the session's role in its tenant (the policy checks every row), then empties the stage. The rows
    store no ``requested_by``: the batch holds its requester once (``prediction_batches.created_by``), which
    spares one foreign-key probe per row (migration 0027); readers show the batch's.

    Parameters
    ----------
    latency_ms : float
        Stored on every row: the batch's time divided by its rows.
    returning : bool, default False
        Return ``(id, row_number)`` of every new row instead of the count.

    Returns
    -------
    ndarray of int64, shape (n_rows, 2), or int
        ``(id, row_number)`` per new row (in no particular order), or the rows' count. The pairs come back
        as two arrays in one result row: fetching 20,000 result rows cost the writer's thread more than
        the rest of its Python work together.
    """
    cols = ", ".join(STAGE_COLUMNS)
    select = ", ".join(f"{c}::jsonb" if c in _JSON_COLUMNS else c for c in STAGE_COLUMNS)
    sql = (f"INSERT INTO prediction_results (tenant_id, model_id, batch_id, latency_ms, cache_hit, {cols}) "
           f"SELECT :tenant_id, :model_id, :batch_id, :latency_ms, false, {select} FROM {_STAGE}")
    if returning:
        sql = f"WITH ins AS ({sql} RETURNING id, row_number) SELECT array_agg(id), array_agg(row_number) FROM ins"
    params = {"tenant_id": tenant_id, "model_id": model_id, "batch_id": batch_id, "latency_ms": float(latency_ms)}
    try:
        res = s.execute(sa.text(sql), params)
        if returning:
            ids, rows = res.one()
            out: np.ndarray | int = np.column_stack([np.asarray(ids or [], dtype=np.int64),
                                                     np.asarray(rows or [], dtype=np.int64)])
        else:
            out = res.rowcount
        s.execute(sa.text(f"TRUNCATE {_STAGE}"))
    except sa.exc.DBAPIError as exc:
        raise DatabaseError(f"The database refused the batch's rows: {exc.orig}") from exc
    return out


def add_batch(
    s: Session, *, tenant_id: int, model_id: int, filename: str, rows_total: int, rows_predicted: int,
    rows_failed: int, errors: list[dict[str, Any]], seconds: float, user_id: int | None,
    status: str = "succeeded", error: str | None = None, job_id: int | None = None,
    version_ids: Iterable[int | None] = (),
) -> int:
    """Insert a batch row with the model versions that may serve its rows; returns its id.

    Parameters
    ----------
    version_ids : iterable of int or None
        The model's versions whose rows the batch may store (:attr:`ServingInfo.serving_version_ids`; None
        is skipped). A batch row references its batch and version through them with one key (migration
        0029): storing a row of another version is refused. A batch recorded failed before storing anything
        needs none.
    """
    b = PredictionBatch(tenant_id=tenant_id, model_id=model_id, filename=filename[:500], rows_total=rows_total,
                        rows_predicted=rows_predicted, rows_failed=rows_failed, errors=errors, seconds=seconds,
                        created_by=user_id, status=status, error=error, job_id=job_id)
    s.add(b)
    s.flush()
    versions = sorted({int(v) for v in version_ids if v is not None})
    if versions:
        s.execute(sa.insert(PredictionBatchVersion), [
            {"tenant_id": tenant_id, "batch_id": b.id, "model_id": model_id, "model_version_id": v}
            for v in versions])
    return b.id


def finish_batch(s: Session, batch_id: int, *, rows_total: int, rows_predicted: int, rows_failed: int,
                 errors: list[dict[str, Any]], seconds: float) -> None:
    """Record a batch's counts and time and mark it succeeded."""
    s.execute(sa.update(PredictionBatch).where(PredictionBatch.id == batch_id).values(
        rows_total=rows_total, rows_predicted=rows_predicted, rows_failed=rows_failed, errors=errors,
        seconds=seconds, status="succeeded", error=None))


def fail_batch(s: Session, batch_id: int, reason: str) -> int:
    """Delete every stored row of a batch and mark it failed with ``reason``; returns the rows deleted.

    For batches written in several transactions (one per partition): a failed
    job keeps none of its rows. Locks the batch's row first (``FOR UPDATE``): a partition that claimed the
    batch (:func:`aihub.db.partition_store.claim_partition`, a share lock on that row) and is committing its
    rows now is waited for, so its rows are visible to the delete that follows; a partition that claims later
    waits for this transaction and then finds the batch failed. Deleting first would miss the rows of a
    partition committing at that moment (not visible to the delete yet) and leave them in a batch recorded
    failed.
    """
    s.execute(sa.select(PredictionBatch.id).where(PredictionBatch.id == batch_id).with_for_update())
    n = s.execute(sa.delete(PredictionResult).where(PredictionResult.batch_id == batch_id)).rowcount
    s.execute(sa.update(PredictionBatch).where(PredictionBatch.id == batch_id).values(
        status="failed", error=reason[:4000], rows_predicted=0))
    return n


def batch_of_job(s: Session, job_id: int) -> BatchRecord | None:
    """The succeeded batch a job already stored (a retried job finds its own), or None."""
    row = s.execute(sa.select(PredictionBatch, User.username).outerjoin(User, User.id == PredictionBatch.created_by)
                    .where(PredictionBatch.job_id == job_id, PredictionBatch.status == "succeeded")
                    .order_by(PredictionBatch.id.desc()).limit(1)).first()
    return None if row is None else _batch_rec(*row)


def set_batch_seconds(s: Session, batch_id: int, seconds: float) -> None:
    """Record a batch's final end-to-end time."""
    s.execute(sa.update(PredictionBatch).where(PredictionBatch.id == batch_id).values(seconds=seconds))


def _batch_rec(b: PredictionBatch, who: str | None) -> BatchRecord:
    return BatchRecord(b.id, b.model_id, b.filename, b.rows_total, b.rows_predicted, b.rows_failed, b.errors,
                       b.seconds, who, b.created_at, b.status, b.error)


def get_batch(s: Session, batch_id: int) -> BatchRecord:
    """One batch. Raises NotFound outside the tenant."""
    row = s.execute(sa.select(PredictionBatch, User.username).outerjoin(User, User.id == PredictionBatch.created_by)
                    .where(PredictionBatch.id == batch_id)).first()
    if row is None:
        raise NotFound(f"No prediction batch {batch_id} in your organization.")
    return _batch_rec(*row)


def list_batches(s: Session, model_id: int | None = None, limit: int = 20) -> list[BatchRecord]:
    """Latest batches, newest first."""
    q = (sa.select(PredictionBatch, User.username).outerjoin(User, User.id == PredictionBatch.created_by)
         .order_by(PredictionBatch.id.desc()).limit(limit))
    if model_id is not None:
        q = q.where(PredictionBatch.model_id == model_id)
    return [_batch_rec(b, who) for b, who in s.execute(q).all()]


_RESULT_COLUMNS = (
    PredictionResult.id, PredictionResult.model_id, PredictionResult.model_version_id, ModelVersion.version,
    PredictionResult.served_by, PredictionResult.batch_id, PredictionResult.row_number, PredictionResult.input,
    output_of(), PredictionResult.prediction, PredictionResult.probability, PredictionResult.confidence,
    PredictionResult.latency_ms, PredictionResult.cache_hit, PredictionResult.error, User.username,
    PredictionResult.created_at, PredictionResult.actual, PredictionResult.actual_at, PredictionResult.warning,
)


def _results_query() -> sa.Select:
    # a batch row's requester is its batch's (batch rows store none of their own since migration 0027)
    return (sa.select(*_RESULT_COLUMNS)
            .join(ModelVersion, ModelVersion.id == PredictionResult.model_version_id)
            .outerjoin(PredictionBatch, PredictionBatch.id == PredictionResult.batch_id)
            .outerjoin(User, User.id == sa.func.coalesce(PredictionResult.requested_by, PredictionBatch.created_by)))


def get_prediction(s: Session, prediction_id: int) -> PredictionRecord:
    """One stored prediction. Raises NotFound outside the tenant."""
    row = s.execute(_results_query().where(PredictionResult.id == prediction_id)).first()
    if row is None:
        raise NotFound(f"No prediction {prediction_id} in your organization.")
    return PredictionRecord(*row)


def list_predictions(s: Session, model_id: int, *, batch_id: int | None = None, single_only: bool = False,
                     limit: int = 50, before_id: int | None = None) -> list[PredictionRecord]:
    """Latest predictions of a model (or of one batch, in row order); ``before_id`` bounds a newest-first page."""
    q = _results_query().where(PredictionResult.model_id == model_id)
    if before_id is not None:
        q = q.where(PredictionResult.id < before_id)
    if batch_id is not None:
        q = q.where(PredictionResult.batch_id == batch_id).order_by(PredictionResult.row_number)
    else:
        q = q.order_by(PredictionResult.id.desc())
        if single_only:
            q = q.where(PredictionResult.batch_id.is_(None))
    return [PredictionRecord(*r) for r in s.execute(q.limit(limit)).all()]


#: Columns of :func:`batch_rows`, in order.
BATCH_ROW_COLUMNS = ("prediction_id", "row", "served_by", "version", "input", "output", "prediction",
                     "probability", "confidence", "warning", "error")


def batch_rows(s: Session, batch_id: int) -> list[tuple]:
    """Rows of a batch in row order, as tuples of :data:`BATCH_ROW_COLUMNS`.

    ``output`` is the stored JSONB remainder (None for a plain row); the typed
    columns come separately.
    """
    q = (sa.select(PredictionResult.id, PredictionResult.row_number, PredictionResult.served_by, ModelVersion.version,
                   PredictionResult.input, PredictionResult.output, PredictionResult.prediction,
                   PredictionResult.probability, PredictionResult.confidence, PredictionResult.warning,
                   PredictionResult.error)
         .join(ModelVersion, ModelVersion.id == PredictionResult.model_version_id)
         .where(PredictionResult.batch_id == batch_id).order_by(PredictionResult.row_number))
    return [tuple(r) for r in s.execute(q).all()]


# ----------------------------------------------------------------- feedback
def prediction_versions(s: Session, prediction_ids: Sequence[int]) -> dict[int, int]:
    """``{prediction id: model version id}`` for the ids that exist in the tenant."""
    if not prediction_ids:
        return {}
    rows = s.execute(sa.text("SELECT p.id, p.model_version_id FROM prediction_results p "
                             "WHERE p.id = ANY(CAST(:ids AS bigint[]))"), {"ids": list(prediction_ids)}).all()
    return {r[0]: r[1] for r in rows}


def models_of(s: Session, prediction_ids: Sequence[int]) -> set[int]:
    """Ids of the models that made these predictions."""
    if not prediction_ids:
        return set()
    return set(s.scalars(sa.select(PredictionResult.model_id).where(PredictionResult.id.in_(list(prediction_ids)))
                         .distinct()).all())


def version_params(s: Session, version_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``{version id: params}`` (task, classes...) of the given versions."""
    if not version_ids:
        return {}
    rows = s.execute(sa.select(ModelVersion.id, ModelVersion.params).where(ModelVersion.id.in_(list(version_ids))))
    return {r[0]: r[1] for r in rows}


def record_actual(s: Session, prediction_id: int, actual: str, user_id: int | None) -> None:
    """Record the actual outcome of one prediction. Raises NotFound outside the tenant."""
    res = s.execute(sa.update(PredictionResult).where(PredictionResult.id == prediction_id)
                    .values(actual=actual, actual_at=sa.func.now(), feedback_by=user_id))
    if res.rowcount == 0:
        raise NotFound(f"No prediction {prediction_id} in your organization.")


def record_actuals(s: Session, ids: Sequence[int], actuals: Sequence[str], user_id: int | None) -> int:
    """Record many outcomes in one ``UPDATE ... FROM unnest(...)``; returns the rows updated."""
    if not ids:
        return 0
    res = s.execute(
        sa.text("UPDATE prediction_results p SET actual = u.actual, actual_at = now(), feedback_by = :user "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:actuals AS text[])) AS u(id, actual) WHERE p.id = u.id"),
        {"ids": list(ids), "actuals": list(actuals), "user": user_id},
    )
    return res.rowcount


def _feedback_select() -> str:
    return f"""
        SELECT model_version_id,
               count(*) AS n,
               count(*) FILTER (WHERE lower(btrim(actual)) = lower(btrim(prediction))) AS correct,
               count(a) AS n_numeric,
               avg(abs(a - p)) AS mae,
               sqrt(avg((a - p) ^ 2)) AS rmse
        FROM (SELECT model_version_id, actual, prediction,
                     CASE WHEN actual ~ '{_NUMERIC_RE}' AND prediction ~ '{_NUMERIC_RE}'
                          THEN actual::float8 END AS a,
                     CASE WHEN actual ~ '{_NUMERIC_RE}' AND prediction ~ '{_NUMERIC_RE}'
                          THEN prediction::float8 END AS p
              FROM prediction_results
              WHERE model_id = :model_id AND actual IS NOT NULL AND error IS NULL) f
        GROUP BY model_version_id
    """


def feedback_stats(s: Session, model_id: int) -> dict[int, FeedbackStats]:
    """Outcome agreement per version of a model, aggregated in SQL: ``{version id: FeedbackStats}``."""
    rows = s.execute(sa.text(_feedback_select()), {"model_id": model_id}).all()
    return {r[0]: FeedbackStats(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}


# ------------------------------------------------------------------- stats
def serving_stats(s: Session, model_id: int) -> ServingStats:
    """Count, errors, cache hits and single-prediction latency percentiles of a model, in SQL."""
    single = PredictionResult.batch_id.is_(None)
    total = s.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(PredictionResult.error.is_not(None)),
            sa.func.count().filter(PredictionResult.cache_hit.is_(True)),
            sa.func.count().filter(single),
            sa.func.count().filter(PredictionResult.batch_id.is_not(None)),
            sa.func.percentile_cont(0.5).within_group(PredictionResult.latency_ms).filter(single),
            sa.func.percentile_cont(0.95).within_group(PredictionResult.latency_ms).filter(single),
            sa.func.percentile_cont(0.99).within_group(PredictionResult.latency_ms).filter(single),
        ).where(PredictionResult.model_id == model_id)
    ).one()
    per = s.execute(
        sa.select(PredictionResult.model_version_id, ModelVersion.version, PredictionResult.served_by,
                  sa.func.count(), sa.func.count().filter(PredictionResult.error.is_not(None)),
                  sa.func.count().filter(PredictionResult.cache_hit.is_(True)))
        .join(ModelVersion, ModelVersion.id == PredictionResult.model_version_id)
        .where(PredictionResult.model_id == model_id)
        .group_by(PredictionResult.model_version_id, ModelVersion.version, PredictionResult.served_by)
        .order_by(ModelVersion.version.desc(), PredictionResult.served_by)
    ).all()
    return ServingStats(total[0], total[1], total[2], total[3], total[4], total[5], total[6], total[7],
                        [VersionServing(*r) for r in per])


def model_performance(s: Session) -> list[ModelPerformance]:
    """Every predictive (``ml``) model with a champion: test vs live accuracy and volume, in one query."""
    sql = sa.text(f"""
        WITH vol AS (
            SELECT model_id, count(*) AS n,
                   count(*) FILTER (WHERE created_at > now() - interval '7 days') AS n7,
                   count(*) FILTER (WHERE error IS NOT NULL) AS errors
            FROM prediction_results GROUP BY model_id
        ), live AS (
            SELECT model_version_id, count(*) AS n,
                   count(*) FILTER (WHERE lower(btrim(actual)) = lower(btrim(prediction))) AS correct,
                   avg(abs(CASE WHEN actual ~ '{_NUMERIC_RE}' AND prediction ~ '{_NUMERIC_RE}'
                                THEN actual::float8 - prediction::float8 END)) AS mae
            FROM prediction_results WHERE actual IS NOT NULL AND error IS NULL GROUP BY model_version_id
        )
        SELECT m.id, m.name, v.version, v.params ->> 'task',
               (v.metrics ->> 'accuracy')::float8, (v.metrics ->> 'mae')::float8,
               coalesce(l.n, 0), l.correct::float8 / nullif(l.n, 0), l.mae,
               coalesce(vol.n, 0), coalesce(vol.n7, 0), coalesce(vol.errors, 0)
        FROM models m
        JOIN model_versions v ON v.id = m.active_version_id
        LEFT JOIN live l ON l.model_version_id = v.id
        LEFT JOIN vol ON vol.model_id = m.id
        WHERE m.kind = 'ml'
        ORDER BY m.name
    """)
    return [ModelPerformance(*r) for r in s.execute(sql).all()]


def daily_volume(s: Session, days: int = 30) -> list[tuple[Any, str, int]]:
    """Predictions per day and model over the last ``days`` days: ``(day, model name, count)``."""
    sql = sa.text("""
        SELECT date_trunc('day', p.created_at)::date AS day, m.name, count(*)
        FROM prediction_results p JOIN models m ON m.id = p.model_id
        WHERE p.created_at > now() - make_interval(days => :days)
        GROUP BY 1, 2 ORDER BY 1, 2
    """)
    return [tuple(r) for r in s.execute(sql, {"days": days}).all()]
