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
