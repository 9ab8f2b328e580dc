"""The log-in form readies the browser's plotly module for the first Dashboard (issue 16).

Loading and starting Streamlit's plotly component (4.7 MB of JavaScript) cost a first log-in 1 to 2 s of
main-thread work in front of the Dashboard's charts (``benchmarks/page_render.py``). A hidden chart on the form
started it just as the form appeared, under the keys of a user typing at once. The form now downloads the module
at once and starts it when no key has been pressed for a second (or on *Login*); it draws no chart.
"""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, new_tenant

pytestmark = pytest.mark.browser


def test_log_in_form_readies_the_chart_module_without_a_chart(app_page):
    from playwright.sync_api import expect

    admin = new_tenant("warmup")
    page = app_page.page
    app_page.goto()
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
    # Downloaded, then started once the form is quiet: the module the Dashboard's charts need is loaded.
    page.wait_for_function("() => window.__aihubChartModule && window.__aihubChartModule.loaded",
                           polling=100, timeout=120_000)
    loads = page.evaluate("() => performance.getEntriesByType('resource').map(r => r.name)")
    assert any("/PlotlyChart." in name for name in loads), loads
    assert page.locator(".js-plotly-plot").count() == 0  # no chart drawn for it
    assert page.locator(".st-key-chart_warm_up").bounding_box() is None  # nothing of it on screen

    app_page.log_in(admin.username, PASSWORD, then="Dashboard")
    expect(page.locator(".st-key-chart_warm_up")).to_have_count(0)
