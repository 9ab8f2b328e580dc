"""One run per workflow and event: a unique (workflow_id, dedupe_key) index on workflow_runs.

The engine already skips an event it has seen; the index makes that hold
even if two processes handle the same event at the same moment.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_workflow_runs_workflow_dedupe", "workflow_runs", ["workflow_id", "dedupe_key"], unique=True,
                    postgresql_where=sa.text("dedupe_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_workflow_runs_workflow_dedupe", table_name="workflow_runs")
