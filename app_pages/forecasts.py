"""Forecasts: a guided form for a new forecast, then its versions, chart, backtest and CSV."""

import pandas as pd
import streamlit as st

from aihub.charts import forecasts as charts
from aihub.services import forecasts as training
from aihub.services import registry
from app_pages import _common as ui
from app_pages import _jobs
from app_pages._forecast_form import guided_form

p = ui.principal()
st.title("Forecasts")

SCORES = (("mase", "MASE"), ("mae", "MAE"), ("rmse", "RMSE"), ("mape", "MAPE %"))
MASE_HELP = ("Mean absolute scaled error: the backtest error divided by the in-sample error of the seasonal naive "
             "forecast (repeating the last season). Lower is better.")
BENCHMARK_NAMES = {"naive": "repeat the last value (naive)", "seasonal_naive": "repeat the last season"}


def worse_than_naive(metrics: dict) -> bool:
    """Whether the chosen method lost to the naive forecast in the backtest (issue 9's warning)."""
    mase, naive = metrics.get("mase"), metrics.get("mase_naive")
    return mase is not None and naive is not None and mase > naive


def backtest_panel(metrics: dict, key: str) -> None:
    """Each candidate's backtest MASE next to the naive benchmarks, with a plain warning when the chosen one lost."""
    if worse_than_naive(metrics):
        st.warning(f"This forecast did worse than repeating the last value in backtests (MASE "
                   f"{metrics['mase']:.3f} against {metrics['mase_naive']:.3f}). Treat it with care: try another "
                   "frequency, a longer history or fewer filters.")
    candidates = metrics.get("candidates") or metrics.get("backtest")
    if not candidates:
        return
    table = pd.DataFrame(candidates)
    table["benchmark"] = table["algorithm"].map(BENCHMARK_NAMES).fillna("")
    keep = [c for c in ("algorithm", "benchmark", "mase", "mae", "rmse", "smape", "status", "selected") if c in table]
    with st.expander("Backtest: each candidate against the naive benchmarks", expanded=worse_than_naive(metrics)):
        st.dataframe(table[keep].sort_values("mase"), hide_index=True, use_container_width=True,
                     column_config={"mase": st.column_config.NumberColumn("MASE", help=MASE_HELP, format="%.3f")})
        ok = table[table["status"] == "ok"] if "status" in table else table
        if len(ok):
            st.plotly_chart(charts.backtest_figure(ok), use_container_width=True, key=f"backtest_chart_{key}")


def series_panel(model, version) -> None:
    """A model of many series: their table (sortable, filterable), the sum and the selected series' chart."""
    table = ui.attempt(training.forecast_series, p, model.id, version.id)
    if table is None or table.empty:
        return
    m = version.metrics
    st.caption(f"{m.get('series', len(table))} series · {m.get('series_failed', 0)} could not be forecast · "
               f"{m.get('series_worse_than_naive', 0)} did worse than repeating the last value"
               + (f" · {m['series_dropped']} smaller series left out" if m.get("series_dropped") else ""))
    dims = [c for c in table.columns if c not in training.SERIES_FIELDS]
    c1, c2 = st.columns(2)
    text = c1.text_input("Find series", key="fc_series_find", placeholder="e.g. Chairs")
    only_bad = c2.checkbox("Only series worse than naive", key="fc_series_bad")
    shown = table[table["series_key"].str.contains(text, case=False, regex=False)] if text else table
    if only_bad:
        shown = shown[shown["mase"] > shown["mase_naive"]]
    view = shown[["series_key", *dims, "algorithm", "volume", "growth", "mase", "mase_naive", "error"]].copy()
    view["growth"] = 100 * view["growth"]
    event = st.dataframe(
        view.drop(columns=["series_key"]), hide_index=True, use_container_width=True, on_select="rerun",
        selection_mode="single-row", key="fc_series_table",
        column_config={"volume": st.column_config.NumberColumn("Volume", format="compact"),
                       "growth": st.column_config.NumberColumn("Growth %", format="%.1f",
                                                               help="Forecast total against the latest actuals "
                                                                    "of the same length."),
                       "mase": st.column_config.NumberColumn("MASE", format="%.3f", help=MASE_HELP),
                       "mase_naive": st.column_config.NumberColumn("Naive MASE", format="%.3f")})
    rows = event.selection.rows if event is not None else []
    key = view["series_key"].iloc[rows[0]] if rows else None
    chart_view = ui.attempt(training.forecast_view, p, model.id, version.id, key)
    if chart_view is not None:
        title = key or f"Sum of {len(table)} series (bounds are sums of the series' bounds)"
        st.plotly_chart(charts.forecast_figure(chart_view.history, chart_view.forecast, chart_view.actuals,
                                               title=title, value_label=chart_view.spec.value_column),
                        use_container_width=True, key="forecast_chart")
    if key is not None:
        row = table[table["series_key"] == key].iloc[0]
        backtest_panel({"mase": row["mase"], "mase_naive": row["mase_naive"], "backtest": row["backtest"]}, "one")
    else:
        st.caption("Select a row to see that series, its chart and its backtest.")


def version_panel(model, version) -> None:
    """Chart, backtest scores and CSV of one forecast version."""
    csv = ui.attempt(training.forecast_csv, p, model.id, version.id)
    if version.params.get("per_series"):
        series_panel(model, version)
    else:
        single_panel(model, version)
    if csv is not None:
        st.download_button("Download forecast CSV", csv, file_name=f"{model.name}_v{version.version}_forecast.csv",
                           mime="text/csv", key="download_forecast")
    with st.expander("Version details"):
        st.json({"params": version.params, "library_versions": version.library_versions,
                 "training_data_hash": version.training_data_hash})


def single_panel(model, version) -> None:
    """Chart and backtest of a model of one series."""
    view = ui.attempt(training.forecast_view, p, model.id, version.id)
    if view is None:
        return
    st.plotly_chart(
        charts.forecast_figure(view.history, view.forecast, view.actuals,
                               title=f"{model.name} — version {version.version} ({version.algorithm})",
                               value_label=view.spec.value_column),
        use_container_width=True, key="forecast_chart")
    m = version.metrics
    for col, (key, label) in zip(st.columns(4), SCORES, strict=True):
        if m.get(key) is not None:
            col.metric(f"Backtest {label}", f"{m[key]:,.3f}", help=MASE_HELP if key == "mase" else None)
    backtest_panel(m, "single")


def forecasts_panel() -> None:
    """Forecast models: retrain, versions, deploy or roll back, and the selected version."""
    models = ui.attempt(registry.list_models, p, training.FORECAST_KIND) or []
    if not models:
        st.info("No forecasts yet. Train one on the **New forecast** tab.")
        return
    ids = [m.id for m in models]
    sel = st.session_state.get("selected_forecast")
    model_id = st.selectbox("Forecast", ids, index=ids.index(sel) if sel in ids else 0, key="forecast_pick",
                            format_func=lambda i: next(m.name for m in models if m.id == i))
    model = next(m for m in models if m.id == model_id)
    st.caption(f"{model.versions} version(s) · "
               + (f"active: version {model.active_version}" if model.active_version else "not deployed"))
    jobs = ui.attempt(registry.list_jobs, p, model.id, 5) or []
    for j in [j for j in jobs[:1] if j.status == "failed"]:
        st.error(f"The latest training failed: {j.error}")
    c1, c2, c3 = st.columns(3)
    if c1.button("Retrain on newest data", key="retrain", disabled=not p.can("create")):
        job = ui.attempt(training.train, p, model.id)
        if job:
            st.session_state["watch_job"] = job.id
            st.rerun()
    versions = ui.attempt(registry.list_versions, p, model.id) or []
    if not versions:
        return
    table = pd.DataFrame([{
        "version": v.version, "active": v.is_active, "algorithm": v.algorithm,
        **{label: round(v.metrics[key], 3) if v.metrics.get(key) is not None else None for key, label in SCORES},
        "train s": round(v.training_seconds, 1), "trained": v.created_at,
    } for v in versions])
    st.dataframe(table, hide_index=True, use_container_width=True)
    by_number = {v.version: v for v in versions}
    number = st.selectbox("Version", list(by_number), key="version_pick")
    version = by_number[number]
    deploy = c2.button(f"Deploy version {number}", key="deploy", disabled=version.is_active or not p.can("update"))
    if deploy and ui.attempt(registry.deploy, p, model.id, version.id):
        st.cache_data.clear()
        st.rerun()
    rollback = c3.button("Roll back", key="rollback", disabled=not p.can("update") or model.active_version is None)
    if rollback and ui.attempt(registry.rollback, p, model.id):
        st.cache_data.clear()
        st.rerun()
    version_panel(model, version)


_jobs.show_jobs(p, [training.FORECAST_KIND])
TABS = ["New forecast", "Forecasts and versions"]
if st.session_state.pop("_show_forecasts_tab", False):
    st.session_state["forecasts_tab"] = TABS[-1]
tab_new, tab_list = st.tabs(TABS, key="forecasts_tab", on_change="rerun")
with tab_new:
    if tab_new.open:
        guided_form(p)
with tab_list:
    if tab_list.open:
        forecasts_panel()
