"""Benchmark: single predictions of an external endpoint through the hub, next to the endpoint alone and to an
internal model, and the cost of the external version's explanations.

A scikit-learn pipeline trained on IBM Telco churn is served over HTTP on 127.0.0.1 in MLflow's protocol (the
tests' scoring server, ``tests/fixtures.py``); the hub registers it as an external version beside an internal
logistic-regression churn model trained from the template, in a throw-away database on the local PostgreSQL
server (``AIHUB_BENCH_SERVER_URL``). Distinct customers, one at a time (figures only, no asserts)::

    python benchmarks/external_predictions.py [--n 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pct(ms: list[float]) -> str:
    import numpy as np

    return f"{np.percentile(ms, 50):8.1f}{np.percentile(ms, 95):8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="predictions per row of the table")
    args = parser.parse_args()
    os.environ.setdefault("AIHUB_DATA_DIR", tempfile.mkdtemp(prefix="aihub-bench-"))
    os.environ.setdefault("AIHUB_JOB_BACKEND", "inline")
    os.environ["AIHUB_ALLOWED_HOSTS"] = "127.0.0.1"

    import httpx
    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from aihub import auth
    from aihub.config import load_settings
    from aihub.db import engine as dbengine
    from aihub.jsonsafe import plain
    from aihub.runtime.wiring import wire
    from aihub.services import (
        datasets,
        external_models,
        jobs,
        model_config,
        model_training,
        predictions,
        registry,
    )
    from tests.fixtures import SCORING_TOKEN, start_scoring_server, telco_pipeline

    wire()
    server_url = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"aihub_bench_{uuid.uuid4().hex[:8]}"
    owner = make_url(server_url).set(database=name)
    dbengine.ensure_database(owner)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    owner_url, app_url = dbengine.bootstrap(load_settings())
    db = dbengine.Database(owner_url, app_url)
    dbengine.set_database(db)
    scoring = None
    try:
        shared = Path(os.environ.get("AIHUB_SHARED_DIR", ROOT.parent / "shared"))
        data = shared / "data" if (shared / "data").is_dir() else shared
        admin = auth.create_tenant(f"bench-{name}", f"admin@{name}.example.com", "correct-horse-battery")
        saved = datasets.save_upload(admin, "telco", "telco.csv",
                                     (data / "telco_churn" / "telco_customer_churn.csv").read_bytes())
        ds = saved.version.dataset_id
        _, frame = model_config.dataset_frame(admin, ds)
        features = [c for c in frame.columns if c not in ("customerID", "Churn")]
        categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        scoring = start_scoring_server(telco_pipeline(frame, features), categorical)
        url = f"http://127.0.0.1:{scoring.server_port}/invocations"

        cfg = model_config.template_config(admin, "churn", ds, model_name="internal", algorithm="logistic_regression",
                                           target="Churn", features=features)
        internal, job = model_training.create_model(admin, cfg, ds, run=False)
        assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
        registry.deploy(admin, internal.id, registry.list_versions(admin, internal.id)[0].id)
        ext = external_models.register(admin, {
            "url": url, "task": "classification", "target": "Churn", "features": features,
            "output": {"prediction_key": "prediction", "probabilities_key": "probabilities"}},
            dataset_id=ds, auth_header=SCORING_TOKEN, model_name="external")
        registry.deploy(admin, ext.model_id, ext.id)

        rows = [plain({f: (None if pd.isna(v) else v) for f, v in frame.iloc[i][features].items()})
                for i in range(3 * args.n + 10)]
        n = args.n
        print(f"{n} single predictions each, distinct customers (ms)")
        print(f"{'path':<58}{'p50':>8}{'p95':>8}")
        with httpx.Client() as client:
            ms = []
            for r in rows[:n]:
                t0 = time.perf_counter()
                client.post(url, json={"dataframe_split": {"columns": features, "data": [[r[f] for f in features]]}},
                            headers={"Authorization": SCORING_TOKEN}).raise_for_status()
                ms.append((time.perf_counter() - t0) * 1000)
        print(f"{'endpoint alone (httpx POST, baseline)':<58}{_pct(ms)}")
        for label, model_id, part in (("internal model through the hub (baseline)", internal.id, rows[n:2 * n]),
                                      ("external version through the hub, fresh", ext.model_id, rows[2 * n:3 * n]),
                                      ("external version through the hub, repeated (cache)", ext.model_id,
                                       rows[2 * n:3 * n])):
            ms = []
            predictions.predict_one(admin, model_id, part[0], explain=False)  # warm: model in memory
            for r in part:
                t0 = time.perf_counter()
                predictions.predict_one(admin, model_id, r, explain=False)
                ms.append((time.perf_counter() - t0) * 1000)
            print(f"{label:<58}{_pct(ms)}")
        print("\nexplanations of fresh customers (ms; calls and rows sent to the endpoint)")
        for label, model_id in (("internal model, SHAP (baseline)", internal.id), ("external version, KernelSHAP",
                                                                                   ext.model_id)):
            ms, costs = [], []
            for r in rows[3 * n:3 * n + 5]:
                r = {**r, "MonthlyCharges": (r["MonthlyCharges"] or 0) + 0.01 * len(costs) + (model_id == ext.model_id)}
                t0 = time.perf_counter()
                out = predictions.predict_one(admin, model_id, r, explain=True)
                ms.append((time.perf_counter() - t0) * 1000)
                costs.append(out.output.get("explanation_cost"))
            extra = (f"  calls {costs[-1]['calls']}, rows {costs[-1]['rows']:,}, nsamples {costs[-1]['nsamples']}"
                     if costs[-1] else "")
            print(f"{label:<58}{_pct(ms)}{extra}")
    finally:
        if scoring is not None:
            scoring.shutdown()
        dbengine.set_database(None)
        db.dispose()
        admin_engine = sa.create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


if __name__ == "__main__":
    main()
