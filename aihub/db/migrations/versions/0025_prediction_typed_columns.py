"""Batch predictions bulk-loaded through COPY: typed result columns, JSONB for the input row (issue 16).

* ``prediction_results.warning``: the row's non-fatal notes (unseen category...), typed; it lived in ``output``.
* ``prediction_results.output`` becomes nullable and holds only what has no typed column (explanations, interval
  bounds, lead score, per-class probabilities, segment number, and a regression's numeric prediction). Prediction, probability, confidence, warning,
  version and time are typed columns; the positive class is the version's (``model_versions.params``). A batch
  row of a binary classifier stores ``output`` NULL. Single predictions keep their full output (the cache
  answers from it).
* ``prediction_batches.status`` (running, succeeded, failed), ``error`` (why it failed) and ``job_id`` (the job
  that made it, so a retried job finds its own batch; ``(tenant_id, job_id)`` references the job of the same
  tenant, as every reference between tenant rows since 0022).

Backfill: ``warning`` from ``output ->> 'warning'``; batch rows lose the output keys now typed (and
``positive_class``; a numeric ``prediction`` stays, so a number reads back as a number), NULL when nothing is left. Existing batches are ``succeeded``.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("prediction_results", sa.Column("warning", sa.Text(), nullable=True))
    op.alter_column("prediction_results", "output", existing_type=postgresql.JSONB(astext_type=sa.Text()),
                    nullable=True)
    op.execute("UPDATE prediction_results SET warning = NULLIF(output ->> 'warning', '') WHERE output ? 'warning'")
    op.execute("""
        UPDATE prediction_results
        SET output = NULLIF(CASE WHEN jsonb_typeof(output -> 'prediction') = 'number' THEN output
                                 ELSE output - 'prediction' END
                            - 'probability' - 'confidence' - 'warning' - 'positive_class', '{}'::jsonb)
        WHERE batch_id IS NOT NULL
    """)
    op.add_column("prediction_batches", sa.Column("status", sa.String(length=12), server_default="succeeded",
                                                  nullable=False))
    op.add_column("prediction_batches", sa.Column("error", sa.Text(), nullable=True))
    op.add_column("prediction_batches", sa.Column("job_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key("fk_prediction_batches_job_id_training_jobs", "prediction_batches", "training_jobs",
                          ["tenant_id", "job_id"], ["tenant_id", "id"], ondelete="SET NULL (job_id)")
    op.create_index(op.f("ix_prediction_batches_job_id"), "prediction_batches", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_prediction_batches_job_id"), table_name="prediction_batches")
    op.drop_constraint("fk_prediction_batches_job_id_training_jobs", "prediction_batches", type_="foreignkey")
    op.drop_column("prediction_batches", "job_id")
    op.drop_column("prediction_batches", "error")
    op.drop_column("prediction_batches", "status")
    op.execute("""
        UPDATE prediction_results p
        SET output = jsonb_strip_nulls(jsonb_build_object(
                'prediction', NULLIF(p.prediction, ''), 'probability', p.probability, 'confidence', p.confidence,
                'warning', p.warning)) || coalesce(p.output, '{}'::jsonb)
        WHERE p.batch_id IS NOT NULL OR p.output IS NULL
    """)
    op.alter_column("prediction_results", "output", existing_type=postgresql.JSONB(astext_type=sa.Text()),
                    nullable=False)
    op.drop_column("prediction_results", "warning")
