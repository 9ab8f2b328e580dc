"""The anomaly worklist of open anomalies reads its first 500 rows from an index, not a sort of every open anomaly.

:func:`aihub.db.anomaly_store.list_anomalies` orders by severity rank, absolute money impact, period and id
and keeps 500 rows. Without an index in that order PostgreSQL read and sorted every open anomaly of the
tenant: 2.1-3.8 s at 1,000,000 anomalies (half open) in ``benchmarks/dashboard_load.py``'s database. The
partial expression index below holds the open ones (the screen's default filter, and any subset of the
open statuses) in the worklist's order, so the scan stops after the rows it returns (3 ms there). Ordering
by an index is no condition, so row-level security does not ask for leakproof functions here; the tenant
condition is the index's first column.

The expressions are the text of :data:`aihub.db.models.SEVERITY_RANK_SQL` and ``WORKLIST_ORDER_SQL``; the
query renders the same (:func:`aihub.db.anomaly_store._severity_rank`), which the planner needs to match.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""
from __future__ import annotations

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_RANK = "CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END"


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_anomalies_tenant_open_worklist ON anomalies "
               f"(tenant_id, ({_RANK}) DESC, abs(impact) DESC NULLS LAST, ts DESC, id DESC) "
               f"WHERE status IN ('new', 'acknowledged', 'investigating')")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_anomalies_tenant_open_worklist")
