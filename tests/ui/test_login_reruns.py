"""Script runs around log-in, reload and logout in a real browser (headless Chromium, Playwright).

Every script run starts with a ``new_session`` message on the websocket; the test decodes the frames the browser
receives with Streamlit's own protobuf classes and counts them. streamlit-authenticator's cookie component cost
runs of its own: its frame sent the browser's cookies back as it loaded (one more run of every log-in form), and
after log-in writing the cookie and the changed cookies each sent a value (the Dashboard was drawn three times
instead of once). The cookie is now written and deleted by a script that sends nothing back.
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


def test_log_in_reload_and_logout_run_the_script_once_each(served_app, chromium):
    from playwright.sync_api import expect

    admin = new_tenant("reruns")
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    runs = Runs(page)
    email = page.get_by_role("textbox", name="E-mail")

    assert runs.after(page, lambda: (page.goto(served_app), expect(email).to_be_visible(timeout=300_000))) == 1

    email.fill(admin.username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)

    def log_in() -> None:
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    # The click's run, and the run st.rerun() starts once the session is open: the Dashboard is drawn once.
    assert runs.after(page, log_in) == 2
    assert any(c["name"] == webauth.COOKIE_NAME and c["sameSite"] == "Strict" for c in context.cookies())

    # A reload resumes the session from the cookie in the first run.
    def reload() -> None:
        page.reload()
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    assert runs.after(page, reload) == 1

    def log_out() -> None:
        page.get_by_role("link", name="Log out").click()
        expect(page.get_by_text("You are logged out.")).to_be_visible()
        expect(email).to_be_visible()

    # The logout's run, then the log-in form's, which deletes the cookie.
    assert runs.after(page, log_out) == 2
    assert not [c for c in context.cookies() if c["name"] == webauth.COOKIE_NAME]
    page.reload()
    expect(email).to_be_visible()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_have_count(0)
