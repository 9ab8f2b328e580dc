"""Figures of the dashboard, aggregated in SQL for the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from aihub.auth import Principal, require
from aihub.db import anomaly_store, store
from aihub.db import prediction_store as ps
from aihub.db.models import Dataset, Model, TrainingJob
from aihub.db.session import tenant_session


@dataclass(frozen=True)
class DashboardSummary:
    """Key figures of one tenant.

    Attributes
    ----------
    datasets : int
    models_active, models_inactive : int
        Models with and without a deployed version.
    jobs_by_status : dict of str to int
    latest_jobs : list of JobRecord
        Newest ten training jobs.
    active_forecasts : list of ModelRecord
        Forecast models with a deployed version.
    """

    datasets: int
    models_active: int
    models_inactive: int
    jobs_by_status: dict[str, int]
    latest_jobs: list[store.JobRecord]
    active_forecasts: list[store.ModelRecord]


def summary(principal: Principal) -> DashboardSummary:
    """Dashboard figures from the database (a handful of aggregate queries). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        n_datasets = s.scalar(sa.select(sa.func.count()).select_from(Dataset)) or 0
        active, inactive = s.execute(
            sa.select(
                sa.func.count().filter(Model.active_version_id.is_not(None)),
                sa.func.count().filter(Model.active_version_id.is_(None)),
            )
        ).one()
        by_status = dict(s.execute(sa.select(TrainingJob.status, sa.func.count()).group_by(TrainingJob.status)).all())
        latest = store.list_jobs(s, limit=10)
        forecasts = [m for m in store.list_models(s, "forecast") if m.active_version_id]
    return DashboardSummary(n_datasets, active, inactive, by_status, latest, forecasts)


def anomaly_summary(principal: Principal) -> anomaly_store.AnomalyStats:
    """Open anomalies by severity, median time to resolve and false-positive rate per monitor. Needs ``read``.

    Aggregated in SQL (three queries). Time to resolve runs from detection
    (when the hub stored the anomaly) to its closing as resolved or false
    positive; the false-positive rate is false positives over anomalies an
    analyst closed.
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return anomaly_store.anomaly_stats(s)


@dataclass(frozen=True)
class ModelPerformanceSummary:
    """Deployed predictive models: test vs live accuracy and prediction volume.

    Attributes
    ----------
    models : list of ModelPerformance
        One per predictive model with a champion (see
        :class:`aihub.db.prediction_store.ModelPerformance`).
    daily_volume : list of (day, model name, count)
        Predictions per day over the last 30 days.
    """

    models: list[ps.ModelPerformance]
    daily_volume: list[tuple]


def model_performance(principal: Principal) -> ModelPerformanceSummary:
    """Test vs live accuracy per deployed predictive model and prediction volume, aggregated in SQL. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return ModelPerformanceSummary(ps.model_performance(s), ps.daily_volume(s, 30))
