"""Re-forecast at each review and size safety stock from the forecast's own errors.

A forecast made once cannot follow demand that grows or shifts; and the normal
approximation of demand over the protection interval, built from one-step
interval widths, understates the spread of what is actually forecast ``R + L``
periods ahead (Prak, Teunter & Syntetos 2017, "On the calculation of safety
stocks when demand is forecasted", European Journal of Operational Research
256(2), 454-461). So:

* :func:`rolling_forecasts` re-forecasts with :func:`aihub.forecasting.fit_forecast`
  (model chosen by its rolling-origin backtest) every ``refit_every`` reviews, on
  the history before the review only; between refits a review reads the later
  rows of the latest forecast;
* :func:`protection_errors` compares, for every past review whose protection
  interval has ended, the demand ``A`` that arrived in it with the forecast ``F``
  for it, as the scaled error ``e = (A - F) / F^b``;
* :func:`empirical_order_up_to` sets the order-up-to level at
  ``F + F^b quantile(e, service_level)`` over the latest errors: the empirical
  safety stock of Trapero, Cardós & Kourentzes (2019), "Empirical safety stock
  estimation based on kernel and GARCH models", Omega 84, 199-211 (their
  rolling-window empirical quantile; no normality assumed).

The scale power ``b`` carries errors measured at one demand level to another
(last year's errors to this year's grown demand). The spread of demand grows
with its level about as a power between 0.5 and 1 (Brown 1967, "Decision Rules
for Inventory Management"; Silver, Pyke & Thomas 2017, section 4.5.3): ``b = 1``
(relative errors) suits steady high volumes, ``b = 0.5`` is the variance-
proportional-to-mean of counts (Poisson-like, Anscombe 1948), ``b = 0`` keeps
units. The default 0.5 was chosen on Superstore's year *before* the benchmark's
held-back year (``benchmarks/inventory_policy.py``): it came within 2 points of
a 95% target with the least stock (relative errors over-stocked slow movers,
unit errors fell short after growth).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aihub.errors import ValidationError

MIN_ERRORS = 20


def rolling_forecasts(series: pd.DataFrame, *, freq: str, first_origin: int, horizon: int, refit_every: int = 4,
                      last_origin: int | None = None, candidates: Sequence[str] | None = None) -> dict[int, pd.DataFrame]:
    """The forecast a review at each origin would have had, using only the history before it.

    Parameters
    ----------
    series : DataFrame with columns ds, y
        Regular series (see :func:`aihub.forecasting.prepare_series`), oldest first.
    freq : {"D", "W", "M"}
    first_origin, last_origin : int
        Origins are row positions: the review at origin ``t`` knows ``y[:t]``.
        ``last_origin`` defaults to ``len(series)`` (a review after the last row).
    horizon : int
        Periods each review needs (the protection interval, rounded up).
    refit_every : int, default 4
        Reviews between refits (1 = refit at every review).
    candidates : sequence of str, optional
        Pool of :func:`~aihub.forecasting.fit_forecast`'s ``auto``.

    Returns
    -------
    dict origin -> DataFrame
        The forecast frame (ds, yhat and interval columns) of the ``horizon``
        periods starting at the origin.

    Raises
    ------
    ValidationError
        Bad origins or refit interval; TrainingError from forecasting when the
        history before ``first_origin`` is too short.
    """
    from aihub.forecasting import fit_forecast

    last = len(series) if last_origin is None else last_origin
    if not 1 <= first_origin <= last <= len(series):
        raise ValidationError(f"origins must satisfy 1 <= first_origin <= last_origin <= {len(series)}; got "
                              f"{first_origin} and {last}", field="first_origin")
    if refit_every < 1 or horizon < 1:
        raise ValidationError(f"refit_every and horizon must be at least 1; got {refit_every} and {horizon}",
                              field="refit_every")
    out: dict[int, pd.DataFrame] = {}
    fc, t0 = None, first_origin
    for t in range(first_origin, last + 1):
        if fc is None or t - t0 >= refit_every:
            t0 = t
            fc = fit_forecast(series.iloc[:t], horizon=horizon + refit_every - 1, freq=freq, candidates=candidates,
                              serialize=False, in_sample=False).forecast
        out[t] = fc.iloc[t - t0: t - t0 + horizon].reset_index(drop=True)
    return out


def protection_errors(y: np.ndarray, forecasts: dict[int, pd.DataFrame], protection: int, *, before: int,
                      window: int = 52, power: float = 0.5) -> np.ndarray:
    """Scaled errors ``(A - F) / F^power`` of the protection interval, for the latest ``window`` reviews that have ended.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Actual demand per period.
    forecasts : dict origin -> DataFrame with yhat
        From :func:`rolling_forecasts`.
    protection : int
        Periods in the protection interval (review period + lead time).
    before : int
        The review asking: only intervals ending before it (``origin + protection <= before``) are used.
    window : int, default 52
        Most recent errors kept (a year of weekly reviews).
    power : float, default 0.5
        Scale power ``b`` (module docstring), 0 to 1.

    Returns
    -------
    ndarray of float
        Oldest first; reviews whose forecast sum is not positive are skipped.
    """
    _check_power(power)
    done = sorted(t for t in forecasts if t + protection <= before)[-window:]
    errors = []
    for t in done:
        f = float(forecasts[t]["yhat"].iloc[:protection].sum())
        if f > 0:
            errors.append((float(np.sum(y[t:t + protection])) - f) / f ** power)
    return np.asarray(errors, float)


def _check_power(power: float) -> None:
    if not 0.0 <= float(power) <= 1.0:
        raise ValidationError(f"the error scale power must be between 0 and 1; got {power!r}", field="error_scale_power")


def empirical_order_up_to(forecast_sum: float, errors: np.ndarray, service_level: float,
                          power: float = 0.5) -> tuple[float, float]:
    """Order-up-to level and safety stock from the empirical quantile of scaled protection-interval errors.

    Parameters
    ----------
    forecast_sum : float
        Forecast demand over the protection interval (units).
    errors : ndarray
        Scaled errors from :func:`protection_errors` with the same ``power``.
    service_level : float
        Target cycle service level, the quantile taken.
    power : float, default 0.5

    Returns
    -------
    (level, safety_stock) : units; ``level = F + F^power quantile(errors, service_level)``
        (at least 0), ``safety_stock = level - F``.

    Raises
    ------
    ValidationError
        Fewer than :data:`MIN_ERRORS` errors (the quantile would be a guess), or a bad power.
    """
    _check_power(power)
    errors = np.asarray(errors, float)
    if len(errors) < MIN_ERRORS:
        raise ValidationError(f"the empirical safety stock needs at least {MIN_ERRORS} past forecast errors; "
                              f"got {len(errors)}", field="errors")
    f = max(float(forecast_sum), 0.0)
    level = max(f + f ** power * float(np.quantile(errors, service_level)), 0.0)
    return level, level - f


def recent_errors(series: pd.DataFrame, *, freq: str, protection: float, window: int = 52, refit_every: int = 4,
                  power: float = 0.5, candidates: Sequence[str] | None = None) -> np.ndarray:
    """The scaled protection-interval errors of the latest ``window`` reviews, re-forecast as they would have been.

    What a product with a demand history but no stored past forecasts needs before its first empirical policy:
    reviews at each of the latest ``window`` origins whose protection interval has ended are re-forecast
    from the history before them (:func:`rolling_forecasts`) and scored (:func:`protection_errors`).

    Parameters
    ----------
    series : DataFrame with columns ds, y
    freq : {"D", "W", "M"}
    protection : float
        Review period + lead time, in periods (rounded up).
    window, refit_every, power, candidates
        As in :func:`protection_errors` and :func:`rolling_forecasts`.

    Returns
    -------
    ndarray of float, oldest first.

    Raises
    ------
    ValidationError
        A history too short for ``window`` reviews plus forecasting.
    """
    import math

    p = max(1, math.ceil(protection))
    n = len(series)
    first = n - p - window + 1
    if first < 2 * p + 8:
        raise ValidationError(f"the history has {n} periods; {window} past reviews of {p} periods need at least "
                              f"{window + 3 * p + 7}", field="history")
    fc = rolling_forecasts(series, freq=freq, first_origin=first, last_origin=n - p, horizon=p,
                           refit_every=refit_every, candidates=candidates)
    return protection_errors(series["y"].to_numpy(dtype=float), fc, p, before=n, window=window, power=power)
