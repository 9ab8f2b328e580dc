"""The workflow engine: events start runs, runs execute their steps, approvals pause them, a tick keeps time.

Entry points the worker calls (see :mod:`aihub.runtime.worker`):

* :func:`emit` when something happens in a tenant (an anomaly, a sync, drift,
  ...): every enabled workflow whose trigger and conditions match gets one
  queued run (never two for the same event: a dedupe key per workflow);
* :func:`execute_run` runs a run's steps from the first unfinished one, on
  the worker (``aihub.run_workflow`` task) or a thread of this process;
* :func:`tick` every minute on the owner connection: fires scheduled
  workflows that are due (once per cron slot), expires approvals past their
  time and re-queues runs whose process stopped.

Exactly-once steps: a run executes only while its runner holds a PostgreSQL
session advisory lock on the run (released by the server if the process
dies). Each step's status is saved before and after it runs, so a repeated
``execute_run`` continues after the last finished step; a step cut off
mid-way runs again, and the actions are written so that a repeat does no harm
(see :mod:`aihub.workflows.actions`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from procrastinate.exceptions import AlreadyEnqueued

from aihub import jsonsafe, queue
from aihub.auth import Principal, require
from aihub.db import owner_scans
from aihub.db import workflow_store as wstore
from aihub.db.engine import get_database
from aihub.db.session import tenant_session
from aihub.errors import AihubError, Conflict, NotFound, PermissionDenied, ValidationError
from aihub.services import usage
from aihub.workflows import actions as acts
from aihub.workflows.definition import (
    ACTION_LABELS,
    DEFAULT_APPROVAL_HOURS,
    EVENT_TYPES,
    conditions_hold,
    dedupe_key,
    describe_trigger,
    trigger_matches,
)

log = logging.getLogger(__name__)

#: A queued or running run this old (seconds) is handed to a runner again by :func:`tick`.
STALE_SECONDS = 120
_LOCK_PREFIX = 0x41485746 << 32  # "AHWF": advisory-lock namespace of workflow runs


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime | None = None) -> str:
    return (dt or _now()).isoformat()


# ====================================================================== owner principal
def owner_principal(tenant_id: int, user_id: int | None) -> Principal:
    """The principal a workflow's actions run as: the user who last saved it, while active.

    Raises
    ------
    PermissionDenied
        If that user was deleted or deactivated (someone else must save the
        workflow again to take it over).
    """
    with tenant_session(tenant_id) as s:
        user = wstore.get_user(s, user_id) if user_id else None
    if user is None or not user.is_active:
        raise PermissionDenied("The workflow's owner (the person who last saved it) is no longer an active user. "
                               "An analyst or admin must open the workflow and save it to take it over.")
    return Principal(tenant_id, user.id, user.username, user.role, user.tenant_name, user.name)


# ====================================================================== events
def _steps_for(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"index": i, "type": a["type"], "name": a.get("name") or ACTION_LABELS.get(a["type"], a["type"]),
             "status": "pending", "attempts": 0, "action": a}
            for i, a in enumerate(definition.get("actions") or [])]


def create_run(s: Any, tenant_id: int, workflow: wstore.WorkflowRecord, event_type: str, payload: dict[str, Any],
               key: str) -> int | None:
    """Insert a queued run of ``workflow`` for an event (None if that event already started it)."""
    trigger = {"type": event_type, "payload": payload, "description": describe_trigger(workflow.definition["trigger"]),
               "at": _iso()}
    return wstore.create_run(s, tenant_id=tenant_id, workflow_id=workflow.id, trigger=trigger,
                             steps=_steps_for(workflow.definition), dedupe_key=key)


def emit(tenant_id: int, event_type: str, payload: dict[str, Any], *, run: bool = True) -> list[int]:
    """Start the tenant's enabled workflows whose trigger and conditions match an event.

    Parameters
    ----------
    tenant_id : int
    event_type : str
        One of :data:`~aihub.workflows.definition.EVENT_TYPES` (``anomaly_detected``,
        ``prediction``, ``source_synced``, ``drift_detected``, ``accuracy_drop``,
        ``schedule``).
    payload : dict
        The event's facts (JSON-able; other values are stored as text). Its
        id (``anomaly_id``, ``prediction_id``, ``sync_id``, ``report_id`` or
        ``id``) or ``dedupe_key`` makes the same event start a workflow once.
    run : bool
        False only creates the queued runs (a test or caller runs them).

    Returns
    -------
    list of int
        Ids of the runs created (empty when nothing matched or all were duplicates).

    Raises
    ------
    ValidationError
        For an unknown event type.
    """
    if event_type not in EVENT_TYPES:
        raise ValidationError(f"Unknown event {event_type!r}; allowed: {', '.join(EVENT_TYPES)}.", field="event_type")
    payload = jsonsafe.plain(dict(payload))
    key = dedupe_key(event_type, payload)
    with tenant_session(tenant_id) as s:
        candidates = wstore.list_workflows(s, trigger_type=event_type, enabled_only=True)
    run_ids = []
    for wf in candidates:
        if not trigger_matches(wf.definition.get("trigger") or {}, event_type, payload, wf.id):
            continue
        if not conditions_hold(wf.definition.get("conditions") or [], payload):
            continue
        with tenant_session(tenant_id) as s:
            rid = create_run(s, tenant_id, wf, event_type, payload, key)
        if rid is not None:
            log.info("workflow %s (%s) run %s started by %s", wf.id, wf.name, rid, key)
            run_ids.append(rid)
    if run:
        for rid in run_ids:
            enqueue_run(tenant_id, rid)
    return run_ids


def on_event(tenant_id: int, event_type: str, payload: dict[str, Any]) -> list[int]:
    """The workflows' subscriber to every service event (:mod:`aihub.events`): :func:`emit` and run.

    Subscribed by :func:`aihub.runtime.wiring.wire`; :func:`aihub.events.publish`
    logs whatever it raises, so the event's own work never fails because of a workflow.
    """
    return emit(tenant_id, event_type, payload)


def on_event_in(s: Any, tenant_id: int, event_type: str, payload: dict[str, Any]) -> Any:
    """The workflows' subscriber inside a publisher's write transaction (:func:`aihub.events.publish_in`).

    Matches the tenant's enabled workflows of this trigger type and inserts their queued runs in the
    publisher's session ``s`` (so the event and its runs commit with the prediction, in the same transaction);
    returns the action that hands the new runs to a runner after the commit, or None when nothing matched.
    Same matching and dedupe as :func:`emit`.
    """
    if event_type not in EVENT_TYPES:
        return None
    payload = jsonsafe.plain(dict(payload))
    key = dedupe_key(event_type, payload)
    run_ids = []
    for wf in wstore.list_workflows(s, trigger_type=event_type, enabled_only=True):
        if not trigger_matches(wf.definition.get("trigger") or {}, event_type, payload, wf.id):
            continue
        if not conditions_hold(wf.definition.get("conditions") or [], payload):
            continue
        rid = create_run(s, tenant_id, wf, event_type, payload, key)
        if rid is not None:
            log.info("workflow %s (%s) run %s started by %s", wf.id, wf.name, rid, key)
            run_ids.append(rid)
    if not run_ids:
        return None
    return lambda: [enqueue_run(tenant_id, rid) for rid in run_ids]


# ====================================================================== dispatch
def enqueue_run(tenant_id: int, run_id: int) -> Future | int | None:
    """Hand a run to a runner through :mod:`aihub.queue`: the worker when workers run, else a thread here.

    If the worker queue refuses the run (for instance when called from
    inside a worker task whose app cannot be reopened), the run goes to a
    thread of this process instead; the run's advisory lock still keeps it
    to one runner.

    Returns
    -------
    Future, int or None
        The thread's future (inline), procrastinate's job id (worker), or
        None when the run is already queued on the worker.
    """
    key = f"aihub-workflow-run-{run_id}"
    try:
        return queue.defer("aihub.run_workflow", lock=key, queueing_lock=key, inline_if_refused=True,
                           tenant_id=tenant_id, run_id=run_id)
    except AlreadyEnqueued:
        return None


# ====================================================================== execution
@contextmanager
def _run_lock(run_id: int) -> Iterator[bool]:
    """Hold the run's session advisory lock for the block; yields False if another runner holds it."""
    conn = get_database().app.connect()
    got = False
    try:
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": _LOCK_PREFIX | (run_id & 0xFFFFFFFF)}).scalar())
        conn.commit()
        yield got
    finally:
        try:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_PREFIX | (run_id & 0xFFFFFFFF)})
                conn.commit()
        except Exception:  # noqa: BLE001 - never return a connection that may still hold the lock
            conn.invalidate()
        conn.close()


def _save(tenant_id: int, run_id: int, **values: Any) -> None:
    if "steps" in values:
        values["steps"] = jsonsafe.plain(values["steps"])
    with tenant_session(tenant_id) as s:
        wstore.update_run(s, run_id, **values)


def execute_run(tenant_id: int, run_id: int) -> str:
    """Run a workflow run's steps from the first unfinished one; returns the run's status afterwards.

    Each step records its status, start and end, seconds, attempts, output
    and error. A step with ``require_approval`` opens an approval (with its
    context) and the run waits (``waiting_approval``); :func:`decide`
    continues it. A failing step stops the run (``failed``, with the step's
    error); other runs are not affected. A run that is not queued or
    running is left as it is.

    Returns
    -------
    str
        ``succeeded``, ``failed``, ``waiting_approval``, the status of a run
        that had already ended, or ``busy`` when another runner holds it.
    """
    with _run_lock(run_id) as got:
        if not got:
            return "busy"
        return _execute(tenant_id, run_id)


def _execute(tenant_id: int, run_id: int) -> str:
    with tenant_session(tenant_id) as s:
        run = wstore.get_run(s, run_id, lock=True)
        if run.status not in ("queued", "running"):
            return run.status
        workflow = wstore.get_workflow(s, run.workflow_id)
        wstore.update_run(s, run_id, status="running")
    try:
        principal = owner_principal(tenant_id, workflow.created_by)
        require(principal, "automation")
    except AihubError as exc:
        _save(tenant_id, run_id, status="failed", error=str(exc), finished_at="now()")
        return "failed"
    steps = run.steps
    payload = run.trigger.get("payload") or {}
    event_type = run.trigger.get("type", "manual")
    outputs = [st.get("output") or {} for st in steps]
    hours = float(workflow.definition.get("approval_timeout_hours") or DEFAULT_APPROVAL_HOURS)
    for i, step in enumerate(steps):
        if step["status"] in ("succeeded", "skipped"):
            continue
        action = step["action"]

        def save_state(state: dict[str, Any], _step: dict[str, Any] = step) -> None:
            _step["state"] = state
            _save(tenant_id, run_id, steps=steps)

        ctx = acts.StepContext(principal, workflow.id, workflow.name, run_id, i, event_type, payload, outputs[:i],
                               dict(step.get("state") or {}), save_state)
        if action.get("require_approval") and step.get("approval_status") != "approved":
            return _request_approval(tenant_id, run_id, steps, i, ctx, hours)
        step.update(status="running", started_at=_iso(), finished_at=None, error=None,
                    attempts=int(step.get("attempts") or 0) + 1)
        _save(tenant_id, run_id, steps=steps)
        t0 = time.monotonic()
        try:
            require(principal, acts.PERMISSIONS[action["type"]])
            step["output"] = acts.ACTIONS[action["type"]](ctx, action)
            step["status"] = "succeeded"
        except acts.StepSkipped as skipped:
            step.update(status="skipped", output=skipped.output, note=skipped.reason)
        except AihubError as exc:
            step.update(status="failed", error=str(exc))
        except Exception as exc:  # a library error: keep the reason on the step
            log.exception("workflow run %s step %s failed", run_id, i)
            step.update(status="failed", error=f"Unexpected error ({type(exc).__name__}): {exc}")
        step.update(finished_at=_iso(), seconds=round(time.monotonic() - t0, 3))
        outputs[i] = step.get("output") or {}
        if step["status"] == "failed":
            _save(tenant_id, run_id, steps=steps, status="failed", finished_at="now()",
                  error=f"Step {i + 1} ({step['name']}) failed: {step['error']}")
            return "failed"
        _save(tenant_id, run_id, steps=steps)
    _save(tenant_id, run_id, steps=steps, status="succeeded", error=None, finished_at="now()")
    return "succeeded"


def _request_approval(tenant_id: int, run_id: int, steps: list[dict[str, Any]], i: int, ctx: acts.StepContext,
                      hours: float) -> str:
    step = steps[i]
    with tenant_session(tenant_id) as s:
        existing = wstore.find_approval(s, run_id, i)
    if existing is not None and existing.status in ("rejected", "expired"):
        _save(tenant_id, run_id, status=existing.status, finished_at="now()")
        return existing.status
    try:
        context = acts.approval_context(ctx, step["action"])
    except Exception as exc:  # noqa: BLE001 - the approver still gets the request, with the problem shown
        context = {"step": step["name"], "problem": f"The context could not be gathered: {exc}"}
    context = jsonsafe.plain(context)
    with tenant_session(tenant_id) as s:
        approval = wstore.create_approval(s, tenant_id=tenant_id, run_id=run_id, step_index=i,
                                          action=acts.public_action(step["action"]), context=context,
                                          expires_at=_now() + timedelta(hours=hours))
        step.update(status="waiting_approval", approval_id=approval.id, approval_status="pending",
                    requested_at=_iso())
        wstore.update_run(s, run_id, status="waiting_approval", steps=steps)
    return "waiting_approval"


# ====================================================================== decisions
MAX_NOTE = 5000


def decide(principal: Principal, approval_id: int, approve: bool, note: str = "") -> wstore.ApprovalRecord:
    """Approve or reject a pending step. Needs ``automation``.

    Approving continues the run (its remaining steps run in the background);
    rejecting ends it as ``rejected``. Both record who, when and the note.

    Parameters
    ----------
    approve : bool
    note : str
        Why; required when rejecting.

    Returns
    -------
    ApprovalRecord
        As decided.

    Raises
    ------
    Conflict
        If the approval was already decided or has expired (expiry is recorded).
    ValidationError
        For a rejection without a note, or a note over 5000 characters.
    NotFound
        Outside the caller's organization.
    """
    require(principal, "automation")
    usage.record(principal, "workflows", "decide")
    if not isinstance(approve, bool):
        raise ValidationError(f"approve must be true or false; got {approve!r}.", field="approve")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(f"The note must have at most {MAX_NOTE} characters.", field="note")
    if not approve and not note:
        raise ValidationError("Say why you reject the step; the note is kept with the run.", field="note")
    expired = False
    with tenant_session(principal.tenant_id) as s:
        appr = wstore.get_approval(s, approval_id, lock=True)
        if appr.status != "pending":
            who = f" by {appr.decided_by_name}" if appr.decided_by_name else ""
            when = f" at {appr.decided_at:%Y-%m-%d %H:%M} UTC" if appr.decided_at else ""
            raise Conflict(f"This approval was already {appr.status}{who}{when}.")
        if appr.expires_at <= _now():
            _expire(s, appr)
            expired = True
        else:
            run = wstore.get_run(s, appr.workflow_run_id, lock=True)
            steps = run.steps
            step = steps[appr.step_index]
            wstore.decide_approval(s, approval_id, status="approved" if approve else "rejected",
                                   user_id=principal.user_id, note=note or None)
            step.update(approval_status="approved" if approve else "rejected", decided_by=principal.username,
                        decided_at=_iso(), decision_note=note or None)
            if approve:
                step["status"] = "pending"
                wstore.update_run(s, run.id, status="queued", steps=steps)
            else:
                step["status"] = "rejected"
                wstore.update_run(s, run.id, status="rejected", steps=steps, finished_at="now()",
                                  error=f"Step {appr.step_index + 1} ({step['name']}) was rejected by "
                                        f"{principal.username}: {note}")
    if expired:
        raise Conflict("This approval expired before the decision; the run ended as expired.")
    if approve:
        enqueue_run(principal.tenant_id, appr.workflow_run_id)
    with tenant_session(principal.tenant_id) as s:
        return wstore.get_approval(s, approval_id)


def _expire(s: Any, appr: wstore.ApprovalRecord) -> None:
    wstore.decide_approval(s, appr.id, status="expired", user_id=None,
                           note=f"No decision before {appr.expires_at:%Y-%m-%d %H:%M} UTC.")
    run = wstore.get_run(s, appr.workflow_run_id, lock=True)
    steps = run.steps
    if appr.step_index < len(steps):
        steps[appr.step_index].update(status="expired", approval_status="expired", finished_at=_iso())
    if run.status in ("waiting_approval", "queued"):
        wstore.update_run(s, run.id, status="expired", steps=steps, finished_at="now()",
                          error=f"The approval of step {appr.step_index + 1} expired at "
                                f"{appr.expires_at:%Y-%m-%d %H:%M} UTC without a decision.")


# ====================================================================== the minute tick
def due_time(trigger: dict[str, Any], since: datetime | None, now: datetime) -> datetime | None:
    """The latest cron slot in ``(since, now]`` (minute precision, UTC), or None when none is due.

    Only the latest slot fires: a hub that was down for a day fires a missed
    hourly workflow once, not 24 times.
    """
    tz = ZoneInfo(trigger.get("timezone") or "UTC")
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    local = minute.astimezone(tz)
    prev = croniter(trigger["cron"], local + timedelta(seconds=1)).get_prev(datetime)
    prev = prev.astimezone(UTC)
    if since is not None and prev <= since:
        return None
    return prev


def tick(now: datetime | None = None) -> dict[str, int]:
    """Fire due scheduled workflows, expire approvals and re-queue stopped runs, across tenants.

    Called every minute by the worker (owner connection to find due work,
    tenant sessions to act). A workflow fires at most once per cron slot:
    its ``last_fired_at`` moves forward under a row lock, and the slot is
    the run's dedupe key.

    Parameters
    ----------
    now : datetime, optional
        The time to act at (tests); default the current time. Naive values are UTC.

    Returns
    -------
    dict
        ``workflows_fired``, ``approvals_expired``, ``runs_requeued`` and ``errors``.
    """
    now = now or _now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    fired = expired = requeued = errors = 0
    schedules = owner_scans.workflow_schedules()
    for sch in schedules:
        try:
            slot = due_time(sch.trigger, sch.last_fired_at or sch.created_at, now)
            if slot is None:
                continue
            with tenant_session(sch.tenant_id) as s:
                if not wstore.mark_fired(s, sch.workflow_id, expected=sch.last_fired_at, fired_at=slot):
                    continue
                wf = wstore.get_workflow(s, sch.workflow_id)
                rid = create_run(s, sch.tenant_id, wf, "schedule",
                                 {"workflow_id": wf.id, "scheduled_for": slot.isoformat()},
                                 f"schedule:{slot:%Y-%m-%dT%H:%M}Z")
            if rid is not None:
                fired += 1
                enqueue_run(sch.tenant_id, rid)
        except Exception:  # one tenant's broken workflow must not stop the others
            errors += 1
            log.exception("scheduled workflow %s of tenant %s could not fire", sch.workflow_id, sch.tenant_id)
    due_approvals = owner_scans.expired_approvals(now)
    for tenant_id, approval_id in due_approvals:
        try:
            with tenant_session(tenant_id) as s:
                appr = wstore.get_approval(s, approval_id, lock=True)
                if appr.status == "pending" and appr.expires_at <= now:
                    _expire(s, appr)
                    expired += 1
        except Exception:
            errors += 1
            log.exception("approval %s of tenant %s could not expire", approval_id, tenant_id)
    stale = owner_scans.stale_workflow_runs(STALE_SECONDS)
    for tenant_id, run_id in stale:
        try:
            enqueue_run(tenant_id, run_id)
            requeued += 1
        except Exception:
            errors += 1
            log.exception("workflow run %s of tenant %s could not be re-queued", run_id, tenant_id)
    return {"workflows_fired": fired, "approvals_expired": expired, "runs_requeued": requeued, "errors": errors}


def wait_for_run(tenant_id: int, run_id: int, *, timeout: float = 60.0,
                 until: tuple[str, ...] = ("succeeded", "failed", "rejected", "expired", "waiting_approval")
                 ) -> wstore.RunRecord:
    """Poll a run until its status is one of ``until`` (tests, CLI); bounded by ``timeout`` seconds.

    Raises
    ------
    TimeoutError
        With the run's last status.
    NotFound
        If the run is not in the tenant.
    """
    deadline = time.monotonic() + timeout
    while True:
        with tenant_session(tenant_id) as s:
            run = wstore.get_run(s, run_id)
        if run.status in until:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"workflow run {run_id} is still {run.status} after {timeout:g} s")
        time.sleep(0.1)


__all__ = [
    "NotFound",
    "create_run",
    "decide",
    "due_time",
    "emit",
    "enqueue_run",
    "execute_run",
    "on_event",
    "owner_principal",
    "tick",
    "wait_for_run",
]
