"""Anomaly counts kept up to date, so the anomaly overview no longer reads every anomaly of a tenant.

:func:`aihub.db.anomaly_store.anomaly_stats` (open anomalies by severity, median time to close, per-monitor
triage figures) and the monitor list's per-monitor counts grouped every anomaly row of the tenant: 75 ms at
100,000 anomalies, linear in the rows, so past the 0.5 s dashboard goal near 700,000 (``docs/scaling.md``).

* ``anomaly_counts``: anomalies per monitor, severity and status.
* ``anomaly_close_hist``: closed anomalies (``resolved_at`` set) per *close bucket*, a logarithmic class
  of the time from detection to close (8 per doubling: ``0`` below one second, else
  ``1 + floor(8 ln(seconds))``).
* ``anomaly_count_deltas``: insert-only changes to both, written by statement-level triggers with
  transition tables on ``anomalies`` (insert, update of a counted column, delete, cascades alike): one row
  per (tenant, monitor, severity, status, bucket) a statement changed, with the signed count. A writer
  never waits on another writer (no row is updated in place), as with ``rollup_marks`` (migration 0021).
  The worker's rollup step folds the committed deltas into the two tables
  (:func:`aihub.db.dashboard_store.fold_anomaly_counts`); readers add the deltas not yet folded, in one
  statement, so the figures are exact at any moment.
* ``anomalies.close_seconds`` and ``anomalies.close_bucket``: stored generated columns (the close time in
  seconds and its bucket; NULL while open), and the partial index
  ``ix_anomalies_tenant_closed (tenant_id, close_bucket, close_seconds) WHERE resolved_at IS NOT NULL``.
  The median is found from the histogram's bucket holding it, then read from the index within that
  bucket (``OFFSET`` the rank inside it). Stored columns, not index expressions, because under row-level
  security only a leakproof condition may become an index condition, and ``extract``, ``ln`` and
  timestamp subtraction are not leakproof; ``close_bucket >= $1`` (``int4ge`` on a column) is.

Adding the generated columns rewrites ``anomalies`` once (an exclusive lock for the rewrite's time).
Existing rows are counted here (the owner migrates, past row-level security).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

TABLES = ["anomaly_count_deltas", "anomaly_counts", "anomaly_close_hist"]

_SECONDS = "(EXTRACT(epoch FROM resolved_at - created_at))::double precision"
#: Same text as :data:`aihub.db.models.CLOSE_SECONDS_SQL` and ``CLOSE_BUCKET_SQL``.
CLOSE_SECONDS = _SECONDS
CLOSE_BUCKET = (f"CASE WHEN resolved_at IS NULL THEN NULL WHEN {_SECONDS} < 1 THEN 0 "
                f"ELSE 1 + (floor(ln({_SECONDS}) * 8))::integer END")

_KEY = "tenant_id, monitor_id, severity, status, coalesce(close_bucket, -1)"

DELTAS = f"""
CREATE OR REPLACE FUNCTION aihub_anomaly_count_deltas() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO anomaly_count_deltas (tenant_id, monitor_id, severity, status, bucket, n)
        SELECT {_KEY}, count(*) FROM new_rows GROUP BY 1, 2, 3, 4, 5;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO anomaly_count_deltas (tenant_id, monitor_id, severity, status, bucket, n)
        SELECT {_KEY}, -count(*) FROM old_rows GROUP BY 1, 2, 3, 4, 5;
    ELSE
        INSERT INTO anomaly_count_deltas (tenant_id, monitor_id, severity, status, bucket, n)
        WITH changed AS (
            SELECT o.tenant_id AS o_t, o.monitor_id AS o_m, o.severity AS o_sev, o.status AS o_st,
                   coalesce(o.close_bucket, -1) AS o_b, n.tenant_id AS n_t, n.monitor_id AS n_m,
                   n.severity AS n_sev, n.status AS n_st, coalesce(n.close_bucket, -1) AS n_b
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.tenant_id, o.monitor_id, o.severity, o.status, o.close_bucket)
                  IS DISTINCT FROM (n.tenant_id, n.monitor_id, n.severity, n.status, n.close_bucket)),
        moves AS (SELECT o_t, o_m, o_sev, o_st, o_b, -1 AS n FROM changed
                  UNION ALL SELECT n_t, n_m, n_sev, n_st, n_b, 1 FROM changed)
        SELECT o_t, o_m, o_sev, o_st, o_b, sum(n) FROM moves GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END $$
"""


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.add_column("anomalies", sa.Column("close_seconds", sa.Float(), sa.Computed(CLOSE_SECONDS, persisted=True),
                                         nullable=True))
    op.add_column("anomalies", sa.Column("close_bucket", sa.Integer(), sa.Computed(CLOSE_BUCKET, persisted=True),
                                         nullable=True))
    op.create_index("ix_anomalies_tenant_closed", "anomalies", ["tenant_id", "close_bucket", "close_seconds"],
                    postgresql_where=sa.text("resolved_at IS NOT NULL"))
    op.create_table(
        "anomaly_count_deltas",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        _tenant_fk("anomaly_count_deltas"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_anomaly_count_deltas")),
    )
    op.create_table(
        "anomaly_counts",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        _tenant_fk("anomaly_counts"),
        sa.PrimaryKeyConstraint("tenant_id", "monitor_id", "severity", "status", name=op.f("pk_anomaly_counts")),
    )
    op.create_table(
        "anomaly_close_hist",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        _tenant_fk("anomaly_close_hist"),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", name=op.f("pk_anomaly_close_hist")),
    )
    for table in TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)
    op.execute(DELTAS)
    for k, (event, tables) in {"ins": ("INSERT", "NEW TABLE AS new_rows"),
                               "upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                               "del": ("DELETE", "OLD TABLE AS old_rows")}.items():
        op.execute(f"CREATE TRIGGER anomalies_counts_{k} AFTER {event} ON anomalies REFERENCING {tables} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION aihub_anomaly_count_deltas()")
    op.execute("""
        INSERT INTO anomaly_counts (tenant_id, monitor_id, severity, status, n)
        SELECT tenant_id, monitor_id, severity, status, count(*) FROM anomalies GROUP BY 1, 2, 3, 4""")
    op.execute("""
        INSERT INTO anomaly_close_hist (tenant_id, bucket, n)
        SELECT tenant_id, close_bucket, count(*) FROM anomalies WHERE resolved_at IS NOT NULL GROUP BY 1, 2""")


def downgrade() -> None:
    for k in ("ins", "upd", "del"):
        op.execute(f"DROP TRIGGER IF EXISTS anomalies_counts_{k} ON anomalies")
    op.execute("DROP FUNCTION IF EXISTS aihub_anomaly_count_deltas()")
    for table in reversed(TABLES):
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
        op.drop_table(table)
    op.drop_index("ix_anomalies_tenant_closed", table_name="anomalies")
    op.drop_column("anomalies", "close_bucket")
    op.drop_column("anomalies", "close_seconds")
