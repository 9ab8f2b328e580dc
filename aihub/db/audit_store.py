"""The tenant's audit log: insert and list security events (tenant-bound sessions; records out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.models import AuditEvent


@dataclass(frozen=True)
class AuditRecord:
    """One audit-log row."""

    id: int
    created_at: datetime
    event: str
    actor_id: int | None
    actor: str
    target: str
    details: dict[str, Any]
    client: str


def insert_event(s: Session, *, tenant_id: int, event: str, actor_id: int | None, actor: str, target: str,
                 details: dict[str, Any], client: str) -> int:
    """Append one event; returns its id."""
    row = AuditEvent(tenant_id=tenant_id, event=event, actor_id=actor_id, actor=actor[:200], target=target[:300],
                     details=details, client=client[:100])
    s.add(row)
    s.flush()
    return row.id


def list_events(s: Session, *, limit: int, events: tuple[str, ...] = ()) -> list[AuditRecord]:
    """The tenant's newest events first, optionally only of the given kinds."""
    q = sa.select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    if events:
        q = q.where(AuditEvent.event.in_(events))
    return [AuditRecord(r.id, r.created_at, r.event, r.actor_id, r.actor, r.target, dict(r.details), r.client)
            for r in s.scalars(q)]
