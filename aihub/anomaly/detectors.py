"""Causal, streaming anomaly detectors for metric time series.

Every detector here scores each point using only the points before it (and
the point itself), so the score a point gets never changes when later data
arrives, and a monitor can be run in *streaming* mode: :func:`update` takes a
JSON state plus new points and returns their scores and the new state, with
the same results as scoring the whole series at once.

Pipeline (one metric)
---------------------
1. **Expected value and residual scale** from one or both components:

   ``robust_seasonal``
       A robust local level (median of the previous ``level_window`` learned
       values) plus, for each seasonal period (a day and a week by default),
       the median of the last ``n_seasons`` detrended values at the same phase
       (same time of day / of week). The residual scale is the MAD of the
       model's recent residuals (Rousseeuw & Croux 1993, "Alternatives to the
       median absolute deviation", JASA 88), falling back to the mean absolute
       deviation when the MAD is zero (Iglewicz & Hoaglin 1993). Among the
       non-seasonal and seasonal variants the one with the smallest recent
       mean absolute error is used at each point. This is a causal,
       rolling version of seasonal-trend decomposition (Cleveland et al. 1990,
       "STL", J. Official Statistics 6).

       **Incidents do not teach the model.** The model learns each value
       *winsorised* to the expected range ``[lower, upper]`` (the "pre-cleaning"
       of robust exponential smoothing, Gelper, Fried & Croux 2010, "Robust
       forecasting with exponential and Holt-Winters smoothing", J.
       Forecasting 29; like S-H-ESD, which removes anomalies before it
       estimates the median and MAD): a spike enters the level, the seasonal
       profile and the residual windows as a value at the edge of the range,
       so it neither drags the expected value nor inflates the scale the next
       points are judged by. A twin of the model that learns the raw values
       decides what is a lasting change: a value inside the twin's range is
       learned as it is, and the model takes over the twin's level window and
       that phase's seasonal values, so a level shift (which the twin adopts
       within about half a level window) or a new weekly pattern (two of
       three weeks) becomes the new normal instead of an endless incident.
       Clipped values go to the edge of the twin's range. Nothing is clipped
       during the seasonal warm-up (see 3.), while the model cannot yet tell
       an outlier from its own ignorance.
   ``forecast_band``
       A one-step forecast: an exponentially weighted level (simple
       exponential smoothing, ``ewma_alpha``) plus the same-phase seasonal
       median, with the band from the exponentially weighted root-mean-square
       of past forecast errors (adapts fast to changes in volatility). It
       learns the values winsorised by ``robust_seasonal``.
   ``isolation_forest``
       An isolation forest (Liu, Ting & Zhou 2008, "Isolation Forest", ICDM)
       refitted every ``iforest_refit`` points on the previous
       ``iforest_window`` points; features are the metric values
       (multivariate) or value, deviation from the local level and first
       difference (univariate), whitened with the training window's principal
       components so that axis-parallel splits can isolate points that break
       a correlation (the bias Hariri et al. 2019, "Extended Isolation
       Forest", describe). ``contamination`` sets the training-score quantile
       that maps to the alert threshold.
   ``auto``
       Both ``robust_seasonal`` and ``forecast_band``; their anomaly
       likelihoods are averaged (chosen on the NAB benchmark, see
       ``benchmarks/anomaly_nab.py``).

   A metric whose history has no negative value (revenue, counts) gets its
   expected value and the lower end of its range clipped at 0
   (``nonnegative``).

2. **Anomaly likelihood** (Ahmad, Lavin, Purdy & Agha 2017, "Unsupervised
   real-time anomaly detection for streaming data", Neurocomputing 262): the
   point's surprisal ``-log10 P(|Z| >= |z|)`` is averaged over the last
   ``short_window`` points and compared with the running distribution of that
   average (mean and variance over ``history_window`` points, about a year
   by default); the Gaussian
   tail probability ``p`` becomes the score ``-log10(p) / 10`` clipped to
   ``[0, 1]`` (0.5 is ``p = 1e-5``). A value outside the range seen so far by
   more than ``spatial_tolerance`` of that range, and at least 3 robust
   standard deviations from expected, also reaches the alert threshold (the
   "spatial anomaly" rule of Numenta's NAB detector, gated by the 3-sigma
   rule so that a growing business metric does not alert on every record).

   The likelihood keeps adapting to how noisy a series is, but an alarmed
   *incident* (the alarm and the outliers right after it) is kept out of
   the short window of later points and enters the running moments with its
   surprisal capped at that of a point on the edge of the expected range.
   Without that, two or three large incidents made the variance so wide that
   the next 30-sigma spike scored 0.16 for about a year.

3. **Alarms with cooldown**: a point alarms when its score reaches the alert
   threshold (the ``low`` severity threshold, raised by feedback rules where
   they apply), no alarm fired within the cooldown before it, and the score
   has dropped below the threshold since the last alarm. Points inside a
   cooldown get ``anomaly_score`` 0 (their unsuppressed score stays in
   ``raw_score``): one incident raises one alert. NAB (Lavin & Ahmad 2015,
   "Evaluating real-time anomaly detection algorithms - the Numenta Anomaly
   Benchmark", ICMLA) rewards exactly that: early detection of each anomaly
   window and few false positives. Nothing is scored before the seasonal
   profile exists (``n_seasons`` cycles of the shortest seasonal period of
   at least 4 points: 3 days of 5-minute data, 3 weeks of daily data).

Frequency-aware defaults
------------------------
Point counts left at None (``level_window``, ``scale_window``,
``min_periods``, ``warmup``, ``short_window``) and ``cooldown="auto"`` are
derived from the series' sampling interval (the median of its first 10 gaps)
by :meth:`DetectorParams.resolved`: intraday data keeps the counts the
detectors were designed with on 5-minute data; daily data alarms after about
three weeks, with a two-day cooldown and a half-year residual window.

State JSON
----------
States are strict JSON (``json.dumps(state, allow_nan=False)`` works, as
PostgreSQL ``jsonb`` requires): a ``null`` inside a list of numbers means
"no value" (a missing point, or a statistic not known yet), read back as NaN.
Infinite input values count as missing. Version-1 states (which could hold
NaN) are still read.

Rolling statistics and forecasts are vectorised with numpy/pandas; the
robust model, the likelihood and the alarm rule run as compiled sequential
loops (:mod:`aihub.anomaly._kernels`, numba), because what they learn from
a point depends on how the point was judged.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import log_ndtr, ndtri

from aihub.errors import ValidationError
from aihub.anomaly.severity import NO_SEVERITY, SeverityThresholds, severity_of

ALGORITHMS: tuple[str, ...] = ("auto", "robust_seasonal", "forecast_band", "isolation_forest")
"""Algorithm names accepted by :class:`DetectorParams`."""

STATE_FORMAT = "aihub.anomaly.detector_state"
STATE_VERSION = 2
_READABLE_VERSIONS = (1, 2)
# version 1 wrote these point counts explicitly; they were its defaults, not choices
_V1_DEFAULTS = {"level_window": 10, "scale_window": 288, "min_periods": 20, "warmup": 30, "short_window": 10}

OUTPUT_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "value",
    "expected",
    "lower",
    "upper",
    "z",
    "anomaly_score",
    "raw_score",
    "is_anomaly",
    "severity",
    "suppressed_by",
)
"""Columns of a scored univariate frame, in order."""

_LN10 = math.log(10.0)
_DAY = 86_400
_WEEK = 7 * _DAY
_MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4): MAD of a normal sample -> standard deviation
_MEANAD_TO_SD = 1.253314  # sqrt(pi / 2): mean absolute deviation of a normal -> sd
_GAP_WINDOW = 100
_SD_FLOOR = 1e-3
_REL_FLOOR = 1e-4
_SPATIAL_MIN_Z = 3.0  # a new record must also be >= 3 robust SDs from expected


# --------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------


def _duration_seconds(value: Any, name: str) -> int:
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ValidationError(
            f"'{name}' must be a duration such as '1D', '12h' or '7D'; got {value!r}.",
            field=f"detection_config.{name}",
            details={"value": repr(value)},
        ) from None
    seconds = int(td.total_seconds())
    if seconds <= 0:
        raise ValidationError(
            f"'{name}' must be a positive duration; got {value!r}.",
            field=f"detection_config.{name}",
            details={"value": repr(value)},
        )
    return seconds


@dataclass(frozen=True)
class DetectorParams:
    """Detector parameters, validated in one place (:meth:`__post_init__`).

    Parameters
    ----------
    algorithm : {"auto", "robust_seasonal", "forecast_band", "isolation_forest"}
        Which detector to run; see the module docstring.
    level_window : int or None, default None
        Points in the robust local level (median of the previous points).
        None (frequency-aware, see :meth:`resolved`): 10 for intraday data,
        two seasonal cycles for daily or coarser data (14 days of daily data,
        so every weekday weighs the same in the median).
    ewma_alpha : float, default 0.2
        Smoothing factor of the ``forecast_band`` level, in ``(0, 1]``.
    seasonal_periods : tuple of str, default ("1D", "7D")
        Seasonal periods as durations. Points are matched by exact phase
        (timestamp modulo the period), so irregular timestamps simply get no
        seasonal prediction. Use ``()`` for no seasonality.
    n_seasons : int, default 3
        Past periods used for the seasonal profile.
    scale_window : int or None, default None
        Points in the residual-scale and model-selection windows. None
        (frequency-aware, see :meth:`resolved`): 288 for intraday data (a day
        of 5-minute data), 26 seasonal cycles for daily or coarser data (half
        a year of daily data).
    min_periods : int or None, default None
        Residuals needed before a point is scored. None: 20 for intraday
        data, 2 seasonal cycles (at least 12 points) for daily or coarser data.
    warmup : int or None, default None
        Likelihood samples needed before the likelihood (and alarms) start;
        so the first alarm can come after about ``min_periods + warmup``
        points. None: 30 for intraday data, one seasonal cycle (at least 6
        points) for daily or coarser data (about three weeks in all for
        daily data).
    short_window : int or None, default None
        Points averaged in the anomaly likelihood. None: 10 for intraday data
        (Ahmad et al. 2017), one seasonal cycle (at most 10) for daily or
        coarser data.
    history_window : int or None, default None
        Effective memory, in points, of the likelihood's running mean and
        variance (expanding mean until then). None: one year of points, at
        least 100 and at most 8640 (the value of Ahmad et al. 2017 for data
        every 5 minutes), from the spacing of the first 10 points.
    cooldown : str, default "auto"
        Duration after an alarm during which no new alarm fires; in any case
        a new alarm needs the score to have dropped below the alert
        threshold since the last one (one episode, one alarm). ``"auto"``:
        a day for intraday data, two sampling intervals for daily or coarser
        data (an alarm on Monday blocks Tuesday). ``"none"`` disables the
        duration.
    spatial_tolerance : float or None, default 0.05
        A value beyond the running min/max by more than this fraction of the
        running range, and at least 3 robust standard deviations from the
        expected value, reaches the alert threshold. None disables.
    nonnegative : bool or None, default None
        Clip the expected value and the lower end of the expected range at 0.
        None: for points whose metric history so far has no negative value
        (revenue, counts).
    contamination : float, default 0.01
        ``isolation_forest`` only: expected share of anomalous points, in
        ``(0, 0.5)``; the training-score quantile at ``1 - contamination``
        maps to the alert threshold.
    iforest_window, iforest_refit, n_estimators, random_state : int
        ``isolation_forest`` only: training window, refit interval (points),
        trees and seed.
    band_z : float or None, default None
        Half-width of the expected range ``[lower, upper]`` in robust standard
        deviations. None derives it from the alert threshold: a lone point
        outside the band is as improbable as the alert level (4.42 for 0.5).

    Raises
    ------
    aihub.errors.ValidationError
        With ``field="detection_config.<name>"``, the bad value and the allowed
        range or set.
    """

    algorithm: str = "auto"
    level_window: int | None = None
    ewma_alpha: float = 0.2
    seasonal_periods: tuple[str, ...] = ("1D", "7D")
    n_seasons: int = 3
    scale_window: int | None = None
    min_periods: int | None = None
    warmup: int | None = None
    short_window: int | None = None
    history_window: int | None = None
    cooldown: str = "auto"
    spatial_tolerance: float | None = 0.05
    nonnegative: bool | None = None
    contamination: float = 0.01
    iforest_window: int = 512
    iforest_refit: int = 256
    n_estimators: int = 100
    random_state: int = 0
    band_z: float | None = None

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: str) -> ValidationError:
            return ValidationError(
                f"detection_config.{name} must be {allowed}; got {value!r}.",
                field=f"detection_config.{name}",
                details={"value": repr(value), "allowed": allowed},
            )

        if self.algorithm not in ALGORITHMS:
            raise ValidationError(
                f"Unknown algorithm {self.algorithm!r}; allowed: {list(ALGORITHMS)}.",
                field="algorithm",
                details={"value": self.algorithm, "allowed": list(ALGORITHMS)},
            )
        auto_ints = {"level_window": 1, "scale_window": 2, "min_periods": 1, "warmup": 1, "short_window": 1}
        for name, low in auto_ints.items():
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise bad(name, v, f"an integer >= {low} or null (frequency-aware default)")
            object.__setattr__(self, name, int(v))
        ints = {
            "n_seasons": 1,
            "iforest_window": 16,
            "iforest_refit": 1,
            "n_estimators": 1,
            "random_state": 0,
        }
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise bad(name, v, f"an integer >= {low}")
            object.__setattr__(self, name, int(v))
        hw = self.history_window
        if hw is not None:
            if isinstance(hw, bool) or not isinstance(hw, (int, np.integer)) or hw < 2:
                raise bad("history_window", hw, "an integer >= 2 or null")
            object.__setattr__(self, "history_window", int(hw))
        if self.min_periods is not None and self.scale_window is not None and self.min_periods > self.scale_window:
            raise bad("min_periods", self.min_periods, f"an integer <= scale_window ({self.scale_window})")
        if self.nonnegative is not None and not isinstance(self.nonnegative, (bool, np.bool_)):
            raise bad("nonnegative", self.nonnegative, "true, false or null (automatic)")
        if self.nonnegative is not None:
            object.__setattr__(self, "nonnegative", bool(self.nonnegative))
        for name in ("ewma_alpha",):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise bad(name, v, "a number in (0, 1]")
            object.__setattr__(self, name, float(v))
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < 0.5:
            raise bad("contamination", c, "a number in (0, 0.5)")
        object.__setattr__(self, "contamination", float(c))
        t = self.spatial_tolerance
        if t is not None:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t < math.inf:
                raise bad("spatial_tolerance", t, "a number >= 0 or null")
            object.__setattr__(self, "spatial_tolerance", float(t))
        b = self.band_z
        if b is not None:
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b < math.inf:
                raise bad("band_z", b, "a positive number or null")
            object.__setattr__(self, "band_z", float(b))
        periods = self.seasonal_periods
        if isinstance(periods, str):
            periods = (periods,)
        if not isinstance(periods, (list, tuple)):
            raise bad("seasonal_periods", periods, "a list of durations such as ['1D', '7D']")
        object.__setattr__(self, "seasonal_periods", tuple(str(p) for p in periods))
        for p in self.seasonal_periods:
            _duration_seconds(p, "seasonal_periods")
        cd = self.cooldown
        if cd is None:
            cd = "none"
        cd = str(cd)
        if cd not in ("auto", "none"):
            _duration_seconds(cd, "cooldown")
        object.__setattr__(self, "cooldown", cd)

    @property
    def period_seconds(self) -> tuple[int, ...]:
        """Seasonal periods in seconds."""
        return tuple(_duration_seconds(p, "seasonal_periods") for p in self.seasonal_periods)

    def resolved(self, spacing: float | None) -> "DetectorParams":
        """These parameters with the frequency-aware defaults (None) filled in.

        ``spacing`` is the typical sampling interval in seconds (None:
        unknown, treated as intraday). Intraday data keeps the point counts
        the detectors were designed and benchmarked with on 5-minute data
        (NAB). For daily or coarser data the counts follow the seasonal
        cycle ``C``: the points in the longest configured seasonal period that
        spans at least 4 points (7 for daily data with a weekly period),
        else 6. Then ``level_window = 2C``, ``min_periods = max(2C, 12)``,
        ``warmup = max(C, 6)``, ``scale_window = max(26C, min_periods)`` and
        ``short_window = min(C, 10)``: daily data can alarm after about three
        weeks, and its residual scale covers about half a year.
        """
        if spacing is None or not np.isfinite(spacing) or spacing < _DAY:
            auto = {"level_window": 10, "scale_window": 288, "min_periods": 20, "warmup": 30, "short_window": 10}
        else:
            cyc = [q / spacing for q in self.period_seconds if q / spacing >= 4]
            c = round(max(cyc)) if cyc else 6
            mp = max(2 * c, 12)
            auto = {"level_window": 2 * c, "scale_window": max(26 * c, mp), "min_periods": mp, "warmup": max(c, 6),
                    "short_window": min(c, 10)}
        changes = {k: v for k, v in auto.items() if getattr(self, k) is None}
        if self.scale_window is not None and self.min_periods is None:
            changes["min_periods"] = min(changes["min_periods"], self.scale_window)
        if self.min_periods is not None and self.scale_window is None:
            changes["scale_window"] = max(changes["scale_window"], self.min_periods)
        return replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all parameters."""
        d = asdict(self)
        d["seasonal_periods"] = list(self.seasonal_periods)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, **overrides: Any) -> "DetectorParams":
        """Build from a ``detection_config`` mapping; unknown keys are rejected.

        Raises
        ------
        aihub.errors.ValidationError
            ``field="detection_config.<key>"`` for an unknown key, listing the
            allowed keys.
        """
        d = dict(data or {})
        d.update(overrides)
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise ValidationError(
                f"Unknown detection_config key(s) {unknown}; allowed: {allowed}.",
                field=f"detection_config.{unknown[0]}",
                details={"allowed": allowed},
            )
        return cls(**d)


# --------------------------------------------------------------------------------------
# small vectorised helpers
# --------------------------------------------------------------------------------------


def _arr(values: Any, dtype: Any = float) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype=dtype)


def _num(v: Any) -> float:
    """A stored number, None (JSON null) meaning unknown (NaN)."""
    return np.nan if v is None else float(v)


def _json_num(v: float) -> float | None:
    """A float for a JSON state: None (null) for NaN/infinite (see "State JSON" in the module docstring)."""
    v = float(v)
    return v if math.isfinite(v) else None


def _json_list(a: Any) -> list:
    """A float array as a JSON list: non-finite entries become None (null), nested arrays stay nested."""
    arr = np.asarray(a, dtype=float)
    lst = arr.tolist()
    if arr.size and not np.isfinite(arr).all():
        if arr.ndim == 1:
            return [v if math.isfinite(v) else None for v in lst]
        return [[v if math.isfinite(v) else None for v in row] for row in lst]
    return lst


def _tail(a: np.ndarray, k: int) -> np.ndarray:
    return a[len(a) - k :] if 0 < k < len(a) else (a if k > 0 else a[:0])


def _lagged_rolling(full: np.ndarray, window: int, min_periods: int, how: str) -> np.ndarray:
    """Rolling statistic over the ``window`` values *before* each position."""
    roll = pd.Series(full).shift(1).rolling(window, min_periods=min_periods)
    return getattr(roll, how)().to_numpy()


def _ewm_lagged(values: np.ndarray, alpha: float, prev: Sequence[float] | None) -> tuple[np.ndarray, list[float]]:
    """Exponentially weighted mean of the values *before* each position.

    Bias-corrected form (pandas ``adjust=True``): ``num_t = (1 - alpha) num_{t-1}
    + x_t``, ``den_t = (1 - alpha) den_{t-1} + 1`` and mean ``num / den``; a
    missing value adds nothing but the past still decays. ``prev`` is the
    ``[num, den]`` pair of a previous run, continued exactly
    (``scipy.signal.lfilter`` with initial conditions).
    """
    decay = 1.0 - alpha
    num0, den0 = (float(prev[0]), float(prev[1])) if prev else (0.0, 0.0)
    if len(values) == 0:
        return np.empty(0), [num0, den0]
    ok = np.isfinite(values)
    xv = np.where(ok, values, 0.0)
    b, a = [1.0], [1.0, -decay]
    num = lfilter(b, a, xv, zi=[decay * num0])[0]
    den = lfilter(b, a, ok.astype(float), zi=[decay * den0])[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        after = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        first = num0 / den0 if den0 > 0 else np.nan
    lag = np.r_[first, after[:-1]]
    return lag, [float(num[-1]), float(den[-1])]


def _surprisal(z: np.ndarray) -> np.ndarray:
    """``-log10 P(|Z| >= |z|)`` for a standard normal Z (NaN stays NaN), capped at 50."""
    az = np.abs(z)
    with np.errstate(invalid="ignore"):
        s = -(log_ndtr(-az) + math.log(2.0)) / _LN10
    return np.minimum(s, 50.0)


def _score_from_logp(neg_log10_p: np.ndarray) -> np.ndarray:
    return np.clip(neg_log10_p / 10.0, 0.0, 1.0)


def _z_for_score(score: float) -> float:
    """Two-sided normal quantile whose tail probability has the given score."""
    p = 10.0 ** (-10.0 * score)
    return float(-ndtri(p / 2.0))


def _to_seconds(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    idx = pd.DatetimeIndex(ts)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy(dtype="datetime64[s]").astype(np.int64)


# --------------------------------------------------------------------------------------
# seasonal profile shared by both components
# --------------------------------------------------------------------------------------


def _seasonal(
    ts: np.ndarray, d: np.ndarray, st: Mapping[str, Any] | None, period: int, k: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Seasonal component: median of the last ``k`` same-phase detrended values.

    Same phase means equal ``timestamp mod period``. The ``k``-th previous
    occurrence must lie within ``(k + 0.5)`` periods and at least half of the
    ``k`` values must be known (points treated as missing leave gaps),
    otherwise NaN. The state keeps the (timestamp, value) pairs of the last
    ``(k + 0.5)`` periods.
    """
    st = st or {}
    t_old = _arr(st.get("t"), np.int64)
    d_old = _arr(st.get("d"))
    T = np.r_[t_old, ts]
    D = np.r_[d_old, d]
    m, n_old = len(T), len(t_old)
    phase = T % period
    order = np.lexsort((np.arange(m), phase))
    ds, ph, tt = D[order], phase[order], T[order]
    prev = np.full((k, m), np.nan)
    for j in range(1, k + 1):
        prev[j - 1, j:] = ds[:-j]
    jk = np.arange(m) - k
    jj = np.clip(jk, 0, None)
    ok = (jk >= 0) & (ph[jj] == ph) & ((tt - tt[jj]) <= (k + 0.5) * period)
    ok &= np.isfinite(prev).sum(axis=0) >= (k + 1) // 2
    val = np.median(prev, axis=0) if m else np.empty(0)
    gaps = ~np.isfinite(val)
    if gaps.any():  # only where some past values are missing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            val[gaps] = np.nanmedian(prev[:, gaps], axis=0)
    out = np.empty(m)
    out[order] = np.where(ok, val, np.nan)
    if m:
        keep = T >= T.max() - (k + 0.5) * period
        new_st = {"t": T[keep].tolist(), "d": _json_list(D[keep])}
    else:
        new_st = {"t": [], "d": []}
    return out[n_old:], new_st


# --------------------------------------------------------------------------------------
# components: expected value, scale and standardised residual
# --------------------------------------------------------------------------------------


def _select(models: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], n: int):
    """Pick, per point, the model with the smallest recent mean absolute error."""
    best = np.full(n, np.inf)
    expected = np.full(n, np.nan)
    scale = np.full(n, np.nan)
    for e, sc, crit in models.values():
        better = np.isfinite(e) & np.isfinite(sc) & np.isfinite(crit) & (crit < best)
        best = np.where(better, crit, best)
        expected = np.where(better, e, expected)
        scale = np.where(better, sc, scale)
    return expected, scale


def _robust_component(
    ts: np.ndarray,
    x: np.ndarray,
    st: Mapping[str, Any] | None,
    p: DetectorParams,
    clean_z: float = math.inf,
    clean_from: float = -math.inf,
):
    """Robust seasonal model (see the module docstring): expected, scale, learned values, state.

    Runs sequentially (:func:`aihub.anomaly._kernels.robust_seasonal_loop`).
    With a finite ``clean_z`` each value is learned from (level window,
    seasonal medians, residual windows) after clipping it to ``expected +-
    clean_z * scale`` - the "pre-cleaning" of robust exponential smoothing
    (Gelper, Fried & Croux 2010, J. Forecasting 29) - so an incident enters
    the model as a value at the edge of the expected range and neither drags
    the level and seasonal profile nor inflates the scale the next points are
    judged by. A copy of the model that learns the raw values gates the
    clipping: a value inside that copy's band is learned as it is, so a
    lasting change (which the raw copy adopts within about half a level
    window) becomes the new normal instead of an endless incident.
    """
    from aihub.anomaly._kernels import fill_rings, robust_seasonal_loop

    st = st or {}
    n, w, S, k = len(x), p.level_window, p.scale_window, p.n_seasons
    periods = list(p.period_seconds)
    names = ["level"] + [f"season_{q}" for q in periods]
    P, M = len(periods), len(periods) + 1
    G = 2 if math.isfinite(clean_z) else 1
    insts = [st] + ([st.get("raw") or {}] if G == 2 else [])
    lev = np.full((G, w), np.nan)
    res = np.full((G, M, S), np.nan)
    ax = np.full((G, S), np.nan)
    pos = np.zeros(G, np.int64)
    fill = np.zeros(G, np.int64)
    rsum = np.zeros((G, M))
    rcnt = np.zeros((G, M))
    xsum = np.zeros(G)
    xcnt = np.zeros(G)
    t_old = [[_arr(((g.get("seasonal") or {}).get(str(q)) or {}).get("t"), np.int64) for q in periods] for g in insts]
    d_old = [[_arr(((g.get("seasonal") or {}).get(str(q)) or {}).get("d")) for q in periods] for g in insts]
    for g, ist in enumerate(insts):
        old = _arr(ist.get("x"))[-w:]
        if len(old):
            lev[g, w - len(old) :] = old
        lens = []
        for m, name in enumerate(names):
            a = _arr((ist.get("abs_r") or {}).get(name))[-S:]
            res[g, m, : len(a)] = a
            lens.append(len(a))
        a = _arr(ist.get("abs_x"))[-S:]
        ax[g, : len(a)] = a
        fill[g] = max(lens + [len(a)])
        pos[g] = fill[g] % S
        sums = ist.get("sums") or {}
        for m, name in enumerate(names):
            sc = (sums.get("abs_r") or {}).get(name)
            w_m = res[g, m][np.isfinite(res[g, m])]
            rsum[g, m], rcnt[g, m] = (float(sc[0]), float(sc[1])) if sc else (float(w_m.sum()), float(len(w_m)))
        sc = sums.get("abs_x")
        w_x = ax[g][np.isfinite(ax[g])]
        xsum[g], xcnt[g] = (float(sc[0]), float(sc[1])) if sc else (float(w_x.sum()), float(len(w_x)))
    # phase slots per period, over the stored entries of every instance and the new points
    slot = np.zeros((P, n), np.int64)
    old_slots = [[None] * P for _ in insts]
    n_slots = 1
    for q, period in enumerate(periods):
        allt = np.concatenate([t_old[g][q] for g in range(G)] + [ts])
        _, inv = np.unique(allt % period, return_inverse=True)
        inv = inv.astype(np.int64).reshape(-1)
        off = 0
        for g in range(G):
            old_slots[g][q] = inv[off : off + len(t_old[g][q])]
            off += len(t_old[g][q])
        slot[q] = inv[off:]
        n_slots = max(n_slots, int(inv.max()) + 1 if len(inv) else 1)
    ring_t = np.zeros((G, P, n_slots, k), np.int64)
    ring_d = np.full((G, P, n_slots, k), np.nan)
    ring_n = np.zeros((G, P, n_slots), np.int64)
    for g in range(G):
        for q in range(P):
            if len(t_old[g][q]):
                fill_rings(old_slots[g][q], t_old[g][q], np.ascontiguousarray(d_old[g][q], float),
                           ring_t[g, q], ring_d[g, q], ring_n[g, q])
    expected, scale, cleaned = robust_seasonal_loop(
        np.ascontiguousarray(x, float), np.ascontiguousarray(ts, np.int64), slot,
        np.array(periods, np.int64), int(k), int(p.min_periods), float(clean_z), float(clean_from),
        lev, ring_t, ring_d, ring_n, res, ax, pos, fill, rsum, rcnt, xsum, xcnt,
    )
    last_t = int(ts[-1]) if n else None
    states = []
    for g in range(G):
        f, ps = int(fill[g]), int(pos[g])
        order = np.r_[np.arange(ps, S), np.arange(0, ps)] if f == S else np.arange(f)
        seas_state = {}
        for q, period in enumerate(periods):
            cnt = ring_n[g, q]
            mask = np.arange(k)[None, :] < cnt[:, None]
            tt, dd = ring_t[g, q][mask], ring_d[g, q][mask]
            lt = last_t if last_t is not None else (int(tt.max()) if len(tt) else None)
            if lt is not None and len(tt):
                keep = tt >= lt - (k + 0.5) * period
                tt, dd = tt[keep], dd[keep]
            o = np.argsort(tt, kind="stable")
            seas_state[str(period)] = {"t": tt[o].tolist(), "d": _json_list(dd[o])}
        states.append({
            "x": _json_list(lev[g]),
            "abs_x": _json_list(ax[g][order]),
            "seasonal": seas_state,
            "abs_r": {name: _json_list(res[g, m][order]) for m, name in enumerate(names)},
            "sums": {"abs_r": {name: [float(rsum[g, m]), float(rcnt[g, m])] for m, name in enumerate(names)},
                     "abs_x": [float(xsum[g]), float(xcnt[g])]},
        })
    new_st = states[0]
    if G == 2:
        new_st["raw"] = states[1]
    return expected[0], scale[0], cleaned, new_st


def _forecast_component(ts: np.ndarray, x: np.ndarray, st: Mapping[str, Any] | None, p: DetectorParams):
    st = st or {}
    n, S = len(x), p.scale_window
    a_s = 1.0 / S
    level, level_last = _ewm_lagged(x, p.ewma_alpha, st.get("level"))
    absx, absx_last = _ewm_lagged(np.abs(x), a_s, st.get("abs_x"))
    floor = _REL_FLOOR * absx + 1e-12
    cand = {"level": level}
    seas_state = {}
    for period in p.period_seconds:
        key = str(period)
        seas, seas_state[key] = _seasonal(
            ts, x - level, (st.get("seasonal") or {}).get(key), period, p.n_seasons
        )
        cand[f"season_{key}"] = level + seas
    models = {}
    ms_state, mae_state, cnt_state = {}, {}, {}
    for name, e in cand.items():
        r = x - e
        ms, ms_state[name] = _ewm_lagged(r * r, a_s, (st.get("ms") or {}).get(name))
        mae, mae_state[name] = _ewm_lagged(np.abs(r), a_s, (st.get("mae") or {}).get(name))
        c0 = int((st.get("count") or {}).get(name, 0))
        valid = np.isfinite(r).astype(np.int64)
        seen = c0 + np.r_[0, np.cumsum(valid)[:-1]] if n else np.empty(0, np.int64)
        cnt_state[name] = c0 + int(valid.sum())
        ok = seen >= p.min_periods
        sc = np.where(ok, np.maximum(np.sqrt(ms), floor), np.nan)
        models[name] = (e, sc, np.where(ok, mae, np.nan))
    expected, scale = _select(models, n)
    new_st = {
        "level": level_last,
        "abs_x": absx_last,
        "seasonal": seas_state,
        "ms": ms_state,
        "mae": mae_state,
        "count": cnt_state,
    }
    return expected, scale, new_st


# --------------------------------------------------------------------------------------
# anomaly likelihood
# --------------------------------------------------------------------------------------


def _warm_end(state: Mapping[str, Any], p: DetectorParams, spacing: float | None) -> float:
    """End (seconds) of the seasonal warm-up: no score before the seasonal profile exists.

    That is ``n_seasons`` cycles of the shortest seasonal period spanning at
    least 4 sampling intervals after the first point: 3 days for 5-minute or
    hourly data with a daily period, 3 weeks for daily data with a weekly one.
    Without such a period only ``min_periods`` and ``warmup`` apply.
    """
    t0 = state.get("first_timestamp")
    if t0 is None or not spacing or not np.isfinite(spacing):
        return -math.inf
    usable = [q for q in p.period_seconds if q >= 4 * spacing]
    return float(t0) + (p.n_seasons * min(usable) if usable else 0.0)


def _nonnegative_history(x: np.ndarray, vmin: Any, p: DetectorParams) -> tuple[np.ndarray, float | None]:
    """Per point: clip expected values at 0 (``DetectorParams.nonnegative``); and the new running minimum.

    Automatic (None): the values seen before the point (learnable, finite)
    include no negative one.
    """
    v0 = np.inf if vmin is None else float(vmin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = np.fmin.accumulate(np.r_[v0, x]) if len(x) else np.array([v0])
    new = _json_num(run[-1])
    if p.nonnegative is not None:
        return np.full(len(x), p.nonnegative), new
    return run[:-1] >= 0, new


def _history_points(p: DetectorParams, spacing: float | None) -> int:
    """Likelihood memory in points (see ``DetectorParams.history_window``)."""
    if p.history_window is not None:
        return p.history_window
    if spacing is None or not np.isfinite(spacing) or spacing <= 0:
        return 8640
    return int(min(8640, max(100, round(365 * _DAY / spacing))))


def _likelihood_alarms(
    names: Sequence[str],
    zs: Sequence[np.ndarray],
    learn: np.ndarray,
    clipped: np.ndarray,
    force: np.ndarray,
    quiet: np.ndarray,
    pblock: np.ndarray,
    rule_thr: float,
    ts: np.ndarray,
    medgap: np.ndarray,
    likes: Mapping[str, Any],
    cooldown_state: Mapping[str, Any] | None,
    p: DetectorParams,
    H: int,
    alert: float,
    band: float,
):
    """Anomaly likelihood (Ahmad et al. 2017) of each component, averaged, then alarms.

    For each component the statistic is the mean surprisal of the point and
    the previous ``short_window - 1`` learned points, compared with the
    running mean and variance of that statistic. Points of a known recurring
    pattern (``learn`` False) and points of an alarmed incident (see
    :func:`aihub.anomaly._kernels.likelihood_alarm_loop`) are scored but not
    learned. Alarms and cooldown as in :func:`_alarms`.

    Returns ``raw, alarm, in_cooldown, blocked, new likelihood states, new cooldown state``.
    """
    from aihub.anomaly._kernels import likelihood_alarm_loop

    n, C, km1 = len(ts), len(names), p.short_window - 1
    S = np.column_stack([_surprisal(z) for z in zs]) if n else np.empty((0, C))
    buf = np.full((C, km1), np.nan)
    mom = np.zeros((C, 5))
    for c, name in enumerate(names):
        st = likes.get(name) or {}
        old = _arr(st.get("s"))[-km1:] if km1 else np.empty(0)
        if len(old):
            buf[c, km1 - len(old) :] = old
        mm = st.get("moments") or {}
        n0 = int(mm.get("n", 0))
        mom[c] = [n0, float(mm.get("sum", 0.0)), float(mm.get("sumsq", 0.0)),
                  _num(mm.get("mean")) if n0 else np.nan, _num(mm.get("sq")) if n0 else np.nan]
    cd = _cooldown_in(cooldown_state)
    cd_sec = _cooldown_seconds(p.cooldown, medgap)
    raw, alarm, in_cd, blocked = likelihood_alarm_loop(
        np.ascontiguousarray(S, float), np.ascontiguousarray(learn, bool), np.ascontiguousarray(clipped, bool),
        np.ascontiguousarray(force, bool), np.ascontiguousarray(quiet, bool), np.ascontiguousarray(pblock, bool),
        float(rule_thr), np.ascontiguousarray(ts, np.int64), cd_sec, float(alert), int(p.warmup), int(H),
        0, _SD_FLOOR, float(_surprisal(np.array([band]))[0]), buf, mom, cd,
    )
    new_likes = dict(likes)
    for c, name in enumerate(names):
        n_c = int(mom[c, 0])
        new_likes[name] = {
            "s": _json_list(buf[c]) if km1 else [],
            "moments": {"n": n_c, "sum": float(mom[c, 1]), "sumsq": float(mom[c, 2]),
                        "mean": _json_num(mom[c, 3]) if n_c else None, "sq": _json_num(mom[c, 4]) if n_c else None},
        }
    return raw, alarm, in_cd, blocked, new_likes, _cooldown_out(cd)


def _spatial(x: np.ndarray, x_learn: np.ndarray, st: Mapping[str, Any] | None, p: DetectorParams):
    """Flag values beyond the running range of the learnable values seen before."""
    st = st or {}
    lo0 = st.get("min")
    hi0 = st.get("max")
    lo0 = np.nan if lo0 is None else lo0
    hi0 = np.nan if hi0 is None else hi0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.fmin.accumulate(np.r_[lo0, x_learn])
        hi = np.fmax.accumulate(np.r_[hi0, x_learn])
    n0 = int(st.get("n", 0))
    valid = np.isfinite(x_learn)
    cnt = n0 + np.r_[0, np.cumsum(valid)]
    lo_b, hi_b, cnt_b = lo[:-1], hi[:-1], cnt[:-1]
    new = {
        "n": int(cnt[-1]),
        "min": None if not np.isfinite(lo[-1]) else float(lo[-1]),
        "max": None if not np.isfinite(hi[-1]) else float(hi[-1]),
    }
    if p.spatial_tolerance is None:
        return np.zeros(len(x), bool), new
    with np.errstate(invalid="ignore"):
        tol = p.spatial_tolerance * (hi_b - lo_b)
        flag = (cnt_b >= p.warmup) & ((x > hi_b + tol) | (x < lo_b - tol))
    return flag, new


# --------------------------------------------------------------------------------------
# isolation forest
# --------------------------------------------------------------------------------------


def _iforest_features(x: np.ndarray, st: Mapping[str, Any], p: DetectorParams):
    """Univariate features: value, deviation from local level, first difference."""
    x_old = _arr(st.get("x"))
    X = np.r_[x_old, x]
    level = _lagged_rolling(X, p.level_window, 1, "median")[len(x_old) :]
    prev = np.r_[x_old[-1] if len(x_old) else np.nan, x[:-1]] if len(x) else x
    F = np.column_stack([x, x - level, x - prev])
    return F, _json_list(_tail(X, p.level_window))


def _iforest_component(F: np.ndarray, st: Mapping[str, Any] | None, p: DetectorParams, alert: float):
    """Score rows of ``F`` with forests refitted on the preceding rows.

    A forest is fitted before global row ``i`` whenever ``i >= start`` and
    ``(i - start) % iforest_refit == 0`` (``start = max(64, warmup)``) on the
    last ``iforest_window`` complete rows before ``i``; rows before the first
    fit are not scored. The state keeps the rows the current forest was fitted
    on, so a streaming update refits the identical forest (fixed seed).
    """
    from sklearn.ensemble import IsolationForest

    st = st or {}
    n0 = int(st.get("n", 0))
    k = F.shape[1]
    buf = np.asarray(st.get("buffer") or np.empty((0, k)), float).reshape(-1, k)
    train = st.get("train")
    train = None if train is None else np.asarray(train, float).reshape(-1, k)
    start = max(64, p.warmup)
    z_alert = _z_for_score(alert)
    scores = np.zeros(len(F))
    raw = np.full(len(F), np.nan)
    model = cal = None

    def fit(rows: np.ndarray):
        rows = rows[np.all(np.isfinite(rows), axis=1)]
        if len(rows) < 16:
            return None, None
        # whiten (PCA rotation + unit variance) so that axis-parallel splits can
        # isolate points that break a correlation between metrics
        mu = rows.mean(axis=0)
        cov = np.atleast_2d(np.cov(rows - mu, rowvar=False))
        vals, vecs = np.linalg.eigh(cov)
        vals = np.maximum(vals, 1e-9 * max(float(vals.max()), 1e-300) + 1e-300)
        w = vecs / np.sqrt(vals)
        f = IsolationForest(
            n_estimators=p.n_estimators,
            max_samples=min(256, len(rows)),
            random_state=p.random_state,
        ).fit((rows - mu) @ w)
        s_tr = -f.score_samples((rows - mu) @ w)
        q = float(np.quantile(s_tr, 1.0 - p.contamination))
        mad = float(np.median(np.abs(s_tr - np.median(s_tr)))) * _MAD_TO_SD
        return (f, mu, w), (q, max(mad, 1e-9))

    if train is not None:
        model, cal = fit(train)
    full = np.r_[buf, F] if len(F) else buf
    off = len(buf)
    i = 0
    while i < len(F):
        g = n0 + i
        if g >= start and (g - start) % p.iforest_refit == 0:
            train = full[max(0, off + i - p.iforest_window) : off + i]
            model, cal = fit(train)
        # score until the next refit boundary
        if g < start:
            j = min(len(F), i + (start - g))
        else:
            j = min(len(F), i + p.iforest_refit - (g - start) % p.iforest_refit)
        if model is not None:
            block = F[i:j]
            ok = np.all(np.isfinite(block), axis=1)
            if ok.any():
                f, mu, w = model
                s = -f.score_samples((block[ok] - mu) @ w)
                zz = z_alert + (s - cal[0]) / cal[1]
                sc = np.where(zz > 0, _score_from_logp(_surprisal(zz)), 0.0)
                tmp = np.zeros(j - i)
                tmp[ok] = sc
                scores[i:j] = tmp
                tmp2 = np.full(j - i, np.nan)
                tmp2[ok] = s
                raw[i:j] = tmp2
        i = j
    new = {
        "n": n0 + len(F),
        "buffer": _json_list(_tail(full, p.iforest_window)),
        "train": None if train is None else _json_list(np.asarray(train)),
    }
    return scores, new


# --------------------------------------------------------------------------------------
# alarms, cooldown and feedback rules
# --------------------------------------------------------------------------------------


def _cooldown_seconds(spec: str, medgap: np.ndarray) -> np.ndarray:
    """Cooldown duration after an alarm at each point, from the sampling interval before it.

    ``"auto"``: a day for intraday data (or an unknown interval), two
    sampling intervals for daily or coarser data.
    """
    medgap = np.asarray(medgap, float)
    if spec == "none":
        return np.zeros(len(medgap))
    if spec != "auto":
        return np.full(len(medgap), float(_duration_seconds(spec, "cooldown")))
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(medgap) & (medgap >= _DAY), 2.0 * medgap, float(_DAY))


def _cooldown_in(cooldown_state: Mapping[str, Any] | None) -> np.ndarray:
    """The alarm kernels' cooldown vector from a stored cooldown state."""
    cs = cooldown_state or {}
    until0 = cs.get("until")
    return np.array([
        -np.inf if until0 is None else float(until0),
        float(int(cs.get("points") or 0) - 1),
        1.0 if cs.get("incident") else 0.0,
        0.0 if cs.get("armed") is False else 1.0,
    ])


def _cooldown_out(cd: np.ndarray) -> dict[str, Any]:
    return {
        "until": None if not np.isfinite(cd[0]) else int(cd[0]),
        "points": int(max(0, cd[1] + 1)),
        "incident": bool(cd[2] > 0),
        "armed": bool(cd[3] > 0),
    }


def _alarms(
    ts: np.ndarray,
    raw: np.ndarray,
    threshold: float,
    blocked: np.ndarray,
    medgap: np.ndarray,
    cooldown_state: Mapping[str, Any] | None,
    cooldown: str,
    min_points: int = 0,
):
    """Alarm where ``raw >= threshold`` unless blocked, within a cooldown or in the same episode.

    The rule of :func:`aihub.anomaly._kernels._alarm_step`: after an alarm
    no new alarm fires until the cooldown duration has passed, ``min_points``
    further points have arrived, and the score has dropped below the
    threshold at least once. ``cooldown_state`` is the ``"cooldown"`` entry of
    a detector state (``until`` seconds, ``points`` left, ``armed``); the new
    one is returned with the alarms and the in-cooldown mask.
    """
    from aihub.anomaly._kernels import alarm_loop

    cd = _cooldown_in(cooldown_state)
    alarm, in_cd = alarm_loop(
        np.ascontiguousarray(ts, np.int64), np.ascontiguousarray(raw, float), float(threshold),
        np.ascontiguousarray(blocked, bool), _cooldown_seconds(cooldown, medgap), int(min_points), cd,
    )
    return alarm, in_cd, _cooldown_out(cd)


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def init_state(
    params: DetectorParams | Mapping[str, Any] | None = None,
    thresholds: SeverityThresholds | Mapping[str, Any] | None = None,
    columns: Sequence[str] = ("value",),
) -> dict[str, Any]:
    """Return an empty detector state (JSON-serialisable dict).

    Parameters
    ----------
    params : DetectorParams or dict, optional
        Detector parameters (``detection_config``); defaults apply.
    thresholds : SeverityThresholds or dict, optional
        Severity thresholds; ``low`` is the alert threshold.
    columns : sequence of str, default ("value",)
        Value columns the points will have. More than one column requires
        ``algorithm="isolation_forest"`` (multivariate).

    Returns
    -------
    dict
        ``{"format", "version", "params", "thresholds", "columns", "n_seen",
        "last_timestamp", "first_timestamp", "components": {}, "likelihood":
        {}, "spatial": {}, "gaps": [], "first_gaps": [], "value_min": None,
        "cooldown": {"until": None, "points": 0, "incident": False, "armed":
        True}}``. Strict JSON (no NaN or infinity; see "State JSON" in the
        module docstring). Timestamps inside are integer seconds since
        1970-01-01 (UTC for tz-aware input).

    Raises
    ------
    aihub.errors.ValidationError
        For invalid parameters or thresholds, or several columns with a
        univariate algorithm.
    """
    p = params if isinstance(params, DetectorParams) else DetectorParams.from_dict(params)
    th = thresholds if isinstance(thresholds, SeverityThresholds) else SeverityThresholds.from_dict(thresholds)
    cols = [str(c) for c in columns]
    if not cols:
        raise ValidationError("At least one value column is needed.", field="columns")
    if len(cols) > 1 and p.algorithm != "isolation_forest":
        raise ValidationError(
            f"Scoring several metrics jointly needs algorithm 'isolation_forest'; got {p.algorithm!r}.",
            field="algorithm",
            details={"value": p.algorithm, "allowed": ["isolation_forest"]},
        )
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "params": p.to_dict(),
        "thresholds": th.to_dict(),
        "columns": cols,
        "n_seen": 0,
        "last_timestamp": None,
        "components": {},
        "likelihood": {},
        "spatial": {},
        "gaps": [],
        "first_gaps": [],
        "first_timestamp": None,
        "value_min": None,
        "cooldown": {"until": None, "points": 0, "incident": False, "armed": True},
    }


def _check_state(state: Mapping[str, Any]) -> None:
    if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
        raise ValidationError(
            "Not a detector state: expected a dict made by init_state()/update().", field="state"
        )
    if state.get("version") not in _READABLE_VERSIONS:
        raise ValidationError(
            f"Unsupported detector state version {state.get('version')!r}; this code reads versions "
            f"{list(_READABLE_VERSIONS)}.",
            field="state.version",
        )


def _upgrade_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state's parameters; a version-1 state's default point counts become frequency-aware (None)."""
    params = dict(state["params"])
    if state.get("version") == 1:
        for k, v in _V1_DEFAULTS.items():
            if params.get(k) == v:
                params[k] = None
    return params


def _prepare_points(points: pd.DataFrame, columns: Sequence[str]):
    if not isinstance(points, pd.DataFrame):
        raise ValidationError(
            f"Points must be a DataFrame with columns timestamp, {', '.join(columns)}; got {type(points).__name__}.",
            field="points",
        )
    missing = [c for c in ("timestamp", *columns) if c not in points.columns]
    if missing:
        raise ValidationError(
            f"Points lack column(s) {missing}; they have {list(points.columns)}.",
            field=missing[0],
            details={"missing": missing, "columns": list(points.columns)},
        )
    try:
        ts = pd.to_datetime(points["timestamp"])
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"Column 'timestamp' has values that are not dates: {exc}", field="timestamp") from None
    if ts.isna().any():
        row = int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise ValidationError(
            f"Column 'timestamp' is empty or not a date at row {row} (0-based).",
            field="timestamp",
            details={"row": row},
        )
    tsec = _to_seconds(ts)
    vals = np.column_stack([pd.to_numeric(points[c], errors="coerce").to_numpy(float) for c in columns])
    vals[~np.isfinite(vals)] = np.nan  # infinite values count as missing (and keep the state valid JSON)
    return ts, tsec, vals


def update(
    state: Mapping[str, Any],
    new_points: pd.DataFrame,
    rules: Iterable[Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score new points causally and return them with the updated state.

    Parameters
    ----------
    state : dict
        From :func:`init_state` or a previous :func:`update` (JSON round-trip
        safe). Not modified.
    new_points : pandas.DataFrame, shape (n, 1 + n_columns)
        Columns ``timestamp`` (datetime-like) and the state's value columns
        (``value`` for one metric). Non-numeric values count as missing. Rows
        may come in any order; they are scored in time order and returned in
        the given order. Every timestamp must be >= the last one already seen.
    rules : iterable of FeedbackRule or dict, optional
        Feedback rules (:mod:`aihub.anomaly.feedback`). Rules whose metric /
        dimension / slice do not match ``context`` are ignored.
    context : dict, optional
        ``{"metric": ..., "dimension": ..., "slice": ...}`` of this series, for
        rule matching.

    Returns
    -------
    scored : pandas.DataFrame, shape (n, 11)
        Columns :data:`OUTPUT_COLUMNS`: ``timestamp``, ``value`` (first value
        column), ``expected``, ``lower``, ``upper`` (the expected range; NaN
        while warming up and for multivariate forests), ``z`` (deviation from
        expected in robust standard deviations), ``anomaly_score``
        (0 to 1; 0 inside a cooldown or when a rule suppresses the point),
        ``raw_score`` (0 to 1, before cooldown and rules), ``is_anomaly``
        (bool alarm), ``severity`` ("none" unless an alarm, else
        low/medium/high/critical) and ``suppressed_by`` (id of the feedback
        rule that suppressed a would-be alarm, else None).
    new_state : dict
        The state after these points.

    Raises
    ------
    aihub.errors.ValidationError
        Bad state, missing columns, unparseable or out-of-order timestamps.
    """
    _check_state(state)
    p0 = DetectorParams.from_dict(_upgrade_params(state))
    th = SeverityThresholds.from_dict(state["thresholds"])
    columns = list(state["columns"])
    ts_in, tsec_in, vals_in = _prepare_points(new_points, columns)
    order = np.argsort(tsec_in, kind="stable")
    ts = tsec_in[order]
    V = vals_in[order]
    n = len(ts)
    last = state.get("last_timestamp")
    if n and last is not None and ts[0] < last:
        raise ValidationError(
            f"New points must not be older than the last point already scored "
            f"({pd.Timestamp(last, unit='s')}); got {pd.Timestamp(int(ts[0]), unit='s')}.",
            field="timestamp",
            details={"last_seen": int(last), "got": int(ts[0])},
        )
    new_state = {k: v for k, v in state.items()}
    new_state["version"] = STATE_VERSION
    if new_state.get("first_timestamp") is None and n:
        new_state["first_timestamp"] = int(ts[0])
    new_state["params"] = p0.to_dict()
    comps = dict(state.get("components") or {})
    likes = dict(state.get("likelihood") or {})
    x = V[:, 0]
    expected = np.full(n, np.nan)
    scale = np.full(n, np.nan)
    # sampling interval (lagged rolling median of gaps): automatic cooldown, rules
    gaps_old = _arr(state.get("gaps"))
    prev_t = np.r_[last if last is not None else np.nan, ts[:-1]] if n else np.empty(0)
    gaps = (ts - prev_t).astype(float)
    G = np.r_[gaps_old, gaps]
    medgap = _lagged_rolling(G, _GAP_WINDOW, 1, "median")[len(gaps_old) :]
    new_state["gaps"] = [float(g) for g in _tail(G, _GAP_WINDOW) if np.isfinite(g)]
    # typical spacing, frozen from the first 10 gaps: sets the frequency-aware
    # defaults (DetectorParams.resolved) and the likelihood memory. Until 10
    # gaps are known the median of those seen stands in; nothing it sets acts
    # before the 12th point (min_periods >= 12), so streaming equals batch.
    first = [float(g) for g in (state.get("first_gaps") or [])]
    if len(first) < 10:
        head = gaps[: 10 + 1]
        first += [float(g) for g in head[np.isfinite(head)]][: 10 - len(first)]
    new_state["first_gaps"] = first
    spacing = float(np.median(first)) if first else None
    p = p0.resolved(spacing)
    H = _history_points(p, spacing if len(first) == 10 else None)
    # points on a known recurring pattern (active suppress_pattern rules) are
    # scored but not learned from: the models treat them as missing
    learn = np.ones(n, bool)
    if rules:
        from aihub.anomaly.feedback import pattern_mask

        learn = ~pattern_mask(rules, ts, context or {}, medgap)
    x_learn = np.where(learn, x, np.nan)
    band = p.band_z if p.band_z is not None else _z_for_score(th.alert)
    nonneg, new_state["value_min"] = _nonnegative_history(x_learn, state.get("value_min"), p)
    warm_end = _warm_end(new_state, p, spacing)

    if p.algorithm == "isolation_forest":
        if len(columns) == 1:
            F, x_tail = _iforest_features(x, comps.get("iforest_features") or {}, p)
            comps["iforest_features"] = {"x": x_tail}
        else:
            F = V
        raw, comps["isolation_forest"] = _iforest_component(F, comps.get("isolation_forest"), p, th.alert)
        if len(columns) == 1:
            expected, scale, _, comps["robust_seasonal"] = _robust_component(
                ts, x_learn, comps.get("robust_seasonal"), p, band, warm_end
            )
            expected = np.where(nonneg & (expected < 0), 0.0, expected)
        blocked_by = np.full(n, None, dtype=object)
        if rules:
            from aihub.anomaly.feedback import rule_effects

            with np.errstate(invalid="ignore"):
                dev = x - expected
            blocked_by = rule_effects(rules, ts, dev, raw, context or {})
        blocked = np.array([b is not None for b in blocked_by], dtype=bool) & (raw >= th.alert)
        alarm, in_cd, new_state["cooldown"] = _alarms(ts, raw, th.alert, blocked, medgap, state.get("cooldown"), p.cooldown)
    else:
        names = ["robust_seasonal", "forecast_band"] if p.algorithm == "auto" else [p.algorithm]
        # the robust model learns each value winsorised to its expected range
        # (x_fit); the forecast band learns the same cleaned values
        e_r, sc_r, x_fit, comps["robust_seasonal"] = _robust_component(
            ts, x_learn, comps.get("robust_seasonal"), p, band, warm_end
        )
        zs = []
        for name in names:
            if name == "robust_seasonal":
                e, sc = e_r, sc_r
            else:
                e, sc, comps[name] = _forecast_component(ts, x_fit, comps.get(name), p)
            e = np.where(nonneg & (e < 0), 0.0, e)  # a non-negative metric has a non-negative forecast
            with np.errstate(invalid="ignore", divide="ignore"):
                zs.append((x - e) / sc)
            if name == names[0]:
                expected, scale = e, sc
        flag, new_state["spatial"] = _spatial(x, x_learn, state.get("spatial"), p)
        zmax = np.max(np.nan_to_num(np.abs(np.vstack(zs)), nan=0.0), axis=0)
        flag &= zmax >= _SPATIAL_MIN_Z
        with np.errstate(invalid="ignore"):
            dev = x - expected
            clipped = np.isfinite(x_learn) & (x_fit != x_learn)
        pblock, rule_thr = np.zeros(n, bool), -np.inf
        if rules:
            from aihub.anomaly.feedback import rule_effects, threshold_floor

            pblock = np.array([b is not None for b in rule_effects(rules, ts, dev, np.full(n, np.inf), context or {})], bool)
            rule_thr = threshold_floor(rules, context or {})
        raw, alarm, in_cd, blocked, likes, new_state["cooldown"] = _likelihood_alarms(
            names, zs, learn, clipped, flag, ts < warm_end, pblock, rule_thr, ts, medgap, likes,
            state.get("cooldown"), p, H, th.alert, band,
        )
        blocked_by = np.full(n, None, dtype=object)
        if rules and blocked.any():
            blocked_by = np.where(blocked, rule_effects(rules, ts, dev, raw, context or {}), None)
    suppressed = blocked & ~in_cd
    score = np.where(in_cd | suppressed, 0.0, raw)
    sev = np.where(alarm, severity_of(score, th), NO_SEVERITY)
    suppressed_by = np.where(suppressed, blocked_by, None)

    with np.errstate(invalid="ignore", divide="ignore"):
        zdev = (x - expected) / scale
    lower = np.where(nonneg & (expected - band * scale < 0), 0.0, expected - band * scale)
    out = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts, unit="s"),
            "value": x,
            "expected": expected,
            "lower": lower,
            "upper": expected + band * scale,
            "z": zdev,
            "anomaly_score": score,
            "raw_score": raw,
            "is_anomaly": alarm,
            "severity": sev.astype(object),
            "suppressed_by": suppressed_by.astype(object),
        }
    )
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)
    out = out.iloc[inv].reset_index(drop=True)
    out["timestamp"] = pd.Series(ts_in).reset_index(drop=True)
    new_state["components"] = comps
    new_state["likelihood"] = likes
    new_state["n_seen"] = int(state.get("n_seen", 0)) + n
    if n:
        new_state["last_timestamp"] = int(ts[-1])
    return out, new_state


def detect(
    points: pd.DataFrame,
    params: DetectorParams | Mapping[str, Any] | None = None,
    thresholds: SeverityThresholds | Mapping[str, Any] | None = None,
    rules: Iterable[Any] | None = None,
    context: Mapping[str, Any] | None = None,
    return_state: bool = False,
):
    """Score a whole series causally (batch mode of :func:`update`).

    Parameters
    ----------
    points : pandas.DataFrame, shape (n, 2)
        Columns ``timestamp`` and ``value``.
    params, thresholds, rules, context
        As in :func:`init_state` and :func:`update`.
    return_state : bool, default False
        Also return the state, ready for streaming :func:`update` calls.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, dict)
        The scored points (see :func:`update`), and the state if requested.

    Examples
    --------
    >>> scored = detect(df[["timestamp", "value"]], {"algorithm": "auto"})  # doctest: +SKIP
    >>> scored.loc[scored.is_anomaly, ["timestamp", "value", "severity"]]  # doctest: +SKIP
    """
    state = init_state(params, thresholds)
    scored, state = update(state, points, rules=rules, context=context)
    return (scored, state) if return_state else scored


def detect_multivariate(
    frame: pd.DataFrame,
    columns: Sequence[str],
    params: DetectorParams | Mapping[str, Any] | None = None,
    thresholds: SeverityThresholds | Mapping[str, Any] | None = None,
    return_state: bool = False,
):
    """Score rows of several metrics jointly with a causal isolation forest.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n, 1 + len(columns))
        Column ``timestamp`` and the metric ``columns``.
    columns : sequence of str
        Metric columns, at least one.
    params : DetectorParams or dict, optional
        ``algorithm`` is forced to ``"isolation_forest"``.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, dict)
        :data:`OUTPUT_COLUMNS` with ``value`` = the first metric and NaN
        expected range; one joint score per row.
    """
    d = params.to_dict() if isinstance(params, DetectorParams) else dict(params or {})
    d["algorithm"] = "isolation_forest"
    state = init_state(d, thresholds, columns=list(columns))
    scored, state = update(state, frame[["timestamp", *columns]])
    scored["expected"] = scored["lower"] = scored["upper"] = scored["z"] = np.nan
    return (scored, state) if return_state else scored


@dataclass
class StreamingDetector:
    """Object wrapper around :func:`init_state` / :func:`update`.

    Parameters
    ----------
    params : DetectorParams or dict, optional
    thresholds : SeverityThresholds or dict, optional

    Attributes
    ----------
    state_ : dict
        JSON-serialisable state after the last call (set by :meth:`score`).
    n_seen_ : int
        Points scored so far.
    """

    params: DetectorParams | Mapping[str, Any] | None = None
    thresholds: SeverityThresholds | Mapping[str, Any] | None = None
    state_: dict[str, Any] | None = field(default=None, init=False, repr=False)
    n_seen_: int = field(default=0, init=False)

    def score(self, points: pd.DataFrame, rules=None, context=None) -> pd.DataFrame:
        """Score ``points`` after everything scored before; see :func:`update`."""
        if self.state_ is None:
            self.state_ = init_state(self.params, self.thresholds)
        scored, self.state_ = update(self.state_, points, rules=rules, context=context)
        self.n_seen_ = int(self.state_["n_seen"])
        return scored

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "StreamingDetector":
        """Rebuild a detector from a stored state."""
        _check_state(state)
        det = cls(DetectorParams.from_dict(_upgrade_params(state)), SeverityThresholds.from_dict(state["thresholds"]))
        det.state_ = dict(state)
        det.n_seen_ = int(state.get("n_seen", 0))
        return det
