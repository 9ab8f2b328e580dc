"""Probabilistic customer lifetime value (BG/NBD + Gamma-Gamma): see :mod:`aihub.clv.core`.

Typical use::

    from aihub.clv import summary_from_orders, fit_clv, predict_clv

    summary = summary_from_orders(orders, "Customer ID", "Order Date", "Sales")
    model = fit_clv(summary)                      # 7 parameters, strict-JSON state
    predict_clv(model, summary, horizon_days=365) # p(alive), expected purchases and spend
"""

from aihub.clv.core import (
    SUMMARY_COLUMNS,
    CLVModel,
    CLVParams,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_probability_alive,
    check_params,
    fit_clv,
    gamma_gamma_expected_value,
    gamma_gamma_log_likelihood,
    predict_clv,
    summary_from_orders,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "CLVModel",
    "CLVParams",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_probability_alive",
    "check_params",
    "fit_clv",
    "gamma_gamma_expected_value",
    "gamma_gamma_log_likelihood",
    "predict_clv",
    "summary_from_orders",
]
