"""Benchmark: what the tenant-leading keys of migration 0022 cost on the write path, same run, before and after.

Migration 0022 made every tenant table's primary key ``(tenant_id, id)`` and every reference between tenant
tables a composite foreign key ``(tenant_id, x_id) -> parent (tenant_id, id)`` (and dropped the single-column
``tenant_id`` indexes). This measures, in one throw-away database on the PostgreSQL server
(``AIHUB_BENCH_SERVER_URL``, default 127.0.0.1:5432), as the app role under forced row-level security:

1. storing ``--rows`` prediction rows with :func:`aihub.db.prediction_store.insert_results` (the batch path:
   one ``INSERT ... SELECT FROM unnest``; five foreign keys checked per row), median of ``--repeat`` runs;
2. ``--single`` one-row inserts, one transaction each (the single-prediction path's write);
3. the migration itself on a table of ``--rows`` predictions (the cost of doing it later on big tables).

Each figure is measured at revision 0021 (the baseline: plain keys) and at 0022, in the same run on the
same data. Figures only, no asserts. Usage::

    python benchmarks/tenant_keys.py [--rows 100000] [--single 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aihub.db import engine as dbengine
from aihub.db import prediction_store as ps
from aihub.db.session import tenant_session

SERVER = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _seed(owner: sa.Engine) -> dict[str, int]:
    """One tenant with a user, a model, a version and a batch, written as the owner (columns as of 0021)."""
    with owner.begin() as conn:
        t = conn.execute(sa.text("insert into tenants (name) values ('bench keys') returning id")).scalar_one()
        u = conn.execute(sa.text(
            "insert into users (tenant_id, username, email, name, password_hash, role) "
            "values (:t, 'b@x.org', 'b@x.org', 'B', 'x', 'admin') returning id"), {"t": t}).scalar_one()
        m = conn.execute(sa.text("insert into models (tenant_id, name, kind, config, created_by) "
                                 "values (:t, 'm', 'churn', '{}', :u) returning id"), {"t": t, "u": u}).scalar_one()
        v = conn.execute(sa.text(
            "insert into model_versions (tenant_id, model_id, version, algorithm, params, metrics, "
            "training_data_hash, library_versions, artifact_format, artifact, training_seconds, created_by) "
            "values (:t, :m, 1, 'rf', '{}', '{}', 'h', '{}', 'skops', '', 1, :u) returning id"),
            {"t": t, "m": m, "u": u}).scalar_one()
        b = conn.execute(sa.text(
            "insert into prediction_batches (tenant_id, model_id, filename, rows_total, rows_predicted, rows_failed, "
            "errors, seconds, created_by) values (:t, :m, 'f', 0, 0, 0, '[]', 0, :u) returning id"),
            {"t": t, "m": m, "u": u}).scalar_one()
    return {"tenant": t, "user": u, "model": m, "version": v, "batch": b}


def _columns(n: int, version_id: int) -> dict[str, list]:
    return {
        "model_version_id": [version_id] * n, "served_by": ["champion"] * n, "row_number": list(range(1, n + 1)),
        "input": [f'{{"tenure": {i % 72}, "contract": "Month-to-month"}}' for i in range(n)],
        "input_hash": [f"{i:064x}" for i in range(n)],
        "output": ['{"prediction": "Yes", "probability": 0.7}'] * n, "prediction": ["Yes"] * n,
        "probability": [0.7] * n, "confidence": [0.7] * n, "latency_ms": [0.05] * n,
        "cache_hit": [False] * n, "error": [None] * n,
    }


def _bulk(ids: dict[str, int], rows: int, repeat: int, owner: sa.Engine) -> float:
    cols = _columns(rows, ids["version"])
    times = []
    for _ in range(repeat):
        with owner.begin() as conn:
            conn.execute(sa.text("truncate prediction_results"))
        t0 = time.perf_counter()
        with tenant_session(ids["tenant"]) as s:
            ps.insert_results(s, tenant_id=ids["tenant"], model_id=ids["model"], batch_id=ids["batch"],
                              requested_by=ids["user"], columns=cols)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _single(ids: dict[str, int], n: int) -> float:
    cols = _columns(1, ids["version"])
    t0 = time.perf_counter()
    for _ in range(n):
        with tenant_session(ids["tenant"]) as s:
            ps.insert_results(s, tenant_id=ids["tenant"], model_id=ids["model"], batch_id=None,
                              requested_by=ids["user"], columns=cols)
    return (time.perf_counter() - t0) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    name = f"aihub_bench_keys_{uuid.uuid4().hex[:8]}"
    owner_url = make_url(SERVER).set(database=name)
    os.environ.setdefault("AIHUB_DATA_DIR", tempfile.mkdtemp(prefix="aihub-bench-keys-"))
    os.environ["AIHUB_DATABASE_URL"] = owner_url.render_as_string(hide_password=False)
    from aihub.config import load_settings

    dbengine.ensure_database(owner_url)
    try:
        dbengine.upgrade(owner_url, "0021")
        owner = sa.create_engine(owner_url)
        _make_app_role(owner)
        db = dbengine.Database(owner_url, dbengine.app_url(load_settings(), owner_url))
        dbengine.set_database(db)
        ids = _seed(owner)
        before = (_bulk(ids, args.rows, args.repeat, owner), _single(ids, args.single))
        t0 = time.perf_counter()
        db.app.dispose()
        dbengine.upgrade(owner_url, "0022")
        migrate = time.perf_counter() - t0
        after = (_bulk(ids, args.rows, args.repeat, owner), _single(ids, args.single))
        print(f"\nWrite path before (0021, plain keys) and after (0022, tenant-leading keys), {args.rows:,} rows, "
              f"median of {args.repeat}; server {make_url(SERVER).host}")
        print(f"   bulk insert_results          before {before[0]:7.2f} s ({args.rows / before[0]:>9,.0f} rows/s)   "
              f"after {after[0]:7.2f} s ({args.rows / after[0]:>9,.0f} rows/s)   x{after[0] / before[0]:.2f}")
        print(f"   one-row insert, own txn      before {before[1]:7.2f} ms   after {after[1]:7.2f} ms   "
              f"x{after[1] / before[1]:.2f}   ({args.single} each)")
        print(f"   migration 0021 -> 0022 with {args.rows:,} predictions stored: {migrate:.1f} s")
        db.dispose()
        owner.dispose()
    finally:
        dbengine.set_database(None)
        admin = sa.create_engine(make_url(SERVER), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _make_app_role(owner: sa.Engine) -> None:
    from aihub.config import load_settings

    settings = load_settings()
    dbengine.ensure_app_role(owner, settings.app_role, dbengine.app_password(settings))


if __name__ == "__main__":
    main()
