"""The New workflow tab of the Workflows screen: a template, the guided form, or JSON.

The form's values become a workflow in :mod:`aihub.workflows.forms`; this module only lays out widgets.
"""

import json
import secrets

import streamlit as st

from aihub import workflows
from aihub.anomaly import SEVERITIES
from aihub.errors import AihubError
from aihub.services import datasets, registry, sources
from aihub.services import monitors as monitor_svc
from aihub.workflows import forms
from app_pages import _common as ui
from app_pages._common import call, flash

EXAMPLE_JSON = {
    "name": "Critical revenue anomaly to the on-call channel",
    "description": "Post critical revenue anomalies to our alerting webhook.",
    "trigger": {"type": "anomaly_detected", "min_severity": "critical"},
    "conditions": [{"field": "metric", "op": "contains", "value": "revenue"}],
    "actions": [{"type": "call_webhook", "url": "https://hooks.example.com/aihub",
                 "secret": "replace-with-a-secret-of-16+-characters",
                 "message": "{{event.severity}} anomaly on {{event.metric}} ({{event.slice}})"}],
    "approval_timeout_hours": 72,
}


def secret_default(key: str) -> None:
    st.session_state.setdefault(key, secrets.token_urlsafe(24))


def on_create_template() -> None:
    p = ui.principal()
    ss = st.session_state
    key = ss.get("tpl_key")
    params = {prm.key: ss.get(f"tpl_{key}_{prm.key}") for prm in workflows.TEMPLATES[key].params}
    params["name"] = ss.get("tpl_name") or ""
    wf = call(workflows.create_from_template, p, key, params)
    if wf is not None:
        flash("success", f"Created '{wf.name}'. It is on; see it on the Workflows tab.")


def _values(prefix: str) -> dict:
    """The form's widget values under ``prefix`` (``fa_`` step fields, ``f_`` workflow fields), prefix removed."""
    ss = st.session_state
    return {k[len(prefix):]: ss[k] for k in list(ss.keys()) if isinstance(k, str) and k.startswith(prefix)}


def draft_action() -> dict:
    """The action the form's step fields describe."""
    return forms.action_from_form(_values("fa_"))


def on_add_step() -> None:
    ss = st.session_state
    ss.setdefault("f_actions", []).append(draft_action())
    ss.pop("fa_secret", None)


def on_remove_step(i: int) -> None:
    st.session_state.setdefault("f_actions", []).pop(i)


def on_save_form() -> None:
    p = ui.principal()
    try:
        raw = forms.workflow_from_form(_values("f_"))
    except AihubError as exc:
        flash("error", str(exc))
        return
    wf = call(workflows.create_workflow, p, raw)
    if wf is not None:
        flash("success", f"Created '{wf.name}'.")
        st.session_state["f_actions"] = []


def on_check_json() -> None:
    p = ui.principal()
    result = call(workflows.validate_workflow, p, st.session_state.get("wf_new_json") or "")
    if result is not None:
        flash("success", "The workflow is valid: " + workflows.describe_trigger(result["trigger"]) + " → "
              + " → ".join(a["name"] for a in result["actions"]))


def on_save_json_new() -> None:
    p = ui.principal()
    wf = call(workflows.create_workflow, p, st.session_state.get("wf_new_json") or "")
    if wf is not None:
        flash("success", f"Created '{wf.name}'.")


def model_options(p) -> dict:
    """Models, deployed first, then those with versions; one without a version says so (it cannot serve a step)."""
    found = ui.attempt(registry.list_models, p) or []
    ranked = sorted(found, key=lambda m: (m.active_version_id is None, m.versions == 0, m.name.lower()))
    return {m.id: f"{m.name} ({m.kind})" + ("" if m.versions else " · no versions yet") for m in ranked}


def pick(label: str, options: dict, key: str, *, optional: str | None = None, where=st):
    ids = ([None] if optional else []) + list(options)
    if not ids:
        where.caption(f"{label}: none yet.")
        return None
    return where.selectbox(label, ids, key=key, format_func=lambda i: optional if i is None else options[i])


def render(p, can_edit: bool) -> None:
    """The New workflow tab: from a template, the guided form or JSON."""
    if not can_edit:
        st.info("Your role can view workflows but not create them.")
        return
    mode = st.radio("Start from", ["A template", "The form", "JSON"], horizontal=True, key="new_mode")
    users = {u.username: f"{u.name} <{u.email}>" for u in (ui.attempt(workflows.assignable_users, p) or [])}
    if mode == "A template":
        _template(p, users)
    elif mode == "The form":
        _form(p, users)
    else:
        _json()


def _template(p, users: dict) -> None:
    tpls = {t.key: t for t in workflows.list_templates()}
    key = st.selectbox("Template", list(tpls), key="tpl_key", format_func=lambda k: tpls[k].title)
    st.caption(tpls[key].description)
    for prm in tpls[key].params:
        wkey = f"tpl_{key}_{prm.key}"
        _template_param(p, users, prm, wkey)
    st.text_input("Workflow name (optional)", key="tpl_name")
    st.button("Create workflow", key="tpl_create", type="primary", on_click=on_create_template)


def _template_param(p, users: dict, prm, wkey: str) -> None:
    if prm.kind == "model":
        pick(prm.label, model_options(p), wkey)
    elif prm.kind == "user":
        pick(prm.label, users, wkey)
    elif prm.kind == "severity":
        st.selectbox(prm.label, SEVERITIES, index=SEVERITIES.index(prm.default or "critical"), key=wkey)
    elif prm.kind == "secret":
        secret_default(wkey)
        st.text_input(prm.label, key=wkey, help=prm.help + ". Copy it to your receiver now: it is "
                      "stored encrypted and not shown again.")
    elif prm.kind == "number":
        st.number_input(prm.label, value=float(prm.default or 0.0), key=wkey, help=prm.help or None)
    else:
        st.text_input(prm.label, value=prm.default or "", key=wkey, help=prm.help or None)


def _form(p, users: dict) -> None:
    models = model_options(p)
    monitors = {m.id: m.name for m in (ui.attempt(monitor_svc.list_monitors, p) or [])}
    c1, c2 = st.columns(2)
    c1.text_input("Name", key="f_name")
    c2.text_input("Description", key="f_description")
    st.markdown("**When**")
    kind = st.selectbox("Trigger", workflows.TRIGGER_TYPES, key="f_trigger",
                        format_func=workflows.TRIGGER_LABELS.get)
    _trigger_fields(p, kind, models, monitors)
    st.text_area("Only if (optional, one condition per line)", key="f_conditions",
                 placeholder="metric contains revenue\nimpact < -1000\nseverity >= high",
                 help=f"field comparison value; comparisons: {', '.join(workflows.CONDITION_OPS)}")
    _steps(p, users, kind, models, monitors)
    c1, c2 = st.columns(2)
    c1.number_input("Approvals expire after (hours)", value=72.0, min_value=1.0, max_value=720.0,
                    key="f_hours")
    c2.checkbox("On", value=True, key="f_enabled")
    st.button("Save workflow", key="f_save", type="primary", on_click=on_save_form)


def _trigger_fields(p, kind: str, models: dict, monitors: dict) -> None:
    c1, c2, c3 = st.columns(3)
    if kind == "schedule":
        cron = c1.text_input("Cron (minute hour day month weekday)", value="0 6 * * 1", key="f_cron",
                             help="'0 6 * * 1' = Mondays 06:00; '*/15 * * * *' = every 15 minutes")
        c1.caption(workflows.cron_in_words(cron))
        c2.text_input("Time zone", value="UTC", key="f_tz")
    elif kind == "anomaly_detected":
        c1.selectbox("Lowest severity", SEVERITIES, index=SEVERITIES.index("high"), key="f_severity")
        pick("Monitor", monitors, "f_monitor", optional="Any monitor", where=c2)
    elif kind == "prediction":
        pick("Model", models, "f_model", where=c1)
        c2.selectbox("Field", ["probability", "value"], key="f_field")
        c3.selectbox("Direction", ["above", "below"], key="f_direction")
        st.number_input("Threshold", value=0.8, key="f_threshold")
    elif kind == "source_synced":
        srcs = {s.id: s.name for s in (ui.attempt(sources.list_sources, p) or [])}
        pick("Data source", srcs, "f_source", optional="Any source", where=c1)
        c2.checkbox("Only when the data changed", key="f_changed")
    elif kind == "drift_detected":
        pick("Model", models, "f_model", optional="Any model", where=c1)
    elif kind == "accuracy_drop":
        pick("Model", models, "f_model", optional="Any model", where=c1)
        c2.number_input("Tolerance (drop below the baseline)", value=0.05, min_value=0.0, max_value=1.0,
                        key="f_tolerance")
    elif kind == "reorder_point":
        pick("Inventory model", models, "f_model", optional="Any inventory model", where=c1)
        c2.text_input("Product (blank: any)", key="f_product")
    elif kind == "next_best_action":
        pick("Churn model", models, "f_model", optional="Any model", where=c1)
        c2.text_input("Feature changed (blank: any)", key="f_feature")


def _steps(p, users: dict, kind: str, models: dict, monitors: dict) -> None:
    st.markdown("**Then**")
    for i, action in enumerate(st.session_state.get("f_actions") or []):
        c1, c2 = st.columns([5, 1])
        c1.markdown(f"{i + 1}. {workflows.ACTION_LABELS[action['type']]}"
                    + (" · needs approval" if action.get("require_approval") else "")
                    + (f" · {action.get('name')}" if action.get("name") else ""))
        c2.button("Remove", key=f"f_remove_{i}", on_click=on_remove_step, args=(i,))
    with st.container(border=True):
        akind = st.selectbox("Add a step", workflows.ACTION_TYPES, key="fa_type",
                             format_func=workflows.ACTION_LABELS.get)
        c1, c2 = st.columns(2)
        c1.text_input("Step name (optional)", key="fa_name")
        c2.checkbox("Needs approval", key="fa_approval")
        _step_fields(p, users, kind, akind, models, monitors, c1, c2)
        st.button("Add step", key="fa_add", on_click=on_add_step, icon=":material/add:")


def _step_fields(p, users: dict, kind: str, akind: str, models: dict, monitors: dict, c1, c2) -> None:
    """The fields of the step being added, in the container's two columns ``c1``, ``c2``."""
    from_event = "From the event" if kind in ("prediction", "drift_detected", "accuracy_drop") else None
    if akind in ("retrain_model", "promote_challenger", "batch_prediction"):
        pick("Model", models, "fa_model", optional=from_event, where=c1)
    if akind == "retrain_model":
        c2.number_input("Challenger's share of traffic", value=0.2, min_value=0.0, max_value=1.0,
                        key="fa_share")
    elif akind == "promote_challenger":
        c1.text_input("Metric that must not drop (empty: roc_auc or mase)", key="fa_metric")
        c2.number_input("Allowed drop", value=0.0, min_value=0.0, key="fa_max_drop")
    elif akind == "run_monitor":
        pick("Monitor", monitors, "fa_monitor",
             optional="The event's monitor" if kind == "anomaly_detected" else None, where=c1)
    elif akind == "generate_insights":
        c1.text_input("Categories (comma-separated, empty: all)", key="fa_categories")
    elif akind == "batch_prediction":
        dsets = {d.id: d.name for d in (ui.attempt(datasets.list_datasets, p) or [])}
        pick("Dataset", dsets, "fa_dataset", optional="The model's dataset", where=c2)
    elif akind == "call_webhook":
        c1.text_input("URL", key="fa_url", placeholder="https://hooks.example.com/aihub")
        secret_default("fa_secret")
        c2.text_input("Signing secret", key="fa_secret",
                      help="Copy it to your receiver: it checks X-AIHub-Signature with it.")
        st.text_input("Message (optional; {{event.metric}} etc.)", key="fa_message")
    elif akind == "send_email":
        c1.text_input("To (comma-separated)", key="fa_to")
        c2.text_input("Subject", key="fa_subject", value="{{workflow.name}}: {{trigger}}")
        st.text_area("Body (optional)", key="fa_body")
    elif akind == "create_task":
        pick("Assignee", users, "fa_assignee", optional="Nobody in particular", where=c1)
        c2.text_input("Title", key="fa_title", value="Follow up on {{trigger}}")
        st.text_area("Description (optional)", key="fa_description")
        st.checkbox("Also assign the anomaly that started the run", value=kind == "anomaly_detected",
                    key="fa_assign_anomaly")


def _json() -> None:
    st.session_state.setdefault("wf_new_json", json.dumps(EXAMPLE_JSON, indent=2))
    st.text_area("Workflow JSON", key="wf_new_json", height=420,
                 help="Triggers: " + ", ".join(workflows.TRIGGER_TYPES) + ". Steps: "
                      + ", ".join(workflows.ACTION_TYPES) + ".")
    c1, c2 = st.columns(2)
    c1.button("Check", key="wf_new_check", on_click=on_check_json)
    c2.button("Create workflow", key="wf_new_save", type="primary", on_click=on_save_json_new)
