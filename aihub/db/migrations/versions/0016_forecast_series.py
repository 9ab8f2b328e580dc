"""Forecasts of many series in one model version ("one per value of a column").

* ``forecast_points.series_key``: which series a forecast row belongs to; NULL for a
  model of one series (every row stored before this revision).
* ``forecast_series``: tenant-owned, FORCEd row-level security. One row per series of
  a version: its key and column values, the chosen algorithm, history length, volume
  and growth, backtest MASE next to the naive and seasonal naive benchmarks, each
  candidate's backtest scores, and the reason when the series could not be forecast.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = "0016"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("forecast_points", sa.Column("series_key", sa.String(length=500), nullable=True))
    op.create_index("ix_forecast_points_version_series", "forecast_points", ["model_version_id", "series_key"])
    op.create_table(
        "forecast_series",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("series_key", sa.String(length=500), nullable=False),
        sa.Column("dims", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=True),
        sa.Column("n_obs", sa.Integer(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("growth", sa.Float(), nullable=True),
        sa.Column("mase", sa.Float(), nullable=True),
        sa.Column("mase_naive", sa.Float(), nullable=True),
        sa.Column("mase_seasonal_naive", sa.Float(), nullable=True),
        sa.Column("backtest", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_forecast_series_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"],
                                name=op.f("fk_forecast_series_model_version_id_model_versions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_series")),
        sa.UniqueConstraint("model_version_id", "series_key", name=op.f("uq_forecast_series_model_version_id_series_key")),
    )
    op.create_index(op.f("ix_forecast_series_tenant_id"), "forecast_series", ["tenant_id"], unique=False)
    for stmt in enable_tenant_rls("forecast_series"):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in disable_tenant_rls("forecast_series"):
        op.execute(stmt)
    op.drop_index(op.f("ix_forecast_series_tenant_id"), table_name="forecast_series")
    op.drop_table("forecast_series")
    op.drop_index("ix_forecast_points_version_series", table_name="forecast_points")
    op.drop_column("forecast_points", "series_key")
