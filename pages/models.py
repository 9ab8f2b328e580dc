"""Models: predictive models through a guided form; training, versions, comparison and serving.

Forecasts have their own screen, ``pages/forecasts.py``.
"""

import json

import pandas as pd
import streamlit as st

from aihub import datasets, predictive, predictive_charts, registry
from aihub.services import health
from pages import _common as ui
from pages import _jobs

p = ui.principal()
st.title("Models")

PREP_ROLES = (("customer_column", "Customer column"), ("date_column", "Order date column"),
              ("amount_column", "Amount column"), ("order_column", "Order id column (optional)"))
METRIC_LABELS = {
    "accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1": "F1", "roc_auc": "ROC AUC",
    "average_precision": "Avg precision", "mae": "MAE", "rmse": "RMSE", "r2": "R²", "interval_coverage":
    "Interval coverage", "silhouette": "Silhouette",
}
TASK_METRICS = {"classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
                "regression": ("mae", "rmse", "r2", "interval_coverage"), "clustering": ("silhouette",)}


# ------------------------------------------------------------ predictive models
@st.cache_data(ttl=60, show_spinner=False)
def _leakage(tenant_id: int, dataset_version_id: int, dataset_id: int, target: str | None, task: str,
             _principal) -> list[dict]:
    return predictive.feature_warnings(_principal, dataset_id, target, task=task)


def _prefill(template: str, dataset_id: int, columns: list[str]) -> None:
    """Put a template's configuration, filled for the dataset, into the form's widgets."""
    ss = st.session_state
    base = ui.attempt(predictive.template_config, p, template, dataset_id, where=st.empty())
    if base is None:
        base = predictive.template_config(p, template)
        st.info("The template could not find every column it needs in this dataset; choose them below.")
    ss["ml_base"] = base
    ss["ml_name"] = base.get("model_name", "")
    ss["ml_model_type"] = base.get("model_type") or "churn_prediction"
    if base.get("target") in columns:
        ss["ml_target"] = base["target"]
    prep = base.get("data_prep") or {}
    for role, _ in PREP_ROLES:
        if prep.get(role) in columns:
            ss[f"ml_prep_{role}"] = prep[role]
    fe = base.get("feature_engineering") or {}
    ss["ml_missing"] = fe.get("handle_missing", "median")
    ss["ml_normalize"] = fe.get("normalize", True)
    ss["ml_algorithm"] = base.get("algorithm", "auto")
    for key, value in (base.get("hyperparameters") or {}).items():
        ss[f"ml_hp_{ss['ml_algorithm']}_{key}"] = value
        if value is None:
            ss[f"ml_hp_{ss['ml_algorithm']}_{key}_none"] = True
    ss["ml_val"] = float(base.get("validation_split", 0.1))
    ss["ml_test"] = float(base.get("test_split", 0.2))
    ss["ml_seed"] = int(base.get("random_seed", 0))
    ss.pop("ml_features_for", None)


def _hyperparameter(spec: dict, algorithm: str):
    """One widget per hyperparameter, bounded by its allowed range."""
    key = f"ml_hp_{algorithm}_{spec['name']}"
    label, help_ = spec.get("label") or spec["name"], spec.get("help") or None
    allowed = f"{spec['name']}: {help_ or ''} Allowed: " + (
        ", ".join("none" if c is None else str(c) for c in spec["choices"]) if spec["type"] == "choice"
        else f"{spec['low']:g} to {spec['high']:g}" + (" or no limit" if spec.get("nullable") else ""))
    if spec["type"] == "choice":
        choices = list(spec["choices"])
        if st.session_state.get(key) not in choices:
            st.session_state[key] = spec["default"]
        return st.selectbox(label, choices, key=key, help=allowed,
                            format_func=lambda v: "none" if v is None else str(v))
    none = False
    if spec.get("nullable"):
        st.session_state.setdefault(f"{key}_none", spec["default"] is None)
        none = st.checkbox(f"{label}: no limit", key=f"{key}_none")
    default = spec["default"] if spec["default"] is not None else spec["low"]
    if not isinstance(st.session_state.get(key), int | float) or isinstance(st.session_state.get(key), bool):
        st.session_state[key] = default
    if spec["type"] == "int":
        st.session_state[key] = int(min(max(st.session_state[key], spec["low"]), spec["high"]))
        value = st.number_input(label, min_value=int(spec["low"]), max_value=int(spec["high"]), step=1, key=key,
                                help=allowed, disabled=none)
    else:
        st.session_state[key] = float(min(max(st.session_state[key], spec["low"]), spec["high"]))
        value = st.number_input(label, min_value=float(spec["low"]), max_value=float(spec["high"]), key=key,
                                help=allowed, disabled=none, format="%g")
    return None if none else value


def ml_form() -> None:
    """The new predictive model form in five steps, plus the same configuration as JSON."""
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    options = ui.attempt(predictive.form_options, p)
    if options is None:
        return
    ss = st.session_state
    templates = {t["key"]: t for t in options["templates"]}

    st.markdown("**1. Dataset and target**")
    c1, c2 = st.columns(2)
    template = c1.selectbox("Template", list(templates), key="ml_template",
                            format_func=lambda k: templates[k]["title"])
    c1.caption(templates[template]["description"])
    by_name = {r.name: r for r in records}
    ds_name = c2.selectbox("Dataset", list(by_name), key="ml_dataset")
    rec = by_name[ds_name]
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    if version is None:
        return
    columns = [c["name"] for c in version.column_schema]
    if ss.get("ml_prefilled_for") != (template, rec.id):
        _prefill(template, rec.id, columns)
        ss["ml_prefilled_for"] = (template, rec.id)
    base = dict(ss.get("ml_base") or {})
    c1, c2 = st.columns(2)
    name = c1.text_input("Model name", key="ml_name")
    model_types = options["model_types"]
    model_type = c2.selectbox("Model type", list(model_types), key="ml_model_type",
                              format_func=lambda t: f"{t.replace('_', ' ')} ({model_types[t]})")
    task = model_types[model_type]
    base_prep = base.get("data_prep")
    prep = base_prep if base_prep and {"rfm": "clustering", "clv": "regression"}[base_prep["kind"]] == task else None
    target = None
    if prep is not None:
        st.caption("This template builds one row per customer from an orders table "
                   + ("(recency, frequency, monetary value)." if prep["kind"] == "rfm" else
                      "and predicts the spend in the next year."))
        cols = st.columns(4)
        prep = dict(prep)
        for col, (role, label) in zip(cols, PREP_ROLES, strict=True):
            choices = ([None] if role == "order_column" else []) + columns
            if ss.get(f"ml_prep_{role}") not in choices:
                ss[f"ml_prep_{role}"] = prep.get(role) if prep.get(role) in choices else choices[0]
            prep[role] = col.selectbox(label, choices, key=f"ml_prep_{role}",
                                       format_func=lambda c: "(none)" if c is None else c)
    elif task != "clustering":
        if ss.get("ml_target") not in columns:
            ss["ml_target"] = columns[-1]
        target = st.selectbox("Target: the outcome to predict", columns, key="ml_target")

    features = None
    if prep is None:
        st.markdown("**2. Features**")
        warnings = ui.attempt(_leakage, p.tenant_id, version.id, rec.id, target, task, p) or []
        flagged = {w["column"]: w for w in warnings}
        candidates = [c for c in columns if c != target]
        if ss.get("ml_features_for") != (rec.id, target):
            excluded = set(base.get("excluded_columns") or [])
            ss["ml_features"] = [c for c in candidates if c not in flagged and c not in excluded]
            ss["ml_features_for"] = (rec.id, target)
        features = st.multiselect("Inputs the model may use", candidates, key="ml_features")
        for w in warnings:
            text = f"**{w['column']}**: {w['message']}"
            (st.warning if w["column"] in features else st.caption)(
                text if w["column"] in features else f"Left out — {w['column']}: {w['message']}")
    else:
        st.markdown("**2. Features**: recency, frequency and monetary value per customer"
                    + ("" if prep["kind"] == "rfm" else ", average order value and tenure") + ".")

    st.markdown("**3. Preprocessing**")
    c1, c2, c3 = st.columns(3)
    ss.setdefault("ml_missing", "median")
    missing = c1.selectbox("Missing numbers", options["handle_missing"], key="ml_missing",
                           help="Fill blanks with the training mean, median or most frequent value, or drop rows "
                                "with blanks. Numeric text such as ' ' in TotalCharges counts as blank.")
    ss.setdefault("ml_normalize", True)
    normalize = c2.checkbox("Scale numbers (standardise)", key="ml_normalize")
    ss.setdefault("ml_max_categories", 30)
    max_categories = c3.number_input("One-hot up to this many categories", min_value=2, max_value=1000, step=1,
                                     key="ml_max_categories",
                                     help="Categories are one-hot encoded; columns with more distinct values are "
                                          "target-encoded.")

    st.markdown("**4. Algorithm and hyperparameters**")
    algorithms = options["algorithms"][task]
    if ss.get("ml_algorithm") not in algorithms:
        ss["ml_algorithm"] = algorithms[0]
    algorithm = st.selectbox("Algorithm", algorithms, key="ml_algorithm",
                             help="auto cross-validates the candidates on the training split and keeps the best "
                                  "(ROC AUC, RMSE or silhouette).")
    specs = options["hyperparameters"][task][algorithm]
    hyper = {}
    cols = st.columns(3)
    for i, spec in enumerate(specs):
        with cols[i % 3]:
            hyper[spec["name"]] = _hyperparameter(spec, algorithm)

    st.markdown("**5. Validation and test split**")
    c1, c2, c3 = st.columns(3)
    ss.setdefault("ml_val", 0.1)
    val = c1.number_input("Validation share", min_value=0.0, max_value=0.5, step=0.05, key="ml_val")
    ss.setdefault("ml_test", 0.2)
    test = c2.number_input("Test share (metrics)", min_value=0.05, max_value=0.5, step=0.05, key="ml_test")
    ss.setdefault("ml_seed", 0)
    seed = c3.number_input("Random seed", min_value=0, max_value=2**32 - 1, step=1, key="ml_seed")

    config = {k: v for k, v in base.items() if k not in ("task", "features", "target", "data_prep")}
    config.update(model_name=name, model_type=model_type, algorithm=algorithm, hyperparameters=hyper,
                  validation_split=float(val), test_split=float(test), random_seed=int(seed))
    config["feature_engineering"] = {**(base.get("feature_engineering") or {}), "normalize": bool(normalize),
                                     "handle_missing": missing, "max_categories": int(max_categories)}
    if task != "classification":
        config.pop("positive_class", None)
    if prep is not None:
        config["data_prep"] = prep
    elif task != "clustering":
        config.update(target=target, features=features)
    else:
        config["features"] = features

    with st.expander("The same configuration as JSON"):
        st.code(json.dumps(config, indent=2, default=str), language="json")
        use_json = st.checkbox("Train from JSON instead of the form", key="ml_use_json")
        text = st.text_area("Configuration JSON", key="ml_json", height=200,
                            placeholder='{"model_name": "churn_2024", "model_type": "churn_prediction", ...}')
    if st.button("Train model", type="primary", key="ml_train", disabled=not p.can("create")):
        raw = config
        if use_json:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                st.error(f"The JSON is not valid: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
                return
        out = ui.attempt(predictive.create_model, p, raw, rec.id)
        if out is not None:
            model, job = out
            ss["watch_job"] = job.id
            ss["selected_model"] = model.id
            ss["_show_models_tab"] = True
            st.rerun()
    if not p.can("create"):
        st.caption("Your role can view models but not train them.")


def _fmt(v) -> str:
    return "—" if v is None else f"{v:,.3f}"


def health_panel(model) -> None:
    """Health of the deployed model: verdict with reasons, and the latest input-drift report."""
    verdict = ui.attempt(health.model_health, p, model.id)
    if verdict is None:
        return
    (st.success if verdict.status == "healthy" else st.warning)(f"Model health: **{verdict.status}**")
    for reason in verdict.reasons:
        st.caption(reason)
    if p.can("detect") and st.button("Check input drift now", key="check_drift"):
        if ui.attempt(health.check_drift, p, model.id):
            st.rerun()
    if verdict.drift is not None:
        rows = pd.DataFrame([{
            "feature": f["feature"], "kind": f["kind"], "test": f["test"], "statistic": f["statistic"],
            "p-value": f.get("p_value"), "threshold": f["threshold"], "drifted": f["drifted"],
        } for f in verdict.drift.report.get("features", [])])
        with st.expander(f"Input drift on {verdict.drift.current_rows:,} recent inputs "
                         f"({verdict.drift.share_drifted:.0%} of features drifted, {verdict.drift.created_at:%Y-%m-%d %H:%M})"):
            st.dataframe(rows, hide_index=True, use_container_width=True)


def ml_version_panel(model, versions, version) -> None:
    """Metrics, charts, comparison, champion/challenger, live accuracy and serving of a predictive model."""
    task = version.params.get("task", "")
    m = version.metrics
    keys = [k for k in TASK_METRICS.get(task, ()) if m.get(k) is not None]
    for col, key in zip(st.columns(max(len(keys), 1)), keys, strict=False):
        col.metric(f"Test {METRIC_LABELS[key]}", _fmt(m[key]))
    st.caption(f"Held-out test split: {m.get('n_rows', '?')} rows · trained on "
               f"{version.params.get('n_rows', {}).get('train', '?')} rows in {version.training_seconds:.1f} s")
    if task == "classification":
        c1, c2, c3 = st.columns(3)
        label = f"v{version.version}"
        c1.plotly_chart(predictive_charts.roc_figure({label: m}), use_container_width=True, key="ml_roc")
        c2.plotly_chart(predictive_charts.pr_figure({label: m}), use_container_width=True, key="ml_pr")
        c3.plotly_chart(predictive_charts.confusion_figure(m), use_container_width=True, key="ml_cm")
    elif task == "clustering":
        c1, c2 = st.columns(2)
        c1.plotly_chart(predictive_charts.segments_figure(m), use_container_width=True, key="ml_segments")
        segments = m.get("segments") or {}
        c2.dataframe(pd.DataFrame([{
            "segment": s["name"], "customers": s["size"], "median recency (days)": s.get("recency_days"),
            "median orders": s.get("frequency"), "median spend": s.get("monetary"), "what it means":
            s.get("description"),
        } for s in segments.values()]), hide_index=True, use_container_width=True)
    if m.get("global_importance"):
        st.plotly_chart(predictive_charts.importance_figure(m["global_importance"]), use_container_width=True,
                        key="ml_importance")

    st.markdown("**Compare versions**")
    picked = st.multiselect("Versions", [v.version for v in versions], default=[v.version for v in versions[:3]],
                            key="compare_versions")
    chosen = [v for v in versions if v.version in picked]
    if chosen:
        table = ui.attempt(predictive.compare_versions, p, model.id, [v.id for v in chosen])
        if table is not None and len(table):
            st.dataframe(table, hide_index=True, use_container_width=True)
            if task == "classification":
                st.plotly_chart(predictive_charts.roc_figure({f"v{v.version} ({v.algorithm})": v.metrics
                                                              for v in chosen}),
                                use_container_width=True, key="ml_roc_compare")
            st.plotly_chart(predictive_charts.versions_figure(table, list(TASK_METRICS.get(task, ()))),
                            use_container_width=True, key="ml_versions_chart")

    st.markdown("**Champion and challenger**")
    c1, c2, c3, c4 = st.columns(4)
    pct = c1.number_input("Challenger's share of traffic (%)", min_value=1, max_value=99, value=20, step=1,
                          key="challenger_pct")
    can_update = p.can("update")
    no_challenger = not can_update or model.challenger_version_id is None
    if (c2.button(f"Make version {version.version} the challenger", key="set_challenger",
                  disabled=not can_update or version.is_active or model.active_version_id is None)
            and ui.attempt(registry.set_challenger, p, model.id, version.id, pct / 100)):
        st.rerun()
    if (c3.button("Promote challenger", key="promote_challenger", disabled=no_challenger)
            and ui.attempt(registry.promote_challenger, p, model.id)):
        st.rerun()
    if (c3.button("Remove challenger", key="remove_challenger", disabled=no_challenger)
            and ui.attempt(registry.set_challenger, p, model.id, None, 0)):
        st.rerun()
    serving = version.is_active or version.is_challenger
    if c4.button(f"Delete version {version.version}", key="delete_version",
                 disabled=not p.can("manage") or serving,
                 help="Only a version that serves neither as champion nor as challenger; its stored predictions "
                      "go with it. Needs the admin role."):
        number = ui.attempt(registry.delete_version, p, model.id, version.id)
        if number:
            st.session_state["flash"] = f"Deleted version {number}."
            st.rerun()

    st.markdown("**Live accuracy from recorded outcomes**")
    accuracy = ui.attempt(predictive.live_accuracy, p, model.id) or []
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
    tol = st.number_input("Flag a drop beyond (accuracy points, 0 to 1)", min_value=0.01, max_value=1.0,
                          value=float(model.config.get("accuracy_tolerance", predictive.DEFAULT_TOLERANCE)),
                          step=0.01, key=f"tolerance_{model.id}", disabled=not can_update)
    if (can_update and st.button("Save tolerance", key="save_tolerance")
            and ui.attempt(predictive.set_accuracy_tolerance, p, model.id, float(tol))):
        st.rerun()

    stats = ui.attempt(predictive.serving_stats, p, model.id)
    if stats is not None and stats.count:
        st.markdown("**Serving**")
        cols = st.columns(6)
        cols[0].metric("Predictions", f"{stats.count:,}")
        cols[1].metric("Error rate", f"{100 * stats.error_rate:.1f} %")
        cols[2].metric("Cache hits", "—" if stats.cache_hit_rate is None else f"{100 * stats.cache_hit_rate:.0f} %")
        for col, label, v in zip(cols[3:], ("p50", "p95", "p99"), (stats.p50_ms, stats.p95_ms, stats.p99_ms),
                                 strict=True):
            col.metric(f"Latency {label}", "—" if v is None else f"{v:,.0f} ms")

    if model.active_version_id:
        health_panel(model)

    details = ui.attempt(predictive.version_details, p, version.id)
    with st.expander("Version details: configuration, feature schema, data hash, libraries"):
        if details is not None:
            st.json({"config": details.config, "hyperparameters": version.params.get("hyperparameters"),
                     "training_data_hash": version.training_data_hash, "library_versions": version.library_versions,
                     "rows": version.params.get("n_rows"), "excluded_columns": version.params.get("excluded_columns"),
                     "warnings": version.params.get("warnings")}, expanded=False)
            st.dataframe(pd.DataFrame(details.feature_schema), hide_index=True, use_container_width=True)
        if m.get("cv_results"):
            st.markdown("How **auto** chose (cross-validation on the training split):")
            st.dataframe(pd.DataFrame(m["cv_results"]), hide_index=True, use_container_width=True)
    if p.can("create"):
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
                job = ui.attempt(predictive.train, p, model.id, changed)
                if job:
                    ss["watch_job"] = job.id
                    st.rerun()


def model_panel() -> None:
    models = ui.attempt(registry.list_models, p, predictive.ML_KIND) or []
    if not models:
        st.info("No prediction models yet. Forecasts are on the **Forecasts** page.")
        return
    flash = st.session_state.pop("flash", None)
    if flash:
        st.success(flash)
    ids = [m.id for m in models]
    sel = st.session_state.get("selected_model")
    model_id = st.selectbox("Model", ids, index=ids.index(sel) if sel in ids else 0, key="model_pick",
                            format_func=lambda i: next(m.name for m in models if m.id == i))
    model = next(m for m in models if m.id == model_id)
    st.caption(f"{model.kind} · {model.versions} version(s) · "
               + (f"active: version {model.active_version}" if model.active_version else "not deployed")
               + (f" · challenger: version {model.challenger_version} takes {100 * model.challenger_share:.0f}% "
                  "of predictions" if model.challenger_version else ""))

    jobs = ui.attempt(registry.list_jobs, p, model.id, 5) or []
    failed = [j for j in jobs[:1] if j.status == "failed"]
    for j in failed:
        st.error(f"The latest training failed: {j.error}")
    c1, c2, c3 = st.columns(3)
    if c1.button("Retrain on newest data", key="retrain", disabled=not p.can("create")):
        job = ui.attempt(predictive.train, p, model.id)
        if job:
            st.session_state["watch_job"] = job.id
            st.rerun()

    versions = ui.attempt(registry.list_versions, p, model.id) or []
    if not versions:
        return
    task = versions[0].params.get("task", "")
    table = pd.DataFrame([{
        "version": v.version,
        "role": "champion" if v.is_active else "challenger" if v.is_challenger else "",
        "algorithm": v.algorithm,
        **{METRIC_LABELS[k]: round(v.metrics[k], 3) if v.metrics.get(k) is not None else None
           for k in TASK_METRICS.get(task, ())},
        "train s": round(v.training_seconds, 1), "trained": v.created_at,
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

    ml_version_panel(model, versions, version)


_jobs.show_jobs(p, [predictive.ML_KIND])

TABS = ["New prediction model", "Models and versions"]
if st.session_state.pop("_show_models_tab", False):
    st.session_state["models_tab"] = TABS[-1]
tab_ml, tab_models = st.tabs(TABS, key="models_tab", on_change="rerun")
# Lazy tabs (on_change="rerun"): only the open tab's content runs.
with tab_ml:
    if tab_ml.open:
        ml_form()
with tab_models:
    if tab_models.open:
        model_panel()
