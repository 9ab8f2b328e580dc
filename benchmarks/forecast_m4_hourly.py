#!/usr/bin/env python3
"""Benchmark ``auto`` on the 100 M4 hourly series shipped in ../shared (horizon 48, MASE with m=24).

Runs, on the same train/test split and in the same process run:

* ``auto``            -- :func:`aihub.forecasting.forecast_many` with ``algorithm="auto"`` (the product
  default, with its conformally calibrated 80 % and 95 % intervals),
* ``seasonal naive``  -- ``forecast_eval.py --baseline snaive --season 24`` (the M4 benchmark),
* ``MSTL``            -- statsforecast ``MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN"))``
  on the full history, called directly: the reference the issue quotes, with its own intervals.

Every forecast file is scored by ``../shared/tools/forecast_eval.py TRAIN TEST FORECASTS --m 24`` as a
subprocess, which prints MASE and sMAPE as the M4 competition defines them. Interval coverage is the share of
the 4,800 held-out actuals inside each method's 80 % and 95 % intervals. Seconds are wall-clock time to produce
the forecasts on ``--n-jobs`` processes.

usage: python benchmarks/forecast_m4_hourly.py [--n-jobs 2] [--series N]

The shared folder is ``<repo>/../shared``; set ``AIHUB_SHARED_DIR`` to use another.
Forecast CSVs are written to ``benchmarks/out/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HORIZON = 48
M = 24


def shared_dir() -> Path:
    """``$AIHUB_SHARED_DIR`` or the ``shared`` folder next to the repository."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    return Path(env) if env else ROOT.parent / "shared"


def score(tool: Path, train: Path, test: Path, forecasts: Path) -> tuple[float, float]:
    """Run forecast_eval.py on a forecast CSV; return (MASE, sMAPE)."""
    proc = subprocess.run(
        [sys.executable, str(tool), str(train), str(test), str(forecasts), "--m", str(M)],
        capture_output=True, text=True, check=False,
    )
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
    found = re.search(r"MASE=([\d.na]+) sMAPE=([\d.na]+)", line)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"forecast_eval failed on {forecasts}: {line}")
    print("    forecast_eval:", line, flush=True)
    return float(found.group(1)), float(found.group(2))


def coverage(test: pd.DataFrame, fc: pd.DataFrame, level: int) -> float:
    """Share of held-out actuals inside the ``level`` % interval (NaN when the method gives none)."""
    lo, hi = f"yhat_lower_{level}", f"yhat_upper_{level}"
    if lo not in fc:
        return float("nan")
    both = test.merge(fc, on=["unique_id", "ds"], how="left")
    return float(((both["y"] >= both[lo]) & (both["y"] <= both[hi])).mean())


def run_auto(train_df: pd.DataFrame, n_jobs: int) -> tuple[pd.DataFrame, float]:
    from aihub.forecasting import forecast_many

    t0 = time.perf_counter()
    fc = forecast_many(train_df, horizon=HORIZON, freq="H", algorithm="auto", n_jobs=n_jobs, all_levels=True)
    return fc, time.perf_counter() - t0


def run_mstl(train_df: pd.DataFrame, n_jobs: int) -> tuple[pd.DataFrame, float]:
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    t0 = time.perf_counter()
    sf = StatsForecast(models=[MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN"))], freq="h",
                       n_jobs=n_jobs)
    fc = sf.forecast(df=train_df, h=HORIZON, level=[80, 95])
    secs = time.perf_counter() - t0
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    out = fc.rename(columns={"MSTL": "yhat", "MSTL-lo-80": "yhat_lower_80", "MSTL-hi-80": "yhat_upper_80",
                             "MSTL-lo-95": "yhat_lower_95", "MSTL-hi-95": "yhat_upper_95"})
    return out[["unique_id", "ds", "yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]], secs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--series", type=int, default=0, help="only the first N series (default: all 100)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "out")
    a = ap.parse_args(argv)

    shared = shared_dir()
    train, test = shared / "data" / "m4_hourly" / "train.csv", shared / "data" / "m4_hourly" / "test.csv"
    tool = shared / "tools" / "forecast_eval.py"
    for p in (train, test, tool):
        if not p.is_file():
            raise SystemExit(f"missing {p}; set AIHUB_SHARED_DIR to the shared folder")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    train_df = pd.read_csv(train, parse_dates=["ds"])
    test_df = pd.read_csv(test, parse_dates=["ds"])
    if a.series:
        keep = list(dict.fromkeys(train_df["unique_id"]))[: a.series]
        train_df, test_df = train_df[train_df.unique_id.isin(keep)], test_df[test_df.unique_id.isin(keep)]
        train, test = a.out_dir / "hourly_train.csv", a.out_dir / "hourly_test.csv"
        train_df.to_csv(train, index=False)
        test_df.to_csv(test, index=False)
    n = train_df["unique_id"].nunique()
    rows = []
    print(f"M4 hourly, {n} series from {train}: horizon {HORIZON}, MASE m={M}, {a.n_jobs} jobs", flush=True)

    print("- auto (aihub.forecasting.forecast_many, algorithm='auto')", flush=True)
    fc, secs = run_auto(train_df, a.n_jobs)
    f = a.out_dir / "hourly_auto.csv"
    fc.to_csv(f, index=False)
    picks = Counter(fc.drop_duplicates("unique_id")["model"])
    print("    models chosen by auto:", ", ".join(f"{k} {v}" for k, v in picks.most_common()), flush=True)
    rows.append(("auto", *score(tool, train, test, f), coverage(test_df, fc, 80), coverage(test_df, fc, 95), secs))

    print("- seasonal naive (forecast_eval.py --baseline snaive --season 24)", flush=True)
    f = a.out_dir / "hourly_snaive.csv"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(tool), str(train), str(test), "--baseline", "snaive", "--season", str(M),
                    "--m", str(M), "--out", str(f)], capture_output=True, text=True, check=False)
    secs = time.perf_counter() - t0
    rows.append(("seasonal naive", *score(tool, train, test, f), float("nan"), float("nan"), secs))

    print("- statsforecast MSTL([24, 168], AutoETS ZZN), full history, its own intervals", flush=True)
    fc, secs = run_mstl(train_df, a.n_jobs)
    f = a.out_dir / "hourly_mstl.csv"
    fc.to_csv(f, index=False)
    rows.append(("MSTL", *score(tool, train, test, f), coverage(test_df, fc, 80), coverage(test_df, fc, 95), secs))

    print()
    print(f"{'method':<16}{'MASE':>8}{'sMAPE':>9}{'cover 80':>10}{'cover 95':>10}{'seconds':>10}")
    for name, mase, smape, c80, c95, secs in rows:
        cov = "".join(f"{'-':>10}" if math.isnan(c) else f"{100 * c:>9.1f}%" for c in (c80, c95))
        print(f"{name:<16}{mase:>8.3f}{smape:>9.3f}{cov}{secs:>10.1f}")
    res = {r[0]: r[1] for r in rows}
    for ref in ("seasonal naive", "MSTL"):
        verdict = "better than" if res["auto"] < res[ref] else "NOT better than"
        print(f"auto MASE {res['auto']:.3f} is {verdict} {ref} {res[ref]:.3f} on this run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
