"""Model registry service: models, versions, training jobs, deploy, rollback and champion/challenger.

Kind-specific work (what a forecast model's configuration is, how it trains)
lives in :mod:`aihub.services.forecasts`; this module is what every model kind shares.
"""

from __future__ import annotations

from aihub.auth import Principal, require
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import Conflict, NotFound
from aihub.services import jobs

#: Deployment actions that made a version the champion (``challenger`` events do not count for rollback).
SERVING_ACTIONS = ("deploy", "rollback", "promote")


def list_models(principal: Principal, kind: str | None = None) -> list[store.ModelRecord]:
    """Models of the caller's tenant, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.list_models(s, kind)


def get_model(principal: Principal, model_id: int) -> store.ModelRecord:
    """One model. Needs ``read``. Raises NotFound outside the tenant."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.get_model(s, model_id)


def list_versions(principal: Principal, model_id: int) -> list[store.ModelVersionRecord]:
    """Versions of a model, newest first, with ``is_active`` set on the serving one. Needs ``read``.

    Raises
    ------
    NotFound
        If the model is not in the caller's organization (not an empty list: an id of another
        organization must look exactly like one that does not exist).
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        store.get_model(s, model_id)
        return store.list_model_versions(s, model_id)


def get_version(principal: Principal, version_id: int) -> store.ModelVersionRecord:
    """One version's metadata. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.get_model_version(s, version_id)


def deploy(principal: Principal, model_id: int, version_id: int) -> store.ModelRecord:
    """Make ``version_id`` the active (serving) version of ``model_id``. Needs ``update``.

    Raises
    ------
    NotFound
        If the version is not one of this model's in the caller's tenant.
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        store.set_active_version(s, tenant_id=principal.tenant_id, model_id=model_id, version_id=version_id,
                                 action="deploy", user_id=principal.user_id)
        return store.get_model(s, model_id)


def rollback(principal: Principal, model_id: int) -> store.ModelRecord:
    """Re-activate the version that served before the current one. Needs ``update``.

    Raises
    ------
    Conflict
        If there is no earlier deployment to return to.
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        model = store.get_model(s, model_id)
        history = store.deployment_history(s, model_id, limit=1000)
        versions = {v.version: v.id for v in store.list_model_versions(s, model_id)}
        earlier = [h["version"] for h in history
                   if h["action"] in SERVING_ACTIONS and versions.get(h["version"]) != model.active_version_id]
        if model.active_version_id is None or not earlier:
            raise Conflict(f"Model '{model.name}' has no earlier deployed version to roll back to.")
        store.set_active_version(s, tenant_id=principal.tenant_id, model_id=model_id,
                                 version_id=versions[earlier[0]], action="rollback", user_id=principal.user_id)
        return store.get_model(s, model_id)


def set_challenger(principal: Principal, model_id: int, version_id: int | None, share: float = 0.2
                   ) -> store.ModelRecord:
    """Let ``version_id`` take ``share`` (0 to 1, e.g. 0.2 = 20%) of predictions beside the champion. Needs ``update``.

    ``version_id=None`` removes the challenger. Each prediction records
    whether the champion or the challenger served it.

    Raises
    ------
    ValidationError
        If ``share`` is not from 0 to 1.
    Conflict
        If the model has no champion, or the version is the champion.
    NotFound
        If the version is not one of this model's in the caller's tenant.
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        store.set_challenger(s, tenant_id=principal.tenant_id, model_id=model_id, version_id=version_id,
                             share=share, user_id=principal.user_id)
        return store.get_model(s, model_id)


def promote_challenger(principal: Principal, model_id: int) -> store.ModelRecord:
    """Make the challenger the champion; the model then has no challenger. Needs ``update``.

    Raises
    ------
    Conflict
        If the model has no challenger.
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        store.promote_challenger(s, tenant_id=principal.tenant_id, model_id=model_id, user_id=principal.user_id)
        return store.get_model(s, model_id)


def delete_version(principal: Principal, model_id: int, version_id: int) -> int:
    """Delete a version that serves neither as champion nor as challenger. Needs ``manage``.

    Its stored predictions and deployment events are deleted with it.

    Returns
    -------
    int
        The deleted version's number.

    Raises
    ------
    Conflict
        If the version is serving.
    NotFound
        If the version is not one of this model's in the caller's tenant.
    """
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        return store.delete_model_version(s, model_id=model_id, version_id=version_id)


def deployment_history(principal: Principal, model_id: int | None = None, limit: int = 50) -> list[dict]:
    """Deploy, rollback, challenger and promote events, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.deployment_history(s, model_id, limit)


def list_jobs(principal: Principal, model_id: int | None = None, limit: int = 20, *, before_id: int | None = None
              ) -> list[store.JobRecord]:
    """Latest jobs of models, newest first (``before_id``: only smaller ids, a keyset page). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.list_jobs(s, model_id, limit, before_id=before_id)


def get_job(principal: Principal, job_id: int) -> store.JobRecord:
    """One training job with status, progress and error. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.get_job(s, job_id)


def cancel_job(principal: Principal, job_id: int) -> store.JobRecord:
    """Ask a queued or running job to stop; it ends as ``cancelled`` saving nothing. Needs ``update``.

    Raises
    ------
    Conflict
        If the job has already ended.
    """
    require(principal, "update")
    with tenant_session(principal.tenant_id) as s:
        job = store.get_job(s, job_id)
        if job.done:
            raise Conflict(f"Job {job_id} already ended ({job.status}); nothing to cancel.")
        if job.status == "queued":
            store.update_job(s, job_id, cancel_requested=True, status="cancelled", message="Cancelled",
                             error="Cancelled by a user before it started; nothing was saved.",
                             finished_at="now()")
        else:
            store.update_job(s, job_id, cancel_requested=True, message="Cancelling…")
    with tenant_session(principal.tenant_id) as s:
        return store.get_job(s, job_id)


def start_job(principal: Principal, model_id: int, kind: str, payload: dict, *, run: bool = True) -> store.JobRecord:
    """Queue a training job for a model (kind-specific callers build the payload). Needs ``create``."""
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        store.get_model(s, model_id)
    payload = {**payload, "user_id": principal.user_id}
    return jobs.submit(principal.tenant_id, model_id, kind, payload, principal.user_id, run=run)


def require_version_of(principal: Principal, model_id: int, version_id: int | None) -> store.ModelVersionRecord:
    """The given version of a model, or its active one when ``version_id`` is None.

    Raises
    ------
    NotFound
        If the model has no such version, or no active version and none was given.
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        model = store.get_model(s, model_id)
        vid = version_id or model.active_version_id
        if vid is None:
            raise NotFound(f"Model '{model.name}' has no deployed version yet; deploy one first.")
        version = store.get_model_version(s, vid)
        if version.model_id != model_id:
            raise NotFound(f"Version {vid} is not a version of model '{model.name}'.")
        return version
