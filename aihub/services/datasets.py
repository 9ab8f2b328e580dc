"""Dataset service: preview an upload, save it as a version, load it back.

Every function takes the calling :class:`~aihub.auth.Principal` and checks
its permission before touching data. Saving is all-or-nothing: a file that
cannot be read or typed raises :class:`~aihub.errors.IngestError` and stores
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from aihub import ingest
from aihub.auth import Principal, require
from aihub.config import load_settings
from aihub.db import store
from aihub.db.session import tenant_session
from aihub.errors import IngestError, ValidationError
from aihub.paging import Page, check_limit, decode_cursor, page_of
from aihub.services import usage


@dataclass(frozen=True)
class SaveResult:
    """Outcome of :func:`save_upload`.

    Attributes
    ----------
    version : DatasetVersionRecord
        The stored version (the earlier one when ``duplicate``).
    duplicate : bool
        True when these exact bytes were already saved (or, from
        :func:`edit_schema`, the column types did not change); nothing new
        was stored.
    types_differ : bool
        With ``duplicate``: the column types asked for differ from the saved
        version's, so :func:`edit_schema` on ``version`` would store them.
    """

    version: store.DatasetVersionRecord
    duplicate: bool
    types_differ: bool = False


#: The fields of a column that decide how its cells are read (the rest describe what the upload held).
TYPE_FIELDS: tuple[str, ...] = ("kind", "date_format", "dayfirst", "decimal", "invalid", "missing_tokens")


def preview_upload(principal: Principal, filename: str, data: bytes, *,
                   records_path: str | None = None) -> ingest.ParsedUpload:
    """Read an upload and infer its schema without storing anything.

    Parameters
    ----------
    filename : str
        Original file name; its extension picks the reader (csv, xlsx, json).
    data : bytes
        The file's content.
    records_path : str, optional
        JSON only: the dotted path of the list of records to read (``"data.items"``); default the one list
        the document holds. ``ParsedUpload.records_paths`` lists the candidates.

    Raises
    ------
    IngestError
        Naming the file, and the column and row where known; ``field="records_path"`` with
        ``details["allowed"]`` when a JSON document holds several lists and none was chosen.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    return ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes, records_path=records_path)


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("Give the dataset a name of 1 to 200 characters.", field="dataset_name")
    return name


def save_upload(
    principal: Principal,
    dataset_name: str,
    filename: str,
    data: bytes,
    *,
    schema: list[Any] | None = None,
    description: str = "",
    records_path: str | None = None,
) -> SaveResult:
    """Save an upload as the next version of ``dataset_name``.

    Parameters
    ----------
    schema : list of ColumnSchema or dict, optional
        The schema the user confirmed or corrected; defaults to the inferred one.
    records_path : str, optional
        JSON only: which list of records to read (see :func:`preview_upload`). The same bytes read at
        another path are another table, so they are not a duplicate of it.

    Returns
    -------
    SaveResult
        The new version, or the existing one if the same bytes were saved before.

    Raises
    ------
    IngestError
        If the file cannot be read or a column does not fit its chosen type.
    ValidationError
        If the dataset name is empty.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    usage.record(principal, "data", "upload")
    name = _validate_name(dataset_name)
    parsed = ingest.read_upload(filename, data, max_bytes=load_settings().max_upload_bytes, records_path=records_path)
    columns = _columns(parsed, schema)
    with tenant_session(principal.tenant_id) as s:
        existing = store.find_version_by_hash(s, parsed.sha256, columns=[c.name for c in parsed.schema])
    if existing is not None:
        differ = schema is not None and _types(existing.column_schema) != _types(_json(columns))
        return SaveResult(existing, True, differ)
    typed = parsed.typed(columns)
    with tenant_session(principal.tenant_id) as s:
        version = store.add_dataset_version(
            s, tenant_id=principal.tenant_id, dataset_name=name, description=description, filename=filename,
            sha256=parsed.sha256, row_count=len(typed), column_schema=_json(columns),
            raw_bytes=data, frame=typed, user_id=principal.user_id,
        )
    return SaveResult(version, False)


def _columns(parsed: ingest.ParsedUpload, schema: list[Any] | None) -> list[ingest.ColumnSchema]:
    if schema is None:
        return list(parsed.schema)
    if all(isinstance(c, dict) for c in schema):
        return ingest.schema_from_json(list(schema))
    return ingest.validate_schema(schema)


def _json(columns: list[ingest.ColumnSchema]) -> list[dict[str, Any]]:
    return ingest.schema_to_json(columns)["columns"]


def _types(column_schema: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What decides the reading of each column, comparable between a saved schema and a new one."""
    out = []
    for c in ingest.schema_from_json(list(column_schema)):
        d = c.to_dict()
        tokens = d.get("missing_tokens")
        out.append((d["name"], *(d.get(k) for k in TYPE_FIELDS if k != "missing_tokens"),
                    None if tokens is None else tuple(sorted(tokens))))
    return out


def _reread(filename: str, data: bytes, names: list[str]) -> ingest.ParsedUpload:
    """Read a saved version's bytes again: for JSON with several lists of records, the list it was saved from.

    The list is the candidate whose columns are the saved columns (no other record of the choice is kept).
    """
    # The bytes were accepted once: a smaller upload limit set since must not lock them out.
    limit = max(len(data), load_settings().max_upload_bytes)
    try:
        parsed = ingest.read_upload(filename, data, max_bytes=limit)
    except IngestError as exc:
        if exc.field != "records_path":
            raise
        candidates, parsed = list((exc.details or {}).get("allowed") or []), None
    else:
        candidates = [c for c in parsed.records_paths if c != parsed.records_path]
        if [c.name for c in parsed.schema] == names:
            return parsed
    for path in candidates:
        other = ingest.read_upload(filename, data, max_bytes=limit, records_path=path)
        if [c.name for c in other.schema] == names:
            return other
    if parsed is None:
        raise IngestError(f"None of the lists of records in {filename} has the saved columns "
                          f"({', '.join(names[:30])}).", code="bad_json", field="records_path")
    return parsed


def edit_schema(principal: Principal, version_id: int, schema: list[Any]) -> SaveResult:
    """Re-read a saved version's original bytes with other column types, as the dataset's next version.

    The file is not uploaded again: the new version keeps the same bytes
    (and SHA-256) and stores the new schema and the table typed by it.
    Earlier versions stay as they were.

    Parameters
    ----------
    version_id : int
        The saved version whose bytes are re-read.
    schema : list of dict or ColumnSchema
        Every column of the file, in file order, with the types to apply
        (``kind``, ``date_format``, ``invalid``, ``missing_tokens``, ...; see
        :class:`aihub.ingest.ColumnSchema`).

    Returns
    -------
    SaveResult
        The new version; ``duplicate`` (and the version itself) when the
        types are those of ``version_id`` already.

    Raises
    ------
    ValidationError
        ``field="schema"`` when the columns are not the file's columns.
    IngestError
        A cell does not fit its new type (naming the column and row); nothing
        is stored.
    NotFound
        Outside the organization.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        current = store.get_dataset_version(s, version_id)
        filename, data = store.dataset_version_bytes(s, version_id)
    parsed = _reread(filename, data, [c["name"] for c in current.column_schema])
    columns = _columns(parsed, list(schema))
    names, expected = [c.name for c in columns], [c.name for c in parsed.schema]
    if names != expected:
        raise ValidationError(
            f"The schema must list the columns of {filename} in file order: {', '.join(expected[:30])}.",
            field="schema", details={"expected": expected, "got": names})
    if _types(current.column_schema) == _types(_json(columns)):
        return SaveResult(current, True)
    typed = parsed.typed(columns)
    usage.record(principal, "data", "edit_schema")
    with tenant_session(principal.tenant_id) as s:
        version = store.add_dataset_version(
            s, tenant_id=principal.tenant_id, dataset_name=current.dataset_name, description="", filename=filename,
            sha256=current.sha256, row_count=len(typed), column_schema=_json(columns), raw_bytes=data, frame=typed,
            user_id=principal.user_id,
        )
    return SaveResult(version, False)


def list_datasets(principal: Principal) -> list[store.DatasetRecord]:
    """Datasets of the caller's tenant, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.list_datasets(s)


def page_datasets(principal: Principal, *, name_contains: str | None = None, cursor: str | None = None,
                  limit: int | None = None) -> Page[store.DatasetRecord]:
    """One page of the tenant's datasets, newest first, optionally those whose name contains a text. Needs ``read``.

    Raises
    ------
    ValidationError
        For a cursor not made by this list or a limit outside 1 to 500.
    """
    require(principal, "read")
    before, n = decode_cursor(cursor), check_limit(limit)
    with tenant_session(principal.tenant_id) as s:
        rows = store.list_datasets(s, name_contains=name_contains or None, before_id=before, limit=n + 1)
    return page_of(rows, n)


def get_dataset(principal: Principal, dataset_id: int) -> store.DatasetRecord:
    """One dataset of the tenant with its latest version's summary. Needs ``read``.

    Raises
    ------
    NotFound
        If the dataset is not in the caller's organization.
    """
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.get_dataset(s, dataset_id)


def list_versions(principal: Principal, dataset_id: int) -> list[store.DatasetVersionRecord]:
    """Versions of one dataset, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        store.get_dataset(s, dataset_id)
        return store.list_dataset_versions(s, dataset_id)


def get_version(principal: Principal, version_id: int) -> store.DatasetVersionRecord:
    """One dataset version's metadata. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.get_dataset_version(s, version_id)


def latest_version_id(principal: Principal, dataset_id: int) -> int:
    """Id of the newest version of a dataset. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.latest_dataset_version_id(s, dataset_id)


def load_frame(principal: Principal, version_id: int) -> pd.DataFrame:
    """The typed table of a dataset version. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return store.load_dataset_frame(s, version_id)


def column_values(principal: Principal, version_id: int, column: str, limit: int = 500) -> list[str]:
    """Distinct values of a column (as text, sorted), for filter pickers. Needs ``read``.

    Raises
    ------
    ValidationError
        If the column is not in the dataset.
    """
    frame = load_frame(principal, version_id)
    if column not in frame.columns:
        raise ValidationError(f"Column '{column}' is not in this dataset.", field="column")
    values = frame[column].dropna().astype(str).unique().tolist()
    return sorted(values)[:limit]
