"""Many series through statsforecast, with the product's ``auto`` per series (on one machine or on Dask).

:func:`aihub.runtime.cluster_jobs.forecast_many_on_cluster` runs ``StatsForecast(models).forecast`` on chunks of
whole series, one Dask task per chunk. ``StatsForecast.forecast`` also accepts a Dask, Spark or Ray frame,
which it hands to its fugue backend: the rows are partitioned by ``unique_id`` and every partition runs
``StatsForecast(models).forecast`` on the worker that holds it (statsforecast's documentation, "Distributed
computing" and ``statsforecast.distributed.fugue.FugueBackend``). Any object with statsforecast's model
interface may be one of ``models``; :class:`PanelAuto` is one that runs
:func:`~aihub.forecasting.fit_forecast` on each series (its rolling-origin backtest, MASE selection and
conformal intervals), so a series gets the same forecast on a cluster as in :func:`forecast_many` on one
machine. :class:`PanelAutoChoice` reports which algorithm won, as a second "model" column (statsforecast keeps
only the ``mean``/``lo-*``/``hi-*`` arrays a model returns).

statsforecast hands a model the values ``y`` of a series, not its dates, so the series are fitted on a regular
grid of the same frequency and length; the forecast's dates are the real ones, continued from each series' last
date (:func:`tidy_forecast`). Methods that read the calendar (holidays, Prophet) are therefore refused here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import AihubError, ValidationError

from .auto import _DEFAULT, ALGORITHMS, fit_forecast, validate_params
from .frequency import FREQUENCY_TABLE
from .models import LEVELS
from .panel import PANEL_CANDIDATES
from .series import future_dates

#: Methods that need the real calendar, which statsforecast does not hand to a model.
CALENDAR_METHODS: tuple[str, ...] = ("prophet",)

#: A fixed start of the stand-in date grid: a Monday that starts a month, a quarter and a year.
_GRID_START = pd.Timestamp("2001-01-01")

#: ``model`` code of a series that could not be forecast (:class:`PanelAutoChoice`).
FAILED = -1.0


class PanelAuto:
    """A statsforecast model that forecasts each series with :func:`~aihub.forecasting.fit_forecast`.

    Parameters
    ----------
    freq : str
        A key of :data:`~aihub.forecasting.frequency.FREQUENCY_TABLE`.
    algorithm : str, default "auto"
        As in ``fit_forecast``; ``prophet`` is refused (it reads the calendar).
    candidates : sequence of str, optional
        Pool of ``auto``; default :data:`~aihub.forecasting.PANEL_CANDIDATES` of ``freq``.
    n_windows, max_history
        As in ``fit_forecast``.
    on_error : {"fail", "naive"}
        ``"naive"`` forecasts a failing series with the naive method instead.

    Notes
    -----
    statsforecast calls ``forecast(y=..., h=..., X=..., X_future=..., fitted=..., level=...)`` once per series
    and keeps the ``mean``, ``lo-<level>`` and ``hi-<level>`` arrays (:mod:`statsforecast.core`). A series that
    cannot be forecast gets NaN, and :class:`PanelAutoChoice` reports it as :data:`FAILED`.
    """

    uses_exog = False

    def __init__(self, freq: str, *, algorithm: str = "auto", candidates: Sequence[str] | None = None,
                 n_windows: int = 3, max_history: int | None = _DEFAULT,  # type: ignore[assignment]
                 on_error: str = "fail", alias: str = "aihub") -> None:
        cands = tuple(candidates) if candidates is not None else (
            PANEL_CANDIDATES[freq] if algorithm == "auto" else None)
        calendar = [m for m in (algorithm, *(cands or ())) if m in CALENDAR_METHODS]
        if calendar:
            raise ValidationError(f"{calendar[0]} reads the calendar and cannot run through statsforecast's "
                                  "distributed backend; choose another method.", field="algorithm")
        self.freq, self.algorithm, self.candidates = freq, algorithm, cands
        # The module's default sentinel does not survive pickling to a worker: keep "use the default" as a flag.
        self.default_history = max_history is _DEFAULT
        self.max_history = None if self.default_history else max_history
        self.n_windows, self.on_error, self.alias = n_windows, on_error, alias
        self._last: tuple[str, int, str | None, dict[str, np.ndarray]] | None = None

    def __repr__(self) -> str:
        return self.alias

    def new(self) -> PanelAuto:
        """A fresh copy (statsforecast's model interface)."""
        return PanelAuto(self.freq, algorithm=self.algorithm, candidates=self.candidates, n_windows=self.n_windows,
                         max_history=_DEFAULT if self.default_history else self.max_history,
                         on_error=self.on_error, alias=self.alias)

    def _kwargs(self, h: int) -> dict[str, Any]:
        kw: dict[str, Any] = {"horizon": h, "freq": self.freq, "algorithm": self.algorithm,
                              "candidates": self.candidates, "n_windows": self.n_windows,
                              "serialize": False, "in_sample": False}
        if not self.default_history:
            kw["max_history"] = self.max_history
        return kw

    def fit_series(self, y: np.ndarray, h: int) -> tuple[str | None, dict[str, np.ndarray]]:
        """``(algorithm or None when it failed, {"mean", "lo-80", "hi-80", "lo-95", "hi-95"})`` of one series."""
        y = np.asarray(y, dtype=float)
        key = hashlib.blake2b(y.tobytes(), digest_size=16).hexdigest()
        if self._last is not None and self._last[0] == key and self._last[1] == h:
            return self._last[2], self._last[3]
        from .models import quiet_library_logging

        quiet_library_logging()
        frame = pd.DataFrame({"ds": pd.date_range(_GRID_START, periods=len(y), freq=FREQUENCY_TABLE[self.freq].grid),
                              "y": y})
        name: str | None
        try:
            res = fit_forecast(frame, **self._kwargs(h))
            name = res.algorithm
        except AihubError:
            res, name = None, None
            if self.on_error == "naive":
                try:
                    res = fit_forecast(frame, **{**self._kwargs(h), "algorithm": "naive"})
                    name = "naive (fallback)"
                except AihubError:
                    res = None
        if res is None:
            nan = np.full(h, np.nan)
            out = {"mean": nan, **{f"{side}-{lv}": nan for lv in LEVELS for side in ("lo", "hi")}}
        else:
            fc = res.forecast
            out = {"mean": fc["yhat"].to_numpy(float)}
            for lv in LEVELS:
                out[f"lo-{lv}"] = fc[f"yhat_lower_{lv}"].to_numpy(float)
                out[f"hi-{lv}"] = fc[f"yhat_upper_{lv}"].to_numpy(float)
        self._last = (key, h, name, out)
        return name, out

    def forecast(self, y: np.ndarray, h: int, X: Any = None, X_future: Any = None,
                 level: Sequence[int] = (), fitted: bool = False) -> dict[str, np.ndarray]:
        """statsforecast's model interface: the point forecast and the bounds of each asked ``level``."""
        _, out = self.fit_series(y, h)
        res = {"mean": out["mean"]}
        for lv in level:
            if int(lv) not in LEVELS:
                raise ValidationError(f"level must be among {LEVELS}; got {lv!r}.", field="level")
            res[f"lo-{int(lv)}"], res[f"hi-{int(lv)}"] = out[f"lo-{int(lv)}"], out[f"hi-{int(lv)}"]
        return res


class PanelAutoChoice:
    """The algorithm :class:`PanelAuto` chose for a series, as a statsforecast "model" whose mean is its code.

    The code is the position in :data:`~aihub.forecasting.ALGORITHMS` (``naive (fallback)`` is
    ``len(ALGORITHMS)``), :data:`FAILED` for a series that could not be forecast. It reads the result
    :class:`PanelAuto` cached for the same series just before (statsforecast runs a series' models one after
    another in one process), so nothing is fitted twice.
    """

    uses_exog = False

    def __init__(self, auto: PanelAuto, alias: str = "aihub_model") -> None:
        self.auto, self.alias = auto, alias

    def __repr__(self) -> str:
        return self.alias

    def new(self) -> PanelAutoChoice:
        """A copy bound to the same :class:`PanelAuto`."""
        return PanelAutoChoice(self.auto, self.alias)

    def forecast(self, y: np.ndarray, h: int, X: Any = None, X_future: Any = None,
                 fitted: bool = False) -> dict[str, np.ndarray]:
        """``{"mean": code repeated h times}``."""
        name, _ = self.auto.fit_series(y, h)
        return {"mean": np.full(h, algorithm_code(name))}


def algorithm_code(name: str | None) -> float:
    """Code of an algorithm name in :class:`PanelAutoChoice`'s column."""
    if name is None:
        return FAILED
    return float(ALGORITHMS.index(name)) if name in ALGORITHMS else float(len(ALGORITHMS))


def algorithm_name(code: float) -> str | None:
    """Inverse of :func:`algorithm_code` (None for a failed series)."""
    if not np.isfinite(code) or code == FAILED:
        return None
    i = int(code)
    return ALGORITHMS[i] if i < len(ALGORITHMS) else "naive (fallback)"


def panel_models(freq: str, *, horizon: int, algorithm: str = "auto", candidates: Sequence[str] | None = None,
                 n_windows: int = 3, max_history: int | None = _DEFAULT,  # type: ignore[assignment]
                 on_error: str = "fail") -> list[Any]:
    """The two statsforecast "models" to pass to ``StatsForecast(models=...)``, parameters checked first.

    Raises
    ------
    ValidationError
        A bad frequency, horizon, algorithm, candidate, ``n_windows`` or ``max_history``, or a method that
        reads the calendar.
    """
    auto = PanelAuto(freq, algorithm=algorithm, candidates=candidates, n_windows=n_windows,
                     max_history=max_history, on_error=on_error)
    validate_params(horizon=horizon, freq=freq, algorithm=algorithm, candidates=auto.candidates,
                    n_windows=n_windows, max_history=max_history)
    return [auto, PanelAutoChoice(auto)]


def tidy_forecast(raw: pd.DataFrame, last_dates: pd.Series, horizon: int, freq: str,
                  order: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """statsforecast's output as :func:`~aihub.forecasting.forecast_many`'s columns, with the real dates.

    Parameters
    ----------
    raw : DataFrame
        ``unique_id, ds, aihub, aihub-lo-80, ..., aihub_model`` (``horizon`` rows per series).
    last_dates : Series
        ``unique_id`` -> last date of the series' history.
    order : sequence of str
        Series ids in the order to return them.

    Returns
    -------
    forecast : DataFrame
        ``unique_id, ds, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, yhat_upper_95, model``,
        series in ``order``; series that failed are left out.
    failed : list of str
        Ids of the series that could not be forecast.
    """
    raw = raw.assign(unique_id=raw["unique_id"].astype(str))
    raw = raw.sort_values(["unique_id", "ds"], kind="stable")
    pos = {k: i for i, k in enumerate(order)}
    raw = raw.assign(_pos=raw["unique_id"].map(pos)).sort_values(["_pos", "ds"], kind="stable")
    codes = raw.groupby("unique_id", sort=False)["aihub_model"].first()
    failed = [k for k in order if k in codes.index and algorithm_name(codes[k]) is None]
    ok = raw[~raw["unique_id"].isin(failed)]
    ids = list(dict.fromkeys(ok["unique_id"]))
    ds = np.concatenate([future_dates(last_dates[k], horizon, freq).to_numpy() for k in ids]) if ids else []
    out = pd.DataFrame({"unique_id": ok["unique_id"].to_numpy(), "ds": ds, "yhat": ok["aihub"].to_numpy(float)})
    for lv in LEVELS:
        out[f"yhat_lower_{lv}"] = ok[f"aihub-lo-{lv}"].to_numpy(float)
        out[f"yhat_upper_{lv}"] = ok[f"aihub-hi-{lv}"].to_numpy(float)
    out["model"] = [algorithm_name(c) for c in ok["aihub_model"].to_numpy(float)]
    return out, failed
