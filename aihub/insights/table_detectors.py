"""Insight detectors for any table (:class:`~aihub.insights.tables.TableInput`).

Each detector takes a table with the roles the analyst confirmed and a
:class:`~aihub.insights.detectors.Context`, and returns zero or more
unranked insights; like the orders detectors, a detector that lacks what it
needs (no outcome, no date, too few rows or periods) returns nothing.

=========================  ===========================================================  ==========================
detector                   method                                                       confidence
=========================  ===========================================================  ==========================
:func:`outcome_drivers`    per column, the share of the outcome it explains: Theil's    ``1 - p`` (G-test or
                           uncertainty coefficient (two-valued or class outcome) or     Kruskal-Wallis, Bonferroni
                           Kelley's epsilon squared (numeric outcome), bias-corrected,  over the columns compared)
                           numeric columns in quantile groups; bootstrap interval;
                           the group of the top column that moves the outcome most
                           (largest weighted relative accuracy)
:func:`period_shift`       per measure and segment, the last complete period's change   ``1 - p`` (Student t at the
                           (log change, difference, or rate difference) as a modified   modified z-score,
                           z-score against the series' own earlier changes              Bonferroni over the series)
:func:`outliers`           rows: modified z-scores per column (log scale when skewed),  ``1 - p`` of a Poisson test
                           count beyond ``outlier_z`` against the normal expectation;   of the count (Bonferroni
                           segments: modified z-score of segment medians                over columns); segments:
                                                                                        Student t, Bonferroni
:func:`outcome_segments`   a depth-``segment_depth`` decision tree (Breiman et al.      ``1 - p`` on held-out rows
                           1984) on ``1 - segment_holdout`` of the rows proposes        (Fisher's exact test or
                           leaves; the best by weighted relative accuracy (Lavrac et    Welch's t-test, Bonferroni
                           al. 2004) are stated as rules and tested on the rows the     over the segments tested)
                           tree did not see
=========================  ===========================================================  ==========================

Every number a narrative quotes is a figure computed here; segment
descriptions are rules (``figures["conditions"]``) that anyone can apply to
the table to recompute the figures (:func:`rule_mask`). A value is written
as money only for columns the analyst confirmed as money, in their currency.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from aihub.insights.charts import chart_spec
from aihub.insights.detectors import Context, _make
from aihub.insights.formatting import render
from aihub.insights.inputs import complete_periods, period_index, period_label
from aihub.insights.model import Insight
from aihub.insights.params import FREQUENCIES
from aihub.insights.stats import robust_z
from aihub.insights.table_common import (
    LEVEL,
    MAX_DRIVER_CATEGORIES,
    MAX_FINDINGS,
    MAX_SHIFT_SEGMENTS,
    MIN_OUTLIER_VALUES,
    MIN_PERIOD_COVERAGE,
    MIN_PERIOD_ROWS,
    MIN_SEGMENT_GAP_REL,
    MIN_SEGMENT_GAP_SD,
    cap,
    common_figures,
    feature_columns,
    period_key,
    rng_for,
    sample_rows,
    unit_figures,
    z_effect,
)
from aihub.insights.table_narratives import amount_variant
from aihub.insights.table_rules import describe_rule, group_rule, label_list, rule_mask
from aihub.insights.table_segments import outcome_segments
from aihub.insights.table_stats import (
    bootstrap_interval,
    codes_of,
    epsilon_squared,
    far_out,
    log_kind,
    normal_far_out_share,
    quantile_groups,
    robust_scores,
    to_log,
    uncertainty_coefficient,
)
from aihub.insights.tables import TableInput

__all__ = [
    "TABLE_DETECTORS",
    "auto_freq",
    "describe_rule",
    "outcome_drivers",
    "outcome_segments",
    "outliers",
    "period_shift",
    "rule_mask",
]


# ====================================================================== 1. drivers
def _driver_codes(t: TableInput, column: str, rows: np.ndarray, bins: int) -> tuple[np.ndarray, list, list, bool]:
    s = t.data[column].iloc[rows]
    if column in t.measures_:
        codes, ranges = quantile_groups(s.to_numpy(dtype=float), bins)
        return codes, ranges, [], True
    labels = s.fillna("(missing)").to_numpy(dtype=object)
    counts = pd.Series(labels).value_counts()
    keep = set(counts.index[:MAX_DRIVER_CATEGORIES])
    if len(counts) > MAX_DRIVER_CATEGORIES:
        labels = np.array([v if v in keep else "(other)" for v in labels], dtype=object)
    codes, cats = codes_of(labels)
    return codes, [], cats, False


def _outcome_codes(t: TableInput, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows with a known outcome, and the outcome as codes (categorical) or floats (numeric)."""
    y = t.data[t.roles_.outcome].iloc[rows]
    known = y.notna().to_numpy()
    if t.outcome_kind_ == "numeric":
        return rows[known], y.to_numpy(dtype=float)[known], []
    if t.positive_ is not None:
        lab = np.where(y.to_numpy(dtype=object)[known] == t.positive_, 1, 0).astype(np.int64)
        return rows[known], lab, ["other", t.positive_]
    codes, cats = codes_of(y.to_numpy(dtype=object)[known])
    return rows[known], codes, cats


def _association(kind: str, x: np.ndarray, y: np.ndarray, kx: int, ky: int, with_p: bool = True):
    if kind == "numeric":
        return epsilon_squared(x, y, kx, with_p=with_p)
    return uncertainty_coefficient(x, y, kx, ky)


def _best_group(kind: str, x: np.ndarray, y: np.ndarray, kx: int, ky: int, min_rows: int) -> dict[str, Any] | None:
    """The group (and class) with the largest |weighted relative accuracy| among groups of at least ``min_rows``."""
    n = len(y)
    cnt = np.bincount(x, minlength=kx).astype(float)
    best = None
    if kind == "numeric":
        total = float(y.sum())
        sums = np.bincount(x, weights=y, minlength=kx)
        for g in range(kx):
            if cnt[g] < min_rows or n - cnt[g] < min_rows:
                continue
            mean_g, mean_r = sums[g] / cnt[g], (total - sums[g]) / (n - cnt[g])
            wracc = cnt[g] / n * (mean_g - total / n)
            if best is None or abs(wracc) > abs(best["wracc"]):
                best = {"group": g, "wracc": wracc, "seg_mean": mean_g, "rest_mean": mean_r, "seg_n": int(cnt[g])}
        return best
    table = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky).astype(float)
    prior = table.sum(axis=0) / n
    classes = [1] if ky == 2 else range(ky)
    for g in range(kx):
        if cnt[g] < min_rows or n - cnt[g] < min_rows:
            continue
        for c in classes:
            rate_g = table[g, c] / cnt[g]
            rate_r = (table[:, c].sum() - table[g, c]) / (n - cnt[g])
            wracc = cnt[g] / n * (rate_g - prior[c])
            if best is None or abs(wracc) > abs(best["wracc"]):
                best = {
                    "group": g,
                    "cls": c,
                    "wracc": wracc,
                    "seg_rate": rate_g,
                    "rest_rate": rate_r,
                    "seg_n": int(cnt[g]),
                }
    return best


def outcome_drivers(t: TableInput, ctx: Context) -> list[Insight]:
    """The columns that move the outcome most, and the group of the strongest that moves it most.

    Method: each feature column (numeric ones in ``table_bins`` quantile
    groups, categorical ones by value, the ``MAX_DRIVER_CATEGORIES`` largest
    kept) is scored by the share of the outcome it explains: Theil's
    uncertainty coefficient ``U(outcome | column)`` for a two-valued or
    class outcome, Kelley's epsilon squared for a numeric one, both
    bias-corrected (:mod:`aihub.insights.table_stats`). A column counts when
    its p-value times the number of columns compared (Bonferroni) is below
    ``alpha`` and it explains at least ``table_min_effect``. The top column
    gets a bias-corrected percentile bootstrap interval (``bootstrap``
    resamples of the rows); its group with the largest weighted relative
    accuracy ``share x (rate_group - rate_all)`` (Lavrac, Flach & Zupan
    1999) is described as a rule with the outcome's rate (or mean) inside
    and outside it.

    Confidence: ``1 - p_adjusted`` of the top column.

    Figures: ``driver``, ``stat``, ``stat_lo``, ``stat_hi``, ``p``
    (adjusted), ``n_tested``, ``seg_text``, ``conditions``, ``seg_n``,
    ``rest_n``, ``seg_rate``/``rest_rate`` or ``seg_mean``/``rest_mean``,
    ``seg_class`` (class outcomes), ``driver2``/``stat2``,
    ``driver3``/``stat3``, ``ranking`` (every column's share and p-value).
    """
    r, p = t.roles_, ctx.params
    if r.outcome is None or t.outcome_kind_ is None:
        return []
    subject = f"{t.key}: drivers of {t.outcome_words()['label']}"
    seed_key = f"drivers of {t.outcome_words()['label']}"  # not the table's name: same rows, same answer
    rows, y, classes = _outcome_codes(t, sample_rows(t, ctx, seed_key))
    n = len(rows)
    features = feature_columns(t, ctx)
    if n < 30 or not features:
        return []
    kind = t.outcome_kind_ if t.outcome_kind_ == "numeric" else "rate" if t.positive_ is not None else "classes"
    ky = len(classes) if kind != "numeric" else 0
    scored = []
    for col in features:
        x, ranges, cats, numeric = _driver_codes(t, col, rows, p.table_bins)
        kx = int(x.max()) + 1 if len(x) else 1
        a = _association("numeric" if kind == "numeric" else "class", x, y, kx, ky)
        scored.append({"column": col, "assoc": a, "x": x, "ranges": ranges, "cats": cats, "numeric": numeric, "kx": kx})
    n_tested = len(scored)
    for s in scored:
        s["p_adj"] = min(1.0, s["assoc"].p * n_tested)
    kept = [s for s in scored if s["p_adj"] < p.alpha and s["assoc"].value >= p.table_min_effect]
    if not kept:
        return []
    kept.sort(key=lambda s: (-s["assoc"].value, s["p_adj"], s["column"]))
    top = kept[0]
    best = _best_group(
        "numeric" if kind == "numeric" else "class", top["x"], y, top["kx"], max(ky, 2), max(10, int(0.02 * n))
    )
    if best is None:
        return []
    rng = rng_for(ctx, seed_key)
    x_top, kx_top = top["x"], top["kx"]

    def stat(idx: np.ndarray) -> float:
        return _association("numeric" if kind == "numeric" else "class", x_top[idx], y[idx], kx_top, ky, False).value

    lo, hi = bootstrap_interval(stat, n, rng, reps=p.bootstrap, level=LEVEL, estimate=top["assoc"].value)
    conditions = group_rule(top["column"], top["numeric"], best["group"], top["ranges"], top["cats"])
    figures = common_figures(t)
    unit_figs, currency, money = unit_figures(t, r.outcome) if kind == "numeric" else ({}, "", False)
    figures.update(unit_figs)
    figures.update(
        driver=top["column"],
        stat=top["assoc"].value,
        stat_lo=max(0.0, lo),
        stat_hi=min(1.0, max(hi, top["assoc"].value)),
        p=top["p_adj"],
        p_raw=top["assoc"].p,
        n_tested=n_tested,
        seg_text=describe_rule(conditions, t),
        conditions=conditions,
        seg_n=best["seg_n"],
        rest_n=n - best["seg_n"],
        n_used=n,
        ranking=[{"column": s["column"], "share": s["assoc"].value, "p": s["p_adj"]} for s in kept[:20]],
        effect=top["assoc"].value / (top["assoc"].value + 0.1),
    )
    if kind == "numeric":
        figures.update(seg_mean=float(best["seg_mean"]), rest_mean=float(best["rest_mean"]))
    else:
        figures.update(seg_rate=float(best["seg_rate"]), rest_rate=float(best["rest_rate"]))
        if kind == "classes":
            figures["seg_class"] = classes[best["cls"]]
    clauses: list[str] = []
    if len(kept) >= 3:
        figures.update(
            driver2=kept[1]["column"],
            stat2=kept[1]["assoc"].value,
            driver3=kept[2]["column"],
            stat3=kept[2]["assoc"].value,
        )
        clauses.append("next2")
    elif len(kept) == 2:
        figures.update(driver2=kept[1]["column"], stat2=kept[1]["assoc"].value)
        clauses.append("next1")
    if top["assoc"].value >= 0.9:
        clauses.append("leak")
    if n < len(t.data):
        clauses.append("sample")
    variant = {"numeric": "mean", "rate": "rate", "classes": "classes"}[kind]
    clauses = [amount_variant(c, money) for c in clauses]
    measure = "Theil's uncertainty coefficient" if kind != "numeric" else "Kelley's epsilon squared"
    method = (
        f"{measure} of {r.outcome} on each of {n_tested} columns (numeric ones in {p.table_bins} quantile groups), "
        f"bias-corrected; Bonferroni-adjusted {'G-test' if kind != 'numeric' else 'Kruskal-Wallis'} at alpha "
        f"{p.alpha:g}; {p.bootstrap} bootstrap resamples; group chosen by weighted relative accuracy"
    )
    top10 = kept[:10]
    chart = chart_spec(
        f"Share of {r.outcome} explained by each column",
        [s["column"] for s in top10],
        [{"name": "share explained", "kind": "bar", "y": [s["assoc"].value for s in top10]}],
        y_title="share explained (0 to 1)",
    )
    magnitude = abs(best["seg_n"] * (best["seg_mean"] - best["rest_mean"])) if money and kind == "numeric" else 0.0
    return [
        _make(
            ctx,
            insight_type="outcome_drivers",
            category=r.category,
            variant=amount_variant(variant, money),
            subject=subject,
            period=period_key(t),
            figures=figures,
            confidence=1.0 - top["p_adj"],
            magnitude=magnitude,
            direction="neutral",
            method=method,
            evidence=[{"kind": "chart", "spec": chart}, *t.dataset_link()],
            currency=currency,
            clauses=tuple(clauses),
        )
    ]


# ====================================================================== 2. shifts
def auto_freq(dates: pd.Series) -> str | None:
    """Period of shifts from the spacing of the dates.

    The median gap between distinct dates: under a day gives ``D`` (days
    of hourly data), up to 7 days ``W`` (weeks of daily or weekly data), up
    to 31 days ``M``, up to 92 days ``Q``, else ``Y``. None with fewer than
    three distinct dates.
    """
    d = np.unique(pd.to_datetime(dates.dropna()).to_numpy(dtype="datetime64[ns]"))
    if len(d) < 3:
        return None
    gap = pd.Timedelta(np.median(np.diff(d)))
    for freq, limit in (
        ("D", pd.Timedelta(hours=23)),
        ("W", pd.Timedelta(days=7)),
        ("M", pd.Timedelta(days=31)),
        ("Q", pd.Timedelta(days=92)),
    ):
        if gap <= limit:
            return freq
    return "Y"


def _lag(freq: str, compare: str) -> int:
    if compare == "previous":
        return 1
    return {"D": 364, "W": 52, "M": 12, "Q": 4, "Y": 1}[freq]


def _enough_rows(cnt: np.ndarray, lag: int, *, rate: bool) -> bool:
    """Whether a series has the rows a shift test needs (see :func:`period_shift`)."""
    now, ref = cnt[-1], cnt[-1 - lag]
    recent = cnt[-61 - lag :]
    if now == 0 or ref == 0 or (recent > 0).mean() < MIN_PERIOD_COVERAGE:
        return False
    panel = not rate and float(recent.min()) == float(recent.max())
    return panel or (now >= MIN_PERIOD_ROWS and ref >= MIN_PERIOD_ROWS)


def _series_test(y: np.ndarray, lag: int, relative: bool, p) -> dict[str, Any] | None:
    """The last change of ``y`` against its earlier changes; None without enough history."""
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.log(y[lag:] / y[:-lag])
    else:
        c = y[lag:] - y[:-lag]
    if len(c) < 2 or not math.isfinite(c[-1]):
        return None
    hist = c[:-1][np.isfinite(c[:-1])][-60:]
    if len(hist) < p.change_min_history:
        return None
    z, med, scale = robust_z(float(c[-1]), hist)
    if scale == 0 and z == 0:
        return None
    pv = 0.0 if not math.isfinite(z) else float(2.0 * sps.t.sf(abs(z), df=len(hist) - 1))
    return {"z": z, "med": med, "p": pv, "n_hist": len(hist), "last": float(c[-1])}


def _period_sums(
    seg: np.ndarray, k: int, when: np.ndarray, n_periods: int, v: np.ndarray, agg: str
) -> tuple[np.ndarray, np.ndarray]:
    """Sum (or mean) and row count of ``v`` per segment code and period, shape (k, n_periods); -1 codes skipped."""
    ok = (seg >= 0) & np.isfinite(v)
    idx = seg[ok] * n_periods + when[ok]
    cnt = np.bincount(idx, minlength=k * n_periods).reshape(k, n_periods).astype(float)
    tot = np.bincount(idx, weights=v[ok], minlength=k * n_periods).reshape(k, n_periods)
    if agg == "sum":
        return tot, cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / cnt, np.nan), cnt


def _segment_codes(t: TableInput, rows: np.ndarray) -> list[tuple[str, list[str], np.ndarray]]:
    """Per dimension: its ``MAX_SHIFT_SEGMENTS`` largest segments and each row's segment code (-1: not followed)."""
    out = []
    for dim in t.dimensions_:
        labels = t.data[dim].iloc[rows].fillna("(missing)")
        counts = labels.value_counts()
        top = [str(v) for v in counts.index[:MAX_SHIFT_SEGMENTS]]
        if len(top) < 2:
            continue
        code = pd.Categorical(labels, categories=top).codes.astype(np.int64)  # -1 outside the top
        out.append((dim, top, code))
    return out


def _shift_series(
    t: TableInput,
    measure: str | None,
    rows: np.ndarray,
    when: np.ndarray,
    n_periods: int,
    segments: list[tuple[str, list[str], np.ndarray]],
    agg: str,
) -> list[tuple[list[dict], np.ndarray, np.ndarray]]:
    """``(conditions, values, counts)`` per complete period: all rows, then each dimension's largest segments."""
    if measure is None:  # rate of the positive outcome
        y = t.data[t.roles_.outcome].iloc[rows]
        v = np.where(y.isna().to_numpy(), np.nan, (y == t.positive_).to_numpy(dtype=float))
        agg = "mean"
    else:
        v = t.data[measure].iloc[rows].to_numpy(dtype=float)
    vals, cnt = _period_sums(np.zeros(len(v), dtype=np.int64), 1, when, n_periods, v, agg)
    out = [([], vals[0], cnt[0])]
    for dim, top, code in segments:
        vals, cnt = _period_sums(code, len(top), when, n_periods, v, agg)
        for i, label in enumerate(top):
            cond = (
                [{"column": dim, "op": "missing"}]
                if label == "(missing)"
                else [{"column": dim, "op": "=", "value": label}]
            )
            out.append((cond, vals[i], cnt[i]))
    return out


def period_shift(t: TableInput, ctx: Context) -> list[Insight]:  # noqa: C901 - over the complexity ceiling before it existed; split pending (insights detectors)
    """Segments whose last complete period moved far outside their usual period-to-period change.

    Method: rows are put in calendar periods (``roles.freq``, else
    :func:`auto_freq`); only complete periods count
    (:func:`~aihub.insights.inputs.complete_periods`), and the last one only
    when the data reach its last day (a week whose Sunday has no rows yet is
    still open: its sums would read as a drop). For each measure
    (summed or averaged, :meth:`TableInput.aggregation_of`) and, with a
    two-valued outcome, the share of rows with the positive value, the
    series of all rows and of each dimension's ``MAX_SHIFT_SEGMENTS`` largest
    segments is tested: the change of the last period against the one
    before (``roles.compare = "previous"``) or a year earlier -- a log
    change when the series is positive, else a difference (a difference of
    shares for rates) -- as a modified z-score against the series' earlier
    changes (at least ``change_min_history``, at most the last 60). A series
    shifted when ``|z| >= change_z`` and its two-sided Student-t p-value
    times the number of series tested in the table, over every measure
    (Bonferroni), is below ``alpha``; a series needs rows in both periods and in
    ``MIN_PERIOD_COVERAGE`` of the recent ones (a segment that sells in one
    week out of three has no usual change to compare with), and
    ``MIN_PERIOD_ROWS`` rows in both periods unless it has the same number of
    rows in every recent period (a panel such as one row per region and week,
    where a sum does not carry the noise of how many rows arrived; a rate
    always needs them). One insight per measure names the series with the
    largest ``|z|`` and up to two others; measures whose top series is the
    same segment moving the same way (``4046`` and ``Total Bags`` falling
    with ``Total Volume``) are named in that insight instead of getting
    their own.

    Confidence: ``1 - p_adjusted`` of the named series.

    Figures: ``measure``, ``seg_text``, ``conditions`` (empty for all rows),
    ``period``, ``ref_period``, ``value``, ``ref_value``, ``change``,
    ``change_rel``, ``typical_rel`` or ``typical``, ``z``, ``z_abs``,
    ``p`` (adjusted), ``n_tests``, ``n_hist``; for sums of a segment
    ``total_value``, ``total_ref``, ``contrib`` (its share of the total change).
    """
    r, p = t.roles_, ctx.params
    if r.date is None:
        return []
    dates = t.data[r.date]
    freq = r.freq or auto_freq(dates[dates <= ctx.as_of])
    if freq is None:
        return []
    lag = _lag(freq, r.compare)
    ok = dates.notna().to_numpy() & (dates <= ctx.as_of).to_numpy()
    rows = np.flatnonzero(ok)
    complete = complete_periods(dates.iloc[rows], pd.Series(1.0, index=dates.index[rows]), freq, ctx.as_of)
    if len(complete) < lag + p.change_min_history + 1:
        return []
    full = complete.index
    if len(full) and dates.iloc[rows].max() < full[-1].end_time.normalize():
        full = full[:-1]  # the data stop before the period's last day: it is not over in the data
    if len(full) < lag + p.change_min_history + 1:
        return []
    per_all = period_index(dates.iloc[rows], freq)
    in_full = per_all.isin(full)
    rows, per = rows[in_full], per_all[in_full]
    when = full.get_indexer(per)
    segments = _segment_codes(t, rows)
    measures: list[str | None] = list(t.measures_[: p.table_max_columns])
    if t.outcome_kind_ == "numeric":
        measures.insert(0, r.outcome)
    if t.outcome_kind_ == "binary" and t.positive_ is not None:
        measures.append(None)
    unit = FREQUENCIES[freq]
    lag_name = f"{unit}-on-{unit}" if lag == 1 else "year-on-year"
    leads: list[tuple] = []
    for m in measures:
        agg = "mean" if m is None else t.aggregation_of(m)
        series = _shift_series(t, m, rows, when, len(full), segments, agg)
        tests = []
        for cond, vals, cnt in series:
            if not _enough_rows(cnt, lag, rate=m is None):
                continue
            if m is None:
                relative = False
            else:
                recent = vals[-min(len(vals), 61 + lag) :]
                relative = bool(np.all(recent[np.isfinite(recent)] > 0))
            res = _series_test(vals, lag, relative, p)
            if res is not None:
                tests.append((cond, vals, cnt, relative, res))
        if not tests:
            continue
        leads.append((m, agg, tests))
    n_tests = sum(len(tests) for _, _, tests in leads)
    kept = []
    for m, agg, tests in leads:
        hits = [x for x in tests if abs(x[4]["z"]) >= p.change_z and min(1.0, x[4]["p"] * n_tests) < p.alpha]
        if hits:
            hits.sort(key=lambda x: -abs(x[4]["z"]) if math.isfinite(x[4]["z"]) else -math.inf)
            kept.append((m, agg, tests, hits, n_tests))
    leads = kept
    out = []
    done: set[int] = set()
    for i, (m, agg, tests, hits, n_tests) in enumerate(leads):
        if i in done:
            continue
        key = (repr(hits[0][0]), hits[0][4]["last"] > 0)
        same = [
            j
            for j in range(i + 1, len(leads))
            if j not in done
            and leads[j][0] is not None
            and m is not None
            and (repr(leads[j][3][0][0]), leads[j][3][0][4]["last"] > 0) == key
        ]
        done.update(same)
        out.append(
            _shift_insight(
                t, ctx, m, agg, freq, lag, lag_name, full, tests, hits, n_tests, also=[leads[j][0] for j in same]
            )
        )
    return out


def _shift_insight(t, ctx, m, agg, freq, lag, lag_name, full, tests, hits, n_tests, also=()) -> Insight:
    r, p = t.roles_, ctx.params
    cond, vals, cnt, relative, res = hits[0]
    value, ref = float(vals[-1]), float(vals[-1 - lag])
    up = value > ref
    figures = common_figures(t)
    unit_figs, currency, money = unit_figures(t, m) if m is not None else ({}, "", False)
    figures.update(unit_figs)
    seg_text = describe_rule(cond, t) if cond else f"all {r.row_noun}"
    figures.update(
        measure=m if m is not None else f"share with {figures['outcome_label']}",
        Measure=cap(m) if m is not None else f"Share with {figures['outcome_label']}",
        agg_word="total" if agg == "sum" else "average",
        seg_text=seg_text,
        conditions=cond,
        period=period_label(full[-1], freq),
        ref_period=period_label(full[-1 - lag], freq),
        period_start=str(full[-1].start_time.date()),
        value=value,
        ref_value=ref,
        change=value - ref,
        change_abs=abs(value - ref),
        change_rel=value / ref - 1.0 if ref != 0 else float("nan"),
        change_rel_abs=abs(value / ref - 1.0) if ref != 0 else float("nan"),
        z=res["z"],
        z_abs=abs(res["z"]),
        z_threshold=p.change_z,
        p=min(1.0, res["p"] * n_tests),
        n_tests=n_tests,
        n_hist=res["n_hist"],
        unit_word=FREQUENCIES[freq],
        lag_name=lag_name,
        freq=freq,
        effect=z_effect(res["z"], p.change_z),
    )
    clauses: list[str] = []
    if m is None:
        variant = "rate_up" if up else "rate_down"
        figures.update(
            change_pp=abs(value - ref), typical_pp=abs(res["med"]), n_now=int(cnt[-1]), n_ref=int(cnt[-1 - lag])
        )
    elif relative:
        variant = "up" if up else "down"
        figures["typical_rel"] = math.exp(res["med"]) - 1.0
    else:
        variant = "up_abs" if up else "down_abs"
        figures["typical"] = res["med"]
    if m is not None and cond and agg == "sum":
        total = tests[0][1] if not tests[0][0] else None
        if total is not None and float(total[-1]) != float(total[-1 - lag]):
            figures.update(
                total_value=float(total[-1]),
                total_ref=float(total[-1 - lag]),
                contrib=(value - ref) / (float(total[-1]) - float(total[-1 - lag])),
            )
            if 0 < figures["contrib"] <= 1:
                clauses.append("total")
    others = hits[1:3]
    if others:
        parts, ofigs = [], {}
        for i, (oc, ov, _, orel, _ores) in enumerate(others):
            ofigs[f"o{i}"] = describe_rule(oc, t) if oc else f"all {r.row_noun}"
            a, b = float(ov[-1]), float(ov[-1 - lag])
            if m is None:
                ofigs[f"o{i}_v"] = a - b
                ofigs[f"o{i}_d"] = "up" if a > b else "down"
                parts.append("{o" + str(i) + "} ({o" + str(i) + "_d} {o" + str(i) + "_v:pp} points)")
            elif orel and b != 0:
                ofigs[f"o{i}_v"] = a / b - 1.0
                parts.append("{o" + str(i) + "} ({o" + str(i) + "_v:spct})")
            else:
                ofigs[f"o{i}_v"] = a - b
                parts.append("{o" + str(i) + "} ({o" + str(i) + "_v:sqty})")
        figures["others"] = render(", ".join(parts), ofigs)[0]
        clauses.append("others")
    if also:
        figures["also"] = list(also)
        figures["also_text"] = render(label_list(list(also), "m", fig := {}, "and"), fig)[0]
        clauses.append("also")
    clauses = [amount_variant(c, money) for c in clauses]
    subject = f"{t.key}: shift of {figures['measure']}"
    chart_n = min(len(full), 26)
    chart = chart_spec(
        f"{figures['Measure']} of {seg_text} per {FREQUENCIES[freq]}",
        [period_label(q, freq) for q in full[-chart_n:]],
        [{"name": seg_text, "kind": "line", "y": vals[-chart_n:]}],
        y_title=currency or t.unit_of(m or "") or "",
    )
    method = (
        f"Modified z-score (Iglewicz-Hoaglin) of the last {lag_name} "
        f"{'log change' if relative else 'change'} of each of {n_tests} series ({'sum' if agg == 'sum' else 'mean'} "
        f"per {FREQUENCIES[freq]}: all rows and each dimension's largest segments) against its previous changes; "
        f"alert at |z| >= {p.change_z:g} with Bonferroni-adjusted p < {p.alpha:g}"
    )
    magnitude = abs(value - ref) if money and agg == "sum" else 0.0
    return _make(
        ctx,
        insight_type="period_shift",
        category=r.category,
        variant=amount_variant(variant, money),
        subject=subject,
        period=str(full[-1]),
        figures=figures,
        confidence=1.0 - figures["p"],
        magnitude=magnitude,
        direction="neutral",
        method=method,
        evidence=[{"kind": "chart", "spec": chart}, *t.dataset_link()],
        currency=currency,
        clauses=tuple(clauses),
    )


# ====================================================================== 3. outliers
def _outlier_columns(t: TableInput, ctx: Context) -> list[str]:
    cols = list(t.measures_[: ctx.params.table_max_columns])
    if t.outcome_kind_ == "numeric" and t.roles_.outcome not in cols:
        cols.append(t.roles_.outcome)
    return [c for c in cols if t.data[c].nunique() > MIN_OUTLIER_VALUES]


def outliers(t: TableInput, ctx: Context) -> list[Insight]:
    """Rows, and segments, far from the rest on a numeric column.

    Method (rows): for each measure (and a numeric outcome) with more than
    ``MIN_OUTLIER_VALUES`` distinct values, modified z-scores
    (:func:`~aihub.insights.table_stats.robust_scores`: as it is or on a log
    scale, whichever has fewer outliers); rows with ``|z| > outlier_z`` are
    outliers. Normal data put ``n x 2 x Phi(-outlier_z)`` rows there; the
    column is reported when a Poisson test of the count against that
    expectation, times the number of columns checked (Bonferroni), is below
    ``alpha``. The segment of a dimension holding most of the outliers is
    named when it holds at least half of them and at least twice its share
    of the rows. At most ``MAX_FINDINGS`` columns, fewest expected first.

    Method (segments): for each measure and each dimension with at least 8
    segments of at least 3 rows, the modified z-score of each segment's
    median among the segment medians (the medians must have a median
    absolute deviation above 0), and whose median also lies at least
    ``MIN_SEGMENT_GAP_SD`` robust standard deviations *of the rows* from the
    typical median or differs from it by ``MIN_SEGMENT_GAP_REL`` of it (a
    practical size: ten regions with the same prices do not make one of them
    an outlier by a cent); a segment with ``|z| > outlier_z`` and
    a Student-t p-value times the number of segments compared below
    ``alpha`` stands out. At most ``MAX_FINDINGS`` such insights.

    Confidence: ``1 - p_adjusted``.

    Figures (rows): ``column``, ``n_out``, ``n_values``, ``share``,
    ``n_high``, ``n_low``, ``low``, ``high``, ``median``, ``log_scale``,
    ``extreme_row`` (1-based data row), ``extreme_value``, ``expected``,
    ``p``, ``n_tested``, ``out_rows`` (first 50 data rows),
    ``conc_seg``/``conc_share``/``conc_base``/``conditions``.
    Figures (segment): ``column``, ``dimension``, ``segment``,
    ``seg_median``, ``typical``, ``z``, ``z_abs``, ``n_out``, ``n_segments``, ``p``.
    """
    p = ctx.params
    cols = _outlier_columns(t, ctx)
    if len(t.data) < 30 or not cols:
        return []
    found = []
    tail = normal_far_out_share(p.outlier_iqr)
    for col in cols:
        x = t.data[col].to_numpy(dtype=float)
        fo = far_out(x, p.outlier_iqr)
        if fo is None or not fo.mask.any():
            continue
        n_out = int(fo.mask.sum())
        n_values = int(np.isfinite(x).sum())
        expected = n_values * tail
        pv = float(sps.poisson.sf(n_out - 1, expected))
        found.append(
            {"column": col, "fo": fo, "n_out": n_out, "n_values": n_values, "expected": expected, "p": pv, "x": x}
        )
    n_tested = len(cols)
    hits = [f for f in found if f["p"] * n_tested < p.alpha]
    hits.sort(key=lambda f: (f["p"], -f["n_out"]))
    insights = [_outlier_rows_insight(t, ctx, f, n_tested, tail) for f in hits[:MAX_FINDINGS]]
    insights += _segment_outliers(t, ctx, cols)
    return insights


def _concentration(t: TableInput, out: np.ndarray) -> dict[str, Any] | None:
    best = None
    n_out = int(out.sum())
    for dim in t.dimensions_:
        labels = t.data[dim].fillna("(missing)").to_numpy(dtype=object)
        counts = pd.Series(labels[out]).value_counts()
        if counts.empty:
            continue
        label = counts.index[0]
        share = float(counts.iloc[0]) / n_out
        base = float((labels == label).mean())
        strong = share >= 0.5 and 0 < base < 1 and share >= 2 * base
        if strong and (best is None or share / base > best["lift"]):
            cond = (
                [{"column": dim, "op": "missing"}]
                if label == "(missing)"
                else [{"column": dim, "op": "=", "value": str(label)}]
            )
            best = {"conditions": cond, "conc_share": share, "conc_base": base, "lift": share / base}
    return best


def _outlier_rows_insight(t: TableInput, ctx: Context, f: dict[str, Any], n_tested: int, tail: float) -> Insight:
    p = ctx.params
    col, fo, x = f["column"], f["fo"], f["x"]
    out = fo.mask
    dist = np.where(out, np.nan_to_num(fo.distance, nan=-1.0), -1.0)
    i_ext = int(np.argmax(dist))
    high_side = np.isfinite(x) & (x > fo.median)
    figures = common_figures(t)
    unit_figs, currency, money = unit_figures(t, col)
    figures.update(unit_figs)
    figures.update(
        column=col,
        n_out=f["n_out"],
        n_values=f["n_values"],
        share=f["n_out"] / f["n_values"],
        n_high=int((out & high_side).sum()),
        n_low=int((out & ~high_side).sum()),
        low=fo.low,
        high=fo.high,
        median=fo.median,
        log_scale=fo.log_scale,
        fence_k=p.outlier_iqr,
        scale_note=", both as it is and on a log scale" if fo.log_scale else "",
        extreme_row=i_ext + 1,
        extreme_value=float(x[i_ext]),
        extreme_iqrs=float(dist[i_ext]),
        expected=f["expected"],
        p=min(1.0, f["p"] * n_tested),
        n_tested=n_tested,
        out_rows=[int(i) + 1 for i in np.flatnonzero(out)[:50]],
    )
    figures["effect"] = figures["share"] / (figures["share"] + 0.02)
    clauses = []
    conc = _concentration(t, out)
    if conc is not None:
        figures.update(
            conc_seg=describe_rule(conc["conditions"], t),
            conc_share=conc["conc_share"],
            conc_base=conc["conc_base"],
            conditions=conc["conditions"],
        )
        clauses.append(amount_variant("conc", money))
    method = (
        f"Tukey's far-out fences (quartiles -/+ {p.outlier_iqr:g} x IQR), far out "
        f"{'both on the original and on a log scale' if fo.log_scale else 'on the original scale'}; "
        f"Poisson test of their count against the normal share "
        f"{tail:.2g} x n, Bonferroni over {n_tested} columns"
    )
    chart = chart_spec(
        f"Rows beyond the far-out fences of {col}",
        ["below", "above"],
        [{"name": "rows", "kind": "bar", "y": [figures["n_low"], figures["n_high"]]}],
        y_title="rows",
    )
    magnitude = float(np.nansum(np.abs(x[out] - fo.median))) if money else 0.0
    variant = "rows" if figures["n_high"] and figures["n_low"] else "rows_high" if figures["n_high"] else "rows_low"
    return _make(
        ctx,
        insight_type="outliers",
        category=t.roles_.category,
        variant=amount_variant(variant, money),
        subject=f"{t.key}: outlying rows of {col}",
        period=period_key(t),
        figures=figures,
        confidence=1.0 - figures["p"],
        magnitude=magnitude,
        direction="neutral",
        method=method,
        evidence=[{"kind": "chart", "spec": chart}, *t.dataset_link()],
        currency=currency,
        clauses=tuple(clauses),
    )


def _row_scale(x: np.ndarray, kind: str) -> float:
    """Robust standard deviation of a column's rows on a scale ("" original, else a :func:`to_log` kind)."""
    v = x[np.isfinite(x)]
    v = to_log(v, kind) if kind else v
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return 0.0
    _, _, scale = robust_z(float(v[0]), v)
    return float(scale) if math.isfinite(scale) else 0.0


def _segment_outliers(t: TableInput, ctx: Context, cols: list[str]) -> list[Insight]:
    p = ctx.params
    found, n_compared = [], 0
    values = {c: t.data[c].to_numpy(dtype=float) for c in cols}
    kinds = {c: log_kind(values[c]) for c in cols}
    row_sd: dict[tuple[str, str], float] = {}
    for dim in t.dimensions_:
        labels = t.data[dim]
        sizes = labels.value_counts()
        segs = sizes[sizes >= 3].index
        if len(segs) < 8:
            continue
        medians = t.data[cols].groupby(labels).median().reindex(segs)
        for col in cols:
            med = medians[col].dropna()
            if len(med) < 8:
                continue
            rs = robust_scores(med.to_numpy(dtype=float), p.outlier_z, strict_mad=True, kind=kinds[col])
            if rs is None:
                continue
            n_compared += len(med)
            z = np.nan_to_num(rs.z, nan=0.0)
            if (col, rs.kind) not in row_sd:
                row_sd[col, rs.kind] = _row_scale(values[col], rs.kind)
            scale = lambda a, k=rs.kind: to_log(a, k) if k else a
            gap = np.abs(scale(med.to_numpy(dtype=float)) - scale(np.array([rs.median])))
            typical = abs(rs.median)
            ratio_scale = typical > 0 and kinds[col] in ("log", "log1p")
            rel = np.abs(med.to_numpy(dtype=float) - rs.median) / typical if ratio_scale else np.zeros(len(med))
            practical = (gap >= MIN_SEGMENT_GAP_SD * row_sd[col, rs.kind]) | (rel >= MIN_SEGMENT_GAP_REL)
            for i in np.flatnonzero((np.abs(z) > p.outlier_z) & practical):
                pz = 0.0 if not math.isfinite(z[i]) else 2.0 * float(sps.t.sf(abs(z[i]), df=len(med) - 1))
                found.append(
                    {
                        "dim": dim,
                        "col": col,
                        "segment": str(med.index[i]),
                        "seg_median": float(med.iloc[i]),
                        "typical": rs.median,
                        "z": float(z[i]),
                        "n_out": int((np.abs(z) > p.outlier_z).sum()),
                        "k": len(med),
                        "p_raw": pz,
                        "log": rs.log_scale,
                        "med": med,
                        "order": cols.index(col),
                    }
                )
    for f in found:
        f["p"] = min(1.0, f["p_raw"] * n_compared)
    found = [f for f in found if f["p"] < p.alpha]
    found.sort(key=lambda f: (-abs(f["z"]), f["order"]))
    by_segment: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in found:
        by_segment.setdefault((f["dim"], f["segment"]), []).append(f)
    out_insights = []
    for (_dim, _seg), group in list(by_segment.items())[:MAX_FINDINGS]:
        group.sort(key=lambda f: f["order"])
        out_insights.append(_segment_outlier_insight(t, ctx, group[0], [g["col"] for g in group[1:]], n_compared))
    return out_insights


def _segment_outlier_insight(
    t: TableInput, ctx: Context, f: dict[str, Any], also: list[str], n_compared: int
) -> Insight:
    p = ctx.params
    figures = common_figures(t)
    unit_figs, currency, money = unit_figures(t, f["col"])
    figures.update(unit_figs)
    figures.update(
        column=f["col"],
        dimension=f["dim"],
        segment=f["segment"],
        seg_median=f["seg_median"],
        typical=f["typical"],
        z=f["z"],
        z_abs=abs(f["z"]),
        z_threshold=p.outlier_z,
        n_out=f["n_out"],
        n_segments=f["k"],
        p=f["p"],
        n_compared=n_compared,
        log_scale=f["log"],
        scale_note=" on a log scale" if f["log"] else "",
        conditions=[{"column": f["dim"], "op": "=", "value": f["segment"]}],
        effect=z_effect(f["z"], p.outlier_z),
    )
    clauses = []
    if also:
        figures["also"] = also
        figures["also_text"] = render(label_list(also, "m", fig := {}, "and"), fig)[0]
        clauses.append(amount_variant("also", money))
    top = f["med"].sort_values(ascending=False).head(20)
    chart = chart_spec(
        f"Median {f['col']} by {f['dim']}",
        [str(s) for s in top.index],
        [{"name": f"median {f['col']}", "kind": "bar", "y": top.to_numpy(dtype=float)}],
        y_title=currency or t.unit_of(f["col"]),
    )
    method = (
        f"Modified z-score (Iglewicz-Hoaglin) of each {f['dim']}'s median {f['col']} among the {f['k']} medians"
        f"{' on a log scale' if f['log'] else ''}; alert at |z| > {p.outlier_z:g} with Student-t p below "
        f"{p.alpha:g} after Bonferroni over the {n_compared} segment medians compared"
    )
    return _make(
        ctx,
        insight_type="outliers",
        category=t.roles_.category,
        variant=amount_variant("segment", money),
        subject=f"{t.key}: outlying {f['dim']} {f['segment']}",
        period=period_key(t),
        figures=figures,
        confidence=1.0 - f["p"],
        magnitude=0.0,
        direction="neutral",
        method=method,
        evidence=[{"kind": "chart", "spec": chart}, *t.dataset_link()],
        currency=currency,
        clauses=tuple(clauses),
    )


#: Detector of each any-table insight type and the input it reads (merged into the engine's registry).
TABLE_DETECTORS = {
    "outcome_drivers": ("tables", outcome_drivers),
    "period_shift": ("tables", period_shift),
    "outliers": ("tables", outliers),
    "outcome_segments": ("tables", outcome_segments),
}
