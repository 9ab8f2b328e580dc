"""Queries of data sources and their syncs (tenant-bound sessions; records out, never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.models import DataSource, SourceSync
from aihub.errors import Conflict, NotFound


@dataclass(frozen=True)
class SourceRecord:
    """A data source as the page shows it: configuration without secrets, schedule, last sync."""

    id: int
    name: str
    source_type: str
    description: str
    config: dict[str, Any]
    has_secrets: bool
    dataset_id: int | None
    sync_frequency: str
    enabled: bool
    created_by: int | None
    created_at: datetime
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    last_status: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class SyncRecord:
    """One sync: status (running, succeeded, unchanged, failed, skipped), timings, rows, version made, error."""

    id: int
    source_id: int
    trigger: str
    status: str
    rows_read: int
    rows_written: int
    dataset_version_id: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None


def _source(s: Session, src: DataSource) -> SourceRecord:
    last = s.execute(
        sa.select(SourceSync.status, SourceSync.error).where(SourceSync.source_id == src.id)
        .order_by(SourceSync.started_at.desc(), SourceSync.id.desc()).limit(1)
    ).first()
    return SourceRecord(
        src.id, src.name, src.source_type, src.description, src.config, bool(src.secrets_encrypted), src.dataset_id,
        src.sync_frequency, src.enabled, src.created_by, src.created_at, src.last_sync_at, src.next_sync_at,
        last[0] if last else None, last[1] if last else None,
    )


def _sync(r: SourceSync) -> SyncRecord:
    return SyncRecord(r.id, r.source_id, r.trigger, r.status, r.rows_read, r.rows_written, r.dataset_version_id,
                      r.error, r.started_at, r.finished_at, r.duration_seconds)


def create_source(s: Session, *, tenant_id: int, name: str, source_type: str, description: str,
                  config: dict[str, Any], secrets_encrypted: str | None, sync_frequency: str,
                  next_sync_at: datetime | None, user_id: int | None) -> SourceRecord:
    """Insert a source. Raises Conflict when the tenant has one of that name."""
    if s.scalar(sa.select(DataSource.id).where(DataSource.name == name)):
        raise Conflict(f"A data source named '{name}' already exists; choose another name.", field="source_name")
    src = DataSource(tenant_id=tenant_id, name=name, source_type=source_type, description=description, config=config,
                     secrets_encrypted=secrets_encrypted, sync_frequency=sync_frequency, next_sync_at=next_sync_at,
                     created_by=user_id)
    s.add(src)
    s.flush()
    return _source(s, src)


def update_source(s: Session, source_id: int, **values: Any) -> SourceRecord:
    """Set columns of a source (config, secrets_encrypted, enabled, sync_frequency, next_sync_at, ...)."""
    src = s.get(DataSource, source_id)
    if src is None:
        raise NotFound(f"No data source {source_id} in your organization.")
    for key, value in values.items():
        setattr(src, key, value)
    s.flush()
    return _source(s, src)


def get_source(s: Session, source_id: int) -> SourceRecord:
    """One source. Raises NotFound outside the tenant."""
    src = s.get(DataSource, source_id)
    if src is None:
        raise NotFound(f"No data source {source_id} in your organization.")
    return _source(s, src)


def get_secrets_token(s: Session, source_id: int) -> str | None:
    """The encrypted secrets token of a source (never shown to users)."""
    return s.scalar(sa.select(DataSource.secrets_encrypted).where(DataSource.id == source_id))


def list_sources(s: Session) -> list[SourceRecord]:
    """Sources of the tenant, by name."""
    return [_source(s, src) for src in s.scalars(sa.select(DataSource).order_by(DataSource.name)).all()]


def delete_source(s: Session, source_id: int) -> None:
    """Delete a source and its sync history (its dataset versions stay)."""
    src = s.get(DataSource, source_id)
    if src is None:
        raise NotFound(f"No data source {source_id} in your organization.")
    s.delete(src)


def start_sync(s: Session, *, tenant_id: int, source_id: int, trigger: str) -> SyncRecord:
    """Insert a running sync row."""
    row = SourceSync(tenant_id=tenant_id, source_id=source_id, trigger=trigger, status="running")
    s.add(row)
    s.flush()
    s.refresh(row)
    return _sync(row)


def finish_sync(s: Session, sync_id: int, *, status: str, rows_read: int = 0, rows_written: int = 0,
                dataset_version_id: int | None = None, error: str | None = None) -> SyncRecord:
    """Close a sync row with its outcome; duration is computed by the database clock."""
    row = s.get(SourceSync, sync_id)
    row.status, row.rows_read, row.rows_written = status, rows_read, rows_written
    row.dataset_version_id, row.error, row.finished_at = dataset_version_id, error, sa.func.now()
    s.flush()
    s.refresh(row)
    row.duration_seconds = (row.finished_at - row.started_at).total_seconds()
    s.flush()
    return _sync(row)


def list_syncs(s: Session, source_id: int, limit: int = 20) -> list[SyncRecord]:
    """Latest syncs of a source, newest first."""
    rows = s.scalars(sa.select(SourceSync).where(SourceSync.source_id == source_id)
                     .order_by(SourceSync.started_at.desc(), SourceSync.id.desc()).limit(limit)).all()
    return [_sync(r) for r in rows]


def due_sources(s: Session, now: datetime) -> list[tuple[int, int, str]]:
    """``(tenant_id, source_id, sync_frequency)`` of enabled sources due to sync (owner session: spans tenants)."""
    rows = s.execute(sa.select(DataSource.tenant_id, DataSource.id, DataSource.sync_frequency)
                     .where(DataSource.enabled, DataSource.next_sync_at <= now).order_by(DataSource.next_sync_at))
    return [(t, i, f) for t, i, f in rows.all()]


def claim_due(s: Session, source_id: int, now: datetime, next_at: datetime) -> bool:
    """Move a due source's ``next_sync_at`` forward atomically; False if another scheduler took it."""
    n = s.execute(sa.update(DataSource).where(DataSource.id == source_id, DataSource.next_sync_at <= now)
                  .values(next_sync_at=next_at)).rowcount
    return bool(n)
