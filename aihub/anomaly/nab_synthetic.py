"""Synthetic metric streams with planted anomalies and NAB-style label windows.

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


def probation(n: int) -> int:
    """NAB's probationary period: 15% of the points, at most 750 (Lavin & Ahmad 2015)."""
    return min(int(np.floor(0.15 * n)), 750)


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
        half = int(0.1 * n) // 2
        windows = [(ts[max(0, t0 - half)], ts[min(n - 1, t0 + half)])]
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
