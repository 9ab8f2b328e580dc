"""Queries of tenants, users, login sessions and the login throttle (records out, never ORM rows).

Three kinds of access, each the narrowest that works:

* in-tenant functions take a :func:`~aihub.db.session.tenant_session`, so
  row-level security applies (users, sessions, locks of one organization);
* :func:`login_candidates` is the only read past row-level security: the
  SECURITY DEFINER function ``aihub_login_lookup(e-mail)`` returns the active
  accounts of the one e-mail being logged in, never a list of users;
* the throttle functions own their transaction on the app engine: the
  ``login_throttle`` table holds hashed keys only and no tenant data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from aihub.db.models import LoginThrottle, Tenant, User, UserSession
from aihub.errors import Conflict, NotFound


@dataclass(frozen=True)
class UserRecord:
    """A user as the admin page lists it (no password hash)."""

    id: int
    username: str
    email: str
    name: str
    role: str
    is_active: bool
    auth_version: int = 1


@dataclass(frozen=True)
class LoginCandidate:
    """What login needs of one active account of an e-mail."""

    user_id: int
    tenant_id: int
    username: str
    name: str
    password_hash: str
    role: str
    auth_version: int
    tenant_name: str


@dataclass(frozen=True)
class UserRights:
    """A user's current role and state, and whether a given session is still open."""

    role: str
    is_active: bool
    auth_version: int
    session_open: bool | None


@dataclass(frozen=True)
class SessionRecord:
    """A login session joined with its user, as the cookie check needs it."""

    id: int
    user_id: int
    username: str
    name: str
    role: str
    tenant_name: str
    user_active: bool
    user_version: int
    session_version: int
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    last_seen_at: datetime


@dataclass(frozen=True)
class LockRecord:
    """A locked account of the tenant."""

    user_id: int
    username: str
    failures: int
    locked_until: datetime


@dataclass(frozen=True)
class ThrottleState:
    """One throttle row after an attempt was counted."""

    scope: str
    failures: int
    locked_until: datetime | None
    retry_after: float


def _user(u: User) -> UserRecord:
    return UserRecord(u.id, u.username, u.email, u.name, u.role, u.is_active, u.auth_version)


# ============================================================== tenants (owner connection)
def find_tenant(s: Session, name: str) -> int | None:
    """Id of the tenant called ``name``, or None (owner session)."""
    return s.scalar(sa.select(Tenant.id).where(Tenant.name == name))


def insert_tenant_with_admin(s: Session, *, name: str, username: str, display_name: str, password_hash: str
                             ) -> tuple[int, UserRecord]:
    """Create a tenant and its first admin (owner session). Raises Conflict when the name is taken."""
    if find_tenant(s, name):
        raise Conflict(f"An organization named '{name}' already exists.", field="tenant")
    tenant = Tenant(name=name)
    s.add(tenant)
    s.flush()
    user = User(tenant_id=tenant.id, username=username, email=username, name=display_name,
                password_hash=password_hash, role="admin")
    s.add(user)
    s.flush()
    return tenant.id, _user(user)


def tenant_name(s: Session, tenant_id: int) -> str:
    """The tenant's name ('' when not visible)."""
    return s.scalar(sa.select(Tenant.name).where(Tenant.id == tenant_id)) or ""


# ============================================================== users (tenant session)
def list_users(s: Session) -> list[UserRecord]:
    """The tenant's users by username."""
    return [_user(u) for u in s.scalars(sa.select(User).order_by(User.username))]


def get_user(s: Session, user_id: int) -> UserRecord:
    """A user of the tenant. Raises NotFound."""
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id} in your organization.")
    return _user(user)


def insert_user(s: Session, *, tenant_id: int, username: str, name: str, password_hash: str, role: str
                ) -> UserRecord:
    """Add a user to the tenant. Raises Conflict when the tenant already has that e-mail."""
    if s.scalar(sa.select(User.id).where(User.username == username)):
        raise Conflict(f"Your organization already has a user '{username}'.", field="email")
    user = User(tenant_id=tenant_id, username=username, email=username, name=name, password_hash=password_hash,
                role=role)
    s.add(user)
    s.flush()
    return _user(user)


def update_user(s: Session, user_id: int, *, role: str | None = None, active: bool | None = None,
                password_hash: str | None = None) -> tuple[UserRecord, UserRecord]:
    """Change a user's role, activity or password hash; bump ``auth_version`` when anything changed.

    Returns
    -------
    (UserRecord, UserRecord)
        The user before and after.

    Raises
    ------
    NotFound
        If the user is not in the tenant.
    """
    user = s.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"No user with id {user_id} in your organization.")
    before = _user(user)
    changed = False
    if role is not None and role != user.role:
        user.role, changed = role, True
    if active is not None and active != user.is_active:
        user.is_active, changed = active, True
    if password_hash is not None:
        user.password_hash, changed = password_hash, True
    if changed:
        user.auth_version += 1
    s.flush()
    return before, _user(user)


def password_hash(s: Session, user_id: int) -> str:
    """The stored bcrypt hash of a user of the tenant. Raises NotFound."""
    found = s.scalar(sa.select(User.password_hash).where(User.id == user_id))
    if found is None:
        raise NotFound(f"No user with id {user_id} in your organization.")
    return found


def count_active_admins(s: Session) -> int:
    """Active admins of the tenant."""
    return s.scalar(sa.select(sa.func.count()).where(User.role == "admin", User.is_active)) or 0


def user_rights(s: Session, user_id: int, session_id: int | None = None) -> UserRights | None:
    """The user's current role, activity and version, and whether ``session_id`` is open; None if no such user.

    One indexed query: every service call runs it through :func:`aihub.auth.require`.
    """
    cols = [User.role, User.is_active, User.auth_version]
    if session_id is not None:
        open_ = sa.select(sa.literal(True)).where(
            UserSession.id == session_id, UserSession.user_id == User.id, UserSession.revoked_at.is_(None),
            UserSession.expires_at > sa.func.now()).exists()
        cols.append(open_)
    # Core on the session's connection: the ORM's result processing doubled the cost of this hot query.
    row = s.connection().execute(sa.select(*cols).where(User.id == user_id)).first()
    if row is None:
        return None
    return UserRights(row[0], row[1], row[2], row[3] if session_id is not None else None)


def active_user(s: Session, user_id: int) -> UserRecord | None:
    """The user if it exists in the tenant and is active, else None."""
    user = s.get(User, user_id)
    return _user(user) if user is not None and user.is_active else None


# ============================================================== login lookup (past RLS, one e-mail)
def login_candidates(engine: sa.Engine, username: str) -> list[LoginCandidate]:
    """The active accounts of ``username`` (an e-mail) in every organization, through ``aihub_login_lookup``."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM aihub_login_lookup(:u)"), {"u": username}).mappings().all()
    return [LoginCandidate(**r) for r in rows]


# ============================================================== sessions (tenant session)
def insert_session(s: Session, *, tenant_id: int, user_id: int, token_hash: str, auth_version: int, client: str,
                   expires_at: datetime) -> int:
    """Store a new login session; returns its id."""
    row = UserSession(tenant_id=tenant_id, user_id=user_id, token_hash=token_hash, auth_version=auth_version,
                      client=client[:100], expires_at=expires_at)
    s.add(row)
    s.flush()
    return row.id


def find_session(s: Session, *, token_hash: str | None = None, session_id: int | None = None
                 ) -> SessionRecord | None:
    """The session with that token hash (or id), joined with its user and tenant, or None."""
    cond = UserSession.token_hash == token_hash if token_hash is not None else UserSession.id == session_id
    row = s.execute(
        sa.select(UserSession, User, Tenant.name).join(User, User.id == UserSession.user_id)
        .join(Tenant, Tenant.id == UserSession.tenant_id).where(cond)
    ).first()
    if row is None:
        return None
    sess, user, tname = row
    return SessionRecord(sess.id, user.id, user.username, user.name, user.role, tname, user.is_active,
                         user.auth_version, sess.auth_version, sess.expires_at, sess.revoked_at,
                         sess.revoked_reason, sess.last_seen_at)


def touch_session(s: Session, session_id: int) -> None:
    """Record that the session was used now."""
    s.execute(sa.update(UserSession).where(UserSession.id == session_id).values(last_seen_at=sa.func.now()))


def revoke_sessions(s: Session, reason: str, *, user_id: int | None = None, session_id: int | None = None) -> int:
    """Revoke the open sessions of a user, or one session; returns how many were open."""
    q = sa.update(UserSession).where(UserSession.revoked_at.is_(None))
    if session_id is not None:
        q = q.where(UserSession.id == session_id)
    elif user_id is not None:
        q = q.where(UserSession.user_id == user_id)
    else:
        raise ValueError("revoke_sessions needs user_id or session_id")
    return s.execute(q.values(revoked_at=sa.func.now(), revoked_reason=reason[:40])).rowcount


# ============================================================== throttle (own transaction, hashed keys)
def throttle_attempt(engine: sa.Engine, keys: dict[str, str], *, window: timedelta, backoff_after: dict[str, int],
                     backoff: dict[str, tuple[float, float]], lock_after: dict[str, int], lock_for: timedelta
                     ) -> tuple[list[ThrottleState], dict[str, float]]:
    """Count one log-in attempt against each ``{scope: key_hash}``, or refuse it.

    Each row is read ``FOR UPDATE``, so concurrent attempts are counted one by
    one (the attempt is counted before its password is checked; a success
    resets the account's row). A counter starts over once ``window`` has
    passed since its first failure, unless the row is locked.

    Returns
    -------
    (list of ThrottleState, dict)
        The rows after counting, and ``{scope: seconds to wait}`` for each scope
        that refused (empty when the attempt may go on; nothing is counted then).
    """
    with engine.begin() as conn:
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        rows: dict[str, dict] = {}
        for scope, key in keys.items():
            conn.execute(pg_insert(LoginThrottle).values(scope=scope, key_hash=key)
                         .on_conflict_do_nothing())
            r = conn.execute(sa.select(LoginThrottle.__table__).where(
                LoginThrottle.scope == scope, LoginThrottle.key_hash == key).with_for_update()).mappings().one()
            r = dict(r)
            lock_over = r["locked_until"] is not None and r["locked_until"] <= now
            if lock_over or (r["locked_until"] is None and now - r["window_started_at"] > window):
                r.update(failures=0, window_started_at=now, locked_until=None)
            rows[scope] = r
        refused: dict[str, float] = {}
        for scope, r in rows.items():
            if r["locked_until"] is not None:
                refused[scope] = (r["locked_until"] - now).total_seconds()
            elif r["failures"] >= backoff_after[scope] > 0:
                base, cap = backoff[scope]
                wait = min(base * 2 ** (r["failures"] - backoff_after[scope]), cap)
                left = wait - (now - r["last_attempt_at"]).total_seconds()
                if left > 0:
                    refused[scope] = left
        states = []
        for scope, r in rows.items():
            if not refused:
                r["failures"] += 1
                r["last_attempt_at"] = now
                if r["failures"] >= lock_after[scope]:
                    r["locked_until"] = now + lock_for
            conn.execute(sa.update(LoginThrottle).where(
                LoginThrottle.scope == scope, LoginThrottle.key_hash == keys[scope]).values(
                failures=r["failures"], window_started_at=r["window_started_at"],
                last_attempt_at=r["last_attempt_at"], locked_until=r["locked_until"]))
            states.append(ThrottleState(scope, r["failures"], r["locked_until"], refused.get(scope, 0.0)))
        return states, refused


def throttle_failed(engine: sa.Engine, keys: dict[str, str]) -> None:
    """A failed log-in finished: the back-off wait runs from now (a password check takes a while)."""
    with engine.begin() as conn:
        for scope, key in keys.items():
            conn.execute(sa.update(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key_hash == key)
                         .values(last_attempt_at=sa.func.now()))


def throttle_success(engine: sa.Engine, account_key: str, client_key: str, lock_after: int) -> None:
    """A successful log-in: forget the account's failures; uncount this attempt from the client's."""
    with engine.begin() as conn:
        conn.execute(sa.delete(LoginThrottle).where(LoginThrottle.scope == "account",
                                                    LoginThrottle.key_hash == account_key))
        failures = LoginThrottle.failures
        conn.execute(sa.update(LoginThrottle).where(
            LoginThrottle.scope == "client", LoginThrottle.key_hash == client_key).values(
            failures=sa.func.greatest(failures - 1, 0),
            locked_until=sa.case((failures - 1 < lock_after, None), else_=LoginThrottle.locked_until)))


def account_locks(s: Session) -> list[LockRecord]:
    """The tenant's users whose account key is locked now (tenant session)."""
    key = sa.func.encode(sa.func.sha256(sa.func.convert_to(sa.literal("account:") + User.username, "UTF8")), "hex")
    rows = s.execute(
        sa.select(User.id, User.username, LoginThrottle.failures, LoginThrottle.locked_until)
        .join(LoginThrottle, sa.and_(LoginThrottle.scope == "account", LoginThrottle.key_hash == key))
        .where(LoginThrottle.locked_until > sa.func.now()).order_by(User.username)
    ).all()
    return [LockRecord(*r) for r in rows]


def clear_account_lock(s: Session, username: str, key_hash: str) -> bool:
    """Remove the throttle row of a user of the tenant; True if it was locked. Raises NotFound for other users."""
    if not s.scalar(sa.select(User.id).where(User.username == username)):
        raise NotFound(f"No user '{username}' in your organization.")
    was = s.execute(sa.delete(LoginThrottle).where(
        LoginThrottle.scope == "account", LoginThrottle.key_hash == key_hash)
        .returning(LoginThrottle.locked_until)).scalar()
    return was is not None
