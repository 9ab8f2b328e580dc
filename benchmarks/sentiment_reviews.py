"""Benchmark: label-free sentiment (VADER via :mod:`aihub.sentiment`) on labelled review sentences.

Data: ``shared/data/sentiment`` (UCI Sentiment Labelled Sentences: 1,000
Amazon product and 1,000 Yelp restaurant sentences, half positive). No
training happens, so every figure is out of sample. Reported per file:

* ROC AUC of the compound score against the labels;
* accuracy of the label (positive vs not positive, neutral counted as a miss
  for positive sentences), beside the **majority-class baseline** (0.50 here);
* the share of English sentences the language check rejects as unsupported.

Usage::

    python benchmarks/sentiment_reviews.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.sentiment import score_texts


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def main() -> int:
    print(f"{'file':<20}{'ROC AUC':>9}{'accuracy':>10}{'majority':>10}{'unsupported':>13}{'rows/s':>9}")
    for name in ("amazon_reviews", "yelp_reviews"):
        df = pd.read_csv(shared_dir() / "sentiment" / f"{name}.csv")
        t0 = time.perf_counter()
        s = score_texts(df, "text")
        rate = len(df) / (time.perf_counter() - t0)
        y = df["label"].to_numpy()
        ok = s["score"].notna().to_numpy()
        auc = roc_auc_score(y[ok], s["score"].to_numpy()[ok])
        pred = (s["label"] == "positive").to_numpy().astype(int)
        acc = float((pred == y).mean())
        majority = max(np.mean(y), 1 - np.mean(y))
        print(f"{name:<20}{auc:>9.3f}{acc:>10.3f}{majority:>10.3f}{(~ok).mean():>13.2%}{rate:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
