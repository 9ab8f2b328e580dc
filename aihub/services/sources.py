"""Data-source service: connect a system, test it, sync it on a schedule into dataset versions.

A source's configuration is stored without credentials; those are encrypted
with Fernet (:class:`aihub.connectors.SecretBox`) under a key kept outside
the database (``AIHUB_SECRET_KEY`` or ``AIHUB_DATA_DIR/secret.key``) and are
never shown back. Each sync reads the source through :mod:`aihub.connectors`
and saves the table as a new version of the source's dataset when the data
changed (same bytes: recorded as ``unchanged``). A failed sync records why
and leaves the previous version serving.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aihub import audit, connectors, events
from aihub.auth import Principal, acting_principal, require
from aihub.config import load_settings
from aihub.db import owner_scans, source_store
from aihub.db.session import tenant_session
from aihub.errors import AihubError, PermissionDenied
from aihub.services import datasets, usage

log = logging.getLogger(__name__)

#: How often each ``sync_frequency`` syncs ("realtime" is every minute, the worker's tick).
INTERVALS = {"realtime": timedelta(minutes=1), "hourly": timedelta(hours=1), "daily": timedelta(days=1),
             "weekly": timedelta(weeks=1)}


def _box() -> connectors.SecretBox:
    return connectors.SecretBox.from_env(load_settings().data_dir / "secret.key", create=True)


def _now() -> datetime:
    return datetime.now(UTC)


def parse(raw: dict[str, Any]) -> tuple[connectors.SourceConfig, dict[str, Any]]:
    """Validate a source from the form or JSON and split off its secrets.

    Raises
    ------
    ValidationError
        Naming the bad field and the allowed values.
    """
    return connectors.split_secrets(raw)


def create_source(principal: Principal, raw: dict[str, Any]) -> source_store.SourceRecord:
    """Create a source from the JSON shape ``{"source_name", "source_type", ...}``. Needs ``create``.

    Secrets in ``authentication_config`` are encrypted; the rest is stored as is.

    Raises
    ------
    ValidationError, Conflict
    """
    require(principal, "create")
    config, secrets = parse(raw)
    connectors.check_secrets(config, secrets)
    token = _box().encrypt(secrets) if secrets else None
    with tenant_session(principal.tenant_id) as s:
        src = source_store.create_source(
            s, tenant_id=principal.tenant_id, name=config.source_name, source_type=config.source_type,
            description=config.description, config=config.to_dict(), secrets_encrypted=token,
            sync_frequency=config.sync_frequency, next_sync_at=_now(), user_id=principal.user_id)
        audit.record(principal.tenant_id, "source_created", actor=principal, target=_target(src),
                     details={"type": src.source_type, "credentials": sorted(secrets)}, session=s)
        return src


def _target(src: source_store.SourceRecord) -> str:
    return f"source {src.id} '{src.name}'"


def _changed_keys(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted names of the configuration fields that differ (names only: values may be private)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [k for key in sorted(set(before) | set(after), key=str)
                for k in _changed_keys(before.get(key), after.get(key), f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if before != after else []


def update_source(principal: Principal, source_id: int, raw: dict[str, Any]) -> source_store.SourceRecord:
    """Replace a source's configuration; secrets left blank or masked keep their stored value unless the
    destination changed (:func:`aihub.connectors.carry_over_secrets`). Needs ``update``.

    The person who saves a source takes over its schedule: later syncs run as them.
    """
    require(principal, "update")
    config, new_secrets = parse(raw)
    with tenant_session(principal.tenant_id) as s:
        token = source_store.get_secrets_token(s, source_id)
        old = _box().decrypt(token, source=config.source_name) if token else {}
        before = source_store.get_source(s, source_id)
        stored = connectors.SourceConfig.from_dict(before.config)
        secrets = connectors.carry_over_secrets(stored, old, config, new_secrets)
        connectors.check_secrets(config, secrets)
        src = source_store.update_source(
            s, source_id, name=config.source_name, source_type=config.source_type, description=config.description,
            config=config.to_dict(), secrets_encrypted=_box().encrypt(secrets) if secrets else None,
            sync_frequency=config.sync_frequency, created_by=principal.user_id)
        audit.record(principal.tenant_id, "source_changed", actor=principal, target=_target(src), session=s, details={
            "fields": _changed_keys(before.config, src.config),
            "credentials": "kept" if secrets == old else "replaced" if secrets else "removed",
            "schedule_owner": {"from": before.created_by, "to": principal.user_id}})
        return src


def set_enabled(principal: Principal, source_id: int, enabled: bool) -> source_store.SourceRecord:
    """Pause or resume a source's schedule. Needs ``update``."""
    require(principal, "update")
    values: dict[str, Any] = {"enabled": enabled, "next_sync_at": _now() if enabled else None}
    if enabled:
        values["created_by"] = principal.user_id  # who resumes a schedule runs it from now on
    with tenant_session(principal.tenant_id) as s:
        src = source_store.update_source(s, source_id, **values)
        audit.record(principal.tenant_id, "source_changed", actor=principal, target=_target(src),
                     details={"enabled": enabled}, session=s)
        return src


def delete_source(principal: Principal, source_id: int) -> None:
    """Delete a source and its sync history; the datasets it made stay. Needs ``manage``."""
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        src = source_store.get_source(s, source_id)
        source_store.delete_source(s, source_id)
        audit.record(principal.tenant_id, "source_deleted", actor=principal, target=_target(src), session=s)


def list_sources(principal: Principal) -> list[source_store.SourceRecord]:
    """Sources of the caller's tenant (never with secrets). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return source_store.list_sources(s)


def get_source(principal: Principal, source_id: int) -> source_store.SourceRecord:
    """One source (never with secrets). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return source_store.get_source(s, source_id)


def list_syncs(principal: Principal, source_id: int, limit: int = 20) -> list[source_store.SyncRecord]:
    """Latest syncs of a source. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return source_store.list_syncs(s, source_id, limit)


def _stored(principal: Principal, source_id: int) -> tuple[connectors.SourceConfig, dict[str, Any]]:
    with tenant_session(principal.tenant_id) as s:
        src = source_store.get_source(s, source_id)
        token = source_store.get_secrets_token(s, source_id)
    config = connectors.SourceConfig.from_dict(src.config)
    return config, (_box().decrypt(token, source=src.name) if token else {})


def test_connection(principal: Principal, raw_or_id: dict[str, Any] | int, *, sample_rows: int = 10
                    ) -> connectors.ConnectionReport:
    """Try a source (stored, or not yet saved) and report success with sample rows or the exact failure.

    The failure kind is one of dns, refused, auth, timeout, schema_mismatch,
    not_allowed, http_error, query_error (and a few more: see
    :data:`aihub.errors.CONNECTOR_ERROR_KINDS`). Needs ``create``.
    """
    require(principal, "create")
    if isinstance(raw_or_id, int):
        config, secrets = _stored(principal, raw_or_id)
    else:
        config, secrets = parse(raw_or_id)
    return connectors.test_connection(config, secrets, sample_rows=sample_rows)


def sync(principal: Principal, source_id: int, *, trigger: str = "manual") -> source_store.SyncRecord:
    """Read a source now and save a new dataset version if the data changed. Needs ``create``.

    Returns
    -------
    SyncRecord
        ``succeeded`` (new version), ``unchanged`` (same bytes as a saved
        version) or ``failed`` (with the reason; nothing else changed).
    """
    require(principal, "create")
    usage.record(principal, "data", "sync")
    with tenant_session(principal.tenant_id) as s:
        src = source_store.get_source(s, source_id)
        run = source_store.start_sync(s, tenant_id=principal.tenant_id, source_id=source_id, trigger=trigger)
    rows_read = 0
    try:
        config, secrets = _stored(principal, source_id)
        table = connectors.read_source(config, secrets)
        rows_read = table.rows_read
        saved = datasets.save_upload(principal, src.name, table.filename, table.data,
                                     schema=table.to_upload().schema, description=src.description)
    except AihubError as exc:
        with tenant_session(principal.tenant_id) as s:
            done = source_store.finish_sync(s, run.id, status="failed", rows_read=rows_read, error=str(exc))
            source_store.update_source(s, source_id, last_sync_at=done.finished_at)
        return done
    status = "unchanged" if saved.duplicate else "succeeded"
    with tenant_session(principal.tenant_id) as s:
        done = source_store.finish_sync(
            s, run.id, status=status, rows_read=rows_read, rows_written=0 if saved.duplicate else saved.version.row_count,
            dataset_version_id=saved.version.id)
        source_store.update_source(s, source_id, last_sync_at=done.finished_at, dataset_id=saved.version.dataset_id)
    if status == "succeeded":
        events.publish(principal.tenant_id, events.SOURCE_SYNCED, {
            "source_id": source_id, "source_name": src.name, "sync_id": done.id,
            "dataset_version_id": saved.version.id, "rows": saved.version.row_count})
    return done


def sync_scheduled(tenant_id: int, source_id: int) -> source_store.SyncRecord:
    """Worker entry point: sync a due source as the user who last saved or resumed it.

    If that user was deactivated or may no longer sync (``create``), the sync
    does not run as anyone else: it is recorded as ``skipped`` with the reason,
    the schedule is paused, and the audit log says why. Saving or resuming the
    source hands the schedule to the person who does it.
    """
    with tenant_session(tenant_id) as s:
        src = source_store.get_source(s, source_id)
    try:
        return sync(acting_principal(tenant_id, src.created_by), source_id, trigger="schedule")
    except PermissionDenied as exc:
        return _skip_scheduled(tenant_id, src, str(exc))


def _skip_scheduled(tenant_id: int, src: source_store.SourceRecord, reason: str) -> source_store.SyncRecord:
    log.warning("scheduled sync of source %s in tenant %s skipped: %s", src.id, tenant_id, reason)
    with tenant_session(tenant_id) as s:
        run = source_store.start_sync(s, tenant_id=tenant_id, source_id=src.id, trigger="schedule")
        done = source_store.finish_sync(s, run.id, status="skipped", error=f"Schedule paused: {reason}")
        source_store.update_source(s, src.id, enabled=False, next_sync_at=None)
        audit.record(tenant_id, "scheduled_work_skipped", actor_id=None, actor_name="scheduler", target=_target(src),
                     details={"work": "sync", "reason": reason, "owner_id": src.created_by, "paused": True}, session=s)
    return done


def claim_due_sources(now: datetime | None = None) -> list[tuple[int, int]]:
    """Due sources across tenants, each claimed by moving its next sync forward (owner connection).

    A source claimed by one scheduler is not returned to another, so two
    workers never sync the same source for the same slot.
    """
    now = now or _now()
    return owner_scans.claim_due_sources(now, lambda freq: now + INTERVALS.get(freq, INTERVALS["daily"]))
