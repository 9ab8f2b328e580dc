"""The whole analyst path in a real browser: headless Chromium (Debian) driven by Playwright.

Serves the app as ``make run`` does (``served_app``: ``streamlit run`` plus a worker) against the test database,
then logs in, uploads Superstore, trains a monthly Sales forecast, deploys it and checks the chart is drawn.
Every click waits until the app has settled (``AppPage`` in ``tests/ui/conftest.py``), so a click is never
lost in the rerun that the session cookie causes right after log-in.
"""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, new_tenant, shared_file

pytestmark = pytest.mark.browser


def test_analyst_path_in_chromium(app_page):
    from playwright.sync_api import expect

    admin = new_tenant("browser")
    orders = shared_file("superstore", "superstore_orders.csv")
    page = app_page.page
    app_page.goto()
    expect(page.get_by_text("Demo: log in as")).to_be_visible()
    app_page.log_in(admin.username, PASSWORD, then="Dashboard")

    app_page.open("Data sources")
    app_page.upload(str(orders))
    expect(page.get_by_text("10,194 rows", exact=False).first).to_be_visible()
    app_page.fill(page.get_by_role("textbox", name="Dataset name"), "Superstore")
    app_page.click(page.get_by_role("button", name="Save dataset"))
    expect(page.get_by_text("Saved Superstore version 1")).to_be_visible()
    app_page.no_traceback()

    app_page.open("Forecasts")
    app_page.click(page.get_by_role("button", name="Train forecast"))
    expect(page.get_by_text("finished in", exact=False)).to_be_visible(timeout=180_000)
    app_page.click(page.get_by_role("button", name="Deploy version 1"))
    expect(page.get_by_text("active: version 1")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    app_page.no_traceback()
