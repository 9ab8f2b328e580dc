"""Benchmark: ``auto`` against scikit-learn's defaults on one business table (default: Telco churn).

The same comparison as ``benchmarks/ml_tables.py`` (same models, same
preprocessing of the defaults, same scoring: ROC AUC or R², Brier, seconds),
for any CSV: pass ``--data`` and ``--target``. Stratified 80/20 split with
``--seed``; every model is fitted on the same 80% and scored on the same 20%.
It also prints ``auto``'s cross-validated candidates, the excluded columns and
the top features. Nothing in ``aihub.ml`` is tuned to this data set.

Usage::

    python benchmarks/ml_telco.py [--data CSV --target COL] [--task classification|regression]
                                  [--sep ,] [--positive-class X] [--cv-folds 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ml_tables import Table, print_summary, print_table, run_auto, run_defaults, shared_dir, split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(shared_dir() / "telco_churn" / "telco_customer_churn.csv"))
    ap.add_argument("--target", default="Churn")
    ap.add_argument("--task", default="classification", choices=["classification", "regression"])
    ap.add_argument("--sep", default=",")
    ap.add_argument("--positive-class", default=None)
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    path = Path(args.data).resolve()
    table = Table(path.stem, str(path), args.target, args.task, sep=args.sep, positive_class=args.positive_class)
    frame = table.load()
    train, test = split(table, frame, args.seed)
    print(f"data: {path}  rows {len(frame)}  train {len(train)}  test {len(test)}")
    with threadpool_limits(1):
        auto, classes, pos = run_auto(table, train, test, args.cv_folds)
        results = [auto, *run_defaults(table, train, test, classes, pos)]
    print_table(results)
    print_summary(results)
    print(f"\n{args.cv_folds}-fold CV on the training 80%:")
    for r in auto.cv:
        mark = "  <- selected" + (f" ({r['rule']})" if r.get("rule") else "") if r["selected"] else ""
        print(f"  {r['candidate']:24s} {r['metric']} mean {r['mean']:.4f}  std {r['std']:.4f}  ({r['seconds']:.1f} s){mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
