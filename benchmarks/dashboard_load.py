"""Benchmark: the dashboard on a big tenant against the demo tenant.

What it does
------------
1. Creates a fresh database (on the PostgreSQL server at 127.0.0.1:5432 by
   default, or ``--embedded`` for a throw-away embedded cluster), migrates it
   and creates the app role, exactly as ``make run`` does; drops it at the end
   (``--keep`` keeps it).
2. Seeds the demo tenant with :func:`aihub.demo.seed_demo` (generated orders,
   a run revenue monitor, a trained forecast and churn model, its insights).
3. Fills a second tenant, "Bench big", with 1,000,000 prediction rows (10%
   with a recorded outcome) over 180 days for 6 deployed models, 100,000
   anomalies over 5 monitors, 1,000 insights, 20,000 usage events and a few
   deployments. **The fill bypasses the app**: it runs set-based ``INSERT ...
   SELECT FROM generate_series(...)`` statements as the database owner (the app
   role would take minutes row by row), then ``VACUUM ANALYZE`` so the planner
   has statistics and the visibility map allows index-only scans, as
   autovacuum would after a real load. Only the filling bypasses the app.
4. Times, for both tenants, each dashboard query through :mod:`aihub.services.dashboard`
   as the app role under row-level security (first call and median of the
   next ``--repeat``), and the page render with Streamlit's AppTest of
   ``app_pages/dashboard.py`` (run through ``streamlit_app.py``, whose default page
   it is, with the tenant's admin as the logged-in principal): first render
   with empty caches, then the median of cached re-renders, which is what a
   user sees after the first load.

Figures only, no pass/fail asserts. Usage::

    python benchmarks/dashboard_load.py [--embedded] [--predictions 1000000] [--anomalies 100000]
        [--insights 1000] [--repeat 5] [--keep] [--explain]
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
PASSWORD = "bench-password"


# ---------------------------------------------------------------------------- database
def open_database(embedded: bool):
    """A fresh migrated database installed as the process-wide one; returns (db, cleanup)."""
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
        name = f"aihub_bench_{uuid.uuid4().hex[:8]}"
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
        FROM generate_series(1, :n_pred) g
        JOIN LATERAL (SELECT now() - (g % 180) * interval '1 day' - (g % 86400) * interval '1 second' AS ts) t ON TRUE
        JOIN (SELECT id, active_version_id, row_number() OVER (ORDER BY id) - 1 AS k
              FROM models WHERE tenant_id = :t) m ON m.k = g % 6"""),
    ("monitors", """
        INSERT INTO monitors (tenant_id, name, config)
        SELECT :t, 'Monitor ' || g, '{}'::jsonb FROM generate_series(1, 5) g"""),
    ("anomalies", """
        INSERT INTO anomalies (tenant_id, monitor_id, metric, slice, ts, actual, expected, lower, upper, score,
                               severity, impact, root_cause, snapshot, status)
        SELECT :t, mo.id, (ARRAY['daily_revenue', 'transaction_count', 'average_order_value'])[1 + g % 3],
               'Region=R' || (g / 20000), timestamp '2026-06-01' - (g % 20000) * interval '1 hour',
               100, 120, 110, 130, 0.5 + (g % 50) / 100.0,
               (ARRAY['low', 'low', 'medium', 'medium', 'high', 'critical'])[1 + g % 6], -(g % 5000)::float8,
               '{}'::jsonb, '[]'::jsonb,
               (ARRAY['new', 'acknowledged', 'investigating', 'resolved', 'resolved', 'false_positive'])[1 + g % 6]
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


def fill_big_tenant(db, args) -> object:
    from aihub import auth

    admin = auth.create_tenant(BIG_TENANT, "admin@bench-big.example.com", PASSWORD)
    params = {"t": admin.tenant_id, "n_pred": args.predictions, "n_anom": args.anomalies, "n_ins": args.insights,
              "n_usage": args.usage}
    print(f"filling tenant '{BIG_TENANT}' as the owner (set-based SQL; bypasses the app for filling only)")
    with db.owner.begin() as conn:
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(admin.tenant_id)})
        for label, sql in FILL:
            t0 = time.perf_counter()
            n = conn.execute(sa.text(sql), params).rowcount
            print(f"  {label:<20} {n:>10,} rows  {time.perf_counter() - t0:6.1f} s")
    t0 = time.perf_counter()
    with db.owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("models", "model_versions", "deployments", "prediction_results", "monitors", "anomalies",
                      "insights", "usage_events"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    print(f"  {'VACUUM ANALYZE':<20} {'':>10}       {time.perf_counter() - t0:6.1f} s")
    return admin


# ---------------------------------------------------------------------------- timing
def _timed(fn, repeat: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return first, statistics.median(runs)


def time_queries(p, repeat: int) -> dict[str, tuple[float, float]]:
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
    out["all queries of one load"] = (
        sum(out[k][0] for k in ("filter_options", "overview (all dates)", "summary", "anomaly_summary",
                                "top insights")),
        sum(out[k][1] for k in ("filter_options", "overview (all dates)", "summary", "anomaly_summary",
                                "top insights")))
    return out


def time_page(p, repeat: int) -> tuple[float, float, int]:
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
    return first, statistics.median(runs), charts


def explain(db, p) -> None:
    """EXPLAIN ANALYZE of the prediction aggregate as the app role (index use under RLS)."""
    with db.app.begin() as conn:
        conn.execute(sa.text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(p.tenant_id)})
        plan = conn.execute(sa.text(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT date_trunc('week', p.created_at), p.model_id, count(*) "
            "FROM prediction_results p WHERE p.created_at >= now() - interval '180 days' GROUP BY 1, 2")).all()
    print("\n".join(r[0] for r in plan))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedded", action="store_true", help="use a throw-away embedded PostgreSQL")
    ap.add_argument("--predictions", type=int, default=1_000_000)
    ap.add_argument("--anomalies", type=int, default=100_000)
    ap.add_argument("--insights", type=int, default=1_000)
    ap.add_argument("--usage", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the database and the data folder")
    ap.add_argument("--explain", action="store_true", help="print the plan of the prediction aggregate")
    args = ap.parse_args()

    db, cleanup = open_database(args.embedded)
    try:
        from aihub import demo

        t0 = time.perf_counter()
        demo_admin = demo.seed_demo()
        print(f"seeded the demo tenant in {time.perf_counter() - t0:.1f} s")
        big = fill_big_tenant(db, args)
        if args.explain:
            explain(db, big)
        results = {}
        for label, p in (("demo", demo_admin), ("big", big)):
            results[label] = (time_queries(p, args.repeat), time_page(p, args.repeat))

        print(f"\nbackend: {'embedded' if args.embedded else 'server'} PostgreSQL; big tenant: "
              f"{args.predictions:,} predictions, {args.anomalies:,} anomalies, {args.insights:,} insights, "
              f"{args.usage:,} usage events")
        print(f"{'seconds':<32}{'demo first':>12}{'demo warm':>12}{'big first':>12}{'big warm':>12}")
        for key in results["demo"][0]:
            d, b = results["demo"][0][key], results["big"][0][key]
            print(f"{key:<32}{d[0]:>12.3f}{d[1]:>12.3f}{b[0]:>12.3f}{b[1]:>12.3f}")
        dp, bp = results["demo"][1], results["big"][1]
        print(f"{'page render (AppTest)':<32}{dp[0]:>12.3f}{dp[1]:>12.3f}{bp[0]:>12.3f}{bp[1]:>12.3f}")
        print(f"charts on the page: demo {dp[2]}, big {bp[2]}; 'warm' = median of {args.repeat} runs with the "
              "page's st.cache_data caches filled (the page after its first load)")
    finally:
        cleanup(args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
