"""Dashboard (the landing page): key figures, model performance, anomalies, prediction trends, usage, insights.

Every figure comes from :mod:`aihub.services.dashboard`, aggregated in SQL for the
logged-in tenant; the cached loaders take the tenant id as an argument so
tenants never share a cache entry.
"""

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from aihub.charts import dashboard as dashboard_charts
from aihub.charts import forecasts as charts
from aihub.services import dashboard
from aihub.services import forecasts as forecast_service
from aihub.services import insights as insights_service
from app_pages import _common as ui

p = ui.principal()
SEVERITIES = dashboard.SEVERITIES
SEVERITY_BADGE = {"critical": ":red[**critical**]", "high": ":orange[**high**]", "medium": ":orange[medium]",
                  "low": ":blue[low]"}


@st.cache_data(ttl=60, show_spinner=False)
def load_options(tenant_id: int, _principal) -> dashboard.FilterOptions:
    return dashboard.filter_options(_principal)


@st.cache_data(ttl=30, show_spinner=False)
def load_overview(tenant_id: int, d0: date, d1: date, types: tuple, severities: tuple, metrics: tuple,
                  _principal) -> dashboard.Overview:
    return dashboard.overview(_principal, dashboard.Filters(d0, d1, types, severities, metrics))


@st.cache_data(ttl=30, show_spinner=False)
def load_summary(tenant_id: int, _principal) -> dashboard.DashboardSummary:
    return dashboard.summary(_principal)


@st.cache_data(ttl=30, show_spinner=False)
def load_anomalies(tenant_id: int, _principal):
    return dashboard.anomaly_summary(_principal)


@st.cache_data(ttl=60, show_spinner=False)
def load_view(tenant_id: int, model_id: int, version_id: int, _principal) -> forecast_service.ForecastView:
    return forecast_service.forecast_view(_principal, model_id, version_id)


@st.cache_data(ttl=30, show_spinner=False)
def load_insights(tenant_id: int, _principal):
    return insights_service.list_insights(_principal, limit=3)


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


st.title("Dashboard")

# ------------------------------------------------------------------ filters
options = load_options(p.tenant_id, p)
today = date.today()
first = options.first_day or today - timedelta(days=30)
last = max(options.last_day or today, first)
with st.container(border=True):
    f1, f2, f3, f4 = st.columns([3, 3, 2, 2])
    picked = f1.date_input("Date range", value=(first, last), key="dash_dates", format="YYYY-MM-DD",
                           help="Predictions, outcomes, usage and deployments by when they happened; anomalies by "
                                "the period they describe. Defaults to the span of all activity.")
    types = f2.multiselect("Model type", options.model_types, key="dash_types", placeholder="All model types")
    severities = f3.multiselect("Anomaly severity", list(SEVERITIES), key="dash_severity", placeholder="All")
    metrics = f4.multiselect("Metric", options.metrics, key="dash_metric", placeholder="All metrics")
d0, d1 = (tuple(picked) + (None, None))[:2] if isinstance(picked, (tuple, list)) else (picked, picked)
d1 = d1 or d0
o = ui.attempt(load_overview, p.tenant_id, d0, d1, tuple(types), tuple(severities), tuple(metrics), p)
if o is None:
    st.stop()
kf = o.figures
summary = load_summary(p.tenant_id, p)

# ------------------------------------------------------------------ key figures
st.subheader("Key figures")
c = st.columns(4) + st.columns(4)
c[0].metric("Active models", kf.models_active, help="Models of the chosen types with a deployed version.")
c[1].metric("Inactive models", kf.models_inactive)
c[2].metric("Predictions made", ui.compact(kf.predictions),
            help=f"In the date range; {kf.prediction_errors:,} of them failed validation.")
c[3].metric("Anomalies detected", ui.compact(kf.anomalies_detected))
c[4].metric("Unresolved anomalies", ui.compact(kf.anomalies_unresolved),
            help="New, acknowledged or investigating: " + ", ".join(
                f"{kf.unresolved_by_severity[s]:,} {s}" for s in SEVERITIES))
c[5].metric("Active data sources", kf.data_sources_active,
            help=f"Enabled connectors ({kf.data_sources} configured).")
c[6].metric("Datasets", kf.datasets)
c[7].metric("Open insights", kf.insights_open,
            help=", ".join(f"{n} {k}" for k, n in sorted(kf.insights_by_priority.items())) or "none")
st.caption("Unresolved by severity: " + " · ".join(
    f"{SEVERITY_BADGE[s]} **{kf.unresolved_by_severity[s]:,}**" for s in SEVERITIES)
    + f" · failed trainings: **{summary.jobs_by_status.get('failed', 0)}**")

top = load_insights(p.tenant_id, p)
if top:
    with st.container(border=True):
        st.markdown("**Top open insights**")
        for ins in top:
            st.markdown(f"- **{ins.title}** · {ins.priority} · {ins.category}")
        st.page_link("app_pages/insights.py", label="All insights", icon=":material/lightbulb:")

# ------------------------------------------------------------------ model performance
st.subheader("Model performance")
if not o.models:
    st.info("No deployed model yet. Train one on **Models** and deploy a version.")
else:
    st.dataframe(pd.DataFrame([{
        "model": m.name, "type": m.model_type, "version": m.version,
        "deployed": m.deployed_at.strftime("%Y-%m-%d %H:%M") if m.deployed_at else "",
        "metric": m.metric, "test": float("nan") if m.test is None else m.test,
        "live": float("nan") if m.live is None else m.live, "outcomes": m.outcomes, "predictions": m.predictions,
    } for m in o.models]), hide_index=True, width="stretch",
        column_config={"test": st.column_config.NumberColumn(format="%.3f",
                                                             help="Held-out test split (backtest for forecasts)"),
                       "live": st.column_config.NumberColumn(format="%.3f",
                                                             help="From outcomes recorded in the date range"),
                       "predictions": st.column_config.NumberColumn(help="Predictions in the date range")})
    left, right = st.columns(2)
    with left:
        if o.prediction_volume:
            chart(dashboard_charts.volume_figure(o.prediction_volume, o.granularity), "dash_volume")
        else:
            st.caption("No predictions in the date range.")
    with right:
        if o.deployments:
            chart(dashboard_charts.deployment_figure(o.deployments), "dash_deployments")

st.subheader("Latest training runs")
if o.latest_jobs:
    st.dataframe(pd.DataFrame([{
        "model": j.model_name, "kind": j.kind, "status": j.status, "queued_at": j.queued_at,
        "seconds": round(j.seconds, 1) if j.seconds is not None else None, "error": j.error or "",
    } for j in o.latest_jobs]), hide_index=True, width="stretch")
else:
    st.info("No training yet. Upload data on **Data sources**, then create a model on **Models**.")

st.subheader("Active forecasts")
forecasts = [m for m in summary.active_forecasts if not types or "forecast" in types]
if not forecasts:
    st.info("No deployed forecast yet.")
for model in forecasts:
    view = ui.attempt(load_view, p.tenant_id, model.id, model.active_version_id, p)
    if view is None:
        continue
    mase = view.version.metrics.get("mase")
    text = (f"**{model.name}** · version {view.version.version} · {view.version.algorithm}"
            + (f" · backtest MASE {mase:.3f}" if mase is not None else ""))
    if len(view.actuals):
        joined = view.actuals.merge(view.forecast, on="ds")
        joined = joined[joined["y"] != 0]
        if len(joined):
            live = float((abs(joined["y"] - joined["yhat"]) / abs(joined["y"])).mean())
            text += f" · live MAPE {live:.1%} over {len(joined)} passed period{'s' if len(joined) != 1 else ''}"
    st.markdown(text)
    chart(charts.forecast_figure(view.history, view.forecast, view.actuals, value_label=view.spec.value_column),
          f"dash_fc_{model.id}")

# ------------------------------------------------------------------ anomalies
st.subheader("Recent anomalies")
if not kf.anomalies_detected:
    st.info("No anomalies in the date range. Monitors live on **Anomalies**.")
else:
    st.dataframe(pd.DataFrame([{
        "id": a["id"], "period": a["ts"].strftime("%Y-%m-%d"), "severity": a["severity"],
        "status": dashboard_charts.STATUS_LABELS.get(a["status"], a["status"]), "metric": a["metric"],
        "series": a["series"], "impact": a["impact"], "monitor": a["monitor"],
    } for a in o.latest_anomalies]), hide_index=True, width="stretch",
        column_config={"impact": st.column_config.NumberColumn(format="%,.0f", help="Estimated money impact")})
    a1, a2 = st.columns(2)
    with a1:
        chart(dashboard_charts.severity_figure(kf.detected_by_severity, kf.unresolved_by_severity), "dash_severity_fig")
    with a2:
        chart(dashboard_charts.status_figure(o.anomalies_by_status), "dash_status_fig")
    chart(dashboard_charts.anomaly_trend_figure(o.anomaly_trend, o.granularity,
                                                open_statuses=dashboard.ANOMALY_OPEN_STATUSES), "dash_anomaly_trend")

anomalies = load_anomalies(p.tenant_id, p)
if anomalies.monitors:
    st.markdown("**Triage** (all open anomalies, whatever the filters)")
    c1, c2, c3, c4, c5 = st.columns(5)
    for col, sev in zip((c1, c2, c3, c4), SEVERITIES):
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
    } for m in anomalies.monitors]), hide_index=True, width="stretch",
        column_config={"false-positive rate": st.column_config.NumberColumn(format="%.1f %%")})

# ------------------------------------------------------------------ prediction trends
st.subheader("Prediction trends")
if not o.prediction_volume:
    st.info("No predictions in the date range. Predict on **Predictions** with a deployed model.")
else:
    totals = {}
    for period, _, n in o.prediction_volume:
        totals[period] = totals.get(period, 0) + n
    t1, t2 = st.columns([3, 2])
    with t1:
        chart(dashboard_charts.volume_figure([(k, "all models", v) for k, v in sorted(totals.items())], o.granularity),
              "dash_volume_total")
    with t2:
        chart(dashboard_charts.model_usage_figure(o.models), "dash_model_usage")
    if o.accuracy_trend:
        chart(dashboard_charts.accuracy_figure(o.accuracy_trend, o.granularity), "dash_accuracy")
    else:
        st.caption("No outcomes recorded in the date range: record actual outcomes on **Predictions** to see "
                   "accuracy over time.")

# ------------------------------------------------------------------ usage
st.subheader("Usage of AI features")
if not o.usage:
    st.info("No AI feature was used in the date range.")
else:
    u1, u2 = st.columns(2)
    with u1:
        chart(dashboard_charts.usage_figure(o.usage, o.granularity), "dash_usage")
    with u2:
        chart(dashboard_charts.usage_figure(o.usage, o.granularity, users=True), "dash_users")
    st.dataframe(pd.DataFrame(o.usage_by_feature, columns=["feature", "uses", "users"]), hide_index=True,
                 width="stretch")
    st.caption(f"{o.usage_users} distinct user{'s' if o.usage_users != 1 else ''} in the date range.")
