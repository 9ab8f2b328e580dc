"""Forecast many series at once (file mode), in parallel over CPU cores."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from aihub.errors import AihubError, TrainingError, ValidationError

from .auto import _DEFAULT, fit_forecast, required_points, validate_params
from .frequency import FREQUENCIES, freq_from_spacing, spacing_help
from .models import LEVELS
from .series import check_choice, check_series, parse_dates, parse_numbers

#: Columns of :func:`forecast_many`'s output (and of ``aihub forecast``'s CSV).
OUTPUT_COLUMNS: tuple[str, ...] = ("unique_id", "ds", "yhat", "yhat_lower", "yhat_upper", "model")

ON_ERROR: tuple[str, ...] = ("fail", "naive")


def _infer_panel_freq(frame: pd.DataFrame) -> str:
    steps = frame.groupby("unique_id", sort=False)["ds"].diff().dropna().dt.total_seconds() / 86400.0
    if steps.empty:
        raise ValidationError(
            "Every series has a single date, so the frequency cannot be told; pass --freq.", field="freq"
        )
    step = float(steps.median())
    code = freq_from_spacing(step)
    if code is None:
        raise ValidationError(
            f"Dates are {step:g} days apart (median); {spacing_help()}. Pass --freq with one of them.",
            field="freq",
        )
    return code


def _one(
    uid: str, frame: pd.DataFrame, kwargs: dict[str, Any], level: int, on_error: str, all_levels: bool = False
) -> tuple[pd.DataFrame | None, str | None]:
    from .models import quiet_library_logging

    quiet_library_logging()
    try:
        res = fit_forecast(frame, **kwargs)
        model = res.algorithm
        fc = res.forecast
    except AihubError as exc:
        if on_error != "naive":
            return None, f"series {uid!r}: {exc}"
        try:
            res = fit_forecast(frame, **{**kwargs, "algorithm": "naive"})
        except AihubError as exc2:
            return None, f"series {uid!r}: {exc2}"
        model, fc = "naive (fallback)", res.forecast
    out = pd.DataFrame(
        {
            "unique_id": uid,
            "ds": fc["ds"].to_numpy(),
            "yhat": fc["yhat"].to_numpy(),
            "yhat_lower": fc[f"yhat_lower_{level}"].to_numpy(),
            "yhat_upper": fc[f"yhat_upper_{level}"].to_numpy(),
            "model": model,
        }
    )
    if all_levels:
        for col in fc.columns:
            if col.startswith("yhat_"):
                out[col] = fc[col].to_numpy()
    return out, None


def forecast_many(
    df: pd.DataFrame,
    *,
    horizon: int,
    freq: str | None = None,
    algorithm: str = "auto",
    id_col: str = "unique_id",
    date_col: str = "ds",
    value_col: str = "y",
    level: int = 95,
    candidates: Sequence[str] | None = None,
    max_history: int | None = _DEFAULT,  # type: ignore[assignment]
    n_windows: int = 3,
    on_error: str = "fail",
    n_jobs: int = -1,
    all_levels: bool = False,
) -> pd.DataFrame:
    """Forecast every series of a long table, in parallel.

    Parameters
    ----------
    df : DataFrame
        Long form, one row per series and period: ``id_col``, ``date_col``, ``value_col``.
        Each series must be regular (no missing periods, one row per period).
    horizon : int
        Periods to forecast for every series.
    freq : str, optional
        A key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE` (``"H"``, ``"D"``, ``"W"``, ...);
        inferred from the median spacing of the dates when omitted.
    algorithm : str, default "auto"
        As in :func:`~aihub.forecasting.fit_forecast`, applied to each series separately.
    id_col, date_col, value_col : str
        Input column names.
    level : {80, 95}, default 95
        Prediction-interval level of ``yhat_lower``/``yhat_upper``.
    candidates, max_history, n_windows
        Passed to :func:`~aihub.forecasting.fit_forecast`.
    on_error : {"fail", "naive"}
        ``"fail"`` raises if any series cannot be forecast (checked before the long
        run where possible); ``"naive"`` falls back to the naive forecast for that
        series and labels it ``"naive (fallback)"`` in ``model``. A series shorter than
        twice the horizon fails either way (no model, naive included, is allowed on it).
    n_jobs : int, default -1
        Worker processes (joblib semantics; -1 = all cores).
    all_levels : bool, default False
        Also return ``yhat_lower_80``, ``yhat_upper_80``, ``yhat_lower_95`` and ``yhat_upper_95``.

    Returns
    -------
    DataFrame with columns unique_id, ds, yhat, yhat_lower, yhat_upper, model (and the
    bounds of every level with ``all_levels``); ``horizon`` rows per series, series in input order.

    Raises
    ------
    ValidationError
        Bad parameter, missing column, unparseable value or irregular series.
    TrainingError
        A series could not be forecast and ``on_error="fail"``.
    """
    check_choice(on_error, ON_ERROR, "on_error")
    if level not in LEVELS:
        raise ValidationError(f"level must be one of {', '.join(map(str, LEVELS))}; got {level!r}.", field="level")
    for col in (id_col, date_col, value_col):
        if col not in df.columns:
            raise ValidationError(
                f"Column {col!r} is not in the input. Available columns: {', '.join(map(str, df.columns))}.",
                field=col,
            )
    frame = pd.DataFrame(
        {
            "unique_id": df[id_col].astype(str).to_numpy(),
            "ds": parse_dates(df[date_col], date_col).to_numpy(),
            "y": parse_numbers(df[value_col], value_col).to_numpy(),
        }
    )
    if frame.empty:
        raise ValidationError("The input has no rows.", field=id_col)
    frame = frame.sort_values(["unique_id", "ds"], kind="stable")
    if freq is None:
        freq = _infer_panel_freq(frame)
    horizon = validate_params(
        horizon=horizon,
        freq=freq,
        algorithm=algorithm,
        candidates=candidates,
        n_windows=n_windows,
        max_history=max_history,
    )[0]
    kwargs: dict[str, Any] = {
        "horizon": horizon,
        "freq": freq,
        "algorithm": algorithm,
        "candidates": candidates,
        "n_windows": n_windows,
        "serialize": False,
        "in_sample": False,
    }
    if max_history is not _DEFAULT:
        kwargs["max_history"] = max_history
    order = list(dict.fromkeys(df[id_col].astype(str)))
    groups = {uid: g[["ds", "y"]].reset_index(drop=True) for uid, g in frame.groupby("unique_id", sort=False)}

    # Cheap checks first, so a bad series fails in seconds rather than after the long run.
    problems = []
    for uid in order:
        try:
            s = check_series(groups[uid], freq, name=f"Series {uid!r}")
            need = required_points(horizon, freq)
            if len(s) < need:
                raise TrainingError(
                    f"Series {uid!r} has only {len(s)} {FREQUENCIES[freq]} points; at least {need} are needed "
                    f"for horizon {horizon}."
                )
        except AihubError as exc:
            problems.append((uid, exc))
    if problems and on_error == "fail":
        first = problems[0][1]
        more = f" ({len(problems) - 1} more series have problems)" if len(problems) > 1 else ""
        raise type(first)(first.message + more, field=first.field, details={**first.details, "series": problems[0][0]})

    tasks = [(uid, groups[uid]) for uid in order]
    workers = n_jobs if n_jobs != -1 else (os.cpu_count() or 1)
    if workers == 1 or len(tasks) == 1:
        results = [_one(uid, g, kwargs, level, on_error, all_levels) for uid, g in tasks]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=workers, batch_size=1)(
            delayed(_one)(uid, g, kwargs, level, on_error, all_levels) for uid, g in tasks
        )
    failures = [err for _, err in results if err]
    if failures:
        more = f" ({len(failures) - 1} more series failed)" if len(failures) > 1 else ""
        raise TrainingError(failures[0] + more, details={"failures": failures[:50]})
    out = pd.concat([r for r, _ in results], ignore_index=True)
    extra = [c for c in out.columns if c not in OUTPUT_COLUMNS]
    return out[list(OUTPUT_COLUMNS) + extra]
