"""One version of a prediction model on the Models screen: metrics, what the score means, comparison,
champion and challenger, live accuracy, serving and health (Streamlit glue; decisions live in aihub.services)."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from aihub.auth import Principal
from aihub.charts import predictions as predictive_charts
from aihub.services import health, model_config, model_training, outcomes, predictions, registry
from app_pages import _common as ui
from app_pages import _external_ui


def _fmt(v) -> str:
    return "—" if v is None else f"{v:,.3f}"


def _score_caption(version) -> None:
    """What the score is the probability of, why that class, and the decision threshold."""
    params = version.params
    if params.get("task") != "classification" or params.get("positive_class") is None:
        return
    why = model_config.POSITIVE_REASONS.get(params.get("positive_reason") or "", "")
    text = (f"The score **{params.get('score_name') or params.get('label')}** is the probability of "
            f"**{params['positive_class']}**" + (f" ({why})" if why else "") + ".")
    threshold = params.get("threshold") or {}
    if threshold.get("value") is not None:
        text += (f" Rows scoring {threshold['value']:.2f} or more are predicted **{params['positive_class']}** "
                 f"(threshold chosen on the validation rows for {threshold.get('metric', 'f1')}).")
    st.caption(text)


def summary(version) -> None:
    """Test metrics with their meaning, plain warnings, and the task's charts."""
    task, m = version.params.get("task", ""), version.metrics
    keys = [k for k in model_config.TASK_METRICS.get(task, ()) if m.get(k) is not None][:6]
    for col, key in zip(st.columns(max(len(keys), 1)), keys, strict=False):
        label, help_ = model_config.METRIC_LABELS[key]
        col.metric(f"Test {label}", _fmt(m[key]), help=help_)
    st.caption(f"Held-out test split: {m.get('n_rows', '?')} rows · trained on "
               f"{version.params.get('n_rows', {}).get('train', '?')} rows in {version.training_seconds:.1f} s")
    _score_caption(version)
    for note in model_training.quality_notes(version):
        st.warning(note)
    if task == "classification":
        c1, c2, c3 = st.columns(3)
        label = f"v{version.version}"
        c1.plotly_chart(predictive_charts.roc_figure({label: m}), use_container_width=True, key="ml_roc")
        c2.plotly_chart(predictive_charts.pr_figure({label: m}), use_container_width=True, key="ml_pr")
        c3.plotly_chart(predictive_charts.confusion_figure(m), use_container_width=True, key="ml_cm")
    elif task == "clustering":
        c1, c2 = st.columns(2)
        c1.plotly_chart(predictive_charts.segments_figure(m), use_container_width=True, key="ml_segments")
        c2.dataframe(pd.DataFrame([{
            "segment": s["name"], "customers": s["size"], "median recency (days)": s.get("recency_days"),
            "median orders": s.get("frequency"), "median spend": s.get("monetary"), "what it means":
            s.get("description"),
        } for s in (m.get("segments") or {}).values()]), hide_index=True, use_container_width=True)
    if m.get("global_importance"):
        st.plotly_chart(predictive_charts.importance_figure(m["global_importance"]), use_container_width=True,
                        key="ml_importance")


def compare(p: Principal, model, versions, task: str) -> None:
    st.markdown("**Compare versions**")
    picked = st.multiselect("Versions", [v.version for v in versions], default=[v.version for v in versions[:3]],
                            key="compare_versions")
    chosen = [v for v in versions if v.version in picked]
    if not chosen:
        return
    table = ui.attempt(model_training.compare_versions, p, model.id, [v.id for v in chosen])
    if table is None or not len(table):
        return
    st.dataframe(table.rename(columns=model_config.metric_label), hide_index=True, use_container_width=True)
    if task == "classification":
        st.plotly_chart(predictive_charts.roc_figure({f"v{v.version} ({v.algorithm})": v.metrics for v in chosen}),
                        use_container_width=True, key="ml_roc_compare")
    st.plotly_chart(predictive_charts.versions_figure(table, list(model_config.TASK_METRICS.get(task, ()))),
                    use_container_width=True, key="ml_versions_chart")


def champion_challenger(p: Principal, model, version) -> None:
    st.markdown("**Champion and challenger**")
    c1, c2, c3, c4 = st.columns(4)
    pct = c1.number_input("Challenger's share of traffic (%)", min_value=1, max_value=99, value=20, step=1,
                          key="challenger_pct")
    can_update = p.can("update")
    no_challenger = not can_update or model.challenger_version_id is None
    if (c2.button(f"Make version {version.version} the challenger", key="set_challenger",
                  disabled=not can_update or version.is_active or model.active_version_id is None)
            and ui.attempt(registry.set_challenger, p, model.id, version.id, pct / 100)):
        ui.flash("success", f"Version {version.version} now serves {pct}% of predictions as the challenger.")
        st.rerun()
    if (c3.button("Promote challenger", key="promote_challenger", disabled=no_challenger)
            and ui.attempt(registry.promote_challenger, p, model.id)):
        ui.flash("success", f"The challenger of **{model.name}** is now the champion.")
        st.rerun()
    if (c3.button("Remove challenger", key="remove_challenger", disabled=no_challenger)
            and ui.attempt(registry.set_challenger, p, model.id, None, 0)):
        st.rerun()
    if c4.button(f"Delete version {version.version}", key="delete_version",
                 disabled=not p.can("manage") or version.is_active or version.is_challenger,
                 help="Only a version that serves neither as champion nor as challenger; its stored predictions "
                      "go with it. Needs the admin role."):
        number = ui.attempt(registry.delete_version, p, model.id, version.id)
        if number:
            ui.flash("success", f"Deleted version {number}.")
            st.rerun()


def live(p: Principal, model, version, task: str) -> None:
    st.markdown("**Live accuracy from recorded outcomes**")
    accuracy = ui.attempt(outcomes.live_accuracy, p, model.id) or []
    mine = next((a for a in accuracy if a.version_id == version.id), None)
    if mine is not None:
        if mine.flagged:
            st.error(f"Version {mine.version}: {mine.message}")
        elif mine.message:
            st.caption(f"Version {mine.version}: {mine.message}")
        c1, c2, c3 = st.columns(3)
        if task == "classification":
            c1.metric("Test accuracy", _fmt(mine.test_accuracy))
            c2.metric("Live accuracy", _fmt(mine.live_accuracy),
                      delta=None if mine.live_accuracy is None or mine.test_accuracy is None
                      else f"{mine.live_accuracy - mine.test_accuracy:+.3f}")
        elif task == "regression":
            c1.metric("Test MAE", _fmt(mine.test_mae))
            c2.metric("Live MAE", _fmt(mine.live_mae))
        c3.metric("Outcomes", mine.live_n)
    can_update = p.can("update")
    tol = st.number_input("Flag a drop beyond (accuracy points, 0 to 1)", min_value=0.01, max_value=1.0,
                          value=model_config.tolerance(model.config), step=0.01, key=f"tolerance_{model.id}",
                          disabled=not can_update)
    if (can_update and st.button("Save tolerance", key="save_tolerance")
            and ui.attempt(outcomes.set_accuracy_tolerance, p, model.id, float(tol))):
        st.rerun()


def serving(p: Principal, model) -> None:
    stats = ui.attempt(predictions.serving_stats, p, model.id)
    if stats is None or not stats.count:
        return
    st.markdown("**Serving**")
    cols = st.columns(6)
    cols[0].metric("Predictions", f"{stats.count:,}")
    cols[1].metric("Error rate", f"{100 * stats.error_rate:.1f} %")
    cols[2].metric("Cache hits", "—" if stats.cache_hit_rate is None else f"{100 * stats.cache_hit_rate:.0f} %")
    for col, label, v in zip(cols[3:], ("p50", "p95", "p99"), (stats.p50_ms, stats.p95_ms, stats.p99_ms),
                             strict=True):
        col.metric(f"Latency {label}", "—" if v is None else f"{v:,.0f} ms")


def health_panel(p: Principal, model) -> None:
    """Health of the deployed model: verdict with reasons, and the latest input-drift report."""
    verdict = ui.attempt(health.model_health, p, model.id)
    if verdict is None:
        return
    (st.success if verdict.status == "healthy" else st.warning)(f"Model health: **{verdict.status}**")
    for reason in verdict.reasons:
        st.caption(reason)
    if (p.can("detect") and st.button("Check input drift now", key="check_drift")
            and ui.attempt(health.check_drift, p, model.id)):
        st.rerun()
    if verdict.drift is not None:
        rows = pd.DataFrame([{
            "feature": f["feature"], "kind": f["kind"], "test": f["test"], "statistic": f["statistic"],
            "p-value": f.get("p_value"), "threshold": f["threshold"], "drifted": f["drifted"],
        } for f in verdict.drift.report.get("features", [])])
        with st.expander(f"Input drift on {verdict.drift.current_rows:,} recent inputs "
                         f"({verdict.drift.share_drifted:.0%} of features drifted, "
                         f"{verdict.drift.created_at:%Y-%m-%d %H:%M})"):
            st.dataframe(rows, hide_index=True, use_container_width=True)


def details(p: Principal, model, version) -> None:
    """Configuration, what was done to each column, and a retrain with changes."""
    info = ui.attempt(model_training.version_details, p, version.id)
    with st.expander("Version details: configuration, what was done to each column, data hash, libraries"):
        if info is not None:
            st.json({"config": info.config, "hyperparameters": version.params.get("hyperparameters"),
                     "training_data_hash": version.training_data_hash, "library_versions": version.library_versions,
                     "rows": version.params.get("n_rows"), "excluded_columns": version.params.get("excluded_columns"),
                     "warnings": version.params.get("warnings")}, expanded=False)
            st.dataframe(pd.DataFrame(info.feature_schema), hide_index=True, use_container_width=True)
        if version.metrics.get("cv_results"):
            st.markdown("How **auto** chose (cross-validation on the training split):")
            st.dataframe(pd.DataFrame(version.metrics["cv_results"]), hide_index=True, use_container_width=True)
    if not p.can("create"):
        return
    with st.expander("Train a new version with changes (e.g. another algorithm)"):
        ss = st.session_state
        if ss.get("retrain_for") != model.id:
            ss["retrain_json"] = json.dumps(model.config.get("training", {}), indent=2)
            ss["retrain_for"] = model.id
        text = st.text_area("Configuration JSON", key="retrain_json", height=260)
        if st.button("Train new version", key="retrain_ml"):
            try:
                changed = json.loads(text)
            except json.JSONDecodeError as exc:
                st.error(f"The JSON is not valid: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
                return
            job = ui.attempt(model_training.train, p, model.id, changed)
            if job:
                ss["watch_job"] = job.id
                st.rerun()


def render(p: Principal, model, versions, version) -> None:
    """Everything about one version of a prediction model."""
    task = version.params.get("task", "")
    if _external_ui.is_external(version):
        _external_ui.version_panel(p, version)
    else:
        summary(version)
    compare(p, model, versions, task)
    champion_challenger(p, model, version)
    live(p, model, version, task)
    serving(p, model)
    if model.active_version_id:
        health_panel(p, model)
    details(p, model, version)
