"""Forecasts: a guided form for a new forecast, then its versions, chart, backtest and CSV."""

import pandas as pd
import streamlit as st

from aihub import datasets, exports, forecasting, registry, training
from aihub.charts import forecasts as charts
from pages import _common as ui
from pages import _jobs

p = ui.principal()
st.title("Forecasts")

FREQ_LABELS = {"M": "Monthly", "W": "Weekly", "D": "Daily"}
SCORES = (("mase", "MASE"), ("mae", "MAE"), ("rmse", "RMSE"), ("mape", "MAPE %"))
MASE_HELP = ("Mean absolute scaled error: the backtest error divided by the error of repeating the last value. "
             "Below 1 beats that naive forecast; lower is better.")


def _field_error(key: str) -> None:
    errs = st.session_state.get("form_errors", {})
    if key in errs:
        st.error(errs[key])


def guided_form() -> None:
    """The new-forecast form: every field validated with a message next to it."""
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    by_name = {r.name: r for r in records}
    ds_name = st.selectbox("Dataset", list(by_name), key="fc_dataset")
    _field_error("dataset_id")
    rec = by_name[ds_name]
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    if version is None:
        return
    columns = training.dataset_columns(version)
    dates = [c for c, k in columns.items() if k == "date"]
    numbers = [c for c, k in columns.items() if k in ("number", "integer")]
    cats = [c for c, k in columns.items() if k in ("category", "boolean")]

    c1, c2 = st.columns(2)
    with c1:
        date_col = st.selectbox("Date column", dates, key="fc_date", placeholder="no date column")
        _field_error("date_column")
    with c2:
        value_col = st.selectbox("Value to forecast", numbers, key="fc_value",
                                 index=numbers.index("Sales") if "Sales" in numbers else 0)
        _field_error("value_column")
    c1, c2 = st.columns(2)
    with c1:
        filter_col = st.selectbox("Filter by (optional)", ["(no filter)", *cats], key="fc_filter_col")
    filters = {}
    with c2:
        if filter_col != "(no filter)":
            values = ui.attempt(datasets.column_values, p, version.id, filter_col) or []
            chosen = st.multiselect(f"Keep {filter_col}", values, key="fc_filter_values")
            if chosen:
                filters = {filter_col: chosen}
    _field_error("filters")
    c1, c2, c3 = st.columns(3)
    with c1:
        freq = st.radio("Aggregation", list(FREQ_LABELS), format_func=FREQ_LABELS.get, key="fc_freq",
                        horizontal=True)
        _field_error("freq")
    with c2:
        agg = st.radio("Combine by", training.AGGS, key="fc_agg", horizontal=True)
        _field_error("agg")
    with c3:
        horizon = st.number_input("Horizon (periods)", min_value=0, max_value=10_000, value=12, step=1,
                                  key="fc_horizon")
        _field_error("horizon")
    algorithm = st.selectbox("Algorithm", forecasting.ALGORITHMS, key="fc_algorithm",
                             help="auto backtests Prophet and statistical baselines and keeps the best by MASE.")
    _field_error("algorithm")
    name = st.text_input("Model name", value=f"{value_col} {FREQ_LABELS[freq].lower()} forecast"
                         if value_col else "", key="fc_name")
    _field_error("model_name")

    if st.button("Train forecast", type="primary", key="fc_train", disabled=not p.can("create")):
        raw = {"model_name": name, "dataset_id": rec.id, "date_column": date_col, "value_column": value_col,
               "freq": freq, "agg": agg, "horizon": int(horizon), "algorithm": algorithm, "filters": filters}
        errors = training.ForecastSpec.check(raw, columns)
        st.session_state["form_errors"] = errors
        if errors:
            st.rerun()
        out = ui.attempt(training.create_forecast_model, p, raw)
        if out is not None:
            model, job = out
            st.session_state["watch_job"] = job.id
            st.session_state["selected_forecast"] = model.id
            st.session_state["_show_forecasts_tab"] = True
            st.rerun()


def backtest_panel(metrics: dict) -> None:
    """Each candidate's backtest MASE next to the naive forecast's, with a plain warning when the chosen one lost."""
    mase, naive = metrics.get("mase"), metrics.get("mase_naive")
    if mase is not None and naive is not None and mase > naive:
        st.warning(f"This forecast did worse than repeating the last value in backtests (MASE {mase:.3f} against "
                   f"{naive:.3f} for the naive forecast). Treat it with care: try another aggregation, a longer "
                   "history or fewer filters.")
    candidates = metrics.get("candidates")
    if not candidates:
        return
    table = pd.DataFrame(candidates)
    keep = [c for c in ("algorithm", "mase", "mae", "rmse", "smape", "status", "selected") if c in table]
    with st.expander("Backtest: each candidate against the naive forecast", expanded=bool(naive and mase
                                                                                         and mase > naive)):
        st.dataframe(table[keep], hide_index=True, use_container_width=True,
                     column_config={"mase": st.column_config.NumberColumn("MASE", help=MASE_HELP, format="%.3f")})
        ok = table[table["status"] == "ok"] if "status" in table else table
        if len(ok):
            st.plotly_chart(charts.backtest_figure(ok), use_container_width=True, key="backtest_chart")


def version_panel(model, version) -> None:
    """Chart, backtest scores and CSV of one forecast version."""
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
    backtest_panel(m)
    st.download_button("Download forecast CSV", exports.to_csv_bytes(view.forecast),
                       file_name=f"{model.name}_v{version.version}_forecast.csv", mime="text/csv",
                       key="download_forecast")
    with st.expander("Version details"):
        st.json({"params": version.params, "library_versions": version.library_versions,
                 "training_data_hash": version.training_data_hash})


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
        guided_form()
with tab_list:
    if tab_list.open:
        forecasts_panel()
