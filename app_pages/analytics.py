"""Analytics: templates (recommendations, pricing, inventory, sentiment, lifetime value), training, versions."""

import json
import typing

import pandas as pd
import streamlit as st

from aihub.services import analytics, datasets, registry
from aihub.services.analytics_specs import KINDS, TEMPLATES
from aihub.userconfig import limits
from app_pages import _common as ui
from app_pages import _jobs

p = ui.principal()
st.title("Analytics")
ui.show_flash()
RESULT_PAGES = {"recommend": "app_pages/recommendations.py", "pricing": "app_pages/pricing.py",
                "inventory": "app_pages/inventory.py", "sentiment": "app_pages/sentiment.py", "clv": "app_pages/customer_value.py"}
NONE = "(none)"


def column_inputs(kind: str, dataset_id: int, columns: list[str], guess: dict) -> dict:
    """One select per column setting of the template, pre-filled from the column names (per dataset)."""
    spec = TEMPLATES[kind].spec
    out = {}
    cols = st.columns(3)
    names = [n for n in spec.model_fields if n.endswith(("_column", "_columns"))]
    for i, name in enumerate(names):
        info = spec.model_fields[name]
        label = name.replace("_", " ").capitalize() + ("" if info.is_required() else " (optional)")
        with cols[i % 3]:
            if name.endswith("_columns"):
                out[name] = st.multiselect(label, columns, key=f"an_{kind}_{name}_{dataset_id}",
                                           help=info.description)
            else:
                options = columns if info.is_required() else [NONE, *columns]
                default = guess.get(name)
                index = options.index(default) if default in options else 0
                value = st.selectbox(label, options, index=index, key=f"an_{kind}_{name}_{dataset_id}",
                                     help=info.description)
                out[name] = None if value == NONE else value
    return out


def setting_inputs(kind: str) -> dict:
    """Numbers and choices of the template, bounded by the limits its settings model defines."""
    spec = TEMPLATES[kind].spec
    out = {}
    names = [n for n in spec.model_fields if not n.endswith(("_column", "_columns")) and n not in
             ("model_name", "dataset_id")]
    cols = st.columns(3)
    for i, name in enumerate(names):
        info, lim = spec.model_fields[name], limits(spec, name)
        label = name.replace("_", " ").capitalize()
        with cols[i % 3]:
            choices = typing.get_args(info.annotation)
            if choices and all(isinstance(c, str) for c in choices):
                out[name] = st.selectbox(label, choices, index=choices.index(lim["default"]), key=f"an_{kind}_{name}",
                                         help=info.description)
            elif lim.get("default") is None and "default" in lim:
                text = st.text_input(label + " (optional)", key=f"an_{kind}_{name}", help=info.description)
                out[name] = float(text) if text.strip().replace(".", "", 1).isdigit() else (text.strip() or None)
            else:
                integer = isinstance(lim.get("default"), int)
                lo = lim.get("ge", lim.get("gt"))
                hi = lim.get("le", lim.get("lt"))
                out[name] = st.number_input(label, value=lim.get("default"), min_value=lo, max_value=hi,
                                            step=1 if integer else None, key=f"an_{kind}_{name}",
                                            help=info.description)
    return out


def start(kind: str, raw: dict | str) -> None:
    out = ui.attempt(analytics.create_analytic, p, kind, raw)
    if out is not None:
        model, job = out
        st.session_state["watch_job"] = job.id
        st.session_state["an_selected"] = model.id
        st.rerun()


def new_analytic() -> None:
    """Template, dataset, columns and settings; or the same settings pasted as JSON."""
    kind = st.radio("Template", KINDS, format_func=lambda k: TEMPLATES[k].title, horizontal=True, key="an_kind")
    st.caption(TEMPLATES[kind].description)
    records = ui.attempt(datasets.list_datasets, p) or []
    if not records:
        st.info("Upload a dataset on **Data sources** first.")
        return
    by_id = {r.id: r.name for r in records}
    dataset_id = st.selectbox("Dataset", list(by_id), format_func=by_id.get, key=f"an_{kind}_dataset")
    guess = ui.attempt(analytics.suggest_config, p, kind, dataset_id) or {}
    version = ui.attempt(datasets.get_version, p, next(r.latest_version_id for r in records if r.id == dataset_id))
    columns = [c["name"] for c in version.column_schema] if version else []
    raw = {"model_name": st.text_input("Name", value=guess.get("model_name", ""), key=f"an_{kind}_name_{dataset_id}"),
           "dataset_id": dataset_id, **column_inputs(kind, dataset_id, columns, guess), **setting_inputs(kind)}
    can = p.can("create")
    if st.button("Train", type="primary", key="an_train", disabled=not can):
        start(kind, raw)
    with st.expander("Or paste the settings as JSON"):
        text = st.text_area("Settings", value=json.dumps(raw, indent=2, default=str), height=240, key=f"an_json_{kind}")
        if st.button("Train from JSON", key="an_train_json", disabled=not can):
            start(kind, text)
    if not can:
        st.caption("Your role can view analytics but not create them.")


def versions_panel(model) -> None:
    """Versions with their figures; deploy, roll back, retrain; a link to the result screen."""
    versions = ui.attempt(registry.list_versions, p, model.id) or []
    rows = [{"version": v.version, "serving": "yes" if v.is_active else "", "method": v.algorithm,
             "trained": f"{v.created_at:%Y-%m-%d %H:%M}", "seconds": round(v.training_seconds, 1),
             **{k: (round(x, 4) if isinstance(x, float) else x) for k, x in v.metrics.items()
                if not isinstance(x, (list, dict))}} for v in versions]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    c1, c2, c3, c4 = st.columns(4)
    ids = {v.version: v.id for v in versions}
    chosen = c1.selectbox("Version", list(ids), key=f"an_v_{model.id}") if ids else None
    can = p.can("update")
    deploy = c2.button("Deploy", key=f"an_deploy_{model.id}", disabled=not (can and chosen))
    if deploy and ui.attempt(registry.deploy, p, model.id, ids[chosen]) is not None:
        ui.flash("success", f"Version {chosen} of {model.name} now serves.")
        st.rerun()
    back = c3.button("Roll back", key=f"an_rollback_{model.id}", disabled=not can)
    if back and ui.attempt(registry.rollback, p, model.id) is not None:
        ui.flash("success", f"{model.name} rolled back.")
        st.rerun()
    if c4.button("Retrain on the newest data", key=f"an_retrain_{model.id}", disabled=not p.can("create")):
        job = ui.attempt(analytics.train, p, model.id)
        if job is not None:
            st.session_state["watch_job"] = job.id
            st.rerun()
    for v in versions[:1]:
        for note in v.metrics.get("notes") or []:
            st.caption(f"Note: {note}")
    if model.active_version_id:
        st.page_link(RESULT_PAGES[model.kind], label=f"Open {TEMPLATES[model.kind].title}",
                     icon=":material/open_in_new:")


_jobs.show_jobs(p, KINDS)
new_tab, list_tab = st.tabs(["New analytic", "Your analytics"])
with new_tab:
    new_analytic()
with list_tab:
    models = ui.attempt(analytics.list_analytics, p) or []
    if not models:
        st.info("No analytics yet: start one from a template.")
    else:
        st.dataframe(pd.DataFrame([{"name": m.name, "template": TEMPLATES[m.kind].title, "versions": m.versions,
                                    "serving version": m.active_version} for m in models]),
                     hide_index=True, width="stretch")
        names = {m.id: m.name for m in models}
        default = st.session_state.get("an_selected")
        mid = st.selectbox("Analytic", list(names), format_func=names.get, key="an_pick",
                           index=list(names).index(default) if default in names else 0)
        versions_panel(next(m for m in models if m.id == mid))
