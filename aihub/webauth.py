"""What the web login needs, kept free of Streamlit: the cookie key, the cookie's payload, the client address.

The re-login cookie is set in the browser by streamlit-authenticator's cookie
component. Its payload is a JWT (HS256, signed with the cookie key) holding
only the tenant id and the random token of a server-side session
(:func:`aihub.auth.open_session`), never a username: logging out, a password
change, deactivation or a role change revoke the session, and the cookie then
logs no one in. The cookie key comes from ``cookie_key`` in
``.streamlit/secrets.toml`` or the ``AIHUB_COOKIE_KEY`` environment variable.
Outside demo mode the app refuses to start with no key or with the library's
placeholder; in demo mode a key is generated once into the data folder.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from datetime import datetime

import jwt

from aihub.auth import SESSION_LIFETIME
from aihub.config import Settings
from aihub.errors import ValidationError

#: Keys that are examples, not secrets (the library's default and README sample).
PLACEHOLDER_KEYS = frozenset({"", "some_key", "some_signature_key", "random_signature_key", "change-me"})
COOKIE_NAME = "aihub_auth"
COOKIE_EXPIRY_DAYS = SESSION_LIFETIME.total_seconds() / 86400
#: Environment variable naming the header a trusted reverse proxy sets to the client's address.
CLIENT_HEADER_ENV = "AIHUB_CLIENT_IP_HEADER"


def cookie_key(settings: Settings, secrets_value: str | None = None) -> str:
    """The cookie-signing key to use.

    Parameters
    ----------
    settings : Settings
    secrets_value : str, optional
        ``cookie_key`` from Streamlit secrets, if any.

    Raises
    ------
    ValidationError
        Outside demo mode, when the key is missing, a placeholder or shorter than 32 characters.
    """
    key = secrets_value or os.environ.get("AIHUB_COOKIE_KEY", "")
    if key and key not in PLACEHOLDER_KEYS and len(key) >= 32:
        return key
    if settings.demo:
        return settings.secret_file("cookie_key").decode()
    raise ValidationError(
        "No usable cookie key: set AIHUB_COOKIE_KEY or cookie_key in .streamlit/secrets.toml to a random "
        "string of at least 32 characters (for example the output of "
        "`python -c 'import secrets; print(secrets.token_hex(32))'`), or run in demo mode with AIHUB_DEMO=1.",
        field="cookie_key",
    )


def encode_cookie(tenant_id: int, token: str, key: str, expires_at: datetime) -> str:
    """The cookie value: a JWT (HS256) with claims ``tid`` (tenant id), ``sid`` (session token) and ``exp``."""
    return jwt.encode({"tid": tenant_id, "sid": token, "exp": int(expires_at.timestamp())}, key, algorithm="HS256")


def decode_cookie(value: str | None, key: str) -> tuple[int, str] | None:
    """``(tenant id, session token)`` from a cookie value, or None if it is absent, forged, expired or malformed.

    Only HS256 is accepted (no ``none`` or public-key algorithms); ``exp`` is required.
    """
    if not value or len(value) > 4096:
        return None
    try:
        claims = jwt.decode(value, key, algorithms=["HS256"], options={"require": ["exp", "tid", "sid"]})
    except jwt.PyJWTError:
        return None
    tid, sid = claims.get("tid"), claims.get("sid")
    if not isinstance(tid, int) or isinstance(tid, bool) or tid <= 0 or not isinstance(sid, str) or not sid:
        return None
    return tid, sid


def client_address(remote_ip: str | None, headers: Mapping[str, str] | None = None,
                   trusted_header: str | None = None) -> str:
    """The client address log-in throttling counts against.

    Parameters
    ----------
    remote_ip : str or None
        The address of the WebSocket peer (``st.context.ip_address``; None for loopback).
    headers : mapping, optional
        The request headers (``st.context.headers``).
    trusted_header : str, optional
        A header a trusted reverse proxy sets (``X-Forwarded-For``, ``X-Real-IP``); defaults to the
        ``AIHUB_CLIENT_IP_HEADER`` environment variable. Its last address is used (the one the
        proxy appended). Set it only behind such a proxy: a client can write any header itself.

    Returns
    -------
    str
        A normalized IP address, or ``"local"`` for loopback and ``"unknown"`` when nothing usable is given.
    """
    trusted_header = trusted_header if trusted_header is not None else os.environ.get(CLIENT_HEADER_ENV, "")
    candidate = remote_ip
    if trusted_header and headers:
        forwarded = {k.lower(): v for k, v in headers.items()}.get(trusted_header.lower(), "")
        if forwarded.strip():
            candidate = forwarded.split(",")[-1].strip()
    if candidate is None:
        return "local"
    try:
        return str(ipaddress.ip_address(candidate.strip()))
    except ValueError:
        return "unknown"


def cookie_secure() -> bool:
    """Whether to mark the cookie ``Secure`` (HTTPS only): ``AIHUB_COOKIE_SECURE`` set to 1, true or yes."""
    return os.environ.get("AIHUB_COOKIE_SECURE", "").strip().lower() in {"1", "true", "yes"}
