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

Every check lives in this module: :meth:`SourceConfig.from_dict` and
:func:`split_secrets` raise :class:`~aihub.errors.ValidationError` whose
``field`` is the dotted key at fault (``"connection_config.pagination.page_size"``)
and whose message names the source, the bad value and the allowed values.

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

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from aihub.errors import IngestError, ValidationError
from aihub.ingest import ISO8601, KINDS, ColumnSchema, apply_schema

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
#: What happens to a value that does not fit its field's type.
INVALID_POLICIES: tuple[str, ...] = ("raise", "missing")
#: REST pagination styles.
PAGINATION_TYPES: tuple[str, ...] = ("none", "page", "offset", "cursor", "next_link")
#: File formats an object-storage source reads (``auto``: from the file extension).
FILE_FORMATS: tuple[str, ...] = ("auto", "csv", "parquet", "json", "jsonl")
#: OAuth2 client authentication at the token endpoint (RFC 6749 section 2.3.1).
OAUTH_CLIENT_AUTH: tuple[str, ...] = ("basic", "post")


@dataclass(frozen=True)
class AuthSpec:
    """Keys of one authentication type.

    Attributes
    ----------
    required : tuple of str
        Non-secret keys that must be given.
    optional : tuple of str
        Non-secret keys that may be given.
    secrets : tuple of str
        Secret keys; ``("*",)`` means every key other than ``type`` is secret.
    required_secrets : tuple of str
        Secret keys a read cannot do without.
    """

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    required_secrets: tuple[str, ...] = ()


#: Authentication types per source type, and which of their keys are secret.
AUTH_TYPES: dict[str, dict[str, AuthSpec]] = {
    "file_upload": {"none": AuthSpec()},
    "database": {
        "none": AuthSpec(),
        "password": AuthSpec(optional=("username",), secrets=("password",), required_secrets=("password",)),
    },
    "rest_api": {
        "none": AuthSpec(),
        "bearer": AuthSpec(secrets=("token",), required_secrets=("token",)),
        "header": AuthSpec(required=("header",), optional=("prefix",), secrets=("value",), required_secrets=("value",)),
        "query": AuthSpec(required=("param",), secrets=("value",), required_secrets=("value",)),
        "basic": AuthSpec(required=("username",), secrets=("password",), required_secrets=("password",)),
        "oauth2_client_credentials": AuthSpec(
            required=("token_url", "client_id"),
            optional=("scope", "audience", "client_auth"),
            secrets=("client_secret",),
            required_secrets=("client_secret",),
        ),
    },
    "object_storage": {
        "none": AuthSpec(),
        "storage_options": AuthSpec(secrets=("*",)),
    },
}

DEFAULT_ROW_LIMIT = 100_000
MAX_ROW_LIMIT = 10_000_000
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 3600.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_PAGES = 100
MAX_MAX_PAGES = 10_000
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Placeholder :func:`~aihub.connectors.secrets.redact` writes; given back as a secret it means "unchanged".
MASK = "********"

#: Header and query-parameter names (lower case, ``-`` read as ``_``) refused in ``connection_config``:
#: they carry credentials, which belong in ``authentication_config`` where they are encrypted.
SECRET_NAMES: frozenset[str] = frozenset(
    {
        "authorization", "proxy_authorization", "cookie", "x_api_key", "api_key", "apikey", "x_auth_token",
        "auth_token", "access_token", "token", "password", "passwd", "secret", "client_secret", "key",
        "account_key", "sas_token", "connection_string", "credentials", "private_key", "session_token",
    }
)

_SOURCE_NAME_MAX = 200
_URL_USERINFO_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^/?#]*@")
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_FIRST_WORD_RE = re.compile(r"[A-Za-z]+")


# ---------------------------------------------------------------------------
# dataclasses
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One field of ``data_schema.fields``: the *internal* name, after mapping.

    Attributes
    ----------
    name : str
        Internal column name (what ``field_mapping`` maps to, or the source's
        own column name when unmapped).
    type : {"date", "number", "integer", "category", "id", "text", "boolean"}
        Column kind, as in :data:`aihub.ingest.KINDS`; converted with the
        upload reader's rules (numbers may carry currency signs and thousands
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

    name: str
    type: str = "text"
    required: bool = False
    default: Any = None
    format: str | None = None
    invalid: str = "raise"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, every key present."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "format": self.format,
            "invalid": self.invalid,
            "description": self.description,
        }

    def column_schema(self) -> ColumnSchema:
        """The :class:`aihub.ingest.ColumnSchema` that converts this field."""
        return ColumnSchema(name=self.name, kind=self.type, date_format=self.format, invalid=self.invalid)


@dataclass(frozen=True)
class AuthConfig:
    """The non-secret part of ``authentication_config``.

    Attributes
    ----------
    type : str
        One of ``AUTH_TYPES[source_type]``.
    params : dict
        Its non-secret keys (``username``, ``header``, ``token_url``, ...).
    """

    type: str = "none"
    params: dict[str, Any] = field(default_factory=dict)

    def spec(self, source_type: str) -> AuthSpec:
        return AUTH_TYPES[source_type][self.type]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclass(frozen=True)
class FileUploadConnection:
    """``connection_config`` of a ``file_upload`` source: nothing to connect to."""

    def to_dict(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class DatabaseConnection:
    """``connection_config`` of a ``database`` source.

    Attributes
    ----------
    url : str
        SQLAlchemy URL without a password, e.g.
        ``postgresql+psycopg://reader@db.example.com:5432/sales`` or
        ``mysql+pymysql://reader@db.example.com:3306/sales``.
    query : str or None
        One ``SELECT``/``WITH`` statement (a trailing ``;`` is allowed).
    table : str or None
        Table (or view) name, read as ``SELECT * FROM table``.
    db_schema : str or None
        Schema (PostgreSQL) or database (MySQL) of ``table``.
    row_limit : int
        At most this many rows are read; more makes the result ``truncated``.
    timeout_seconds : float
        Statement timeout, enforced by the server.
    connect_timeout_seconds : float
        Time to wait for the connection.
    """

    url: str
    query: str | None = None
    table: str | None = None
    db_schema: str | None = None
    row_limit: int = DEFAULT_ROW_LIMIT
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url}
        if self.query is not None:
            out["query"] = self.query
        else:
            out["table"] = self.table
            if self.db_schema is not None:
                out["db_schema"] = self.db_schema
        out.update(
            row_limit=self.row_limit,
            timeout_seconds=self.timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
        )
        return out


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint: a path relative to ``base_url``.

    Attributes
    ----------
    path : str
        Relative path (``"orders"`` or ``"/orders"``; both land under the
        base URL's path); ``""`` is the base URL itself.
    params : dict
        Query parameters added to every request of this endpoint.
    records_path : str or None
        Overrides the connection's ``records_path``.
    """

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    records_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "params": dict(self.params), "records_path": self.records_path}


@dataclass(frozen=True)
class Pagination:
    """How a REST endpoint spreads its records over pages.

    ``type`` picks the style; only the attributes of that style matter.

    ``none``
        One request.
    ``page``
        ``?{page_param}=start_page, start_page+1, ...`` (and
        ``&{size_param}=page_size`` if ``size_param`` is set). Stops at an
        empty page, or at a page shorter than ``page_size`` when it is given.
    ``offset``
        ``?{offset_param}=0, page_size, 2*page_size, ...&{limit_param}=page_size``.
        Stops at a page shorter than ``page_size``.
    ``cursor``
        The next cursor is read from the response body at ``cursor_path``
        (dotted path) and sent as ``?{cursor_param}=...``. Stops when the
        cursor is missing, null, empty or repeats.
    ``next_link``
        The next page's URL is read from the body at ``next_path`` or, when
        ``next_path`` is None, from the ``Link: <...>; rel="next"`` header
        (RFC 8288). Relative links are resolved against the current URL. Stops
        when there is none or it repeats.

    Every style stops after ``max_pages`` pages (the result is then
    ``truncated``) or once ``row_limit`` records are read.
    """

    type: str = "none"
    page_param: str = "page"
    start_page: int = 1
    size_param: str | None = None
    page_size: int | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str | None = None
    next_path: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES

    _KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "none": (),
        "page": ("page_param", "start_page", "size_param", "page_size"),
        "offset": ("offset_param", "limit_param", "page_size"),
        "cursor": ("cursor_param", "cursor_path"),
        "next_link": ("next_path",),
    }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for key in self._KEYS[self.type]:
            out[key] = getattr(self, key)
        if self.type != "none":
            out["max_pages"] = self.max_pages
        return out


@dataclass(frozen=True)
class RestConnection:
    """``connection_config`` of a ``rest_api`` source.

    Attributes
    ----------
    base_url : str
        ``http://`` or ``https://`` URL; its host must be on the hub's
        allow-list (see :mod:`aihub.connectors.rest`).
    endpoints : tuple of Endpoint
        Read in order; records of several endpoints are stacked with an
        ``_endpoint`` column naming the path.
    records_path : str
        Dotted path to the list of records in each response body
        (``"data.items"``); ``""`` is the body itself. Integer parts index
        lists (``"results.0.rows"``); a leading ``$.`` is ignored.
    headers, params : dict
        Non-secret headers and query parameters sent with every request.
    pagination : Pagination
    row_limit : int
    timeout_seconds : float
        Per-request read/write timeout.
    connect_timeout_seconds : float
    verify_tls : bool
        Check the server's certificate (turn off only for a test server).
    """

    base_url: str
    endpoints: tuple[Endpoint, ...] = (Endpoint(""),)
    records_path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    pagination: Pagination = field(default_factory=Pagination)
    row_limit: int = DEFAULT_ROW_LIMIT
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    verify_tls: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "endpoints": [e.to_dict() for e in self.endpoints],
            "records_path": self.records_path,
            "headers": dict(self.headers),
            "params": dict(self.params),
            "pagination": self.pagination.to_dict(),
            "row_limit": self.row_limit,
            "timeout_seconds": self.timeout_seconds,
            "connect_timeout_seconds": self.connect_timeout_seconds,
            "verify_tls": self.verify_tls,
        }


@dataclass(frozen=True)
class ObjectStoreConnection:
    """``connection_config`` of an ``object_storage`` source.

    Attributes
    ----------
    url : str
        fsspec URL or local path: ``s3://bucket/key.csv``, ``gs://...``,
        ``az://container/...``, ``memory://...``, ``/data/export.parquet``.
        Glob patterns (``*.csv``) read every match, sorted by path, stacked
        with a ``_file`` column. Compressed files (``.gz``, ``.bz2``, ``.zst``,
        ...) are decompressed.
    format : {"auto", "csv", "parquet", "json", "jsonl"}
        ``auto`` goes by the extension (``.csv``/``.tsv``/``.txt``,
        ``.parquet``/``.pq``, ``.json``, ``.jsonl``/``.ndjson``).
    storage_options : dict
        Non-secret fsspec options (``anon``, ``endpoint_url``,
        ``account_name``, ``region_name``, ...). Keys and tokens go in
        ``authentication_config`` (type ``storage_options``).
    sep : str or None
        CSV delimiter; None: ``","`` (``"\\t"`` for ``.tsv``).
    encoding : str
        CSV/JSON text encoding.
    records_path : str
        JSON only: dotted path to the records, as for REST.
    row_limit : int
    max_bytes : int
        JSON (not JSON lines) is parsed whole; larger files are refused.
    """

    url: str
    format: str = "auto"
    storage_options: dict[str, Any] = field(default_factory=dict)
    sep: str | None = None
    encoding: str = "utf-8"
    records_path: str = ""
    row_limit: int = DEFAULT_ROW_LIMIT
    max_bytes: int = DEFAULT_MAX_BYTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "format": self.format,
            "storage_options": dict(self.storage_options),
            "sep": self.sep,
            "encoding": self.encoding,
            "records_path": self.records_path,
            "row_limit": self.row_limit,
            "max_bytes": self.max_bytes,
        }


Connection = FileUploadConnection | DatabaseConnection | RestConnection | ObjectStoreConnection


@dataclass(frozen=True)
class SourceConfig:
    """A validated data-source configuration, without secrets.

    Build with :meth:`from_dict` (stored configs) or :func:`split_secrets`
    (user input that may hold secrets); :meth:`to_dict` gives back the JSON
    shape with every default filled in, and ``from_dict(to_dict())`` is
    the identity.

    Attributes
    ----------
    source_name : str
        1 to 200 characters; named in every message about the source.
    source_type : {"file_upload", "database", "rest_api", "object_storage"}
    description : str
    connection : FileUploadConnection, DatabaseConnection, RestConnection or ObjectStoreConnection
        The parsed ``connection_config``.
    auth : AuthConfig
        The parsed ``authentication_config`` minus secrets.
    fields : tuple of FieldSpec
        ``data_schema.fields``; empty keeps every source column untyped.
    field_mapping : dict of str to str
        External (source) column name to internal name.
    sync_frequency : {"realtime", "hourly", "daily", "weekly"}
    """

    source_name: str
    source_type: str
    description: str = ""
    connection: Connection = field(default_factory=FileUploadConnection)
    auth: AuthConfig = field(default_factory=AuthConfig)
    fields: tuple[FieldSpec, ...] = ()
    field_mapping: dict[str, str] = field(default_factory=dict)
    sync_frequency: str = "daily"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceConfig:
        """Validate the JSON shape (without secrets) into a config.

        Raises
        ------
        ValidationError
            Any key is unknown, missing or has a bad value; or a secret is
            written inline (use :func:`split_secrets` for user input).
        """
        config, secrets = _parse(data)
        if secrets:
            name = min(secrets)
            raise ValidationError(
                f"Source {config.source_name!r}: authentication_config.{name} holds a secret. Secrets are not "
                "stored with the configuration; pass user input through split_secrets() and keep the secrets "
                "encrypted (aihub.connectors.secrets).",
                field=f"authentication_config.{name}",
                details={"source": config.source_name},
            )
        return config

    @property
    def connection_config(self) -> dict[str, Any]:
        """``connection_config`` as JSON, defaults filled in."""
        return self.connection.to_dict()

    @property
    def authentication_config(self) -> dict[str, Any]:
        """``authentication_config`` as JSON, without secrets."""
        return self.auth.to_dict()

    @property
    def data_schema(self) -> dict[str, Any]:
        """``{"fields": [...]}``."""
        return {"fields": [f.to_dict() for f in self.fields]}

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
            "data_schema": self.data_schema,
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
    return _parse(data)


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


# ---------------------------------------------------------------------------
# validation: the one place
# ---------------------------------------------------------------------------


class _Check:
    """Validators that name the source, the dotted field, the bad value and the allowed set."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str, value: Any = None, allowed: Any = None) -> ValidationError:
        details: dict[str, Any] = {"source": self.source, "value": _short(value)}
        if allowed is not None:
            details["allowed"] = list(allowed) if isinstance(allowed, (tuple, list, set, frozenset)) else allowed
        return ValidationError(f"Source {self.source!r}: {path} {message}", field=path, details=details)

    def mapping(self, path: str, value: Any, *, default: Mapping | None = None) -> dict[str, Any]:
        if value is None and default is not None:
            return dict(default)
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be an object ({{...}}), got {_short(value)!r}.", value)
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise self.fail(path, f"has a non-text key {bad[0]!r}.", bad[0])
        return dict(value)

    def keys(self, path: str, data: Mapping[str, Any], allowed: Sequence[str], required: Sequence[str] = ()) -> None:
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise self.fail(
                f"{path}.{unknown[0]}" if path else unknown[0],
                f"is not a known key; allowed keys: {', '.join(allowed)}.",
                unknown[0],
                allowed,
            )
        for key in required:
            if key not in data or data[key] is None:
                raise self.fail(f"{path}.{key}" if path else key, "is required.", None)

    def text(
        self, path: str, value: Any, *, default: str | None = None, blank: bool = False, max_len: int = 10_000
    ) -> str | None:
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(path, f"must be text, got {type(value).__name__} {_short(value)!r}.", value)
        value = value.strip()
        if not value and not blank:
            raise self.fail(path, "must not be blank.", value)
        if len(value) > max_len:
            raise self.fail(path, f"is {len(value)} characters long; at most {max_len} are allowed.", value)
        if "\x00" in value:
            raise self.fail(path, "contains a NUL character.", value)
        return value

    def integer(self, path: str, value: Any, *, default: int, lo: int, hi: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(path, f"must be a whole number from {lo:,} to {hi:,}, got {value!r}.", value)
        if not lo <= value <= hi:
            raise self.fail(path, f"must be from {lo:,} to {hi:,}, got {value:,}.", value, f"{lo}..{hi}")
        return value

    def number(self, path: str, value: Any, *, default: float, lo: float, hi: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, f"must be a number of seconds above {lo:g} and at most {hi:g}, got {value!r}.", value)
        if not lo < value <= hi:
            raise self.fail(path, f"must be above {lo:g} and at most {hi:g}, got {value:g}.", value, f"({lo}, {hi}]")
        return float(value)

    def boolean(self, path: str, value: Any, *, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {value!r}.", value, [True, False])
        return value

    def choice(self, path: str, value: Any, allowed: Sequence[str], *, default: str | None = None,
               aliases: Mapping[str, str] | None = None) -> str:
        if value is None and default is not None:
            return default
        key = value.strip().lower() if isinstance(value, str) else value
        if isinstance(key, str) and aliases and key in aliases:
            key = aliases[key]
        if key not in allowed:
            raise self.fail(path, f"is {value!r}; allowed: {', '.join(allowed)}.", value, allowed)
        return key

    def params(self, path: str, value: Any, *, kind: str) -> dict[str, Any]:
        """Headers or query parameters: text names, scalar values, no credentials."""
        data = self.mapping(path, value, default={})
        for key, v in data.items():
            if _secret_name(key):
                where = "a header" if kind == "header" else "a query parameter"
                raise self.fail(
                    f"{path}.{key}",
                    f"looks like a credential; {where} named {key!r} must not be stored in plain text. "
                    "Put it in authentication_config (type 'header', 'bearer' or 'query') where it is encrypted.",
                    key,
                )
            ok = isinstance(v, str) if kind == "header" else (v is None or isinstance(v, (str, int, float, bool)))
            if not ok:
                want = "text" if kind == "header" else "text, a number or true/false"
                raise self.fail(f"{path}.{key}", f"must be {want}, got {_short(v)!r}.", v)
        return data

    def records_path(self, path: str, value: Any) -> str:
        text = self.text(path, value, default="", blank=True, max_len=500) or ""
        if text in ("$", "."):
            return ""
        text = text.removeprefix("$.")
        if text and any(part == "" for part in text.split(".")):
            raise self.fail(path, f"is {value!r}; write keys separated by single dots, e.g. 'data.items'.", value)
        return text


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 120:
        return value[:117] + "..."
    return value


def _secret_name(name: str) -> bool:
    return name.strip().lower().replace("-", "_") in SECRET_NAMES


def _parse(data: Mapping[str, Any]) -> tuple[SourceConfig, dict[str, Any]]:
    if isinstance(data, SourceConfig):
        return data, {}
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"A source configuration must be a JSON object, got {type(data).__name__}.",
            field="source_config",
            details={"value": _short(repr(data))},
        )
    raw_name = data.get("source_name")
    c = _Check(raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else "(unnamed)")
    top = (
        "source_name", "source_type", "description", "connection_config", "authentication_config",
        "data_schema", "field_mapping", "sync_frequency",
    )
    c.keys("", data, top, required=("source_name", "source_type"))
    name = c.text("source_name", data["source_name"], max_len=_SOURCE_NAME_MAX)
    source_type = c.choice("source_type", data["source_type"], SOURCE_TYPES, aliases=SOURCE_TYPE_ALIASES)
    description = c.text("description", data.get("description"), default="", blank=True) or ""
    conn_raw = c.mapping("connection_config", data.get("connection_config"), default={})
    connection = _CONNECTION_PARSERS[source_type](c, conn_raw)
    auth, secrets = _parse_auth(c, source_type, data.get("authentication_config"))
    fields = _parse_fields(c, data.get("data_schema"))
    mapping = _parse_mapping(c, data.get("field_mapping"), fields)
    frequency = c.choice("sync_frequency", data.get("sync_frequency"), SYNC_FREQUENCIES, default="daily")
    config = SourceConfig(
        source_name=name,
        source_type=source_type,
        description=description,
        connection=connection,
        auth=auth,
        fields=fields,
        field_mapping=mapping,
        sync_frequency=frequency,
    )
    return config, secrets


def _parse_file_upload(c: _Check, raw: dict[str, Any]) -> FileUploadConnection:
    c.keys("connection_config", raw, ())
    return FileUploadConnection()


def _row_limit(c: _Check, raw: Mapping[str, Any]) -> int:
    return c.integer("connection_config.row_limit", raw.get("row_limit"), default=DEFAULT_ROW_LIMIT, lo=1,
                     hi=MAX_ROW_LIMIT)


def _timeouts(c: _Check, raw: Mapping[str, Any]) -> tuple[float, float]:
    timeout = c.number("connection_config.timeout_seconds", raw.get("timeout_seconds"),
                       default=DEFAULT_TIMEOUT_SECONDS, lo=0.0, hi=MAX_TIMEOUT_SECONDS)
    connect = c.number("connection_config.connect_timeout_seconds", raw.get("connect_timeout_seconds"),
                       default=DEFAULT_CONNECT_TIMEOUT_SECONDS, lo=0.0, hi=MAX_TIMEOUT_SECONDS)
    return timeout, connect


def _parse_database(c: _Check, raw: dict[str, Any]) -> DatabaseConnection:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    p = "connection_config"
    c.keys(p, raw, ("url", "query", "table", "db_schema", "row_limit", "timeout_seconds", "connect_timeout_seconds"),
           required=("url",))
    url = c.text(f"{p}.url", raw["url"], max_len=2000)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise c.fail(
            f"{p}.url",
            f"is not a SQLAlchemy database URL ({exc}). Write it as dialect+driver://user@host:port/database, "
            "e.g. postgresql+psycopg://reader@db.example.com:5432/sales.",
            url,
        ) from None
    if parsed.password:
        raise c.fail(
            f"{p}.url",
            "contains a password. Remove it from the URL and enter it in authentication_config "
            "(type 'password'), where it is stored encrypted.",
            parsed.render_as_string(hide_password=True),
        )
    query = c.text(f"{p}.query", raw.get("query"), max_len=100_000)
    table = c.text(f"{p}.table", raw.get("table"), max_len=500)
    db_schema = c.text(f"{p}.db_schema", raw.get("db_schema"), max_len=500)
    if (query is None) == (table is None):
        raise c.fail(p, "needs exactly one of 'query' (a SELECT statement) or 'table' (a table or view name).",
                     sorted(k for k in ("query", "table") if raw.get(k) is not None))
    if query is not None:
        if db_schema is not None:
            raise c.fail(f"{p}.db_schema", "applies to 'table' only; qualify the table inside the query instead.",
                         db_schema)
        problem = select_problem(query)
        if problem:
            raise c.fail(f"{p}.query", problem, query)
    elif db_schema is None and table.count(".") == 1:
        db_schema, table = (part.strip() for part in table.split("."))
        if not db_schema or not table:
            raise c.fail(f"{p}.table", "must be 'table' or 'schema.table'.", raw.get("table"))
    timeout, connect = _timeouts(c, raw)
    return DatabaseConnection(
        url=url,
        query=query,
        table=table,
        db_schema=db_schema,
        row_limit=_row_limit(c, raw),
        timeout_seconds=timeout,
        connect_timeout_seconds=connect,
    )


def _http_url(c: _Check, path: str, value: Any) -> str:
    import httpx

    url = c.text(path, value, max_len=2000)
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 - httpx raises InvalidURL or ValueError subclasses
        raise c.fail(path, f"is not a valid URL: {url!r}.", url) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise c.fail(path, f"must be an http:// or https:// URL with a host, got {url!r}.", url, ["http", "https"])
    if _URL_USERINFO_RE.match(url):
        raise c.fail(path, "contains a user name or password. Remove them from the URL and use "
                     "authentication_config instead, where secrets are encrypted.", parsed.copy_with(userinfo=b""))
    if parsed.fragment:
        raise c.fail(path, "must not contain a #fragment.", url)
    return url


def _parse_pagination(c: _Check, value: Any) -> Pagination:
    p = "connection_config.pagination"
    if isinstance(value, str):
        value = {"type": value}
    raw = c.mapping(p, value, default={"type": "none"})
    kind = c.choice(f"{p}.type", raw.get("type"), PAGINATION_TYPES, default="none")
    allowed = ("type", "max_pages", *Pagination._KEYS[kind])
    c.keys(p, raw, allowed)
    max_pages = c.integer(f"{p}.max_pages", raw.get("max_pages"), default=DEFAULT_MAX_PAGES, lo=1, hi=MAX_MAX_PAGES)

    def name(key: str, default: str | None) -> str | None:
        return c.text(f"{p}.{key}", raw.get(key), default=default, max_len=200)

    if kind == "page":
        size_param = name("size_param", None)
        page_size = raw.get("page_size")
        if size_param is not None and page_size is None:
            raise c.fail(f"{p}.page_size", f"is required when size_param ({size_param!r}) is set.", None)
        return Pagination(
            type=kind, max_pages=max_pages, page_param=name("page_param", "page"),
            start_page=c.integer(f"{p}.start_page", raw.get("start_page"), default=1, lo=0, hi=1_000_000),
            size_param=size_param,
            page_size=None if page_size is None else c.integer(f"{p}.page_size", page_size, default=100, lo=1,
                                                               hi=100_000),
        )
    if kind == "offset":
        return Pagination(
            type=kind, max_pages=max_pages, offset_param=name("offset_param", "offset"),
            limit_param=name("limit_param", "limit"),
            page_size=c.integer(f"{p}.page_size", raw.get("page_size"), default=100, lo=1, hi=100_000),
        )
    if kind == "cursor":
        if raw.get("cursor_path") is None:
            raise c.fail(f"{p}.cursor_path", "is required for cursor pagination: the dotted path of the next "
                         "cursor in the response, e.g. 'meta.next_cursor'.", None)
        return Pagination(
            type=kind, max_pages=max_pages, cursor_param=name("cursor_param", "cursor"),
            cursor_path=c.records_path(f"{p}.cursor_path", raw["cursor_path"]) or None,
        )
    if kind == "next_link":
        next_path = raw.get("next_path")
        return Pagination(
            type=kind, max_pages=max_pages,
            next_path=None if next_path is None else (c.records_path(f"{p}.next_path", next_path) or None),
        )
    return Pagination(type="none", max_pages=1)


def _parse_rest(c: _Check, raw: dict[str, Any]) -> RestConnection:
    p = "connection_config"
    c.keys(p, raw, ("base_url", "endpoints", "records_path", "headers", "params", "pagination", "row_limit",
                    "timeout_seconds", "connect_timeout_seconds", "verify_tls"), required=("base_url",))
    base_url = _http_url(c, f"{p}.base_url", raw["base_url"])
    endpoints_raw = raw.get("endpoints", [""])
    if isinstance(endpoints_raw, (str, Mapping)):
        endpoints_raw = [endpoints_raw]
    if not isinstance(endpoints_raw, Sequence) or not endpoints_raw:
        raise c.fail(f"{p}.endpoints", "must be a non-empty list of paths such as ['orders'].", endpoints_raw)
    endpoints = []
    for i, e in enumerate(endpoints_raw):
        ep = f"{p}.endpoints[{i}]"
        if isinstance(e, str):
            e = {"path": e}
        e = c.mapping(ep, e)
        c.keys(ep, e, ("path", "params", "records_path"), required=("path",))
        path = c.text(f"{ep}.path", e["path"], blank=True, max_len=2000)
        if _SCHEME_RE.match(path) or path.startswith("//"):
            raise c.fail(f"{ep}.path", "must be a path relative to base_url (such as 'orders'), not a full URL.",
                         path)
        endpoints.append(Endpoint(
            path=path,
            params=c.params(f"{ep}.params", e.get("params"), kind="param"),
            records_path=None if e.get("records_path") is None else c.records_path(f"{ep}.records_path",
                                                                                   e["records_path"]),
        ))
    if len({e.path for e in endpoints}) != len(endpoints):
        raise c.fail(f"{p}.endpoints", "lists the same path twice.", [e.path for e in endpoints])
    timeout, connect = _timeouts(c, raw)
    return RestConnection(
        base_url=base_url,
        endpoints=tuple(endpoints),
        records_path=c.records_path(f"{p}.records_path", raw.get("records_path")),
        headers=c.params(f"{p}.headers", raw.get("headers"), kind="header"),
        params=c.params(f"{p}.params", raw.get("params"), kind="param"),
        pagination=_parse_pagination(c, raw.get("pagination")),
        row_limit=_row_limit(c, raw),
        timeout_seconds=timeout,
        connect_timeout_seconds=connect,
        verify_tls=c.boolean(f"{p}.verify_tls", raw.get("verify_tls"), default=True),
    )


def _parse_object_storage(c: _Check, raw: dict[str, Any]) -> ObjectStoreConnection:
    from aihub.connectors.policy import PROTOCOLS, protocol_of

    p = "connection_config"
    c.keys(p, raw, ("url", "format", "storage_options", "sep", "encoding", "records_path", "row_limit", "max_bytes"),
           required=("url",))
    url = c.text(f"{p}.url", raw["url"], max_len=2000)
    protocol = protocol_of(url)
    if protocol not in PROTOCOLS:
        raise c.fail(f"{p}.url", f"uses {protocol + '://'!r}, which is not supported; allowed: "
                     f"{', '.join(k + '://' for k in PROTOCOLS)} or a local path.", url, list(PROTOCOLS))
    if protocol not in ("file", "memory") and _URL_USERINFO_RE.match(url):
        raise c.fail(f"{p}.url", "contains credentials; put them in authentication_config (type "
                     "'storage_options') instead.", protocol + "://...")
    options = c.mapping(f"{p}.storage_options", raw.get("storage_options"), default={})
    for key in options:
        if _secret_name(key) or key in ("secret", "key", "token"):
            raise c.fail(f"{p}.storage_options.{key}", "is a credential; put it in authentication_config "
                         "(type 'storage_options'), where it is stored encrypted.", key)
    sep = raw.get("sep")
    if sep is not None and not (isinstance(sep, str) and len(sep) == 1 and sep not in "\"\r\n"):
        raise c.fail(f"{p}.sep", f"must be one character such as ',' ';' '\\t' '|', got {sep!r}.", sep)
    encoding = c.text(f"{p}.encoding", raw.get("encoding"), default="utf-8", max_len=50)
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise c.fail(f"{p}.encoding", f"is {encoding!r}, which Python does not know; use e.g. 'utf-8' or "
                     "'cp1252'.", encoding) from None
    return ObjectStoreConnection(
        url=url,
        format=c.choice(f"{p}.format", raw.get("format"), FILE_FORMATS, default="auto"),
        storage_options=options,
        sep=sep,
        encoding=encoding,
        records_path=c.records_path(f"{p}.records_path", raw.get("records_path")),
        row_limit=_row_limit(c, raw),
        max_bytes=c.integer(f"{p}.max_bytes", raw.get("max_bytes"), default=DEFAULT_MAX_BYTES, lo=1, hi=2**40),
    )


_CONNECTION_PARSERS = {
    "file_upload": _parse_file_upload,
    "database": _parse_database,
    "rest_api": _parse_rest,
    "object_storage": _parse_object_storage,
}


def _parse_auth(c: _Check, source_type: str, value: Any) -> tuple[AuthConfig, dict[str, Any]]:
    p = "authentication_config"
    raw = c.mapping(p, value, default={"type": "none"})
    types = AUTH_TYPES[source_type]
    kind = c.choice(f"{p}.type", raw.get("type", "none"), tuple(types))
    spec = types[kind]
    secret_keys = [k for k in raw if k != "type" and (spec.secrets == ("*",) or k in spec.secrets)]
    if spec.secrets != ("*",):
        c.keys(p, raw, ("type", *spec.required, *spec.optional, *spec.secrets), required=spec.required)
    params: dict[str, Any] = {}
    for key in (*spec.required, *spec.optional):
        if raw.get(key) is not None:
            params[key] = c.text(f"{p}.{key}", raw[key], max_len=2000)
    if kind == "oauth2_client_credentials":
        params["token_url"] = _http_url(c, f"{p}.token_url", params["token_url"])
        params["client_auth"] = c.choice(f"{p}.client_auth", params.get("client_auth"), OAUTH_CLIENT_AUTH,
                                         default="basic")
    if kind == "header" and params["header"].lower() in ("host", "content-length", "transfer-encoding"):
        raise c.fail(f"{p}.header", f"cannot be {params['header']!r}; name the header the API expects for its "
                     "key, e.g. 'X-API-Key' or 'Authorization'.", params["header"])
    secrets: dict[str, Any] = {}
    for key in secret_keys:
        v = raw[key]
        if v is None or v == "" or v == MASK:
            continue
        if spec.secrets != ("*",) and not isinstance(v, str):
            raise c.fail(f"{p}.{key}", f"must be text, got {type(v).__name__}.", "(hidden)")
        secrets[key] = v
    return AuthConfig(type=kind, params=params), secrets


def _parse_fields(c: _Check, value: Any) -> tuple[FieldSpec, ...]:
    p = "data_schema"
    raw = c.mapping(p, value, default={"fields": []})
    c.keys(p, raw, ("fields",))
    items = raw.get("fields") or []
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise c.fail(f"{p}.fields", f"must be a list of fields, got {_short(items)!r}.", items)
    out: list[FieldSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        fp = f"{p}.fields[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        item = c.mapping(fp, item)
        c.keys(fp, item, ("name", "type", "required", "default", "format", "invalid", "description"),
               required=("name",))
        name = c.text(f"{fp}.name", item["name"], max_len=300)
        if name in seen:
            raise c.fail(f"{fp}.name", f"repeats the field {name!r}; field names must be unique.", name)
        seen.add(name)
        kind = c.choice(f"{fp}.type", item.get("type"), FIELD_TYPES, default="text", aliases=FIELD_TYPE_ALIASES)
        fmt = c.text(f"{fp}.format", item.get("format"), max_len=100)
        if fmt is not None and kind != "date":
            raise c.fail(f"{fp}.format", f"applies to date fields only, and {name!r} is {kind}.", fmt)
        if fmt is not None and fmt.upper() == ISO8601:
            fmt = ISO8601
        default = item.get("default")
        if default is not None and (
            isinstance(default, (dict, list)) or (isinstance(default, float) and not math.isfinite(default))
        ):
            raise c.fail(f"{fp}.default", "must be text, a number, true/false or null.", default)
        spec = FieldSpec(
            name=name,
            type=kind,
            required=c.boolean(f"{fp}.required", item.get("required"), default=False),
            default=default,
            format=fmt,
            invalid=c.choice(f"{fp}.invalid", item.get("invalid"), INVALID_POLICIES, default="raise"),
            description=c.text(f"{fp}.description", item.get("description"), default="", blank=True) or "",
        )
        try:
            col = spec.column_schema()
        except ValidationError as exc:  # a bad date format
            raise c.fail(f"{fp}.format", f"is not usable: {exc}", fmt) from None
        if default is not None:
            try:
                apply_schema(pd.DataFrame({name: [str(default)]}), [col], filename=f"the default of {name!r}")
            except IngestError:
                raise c.fail(f"{fp}.default", f"is {default!r}, which is not a valid {kind} value for field "
                             f"{name!r}.", default) from None
        out.append(spec)
    return tuple(out)


def _parse_mapping(c: _Check, value: Any, fields: tuple[FieldSpec, ...]) -> dict[str, str]:
    p = "field_mapping"
    raw = c.mapping(p, value, default={})
    out: dict[str, str] = {}
    targets: dict[str, str] = {}
    declared = {f.name for f in fields}
    for external, internal in raw.items():
        if not external.strip():
            raise c.fail(p, "has a blank source column name.", external)
        internal = c.text(f"{p}.{external}", internal, max_len=300)
        if internal in targets:
            raise c.fail(f"{p}.{external}", f"maps to {internal!r}, as {targets[internal]!r} already does; each "
                         "internal name can come from one source column only.", internal)
        if fields and internal not in declared:
            raise c.fail(f"{p}.{external}", f"maps to {internal!r}, which data_schema.fields does not declare; add "
                         "the field or fix the name.", internal, sorted(declared))
        targets[internal] = external
        out[external] = internal
    return out


# ---------------------------------------------------------------------------
# SQL text check
# ---------------------------------------------------------------------------


def _sql_words(sql: str, backslash: bool) -> tuple[str, str | None]:
    """Blank out comments and quoted text; return (code, problem).

    ``backslash``: a backslash escapes the next character inside quotes (MySQL, MariaDB); PostgreSQL's
    standard strings do not. :func:`select_problem` scans both ways and refuses if either reading fails.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        two = sql[i:i + 2]
        if two == "--" or ch == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif two == "/*":
            j = sql.find("*/", i + 2)
            if j < 0:
                return "", "has a /* comment that is never closed."
            i = j + 2
            out.append(" ")
        elif ch in ("'", '"', "`"):
            j = i + 1
            while True:
                k = sql.find(ch, j)
                if k < 0:
                    return "", f"has a {ch} quote that is never closed."
                if sql[k + 1:k + 2] == ch:  # doubled quote escapes itself
                    j = k + 2
                    continue
                if backslash and _escaped(sql, i + 1, k):
                    j = k + 1
                    continue
                break
            out.append(" 'q' " if ch == "'" else ' "q" ')
            i = k + 1
        elif ch == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if m:
                tag = m.group(0)
                j = sql.find(tag, i + len(tag))
                if j < 0:
                    return "", f"has a {tag} quoted string that is never closed."
                out.append(" 'q' ")
                i = j + len(tag)
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), None


def _escaped(sql: str, start: int, k: int) -> bool:
    """True when the quote at ``k`` follows an odd run of backslashes (inside a string begun at ``start``)."""
    run = 0
    while k - 1 - run >= start and sql[k - 1 - run] == "\\":
        run += 1
    return run % 2 == 1


def select_problem(sql: str) -> str | None:
    """Why ``sql`` is not a single read-only SELECT, or None if it is.

    A first line of defence, before the read-only transaction: the statement
    must start with ``SELECT``, ``WITH`` or ``(``; one statement only (a
    trailing ``;`` is fine); no ``INTO`` (``SELECT ... INTO`` creates tables or
    writes server files) and no locking clause (``FOR UPDATE``/``FOR SHARE``,
    ``LOCK IN SHARE MODE``). Comments and quoted text are ignored.

    Parameters
    ----------
    sql : str

    Returns
    -------
    str or None
        A sentence for the analyst, or None.
    """
    for backslash in (False, True):
        problem = _statement_problem(*_sql_words(sql, backslash))
        if problem:
            return problem
    return None


def _statement_problem(code: str, problem: str | None) -> str | None:
    if problem:
        return problem
    code = code.strip()
    while code.endswith(";"):
        code = code[:-1].rstrip()
    if ";" in code:
        return "holds more than one statement; give a single SELECT."
    lead = code.lstrip("( \t\r\n")
    word = _FIRST_WORD_RE.match(lead)
    if not word or word.group(0).upper() not in ("SELECT", "WITH"):
        got = word.group(0).upper() if word else (code[:20] or "nothing")
        return (f"must be a SELECT query (or WITH ... SELECT); it starts with {got}. Sources only read data: "
                "use a SELECT, or give a table name instead.")
    upper = " ".join(code.upper().split())
    if re.search(r"\bINTO\b", upper):
        return "uses INTO, which writes data; remove it: a source query only reads."
    if re.search(r"\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b", upper) or "LOCK IN SHARE MODE" in upper:
        return "locks rows (FOR UPDATE / FOR SHARE); remove the locking clause: a source query only reads."
    return None
