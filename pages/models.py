"""Models: create a forecast through a guided form, watch it train, compare versions, deploy."""

import pandas as pd
import streamlit as st

from aihub import charts, datasets, forecasting, registry, training
from pages import _common as ui

p = ui.principal()
st.title("Models")

FREQ_LABELS = {"M": "Monthly", "W": "Weekly", "D": "Daily"}


@st.fragment(run_every=2)
def job_panel(job_id: int) -> None:
    """Live progress of one training job, re-read from the database every 2 s."""
    job = ui.attempt(registry.get_job, p, job_id)
    if job is None:
        return
    secs = f"{job.seconds:.0f} s" if job.seconds is not None else "not started"
    if job.status in ("queued", "running"):
        with st.status(f"Training **{job.model_name}** — {job.status} ({secs})", expanded=True):
            st.progress(job.progress, text=job.message)
            if p.can("update") and st.button("Cancel training", key=f"cancel_{job_id}"):
                ui.attempt(registry.cancel_job, p, job_id)
    else:
        st.session_state.pop("watch_job", None)
        st.session_state["finished_job"] = job_id
        st.rerun(scope="app")


def guided_form() -> None:
    """The new-forecast form: every field validated with a message next to it."""
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    errs = st.session_state.get("form_errors", {})

    def field_error(key: str) -> None:
        if key in errs:
            st.error(errs[key])

    by_name = {r.name: r for r in records}
    ds_name = st.selectbox("Dataset", list(by_name), key="fc_dataset")
    field_error("dataset_id")
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
        field_error("date_column")
    with c2:
        value_col = st.selectbox("Value to forecast", numbers, key="fc_value",
                                 index=numbers.index("Sales") if "Sales" in numbers else 0)
        field_error("value_column")
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
    field_error("filters")
    c1, c2, c3 = st.columns(3)
    with c1:
        freq = st.radio("Aggregation", list(FREQ_LABELS), format_func=FREQ_LABELS.get, key="fc_freq",
                        horizontal=True)
        field_error("freq")
    with c2:
        agg = st.radio("Combine by", training.AGGS, key="fc_agg", horizontal=True)
        field_error("agg")
    with c3:
        horizon = st.number_input("Horizon (periods)", min_value=0, max_value=10_000, value=12, step=1,
                                  key="fc_horizon")
        field_error("horizon")
    algorithm = st.selectbox("Algorithm", forecasting.ALGORITHMS, key="fc_algorithm",
                             help="auto backtests Prophet and statistical baselines and keeps the best by MASE.")
    field_error("algorithm")
    name = st.text_input("Model name", value=f"{value_col} {FREQ_LABELS[freq].lower()} forecast"
                         if value_col else "", key="fc_name")
    field_error("model_name")

    if st.button("Train forecast", type="primary", key="fc_train", disabled=not p.can("create")):
        raw = {"model_name": name, "dataset_id": rec.id, "date_column": date_col, "value_column": value_col,
               "freq": freq, "agg": agg, "horizon": int(horizon), "algorithm": algorithm, "filters": filters}
        errors = training.ForecastSpec.check(raw, columns)
        if errors:
            st.session_state["form_errors"] = errors
            st.rerun()
        st.session_state["form_errors"] = {}
        out = ui.attempt(training.create_forecast_model, p, raw)
        if out is not None:
            model, job = out
            st.session_state["watch_job"] = job.id
            st.session_state["selected_model"] = model.id
            st.session_state["_show_models_tab"] = True
            st.rerun()


def model_panel() -> None:
    models = ui.attempt(registry.list_models, p) or []
    if not models:
        st.info("No models yet.")
        return
    ids = [m.id for m in models]
    sel = st.session_state.get("selected_model")
    model_id = st.selectbox("Model", ids, index=ids.index(sel) if sel in ids else 0, key="model_pick",
                            format_func=lambda i: next(m.name for m in models if m.id == i))
    model = next(m for m in models if m.id == model_id)
    st.caption(f"{model.kind} · {model.versions} version(s) · "
               + (f"active: version {model.active_version}" if model.active_version else "not deployed"))

    jobs = ui.attempt(registry.list_jobs, p, model.id, 5) or []
    failed = [j for j in jobs[:1] if j.status == "failed"]
    for j in failed:
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
        **{label: round(v.metrics[key], 3) if v.metrics.get(key) is not None else None
           for key, label in (("mase", "MASE"), ("mae", "MAE"), ("rmse", "RMSE"), ("mape", "MAPE %"))}, "train s": round(v.training_seconds, 1), "trained": v.created_at,
    } for v in versions])
    st.dataframe(table, hide_index=True, use_container_width=True)
    by_number = {v.version: v for v in versions}
    number = st.selectbox("Version", list(by_number), key="version_pick")
    version = by_number[number]
    if c2.button(f"Deploy version {number}", key="deploy", disabled=version.is_active or not p.can("update")):
        if ui.attempt(registry.deploy, p, model.id, version.id):
            st.cache_data.clear()
            st.rerun()
    if c3.button("Roll back", key="rollback", disabled=not p.can("update") or model.active_version is None):
        if ui.attempt(registry.rollback, p, model.id):
            st.cache_data.clear()
            st.rerun()

    if model.kind == "forecast":
        view = ui.attempt(training.forecast_view, p, model.id, version.id)
        if view is not None:
            st.plotly_chart(
                charts.forecast_figure(view.history, view.forecast, view.actuals,
                                       title=f"{model.name} — version {version.version} ({version.algorithm})",
                                       value_label=view.spec.value_column),
                use_container_width=True, key="forecast_chart")
            m = version.metrics
            cols = st.columns(4)
            for col, key, label in zip(cols, ("mase", "mae", "rmse", "mape"), ("MASE", "MAE", "RMSE", "MAPE %"),
                                       strict=True):
                if m.get(key) is not None:
                    col.metric(f"Backtest {label}", f"{m[key]:,.3f}")
            candidates = m.get("candidates")
            if candidates:
                with st.expander("How auto chose (backtest of each candidate)"):
                    st.plotly_chart(charts.backtest_figure(pd.DataFrame(candidates)), use_container_width=True,
                                    key="backtest_chart")
            st.download_button("Download forecast CSV", view.forecast.to_csv(index=False).encode(),
                               file_name=f"{model.name}_v{version.version}_forecast.csv", mime="text/csv",
                               key="download_forecast")
            with st.expander("Version details"):
                st.json({"params": version.params, "library_versions": version.library_versions,
                         "training_data_hash": version.training_data_hash})


active_jobs = [j for j in (ui.attempt(registry.list_jobs, p, None, 10) or []) if not j.done]
watch = st.session_state.get("watch_job") or (active_jobs[0].id if active_jobs else None)
if watch:
    job_panel(watch)
finished = st.session_state.pop("finished_job", None)
if finished:
    done = ui.attempt(registry.get_job, p, finished)
    if done is not None and done.status == "succeeded":
        st.success(f"Training of **{done.model_name}** finished in {done.seconds:.1f} s. "
                   "Review the new version below and deploy it.")
    elif done is not None:
        st.error(f"Training of **{done.model_name}** {done.status}: {done.error}")

TABS = ["New forecast", "Models and versions"]
if st.session_state.pop("_show_models_tab", False):
    st.session_state["models_tab"] = TABS[1]
tab_new, tab_models = st.tabs(TABS, key="models_tab", on_change="rerun")
with tab_new:
    guided_form()
with tab_models:
    model_panel()
