"""Routers, one per resource; :data:`ROUTERS` is what :func:`aihub.api.app.create_app` mounts."""

from aihub.api.routers import datasets, health, jobs

ROUTERS = [health.router, datasets.router, jobs.router]
