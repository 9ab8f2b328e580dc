"""Models: prediction models through a guided form; training, versions, comparison and serving.

Forecasts have their own screen, ``app_pages/forecasts.py``. The form is
``app_pages/_ml_form.py``, one version's panels ``app_pages/_ml_versions.py``.
"""

import pandas as pd
import streamlit as st

from aihub.services import model_config, model_training, registry
from app_pages import _common as ui
from app_pages import _external_ui, _jobs, _ml_form, _ml_versions

p = ui.principal()
st.title("Models")
_ml_form.keep_state()
ui.show_flash()


def _versions_table(versions) -> pd.DataFrame:
    task = versions[0].params.get("task", "")
    return pd.DataFrame([{
        "version": v.version,
        "role": "champion" if v.is_active else "challenger" if v.is_challenger else "",
        "algorithm": v.algorithm,
        **{model_config.metric_label(k): round(v.metrics[k], 3) if v.metrics.get(k) is not None else None
           for k in model_config.TASK_METRICS.get(task, ())},
        "train s": round(v.training_seconds, 1), "trained": v.created_at,
    } for v in versions])


def _deploy(model, version) -> None:
    if ui.attempt(registry.deploy, p, model.id, version.id):
        ui.flash("success", f"Version {version.version} of **{model.name}** is deployed: it now answers every "
                            "prediction" + (" except the challenger's share." if model.challenger_version_id else "."))
        st.rerun()


def _rollback(model) -> None:
    back = ui.attempt(registry.rollback, p, model.id)
    if back:
        ui.flash("success", f"Rolled back: version {back.active_version} of **{model.name}** serves again.")
        st.rerun()


def model_panel() -> None:
    models = ui.attempt(model_training.list_models, p) or []
    if not models:
        st.info("No prediction models yet. Forecasts are on the **Forecasts** page.")
        return
    ids = [m.id for m in models]
    sel = st.session_state.get("selected_model")
    model_id = st.selectbox("Model", ids, index=ids.index(sel) if sel in ids else 0, key="model_pick",
                            format_func=lambda i: next(m.name for m in models if m.id == i))
    model = next(m for m in models if m.id == model_id)
    st.caption(f"{model.versions} version(s) · "
               + (f"deployed: version {model.active_version}" if model.active_version else "not deployed")
               + (f" · challenger: version {model.challenger_version} takes {100 * model.challenger_share:.0f}% "
                  "of predictions" if model.challenger_version else ""))
    jobs = ui.attempt(registry.list_jobs, p, model.id, 5) or []
    for j in [j for j in jobs[:1] if j.status == "failed"]:
        st.error(f"The latest training failed: {j.error} Change the settings on **New prediction model** "
                 "(your choices are kept) and train again.")
    c1, c2, c3 = st.columns(3)
    if c1.button("Retrain on newest data", key="retrain", disabled=not p.can("create")):
        job = ui.attempt(model_training.train, p, model.id)
        if job:
            st.session_state["watch_job"] = job.id
            st.rerun()
    versions = ui.attempt(registry.list_versions, p, model.id) or []
    if not versions:
        return
    st.dataframe(_versions_table(versions), hide_index=True, use_container_width=True)
    by_number = {v.version: v for v in versions}
    number = st.selectbox("Version", list(by_number), key="version_pick")
    version = by_number[number]
    if c2.button(f"Deploy version {number}", key="deploy", disabled=version.is_active or not p.can("update"),
                 help="The deployed version (the champion) answers every prediction."):
        _deploy(model, version)
    if c3.button("Roll back", key="rollback", disabled=not p.can("update") or model.active_version is None):
        _rollback(model)
    _ml_versions.render(p, model, versions, version)


_jobs.show_jobs(p, [model_config.ML_KIND])

TABS = ["New prediction model", "External endpoint", "Models and versions"]
if st.session_state.pop("_show_models_tab", False):
    st.session_state["models_tab"] = TABS[-1]
tab_ml, tab_ext, tab_models = st.tabs(TABS, key="models_tab", on_change="rerun")
# Lazy tabs (on_change="rerun"): only the open tab's content runs.
with tab_ml:
    if tab_ml.open:
        _ml_form.render(p)
with tab_ext:
    if tab_ext.open:
        _external_ui.render(p)
with tab_models:
    if tab_models.open:
        model_panel()
