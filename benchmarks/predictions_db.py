"""Benchmark: predictions through the database, each figure next to a same-run baseline.

On IBM Telco churn (``shared/data/telco_churn``), with a churn model trained
from the template (random forest, 100 trees) through the real service and job
runner, in a throw-away database on PostgreSQL (``AIHUB_BENCH_SERVER_URL``,
default the local server at 127.0.0.1:5432; embedded PostgreSQL when it is
not reachable), as the non-owner app role under forced row-level security:

1. storing 100,000 prediction rows with :func:`aihub.db.prediction_store.insert_results`
   (one ``INSERT ... SELECT FROM unnest``) vs row-by-row ``INSERT`` and vs
   psycopg ``executemany`` (pipelined), both timed on 10,000 rows and
   extrapolated (COPY is refused under RLS for the app role);
2. batch prediction of a 100,000-row CSV end to end with
   :func:`aihub.services.batch_predictions.predict_batch` (read, validate, predict, store every
   row) vs the model's own ``predict_proba`` on the same rows, with the
   breakdown;
3. single-prediction latency of :func:`aihub.services.predictions.predict_one` (with
   reasons), fresh (distinct inputs) and cached (a repeated input), p50/p95
   over 200 calls each, vs ``predict_proba`` on one row.

Figures only, no pass/fail asserts (targets: cached < 100 ms, fresh < 500 ms).

Usage::

    python benchmarks/predictions_db.py [--rows 100000] [--calls 200]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIHUB_DATA_DIR", tempfile.mkdtemp(prefix="aihub-bench-"))
os.environ.setdefault("AIHUB_JOB_BACKEND", "inline")


from aihub import auth, ingest, ml
from aihub.config import load_settings
from aihub.db import engine as dbengine
from aihub.db import prediction_store as ps
from aihub.db.session import tenant_session
from aihub.ml.predict import _validate
from aihub.services import (
    batch_predictions,
    datasets,
    jobs,
    model_cache,
    model_config,
    model_training,
    predictions,
    registry,
)

SERVER = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def database():
    """A fresh database (server, else embedded) with migrations and the app role; returns (db, cleanup)."""
    name = f"aihub_bench_{uuid.uuid4().hex[:8]}"
    try:
        owner = make_url(SERVER).set(database=name)
        dbengine.ensure_database(owner)
        where = f"PostgreSQL at {make_url(SERVER).host}:{make_url(SERVER).port}"

        def cleanup():
            admin = sa.create_engine(make_url(SERVER), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    except Exception:  # noqa: BLE001 - no server: embedded
        folder = Path(tempfile.mkdtemp(prefix="aihub-bench-pg-"))
        folder.chmod(0o755)
        owner = dbengine.start_embedded(folder)
        where = "embedded PostgreSQL"

        def cleanup():
            dbengine.stop_embedded(folder)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    owner_url, app_url = dbengine.bootstrap(load_settings())
    db = dbengine.Database(owner_url, app_url)
    dbengine.set_database(db)
    return db, where, cleanup


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def result_columns(n: int, version_id: int, inputs: list[str]) -> dict[str, list]:
    rng = np.random.default_rng(0)
    prob = rng.random(n)
    return {
        "model_version_id": [version_id] * n, "served_by": ["champion"] * n, "row_number": list(range(1, n + 1)),
        "input": inputs, "input_hash": [f"{i:064x}" for i in range(n)],
        "output": [f'{{"prediction": "{"Yes" if p > 0.5 else "No"}", "probability": {p:.6f}, '
                   f'"confidence": {max(p, 1 - p):.6f}}}' for p in prob],
        "prediction": ["Yes" if p > 0.5 else "No" for p in prob], "probability": prob.tolist(),
        "confidence": np.maximum(prob, 1 - prob).tolist(), "latency_ms": [0.05] * n,
        "cache_hit": [False] * n, "error": [None] * n,
    }


def bench_bulk_insert(admin, model_id: int, version_id: int, telco: pd.DataFrame, rows: int) -> None:
    sample = telco.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    inputs = sample.to_json(orient="records", lines=True).splitlines()
    cols = result_columns(rows, version_id, inputs)
    with tenant_session(admin.tenant_id) as s:  # stored as a batch, so single-prediction statistics stay clean
        batch_id = ps.add_batch(s, tenant_id=admin.tenant_id, model_id=model_id, filename="bench", rows_total=rows,
                                rows_predicted=rows, rows_failed=0, errors=[], seconds=0.0, user_id=admin.user_id)
    t0 = time.perf_counter()
    with tenant_session(admin.tenant_id) as s:
        ids = ps.insert_results(s, tenant_id=admin.tenant_id, model_id=model_id, batch_id=batch_id,
                                requested_by=admin.user_id, columns=cols)
    bulk = time.perf_counter() - t0
    assert len(ids) == rows

    k = min(10_000, rows)
    names = list(ps.RESULT_ARRAYS)
    sql = (f"INSERT INTO prediction_results (tenant_id, model_id, batch_id, requested_by, {', '.join(names)}) "
           f"VALUES (%s, %s, %s, %s, {', '.join('%s::jsonb' if c in ('input', 'output') else '%s' for c in names)})")
    params = [(admin.tenant_id, model_id, batch_id, admin.user_id, *(cols[c][i] for c in names)) for i in range(k)]
    t0 = time.perf_counter()
    with tenant_session(admin.tenant_id) as s:
        cur = s.connection().connection.driver_connection.cursor()
        for row in params:
            cur.execute(sql, row)
    one_by_one = (time.perf_counter() - t0) * rows / k
    t0 = time.perf_counter()
    with tenant_session(admin.tenant_id) as s:
        cur = s.connection().connection.driver_connection.cursor()
        cur.executemany(sql, params)
    many = (time.perf_counter() - t0) * rows / k
    print(f"\n1. Store {rows:,} prediction rows (JSONB input/output, RLS-forced table, app role)")
    print(f"   INSERT ... SELECT FROM unnest (aihub)      {bulk:8.2f} s   ({rows / bulk:,.0f} rows/s)")
    print(f"   baseline: row-by-row INSERT                {one_by_one:8.2f} s   (10,000 timed, x{rows / k:g})")
    print(f"   baseline: psycopg executemany (pipelined)  {many:8.2f} s   (10,000 timed, x{rows / k:g})")
    print(f"   -> unnest is {one_by_one / bulk:.1f}x faster than row by row, {many / bulk:.1f}x faster than "
          "executemany")


def bench_batch(admin, model_id: int, version_id: int, telco: pd.DataFrame, rows: int) -> None:
    sample = telco.sample(rows, replace=True, random_state=1).reset_index(drop=True)
    data = sample.to_csv(index=False).encode()
    model_cache.forget()
    model = model_cache.load(admin.tenant_id, version_id)
    t0 = time.perf_counter()
    parsed = ingest.read_upload("batch.csv", data, max_bytes=10**9)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = ml.predict(model, parsed.frame)
    t_predict = time.perf_counter() - t0
    X = _validate(model, parsed.frame)[2]  # the parsed feature frame the pipeline reads
    t0 = time.perf_counter()
    model.pipeline.predict_proba(X)
    t_proba = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = batch_predictions.predict_batch(admin, model_id, "batch.csv", data)
    t_total = time.perf_counter() - t0
    assert len(res.results) == rows and out["error"].isna().all()
    print(f"\n2. Batch prediction of {rows:,} Telco rows ({len(data) / 1e6:.1f} MB CSV), no explanations")
    print(f"   aihub predict_batch end to end             {t_total:8.2f} s   (read, validate, predict, store all rows)")
    print(f"     of which: read the CSV                   {t_read:8.2f} s")
    print(f"                validate + predict (aihub.ml) {t_predict:8.2f} s")
    print(f"                store + assemble (rest)       {t_total - t_read - t_predict:8.2f} s")
    print(f"   baseline: pipeline.predict_proba           {t_proba:8.2f} s")
    print(f"   -> end to end is {t_total / t_proba:.1f}x predict_proba; prediction alone {t_predict / t_proba:.1f}x")


def bench_single(admin, model_id: int, version_id: int, telco: pd.DataFrame, calls: int) -> None:
    rows = telco.sample(calls, replace=True, random_state=2).reset_index(drop=True)
    rows["MonthlyCharges"] = [f"{18 + i * 0.37:.2f}" for i in range(calls)]  # distinct inputs: never cached
    records = rows.to_dict("records")
    predictions.predict_one(admin, model_id, records[0])  # load the model into the process cache
    fresh, cached = [], []
    for r in records[1:]:
        t0 = time.perf_counter()
        out = predictions.predict_one(admin, model_id, r)
        fresh.append((time.perf_counter() - t0) * 1000)
        assert not out.cache_hit and out.explanation
    for _ in range(calls):
        t0 = time.perf_counter()
        out = predictions.predict_one(admin, model_id, records[1])
        cached.append((time.perf_counter() - t0) * 1000)
        assert out.cache_hit
    model = model_cache.load(admin.tenant_id, version_id)
    one = _validate(model, pd.DataFrame([records[3]]))[2]
    base = []
    for _ in range(calls):
        t0 = time.perf_counter()
        model.pipeline.predict_proba(one)
        base.append((time.perf_counter() - t0) * 1000)
    print(f"\n3. Single prediction with reasons (SHAP + sentence), stored; {calls} calls each")
    print(f"   fresh  (distinct inputs)   p50 {pct(fresh, 50):7.1f} ms   p95 {pct(fresh, 95):7.1f} ms   "
          "(target < 500 ms)")
    print(f"   cached (repeated input)    p50 {pct(cached, 50):7.1f} ms   p95 {pct(cached, 95):7.1f} ms   "
          "(target < 100 ms)")
    print(f"   baseline: predict_proba on one row         p50 {statistics.median(base):7.1f} ms")
    stats = predictions.serving_stats(admin, model_id)
    print(f"   as recorded in SQL (percentile_cont): p50 {stats.p50_ms:.1f} ms, p95 {stats.p95_ms:.1f} ms, "
          f"p99 {stats.p99_ms:.1f} ms; cache hit rate {100 * stats.cache_hit_rate:.0f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    csv_path = shared_dir() / "telco_churn" / "telco_customer_churn.csv"
    raw = csv_path.read_bytes()
    telco = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    db, where, cleanup = database()
    try:
        print(f"Database: {where}; app role under forced RLS. CPU threads: {os.cpu_count()}")
        admin = auth.create_tenant(f"bench-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}@bench.example.com",
                                   "bench-password")
        saved = datasets.save_upload(admin, "Telco", "telco.csv", raw)
        cfg = model_config.template_config(admin, "churn", saved.version.dataset_id, model_name="churn",
                                         algorithm="random_forest")
        model, job = model_training.create_model(admin, cfg, saved.version.dataset_id, run=False)
        t0 = time.perf_counter()
        assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
        version = registry.list_versions(admin, model.id)[0]
        registry.deploy(admin, model.id, version.id)
        print(f"Model: random forest, {version.params['hyperparameters'].get('n_estimators')} trees, "
              f"test ROC AUC {version.metrics['roc_auc']:.3f}; trained, signed and stored in "
              f"{time.perf_counter() - t0:.1f} s")
        bench_bulk_insert(admin, model.id, version.id, telco, args.rows)
        bench_batch(admin, model.id, version.id, telco, args.rows)
        bench_single(admin, model.id, version.id, telco, args.calls)
    finally:
        db.dispose()
        dbengine.set_database(None)
        cleanup()


if __name__ == "__main__":
    main()
