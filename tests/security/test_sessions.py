"""Attack (issue 10, item 4): a login cookie cannot be revoked.

The probe: the cookie was a 7-day JWT holding only the username; replayed in
a fresh browser after logout, it logged in again. Now the cookie holds a
server-side session's token, and logout, a password change, deactivation and
a role change revoke the session.
"""

from __future__ import annotations

import jwt
import pytest

from aihub import auth, webauth
from aihub.errors import PermissionDenied
from tests.conftest import PASSWORD, new_tenant
from tests.security.conftest import land, log_in, log_out, new_page, shows_traceback


def test_a_cookie_replayed_after_logout_in_a_fresh_browser_does_not_log_in(served_app, chromium):
    from playwright.sync_api import expect

    admin = new_tenant("replay")
    page = new_page(chromium)
    log_in(page, served_app, admin.username, PASSWORD)
    stolen = [c for c in page.context.cookies() if c["name"] == webauth.COOKIE_NAME]
    assert stolen, "the re-login cookie was set"
    # Before logout the cookie does log in from another browser (it is the re-login cookie).
    other = new_page(chromium)
    other.context.add_cookies(stolen)
    other.goto(served_app)
    expect(other.get_by_role("heading", name="Dashboard").first).to_be_visible()

    log_out(page)

    fresh = new_page(chromium)
    fresh.context.add_cookies(stolen)
    assert land(fresh, served_app) == "login", "the cookie replayed after logout logged in again"
    assert fresh.get_by_role("link", name="Data sources").count() == 0
    # The browser that logged in with the same session is logged out at its next run too.
    link = other.get_by_role("link", name="Data sources")
    if link.count():
        link.click()
    expect(other.get_by_role("textbox", name="E-mail")).to_be_visible()
    assert not shows_traceback(other)


def test_the_cookie_names_no_user_and_a_forged_one_is_refused(db):
    admin = new_tenant("cookie")
    [p] = auth.login(admin.username, PASSWORD, client="198.51.100.1")
    p, token = auth.open_session(p, client="198.51.100.1")
    from datetime import datetime, timedelta

    value = webauth.encode_cookie(p.tenant_id, token, "k" * 32, datetime.now() + timedelta(days=1))
    claims = jwt.decode(value, "k" * 32, algorithms=["HS256"])
    assert set(claims) == {"tid", "sid", "exp"} and admin.username not in value
    assert webauth.decode_cookie(value, "k" * 32) == (p.tenant_id, token)
    assert webauth.decode_cookie(value, "another-key-" * 3) is None
    assert webauth.decode_cookie(jwt.encode({"tid": p.tenant_id, "sid": token}, key=None, algorithm="none"),
                                 "k" * 32) is None
    # A signed cookie with a guessed token, or the right token in another tenant, opens nothing.
    other = new_tenant("cookie")
    for tid, tok in ((p.tenant_id, "guessed-token"), (other.tenant_id, token)):
        with pytest.raises(PermissionDenied) as exc:
            auth.resume_session(tid, tok)
        assert exc.value.code == "session_ended"
    assert auth.resume_session(p.tenant_id, token).user_id == admin.user_id


@pytest.mark.parametrize("change", ["logout", "password", "deactivate", "role"])
def test_each_change_revokes_the_session(db, change):
    admin = new_tenant("revoke")
    user = auth.add_user(admin, f"u-{change}-{admin.tenant_id}@example.com", "U", "analyst", PASSWORD)
    [p] = auth.login(user.username, PASSWORD, client="198.51.100.2")
    p, token = auth.open_session(p, client="198.51.100.2")
    assert auth.resume_session(p.tenant_id, token).role == "analyst"

    if change == "logout":
        auth.end_session(p)
    elif change == "password":
        auth.change_password(admin, user.id, "a-new-password-1")
    elif change == "deactivate":
        auth.set_user_role(admin, user.id, "analyst", active=False)
    else:
        auth.set_user_role(admin, user.id, "viewer")

    for check in (lambda: auth.resume_session(p.tenant_id, token), lambda: auth.verify_session(p),
                  lambda: auth.require(p, "read")):
        with pytest.raises(PermissionDenied) as exc:
            check()
        assert exc.value.code == "session_ended", exc.value


def test_a_user_changes_their_own_password_only_with_the_current_one(db):
    admin = new_tenant("ownpw")
    user = auth.add_user(admin, f"own-{admin.tenant_id}@example.com", "Own", "viewer", PASSWORD)
    [p] = auth.login(user.username, PASSWORD, client="198.51.100.3")
    with pytest.raises(PermissionDenied, match="current password"):
        auth.change_password(p, user.id, "new-password-22", current_password="not-it-at-all")
    with pytest.raises(PermissionDenied):  # a viewer may not set another user's password
        auth.change_password(p, admin.user_id, "new-password-22")
    auth.change_password(p, user.id, "new-password-22", current_password=PASSWORD)
    with pytest.raises(PermissionDenied):
        auth.login(user.username, PASSWORD, client="198.51.100.3")
    assert auth.login(user.username, "new-password-22", client="198.51.100.3")[0].user_id == user.id
