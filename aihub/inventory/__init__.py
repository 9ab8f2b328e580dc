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

__all__ = ["POLICY_COLUMNS", "InventoryParams", "check_params", "forecast_moments", "inventory_policy",
           "loss_function", "policy_for", "products_to_order", "simulate_order_up_to"]
