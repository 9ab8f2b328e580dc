"""Issue 9's journeys in headless Chromium against the app served as ``make run`` serves it (with a live worker).

Deep links and reloads keep their page through log-in; an upload with the category ``none`` is saved, its
column types are fixed after saving (a new version of the same bytes); the roles of a plain table are confirmed
for insights; logging out and in as another user shows that user's role. No screen shows a traceback.
"""

from __future__ import annotations

import re

import pytest

from aihub import auth
from aihub.services import datasets
from tests.conftest import PASSWORD, new_tenant

pytestmark = pytest.mark.browser


def _credit_csv(n: int = 120) -> bytes:
    rows = ["other_parties,amount,housing,class"]
    for i in range(n):
        party = "none" if i % 10 else ("guarantor" if i % 20 else "co applicant")
        housing = ("own", "rent", "free")[i % 3]
        bad = (i % 7 == 0) or (housing == "rent" and i % 3 == 0)
        rows.append(f"{party},{100 + (37 * i) % 900},{housing},{'bad' if bad else 'good'}")
    return ("\n".join(rows) + "\n").encode()


def _no_traceback(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, page.inner_text("body")[:2000]
    assert "Traceback" not in page.inner_text("body")


def _log_in(page, email: str, then: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible(timeout=120_000)  # the first run imports a lot
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the cookie component's rerun
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name=then, exact=True)).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the run that writes the cookie finishes


def _click_until(page, button, shown) -> None:
    """Click ``button`` until ``shown`` appears (a click during a busy rerun can be lost), at most three times."""
    from playwright.sync_api import expect

    expect(button).to_be_enabled()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)
    for attempt in range(3):
        button.click()
        try:
            expect(shown).to_be_visible(timeout=20_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def _open(page, name: str) -> None:
    from playwright.sync_api import expect

    heading = page.get_by_role("heading", name=name, exact=True)
    for attempt in range(3):
        page.get_by_role("link", name=name, exact=True).click()
        try:
            expect(heading).to_be_visible(timeout=20_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    page.wait_for_timeout(1500)


def test_journeys_in_the_browser(served_app, chromium):
    from playwright.sync_api import expect

    admin = new_tenant("journeys")
    auth.add_user(admin, f"viewer-{admin.tenant_id}@journeys.example.com", "Vera Viewer", "viewer", PASSWORD)
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)

    # A deep link as the server's very first request (screens live in app_pages/, so Streamlit's legacy pages/
    # discovery never runs a screen without the router) opens the log-in form under its own URL and lands on its
    # page after log-in.
    page.goto(f"{served_app}/data_sources")
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible(timeout=120_000)
    assert not page.get_by_text("schema ui").count() and not page.get_by_text("sources ui").count()
    _log_in(page, admin.username, then="Data sources")
    assert page.url.rstrip("/").endswith("/data_sources")
    _no_traceback(page)
    # A reload keeps the page (the session is resumed from the cookie).
    page.reload()
    expect(page.get_by_role("heading", name="Data sources", exact=True)).to_be_visible(timeout=120_000)
    page.wait_for_timeout(1500)
    _no_traceback(page)

    # Upload a table whose commonest other_parties value is the category "none"; it stays a value.
    page.locator("input[type=file]").first.set_input_files(
        files=[{"name": "credit.csv", "mimeType": "text/csv", "buffer": _credit_csv()}])
    expect(page.get_by_text(re.compile(r"Read credit\.csv: 120 rows, 4 columns"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"In 'other_parties', 'none' \(108 cells\) means missing"))).to_be_visible()
    expect(page.get_by_role("textbox", name="Dataset name")).to_have_value("credit")
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved credit version 1: 120 rows.")).to_be_visible()
    _no_traceback(page)

    # Fix a type after saving: 'none' means missing after all -> version 2, same bytes.
    page.get_by_text("Fix column types of version 1").click()
    expect(page.get_by_role("button", name="Save as a new version")).to_be_visible()
    page.get_by_text(re.compile(r"In 'other_parties', 'none'")).last.click()  # the saved version's, below the upload's
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_text("Saved credit version 2 with the new column types: 120 rows.")).to_be_visible()
    (v2, v1) = datasets.list_versions(admin, datasets.list_datasets(admin)[0].id)
    assert (v2.version, v2.sha256) == (2, v1.sha256)
    assert datasets.load_frame(admin, v2.id)["other_parties"].isna().sum() == 108
    _no_traceback(page)

    # Insights: the plain table's roles are proposed, then confirmed.
    _open(page, "Insights")
    page.get_by_text("Data insights read").click()
    expect(page.get_by_text(re.compile(r"proposed roles, not confirmed yet"))).to_be_visible()
    confirmed = page.get_by_text("Insights will read credit with the roles you confirmed.")
    _click_until(page, page.get_by_role("button", name="Confirm roles"), confirmed)
    _no_traceback(page)

    # Log out, and in as the viewer: the viewer's role shows.
    page.get_by_role("link", name="Log out").click()
    expect(page.get_by_text("You are logged out.").first).to_be_visible()
    page.wait_for_timeout(1500)
    again = page.get_by_role("button", name="Log in again")
    if again.count() and not page.get_by_role("textbox", name="E-mail").count():
        again.click()
    _log_in(page, f"viewer-{admin.tenant_id}@journeys.example.com", then="Dashboard")
    expect(page.get_by_text(re.compile(r"Vera Viewer · viewer"))).to_be_visible()
    _open(page, "Data sources")
    expect(page.get_by_text("Your role can view datasets but not upload them.")).to_be_visible()
    _no_traceback(page)
