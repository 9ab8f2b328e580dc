"""Proxy streams for the NAB categories held out from us, built from real series that are not NAB.

The detector is judged on NAB files we do not hold (realAdExchange,
realAWSCloudwatch, realTraffic, realTweets). Designing on the 18 NAB files we
do hold fits their quirks, so design choices are made on *proxy streams*:
real public series ("carriers") shaped like each held-out category, with
labelled anomalies planted in them and NAB label windows written beside them.

Carriers (all in the shared data folder, none from NAB)
-------------------------------------------------------
* M4 competition hourly series (train and test concatenated, 748 hours) and
  weekly series (Makridakis, Spiliotis & Assimakopoulos 2020, "The M4
  Competition", Int. J. Forecasting 36);
* Prophet's example of daily Wikipedia page views (Peyton Manning), as views;
* Superstore daily order counts, sales and mean order value per region;
* UCI bike sharing hourly rental counts and weather sensors (temperature,
  humidity, wind speed; Fanaee-T & Gama 2014, "Event labeling combining
  ensemble detectors and background knowledge", Progress in AI 2).

Shaping (:data:`CATEGORIES`)
----------------------------
``ad``
    realAdExchange: 1,600 hourly points of heavy-tailed click/cost metrics.
    Superstore daily sales, orders and order values, page views and hourly
    rentals, each taken point for point and stamped hourly.
``cloud``
    realAWSCloudwatch: 4,000 five-minute points of CPU, network and disk
    metrics. Hourly carriers up-sampled to five minutes: linear interpolation
    of the hourly values plus Gaussian noise as rough as the carrier's own
    (the spread of each value around the mean of its neighbours), so the
    daily cycle keeps its length in time; and M4 weekly series stamped every
    five minutes as slow-moving metrics.
``traffic``
    realTraffic: 2,500 five-minute points of speed, occupancy and travel time
    with gaps in the sampling. Up-sampled M4 hourly series; 3% of the rows
    are dropped at random.
``tweets``
    realTweets: 15,000 five-minute tweet counts with bursts. Hourly counts
    (rentals, M4 hourly series rescaled to a rate) give the intensity; each
    five-minute count is Poisson with the interpolated rate (shorter where
    the carrier is shorter: 8,976 points from 748 hours).

Planted anomalies (:data:`KINDS`): the kinds NAB's labellers mark - spikes,
drops (outages), level shifts, bursts, changed variability, stuck values and
trend changes - with sizes drawn in units of the carrier's own noise (at least
5% of its range), so some are obvious and some are not. Each file has one to
three. Label windows follow NAB (Lavin & Ahmad 2015, "Evaluating real-time
anomaly detection algorithms - the Numenta Anomaly Benchmark", ICMLA): 10% of
the file length divided by the number of anomalies, centred on the anomaly's
start; windows do not overlap and anomalies start after NAB's probationary
period.

Development and test halves are split **by carrier series** (M4 ids,
Superstore regions, bike sharing columns; the rental counts, the only hourly
count series, by year: 2011 for development, 2012 for test), fixed in code
before any result was seen (:func:`carrier_pool`). Seeds are fixed in code.
One change was made after the first development run: M4 weekly series moved
from the traffic streams (where they had drawn every development file) to the
cloud streams; the test half was first scored with the design already chosen.

Limits: the carriers hold anomalies of their own that carry no label (a huge
Superstore order, a holiday in the rentals), so some "false alarms" are real;
up-sampled carriers are smoother within the hour than real five-minute data.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aihub.anomaly.synthetic import nab_windows, probation
from aihub.errors import ValidationError

HALVES: tuple[str, ...] = ("dev", "test")
"""The development half (design choices) and the test half (reported)."""

KINDS: tuple[str, ...] = ("spike", "drop", "level_shift", "burst", "variance_change", "stuck", "trend_change")
"""Planted anomaly kinds."""

SEED = 20_240_613
"""Root seed of every proxy stream."""


@dataclass(frozen=True)
class Category:
    """How one held-out NAB category is imitated.

    Attributes
    ----------
    name : str
    nab : str
        The NAB category it stands in for.
    freq : str
        Sampling interval of the shaped stream (pandas offset alias).
    length : int
        Points per stream (fewer when the carrier is shorter).
    files : int
        Streams per half.
    kinds : dict of str to float
        Planted anomaly kinds and their weights.
    counts : bool
        Values are counts (Poisson sampling of the carrier as a rate).
    gaps : float
        Share of rows dropped at random (irregular sampling).
    """

    name: str
    nab: str
    freq: str
    length: int
    files: int
    kinds: dict[str, float]
    counts: bool = False
    gaps: float = 0.0


CATEGORIES: tuple[Category, ...] = (
    Category("ad", "realAdExchange", "h", 1600, 12,
             {"spike": 3, "drop": 2, "level_shift": 2, "burst": 1, "variance_change": 1, "trend_change": 1}),
    Category("cloud", "realAWSCloudwatch", "5min", 4000, 34,
             {"spike": 2, "drop": 1, "level_shift": 3, "burst": 1, "variance_change": 1, "stuck": 1,
              "trend_change": 1}),
    Category("traffic", "realTraffic", "5min", 2500, 14,
             {"spike": 1, "drop": 3, "level_shift": 2, "variance_change": 1, "stuck": 1, "trend_change": 1},
             gaps=0.03),
    Category("tweets", "realTweets", "5min", 15000, 20,
             {"burst": 4, "spike": 2, "drop": 1, "level_shift": 1}, counts=True),
)
"""The four held-out NAB categories; twice as many files per half as NAB holds."""


@dataclass(frozen=True)
class Carrier:
    """A real series: values in time order at its native sampling interval."""

    name: str
    values: np.ndarray
    freq: str  # native interval: "h", "D" or "W"
    positive: bool
    counts: bool


@dataclass(frozen=True)
class ProxyStream:
    """One shaped stream with planted anomalies.

    Attributes
    ----------
    key : str
        ``"<category>/<carrier>_<i>.csv"``, the NAB-style relative path.
    frame : pandas.DataFrame
        Columns ``timestamp`` (datetime64, ascending) and ``value`` (float).
    windows : list of (str, str)
        NAB label windows (inclusive timestamps as text).
    kinds : list of str
        The planted kind of each window.
    starts : list of int
        Row index where each planted anomaly starts.
    """

    key: str
    frame: pd.DataFrame
    windows: list[tuple[str, str]]
    kinds: list[str]
    starts: list[int]


# ------------------------------------------------------------------ carriers
def _m4(folder: Path) -> dict[str, np.ndarray]:
    parts = [pd.read_csv(folder / f) for f in ("train.csv", "test.csv")]
    d = pd.concat(parts, ignore_index=True).sort_values(["unique_id", "ds"], kind="stable")
    return {str(k): g["y"].to_numpy(float) for k, g in d.groupby("unique_id", sort=True)}


def _hourly_grid(t: pd.Series, v: pd.Series) -> np.ndarray:
    """Values on the full hourly grid, missing hours linearly interpolated."""
    s = pd.Series(v.to_numpy(float), index=pd.DatetimeIndex(t)).sort_index()
    full = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="h"))
    return full.interpolate(limit_direction="both").to_numpy(float)


def _bike(path: Path) -> dict[str, np.ndarray]:
    d = pd.read_csv(path)
    t = pd.to_datetime(d["dteday"], format="%d-%m-%Y") + pd.to_timedelta(d["hr"], unit="h")
    out = {c: _hourly_grid(t, d[c]) for c in ("cnt", "temp", "hum", "windspeed")}
    out["cnt"] = np.round(out["cnt"])  # counts stay counts across the interpolated hours
    year = pd.date_range(t.min(), t.max(), freq="h").year.to_numpy()
    out["cnt_2011"], out["cnt_2012"] = out["cnt"][year == 2011], out["cnt"][year == 2012]
    return out


def _superstore(path: Path) -> dict[str, np.ndarray]:
    d = pd.read_csv(path, encoding="utf-8-sig")
    d["day"] = pd.to_datetime(d["Order Date"], format="%d/%m/%y")
    days = pd.date_range(d["day"].min(), d["day"].max(), freq="D")
    out = {}
    for region, g in d.groupby("Region", sort=True):
        daily = g.groupby("day").agg(orders=("Order ID", "nunique"), sales=("Sales", "sum")).reindex(days)
        daily = daily.fillna(0.0)
        out[f"{region}_orders"] = daily["orders"].to_numpy(float)
        out[f"{region}_sales"] = daily["sales"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            aov = (daily["sales"] / daily["orders"]).replace([np.inf, -np.inf], np.nan)
        out[f"{region}_order_value"] = aov.ffill().bfill().to_numpy(float)  # no order: yesterday's value
    return out


def load_carriers(data_dir: Path) -> dict[str, Carrier]:
    """Every carrier series, by name (``source:series``).

    Parameters
    ----------
    data_dir : pathlib.Path
        The shared data folder (with ``m4_hourly/``, ``m4_weekly/``,
        ``prophet_examples/``, ``superstore/``, ``tables/``).

    Raises
    ------
    aihub.errors.ValidationError
        A carrier file is missing.
    """
    need = [data_dir / "m4_hourly" / "train.csv", data_dir / "m4_weekly" / "train.csv",
            data_dir / "prophet_examples" / "example_wp_log_peyton_manning.csv",
            data_dir / "superstore" / "superstore_orders.csv", data_dir / "tables" / "bike_sharing_hourly.csv"]
    for p in need:
        if not p.exists():
            raise ValidationError(f"Carrier file {p} not found; point the benchmark at the shared data folder.",
                                  field="data_dir", details={"missing": str(p)})
    c: dict[str, Carrier] = {}
    for k, v in _m4(data_dir / "m4_hourly").items():
        c[f"m4h:{k}"] = Carrier(f"m4h:{k}", v, "h", bool((v >= 0).all()), False)
    for k, v in _m4(data_dir / "m4_weekly").items():
        if len(v) >= 1000:
            c[f"m4w:{k}"] = Carrier(f"m4w:{k}", v, "W", bool((v >= 0).all()), False)
    pm = pd.read_csv(need[2])
    c["prophet:peyton_views"] = Carrier("prophet:peyton_views", np.round(np.exp(pm["y"].to_numpy(float))), "D",
                                        True, True)
    for k, v in _superstore(need[3]).items():
        c[f"superstore:{k}"] = Carrier(f"superstore:{k}", v, "D", True, k.endswith("orders"))
    for k, v in _bike(need[4]).items():
        if k != "cnt":
            c[f"bike:{k}"] = Carrier(f"bike:{k}", v, "h", True, k.startswith("cnt"))
    return c


def _ids(carriers: dict[str, Carrier], source: str) -> list[str]:
    return sorted(k for k in carriers if k.startswith(source + ":"))


def carrier_pool(carriers: dict[str, Carrier], category: str, half: str) -> list[str]:
    """Carrier names a category draws from in a half (the split is by carrier series, fixed here).

    M4 ids are split into halves by a fixed random permutation, and each
    half's hourly ids into disjoint shares per category (eight weekly series
    per half join the cloud metrics as slow-moving ones); Superstore regions Central
    and South are development, East and West test; bike sharing temperature
    and wind speed development, humidity test; rentals of 2011 development,
    of 2012 test; page views test.
    """
    if half not in HALVES:
        raise ValidationError(f"Unknown half {half!r}; allowed: {list(HALVES)}.", field="half")
    h = HALVES.index(half)

    def split(source: str, shares: tuple[str, ...]) -> dict[str, list[str]]:
        ids = _ids(carriers, source)
        perm = np.random.default_rng([SEED, len(source)]).permutation(len(ids))
        mine = [ids[j] for j in perm[h::2]]
        return {s: mine[i::len(shares)] for i, s in enumerate(shares)}

    m4h = split("m4h", ("cloud", "traffic", "tweets"))
    m4w = split("m4w", ("cloud",))
    regions = ("Central", "South") if half == "dev" else ("East", "West")
    store = [k for k in _ids(carriers, "superstore") if k.split(":")[1].split("_")[0] in regions]
    sensors = ["bike:temp", "bike:windspeed"] if half == "dev" else ["bike:hum"]
    rentals = ["bike:cnt_2011"] if half == "dev" else ["bike:cnt_2012"]
    pools = {
        "ad": store + rentals + ([] if half == "dev" else ["prophet:peyton_views"]),
        "cloud": m4h["cloud"] + sensors + m4w["cloud"][:8],
        "traffic": m4h["traffic"],
        "tweets": rentals + m4h["tweets"],
    }
    if category not in pools:
        raise ValidationError(f"Unknown category {category!r}; allowed: {list(pools)}.", field="category")
    return pools[category]


# ------------------------------------------------------------------ shaping
def _roughness(v: np.ndarray) -> float:
    """Robust SD of each value around the mean of its neighbours, as the SD of white noise."""
    if len(v) < 3:
        return 0.0
    r = v[1:-1] - 0.5 * (v[:-2] + v[2:])
    return float(1.4826 * np.median(np.abs(r - np.median(r))) / np.sqrt(1.5))


def _upsample(v: np.ndarray, factor: int, rng: np.random.Generator, counts: bool, rate_mean: float | None):
    """Interpolate ``factor`` points per carrier step; Poisson counts or Gaussian noise as rough as the carrier."""
    n = len(v)
    fine = np.interp(np.arange(n * factor) / factor, np.arange(n), v)
    if counts:
        rate = np.clip(fine, 0.0, None)
        scale = rate_mean / max(rate.mean(), 1e-9) if rate_mean else 1.0 / factor
        return rng.poisson(rate * scale).astype(float)
    return fine + rng.normal(0.0, _roughness(v), len(fine))


def _shape(car: Carrier, cat: Category, rng: np.random.Generator) -> tuple[np.ndarray, bool, bool]:
    """The carrier shaped as a stream of the category: values, positive, counts."""
    v = car.values
    factor = 12 if cat.freq == "5min" and car.freq == "h" else 1
    need = -(-cat.length // factor)
    if len(v) > need:
        a = int(rng.integers(0, len(v) - need + 1))
        v = v[a : a + need]
    if factor > 1:
        counts = cat.counts
        rate = float(10 ** rng.uniform(0.7, 2.0)) if counts and not car.counts else None
        v = _upsample(v, factor, rng, counts, rate)[: cat.length]
        return v, car.positive or counts, counts
    return v.astype(float), car.positive, car.counts


# ------------------------------------------------------------------ planting
def _noise_unit(v: np.ndarray) -> float:
    """Size unit of a planted anomaly: the carrier's roughness, at least 5% of its 1-99% range."""
    lo, hi = np.nanpercentile(v, [1, 99])
    return max(_roughness(v), 0.05 * (hi - lo), 1e-9)


def _envelope(w: int) -> np.ndarray:
    """A burst's profile over ``w`` points: a fast rise, then an exponential decay."""
    rise = max(1, w // 6)
    up = np.linspace(1.0 / rise, 1.0, rise)
    down = np.exp(-3.0 * np.arange(1, w - rise + 1) / max(w - rise, 1))
    return np.r_[up, down][:w]


def _plant(kind: str, y: np.ndarray, t0: int, u: float, rng: np.random.Generator, positive: bool, counts: bool):
    """Plant one anomaly of ``kind`` at ``t0`` in ``y`` (in place); returns its duration in points."""
    n = len(y)
    sign = 1.0 if counts else float(rng.choice([-1.0, 1.0]))
    local = float(np.nanmedian(y[max(0, t0 - 50) : t0])) if t0 else float(y[0])
    if kind == "spike":
        w = int(rng.integers(1, 4))
        y[t0 : t0 + w] += sign * u * rng.uniform(4.0, 10.0)
    elif kind == "drop":
        w = int(rng.integers(3, 49))
        if positive and local > 2 * u:
            y[t0 : t0 + w] *= rng.uniform(0.0, 0.4)
        else:
            y[t0 : t0 + w] -= u * rng.uniform(4.0, 10.0)
    elif kind == "level_shift":
        w = n - t0
        if counts and local > 0:
            f = rng.uniform(1.6, 3.0) if rng.random() < 0.6 else rng.uniform(0.25, 0.6)
            y[t0:] = rng.poisson(np.clip(y[t0:], 0, None) * f).astype(float)
        else:
            y[t0:] += sign * u * rng.uniform(2.5, 6.0)
    elif kind == "burst":
        w = int(rng.integers(6, 61))
        env = _envelope(min(w, n - t0))
        if counts:
            peak = rng.uniform(1.5, 5.0) * max(local, 1.0)
            y[t0 : t0 + len(env)] += rng.poisson(peak * env).astype(float)
        else:
            y[t0 : t0 + len(env)] += sign * u * rng.uniform(3.0, 10.0) * env
    elif kind == "variance_change":
        w = n - t0 if rng.random() < 0.5 else int(rng.integers(100, 400))
        w = min(w, n - t0)
        y[t0 : t0 + w] += u * rng.uniform(2.0, 5.0) * rng.standard_normal(w)
    elif kind == "stuck":
        w = int(rng.integers(36, 301))
        y[t0 : t0 + w] = y[t0 - 1]
    elif kind == "trend_change":
        ramp = int(rng.integers(100, 601))
        w = n - t0
        prof = np.minimum(np.arange(1, w + 1) / ramp, 1.0)
        y[t0:] += sign * u * rng.uniform(4.0, 10.0) * prof
    else:
        raise ValidationError(f"Unknown anomaly kind {kind!r}; allowed: {list(KINDS)}.", field="kind")
    return min(w, n - t0)


def _starts(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """Anomaly starts after NAB's probationary period whose label windows (10% of n / k) do not overlap."""
    prob = probation(n)
    half = int(0.1 * n / k) // 2
    lo, hi = prob + half // 2, n - half - 2
    for _ in range(1000):
        s = sorted(int(v) for v in rng.integers(lo, hi, k))
        if all(b - a > 2 * half + 2 for a, b in itertools.pairwise(s)):
            return s
    return [int(v) for v in np.linspace(lo, hi, k + 2)[1:-1]]


def proxy_stream(carrier: Carrier, category: Category, rng: np.random.Generator, key: str) -> ProxyStream:
    """Shape ``carrier`` like ``category`` and plant one to three anomalies (see the module docstring)."""
    y, positive, counts = _shape(carrier, category, rng)
    y = y.copy()
    n = len(y)
    k = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
    names = list(category.kinds)
    w = np.array([category.kinds[s] for s in names], float)
    kinds = [str(s) for s in rng.choice(names, size=k, p=w / w.sum())]
    u = _noise_unit(y)
    starts = _starts(n, k, rng)
    for kind, t0 in zip(kinds, starts):
        _plant(kind, y, t0, u, rng, positive, counts)
    if counts:
        y = np.round(y)
    if positive:
        y = np.maximum(y, 0.0)
    ts = pd.date_range(pd.Timestamp("2020-01-06") + pd.Timedelta(days=int(rng.integers(0, 365))), periods=n,
                       freq=category.freq)
    keep = np.ones(n, bool)
    if category.gaps:
        keep = rng.random(n) >= category.gaps
        for t0 in starts:
            keep[t0 : t0 + 2] = True  # the anomaly itself is observed
    pos = np.cumsum(keep) - 1  # row of each kept point
    rows = [int(pos[t0]) for t0 in starts]
    tsk = ts[keep]
    windows = [(str(a), str(b)) for a, b in nab_windows(tsk, rows)]
    frame = pd.DataFrame({"timestamp": tsk, "value": y[keep]})
    return ProxyStream(key, frame, windows, kinds, rows)


def proxy_corpus(carriers: dict[str, Carrier], half: str) -> list[ProxyStream]:
    """Every stream of one half: :attr:`Category.files` per category, carriers drawn from its pool.

    Each stream draws its carrier round-robin from a fixed permutation of the
    category's pool, so every carrier of a small pool is used; seeds are fixed
    (:data:`SEED`, the half, the category, the file index).
    """
    out = []
    for ci, cat in enumerate(CATEGORIES):
        pool = carrier_pool(carriers, cat.name, half)
        order = np.random.default_rng([SEED, HALVES.index(half), ci]).permutation(len(pool))
        for i in range(cat.files):
            name = pool[order[i % len(pool)]]
            rng = np.random.default_rng([SEED, HALVES.index(half), ci, i])
            key = f"{cat.name}/{name.replace(':', '_')}_{i}.csv"
            out.append(proxy_stream(carriers[name], cat, rng, key))
    return out


def write_corpus(streams: list[ProxyStream], folder: Path) -> Path:
    """Write the streams as a NAB data folder (``<key>`` CSVs), ``windows.json`` and ``kinds.json``.

    ``kinds.json`` maps each key to the planted kind of each window, in
    window order. Returns the path of ``windows.json``.
    """
    wins, kinds = {}, {}
    for s in streams:
        path = folder / s.key
        path.parent.mkdir(parents=True, exist_ok=True)
        s.frame.to_csv(path, index=False)
        wins[s.key] = [list(w) for w in s.windows]
        kinds[s.key] = list(s.kinds)
    (folder / "kinds.json").write_text(json.dumps(kinds, indent=1, sort_keys=True))
    out = folder / "windows.json"
    out.write_text(json.dumps(wins, indent=1, sort_keys=True))
    return out
