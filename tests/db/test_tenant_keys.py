"""Every tenant table's keys lead with tenant_id, and references between tenant rows carry it.

What a database distributed by ``tenant_id`` (Citus) needs, checked on the ORM
metadata and on the migrated database (so a migration that adds a table with
plain keys fails here even if its ORM class is right), and the layout that
``docs/scaling.md`` prints is the one computed from the metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from aihub.db import citus
from aihub.db.models import Base, tenant_owned_tables
from aihub.db.session import tenant_session
from tests.conftest import new_tenant

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def _key_problems(table: str, pk: list[str], uniques: list[list[str]], fks: list[dict], tenant_tables: set[str]):
    problems = []
    if pk[:1] != ["tenant_id"]:
        problems.append(f"{table}: primary key {pk} does not lead with tenant_id")
    problems += [f"{table}: unique key {u} does not lead with tenant_id" for u in uniques if u[:1] != ["tenant_id"]]
    for fk in fks:
        cols, parent, parent_cols = fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]
        if parent in tenant_tables:
            if cols[:1] != ["tenant_id"] or parent_cols[:1] != ["tenant_id"] or len(cols) < 2:
                problems.append(f"{table}: foreign key {cols} -> {parent} {parent_cols} does not go through tenant_id")
            ondelete = (fk.get("options") or {}).get("ondelete") or ""
            if ondelete.upper().startswith("SET NULL") and "(" not in ondelete:
                problems.append(f"{table}: foreign key {cols} -> {parent} would set tenant_id NULL on delete")
        elif parent != "tenants":
            problems.append(f"{table}: foreign key {cols} -> {parent}, neither a tenant table nor a reference table")
    return problems


def test_every_tenant_key_leads_with_tenant_id_in_the_orm():
    tenant_tables = set(tenant_owned_tables())
    assert {"users", "datasets", "models", "prediction_results", "anomalies"} <= tenant_tables
    problems = []
    for name in sorted(tenant_tables):
        t = Base.metadata.tables[name]
        uniques = [[c.name for c in u.columns] for u in t.constraints if isinstance(u, sa.UniqueConstraint)]
        uniques += [[c.name for c in ix.columns] for ix in t.indexes if ix.unique]
        uniques += [[c.name] for c in t.columns if c.unique]
        fks = [{"constrained_columns": list(fk.column_keys), "referred_table": fk.referred_table.name,
                "referred_columns": [e.column.name for e in fk.elements], "options": {"ondelete": fk.ondelete}}
               for fk in t.foreign_key_constraints]
        problems += _key_problems(name, [c.name for c in t.primary_key.columns], uniques, fks, tenant_tables)
    assert problems == []


def test_every_tenant_key_leads_with_tenant_id_in_the_database(use_db):
    insp = sa.inspect(use_db.owner)
    tables = [t for t in insp.get_table_names()
              if not t.startswith("procrastinate_") and "tenant_id" in {c["name"] for c in insp.get_columns(t)}]
    assert set(tables) == set(tenant_owned_tables())
    problems = []
    for name in tables:
        uniques = [u["column_names"] for u in insp.get_unique_constraints(name)]
        uniques += [ix["column_names"] for ix in insp.get_indexes(name) if ix["unique"]]
        problems += _key_problems(name, insp.get_pk_constraint(name)["constrained_columns"], uniques,
                                  insp.get_foreign_keys(name), set(tables))
    assert problems == []


def test_deleting_a_parent_clears_only_the_reference(use_db):
    """``ON DELETE SET NULL (created_by)``: the row stays in its tenant, only the reference goes."""
    admin = new_tenant("setnull")
    with tenant_session(admin.tenant_id) as s:
        other = s.execute(sa.text(
            "insert into users (tenant_id, username, email, name, password_hash, role) "
            "values (:t, 'gone@x.org', 'gone@x.org', 'Gone', 'x', 'analyst') returning id"), {"t": admin.tenant_id}
        ).scalar_one()
        ds = s.execute(sa.text("insert into datasets (tenant_id, name, created_by) values (:t, 'kept', :u) "
                               "returning id"), {"t": admin.tenant_id, "u": other}).scalar_one()
        s.execute(sa.text("delete from users where id = :u"), {"u": other})
        row = s.execute(sa.text("select tenant_id, created_by from datasets where id = :d"), {"d": ds}).one()
    assert tuple(row) == (admin.tenant_id, None)


def test_docs_scaling_carries_the_layout_computed_from_the_metadata():
    text = DOC.read_text()
    m = re.search(r"<!-- citus-layout:start -->\n(.*?)<!-- citus-layout:end -->", text, re.DOTALL)
    assert m, f"{DOC} lost its citus-layout markers"
    assert m.group(1) == citus.markdown(), "docs/scaling.md is stale: paste `python -m aihub.db.citus` between the markers"


def test_citus_statements_distribute_every_tenant_table_once():
    stmts = citus.citus_sql()
    assert stmts[0] == "SELECT create_reference_table('tenants');"
    distributed = [re.search(r"create_distributed_table\('(\w+)'", s).group(1) for s in stmts[1:]]
    assert sorted(distributed) == tenant_owned_tables()
    anchor = distributed[0]
    assert all(f"colocate_with => '{anchor}'" in s for s in stmts[2:])
