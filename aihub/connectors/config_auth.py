"""``authentication_config`` of a data source: its types, which keys are secret, and their separation.

Each source type has its authentication types (:data:`AUTH_TYPES`). The
non-secret settings of a type (``username``, ``header``, ``token_url``, ...) are
a pydantic model and stay in the stored configuration (:class:`AuthConfig`);
its secret keys (``token``, ``password``, ``client_secret``, ...) are taken out
by :func:`parse_auth` to be encrypted apart (:mod:`aihub.connectors.secrets`)
and never appear in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from aihub.connectors.config_base import MASK, MAX_URL_LENGTH, HttpURL, SourcePart, choice, text
from aihub.userconfig import HIDDEN, error_at, unknown_keys

#: OAuth2 client authentication at the token endpoint (RFC 6749 section 2.3.1).
OAUTH_CLIENT_AUTH: tuple[str, ...] = ("basic", "post")

Setting = text(MAX_URL_LENGTH)
_RESERVED_HEADERS = ("host", "content-length", "transfer-encoding")


def _header_name(name: str) -> str:
    if name.lower() in _RESERVED_HEADERS:
        raise error_at((), f"cannot be {name!r}; name the header the API expects for its key, e.g. 'X-API-Key' or "
                       "'Authorization'", name)
    return name


class NoSettings(SourcePart):
    """No non-secret settings (``none``, ``bearer``, ``storage_options``)."""


class PasswordSettings(SourcePart):
    """``password`` (databases): the user name replaces the URL's."""

    username: Setting | None = None


class HeaderSettings(SourcePart):
    """``header``: the key goes in this header, after ``prefix`` (``"Token "``) if given."""

    header: Annotated[Setting, AfterValidator(_header_name)]
    prefix: Setting | None = None


class QuerySettings(SourcePart):
    """``query``: the key goes in this query parameter."""

    param: Setting


class BasicSettings(SourcePart):
    """``basic``: HTTP basic authentication (RFC 7617)."""

    username: Setting


class OAuth2Settings(SourcePart):
    """``oauth2_client_credentials``: a token from ``token_url`` (RFC 6749 section 4.4)."""

    token_url: HttpURL
    client_id: Setting
    scope: Setting | None = None
    audience: Setting | None = None
    client_auth: choice(OAUTH_CLIENT_AUTH) = "basic"  # type: ignore[valid-type]


@dataclass(frozen=True)
class AuthSpec:
    """Keys of one authentication type.

    Attributes
    ----------
    settings : type of SourcePart
        Model of the non-secret keys.
    secrets : tuple of str
        Secret keys; ``("*",)`` means every key other than ``type`` is secret.
    required_secrets : tuple of str
        Secret keys a read cannot do without.
    """

    settings: type[SourcePart] = NoSettings
    secrets: tuple[str, ...] = ()
    required_secrets: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        """Non-secret keys that must be given."""
        return tuple(k for k, f in self.settings.model_fields.items() if f.is_required())

    @property
    def optional(self) -> tuple[str, ...]:
        """Non-secret keys that may be given."""
        return tuple(k for k, f in self.settings.model_fields.items() if not f.is_required())

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key ``authentication_config`` may hold for this type (``*`` secrets aside)."""
        return ("type", *self.settings.model_fields, *self.secrets)


#: Authentication types per source type, and which of their keys are secret.
AUTH_TYPES: dict[str, dict[str, AuthSpec]] = {
    "file_upload": {"none": AuthSpec()},
    "database": {
        "none": AuthSpec(),
        "password": AuthSpec(PasswordSettings, secrets=("password",), required_secrets=("password",)),
    },
    "rest_api": {
        "none": AuthSpec(),
        "bearer": AuthSpec(secrets=("token",), required_secrets=("token",)),
        "header": AuthSpec(HeaderSettings, secrets=("value",), required_secrets=("value",)),
        "query": AuthSpec(QuerySettings, secrets=("value",), required_secrets=("value",)),
        "basic": AuthSpec(BasicSettings, secrets=("password",), required_secrets=("password",)),
        "oauth2_client_credentials": AuthSpec(
            OAuth2Settings, secrets=("client_secret",), required_secrets=("client_secret",)
        ),
    },
    "object_storage": {
        "none": AuthSpec(),
        "storage_options": AuthSpec(secrets=("*",)),
    },
}


class AuthConfig(SourcePart):
    """The non-secret part of ``authentication_config``.

    Attributes
    ----------
    type : str
        One of ``AUTH_TYPES[source_type]``.
    params : dict
        Its non-secret keys (``username``, ``header``, ``token_url``, ...),
        validated by the type's settings model; unset optional ones left out.
    """

    type: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)

    def spec(self, source_type: str) -> AuthSpec:
        """The :class:`AuthSpec` of this type for ``source_type``."""
        return AUTH_TYPES[source_type][self.type]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"type": ..., **params}``."""
        return {"type": self.type, **self.params}


def parse_auth(source_type: str, value: Any, secrets: dict[str, Any] | None) -> AuthConfig:
    """Validate ``authentication_config`` and take its secrets out.

    Parameters
    ----------
    source_type : str
        A key of :data:`AUTH_TYPES`.
    value : mapping or None
        The user's ``authentication_config``; None is ``{"type": "none"}``.
    secrets : dict or None
        Receives the secret values given (absent, blank and :data:`MASK` ones
        left out). None: secrets are refused, as in a stored configuration.

    Returns
    -------
    AuthConfig

    Raises
    ------
    pydantic_core.ValidationError
        At the key at fault (``token_url``, ``type``), secrets never shown.
    """
    if value is None:
        value = {"type": "none"}
    if not isinstance(value, Mapping):
        raise error_at((), "must be an object such as {'type': 'bearer', 'token': '...'}", HIDDEN)
    types = AUTH_TYPES[source_type]
    kind = value.get("type") or "none"
    kind = kind.strip().lower() if isinstance(kind, str) else kind
    if kind not in types:
        raise error_at(("type",), f"is not an authentication type of {source_type} sources; allowed: "
                       f"{', '.join(types)}", value.get("type"))
    spec = types[kind]
    everything_secret = spec.secrets == ("*",)
    if not everything_secret:
        error = unknown_keys(value, spec.keys)
        if error is not None:
            raise error
    secret_keys = [k for k in value if k != "type" and (everything_secret or k in spec.secrets)]
    plain = {k: v for k, v in value.items() if k != "type" and k not in secret_keys}
    params = spec.settings.model_validate(plain).model_dump(exclude_none=True)
    found = _secret_values(value, secret_keys, typed=not everything_secret)
    if found and secrets is None:
        raise error_at((min(found),), "holds a secret. Secrets are not stored with the configuration; pass user "
                       "input through split_secrets() and keep the secrets encrypted (aihub.connectors.secrets)",
                       HIDDEN)
    if secrets is not None:
        secrets.update(found)
    return AuthConfig(type=kind, params=params)


def _secret_values(value: Mapping[str, Any], keys: list[str], *, typed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        v = value[key]
        if v is None or v == "" or v == MASK:
            continue
        if typed and not isinstance(v, str):
            raise error_at((key,), f"must be text, got {type(v).__name__}", HIDDEN)
        out[key] = v
    return out
