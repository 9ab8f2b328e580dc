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


def _js_string(text: str) -> str:
    """``text`` as a JavaScript string literal that cannot end the ``<script>`` element it stands in."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def _plotly_module() -> str | None:
    """The file name of Streamlit's plotly chart module in its static files (``PlotlyChart.<hash>.js``), or None."""
    found = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if len(found) == 1 else None


#: Downloads the module ``%s`` beside Streamlit's own script as soon as the form is drawn (no main-thread work),
#: then starts it (its one long task) at the first moment the form has had no key press for ``QUIET_MS``,
#: counted from the form's first frame, or on *Login* (a click or Enter in the form) at the latest.
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
  const inForm = (e) => e.target instanceof Element && e.target.closest('[data-testid="stForm"]');
  let last = 0;
  document.addEventListener('keydown', (e) => {
    if (!inForm(e)) return;
    last = performance.now();
    if (e.key === 'Enter') start();
  }, true);
  for (const type of ['pointerdown', 'click']) {
    document.addEventListener(type, (e) => { if (inForm(e) && e.target.closest('button')) start(); }, true);
  }
  const quiet = () => {
    if (state.started) return;
    const wait = last + %d - performance.now();
    if (wait > 0) setTimeout(quiet, wait); else start();
  };
  requestAnimationFrame(() => setTimeout(() => {
    last = Math.max(last, performance.now());
    fetch(url).catch(() => {});
    quiet();
  }, 0));
})();"""

#: Milliseconds without a key press in the form before the module is started (a user typing is not stopped).
QUIET_MS = 1000


def draw() -> None:
    """Have the browser's plotly chart module ready for the first Dashboard, without blocking the form.

    Loading and starting it is 4.7 MB of JavaScript and one main-thread task of 1 to 2 s on a loaded 2-core
    machine (``benchmarks/page_render.py``): in front of the first Dashboard's charts it cost a first log-in
    about 2 s; a hidden chart on the form started it just as the form appeared, so a user typing at once waited
    up to a second for the keys to show. Now it is downloaded at once and started when the form has had no key
    press for :data:`QUIET_MS` (or on *Login*): see :data:`_PRELOAD`. Starting it only on *Login* kept the form
    free but cost the first log-in the whole task again (``page_render``: 2.3 s -> 5.0 s). The server imports
    plotly's trace classes here (:func:`aihub.charts.dashboard.warm_up_figure`). Without the module's name
    (another Streamlit build) an empty chart is drawn hidden instead, which loads and starts it at once.
    """
    figure = dashboard_charts.warm_up_figure()
    module = _plotly_module()
    with st.container(key="chart_warm_up"):
        if module is None:
            st.html("<style>.st-key-chart_warm_up {display: none}</style>")
            st.plotly_chart(figure, key="chart_warm_up_figure", config={"staticPlot": True})
        else:
            script = _PRELOAD % (_js_string(module), QUIET_MS)
            st.html(f"<style>.st-key-chart_warm_up {{display: none}}</style><script>{script}</script>",
                    unsafe_allow_javascript=True)
