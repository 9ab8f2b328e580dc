"""One key per batch row: a batch's rows reference its batch and version together (issue 16).

``benchmarks/prediction_store_ablation.py`` showed the two per-row key checks of a batch row, to its batch
``(tenant_id, batch_id) -> prediction_batches`` and to its version ``(tenant_id, model_id, model_version_id)
-> model_versions``, each costing about a fifth of the ``INSERT ... SELECT`` that stores a 100,000-row batch
(an index probe and a row lock per row, per key). A batch is served by one or two versions (champion and
challenger), so the pair is recorded once per batch and every batch row checks ONE key:

* ``prediction_batch_versions (tenant_id, batch_id, model_id, model_version_id)``: the batch's serving
  versions, written with the batch (:func:`aihub.db.prediction_store.add_batch`). Its keys: to the batch,
  including the batch's model (``prediction_batches`` gains the unique key ``(tenant_id, id, model_id)``), and
  to the version of that model (``model_versions (tenant_id, model_id, id)``); both ON DELETE CASCADE.
* ``prediction_results (tenant_id, batch_id, model_id, model_version_id) -> prediction_batch_versions`` (ON
  DELETE CASCADE) replaces the batch key; a single prediction (``batch_id`` NULL) is not checked by it.
* The version key of single predictions stays, on the stored generated column ``single_version_id``
  (``model_version_id`` when ``batch_id`` is NULL, else NULL): a batch row's NULL costs it no probe.

The guarantees stay: a batch row's batch exists and its version is a version of the batch's model, of the
same tenant (stronger than before: the model had to be the row's, not the batch's); deleting a batch, a
version, a model or a tenant still removes their rows. Existing batches get their versions from their rows.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_TABLE = "prediction_batch_versions"
_VERSION_REF = ["model_versions.tenant_id", "model_versions.model_id", "model_versions.id"]


def upgrade() -> None:
    op.create_unique_constraint("uq_prediction_batches_tenant_id_id_model_id", "prediction_batches",
                                ["tenant_id", "id", "model_id"])
    op.create_table(
        _TABLE,
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "batch_id", "model_id"],
                                ["prediction_batches.tenant_id", "prediction_batches.id", "prediction_batches.model_id"],
                                name="fk_prediction_batch_versions_batch_id_prediction_batches", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "model_id", "model_version_id"], _VERSION_REF,
                                name="fk_prediction_batch_versions_model_id_model_versions", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "batch_id", "model_id", "model_version_id",
                                name="pk_prediction_batch_versions"),
    )
    for stmt in enable_tenant_rls(_TABLE):
        op.execute(stmt)
    # Existing batches' versions, from their rows (the owner migrates, past RLS).
    op.execute(f"INSERT INTO {_TABLE} (tenant_id, batch_id, model_id, model_version_id) "
               "SELECT DISTINCT tenant_id, batch_id, model_id, model_version_id FROM prediction_results "
               "WHERE batch_id IS NOT NULL")
    op.add_column("prediction_results", sa.Column(
        "single_version_id", sa.BigInteger(),
        sa.Computed("CASE WHEN batch_id IS NULL THEN model_version_id END", persisted=True), nullable=True))
    op.drop_constraint("fk_prediction_results_batch_id_prediction_batches", "prediction_results", type_="foreignkey")
    op.drop_constraint("fk_prediction_results_model_id_model_versions", "prediction_results", type_="foreignkey")
    op.create_foreign_key("fk_prediction_results_model_id_model_versions", "prediction_results", "model_versions",
                          ["tenant_id", "model_id", "single_version_id"], ["tenant_id", "model_id", "id"],
                          ondelete="CASCADE")
    op.create_foreign_key("fk_prediction_results_batch_id_prediction_batch_versions", "prediction_results", _TABLE,
                          ["tenant_id", "batch_id", "model_id", "model_version_id"],
                          ["tenant_id", "batch_id", "model_id", "model_version_id"], ondelete="CASCADE")


def downgrade() -> None:
    op.drop_constraint("fk_prediction_results_batch_id_prediction_batch_versions", "prediction_results",
                       type_="foreignkey")
    op.drop_constraint("fk_prediction_results_model_id_model_versions", "prediction_results", type_="foreignkey")
    op.create_foreign_key("fk_prediction_results_model_id_model_versions", "prediction_results", "model_versions",
                          ["tenant_id", "model_id", "model_version_id"], ["tenant_id", "model_id", "id"],
                          ondelete="CASCADE")
    op.create_foreign_key("fk_prediction_results_batch_id_prediction_batches", "prediction_results",
                          "prediction_batches", ["tenant_id", "batch_id"], ["tenant_id", "id"], ondelete="CASCADE")
    op.drop_column("prediction_results", "single_version_id")
    for stmt in disable_tenant_rls(_TABLE):
        op.execute(stmt)
    op.drop_table(_TABLE)
    op.drop_constraint("uq_prediction_batches_tenant_id_id_model_id", "prediction_batches", type_="unique")
