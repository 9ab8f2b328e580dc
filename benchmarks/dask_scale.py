#!/usr/bin/env python3
"""Scaling of the heavy batch work on Dask (issue 16): one worker process against two, same run.

1. **Forecasts.** ``--series`` weekly series (default 10,000) with ``auto`` (the panel pool: naive, seasonal
   naive, ETS, Theta; rolling-origin backtest per series), horizon 13, through
   :func:`aihub.runtime.cluster_jobs.forecast_many_on_cluster` (statsforecast's distributed backend) on a
   ``LocalCluster`` of 1 and of 2 worker processes. The series are the M4 weekly training series of
   ``../shared/data/m4_weekly`` (359), each cut into non-overlapping windows of ``--weeks`` weeks, as many as
   needed (cycling through the series). Baseline in the same run: ``forecast_many`` on one process (no Dask)
   on the first ``--baseline-series`` of them.
2. **Scoring.** ``--rows`` rows (default 10,000,000) of the Telco schema, generated on the workers partition by
   partition (each column resampled independently from ``../shared/data/telco_churn``, seeded by partition),
   each partition validated and scored by ``aihub.ml.predict`` (what
   :func:`aihub.runtime.cluster_jobs.score_partition` runs before staging and storing; 100-tree random forest,
   nothing stored), on 1 and on 2 workers. Baseline in the same run: the
   pipeline's own ``predict_proba`` on one partition in this process (the model alone).

Series per second and rows per second include Dask's scheduling, the shuffle by series, and (for scoring)
generating the rows on the worker; each cluster is warmed up first (imports, the model), outside the timing. The machine's load average is printed: other processes share its cores.

usage: python benchmarks/dask_scale.py [--series 10000] [--rows 10000000] [--partition-rows 200000]
                                       [--baseline-series 200] [--weeks 130] [--skip-forecasts] [--skip-scoring]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.forecasting import forecast_many
from aihub.forecasting.panel import PANEL_CANDIDATES
from aihub.ml import predict, train_model
from aihub.runtime.cluster_jobs import forecast_many_on_cluster

HORIZON = 13


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def weekly_series(n: int, weeks: int) -> pd.DataFrame:
    """``n`` series of ``weeks`` weeks: windows of the M4 weekly training series, cycling through them."""
    m4 = pd.read_csv(shared_dir() / "m4_weekly" / "train.csv", parse_dates=["ds"])
    windows = []
    for uid, g in m4.groupby("unique_id", sort=True):
        y, ds = g["y"].to_numpy(float), g["ds"].to_numpy()
        for k in range(len(y) // weeks):
            windows.append((f"{uid}-{k}", ds[len(y) - (k + 1) * weeks:len(y) - k * weeks],
                            y[len(y) - (k + 1) * weeks:len(y) - k * weeks]))
    if not windows:
        raise SystemExit(f"no M4 weekly series has {weeks} weeks")
    frames = []
    for i in range(n):
        uid, ds, y = windows[i % len(windows)]
        frames.append(pd.DataFrame({"unique_id": f"{uid}-r{i // len(windows)}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def load() -> str:
    """The 1-minute load average (other helpers share the 2 cores)."""
    return f"{os.getloadavg()[0]:.2f}"


def _cpu() -> float:
    return time.process_time()


def worker_cpu(client) -> float:
    """CPU seconds the workers have used so far (summed): a rate under load that other processes distort less."""
    return float(sum(client.run(_cpu).values()))


def cluster(n_workers: int):
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1, dashboard_address=None)
    return c, Client(c)


def forecasts(args) -> list[str]:
    panel = weekly_series(args.series, args.weeks)
    lines = [(f"1. forecasts: {args.series:,} weekly series of {args.weeks} weeks, auto "
             f"({', '.join(PANEL_CANDIDATES['W'])}), horizon {HORIZON}")]
    first = list(dict.fromkeys(panel["unique_id"]))[: args.baseline_series]
    sub = panel[panel["unique_id"].isin(first)]
    forecast_many(sub[sub["unique_id"].isin(first[:2])], horizon=HORIZON, freq="W",
                  candidates=PANEL_CANDIDATES["W"], n_jobs=1)  # imports, outside the timing
    la, t0, c0 = load(), time.perf_counter(), time.process_time()
    forecast_many(sub, horizon=HORIZON, freq="W", candidates=PANEL_CANDIDATES["W"], n_jobs=1)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    base = len(first) / secs
    lines.append(f"   baseline, forecast_many on one process (no Dask), first {len(first)} series: {base:8.1f} series/s"
                 f" ({1000 * cpu / len(first):.0f} ms CPU per series; load {la} -> {load()})")
    print(lines[-1], flush=True)
    rates = {}
    for n in (1, 2):
        c, client = cluster(n)
        try:
            # warm-up: the workers import statsforecast, fugue and the hub once, outside the timing
            tiny = sub[sub["unique_id"].isin(first[: 2 * n])]
            forecast_many_on_cluster(tiny, horizon=HORIZON, freq="W", client=client, on_error="naive")
            t0 = time.perf_counter()
            forecast_many_on_cluster(tiny, horizon=HORIZON, freq="W", client=client, on_error="naive")
            fixed = time.perf_counter() - t0
            la, c0, t0 = load(), worker_cpu(client), time.perf_counter()
            out, failed = forecast_many_on_cluster(panel, horizon=HORIZON, freq="W", client=client,
                                                   on_error="naive")
            secs = time.perf_counter() - t0
            cpu = worker_cpu(client) - c0
            la = f"load {la} -> {load()}"
        finally:
            client.close()
            c.close()
        rates[n] = args.series / secs
        lines.append(f"   Dask, {n} worker process{'es' if n > 1 else ''}: {args.series:,} series in {secs:7.1f} s = "
                     f"{rates[n]:8.1f} series/s ({len(out) // HORIZON:,} forecast, {len(failed)} failed)"
                     + (f"   x{rates[2] / rates[1]:.2f} of 1 worker" if n == 2 else
                        f"   x{rates[1] / base:.2f} of the no-Dask baseline")
                     + f"\n      workers' CPU {1000 * cpu / args.series:.0f} ms per series; a call with {2 * n} series "
                       f"takes {fixed:.2f} s (fixed cost); {la}")
        print(lines[-1], flush=True)
    if args.series < 10_000:
        lines.append(f"   10,000 series would take about {10_000 / rates[2]:,.0f} s on 2 workers here "
                     f"({10_000 / rates[1]:,.0f} s on 1), extrapolated linearly from {args.series:,}")
    return lines


def telco_rows(seed: int, n: int, path: str) -> pd.DataFrame:
    """``n`` rows of the Telco schema: each column resampled independently from the real table (runs on a worker)."""
    src = pd.read_csv(path)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: src[c].to_numpy()[rng.integers(0, len(src), n)] for c in src.columns if c != "Churn"})


def score_generated(seed: int, n: int, path: str, model, first_row: int) -> tuple[int, int, float]:
    """Generate a partition on the worker, validate and score it (``ml.predict``); ``(rows, failed, mean)``."""
    part = telco_rows(seed, n, path)
    out = predict(model, part)
    return len(out), int(out["error"].notna().sum()), float(np.nanmean(out["probability"].to_numpy(float)))


def scoring(args) -> list[str]:
    path = str(shared_dir() / "telco_churn" / "telco_customer_churn.csv")
    df = pd.read_csv(path)
    model = train_model({"task": "classification", "target": "Churn", "validation_split": 0.0,
                         "algorithm": "random_forest", "hyperparameters": {"n_estimators": 100}}, df)
    n_parts = math.ceil(args.rows / args.partition_rows)
    lines = [(f"2. scoring: {args.rows:,} generated Telco rows, {n_parts} partitions of up to "
             f"{args.partition_rows:,}, 100-tree random forest")]
    part = telco_rows(0, args.partition_rows, path)
    t0 = time.perf_counter()
    model.pipeline.predict_proba(part[model.features])
    base = len(part) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    predict(model, part)
    one = len(part) / (time.perf_counter() - t0)
    lines.append(f"   baseline, pipeline.predict_proba on one partition in this process: {base:10,.0f} rows/s")
    lines.append(f"   ml.predict (validate + predict) on the same partition here:       {one:10,.0f} rows/s"
                 f"   x{one / base:.2f} of predict_proba")
    rates = {}
    for n in (1, 2):
        c, client = cluster(n)
        try:
            m = client.submit(lambda x: x, model, pure=False)
            client.gather([client.submit(score_generated, 10_000 + w, 1000, path, m, 1, pure=False)
                           for w in range(n)])  # warm-up: imports and the model on every worker
            la, c0, t0 = load(), worker_cpu(client), time.perf_counter()
            futs = [client.submit(score_generated, i, min(args.partition_rows, args.rows - i * args.partition_rows),
                                  path, m, i * args.partition_rows + 1, pure=False) for i in range(n_parts)]
            res = client.gather(futs)
            secs = time.perf_counter() - t0
            cpu = worker_cpu(client) - c0
            la = f"load {la} -> {load()}"
        finally:
            client.close()
            c.close()
        rows = sum(r[0] for r in res)
        rates[n] = rows / secs
        lines.append(f"   Dask, {n} worker process{'es' if n > 1 else ''}: {rows:,} rows in {secs:7.1f} s = "
                     f"{rates[n]:10,.0f} rows/s ({sum(r[1] for r in res)} failed)"
                     + (f"   x{rates[2] / rates[1]:.2f} of 1 worker" if n == 2 else
                        f"   x{rates[1] / base:.2f} of predict_proba in-process")
                     + f"\n      workers' CPU {1e6 * cpu / rows:.1f} us per row = {rows / cpu:,.0f} rows per CPU-second; {la}")
        print(lines[-1], flush=True)
    if args.rows < 10_000_000:
        lines.append(f"   10,000,000 rows would take about {1e7 / rates[2]:,.0f} s on 2 workers here "
                     f"({1e7 / rates[1]:,.0f} s on 1), extrapolated linearly from {args.rows:,}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--weeks", type=int, default=130)
    ap.add_argument("--baseline-series", type=int, default=200)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--partition-rows", type=int, default=200_000)
    ap.add_argument("--skip-forecasts", action="store_true")
    ap.add_argument("--skip-scoring", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}", flush=True)
    lines = []
    if not args.skip_forecasts:
        lines += forecasts(args)
    if not args.skip_scoring:
        lines += scoring(args)
    print(f"\nload average {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
