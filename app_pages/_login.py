"""Log-in, logout and the session cookie (Streamlit glue; the rules live in :mod:`aihub.auth`).

:func:`gate` runs first on every script run. It re-checks the stored
principal's server-side session (so a logout elsewhere, a deactivation or a
role or password change ends this tab at its next run), or resumes a session
from the re-login cookie. Whenever the user changes (log-in, logout, an ended
session) every per-user value in ``st.session_state`` is dropped, so nothing
of one user reaches the next. ``st.cache_data`` entries stay: each is keyed by
the organization (and by the user when its result depends on the user; held by
``tests/security/test_caches.py``), so the next user of the same organization
starts from warm figures instead of recomputing every screen after log-in.

The cookie carries a signed session token (:mod:`aihub.webauth`), never a
username. It is read from the request that opened this tab's connection
(``st.context.cookies``) and written and deleted by a few lines of JavaScript
at the end of a run (:class:`SessionCookie`, :func:`finish`). It used to take
streamlit-authenticator's cookie component, whose frames send a value back to
the server as they load, each value one more script run: the first Dashboard
after log-in was drawn three times and every log-in form twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import streamlit as st

from aihub import auth, webauth
from aihub.auth import Principal
from aihub.config import load_settings
from aihub.errors import AihubError, PermissionDenied
from app_pages import _chart_warm_up as chart_warm_up
from app_pages._chart_warm_up import js_string as _js

#: Session-state keys that outlive a change of user (none of them holds user data).
_KEEP = ("_ignored_cookie", "_login_notice", "_drop_cookie")
LOGGED_OUT = "You are logged out."


class SessionCookie:
    """The re-login cookie (:data:`aihub.webauth.COOKIE_NAME`): tenant id and session token, signed with ``key``.

    Written and deleted in the browser by a script at the end of the run (:func:`finish`), not by a component:
    nothing is sent back, so no run follows. ``HttpOnly`` cannot be set from a script (nor could it by the
    component this replaces); the value is signed and names a server-side session that logout revokes.
    """

    def __init__(self, key: str) -> None:
        self.cookie_name = webauth.COOKIE_NAME
        self.cookie_key = key
        self.cookie_expiry_days = webauth.COOKIE_EXPIRY_DAYS

    def read(self) -> tuple[int, str] | None:
        """``(tenant id, token)`` from the cookie the browser sent, unless this tab already let it go."""
        value = st.context.cookies.get(self.cookie_name)
        if not value or value == st.session_state.get("_ignored_cookie"):
            return None
        return webauth.decode_cookie(value, self.cookie_key)

    def write_script(self, tenant_id: int, token: str) -> str:
        """JavaScript setting the cookie (SameSite=Strict, path /; Secure when ``AIHUB_COOKIE_SECURE`` is set)."""
        expires = datetime.now(UTC) + timedelta(days=self.cookie_expiry_days)
        value = webauth.encode_cookie(tenant_id, token, self.cookie_key, expires)
        attributes = f"; expires={format_datetime(expires, usegmt=True)}; path=/; samesite=strict" + (
            "; secure" if webauth.cookie_secure() else "")
        name = _js(self.cookie_name + "=")
        return f"document.cookie = {name} + encodeURIComponent({_js(value)}) + {_js(attributes)};"

    def delete_script(self) -> str:
        """JavaScript deleting the cookie."""
        gone = f"{self.cookie_name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; samesite=strict"
        return f"document.cookie = {_js(gone)};"

    def forget(self) -> None:
        """Have the cookie deleted at the end of this tab's runs until the next log-in, and ignore the copy this
        tab's connection still reports until a reload."""
        value = st.context.cookies.get(self.cookie_name)
        if value:
            st.session_state["_ignored_cookie"] = value
        st.session_state["_drop_cookie"] = True


def client() -> str:
    """The client's address as throttling and the audit log count it (see :func:`aihub.webauth.client_address`)."""
    try:
        return webauth.client_address(st.context.ip_address, dict(st.context.headers))
    except Exception:  # noqa: BLE001 - no request context (AppTest): one shared key
        return "unknown"


def _reset_user_state() -> None:
    """Drop every per-user value of this tab.

    Cached results are not cleared: their keys name the organization (and the
    user where the result is the user's own), so another user never reaches
    them, and clearing them made every log-in redraw the Dashboard cold (and
    cooled every other session's screens too).
    """
    keep = {k: st.session_state[k] for k in _KEEP if k in st.session_state}
    for k in list(st.session_state.keys()):
        del st.session_state[k]
    st.session_state.update(keep)


def _end(cookie: SessionCookie, notice: str | None) -> None:
    cookie.forget()
    _reset_user_state()
    if notice:
        st.session_state["_login_notice"] = notice


def _start(principal: Principal) -> None:
    _reset_user_state()
    st.session_state.pop("_login_notice", None)
    st.session_state.pop("_drop_cookie", None)
    st.session_state["principal"] = principal


_cookie: SessionCookie | None = None


def gate(key: str) -> Principal | None:
    """The logged-in principal of this run, re-checked against its session; None shows the login page.

    Stops the run with a message when the database cannot be asked.
    """
    global _cookie
    cookie = _cookie = SessionCookie(key)
    current = st.session_state.get("principal")
    try:
        if current is not None:
            fresh = auth.verify_session(current)
            st.session_state["principal"] = fresh
            return fresh
        found = cookie.read()
        if found:
            principal = auth.resume_session(*found)
            _start(principal)
            return principal
    except PermissionDenied as exc:
        _end(cookie, str(exc))
    except AihubError as exc:
        st.error(f"Cannot check your session: {exc}")
        st.stop()
    return None


def finish(principal: Principal | None) -> None:
    """Write the cookie of a new log-in, or delete the cookie of an ended session, at the end of the run.

    Called last in every run, after the screen: a hidden element that the next run no longer sends shifts no
    element of the screen (an element's place is its identity in the browser: an element put before the screen
    would have the browser draw the whole screen anew on the next run). A run that ends early (``st.stop``,
    ``st.rerun``) leaves the cookie to the next run that gets here.
    """
    if _cookie is None:
        return
    new = st.session_state.pop("_new_cookie", None) if principal is not None else None
    if new:
        script = _cookie.write_script(*new)
    elif principal is None and st.session_state.get("_drop_cookie"):
        script = _cookie.delete_script()  # sent again while the log-in form shows: the same element, run once
    else:
        return
    with st.container(key="session_cookie"):
        st.html(f"<style>.st-key-session_cookie {{display: none}}</style><script>{script}</script>",
                unsafe_allow_javascript=True)


def _open(principal: Principal) -> None:
    principal, token = auth.open_session(principal, client=client())
    _start(principal)
    st.session_state["_new_cookie"] = (principal.tenant_id, token)
    st.rerun()


def _choose_organization(choices: list[Principal]) -> None:
    st.info("This e-mail and password open accounts in more than one organization. Choose one.")
    names = [f"{p.tenant_name} ({p.role})" for p in choices]
    picked = st.radio("Organization", range(len(choices)), format_func=names.__getitem__, key="login_org")
    if st.button("Continue", key="login_continue", type="primary"):
        st.session_state.pop("_login_choices", None)
        _open(choices[picked])
    if st.button("Cancel", key="login_cancel"):
        st.session_state.pop("_login_choices", None)
        st.rerun()


def login_page() -> None:
    """The login screen: a notice of why the last session ended, then e-mail and password."""
    st.title("AI Analytics Hub")
    st.caption("Forecasts, predictions with reasons, anomaly alerts and insights from your own data.")
    notice = st.session_state.get("_login_notice")  # kept until the next log-in
    if notice:
        st.warning(notice)
    choices = st.session_state.get("_login_choices")
    if choices:
        _choose_organization(choices)
        return
    if load_settings().demo:
        st.info("Demo: log in as **demo@example.com** with password **demo-password**.")
    with st.form("login", clear_on_submit=False):
        st.subheader("Log in")
        email = st.text_input("E-mail", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Login")
    if not submitted:
        chart_warm_up.draw()
        return
    try:
        found = auth.login(email, password, client=client())
    except AihubError as exc:
        st.error(str(exc) if exc.code != "login_failed" else "Wrong e-mail or password.")
        return
    if len(found) == 1:
        _open(found[0])
    st.session_state["_login_choices"] = found
    st.rerun()


def logout_page() -> None:
    """Revoke the session, have the cookie deleted, forget everything of this user and rerun to the log-in form."""
    notice = LOGGED_OUT
    principal = st.session_state.get("principal")
    if principal is not None:
        try:
            auth.end_session(principal, client=client())
        except AihubError as exc:
            notice += f" The session could not be revoked on the server: {exc}"
    if _cookie is not None:
        _cookie.forget()  # deleted at the end of the log-in form's run (finish)
    _reset_user_state()
    st.session_state["_login_notice"] = notice
    st.rerun()


def session_ended(exc: PermissionDenied) -> bool:
    """If ``exc`` says the session ended (a page's service call found it revoked), log this tab out and rerun.

    Returns False for any other permission error (the caller shows or raises it).
    """
    if exc.code != "session_ended" or _cookie is None:
        return False
    _end(_cookie, str(exc))
    st.rerun()
    return True
