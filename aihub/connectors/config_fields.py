"""``data_schema`` and ``field_mapping`` of a data source: the typed fields a sync produces.

Each field is converted with the upload reader's rules (:func:`aihub.ingest.apply_schema`);
its default is checked against its type when the configuration is validated,
so a bad default fails at "Save", not at the first sync.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import Field, ValidationInfo, field_validator, model_validator

from aihub.connectors.config_base import MAX_DESCRIPTION_LENGTH, Flag, SourcePart, choice, text
from aihub.errors import IngestError, ValidationError
from aihub.ingest import INVALID_POLICIES, ISO8601, KINDS, ColumnSchema, apply_schema
from aihub.userconfig import error_at

#: Field types of ``data_schema.fields``: the upload reader's column kinds (:data:`aihub.ingest.KINDS`).
FIELD_TYPES: tuple[str, ...] = tuple(KINDS)
#: Other spellings accepted for a field's ``type``.
FIELD_TYPE_ALIASES: dict[str, str] = {
    "string": "text",
    "str": "text",
    "float": "number",
    "double": "number",
    "decimal": "number",
    "numeric": "number",
    "int": "integer",
    "bool": "boolean",
    "datetime": "date",
    "timestamp": "date",
    "categorical": "category",
}
MAX_FIELD_NAME_LENGTH = 300
"""Longest field (column) name, characters."""
MAX_DATE_FORMAT_LENGTH = 100
"""Longest date format, characters."""

FieldName = text(MAX_FIELD_NAME_LENGTH)


class FieldSpec(SourcePart):
    """One field of ``data_schema.fields``: the *internal* name, after mapping.

    A plain string is read as ``{"name": ...}``.

    Attributes
    ----------
    name : str
        Internal column name (what ``field_mapping`` maps to, or the source's
        own column name when unmapped).
    type : {"date", "number", "integer", "category", "id", "text", "boolean"}
        Column kind, as in :data:`aihub.ingest.KINDS` (aliases such as
        ``float`` or ``timestamp`` accepted); converted with the upload
        reader's rules (numbers may carry currency signs and thousands
        separators; booleans are true/false, yes/no, y/n, t/f, 1/0).
    required : bool
        The column must be present in the source data; a sync without it
        fails with ``schema_mismatch``. A missing optional column is created
        and filled with ``default`` (or left missing).
    default : str, int, float, bool or None
        Value put into missing cells (None, NaN, blank, NA, null, ...).
        Checked against ``type`` when the config is validated.
    format : str or None
        ``date`` only: strftime format (``"%d/%m/%Y"``) or ``"ISO8601"``;
        None infers it as uploads do.
    invalid : {"raise", "missing"}
        A value that does not fit ``type``: fail the sync
        (``schema_mismatch``), or make the cell missing.
    description : str
        Free text for the form.
    """

    name: FieldName
    type: choice(FIELD_TYPES, FIELD_TYPE_ALIASES) = "text"  # type: ignore[valid-type]
    required: Flag = False
    default: Any = None
    format: text(MAX_DATE_FORMAT_LENGTH) | None = None  # type: ignore[valid-type]
    invalid: choice(INVALID_POLICIES) = "raise"  # type: ignore[valid-type]
    description: text(MAX_DESCRIPTION_LENGTH, blank=True) = ""  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("default")
    @classmethod
    def _scalar_default(cls, value: Any) -> Any:
        if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
            raise error_at((), "must be text, a number, true/false or null", value)
        return value

    @field_validator("format")
    @classmethod
    def _date_format(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind, name = info.data.get("type"), info.data.get("name")
        if value is None or kind is None:
            return value
        if kind != "date":
            raise error_at((), f"applies to date fields only, and {name!r} is {kind}; remove it or make the "
                           "field a date", value)
        if value.upper() == ISO8601:
            return ISO8601
        try:
            ColumnSchema(name=name or "field", kind=kind, date_format=value)
        except ValidationError as exc:
            raise error_at((), f"is not usable: {str(exc).rstrip('.')}", value) from None
        return value

    @model_validator(mode="after")
    def _default_fits_type(self) -> FieldSpec:
        if self.default is not None:
            try:
                apply_schema(pd.DataFrame({self.name: [str(self.default)]}), [self.column_schema()],
                             filename=f"the default of {self.name!r}")
            except IngestError:
                raise error_at(("default",), f"is not a valid {self.type} value for field {self.name!r}",
                               self.default) from None
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, every key present."""
        return self.model_dump()

    def column_schema(self) -> ColumnSchema:
        """The :class:`aihub.ingest.ColumnSchema` that converts this field."""
        return ColumnSchema(name=self.name, kind=self.type, date_format=self.format, invalid=self.invalid)


class DataSchema(SourcePart):
    """``data_schema``: ``{"fields": [...]}``; no fields keeps every source column untyped."""

    fields: tuple[FieldSpec, ...] = Field(default=())

    @field_validator("fields", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise error_at((), "must be a list of fields such as [{'name': 'amount', 'type': 'number'}]", value)
        return value

    @field_validator("fields")
    @classmethod
    def _unique(cls, value: tuple[FieldSpec, ...]) -> tuple[FieldSpec, ...]:
        seen: set[str] = set()
        for i, spec in enumerate(value):
            if spec.name in seen:
                raise error_at((i, "name"), f"repeats the field {spec.name!r}; field names must be unique", spec.name)
            seen.add(spec.name)
        return value

    def to_dict(self) -> dict[str, Any]:
        """``{"fields": [...]}``, every key of every field present."""
        return {"fields": [f.to_dict() for f in self.fields]}


def check_field_mapping(mapping: Mapping[str, str], fields: tuple[FieldSpec, ...]) -> dict[str, str]:
    """Check ``field_mapping`` (source column -> internal name) against the declared fields.

    Raises
    ------
    pydantic_core.ValidationError
        A blank source column; two columns mapped to one name; a name that
        ``data_schema.fields`` does not declare (when it declares any).
    """
    targets: dict[str, str] = {}
    declared = sorted(f.name for f in fields)
    for external, internal in mapping.items():
        if not external.strip():
            raise error_at((), "has a blank source column name; name the column the data has", external)
        if internal in targets:
            raise error_at((external,), f"maps to {internal!r}, as {targets[internal]!r} already does; each internal "
                           "name can come from one source column only", internal)
        if fields and internal not in declared:
            raise error_at((external,), f"maps to {internal!r}, which data_schema.fields does not declare "
                           f"({', '.join(declared)}); add the field or fix the name", internal)
        targets[internal] = external
    return dict(mapping)
