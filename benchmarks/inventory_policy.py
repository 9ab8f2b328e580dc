"""Benchmark: achieved service of the forecast-driven order-up-to policy on held-back Superstore demand.

Series: weekly units sold (``Quantity``) per sub-category of Superstore (17
series). The last ``--test-weeks`` weeks are held back. At the cut-off one
forecast is made per series with :func:`aihub.forecasting.fit_forecast`
(``auto`` among ETS, Theta and seasonal naive) for the test weeks plus the
protection interval; at each weekly review (R = 1, lead time ``--lead-time``
weeks, target cycle service level ``--service-level``) the order-up-to level
is set from the forecast of the next R + L weeks by
:func:`aihub.inventory.policy_for` and the policy is run on the actual demand
(:func:`aihub.inventory.simulate_order_up_to`, backorders).

Compared, same weeks, same simulation:

* **forecast policy** (aihub.inventory, the product);
* **naive baseline**: order-up-to = mean weekly demand of the training weeks x (R + L), no safety stock;
* textbook stationary: mean x (R + L) + k x std of weekly demand x sqrt(R + L).

Reported: mean over series of the cycle service level (share of weeks ending
without backorder), the fill rate and the average stock on hand in weeks of
demand (what the service costs).

Usage::

    python benchmarks/inventory_policy.py [--test-weeks 52] [--lead-time 2] [--service-level 0.95]
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
from aihub.inventory import InventoryParams, policy_for, simulate_order_up_to


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--test-weeks", type=int, default=52)
    ap.add_argument("--lead-time", type=int, default=2)
    ap.add_argument("--service-level", type=float, default=0.95)
    args = ap.parse_args(argv)
    orders = pd.read_csv(shared_dir() / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    L, R, H = args.lead_time, 1, args.test_weeks
    params = InventoryParams(lead_time=L, review_period=R, service_level=args.service_level)
    k = norm.ppf(args.service_level)
    results: dict[str, list[dict]] = {"forecast policy": [], "naive baseline (mean, no safety stock)": [],
                                      "stationary textbook (mean + k sd)": []}
    for sub in sorted(orders["Sub-Category"].unique()):
        series = prepare_series(orders[orders["Sub-Category"] == sub], "Order Date", "Quantity", freq="W")
        train, test = series.iloc[:-H], series.iloc[-H:]
        fc = fit_forecast(train, horizon=H + L + R, freq="W", candidates=["ets", "theta", "seasonal_naive"],
                          serialize=False, in_sample=False).forecast
        demand = test["y"].to_numpy(dtype=float)
        levels = np.array([policy_for(fc.iloc[t:].reset_index(drop=True), 0.0, params)["order_up_to"] for t in range(H)])
        mu, sd = train["y"].mean(), train["y"].std()
        naive = np.full(H, mu * (R + L))
        textbook = np.full(H, mu * (R + L) + k * sd * np.sqrt(R + L))
        for name, lv in zip(results, (levels, naive, textbook)):
            r = simulate_order_up_to(demand, lv, L)
            r["weeks_of_stock"] = r["mean_on_hand"] / max(demand.mean(), 1e-9)
            results[name].append(r)
    print(f"Superstore weekly units per sub-category: {len(results['forecast policy'])} series, last {H} weeks held "
          f"back; R = {R} week, L = {L} weeks, target cycle service level {args.service_level:.0%}")
    print(f"{'policy':<40}{'cycle service':>15}{'fill rate':>11}{'weeks of stock':>16}")
    for name, rows in results.items():
        csl, fr, wk = (np.mean([r[m] for r in rows]) for m in ("cycle_service_level", "fill_rate", "weeks_of_stock"))
        print(f"{name:<40}{csl:>15.3f}{fr:>11.3f}{wk:>16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
