"""Roles, permissions, users and the login directory.

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

Passwords are stored as bcrypt hashes (the format streamlit-authenticator
verifies), never in clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import bcrypt
import sqlalchemy as sa

from aihub.db.models import Tenant, User
from aihub.db.session import owner_session, tenant_session
from aihub.errors import Conflict, NotFound, PermissionDenied, ValidationError

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
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the user and the role.

    Every service function takes one as its first argument.
    """

    tenant_id: int
    user_id: int | None
    username: str
    role: str
    tenant_name: str = ""
    name: str = ""

    @property
    def permissions(self) -> frozenset[str]:
        """Permissions of :attr:`role`."""
        return ROLE_PERMISSIONS.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        """Whether this principal holds ``ai_analytics:<permission>``."""
        return permission in self.permissions


def require(principal: Principal, permission: str) -> None:
    """Raise unless ``principal`` holds ``permission``.

    Raises
    ------
    PermissionDenied
        Naming the permission and the caller's role.
    ValueError
        If ``permission`` is not one of :data:`PERMISSIONS` (a programming error).
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; allowed: {', '.join(PERMISSIONS)}")
    if not principal.can(permission):
        raise PermissionDenied(
            f"Your role '{principal.role}' lacks the permission ai_analytics:{permission}. "
            "Ask an admin of your organization for access.",
            details={"permission": permission, "role": principal.role},
        )


def hash_password(password: str) -> str:
    """bcrypt hash of ``password`` (cost 12), as text.

    Raises
    ------
    ValidationError
        If the password is shorter than :data:`MIN_PASSWORD_LENGTH` characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches the bcrypt ``password_hash``."""
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


def _validate_user(username: str, email: str, role: str) -> None:
    if not _EMAIL_RE.match(email):
        raise ValidationError(f"'{email}' is not an e-mail address.", field="email")
    if not username or len(username) > 200:
        raise ValidationError("The username must have 1 to 200 characters.", field="username")
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}; got {role!r}.", field="role")


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
        If the tenant name or the e-mail is taken.
    ValidationError
        If the name, e-mail or password is not acceptable.
    """
    name = name.strip()
    admin_email = admin_email.strip().lower()
    if not name:
        raise ValidationError("The organization needs a name.", field="tenant")
    _validate_user(admin_email, admin_email, "admin")
    pw_hash = hash_password(admin_password)
    with owner_session() as s:
        if s.scalar(sa.select(Tenant.id).where(Tenant.name == name)):
            raise Conflict(f"An organization named '{name}' already exists.", field="tenant")
        if s.scalar(sa.select(User.id).where(User.username == admin_email)):
            raise Conflict(f"A user '{admin_email}' already exists.", field="admin")
        tenant = Tenant(name=name)
        s.add(tenant)
        s.flush()
        user = User(
            tenant_id=tenant.id, username=admin_email, email=admin_email,
            name=admin_name or admin_email.split("@")[0], password_hash=pw_hash, role="admin",
        )
        s.add(user)
        s.flush()
        return Principal(tenant.id, user.id, user.username, "admin", tenant.name, user.name)


def find_tenant(name: str) -> int | None:
    """Id of the tenant called ``name`` (owner connection), or None."""
    with owner_session() as s:
        return s.scalar(sa.select(Tenant.id).where(Tenant.name == name))


@dataclass(frozen=True)
class UserInfo:
    """A user as the admin page lists it (no password hash)."""

    id: int
    username: str
    email: str
    name: str
    role: str
    is_active: bool


def list_users(principal: Principal) -> list[UserInfo]:
    """Users of the caller's tenant. Needs ``manage``."""
    require(principal, "manage")
    with tenant_session(principal.tenant_id) as s:
        rows = s.scalars(sa.select(User).order_by(User.username)).all()
        return [UserInfo(u.id, u.username, u.email, u.name, u.role, u.is_active) for u in rows]


def add_user(principal: Principal, email: str, name: str, role: str, password: str) -> UserInfo:
    """Add a user to the caller's tenant. Needs ``manage``.

    Raises
    ------
    Conflict
        If the e-mail is taken (in any tenant: usernames are global).
    ValidationError
        For a bad e-mail, role or too short a password.
    """
    require(principal, "manage")
    email = email.strip().lower()
    _validate_user(email, email, role)
    pw_hash = hash_password(password)
    with tenant_session(principal.tenant_id) as s:
        taken = s.execute(
            sa.text("SELECT 1 FROM aihub_login_directory() WHERE username = :u"), {"u": email}
        ).scalar()
        if taken:
            raise Conflict(f"A user '{email}' already exists.", field="email")
        user = User(tenant_id=principal.tenant_id, username=email, email=email, name=name or email,
                    password_hash=pw_hash, role=role)
        s.add(user)
        s.flush()
        return UserInfo(user.id, user.username, user.email, user.name, user.role, user.is_active)


def set_user_role(principal: Principal, user_id: int, role: str, *, active: bool | None = None) -> UserInfo:
    """Change a user's role (and optionally activity). Needs ``manage``.

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
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"No user with id {user_id} in your organization.")
        user.role = role
        if active is not None:
            user.is_active = active
        s.flush()
        admins = s.scalar(sa.select(sa.func.count()).where(User.role == "admin", User.is_active))
        if not admins:
            raise Conflict("The organization must keep at least one active admin.", field="role")
        return UserInfo(user.id, user.username, user.email, user.name, user.role, user.is_active)


@dataclass(frozen=True)
class DirectoryEntry:
    """What login needs of one active user."""

    username: str
    name: str
    email: str
    password_hash: str
    role: str
    tenant_id: int
    tenant_name: str

    def principal(self, user_id: int | None = None) -> Principal:
        """The :class:`Principal` this user acts as."""
        return Principal(self.tenant_id, user_id, self.username, self.role, self.tenant_name, self.name)


def login_directory(engine: sa.Engine | None = None) -> dict[str, DirectoryEntry]:
    """Every active user keyed by username, through ``aihub_login_directory()``.

    This is the only read past row-level security the app role has; it returns
    nothing but what login needs.
    """
    from aihub.db.engine import get_database

    engine = engine or get_database().app
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM aihub_login_directory()")).mappings().all()
    return {r["username"]: DirectoryEntry(**r) for r in rows}


def principal_for(username: str) -> Principal:
    """The :class:`Principal` of an active user, with the user id resolved in-tenant.

    Raises
    ------
    NotFound
        If no active user has that username.
    """
    entry = login_directory().get(username)
    if entry is None:
        raise NotFound(f"No active user '{username}'.")
    with tenant_session(entry.tenant_id) as s:
        user_id = s.scalar(sa.select(User.id).where(User.username == username))
    return entry.principal(user_id)


def authenticate(username: str, password: str) -> Principal:
    """Check a username and password (CLI and API use; the web login uses streamlit-authenticator).

    Raises
    ------
    PermissionDenied
        On an unknown user or a wrong password (the same message for both).
    """
    entry = login_directory().get(username)
    if entry is None or not verify_password(password, entry.password_hash):
        raise PermissionDenied("Wrong username or password.")
    return principal_for(username)


def acting_principal(tenant_id: int, user_id: int | None = None) -> Principal:
    """The principal scheduled work runs as: ``user_id`` if still active, else the tenant's first active admin.

    Background work (syncs on a schedule, workflow actions) acts for the person
    who set it up, and its permission checks still apply.

    Raises
    ------
    NotFound
        If the tenant has no active user to act as.
    """
    with tenant_session(tenant_id) as s:
        user = s.get(User, user_id) if user_id else None
        if user is None or not user.is_active:
            user = s.scalars(sa.select(User).where(User.is_active, User.role == "admin").order_by(User.id)).first()
        if user is None:
            raise NotFound(f"Organization {tenant_id} has no active admin to run scheduled work as.")
        tenant_name = s.scalar(sa.select(Tenant.name).where(Tenant.id == tenant_id)) or ""
        return Principal(tenant_id, user.id, user.username, user.role, tenant_name, user.name)
