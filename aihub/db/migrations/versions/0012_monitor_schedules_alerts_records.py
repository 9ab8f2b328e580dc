"""Monitors that run by themselves and alert, and record (per-row) risk monitors (issue 13).

* ``monitors``: ``schedule`` (JSON of :class:`aihub.anomaly.schedule.MonitorSchedule`), ``next_run_at``
  (the worker's claim), ``alerting`` (JSON of :class:`aihub.anomaly.schedule.AlertSettings`),
  ``alert_secret_encrypted`` (the webhook's signing secret, Fernet), ``updated_at`` and ``deleted_at``
  (a deleted monitor that keeps its anomalies' history).
* ``monitor_runs.trigger``: manual, schedule, sync or workflow.
* ``monitor_incidents``: anomalies of one series grouped into one ongoing problem (one alert each).
* ``alert_deliveries``: each alert message per channel, pending until due (digest, quiet hours), then sent or failed.
* ``record_monitors`` and ``record_scores``: the fitted record scorer of a dataset and its flagged and labelled rows.

All new tables are tenant-owned with FORCEd row-level security.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NEW_TENANT_TABLES = ["monitor_incidents", "alert_deliveries", "record_monitors", "record_scores"]
JSON = postgresql.JSONB(astext_type=sa.Text())


def _tenant(table: str) -> list:
    return [
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.add_column("monitors", sa.Column("schedule", JSON, server_default="{}", nullable=False))
    op.add_column("monitors", sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("monitors", sa.Column("alerting", JSON, server_default="{}", nullable=False))
    op.add_column("monitors", sa.Column("alert_secret_encrypted", sa.Text(), nullable=True))
    op.add_column("monitors", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("monitors", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_monitors_next_run_at", "monitors", ["next_run_at"], unique=False)
    op.add_column("monitor_runs", sa.Column("trigger", sa.String(length=20), server_default="manual", nullable=False))

    op.create_table(
        "monitor_incidents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("slice", sa.String(length=300), server_default="", nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=False), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=False), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("anomaly_ids", JSON, server_default="[]", nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.id"], name=op.f("fk_monitor_incidents_monitor_id_monitors"),
                                ondelete="CASCADE"),
        *_tenant("monitor_incidents"),
    )
    op.create_index(op.f("ix_monitor_incidents_tenant_id"), "monitor_incidents", ["tenant_id"], unique=False)
    op.create_index("ix_monitor_incidents_series", "monitor_incidents", ["monitor_id", "metric", "slice", "last_ts"],
                    unique=False)

    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("incident_ids", JSON, server_default="[]", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delivery_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.id"], name=op.f("fk_alert_deliveries_monitor_id_monitors"),
                                ondelete="CASCADE"),
        *_tenant("alert_deliveries"),
    )
    op.create_index(op.f("ix_alert_deliveries_tenant_id"), "alert_deliveries", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_alert_deliveries_monitor_id"), "alert_deliveries", ["monitor_id"], unique=False)
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "due_at"], unique=False)

    op.create_table(
        "record_monitors",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=True),
        sa.Column("params", JSON, server_default="{}", nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("dataset_version_id", sa.BigInteger(), nullable=True),
        sa.Column("rows_scored", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notes", JSON, server_default="[]", nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_record_monitors_dataset_id_datasets"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_record_monitors_created_by_users"),
                                ondelete="SET NULL"),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_record_monitors_tenant_id_name")),
        *_tenant("record_monitors"),
    )
    op.create_index(op.f("ix_record_monitors_tenant_id"), "record_monitors", ["tenant_id"], unique=False)

    op.create_table(
        "record_scores",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("record_monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("row_key", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("unsupervised", sa.Float(), nullable=False),
        sa.Column("supervised", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=10), nullable=False),
        sa.Column("reasons", JSON, server_default="[]", nullable=False),
        sa.Column("row", JSON, server_default="{}", nullable=False),
        sa.Column("label", sa.String(length=20), nullable=True),
        sa.Column("labelled_by", sa.BigInteger(), nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["record_monitor_id"], ["record_monitors.id"],
                                name=op.f("fk_record_scores_record_monitor_id_record_monitors"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["labelled_by"], ["users.id"], name=op.f("fk_record_scores_labelled_by_users"),
                                ondelete="SET NULL"),
        sa.UniqueConstraint("record_monitor_id", "row_key", name=op.f("uq_record_scores_record_monitor_id_row_key")),
        *_tenant("record_scores"),
    )
    op.create_index(op.f("ix_record_scores_tenant_id"), "record_scores", ["tenant_id"], unique=False)
    op.create_index("ix_record_scores_monitor_score", "record_scores", ["record_monitor_id", "score"], unique=False)

    for table in NEW_TENANT_TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)


def downgrade() -> None:
    for table in NEW_TENANT_TABLES:
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
    for table in reversed(NEW_TENANT_TABLES):
        op.drop_table(table)
    op.drop_column("monitor_runs", "trigger")
    op.drop_index("ix_monitors_next_run_at", table_name="monitors")
    for col in ("deleted_at", "updated_at", "alert_secret_encrypted", "alerting", "next_run_at", "schedule"):
        op.drop_column("monitors", col)
