"""The log-in form readies the browser's plotly module for the first Dashboard without blocking the form (issue 16).

Loading and starting Streamlit's plotly component (4.7 MB of JavaScript) cost a first log-in 1 to 2 s of
main-thread work in front of the Dashboard's charts (``benchmarks/page_render.py``). A hidden chart on the form
moved that work onto the form, where it froze typing as the form appeared. The form now only downloads the
module; *Login* starts it, beside the server's run.
"""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, new_tenant

pytestmark = pytest.mark.browser

_LOADS = "() => performance.getEntriesByType('resource').filter(r => r.name.includes('/PlotlyChart.')).length"


def test_log_in_form_downloads_the_chart_module_and_login_starts_it(app_page):
    from playwright.sync_api import expect

    admin = new_tenant("warmup")
    page = app_page.page
    app_page.goto()
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
    page.wait_for_function(f"({_LOADS})() > 0", polling=100, timeout=120_000)  # downloaded while the user types
    page.wait_for_timeout(1000)
    # ... but not started: no chart, no module run (its long task would freeze the form).
    assert page.evaluate("() => window.__aihubChartModule") == {"started": False, "loaded": False}
    assert page.locator(".js-plotly-plot").count() == 0
    assert page.locator(".st-key-chart_warm_up").bounding_box() is None  # nothing of it on screen

    app_page.log_in(admin.username, PASSWORD, then="Dashboard")
    # Login started it (beside the server's run) and the browser ran it.
    page.wait_for_function("() => window.__aihubChartModule.loaded", polling=100, timeout=60_000)
    expect(page.locator(".st-key-chart_warm_up")).to_have_count(0)
