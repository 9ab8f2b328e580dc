"""Attacks (issue 10, low items): the login directory hands every user's hash to the app role, and
``add_user`` tells an admin whether an e-mail has an account in another organization.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from aihub import auth
from aihub.errors import Conflict, PermissionDenied
from tests.conftest import PASSWORD, new_tenant


def test_the_app_role_cannot_list_users_or_hashes_of_other_tenants(db):
    a, b = new_tenant("dira"), new_tenant("dirb")
    with db.app.connect() as conn:
        definers = conn.execute(sa.text(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.prosecdef AND has_function_privilege(p.oid, 'EXECUTE')")).scalars().all()
        for name in definers:  # no SECURITY DEFINER function without arguments: nothing lists users
            args = conn.execute(sa.text("SELECT pronargs FROM pg_proc WHERE proname = :n"), {"n": name}).scalar()
            assert args > 0, f"{name}() takes no argument and runs as the owner"
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("SELECT * FROM aihub_login_directory()")).all()
    with db.app.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM aihub_login_lookup(:e)"), {"e": a.username}).mappings().all()
        assert [(r["tenant_id"], r["username"]) for r in rows] == [(a.tenant_id, a.username)]
        assert conn.execute(sa.text("SELECT count(*) FROM aihub_login_lookup('%')")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 0  # RLS: no tenant, no rows
    assert b.username not in str(rows)


def test_adding_an_email_used_in_another_organization_reveals_nothing(db):
    a, b = new_tenant("adda"), new_tenant("addb")
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    fresh = f"fresh-{uuid.uuid4().hex[:8]}@example.com"
    in_a = auth.add_user(a, email, "In A", "analyst", PASSWORD)

    # B's admin gets exactly what a never-seen e-mail gets: a new account of B.
    in_b = auth.add_user(b, email, "In B", "viewer", "b-password-1")
    other = auth.add_user(b, fresh, "Fresh", "viewer", "b-password-1")
    assert (in_b.username, in_b.role, in_b.is_active) == (email, "viewer", True)
    assert type(in_b) is type(other) and in_b.id != in_a.id
    assert {u.username for u in auth.list_users(b)} == {b.username, email, fresh}
    # Within one organization an e-mail is still unique, and the message names only that organization.
    with pytest.raises(Conflict, match="Your organization already has"):
        auth.add_user(b, email, "Again", "viewer", "b-password-1")

    # Each password opens its own organization's account; neither admin sees the other's.
    assert [p.tenant_id for p in auth.login(email, PASSWORD, client="192.0.2.10")] == [a.tenant_id]
    assert [p.tenant_id for p in auth.login(email, "b-password-1", client="192.0.2.10")] == [b.tenant_id]
    assert email in {u.username for u in auth.list_users(a)} and in_b.id not in {u.id for u in auth.list_users(a)}
    with pytest.raises(Conflict, match="several organizations"):
        auth.principal_for(email)
    assert auth.principal_for(email, tenant_id=b.tenant_id).role == "viewer"


def test_the_same_password_in_two_organizations_asks_which_one(db):
    a, b = new_tenant("twoa"), new_tenant("twob")
    email = f"both-{uuid.uuid4().hex[:8]}@example.com"
    auth.add_user(a, email, "A", "analyst", PASSWORD)
    auth.add_user(b, email, "B", "viewer", PASSWORD)
    found = auth.login(email, PASSWORD, client="192.0.2.11")
    assert sorted(p.tenant_id for p in found) == sorted([a.tenant_id, b.tenant_id])
    with pytest.raises(Conflict, match="several organizations"):
        auth.authenticate(email, PASSWORD)
    assert auth.authenticate(email, PASSWORD, tenant_id=b.tenant_id).role == "viewer"


def test_a_deactivated_account_cannot_log_in_and_says_only_wrong_password(db):
    admin = new_tenant("inactive")
    user = auth.add_user(admin, f"gone-{admin.tenant_id}@example.com", "Gone", "analyst", PASSWORD)
    auth.set_user_role(admin, user.id, "analyst", active=False)
    with pytest.raises(PermissionDenied, match="Wrong e-mail or password"):
        auth.login(user.username, PASSWORD, client="192.0.2.12")
