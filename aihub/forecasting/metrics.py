"""Point-forecast accuracy measures.

All functions take 1-D arrays of actuals ``y`` and forecasts ``yhat`` of equal
length, in the units of the series, and return a float.

References
----------
Hyndman, R.J. & Koehler, A.B. (2006). Another look at measures of forecast
accuracy. IJF 22(4), 679-688 (MASE).
Hyndman, R.J. & Athanasopoulos, G. (2021). Forecasting: Principles and Practice,
3rd ed. (FPP3), section 5.8 "Evaluating point forecast accuracy".
Makridakis, S., Spiliotis, E. & Assimakopoulos, V. (2020). The M4 Competition:
100,000 time series and 61 forecasting methods. IJF 36(1), 54-74 (sMAPE, MASE
with m = 1 for weekly data).
"""

from __future__ import annotations

import numpy as np


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute error, in the units of ``y``."""
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(yhat, float))))


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Root mean squared error, in the units of ``y``."""
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(yhat, float)) ** 2)))


def mape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute percentage error in percent, over periods with ``y != 0``.

    Returns NaN when every actual is 0 (the measure is undefined, FPP3 5.8).
    """
    y = np.asarray(y, float)
    yhat = np.asarray(yhat, float)
    nz = y != 0
    if not nz.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs((y[nz] - yhat[nz]) / y[nz])))


def smape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200) as defined for the M4 competition.

    ``200 * mean(|y - yhat| / (|y| + |yhat|))``; periods where both are 0 count as 0 error.
    """
    y = np.asarray(y, float)
    yhat = np.asarray(yhat, float)
    den = np.abs(y) + np.abs(yhat)
    ratio = np.divide(np.abs(y - yhat), den, out=np.zeros_like(den), where=den > 0)
    return float(200.0 * np.mean(ratio))


def mase_scale(y_train: np.ndarray, m: int = 1) -> float:
    """In-sample mean absolute error of the seasonal naive forecast with period ``m``.

    Falls back to ``m = 1`` when the history is not longer than ``m``, and to 1.0
    when the history is constant (then MASE equals MAE). The same fallbacks are used
    by ``forecast_eval.py``.
    """
    h = np.asarray(y_train, float)
    scale = float(np.mean(np.abs(h[m:] - h[:-m]))) if len(h) > m else float("nan")
    if not np.isfinite(scale) or scale == 0:
        scale = float(np.mean(np.abs(np.diff(h)))) if len(h) > 1 else float("nan")
    if not np.isfinite(scale) or scale == 0:
        scale = 1.0
    return scale


def mase(y: np.ndarray, yhat: np.ndarray, y_train: np.ndarray, m: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006).

    MAE of the forecast divided by :func:`mase_scale` of the training history.
    Below 1: better than the in-sample one-step seasonal naive forecast.
    """
    return mae(y, yhat) / mase_scale(y_train, m)


def all_metrics(y: np.ndarray, yhat: np.ndarray, y_train: np.ndarray, m: int = 1) -> dict[str, float]:
    """``{"mae", "rmse", "mape", "smape", "mase"}`` for one forecast."""
    return {
        "mae": mae(y, yhat),
        "rmse": rmse(y, yhat),
        "mape": mape(y, yhat),
        "smape": smape(y, yhat),
        "mase": mase(y, yhat, y_train, m),
    }
