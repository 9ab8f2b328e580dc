"""Queries of insights: storing generated findings, their status history and votes, and usage events.

Like :mod:`aihub.db.store`, every function takes a tenant-bound
:class:`~sqlalchemy.orm.Session` (row-level security limits it to one
tenant), returns frozen dataclasses or plain values, and checks no
permission: :mod:`aihub.services.insights` does.

One row per tenant and fingerprint (``uq_insights_tenant_id_fingerprint``):
a finding that is still valid is never stored twice, and one that expired
and is found again is refreshed in place (:func:`store_insights`), so its
status history and votes stay with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from aihub.db.models import (
    Dataset,
    Insight,
    InsightEvent,
    Model,
    ModelVersion,
    PredictionResult,
    Tenant,
    UsageEvent,
    User,
)
from aihub.errors import NotFound

#: Key of ``insights.figures`` that keeps the exact text each quoted figure appears as.
FIGURE_TEXT_KEY = "_text"

#: Columns a generated insight sets (besides tenant, status and audit columns).
CONTENT_COLUMNS: tuple[str, ...] = (
    "type", "category", "priority", "score", "confidence", "title", "narrative", "recommended_actions",
    "evidence", "figures", "subject", "period", "direction", "magnitude", "currency", "method",
    "valid_from", "valid_until",
)


@dataclass(frozen=True)
class InsightRecord:
    """A stored insight with its current status and vote counts.

    Attributes
    ----------
    figures : dict
        Raw values of the figures (money in currency units, shares as
        fractions 0 to 1) and the method's other numbers.
    figure_text : dict of str to str
        The exact text each figure quoted in the title, narrative or actions
        appears as.
    useful, not_useful : int
        Users whose latest vote on this insight says so.
    """

    id: int
    type: str
    category: str
    priority: str
    score: float
    confidence: float
    title: str
    narrative: str
    recommended_actions: list[str]
    evidence: list[dict[str, Any]]
    figures: dict[str, Any]
    figure_text: dict[str, str]
    fingerprint: str
    subject: str
    period: str
    direction: str
    magnitude: float | None
    currency: str | None
    method: str
    status: str
    dismiss_reason: str | None
    valid_from: datetime
    valid_until: datetime
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    useful: int = 0
    not_useful: int = 0

    def is_valid(self, now: datetime) -> bool:
        """Whether ``now`` (timezone-aware) lies in ``[valid_from, valid_until)``."""
        return self.valid_from <= now < self.valid_until


@dataclass(frozen=True)
class InsightEventRecord:
    """One status change or vote: who, when, what, and the note (the dismissal reason)."""

    id: int
    insight_id: int
    insight_type: str
    actor_id: int | None
    actor: str | None
    action: str
    from_status: str | None
    to_status: str | None
    useful: bool | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class StoreResult:
    """Outcome of :func:`store_insights`: ids of new rows and of expired rows found again."""

    inserted: list[int]
    revived: list[int]
    skipped: int
    refreshed: list[int] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return self.inserted + self.revived + self.refreshed


def _votes_subquery() -> Any:
    """Latest vote of each user on each insight, counted per insight."""
    latest = (
        sa.select(InsightEvent.insight_id, InsightEvent.useful)
        .where(InsightEvent.action == "vote")
        .distinct(InsightEvent.insight_id, InsightEvent.actor_id)
        .order_by(InsightEvent.insight_id, InsightEvent.actor_id, InsightEvent.created_at.desc(),
                  InsightEvent.id.desc())
        .subquery()
    )
    return (
        sa.select(
            latest.c.insight_id,
            sa.func.count().filter(latest.c.useful.is_(True)).label("useful"),
            sa.func.count().filter(latest.c.useful.is_(False)).label("not_useful"),
        )
        .group_by(latest.c.insight_id)
        .subquery()
    )


def _record(i: Insight, useful: int | None = 0, not_useful: int | None = 0) -> InsightRecord:
    figures = dict(i.figures or {})
    text = figures.pop(FIGURE_TEXT_KEY, {}) or {}
    return InsightRecord(
        i.id, i.type, i.category, i.priority, i.score, i.confidence, i.title, i.narrative,
        list(i.recommended_actions or []), list(i.evidence or []), figures, dict(text), i.fingerprint, i.subject,
        i.period, i.direction, i.magnitude, i.currency, i.method, i.status, i.dismiss_reason, i.valid_from,
        i.valid_until, i.created_by, i.created_at, i.updated_at, int(useful or 0), int(not_useful or 0),
    )


# ------------------------------------------------------------------ generation
def valid_fingerprints(s: Session, now: datetime) -> list[dict[str, Any]]:
    """``[{"fingerprint", "valid_until", "state"}]`` of the tenant's insights still valid at ``now``.

    ``state`` is the ``state`` figure of a live insight (the open-anomalies
    digest: a digest of what it counts), None for the others.
    """
    rows = s.execute(
        sa.select(Insight.fingerprint, Insight.valid_until, Insight.figures["state"].astext)
        .where(Insight.valid_until > now)
    ).all()
    return [{"fingerprint": fp, "valid_until": until, "state": state} for fp, until, state in rows]


def store_insights(
    s: Session, *, tenant_id: int, insights: Sequence[Mapping[str, Any]], user_id: int | None, now: datetime
) -> StoreResult:
    """Store generated insights; never a second row for a fingerprint that is still valid.

    Parameters
    ----------
    insights : sequence of dict
        :data:`CONTENT_COLUMNS` plus ``fingerprint`` (and ``figures`` may
        carry :data:`FIGURE_TEXT_KEY`).
    now : datetime
        Generation time: a stored row with ``valid_until <= now`` has expired.

    Returns
    -------
    StoreResult
        A fingerprint seen for the first time is inserted (``ON CONFLICT DO
        NOTHING``, so a concurrent generation cannot duplicate it); an expired
        row is refreshed in place with status ``new`` and a ``regenerated``
        event; a still-valid row of an item marked ``live`` whose ``state``
        figure changed is updated in place, keeping its status, with a
        ``refreshed`` event (note: the item's ``refresh_note``); any other
        still-valid row is left alone (``skipped``).
    """
    inserted: list[int] = []
    revived: list[int] = []
    refreshed: list[int] = []
    skipped = 0
    fps = [str(i["fingerprint"]) for i in insights]
    current = {
        row.fingerprint: row
        for row in s.scalars(sa.select(Insight).where(Insight.fingerprint.in_(fps)).with_for_update()).all()
    } if fps else {}
    for item in insights:
        values = {k: item[k] for k in CONTENT_COLUMNS}
        row = current.get(item["fingerprint"])
        if row is None:
            new_id = s.scalar(
                pg_insert(Insight)
                .values(tenant_id=tenant_id, fingerprint=item["fingerprint"], status="new", created_by=user_id,
                        **values)
                .on_conflict_do_nothing(index_elements=["tenant_id", "fingerprint"])
                .returning(Insight.id)
            )
            if new_id is None:
                skipped += 1
            else:
                inserted.append(new_id)
        elif row.valid_until > now and item.get("live") and _state(row.figures) != _state(item["figures"]):
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = sa.func.now()
            s.add(InsightEvent(tenant_id=tenant_id, insight_id=row.id, insight_type=row.type, actor_id=user_id,
                               action="refreshed", from_status=row.status, to_status=row.status,
                               note=str(item.get("refresh_note") or "What it counts changed")[:1000]))
            refreshed.append(row.id)
        elif row.valid_until <= now:
            old_status = row.status
            for k, v in values.items():
                setattr(row, k, v)
            row.status, row.dismiss_reason, row.updated_at = "new", None, sa.func.now()
            s.add(InsightEvent(tenant_id=tenant_id, insight_id=row.id, insight_type=row.type, actor_id=user_id,
                               action="regenerated", from_status=old_status, to_status="new",
                               note="Found again after its validity ended"))
            revived.append(row.id)
        else:
            skipped += 1
    s.flush()
    return StoreResult(inserted, revived, skipped, refreshed)


def expire_live(s: Session, *, tenant_id: int, types: Iterable[str], now: datetime, note: str) -> list[int]:
    """End now the validity of the still-valid insights of ``types`` (live ones whose subject is gone).

    Each gets a ``refreshed`` event with ``note``. Returns their ids.
    """
    rows = s.scalars(
        sa.select(Insight).where(Insight.type.in_(list(types)), Insight.valid_until > now).with_for_update()
    ).all()
    for row in rows:
        row.valid_until, row.updated_at = now, sa.func.now()
        s.add(InsightEvent(tenant_id=tenant_id, insight_id=row.id, insight_type=row.type, actor_id=None,
                           action="refreshed", from_status=row.status, to_status=row.status, note=note))
    s.flush()
    return [row.id for row in rows]


def _state(figures: Mapping[str, Any] | None) -> str | None:
    state = (figures or {}).get("state")
    return None if state is None else str(state)


# ------------------------------------------------------------------ reading
def list_insights(
    s: Session,
    *,
    now: datetime,
    categories: Iterable[str] | None = None,
    priorities: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
    include_expired: bool = False,
    limit: int = 200,
    newest_first: bool = False,
    before_id: int | None = None,
) -> list[InsightRecord]:
    """Insights matching the filters, best first (score, then money at stake, then newest).

    Parameters
    ----------
    now : datetime
        Insights with ``valid_until <= now`` are expired and left out unless
        ``include_expired``.
    categories, priorities, statuses, types : iterable of str, optional
        Keep only these (None: all).
    newest_first : bool
        Order by id, newest first, instead (a keyset page; ``before_id`` keeps smaller ids).
    """
    votes = _votes_subquery()
    q = sa.select(Insight, votes.c.useful, votes.c.not_useful).outerjoin(votes, votes.c.insight_id == Insight.id)
    if categories is not None:
        q = q.where(Insight.category.in_(list(categories)))
    if priorities is not None:
        q = q.where(Insight.priority.in_(list(priorities)))
    if statuses is not None:
        q = q.where(Insight.status.in_(list(statuses)))
    if types is not None:
        q = q.where(Insight.type.in_(list(types)))
    if ids is not None:
        q = q.where(Insight.id.in_(list(ids)))
    if not include_expired:
        q = q.where(Insight.valid_until > now)
    if before_id is not None:
        q = q.where(Insight.id < before_id)
    if newest_first:
        q = q.order_by(Insight.id.desc()).limit(limit)
    else:
        q = q.order_by(Insight.score.desc(), sa.func.abs(Insight.magnitude).desc().nulls_last(),
                       Insight.created_at.desc(), Insight.id.desc()).limit(limit)
    return [_record(i, u, n) for i, u, n in s.execute(q).all()]


def status_summary(s: Session, *, now: datetime) -> tuple[dict[str, int], datetime | None]:
    """Valid insights counted by status, and the newest insight's creation time (None without any)."""
    counts = dict(s.execute(sa.select(Insight.status, sa.func.count()).where(Insight.valid_until > now)
                            .group_by(Insight.status)).all())
    return {k: int(v) for k, v in counts.items()}, s.scalar(sa.select(sa.func.max(Insight.created_at)))


def get_insight(s: Session, insight_id: int, *, lock: bool = False) -> InsightRecord:
    """One insight. Raises NotFound outside the tenant."""
    if lock:
        s.execute(sa.select(Insight.id).where(Insight.id == insight_id).with_for_update())
    votes = _votes_subquery()
    row = s.execute(
        sa.select(Insight, votes.c.useful, votes.c.not_useful)
        .outerjoin(votes, votes.c.insight_id == Insight.id)
        .where(Insight.id == insight_id)
    ).first()
    if row is None:
        raise NotFound(f"No insight {insight_id} in your organization.")
    return _record(*row)


def list_events(s: Session, insight_id: int) -> list[InsightEventRecord]:
    """Status changes and votes of one insight, oldest first."""
    return list_events_of(s, [insight_id]).get(insight_id, [])


def list_events_of(s: Session, insight_ids: list[int]) -> dict[int, list[InsightEventRecord]]:
    """Status changes and votes of several insights in one query: ``{insight id: events oldest first}``.

    Insights without events (or of another tenant: row-level security) are absent.
    """
    q = (
        sa.select(InsightEvent, User.username)
        .outerjoin(User, User.id == InsightEvent.actor_id)
        .where(InsightEvent.insight_id.in_(list(insight_ids)))
        .order_by(InsightEvent.created_at, InsightEvent.id)
    )
    out: dict[int, list[InsightEventRecord]] = {}
    for e, who in s.execute(q).all():
        out.setdefault(e.insight_id, []).append(
            InsightEventRecord(e.id, e.insight_id, e.insight_type, e.actor_id, who, e.action, e.from_status,
                               e.to_status, e.useful, e.note, e.created_at))
    return out


# ------------------------------------------------------------------ feedback
def set_status(
    s: Session, *, tenant_id: int, insight: InsightRecord, status: str, reason: str | None, actor_id: int | None
) -> None:
    """Change an insight's status and record the change (the reason of a dismissal is its note)."""
    s.execute(
        sa.update(Insight).where(Insight.id == insight.id).values(
            status=status, dismiss_reason=reason if status == "dismissed" else None, updated_at=sa.func.now()
        )
    )
    s.add(InsightEvent(tenant_id=tenant_id, insight_id=insight.id, insight_type=insight.type, actor_id=actor_id,
                       action="status", from_status=insight.status, to_status=status, note=reason))
    s.flush()


def add_vote(
    s: Session, *, tenant_id: int, insight: InsightRecord, useful: bool, note: str | None, actor_id: int | None
) -> None:
    """Record a usefulness vote (a user's latest vote on an insight is the one that counts)."""
    s.add(InsightEvent(tenant_id=tenant_id, insight_id=insight.id, insight_type=insight.type, actor_id=actor_id,
                       action="vote", useful=bool(useful), note=note))
    s.flush()


def feedback_counts(s: Session) -> dict[str, dict[str, int]]:
    """``{insight type: {"useful", "not_useful", "dismissed"}}`` of the tenant, aggregated in SQL.

    ``useful``/``not_useful`` count each user's latest vote per insight;
    ``dismissed`` counts insights of the type that were ever dismissed (an
    insight dismissed, reopened and dismissed again counts once).
    """
    latest = (
        sa.select(InsightEvent.insight_type, InsightEvent.useful)
        .where(InsightEvent.action == "vote")
        .distinct(InsightEvent.insight_id, InsightEvent.actor_id)
        .order_by(InsightEvent.insight_id, InsightEvent.actor_id, InsightEvent.created_at.desc(),
                  InsightEvent.id.desc())
        .subquery()
    )
    out: dict[str, dict[str, int]] = {}
    for t, useful, not_useful in s.execute(
        sa.select(latest.c.insight_type, sa.func.count().filter(latest.c.useful.is_(True)),
                  sa.func.count().filter(latest.c.useful.is_(False)))
        .group_by(latest.c.insight_type)
    ).all():
        out.setdefault(t, {"useful": 0, "not_useful": 0, "dismissed": 0}).update(
            useful=int(useful), not_useful=int(not_useful))
    for t, n in s.execute(
        sa.select(InsightEvent.insight_type, sa.func.count(sa.distinct(InsightEvent.insight_id)))
        .where(InsightEvent.action == "status", InsightEvent.to_status == "dismissed")
        .group_by(InsightEvent.insight_type)
    ).all():
        out.setdefault(t, {"useful": 0, "not_useful": 0, "dismissed": 0})["dismissed"] = int(n)
    return out


# ------------------------------------------------------------------ sources
#: ``models.config -> 'training' ->> 'model_type'`` of churn models (see :data:`aihub.ml.MODEL_TYPES`).
CHURN_MODEL_TYPE = "churn_prediction"


def churn_predictions(s: Session, *, limit: int = 50_000) -> list[tuple[int, str, int, list[tuple[dict, dict, float]]]]:
    """Latest prediction per distinct input of each deployed churn model's champion.

    Returns
    -------
    list of (model id, model name, champion version, rows)
        ``rows`` are ``(input, output, probability)`` of successful
        predictions with a probability, newest input first, at most ``limit``.
    """
    models = s.execute(
        sa.select(Model.id, Model.name, Model.active_version_id, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == Model.active_version_id)
        .where(sa.func.coalesce(Model.config["training"]["model_type"].astext,
                                Model.config["model_type"].astext) == CHURN_MODEL_TYPE)
        .order_by(Model.id)
    ).all()
    out = []
    for model_id, name, version_id, version in models:
        latest = (
            sa.select(PredictionResult.input, PredictionResult.output, PredictionResult.probability,
                      PredictionResult.created_at)
            .where(PredictionResult.model_version_id == version_id, PredictionResult.error.is_(None),
                   PredictionResult.probability.is_not(None))
            .distinct(PredictionResult.input_hash)
            .order_by(PredictionResult.input_hash, PredictionResult.created_at.desc(), PredictionResult.id.desc())
            .subquery()
        )
        rows = s.execute(
            sa.select(latest.c.input, latest.c.output, latest.c.probability)
            .order_by(latest.c.created_at.desc()).limit(limit)
        ).all()
        out.append((model_id, name, version, [(i, o, float(p)) for i, o, p in rows]))
    return out


# ------------------------------------------------------------------ context
def tenant_ids(s: Session) -> list[int]:
    """Every tenant's id (an owner session sees them all; a tenant session only its own)."""
    return list(s.scalars(sa.select(Tenant.id).order_by(Tenant.id)).all())


def first_active_admin(s: Session) -> tuple[int, str, str, str] | None:
    """``(user id, username, name, tenant name)`` of the tenant's first active admin, or None."""
    row = s.execute(
        sa.select(User.id, User.username, User.name, Tenant.name)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.role == "admin", User.is_active)
        .order_by(User.id)
        .limit(1)
    ).first()
    return tuple(row) if row else None


def insight_roles(s: Session) -> dict[int, dict[str, Any] | None]:
    """``{dataset id: stored insight roles or None}`` of the tenant's datasets."""
    return dict(s.execute(sa.select(Dataset.id, Dataset.insight_roles)).all())


def set_insight_roles(s: Session, dataset_id: int, roles: dict[str, Any] | None) -> None:
    """Store (or with None, forget) the insight roles of a dataset. Raises NotFound outside the tenant."""
    res = s.execute(sa.update(Dataset).where(Dataset.id == dataset_id).values(insight_roles=roles))
    if not res.rowcount:
        raise NotFound(f"No dataset {dataset_id} in your organization.")


# ------------------------------------------------------------------ usage
def add_usage(s: Session, *, tenant_id: int, user_id: int | None, feature: str, action: str) -> None:
    """Record one use of an AI feature: one Core ``INSERT`` on the session's connection, run now (no ORM
    flush at commit, which cost more than the insert on a single prediction's hot path)."""
    s.connection().execute(_USAGE_INSERT, {"tenant_id": tenant_id, "user_id": user_id, "feature": feature,
                                           "action": action})


_USAGE_INSERT = sa.insert(UsageEvent)
