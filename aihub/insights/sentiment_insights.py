"""The "sentiment dropped for X" insight type, fed by the deployed sentiment analytics.

Input: :class:`SentimentInput`, the scored texts of one sentiment analytic
(score -1 to 1 and label per text, with its date and group). Detector:
:func:`sentiment_drop`, which reports each group whose mean score in the
latest period fell significantly below the periods before
(:func:`aihub.sentiment.detect_sentiment_drops`: one-sided Welch t-test,
Benjamini-Hochberg false discovery rate across groups). Confidence is
``1 - q`` (the group's FDR-adjusted p-value); magnitude the fall of the mean
score. Every number of the narrative is a figure of the drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from aihub.errors import ValidationError
from aihub.frames import require_columns, require_frame
from aihub.insights.detectors import Context, _make
from aihub.insights.model import Insight
from aihub.insights.sentiment_narratives import SENTIMENT_CLAUSES, SENTIMENT_EXTRA_ACTIONS, SENTIMENT_TEMPLATES

__all__ = ["SENTIMENT_CLAUSES", "SENTIMENT_DETECTORS", "SENTIMENT_EXTRA_ACTIONS", "SENTIMENT_TEMPLATES",
           "SentimentInput", "sentiment_drop"]


@dataclass
class SentimentInput:
    """Scored texts of one sentiment analytic.

    Parameters
    ----------
    data : DataFrame with columns time, group, score, label
        One row per scored text; ``score`` -1 to 1 (NaN: not scored).
    freq : {"D", "W", "M", "Q"}
        Period of the comparison.
    model_id, model_name : optional
        The analytic it comes from (evidence link).
    """

    data: pd.DataFrame
    freq: str = "M"
    model_id: int | None = None
    model_name: str = ""

    def __post_init__(self) -> None:
        require_frame(self.data, "scored texts")
        require_columns(self.data, {c: c for c in ("time", "group", "score", "label")}, "scored texts")
        if self.freq not in ("D", "W", "M", "Q"):
            raise ValidationError(f"freq must be D, W, M or Q; got {self.freq!r}", field="freq")


def sentiment_drop(inp: SentimentInput, ctx: Context) -> list[Insight]:
    """One insight per group whose sentiment dropped significantly in the latest period.

    Figures: ``group``, ``recent_mean``, ``baseline_mean``, ``change`` (score
    points, negative), ``recent_texts``, ``baseline_texts``,
    ``recent_negative_share``, ``baseline_negative_share``, ``p_value``,
    ``q_value``, ``recent_start``, ``recent_end``, ``baseline_start``, ``baseline_end``.
    """
    from aihub.sentiment import detect_sentiment_drops

    data = inp.data[pd.to_datetime(inp.data["time"]) <= ctx.as_of]
    if data.empty:
        return []
    out = []
    for d in detect_sentiment_drops(data, "time", "group", freq=inp.freq):
        figures: dict[str, Any] = {k: v for k, v in d.to_dict().items() if k not in ("title", "narrative", "period")}
        evidence = [{"kind": "model", "id": inp.model_id, "name": inp.model_name}] if inp.model_id else []
        out.append(_make(ctx, insight_type="sentiment_drop", category="customer", variant="drop",
                         subject=f"{inp.model_id}:{d.group}", period=d.period, figures=figures,
                         confidence=1.0 - d.q_value, magnitude=-d.change, direction="down",
                         method="Mean VADER score of the latest period against the periods before: one-sided Welch "
                                "t-test, Benjamini-Hochberg false discovery rate across groups.",
                         evidence=evidence, currency="USD"))
    return out


SENTIMENT_DETECTORS = {"sentiment_drop": ("sentiments", sentiment_drop)}
