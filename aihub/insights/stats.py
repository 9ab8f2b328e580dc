"""Statistics behind the insight detectors (numpy/scipy only).

* :func:`mann_kendall` -- Mann-Kendall trend test with the tie correction of
  the variance (Mann 1945, "Nonparametric tests against trend", Econometrica
  13(3); Kendall 1975, *Rank Correlation Methods*, 4th ed.), as written in
  Gilbert 1987, *Statistical Methods for Environmental Pollution Monitoring*,
  ch. 16.
* :func:`seasonal_mann_kendall` -- the seasonal variant of Hirsch, Slack &
  Smith 1982 ("Techniques of trend analysis for monthly water quality data",
  Water Resources Research 18(1)): S and Var(S) summed over seasons.
* :func:`sens_slope` -- Sen 1968 ("Estimates of the regression coefficient
  based on Kendall's tau", JASA 63(324)) median of pairwise slopes with the
  Gilbert (1987, 16.5) confidence interval.
* :func:`robust_z` -- modified z-score of Iglewicz & Hoaglin 1993 (*How to
  detect and handle outliers*): ``(x - median) / (1.4826 * MAD)``.
* :func:`concentration` -- top-N share, Herfindahl-Hirschman index
  (Herfindahl 1950; Hirschman 1964) and the Pareto share.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from aihub.errors import ValidationError


@dataclass(frozen=True)
class MannKendallResult:
    """Result of a Mann-Kendall test.

    Attributes
    ----------
    n : int
        Number of finite observations used.
    s : float
        Kendall's S = sum over i<j of sign(x_j - x_i).
    var_s : float
        Variance of S under no trend, tie-corrected.
    z : float
        Standard normal statistic (with continuity correction when asked).
    p : float
        Two-sided p-value, 0 to 1.
    tau : float
        Kendall's tau-a = S / (n (n - 1) / 2), -1 to 1.
    trend : {"increasing", "decreasing", "no trend"}
        At the ``alpha`` the test ran with.
    """

    n: int
    s: float
    var_s: float
    z: float
    p: float
    tau: float
    trend: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(x: Any, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _s_and_var(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    if n < 2:
        return 0.0, 0.0
    diff = x[None, :] - x[:, None]  # diff[i, j] = x_j - x_i
    s = float(np.sign(diff[np.triu_indices(n, k=1)]).sum())
    _, counts = np.unique(x, return_counts=True)
    t = counts[counts > 1].astype(float)
    var = (n * (n - 1) * (2 * n + 5) - float((t * (t - 1) * (2 * t + 5)).sum())) / 18.0
    return s, var


def _z_of(s: float, var: float, continuity: bool) -> float:
    if var <= 0:
        return 0.0
    if continuity:
        if s > 0:
            return (s - 1.0) / math.sqrt(var)
        if s < 0:
            return (s + 1.0) / math.sqrt(var)
        return 0.0
    return s / math.sqrt(var)


def mann_kendall(x: Any, *, alpha: float = 0.05, continuity: bool = True) -> MannKendallResult:
    """Mann-Kendall test for a monotonic trend in an ordered series.

    Method
    ------
    ``S = sum_{i<j} sign(x_j - x_i)``;
    ``Var(S) = [n(n-1)(2n+5) - sum_t t(t-1)(2t+5)] / 18`` where ``t`` runs
    over the sizes of groups of tied values;
    ``Z = (S - sign(S)) / sqrt(Var S)`` (continuity correction) and the
    two-sided ``p = 2 (1 - Phi(|Z|))``. Without the continuity correction
    ``Z = S / sqrt(Var S)``, which equals the asymptotic statistic of
    ``scipy.stats.kendalltau(range(n), x)`` (ties in ``x`` included).

    Parameters
    ----------
    x : array-like of float, shape (n,)
        Values in time order, evenly spaced; NaN are dropped.
    alpha : float, default 0.05
        Significance level for ``trend``.
    continuity : bool, default True

    Returns
    -------
    MannKendallResult
        ``p = 1`` and ``trend = "no trend"`` for fewer than 3 values or a
        constant series.

    Notes
    -----
    Assumes independent observations; positive autocorrelation makes the
    test too liberal (Hamed & Rao 1998). O(n^2) memory: meant for windows of
    up to a few hundred periods.
    """
    v = _clean(x)
    n = len(v)
    if n < 3:
        return MannKendallResult(n, 0.0, 0.0, 0.0, 1.0, 0.0, "no trend")
    s, var = _s_and_var(v)
    z = _z_of(s, var, continuity)
    p = float(2.0 * sps.norm.sf(abs(z))) if var > 0 else 1.0
    tau = s / (n * (n - 1) / 2.0)
    trend = "no trend" if p >= alpha or s == 0 else ("increasing" if s > 0 else "decreasing")
    return MannKendallResult(n, s, var, float(z), min(1.0, p), float(tau), trend)


def seasonal_mann_kendall(x: Any, period: int, *, alpha: float = 0.05, continuity: bool = True) -> MannKendallResult:
    """Seasonal Mann-Kendall test (Hirsch, Slack & Smith 1982).

    The series is split into ``period`` seasons (positions ``k, k + period,
    ...``); S and Var(S) of the per-season Mann-Kendall tests are summed, so
    only changes between the same season of different years count.

    Parameters
    ----------
    x : array-like of float, shape (n,)
        Values in time order; NaN are dropped within each season.
    period : int
        Season length in observations (12 for monthly data), at least 2.

    Returns
    -------
    MannKendallResult
        ``n`` is the number of values, ``tau`` = S over the number of
        within-season pairs.
    """
    if int(period) < 2:
        raise ValidationError(f"season period must be at least 2; got {period!r}", field="period")
    arr = np.asarray(x, dtype=float).ravel()
    s_tot = var_tot = 0.0
    pairs = 0
    n_tot = 0
    for k in range(int(period)):
        v = _clean(arr[k :: int(period)])
        n_tot += len(v)
        if len(v) < 2:
            continue
        s, var = _s_and_var(v)
        s_tot += s
        var_tot += var
        pairs += len(v) * (len(v) - 1) // 2
    if pairs == 0 or var_tot <= 0:
        return MannKendallResult(n_tot, s_tot, var_tot, 0.0, 1.0, 0.0, "no trend")
    z = _z_of(s_tot, var_tot, continuity)
    p = float(2.0 * sps.norm.sf(abs(z)))
    trend = "no trend" if p >= alpha or s_tot == 0 else ("increasing" if s_tot > 0 else "decreasing")
    return MannKendallResult(n_tot, s_tot, var_tot, float(z), min(1.0, p), float(s_tot / pairs), trend)


@dataclass(frozen=True)
class SenSlope:
    """Sen's slope with a two-sided confidence interval.

    Attributes
    ----------
    slope : float
        Median of pairwise slopes, in units of ``x`` per period.
    lower, upper : float
        Confidence bounds at ``level`` (NaN when the series is too short).
    intercept : float
        ``median(x) - slope * median(t)`` (Conover 1980 convention).
    level : float
    """

    slope: float
    lower: float
    upper: float
    intercept: float
    level: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sens_slope(x: Any, *, level: float = 0.95, period: int | None = None) -> SenSlope:
    """Sen's (1968) slope estimator with Gilbert's (1987) confidence interval.

    Method
    ------
    Slopes ``(x_j - x_i) / (j - i)`` for all pairs ``i < j`` (within the same
    season when ``period`` is given), ``slope`` = their median. With N'
    slopes sorted and ``C = z_{(1+level)/2} sqrt(Var S)``, the bounds are the
    ``(N' - C) / 2``-th and ``(N' + C) / 2 + 1``-th smallest slopes
    (1-based, interpolated).

    Parameters
    ----------
    x : array-like of float, shape (n,)
        Values in time order, evenly spaced; NaN positions are skipped but
        keep their place in time.
    level : float, default 0.95
    period : int, optional
        Season length for the seasonal Sen slope.

    Returns
    -------
    SenSlope
        All NaN for fewer than two finite values.
    """
    arr = np.asarray(x, dtype=float).ravel()
    t = np.arange(len(arr), dtype=float)
    groups = [np.arange(len(arr))] if not period else [np.arange(k, len(arr), int(period)) for k in range(int(period))]
    slopes = []
    var = 0.0
    for g in groups:
        ok = g[np.isfinite(arr[g])]
        if len(ok) < 2:
            continue
        i, j = np.triu_indices(len(ok), k=1)
        slopes.append((arr[ok][j] - arr[ok][i]) / (t[ok][j] - t[ok][i]))
        var += _s_and_var(arr[ok])[1]
    if not slopes:
        nan = float("nan")
        return SenSlope(nan, nan, nan, nan, level)
    d = np.sort(np.concatenate(slopes))
    slope = float(np.median(d))
    n_pairs = len(d)
    c = float(sps.norm.ppf(0.5 + level / 2.0) * math.sqrt(max(var, 0.0)))
    m1 = (n_pairs - c) / 2.0
    m2 = (n_pairs + c) / 2.0 + 1.0
    pos = np.arange(1, n_pairs + 1, dtype=float)
    lower = float(np.interp(m1, pos, d)) if m1 >= 1 else float("nan")
    upper = float(np.interp(m2, pos, d)) if m2 <= n_pairs else float("nan")
    fin = np.isfinite(arr)
    intercept = float(np.median(arr[fin]) - slope * np.median(t[fin]))
    return SenSlope(slope, lower, upper, intercept, level)


def robust_z(value: float, history: Any) -> tuple[float, float, float]:
    """Modified z-score of ``value`` against ``history`` (Iglewicz & Hoaglin 1993).

    Returns
    -------
    z : float
        ``(value - median) / (1.4826 * MAD)``; when the MAD is 0 the mean
        absolute deviation times 1.2533 is used instead (both estimate the
        standard deviation of normal data); ``inf`` (signed) or 0 when the
        history is constant.
    median : float
    scale : float
        The robust standard deviation used.
    """
    h = _clean(history)
    if len(h) == 0:
        return 0.0, float("nan"), float("nan")
    med = float(np.median(h))
    scale = 1.4826 * float(np.median(np.abs(h - med)))
    if scale <= 0:
        scale = 1.2533 * float(np.mean(np.abs(h - med)))
    if scale <= 0:
        diff = float(value) - med
        return (0.0 if diff == 0 else math.copysign(math.inf, diff)), med, 0.0
    return (float(value) - med) / scale, med, scale


@dataclass(frozen=True)
class Concentration:
    """How concentrated revenue is across holders (customers, products).

    Attributes
    ----------
    n : int
        Holders with positive revenue.
    total : float
        Their revenue (currency).
    top_n : int
        N of the top-N share.
    top_share : float
        Share of revenue held by the ``top_n`` largest, 0 to 1.
    top_revenue : float
        Their revenue (currency).
    top1_share : float
        Share of the largest holder, 0 to 1.
    hhi : float
        Herfindahl-Hirschman index ``sum s_i^2``, 1/n to 1 (US DOJ scale
        divides by 10,000: 0.15 = 1,500, 0.25 = 2,500).
    effective_n : float
        ``1 / hhi``: the number of equal holders with the same HHI.
    pareto_share : float
        Smallest fraction of holders (0 to 1) that together hold at least
        ``pareto_level`` of revenue.
    pareto_level : float
    """

    n: int
    total: float
    top_n: int
    top_share: float
    top_revenue: float
    top1_share: float
    hhi: float
    effective_n: float
    pareto_share: float
    pareto_level: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def concentration(revenue: Any, *, top_n: int = 10, pareto_level: float = 0.8) -> Concentration:
    """Concentration statistics of revenue by holder.

    Parameters
    ----------
    revenue : array-like of float, shape (n_holders,)
        Revenue per holder (currency). Holders with zero or negative revenue
        (returns, credits) are left out of every share.
    top_n : int, default 10
    pareto_level : float, default 0.8
        Share of revenue for the Pareto figure (the "80" of 80/20).

    Returns
    -------
    Concentration

    Raises
    ------
    ValidationError
        No holder with positive revenue (``field="amount"``).
    """
    r = _clean(revenue)
    r = np.sort(r[r > 0])[::-1]
    if len(r) == 0:
        raise ValidationError(
            "no customer or product has positive revenue; cannot measure concentration", field="amount"
        )
    total = float(r.sum())
    s = r / total
    k = min(int(top_n), len(r))
    cum = np.cumsum(s)
    need = int(np.searchsorted(cum, pareto_level - 1e-12) + 1)
    hhi = float((s**2).sum())
    return Concentration(
        n=len(r),
        total=total,
        top_n=k,
        top_share=float(cum[k - 1]),
        top_revenue=float(r[:k].sum()),
        top1_share=float(s[0]),
        hhi=hhi,
        effective_n=1.0 / hhi,
        pareto_share=min(need, len(r)) / len(r),
        pareto_level=float(pareto_level),
    )


def normal_confidence(z: float) -> float:
    """``Phi(|z|)``: one-sided probability (0.5 to 1) that the true value lies on the estimate's side of the reference."""
    if not math.isfinite(z):
        return 1.0
    return float(sps.norm.cdf(abs(z)))
