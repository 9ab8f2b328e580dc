"""``aihub_api_key_auth`` (migration 0023) reads past row-level security: it must return one key, never a list.

The app role calls it before the tenant is known. Asked for a pattern, an empty or an unknown key id it
returns nothing; asked for a real key id it returns that key's own organization and user only.
"""

from __future__ import annotations

import sqlalchemy as sa

from aihub import apikeys
from tests.conftest import new_tenant


def test_the_key_auth_function_returns_one_key_and_never_a_list(db):
    a, b = new_tenant("kauth-a"), new_tenant("kauth-b")
    token_a = apikeys.create_key(a, "crm", ["read"])[1]
    apikeys.create_key(b, "shop", ["read"])
    key_id = token_a.split("_")[1]
    with db.app.connect() as conn:
        for probe in ("%", "", "_", "' OR '1'='1", key_id.lower() + "x"):
            assert conn.execute(sa.text("SELECT count(*) FROM aihub_api_key_auth(:k)"), {"k": probe}).scalar() == 0
        rows = conn.execute(sa.text("SELECT * FROM aihub_api_key_auth(:k)"), {"k": key_id}).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["tenant_id"], row["user_id"], row["username"]) == (a.tenant_id, a.user_id, a.username)
    assert row["user_active"] is True and row["tenant_name"] == a.tenant_name
    principal = apikeys.authenticate(token_a)
    assert (principal.tenant_id, principal.user_id, principal.role) == (a.tenant_id, a.user_id, a.role)
