"""Routers, one per resource; :data:`ROUTERS` is what :func:`aihub.api.app.create_app` mounts."""

from aihub.api.routers import (
    analytics,
    anomalies,
    dashboard,
    datasets,
    external,
    forecasts,
    health,
    insights,
    jobs,
    models,
    monitors,
    predictions,
    workflows,
)

ROUTERS = [health.router, datasets.router, jobs.router, external.router, models.router, predictions.router, forecasts.router,
           monitors.router, anomalies.router, insights.router, workflows.router, dashboard.router,
           analytics.router]
