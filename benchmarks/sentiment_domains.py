"""Benchmark: the trained text model against VADER alone, across review domains, out of sample.

Data: ``shared/data/sentiment`` -- 1,000 one-sentence product reviews
(Amazon) and 1,000 restaurant reviews (Yelp), ``text,label`` with 1 positive
(Kotzias et al., KDD 2015).

Model: what ``aihub train --input REVIEWS.csv --target label`` trains on a
table whose only feature is a text column: :func:`aihub.ml.train_model` with
``algorithm="auto"`` on TF-IDF word features plus VADER's compound, positive
and negative scores (:mod:`aihub.ml.text`). Baseline (same rows, same run):
VADER's compound score alone (Hutto & Gilbert 2014), which needs no training.

Splits, each scored by ROC AUC of the positive label:

* ``amazon -> yelp``: train on all product reviews, test on all restaurant reviews;
* ``yelp -> amazon``: the reverse;
* ``both -> held-out``: each file split 80/20 (stratified, seed 0); train on
  both 80% parts, test on the two 20% parts together.

Goal: the model beats VADER alone on the domain it was not trained on, both
ways, and on the held-out split when trained on both.

Usage::

    python benchmarks/sentiment_domains.py [--algorithm auto]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.ml import train_model
from aihub.sentiment import lexicon_scores
from benchmarks.ml_tables import shared_dir


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(shared_dir() / "sentiment" / f"{name}_reviews.csv")


def evaluate(train: pd.DataFrame, test: pd.DataFrame, algorithm: str) -> dict[str, object]:
    t0 = time.perf_counter()
    model = train_model({"task": "classification", "target": "label", "algorithm": algorithm}, train, test_frame=test)
    p = model.predict_proba(test[model.features])[:, model.classes.index(model.positive_class)]
    seconds = time.perf_counter() - t0
    y = (test["label"] == 1).to_numpy()
    vader = lexicon_scores(test["text"].tolist())["score"].to_numpy()
    return {
        "model_auc": float(roc_auc_score(y, p)),
        "model_brier": float(np.mean((p - y) ** 2)),
        "vader_auc": float(roc_auc_score(y, vader)),
        "seconds": seconds,
        "chosen": model.algorithm,
        "positive": model.positive_class,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--algorithm", default="auto", help="algorithm of the trained model (default auto)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    amazon, yelp = load("amazon"), load("yelp")
    a_tr, a_te = train_test_split(amazon, test_size=0.2, random_state=0, stratify=amazon["label"])
    y_tr, y_te = train_test_split(yelp, test_size=0.2, random_state=0, stratify=yelp["label"])
    runs = {
        "amazon -> yelp": (amazon, yelp),
        "yelp -> amazon": (yelp, amazon),
        "both -> held-out": (pd.concat([a_tr, y_tr], ignore_index=True), pd.concat([a_te, y_te], ignore_index=True)),
    }
    print(f"{'train -> test':18s} {'rows':>11s} {'model AUC':>10s} {'VADER AUC':>10s} {'gain':>7s} {'Brier':>7s} {'seconds':>8s}  chosen")
    with threadpool_limits(1):
        for name, (train, test) in runs.items():
            r = evaluate(train, test, args.algorithm)
            rows = f"{len(train)}/{len(test)}"
            print(f"{name:18s} {rows:>11s} {r['model_auc']:10.4f} {r['vader_auc']:10.4f} {r['model_auc'] - r['vader_auc']:+7.4f} "
                  f"{r['model_brier']:7.4f} {r['seconds']:8.1f}  {r['chosen']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
