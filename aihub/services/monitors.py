"""Monitors: create, edit, pause, delete and schedule them, run them, and alert on what they find.

A **monitor** watches metrics of a dataset (daily revenue, order count,
average order value, a median of any numeric column, ...), optionally split
by a dimension such as Region. Its configuration is the JSON of
:class:`aihub.anomaly.MonitorConfig`, completed against the dataset by
:func:`aihub.services.monitor_config.complete_config`.

A run (:func:`run_monitor`; by hand, on the monitor's schedule from the
worker, after a sync of its data, or from a workflow step) scores the periods
after those already scored (:func:`aihub.services.detection.detect_anomalies`)
and stores each new anomaly, the detector state, the incidents and the alerts
due (:mod:`aihub.services.alerts`) in one transaction. Every run writes a
``monitor_runs`` row with its trigger; a failed run records why and changes
nothing else.

Every public function takes the calling :class:`~aihub.auth.Principal` first
and checks its permission: ``read`` to look, ``create`` to add a monitor,
``update`` to edit, schedule, pause, delete it or set its alerting, ``detect``
to run one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from aihub import anomaly as core
from aihub import events, queue
from aihub.anomaly import schedule
from aihub.auth import Principal, acting_principal, require
from aihub.connectors import policy
from aihub.db import alert_store, store
from aihub.db import anomaly_store as astore
from aihub.db.anomaly_store import MonitorRecord, MonitorRunRecord
from aihub.db.session import owner_session, tenant_session
from aihub.errors import AihubError, Conflict, PermissionDenied, ValidationError
from aihub.paging import Page, check_limit, decode_cursor, page_of
from aihub.services import alerts, detection, jobs, usage
from aihub.services.detection import detect_anomalies, finite, iso
from aihub.services.monitor_config import complete_config, dataset_columns, parse_config_json  # noqa: F401 (the service API)

log = logging.getLogger(__name__)

#: What can start a run.
TRIGGERS: tuple[str, ...] = ("manual", "schedule", "sync", "workflow")
#: Kind of the job that runs a monitor off the request path (:func:`queue_run`).
MONITOR_RUN_KIND = "monitor_run"
#: Configuration keys whose change keeps the detector state (they only rename, label or price).
STATE_NEUTRAL_KEYS: tuple[str, ...] = ("detection_name", "anomaly_type", "currency")


def _resolve_dataset(s: Any, raw: Mapping[str, Any], dataset_id: int | None) -> int:
    if dataset_id is None:
        dataset_id = raw.get("dataset_id") if isinstance(raw, Mapping) else None
    if dataset_id is None and isinstance(raw, Mapping) and isinstance(raw.get("dataset"), str):
        by_name = {d.name: d.id for d in store.list_datasets(s)}
        if raw["dataset"] not in by_name:
            raise ValidationError(f"No dataset named '{raw['dataset']}' in your organization; choose one of "
                                  f"{sorted(by_name)}.", field="dataset")
        dataset_id = by_name[raw["dataset"]]
    if not isinstance(dataset_id, int) or isinstance(dataset_id, bool):
        raise ValidationError("Choose the dataset the monitor watches.", field="dataset_id")
    return dataset_id


def validate_monitor(principal: Principal, raw: Mapping[str, Any], *, dataset_id: int | None = None
                     ) -> core.MonitorConfig:
    """Check a monitor configuration against the dataset's newest version without saving it.

    Returns
    -------
    MonitorConfig
        The completed configuration (``to_dict()`` is what would be stored).

    Raises
    ------
    ValidationError
        Naming the field at fault.
    NotFound
        If the dataset is not in the caller's organization or has no version.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        ds = _resolve_dataset(s, raw, dataset_id)
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, ds))
        frame = store.load_dataset_frame(s, version.id)
    return complete_config(raw, dataset_columns(version), frame)


def create_monitor(principal: Principal, raw: Mapping[str, Any], *, dataset_id: int | None = None) -> MonitorRecord:
    """Create a monitor on a dataset from form or JSON values.

    Parameters
    ----------
    raw : dict
        Monitor JSON; ``detection_name`` becomes the monitor's name. May name
        the dataset as ``"dataset_id"`` or ``"dataset"`` (its name).
    dataset_id : int, optional
        The dataset (overrides the JSON).

    Returns
    -------
    MonitorRecord
        Stored with the completed, canonical configuration.

    Raises
    ------
    ValidationError
        Naming the field at fault (see :func:`complete_config`).
    Conflict
        If the organization has a monitor of that name.
    NotFound
        If the dataset is not in the caller's organization.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        ds = _resolve_dataset(s, raw, dataset_id)
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, ds))
        frame = store.load_dataset_frame(s, version.id)
        cfg = complete_config(raw, dataset_columns(version), frame)
        return astore.create_monitor(s, tenant_id=principal.tenant_id, name=cfg.detection_name, dataset_id=ds,
                                     config=cfg.to_dict(), user_id=principal.user_id)


def list_monitors(principal: Principal) -> list[MonitorRecord]:
    """Monitors of the caller's organization, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.list_monitors(s)


def get_monitor(principal: Principal, monitor_id: int) -> MonitorRecord:
    """One monitor. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.get_monitor(s, monitor_id)


def list_runs(principal: Principal, monitor_id: int, limit: int = 20, *, before_id: int | None = None
              ) -> list[MonitorRunRecord]:
    """Runs of a monitor, newest first (``before_id``: only runs with a smaller id). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return astore.list_runs(s, monitor_id, limit, before_id=before_id)


def get_run(principal: Principal, monitor_id: int, run_id: int) -> MonitorRunRecord:
    """One run of a monitor. Needs ``read``; NotFound outside the organization or for another monitor's run."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.get_run(s, monitor_id, run_id)


def page_runs(principal: Principal, monitor_id: int, *, cursor: str | None = None, limit: int | None = None
              ) -> Page[MonitorRunRecord]:
    """One page of a monitor's runs, newest first, read in the database after ``cursor`` (keyset). Needs ``read``.

    Raises
    ------
    ValidationError
        For a cursor this list did not make (field ``cursor``) or a limit outside 1 to 500.
    """
    before, n = decode_cursor(cursor), check_limit(limit)
    return page_of(list_runs(principal, monitor_id, n + 1, before_id=before), n)


def run_monitor(principal: Principal, monitor_id: int, *, trigger: str = "manual") -> MonitorRunRecord:
    """Run a monitor now on its dataset's newest version.

    Scores the periods after those already scored (all of them on the first
    run) with the monitor's active feedback rules, inserts the new anomalies
    (idempotently: one per monitor, metric, slice and period), groups them
    into incidents and queues the alerts of incidents that reach the
    monitor's alert severity, and stores the detector state, all in one
    transaction; then sends the alerts that are due now.

    Parameters
    ----------
    trigger : {"manual", "schedule", "sync", "workflow"}
        What started the run (recorded on it).

    Returns
    -------
    MonitorRunRecord
        ``status`` ``succeeded`` with ``points_scored``, ``anomalies_found``
        (newly stored) and ``suppressed``; or ``failed`` with ``error`` saying
        why. A failed run changes neither the state nor earlier anomalies.

    Raises
    ------
    NotFound
        If the monitor is not in the caller's organization.
    ValidationError
        If the monitor's dataset was deleted.
    PermissionDenied
        Without ``detect``.
    """
    require(principal, "detect")
    usage.record(principal, "detect", "run")
    tid = principal.tenant_id
    with tenant_session(tid) as s:
        mon = astore.get_monitor(s, monitor_id)
        if mon.dataset_id is None:
            raise ValidationError(f"The dataset of monitor '{mon.name}' was deleted; create a new monitor.",
                                  field="dataset_id")
        if trigger not in TRIGGERS:
            raise ValidationError(f"Unknown run trigger {trigger!r}; one of {', '.join(TRIGGERS)}.", field="trigger")
        run = astore.start_run(s, tenant_id=tid, monitor_id=monitor_id, trigger=trigger)
    try:
        with tenant_session(tid) as s:
            state, last_run_at = astore.monitor_state(s, monitor_id)
            version_id = store.latest_dataset_version_id(s, mon.dataset_id)
            orders = store.load_dataset_frame(s, version_id)
            rules = [r.rule for r in astore.list_rules(s, monitor_id, active_only=True)]
        cfg = core.MonitorConfig.from_dict(mon.config)
        found = detect_anomalies(cfg, orders, state, rules)
        with tenant_session(tid) as s:
            _, now_last = astore.lock_monitor(s, monitor_id)
            if now_last != last_run_at:
                raise Conflict("Another run of this monitor finished while this one was scoring; run it again.")
            ids = astore.insert_anomalies(s, tenant_id=tid, monitor_id=monitor_id, run_id=run.id,
                                          rows=found.anomalies)
            astore.save_monitor_state(s, monitor_id, found.state)
            alerts.record_incidents(s, tenant_id=tid, monitor=mon, anomalies=astore.anomaly_keys(s, ids))
            _retype(s, cfg, found, monitor_id, set(ids))
            done = astore.finish_run(s, run.id, status="succeeded", points_scored=found.points_scored,
                                     anomalies_found=len(ids), suppressed=found.suppressed)
        _emit_anomalies(tid, ids)
        _dispatch(tid, monitor_id)
        return done
    except Exception as exc:
        if isinstance(exc, AihubError):
            message = str(exc)
        else:
            log.exception("monitor %s run %s failed", monitor_id, run.id)
            message = f"Unexpected error ({type(exc).__name__}): {exc}"
        with tenant_session(tid) as s:
            return astore.finish_run(s, run.id, status="failed", error=message)


def queue_run(principal: Principal, monitor_id: int, *, run: bool = True) -> store.JobRecord:
    """Queue a run of a monitor now as a job (``monitor_run``) for the worker; poll the job for its result.

    The job runs :func:`run_monitor` (trigger ``manual``) as the caller, within
    the caller's API-key scopes. On success its payload holds
    ``monitor_run_id``, ``anomalies_found`` and ``points_scored``; a run that
    failed fails the job with the run's reason (the run stays in the
    monitor's runs). Needs ``detect``.

    Parameters
    ----------
    run : bool
        False only queues it (a test or a worker runs it with :func:`aihub.services.jobs.run_job`).

    Raises
    ------
    NotFound
        If the monitor is not in the caller's organization.
    ValidationError
        If the monitor's dataset was deleted.
    PermissionDenied
        Without ``detect``.
    """
    require(principal, "detect")
    with tenant_session(principal.tenant_id) as s:
        mon = astore.get_monitor(s, monitor_id)
    if mon.dataset_id is None:
        raise ValidationError(f"The dataset of monitor '{mon.name}' was deleted; create a new monitor.",
                              field="dataset_id")
    payload = {"monitor_id": monitor_id, **jobs.submitter(principal)}
    return jobs.submit(principal.tenant_id, None, MONITOR_RUN_KIND, payload, principal.user_id, run=run)


@jobs.register(MONITOR_RUN_KIND)
def _monitor_run_job(job: store.JobRecord, control: jobs.JobControl) -> jobs.Persist:
    """Job handler: run the monitor as the user who asked; the result names the run."""
    principal = jobs.acting_submitter(control.tenant_id, job.payload)
    control.progress(0.05, "Scoring the periods since the last run")
    done = run_monitor(principal, int(job.payload["monitor_id"]), trigger="manual")
    result = {**job.payload, "monitor_run_id": done.id, "anomalies_found": done.anomalies_found,
              "points_scored": done.points_scored}
    if done.status != "succeeded":
        with tenant_session(control.tenant_id) as s:
            store.update_job(s, job.id, payload=result)
        raise AihubError(done.error or "The monitor run failed.")

    def persist(s: Any) -> None:
        store.update_job(s, job.id, payload=result)

    return persist


def _retype(s: Any, cfg: core.MonitorConfig, found: Any, monitor_id: int, new_ids: set[int]) -> None:
    """Type earlier anomalies again now that later periods arrived (a drop that lasted becomes a level shift)."""
    if not found.points_scored or found.frame.empty:
        return
    earlier = [a for a in astore.shapes_of(s, monitor_id) if a["id"] not in new_ids]
    for anomaly_id, shape in detection.retype(cfg, found.frame, earlier).items():
        astore.set_shape(s, anomaly_id, shape)


def _dispatch(tenant_id: int, monitor_id: int) -> None:
    """Send the monitor's alerts due now; a delivery problem is recorded on the delivery, never fails the run."""
    try:
        alerts.dispatch_due(tenant_id, monitor_id=monitor_id)
    except Exception:
        log.warning("alerts of monitor %s could not be sent now", monitor_id, exc_info=True)


def _emit_anomalies(tenant_id: int, anomaly_ids: list[int]) -> None:
    """Publish each new anomaly (after the run committed); a subscriber's problem never fails the run."""
    if not anomaly_ids:
        return
    try:
        with tenant_session(tenant_id) as s:
            found = [astore.get_anomaly(s, i) for i in anomaly_ids]
        for a in found:
            events.publish(tenant_id, events.ANOMALY_DETECTED, {
                "anomaly_id": a.id, "monitor_id": a.monitor_id, "monitor": a.monitor_name, "metric": a.metric,
                "dimension": a.dimension, "slice": a.slice, "ts": iso(a.ts), "severity": a.severity,
                "score": finite(a.score), "impact": finite(a.impact), "actual": finite(a.actual),
                "expected": finite(a.expected)})
    except Exception:  # detection stands even if an automation cannot start
        log.warning("workflows for the anomalies %s could not start", anomaly_ids, exc_info=True)


# ====================================================================== edit, pause, delete
def _state_relevant(config: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a configuration the detector state depends on (not names, labels or unit values)."""
    out = {k: v for k, v in config.items() if k not in STATE_NEUTRAL_KEYS}
    out["metrics"] = [{k: v for k, v in m.items() if k != "unit_value"} for m in config.get("metrics") or []]
    return out


def update_monitor(principal: Principal, monitor_id: int, raw: Mapping[str, Any]) -> MonitorRecord:
    """Replace a monitor's configuration (form or JSON), checked against its dataset's newest version.

    A change the detector state depends on (metrics, algorithm, thresholds,
    frequency, splits, date column) starts a new detector state: the next run
    scores the whole history again under the new settings; anomalies already
    stored are kept and not stored twice. Renaming, relabelling or new unit
    values keep the state. Needs ``update``.

    Raises
    ------
    ValidationError
        Naming the field at fault; or if the monitor's dataset was deleted.
    Conflict
        If another monitor has the new name.
    NotFound
        Outside the organization.
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        mon = astore.get_monitor(s, monitor_id)
        if mon.dataset_id is None:
            raise ValidationError(f"The dataset of monitor '{mon.name}' was deleted; create a new monitor.",
                                  field="dataset_id")
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, mon.dataset_id))
        cfg = complete_config(raw, dataset_columns(version), store.load_dataset_frame(s, version.id))
        if astore.rename_taken(s, cfg.detection_name, monitor_id):
            raise Conflict(f"A monitor named '{cfg.detection_name}' already exists; choose another detection_name.",
                           field="detection_name")
        new = cfg.to_dict()
        values: dict[str, Any] = {"config": new, "name": cfg.detection_name}
        if _state_relevant(new) != _state_relevant(mon.config):
            values["state"] = sa.null()  # SQL NULL, not JSON null
        astore.update_monitor(s, monitor_id, **values)
        return astore.get_monitor(s, monitor_id)


def set_schedule(principal: Principal, monitor_id: int, raw: Mapping[str, Any] | None, *,
                 now: datetime | None = None) -> MonitorRecord:
    """Set when a monitor runs by itself (see :class:`aihub.anomaly.schedule.MonitorSchedule`). Needs ``update``.

    ``next_run_at`` becomes the schedule's next time after ``now`` (None for a
    manual schedule or a paused monitor).

    Raises
    ------
    ValidationError
        ``field`` = ``"schedule.<attribute>"``.
    """
    require(principal, "update")
    sched = schedule.parse_schedule(raw)
    with tenant_session(principal.tenant_id) as s:
        mon = astore.get_monitor(s, monitor_id)
        nxt = schedule.next_run(sched, now or datetime.now(UTC)) if mon.enabled else None
        astore.update_monitor(s, monitor_id, schedule=sched.model_dump(), next_run_at=nxt)
        return astore.get_monitor(s, monitor_id)


def set_alerting(principal: Principal, monitor_id: int, raw: Mapping[str, Any] | None, *,
                 webhook_secret: str | None = None) -> MonitorRecord:
    """Set who is alerted about a monitor's incidents (see :class:`aihub.anomaly.schedule.AlertSettings`).

    A webhook URL must pass the hub's outbound allow-list now
    (:func:`aihub.connectors.policy.check_url_allowed`; checked again before
    each delivery) and needs a signing secret of at least 16 characters,
    given now or kept from before. The secret is stored Fernet-encrypted and
    never shown back. Needs ``update``.

    Raises
    ------
    ValidationError
        ``field`` = ``"alerting.<attribute>"`` or ``"alerting.webhook_secret"``.
    ConnectorError
        Kind ``not_allowed`` when the webhook's host is not allowed.
    """
    require(principal, "update")
    settings = schedule.parse_alerting(raw)
    token = None
    if settings.webhook_url:
        policy.check_url_allowed(settings.webhook_url, policy.parse_allowed_hosts(), source="monitor alert",
                                 what="webhook")
        if webhook_secret:
            if len(webhook_secret) < 16:
                raise ValidationError("The webhook's signing secret needs at least 16 characters.",
                                      field="alerting.webhook_secret")
            token = alerts.secret_box().encrypt({"secret": webhook_secret})
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        values: dict[str, Any] = {"alerting": settings.model_dump(mode="json", exclude_defaults=False)}
        if token is not None:
            values["alert_secret_encrypted"] = token
        elif settings.webhook_url and not astore.alert_secret(s, monitor_id):
            raise ValidationError("Enter the webhook's signing secret (at least 16 characters); the receiver "
                                  "checks each message's X-AIHub-Signature with it.", field="alerting.webhook_secret")
        elif not settings.webhook_url:
            values["alert_secret_encrypted"] = None
        astore.update_monitor(s, monitor_id, **values)
        return astore.get_monitor(s, monitor_id)


def set_enabled(principal: Principal, monitor_id: int, enabled: bool, *, now: datetime | None = None
                ) -> MonitorRecord:
    """Pause (False) or resume (True) a monitor's own runs; "Run now" still works. Needs ``update``."""
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        mon = astore.get_monitor(s, monitor_id)
        sched = schedule.parse_schedule(mon.schedule or None)
        nxt = schedule.next_run(sched, now or datetime.now(UTC)) if enabled else None
        astore.update_monitor(s, monitor_id, enabled=bool(enabled), next_run_at=nxt)
        return astore.get_monitor(s, monitor_id)


def delete_monitor(principal: Principal, monitor_id: int, *, keep_history: bool) -> None:
    """Delete a monitor. Needs ``update``.

    Parameters
    ----------
    keep_history : bool
        True: the monitor stops and leaves the list, its anomalies (with
        their triage trail) stay on the worklist. False: the anomalies,
        runs, rules and alerts go with it (the screen asks first).
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        if keep_history:
            astore.archive_monitor(s, monitor_id)
        else:
            astore.delete_monitor(s, monitor_id)


def list_alerts(principal: Principal, monitor_id: int, limit: int = 50) -> list[alert_store.DeliveryRecord]:
    """A monitor's alert messages (pending, sent, failed with the reason), newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return alert_store.list_deliveries(s, monitor_id, limit)


def list_incidents(principal: Principal, monitor_id: int, limit: int = 100) -> list[alert_store.IncidentRecord]:
    """A monitor's incidents (anomalies of one series close in time), newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return alert_store.list_incidents(s, monitor_id, limit)


# ====================================================================== runs by themselves
def claim_due_monitors(now: datetime | None = None) -> list[tuple[int, int]]:
    """Due monitors across tenants, each claimed by moving its next run forward (owner connection).

    A monitor claimed by one scheduler is not returned to another, so two
    workers never run the same monitor for the same slot.
    """
    now = now or datetime.now(UTC)
    claimed = []
    with owner_session() as s:
        for tenant_id, monitor_id, raw in astore.due_monitors(s, now):
            try:
                nxt = schedule.next_run(schedule.parse_schedule(raw or None), now)
            except ValidationError:
                nxt = None
            if astore.claim_monitor(s, monitor_id, now, nxt):
                claimed.append((tenant_id, monitor_id))
    return claimed


def run_scheduled(tenant_id: int, monitor_id: int, trigger: str = "schedule") -> str:
    """Worker entry point: run a monitor as the user who created it (``schedule`` or ``sync``).

    If that user is no longer active, the run is recorded as failed with the
    reason and the monitor is paused, so it never runs with someone else's rights.

    Returns
    -------
    str
        The run's status.
    """
    with tenant_session(tenant_id) as s:
        owner = astore.monitor_owner(s, monitor_id)
    try:
        principal = acting_principal(tenant_id, owner)
        return run_monitor(principal, monitor_id, trigger=trigger).status
    except PermissionDenied as exc:
        log.warning("scheduled run of monitor %s in tenant %s skipped: %s", monitor_id, tenant_id, exc)
        with tenant_session(tenant_id) as s:
            run = astore.start_run(s, tenant_id=tenant_id, monitor_id=monitor_id, trigger=trigger)
            astore.finish_run(s, run.id, status="failed", error=f"Paused: {exc}")
            astore.update_monitor(s, monitor_id, enabled=False, next_run_at=None)
        return "failed"


def on_source_synced(tenant_id: int, event: str, payload: Mapping[str, Any]) -> None:
    """Subscriber of ``source_synced``: queue a run of each monitor of the synced dataset that runs after syncs."""
    version_id = payload.get("dataset_version_id")
    if not isinstance(version_id, int):
        return
    with tenant_session(tenant_id) as s:
        dataset_id = store.get_dataset_version(s, version_id).dataset_id
        ids = astore.monitors_after_sync(s, dataset_id)
    for monitor_id in ids:
        queue.defer("aihub.run_monitor", lock=f"aihub-monitor-{monitor_id}", tenant_id=tenant_id,
                    monitor_id=monitor_id, trigger="sync", inline_if_refused=True)
