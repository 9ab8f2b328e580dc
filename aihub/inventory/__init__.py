"""Inventory policy from a demand forecast (Silver, Pyke & Thomas 2017): see :mod:`aihub.inventory.core`."""

from aihub.inventory.core import (
    POLICY_COLUMNS,
    InventoryParams,
    check_params,
    forecast_moments,
    inventory_policy,
    loss_function,
    policy_for,
    products_to_order,
    simulate_order_up_to,
)
from aihub.inventory.rolling import (
    MIN_ERRORS,
    empirical_order_up_to,
    protection_errors,
    recent_errors,
    rolling_forecasts,
)

__all__ = ["MIN_ERRORS", "POLICY_COLUMNS", "InventoryParams", "check_params", "empirical_order_up_to",
           "forecast_moments", "inventory_policy", "loss_function", "policy_for", "products_to_order",
           "protection_errors", "recent_errors", "rolling_forecasts", "simulate_order_up_to"]
