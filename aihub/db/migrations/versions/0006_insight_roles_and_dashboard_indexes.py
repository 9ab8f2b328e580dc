"""Per-dataset insight roles, and indexes the dashboard's aggregates need on large tenants.

* ``datasets.insight_roles``: the analyst's choice of date, amount, customer and
  dimension columns for insights (NULL: detected from the saved schema).
* ``prediction_results (tenant_id, created_at, model_id)``: daily prediction
  volume per model over a date range as an index-only scan.
* ``prediction_results (tenant_id, actual_at) WHERE actual IS NOT NULL``:
  live accuracy from feedback reads only the rows that have an outcome.
* ``anomalies (tenant_id, created_at)``: anomalies detected per period.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('datasets', sa.Column('insight_roles', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_index('ix_prediction_results_tenant_created_model', 'prediction_results',
                    ['tenant_id', 'created_at', 'model_id'], unique=False)
    op.create_index('ix_prediction_results_tenant_feedback', 'prediction_results', ['tenant_id', 'actual_at'],
                    unique=False, postgresql_where=sa.text('actual IS NOT NULL'))
    op.create_index('ix_anomalies_tenant_created', 'anomalies', ['tenant_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_anomalies_tenant_created', table_name='anomalies')
    op.drop_index('ix_prediction_results_tenant_feedback', table_name='prediction_results')
    op.drop_index('ix_prediction_results_tenant_created_model', table_name='prediction_results')
    op.drop_column('datasets', 'insight_roles')
