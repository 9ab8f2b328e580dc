"""``generate_insights``: run the detectors, rank, deduplicate, filter, optionally rephrase."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from aihub.errors import ValidationError
from aihub.insights.detector_registry import DETECTORS
from aihub.insights.detectors import Context
from aihub.insights.formatting import untraced_numbers
from aihub.insights.inputs import InsightInputs, as_naive_utc
from aihub.insights.model import LIVE_TYPES, Insight
from aihub.insights.params import InsightParams, check_choice, check_request
from aihub.insights.ranking import feedback_factor, priority_of, priority_rank, priority_score

log = logging.getLogger(__name__)

#: Money scale when no orders are given (currency units).
DEFAULT_MONEY_SCALE = 10_000.0


class NarrativeProvider(Protocol):
    """Optional rephrasing hook (for example an LLM client); never required.

    Called once per returned insight with the template narrative and its
    figures; returns the rephrased paragraph. The engine keeps the rephrasing
    only if every number in it is one of the figures' texts
    (:meth:`Insight.untraced_numbers` is empty); otherwise, or if the call
    raises, the template narrative stays.
    """

    def __call__(self, narrative: str, *, insight_type: str, title: str, figure_text: Mapping[str, str]) -> str: ...


def money_scale(inputs: InsightInputs, params: InsightParams, as_of: pd.Timestamp) -> float:
    """Money at which an insight's magnitude factor is 0.5.

    ``params.money_scale`` if set; else 5% of the revenue of the last 365
    days of the first orders input (if positive); else 10,000.
    """
    if params.money_scale is not None:
        return float(params.money_scale)
    for orders in inputs.orders:
        d = orders.data
        d = d[d["date"] <= as_of]
        if d.empty:
            continue
        end = d["date"].max()
        rev = float(d.loc[d["date"] > end - pd.Timedelta(days=365), "amount"].sum())
        if rev > 0:
            return 0.05 * rev
    return DEFAULT_MONEY_SCALE


def _existing_fingerprints(existing: Iterable[Any] | None, now: datetime) -> dict[str, str | None]:
    """Still-valid fingerprints, each with the ``state`` of a live insight (None when not given)."""
    out: dict[str, str | None] = {}
    for item in existing or ():
        state = None
        if isinstance(item, str):
            out[item] = None
            continue
        if isinstance(item, Insight):
            fp, until, state = item.fingerprint, item.valid_until, (item.figures or {}).get("state")
        elif isinstance(item, Mapping):
            fp, until = item.get("fingerprint"), item.get("valid_until")
            state = item.get("state", (item.get("figures") or {}).get("state"))
        else:
            raise ValidationError(
                f"existing must hold Insight objects, dicts with 'fingerprint' or fingerprint strings; got {type(item).__name__}",
                field="existing",
            )
        if not fp:
            continue
        if until is not None:
            if isinstance(until, str):
                until = datetime.fromisoformat(until)
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if until <= now:
                continue
        out[str(fp)] = None if state is None else str(state)
    return out


def is_stale(insight: Insight, stored_state: str | None) -> bool:
    """Whether a still-valid stored insight must be replaced by ``insight`` found now.

    True only for a live type (:data:`~aihub.insights.model.LIVE_TYPES`, such
    as the open-anomalies digest) whose ``state`` figure differs from the
    stored one: the anomalies it counts changed, so "7 open" must become
    "8 open" now rather than when the stored one expires. Findings about
    closed periods never go stale while valid.
    """
    if insight.type not in LIVE_TYPES or stored_state is None:
        return False
    return str(insight.figures.get("state")) != stored_state


def _rephrase(ins: Insight, provider: Callable[..., str]) -> Insight:
    try:
        text = provider(ins.narrative, insight_type=ins.type, title=ins.title, figure_text=dict(ins.figure_text))
    except Exception as exc:  # noqa: BLE001 - a provider must never break generation
        log.warning("narrative provider failed for %s: %s", ins.fingerprint, exc)
        return ins
    if not isinstance(text, str) or not text.strip():
        return ins
    if untraced_numbers(text, ins.figure_text):
        log.info("narrative provider changed the numbers of %s; keeping the template text", ins.fingerprint)
        return ins
    return replace(ins, narrative=text.strip(), narrative_source="provider")


def generate_insights(
    inputs: InsightInputs | Mapping[str, Any],
    categories: str | Iterable[str] | None = None,
    min_priority: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
    type_weights: Mapping[str, float] | None = None,
    *,
    feedback: Mapping[str, Mapping[str, int]] | None = None,
    existing: Iterable[Any] | None = None,
    params: InsightParams | Mapping[str, Any] | None = None,
    provider: NarrativeProvider | None = None,
    types: Iterable[str] | None = None,
) -> list[Insight]:
    """Compute, rank and filter the insights of a tenant's data.

    Parameters
    ----------
    inputs : InsightInputs or dict
        Orders, forecasts, predictions, segment snapshots and anomalies
        (each optional; see :mod:`aihub.insights.inputs`).
    categories : str or list of str, optional
        Keep only these categories (sales, customer, operations, finance).
    min_priority : {"low", "medium", "high", "critical"}, optional
        Keep insights of at least this priority.
    limit : int, optional
        Return at most this many (the best ranked).
    now : datetime, optional
        Generation time: start of validity, and data after it are ignored.
        Naive values are UTC. Default: the current time.
    type_weights : dict, optional
        ``{insight_type: weight}`` (0 to 10) overriding
        :data:`~aihub.insights.params.DEFAULT_TYPE_WEIGHTS`; weight 0 turns a
        type off.
    feedback : dict, optional
        ``{insight_type: {"useful": u, "dismissed": d, "not_useful": n}}``
        counts; see :func:`~aihub.insights.ranking.feedback_factor`.
    existing : iterable, optional
        Insights already stored (Insight objects, dicts with ``fingerprint``
        and ``valid_until`` and optionally ``state``, or fingerprint strings
        = valid). A new insight whose fingerprint belongs to a still-valid
        one is not returned, unless it is of a live type and its ``state``
        figure differs from the stored ``state`` (:func:`is_stale`): then it
        is returned so the caller replaces the stored one in place.
    params : InsightParams or dict, optional
        Detector thresholds and windows.
    provider : callable, optional
        :class:`NarrativeProvider` to rephrase narratives; default none.
    types : iterable of str, optional
        Run only these insight types.

    Returns
    -------
    list of Insight
        Sorted by ``score`` (0 to 100) descending, then money magnitude;
        one insight per fingerprint; every insight has ``status="new"``.

    Raises
    ------
    ValidationError
        A bad argument or input contract (``field`` names it).

    Notes
    -----
    Ranking formula: :mod:`aihub.insights.ranking`.
    """
    cats, min_prio, lim, now_utc, weights, fb = check_request(
        categories, min_priority, limit, now, type_weights, feedback
    )
    prm = InsightParams.from_dict(params)
    inp = InsightInputs.coerce(inputs)
    wanted = tuple(check_choice(t, tuple(DETECTORS), "types") for t in (types or DETECTORS))
    ctx = Context(now=now_utc, as_of=as_naive_utc(now_utc), params=prm)
    scale = money_scale(inp, prm, ctx.as_of)

    found: list[Insight] = []
    for insight_type in wanted:
        if weights.get(insight_type, 1.0) <= 0:
            continue
        source, detector = DETECTORS[insight_type]
        for item in getattr(inp, source):
            found.extend(detector(item, ctx))

    ranked: dict[str, Insight] = {}
    for ins in found:
        if ins.confidence < prm.min_confidence:
            continue
        if cats is not None and ins.category not in cats:
            continue
        score = priority_score(
            confidence=ins.confidence,
            money=ins.magnitude,
            money_scale=scale,
            type_weight=weights[ins.type],
            direction=ins.direction,
            feedback=feedback_factor(fb.get(ins.type)),
            effect=ins.figures.get("effect"),
        )
        ins = replace(ins, score=score, priority=priority_of(score))
        prev = ranked.get(ins.fingerprint)
        if prev is None or ins.score > prev.score:
            ranked[ins.fingerprint] = ins

    seen = _existing_fingerprints(existing, now_utc)
    out = [i for i in ranked.values() if i.fingerprint not in seen or is_stale(i, seen[i.fingerprint])]
    if min_prio is not None:
        out = [i for i in out if priority_rank(i.priority) >= priority_rank(min_prio)]
    out.sort(key=lambda i: (-i.score, -i.magnitude, i.fingerprint))
    if lim is not None:
        out = out[:lim]
    if provider is not None:
        out = [_rephrase(i, provider) for i in out]
    return out
