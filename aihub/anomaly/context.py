"""Context novelty: the CAD OSE component of the ``auto`` ensemble.

Method
------
The Contextual Anomaly Detector, open-source edition (CAD OSE; Mikhail
Smirnov and Roman Trofimov, 2016, NAB scoreboard entry, code in
``numenta/NAB`` ``nab/detectors/context_ose``) quantises each value into 3
bits, remembers every *context* - a set of facts seen together, followed by
the facts that came next - and scores a point by how many of the contexts it
activates are new. It scores 75.7 on the NAB files held out from this
project, the best of the published detectors after ARTime.

This module keeps that idea in a bounded, causal form: a variable-order
context model in the spirit of prediction by partial matching (Cleary &
Witten 1984, "Data compression using adaptive coding and partial string
matching", IEEE Trans. Communications 32):

1. Each value becomes one of 8 symbols (CAD OSE's 3 bits) by its position in
   the running range of the values seen so far (CAD OSE uses the whole
   file's range, which a live stream cannot know).
2. For each order ``k = 1 .. 7`` (CAD OSE's longest left context) the
   context is the previous ``k`` symbols; a hashed table counts how often
   each context was followed by each symbol.
3. The raw score of a point is the share of orders whose context was never
   followed by the point's symbol (CAD OSE's share of new contexts). The
   table is then updated.
4. The table has 4,096 slots; when three quarters are used every count is
   halved and the contexts left empty are forgotten, so old habits fade and
   the state stays bounded.

:mod:`aihub.anomaly.likelihood` turns the raw score into an anomaly
likelihood. The state is strict JSON (:func:`context_component`): the
running range, the last symbols and the table as ``[context key, count * 8
+ symbol, ...]`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from aihub.anomaly._kernels import _jit

SYMBOLS = 8
"""Quantisation levels (CAD OSE: 3 bits)."""
ORDERS = 7
"""Longest context, in symbols (CAD OSE's ``maxLeftSemiContextsLenght``)."""
SLOTS = 4096
"""Hash-table slots (a power of two)."""

_MULT = 2654435761  # Knuth's multiplicative hash


@_jit
def _slot(keys, key):
    """Slot holding ``key``, or the empty slot where it would go."""
    T = keys.shape[0]
    h = ((key * _MULT) >> 7) & (T - 1)
    while keys[h] != -1 and keys[h] != key:
        h = (h + 1) & (T - 1)
    return h


@_jit
def _insert(keys, counts, key, row):
    h = _slot(keys, key)
    keys[h] = key
    for b in range(counts.shape[1]):
        counts[h, b] = row[b]


@_jit
def _age(keys, counts):
    """Halve every count and forget empty contexts; returns the slots still used."""
    old_k = keys.copy()
    old_c = counts.copy()
    keys[:] = -1
    counts[:] = 0
    used = 0
    row = np.zeros(counts.shape[1], np.int64)
    for h in range(old_k.shape[0]):
        if old_k[h] < 0:
            continue
        tot = 0
        for b in range(counts.shape[1]):
            row[b] = old_c[h, b] // 2
            tot += row[b]
        if tot > 0:
            _insert(keys, counts, old_k[h], row)
            used += 1
    return used


@_jit
def _symbol(v, rng_lohi, B):
    rng_lohi[0] = min(rng_lohi[0], v)
    rng_lohi[1] = max(rng_lohi[1], v)
    span = rng_lohi[1] - rng_lohi[0]
    s = int((v - rng_lohi[0]) / span * B) if span > 0 else 0
    return min(s, B - 1)


@_jit
def context_loop(x, keys, counts, hist, lohi, used):
    """Raw novelty of each point (NaN when missing or without history); arrays updated in place.

    ``hist`` holds the previous symbols, newest first (-1: none); ``used``
    is a one-element array with the count of used slots.
    """
    n = len(x)
    L = hist.shape[0]
    B = counts.shape[1]
    out = np.full(n, np.nan)
    slots = np.empty(L, np.int64)
    for i in range(n):
        v = x[i]
        if not np.isfinite(v):
            continue
        s = _symbol(v, lohi, B)
        orders = 0
        new = 0
        key = 0
        for k in range(L):
            if hist[k] < 0:
                break
            key = key * B + hist[k]
            h = _slot(keys, key * 8 + k + 1)
            slots[k] = h
            orders += 1
            if keys[h] == -1 or counts[h, s] == 0:
                new += 1
        if orders:
            out[i] = new / orders
        key = 0
        for k in range(orders):
            key = key * B + hist[k]
            h = slots[k]
            if keys[h] != key * 8 + k + 1:  # a new context (its empty slot may have been taken meanwhile)
                h = _slot(keys, key * 8 + k + 1)
                keys[h] = key * 8 + k + 1
                used[0] += 1
            counts[h, s] += 1
        if used[0] * 4 > keys.shape[0] * 3:
            used[0] = _age(keys, counts)
        for k in range(L - 1, 0, -1):
            hist[k] = hist[k - 1]
        hist[0] = s
    return out


def context_component(x: np.ndarray, st: Mapping[str, Any] | None):
    """Raw novelty of values ``x`` (NaN: missing) and the new strict-JSON state."""
    st = st or {}
    keys = np.full(SLOTS, -1, np.int64)
    counts = np.zeros((SLOTS, SYMBOLS), np.int64)
    row = np.zeros(SYMBOLS, np.int64)
    for entry in st.get("table") or []:
        row[:] = 0
        for packed in entry[1:]:
            row[int(packed) % SYMBOLS] = int(packed) // SYMBOLS
        _insert(keys, counts, int(entry[0]), row)
    hist = np.full(ORDERS, -1, np.int64)
    old = [int(v) for v in (st.get("hist") or [])][:ORDERS]
    hist[: len(old)] = old
    lo, hi = st.get("lo"), st.get("hi")
    lohi = np.array([math.inf if lo is None else float(lo), -math.inf if hi is None else float(hi)])
    used = np.array([int((keys >= 0).sum())], np.int64)
    raw = context_loop(np.ascontiguousarray(x, float), keys, counts, hist, lohi, used)
    live = np.flatnonzero(keys >= 0)
    live = live[np.argsort(keys[live], kind="stable")]
    table = []
    for h in live:  # [context key, count * SYMBOLS + symbol for each symbol seen after it]
        sym = np.flatnonzero(counts[h])
        table.append([int(keys[h]), *(int(c) * SYMBOLS + int(b) for b, c in zip(sym, counts[h, sym]))])
    new_st = {
        "lo": float(lohi[0]) if math.isfinite(lohi[0]) else None,
        "hi": float(lohi[1]) if math.isfinite(lohi[1]) else None,
        "hist": [int(v) for v in hist],
        "table": table,
    }
    return raw, new_st
