"""Data-source connectors: databases, REST APIs and object storage, read into dataset-ready tables.

Pure cores (no hub database writes, no Streamlit). The service layer stores a
:class:`SourceConfig` as JSON, its secrets encrypted with :class:`SecretBox`,
and on each sync calls :func:`read_source` and saves ``table.data`` like an
upload. "Test connection" is :func:`test_connection`.

Modules
-------
config
    The JSON shape as pydantic models (:class:`SourceConfig`), secret separation;
    its parts live in ``config_database``, ``config_rest``, ``config_storage``
    (``connection_config`` per source type), ``config_auth``, ``config_fields``
    (``data_schema``, ``field_mapping``) and ``config_base`` (shared types, limits).
secrets
    Fernet encryption of credentials (key from ``AIHUB_SECRET_KEY`` or a key
    file) and :func:`redact` for UI and logs.
database, rest, objectstore
    The readers; each module's docstring gives its policies (read-only
    transactions, host allow-list ``AIHUB_ALLOWED_HOSTS``, local folders
    ``AIHUB_LOCAL_SOURCE_ROOTS``, fsspec extras).
mapping
    Rename, defaults, type conversion.
policy
    Where sources may connect: allow-lists, local folders, sockets, the hub's own server.
destinations
    Which edits must come with the secrets again (:func:`carry_over_secrets`).
source
    :func:`read_source`, :func:`test_connection`.
"""

from aihub.connectors.config import (
    AUTH_TYPES,
    FIELD_TYPES,
    FILE_FORMATS,
    MASK,
    PAGINATION_TYPES,
    SOURCE_TYPES,
    SYNC_FREQUENCIES,
    AuthConfig,
    DatabaseConnection,
    Endpoint,
    FieldSpec,
    FileUploadConnection,
    ObjectStoreConnection,
    Pagination,
    RestConnection,
    SourceConfig,
    check_secrets,
    select_problem,
    split_secrets,
)
from aihub.connectors.destinations import carry_over_secrets, destination_changes
from aihub.connectors.mapping import MappedFrame, apply_mapping, to_text_frame
from aihub.connectors.objectstore import LOCAL_ROOTS_ENV, PROTOCOLS, parse_local_roots
from aihub.connectors.rest import ALLOWED_HOSTS_ENV, host_allowed, parse_allowed_hosts
from aihub.connectors.secrets import KEY_ENV, SecretBox, generate_key, load_keys, redact, scrub
from aihub.connectors.source import ConnectionReport, SourceTable, read_source, test_connection
from aihub.errors import CONNECTOR_ERROR_KINDS, ConnectorError

__all__ = [
    "ALLOWED_HOSTS_ENV",
    "AUTH_TYPES",
    "CONNECTOR_ERROR_KINDS",
    "FIELD_TYPES",
    "FILE_FORMATS",
    "KEY_ENV",
    "LOCAL_ROOTS_ENV",
    "MASK",
    "PAGINATION_TYPES",
    "PROTOCOLS",
    "SOURCE_TYPES",
    "SYNC_FREQUENCIES",
    "AuthConfig",
    "ConnectionReport",
    "ConnectorError",
    "DatabaseConnection",
    "Endpoint",
    "FieldSpec",
    "FileUploadConnection",
    "MappedFrame",
    "ObjectStoreConnection",
    "Pagination",
    "RestConnection",
    "SecretBox",
    "SourceConfig",
    "SourceTable",
    "apply_mapping",
    "carry_over_secrets",
    "check_secrets",
    "destination_changes",
    "generate_key",
    "host_allowed",
    "load_keys",
    "parse_allowed_hosts",
    "parse_local_roots",
    "read_source",
    "redact",
    "scrub",
    "select_problem",
    "split_secrets",
    "test_connection",
    "to_text_frame",
]
