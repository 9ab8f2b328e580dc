"""Robust residual components of the detectors: ``robust_seasonal`` and ``forecast_band``.

``robust_seasonal``
    A robust local level (median of the previous ``level_window`` learned
    values) plus, for each seasonal period (a day and a week by default), the
    median of the last ``n_seasons`` detrended values at the same phase (same
    time of day / of week). The residual scale is the MAD of the model's
    recent residuals (Rousseeuw & Croux 1993, "Alternatives to the median
    absolute deviation", JASA 88), falling back to the mean absolute deviation
    when the MAD is zero (Iglewicz & Hoaglin 1993). Among the non-seasonal and
    seasonal variants the one with the smallest recent mean absolute error is
    used at each point: a causal, rolling version of seasonal-trend
    decomposition (Cleveland et al. 1990, "STL", J. Official Statistics 6) in
    the robust form of Twitter's S-H-ESD (Hochenbaum, Vallis & Kejariwal
    2017, "Automatic anomaly detection in the cloud via statistical
    learning", arXiv:1704.07706), which removes anomalies before it estimates
    the median and MAD.

    **Incidents do not teach the model.** The model learns each value
    winsorised to the expected range (the "pre-cleaning" of robust
    exponential smoothing, Gelper, Fried & Croux 2010, "Robust forecasting
    with exponential and Holt-Winters smoothing", J. Forecasting 29). A twin
    that learns the raw values decides what is a lasting change: a value
    inside the twin's range is learned as it is and the model takes over the
    twin's level window and that phase's seasonal values, so a level shift or
    a new weekly pattern becomes the new normal instead of an endless
    incident. The sequential loop is
    :func:`aihub.anomaly._kernels.robust_seasonal_loop`.
``forecast_band``
    A one-step forecast - the prediction-error view of HTM (Ahmad et al.
    2017): an exponentially weighted level (simple exponential smoothing,
    ``ewma_alpha``) plus the same-phase seasonal median, with the scale from
    the exponentially weighted root-mean-square of past forecast errors
    (adapts fast to changes in volatility). It learns the values winsorised
    by ``robust_seasonal``.

Both give an expected value and a scale per point; the detectors turn the
standardised residual into a surprisal and then an anomaly likelihood
(:mod:`aihub.anomaly.likelihood`). States are strict JSON: ``null`` inside a
list of numbers means "no value".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.signal import lfilter

from aihub.anomaly.params import DetectorParams

_REL_FLOOR = 1e-4  # smallest scale, relative to the mean absolute value


def _arr(values: Any, dtype: Any = float) -> np.ndarray:
    """``values`` as an array (None: empty)."""
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


def _phase_slots(t_old: np.ndarray, ts: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Slot (index of the phase ``t mod period``) of stored and new timestamps, and the number of slots."""
    allt = np.concatenate([t_old, ts])
    if not len(allt):
        return np.empty(0, np.int64), np.empty(0, np.int64), 1
    _, inv = np.unique(allt % period, return_inverse=True)
    inv = inv.astype(np.int64).reshape(-1)
    return inv[: len(t_old)], inv[len(t_old):], int(inv.max()) + 1


def _seasonal(
    ts: np.ndarray, d: np.ndarray, st: Mapping[str, Any] | None, period: int, k: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Seasonal component: median of the last ``k`` same-phase detrended values.

    Same phase means equal ``timestamp mod period``. The ``k``-th previous
    occurrence must lie within ``(k + 0.5)`` periods and at least half of the
    ``k`` values must be known (points treated as missing leave gaps),
    otherwise NaN. The state keeps the (timestamp, value) pairs of the last
    ``(k + 0.5)`` periods. Runs as :func:`aihub.anomaly._kernels.seasonal_loop`.
    """
    from aihub.anomaly._kernels import fill_rings, seasonal_loop

    st = st or {}
    t_old = _arr(st.get("t"), np.int64)
    d_old = _arr(st.get("d"))
    old_slot, slot, n_slots = _phase_slots(t_old, ts, period)
    ring_t = np.zeros((n_slots, k), np.int64)
    ring_d = np.full((n_slots, k), np.nan)
    ring_n = np.zeros(n_slots, np.int64)
    if len(t_old):
        fill_rings(old_slot, t_old, np.ascontiguousarray(d_old, float), ring_t, ring_d, ring_n)
    out = seasonal_loop(np.ascontiguousarray(ts, np.int64), np.ascontiguousarray(d, float), slot, int(period), int(k),
                        ring_t, ring_d, ring_n)
    T = np.r_[t_old, ts]
    if not len(T):
        return out, {"t": [], "d": []}
    mask = np.arange(k)[None, :] < ring_n[:, None]
    tt, dd = ring_t[mask], ring_d[mask]
    keep = tt >= T.max() - (k + 0.5) * period
    o = np.argsort(tt[keep], kind="stable")
    return out, {"t": tt[keep][o].tolist(), "d": _json_list(dd[keep][o])}


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
