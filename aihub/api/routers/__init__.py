"""Routers, one per resource; :data:`ROUTERS` is what :func:`aihub.api.app.create_app` mounts."""

from aihub.api.routers import datasets, forecasts, health, jobs, models, predictions

ROUTERS = [health.router, datasets.router, jobs.router, models.router, predictions.router, forecasts.router]
