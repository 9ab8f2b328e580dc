"""API keys of the HTTP API: create, list, revoke, and turn a bearer token into a principal.

A token looks like ``aihub_<key_id>_<secret>``: ``key_id`` is 12 random
URL-safe characters that name the key in lists and logs, ``secret`` is 256
random bits (``secrets.token_urlsafe(32)``). Only the secret's SHA-256 is
stored, and it is compared with :func:`hmac.compare_digest` (constant time).
The token is shown once, by :func:`create_key`; it cannot be read back. A
fast hash is right here because the secret is random and 256 bits long, not a
password a person chose (OWASP Password Storage Cheat Sheet; GitHub and Stripe
tokens are checked the same way).

A key belongs to one organization and acts for the admin who created it,
within its scopes (some of the nine ``ai_analytics:*`` permissions):
:func:`aihub.auth.require` checks both the scope and that user's role as
stored now, so deactivating the user, or demoting them, also narrows or ends
their keys. Creating and revoking keys needs ``manage`` and writes the
``api_key_created`` / ``api_key_revoked`` audit events.

A request's key is checked in one database round trip (``aihub_api_key_auth``:
the key, its user and organization). Use is counted per key (requests and
last-used time) in memory and written in batches by :func:`record_use` /
:func:`flush_usage` (the API flushes every few seconds and at shutdown), so a
request never waits on a counter update; a crash loses at most the counts
since the last flush, never a prediction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from aihub import audit
from aihub.auth import PERMISSIONS, Principal, require
from aihub.db import api_key_store
from aihub.db.api_key_store import ApiKeyRecord, IdempotentReply
from aihub.db.session import tenant_session
from aihub.errors import PermissionDenied, ValidationError

__all__ = ["ApiKeyRecord", "authenticate", "create_key", "flush_usage", "list_keys", "parse_scopes", "record_use",
           "revoke_key"]

log = logging.getLogger(__name__)

PREFIX = "aihub"
_TOKEN_RE = re.compile(r"^aihub_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
MAX_NAME = 100
SCOPE_PREFIX = "ai_analytics:"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: list[str] | tuple[str, ...] | str) -> list[str]:
    """Normalize scopes given as ``read`` or ``ai_analytics:read`` (a list, or one comma-separated string).

    Raises
    ------
    ValidationError
        If a scope is not one of the nine permissions, or none is given (field ``scopes``).
    """
    if isinstance(scopes, str):
        scopes = [p for p in scopes.split(",")]
    out: list[str] = []
    for raw in scopes:
        name = str(raw).strip()
        name = name.removeprefix(SCOPE_PREFIX)
        if not name:
            continue
        if name not in PERMISSIONS:
            raise ValidationError(
                f"Unknown scope {raw!r}; allowed: {', '.join(SCOPE_PREFIX + p for p in PERMISSIONS)}.",
                field="scopes")
        if name not in out:
            out.append(name)
    if not out:
        raise ValidationError("Give the key at least one scope, e.g. ai_analytics:read.", field="scopes")
    return [p for p in PERMISSIONS if p in out]


def create_key(principal: Principal, name: str, scopes: list[str] | str, *, expires_at: datetime | None = None,
               client: str = "") -> tuple[ApiKeyRecord, str]:
    """Create an API key of the caller's organization. Needs ``manage``.

    Parameters
    ----------
    name : str
        What the key is for ("CRM lead scoring"), 1 to 100 characters.
    scopes : list of str or str
        Permissions the key may use (``read`` or ``ai_analytics:read``).
    expires_at : datetime, optional
        When the key stops working (timezone-aware, in the future); None: never.

    Returns
    -------
    (ApiKeyRecord, str)
        The stored key and its token, which is shown now and never again.

    Raises
    ------
    ValidationError
        For an empty or too long name, an unknown scope or an expiry in the past.
    """
    require(principal, "manage")
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationError(f"A key needs a name of 1 to {MAX_NAME} characters.", field="name")
    scope_list = parse_scopes(scopes)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationError("Give the expiry with a time zone (e.g. 2027-01-31T00:00:00Z).", field="expires_at")
        if expires_at <= datetime.now(UTC):
            raise ValidationError("The expiry must be in the future.", field="expires_at")
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    with tenant_session(principal.tenant_id) as s:
        rec = api_key_store.insert_key(s, tenant_id=principal.tenant_id, key_id=key_id, secret_hash=_hash(secret),
                                       name=name, scopes=scope_list, user_id=principal.user_id,
                                       expires_at=expires_at)
        audit.record(principal.tenant_id, "api_key_created", actor=principal, target=f"api key {key_id} '{name}'",
                     details={"scopes": scope_list, "expires_at": expires_at.isoformat() if expires_at else None},
                     client=client, session=s)
    return rec, f"{PREFIX}_{key_id}_{secret}"


def list_keys(principal: Principal, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
    """The organization's API keys, newest first (never their secrets). Needs ``manage``."""
    require(principal, "manage")
    flush_usage()
    with tenant_session(principal.tenant_id) as s:
        return api_key_store.list_keys(s, include_revoked=include_revoked)


def revoke_key(principal: Principal, key_pk: int, *, client: str = "") -> ApiKeyRecord:
    """Revoke a key of the organization now; its next request gets 401. Needs ``manage``.

    Raises
    ------
    NotFound
        If the key is not in the caller's organization.
    """
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        rec, changed = api_key_store.revoke_key(s, key_pk, by_user=principal.user_id)
        if changed:
            audit.record(principal.tenant_id, "api_key_revoked", actor=principal,
                         target=f"api key {rec.key_id} '{rec.name}'", client=client, session=s)
    return rec


def _denied(message: str, code: str) -> PermissionDenied:
    return PermissionDenied(message, code=code)


def authenticate(token: str) -> Principal:
    """The principal a bearer token stands for.

    Raises
    ------
    PermissionDenied
        ``invalid_api_key`` for a malformed, unknown or wrong token,
        ``api_key_revoked``, ``api_key_expired``, or ``api_key_user_inactive``
        when the user the key acts for is no longer active.
    """
    from aihub.db.engine import get_database

    m = _TOKEN_RE.match(token or "")
    if m is None:
        raise _denied("The API key is not valid. Send 'Authorization: Bearer aihub_...'.", "invalid_api_key")
    key_id, secret = m.groups()
    auth = api_key_store.authenticate_lookup(get_database().app, key_id)  # one round trip
    found = auth.key if auth else None
    expected = found.secret_hash if found else _hash(secrets.token_urlsafe(32))
    if not hmac.compare_digest(expected, _hash(secret)) or found is None:
        raise _denied("The API key is not valid. Send 'Authorization: Bearer aihub_...'.", "invalid_api_key")
    if found.revoked_at is not None:
        raise _denied("This API key was revoked. Ask an admin of your organization for a new one.",
                      "api_key_revoked")
    if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
        raise _denied("This API key has expired. Ask an admin of your organization for a new one.",
                      "api_key_expired")
    if found.user_id is None or not auth.user_active:
        raise _denied("The user this API key acts for is no longer active. Ask an admin for a new key.",
                      "api_key_user_inactive")
    return Principal(found.tenant_id, int(found.user_id), auth.username, auth.role, auth.tenant_name,
                     auth.user_name, scopes=frozenset(found.scopes), api_key_id=found.id)


# ====================================================================== usage counters
_usage: dict[tuple[int, int], list] = defaultdict(lambda: [0, None])
_usage_lock = threading.Lock()


def record_use(principal: Principal) -> None:
    """Count one request of the principal's key (kept in memory until :func:`flush_usage`)."""
    if principal.api_key_id is None:
        return
    with _usage_lock:
        entry = _usage[(principal.tenant_id, principal.api_key_id)]
        entry[0] += 1
        entry[1] = datetime.now(UTC)


def flush_usage() -> int:
    """Write the counted requests and last-used times to the keys; returns how many requests were written.

    A database error keeps the counts for the next flush (logged, not raised).
    """
    with _usage_lock:
        pending = dict(_usage)
        _usage.clear()
    by_tenant: dict[int, list[tuple[int, int, datetime]]] = defaultdict(list)
    for (tenant_id, key_pk), (n, when) in pending.items():
        by_tenant[tenant_id].append((key_pk, n, when))
    written = 0
    for tenant_id, rows in by_tenant.items():
        try:
            with tenant_session(tenant_id) as s:
                api_key_store.add_usage(s, rows)
            written += sum(n for _, n, _ in rows)
        except Exception as exc:  # noqa: BLE001 - counting must never break the API; keep for the next flush
            log.warning("API key usage of tenant %s not written yet: %s", tenant_id, exc)
            with _usage_lock:
                for key_pk, n, when in rows:
                    entry = _usage[(tenant_id, key_pk)]
                    entry[0] += n
                    entry[1] = max(entry[1] or when, when)
    return written


# ====================================================================== idempotency of POSTs
#: How long a remembered reply is replayed (Stripe keeps them 24 hours).
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 200


def claim_idempotency(principal: Principal, key: str, request_hash: str) -> IdempotentReply | None:
    """Claim an ``Idempotency-Key`` of the principal's API key for a request with ``request_hash``.

    Returns
    -------
    IdempotentReply or None
        None when the key is new (the caller does the work, then calls
        :func:`store_idempotent_reply` or :func:`release_idempotency`); else
        the earlier request's reply (``status_code`` None while it is still being answered).

    Raises
    ------
    ValidationError
        If ``key`` is empty or longer than 200 characters (field ``Idempotency-Key``).
    """
    if principal.api_key_id is None:
        raise ValidationError("Idempotency keys belong to API keys.", field="Idempotency-Key")
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters.",
                              field="Idempotency-Key")
    with tenant_session(principal.tenant_id) as s:
        api_key_store.expire_idempotency(s, IDEMPOTENCY_TTL)
        return api_key_store.claim_idempotency(s, tenant_id=principal.tenant_id, api_key_id=principal.api_key_id,
                                               key=key, request_hash=request_hash)


def store_idempotent_reply(principal: Principal, key: str, *, status_code: int, body: bytes,
                           content_type: str | None, location: str | None) -> None:
    """Remember the reply to a claimed ``Idempotency-Key``."""
    with tenant_session(principal.tenant_id) as s:
        api_key_store.store_idempotent_reply(s, api_key_id=principal.api_key_id, key=key, status_code=status_code,
                                             response=body, content_type=content_type, location=location)


def release_idempotency(principal: Principal, key: str) -> None:
    """Forget a claimed ``Idempotency-Key`` whose request failed, so a retry runs it again."""
    with tenant_session(principal.tenant_id) as s:
        api_key_store.release_idempotency(s, api_key_id=principal.api_key_id, key=key)
