"""The ``outcome_segments`` detector: groups of rows whose outcome differs most, as rules checked on held-out rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from aihub.insights.charts import chart_spec
from aihub.insights.detectors import Context, _make
from aihub.insights.model import Insight
from aihub.insights.table_common import (
    MAX_FINDINGS,
    common_figures,
    feature_columns,
    period_key,
    rng_for,
    sample_rows,
    unit_figures,
)
from aihub.insights.table_narratives import amount_variant
from aihub.insights.table_rules import describe_rule, leaf_paths, path_rule, rule_mask
from aihub.insights.tables import TableInput

__all__ = ["outcome_segments"]


def _tree_matrix(
    t: TableInput, features: list[str], rows: np.ndarray, train: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Numeric matrix for the tree: measures as they are, categories as ranks by their train mean of ``y``.

    Ordering categories by the outcome's mean makes the best binary split of
    a categorical column one of the k - 1 splits of that order (Breiman et
    al. 1984, section 9.4; Fisher 1958).
    """
    cols, orders = [], {}
    d = t.data.iloc[rows]
    for f in features:
        if f in t.measures_:
            cols.append(d[f].to_numpy(dtype=float))
            continue
        labels = d[f].fillna("(missing)").to_numpy(dtype=object)
        means = pd.Series(y[train]).groupby(labels[train]).mean().sort_values(kind="stable")
        order = [str(c) for c in means.index]
        rank = {c: i for i, c in enumerate(order)}
        cols.append(np.array([rank.get(str(v), np.nan) for v in labels], dtype=float))
        orders[f] = order
    return np.column_stack(cols), orders


def _targets(t: TableInput, y_lab: pd.Series) -> list[tuple[str | None, np.ndarray]]:
    if t.outcome_kind_ == "numeric":
        return [(None, y_lab.to_numpy(dtype=float))]
    labels = y_lab.to_numpy(dtype=object)
    if t.positive_ is not None:
        return [(t.positive_, (labels == t.positive_).astype(float))]
    out = []
    for c in t.classes_:
        yb = (labels == c).astype(float)
        if 0.02 <= yb.mean() <= 0.98:
            out.append((c, yb))
        if len(out) == 4:
            break
    return out


def outcome_segments(t: TableInput, ctx: Context) -> list[Insight]:  # noqa: C901 - over the complexity ceiling before it existed; split pending (insights segments)
    """Groups of rows whose outcome differs most from the rest, stated as rules and checked on held-out rows.

    Method: rows with a known outcome are split at random into a search part
    (``1 - segment_holdout``) and a held-out part. On two thirds of the
    search part a decision tree of depth ``segment_depth`` with leaves of at least
    ``segment_min_share`` of the rows (CART, Breiman et al. 1984; scikit-learn)
    is grown for the outcome (the positive value, or each class of a
    many-class outcome holding 5% to 95% of the rows); the leaf with the
    largest and the one with the most negative weighted relative accuracy
    ``share x (rate_leaf - rate_all)`` (Lavrac, Kavsek, Flach & Todorovski
    2004, "Subgroup discovery with CN2-SD") become rules on observed values,
    pruned on the other third of the search part (:func:`_prune_rule`).
    Each rule is then applied to the held-out rows: Fisher's exact test of
    its rate against the rest's (Welch's t-test of the means for a numeric
    outcome), Bonferroni-adjusted over the rules tested. A rule is reported
    when the adjusted p is below ``alpha``, the held-out difference has the
    tree's sign, and the held-out rate ratio reaches ``segment_min_lift``
    (a standardised mean difference of 0.3 for numeric outcomes, Cohen
    1988); a rate ratio must also reach it on all rows, since the narrative
    quotes those. Narrative figures are of all rows; the held-out ones are stated
    beside them.

    Confidence: ``1 - p_adjusted`` (held-out rows).

    Figures: ``seg_text``, ``conditions``, ``seg_n``, ``seg_share``,
    ``rest_n``, ``seg_rate``/``rest_rate``/``lift`` or ``seg_mean``/
    ``rest_mean``, ``h_seg_*``/``h_rest_*``, ``h_p``, ``n_tests``, ``depth``,
    ``train_share``, ``holdout_share``, ``target`` (the class).
    """
    r, p = t.roles_, ctx.params
    if r.outcome is None or t.outcome_kind_ is None:
        return []
    seed_key = f"segments of {r.outcome}"  # not the table's name: same rows, same answer
    rows = sample_rows(t, ctx, seed_key)
    y_lab = t.data[r.outcome].iloc[rows]
    known = y_lab.notna().to_numpy()
    rows, y_lab = rows[known], y_lab[known]
    n = len(rows)
    features = feature_columns(t, ctx)
    if n < 60 or not features:
        return []
    rng = rng_for(ctx, seed_key)
    perm = rng.permutation(n)
    n_hold = round(p.segment_holdout * n)
    hold_mask = np.zeros(n, dtype=bool)
    hold_mask[perm[:n_hold]] = True
    prune = np.zeros(n, dtype=bool)
    prune[perm[n_hold : n_hold + (n - n_hold) // 3]] = True
    train = ~hold_mask & ~prune  # the tree grows on two thirds of the search rows, rules are pruned on the third
    leaf_min = max(10, math.ceil(p.segment_min_share * train.sum()))
    frame = t.data.iloc[rows]
    candidates = []
    for target, y in _targets(t, y_lab):
        X, orders = _tree_matrix(t, features, rows, train, y)
        if t.outcome_kind_ == "numeric":
            tree = DecisionTreeRegressor(max_depth=p.segment_depth, min_samples_leaf=leaf_min, random_state=p.seed)
            tree.fit(X[train], y[train])
        else:
            tree = DecisionTreeClassifier(max_depth=p.segment_depth, min_samples_leaf=leaf_min, random_state=p.seed)
            tree.fit(X[train], y[train].astype(int))
        leaves = tree.apply(X[train])
        paths = leaf_paths(tree)
        base = float(y[train].mean())
        scored = []
        for leaf, path in paths.items():
            m = leaves == leaf
            if not path or m.sum() == 0:
                continue
            wracc = m.mean() * (float(y[train][m].mean()) - base)
            scored.append((wracc, path))
        if not scored:
            continue
        scored.sort(key=lambda s: s[0])
        picks = [s for s in (scored[-1], scored[0]) if s[0] != 0]
        for wracc, path in dict.fromkeys((w, tuple(pp)) for w, pp in picks):
            conds = path_rule(list(path), features, orders, t)
            if not conds:
                continue
            conds = _prune_rule(conds, frame, y, prune, numeric=t.outcome_kind_ == "numeric", alpha=p.alpha)
            mask = rule_mask(conds, frame)
            candidates.append(
                {"target": target, "y": y, "conds": conds, "mask": mask, "high": wracc > 0, "wracc": wracc}
            )
    if not candidates:
        return []
    n_tests = len(candidates)
    kept = []
    for c in candidates:
        res = _holdout_test(c, hold_mask, t.outcome_kind_ == "numeric")
        if res is None:
            continue
        c.update(res)
        c["p_adj"] = min(1.0, res["h_p"] * n_tests)
        if c["p_adj"] < p.alpha and _strong(c, t.outcome_kind_ == "numeric", p.segment_min_lift):
            kept.append(c)
    kept.sort(key=lambda c: (not c["high"], -abs(c["wracc"])))  # of a rule and its complement, state the high one
    seen: set[str] = set()
    masks: list[np.ndarray] = []
    out = []
    for c in kept:
        text = describe_rule(c["conds"], t)
        if text in seen or any(_complement(c["mask"], m) for m in masks):
            continue  # the same rule for another class, or the complement of one already stated
        seen.add(text)
        masks.append(c["mask"])
        out.append(_segment_insight(t, ctx, c, text, n, n_hold, n_tests))
        if len(out) == MAX_FINDINGS:
            break
    return out


def _prune_rule(
    conds: list[dict[str, Any]], frame: pd.DataFrame, y: np.ndarray, prune: np.ndarray, *, numeric: bool, alpha: float
) -> list[dict[str, Any]]:
    """Drop the conditions of a rule that do not hold up on rows the tree did not grow on.

    Reduced-error pruning (Quinlan 1987) with a significance test as the
    criterion, in the spirit of CHAID (Kass 1980): on the pruning rows that
    meet the rule's other conditions, the outcome of those that meet the
    condition is compared with those that do not (Fisher's exact test, or
    Welch's t-test for a numeric outcome); a condition whose p-value is not
    below ``alpha`` is dropped, the weakest first, until every remaining one
    is significant or one is left. A split that only fits the growing rows
    (a column of noise with many categories) does not survive.
    """
    masks = [rule_mask([c], frame)[prune] for c in conds]
    yp = y[prune]

    def p_value(i: int) -> float:
        others = np.ones(len(yp), dtype=bool)
        for j, m in enumerate(masks):
            if j != i:
                others &= m
        a, b = yp[others & masks[i]], yp[others & ~masks[i]]
        if len(a) < 2 or len(b) < 2:
            return 1.0
        if numeric:
            pv = sps.ttest_ind(a, b, equal_var=False).pvalue
            return float(pv) if math.isfinite(pv) else 1.0
        ka, kb = int(a.sum()), int(b.sum())
        return float(sps.fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]]).pvalue)

    while len(conds) > 1:
        worst, i = max((p_value(j), j) for j in range(len(conds)))
        if worst < alpha:
            break
        conds, masks = conds[:i] + conds[i + 1 :], masks[:i] + masks[i + 1 :]
    return conds


def _complement(a: np.ndarray, b: np.ndarray) -> bool:
    """Two rules that split the rows between them (up to 5% of rows, such as missing values, in neither)."""
    return not (a & b).any() and float((a | b).mean()) >= 0.95


def _holdout_test(c: dict[str, Any], hold: np.ndarray, numeric: bool) -> dict[str, Any] | None:
    m, y = c["mask"], c["y"]
    seg, rest = m & hold, ~m & hold
    if seg.sum() < 5 or rest.sum() < 5:
        return None
    if numeric:
        a, b = y[seg], y[rest]
        res = sps.ttest_ind(a, b, equal_var=False)
        pv = float(res.pvalue) if math.isfinite(res.pvalue) else 1.0
        sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2) if len(a) > 1 and len(b) > 1 else 0.0
        return {
            "h_seg_mean": float(a.mean()),
            "h_rest_mean": float(b.mean()),
            "h_p": pv,
            "h_d": (float(a.mean()) - float(b.mean())) / sd if sd > 0 else 0.0,
            "h_seg_n": int(seg.sum()),
            "h_rest_n": int(rest.sum()),
        }
    k1, n1 = int(y[seg].sum()), int(seg.sum())
    k2, n2 = int(y[rest].sum()), int(rest.sum())
    pv = float(sps.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    return {"h_seg_rate": k1 / n1, "h_rest_rate": k2 / n2, "h_p": pv, "h_seg_n": n1, "h_rest_n": n2}


def _strong(c: dict[str, Any], numeric: bool, min_lift: float) -> bool:
    """The held-out difference has the tree's sign and reaches the minimum size; for rates so does the full one."""
    if numeric:
        d = c["h_d"]
        return (d >= 0.3) if c["high"] else (d <= -0.3)
    m, y = c["mask"], c["y"]
    full = (float(y[m].mean()), float(y[~m].mean())) if m.any() and (~m).any() else (0.0, 0.0)
    for a, b in ((c["h_seg_rate"], c["h_rest_rate"]), full):
        ok = (a > b and (b == 0 or a / b >= min_lift)) if c["high"] else (a < b and (a == 0 or b / a >= min_lift))
        if not ok:
            return False
    return True


def _segment_insight(
    t: TableInput, ctx: Context, c: dict[str, Any], text: str, n: int, n_hold: int, n_tests: int
) -> Insight:
    r, p = t.roles_, ctx.params
    m, y = c["mask"], c["y"]
    numeric = t.outcome_kind_ == "numeric"
    figures = common_figures(t)
    if c["target"] is not None and t.positive_ is None:
        figures["outcome_label"] = f"{r.outcome} = {c['target']}"
    unit_figs, currency, money = unit_figures(t, r.outcome) if numeric else ({}, "", False)
    figures.update(unit_figs)
    seg_n = int(m.sum())
    figures.update(
        seg_text=text,
        conditions=c["conds"],
        target=c["target"],
        seg_n=seg_n,
        seg_share=seg_n / n,
        rest_n=n - seg_n,
        n_used=n,
        depth=p.segment_depth,
        train_share=(n - n_hold) / n,
        holdout_share=n_hold / n,
        h_p=c["p_adj"],
        h_p_raw=c["h_p"],
        n_tests=n_tests,
        h_seg_n=c["h_seg_n"],
        h_rest_n=c["h_rest_n"],
    )
    if numeric:
        figures.update(
            seg_mean=float(y[m].mean()),
            rest_mean=float(y[~m].mean()),
            h_seg_mean=c["h_seg_mean"],
            h_rest_mean=c["h_rest_mean"],
            h_d=c["h_d"],
        )
        variant = "mean_high" if c["high"] else "mean_low"
        figures["effect"] = abs(c["h_d"]) / (abs(c["h_d"]) + 0.5)
        magnitude = abs(seg_n * (figures["seg_mean"] - figures["rest_mean"])) if money else 0.0
    else:
        seg_rate, rest_rate = float(y[m].mean()), float(y[~m].mean())
        lift = seg_rate / rest_rate if rest_rate > 0 else math.inf
        figures.update(
            seg_rate=seg_rate,
            rest_rate=rest_rate,
            h_seg_rate=c["h_seg_rate"],
            h_rest_rate=c["h_rest_rate"],
            lift=lift if math.isfinite(lift) else float("nan"),
        )
        if c["high"]:
            variant = "rate_high" if rest_rate > 0 else "rate_all"
        else:
            variant = "rate_low" if seg_rate > 0 else "rate_none"
        spread = max(lift, 1.0 / lift) if 0 < lift < math.inf else math.inf
        figures["effect"] = 1.0 - 1.0 / spread
        magnitude = 0.0
    clauses = [amount_variant("sample", money)] if n < len(t.data) else []
    labels = ["segment", "rest"]
    series = [
        {
            "name": "all rows",
            "kind": "bar",
            "y": [figures.get("seg_rate", figures.get("seg_mean")), figures.get("rest_rate", figures.get("rest_mean"))],
        },
        {
            "name": "held-out rows",
            "kind": "bar",
            "y": [
                figures.get("h_seg_rate", figures.get("h_seg_mean")),
                figures.get("h_rest_rate", figures.get("h_rest_mean")),
            ],
        },
    ]
    chart = chart_spec(
        f"{figures['outcome_label'] or r.outcome}: segment vs rest",
        labels,
        series,
        y_title="rate" if not numeric else (currency or t.unit_of(r.outcome)),
    )
    method = (
        f"Decision tree (CART, depth {p.segment_depth}, leaves >= {p.segment_min_share:g} of rows) on "
        f"{1 - p.segment_holdout:.0%} of the rows, leaves ranked by weighted relative accuracy; rule tested on the "
        f"other {p.segment_holdout:.0%} with {'Welch t-test' if numeric else 'Fisher exact test'}, "
        f"Bonferroni over {n_tests} rules, alpha {p.alpha:g}"
    )
    return _make(
        ctx,
        insight_type="outcome_segments",
        category=r.category,
        variant=amount_variant(variant, money),
        subject=f"{t.key}: segment of {figures['outcome_label'] or r.outcome}: {text}",
        period=period_key(t),
        figures=figures,
        confidence=1.0 - c["p_adj"],
        magnitude=magnitude,
        direction="neutral",
        method=method,
        evidence=[{"kind": "chart", "spec": chart}, *t.dataset_link()],
        currency=currency,
        clauses=tuple(clauses),
    )
