"""AI Analytics Hub: entrypoint and router.

Configures the page, checks the login session on every run (or resumes it
from the re-login cookie, see ``pages/_login.py``) and builds the navigation
from the pages the user's role may see.
"""

import streamlit as st

from aihub import webauth
from aihub.config import load_settings
from aihub.errors import AihubError, PermissionDenied
from aihub.runtime.wiring import wire
from pages import _common as ui
from pages import _login as login

st.set_page_config(page_title="AI Analytics Hub", page_icon=":material/insights:", layout="wide")
wire()  # tasks, job handlers and event subscriptions of this process (once; later runs return at once)

try:
    settings = load_settings()
    ui.database()
    key = webauth.cookie_key(settings, st.secrets.get("cookie_key") if ui.has_secrets() else None)
except AihubError as exc:
    st.error(f"AI Analytics Hub cannot start: {exc}")
    st.stop()

# Every run: re-check the session (or resume it from the cookie); None shows the login page.
principal = login.gate(key)

if principal is not None:
    sections = {
        "Overview": [st.Page("pages/dashboard.py", title="Dashboard", icon=":material/dashboard:", default=True)],
        "Work": [
            st.Page("pages/data_sources.py", title="Data sources", icon=":material/database:"),
            st.Page("pages/forecasts.py", title="Forecasts", icon=":material/timeline:"),
            st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
            st.Page("pages/predictions.py", title="Predictions", icon=":material/online_prediction:"),
            st.Page("pages/anomalies.py", title="Anomalies", icon=":material/crisis_alert:"),
            st.Page("pages/workflows.py", title="Workflows", icon=":material/account_tree:"),
            st.Page("pages/insights.py", title="Insights", icon=":material/lightbulb:"),
        ],
    }
    if principal.can("manage"):
        sections["Admin"] = [st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:")]
    sections["Account"] = [st.Page(login.logout_page, title="Log out", icon=":material/logout:")]
    with st.sidebar:
        st.caption(f"{principal.name} · {principal.role} · {principal.tenant_name}")
    try:
        st.navigation(sections).run()
    except PermissionDenied as exc:
        # A service call found the session revoked mid-run (logout elsewhere, deactivation): to the login page.
        if not login.session_ended(exc):
            raise
else:
    st.navigation([st.Page(login.login_page, title="Log in", icon=":material/login:")]).run()
