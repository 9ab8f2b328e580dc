"""Benchmark: anomaly types told from shape, against the naive "spike if above, else drop" rule.

Series come from :mod:`aihub.anomaly.synthetic`, one planted anomaly each,
with fixed seeds. Three disjoint families (the split):

* ``development``: daily data with a 7-day season or none, Gaussian noise,
  seeds 0-59. The classifier was built on these.
* ``validation``: hourly (24), monthly (12) and weekly data without a season,
  Student-t(3) noise, seeds 10,000-10,069. Looked at while building (it led
  to the seasonal-amplitude model).
* ``held-out``: business-day (5) and quarterly (4) seasons and weekly data,
  Laplace noise, seeds 20,000-20,099. Run only once the method was fixed:
  this is the figure to quote.

For each family the script prints the confusion matrix (rows: planted type,
columns: classified type), accuracy and per-type recall, next to the same-run
naive baseline :func:`aihub.anomaly.types.naive_type` (it can only say spike or
drop, so it is right on at most a third of the series), and the mean time per
classification. No pass/fail asserts.

Usage::

    python benchmarks/anomaly_types.py [--family held-out|validation|development|all] [--per-type N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.anomaly.synthetic import FAMILIES, SHAPES, planted
from aihub.anomaly.types import classify_anomaly, naive_type

SHORT = {"spike": "spike", "drop": "drop", "trend_change": "trend", "level_shift": "level",
         "seasonality_break": "season", "missing_data": "missing"}


def run_family(name: str, per_type: int | None) -> dict:
    fam = FAMILIES[name]
    seeds = list(fam.seeds)[:per_type] if per_type else list(fam.seeds)
    k = len(SHAPES)
    ours, naive = np.zeros((k, k), int), np.zeros((k, k), int)
    seconds = 0.0
    for i, shape in enumerate(SHAPES):
        for seed in seeds:
            frame, start, end = planted(shape, seed, fam)
            t0 = time.perf_counter()
            got = classify_anomaly(frame, start, end).type
            seconds += time.perf_counter() - t0
            ours[i, SHAPES.index(got)] += 1
            naive[i, SHAPES.index(naive_type(frame, start, end))] += 1
    return {"ours": ours, "naive": naive, "n": k * len(seeds), "seconds": seconds}


def print_matrix(title: str, m: np.ndarray) -> None:
    print(f"  {title}: rows = planted, columns = classified")
    print("  " + " " * 9 + "".join(f"{SHORT[s]:>9}" for s in SHAPES))
    for i, s in enumerate(SHAPES):
        print("  " + f"{SHORT[s]:>9}" + "".join(f"{v:>9d}" for v in m[i]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="held-out", choices=[*FAMILIES, "all"])
    ap.add_argument("--per-type", type=int, default=None, help="series per type (default: every seed of the family)")
    args = ap.parse_args(argv)
    names = list(FAMILIES) if args.family == "all" else [args.family]
    for name in names:
        r = run_family(name, args.per_type)
        ours, naive = r["ours"], r["naive"]
        print(f"\n== family {name}: {r['n']} series ({r['n'] // len(SHAPES)} per type)")
        print_matrix("classify_anomaly", ours)
        print_matrix("naive baseline (spike if above the history's median, else drop)", naive)
        acc_o, acc_n = np.trace(ours) / ours.sum(), np.trace(naive) / naive.sum()
        print(f"  accuracy: classify_anomaly {acc_o:.3f}   naive {acc_n:.3f}")
        print("  recall per type:      " + "  ".join(f"{SHORT[s]} {ours[i, i] / ours[i].sum():.2f}"
                                                   for i, s in enumerate(SHAPES)))
        print("  naive recall per type: " + "  ".join(f"{SHORT[s]} {naive[i, i] / naive[i].sum():.2f}"
                                                    for i, s in enumerate(SHAPES)))
        print(f"  time: {1000 * r['seconds'] / r['n']:.1f} ms per classification")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
