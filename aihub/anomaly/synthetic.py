"""Synthetic series with planted anomalies of known shapes, for tests and benchmarks.

Two generators share this module:

* :func:`planted` - short series (150 to 400 rows) with one anomaly and the
  window a type classifier should flag, in three disjoint families
  (``benchmarks/anomaly_types.py``);
* :func:`planted_stream` - NAB-length metric streams (730 to 4,032 points)
  with at most one anomaly and a NAB label window, for the streaming
  detectors (``benchmarks/anomaly_nab.py`` and the detector tests).

Both plant the intervention shapes of Box & Tiao (1975) and Chen & Liu
(1993, "Joint estimation of model parameters and outlier effects in time
series", JASA 88). The proxy streams built from real carriers are in
:mod:`aihub.anomaly.proxy`; they use :func:`probation` and
:func:`nab_windows` from here.

Classifier series (:func:`planted`)
-----------------------------------
Each series is level + linear trend + a seasonal pattern + noise, with one
anomaly planted from a fixed seed. The shapes follow the intervention types of
Box & Tiao (1975) and Chen & Liu (1993): an additive outlier (``spike`` /
``drop``, a few points off then back), a level shift (a step that stays), a
trend change (a ramp), plus a ``seasonality_break`` (the seasonal pattern
changes shape or size from one point on) and ``missing_data`` (periods with no
row at all). The returned window is what a detector would flag: the first
periods where the anomaly is visible, with some history after it.

``benchmarks/anomaly_types.py`` uses three disjoint families: the classifier was
built on :data:`DEVELOPMENT` (daily, weekly season, Gaussian noise), checked
while building on :data:`VALIDATION` (hourly, monthly and weekly data,
Student-t noise), and is reported on :data:`HELD_OUT`, which was run only
once the method was fixed (business-day and quarterly seasons, weekly data
without season, Laplace noise, other seeds).

NAB-length streams (:func:`planted_stream`)
-------------------------------------------
Used by the detector tests and ``benchmarks/anomaly_nab.py`` to judge the
streaming detectors on series they were not built on. Everything is generated
from fixed seeds in code; nothing is saved.

A stream is ``level + trend + seasonality + noise`` at a random sampling
interval (5-minute, 10-minute, hourly or daily), with a few missing values
sprinkled in, and at most one planted anomaly of a known shape (the types of
seed 001, after the intervention types of Box & Tiao 1975 and Chen & Liu
1993, "Joint estimation of model parameters and outlier effects in time
series", JASA 88, plus the variance change and stuck-sensor cases common in
machine metrics):

``spike`` / ``drop``
    one to three points far above the normal range, or a short outage where
    the metric falls to a fraction of its level and recovers;
``level_shift``
    a step that stays;
``trend_change``
    a ramp that starts at the anomaly;
``seasonality_break``
    the daily pattern inverts, vanishes or triples in amplitude from then on;
``variance_change``
    the noise grows three- to five-fold from then on;
``missing_data``
    the collector stops delivering: the value repeats the last reading
    (carry-forward, as metric stores fill absent points) for a stretch.

Label windows follow the Numenta Anomaly Benchmark (Lavin & Ahmad 2015,
"Evaluating real-time anomaly detection algorithms - the Numenta Anomaly
Benchmark", ICMLA): a window of 10% of the series length divided by the
number of anomalies, centred on the anomaly's start; no anomaly is planted in
the probationary period (the first 15% of the points, at most 750).
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


def probation(n: int) -> int:
    """NAB's probationary period: 15% of the points, at most 750 (Lavin & Ahmad 2015)."""
    return min(int(np.floor(0.15 * n)), 750)


def nab_windows(ts: pd.DatetimeIndex, rows: list[int]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """NAB label windows: 10% of the series length divided by the number of anomalies, centred on each row.

    Windows are cut at the ends of the series (Lavin & Ahmad 2015).
    """
    n, k = len(ts), max(len(rows), 1)
    half = int(0.1 * n / k) // 2
    return [(ts[max(0, r - half)], ts[min(n - 1, r + half)]) for r in rows]


STREAM_SHAPES: tuple[str, ...] = (
    "spike",
    "drop",
    "level_shift",
    "trend_change",
    "seasonality_break",
    "variance_change",
    "missing_data",
)
"""Planted anomaly shapes; ``None`` (no anomaly) is also accepted by :func:`planted_stream`."""

_FREQS: tuple[tuple[str, int], ...] = (("5min", 4032), ("10min", 4032), ("h", 1600), ("D", 730))


@dataclass(frozen=True)
class PlantedStream:
    """One synthetic stream.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``timestamp`` (regular, datetime64) and ``value`` (float, a
        few NaN), shape (n, 2).
    windows : list of (pandas.Timestamp, pandas.Timestamp)
        NAB label windows (inclusive); empty without an anomaly.
    shape : str or None
        The planted shape.
    start : int or None
        Row index where the anomaly starts.
    """

    frame: pd.DataFrame
    windows: list[tuple[pd.Timestamp, pd.Timestamp]]
    shape: str | None
    start: int | None


def _base(rng: np.random.Generator, n: int, per_day: float):
    """Level, trend, seasonal pattern and noise scale of a normal stream."""
    level = float(10 ** rng.uniform(0.5, 4.5))
    t = np.arange(n, dtype=float)
    season = np.zeros(n)
    if per_day >= 4 and rng.random() < 0.8:  # intraday data: a daily and maybe a weekly cycle
        amp = level * rng.uniform(0.1, 0.5)
        phase = rng.uniform(0, 2 * np.pi)
        shape = np.sin(2 * np.pi * t / per_day + phase) + 0.3 * np.sin(4 * np.pi * t / per_day + 2 * phase)
        if rng.random() < 0.3:
            shape = np.sign(shape) * np.abs(shape) ** 0.3  # square-ish: on/off load
        season = amp * shape
        if rng.random() < 0.5:
            season += 0.3 * amp * np.sin(2 * np.pi * t / (7 * per_day) + rng.uniform(0, 2 * np.pi))
    elif per_day == 1 and rng.random() < 0.8:  # daily data: a weekly cycle
        amp = level * rng.uniform(0.1, 0.4)
        season = amp * np.sin(2 * np.pi * t / 7 + rng.uniform(0, 2 * np.pi))
    swing = float(np.std(season)) if season.any() else level * 0.1
    sd = swing * float(10 ** rng.uniform(-1.3, 0.0))  # noise from 5% to 100% of the seasonal swing
    trend = level * rng.uniform(-0.3, 0.3) * t / n
    return level, trend, season, sd


def _noise(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    if rng.random() < 0.5:
        return sd * rng.standard_normal(n)
    return sd * rng.standard_t(3, n) / np.sqrt(3.0)  # heavy tails, unit variance


def _plant(shape, rng, y, noise, season, t0, n, per_day, level, sd) -> np.ndarray:
    """Return ``y`` with the anomaly planted at ``t0``."""
    y = y.copy()
    big = max(sd, 0.05 * level)
    if shape == "spike":
        w = int(rng.integers(1, 4))
        y[t0 : t0 + w] += rng.choice([-1, 1]) * big * rng.uniform(6, 12)
    elif shape == "drop":
        w = int(rng.integers(max(2, int(per_day // 48)), max(3, int(per_day // 4)) + 1))
        y[t0 : t0 + w] = y[t0 : t0 + w] * rng.uniform(0.0, 0.4)
    elif shape == "level_shift":
        y[t0:] += rng.choice([-1, 1]) * big * rng.uniform(4, 8)
    elif shape == "trend_change":
        ramp = max(10, n // 20)  # about 6 noise sd after a twentieth of the series
        y[t0:] += rng.choice([-1, 1]) * big * 6.0 * (np.arange(n - t0) + 1) / ramp
    elif shape == "seasonality_break":
        kind = int(rng.integers(3))
        new = -season[t0:] if kind == 0 else 0.0 * season[t0:] if kind == 1 else 3.0 * season[t0:]
        y[t0:] += new - season[t0:]
    elif shape == "variance_change":
        y[t0:] += noise[t0:] * rng.uniform(2.0, 4.0) + rng.standard_normal(n - t0) * 0.02 * level
    elif shape == "missing_data":
        w = int(rng.integers(max(12, n // 40), max(13, n // 15)))
        y[t0 : t0 + w] = y[t0 - 1]
    return y


def planted_stream(shape: str | None, seed: int, freq: str | None = None) -> PlantedStream:
    """One synthetic stream with at most one planted anomaly.

    Parameters
    ----------
    shape : str or None
        One of :data:`STREAM_SHAPES`, or None for a stream without anomaly.
    seed : int
        Seed of ``numpy.random.default_rng``; the same (shape, seed, freq)
        gives the same stream.
    freq : {"5min", "10min", "h", "D"} or None
        Sampling interval; None draws one from the seed (1,600 to 4,032
        points for intraday data, 730 for daily data).

    Returns
    -------
    PlantedStream

    Raises
    ------
    aihub.errors.ValidationError
        Unknown shape or frequency.
    """
    if shape is not None and shape not in STREAM_SHAPES:
        raise ValidationError(
            f"Unknown shape {shape!r}; allowed: {list(STREAM_SHAPES)} or None.",
            field="shape",
            details={"value": shape, "allowed": list(STREAM_SHAPES)},
        )
    rng = np.random.default_rng([seed, 0 if shape is None else 1 + STREAM_SHAPES.index(shape)])
    freqs = dict(_FREQS)
    if freq is None:
        freq = _FREQS[int(rng.integers(len(_FREQS)))][0]
    if freq not in freqs:
        raise ValidationError(
            f"Unknown freq {freq!r}; allowed: {list(freqs)}.", field="freq", details={"value": freq, "allowed": list(freqs)}
        )
    n = freqs[freq]
    per_day = pd.Timedelta("1D") / pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    level, trend, season, sd = _base(rng, n, per_day)
    if shape == "seasonality_break" and not season.any():
        season = level * 0.3 * np.sin(2 * np.pi * np.arange(n) / (per_day if per_day >= 4 else 7))
    noise = _noise(rng, n, sd)
    y = level + trend + season + noise
    t0 = None
    windows: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    ts = pd.date_range("2021-03-01", periods=n, freq=freq)
    if shape is not None:
        t0 = int(rng.integers(int(0.3 * n), int(0.85 * n)))
        y = _plant(shape, rng, y, noise, season, t0, n, per_day, level, sd)
        windows = nab_windows(ts, [t0])
    if level > 3 * (sd + np.abs(season).max() + np.abs(trend).max()):
        y = np.maximum(y, 0.0)  # a positive metric stays non-negative
    missing = rng.random(n) < 0.002
    if t0 is not None:
        missing[t0 : t0 + 3] = False  # the anomaly itself is observed
    y[missing] = np.nan
    return PlantedStream(pd.DataFrame({"timestamp": ts, "value": y}), windows, shape, t0)


def stream_corpus(seeds: range, shapes: tuple[str | None, ...] = (*STREAM_SHAPES, None)) -> dict[str, PlantedStream]:
    """Streams for every (shape, seed): ``{"<shape>/<seed>": PlantedStream}`` (shape ``none`` for None)."""
    return {f"{s or 'none'}/{seed}": planted_stream(s, seed) for s in shapes for seed in seeds}
