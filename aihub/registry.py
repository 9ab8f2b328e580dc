"""Deprecated home of the model registry service; it lives in :mod:`aihub.services.registry` now."""

from aihub.services.registry import (
    SERVING_ACTIONS,
    cancel_job,
    delete_version,
    deploy,
    deployment_history,
    get_job,
    get_model,
    get_version,
    list_jobs,
    list_models,
    list_versions,
    promote_challenger,
    require_version_of,
    rollback,
    set_challenger,
    start_job,
)

__all__ = [
    "SERVING_ACTIONS", "cancel_job", "delete_version", "deploy", "deployment_history", "get_job", "get_model",
    "get_version", "list_jobs", "list_models", "list_versions", "promote_challenger", "require_version_of",
    "rollback", "set_challenger", "start_job",
]
