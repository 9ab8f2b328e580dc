"""Batch rows stored with less per-row work (issue 16: batch prediction within 2x ``predict_proba``).

``benchmarks/prediction_store_ablation.py`` measured what each part of ``prediction_results`` costs the
``INSERT ... SELECT`` of a 100,000-row batch (backend CPU, quiet machine, full statement 1.96 s):

* the index ``(model_version_id, input_hash)``: 0.30 s. It serves one query only, the single-prediction
  cache (:func:`aihub.db.prediction_store.find_cached`), which never returns a batch row
  (``batch_id IS NULL`` is part of its condition). It becomes a *partial* index over single predictions,
  so a batch row no longer pays for an entry nobody looks up. The cache query keeps using it (same
  predicate).
* the requester's key ``(tenant_id, requested_by) -> users``: 0.28 s, one probe per row. A batch's requester
  is already stored once on the batch (``prediction_batches.created_by``, same key, same ON DELETE SET NULL),
  so batch rows now leave ``requested_by`` NULL (a NULL key costs no probe) and readers show the batch's
  requester (:func:`aihub.db.prediction_store._results_query`). Rows stored before keep their value; readers
  give it first.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_INDEX = "ix_prediction_results_version_input_hash"


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="prediction_results")
    op.create_index(_INDEX, "prediction_results", ["model_version_id", "input_hash"],
                    postgresql_where=sa.text("batch_id IS NULL"))


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="prediction_results")
    op.create_index(_INDEX, "prediction_results", ["model_version_id", "input_hash"])
