"""Building blocks of the data-source configuration models (:mod:`aihub.connectors.config`).

:class:`SourcePart` is the base of every part of a source configuration: a
frozen :class:`aihub.userconfig.UserConfig` that refuses unknown keys while
naming the allowed ones and treats a ``null`` value as "not given" (the
default applies). The annotated types here carry the limits every source kind
shares (row limits, timeouts, text lengths), defined once as ``Field`` bounds
and read back by the page and the readers from the models.

Validation messages come from pydantic, or from :func:`aihub.userconfig.error_at`
where a rule is ours; both name the dotted path (``connection_config.row_limit``)
and the bad value, except for secrets (:data:`aihub.userconfig.HIDDEN`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, StringConstraints, model_validator

from aihub.userconfig import HIDDEN, UserConfig, error_at, unknown_keys

DEFAULT_ROW_LIMIT = 100_000
"""Rows a sync reads unless ``row_limit`` says otherwise."""
MAX_ROW_LIMIT = 10_000_000
"""Largest ``row_limit``."""
DEFAULT_TIMEOUT_SECONDS = 30.0
"""Statement (database) or per-request (REST) timeout, seconds."""
MAX_TIMEOUT_SECONDS = 3600.0
"""Largest ``timeout_seconds`` and ``connect_timeout_seconds``."""
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
"""Time to wait for a connection, seconds."""
MAX_URL_LENGTH = 2000
"""Longest URL, path or authentication setting, characters."""
MAX_PARAMETER_NAME_LENGTH = 200
"""Longest query-parameter name of a pagination style, characters."""
MAX_RECORDS_PATH_LENGTH = 500
"""Longest dotted records path, characters."""
MAX_DESCRIPTION_LENGTH = 10_000
"""Longest description, characters."""

MASK = "********"
"""Placeholder :func:`~aihub.connectors.secrets.redact` writes; given back as a secret it means "unchanged"."""

#: Header and query-parameter names (lower case, ``-`` read as ``_``) refused in ``connection_config``:
#: they carry credentials, which belong in ``authentication_config`` where they are encrypted.
SECRET_NAMES: frozenset[str] = frozenset(
    {
        "authorization", "proxy_authorization", "cookie", "x_api_key", "api_key", "apikey", "x_auth_token",
        "auth_token", "access_token", "token", "password", "passwd", "secret", "client_secret", "key",
        "account_key", "sas_token", "connection_string", "credentials", "private_key", "session_token",
    }
)

URL_USERINFO_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^/?#]*@")
"""A URL with ``user[:password]@`` before its host."""
SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
"""A URL's ``scheme://`` prefix."""


def secret_name(name: str) -> bool:
    """True for a header, parameter or option name that carries a credential (:data:`SECRET_NAMES`)."""
    return name.strip().lower().replace("-", "_") in SECRET_NAMES


class SourcePart(UserConfig):
    """Base of every part of a source configuration.

    Frozen; unknown keys are refused with the allowed ones named
    (:meth:`allowed_keys`, which a model with variants overrides); a key
    given as ``null`` counts as absent, so its default applies (a required
    key is then reported missing).
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def allowed_keys(cls, data: Mapping[str, Any]) -> tuple[str, ...]:
        """Keys ``data`` may hold: the model's fields, by their JSON names."""
        return tuple(info.alias or name for name, info in cls.model_fields.items())

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise error_at((), "must be an object ({...}) of settings", data)
        error = unknown_keys(data, cls.allowed_keys(data))
        if error is not None:
            raise error
        return {key: value for key, value in data.items() if value is not None}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (parts whose form differs from their fields override this)."""
        return self.model_dump(by_alias=True)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise error_at((), "contains a NUL character; remove it", value)
    return value


def text(max_length: int, *, blank: bool = False) -> Any:
    """Text of at most ``max_length`` characters, stripped; blank only if ``blank``; no NUL character."""
    return Annotated[
        str, Strict(), StringConstraints(min_length=0 if blank else 1, max_length=max_length), AfterValidator(_no_nul)
    ]


#: Text kept exactly as written (dictionary keys such as column or header names, separators).
RawText = Annotated[str, Strict(), StringConstraints(strip_whitespace=False)]


def _whole_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise error_at((), "must be a whole number", value)
    return value


def whole(lo: int, hi: int) -> Any:
    """A whole number from ``lo`` to ``hi`` (``2.0`` reads as 2; text and true/false are refused)."""
    return Annotated[int, BeforeValidator(_whole_number), Field(ge=lo, le=hi)]


RowLimit = whole(1, MAX_ROW_LIMIT)
"""At most this many rows are read; more makes the result ``truncated``."""
Seconds = Annotated[float, Strict(), Field(gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)]
"""A timeout in seconds, above 0 and at most :data:`MAX_TIMEOUT_SECONDS`."""
Flag = Annotated[bool, Strict()]
"""``true`` or ``false`` (no text, no numbers)."""


def choice(allowed: tuple[str, ...], aliases: Mapping[str, str] | None = None) -> Any:
    """One of ``allowed``, read case-insensitively, with other spellings (``aliases``) mapped to it."""
    spellings = dict(aliases or {})

    def normalise(value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            return spellings.get(key, key)
        return value

    return Annotated[Literal[allowed], BeforeValidator(normalise)]  # type: ignore[valid-type]


def _dotted_path(value: str) -> str:
    if value in ("$", "."):
        return ""
    path = value.removeprefix("$.")
    if path and any(part == "" for part in path.split(".")):
        raise error_at((), "must be keys separated by single dots, e.g. 'data.items'", value)
    return path


RecordsPath = Annotated[
    str, Strict(), StringConstraints(max_length=MAX_RECORDS_PATH_LENGTH), AfterValidator(_no_nul),
    AfterValidator(_dotted_path),
]
"""Dotted path into a JSON document (``"data.items"``, ``"results.0.rows"``); ``""``, ``"$"`` and ``"."`` are the
document itself, and a leading ``$.`` is ignored."""


def _no_credential_names(where: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, Mapping):
            for key in value:
                if isinstance(key, str) and secret_name(key):
                    raise error_at(
                        (key,),
                        f"looks like a credential; {where} named {key!r} must not be stored in plain text. Put it "
                        "in authentication_config (type 'header', 'bearer' or 'query'), where it is encrypted",
                        HIDDEN,
                    )
        return value

    return check


def _scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise error_at((), "must be text, a number or true/false", value)
    return value


Headers = Annotated[dict[RawText, RawText], BeforeValidator(_no_credential_names("a header"))]
"""Non-secret HTTP headers: name to text."""
QueryParams = Annotated[
    dict[RawText, Annotated[Any, AfterValidator(_scalar)]], BeforeValidator(_no_credential_names("a query parameter"))
]
"""Non-secret query parameters: name to text, a number, true/false or null."""


def _http_url(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 - httpx raises InvalidURL or ValueError subclasses
        raise error_at((), "is not a valid URL; write it as https://host/path", url) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise error_at((), "must be an http:// or https:// URL with a host", url)
    if URL_USERINFO_RE.match(url):
        raise error_at((), "contains a user name or password. Remove them from the URL and use "
                       "authentication_config instead, where secrets are encrypted",
                       str(parsed.copy_with(userinfo=b"")))
    if parsed.fragment:
        raise error_at((), "must not contain a #fragment; remove the part from '#' on", url)
    return url


HttpURL = Annotated[text(MAX_URL_LENGTH), AfterValidator(_http_url)]
"""An ``http://`` or ``https://`` URL with a host, no user name, password or fragment."""
