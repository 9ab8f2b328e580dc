"""Regression prediction intervals: split-conformal offsets and their bounds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def conformal_offsets(residuals: np.ndarray, level: float) -> tuple[float, float]:
    """Lower and upper residual quantiles with the split-conformal finite-sample correction (Lei et al. 2018).

    Parameters
    ----------
    residuals : ndarray of shape (n,)
        ``actual - predicted`` on rows the model did not see (target units).
    level : float
        Nominal coverage, 0.5 to 0.99.

    Returns
    -------
    (float, float)
        Offsets to add to a prediction for the lower and upper bound.
    """
    r = np.sort(np.asarray(residuals, dtype=float))
    n = len(r)
    alpha = 1.0 - level
    lo = math.floor((n + 1) * alpha / 2.0) - 1
    hi = math.ceil((n + 1) * (1.0 - alpha / 2.0)) - 1
    return float(r[min(max(lo, 0), n - 1)]), float(r[min(max(hi, 0), n - 1)])


def interval_bounds(pred: np.ndarray, interval: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper prediction-interval bounds (target units).

    ``prediction + lower_offset`` and ``prediction + upper_offset``; with a
    ``floor`` (targets that were never negative in training) the lower bound
    is raised to the floor, but never above the prediction itself.
    """
    pred = np.asarray(pred, dtype=float)
    lo = pred + interval["lower_offset"]
    hi = pred + interval["upper_offset"]
    if interval.get("floor") is not None:
        lo = np.maximum(lo, np.minimum(interval["floor"], pred))
    return lo, hi
