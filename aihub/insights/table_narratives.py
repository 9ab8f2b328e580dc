"""Narrative templates of the any-table insight types (merged into :mod:`aihub.insights.narratives`).

Templates follow :func:`aihub.insights.formatting.render`. Amounts of a
measure are written ``{x:AMT}`` (signed: ``{x:SAMT}``): every variant exists
twice, once for a column the analyst confirmed as money (``AMT`` becomes
``money``, so "$48.2k") and once, with the suffix ``@qty``, for any other
column (``AMT`` becomes ``qty`` followed by the column's unit, so
"38.4 M avocados" or "0.82"). A volume is therefore never written in
dollars. Text figures (column names, segment descriptions) are values,
never part of a template, so a column named ``{x}`` cannot inject one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TABLE_CLAUSES", "TABLE_EXTRA_ACTIONS", "TABLE_TEMPLATES", "amount_variant"]

_CHECKED = "{p:p} adjusted for the {n_tested:count} columns compared"

_BASE: dict[str, dict[str, dict[str, Any]]] = {
    "outcome_drivers": {
        "rate": {
            "title": "{driver} is the strongest driver of {outcome_label}: {seg_rate:pct} with {seg_text} vs {rest_rate:pct}",
            "narrative": (
                "In {table}, {driver} is the column most strongly linked to {outcome_label}: it explains "
                "{stat:pct} of the uncertainty about {outcome} (Theil's uncertainty coefficient, bias-corrected; "
                "{level:pct} bootstrap interval {stat_lo:pct} to {stat_hi:pct}; G-test p " + _CHECKED + "). "
                "{Rows} with {seg_text} have {outcome_label} {seg_rate:pct} of the time, against {rest_rate:pct} "
                "for the other {rows} ({seg_n:count} and {rest_n:count} {rows})."
            ),
            "actions": [
                (
                    "Check whether {driver} is something you can act on (targeting, pricing, process) or only a sign of "
                    "{outcome_label}."
                ),
                "Train a prediction model for {outcome} in Models to score new {rows} with their reasons.",
            ],
        },
        "classes": {
            "title": (
                "{driver} is the strongest driver of {outcome}: {seg_class} {seg_rate:pct} with {seg_text} vs "
                "{rest_rate:pct}"
            ),
            "narrative": (
                "In {table}, {driver} is the column most strongly linked to {outcome}: it explains {stat:pct} of "
                "the uncertainty about it (Theil's uncertainty coefficient, bias-corrected; {level:pct} bootstrap "
                "interval {stat_lo:pct} to {stat_hi:pct}; G-test p " + _CHECKED + "). {Rows} with {seg_text} "
                "have {outcome} = {seg_class} {seg_rate:pct} of the time, against {rest_rate:pct} for the other "
                "{rows} ({seg_n:count} and {rest_n:count} {rows})."
            ),
            "actions": [
                "Check whether {driver} is something you can act on or only a sign of the {outcome}.",
                "Train a prediction model for {outcome} in Models to score new {rows} with their reasons.",
            ],
        },
        "mean": {
            "title": "{driver} is the strongest driver of {outcome}: average {seg_mean:AMT} with {seg_text} vs {rest_mean:AMT}",
            "narrative": (
                "In {table}, {driver} is the column most strongly linked to {outcome}: its groups explain "
                "{stat:pct} of the variation in {outcome} (Kelley's epsilon squared; {level:pct} bootstrap "
                "interval {stat_lo:pct} to {stat_hi:pct}; Kruskal-Wallis p " + _CHECKED + "). {Rows} with "
                "{seg_text} have an average {outcome} of {seg_mean:AMT}, against {rest_mean:AMT} for the other "
                "{rows} ({seg_n:count} and {rest_n:count} {rows})."
            ),
            "actions": [
                "Check whether {driver} is something you can act on or only a sign of high or low {outcome}.",
                "Train a prediction model for {outcome} in Models to estimate it for new {rows} with reasons.",
            ],
        },
    },
    "period_shift": {
        **{
            variant: {
                "title": "{Measure} " + verb + " {change_rel_abs:pct} for {seg_text} in {period}",
                "narrative": (
                    "In {table}, the {agg_word} {measure} of {seg_text} was {value:AMT} in {period}, against "
                    "{ref_value:AMT} in {ref_period} ({change_rel:spct}). Its typical {lag_name} change over the "
                    "previous {n_hist:count} was {typical_rel:spct}; this one lies {z_abs:num1} robust standard "
                    "deviations from it (modified z-score; alert level {z_threshold:num1}; p {p:p} adjusted for "
                    "the {n_tests:count} series compared)."
                ),
                "actions": [
                    (
                        "Check whether the change for {seg_text} is real or a data issue (a missing or doubled load) "
                        "before acting on it."
                    ),
                    "Watch {seg_text} over the next {unit_word} to see whether the shift lasts.",
                ],
            }
            for variant, verb in (("up", "rose"), ("down", "fell"))
        },
        **{
            variant: {
                "title": "{Measure} " + verb + " by {change_abs:AMT} for {seg_text} in {period}",
                "narrative": (
                    "In {table}, the {agg_word} {measure} of {seg_text} was {value:AMT} in {period}, against "
                    "{ref_value:AMT} in {ref_period} ({change:SAMT}). Its typical {lag_name} change over the "
                    "previous {n_hist:count} was {typical:SAMT}; this one lies {z_abs:num1} robust standard "
                    "deviations from it (modified z-score; alert level {z_threshold:num1}; p {p:p} adjusted for "
                    "the {n_tests:count} series compared)."
                ),
                "actions": [
                    (
                        "Check whether the change for {seg_text} is real or a data issue (a missing or doubled load) "
                        "before acting on it."
                    ),
                    "Watch {seg_text} over the next {unit_word} to see whether the shift lasts.",
                ],
            }
            for variant, verb in (("up_abs", "rose"), ("down_abs", "fell"))
        },
        **{
            variant: {
                "title": "Share with {outcome_label} " + verb + " {change_pp:pp} points for {seg_text} in {period}",
                "narrative": (
                    "In {table}, {value:pct} of the {rows} of {seg_text} in {period} had {outcome_label}, against "
                    "{ref_value:pct} in {ref_period} ({n_now:count} and {n_ref:count} {rows}). Its typical "
                    "{lag_name} change over the previous {n_hist:count} was {typical_pp:pp} points; this one lies "
                    "{z_abs:num1} robust standard deviations from it (modified z-score; alert level "
                    "{z_threshold:num1}; p {p:p} adjusted for the {n_tests:count} series compared)."
                ),
                "actions": [
                    "Find out what changed for {seg_text} in {period}: offers, process, data collection.",
                    "Watch {seg_text} over the next {unit_word} to see whether the shift lasts.",
                ],
            }
            for variant, verb in (("rate_up", "rose"), ("rate_down", "fell"))
        },
    },
    "outliers": {
        **{
            variant: {
                "title": "{n_out:n:row lies/rows lie} far " + where_title + " the usual range of {column}",
                "narrative": (
                    "In {table}, {n_out:count} of {n_values:count} {rows} ({share:pct}) have {column} "
                    + where
                    + ", beyond Tukey's far-out fences ({fence_k:num1} interquartile ranges past the quartiles"
                    "{scale_note}); the median is {median:AMT}. The most extreme is data row {extreme_row:int} with "
                    "{extreme_value:AMT}. Normal data would put about {expected:num2} rows there (Poisson test, p "
                    "{p:p} adjusted for the {n_tested:count} columns checked)."
                ),
                "actions": [
                    (
                        "Look at the most extreme rows first: data errors, totals mixed in with detail rows, or real "
                        "exceptions."
                    ),
                    "Decide whether reports and models should exclude these rows, cap them or keep them.",
                ],
            }
            for variant, where_title, where in (
                ("rows", "outside", "outside {low:AMT} to {high:AMT} ({n_high:count} above, {n_low:count} below)"),
                ("rows_high", "above", "above {high:AMT}"),
                ("rows_low", "below", "below {low:AMT}"),
            )
        },
        "segment": {
            "title": "{dimension} {segment} stands out on {column}: median {seg_median:AMT} vs {typical:AMT}",
            "narrative": (
                "In {table}, the median {column} of {dimension} = {segment} is {seg_median:AMT}, against "
                "{typical:AMT} for the median {dimension}: {z_abs:num1} robust standard deviations away"
                "{scale_note}, beyond the alert level of {z_threshold:num1}. {n_out:count} of the "
                "{n_segments:count} values of {dimension} stand out this way."
            ),
            "actions": [
                (
                    "Check whether {segment} is a total or a different kind of row (for example a national total among "
                    "regions); if so, analyse it apart so it does not swamp the others."
                ),
            ],
        },
    },
    "outcome_segments": {
        "rate_high": {
            "title": "{Rows} with {seg_text} have {outcome_label} {lift:num1} times as often ({seg_rate:pct} vs "
            "{rest_rate:pct})",
            "narrative": (
                "In {table}, {seg_n:count} {rows} ({seg_share:pct}) have {seg_text}; {seg_rate:pct} of them have "
                "{outcome_label}, against {rest_rate:pct} of the other {rest_n:count}. A decision tree of depth "
                "{depth:int} found this segment on {train_share:pct} of the rows; on the other {holdout_share:pct}, "
                "which it did not see, the rates were {h_seg_rate:pct} and {h_rest_rate:pct} (Fisher's exact test, "
                "p {h_p:p} adjusted for the {n_tests:count} segments tested)."
            ),
            "actions": [
                "Look at {rows} with {seg_text} on their own: they have {outcome_label} {lift:num1} times as often.",
                "Use the segment in campaigns or checks, and re-measure its rate after acting on it.",
            ],
        },
        "rate_all": {
            "title": "Every {outcome_label} is among {rows} with {seg_text} ({seg_rate:pct} of them)",
            "narrative": (
                "In {table}, {seg_n:count} {rows} ({seg_share:pct}) have {seg_text}; {seg_rate:pct} of them have "
                "{outcome_label}, against {rest_rate:pct} of the other {rest_n:count}. A decision tree of depth "
                "{depth:int} found this segment on {train_share:pct} of the rows; on the other {holdout_share:pct}, "
                "which it did not see, the rates were {h_seg_rate:pct} and {h_rest_rate:pct} (Fisher's exact test, "
                "p {h_p:p} adjusted for the {n_tests:count} segments tested)."
            ),
            "actions": [
                "Treat {seg_text} as a precondition of {outcome_label} in this table, and check it holds in new data.",
            ],
        },
        "rate_none": {
            "title": "{Rows} with {seg_text} never have {outcome_label} (vs {rest_rate:pct} of the others)",
            "narrative": (
                "In {table}, {seg_n:count} {rows} ({seg_share:pct}) have {seg_text}; {seg_rate:pct} of them have "
                "{outcome_label}, against {rest_rate:pct} of the other {rest_n:count}. A decision tree of depth "
                "{depth:int} found this segment on {train_share:pct} of the rows; on the other {holdout_share:pct}, "
                "which it did not see, the rates were {h_seg_rate:pct} and {h_rest_rate:pct} (Fisher's exact test, "
                "p {h_p:p} adjusted for the {n_tests:count} segments tested)."
            ),
            "actions": [
                "Find out what rules {outcome_label} out for {rows} with {seg_text}, and whether it applies elsewhere.",
            ],
        },
        "rate_low": {
            "title": "{Rows} with {seg_text} have {outcome_label} only {seg_rate:pct} of the time (vs {rest_rate:pct})",
            "narrative": (
                "In {table}, {seg_n:count} {rows} ({seg_share:pct}) have {seg_text}; {seg_rate:pct} of them have "
                "{outcome_label}, against {rest_rate:pct} of the other {rest_n:count}. A decision tree of depth "
                "{depth:int} found this segment on {train_share:pct} of the rows; on the other {holdout_share:pct}, "
                "which it did not see, the rates were {h_seg_rate:pct} and {h_rest_rate:pct} (Fisher's exact test, "
                "p {h_p:p} adjusted for the {n_tests:count} segments tested)."
            ),
            "actions": [
                "Find out what sets {rows} with {seg_text} apart and whether it carries over to the others.",
            ],
        },
        **{
            variant: {
                "title": "{Rows} with {seg_text} have a " + word + " average {outcome}: {seg_mean:AMT} vs "
                "{rest_mean:AMT}",
                "narrative": (
                    "In {table}, {seg_n:count} {rows} ({seg_share:pct}) have {seg_text}; their average {outcome} "
                    "is {seg_mean:AMT}, against {rest_mean:AMT} for the other {rest_n:count}. A decision tree of "
                    "depth {depth:int} found this segment on {train_share:pct} of the rows; on the other "
                    "{holdout_share:pct}, which it did not see, the averages were {h_seg_mean:AMT} and "
                    "{h_rest_mean:AMT} (Welch's t-test, p {h_p:p} adjusted for the {n_tests:count} segments tested)."
                ),
                "actions": [
                    "Look at {rows} with {seg_text} on their own: their average {outcome} is {seg_mean:AMT}.",
                ],
            }
            for variant, word in (("mean_high", "higher"), ("mean_low", "lower"))
        },
    },
}

#: Optional sentences, by type (``AMT`` as in the templates).
_BASE_CLAUSES: dict[str, dict[str, str]] = {
    "outcome_drivers": {
        "next1": " Next comes {driver2} ({stat2:pct}).",
        "next2": " Next come {driver2} ({stat2:pct}) and {driver3} ({stat3:pct}).",
        "leak": (
            " {driver} explains nearly all of {outcome}: make sure it is not recorded after the outcome or "
            "computed from it."
        ),
        "sample": " Measured on a random sample of {n_used:count} of the {n_rows:count} {rows}.",
    },
    "period_shift": {
        "total": (
            " Across all {rows}, {measure} went from {total_ref:AMT} to {total_value:AMT}; {seg_text} accounts for "
            "{contrib:pct} of that change."
        ),
        "others": " Also beyond their normal range: {others}.",
        "also": " {also_text} moved the same way for {seg_text}.",
    },
    "outliers": {
        "conc": " {conc_share:pct} of them are in {conc_seg}, which holds {conc_base:pct} of all {rows}.",
        "also": " It stands out on {also_text} too.",
    },
    "outcome_segments": {
        "sample": " Measured on a random sample of {n_used:count} of the {n_rows:count} {rows}.",
    },
}


def amount_variant(variant: str, money: bool) -> str:
    """Template variant for a measure: ``variant`` for money, ``variant@qty`` for any other column."""
    return variant if money else f"{variant}@qty"


def _as(text: str, money: bool) -> str:
    if money:
        return text.replace(":AMT}", ":money}").replace(":SAMT}", ":smoney}")
    return text.replace(":AMT}", ":qty}{unit_sfx}").replace(":SAMT}", ":sqty}{unit_sfx}")


def _expand(templates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for variant, t in templates.items():
        for money in (True, False):
            out[amount_variant(variant, money)] = {
                "title": _as(t["title"], money),
                "narrative": _as(t["narrative"], money),
                "actions": [_as(a, money) for a in t["actions"]],
            }
    return out


#: ``TABLE_TEMPLATES[type][variant]`` -> ``{"title", "narrative", "actions"}``, each variant as money and ``@qty``.
TABLE_TEMPLATES: dict[str, dict[str, dict[str, Any]]] = {k: _expand(v) for k, v in _BASE.items()}

#: Optional sentences by type; a clause ``name`` has ``name`` (money) and ``name@qty`` forms.
TABLE_CLAUSES: dict[str, dict[str, str]] = {
    k: {amount_variant(name, money): _as(text, money) for name, text in v.items() for money in (True, False)}
    for k, v in _BASE_CLAUSES.items()
}

#: Extra actions by type (none yet; the key exists so every type has an entry).
TABLE_EXTRA_ACTIONS: dict[str, dict[str, str]] = {k: {} for k in _BASE}
