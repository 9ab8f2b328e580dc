"""Statistics behind the any-table detectors (numpy/scipy only).

* :func:`uncertainty_coefficient` -- Theil's uncertainty coefficient
  ``U(Y|X) = I(X;Y) / H(Y)`` (Theil 1970, "On the estimation of
  relationships involving qualitative variables", American Journal of
  Sociology 76(1)), the share of the outcome's entropy a column explains.
  The plug-in mutual information is biased upwards by about
  ``(r - 1)(c - 1) / (2N)`` nats (Miller 1955; the mean of the G statistic's
  chi-square null distribution), which is subtracted; the p-value is the
  G-test's, ``G = 2 N I`` against chi-square with ``(r - 1)(c - 1)`` degrees
  of freedom (Wilks 1938; Sokal & Rohlf, *Biometry*, ch. 17).
* :func:`epsilon_squared` -- Kelley's epsilon squared (Kelley 1935, "An
  unbiased correlation ratio measure", PNAS 21(9)), the share of a numeric
  outcome's variance explained by a column's groups, with the
  Kruskal-Wallis rank test's p-value (Kruskal & Wallis 1952), which does
  not assume normal data.
* :func:`bootstrap_interval` -- bias-corrected percentile bootstrap
  interval of a statistic over rows (Efron & Tibshirani 1993, *An
  Introduction to the Bootstrap*, ch. 10 and 13).
* :func:`robust_scores` -- modified z-scores (Iglewicz & Hoaglin 1993) of
  a column, as it is or on a log scale, whichever has fewer outliers.
* :func:`far_out` -- Tukey's far-out values (beyond 3 interquartile
  ranges past the quartiles; Tukey 1977), far out both as they are and on
  a log scale.
* :func:`quantile_groups` -- up to k quantile bins of a numeric column,
  described by the values they actually hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from aihub.insights.stats import robust_z

__all__ = [
    "Association",
    "FarOut",
    "RobustScores",
    "bootstrap_interval",
    "codes_of",
    "epsilon_squared",
    "far_out",
    "from_log",
    "log_kind",
    "normal_far_out_share",
    "quantile_groups",
    "robust_scores",
    "to_log",
    "uncertainty_coefficient",
]


@dataclass(frozen=True)
class Association:
    """How much of an outcome one column explains.

    Attributes
    ----------
    value : float
        Bias-corrected share explained, 0 to 1 (uncertainty coefficient or
        epsilon squared, clipped at 0).
    p : float
        P-value of no association (G-test or Kruskal-Wallis).
    n : int
        Rows used.
    groups : int
        Non-empty groups of the column.
    """

    value: float
    p: float
    n: int
    groups: int


def codes_of(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer codes of text labels (None is its own label ``"(missing)"``), categories sorted.

    Parameters
    ----------
    labels : numpy.ndarray of object, shape (n,)

    Returns
    -------
    codes : numpy.ndarray of int64, shape (n,)
    categories : list of str
    """
    filled = np.array(["(missing)" if v is None else str(v) for v in labels], dtype=object)
    cats, codes = np.unique(filled.astype(str), return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in cats]


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mi_counts(table: np.ndarray) -> tuple[float, int]:
    """Plug-in mutual information (nats) of a contingency table, and its degrees of freedom."""
    n = table.sum()
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    r, c = int((rows > 0).sum()), int((cols > 0).sum())
    nz = table > 0
    expected = np.outer(rows, cols)[nz] / n
    mi = float((table[nz] * np.log(table[nz] / expected)).sum() / n)
    return mi, max(0, (r - 1) * (c - 1))


def uncertainty_coefficient(x: np.ndarray, y: np.ndarray, kx: int | None = None, ky: int | None = None) -> Association:
    """Share of the entropy of ``y`` explained by ``x``, bias-corrected, with the G-test p-value.

    Parameters
    ----------
    x, y : numpy.ndarray of int, shape (n,)
        Group codes 0..kx-1 and outcome codes 0..ky-1.
    kx, ky : int, optional
        Number of codes (default: max + 1).

    Returns
    -------
    Association
        ``value = max(0, (I - (r-1)(c-1) / 2N) / H(Y))``; ``p`` from
        ``G = 2 N I`` ~ chi-square((r-1)(c-1)). A constant ``y`` gives 0 and p 1.
    """
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    n = len(x)
    kx = int(kx if kx is not None else (x.max() + 1 if n else 1))
    ky = int(ky if ky is not None else (y.max() + 1 if n else 1))
    table = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky).astype(float)
    hy = _entropy(table.sum(axis=0))
    if n == 0 or hy <= 0:
        return Association(0.0, 1.0, n, int((table.sum(axis=1) > 0).sum()))
    mi, df = _mi_counts(table)
    value = max(0.0, (mi - df / (2.0 * n)) / hy)
    p = float(sps.chi2.sf(2.0 * n * mi, df)) if df > 0 else 1.0
    return Association(min(1.0, value), p, n, int((table.sum(axis=1) > 0).sum()))


def epsilon_squared(x: np.ndarray, y: np.ndarray, kx: int | None = None, *, with_p: bool = True) -> Association:
    """Share of the variance of ``y`` explained by the groups ``x`` (Kelley's epsilon squared), Kruskal-Wallis p.

    Parameters
    ----------
    x : numpy.ndarray of int, shape (n,)
        Group codes.
    y : numpy.ndarray of float, shape (n,)
        Finite outcome values.
    with_p : bool, default True
        Compute the Kruskal-Wallis p-value (False: ``p`` is NaN; for bootstrap resamples).

    Returns
    -------
    Association
        ``value = max(0, (SSB - (k-1) MSW) / SST)`` with ``MSW = SSW / (n - k)``.
    """
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=float)
    n = len(y)
    kx = int(kx if kx is not None else (x.max() + 1 if n else 1))
    cnt = np.bincount(x, minlength=kx).astype(float)
    k = int((cnt > 0).sum())
    sst = float(((y - y.mean()) ** 2).sum()) if n else 0.0
    if n <= k or k < 2 or sst <= 0:
        return Association(0.0, 1.0, n, k)
    sums = np.bincount(x, weights=y, minlength=kx)
    means = np.divide(sums, cnt, out=np.zeros_like(sums), where=cnt > 0)
    ssb = float((cnt * (means - y.mean()) ** 2).sum())
    msw = (sst - ssb) / (n - k)
    value = max(0.0, (ssb - (k - 1) * msw) / sst)
    if not with_p:
        return Association(min(1.0, value), float("nan"), n, k)
    groups = [y[x == g] for g in np.flatnonzero(cnt > 0)]
    try:
        p = float(sps.kruskal(*groups).pvalue)
    except ValueError:  # every value identical within and across groups
        p = 1.0
    return Association(min(1.0, value), p if math.isfinite(p) else 1.0, n, k)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    rng: np.random.Generator,
    *,
    reps: int = 200,
    level: float = 0.9,
    estimate: float | None = None,
) -> tuple[float, float]:
    """Bias-corrected percentile bootstrap interval of ``statistic`` over ``n`` rows.

    Parameters
    ----------
    statistic : callable
        ``statistic(idx)`` with ``idx`` an int array of row positions (shape (n,), drawn with replacement).
    n : int
        Rows.
    rng : numpy.random.Generator
    reps : int, default 200
    level : float, default 0.9
    estimate : float, optional
        The statistic on the original rows; when given, the percentiles are
        shifted by the bootstrap bias ``mean(boot) - estimate``.

    Returns
    -------
    (low, high) : tuple of float
    """
    boot = np.array([statistic(rng.integers(0, n, n)) for _ in range(reps)], dtype=float)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [a, 1.0 - a])
    if estimate is not None:
        bias = float(boot.mean()) - float(estimate)
        lo, hi = lo - bias, hi - bias
    return float(lo), float(hi)


@dataclass(frozen=True)
class RobustScores:
    """Modified z-scores of one column.

    Attributes
    ----------
    z : numpy.ndarray of float, shape (n,)
        NaN where the value is missing.
    median : float
        Median on the original scale.
    log_scale : bool
        True when the scores were computed on ``log1p(x)``.
    low, high : float
        Values on the original scale at ``-threshold`` and ``+threshold``
        robust standard deviations from the median: rows outside are outliers.
    kind : str
        The log scale used (:func:`log_kind`), "" on the original scale.
    """

    z: np.ndarray
    median: float
    log_scale: bool
    low: float
    high: float
    kind: str = ""


def robust_scores(
    x: np.ndarray, threshold: float = 3.5, *, strict_mad: bool = False, kind: str | None = None
) -> RobustScores | None:
    """Modified z-scores (Iglewicz & Hoaglin 1993) of a column, on the scale where it has the fewest outliers.

    Amounts and volumes are often right-skewed or heavy-tailed, so that on
    their own scale a long tail of ordinary values lies beyond any cut-off.
    The column is scored as it is and on a log scale (:func:`log_kind`) and
    the scale with fewer values beyond ``threshold`` is kept (on a tie, the
    original scale). An outlier is thus far from the rest on the more
    forgiving of the two scales.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n,)
    threshold : float, default 3.5
        Iglewicz & Hoaglin's cut-off.
    strict_mad : bool, default False
        Give up when the median absolute deviation is 0 (by default the
        mean absolute deviation stands in, as :func:`~aihub.insights.stats.robust_z` does).
    kind : {"log", "log1p", "logmod"}, optional
        The log scale to try (default: :func:`log_kind` of ``x``); give the
        column's when ``x`` holds summaries of it (segment medians).

    Returns
    -------
    RobustScores or None
        None when fewer than 8 finite values or no spread.
    """
    x = np.asarray(x, dtype=float)
    fin = np.isfinite(x)
    v = x[fin]
    if len(v) < 8:
        return None
    kind = kind or log_kind(v)
    best = None
    for log_scale in (False, True):
        t = to_log(v, kind) if log_scale else v
        if not np.all(np.isfinite(t)):
            continue
        med_t = float(np.median(t))
        mad = float(np.median(np.abs(t - med_t)))
        if strict_mad and mad <= 0:
            continue
        _, med, scale = robust_z(float(t[0]), t)
        if not scale or not math.isfinite(scale) or scale <= 0:
            continue
        z = (t - med) / scale
        n_out = int((np.abs(z) > threshold).sum())
        if best is None or n_out < best[0]:
            best = (n_out, log_scale, z, med, scale)
    if best is None:
        return None
    _, log_scale, zf, med, scale = best
    z = np.full(len(x), np.nan)
    z[fin] = zf
    lo_t, hi_t = med - threshold * scale, med + threshold * scale
    if log_scale:
        low, high = from_log(lo_t, kind), from_log(hi_t, kind)
    else:
        low, high = float(lo_t), float(hi_t)
    return RobustScores(z, float(np.median(v)), log_scale, low, high, kind if log_scale else "")


@dataclass(frozen=True)
class FarOut:
    """Values of a column beyond Tukey's far-out fences on its own scale and on a log scale.

    Attributes
    ----------
    mask : numpy.ndarray of bool, shape (n,)
        True for far-out values (missing values are False).
    distance : numpy.ndarray of float, shape (n,)
        How far beyond the nearer quartile each value lies, in interquartile
        ranges of the original scale (0 inside the quartiles, NaN when missing).
    low, high : float
        Values below ``low`` or above ``high`` are far out (original scale).
    median : float
        Median on the original scale.
    log_scale : bool
        True when the log scale took part (it has a non-zero interquartile range).
    """

    mask: np.ndarray
    distance: np.ndarray
    low: float
    high: float
    median: float
    log_scale: bool


def log_kind(v: np.ndarray) -> str:
    """The log scale for a column: ``log`` when every value is positive, ``log1p`` with zeros, else the
    log-modulus ``sign(x) log1p(|x|)`` (John & Draper 1980)."""
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) and v.min() > 0:
        return "log"
    return "log1p" if len(v) and v.min() >= 0 else "logmod"


def to_log(v: np.ndarray, kind: str) -> np.ndarray:
    """``v`` on the log scale ``kind`` (see :func:`log_kind`)."""
    v = np.asarray(v, dtype=float)
    if kind == "log":
        return np.log(v)
    if kind == "log1p":
        return np.log1p(v)
    return np.sign(v) * np.log1p(np.abs(v))


def from_log(u: float, kind: str) -> float:
    """Inverse of :func:`to_log` for one value."""
    if kind == "log":
        return float(np.exp(u))
    if kind == "log1p":
        return float(np.expm1(u))
    return float(np.sign(u) * np.expm1(abs(u)))


def far_out(x: np.ndarray, k: float = 3.0) -> FarOut | None:
    """Tukey's far-out values (Tukey 1977, *Exploratory Data Analysis*): beyond ``Q1 - k IQR`` or ``Q3 + k IQR``.

    With ``k = 3`` a normal sample has a value there about twice in a
    million. A value counts only when it is far out both on the column's own
    scale and on its log scale (:func:`log_kind`): amounts and volumes have
    long right tails that are ordinary on a log scale, and small positive
    values look extreme only on a log scale. Since the median lies inside
    both pairs of fences, this is the same as lying outside
    ``[min(low fences), max(high fences)]``.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n,)
    k : float, default 3.0

    Returns
    -------
    FarOut or None
        None with fewer than 8 finite values or a zero interquartile range
        on the original scale.
    """
    x = np.asarray(x, dtype=float)
    fin = np.isfinite(x)
    v = x[fin]
    if len(v) < 8:
        return None
    q1, q3 = np.quantile(v, [0.25, 0.75])
    iqr = float(q3 - q1)
    if iqr <= 0:
        return None
    low, high = float(q1 - k * iqr), float(q3 + k * iqr)
    kind = log_kind(v)
    u = to_log(v, kind)
    used_log = bool(np.all(np.isfinite(u)))
    if used_log:
        lq1, lq3 = np.quantile(u, [0.25, 0.75])
        log_iqr = float(lq3 - lq1)
        used_log = log_iqr > 0
        if used_log:
            low = min(low, from_log(float(lq1 - k * log_iqr), kind))
            high = max(high, from_log(float(lq3 + k * log_iqr), kind))
    dist = np.full(len(x), np.nan)
    dist[fin] = np.maximum(q1 - v, v - q3).clip(min=0) / iqr
    filled = np.nan_to_num(x, nan=float(np.median(v)))
    mask = fin & ((filled < low) | (filled > high))
    return FarOut(mask, dist, low, high, float(np.median(v)), used_log)


def normal_far_out_share(k: float = 3.0) -> float:
    """Share of a normal sample beyond Tukey's ``k``-IQR fences: ``2 Phi(-(0.6745 + 1.349 k))``."""
    return 2.0 * float(sps.norm.sf(sps.norm.ppf(0.75) + 2 * sps.norm.ppf(0.75) * k))


def quantile_groups(x: np.ndarray, k: int = 5) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Up to ``k`` quantile bins of a numeric column, and the smallest and largest value in each.

    Bins are cut at the ``1/k .. (k-1)/k`` quantiles (equal cut points
    merged); missing values get the last code. A column with at most ``k``
    distinct values gets one bin per value.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n,)
    k : int, default 5

    Returns
    -------
    codes : numpy.ndarray of int64, shape (n,)
    ranges : list of (min, max)
        Observed range of each bin; ``(nan, nan)`` for the missing bin (present
        only when some value is missing).
    """
    x = np.asarray(x, dtype=float)
    fin = np.isfinite(x)
    v = x[fin]
    uniq = np.unique(v)
    if len(uniq) <= k:
        edges = uniq
        codes_f = np.searchsorted(edges, v)
    else:
        cuts = np.unique(np.quantile(v, np.linspace(0, 1, k + 1)[1:-1], method="linear"))
        codes_f = np.searchsorted(cuts, v, side="right")
    used = np.unique(codes_f)
    codes = np.full(len(x), len(used), dtype=np.int64)
    codes[fin] = np.searchsorted(used, codes_f)
    ranges = [(float(v[codes_f == c].min()), float(v[codes_f == c].max())) for c in used]
    if (~fin).any():
        ranges.append((float("nan"), float("nan")))
    return codes, ranges
