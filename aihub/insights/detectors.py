"""The eight insight detectors.

Each detector takes one input contract (:mod:`aihub.insights.inputs`) and a
:class:`Context` and returns zero or more unranked :class:`Insight` objects
(``score`` 0, ``priority`` "low"; :func:`aihub.insights.generate_insights`
ranks them). A detector that lacks the data it needs (too few periods, no
customers) returns an empty list; it never invents a finding.

=====================  ==============================================================  =========================
detector               method                                                          confidence
=====================  ==============================================================  =========================
:func:`trend`          Mann-Kendall test (tie-corrected; seasonal variant optional)    ``1 - p``
                       and Sen's slope over the last ``trend_window`` complete periods
:func:`unusual_change` latest period-over-period log change (or difference) against    ``1 - p`` of a Student t
                       the earlier ones: modified z-score ``>= change_z``              with n - 1 df at ``|z|``
:func:`drivers`        contribution ``delta_slice / delta_total`` per slice of each    Poisson bootstrap over
                       dimension, last complete period vs previous / a year earlier    order lines
:func:`concentration`  top-N share, HHI and Pareto share of trailing revenue per       Poisson bootstrap over
                                                                                       order lines
                       customer and per product
:func:`forecast_gap`   forecast total vs target, same periods last year or run rate;   ``Phi(|gap| / sd)``, sd from
                       80% interval of the total = sums of the bounds                  the 80% interval
:func:`churn_risk`     customers with probability >= threshold, their revenue,         mean probability of the
                       expected loss ``sum p * revenue``, SHAP reasons by frequency    high-risk customers
:func:`segment_movement` size change per segment between snapshots; chi-square test    ``min(1 - p_chi2,
                       of the mix, two-proportion z-test per segment                   1 - p_segment)``
:func:`anomaly_digest` open anomalies of the chosen severities and their money         mean ``1 - 10^(-10 score)``
                       impact                                                          (1 without scores)
=====================  ==============================================================  =========================
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy import stats as sps

import aihub.insights.stats as stats  # noqa: PLR0402 - "from aihub.insights import" would import the package: a cycle
from aihub.insights.charts import chart_spec
from aihub.insights.formatting import render
from aihub.insights.inputs import (
    AnomaliesInput,
    ForecastInput,
    OrdersInput,
    PredictionsInput,
    SegmentsInput,
    period_index,
    period_label,
)
from aihub.insights.model import Insight, fingerprint
from aihub.insights.narratives import compose
from aihub.insights.params import FREQUENCIES, PERIODS_PER_YEAR, InsightParams

_Z80 = float(sps.norm.ppf(0.9))  # 1.2816: half-width of an 80% normal interval in sd


@dataclass(frozen=True)
class Context:
    """What every detector needs besides its input.

    Attributes
    ----------
    now : datetime
        Timezone-aware generation time (start of validity).
    as_of : pandas.Timestamp
        ``now`` as a naive UTC timestamp: data after it are ignored and
        periods ending after it are incomplete.
    params : InsightParams
    """

    now: datetime
    as_of: pd.Timestamp
    params: InsightParams


def _make(
    ctx: Context,
    *,
    insight_type: str,
    category: str,
    variant: str,
    subject: str,
    period: str,
    figures: dict[str, Any],
    confidence: float,
    magnitude: float,
    direction: str,
    method: str,
    evidence: list[dict[str, Any]],
    currency: str,
    clauses: tuple[str, ...] = (),
    extra_actions: tuple[str, ...] = (),
) -> Insight:
    title, narrative, actions, shown = compose(insight_type, variant, figures, currency, clauses, extra_actions)
    days = ctx.params.validity_days[insight_type]
    conf = float(min(1.0, max(0.0, confidence)))
    return Insight(
        type=insight_type,
        category=category,
        priority="low",
        score=0.0,
        confidence=round(conf, 4),
        title=title,
        narrative=narrative,
        recommended_actions=actions,
        valid_from=ctx.now,
        valid_until=ctx.now + timedelta(days=days),
        evidence=evidence,
        figures={k: _plain(v) for k, v in figures.items()},
        fingerprint=fingerprint(insight_type, subject, period),
        subject=subject,
        period=period,
        direction=direction,
        magnitude=float(abs(magnitude)) if magnitude is not None and math.isfinite(magnitude) else 0.0,
        currency=currency,
        method=method,
        figure_text=shown,
    )


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _dataset_link(orders: OrdersInput) -> list[dict[str, Any]]:
    if orders.dataset_id is None:
        return []
    return [{"kind": "dataset", "id": orders.dataset_id, "name": orders.dataset_name or ""}]


def _rng(ctx: Context, fp: str) -> np.random.Generator:
    return np.random.default_rng([ctx.params.seed, zlib.crc32(fp.encode())])


# ---------------------------------------------------------------- 1. trend
def trend(orders: OrdersInput, ctx: Context) -> list[Insight]:
    """Significant monotonic trend of the metric over the last complete periods.

    Method: aggregate ``amount`` by ``trend_freq`` (complete periods only),
    take the last ``trend_window``, run :func:`~aihub.insights.stats.mann_kendall`
    (or the seasonal test with ``trend_season``) and report Sen's slope when
    ``p < alpha``. Needs at least ``min(window, 8)`` periods (two seasons for
    the seasonal test).

    Figures: ``slope`` (currency per period), ``slope_year`` (x periods per
    year), ``slope_rel`` (slope / mean level), ``mean``, ``p``, ``tau``,
    ``z``, ``s``, ``n``, ``window``, ``slope_lower``/``slope_upper`` (95%).
    """
    p = ctx.params
    freq = p.trend_freq
    s = orders.periods(freq, ctx.as_of).iloc[-p.trend_window :]
    n = len(s)
    season = p.trend_season
    if n < max(4, min(p.trend_window, 8)) or (season and n < 2 * season):
        return []
    y = s.to_numpy()
    mk = stats.seasonal_mann_kendall(y, season, alpha=p.alpha) if season else stats.mann_kendall(y, alpha=p.alpha)
    if mk.trend == "no trend":
        return []
    sen = stats.sens_slope(y, period=season)
    if not math.isfinite(sen.slope) or sen.slope == 0:
        return []
    up = sen.slope > 0
    mean = float(np.mean(y))
    unit = FREQUENCIES[freq]
    figures = {
        "metric": orders.metric,
        "Metric": _cap(orders.metric),
        "unit": unit,
        "window": n,
        "start": period_label(s.index[0], freq),
        "end": period_label(s.index[-1], freq),
        "slope": sen.slope,
        "slope_year": sen.slope * PERIODS_PER_YEAR[freq],
        "slope_rel": sen.slope / abs(mean) if mean != 0 else float("nan"),
        "mean": mean,
        "slope_lower": sen.lower,
        "slope_upper": sen.upper,
        "p": mk.p,
        "tau": mk.tau,
        "z": mk.z,
        "s": mk.s,
        "n": mk.n,
        "test_name": "The seasonal Mann-Kendall test" if season else "The Mann-Kendall test",
    }
    t = np.arange(n)
    chart = chart_spec(
        f"{_cap(orders.metric)} per {unit} and Sen's trend line",
        [period_label(q, freq) for q in s.index],
        [
            {"name": orders.metric, "kind": "line", "y": y},
            {"name": "Sen's slope", "kind": "dash", "y": sen.intercept + sen.slope * t},
        ],
        y_title=orders.currency,
    )
    method = (
        f"{'Seasonal ' if season else ''}Mann-Kendall test (tie-corrected, alpha {p.alpha:g}) and Sen's slope "
        f"on {n} complete {unit}ly totals of {orders.amount}"
    )
    return [
        _make(
            ctx,
            insight_type="trend",
            category=orders.category,
            variant="up" if up else "down",
            subject=orders.metric,
            period=f"{s.index[0]}/{s.index[-1]}",
            figures=figures,
            confidence=1.0 - mk.p,
            magnitude=figures["slope_year"],
            direction="opportunity" if up else "risk",
            method=method,
            evidence=[{"kind": "chart", "spec": chart}, *_dataset_link(orders)],
            currency=orders.currency,
        )
    ]


# ---------------------------------------------------------------- 2. unusual change
def unusual_change(orders: OrdersInput, ctx: Context) -> list[Insight]:
    """Latest period-over-period change far outside the history of changes.

    Method: complete ``change_freq`` totals ``y``; changes
    ``c_t = log(y_t / y_{t-L})`` when every total is positive (else
    ``y_t - y_{t-L}``) with ``L = change_lag``; the latest change's modified
    z-score against the earlier changes (at most the last 60),
    ``z = (c_last - median) / (1.4826 MAD)``; fires when ``|z| >= change_z``.
    Confidence ``1 - 2 t_{n-1}.sf(|z|)``.

    Figures: ``value``, ``ref_value``, ``change`` (currency), ``change_rel``,
    ``typical_rel`` (or ``typical``), ``expected`` (value with the typical
    change), ``z``, ``z_abs``, ``n_hist``.
    """
    p = ctx.params
    freq, lag = p.change_freq, p.change_lag
    s = orders.periods(freq, ctx.as_of)
    if len(s) < lag + p.change_min_history + 1:
        return []
    y = s.to_numpy()
    relative = bool((y > 0).all())
    c = np.log(y[lag:] / y[:-lag]) if relative else y[lag:] - y[:-lag]
    last, hist = float(c[-1]), c[:-1][-60:]
    z, med, scale = stats.robust_z(last, hist)
    if not abs(z) >= p.change_z:
        return []
    pval = 0.0 if not math.isfinite(z) else float(2.0 * sps.t.sf(abs(z), df=len(hist) - 1))
    value, ref = float(y[-1]), float(y[-1 - lag])
    expected = ref * math.exp(med) if relative else ref + med
    unit = FREQUENCIES[freq]
    ppy = PERIODS_PER_YEAR[freq]
    lag_name = f"{unit}-on-{unit}" if lag == 1 else "year-on-year" if lag == ppy else f"{lag}-{unit}"
    up = last > 0
    figures = {
        "metric": orders.metric,
        "Metric": _cap(orders.metric),
        "unit": unit,
        "period": period_label(s.index[-1], freq),
        "ref_period": period_label(s.index[-1 - lag], freq),
        "value": value,
        "ref_value": ref,
        "change": value - ref,
        "change_rel": value / ref - 1.0 if ref != 0 else float("nan"),
        "typical_rel": math.exp(med) - 1.0 if relative else float("nan"),
        "typical": med if not relative else ref * (math.exp(med) - 1.0),
        "expected": expected,
        "z": z,
        "z_abs": abs(z),
        "z_threshold": p.change_z,
        "robust_sd": scale,
        "n_hist": len(hist),
        "lag": lag,
        "lag_name": lag_name,
        "p": pval,
    }
    chart = chart_spec(
        f"{_cap(orders.metric)} per {unit}",
        [period_label(q, freq) for q in s.index[-max(24, lag + 2) :]],
        [{"name": orders.metric, "kind": "bar", "y": y[-max(24, lag + 2) :]}],
        y_title=orders.currency,
    )
    method = (
        f"Modified z-score (Iglewicz-Hoaglin) of the latest {lag_name} "
        f"{'log change' if relative else 'change'} against the previous {len(hist)}; alert at |z| >= {p.change_z:g}"
    )
    return [
        _make(
            ctx,
            insight_type="unusual_change",
            category=orders.category,
            variant=("up" if up else "down") + ("" if relative else "_abs"),
            subject=f"{orders.metric} {lag_name}",
            period=f"{s.index[-1]}",
            figures=figures,
            confidence=1.0 - pval,
            magnitude=value - expected,
            direction="opportunity" if up else "risk",
            method=method,
            evidence=[{"kind": "chart", "spec": chart}, *_dataset_link(orders)],
            currency=orders.currency,
        )
    ]


# ---------------------------------------------------------------- 3. drivers
def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    filled = values.fillna("(missing)").astype(str)
    cats = sorted(filled.unique())
    lookup = {c: i for i, c in enumerate(cats)}
    return filled.map(lookup).to_numpy(dtype=np.int64), cats


#: Above this many rows the Poisson bootstrap is replaced by its normal approximation.
POISSON_BOOTSTRAP_MAX_ROWS = 250_000


def _boot_sums(rng: np.random.Generator, codes: np.ndarray, amounts: np.ndarray, k: int, reps: int) -> np.ndarray:
    """Slice sums of ``reps`` Poisson-bootstrap resamples of rows, shape (reps, k).

    Each row gets an independent Poisson(1) weight per resample (Hanley &
    MacGibbon 2006; Chamandy et al. 2012, "Estimating uncertainty for massive
    data streams"), so both the amounts and the number of orders vary, as
    they do when orders arrive at random. Resamples are drawn in chunks of
    about four million weights to bound memory. Above
    :data:`POISSON_BOOTSTRAP_MAX_ROWS` rows, each slice sum is drawn from its
    normal approximation ``N(S_k, sum_{i in k} x_i^2)`` (the mean and
    variance of the Poisson-weighted sum; slices are independent), which is
    O(rows) instead of O(rows x reps).
    """
    n = len(codes)
    out = np.zeros((reps, k))
    if n == 0:
        return out
    if n > POISSON_BOOTSTRAP_MAX_ROWS:
        mean = np.bincount(codes, weights=amounts, minlength=k)
        sd = np.sqrt(np.bincount(codes, weights=amounts**2, minlength=k))
        return mean[None, :] + sd[None, :] * rng.standard_normal((reps, k))
    onehot = sparse.csr_matrix((amounts, (np.arange(n), codes)), shape=(n, k)).T.tocsr()
    chunk = max(1, int(4_000_000 // n))
    for start in range(0, reps, chunk):
        r = min(chunk, reps - start)
        w = rng.poisson(1.0, size=(n, r)).astype(float)
        out[start : start + r] = np.asarray(onehot @ w).T
    return out


def drivers(orders: OrdersInput, ctx: Context) -> list[Insight]:
    """Which slices of each dimension explain the change of the last complete period.

    Method: last complete ``drivers_freq`` period P against the previous one
    (or the same period a year earlier, ``drivers_compare="year_ago"``).
    With totals ``T1``, ``T0`` and ``delta = T1 - T0`` (skipped when
    ``|delta| / T0 < drivers_min_change``), each slice's contribution is
    ``share_k = (S1_k - S0_k) / delta`` (shares sum to 1; a slice moving
    against the total has a negative share). The top driver is the slice
    with the largest contribution in the direction of ``delta``; the
    detractor the largest against it.

    Confidence: order lines of both periods are Poisson-bootstrapped
    (``bootstrap`` resamples, :func:`_boot_sums`); ``confidence_total`` is
    the share of resamples in which ``delta`` keeps its sign and
    ``confidence`` the share in which, in addition, the top slice still
    contributes in that direction. Fires when the change itself is beyond
    order-level noise (``confidence_total >= 1 - alpha / 2``, a two-sided
    test at ``alpha``) and ``confidence >= drivers_min_confidence``.

    Figures: ``total_before``, ``total_after``, ``delta``, ``rel``,
    ``share``, ``slice_before``, ``slice_after``, ``slice_delta``,
    ``share_low``/``share_high`` (10th/90th bootstrap percentiles), and the
    runner-up and detractor when present.
    """
    p = ctx.params
    if not orders.dimensions:
        return []
    freq = p.drivers_freq
    data = orders.data
    s = orders.periods(freq, ctx.as_of)
    lag = 1 if p.drivers_compare == "previous" else int(PERIODS_PER_YEAR[freq])
    if freq in ("D", "W") and p.drivers_compare == "year_ago":
        lag = 364 if freq == "D" else 52
    if len(s) < lag + 1:
        return []
    P, Q = s.index[-1], s.index[-1 - lag]
    t1, t0 = float(s.iloc[-1]), float(s.iloc[-1 - lag])
    delta = t1 - t0
    if t0 <= 0 or abs(delta) / t0 < p.drivers_min_change:
        return []
    sign = 1.0 if delta > 0 else -1.0
    per = period_index(data["date"], freq)
    in1 = np.asarray(per == P)
    in0 = np.asarray(per == Q)
    amt = data["amount"].to_numpy(dtype=float)
    out = []
    for dim in orders.dimensions:
        codes, cats = _codes(data[f"dim:{dim}"])
        k = len(cats)
        c1, c0 = codes[in1], codes[in0]
        a1, a0 = amt[in1], amt[in0]
        s1 = np.bincount(c1, weights=a1, minlength=k)
        s0 = np.bincount(c0, weights=a0, minlength=k)
        d = s1 - s0
        order = np.argsort(-sign * d, kind="stable")
        top = int(order[0])
        if k < 2 or sign * d[top] <= 0:
            continue
        subject = f"{orders.metric} by {dim}"
        period = f"{P} vs {Q}"
        fp = fingerprint("drivers", subject, period)
        rng = _rng(ctx, fp)
        b1 = _boot_sums(rng, c1, a1, k, p.bootstrap)
        b0 = _boot_sums(rng, c0, a0, k, p.bootstrap)
        db = b1 - b0
        delta_b = db.sum(axis=1)
        same_sign = np.sign(delta_b) == sign
        conf_total = float(same_sign.mean())
        conf = float((same_sign & (sign * db[:, top] > 0)).mean())
        if conf_total < 1.0 - p.alpha / 2.0 or conf < p.drivers_min_confidence:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            share_b = db[:, top] / delta_b
        share_b = share_b[np.isfinite(share_b)]
        dim_name = dim.lower()
        figures = {
            "metric": orders.metric,
            "Metric": _cap(orders.metric),
            "dimension": dim,
            "dim_name": dim_name,
            "period": period_label(P, freq),
            "ref_period": period_label(Q, freq),
            "total_before": t0,
            "total_after": t1,
            "delta": delta,
            "rel": delta / t0,
            "rel_abs": abs(delta) / t0,
            "slice": cats[top],
            "slice_before": float(s0[top]),
            "slice_after": float(s1[top]),
            "slice_delta": float(d[top]),
            "slice_loss": float(-d[top]),
            "share": float(d[top] / delta),
            "share_low": float(np.percentile(share_b, 10)) if len(share_b) else float("nan"),
            "share_high": float(np.percentile(share_b, 90)) if len(share_b) else float("nan"),
            "confidence": conf,
            "confidence_total": conf_total,
            "n_boot": p.bootstrap,
            "contributions": {cats[i]: float(d[i]) for i in range(k)},
        }
        clauses = []
        if k > 2 and sign * d[order[1]] > 0:
            j = int(order[1])
            figures.update(second=cats[j], second_share=float(d[j] / delta), second_delta=float(d[j]))
            clauses.append("second")
        j = int(order[-1])
        if sign * d[j] < 0:
            figures.update(detractor=cats[j], detractor_share=float(d[j] / delta), detractor_delta=float(d[j]))
            clauses.append("detractor")
        clauses.append("bootstrap")
        chart = chart_spec(
            f"Change in {orders.metric} by {dim}: {figures['period']} vs {figures['ref_period']}",
            [cats[i] for i in order],
            [{"name": "change", "kind": "bar", "y": [d[i] for i in order]}],
            y_title=orders.currency,
        )
        method = (
            f"Contribution of each {dim} to the change of total {orders.amount} "
            f"({figures['period']} vs {figures['ref_period']}), share = slice change / total change; "
            f"confidence from {p.bootstrap} bootstrap resamples of order lines"
        )
        out.append(
            _make(
                ctx,
                insight_type="drivers",
                category=orders.category,
                variant="growth" if delta > 0 else "decline",
                subject=subject,
                period=period,
                figures=figures,
                confidence=conf,
                magnitude=float(d[top]),
                direction="opportunity" if delta > 0 else "risk",
                method=method,
                evidence=[{"kind": "chart", "spec": chart}, *_dataset_link(orders)],
                currency=orders.currency,
                clauses=tuple(clauses),
            )
        )
    return out


# ---------------------------------------------------------------- 4. concentration
def _conc_rules(top_share, top1_share, hhi, p: InsightParams):
    return (
        (top_share >= p.concentration_top_share)
        | (top1_share >= p.concentration_top1_share)
        | (hhi >= p.concentration_hhi)
    )


def concentration(orders: OrdersInput, ctx: Context) -> list[Insight]:
    """Revenue concentrated in a few customers or products.

    Method: revenue per customer (and per product) over the trailing
    ``concentration_window_days`` ending at the last data day on or before
    ``as_of``; :func:`~aihub.insights.stats.concentration` gives the top-N
    share, the largest holder's share, the HHI and the Pareto share. Fires
    when ``top_share >= concentration_top_share`` or
    ``top1_share >= concentration_top1_share`` or ``hhi >= concentration_hhi``.

    Confidence: share of Poisson-bootstrap resamples of the window's order lines in
    which the rule still fires.

    Figures: ``top_n``, ``top_share``, ``top_revenue``, ``total``,
    ``top1_name``, ``top1_share``, ``top1_revenue``, ``hhi``,
    ``hhi_points`` (x 10,000), ``effective_n``, ``pareto_share``,
    ``pareto_level``, ``n_holders``, ``window_days``, ``start``, ``end``.
    """
    p = ctx.params
    data = orders.data[orders.data["date"] <= ctx.as_of]
    if data.empty:
        return []
    end = data["date"].max().normalize()
    start = max(end - pd.Timedelta(days=p.concentration_window_days - 1), data["date"].min().normalize())
    win = data[(data["date"] >= start) & (data["date"] < end + pd.Timedelta(days=1))]
    days = int((end - start).days) + 1
    out = []
    for role, variant, category in (("customer", "customer", "customer"), ("product", "product", "sales")):
        if getattr(orders, role) is None:
            continue
        w = win[win[role].notna()]
        if w.empty:
            continue
        codes, names = _codes(w[role])
        amt = w["amount"].to_numpy(dtype=float)
        rev = np.bincount(codes, weights=amt, minlength=len(names))
        if (rev > 0).sum() < 2:
            continue
        c = stats.concentration(rev, top_n=p.concentration_top_n, pareto_level=p.pareto_level)
        if not _conc_rules(c.top_share, c.top1_share, c.hhi, p):
            continue
        subject = f"{orders.metric} by {getattr(orders, role)}"
        period = f"{end:%Y-%m} {p.concentration_window_days}d"
        fp = fingerprint("concentration", subject, period)
        b = _boot_sums(_rng(ctx, fp), codes, amt, len(names), p.bootstrap)
        b = np.clip(b, 0.0, None)
        tot = b.sum(axis=1, keepdims=True)
        sh = np.divide(b, tot, out=np.zeros_like(b), where=tot > 0)
        sh_sorted = -np.sort(-sh, axis=1)
        ok = _conc_rules(sh_sorted[:, : c.top_n].sum(axis=1), sh_sorted[:, 0], (sh**2).sum(axis=1), p)
        conf = float(ok.mean())
        top_idx = int(np.argmax(rev))
        top1 = names[top_idx]
        if role == "customer" and orders.customer_name is not None:
            nm = w.loc[w["customer"] == top1, "customer_name"].dropna()
            if len(nm):
                top1 = f"{nm.mode().iloc[0]} ({top1})"
        holders = "customers" if role == "customer" else "products"
        figures = {
            "metric": orders.metric,
            "holders": holders,
            "top_n": c.top_n,
            "top_share": c.top_share,
            "top_revenue": c.top_revenue,
            "total": c.total,
            "top1_name": top1,
            "top1_share": c.top1_share,
            "top1_revenue": float(rev[top_idx]),
            "hhi": c.hhi,
            "hhi_points": c.hhi * 10000.0,
            "effective_n": c.effective_n,
            "pareto_share": c.pareto_share,
            "pareto_level": c.pareto_level,
            "n_holders": c.n,
            "window_days": days,
            "start": f"{start.day} {start:%b %Y}",
            "end": f"{end.day} {end:%b %Y}",
        }
        order = np.argsort(-rev, kind="stable")[: max(c.top_n, 10)]
        chart = chart_spec(
            f"Top {holders} by {orders.metric}, last {days} days",
            [names[i] for i in order],
            [{"name": orders.metric, "kind": "bar", "y": rev[order]}],
            y_title=orders.currency,
        )
        method = (
            f"Top-{c.top_n} share, Herfindahl-Hirschman index and Pareto share of {orders.amount} per "
            f"{getattr(orders, role)} over {days} days; confidence from {p.bootstrap} bootstrap resamples of order lines"
        )
        out.append(
            _make(
                ctx,
                insight_type="concentration",
                category=category,
                variant=variant,
                subject=subject,
                period=period,
                figures=figures,
                confidence=conf,
                magnitude=c.top_revenue,
                direction="risk",
                method=method,
                evidence=[{"kind": "chart", "spec": chart}, *_dataset_link(orders)],
                currency=orders.currency,
            )
        )
    return out


# ---------------------------------------------------------------- 5. forecast
def _same_periods_last_year(hist: pd.DataFrame, ds: pd.Series, freq: str) -> np.ndarray | None:
    if freq == "M":
        back = ds - pd.DateOffset(years=1)
        key_h = hist["ds"].dt.to_period("M")
        key_b = back.dt.to_period("M")
    else:
        back = ds - pd.Timedelta(days=364)  # 52 weeks: same weekday
        key_h = hist["ds"].dt.normalize()
        key_b = back.dt.normalize()
    lookup = pd.Series(hist["y"].to_numpy(), index=key_h.to_numpy())
    lookup = lookup[~lookup.index.duplicated(keep="last")]
    vals = lookup.reindex(key_b.to_numpy())
    if vals.isna().any():
        return None
    return vals.to_numpy(dtype=float)


def forecast_gap(fc: ForecastInput, ctx: Context) -> list[Insight]:
    """The active forecast's total over its horizon against a baseline.

    Method: ``total = sum(yhat)`` over the forecast periods after the
    history. Baseline (``forecast_baseline``): the ``target``; the same
    periods one year earlier; or the run rate, the sum of the last
    ``horizon`` history periods. ``gap = total - baseline``; fires when
    ``|gap| / baseline >= forecast_min_gap`` and the confidence reaches
    ``forecast_min_confidence``.

    Confidence: the 80% interval of the total is taken as the sums of the
    per-period 80% bounds (exact if period errors are perfectly correlated,
    conservative otherwise); ``sd = (upper - lower) / (2 z_0.9)`` and
    confidence ``Phi(|gap| / sd)``, the probability that the total falls on
    the forecast's side of the baseline.

    Figures: ``total``, ``lower``, ``upper``, ``baseline``, ``gap``,
    ``gap_abs``, ``gap_rel``, ``sd``, ``z``, ``h``, ``confidence``.
    """
    p = ctx.params
    f = fc.forecast
    h = len(f)
    hist = fc.history
    mode = p.forecast_baseline
    if mode == "auto":
        mode = "target" if fc.target is not None else "last_year"
    baseline = None
    unit = FREQUENCIES[fc.freq]
    if mode == "target":
        if fc.target is None:
            return []
        baseline, base_text, base_short = fc.target, "the target", "target"
    if mode == "last_year" and hist is not None and len(hist):
        vals = _same_periods_last_year(hist, f["ds"], fc.freq)
        if vals is not None:
            baseline = float(vals.sum())
            base_text, base_short = (
                render("the same {h:n:" + unit + "/" + unit + "s} a year earlier", {"h": h})[0],
                "last year",
            )
        elif p.forecast_baseline == "last_year":
            return []
        else:
            mode = "run_rate"
    if mode == "run_rate" or (baseline is None and p.forecast_baseline == "auto"):
        if hist is None or len(hist) < h:
            return []
        baseline = float(hist["y"].iloc[-h:].sum())
        base_text, base_short = (
            render("the run rate of the last {h:n:" + unit + "/" + unit + "s}", {"h": h})[0],
            "run rate",
        )
        mode = "run_rate"
    if baseline is None or baseline <= 0:
        return []
    total = float(f["yhat"].sum())
    lower = float(f["yhat_lower_80"].sum())
    upper = float(f["yhat_upper_80"].sum())
    gap = total - baseline
    rel = gap / baseline
    sd = (upper - lower) / (2.0 * _Z80)
    z = gap / sd if sd > 0 else (math.inf if gap != 0 else 0.0)
    conf = stats.normal_confidence(z)
    if abs(rel) < p.forecast_min_gap or conf < p.forecast_min_confidence:
        return []
    freq = fc.freq
    per = pd.PeriodIndex(f["ds"].dt.to_period({"D": "D", "W": "W-SUN", "M": "M"}[freq]))
    shortfall = gap < 0
    figures = {
        "metric": fc.metric,
        "model_clause": f" ({fc.model_name})" if fc.model_name else "",
        "start": period_label(per[0], freq),
        "end": period_label(per[-1], freq),
        "h": h,
        "unit": unit,
        "total": total,
        "lower": lower,
        "upper": upper,
        "baseline": baseline,
        "baseline_mode": mode,
        "baseline_text": base_text,
        "baseline_short": base_short,
        "gap": gap,
        "gap_abs": abs(gap),
        "gap_rel": rel,
        "level": 0.8,
        "sd": sd,
        "z": z,
        "confidence": conf,
    }
    x = []
    series_hist: list[float | None] = []
    if hist is not None and len(hist):
        tail = hist.iloc[-max(2 * h, 12) :]
        x += [period_label(q, freq) for q in pd.PeriodIndex(tail["ds"].dt.to_period(per.freqstr))]
        series_hist = list(tail["y"].to_numpy(dtype=float))
    x += [period_label(q, freq) for q in per]
    pad = [None] * len(series_hist)
    chart = chart_spec(
        f"{_cap(fc.metric)}: history and forecast",
        x,
        [
            {
                "name": "80% interval",
                "kind": "band",
                "lower": pad + list(f["yhat_lower_80"]),
                "upper": pad + list(f["yhat_upper_80"]),
            },
            {"name": "actual", "kind": "line", "y": series_hist + [None] * h},
            {"name": "forecast", "kind": "dash", "y": pad + list(f["yhat"])},
        ],
        y_title=fc.currency,
    )
    evidence: list[dict[str, Any]] = [{"kind": "chart", "spec": chart}]
    if fc.model_id is not None:
        evidence.append({"kind": "model", "id": fc.model_id, "name": fc.model_name or ""})
    method = (
        f"Forecast total over {h} {unit}s vs {base_text}; confidence Phi(|gap|/sd) with sd from the 80% interval of "
        "the total (sum of per-period bounds)"
    )
    return [
        _make(
            ctx,
            insight_type="forecast",
            category=fc.category,
            variant="shortfall" if shortfall else "beat",
            subject=f"{fc.metric} forecast {fc.model_id if fc.model_id is not None else fc.model_name or ''}".strip(),
            period=f"{f['ds'].iloc[0]:%Y-%m-%d}/{f['ds'].iloc[-1]:%Y-%m-%d} vs {mode}",
            figures=figures,
            confidence=conf,
            magnitude=gap,
            direction="risk" if shortfall else "opportunity",
            method=method,
            evidence=evidence,
            currency=fc.currency,
        )
    ]


# ---------------------------------------------------------------- 6. churn
def _reason_stats(reason_lists: list[list[tuple[str, float]]]) -> pd.DataFrame:
    """Per feature: how many rows name it as a reason (positive or unknown contribution) and the summed contribution."""
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for reasons in reason_lists:
        seen = set()
        for name, contrib in reasons:
            if name in seen or (math.isfinite(contrib) and contrib <= 0):
                continue
            seen.add(name)
            counts[name] = counts.get(name, 0) + 1
            sums[name] = sums.get(name, 0.0) + (contrib if math.isfinite(contrib) else 0.0)
    if not counts:
        return pd.DataFrame(columns=["feature", "count", "contribution"])
    df = pd.DataFrame(
        {"feature": list(counts), "count": list(counts.values()), "contribution": [sums[k] for k in counts]}
    )
    return df.sort_values(["count", "contribution", "feature"], ascending=[False, False, True]).reset_index(drop=True)


def churn_risk(pred: PredictionsInput, ctx: Context) -> list[Insight]:
    """How many customers are at high churn risk, what they are worth and why.

    Method: customers with ``probability >= churn_threshold``; their revenue,
    the expected loss ``sum(p_i * revenue_i)``, and the features most often
    among their positive SHAP contributions (ties by summed contribution).

    Confidence: mean churn probability of the high-risk customers (the
    expected fraction of them who leave if the model is calibrated).

    Figures: ``n_high``, ``n_total``, ``share_customers``, ``threshold``,
    ``revenue_high``, ``total_revenue``, ``share_revenue``,
    ``expected_loss``, ``mean_probability``, ``reason1``..``reason3`` with
    ``reasonK_count`` and ``reasonK_share`` (of high-risk customers),
    ``top_customer``.
    """
    p = ctx.params
    d = pred.data
    if d.empty:
        return []
    high = d[d["probability"] >= p.churn_threshold]
    n_high = len(high)
    if n_high == 0:
        return []
    has_rev = bool(d["revenue"].notna().any())
    rs = _reason_stats(list(high["reasons"]))
    labels = dict(pred.feature_labels)
    figures: dict[str, Any] = {
        "n_high": n_high,
        "n_total": len(d),
        "share_customers": n_high / len(d),
        "threshold": p.churn_threshold,
        "mean_probability": float(high["probability"].mean()),
        "revenue_label": pred.revenue_label,
    }
    order_col = "revenue" if has_rev else "probability"
    top_row = high.sort_values([order_col, "probability"], ascending=False, na_position="last").iloc[0]
    figures["top_customer"] = str(top_row["customer"]) if top_row["customer"] is not None else "the most valuable one"
    if has_rev:
        rev_high = float(np.nansum(high["revenue"]))
        total_rev = float(np.nansum(d["revenue"]))
        figures.update(
            revenue_high=rev_high,
            total_revenue=total_rev,
            share_revenue=rev_high / total_rev if total_rev > 0 else float("nan"),
            expected_loss=float(np.nansum(high["probability"] * high["revenue"])),
        )
    n_reasons = min(p.churn_top_reasons, len(rs))
    for i in range(n_reasons):
        r = rs.iloc[i]
        figures[f"reason{i + 1}"] = labels.get(r["feature"], r["feature"])
        figures[f"reason{i + 1}_count"] = int(r["count"])
        figures[f"reason{i + 1}_share"] = int(r["count"]) / n_high
        figures[f"reason{i + 1}_contribution"] = float(r["contribution"])
    figures["title_reason"] = f"; top reason: {figures['reason1']}" if n_reasons else ""
    clauses = (f"reasons{min(n_reasons, 3)}",) if n_reasons else ()
    evidence: list[dict[str, Any]] = []
    if pred.model_id is not None:
        evidence.append({"kind": "model", "id": pred.model_id, "name": pred.model_name or ""})
    if n_reasons:
        evidence.append(
            {
                "kind": "chart",
                "spec": chart_spec(
                    "Top churn reasons among high-risk customers (SHAP)",
                    [figures[f"reason{i + 1}"] for i in range(n_reasons)],
                    [
                        {
                            "name": "customers",
                            "kind": "bar",
                            "y": [figures[f"reason{i + 1}_count"] for i in range(n_reasons)],
                        }
                    ],
                    y_title="customers",
                ),
            }
        )
    when = pred.as_of if pred.as_of is not None else pd.Timestamp(ctx.as_of)
    iso = when.isocalendar()
    method = (
        f"Customers with churn probability >= {p.churn_threshold:g}; revenue and expected loss sum(p x revenue); "
        "reasons ranked by how many of them have the feature among their positive SHAP contributions"
    )
    return [
        _make(
            ctx,
            insight_type="churn_risk",
            category="customer",
            variant="revenue" if has_rev else "count",
            subject=f"churn {pred.model_id if pred.model_id is not None else pred.model_name or 'model'}",
            period=f"{iso[0]}-W{iso[1]:02d}",
            figures=figures,
            confidence=figures["mean_probability"],
            magnitude=figures.get("revenue_high", 0.0),
            direction="risk",
            method=method,
            evidence=evidence,
            currency=pred.currency,
            clauses=clauses,
            extra_actions=("reason",) if n_reasons else (),
        )
    ]


# ---------------------------------------------------------------- 7. segments
def _is_risk_segment(name: str, p: InsightParams) -> bool:
    low = name.lower()
    return any(low.startswith(r.lower()) for r in p.risk_segments)


def segment_movement(seg: SegmentsInput, ctx: Context) -> list[Insight]:
    """Segments that grew or shrank significantly between two snapshots.

    Method: counts per segment in both snapshots; a chi-square test of
    homogeneity of the 2 x k table (``scipy.stats.chi2_contingency``, no
    continuity correction) must give ``p < alpha``; then each segment whose
    size changed by at least ``segment_min_customers`` and
    ``segment_min_change`` (relative) and whose share passes a
    two-proportion z-test at ``alpha`` is reported. With customer ids in
    both snapshots, the largest source of newcomers (or destination of
    leavers) is named. Both tests treat the snapshots as independent
    samples, which they are not when customers overlap: treat ``p`` as
    approximate.

    Confidence: ``min(1 - p_chi2, 1 - p_segment)``.

    Figures: ``before``, ``after``, ``change``, ``rel``, ``share0``,
    ``share1``, ``p`` (chi-square), ``p_segment``, optionally ``source``/
    ``source_count``, ``dest``/``dest_count``, ``monetary_before``/``monetary_after``.
    """
    p = ctx.params
    cb, ca = seg.counts_before, seg.counts_after
    segs = sorted(set(cb.index) | set(ca.index), key=str)
    b = cb.reindex(segs, fill_value=0.0).to_numpy(dtype=float)
    a = ca.reindex(segs, fill_value=0.0).to_numpy(dtype=float)
    nb, na = b.sum(), a.sum()
    keep = (a + b) > 0
    if keep.sum() < 2:
        return []
    chi2, p_chi, _, _ = sps.chi2_contingency(np.vstack([b[keep], a[keep]]), correction=False)
    if not p_chi < p.alpha:
        return []
    rb, ra = seg.rows_before, seg.rows_after
    merged = None
    if rb is not None and ra is not None:
        merged = ra.merge(rb, on="customer", how="left", suffixes=("", "_before"))
    d0, d1 = seg.before_date, seg.after_date
    out = []
    for i, name in enumerate(segs):
        change = a[i] - b[i]
        rel = change / b[i] if b[i] > 0 else math.inf
        if abs(change) < max(1, p.segment_min_customers) or (b[i] > 0 and abs(rel) < p.segment_min_change):
            continue
        p1, p2 = b[i] / nb, a[i] / na
        pooled = (b[i] + a[i]) / (nb + na)
        se = math.sqrt(pooled * (1 - pooled) * (1 / nb + 1 / na))
        z = (p2 - p1) / se if se > 0 else math.inf
        p_seg = float(2 * sps.norm.sf(abs(z))) if math.isfinite(z) else 0.0
        if not p_seg < p.alpha:
            continue
        grew = change > 0
        risk_seg = _is_risk_segment(str(name), p)
        figures: dict[str, Any] = {
            "segment": str(name),
            "Segment": _cap(str(name)),
            "before": int(b[i]),
            "after": int(a[i]),
            "change": int(change),
            "rel": rel if math.isfinite(rel) else float("nan"),
            "rel_abs": abs(rel) if math.isfinite(rel) else float("nan"),
            "share0": p1,
            "share1": p2,
            "d0": f"{d0.day} {d0:%b %Y}",
            "d1": f"{d1.day} {d1:%b %Y}",
            "p": float(p_chi),
            "chi2": float(chi2),
            "p_segment": p_seg,
        }
        clauses: list[str] = []
        extra: list[str] = []
        magnitude = 0.0
        if merged is not None:
            if grew:
                inflow = merged[(merged["segment"] == name) & (merged["segment_before"] != name)]
                src = inflow["segment_before"].fillna("new customers").value_counts()
                if len(src):
                    figures.update(source=str(src.index[0]), source_count=int(src.iloc[0]))
                    clauses.append("inflow")
            else:
                left = rb[rb["segment"] == name].merge(ra, on="customer", how="left", suffixes=("_before", ""))
                left = left[left["segment"] != name]
                dst = left["segment"].fillna("no longer scored").value_counts()
                if len(dst):
                    figures.update(dest=str(dst.index[0]), dest_count=int(dst.iloc[0]))
                    clauses.append("outflow")
            if "monetary" in rb.columns and "monetary" in ra.columns:
                mb = float(rb.loc[rb["segment"] == name, "monetary"].sum())
                ma = float(ra.loc[ra["segment"] == name, "monetary"].sum())
                figures.update(monetary_before=mb, monetary_after=ma)
                clauses.append("money")
                magnitude = ma - mb
        clauses.append("test")
        if risk_seg:
            direction = "risk" if grew else "opportunity"
            extra = (
                ["risk_grew"]
                + (["risk_grew_source"] if "source" in figures and figures["source"] != "new customers" else [])
                if grew
                else ["risk_shrank"]
            )
        else:
            direction = "opportunity" if grew else "risk"
            extra = ["value_grew"] if grew else ["value_shrank"]
        chart = chart_spec(
            f"Customers per segment: {figures['d0']} vs {figures['d1']}",
            [str(s) for s in segs],
            [{"name": figures["d0"], "kind": "bar", "y": b}, {"name": figures["d1"], "kind": "bar", "y": a}],
            y_title="customers",
        )
        evidence: list[dict[str, Any]] = [{"kind": "chart", "spec": chart}]
        if seg.model_id is not None:
            evidence.append({"kind": "model", "id": seg.model_id})
        method = (
            "Segment sizes of two snapshots; chi-square test of the segment mix and two-proportion z-test per "
            f"segment at alpha {p.alpha:g}"
        )
        out.append(
            _make(
                ctx,
                insight_type="segment_movement",
                category="customer",
                variant="grew" if grew else "shrank",
                subject=f"segment {name}",
                period=f"{d0:%Y-%m-%d}/{d1:%Y-%m-%d}",
                figures=figures,
                confidence=min(1.0 - float(p_chi), 1.0 - p_seg),
                magnitude=magnitude,
                direction=direction,
                method=method,
                evidence=evidence,
                currency=seg.currency,
                clauses=tuple(clauses),
                extra_actions=tuple(extra),
            )
        )
    return out


# ---------------------------------------------------------------- 8. anomalies
def _anomaly_state(sel: pd.DataFrame) -> str:
    """Digest of what a digest says (which anomalies, their severity and impact): changes when one opens, closes,
    changes severity or impact; not when an open one is only acknowledged."""
    rows = sorted(
        f"{_plain(r.id)}|{r.severity}|{'' if pd.isna(r.impact) else round(float(r.impact), 2)}"
        for r in sel.itertuples()
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def anomaly_digest(an: AnomaliesInput, ctx: Context) -> list[Insight]:
    """Open anomalies of the chosen severities and their total money impact.

    Method: anomalies whose status is open (``new``, ``acknowledged``,
    ``investigating``) and whose severity is in ``anomaly_severities``;
    counts per severity, losses ``-sum(impact < 0)``, gains
    ``sum(impact > 0)``, net ``sum(impact)``; NaN impacts are counted apart.

    Confidence: mean over the anomalies of ``1 - 10^(-10 score)``, the
    detector's probability that the point is not normal behaviour
    (:mod:`aihub.anomaly.severity`); 1 when no scores are given.

    Figures: ``n_open``, ``n_critical``, ``n_high``, ``n_medium``,
    ``n_low``, ``net``, ``loss``, ``gain``, ``n_no_impact``, ``n_metrics``,
    ``top_metric``, ``top_ts``, ``top_impact``, ``oldest``, and ``state``
    (a digest of the anomalies counted; the type is live, see
    :data:`~aihub.insights.model.LIVE_TYPES`).
    """
    p = ctx.params
    d = an.data
    sel = d[d["status"].isin(an.open_statuses) & d["severity"].isin(p.anomaly_severities)]
    if sel.empty:
        return []
    order = [s for s in ("critical", "high", "medium", "low") if s in p.anomaly_severities]
    counts = {s: int((sel["severity"] == s).sum()) for s in ("critical", "high", "medium", "low")}
    imp = sel["impact"]
    figures: dict[str, Any] = {
        "n_open": len(sel),
        **{f"n_{s}": counts[s] for s in counts},
        "net": float(imp.sum(skipna=True)),
        "loss": float(-imp[imp < 0].sum()),
        "gain": float(imp[imp > 0].sum()),
        "n_no_impact": int(imp.isna().sum()),
        "sev_text": " or ".join(order) if len(order) <= 2 else ", ".join(order[:-1]) + " or " + order[-1],
        "state": _anomaly_state(sel),
    }
    parts = [f"{{n_{s}:count}} {s}" for s in order if counts[s]]
    figures["breakdown"] = render(", ".join(parts), figures)[0]
    clauses: list[str] = []
    metrics = sel["metric"].dropna()
    if len(metrics):
        figures["n_metrics"] = int(metrics.nunique())
        clauses.append("metrics")
    if figures["n_no_impact"]:
        clauses.append("no_impact")
    with_imp = sel[sel["impact"].notna()]
    if len(with_imp) and with_imp["metric"].notna().any() and with_imp["ts"].notna().any():
        top = with_imp.loc[with_imp["impact"].abs().idxmax()]
        if top["metric"] is not None and pd.notna(top["ts"]):
            label = str(top["metric"]) + (f" ({top['slice']})" if top["slice"] else "")
            ts = pd.Timestamp(top["ts"])
            figures.update(
                top_metric=label,
                top_ts=f"{ts.day} {ts:%b %Y}",
                top_impact=float(top["impact"]),
                top_id=_plain(top["id"]),
            )
            clauses.append("top")
    if sel["ts"].notna().any():
        oldest = pd.Timestamp(sel["ts"].min())
        figures["oldest"] = f"{oldest.day} {oldest:%b %Y}"
        clauses.append("oldest")
    scores = sel["score"].dropna().clip(0, 1)
    conf = float((1.0 - 10.0 ** (-10.0 * scores)).mean()) if len(scores) else 1.0
    sev_rank = sel["severity"].map({"critical": 4, "high": 3, "medium": 2, "low": 1})
    ranked = sel.assign(_r=sev_rank, _a=sel["impact"].abs().fillna(0)).sort_values(["_r", "_a"], ascending=False)
    evidence = [
        {"kind": "anomaly", "id": _plain(r.id), "severity": r.severity, "metric": r.metric}
        for r in ranked.head(20).itertuples()
    ]
    method = (
        f"Open anomalies ({', '.join(an.open_statuses)}) of severity {', '.join(order)}; impact = signed money "
        "deviation stored with each anomaly"
    )
    return [
        _make(
            ctx,
            insight_type="anomaly_digest",
            category="operations",
            variant="open",
            subject="open anomalies " + "/".join(order),
            period=f"{ctx.as_of:%Y-%m-%d}",
            figures=figures,
            confidence=conf,
            magnitude=figures["loss"] + figures["gain"],
            direction="risk",
            method=method,
            evidence=evidence,
            currency=an.currency,
            clauses=tuple(clauses),
        )
    ]


#: Detector of each insight type and the input it reads.
DETECTORS = {
    "trend": ("orders", trend),
    "unusual_change": ("orders", unusual_change),
    "drivers": ("orders", drivers),
    "concentration": ("orders", concentration),
    "forecast": ("forecasts", forecast_gap),
    "churn_risk": ("predictions", churn_risk),
    "segment_movement": ("segments", segment_movement),
    "anomaly_digest": ("anomalies", anomaly_digest),
}
