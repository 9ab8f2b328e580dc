"""Benchmark: achieved service of the forecast-driven order-up-to policy on held-back Superstore demand.

Series: weekly units sold (``Quantity``) per sub-category of Superstore (17
series). The last ``--test-weeks`` weeks are held back. At each weekly review
(R = 1, lead time ``--lead-time`` weeks, target cycle service level
``--service-level``) an order-up-to level is set and the policy is run on the
actual demand (:func:`aihub.inventory.simulate_order_up_to`, backorders).

Compared, same weeks, same simulation:

* **rolling forecast, empirical safety stock** (the product): re-forecast every
  ``--refit-every`` reviews on the weeks before the review
  (:func:`aihub.inventory.rolling_forecasts`, ``auto`` among ETS, Theta and
  seasonal naive); order-up-to = forecast F of the next R + L weeks plus
  F^0.5 times the empirical service-level quantile of the latest 52 scaled
  errors (A - F) / F^0.5 of reviews whose R + L weeks have ended
  (:func:`aihub.inventory.policy_for` with ``errors``); the first errors come
  from the same rolling forecasts over the 52 training weeks before the cut-off.
  The same with relative errors (power 1) and unit errors (power 0) for context:
  the power 0.5 was chosen on the year before the held-back year (see
  :mod:`aihub.inventory.rolling`);
* rolling forecast, normal safety stock (from the forecast's intervals);
* one forecast at the cut-off, normal safety stock (the first version);
* **textbook stationary baseline**: mean x (R + L) + k x std of weekly demand x
  sqrt(R + L) over the training weeks, k = Phi^-1(target); and, to compare the
  stock needed for the same achieved service, the same with larger k chosen in
  hindsight on the held-back weeks (not a usable policy);
* naive: mean x (R + L), no safety stock.

Reported: mean over series of the cycle service level (share of weeks ending
without backorder), the fill rate and the average stock on hand in weeks of
demand (what the service costs).

Usage::

    python benchmarks/inventory_policy.py [--test-weeks 52] [--lead-time 2] [--service-level 0.95] [--refit-every 4]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.forecasting import fit_forecast, prepare_series
from aihub.inventory import InventoryParams, policy_for, protection_errors, rolling_forecasts, simulate_order_up_to

CANDIDATES = ["ets", "theta", "seasonal_naive"]


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


POWERS = {"rolling empirical": 0.5, "rolling empirical, relative errors": 1.0, "rolling empirical, unit errors": 0.0}
HINDSIGHT_K = (2.5, 3.5, 4.0)


def levels_for(series: pd.DataFrame, H: int, L: int, R: int, targets: list[float], refit_every: int,
               calibration: int) -> dict[tuple[str, float], np.ndarray]:
    """Order-up-to level per test week under each policy and target (the forecasts are shared by the targets)."""
    n, P = len(series), L + R
    y = series["y"].to_numpy(dtype=float)
    train = y[: n - H]
    once = fit_forecast(series.iloc[: n - H], horizon=H + P, freq="W", candidates=CANDIDATES, serialize=False,
                        in_sample=False).forecast
    rolling = rolling_forecasts(series, freq="W", first_origin=n - H - calibration, last_origin=n - 1, horizon=P,
                                refit_every=refit_every, candidates=CANDIDATES)
    out: dict[tuple[str, float], np.ndarray] = {}
    for target in targets:
        lv: dict[str, list[float]] = {"once": [], "rolling normal": [], **{key: [] for key in POWERS}}
        for t in range(n - H, n):
            normal = InventoryParams(lead_time=L, review_period=R, service_level=target)
            lv["once"].append(policy_for(once.iloc[t - (n - H):].reset_index(drop=True), 0.0, normal)["order_up_to"])
            lv["rolling normal"].append(policy_for(rolling[t], 0.0, normal)["order_up_to"])
            for key, power in POWERS.items():
                params = normal.model_copy(update={"error_scale_power": power})
                errors = protection_errors(y, rolling, P, before=t, power=power)
                lv[key].append(policy_for(rolling[t], 0.0, params, errors=errors)["order_up_to"])
        lv["naive"] = [train.mean() * P] * H
        for k in (norm.ppf(target), *HINDSIGHT_K):
            name = "textbook" if k == norm.ppf(target) else f"textbook k={k}"
            lv[name] = [train.mean() * P + k * train.std(ddof=1) * np.sqrt(P)] * H
        out.update({(key, target): np.asarray(v) for key, v in lv.items()})
    return out


def _row(label: str, rows: list[dict]) -> str:
    csl, fr, wk = (np.mean([r[m] for r in rows]) for m in ("cycle_service_level", "fill_rate", "weeks_of_stock"))
    pooled = sum(r["mean_on_hand"] for r in rows) / sum(r["demand"] for r in rows)
    return f"{label:<58}{csl:>14.3f}{fr:>11.3f}{wk:>16.2f}{pooled:>8.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--test-weeks", type=int, default=52)
    ap.add_argument("--lead-time", type=int, default=2)
    ap.add_argument("--service-level", type=float, default=0.95)
    ap.add_argument("--refit-every", type=int, default=4)
    args = ap.parse_args(argv)
    orders = pd.read_csv(shared_dir() / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    L, R, H, target = args.lead_time, 1, args.test_weeks, args.service_level
    targets = sorted({0.8, 0.9, target, 0.98})
    results: dict[tuple[str, float], list[dict]] = {}
    for sub in sorted(orders["Sub-Category"].unique()):
        series = prepare_series(orders[orders["Sub-Category"] == sub], "Order Date", "Quantity", freq="W")
        demand = series["y"].to_numpy(dtype=float)[-H:]
        for key, lv in levels_for(series, H, L, R, targets, args.refit_every, calibration=52).items():
            r = simulate_order_up_to(demand, lv, L)
            r.update(weeks_of_stock=r["mean_on_hand"] / max(demand.mean(), 1e-9), demand=demand.mean())
            results.setdefault(key, []).append(r)
    print(f"Superstore weekly units per sub-category: 17 series, last {H} weeks held back; R = {R} week, L = {L} "
          f"weeks; re-forecast every {args.refit_every} reviews. Weeks of stock: mean over series of average "
          "on-hand / mean weekly demand; pooled: all series' on-hand / all demand.")
    head = f"{'policy':<58}{'cycle service':>14}{'fill rate':>11}{'weeks of stock':>16}{'pooled':>8}"
    print(f"\ntarget cycle service level {target:.0%}\n{head}")
    names = {"rolling empirical": "rolling forecast, empirical safety stock (product)",
             "rolling empirical, relative errors": "  same, relative errors (power 1)",
             "rolling empirical, unit errors": "  same, unit errors (power 0)",
             "rolling normal": "rolling forecast, normal safety stock",
             "once": "one forecast at cut-off, normal (first version)",
             "textbook": "textbook stationary (mean + k sd), baseline",
             "naive": "naive (mean, no safety stock)"}
    for key, label in names.items():
        print(_row(label, results[(key, target)]))
    print("textbook with a larger k chosen in hindsight (stock needed for the same service):")
    for k in HINDSIGHT_K:
        print(_row(f"  k = {k}", results[(f"textbook k={k}", target)]))
    print(f"\nother targets: achieved service and stock\n{head}")
    for t in targets:
        if t != target:
            print(_row(f"target {t:.0%}: product", results[("rolling empirical", t)]))
            print(_row(f"target {t:.0%}: textbook baseline", results[("textbook", t)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
