"""SQL of monitor alerting: incidents (one ongoing problem per series) and alert deliveries (one message per channel).

Tenant sessions see their own rows (row-level security); the ``owner_*``
functions run on the owner connection to find due deliveries across tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.models import AlertDelivery, MonitorIncident
from aihub.errors import NotFound

#: How long a sender holds a claimed delivery before another may take it again (it is presumed dead).
SEND_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class IncidentRecord:
    """An incident: the anomalies of one series close together in time, and when it alerted (None: not yet)."""

    id: int
    monitor_id: int
    metric: str
    slice: str
    first_ts: datetime
    last_ts: datetime
    severity: str
    anomaly_ids: list[int]
    alerted_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class DeliveryRecord:
    """One alert message to one channel: its incidents, when it is due, and what happened."""

    id: int
    monitor_id: int
    channel: str
    target: str
    incident_ids: list[int]
    status: str
    due_at: datetime
    attempts: int
    error: str | None
    delivery_key: str
    created_at: datetime
    sent_at: datetime | None


def _incident(r: MonitorIncident) -> IncidentRecord:
    return IncidentRecord(r.id, r.monitor_id, r.metric, r.slice, r.first_ts, r.last_ts, r.severity,
                          [int(i) for i in r.anomaly_ids or []], r.alerted_at, r.created_at)


def _delivery(r: AlertDelivery) -> DeliveryRecord:
    return DeliveryRecord(r.id, r.monitor_id, r.channel, r.target, [int(i) for i in r.incident_ids or []], r.status,
                          r.due_at, r.attempts, r.error, r.delivery_key, r.created_at, r.sent_at)


def latest_incident(s: Session, monitor_id: int, metric: str, slice_: str, *, since: datetime
                    ) -> IncidentRecord | None:
    """The newest incident of a series whose last anomaly is at or after ``since``, locked for update."""
    r = s.scalars(sa.select(MonitorIncident).where(
        MonitorIncident.monitor_id == monitor_id, MonitorIncident.metric == metric, MonitorIncident.slice == slice_,
        MonitorIncident.last_ts >= since).order_by(MonitorIncident.last_ts.desc()).limit(1).with_for_update()).first()
    return _incident(r) if r else None


def add_incident(s: Session, *, tenant_id: int, monitor_id: int, metric: str, slice_: str, ts: datetime,
                 severity: str, anomaly_id: int) -> IncidentRecord:
    """Open an incident with its first anomaly."""
    r = MonitorIncident(tenant_id=tenant_id, monitor_id=monitor_id, metric=metric, slice=slice_, first_ts=ts,
                        last_ts=ts, severity=severity, anomaly_ids=[anomaly_id])
    s.add(r)
    s.flush()
    s.refresh(r)
    return _incident(r)


def extend_incident(s: Session, incident_id: int, *, ts: datetime, severity: str, anomaly_ids: list[int]) -> None:
    """Add anomalies to an incident: its last period, worst severity and anomaly list."""
    s.execute(sa.update(MonitorIncident).where(MonitorIncident.id == incident_id).values(
        last_ts=sa.func.greatest(MonitorIncident.last_ts, ts), severity=severity, anomaly_ids=anomaly_ids,
        updated_at=sa.func.now()))


def mark_alerted(s: Session, incident_id: int) -> None:
    """Stamp the one time an incident alerted."""
    s.execute(sa.update(MonitorIncident).where(MonitorIncident.id == incident_id).values(alerted_at=sa.func.now()))


def get_incidents(s: Session, ids: list[int]) -> list[IncidentRecord]:
    """Incidents by id, in order of their first period."""
    rows = s.scalars(sa.select(MonitorIncident).where(MonitorIncident.id.in_(ids))
                     .order_by(MonitorIncident.first_ts, MonitorIncident.id)).all()
    return [_incident(r) for r in rows]


def list_incidents(s: Session, monitor_id: int, limit: int = 100) -> list[IncidentRecord]:
    """A monitor's incidents, newest first."""
    rows = s.scalars(sa.select(MonitorIncident).where(MonitorIncident.monitor_id == monitor_id)
                     .order_by(MonitorIncident.last_ts.desc(), MonitorIncident.id.desc()).limit(limit)).all()
    return [_incident(r) for r in rows]


def pending_delivery(s: Session, monitor_id: int, channel: str, target: str) -> DeliveryRecord | None:
    """The delivery of a channel still waiting to go out (a digest or quiet hours), locked for update."""
    r = s.scalars(sa.select(AlertDelivery).where(
        AlertDelivery.monitor_id == monitor_id, AlertDelivery.channel == channel, AlertDelivery.target == target,
        AlertDelivery.status == "pending").order_by(AlertDelivery.id).limit(1).with_for_update()).first()
    return _delivery(r) if r else None


def add_delivery(s: Session, *, tenant_id: int, monitor_id: int, channel: str, target: str, incident_ids: list[int],
                 due_at: datetime, delivery_key: str) -> DeliveryRecord:
    """Queue an alert message for ``due_at``."""
    r = AlertDelivery(tenant_id=tenant_id, monitor_id=monitor_id, channel=channel, target=target,
                      incident_ids=incident_ids, status="pending", due_at=due_at, delivery_key=delivery_key)
    s.add(r)
    s.flush()
    s.refresh(r)
    return _delivery(r)


def add_to_delivery(s: Session, delivery_id: int, incident_ids: list[int]) -> None:
    """Set the incidents a pending delivery carries."""
    s.execute(sa.update(AlertDelivery).where(AlertDelivery.id == delivery_id).values(incident_ids=incident_ids))


def due_deliveries(s: Session, now: datetime, monitor_id: int | None = None) -> list[int]:
    """Ids of the tenant's deliveries due at ``now`` (of one monitor when given), stale ``sending`` ones included."""
    q = sa.select(AlertDelivery.id).where(_takeable(now))
    if monitor_id is not None:
        q = q.where(AlertDelivery.monitor_id == monitor_id)
    return list(s.scalars(q.order_by(AlertDelivery.due_at, AlertDelivery.id)).all())


def owner_due_deliveries(s: Session, now: datetime) -> list[tuple[int, int]]:
    """``(tenant_id, delivery_id)`` of every tenant's due deliveries (owner session)."""
    rows = s.execute(sa.select(AlertDelivery.tenant_id, AlertDelivery.id).where(_takeable(now))
                     .order_by(AlertDelivery.due_at))
    return [(int(t), int(i)) for t, i in rows.all()]


def _takeable(now: datetime) -> sa.ColumnElement[bool]:
    """Due pending deliveries, and ``sending`` ones whose sender's lease (``due_at``) ran out: it died."""
    return sa.and_(AlertDelivery.status.in_(("pending", "sending")), AlertDelivery.due_at <= now)


def claim_delivery(s: Session, delivery_id: int, now: datetime, *, lease: timedelta = SEND_LEASE
                   ) -> DeliveryRecord | None:
    """Take a delivery for sending (status ``sending``); None if another sender holds it or it is settled.

    A ``pending`` delivery is taken whatever its due time (the caller chose it as due); a ``sending`` one only
    when its lease ran out. The claim moves ``due_at`` to ``now + lease``: a sender that dies mid-send leaves
    the row ``sending``, and after the lease another sender takes it again (at-least-once delivery; webhook
    receivers de-duplicate by the ``X-AIHub-Delivery`` key, which stays the same).
    """
    takeable = sa.or_(AlertDelivery.status == "pending",
                      sa.and_(AlertDelivery.status == "sending", AlertDelivery.due_at <= now))
    r = s.scalars(sa.select(AlertDelivery).where(AlertDelivery.id == delivery_id, takeable)
                  .with_for_update(skip_locked=True)).first()
    if r is None:
        return None
    r.status, r.attempts, r.due_at = "sending", r.attempts + 1, now + lease
    s.flush()
    return _delivery(r)


def retry_delivery(s: Session, delivery_id: int, *, error: str, due_at: datetime) -> DeliveryRecord:
    """Put a delivery whose attempt failed for a passing reason back in the queue, due at ``due_at``."""
    r = s.get(AlertDelivery, delivery_id)
    if r is None:
        raise NotFound(f"No alert delivery {delivery_id} in your organization.")
    r.status, r.error, r.due_at = "pending", error, due_at
    s.flush()
    return _delivery(r)


def finish_delivery(s: Session, delivery_id: int, *, status: str, error: str | None = None) -> DeliveryRecord:
    """Record a delivery's outcome: ``sent`` (with ``sent_at``) or ``failed`` with the reason."""
    r = s.get(AlertDelivery, delivery_id)
    if r is None:
        raise NotFound(f"No alert delivery {delivery_id} in your organization.")
    r.status, r.error = status, error
    if status == "sent":
        r.sent_at = sa.func.now()
    s.flush()
    s.refresh(r)
    return _delivery(r)


def list_deliveries(s: Session, monitor_id: int, limit: int = 50) -> list[DeliveryRecord]:
    """A monitor's alert messages, newest first."""
    rows = s.scalars(sa.select(AlertDelivery).where(AlertDelivery.monitor_id == monitor_id)
                     .order_by(AlertDelivery.id.desc()).limit(limit)).all()
    return [_delivery(r) for r in rows]


def delivery_stats(s: Session, monitor_id: int) -> dict[str, Any]:
    """Counts of a monitor's deliveries by status."""
    rows = s.execute(sa.select(AlertDelivery.status, sa.func.count()).where(AlertDelivery.monitor_id == monitor_id)
                     .group_by(AlertDelivery.status)).all()
    return {k: int(v) for k, v in rows}
