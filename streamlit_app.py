"""AI Analytics Hub: entrypoint and router.

Configures the page, runs the login on every run (so the cookie restores a
session) and builds the navigation from the pages the user's role may see.
Login uses streamlit-authenticator with credentials from the users table.
"""

import streamlit as st
import streamlit_authenticator as stauth

from aihub import auth, webauth
from aihub.config import load_settings
from aihub.errors import AihubError
from pages import _common as ui

st.set_page_config(page_title="AI Analytics Hub", page_icon=":material/insights:", layout="wide")

try:
    settings = load_settings()
    ui.database()
    key = webauth.cookie_key(settings, st.secrets.get("cookie_key") if ui.has_secrets() else None)
except AihubError as exc:
    st.error(f"AI Analytics Hub cannot start: {exc}")
    st.stop()

authenticator = stauth.Authenticate(
    webauth.credentials(auth.login_directory()),
    webauth.COOKIE_NAME,
    key,
    webauth.COOKIE_EXPIRY_DAYS,
    auto_hash=False,
    # The cookie is read server-side from st.context.cookies, so the library's pre-login pause is not
    # needed; with it, the cookie component's rerun could swallow the login form's submission.
    login_sleep_time=0,
)


def login_page() -> None:
    st.title("AI Analytics Hub")
    st.caption("Forecasts, predictions with reasons, anomaly alerts and insights from your own data.")
    if settings.demo:
        st.info("Demo: log in as **demo@example.com** with password **demo-password**.")


def logout_page() -> None:
    # No rerun here: the run must finish so the cookie component can delete the re-login cookie.
    authenticator.logout(location="unrendered")
    st.session_state.pop("principal", None)
    st.success("You are logged out.")
    st.button("Log in again", key="relogin")


if not st.session_state.get("authentication_status"):
    authenticator.login(location="main", key="login", fields={"Form name": "Log in", "Username": "E-mail"})
    if st.session_state.get("authentication_status") is False:
        st.error("Wrong e-mail or password.")

if st.session_state.get("authentication_status"):
    username = st.session_state["username"]
    current = st.session_state.get("principal")
    if current is None or current.username != username:
        # A fresh login: the rerun clears the form (the library does not rerun with dict credentials).
        st.session_state["principal"] = auth.principal_for(username)
        st.session_state["_persist_login"] = True
        st.rerun()
    if st.session_state.pop("_persist_login", False):
        # Set the re-login cookie in a run that is not cut short by a rerun, so the browser keeps it.
        authenticator.cookie_controller.set_cookie()
    principal = st.session_state["principal"]
    sections = {
        "Overview": [st.Page("pages/dashboard.py", title="Dashboard", icon=":material/dashboard:", default=True)],
        "Work": [
            st.Page("pages/data_sources.py", title="Data sources", icon=":material/database:"),
            st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
            st.Page("pages/predictions.py", title="Predictions", icon=":material/online_prediction:"),
            st.Page("pages/anomalies.py", title="Anomalies", icon=":material/crisis_alert:"),
            st.Page("pages/workflows.py", title="Workflows", icon=":material/account_tree:"),
            st.Page("pages/insights.py", title="Insights", icon=":material/lightbulb:"),
        ],
    }
    if principal.can("manage"):
        sections["Admin"] = [st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:")]
    sections["Account"] = [st.Page(logout_page, title="Log out", icon=":material/logout:")]
    with st.sidebar:
        st.caption(f"{principal.name} · {principal.role} · {principal.tenant_name}")
    st.navigation(sections).run()
else:
    st.navigation([st.Page(login_page, title="Log in", icon=":material/login:")]).run()
