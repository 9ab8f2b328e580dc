"""Issue 10, "also expected": an audit-log row for each security-relevant event, per tenant, for admins only."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from aihub import auth
from aihub.errors import PermissionDenied, ValidationError
from tests.conftest import PASSWORD, new_tenant


def _events(admin) -> list[tuple[str, str]]:
    return [(e.event, e.target) for e in reversed(auth.list_audit_log(admin))]


def test_each_security_event_is_recorded_in_its_tenant(db):
    admin = new_tenant("audit")
    client = "192.0.2.50"
    email = f"ana-{uuid.uuid4().hex[:6]}@example.com"
    user = auth.add_user(admin, email, "Ana", "analyst", PASSWORD, client=client)
    [p] = auth.login(email, PASSWORD, client=client)
    p, _ = auth.open_session(p, client=client)
    auth.end_session(p, client=client)
    policy = auth.LoginPolicy(account_backoff_after=100, account_lock_after=2)
    for _ in range(2):
        with pytest.raises(PermissionDenied):
            auth.login(email, "wrong-wrong-1", client=client, policy=policy)
    auth.unlock_account(admin, user.id, client=client)
    [p] = auth.login(email, PASSWORD, client=client)
    auth.open_session(p, client=client)
    auth.set_user_role(admin, user.id, "viewer", client=client)
    auth.change_password(admin, user.id, "another-pass-1", client=client)
    auth.set_user_role(admin, user.id, "viewer", active=False, client=client)

    target = f"user {email}"
    expected = [
        ("user_added", target), ("login_succeeded", target), ("logout", target),
        ("login_failed", target), ("login_failed", target), ("login_locked", target),
        ("account_unlocked", target), ("login_succeeded", target),
        ("role_changed", target), ("session_revoked", target),
        ("password_changed", target),
        ("user_deactivated", target),
    ]
    assert _events(admin) == expected
    log = auth.list_audit_log(admin)
    assert all(e.client == client for e in log)
    role = next(e for e in log if e.event == "role_changed")
    assert (role.actor, role.details) == (admin.username, {"from": "analyst", "to": "viewer"})
    assert next(e for e in log if e.event == "login_locked").details["scopes"] == ["account"]
    assert auth.list_audit_log(admin, events=("logout",))[0].actor == email


def test_the_log_is_tenant_scoped_and_for_admins_only(db):
    a, b = new_tenant("auda"), new_tenant("audb")
    auth.add_user(a, f"x-{a.tenant_id}@example.com", "X", "viewer", PASSWORD)
    viewer = auth.principal_for(f"x-{a.tenant_id}@example.com")
    with pytest.raises(PermissionDenied):
        auth.list_audit_log(viewer)
    assert auth.list_audit_log(b) == []
    with pytest.raises(ValidationError):
        auth.list_audit_log(a, events=("made_up",))
    with db.app.begin() as conn:  # row-level security: without a tenant the app role sees no row
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar() == 0


def test_record_is_the_one_entry_point_and_refuses_unknown_events(db):
    from aihub import audit

    admin = new_tenant("audrec")
    audit.record(admin.tenant_id, "source_changed", actor=admin, target="source 7 'orders'",
                 details={"fields": ["base_url"]}, client="192.0.2.60")
    [e] = auth.list_audit_log(admin, events=("source_changed",))
    assert (e.actor_id, e.details) == (admin.user_id, {"fields": ["base_url"]})
    with pytest.raises(ValueError, match="unknown audit event"):
        audit.record(admin.tenant_id, "whatever")
    audit.record(None, "login_failed", actor_name="nobody@example.com")  # no tenant: logged, not stored
