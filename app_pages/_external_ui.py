"""Models screen: register a model served from outside (an external endpoint), and show one external version.

Streamlit glue only: :func:`aihub.services.external_models.register` validates, checks the host allow-list,
encrypts the auth header and stores the version; it then deploys, rolls back and takes a challenger's share
like any version.
"""

from __future__ import annotations

import json

import streamlit as st

from aihub.auth import Principal
from aihub.ml.external_config import EXTERNAL_FORMAT
from aihub.services import datasets, external_models, model_training
from app_pages import _common as ui

FORMATS = {"mlflow_split": "MLflow: dataframe_split", "mlflow_records": "MLflow: dataframe_records",
           "bentoml": "BentoML: {input_data: [records]}", "records": "JSON records (template)"}


def _config(form: dict) -> dict:
    """The configuration the form describes (its Advanced JSON, when given, wins)."""
    if form["advanced"].strip():
        return json.loads(form["advanced"])
    classes = [c.strip() for c in form["classes"].split(",") if c.strip()]
    cfg = {"url": form["url"].strip(), "task": form["task"], "target": form["target"] or None,
           "input": {"format": form["format"]},
           "output": {"predictions_path": form["path"].strip(), "prediction_key": form["pred_key"].strip() or None,
                      "probabilities_key": form["proba_key"].strip() or None, "classes": classes or None}}
    if form["format"] == "records" and form["template"].strip():
        cfg["input"]["template"] = json.loads(form["template"])
    return cfg


def _fields(columns: list[str]) -> dict:
    c1, c2 = st.columns(2)
    form = {"url": c1.text_input("Endpoint URL", placeholder="http://scoring.internal:5000/invocations",
                                 key="ext_url", help="Its host must be on the hub's allowed hosts."),
            "task": c2.selectbox("Task", ["classification", "regression"], key="ext_task"),
            "target": c1.selectbox("Outcome column (left out of the inputs)", [""] + columns, key="ext_target"),
            "format": c2.selectbox("Request format", list(FORMATS), format_func=FORMATS.get, key="ext_format")}
    form["template"] = st.text_input('Template (JSON records only), e.g. {"instances": "$records"}', key="ext_tpl")
    c1, c2, c3 = st.columns(3)
    form["path"] = c1.text_input("Predictions path in the answer", value="predictions", key="ext_path")
    form["pred_key"] = c2.text_input("Prediction key in each item (blank: the item)", key="ext_pred_key")
    form["proba_key"] = c3.text_input("Class probabilities key (blank: none)", key="ext_proba_key")
    form["classes"] = st.text_input("Class labels in the order of the probabilities (blank: the outcome "
                                    "column's values, sorted)", key="ext_classes")
    form["auth"] = st.text_input("Auth header value (e.g. Bearer ...); stored encrypted, never shown again",
                                 type="password", key="ext_auth")
    form["advanced"] = st.text_area("Or paste the whole configuration as JSON (calls, explain, input.columns, ...)",
                                    key="ext_json", height=120)
    return form


def render(p: Principal) -> None:
    """The form that registers an external endpoint as a new model or the next version of one."""
    if not p.can("create"):
        st.info("Your role can view models but not register external endpoints.")
        return
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload the reference data on **Data sources** first: its columns are the model's inputs.")
        return
    st.caption("A model served elsewhere (an MLflow or BentoML scoring server, or your own JSON API) answers "
               "through the hub like any model: history, cache, champion and challenger, outcomes and drift. "
               "Reasons are estimated with SHAP's KernelExplainer at a bounded number of calls.")
    by_name = {r.name: r for r in records}
    c1, c2 = st.columns(2)
    rec = by_name[c1.selectbox("Reference dataset", list(by_name), key="ext_dataset")]
    models = {m.name: m.id for m in (ui.attempt(model_training.list_models, p) or [])}
    joins = c2.selectbox("Model", ["A new model", *models], key="ext_model")
    name = st.text_input("New model's name", key="ext_name") if joins == "A new model" else None
    version = ui.attempt(datasets.get_version, p, rec.latest_version_id)
    if version is None:
        return
    form = _fields([c["name"] for c in version.column_schema])
    if not st.button("Register endpoint", key="ext_register", type="primary"):
        return
    try:
        cfg = _config(form)
    except json.JSONDecodeError as exc:
        st.error(f"The JSON is not valid: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
        return
    saved = ui.attempt(external_models.register, p, cfg, dataset_id=rec.id, auth_header=form["auth"] or None,
                       model_id=models.get(joins), model_name=name)
    if saved:
        ui.flash("success", f"Registered version {saved.version} (external endpoint). Deploy it or make it the "
                            "challenger on **Models and versions**.")
        st.session_state["selected_model"], st.session_state["_show_models_tab"] = saved.model_id, True
        st.rerun()


def is_external(version) -> bool:
    return version.artifact_format == EXTERNAL_FORMAT


def version_panel(p: Principal, version) -> None:
    """An external version: where it calls, how, and its circuit breaker in this process."""
    params = version.params
    st.markdown(f"**External endpoint** on `{params.get('endpoint_host')}` · request format "
                f"{FORMATS.get(params.get('input_format'), params.get('input_format'))}")
    state = ui.attempt(external_models.circuit, p, version.id)
    if state is not None:
        text = f"Circuit **{state['state'].replace('_', '-')}**"
        if state["consecutive_failures"]:
            text += f" after {state['consecutive_failures']} failed call(s) in a row; last: {state['last_error']}"
        (st.warning if state["state"] != "closed" else st.caption)(text)
