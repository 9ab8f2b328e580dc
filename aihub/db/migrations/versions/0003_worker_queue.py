"""Worker queue: procrastinate's schema, and attempts/worker on training jobs.

The queue tables belong to procrastinate (a PostgreSQL task queue on
psycopg 3); their DDL is the one shipped with the pinned procrastinate
version (``SchemaManager.get_schema()``). They hold no tenant data: a queued
task carries only a tenant id and a job id, and the job runs inside that
tenant's RLS-bound session.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    # Straight to the driver: the DDL holds PL/pgSQL '%' placeholders that SQL text escaping would double.
    with op.get_bind().connection.dbapi_connection.cursor() as cur:
        cur.execute(SchemaManager.get_schema())
    op.add_column("training_jobs", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("training_jobs", sa.Column("worker", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("training_jobs", "worker")
    op.drop_column("training_jobs", "attempts")
    op.execute("DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
               "procrastinate_workers CASCADE")
    op.execute("DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type CASCADE")
