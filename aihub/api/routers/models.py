"""Models: list, create and train as a job, retrain, versions, compare, deploy, roll back, challenger share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import FIRST_ID, JOB_LINKS, accepted, job_body, keyset, link, links

MODEL_OF_JOB = "$response.body#/model_id"
from aihub.api.schemas import (
    ERRORS,
    Challenger,
    Comparison,
    CreateModel,
    Deploy,
    Job,
    ModelOut,
    Page,
    Retrain,
    VersionOut,
)
from aihub.jsonsafe import plain
from aihub.paging import paginate
from aihub.services import forecasts, model_config, model_training, registry

router = APIRouter(prefix="/models", tags=["models"], responses=ERRORS)
ModelId = Path(ge=1, le=2**62, description="Model id")
VersionId = Path(ge=1, le=2**62, description="Model version id")
Cursor = Query(None, min_length=1, max_length=100, description="next_cursor of the previous page")
Limit = Query(50, ge=1, le=500)


def model_out(m) -> ModelOut:
    return ModelOut.model_validate({**m.__dict__, "config": plain(m.config)})


def version_out(v, details=None) -> VersionOut:
    extra = {"feature_schema": plain(details.feature_schema), "config": plain(details.config)} if details else {}
    return VersionOut.model_validate({**v.__dict__, "params": plain(v.params), "metrics": plain(v.metrics),
                                      "library_versions": plain(v.library_versions), **extra})


@router.get("", response_model=Page[ModelOut], summary="List models",
            responses=links(200, GetModel=link("GET", "/models/{model_id}", model_id=FIRST_ID),
                            ListVersions=link("GET", "/models/{model_id}/versions", model_id=FIRST_ID)))
def list_models(p: Caller, kind: Annotated[str | None, Query(pattern="^(ml|forecast)$")] = None,
                name: Annotated[str | None, Query(max_length=200, description="Name contains")] = None,
                cursor: str | None = Cursor, limit: int = Limit) -> Page[ModelOut]:
    rows = registry.list_models(p, kind)
    if name:
        rows = [m for m in rows if name.lower() in m.name.lower()]
    page = paginate(rows, cursor, limit)
    return Page[ModelOut](items=[model_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=202, response_model=Job, summary="Create a model and train its first version",
             responses=links(202, **JOB_LINKS, GetModel=link("GET", "/models/{model_id}", model_id=MODEL_OF_JOB),
                             ListJobs=link("GET", "/models/{model_id}/jobs", model_id=MODEL_OF_JOB)),
             response_description="The training job; poll its Location")
def create_model(p: Caller, body: CreateModel, idem: Idem) -> JSONResponse:
    """Needs ``ai_analytics:create``. Answers 202 with the training job (``Location: /api/v1/jobs/{id}``)."""
    def work() -> JSONResponse:
        if body.kind == "forecast":
            _, job = forecasts.create_forecast_model(p, {**body.config, "dataset_id": body.dataset_id})
        else:
            _, job = model_training.create_model(p, body.config, body.dataset_id)
        return accepted(job)

    return idem.run("POST /models", body.model_dump(mode="json"), work)


@router.get("/templates/{template}", response_model=dict[str, Any], summary="A template's configuration")
def template(p: Caller, template: Annotated[str, Path(max_length=60, description="churn, lead_scoring, "
                                                       "rfm_segmentation or customer_lifetime_value")],
             dataset_id: Annotated[int | None, Query(ge=1, le=2**62, description="Fill it for this dataset")] = None
             ) -> dict[str, Any]:
    """A TrainingConfig to send (edited or not) as ``config`` of ``POST /models``. Needs ``ai_analytics:create``."""
    return plain(model_config.template_config(p, template, dataset_id))


@router.get("/{model_id:int}", response_model=ModelOut, summary="One model")
def get_model(p: Caller, model_id: int = ModelId) -> ModelOut:
    return model_out(registry.get_model(p, model_id))


@router.post("/{model_id:int}/train", status_code=202, response_model=Job, summary="Train a new version",
             responses=links(202, **JOB_LINKS))
def retrain(p: Caller, idem: Idem, body: Retrain | None = None, model_id: int = ModelId) -> JSONResponse:
    """Trains on the dataset's newest version. Needs ``ai_analytics:create``."""
    config = body.config if body else None

    def work() -> JSONResponse:
        model = registry.get_model(p, model_id)
        if model.kind == forecasts.FORECAST_KIND:
            return accepted(forecasts.train(p, model_id))
        return accepted(model_training.train(p, model_id, config))

    return idem.run(f"POST /models/{model_id}/train", config, work)


@router.get("/{model_id:int}/jobs", response_model=Page[Job], summary="Jobs of a model")
def list_jobs(p: Caller, model_id: int = ModelId, cursor: str | None = Cursor, limit: int = Limit) -> Page[Job]:
    registry.get_model(p, model_id)
    page = keyset(lambda before, n: registry.list_jobs(p, model_id, n, before_id=before), cursor, limit)
    return Page[Job](items=[job_body(j) for j in page.items], next_cursor=page.next_cursor)


@router.get("/{model_id:int}/versions", response_model=Page[VersionOut], summary="Versions of a model",
            responses=links(200, GetVersion=link("GET", "/models/{model_id}/versions/{version_id}",
                                                 model_id="$request.path.model_id", version_id=FIRST_ID)))
def list_versions(p: Caller, model_id: int = ModelId, cursor: str | None = Cursor, limit: int = Limit
                  ) -> Page[VersionOut]:
    page = paginate(registry.list_versions(p, model_id), cursor, limit)
    return Page[VersionOut](items=[version_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.get("/{model_id:int}/versions/{version_id:int}", response_model=VersionOut, summary="One version with its "
            "feature schema and configuration")
def get_version(p: Caller, model_id: int = ModelId, version_id: int = VersionId) -> VersionOut:
    version = registry.require_version_of(p, model_id, version_id)
    return version_out(version, model_training.version_details(p, version.id))


@router.get("/{model_id:int}/compare", response_model=Comparison, summary="Test metrics of versions side by side")
def compare(p: Caller, model_id: int = ModelId,
            version_ids: Annotated[list[int] | None, Query(max_length=50, description="Default: all")] = None
            ) -> Comparison:
    frame = model_training.compare_versions(p, model_id, version_ids)
    return Comparison(rows=plain(frame.to_dict(orient="records")))


@router.post("/{model_id:int}/deploy", response_model=ModelOut, summary="Deploy a version as the champion")
def deploy(p: Caller, body: Deploy, model_id: int = ModelId) -> ModelOut:
    """Needs ``ai_analytics:update``."""
    return model_out(registry.deploy(p, model_id, body.version_id))


@router.post("/{model_id:int}/rollback", response_model=ModelOut, summary="Roll back to the previous champion")
def rollback(p: Caller, model_id: int = ModelId) -> ModelOut:
    """Needs ``ai_analytics:update``."""
    return model_out(registry.rollback(p, model_id))


@router.put("/{model_id:int}/challenger", response_model=ModelOut, summary="Set or remove the challenger and its share")
def set_challenger(p: Caller, body: Challenger, model_id: int = ModelId) -> ModelOut:
    """Needs ``ai_analytics:update``."""
    return model_out(registry.set_challenger(p, model_id, body.version_id, body.share))


@router.post("/{model_id:int}/challenger/promote", response_model=ModelOut, summary="Make the challenger the champion")
def promote(p: Caller, model_id: int = ModelId) -> ModelOut:
    return model_out(registry.promote_challenger(p, model_id))
