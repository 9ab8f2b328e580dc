"""Domain events: services publish what happened, automation subscribes.

A service that finishes its work (a monitor run found anomalies, a model
answered a prediction, a source synced, a drift check or new outcomes showed
a problem) calls :func:`publish`. Whoever cares subscribes with
:func:`subscribe`; today that is :mod:`aihub.workflows`, wired in by
:func:`aihub.runtime.wiring.wire` in every process. So no service imports
``workflows``, and the import arrows point one way: services -> events <- workflows.

Publishing never raises: the event's own work has already succeeded and is
stored, so a broken subscriber must not turn it into a failure. A subscriber
that raises is logged with its traceback and the next subscriber still runs.

This is the publish/subscribe (observer) pattern in its smallest form:
subscribers run synchronously in the publishing thread; a subscriber that
has slow work queues it (workflows hand their runs to :mod:`aihub.queue`).

**In the publisher's transaction** (a transactional outbox without a
separate table): a hot path such as a single prediction publishes with
:func:`publish_in` inside its own write transaction. Subscribers registered
with :func:`subscribe_in_transaction` then do their database work in that
same transaction (workflows look up the matching workflows and insert their
queued runs there), each under a savepoint so a failing subscriber rolls back
only its own statements, and the event is stored exactly when the
prediction is. What they must do after the commit (hand a run to a runner),
and the plain subscribers, run when the publisher calls the returned
function after its commit. So one prediction stays one write transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: A monitor run stored new anomalies (one event per anomaly).
ANOMALY_DETECTED = "anomaly_detected"
#: A model answered a single prediction.
PREDICTION_MADE = "prediction"
#: A data source synced and made a new dataset version.
SOURCE_SYNCED = "source_synced"
#: A drift check found the inputs of a deployed model drifted.
DRIFT_DETECTED = "drift_detected"
#: Live accuracy of a serving model dropped past its tolerance.
ACCURACY_DROPPED = "accuracy_drop"
#: An inventory analytic's new version put a product at or below its reorder point (one event per product).
REORDER_POINT = "reorder_point"
#: An analyst moved anomalies between open and closed (resolved, false positive, reopened); one event per action.
ANOMALY_TRIAGED = "anomaly_triaged"
#: A user sent the next best actions of a churn model's at-risk customers to automation (one event per customer).
NEXT_BEST_ACTION = "next_best_action"
#: Every event a service may publish.
EVENTS = (ANOMALY_DETECTED, PREDICTION_MADE, SOURCE_SYNCED, DRIFT_DETECTED, ACCURACY_DROPPED, REORDER_POINT,
          ANOMALY_TRIAGED, NEXT_BEST_ACTION)

#: ``fn(tenant_id, event, payload)``; its return value is ignored.
Subscriber = Callable[[int, str, dict[str, Any]], Any]
#: ``fn(session, tenant_id, event, payload)`` inside the publisher's transaction; may return a callable to run
#: after the commit.
TransactionalSubscriber = Callable[[Any, int, str, dict[str, Any]], Callable[[], Any] | None]

_subscribers: dict[str, list[Subscriber]] = {}
_tx_subscribers: dict[str, list[TransactionalSubscriber]] = {}
_lock = threading.Lock()


def subscribe(event: str, subscriber: Subscriber) -> None:
    """Call ``subscriber(tenant_id, event, payload)`` on every :func:`publish` of ``event`` (once, however often added).

    Raises
    ------
    ValueError
        If ``event`` is not one of :data:`EVENTS` (a programming error, caught at start-up by :func:`wire`).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    with _lock:
        subs = _subscribers.setdefault(event, [])
        if subscriber not in subs:
            subs.append(subscriber)


def unsubscribe(event: str, subscriber: Subscriber) -> None:
    """Stop calling ``subscriber`` for ``event`` (nothing happens if it was not subscribed)."""
    with _lock:
        subs = _subscribers.get(event, [])
        if subscriber in subs:
            subs.remove(subscriber)


def subscribers(event: str) -> list[Subscriber]:
    """The subscribers of ``event``, in the order they subscribed."""
    with _lock:
        return list(_subscribers.get(event, []))


def publish(tenant_id: int, event: str, payload: Mapping[str, Any]) -> None:
    """Tell every subscriber of ``event`` that it happened in ``tenant_id``; never raises.

    Parameters
    ----------
    tenant_id : int
        The tenant the event belongs to (subscribers act inside it only).
    event : str
        One of :data:`EVENTS`.
    payload : mapping
        The event's facts, JSON-able (ids such as ``anomaly_id`` or ``sync_id`` let a
        subscriber act once per event).
    """
    if event not in EVENTS:
        log.error("event %r published by mistake (known: %s); ignored", event, ", ".join(EVENTS))
        return
    for subscriber in subscribers(event):
        try:
            subscriber(tenant_id, event, dict(payload))
        except Exception:
            log.warning("subscriber %s of %s in tenant %s failed", getattr(subscriber, "__qualname__", subscriber),
                        event, tenant_id, exc_info=True)


def subscribe_in_transaction(event: str, subscriber: TransactionalSubscriber) -> None:
    """Call ``subscriber(session, tenant_id, event, payload)`` inside the transaction of every :func:`publish_in`.

    A publisher that uses plain :func:`publish` for ``event`` does not reach it; only the hot paths that
    publish with :func:`publish_in` (a single prediction) do, and for those events this replaces
    :func:`subscribe`.

    Raises
    ------
    ValueError
        If ``event`` is not one of :data:`EVENTS`.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    with _lock:
        subs = _tx_subscribers.setdefault(event, [])
        if subscriber not in subs:
            subs.append(subscriber)


def unsubscribe_in_transaction(event: str, subscriber: TransactionalSubscriber) -> None:
    """Stop calling a transactional subscriber for ``event`` (nothing happens if it was not subscribed)."""
    with _lock:
        subs = _tx_subscribers.get(event, [])
        if subscriber in subs:
            subs.remove(subscriber)


def publish_in(session: Any, tenant_id: int, event: str, payload: Mapping[str, Any]) -> Callable[[], None]:
    """Publish ``event`` from inside the publisher's open write transaction ``session``; never raises.

    Each transactional subscriber runs now, in ``session`` under its own savepoint (its failure is logged and
    its statements rolled back; the publisher's are kept). Returns a function the publisher calls **after its
    commit**: it runs the subscribers' after-commit actions, then the plain subscribers (:func:`publish`).
    If the publisher's transaction rolls back, it must not call it.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The publisher's tenant-bound session, bound to ``tenant_id``.
    tenant_id, event, payload
        As for :func:`publish`.
    """
    if event not in EVENTS:
        log.error("event %r published by mistake (known: %s); ignored", event, ", ".join(EVENTS))
        return lambda: None
    with _lock:
        subs = list(_tx_subscribers.get(event, []))
    after: list[Callable[[], Any]] = []
    for subscriber in subs:
        try:
            with session.begin_nested():
                action = subscriber(session, tenant_id, event, dict(payload))
            if action is not None:
                after.append(action)
        except Exception:
            log.warning("transactional subscriber %s of %s in tenant %s failed",
                        getattr(subscriber, "__qualname__", subscriber), event, tenant_id, exc_info=True)
    frozen = dict(payload)

    def after_commit() -> None:
        for action in after:
            try:
                action()
            except Exception:
                log.warning("after-commit action of %s in tenant %s failed", event, tenant_id, exc_info=True)
        publish(tenant_id, event, frozen)

    return after_commit
