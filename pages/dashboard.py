"""Dashboard: key figures, latest training jobs and the active forecasts."""

import pandas as pd
import streamlit as st

from aihub import charts, dashboard, training
from pages import _common as ui

p = ui.principal()


@st.cache_data(ttl=15, show_spinner=False)
def load_summary(tenant_id: int, _principal) -> dashboard.DashboardSummary:
    return dashboard.summary(_principal)


@st.cache_data(ttl=15, show_spinner=False)
def load_anomalies(tenant_id: int, _principal):
    return dashboard.anomaly_summary(_principal)


@st.cache_data(ttl=15, show_spinner=False)
def load_view(tenant_id: int, model_id: int, version_id: int, _principal) -> training.ForecastView:
    return training.forecast_view(_principal, model_id, version_id)


st.title("Dashboard")
summary = load_summary(p.tenant_id, p)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Datasets", summary.datasets)
c2.metric("Active models", summary.models_active)
c3.metric("Inactive models", summary.models_inactive)
c4.metric("Failed trainings", summary.jobs_by_status.get("failed", 0))

st.subheader("Latest training jobs")
if summary.latest_jobs:
    jobs = pd.DataFrame([{
        "model": j.model_name, "status": j.status, "queued_at": j.queued_at,
        "seconds": round(j.seconds, 1) if j.seconds is not None else None, "error": j.error or "",
    } for j in summary.latest_jobs])
    st.dataframe(jobs, hide_index=True, use_container_width=True)
else:
    st.info("No training yet. Upload data on **Data sources**, then create a model on **Models**.")

st.subheader("Active forecasts")
if not summary.active_forecasts:
    st.info("No deployed forecast yet.")
for model in summary.active_forecasts:
    view = ui.attempt(load_view, p.tenant_id, model.id, model.active_version_id, p)
    if view is None:
        continue
    mase = view.version.metrics.get("mase")
    st.markdown(f"**{model.name}** · version {view.version.version} · {view.version.algorithm}"
                + (f" · backtest MASE {mase:.3f}" if mase is not None else ""))
    st.plotly_chart(charts.forecast_figure(view.history, view.forecast, view.actuals,
                                           value_label=view.spec.value_column),
                    use_container_width=True, key=f"dash_fc_{model.id}")

st.subheader("Anomalies")
anomalies = load_anomalies(p.tenant_id, p)
if not anomalies.monitors:
    st.info("No anomaly monitors yet. Create one on **Anomalies**.")
else:
    c1, c2, c3, c4, c5 = st.columns(5)
    for col, sev in zip((c1, c2, c3, c4), ("critical", "high", "medium", "low")):
        col.metric(f"Open {sev}", anomalies.open_by_severity[sev])
    hours = anomalies.median_hours_to_resolve
    c5.metric("Median time to resolve",
              "n/a" if hours is None else f"{hours * 60:.0f} min" if hours < 1
              else f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days",
              help=f"From detection to resolved or false positive, over {anomalies.closed} closed anomalies.")
    st.dataframe(pd.DataFrame([{
        "monitor": m.name, "anomalies": m.anomalies, "open": m.open, "reviewed": m.reviewed,
        "false positives": m.false_positives,
        "false-positive rate": None if m.false_positive_rate is None else round(100 * m.false_positive_rate, 1),
    } for m in anomalies.monitors]), hide_index=True, use_container_width=True,
        column_config={"false-positive rate": st.column_config.NumberColumn(format="%.1f %%")})
