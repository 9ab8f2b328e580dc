"""API keys and remembered idempotent replies (tenant-bound sessions; records out).

A key is found by its public ``key_id`` before the tenant is known, through
the SECURITY DEFINER functions ``aihub_api_key_lookup`` (migration 0010) and
``aihub_api_key_auth`` (migration 0023, the key with its user and
organization in one round trip): they return that one key, never a list. Everything else runs in the tenant's
session under row-level security.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from aihub.db.models import ApiIdempotency, ApiKey, User
from aihub.errors import NotFound


@dataclass(frozen=True)
class ApiKeyRecord:
    """One API key as an admin sees it (never its secret or hash)."""

    id: int
    key_id: str
    name: str
    scopes: list[str]
    user_id: int | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    request_count: int


@dataclass(frozen=True)
class KeyLookup:
    """What the lookup function returns for a ``key_id``."""

    id: int
    tenant_id: int
    user_id: int | None
    secret_hash: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IdempotentReply:
    """A remembered reply; ``status_code`` is None while the first request is still being answered."""

    id: int
    request_hash: str
    status_code: int | None
    response: bytes | None
    content_type: str | None
    location: str | None
    created_at: datetime


def _record(k: ApiKey, created_by: str | None) -> ApiKeyRecord:
    return ApiKeyRecord(k.id, k.key_id, k.name, list(k.scopes), k.user_id, created_by, k.created_at, k.expires_at,
                        k.revoked_at, k.last_used_at, int(k.request_count))


def insert_key(s: Session, *, tenant_id: int, key_id: str, secret_hash: str, name: str, scopes: list[str],
               user_id: int | None, expires_at: datetime | None) -> ApiKeyRecord:
    """Store a new key; returns its record."""
    row = ApiKey(tenant_id=tenant_id, key_id=key_id, secret_hash=secret_hash, name=name, scopes=scopes,
                 user_id=user_id, expires_at=expires_at)
    s.add(row)
    s.flush()
    s.refresh(row)
    return get_key(s, row.id)


def get_key(s: Session, key_pk: int) -> ApiKeyRecord:
    """One key of the session's tenant. Raises NotFound outside it."""
    row = s.execute(sa.select(ApiKey, User.username).outerjoin(User, User.id == ApiKey.user_id)
                    .where(ApiKey.id == key_pk)).first()
    if row is None:
        raise NotFound(f"No API key {key_pk} in your organization.")
    return _record(*row)


def list_keys(s: Session, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
    """The tenant's keys, newest first."""
    q = (sa.select(ApiKey, User.username).outerjoin(User, User.id == ApiKey.user_id)
         .order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))
    if not include_revoked:
        q = q.where(ApiKey.revoked_at.is_(None))
    return [_record(k, u) for k, u in s.execute(q).all()]


def revoke_key(s: Session, key_pk: int, *, by_user: int | None) -> tuple[ApiKeyRecord, bool]:
    """Mark a key revoked (once); returns its record and whether this call revoked it."""
    before = get_key(s, key_pk)
    if before.revoked_at is not None:
        return before, False
    s.execute(sa.update(ApiKey).where(ApiKey.id == key_pk).values(revoked_at=sa.func.now(), revoked_by=by_user))
    return get_key(s, key_pk), True


def lookup(engine: sa.Engine, key_id: str) -> KeyLookup | None:
    """The key with public id ``key_id`` in any tenant (through ``aihub_api_key_lookup``), or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM aihub_api_key_lookup(:k)"), {"k": key_id}).mappings().first()
    if row is None:
        return None
    return KeyLookup(int(row["id"]), int(row["tenant_id"]), row["user_id"], row["secret_hash"],
                     list(row["scopes"] or []), row["expires_at"], row["revoked_at"])


@dataclass(frozen=True)
class KeyAuth:
    """What ``aihub_api_key_auth`` returns for a ``key_id``: the key, its user and its organization's name."""

    key: KeyLookup
    user_active: bool
    username: str | None
    role: str | None
    user_name: str | None
    tenant_name: str


def authenticate_lookup(engine: sa.Engine, key_id: str) -> KeyAuth | None:
    """The key with public id ``key_id`` with its user and organization, in one round trip, or None.

    Runs ``aihub_api_key_auth`` on an autocommit connection: one statement, no transaction to begin or end.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(sa.text("SELECT * FROM aihub_api_key_auth(:k)"), {"k": key_id}).mappings().first()
    if row is None:
        return None
    key = KeyLookup(int(row["id"]), int(row["tenant_id"]), row["user_id"], row["secret_hash"],
                    list(row["scopes"] or []), row["expires_at"], row["revoked_at"])
    return KeyAuth(key, bool(row["user_active"]), row["username"], row["role"], row["user_name"],
                   row["tenant_name"] or "")


def add_usage(s: Session, counts: Iterable[tuple[int, int, datetime]]) -> None:
    """Add request counts and last-used times: ``(key pk, requests, last used)`` rows of the session's tenant."""
    for key_pk, n, when in counts:
        s.execute(sa.update(ApiKey).where(ApiKey.id == key_pk).values(
            request_count=ApiKey.request_count + n,
            last_used_at=sa.func.greatest(sa.func.coalesce(ApiKey.last_used_at, when), when)))


# ============================================================== idempotency
def claim_idempotency(s: Session, *, tenant_id: int, api_key_id: int, key: str, request_hash: str
                      ) -> IdempotentReply | None:
    """Claim ``key`` for this request; None when claimed now, else the earlier request's (maybe pending) reply."""
    inserted = s.execute(
        pg_insert(ApiIdempotency)
        .values(tenant_id=tenant_id, api_key_id=api_key_id, idempotency_key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["tenant_id", "api_key_id", "idempotency_key"])
        .returning(ApiIdempotency.id)
    ).scalar()
    if inserted is not None:
        return None
    row = s.scalars(sa.select(ApiIdempotency).where(
        ApiIdempotency.api_key_id == api_key_id, ApiIdempotency.idempotency_key == key)).one()
    return IdempotentReply(row.id, row.request_hash, row.status_code, row.response, row.content_type, row.location,
                           row.created_at)


def store_idempotent_reply(s: Session, *, api_key_id: int, key: str, status_code: int, response: bytes,
                           content_type: str | None, location: str | None) -> None:
    """Remember the reply of a claimed key."""
    s.execute(sa.update(ApiIdempotency).where(ApiIdempotency.api_key_id == api_key_id,
                                              ApiIdempotency.idempotency_key == key)
              .values(status_code=status_code, response=response, content_type=content_type, location=location))


def release_idempotency(s: Session, *, api_key_id: int, key: str) -> None:
    """Forget a claimed key whose request ended without a reply worth replaying (a server error)."""
    s.execute(sa.delete(ApiIdempotency).where(ApiIdempotency.api_key_id == api_key_id,
                                              ApiIdempotency.idempotency_key == key))


def expire_idempotency(s: Session, older_than: timedelta) -> int:
    """Delete the tenant's remembered replies older than ``older_than``; returns how many."""
    res = s.execute(sa.delete(ApiIdempotency).where(ApiIdempotency.created_at < sa.func.now() - older_than))
    return int(res.rowcount or 0)
