"""Every tenant table's keys lead with ``tenant_id``, and references between tenant rows carry it.

What a database distributed by ``tenant_id`` (Citus) needs, done while the
tables are small (see ``docs/scaling.md``):

* Primary keys become ``(tenant_id, id)``. The ``id`` values and their
  sequences stay as they are (ids are still unique on their own; the ORM keeps
  ``id`` as the identity), only the constraint changes.
* Unique keys lead with ``tenant_id``: ``dataset_versions (dataset_id, version)``,
  ``model_versions``, ``forecast_series``, ``anomalies``, ``record_scores``, the
  workflow-run dedupe index, ``user_sessions.token_hash`` and
  ``api_keys.key_id``. The last two were unique across tenants; their values are
  random (256-bit token hash, 71-bit key id), and ``api_keys.key_id`` keeps a
  plain index for the cross-tenant key lookup (``aihub_api_key_lookup``).
* Every foreign key from one tenant table to another becomes
  ``(tenant_id, x_id) -> parent (tenant_id, id)``: a row can no longer point at
  another tenant's row, whatever the application does (a third wall next to the
  tenant-bound session and row-level security). ``ON DELETE SET NULL`` keeps its
  meaning through PostgreSQL 15's column list (``SET NULL (x_id)``: only the
  reference is cleared, never ``tenant_id``), so PostgreSQL 15 or later is
  required.
* The single-column ``ix_<table>_tenant_id`` indexes go: the primary key's index
  now leads with ``tenant_id`` and serves the same lookups, one index less to
  write per inserted row.

Creating the composite foreign keys checks every existing row; a row that
points at another tenant's row (which row-level security should have made
impossible) stops the upgrade with the constraint's name.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""
from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

#: Tenant-owned tables at this revision whose primary key was ``(id)`` (the rollup tables of 0021 lead with
#: ``tenant_id`` already).
TABLES = (
    "alert_deliveries", "anomalies", "anomaly_events", "api_idempotency", "api_keys", "approvals", "audit_log",
    "data_sources", "dataset_versions", "datasets", "deployments", "drift_reports", "feedback_rules",
    "forecast_points", "forecast_series", "insight_events", "insights", "model_versions", "models",
    "monitor_incidents", "monitor_runs", "monitors", "prediction_batches", "prediction_results", "record_monitors",
    "record_scores", "source_syncs", "training_jobs", "usage_events", "user_sessions", "user_tasks", "users",
    "workflow_runs", "workflows",
)

#: (table, column, parent table, ON DELETE) of every reference between tenant tables.
FOREIGN_KEYS = (
    ("alert_deliveries", "monitor_id", "monitors", "CASCADE"),
    ("anomalies", "assignee_id", "users", "SET NULL"),
    ("anomalies", "monitor_id", "monitors", "CASCADE"),
    ("anomalies", "run_id", "monitor_runs", "SET NULL"),
    ("anomaly_events", "actor_id", "users", "SET NULL"),
    ("anomaly_events", "anomaly_id", "anomalies", "CASCADE"),
    ("api_idempotency", "api_key_id", "api_keys", "CASCADE"),
    ("api_keys", "revoked_by", "users", "SET NULL"),
    ("api_keys", "user_id", "users", "SET NULL"),
    ("approvals", "decided_by", "users", "SET NULL"),
    ("approvals", "workflow_run_id", "workflow_runs", "CASCADE"),
    ("audit_log", "actor_id", "users", "SET NULL"),
    ("data_sources", "created_by", "users", "SET NULL"),
    ("data_sources", "dataset_id", "datasets", "SET NULL"),
    ("dataset_versions", "created_by", "users", "SET NULL"),
    ("dataset_versions", "dataset_id", "datasets", "CASCADE"),
    ("datasets", "created_by", "users", "SET NULL"),
    ("deployments", "created_by", "users", "SET NULL"),
    ("deployments", "model_id", "models", "CASCADE"),
    ("deployments", "model_version_id", "model_versions", "CASCADE"),
    ("drift_reports", "model_id", "models", "CASCADE"),
    ("drift_reports", "model_version_id", "model_versions", "CASCADE"),
    ("feedback_rules", "monitor_id", "monitors", "CASCADE"),
    ("feedback_rules", "undone_by", "users", "SET NULL"),
    ("forecast_points", "model_version_id", "model_versions", "CASCADE"),
    ("forecast_series", "model_version_id", "model_versions", "CASCADE"),
    ("insight_events", "actor_id", "users", "SET NULL"),
    ("insight_events", "insight_id", "insights", "CASCADE"),
    ("insights", "created_by", "users", "SET NULL"),
    ("model_versions", "created_by", "users", "SET NULL"),
    ("model_versions", "dataset_version_id", "dataset_versions", "SET NULL"),
    ("model_versions", "model_id", "models", "CASCADE"),
    ("models", "active_version_id", "model_versions", "SET NULL"),
    ("models", "challenger_version_id", "model_versions", "SET NULL"),
    ("models", "created_by", "users", "SET NULL"),
    ("models", "dataset_id", "datasets", "SET NULL"),
    ("outcome_daily", "model_id", "models", "CASCADE"),
    ("outcome_daily", "model_version_id", "model_versions", "CASCADE"),
    ("monitor_incidents", "monitor_id", "monitors", "CASCADE"),
    ("monitor_runs", "monitor_id", "monitors", "CASCADE"),
    ("monitors", "created_by", "users", "SET NULL"),
    ("monitors", "dataset_id", "datasets", "SET NULL"),
    ("prediction_batches", "created_by", "users", "SET NULL"),
    ("prediction_daily", "model_id", "models", "CASCADE"),
    ("prediction_daily", "model_version_id", "model_versions", "CASCADE"),
    ("prediction_batches", "model_id", "models", "CASCADE"),
    ("prediction_results", "batch_id", "prediction_batches", "CASCADE"),
    ("prediction_results", "feedback_by", "users", "SET NULL"),
    ("prediction_results", "model_id", "models", "CASCADE"),
    ("prediction_results", "model_version_id", "model_versions", "CASCADE"),
    ("prediction_results", "requested_by", "users", "SET NULL"),
    ("record_monitors", "created_by", "users", "SET NULL"),
    ("record_monitors", "dataset_id", "datasets", "SET NULL"),
    ("record_scores", "labelled_by", "users", "SET NULL"),
    ("record_scores", "record_monitor_id", "record_monitors", "CASCADE"),
    ("source_syncs", "dataset_version_id", "dataset_versions", "SET NULL"),
    ("source_syncs", "source_id", "data_sources", "CASCADE"),
    ("training_jobs", "created_by", "users", "SET NULL"),
    ("training_jobs", "model_id", "models", "CASCADE"),
    ("training_jobs", "model_version_id", "model_versions", "SET NULL"),
    ("usage_events", "user_id", "users", "SET NULL"),
    ("user_sessions", "user_id", "users", "CASCADE"),
    ("user_tasks", "assignee_id", "users", "SET NULL"),
    ("user_tasks", "workflow_run_id", "workflow_runs", "SET NULL"),
    ("workflow_runs", "workflow_id", "workflows", "CASCADE"),
    ("workflows", "created_by", "users", "SET NULL"),
)

#: (table, columns before, columns after) of unique constraints that did not lead with tenant_id.
UNIQUE_KEYS = (
    ("anomalies", ("monitor_id", "metric", "slice", "ts"), ("tenant_id", "monitor_id", "metric", "slice", "ts")),
    ("api_keys", ("key_id",), ("tenant_id", "key_id")),
    ("dataset_versions", ("dataset_id", "version"), ("tenant_id", "dataset_id", "version")),
    ("forecast_series", ("model_version_id", "series_key"), ("tenant_id", "model_version_id", "series_key")),
    ("model_versions", ("model_id", "version"), ("tenant_id", "model_id", "version")),
    ("record_scores", ("record_monitor_id", "row_key"), ("tenant_id", "record_monitor_id", "row_key")),
    ("user_sessions", ("token_hash",), ("tenant_id", "token_hash")),
)


def _fk_name(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_{column}_{parent}"


def _uq_name(table: str, columns: tuple[str, ...]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def _set_foreign_keys(composite: bool) -> None:
    for table, column, parent, ondelete in FOREIGN_KEYS:
        if composite:
            action = f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete
            op.create_foreign_key(_fk_name(table, column, parent), table, parent, ["tenant_id", column],
                                  ["tenant_id", "id"], ondelete=action)
        else:
            op.create_foreign_key(_fk_name(table, column, parent), table, parent, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    for table, column, parent, _ in FOREIGN_KEYS:
        op.drop_constraint(_fk_name(table, column, parent), table, type_="foreignkey")
    for table in TABLES:
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["tenant_id", "id"])
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
    for table, before, after in UNIQUE_KEYS:
        op.drop_constraint(_uq_name(table, before), table, type_="unique")
        op.create_unique_constraint(_uq_name(table, after), table, list(after))
    op.create_index("ix_api_keys_key_id", "api_keys", ["key_id"])
    op.drop_index("uq_workflow_runs_workflow_dedupe", table_name="workflow_runs")
    op.create_index("uq_workflow_runs_workflow_dedupe", "workflow_runs", ["tenant_id", "workflow_id", "dedupe_key"],
                    unique=True, postgresql_where="dedupe_key IS NOT NULL")
    _set_foreign_keys(composite=True)


def downgrade() -> None:
    for table, column, parent, _ in FOREIGN_KEYS:
        op.drop_constraint(_fk_name(table, column, parent), table, type_="foreignkey")
    op.drop_index("uq_workflow_runs_workflow_dedupe", table_name="workflow_runs")
    op.create_index("uq_workflow_runs_workflow_dedupe", "workflow_runs", ["workflow_id", "dedupe_key"],
                    unique=True, postgresql_where="dedupe_key IS NOT NULL")
    op.drop_index("ix_api_keys_key_id", table_name="api_keys")
    for table, before, after in UNIQUE_KEYS:
        op.drop_constraint(_uq_name(table, after), table, type_="unique")
        op.create_unique_constraint(_uq_name(table, before), table, list(before))
    for table in TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["id"])
    _set_foreign_keys(composite=False)
