"""SQL of the dashboard: one aggregate per table over its indexed range, within the session's tenant.

Every function takes a tenant-bound session (:func:`aihub.db.session.tenant_session`);
row-level security limits each query to that tenant. Date bounds are bound as
date-times of the column's own type (see :func:`_range`), so the tenant-leading
indexes stay usable under row-level security. Rows come back as tuples; the
dashboard service (:mod:`aihub.services.dashboard`) shapes them.

Predictions, outcomes and anomalies are read from daily rollups
(``prediction_daily``, ``outcome_daily``, ``anomaly_daily``; migration 0021):
the rollup rows of clean days plus the raw rows of days still marked in
``rollup_marks`` (written by triggers on every insert, update and delete), in
one statement and so one snapshot. The figures equal the raw aggregate at any
moment; :func:`refresh_rollups` (the worker, every minute) keeps the raw part
small. Days are UTC days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.models import Dataset, Model, TrainingJob

#: SQL of a model's type: the business type of a predictive model (``churn_prediction``), else its task
#: (``classification``), else its kind (``forecast``).
MODEL_TYPE_SQL = ("COALESCE(NULLIF(m.config -> 'training' ->> 'model_type', ''), NULLIF(m.config ->> 'model_type', ''), "
                  "NULLIF(m.config -> 'training' ->> 'task', ''), m.kind)")
_NUMERIC_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
#: Per group of rows with an outcome: outcomes, correct ones (case and spaces ignored), and the sum and count of
#: absolute errors where both the outcome and the prediction are numbers.
_ABS_ERROR = (f"abs(CASE WHEN p.actual ~ '{_NUMERIC_RE}' AND p.prediction ~ '{_NUMERIC_RE}' "
              "THEN p.actual::float8 - p.prediction::float8 END)")
OUTCOME_SUMS = (f"count(*) AS outcomes, count(*) FILTER (WHERE lower(btrim(p.actual)) = lower(btrim(p.prediction))) "
                f"AS correct, coalesce(sum({_ABS_ERROR}), 0) AS abs_error_sum, count({_ABS_ERROR}) AS abs_error_n")


def _range(days: tuple[date | None, date | None], column: str, params: dict[str, Any], *, aware: bool = True) -> str:
    """``column`` within ``days`` (first and last day, inclusive), as bound date-times of the column's own type.

    The bounds must be ``timestamptz`` for ``timestamptz`` columns (UTC
    midnights) and ``timestamp`` for naive ones: comparing a timestamp with a
    ``date`` uses a cross-type operator that PostgreSQL does not mark
    leakproof, and under row-level security such a condition may not be used
    as an index condition (the planner then reads every row of the tenant:
    300 ms instead of 0.1 ms for the latest anomalies of 100k).
    """
    def bound(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=UTC if aware else None)

    first, last = days
    parts = []
    suffix = "a" if aware else "n"
    if first is not None:
        parts.append(f"{column} >= :d0{suffix}")
        params[f"d0{suffix}"] = bound(first)
    if last is not None:
        parts.append(f"{column} < :d1{suffix}")
        params[f"d1{suffix}"] = bound(last + timedelta(days=1))
    return " AND ".join(parts) or "TRUE"


# ------------------------------------------------------------------ session settings
def without_jit(s: Session) -> None:
    """Turn PostgreSQL's JIT compilation off for the rest of the session's transaction (``jit = off``, local).

    The raw part of each rollup read (:func:`prediction_volume`,
    :func:`outcome_accuracy`, :func:`anomalies`) joins the marked days with
    their rows. A marked day's bounds are unknown when the statement is
    planned, so the planner estimates a range's default share of the table:
    1.1 million of 10 million predictions for the 22,597 it then reads. The
    plan's cost passes ``jit_above_cost`` (100,000) and the optimisation and
    inlining thresholds, and PostgreSQL compiles the plan with LLVM before it
    runs: 1.65 s of compilation for 0.13 s of execution at 10 million
    predictions (``EXPLAIN ANALYZE`` on the 10M database of
    ``benchmarks/dashboard_load.py``), even when no day is marked and the
    join reads nothing. These reads touch rollup rows and a few days of raw
    rows by index; compilation cannot pay back. Source: PostgreSQL manual,
    "JIT Accelerated Operations" (when to JIT) and the ``jit`` setting.
    """
    s.execute(sa.text("SELECT set_config('jit', 'off', true)"))


# ------------------------------------------------------------------ summary (three counts)
def summary_counts(s: Session) -> tuple[int, int, int, dict[str, int]]:
    """``(datasets, models with a deployed version, models without, training jobs by status)``."""
    n_datasets = s.scalar(sa.select(sa.func.count()).select_from(Dataset)) or 0
    active, inactive = s.execute(
        sa.select(
            sa.func.count().filter(Model.active_version_id.is_not(None)),
            sa.func.count().filter(Model.active_version_id.is_(None)),
        )
    ).one()
    by_status = dict(s.execute(sa.select(TrainingJob.status, sa.func.count())
                               .where(TrainingJob.model_id.is_not(None)).group_by(TrainingJob.status)).all())
    return n_datasets, active, inactive, by_status


# ------------------------------------------------------------------ filter choices
#: The tenant's anomaly metrics in order, one ``(tenant_id, metric)`` index probe per metric (a skip scan: a
#: recursive CTE asks for the next metric after the last one). ``SELECT DISTINCT metric`` read every index entry
#: of the tenant's anomalies instead, linear in the anomalies. ``metric > m.metric`` (``text_gt``) is leakproof,
#: so it is an index condition under row-level security.
DISTINCT_METRICS = """
    WITH RECURSIVE m AS (
        (SELECT a.metric FROM anomalies a ORDER BY a.metric LIMIT 1)
        UNION ALL
        SELECT (SELECT a.metric FROM anomalies a WHERE a.metric > m.metric ORDER BY a.metric LIMIT 1)
        FROM m WHERE m.metric IS NOT NULL)
    SELECT metric FROM m WHERE metric IS NOT NULL"""


def filter_choices(s: Session) -> tuple[list[str], list[str], date | None, date | None]:
    """``(model types, anomaly metrics, first day, last day)`` with any activity; each bound is an index lookup.

    The span covers predictions and their outcomes, anomalies (their period),
    usage events, deployments and training jobs.
    """
    types = [r[0] for r in s.execute(sa.text(f"SELECT DISTINCT {MODEL_TYPE_SQL} FROM models m ORDER BY 1"))]
    metrics = list(s.scalars(sa.text(DISTINCT_METRICS)))
    lo, hi = s.execute(sa.text("""
        SELECT least((SELECT min(created_at) FROM prediction_results)::date, (SELECT min(ts) FROM anomalies)::date,
                     (SELECT min(created_at) FROM usage_events)::date, (SELECT min(created_at) FROM deployments)::date,
                     (SELECT min(queued_at) FROM training_jobs)::date),
               greatest((SELECT max(created_at) FROM prediction_results)::date,
                        (SELECT max(ts) FROM anomalies)::date, (SELECT max(created_at) FROM usage_events)::date,
                        (SELECT max(created_at) FROM deployments)::date, (SELECT max(queued_at) FROM training_jobs)::date,
                        (SELECT max(actual_at) FROM prediction_results
                         WHERE actual IS NOT NULL AND error IS NULL)::date)
    """)).one()
    return types, metrics, lo, hi


# ------------------------------------------------------------------ models and predictions
def models_with_versions(s: Session) -> list[tuple]:
    """``(id, name, type, active version id, version, metrics, task, deployed at)`` of every model, by name."""
    return s.execute(sa.text(f"""
        SELECT m.id, m.name, {MODEL_TYPE_SQL} AS mtype, m.active_version_id, v.version, v.metrics,
               v.params ->> 'task', (SELECT max(d.created_at) FROM deployments d
                                     WHERE d.model_id = m.id AND d.model_version_id = m.active_version_id)
        FROM models m LEFT JOIN model_versions v ON v.id = m.active_version_id
        ORDER BY m.name
    """)).all()


def _by_model(model_ids: list[int] | None, params: dict[str, Any]) -> str:
    if model_ids is None:
        return "TRUE"
    params["ids"] = list(model_ids)
    return "p.model_id = ANY(:ids)"


def _day_range(days: tuple[date | None, date | None], column: str, params: dict[str, Any]) -> str:
    """``column`` (a date) within ``days``, inclusive; ``date`` comparisons are leakproof (usable under RLS)."""
    first, last = days
    parts = []
    if first is not None:
        parts.append(f"{column} >= :day0")
        params["day0"] = first
    if last is not None:
        parts.append(f"{column} <= :day1")
        params["day1"] = last
    return " AND ".join(parts) or "TRUE"


def _dirty(kind: str, in_range: str) -> str:
    """CTE ``dirty(day, lo, hi)``: the marked days of ``kind`` with their bounds as ``timestamptz`` (UTC midnights)
    and ``timestamp``. MATERIALIZED, so the raw rows are joined on plain columns: under row-level security a join
    condition may drive an index scan only if it applies leakproof operators to Vars, and casts, ``date + 1`` and
    ``AT TIME ZONE`` on the marked day are not leakproof (the planner then scanned every row of the tenant)."""
    return (f"dirty AS MATERIALIZED (SELECT day, day::timestamp AT TIME ZONE 'UTC' AS lo, "
            f"(day + 1)::timestamp AT TIME ZONE 'UTC' AS hi, day::timestamp AS nlo, (day + 1)::timestamp AS nhi "
            f"FROM (SELECT DISTINCT day FROM rollup_marks WHERE kind = '{kind}' AND {in_range}) m)")


def _in_dirty_day(column: str, naive: bool = False) -> str:
    """``column`` within the marked day ``d`` (see :func:`_dirty`)."""
    lo, hi = ("nlo", "nhi") if naive else ("lo", "hi")
    return f"{column} >= d.{lo} AND {column} < d.{hi}"


_PERIOD_UTC = "date_trunc(:unit, day::timestamp) AT TIME ZONE 'UTC'"


def prediction_volume(s: Session, unit: str, days: tuple[date | None, date | None],
                      model_ids: list[int] | None) -> tuple[list[tuple], int]:
    """``([(period, model id, predictions)], failed predictions)`` from ``prediction_daily`` and marked days' raw rows.

    ``model_ids`` None means every model. Periods are UTC (``timestamptz``).
    """
    params: dict[str, Any] = {"unit": unit}
    in_range = _day_range(days, "day", params)
    by_model = _by_model(model_ids, params)
    rows = s.execute(sa.text(f"""
        WITH {_dirty("predictions", in_range)},
        raw AS (
            SELECT (p.created_at AT TIME ZONE 'UTC')::date AS day, p.model_id, count(*) AS n,
                   count(*) FILTER (WHERE p.error IS NOT NULL) AS errors
            FROM dirty d JOIN prediction_results p ON {_in_dirty_day("p.created_at")}
            WHERE {by_model} GROUP BY 1, 2),
        rolled AS (
            SELECT p.day, p.model_id, sum(p.predictions) AS n, sum(p.errors) AS errors FROM prediction_daily p
            WHERE {_day_range(days, "p.day", params)} AND {by_model} AND p.day NOT IN (SELECT day FROM dirty)
            GROUP BY 1, 2),
        both_parts AS (SELECT * FROM raw UNION ALL SELECT * FROM rolled)
        SELECT {_PERIOD_UTC} AS period, model_id, sum(n)::bigint, sum(errors)::bigint
        FROM both_parts GROUP BY 1, 2 ORDER BY 1, 2
    """), params).all()
    return [(period, mid, int(n)) for period, mid, n, _ in rows], sum(int(e) for *_, e in rows)


def outcome_accuracy(s: Session, unit: str, days: tuple[date | None, date | None], model_ids: list[int] | None,
                     mae_versions: list[int]) -> list[tuple]:
    """``(period, model id, version id, outcomes, correct, mean absolute error)`` of predictions with an actual.

    An index-only scan of the covering partial index on rows with an actual;
    the numeric comparison (mean absolute error) only for ``mae_versions``
    (deployed versions whose headline is an error, i.e. regression).
    """
    params: dict[str, Any] = {"unit": unit, "mae_versions": list(mae_versions)}
    in_range = _day_range(days, "day", params)
    by_model = _by_model(model_ids, params)
    return s.execute(sa.text(f"""
        WITH {_dirty("outcomes", in_range)},
        raw AS (
            SELECT (p.actual_at AT TIME ZONE 'UTC')::date AS day, p.model_id, p.model_version_id,
                   {OUTCOME_SUMS}
            FROM dirty d JOIN prediction_results p ON {_in_dirty_day("p.actual_at")}
            WHERE p.actual IS NOT NULL AND p.error IS NULL AND {by_model} GROUP BY 1, 2, 3),
        rolled AS (
            SELECT p.day, p.model_id, p.model_version_id, p.outcomes, p.correct, p.abs_error_sum, p.abs_error_n
            FROM outcome_daily p
            WHERE {_day_range(days, "p.day", params)} AND {by_model} AND p.day NOT IN (SELECT day FROM dirty)),
        both_parts AS (SELECT * FROM raw UNION ALL SELECT * FROM rolled)
        SELECT {_PERIOD_UTC} AS period, model_id, model_version_id, sum(outcomes)::bigint, sum(correct)::bigint,
               CASE WHEN model_version_id = ANY(:mae_versions) AND sum(abs_error_n) > 0
                    THEN sum(abs_error_sum) / sum(abs_error_n) END
        FROM both_parts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """), params).all()


def deployments(s: Session, days: tuple[date | None, date | None], model_ids: list[int] | None) -> list[tuple]:
    """``(at, model, version, action, username)`` of the newest 200 deployments in ``days``."""
    params: dict[str, Any] = {}
    by_model = ""
    if model_ids is not None:
        params["ids"] = list(model_ids)
        by_model = "AND d.model_id = ANY(:ids)"
    return s.execute(sa.text(f"""
        SELECT d.created_at, m.name, v.version, d.action, u.username
        FROM deployments d JOIN models m ON m.id = d.model_id
        JOIN model_versions v ON v.id = d.model_version_id LEFT JOIN users u ON u.id = d.created_by
        WHERE {_range(days, "d.created_at", params)} {by_model}
        ORDER BY d.created_at DESC, d.id DESC LIMIT 200
    """), params).all()


# ------------------------------------------------------------------ anomalies
def _anomaly_where(days: tuple[date | None, date | None], severities: tuple[str, ...], metrics: tuple[str, ...],
                   params: dict[str, Any]) -> str:
    parts = [_range(days, "a.ts", params, aware=False)]
    if severities:
        parts.append("a.severity = ANY(:sev)")
        params["sev"] = list(severities)
    if metrics:
        parts.append("a.metric = ANY(:metrics)")
        params["metrics"] = list(metrics)
    return " AND ".join(parts)


def anomalies(s: Session, unit: str, days: tuple[date | None, date | None], severities: tuple[str, ...],
              metrics: tuple[str, ...]) -> tuple[list[tuple], list[tuple]]:
    """``([(period, severity, status, count)], latest 15 anomalies)`` within the filters (over ``(tenant_id, ts)``).

    A latest anomaly is ``(id, ts, metric, slice, severity, status, impact, monitor name)``.
    """
    params: dict[str, Any] = {"unit": unit}
    where = _anomaly_where(days, severities, metrics, params)
    filters = [_day_range(days, "a.day", params)]
    if severities:
        filters.append("a.severity = ANY(:sev)")
    if metrics:
        filters.append("a.metric = ANY(:metrics)")
    agg = s.execute(sa.text(f"""
        WITH {_dirty("anomalies", _day_range(days, "day", params))},
        raw AS (
            SELECT a.ts::date AS day, a.severity, a.status, count(*) AS n
            FROM dirty d JOIN anomalies a ON {_in_dirty_day("a.ts", naive=True)}
            WHERE {where} GROUP BY 1, 2, 3),
        rolled AS (
            SELECT a.day, a.severity, a.status, sum(a.anomalies) AS n FROM anomaly_daily a
            WHERE {" AND ".join(filters)} AND a.day NOT IN (SELECT day FROM dirty) GROUP BY 1, 2, 3),
        both_parts AS (SELECT * FROM raw UNION ALL SELECT * FROM rolled)
        SELECT date_trunc(:unit, day::timestamp) AS period, severity, status, sum(n)::bigint
        FROM both_parts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """), params).all()
    latest = s.execute(sa.text(f"""
        SELECT a.id, a.ts, a.metric, a.slice, a.severity, a.status, a.impact, mo.name
        FROM anomalies a JOIN monitors mo ON mo.id = a.monitor_id
        WHERE {where} ORDER BY a.ts DESC, a.id DESC LIMIT 15
    """), params).all()
    return agg, latest


# ------------------------------------------------------------------ sources, datasets, insights
def data_counts(s: Session, open_statuses: tuple[str, ...]) -> tuple[int, int, int, dict[str, int]]:
    """``(enabled sources, sources, datasets, open valid insights by priority)``."""
    src_active, src_all = s.execute(sa.text(
        "SELECT count(*) FILTER (WHERE enabled), count(*) FROM data_sources")).one()
    n_datasets = s.scalar(sa.text("SELECT count(*) FROM datasets")) or 0
    insights = dict(s.execute(sa.text("""
        SELECT priority, count(*) FROM insights
        WHERE status = ANY(:open) AND valid_until > now() GROUP BY priority
    """), {"open": list(open_statuses)}).all())
    return int(src_active or 0), int(src_all or 0), int(n_datasets), {k: int(v) for k, v in insights.items()}


# ------------------------------------------------------------------ usage of the AI features
def usage(s: Session, unit: str, days: tuple[date | None, date | None]) -> tuple[list[tuple], list[tuple], int]:
    """``([(period, feature, events, users)], [(feature, events, users)], distinct users)`` within ``days``."""
    params: dict[str, Any] = {"unit": unit}
    where = _range(days, "e.created_at", params)
    by_period = s.execute(sa.text(f"""
        SELECT date_trunc(:unit, e.created_at) AS period, e.feature, count(*), count(DISTINCT e.user_id)
        FROM usage_events e WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2
    """), params).all()
    by_feature = s.execute(sa.text(f"""
        SELECT e.feature, count(*), count(DISTINCT e.user_id) FROM usage_events e WHERE {where}
        GROUP BY 1 ORDER BY 2 DESC, 1
    """), params).all()
    users = s.scalar(sa.text(f"SELECT count(DISTINCT e.user_id) FROM usage_events e WHERE {where}"), params) or 0
    return by_period, by_feature, int(users)


# ------------------------------------------------------------------ rollup maintenance (the worker)
def refresh_rollups(s: Session) -> dict[str, int]:
    """Recompute the rollup rows of every day marked in ``rollup_marks`` for the session's tenant.

    Takes (deletes) the marks committed so far, then rebuilds those days of
    ``prediction_daily``, ``outcome_daily`` and ``anomaly_daily`` from the raw
    rows, in the caller's transaction. A mark committed after this
    statement's snapshot stays for the next call, so a row that arrives
    meanwhile (late or not) is never lost. A per-tenant advisory lock keeps
    two workers from rebuilding the same tenant at once.

    Returns
    -------
    dict of str to int
        Days recomputed per kind (``predictions``, ``outcomes``, ``anomalies``).
    """
    s.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended("
                      "'aihub.rollups:' || current_setting('app.tenant_id', true), 0))"))
    taken = s.execute(sa.text("DELETE FROM rollup_marks RETURNING kind, day")).all()
    days: dict[str, set[date]] = {}
    for kind, day in taken:
        days.setdefault(kind, set()).add(day)
    for kind, sql in _REBUILD.items():
        for first, last in _runs(days.get(kind, set())):
            bounds = {"d0": first, "d1": last, **_bounds(first, last)}
            s.execute(sa.text(f"DELETE FROM {_ROLLUP_TABLE[kind]} WHERE day >= :d0 AND day <= :d1"), bounds)
            s.execute(sa.text(sql), bounds)
    fold_anomaly_counts(s)
    return {kind: len(days.get(kind, ())) for kind in _REBUILD}


def fold_anomaly_counts(s: Session) -> int:
    """Fold the committed ``anomaly_count_deltas`` of the session's tenant into ``anomaly_counts`` and
    ``anomaly_close_hist`` (migration 0028); return how many delta rows were folded.

    Runs inside :func:`refresh_rollups` (its per-tenant advisory lock keeps two
    workers from folding the same tenant at once). The deltas are deleted and
    added in one statement, so a reader sees them either as deltas or folded,
    never both or neither; a delta committed after the statement's snapshot
    stays for the next step. Counts that reach zero are removed.
    """
    n = s.execute(sa.text("""
        WITH taken AS (DELETE FROM anomaly_count_deltas RETURNING tenant_id, monitor_id, severity, status, bucket, n),
        counts AS (
            INSERT INTO anomaly_counts AS c (tenant_id, monitor_id, severity, status, n)
            SELECT tenant_id, monitor_id, severity, status, sum(n) FROM taken GROUP BY 1, 2, 3, 4
            ON CONFLICT (tenant_id, monitor_id, severity, status) DO UPDATE SET n = c.n + EXCLUDED.n
            RETURNING 1),
        hist AS (
            INSERT INTO anomaly_close_hist AS h (tenant_id, bucket, n)
            SELECT tenant_id, bucket, sum(n) FROM taken WHERE bucket >= 0 GROUP BY 1, 2
            ON CONFLICT (tenant_id, bucket) DO UPDATE SET n = h.n + EXCLUDED.n
            RETURNING 1)
        SELECT count(*) FROM taken  -- the inserts run to completion unread (PostgreSQL: data-modifying WITH)
    """)).scalar_one()
    s.execute(sa.text("DELETE FROM anomaly_counts WHERE n = 0"))
    s.execute(sa.text("DELETE FROM anomaly_close_hist WHERE n = 0"))
    return int(n)


def _runs(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days as ``(first, last)`` runs: one range scan each (one day is an index range, a whole
    history one sequential scan), with the bounds bound as values so the planner sees how wide the range is."""
    runs: list[list[date]] = []
    for d in sorted(days):
        if runs and d == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return [(a, b) for a, b in runs]


def _bounds(first: date, last: date) -> dict[str, datetime]:
    end = last + timedelta(days=1)
    return {"lo": datetime(first.year, first.month, first.day, tzinfo=UTC),
            "hi": datetime(end.year, end.month, end.day, tzinfo=UTC),
            "nlo": datetime(first.year, first.month, first.day), "nhi": datetime(end.year, end.month, end.day)}


_ROLLUP_TABLE = {"predictions": "prediction_daily", "outcomes": "outcome_daily", "anomalies": "anomaly_daily"}
_REBUILD = {
    "predictions": """
        INSERT INTO prediction_daily (tenant_id, day, model_id, model_version_id, predictions, errors)
        SELECT p.tenant_id, (p.created_at AT TIME ZONE 'UTC')::date, p.model_id, p.model_version_id, count(*),
               count(*) FILTER (WHERE p.error IS NOT NULL)
        FROM prediction_results p WHERE p.created_at >= :lo AND p.created_at < :hi
        GROUP BY 1, 2, 3, 4""",
    "outcomes": f"""
        INSERT INTO outcome_daily (tenant_id, day, model_id, model_version_id, outcomes, correct, abs_error_sum,
                                   abs_error_n)
        SELECT p.tenant_id, (p.actual_at AT TIME ZONE 'UTC')::date, p.model_id, p.model_version_id, {OUTCOME_SUMS}
        FROM prediction_results p
        WHERE p.actual IS NOT NULL AND p.error IS NULL AND p.actual_at >= :lo AND p.actual_at < :hi
        GROUP BY 1, 2, 3, 4""",
    "anomalies": """
        INSERT INTO anomaly_daily (tenant_id, day, metric, severity, status, anomalies)
        SELECT a.tenant_id, a.ts::date, a.metric, a.severity, a.status, count(*)
        FROM anomalies a WHERE a.ts >= :nlo AND a.ts < :nhi
        GROUP BY 1, 2, 3, 4, 5""",
}


def tenants_with_marks(s: Session) -> list[int]:
    """Tenants with days to roll up or anomaly counts to fold (an owner session: reads across tenants; see
    :mod:`aihub.db.owner_scans`)."""
    return [int(t) for t in s.scalars(sa.text(
        "SELECT tenant_id FROM rollup_marks UNION SELECT tenant_id FROM anomaly_count_deltas ORDER BY 1"))]
