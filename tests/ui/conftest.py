"""The app served as ``make run`` serves it (``streamlit run`` plus a live ``aihub worker``), and headless Chromium.

Used by the browser tests (`test_browser.py`, `test_browser_journeys.py`); `app_page` gives them one tab with the
waits they share (:class:`AppPage`).
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


#: Installed in every page before Streamlit's own scripts. It records, in the top window, when the app's script
#: runs start and end (the ``data-test-script-state`` attribute Streamlit keeps on ``stApp``) and when a custom
#: component (the log-in cookie's) says it is ready or sends a value, which makes Streamlit rerun the script.
_RUN_TRACKER = """(() => {
  if (window !== window.top || window.__aihub) return;
  const s = window.__aihub = {state: null, starts: 0, lastStart: 0, lastEnd: 0, lastValue: -1, ready: new WeakSet()};
  addEventListener('message', (e) => {
    if (!e.data || !e.data.isStreamlitMessage) return;
    if (e.data.type === 'streamlit:componentReady') s.ready.add(e.source);
    if (e.data.type === 'streamlit:setComponentValue') s.lastValue = performance.now();
  }, true);
  const record = (mutations) => {
    const app = document.querySelector('[data-testid=stApp]');
    const state = app && app.getAttribute('data-test-script-state');
    // A short run can start and end between two callbacks: then only a record whose old value is 'running' shows it.
    for (const m of mutations || []) {
      if (m.oldValue === 'running' && s.state !== 'running') { s.starts += 1; s.lastStart = performance.now(); s.state = 'running'; }
    }
    if (!state || state === s.state) return;
    if (state === 'running') { s.starts += 1; s.lastStart = performance.now(); }
    if (state === 'notRunning') s.lastEnd = performance.now();
    s.state = state;
  };
  const waiting = new MutationObserver(() => {  // until Streamlit has drawn its root, then only its attribute
    const app = document.querySelector('[data-testid=stApp]');
    if (!app) return;
    waiting.disconnect(); record();
    new MutationObserver(record).observe(app, {attributes: true, attributeOldValue: true,
                                               attributeFilter: ['data-test-script-state']});
  });
  waiting.observe(document, {childList: true, subtree: true});
})();"""

#: True once the app is idle: connected, a run beyond the first ``since`` has ended, no run going on, every
#: component's frame has loaded and said it is ready, and no component value is waiting for its run. A component's value (the log-in cookie component's, once the browser has
#: written the cookie) usually starts a run, but Streamlit drops a value sent before the component said it was
#: ready, so a value not followed by a run counts as answered once the app has been idle 1.5 s after it.
_SETTLED = """(since) => {
  const s = window.__aihub, app = document.querySelector('[data-testid=stApp]');
  if (!s || !app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning' || s.state !== 'notRunning') return false;
  if (s.starts <= since) return false;
  const frames = document.querySelectorAll('iframe[data-testid=stCustomComponentV1]');
  if (![...frames].every((f) => s.ready.has(f.contentWindow))) return false;
  return s.lastValue < s.lastStart || performance.now() - Math.max(s.lastValue, s.lastEnd) > 1500;
}"""


class AppPage:
    """One browser tab on the served app, with the waits every browser test shares.

    Streamlit answers every click with a script run, and a click that lands while a run's rerun is pending is
    lost (the rerun carries the page it was asked on). So each action waits until the app has settled
    (:meth:`settle`) before it clicks and until the run that the click started has ended after it.
    """

    TIMEOUT = 60_000  # 2 cores shared by several sessions: one run can take seconds

    def __init__(self, page, url: str) -> None:
        self.page, self.url = page, url

    def runs(self) -> int:
        """How many script runs have started in this tab."""
        return self.page.evaluate("() => window.__aihub ? window.__aihub.starts : 0")

    def settle(self, since: int = 0, timeout: float = TIMEOUT) -> None:
        """Wait until a run beyond the first ``since`` has ended and the app is idle (see ``_SETTLED``)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(_SETTLED, arg=since, polling=100, timeout=timeout)
        except PlaywrightTimeout as exc:
            state = self.page.evaluate("() => [window.__aihub, performance.now()]")
            raise AssertionError(f"the app did not settle after run {since}: {state}") from exc

    def goto(self, path: str = "", timeout: float = 300_000) -> None:
        """Open ``path`` of the app and wait until it settles (the first run of a fresh server imports the whole
        hub: minutes on a loaded machine)."""
        self.page.goto(f"{self.url}/{path.lstrip('/')}")
        self.settle(timeout=timeout)

    def reload(self) -> None:
        self.page.reload()
        self.settle(timeout=120_000)

    def click(self, locator) -> None:
        """Click ``locator`` once the app is idle, then wait until the run that the click started has ended.

        A click that started no run within 15 s was lost (it can land while Streamlit redraws the element under
        it) and changed nothing, so it is repeated, at most twice.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        from playwright.sync_api import expect

        self.settle()
        expect(locator).to_be_enabled()
        before = self.runs()
        for attempt in range(3):
            locator.click()
            try:
                self.page.wait_for_function("(n) => window.__aihub && window.__aihub.starts > n", arg=before,
                                            polling=100, timeout=15_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
                self.settle()
                # A run that began after the 15 s (a loaded machine) means the click landed; so does a button the
                # click disabled or removed (Deploy, once deployed). Clicking again would wait on a disabled one.
                if self.runs() > before or not locator.count() or not locator.first.is_enabled():
                    print(f"a click on {locator} started its run late: not clicking again")
                    break
                print(f"a click on {locator} started no run: clicking again")  # shown with a failure's output
        self.settle(since=before)

    def fill(self, locator, value: str) -> None:
        """Type ``value`` into a text box and press Enter (Streamlit's commit), then wait for the run it starts."""
        self.settle()
        before = self.runs()
        locator.fill(value)
        locator.press("Enter")
        self.settle(since=before)

    def upload(self, files, index: int = 0) -> None:
        """Give ``files`` (a path or Playwright's file payloads) to the page's ``index``-th file input."""
        self.settle()
        before = self.runs()
        self.page.locator("input[type=file]").nth(index).set_input_files(files)
        self.settle(since=before)

    def choose(self, label: str, option: str, nth: int = 0) -> None:
        """Pick ``option`` in the ``nth`` select box or multiselect labelled ``label`` (several rows of a form can
        share a label) and wait for the run it starts."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.settle()
        before = self.runs()
        for attempt in range(3):  # the list can close again as it opens (a redraw): open it again
            self.page.get_by_role("combobox", name=label).nth(nth).click()
            try:
                self.page.get_by_role("option", name=option, exact=True).click(timeout=15_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
                print(f"the list of {label!r} showed no {option!r}: opening it again")  # shown with a failure
                self.close_list()
                self.settle()
        self.close_list()
        self.settle(since=before)

    def close_list(self) -> None:
        """Close a select box's open list (a multiselect's stays open) by clicking the page's title; not with
        Escape, which empties a select box that may be empty."""
        if self.page.get_by_role("listbox").count():
            self.page.locator("h1").first.click()

    def log_in(self, email: str, password: str, then: str) -> None:
        """Log in on the log-in form and wait for the heading ``then`` and the run the session cookie causes."""
        from playwright.sync_api import expect

        page = self.page
        expect(page.get_by_role("textbox", name="E-mail")).to_be_visible(timeout=300_000)
        self.settle(timeout=300_000)
        page.get_by_role("textbox", name="E-mail").fill(email)
        page.get_by_role("textbox", name="Password").fill(password)
        self.click(page.get_by_role("button", name="Login"))
        expect(self.heading(then)).to_be_visible()
        # The cookie component writes the session cookie in the browser after the page is drawn, then reruns.
        page.wait_for_function("() => document.cookie.includes('aihub_auth=')", polling=100, timeout=self.TIMEOUT)
        self.settle()
        self.no_traceback()

    def log_out(self) -> None:
        """Log out from the sidebar and wait for the log-in form.

        The cookie component deletes the session cookie after the logout page is drawn and then usually reruns
        to the log-in form; without that rerun the page offers "Log in again".
        """
        from playwright.sync_api import expect

        page = self.page
        self.click(page.get_by_role("link", name="Log out"))
        expect(page.get_by_text("You are logged out.").first).to_be_visible()
        page.wait_for_function("() => !document.cookie.includes('aihub_auth=')", polling=100, timeout=self.TIMEOUT)
        self.settle()
        if not page.get_by_role("textbox", name="E-mail").count():
            self.click(page.get_by_role("button", name="Log in again"))
        expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
        self.no_traceback()

    def heading(self, name: str):
        return self.page.get_by_role("heading", name=name, exact=True)

    def open(self, name: str) -> None:
        """Open the screen ``name`` from the sidebar and wait for its heading and its run to end."""
        from playwright.sync_api import expect

        self.click(self.page.get_by_role("link", name=name, exact=True))
        expect(self.heading(name)).to_be_visible()
        self.settle()
        self.no_traceback()

    def no_traceback(self) -> None:
        """Fail if the screen shows a Streamlit exception, a traceback or the unexpected-error message."""
        body = self.page.inner_text("body")
        assert self.page.locator("[data-testid='stException']").count() == 0, body[:3000]
        assert "Traceback" not in body, body[:3000]
        assert "Something went wrong on this screen" not in body, body[:3000]


@pytest.fixture
def app_page(served_app, chromium):
    """An :class:`AppPage` in a fresh browser context (no cookies) on the served app."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(_RUN_TRACKER)
    page = context.new_page()
    page.set_default_timeout(AppPage.TIMEOUT)
    return AppPage(page, served_app)
