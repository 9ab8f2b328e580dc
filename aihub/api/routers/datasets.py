"""Datasets: upload a file as a version, list, one dataset, its versions and its schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse

from aihub.api.deps import Caller
from aihub.api.idempotency import Idem
from aihub.api.routers._common import FIRST_ID, json_response, link, links, read_upload, sha256
from aihub.api.schemas import ERRORS, Dataset, DatasetSchema, DatasetVersion, Page, Upload
from aihub.api.settings import PREFIX
from aihub.services import datasets

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERRORS)
DatasetId = Path(ge=1, le=2**62, description="Dataset id")
Cursor = Query(None, min_length=1, max_length=100, description="next_cursor of the previous page")
Limit = Query(50, ge=1, le=500, description="Items per page")


@router.get("", response_model=Page[Dataset], summary="List datasets",
            responses=links(200, GetDataset=link("GET", "/datasets/{dataset_id}", dataset_id=FIRST_ID)))
def list_datasets(p: Caller, name: Annotated[str | None, Query(max_length=200, description="Name contains")] = None,
                  cursor: str | None = Cursor, limit: int = Limit) -> Page[Dataset]:
    page = datasets.page_datasets(p, name_contains=name, cursor=cursor, limit=limit)
    return Page[Dataset](items=[Dataset.model_validate(d) for d in page.items], next_cursor=page.next_cursor)


#: What an upload links to: the dataset, its versions and its schema.
UPLOAD_LINKS = {name: link("GET", path, dataset_id="$response.body#/version/dataset_id")
                for name, path in (("GetDataset", "/datasets/{dataset_id}"),
                                   ("ListVersions", "/datasets/{dataset_id}/versions"),
                                   ("GetSchema", "/datasets/{dataset_id}/schema"))}


@router.post("", status_code=201, response_model=Upload, summary="Upload a file as a new dataset version",
             responses={**links(201, **UPLOAD_LINKS),
                        200: {"model": Upload, "description": "These exact bytes were saved before; nothing new.",
                              "links": UPLOAD_LINKS}})
def upload(p: Caller, idem: Idem,
           file: Annotated[UploadFile, File(description="CSV, Excel (.xlsx) or JSON")],
           name: Annotated[str, Form(min_length=1, max_length=200, description="Dataset name; an existing "
                                     "name gets a new version")],
           description: Annotated[str, Form(max_length=2000)] = "") -> JSONResponse:
    """The schema is inferred (dates, numbers, categories, ids). Needs ``ai_analytics:create``."""
    filename, data = read_upload(file)

    def work() -> JSONResponse:
        saved = datasets.save_upload(p, name, filename, data, description=description)
        v = saved.version
        return json_response(Upload(duplicate=saved.duplicate, version=DatasetVersion.model_validate(v)),
                             200 if saved.duplicate else 201, f"{PREFIX}/datasets/{v.dataset_id}")

    return idem.run("POST /datasets", [name, description, filename, sha256(data)], work)


@router.get("/{dataset_id:int}", response_model=Dataset, summary="One dataset")
def get_dataset(p: Caller, dataset_id: int = DatasetId) -> Dataset:
    return Dataset.model_validate(datasets.get_dataset(p, dataset_id))


@router.get("/{dataset_id:int}/versions", response_model=Page[DatasetVersion], summary="Versions of a dataset")
def list_versions(p: Caller, dataset_id: int = DatasetId, cursor: str | None = Cursor, limit: int = Limit
                  ) -> Page[DatasetVersion]:
    from aihub.paging import paginate

    page = paginate(datasets.list_versions(p, dataset_id), cursor, limit)
    return Page[DatasetVersion](items=[DatasetVersion.model_validate(v) for v in page.items],
                                next_cursor=page.next_cursor)


@router.get("/{dataset_id:int}/schema", response_model=DatasetSchema, summary="Column schema of a dataset version")
def get_schema(p: Caller, dataset_id: int = DatasetId,
               version: Annotated[int | None, Query(ge=1, le=2**31, description="Version number; "
                                                    "default the latest")] = None) -> DatasetSchema:
    versions = datasets.list_versions(p, dataset_id)
    chosen = next((v for v in versions if version in (None, v.version)), None)
    if chosen is None:
        from aihub.errors import NotFound

        raise NotFound(f"Dataset {dataset_id} has no version {version}.", field="version")
    return DatasetSchema(dataset_id=dataset_id, version_id=chosen.id, version=chosen.version,
                         columns=list(chosen.column_schema))
