#!/usr/bin/env python3
"""Benchmark forecasts of many series in one model ("one per value of a column") on Superstore.

Two tables of real series from ``../shared/data/superstore/superstore_orders.csv``:

* the 68 monthly Sub-Category x Region series of Sales (horizon 3), as the app builds them;
* the 2,000 largest weekly Product ID x Region series of Quantity (horizon 8), a tenant with 2,000 products.

Each series' last ``horizon`` periods are held out; models are fitted on the rest and scored there (MASE
with the frequency's M4 period, mean over the series long enough to forecast, the same set for every method).
In the same run:

* ``panel auto``  -- :func:`aihub.forecasting.fit_panel` with its default pool for many series
  (:data:`aihub.forecasting.PANEL_CANDIDATES`: naive, seasonal naive, ETS, Theta), what the app runs;
* ``full auto``   -- the same with the pool of a single forecast (adds ARIMA, the combination and Prophet),
  the baseline: on the 68 series, and on the first ``--baseline-series`` (200) of the 2,000 only, since it
  takes seconds per series; its time for 2,000 is extrapolated and printed as such;
* ``seasonal naive`` and ``naive`` -- the benchmarks' MASE on the same held-out periods.

Seconds are wall-clock on ``--n-jobs`` processes, including the per-series backtests.

usage: python benchmarks/forecast_many_series.py [--n-jobs 2] [--series 2000] [--baseline-series 200]
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

from aihub.forecasting import (
    AUTO_CANDIDATES_BY_FREQ,
    FREQUENCY_TABLE,
    Panel,
    fit_panel,
    prepare_panel,
)
from aihub.forecasting.metrics import mase


def shared_dir() -> Path:
    """``$AIHUB_SHARED_DIR`` or the ``shared`` folder next to the repository."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    return Path(env) if env else ROOT.parent / "shared"


def split(panel: Panel, horizon: int, keys: list[str] | None = None) -> tuple[Panel, pd.DataFrame]:
    """The panel without each series' last ``horizon`` periods, and those periods."""
    frame = panel.frame if keys is None else panel.frame[panel.frame["series_key"].isin(keys)]
    last = frame.groupby("series_key", sort=False).cumcount(ascending=False) < horizon
    kept = list(dict.fromkeys(frame["series_key"])) if keys is None else keys
    train = Panel(frame[~last].reset_index(drop=True), panel.dims, {k: panel.volume[k] for k in kept}, 0)
    return train, frame[last].reset_index(drop=True)


def score(train: Panel, test: pd.DataFrame, forecast: pd.DataFrame, m: int) -> float:
    """Mean MASE over the series that have a forecast."""
    out = []
    for key, held in test.groupby("series_key", sort=False):
        fc = forecast[forecast["series_key"] == key]
        if len(fc) != len(held):
            continue
        history = train.frame.loc[train.frame["series_key"] == key, "y"].to_numpy(float)
        out.append(mase(held["y"].to_numpy(float), fc["yhat"].to_numpy(float), history, m))
    return float(np.mean(out))


def benchmark(train: Panel, test: pd.DataFrame, horizon: int, freq: str, m: int, keys: set[str]) -> dict[str, float]:
    """MASE of seasonal naive and naive on the held-out periods of ``keys`` (no fitting)."""
    season = FREQUENCY_TABLE[freq].season_length
    rows = {"seasonal naive": [], "naive": []}
    for key, held in test[test["series_key"].isin(keys)].groupby("series_key", sort=False):
        y = train.frame.loc[train.frame["series_key"] == key, "y"].to_numpy(float)
        actual = held["y"].to_numpy(float)
        snaive = np.array([y[len(y) - season + (i % season)] for i in range(horizon)]) if len(y) >= season \
            else np.repeat(y[-1], horizon)
        rows["seasonal naive"].append(mase(actual, snaive, y, m))
        rows["naive"].append(mase(actual, np.repeat(y[-1], horizon), y, m))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def run(name: str, train: Panel, test: pd.DataFrame, *, horizon: int, freq: str, n_jobs: int,
        candidates=None) -> tuple[float, float, int, int, set[str]]:
    res = fit_panel(train, horizon=horizon, freq=freq, candidates=candidates, n_jobs=n_jobs)
    ok = len(res.series) - len(res.failed)
    m = FREQUENCY_TABLE[freq].mase_m
    value = score(train, test, res.forecast, m)
    print(f"    {name}: {ok} of {len(res.series)} series forecast in {res.seconds:.1f} s, MASE {value:.3f}",
          flush=True)
    return res.seconds, value, ok, len(res.series), set(res.forecast["series_key"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--baseline-series", type=int, default=200)
    a = ap.parse_args(argv)
    orders = pd.read_csv(shared_dir() / "data" / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    lines = []

    print("1. Superstore Sales per Sub-Category x Region, monthly, horizon 3", flush=True)
    t0 = time.perf_counter()
    panel = prepare_panel(orders, "Order Date", "Sales", freq="M", split_by=["Sub-Category", "Region"],
                          dayfirst=True)
    prep = time.perf_counter() - t0
    train, test = split(panel, 3)
    print(f"    {len(panel.keys)} series built in {prep:.1f} s", flush=True)
    secs, value, ok, n, keys = run("panel auto", train, test, horizon=3, freq="M", n_jobs=a.n_jobs)
    lines.append(("68 monthly", "panel auto", n, ok, secs, value))
    secs, value, ok, n, _ = run("full auto", train, test, horizon=3, freq="M", n_jobs=a.n_jobs,
                                candidates=AUTO_CANDIDATES_BY_FREQ["M"])
    lines.append(("68 monthly", "full auto", n, ok, secs, value))
    lines += [("68 monthly", k, n, ok, 0.0, v) for k, v in benchmark(train, test, 3, "M", 12, keys).items()]

    print(f"2. Superstore Quantity per Product ID x Region, weekly, the {a.series} largest, horizon 8", flush=True)
    t0 = time.perf_counter()
    panel = prepare_panel(orders, "Order Date", "Quantity", freq="W", split_by=["Product ID", "Region"],
                          top_n=a.series, dayfirst=True)
    print(f"    {len(panel.keys)} series built in {time.perf_counter() - t0:.1f} s", flush=True)
    train, test = split(panel, 8)
    secs_all, value, ok, n, keys = run("panel auto", train, test, horizon=8, freq="W", n_jobs=a.n_jobs)
    lines.append((f"{n} weekly", "panel auto", n, ok, secs_all, value))
    lines += [(f"{n} weekly", k, n, ok, 0.0, v) for k, v in benchmark(train, test, 8, "W", 1, keys).items()]
    first = panel.keys[: a.baseline_series]
    sub_train, sub_test = split(panel, 8, first)
    secs_b, value_b, ok_b, n_b, _ = run(f"full auto, first {len(first)}", sub_train, sub_test, horizon=8, freq="W",
                                     n_jobs=a.n_jobs, candidates=AUTO_CANDIDATES_BY_FREQ["W"])
    secs_p, value_p, _, _, _ = run(f"panel auto, same first {len(first)}", sub_train, sub_test, horizon=8,
                                   freq="W", n_jobs=a.n_jobs)
    lines.append((f"first {n_b} weekly", "full auto", n_b, ok_b, secs_b, value_b))
    lines.append((f"first {n_b} weekly", "panel auto", n_b, ok_b, secs_p, value_p))

    print()
    print(f"{'series':<18}{'method':<16}{'fitted':>8}{'seconds':>10}{'s/series':>10}{'MASE':>8}")
    for label, name, n, ok, secs, value in lines:
        per = f"{secs / n:>10.3f}" if secs else f"{'-':>10}"
        print(f"{label:<18}{name:<16}{ok:>8}{secs if secs else 0:>10.1f}{per}{value:>8.3f}")
    full_2000 = secs_b / n_b * len(panel.keys)
    print(f"\nfull auto on all {len(panel.keys)} weekly series would take about {full_2000:.0f} s "
          f"(extrapolated from its {n_b}); panel auto took {secs_all:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
