"""Server-side sessions, login throttling, the audit log, per-tenant accounts and a narrow login lookup.

* ``users.auth_version``: bumped on every role, activity or password change.
* ``users.username`` unique per tenant instead of globally: adding a user never
  tells an admin whether the e-mail has an account in another organization.
* ``user_sessions`` and ``audit_log``: tenant-owned, FORCEd row-level security.
* ``login_throttle``: failed log-ins per hashed account and client key (not
  tenant-owned: counted before anyone knows whether the e-mail exists).
* ``aihub_login_directory()`` (every user of every tenant with hashes) is
  replaced by ``aihub_login_lookup(e-mail)``, which returns only the active
  accounts of the e-mail being logged in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aihub.db.rls import LOGIN_DIRECTORY_FUNCTION, disable_tenant_rls, enable_tenant_rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NEW_TENANT_TABLES = ["user_sessions", "audit_log"]

#: The only read past row-level security the app role has: the active accounts of one e-mail.
LOGIN_LOOKUP_FUNCTION = """
CREATE OR REPLACE FUNCTION aihub_login_lookup(p_username text)
RETURNS TABLE (user_id bigint, tenant_id bigint, username text, name text, password_hash text, role text,
               auth_version integer, tenant_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.tenant_id, u.username, u.name, u.password_hash, u.role, u.auth_version, t.name
    FROM users u JOIN tenants t ON t.id = u.tenant_id
    WHERE u.is_active AND u.username = lower(p_username)
    ORDER BY u.tenant_id
$$
"""


def upgrade() -> None:
    op.add_column("users", sa.Column("auth_version", sa.Integer(), server_default="1", nullable=False))
    op.drop_constraint("uq_users_username", "users", type_="unique")
    op.create_unique_constraint(op.f("uq_users_tenant_id_username"), "users", ["tenant_id", "username"])
    # The lookup filters by username alone: index it (the unique constraint leads with tenant_id).
    op.create_index("ix_users_username", "users", ["username"], unique=False)

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("auth_version", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=100), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_user_sessions_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index(op.f("ix_user_sessions_tenant_id"), "user_sessions", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=200), server_default="", nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=300), server_default="", nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("client", sa.String(length=100), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_audit_log_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_tenant_id"), "audit_log", ["tenant_id"], unique=False)
    op.create_index("ix_audit_log_tenant_created", "audit_log", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "login_throttle",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key_hash", name=op.f("pk_login_throttle")),
    )

    for table in NEW_TENANT_TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)
    op.execute("DROP FUNCTION IF EXISTS aihub_login_directory()")
    op.execute(LOGIN_LOOKUP_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION aihub_login_lookup(text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS aihub_login_lookup(text)")
    op.execute(LOGIN_DIRECTORY_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION aihub_login_directory() FROM PUBLIC")
    for table in NEW_TENANT_TABLES:
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
    op.drop_table("login_throttle")
    op.drop_index("ix_audit_log_tenant_created", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_tenant_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_index(op.f("ix_user_sessions_tenant_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index("ix_users_username", table_name="users")
    op.drop_constraint(op.f("uq_users_tenant_id_username"), "users", type_="unique")
    op.create_unique_constraint("uq_users_username", "users", ["username"])
    op.drop_column("users", "auth_version")
