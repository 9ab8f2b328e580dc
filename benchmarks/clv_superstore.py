"""Benchmark: next-year spend per customer on Superstore, BG/NBD + Gamma-Gamma vs the regression template.

Protocol (time split, out of sample): the cut-off C is 365 days before the day
after the last order. Everything is fitted on orders before C only; the truth
is each customer's spend in ``[C, C + 365 days)`` (0 when they did not buy).
Evaluated customers: all who bought before C.

* **BG/NBD + Gamma-Gamma** (:mod:`aihub.clv`): fitted on the orders before C,
  expected spend over the next 365 days.
* **Regression template** (the named baseline; ``aihub.ml`` template
  ``customer_lifetime_value`` trained as the template does:
  :func:`aihub.ml.suggest_config` + :func:`aihub.ml.train_model` on the orders
  before C, i.e. features before C - 365 days and target = spend in the year
  before C), then predicted from the full history before C.
* Naive: the customer's spend in the 365 days before C.

Reports MAE (currency) and, for context, RMSE and the Spearman rank correlation.

Usage::

    python benchmarks/clv_superstore.py [--horizon-days 365]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.clv import fit_clv, predict_clv, summary_from_orders
from aihub.ml import predict, suggest_config, train_model
from aihub.ml.rfm import parse_dates


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizon-days", type=int, default=365)
    args = ap.parse_args(argv)
    h = args.horizon_days
    orders = pd.read_csv(shared_dir() / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    dates = parse_dates(orders["Order Date"], dayfirst=True)
    cutoff = dates.max().normalize() + pd.Timedelta(days=1) - pd.Timedelta(days=h)
    before = orders[(dates < cutoff).to_numpy()].reset_index(drop=True)
    after = orders[((dates >= cutoff) & (dates < cutoff + pd.Timedelta(days=h))).to_numpy()]
    truth_by = after.groupby(after["Customer ID"].astype(str))["Sales"].sum()
    last_year = before[(parse_dates(before["Order Date"], dayfirst=True) >= cutoff - pd.Timedelta(days=h)).to_numpy()]
    naive_by = last_year.groupby(last_year["Customer ID"].astype(str))["Sales"].sum()

    t0 = time.perf_counter()
    summary = summary_from_orders(before, "Customer ID", "Order Date", "Sales", observation_end=cutoff, dayfirst=True)
    model = fit_clv(summary)
    bg = predict_clv(model, summary, horizon_days=h).set_index("customer")["expected_spend"]
    t_bg = time.perf_counter() - t0

    t0 = time.perf_counter()
    config = suggest_config("customer_lifetime_value", before)
    reg = train_model(config, before)
    pred = predict(reg, before)
    reg_by = pd.Series(pred["prediction"].to_numpy(), index=pred["customer"].astype(str))
    t_reg = time.perf_counter() - t0

    customers = summary["customer"].astype(str)
    truth = truth_by.reindex(customers).fillna(0.0).to_numpy()
    rows = {
        "BG/NBD + Gamma-Gamma": bg.reindex(customers).to_numpy(),
        "regression template (baseline)": reg_by.reindex(customers).to_numpy(),
        "naive: last year's spend": naive_by.reindex(customers).fillna(0.0).to_numpy(),
    }
    print(f"Superstore: cut-off {cutoff.date()}, {len(customers)} customers with orders before it, "
          f"{int((truth > 0).sum())} of them bought in the next {h} days; mean spend {truth.mean():.2f}")
    print(f"BG/NBD r {model.bgnbd_['r']:.3f} alpha {model.bgnbd_['alpha']:.3f} a {model.bgnbd_['a']:.3f} "
          f"b {model.bgnbd_['b']:.3f}; Gamma-Gamma {model.gamma_gamma_}; notes: {model.notes_}")
    print(f"\n{'method':<34}{'MAE':>10}{'RMSE':>10}{'Spearman':>10}{'total/actual':>14}{'fit s':>8}")
    for name, p in rows.items():
        missing = np.isnan(p)
        if missing.any():
            print(f"  ({int(missing.sum())} customers without a prediction scored as 0)")
            p = np.where(missing, 0.0, p)
        mae = np.mean(np.abs(p - truth))
        rmse = np.sqrt(np.mean((p - truth) ** 2))
        rho = spearmanr(p, truth).statistic
        secs = {"BG/NBD + Gamma-Gamma": f"{t_bg:.1f}", "regression template (baseline)": f"{t_reg:.1f}"}.get(name, "")
        print(f"{name:<34}{mae:>10.2f}{rmse:>10.2f}{rho:>10.3f}{p.sum() / truth.sum():>14.3f}{secs:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
