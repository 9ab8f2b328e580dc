"""Benchmark: ``auto`` classification vs scikit-learn defaults on the same split.

Default data: IBM Telco churn (``shared/data/telco_churn``), target ``Churn``.
Stratified 80/20 split with seed 0; every model is fitted on the same 80% and
scored by ROC AUC on the same 20%. Baselines (same run, same split):

* logistic regression with one-hot encoding + standard scaling
  (``LogisticRegression(max_iter=1000)``, otherwise defaults);
* ``HistGradientBoostingClassifier()`` with defaults on the same one-hot input.

Nothing in ``aihub.ml`` is tuned to this data set; pass ``--data`` and
``--target`` to run the identical comparison on another business table.
Prints figures only; there are no pass/fail timing asserts.

Usage::

    python benchmarks/ml_telco.py [--data CSV --target COL] [--positive-class X] [--cv-folds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.ml import TrainingConfig, train_model  # noqa: E402
from aihub.ml.preprocess import infer_column_kind, looks_like_id, parse_numeric  # noqa: E402
from aihub.ml.train import _labels, resolve_positive_class  # noqa: E402


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def baselines(train: pd.DataFrame, test: pd.DataFrame, target: str, pos) -> dict[str, float]:
    feats = [c for c in train.columns if c != target and not looks_like_id(train[c], c)[0]]
    num = [c for c in feats if infer_column_kind(train[c]) == "numeric"]
    cat = [c for c in feats if c not in num]

    def prep(df: pd.DataFrame) -> pd.DataFrame:
        out = df[feats].copy()
        for c in num:
            out[c] = parse_numeric(out[c])[0]
        for c in cat:
            out[c] = out[c].astype(str)
        return out

    ytr = (_labels(train[target]) == pos).astype(int)
    yte = (_labels(test[target]) == pos).astype(int)
    Xtr, Xte = prep(train), prep(test)
    out = {}
    for name, est in (
        ("logistic regression (one-hot + scaling)", LogisticRegression(max_iter=1000)),
        ("HistGradientBoosting (defaults)", HistGradientBoostingClassifier(random_state=0)),
    ):
        ct = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat),
            ]
        )
        t0 = time.perf_counter()
        pipe = make_pipeline(ct, est).fit(Xtr, ytr)
        out[name] = (float(roc_auc_score(yte, pipe.predict_proba(Xte)[:, 1])), time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(shared_dir() / "telco_churn" / "telco_customer_churn.csv"))
    ap.add_argument("--target", default="Churn")
    ap.add_argument("--positive-class", default=None)
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    df = pd.read_csv(args.data, encoding="utf-8-sig", low_memory=False)
    df = df[df[args.target].notna()].reset_index(drop=True)
    y = _labels(df[args.target])
    pos = resolve_positive_class(sorted(set(y.tolist()), key=str), args.positive_class)
    train, test = train_test_split(df, test_size=0.2, random_state=args.seed, stratify=y.astype(str))
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    print(f"data: {args.data}  rows {len(df)}  train {len(train)}  test {len(test)}  positive class {pos!r}")

    with threadpool_limits(1):
        base = baselines(train, test, args.target, pos)
    cfg = TrainingConfig.from_dict(
        {
            "model_name": "benchmark_auto",
            "task": "classification",
            "target": args.target,
            "algorithm": "auto",
            "validation_split": 0.0,
            "cv_folds": args.cv_folds,
            "random_seed": args.seed,
            "positive_class": pos,
        }
    )
    t0 = time.perf_counter()
    model = train_model(cfg, train, test_frame=test)
    secs = time.perf_counter() - t0
    auc = model.metrics["roc_auc"]

    print("\nROC AUC on the held-out 20% (same split for all):")
    for name, (score, s) in base.items():
        print(f"  {name:45s} {score:.4f}   ({s:.1f} s)")
    chosen = [r["candidate"] for r in model.cv_results if r["selected"]][0]
    print(f"  {'aihub auto -> ' + chosen:45s} {auc:.4f}   ({secs:.1f} s incl. CV and SHAP importance)")
    best = max(v[0] for v in base.values())
    print(f"\nauto minus best baseline: {auc - best:+.4f}")
    print(f"\n{args.cv_folds}-fold CV on the training 80% (metric {model.cv_results[0]['metric']}):")
    for r in model.cv_results:
        mark = "  <- selected" if r["selected"] else ""
        print(f"  {r['candidate']:24s} mean {r['mean']:.4f}  std {r['std']:.4f}  ({r['seconds']:.1f} s){mark}")
    print("\nexcluded columns:", model.excluded_columns)
    print("top features (mean |SHAP|):", ", ".join(f"{g['feature']} {g['importance']:.3f}" for g in (model.global_importance or [])[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
