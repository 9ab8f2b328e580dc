#!/usr/bin/env python3
"""Benchmark ``aihub forecast`` on the M4 weekly series shipped in ../shared.

Runs, on the same train/test split (horizon 13 weeks):

* ``auto``     -- ``aihub forecast --model auto --all-levels`` (the product default), with the share of
  held-out actuals inside its 80 % and 95 % intervals,
* ``prophet``  -- ``aihub forecast --model prophet --max-history 0`` (Prophet defaults, full history),
* ``naive``    -- ``forecast_eval.py --baseline naive`` (the M4 Naive1 benchmark),
* ``AutoETS`` and ``AutoARIMA`` -- statsforecast directly on the full history,
  season_length 1 as M4 uses for weekly data (``--skip-arima`` leaves ARIMA out).

Every forecast file is scored by running ``../shared/tools/forecast_eval.py TRAIN
TEST FORECASTS --m 1`` as a subprocess, which prints MASE (Hyndman & Koehler 2006,
scaled by the in-sample naive error) and sMAPE as the M4 competition defines them
(Makridakis et al. 2020). Seconds are wall-clock time to produce the forecasts,
including process start-up for the CLI runs.

usage: python benchmarks/forecast_m4_weekly.py [--n-jobs 2] [--skip-prophet] [--skip-arima]

The shared folder is ``<repo>/../shared``; set ``AIHUB_SHARED_DIR`` to use another.
Forecast CSVs are written to ``benchmarks/out/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 13


def shared_dir() -> Path:
    """``$AIHUB_SHARED_DIR`` or the ``shared`` folder next to the repository."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    return Path(env) if env else ROOT.parent / "shared"


def score(tool: Path, train: Path, test: Path, forecasts: Path) -> tuple[float, float, str]:
    """Run forecast_eval.py on a forecast CSV; return (MASE, sMAPE, its output line)."""
    proc = subprocess.run(
        [sys.executable, str(tool), str(train), str(test), str(forecasts), "--m", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
    m = re.search(r"MASE=([\d.na]+) sMAPE=([\d.na]+)", line)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"forecast_eval failed on {forecasts}: {line}")
    return float(m.group(1)), float(m.group(2)), line


def run_cli(model: str, train: Path, out: Path, n_jobs: int, extra: list[str]) -> float:
    """Run ``aihub forecast`` in a fresh process; return wall-clock seconds."""
    cmd = [
        sys.executable,
        "-m",
        "aihub.forecasting.cli",
        "forecast",
        "--input",
        str(train),
        "--output",
        str(out),
        "--horizon",
        str(HORIZON),
        "--freq",
        "W",
        "--model",
        model,
        "--n-jobs",
        str(n_jobs),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"aihub forecast --model {model} failed:\n{proc.stderr}")
    print("   ", proc.stderr.strip().splitlines()[-1], flush=True)
    return secs


def run_statsforecast(name: str, train: Path, out: Path, n_jobs: int) -> float:
    """Forecast with one statsforecast model directly (full history, season_length 1)."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast import models as sfm

    df = pd.read_csv(train, parse_dates=["ds"])
    t0 = time.perf_counter()
    sf = StatsForecast(models=[getattr(sfm, name)(season_length=1)], freq="W-MON", n_jobs=n_jobs)
    fc = sf.forecast(df=df, h=HORIZON)
    secs = time.perf_counter() - t0
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    fc.rename(columns={name: "yhat"})[["unique_id", "ds", "yhat"]].to_csv(out, index=False)
    return secs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--skip-prophet", action="store_true", help="leave out the Prophet run")
    ap.add_argument("--skip-arima", action="store_true", help="leave out the direct AutoARIMA baseline")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "out")
    a = ap.parse_args(argv)

    shared = shared_dir()
    train, test = shared / "data" / "m4_weekly" / "train.csv", shared / "data" / "m4_weekly" / "test.csv"
    tool = shared / "tools" / "forecast_eval.py"
    for p in (train, test, tool):
        if not p.is_file():
            raise SystemExit(f"missing {p}; set AIHUB_SHARED_DIR to the shared folder")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, float, float]] = []

    print(f"M4 weekly, {train}: horizon {HORIZON}, {a.n_jobs} jobs", flush=True)
    print("- auto (aihub forecast --model auto)", flush=True)
    f = a.out_dir / "auto.csv"
    secs = run_cli("auto", train, f, a.n_jobs, ["--all-levels"])
    rows.append(("auto", *score(tool, train, test, f)[:2], secs))
    import pandas as pd

    held = pd.read_csv(test, parse_dates=["ds"]).merge(pd.read_csv(f, parse_dates=["ds"]), on=["unique_id", "ds"])
    cover = {lv: float(((held.y >= held[f"yhat_lower_{lv}"]) & (held.y <= held[f"yhat_upper_{lv}"])).mean())
             for lv in (80, 95)}
    print(f"    auto interval coverage on the {len(held)} held-out weeks: 80% interval {100 * cover[80]:.1f}%, "
          f"95% interval {100 * cover[95]:.1f}%", flush=True)
    picks = Counter(pd.read_csv(f).drop_duplicates("unique_id")["model"])
    print("    models chosen by auto:", ", ".join(f"{k} {v}" for k, v in picks.most_common()), flush=True)

    if not a.skip_prophet:
        print("- prophet (aihub forecast --model prophet --max-history 0: Prophet defaults, full history)", flush=True)
        f = a.out_dir / "prophet.csv"
        secs = run_cli("prophet", train, f, a.n_jobs, ["--max-history", "0"])
        rows.append(("prophet", *score(tool, train, test, f)[:2], secs))

    print("- naive baseline (forecast_eval.py --baseline naive)", flush=True)
    f = a.out_dir / "naive.csv"
    proc = subprocess.run(
        [sys.executable, str(tool), str(train), str(test), "--baseline", "naive", "--m", "1", "--out", str(f)],
        capture_output=True,
        text=True,
        check=True,
    )
    secs = float(re.search(r"secs=([\d.]+)", proc.stdout).group(1))
    rows.append(("naive", *score(tool, train, test, f)[:2], secs))

    for name in ("AutoETS",) + (() if a.skip_arima else ("AutoARIMA",)):
        print(f"- statsforecast {name}(season_length=1), full history", flush=True)
        f = a.out_dir / f"{name.lower()}.csv"
        secs = run_statsforecast(name, train, f, a.n_jobs)
        rows.append((name, *score(tool, train, test, f)[:2], secs))

    print()
    print(f"{'method':<12}{'MASE':>8}{'sMAPE':>9}{'seconds':>10}")
    for name, mase, smape, secs in rows:
        print(f"{name:<12}{mase:>8.3f}{smape:>9.3f}{secs:>10.1f}")
    res = {r[0]: r[1] for r in rows}
    if "AutoETS" in res:
        verdict = "at least as accurate as" if res["auto"] <= res["AutoETS"] else "LESS accurate than"
        print(f"\nauto MASE {res['auto']:.3f} is {verdict} AutoETS {res['AutoETS']:.3f} on this run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
