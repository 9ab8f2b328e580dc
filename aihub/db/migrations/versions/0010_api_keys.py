"""API keys of the HTTP API and the replies remembered for ``Idempotency-Key``.

* ``api_keys``: tenant-owned, FORCEd row-level security. A key is shown once;
  only ``key_id`` (a random public prefix) and the SHA-256 of its 256-bit
  secret are stored. ``scopes`` are drawn from the nine ``ai_analytics:*``
  permissions; the key acts for the user who created it (``user_id``).
* ``aihub_api_key_lookup(key_id)``: the only read past row-level security the
  API needs before it knows the tenant; it returns the one key with that
  prefix (hash, tenant, user, scopes, expiry, revocation), never a list.
* ``api_idempotency``: tenant-owned; the status and body of a POST answered
  under an ``Idempotency-Key``, so a retried request is answered again from
  here instead of training or predicting twice.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NEW_TENANT_TABLES = ["api_keys", "api_idempotency"]

API_KEY_LOOKUP_FUNCTION = """
CREATE OR REPLACE FUNCTION aihub_api_key_lookup(p_key_id text)
RETURNS TABLE (id bigint, tenant_id bigint, user_id bigint, secret_hash text, scopes jsonb,
               expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id, k.tenant_id, k.user_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at
    FROM api_keys k WHERE k.key_id = p_key_id
$$
"""


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["revoked_by"], ["users.id"], name=op.f("fk_api_keys_revoked_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False)

    op.create_table(
        "api_idempotency",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_api_idempotency_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_api_idempotency_api_key_id_api_keys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint("tenant_id", "api_key_id", "idempotency_key",
                            name=op.f("uq_api_idempotency_tenant_id_api_key_id_idempotency_key")),
    )
    op.create_index(op.f("ix_api_idempotency_tenant_id"), "api_idempotency", ["tenant_id"], unique=False)

    for table in NEW_TENANT_TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)
    op.execute(API_KEY_LOOKUP_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION aihub_api_key_lookup(text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS aihub_api_key_lookup(text)")
    for table in NEW_TENANT_TABLES:
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
    op.drop_index(op.f("ix_api_idempotency_tenant_id"), table_name="api_idempotency")
    op.drop_table("api_idempotency")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
