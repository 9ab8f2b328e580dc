"""A row of one tenant can never point at another tenant's row: the database refuses it.

Foreign-key checks are not filtered by row-level security, so before migration
0022 tenant A could store a row whose ``dataset_id`` or ``user_id`` was tenant
B's (the referenced row exists, so a plain ``id`` key accepted it) and, e.g.,
make an API key of its own act for B's admin. Every reference between tenant
tables now goes through ``(tenant_id, x_id)``.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from aihub.db.session import tenant_session
from aihub.errors import DatabaseError
from tests.conftest import new_tenant


@pytest.fixture
def b_rows(use_db):
    """Tenants A and B; B owns a dataset. Returns (A's admin, B's admin, B's dataset id)."""
    a, b = new_tenant("refa"), new_tenant("refb")
    with tenant_session(b.tenant_id) as s:
        ds = s.execute(sa.text("insert into datasets (tenant_id, name) values (:t, 'b-data') returning id"),
                       {"t": b.tenant_id}).scalar_one()
    return a, b, ds


@pytest.mark.parametrize(("sql", "what"), [
    ("insert into models (tenant_id, name, kind, config, dataset_id) values (:a, 'm', 'churn', '{}', :ds)",
     "a model on B's dataset"),
    (("insert into api_keys (tenant_id, key_id, secret_hash, name, scopes, user_id) "
     "values (:a, 'k' || :a, 'h', 'n', '[]', :bu)"), "an API key acting for B's admin"),
    (("insert into user_sessions (tenant_id, user_id, token_hash, auth_version, expires_at) "
     "values (:a, :bu, md5(cast(:a as text)), 1, now() + interval '1 day')"), "a login session of B's admin"),
    (("insert into dataset_versions (tenant_id, dataset_id, version, filename, sha256, row_count, column_schema, "
     "raw_bytes, parquet) values (:a, :ds, 1, 'f.csv', 'x', 0, '[]', '', '')"), "a version of B's dataset"),
])
def test_a_row_pointing_at_another_tenants_row_is_refused(b_rows, sql, what):
    a, b, ds = b_rows
    with pytest.raises(DatabaseError, match="foreign key"), tenant_session(a.tenant_id) as s:
        s.execute(sa.text(sql), {"a": a.tenant_id, "ds": ds, "bu": b.user_id})


def test_an_update_cannot_repoint_a_row_at_another_tenant(b_rows):
    a, b, _ds = b_rows
    with tenant_session(a.tenant_id) as s:
        mine = s.execute(sa.text("insert into datasets (tenant_id, name) values (:t, 'a-data') returning id"),
                         {"t": a.tenant_id}).scalar_one()
    with pytest.raises(DatabaseError, match="foreign key"), tenant_session(a.tenant_id) as s:
        s.execute(sa.text("update datasets set created_by = :bu where id = :d"), {"bu": b.user_id, "d": mine})
    with tenant_session(a.tenant_id) as s:
        assert s.execute(sa.text("select created_by from datasets where id = :d"), {"d": mine}).scalar() is None
