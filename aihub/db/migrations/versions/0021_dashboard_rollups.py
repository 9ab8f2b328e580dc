"""Daily rollups of the dashboard (issue 16: every dashboard query under 0.5 s at 10 million predictions).

Three rollup tables, tenant-owned with FORCEd row-level security and ``tenant_id``
leading their primary keys:

* ``prediction_daily``: predictions and failed predictions per UTC day, model and version;
* ``outcome_daily``: recorded outcomes per UTC day of the outcome (``actual_at``), model and
  version: how many, how many correct, and the sum and count of absolute errors of numeric pairs;
* ``anomaly_daily``: anomalies per day of the period they describe (``ts``), metric, severity
  and status.

They are maintained **incrementally**, not as materialised views: PostgreSQL cannot put a
row-level-security policy on a materialised view (so it could not be a tenant table), and
``REFRESH MATERIALIZED VIEW`` recomputes every tenant's every row each time. Instead,
statement-level triggers with transition tables on ``prediction_results`` and ``anomalies``
write one ``rollup_marks`` row per (tenant, kind, day) a statement touched: an insert, an
outcome or status update, a delete, a late-arriving row for an old day alike. The worker's
rollup step (:func:`aihub.services.dashboard.refresh_rollups`) takes the committed marks and
recomputes exactly those days from the raw rows; the dashboard reads rollup rows for clean
days and the raw rows of days still marked, in one statement, so its figures are exact even
between two rollup steps. Marks are insert-only (no unique key), so a writer never waits on
another writer's mark, and a mark committed after the step's snapshot stays for the next step.

The existing rows of every tenant are marked here, so the first rollup step builds them.

Revision ID: 0021
Revises: 0016
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = "0021"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ["rollup_marks", "prediction_daily", "outcome_daily", "anomaly_daily"]

#: Day of a prediction (UTC) and of its outcome, as the rollups and the dashboard count them.
_P_DAY = "(created_at AT TIME ZONE 'UTC')::date"
_O_DAY = "(actual_at AT TIME ZONE 'UTC')::date"

MARK_PREDICTIONS = f"""
CREATE OR REPLACE FUNCTION aihub_rollup_mark_predictions() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_marks (tenant_id, kind, day)
        SELECT DISTINCT tenant_id, 'predictions', {_P_DAY} FROM new_rows
        UNION SELECT DISTINCT tenant_id, 'outcomes', {_O_DAY} FROM new_rows WHERE actual_at IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_marks (tenant_id, kind, day)
        SELECT DISTINCT tenant_id, 'predictions', {_P_DAY} FROM old_rows
        UNION SELECT DISTINCT tenant_id, 'outcomes', {_O_DAY} FROM old_rows WHERE actual_at IS NOT NULL;
    ELSE
        INSERT INTO rollup_marks (tenant_id, kind, day)
        WITH changed AS (
            SELECT o.tenant_id, o.created_at AS o_created, n.created_at AS n_created,
                   o.actual_at AS o_actual_at, n.actual_at AS n_actual_at,
                   (o.created_at, o.model_id, o.model_version_id, o.error IS NULL)
                       IS DISTINCT FROM (n.created_at, n.model_id, n.model_version_id, n.error IS NULL) AS p_changed,
                   (o.actual_at, o.actual, o.prediction, o.model_id, o.model_version_id, o.error IS NULL)
                       IS DISTINCT FROM (n.actual_at, n.actual, n.prediction, n.model_id, n.model_version_id,
                                         n.error IS NULL) AS o_changed
            FROM old_rows o JOIN new_rows n ON n.id = o.id)
        SELECT tenant_id, 'predictions', (o_created AT TIME ZONE 'UTC')::date FROM changed WHERE p_changed
        UNION SELECT tenant_id, 'predictions', (n_created AT TIME ZONE 'UTC')::date FROM changed WHERE p_changed
        UNION SELECT tenant_id, 'outcomes', (o_actual_at AT TIME ZONE 'UTC')::date FROM changed
              WHERE o_changed AND o_actual_at IS NOT NULL
        UNION SELECT tenant_id, 'outcomes', (n_actual_at AT TIME ZONE 'UTC')::date FROM changed
              WHERE o_changed AND n_actual_at IS NOT NULL;
    END IF;
    RETURN NULL;
END $$
"""

MARK_ANOMALIES = """
CREATE OR REPLACE FUNCTION aihub_rollup_mark_anomalies() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_marks (tenant_id, kind, day) SELECT DISTINCT tenant_id, 'anomalies', ts::date FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_marks (tenant_id, kind, day) SELECT DISTINCT tenant_id, 'anomalies', ts::date FROM old_rows;
    ELSE
        INSERT INTO rollup_marks (tenant_id, kind, day)
        WITH changed AS (
            SELECT o.tenant_id, o.ts AS o_ts, n.ts AS n_ts FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.ts, o.metric, o.severity, o.status) IS DISTINCT FROM (n.ts, n.metric, n.severity, n.status))
        SELECT tenant_id, 'anomalies', o_ts::date FROM changed
        UNION SELECT tenant_id, 'anomalies', n_ts::date FROM changed;
    END IF;
    RETURN NULL;
END $$
"""


def _triggers(table: str, function: str) -> list[str]:
    events = {"ins": ("INSERT", "NEW TABLE AS new_rows"), "upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
              "del": ("DELETE", "OLD TABLE AS old_rows")}
    return [f"CREATE TRIGGER {table}_rollup_{k} AFTER {event} ON {table} REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()" for k, (event, tables) in events.items()]


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"),
                                   ondelete="CASCADE")


def _model_fks(table: str) -> list[sa.ForeignKeyConstraint]:
    return [sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f(f"fk_{table}_model_id_models"),
                                    ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"],
                                    name=op.f(f"fk_{table}_model_version_id_model_versions"), ondelete="CASCADE")]


def upgrade() -> None:
    op.create_table(
        "rollup_marks",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _tenant_fk("rollup_marks"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_rollup_marks")),
    )
    op.create_table(
        "prediction_daily",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        _tenant_fk("prediction_daily"), *_model_fks("prediction_daily"),
        sa.PrimaryKeyConstraint("tenant_id", "day", "model_id", "model_version_id", name=op.f("pk_prediction_daily")),
    )
    op.create_table(
        "outcome_daily",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", sa.BigInteger(), nullable=False),
        sa.Column("correct", sa.BigInteger(), nullable=False),
        sa.Column("abs_error_sum", sa.Float(), nullable=False),
        sa.Column("abs_error_n", sa.BigInteger(), nullable=False),
        _tenant_fk("outcome_daily"), *_model_fks("outcome_daily"),
        sa.PrimaryKeyConstraint("tenant_id", "day", "model_id", "model_version_id", name=op.f("pk_outcome_daily")),
    )
    op.create_table(
        "anomaly_daily",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("anomalies", sa.BigInteger(), nullable=False),
        _tenant_fk("anomaly_daily"),
        sa.PrimaryKeyConstraint("tenant_id", "day", "metric", "severity", "status", name=op.f("pk_anomaly_daily")),
    )
    for table in TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)
    op.execute(MARK_PREDICTIONS)
    op.execute(MARK_ANOMALIES)
    for stmt in _triggers("prediction_results", "aihub_rollup_mark_predictions"):
        op.execute(stmt)
    for stmt in _triggers("anomalies", "aihub_rollup_mark_anomalies"):
        op.execute(stmt)
    # Existing rows: mark their days so the first rollup step builds them (the owner migrates, past RLS).
    op.execute(f"""
        INSERT INTO rollup_marks (tenant_id, kind, day)
        SELECT DISTINCT tenant_id, 'predictions', {_P_DAY} FROM prediction_results
        UNION SELECT DISTINCT tenant_id, 'outcomes', {_O_DAY} FROM prediction_results WHERE actual_at IS NOT NULL
        UNION SELECT DISTINCT tenant_id, 'anomalies', ts::date FROM anomalies""")


def downgrade() -> None:
    for table in ("prediction_results", "anomalies"):
        for suffix in ("ins", "upd", "del"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_rollup_{suffix} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS aihub_rollup_mark_predictions()")
    op.execute("DROP FUNCTION IF EXISTS aihub_rollup_mark_anomalies()")
    for table in reversed(TABLES):
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
        op.drop_table(table)
