"""Jobs that belong to no model: a monitor run or an insight generation asked for through the API.

``training_jobs.model_id`` becomes nullable. Long work that the HTTP API
answers with ``202 Accepted`` (``POST /monitors/{id}/run``,
``POST /insights/generate``) is queued as a job of its own kind
(``monitor_run``, ``insights``) with no model, so it runs on the worker through
the same queue, lease, cancel and status resource (``/api/v1/jobs/{id}``) as
training. Row-level security is unchanged (the table is tenant-owned already).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("training_jobs", "model_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM training_jobs WHERE model_id IS NULL")
    op.alter_column("training_jobs", "model_id", existing_type=sa.BigInteger(), nullable=False)
