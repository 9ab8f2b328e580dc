"""Attack (issue 10, item 3): a demoted or deactivated user keeps their rights in an open session.

The probe: an analyst, demoted and deactivated while logged in, could still
add anomaly notes, because the stored principal was trusted. Each test
holds on to the principal (or the browser session) made before the change
and tries to act with it after.
"""

from __future__ import annotations

import pytest

from aihub import auth
from aihub.errors import PermissionDenied
from aihub.services import datasets
from tests.conftest import PASSWORD, new_tenant
from tests.security.conftest import land, log_in, new_page, open_screen, shows_traceback

CSV = b"ds,y\n2021-01-01,1\n2021-02-01,2\n2021-03-01,3\n"


def _analyst(admin, tag: str):
    email = f"analyst-{tag}-{admin.tenant_id}@example.com"
    info = auth.add_user(admin, email, "Ana", "analyst", PASSWORD)
    return info, auth.principal_for(email)


def test_a_deactivated_analysts_open_principal_can_no_longer_write(db):
    admin = new_tenant("stale")
    info, analyst = _analyst(admin, "deact")
    datasets.save_upload(analyst, "before", "a.csv", CSV)  # allowed while active

    auth.set_user_role(admin, info.id, "viewer", active=False)

    with pytest.raises(PermissionDenied):
        datasets.save_upload(analyst, "after", "b.csv", CSV)
    assert [d.name for d in datasets.list_datasets(admin)] == ["before"]


def test_a_demoted_analysts_open_principal_loses_the_write_right_at_once(db):
    admin = new_tenant("stale")
    info, analyst = _analyst(admin, "demote")

    auth.set_user_role(admin, info.id, "viewer")

    with pytest.raises(PermissionDenied):
        datasets.save_upload(analyst, "after", "b.csv", CSV)
    assert datasets.list_datasets(admin) == []


def test_a_principal_made_by_hand_with_a_higher_role_gets_the_stored_role(db):
    """Services read the role from the database: a forged or stale ``role`` field grants nothing."""
    admin = new_tenant("stale")
    _info, analyst = _analyst(admin, "forged")
    forged = auth.Principal(analyst.tenant_id, analyst.user_id, analyst.username, "admin", analyst.tenant_name)
    with pytest.raises(PermissionDenied, match="analyst"):
        auth.list_users(forged)


def test_an_open_browser_session_ends_at_the_next_click_after_deactivation(served_app, chromium):
    from playwright.sync_api import expect

    admin = new_tenant("stale")
    info, _ = _analyst(admin, "web")
    page = new_page(chromium)
    log_in(page, served_app, info.username, PASSWORD)
    open_screen(page, "Data sources")

    auth.set_user_role(admin, info.id, "viewer", active=False)
    page.get_by_role("link", name="Models").click()

    expect(page.get_by_text("deactivated", exact=False)).to_be_visible()
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
    assert page.get_by_role("link", name="Models").count() == 0
    assert not shows_traceback(page)


def test_a_deactivated_users_cookie_shows_the_login_page_with_a_message(served_app, chromium):
    from playwright.sync_api import expect

    admin = new_tenant("stale")
    info, _ = _analyst(admin, "cookie")
    page = new_page(chromium)
    log_in(page, served_app, info.username, PASSWORD)
    cookies = page.context.cookies()
    assert any(c["name"] == "aihub_auth" for c in cookies), "the re-login cookie was set"

    auth.set_user_role(admin, info.id, "analyst", active=False)

    fresh = new_page(chromium)
    fresh.context.add_cookies(cookies)
    assert land(fresh, served_app) == "login"
    expect(fresh.get_by_text("deactivated", exact=False)).to_be_visible()
