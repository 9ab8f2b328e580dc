"""One way to validate the JSON configurations users write (models, monitors, workflows, sources).

Each configuration is a pydantic v2 model derived from :class:`UserConfig`
(unknown keys refused, strings stripped). :func:`parse` validates a dict or
JSON text and turns pydantic's errors into one :class:`aihub.errors.ValidationError`
whose ``field`` is the dotted location path (``actions.1.url``), whose message
shows the bad value and what is allowed, and whose ``details["errors"]`` lists
every problem found, so a form can mark each field at once.

Validators raise :func:`error_at` to put a message of their own at a precise
place (``headers.Authorization``, or their own field), with the bad value
shown or, for a secret, :data:`HIDDEN`; :func:`unknown_keys` refuses keys a
model does not know while naming the ones it does. ``parse(..., redact=...)``
passes every shown value through a masking function first, and
``parse(..., context=...)`` hands pydantic's validation context to validators.

Limits (ranges, lengths, allowed sets) belong on the model's fields
(``Field(ge=..., le=...)``, ``Literal[...]``), defined once and read by the
page, the service and the core alike.

Source: pydantic v2 documentation, "Models" and "Error handling".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict

from aihub.errors import ValidationError

__all__ = [
    "HIDDEN",
    "UserConfig",
    "error_at",
    "error_from_pydantic",
    "limits",
    "location",
    "parse",
    "parse_json_text",
    "unknown_keys",
]

M = TypeVar("M", bound=BaseModel)

#: Longest JSON text a user may paste (bytes); larger configurations are refused before parsing.
MAX_JSON_BYTES = 1_000_000


class _Hidden:
    """The bad value of an error that must not be shown (a secret)."""

    def __repr__(self) -> str:
        return "(hidden)"


#: Pass as ``value`` to :func:`error_at` when the bad value is a secret: the message then shows no value.
HIDDEN: Any = _Hidden()

#: pydantic error type of the errors :func:`error_at` and :func:`unknown_keys` raise.
SETTING_ERROR = "invalid_setting"
UNKNOWN_KEY_ERROR = "unknown_setting"


class UserConfig(BaseModel):
    """Base of every user-written configuration: unknown keys are errors, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)


_LIMIT_NAMES = ("gt", "ge", "lt", "le", "min_length", "max_length")


def limits(model: type[BaseModel], field: str) -> dict[str, Any]:
    """The bounds a model puts on one field, for a form to read instead of repeating them.

    Parameters
    ----------
    model : type of BaseModel
    field : str
        Field name (not alias).

    Returns
    -------
    dict
        Some of ``gt``, ``ge``, ``lt``, ``le``, ``min_length``, ``max_length``,
        plus ``default`` when the field has a plain default; e.g.
        ``{"ge": 1, "le": 10000000, "default": 100000}`` for a row limit.

    Raises
    ------
    KeyError
        ``model`` has no such field.
    """
    info = model.model_fields[field]
    out: dict[str, Any] = {}
    for item in info.metadata:
        for name in _LIMIT_NAMES:
            value = getattr(item, name, None)
            if value is not None:
                out[name] = value
    if not info.is_required() and info.default_factory is None:
        out["default"] = info.default
    return out


def location(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a dotted path: ``("actions", 1, "url")`` -> ``"actions.1.url"``."""
    return ".".join(str(part) for part in loc) or "(top level)"


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_at(loc: tuple[str | int, ...], message: str, value: Any) -> pydantic_core.ValidationError:
    """An error for a validator to raise, placed at ``loc`` below what it validates.

    pydantic puts the validator's own location in front: a model validator of
    ``connection_config`` raising ``error_at(("url",), ...)`` reports
    ``connection_config.url``, and a field validator raising ``error_at((), ...)``
    reports its own field. Unlike a ``ValueError``, the message is shown as
    written (no "Value error," prefix).

    Parameters
    ----------
    loc : tuple of str or int
        Path below the validated value; ``()`` for the value itself.
    message : str
        What is wrong and what to do, without a final full stop
        ("must be a path relative to base_url, such as 'orders'").
    value : object
        The bad value, shown after the message; :data:`HIDDEN` for a secret.

    Returns
    -------
    pydantic_core.ValidationError
        To ``raise``.
    """
    detail = pydantic_core.InitErrorDetails(
        type=pydantic_core.PydanticCustomError(SETTING_ERROR, message), loc=loc, input=value)
    return pydantic_core.ValidationError.from_exception_data("configuration", [detail])


def unknown_keys(data: Mapping[Any, Any], allowed: Iterable[str]) -> pydantic_core.ValidationError | None:
    """An error per key of ``data`` not in ``allowed``, naming the allowed keys; None if all are known.

    A stricter twin of ``extra="forbid"`` for a model validator (``mode="before"``)
    that knows its allowed keys, possibly per variant (the settings of one
    pagination style). Values of unknown keys are never shown: a misspelt
    ``tokn`` may hold a secret.
    """
    allowed = tuple(allowed)
    names = f"allowed: {', '.join(allowed)}" if allowed else "nothing may be set here"
    details = [
        pydantic_core.InitErrorDetails(
            type=pydantic_core.PydanticCustomError(
                UNKNOWN_KEY_ERROR, f"is not a known setting; remove it or check its spelling ({names})"),
            loc=(key if isinstance(key, (str, int)) else repr(key),),
            input=HIDDEN,
        )
        for key in data
        if key not in allowed
    ]
    return pydantic_core.ValidationError.from_exception_data("configuration", details) if details else None


def error_from_pydantic(
    exc: pydantic.ValidationError, what: str, *, redact: Callable[[Any], Any] | None = None
) -> ValidationError:
    """One :class:`~aihub.errors.ValidationError` for all of pydantic's errors.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The error pydantic raised.
    what : str
        What was being validated, for the message ("Monitor configuration").
    redact : callable, optional
        Applied to every bad value before it is shown (to mask credentials).

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
        elif "input" in err and err["input"] is not HIDDEN and err.get("type") != "missing":
            msg = f"{msg} (got {_shown(redact(err['input']) if redact else err['input'])})"
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


def parse(
    model: type[M],
    raw: Mapping[str, Any] | str | bytes,
    *,
    what: str | None = None,
    context: Any = None,
    redact: Callable[[Any], Any] | None = None,
) -> M:
    """Validate ``raw`` (a mapping or JSON text) as ``model``.

    Parameters
    ----------
    model : type of UserConfig
        The configuration model.
    raw : mapping, str or bytes
        The user's configuration.
    what : str, optional
        Name used in messages; defaults to the model's class name.
    context : object, optional
        pydantic's validation context, seen by validators as ``info.context``.
    redact : callable, optional
        Applied to every bad value before a message shows it.

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
        return model.model_validate(dict(data), context=context)
    except pydantic.ValidationError as exc:
        raise error_from_pydantic(exc, what, redact=redact) from None
