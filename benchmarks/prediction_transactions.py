"""Benchmark: database transactions of one single prediction, this tree next to a baseline tree.

Counts the transactions (``begin`` events on the app and owner engines) that
one call of ``predict_one`` opens, on a churn model trained from the
template (logistic regression) on IBM Telco churn through the real service
and job runner, in a throw-away database on the local PostgreSQL server
(``AIHUB_BENCH_SERVER_URL``), as the non-owner app role. Three calls:

* fresh input, model not yet in the process (loads and verifies the artifact);
* fresh input, model in memory;
* an input predicted before (answered from the stored output).

Run it once per tree and compare (figures only, no asserts)::

    python benchmarks/prediction_transactions.py                    # this tree
    git worktree add /tmp/aihub-before <commit>                     # the baseline
    python benchmarks/prediction_transactions.py --tree /tmp/aihub-before
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(ROOT), help="source tree whose aihub is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.tree).resolve()))
    os.environ.setdefault("AIHUB_DATA_DIR", tempfile.mkdtemp(prefix="aihub-bench-"))
    os.environ.setdefault("AIHUB_JOB_BACKEND", "inline")

    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from aihub import auth
    from aihub.services import registry
    from aihub.services.model_cache import forget as forget_models
    from aihub.services.model_config import template_config
    from aihub.services.model_training import create_model
    from aihub.services.predictions import predict_one

    try:  # services moved under aihub.services
        from aihub.services import datasets, jobs
    except ImportError:
        from aihub.services import datasets, jobs
    from aihub.config import load_settings
    from aihub.db import engine as dbengine

    if (Path(args.tree) / "aihub" / "runtime" / "wiring.py").exists():  # wire events as the app does
        importlib.import_module("aihub.runtime.wiring").wire()
    server = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"aihub_bench_{uuid.uuid4().hex[:8]}"
    owner = make_url(server).set(database=name)
    dbengine.ensure_database(owner)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    owner_url, app_url = dbengine.bootstrap(load_settings())
    db = dbengine.Database(owner_url, app_url)
    dbengine.set_database(db)
    try:
        shared = Path(os.environ.get("AIHUB_SHARED_DIR", ROOT.parent / "shared"))
        data = shared / "data" if (shared / "data").is_dir() else shared
        telco = (data / "telco_churn" / "telco_customer_churn.csv").read_bytes()
        admin = auth.create_tenant(f"bench-{name}", f"admin@{name}.example.com", "correct-horse-battery")
        saved = datasets.save_upload(admin, "telco", "telco.csv", telco)
        dsid = saved.version.dataset_id
        cfg = template_config(admin, "churn", dsid, model_name="churn", algorithm="logistic_regression")
        model, job = create_model(admin, cfg, dsid, run=False)
        assert jobs.run_job(admin.tenant_id, job.id) == "succeeded", registry.get_job(admin, job.id).error
        registry.deploy(admin, model.id, registry.list_versions(admin, model.id)[0].id)
        rows = pd.read_csv(data / "telco_churn" / "telco_customer_churn.csv").head(3).to_dict("records")

        counts = {"n": 0}

        def begun(*_):
            counts["n"] += 1

        for engine in (db.app, db.owner):
            sa.event.listen(engine, "begin", begun)
        forget_models()
        print(f"tree: {args.tree} (aihub from {Path(importlib.import_module('aihub').__file__).parents[1]})")
        print(f"{'call':<44}{'transactions':>13}{'ms':>9}")
        for label, row in (("fresh input, model not in memory", rows[0]), ("fresh input, model in memory", rows[1]),
                           ("repeated input (stored output)", rows[1])):
            counts["n"] = 0
            t0 = time.perf_counter()
            out = predict_one(admin, model.id, row)
            ms = (time.perf_counter() - t0) * 1000
            print(f"{label:<44}{counts['n']:>13}{ms:>9.0f}" + ("  (cache hit)" if out.cache_hit else ""))
    finally:
        dbengine.set_database(None)
        db.dispose()
        admin_engine = sa.create_engine(make_url(server), isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


if __name__ == "__main__":
    main()
