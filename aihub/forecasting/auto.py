"""``fit_forecast``: validate, backtest, select, fit, forecast and serialise.

Model selection (``algorithm="auto"``) follows the rolling-origin evaluation of
FPP3 5.10 ("time series cross-validation") and Tashman (2000, IJF 16(4)):
each candidate forecasts ``horizon`` periods from ``n_windows`` origins spaced
``horizon`` apart at the end of the history, and the candidate with the lowest
mean MASE over the origins is refitted on the whole history. The candidate pool
holds the benchmarks (naive, seasonal naive), ETS, Theta, ARIMA, Prophet and the
median combination of ETS, Theta, ARIMA and CES; combinations are among the
most accurate methods on M4 (Makridakis et al. 2020).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import TrainingError, ValidationError

from .conformal import conformal_scales
from .frequency import (
    DEFAULT_MAX_HISTORY,
    FREQUENCIES,
    FREQUENCY_TABLE,
    HOLIDAY_FREQUENCIES,
    MASE_PERIOD,
    MAX_HORIZON,
    PERIOD_NAMES,
)
from .metrics import all_metrics
from .models import (
    LEVELS,
    MODEL_ALGORITHMS,
    FittedModel,
    backtest_means,
    fit_model,
    forecast_frame,
)
from .serialize import library_versions, model_to_json
from .series import MIN_PERIODS, check_choice, check_series

#: Every value ``fit_forecast(algorithm=...)`` accepts.
ALGORITHMS: tuple[str, ...] = ("auto", *MODEL_ALGORITHMS)

#: Default candidates of ``auto`` on daily, weekly and slower data. ``ces`` is left out on its own
#: (it is a member of ``combination``) to keep the selection among few, distinct models.
AUTO_CANDIDATES: tuple[str, ...] = ("naive", "seasonal_naive", "ets", "theta", "arima", "combination", "prophet")

#: Candidates of ``auto`` per frequency. Intraday series are long and have two seasons (a day and a
#: week): MSTL models both and Theta the daily one. Seasonal ETS and ARIMA at a season of 24 or more,
#: and Prophet, take several seconds per fit on such series (15 s for ETS on 556 hours here) and are
#: left to be chosen by name.
AUTO_CANDIDATES_BY_FREQ: dict[str, tuple[str, ...]] = {
    code: (
        ("naive", "seasonal_naive", "theta", "mstl")
        if FREQUENCY_TABLE[code].intraday
        else AUTO_CANDIDATES + (("mstl",) if len(FREQUENCY_TABLE[code].seasons) > 1 else ())
    )
    for code in FREQUENCY_TABLE
}

#: Benchmarks every backtest scores beside the candidates (FPP3 5.2), shown in its table.
BENCHMARKS: tuple[str, ...] = ("naive", "seasonal_naive")

_DEFAULT = object()


@dataclass
class ForecastResult:
    """Outcome of :func:`fit_forecast`.

    Attributes
    ----------
    algorithm : str
        Algorithm that produced ``forecast`` (the winner when ``auto`` was asked).
    params : dict
        Readable fitted-model description (e.g. ARIMA orders, ETS type).
    metrics : dict
        JSON-ready backtest accuracy of ``algorithm``: ``mae``, ``rmse`` (units of
        ``y``), ``mape``, ``smape`` (percent), ``mase``; ``mase_naive`` (the naive
        benchmark on the same origins), ``mase_m``, ``n_windows``, ``horizon``;
        ``candidates``: the per-candidate table as a list of records. NaN is None.
    forecast : DataFrame
        Columns ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95;
        one row per future period.
    backtest : DataFrame
        One row per candidate: algorithm, mae, rmse, mape, smape, mase, seconds,
        status ("ok"/"failed"), error, selected.
    fitted : DataFrame or None
        In-sample one-step fit: columns ds, y, yhat (None if the model gives none).
    model_json : str or None
        The fitted model as JSON (:mod:`aihub.forecasting.serialize`).
    library_versions : dict
        Library name -> version used for training.
    freq, horizon, n_obs
        As trained; ``n_obs`` counts the periods the final model was fitted on.
    notes : list of str
        Analyst-readable remarks (history truncated, candidates that failed...).
    """

    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    forecast: pd.DataFrame
    backtest: pd.DataFrame
    fitted: pd.DataFrame | None
    model_json: str | None
    library_versions: dict[str, str]
    freq: str
    horizon: int
    n_obs: int
    notes: list[str] = field(default_factory=list)


def _check_int(value: Any, name: str, low: int, high: int | None = None, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(f"{name} must be an integer; got {value!r}.", field=name, details={"value": repr(value)})
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationError(f"{name} must be {rng}{why}; got {value}.", field=name, details={"value": value})
    return value


def validate_params(
    *,
    horizon: Any,
    freq: Any,
    algorithm: Any,
    candidates: Sequence[str] | None,
    n_windows: Any,
    max_history: Any,
) -> tuple[int, str, str, tuple[str, ...], int, int | None]:
    """Check every user-facing parameter of :func:`fit_forecast` in one place.

    Returns the normalised ``(horizon, freq, algorithm, candidates, n_windows, max_history)``.

    Raises
    ------
    ValidationError
        ``field`` names the parameter; the message shows the bad value and what is allowed.
    """
    freq = check_choice(freq, FREQUENCIES, "freq")
    algorithm = check_choice(algorithm, ALGORITHMS, "algorithm")
    horizon = _check_int(horizon, "horizon", 1, MAX_HORIZON[freq], f" for {FREQUENCIES[freq]} data")
    n_windows = _check_int(n_windows, "n_windows", 1, 20)
    if candidates is None:
        cands = AUTO_CANDIDATES_BY_FREQ[freq]
    else:
        if isinstance(candidates, str) or not len(candidates):
            raise ValidationError(
                f"candidates must be a non-empty list drawn from {', '.join(MODEL_ALGORITHMS)}; got {candidates!r}.",
                field="candidates",
            )
        cands = tuple(dict.fromkeys(check_choice(c, MODEL_ALGORITHMS, "candidates") for c in candidates))
    if max_history is _DEFAULT:
        max_history = DEFAULT_MAX_HISTORY[freq]
    elif max_history is not None:
        max_history = _check_int(max_history, "max_history", MIN_PERIODS)
    return horizon, freq, algorithm, cands, n_windows, max_history


def holiday_countries() -> dict[str, str]:
    """Countries whose public holidays can be modelled: ISO 3166 alpha-2 code -> English name, by name.

    Source: the registry of the ``holidays`` package (the one Prophet uses).
    """
    from holidays import registry

    names = {}
    for module, (cls_name, code, *_aliases) in registry.COUNTRIES.items():
        names[code] = module.replace("_", " ").title() if cls_name else code
    return dict(sorted(names.items(), key=lambda kv: kv[1]))


def check_holidays(holidays: Any, freq: str) -> str | None:
    """Validate a holiday country for ``freq`` data; returns its code or None.

    Raises
    ------
    ValidationError
        ``field="holidays"``: an unknown country code, or a frequency slower than daily.
    """
    if holidays in (None, ""):
        return None
    if freq not in HOLIDAY_FREQUENCIES:
        raise ValidationError(
            f"Holidays are days, so they can be modelled on daily or faster data, not {FREQUENCIES[freq]}; "
            "choose a daily or hourly aggregation or no holidays.",
            field="holidays",
        )
    countries = holiday_countries()
    if not isinstance(holidays, str) or holidays.upper() not in countries:
        raise ValidationError(
            f"Unknown holiday country {holidays!r}; use a two-letter country code such as US, GB, DE or FR.",
            field="holidays",
            details={"value": repr(holidays)},
        )
    return holidays.upper()


def required_points(horizon: int, freq: str | None = None) -> int:
    """History needed for a ``horizon``-step forecast: twice the horizon, and at least the frequency's
    ``min_periods`` (:data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`; :data:`MIN_PERIODS` without ``freq``)."""
    floor = FREQUENCY_TABLE[freq].min_periods if freq in FREQUENCY_TABLE else MIN_PERIODS
    return max(floor, 2 * horizon)


def backtest_cutoffs(n: int, horizon: int, n_windows: int) -> list[int]:
    """Origins (training lengths) of the rolling backtest, oldest first.

    Up to ``n_windows`` origins ``horizon`` apart so that the last window ends at
    the last observation; fewer when the history is short, always leaving at least
    ``max(horizon, min(MIN_PERIODS, n - horizon))`` points before the first origin.
    """
    min_train = max(horizon, min(MIN_PERIODS, n - horizon))
    k = max(1, min(n_windows, (n - min_train) // horizon))
    return [n - (k - i) * horizon for i in range(k)]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating,)):
        return _clean(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _score(y: np.ndarray, cutoffs: list[int], horizon: int, preds: list[np.ndarray], m: int) -> dict[str, float]:
    per = [all_metrics(y[c : c + horizon], p, y[:c], m) for c, p in zip(cutoffs, preds)]
    return {
        k: float(np.nanmean([d[k] for d in per])) if not all(np.isnan(d[k]) for d in per) else float("nan")
        for k in per[0]
    }


def run_backtest(
    ds: pd.Series,
    y: np.ndarray,
    *,
    freq: str,
    horizon: int,
    cutoffs: list[int],
    candidates: Sequence[str],
    forecasts: dict[str, list[np.ndarray]] | None = None,
    holidays: str | None = None,
) -> pd.DataFrame:
    """Score each candidate on the rolling origins.

    Parameters
    ----------
    forecasts : dict, optional
        Filled with ``{algorithm: [point forecasts per origin]}`` of the candidates that succeeded.
    holidays : str, optional
        Country whose holidays Prophet models (see :func:`~aihub.forecasting.models.fit_model`).

    Returns
    -------
    DataFrame with one row per candidate: algorithm, mae, rmse, mape, smape, mase,
    seconds, status, error. A candidate that fails has status "failed", NaN scores
    and the reason in ``error``.
    """
    m = MASE_PERIOD[freq]
    rows = []
    cache: dict[str, Any] = {}
    for name in candidates:
        t0 = time.perf_counter()
        row: dict[str, Any] = {"algorithm": name}
        try:
            if name not in cache:
                try:
                    cache[name] = backtest_means(name, ds, y, freq, cutoffs, horizon, cache, holidays=holidays)
                except TrainingError as exc:
                    cache[name] = exc
            if isinstance(cache[name], TrainingError):
                raise cache[name]
            preds = cache[name]
            if not all(np.isfinite(p).all() for p in preds):
                raise TrainingError(f"{name} produced non-finite forecasts in the backtest")
            row.update(_score(y, cutoffs, horizon, preds, m), status="ok", error=None)
            if forecasts is not None:
                forecasts[name] = preds
        except TrainingError as exc:
            row.update(
                {k: float("nan") for k in ("mae", "rmse", "mape", "smape", "mase")}, status="failed", error=exc.message
            )
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    cols = ["algorithm", "mae", "rmse", "mape", "smape", "mase", "seconds", "status", "error"]
    return pd.DataFrame(rows, columns=cols)


def _history_note(n_total: int, n_used: int, freq: str) -> list[str]:
    if n_used < n_total:
        unit = FREQUENCIES[freq]
        return [f"Only the most recent {n_used} of {n_total} {unit} periods were used for fitting (max_history)."]
    return []


def fit_forecast(  # noqa: C901 - over the complexity ceiling before it existed; split pending (forecasting)
    series: pd.DataFrame,
    *,
    horizon: int,
    freq: str,
    algorithm: str = "auto",
    candidates: Sequence[str] | None = None,
    n_windows: int = 3,
    max_history: int | None = _DEFAULT,  # type: ignore[assignment]
    nonnegative: bool | None = None,
    random_state: int = 0,
    serialize: bool = True,
    in_sample: bool = True,
    calibrate: bool = True,
    holidays: str | None = None,
) -> ForecastResult:
    """Backtest, fit and forecast one series.

    Parameters
    ----------
    series : DataFrame with columns ds, y
        A regular series without gaps (see :func:`~aihub.forecasting.prepare_series`).
    horizon : int
        Periods to forecast, 1 to ``MAX_HORIZON[freq]`` (e.g. 336 hours, 730 days, 104
        weeks, 24 months) and at most half the history.
    freq : {"15min", "30min", "H", "D", "W", "M", "Q", "Y"}
        Frequency of ``series``, a key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`.
    algorithm : {"auto", "naive", "seasonal_naive", "ets", "theta", "arima", "ces", "combination", "mstl", "prophet"}
        ``"auto"`` picks the candidate with the lowest rolling-origin MASE.
    candidates : sequence of str, optional
        Pool for ``auto``; default :data:`AUTO_CANDIDATES_BY_FREQ` of ``freq``.
    n_windows : int, default 3
        Rolling origins of the backtest, ``horizon`` periods apart (fewer on short series).
    max_history : int or None, optional
        Fit on at most this many latest periods; default :data:`DEFAULT_MAX_HISTORY`
        for ``freq``; None uses all.
    nonnegative : bool, optional
        Clip forecasts and bounds at 0. Default: True when no ``y`` is negative.
    random_state : int, default 0
        Seed of Prophet's interval sampling (all other models are deterministic).
    serialize : bool, default True
        Build ``model_json`` (bulk file mode turns it off).
    in_sample : bool, default True
        Compute ``fitted`` (bulk file mode turns it off).
    calibrate : bool, default True
        Rescale the 80 % and 95 % intervals with the chosen model's backtest errors
        (split conformal, :mod:`aihub.forecasting.conformal`); False keeps the model's own.
    holidays : str, optional
        ISO 3166 country code (``"US"``, ``"DE"``) of public holidays to model, for the
        frequencies that allow it (:data:`~aihub.forecasting.frequency.HOLIDAY_FREQUENCIES`).
        Prophet takes them as regressors, as ``Prophet.add_country_holidays`` does, and ``auto``
        then always backtests Prophet; the backtest decides whether that beats the others.

    Returns
    -------
    ForecastResult

    Raises
    ------
    ValidationError
        A parameter or the series is invalid (``field`` names it).
    TrainingError
        The history is too short for the horizon, or no candidate could be trained.

    Notes
    -----
    MASE is scaled by the in-sample seasonal naive error with the M4 seasonal periods
    (:data:`~aihub.forecasting.frequency.MASE_PERIOD`: 24 hourly, 1 daily and weekly,
    12 monthly; Hyndman & Koehler 2006).
    """
    horizon, freq, algorithm, cands, n_windows, max_history = validate_params(
        horizon=horizon,
        freq=freq,
        algorithm=algorithm,
        candidates=candidates,
        n_windows=n_windows,
        max_history=max_history,
    )
    holidays = check_holidays(holidays, freq)
    if holidays and algorithm == "auto" and "prophet" not in cands:
        cands = (*cands, "prophet")
    data = check_series(series, freq)
    n_total = len(data)
    need = required_points(horizon, freq)
    if n_total < need:
        unit = PERIOD_NAMES[freq]
        raise TrainingError(
            f"The series has only {n_total} {FREQUENCIES[freq]} points; at least {need} are needed for a "
            f"{horizon}-{unit} horizon (twice the horizon, and never fewer than {FREQUENCY_TABLE[freq].min_periods}). "
            f"Shorten the horizon to at most {max(0, n_total // 2)} {unit}s or provide more history.",
            field="horizon",
            details={"points": n_total, "needed": need, "horizon": horizon, "freq": freq},
        )
    if max_history is not None and n_total > max_history:
        data = data.iloc[-max(max_history, need) :].reset_index(drop=True)
    notes = _history_note(n_total, len(data), freq)
    ds, y = data["ds"], data["y"].to_numpy(float)
    if nonnegative is None:
        nonnegative = bool((y >= 0).all())

    cutoffs = backtest_cutoffs(len(y), horizon, n_windows)
    pool = cands if algorithm == "auto" else (algorithm,)
    with_benchmarks = tuple(dict.fromkeys((*pool, *BENCHMARKS)))
    preds: dict[str, list[np.ndarray]] = {}
    table = run_backtest(ds, y, freq=freq, horizon=horizon, cutoffs=cutoffs, candidates=with_benchmarks,
                         forecasts=preds, holidays=holidays)
    table["candidate"] = table["algorithm"].isin(pool)
    ok = table[(table["status"] == "ok") & table["candidate"]]
    for _, r in table[(table["status"] == "failed") & table["candidate"]].iterrows():
        notes.append(f"{r['algorithm']} was skipped in the backtest: {r['error']}")

    if algorithm == "auto":
        if ok.empty:
            raise TrainingError(
                "No candidate algorithm could be trained on this series: "
                + "; ".join(f"{r.algorithm}: {r.error}" for r in table.itertuples()),
                field="algorithm",
            )
        # Lowest mean MASE; ties go to the earlier (simpler) candidate in the pool.
        order = ok.assign(rank=ok["algorithm"].map({a: i for i, a in enumerate(pool)})).sort_values(["mase", "rank"])
        ranking = list(order["algorithm"])
    else:
        ranking = [algorithm]

    fitted: FittedModel | None = None
    errors: list[str] = []
    for name in ranking:
        try:
            fitted = fit_model(name, ds, y, freq, seed=random_state, holidays=holidays)
            try:
                raw = fitted.predict(horizon)
                fc = forecast_frame(fitted, horizon, nonnegative=nonnegative, prediction=raw)
            except Exception as exc:
                raise TrainingError(
                    f"{name} could not forecast this series ({type(exc).__name__}: {exc}).", field="algorithm"
                ) from exc
            if not np.isfinite(fc.drop(columns="ds").to_numpy()).all():
                raise TrainingError(
                    f"{name} produced non-finite forecasts; try another algorithm or 'auto'.", field="algorithm"
                )
            break
        except TrainingError as exc:
            errors.append(exc.message)
            fitted = None
            if algorithm != "auto":
                raise
            notes.append(f"{name} won the backtest but failed on the full history: {exc.message}")
    if fitted is None:
        raise TrainingError(
            "No candidate algorithm could be trained on the full history: " + "; ".join(errors), field="algorithm"
        )

    chosen = fitted.algorithm
    interval_scale = None
    if calibrate and chosen in preds:
        widths = {lv: (np.asarray(raw[f"hi-{lv}"], float) - np.asarray(raw[f"lo-{lv}"], float)) / 2 for lv in LEVELS}
        interval_scale = conformal_scales([y[c : c + horizon] for c in cutoffs], preds[chosen], widths)
        if interval_scale is not None:
            fc = forecast_frame(fitted, horizon, nonnegative=nonnegative, interval_scale=interval_scale,
                                prediction=raw)
    table["selected"] = table["algorithm"] == chosen
    row = table[table["algorithm"] == chosen].iloc[0]
    bench = table.set_index("algorithm")["mase"]
    metrics = {k: float(row[k]) for k in ("mae", "rmse", "mape", "smape", "mase")}
    metrics.update(
        mase_naive=float(bench.get("naive", float("nan"))),
        mase_seasonal_naive=float(bench.get("seasonal_naive", float("nan"))),
        interval_scale={str(k): v for k, v in (interval_scale or {}).items()} or None,
        mase_m=MASE_PERIOD[freq],
        n_windows=len(cutoffs),
        horizon=horizon,
        levels=list(LEVELS),
        candidates=table.drop(columns=["candidate"]).to_dict(orient="records"),
    )
    metrics = _clean(metrics)

    fv = fitted.fitted_values() if in_sample else None
    fitted_df = (
        pd.DataFrame({"ds": ds.to_numpy(), "y": y, "yhat": fv}) if fv is not None and len(fv) == len(y) else None
    )
    versions = library_versions()
    selection = {
        "requested": algorithm,
        "candidates": list(pool),
        "n_windows": len(cutoffs),
        "scores": {r.algorithm: r.mase for r in table.itertuples() if r.candidate},
    }
    model_json = (
        model_to_json(
            fitted,
            horizon=horizon,
            nonnegative=nonnegative,
            selection=_clean(selection),
            versions=versions,
            interval_scale=interval_scale,
        )
        if serialize
        else None
    )
    return ForecastResult(
        algorithm=chosen,
        params=_clean(fitted.params()),
        metrics=metrics,
        forecast=fc,
        backtest=table.drop(columns=["candidate"]),
        fitted=fitted_df,
        model_json=model_json,
        library_versions=versions,
        freq=freq,
        horizon=horizon,
        n_obs=len(y),
        notes=notes,
    )
