"""Benchmark: recommendations on Superstore order lines, time split, against popularity.

Protocol (out of sample): the test is the last ``--test-weeks`` weeks of order
lines; models are fitted on everything before. A customer counts when they
bought, in the test window, a product they had never bought before; those
products are the relevant set (already-bought products are neither
recommended nor counted). Full ranking over all products, no sampling.
Repeated on ``--windows`` consecutive non-overlapping windows ending at the
last order (each window's model sees only earlier data); the headline is the
mean over windows, with the users of all windows pooled for the 90% bootstrap
interval of the difference to the baseline.

Named baseline: **popularity** (:func:`aihub.recommend.popularity_baseline`:
products with the most distinct buyers before the cut-off, minus the
customer's own). Also shown: the expected hit rate of a random list.

Nothing is tuned on this data: every method runs with the library defaults of
:class:`aihub.recommend.RecommendParams`, and ``auto`` chooses on a validation
split carved from the training part only.

Usage::

    python benchmarks/recommend_superstore.py [--test-weeks 8] [--windows 6] [--k 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.recommend import (
    fit_recommender,
    heldout_relevant,
    interactions,
    popularity_baseline,
    ranking_metrics,
    recommend,
    time_split,
)

METHODS = ("auto", "popularity", "recent_popularity", "item_item", "als", "bpr")


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def per_user(got: dict[str, list[str]], relevant: dict[str, set], k: int) -> np.ndarray:
    """NDCG@k of each relevant user (for the bootstrap)."""
    return np.array([ranking_metrics({u: got.get(u, [])}, {u: r}, k)["ndcg"] for u, r in relevant.items()])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--test-weeks", type=int, default=8)
    ap.add_argument("--windows", type=int, default=6)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--item-col", default="Product ID")
    args = ap.parse_args(argv)
    orders = pd.read_csv(shared_dir() / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    inter = interactions(orders, "Customer ID", args.item_col, time_col="Order Date", dayfirst=True)
    end = inter["time"].max()
    k = args.k
    results: dict[str, list[dict]] = {}
    ndcg_users: dict[str, list[np.ndarray]] = {}
    random_hits = []
    print(f"Superstore: {inter['user'].nunique()} customers, {inter['item'].nunique()} products ({args.item_col}), "
          f"{len(inter)} lines; test = {args.test_weeks} weeks x {args.windows} windows; k = {k}")
    for w in range(args.windows):
        upto = inter[inter["time"] <= end - pd.Timedelta(weeks=args.test_weeks * w)]
        train, test, cut = time_split(upto, test_days=7 * args.test_weeks)
        relevant = heldout_relevant(train, test)
        users = list(relevant)
        n_items = train["item"].nunique()
        mean_rel = np.mean([len(r) for r in relevant.values()])
        random_hits.append(1 - np.prod([(n_items - mean_rel - i) / (n_items - i) for i in range(k)]))
        got_all = {"popularity baseline": popularity_baseline(train, users, k)}
        for m in METHODS:
            t0 = time.perf_counter()
            rec = fit_recommender(train, method=m, k=k)
            recs = recommend(rec, users=users, k=k)
            got_all[m if m != "auto" else f"auto ({rec.method_})"] = recs.groupby("user", sort=False)["item"].agg(list).to_dict()
            results.setdefault(m + "_seconds", []).append({"s": time.perf_counter() - t0})
        for name, got in got_all.items():
            key = name.split(" (")[0]
            row = ranking_metrics(got, relevant, k)
            row["window"] = f"{cut.date()}+{args.test_weeks}w"
            row["label"] = name
            results.setdefault(key, []).append(row)
            ndcg_users.setdefault(key, []).append(per_user(got, relevant, k))
        print(f"  window {w + 1}: test from {cut.date()}, {len(users)} customers with new products, "
              f"{n_items} products in training")
    base = np.concatenate(ndcg_users["popularity baseline"])
    rng = np.random.default_rng(0)
    print(f"\n{'method':<22}{'hit rate@' + str(k):>12}{'recall@' + str(k):>11}{'NDCG@' + str(k):>10}"
          f"{'NDCG - baseline, 90% CI':>30}{'fit+score s':>13}")
    for key, rows in results.items():
        if key.endswith("_seconds"):
            continue
        hr, rc, nd = (np.mean([r[m] for r in rows]) for m in ("hit_rate", "recall", "ndcg"))
        diff = np.concatenate(ndcg_users[key]) - base
        boots = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(1000)]
        secs = results.get(key + "_seconds")
        chosen = ", ".join(sorted({r["label"].split("(")[-1].rstrip(")") for r in rows})) if key == "auto" else ""
        label = f"{key} [{chosen}]" if chosen else key
        ci = "" if key == "popularity baseline" else f"{diff.mean():+.4f} [{np.percentile(boots, 5):+.4f}, {np.percentile(boots, 95):+.4f}]"
        took = "" if not secs else f"{np.mean([s['s'] for s in secs]):.1f}"
        print(f"{label:<22}{hr:>12.4f}{rc:>11.4f}{nd:>10.4f}{ci:>30}{took:>13}")
    print(f"{'random list (expected)':<22}{np.mean(random_hits):>12.4f}")
    last = {key: rows[0] for key, rows in results.items() if not key.endswith("_seconds")}
    print(f"\nLast window only ({last['popularity baseline']['window']}): "
          + "; ".join(f"{key} hit {r['hit_rate']:.4f} NDCG {r['ndcg']:.4f}" for key, r in last.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
