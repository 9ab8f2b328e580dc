"""Pydantic v2 models of the API's request and response bodies (they are the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    """Base of every body: fields from attributes of the services' records, unknown input fields refused."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(Model, Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` as ``cursor`` for the next one (null on the last)."""

    items: list[T]
    next_cursor: str | None = None


class FieldError(Model):
    field: str | None = None
    message: str
    type: str = ""


class Problem(BaseModel):
    """RFC 9457 problem details, with the hub's error ``code``, the ``field`` at fault and the request id."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    field: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    details: dict[str, Any] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: Error responses every authenticated route may give.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("No API key, or a malformed, unknown, revoked or expired one."),
    403: _problem("The key lacks the scope, or the user it acts for lacks the permission."),
    404: _problem("No such object in your organization (also for another organization's ids)."),
    422: _problem("A field, parameter or file is not valid; `field` names it."),
    429: _problem("Too many requests for this key; see `Retry-After`."),
}


# ---------------------------------------------------------------- health
class Health(Model):
    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: dict[str, Any]
    worker: dict[str, Any]
    queue: dict[str, int]


# ---------------------------------------------------------------- datasets
class ColumnInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    kind: str | None = None


class Dataset(Model):
    id: int
    name: str
    description: str
    created_at: datetime
    latest_version: int | None
    latest_version_id: int | None
    row_count: int | None
    versions: int


class DatasetVersion(Model):
    id: int
    dataset_id: int
    dataset_name: str
    version: int
    filename: str
    sha256: str
    row_count: int
    created_at: datetime
    created_by: str | None


class DatasetSchema(Model):
    dataset_id: int
    version_id: int
    version: int
    columns: list[dict[str, Any]]


class Upload(Model):
    """What an upload stored: the version, and whether the same bytes were already saved (nothing new then)."""

    duplicate: bool
    version: DatasetVersion


# ---------------------------------------------------------------- jobs
class Job(Model):
    id: int
    model_id: int
    model_name: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    message: str
    error: str | None
    model_version_id: int | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool
    result: dict[str, Any] = Field(default_factory=dict, description="What a finished job made (e.g. batch_id).")
    links: dict[str, str] = Field(default_factory=dict)
