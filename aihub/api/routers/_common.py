"""Helpers the routers share: upload reading, JSON responses of models, job bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aihub.api.schemas import Job
from aihub.api.settings import PREFIX
from aihub.config import load_settings
from aihub.errors import ValidationError
from aihub.paging import Page, check_limit, decode_cursor, page_of

T = TypeVar("T")


def read_upload(file: UploadFile, field: str = "file") -> tuple[str, bytes]:
    """The file's name and bytes, refused past ``AIHUB_MAX_UPLOAD_MB``.

    Raises
    ------
    ValidationError
        For a file without a name, empty, or too large (naming ``field``).
    """
    limit = load_settings().max_upload_bytes
    name = (file.filename or "").strip()
    if not name:
        raise ValidationError("Send the file with its name (e.g. orders.csv); the extension picks the reader.",
                              field=field)
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(f"{name} is larger than the upload limit of {limit // 1_000_000} MB.", field=field)
    if not data:
        raise ValidationError(f"{name} is empty.", field=field)
    return name, data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_response(model: BaseModel, status: int = 200, location: str | None = None) -> JSONResponse:
    """``model`` as JSON with ``status`` (and a ``Location`` header for 201/202)."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status,
                        headers={"Location": location} if location else None)


#: Payload keys a job shows as its ``result`` (what it made); the rest (file bytes, who asked) stays inside.
RESULT_KEYS = ("batch_id", "rows_total", "rows_failed", "monitor_id", "monitor_run_id", "anomalies_found",
               "points_scored", "insight_ids")


def job_body(job: Any) -> Job:
    """The API's view of a :class:`aihub.db.store.JobRecord` (its payload stays inside, except results)."""
    result = {k: v for k, v in (job.payload or {}).items() if k in RESULT_KEYS}
    links = {"self": f"{PREFIX}/jobs/{job.id}"}
    if job.model_id is not None:
        links["model"] = f"{PREFIX}/models/{job.model_id}"
    if "monitor_id" in result:
        links["monitor"] = f"{PREFIX}/monitors/{result['monitor_id']}"
        if "monitor_run_id" in result:
            links["run"] = f"{PREFIX}/monitors/{result['monitor_id']}/runs/{result['monitor_run_id']}"
    if "insight_ids" in result:
        links["insights"] = f"{PREFIX}/insights"
    if job.model_version_id:
        links["version"] = f"{PREFIX}/models/{job.model_id}/versions/{job.model_version_id}"
    if "batch_id" in result:
        links["batch"] = f"{PREFIX}/predictions/batches/{result['batch_id']}"
    return Job(id=job.id, model_id=job.model_id, model_name=job.model_name, kind=job.kind, status=job.status,
               progress=job.progress, message=job.message, error=job.error, model_version_id=job.model_version_id,
               queued_at=job.queued_at, started_at=job.started_at, finished_at=job.finished_at,
               cancel_requested=job.cancel_requested, result=result, links=links)


def accepted(job: Any) -> JSONResponse:
    """202 with the job and ``Location`` of its status."""
    return json_response(job_body(job), 202, f"{PREFIX}/jobs/{job.id}")


def keyset(fetch: Callable[[int | None, int], Sequence[T]], cursor: str | None, limit: int | None) -> Page[T]:
    """One page read in the database: ``fetch(before_id, n)`` returns up to ``n`` rows newest first by id with an
    id below ``before_id``; one row beyond ``limit`` says whether a next page exists (keyset pagination).

    Raises
    ------
    ValidationError
        For a cursor no page made (field ``cursor``) or a limit outside 1 to 500.
    """
    before, n = decode_cursor(cursor), check_limit(limit)
    return page_of(fetch(before, n + 1), n)


def link(method: str, path: str, *, body: dict[str, Any] | None = None, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path`` (``path`` under ``/api/v1``).

    ``parameters`` map the target's parameter names to runtime expressions
    (``"$response.body#/id"``); ``body`` is the target's request body, whose
    values may be expressions too. Clients and stateful testers (schemathesis)
    follow links from a response to the operations that use what it returned.
    """
    pointer = (PREFIX + path).replace("~", "~0").replace("/", "~1")
    out: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{method.lower()}"}
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    return out


def links(status: int, **named: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route whose ``status`` answer links to ``named`` operations (see :func:`link`)."""
    return {status: {"links": named}}


#: The id of the first item of a page (a list's link to its items).
FIRST_ID = "$response.body#/items/0/id"
#: Links of an answer that is a job (202): its status and its cancel.
JOB_LINKS = {"GetJob": link("GET", "/jobs/{job_id}", job_id="$response.body#/id"),
             "CancelJob": link("POST", "/jobs/{job_id}/cancel", job_id="$response.body#/id")}
