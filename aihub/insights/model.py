"""The :class:`Insight` record and its vocabularies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from aihub import jsonsafe
from aihub.insights.formatting import untraced_numbers

#: Insight types, in the order of the issue.
INSIGHT_TYPES: tuple[str, ...] = (
    "trend",
    "unusual_change",
    "drivers",
    "concentration",
    "forecast",
    "churn_risk",
    "segment_movement",
    "anomaly_digest",
    # any table (aihub.insights.table_detectors)
    "outcome_drivers",
    "period_shift",
    "outliers",
    "outcome_segments",
    # deployed sentiment analytics (aihub.insights.sentiment_insights)
    "sentiment_drop",
)

#: Types that describe the current state rather than a closed period: each such insight carries a ``state``
#: figure (a digest of what it counts) and is replaced while still valid when a new generation finds another
#: state (see :func:`aihub.insights.engine.is_stale`), so "7 open anomalies" does not outlive an eighth.
LIVE_TYPES: tuple[str, ...] = ("anomaly_digest",)

#: Business categories an insight is filed under.
CATEGORIES: tuple[str, ...] = ("sales", "customer", "operations", "finance")

#: Priority names from least to most urgent.
PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

#: Lowest score (0 to 100) of each priority; below ``medium`` is ``low``.
PRIORITY_THRESHOLDS: dict[str, float] = {"critical": 70.0, "high": 45.0, "medium": 25.0, "low": 0.0}

#: Lifecycle of an insight (the database keeps it; the engine creates ``new`` ones).
STATUSES: tuple[str, ...] = ("new", "acknowledged", "in_progress", "implemented", "dismissed")

#: Whether a finding is bad news, good news or neither.
DIRECTIONS: tuple[str, ...] = ("risk", "opportunity", "neutral")

#: Kinds of evidence links.
EVIDENCE_KINDS: tuple[str, ...] = ("chart", "model", "anomaly", "dataset")


def fingerprint(insight_type: str, subject: str, period: str) -> str:
    """Stable id of "the same finding": SHA-256 of type, subject and period.

    Parameters
    ----------
    insight_type : str
        One of :data:`INSIGHT_TYPES`.
    subject : str
        What the finding is about, e.g. ``"Sales by Region"``; compared
        case-insensitively with surrounding blanks removed.
    period : str
        The data period it describes, e.g. ``"2022-10-01/2022-12-31 vs 2022-07-01/2022-09-30"``.

    Returns
    -------
    str
        24 hexadecimal characters. The figures are deliberately not part of
        it: regenerating on slightly updated data yields the same fingerprint,
        so a still-valid insight is not duplicated.
    """
    payload = json.dumps(
        [insight_type, " ".join(str(subject).split()).lower(), str(period).strip()], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


@dataclass
class Insight:
    """One finding, with its numbers, narrative, recommendation and evidence.

    Attributes
    ----------
    type : str
        One of :data:`INSIGHT_TYPES`.
    category : str
        One of :data:`CATEGORIES`.
    priority : str
        One of :data:`PRIORITIES`, from ``score`` by :data:`PRIORITY_THRESHOLDS`.
    score : float
        Ranking score, 0 to 100 (see :func:`aihub.insights.ranking.priority_score`).
    confidence : float
        0 to 1, from the detector's statistic (stated in ``method``).
    title : str
        One line, with the headline figure.
    narrative : str
        One paragraph; every number in it is one of ``figure_text``.
    recommended_actions : list of str
    valid_from, valid_until : datetime
        Timezone-aware (UTC). After ``valid_until`` the insight is stale and
        a regeneration may create it again.
    evidence : list of dict
        Links ``{"kind": "chart" | "model" | "anomaly" | "dataset", ...}``:
        charts carry a ``"spec"`` (see :func:`aihub.charts.insights.chart_figure`),
        the others an ``"id"`` (and optional ``"name"``).
    figures : dict
        Every figure the narrative, title and actions quote, as raw values
        (money in currency units, shares and rates as fractions 0 to 1,
        p-values 0 to 1), plus the method's other numbers.
    figure_text : dict of str to str
        The exact text each quoted figure appears as.
    fingerprint : str
        :func:`fingerprint` of ``type``, ``subject`` and ``period``.
    subject : str
    period : str
    direction : {"risk", "opportunity", "neutral"}
    magnitude : float
        Money at stake (currency units, >= 0) used in ranking.
    currency : str
    method : str
        The method and its parameters, in one sentence.
    narrative_source : {"template", "provider"}
        Whether an LLM provider rephrased ``narrative``.
    status : str
        One of :data:`STATUSES`; the engine creates ``"new"``.
    """

    type: str
    category: str
    priority: str
    score: float
    confidence: float
    title: str
    narrative: str
    recommended_actions: list[str]
    valid_from: datetime
    valid_until: datetime
    evidence: list[dict[str, Any]]
    figures: dict[str, Any]
    fingerprint: str
    subject: str
    period: str
    direction: str = "neutral"
    magnitude: float = 0.0
    currency: str = "USD"
    method: str = ""
    figure_text: dict[str, str] = field(default_factory=dict)
    narrative_source: str = "template"
    status: str = "new"

    def is_valid(self, now: datetime | None = None) -> bool:
        """Whether ``now`` (default: the current UTC time) lies in ``[valid_from, valid_until)``."""
        t = now or datetime.now(UTC)
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return self.valid_from <= t < self.valid_until

    def untraced_numbers(self) -> list[str]:
        """Numbers in the title, narrative or actions that no figure produced (empty when all are traceable)."""
        text = " ".join([self.title, self.narrative, *self.recommended_actions])
        return untraced_numbers(text, self.figure_text)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601 text, NaN as None)."""
        return jsonsafe.plain(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Insight:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        for key in ("valid_from", "valid_until"):
            if isinstance(d.get(key), str):
                d[key] = datetime.fromisoformat(d[key])
        return cls(**d)
