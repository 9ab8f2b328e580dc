"""Anomalies: the triage worklist, status changes, assignment, notes, bulk actions, learned rules, views.

**Triage** moves an anomaly through ``new → acknowledged → investigating →
resolved | false_positive`` (see :data:`TRANSITIONS`), assigns it, adds notes;
every change is an ``anomaly_events`` row. Marking false positives makes the
monitor learn :class:`aihub.anomaly.FeedbackRule` s (suppress a recurring
pattern or raise a series' threshold), which the next run applies; an analyst
can undo each rule.

Every public function takes the calling :class:`~aihub.auth.Principal` first
and checks its permission: ``read`` to look, ``feedback`` to triage and to
undo rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from aihub import anomaly as core
from aihub import events
from aihub.auth import Principal, require
from aihub.db import anomaly_store as astore
from aihub.db.anomaly_store import AnomalyEventRecord, AnomalyRecord, RuleRecord
from aihub.db.session import tenant_session
from aihub.errors import NotFound, ValidationError
from aihub.paging import Page, check_limit, decode_cursor, page_of
from aihub.services.detection import finite

STATUSES = astore.STATUSES
OPEN_STATUSES = astore.OPEN_STATUSES
STATUS_LABELS = {"new": "new", "acknowledged": "acknowledged", "investigating": "investigating",
                 "resolved": "resolved", "false_positive": "false positive"}

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "investigating", "resolved", "false_positive"),
    "acknowledged": ("investigating", "resolved", "false_positive"),
    "investigating": ("acknowledged", "resolved", "false_positive"),
    "resolved": ("investigating",),
    "false_positive": ("investigating",),
}
"""Allowed status changes. Closed anomalies can only be reopened (to investigating)."""

BULK_ACTIONS: tuple[str, ...] = ("acknowledge", "assign", "resolve", "false_positive")


MAX_NOTE = 5000
MAX_REASON = 500


# ====================================================================== anomalies
def list_anomalies(
    principal: Principal,
    *,
    severities: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    monitor_id: int | None = None,
    metric: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    assignee_id: int | None = None,
    limit: int = 500,
    before_id: int | None = None,
    newest_first: bool = False,
) -> list[AnomalyRecord]:
    """The triage worklist, most severe first, then by absolute money impact. Needs ``read``.

    ``newest_first`` orders by id instead (newest first) and ``before_id``
    continues such a list after that anomaly (cursor pages, see :func:`page_anomalies`).

    Parameters
    ----------
    severities : iterable of {"low", "medium", "high", "critical"}, optional
    statuses : iterable of str, optional
        Of :data:`STATUSES`.
    date_from, date_to : date, optional
        Inclusive bounds on the anomaly's period.

    Raises
    ------
    ValidationError
        For an unknown severity or status, or ``date_from`` after ``date_to``.
    """
    require(principal, "read")
    sev = list(severities or [])
    for i, v in enumerate(sev):
        if v not in core.SEVERITIES:
            raise ValidationError(f"Unknown severity {v!r}; choose from {', '.join(core.SEVERITIES)}.",
                                  field=f"severities[{i}]")
    sts = list(statuses or [])
    for i, v in enumerate(sts):
        if v not in STATUSES:
            raise ValidationError(f"Unknown status {v!r}; choose from {', '.join(STATUSES)}.",
                                  field=f"statuses[{i}]")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationError(f"The date range starts ({date_from}) after it ends ({date_to}).", field="date_from")
    with tenant_session(principal.tenant_id) as s:
        return astore.list_anomalies(s, severities=sev, statuses=sts, monitor_id=monitor_id, metric=metric,
                                     date_from=date_from, date_to=date_to, assignee_id=assignee_id, limit=limit,
                                     before_id=before_id, newest_first=newest_first)


def page_anomalies(principal: Principal, *, cursor: str | None = None, limit: int | None = None,
                   **filters: Any) -> Page[AnomalyRecord]:
    """One cursor page of anomalies, newest first, with the filters of :func:`list_anomalies`. Needs ``read``.

    Raises
    ------
    ValidationError
        As :func:`list_anomalies`, and for a bad cursor or a limit outside 1 to 500.
    """
    before, n = decode_cursor(cursor), check_limit(limit)
    rows = list_anomalies(principal, limit=n + 1, before_id=before, newest_first=True, **filters)
    return page_of(rows, n)


def get_anomaly(principal: Principal, anomaly_id: int) -> AnomalyRecord:
    """One anomaly with its root cause and snapshot. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.get_anomaly(s, anomaly_id)


def anomaly_events(principal: Principal, anomaly_id: int) -> list[AnomalyEventRecord]:
    """Audit trail of an anomaly, oldest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_anomaly(s, anomaly_id)
        return astore.list_events(s, anomaly_id)


def allowed_transitions(status: str) -> tuple[str, ...]:
    """Statuses an anomaly in ``status`` may move to."""
    return TRANSITIONS.get(status, ())


def assignable_users(principal: Principal) -> list[tuple[int, str, str]]:
    """``(id, username, name)`` of the organization's active users. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.list_active_users(s)


def _text(value: Any, fld: str, limit: int, what: str, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{what} is required.", field=fld)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text; got {type(value).__name__}.", field=fld)
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{what} must be at most {limit:,} characters; got {len(value):,}.", field=fld)
    return value


def _transition(a: AnomalyRecord, status: str, resolution_notes: str | None, reason: str | None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column values and event details of moving ``a`` to ``status``; ValidationError if not allowed."""
    if status not in STATUSES:
        raise ValidationError(f"Unknown status {status!r}; choose from {', '.join(STATUSES)}.", field="status",
                              details={"allowed": list(STATUSES)})
    if status == a.status:
        raise ValidationError(f"Anomaly {a.id} is already {STATUS_LABELS[status]}.", field="status")
    allowed = TRANSITIONS[a.status]
    if status not in allowed:
        raise ValidationError(
            f"Anomaly {a.id} is {STATUS_LABELS[a.status]} and can move only to "
            f"{', '.join(STATUS_LABELS[x] for x in allowed)}; not to {STATUS_LABELS[status]}.",
            field="status", details={"from": a.status, "to": status, "allowed": list(allowed)},
        )
    values: dict[str, Any] = {"status": status}
    details: dict[str, Any] = {}
    if status == "resolved":
        notes = _text(resolution_notes, "resolution_notes", MAX_NOTE,
                      "Resolution notes (what was found and done)", True)
        values.update(resolution_notes=notes, is_false_positive=False, false_positive_reason=None,
                      resolved_at="now()")
        details["resolution_notes"] = notes
    elif status == "false_positive":
        why = _text(reason, "false_positive_reason", MAX_REASON,
                    "A false positive needs a reason (e.g. promotion, holiday, data issue); it", True)
        notes = _text(resolution_notes, "resolution_notes", MAX_NOTE, "Resolution notes", False)
        values.update(resolution_notes=notes, is_false_positive=True, false_positive_reason=why,
                      resolved_at="now()")
        details.update(false_positive_reason=why, resolution_notes=notes)
    elif a.status in astore.CLOSED_STATUSES:
        values.update(is_false_positive=False, false_positive_reason=None, resolved_at=None)
        details["reopened"] = True
    return values, details


def _relearn(s: Any, principal: Principal, monitor_id: int) -> list[str]:
    """Relearn a monitor's rules from its reviewed anomalies; descriptions of new rules."""
    mon = astore.get_monitor(s, monitor_id)
    cfg = core.MonitorConfig.from_dict(mon.config)
    events = [
        core.FeedbackEvent(
            timestamp=a.ts, label="false_positive" if a.status == "false_positive" else "true_positive",
            reason=a.false_positive_reason or "", metric=a.metric, dimension=a.dimension, slice=a.slice,
            anomaly_score=min(max(a.score, 0.0), 1.0), value=finite(a.actual), expected=finite(a.expected),
            event_id=str(a.id),
        )
        for a in astore.reviewed_anomalies(s, monitor_id)
    ]
    existing = [r.rule for r in astore.list_rules(s, monitor_id)]
    learned = core.learn_from_feedback(events, existing_rules=existing, alert_threshold=cfg.thresholds.low)
    return astore.sync_rules(s, tenant_id=principal.tenant_id, monitor_id=monitor_id,
                             learned=[r.to_dict() for r in learned])


def change_status(
    principal: Principal,
    anomaly_id: int,
    status: str,
    *,
    note: str = "",
    resolution_notes: str | None = None,
    false_positive_reason: str | None = None,
) -> AnomalyRecord:
    """Move an anomaly to another status and record it in the audit trail. Needs ``feedback``.

    Parameters
    ----------
    status : str
        One of :data:`STATUSES`, allowed from the current one by :data:`TRANSITIONS`.
    note : str
        Free text for the audit trail.
    resolution_notes : str, optional
        Required to resolve.
    false_positive_reason : str, optional
        Required to mark a false positive (e.g. "promotion"). Marking or
        reopening a false positive relearns the monitor's feedback rules.

    Returns
    -------
    AnomalyRecord
        The anomaly after the change.

    Raises
    ------
    ValidationError
        Unknown or disallowed status (the message names the allowed ones),
        missing resolution notes or false-positive reason.
    NotFound
        Outside the organization.
    PermissionDenied
        Without ``feedback``.
    """
    require(principal, "feedback")
    note = _text(note, "note", MAX_NOTE, "The note", False)
    with tenant_session(principal.tenant_id) as s:
        a = astore.get_anomaly(s, anomaly_id, lock=True)
        values, details = _transition(a, status, resolution_notes, false_positive_reason)
        astore.update_anomaly(s, anomaly_id, values)
        if status in astore.CLOSED_STATUSES or a.status in astore.CLOSED_STATUSES:
            learned = _relearn(s, principal, a.monitor_id)
            if learned:
                details["learned_rules"] = learned
        event_note = note or details.get("false_positive_reason") or details.get("resolution_notes")
        astore.add_event(s, tenant_id=principal.tenant_id, anomaly_id=anomaly_id, actor_id=principal.user_id,
                         action="status", from_status=a.status, to_status=status, note=event_note, details=details)
        out = astore.get_anomaly(s, anomaly_id)
    if (status in astore.CLOSED_STATUSES) != (a.status in astore.CLOSED_STATUSES):
        events.publish(principal.tenant_id, events.ANOMALY_TRIAGED,
                       {"anomaly_ids": [anomaly_id], "from_status": a.status, "to_status": status,
                        "at": datetime.now(UTC).isoformat()})
    return out


def resolve(principal: Principal, anomaly_id: int, payload: Mapping[str, Any]) -> AnomalyRecord:
    """Close an anomaly from a resolution payload. Needs ``feedback``.

    Parameters
    ----------
    payload : dict
        ``{"resolution_notes": "...", "is_false_positive": true, "false_positive_reason": "promotion"}``;
        with ``is_false_positive`` false or absent the anomaly is resolved and
        ``resolution_notes`` is required; with true it becomes a false positive
        and ``false_positive_reason`` is required. An optional ``note`` goes
        to the audit trail.

    Raises
    ------
    ValidationError
        Unknown keys, a non-boolean ``is_false_positive``, missing notes or reason,
        or a disallowed transition.
    """
    require(principal, "feedback")
    if not isinstance(payload, Mapping):
        raise ValidationError("The resolution must be an object with resolution_notes.", field="payload")
    allowed = ("resolution_notes", "is_false_positive", "false_positive_reason", "note")
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ValidationError(f"Unknown key(s) {unknown} in the resolution; allowed: {list(allowed)}.",
                              field=unknown[0])
    fp = payload.get("is_false_positive", False)
    if not isinstance(fp, bool):
        raise ValidationError(f"is_false_positive must be true or false; got {fp!r}.", field="is_false_positive")
    if not fp and payload.get("false_positive_reason"):
        raise ValidationError("A false_positive_reason is given but is_false_positive is not true.",
                              field="is_false_positive")
    return change_status(principal, anomaly_id, "false_positive" if fp else "resolved",
                         note=payload.get("note") or "", resolution_notes=payload.get("resolution_notes"),
                         false_positive_reason=payload.get("false_positive_reason"))


def assign(principal: Principal, anomaly_id: int, user_id: int | None, *, note: str = "") -> AnomalyRecord:
    """Assign an anomaly to an active user of the organization (None: unassign). Needs ``feedback``.

    Raises
    ------
    ValidationError
        If the user is not an active user of the organization, or already assigned.
    NotFound
        Outside the organization.
    """
    require(principal, "feedback")
    note = _text(note, "note", MAX_NOTE, "The note", False)
    with tenant_session(principal.tenant_id) as s:
        a = astore.get_anomaly(s, anomaly_id, lock=True)
        _assign(s, principal, a, user_id, note, {})
        return astore.get_anomaly(s, anomaly_id)


def _assignee(s: Any, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = astore.active_user(s, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None:
        raise ValidationError(f"User {user_id!r} is not an active user of your organization.", field="assignee")
    return user[1]


def _assign(s: Any, principal: Principal, a: AnomalyRecord, user_id: int | None, note: str | None,
            details: dict[str, Any]) -> None:
    to = _assignee(s, user_id)
    if user_id == a.assignee_id:
        raise ValidationError(f"Anomaly {a.id} is already assigned to {to or 'nobody'}.", field="assignee")
    astore.update_anomaly(s, a.id, {"assignee_id": user_id})
    astore.add_event(s, tenant_id=principal.tenant_id, anomaly_id=a.id, actor_id=principal.user_id,
                     action="assign", from_status=a.status, to_status=a.status,
                     note=note or (f"Assigned to {to}" if to else "Unassigned"),
                     details={**details, "from": a.assignee, "to": to})


def add_note(principal: Principal, anomaly_id: int, note: str) -> AnomalyEventRecord:
    """Add a note to an anomaly's audit trail. Needs ``feedback``.

    Raises
    ------
    ValidationError
        If the note is empty or longer than :data:`MAX_NOTE` characters.
    """
    require(principal, "feedback")
    text = _text(note, "note", MAX_NOTE, "The note", True)
    with tenant_session(principal.tenant_id) as s:
        a = astore.get_anomaly(s, anomaly_id, lock=True)
        astore.update_anomaly(s, anomaly_id, {})
        astore.add_event(s, tenant_id=principal.tenant_id, anomaly_id=anomaly_id, actor_id=principal.user_id,
                         action="note", from_status=a.status, to_status=a.status, note=text)
        return astore.list_events(s, anomaly_id)[-1]


@dataclass(frozen=True)
class BulkResult:
    """Outcome of :func:`bulk_triage`.

    Attributes
    ----------
    changed : list of int
        Anomalies changed (each with its own audit event).
    skipped : dict of int to str
        Anomalies left as they were, with the reason (already in that state,
        transition not allowed, not found).
    learned_rules : list of str
        Descriptions of rules learned from the false positives.
    """

    changed: list[int]
    skipped: dict[int, str]
    learned_rules: list[str] = field(default_factory=list)


def bulk_triage(
    principal: Principal,
    anomaly_ids: Iterable[int],
    action: str,
    *,
    assignee_id: int | None = None,
    resolution_notes: str | None = None,
    false_positive_reason: str | None = None,
    note: str = "",
) -> BulkResult:
    """Acknowledge, assign, resolve or mark false positive several anomalies at once. Needs ``feedback``.

    All changes happen in one transaction; anomalies the action does not
    apply to (already acknowledged, closed, ...) are skipped with the reason.

    Parameters
    ----------
    action : {"acknowledge", "assign", "resolve", "false_positive"}
    assignee_id : int or None
        For ``assign`` (None unassigns).
    resolution_notes : str
        Required for ``resolve``.
    false_positive_reason : str
        Required for ``false_positive``.

    Raises
    ------
    ValidationError
        Unknown action, no anomalies, missing notes or reason, unknown assignee.
    PermissionDenied
        Without ``feedback``.
    """
    require(principal, "feedback")
    if action not in BULK_ACTIONS:
        raise ValidationError(f"Unknown bulk action {action!r}; choose from {', '.join(BULK_ACTIONS)}.",
                              field="action")
    ids = sorted({int(i) for i in anomaly_ids})
    if not ids:
        raise ValidationError("Select at least one anomaly.", field="anomaly_ids")
    note = _text(note, "note", MAX_NOTE, "The note", False)
    if action == "resolve":
        _text(resolution_notes, "resolution_notes", MAX_NOTE, "Resolution notes (what was found and done)", True)
    if action == "false_positive":
        _text(false_positive_reason, "false_positive_reason", MAX_REASON,
              "A false positive needs a reason (e.g. promotion, holiday, data issue); it", True)
    status = {"acknowledge": "acknowledged", "resolve": "resolved", "false_positive": "false_positive"}.get(action)
    changed: list[int] = []
    skipped: dict[int, str] = {}
    relearn: set[int] = set()
    with tenant_session(principal.tenant_id) as s:
        if action == "assign":
            _assignee(s, assignee_id)
        for i in ids:
            try:
                a = astore.get_anomaly(s, i, lock=True)
                if action == "assign":
                    _assign(s, principal, a, assignee_id, note, {"bulk": True})
                else:
                    values, details = _transition(a, status, resolution_notes, false_positive_reason)
                    astore.update_anomaly(s, i, values)
                    astore.add_event(
                        s, tenant_id=principal.tenant_id, anomaly_id=i, actor_id=principal.user_id,
                        action="status", from_status=a.status, to_status=status,
                        note=note or details.get("false_positive_reason") or details.get("resolution_notes"),
                        details={**details, "bulk": True},
                    )
                    if status in astore.CLOSED_STATUSES:
                        relearn.add(a.monitor_id)
                changed.append(i)
            except (ValidationError, NotFound) as exc:
                skipped[i] = str(exc)
        learned: list[str] = []
        for monitor_id in sorted(relearn):
            learned += _relearn(s, principal, monitor_id)
    if relearn and changed:
        events.publish(principal.tenant_id, events.ANOMALY_TRIAGED,
                       {"anomaly_ids": changed, "to_status": status, "at": datetime.now(UTC).isoformat()})
    return BulkResult(changed, skipped, learned)


# ====================================================================== rules
def list_rules(principal: Principal, monitor_id: int) -> list[RuleRecord]:
    """What a monitor learned from feedback (active and undone), oldest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return astore.list_rules(s, monitor_id)


def undo_rule(principal: Principal, rule_id: int) -> RuleRecord:
    """Undo a learned rule: the next run reports what it suppressed again. Needs ``feedback``.

    Relearning keeps an undone rule undone. Raises NotFound outside the organization.
    """
    require(principal, "feedback")
    with tenant_session(principal.tenant_id) as s:
        return astore.set_rule_active(s, rule_id, active=False, user_id=principal.user_id)


def reapply_rule(principal: Principal, rule_id: int) -> RuleRecord:
    """Re-activate an undone rule. Needs ``feedback``."""
    require(principal, "feedback")
    with tenant_session(principal.tenant_id) as s:
        return astore.set_rule_active(s, rule_id, active=True, user_id=principal.user_id)


# ====================================================================== views
def snapshot_frame(anomaly: AnomalyRecord) -> pd.DataFrame:
    """The stored snapshot of an anomaly as a DataFrame (columns of :func:`aihub.anomaly.snapshot`)."""
    frame = pd.DataFrame(anomaly.snapshot)
    if frame.empty:
        return frame
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for c in ("value", "expected", "lower", "upper", "anomaly_score"):
        if c in frame:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def format_money(amount: float | None, currency: str = "USD") -> str:
    """``-1,234.50 USD`` or ``"n/a"``."""
    if amount is None or not np.isfinite(amount):
        return "n/a"
    return f"{amount:+,.2f} {currency}"
