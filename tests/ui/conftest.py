"""The app served as ``make run`` serves it (``streamlit run`` plus a live ``aihub worker``), and headless Chromium.

Used by the browser journeys of :mod:`tests.ui.test_browser_journeys`.
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

from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_app(server_database, data_dir, tmp_path):
    """URL of the app on a free port of 127.0.0.1 with a worker beside it, both on the test database.

    Their output is kept in ``tmp_path`` (``streamlit.log``, ``worker.log``) and shown when the app does not start.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    port = _free_port()
    env = {**os.environ, "AIHUB_DATABASE_URL": server_database.owner_url.render_as_string(hide_password=False),
           "AIHUB_DATA_DIR": str(data_dir), "AIHUB_DEMO": "1"}
    app_log, worker_log = tmp_path / "streamlit.log", tmp_path / "worker.log"
    with app_log.open("w") as log, worker_log.open("w") as wlog:
        worker = subprocess.Popen([sys.executable, "-m", "aihub.cli", "worker"], cwd=REPO, env=env, stdout=wlog,
                                  stderr=subprocess.STDOUT)
        app = subprocess.Popen(
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
        app.kill()
        worker.kill()
        pytest.fail("streamlit did not start: " + app_log.read_text()[-2000:])
    yield url
    for proc in (app, worker):
        proc.terminate()
    for proc in (app, worker):
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium (Playwright); a screenshot of every open page is kept in tmp_path at the end."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # 2 cores shared: a run can take seconds
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield browser
        for i, context in enumerate(browser.contexts):
            for j, page in enumerate(context.pages):
                page.screenshot(path=str(tmp_path / f"page-{i}-{j}.png"), full_page=True)
        browser.close()
