"""Row-level-security DDL used by the migrations: the second wall.

Each tenant-owned table gets RLS ENABLEd and FORCEd (so even the table owner
is filtered unless it is a superuser or BYPASSRLS) and one policy keyed on
the transaction-local setting ``app.tenant_id``. With the setting empty or
unset, ``NULLIF(..., '')`` yields NULL, the comparison is never true, and the
session sees and writes nothing.

PostgreSQL docs: "Row Security Policies" (ddl-rowsecurity) and
``set_config(setting, value, is_local)``.
"""

from __future__ import annotations

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::bigint"


def enable_tenant_rls(table: str, key: str = "tenant_id") -> list[str]:
    """SQL statements that isolate ``table`` by ``key`` = current tenant.

    Parameters
    ----------
    table : str
        Table name (trusted: comes from the migration, not from users).
    key : str
        Column that holds the tenant id (``id`` for ``tenants`` itself).
    """
    cond = f"{key} = {CURRENT_TENANT}"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({cond}) WITH CHECK ({cond})",
    ]


def disable_tenant_rls(table: str) -> list[str]:
    """Inverse of :func:`enable_tenant_rls` for downgrades."""
    return [
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


#: Login needs every active user's hash before any tenant is known. This
#: SECURITY DEFINER function, owned by the migrating owner, is the only way
#: past RLS the app role has, and it exposes just what login needs.
LOGIN_DIRECTORY_FUNCTION = """
CREATE OR REPLACE FUNCTION aihub_login_directory()
RETURNS TABLE (username text, name text, email text, password_hash text, role text,
               tenant_id bigint, tenant_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.username, u.name, u.email, u.password_hash, u.role, u.tenant_id, t.name
    FROM users u JOIN tenants t ON t.id = u.tenant_id
    WHERE u.is_active
$$
"""
