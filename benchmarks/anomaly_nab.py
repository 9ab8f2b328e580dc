#!/usr/bin/env python
"""NAB benchmark of the anomaly detectors, plus a 1-million-point speed test.

Runs the detector (``auto`` by default) over every CSV of the Numenta Anomaly
Benchmark copy in ``<shared>/data/nab``, writes result files that mirror the
data paths (``timestamp, anomaly_score, is_anomaly``), and scores them with
the shared NAB scorer (standard profile, Lavin & Ahmad 2015)::

    python <shared>/tools/nab_score.py score DATA_DIR WINDOWS.json RESULTS_DIR

It prints the score at the best single threshold over ``anomaly_score`` (as
NAB tunes it) and the score of the detector's own ``is_anomaly`` alarms as
they are, runs the scorer's windowed-Gaussian baseline the same way, and
times scoring one synthetic metric of 1,000,000 points.

``<shared>`` is ``../shared`` next to the repository, or ``$AIHUB_SHARED_DIR``.

Usage::

    python benchmarks/anomaly_nab.py [--detector auto] [--out benchmarks/out/nab]
                                     [--skip-baseline] [--speed-points 1000000]

Published NAB v1 standard-profile scores on the full corpus, for context:
Numenta HTM 70.5, CAD OSE 69.9, KNN CAD 58.0, Random Cut Forest 51.7, Twitter
ADVec 47.1, windowed Gaussian 39.6.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aihub.anomaly.cli import detect_file  # noqa: E402
from aihub.anomaly.detectors import ALGORITHMS, detect  # noqa: E402


def shared_dir() -> Path:
    env = os.environ.get("AIHUB_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


def run_scorer(tool: Path, data: Path, windows: Path, results: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, str(tool), "score", str(data), str(windows), str(results)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = proc.stdout.strip().splitlines()[-1]
    out = {"line": line}
    for key in ("best_threshold_score", "threshold", "as_is_score"):
        m = re.search(rf"{key}=([-0-9.e+]+)", line)
        if m:
            out[key] = float(m.group(1))
    return out


def speed_test(n: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    ts = pd.date_range("2020-01-01", periods=n, freq="min")
    t = np.arange(n)
    value = 100 + 10 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 2, n)
    value[rng.choice(n, 50, replace=False)] += 40  # a few spikes
    df = pd.DataFrame({"timestamp": ts, "value": value})
    start = time.perf_counter()
    detect(df)
    secs = time.perf_counter() - start
    return secs, n / secs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", default="auto", choices=ALGORITHMS)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "nab"))
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--speed-points", type=int, default=1_000_000)
    args = ap.parse_args(argv)

    shared = shared_dir()
    data = shared / "data" / "nab"
    windows = data / "combined_windows.json"
    tool = shared / "tools" / "nab_score.py"
    for p in (data, windows, tool):
        if not p.exists():
            print(f"error: {p} not found (set AIHUB_SHARED_DIR)", file=sys.stderr)
            return 2
    out = Path(args.out)
    results = out / args.detector

    files = sorted(data.rglob("*.csv"))
    n_points = 0
    start = time.perf_counter()
    for f in files:
        scored = detect_file(f, results / f.relative_to(data), detector=args.detector)
        n_points += len(scored)
    det_secs = time.perf_counter() - start
    start = time.perf_counter()
    res = run_scorer(tool, data, windows, results)
    score_secs = time.perf_counter() - start
    print(f"detector={args.detector} files={len(files)} points={n_points} detect_seconds={det_secs:.1f} "
          f"({n_points / det_secs:,.0f} points/s) scorer_seconds={score_secs:.1f}")
    print(f"  scorer: {res['line']}")
    print(f"  NAB score, best threshold : {res.get('best_threshold_score', float('nan')):.1f}")
    print(f"  NAB score, own alarms     : {res.get('as_is_score', float('nan')):.1f}")

    if not args.skip_baseline:
        gauss = out / "gaussian"
        start = time.perf_counter()
        subprocess.run([sys.executable, str(tool), "baseline", "gaussian", str(data), str(gauss)], check=True)
        g = run_scorer(tool, data, windows, gauss)
        print(f"baseline=windowed_gaussian seconds={time.perf_counter() - start:.1f}")
        print(f"  scorer: {g['line']}")
        print(f"  NAB score, best threshold : {g.get('best_threshold_score', float('nan')):.1f}")

    if args.speed_points > 0:
        secs, pps = speed_test(args.speed_points)
        print(f"speed: {args.speed_points:,} points of one metric (auto) in {secs:.1f} s = {pps:,.0f} points/s")
    print("published NAB v1 (full corpus, standard profile): HTM 70.5, CAD OSE 69.9, KNN CAD 58.0, "
          "RCF 51.7, Twitter ADVec 47.1, windowed Gaussian 39.6")
    return 0


if __name__ == "__main__":
    sys.exit(main())
