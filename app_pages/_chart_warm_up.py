"""The log-in form readies the browser's plotly chart module for the first Dashboard (Streamlit glue).

Loading and starting Streamlit's plotly component is 4.7 MB of JavaScript and one main-thread task of 1 to 2 s
on a loaded 2-core machine (``benchmarks/page_render.py``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

from aihub.charts import dashboard as dashboard_charts


def js_string(text: str) -> str:
    """``text`` as a JavaScript string literal that cannot end the ``<script>`` element it stands in."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def _plotly_module() -> str | None:
    """The file name of Streamlit's plotly chart module in its static files (``PlotlyChart.<hash>.js``), or None."""
    found = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if len(found) == 1 else None


#: Downloads the module ``%s`` beside Streamlit's own script once the form is drawn (no main-thread work), and
#: starts it on *Login* (a click or Enter in the form): its one long task (1 to 2 s on a loaded machine) then
#: runs while the server logs in and builds the Dashboard, not while the user types.
_PRELOAD = """(() => {
  if (window.__aihubChartModule) return;
  const main = document.querySelector('script[type="module"][src*="static/js/index."]');
  if (!main) return;
  const state = window.__aihubChartModule = {started: false, loaded: false};
  const url = new URL('./' + %s, main.src).href;
  const start = () => {
    if (state.started) return;
    state.started = true;
    import(url).then(() => { state.loaded = true; }, () => {});
  };
  requestAnimationFrame(() => setTimeout(() => fetch(url).catch(() => {}), 0));
  const inForm = (e) => e.target instanceof Element && e.target.closest('[data-testid="stForm"]');
  for (const type of ['pointerdown', 'click']) {
    document.addEventListener(type, (e) => { if (inForm(e) && e.target.closest('button')) start(); }, true);
  }
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter' && inForm(e)) start(); }, true);
})();"""


def draw() -> None:
    """Have the browser's plotly chart module ready for the first Dashboard, without blocking the form.

    Loading and starting it is 4.7 MB of JavaScript and one main-thread task of 1 to 2 s on a loaded 2-core
    machine (``benchmarks/page_render.py``): in front of the first Dashboard's charts it cost a first log-in
    about 2 s; drawn hidden on the form, it froze the form just as it appeared. Now it is downloaded while the
    user types and started on *Login*, beside the server's run (:data:`_PRELOAD`). The server imports plotly's
    trace classes here too (:func:`aihub.charts.dashboard.warm_up_figure`). Without the module's name (another
    Streamlit build) an empty chart is drawn hidden instead, which loads and starts it at once.
    """
    figure = dashboard_charts.warm_up_figure()
    module = _plotly_module()
    with st.container(key="chart_warm_up"):
        if module is None:
            st.html("<style>.st-key-chart_warm_up {display: none}</style>")
            st.plotly_chart(figure, key="chart_warm_up_figure", config={"staticPlot": True})
        else:
            script = _PRELOAD % js_string(module)
            st.html(f"<style>.st-key-chart_warm_up {{display: none}}</style><script>{script}</script>",
                    unsafe_allow_javascript=True)
