"""Detector parameters (``detection_config``), validated in one place.

:class:`DetectorParams` holds every knob of the streaming detectors in
:mod:`aihub.anomaly.detectors`; each is checked against
:data:`_PARAMETER_CONSTRAINTS` (the ``_parameter_constraints`` style of
scikit-learn), and a bad value raises :class:`aihub.errors.ValidationError`
naming the field, the value and the allowed range or set.

This module depends on nothing else in :mod:`aihub.anomaly`, so the detectors,
the alarm rule and the feedback rules can all import it without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import ValidationError

ALGORITHMS: tuple[str, ...] = (
    "auto",
    "robust_seasonal",
    "forecast_band",
    "art",
    "context",
    "isolation_forest",
)
"""Algorithm names accepted by :class:`DetectorParams` (``auto`` is the ensemble of the next four)."""

ENSEMBLE: tuple[str, ...] = ("robust_seasonal", "forecast_band", "art", "context")
"""Components of ``auto``, in the order their evidence is combined."""

COMBINE_RULES: tuple[str, ...] = ("mean", "max", "fisher")
"""Ways to combine the components' anomaly likelihoods (see :mod:`aihub.anomaly.likelihood`)."""

DAY_SECONDS = 86_400

# NAB's probationary period is 15% of a file, at most 750 points (Lavin & Ahmad 2015)
NAB_PROBATION_CAP = 750

# intraday point counts of the residual model (designed on 5-minute data)
_INTRADAY = {"level_window": 10, "scale_window": 288, "min_periods": 20, "warmup": 30, "short_window": 10}


def duration_seconds(value: Any, name: str) -> int:
    """Seconds of a duration such as ``"1D"`` or ``"12h"``.

    Raises
    ------
    aihub.errors.ValidationError
        ``field="detection_config.<name>"`` when ``value`` is not a positive
        duration.
    """
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


# name -> (kind, low, high, nullable); kinds: "int" (low <= v), "real" (low < v <= high or
# low <= v < high per the bounds below), "bool", "choice" (low = allowed tuple)
_PARAMETER_CONSTRAINTS: dict[str, tuple[str, Any, Any, bool]] = {
    "algorithm": ("choice", ALGORITHMS, None, False),
    "combine": ("choice", COMBINE_RULES, None, False),
    "level_window": ("int", 1, None, True),
    "scale_window": ("int", 2, None, True),
    "min_periods": ("int", 1, None, True),
    "warmup": ("int", 1, None, True),
    "short_window": ("int", 1, None, True),
    "history_window": ("int", 2, None, True),
    "probation": ("int", 12, None, True),
    "n_seasons": ("int", 1, None, False),
    "art_categories": ("int", 2, 4096, False),
    "iforest_window": ("int", 16, None, False),
    "iforest_refit": ("int", 1, None, False),
    "n_estimators": ("int", 1, None, False),
    "random_state": ("int", 0, None, False),
    "ewma_alpha": ("real", 0.0, 1.0, False),  # (0, 1]
    "contamination": ("real_open", 0.0, 0.5, False),  # (0, 0.5)
    "spatial_tolerance": ("nonneg", 0.0, math.inf, True),
    "band_z": ("real_open", 0.0, math.inf, True),
    "nonnegative": ("bool", None, None, True),
}


def _bad(name: str, value: Any, allowed: str) -> ValidationError:
    return ValidationError(
        f"detection_config.{name} must be {allowed}; got {value!r}.",
        field=f"detection_config.{name}",
        details={"value": repr(value), "allowed": allowed},
    )


def _is_number(v: Any) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating))


def _check_int(name: str, v: Any, low: int, high: int | None, nullable: bool) -> int:
    allowed = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
    allowed += " or null (frequency-aware default)" if nullable else ""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
        raise _bad(name, v, allowed)
    if high is not None and v > high:
        raise _bad(name, v, allowed)
    return int(v)


def _check_real(name: str, kind: str, v: Any, low: float, high: float, nullable: bool) -> float:
    if kind == "real":
        ok, allowed = _is_number(v) and low < v <= high, f"a number in ({low:g}, {high:g}]"
    elif kind == "nonneg":
        ok, allowed = _is_number(v) and low <= v < high, "a number >= 0"
    else:
        ok, allowed = _is_number(v) and low < v < high, f"a number in ({low:g}, {high:g})"
    if not ok:
        raise _bad(name, v, allowed + (" or null" if nullable else ""))
    return float(v)


def _check(name: str, v: Any) -> Any:
    """The validated (and normalised) value of one constrained parameter."""
    kind, low, high, nullable = _PARAMETER_CONSTRAINTS[name]
    if v is None and nullable:
        return None
    if kind == "choice":
        if v not in low:
            raise ValidationError(
                f"Unknown {name} {v!r}; allowed: {list(low)}.",
                field=name if name == "algorithm" else f"detection_config.{name}",
                details={"value": v if isinstance(v, str) else repr(v), "allowed": list(low)},
            )
        return v
    if kind == "int":
        return _check_int(name, v, low, high, nullable)
    if kind == "bool":
        if not isinstance(v, (bool, np.bool_)):
            raise _bad(name, v, "true, false or null (automatic)")
        return bool(v)
    return _check_real(name, kind, v, low, high, nullable)


def _check_periods(periods: Any) -> tuple[str, ...]:
    if isinstance(periods, str):
        periods = (periods,)
    if not isinstance(periods, (list, tuple)):
        raise _bad("seasonal_periods", periods, "a list of durations such as ['1D', '7D']")
    out = tuple(str(p) for p in periods)
    for p in out:
        duration_seconds(p, "seasonal_periods")
    return out


def _check_components(comps: Any) -> tuple[str, ...] | None:
    if comps is None:
        return None
    if isinstance(comps, str):
        comps = (comps,)
    allowed = f"a non-empty list of distinct names from {list(ENSEMBLE)} or null (all)"
    if not isinstance(comps, (list, tuple)) or not comps:
        raise _bad("components", comps, allowed)
    out = tuple(str(c) for c in comps)
    if any(c not in ENSEMBLE for c in out) or len(set(out)) != len(out):
        raise _bad("components", comps, allowed)
    return tuple(c for c in ENSEMBLE if c in out)  # the combination order of ENSEMBLE


def _check_cooldown(cd: Any) -> str:
    cd = "none" if cd is None else str(cd)
    if cd not in ("auto", "none"):
        duration_seconds(cd, "cooldown")
    return cd


@dataclass(frozen=True)
class DetectorParams:
    """Detector parameters, validated in one place (:data:`_PARAMETER_CONSTRAINTS`).

    Parameters
    ----------
    algorithm : str, default "auto"
        One of :data:`ALGORITHMS`; ``auto`` is the ensemble described in
        :mod:`aihub.anomaly.detectors`, the others run one component alone.
    combine : {"mean", "max", "fisher"}, default "max"
        How ``auto`` combines its components' anomaly likelihoods
        (:mod:`aihub.anomaly.likelihood`). Chosen by leave-one-category-out
        evaluation (``benchmarks/anomaly_nab.py``) and held on the proxy
        streams' development half (``benchmarks/anomaly_proxy.py``), where
        Fisher's method and the mean scored lower.
    probation : int or None, default None
        Probationary period in points: nothing alarms before it. None: one
        season, at least ``min_periods + warmup`` (:meth:`default_probation`;
        288 points of 5-minute data, 50 of hourly data, 21 of daily data), at
        most 750. Checked on the development half of the proxy streams
        (``benchmarks/anomaly_proxy.py``) against the seasonal warm-up of
        three seasons used before and fixed counts. The adaptive-resonance
        component sizes its windows from :meth:`art_span`, whatever this is.
    level_window : int or None, default None
        Points in the robust local level (median of the previous points).
        None (frequency-aware, see :meth:`resolved`): 10 for intraday data,
        two seasonal cycles for daily or coarser data.
    ewma_alpha : float, default 0.2
        Smoothing factor of the ``forecast_band`` level, in ``(0, 1]``.
    seasonal_periods : tuple of str, default ("1D", "7D")
        Seasonal periods as durations. Points are matched by exact phase
        (timestamp modulo the period), so irregular timestamps simply get no
        seasonal prediction. Use ``()`` for no seasonality.
    n_seasons : int, default 3
        Past periods used for the seasonal profile.
    scale_window : int or None, default None
        Points in the residual-scale and model-selection windows. None: 288
        for intraday data, 26 seasonal cycles for daily or coarser data.
    min_periods : int or None, default None
        Residuals needed before a point is scored. None: 20 for intraday
        data, 2 seasonal cycles (at least 12 points) for daily or coarser data.
    warmup : int or None, default None
        Likelihood samples needed before the likelihood (and alarms) start.
        None: 30 for intraday data, one seasonal cycle (at least 6 points) for
        daily or coarser data.
    short_window : int or None, default None
        Points averaged in the anomaly likelihood of the residual components.
        None: 10 for intraday data (Ahmad et al. 2017), one seasonal cycle (at
        most 10) for daily or coarser data.
    history_window : int or None, default None
        Effective memory, in points, of the likelihood's running mean and
        variance. None: one year of points, at least 100 and at most 8640
        (the value of Ahmad et al. 2017 for data every 5 minutes).
    cooldown : str, default "auto"
        Duration after an alarm during which no new alarm fires; in any case
        a new alarm needs the score to have dropped below the alert threshold
        since the last one. ``"auto"``: for intraday data six hours, then
        until a day after the alarm only a score 0.2 above the alert
        threshold alarms (:mod:`aihub.anomaly.alarms`, chosen on the proxy
        streams); for daily or coarser data two sampling intervals.
        ``"none"`` disables the duration.
    spatial_tolerance : float or None, default 0.05
        A value beyond the running min/max by more than this fraction of the
        running range, and at least 3 robust standard deviations from the
        expected value, reaches the alert threshold (Numenta's NAB detector).
        None disables.
    nonnegative : bool or None, default None
        Clip the expected value and the lower end of the expected range at 0.
        None: for points whose metric history so far has no negative value.
    components : tuple of str or None, default None
        ``auto`` only: the components of :data:`ENSEMBLE` it runs (None: all).
    art_categories : int, default 64
        Most categories the adaptive-resonance component keeps (the least
        recently used one is recycled), which bounds its state and time.
    contamination : float, default 0.01
        ``isolation_forest`` only: expected share of anomalous points, in
        ``(0, 0.5)``.
    iforest_window, iforest_refit, n_estimators, random_state : int
        ``isolation_forest`` only: training window, refit interval (points),
        trees and seed.
    band_z : float or None, default None
        Half-width of the expected range ``[lower, upper]`` in robust standard
        deviations. None derives it from the alert threshold (4.42 for 0.5).

    Raises
    ------
    aihub.errors.ValidationError
        With ``field="detection_config.<name>"`` (``"algorithm"`` for the
        algorithm), the bad value and the allowed range or set.
    """

    algorithm: str = "auto"
    combine: str = "max"
    probation: int | None = None
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
    components: tuple[str, ...] | None = None
    art_categories: int = 64
    contamination: float = 0.01
    iforest_window: int = 512
    iforest_refit: int = 256
    n_estimators: int = 100
    random_state: int = 0
    band_z: float | None = None

    def __post_init__(self) -> None:
        for name in _PARAMETER_CONSTRAINTS:
            object.__setattr__(self, name, _check(name, getattr(self, name)))
        if self.min_periods is not None and self.scale_window is not None and self.min_periods > self.scale_window:
            raise _bad("min_periods", self.min_periods, f"an integer <= scale_window ({self.scale_window})")
        object.__setattr__(self, "seasonal_periods", _check_periods(self.seasonal_periods))
        object.__setattr__(self, "cooldown", _check_cooldown(self.cooldown))
        object.__setattr__(self, "components", _check_components(self.components))

    @property
    def period_seconds(self) -> tuple[int, ...]:
        """Seasonal periods in seconds."""
        return tuple(duration_seconds(p, "seasonal_periods") for p in self.seasonal_periods)

    def resolved(self, spacing: float | None) -> DetectorParams:
        """These parameters with the frequency-aware defaults (None) filled in.

        ``spacing`` is the typical sampling interval in seconds (None:
        unknown, treated as intraday). Intraday data keeps the point counts
        the residual model was designed with on 5-minute data. For daily or
        coarser data the counts follow the seasonal cycle ``C``: the points in
        the longest configured seasonal period that spans at least 4 points (7
        for daily data with a weekly period), else 6. Then ``level_window =
        2C``, ``min_periods = max(2C, 12)``, ``warmup = max(C, 6)``,
        ``scale_window = max(26C, min_periods)`` and ``short_window = min(C,
        10)``; then ``probation`` (:meth:`default_probation`).
        """
        if spacing is None or not np.isfinite(spacing) or spacing < DAY_SECONDS:
            auto = dict(_INTRADAY)
        else:
            cyc = [q / spacing for q in self.period_seconds if q / spacing >= 4]
            c = round(max(cyc)) if cyc else 6
            mp = max(2 * c, 12)
            auto = {"level_window": 2 * c, "scale_window": max(26 * c, mp), "min_periods": mp,
                    "warmup": max(c, 6), "short_window": min(c, 10)}
        changes = {k: v for k, v in auto.items() if getattr(self, k) is None}
        if self.scale_window is not None and self.min_periods is None:
            changes["min_periods"] = min(changes["min_periods"], self.scale_window)
        if self.min_periods is not None and self.scale_window is None:
            changes["scale_window"] = max(changes["scale_window"], self.min_periods)
        q = replace(self, **changes) if changes else self
        return q if q.probation is not None else replace(q, probation=q.default_probation(spacing))

    def warmup_seconds(self, spacing: float | None) -> float:
        """Length of the seasonal warm-up: ``n_seasons`` cycles of the shortest period spanning >= 4 points."""
        if not spacing or not np.isfinite(spacing):
            return 0.0
        usable = [q for q in self.period_seconds if q >= 4 * spacing]
        return float(self.n_seasons * min(usable)) if usable else 0.0

    def art_span(self, spacing: float | None) -> int:
        """Points the adaptive-resonance component sizes its windows from (ARTime's probationary period).

        The seasonal warm-up in points, or ``min_periods + warmup`` without a
        seasonal period; at least 12 and at most 750 points (NAB's cap; ARTime
        takes 15% of a file, which a stream cannot know). Needs resolved counts.
        """
        warm = self.warmup_seconds(spacing) / spacing if spacing and np.isfinite(spacing) else 0.0
        base = round(warm) if warm else (self.min_periods or 0) + (self.warmup or 0)
        return int(min(NAB_PROBATION_CAP, max(12, base)))

    def default_probation(self, spacing: float | None) -> int:
        """Default ``probation``: one season, and at least ``min_periods + warmup`` and 12 points; at most 750.

        A detector cannot tell a seasonal swing from an anomaly before it has
        seen one cycle (one day of intraday data: 288 points of 5-minute
        data, 24 of hourly data; one week of daily data), nor judge before the
        residual scale rests on ``min_periods`` residuals and the anomaly
        likelihood on ``warmup`` samples (50 points of intraday data, 21 of
        daily data). The season is the shortest configured seasonal period
        spanning at least 4 points. NAB scores a file from 15% of its length
        (375 points of a 2,500-point file), which a stream cannot know; the
        seasonal warm-up of ``n_seasons`` cycles used before (up to 750
        points) missed every anomaly between the two. Needs resolved counts.
        """
        usable = [q / spacing for q in self.period_seconds if spacing and np.isfinite(spacing) and q >= 4 * spacing]
        season = round(min(usable)) if usable else 0
        return int(min(NAB_PROBATION_CAP, max(12, season, (self.min_periods or 0) + (self.warmup or 0))))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of all parameters."""
        d = asdict(self)
        d["seasonal_periods"] = list(self.seasonal_periods)
        d["components"] = None if self.components is None else list(self.components)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, **overrides: Any) -> DetectorParams:
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
