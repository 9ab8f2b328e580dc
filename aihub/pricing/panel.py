"""Price history as a clean monthly panel: one row per product and month.

Rows of the same product and month are combined (quantity summed; prices
quantity-weighted), zero-quantity months are dropped (log demand is undefined
there) and counted. The panel is what :func:`aihub.pricing.fit_elasticity` fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aihub.frames import date_column, numeric_column, require_columns, require_frame


def price_panel(frame: pd.DataFrame, product_col: str, date_col: str, price_col: str, quantity_col: str, *,
                category_col: str | None = None, competitor_cols: tuple[str, ...] | list[str] = (),
                cost_col: str | None = None, dayfirst: bool | None = None) -> pd.DataFrame:
    """A clean monthly panel: product, category, period, price, quantity, competitor price, cost.

    Rows of the same product and month are combined (quantity summed; price
    and competitor prices quantity-weighted means). Rows with quantity 0 are
    dropped (log demand is undefined there) and counted in ``attrs["dropped_zero"]``.

    Returns
    -------
    DataFrame with columns product, category, period (month start), price,
    quantity, competitor_price (NaN without competitor columns), cost (NaN without).

    Raises
    ------
    ValidationError
        Missing columns, non-numeric or non-positive prices (row named).
    """
    require_frame(frame, "price history")
    require_columns(frame, {"product_col": product_col, "date_col": date_col, "price_col": price_col,
                            "quantity_col": quantity_col, "category_col": category_col, "cost_col": cost_col},
                    "price history")
    for c in competitor_cols:
        require_columns(frame, {"competitor_cols": c}, "price history")
    df = pd.DataFrame({
        "product": frame[product_col].astype(str).str.strip().to_numpy(),
        "category": (frame[category_col].astype(str).to_numpy() if category_col else "all"),
        "period": date_column(frame, date_col, dayfirst=dayfirst).dt.to_period("M").dt.start_time.to_numpy(),
        "price": numeric_column(frame, price_col, what="price history", minimum=1e-12),
        "quantity": numeric_column(frame, quantity_col, what="price history", minimum=0.0),
    })
    if competitor_cols:
        comps = np.column_stack([numeric_column(frame, c, what="price history", allow_missing=True) for c in competitor_cols])
        comps[comps <= 0] = np.nan
        df["competitor_price"] = np.nanmean(np.where(np.isnan(comps), np.nan, comps), axis=1) if comps.size else np.nan
    else:
        df["competitor_price"] = np.nan
    df["cost"] = numeric_column(frame, cost_col, what="price history", allow_missing=True) if cost_col else np.nan
    zero = df["quantity"] <= 0
    df = df[~zero]
    w = df["quantity"]
    g = df.assign(pw=df["price"] * w, cw=df["competitor_price"] * w, kw=df["cost"] * w).groupby(
        ["product", "category", "period"], sort=True)
    out = pd.DataFrame({"quantity": g["quantity"].sum()})
    out["price"] = g["pw"].sum() / out["quantity"]
    out["competitor_price"] = g["cw"].sum(min_count=1) / out["quantity"]
    out["cost"] = g["kw"].sum(min_count=1) / out["quantity"]
    out = out.reset_index()[["product", "category", "period", "price", "quantity", "competitor_price", "cost"]]
    out.attrs["dropped_zero"] = int(zero.sum())
    return out
