"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

The body has ``type``, ``title``, ``status``, ``detail`` and ``instance``
(the request path), plus the hub's own members: ``code`` (the code of the
:mod:`aihub.errors` class, e.g. ``not_found``, ``invalid_input``), ``field``
(the form field, JSON key or column at fault), ``errors`` (one entry per
invalid field of a request) and ``request_id`` (also in the ``X-Request-ID``
header and in the server's log line of the request).

A tenant never learns whether another tenant's id exists: the services raise
:class:`~aihub.errors.NotFound` for both, and this module maps it to 404.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aihub import errors
from aihub.api.context import request_id_var

log = logging.getLogger("aihub.api")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://aihub.example.com/problems/"

#: Codes of :class:`~aihub.errors.PermissionDenied` that mean "who are you?" (401), not "you may not" (403).
AUTH_CODES = frozenset({"invalid_api_key", "api_key_revoked", "api_key_expired", "api_key_user_inactive",
                        "missing_api_key", "session_ended"})

_STATUS = [
    (errors.NotFound, 404),
    (errors.IngestError, 422),
    (errors.ValidationError, 422),
    (errors.Conflict, 409),
    (errors.TrainingError, 422),
    (errors.ArtifactError, 409),
    (errors.ConnectorError, 502),
    (errors.DatabaseError, 503),
]
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           406: "Not acceptable", 409: "Conflict", 413: "Content too large", 415: "Unsupported media type",
           422: "Unprocessable content", 429: "Too many requests", 500: "Internal server error",
           502: "Bad gateway", 503: "Service unavailable"}


def problem(status: int, detail: str, *, code: str, request: Request | None = None, field: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """A ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": _TITLES.get(status, "Error"), "status": status,
                            "detail": detail, "code": code}
    if request is not None:
        body["instance"] = request.url.path
    if field:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: errors.AihubError) -> int:
    """The HTTP status of a domain error."""
    if isinstance(exc, errors.PermissionDenied):
        return 401 if exc.code in AUTH_CODES else 403
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _loc(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document serves at the request's path (Starlette's 405 names one route's only)."""
    import re

    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        def pattern(path: str) -> str:  # ids are whole numbers (the routes' ``:int`` convertor)
            path = re.sub(r"\\{[a-z_]+_id\\}", "[0-9]+", re.escape(path))
            return "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", path) + "$"

        table = [(re.compile(pattern(path)),
                  sorted(m.upper() for m in ops))
                 for path, ops in request.app.openapi().get("paths", {}).items()]
        request.app.state.allowed_methods = table
    found = sorted({m for regex, methods in table if regex.match(request.url.path) for m in methods})
    return found or ["GET"]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(errors.AihubError)
    async def _aihub_error(request: Request, exc: errors.AihubError) -> JSONResponse:
        if exc.code == "rate_limited":
            wait = int(exc.details.get("retry_after", 1))
            return problem(429, exc.message, code=exc.code, request=request, headers={"Retry-After": str(wait)})
        status = status_of(exc)
        if status >= 500:
            log.error("request %s failed: %s %s", request_id_var.get(), exc.code, exc.message)
            detail = ("The database is unavailable; try again shortly." if status == 503 else
                      exc.message if status == 502 else "The server could not complete the request.")
            return problem(status, detail, code=exc.code if status != 500 else "internal_error", request=request,
                           headers={"Retry-After": "5"} if status == 503 else None)
        headers = {"WWW-Authenticate": 'Bearer realm="aihub"'} if status == 401 else None
        details = {k: v for k, v in exc.details.items() if k in ("row", "column", "file", "line", "permission",
                                                                  "allowed", "kind")} or None
        return problem(status, exc.message, code=exc.code, request=request, field=exc.field, headers=headers,
                       details=details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = [{"field": _loc(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
                 for e in exc.errors()]
        first = items[0] if items else {"field": None, "message": "invalid request"}
        return problem(422, f"{first['field']}: {first['message']}" if first["field"] else first["message"],
                       code="invalid_input", request=request, field=first["field"], errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "missing_api_key"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No such resource: {request.url.path}"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
            headers = {"Allow": ", ".join(allowed)}
        return problem(exc.status_code, detail, code=code, request=request, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed with an unexpected error", request_id_var.get())
        return problem(500, "The server could not complete the request; the error was logged with the request id.",
                       code="internal_error", request=request)
