"""Shared parts of the security tests: the served app, headless Chromium, and a clean login throttle.

The app is served with ``streamlit run`` on a free port of 127.0.0.1 against
the test database (as ``tests/ui/test_browser.py`` does) and driven with
Playwright and Debian's ``chromium``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def reset_throttle(db) -> None:
    """Forget every counted log-in attempt (each test starts unthrottled; a no-op before migration 0009)."""
    with db.owner.begin() as conn:
        conn.execute(sa.text(
            "DO $$ BEGIN IF to_regclass('login_throttle') IS NOT NULL THEN DELETE FROM login_throttle; END IF; END $$"))


@pytest.fixture
def db(use_db):
    """The test database (both backends), with the login throttle cleared."""
    reset_throttle(use_db)
    return use_db


@pytest.fixture
def srv(server_database):
    """The local-server database only (the served app uses it), with the login throttle cleared."""
    from aihub.db import engine as dbengine

    dbengine.set_database(server_database)
    reset_throttle(server_database)
    return server_database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_app(srv, data_dir, tmp_path):
    """URL of the app served by ``streamlit run`` on 127.0.0.1 against the server database."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    port = _free_port()
    env = {**os.environ, "AIHUB_DATABASE_URL": srv.owner_url.render_as_string(hide_password=False),
           "AIHUB_DATA_DIR": str(data_dir), "AIHUB_DEMO": "1"}
    log_path = tmp_path / "streamlit.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + log_path.read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium (Playwright); a screenshot of every open page is kept in tmp_path on failure."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a loaded 2-core machine: runs can take seconds
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        for i, context in enumerate(browser.contexts):
            for j, page in enumerate(context.pages):
                page.screenshot(path=str(tmp_path / f"page-{i}-{j}.png"), full_page=True)
        browser.close()


def new_page(browser):
    """A page in a fresh browser context (its own cookie jar: a 'fresh browser')."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    return page


def open_login(page, url: str) -> None:
    """Open the app and wait until the login form is ready (the cookie component reruns once it loads)."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible(timeout=120_000)  # first run imports a lot
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)


def log_in(page, url: str, email: str, password: str) -> None:
    """Log in through the form and wait for the dashboard."""
    from playwright.sync_api import expect

    open_login(page, url)
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Dashboard").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # the run that writes the cookie finishes


def open_screen(page, name: str) -> None:
    """Click the navigation link ``name`` and wait for its heading (clicking again if a busy run swallowed it)."""
    from playwright.sync_api import expect

    heading = page.get_by_role("heading", name=name, exact=True)
    for attempt in range(3):
        nav_link(page, name).click()
        try:
            expect(heading).to_be_visible(timeout=20_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    page.wait_for_timeout(1500)  # the page's widgets are live


def nav_link(page, name: str):
    """The sidebar navigation link ``name``, opening "View N more" first when the list is folded."""
    link = page.get_by_role("link", name=name, exact=True)
    more = page.locator("[data-testid='stSidebarNavViewButton']")
    if not link.is_visible() and more.count() and more.inner_text().startswith("View ") \
            and "less" not in more.inner_text():
        more.click()
    return link


def log_out(page) -> None:
    """Log out through the navigation."""
    from playwright.sync_api import expect

    nav_link(page, "Log out").click()
    expect(page.get_by_text("You are logged out.").first).to_be_visible()
    page.wait_for_timeout(1500)
    again = page.get_by_role("button", name="Log in again")
    if again.count() and not page.get_by_role("textbox", name="E-mail").count():
        again.click()
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1000)  # the run that deletes the cookie finishes


def land(page, url: str) -> str:
    """Open ``url`` in ``page`` and say where it lands: ``"app"`` (logged in), ``"login"`` or ``"error"``."""
    from playwright.sync_api import expect

    page.goto(url)
    dashboard = page.get_by_role("heading", name="Dashboard")
    login = page.get_by_role("textbox", name="E-mail")
    error = page.locator("[data-testid='stException']")
    expect(dashboard.or_(login).or_(error).first).to_be_visible(timeout=120_000)
    page.wait_for_timeout(2500)  # the cookie component's rerun
    if shows_traceback(page):
        return "error"
    return "app" if dashboard.count() else "login"


def shows_traceback(page) -> bool:
    """Whether Streamlit shows an uncaught exception on the page."""
    return page.locator("[data-testid='stException']").count() > 0 or "Traceback" in page.inner_text("body")
