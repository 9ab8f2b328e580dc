"""The alarm rule (threshold, cooldown, one alarm per episode) and the sampling-interval helpers it needs.

Shared by the detectors (:mod:`aihub.anomaly.detectors`) and the feedback
rules (:mod:`aihub.anomaly.feedback`, which re-derives alarms of scored
points), so neither imports the other.

A point alarms when its score reaches the threshold, no feedback rule
blocks it, no alarm fired within the cooldown before it, and the score has
dropped below the threshold since the last alarm. NAB (Lavin & Ahmad 2015,
"Evaluating real-time anomaly detection algorithms - the Numenta Anomaly
Benchmark", ICMLA) rewards exactly that: early detection of each anomaly
window and few false positives; CAD OSE's "rest period" and ARTime's mask
after an anomaly are the same idea.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from aihub.anomaly.params import DAY_SECONDS, duration_seconds

GAP_WINDOW = 100
"""Gaps in the rolling median that gives the sampling interval before each point."""


def to_seconds(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Integer seconds since 1970-01-01 (UTC for tz-aware input), shape (n,)."""
    idx = pd.DatetimeIndex(ts)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy(dtype="datetime64[s]").astype(np.int64)


def lagged_rolling(full: np.ndarray, window: int, min_periods: int, how: str) -> np.ndarray:
    """Rolling statistic (a pandas rolling method name) over the ``window`` values *before* each position."""
    roll = pd.Series(full).shift(1).rolling(window, min_periods=min_periods)
    return getattr(roll, how)().to_numpy()


def median_gaps(gaps_old: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Sampling interval before each new point: median of the previous :data:`GAP_WINDOW` gaps (seconds).

    Regular series (every gap equal to the stored ones) skip the rolling
    median: it is that gap.
    """
    G = np.r_[gaps_old, gaps]
    fin = G[np.isfinite(G)]
    if len(fin) and len(gaps) and np.all(fin == fin[0]):
        first = np.flatnonzero(np.isfinite(G))[0]
        out = np.where(np.arange(len(G)) > first, fin[0], np.nan)
        return out[len(gaps_old):]
    return lagged_rolling(G, GAP_WINDOW, 1, "median")[len(gaps_old):]


def cooldown_seconds(spec: str, medgap: np.ndarray) -> np.ndarray:
    """Cooldown duration after an alarm at each point, from the sampling interval before it.

    ``"auto"``: a day for intraday data (or an unknown interval), two
    sampling intervals for daily or coarser data; ``"none"``: 0; else the
    duration given.
    """
    medgap = np.asarray(medgap, float)
    if spec == "none":
        return np.zeros(len(medgap))
    if spec != "auto":
        return np.full(len(medgap), float(duration_seconds(spec, "cooldown")))
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(medgap) & (medgap >= DAY_SECONDS), 2.0 * medgap, float(DAY_SECONDS))


def cooldown_in(cooldown_state: Mapping[str, Any] | None) -> np.ndarray:
    """The alarm kernels' cooldown vector from a stored cooldown state."""
    cs = cooldown_state or {}
    until0 = cs.get("until")
    return np.array([
        -np.inf if until0 is None else float(until0),
        float(int(cs.get("points") or 0) - 1),
        1.0 if cs.get("incident") else 0.0,
        0.0 if cs.get("armed") is False else 1.0,
    ])


def cooldown_out(cd: np.ndarray) -> dict[str, Any]:
    """The stored cooldown state (strict JSON) from the kernels' vector."""
    return {
        "until": None if not np.isfinite(cd[0]) else int(cd[0]),
        "points": int(max(0, cd[1] + 1)),
        "incident": bool(cd[2] > 0),
        "armed": bool(cd[3] > 0),
    }


def alarm_rule(
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

    Parameters
    ----------
    ts : ndarray of int, shape (n,)
        Seconds, ascending.
    raw : ndarray of float, shape (n,)
        Scores in ``[0, 1]``.
    threshold : float
    blocked : ndarray of bool, shape (n,)
        A feedback rule blocks the point.
    medgap : ndarray of float, shape (n,)
        Sampling interval before each point (:func:`median_gaps`).
    cooldown_state : dict or None
        The ``"cooldown"`` entry of a detector state.
    cooldown : str
        ``DetectorParams.cooldown``.
    min_points : int, default 0
        Points after an alarm that are always inside the cooldown.

    Returns
    -------
    alarm, in_cooldown : ndarray of bool, shape (n,)
    new_cooldown_state : dict
    """
    from aihub.anomaly._kernels import alarm_loop

    cd = cooldown_in(cooldown_state)
    alarm, in_cd = alarm_loop(
        np.ascontiguousarray(ts, np.int64), np.ascontiguousarray(raw, float), float(threshold),
        np.ascontiguousarray(blocked, bool), cooldown_seconds(cooldown, medgap), int(min_points), cd,
    )
    return alarm, in_cd, cooldown_out(cd)
