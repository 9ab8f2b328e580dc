"""The new prediction model form of the Models screen (Streamlit glue; decisions live in aihub.services).

Its values live in session state under ``ml_*`` keys and are kept when the
form is not on screen (another tab, a failed or finished training), so a
retry starts from what the analyst chose, never from another template or dataset.
"""

from __future__ import annotations

import json

import streamlit as st

from aihub.auth import Principal
from aihub.errors import ValidationError
from aihub.services import datasets, model_config, model_training
from app_pages import _common as ui
from app_pages import _ml_widgets as w

NO_TYPE = "(general)"
#: Button keys (their state cannot be set).
_BUTTONS = frozenset({"ml_train"})


@st.cache_data(ttl=60, show_spinner=False)
def _profile(tenant_id: int, dataset_version_id: int, dataset_id: int, target: str, task: str | None,
             _principal: Principal) -> dict:
    return model_config.target_profile(_principal, dataset_id, target, task)


@st.cache_data(ttl=60, show_spinner=False)
def _leakage(tenant_id: int, dataset_version_id: int, dataset_id: int, target: str | None, task: str,
             _principal: Principal) -> list[dict]:
    return model_config.feature_warnings(_principal, dataset_id, target, task=task)


@st.cache_data(ttl=60, show_spinner=False)
def _plan(tenant_id: int, dataset_version_id: int, dataset_id: int, columns: tuple[str, ...],
          _principal: Principal) -> list[dict]:
    return model_config.feature_plan(_principal, dataset_id, list(columns))


def keep_state() -> None:
    """Keep the form's values while its widgets are not drawn (Streamlit drops an undrawn widget's state)."""
    ss = st.session_state
    for key in [k for k in ss if isinstance(k, str) and k.startswith("ml_") and k not in _BUTTONS]:
        ss[key] = ss[key]


def _prefill(p: Principal, template: str, dataset_id: int, dataset_name: str, columns: list[str], title: str
             ) -> None:
    """Put a template's configuration, filled for the dataset, into the form's widgets."""
    ss = st.session_state
    try:
        base, ss["ml_note"] = model_config.template_config(p, template, dataset_id), None
    except ValidationError as exc:  # a column the template looks for is not there: its defaults, chosen below
        base, ss["ml_note"] = ui.attempt(model_config.template_config, p, template) or {}, str(exc)
    ss["ml_base"] = base
    ss["ml_name"] = f"{title} on {dataset_name}"[:100]
    ss["ml_model_type"] = base.get("model_type")
    ss["ml_target"] = base.get("target") if base.get("target") in columns else None
    w.prefill_rest(base, columns)
    for key in ("ml_features_for", "ml_profile_for", "ml_task_answer"):
        ss.pop(key, None)


def _outcome_step(p: Principal, rec, version, columns: list[str], template_task: str) -> tuple[str, str | None]:
    """Target, classes or amounts, positive class and score name; returns ``(task, target)``."""
    ss = st.session_state
    target = st.selectbox("Target: the outcome to predict", columns, key="ml_target", index=None,
                          placeholder="Choose the column to predict")
    if target is None:
        st.caption(ss.get("ml_note") or "Choose the column whose values the model should predict.")
        return template_task, None
    answer = ss.get("ml_task_answer")
    profile = ui.attempt(_profile, p.tenant_id, version.id, rec.id, target, answer or template_task, p)
    if profile is None:
        return template_task, None
    task = profile["task"]
    if profile["ask"]:
        if ss.get("ml_task_answer") not in profile["choices"]:
            ss["ml_task_answer"] = task
        st.caption(profile["question"])
        task = st.radio("Classes or amounts?", profile["choices"], key="ml_task_answer", horizontal=True,
                        format_func=model_config.TASK_WORDS.get)
    if profile["problem"]:
        st.error(profile["problem"])
    if ss.get("ml_profile_for") != (rec.id, target, task):
        ss["ml_positive"], ss["ml_score_label"] = profile["positive_class"], ""
        ss["ml_profile_for"] = (rec.id, target, task)
    if task == "classification" and len(profile["classes"] or []) == 2:
        c1, c2 = st.columns(2)
        classes = profile["classes"]
        if ss.get("ml_positive") not in classes:
            ss["ml_positive"] = profile["positive_class"]
        positive = c1.selectbox("Positive class: the outcome the score is the probability of", classes,
                                key="ml_positive", format_func=str)
        default = profile["positive_class"]
        c1.caption(f"Default: **{default}**, because {profile['positive_reason']}."
                   + ("" if positive == default else f" You chose **{positive}**."))
        c2.text_input("Name of the score (optional)", key="ml_score_label", max_chars=60,
                      placeholder=profile["score_names"].get(str(positive), ""),
                      help="Shown next to each prediction. Empty: named after the positive class.")
    elif task == "classification" and profile["classes"]:
        st.caption(f"{len(profile['classes'])} classes: {', '.join(map(str, profile['classes'][:12]))}"
                   + (" ..." if len(profile["classes"]) > 12 else ""))
    return task, target


def _model_type(options: dict, task: str) -> str | None:
    types = [t for t, k in options["model_types"].items() if k == task]
    choices = [NO_TYPE, *types]
    if st.session_state.get("ml_model_type") not in choices:
        st.session_state["ml_model_type"] = NO_TYPE
    chosen = st.selectbox("Business use", choices, key="ml_model_type",
                          format_func=lambda t: "general" if t == NO_TYPE else t.replace("_", " "),
                          help="A lead-scoring model also gives a 0-100 score with hot, warm and cold bands.")
    return None if chosen == NO_TYPE else chosen


def _feature_step(p: Principal, rec, version, columns: list[str], target: str | None, task: str,
                  base: dict) -> list[str]:
    ss = st.session_state
    warnings = ui.attempt(_leakage, p.tenant_id, version.id, rec.id, target, task, p) or []
    flagged = {x["column"] for x in warnings}
    candidates = [c for c in columns if c != target]
    if ss.get("ml_features_for") != (rec.id, target):
        excluded = set(base.get("excluded_columns") or [])
        ss["ml_features"] = [c for c in candidates if c not in flagged and c not in excluded]
        ss["ml_features_for"] = (rec.id, target)
    ss["ml_features"] = [c for c in ss.get("ml_features", []) if c in candidates]
    features = st.multiselect("Inputs the model may use", candidates, key="ml_features",
                              help="Numbers, categories, dates (calendar and age features) and free text "
                                   "(word and sentiment features) can all be inputs.")
    for x in warnings:
        if x["column"] in features:
            st.warning(f"**{x['column']}**: {x['message']}")
        else:
            st.caption(f"Left out — {x['column']}: {x['message']}")
    plan = ui.attempt(_plan, p.tenant_id, version.id, rec.id, tuple(features), p) or []
    special = [f"**{x['column']}** becomes {x['becomes']}" for x in plan if x["kind"] in ("date", "text")]
    if special:
        st.caption("; ".join(special) + ".")
    return features


def render(p: Principal) -> None:
    """The form in five steps, plus the same configuration as JSON."""
    keep_state()
    if not p.can("create"):
        st.info("Your role can view models and their versions but not train them.")
        return
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    options = ui.attempt(model_config.form_options, p)
    if options is None:
        return
    ss = st.session_state
    templates = {t["key"]: t for t in options["templates"]}

    st.markdown("**1. Dataset and outcome**")
    c1, c2 = st.columns(2)
    template = c1.selectbox("Template", list(templates), key="ml_template",
                            format_func=lambda k: templates[k]["title"])
    c1.caption(templates[template]["description"])
    by_name = {r.name: r for r in records}
    if ss.get("ml_dataset") not in by_name:
        ss["ml_dataset"] = next(iter(by_name))
    rec = by_name[c2.selectbox("Dataset", list(by_name), key="ml_dataset")]
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    if version is None:
        return
    columns = [c["name"] for c in version.column_schema]
    if ss.get("ml_prefilled_for") != (template, rec.id):
        _prefill(p, template, rec.id, rec.name, columns, templates[template]["title"])
        ss["ml_prefilled_for"] = (template, rec.id)
    base = dict(ss.get("ml_base") or {})
    template_task = options["model_types"].get(base.get("model_type"), "classification")
    name = st.text_input("Model name", key="ml_name")
    prep, target, task, features = w.prep_roles(base, columns), None, template_task, None
    if prep is None and template_task != "clustering":
        task, target = _outcome_step(p, rec, version, columns, template_task)
        if target is None:
            return
    model_type = _model_type(options, task)

    st.markdown("**2. Inputs**")
    if prep is None:
        features = _feature_step(p, rec, version, columns, target, task, base)
    else:
        st.caption("Recency, frequency and monetary value per customer"
                   + ("." if prep["kind"] == "rfm" else ", average order value and tenure."))
    form = {"model_name": name, "task": task, "model_type": model_type, "target": target, "features": features,
            "data_prep": prep, "positive_class": ss.get("ml_positive"), "score_label": ss.get("ml_score_label"),
            **w.settings_steps(options, task)}
    config = model_config.build_config(base, form)
    with st.expander("The same configuration as JSON"):
        st.code(json.dumps(config, indent=2, default=str), language="json")
        use_json = st.checkbox("Train from JSON instead of the form", key="ml_use_json")
        text = st.text_area("Configuration JSON", key="ml_json", height=200,
                            placeholder='{"model_name": "churn_2024", "model_type": "churn_prediction", ...}')
    if st.button("Train model", type="primary", key="ml_train"):
        raw = config
        if use_json:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                st.error(f"The JSON is not valid: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
                return
        out = ui.attempt(model_training.create_model, p, raw, rec.id)
        if out is not None:
            model, job = out
            ss["watch_job"], ss["selected_model"], ss["_show_models_tab"] = job.id, model.id, True
            st.rerun()
