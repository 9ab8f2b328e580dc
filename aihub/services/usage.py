"""Usage of the AI features, for the dashboard's usage section.

Services call :func:`record` after a user did something with an AI feature
(uploaded data, trained, predicted, ran detection, generated insights, ran a
workflow). The dashboard counts these events and their distinct users per
feature over time (:func:`aihub.services.dashboard.usage`).

Recording never gets in the way of the feature: a database error while
recording is logged and swallowed.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from aihub.auth import Principal
from aihub.db import insight_store
from aihub.db.session import tenant_session
from aihub.errors import ValidationError

log = logging.getLogger(__name__)

#: Feature names the hub records (others are accepted if they fit the column).
FEATURES: tuple[str, ...] = ("data", "forecast", "predict", "train", "detect", "insights", "workflows")

_MAX = 40


def _check(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > _MAX:
        raise ValidationError(f"A usage {what} must have 1 to {_MAX} characters; got {value!r}.", field=what)
    return value


def record(principal: Principal, feature: str, action: str) -> bool:
    """Record that ``principal`` used ``feature`` (e.g. ``"insights"``) to ``action`` (e.g. ``"generate"``).

    Parameters
    ----------
    principal : Principal
        Who acted; the event belongs to their tenant. No permission is
        needed beyond having done the action.
    feature, action : str
        1 to 40 characters each.

    Returns
    -------
    bool
        True when stored; False when the database refused (logged, not raised).

    Raises
    ------
    ValidationError
        If ``feature`` or ``action`` is empty or too long (a programming error).
    """
    feature, action = _check(feature, "feature"), _check(action, "action")
    try:
        with tenant_session(principal.tenant_id) as s:
            record_in(s, principal, feature, action)
        return True
    except Exception as exc:  # noqa: BLE001 - usage tracking must never break the feature it tracks
        log.warning("usage event %s/%s of tenant %s not recorded: %s", feature, action, principal.tenant_id, exc)
        return False


def record_in(s: Session, principal: Principal, feature: str, action: str) -> None:
    """:func:`record` inside the caller's open tenant session (part of its unit of work; errors propagate)."""
    insight_store.add_usage(s, tenant_id=principal.tenant_id, user_id=principal.user_id,
                            feature=_check(feature, "feature"), action=_check(action, "action"))

