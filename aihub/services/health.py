"""Model health: input drift of deployed models and a healthy/degraded verdict with reasons.

Drift compares a deployed version's recent prediction inputs with the data
it was trained on, feature by feature (:func:`aihub.ml.drift.detect_drift`:
PSI and Kolmogorov–Smirnov for numbers, PSI and chi-squared for
categories, the way Evidently reports column drift). Health combines
latency p95, error rate, live accuracy from recorded outcomes, and drift
(:func:`aihub.ml.drift.assess_health`). A drifted model tells workflows
(``drift_detected``); a live-accuracy drop tells them too
(``accuracy_drop``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from aihub import audit, events
from aihub.auth import Principal, acting_principal, require
from aihub.db import health_store, owner_scans, store
from aihub.db.session import tenant_session
from aihub.errors import NotFound, PermissionDenied, ValidationError
from aihub.ml import drift
from aihub.services import model_training, outcomes, predictions, registry

log = logging.getLogger(__name__)

#: Fewest recent inputs a drift check needs to say anything.
MIN_CURRENT_ROWS = 30
MAX_CURRENT_ROWS = 10_000


@dataclass(frozen=True)
class ModelHealth:
    """Health of one deployed model.

    Attributes
    ----------
    status : {"healthy", "degraded"}
    reasons : list of str
        Why, one sentence each (also what could not be judged, e.g. no outcomes yet).
    checks : dict
        The figures behind the verdict (latency p95 in ms, error rate 0 to 1,
        live and test accuracy 0 to 1, share of drifted features).
    drift : DriftRecord or None
        The latest drift report.
    """

    status: str
    reasons: list[str]
    checks: dict[str, Any]
    drift: health_store.DriftRecord | None


def check_drift(principal: Principal, model_id: int, *, window_days: int = 30,
                thresholds: drift.DriftThresholds | None = None) -> health_store.DriftRecord:
    """Compare the active version's recent inputs with its training data and store the report.

    Parameters
    ----------
    window_days : int
        How far back recent inputs go (days).

    Raises
    ------
    NotFound
        If the model has no deployed version or its training data is gone.
    ValidationError
        If fewer than :data:`MIN_CURRENT_ROWS` recent inputs exist.
    """
    require(principal, "detect")
    version = registry.require_version_of(principal, model_id, None)
    details = model_training.version_details(principal, version.id)
    features = [f["name"] for f in details.feature_schema]
    categorical = [f["name"] for f in details.feature_schema if f.get("kind") != "numeric"]
    since = datetime.now(UTC) - timedelta(days=window_days)
    with tenant_session(principal.tenant_id) as s:
        inputs = health_store.recent_inputs(s, version.id, since, MAX_CURRENT_ROWS)
        dataset_version_id = health_store.version_dataset(s, version.id)
        if dataset_version_id is None:
            raise NotFound("The data this version was trained on is no longer stored; drift cannot be checked.")
        reference = store.load_dataset_frame(s, dataset_version_id)
    if len(inputs) < MIN_CURRENT_ROWS:
        raise ValidationError(
            f"Only {len(inputs)} predictions in the last {window_days} days; drift needs at least "
            f"{MIN_CURRENT_ROWS}. Check again after more predictions.", field="window_days")
    current = pd.DataFrame(inputs)
    present = [f for f in features if f in reference.columns and f in current.columns]
    report = drift.detect_drift(reference[present], current[present], thresholds=thresholds,
                                categorical=[c for c in categorical if c in present],
                                numeric=[c for c in present if c not in categorical])
    with tenant_session(principal.tenant_id) as s:
        rec = health_store.add_drift_report(
            s, tenant_id=principal.tenant_id, model_id=model_id, version_id=version.id, report=report.to_dict(),
            dataset_drift=report.dataset_drift, share_drifted=report.share_drifted, current_rows=len(current))
    if report.dataset_drift:
        events.publish(principal.tenant_id, events.DRIFT_DETECTED, {
            "model_id": model_id, "model_version_id": version.id, "drift_report_id": rec.id,
            "share_drifted": report.share_drifted, "drifted_features": list(report.drifted_features)})
    return rec


def latest_drift(principal: Principal, model_id: int) -> health_store.DriftRecord | None:
    """The newest stored drift report of a model. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return health_store.latest_drift(s, model_id)


def model_health(principal: Principal, model_id: int,
                 thresholds: drift.HealthThresholds | None = None) -> ModelHealth:
    """Healthy or degraded, and why: latency p95, error rate, live accuracy and drift. Needs ``read``."""
    require(principal, "read")
    stats = predictions.serving_stats(principal, model_id)
    accuracy = [a for a in outcomes.live_accuracy(principal, model_id) if a.role == "champion"]
    latest = latest_drift(principal, model_id)
    champion = accuracy[0] if accuracy else None
    verdict = drift.assess_health(
        latency_p95_ms=stats.p95_ms, error_rate=stats.error_rate,
        live_accuracy=champion.live_accuracy if champion and champion.live_n else None,
        test_accuracy=champion.test_accuracy if champion else None, thresholds=thresholds)
    reasons = [r for r in verdict.reasons if "drift" not in r.lower()]
    checks = {c.name: c.value for c in verdict.checks if c.name != "drift"}
    if latest is None:
        reasons.append("Input drift has not been checked yet.")
    else:
        checks["share_drifted"] = latest.share_drifted
        drifted = [f["feature"] for f in latest.report.get("features", []) if f.get("drifted")]
        reasons.append(
            f"Input drift: {len(drifted)} of {latest.report.get('n_features', len(drifted))} features drifted "
            f"({latest.share_drifted:.0%}) on {latest.current_rows:,} recent inputs"
            + (f": {', '.join(drifted[:5])}" if drifted else "") + ("; that is dataset drift." if latest.dataset_drift
                                                                   else "."))
    status = "degraded" if verdict.status == "degraded" or (latest is not None and latest.dataset_drift) else "healthy"
    return ModelHealth(status, reasons, checks, latest)


def check_all(window_days: int = 30) -> dict[str, int]:
    """Worker entry point: check drift of every deployed model in every tenant (see :func:`check_scheduled`)."""
    deployed = owner_scans.deployed_ml_models()
    outcomes = [check_scheduled(t, m, u, window_days=window_days) for t, m, u in deployed]
    return {"checked": outcomes.count("checked"), "skipped": outcomes.count("skipped")}


def check_scheduled(tenant_id: int, model_id: int, user_id: int | None, *, window_days: int = 30) -> str:
    """The scheduled drift check of one deployed model, run as its creator ``user_id``.

    If that user was deactivated (or removed), the check does not run as anyone
    else: it is skipped and the tenant's audit log says why
    (``scheduled_work_skipped``). A model with too few recent inputs is skipped
    quietly (logged).

    Returns
    -------
    str
        ``"checked"`` or ``"skipped"``.
    """
    try:
        check_drift(acting_principal(tenant_id, user_id), model_id, window_days=window_days)
        return "checked"
    except PermissionDenied as exc:
        log.warning("drift check of model %s in tenant %s skipped: %s", model_id, tenant_id, exc)
        audit.record(tenant_id, "scheduled_work_skipped", actor_name="scheduler", target=f"model {model_id}",
                     details={"work": "drift_check", "reason": str(exc), "owner_id": user_id})
    except (ValidationError, NotFound) as exc:
        log.info("drift check of model %s skipped: %s", model_id, exc)
    return "skipped"
