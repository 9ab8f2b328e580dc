"""What kind of anomaly is this? Classify a flagged period by its shape.

Seed 001 names six types: ``spike``, ``drop``, ``trend_change``,
``level_shift``, ``seasonality_break`` and ``missing_data``.
:func:`classify_anomaly` takes a series with its history up to (and a little
past) a flagged period and returns the type, a confidence and the evidence in
plain words with figures ("Level shifted from 1,240 to 860 per day on 3 March
2024 (-31%) and stayed there for the 14 days after.").

Method
------
1. **Missing data** first: the series is put on its regular time grid; when at
   least ``missing_share`` of the flagged periods have no value (absent rows or
   empty cells) the type is ``missing_data``.
2. **Seasonality** is removed with STL (Cleveland, Cleveland, McRae &
   Terpenning 1990, "STL: A seasonal-trend decomposition procedure based on
   Loess", J. Official Statistics 6), fitted on the history *before* the flagged
   period only, and used when its seasonal strength ``1 - Var(R)/Var(S + R)``
   (Wang, Smith & Hyndman 2006, "Characteristic-based clustering for time
   series data", DMKD 13) is at least ``min_seasonal_strength``.
3. **Intervention models** are fitted by least squares to the deseasonalised
   values around the period, each a local linear trend plus one intervention
   in the sense of Box & Tiao (1975, "Intervention analysis with applications
   to economic and environmental problems", JASA 70) and Chen & Liu (1993,
   "Joint estimation of model parameters and outlier effects in time series",
   JASA 88): a pulse on the flagged periods (additive outlier: spike or drop),
   a step (level shift), a ramp (trend change), or new seasonal offsets per
   phase (seasonality break). The break time of a step, ramp or seasonal
   change is the maximum-likelihood change point searched around the period
   (the likelihood-ratio change-point statistic of Hinkley 1970,
   "Inference about the change-point in a sequence of random variables",
   Biometrika 57).
4. The models are compared by BIC (Schwarz 1978); ``exp(-BIC/2)`` weights
   approximate the models' posterior probabilities (Kass & Raftery 1995,
   "Bayes factors", JASA 90). The confidence is the winning type's weight
   among all models, including "no change": a period whose shape no
   intervention explains better than noise gets a low confidence.

A pulse and a step look the same until data after the period arrive, so a
spike or drop at the end of the data says so in its evidence.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field

from aihub.anomaly.synthetic import SHAPES
from aihub.anomaly.wording import format_change, format_compact, format_when, period_word
from aihub.errors import ValidationError
from aihub.userconfig import UserConfig, parse

__all__ = ["ANOMALY_SHAPES", "AnomalyShape", "TypeParams", "classify_anomaly", "naive_type", "season_length_for"]

#: The six anomaly types of seed 001.
ANOMALY_SHAPES: tuple[str, ...] = SHAPES

#: Season length implied by a pandas frequency (hours in a day, days in a week, ...).
SEASON_LENGTHS: dict[str, int] = {"h": 24, "H": 24, "D": 7, "B": 5, "W": 52, "M": 12, "MS": 12, "ME": 12,
                                  "Q": 4, "QS": 4, "QE": 4}


class TypeParams(UserConfig):
    """Tunables of :func:`classify_anomaly`, validated in one place.

    Attributes
    ----------
    season_length : int or None
        Periods per season; None infers it from the frequency
        (:data:`SEASON_LENGTHS`) and keeps it only if the history shows it.
    min_seasonal_strength : float, default 0.3
        STL seasonal strength needed to model seasonality.
    missing_share : float, default 0.5
        Share of the flagged periods without a value that makes it ``missing_data``.
    history : int, default 40
        At least this many periods before the flagged period are modelled
        (four seasons when longer).
    after : int, default 60
        At most this many periods after the flagged period are modelled.
    search : int, default 12
        How many periods before the flagged period a change point may lie.
    """

    model_config = ConfigDict(frozen=True)

    season_length: int | None = Field(default=None, ge=2, le=400)
    min_seasonal_strength: float = Field(default=0.3, ge=0.0, le=1.0)
    missing_share: float = Field(default=0.5, gt=0.0, le=1.0)
    history: int = Field(default=40, ge=8, le=5000)
    after: int = Field(default=60, ge=0, le=5000)
    search: int = Field(default=12, ge=0, le=500)


@dataclass(frozen=True)
class AnomalyShape:
    """The type of one anomaly and why.

    Attributes
    ----------
    type : str
        One of :data:`ANOMALY_SHAPES`.
    confidence : float
        In [0, 1]: the type's BIC weight (for ``missing_data``, the share of
        the flagged periods without a value).
    evidence : str
        One or two sentences with the figures.
    figures : dict
        The numbers behind the evidence (``before``, ``after``, ``change_at``,
        ``slope_before``, ...), JSON-ready.
    weights : dict of str to float
        Weight of each model compared (``none`` = no change).
    """

    type: str
    confidence: float
    evidence: str
    figures: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every attribute."""
        return asdict(self)


# --------------------------------------------------------------------------- input
def _as_frame(series: Any) -> pd.DataFrame:
    if isinstance(series, pd.Series):
        if not isinstance(series.index, pd.DatetimeIndex):
            raise ValidationError("A series needs a DatetimeIndex, or pass a DataFrame with columns ds and y.",
                                  field="series")
        frame = pd.DataFrame({"ds": series.index, "y": series.to_numpy()})
    elif isinstance(series, pd.DataFrame):
        cols = [c for c in (("ds", "y"), ("timestamp", "value")) if set(c) <= set(series.columns)]
        if not cols:
            raise ValidationError(f"The series needs columns ds and y (or timestamp and value); it has "
                                  f"{list(series.columns)}.", field="series")
        frame = series[list(cols[0])].set_axis(["ds", "y"], axis=1)
    else:
        raise ValidationError(f"series must be a DataFrame with columns ds, y; got {type(series).__name__}.",
                              field="series")
    frame = frame.assign(ds=pd.to_datetime(frame["ds"], errors="coerce"),
                         y=pd.to_numeric(frame["y"], errors="coerce"))
    if frame["ds"].isna().any():
        raise ValidationError("The series has timestamps that are not dates.", field="ds")
    frame = frame.groupby("ds", sort=True)["y"].mean().reset_index()
    if len(frame) < 8:
        raise ValidationError(f"The series has {len(frame)} periods; at least 8 are needed to tell a type.",
                              field="series")
    return frame


def _infer_freq(ds: pd.Series) -> str | None:
    for part in (ds, ds.iloc[:30], ds.iloc[-30:], ds.iloc[len(ds) // 2:len(ds) // 2 + 30]):
        if len(part) >= 3:
            f = pd.infer_freq(pd.DatetimeIndex(part))
            if f:
                return f
    return None


def _on_grid(frame: pd.DataFrame, freq: str | None) -> tuple[pd.Series, str]:
    freq = freq or _infer_freq(frame["ds"])
    if freq is None:
        step = frame["ds"].diff().median()
        idx = pd.date_range(frame["ds"].iloc[0], frame["ds"].iloc[-1], freq=step)
        freq = pd.tseries.frequencies.to_offset(step).freqstr
    else:
        idx = pd.date_range(frame["ds"].iloc[0], frame["ds"].iloc[-1], freq=freq)
    y = frame.set_index("ds")["y"].reindex(idx)
    if y.notna().sum() < 0.5 * len(frame):  # the rows do not sit on the inferred grid
        raise ValidationError(f"The timestamps do not follow a regular {freq!r} grid; pass freq=.", field="freq")
    return y, freq


def season_length_for(freq: str | None) -> int | None:
    """Season length implied by a pandas frequency string, or None (``"D"`` -> 7, ``"h"`` -> 24)."""
    if not freq:
        return None
    code = str(freq).lstrip("0123456789").split("-")[0]
    return SEASON_LENGTHS.get(code)


# --------------------------------------------------------------------------- models
def _seasonal_profile(y: np.ndarray, offset: int, m: int | None, params: TypeParams
                      ) -> tuple[np.ndarray | None, float, float]:
    """STL on the pre-period history ``y`` (whose first value is period ``offset`` of the series).

    Returns the profile by phase (``period % m``), the seasonal strength and the residual lag-m autocorrelation.
    """
    if not m or len(y) < 2 * m + 2:
        return None, 0.0, float("nan")
    from statsmodels.tsa.seasonal import STL

    filled = pd.Series(y).interpolate(limit_direction="both").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = STL(filled, period=m, robust=True).fit()
    seasonal, resid = np.asarray(res.seasonal), np.asarray(res.resid)
    strength = max(0.0, 1.0 - np.var(resid) / max(np.var(seasonal + resid), 1e-300))
    if strength < params.min_seasonal_strength:
        return None, strength, float("nan")
    last = seasonal[-3 * m:] if len(seasonal) >= 3 * m else seasonal
    phases = (offset + np.arange(len(seasonal))[-len(last):]) % m
    profile = np.array([last[phases == p].mean() for p in range(m)])
    return profile - profile.mean(), strength, _lag_corr(resid, m)


def _lag_corr(x: np.ndarray, lag: int) -> float:
    x = x[np.isfinite(x)]
    if len(x) <= lag + 2:
        return float("nan")
    a, b = x[:-lag] - x.mean(), x[lag:] - x.mean()
    den = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / den) if den > 0 else 0.0


@dataclass
class _Fit:
    name: str
    bic: float
    coef: np.ndarray
    tau: int | None
    resid: np.ndarray
    effect: np.ndarray  # the intervention's contribution at each position (zeros for "none")


def _ols(X: np.ndarray, x: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    coef, *_ = np.linalg.lstsq(X[ok], x[ok], rcond=None)
    resid = x - X @ coef
    return coef, float(np.sum(resid[ok] ** 2)), resid


def _bic(rss: float, n: int, k: int) -> float:
    return n * math.log(max(rss, 1e-300) / n) + k * math.log(n)


def _fit_models(x: np.ndarray, seas: np.ndarray, s: int, e: int, m: int | None, search: int) -> list[_Fit]:
    """Least-squares fits of the five shapes (plus no change) on deseasonalised values ``x``."""
    n_all = len(x)
    ok = np.isfinite(x)
    n = int(ok.sum())
    t = np.arange(n_all, dtype=float)
    t = (t - t.mean()) / max(t.std(), 1.0)
    base = np.column_stack([np.ones(n_all), t])
    fits = []
    coef, rss, r = _ols(base, x, ok)
    fits.append(_Fit("none", _bic(rss, n, 2), coef, None, r, np.zeros(n_all)))
    pulse = ((np.arange(n_all) >= s) & (np.arange(n_all) <= e)).astype(float)
    coef, rss, r = _ols(np.column_stack([base, pulse]), x, ok)
    fits.append(_Fit("pulse", _bic(rss, n, 3), coef, s, r, pulse * coef[2]))
    taus = range(max(2, s - search), min(e, n_all - 2) + 1)
    idx = np.arange(n_all)
    for name, make, k in (
        ("level_shift", lambda tau: (idx >= tau).astype(float)[:, None], 4),
        ("trend_change", lambda tau: np.maximum(idx - tau + 1, 0).astype(float)[:, None] / max(n_all, 1), 4),
        ("season_scale", lambda tau: (seas * (idx >= tau))[:, None], 4),
        ("seasonality_break", lambda tau: _phase_columns(idx, tau, m), None),
    ):
        if name.startswith("season") and (not m or ok[s:].sum() < m + 2):
            continue
        best = None
        for tau in taus:
            extra = make(tau)
            extra = extra[:, extra[ok].any(axis=0)]
            if extra.shape[1] == 0:
                continue
            coef, rss, r = _ols(np.column_stack([base, extra]), x, ok)
            kk = k if k is not None else 3 + extra.shape[1]
            b = _bic(rss, n, kk)
            if best is None or b < best.bic:
                best = _Fit(name, b, coef, tau, r, extra @ coef[2:])
        if best is not None:
            fits.append(best)
    return fits


def _phase_columns(idx: np.ndarray, tau: int, m: int | None) -> np.ndarray:
    after = idx >= tau
    return np.column_stack([(after & (idx % m == p)).astype(float) for p in range(m)])


def _type_of(fit: _Fit) -> str:
    if fit.name == "pulse":
        return "spike" if fit.coef[2] > 0 else "drop"
    return "seasonality_break" if fit.name == "season_scale" else fit.name


def _weights(fits: list[_Fit]) -> np.ndarray:
    b = np.array([f.bic for f in fits])
    w = np.exp(-0.5 * (b - b.min()))
    return w / w.sum()


# --------------------------------------------------------------------------- public
def classify_anomaly(series: Any, start: Any, end: Any = None, *, freq: str | None = None,
                     unit: str = "", per_period: bool = True, params: TypeParams | dict | None = None
                     ) -> AnomalyShape:
    """Classify a flagged period of a series as one of :data:`ANOMALY_SHAPES`.

    Parameters
    ----------
    series : pandas.DataFrame with columns ds, y (or timestamp, value), or pandas.Series with a DatetimeIndex
        The metric at a regular frequency: the history before the flagged
        period, the period itself and, if available, what came after. Missing
        periods may be absent rows or empty values.
    start, end : datetime-like
        First and last flagged period (inclusive); ``end`` defaults to ``start``.
    freq : str, optional
        pandas frequency; inferred from the timestamps when omitted.
    unit : str, optional
        Unit of the values for the evidence ("USD", "orders").
    per_period : bool, default True
        Values are totals per period, so the evidence says "per day".
    params : TypeParams or dict, optional

    Returns
    -------
    AnomalyShape

    Raises
    ------
    aihub.errors.ValidationError
        Fewer than 8 periods, timestamps off a regular grid, a window outside
        the series, or invalid ``params``.
    """
    p = params if isinstance(params, TypeParams) else parse(TypeParams, params or {}, what="Anomaly type settings")
    frame = _as_frame(series)
    y, freq = _on_grid(frame, freq)
    t_start = pd.Timestamp(start)
    t_end = pd.Timestamp(end) if end is not None else t_start
    if t_end < t_start:
        raise ValidationError(f"end {t_end} is before start {t_start}.", field="end")
    in_win = (y.index >= t_start) & (y.index <= t_end)
    if not in_win.any():
        raise ValidationError(f"No period of the series falls between {t_start} and {t_end}; the series runs from "
                              f"{y.index[0]} to {y.index[-1]}.", field="start")
    s, e = int(np.flatnonzero(in_win)[0]), int(np.flatnonzero(in_win)[-1])
    ctx = _Context(y=y, s=s, e=e, freq=freq, unit=unit, per=f" per {period_word(freq)}" if per_period else "")
    n_missing = int(y.iloc[s:e + 1].isna().sum())
    if n_missing and n_missing >= p.missing_share * (e - s + 1):
        return _missing(ctx, n_missing)
    m = p.season_length or season_length_for(freq)
    hist = max(p.history, 4 * (m or 0))
    lo, hi = max(0, s - hist), min(len(y), e + 1 + p.after)
    values = y.to_numpy(float)
    profile, strength, acf_before = _seasonal_profile(values[lo:s], lo, m, p)
    m = len(profile) if profile is not None else None
    seg = values[lo:hi]
    idx = np.arange(lo, hi)
    seas = profile[idx % m] if m else np.zeros(len(seg))
    x = seg - seas
    fits = _fit_models(x, seas, s - lo, e - lo, m, p.search)
    ctx.seg_lo, ctx.x, ctx.seas, ctx.m, ctx.acf_before = lo, x, seas, m, acf_before
    return _describe(ctx, fits, strength)


def naive_type(series: Any, start: Any, end: Any = None) -> str:
    """The naive baseline: ``spike`` when the flagged values average above the history's median, else ``drop``.

    Parameters
    ----------
    series, start, end
        As :func:`classify_anomaly`.

    Returns
    -------
    str
        ``"spike"`` or ``"drop"``.
    """
    frame = _as_frame(series)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end if end is not None else start)
    win = frame[(frame["ds"] >= t0) & (frame["ds"] <= t1)]["y"]
    hist = frame[frame["ds"] < t0]["y"]
    return "spike" if len(win) and win.mean() > hist.median() else "drop"


# --------------------------------------------------------------------------- evidence
@dataclass
class _Context:
    y: pd.Series
    s: int
    e: int
    freq: str
    unit: str
    per: str
    seg_lo: int = 0
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seas: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m: int | None = None
    acf_before: float = float("nan")

    def when(self, i: int) -> str:
        return format_when(self.y.index[i], self.freq)

    def num(self, v: float) -> str:
        return format_compact(v, self.unit)

    def periods(self, k: int) -> str:
        word = period_word(self.freq)
        return f"{k} {word}{'s' if k != 1 else ''}"


def _missing(ctx: _Context, n_missing: int) -> AnomalyShape:
    k = ctx.e - ctx.s + 1
    before = ctx.y.iloc[max(0, ctx.s - 28):ctx.s].dropna()
    typical = float(before.median()) if len(before) else float("nan")
    span = ctx.when(ctx.s) if k == 1 else f"{ctx.when(ctx.s)} to {ctx.when(ctx.e)}"
    text = f"No data for {n_missing} of {ctx.periods(k)} ({span})"
    text += f"; about {ctx.num(typical)}{ctx.per} was typical before." if math.isfinite(typical) else "."
    figures = {"missing_periods": n_missing, "flagged_periods": k, "typical_before": _j(typical),
               "from": ctx.y.index[ctx.s].isoformat(), "to": ctx.y.index[ctx.e].isoformat()}
    return AnomalyShape("missing_data", round(n_missing / k, 4), text, figures, {"missing_data": n_missing / k})


def _j(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def _describe(ctx: _Context, fits: list[_Fit], strength: float) -> AnomalyShape:
    w = _weights(fits)
    by_type: dict[str, float] = {}
    for f, v in zip(fits, w):
        by_type[_type_of(f)] = by_type.get(_type_of(f), 0.0) + float(v)
    name = max((k for k in by_type if k != "none"), key=by_type.__getitem__)
    fit = max((f for f, v in zip(fits, w) if _type_of(f) == name), key=lambda f: -f.bic)
    text, figures = _EVIDENCE[fit.name](ctx, fit)
    figures["seasonal_strength"] = round(float(strength), 3)
    return AnomalyShape(name, round(by_type[name], 4), text, figures, {k: round(v, 4) for k, v in by_type.items()})


def _level(ctx: _Context, i0: int, i1: int) -> float:
    """Mean of the values (seasonality removed) between segment positions i0 and i1 (exclusive)."""
    v = ctx.x[max(0, i0):max(0, i1)]
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _pulse_evidence(ctx: _Context, fit: _Fit) -> tuple[str, dict[str, Any]]:
    s, e = ctx.s - ctx.seg_lo, ctx.e - ctx.seg_lo
    win = ctx.x[s:e + 1] + ctx.seas[s:e + 1]
    expected = win - fit.coef[2]
    j = int(np.nanargmax(win) if fit.coef[2] > 0 else np.nanargmin(win))
    peak, exp = float(win[j]), float(expected[j])
    verb = "Rose" if fit.coef[2] > 0 else "Fell"
    change = format_change(exp, peak)
    text = (f"{verb} to {ctx.num(peak)}{ctx.per} on {ctx.when(ctx.s + j)} from the expected {ctx.num(exp)}"
            f"{f' ({change})' if change else ''}")
    n_after = int(np.isfinite(ctx.x[e + 1:]).sum())
    if n_after >= 3:
        text += f", and was back to normal in the {ctx.periods(n_after)} after."
    else:
        text += "; there is too little data after it to tell whether the change lasts."
    return text, {"value": peak, "expected": exp, "at": ctx.y.index[ctx.s + j].isoformat(), "periods_after": n_after}


def _shift_evidence(ctx: _Context, fit: _Fit) -> tuple[str, dict[str, Any]]:
    tau = fit.tau
    span = max(4, ctx.m or 0)
    before, after = _level(ctx, tau - span, tau), _level(ctx, tau, len(ctx.x))
    n_after = int(np.isfinite(ctx.x[tau:]).sum())
    change = format_change(before, after)
    text = (f"Level shifted from {ctx.num(before)} to {ctx.num(after)}{ctx.per} on {ctx.when(ctx.seg_lo + tau)}"
            f"{f' ({change})' if change else ''} and stayed there for the {ctx.periods(n_after)} after.")
    return text, {"before": before, "after": after, "change_at": ctx.y.index[ctx.seg_lo + tau].isoformat(),
                  "periods_after": n_after}


def _trend_evidence(ctx: _Context, fit: _Fit) -> tuple[str, dict[str, Any]]:
    n_all = len(ctx.x)
    t = np.arange(n_all, dtype=float)
    slope_before = float(fit.coef[1] / max(t.std(), 1.0))
    slope_after = slope_before + float(fit.coef[2]) / max(n_all, 1)
    word = period_word(ctx.freq)
    sign = lambda v: ("+" if v >= 0 else "-") + format_compact(abs(v), ctx.unit)
    text = (f"Trend changed on {ctx.when(ctx.seg_lo + fit.tau)}: from {sign(slope_before)} to "
            f"{sign(slope_after)} per {word}.")
    return text, {"slope_before": slope_before, "slope_after": slope_after,
                  "change_at": ctx.y.index[ctx.seg_lo + fit.tau].isoformat()}


def _season_evidence(ctx: _Context, fit: _Fit) -> tuple[str, dict[str, Any]]:
    m, tau = ctx.m, fit.tau
    idx = np.arange(len(ctx.x))
    ok = np.isfinite(ctx.x)
    fitted_season = ctx.seas + fit.effect
    phase = (ctx.seg_lo + idx) % m
    before = np.array([ctx.seas[phase == p][0] for p in range(m)])
    after_ok = (idx >= tau) & ok
    after = np.array([fitted_season[(phase == p) & after_ok].mean() if ((phase == p) & after_ok).any()
                      else np.nan for p in range(m)])
    after = after - np.nanmean(after)
    swing_before = float(np.ptp(before))
    swing_after = float(np.nanmax(after) - np.nanmin(after))
    both = np.isfinite(after)
    corr = float(np.corrcoef(before[both], after[both])[0, 1]) if both.sum() > 2 and np.std(after[both]) > 0 else 0.0
    t = np.column_stack([np.ones(len(idx)), idx])
    coef, *_ = np.linalg.lstsq(t[ok], ctx.x[ok], rcond=None)
    acf_after = _lag_corr((ctx.x - t @ coef)[tau:], m)
    word = period_word(ctx.freq)
    text = (f"The {m}-{word} pattern changed on {ctx.when(ctx.seg_lo + tau)}: its swing went from "
            f"{ctx.num(swing_before)} to {ctx.num(swing_after)}")
    if corr < -0.5 and swing_after > 0.3 * swing_before:
        text += " and it turned upside down (peaks where the troughs were)"
    if math.isfinite(ctx.acf_before) and math.isfinite(acf_after):
        text += (f", and the autocorrelation at lag {m} of what the old pattern leaves unexplained went from "
                 f"{ctx.acf_before:.2f} to {acf_after:.2f}")
    text += "."
    return text, {"season_length": m, "swing_before": swing_before, "swing_after": swing_after,
                  "pattern_correlation": _j(corr),
                  "acf_before": _j(ctx.acf_before), "acf_after": _j(acf_after),
                  "change_at": ctx.y.index[ctx.seg_lo + tau].isoformat()}


_EVIDENCE = {"pulse": _pulse_evidence, "level_shift": _shift_evidence, "trend_change": _trend_evidence,
             "seasonality_break": _season_evidence, "season_scale": _season_evidence}
