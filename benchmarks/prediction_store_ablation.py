"""Benchmark: where the time of storing a batch's rows goes (one thing removed at a time).

In a throw-away database on the local PostgreSQL (``AIHUB_BENCH_SERVER_URL``), migrated like production,
100,000 Telco-like rows are staged in a temporary table, then moved into ``prediction_results`` with the
batch's ``INSERT ... SELECT`` as the app role under forced row-level security. Each variant drops one
thing (a foreign key, an index, the rollup trigger, the policy, the ``jsonb`` cast, ``RETURNING``) inside
the transaction and rolls back afterwards, so every figure is printed next to the full statement's time in
the same run. Best of ``--repeat`` runs each.

Usage::

    python benchmarks/prediction_store_ablation.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIHUB_DATA_DIR", tempfile.mkdtemp(prefix="aihub-bench-"))

from aihub import auth
from aihub.config import load_settings
from aihub.db import engine as dbengine

SERVER = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
STAGE = ("model_version_id int8, served_by text, row_number int4, input text, input_hash text, output text, "
         "prediction text, probability float8, confidence float8, warning text, error text")
COLS = "model_version_id, served_by, row_number, input, input_hash, output, prediction, probability, confidence, " \
       "warning, error"


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the PostgreSQL backend ``pid`` has used (same host: ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def telco_rows(rows: int) -> list[str]:
    env = os.environ.get("AIHUB_SHARED_DIR", str(ROOT.parent / "shared"))
    p = Path(env) / "data" / "telco_churn" / "telco_customer_churn.csv"
    frame = pd.read_csv(p, dtype=str, keep_default_na=False).sample(rows, replace=True, random_state=0)
    return frame.drop(columns=["Churn"]).to_json(orient="records", lines=True).splitlines()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    name = f"aihub_abl_{uuid.uuid4().hex[:8]}"
    owner = make_url(SERVER).set(database=name)
    dbengine.ensure_database(owner)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    try:
        owner_url, app_url = dbengine.bootstrap(load_settings())
        db = dbengine.Database(owner_url, app_url)
        dbengine.set_database(db)
        admin = auth.create_tenant("abl", f"a-{uuid.uuid4().hex[:6]}@bench.example.com", "bench-password")
        db.dispose()
        run(owner, make_url(app_url).username, admin.tenant_id, admin.user_id, args.rows, args.repeat)
    finally:
        dbengine.set_database(None)
        admin_engine = sa.create_engine(make_url(SERVER), isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def run(owner, app_role: str, tenant: int, user: int, rows: int, repeat: int) -> None:
    dsn = owner.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(dsn, autocommit=True)
    q = conn.execute
    model = q("INSERT INTO models (tenant_id, name, kind, config) VALUES (%s, 'm', 'ml', '{}') RETURNING id",
              (tenant,)).fetchone()[0]
    version = q("INSERT INTO model_versions (tenant_id, model_id, version, algorithm, params, metrics, "
                "training_data_hash, library_versions, artifact_format, artifact, training_seconds) "
                "VALUES (%s, %s, 1, 'rf', '{}', '{}', '', '{}', 'x', '\\x00', 0) RETURNING id",
                (tenant, model)).fetchone()[0]
    batch = q("INSERT INTO prediction_batches (tenant_id, model_id, filename, rows_total, rows_predicted, "
              "rows_failed, errors, seconds) VALUES (%s, %s, 'f', 0, 0, 0, '[]', 0) RETURNING id",
              (tenant, model)).fetchone()[0]
    q("INSERT INTO prediction_batch_versions (tenant_id, batch_id, model_id, model_version_id) "
      "VALUES (%s, %s, %s, %s)", (tenant, batch, model, version))
    print(f"setup done at {time.strftime('%X')}", file=sys.stderr, flush=True)
    inputs = telco_rows(rows)
    rng = np.random.default_rng(0)
    prob = rng.random(rows)
    q(f"CREATE TEMPORARY TABLE stage ({STAGE})")
    q(f"CREATE TEMPORARY TABLE stage_jsonb ({STAGE.replace('input text', 'input jsonb')})")
    q(f"GRANT SELECT ON stage, stage_jsonb TO {app_role}")
    with conn.cursor() as cur, cur.copy(f"COPY stage ({COLS}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(["int8", "text", "int4", "text", "text", "text", "text", "float8", "float8", "text", "text"])
        for i in range(rows):
            cp.write_row((version, "champion", i + 1, inputs[i], hashlib.sha256(inputs[i].encode()).hexdigest(),
                          None, "Yes" if prob[i] > 0.5 else "No", float(prob[i]), float(max(prob[i], 1 - prob[i])),
                          None, None))
    q(f"INSERT INTO stage_jsonb SELECT {COLS.replace('input,', 'input::jsonb,')} FROM stage")
    q("ANALYZE stage")
    q("ANALYZE stage_jsonb")
    fks = [r[0] for r in q("SELECT conname FROM pg_constraint WHERE conrelid = 'prediction_results'::regclass "
                           "AND contype = 'f' ORDER BY conname")]
    idx = [r[0] for r in q("SELECT indexrelname FROM pg_stat_user_indexes WHERE relname = 'prediction_results' "
                           "AND indexrelname NOT LIKE 'pk_%' ORDER BY 1")]
    trg = [r[0] for r in q("SELECT tgname FROM pg_trigger WHERE tgrelid = 'prediction_results'::regclass "
                           "AND NOT tgisinternal AND tgname LIKE '%rollup_ins'")]
    insert = ("INSERT INTO prediction_results (tenant_id, model_id, batch_id, requested_by, latency_ms, cache_hit, "
              f"{COLS}) SELECT {tenant}, {model}, {batch}, NULL, 0.05, false, "  # batch rows: requester on the batch
              "{sel} FROM {src}")
    sel = COLS.replace("input,", "input::jsonb,").replace("output,", "output::jsonb,")
    variants: list[tuple[str, list[str], str]] = [("full statement (as landed)", [], insert.format(sel=sel, src="stage"))]
    if "fk_prediction_results_batch_id_prediction_batch_versions" in fks:  # 0029's one key: time the two before it too
        variants.append(("+ the two keys before 0029 (batch; model version)", [
            "ALTER TABLE prediction_results DROP CONSTRAINT fk_prediction_results_batch_id_prediction_batch_versions",
            ("ALTER TABLE prediction_results ADD FOREIGN KEY (tenant_id, batch_id) "
             "REFERENCES prediction_batches (tenant_id, id) ON DELETE CASCADE"),
            ("ALTER TABLE prediction_results ADD FOREIGN KEY (tenant_id, model_id, model_version_id) "
             "REFERENCES model_versions (tenant_id, model_id, id) ON DELETE CASCADE")],
            insert.format(sel=sel, src="stage")))
    variants.append(("+ requested_by on every row (before 0027)", [],
                     insert.format(sel=sel, src="stage").replace(", NULL, 0.05", f", {user}, 0.05")))
    variants.append(("+ cache index over batch rows too (before 0027)", [
        "DROP INDEX ix_prediction_results_version_input_hash",
        "CREATE INDEX ix_prediction_results_version_input_hash ON prediction_results (model_version_id, input_hash)"],
        insert.format(sel=sel, src="stage")))
    variants.append(("- id sequence fetched one at a time (CACHE 1000)",
                     ["ALTER SEQUENCE prediction_results_id_seq CACHE 1000"], insert.format(sel=sel, src="stage")))
    variants.append(("+ work_mem 64MB (trigger's transition table in memory)", ["SET LOCAL work_mem = '64MB'"],
                     insert.format(sel=sel, src="stage")))
    for fk in fks:
        variants.append((f"- FK {fk}", [f"ALTER TABLE prediction_results DROP CONSTRAINT {fk}"],
                         insert.format(sel=sel, src="stage")))
    variants.append((f"- all {len(fks)} FKs", [f"ALTER TABLE prediction_results DROP CONSTRAINT {fk}" for fk in fks],
                     insert.format(sel=sel, src="stage")))
    for ix in idx:
        variants.append((f"- index {ix}", [f"DROP INDEX {ix}"], insert.format(sel=sel, src="stage")))
    variants.append(("- all secondary indexes", [f"DROP INDEX {ix}" for ix in idx], insert.format(sel=sel, src="stage")))
    variants.append(("- rollup trigger", [f"DROP TRIGGER {t} ON prediction_results" for t in trg],
                     insert.format(sel=sel, src="stage")))
    variants.append(("- RLS (policy off)", ["ALTER TABLE prediction_results DISABLE ROW LEVEL SECURITY"],
                     insert.format(sel=sel, src="stage")))
    variants.append(("- jsonb cast (stage input already jsonb)", [],
                     insert.format(sel=sel.replace("input::jsonb", "input"), src="stage_jsonb")))
    variants.append(("+ RETURNING id, row_number", [], insert.format(sel=sel, src="stage") + " RETURNING id, row_number"))
    variants.append(("- hash value (empty input_hash)", [],
                     insert.format(sel=sel.replace("input_hash", "''::text"), src="stage")))
    variants.append(("- everything (no FK/index/trigger/RLS)",
                     [f"ALTER TABLE prediction_results DROP CONSTRAINT {fk}" for fk in fks]
                     + [f"DROP INDEX {ix}" for ix in idx] + [f"DROP TRIGGER {t} ON prediction_results" for t in trg]
                     + ["ALTER TABLE prediction_results DISABLE ROW LEVEL SECURITY"],
                     insert.format(sel=sel, src="stage")))
    variants.append(("baseline: CREATE TEMP TABLE AS from stage", [],
                     "CREATE TEMPORARY TABLE plain_copy AS SELECT * FROM stage"))
    pid = q("SELECT pg_backend_pid()").fetchone()[0]
    with conn.transaction(force_rollback=True):  # the per-row trigger times PostgreSQL itself reports
        q(f"SET LOCAL ROLE {app_role}")
        q("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))
        plan = [r[0] for r in q("EXPLAIN (ANALYZE, TIMING OFF) " + variants[0][2])]
    print("EXPLAIN ANALYZE of the full statement:")
    print("\n".join("  " + line for line in plan))
    results: dict[str, list[tuple[float, float]]] = {}
    for _ in range(repeat):
        for label, ddl, sql in variants:
            q("VACUUM prediction_results")
            with conn.transaction(force_rollback=True):
                for d in ddl:
                    q(d)
                q(f"SET LOCAL ROLE {app_role}")
                q("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))
                c0, t0 = backend_cpu(pid), time.perf_counter()
                cur = q(sql)
                if "RETURNING" in sql:
                    cur.fetchall()
                wall, cpu = time.perf_counter() - t0, backend_cpu(pid) - c0
                results.setdefault(label, []).append((cpu, wall))
                print(f"  {label}: cpu {cpu:.2f} s, wall {wall:.2f} s", file=sys.stderr, flush=True)
    full = min(results[variants[0][0]])
    print(f"INSERT ... SELECT of {rows:,} staged rows into prediction_results (app role, forced RLS); best of "
          f"{repeat} by the backend's CPU seconds (less sensitive than wall time to other load on the machine)")
    print(f"{'variant':52s} {'cpu s':>6s} {'vs full':>8s} {'wall s':>7s}")
    for label, *_ in variants:
        cpu, wall = min(results[label])
        print(f"{label:52s} {cpu:6.2f} {cpu - full[0]:+8.2f} {wall:7.2f}")
    conn.close()


if __name__ == "__main__":
    main()
