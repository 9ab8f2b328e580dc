"""Adaptive-resonance novelty: the ARTime component of the ``auto`` ensemble.

Method
------
ARTime (Mark Hampton, 2021; the leading entry of the Numenta Anomaly
Benchmark scoreboard, NAB v1.1) judges a stream by whether recent windows of
it *resonate* with categories learned so far, using Fuzzy ART (Carpenter,
Grossberg & Rosen 1991, "Fuzzy ART: fast stable learning and categorization
of analog patterns by an adaptive resonance system", Neural Networks 4) with
the dual-vigilance extension of da Silva, Elnabarawy & Wunsch (2019, "Dual
vigilance fuzzy adaptive resonance theory", Neural Networks 109). This module
follows ARTime's published design, made causal and bounded:

1. **Down-sampling.** The stream is cut into blocks of
   ``step = probation / (8 * 13)`` points (ARTime: 13 windows of 8 steps per
   probationary period). A block is represented by its extreme farther from
   the moving average of block means (so a one-point spike survives), unless
   that extreme lies within 10% of the block mean (then the mean).
2. **Normalisation.** Values are scaled to ``[0, 1]`` by the running minimum
   and maximum (ARTime uses the whole file's range, which a live stream
   cannot know; when the range grows, the categories' level coordinates are
   re-expressed in the new range, an exact affine map of each hyperbox),
   quantised to 80 levels, and values within 0.075 of the running median
   snap to it (ARTime's noise "chomp").
3. **Features.** The last 8 normalised values and the same window
   min-max-normalised (its shape; ARTime uses a Haar transform of it),
   complement-coded.
4. **Resonance.** The similarity to category ``w`` is ``|I ^ w| / |w|`` (the
   fuzzy subsethood of the Fuzzy ART choice function) cubed, times the
   square of the same ratio on the newest value alone (ARTime's "energy"
   term). The best category learns ``w <- I ^ w`` (fast learning) when its
   similarity reaches the vigilance, the running mean of best similarities
   capped at 0.97 (ARTime's upper vigilance); otherwise a new category is
   committed. At most ``art_categories`` categories are kept; the least
   recently resonating one is recycled.
5. **Evidence.** Each completed block's raw novelty is ``1 - best
   similarity``; :mod:`aihub.anomaly.likelihood` turns it into an anomaly
   likelihood like every other component.

The state is strict JSON (see :func:`state_out`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from aihub.anomaly._kernels import _jit, _median_sorted, _update_sorted

WINDOW = 8
"""Steps in a feature window (ARTime)."""
WINDOWS_PER_PROBATION = 13
"""Feature windows per probationary period (ARTime)."""
LEVELS = 80
"""Quantisation levels of a normalised value (ARTime)."""
CHOMP = 0.075
"""Normalised distance within which a value snaps to the running median (ARTime)."""
RHO_CAP = 0.97
"""Largest vigilance (ARTime's cap of the upper vigilance)."""
SPIKE_SHARE = 0.1
"""A block extreme within this share of the block mean is represented by the mean (ARTime)."""

_D = 2 * WINDOW  # features
_F = ("lo", "hi", "ma", "bsum", "bcnt", "bmax", "bmin", "simsum", "simcnt")
_I = ("pos", "nwin", "step", "ncat", "medpos", "mednum")


def step_and_trend(probation: int) -> tuple[int, int]:
    """Block length (points) and the median window (blocks) for a probationary period of ``probation`` points."""
    step = max(1, round(probation / (WINDOW * WINDOWS_PER_PROBATION)))
    return step, max(WINDOW, probation // step)


@_jit
def _sizes(cats, ncat, wsum):
    """``wsum[j] = |w_j|`` (the L1 size of each category), summed in a fixed order."""
    for j in range(ncat):
        t = 0.0
        for d in range(cats.shape[1]):
            t += cats[j, d]
        wsum[j] = t


@_jit
def _rescale(cats, ncat, lo, hi, nlo, nhi):
    """Re-express the level coordinates of every category for the new range ``[nlo, nhi]``."""
    a = (hi - lo) / (nhi - nlo)
    b = (lo - nlo) / (nhi - nlo)
    W = cats.shape[1] // 4
    D = 2 * W
    for j in range(ncat):
        for d in range(W):
            u = cats[j, d] * a + b
            v = (1.0 - cats[j, D + d]) * a + b
            cats[j, d] = u
            cats[j, D + d] = 1.0 - v


@_jit
def _block_value(fs):
    """Representative of the finished block (ARTime's down-sampling); updates the moving average of means."""
    m = fs[3] / fs[4]
    if not np.isfinite(fs[2]):
        fs[2] = m
    fs[2] = 0.5 * (fs[2] + m)
    rep = fs[5]
    if abs(fs[5] - fs[2]) < abs(fs[6] - fs[2]):
        rep = fs[6]
    if abs(rep - m) < SPIKE_SHARE * abs(m):
        rep = m
    fs[3] = 0.0
    fs[4] = 0.0
    fs[5] = -np.inf
    fs[6] = np.inf
    return rep


@_jit
def _features(win, lo, hi, med, I):
    """Complement-coded features of the window: quantised levels (snapped to the median) and shape."""
    W = win.shape[0]
    D = 2 * W
    rng = hi - lo
    wmin = np.inf
    wmax = -np.inf
    for d in range(W):
        wmin = min(wmin, win[d])
        wmax = max(wmax, win[d])
    mq = (med - lo) / rng if rng > 0 else 0.5
    for d in range(W):
        f = (win[d] - lo) / rng if rng > 0 else 0.5
        f = round(f * LEVELS) / LEVELS
        if abs(f - mq) < CHOMP:
            f = mq
        I[d] = min(1.0, max(0.0, f))
        I[W + d] = (win[d] - wmin) / (wmax - wmin) if wmax > wmin else 0.5
    for d in range(D):
        I[D + d] = 1.0 - I[d]


@_jit
def _best_category(cats, wsum, ncat, I):
    """Index and similarity of the most resonant category (``-1, -1`` without categories)."""
    W = cats.shape[1] // 4
    D = 2 * W
    best = -1.0
    bj = -1
    for j in range(ncat):
        num = 0.0
        for d in range(2 * D):
            num += min(I[d], cats[j, d])
        s = num / wsum[j] if wsum[j] > 0 else 0.0
        e1 = min(I[W - 1], cats[j, W - 1]) + min(I[D + W - 1], cats[j, D + W - 1])
        e2 = cats[j, W - 1] + cats[j, D + W - 1]
        es = e1 / e2 if e2 > 0 else 0.0
        s = s * s * s * es * es
        if s > best:
            best = s
            bj = j
    return bj, best


@_jit
def _resonate(cats, wsum, used, ncat, I, step, rho):
    """Learn ``I``: the best category if it resonates (fast learning), else a new or recycled one; returns
    the best similarity before learning and the new category count."""
    bj, best = _best_category(cats, wsum, ncat, I)
    if bj >= 0 and best >= rho:
        for d in range(cats.shape[1]):
            cats[bj, d] = min(cats[bj, d], I[d])
        used[bj] = step
        _sizes(cats[bj : bj + 1], 1, wsum[bj : bj + 1])
        return best, ncat
    if ncat < cats.shape[0]:
        j = ncat
        ncat += 1
    else:
        j = np.argmin(used[:ncat])
    for d in range(cats.shape[1]):
        cats[j, d] = I[d]
    used[j] = step
    _sizes(cats[j : j + 1], 1, wsum[j : j + 1])
    return best, ncat


@_jit
def art_loop(x, step, fs, ints, win, med, cats, used):
    """Raw novelty of each completed block (NaN elsewhere); every state array is updated in place.

    ``fs`` = lo, hi, moving average, block sum, count, max, min, similarity
    sum and count; ``ints`` = points in the block, windows filled, steps,
    categories, median ring position and fill.
    """
    n = len(x)
    out = np.full(n, np.nan)
    W = win.shape[0]
    I = np.zeros(cats.shape[1])
    wsum = np.zeros(cats.shape[0])
    _sizes(cats, ints[3], wsum)
    srt = np.empty(med.shape[0])  # sorted copy of the median ring
    n_srt = 0
    for j in range(ints[5]):
        n_srt = _update_sorted(srt, n_srt, np.nan, med[j])
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            fs[3] += v
            fs[4] += 1.0
            fs[5] = max(fs[5], v)
            fs[6] = min(fs[6], v)
        ints[0] += 1
        if ints[0] < step:
            continue
        ints[0] = 0
        if fs[4] == 0.0:
            continue
        rep = _block_value(fs)
        nlo = min(fs[0], rep)
        nhi = max(fs[1], rep)
        if (nlo < fs[0] or nhi > fs[1]) and np.isfinite(fs[0]) and fs[1] > fs[0]:
            _rescale(cats, ints[3], fs[0], fs[1], nlo, nhi)
            _sizes(cats, ints[3], wsum)
        fs[0] = nlo
        fs[1] = nhi
        for d in range(W - 1):
            win[d] = win[d + 1]
        win[W - 1] = rep
        n_srt = _update_sorted(srt, n_srt, med[ints[4]] if ints[5] == med.shape[0] else np.nan, rep)
        med[ints[4]] = rep
        ints[4] = (ints[4] + 1) % med.shape[0]
        ints[5] = min(ints[5] + 1, med.shape[0])
        ints[1] += 1
        ints[2] += 1
        if ints[1] < W:
            continue
        _features(win, fs[0], fs[1], _median_sorted(srt, n_srt), I)
        rho = min(RHO_CAP, fs[7] / fs[8]) if fs[8] > 0 else 0.0
        best, ints[3] = _resonate(cats, wsum, used, ints[3], I, ints[2], rho)
        if best >= 0.0:
            out[i] = 1.0 - best
            fs[7] += best
            fs[8] += 1.0
    return out


def _num(v: Any, default: float) -> float:
    return default if v is None else float(v)


def state_in(st: Mapping[str, Any] | None, probation: int, categories: int):
    """Kernel arrays from a stored state (None: fresh)."""
    step, trend = step_and_trend(probation)
    st = st or {}
    fs = np.array([_num(st.get(k), d) for k, d in zip(_F, (np.inf, -np.inf, np.nan, 0.0, 0.0, -np.inf, np.inf, 0.0, 0.0))])
    ints = np.array([int(st.get(k, 0)) for k in _I], np.int64)
    win = np.full(WINDOW, np.nan)
    old = [_num(v, np.nan) for v in (st.get("win") or [])][-WINDOW:]
    if old:
        win[WINDOW - len(old):] = old
    med = np.full(trend, np.nan)
    old_med = [_num(v, np.nan) for v in (st.get("med") or [])][:trend]
    med[: len(old_med)] = old_med
    ints[4] %= trend
    ints[5] = min(ints[5], trend)
    cats = np.zeros((categories, 2 * _D))
    used = np.zeros(categories, np.int64)
    c_old = np.asarray(st.get("cats") or np.zeros((0, 2 * _D)), float).reshape(-1, 2 * _D)[:categories]
    cats[: len(c_old)] = c_old
    used[: len(c_old)] = np.asarray(st.get("used") or [0] * len(c_old), np.int64)[: len(c_old)]
    ints[3] = len(c_old)
    return step, fs, ints, win, med, cats, used


def state_out(fs, ints, win, med, cats, used) -> dict[str, Any]:
    """Strict-JSON state (null for an unknown number)."""
    def num(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    nc = int(ints[3])
    st: dict[str, Any] = {k: num(v) for k, v in zip(_F, fs)}
    st.update({k: int(v) for k, v in zip(_I, ints)})
    st["win"] = [num(v) for v in win]
    st["med"] = [num(v) for v in med]
    st["cats"] = cats[:nc].tolist()
    st["used"] = [int(u) for u in used[:nc]]
    return st


def art_component(x: np.ndarray, st: Mapping[str, Any] | None, probation: int, categories: int):
    """Raw novelty (NaN where no block completes) and the new state for values ``x`` (NaN: missing)."""
    step, fs, ints, win, med, cats, used = state_in(st, probation, categories)
    raw = art_loop(np.ascontiguousarray(x, float), step, fs, ints, win, med, cats, used)
    return raw, state_out(fs, ints, win, med, cats, used)
