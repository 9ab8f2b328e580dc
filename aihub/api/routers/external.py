"""Model versions served by an external endpoint: register one (new model or beside existing versions), its circuit.

Deploy, roll back, challenger and predictions use the ordinary model routes.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import json_response
from aihub.api.routers.models import version_out
from aihub.api.schemas import ERRORS, CircuitOut, ExternalVersionIn, VersionOut
from aihub.api.settings import PREFIX
from aihub.services import external_models, model_training, registry

router = APIRouter(prefix="/models", tags=["models"], responses=ERRORS)
ModelId = Path(ge=1, le=2**62, description="Model id")
VersionId = Path(ge=1, le=2**62, description="Model version id")


def _fingerprint(body: ExternalVersionIn, route: str) -> dict:
    secret = hashlib.sha256((body.auth_header or "").encode()).hexdigest()
    return {**body.model_dump(mode="json", exclude={"auth_header"}), "auth": secret, "route": route}


def _created(p, version) -> JSONResponse:
    out = version_out(version, model_training.version_details(p, version.id))
    return json_response(out, 201, f"{PREFIX}/models/{version.model_id}/versions/{version.id}")


@router.post("/external", status_code=201, response_model=VersionOut,
             summary="Create a model whose first version is an external endpoint")
def create_external(p: Caller, body: ExternalVersionIn, idem: Idem) -> JSONResponse:
    """Needs ``ai_analytics:create``. The URL's host must be on ``AIHUB_ALLOWED_HOSTS`` (else 422 on ``url``).
    The version serves once deployed (``POST /models/{id}/deploy``)."""
    def work() -> JSONResponse:
        version = external_models.register(p, body.config, dataset_id=body.dataset_id, auth_header=body.auth_header,
                                           model_name=body.model_name)
        return _created(p, version)

    return idem.run("POST /models/external", _fingerprint(body, "new"), work)


@router.post("/{model_id:int}/versions/external", status_code=201, response_model=VersionOut,
             summary="Add an external endpoint as the next version of a model")
def add_external(p: Caller, body: ExternalVersionIn, idem: Idem, model_id: int = ModelId) -> JSONResponse:
    """Needs ``ai_analytics:create``. Deploy it or make it the challenger like any version."""
    def work() -> JSONResponse:
        version = external_models.register(p, body.config, dataset_id=body.dataset_id, auth_header=body.auth_header,
                                           model_id=model_id)
        return _created(p, version)

    return idem.run(f"POST /models/{model_id}/versions/external", _fingerprint(body, str(model_id)), work)


@router.get("/{model_id:int}/versions/{version_id:int}/circuit", response_model=CircuitOut,
            summary="The circuit breaker of an external version (this server process)")
def circuit(p: Caller, model_id: int = ModelId, version_id: int = VersionId) -> CircuitOut:
    version = registry.require_version_of(p, model_id, version_id)
    return CircuitOut.model_validate(external_models.circuit(p, version.id))
