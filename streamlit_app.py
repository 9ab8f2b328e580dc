"""AI Analytics Hub: entrypoint and router.

Configures the page, checks the login session on every run (or resumes it
from the re-login cookie, see ``app_pages/_login.py``) and builds the navigation
from the pages the user's role may see.
"""

import streamlit as st

from aihub import webauth
from aihub.config import load_settings
from aihub.errors import AihubError, PermissionDenied
from aihub.runtime.wiring import wire
from app_pages import _common as ui
from app_pages import _login as login

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

#: Every screen: (section, script, title, icon, permission it needs or None). Its URL is the script's name
#: (/models), also before log-in.
SCREENS = (
    ("Overview", "app_pages/dashboard.py", "Dashboard", ":material/dashboard:", None),
    ("Work", "app_pages/data_sources.py", "Data sources", ":material/database:", None),
    ("Work", "app_pages/forecasts.py", "Forecasts", ":material/timeline:", None),
    ("Work", "app_pages/models.py", "Models", ":material/model_training:", None),
    ("Work", "app_pages/predictions.py", "Predictions", ":material/online_prediction:", None),
    ("Work", "app_pages/anomalies.py", "Anomalies", ":material/crisis_alert:", None),
    ("Work", "app_pages/monitors.py", "Monitors", ":material/monitor_heart:", None),
    ("Work", "app_pages/record_monitors.py", "Risk scores", ":material/policy:", None),
    ("Work", "app_pages/workflows.py", "Workflows", ":material/account_tree:", None),
    ("Work", "app_pages/insights.py", "Insights", ":material/lightbulb:", None),
    ("Analytics", "app_pages/analytics.py", "Analytics", ":material/auto_awesome:", None),
    ("Analytics", "app_pages/recommendations.py", "Recommendations", ":material/shopping_cart:", None),
    ("Analytics", "app_pages/pricing.py", "Pricing", ":material/sell:", None),
    ("Analytics", "app_pages/inventory.py", "Inventory", ":material/inventory_2:", None),
    ("Analytics", "app_pages/sentiment.py", "Sentiment", ":material/sentiment_satisfied:", None),
    ("Analytics", "app_pages/customer_value.py", "Customer value", ":material/savings:", None),
    ("Analytics", "app_pages/next_best_action.py", "Next best action", ":material/recommend:", "predict"),
    ("Admin", "app_pages/admin.py", "Admin", ":material/admin_panel_settings:", "manage"),
)


def _url(script: str) -> str:
    return script.removeprefix("app_pages/").removesuffix(".py")


if principal is not None:
    sections: dict[str, list] = {}
    for section, script, title, icon, needs in SCREENS:
        if needs is None or principal.can(needs):
            sections.setdefault(section, []).append(
                st.Page(script, title=title, icon=icon, url_path=_url(script), default=script.endswith("dashboard.py")))
    sections["Account"] = [st.Page(login.logout_page, title="Log out", icon=":material/logout:")]
    with st.sidebar:
        st.caption(f"{principal.name} · {principal.role} · {principal.tenant_name}")
    try:
        st.navigation(sections, expanded=True).run()  # every screen and "Log out" in view, none behind "View more"
    except PermissionDenied as exc:
        # A service call found the session revoked mid-run (logout elsewhere, deactivation): to the login page.
        if not login.session_ended(exc):
            st.error(ui.message(exc))
    except AihubError as exc:  # a screen let a foreseen error through: its own words, no traceback
        st.error(ui.message(exc))
    except Exception as exc:  # noqa: BLE001 - never a traceback on screen (st.stop/st.rerun are BaseExceptions)
        ui.unexpected(exc)
else:
    # A deep link (/models) opens the login form under its own URL; a page's URL names its script hash, so the
    # rerun after log-in lands on the page that was asked for instead of the Dashboard.
    asked = [st.Page(login.login_page, title="Log in", icon=":material/login:", url_path=_url(script),
                     visibility="hidden") for _, script, *_ in SCREENS if not script.endswith("dashboard.py")]
    st.navigation([st.Page(login.login_page, title="Log in", icon=":material/login:", default=True), *asked],
                  position="hidden").run()

login.finish(principal)  # last: writes or deletes the re-login cookie
