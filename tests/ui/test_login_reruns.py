"""Script runs around log-in, reload and logout in a real browser (headless Chromium, Playwright).

Every script run starts with a ``new_session`` message on the websocket; the test decodes the frames the browser
receives with Streamlit's own protobuf classes and counts them. streamlit-authenticator's cookie component costs
runs of its own: its frame sends the browser's cookies back as it loads (one more run of a log-in form), and after
log-in writing the cookie sends a value too. The counts are held to what that costs, so a loop of runs (or a
component that answers on every run) fails here; the cookie must be set at log-in, resume the session on a reload,
and be gone after logout.
"""

from __future__ import annotations

import time

import pytest

from aihub import webauth
from tests.conftest import PASSWORD, new_tenant

pytestmark = pytest.mark.browser


class Runs:
    """Counts the script runs the browser is told of (``new_session`` messages) and when the last frame came."""

    def __init__(self, page) -> None:
        self.count, self.last = 0, time.monotonic()
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.last = time.monotonic()
        if isinstance(payload, bytes | bytearray) and ForwardMsg.FromString(bytes(payload)).HasField("new_session"):
            self.count += 1

    def after(self, page, action, quiet: float = 3.0) -> int:
        """Runs started by ``action`` (and by anything it set off) until no frame has come for ``quiet`` s."""
        before = self.count
        action()
        page.wait_for_timeout(500)
        while time.monotonic() - self.last < quiet:
            page.wait_for_timeout(200)
        return self.count - before


def test_log_in_reload_and_logout_keep_the_cookie_and_their_runs_few(served_app, chromium):
    from playwright.sync_api import expect

    admin = new_tenant("reruns")
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    runs = Runs(page)
    email = page.get_by_role("textbox", name="E-mail")

    counts = {"form": runs.after(page, lambda: (page.goto(served_app), expect(email).to_be_visible(timeout=300_000)))}

    email.fill(admin.username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)

    def log_in() -> None:
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    # The click's run, the run st.rerun() starts once the session is open, and the cookie component's answer.
    counts["log-in"] = runs.after(page, log_in)
    assert any(c["name"] == webauth.COOKIE_NAME and c["sameSite"] == "Strict" for c in context.cookies())

    # A reload resumes the session from the cookie in the first run.
    def reload() -> None:
        page.reload()
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    counts["reload"] = runs.after(page, reload)

    def log_out() -> None:
        page.get_by_role("link", name="Log out").click()
        expect(page.get_by_text("You are logged out.").first).to_be_visible()

    counts["logout"] = runs.after(page, log_out)
    print("script runs:", counts)
    assert counts["form"] <= 2 and counts["log-in"] <= 4 and counts["reload"] <= 2 and counts["logout"] <= 3, counts
    assert not [c for c in context.cookies() if c["name"] == webauth.COOKIE_NAME]
    page.reload()
    expect(email).to_be_visible()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_have_count(0)
