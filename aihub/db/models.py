"""SQLAlchemy 2 typed ORM of the hub's schema.

Every table a tenant owns carries a non-null ``tenant_id`` and is protected
by a FORCEd row-level-security policy (see the migrations), so a query that
forgets its tenant filter still sees only the current tenant's rows.

ORM rows stay inside :mod:`aihub.db`; the store functions hand plain
dataclasses to callers (the pattern of MLflow's SQLAlchemy store).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

#: Constraint names Alembic can find again (Alembic docs, "The Importance of Naming Constraints").
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(reference_name)s_%(referred_table_name)s",
    "reference_name": lambda constraint, table: _reference_column(constraint),
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention and JSONB for dicts."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB, list[Any]: JSONB}


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class TenantOwned:
    """Mixin for tables a tenant owns: a non-null ``tenant_id`` that leads the primary key.

    The table's primary key is ``(tenant_id, id)`` (what a database distributed
    by ``tenant_id`` needs, see ``docs/scaling.md``); ``id`` alone stays the ORM
    identity (ids come from one sequence per table, so ``session.get(Model, id)``
    keeps working). References to other tenant tables are declared with
    :func:`_tenant_fk`, never with a plain ``ForeignKey``.
    """

    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"primary_key": [cls.__table__.c.id]}


def _tenant_fk(column: str, parent: str, ondelete: str, *, use_alter: bool = False) -> ForeignKeyConstraint:
    """A reference from this tenant table to ``parent``'s row of the same tenant.

    ``(tenant_id, column) -> parent (tenant_id, id)``, so the database refuses a
    row that points at another tenant's row. ``ondelete="SET NULL"`` clears
    only ``column`` (PostgreSQL 15's ``SET NULL (column)``): ``tenant_id`` is
    never nulled.

    Parameters
    ----------
    column : str
        The referencing column of this table (e.g. ``"created_by"``).
    parent : str
        The referenced tenant table (e.g. ``"users"``); its key is ``(tenant_id, id)``.
    ondelete : str
        ``"CASCADE"`` or ``"SET NULL"``.
    use_alter : bool
        Create the constraint after both tables (a cycle: ``models`` and ``model_versions``).
    """
    action = f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete
    return ForeignKeyConstraint(["tenant_id", column], [f"{parent}.tenant_id", f"{parent}.id"], ondelete=action,
                                use_alter=use_alter)


def _reference_column(constraint: Any) -> str:
    """The column a foreign key is named after: the one besides ``tenant_id`` (``tenant_id`` for a tenant's own)."""
    names = [c for c in constraint.column_keys if c != "tenant_id"]
    return names[0] if names else "tenant_id"


class Tenant(Base):
    """An organization. Its own row is visible only inside its tenant context."""

    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _now()


class User(TenantOwned, Base):
    """A person who logs in; ``username`` (the e-mail) is unique within a tenant.

    Each organization's accounts are its own, so adding a user never reveals
    whether the e-mail has an account elsewhere. ``auth_version`` is bumped on
    every change of role, activity or password; sessions and principals carry
    the version they were issued at, so a change ends them at the next action.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username"), Index("ix_users_username", "username"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    auth_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = _now()


class Dataset(TenantOwned, Base):
    """A named table of tenant data; its content lives in versions."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    insight_roles: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()


class DatasetVersion(TenantOwned, Base):
    """One saved upload or sync: original bytes, typed Parquet and schema."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "dataset_id", "version"),
                      _tenant_fk("dataset_id", "datasets", "CASCADE"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(BigInteger, index=True)
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    row_count: Mapped[int] = mapped_column(BigInteger)
    column_schema: Mapped[list[Any]]
    raw_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    parquet: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()


class Model(TenantOwned, Base):
    """A model an analyst configured; ``active_version_id`` is the one that serves."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),
                      _tenant_fk("dataset_id", "datasets", "SET NULL"),
                      _tenant_fk("active_version_id", "model_versions", "SET NULL", use_alter=True),
                      _tenant_fk("challenger_version_id", "model_versions", "SET NULL", use_alter=True),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    dataset_id: Mapped[int | None] = mapped_column(BigInteger)
    config: Mapped[dict[str, Any]]
    active_version_id: Mapped[int | None] = mapped_column(BigInteger)
    challenger_version_id: Mapped[int | None] = mapped_column(BigInteger)
    challenger_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()


class ModelVersion(TenantOwned, Base):
    """A trained version: algorithm, parameters, metrics and its artifact."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "model_id", "version"),
                      UniqueConstraint("tenant_id", "model_id", "id"),  # prediction_results' one reference (0026)
                      _tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("dataset_version_id", "dataset_versions", "SET NULL"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(BigInteger, index=True)
    version: Mapped[int] = mapped_column(Integer)
    dataset_version_id: Mapped[int | None] = mapped_column(BigInteger)
    algorithm: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    training_data_hash: Mapped[str] = mapped_column(String(64))
    library_versions: Mapped[dict[str, Any]]
    artifact_format: Mapped[str] = mapped_column(String(40))
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    feature_schema: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    training_seconds: Mapped[float] = mapped_column(Float)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()


class TrainingJob(TenantOwned, Base):
    """Long work off the request path: queued, running, succeeded, failed or cancelled."""

    __tablename__ = "training_jobs"
    __table_args__ = (_tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("model_version_id", "model_versions", "SET NULL"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    #: None for a job of no model (a monitor run or an insight generation queued through the API).
    model_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    error: Mapped[str | None] = mapped_column(Text)
    model_version_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    queued_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(200))


class ForecastPoint(TenantOwned, Base):
    """One forecast period of a model version, with its 80% and 95% intervals."""

    __tablename__ = "forecast_points"
    __table_args__ = (Index("ix_forecast_points_version_series", "model_version_id", "series_key"),
                      _tenant_fk("model_version_id", "model_versions", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: The series of a model with many (``forecast_series.series_key``); None for a model of one series.
    series_key: Mapped[str | None] = mapped_column(String(500))
    ds: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    yhat: Mapped[float] = mapped_column(Float)
    yhat_lower_80: Mapped[float] = mapped_column(Float)
    yhat_upper_80: Mapped[float] = mapped_column(Float)
    yhat_lower_95: Mapped[float] = mapped_column(Float)
    yhat_upper_95: Mapped[float] = mapped_column(Float)


class ForecastSeries(TenantOwned, Base):
    """One series of a forecast version with many: its chosen algorithm, size, growth and backtest."""

    __tablename__ = "forecast_series"
    __table_args__ = (UniqueConstraint("tenant_id", "model_version_id", "series_key"),
                      _tenant_fk("model_version_id", "model_versions", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger)
    series_key: Mapped[str] = mapped_column(String(500))
    dims: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    algorithm: Mapped[str | None] = mapped_column(String(40))
    n_obs: Mapped[int] = mapped_column(Integer)
    volume: Mapped[float] = mapped_column(Float)
    growth: Mapped[float | None] = mapped_column(Float)
    mase: Mapped[float | None] = mapped_column(Float)
    mase_naive: Mapped[float | None] = mapped_column(Float)
    mase_seasonal_naive: Mapped[float | None] = mapped_column(Float)
    backtest: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    error: Mapped[str | None] = mapped_column(Text)


class Deployment(TenantOwned, Base):
    """Audit row of a deploy or rollback: which version became active, by whom."""

    __tablename__ = "deployments"
    __table_args__ = (_tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("model_version_id", "model_versions", "CASCADE"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(BigInteger, index=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()


class PredictionBatch(TenantOwned, Base):
    """One batch-prediction upload: counts, failed rows and timing."""

    __tablename__ = "prediction_batches"
    __table_args__ = (_tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("created_by", "users", "SET NULL"),
                      _tenant_fk("job_id", "training_jobs", "SET NULL"),
                      UniqueConstraint("tenant_id", "id", "model_id"))  # its versions' reference (0029)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(BigInteger, index=True)
    filename: Mapped[str] = mapped_column(String(500))
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_predicted: Mapped[int] = mapped_column(Integer)
    rows_failed: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[Any]]
    seconds: Mapped[float] = mapped_column(Float)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    status: Mapped[str] = mapped_column(String(12), default="succeeded", server_default="succeeded")
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


class PredictionBatchVersion(Base):
    """A model version serving rows of a batch: its champion, and its challenger when that takes a share.

    Recorded with the batch (:func:`aihub.db.prediction_store.add_batch`). A batch row references its batch
    and its version with ONE key through this row, ``(tenant_id, batch_id, model_id, model_version_id)``,
    where a key to the batch and another to the version cost PostgreSQL two index probes per stored row
    (migration 0029). The version must be the batch's model's, of the same tenant.
    """

    __tablename__ = "prediction_batch_versions"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "batch_id", "model_id"],
                             ["prediction_batches.tenant_id", "prediction_batches.id", "prediction_batches.model_id"],
                             ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "model_id", "model_version_id"],
                             ["model_versions.tenant_id", "model_versions.model_id", "model_versions.id"],
                             ondelete="CASCADE"),
    )
    #: No key of its own to ``tenants``: implied by the batch's.
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class PredictionResult(TenantOwned, Base):
    """One served prediction: input, typed outputs, version, latency, who asked, and its outcome.

    ``input`` is the row as JSONB; ``output`` holds only what has no typed column (explanations, intervals,
    per-class probabilities), NULL for a plain batch row.
    """

    __tablename__ = "prediction_results"
    __table_args__ = (
        Index("ix_prediction_results_tenant_model_created", "tenant_id", "model_id", "created_at"),
        # The single-prediction cache's lookup; batch rows are never looked up there (migration 0027).
        Index("ix_prediction_results_version_input_hash", "model_version_id", "input_hash",
              postgresql_where=text("batch_id IS NULL")),
        Index("ix_prediction_results_tenant_created_model", "tenant_id", "created_at", "model_id"),
        Index("ix_prediction_results_tenant_feedback", "tenant_id", "actual_at",
              postgresql_include=["model_id", "model_version_id", "prediction", "actual"],
              postgresql_where=text("actual IS NOT NULL AND error IS NULL")),
        Index("ix_prediction_results_tenant_errors", "tenant_id", "created_at",
              postgresql_where=text("error IS NOT NULL")),
        # A single prediction's one key checks model and version together (the version must be the model's, of
        # the same tenant); it implies the model and the tenant exist, so neither costs a probe of its own (0026).
        # ``single_version_id`` is NULL on a batch row, so the key costs a batch row no probe (0029) ...
        ForeignKeyConstraint(["tenant_id", "model_id", "single_version_id"],
                             ["model_versions.tenant_id", "model_versions.model_id", "model_versions.id"],
                             ondelete="CASCADE"),
        # ... whose one key names its batch and version together (through the batch's versions: 0029).
        ForeignKeyConstraint(["tenant_id", "batch_id", "model_id", "model_version_id"],
                             ["prediction_batch_versions.tenant_id", "prediction_batch_versions.batch_id",
                              "prediction_batch_versions.model_id", "prediction_batch_versions.model_version_id"],
                             ondelete="CASCADE"),
        _tenant_fk("requested_by", "users", "SET NULL"),
        _tenant_fk("feedback_by", "users", "SET NULL"),
    )
    #: No key of its own to ``tenants``: implied by the model version's (see above).
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, sort_order=-1)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(BigInteger)
    model_version_id: Mapped[int] = mapped_column(BigInteger)
    served_by: Mapped[str] = mapped_column(String(12))
    batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    #: ``model_version_id`` on a single prediction, NULL on a batch row (the reference it takes: above).
    single_version_id: Mapped[int | None] = mapped_column(
        BigInteger, Computed("CASE WHEN batch_id IS NULL THEN model_version_id END", persisted=True))
    row_number: Mapped[int | None] = mapped_column(Integer)
    input: Mapped[dict[str, Any]]
    input_hash: Mapped[str] = mapped_column(String(64))
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    prediction: Mapped[str] = mapped_column(Text)
    probability: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    actual: Mapped[str | None] = mapped_column(Text)
    actual_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    feedback_by: Mapped[int | None] = mapped_column(BigInteger)


class Monitor(TenantOwned, Base):
    """An anomaly monitor (detector configuration) over a dataset, with its detector state."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),
                      _tenant_fk("dataset_id", "datasets", "SET NULL"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[int | None] = mapped_column(BigInteger)
    config: Mapped[dict[str, Any]]
    state: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    alerting: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    alert_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MonitorIncident(TenantOwned, Base):
    """An ongoing problem on one series of a monitor: its anomalies, worst severity and whether it alerted."""

    __tablename__ = "monitor_incidents"
    __table_args__ = (Index("ix_monitor_incidents_series", "monitor_id", "metric", "slice", "last_ts"),
                      _tenant_fk("monitor_id", "monitors", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(BigInteger)
    metric: Mapped[str] = mapped_column(String(200))
    slice: Mapped[str] = mapped_column(String(300), default="", server_default="")
    first_ts: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    last_ts: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    severity: Mapped[str] = mapped_column(String(10))
    anomaly_ids: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class AlertDelivery(TenantOwned, Base):
    """One alert message to one channel (e-mail or webhook): the incidents it carries, when due, and the outcome."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "status", "due_at"),
                      _tenant_fk("monitor_id", "monitors", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(BigInteger, index=True)
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(Text)
    incident_ids: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    delivery_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecordMonitor(TenantOwned, Base):
    """A record (per-row) risk monitor over a dataset: its settings and the fitted scorer."""

    __tablename__ = "record_monitors"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),
                      _tenant_fk("dataset_id", "datasets", "SET NULL"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    state: Mapped[str | None] = mapped_column(Text)
    dataset_version_id: Mapped[int | None] = mapped_column(BigInteger)
    rows_scored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notes: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecordScore(TenantOwned, Base):
    """A scored row of a record monitor (the flagged ones and every labelled one) and the analyst's decision."""

    __tablename__ = "record_scores"
    __table_args__ = (UniqueConstraint("tenant_id", "record_monitor_id", "row_key"),
                      Index("ix_record_scores_monitor_score", "record_monitor_id", "score"),
                      _tenant_fk("record_monitor_id", "record_monitors", "CASCADE"),
                      _tenant_fk("labelled_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    record_monitor_id: Mapped[int] = mapped_column(BigInteger)
    row_key: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    unsupervised: Mapped[float] = mapped_column(Float)
    supervised: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    row: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    label: Mapped[str | None] = mapped_column(String(20))
    labelled_by: Mapped[int | None] = mapped_column(BigInteger)
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class MonitorRun(TenantOwned, Base):
    """One detection run of a monitor: what it scored and found, or why it failed."""

    __tablename__ = "monitor_runs"
    __table_args__ = (_tenant_fk("monitor_id", "monitors", "CASCADE"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20), default="manual", server_default="manual")
    points_scored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    anomalies_found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    suppressed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


_CLOSE_SECONDS = "(EXTRACT(epoch FROM resolved_at - created_at))::double precision"
#: ``anomalies.close_seconds``: seconds from detection (``created_at``) to close (``resolved_at``).
CLOSE_SECONDS_SQL = _CLOSE_SECONDS
#: ``anomalies.close_bucket``: 0 below one second, else ``1 + floor(8 ln(seconds))`` (8 classes per doubling).
CLOSE_BUCKET_SQL = (f"CASE WHEN resolved_at IS NULL THEN NULL WHEN {_CLOSE_SECONDS} < 1 THEN 0 "
                    f"ELSE 1 + (floor(ln({_CLOSE_SECONDS}) * 8))::integer END")


#: The worklist's first sort key (``aihub.db.anomaly_store.SEVERITY_RANK``): 4 critical .. 1 low, else 0.
SEVERITY_RANK_SQL = ("CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 "
                     "WHEN 'low' THEN 1 ELSE 0 END")
#: :data:`SEVERITY_RANK_SQL` laid out as PostgreSQL prints it back (``pg_get_indexdef``), so that Alembic's
#: comparison of ``ix_anomalies_tenant_open_worklist`` (migration 0030) with the database finds them equal.
_RANK_AS_REFLECTED = ("\nCASE severity\n    WHEN 'critical' THEN 4\n    WHEN 'high' THEN 3\n    WHEN 'medium' THEN 2\n"
                      "    WHEN 'low' THEN 1\n    ELSE 0\nEND")


class Anomaly(TenantOwned, Base):
    """A detected anomaly with its expected range, severity, root cause, impact and triage state."""

    __tablename__ = "anomalies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "monitor_id", "metric", "slice", "ts"),
        Index("ix_anomalies_tenant_status_severity", "tenant_id", "status", "severity"),
        Index("ix_anomalies_tenant_ts", "tenant_id", "ts"),
        Index("ix_anomalies_tenant_created", "tenant_id", "created_at"),
        Index("ix_anomalies_tenant_metric", "tenant_id", "metric"),
        Index("ix_anomalies_tenant_closed", "tenant_id", "close_bucket", "close_seconds",
              postgresql_where=text("resolved_at IS NOT NULL")),
        Index("ix_anomalies_tenant_open_worklist", "tenant_id", literal_column(f"({_RANK_AS_REFLECTED})").desc(),
              func.abs(literal_column("impact")).desc().nulls_last(), literal_column("ts").desc(),
              literal_column("id").desc(), postgresql_where=text("status IN ('new', 'acknowledged', 'investigating')")),
        _tenant_fk("monitor_id", "monitors", "CASCADE"),
        _tenant_fk("run_id", "monitor_runs", "SET NULL"),
        _tenant_fk("assignee_id", "users", "SET NULL"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    metric: Mapped[str] = mapped_column(String(200))
    slice: Mapped[str] = mapped_column(String(300), default="", server_default="")
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    actual: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(10))
    impact: Mapped[float | None] = mapped_column(Float)
    impact_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    root_cause: Mapped[dict[str, Any]]
    snapshot: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(20), default="new", server_default="new")
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    is_false_positive: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    false_positive_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Seconds from detection to close and their logarithmic class (migration 0028); NULL while open.
    close_seconds: Mapped[float | None] = mapped_column(Float, Computed(CLOSE_SECONDS_SQL, persisted=True))
    close_bucket: Mapped[int | None] = mapped_column(Integer, Computed(CLOSE_BUCKET_SQL, persisted=True))


class AnomalyEvent(TenantOwned, Base):
    """Audit trail of a triage change: who, when, from which status to which, and the note."""

    __tablename__ = "anomaly_events"
    __table_args__ = (_tenant_fk("anomaly_id", "anomalies", "CASCADE"),
                      _tenant_fk("actor_id", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    anomaly_id: Mapped[int] = mapped_column(BigInteger, index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _now()


class FeedbackRule(TenantOwned, Base):
    """A change a monitor learned from false positives (raised threshold or suppressed pattern); undoable."""

    __tablename__ = "feedback_rules"
    __table_args__ = (_tenant_fk("monitor_id", "monitors", "CASCADE"),
                      _tenant_fk("undone_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(BigInteger, index=True)
    rule: Mapped[dict[str, Any]]
    description: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = _now()
    undone_by: Mapped[int | None] = mapped_column(BigInteger)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DataSource(TenantOwned, Base):
    """A configured connector (database, REST, object storage, file) that syncs into a dataset.

    ``config`` never holds credentials; they live Fernet-encrypted in
    ``secrets_encrypted`` with the key outside the database.
    """

    __tablename__ = "data_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),
                      _tenant_fk("dataset_id", "datasets", "SET NULL"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    source_type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    config: Mapped[dict[str, Any]]
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    dataset_id: Mapped[int | None] = mapped_column(BigInteger)
    sync_frequency: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class SourceSync(TenantOwned, Base):
    """One sync of a data source: timings, rows read and written, the version it made, or why it failed."""

    __tablename__ = "source_syncs"
    __table_args__ = (_tenant_fk("source_id", "data_sources", "CASCADE"),
                      _tenant_fk("dataset_version_id", "dataset_versions", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(BigInteger, index=True)
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    rows_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rows_written: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dataset_version_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[float | None] = mapped_column(Float)


class Workflow(TenantOwned, Base):
    """An automation: a trigger, optional conditions and ordered actions, stored as JSON."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),
                      _tenant_fk("created_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    definition: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    last_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkflowRun(TenantOwned, Base):
    """One run of a workflow: trigger, inputs, each step's outcome and timing, final status."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_workflow_runs_tenant_workflow_started", "tenant_id", "workflow_id", "started_at"),
        Index("uq_workflow_runs_workflow_dedupe", "tenant_id", "workflow_id", "dedupe_key", unique=True,
              postgresql_where=text("dedupe_key IS NOT NULL")),
        _tenant_fk("workflow_id", "workflows", "CASCADE"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    workflow_id: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))
    steps: Mapped[list[Any]]
    error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(300))
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Approval(TenantOwned, Base):
    """A workflow step waiting for a person: its context, and who approved or rejected it, when, why."""

    __tablename__ = "approvals"
    __table_args__ = (_tenant_fk("workflow_run_id", "workflow_runs", "CASCADE"),
                      _tenant_fk("decided_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    workflow_run_id: Mapped[int] = mapped_column(BigInteger, index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    action: Mapped[dict[str, Any]]
    context: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    requested_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class UserTask(TenantOwned, Base):
    """A to-do for a person, created by a workflow action."""

    __tablename__ = "user_tasks"
    __table_args__ = (_tenant_fk("assignee_id", "users", "SET NULL"),
                      _tenant_fk("workflow_run_id", "workflow_runs", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    workflow_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DriftReport(TenantOwned, Base):
    """Drift of a deployed model's recent inputs against its training data, feature by feature."""

    __tablename__ = "drift_reports"
    __table_args__ = (_tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("model_version_id", "model_versions", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(BigInteger, index=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger)
    report: Mapped[dict[str, Any]]
    dataset_drift: Mapped[bool] = mapped_column(Boolean)
    share_drifted: Mapped[float] = mapped_column(Float)
    current_rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()


class Insight(TenantOwned, Base):
    """A ranked finding in plain language with its figures, recommendation, evidence and validity."""

    __tablename__ = "insights"
    __table_args__ = (
        UniqueConstraint("tenant_id", "fingerprint"),
        Index("ix_insights_tenant_status_score", "tenant_id", "status", "score"),
        _tenant_fk("created_by", "users", "SET NULL"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    title: Mapped[str] = mapped_column(Text)
    narrative: Mapped[str] = mapped_column(Text)
    recommended_actions: Mapped[list[Any]]
    evidence: Mapped[list[Any]]
    figures: Mapped[dict[str, Any]]
    fingerprint: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="", server_default="")
    period: Mapped[str] = mapped_column(String(100), default="", server_default="")
    direction: Mapped[str] = mapped_column(String(12), default="neutral", server_default="neutral")
    magnitude: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(8))
    method: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(20), default="new", server_default="new")
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class InsightEvent(TenantOwned, Base):
    """A status change or usefulness vote on an insight: who, when, from which status to which, why."""

    __tablename__ = "insight_events"
    __table_args__ = (_tenant_fk("insight_id", "insights", "CASCADE"),
                      _tenant_fk("actor_id", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    insight_id: Mapped[int] = mapped_column(BigInteger, index=True)
    insight_type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    useful: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class UsageEvent(TenantOwned, Base):
    """One use of an AI feature by a user (upload, train, predict, detect, insights, workflows)."""

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_tenant_created", "tenant_id", "created_at"),
                      _tenant_fk("user_id", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    feature: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = _now()


class UserSession(TenantOwned, Base):
    """A server-side login session; the browser's cookie holds only its random token.

    ``token_hash`` is the SHA-256 of the token, so a copy of this table cannot
    be replayed. A session ends at ``expires_at`` or when revoked (logout,
    password, role or activity change), and only while ``auth_version``
    equals the user's.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"), _tenant_fk("user_id", "users", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    auth_version: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class AuditEvent(TenantOwned, Base):
    """A security-relevant event: who (``actor``), what (``event``), on what (``target``), from where, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),
                      _tenant_fk("actor_id", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200), default="", server_default="")
    event: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(300), default="", server_default="")
    details: Mapped[dict[str, Any]]
    client: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = _now()


class ApiKey(TenantOwned, Base):
    """A key of the HTTP API: a name, scopes, an optional expiry; only its secret's SHA-256 is stored.

    The token a client sends is ``aihub_<key_id>_<secret>``: ``key_id`` finds
    the row (through ``aihub_api_key_lookup``, before the tenant is known) and
    the secret's hash is compared in constant time. The key acts for
    ``user_id`` (who created it) within ``scopes``.
    """

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key_id"),
                      _tenant_fk("user_id", "users", "SET NULL"),
                      _tenant_fk("revoked_by", "users", "SET NULL"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(24), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[Any]]
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    request_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ApiIdempotency(TenantOwned, Base):
    """The reply to a POST sent with an ``Idempotency-Key``: replayed when the same request comes again."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("tenant_id", "api_key_id", "idempotency_key"),
                      _tenant_fk("api_key_id", "api_keys", "CASCADE"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    api_key_id: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _now()


class LoginThrottle(Base):
    """Failed log-ins per account and per client, for back-off and lock-out.

    Not tenant-owned: an attempt is counted before anyone knows whether the
    e-mail exists, and unknown e-mails are throttled exactly like known ones
    (so a lock never tells that an account exists). Keys are SHA-256 hashes of
    ``account:<e-mail>`` or ``client:<address>``, never the typed text.
    """

    __tablename__ = "login_throttle"
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_started_at: Mapped[datetime] = _now()
    last_attempt_at: Mapped[datetime] = _now()
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- dashboard rollups (migration 0021)
def _tenant_key() -> Mapped[int]:
    """``tenant_id`` leading a rollup table's primary key (the tenant's own index)."""
    return mapped_column(BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)


class RollupMark(Base):
    """A day whose rollup must be recomputed: written by triggers on ``prediction_results`` and ``anomalies``.

    ``kind`` is ``predictions``, ``outcomes`` or ``anomalies``; insert-only (one
    row per statement and day), taken by :func:`aihub.db.dashboard_store.refresh_rollups`.
    """

    __tablename__ = "rollup_marks"
    tenant_id: Mapped[int] = _tenant_key()
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    day: Mapped[date] = mapped_column(Date)


class PredictionDaily(Base):
    """Predictions and failed predictions per UTC day, model and version."""

    __tablename__ = "prediction_daily"
    __table_args__ = (_tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("model_version_id", "model_versions", "CASCADE"))
    tenant_id: Mapped[int] = _tenant_key()
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    predictions: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)


class OutcomeDaily(Base):
    """Recorded outcomes per UTC day of the outcome, model and version: count, correct, absolute errors."""

    __tablename__ = "outcome_daily"
    __table_args__ = (_tenant_fk("model_id", "models", "CASCADE"),
                      _tenant_fk("model_version_id", "model_versions", "CASCADE"))
    tenant_id: Mapped[int] = _tenant_key()
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outcomes: Mapped[int] = mapped_column(BigInteger)
    correct: Mapped[int] = mapped_column(BigInteger)
    abs_error_sum: Mapped[float] = mapped_column(Float)
    abs_error_n: Mapped[int] = mapped_column(BigInteger)


class AnomalyCount(Base):
    """Anomalies per monitor, severity and triage status, as folded by the worker (migration 0028).

    Exact only together with the not yet folded :class:`AnomalyCountDelta` rows (readers add both).
    """

    __tablename__ = "anomaly_counts"
    tenant_id: Mapped[int] = _tenant_key()
    monitor_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    severity: Mapped[str] = mapped_column(String(10), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class AnomalyCloseHist(Base):
    """Closed anomalies per close bucket (:data:`CLOSE_BUCKET_SQL`), as folded by the worker (migration 0028)."""

    __tablename__ = "anomaly_close_hist"
    tenant_id: Mapped[int] = _tenant_key()
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class AnomalyCountDelta(Base):
    """A signed change to :class:`AnomalyCount` and :class:`AnomalyCloseHist`, written by triggers on ``anomalies``.

    Insert-only; ``bucket`` is -1 for an anomaly not closed. Folded and deleted by
    :func:`aihub.db.dashboard_store.fold_anomaly_counts`.
    """

    __tablename__ = "anomaly_count_deltas"
    tenant_id: Mapped[int] = _tenant_key()
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    monitor_id: Mapped[int] = mapped_column(BigInteger)
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    bucket: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger)


class AnomalyDaily(Base):
    """Anomalies per day of the period they describe, metric, severity and triage status."""

    __tablename__ = "anomaly_daily"
    tenant_id: Mapped[int] = _tenant_key()
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(200), primary_key=True)
    severity: Mapped[str] = mapped_column(String(10), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    anomalies: Mapped[int] = mapped_column(BigInteger)


def _tenant_id_leads_primary_keys() -> None:
    """Declare each tenant table's primary key as ``(tenant_id, id)`` in that order.

    SQLAlchemy renders an implicit composite key with its autoincrement column
    first (``PRIMARY KEY (id, tenant_id)``); an explicit constraint keeps the
    order the migrations create, so DDL rendered from this metadata matches them.
    """
    for table in Base.metadata.tables.values():
        if "tenant_id" in table.c and list(table.primary_key.columns.keys()) == ["tenant_id", "id"]:
            table.append_constraint(PrimaryKeyConstraint(table.c.tenant_id, table.c.id))


_tenant_id_leads_primary_keys()


def tenant_owned_tables() -> list[str]:
    """Names of every table with a ``tenant_id`` column, from the metadata.

    RLS tests and the migration helper iterate this, so a new table is
    covered without editing them.
    """
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic ``include_name`` hook: procrastinate's ``procrastinate_*`` tables are not ours to diff."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))
