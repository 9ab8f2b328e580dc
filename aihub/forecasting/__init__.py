"""Forecasting core of AI Analytics Hub: pure Python, no database, no Streamlit.

Typical use::

    from aihub.forecasting import prepare_series, fit_forecast, forecast_from_json

    series = prepare_series(orders, "Order Date", "Sales", freq="M", filters={"Region": "West"})
    result = fit_forecast(series, horizon=12, freq="M")          # algorithm="auto"
    result.forecast          # ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95
    result.metrics["mase"]   # backtest accuracy of the chosen model
    stored = result.model_json                      # JSON text, safe to keep in the database
    forecast_from_json(stored)                      # regenerates result.forecast

Many series of one table (one per product, per category x region): :func:`prepare_panel` and
:func:`fit_panel`. File mode for many series: :func:`forecast_many` and ``aihub forecast`` (:mod:`.cli`).
Frequencies and their numbers: :mod:`.frequency`.
"""

from .auto import (
    ALGORITHMS,
    AUTO_CANDIDATES,
    AUTO_CANDIDATES_BY_FREQ,
    ForecastResult,
    check_holidays,
    fit_forecast,
    holiday_countries,
    required_points,
)
from .bulk import forecast_many
from .frequency import (
    DEFAULT_HORIZON,
    DEFAULT_MAX_HISTORY,
    FREQUENCIES,
    FREQUENCY_TABLE,
    HOLIDAY_FREQUENCIES,
    MAX_HORIZON,
    SEASON_LENGTH,
    SEASONS,
    Frequency,
)
from .metrics import mae, mape, mase, rmse, smape
from .models import COMBINATION_MEMBERS, FORECAST_COLUMNS, LEVELS, MODEL_ALGORITHMS, quiet_library_logging
from .panel import MAX_SERIES, MAX_SPLIT_COLUMNS, PANEL_CANDIDATES, Panel, PanelResult, fit_panel, prepare_panel
from .serialize import StoredModel, forecast_from_json, library_versions, load_model_json
from .series import AGGREGATIONS, MIN_PERIODS, infer_freq, prepare_series

__all__ = [
    "AGGREGATIONS",
    "ALGORITHMS",
    "AUTO_CANDIDATES",
    "AUTO_CANDIDATES_BY_FREQ",
    "COMBINATION_MEMBERS",
    "DEFAULT_HORIZON",
    "DEFAULT_MAX_HISTORY",
    "FORECAST_COLUMNS",
    "FREQUENCIES",
    "FREQUENCY_TABLE",
    "HOLIDAY_FREQUENCIES",
    "LEVELS",
    "MAX_HORIZON",
    "MAX_SERIES",
    "MAX_SPLIT_COLUMNS",
    "MIN_PERIODS",
    "MODEL_ALGORITHMS",
    "PANEL_CANDIDATES",
    "SEASONS",
    "SEASON_LENGTH",
    "ForecastResult",
    "Frequency",
    "Panel",
    "PanelResult",
    "StoredModel",
    "check_holidays",
    "fit_forecast",
    "fit_panel",
    "forecast_from_json",
    "forecast_many",
    "holiday_countries",
    "infer_freq",
    "library_versions",
    "load_model_json",
    "mae",
    "mape",
    "mase",
    "prepare_panel",
    "prepare_series",
    "quiet_library_logging",
    "required_points",
    "rmse",
    "smape",
]

# Prophet is imported lazily (it takes about a second); if something imported it
# already, quiet the INFO logging it switched on.
quiet_library_logging()
