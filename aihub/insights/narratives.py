"""Narrative templates and recommended actions of every insight type.

Templates use :func:`aihub.insights.formatting.render` syntax:
``{name:kind}`` takes figure ``name`` and formats it as ``kind`` (``money``,
``smoney``, ``pct``, ``spct``, ``pp``, ``prob``, ``count``, ``num1``, ``num2``,
``p``, ``int``, or ``n:one/many`` for a count with a singular or plural
phrase); ``{name}`` inserts a text figure. A narrative is the ``narrative``
template followed by the optional clauses the detector selected, so every
number in it comes from the insight's ``figures``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aihub.insights.formatting import render
from aihub.insights.sentiment_narratives import SENTIMENT_CLAUSES, SENTIMENT_EXTRA_ACTIONS, SENTIMENT_TEMPLATES
from aihub.insights.table_narratives import TABLE_CLAUSES, TABLE_EXTRA_ACTIONS, TABLE_TEMPLATES

#: ``TEMPLATES[type][variant]`` -> ``{"title", "narrative", "actions"}``.
TEMPLATES: dict[str, dict[str, dict[str, Any]]] = {
    "trend": {
        "up": {
            "title": "{Metric} trending up: {slope:smoney} per {unit}",
            "narrative": (
                "{Metric} has risen steadily over the last {window:int} {unit}s ({start} to {end}). "
                "Sen's slope is {slope:smoney} per {unit}, {slope_rel:spct} of an average {unit} ({mean:money}), "
                "or about {slope_year:smoney} a year. {test_name} finds the upward trend significant "
                "(p {p:p}; Kendall's tau {tau:num2})."
            ),
            "actions": [
                "Find which regions, categories or customers carry the rise and put more behind them.",
                "Raise forecasts, targets and stock plans to the higher run rate ({slope_year:smoney} a year).",
            ],
        },
        "down": {
            "title": "{Metric} trending down: {slope:smoney} per {unit}",
            "narrative": (
                "{Metric} has fallen steadily over the last {window:int} {unit}s ({start} to {end}). "
                "Sen's slope is {slope:smoney} per {unit}, {slope_rel:spct} of an average {unit} ({mean:money}), "
                "or about {slope_year:smoney} a year. {test_name} finds the downward trend significant "
                "(p {p:p}; Kendall's tau {tau:num2})."
            ),
            "actions": [
                "Break the decline down by region, category and customer to find where it comes from.",
                "Review pricing, promotions and customers lost over the last {window:int} {unit}s.",
                "Lower near-term forecasts and targets unless a recovery plan is in place.",
            ],
        },
    },
    "unusual_change": {
        variant: {
            "title": "Unusual "
            + word
            + " in {metric}: "
            + ("{change_rel:spct}" if rel else "{change:smoney}")
            + " in {period}",
            "narrative": (
                "{Metric} in {period} was {value:money} against {ref_value:money} in {ref_period} ("
                + ("{change_rel:spct}, " if rel else "")
                + "{change:smoney}). That is outside normal variation: the typical {lag_name} change over the "
                "previous {n_hist:count} was "
                + ("{typical_rel:spct}" if rel else "{typical:smoney}")
                + ", and this one lies {z_abs:num1} robust standard deviations from it (modified z-score; the alert "
                "level is {z_threshold:num1}). With a typical change {metric} would have been about {expected:money}."
            ),
            "actions": (
                [
                    "Check whether the jump is real demand, a one-off order or a data issue (duplicates, double loads).",
                    "If it is demand, find the customers and products behind it and plan the follow-up.",
                ]
                if word == "jump"
                else [
                    (
                        "Rule out data problems first (missing or late loads), then look for lost customers, stock-outs "
                        "or price changes in {period}."
                    ),
                    "Open the drivers view for {period} to see which regions or categories fell.",
                ]
            ),
        }
        for variant, word, rel in (
            ("up", "jump", True),
            ("down", "drop", True),
            ("up_abs", "jump", False),
            ("down_abs", "drop", False),
        )
    },
    "drivers": {
        "growth": {
            "title": "{slice} {dim_name} drove {share:pct} of {period} {metric} growth",
            "narrative": (
                "{Metric} grew {rel_abs:pct} in {period} against {ref_period}, from {total_before:money} to "
                "{total_after:money} ({delta:smoney}). {slice} {dim_name} drove {share:pct} of that change "
                "({slice_delta:smoney}, from {slice_before:money} to {slice_after:money})."
            ),
            "actions": [
                "Find out what worked in {slice} in {period} and whether it can be repeated elsewhere.",
                "Protect the gain: check stock, staffing and key accounts in {slice}.",
            ],
        },
        "decline": {
            "title": "{slice} {dim_name} drove {share:pct} of {period} {metric} decline",
            "narrative": (
                "{Metric} fell {rel_abs:pct} in {period} against {ref_period}, from {total_before:money} to "
                "{total_after:money} ({delta:smoney}). {slice} {dim_name} drove {share:pct} of that change "
                "({slice_delta:smoney}, from {slice_before:money} to {slice_after:money})."
            ),
            "actions": [
                (
                    "Investigate {slice}: it lost {slice_loss:money} against {ref_period}; look at pricing, stock-outs "
                    "and key accounts."
                ),
                "Set a recovery target for {slice} and review it when the next period closes.",
            ],
        },
    },
    "concentration": {
        "customer": {
            "title": "Top {top_n:n:customer holds/customers hold} {top_share:pct} of {metric}",
            "narrative": (
                "Over the last {window_days:count} days ({start} to {end}) your top {top_n:n:customer/customers} brought in "
                "{top_revenue:money} of {total:money} in {metric}, {top_share:pct} of the total; the largest, "
                "{top1_name}, alone accounts for {top1_share:pct}. {pareto_share:pct} of customers make up "
                "{pareto_level:pct} of {metric}, and the Herfindahl-Hirschman index is {hhi_points:count} "
                "(as concentrated as {effective_n:count} equal customers)."
            ),
            "actions": [
                "Set up account plans for the top {top_n:n:customer/customers}, starting with {top1_name}.",
                "Grow mid-sized customers with targeted campaigns to reduce the dependence on a few accounts.",
                "Watch the top accounts for early churn signals: gaps between orders and smaller baskets.",
            ],
        },
        "product": {
            "title": "Top {top_n:n:product holds/products hold} {top_share:pct} of {metric}",
            "narrative": (
                "Over the last {window_days:count} days ({start} to {end}) your top {top_n:n:product/products} brought in "
                "{top_revenue:money} of {total:money} in {metric}, {top_share:pct} of the total; the largest, "
                "{top1_name}, alone accounts for {top1_share:pct}. {pareto_share:pct} of products make up "
                "{pareto_level:pct} of {metric}, and the Herfindahl-Hirschman index is {hhi_points:count} "
                "(as concentrated as {effective_n:count} equal products)."
            ),
            "actions": [
                "Secure supply and pricing of the top {top_n:n:product/products}, starting with {top1_name}.",
                "Broaden the range: promote products outside the top sellers.",
            ],
        },
    },
    "forecast": {
        "shortfall": {
            "title": "Forecast shortfall: {metric} {gap_rel:spct} against {baseline_short} for {start} to {end}",
            "narrative": (
                "The active forecast{model_clause} projects {metric} of {total:money} for {start} to {end}, "
                "{gap_rel:spct} against {baseline_text} ({baseline:money}): a shortfall of {gap_abs:money}. "
                "Its {level:pct} interval for the total is {lower:money} to {upper:money}, so the chance that {metric} "
                "ends below the baseline is {confidence:prob}."
            ),
            "actions": [
                "Plan for the {gap_abs:money} gap now: pull campaigns or pipeline forward, or revise the target.",
                "Check recent anomalies and the drivers of the slowdown before committing to the revision.",
            ],
        },
        "beat": {
            "title": "Forecast beat: {metric} {gap_rel:spct} against {baseline_short} for {start} to {end}",
            "narrative": (
                "The active forecast{model_clause} projects {metric} of {total:money} for {start} to {end}, "
                "{gap_rel:spct} against {baseline_text} ({baseline:money}): {gap_abs:money} more. "
                "Its {level:pct} interval for the total is {lower:money} to {upper:money}, so the chance that {metric} "
                "ends above the baseline is {confidence:prob}."
            ),
            "actions": [
                "Make sure stock, staffing and cash can carry the extra {gap_abs:money}.",
                "Consider raising the target for {start} to {end}.",
            ],
        },
    },
    "churn_risk": {
        "revenue": {
            "title": "{n_high:n:at-risk customer holds/at-risk customers hold} {revenue_high:money} of {revenue_label}{title_reason}",
            "narrative": (
                "Of {n_total:count} scored customers, {n_high:n:has/have} a churn probability of {threshold:pct} or "
                "more ({share_customers:pct}). Their {revenue_label} is {revenue_high:money}, {share_revenue:pct} of "
                "the total; weighting each customer by its probability, about {expected_loss:money} is expected to be "
                "lost."
            ),
            "actions": [
                "Contact the {n_high:n:high-risk customer/high-risk customers}, largest revenue first, starting with {top_customer}.",
                "Re-score after the campaign and compare churn with customers you did not contact.",
            ],
        },
        "count": {
            "title": "{n_high:n:customer/customers} at high risk of churn{title_reason}",
            "narrative": (
                "Of {n_total:count} scored customers, {n_high:n:has/have} a churn probability of {threshold:pct} or "
                "more ({share_customers:pct}); on average {mean_probability:pct}."
            ),
            "actions": [
                "Contact the {n_high:n:high-risk customer/high-risk customers}, highest probability first, starting with {top_customer}.",
                "Re-score after the campaign and compare churn with customers you did not contact.",
            ],
        },
    },
    "segment_movement": {
        "grew": {
            "title": "{Segment} segment grew {rel_abs:pct}: {before:count} to {after:count} customers",
            "narrative": (
                "The {segment} segment grew from {before:count} to {after:count} customers between {d0} and {d1} "
                "({rel:spct}); its share of all customers went from {share0:pct} to {share1:pct}."
            ),
            "actions": [],
        },
        "shrank": {
            "title": "{Segment} segment shrank {rel_abs:pct}: {before:count} to {after:count} customers",
            "narrative": (
                "The {segment} segment shrank from {before:count} to {after:count} customers between {d0} and {d1} "
                "({rel:spct}); its share of all customers went from {share0:pct} to {share1:pct}."
            ),
            "actions": [],
        },
    },
    "anomaly_digest": {
        "open": {
            "title": "Open {sev_text} anomalies: {n_open:count}, {net:smoney} net impact",
            "narrative": (
                "Open anomalies of severity {sev_text}: {n_open:count} ({breakdown}). Their estimated money impact is "
                "{net:smoney} net: {loss:money} in losses and {gain:money} in gains."
            ),
            "actions": [
                "Triage the open anomalies: critical first, then by money impact.",
                "Assign an owner to each and close false positives, so the monitors learn from them.",
            ],
        },
    },
}

#: Optional sentences a detector may append, by type.
CLAUSES: dict[str, dict[str, str]] = {
    "drivers": {
        "second": " {second} followed with {second_share:pct} ({second_delta:smoney}).",
        "detractor": " {detractor} moved the other way ({detractor_delta:smoney}).",
        "bootstrap": (
            " In {confidence:pct} of {n_boot:count} bootstrap resamples of the order lines the total kept its "
            "direction and {slice} still contributed to it."
        ),
    },
    "churn_risk": {
        "reasons1": " The top reason, from the model's SHAP contributions, is {reason1} (for {reason1_count:count} of them).",
        "reasons2": (
            " The top reasons, from the model's SHAP contributions, are {reason1} (for {reason1_count:count} of them) "
            "and {reason2} ({reason2_count:count})."
        ),
        "reasons3": (
            " The top reasons, from the model's SHAP contributions, are {reason1} (for {reason1_count:count} of them), "
            "{reason2} ({reason2_count:count}) and {reason3} ({reason3_count:count})."
        ),
    },
    "segment_movement": {
        "inflow": " The largest inflow came from {source} ({source_count:n:customer/customers}).",
        "outflow": " Most of those who left moved to {dest} ({dest_count:n:customer/customers}).",
        "money": " Its customers' spend to date is {monetary_after:money} (was {monetary_before:money}).",
        "test": " The shift in the segment mix is significant (chi-square test, p {p:p}).",
    },
    "anomaly_digest": {
        "metrics": " They concern {n_metrics:n:metric/metrics}.",
        "no_impact": " The impact of {n_no_impact:count} of them is unknown.",
        "top": " The largest is {top_metric} on {top_ts} ({top_impact:smoney}).",
        "oldest": " The oldest dates from {oldest}.",
    },
}

#: Recommended actions that depend on the finding, appended after the type's actions.
EXTRA_ACTIONS: dict[str, dict[str, str]] = {
    "churn_risk": {"reason": "Tackle the main reason, {reason1}, with a targeted offer or service fix."},
    "segment_movement": {
        "risk_grew": "Start a win-back campaign for the {after:count} {segment} customers, highest past spend first.",
        "risk_grew_source": "Find out why {source} customers are slipping (service issues, competitor offers, price).",
        "risk_shrank": "Keep the win-back work that is shrinking the {segment} segment going.",
        "value_grew": "Keep what is working for the growing {segment} segment and look after these customers.",
        "value_shrank": "Find out why {segment} customers moved away and re-engage them with loyalty offers.",
    },
}

# Any-table types keep their templates beside their detectors (aihub.insights.table_narratives).
TEMPLATES.update(TABLE_TEMPLATES)
CLAUSES.update(TABLE_CLAUSES)
EXTRA_ACTIONS.update(TABLE_EXTRA_ACTIONS)
TEMPLATES.update(SENTIMENT_TEMPLATES)
CLAUSES.update(SENTIMENT_CLAUSES)
EXTRA_ACTIONS.update(SENTIMENT_EXTRA_ACTIONS)


def compose(
    insight_type: str,
    variant: str,
    figures: Mapping[str, Any],
    currency: str,
    clauses: Sequence[str] = (),
    extra_actions: Sequence[str] = (),
) -> tuple[str, str, list[str], dict[str, str]]:
    """Render title, narrative and actions of one insight.

    Returns
    -------
    title, narrative : str
    actions : list of str
    shown : dict of str to str
        Text of every figure used (see :func:`~aihub.insights.formatting.render`).
    """
    t = TEMPLATES[insight_type][variant]
    shown: dict[str, str] = {}

    def r(template: str) -> str:
        text, s = render(template, figures, currency)
        shown.update(s)
        return text

    title = r(t["title"])
    narrative = r(t["narrative"] + "".join(CLAUSES[insight_type][c] for c in clauses))
    actions = [r(a) for a in t["actions"]] + [r(EXTRA_ACTIONS[insight_type][k]) for k in extra_actions]
    return title, narrative, actions, shown
