"""Inventory policy from a demand forecast: safety stock, reorder point, order quantity, stock-out risk.

Formulation: Silver, Pyke & Thomas (2017), "Inventory and Production
Management in Supply Chains", 4th ed., CRC Press, chapter 6 (individual items
with probabilistic demand), normal demand over the protection interval:

* continuous review (``review_period = 0``), order point / order quantity
  ``(s, Q)``: protection interval ``L`` (lead time); ``s = x_L + k sigma_L``;
  ``Q`` = economic order quantity ``sqrt(2 A D / h)`` (their eq. 4.2, ``A``
  ordering cost, ``D`` demand per period, ``h`` holding cost per unit and period);
* periodic review, order-up-to ``(R, S)``: protection interval ``R + L``;
  ``S = x_{R+L} + k sigma_{R+L}``; each review orders ``S`` minus the
  inventory position;
* ``k = Phi^-1(service_level)`` for a cycle service level (their P1);
  expected shortage per cycle ``sigma G_u(k)`` with the unit normal loss
  ``G_u(k) = phi(k) - k (1 - Phi(k))``, fill rate (P2) ``1 - sigma G_u(k) / Q``
  (``Q = D R`` under periodic review);
* safety stock ``k sigma``; the probability of a stock-out before the next
  replenishment arrives, given today's inventory position ``IP``, is
  ``1 - Phi((IP - x) / sigma)`` over the protection interval.

Demand over the protection interval comes from the forecast frame of
:mod:`aihub.forecasting` (columns ``ds, yhat`` and a pair of interval columns
``yhat_lower_<level>``/``yhat_upper_<level>``, or ``yhat_lower``/``yhat_upper``
with the level given): the mean is the sum of ``yhat`` over the interval
(fractional last period pro rata) and each period's standard deviation is the
interval's half-width divided by ``Phi^-1(0.5 + level/200)``; periods are
taken as independent, ``sigma^2`` = sum of the period variances.

With the forecast's own past errors over the protection interval
(:func:`aihub.inventory.rolling.protection_errors`), safety stock is instead
their empirical ``service_level`` quantile and the stock-out probability their
empirical tail (see :mod:`aihub.inventory.rolling`); ``safety_stock_basis``
says which was used.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field
from scipy.stats import norm

from aihub.errors import ValidationError
from aihub.frames import numeric_column, require_columns, require_frame
from aihub.userconfig import UserConfig, parse

POLICY_COLUMNS: tuple[str, ...] = (
    "product", "policy", "mean_demand_per_period", "protection_periods", "demand_over_protection",
    "sigma_over_protection", "service_level", "safety_stock", "reorder_point", "order_up_to", "order_quantity",
    "inventory_position", "needs_order", "order_now", "stockout_probability", "expected_fill_rate",
    "safety_stock_basis",
)


class InventoryParams(UserConfig):
    """Settings of :func:`inventory_policy`; periods are the forecast's periods."""

    lead_time: float = Field(gt=0.0, le=1000.0, description="periods from order to arrival")
    review_period: float = Field(0.0, ge=0.0, le=1000.0, description="periods between reviews; 0 = continuous")
    service_level: float = Field(0.95, ge=0.5, le=0.9999, description="target cycle service level")
    ordering_cost: float = Field(0.0, ge=0.0, description="fixed cost per order (currency)")
    holding_cost: float = Field(1.0, gt=0.0, description="cost to hold one unit for one period (currency)")
    interval_level: Literal[80, 95] = Field(95, description="forecast interval read for the spread")
    error_scale_power: float = Field(0.5, ge=0.0, le=1.0,
                                     description="past errors scaled by forecast^power (aihub.inventory.rolling)")


def check_params(params: InventoryParams | dict | None = None, **overrides) -> InventoryParams:
    """Validated settings (errors name the setting, the value and the allowed range)."""
    base = params.model_dump() if isinstance(params, InventoryParams) else dict(params or {})
    return parse(InventoryParams, {**base, **{k: v for k, v in overrides.items() if v is not None}},
                 what="Inventory settings")


def forecast_moments(forecast: pd.DataFrame, level: int = 95) -> tuple[np.ndarray, np.ndarray]:
    """Per-period mean and standard deviation of demand from a forecast frame.

    Parameters
    ----------
    forecast : DataFrame with columns ds, yhat and yhat_lower_<level>/yhat_upper_<level>
        (or yhat_lower/yhat_upper), one row per future period in order.
    level : {80, 95}

    Returns
    -------
    mean, sigma : ndarray of shape (n_periods,)
        Units per period; negative means are floored at 0.

    Raises
    ------
    ValidationError
        Missing columns or an upper bound below the lower one (row named).
    """
    require_frame(forecast, "forecast")
    lo, hi = f"yhat_lower_{level}", f"yhat_upper_{level}"
    if lo not in forecast.columns and "yhat_lower" in forecast.columns:
        lo, hi = "yhat_lower", "yhat_upper"
    require_columns(forecast, {"yhat": "yhat", "yhat_lower": lo, "yhat_upper": hi}, "forecast")
    mean = numeric_column(forecast, "yhat", what="forecast")
    lower, upper = numeric_column(forecast, lo, what="forecast"), numeric_column(forecast, hi, what="forecast")
    if (upper < lower).any():
        i = int(np.flatnonzero(upper < lower)[0])
        raise ValidationError(f"forecast row {i + 1}: {hi} is below {lo}", field=hi, details={"row": i + 1})
    z = norm.ppf(0.5 + level / 200.0)
    return np.maximum(mean, 0.0), (upper - lower) / (2.0 * z)


def _over(values: np.ndarray, periods: float, power: int = 1) -> float:
    """Sum of the first ``periods`` values (fractional last one pro rata); squares when power=2."""
    full = math.floor(periods)
    if full > len(values) or (periods > full >= len(values)):
        raise ValidationError(f"the forecast covers {len(values)} periods but the protection interval needs "
                              f"{periods:g}; forecast further ahead", field="lead_time")
    v = values ** power
    return float(v[:full].sum() + (periods - full) * (v[full] if periods > full else 0.0))


def loss_function(k: float) -> float:
    """Unit normal loss ``G_u(k) = phi(k) - k (1 - Phi(k))`` (Silver, Pyke & Thomas 2017, appendix B)."""
    return float(norm.pdf(k) - k * norm.sf(k))


def policy_for(forecast: pd.DataFrame, inventory_position: float, params: InventoryParams | dict,
               product: str = "item", *, errors: np.ndarray | None = None) -> dict:
    """The policy of one product (see :func:`inventory_policy` for the fields).

    ``errors``: past scaled forecast errors over the protection interval
    (:func:`aihub.inventory.rolling.protection_errors` with ``error_scale_power``); with at least
    :data:`aihub.inventory.rolling.MIN_ERRORS` of them the safety stock is their empirical quantile.
    """
    from aihub.inventory.rolling import MIN_ERRORS, empirical_order_up_to

    p = check_params(params)
    mean, sigma = forecast_moments(forecast, p.interval_level)
    periodic = p.review_period > 0
    prot = p.lead_time + p.review_period
    x = _over(mean, prot)
    s = math.sqrt(_over(sigma, prot, power=2))
    k = float(norm.ppf(p.service_level))
    d = float(mean[: max(1, math.ceil(prot))].mean())
    if periodic:
        q = max(d * p.review_period, 1e-9)
    elif p.ordering_cost > 0:
        q = math.sqrt(2.0 * p.ordering_cost * d / p.holding_cost)
    else:
        q = max(d, 1e-9)  # no fixed cost: order one period's demand at a time
    level = x + k * s
    ip = float(inventory_position)
    prob = float(norm.sf((ip - x) / s)) if s > 0 else float(ip < x)
    basis = "normal"
    if errors is not None and len(errors) >= MIN_ERRORS:
        level = empirical_order_up_to(x, errors, p.service_level, p.error_scale_power)[0]
        prob = float(np.mean(x + x ** p.error_scale_power * np.asarray(errors, float) > ip))
        basis = f"empirical ({len(errors)} past errors)"
    needs = ip <= level if not periodic else ip < level
    order_now = (max(level - ip, 0.0) if periodic else (q * max(1, math.ceil((level - ip) / q + 1e-12)) if needs else 0.0))
    return {"product": product, "policy": "(R, S)" if periodic else "(s, Q)", "mean_demand_per_period": d,
            "protection_periods": prot, "demand_over_protection": x, "sigma_over_protection": s,
            "service_level": p.service_level, "safety_stock": level - x,
            "reorder_point": None if periodic else level, "order_up_to": level if periodic else None,
            "order_quantity": q, "inventory_position": ip, "needs_order": bool(needs), "order_now": float(order_now),
            "stockout_probability": prob, "expected_fill_rate": max(0.0, 1.0 - s * loss_function(k) / q),
            "safety_stock_basis": basis}


def inventory_policy(forecasts: pd.DataFrame, inventory: pd.DataFrame | dict[str, float],
                     params: InventoryParams | dict, *, product_col: str = "product",
                     errors: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Safety stock, reorder point or order-up-to level, order quantity and stock-out risk per product.

    Parameters
    ----------
    forecasts : DataFrame
        Long forecast frame: ``product_col``, ``ds``, ``yhat`` and interval
        columns (as :func:`aihub.forecasting.forecast_many` or several
        :func:`~aihub.forecasting.fit_forecast` results stacked), future periods only.
    inventory : DataFrame with product and inventory_position, or dict product -> units
        Inventory position = on hand + on order - backorders (units).
    params : InventoryParams or dict
        ``lead_time`` is required.
    product_col : str, default "product"
    errors : dict product -> ndarray, optional
        Past scaled forecast errors over the protection interval
        (:func:`aihub.inventory.rolling.protection_errors`); products with
        enough of them get the empirical safety stock.

    Returns
    -------
    DataFrame with :data:`POLICY_COLUMNS`, one row per product, units in the
    forecast's units. ``needs_order``: the position is at or below the reorder
    point (continuous) or below the order-up-to level (periodic);
    ``order_now``: units to order at this review; ``stockout_probability``
    (0 to 1): demand over the protection interval exceeds today's position if
    nothing is ordered now.

    Raises
    ------
    ValidationError
        Missing columns, a product without an inventory position, a forecast
        too short for the lead time, bad settings.
    """
    p = check_params(params)
    require_frame(forecasts, "forecasts")
    require_columns(forecasts, {"product_col": product_col, "ds": "ds"}, "forecasts")
    if isinstance(inventory, pd.DataFrame):
        require_columns(inventory, {"product": "product", "inventory_position": "inventory_position"}, "inventory")
        positions = dict(zip(inventory["product"].astype(str),
                             numeric_column(inventory, "inventory_position", what="inventory")))
    else:
        positions = {str(k): float(v) for k, v in inventory.items()}
    rows = []
    for product, f in forecasts.groupby(forecasts[product_col].astype(str), sort=True):
        if product not in positions:
            raise ValidationError(f"no inventory position for product {product!r}", field="inventory",
                                  details={"product": product})
        rows.append(policy_for(f.sort_values("ds").reset_index(drop=True), positions[product], p, product,
                               errors=(errors or {}).get(product)))
    return pd.DataFrame(rows, columns=list(POLICY_COLUMNS))


def products_to_order(policy: pd.DataFrame) -> pd.DataFrame:
    """Products at or below their reorder point (or below the order-up-to level): what a workflow trigger fires on.

    Returns
    -------
    DataFrame: the rows of ``policy`` with ``needs_order``, highest stock-out probability first.
    """
    require_columns(policy, {"needs_order": "needs_order", "stockout_probability": "stockout_probability"}, "policy")
    due = policy[policy["needs_order"].astype(bool)]
    return due.sort_values("stockout_probability", ascending=False, kind="stable").reset_index(drop=True)


def simulate_order_up_to(demand: np.ndarray, levels: np.ndarray, lead_time: int, *, warmup: int | None = None) -> dict:
    """Run a periodic-review (R = 1) order-up-to policy on actual demand, with backorders.

    Each period: the order placed ``lead_time`` periods ago arrives, the
    position is raised to ``levels[t]``, then demand ``demand[t]`` is served
    from stock on hand (the rest is backordered).

    Parameters
    ----------
    demand : ndarray of shape (n,)
        Actual demand per period (units, >= 0).
    levels : ndarray of shape (n,)
        Order-up-to level used at each review.
    lead_time : int
        Periods from order to arrival (>= 0).
    warmup : int, optional
        Periods not scored (default ``lead_time``): stock starts at the first level.

    Returns
    -------
    dict
        ``cycle_service_level`` (share of scored periods ending without a
        backorder), ``fill_rate`` (share of scored demand served from stock),
        ``mean_on_hand`` (average end-of-period stock on hand, units), ``periods``.
    """
    demand = np.asarray(demand, dtype=float)
    levels = np.asarray(levels, dtype=float)
    warm = lead_time if warmup is None else warmup
    net = float(levels[0])  # on hand minus backorders
    pipeline = [0.0] * lead_time
    ok = served = total = on_hand_sum = 0.0
    n = 0
    for t, d in enumerate(demand):
        if lead_time:
            net += pipeline.pop(0)
        position = net + sum(pipeline)
        order = max(levels[t] - position, 0.0)
        if lead_time:
            pipeline.append(order)
        else:
            net += order
        available = max(net, 0.0)
        net -= d
        if t >= warm:
            n += 1
            served += min(d, available)
            total += d
            ok += net >= 0
            on_hand_sum += max(net, 0.0)
    return {"cycle_service_level": ok / n if n else float("nan"), "fill_rate": served / total if total else 1.0,
            "mean_on_hand": on_hand_sum / n if n else float("nan"), "periods": n}
