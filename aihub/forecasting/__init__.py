"""Forecasting core of AI Analytics Hub: pure Python, no database, no Streamlit.

Typical use::

    from aihub.forecasting import prepare_series, fit_forecast, forecast_from_json

    series = prepare_series(orders, "Order Date", "Sales", freq="M", filters={"Region": "West"})
    result = fit_forecast(series, horizon=12, freq="M")          # algorithm="auto"
    result.forecast          # ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95
    result.metrics["mase"]   # backtest accuracy of the chosen model
    stored = result.model_json                      # JSON text, safe to keep in the database
    forecast_from_json(stored)                      # regenerates result.forecast

File mode for many series: :func:`forecast_many` and ``aihub forecast`` (:mod:`.cli`).
"""

from .auto import (
    ALGORITHMS,
    AUTO_CANDIDATES,
    DEFAULT_MAX_HISTORY,
    MAX_HORIZON,
    ForecastResult,
    fit_forecast,
    required_points,
)
from .bulk import forecast_many
from .metrics import mae, mape, mase, rmse, smape
from .models import COMBINATION_MEMBERS, FORECAST_COLUMNS, LEVELS, MODEL_ALGORITHMS, quiet_library_logging
from .serialize import StoredModel, forecast_from_json, library_versions, load_model_json
from .series import AGGREGATIONS, FREQUENCIES, MIN_PERIODS, SEASON_LENGTH, infer_freq, prepare_series

__all__ = [
    "AGGREGATIONS",
    "ALGORITHMS",
    "AUTO_CANDIDATES",
    "COMBINATION_MEMBERS",
    "DEFAULT_MAX_HISTORY",
    "FORECAST_COLUMNS",
    "FREQUENCIES",
    "LEVELS",
    "MAX_HORIZON",
    "MIN_PERIODS",
    "MODEL_ALGORITHMS",
    "SEASON_LENGTH",
    "ForecastResult",
    "StoredModel",
    "fit_forecast",
    "forecast_from_json",
    "forecast_many",
    "infer_freq",
    "library_versions",
    "load_model_json",
    "mae",
    "mape",
    "mase",
    "prepare_series",
    "quiet_library_logging",
    "required_points",
    "rmse",
    "smape",
]

# Prophet is imported lazily (it takes about a second); if something imported it
# already, quiet the INFO logging it switched on.
quiet_library_logging()
