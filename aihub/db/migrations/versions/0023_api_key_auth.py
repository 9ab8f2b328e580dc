"""An API key checked in one database round trip (issue 14).

``aihub_api_key_auth(key_id)``: SECURITY DEFINER, like ``aihub_api_key_lookup`` (migration 0010) the one
read past row-level security the API needs before it knows the tenant. It returns the one key with that
public prefix together with what the request needs next: the user the key acts for (active or not, role,
name) and the organization's name. Before, the API read the key through the lookup and then the user and
organization in a tenant transaction: two round trips and two transactions per request. The secret's hash
is still compared in the application, in constant time.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""
from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

API_KEY_AUTH_FUNCTION = """
CREATE OR REPLACE FUNCTION aihub_api_key_auth(p_key_id text)
RETURNS TABLE (id bigint, tenant_id bigint, user_id bigint, secret_hash text, scopes jsonb,
               expires_at timestamptz, revoked_at timestamptz, user_active boolean, username text,
               role text, user_name text, tenant_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id, k.tenant_id, k.user_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at,
           coalesce(u.is_active, false), u.username::text, u.role::text, u.name::text, t.name::text
    FROM api_keys k
    JOIN tenants t ON t.id = k.tenant_id
    LEFT JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
    WHERE k.key_id = p_key_id
$$
"""


def upgrade() -> None:
    op.execute(API_KEY_AUTH_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION aihub_api_key_auth(text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS aihub_api_key_auth(text)")
