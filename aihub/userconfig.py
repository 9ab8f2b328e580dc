"""One way to validate the JSON configurations users write (models, monitors, workflows, sources).

Each configuration is a pydantic v2 model derived from :class:`UserConfig`
(unknown keys refused, strings stripped). :func:`parse` validates a dict or
JSON text and turns pydantic's errors into one :class:`aihub.errors.ValidationError`
whose ``field`` is the dotted location path (``actions.1.url``), whose message
shows the bad value and what is allowed, and whose ``details["errors"]`` lists
every problem found, so a form can mark each field at once.

Limits (ranges, lengths, allowed sets) belong on the model's fields
(``Field(ge=..., le=...)``, ``Literal[...]``), defined once and read by the
page, the service and the core alike.

Source: pydantic v2 documentation, "Models" and "Error handling".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict

from aihub.errors import ValidationError

__all__ = ["UserConfig", "error_from_pydantic", "location", "parse", "parse_json_text"]

M = TypeVar("M", bound=BaseModel)

#: Longest JSON text a user may paste (bytes); larger configurations are refused before parsing.
MAX_JSON_BYTES = 1_000_000


class UserConfig(BaseModel):
    """Base of every user-written configuration: unknown keys are errors, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)


def location(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a dotted path: ``("actions", 1, "url")`` -> ``"actions.1.url"``."""
    return ".".join(str(part) for part in loc) or "(top level)"


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_from_pydantic(exc: pydantic.ValidationError, what: str) -> ValidationError:
    """One :class:`~aihub.errors.ValidationError` for all of pydantic's errors.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The error pydantic raised.
    what : str
        What was being validated, for the message ("Monitor configuration").

    Returns
    -------
    ValidationError
        ``field`` is the first error's dotted path; ``details["errors"]`` is a
        list of ``{"field", "message", "type"}`` for every error.
    """
    errors = []
    for err in exc.errors(include_url=False):
        path = location(err.get("loc", ()))
        msg = err.get("msg", "is not valid")
        if err.get("type") == "extra_forbidden":
            msg = "is not a known setting; remove it or check its spelling"
        elif "input" in err and err.get("type") != "missing":
            msg = f"{msg} (got {_shown(err['input'])})"
        errors.append({"field": path, "message": msg, "type": err.get("type", "")})
    first = errors[0] if errors else {"field": None, "message": "is not valid"}
    more = f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} listed with it)" if len(errors) > 1 else ""
    message = f"{what}: {first['field']}: {first['message']}{more}."
    return ValidationError(message, field=first["field"], details={"errors": errors})


def parse_json_text(text: str | bytes, *, what: str) -> Any:
    """Parse JSON a user pasted, naming the line and column of a syntax error.

    Raises
    ------
    ValidationError
        If the text is larger than :data:`MAX_JSON_BYTES` or is not JSON.
    """
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(raw) > MAX_JSON_BYTES:
        raise ValidationError(f"{what} is {len(raw):,} bytes; at most {MAX_JSON_BYTES:,} are accepted.")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            details={"line": exc.lineno, "column": exc.colno},
        ) from None
    except UnicodeDecodeError:
        raise ValidationError(f"{what} is not UTF-8 text.") from None


def parse(model: type[M], raw: Mapping[str, Any] | str | bytes, *, what: str | None = None) -> M:
    """Validate ``raw`` (a mapping or JSON text) as ``model``.

    Parameters
    ----------
    model : type of UserConfig
        The configuration model.
    raw : mapping, str or bytes
        The user's configuration.
    what : str, optional
        Name used in messages; defaults to the model's class name.

    Returns
    -------
    instance of ``model``

    Raises
    ------
    ValidationError
        Naming the dotted field path, the bad value and what is allowed.
    """
    what = what or model.__name__
    data = parse_json_text(raw, what=what) if isinstance(raw, (str, bytes)) else raw
    if not isinstance(data, Mapping):
        raise ValidationError(f"{what} must be a JSON object ({{...}}), not {type(data).__name__}.")
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise error_from_pydantic(exc, what) from None
