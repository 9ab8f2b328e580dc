"""Benchmark: prediction and explanation speed, next to baselines from the same run.

On IBM Telco churn (``shared/data/telco_churn``):

1. batch prediction of 100,000 rows (Telco rows resampled) with
   ``aihub.ml.predict`` (row validation, coercion, output frame) vs the
   pipeline's own ``predict_proba`` on the same rows;
2. SHAP for 1,000 rows of a 100-tree random forest: ``aihub.ml.explain``
   (exact path-dependent TreeSHAP, numba kernel) vs ``shap.TreeExplainer``
   on the same forest and rows (timed on 100 rows and scaled by 10 when slow),
   for the product's default forest (``min_samples_leaf=5``) and for
   scikit-learn's default fully grown trees (``min_samples_leaf=1``);
   plus the other explainers (boosting, logistic regression, blend);
3. single-row latency of ``predict_one`` with and without explanation vs
   ``pipeline.predict_proba`` on one row (median of 50).

Figures only, no pass/fail asserts. Timings depend on machine load; the
baselines are measured in the same process right next to each figure, and
the fast paths report the best of two runs.

Usage::

    python benchmarks/ml_speed.py [--rows 100000] [--shap-rows 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.ml import explain, predict, predict_one, train_model


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def timed(fn, *a, repeat: int = 1, **k):
    """Run ``fn`` ``repeat`` times; return its output and the fastest time (s)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*a, **k)
        best = min(best, time.perf_counter() - t0)
    return out, best


def median_latency(fn, n: int = 50) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    import numba
    import shap

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--shap-rows", type=int, default=1000)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    df = pd.read_csv(shared_dir() / "telco_churn" / "telco_customer_churn.csv")
    print(f"cpus {os.cpu_count()}, numba threads {numba.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    base_cfg = {"task": "classification", "target": "Churn", "validation_split": 0.0}
    rf, s = timed(train_model, {**base_cfg, "algorithm": "random_forest", "hyperparameters": {"n_estimators": 100}}, df)
    est = rf.estimator
    print(
        f"random forest: 100 trees, min_samples_leaf 5, mean depth {np.mean([t.tree_.max_depth for t in est.estimators_]):.1f}, "
        f"mean leaves {np.mean([t.tree_.n_leaves for t in est.estimators_]):.0f} (trained in {s:.1f} s)"
    )

    # 1. batch prediction ---------------------------------------------------
    big = df.sample(n=args.rows, replace=True, random_state=0).reset_index(drop=True)
    feats = big[rf.features]
    _, t_pipe = timed(rf.pipeline.predict_proba, feats, repeat=2)
    out, t_ours = timed(predict, rf, big, repeat=2)
    assert out["error"].isna().all()
    print(f"\n1. batch prediction of {args.rows:,} rows")
    print(f"   pipeline.predict_proba (baseline)        {t_pipe:7.2f} s  ({args.rows / t_pipe:,.0f} rows/s)")
    print(f"   aihub predict (validation + output)      {t_ours:7.2f} s  ({args.rows / t_ours:,.0f} rows/s, x{t_ours / t_pipe:.2f})")

    # 2. SHAP ---------------------------------------------------------------
    rows = df.sample(n=args.shap_rows, random_state=1).reset_index(drop=True)
    print(f"\n2. SHAP for {args.shap_rows:,} rows")
    _, t_first = timed(explain, rf, rows.head(5))
    print(f"   first call (loads/compiles the numba kernel, builds leaf tables): {t_first:.2f} s")

    def compare(model, label):
        _, t = timed(explain, model, rows, repeat=2)
        Xt = model.transform(rows[model.features])
        n_base = args.shap_rows if model.estimator.estimators_[0].tree_.max_depth <= 12 else min(100, args.shap_rows)
        e = shap.TreeExplainer(model.estimator)
        sv, tb = timed(e, Xt[:n_base], check_additivity=False)
        scale = args.shap_rows / n_base
        pos = model.classes.index(model.positive_class)  # the estimator is fitted on class codes in `classes` order
        phi = sv.values[:, :, pos]
        G = np.zeros((Xt.shape[1], len(model.features)))
        for j, o in enumerate(model.transformed_origins):
            G[j, model.features.index(o)] = 1
        # explain() reports calibrated probabilities; compare the kernel's raw forest values to shap's
        from aihub.ml.explain import _transformed_shap

        raw = _transformed_shap(model, "tree_path_dependent", Xt[:n_base], pos)[0] @ G
        diff = np.abs(phi @ G - raw).max()
        print(f"   {label}")
        print(f"     aihub explain (exact TreeSHAP kernel)   {t:7.2f} s")
        print(
            f"     shap.TreeExplainer (baseline)           {tb * scale:7.2f} s"
            + (f"  (measured on {n_base} rows x {scale:.0f})" if scale > 1 else "")
            + f"   max |difference| {diff:.1e}"
        )

    compare(rf, "100-tree forest, product defaults (min_samples_leaf 5):")
    full, _ = timed(train_model, {**base_cfg, "algorithm": "random_forest", "hyperparameters": {"n_estimators": 100, "min_samples_leaf": 1}}, df)
    d = np.mean([t.tree_.max_depth for t in full.estimator.estimators_])
    compare(full, f"100-tree forest, fully grown (min_samples_leaf 1, mean depth {d:.0f}):")
    for algo in ("gradient_boosting", "logistic_regression"):
        m, _ = timed(train_model, {**base_cfg, "algorithm": algo}, df)
        explain(m, rows.head(5))
        ex, t = timed(explain, m, rows)
        print(f"   {algo:22s} ({ex.method}, {ex.output_space}): {t:7.2f} s")

    # 3. single prediction --------------------------------------------------
    one = df.iloc[[3]][rf.features]
    values = one.iloc[0].to_dict()
    t_base = median_latency(lambda: rf.pipeline.predict_proba(one))
    t_pred = median_latency(lambda: predict_one(rf, values, explain=False))
    t_expl = median_latency(lambda: predict_one(rf, values, explain=True), n=20)
    print("\n3. single-row latency (median)")
    print(f"   pipeline.predict_proba (baseline)        {t_base * 1000:7.1f} ms")
    print(f"   aihub predict_one                        {t_pred * 1000:7.1f} ms")
    print(f"   aihub predict_one + SHAP explanation     {t_expl * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
