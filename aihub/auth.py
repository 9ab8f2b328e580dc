"""Roles, permissions, users, log-in, server-side sessions and lock-out.

Permissions follow the product's ``ai_analytics:*`` scheme. Each service
function in :mod:`aihub` calls :func:`require` with the permission it needs,
so hiding a page in the UI is never the check.

=========  =================================================================
role       permissions
=========  =================================================================
viewer     read
analyst    read, create, update, predict, detect, generate, feedback,
           automation
admin      everything, including manage (users, deletion, settings)
=========  =================================================================

:func:`require` does not trust :attr:`Principal.role`: it reads the user's
current role, activity and version (one indexed query), so a demotion,
deactivation or password change takes effect on the user's next action,
even in a session that is already open.

Passwords are stored as bcrypt hashes (cost 12), never in clear. Log-in
(:func:`login`) counts each attempt per account and per client before the
password is checked (:class:`LoginPolicy`: back-off, then lock-out; OWASP
Authentication Cheat Sheet, "Protect against automated attacks"; NIST SP
800-63B section 5.2.2), and an unknown e-mail costs the same bcrypt check as
a known one. A successful log-in opens a server-side session
(:func:`open_session`); the browser keeps only its random token, which
logout, a password change, deactivation and a role change revoke.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import bcrypt
from sqlalchemy.orm import Session

from aihub import audit
from aihub.db import audit_store, owner_scans, user_store
from aihub.db.session import tenant_session
from aihub.db.user_store import LockRecord, SessionRecord
from aihub.db.user_store import UserRecord as UserInfo
from aihub.errors import Conflict, NotFound, PermissionDenied, ValidationError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "SESSION_LIFETIME",
    "LockRecord",
    "LoginPolicy",
    "Principal",
    "UserInfo",
    "account_locks",
    "acting_principal",
    "add_user",
    "authenticate",
    "change_password",
    "create_tenant",
    "end_session",
    "find_tenant",
    "hash_password",
    "list_audit_log",
    "list_users",
    "login",
    "open_session",
    "principal_for",
    "require",
    "resume_session",
    "set_user_role",
    "throttle_key",
    "unlock_account",
    "verify_password",
    "verify_session",
]

PERMISSIONS: tuple[str, ...] = (
    "read", "create", "update", "predict", "manage", "detect", "generate", "feedback", "automation",
)
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "analyst": frozenset(set(PERMISSIONS) - {"manage"}),
    "admin": frozenset(PERMISSIONS),
}
ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)
MIN_PASSWORD_LENGTH = 8
BCRYPT_COST = 12
#: Absolute lifetime of a login session (and of its cookie).
SESSION_LIFETIME = timedelta(days=7)
#: ``last_seen_at`` is written at most this often (not on every page run).
_TOUCH_EVERY = timedelta(minutes=5)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: What a user reads when their session ended, by the reason it was revoked.
_ENDED = {
    "logout": "You logged out. Log in again to continue.",
    "deactivated": "Your account has been deactivated. Ask an admin of your organization if this is a mistake.",
    "role_changed": "Your role was changed by an admin. Log in again to continue.",
    "password_changed": "Your password was changed. Log in again with the new password.",
    "expired": "Your session expired. Log in again.",
    None: "Your session has ended. Log in again.",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the user and the role.

    Every service function takes one as its first argument. ``role`` is what
    the user had when the principal was made; :func:`require` checks the
    current one. ``auth_version`` and ``session_id`` (web log-ins) tie the
    principal to the user's version and to an open session.
    """

    tenant_id: int
    user_id: int | None
    username: str
    role: str
    tenant_name: str = ""
    name: str = ""
    auth_version: int | None = None
    session_id: int | None = None
    #: An API key's scopes (None for a log-in): :func:`require` also needs the permission among them.
    scopes: frozenset[str] | None = None
    #: The API key the request came with (None for a log-in).
    api_key_id: int | None = None

    @property
    def permissions(self) -> frozenset[str]:
        """Permissions of :attr:`role`, within :attr:`scopes` for a key (for showing controls; :func:`require` decides)."""
        held = ROLE_PERMISSIONS.get(self.role, frozenset())
        return held if self.scopes is None else held & self.scopes

    def can(self, permission: str) -> bool:
        """Whether :attr:`role` holds ``ai_analytics:<permission>``."""
        return permission in self.permissions


def _ended(reason: str | None) -> PermissionDenied:
    return PermissionDenied(_ENDED.get(reason, _ENDED[None]), code="session_ended", details={"reason": reason})


def _current_role(principal: Principal, session: Session | None = None) -> str:
    if session is not None:
        rights = user_store.user_rights(session, principal.user_id, principal.session_id)
    else:
        with tenant_session(principal.tenant_id) as s:
            rights = user_store.user_rights(s, principal.user_id, principal.session_id)
    if rights is None or not rights.is_active:
        raise _ended("deactivated")
    if rights.session_open is False:
        raise _ended(None)
    if principal.auth_version is not None and rights.auth_version != principal.auth_version:
        raise _ended(None)
    return rights.role


def require(principal: Principal, permission: str) -> None:
    """Raise unless ``principal``'s user, as stored now, holds ``permission``.

    For a principal with a ``user_id``, the user's current role and activity
    are read (one indexed query in the tenant's session), and its session and
    version checked when the principal carries them.

    Raises
    ------
    PermissionDenied
        Naming the permission and the caller's current role; with code
        ``scope_missing`` when an API key's scopes lack it; with code
        ``session_ended`` when the user was deactivated, the session revoked,
        or the role or password changed since the principal was made.
    ValueError
        If ``permission`` is not one of :data:`PERMISSIONS` (a programming error).
    """
    require_in(None, principal, permission)


def require_in(session: Session | None, principal: Principal, permission: str) -> None:
    """:func:`require` inside an open tenant session of ``principal`` (a hot path saves a transaction).

    Raises
    ------
    PermissionDenied, ValueError
        As :func:`require`.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; allowed: {', '.join(PERMISSIONS)}")
    if principal.scopes is not None and permission not in principal.scopes:
        raise PermissionDenied(
            f"This API key lacks the scope ai_analytics:{permission}. Create a key with that scope.",
            code="scope_missing", details={"permission": permission})
    role = principal.role if principal.user_id is None else _current_role(principal, session)
    if permission not in ROLE_PERMISSIONS.get(role, frozenset()):
        raise PermissionDenied(
            f"Your role '{role}' lacks the permission ai_analytics:{permission}. "
            "Ask an admin of your organization for access.",
            details={"permission": permission, "role": role},
        )


# ====================================================================== passwords
def hash_password(password: str) -> str:
    """bcrypt hash of ``password`` (cost :data:`BCRYPT_COST`), as text.

    Raises
    ------
    ValidationError
        If the password is shorter than :data:`MIN_PASSWORD_LENGTH` characters
        or longer than bcrypt's 72 bytes.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if len(password.encode()) > 72:
        raise ValidationError("The password must have at most 72 bytes (bcrypt's limit).", field="password")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches the bcrypt ``password_hash``."""
    try:
        return bcrypt.checkpw(password.encode()[:72], password_hash.encode())
    except ValueError:
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random secret at the real cost: unknown e-mails are checked against it."""
    return bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(BCRYPT_COST)).decode()


def _validate_user(username: str, role: str) -> None:
    if not _EMAIL_RE.match(username) or len(username) > 200:
        raise ValidationError(f"'{username}' is not an e-mail address (at most 200 characters).", field="email")
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}; got {role!r}.", field="role")


def _normal(username: str) -> str:
    return (username or "").strip().lower()


# ====================================================================== tenants and users
def create_tenant(name: str, admin_email: str, admin_password: str, *, admin_name: str = "") -> Principal:
    """Create an organization and its first admin (owner connection; used by ``aihub init``).

    Parameters
    ----------
    name : str
        Organization name, unique.
    admin_email : str
        The admin's e-mail, also the login username.
    admin_password : str
        Clear-text password, hashed before storage.

    Returns
    -------
    Principal
        The new admin.

    Raises
    ------
    Conflict
        If the tenant name is taken.
    ValidationError
        If the name, e-mail or password is not acceptable.
    """
    name = name.strip()
    admin_email = _normal(admin_email)
    if not name:
        raise ValidationError("The organization needs a name.", field="tenant")
    _validate_user(admin_email, "admin")
    pw_hash = hash_password(admin_password)
    tenant_id, user = owner_scans.create_tenant_with_admin(
        name=name, username=admin_email, display_name=admin_name or admin_email.split("@")[0], password_hash=pw_hash)
    return Principal(tenant_id, user.id, user.username, "admin", name, user.name, user.auth_version)


def find_tenant(name: str) -> int | None:
    """Id of the tenant called ``name`` (owner connection), or None."""
    return owner_scans.find_tenant(name)


def list_users(principal: Principal) -> list[UserInfo]:
    """Users of the caller's tenant. Needs ``manage``."""
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        return user_store.list_users(s)


def add_user(principal: Principal, email: str, name: str, role: str, password: str, *, client: str = ""
             ) -> UserInfo:
    """Add a user to the caller's tenant. Needs ``manage``.

    Accounts belong to one organization: an e-mail with an account in another
    organization gets a separate account here, and nothing tells either admin.

    Raises
    ------
    Conflict
        If the caller's organization already has that e-mail.
    ValidationError
        For a bad e-mail, role or too short a password.
    """
    require(principal, "manage")
    email = _normal(email)
    _validate_user(email, role)
    pw_hash = hash_password(password)
    with tenant_session(principal.tenant_id) as s:
        user = user_store.insert_user(s, tenant_id=principal.tenant_id, username=email, name=name or email,
                                      password_hash=pw_hash, role=role)
        audit.record(principal.tenant_id, "user_added", actor=principal, target=f"user {email}",
                     details={"role": role}, client=client, session=s)
        return user


def _revoke(s, principal: Principal, user: UserInfo, reason: str, client: str) -> None:
    n = user_store.revoke_sessions(s, reason, user_id=user.id)
    if n:
        audit.record(principal.tenant_id, "session_revoked", actor=principal, target=f"user {user.username}",
                     details={"reason": reason, "sessions": n}, client=client, session=s)


def set_user_role(principal: Principal, user_id: int, role: str, *, active: bool | None = None, client: str = ""
                  ) -> UserInfo:
    """Change a user's role (and optionally activity). Needs ``manage``.

    Any change revokes the user's open sessions and bumps their version, so
    their next action (in any open tab, or a callback already running) is
    checked against the new state.

    Raises
    ------
    NotFound
        If the user is not in the caller's tenant.
    Conflict
        If the change would leave the tenant without an active admin.
    """
    require(principal, "manage")
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}; got {role!r}.", field="role")
    with tenant_session(principal.tenant_id) as s:
        before, after = user_store.update_user(s, user_id, role=role, active=active)
        if not user_store.count_active_admins(s):
            raise Conflict("The organization must keep at least one active admin.", field="role")
        target = f"user {after.username}"
        if before.role != after.role:
            audit.record(principal.tenant_id, "role_changed", actor=principal, target=target,
                         details={"from": before.role, "to": after.role}, client=client, session=s)
        if before.is_active != after.is_active:
            audit.record(principal.tenant_id, "user_activated" if after.is_active else "user_deactivated",
                         actor=principal, target=target, client=client, session=s)
        if before.auth_version != after.auth_version:
            _revoke(s, principal, after, "deactivated" if not after.is_active else "role_changed", client)
        return after


def change_password(principal: Principal, user_id: int, new_password: str, *, current_password: str | None = None,
                    client: str = "") -> UserInfo:
    """Set a user's password and revoke all their sessions.

    A user changes their own password by giving the current one; an admin
    (``manage``) sets anyone's in the organization.

    Raises
    ------
    PermissionDenied
        If the current password is wrong, or the caller may not change this user's password.
    ValidationError
        If the new password is not acceptable.
    NotFound
        If the user is not in the caller's tenant.
    """
    own = user_id == principal.user_id and current_password is not None
    require(principal, "read" if own else "manage")
    pw_hash = hash_password(new_password)
    with tenant_session(principal.tenant_id) as s:
        if own and not verify_password(current_password, user_store.password_hash(s, user_id)):
            raise PermissionDenied("The current password is wrong.", field="current_password")
        _, after = user_store.update_user(s, user_id, password_hash=pw_hash)
        audit.record(principal.tenant_id, "password_changed", actor=principal, target=f"user {after.username}",
                     client=client, session=s)
        _revoke(s, principal, after, "password_changed", client)
        return after


# ====================================================================== log-in and throttling
@dataclass(frozen=True)
class LoginPolicy:
    """Back-off and lock-out of failed log-ins, per account (e-mail) and per client (address).

    Every attempt is counted before its password is checked; a success resets
    the account's count. Past ``backoff_after`` failures an attempt must wait
    ``base * 2**(failures - backoff_after)`` seconds (at most ``cap``) after the
    previous failure was answered; at ``lock_after`` failures the key is locked for
    ``lock_for`` (an admin can unlock an account sooner). Counts start over
    ``window`` after their first failure. Defaults follow OWASP's
    Authentication Cheat Sheet and stay well under NIST SP 800-63B's limit of
    100 consecutive failures per account.
    """

    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)
    account_backoff_after: int = 3
    account_backoff: tuple[float, float] = (1.0, 30.0)
    account_lock_after: int = 10
    client_backoff_after: int = 20
    client_backoff: tuple[float, float] = (0.5, 10.0)
    client_lock_after: int = 100

    def __post_init__(self) -> None:
        for name in ("account_lock_after", "client_lock_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")


DEFAULT_POLICY = LoginPolicy()


def throttle_key(scope: str, value: str) -> str:
    """SHA-256 hex of ``<scope>:<value>``: the throttle row's key (the typed text is never stored)."""
    return hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()


def _wait_text(seconds: float) -> str:
    if seconds < 90:
        n = max(1, math.ceil(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    n = math.ceil(seconds / 60)
    return f"{n} minutes"


def _engine():
    from aihub.db.engine import get_database

    return get_database().app


def login(username: str, password: str, *, client: str = "", policy: LoginPolicy = DEFAULT_POLICY
          ) -> list[Principal]:
    """Check an e-mail and password; the accounts it opens (one, or several organizations' with the same password).

    Parameters
    ----------
    username : str
        The e-mail typed (case and surrounding spaces ignored).
    password : str
    client : str
        The client's address as the web server saw it (:func:`aihub.webauth.client_address`).
    policy : LoginPolicy

    Returns
    -------
    list of Principal
        At least one; open a session for the chosen one with :func:`open_session`.

    Raises
    ------
    PermissionDenied
        ``login_failed`` for an unknown e-mail, an inactive account or a wrong
        password (one message for all, and the same bcrypt cost);
        ``login_throttled`` while the account or client must wait or is locked,
        with ``details["retry_after"]`` in seconds.
    """
    username = _normal(username)[:320]
    client = (client or "unknown")[:100]
    engine = _engine()
    candidates = user_store.login_candidates(engine, username) if username else []
    keys = {"account": throttle_key("account", username), "client": throttle_key("client", client)}
    states, refused = user_store.throttle_attempt(
        engine, keys, window=policy.window,
        backoff_after={"account": policy.account_backoff_after, "client": policy.client_backoff_after},
        backoff={"account": policy.account_backoff, "client": policy.client_backoff},
        lock_after={"account": policy.account_lock_after, "client": policy.client_lock_after},
        lock_for=policy.lock_for)
    if refused:
        wait = max(refused.values())
        audit.record(None, "login_failed", actor_name=username, client=client,
                     details={"reason": "throttled", "scopes": sorted(refused)})
        raise PermissionDenied(f"Too many failed log-ins. Try again in {_wait_text(wait)}.",
                               code="login_throttled", details={"retry_after": math.ceil(wait)})
    matched = [c for c in candidates if verify_password(password, c.password_hash)]
    if not candidates:
        verify_password(password, _dummy_hash())
    if not matched:
        user_store.throttle_failed(engine, keys)
        _record_failure(username, client, candidates, states, policy)
        raise PermissionDenied("Wrong e-mail or password.", code="login_failed")
    user_store.throttle_success(engine, keys["account"], keys["client"], policy.client_lock_after)
    return [Principal(c.tenant_id, c.user_id, c.username, c.role, c.tenant_name, c.name, c.auth_version)
            for c in matched]


def _record_failure(username: str, client: str, candidates, states, policy: LoginPolicy) -> None:
    by_scope = {st.scope: st for st in states}
    locked_now = [scope for scope, lim in (("account", policy.account_lock_after),
                                           ("client", policy.client_lock_after))
                  if by_scope[scope].failures == lim]
    details = {"failures": by_scope["account"].failures}
    for c in candidates or [None]:
        tenant = c.tenant_id if c else None
        who = {"actor_id": c.user_id if c else None, "actor_name": username, "target": f"user {username}",
                   "client": client}
        audit.record(tenant, "login_failed", details={**details, "reason": "wrong_password"}, **who)
        if locked_now:
            audit.record(tenant, "login_locked", details={"scopes": locked_now, **details,
                                                          "locked_for_minutes": int(policy.lock_for.total_seconds() // 60)},
                         **who)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(principal: Principal, *, client: str = "", lifetime: timedelta = SESSION_LIFETIME
                 ) -> tuple[Principal, str]:
    """Open a server-side session for a principal :func:`login` returned.

    Returns
    -------
    (Principal, str)
        The principal bound to the session, and the session's random token
        (256 bits, URL-safe) for the cookie. Only its SHA-256 is stored.
    """
    token = secrets.token_urlsafe(32)
    with tenant_session(principal.tenant_id) as s:
        sid = user_store.insert_session(
            s, tenant_id=principal.tenant_id, user_id=principal.user_id, token_hash=_token_hash(token),
            auth_version=principal.auth_version or 1, client=client, expires_at=datetime.now(UTC) + lifetime)
        audit.record(principal.tenant_id, "login_succeeded", actor=principal, target=f"user {principal.username}",
                     client=client, session=s)
    return replace(principal, session_id=sid), token


def _session_principal(s, tenant_id: int, rec: SessionRecord | None) -> Principal:
    if rec is None:
        raise _ended(None)
    if rec.revoked_at is not None:
        raise _ended(rec.revoked_reason)
    if not rec.user_active:
        raise _ended("deactivated")
    if rec.expires_at <= datetime.now(UTC):
        raise _ended("expired")
    if rec.user_version != rec.session_version:
        raise _ended(None)
    if datetime.now(UTC) - rec.last_seen_at > _TOUCH_EVERY:
        user_store.touch_session(s, rec.id)
    return Principal(tenant_id, rec.user_id, rec.username, rec.role, rec.tenant_name, rec.name, rec.user_version,
                     rec.id)


def resume_session(tenant_id: int, token: str) -> Principal:
    """The principal of the open session whose token is ``token`` (from a cookie).

    Raises
    ------
    PermissionDenied
        ``session_ended`` (its message says why: logged out, deactivated, role
        or password changed, expired) when the session is not open.
    """
    if not isinstance(tenant_id, int) or tenant_id <= 0 or not token:
        raise _ended(None)
    with tenant_session(tenant_id) as s:
        return _session_principal(s, tenant_id, user_store.find_session(s, token_hash=_token_hash(token)))


def verify_session(principal: Principal) -> Principal:
    """``principal`` refreshed from its session (call on every page run). Raises like :func:`resume_session`."""
    if principal.session_id is None:
        raise _ended(None)
    with tenant_session(principal.tenant_id) as s:
        return _session_principal(s, principal.tenant_id, user_store.find_session(s, session_id=principal.session_id))


def end_session(principal: Principal, *, client: str = "") -> None:
    """Log out: revoke the principal's session, so its cookie no longer logs anyone in."""
    if principal.session_id is None:
        return
    with tenant_session(principal.tenant_id) as s:
        if user_store.revoke_sessions(s, "logout", session_id=principal.session_id):
            audit.record(principal.tenant_id, "logout", actor=principal, target=f"user {principal.username}",
                         client=client, session=s)


def authenticate(username: str, password: str, *, tenant_id: int | None = None, client: str = "cli") -> Principal:
    """Check an e-mail and password for the CLI and API (throttled like the web log-in).

    Raises
    ------
    PermissionDenied
        As :func:`login`.
    Conflict
        If the password opens accounts in several organizations and ``tenant_id`` does not pick one.
    """
    found = [p for p in login(username, password, client=client) if tenant_id in (None, p.tenant_id)]
    if not found:
        raise PermissionDenied("Wrong e-mail or password.", code="login_failed")
    if len(found) > 1:
        raise Conflict("This e-mail has accounts in several organizations; name the organization.", field="tenant")
    return found[0]


def principal_for(username: str, tenant_id: int | None = None) -> Principal:
    """The :class:`Principal` of an active user (operator tools and tests; no password).

    Raises
    ------
    NotFound
        If no active user has that e-mail (in ``tenant_id``, when given).
    Conflict
        If the e-mail has accounts in several organizations and ``tenant_id`` is not given.
    """
    found = [c for c in user_store.login_candidates(_engine(), _normal(username))
             if tenant_id in (None, c.tenant_id)]
    if not found:
        raise NotFound(f"No active user '{username}'.")
    if len(found) > 1:
        raise Conflict(f"'{username}' has accounts in several organizations; name the organization.",
                       field="tenant")
    c = found[0]
    return Principal(c.tenant_id, c.user_id, c.username, c.role, c.tenant_name, c.name, c.auth_version)


def acting_principal(tenant_id: int, user_id: int | None) -> Principal:
    """The principal scheduled work runs as: the user who set it up, while that user is active.

    Background work (syncs on a schedule, drift checks) acts for the person
    who set it up, with that person's current role, so their permission checks
    still apply. It never falls back to another account: a deactivated user's
    schedule must not keep running with an admin's rights (workflows refuse the
    same way, :func:`aihub.workflows.engine.owner_principal`).

    Raises
    ------
    PermissionDenied
        If ``user_id`` is None (the user was removed) or that user is no longer
        active in the tenant; the message says who must take the work over.
    """
    with tenant_session(tenant_id) as s:
        user = user_store.active_user(s, user_id) if user_id else None
        if user is None:
            raise PermissionDenied("The person who set this up is no longer an active user, so it does not run "
                                   "in their name. An analyst or admin must take it over.")
        name = user_store.tenant_name(s, tenant_id)
    return Principal(tenant_id, user.id, user.username, user.role, name, user.name, user.auth_version)


# ====================================================================== admin: locks and audit log
def account_locks(principal: Principal) -> list[LockRecord]:
    """The organization's accounts locked by failed log-ins now. Needs ``manage``."""
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        return user_store.account_locks(s)


def unlock_account(principal: Principal, user_id: int, *, client: str = "") -> bool:
    """Lift the log-in lock of a user of the organization. Needs ``manage``; True if it was locked.

    Raises
    ------
    NotFound
        If the user is not in the caller's tenant.
    """
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        user = user_store.get_user(s, user_id)
        was = user_store.clear_account_lock(s, user.username, throttle_key("account", user.username))
        audit.record(principal.tenant_id, "account_unlocked", actor=principal, target=f"user {user.username}",
                     details={"was_locked": was}, client=client, session=s)
        return was


def list_audit_log(principal: Principal, *, limit: int = 200, events: tuple[str, ...] = ()
                   ) -> list[audit_store.AuditRecord]:
    """The organization's audit log, newest first. Needs ``manage``.

    Raises
    ------
    ValidationError
        If ``limit`` is not between 1 and 5000 or an event is not one of :data:`aihub.audit.EVENTS`.
    """
    require(principal, "manage")
    if not 1 <= limit <= 5000:
        raise ValidationError(f"limit must be between 1 and 5000; got {limit}.", field="limit")
    unknown = set(events) - set(audit.EVENTS)
    if unknown:
        raise ValidationError(f"Unknown audit events {sorted(unknown)}; allowed: {', '.join(audit.EVENTS)}.",
                              field="events")
    with tenant_session(principal.tenant_id) as s:
        return audit_store.list_events(s, limit=limit, events=tuple(events))
