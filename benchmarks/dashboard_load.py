"""Benchmark: the dashboard on a big tenant against the demo tenant.

What it does
------------
1. Creates a fresh database (on the PostgreSQL server at 127.0.0.1:5432 by
   default, or ``--embedded`` for a throw-away embedded cluster), migrates it
   and creates the app role, exactly as ``make run`` does; drops it at the end
   (``--keep`` keeps it).
2. Seeds the demo tenant with :func:`aihub.demo.seed_demo` (generated orders,
   a run revenue monitor, a trained forecast and churn model, its insights).
3. Fills a second tenant, "Bench big", with 10,000,000 prediction rows (10%
   with a recorded outcome) over 180 days for 6 deployed models, 100,000
   anomalies over 5 monitors (half of them closed, up to two weeks after
   detection), 1,000 insights, 20,000 usage events and a few
   deployments. **The fill bypasses the app**: it runs set-based ``INSERT ...
   SELECT FROM generate_series(...)`` statements as the database owner (the app
   role would take minutes row by row), then ``VACUUM ANALYZE`` so the planner
   has statistics and the visibility map allows index-only scans, as
   autovacuum would after a real load. Only the filling bypasses the app.
   The predictions go in chunks of 1,000,000 rows per statement with the
   table's secondary indexes dropped and rebuilt after (the manual's bulk-load
   advice; 1M-row chunks took about 2.5 min each at 10M with them); the rollup
   triggers mark the days they touch, then the worker's rollup step
   (:func:`aihub.services.dashboard.refresh_rollups`, as the app role) builds
   the daily rollups; its time is printed. ``--keep`` keeps the filled
   database and ``--reuse DATABASE`` times a kept one without filling again
   (the fill of 10 million rows takes most of a run).
4. Times the rollup step twice more: a **full rebuild** (every day of the
   tenant's rollups marked again, then the step) and an **incremental** one
   (``--increment`` new predictions within the last hour, 10% with an
   outcome, inserted in one statement so the triggers mark today, then the
   step). The load average is printed with them: the machine may be shared.
5. Times, for both tenants, each dashboard query through :mod:`aihub.services.dashboard`
   as the app role under row-level security (first call, then median and
   maximum of the next ``--repeat``), and the page render with Streamlit's AppTest of
   ``app_pages/dashboard.py`` (run through ``streamlit_app.py``, whose default page
   it is, with the tenant's admin as the logged-in principal): first render
   with empty caches, then the median of cached re-renders, which is what a
   user sees after the first load.
6. **Same-run baseline**: the raw aggregates the dashboard ran before the
   rollups (:data:`RAW_QUERIES`: predictions per period and model, failed
   predictions, outcomes per period and version, anomalies per period,
   severity and status over every row of the range), timed as the app role
   under row-level security next to the rollup reads, all rolled up and with
   today's day still marked (a prediction arrived since the last rollup step:
   that day is read raw). Next to ``anomaly_summary``: ``anomaly_stats`` as it
   was before migration 0028 (three aggregates over every anomaly row) and a
   plain ``SELECT count(*)`` of the same rows (:data:`ANOMALY_BASELINE`).
   ``--explain`` also prints the plan of ``anomaly_stats``' median query.

Figures only, no pass/fail asserts. Usage::

    python benchmarks/dashboard_load.py [--embedded] [--predictions 10000000] [--anomalies 100000]
        [--insights 1000] [--increment 10000] [--repeat 5] [--raw-repeat 2] [--keep] [--reuse DATABASE] [--explain]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa
from sqlalchemy.engine import make_url

SERVER_URL = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BIG_TENANT = "Bench big"
CHUNK = 1_000_000
PASSWORD = "bench-password"


# ---------------------------------------------------------------------------- database
def open_database(embedded: bool, reuse: str | None = None):
    """A fresh migrated database (or the kept database ``reuse``) installed as the process-wide one;
    returns (db, cleanup)."""
    data_dir = Path(tempfile.mkdtemp(prefix="aihub-bench-"))
    data_dir.chmod(0o755)
    os.environ["AIHUB_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("AIHUB_DEMO", "1")
    from aihub.config import load_settings
    from aihub.db import engine as dbengine

    name = None
    if embedded:
        owner = dbengine.start_embedded(data_dir)
    else:
        name = reuse or f"aihub_bench_{uuid.uuid4().hex[:8]}"
        owner = make_url(SERVER_URL).set(database=name)
        dbengine.ensure_database(owner)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    owner_url, app_url = dbengine.bootstrap(load_settings())
    db = dbengine.Database(owner_url, app_url)
    dbengine.set_database(db)

    def cleanup(keep: bool) -> None:
        dbengine.set_database(None)
        db.dispose()
        if embedded:
            dbengine.stop_embedded(data_dir)
        elif not keep:
            admin = sa.create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        if keep:
            print(f"kept the database: {owner.render_as_string(hide_password=True)} (data folder {data_dir})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    return db, cleanup


# ---------------------------------------------------------------------------- filling (owner, set-based)
FILL = [
    # predictive models of six types with a deployed version each
    ("models", """
        INSERT INTO models (tenant_id, name, kind, config)
        SELECT :t, 'Model ' || g, 'ml',
               jsonb_build_object('model_type', (ARRAY['churn_prediction','lead_scoring','fraud_detection',
                                  'customer_lifetime_value','demand', 'price'])[g])
        FROM generate_series(1, 6) g"""),
    ("model_versions", """
        INSERT INTO model_versions (tenant_id, model_id, version, algorithm, params, metrics, training_data_hash,
                                    library_versions, artifact_format, artifact, training_seconds)
        SELECT :t, m.id, 1, 'random_forest',
               jsonb_build_object('task', CASE WHEN m.config ->> 'model_type' IN ('customer_lifetime_value', 'demand', 'price')
                                               THEN 'regression' ELSE 'classification' END),
               jsonb_build_object('accuracy', 0.8 + random() / 10, 'mae', 10 * random(), 'mape', random() / 5),
               md5(m.id::text), '{}'::jsonb, 'bench', ''::bytea, 1.0
        FROM models m WHERE m.tenant_id = :t"""),
    ("activate", """
        UPDATE models m SET active_version_id = v.id FROM model_versions v
        WHERE v.model_id = m.id AND m.tenant_id = :t"""),
    ("deployments", """
        INSERT INTO deployments (tenant_id, model_id, model_version_id, action, created_at)
        SELECT :t, m.id, m.active_version_id, 'deploy', now() - interval '170 days' + m.id % 7 * interval '9 days'
        FROM models m WHERE m.tenant_id = :t"""),
    ("prediction_results", """
        INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, input, input_hash, output,
                                        prediction, probability, confidence, latency_ms, error, created_at, actual,
                                        actual_at)
        SELECT :t, m.id, m.active_version_id, 'champion', jsonb_build_object('x', g % 1000), md5(g::text),
               '{}'::jsonb, CASE WHEN g % 3 = 0 THEN 'Yes' ELSE 'No' END, (g % 100) / 100.0, 0.7, 2.5,
               CASE WHEN g % 997 = 0 THEN 'bad row' END, ts,
               CASE WHEN g % 10 = 0 THEN CASE WHEN g % 7 = 0 THEN 'Yes' ELSE 'No' END END,
               CASE WHEN g % 10 = 0 THEN ts + interval '1 day' END
        FROM generate_series(:g0, :g1) g
        JOIN LATERAL (SELECT now() - (g % 180) * interval '1 day' - (g % 86400) * interval '1 second' AS ts) t ON TRUE
        JOIN (SELECT id, active_version_id, row_number() OVER (ORDER BY id) - 1 AS k
              FROM models WHERE tenant_id = :t) m ON m.k = g % 6"""),
    ("monitors", """
        INSERT INTO monitors (tenant_id, name, config)
        SELECT :t, 'Monitor ' || g, '{}'::jsonb FROM generate_series(1, 5) g"""),
    ("anomalies", """
        INSERT INTO anomalies (tenant_id, monitor_id, metric, slice, ts, actual, expected, lower, upper, score,
                               severity, impact, root_cause, snapshot, status, resolved_at)
        SELECT :t, mo.id, (ARRAY['daily_revenue', 'transaction_count', 'average_order_value'])[1 + g % 3],
               'Region=R' || (g / 20000), timestamp '2026-06-01' - (g % 20000) * interval '1 hour',
               100, 120, 110, 130, 0.5 + (g % 50) / 100.0,
               (ARRAY['low', 'low', 'medium', 'medium', 'high', 'critical'])[1 + g % 7 % 6], -(g % 5000)::float8,
               '{}'::jsonb, '[]'::jsonb,
               (ARRAY['new', 'acknowledged', 'investigating', 'resolved', 'resolved', 'false_positive'])[1 + g % 6],
               CASE WHEN g % 6 >= 3 THEN now() + (g::bigint * 7919 % 1209600) * interval '1 second' END
        FROM generate_series(1, :n_anom) g
        JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM monitors WHERE tenant_id = :t) mo
          ON mo.k = g % 5"""),
    ("insights", """
        INSERT INTO insights (tenant_id, type, category, priority, score, confidence, title, narrative,
                              recommended_actions, evidence, figures, fingerprint, status, valid_from, valid_until)
        SELECT :t, (ARRAY['trend', 'drivers', 'concentration', 'anomaly_digest'])[1 + g % 4],
               (ARRAY['sales', 'customer', 'operations', 'finance'])[1 + g % 4],
               (ARRAY['low', 'medium', 'high', 'critical'])[1 + g % 4], g % 100, 0.9, 'Insight ' || g,
               'Narrative ' || g, '["act"]'::jsonb, '[]'::jsonb, '{}'::jsonb, md5('ins' || g),
               (ARRAY['new', 'acknowledged', 'in_progress', 'implemented', 'dismissed'])[1 + g % 5],
               now() - interval '10 days', now() + (g % 60 - 10) * interval '1 day'
        FROM generate_series(1, :n_ins) g"""),
    ("usage_events", """
        INSERT INTO usage_events (tenant_id, user_id, feature, action, created_at)
        SELECT :t, u.id, (ARRAY['data', 'train', 'predict', 'detect', 'insights', 'workflows'])[1 + g % 6], 'use',
               now() - (g % 180) * interval '1 day'
        FROM generate_series(1, :n_usage) g CROSS JOIN LATERAL (SELECT id FROM users WHERE tenant_id = :t LIMIT 1) u"""),
]


def drop_secondary_indexes(db, table: str) -> list[str]:
    """Drop ``table``'s indexes that back no constraint; return their ``CREATE INDEX`` statements.

    Bulk-load practice (PostgreSQL manual, "Populating a Database": remove
    indexes, load, recreate): building an index once over 10 million rows is
    far cheaper than 10 million random insertions into it (the md5
    ``input_hash`` index above all, once it outgrows shared buffers). The
    recreated indexes are the migrations' own definitions, read back from the
    catalogue.
    """
    with db.owner.begin() as conn:
        defs = conn.execute(sa.text("""
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid = CAST(:t AS regclass)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1"""), {"t": table}).all()
        for name, _ in defs:
            conn.execute(sa.text(f"DROP INDEX {name}"))
    return [ddl for _, ddl in defs]


def fill_big_tenant(db, args) -> object:
    from aihub import auth

    admin = auth.create_tenant(BIG_TENANT, "admin@bench-big.example.com", PASSWORD)
    params = {"t": admin.tenant_id, "n_pred": args.predictions, "n_anom": args.anomalies, "n_ins": args.insights,
              "n_usage": args.usage}
    print(f"filling tenant '{BIG_TENANT}' as the owner (set-based SQL; bypasses the app for filling only)")
    for label, sql in FILL:
        chunks = [(lo, min(lo + CHUNK - 1, args.predictions)) for lo in range(1, args.predictions + 1, CHUNK)] \
            if label == "prediction_results" else [(0, 0)]
        dropped = drop_secondary_indexes(db, "prediction_results") if label == "prediction_results" else []
        t0 = time.perf_counter()
        n = 0
        for g0, g1 in chunks:  # one transaction per chunk: bounded transition tables and WAL per statement
            with db.owner.begin() as conn:
                conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(admin.tenant_id)})
                n += conn.execute(sa.text(sql), {**params, "g0": g0, "g1": g1}).rowcount
        print(f"  {label:<20} {n:>10,} rows  {time.perf_counter() - t0:6.1f} s")
        if dropped:
            t0 = time.perf_counter()
            with db.owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
                for ddl in dropped:
                    conn.execute(sa.text(ddl))
            print(f"  {'  its ' + str(len(dropped)) + ' indexes':<20} {'rebuilt':>10}       "
                  f"{time.perf_counter() - t0:6.1f} s")
    t0 = time.perf_counter()
    with db.owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("models", "model_versions", "deployments", "prediction_results", "monitors", "anomalies",
                      "insights", "usage_events", "rollup_marks"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    print(f"  {'VACUUM ANALYZE':<20} {'':>10}       {time.perf_counter() - t0:6.1f} s")
    return admin


def build_rollups(db, tenant_id: int) -> None:
    """The worker's rollup step for the big tenant (as the app role), timed; then ANALYZE of the rollup tables."""
    from aihub.services import dashboard

    t0 = time.perf_counter()
    days = dashboard.refresh_rollups(tenant_id)
    print(f"  {'rollup step':<20} {sum(days.values()):>10,} days  {time.perf_counter() - t0:6.1f} s  "
          f"(predictions {days['predictions']}, outcomes {days['outcomes']}, anomalies {days['anomalies']} days)")
    with db.owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("prediction_daily", "outcome_daily", "anomaly_daily", "rollup_marks"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))


def time_full_rebuild(db, tenant_id: int) -> tuple[float, dict[str, int]]:
    """Every day of the tenant's rollups marked again (as the owner), then the worker's rollup step, timed:
    the cost of rebuilding a whole history (after a restore, or the first step after migration 0021)."""
    from aihub.services import dashboard

    with db.owner.begin() as conn:
        for kind, table in (("predictions", "prediction_daily"), ("outcomes", "outcome_daily"),
                            ("anomalies", "anomaly_daily")):
            conn.execute(sa.text(f"INSERT INTO rollup_marks (tenant_id, kind, day) SELECT DISTINCT tenant_id, "
                                 f":k, day FROM {table} WHERE tenant_id = :t"), {"k": kind, "t": tenant_id})
    t0 = time.perf_counter()
    days = dashboard.refresh_rollups(tenant_id)
    return time.perf_counter() - t0, days


#: ``:n`` predictions within the last hour (10% with an outcome recorded now), as the owner: an incremental load.
INCREMENT = """
    INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, input, input_hash, output,
                                    prediction, probability, confidence, latency_ms, error, created_at, actual,
                                    actual_at)
    SELECT :t, m.id, m.active_version_id, 'champion', jsonb_build_object('x', g % 1000), md5('inc' || g),
           '{}'::jsonb, CASE WHEN g % 3 = 0 THEN 'Yes' ELSE 'No' END, (g % 100) / 100.0, 0.7, 2.5,
           CASE WHEN g % 997 = 0 THEN 'bad row' END, now() - (g % 3600) * interval '1 second',
           CASE WHEN g % 10 = 0 THEN 'Yes' END, CASE WHEN g % 10 = 0 THEN now() END
    FROM generate_series(1, :n) g
    JOIN (SELECT id, active_version_id, row_number() OVER (ORDER BY id) - 1 AS k
          FROM models WHERE tenant_id = :t AND active_version_id IS NOT NULL) m ON m.k = g % 6"""


def time_incremental(db, tenant_id: int, n: int) -> tuple[float, float, dict[str, int]]:
    """``n`` new predictions on today's day (one statement as the owner; the triggers mark the day), then the
    worker's rollup step, timed: ``(insert seconds, rollup step seconds, days rebuilt)``."""
    from aihub.services import dashboard

    t0 = time.perf_counter()
    with db.owner.begin() as conn:
        conn.execute(sa.text(INCREMENT), {"t": tenant_id, "n": n})
    inserted = time.perf_counter() - t0
    t0 = time.perf_counter()
    days = dashboard.refresh_rollups(tenant_id)
    return inserted, time.perf_counter() - t0, days


def mark_today(tenant_id: int) -> None:
    """One prediction arrives after the rollup step (as the app role): today is marked, so read raw. And the 1,000
    newest anomalies are triaged (closed, reopened): their count deltas wait for the next step, so read with them
    (and their days are marked too)."""
    from aihub.db.session import tenant_session

    with tenant_session(tenant_id) as s:
        s.execute(sa.text("""
            UPDATE anomalies SET status = CASE WHEN resolved_at IS NULL THEN 'resolved' ELSE 'acknowledged' END,
                                 resolved_at = CASE WHEN resolved_at IS NULL THEN now() END
            WHERE id IN (SELECT id FROM anomalies ORDER BY ts DESC LIMIT 1000)"""))
        s.execute(sa.text("""
            INSERT INTO prediction_results (tenant_id, model_id, model_version_id, served_by, input, input_hash,
                                            output, prediction, latency_ms)
            SELECT tenant_id, id, active_version_id, 'champion', '{}'::jsonb, md5('late'), '{}'::jsonb, 'No', 1.0
            FROM models WHERE active_version_id IS NOT NULL ORDER BY id LIMIT 1"""))


#: The dashboard's aggregates before the rollups (migration 0021): every row of the range, as the app role.
RAW_QUERIES = {
    "raw: predictions per period": """
        SELECT date_trunc(:unit, p.created_at) AS period, p.model_id, count(*) FROM prediction_results p
        WHERE p.created_at >= :d0 AND p.created_at < :d1 GROUP BY 1, 2 ORDER BY 1, 2""",
    "raw: failed predictions": """
        SELECT count(*) FROM prediction_results p
        WHERE p.created_at >= :d0 AND p.created_at < :d1 AND p.error IS NOT NULL""",
    "raw: outcomes per period": """
        SELECT date_trunc(:unit, p.actual_at) AS period, p.model_id, p.model_version_id, count(*),
               count(*) FILTER (WHERE lower(btrim(p.actual)) = lower(btrim(p.prediction)))
        FROM prediction_results p
        WHERE p.actual IS NOT NULL AND p.error IS NULL AND p.actual_at >= :d0 AND p.actual_at < :d1
        GROUP BY 1, 2, 3 ORDER BY 1""",
    "raw: anomalies per period": """
        SELECT date_trunc(:unit, a.ts) AS period, a.severity, a.status, count(*) FROM anomalies a
        WHERE a.ts >= :n0 AND a.ts < :n1 GROUP BY 1, 2, 3 ORDER BY 1""",
}


#: ``anomaly_stats`` as it was before migration 0028 (aggregates over every anomaly row of the tenant), and a plain
#: count of those rows: the same-run baseline of ``anomaly_summary``.
ANOMALY_BASELINE = {
    "raw: anomaly_stats (pre-0028)": [
        "SELECT severity, count(*) FROM anomalies WHERE status = ANY(:open) GROUP BY severity",
        ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at)), "
         "count(*) FROM anomalies WHERE resolved_at IS NOT NULL"),
        """WITH per AS (SELECT monitor_id, status, count(*) AS n FROM anomalies GROUP BY 1, 2)
           SELECT m.id, m.name, coalesce(sum(per.n), 0), coalesce(sum(per.n) FILTER (WHERE per.status = ANY(:open)), 0),
                  coalesce(sum(per.n) FILTER (WHERE per.status = ANY(:closed)), 0),
                  coalesce(sum(per.n) FILTER (WHERE per.status = 'false_positive'), 0)
           FROM monitors m LEFT JOIN per ON per.monitor_id = m.id GROUP BY m.id, m.name ORDER BY m.name"""],
    "raw: SELECT count(*) FROM anomalies": ["SELECT count(*) FROM anomalies"],
}


def time_anomaly_baseline(p, repeat: int) -> dict[str, tuple[float, float, float]]:
    """:data:`ANOMALY_BASELINE` as the app role under row-level security (a read session, like the dashboard)."""
    from aihub.db import anomaly_store
    from aihub.db.session import read_session

    params = {"open": list(anomaly_store.OPEN_STATUSES), "closed": list(anomaly_store.CLOSED_STATUSES)}
    out = {}
    for label, statements in ANOMALY_BASELINE.items():
        def run(statements=statements):
            with read_session(p.tenant_id) as s:
                for sql in statements:
                    s.execute(sa.text(sql), params).all()
        out[label] = _timed(run, repeat)
    return out


def time_raw(p, repeat: int) -> dict[str, tuple[float, float, float]]:
    """The same-run baseline: :data:`RAW_QUERIES` over the tenant's whole span, by month (as the overview)."""
    from datetime import UTC, datetime

    from aihub.db.session import tenant_session
    from aihub.services import dashboard

    opts = dashboard.filter_options(p)
    lo, hi = opts.first_day, opts.last_day + timedelta(days=1)
    params = {"unit": "month", "d0": datetime(lo.year, lo.month, lo.day, tzinfo=UTC),
              "d1": datetime(hi.year, hi.month, hi.day, tzinfo=UTC),
              "n0": datetime(lo.year, lo.month, lo.day), "n1": datetime(hi.year, hi.month, hi.day)}
    out = {}
    for label, sql in RAW_QUERIES.items():
        def run(sql=sql):
            with tenant_session(p.tenant_id) as s:
                s.execute(sa.text(sql), params).all()
        out[label] = _timed(run, repeat)
    return out


# ---------------------------------------------------------------------------- timing
def _timed(fn, repeat: int) -> tuple[float, float, float]:
    """``(first call, median, max of the next repeat calls)`` in seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return first, statistics.median(runs), max(runs)


def time_queries(p, repeat: int) -> dict[str, tuple[float, float, float]]:
    from aihub.services import dashboard
    from aihub.services import insights as insights_service

    opts = dashboard.filter_options(p)
    full = dashboard.Filters(opts.first_day, opts.last_day)
    last30 = dashboard.Filters(max(opts.first_day, opts.last_day - timedelta(days=29)), opts.last_day) \
        if opts.first_day and opts.last_day else dashboard.Filters()
    out = {
        "filter_options": _timed(lambda: dashboard.filter_options(p), repeat),
        "overview (all dates)": _timed(lambda: dashboard.overview(p, full), repeat),
        "overview (last 30 days)": _timed(lambda: dashboard.overview(p, last30), repeat),
        "overview (1 model type, high)": _timed(lambda: dashboard.overview(
            p, dashboard.Filters(opts.first_day, opts.last_day, tuple(opts.model_types[:1]), ("high",))), repeat),
        "summary": _timed(lambda: dashboard.summary(p), repeat),
        "anomaly_summary": _timed(lambda: dashboard.anomaly_summary(p), repeat),
        "top insights": _timed(lambda: insights_service.list_insights(p, limit=3), repeat),
    }
    load = ("filter_options", "overview (all dates)", "summary", "anomaly_summary", "top insights")
    out["all queries of one load"] = tuple(sum(out[k][i] for k in load) for i in range(3))
    return out


def time_page(p, repeat: int) -> tuple[float, float, float, int]:
    from streamlit.testing.v1 import AppTest

    from aihub import auth

    # Through the router (the dashboard is its default page, and its links need the navigation), with the
    # login already done: the session holds the principal of a server-side session, as after a login.
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.session_state["principal"] = auth.open_session(p)[0]
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"the dashboard raised: {at.exception}")
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        at.run()
        runs.append(time.perf_counter() - t0)
    charts = sum(1 for c in at.get("plotly_chart") if c.proto.spec)
    return first, statistics.median(runs), max(runs), charts


def explain(db, p) -> None:
    """EXPLAIN ANALYZE of the prediction aggregate as the app role (index use under RLS)."""
    with db.app.begin() as conn:
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(p.tenant_id)})
        plan = conn.execute(sa.text(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT date_trunc('week', p.created_at), p.model_id, count(*) "
            "FROM prediction_results p WHERE p.created_at >= now() - interval '180 days' GROUP BY 1, 2")).all()
    print("\n".join(r[0] for r in plan))
    from aihub.db import anomaly_store

    with db.app.begin() as conn:  # the median of anomaly_stats: one bucket of ix_anomalies_tenant_closed
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(p.tenant_id)})
        plan = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + anomaly_store._MEDIAN)).all()
    print("\n".join(r[0] for r in plan))


def _uptime() -> str:
    load = os.getloadavg()
    return f"load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedded", action="store_true", help="use a throw-away embedded PostgreSQL")
    ap.add_argument("--predictions", type=int, default=10_000_000)
    ap.add_argument("--anomalies", type=int, default=100_000)
    ap.add_argument("--insights", type=int, default=1_000)
    ap.add_argument("--usage", type=int, default=20_000)
    ap.add_argument("--increment", type=int, default=10_000, help="new predictions for the incremental rollup step")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--raw-repeat", type=int, default=2,
                    help="repeats of the raw baseline (each raw aggregate reads every row: tens of seconds at 10M)")
    ap.add_argument("--keep", action="store_true", help="keep the database and the data folder")
    ap.add_argument("--reuse", metavar="DATABASE",
                    help="time a database an earlier run kept (--keep) instead of filling a new one; dropped at "
                         "the end unless --keep")
    ap.add_argument("--explain", action="store_true", help="print the plan of the prediction aggregate")
    args = ap.parse_args()

    print(f"start: {_uptime()}")
    db, cleanup = open_database(args.embedded, args.reuse)
    try:
        from aihub import auth, demo
        from aihub.services import dashboard

        t0 = time.perf_counter()
        demo_admin = demo.seed_demo()
        print(f"seeded the demo tenant in {time.perf_counter() - t0:.1f} s")
        if args.reuse:
            big = auth.principal_for("admin@bench-big.example.com", auth.find_tenant(BIG_TENANT))
            with db.owner.connect() as conn:
                for arg, table in (("predictions", "prediction_results"), ("anomalies", "anomalies"),
                                   ("insights", "insights"), ("usage", "usage_events")):
                    setattr(args, arg, conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),
                                                   {"t": big.tenant_id}))
            print(f"reusing database {args.reuse}: tenant '{BIG_TENANT}' has {args.predictions:,} predictions")
            t0 = time.perf_counter()
            days = dashboard.refresh_rollups(big.tenant_id)  # marks left by the earlier run
            print(f"  {'rollup step':<20} {sum(days.values()):>10,} days  {time.perf_counter() - t0:6.1f} s  "
                  f"(marks left by the earlier run; {_uptime()})")
            with db.owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("prediction_results", "prediction_daily", "outcome_daily", "anomaly_daily",
                              "rollup_marks"):
                    conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        else:
            big = fill_big_tenant(db, args)
            build_rollups(db, big.tenant_id)
        dashboard.refresh_rollups(demo_admin.tenant_id)
        full_s, full_days = time_full_rebuild(db, big.tenant_id)
        print(f"  {'full rebuild':<20} {sum(full_days.values()):>10,} days  {full_s:6.1f} s  ({_uptime()})")
        ins_s, inc_s, inc_days = time_incremental(db, big.tenant_id, args.increment)
        print(f"  {'incremental step':<20} {sum(inc_days.values()):>10,} days  {inc_s:6.2f} s  after "
              f"{args.increment:,} new predictions today (insert with the mark triggers {ins_s:.2f} s; {_uptime()})")
        if args.explain:
            explain(db, big)
        results = {}
        for label, p in (("demo", demo_admin), ("big", big)):
            results[label] = (time_queries(p, args.repeat), time_page(p, args.repeat))
        mark_today(big.tenant_id)
        marked = time_queries(big, args.repeat)
        raw = time_raw(big, args.raw_repeat)
        raw.update(time_anomaly_baseline(big, args.repeat))

        print(f"\nbackend: {'embedded' if args.embedded else 'server'} PostgreSQL; big tenant: "
              f"{args.predictions:,} predictions, {args.anomalies:,} anomalies, {args.insights:,} insights, "
              f"{args.usage:,} usage events; {_uptime()}")
        print(f"seconds; 'cold' = first call, p50/max over the next {args.repeat} calls")
        print(f"{'':<32}{'demo':>8}{'demo':>8}{'big':>8}{'big':>8}{'big':>8}{'big+today':>10}{'big+today':>10}")
        print(f"{'':<32}{'cold':>8}{'p50':>8}{'cold':>8}{'p50':>8}{'max':>8}{'p50':>10}{'max':>10}")
        for key in results["demo"][0]:
            d, b, t = results["demo"][0][key], results["big"][0][key], marked[key]
            print(f"{key:<32}{d[0]:>8.3f}{d[1]:>8.3f}{b[0]:>8.3f}{b[1]:>8.3f}{b[2]:>8.3f}{t[1]:>10.3f}{t[2]:>10.3f}")
        print(f"same-run baseline: the raw aggregates without rollups (big tenant, all dates, by month; p50/max "
              f"over {args.raw_repeat} calls after the first)")
        for key, (first, p50, mx) in raw.items():
            print(f"{key:<32}{'':>8}{'':>8}{first:>8.3f}{p50:>8.3f}{mx:>8.3f}")
        print(f"{'raw: sum of the four':<32}{'':>8}{'':>8}" + "".join(
            f"{sum(v[i] for k, v in raw.items() if k in RAW_QUERIES):>8.3f}" for i in range(3)))
        print("'big+today': after one prediction arrived since the rollup step (today's day read raw) and 1,000 "
              "anomalies were triaged (their count deltas not yet folded)")
        dp, bp = results["demo"][1], results["big"][1]
        print(f"{'page render (AppTest)':<32}{dp[0]:>8.3f}{dp[1]:>8.3f}{bp[0]:>8.3f}{bp[1]:>8.3f}{bp[2]:>8.3f}")
        print(f"charts on the page: demo {dp[3]}, big {bp[3]}; page 'p50' = re-renders with the page's "
              "st.cache_data caches filled (the page after its first load)")
        print(f"end: {_uptime()}")
    finally:
        cleanup(args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
