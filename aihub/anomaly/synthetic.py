"""Synthetic series with one planted anomaly of a known type, for tests and benchmarks.

Each series is level + linear trend + a seasonal pattern + noise, with one
anomaly planted from a fixed seed. The shapes follow the intervention types of
Box & Tiao (1975) and Chen & Liu (1993): an additive outlier (``spike`` /
``drop``, a few points off then back), a level shift (a step that stays), a
trend change (a ramp), plus a ``seasonality_break`` (the seasonal pattern
changes shape or size from one point on) and ``missing_data`` (periods with no
row at all). The returned window is what a detector would flag: the first
periods where the anomaly is visible, with some history after it.

:data:`DEVELOPMENT` and :data:`HELD_OUT` are the two disjoint families used by
``benchmarks/anomaly_types.py`` uses three disjoint families: the classifier was
built on :data:`DEVELOPMENT` (daily, weekly season, Gaussian noise), checked
while building on :data:`VALIDATION` (hourly, monthly and weekly data,
Student-t noise), and is reported on :data:`HELD_OUT`, which was run only
once the method was fixed (business-day and quarterly seasons, weekly data
without season, Laplace noise, other seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aihub.errors import ValidationError

#: Anomaly shapes, in the order of seed 001.
SHAPES: tuple[str, ...] = ("spike", "drop", "trend_change", "level_shift", "seasonality_break", "missing_data")


@dataclass(frozen=True)
class Family:
    """How a family of synthetic series is drawn.

    Attributes
    ----------
    name : str
    freqs : tuple of (pandas frequency, season length or 0)
        One is drawn per series (season length 0 = no seasonality).
    noise : {"gauss", "t3", "laplace"}
        Gaussian noise, Student-t with 3 degrees of freedom or Laplace (heavy tails), scaled to unit variance.
    noise_cv : (float, float)
        Range of the noise standard deviation as a share of the level.
    seeds : range
    """

    name: str
    freqs: tuple[tuple[str, int], ...]
    noise: str
    noise_cv: tuple[float, float]
    seeds: range


DEVELOPMENT = Family("development", (("D", 7), ("D", 0)), "gauss", (0.03, 0.08), range(60))
VALIDATION = Family("validation", (("h", 24), ("MS", 12), ("W-MON", 0)), "t3", (0.04, 0.10), range(10_000, 10_070))
HELD_OUT = Family("held-out", (("B", 5), ("QS", 4), ("W-MON", 0)), "laplace", (0.05, 0.12), range(20_000, 20_100))
FAMILIES: dict[str, Family] = {f.name: f for f in (DEVELOPMENT, VALIDATION, HELD_OUT)}


def planted(shape: str, seed: int, family: Family = DEVELOPMENT) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """One series with one planted anomaly.

    Parameters
    ----------
    shape : str
        One of :data:`SHAPES`.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same series.
    family : Family
        :data:`DEVELOPMENT` or :data:`HELD_OUT` (or another).

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``ds`` (timestamps, regular; rows of missing periods are
        absent) and ``y`` (float), 150 to 400 rows.
    start, end : pandas.Timestamp
        The flagged window (inclusive).

    Raises
    ------
    aihub.errors.ValidationError
        Unknown ``shape``.
    """
    if shape not in SHAPES:
        raise ValidationError(f"Unknown shape {shape!r}; allowed: {list(SHAPES)}.", field="shape",
                              details={"value": shape, "allowed": list(SHAPES)})
    rng = np.random.default_rng([seed, SHAPES.index(shape)])
    freq, m = family.freqs[int(rng.integers(len(family.freqs)))]
    if shape == "seasonality_break" and m == 0:
        freq, m = next((f, p) for f, p in family.freqs if p)
    n_hist = int(rng.integers(max(60, 5 * m), max(120, 10 * m)))
    n_after = int(rng.integers(max(12, 2 * m), max(30, 3 * m)))
    n = n_hist + n_after
    t = np.arange(n, dtype=float)
    level = float(10 ** rng.uniform(1.5, 6.0))
    sd = level * rng.uniform(*family.noise_cv)
    y = level + rng.uniform(-1, 1) * sd * 0.05 * t
    season = np.zeros(n)
    if m:
        phase = rng.uniform(0, 2 * np.pi)
        amp = sd * rng.uniform(1.5, 4.0)
        season = amp * np.sin(2 * np.pi * t / m + phase) + 0.4 * amp * np.sin(4 * np.pi * t / m + 2 * phase)
    noise = {"t3": lambda: rng.standard_t(3, n) / np.sqrt(3.0), "laplace": lambda: rng.laplace(0, 1 / np.sqrt(2), n),
             "gauss": lambda: rng.standard_normal(n)}[family.noise]()
    y = y + season + sd * noise
    t0 = n_hist
    start, end, keep = t0, t0, np.ones(n, dtype=bool)
    if shape in ("spike", "drop"):
        w = int(rng.integers(1, 3))
        y[t0:t0 + w] += (1 if shape == "spike" else -1) * sd * rng.uniform(5, 9)
        end = t0 + w - 1
    elif shape == "level_shift":
        y[t0:] += rng.choice([-1, 1]) * sd * rng.uniform(4, 8)
        end = t0 + int(rng.integers(0, 3))
    elif shape == "trend_change":
        slope = rng.choice([-1, 1]) * sd * rng.uniform(0.3, 0.8)
        y[t0:] += slope * (t[t0:] - t0 + 1)
        lag = int(np.ceil(3.0 / abs(slope / sd)))  # flagged once about 3 noise sd away
        start = min(t0 + lag, n - 6)
        end = start + int(rng.integers(0, 3))
    elif shape == "seasonality_break":
        kind = rng.integers(3)
        new = -season[t0:] if kind == 0 else season[t0:] * rng.uniform(2.5, 3.5) if kind == 1 else 0 * season[t0:]
        y[t0:] += new - season[t0:]
        start = t0 + int(rng.integers(0, max(1, m // 2)))
        end = start + int(rng.integers(0, 3))
    elif shape == "missing_data":
        w = int(rng.integers(2, 7))
        keep[t0:t0 + w] = False
        end = t0 + w - 1
    ds = pd.date_range("2021-01-04", periods=n, freq=freq)
    frame = pd.DataFrame({"ds": ds, "y": y})[keep].reset_index(drop=True)
    return frame, ds[start], ds[end]
