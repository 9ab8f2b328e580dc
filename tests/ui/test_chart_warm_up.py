"""The log-in form starts the browser's plotly component, hidden, while the user types (issue 16).

Loading and starting Streamlit's plotly component (4.7 MB of JavaScript) cost a first log-in 1 to 2 s of
main-thread work in front of the Dashboard's charts (``benchmarks/page_render.py``). The form now draws an empty
chart that nobody sees; after log-in it is gone.
"""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, new_tenant

pytestmark = pytest.mark.browser


def test_log_in_form_loads_the_chart_component_unseen(app_page):
    from playwright.sync_api import expect

    admin = new_tenant("warmup")
    page = app_page.page
    app_page.goto()
    expect(page.get_by_role("textbox", name="E-mail")).to_be_visible()
    warm = page.locator(".st-key-chart_warm_up .js-plotly-plot")
    page.wait_for_function("() => document.querySelector('.st-key-chart_warm_up .js-plotly-plot .main-svg')",
                           polling=100, timeout=120_000)  # drawn: the component is loaded and started
    loaded = page.evaluate("() => performance.getEntriesByType('resource').map(r => r.name)")
    assert any("/PlotlyChart." in name for name in loaded), loaded
    expect(warm).to_have_count(1)
    expect(warm).to_be_hidden()  # nothing of it on screen
    assert page.locator(".st-key-chart_warm_up").bounding_box() is None

    app_page.log_in(admin.username, PASSWORD, then="Dashboard")
    expect(page.locator(".st-key-chart_warm_up")).to_have_count(0)
