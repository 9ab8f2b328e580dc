"""Dashboard: the organization's summary figures."""

from __future__ import annotations

from fastapi import APIRouter

from aihub.api.deps import Caller
from aihub.api.schemas import ERRORS, DashboardOut
from aihub.jsonsafe import plain
from aihub.services import dashboard

router = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=ERRORS)


@router.get("", response_model=DashboardOut, summary="Summary figures")
def summary(p: Caller) -> DashboardOut:
    """Datasets, models with and without a deployed version, jobs by status, active forecasts, anomalies and
    model performance. Needs ``ai_analytics:read``."""
    s = dashboard.summary(p)
    return DashboardOut(
        datasets=s.datasets, models_active=s.models_active, models_inactive=s.models_inactive,
        jobs_by_status=s.jobs_by_status,
        active_forecasts=[{"model_id": m.id, "name": m.name, "version_id": m.active_version_id,
                           "version": m.active_version} for m in s.active_forecasts],
        anomalies=plain(dashboard.anomaly_summary(p).__dict__),
        model_performance=plain(dashboard.model_performance(p).__dict__))
