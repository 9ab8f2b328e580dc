"""Benchmark: where the wait goes on the chart-heavy screens (Dashboard, Insights) in a real browser (issue 16).

What it does
------------
1. Creates a fresh database as ``make run`` does (see
   :func:`benchmarks.dashboard_load.open_database`; ``--reuse NAME`` times a
   kept one), seeds the demo tenant (:func:`aihub.demo.seed_demo`) and creates
   a second, empty organization ("Bench new org", :func:`aihub.auth.create_tenant`).
2. Serves ``streamlit_app.py`` as ``make run`` does (``streamlit run``, the
   repository's ``.streamlit/config.toml``, an ``aihub worker`` beside it),
   started through a small launcher that only *records* timings to a file
   (nothing in the app changes):

   * **run**: each script run (``ScriptRunner._run_script``: the router plus
     the screen, Streamlit's own run time);
   * **data**: the calls into :mod:`aihub.services.dashboard`,
     :mod:`aihub.services.insights` and :mod:`aihub.services.forecasts` made
     during it (outermost call only, so nested calls are not counted twice);
   * **charts**: ``st.plotly_chart`` (figure to JSON and into the message).

3. Drives it in headless Debian Chromium (Playwright). Each log-in or change
   of screen is timed in the page from the click:

   * **idle**: until Streamlit reports the run finished and idle
     (``stApp[data-test-script-state=notRunning]``): run plus transfer plus
     the browser handling the messages as they arrive;
   * **drawn**: until the last plotly chart has drawn its ``.main-svg``
     (or ``idle``, if later): what the user waits for. Streamlit loads its
     plotly component lazily, so charts are drawn after the run is idle;
   * **long tasks**: the main thread's tasks over 50 ms in that span
     (``PerformanceObserver('longtask')``), summed: the browser's drawing;
   * **kB**: the websocket bytes the browser received in that span;
   * **nodes**: the page's elements once drawn (``document.getElementsByTagName('*')``).

   A log-in row also says, for the form: when its first frame came (**form s**, from the tab's start), its
   script runs (**form run**), the long tasks after that frame (**f.long s**, longest **f.max s**) and the
   slowest key press of the e-mail typed as soon as the form shows (**key s**, Event Timing); and from the
   click on *Login* until no run has ended for 2 s: every script run (**runs+**) and websocket byte (**kB+**),
   which counts the runs a component's value starts after the Dashboard is idle.

   Timed: the **first log-in** of the demo tenant on a freshly started server
   (cold caches: the cold Dashboard issue 16 names; one fresh server per
   repeat), the first log-in of the new, empty organization, and on the demo
   tenant the median of ``--repeat`` changes to Insights and to the Dashboard.
4. **Same-run baselines**, timed the same way in the same browser: a served
   app of two title-only pages (what no screen can go below), and a page of
   seven plotly figures of the *demo Dashboard as this checkout builds them*
   (their drawing cost alone, no data calls), drawn first in a new tab (the
   browser loads and starts Streamlit's plotly component: what a first
   log-in paid before the log-in form started it) and again in that tab.
5. ``--cpu-slowdown K`` also repeats the screen changes with Chromium's CPU
   throttled K times (DevTools ``Emulation.setCPUThrottlingRate``), a stand-in
   for an analyst's slower laptop or a loaded machine.

The load average is printed next to each block: other sessions share the 2
cores. Figures only, no pass/fail asserts. Usage::

    python benchmarks/page_render.py [--reuse DATABASE] [--repeat 5] [--logins 3] [--cpu-slowdown 4] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dashboard_load import open_database  # the one way benchmarks make a database
from benchmarks.page_change import CHROMIUM, DEMO_PASSWORD, LINK, _floor_app, _idle, _stop
from benchmarks.page_change import _serve as serve

NEW_ORG = ("Bench new org", "owner@bench-new-org.example", "bench-new-org-password")

#: The launcher: records run, data-call and chart timings as JSON lines in $AIHUB_BENCH_TRACE, then starts
#: ``streamlit run`` exactly as the command line does. Benchmark-only; the app is not changed.
LAUNCHER = '''
import functools, inspect, json, os, sys, threading, time

trace = open(os.environ["AIHUB_BENCH_TRACE"], "a", buffering=1)
local = threading.local()


def record(kind, name, t0):
    trace.write(json.dumps({"kind": kind, "name": name, "end": time.time(), "dt": time.perf_counter() - t0}) + "\\n")


def timed(kind, name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        depth = getattr(local, kind, 0)
        setattr(local, kind, depth + 1)
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            setattr(local, kind, depth)
            if depth == 0:
                record(kind, name, t0)
    return wrapper


from streamlit.runtime.scriptrunner import script_runner
from streamlit.elements.plotly_chart import PlotlyMixin

script_runner.ScriptRunner._run_script = timed("run", "run", script_runner.ScriptRunner._run_script)
PlotlyMixin.plotly_chart = timed("charts", "plotly_chart", PlotlyMixin.plotly_chart)
import streamlit, types
streamlit.plotly_chart = types.MethodType(PlotlyMixin.plotly_chart, streamlit._main)  # st.plotly_chart is bound
import aihub.services.dashboard, aihub.services.forecasts, aihub.services.insights
for module in (aihub.services.dashboard, aihub.services.forecasts, aihub.services.insights):
    for name, fn in list(vars(module).items()):
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_"):
            setattr(module, name, timed("data", module.__name__.rsplit(".", 1)[1] + "." + name, fn))

from streamlit.web.cli import main
sys.argv = ["streamlit", "run", *sys.argv[1:]]
sys.exit(main())
'''

#: Installed before Streamlit's scripts: counts websocket bytes, keeps the long tasks.
_PROBE = """(() => {
  if (window !== window.top || window.__bench) return;
  const b = window.__bench = {bytes: 0, long: []};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => { b.bytes += e.data.byteLength ?? e.data.size ?? e.data.length ?? 0; });
    }
  };
  b.events = [];
  const form = new MutationObserver(() => {  // the log-in form's first frame: its e-mail box in the DOM, then a frame
    if (!document.querySelector('input[autocomplete=username]')) return;
    form.disconnect();
    requestAnimationFrame(() => { b.form = performance.now(); });
  });
  form.observe(document, {childList: true, subtree: true});
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) b.long.push([e.startTime, e.duration]); })
      .observe({type: 'longtask', buffered: true});
    new PerformanceObserver((list) => { for (const e of list.getEntries()) b.events.push([e.startTime, e.duration]); })
      .observe({type: 'event', durationThreshold: 16, buffered: true});
  } catch (e) {}
})();"""

#: The log-in form's page, from the tab's start to now: when the form's first frame came (s), the long tasks
#: after it (sum and longest) and the slowest key press (Event Timing: from the key press to the frame showing it).
_FORM = """
() => {
  const b = window.__bench, now = performance.now(), since = b.form ?? 0;
  const long = b.long.filter(([s, d]) => s + d > since && s < now).map(([, d]) => d);
  const keys = b.events.map(([, d]) => d);
  return {form_at: since / 1000, form_long: long.reduce((a, d) => a + d, 0) / 1000,
          form_max: Math.max(0, ...long) / 1000, key_max: Math.max(0, ...keys) / 1000};
}
"""

#: Clicks the element named ``name`` (a sidebar link or a button) and waits for an ``h1`` reading ``title`` (which
#: the screen clicked from must not show) with Streamlit idle; milliseconds from the click. A short run's
#: ``running`` state can be batched away by React, so a counted run start is not required.
_CLICK = """
async ([selector, name, title]) => {
  const all = [...document.querySelectorAll(selector)];
  const target = all.find(e => e.innerText.trim() === name) || all.find(e => e.innerText.trim().endsWith(name));
  if (!target) throw new Error('no ' + selector + ' named ' + name);
  const b = window.__bench;
  const heading = () => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === title);
  if (heading()) throw new Error('the screen already shows ' + title);
  b.bytes0 = b.bytes;
  b.t0 = performance.now();
  target.click();
  return await new Promise((resolve, reject) => {
    const check = () => {
      const app = document.querySelector('[data-testid="stApp"]');
      const now = performance.now();
      if (heading() && app.getAttribute('data-test-script-state') === 'notRunning') {
        b.idle = now;
        resolve(now - b.t0);
      } else if (now - b.t0 > 180000) reject(new Error('timeout waiting for ' + title));
      else setTimeout(check, 5);
    };
    check();
  });
}
"""

#: After :data:`_CLICK`: waits until ``n`` plotly charts (the number the run sent) have drawn their ``.main-svg``
#: (Streamlit loads its plotly component lazily, so they are drawn after the run is idle) and two animation frames
#: have passed; milliseconds from the click, with the long tasks and websocket bytes since the click.
_DRAWN = """
async (n) => {
  const b = window.__bench;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const drawn = () => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.main-svg')).length;
  while (drawn() < n) {
    if (performance.now() - b.t0 > 180000) throw new Error('only ' + drawn() + ' of ' + n + ' charts drawn');
    await new Promise(r => setTimeout(r, 5));
  }
  await frame(); await frame();
  const end = Math.max(performance.now(), b.idle);
  const long = b.long.filter(([s, d]) => s + d > b.t0 && s < end);
  return {drawn: end - b.t0, plots: drawn(), long_ms: long.reduce((a, [, d]) => a + d, 0), long_n: long.length,
          kb: (b.bytes - b.bytes0) / 1024, nodes: document.getElementsByTagName('*').length};
}
"""


class Trace:
    """The launcher's timings file; :meth:`between` sums what was recorded in a span of wall-clock time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """Seconds of runs, data calls and charts ending in ``[t0, t1]``; ``sent``: the charts of the last run."""
        totals = {"run": 0.0, "data": 0.0, "charts": 0.0, "runs": 0, "sent": 0}
        charts = 0
        for line in self.path.read_text().splitlines():
            event = json.loads(line)
            if t0 <= event["end"] <= t1:
                totals[event["kind"]] += event["dt"]
                charts += event["kind"] == "charts"
                if event["kind"] == "run":
                    totals["runs"], totals["sent"], charts = totals["runs"] + 1, charts, 0
        return totals


def _serve(env: dict, log: Path, trace: Path, script: Path, worker: bool):
    """The launcher serving ``script`` (cwd: the repository, so its config applies) and optionally a worker."""
    launcher = trace.with_suffix(".launcher.py")
    launcher.write_text(LAUNCHER)
    # The launcher's folder is not the checkout: without PYTHONPATH its `import aihub` finds the installed (editable)
    # copy, which for a worktree is another checkout's code.
    path = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return serve(script, {**env, "AIHUB_BENCH_TRACE": str(trace), "PYTHONPATH": path}, log, worker,
                 runner=[sys.executable, str(launcher)], append=True, wait=180)


def _measure(page, trace: Trace, selector: str, name: str, title: str) -> dict[str, float]:
    t0 = time.time()
    idle = page.evaluate(_CLICK, [selector, name, title]) / 1000
    time.sleep(0.1)  # the launcher's lines for the run just finished
    row = trace.between(t0, time.time())
    drawn = page.evaluate(_DRAWN, row["sent"])
    return {**row, **drawn, "idle": idle, "drawn": drawn["drawn"] / 1000, "long_ms": drawn["long_ms"] / 1000,
            "load": os.getloadavg()[0]}


def _tab(browser, url: str, slowdown: float = 1):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(_PROBE)
    page = context.new_page()
    if slowdown > 1:
        context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": slowdown})
    page.goto(url)
    return context, page


def _log_in(browser, url: str, trace: Trace, email: str, password: str) -> tuple:
    """A fresh tab's log-in, timed to the Dashboard drawn; returns (context, page, figures).

    The e-mail is typed key by key as soon as the form shows (a user who knows it by heart), so the form's
    row says how long a key press waited behind the page's own work. After the Dashboard is drawn it waits
    until no run has started for 2 s: ``runs+`` and ``kB+`` count every run and byte from the click to then
    (a run that a component's value starts after the Dashboard is idle redraws it).
    """
    context, page = _tab(browser, url)
    t_open = time.time()
    box = page.get_by_role("textbox", name="E-mail")
    box.wait_for(timeout=300_000)
    box.press_sequentially(email, delay=40)
    _idle(page)
    page.wait_for_timeout(1500)  # a run that a component's value starts
    _idle(page)
    form = page.evaluate(_FORM)
    form["form_runs"] = trace.between(t_open, time.time())["runs"]
    try:  # keys typed while the page was busy arrive late: filling the box before they did would double them
        page.wait_for_function("(v) => document.querySelector('input[autocomplete=username]')?.value === v",
                               arg=email, timeout=30_000)
    except Exception:  # noqa: BLE001 - a rerun took keys: type it whole
        box.fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.wait_for_timeout(300)
    t_click = time.time()
    row = _measure(page, trace, "button", "Login", "Dashboard")
    _quiet(page, trace, t_click)
    row["runs_all"] = trace.between(t_click, time.time())["runs"]
    row["kb_all"] = page.evaluate("() => (window.__bench.bytes - window.__bench.bytes0) / 1024")
    return context, page, {**row, **form}


def _quiet(page, trace: Trace, since: float, gap: float = 2.0, limit: float = 30.0) -> None:
    """Wait until Streamlit is idle and no run has ended for ``gap`` seconds (at most ``limit`` s)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        _idle(page)
        ends = [json.loads(line)["end"] for line in trace.path.read_text().splitlines()]
        last = max([e for e in ends if e >= since], default=since)
        if time.time() - last >= gap:
            return
        time.sleep(0.2)


def _median(rows: list[dict]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


COLUMNS = (("idle", "idle s"), ("drawn", "drawn s"), ("run", "run s"), ("data", "data s"), ("charts", "charts s"),
           ("long_ms", "long s"), ("long_n", "long n"), ("plots", "plots"), ("kb", "kB"), ("nodes", "nodes"),
           ("load", "load"))
#: The log-in rows' own columns: the form (its first frame from the tab's start, runs, long tasks after that
#: frame until it is idle, the slowest key press) and everything from the click on *Login* until no run has
#: ended for 2 s.
LOGIN_COLUMNS = (("form_at", "form s"), ("form_runs", "form run"), ("form_long", "f.long s"), ("form_max", "f.max s"),
                 ("key_max", "key s"), ("runs_all", "runs+"), ("kb_all", "kB+"))


def _print(title: str, rows: dict[str, dict[str, float]], floor: float, columns=COLUMNS) -> None:
    """A table of medians; ``x base``: drawn over the same run's title-only page drawn (``floor`` seconds)."""
    print(f"\n{title}")
    print(f"{'':<40}" + "".join(f"{label:>9}" for _, label in columns) + f"{'x base':>9}")
    for name, row in rows.items():
        print(f"{name:<40}" + "".join(f"{row[k]:>9.2f}" if isinstance(row.get(k), float) else f"{row.get(k, ''):>9}"
                                      for k, _ in columns) + f"{row['drawn'] / floor:>9.1f}")


def _figure_app(folder: Path, tenant_id: int) -> Path:
    """A page drawing the demo Dashboard's plotly figures as this checkout builds them, nothing else."""
    (folder / "figures.py").write_text(textwrap.dedent(f"""
        import streamlit as st
        from aihub.services import dashboard
        from aihub.charts import dashboard as charts
        from aihub.auth import authenticate

        st.title("Figures")
        p = st.cache_resource(authenticate)("demo@example.com", {DEMO_PASSWORD!r}, tenant_id={tenant_id})
        options = dashboard.filter_options(p)
        o = dashboard.overview(p, dashboard.Filters(options.first_day, options.last_day, (), (), ()))
        figs = [charts.volume_figure(o.prediction_volume, o.granularity), charts.deployment_figure(o.deployments),
                charts.severity_figure(o.figures.detected_by_severity, o.figures.unresolved_by_severity),
                charts.status_figure(o.anomalies_by_status), charts.anomaly_trend_figure(o.anomaly_trend,
                o.granularity), charts.model_usage_figure(o.models), charts.usage_figure(o.usage, o.granularity)]
        for k, fig in enumerate(figs):
            st.plotly_chart(fig, key=f"f{{k}}")
    """))
    (folder / "blank.py").write_text("import streamlit as st\nst.title('Blank')\n")
    (folder / "figures_app.py").write_text(textwrap.dedent("""
        import streamlit as st
        st.navigation([st.Page("blank.py", title="Blank", default=True), st.Page("figures.py", title="Figures")]).run()
    """))
    return folder / "figures_app.py"


def run(args) -> None:
    from playwright.sync_api import sync_playwright

    from aihub import auth

    demo_tenant = auth.authenticate("demo@example.com", DEMO_PASSWORD).tenant_id
    env = {**os.environ, "AIHUB_DEMO": "1"}
    work = Path(tempfile.mkdtemp(prefix="aihub-render-"))
    log = work / "app.log"
    print(f"logs and timings in {work}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                           "--disable-background-networking", "--disable-sync"])
        # ------------------------------------------------ baselines: title-only pages, the Dashboard's figures alone
        floor = _floor_app()
        figures = _figure_app(floor, demo_tenant)
        first, again = "baseline: Dashboard's figures, new tab", "baseline: Dashboard's figures, again"
        base: dict[str, list[dict]] = {"baseline: title-only page": [], first: [], again: []}
        urls = []
        for script in (floor / "app.py", figures):
            url, procs = _serve(env, log, work / f"{script.stem}.trace", script, worker=False)
            urls.append((url, procs, Trace(work / f"{script.stem}.trace")))
        (a_url, _, a_trace), (f_url, _, f_trace) = urls
        try:
            context, page = _tab(browser, a_url)
            page.locator("h1", has_text="A").wait_for(timeout=120_000)
            _idle(page)
            for _ in range(args.repeat):
                base["baseline: title-only page"].append(_measure(page, a_trace, LINK, "B", "B"))
                _measure(page, a_trace, LINK, "A", "A")
            context.close()
            for _ in range(args.repeat):  # a new tab draws its first chart after loading the plotly component
                context, page = _tab(browser, f_url)
                page.locator("h1", has_text="Blank").wait_for(timeout=120_000)
                _idle(page)
                base[first].append(_measure(page, f_trace, LINK, "Figures", "Figures"))
                _measure(page, f_trace, LINK, "Blank", "Blank")
                base[again].append(_measure(page, f_trace, LINK, "Figures", "Figures"))
                context.close()
        finally:
            _stop([p for _, procs, _ in urls for p in procs])
        base_rows = {k: _median(v) for k, v in base.items()}
        floor_drawn = base_rows["baseline: title-only page"]["drawn"]
        _print(f"same-run baselines (median of {args.repeat})", base_rows, floor_drawn)

        # ------------------------------------------------ first log-ins, each on a freshly started server
        logins: dict[str, list[dict]] = {"first log-in, demo tenant": [], "first log-in, new empty org": []}
        screens: dict[str, list[dict]] = {}
        for k in range(args.logins):
            trace = Trace(work / f"app{k}.trace")
            url, procs = _serve(env, log, trace.path, ROOT / "streamlit_app.py", worker=True)
            try:
                context, page, row = _log_in(browser, url, trace, "demo@example.com", DEMO_PASSWORD)
                logins["first log-in, demo tenant"].append(row)
                if k == 0:  # the screen changes, on the first server
                    for slowdown in [1] + ([args.cpu_slowdown] if args.cpu_slowdown > 1 else []):
                        if slowdown > 1:
                            context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": slowdown})
                        for _ in range(args.repeat):
                            for title in ("Insights", "Dashboard"):
                                label = f"{title}" + (f", CPU x{slowdown:g} slower" if slowdown > 1 else "")
                                screens.setdefault(label, []).append(_measure(page, trace, LINK, title, title))
                context.close()
                context, page, row = _log_in(browser, url, trace, NEW_ORG[1], NEW_ORG[2])
                logins["first log-in, new empty org"].append(row)
                context.close()
            finally:
                _stop(procs)
        _print(f"first log-in to the Dashboard, fresh server each (median of {args.logins})",
               {k: _median(v) for k, v in logins.items()}, floor_drawn, COLUMNS + LOGIN_COLUMNS)
        _print(f"screen changes on the demo tenant (median of {args.repeat})", {k: _median(v) for k, v in screens.items()},
               floor_drawn)
        browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reuse", help="a kept database (from --keep) instead of a fresh, seeded one")
    ap.add_argument("--data-dir", help="with --reuse: the kept data folder")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--logins", type=int, default=3, help="first log-ins, each on a freshly started server")
    ap.add_argument("--cpu-slowdown", type=float, default=4, help="Chromium CPU throttling for a second pass; 1: none")
    ap.add_argument("--keep", action="store_true", help="keep the database and the data folder")
    args = ap.parse_args()

    _db, cleanup = open_database(False, args.reuse)
    try:
        from aihub import auth, demo
        from aihub.errors import AihubError
        from aihub.runtime.wiring import wire

        wire()
        if args.data_dir:
            os.environ["AIHUB_DATA_DIR"] = args.data_dir  # the kept database's files, for the served app
        t0 = time.perf_counter()
        if not args.reuse:
            demo.seed_demo()
        try:
            auth.authenticate(NEW_ORG[1], NEW_ORG[2])
        except AihubError:
            auth.create_tenant(NEW_ORG[0], NEW_ORG[1], NEW_ORG[2])
        print(f"seeded the demo tenant and an empty organization in {time.perf_counter() - t0:.1f} s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start; idle/drawn: from the "
              "click; run/data/charts: the server's script runs, data calls, st.plotly_chart in that span; "
              "long: main-thread long tasks; kB: websocket bytes received")
        run(args)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        cleanup(args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
