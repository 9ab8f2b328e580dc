"""The forecasting algorithms behind :func:`aihub.forecasting.fit_forecast`.

Every algorithm is fitted on a regular series (numpy ``y`` plus its dates) and
returns a :class:`FittedModel` that predicts point forecasts with 80 % and 95 %
prediction intervals and serialises its state to JSON.

Algorithms
----------
``naive``
    Last value carried forward; the random-walk benchmark (FPP3 5.2).
``seasonal_naive``
    Value of the same season one period ago (FPP3 5.2); needs one full season.
``ets``
    Exponential smoothing state-space model chosen by AICc (Hyndman, Koehler,
    Snyder & Grose 2002, IJF 18(3); FPP3 ch. 8), statsforecast ``AutoETS``.
``theta``
    Theta method (Assimakopoulos & Nikolopoulos 2000, IJF 16(4)) with the
    optimised and dynamic variants of Fiorucci et al. (2016, IJF 32(4)) chosen by
    in-sample MSE, statsforecast ``AutoTheta``; seasonally adjusted by classical
    multiplicative decomposition when a 90 % autocorrelation test finds seasonality.
``arima``
    ARIMA chosen by the Hyndman-Khandakar stepwise search (Hyndman & Khandakar
    2008, JSS 27(3); FPP3 ch. 9), statsforecast ``AutoARIMA``.
``ces``
    Complex exponential smoothing (Svetunkov, Kourentzes & Ord 2022, NRL 69(8)),
    statsforecast ``AutoCES``. Used mainly as a member of ``combination``.
``combination``
    Median, horizon by horizon, of ``ets``, ``theta``, ``arima`` and ``ces``
    (Petropoulos & Svetunkov 2020, "A simple combination of univariate models",
    IJF 36(1), a top-10 M4 method). Interval bounds are combined the same way,
    quantile by quantile (Lichtendahl, Grushka-Cockayne & Winkler 2013,
    Management Science 59(7)).
``mstl``
    MSTL: the series is decomposed into several seasonal components by STL loess
    (Bandara, Hyndman & Bergmeir 2021, "MSTL", IJOR 8(1)), e.g. 24 and 168 hours
    for hourly data; each season is repeated forward and the seasonally adjusted
    rest is forecast by a non-seasonal ``AutoETS``, statsforecast ``MSTL``. Seasons
    with fewer than two full cycles in the history are left out. The benchmark
    of the M4 hourly series in the statsforecast documentation.
``prophet``
    Prophet with its default model (Taylor & Letham 2018, The American
    Statistician 72(1)), MAP-fitted with L-BFGS; intervals from its predictive
    samples.

Seasonal periods come from :mod:`.frequency` (the primary one: 24 for hourly, 7 for
daily, 52 for weekly, 12 for monthly data; MSTL takes all of them). ETS, ARIMA and
CES only model seasons of at most 24 periods -- the limit of Hyndman's ``ets()``,
and seasonal ARIMA at m = 52 takes minutes per series -- so on weekly data they
run non-seasonal (FPP3 12.1 "Weekly, daily and sub-daily data"); Theta, seasonal
naive and Prophet keep the yearly season.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import TrainingError

from .frequency import FREQUENCIES, SEASON_LENGTH, SEASONS
from .series import future_dates

#: Prediction-interval levels (percent) every forecast carries.
LEVELS: tuple[int, int] = (80, 95)

#: Members of the ``combination`` algorithm.
COMBINATION_MEMBERS: tuple[str, ...] = ("ets", "theta", "arima", "ces")

#: Algorithms that can be fitted directly (``auto`` chooses among them).
MODEL_ALGORITHMS: tuple[str, ...] = (
    "naive",
    "seasonal_naive",
    "ets",
    "theta",
    "arima",
    "ces",
    "combination",
    "mstl",
    "prophet",
)

_STATSFORECAST = {
    "naive": "Naive",
    "seasonal_naive": "SeasonalNaive",
    "ets": "AutoETS",
    "theta": "AutoTheta",
    "arima": "AutoARIMA",
    "ces": "AutoCES",
}

#: Largest season ETS, ARIMA and CES are asked to model (Hyndman's ets() limit).
MAX_STATE_SPACE_SEASON = 24


def quiet_library_logging() -> None:
    """Silence Prophet's and cmdstanpy's INFO chatter.

    Prophet sets its logger to INFO when imported (and warns about optimiser
    fallbacks and changepoints) and cmdstanpy logs every Stan run; only errors
    get through.
    Safe to call many times.
    """
    import sys

    if "cmdstanpy" in sys.modules:
        # cmdstanpy's own get_logger() sets DEBUG and adds a handler on first use;
        # run it now so the level set below is not overwritten later.
        from cmdstanpy.utils import get_logger

        get_logger()
    logging.getLogger("prophet").setLevel(logging.ERROR)
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)


def import_prophet():
    """Import Prophet lazily (about a second) and quiet its loggers."""
    import cmdstanpy  # noqa: F401  (Prophet's backend; imported here so its logger can be quietened)
    from prophet import Prophet

    quiet_library_logging()
    return Prophet


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def season_length_for(algorithm: str, freq: str) -> int:
    """Seasonal period (observations) ``algorithm`` is given for ``freq`` data."""
    m = SEASON_LENGTH[freq]
    if algorithm in ("ets", "arima", "ces") and m > MAX_STATE_SPACE_SEASON:
        return 1
    if algorithm == "naive":
        return 1
    return m


def mstl_seasons(freq: str, n: int) -> list[int]:
    """The seasons of ``freq`` (longer than one period) with at least two full cycles in ``n`` points."""
    return [m for m in SEASONS[freq] if m > 1 and n >= 2 * m]


def make_mstl(seasons: list[int]):
    """A fresh statsforecast ``MSTL`` on ``seasons`` with a non-seasonal ``AutoETS`` trend."""
    from statsforecast.models import MSTL, AutoETS

    return MSTL(season_length=list(seasons), trend_forecaster=AutoETS(model="ZZN"))


def make_statsforecast(algorithm: str, season_length: int):
    """A fresh, unfitted statsforecast model object for ``algorithm``."""
    from statsforecast import models as sfm

    cls = getattr(sfm, _STATSFORECAST[algorithm])
    if algorithm == "naive":
        return cls()
    return cls(season_length=season_length)


def _arima(season_length: int, n: int):
    """AutoARIMA with R ``auto.arima``'s default: approximate the likelihood during the
    order search when ``n > 150`` or ``m > 12`` (Hyndman & Khandakar 2008); the chosen
    order is then re-estimated by exact maximum likelihood."""
    from statsforecast.models import AutoARIMA

    return AutoARIMA(season_length=season_length, approximation=bool(n > 150 or season_length > 12))


def _interval_dict(mean: np.ndarray, lo: dict[int, np.ndarray], hi: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"mean": np.asarray(mean, float)}
    for lev in LEVELS:
        out[f"lo-{lev}"] = np.asarray(lo[lev], float)
        out[f"hi-{lev}"] = np.asarray(hi[lev], float)
    return out


@dataclass
class FittedModel:
    """A model fitted on one series, able to forecast and to serialise itself.

    Attributes
    ----------
    algorithm : str
        One of :data:`MODEL_ALGORITHMS`.
    freq : {"D", "W", "M"}
    last_ds : Timestamp
        Label of the last training period; forecasts start one step later.
    n_obs : int
        Number of training periods.
    """

    algorithm: str
    freq: str
    last_ds: pd.Timestamp
    n_obs: int

    def predict(self, horizon: int) -> dict[str, np.ndarray]:
        """Forecast ``horizon`` steps: ``{"mean", "lo-80", "hi-80", "lo-95", "hi-95"}`` arrays."""
        raise NotImplementedError

    def fitted_values(self) -> np.ndarray | None:
        """One-step in-sample fitted values (length ``n_obs``) if the model provides them."""
        return None

    def params(self) -> dict[str, Any]:
        """Readable description of the fitted model (orders, smoothing weights)."""
        return {}

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the model, as plain Python/numpy objects."""
        raise NotImplementedError

    def future_ds(self, horizon: int) -> pd.DatetimeIndex:
        """Dates of the next ``horizon`` periods."""
        return future_dates(self.last_ds, horizon, self.freq)


@dataclass
class StatsforecastModel(FittedModel):
    """A fitted statsforecast model (naive, seasonal naive, ETS, Theta, ARIMA, CES)."""

    season_length: int = 1
    model: Any = None

    def predict(self, horizon: int) -> dict[str, np.ndarray]:
        with _quiet():
            raw = self.model.predict(h=horizon, level=list(LEVELS))
        return _interval_dict(
            raw["mean"], {lv: raw[f"lo-{lv}"] for lv in LEVELS}, {lv: raw[f"hi-{lv}"] for lv in LEVELS}
        )

    def fitted_values(self) -> np.ndarray | None:
        st = self.model.model_
        if "fitted" in st:
            return np.asarray(st["fitted"], float)
        if "x" in st and "residuals" in st:
            return np.asarray(st["x"], float) - np.asarray(st["residuals"], float)
        return None

    def params(self) -> dict[str, Any]:
        st = self.model.model_
        out: dict[str, Any] = {"season_length": self.season_length}
        if self.algorithm == "ets":
            out["model"] = st.get("method")
            names = ("alpha", "beta", "gamma", "phi")
            par = np.asarray(st.get("par", []), float)
            out.update({k: float(v) for k, v in zip(names, par[:4]) if np.isfinite(v)})
        elif self.algorithm == "arima":
            p, q, P, Q, s, d, D = (int(v) for v in st["arma"])
            out["order"] = [p, d, q]
            out["seasonal_order"] = [P, D, Q, s]
            out["coef"] = {k: float(v) for k, v in st.get("coef", {}).items()}
            out["model"] = f"ARIMA({p},{d},{q})" + (f"({P},{D},{Q})[{s}]" if (P or D or Q) else "")
        elif self.algorithm == "theta":
            out["model"] = st.get("modeltype")
            out.update({k: float(v) for k, v in st.get("par", {}).items()})
            out["seasonally_adjusted"] = bool(st.get("decompose", False))
        elif self.algorithm == "ces":
            out["model"] = f"CES({st.get('seasontype')})"
        if "sigma2" in st:
            out["sigma2"] = float(st["sigma2"])
        return out

    def state(self) -> dict[str, Any]:
        return {"season_length": self.season_length, "model_": self.model.model_}

    @classmethod
    def from_state(
        cls, algorithm: str, freq: str, last_ds: pd.Timestamp, n_obs: int, state: dict[str, Any]
    ) -> StatsforecastModel:
        """Rebuild from :meth:`state` without refitting."""
        season = int(state["season_length"])
        model = make_statsforecast(algorithm, season)
        model.model_ = state["model_"]
        return cls(algorithm=algorithm, freq=freq, last_ds=last_ds, n_obs=n_obs, season_length=season, model=model)


@dataclass
class MstlModel(FittedModel):
    """A fitted statsforecast ``MSTL``: the decomposition plus its ``AutoETS`` trend model."""

    seasons: list[int] = field(default_factory=list)
    model: Any = None

    def predict(self, horizon: int) -> dict[str, np.ndarray]:
        with _quiet():
            raw = self.model.predict(h=horizon, level=list(LEVELS))
        return _interval_dict(
            raw["mean"], {lv: raw[f"lo-{lv}"] for lv in LEVELS}, {lv: raw[f"hi-{lv}"] for lv in LEVELS}
        )

    def fitted_values(self) -> np.ndarray | None:
        trend = self.model.trend_forecaster.model_
        if "fitted" not in trend:
            return None
        seasonal = self.model.model_.filter(regex="seasonal*").sum(axis=1).to_numpy(float)
        return np.asarray(trend["fitted"], float) + seasonal

    def params(self) -> dict[str, Any]:
        trend = self.model.trend_forecaster.model_
        return {"seasons": list(self.seasons), "trend_model": f"AutoETS {trend.get('method')}"}

    def state(self) -> dict[str, Any]:
        decomposition = {str(c): self.model.model_[c].to_numpy(float) for c in self.model.model_.columns}
        return {"seasons": list(self.seasons), "decomposition": decomposition,
                "trend_model_": self.model.trend_forecaster.model_}

    @classmethod
    def from_state(cls, freq: str, last_ds: pd.Timestamp, n_obs: int, state: dict[str, Any]) -> MstlModel:
        """Rebuild from :meth:`state` without refitting."""
        seasons = [int(m) for m in state["seasons"]]
        model = make_mstl(seasons)
        model.model_ = pd.DataFrame({k: np.asarray(v, float) for k, v in state["decomposition"].items()})
        model.trend_forecaster.model_ = state["trend_model_"]
        return cls(algorithm="mstl", freq=freq, last_ds=last_ds, n_obs=n_obs, seasons=seasons, model=model)


@dataclass
class ProphetModel(FittedModel):
    """A fitted Prophet model; intervals come from its predictive samples."""

    model: Any = None
    seed: int = 0

    def predict_mean(self, horizon: int) -> np.ndarray:
        """Point forecast only (``yhat``), skipping the interval sampling."""
        future = pd.DataFrame({"ds": self.future_ds(horizon)})
        n_samples = self.model.uncertainty_samples
        with _quiet():
            self.model.uncertainty_samples = 0
            try:
                return self.model.predict(future)["yhat"].to_numpy(float)
            finally:
                self.model.uncertainty_samples = n_samples

    def predict(self, horizon: int) -> dict[str, np.ndarray]:
        future = pd.DataFrame({"ds": self.future_ds(horizon)})
        m = self.model
        mean = self.predict_mean(horizon)
        if not m.uncertainty_samples:
            m.uncertainty_samples = 1000
        with _quiet():
            saved = np.random.get_state()  # Prophet samples with numpy's global generator
            try:
                np.random.seed(self.seed)
                samples = m.predictive_samples(future)["yhat"]
            finally:
                np.random.set_state(saved)
        lo = {lv: np.percentile(samples, 50 - lv / 2, axis=1) for lv in LEVELS}
        hi = {lv: np.percentile(samples, 50 + lv / 2, axis=1) for lv in LEVELS}
        return _interval_dict(mean, lo, hi)

    def fitted_values(self) -> np.ndarray | None:
        m = self.model
        n_samples = m.uncertainty_samples
        with _quiet():
            m.uncertainty_samples = 0
            try:
                return m.predict(m.history[["ds"]])["yhat"].to_numpy(float)
            finally:
                m.uncertainty_samples = n_samples

    def params(self) -> dict[str, Any]:
        m = self.model
        return {
            "growth": m.growth,
            "seasonality_mode": m.seasonality_mode,
            "seasonalities": sorted(m.seasonalities),
            "changepoint_prior_scale": m.changepoint_prior_scale,
            "n_changepoints": len(m.changepoints) if m.changepoints is not None else 0,
        }

    def state(self) -> dict[str, Any]:
        from prophet.serialize import model_to_json

        return {"prophet_json": model_to_json(self.model), "seed": self.seed}

    @classmethod
    def from_state(cls, freq: str, last_ds: pd.Timestamp, n_obs: int, state: dict[str, Any]) -> ProphetModel:
        """Rebuild with :func:`prophet.serialize.model_from_json`."""
        import_prophet()
        from prophet.serialize import model_from_json

        model = model_from_json(state["prophet_json"])
        return cls(
            algorithm="prophet", freq=freq, last_ds=last_ds, n_obs=n_obs, model=model, seed=int(state.get("seed", 0))
        )


@dataclass
class CombinationModel(FittedModel):
    """Median combination of fitted member models (see module docstring)."""

    members: list[FittedModel] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def predict(self, horizon: int) -> dict[str, np.ndarray]:
        preds = [m.predict(horizon) for m in self.members]
        return {k: np.median(np.vstack([p[k] for p in preds]), axis=0) for k in preds[0]}

    def fitted_values(self) -> np.ndarray | None:
        fits = [m.fitted_values() for m in self.members]
        fits = [f for f in fits if f is not None and len(f) == self.n_obs]
        return np.median(np.vstack(fits), axis=0) if fits else None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": "median", "members": {m.algorithm: m.params() for m in self.members}}
        if self.failed:
            out["failed_members"] = dict(self.failed)
        return out

    def state(self) -> dict[str, Any]:
        return {
            "members": [{"algorithm": m.algorithm, "state": m.state()} for m in self.members],
            "failed": dict(self.failed),
        }

    @classmethod
    def from_state(cls, freq: str, last_ds: pd.Timestamp, n_obs: int, state: dict[str, Any]) -> CombinationModel:
        members = [
            StatsforecastModel.from_state(m["algorithm"], freq, last_ds, n_obs, m["state"]) for m in state["members"]
        ]
        return cls(
            algorithm="combination",
            freq=freq,
            last_ds=last_ds,
            n_obs=n_obs,
            members=members,
            failed=dict(state.get("failed", {})),
        )


def min_points(algorithm: str, freq: str) -> int:
    """Fewest training points ``algorithm`` accepts on ``freq`` data."""
    if algorithm == "seasonal_naive":
        return SEASON_LENGTH[freq]
    if algorithm == "naive":
        return 1
    if algorithm == "mstl":
        return 2 * min((m for m in SEASONS[freq] if m > 1), default=1)
    return 3


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def fit_model(
    algorithm: str,
    ds: pd.Series,
    y: np.ndarray,
    freq: str,
    *,
    seed: int = 0,
    uncertainty: bool = True,
    holidays: str | None = None,
) -> FittedModel:
    """Fit one algorithm on a validated regular series.

    Parameters
    ----------
    algorithm : str
        One of :data:`MODEL_ALGORITHMS`.
    ds : Series of datetime64
        Period labels, regular, same length as ``y``.
    y : ndarray of float, shape (n,)
    freq : {"D", "W", "M"}
    seed : int
        Seed for Prophet's predictive sampling (other models are deterministic).
    uncertainty : bool
        False skips Prophet's interval sampling (used inside backtests).
    holidays : str, optional
        ISO 3166 country code: Prophet adds that country's public holidays (the ``holidays``
        package) as regressors, ``Prophet.add_country_holidays``. The other algorithms ignore it.

    Raises
    ------
    TrainingError
        With an analyst-readable reason when the library fails or the history is too short.
    """
    n = len(y)
    need = min_points(algorithm, freq)
    label = FREQUENCIES[freq]
    if algorithm == "mstl" and max(SEASONS[freq]) <= 1:
        raise TrainingError(
            f"mstl models seasons, and {label} data has none. Choose another algorithm or 'auto'.",
            field="algorithm",
            details={"algorithm": algorithm, "freq": freq},
        )
    if n < need:
        raise TrainingError(
            f"{algorithm} needs at least {need} {label} points (one full season for seasonal_naive, two for mstl); "
            f"the series has {n}. Provide more history or choose another algorithm.",
            field="algorithm",
            details={"algorithm": algorithm, "points": n, "needed": need},
        )
    last_ds = pd.Timestamp(ds.iloc[-1])
    y = np.asarray(y, dtype=float)
    try:
        if algorithm == "combination":
            members: list[FittedModel] = []
            failed: dict[str, str] = {}
            for name in COMBINATION_MEMBERS:
                try:
                    members.append(fit_model(name, ds, y, freq))
                except TrainingError as exc:
                    failed[name] = exc.message
            if len(members) < 2:
                raise TrainingError(
                    "the combination needs at least two members that train; "
                    + "; ".join(f"{k}: {v}" for k, v in failed.items()),
                    field="algorithm",
                )
            return CombinationModel(
                algorithm=algorithm, freq=freq, last_ds=last_ds, n_obs=n, members=members, failed=failed
            )
        if algorithm == "mstl":
            seasons = mstl_seasons(freq, n)
            model = make_mstl(seasons)
            with _quiet():
                model.fit(y)
            return MstlModel(algorithm=algorithm, freq=freq, last_ds=last_ds, n_obs=n, seasons=seasons, model=model)
        if algorithm == "prophet":
            Prophet = import_prophet()
            with _quiet():
                model = Prophet(uncertainty_samples=1000 if uncertainty else 0)
                if holidays:
                    model.add_country_holidays(country_name=holidays)
                # L-BFGS at every length: Prophet switches to Newton below 100 points,
                # which took 14 s instead of 0.2 s on a 27-point monthly series here.
                # Same MAP objective; Prophet still falls back to Newton if L-BFGS fails.
                model.fit(pd.DataFrame({"ds": pd.to_datetime(ds).to_numpy(), "y": y}), algorithm="LBFGS")
            return ProphetModel(algorithm=algorithm, freq=freq, last_ds=last_ds, n_obs=n, model=model, seed=seed)
        season = season_length_for(algorithm, freq)
        model = _arima(season, n) if algorithm == "arima" else make_statsforecast(algorithm, season)
        with _quiet():
            model.fit(y)
        if not hasattr(model, "model_"):
            raise TrainingError(
                f"{algorithm} returned no model for this {label} series of {n} points (constant or degenerate data). "
                "Try another algorithm or 'auto'.",
                field="algorithm",
            )
        return StatsforecastModel(
            algorithm=algorithm, freq=freq, last_ds=last_ds, n_obs=n, season_length=season, model=model
        )
    except TrainingError:
        raise
    except Exception as exc:  # library failures become domain errors
        raise TrainingError(
            f"{algorithm} could not be trained on this {label} series of {n} points ({_describe(exc)}). "
            "Try another algorithm or 'auto'.",
            field="algorithm",
            details={"algorithm": algorithm, "points": n},
        ) from exc


def rebuild_model(algorithm: str, freq: str, last_ds: pd.Timestamp, n_obs: int, state: dict[str, Any]) -> FittedModel:
    """Inverse of :meth:`FittedModel.state` for a trusted, already-validated algorithm name."""
    if algorithm == "prophet":
        return ProphetModel.from_state(freq, last_ds, n_obs, state)
    if algorithm == "combination":
        return CombinationModel.from_state(freq, last_ds, n_obs, state)
    if algorithm == "mstl":
        return MstlModel.from_state(freq, last_ds, n_obs, state)
    return StatsforecastModel.from_state(algorithm, freq, last_ds, n_obs, state)


def backtest_means(
    algorithm: str,
    ds: pd.Series,
    y: np.ndarray,
    freq: str,
    cutoffs: list[int],
    horizon: int,
    cache: dict[str, list[np.ndarray] | TrainingError] | None = None,
    holidays: str | None = None,
) -> list[np.ndarray]:
    """Point forecasts from each rolling origin in ``cutoffs``.

    Statistical models are fitted once on ``y[:cutoffs[0]]`` and re-applied with
    their fixed parameters to the longer histories of later origins (statsforecast
    ``forward``, the same as ``cross_validation(refit=False)``); no data after an
    origin is ever used for its forecast. Prophet is refitted at every origin.
    Naive forecasts need no fitting. ``combination`` takes the median of its
    members' forecasts, reusing those already in ``cache`` (algorithm -> forecasts
    or the TrainingError it raised).

    Returns
    -------
    list of ndarray, one of length ``horizon`` per origin.
    """
    y = np.asarray(y, float)
    if algorithm == "naive":
        return [np.repeat(y[c - 1], horizon) for c in cutoffs]
    if algorithm == "seasonal_naive":
        m = SEASON_LENGTH[freq]
        if cutoffs[0] < m:
            raise TrainingError(
                f"seasonal_naive needs one full season ({m} {FREQUENCIES[freq]} points) "
                "before the first backtest origin."
            )
        return [np.array([y[c - m + (i % m)] for i in range(horizon)]) for c in cutoffs]
    if algorithm == "prophet":
        return [
            fit_model("prophet", ds.iloc[:c], y[:c], freq, uncertainty=False, holidays=holidays).predict_mean(horizon)
            for c in cutoffs
        ]  # type: ignore[union-attr]
    if algorithm == "combination":
        cache = {} if cache is None else cache
        per_member = []
        for name in COMBINATION_MEMBERS:
            if name not in cache:
                try:
                    cache[name] = backtest_means(name, ds, y, freq, cutoffs, horizon)
                except TrainingError as exc:
                    cache[name] = exc
            if not isinstance(cache[name], TrainingError):
                per_member.append(cache[name])
        if len(per_member) < 2:
            raise TrainingError("fewer than two combination members could be backtested")
        return [np.median(np.vstack([pm[i] for pm in per_member]), axis=0) for i in range(len(cutoffs))]
    fitted = fit_model(algorithm, ds.iloc[: cutoffs[0]], y[: cutoffs[0]], freq)
    try:
        with _quiet():
            # point forecasts only: interval computation is costly for some models (CES simulates)
            out = [np.asarray(fitted.model.predict(h=horizon)["mean"], float)]  # type: ignore[attr-defined]
            for c in cutoffs[1:]:
                step = fitted.model.forward(y=y[:c], h=horizon)  # type: ignore[attr-defined]
                out.append(np.asarray(step["mean"], float))
    except Exception as exc:
        raise TrainingError(f"{algorithm} failed in the backtest ({_describe(exc)})") from exc
    return out


FORECAST_COLUMNS: tuple[str, ...] = ("ds", "yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95")


def forecast_frame(
    fitted: FittedModel,
    horizon: int,
    *,
    nonnegative: bool = False,
    interval_scale: Mapping[int | str, float] | None = None,
    prediction: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Forecast ``horizon`` periods as a DataFrame with columns :data:`FORECAST_COLUMNS`.

    ``interval_scale`` (level -> factor, from :func:`~aihub.forecasting.conformal.conformal_scales`)
    stretches each interval about the point forecast: ``yhat -/+ factor * (distance to the bound)``.
    ``prediction`` is ``fitted.predict(horizon)`` when the caller has it already (Prophet samples
    its intervals, so predicting twice costs a second sampling).

    Bounds are made monotone (``lower_95 <= lower_80 <= yhat <= upper_80 <= upper_95``):
    a sampled or combined bound that crosses the point forecast is moved onto it.
    With ``nonnegative`` every column is clipped at 0 (used when the history has no
    negative values, e.g. sales).
    """
    p = dict(fitted.predict(horizon) if prediction is None else prediction)
    yhat = np.asarray(p["mean"], float)
    for level, factor in (interval_scale or {}).items():
        q = float(factor)
        p[f"lo-{int(level)}"] = yhat - q * (yhat - np.asarray(p[f"lo-{int(level)}"], float))
        p[f"hi-{int(level)}"] = yhat + q * (np.asarray(p[f"hi-{int(level)}"], float) - yhat)
    lo80 = np.minimum(p["lo-80"], yhat)
    hi80 = np.maximum(p["hi-80"], yhat)
    lo95 = np.minimum(p["lo-95"], lo80)
    hi95 = np.maximum(p["hi-95"], hi80)
    cols = [yhat, lo80, hi80, lo95, hi95]
    if nonnegative:
        cols = [np.clip(c, 0.0, None) for c in cols]
    return pd.DataFrame(dict(zip(FORECAST_COLUMNS, [fitted.future_ds(horizon), *cols])))
