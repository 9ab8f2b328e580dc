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
from typing import Any

from aihub import anomaly as core
from aihub import events, usage
from aihub.auth import Principal, require
from aihub.db import anomaly_store as astore
from aihub.db import store
from aihub.db.anomaly_store import MonitorRecord, MonitorRunRecord
from aihub.db.session import tenant_session
from aihub.errors import AihubError, Conflict, ValidationError
from aihub.services.detection import detect_anomalies, finite, iso
from aihub.services.monitor_config import complete_config, dataset_columns, parse_config_json  # noqa: F401 (the service API)

log = logging.getLogger(__name__)


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


def list_runs(principal: Principal, monitor_id: int, limit: int = 20) -> list[MonitorRunRecord]:
    """Runs of a monitor, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return astore.list_runs(s, monitor_id, limit)


def run_monitor(principal: Principal, monitor_id: int) -> MonitorRunRecord:
    """Run a monitor now on its dataset's newest version.

    Scores the periods after those already scored (all of them on the first
    run) with the monitor's active feedback rules, inserts the new anomalies
    (idempotently: one per monitor, metric, slice and period) and stores the
    detector state, all in one transaction.

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
        run = astore.start_run(s, tenant_id=tid, monitor_id=monitor_id)
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
            done = astore.finish_run(s, run.id, status="succeeded", points_scored=found.points_scored,
                                     anomalies_found=len(ids), suppressed=found.suppressed)
        _emit_anomalies(tid, ids)
        return done
    except Exception as exc:
        if isinstance(exc, AihubError):
            message = str(exc)
        else:
            log.exception("monitor %s run %s failed", monitor_id, run.id)
            message = f"Unexpected error ({type(exc).__name__}): {exc}"
        with tenant_session(tid) as s:
            return astore.finish_run(s, run.id, status="failed", error=message)


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
