"""Segmentation: choosing the number of segments and describing them."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

import aihub.ml.metrics as mmetrics
from aihub.ml.estimators import make_estimator
from aihub.ml.preprocess import parse_numeric
from aihub.ml.rfm import name_segments


def select_clusters(cfg, pipeline_for, X: pd.DataFrame, steps) -> tuple[str, dict[str, Any], Any, list[dict[str, Any]] | None]:
    """K-Means with the configured k, or (``auto``) the k from 2 to ``max_clusters`` with the best silhouette.

    Returns
    -------
    (algorithm, params, unfitted estimator, candidate rows or None)
    """
    from sklearn.metrics import silhouette_score

    if cfg.algorithm == "kmeans":
        params = dict(cfg.hyperparameters)
        return "kmeans", params, make_estimator("clustering", "kmeans", params, seed=cfg.random_seed), None
    max_k = max(2, min(int(cfg.hyperparameters.get("max_clusters", 8)), len(X) - 1))
    Xt = pipeline_for(None)[:-1].fit_transform(X)
    rng = np.random.default_rng(cfg.random_seed)
    sample = rng.choice(len(Xt), size=min(len(Xt), 3000), replace=False)
    rows = []
    for i, k in enumerate(range(2, max_k + 1)):
        steps(0.1 + 0.6 * i / max(1, max_k - 1), f"Trying {k} segments")
        t0 = time.perf_counter()
        params = {"n_clusters": k, "n_init": 10, "max_iter": 300}
        labels = make_estimator("clustering", "kmeans", params, seed=cfg.random_seed).fit_predict(Xt)
        sil = float(silhouette_score(Xt[sample], labels[sample])) if len(np.unique(labels[sample])) > 1 else -1.0
        rows.append(
            {"candidate": f"kmeans_k{k}", "algorithm": "kmeans", "params": params, "metric": "silhouette", "mean": sil, "std": 0.0,
             "folds": [sil], "seconds": round(time.perf_counter() - t0, 3)}
        )  # fmt: skip
    best = max(rows, key=lambda r: r["mean"])
    for r in rows:
        r["selected"] = r is best
    params = dict(best["params"])
    return "kmeans", params, make_estimator("clustering", "kmeans", params, seed=cfg.random_seed), rows


def generic_segments(X: pd.DataFrame, labels: np.ndarray, numeric: list[str]) -> dict[str, dict[str, Any]]:
    """Name clusters "Segment 1..k" by size and describe them by numeric medians."""
    uniq, counts = np.unique(labels, return_counts=True)
    order = [int(u) for u, _ in sorted(zip(uniq, counts), key=lambda t: -t[1])]
    out = {}
    for rank, c in enumerate(order, start=1):
        sel = labels == c
        prof = {}
        for col in numeric[:10]:
            vals, _ = parse_numeric(X.loc[sel, col])
            prof[col] = float(vals.median()) if vals.notna().any() else None
        out[str(c)] = {"name": f"Segment {rank}", "description": "", "size": int(sel.sum()), "medians": prof}
    return out


def cluster_test_metrics(cfg, pipe, frame: pd.DataFrame, plan, X_test: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """Silhouette on the test rows, sizes on all rows, and the segments' names."""
    Xt_test = pipe[:-1].transform(X_test)
    metrics = mmetrics.clustering_metrics(Xt_test, pipe.named_steps["model"].predict(Xt_test), seed=cfg.random_seed)
    all_labels = pipe.predict(frame[plan.used])
    uniq, counts = np.unique(all_labels, return_counts=True)
    metrics["cluster_sizes_all_rows"] = {str(int(u)): int(c) for u, c in zip(uniq, counts)}
    if cfg.data_prep is not None and cfg.data_prep["kind"] == "rfm":
        segments = {str(k): v for k, v in name_segments(frame, all_labels).items()}
    else:
        segments = generic_segments(frame[plan.used], all_labels, plan.numeric)
    metrics["segment_sizes"] = {segments[str(int(u))]["name"]: int(c) for u, c in zip(uniq, counts)}
    return metrics, segments
