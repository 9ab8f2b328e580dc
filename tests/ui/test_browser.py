"""The whole analyst path in a real browser: headless Chromium (Debian) driven by Playwright.

Serves the app with ``streamlit run`` on a free port of 127.0.0.1 against the
test database, then logs in, uploads Superstore, trains a monthly Sales
forecast, deploys it and checks the chart is drawn.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import PASSWORD, new_tenant, shared_file

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def test_analyst_path_in_chromium(served_app, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    admin = new_tenant("browser")
    orders = shared_file("superstore", "superstore_orders.csv")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            _walk(page, served_app, admin, orders, expect)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print("page text at failure:\n", page.inner_text("body")[-3000:])
            raise
        page.screenshot(path=str(tmp_path / "forecast.png"), full_page=True)
        browser.close()


def _walk(page, served_app, admin, orders, expect) -> None:
    page.goto(served_app)
    expect(page.get_by_text("Demo: log in as")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the cookie component reruns the script once it has loaded
    page.get_by_role("textbox", name="E-mail").fill(admin.username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="Data sources").click()
    page.locator("input[type=file]").set_input_files(str(orders))
    expect(page.get_by_text("10,194 rows", exact=False).first).to_be_visible()
    page.get_by_role("textbox", name="Dataset name").fill("Superstore")
    page.get_by_role("textbox", name="Dataset name").press("Enter")
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved Superstore version 1")).to_be_visible()

    page.get_by_role("link", name="Forecasts").click()
    expect(page.get_by_role("button", name="Train forecast")).to_be_visible()
    page.get_by_role("button", name="Train forecast").click()
    expect(page.get_by_text("finished in", exact=False)).to_be_visible(timeout=180_000)
    page.get_by_role("button", name="Deploy version 1").click()
    expect(page.get_by_text("active: version 1")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
