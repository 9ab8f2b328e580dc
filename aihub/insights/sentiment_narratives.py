"""Narrative templates of the "sentiment dropped for X" insight (:mod:`aihub.insights.sentiment_insights`)."""

from __future__ import annotations

__all__ = ["SENTIMENT_CLAUSES", "SENTIMENT_EXTRA_ACTIONS", "SENTIMENT_TEMPLATES"]

SENTIMENT_TEMPLATES = {
    "sentiment_drop": {
        "drop": {
            "title": "Sentiment dropped for {group}",
            "narrative": (
                "The mean sentiment of {group} fell from {baseline_mean:num2} ({baseline_texts:n:text/texts}, "
                "{baseline_start} to {baseline_end}) to {recent_mean:num2} ({recent_texts:n:text/texts}, "
                "{recent_start} to {recent_end}); negative texts rose from {baseline_negative_share:pct} to "
                "{recent_negative_share:pct} (Welch test p {p_value:p}, false discovery rate q {q_value:p})."
            ),
            "actions": [
                "Read the most negative recent texts about {group} on the Sentiment screen and name the cause.",
                "Answer the unhappy customers and check the product or service behind {group}.",
            ],
        },
    },
}
SENTIMENT_CLAUSES: dict[str, dict[str, str]] = {"sentiment_drop": {}}
SENTIMENT_EXTRA_ACTIONS: dict[str, dict[str, str]] = {"sentiment_drop": {}}
