"""A price inside the user's bounds, recommended only when the data support the move.

The demand curve at next month's prices comes from :func:`aihub.pricing.predict_quantity`
(expected quantity: median times the smearing factor). Its uncertainty is the
elasticity's: ``draws`` elasticities from ``N(beta, se^2)`` bend the curve around
today's price, ``q_d(p) = q(p) (p / p_0)^(beta_d - beta)``, so every draw agrees on
demand at today's price and differs in how demand answers a change (the thing
being decided).

The price with the highest expected revenue (or profit) is recommended only
when, over the draws, it beats today's price with probability at least
``min_gain_probability`` (default 0.95: for revenue this is the same as the 90%
interval of the elasticity lying wholly below -1, elastic, or wholly above -1,
inelastic). Otherwise today's price is kept and the reason is given, with the
expected best price and its chance of doing better. Decisions are Bayesian
expected-value choices over the posterior of the elasticity (Phillips 2021,
"Pricing and Revenue Optimization", 2nd ed., ch. 3 and 5).

Under a constant elasticity, revenue ``A p^(1 + beta)`` is monotone in price:
it rises with price when ``beta > -1`` (inelastic) and falls when ``beta < -1``,
so a revenue recommendation lands on one of the user's bounds whenever it moves
at all. That is said plainly, with the interval, the downside at the 5th
percentile of the draws and whether the price leaves the range ever charged.
A profit objective with a unit cost has an interior optimum ``c beta / (1 + beta)``
for ``beta < -1``.

Products whose elasticity comes from the prior alone (no product of their
category varies its price enough) and products whose demand rises with price
keep today's price; a price test is suggested to learn the response.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from aihub.errors import ValidationError
from aihub.pricing.demand import ElasticityModel, predict_quantity
from aihub.userconfig import UserConfig, parse

RECOMMENDATION_FIELDS: tuple[str, ...] = (
    "product", "decision", "status", "reason", "current_price", "recommended_price", "change", "objective",
    "elasticity", "elasticity_lower", "elasticity_upper", "source", "best_expected_price", "gain_probability",
    "objective_change", "objective_change_p05", "quantity_now", "quantity_recommended", "revenue_now",
    "revenue_recommended", "profit_now", "profit_recommended", "at_bound", "outside_observed",
)


class PriceBounds(UserConfig):
    """The user's limits for :func:`recommend_price`."""

    objective: Literal["revenue", "profit"] = "revenue"
    max_change: float = Field(0.2, gt=0.0, le=1.0, description="largest change from today's price, as a share")
    min_margin: float | None = Field(None, ge=0.0, lt=1.0, description="smallest (price - cost) / price")
    min_gain_probability: float = Field(0.95, ge=0.5, le=0.999,
                                        description="chance the new price must have of beating today's")
    grid: int = Field(81, ge=5, le=2001)
    draws: int = Field(400, ge=50, le=20000)
    seed: int = Field(0, ge=0)


def _grid(p0: float, cost: float | None, b: PriceBounds) -> np.ndarray:
    lo, hi = p0 * (1 - b.max_change), p0 * (1 + b.max_change)
    if b.min_margin is not None:
        lo = max(lo, float(cost) / (1 - b.min_margin))
    if lo > hi:
        raise ValidationError(f"no price within {b.max_change:.0%} of {p0:g} keeps a {b.min_margin:.0%} margin over "
                              f"the unit cost {cost:g}", field="min_margin")
    return np.unique(np.append(np.linspace(lo, hi, b.grid), p0 if lo <= p0 <= hi else []))


def _curve(model: ElasticityModel, row: pd.Series, prices: np.ndarray, p0: float, cost: float | None,
           b: PriceBounds) -> tuple[pd.DataFrame, np.ndarray]:
    """The expected curve with 5-95% bands, and the objective per draw and price, shape (draws, prices)."""
    frame = pd.DataFrame({"product": row["product"], "period": row["last_period"] + pd.DateOffset(months=1),
                          "price": prices, "competitor_price": row["last_competitor_price"]})
    q_med = predict_quantity(model, frame)
    q_mean = predict_quantity(model, frame, kind="mean")
    betas = np.random.default_rng(b.seed).normal(row["elasticity"], row["std_error"], b.draws)
    q = q_mean[None, :] * (prices[None, :] / p0) ** (betas[:, None] - row["elasticity"])
    rev = q * prices[None, :]
    prof = q * (prices[None, :] - cost) if cost is not None else None
    pct = (lambda a, k: np.percentile(a, k, axis=0))
    curve = pd.DataFrame({"price": prices, "quantity": q_med, "expected_quantity": q_mean,
                          "quantity_low": pct(q, 5) * q_med / q_mean, "quantity_high": pct(q, 95) * q_med / q_mean,
                          "revenue": rev.mean(axis=0), "revenue_low": pct(rev, 5), "revenue_high": pct(rev, 95),
                          "profit": prof.mean(axis=0) if prof is not None else np.nan,
                          "profit_low": pct(prof, 5) if prof is not None else np.nan,
                          "profit_high": pct(prof, 95) if prof is not None else np.nan})
    return curve, (prof if b.objective == "profit" else rev)


def _interval_text(row: pd.Series) -> str:
    return f"elasticity {row['elasticity']:+.2f}, 90% interval {row['lower']:+.2f} to {row['upper']:+.2f}"


def _hold_reason(row: pd.Series) -> tuple[str, str] | None:
    if row["source"] == "prior":
        return "no_estimate", (f"No estimate from the data: {row['status']}. Today's price is kept; to learn how "
                               "demand answers price, run a price test (prices a few percent apart for several months).")
    if row["elasticity"] >= 0:
        return "rising_demand", (f"Demand rises with price in this data ({_interval_text(row)}), which usually "
                                 "means unobserved promotions or quality changes: today's price is kept.")
    return None


def _move_reason(row: pd.Series, b: PriceBounds, p_new: float, p0: float, bound: str | None,
                 p05: float, observed: str | None) -> str:
    direction = "raise" if p_new > p0 else "lower"
    if b.objective == "revenue":
        why = (f"Demand is inelastic ({_interval_text(row)}): under this model revenue keeps rising as the price "
               "rises" if p_new > p0 else
               f"Demand is elastic ({_interval_text(row)}): under this model revenue keeps rising as the price falls")
    else:
        why = f"Expected profit is highest at {p_new:,.2f} ({_interval_text(row)})"
    text = f"{why}; {direction} the price by {abs(p_new / p0 - 1):.0%} to {p_new:,.2f}"
    if bound:
        text += f", the {bound} your bounds allow (the model would go further)"
    text += f". Risk: at the 5th percentile of the elasticity's draws the {b.objective} changes by {p05:+.0%}"
    if observed:
        text += f"; {observed}, where a constant elasticity is an extrapolation: move in steps and watch demand"
    return text + "."


def recommend_price(model: ElasticityModel, product: str, *, current_price: float | None = None,
                    unit_cost: float | None = None, bounds: PriceBounds | dict[str, Any] | None = None,
                    **overrides: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    """Today's price or a better one inside the bounds, with the reason, the risk and the curve behind it.

    Parameters
    ----------
    model : ElasticityModel
    product : str
    current_price : float, optional
        Today's price; default the last observed one.
    unit_cost : float, optional
        Needed for ``objective="profit"`` and ``min_margin``; default the last observed cost.
    bounds : PriceBounds or dict, optional
        ``objective``, ``max_change``, ``min_margin``, ``min_gain_probability``, ``grid``, ``draws``, ``seed``.

    Returns
    -------
    recommendation : dict with :data:`RECOMMENDATION_FIELDS`
        ``decision`` "raise", "lower" or "keep"; ``status`` "ok", "at_bound",
        "uncertain" (the best expected price beats today's with less than
        ``min_gain_probability``), "no_estimate" (prior only) or
        "rising_demand"; ``reason`` one plain sentence or three;
        ``recommended_price`` (today's when kept); ``best_expected_price`` and
        ``gain_probability`` (0 to 1) of the best expected price;
        ``objective_change`` (expected, share) and ``objective_change_p05``
        (5th percentile) at the recommended price; quantities (units per
        period, expected), revenue and profit per period at both prices;
        ``outside_observed`` whether the price leaves the range ever charged.
    curve : DataFrame
        price, quantity (median), expected_quantity, quantity_low,
        quantity_high, revenue, revenue_low, revenue_high, profit, profit_low,
        profit_high (NaN without a cost) per grid price; low/high are the 5th
        and 95th percentiles over the elasticity's draws.

    Raises
    ------
    ValidationError
        Unknown product, bad bounds, profit objective or margin without a cost,
        or bounds that leave no admissible price.
    """
    base = bounds.model_dump() if isinstance(bounds, PriceBounds) else dict(bounds or {})
    b = parse(PriceBounds, {**base, **{k: v for k, v in overrides.items() if v is not None}}, what="Price bounds")
    row = model.product(product)
    p0 = float(current_price if current_price is not None else row["last_price"])
    if not np.isfinite(p0) or p0 <= 0:
        raise ValidationError(f"current_price must be positive; got {current_price!r}", field="current_price")
    cost = unit_cost if unit_cost is not None else (row["last_cost"] if np.isfinite(row["last_cost"]) else None)
    if (b.objective == "profit" or b.min_margin is not None) and cost is None:
        raise ValidationError("profit and minimum margin need the unit cost (a cost column or unit_cost)",
                              field="unit_cost")
    cost = None if cost is None else float(cost)
    prices = _grid(p0, cost, b)
    curve, obj = _curve(model, row, prices, p0, cost, b)
    i0 = int(np.argmin(np.abs(prices - p0)))
    allowed_now = bool(np.isclose(prices[i0], p0))  # a margin floor above today's price forces a move
    best = int(np.argmax(obj.mean(axis=0)))
    gain = float(np.mean(obj[:, best] > obj[:, i0])) if best != i0 else 0.0
    hold = _hold_reason(row) if allowed_now else None
    if hold is None and allowed_now and (best == i0 or gain < b.min_gain_probability):
        hold = ("uncertain", (f"Today's price is kept: the best expected price, {prices[best]:,.2f}, beats it with "
                             f"probability {gain:.0%} (needs {b.min_gain_probability:.0%}); {_interval_text(row)}."))
    pick = i0 if hold else best
    p_new = float(prices[pick])
    base_obj = obj[:, i0]
    rel = np.divide(obj[:, pick] - base_obj, np.abs(base_obj), out=np.zeros_like(base_obj), where=base_obj != 0)
    q_now, q_new = float(curve["expected_quantity"].iloc[i0]), float(curve["expected_quantity"].iloc[pick])
    at_bound = bool(pick in (0, len(prices) - 1) and not hold)
    bound = ("highest price" if pick == len(prices) - 1 else "lowest price") if at_bound else None
    outside = None
    if p_new > row["max_price"] * (1 + 1e-9):
        outside = f"{p_new:,.2f} is above the highest price charged so far ({row['max_price']:,.2f})"
    elif p_new < row["min_price"] * (1 - 1e-9):
        outside = f"{p_new:,.2f} is below the lowest price charged so far ({row['min_price']:,.2f})"
    p05 = float(np.percentile(rel, 5))
    status, reason = hold if hold else ("at_bound" if at_bound else "ok",
                                        _move_reason(row, b, p_new, p0, bound, p05, outside))
    if not allowed_now:
        reason = f"Today's price {p0:,.2f} breaks the minimum margin of {b.min_margin:.0%}. " + reason
    rec = {"product": str(product), "decision": "keep" if hold else ("raise" if p_new > p0 else "lower"),
           "status": status, "reason": reason, "current_price": p0, "recommended_price": p_new,
           "change": p_new / p0 - 1, "objective": b.objective, "elasticity": float(row["elasticity"]),
           "elasticity_lower": float(row["lower"]), "elasticity_upper": float(row["upper"]), "source": row["source"],
           "best_expected_price": float(prices[best]), "gain_probability": gain,
           "objective_change": float(np.mean(rel)), "objective_change_p05": p05,
           "quantity_now": q_now, "quantity_recommended": q_new, "revenue_now": q_now * p0,
           "revenue_recommended": q_new * p_new,
           "profit_now": None if cost is None else q_now * (p0 - cost),
           "profit_recommended": None if cost is None else q_new * (p_new - cost),
           "at_bound": at_bound, "outside_observed": outside is not None}
    return rec, curve
