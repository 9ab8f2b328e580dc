"""How the hub's tables spread over a Citus cluster, read from the ORM metadata.

Citus shards a *distributed* table by one column and replicates a *reference*
table to every node. A primary key, unique constraint or foreign key between
distributed tables is enforceable only when it includes the distribution
column, and joins are local only between tables of one colocation group. The
hub distributes every tenant table by ``tenant_id`` in one colocation group;
``tenants`` is a reference table (every tenant table references it); tables
that belong to no tenant stay local on the coordinator.

The layout is computed, never typed: ``docs/scaling.md`` carries the output of
:func:`markdown` (a test compares them), and ``python -m aihub.db.citus --sql``
prints the statements that distribute a migrated database.

Source: Citus documentation, "Choosing distribution column", "Table
management" (``create_distributed_table``, ``create_reference_table``,
``colocate_with``) and "Creating and modifying distributed objects (DDL)".
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import sqlalchemy as sa

from aihub.db.models import Base

#: The column every tenant table is distributed by.
DISTRIBUTION_COLUMN = "tenant_id"

#: Tables outside the ORM metadata that stay local on the coordinator: the task
#: queue (LISTEN/NOTIFY, ``FOR UPDATE SKIP LOCKED``, no tenant) and Alembic's version row.
COORDINATOR_ONLY = ("procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers",
                    "procrastinate_workers", "alembic_version")


@dataclass(frozen=True)
class Layout:
    """Where each table goes and which keys carry the distribution column.

    Attributes
    ----------
    distributed : tuple of str
        Tenant tables, sharded by ``tenant_id`` in one colocation group.
    reference : tuple of str
        Tables replicated to every node (referenced by the distributed ones).
    local : tuple of str
        ORM tables that stay on the coordinator only (no tenant).
    primary_keys : tuple of (str, tuple of str)
        ``(table, columns)`` of each distributed table's primary key.
    unique_keys : tuple of (str, tuple of str)
        ``(table, columns)`` of each unique constraint or unique index of a distributed table.
    foreign_keys : tuple of (str, tuple of str, str, tuple of str, str)
        ``(table, columns, parent, parent columns, on delete)`` of each reference
        between distributed tables.
    """

    distributed: tuple[str, ...]
    reference: tuple[str, ...]
    local: tuple[str, ...]
    primary_keys: tuple[tuple[str, tuple[str, ...]], ...]
    unique_keys: tuple[tuple[str, tuple[str, ...]], ...]
    foreign_keys: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...], str], ...]


def _unique_keys(table: sa.Table) -> list[tuple[str, ...]]:
    keys = [tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, sa.UniqueConstraint)]
    keys += [tuple(c.name for c in ix.columns) for ix in table.indexes if ix.unique]
    keys += [(c.name,) for c in table.columns if c.unique]
    return sorted(keys)


def layout(metadata: sa.MetaData | None = None) -> Layout:
    """The Citus layout of ``metadata`` (default: the hub's ORM).

    Parameters
    ----------
    metadata : sqlalchemy.MetaData, optional
        Tables to lay out; a table with a ``tenant_id`` column is distributed.

    Returns
    -------
    Layout
        Tables by kind, and the primary, unique and foreign keys of the distributed ones.
    """
    tables = (metadata or Base.metadata).tables
    distributed = sorted(name for name, t in tables.items() if DISTRIBUTION_COLUMN in t.c)
    referenced = {fk.referred_table.name for name in distributed for fk in tables[name].foreign_key_constraints}
    reference = sorted(referenced - set(distributed))
    local = sorted(set(tables) - set(distributed) - set(reference))
    fks = []
    for name in distributed:
        for fk in tables[name].foreign_key_constraints:
            if fk.referred_table.name in distributed:
                fks.append((name, tuple(fk.column_keys), fk.referred_table.name,
                            tuple(e.column.name for e in fk.elements), fk.ondelete or "NO ACTION"))
    return Layout(
        distributed=tuple(distributed), reference=tuple(reference), local=tuple(local),
        primary_keys=tuple((n, tuple(c.name for c in tables[n].primary_key.columns)) for n in distributed),
        unique_keys=tuple((n, k) for n in distributed for k in _unique_keys(tables[n])),
        foreign_keys=tuple(sorted(fks)),
    )


def citus_sql(plan: Layout | None = None) -> list[str]:
    """Statements that distribute a migrated hub database on a Citus coordinator.

    Run them as the owner after ``aihub db upgrade`` (and after each later
    migration that adds a table). The first distributed table anchors the
    colocation group; parents are distributed before the tables that reference
    them.

    Parameters
    ----------
    plan : Layout, optional
        Default :func:`layout` of the ORM.

    Returns
    -------
    list of str
        ``SELECT create_reference_table(...)`` and ``SELECT create_distributed_table(...)`` statements.
    """
    plan = plan or layout()
    order = [t.name for t in Base.metadata.sorted_tables if t.name in plan.distributed]
    order += [t for t in plan.distributed if t not in order]
    stmts = [f"SELECT create_reference_table('{t}');" for t in plan.reference]
    anchor = order[0]
    stmts.append(f"SELECT create_distributed_table('{anchor}', '{DISTRIBUTION_COLUMN}');")
    stmts += [f"SELECT create_distributed_table('{t}', '{DISTRIBUTION_COLUMN}', colocate_with => '{anchor}');"
              for t in order[1:]]
    return stmts


def markdown(plan: Layout | None = None) -> str:
    """The layout as the Markdown section of ``docs/scaling.md`` (between its ``citus-layout`` markers)."""
    plan = plan or layout()
    def cols(c: tuple[str, ...]) -> str:
        return f"`({', '.join(c)})`"

    lines = [
        f"**Reference tables** (copied to every node): {', '.join(f'`{t}`' for t in plan.reference)}.",
        "",
        f"**Local to the coordinator** (no tenant): {', '.join(f'`{t}`' for t in plan.local + COORDINATOR_ONLY)}.",
        "",
        (f"**Distributed by `{DISTRIBUTION_COLUMN}`**, one colocation group ({len(plan.distributed)} tables), "
        "with their primary and unique keys:"),
        "",
        "| table | primary key | unique keys |",
        "| --- | --- | --- |",
    ]
    uniques: dict[str, list[str]] = {}
    for table, key in plan.unique_keys:
        uniques.setdefault(table, []).append(cols(key))
    for table, key in plan.primary_keys:
        lines.append(f"| `{table}` | {cols(key)} | {', '.join(uniques.get(table, [])) or '-'} |")
    set_null = sum(1 for fk in plan.foreign_keys if fk[4].upper().startswith("SET NULL"))
    others = sorted({fk[4] for fk in plan.foreign_keys if not fk[4].upper().startswith("SET NULL")})
    lines += ["", (f"**Foreign keys between distributed tables**: {len(plan.foreign_keys)}, each leading with "
                   f"`{DISTRIBUTION_COLUMN}` on both sides (mostly `({DISTRIBUTION_COLUMN}, x_id) -> parent "
                   f"({DISTRIBUTION_COLUMN}, id)`); {set_null} of them `ON DELETE SET NULL (x_id)`, the others "
                   f"{', '.join(f'`{o}`' for o in others)}:"), "",
              f"| table | references (columns besides `{DISTRIBUTION_COLUMN}` -> parent, on delete) |", "| --- | --- |"]
    refs: dict[str, list[str]] = {}
    for table, columns, parent, _parent_cols, ondelete in plan.foreign_keys:
        action = "set null" if ondelete.upper().startswith("SET NULL") else ondelete.lower()
        own = [c for c in columns if c != DISTRIBUTION_COLUMN]
        refs.setdefault(table, []).append(f"`{own[0] if len(own) == 1 else '(' + ', '.join(own) + ')'}` -> "
                                          f"`{parent}` ({action})")
    lines += [f"| `{table}` | {', '.join(r)} |" for table, r in refs.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Print the layout as Markdown, or with ``--sql`` the statements that distribute the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sql", action="store_true", help="print create_distributed_table statements")
    args = parser.parse_args(argv)
    print("\n".join(citus_sql()) if args.sql else markdown(), end="" if not args.sql else "\n")


if __name__ == "__main__":
    main()
