"""Insights service: turn a tenant's data into stored, ranked findings, and track what analysts do with them.

:func:`generate` reads the caller's tenant (orders datasets, any other
table, active forecasts, open anomalies, churn predictions, RFM segment
snapshots; see :mod:`aihub.services.insight_sources`), runs the insight engine
(:func:`aihub.insights.generate_insights`) with the tenant's feedback, and
stores the findings that are new. A finding whose fingerprint (type,
subject, period) belongs to a still-valid insight is not stored again; one
that expired and is found again is refreshed in place. A live finding (the
open-anomalies digest) is refreshed in place as soon as what it counts
changed (:func:`refresh_live`), with a ``refreshed`` event in its history.

Analysts move insights through :data:`STATUSES` (a dismissal needs a reason)
and vote on their usefulness; every change is an ``insight_events`` row. The
votes and dismissals per insight type are fed back to the engine, which
lowers the priority of types users keep dismissing
(:func:`aihub.insights.feedback_factor`).

Every function takes the calling :class:`~aihub.auth.Principal` and checks
its permission: ``generate`` to generate, ``feedback`` for statuses and
votes, ``read`` to view. Which columns are read is :mod:`aihub.services.insight_roles`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from aihub.auth import Principal, require
from aihub.db import insight_store, owner_scans, store
from aihub.db.insight_store import InsightEventRecord, InsightRecord
from aihub.db.session import tenant_session
from aihub.errors import AihubError, NotFound, ValidationError
from aihub.insights import PRIORITIES, generate_insights
from aihub.insights.model import LIVE_TYPES
from aihub.insights.params import InsightParams, check_categories, check_choice, check_now
from aihub.insights.ranking import priority_rank
from aihub.paging import Page, check_limit, decode_cursor, page_of
from aihub.services import jobs, usage
from aihub.services.insight_roles import (
    DatasetRoles,
    TableRolesView,
    dataset_roles,
    detect_roles,
    set_dataset_roles,
    set_table_roles,
    table_roles,
)
from aihub.services.insight_sources import Sources, collect_sources, rfm_snapshots, shap_reasons

log = logging.getLogger(__name__)

#: Lifecycle of an insight.
STATUSES: tuple[str, ...] = ("new", "acknowledged", "in_progress", "implemented", "dismissed")
#: Statuses of insights that still ask for work.
OPEN_STATUSES: tuple[str, ...] = ("new", "acknowledged", "in_progress")
STATUS_LABELS: dict[str, str] = {
    "new": "New", "acknowledged": "Acknowledged", "in_progress": "In progress", "implemented": "Implemented",
    "dismissed": "Dismissed",
}
MAX_REASON = 1000
#: Kind of the job that generates insights off the request path (:func:`queue_generate`).
INSIGHTS_KIND = "insights"


# ====================================================================== generation
def _check_filters(categories: Any, min_priority: Any, limit: Any) -> tuple[tuple[str, ...] | None, str | None]:
    cats = check_categories(categories)
    if min_priority is not None:
        check_choice(min_priority, PRIORITIES, "min_priority")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000):
        raise ValidationError(f"limit must be a whole number from 1 to 10000; got {limit!r}", field="limit")
    return cats, min_priority


def _row(ins: Any) -> dict[str, Any]:
    d = ins.to_dict()
    figures = dict(d["figures"])
    figures[insight_store.FIGURE_TEXT_KEY] = dict(d.get("figure_text") or {})
    return {
        **{k: d[k] for k in ("type", "category", "priority", "score", "confidence", "title", "narrative",
                             "recommended_actions", "evidence", "subject", "period", "direction", "method",
                             "fingerprint")},
        "figures": figures,
        "magnitude": None if d.get("magnitude") is None else float(d["magnitude"]),
        "currency": d.get("currency"),
        "valid_from": ins.valid_from,
        "valid_until": ins.valid_until,
        "live": ins.type in LIVE_TYPES,
        "refresh_note": f"Brought up to date: {ins.title}",
    }


def _narrative_provider():
    """The configured LLM narrative provider (``AIHUB_LLM_*``), or None: off by default, and a misconfigured one
    is logged and skipped so the template narratives still come out."""
    from aihub.insights import llm

    try:
        return llm.provider_from_env()
    except AihubError as exc:
        log.error("narrative provider not used: %s", exc)
        return None


def generate(
    principal: Principal,
    categories: str | Iterable[str] | None = None,
    min_priority: str | None = None,
    limit: int | None = None,
    *,
    now: datetime | None = None,
    types: Iterable[str] | None = None,
    params: InsightParams | Mapping[str, Any] | None = None,
) -> list[InsightRecord]:
    """Generate the tenant's insights now and store the new ones. Needs ``generate``.

    Parameters
    ----------
    categories : str or list of str, optional
        Only these categories (sales, customer, operations, finance).
    min_priority : {"low", "medium", "high", "critical"}, optional
        Only insights of at least this priority.
    limit : int, optional
        At most this many new insights (the best ranked).
    now : datetime, optional
        Generation time (default: now); data after it are ignored and the
        validity periods start at it.
    types : iterable of str, optional
        Only these insight types.
    params : InsightParams or dict, optional
        Detector thresholds (see :class:`aihub.insights.InsightParams`).

    Returns
    -------
    list of InsightRecord
        The insights stored by this call (new, or expired ones found again),
        best first. A finding that is still valid is not returned again.

    Raises
    ------
    ValidationError
        For an unknown category, priority or a bad limit.
    PermissionDenied
        Without ``generate``.
    """
    require(principal, "generate")
    cats, min_prio = _check_filters(categories, min_priority, limit)
    now_utc = check_now(now)
    prm = InsightParams.from_dict(params)
    sources = collect_sources(principal, categories=cats, now=now_utc, params=prm)
    with tenant_session(principal.tenant_id) as s:
        existing = insight_store.valid_fingerprints(s, now_utc)
        feedback = insight_store.feedback_counts(s)
    found = generate_insights(sources.inputs, categories=cats, min_priority=min_prio, limit=limit, now=now_utc,
                              feedback=feedback, existing=existing, params=prm, types=types,
                              provider=_narrative_provider())
    with tenant_session(principal.tenant_id) as s:
        result = insight_store.store_insights(s, tenant_id=principal.tenant_id, insights=[_row(i) for i in found],
                                              user_id=principal.user_id, now=now_utc)
        records = insight_store.list_insights(s, now=now_utc, ids=result.ids, include_expired=True,
                                              limit=max(1, len(result.ids)))
    log.info("tenant %s: %d new and %d renewed insights from %s; skipped: %s", principal.tenant_id,
             len(result.inserted), len(result.revived), "; ".join(sources.used) or "nothing",
             "; ".join(sources.skipped) or "nothing")
    usage.record(principal, "insights", "generate")
    return records if result.ids else []


def queue_generate(principal: Principal, categories: str | Iterable[str] | None = None,
                   min_priority: str | None = None, limit: int | None = None, *, run: bool = True
                   ) -> store.JobRecord:
    """Queue :func:`generate` as a job (``insights``) for the worker; poll the job for its result.

    The filters are checked now; the job runs as the caller, within the
    caller's API-key scopes. On success its payload holds ``insight_ids`` (the
    insights stored by the run, best first). Needs ``generate``.

    Raises
    ------
    ValidationError
        For an unknown category, priority or a bad limit.
    PermissionDenied
        Without ``generate``.
    """
    require(principal, "generate")
    cats, min_prio = _check_filters(categories, min_priority, limit)
    payload = {"categories": None if cats is None else list(cats), "min_priority": min_prio, "limit": limit,
               **jobs.submitter(principal)}
    return jobs.submit(principal.tenant_id, None, INSIGHTS_KIND, payload, principal.user_id, run=run)


@jobs.register(INSIGHTS_KIND)
def _generate_job(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: generate as the user who asked (the insights are stored by :func:`generate` itself)."""
    principal = jobs.acting_submitter(control.tenant_id, job.payload)
    control.progress(0.05, "Reading the organization's data")
    found = generate(principal, job.payload.get("categories"), job.payload.get("min_priority"),
                     job.payload.get("limit"))
    result = {**job.payload, "insight_ids": [i.id for i in found]}

    def persist(s: Any) -> None:
        store.update_job(s, job.id, payload=result)

    return persist


def generation_status(principal: Principal, *, now: datetime | None = None) -> dict[str, Any]:
    """Where insight generation stands: the newest generation job and the open insights by status. Needs ``read``.

    Returns
    -------
    dict
        ``latest_job`` (a :class:`~aihub.db.store.JobRecord` or None), ``running`` (bool: that job is queued
        or running), ``open_by_status`` ({status: count} of valid insights in :data:`OPEN_STATUSES`),
        ``last_generated_at`` (newest insight's creation time, or None).
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        latest = store.latest_job_of_kind(s, INSIGHTS_KIND)
        counts, last = insight_store.status_summary(s, now=check_now(now))
    return {"latest_job": latest, "running": latest is not None and not latest.done,
            "open_by_status": {k: counts.get(k, 0) for k in OPEN_STATUSES}, "last_generated_at": last}


def refresh_live(principal: Principal, *, now: datetime | None = None) -> list[InsightRecord]:
    """Bring the live insights (the open-anomalies digest) up to date with the data now. Needs ``read``.

    Reads only what live insights count (open anomalies), so it is cheap
    enough to run whenever anomalies change (a triage action) and when the
    Insights page opens. A stored digest whose counts changed is updated in
    place with a ``refreshed`` event; when nothing is open any more it
    expires now (event ``refreshed``, note "No open anomalies any more").
    Changes are recorded as the system (no actor).

    Returns
    -------
    list of InsightRecord
        The live insights stored or changed by this call.
    """
    require(principal, "read")
    now_utc = check_now(now)
    prm = InsightParams()
    sources = collect_sources(principal, now=now_utc, params=prm, kinds=("anomalies",))
    with tenant_session(principal.tenant_id) as s:
        existing = insight_store.valid_fingerprints(s, now_utc)
        feedback = insight_store.feedback_counts(s)
    found = generate_insights(sources.inputs, now=now_utc, feedback=feedback, existing=existing, params=prm,
                              types=LIVE_TYPES)
    with tenant_session(principal.tenant_id) as s:
        result = insight_store.store_insights(s, tenant_id=principal.tenant_id, insights=[_row(i) for i in found],
                                              user_id=None, now=now_utc)
        ids = list(result.ids)
        if not sources.inputs.anomalies:
            ids += insight_store.expire_live(s, tenant_id=principal.tenant_id, types=LIVE_TYPES, now=now_utc,
                                             note="No open anomalies any more")
        if not ids:
            return []
        return insight_store.list_insights(s, now=now_utc, ids=ids, include_expired=True, limit=len(ids))


def on_anomalies_changed(tenant_id: int, event: str, payload: Mapping[str, Any]) -> int:
    """Subscriber to anomaly triage (:data:`aihub.events.ANOMALY_TRIAGED`): refresh the tenant's live insights.

    Runs as the tenant's first active admin, like the scheduled generation;
    returns how many live insights changed (0 without an active admin).
    """
    with tenant_session(tenant_id) as s:
        admin = insight_store.first_active_admin(s)
    if admin is None:
        return 0
    user_id, username, name, tenant_name = admin
    return len(refresh_live(Principal(tenant_id, user_id, username, "admin", tenant_name, name)))


def generate_for_tenant(tenant_id: int, categories: str | Iterable[str] | None = None) -> int:
    """Generate a tenant's insights as its first active admin (the worker's schedule). Returns how many are new.

    Returns 0 when the tenant has no active admin.
    """
    with tenant_session(tenant_id) as s:
        admin = insight_store.first_active_admin(s)
    if admin is None:
        log.warning("tenant %s has no active admin; no insights generated", tenant_id)
        return 0
    user_id, username, name, tenant_name = admin
    principal = Principal(tenant_id, user_id, username, "admin", tenant_name, name)
    return len(generate(principal, categories))


def generate_all(categories: str | Iterable[str] | None = None, *, tenant_ids: Iterable[int] | None = None
                 ) -> dict[str, int]:
    """Generate every tenant's insights (the worker's daily task), each as its first active admin.

    One tenant's failure is logged and counted; the others still run.

    Parameters
    ----------
    tenant_ids : iterable of int, optional
        Only these tenants (default: all, listed through the owner connection).

    Returns
    -------
    dict
        ``{"tenants": tenants processed, "insights": new insights, "failed": tenants that failed}``.
    """
    if tenant_ids is None:
        tenant_ids = owner_scans.tenant_ids()
    out = {"tenants": 0, "insights": 0, "failed": 0}
    for tenant_id in tenant_ids:
        try:
            out["insights"] += generate_for_tenant(int(tenant_id), categories)
            out["tenants"] += 1
        except Exception:  # one tenant's bad data must not stop the others' insights
            log.exception("insights of tenant %s could not be generated", tenant_id)
            out["failed"] += 1
    return out


# ====================================================================== reading
def list_insights(
    principal: Principal,
    *,
    categories: str | Iterable[str] | None = None,
    min_priority: str | None = None,
    statuses: Iterable[str] | None = OPEN_STATUSES,
    types: Iterable[str] | None = None,
    include_expired: bool = False,
    limit: int = 200,
    now: datetime | None = None,
    newest_first: bool = False,
    before_id: int | None = None,
) -> list[InsightRecord]:
    """The tenant's insights, best first (score, then money at stake). Needs ``read``.

    Parameters
    ----------
    statuses : iterable of str, optional
        Default: the open ones (new, acknowledged, in progress); None: all.
    include_expired : bool
        Also insights whose validity period has ended.
    newest_first, before_id
        Order by id, newest first, keeping ids below ``before_id`` (the keyset pages of :func:`page_insights`).
    """
    require(principal, "read")
    cats, min_prio = _check_filters(categories, min_priority, None)
    sts = None if statuses is None else [check_choice(x, STATUSES, "statuses") for x in statuses]
    prios = None if min_prio is None else [x for x in PRIORITIES if priority_rank(x) >= priority_rank(min_prio)]
    with tenant_session(principal.tenant_id) as s:
        return insight_store.list_insights(s, now=check_now(now), categories=cats, priorities=prios, statuses=sts,
                                           types=types, include_expired=include_expired, limit=limit,
                                           newest_first=newest_first, before_id=before_id)


def page_insights(principal: Principal, *, cursor: str | None = None, limit: int | None = None,
                  **filters: Any) -> Page[InsightRecord]:
    """One page of insights, newest first, read in the database after ``cursor`` (keyset). Needs ``read``.

    ``filters`` are those of :func:`list_insights` (categories, min_priority, statuses, types, include_expired).

    Raises
    ------
    ValidationError
        For a cursor this list did not make (field ``cursor``), a limit outside 1 to 500 or a bad filter.
    """
    before, n = decode_cursor(cursor), check_limit(limit)
    return page_of(list_insights(principal, limit=n + 1, before_id=before, newest_first=True, **filters), n)


def get_insight(principal: Principal, insight_id: int) -> InsightRecord:
    """One insight. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return insight_store.get_insight(s, insight_id)


def insight_events(principal: Principal, insight_id: int) -> list[InsightEventRecord]:
    """Status changes and votes of an insight, oldest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        insight_store.get_insight(s, insight_id)
        return insight_store.list_events(s, insight_id)


def insight_histories(principal: Principal, insight_ids: list[int]) -> dict[int, list[InsightEventRecord]]:
    """Status changes and votes of several insights (one read for a page of cards). Needs ``read``.

    Returns ``{insight id: events oldest first}`` with an empty list for an
    insight without events; ids of other organizations get an empty list too
    (row-level security), never their events.
    """
    require(principal, "read")
    ids = [int(i) for i in insight_ids]
    if not ids:
        return {}
    with tenant_session(principal.tenant_id) as s:
        found = insight_store.list_events_of(s, ids)
    return {i: found.get(i, []) for i in ids}


def feedback_counts(principal: Principal) -> dict[str, dict[str, int]]:
    """Votes and dismissals per insight type, as fed to the engine. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return insight_store.feedback_counts(s)


# ====================================================================== feedback
def set_status(principal: Principal, insight_id: int, status: str, reason: str | None = None) -> InsightRecord:
    """Move an insight to ``status``; a dismissal needs a reason. Needs ``feedback``.

    Every change is recorded in the insight's history with who and when.

    Raises
    ------
    ValidationError
        Unknown status, dismissal without a reason, a reason over 1000
        characters, or the insight already has this status.
    NotFound
        Outside the organization.
    """
    require(principal, "feedback")
    check_choice(status, STATUSES, "status")
    reason = (reason or "").strip() or None
    if status == "dismissed" and reason is None:
        raise ValidationError("Say why you dismiss this insight (the reason is kept with it).", field="reason")
    if reason is not None and len(reason) > MAX_REASON:
        raise ValidationError(f"The reason must have at most {MAX_REASON} characters.", field="reason")
    with tenant_session(principal.tenant_id) as s:
        current = insight_store.get_insight(s, insight_id, lock=True)
        if current.status == status:
            raise ValidationError(f"This insight is already {STATUS_LABELS[status].lower()}.", field="status")
        insight_store.set_status(s, tenant_id=principal.tenant_id, insight=current, status=status, reason=reason,
                                 actor_id=principal.user_id)
        out = insight_store.get_insight(s, insight_id)
    usage.record(principal, "insights", status)
    return out


def vote(principal: Principal, insight_id: int, useful: bool, note: str | None = None) -> InsightRecord:
    """Record whether the caller found an insight useful (their latest vote counts). Needs ``feedback``.

    "Not useful" votes, like dismissals, lower the priority of the insight's
    type in later generations; "useful" votes raise it a little.
    """
    require(principal, "feedback")
    if not isinstance(useful, (bool, np.bool_)):
        raise ValidationError(f"useful must be true or false; got {useful!r}", field="useful")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_REASON:
        raise ValidationError(f"The note must have at most {MAX_REASON} characters.", field="note")
    with tenant_session(principal.tenant_id) as s:
        current = insight_store.get_insight(s, insight_id)
        insight_store.add_vote(s, tenant_id=principal.tenant_id, insight=current, useful=bool(useful), note=note,
                               actor_id=principal.user_id)
        out = insight_store.get_insight(s, insight_id)
    usage.record(principal, "insights", "vote")
    return out


__all__ = [
    "OPEN_STATUSES",
    "STATUSES",
    "STATUS_LABELS",
    "DatasetRoles",
    "InsightEventRecord",
    "InsightRecord",
    "NotFound",
    "Sources",
    "TableRolesView",
    "collect_sources",
    "dataset_roles",
    "detect_roles",
    "feedback_counts",
    "generate",
    "generate_all",
    "generate_for_tenant",
    "get_insight",
    "insight_events",
    "insight_histories",
    "list_insights",
    "on_anomalies_changed",
    "refresh_live",
    "rfm_snapshots",
    "set_dataset_roles",
    "set_status",
    "set_table_roles",
    "shap_reasons",
    "table_roles",
    "vote",
]
