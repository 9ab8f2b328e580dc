"""Fewer per-row foreign-key checks on ``prediction_results`` (issue 16: batch rows stored faster).

PostgreSQL checks a foreign key with one trigger call and one index probe *per inserted row*; storing a
100,000-row batch spent most of its ``INSERT ... SELECT`` there (benchmarks/prediction_store_ablation.py:
dropping all six keys cut the statement's backend CPU from 4.3 s to 1.7 s). Two of the probes were implied
by others, so they go, and the guarantees stay:

* ``(tenant_id) -> tenants``: a row's ``(tenant_id, model_id, model_version_id)`` must name a model version
  of that tenant (below), whose tenant exists (``model_versions (tenant_id) -> tenants``). Deleting a tenant
  still removes its predictions: tenants -> models -> model_versions -> prediction_results all cascade.
* ``(tenant_id, model_id) -> models`` and ``(tenant_id, model_version_id) -> model_versions`` become ONE key
  ``(tenant_id, model_id, model_version_id) -> model_versions (tenant_id, model_id, id)`` (ON DELETE
  CASCADE), stronger than before: the version must belong to the row's model, not only to its tenant.
  The model exists because the version references it (``model_versions (tenant_id, model_id) -> models``,
  ON DELETE CASCADE, so deleting a model still removes its predictions). ``model_versions`` gains the
  unique key ``(tenant_id, model_id, id)`` the reference needs.

Batch, requester and feedback-giver keep their own keys (a batch row's batch is checked; a NULL key
costs no probe).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""
from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint("uq_model_versions_tenant_id_model_id_id", "model_versions",
                                ["tenant_id", "model_id", "id"])
    op.create_foreign_key("fk_prediction_results_model_id_model_versions", "prediction_results", "model_versions",
                          ["tenant_id", "model_id", "model_version_id"], ["tenant_id", "model_id", "id"],
                          ondelete="CASCADE")
    op.drop_constraint("fk_prediction_results_model_version_id_model_versions", "prediction_results",
                       type_="foreignkey")
    op.drop_constraint("fk_prediction_results_model_id_models", "prediction_results", type_="foreignkey")
    op.drop_constraint("fk_prediction_results_tenant_id_tenants", "prediction_results", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("fk_prediction_results_tenant_id_tenants", "prediction_results", "tenants",
                          ["tenant_id"], ["id"], ondelete="CASCADE")
    op.create_foreign_key("fk_prediction_results_model_id_models", "prediction_results", "models",
                          ["tenant_id", "model_id"], ["tenant_id", "id"], ondelete="CASCADE")
    op.create_foreign_key("fk_prediction_results_model_version_id_model_versions", "prediction_results",
                          "model_versions", ["tenant_id", "model_version_id"], ["tenant_id", "id"],
                          ondelete="CASCADE")
    op.drop_constraint("fk_prediction_results_model_id_model_versions", "prediction_results", type_="foreignkey")
    op.drop_constraint("uq_model_versions_tenant_id_model_id_id", "model_versions", type_="unique")
