"""Benchmark: every shared table trained through the product's services, ``auto`` next to a same-run baseline.

What an analyst gets on the Models screen: each table of ``shared/data/tables``
(``winequality_red`` twice, as classes and as amounts) and IBM Telco churn is
uploaded with :func:`aihub.services.datasets.save_upload`, its target read by
:func:`aihub.services.model_config.target_profile` (kind, default positive
class), and trained by :func:`aihub.services.model_training.create_model` and
the job runner, in a throw-away database on the local PostgreSQL server
(``AIHUB_BENCH_SERVER_URL``) as the non-owner app role. Figures are the
version's stored held-out test metrics (the service's 20% test split, seed 0,
never seen in training): ROC AUC and Brier score for classes (binary: of the
positive class; multiclass: macro one-vs-rest AUC, Brier summed over
classes), R² for amounts, and the training seconds.

Baseline, same run, same split: logistic regression (linear regression for
amounts) through the same service. ``benchmarks/ml_tables.py`` compares the
core against scikit-learn's defaults on repeated splits; this one shows the
service path end to end.

Usage::

    python benchmarks/ml_tables_service.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIHUB_DATA_DIR", tempfile.mkdtemp(prefix="aihub-bench-"))
os.environ.setdefault("AIHUB_JOB_BACKEND", "inline")

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aihub import auth
from aihub.config import load_settings
from aihub.db import engine as dbengine
from aihub.runtime.wiring import wire
from aihub.services import datasets, jobs, model_config, model_training, registry

SERVER = os.environ.get("AIHUB_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: (file under shared/data, target (None: last column), task)
TABLES = [
    ("tables/heart_disease.csv", "target", "classification"),
    ("tables/loan_approval.csv", "Loan_Status", "classification"),
    ("tables/banknote.csv", "Class", "classification"),
    ("tables/car_evaluation.csv", "class", "classification"),
    ("tables/winequality_red.csv", "quality", "classification"),
    ("tables/winequality_red.csv", "quality", "regression"),
    ("tables/concrete_strength.csv", None, "regression"),
    ("tables/bike_sharing_hourly.csv", "cnt", "regression"),
    ("telco_churn/telco_customer_churn.csv", "Churn", "classification"),
]


def shared_data() -> Path:
    shared = Path(os.environ.get("AIHUB_SHARED_DIR", ROOT.parent / "shared"))
    return shared / "data" if (shared / "data").is_dir() else shared


def train(admin, dsid: int, name: str, target: str, task: str, algorithm: str):
    model, job = model_training.create_model(admin, {"model_name": name, "task": task, "target": target,
                                                     "algorithm": algorithm}, dsid, run=False)
    t0 = time.perf_counter()
    status = jobs.run_job(admin.tenant_id, job.id)
    seconds = time.perf_counter() - t0
    if status != "succeeded":
        return None, registry.get_job(admin, job.id).error, seconds
    return registry.list_versions(admin, model.id)[0], None, seconds


def fmt(v) -> str:
    return "   —  " if v is None else f"{v:6.3f}"


def main() -> None:
    wire()
    name = f"aihub_bench_{uuid.uuid4().hex[:8]}"
    owner = make_url(SERVER).set(database=name)
    dbengine.ensure_database(owner)
    os.environ["AIHUB_DATABASE_URL"] = owner.render_as_string(hide_password=False)
    owner_url, app_url = dbengine.bootstrap(load_settings())
    db = dbengine.Database(owner_url, app_url)
    dbengine.set_database(db)
    try:
        admin = auth.create_tenant(f"bench-{name}", f"admin@{name}.example.com", "correct-horse-battery")
        print(f"{'table':<26}{'task':<8}{'kind / positive':<22}{'auto':>30}   {'baseline (linear)':>30}")
        print(f"{'':<56}{'AUC    Brier   R²     s':>30}   {'AUC    Brier   R²     s':>30}")
        saved: dict[str, int] = {}
        for path, target, task in TABLES:
            file = shared_data() / path
            if path not in saved:
                saved[path] = datasets.save_upload(admin, file.stem, file.name, file.read_bytes()).version.dataset_id
            dsid = saved[path]
            if target is None:
                target = str(model_config.dataset_frame(admin, dsid)[1].columns[-1])
            profile = model_config.target_profile(admin, dsid, target, task)
            kind = (f"binary / {profile['positive_class']}" if profile["classes"] and len(profile["classes"]) == 2
                    else f"{len(profile['classes'])} classes" if profile["classes"] else "amounts")
            cells = []
            for algorithm in ("auto", "logistic_regression" if task == "classification" else "linear_regression"):
                version, error, seconds = train(admin, dsid, f"{file.stem} {task} {algorithm}", target, task,
                                                algorithm)
                if version is None:
                    cells.append(f"failed: {error[:24]}")
                    continue
                m = version.metrics
                cells.append(f"{fmt(m.get('roc_auc'))} {fmt(m.get('brier'))} {fmt(m.get('r2'))} {seconds:5.1f}")
            print(f"{file.stem[:25]:<26}{task[:7]:<8}{kind[:21]:<22}{cells[0]:>30}   {cells[1]:>30}")
    finally:
        dbengine.set_database(None)
        db.dispose()
        engine = sa.create_engine(make_url(SERVER), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


if __name__ == "__main__":
    main()
