"""Benchmark: risk scores per record against a plain isolation forest, on labelled data.

Two data sets, each split in time: the scorer is fitted on the earlier part and
measured on the later part.

(a) Superstore orders (``shared/data/superstore``) with frauds planted in code
    from a fixed seed, four kinds in equal numbers (0.5% of the rows each):

    * ``combo``: implausible discount, quantity and profit together (a discount
      of 60-80% on 9-14 units with a profit of 30-50% of sales);
    * ``new_region``: a copy of one of a regular customer's orders shipped to a
      region (with its state and city) the customer never used;
    * ``split``: one order of 5+ units broken into 4-7 single-unit orders of the
      same customer on the same day (every piece is a fraud row);
    * ``amount``: the sales amount multiplied by 6-15 with quantity and profit
      unchanged (a price outlier).

    Time split: rows ordered by Order Date; the first 60% of days are the
    earlier part. Settings an analyst would give: id ``Row ID``, entity
    ``Customer ID``, time ``Order Date`` (``%d/%m/%y``), group ``Order ID``,
    ``Postal Code`` excluded (a code, not an amount).

(b) The rare class of a shared table used as "fraud": red wine quality 3 or 4
    (``shared/data/tables/winequality_red.csv``, 63 of 1,599 wines, 3.9%).
    The table has no dates, so the file order is the time: the first 60% of
    rows are the earlier part. No settings.

For each: the fraud rate of the later part, then precision at the top 1% of
scores (and at 5%) and ROC AUC on the later part for

* the baseline (same run): ``IsolationForest(random_state=0)`` with
  scikit-learn defaults on the raw numeric columns;
* :class:`aihub.anomaly.records.RecordScorer` unsupervised;
* the same after N confirmations: an analyst reviews the N highest-scored
  rows of the earlier part, each becomes confirmed or dismissed from the
  truth, :meth:`RecordScorer.learn` trains on them, and the later part is
  scored.

Superstore seed 0 was used while building the scorer; the figures to quote are
the mean over seeds 1-5 (``--seeds``). Per-kind recall in the top 5% shows
which frauds are caught. No pass/fail asserts.

Usage::

    python benchmarks/fraud_records.py [--seeds 1,2,3,4,5] [--confirmations 100,300] [--skip-wine]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.anomaly.records import RecordScorer

DATA = Path(os.environ.get("AIHUB_SHARED_DIR", ROOT.parent / "shared")) / "data"
KINDS = ("combo", "new_region", "split", "amount")
SUPERSTORE_SETTINGS = {"id_col": "Row ID", "entity_col": "Customer ID", "time_col": "Order Date",
                       "time_format": "%d/%m/%y", "group_col": "Order ID", "exclude": ["Postal Code"]}


# --------------------------------------------------------------------------- planting
def plant_superstore(orders: pd.DataFrame, seed: int, rate: float = 0.005) -> pd.DataFrame:
    """Orders with ``is_fraud`` and ``fraud_kind`` columns and planted frauds of the four kinds."""
    rng = np.random.default_rng(seed)
    d = orders.copy()
    d["is_fraud"], d["fraud_kind"] = 0, ""
    k = int(rate * len(d))
    next_id = [int(d["Row ID"].max()) + 1]

    def new_ids(n: int) -> list[int]:
        ids = list(range(next_id[0], next_id[0] + n))
        next_id[0] += n
        return ids

    # combo: implausible discount-quantity-profit
    rows = rng.choice(d.index[d["is_fraud"] == 0], k, replace=False)
    d.loc[rows, "Discount"] = rng.choice([0.6, 0.7, 0.8], k)
    d.loc[rows, "Quantity"] = rng.integers(9, 15, k)
    d.loc[rows, "Profit"] = d.loc[rows, "Sales"] * rng.uniform(0.3, 0.5, k)
    d.loc[rows, ["is_fraud", "fraud_kind"]] = [1, "combo"]
    # amount: price outliers
    rows = rng.choice(d.index[d["is_fraud"] == 0], k, replace=False)
    d.loc[rows, "Sales"] = d.loc[rows, "Sales"] * rng.uniform(6, 15, k)
    d.loc[rows, ["is_fraud", "fraud_kind"]] = [1, "amount"]
    # new_region: a regular customer's order shipped to a region they never used
    counts = d.groupby("Customer ID")["Region"].agg(["size", "nunique"])
    regulars = counts[(counts["size"] >= 6) & (counts["nunique"] < 4)].index.to_numpy()
    places = d[["Region", "State/Province", "City", "Postal Code", "Country/Region"]].drop_duplicates()
    extra = []
    for cust in rng.choice(regulars, k, replace=True):
        own = d[d["Customer ID"] == cust]
        src = own.iloc[int(rng.integers(len(own)))].copy()
        unused = sorted(set(places["Region"]) - set(own["Region"]))
        place = places[places["Region"] == unused[int(rng.integers(len(unused)))]]
        place = place.iloc[int(rng.integers(len(place)))]
        for c in place.index:
            src[c] = place[c]
        src["Order ID"] = f"FR-{seed}-{len(extra)}"
        src["is_fraud"], src["fraud_kind"] = 1, "new_region"
        extra.append(src)
    # split: one order of 5+ units into 4-7 single-unit orders, same customer and day
    big = d.index[(d["is_fraud"] == 0) & (d["Quantity"] >= 5)]
    drop = []
    for r in rng.choice(big, max(1, k // 5), replace=False):
        src = d.loc[r]
        m = int(rng.integers(4, 8))
        drop.append(r)
        for j in range(m):
            piece = src.copy()
            piece["Quantity"] = 1
            piece["Sales"] = src["Sales"] / src["Quantity"]
            piece["Profit"] = src["Profit"] / src["Quantity"]
            piece["Order ID"] = f"SP-{seed}-{r}-{j}"
            piece["is_fraud"], piece["fraud_kind"] = 1, "split"
            extra.append(piece)
    d = d.drop(index=drop)
    add = pd.DataFrame(extra)
    add["Row ID"] = new_ids(len(add))
    d = pd.concat([d, add], ignore_index=True)
    return d.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def time_split(frame: pd.DataFrame, dates: pd.Series, share: float = 0.6) -> tuple[pd.DataFrame, pd.DataFrame]:
    days = np.sort(dates.unique())
    cut = days[int(share * len(days))]
    order = np.argsort(dates.to_numpy(), kind="stable")
    frame, dates = frame.iloc[order].reset_index(drop=True), dates.iloc[order].reset_index(drop=True)
    return frame[dates < cut].reset_index(drop=True), frame[dates >= cut].reset_index(drop=True)


# --------------------------------------------------------------------------- measuring
def precision_at(y: np.ndarray, s: np.ndarray, share: float) -> float:
    k = max(1, math.ceil(share * len(y)))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())


def figures(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    return {"p@1%": precision_at(y, s, 0.01), "p@5%": precision_at(y, s, 0.05), "auc": float(roc_auc_score(y, s))}


def baseline_scores(earlier: pd.DataFrame, later: pd.DataFrame, drop: list[str]) -> np.ndarray:
    cols = [c for c in earlier.select_dtypes("number").columns if c not in drop]
    forest = IsolationForest(random_state=0).fit(earlier[cols].fillna(0).to_numpy())
    return -forest.score_samples(later[cols].fillna(0).to_numpy())


def evaluate(earlier: pd.DataFrame, later: pd.DataFrame, label: str, settings: dict, base_drop: list[str],
             confirmations: list[int], kinds: pd.Series | None = None) -> list[dict]:
    y_e, y_l = earlier[label].to_numpy(int), later[label].to_numpy(int)
    feats_e, feats_l = earlier.drop(columns=base_drop), later.drop(columns=base_drop)
    out = [{"method": "baseline IsolationForest (raw numeric)", **figures(y_l, baseline_scores(
        earlier.drop(columns=base_drop), feats_l, [settings.get("id_col")]))}]
    t0 = time.perf_counter()
    scorer = RecordScorer(settings).fit(feats_e)
    scored = scorer.score(feats_l, explain=False)
    secs = time.perf_counter() - t0
    row = {"method": "RecordScorer unsupervised", **figures(y_l, scored["score"].to_numpy()), "seconds": secs}
    if kinds is not None:
        row["kinds"] = per_kind(scored["score"].to_numpy(), kinds)
    out.append(row)
    review = scorer.score(feats_e, explain=False)
    ranked = np.argsort(-review["score"].to_numpy(), kind="stable")
    for n in confirmations:
        picked = ranked[:n]
        labels = pd.Series(np.where(y_e[picked] == 1, "confirmed", "dismissed"), index=review["id"].to_numpy()[picked])
        learned = RecordScorer(settings).fit(feats_e).learn(feats_e, labels)
        s = learned.score(feats_l, explain=False)["score"].to_numpy()
        row = {"method": f"+ supervised after {n} confirmations ({int(y_e[picked].sum())} confirmed)",
               **figures(y_l, s)}
        if kinds is not None:
            row["kinds"] = per_kind(s, kinds)
        out.append(row)
    return out


def per_kind(s: np.ndarray, kinds: pd.Series) -> dict[str, float]:
    k = max(1, math.ceil(0.05 * len(s)))
    top = np.zeros(len(s), dtype=bool)
    top[np.argsort(-s, kind="stable")[:k]] = True
    kinds = kinds.to_numpy()
    return {kind: float(top[kinds == kind].mean()) for kind in KINDS if (kinds == kind).any()}


def show(title: str, rate: float, n: int, rows: list[dict]) -> None:
    print(f"\n== {title}: later part {n:,} rows, fraud rate {rate:.2%} (precision of a random ranking)")
    for r in rows:
        extra = f"  ({r['seconds']:.1f} s fit+score)" if "seconds" in r else ""
        print(f"  {r['method']:<58} p@1% {r['p@1%']:.3f}  p@5% {r['p@5%']:.3f}  ROC AUC {r['auc']:.3f}{extra}")
        if "kinds" in r:
            print("  " + " " * 58 + " recall in top 5%: " + ", ".join(f"{k} {v:.2f}" for k, v in r["kinds"].items()))


def run_superstore(seeds: list[int], confirmations: list[int]) -> None:
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    table: dict[str, list[dict]] = {}
    rates = []
    for seed in seeds:
        d = plant_superstore(orders, seed)
        dates = pd.to_datetime(d["Order Date"], format="%d/%m/%y")
        earlier, later = time_split(d, dates)
        rows = evaluate(earlier, later, "is_fraud", SUPERSTORE_SETTINGS, ["is_fraud", "fraud_kind"], confirmations,
                        later["fraud_kind"])
        rates.append(later["is_fraud"].mean())
        show(f"Superstore, planted frauds, seed {seed}", rates[-1], len(later), rows)
        for r in rows:
            table.setdefault(r["method"].split(" (")[0], []).append(r)
    if len(seeds) > 1:
        print(f"\n== Superstore, mean over seeds {seeds}: fraud rate {np.mean(rates):.2%}")
        for method, rs in table.items():
            p1 = [r["p@1%"] for r in rs]
            print(f"  {method:<58} p@1% {np.mean(p1):.3f} (min {min(p1):.3f}, max {max(p1):.3f})  "
                  f"p@5% {np.mean([r['p@5%'] for r in rs]):.3f}  ROC AUC {np.mean([r['auc'] for r in rs]):.3f}")


def run_wine(confirmations: list[int]) -> None:
    wine = pd.read_csv(DATA / "tables" / "winequality_red.csv", sep=";")
    wine["is_fraud"] = (wine["quality"] <= 4).astype(int)
    wine = wine.drop(columns="quality")
    cut = int(0.6 * len(wine))
    earlier, later = wine.iloc[:cut].reset_index(drop=True), wine.iloc[cut:].reset_index(drop=True)
    rows = evaluate(earlier, later, "is_fraud", {}, ["is_fraud"], confirmations)
    show("Red wine, quality 3-4 as the rare class", later["is_fraud"].mean(), len(later), rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--confirmations", default="100,300")
    ap.add_argument("--wine-confirmations", default="30,100")
    ap.add_argument("--skip-wine", action="store_true")
    args = ap.parse_args(argv)
    run_superstore([int(s) for s in args.seeds.split(",")], [int(n) for n in args.confirmations.split(",")])
    if not args.skip_wine:
        run_wine([int(n) for n in args.wine_confirmations.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
