"""Queries for model health: recent prediction inputs, drift reports, deployed models across tenants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aihub.db.models import DriftReport, Model, ModelVersion, PredictionResult


@dataclass(frozen=True)
class DriftRecord:
    """A stored drift report of a model version (the full per-feature report in ``report``)."""

    id: int
    model_id: int
    model_version_id: int
    dataset_drift: bool
    share_drifted: float
    current_rows: int
    report: dict[str, Any]
    created_at: datetime


def _rec(r: DriftReport) -> DriftRecord:
    return DriftRecord(r.id, r.model_id, r.model_version_id, r.dataset_drift, r.share_drifted, r.current_rows,
                       r.report, r.created_at)


def recent_inputs(s: Session, version_id: int, since: datetime, limit: int) -> list[dict[str, Any]]:
    """Inputs of the version's valid predictions since ``since``, newest first, at most ``limit``."""
    rows = s.scalars(
        sa.select(PredictionResult.input)
        .where(PredictionResult.model_version_id == version_id, PredictionResult.error.is_(None),
               PredictionResult.created_at >= since)
        .order_by(PredictionResult.created_at.desc()).limit(limit)
    ).all()
    return list(rows)


def add_drift_report(s: Session, *, tenant_id: int, model_id: int, version_id: int, report: dict[str, Any],
                     dataset_drift: bool, share_drifted: float, current_rows: int) -> DriftRecord:
    """Store a drift report."""
    r = DriftReport(tenant_id=tenant_id, model_id=model_id, model_version_id=version_id, report=report,
                    dataset_drift=dataset_drift, share_drifted=share_drifted, current_rows=current_rows)
    s.add(r)
    s.flush()
    s.refresh(r)
    return _rec(r)


def latest_drift(s: Session, model_id: int) -> DriftRecord | None:
    """The newest drift report of a model, if any."""
    r = s.scalars(sa.select(DriftReport).where(DriftReport.model_id == model_id)
                  .order_by(DriftReport.created_at.desc(), DriftReport.id.desc()).limit(1)).first()
    return _rec(r) if r else None


def version_dataset(s: Session, version_id: int) -> int | None:
    """The dataset version a model version was trained on."""
    return s.scalar(sa.select(ModelVersion.dataset_version_id).where(ModelVersion.id == version_id))


def deployed_ml_models(s: Session) -> list[tuple[int, int, int | None]]:
    """``(tenant_id, model_id, created_by)`` of every deployed non-forecast model (owner session)."""
    rows = s.execute(sa.select(Model.tenant_id, Model.id, Model.created_by)
                     .where(Model.active_version_id.is_not(None), Model.kind != "forecast").order_by(Model.id))
    return [(t, m, u) for t, m, u in rows.all()]
