"""Priority score of an insight and the feedback adjustment.

Score (0 to 100)::

    score = 100 * clip(w_type * f_feedback * w_direction * confidence * (0.3 + 0.7 * m), 0, 1)
    m     = |money| / (|money| + money_scale)          # magnitude factor, 0 to 1

* ``w_type`` -- weight of the insight type (:data:`~aihub.insights.params.DEFAULT_TYPE_WEIGHTS`,
  overridable per call);
* ``w_direction`` -- 1.0 for risks, 0.85 for opportunities, 0.9 for neutral findings;
* ``confidence`` -- the detector's 0-to-1 confidence;
* ``m`` -- saturating magnitude: an insight worth ``money_scale`` gets 0.5,
  ten times that 0.91; a finding with no money at stake uses its ``effect``
  figure instead when it has one (a unitless 0-to-1 strength such as the
  share of an outcome a column explains; any-table insights set it), capped
  at :data:`EFFECT_CAP` so that only money or risk can make a finding
  critical; else it still scores 0.3 of its weight;
* ``f_feedback`` -- see :func:`feedback_factor`.

Priority: ``critical`` from 70, ``high`` from 45, ``medium`` from 25, else ``low``
(:data:`~aihub.insights.model.PRIORITY_THRESHOLDS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from aihub.insights.model import PRIORITIES, PRIORITY_THRESHOLDS

#: Highest magnitude factor a unitless ``effect`` can give (0.7: at most "high" priority).
EFFECT_CAP = 0.7

#: Direction weights.
DIRECTION_WEIGHTS: dict[str, float] = {"risk": 1.0, "opportunity": 0.85, "neutral": 0.9}

#: Beta prior of the usefulness rate (a = useful, b = dismissed pseudo-counts).
FEEDBACK_PRIOR: tuple[float, float] = (2.0, 2.0)

#: Bounds of the feedback factor.
FEEDBACK_BOUNDS: tuple[float, float] = (0.2, 1.2)


def magnitude_factor(money: float, scale: float) -> float:
    """``|money| / (|money| + scale)``, 0 to 1 (0 for NaN money)."""
    m = abs(float(money)) if money is not None and math.isfinite(float(money)) else 0.0
    return m / (m + float(scale)) if scale > 0 else 1.0


def feedback_factor(counts: Mapping[str, int] | None) -> float:
    """Multiplier (0.2 to 1.2) of an insight type's score from user feedback.

    Method
    ------
    The usefulness rate of the type gets a Beta(a, b) prior with
    ``(a, b) = FEEDBACK_PRIOR = (2, 2)`` (prior mean 0.5, worth four
    votes). After ``u`` "useful" votes and ``d`` dismissals or "not useful"
    votes the posterior mean is ``r = (a + u) / (a + b + u + d)`` and the
    factor is ``clip(r / 0.5, 0.2, 1.2)``. No feedback gives 1; ten
    dismissals and nothing useful give ``(2/14)/0.5 = 0.29``; types users
    find useful get a small boost, at most 1.2.

    Parameters
    ----------
    counts : mapping, optional
        ``{"useful": u, "dismissed": d, "not_useful": n}`` (missing keys 0).
    """
    if not counts:
        return 1.0
    a, b = FEEDBACK_PRIOR
    u = float(counts.get("useful", 0))
    d = float(counts.get("dismissed", 0)) + float(counts.get("not_useful", 0))
    r = (a + u) / (a + b + u + d)
    lo, hi = FEEDBACK_BOUNDS
    return min(hi, max(lo, r / (a / (a + b))))


def priority_score(
    *,
    confidence: float,
    money: float,
    money_scale: float,
    type_weight: float,
    direction: str = "neutral",
    feedback: float = 1.0,
    effect: float | None = None,
) -> float:
    """The 0-to-100 score of the module docstring (``effect``, 0 to 1, stands in for ``m`` when no money is at stake)."""
    m = magnitude_factor(money, money_scale)
    if m == 0 and effect is not None and math.isfinite(float(effect)):
        m = min(EFFECT_CAP, max(0.0, float(effect)))
    raw = type_weight * feedback * DIRECTION_WEIGHTS.get(direction, 0.9) * float(confidence) * (0.3 + 0.7 * m)
    return round(100.0 * min(1.0, max(0.0, raw)), 2)


def priority_of(score: float) -> str:
    """Priority name of a score (see :data:`~aihub.insights.model.PRIORITY_THRESHOLDS`)."""
    for name in reversed(PRIORITIES):
        if score >= PRIORITY_THRESHOLDS[name]:
            return name
    return "low"


def priority_rank(name: str) -> int:
    """0 for low ... 3 for critical."""
    return PRIORITIES.index(name)
