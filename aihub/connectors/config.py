"""Data-source configuration: the JSON shape, its validation, and secret separation.

A source is configured from a guided form or from JSON such as::

    {
      "source_name": "Orders API",
      "source_type": "rest_api",
      "description": "Shop orders, synced hourly",
      "connection_config": {
        "base_url": "https://api.shop.example.com/v2",
        "endpoints": ["orders"],
        "records_path": "data.items",
        "pagination": {"type": "page", "page_param": "page", "size_param": "per_page", "page_size": 100}
      },
      "authentication_config": {"type": "bearer", "token": "s3cr3t"},
      "data_schema": {"fields": [
        {"name": "order_id", "type": "id", "required": true},
        {"name": "amount", "type": "number", "default": 0},
        {"name": "ordered_at", "type": "date", "format": "ISO8601"}
      ]},
      "field_mapping": {"id": "order_id", "total": "amount", "created": "ordered_at"},
      "sync_frequency": "hourly"
    }

The configuration is a tree of pydantic v2 models (:mod:`aihub.userconfig`),
one module per part: :mod:`~aihub.connectors.config_database`,
:mod:`~aihub.connectors.config_rest`, :mod:`~aihub.connectors.config_storage`
(``connection_config`` of each source type), :mod:`~aihub.connectors.config_auth`
(``authentication_config``), :mod:`~aihub.connectors.config_fields`
(``data_schema``, ``field_mapping``) and :mod:`~aihub.connectors.config_base`
(shared types and limits). :meth:`SourceConfig.from_dict` and
:func:`split_secrets` raise one :class:`~aihub.errors.ValidationError` whose
``field`` is the dotted path at fault (``"connection_config.endpoints.0.path"``),
whose message names the source, the bad value (never a secret) and the
allowed values, and whose ``details["errors"]`` lists every problem found.
Limits (row limits, timeouts, page counts, lengths) are ``Field`` bounds on
the models, with their defaults as module constants.

Secrets
-------
Secret values (tokens, passwords, client secrets, cloud keys) are never part of
a :class:`SourceConfig`. User input goes through :func:`split_secrets`, which
returns the config *without* them plus a ``secrets`` dict that the caller
encrypts with :mod:`aihub.connectors.secrets` and stores apart from the
config. Which keys of ``authentication_config`` are secret is fixed per
authentication type in :data:`AUTH_TYPES`. Secret-looking headers, query
parameters and storage options in ``connection_config`` (``Authorization``,
``api_key``, ``secret``, ...) are refused, so a secret cannot slip into the
plain-text part by mistake.

Source types and their ``connection_config``
--------------------------------------------
``database``
    ``url`` (SQLAlchemy URL, no password in it), exactly one of ``query`` (one
    SELECT or WITH statement) or ``table`` (with optional ``db_schema``, or
    written ``schema.table``), ``row_limit``, ``timeout_seconds``,
    ``connect_timeout_seconds``. See :mod:`aihub.connectors.database`.
``rest_api``
    ``base_url``, ``endpoints`` (relative paths, or objects with ``path``,
    ``params``, ``records_path``), ``records_path``, ``headers``, ``params``,
    ``pagination``, ``row_limit``, ``timeout_seconds``,
    ``connect_timeout_seconds``, ``verify_tls``. See :mod:`aihub.connectors.rest`.
``object_storage``
    ``url`` (fsspec URL or local path, globs allowed), ``format``,
    ``storage_options`` (non-secret ones), ``sep``, ``encoding``,
    ``records_path``, ``row_limit``, ``max_bytes``. See
    :mod:`aihub.connectors.objectstore`.
``file_upload``
    Nothing: the file arrives through :func:`aihub.ingest.read_upload`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from aihub.connectors.config_auth import AUTH_TYPES, OAUTH_CLIENT_AUTH, AuthConfig, AuthSpec, parse_auth
from aihub.connectors.config_base import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    MASK,
    MAX_DESCRIPTION_LENGTH,
    MAX_ROW_LIMIT,
    MAX_TIMEOUT_SECONDS,
    SECRET_NAMES,
    RawText,
    SourcePart,
    choice,
    text,
)
from aihub.connectors.config_database import DatabaseConnection, select_problem
from aihub.connectors.config_fields import (
    FIELD_TYPE_ALIASES,
    FIELD_TYPES,
    MAX_FIELD_NAME_LENGTH,
    DataSchema,
    FieldSpec,
    check_field_mapping,
)
from aihub.connectors.config_rest import (
    DEFAULT_MAX_PAGES,
    MAX_MAX_PAGES,
    PAGINATION_TYPES,
    Endpoint,
    Pagination,
    RestConnection,
)
from aihub.connectors.config_storage import DEFAULT_MAX_BYTES, FILE_FORMATS, FileUploadConnection, ObjectStoreConnection
from aihub.connectors.secrets import redact
from aihub.errors import ValidationError
from aihub.ingest import INVALID_POLICIES
from aihub.userconfig import parse

__all__ = [
    "AUTH_TYPES",
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_ROW_LIMIT",
    "DEFAULT_TIMEOUT_SECONDS",
    "FIELD_TYPES",
    "FIELD_TYPE_ALIASES",
    "FILE_FORMATS",
    "INVALID_POLICIES",
    "MASK",
    "MAX_MAX_PAGES",
    "MAX_ROW_LIMIT",
    "MAX_SOURCE_NAME_LENGTH",
    "MAX_TIMEOUT_SECONDS",
    "OAUTH_CLIENT_AUTH",
    "PAGINATION_TYPES",
    "SECRET_NAMES",
    "SOURCE_TYPES",
    "SOURCE_TYPE_ALIASES",
    "SYNC_FREQUENCIES",
    "AuthConfig",
    "AuthSpec",
    "Connection",
    "DataSchema",
    "DatabaseConnection",
    "Endpoint",
    "FieldSpec",
    "FileUploadConnection",
    "ObjectStoreConnection",
    "Pagination",
    "RestConnection",
    "SourceConfig",
    "check_secrets",
    "select_problem",
    "split_secrets",
]

#: Source types, in the order the form offers them.
SOURCE_TYPES: tuple[str, ...] = ("file_upload", "database", "rest_api", "object_storage")
#: Other spellings accepted for ``source_type``.
SOURCE_TYPE_ALIASES: dict[str, str] = {
    "file": "file_upload",
    "upload": "file_upload",
    "db": "database",
    "sql": "database",
    "rest": "rest_api",
    "api": "rest_api",
    "http": "rest_api",
    "object_store": "object_storage",
    "objectstore": "object_storage",
    "cloud_storage": "object_storage",
    "storage": "object_storage",
    "fsspec": "object_storage",
}
#: Allowed ``sync_frequency`` values.
SYNC_FREQUENCIES: tuple[str, ...] = ("realtime", "hourly", "daily", "weekly")
MAX_SOURCE_NAME_LENGTH = 200
"""Longest ``source_name``, characters."""

Connection = FileUploadConnection | DatabaseConnection | RestConnection | ObjectStoreConnection
#: The ``connection_config`` model of each source type.
CONNECTIONS: dict[str, type[SourcePart]] = {
    "file_upload": FileUploadConnection,
    "database": DatabaseConnection,
    "rest_api": RestConnection,
    "object_storage": ObjectStoreConnection,
}


class SourceConfig(SourcePart):
    """A validated data-source configuration, without secrets.

    Build with :meth:`from_dict` (stored configs) or :func:`split_secrets`
    (user input that may hold secrets); :meth:`to_dict` gives back the JSON
    shape with every default filled in, and ``from_dict(to_dict())`` is
    the identity.

    Attributes
    ----------
    source_name : str
        1 to :data:`MAX_SOURCE_NAME_LENGTH` characters; named in every message about the source.
    source_type : {"file_upload", "database", "rest_api", "object_storage"}
        Other spellings (:data:`SOURCE_TYPE_ALIASES`) accepted.
    description : str
    connection : FileUploadConnection, DatabaseConnection, RestConnection or ObjectStoreConnection
        The parsed ``connection_config`` (its model is picked by ``source_type``).
    auth : AuthConfig
        The parsed ``authentication_config`` minus secrets.
    data_schema : DataSchema
        The parsed ``data_schema``; :attr:`fields` are its fields.
    field_mapping : dict of str to str
        External (source) column name, exactly as in the data, to internal name.
    sync_frequency : {"realtime", "hourly", "daily", "weekly"}
    """

    source_name: text(MAX_SOURCE_NAME_LENGTH)  # type: ignore[valid-type]
    source_type: choice(SOURCE_TYPES, SOURCE_TYPE_ALIASES)  # type: ignore[valid-type]
    description: text(MAX_DESCRIPTION_LENGTH, blank=True) = ""  # type: ignore[valid-type]
    connection: Connection = Field(alias="connection_config")
    auth: AuthConfig = Field(alias="authentication_config")
    data_schema: DataSchema = Field(default_factory=DataSchema)
    field_mapping: dict[RawText, text(MAX_FIELD_NAME_LENGTH)] = Field(default_factory=dict)  # type: ignore[valid-type]
    sync_frequency: choice(SYNC_FREQUENCIES) = "daily"  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _parts_present(cls, data: Any) -> Any:
        """An absent connection or authentication is validated as empty (so errors name its JSON key)."""
        if not isinstance(data, Mapping):
            return data
        return {**data, "connection_config": data.get("connection_config") or {},
                "authentication_config": data.get("authentication_config") or {"type": "none"}}

    @field_validator("connection", mode="plain")
    @classmethod
    def _connection_of_type(cls, value: Any, info: ValidationInfo) -> Any:
        model = CONNECTIONS.get(info.data.get("source_type"))  # type: ignore[arg-type]
        if model is None or isinstance(value, model):
            return value  # a bad source_type is reported on its own
        return model.model_validate(value, context=info.context)

    @field_validator("auth", mode="plain")
    @classmethod
    def _auth_of_type(cls, value: Any, info: ValidationInfo) -> Any:
        source_type = info.data.get("source_type")
        if source_type not in AUTH_TYPES or isinstance(value, AuthConfig):
            return value
        secrets = info.context.get("secrets") if isinstance(info.context, Mapping) else None
        return parse_auth(source_type, value, secrets)

    @field_validator("field_mapping")
    @classmethod
    def _mapping_fits_fields(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        schema = info.data.get("data_schema")
        return check_field_mapping(value, schema.fields if schema is not None else ())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceConfig:
        """Validate the JSON shape (without secrets) into a config.

        Raises
        ------
        ValidationError
            Any key is unknown, missing or has a bad value; or a secret is
            written inline (use :func:`split_secrets` for user input).
        """
        return _parse(data, secrets=None)

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """``data_schema.fields``; empty keeps every source column untyped."""
        return self.data_schema.fields

    @property
    def connection_config(self) -> dict[str, Any]:
        """``connection_config`` as JSON, defaults filled in."""
        return self.connection.to_dict()

    @property
    def authentication_config(self) -> dict[str, Any]:
        """``authentication_config`` as JSON, without secrets."""
        return self.auth.to_dict()

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """Secret keys this source's authentication type uses (``("*",)``: any storage option)."""
        return self.auth.spec(self.source_type).secrets

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape, no secrets in it; safe to store as plain JSON."""
        return {
            "source_name": self.source_name,
            "source_type": self.source_type,
            "description": self.description,
            "connection_config": self.connection_config,
            "authentication_config": self.authentication_config,
            "data_schema": self.data_schema.to_dict(),
            "field_mapping": dict(self.field_mapping),
            "sync_frequency": self.sync_frequency,
        }


def split_secrets(data: Mapping[str, Any]) -> tuple[SourceConfig, dict[str, Any]]:
    """Validate user input and take its secrets out.

    Parameters
    ----------
    data : mapping
        The JSON shape as typed in the form or pasted as JSON; secret keys
        of ``authentication_config`` (see :data:`AUTH_TYPES`) may be present.

    Returns
    -------
    config : SourceConfig
        The validated configuration, without secrets.
    secrets : dict
        Secret key to value, e.g. ``{"token": "..."}``. Secrets that are
        absent, blank or still the :data:`MASK` placeholder (an edited
        redacted config) are left out: merge the result over the stored
        secrets (``{**old, **new}``) to keep unchanged ones.

    Raises
    ------
    ValidationError
        As :meth:`SourceConfig.from_dict`.
    """
    if isinstance(data, SourceConfig):
        return data, {}
    secrets: dict[str, Any] = {}
    return _parse(data, secrets=secrets), secrets


def _parse(data: Any, *, secrets: dict[str, Any] | None) -> SourceConfig:
    """Validate ``data``; secrets go into ``secrets`` (None: refused). Messages never show a secret."""
    if isinstance(data, SourceConfig):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"A source configuration must be a JSON object, got {type(data).__name__}.",
            field="source_config",
            details={"value": type(data).__name__},
        )
    raw_name = data.get("source_name")
    name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else "(unnamed)"
    typed = _typed_secrets(data.get("authentication_config"))
    try:
        return parse(SourceConfig, data, what=f"Source {name!r}", context={"secrets": secrets},
                     redact=lambda value: redact(value, typed))
    except ValidationError as exc:
        raise ValidationError(exc.message, field=exc.field, details={**exc.details, "source": name}) from None


def _typed_secrets(auth: Any) -> dict[str, Any]:
    """Values typed under secret keys of ``authentication_config``, to mask wherever a message would show them."""
    if not isinstance(auth, Mapping):
        return {"authentication_config": auth}
    secret_keys = {k for types in AUTH_TYPES.values() for spec in types.values() for k in spec.secrets}
    everything = auth.get("type") == "storage_options"
    return {k: v for k, v in auth.items() if k != "type" and (everything or k in secret_keys)}


def check_secrets(config: SourceConfig, secrets: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check that ``secrets`` fit the config's authentication type.

    Returns
    -------
    dict
        The secrets, as a plain dict.

    Raises
    ------
    ValidationError
        ``secrets`` is not a mapping, has a key the authentication type does
        not use, or lacks a required secret (the message says which and where
        to enter it).
    """
    name = config.source_name
    if secrets is None:
        secrets = {}
    if not isinstance(secrets, Mapping):
        raise ValidationError(
            f"Source {name!r}: secrets must be a mapping of secret names to values, got {type(secrets).__name__}.",
            field="secrets",
            details={"source": name},
        )
    spec = config.auth.spec(config.source_type)
    out = {str(k): v for k, v in secrets.items() if v is not None and v != ""}
    if spec.secrets != ("*",):
        unknown = sorted(set(out) - set(spec.secrets))
        if unknown:
            raise ValidationError(
                f"Source {name!r} uses {config.auth.type!r} authentication, which has no secret {unknown[0]!r}; "
                f"its secrets are: {', '.join(spec.secrets) or 'none'}.",
                field=f"authentication_config.{unknown[0]}",
                details={"source": name, "value": unknown[0], "allowed": list(spec.secrets)},
            )
    for key in spec.required_secrets:
        if key not in out or out[key] == MASK:
            raise ValidationError(
                f"Source {name!r} uses {config.auth.type!r} authentication but no {key} is stored. "
                f"Open the source's settings and enter the {key}.",
                field=f"authentication_config.{key}",
                details={"source": name, "missing": key},
            )
    for key, value in out.items():
        if spec.secrets != ("*",) and not isinstance(value, str):
            raise ValidationError(
                f"Source {name!r}: secret {key} must be text, got {type(value).__name__}.",
                field=f"authentication_config.{key}",
                details={"source": name},
            )
    return out
