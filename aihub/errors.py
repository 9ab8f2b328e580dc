"""Domain errors raised by :mod:`aihub`.

Every error carries a stable machine-readable ``code`` and a message written
for an analyst: it names the file, column, row or field at fault and says what
to do. Pages show ``str(error)``; the CLI prints it and exits non-zero.

The pattern follows MLflow's ``MlflowException`` with ``error_code``: storage
and library exceptions are translated into these at the edge of :mod:`aihub`
so callers never see a raw ``psycopg`` or ``sklearn`` traceback.
"""

from __future__ import annotations

from typing import Any


class AihubError(Exception):
    """Base class of every error :mod:`aihub` raises on purpose.

    Parameters
    ----------
    message : str
        Human-readable explanation, complete on its own.
    code : str, optional
        Overrides the class's default ``code``.
    field : str, optional
        The form field, configuration key or column the error is about.
    details : dict, optional
        Extra structured context (row number, allowed values, ...).
    """

    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.details = dict(details or {})

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"code", "message", "field", "details"}`` for JSON output."""
        return {"code": self.code, "message": self.message, "field": self.field, "details": self.details}


class ValidationError(AihubError):
    """A value given by the user (form field, JSON key, CLI flag) is not allowed."""

    code = "invalid_input"


class IngestError(ValidationError):
    """An uploaded or synced file cannot be read as a table.

    ``details`` holds ``file`` and, where known, ``column`` and ``row``
    (1-based, counting the header as row 1).
    """

    code = "unreadable_file"


class NotFound(AihubError):
    """The requested object does not exist in the caller's tenant."""

    code = "not_found"


class PermissionDenied(AihubError):
    """The caller's role lacks the permission an operation needs."""

    code = "permission_denied"


class Conflict(AihubError):
    """The operation clashes with the current state (duplicate name, serving version, ...)."""

    code = "conflict"


class TrainingError(AihubError):
    """A model could not be trained from the given data and configuration."""

    code = "training_failed"


class ArtifactError(AihubError):
    """A stored model artifact is missing, too large, tampered with or of an untrusted type."""

    code = "artifact_rejected"


class DatabaseError(AihubError):
    """The database could not be reached or refused an operation."""

    code = "database_error"


#: Failure kinds a :class:`ConnectorError` carries in ``details["kind"]``. The first eight are what
#: "Test connection" promises to tell apart; the last four cover failures those eight would misname.
CONNECTOR_ERROR_KINDS: tuple[str, ...] = (
    "dns",  # the host name does not resolve
    "refused",  # nothing listens at host:port
    "auth",  # credentials rejected, or the user lacks a permission
    "timeout",  # connect, read or statement time limit reached
    "schema_mismatch",  # data arrived but lacks a mapped/required field or a value does not fit its type
    "not_allowed",  # refused by the hub's own policy (host allow-list, local folder roots) before any request
    "http_error",  # the server answered with an HTTP error status other than 401/403
    "query_error",  # the database rejected the query (syntax, unknown table, write in a read-only transaction)
    "not_found",  # file, bucket or database does not exist
    "bad_data",  # the response or file cannot be parsed (not JSON, corrupt Parquet, ...)
    "tls",  # the TLS handshake or certificate check failed
    "missing_dependency",  # the driver or fsspec extra for this source is not installed
)


class ConnectorError(AihubError):
    """A data source could not be reached or read.

    ``kind`` (also in ``details["kind"]``) is one of :data:`CONNECTOR_ERROR_KINDS`;
    ``details`` also holds ``source`` and, where known, ``host``.
    """

    code = "connector_failed"

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        code: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if kind not in CONNECTOR_ERROR_KINDS:
            raise ValueError(f"ConnectorError kind must be one of {CONNECTOR_ERROR_KINDS}, got {kind!r}")
        super().__init__(message, code=code, field=field, details={**(details or {}), "kind": kind})

    @property
    def kind(self) -> str:
        """The failure kind, one of :data:`CONNECTOR_ERROR_KINDS`."""
        return self.details["kind"]
