"""Benchmark: next month's quantity at the observed price, rolling origin, against the naive last value.

For each origin month t (every month with at least ``--min-months`` months of
history before it), the demand model (:func:`aihub.pricing.fit_elasticity`:
hierarchical shrunken elasticity, demand form and calendar-month effects chosen
by an inner time split of the months before t only) is fitted on all months
before t and predicts each product's quantity in month t at the price actually
charged then (and the competitors' prices then). Named baseline: **naive last
value**, the product's quantity in its latest month before t. Every product
with history before t is scored. MAPE is the mean of |actual - predicted| /
actual over product-months (in percent; quantities are positive here); the
median absolute percentage error is shown too (MAPE is dominated by a few small
quantities). For context, the regression form alone (fixed level per product,
the first version's form) is scored on the same months.

Data: ``shared/data/pricing/retail_price.csv`` (52 products, 2017-01 to
2018-08, monthly), and Superstore's order lines aggregated per sub-category
and month with the realised price index ``1 - discount`` (quantity-weighted),
pooled by category.

Usage::

    python benchmarks/pricing.py [--min-months 8]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aihub.pricing import fit_elasticity, predict_quantity, price_panel


def shared_dir() -> Path:
    """``../shared/data``; ``AIHUB_SHARED_DIR`` may name the shared folder or its data folder."""
    env = os.environ.get("AIHUB_SHARED_DIR")
    if env:
        p = Path(env)
        return p / "data" if (p / "data").is_dir() else p
    return ROOT.parent / "shared" / "data"


def backtest(panel: pd.DataFrame, min_months: int) -> tuple[pd.DataFrame, list[str]]:
    months = sorted(panel["period"].unique())
    frames, chosen = [], []
    for t in months[min_months:]:
        train, test = panel[panel["period"] < t], panel[panel["period"] == t]
        test = test[test["product"].isin(train["product"])]
        if test.empty:
            continue
        model = fit_elasticity(train)
        chosen.append(f"{model.form_}{'+months' if model.season_ == 'monthly' else ''}"
                      f"{f' a={model.alpha_:.2f}' if model.form_ == 'anchored' else ''}")
        last = train.sort_values("period").groupby("product")["quantity"].last()
        frames.append(pd.DataFrame({"month": pd.Timestamp(t).strftime("%Y-%m"), "product": test["product"].to_numpy(),
                                    "actual": test["quantity"].to_numpy(), "model": predict_quantity(model, test),
                                    "regression": predict_quantity(fit_elasticity(train, form="regression"), test),
                                    "naive": last[test["product"]].to_numpy()}))
    return pd.concat(frames, ignore_index=True), chosen


def report(name: str, res: pd.DataFrame, chosen: list[str]) -> None:
    ape = lambda col: 100 * np.abs(res["actual"] - res[col]) / res["actual"]
    months = sorted(res["month"].unique())
    print(f"\n{name}: origins {months[0]} to {months[-1]} ({len(months)} months), {len(res)} product-months scored "
          f"({int(res['model'].isna().sum())} without a forecast)")
    print(f"{'':<44}{'MAPE %':>9}{'median APE %':>14}")
    for col, label in (("model", "demand model (form chosen by inner split)"),
                       ("regression", "regression form only (context)"), ("naive", "naive last value (baseline)")):
        print(f"{label:<44}{ape(col).mean():>9.1f}{ape(col).median():>14.1f}")
    per = res.assign(m=ape("model"), n=ape("naive")).groupby("month")[["m", "n"]].mean().round(1)
    print("per month (model / naive MAPE %): " + "; ".join(f"{m} {r.m}/{r.n}" for m, r in per.iterrows()))
    print("form chosen per origin: " + ", ".join(f"{c} x{n}" for c, n in pd.Series(chosen).value_counts().items()))


def superstore_panel() -> pd.DataFrame:
    orders = pd.read_csv(shared_dir() / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    orders["price_index"] = 1.0 - orders["Discount"]
    return price_panel(orders, "Sub-Category", "Order Date", "price_index", "Quantity", category_col="Category",
                       dayfirst=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min-months", type=int, default=8)
    args = ap.parse_args(argv)
    retail = pd.read_csv(shared_dir() / "pricing" / "retail_price.csv")
    panel = price_panel(retail, "product_id", "month_year", "unit_price", "qty", category_col="product_category_name",
                        competitor_cols=["comp_1", "comp_2", "comp_3"])
    report("retail_price.csv", *backtest(panel, args.min_months))
    report("Superstore sub-categories (price = 1 - discount)", *backtest(superstore_panel(), 12))
    return 0


if __name__ == "__main__":
    sys.exit(main())
