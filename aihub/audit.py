"""The audit log: one row per security-relevant event, in the tenant it concerns.

Call :func:`record` at the service boundary, inside the unit of work that made
the change (pass its ``session``) so the event and the change commit together.
Every event also goes to the ``aihub.audit`` logger, so events that belong to
no tenant (a failed log-in for an unknown e-mail) still reach the operator's
logs. Reading the log is :func:`aihub.auth.list_audit_log` (needs ``manage``).

The event names follow OWASP's Logging Cheat Sheet ("Which events to log":
authentication successes and failures, authorization changes, session
management, administrative actions).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sqlalchemy.orm import Session

from aihub.db import audit_store
from aihub.db.session import tenant_session


class Actor(Protocol):
    """Who acted: an :class:`aihub.auth.Principal` or anything with its ``user_id`` and ``username``."""

    user_id: int | None
    username: str


log = logging.getLogger("aihub.audit")

#: Every event the log accepts.
EVENTS: tuple[str, ...] = (
    "login_succeeded", "login_failed", "login_locked", "account_unlocked", "logout", "session_revoked",
    "user_added", "role_changed", "user_deactivated", "user_activated", "password_changed",
    "source_created", "source_changed", "source_deleted", "api_key_created", "api_key_revoked",
    "scheduled_work_skipped",
)


def record(tenant_id: int | None, event: str, *, actor: Actor | None = None, actor_id: int | None = None,
           actor_name: str = "", target: str = "", details: dict[str, Any] | None = None, client: str = "",
           session: Session | None = None) -> None:
    """Append ``event`` to the audit log of ``tenant_id`` (and to the ``aihub.audit`` logger).

    Parameters
    ----------
    tenant_id : int or None
        The tenant the event concerns; None logs it only (no tenant is known).
    event : str
        One of :data:`EVENTS`.
    actor : Principal, optional
        Who did it; or give ``actor_id`` and ``actor_name`` (a log-in has no principal yet).
    target : str
        What it was done to, in words ("user ana@example.com", "source 12 'orders'").
    details : dict
        JSON-safe facts (old and new role, reason, count); never secrets.
    client : str
        The client address as the web server saw it.
    session : Session, optional
        The caller's tenant session, so the event commits with the change.

    Raises
    ------
    ValueError
        If ``event`` is not one of :data:`EVENTS` (a programming error).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; allowed: {', '.join(EVENTS)}")
    if actor is not None:
        actor_id, actor_name = actor.user_id, actor.username
    details = dict(details or {})
    log.info("audit tenant=%s event=%s actor=%s target=%s client=%s details=%s",
             tenant_id, event, actor_name, target, client, details)
    if tenant_id is None:
        return
    row = {"tenant_id": tenant_id, "event": event, "actor_id": actor_id, "actor": actor_name, "target": target,
               "details": details, "client": client}
    if session is not None:
        audit_store.insert_event(session, **row)
        return
    with tenant_session(tenant_id) as s:
        audit_store.insert_event(s, **row)
