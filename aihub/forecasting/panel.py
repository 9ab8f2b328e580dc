"""Many series from one table: one forecast per value of a column (per product, per category x region, ...).

:func:`prepare_panel` turns raw rows into one regular series per combination of the ``split_by`` columns,
keeps the largest ``top_n`` by volume, and :func:`fit_panel` forecasts each of them with
:func:`~aihub.forecasting.fit_forecast` (its own backtest and chosen method per series), in parallel, with
progress. A series that cannot be forecast (too short, constant failure) is reported with its reason and
does not stop the others.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import AihubError, ValidationError

from .auto import _DEFAULT, check_holidays, fit_forecast, required_points, validate_params
from .frequency import FREQUENCIES, FREQUENCY_TABLE
from .series import (
    AGGREGATIONS,
    _apply_filters,
    _require_columns,
    check_choice,
    parse_dates,
    parse_numbers,
    period_start,
)

#: Most columns a forecast may be split by.
MAX_SPLIT_COLUMNS = 3

#: Most series one forecast model holds.
MAX_SERIES = 5000

#: Separator of column values in a series key ("Chairs · West").
KEY_SEPARATOR = " · "

#: Candidates of ``auto`` when a model holds many series: the statistical models that fit in well under a
#: second per series (ETS, Theta, and MSTL where the frequency has several seasons), plus the benchmarks.
#: Prophet and ARIMA take seconds per series and stay available by name.
PANEL_CANDIDATES: dict[str, tuple[str, ...]] = {
    code: ("naive", "seasonal_naive", "ets", "theta") + (("mstl",) if len(f.seasons) > 1 else ())
    for code, f in FREQUENCY_TABLE.items()
}


@dataclass(frozen=True)
class Panel:
    """Regular series of a table split by columns.

    Attributes
    ----------
    frame : DataFrame
        Long form ``series_key, ds, y``; every series regular and without gaps, largest volume first.
    dims : dict
        ``series_key`` -> ``{column: value}``.
    volume : dict
        ``series_key`` -> sum of ``y`` over the history.
    dropped : int
        Series left out by ``top_n``.
    """

    frame: pd.DataFrame
    dims: dict[str, dict[str, str]]
    volume: dict[str, float]
    dropped: int

    @property
    def keys(self) -> list[str]:
        """Series keys, largest volume first."""
        return list(self.volume)


def prepare_panel(
    df: pd.DataFrame,
    date_col: str,
    value_col: str,
    *,
    freq: str,
    split_by: Sequence[str],
    agg: str = "sum",
    filters: Mapping[str, Any] | None = None,
    top_n: int | None = None,
    dayfirst: bool | None = None,
) -> Panel:
    """One regular series per combination of the ``split_by`` columns.

    Parameters
    ----------
    df : DataFrame
        Raw rows, e.g. one order line per row.
    date_col, value_col : str
        Date column and numeric column to aggregate (see :func:`~aihub.forecasting.prepare_series`).
    freq : str
        A key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`.
    split_by : sequence of str
        One to :data:`MAX_SPLIT_COLUMNS` columns; each combination of their values is a series.
    agg : {"sum", "mean"}
        ``"sum"``: a period without rows is 0, and every series runs to the table's last period
        (no sales lately is a fact to forecast). ``"mean"``: gaps are interpolated.
    filters : dict, optional
        ``{column: value or list of values}`` applied first.
    top_n : int, optional
        Keep the ``top_n`` series of largest volume (sum of the value); None keeps all, up to
        :data:`MAX_SERIES`.
    dayfirst : bool, optional
        Reading of ambiguous dates.

    Returns
    -------
    Panel

    Raises
    ------
    ValidationError
        A missing column, an unparseable date or value, no split column, more than
        :data:`MAX_SERIES` series without ``top_n``, or no rows after filtering.
    """
    check_choice(freq, FREQUENCIES, "freq")
    check_choice(agg, AGGREGATIONS, "agg")
    split = list(dict.fromkeys(split_by or []))
    if not split or len(split) > MAX_SPLIT_COLUMNS:
        raise ValidationError(
            f"Split the forecast by 1 to {MAX_SPLIT_COLUMNS} columns (e.g. Product or Category and Region); "
            f"got {len(split)}.",
            field="split_by",
        )
    _require_columns(df, [date_col, value_col, *split])
    if date_col in split or value_col in split:
        raise ValidationError("A split column cannot be the date or the value column.", field="split_by")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or top_n < 1):
        raise ValidationError(f"top_n must be a whole number of series, at least 1; got {top_n!r}.", field="top_n")
    rows = _apply_filters(df, filters)
    rows = rows[rows[date_col].notna() & (rows[date_col].astype(str).str.strip() != "")]
    if rows.empty:
        raise ValidationError(f"Column {date_col!r} has no dates in the selected rows.", field=date_col)
    ds = parse_dates(rows[date_col], date_col, dayfirst=dayfirst)
    y = parse_numbers(rows[value_col], value_col)
    values = rows[split].astype("string").fillna("(blank)").astype(str)
    keys = values[split[0]].str.cat([values[c] for c in split[1:]], sep=KEY_SEPARATOR) if len(split) > 1 \
        else values[split[0]]
    frame = pd.DataFrame({"series_key": keys.to_numpy(), "ds": period_start(ds, freq).to_numpy(), "y": y.to_numpy()})
    frame = frame.dropna(subset=["y"])
    if frame.empty:
        raise ValidationError(f"Column {value_col!r} has no numbers in the selected rows.", field=value_col)
    grouped = frame.groupby(["series_key", "ds"], sort=False)["y"].agg(agg)
    volume = grouped.groupby(level=0).sum().sort_values(ascending=False, kind="stable")
    n_all = len(volume)
    if top_n is None and n_all > MAX_SERIES:
        raise ValidationError(
            f"Splitting by {', '.join(split)} makes {n_all:,} series; at most {MAX_SERIES:,} fit in one model. "
            "Keep the top N by volume or split by fewer columns.",
            field="top_n",
            details={"series": n_all, "max_series": MAX_SERIES},
        )
    volume = volume.iloc[: top_n or MAX_SERIES]
    frame = _regular(grouped, list(volume.index), FREQUENCY_TABLE[freq].grid, agg)
    dims_frame = values.assign(series_key=keys.to_numpy()).drop_duplicates("series_key").set_index("series_key")
    dims = {k: {c: str(dims_frame.at[k, c]) for c in split} for k in volume.index}
    return Panel(
        frame=frame,
        dims=dims,
        volume={str(k): float(v) for k, v in volume.items()},
        dropped=n_all - len(volume),
    )


def _regular(grouped: pd.Series, keys: list[str], grid_alias: str, agg: str) -> pd.DataFrame:
    """Long ``series_key, ds, y`` with every period of each series from its first period to the table's last
    (``sum``: no rows is 0) or to its own last (``mean``: gaps interpolated), in the order of ``keys``."""
    ds = grouped.index.get_level_values(1)
    grid = pd.date_range(ds.min(), ds.max(), freq=grid_alias)
    position = pd.Series(np.arange(len(grid)), index=grid).reindex(ds).to_numpy()
    by_key = pd.Series(position, index=grouped.index.get_level_values(0)).groupby(level=0)
    first = by_key.min().reindex(keys).to_numpy(int)
    last = np.full(len(keys), len(grid) - 1) if agg == "sum" else by_key.max().reindex(keys).to_numpy(int)
    lengths = last - first + 1
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions = np.arange(lengths.sum()) - starts + np.repeat(first, lengths)
    index = pd.MultiIndex.from_arrays([np.repeat(np.asarray(keys, dtype=object), lengths), grid[positions]])
    y = grouped.reindex(index)
    y = y.fillna(0.0) if agg == "sum" else y.groupby(level=0, sort=False).transform(lambda s: s.interpolate())
    return pd.DataFrame({"series_key": index.get_level_values(0), "ds": grid[positions].astype("datetime64[ns]"),
                         "y": y.to_numpy(float)})


@dataclass(frozen=True)
class PanelResult:
    """Outcome of :func:`fit_panel`.

    Attributes
    ----------
    forecast : DataFrame
        ``series_key`` plus the forecast columns (ds, yhat, yhat_lower_80, ..., yhat_upper_95) of every
        series that could be forecast.
    series : list of dict
        One summary per series (keys of ``aihub.db.store.FORECAST_SERIES_COLUMNS``): ``series_key``,
        ``dims``, ``algorithm``, ``n_obs``, ``volume``, ``growth`` (forecast total against the same number
        of latest actual periods, as a fraction; None when those sum to 0), ``mase``, ``mase_naive``,
        ``mase_seasonal_naive``, ``backtest`` (records per candidate), ``error`` (None when forecast).
    seconds : float
        Wall-clock time of the fits.
    """

    forecast: pd.DataFrame
    series: list[dict[str, Any]]
    seconds: float

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Summaries of the series that could not be forecast."""
        return [s for s in self.series if s["error"]]


def _growth(history: np.ndarray, yhat: np.ndarray) -> float | None:
    recent = float(np.sum(history[-len(yhat) :]))
    return None if recent == 0 else float(np.sum(yhat) / recent - 1.0)


def _fit_one(key: str, series: pd.DataFrame, kwargs: dict[str, Any]) -> tuple[str, Any]:
    from .models import quiet_library_logging

    quiet_library_logging()
    try:
        return key, fit_forecast(series, **kwargs)
    except AihubError as exc:
        return key, exc.message


def _summary(key: str, panel: Panel, history: np.ndarray, outcome: Any) -> dict[str, Any]:
    base = {"series_key": key, "dims": panel.dims.get(key, {}), "n_obs": len(history), "volume": panel.volume[key]}
    if isinstance(outcome, str):
        return {**base, "algorithm": None, "growth": None, "mase": None, "mase_naive": None,
                "mase_seasonal_naive": None, "backtest": [], "error": outcome}
    m = outcome.metrics
    return {**base, "algorithm": outcome.algorithm, "growth": _growth(history, outcome.forecast["yhat"].to_numpy()),
            "mase": m.get("mase"), "mase_naive": m.get("mase_naive"),
            "mase_seasonal_naive": m.get("mase_seasonal_naive"), "backtest": m.get("candidates", []), "error": None}


def fit_panel(
    panel: Panel,
    *,
    horizon: int,
    freq: str,
    algorithm: str = "auto",
    candidates: Sequence[str] | None = None,
    n_jobs: int = -1,
    progress: Callable[[int, int], None] | None = None,
    fit_kwargs: Mapping[str, Any] | None = None,
) -> PanelResult:
    """Forecast every series of ``panel`` with its own backtest and chosen method.

    Parameters
    ----------
    panel : Panel
        From :func:`prepare_panel`.
    horizon : int
        Periods to forecast for every series.
    freq : str
        Frequency of the panel.
    algorithm : str, default "auto"
        As in :func:`~aihub.forecasting.fit_forecast`.
    candidates : sequence of str, optional
        Pool of ``auto``; default :data:`PANEL_CANDIDATES` of ``freq``.
    n_jobs : int, default -1
        Worker processes (-1: all cores).
    progress : callable, optional
        Called as ``progress(done, total)`` after each series.
    fit_kwargs : mapping, optional
        More arguments of :func:`~aihub.forecasting.fit_forecast` (``holidays``, ``n_windows``...).

    Returns
    -------
    PanelResult

    Raises
    ------
    ValidationError
        A bad parameter (checked once, before any fit).
    """
    cands = candidates if candidates is not None or algorithm != "auto" else PANEL_CANDIDATES[freq]
    extra = dict(fit_kwargs or {})
    validate_params(horizon=horizon, freq=freq, algorithm=algorithm, candidates=cands,
                    n_windows=extra.get("n_windows", 3), max_history=extra.get("max_history", _DEFAULT))
    check_holidays(extra.get("holidays"), freq)
    kwargs: dict[str, Any] = {
        "horizon": horizon, "freq": freq, "algorithm": algorithm,
        "candidates": cands, "serialize": False, "in_sample": False, **extra,
    }
    groups = {k: g[["ds", "y"]].reset_index(drop=True) for k, g in panel.frame.groupby("series_key", sort=False)}
    keys = [k for k in panel.keys if k in groups]
    need = required_points(horizon, freq)
    t0 = time.perf_counter()
    short = {k: (f"Only {len(groups[k])} {FREQUENCIES[freq]} periods; at least {need} are needed for a "
                 f"{horizon}-period horizon.") for k in keys if len(groups[k]) < need}
    todo = [k for k in keys if k not in short]
    outcomes: dict[str, Any] = dict(short)
    done = len(short)
    workers = n_jobs if n_jobs != -1 else (os.cpu_count() or 1)
    if workers == 1 or len(todo) <= 1:
        stream: Iterable[tuple[str, Any]] = (_fit_one(k, groups[k], kwargs) for k in todo)
    else:
        from joblib import Parallel, delayed

        stream = Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=4)(
            delayed(_fit_one)(k, groups[k], kwargs) for k in todo
        )
    for key, outcome in stream:
        outcomes[key] = outcome
        done += 1
        if progress is not None:
            progress(done, len(keys))
    series = [_summary(k, panel, groups[k]["y"].to_numpy(float), outcomes[k]) for k in keys]
    frames = [outcomes[k].forecast.assign(series_key=k) for k in keys if not isinstance(outcomes[k], str)]
    forecast = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["series_key", "ds"])
    return PanelResult(forecast=forecast, series=series, seconds=time.perf_counter() - t0)
