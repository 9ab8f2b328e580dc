"""Queries of the hub, each taking a tenant-bound :class:`~sqlalchemy.orm.Session`.

Functions here return frozen dataclasses ("records"), never ORM rows, so
nothing outside :mod:`aihub.db` can lazy-load or mutate a row by accident.
They do not check permissions: the service functions that call them do.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, defer

from aihub.db.models import (
    Dataset,
    DatasetVersion,
    Deployment,
    ForecastPoint,
    ForecastSeries,
    Model,
    ModelVersion,
    TrainingJob,
    User,
)
from aihub.errors import Conflict, NotFound, ValidationError

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset with its latest version's summary."""

    id: int
    name: str
    description: str
    created_at: datetime
    latest_version: int | None
    latest_version_id: int | None
    row_count: int | None
    versions: int


@dataclass(frozen=True)
class DatasetVersionRecord:
    """One saved version of a dataset (without its bytes)."""

    id: int
    dataset_id: int
    dataset_name: str
    version: int
    filename: str
    sha256: str
    row_count: int
    column_schema: list[dict[str, Any]]
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class ModelRecord:
    """A configured model and which version serves.

    ``active_version_id`` is the champion; an optional challenger serves
    ``challenger_share`` (0 to 1) of prediction traffic.
    """

    id: int
    name: str
    kind: str
    dataset_id: int | None
    config: dict[str, Any]
    active_version_id: int | None
    active_version: int | None
    versions: int
    created_at: datetime
    challenger_version_id: int | None = None
    challenger_version: int | None = None
    challenger_share: float = 0.0


@dataclass(frozen=True)
class ModelVersionRecord:
    """A trained version's metadata (the artifact stays in the database)."""

    id: int
    model_id: int
    version: int
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    training_data_hash: str
    library_versions: dict[str, Any]
    artifact_format: str
    training_seconds: float
    dataset_version_id: int | None
    created_at: datetime
    is_active: bool = False
    is_challenger: bool = False


@dataclass(frozen=True)
class JobRecord:
    """A job (training, batch prediction, monitor run, insight generation): status, progress, timings, error text."""

    id: int
    model_id: int | None
    model_name: str
    kind: str
    status: str
    progress: float
    message: str
    error: str | None
    model_version_id: int | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool = False
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    worker: str | None = None

    @property
    def seconds(self) -> float | None:
        """Run time in seconds (to now, while running)."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.status in ("succeeded", "failed", "cancelled")


# ----------------------------------------------------------------- datasets
def list_datasets(s: Session, *, dataset_id: int | None = None, name_contains: str | None = None,
                  before_id: int | None = None, limit: int | None = None) -> list[DatasetRecord]:
    """Datasets of the session's tenant, newest first (optionally one, by name, or a keyset page by id)."""
    latest = (
        sa.select(
            DatasetVersion.dataset_id,
            sa.func.max(DatasetVersion.version).label("v"),
            sa.func.count().label("n"),
        )
        .group_by(DatasetVersion.dataset_id)
        .subquery()
    )
    q = (
        sa.select(Dataset, latest.c.v, latest.c.n, DatasetVersion.id, DatasetVersion.row_count)
        .outerjoin(latest, latest.c.dataset_id == Dataset.id)
        .outerjoin(
            DatasetVersion,
            sa.and_(DatasetVersion.dataset_id == Dataset.id, DatasetVersion.version == latest.c.v),
        )
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
    )
    if dataset_id is not None:
        q = q.where(Dataset.id == dataset_id)
    if name_contains:
        q = q.where(Dataset.name.icontains(name_contains, autoescape=True))
    if before_id is not None or limit is not None:
        q = q.order_by(None).order_by(Dataset.id.desc())
    if before_id is not None:
        q = q.where(Dataset.id < before_id)
    if limit is not None:
        q = q.limit(limit)
    return [
        DatasetRecord(d.id, d.name, d.description, d.created_at, v, vid, rows, n or 0)
        for d, v, n, vid, rows in s.execute(q).all()
    ]


def find_version_by_hash(s: Session, sha256: str, *, columns: list[str] | None = None) -> DatasetVersionRecord | None:
    """The tenant's first dataset version holding exactly these bytes (read as ``columns``, when given), if any.

    ``columns`` tells apart two tables read from one file (two lists of records of a JSON document).
    """
    rows = s.scalars(sa.select(DatasetVersion).where(DatasetVersion.sha256 == sha256).order_by(DatasetVersion.id))
    for row in rows:
        if columns is None or [c.get("name") for c in row.column_schema] == columns:
            return _version_record(s, row)
    return None


def _version_record(s: Session, v: DatasetVersion) -> DatasetVersionRecord:
    name = s.scalar(sa.select(Dataset.name).where(Dataset.id == v.dataset_id))
    who = s.scalar(sa.select(User.username).where(User.id == v.created_by)) if v.created_by else None
    return DatasetVersionRecord(
        v.id, v.dataset_id, name, v.version, v.filename, v.sha256, v.row_count,
        v.column_schema, v.created_at, who,
    )


def add_dataset_version(
    s: Session,
    *,
    tenant_id: int,
    dataset_name: str,
    description: str,
    filename: str,
    sha256: str,
    row_count: int,
    column_schema: list[dict[str, Any]],
    raw_bytes: bytes,
    frame: pd.DataFrame,
    user_id: int | None,
) -> DatasetVersionRecord:
    """Store a new version of ``dataset_name`` (creating the dataset if new).

    The typed frame is stored as Parquet (pyarrow) beside the original bytes,
    so the original upload is never lost and loading needs no re-parsing.
    """
    ds = s.scalars(sa.select(Dataset).where(Dataset.name == dataset_name).with_for_update()).first()
    if ds is None:
        ds = Dataset(tenant_id=tenant_id, name=dataset_name, description=description, created_by=user_id)
        s.add(ds)
        s.flush()
    elif description:
        ds.description = description
    last = s.scalar(sa.select(sa.func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == ds.id))
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    v = DatasetVersion(
        tenant_id=tenant_id, dataset_id=ds.id, version=(last or 0) + 1, filename=filename, sha256=sha256,
        row_count=row_count, column_schema=column_schema, raw_bytes=raw_bytes, parquet=buf.getvalue(),
        created_by=user_id,
    )
    s.add(v)
    s.flush()
    return _version_record(s, v)


def get_dataset(s: Session, dataset_id: int) -> DatasetRecord:
    """One dataset with its latest version's summary. Raises NotFound outside the tenant."""
    found = [d for d in list_datasets(s, dataset_id=dataset_id)]
    if not found:
        raise NotFound(f"No dataset {dataset_id} in your organization.")
    return found[0]


def list_dataset_versions(s: Session, dataset_id: int) -> list[DatasetVersionRecord]:
    """Versions of one dataset, newest first."""
    rows = s.scalars(
        sa.select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id).order_by(DatasetVersion.version.desc())
    ).all()
    return [_version_record(s, v) for v in rows]


def get_dataset_version(s: Session, version_id: int) -> DatasetVersionRecord:
    """One dataset version. Raises NotFound outside the tenant."""
    v = s.get(DatasetVersion, version_id)
    if v is None:
        raise NotFound(f"No dataset version {version_id} in your organization.")
    return _version_record(s, v)


def latest_dataset_version_id(s: Session, dataset_id: int) -> int:
    """Id of the newest version of a dataset. Raises NotFound if there is none."""
    vid = s.scalar(
        sa.select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.version.desc()).limit(1)
    )
    if vid is None:
        raise NotFound(f"Dataset {dataset_id} has no saved version in your organization.")
    return vid


def dataset_version_bytes(s: Session, version_id: int) -> tuple[str, bytes]:
    """``(filename, original bytes)`` of a dataset version, as uploaded or synced. Raises NotFound outside the tenant."""
    row = s.execute(
        sa.select(DatasetVersion.filename, DatasetVersion.raw_bytes).where(DatasetVersion.id == version_id)
    ).first()
    if row is None:
        raise NotFound(f"No dataset version {version_id} in your organization.")
    return row[0], bytes(row[1])


def load_dataset_frame(s: Session, version_id: int) -> pd.DataFrame:
    """The typed table of a dataset version (DataFrame as saved)."""
    blob = s.scalar(sa.select(DatasetVersion.parquet).where(DatasetVersion.id == version_id))
    if blob is None:
        raise NotFound(f"No dataset version {version_id} in your organization.")
    return pd.read_parquet(io.BytesIO(blob))


# ------------------------------------------------------------------- models
def _model_query() -> sa.Select:
    """Models with their version count and active/challenger version numbers, in one statement."""
    active = aliased(ModelVersion)
    challenger = aliased(ModelVersion)
    n_versions = (sa.select(sa.func.count()).where(ModelVersion.model_id == Model.id)
                  .correlate(Model).scalar_subquery())
    return (sa.select(Model, n_versions, active.version, challenger.version)
            .outerjoin(active, active.id == Model.active_version_id)
            .outerjoin(challenger, challenger.id == Model.challenger_version_id))


def _model_record(m: Model, n: int, active: int | None, challenger: int | None) -> ModelRecord:
    return ModelRecord(m.id, m.name, m.kind, m.dataset_id, m.config, m.active_version_id, active, n or 0,
                       m.created_at, m.challenger_version_id, challenger, float(m.challenger_share or 0.0))


def create_model(
    s: Session, *, tenant_id: int, name: str, kind: str, dataset_id: int | None,
    config: dict[str, Any], user_id: int | None,
) -> ModelRecord:
    """Insert a model. Raises Conflict if the tenant already has that name."""
    if s.scalar(sa.select(Model.id).where(Model.name == name)):
        raise Conflict(f"A model named '{name}' already exists; choose another name.", field="model_name")
    m = Model(tenant_id=tenant_id, name=name, kind=kind, dataset_id=dataset_id, config=config, created_by=user_id)
    s.add(m)
    s.flush()
    return _model_record(m, 0, None, None)


def list_models(s: Session, kind: str | None = None) -> list[ModelRecord]:
    """Models of the tenant, newest first, optionally of one kind (one query, however many models)."""
    q = _model_query().order_by(Model.created_at.desc(), Model.id.desc())
    if kind:
        q = q.where(Model.kind == kind)
    return [_model_record(*row) for row in s.execute(q).all()]


def get_model(s: Session, model_id: int) -> ModelRecord:
    """One model. Raises NotFound outside the tenant."""
    row = s.execute(_model_query().where(Model.id == model_id)).first()
    if row is None:
        raise NotFound(f"No model {model_id} in your organization.")
    return _model_record(*row)


def _version_rec(v: ModelVersion, active_id: int | None, challenger_id: int | None = None) -> ModelVersionRecord:
    return ModelVersionRecord(
        v.id, v.model_id, v.version, v.algorithm, v.params, v.metrics, v.training_data_hash,
        v.library_versions, v.artifact_format, v.training_seconds, v.dataset_version_id, v.created_at,
        v.id == active_id, challenger_id is not None and v.id == challenger_id,
    )


def add_model_version(
    s: Session, *, tenant_id: int, model_id: int, algorithm: str, params: dict[str, Any],
    metrics: dict[str, Any], training_data_hash: str, library_versions: dict[str, Any],
    artifact_format: str, artifact: bytes, training_seconds: float,
    dataset_version_id: int | None, user_id: int | None,
) -> ModelVersionRecord:
    """Insert the next version of a model (numbering under a row lock on the model)."""
    m = s.scalars(sa.select(Model).where(Model.id == model_id).with_for_update()).first()
    if m is None:
        raise NotFound(f"No model {model_id} in your organization.")
    last = s.scalar(sa.select(sa.func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id))
    v = ModelVersion(
        tenant_id=tenant_id, model_id=model_id, version=(last or 0) + 1, algorithm=algorithm, params=params,
        metrics=metrics, training_data_hash=training_data_hash, library_versions=library_versions,
        artifact_format=artifact_format, artifact=artifact, training_seconds=training_seconds,
        dataset_version_id=dataset_version_id, created_by=user_id,
    )
    s.add(v)
    s.flush()
    return _version_rec(v, m.active_version_id, m.challenger_version_id)


def _serving_ids(s: Session, model_id: int) -> tuple[int | None, int | None]:
    row = s.execute(sa.select(Model.active_version_id, Model.challenger_version_id).where(Model.id == model_id)).first()
    return (row[0], row[1]) if row else (None, None)


def list_model_versions(s: Session, model_id: int) -> list[ModelVersionRecord]:
    """Versions of a model, newest first (without artifacts)."""
    active, challenger = _serving_ids(s, model_id)
    rows = s.scalars(
        sa.select(ModelVersion).options(defer(ModelVersion.artifact))
        .where(ModelVersion.model_id == model_id).order_by(ModelVersion.version.desc())
    ).all()
    return [_version_rec(v, active, challenger) for v in rows]


def get_model_version(s: Session, version_id: int) -> ModelVersionRecord:
    """One model version. Raises NotFound outside the tenant."""
    v = s.scalars(sa.select(ModelVersion).options(defer(ModelVersion.artifact))
                  .where(ModelVersion.id == version_id)).first()
    if v is None:
        raise NotFound(f"No model version {version_id} in your organization.")
    active, challenger = _serving_ids(s, v.model_id)
    return _version_rec(v, active, challenger)


def get_artifact(s: Session, version_id: int) -> tuple[str, bytes]:
    """``(artifact_format, artifact bytes)`` of a version."""
    row = s.execute(
        sa.select(ModelVersion.artifact_format, ModelVersion.artifact).where(ModelVersion.id == version_id)
    ).first()
    if row is None:
        raise NotFound(f"No model version {version_id} in your organization.")
    return row[0], row[1]


def set_active_version(
    s: Session, *, tenant_id: int, model_id: int, version_id: int, action: str, user_id: int | None
) -> None:
    """Make ``version_id`` serve for ``model_id`` and record the deployment."""
    m = s.scalars(sa.select(Model).where(Model.id == model_id).with_for_update()).first()
    v = s.get(ModelVersion, version_id, options=[defer(ModelVersion.artifact)])
    if m is None or v is None or v.model_id != model_id:
        raise NotFound(f"Version {version_id} does not belong to model {model_id} in your organization.")
    m.active_version_id = version_id
    if m.challenger_version_id == version_id:  # a challenger made champion stops being the challenger
        m.challenger_version_id, m.challenger_share = None, 0.0
    s.add(Deployment(tenant_id=tenant_id, model_id=model_id, model_version_id=version_id, action=action,
                     created_by=user_id))


def set_challenger(
    s: Session, *, tenant_id: int, model_id: int, version_id: int | None, share: float, user_id: int | None
) -> None:
    """Let ``version_id`` serve ``share`` (0 to 1) of the traffic beside the champion; None removes it.

    Raises
    ------
    NotFound
        If the version is not one of the model's.
    Conflict
        If the model has no champion yet, or the version is the champion.
    ValidationError
        If ``share`` is not a number from 0 to 1.
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= float(share) <= 1.0:
        raise ValidationError(f"The challenger's share of traffic must be a number from 0 to 1 (e.g. 0.2 for "
                              f"20%); got {share!r}.", field="challenger_share")
    m = s.scalars(sa.select(Model).where(Model.id == model_id).with_for_update()).first()
    if m is None:
        raise NotFound(f"No model {model_id} in your organization.")
    if version_id is None:
        m.challenger_version_id, m.challenger_share = None, 0.0
        return
    v = s.get(ModelVersion, version_id, options=[defer(ModelVersion.artifact)])
    if v is None or v.model_id != model_id:
        raise NotFound(f"Version {version_id} does not belong to model {model_id} in your organization.")
    if m.active_version_id is None:
        raise Conflict(f"Model '{m.name}' has no champion yet: deploy a version before adding a challenger.")
    if m.active_version_id == version_id:
        raise Conflict(f"Version {v.version} is already the champion of '{m.name}'; choose another version "
                       "as challenger.")
    m.challenger_version_id, m.challenger_share = version_id, float(share)
    s.add(Deployment(tenant_id=tenant_id, model_id=model_id, model_version_id=version_id, action="challenger",
                     created_by=user_id))


def promote_challenger(s: Session, *, tenant_id: int, model_id: int, user_id: int | None) -> None:
    """Make the challenger the champion (and clear the challenger). Raises Conflict without one."""
    m = s.scalars(sa.select(Model).where(Model.id == model_id).with_for_update()).first()
    if m is None:
        raise NotFound(f"No model {model_id} in your organization.")
    if m.challenger_version_id is None:
        raise Conflict(f"Model '{m.name}' has no challenger to promote.")
    set_active_version(s, tenant_id=tenant_id, model_id=model_id, version_id=m.challenger_version_id,
                       action="promote", user_id=user_id)


def delete_model_version(s: Session, *, model_id: int, version_id: int) -> int:
    """Delete a version that is neither champion nor challenger; returns its version number.

    Its stored predictions and deployment events go with it (foreign keys cascade).

    Raises
    ------
    NotFound
        If the version is not one of the model's.
    Conflict
        If it serves (champion or challenger).
    """
    m = s.scalars(sa.select(Model).where(Model.id == model_id).with_for_update()).first()
    v = s.get(ModelVersion, version_id, options=[defer(ModelVersion.artifact)])
    if m is None or v is None or v.model_id != model_id:
        raise NotFound(f"Version {version_id} does not belong to model {model_id} in your organization.")
    if version_id in (m.active_version_id, m.challenger_version_id):
        role = "champion" if version_id == m.active_version_id else "challenger"
        raise Conflict(f"Version {v.version} of '{m.name}' is serving as {role}; deploy or promote another "
                       "version (or remove the challenger) before deleting it.")
    number = v.version
    s.delete(v)
    s.flush()
    return number


def deployment_history(s: Session, model_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Deploy and rollback events, newest first: model, version, action, who, when."""
    q = (
        sa.select(Deployment.created_at, Model.name, ModelVersion.version, Deployment.action, User.username)
        .join(Model, Model.id == Deployment.model_id)
        .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
        .outerjoin(User, User.id == Deployment.created_by)
        .order_by(Deployment.created_at.desc(), Deployment.id.desc())
        .limit(limit)
    )
    if model_id is not None:
        q = q.where(Deployment.model_id == model_id)
    return [
        {"at": at, "model": name, "version": ver, "action": action, "by": who}
        for at, name, ver, action, who in s.execute(q).all()
    ]


def add_forecast_points(s: Session, *, tenant_id: int, version_id: int, forecast: pd.DataFrame) -> int:
    """Bulk-insert forecast rows (columns ds, yhat, yhat_lower_80, ..., yhat_upper_95, and ``series_key``
    for a version of many series)."""
    cols = ["yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]
    keys = forecast["series_key"].astype(str).tolist() if "series_key" in forecast else [None] * len(forecast)
    stamps = [ts.to_pydatetime() for ts in pd.to_datetime(forecast["ds"])]
    values = forecast[cols].to_numpy(float) if len(forecast) else []
    rows = [
        {"tenant_id": tenant_id, "model_version_id": version_id, "series_key": key, "ds": ts,
         **dict(zip(cols, map(float, vals), strict=True))}
        for key, ts, vals in zip(keys, stamps, values, strict=True)
    ]
    if rows:
        s.execute(sa.insert(ForecastPoint), rows)
    return len(rows)


def forecast_frame(s: Session, version_id: int, series_key: str | None = None, *,
                   all_series: bool = False) -> pd.DataFrame:
    """Stored forecast of a version: DataFrame with columns ds, yhat, yhat_lower_80, ..., yhat_upper_95.

    ``series_key`` picks one series of a version of many (None: the version's single series);
    ``all_series`` returns every row with a leading ``series_key`` column.
    """
    cols = [ForecastPoint.ds, ForecastPoint.yhat, ForecastPoint.yhat_lower_80, ForecastPoint.yhat_upper_80,
            ForecastPoint.yhat_lower_95, ForecastPoint.yhat_upper_95]
    names = ["ds", "yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]
    q = sa.select(*cols).where(ForecastPoint.model_version_id == version_id)
    if all_series:
        q = sa.select(ForecastPoint.series_key, *cols).where(ForecastPoint.model_version_id == version_id)
        names = ["series_key", *names]
        q = q.order_by(ForecastPoint.series_key, ForecastPoint.ds)
    elif series_key is None:
        q = q.where(ForecastPoint.series_key.is_(None)).order_by(ForecastPoint.ds)
    else:
        q = q.where(ForecastPoint.series_key == series_key).order_by(ForecastPoint.ds)
    return pd.DataFrame(s.execute(q).all(), columns=names)


#: Columns of :func:`forecast_series_frame`.
FORECAST_SERIES_COLUMNS: tuple[str, ...] = (
    "series_key", "dims", "algorithm", "n_obs", "volume", "growth", "mase", "mase_naive", "mase_seasonal_naive",
    "backtest", "error",
)


def add_forecast_series(s: Session, *, tenant_id: int, version_id: int, series: list[dict[str, Any]]) -> int:
    """Bulk-insert the per-series summaries of a version of many series (keys: :data:`FORECAST_SERIES_COLUMNS`)."""
    rows = [{"tenant_id": tenant_id, "model_version_id": version_id, **{k: r.get(k) for k in FORECAST_SERIES_COLUMNS}}
            for r in series]
    for r in rows:
        r["dims"] = r["dims"] or {}
        r["backtest"] = r["backtest"] or []
    if rows:
        s.execute(sa.insert(ForecastSeries), rows)
    return len(rows)


def forecast_series_frame(s: Session, version_id: int) -> pd.DataFrame:
    """Per-series summaries of a version (columns :data:`FORECAST_SERIES_COLUMNS`), largest volume first."""
    q = (
        sa.select(*(getattr(ForecastSeries, c) for c in FORECAST_SERIES_COLUMNS))
        .where(ForecastSeries.model_version_id == version_id)
        .order_by(ForecastSeries.volume.desc(), ForecastSeries.series_key)
    )
    return pd.DataFrame(s.execute(q).all(), columns=list(FORECAST_SERIES_COLUMNS))


# --------------------------------------------------------------------- jobs
def _job_record(j: TrainingJob, model_name: str) -> JobRecord:
    return JobRecord(
        j.id, j.model_id, model_name, j.kind, j.status, j.progress, j.message, j.error, j.model_version_id,
        j.queued_at, j.started_at, j.finished_at, j.cancel_requested, j.payload, j.attempts, j.worker,
    )


def create_job(s: Session, *, tenant_id: int, model_id: int | None, kind: str, payload: dict[str, Any],
               user_id: int | None) -> JobRecord:
    """Insert a queued job (``model_id`` None for work of no model: a monitor run, an insight generation)."""
    j = TrainingJob(tenant_id=tenant_id, model_id=model_id, kind=kind, payload=payload, status="queued",
                    message="Waiting for a worker", created_by=user_id)
    s.add(j)
    s.flush()
    s.refresh(j)
    return _job_record(j, s.scalar(sa.select(Model.name).where(Model.id == model_id)) or "")


def claim_job(s: Session, job_id: int, *, lease_seconds: float, worker: str | None = None) -> JobRecord | None:
    """Atomically take a job to run: queued, or running with a lease older than ``lease_seconds``.

    Returns None when a live runner holds it, it has ended, or another
    transaction is claiming it right now (``SKIP LOCKED``).
    """
    lease_expired = sa.and_(
        TrainingJob.status == "running",
        TrainingJob.heartbeat_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds),
    )
    j = s.scalars(
        sa.select(TrainingJob).where(TrainingJob.id == job_id, sa.or_(TrainingJob.status == "queued", lease_expired))
        .with_for_update(skip_locked=True)
    ).first()
    if j is None:
        return None
    j.status, j.heartbeat_at, j.attempts, j.worker = "running", sa.func.now(), j.attempts + 1, worker
    j.started_at = j.started_at or sa.func.now()
    j.message = "Started" if j.attempts == 1 else f"Restarted (attempt {j.attempts}) after its worker stopped"
    s.flush()
    s.refresh(j)
    return _job_record(j, s.scalar(sa.select(Model.name).where(Model.id == j.model_id)) or "")


def update_job(s: Session, job_id: int, **values: Any) -> None:
    """Set job columns (progress, message, status, error, finished_at=..., model_version_id)."""
    values = {k: (sa.func.now() if v == "now()" else v) for k, v in values.items()}
    s.execute(sa.update(TrainingJob).where(TrainingJob.id == job_id).values(heartbeat_at=sa.func.now(), **values))


def get_job(s: Session, job_id: int) -> JobRecord:
    """One job. Raises NotFound outside the tenant."""
    row = s.execute(
        sa.select(TrainingJob, Model.name).outerjoin(Model, Model.id == TrainingJob.model_id)
        .where(TrainingJob.id == job_id)
    ).first()
    if row is None:
        raise NotFound(f"No job {job_id} in your organization.")
    return _job_record(row[0], row[1] or "")


def list_jobs(s: Session, model_id: int | None = None, limit: int = 20, *, before_id: int | None = None
              ) -> list[JobRecord]:
    """Latest jobs of models (of one with ``model_id``), newest first; ``before_id`` bounds a keyset page."""
    q = (sa.select(TrainingJob, Model.name).join(Model, Model.id == TrainingJob.model_id)
         .order_by(TrainingJob.id.desc()).limit(limit))
    if model_id is not None:
        q = q.where(TrainingJob.model_id == model_id)
    if before_id is not None:
        q = q.where(TrainingJob.id < before_id)
    return [_job_record(j, n) for j, n in s.execute(q).all()]


def latest_job_of_kind(s: Session, kind: str) -> JobRecord | None:
    """The newest job of ``kind`` (with or without a model), or None."""
    row = s.execute(
        sa.select(TrainingJob, Model.name).outerjoin(Model, Model.id == TrainingJob.model_id)
        .where(TrainingJob.kind == kind).order_by(TrainingJob.id.desc()).limit(1)
    ).first()
    return None if row is None else _job_record(row[0], row[1] or "")
